//! The default mode: post-handshake Exported Attestation (RFC 9261 +
//! draft-fossati-seat-expat-04) over rustls, through `attested_tls::net`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attested_tls::binder::EXPORTER_LABEL_ATTESTATION_LEGACY;
use attested_tls::ea::AuthenticatorIdentity;
use attested_tls::net::{self, AttestationConfig, NetError};
use attested_tls::transport::frame::{Hello, FLAG_CAN_ATTEST};
use attested_tls::transport::{Frame, SessionError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{ear_check, variant_name, Applicability, BoxFuture, IdentityConfig, LabMode};
use crate::attacker::{self, copy_recording, recorded_evidence, recording_appraiser, ReplayAttester, READ_WINDOW};
use crate::attacks::{verdict, victim_note, AttackId, AttackRun, Capabilities, VictimResult};
use crate::report::{Party, Step};
use crate::testbed::{
    drain_into, seen_if_accepted, Genuine, KeyMaterial, ObservedAttester, Tee, Testbed, SECRET, SERVICE_NAME,
};

/// Deadlines of the victim and the genuine servers.
const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// The default mode with the identity mechanisms of `identity`. The
/// default policy (`atls sim init`) pins instance ids: `expat+I2` is the
/// default mode with its default policy.
pub struct Expat {
    /// I1 / I2.
    pub identity: IdentityConfig,
}

fn identity_of(k: &KeyMaterial) -> Result<AuthenticatorIdentity, String> {
    AuthenticatorIdentity::new(k.chain.clone(), &k.key()).map_err(|e| e.to_string())
}

fn tls_server(k: &KeyMaterial) -> Result<Arc<rustls::ServerConfig>, String> {
    net::tls::server_config(k.chain.clone(), k.key()).map_err(|e| e.to_string())
}

/// Spawns a server running the project's `net::accept` with `att` on `tls`;
/// what attested clients send is collected.
async fn spawn_server(
    tls: Arc<rustls::ServerConfig>,
    att: AttestationConfig,
) -> Result<(SocketAddr, Arc<Mutex<Vec<u8>>>), String> {
    attacker::serve_and_collect(move |tcp| {
        let (tls, att) = (tls.clone(), att.clone());
        async move { net::accept(&tls, tcp, &att).await.ok().map(|(stream, _)| stream) }
    })
    .await
}

/// The check behind a victim's error.
fn classify(e: &NetError) -> String {
    match e {
        NetError::Attestation(SessionError::PeerNotTrusted { ear, .. }) => ear_check(ear),
        NetError::Attestation(SessionError::Authenticator(ea)) => format!(
            "SessionError::Authenticator(EaError::{})",
            variant_name(&format!("{ea:?}"))
        ),
        NetError::Attestation(SessionError::Request(ea)) => {
            format!("SessionError::Request(EaError::{})", variant_name(&format!("{ea:?}")))
        }
        NetError::Attestation(se) => format!("SessionError::{}", variant_name(&format!("{se:?}"))),
        NetError::Tls(te) => format!("rustls: {te}"),
        NetError::Timeout(step) => format!("NetError::Timeout({step})"),
        NetError::Closed(step) => format!("NetError::Closed({step})"),
        // tokio-rustls reports rustls' handshake errors as I/O errors.
        NetError::Io(io) => match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(te) => format!("rustls: {te}"),
            None => format!("NetError::Io({:?})", io.kind()),
        },
        other => format!("NetError::{}", variant_name(&format!("{other:?}"))),
    }
}

/// A's TLS-terminating relay to `t1`: it accepts one TLS connection with
/// `a_tls`, opens its own TLS connection to `t1` and copies the plaintext
/// both ways; returns its address and what went up (to T1) and down.
async fn plaintext_relay(
    t1: SocketAddr,
    a_tls: &KeyMaterial,
) -> Result<(SocketAddr, Arc<Mutex<Vec<u8>>>, Arc<Mutex<Vec<u8>>>), String> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_server(a_tls)?);
    let connector = tokio_rustls::TlsConnector::from(net::tls::client_config().map_err(|e| e.to_string())?);
    let (listener, addr) = attacker::listen().await?;
    let up_seen = Arc::new(Mutex::new(Vec::new()));
    let down_seen = Arc::new(Mutex::new(Vec::new()));
    let (up_c, down_c) = (up_seen.clone(), down_seen.clone());
    tokio::spawn(async move {
        let Ok((tcp, _)) = listener.accept().await else { return };
        let Ok(c_side) = acceptor.accept(tcp).await else { return };
        let Ok(t1_tcp) = TcpStream::connect(t1).await else {
            return;
        };
        let name = rustls::pki_types::ServerName::try_from(SERVICE_NAME).expect("valid name");
        let Ok(t1_side) = connector.connect(name, t1_tcp).await else {
            return;
        };
        let (cr, cw) = tokio::io::split(c_side);
        let (tr, tw) = tokio::io::split(t1_side);
        let up = tokio::spawn(copy_recording(cr, tw, up_c));
        let down = tokio::spawn(copy_recording(tr, cw, down_c));
        let _ = up.await;
        let _ = down.await;
    });
    Ok((addr, up_seen, down_seen))
}

impl Expat {
    async fn serve(&self, tb: &Testbed, tee: Tee, legacy_label: bool) -> Result<Genuine, String> {
        let tls = KeyMaterial::self_signed("tee.example")?;
        let observed = Arc::new(Mutex::new(Vec::new()));
        let ltk = tb.ltk(tee).clone();
        let mut att = AttestationConfig::default()
            .with_identity(identity_of(&ltk)?)
            .with_attester(Arc::new(ObservedAttester::new(tb.instance(tee), observed.clone())))
            .map_err(|e| e.to_string())?;
        if legacy_label {
            att.profile.exporter_label = EXPORTER_LABEL_ATTESTATION_LEGACY.to_vec();
        }
        att.handshake_timeout = STEP_TIMEOUT;
        att.attestation_timeout = STEP_TIMEOUT;
        let (addr, received) = spawn_server(tls_server(&tls)?, att).await?;
        Ok(Genuine {
            addr,
            received,
            observed,
            tls,
            attested_key: Some(ltk),
        })
    }

    async fn victim_at(&self, tb: &Testbed, addr: SocketAddr) -> VictimResult {
        self.victim_with(tb, addr, false).await
    }

    /// The victim; with `mutual` it also attests itself (as the client
    /// instance [`Tee::Client`]), as a mutual-attestation peer does.
    async fn victim_with(&self, tb: &Testbed, addr: SocketAddr, mutual: bool) -> VictimResult {
        let refused = |check: String, detail: String| VictimResult::Refused { check, detail };
        let mut att = match tb.appraiser(self.identity.i2) {
            Ok(a) => AttestationConfig::verifier(a),
            Err(e) => return refused("lab: appraiser".into(), e),
        };
        if mutual {
            let own = Arc::new(attested_tls::sim::SimAttester::new(tb.instance(Tee::Client).clone()));
            att = match att.with_attester(own) {
                Ok(a) => a,
                Err(e) => return refused("lab: client attester".into(), e.to_string()),
            };
        }
        if self.identity.i1 {
            match tb.host_identity() {
                Ok(h) => att = att.with_host_identity(h),
                Err(e) => return refused("lab: host identity".into(), e),
            }
        }
        att.handshake_timeout = STEP_TIMEOUT;
        att.attestation_timeout = STEP_TIMEOUT;
        let tls = match net::tls::client_config() {
            Ok(t) => t,
            Err(e) => return refused("lab: client config".into(), e.to_string()),
        };
        let tcp = match TcpStream::connect(addr).await {
            Ok(t) => t,
            Err(e) => return refused("TCP connect".into(), e.to_string()),
        };
        match net::connect(&tls, SERVICE_NAME, tcp, &att).await {
            Ok((mut stream, _ear)) => {
                let _ = stream.write_all(SECRET).await;
                let _ = stream.flush().await;
                // Give the peer time to read before the close.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let _ = stream.shutdown().await;
                VictimResult::Accepted
            }
            Err(e) => refused(classify(&e), e.to_string()),
        }
    }

    /// R1 / PH-forward-leaked: A terminates C's TLS (its own key, or T1's
    /// leaked TLS key), opens its own TLS connection to T1 and relays the
    /// plaintext of the two both ways: C's HELLO and AuthenticatorRequest go
    /// to T1 over A's connection, T1's authenticator comes back to C.
    async fn relay(&self, tb: &Testbed, caps: Capabilities, leaked: bool) -> Result<AttackRun, String> {
        let t1 = self.serve(tb, Tee::T1, false).await?;
        let a_tls = if leaked {
            t1.leak_tls_key(caps)?.0
        } else {
            KeyMaterial::self_signed("attacker.example")?
        };
        let (addr, seen, _) = plaintext_relay(t1.addr, &a_tls).await?;
        let victim = self.victim_at(tb, addr).await;
        let read = seen_if_accepted(&victim, &seen).await;
        let key = if leaked {
            "T1's leaked TLS key"
        } else {
            "A's own TLS key"
        };
        let trace = vec![
            Step::new(Party::C, Party::A, format!("TLS 1.3 handshake; A answers with {key}")),
            Step::new(Party::A, Party::T1, "A's own TLS 1.3 handshake"),
            Step::new(Party::C, Party::A, "HELLO, ClientCertificateRequest (C's context)"),
            Step::new(Party::A, Party::T1, "the same plaintext frames over A's connection"),
            Step::new(Party::T1, Party::A, "T1's authenticator (exporter of A-T1)"),
            Step::new(Party::A, Party::C, "T1's authenticator, relayed"),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &read, "A (relay)"),
            trace,
        })
    }

    /// A's own attested-looking server: `net::accept` with an attester that
    /// presents Evidence A obtained from T1 over A's own connection, with
    /// T1's leaked keys (R3, PH-old-evidence) or A's own (PH-leaf-key).
    async fn replay(
        &self,
        tb: &Testbed,
        caps: Capabilities,
        leaked: bool,
        fresh_binder_beside: bool,
    ) -> Result<AttackRun, String> {
        let t1 = self.serve(tb, Tee::T1, false).await?;
        // A's own connection to T1: A is its TLS client and reads T1's
        // authenticator, Evidence included.
        let (appraiser, recorded) = recording_appraiser();
        let tcp = TcpStream::connect(t1.addr).await.map_err(|e| e.to_string())?;
        let tls = net::tls::client_config().map_err(|e| e.to_string())?;
        let own = net::connect(&tls, SERVICE_NAME, tcp, &AttestationConfig::verifier(appraiser)).await;
        drop(own);
        let evidence = recorded_evidence(&recorded)?;
        let (a_tls, a_auth) = if leaked {
            let (tls, attested) = t1.leak_tls_key(caps)?;
            (tls, attested.ok_or("T1 has no authenticator key")?)
        } else {
            (
                KeyMaterial::self_signed("attacker.example")?,
                KeyMaterial::self_signed("attacker.example")?,
            )
        };
        let mut att = AttestationConfig::default()
            .with_identity(identity_of(&a_auth)?)
            .with_attester(Arc::new(ReplayAttester {
                evidence,
                fresh_binder_beside,
            }))
            .map_err(|e| e.to_string())?;
        att.handshake_timeout = STEP_TIMEOUT;
        att.attestation_timeout = STEP_TIMEOUT;
        let (addr, read) = spawn_server(tls_server(&a_tls)?, att).await?;
        let victim = self.victim_at(tb, addr).await;
        let read = seen_if_accepted(&victim, &read).await;
        let keys = if leaked {
            "T1's leaked TLS and authenticator keys"
        } else {
            "A's own keys"
        };
        let mut trace = vec![
            Step::new(Party::A, Party::T1, "A's own attested connection: request"),
            Step::new(Party::T1, Party::A, "T1's authenticator with Evidence (bound to A-T1)"),
            Step::new(Party::C, Party::A, format!("TLS 1.3 handshake with {keys}")),
            Step::new(Party::C, Party::A, "HELLO, ClientCertificateRequest"),
        ];
        trace.push(Step::new(
            Party::A,
            Party::C,
            if fresh_binder_beside {
                format!("authenticator signed with {keys}: T1's old Evidence + a record with the fresh binder")
            } else {
                format!("authenticator signed with {keys}: T1's Evidence")
            },
        ));
        trace.push(Step::note(Party::C, victim_note(&victim)));
        Ok(AttackRun {
            outcome: verdict(victim, &read, "A"),
            trace,
        })
    }

    /// PH-replay-auth: A records T1's HELLO and authenticator from a
    /// connection A made itself (A's own client, through A's
    /// TLS-terminating relay: A reads the plaintext legitimately), then
    /// answers C's connection (its own TLS key) with those frames byte for
    /// byte, whatever C's request says.
    async fn replay_authenticator(&self, tb: &Testbed) -> Result<AttackRun, String> {
        let t1 = self.serve(tb, Tee::T1, false).await?;
        let a_tls = KeyMaterial::self_signed("attacker.example")?;
        let (relay_addr, _, down) = plaintext_relay(t1.addr, &a_tls).await?;
        let (appraiser, _) = recording_appraiser();
        let mut own_att = AttestationConfig::verifier(appraiser);
        own_att.handshake_timeout = STEP_TIMEOUT;
        own_att.attestation_timeout = STEP_TIMEOUT;
        let tcp = TcpStream::connect(relay_addr).await.map_err(|e| e.to_string())?;
        let tls = net::tls::client_config().map_err(|e| e.to_string())?;
        // A's client refuses (the authenticator is bound to the relay's
        // A-T1 connection, not to its own): A only wants the bytes.
        let own = net::connect(&tls, SERVICE_NAME, tcp, &own_att).await;
        drop(own);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let recorded = down.lock().map_err(|_| "poisoned".to_string())?.clone();
        if recorded.is_empty() {
            return Err("A's own attested connection to T1 yielded no authenticator to replay".into());
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_server(&a_tls)?);
        let (listener, addr) = attacker::listen().await?;
        let read = Arc::new(Mutex::new(Vec::new()));
        let sink = read.clone();
        let replayed = recorded.len();
        tokio::spawn(async move {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let Ok(mut s) = acceptor.accept(tcp).await else { return };
            if s.write_all(&recorded).await.is_ok() && s.flush().await.is_ok() {
                drain_into(s, sink, READ_WINDOW).await;
            }
        });
        let victim = self.victim_at(tb, addr).await;
        let seen = seen_if_accepted(&victim, &read).await;
        let trace = vec![
            Step::new(
                Party::A,
                Party::T1,
                "A's own attested connection (A's client, request with A's context)",
            ),
            Step::new(
                Party::T1,
                Party::A,
                format!("HELLO + authenticator for A's request, bound to A-T1 ({replayed} plaintext bytes recorded)"),
            ),
            Step::new(
                Party::C,
                Party::A,
                "TLS 1.3 handshake (A's own key); HELLO, ClientCertificateRequest (C's context)",
            ),
            Step::new(Party::A, Party::C, "T1's recorded HELLO + authenticator, byte for byte"),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &seen, "A"),
            trace,
        })
    }

    /// PH-exporter-label: T1 runs software on the older exporter label;
    /// the victim dials it directly.
    async fn other_label(&self, tb: &Testbed) -> Result<AttackRun, String> {
        let t1 = self.serve(tb, Tee::T1, true).await?;
        let victim = self.victim_at(tb, t1.addr).await;
        let read = seen_if_accepted(&victim, &t1.received).await;
        let trace = vec![
            Step::new(Party::C, Party::T1, "TLS 1.3 handshake, HELLO (-04 label), request"),
            Step::new(
                Party::T1,
                Party::C,
                "HELLO (label \"Attestation\"), Evidence bound with that label",
            ),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &read, "T1 (on the other label)"),
            trace,
        })
    }

    /// PH-data-first: A's TLS server sends a HELLO claiming it attests and
    /// then a DATA frame before any attestation.
    async fn data_first(&self, tb: &Testbed) -> Result<AttackRun, String> {
        let a_tls = KeyMaterial::self_signed("attacker.example")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_server(&a_tls)?);
        let (listener, addr) = attacker::listen().await?;
        let read = Arc::new(Mutex::new(Vec::new()));
        let sink = read.clone();
        tokio::spawn(async move {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let Ok(mut s) = acceptor.accept(tcp).await else { return };
            let profile = attested_tls::ea::EaProfile::default();
            let mut out = Frame::Hello(Hello {
                version: 1,
                flags: FLAG_CAN_ATTEST,
                max_frame: attested_tls::transport::frame::DEFAULT_MAX_FRAME as u32,
                cmw_ext_type: profile.cmw_ext_type,
                exporter_label: profile.exporter_label.clone(),
            })
            .encode();
            out.extend(Frame::Data(b"hello from A, no attestation".to_vec()).encode());
            if s.write_all(&out).await.is_ok() && s.flush().await.is_ok() {
                drain_into(s, sink, READ_WINDOW).await;
            }
        });
        let victim = self.victim_at(tb, addr).await;
        let seen = seen_if_accepted(&victim, &read).await;
        let trace = vec![
            Step::new(Party::C, Party::A, "TLS 1.3 handshake (A's own key), HELLO, request"),
            Step::new(
                Party::A,
                Party::C,
                "HELLO (can attest), then DATA before any authenticator",
            ),
            Step::note(Party::C, victim_note(&victim)),
        ];
        Ok(AttackRun {
            outcome: verdict(victim, &seen, "A"),
            trace,
        })
    }
}

impl Expat {
    /// Reflection against a mutual-attestation victim: A terminates C's
    /// TLS with its own key, reads C's HELLO and ClientCertificateRequest,
    /// sends C's own request back as a CertificateRequest (same context),
    /// and answers C's request with the authenticator C produced for it.
    async fn reflection(&self, tb: &Testbed) -> Result<AttackRun, String> {
        use attested_tls::transport::frame::FLAG_REQUIRES_PEER_ATTESTATION;
        use attested_tls::transport::FrameDecoder;
        use tokio::io::AsyncReadExt;
        let a_tls = KeyMaterial::self_signed("attacker.example")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_server(&a_tls)?);
        let (listener, addr) = attacker::listen().await?;
        let read = Arc::new(Mutex::new(Vec::new()));
        let sink = read.clone();
        let notes = Arc::new(Mutex::new(Vec::<String>::new()));
        let notes_a = notes.clone();
        tokio::spawn(async move {
            let note = |n: String| {
                if let Ok(mut v) = notes_a.lock() {
                    v.push(n)
                }
            };
            let Ok((tcp, _)) = listener.accept().await else { return };
            let Ok(mut s) = acceptor.accept(tcp).await else { return };
            let mut decoder = FrameDecoder::new(attested_tls::transport::frame::DEFAULT_MAX_FRAME);
            let mut buf = vec![0u8; 16384];
            let mut next = async |s: &mut tokio_rustls::server::TlsStream<TcpStream>, decoder: &mut FrameDecoder| loop {
                match decoder.next_frame() {
                    Ok(Some(f)) => return Some(f),
                    Ok(None) => {}
                    Err(_) => return None,
                }
                match tokio::time::timeout(STEP_TIMEOUT, s.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => decoder.push(&buf[..n]),
                    _ => return None,
                }
            };
            // C's first flight: HELLO, then its request.
            let (c_id, c_request) = loop {
                match next(&mut s, &mut decoder).await {
                    Some(Frame::AuthRequest { request_id, request }) => break (request_id, request),
                    Some(_) => continue,
                    None => return note("C sent no request".into()),
                }
            };
            let profile = attested_tls::ea::EaProfile::default();
            let mut reflected = c_request.clone();
            // ClientCertificateRequest (17) -> CertificateRequest (13): the
            // same body, context included.
            reflected[0] = 13;
            let mut out = Frame::Hello(Hello {
                version: 1,
                flags: FLAG_CAN_ATTEST | FLAG_REQUIRES_PEER_ATTESTATION,
                max_frame: attested_tls::transport::frame::DEFAULT_MAX_FRAME as u32,
                cmw_ext_type: profile.cmw_ext_type,
                exporter_label: profile.exporter_label.clone(),
            })
            .encode();
            out.extend(
                Frame::AuthRequest {
                    request_id: 7,
                    request: reflected,
                }
                .encode(),
            );
            if s.write_all(&out).await.is_err() || s.flush().await.is_err() {
                return;
            }
            let c_auth = loop {
                match next(&mut s, &mut decoder).await {
                    Some(Frame::Authenticator { authenticator, .. }) => break authenticator,
                    Some(Frame::Error { code, reason }) => {
                        return note(format!("C answered the reflected request with ERROR {code}: {reason}"))
                    }
                    Some(_) => continue,
                    None => return note("C did not answer the reflected request".into()),
                }
            };
            note("C authenticated to the reflected request; its authenticator goes back to C".into());
            let back = Frame::Authenticator {
                request_id: c_id,
                authenticator: c_auth,
            }
            .encode();
            if s.write_all(&back).await.is_ok() && s.flush().await.is_ok() {
                while let Some(f) = next(&mut s, &mut decoder).await {
                    if let Frame::Data(d) = f {
                        if let Ok(mut v) = sink.lock() {
                            v.extend(d);
                        }
                    }
                }
            }
        });
        let victim = self.victim_with(tb, addr, true).await;
        let seen = seen_if_accepted(&victim, &read).await;
        let mut trace = vec![
            Step::new(
                Party::C,
                Party::A,
                "TLS 1.3 handshake (A's own key); HELLO, ClientCertificateRequest(ctx)",
            ),
            Step::new(
                Party::A,
                Party::C,
                "HELLO (attests, requires C's attestation); CertificateRequest(ctx): C's own request reflected",
            ),
        ];
        for n in notes.lock().map(|n| n.clone()).unwrap_or_default() {
            trace.push(Step::note(Party::A, n));
        }
        trace.push(Step::note(Party::C, victim_note(&victim)));
        Ok(AttackRun {
            outcome: verdict(victim, &seen, "A"),
            trace,
        })
    }
}

impl LabMode for Expat {
    fn name(&self) -> String {
        format!("expat{}", self.identity.suffix())
    }

    fn family(&self) -> &'static str {
        "expat"
    }

    fn gating(&self) -> bool {
        self.identity.i2
    }

    fn applicable(&self, attack: AttackId) -> Applicability {
        use AttackId::*;
        match attack {
            RpReplay => Applicability::NotApplicable(
                "the default mode has no static attested certificate (a fresh authenticator per request; the nearest construction is R3)".into(),
            ),
            D1 | R1 | R3 | PhReplayedAuthenticator | R5Tls12 | R5Group | R5KeyShare | R5Sha1 | R5Ffdhe | PhForwardLeaked | PhOldEvidence | PhLeafKey | PhExporterLabel | PhDataFirst | PhTickets => {
                Applicability::Applicable
            }
            R2 | R4 => Applicability::NotApplicable(
                "expat's Evidence is produced only after a completed handshake, on request, bound to that connection's \
                 exporter; a forwarded ClientHello makes T1 produce none (only C could finish that handshake)"
                    .into(),
            ),
            Reflection => Applicability::Applicable,
            StaleReattestation => Applicability::NotApplicable(
                "the -07 8.4 problem is intra-handshake; expat's re-attestation uses a new context and a fresh exporter binder"
                    .into(),
            ),
        }
    }

    fn serve_genuine<'a>(&'a self, tb: &'a Testbed, tee: Tee) -> BoxFuture<'a, Result<Genuine, String>> {
        Box::pin(self.serve(tb, tee, false))
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
                AttackId::R1 => self.relay(tb, caps, false).await,
                AttackId::PhForwardLeaked => self.relay(tb, caps, true).await,
                AttackId::R3 => self.replay(tb, caps, true, false).await,
                AttackId::PhOldEvidence => self.replay(tb, caps, true, true).await,
                AttackId::PhLeafKey => self.replay(tb, caps, false, false).await,
                AttackId::PhExporterLabel => self.other_label(tb).await,
                AttackId::PhReplayedAuthenticator => self.replay_authenticator(tb).await,
                AttackId::PhDataFirst => self.data_first(tb).await,
                AttackId::Reflection => self.reflection(tb).await,
                other => Err(format!("{} is not built in mode expat", other.id())),
            }
        })
    }
}
