//! Mode `early`: intra-handshake attestation
//! (draft-fossati-seat-early-attestation) on OpenSSL, through
//! `attested_tls_openssl`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attested_tls::modes::early::{AttestationScheme, EarlyAttester};
use attested_tls::sim::SIM_MEDIA_TYPE;
use attested_tls_openssl::{EarlyConfig, EarlyError, Refusal};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{ear_check, openssl_reasons, variant_name, Applicability, BoxFuture, IdentityConfig, LabMode};
use crate::attacker::{
    self, read_record, recorded_evidence, recording_appraiser, Prefixed, ReplayAttester, READ_WINDOW,
};
use crate::attacks::{verdict, victim_note, AttackId, AttackRun, Capabilities, VictimResult};
use crate::report::{Party, Step};
use crate::testbed::{
    drain_into, seen_if_accepted, Genuine, KeyMaterial, ObservedAttester, Tee, Testbed, SECRET, SERVICE_NAME,
};

const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Mode `early` with the identity mechanisms of `identity`. Mode `early`
/// has no I1 option of its own; I1 is configured the only way a user could:
/// a policy's `[host_identity]` on the appraiser
/// ([`attested_tls::verifier::Appraiser::with_host_identity`]), with T1's
/// TLS key (the TIK) certified for the service name.
pub struct Early {
    /// I1 / I2.
    pub identity: IdentityConfig,
}

fn scheme() -> Vec<AttestationScheme> {
    vec![AttestationScheme::evidence_media_type(SIM_MEDIA_TYPE)]
}

fn openssl_identity(k: &KeyMaterial) -> Result<(Vec<X509>, PKey<Private>), String> {
    let chain = k
        .chain
        .iter()
        .map(|c| X509::from_der(c).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let key = PKey::private_key_from_der(&k.key_pkcs8).map_err(|e| e.to_string())?;
    Ok((chain, key))
}

/// Spawns a mode `early` server (the project's `accept`) presenting
/// `attester`'s Evidence with `identity` as its TLS certificate and key.
async fn spawn_server(
    identity: &KeyMaterial,
    attester: Arc<dyn EarlyAttester>,
) -> Result<(SocketAddr, Arc<Mutex<Vec<u8>>>), String> {
    let mut cfg = EarlyConfig::attester(attester, scheme());
    cfg.handshake_timeout = STEP_TIMEOUT;
    let (chain, key) = openssl_identity(identity)?;
    let ctx = attested_tls_openssl::server_context(&cfg, &chain, &key).map_err(|e| e.to_string())?;
    attacker::serve_and_collect(move |tcp| {
        let (ctx, cfg) = (ctx.clone(), cfg.clone());
        async move {
            attested_tls_openssl::accept(&ctx, tcp, &cfg)
                .await
                .ok()
                .map(|(stream, _)| stream)
        }
    })
    .await
}

/// The check behind a victim's error.
fn classify(e: &EarlyError) -> String {
    match e {
        EarlyError::Refused {
            reason: Refusal::NotTrusted(ear),
        } => ear_check(ear),
        EarlyError::Refused { reason } => format!(
            "Refusal::{} (alert {})",
            variant_name(&format!("{reason:?}")),
            reason.alert().name()
        ),
        EarlyError::PeerAlert { code, text } => format!("peer alert {code} ({text})"),
        EarlyError::Tls(t) => format!("OpenSSL handshake: {}", openssl_reasons(&t.to_string())),
        EarlyError::Timeout(step) => format!("EarlyError::Timeout({step})"),
        other => format!("EarlyError::{}", variant_name(&format!("{other:?}"))),
    }
}

impl Early {
    async fn serve(&self, tb: &Testbed, tee: Tee) -> Result<Genuine, String> {
        let observed = Arc::new(Mutex::new(Vec::new()));
        // The TIK is the TLS key: T1's is certified for the service (I1's
        // premise), T2's for the other service.
        let tls = tb.ltk(tee).clone();
        let attester = Arc::new(ObservedAttester::new(tb.instance(tee), observed.clone()));
        let (addr, received) = spawn_server(&tls, attester).await?;
        Ok(Genuine {
            addr,
            received,
            observed,
            tls,
            attested_key: None,
        })
    }

    async fn victim_at(&self, tb: &Testbed, addr: SocketAddr) -> VictimResult {
        let refused = |check: &str, detail: String| VictimResult::Refused {
            check: check.into(),
            detail,
        };
        let mut appraiser = match tb.appraiser(self.identity.i2) {
            Ok(a) => a,
            Err(e) => return refused("lab: appraiser", e),
        };
        if self.identity.i1 {
            match tb.host_identity() {
                Ok(h) => appraiser = appraiser.with_host_identity(h),
                Err(e) => return refused("lab: host identity", e),
            }
        }
        let mut cfg = EarlyConfig::verifier(appraiser, scheme());
        cfg.handshake_timeout = STEP_TIMEOUT;
        let ctx = match attested_tls_openssl::client_context(&cfg, None) {
            Ok(c) => c,
            Err(e) => return refused("lab: client context", e.to_string()),
        };
        let tcp = match TcpStream::connect(addr).await {
            Ok(t) => t,
            Err(e) => return refused("TCP connect", e.to_string()),
        };
        match attested_tls_openssl::connect(&ctx, SERVICE_NAME, tcp, &cfg).await {
            Ok((mut stream, _ear)) => {
                let _ = stream.write_all(SECRET).await;
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = stream.shutdown().await;
                VictimResult::Accepted
            }
            Err(e) => VictimResult::Refused {
                check: classify(&e),
                detail: e.to_string(),
            },
        }
    }

    /// A's own mode `early` connection to T1 (A reads T1's Certificate as
    /// the TLS client): T1's Evidence over A's transcript.
    async fn own_connection_evidence(&self, t1: &Genuine) -> Result<attested_tls::cmw::Cmw, String> {
        let (appraiser, recorded) = recording_appraiser();
        let mut cfg = EarlyConfig::verifier(appraiser, scheme());
        cfg.handshake_timeout = STEP_TIMEOUT;
        let ctx = attested_tls_openssl::client_context(&cfg, None).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(t1.addr).await.map_err(|e| e.to_string())?;
        let own = attested_tls_openssl::connect(&ctx, SERVICE_NAME, tcp, &cfg).await;
        drop(own);
        recorded_evidence(&recorded)
    }

    /// R1 / R3: A obtains T1's Evidence over its own handshake, then
    /// answers C's handshake itself presenting it, with A's own key (R1) or
    /// T1's leaked key (R3).
    async fn relay_own_handshake(&self, tb: &Testbed, caps: Capabilities, leaked: bool) -> Result<AttackRun, String> {
        let t1 = self.serve(tb, Tee::T1).await?;
        let evidence = self.own_connection_evidence(&t1).await?;
        let key = if leaked {
            t1.leak_tls_key(caps)?.0
        } else {
            KeyMaterial::self_signed("attacker.example")?
        };
        let (addr, read) = spawn_server(
            &key,
            Arc::new(ReplayAttester {
                evidence,
                fresh_binder_beside: false,
            }),
        )
        .await?;
        let victim = self.victim_at(tb, addr).await;
        let read = seen_if_accepted(&victim, &read).await;
        let keys = if leaked {
            "T1's leaked TLS key (TIK)"
        } else {
            "A's own key"
        };
        let trace = vec![
            Step::new(Party::A, Party::T1, "A's own ClientHello (remoteAttestation)"),
            Step::new(
                Party::T1,
                Party::A,
                "ServerHello .. Certificate with Evidence (binder over A's CH..SH)",
            ),
            Step::new(Party::C, Party::A, "ClientHello (remoteAttestation)"),
            Step::new(
                Party::A,
                Party::C,
                format!("A's ServerHello; Certificate with T1's Evidence; CertificateVerify with {keys}"),
            ),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &read, "A"),
            trace,
        })
    }

    /// R2 / R4: A forwards C's ClientHello byte for byte to T1; T1
    /// attests over that ClientHello and its own ServerHello; A reads the
    /// Evidence through observe-evidence, abandons T1 and answers the same
    /// ClientHello itself with its own ServerHello, presenting T1's
    /// Evidence with its own key (R2) or T1's leaked key (R4).
    async fn forward_client_hello(&self, tb: &Testbed, caps: Capabilities, leaked: bool) -> Result<AttackRun, String> {
        let t1 = self.serve(tb, Tee::T1).await?;
        let key = if leaked {
            t1.leak_tls_key(caps)?.0
        } else {
            KeyMaterial::self_signed("attacker.example")?
        };
        let (chain, pkey) = openssl_identity(&key)?;
        let (listener, addr) = attacker::listen().await?;
        let read = Arc::new(Mutex::new(Vec::new()));
        let sink = read.clone();
        let before = t1.observed(caps)?.len();
        let observed = t1.observed.clone();
        let t1_addr = t1.addr;
        let task = tokio::spawn(async move {
            let (mut c_tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let client_hello = read_record(&mut c_tcp).await?;
            // T1 answers with its flight; its attester runs while it builds
            // the Certificate. A reads (and cannot decrypt) the flight.
            let evidence = attacker::forward_and_observe(&client_hello, t1_addr, &observed, before).await?;
            let evidence = evidence.ok_or("T1 produced no Evidence for the forwarded ClientHello")?;
            let mut cfg = EarlyConfig::attester(
                Arc::new(ReplayAttester {
                    evidence,
                    fresh_binder_beside: false,
                }),
                scheme(),
            );
            cfg.handshake_timeout = STEP_TIMEOUT;
            let ctx = attested_tls_openssl::server_context(&cfg, &chain, &pkey).map_err(|e| e.to_string())?;
            if let Ok((stream, _)) = attested_tls_openssl::accept(&ctx, Prefixed::new(client_hello, c_tcp), &cfg).await
            {
                drain_into(stream, sink, READ_WINDOW).await;
            }
            Ok::<(), String>(())
        });
        let victim = self.victim_at(tb, addr).await;
        let seen = seen_if_accepted(&victim, &read).await;
        if task.is_finished() {
            if let Ok(Err(e)) = task.await {
                return Err(e);
            }
        }
        let keys = if leaked {
            "T1's leaked TLS key (TIK)"
        } else {
            "A's own key"
        };
        let trace = vec![
            Step::new(Party::C, Party::A, "ClientHello (remoteAttestation)"),
            Step::new(Party::A, Party::T1, "C's ClientHello, byte for byte"),
            Step::new(
                Party::T1,
                Party::A,
                "ServerHello, encrypted flight (Evidence over C's CH + T1's SH)",
            ),
            Step::note(Party::A, "observe-evidence: T1's Evidence; T1 abandoned"),
            Step::new(
                Party::A,
                Party::C,
                format!("A's ServerHello; T1's Evidence; CertificateVerify with {keys}"),
            ),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &seen, "A"),
            trace,
        })
    }

    /// PH-old-evidence in this mode: T1's Evidence from A's own earlier
    /// handshake next to a record with the fresh binder, T1's leaked key.
    async fn old_evidence(&self, tb: &Testbed, caps: Capabilities) -> Result<AttackRun, String> {
        let t1 = self.serve(tb, Tee::T1).await?;
        let evidence = self.own_connection_evidence(&t1).await?;
        let key = t1.leak_tls_key(caps)?.0;
        let (addr, read) = spawn_server(
            &key,
            Arc::new(ReplayAttester {
                evidence,
                fresh_binder_beside: true,
            }),
        )
        .await?;
        let victim = self.victim_at(tb, addr).await;
        let read = seen_if_accepted(&victim, &read).await;
        let trace = vec![
            Step::new(Party::A, Party::T1, "A's own handshake"),
            Step::new(Party::T1, Party::A, "T1's Evidence (A's transcript)"),
            Step::new(Party::C, Party::A, "ClientHello"),
            Step::new(
                Party::A,
                Party::C,
                "Certificate: T1's old Evidence + a record with the fresh binder; CertificateVerify with T1's leaked key",
            ),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &read, "A"),
            trace,
        })
    }
}

impl LabMode for Early {
    fn name(&self) -> String {
        format!("early{}", self.identity.suffix())
    }

    fn family(&self) -> &'static str {
        "early"
    }

    fn gating(&self) -> bool {
        self.identity.i1 || self.identity.i2
    }

    fn applicable(&self, attack: AttackId) -> Applicability {
        use AttackId::*;
        let post_handshake = || {
            Applicability::NotApplicable(
                "a post-handshake negative: mode early has no authenticator request or exchange after the handshake"
                    .into(),
            )
        };
        match attack {
            RpReplay => Applicability::NotApplicable(
                "mode early has no static attested certificate (Evidence per handshake; the nearest construction is R3)".into(),
            ),
            D1 | R1 | R2 | R3 | R4 | R5Tls12 | R5Group | R5KeyShare | R5Sha1 | R5Ffdhe | PhOldEvidence | PhTickets => Applicability::Applicable,
            PhForwardLeaked | PhReplayedAuthenticator | PhExporterLabel | PhDataFirst => post_handshake(),
            PhLeafKey => Applicability::NotApplicable(
                "in mode early this is R1 (T1's Evidence beside A's own end-entity key)".into(),
            ),
            R5Sha1Request => Applicability::NotBuilt(
                "mode early has no RFC 9261 request: an attesting client signs in its TLS CertificateVerify, with the \
                 schemes of the TLS CertificateRequest; the lab's early victim does not attest itself (no mutual \
                 victim in mode early, see reflection)"
                    .into(),
            ),
            Reflection => Applicability::NotBuilt(
                "A's server Certificate (with its Evidence) precedes C's client Certificate, so C's own Evidence for \
                 this transcript does not exist when A must send it; reflecting C's certificate and Evidence from \
                 another connection needs C's private key for the CertificateVerify, which no capability grants \
                 (the adapter also refuses a peer key equal to its own: attested-tls-openssl tests)"
                    .into(),
            ),
            StaleReattestation => Applicability::NotApplicable(
                "mode early has no re-attestation in this implementation (none of -07's options: post-handshake \
                 client auth, Extended Key Update, CertificateUpdate); a new attestation is a new handshake"
                    .into(),
            ),
        }
    }

    fn serve_genuine<'a>(&'a self, tb: &'a Testbed, tee: Tee) -> BoxFuture<'a, Result<Genuine, String>> {
        Box::pin(self.serve(tb, tee))
    }

    fn victim<'a>(&'a self, tb: &'a Testbed, addr: SocketAddr) -> BoxFuture<'a, VictimResult> {
        Box::pin(self.victim_at(tb, addr))
    }

    fn run<'a>(
        &'a self,
        attack: AttackId,
        caps: Capabilities,
        tb: &'a Testbed,
    ) -> BoxFuture<'a, Result<AttackRun, String>> {
        Box::pin(async move {
            match attack {
                AttackId::R1 => self.relay_own_handshake(tb, caps, false).await,
                AttackId::R3 => self.relay_own_handshake(tb, caps, true).await,
                AttackId::R2 => self.forward_client_hello(tb, caps, false).await,
                AttackId::R4 => self.forward_client_hello(tb, caps, true).await,
                AttackId::PhOldEvidence => self.old_evidence(tb, caps).await,
                other => Err(format!("{} is not built in mode early", other.id())),
            }
        })
    }
}
