//! The default mode: post-handshake Exported Attestation (RFC 9261 +
//! draft-fossati-seat-expat-04) over rustls, through `attested_tls::net`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attested_tls::binder::EXPORTER_LABEL_ATTESTATION_LEGACY;
use attested_tls::ea::AuthenticatorIdentity;
use attested_tls::net::{self, AttestationConfig, NetError};
use attested_tls::transport::frame::{Hello, FLAG_CAN_ATTEST, FLAG_REQUIRES_PEER_ATTESTATION};
use attested_tls::transport::{Frame, FrameDecoder, SessionError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ear_check, variant_name, Applicability, BoxFuture, IdentityConfig, LabMode};
use crate::attacker::{self, copy_recording, recorded_evidence, recording_appraiser, ReplayAttester, READ_WINDOW};
use crate::attacks::{verdict, victim_note, AttackId, AttackRun, Capabilities, VictimResult};
use crate::report::Outcome;
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

/// A's HELLO with `flags`, on the default seat-expat profile (the victim's).
fn a_hello(flags: u8) -> Frame {
    let profile = attested_tls::ea::EaProfile::default();
    Frame::Hello(Hello {
        version: 1,
        flags,
        max_frame: attested_tls::transport::frame::DEFAULT_MAX_FRAME as u32,
        cmw_ext_type: profile.cmw_ext_type,
        exporter_label: profile.exporter_label,
    })
}

/// A's end of the transport on one TLS stream, played by hand: A reads and
/// writes frames itself, to send what the project's session never would.
struct HandPlayed<S> {
    stream: S,
    decoder: FrameDecoder,
}

impl<S: AsyncRead + AsyncWrite + Unpin> HandPlayed<S> {
    fn new(stream: S) -> Self {
        Self {
            stream,
            decoder: FrameDecoder::new(attested_tls::transport::frame::DEFAULT_MAX_FRAME),
        }
    }

    /// The peer's next frame; `None` at its end, on a malformed frame or
    /// after [`STEP_TIMEOUT`] of silence.
    async fn next(&mut self) -> Option<Frame> {
        let mut buf = vec![0u8; 16384];
        loop {
            match self.decoder.next_frame() {
                Ok(Some(f)) => return Some(f),
                Ok(None) => {}
                Err(_) => return None,
            }
            match tokio::time::timeout(STEP_TIMEOUT, self.stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => self.decoder.push(&buf[..n]),
                _ => return None,
            }
        }
    }

    /// The peer's first AUTH_REQUEST (its HELLO skipped): id and request.
    async fn request(&mut self) -> Option<(u32, Vec<u8>)> {
        loop {
            if let Frame::AuthRequest { request_id, request } = self.next().await? {
                return Some((request_id, request));
            }
        }
    }

    /// Writes `frames` in one flight.
    async fn send(&mut self, frames: &[Frame]) -> bool {
        let mut out = Vec::new();
        for f in frames {
            f.encode_into(&mut out);
        }
        self.stream.write_all(&out).await.is_ok() && self.stream.flush().await.is_ok()
    }
}

/// Notes A takes while it runs (they go into the trace).
#[derive(Clone, Default)]
struct Notes(Arc<Mutex<Vec<String>>>);

impl Notes {
    fn add(&self, n: impl Into<String>) {
        if let Ok(mut v) = self.0.lock() {
            v.push(n.into());
        }
    }
    fn take(&self) -> Vec<String> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// The SHA-1 signature schemes of R5: `rsa_pkcs1_sha1`, `ecdsa_sha1`.
const SHA1_SCHEMES: [u16; 2] = [0x0201, 0x0203];

/// The schemes an AuthenticatorRequest offers in `signature_algorithms`
/// (hex), or why they could not be read.
fn offered_schemes(request: &[u8]) -> String {
    use attested_tls::codec::{find_extension, AuthenticatorRequest, Extension, EXT_SIGNATURE_ALGORITHMS};
    let schemes = AuthenticatorRequest::decode(request)
        .map_err(|e| e.to_string())
        .and_then(|r| match find_extension(&r.extensions, EXT_SIGNATURE_ALGORITHMS) {
            Some(e) => Extension::parse_signature_algorithms(&e.data).map_err(|e| e.to_string()),
            None => Ok(Vec::new()),
        });
    match schemes {
        Ok(s) => {
            let sha1 = s.iter().any(|x| SHA1_SCHEMES.contains(x));
            format!(
                "[{}] ({})",
                s.iter().map(|x| format!("{x:#06x}")).collect::<Vec<_>>().join(", "),
                if sha1 { "SHA-1 offered" } else { "no SHA-1 scheme" }
            )
        }
        Err(e) => format!("not read: {e}"),
    }
}

/// A's RFC 9261 authenticator for `request` (sent by the TLS server
/// `Role::Server`), built by hand from the crate's sans-IO pieces: A's
/// certificate with `cmw` in its `cmw_attestation` extension, a
/// CertificateVerify with `ecdsa_sha1` (0x0203): a real ECDSA P-256
/// signature over SHA-1 of the RFC 9261 signed content, made with A's key
/// through OpenSSL (rustls and the crate sign no SHA-1), and a correct
/// Finished. Returns it and A's own check that the SHA-1 signature
/// verifies under A's key (so a refusal is not a bad signature).
fn ecdsa_sha1_authenticator(
    exporter: &dyn attested_tls::exporter::Exporter,
    request: &[u8],
    a_key: &KeyMaterial,
    cmw: &[u8],
) -> Result<(Vec<u8>, bool), String> {
    use attested_tls::codec::{
        AuthenticatorRequest, CertificateEntry, CertificateMsg, CertificateVerify, Extension, Finished,
    };
    use attested_tls::ea::{certificate_verify_content, keys, Role};
    use openssl::hash::MessageDigest;
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let req = AuthenticatorRequest::decode(request).map_err(|x| e(&x))?;
    let hash = exporter.hash().map_err(|x| e(&x))?;
    let (hc, fk) = keys(exporter, Role::Server).map_err(|x| e(&x))?;
    let profile = attested_tls::ea::EaProfile::default();
    let leaf = a_key.chain.first().ok_or("A has no certificate")?;
    let certificate = CertificateMsg {
        context: req.context,
        entries: vec![CertificateEntry {
            cert_der: leaf.to_vec(),
            extensions: vec![Extension::cmw_attestation(profile.cmw_ext_type, cmw)
                .map_err(|n| format!("a {n}-byte CMW does not fit the extension"))?],
        }],
    }
    .encode();
    let content = certificate_verify_content(hash, &hc, request, &certificate);
    let key = openssl::pkey::PKey::private_key_from_pkcs8(&a_key.key_pkcs8).map_err(|x| e(&x))?;
    let signature = openssl::sign::Signer::new(MessageDigest::sha1(), &key)
        .and_then(|mut s| s.sign_oneshot_to_vec(&content))
        .map_err(|x| e(&x))?;
    let verifies = openssl::sign::Verifier::new(MessageDigest::sha1(), &key)
        .and_then(|mut v| v.verify_oneshot(&signature, &content))
        .map_err(|x| e(&x))?;
    let cv = CertificateVerify {
        scheme: 0x0203,
        signature,
    }
    .encode();
    let fin = hash.hmac(&fk, &hash.digest_parts(&[&hc, request, &certificate, &cv]));
    let mut out = certificate;
    out.extend(cv);
    out.extend(Finished { verify_data: fin }.encode());
    Ok((out, verifies))
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

/// T1's Evidence as A obtains it with `net` alone: A is the TLS client of
/// its own attested connection to T1 and reads T1's authenticator,
/// Evidence included (bound to that A-T1 connection).
async fn evidence_over_own_connection(t1: SocketAddr) -> Result<attested_tls::cmw::Cmw, String> {
    let (appraiser, recorded) = recording_appraiser();
    let tcp = TcpStream::connect(t1).await.map_err(|e| e.to_string())?;
    let tls = net::tls::client_config().map_err(|e| e.to_string())?;
    let own = net::connect(&tls, SERVICE_NAME, tcp, &AttestationConfig::verifier(appraiser)).await;
    drop(own);
    recorded_evidence(&recorded)
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
        let evidence = evidence_over_own_connection(t1.addr).await?;
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
            let mut out = a_hello(FLAG_CAN_ATTEST).encode();
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
        let a_tls = KeyMaterial::self_signed("attacker.example")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_server(&a_tls)?);
        let (listener, addr) = attacker::listen().await?;
        let read = Arc::new(Mutex::new(Vec::new()));
        let sink = read.clone();
        let notes = Notes::default();
        let note = notes.clone();
        tokio::spawn(async move {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let Ok(s) = acceptor.accept(tcp).await else { return };
            let mut c = HandPlayed::new(s);
            // C's first flight: HELLO, then its request.
            let Some((c_id, c_request)) = c.request().await else {
                return note.add("C sent no request");
            };
            let mut reflected = c_request.clone();
            // ClientCertificateRequest (17) -> CertificateRequest (13): the
            // same body, context included.
            reflected[0] = 13;
            let flight = [
                a_hello(FLAG_CAN_ATTEST | FLAG_REQUIRES_PEER_ATTESTATION),
                Frame::AuthRequest {
                    request_id: 7,
                    request: reflected,
                },
            ];
            if !c.send(&flight).await {
                return;
            }
            let c_auth = loop {
                match c.next().await {
                    Some(Frame::Authenticator { authenticator, .. }) => break authenticator,
                    Some(Frame::Error { code, reason }) => {
                        return note.add(format!("C answered the reflected request with ERROR {code}: {reason}"))
                    }
                    Some(_) => continue,
                    None => return note.add("C did not answer the reflected request"),
                }
            };
            note.add("C authenticated to the reflected request; its authenticator goes back to C");
            let back = Frame::Authenticator {
                request_id: c_id,
                authenticator: c_auth,
            };
            if c.send(&[back]).await {
                while let Some(f) = c.next().await {
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
        for n in notes.take() {
            trace.push(Step::note(Party::A, n));
        }
        trace.push(Step::note(Party::C, victim_note(&victim)));
        Ok(AttackRun {
            outcome: verdict(victim, &seen, "A"),
            trace,
        })
    }
}

impl Expat {
    /// R5-sha1 at the RFC 9261 layer (server attests): C dials A's own
    /// rustls TLS server (A's own key; through A's record-watching relay,
    /// so A also reads what C's ClientHello offers at the TLS layer). A
    /// plays the transport by hand: it reads C's HELLO and
    /// ClientCertificateRequest and answers with HELLO (can attest) and an
    /// authenticator whose CertificateVerify is `ecdsa_sha1` (0x0203),
    /// carrying T1's Evidence that A obtained over its own connection
    /// (`net` only). It then reads C's OUTCOME or ERROR, and any DATA.
    async fn sha1_authenticator(&self, tb: &Testbed) -> Result<AttackRun, String> {
        let t1 = self.serve(tb, Tee::T1, false).await?;
        let cmw = evidence_over_own_connection(t1.addr).await?.to_cbor();
        let a_tls = KeyMaterial::self_signed("attacker.example")?;
        let a_auth = KeyMaterial::self_signed("attacker.example")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_server(&a_tls)?);
        let (listener, a_addr) = attacker::listen().await?;
        let (addr, watch) = attacker::record_watching_relay(a_addr).await?;
        let read = Arc::new(Mutex::new(Vec::new()));
        let sink = read.clone();
        let notes = Notes::default();
        let note = notes.clone();
        // Set when A could not build or send its answer: then C's error is
        // no refusal of the attack.
        let a_failed = Arc::new(Mutex::new(None::<String>));
        let failed = a_failed.clone();
        let fail = move |why: String| {
            if let Ok(mut f) = failed.lock() {
                *f = Some(why);
            }
        };
        tokio::spawn(async move {
            let Ok((tcp, _)) = listener.accept().await else {
                return fail("C's TLS connection never reached A's server".into());
            };
            let Ok(s) = acceptor.accept(tcp).await else {
                return fail("A's TLS handshake with C failed".into());
            };
            let mut c = HandPlayed::new(s);
            let Some((id, request)) = c.request().await else {
                return fail("C sent no ClientCertificateRequest".into());
            };
            note.add(format!(
                "C's ClientCertificateRequest offers {} (observed)",
                offered_schemes(&request)
            ));
            let built = ecdsa_sha1_authenticator(c.stream.get_ref().1, &request, &a_auth, &cmw);
            let (authenticator, verifies) = match built {
                Ok(b) => b,
                Err(e) => return fail(format!("A could not build its authenticator: {e}")),
            };
            note.add(format!(
                "A's ecdsa_sha1 signature {} under A's key with SHA-1 (A's own check)",
                if verifies { "verifies" } else { "does NOT verify" }
            ));
            let flight = [
                a_hello(FLAG_CAN_ATTEST),
                Frame::Authenticator {
                    request_id: id,
                    authenticator,
                },
            ];
            if !c.send(&flight).await {
                return fail("A could not write its answer to C".into());
            }
            while let Some(f) = c.next().await {
                match f {
                    Frame::Outcome { status, reason, .. } => {
                        note.add(format!("C's OUTCOME: {status:?}, reason \"{reason}\""))
                    }
                    Frame::Error { code, reason } => note.add(format!("C's ERROR {code}: \"{reason}\"")),
                    Frame::Data(d) => {
                        if let Ok(mut v) = sink.lock() {
                            v.extend(d);
                        }
                    }
                    _ => {}
                }
            }
        });
        let victim = self.victim_at(tb, addr).await;
        let seen = seen_if_accepted(&victim, &read).await;
        // C's OUTCOME reaches A just after C's connect returned.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(why) = a_failed.lock().ok().and_then(|f| f.clone()) {
            return Err(format!("{why}; C saw: {}", victim_note(&victim)));
        }
        let mut trace = vec![
            Step::new(Party::A, Party::T1, "A's own attested connection (A's client)"),
            Step::new(Party::T1, Party::A, "T1's authenticator with Evidence (bound to A-T1)"),
            Step::new(Party::C, Party::A, "TLS 1.3 handshake (A's own key)"),
            Step::note(Party::A, crate::attacks::c_sha1_offer(&watch)),
            Step::new(Party::C, Party::A, "HELLO, ClientCertificateRequest (C's context)"),
        ];
        let mut later = Vec::new();
        for n in notes.take() {
            if n.starts_with("C's ClientCertificateRequest") || n.starts_with("A's ecdsa_sha1") {
                trace.push(Step::note(Party::A, n));
            } else {
                later.push(Step::note(Party::A, n));
            }
        }
        trace.push(Step::new(
            Party::A,
            Party::C,
            "HELLO (can attest); authenticator: A's certificate + T1's Evidence, CertificateVerify ecdsa_sha1 \
             (0x0203), Finished",
        ));
        trace.push(Step::note(Party::C, victim_note(&victim)));
        trace.extend(later);
        Ok(AttackRun {
            outcome: verdict(victim, &seen, "A"),
            trace,
        })
    }

    /// R5-sha1-req (client attests, mutual): the mutual-attestation victim
    /// (a TLS client that attests and requires the server's attestation)
    /// dials A's own TLS server. A plays the transport by hand: HELLO
    /// (attests, requires C's attestation) and a CertificateRequest built
    /// with the crate's `EaProfile::request`, whose `signature_algorithms`
    /// offers only `rsa_pkcs1_sha1` and `ecdsa_sha1`. A records C's
    /// answer: an ERROR (its code and reason are the refusing check, next
    /// to C's own error) or an authenticator (its scheme is reported; that
    /// is no refusal).
    async fn sha1_request(&self, tb: &Testbed) -> Result<AttackRun, String> {
        use attested_tls::codec::{AuthenticatorParts, CertificateVerify};
        use attested_tls::ea::{EaProfile, Role, CONTEXT_LEN};
        let a_tls = KeyMaterial::self_signed("attacker.example")?;
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_server(&a_tls)?);
        let (listener, addr) = attacker::listen().await?;
        let profile = EaProfile {
            signature_schemes: SHA1_SCHEMES.to_vec(),
            ..EaProfile::default()
        };
        let request = profile
            .request(Role::Client, attested_tls::crypto::random_bytes(CONTEXT_LEN))
            .encode();
        let offered = offered_schemes(&request);
        /// What C answered A's request with.
        enum Answer {
            Error(u16, String),
            Authenticator(Result<u16, String>),
        }
        let answer = Arc::new(Mutex::new(None::<Answer>));
        let answered = answer.clone();
        let notes = Notes::default();
        let note = notes.clone();
        tokio::spawn(async move {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let Ok(s) = acceptor.accept(tcp).await else { return };
            let mut c = HandPlayed::new(s);
            if c.request().await.is_none() {
                return note.add("C sent no request of its own");
            }
            let flight = [
                a_hello(FLAG_CAN_ATTEST | FLAG_REQUIRES_PEER_ATTESTATION),
                Frame::AuthRequest { request_id: 0, request },
            ];
            if !c.send(&flight).await {
                return note.add("A could not write its request to C");
            }
            while let Some(f) = c.next().await {
                let a = match f {
                    Frame::Error { code, reason } => Answer::Error(code, reason),
                    Frame::Authenticator { authenticator, .. } => Answer::Authenticator(
                        match AuthenticatorParts::decode(&authenticator).map_err(|e| e.to_string()) {
                            Ok(AuthenticatorParts::Full {
                                certificate_verify_msg: CertificateVerify { scheme, .. },
                                ..
                            }) => Ok(scheme),
                            Ok(AuthenticatorParts::Empty { .. }) => Err("the empty authenticator".into()),
                            Err(e) => Err(e),
                        },
                    ),
                    _ => continue,
                };
                if let Ok(mut v) = answered.lock() {
                    *v = Some(a);
                }
                break;
            }
        });
        let victim = self.victim_with(tb, addr, true).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let answer = answer.lock().map_err(|_| "poisoned".to_string())?.take();
        let mut trace = vec![
            Step::new(
                Party::C,
                Party::A,
                "TLS 1.3 handshake (A's own key); HELLO (C attests), ClientCertificateRequest",
            ),
            Step::new(
                Party::A,
                Party::C,
                format!("HELLO (requires C's attestation); CertificateRequest offering {offered}"),
            ),
        ];
        for n in notes.take() {
            trace.push(Step::note(Party::A, n));
        }
        let outcome = match (&answer, &victim) {
            (Some(Answer::Authenticator(scheme)), _) => {
                let what = match scheme {
                    Ok(s) => format!("an authenticator signed with scheme {s:#06x}"),
                    Err(e) => format!("an authenticator A could not read ({e})"),
                };
                trace.push(Step::new(Party::C, Party::A, what.clone()));
                Outcome::AcceptedNotRead {
                    detail: format!("C answered A's SHA-1-only request ({offered}) with {what}"),
                }
            }
            (Some(Answer::Error(code, reason)), VictimResult::Refused { check, detail }) => {
                trace.push(Step::new(Party::C, Party::A, format!("ERROR {code}: \"{reason}\"")));
                Outcome::Refused {
                    check: format!("{check}, ERROR {code} to A: \"{reason}\""),
                    detail: detail.clone(),
                }
            }
            (Some(Answer::Error(code, reason)), VictimResult::Accepted) => {
                return Err(format!("C sent ERROR {code} (\"{reason}\") yet reported attested OK"))
            }
            (None, _) => verdict(victim.clone(), &[], "A"),
        };
        trace.push(Step::note(Party::C, victim_note(&victim)));
        Ok(AttackRun { outcome, trace })
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
            D1 | R1 | R3 | PhReplayedAuthenticator | R5Tls12 | R5Group | R5KeyShare | R5Sha1 | R5Sha1Request | R5Ffdhe | PhForwardLeaked | PhOldEvidence | PhLeafKey | PhExporterLabel | PhDataFirst | PhTickets => {
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
                AttackId::R5Sha1 => self.sha1_authenticator(tb).await,
                AttackId::R5Sha1Request => self.sha1_request(tb).await,
                other => Err(format!("{} is not built in mode expat", other.id())),
            }
        })
    }
}
