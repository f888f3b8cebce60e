//! `atls serve` and `atls connect`: attested TLS between two processes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use attested_tls::attester::Attester;
use attested_tls::ea::AuthenticatorIdentity;
use attested_tls::host_identity::HostIdentity;
use attested_tls::net::{self, AttestationConfig, AttestedStream, NetError, TlsStreamExt};
use attested_tls::policy::Policy;
use attested_tls::transport::frame::error_code;
use attested_tls::transport::SessionError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::early::Mode;
use crate::Failure;

/// How this side attests.
#[derive(clap::Args, Clone)]
pub struct AttesterArgs {
    /// Attester: `sim` (simulated TEE, needs --sim-instance), `configfs`
    /// (Linux configfs-tsm: SEV-SNP, TDX or CCA guest), or `none`.
    #[arg(long, default_value = "none")]
    pub(crate) attester: String,
    /// Simulated instance file written by `atls sim init`.
    #[arg(long)]
    pub(crate) sim_instance: Option<PathBuf>,
    /// configfs-tsm report directory.
    #[arg(long, default_value = "/sys/kernel/config/tsm/report")]
    pub(crate) tsm_dir: PathBuf,
    /// Passport model (default mode): have each Evidence appraised by the
    /// verification service at URL (`atls verifier serve`, API base
    /// `http://HOST:PORT/challenge-response/v1`) and present the signed EAR
    /// it returns instead of the Evidence; docs/verifier.md.
    #[arg(long, value_name = "URL")]
    pub(crate) passport_from: Option<String>,
    /// Seconds to wait for the verifier of --passport-from.
    #[arg(long, default_value_t = 10, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) passport_timeout: u64,
}

impl AttesterArgs {
    fn build(&self) -> Result<Option<Arc<dyn Attester>>, Failure> {
        let attester =
            attested_tls_proxy::config::build_attester(&self.attester, self.sim_instance.as_deref(), &self.tsm_dir)
                .map_err(Failure::input)?;
        match (&self.passport_from, attester) {
            (Some(url), Some(evidence)) => {
                let passport = attested_tls_verifier::PassportAttester::new(
                    evidence,
                    url.trim_end_matches('/'),
                    Duration::from_secs(self.passport_timeout),
                )
                .map_err(Failure::input)?;
                Ok(Some(Arc::new(passport)))
            }
            (Some(_), None) => Err(Failure::input(
                "--passport-from needs an attester (--attester sim or configfs) whose Evidence the verifier appraises",
            )),
            (None, attester) => Ok(attester),
        }
    }

    /// Refuses `--passport-from` in modes that do not support it.
    pub(crate) fn refuse_passport_from(&self, mode: &str) -> Result<(), Failure> {
        if self.passport_from.is_some() {
            return Err(Failure::input(format!(
                "--passport-from is for the default mode; mode {mode} does not support it{}",
                if mode == "early" {
                    " (mode early has its own passport scheme: --passport-key)"
                } else {
                    ""
                }
            )));
        }
        Ok(())
    }

    /// The simulated attester of `--sim-instance`.
    pub(crate) fn sim(&self) -> Result<attested_tls::sim::SimAttester, Failure> {
        let path = self
            .sim_instance
            .as_ref()
            .ok_or_else(|| Failure::input("--attester sim needs --sim-instance FILE (see `atls sim init`)"))?;
        let inst = attested_tls::sim::SimInstance::load(path).map_err(Failure::input)?;
        Ok(attested_tls::sim::SimAttester::new(inst))
    }
}

pub(crate) fn unknown_attester(name: &str) -> Failure {
    Failure::input(format!("unknown attester {name:?} (sim, configfs, none)"))
}

/// Arguments of `atls serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Attestation mode: `expat` (post-handshake Exported Attestation,
    /// RFC 9261 + draft-fossati-seat-expat), `early` (intra-handshake,
    /// draft-fossati-seat-early-attestation, on OpenSSL), or a binding
    /// profile of the field by name (`b1-client-random` ... `b7-draft06`,
    /// never a default, weaker: see docs/modes.md).
    #[arg(long, value_enum, default_value_t = Mode::Expat)]
    pub(crate) mode: Mode,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4433")]
    pub(crate) listen: String,
    #[command(flatten)]
    pub(crate) attester: AttesterArgs,
    /// Require clients to attest, appraised with this policy.
    #[arg(long)]
    pub(crate) policy: Option<PathBuf>,
    /// TLS certificate chain (PEM); default: a fresh self-signed one.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Attest with the --cert/--key identity: the authenticator (whose key
    /// the Evidence commits to) carries that certificate chain and signs
    /// with that key, instead of a generated self-signed key. Lets clients
    /// require host identity (I1) with `connect --host-ca`. (In mode
    /// `early` the TLS key is always the attested key.)
    #[arg(long, requires = "cert")]
    attest_with_tls_cert: bool,
    /// Forward attested connections to this TCP address instead of echoing.
    #[arg(long)]
    pub(crate) forward: Option<String>,
    /// Serve one connection, then exit with its outcome (0 served, 1
    /// attestation refused, 4 connection failed).
    #[arg(long)]
    pub(crate) once: bool,
    /// Machine-readable events on stdout, one JSON object per line:
    /// `{"event": "listening", "addr"}`, then per connection
    /// `{"event": "attested", "peer", "mode", "client_ear"}` or
    /// `{"event": "refused", "peer", "mode", "error", "ear"}` (the human
    /// lines stay on stderr).
    #[arg(long)]
    pub(crate) json: bool,
    /// Connections handled at the same time (at least 1); further clients
    /// wait in the listen backlog.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: u32,
    /// Close a connection after this many seconds without a byte in either
    /// direction (0: never).
    #[arg(long, default_value_t = 300)]
    pub(crate) idle_timeout: u64,
    /// Attester calls running at the same time, all connections together
    /// (at least 1; for attesters that may block, e.g. configfs). A request
    /// beyond it is refused with ERROR 8 (busy); in mode `early` the
    /// handshake ends with internal_error.
    #[arg(long, default_value_t = net::AttesterCallLimit::DEFAULT_MAX as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_attester_calls: u32,
    /// Mode `early`, passport scheme: present an attestation result (EAR)
    /// signed with this key (PKCS#8 PEM: P-256, P-384 or Ed25519) instead
    /// of the Evidence; needs --passport-policy.
    #[arg(long, requires = "passport_policy", value_name = "KEY")]
    pub(crate) passport_key: Option<PathBuf>,
    /// The policy the passport's verifier appraises this side's Evidence
    /// with before signing its result.
    #[arg(long, requires = "passport_key", value_name = "POLICY")]
    pub(crate) passport_policy: Option<PathBuf>,
    /// The passport's verifier identity (the `result(1)` scheme's
    /// `verifier_identity`; clients name it in --passport-verifier).
    #[arg(long, default_value = "atls-verifier", value_name = "ID")]
    pub(crate) verifier_id: String,
    /// Binding profiles b1-client-random and b2-*: run the server with a
    /// hardware attester although it is a signing oracle (it signs any
    /// value a TLS client chooses, which b3/b4/b7 clients of the same code
    /// accept for the attacker's key; docs/modes.md). Refused without it.
    #[arg(long)]
    pub(crate) allow_signing_oracle: bool,
}

/// Deadline for reaching the `--forward` service or the server.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for closing an attested connection (close_notify) whose peer
/// does not read.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The exit code and message of a connection that failed: a refusal of
/// attestation (either side) is 1, everything else (I/O, timeouts,
/// protocol errors) is a connection failure (4); a local configuration
/// error is a usage error (2).
fn connection_failure(context: &str, e: NetError) -> Failure {
    match &e {
        NetError::Attestation(
            SessionError::PeerNotTrusted { .. }
            | SessionError::RefusedByPeer(_)
            | SessionError::PeerDeclined(_)
            | SessionError::PeerCannotAttest(_),
        ) => Failure::refused(format!("{context}: {e}")),
        // The remote verifier's answer was refused (signature, freshness,
        // binding): an attestation refusal. A verifier that cannot be
        // reached or broke the protocol is a connection failure (below).
        NetError::Attestation(SessionError::RemoteVerifier(
            attested_tls::remote::RemoteVerifierError::Jwt { .. }
            | attested_tls::remote::RemoteVerifierError::NonceMismatch { .. },
        )) => Failure::refused(format!("{context}: {e}")),
        NetError::Config(_) => Failure::input(format!("{context}: {e}")),
        // A server of mode early refuses a ClientHello without its
        // extension with missing_extension: say what probably happened.
        _ if tls_alert_received(&e) == Some(rustls::AlertDescription::MissingExtension) => Failure::network(format!(
            "{context}: {e} (the server requires a TLS extension this mode does not send; \
                 if it serves mode early, connect with --mode early; if a binding profile, with its --mode)"
        )),
        // Servers of the binding profiles end a handshake without their
        // nonce with other alerts.
        _ if tls_alert_received(&e).is_some() => Failure::network(format!(
            "{context}: {e} (if the server serves mode early or a binding profile, connect with its --mode)"
        )),
        _ => Failure::network(format!("{context}: {e}")),
    }
}

/// The TLS alert the peer ended the handshake with, if that is why `e`
/// happened (rustls reports it as a TLS error, or inside an I/O error).
fn tls_alert_received(e: &NetError) -> Option<rustls::AlertDescription> {
    let tls = match e {
        NetError::Tls(t) => Some(t),
        NetError::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    match tls {
        Some(rustls::Error::AlertReceived(a)) => Some(*a),
        _ => None,
    }
}

pub(crate) fn idle(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// The appraiser of a policy file, for modes other than the default: a
/// `[remote_verifier]` section is refused (only the default mode hands
/// appraisal to a remote verifier).
pub(crate) fn load_policy(path: &std::path::Path) -> Result<attested_tls::verifier::Appraiser, Failure> {
    let appraiser = load_policy_allowing_remote(path)?;
    if let Some(r) = appraiser.remote_verifier() {
        return Err(Failure::input(format!(
            "{}: [remote_verifier] ({}) is supported in the default mode only; this mode appraises locally",
            path.display(),
            r.url()
        )));
    }
    Ok(appraiser)
}

/// The appraiser of a policy file for the default mode, which may name a
/// remote verifier ([`with_remote_client`] then gives it its client).
pub(crate) fn load_policy_allowing_remote(
    path: &std::path::Path,
) -> Result<attested_tls::verifier::Appraiser, Failure> {
    let p = Policy::load(path).map_err(Failure::input)?;
    p.appraiser().map_err(Failure::input)
}

/// Gives the configuration the HTTP client of the remote verifier its
/// policy names, if any.
fn with_remote_client(cfg: AttestationConfig) -> AttestationConfig {
    if cfg.appraiser.as_ref().is_some_and(|a| a.remote_verifier().is_some()) {
        cfg.with_remote_client(Arc::new(attested_tls_verifier::HttpVerifierClient::new()))
    } else {
        cfg
    }
}

/// The `--cert`/`--key` chain and key, if given.
pub(crate) fn cert_and_key(
    args: &ServeArgs,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Failure> {
    let (Some(c), Some(k)) = (&args.cert, &args.key) else {
        return Ok(None);
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
        .map_err(|e| Failure::input(format!("{}: {e}", c.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::input(format!("{}: {e}", c.display())))?;
    // Without this, a file of anything but certificates reached rustls as
    // an empty chain ("peer sent no certificates", naming no file).
    if chain.is_empty() {
        return Err(Failure::input(format!(
            "{}: no CERTIFICATE block (--cert needs a PEM certificate chain)",
            c.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(k).map_err(|e| Failure::input(format!("{}: {e}", k.display())))?;
    Ok(Some((chain, key)))
}

fn tls_identity(
    cert_and_key: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<Arc<rustls::ServerConfig>, Failure> {
    match cert_and_key {
        Some((chain, key)) => net::tls::server_config(chain, key).map_err(Failure::input),
        None => crate::demo::server_tls(),
    }
}

pub async fn serve(args: ServeArgs) -> Result<u8, Failure> {
    match args.mode {
        Mode::Early => return crate::early::serve(args).await,
        Mode::Profile(p) => return crate::profiles::serve(p, args).await,
        Mode::Expat => {}
    }
    if args.allow_signing_oracle {
        return Err(Failure::input(
            "--allow-signing-oracle is for the b1-client-random and b2-* profiles (--mode b1-client-random, ...)",
        ));
    }
    if args.passport_key.is_some() {
        return Err(Failure::input(
            "--passport-key is for mode early (--mode early); in the default mode use `atls verify --sign-ear`",
        ));
    }
    let mut cfg = AttestationConfig::default()
        .with_max_attester_calls(args.max_attester_calls as usize)
        .map_err(Failure::input)?;
    let cert_and_key = cert_and_key(&args)?;
    if args.attest_with_tls_cert {
        let Some((chain, key)) = &cert_and_key else {
            return Err(Failure::input("--attest-with-tls-cert needs --cert and --key"));
        };
        if args.attester.attester == "none" {
            return Err(Failure::input(
                "--attest-with-tls-cert needs an attester (--attester): without one nothing is attested",
            ));
        }
        let identity = AuthenticatorIdentity::new(chain.clone(), key)
            .map_err(|e| Failure::input(format!("--attest-with-tls-cert: {e}")))?;
        cfg = cfg.with_identity(identity);
    }
    if let Some(a) = args.attester.build()? {
        cfg = cfg.with_attester(a).map_err(Failure::input)?;
    }
    if let Some(appraiser) = server_appraiser(&args, load_policy_allowing_remote)? {
        cfg = with_remote_client(cfg.with_appraiser(appraiser));
    }
    if cfg.attester.is_none() && cfg.appraiser.is_none() {
        return Err(Failure::input("nothing to attest: give --attester and/or --policy"));
    }
    let tls = tls_identity(cert_and_key)?;
    let idle_timeout = idle(args.idle_timeout);
    let json = args.json;
    accept_loop(&args, |tcp, peer| {
        let (tls, cfg, forward) = (tls.clone(), cfg.clone(), args.forward.clone());
        async move {
            let (mut stream, ear) = match net::accept(&tls, tcp, &cfg).await {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("atls: {peer}: refused: {e}");
                    refused_event(json, peer, "expat", &e, e.peer_ear());
                    return Err(connection_failure(&format!("{peer}"), e));
                }
            };
            match &ear {
                Some(e) => eprintln!("atls: {peer}: client attested (mode expat): {}", e.status),
                None => eprintln!("atls: {peer}: attested to client (mode expat)"),
            }
            attested_event(json, peer, "expat", ear.as_ref());
            let r = serve_stream(&mut stream, forward, idle_timeout).await;
            if let Err(e) = &r {
                close_after(&mut stream, e).await;
            }
            r.map_err(|e| stream_failure(peer, e))
        }
    })
    .await
}

/// The appraiser of `serve --policy`, if given: a policy that requires
/// host identity (I1) is a usage error (a server dialled no name).
pub(crate) fn server_appraiser(
    args: &ServeArgs,
    load: fn(&std::path::Path) -> Result<attested_tls::verifier::Appraiser, Failure>,
) -> Result<Option<attested_tls::verifier::Appraiser>, Failure> {
    let Some(p) = &args.policy else {
        return Ok(None);
    };
    let appraiser = load(p)?;
    if appraiser.host_identity().is_some() {
        return Err(Failure::input(format!(
            "{}: [host_identity] (I1) checks the name a client dialled; a server cannot require it of its clients",
            p.display()
        )));
    }
    Ok(Some(appraiser))
}

/// With `serve --json`: prints one event as a line of JSON on stdout.
pub(crate) fn event(json: bool, v: serde_json::Value) {
    if json {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // Each event is flushed at once: a consumer reads them as they come.
        let _ = writeln!(out, "{v}").and_then(|()| out.flush());
    }
}

/// The `attested` event of `serve --json`.
pub(crate) fn attested_event(
    json: bool,
    peer: std::net::SocketAddr,
    mode: &str,
    client_ear: Option<&attested_tls::ear::Ear>,
) {
    event(
        json,
        serde_json::json!({ "event": "attested", "peer": peer.to_string(), "mode": mode, "client_ear": client_ear }),
    );
}

/// The `refused` event of `serve --json`.
pub(crate) fn refused_event(
    json: bool,
    peer: std::net::SocketAddr,
    mode: &str,
    error: &dyn std::fmt::Display,
    ear: Option<&attested_tls::ear::Ear>,
) {
    event(
        json,
        serde_json::json!({ "event": "refused", "peer": peer.to_string(), "mode": mode, "error": error.to_string(), "ear": ear }),
    );
}

/// Echoes on, or forwards, an attested stream.
pub(crate) async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    forward: Option<String>,
    idle_timeout: Option<Duration>,
) -> std::io::Result<()> {
    match forward {
        Some(addr) => forward_to(stream, &addr, idle_timeout).await,
        None => echo(stream, idle_timeout).await,
    }
}

/// The failure of a connection whose attested stream failed after attestation.
pub(crate) fn stream_failure(peer: std::net::SocketAddr, e: std::io::Error) -> Failure {
    eprintln!("atls: {peer}: {e}");
    Failure::network(format!("{peer}: {e}"))
}

/// Listens on `--listen` and runs `handle` for each connection (at most
/// `--max-connections` at a time); with `--once`, returns the first
/// connection's outcome.
pub(crate) async fn accept_loop<F, Fut>(args: &ServeArgs, handle: F) -> Result<u8, Failure>
where
    F: Fn(tokio::net::TcpStream, std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Failure::input(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener.local_addr().map_err(Failure::input)?;
    eprintln!("atls: serving attested TLS on {local}");
    event(
        args.json,
        serde_json::json!({ "event": "listening", "addr": local.to_string() }),
    );
    let slots = Arc::new(tokio::sync::Semaphore::new(args.max_connections as usize));
    loop {
        // At the limit, stop accepting: clients wait in the backlog.
        let slot = slots.clone().acquire_owned().await.map_err(Failure::input)?;
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors or memory, a connection reset before
                // accept: transient. Log, give the system a moment, go on;
                // a client must not be able to stop the service.
                eprintln!("atls: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let connection = handle(tcp, peer);
        let task = tokio::spawn(async move {
            let _slot = slot;
            connection.await
        });
        if args.once {
            return match task.await {
                Ok(Ok(())) => Ok(0),
                Ok(Err(f)) => Err(f),
                Err(e) => Err(Failure::network(format!("connection task failed: {e}"))),
            };
        }
    }
}

/// Reads into `buf`, failing with [`idle_timeout`] after `idle` without a byte.
async fn read_within<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    idle: Option<Duration>,
) -> std::io::Result<usize> {
    match idle {
        None => r.read(buf).await,
        Some(d) => tokio::time::timeout(d, r.read(buf))
            .await
            .map_err(|_| idle_timeout(d))?,
    }
}

/// The marker inside the error of a connection closed for lack of traffic:
/// only this one is answered with ERROR 6 (timeout), not every `TimedOut`
/// (a forwarded service's ETIMEDOUT, a connect timeout).
#[derive(Debug, thiserror::Error)]
#[error("idle timeout: no byte in either direction for {0} s")]
struct IdleTimeout(u64);

/// The error of a connection closed for lack of traffic.
fn idle_timeout(d: Duration) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, IdleTimeout(d.as_secs()))
}

/// Whether `e` is the idle timeout of [`idle_timeout`].
fn is_idle_timeout(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<IdleTimeout>())
}

/// Closes an attested connection that ended with `e` as every attested
/// connection closes: an idle one with ERROR 6 (timeout) and close_notify,
/// one whose other end (the forwarded service) failed with close_notify
/// alone. A connection that failed by itself has already closed.
async fn close_after<S: TlsStreamExt>(stream: &mut AttestedStream<S>, e: &std::io::Error) {
    if is_idle_timeout(e) {
        stream.close_with_error(error_code::TIMEOUT, &e.to_string()).await;
    } else {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
    }
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S, idle: Option<Duration>) -> std::io::Result<()> {
    let (mut r, mut w) = tokio::io::split(stream);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = read_within(&mut r, &mut buf, idle).await?;
        if n == 0 {
            return w.shutdown().await;
        }
        w.write_all(&buf[..n]).await?;
        w.flush().await?;
    }
}

async fn forward_to<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    addr: &str,
    idle: Option<Duration>,
) -> std::io::Result<()> {
    let upstream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, format!("connecting to {addr} timed out")))??;
    let _ = upstream.set_nodelay(true);
    relay(stream, upstream, idle).await
}

/// Copies both ways until both directions have ended (each end's EOF is
/// passed on as a write shutdown), or until neither direction has carried
/// a byte for `idle`: the proxy's relay, without re-attestation.
async fn relay<A, B>(mut a: A, mut b: B, idle: Option<Duration>) -> std::io::Result<()>
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    use attested_tls_proxy::relay::{self, RelayError, RelayOptions};
    let opts = RelayOptions {
        idle,
        ..RelayOptions::default()
    };
    relay::relay(&mut a, &mut b, opts).await.map_err(|e| match e {
        RelayError::Idle(d) => idle_timeout(d),
        RelayError::Peer(e) | RelayError::Other(e) => e,
        other => std::io::Error::other(other),
    })
}

/// Arguments of `atls connect`.
#[derive(clap::Args)]
pub struct ConnectArgs {
    /// Server address (host:port).
    pub(crate) addr: String,
    /// Attestation mode: `expat` (post-handshake Exported Attestation,
    /// RFC 9261 + draft-fossati-seat-expat), `early` (intra-handshake,
    /// draft-fossati-seat-early-attestation, on OpenSSL), or a binding
    /// profile of the field by name (`b1-client-random` ... `b7-draft06`,
    /// never a default, weaker: see docs/modes.md). Must be the server's.
    #[arg(long, value_enum, default_value_t = Mode::Expat)]
    pub(crate) mode: Mode,
    /// Appraisal policy for the server's Evidence.
    #[arg(long)]
    pub(crate) policy: PathBuf,
    /// TLS server name: the name dialled (sent as SNI; with --host-ca the
    /// name the server's attested key must be certified for). Default: the
    /// host of ADDR with --host-ca, `atls-server` without.
    #[arg(long)]
    server_name: Option<String>,
    /// Require host identity (I1): the server's attested key must have a
    /// certificate for the dialled name (--server-name) chaining to a root
    /// certificate in FILE (PEM). Repeatable; any of the roots will do.
    #[arg(long = "host-ca", value_name = "FILE")]
    pub(crate) host_ca: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) attester: AttesterArgs,
    /// Print the server's attestation result as EAR JSON (on stderr).
    #[arg(long)]
    pub(crate) json: bool,
    /// Mode `early`, passport scheme: accept an attestation result signed
    /// by verifier ID with the public key in FILE (PEM SPKI or JWK),
    /// preferred to Evidence. Repeatable.
    #[arg(long, value_name = "ID=FILE")]
    pub(crate) passport_verifier: Vec<String>,
}

/// The host part of `host:port` (`[v6]:port` too).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

impl ConnectArgs {
    /// The name dialled: `--server-name`, else ADDR's host with
    /// `--host-ca`, else `atls-server`.
    pub(crate) fn server_name(&self) -> String {
        match (&self.server_name, self.host_ca.is_empty()) {
            (Some(n), _) => n.clone(),
            (None, false) => host_of(&self.addr).to_string(),
            (None, true) => "atls-server".to_string(),
        }
    }

    /// The I1 roots of `--host-ca`, if any. They replace the policy's
    /// `[host_identity]` roots (not added to them): a note on stderr says
    /// so when `policy` has such a section.
    pub(crate) fn host_identity(
        &self,
        policy: &attested_tls::verifier::Appraiser,
    ) -> Result<Option<HostIdentity>, Failure> {
        if self.host_ca.is_empty() {
            return Ok(None);
        }
        if policy.host_identity().is_some() {
            eprintln!(
                "atls: note: --host-ca replaces the roots of the policy's [host_identity] section for this \
                 connection (they are not combined)"
            );
        }
        HostIdentity::from_pem_files(&self.host_ca)
            .map(Some)
            .map_err(|e| Failure::input(format!("--host-ca: {e}")))
    }

    /// A TCP connection to ADDR.
    pub(crate) async fn dial(&self) -> Result<tokio::net::TcpStream, Failure> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&self.addr))
            .await
            .map_err(|_| Failure::network(format!("connecting to {} timed out", self.addr)))?
            .map_err(|e| Failure::network(format!("cannot connect to {}: {e}", self.addr)))?;
        let _ = tcp.set_nodelay(true);
        Ok(tcp)
    }
}

/// Shows the server's attestation result on stderr (EAR JSON with `--json`).
pub(crate) fn show_ear(ear: &attested_tls::ear::Ear, json: bool) {
    if json {
        eprintln!("{}", ear.to_json_pretty());
    } else {
        eprint!("{}", ear.render());
    }
}

pub async fn connect(args: ConnectArgs) -> Result<u8, Failure> {
    match args.mode {
        Mode::Early => return crate::early::connect(args).await,
        Mode::Profile(p) => return crate::profiles::connect(p, args).await,
        Mode::Expat => {}
    }
    if !args.passport_verifier.is_empty() {
        return Err(Failure::input("--passport-verifier is for mode early (--mode early)"));
    }
    let appraiser = load_policy_allowing_remote(&args.policy)?;
    let host_identity = args.host_identity(&appraiser)?;
    let mut cfg = with_remote_client(AttestationConfig::verifier(appraiser));
    let server_name = args.server_name();
    if let Some(roots) = host_identity {
        cfg = cfg.with_host_identity(roots);
    }
    if let Some(a) = args.attester.build()? {
        cfg = cfg.with_attester(a).map_err(Failure::input)?;
    }
    let tls = net::tls::client_config().map_err(Failure::input)?;
    let tcp = args.dial().await?;
    let (stream, ear) = match net::connect(&tls, &server_name, tcp, &cfg).await {
        Ok(x) => x,
        Err(e) => {
            if let (true, Some(ear)) = (args.json, e.peer_ear()) {
                eprintln!("{}", ear.to_json_pretty());
            }
            return Err(connection_failure("attested connection failed", e));
        }
    };
    if let Some(ear) = &ear {
        show_ear(ear, args.json);
    }
    pipe_stdio(stream).await
}

/// Pipes stdin to the attested stream and the stream to stdout, until the
/// server's side ends.
pub(crate) async fn pipe_stdio<S: AsyncRead + AsyncWrite>(stream: S) -> Result<u8, Failure> {
    let (mut r, mut w) = tokio::io::split(stream);
    let mut up_open = true;
    {
        let up = async {
            tokio::io::copy(&mut tokio::io::stdin(), &mut w).await?;
            w.shutdown().await
        };
        let down = async {
            let mut out = tokio::io::stdout();
            tokio::io::copy(&mut r, &mut out).await?;
            out.flush().await
        };
        tokio::pin!(up, down);
        // Ends when the server's side ends (or anything fails): stdin may
        // stay open forever (a terminal), so it does not keep the
        // connection.
        loop {
            tokio::select! {
                r = &mut up, if up_open => {
                    r.map_err(|e| Failure::network(format!("connection error: {e}")))?;
                    up_open = false;
                }
                r = &mut down => {
                    r.map_err(|e| Failure::network(format!("connection error: {e}")))?;
                    break;
                }
            }
        }
    }
    if up_open {
        // Close our direction properly (TLS close_notify), so that the
        // server sees an orderly end rather than a truncated connection.
        let _ = w.shutdown().await;
    }
    Ok(0)
}

#[cfg(test)]
mod idle_timeout_tests {
    use super::*;

    /// Guards the review's L8: `close_after` sent ERROR 6 "idle timeout"
    /// for any `TimedOut` error, including the forwarded service's
    /// ETIMEDOUT; only the idle timeout's own marker counts now.
    #[test]
    fn only_the_idle_timeout_is_an_idle_timeout() {
        assert!(is_idle_timeout(&idle_timeout(Duration::from_secs(5))));
        assert!(!is_idle_timeout(&std::io::Error::from(std::io::ErrorKind::TimedOut)));
        assert!(!is_idle_timeout(&std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connecting to 127.0.0.1:1 timed out"
        )));
    }
}
