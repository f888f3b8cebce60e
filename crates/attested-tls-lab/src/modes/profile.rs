//! The binding profiles B1-B7 (`attested_tls::modes::profiles`, OpenSSL
//! adapter `attested_tls_openssl::profiles`): T1, T2 and the victim run
//! the profiles' real server and client code; the attacker runs the same
//! server code with the lab hooks (its own or a leaked key, Evidence it
//! obtained elsewhere) and its own clients (the profile client with a
//! copied nonce, or a rustls client whose ClientHello carries the victim's
//! client random).
//!
//! One value of [`ProfileMode`] per profile and identity configuration.
//! The constructions follow the profile's [`Needs`]: what the design binds
//! is what the attacker copies, forwards or leaks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attested_tls::cmw::Cmw;
use attested_tls::modes::profiles::{
    evidence_from_certificate, from_name, nonce_from_alpn, nonce_from_extension, nonce_from_sni, CertificateLifetime,
    NonceCarrier, Profile, ProfileAttester, DEFAULT_NONCE_EXTENSION_TYPE,
};
use attested_tls_openssl::profiles::{
    accept, client_context, connect, server_context, NonceSource, ProfileClientConfig, ProfileRefusal,
    ProfileServerConfig, ProfileTlsError,
};
use attested_tls_openssl::EarlyError;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{ear_check, openssl_reasons, variant_name, Applicability, BoxFuture, IdentityConfig, LabMode};
use crate::attacker::{
    self, provider_with_client_random, read_record, recorded_evidence, recording_appraiser, ClientHelloView, Prefixed,
    ReplayAttester, READ_WINDOW,
};
use crate::attacks::{verdict, victim_note, AttackId, AttackRun, Capabilities, VictimResult};
use crate::report::{Party, Step};
use crate::testbed::{drain_into, seen_if_accepted, Genuine, KeyMaterial, ObservedAttester, Tee, Testbed, SECRET};

const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// A binding profile with the identity mechanisms of `identity` (I2 only:
/// the profiles' certificates are self-signed by the adapter, so none can
/// carry I1's CA-issued chain).
pub struct ProfileMode {
    profile: &'static dyn Profile,
    /// I2 (I1 is never set: see the type's documentation).
    pub identity: IdentityConfig,
}

impl ProfileMode {
    /// The profile named `name`, without and with I2.
    pub fn variants(name: &str) -> Vec<Box<dyn LabMode>> {
        let Ok(profile) = from_name(name) else {
            // A registry line naming no profile is a programming error the
            // unit test of the registry catches; never a panic at run time.
            return Vec::new();
        };
        [false, true]
            .into_iter()
            .map(|i2| {
                Box::new(Self {
                    profile,
                    identity: IdentityConfig { i1: false, i2 },
                }) as Box<dyn LabMode>
            })
            .collect()
    }
}

/// A profile server of the lab: its sink, Evidence and every TLS key it used.
struct ProfileServer {
    genuine: Genuine,
    /// Every TLS private key (PKCS#8) the server used, in order (the
    /// `on_tls_key` hook): one per handshake, or the static one.
    keys: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ProfileServer {
    /// leak-tls-key: the last key the server used.
    fn leak_last_key(&self, caps: Capabilities) -> Result<Vec<u8>, String> {
        if !caps.leak_tls_key {
            return Err("the attack used leak-tls-key without the capability".into());
        }
        let keys = self.keys.lock().map_err(|_| "poisoned".to_string())?;
        keys.last().cloned().ok_or_else(|| "T1 used no TLS key yet".into())
    }
}

/// The check behind a victim's error.
fn classify(e: &ProfileTlsError) -> String {
    match e {
        ProfileTlsError::Refused {
            reason: ProfileRefusal::NotTrusted(ear),
            ..
        } => ear_check(ear),
        ProfileTlsError::Refused { reason, .. } => {
            format!("ProfileRefusal::{}", variant_name(&format!("{reason:?}")))
        }
        ProfileTlsError::Tls(EarlyError::PeerAlert { code, text }) => format!("peer alert {code} ({text})"),
        ProfileTlsError::Tls(EarlyError::Tls(t)) => format!("OpenSSL handshake: {}", openssl_reasons(&t.to_string())),
        ProfileTlsError::Tls(other) => format!("EarlyError::{}", variant_name(&format!("{other:?}"))),
        ProfileTlsError::Config(c) => format!("ProfileTlsError::Config ({c})"),
    }
}

/// The nonce `view` carries where `carrier` puts it.
fn nonce_in(view: &ClientHelloView, carrier: NonceCarrier) -> Result<Vec<u8>, String> {
    let r = match carrier {
        NonceCarrier::Sni => nonce_from_sni(view.server_name.as_deref()),
        NonceCarrier::Alpn => {
            let mut wire = Vec::new();
            for p in &view.alpn {
                wire.push(p.len() as u8);
                wire.extend_from_slice(p);
            }
            nonce_from_alpn(&wire)
        }
        NonceCarrier::Extension => match view.extensions.iter().find(|(t, _)| *t == DEFAULT_NONCE_EXTENSION_TYPE) {
            Some((_, body)) => nonce_from_extension(body),
            None => return Err("C's ClientHello has no nonce extension".into()),
        },
    };
    r.map_err(|e| format!("reading C's nonce: {e}"))
}

/// The Evidence (CMW) in a profile certificate.
fn cmw_of_certificate(der: &[u8]) -> Result<Cmw, String> {
    let (_, bytes) = evidence_from_certificate(der).map_err(|e| e.to_string())?;
    Cmw::decode(&bytes).map_err(|e| e.to_string())
}

/// How A's own handshake with T1 was made (for the trace).
fn copied_what(profile: &dyn Profile, view: &ClientHelloView) -> String {
    let needs = profile.needs();
    match (needs.client_random, needs.nonce) {
        (true, _) => format!(
            "A's own ClientHello (rustls) with C's client random {}..",
            hex::encode(&view.random[..4])
        ),
        (false, Some(c)) => format!("A's own ClientHello with C's nonce copied into its {}", c.name()),
        (false, None) => "A's own ClientHello (nothing of C's to copy)".into(),
    }
}

impl ProfileMode {
    fn server_config(&self, attester: Arc<dyn ProfileAttester>) -> Result<ProfileServerConfig, String> {
        let mut cfg = ProfileServerConfig::new(self.profile.name(), attester).map_err(|e| e.to_string())?;
        cfg.handshake_timeout = STEP_TIMEOUT;
        Ok(cfg)
    }

    /// Serves `cfg` at a new loopback address; `prefix`-free.
    async fn spawn(&self, cfg: ProfileServerConfig) -> Result<(SocketAddr, Arc<Mutex<Vec<u8>>>), String> {
        let ctx = server_context(&cfg).map_err(|e| e.to_string())?;
        attacker::serve_and_collect(move |tcp| {
            let (ctx, cfg) = (ctx.clone(), cfg.clone());
            async move { accept(&ctx, tcp, &cfg).await.ok().map(|(s, _)| s) }
        })
        .await
    }

    /// The profile's genuine server for `tee`, with the observe and
    /// leak hooks recording (handed out only under the capabilities).
    async fn serve(&self, tb: &Testbed, tee: Tee) -> Result<ProfileServer, String> {
        let observed = Arc::new(Mutex::new(Vec::new()));
        let keys: Arc<Mutex<Vec<Vec<u8>>>> = Arc::new(Mutex::new(Vec::new()));
        let mut cfg = self.server_config(Arc::new(ObservedAttester::new(tb.instance(tee), observed.clone())))?;
        let sink = keys.clone();
        cfg.hooks.on_tls_key = Some(Arc::new(move |k: &[u8]| {
            if let Ok(mut v) = sink.lock() {
                v.push(k.to_vec());
            }
        }));
        let (addr, received) = self.spawn(cfg).await?;
        Ok(ProfileServer {
            genuine: Genuine {
                addr,
                received,
                observed,
                // Per-handshake keys are in `keys`; the TLS identity field
                // is unused for the profiles.
                tls: KeyMaterial::self_signed("unused.example")?,
                attested_key: None,
            },
            keys,
        })
    }

    async fn victim_at(&self, tb: &Testbed, addr: SocketAddr) -> VictimResult {
        let refused = |check: &str, detail: String| VictimResult::Refused {
            check: check.into(),
            detail,
        };
        let appraiser = match tb.appraiser(self.identity.i2) {
            Ok(a) => a,
            Err(e) => return refused("lab: appraiser", e),
        };
        let mut cfg = match ProfileClientConfig::new(self.profile.name(), appraiser) {
            Ok(c) => c,
            Err(e) => return refused("lab: client config", e.to_string()),
        };
        cfg.handshake_timeout = STEP_TIMEOUT;
        let ctx = match client_context(&cfg) {
            Ok(c) => c,
            Err(e) => return refused("lab: client context", e.to_string()),
        };
        let tcp = match TcpStream::connect(addr).await {
            Ok(t) => t,
            Err(e) => return refused("TCP connect", e.to_string()),
        };
        match connect(&ctx, crate::testbed::SERVICE_NAME, tcp, &cfg).await {
            Ok((mut stream, _ear, _)) => {
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

    /// A's own handshake with T1, carrying what the design binds of C's
    /// ClientHello (`view`): the client random (a rustls client whose
    /// random source yields it), or C's nonce in the design's carrier (the
    /// profile's own client with a fixed nonce and a recording verifier),
    /// or nothing. Returns T1's Evidence from the certificate T1 presented
    /// (A is the TLS client: it reads it legitimately).
    async fn own_handshake(&self, t1: SocketAddr, view: &ClientHelloView) -> Result<Cmw, String> {
        let needs = self.profile.needs();
        let tcp = TcpStream::connect(t1).await.map_err(|e| e.to_string())?;
        if needs.client_random {
            let cfg = rustls::ClientConfig::builder_with_provider(provider_with_client_random(view.random))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(
                    Arc::new(attested_tls::net::tls::AttestationOnlyServerVerifier::new()),
                )
                .with_no_client_auth();
            let name =
                rustls::pki_types::ServerName::try_from(crate::testbed::SERVICE_NAME).map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("A's rustls handshake with T1: {e}"))?;
            let certs = tls.get_ref().1.peer_certificates().ok_or("T1 sent no certificate")?;
            return cmw_of_certificate(certs.first().ok_or("T1 sent no certificate")?);
        }
        let (appraiser, recorded) = recording_appraiser();
        let mut cfg = ProfileClientConfig::new(self.profile.name(), appraiser).map_err(|e| e.to_string())?;
        cfg.handshake_timeout = STEP_TIMEOUT;
        if let Some(carrier) = needs.nonce {
            cfg.nonce = NonceSource::Fixed(nonce_in(view, carrier)?);
        }
        let ctx = client_context(&cfg).map_err(|e| e.to_string())?;
        // The recording verifier appraises nothing, so A's own client does
        // not accept; A only wants the Evidence it read.
        let own = connect(&ctx, crate::testbed::SERVICE_NAME, tcp, &cfg).await;
        drop(own);
        recorded_evidence(&recorded)
    }

    /// A's server for C's connection: the profile's server code over the
    /// ClientHello A already read, presenting `evidence` with `key_pkcs8`.
    async fn answer_c(
        &self,
        client_hello: Vec<u8>,
        c_tcp: TcpStream,
        evidence: Cmw,
        key_pkcs8: Vec<u8>,
        sink: Arc<Mutex<Vec<u8>>>,
    ) -> Result<(), String> {
        let mut cfg = self.server_config(Arc::new(ReplayAttester {
            evidence,
            fresh_binder_beside: false,
        }))?;
        cfg.hooks.tls_key_pkcs8 = Some(key_pkcs8);
        let ctx = server_context(&cfg).map_err(|e| e.to_string())?;
        if let Ok((stream, _)) = accept(&ctx, Prefixed::new(client_hello, c_tcp), &cfg).await {
            drain_into(stream, sink, READ_WINDOW).await;
        }
        Ok(())
    }

    /// Runs the victim against an attacker that accepts one connection and
    /// hands C's ClientHello to `attack`, which answers C; returns the
    /// oracle's verdict and the trace.
    async fn against_victim<F, Fut>(&self, tb: &Testbed, attack: F) -> Result<(VictimResult, Vec<u8>, String), String>
    where
        F: FnOnce(Vec<u8>, TcpStream, Arc<Mutex<Vec<u8>>>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<String, String>> + Send + 'static,
    {
        let (listener, addr) = attacker::listen().await?;
        let read = Arc::new(Mutex::new(Vec::new()));
        let sink = read.clone();
        let task = tokio::spawn(async move {
            let (mut c_tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
            let client_hello = read_record(&mut c_tcp).await?;
            attack(client_hello, c_tcp, sink).await
        });
        let victim = self.victim_at(tb, addr).await;
        let seen = seen_if_accepted(&victim, &read).await;
        // After a refusal, the attacker's task has ended (or ends soon):
        // its failure is a lab error, not C's refusal. After an
        // acceptance it may still be reading C's data.
        let wait = match victim {
            VictimResult::Refused { .. } => Duration::from_secs(2),
            VictimResult::Accepted => Duration::ZERO,
        };
        let note = match tokio::time::timeout(wait, task).await {
            Ok(Ok(Ok(note))) => note,
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => String::new(),
        };
        Ok((victim, seen, note))
    }

    /// R1 / R3: A reads C's ClientHello, copies what the design binds of
    /// it (client random or nonce) into its own handshake with T1, takes
    /// T1's certificate and Evidence, and answers C with T1's Evidence and
    /// its own key (R1) or the key T1 used on A's connection (R3, leaked).
    async fn relay_own_handshake(&self, tb: &Testbed, caps: Capabilities, leaked: bool) -> Result<AttackRun, String> {
        let t1 = Arc::new(self.serve(tb, Tee::T1).await?);
        let me = ProfileMode {
            profile: self.profile,
            identity: self.identity,
        };
        let t1c = t1.clone();
        let (victim, seen, copied) = self
            .against_victim(tb, move |client_hello, c_tcp, sink| async move {
                let view = ClientHelloView::parse_record(&client_hello)?;
                let evidence = me.own_handshake(t1c.genuine.addr, &view).await?;
                let key = if leaked {
                    t1c.leak_last_key(caps)?
                } else {
                    KeyMaterial::self_signed("attacker.example")?.key_pkcs8
                };
                let copied = copied_what(me.profile, &view);
                me.answer_c(client_hello, c_tcp, evidence, key, sink).await?;
                Ok(copied)
            })
            .await?;
        let key = if leaked {
            "the key T1 used on A's connection (leaked)"
        } else {
            "A's own key"
        };
        let trace = vec![
            Step::new(Party::C, Party::A, "ClientHello (read by A)"),
            Step::new(Party::A, Party::T1, copied),
            Step::new(
                Party::T1,
                Party::A,
                "T1's certificate with Evidence over A's handshake values",
            ),
            Step::new(
                Party::A,
                Party::C,
                format!("A's ServerHello; certificate with T1's Evidence and {key}"),
            ),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &seen, "A"),
            trace,
        })
    }

    /// R2 / R4: A forwards C's ClientHello byte for byte to T1; the observe
    /// hook yields the Evidence T1 made for it (per handshake; for the
    /// static design, the one static Evidence) and, for R4, the leak hook
    /// the key T1 used; A abandons T1 and answers C itself.
    async fn forward_client_hello(&self, tb: &Testbed, caps: Capabilities, leaked: bool) -> Result<AttackRun, String> {
        let t1 = Arc::new(self.serve(tb, Tee::T1).await?);
        let before = t1.genuine.observed(caps)?.len();
        let static_cert = self.profile.certificate() == CertificateLifetime::Static;
        let me = ProfileMode {
            profile: self.profile,
            identity: self.identity,
        };
        let t1c = t1.clone();
        // observe-evidence: the hook's record, handed over with the capability.
        t1.genuine.observed(caps)?;
        let observed = t1.genuine.observed.clone();
        let (victim, seen, _) = self
            .against_victim(tb, move |client_hello, c_tcp, sink| async move {
                // The static design made its one Evidence when T1 started:
                // the observe hook has it already.
                let before = if static_cert { 0 } else { before };
                let evidence =
                    attacker::forward_and_observe(&client_hello, t1c.genuine.addr, &observed, before).await?;
                let evidence = evidence.ok_or("T1 produced no Evidence for the forwarded ClientHello")?;
                let key = if leaked {
                    t1c.leak_last_key(caps)?
                } else {
                    KeyMaterial::self_signed("attacker.example")?.key_pkcs8
                };
                me.answer_c(client_hello, c_tcp, evidence, key, sink).await?;
                Ok(String::new())
            })
            .await?;
        let key = if leaked {
            "the key T1 used for the forwarded ClientHello (leaked)"
        } else {
            "A's own key"
        };
        let trace = vec![
            Step::new(Party::C, Party::A, "ClientHello"),
            Step::new(Party::A, Party::T1, "C's ClientHello, byte for byte"),
            Step::new(
                Party::T1,
                Party::A,
                "ServerHello, encrypted flight (Evidence over C's ClientHello values)",
            ),
            Step::note(Party::A, "observe-evidence: T1's Evidence; T1 abandoned"),
            Step::new(
                Party::A,
                Party::C,
                format!("A's ServerHello; certificate with T1's Evidence and {key}"),
            ),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &seen, "A"),
            trace,
        })
    }

    /// RP replay (static certificate): A connected to T1 once (its own
    /// handshake) and holds T1's static certificate and, leaked once, its
    /// key; later it serves C with both, without contacting T1.
    async fn replay_static(&self, tb: &Testbed, caps: Capabilities) -> Result<AttackRun, String> {
        let t1 = self.serve(tb, Tee::T1).await?;
        let evidence = self.own_handshake(t1.genuine.addr, &ClientHelloView::default()).await?;
        let key = t1.leak_last_key(caps)?;
        let me = ProfileMode {
            profile: self.profile,
            identity: self.identity,
        };
        let (victim, seen, _) = self
            .against_victim(tb, move |client_hello, c_tcp, sink| async move {
                me.answer_c(client_hello, c_tcp, evidence, key, sink).await?;
                Ok(String::new())
            })
            .await?;
        let trace = vec![
            Step::new(Party::A, Party::T1, "A's own handshake, once"),
            Step::new(
                Party::T1,
                Party::A,
                "T1's static certificate with Evidence; its key leaks once",
            ),
            Step::note(Party::A, "later: T1 is not contacted again"),
            Step::new(Party::C, Party::A, "ClientHello"),
            Step::new(
                Party::A,
                Party::C,
                "T1's static certificate (Evidence); CertificateVerify with T1's leaked key",
            ),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &seen, "A"),
            trace,
        })
    }
}

impl LabMode for ProfileMode {
    fn name(&self) -> String {
        format!("{}{}", self.profile.name(), self.identity.suffix())
    }

    fn family(&self) -> &'static str {
        self.profile.name()
    }

    fn gating(&self) -> bool {
        // The profiles exist to measure the deployed designs: successes
        // against them are expected and never fail the lab.
        false
    }

    fn applicable(&self, attack: AttackId) -> Applicability {
        use AttackId::*;
        let post_handshake = || {
            Applicability::NotApplicable(
                "a post-handshake negative: the profiles attest inside the handshake (a certificate extension)".into(),
            )
        };
        match attack {
            D1 | R1 | R2 | R3 | R4 | R5Tls12 | R5Group | R5KeyShare | R5Sha1 | R5Ffdhe | PhTickets => Applicability::Applicable,
            RpReplay if self.profile.certificate() == CertificateLifetime::Static => Applicability::Applicable,
            RpReplay => Applicability::NotApplicable(
                "the profile makes a fresh key and certificate per handshake (the nearest construction is R3)".into(),
            ),
            PhForwardLeaked | PhReplayedAuthenticator | PhExporterLabel | PhDataFirst | StaleReattestation => {
                post_handshake()
            }
            PhOldEvidence | PhLeafKey => Applicability::NotApplicable(
                "in the profiles this is R1/R3 (T1's Evidence from another handshake beside A's own or T1's leaked key)"
                    .into(),
            ),
            Reflection | R5Sha1Request => {
                Applicability::NotApplicable("the profiles attest the server only (no mutual attestation)".into())
            }
        }
    }

    fn serve_genuine<'a>(&'a self, tb: &'a Testbed, tee: Tee) -> BoxFuture<'a, Result<Genuine, String>> {
        Box::pin(async move { self.serve(tb, tee).await.map(|s| s.genuine) })
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
                AttackId::RpReplay => self.replay_static(tb, caps).await,
                other => Err(format!(
                    "{} is not built for profile {}",
                    other.id(),
                    self.profile.name()
                )),
            }
        })
    }
}
