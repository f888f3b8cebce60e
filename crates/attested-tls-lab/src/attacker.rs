//! The attacker's tools. Everything here runs with the attacker's own
//! keys unless an attack passes it keys leaked under a capability.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use attested_tls::attester::{AttestError, Attester};
use attested_tls::binder::BindingClaims;
use attested_tls::cmw::{Cmw, CmwLabel, CmwRecord};
use attested_tls::ear::Appraisal;
use attested_tls::modes::early::{EarlyAttester, EarlyBinding};
use attested_tls::modes::profiles::{ProfileAttester, ProfileBinding};
use attested_tls::verifier::{AppraisalContext, Verifier};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::attacks::Capabilities;
use crate::testbed::{drain_into, Genuine, KeyMaterial};

/// How long the attacker's servers read a victim's data.
pub const READ_WINDOW: Duration = Duration::from_secs(8);

/// Binds a loopback listener.
pub async fn listen() -> Result<(TcpListener, SocketAddr), String> {
    let l = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let a = l.local_addr().map_err(|e| e.to_string())?;
    Ok((l, a))
}

/// Serves every connection to the returned loopback address with
/// `accept` (a TLS or attested accept); the application bytes of every
/// stream it returns are collected in the returned buffer.
pub async fn serve_and_collect<F, Fut, S>(accept: F) -> Result<(SocketAddr, Arc<Mutex<Vec<u8>>>), String>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<S>> + Send + 'static,
    S: AsyncRead + Unpin + Send + 'static,
{
    let (listener, addr) = listen().await?;
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let accepted = accept(tcp);
            let sink = sink.clone();
            tokio::spawn(async move {
                if let Some(stream) = accepted.await {
                    drain_into(stream, sink, READ_WINDOW).await;
                }
            });
        }
    });
    Ok((addr, received))
}

/// A TCP redirector: every connection to the returned address is spliced
/// to `target` (net).
pub async fn redirect(target: SocketAddr, caps: Capabilities) -> Result<SocketAddr, String> {
    if !caps.net {
        return Err("redirecting needs the net capability".into());
    }
    let (listener, addr) = listen().await?;
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Ok(addr)
}

/// A TLS 1.2-only OpenSSL server with the attacker's own key; whatever a
/// client sends after the handshake is collected.
pub async fn tls12_server() -> Result<Genuine, String> {
    Ok(openssl_server(openssl::ssl::SslVersion::TLS1_2, None, None).await?.0)
}

/// A TLS 1.3-only OpenSSL server with the attacker's own (P-256) key that
/// may sign its CertificateVerify only with a SHA-1 scheme
/// (`ecdsa_sha1`, `rsa_pkcs1_sha1`; security level 0 so OpenSSL does not
/// drop them before the handshake): R5's SHA-1 downgrade. The second
/// value collects A's own handshake errors: whether A's stack did the
/// misbehaviour at all.
pub async fn sha1_only_server() -> Result<(Genuine, Arc<Mutex<Vec<String>>>), String> {
    openssl_server(openssl::ssl::SslVersion::TLS1_3, Some("ECDSA+SHA1:RSA+SHA1"), None).await
}

/// A TLS 1.3-only OpenSSL server with the attacker's own key whose only
/// group is `ffdhe2048`: a victim that offers it is asked for it by a
/// legitimate HelloRetryRequest (R5's weak group, negotiated). The second
/// value collects A's own handshake errors; a completed handshake is
/// noted there as `handshake completed`.
pub async fn ffdhe2048_only_server() -> Result<(Genuine, Arc<Mutex<Vec<String>>>), String> {
    openssl_server(openssl::ssl::SslVersion::TLS1_3, None, Some("ffdhe2048")).await
}

/// An OpenSSL server pinned to `version`, optionally restricted to the
/// signature schemes `sigalgs` (OpenSSL's list syntax), with the attacker's
/// own key; whatever a client sends after the handshake is collected, and
/// every handshake error (or `handshake completed`) of A's server.
async fn openssl_server(
    version: openssl::ssl::SslVersion,
    sigalgs: Option<&str>,
    groups: Option<&str>,
) -> Result<(Genuine, Arc<Mutex<Vec<String>>>), String> {
    use openssl::ssl::{SslAcceptor, SslMethod};
    let own = KeyMaterial::self_signed("attacker.example")?;
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).map_err(|e| e.to_string())?;
    b.set_min_proto_version(Some(version)).map_err(|e| e.to_string())?;
    b.set_max_proto_version(Some(version)).map_err(|e| e.to_string())?;
    if let Some(list) = sigalgs {
        b.set_security_level(0);
        b.set_sigalgs_list(list).map_err(|e| e.to_string())?;
    }
    if let Some(list) = groups {
        b.set_groups_list(list).map_err(|e| e.to_string())?;
    }
    let cert = openssl::x509::X509::from_der(&own.chain[0]).map_err(|e| e.to_string())?;
    let key = openssl::pkey::PKey::private_key_from_der(&own.key_pkcs8).map_err(|e| e.to_string())?;
    b.set_certificate(&cert).map_err(|e| e.to_string())?;
    b.set_private_key(&key).map_err(|e| e.to_string())?;
    let acceptor = b.build();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = errors.clone();
    let (addr, received) = serve_and_collect(move |tcp| {
        let ssl = openssl::ssl::Ssl::new(acceptor.context());
        let sink = sink.clone();
        async move {
            let mut s = tokio_openssl::SslStream::new(ssl.ok()?, tcp).ok()?;
            if let Err(e) = Pin::new(&mut s).accept().await {
                if let Ok(mut v) = sink.lock() {
                    v.push(e.to_string());
                }
                return None;
            }
            if let Ok(mut v) = sink.lock() {
                v.push("handshake completed".into());
            }
            Some(s)
        }
    })
    .await?;
    let genuine = Genuine {
        addr,
        received,
        observed: Arc::default(),
        tls: own,
        attested_key: None,
    };
    Ok((genuine, errors))
}

/// The misbehaving first server flight A writes by hand (R5): no TLS stack
/// would send it, and the victim only has to parse it and refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadServerHello {
    /// A HelloRetryRequest whose `key_share` selects a group that is not in
    /// C's `supported_groups` (RFC 8446 4.1.4: C must abort with
    /// `illegal_parameter`).
    UnofferedGroup,
    /// A ServerHello on the group of C's own key share whose
    /// `key_exchange` is an invalid point: all zeros (for X25519 a
    /// low-order point giving an all-zero shared secret; for the NIST
    /// curves `04 00..00`, not on the curve).
    InvalidKeyShare,
}

/// The `random` of a HelloRetryRequest (RFC 8446 4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91, 0xC2, 0xA2, 0x11,
    0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// Groups A may name in its HelloRetryRequest, weakest first: the first
/// one C did not offer is chosen (`ffdhe2048` is the weak group of the
/// recipe; the others are there for victims that offer it).
const RETRY_GROUP_CANDIDATES: &[(u16, &str)] = &[
    (0x0100, "ffdhe2048"),
    (0x0019, "secp521r1"),
    (0x001e, "x448"),
    (0x0018, "secp384r1"),
    (0x0017, "secp256r1"),
    (0x0016, "secp256k1"),
];

/// The name of a TLS group code point, for traces.
fn group_name(code: u16) -> String {
    match code {
        0x0017 => "secp256r1".into(),
        0x0018 => "secp384r1".into(),
        0x0019 => "secp521r1".into(),
        0x001d => "x25519".into(),
        0x001e => "x448".into(),
        0x0100..=0x0104 => format!("ffdhe{}", [2048, 3072, 4096, 6144, 8192][(code - 0x0100) as usize]),
        0x11ec => "X25519MLKEM768".into(),
        other => format!("0x{other:04x}"),
    }
}

/// `supported_groups` (10) of a ClientHello.
pub fn offered_groups(view: &ClientHelloView) -> Result<Vec<u16>, String> {
    let Some((_, data)) = view.extensions.iter().find(|(t, _)| *t == 10) else {
        return Ok(Vec::new());
    };
    let mut list = Reader(Reader(data).vec16()?);
    let mut groups = Vec::new();
    while !list.0.is_empty() {
        groups.push(list.u16()? as u16);
    }
    Ok(groups)
}

/// `key_share` (51) of a ClientHello: group and key_exchange length.
fn offered_key_shares(view: &ClientHelloView) -> Result<Vec<(u16, usize)>, String> {
    let Some((_, data)) = view.extensions.iter().find(|(t, _)| *t == 51) else {
        return Ok(Vec::new());
    };
    let mut list = Reader(Reader(data).vec16()?);
    let mut shares = Vec::new();
    while !list.0.is_empty() {
        let group = list.u16()? as u16;
        shares.push((group, list.vec16()?.len()));
    }
    Ok(shares)
}

/// `signature_algorithms` (13) of a ClientHello.
pub fn offered_signature_schemes(view: &ClientHelloView) -> Result<Vec<u16>, String> {
    let Some((_, data)) = view.extensions.iter().find(|(t, _)| *t == 13) else {
        return Ok(Vec::new());
    };
    let mut list = Reader(Reader(data).vec16()?);
    let mut schemes = Vec::new();
    while !list.0.is_empty() {
        schemes.push(list.u16()? as u16);
    }
    Ok(schemes)
}

/// A TLS 1.3 ServerHello (or HelloRetryRequest) record for `view` with
/// TLS_AES_128_GCM_SHA256, `supported_versions` = TLS 1.3 and the given
/// `key_share` extension body.
fn server_hello_record(view: &ClientHelloView, random: [u8; 32], key_share: &[u8]) -> Vec<u8> {
    let mut ext = Vec::new();
    ext.extend([0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
    ext.extend([0x00, 0x33]);
    ext.extend((key_share.len() as u16).to_be_bytes());
    ext.extend(key_share);
    let mut body = vec![0x03, 0x03];
    body.extend(random);
    body.push(view.session_id.len() as u8);
    body.extend(&view.session_id);
    body.extend([0x13, 0x01, 0x00]);
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut hs = vec![0x02];
    hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut record = vec![0x16, 0x03, 0x03];
    record.extend((hs.len() as u16).to_be_bytes());
    record.extend(hs);
    record
}

/// A's hand-written answer to `view` and what it did (for the trace).
fn bad_server_hello(view: &ClientHelloView, kind: BadServerHello) -> Result<(Vec<u8>, String), String> {
    let groups = offered_groups(view)?;
    let offered = groups.iter().map(|g| group_name(*g)).collect::<Vec<_>>().join(", ");
    match kind {
        BadServerHello::UnofferedGroup => {
            let (code, name) = RETRY_GROUP_CANDIDATES
                .iter()
                .find(|(g, _)| !groups.contains(g))
                .ok_or("C offered every candidate group")?;
            let ffdhe = if groups.contains(&0x0100) {
                "C offered ffdhe2048"
            } else {
                "C did not offer ffdhe2048"
            };
            Ok((
                server_hello_record(view, HRR_RANDOM, &code.to_be_bytes()),
                format!("HelloRetryRequest selecting {name} (C offered: {offered}; {ffdhe})"),
            ))
        }
        BadServerHello::InvalidKeyShare => {
            let shares = offered_key_shares(view)?;
            // Prefer X25519 (the all-zero low-order point); else C's first
            // share, answered with a same-length all-zero value.
            let (group, len) = shares
                .iter()
                .find(|(g, _)| *g == 0x001d)
                .or(shares.first())
                .copied()
                .ok_or("C sent no key share")?;
            let mut point = vec![0u8; len];
            if matches!(group, 0x0017..=0x0019) {
                point[0] = 0x04;
            }
            let mut ks = group.to_be_bytes().to_vec();
            ks.extend((point.len() as u16).to_be_bytes());
            ks.extend(&point);
            Ok((
                server_hello_record(view, [0x5a; 32], &ks),
                format!(
                    "ServerHello with key_share {} of {len} bytes, all zero{}",
                    group_name(group),
                    if matches!(group, 0x0017..=0x0019) {
                        " after 04 (not a curve point)"
                    } else {
                        " (low-order point)"
                    }
                ),
            ))
        }
    }
}

/// What C answered to a hand-written flight: its alert, decoded.
fn describe_reply(reply: &[u8]) -> String {
    match reply {
        [] => "C closed the connection without an alert".into(),
        [21, _, _, _, _, level, desc, ..] => {
            let name = match desc {
                40 => " (handshake_failure)",
                47 => " (illegal_parameter)",
                50 => " (decode_error)",
                70 => " (protocol_version)",
                80 => " (internal_error)",
                _ => "",
            };
            format!("C sent alert level {level}, description {desc}{name}")
        }
        [typ, ..] => format!("C sent a record of content type {typ} ({} bytes)", reply.len()),
    }
}

/// A server that answers one ClientHello with the hand-written flight
/// `kind` and records C's reply (an alert) as notes. It never completes a
/// handshake, so it never reads C's data: a victim that accepted would
/// show as "accepted, not read", never as a refusal.
pub async fn bad_server_hello_server(kind: BadServerHello) -> Result<HandWritten, String> {
    let (listener, addr) = listen().await?;
    let notes = Arc::new(Mutex::new(Vec::new()));
    let out = notes.clone();
    tokio::spawn(async move {
        let note = |n: String| {
            if let Ok(mut v) = out.lock() {
                v.push(n);
            }
        };
        let Ok((mut tcp, _)) = listener.accept().await else {
            return;
        };
        let view = match read_record(&mut tcp)
            .await
            .and_then(|r| ClientHelloView::parse_record(&r))
        {
            Ok(v) => v,
            Err(e) => return note(format!("A could not read C's ClientHello: {e}")),
        };
        if let Ok(schemes) = offered_signature_schemes(&view) {
            let sha1 = schemes.iter().any(|s| matches!(s, 0x0201 | 0x0203));
            note(format!(
                "C offered SHA-1 signature schemes: {}",
                if sha1 { "yes" } else { "no" }
            ));
        }
        let (flight, what) = match bad_server_hello(&view, kind) {
            Ok(f) => f,
            Err(e) => return note(format!("A could not build its flight: {e}")),
        };
        note(format!("A -> C: {what}"));
        if tcp.write_all(&flight).await.is_err() {
            return note("C closed before A's flight".into());
        }
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let mut buf = [0u8; 512];
            while reply.len() < 7 {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => reply.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        note(describe_reply(&reply));
    });
    Ok(HandWritten { addr, notes })
}

/// A hand-written attacker server: where it listens and what it saw.
pub struct HandWritten {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it sent and what C answered, in order.
    pub notes: Arc<Mutex<Vec<String>>>,
}

/// Reads one TLS record (the ClientHello's) from `tcp`.
pub async fn read_record(tcp: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut header = [0u8; 5];
    tcp.read_exact(&mut header).await.map_err(|e| e.to_string())?;
    if header[0] != 22 {
        return Err(format!("expected a handshake record, got content type {}", header[0]));
    }
    let len = u16::from_be_bytes([header[3], header[4]]) as usize;
    if len > 16384 + 256 {
        return Err(format!("record of {len} bytes"));
    }
    let mut body = vec![0u8; len];
    tcp.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    let mut record = header.to_vec();
    record.extend(body);
    Ok(record)
}

/// R2's forwarding: sends `client_hello` (one record) byte for byte to
/// the genuine server at `t1` and reads (without decrypting) its flight
/// until the server's observe hook (`observed`) holds more than `before`
/// Evidence, for up to 3 s; returns the newest Evidence, or `None`. The
/// connection to `t1` is then dropped (the attacker abandons it).
pub async fn forward_and_observe(
    client_hello: &[u8],
    t1: SocketAddr,
    observed: &Arc<Mutex<Vec<Cmw>>>,
    before: usize,
) -> Result<Option<Cmw>, String> {
    let mut t1_tcp = TcpStream::connect(t1).await.map_err(|e| e.to_string())?;
    t1_tcp.write_all(client_hello).await.map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let now = observed.lock().map(|o| o.clone()).unwrap_or_default();
        if now.len() > before {
            return Ok(now.last().cloned());
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), t1_tcp.read(&mut buf)).await;
    }
}

/// A stream that yields `prefix` before reading from `inner`: the
/// attacker's own TLS server processes the ClientHello it already read
/// (and forwarded).
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// `prefix` first, then `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self { prefix, pos: 0, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Copies `from` to `to`, keeping a copy of every byte in `seen`.
pub async fn copy_recording<R, W>(mut from: R, mut to: W, seen: Arc<Mutex<Vec<u8>>>)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut s) = seen.lock() {
                    s.extend_from_slice(&buf[..n]);
                }
                if to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// An attester that presents Evidence the attacker obtained elsewhere
/// (it has no access to any attestation key), optionally with a record
/// carrying the freshly computed binder next to it.
pub struct ReplayAttester {
    /// The Evidence presented.
    pub evidence: Cmw,
    /// Add a CMW record with the fresh binder next to the old Evidence.
    pub fresh_binder_beside: bool,
}

impl ReplayAttester {
    fn present(&self, binder: &[u8]) -> Cmw {
        if !self.fresh_binder_beside {
            return self.evidence.clone();
        }
        Cmw::Collection {
            ctype: None,
            members: [
                (CmwLabel::Text("evidence".into()), self.evidence.clone()),
                (
                    CmwLabel::Text("binder".into()),
                    Cmw::Record(CmwRecord::evidence("application/vnd.example.binder", binder.to_vec())),
                ),
            ]
            .into(),
        }
    }
}

impl Attester for ReplayAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        Ok(self.present(&binding.binder))
    }
    fn may_block(&self) -> bool {
        false
    }
}

impl EarlyAttester for ReplayAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError> {
        Ok(self.present(&binding.direct_claims().binder))
    }
}

impl ProfileAttester for ReplayAttester {
    fn platform(&self) -> &str {
        "sim"
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_profile(&self, binding: &ProfileBinding) -> Result<Cmw, AttestError> {
        Ok(self.present(&binding.sim_claims().binder))
    }
}

/// The verifier of the attacker's own client: it records every Evidence
/// record a server presents to it (the attacker is the TLS endpoint of its
/// own connections, so it reads them legitimately) and appraises nothing.
pub struct RecordingVerifier {
    /// The records seen.
    pub seen: Arc<Mutex<Vec<CmwRecord>>>,
}

impl Verifier for RecordingVerifier {
    fn platform(&self) -> &'static str {
        "sim"
    }
    fn accepts_media_type(&self, _media_type: &str) -> bool {
        true
    }
    fn appraise(&self, media_type: &str, evidence: &[u8], ctx: &AppraisalContext<'_>) -> Appraisal {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(CmwRecord::evidence(media_type, evidence.to_vec()));
        }
        // Accept, so that the attacker's own handshake completes: the
        // attacker does not care what it runs.
        let mut a = Appraisal::new(ctx.policy_id);
        a.claim("recorded_by", "lab attacker");
        a.finish()
    }
}

/// The recording appraiser of the attacker's own clients.
pub fn recording_appraiser() -> (attested_tls::verifier::Appraiser, Arc<Mutex<Vec<CmwRecord>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let a = attested_tls::verifier::Appraiser::new("attacker")
        .with_verifier(Arc::new(RecordingVerifier { seen: seen.clone() }));
    (a, seen)
}

/// The one Evidence record the attacker recorded, as a CMW.
pub fn recorded_evidence(seen: &Arc<Mutex<Vec<CmwRecord>>>) -> Result<Cmw, String> {
    let seen = seen.lock().map_err(|_| "poisoned".to_string())?;
    seen.last()
        .cloned()
        .map(Cmw::Record)
        .ok_or_else(|| "the attacker's own connection to T1 yielded no Evidence".into())
}

/// The fields of a ClientHello the attacker reads (to copy a nonce carried
/// in SNI, ALPN, the random or an extension into its own handshake).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHelloView {
    /// `random`.
    pub random: [u8; 32],
    /// `legacy_session_id`.
    pub session_id: Vec<u8>,
    /// The host name of `server_name` (0), if any.
    pub server_name: Option<String>,
    /// The protocols of `application_layer_protocol_negotiation` (16).
    pub alpn: Vec<Vec<u8>>,
    /// Every extension, in order: type and data.
    pub extensions: Vec<(u16, Vec<u8>)>,
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!(
                "ClientHello truncated: needed {n} bytes, {} left",
                self.0.len()
            ));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<usize, String> {
        Ok(self.take(1)?[0] as usize)
    }
    fn u16(&mut self) -> Result<usize, String> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]) as usize)
    }
    fn vec8(&mut self) -> Result<&'a [u8], String> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8], String> {
        let n = self.u16()?;
        self.take(n)
    }
}

impl ClientHelloView {
    /// Parses the ClientHello in one TLS record (as [`read_record`]
    /// returns it: header included).
    pub fn parse_record(record: &[u8]) -> Result<Self, String> {
        let mut r = Reader(record);
        if r.u8()? != 22 {
            return Err("not a handshake record".into());
        }
        r.take(2)?;
        let mut body = Reader(r.vec16()?);
        if body.u8()? != 1 {
            return Err("not a ClientHello".into());
        }
        let len = body.take(3)?;
        let len = (len[0] as usize) << 16 | (len[1] as usize) << 8 | len[2] as usize;
        let mut ch = Reader(body.take(len)?);
        ch.take(2)?; // legacy_version
        let mut view = Self::default();
        view.random.copy_from_slice(ch.take(32)?);
        view.session_id = ch.vec8()?.to_vec();
        ch.vec16()?; // cipher_suites
        ch.vec8()?; // legacy_compression_methods
        let mut exts = Reader(ch.vec16()?);
        while !exts.0.is_empty() {
            let typ = exts.u16()? as u16;
            let data = exts.vec16()?;
            match typ {
                0 => {
                    let mut list = Reader(Reader(data).vec16()?);
                    while !list.0.is_empty() {
                        let kind = list.u8()?;
                        let name = list.vec16()?;
                        if kind == 0 && view.server_name.is_none() {
                            view.server_name = Some(String::from_utf8_lossy(name).into_owned());
                        }
                    }
                }
                16 => {
                    let mut list = Reader(Reader(data).vec16()?);
                    while !list.0.is_empty() {
                        view.alpn.push(list.vec8()?.to_vec());
                    }
                }
                _ => {}
            }
            view.extensions.push((typ, data.to_vec()));
        }
        Ok(view)
    }
}

/// The attacker's own crypto provider for rustls clients whose ClientHello
/// carries `random` (copied from the victim's ClientHello: the B1 relay).
/// rustls draws the client random, and the legacy session id, from the
/// provider's `SecureRandom` in 32-byte fills; every 32-byte fill returns
/// `random`, every other fill comes from aws-lc-rs. Key shares are drawn
/// by aws-lc-rs itself and stay random. rustls wants a `'static` random
/// source, so each call leaks one small value: a lab tool, not for
/// long-running programs.
pub fn provider_with_client_random(random: [u8; 32]) -> Arc<rustls::crypto::CryptoProvider> {
    #[derive(Debug)]
    struct Chosen([u8; 32]);
    impl rustls::crypto::SecureRandom for Chosen {
        fn fill(&self, buf: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
            if buf.len() == self.0.len() {
                buf.copy_from_slice(&self.0);
                Ok(())
            } else {
                rustls::crypto::aws_lc_rs::default_provider().secure_random.fill(buf)
            }
        }
    }
    let chosen: &'static Chosen = Box::leak(Box::new(Chosen(random)));
    Arc::new(rustls::crypto::CryptoProvider {
        secure_random: chosen,
        ..rustls::crypto::aws_lc_rs::default_provider()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real ClientHello (rustls, sans-IO) with SNI and ALPN is read back.
    #[test]
    fn client_hello_fields_are_read_from_a_real_client_hello() {
        let mut cfg = (*attested_tls::net::tls::client_config().unwrap()).clone();
        cfg.alpn_protocols = vec![b"atls:v1:nonce:00ff".to_vec(), b"h2".to_vec()];
        let name = rustls::pki_types::ServerName::try_from("abcd.nonce.example").unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
        let mut record = Vec::new();
        conn.write_tls(&mut record).unwrap();
        let view = ClientHelloView::parse_record(&record).unwrap();
        assert_eq!(view.server_name.as_deref(), Some("abcd.nonce.example"));
        assert_eq!(view.alpn, vec![b"atls:v1:nonce:00ff".to_vec(), b"h2".to_vec()]);
        assert!(view.extensions.iter().any(|(t, _)| *t == 43), "supported_versions");
        assert_ne!(view.random, [0u8; 32]);
        // The attacker's client copies that random into its own ClientHello.
        let mine = rustls::ClientConfig::builder_with_provider(provider_with_client_random(view.random))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(attested_tls::net::tls::AttestationOnlyServerVerifier::new()))
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("t1.example").unwrap();
        let mut own = rustls::ClientConnection::new(Arc::new(mine), name).unwrap();
        let mut own_record = Vec::new();
        own.write_tls(&mut own_record).unwrap();
        assert_eq!(ClientHelloView::parse_record(&own_record).unwrap().random, view.random);
        // Every truncation is an error, never a panic.
        for n in 0..record.len() {
            assert!(ClientHelloView::parse_record(&record[..n]).is_err(), "{n}");
        }
    }
}

/// What [`record_watching_relay`] saw on the wire.
#[derive(Clone, Debug, Default)]
pub struct WireWatch {
    /// C's first record (its ClientHello).
    pub client_hello: Option<Vec<u8>>,
    /// The lengths of the encrypted records (content type 23) the server
    /// sent after C's first encrypted record (C's Finished): post-handshake
    /// messages (NewSessionTicket) or application data.
    pub server_records_after_client_finished: Vec<usize>,
}

/// A TCP relay to `target` that forwards whole TLS records and notes what
/// [`WireWatch`] says (the attacker watches, it cannot decrypt). One
/// connection.
pub async fn record_watching_relay(target: SocketAddr) -> Result<(SocketAddr, Arc<Mutex<WireWatch>>), String> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let (listener, addr) = listen().await?;
    let watch = Arc::new(Mutex::new(WireWatch::default()));
    let w = watch.clone();
    tokio::spawn(async move {
        let Ok((c, _)) = listener.accept().await else { return };
        let Ok(s) = TcpStream::connect(target).await else {
            return;
        };
        let (mut cr, mut cw) = c.into_split();
        let (mut sr, mut sw) = s.into_split();
        let client_finished = Arc::new(AtomicBool::new(false));
        let (cf, wc) = (client_finished.clone(), w.clone());
        let up = tokio::spawn(async move {
            while let Ok(record) = read_any_record(&mut cr).await {
                if let Ok(mut w) = wc.lock() {
                    if w.client_hello.is_none() {
                        w.client_hello = Some(record.clone());
                    }
                }
                // Set before forwarding: the server answers C's Finished
                // only after it received it.
                if record[0] == 23 {
                    cf.store(true, Ordering::SeqCst);
                }
                if sw.write_all(&record).await.is_err() {
                    break;
                }
            }
        });
        while let Ok(record) = read_any_record(&mut sr).await {
            if record[0] == 23 && client_finished.load(Ordering::SeqCst) {
                if let Ok(mut w) = w.lock() {
                    w.server_records_after_client_finished.push(record.len() - 5);
                }
            }
            if cw.write_all(&record).await.is_err() {
                break;
            }
        }
        let _ = up.await;
    });
    Ok((addr, watch))
}

/// Reads one TLS record of any content type (header included).
async fn read_any_record<R: AsyncRead + Unpin>(r: &mut R) -> Result<Vec<u8>, String> {
    let mut header = [0u8; 5];
    r.read_exact(&mut header).await.map_err(|e| e.to_string())?;
    let len = u16::from_be_bytes([header[3], header[4]]) as usize;
    if len > 16384 + 256 {
        return Err(format!("record of {len} bytes"));
    }
    let mut record = header.to_vec();
    record.resize(5 + len, 0);
    r.read_exact(&mut record[5..]).await.map_err(|e| e.to_string())?;
    Ok(record)
}
