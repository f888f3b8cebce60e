//! tokio + rustls adapter: attested `connect` / `accept`.
//!
//! Both return an [`AttestedStream`] only after attestation succeeded in
//! every direction the two sides require; before that no application byte
//! is read or written. Every step runs under a deadline. Attesters that
//! [may block](crate::attester::Attester::may_block) (hardware, host
//! services) run on tokio's blocking pool, so a slow platform does not
//! stall the runtime and a hung one fails the connection at the
//! attestation deadline; appraisal runs inline (verifiers do no I/O),
//! except when the policy names a remote verifier: its HTTP exchange (a
//! [`RemoteVerifierClient`]) runs as a task under the verifier's timeout,
//! never blocking the runtime, and the connection waits for it under the
//! attestation deadline.
//! After any failure the stream stays failed: nothing the peer sent is
//! delivered any more and nothing more is sent but the ERROR frame,
//! followed by the TLS close_notify; the failure is reported once both are
//! out (or after 1 s with a peer that does not read). Attester calls are
//! bounded: one per connection at a time, and [`AttesterCallLimit`] for all
//! connections of a configuration together.
//!
//! ```no_run
//! # async fn f() -> Result<(), attested_tls::net::NetError> {
//! use std::sync::Arc;
//! use attested_tls::{net, policy::Policy};
//! let policy = Policy::load(std::path::Path::new("sim/policy.toml")).unwrap();
//! let client = net::AttestationConfig::verifier(policy.appraiser().unwrap());
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:4433").await?;
//! let (mut stream, ear) = net::connect(&net::tls::client_config()?, "server.example", tcp, &client).await?;
//! println!("server attested: {}", ear.map(|e| e.status.to_string()).unwrap_or_default());
//! # Ok(()) }
//! ```

pub mod tls;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::attester::Attester;
use crate::ea::{AuthenticatorIdentity, EaProfile, Role};
use crate::ear::Ear;
use crate::exporter::Exporter;
use crate::host_identity::HostIdentity;
use crate::remote::{RemoteVerifierClient, RemoteVerifierError};
use crate::transport::frame::DEFAULT_MAX_FRAME;
use crate::transport::{Event, Frame, FrameDecoder, FrameError, Session, SessionConfig, SessionError};
use crate::verifier::Appraiser;

/// Errors of attested connections.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// Socket error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// TLS error (handshake failure, bad configuration).
    #[error("TLS error: {0}")]
    Tls(#[source] rustls::Error),
    /// A step exceeded its deadline.
    #[error("timed out during {0}")]
    Timeout(&'static str),
    /// Unusable configuration.
    #[error("configuration refused: {0}")]
    Config(String),
    /// The TLS session is not acceptable for attestation.
    #[error("TLS session refused: {0}")]
    Session(String),
    /// The byte stream could not be framed.
    #[error("transport error: {0}")]
    Frame(#[from] FrameError),
    /// The attestation protocol failed (refusals, violations).
    #[error(transparent)]
    Attestation(#[from] SessionError),
    /// The peer closed the connection before attestation completed.
    #[error("the peer closed the connection during {0}")]
    Closed(&'static str),
    /// The peer closed the connection in the middle of a frame (after its
    /// header or part of its payload) before attestation completed.
    #[error("the peer closed the connection in the middle of a frame during {0}")]
    ClosedInFrame(&'static str),
    /// The connection failed earlier (refusal, violation, timeout): it
    /// carries nothing more; open a new one.
    #[error("the attested connection has failed; open a new one")]
    Failed,
    /// The peer asked for Evidence while every attester call this side
    /// allows ([`AttesterCallLimit`]) was running: the request is refused
    /// (ERROR 8, busy), not queued.
    #[error("refused the peer's attestation request: all {max} attester calls allowed on this side are running; try again later")]
    AttesterBusy {
        /// The configured bound.
        max: usize,
    },
}

impl NetError {
    /// The attestation result behind a refusal of the peer, if that is
    /// what happened.
    pub fn peer_ear(&self) -> Option<&Ear> {
        match self {
            Self::Attestation(SessionError::PeerNotTrusted { ear, .. }) => Some(ear),
            _ => None,
        }
    }
}

/// A bound on the attester calls running at the same time, shared by every
/// connection made with one [`AttestationConfig`] and its clones (for a
/// server: all its connections).
///
/// An attester that [may block](Attester::may_block) runs on tokio's
/// blocking pool, and a call its connection gave up on (deadline, failure,
/// close) cannot be interrupted: it runs until the platform answers. A call
/// holds its place in the bound until it returns, not until its connection
/// ends, so neither many connections nor hung platform calls occupy more
/// than `max` threads. When all places are taken, a peer's request is
/// refused at once with ERROR 8 (busy) rather than queued. Attesters that
/// never block run inline, within their connection's task, and are not
/// counted. Each connection runs at most one attester call at a time (the
/// transport allows one outstanding request per direction).
#[derive(Clone)]
pub struct AttesterCallLimit {
    max: usize,
    permits: Arc<tokio::sync::Semaphore>,
}

impl AttesterCallLimit {
    /// The default bound: far more than a configfs-tsm guest completes at
    /// once (the kernel produces one report at a time), few enough threads
    /// that a hung platform cannot exhaust the blocking pool (512).
    pub const DEFAULT_MAX: usize = 16;

    /// A new bound of `max` concurrent calls (at least 1), not shared with
    /// any other.
    pub fn new(max: usize) -> Result<Self, NetError> {
        if max == 0 || max > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(NetError::Config(format!(
                "the attester call bound must be 1..={}, not {max}",
                tokio::sync::Semaphore::MAX_PERMITS
            )));
        }
        Ok(Self {
            max,
            permits: Arc::new(tokio::sync::Semaphore::new(max)),
        })
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Attester calls running now (including calls whose connection has
    /// ended but whose platform has not answered yet).
    pub fn in_flight(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    /// A place for one call, held until the permit is dropped.
    fn try_acquire(&self) -> Result<tokio::sync::OwnedSemaphorePermit, NetError> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| NetError::AttesterBusy { max: self.max })
    }
}

impl Default for AttesterCallLimit {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX).expect("the default bound is valid")
    }
}

impl std::fmt::Debug for AttesterCallLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttesterCallLimit")
            .field("max", &self.max)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

/// What one side brings to an attested connection.
#[derive(Clone)]
pub struct AttestationConfig {
    /// Code point, exporter label, schemes.
    pub profile: EaProfile,
    /// Our attester (`None`: we do not attest).
    pub attester: Option<Arc<dyn Attester>>,
    /// The key our authenticators are signed with. Generated (P-256,
    /// self-signed) by [`AttestationConfig::attester`] if not given.
    pub identity: Option<AuthenticatorIdentity>,
    /// Appraiser of the peer's Evidence (`None`: we do not require it).
    pub appraiser: Option<Appraiser>,
    /// Host identity (I1), for a client: the server's attested key must
    /// also have a certificate, chaining to these roots, for the server
    /// name given to [`connect`] (see [`crate::host_identity`]). Needs
    /// `appraiser`; refused by [`accept`], where no name was dialled.
    pub host_identity: Option<HostIdentity>,
    /// Deadline for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Deadline for the whole attestation exchange (and re-attestations).
    pub attestation_timeout: Duration,
    /// Largest transport frame accepted.
    pub max_frame: usize,
    /// Verification time source.
    pub clock: crate::transport::session::Clock,
    /// Bound on concurrent calls of an attester that may block, shared by
    /// the clones of this configuration (default
    /// [`AttesterCallLimit::DEFAULT_MAX`]).
    pub attester_calls: AttesterCallLimit,
    /// The HTTP client of the remote verifier, required when the
    /// appraiser names one ([`Appraiser::remote_verifier`]; a policy's
    /// `[remote_verifier]` section). `attested_tls_verifier::HttpVerifierClient`
    /// is one.
    pub remote_client: Option<Arc<dyn RemoteVerifierClient>>,
}

impl std::fmt::Debug for AttestationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationConfig")
            .field("profile", &self.profile)
            .field("attester", &self.attester.as_ref().map(|a| a.platform().to_string()))
            .field("appraiser", &self.appraiser)
            .field("host_identity", &self.host_identity)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("attestation_timeout", &self.attestation_timeout)
            .field("attester_calls", &self.attester_calls)
            .field("remote_client", &self.remote_client.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for AttestationConfig {
    fn default() -> Self {
        Self {
            profile: EaProfile::default(),
            attester: None,
            identity: None,
            appraiser: None,
            host_identity: None,
            handshake_timeout: Duration::from_secs(10),
            attestation_timeout: Duration::from_secs(10),
            max_frame: DEFAULT_MAX_FRAME,
            clock: Arc::new(time::OffsetDateTime::now_utc),
            attester_calls: AttesterCallLimit::default(),
            remote_client: None,
        }
    }
}

impl AttestationConfig {
    /// A side that attests with `attester` (and a fresh P-256 authenticator key).
    pub fn attester(attester: Arc<dyn Attester>) -> Result<Self, NetError> {
        Self::default().with_attester(attester)
    }

    /// A side that requires the peer to attest, appraised by `appraiser`.
    pub fn verifier(appraiser: Appraiser) -> Self {
        Self {
            appraiser: Some(appraiser),
            ..Self::default()
        }
    }

    /// Adds an attester (mutual attestation when an appraiser is set too).
    pub fn with_attester(mut self, attester: Arc<dyn Attester>) -> Result<Self, NetError> {
        if self.identity.is_none() {
            self.identity = Some(
                AuthenticatorIdentity::generate_self_signed("attested-tls authenticator")
                    .map_err(|e| NetError::Config(e.to_string()))?,
            );
        }
        self.attester = Some(attester);
        Ok(self)
    }

    /// Signs our authenticators with `identity` (a certificate chain, end
    /// entity first, and its key) instead of a generated self-signed key:
    /// for example the service's CA-issued certificate, so that relying
    /// parties can require host identity (I1) of the attested key. The
    /// whole chain is sent in the authenticator's Certificate message.
    pub fn with_identity(mut self, identity: AuthenticatorIdentity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Adds an appraiser.
    pub fn with_appraiser(mut self, appraiser: Appraiser) -> Self {
        self.appraiser = Some(appraiser);
        self
    }

    /// Requires host identity (I1) of the server: after its Evidence is
    /// appraised, its attested key must also have a certificate for the
    /// name [`connect`] dials, chaining to `roots`'s trusted roots. The
    /// result's submodules then carry a `host_identity` claim; a server
    /// without such a certificate is refused with a `host_identity`
    /// finding.
    pub fn with_host_identity(mut self, roots: HostIdentity) -> Self {
        self.host_identity = Some(roots);
        self
    }

    /// Sets the client that talks to the remote verifier the appraiser
    /// names (see [`AttestationConfig::remote_client`]).
    pub fn with_remote_client(mut self, client: Arc<dyn RemoteVerifierClient>) -> Self {
        self.remote_client = Some(client);
        self
    }

    /// Sets the deadlines: `handshake` for the TLS handshake, `attestation`
    /// for the whole attestation exchange (and each re-attestation). A
    /// deadline that fires fails the connection with
    /// [`NetError::Timeout`] naming the step it interrupted (`TLS
    /// handshake`, `attestation (waiting for the peer's HELLO)`, ...), and
    /// the peer gets ERROR 6 (timeout) when it can still be told.
    pub fn with_timeouts(mut self, handshake: Duration, attestation: Duration) -> Self {
        self.handshake_timeout = handshake;
        self.attestation_timeout = attestation;
        self
    }

    /// Bounds the concurrent calls of an attester that may block to `max`
    /// (at least 1) for every connection made with this configuration and
    /// its clones.
    pub fn with_max_attester_calls(mut self, max: usize) -> Result<Self, NetError> {
        self.attester_calls = AttesterCallLimit::new(max)?;
        Ok(self)
    }

    /// Refuses a configuration that cannot work (bad profile, host
    /// identity required without appraising the peer).
    pub fn check(&self) -> Result<(), NetError> {
        self.profile
            .check()
            .map_err(|e| NetError::Config(format!("attestation profile: {e}")))?;
        if self.host_identity.is_some() && self.appraiser.is_none() {
            return Err(NetError::Config(
                "host identity (I1) is required but the peer is not appraised: I1 concerns the attested key, \
                 so it needs an appraiser (a policy)"
                    .into(),
            ));
        }
        if let Some(remote) = self.appraiser.as_ref().and_then(|a| a.remote_verifier()) {
            if self.remote_client.is_none() {
                return Err(NetError::Config(format!(
                    "the policy names the remote verifier {} but no client to reach it is configured \
                     (AttestationConfig::with_remote_client, e.g. attested_tls_verifier::HttpVerifierClient)",
                    remote.url()
                )));
            }
        }
        Ok(())
    }

    /// The host identity (I1) required of the peer: this configuration's,
    /// else the appraiser's (a policy's `[host_identity]` section).
    pub fn required_host_identity(&self) -> Option<&HostIdentity> {
        self.host_identity
            .as_ref()
            .or_else(|| self.appraiser.as_ref().and_then(|a| a.host_identity()))
    }

    /// The session configuration; `server_name` is the name a client
    /// dialled (`None` for a server).
    fn session(&self, tls_role: Role, server_name: Option<&ServerName<'static>>) -> SessionConfig {
        let host_identity = match (self.required_host_identity(), server_name) {
            (Some(h), Some(name)) => Some(h.for_server(name.clone())),
            _ => None,
        };
        SessionConfig {
            tls_role,
            profile: self.profile.clone(),
            attester: self.attester.clone(),
            identity: self.identity.clone(),
            appraiser: self.appraiser.clone(),
            host_identity,
            max_frame: self.max_frame,
            clock: self.clock.clone(),
            // Attesters that may block run on the blocking pool under the
            // attestation deadline (see AttestedStream::poll_evidence).
            defer_attestation: self.attester.as_ref().is_some_and(|a| a.may_block()),
        }
    }
}

/// A TLS stream whose connection can export keying material.
pub trait TlsStreamExt: AsyncRead + AsyncWrite + Unpin {
    /// The connection's exporter.
    fn exporter(&self) -> &dyn Exporter;
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStreamExt for tokio_rustls::client::TlsStream<IO> {
    fn exporter(&self) -> &dyn Exporter {
        self.get_ref().1
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStreamExt for tokio_rustls::server::TlsStream<IO> {
    fn exporter(&self) -> &dyn Exporter {
        self.get_ref().1
    }
}

fn check_session(
    version: Option<rustls::ProtocolVersion>,
    kind: Option<rustls::HandshakeKind>,
) -> Result<(), NetError> {
    if version != Some(rustls::ProtocolVersion::TLSv1_3) {
        return Err(NetError::Session(format!(
            "negotiated {version:?}; attested connections require TLS 1.3"
        )));
    }
    match kind {
        Some(rustls::HandshakeKind::Full) | Some(rustls::HandshakeKind::FullWithHelloRetryRequest) => Ok(()),
        other => Err(NetError::Session(format!(
            "handshake kind {other:?}: resumed sessions are refused on attested connections"
        ))),
    }
}

/// How long the two steps of opening an attested connection took
/// ([`connect_timed`], [`accept_timed`]): for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    /// The TLS handshake, from its start until it completed.
    pub handshake: Duration,
    /// The attestation exchange, from the end of the handshake until the
    /// stream was ready (or failed).
    pub attestation: Duration,
}

/// Opens an attested connection as TLS client over `io`.
///
/// Returns the stream and, if `att` requires server attestation, the
/// server's attestation result.
pub async fn connect<IO>(
    tls: &Arc<rustls::ClientConfig>,
    server_name: &str,
    io: IO,
    att: &AttestationConfig,
) -> Result<(AttestedStream<tokio_rustls::client::TlsStream<IO>>, Option<Ear>), NetError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut timings = Timings::default();
    connect_timed(tls, server_name, io, att, &mut timings).await
}

/// [`connect`], also filling in how long the handshake and the
/// attestation took (`timings`, as far as the connection got).
pub async fn connect_timed<IO>(
    tls: &Arc<rustls::ClientConfig>,
    server_name: &str,
    io: IO,
    att: &AttestationConfig,
    timings: &mut Timings,
) -> Result<(AttestedStream<tokio_rustls::client::TlsStream<IO>>, Option<Ear>), NetError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let start = tokio::time::Instant::now();
    tls::check_client_config(tls)?;
    att.check()?;
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| NetError::Config(format!("invalid server name {server_name:?}: {e}")))?;
    // The client's HELLO and initial request need no exporter value, so they
    // are queued in rustls before the handshake: rustls sends them, encrypted
    // with the application traffic keys, in the same flight as the client
    // Finished (never as 0-RTT data, which is disabled). That saves the
    // server a wake-up and the connection a round trip of latency.
    let mut session = Session::new(att.session(Role::Client, Some(&name)));
    let first_flight = session.take_outgoing();
    let connector = tokio_rustls::TlsConnector::from(tls.clone());
    let connecting = connector.connect_with(name, io, |conn| {
        use std::io::Write;
        // rustls buffers plaintext written before the handshake completes
        // (up to its buffer limit, far above a HELLO and a request).
        let _ = conn.writer().write_all(&first_flight);
    });
    let stream = tokio::time::timeout(att.handshake_timeout, connecting).await;
    timings.handshake = start.elapsed();
    let stream = stream.map_err(|_| NetError::Timeout("TLS handshake"))??;
    {
        let conn = stream.get_ref().1;
        check_session(conn.protocol_version(), conn.handshake_kind())?;
        if conn.is_early_data_accepted() {
            return Err(NetError::Session("0-RTT early data was accepted".into()));
        }
    }
    let start = tokio::time::Instant::now();
    let r = AttestedStream::establish(stream, session, att).await;
    timings.attestation = start.elapsed();
    r
}

/// Accepts an attested connection as TLS server over `io`.
pub async fn accept<IO>(
    tls: &Arc<rustls::ServerConfig>,
    io: IO,
    att: &AttestationConfig,
) -> Result<(AttestedStream<tokio_rustls::server::TlsStream<IO>>, Option<Ear>), NetError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut timings = Timings::default();
    accept_timed(tls, io, att, &mut timings).await
}

/// [`accept`], also filling in how long the handshake and the attestation
/// took (`timings`, as far as the connection got).
pub async fn accept_timed<IO>(
    tls: &Arc<rustls::ServerConfig>,
    io: IO,
    att: &AttestationConfig,
    timings: &mut Timings,
) -> Result<(AttestedStream<tokio_rustls::server::TlsStream<IO>>, Option<Ear>), NetError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    tls::check_server_config(tls)?;
    att.check()?;
    if att.required_host_identity().is_some() {
        // Fail closed rather than skip: a server dialled no name.
        return Err(NetError::Config(
            "host identity (I1) checks the name a client dialled; a server cannot require it of its clients".into(),
        ));
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.clone());
    let start = tokio::time::Instant::now();
    let stream = tokio::time::timeout(att.handshake_timeout, acceptor.accept(io)).await;
    timings.handshake = start.elapsed();
    let stream = stream.map_err(|_| NetError::Timeout("TLS handshake"))??;
    {
        let conn = stream.get_ref().1;
        check_session(conn.protocol_version(), conn.handshake_kind())?;
    }
    let start = tokio::time::Instant::now();
    let r = AttestedStream::establish(stream, Session::new(att.session(Role::Server, None)), att).await;
    timings.attestation = start.elapsed();
    r
}

/// Largest amount of application data buffered while waiting for a
/// re-attestation result.
const MAX_BUFFERED_DATA: usize = 1 << 20;

/// Largest amount of our own frames (answers to the peer's requests)
/// queued while the peer does not read; beyond it we stop reading from the
/// peer until it does.
const MAX_QUEUED_OUTPUT: usize = 1 << 20;

/// The ERROR frame that tells the peer why we stop, if any (refusals
/// already sent an OUTCOME; I/O errors cannot be reported).
fn error_frame_for(e: &NetError) -> Option<Frame> {
    use crate::transport::frame::error_code;
    match e {
        NetError::Attestation(se) => se.error_frame(),
        NetError::Frame(fe) => Some(Frame::Error {
            code: match fe {
                FrameError::TooLarge { .. } => error_code::FRAME_TOO_LARGE,
                FrameError::Decode(_) => error_code::DECODE_ERROR,
            },
            reason: fe.to_string(),
        }),
        NetError::Timeout(step) => Some(Frame::Error {
            code: error_code::TIMEOUT,
            reason: format!("timed out during {step}"),
        }),
        NetError::AttesterBusy { .. } => Some(Frame::Error {
            code: error_code::BUSY,
            reason: e.to_string(),
        }),
        _ => None,
    }
}

/// An attested connection: application bytes in DATA frames, attestation
/// frames handled in-band.
///
/// Re-attestation requests from the peer are answered whether this side
/// reads or only writes: when no read is pending, writes and flushes also
/// look for incoming frames (without blocking), so an attester that
/// streams a long response still answers. Application data found that way
/// is kept for the next read, up to 64 KiB; beyond that, incoming frames
/// wait for the application to read.
pub struct AttestedStream<S> {
    inner: S,
    session: Session,
    decoder: FrameDecoder,
    out: Vec<u8>,
    app: Vec<u8>,
    app_pos: usize,
    peer_ear: Option<Ear>,
    attestation_timeout: Duration,
    eof: bool,
    /// Set on any error: the connection is dead for the application from
    /// then on (no buffered data is delivered, nothing more is sent).
    failed: bool,
    /// Evidence being produced on the blocking pool for a peer's request.
    evidence_job: Option<EvidenceJob>,
    /// The peer's Evidence being appraised by the remote verifier.
    appraisal_job: Option<AppraisalJob>,
    /// The remote verifier's client (from the configuration).
    remote_client: Option<Arc<dyn RemoteVerifierClient>>,
    /// The bound on attester calls this connection's calls count against.
    attester_calls: AttesterCallLimit,
    /// Set when the connection failed: the ERROR frame and the TLS
    /// close_notify are being sent; the poll methods report the error once
    /// they are out.
    closing: Option<Closing>,
    /// The last `poll_read` returned Pending: a reader is waiting and will
    /// handle incoming frames, so writes do not read (they would replace
    /// its waker).
    reader_waiting: bool,
    /// Our AUTHENTICATOR is in `out` and not yet written to the TLS stream:
    /// no more of the peer's frames are handled until it is, so that one
    /// attester call at a time is outstanding (a pipelining peer's next
    /// request waits for our answer to be written).
    answer_unflushed: bool,
}

/// Application data a write-only side buffers while it looks for the
/// peer's attestation frames.
const MAX_BUFFERED_WHILE_WRITING: usize = 64 * 1024;

/// An attester call running on tokio's blocking pool, with its deadline.
/// The call holds its [`AttesterCallLimit`] permit itself, so the permit is
/// released when the call returns, even after the job is dropped.
struct EvidenceJob {
    request_id: u32,
    handle: tokio::task::JoinHandle<Result<crate::cmw::Cmw, crate::attester::AttestError>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Drop for EvidenceJob {
    fn drop(&mut self) {
        // A call still waiting for a blocking thread is cancelled (it has
        // not touched the platform yet); a running one cannot be and
        // finishes on its own thread, its result dropped.
        self.handle.abort();
    }
}

/// An exchange with the remote verifier, run as a task (it does network
/// I/O) under the verifier's timeout; aborted when the job is dropped.
struct AppraisalJob {
    request_id: u32,
    handle: tokio::task::JoinHandle<Result<Ear, RemoteVerifierError>>,
}

impl Drop for AppraisalJob {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// How long a failing connection tries to deliver its ERROR frame and TLS
/// close_notify to a peer that does not read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The close of a failed connection.
struct Closing {
    /// Gives up on a peer that does not read.
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// The ERROR frame and the close_notify are out, or could not be sent.
    done: bool,
    /// What the poll method that failed reports, once the close is done.
    error: Option<io::Error>,
}

fn failed_error() -> io::Error {
    io::Error::other("attested session failed")
}

impl<S> std::fmt::Debug for AttestedStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestedStream")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<S: TlsStreamExt> AttestedStream<S> {
    /// Runs the attestation exchange over a TLS connection of another TLS
    /// stack (OpenSSL, say) whose handshake has completed, as [`connect`]
    /// (`tls_role` [`Role::Client`]) or [`accept`] ([`Role::Server`]) do
    /// after theirs: returns the stream only after attestation succeeded in
    /// every direction the two sides require, with the peer's result.
    ///
    /// The caller must have checked what [`connect`] and [`accept`] check
    /// for rustls: TLS 1.3, a full handshake (no resumption), no 0-RTT data
    /// accepted, and a server that issues no session tickets. The exchange
    /// takes its exporter values from [`TlsStreamExt::exporter`].
    ///
    /// `server_name` is the name a TLS client dialled: host identity (I1),
    /// when `att` requires it, is checked for that name, as [`connect`]
    /// does. Requiring I1 without a name, or on the TLS server side (which
    /// dialled no name), is a configuration error, never a skipped check.
    pub async fn establish_over(
        stream: S,
        tls_role: Role,
        server_name: Option<&str>,
        att: &AttestationConfig,
    ) -> Result<(Self, Option<Ear>), NetError> {
        att.check()?;
        let name = match server_name {
            Some(n) => Some(
                ServerName::try_from(n.to_string())
                    .map_err(|e| NetError::Config(format!("invalid server name {n:?}: {e}")))?,
            ),
            None => None,
        };
        if att.required_host_identity().is_some() && (tls_role == Role::Server || name.is_none()) {
            return Err(NetError::Config(
                "host identity (I1) is checked by a TLS client for the name it dialled: \
                 give the client its server name, and do not require I1 on a TLS server"
                    .into(),
            ));
        }
        Self::establish(stream, Session::new(att.session(tls_role, name.as_ref())), att).await
    }

    async fn establish(inner: S, session: Session, att: &AttestationConfig) -> Result<(Self, Option<Ear>), NetError> {
        let max_frame = session.config().max_frame;
        let timeout = att.attestation_timeout;
        let mut s = Self {
            inner,
            session,
            decoder: FrameDecoder::new(max_frame),
            out: Vec::new(),
            app: Vec::new(),
            app_pos: 0,
            peer_ear: None,
            attestation_timeout: timeout,
            eof: false,
            failed: false,
            evidence_job: None,
            appraisal_job: None,
            remote_client: att.remote_client.clone(),
            attester_calls: att.attester_calls.clone(),
            closing: None,
            reader_waiting: false,
            answer_unflushed: false,
        };
        let r = tokio::time::timeout(timeout, s.drive(|s| s.session.is_ready(), "attestation")).await;
        match r {
            Ok(Ok(())) => {
                let ear = s.peer_ear.clone();
                Ok((s, ear))
            }
            Ok(Err(e)) => Err(s.fail(e).await),
            Err(_) => {
                let step = s.attestation_step("attestation");
                Err(s.fail(NetError::Timeout(step)).await)
            }
        }
    }

    /// Sends pending output, then reads frames (and collects Evidence being
    /// produced for the peer) until `done` holds.
    async fn drive(&mut self, done: impl Fn(&Self) -> bool, step: &'static str) -> Result<(), NetError> {
        loop {
            self.flush_session().await?;
            if done(self) {
                return Ok(());
            }
            // While the peer works on its answer, derive the exporter values
            // that checking it will need.
            self.session.prepare(self.inner.exporter());
            // The peer's bytes or our Evidence, whichever comes first.
            let read = std::future::poll_fn(|cx| {
                match self.poll_evidence(cx) {
                    Poll::Ready(Ok(true)) => return Poll::Ready(Ok(None)),
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(false)) | Poll::Pending => {}
                }
                self.poll_fill(cx).map(|r| r.map(Some).map_err(NetError::Io))
            })
            .await?;
            match read {
                None => {} // Evidence arrived: the authenticator is queued.
                Some(0) if !self.decoder.is_empty() => {
                    return Err(NetError::ClosedInFrame(self.attestation_step(step)))
                }
                Some(0) => return Err(NetError::Closed(self.attestation_step(step))),
                Some(_) => self.process_frames()?,
            }
        }
    }

    /// `step`, named more precisely for the initial exchange: what it was
    /// waiting for (the peer's HELLO, AUTH_REQUEST, AUTHENTICATOR, OUTCOME,
    /// or our attester), so that a deadline or an early end says where the
    /// exchange stopped.
    fn attestation_step(&self, step: &'static str) -> &'static str {
        match (step, self.session.awaiting()) {
            ("attestation", Some(a)) => a.step(),
            _ => step,
        }
    }

    /// Reads what the peer has sent into the frame decoder: the number of
    /// bytes, 0 at the end of the stream (which sets `eof`).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // Left uninitialized: zeroing 16 KiB on every call (every read, and
        // every write through poll_incoming, most of them Pending) cost
        // more than anything else outside the crypto in the adapter.
        // ReadBuf tracks what the stream filled; tokio-rustls only copies
        // into it, a stream that wants it initialized initializes it.
        let mut tmp = [std::mem::MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut rb = ReadBuf::uninit(&mut tmp);
        ready!(Pin::new(&mut self.inner).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        if n == 0 {
            self.eof = true;
        } else {
            self.decoder.push(rb.filled());
        }
        Poll::Ready(Ok(n))
    }

    /// Completes a running attester call or remote appraisal:
    /// `Ready(Ok(true))` when Evidence was handed to the session (an
    /// authenticator is queued) or the remote verifier's result was (an
    /// OUTCOME is queued), `Ready(Ok(false))` when no attester call is
    /// running, an error when the attester failed or missed the
    /// attestation deadline, or the remote appraisal refused the peer.
    fn poll_evidence(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, NetError>> {
        // The remote verifier's answer, if one is awaited.
        if let Some(job) = &mut self.appraisal_job {
            if let Poll::Ready(joined) = Pin::new(&mut job.handle).poll(cx) {
                let request_id = job.request_id;
                self.appraisal_job = None;
                let result = joined.unwrap_or_else(|e| {
                    Err(RemoteVerifierError::Protocol {
                        url: String::new(),
                        reason: format!("the remote appraisal task failed: {e}"),
                    })
                });
                self.session.provide_appraisal(request_id, result)?;
                self.handle_events()?;
                return Poll::Ready(Ok(true));
            }
        }
        // (A remote appraisal still running has registered our waker and
        // is not reported: the caller reads meanwhile.)
        let Some(job) = &mut self.evidence_job else {
            return Poll::Ready(Ok(false));
        };
        if let Poll::Ready(joined) = Pin::new(&mut job.handle).poll(cx) {
            let request_id = job.request_id;
            self.evidence_job = None;
            let evidence = joined.unwrap_or_else(|e| {
                Err(crate::attester::AttestError::Other(format!(
                    "the attester task failed: {e}"
                )))
            });
            self.session
                .provide_evidence(request_id, evidence, self.inner.exporter())?;
            return Poll::Ready(Ok(true));
        }
        if job.deadline.as_mut().poll(cx).is_ready() {
            // The blocking call cannot be interrupted; it finishes (or not)
            // on its own thread, and its result is dropped.
            self.evidence_job = None;
            return Poll::Ready(Err(NetError::Timeout("attestation (our attester)")));
        }
        Poll::Pending
    }

    async fn flush_session(&mut self) -> Result<(), NetError> {
        let out = self.session.take_outgoing();
        self.out.extend_from_slice(&out);
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            self.inner.write_all(&out).await?;
            self.inner.flush().await?;
        }
        self.answer_unflushed = false;
        Ok(())
    }

    fn process_frames(&mut self) -> Result<(), NetError> {
        while let Some(frame) = self.decoder.next_frame()? {
            self.session.handle_frame(frame, self.inner.exporter())?;
            self.handle_events()?;
        }
        Ok(())
    }

    /// Acts on what the session reports.
    fn handle_events(&mut self) -> Result<(), NetError> {
        {
            while let Some(ev) = self.session.poll_event() {
                match ev {
                    Event::PeerAttested { ear, .. } => self.peer_ear = Some(*ear),
                    Event::Data(d) => {
                        if self.app.len() - self.app_pos + d.len() > MAX_BUFFERED_DATA {
                            return Err(NetError::Attestation(SessionError::State(
                                "too much application data buffered while re-attesting",
                            )));
                        }
                        if self.app.is_empty() {
                            // Nothing unread: take the payload as it is.
                            self.app = d;
                            self.app_pos = 0;
                        } else {
                            self.app.extend_from_slice(&d);
                        }
                    }
                    Event::EvidenceRequested { request_id, binding } => {
                        let Some(attester) = self.session.config().attester.clone() else {
                            return Err(NetError::Attestation(SessionError::State("no attester")));
                        };
                        // The session asks for one at a time; replacing a
                        // running job would orphan its call.
                        if self.evidence_job.is_some() {
                            return Err(NetError::Attestation(SessionError::State(
                                "Evidence requested while an attester call is running on this connection",
                            )));
                        }
                        let permit = self.attester_calls.try_acquire()?;
                        self.evidence_job = Some(EvidenceJob {
                            request_id,
                            handle: tokio::task::spawn_blocking(move || {
                                let _permit = permit;
                                attester.attest(&binding)
                            }),
                            deadline: Box::pin(tokio::time::sleep(self.attestation_timeout)),
                        });
                    }
                    Event::AppraisalRequested {
                        request_id,
                        cmw,
                        expected,
                    } => self.start_remote_appraisal(request_id, cmw, expected)?,
                    Event::AttestationAccepted { .. } | Event::Ready => {}
                }
            }
        }
        Ok(())
    }

    /// Starts the remote verifier's exchange for the peer's Evidence as a
    /// task: the HTTP call under the verifier's timeout, then the checks
    /// of its answer.
    fn start_remote_appraisal(
        &mut self,
        request_id: u32,
        cmw: Vec<u8>,
        expected: crate::binder::ExpectedBinding,
    ) -> Result<(), NetError> {
        let config = self.session.config();
        let (Some(remote), Some(client)) = (
            config.appraiser.as_ref().and_then(|a| a.remote_verifier()).cloned(),
            self.remote_client.clone(),
        ) else {
            return Err(NetError::Attestation(SessionError::State(
                "a remote appraisal was requested without a remote verifier and its client",
            )));
        };
        if self.appraisal_job.is_some() {
            return Err(NetError::Attestation(SessionError::State(
                "a remote appraisal was requested while one is running on this connection",
            )));
        }
        let clock = config.clock.clone();
        let media_type = crate::remote::cmw_media_type(&cmw);
        let nonce = crate::remote::RemoteVerifier::nonce_for(&expected);
        let call = client.appraise(remote.url(), media_type, cmw, nonce);
        let handle = tokio::spawn(async move {
            let token = match tokio::time::timeout(remote.timeout(), call).await {
                Ok(r) => r?,
                Err(_) => {
                    return Err(RemoteVerifierError::Timeout {
                        url: remote.url().to_string(),
                        secs: remote.timeout().as_secs(),
                    })
                }
            };
            remote.check_result(&token, &expected, clock())
        });
        self.appraisal_job = Some(AppraisalJob { request_id, handle });
        Ok(())
    }

    /// Marks the connection failed and drops what the application has not
    /// read yet: data from a peer whose attestation failed is not delivered.
    fn mark_failed(&mut self) {
        self.failed = true;
        self.app = Vec::new();
        self.app_pos = 0;
    }

    /// Tells the peer why we stop and closes (best effort, see
    /// [`AttestedStream::poll_close`]), then returns the error.
    async fn fail(&mut self, e: NetError) -> NetError {
        self.start_closing(error_frame_for(&e), None);
        std::future::poll_fn(|cx| self.poll_close(cx)).await;
        e
    }

    /// Marks the stream failed and queues, after what is already queued,
    /// the ERROR frame that tells the peer why (if any); the close itself
    /// is [`AttestedStream::poll_close`]. `error` is what the poll method
    /// that failed reports once the close is done.
    fn start_closing(&mut self, frame: Option<Frame>, error: Option<io::Error>) {
        self.mark_failed();
        // The connection is dead: its Evidence is not needed any more, nor
        // the remote verifier's answer.
        self.evidence_job = None;
        self.appraisal_job = None;
        self.out.extend(self.session.take_outgoing());
        if let Some(f) = frame {
            f.encode_into(&mut self.out);
        }
        self.closing = Some(Closing {
            deadline: Box::pin(tokio::time::sleep(CLOSE_TIMEOUT)),
            done: false,
            error,
        });
    }

    /// Closes a failed connection: writes the queued frames (the ERROR
    /// frame last), then the TLS close_notify, flushed, and shuts down the
    /// socket's write side, so that the peer reads the ERROR frame followed
    /// by an orderly TLS close (RFC 8446 §6.1), never a bare TCP end. Ready
    /// when that is done, when sending failed, or at the close deadline (a
    /// peer that does not read cannot hold the connection open).
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &self.closing {
            Some(c) if !c.done => {}
            _ => return Poll::Ready(()),
        }
        let sent = match self.poll_flush_out(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx).map(|_| ()),
            Poll::Ready(Err(_)) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        };
        let closing = self.closing.as_mut().expect("checked above");
        if sent.is_pending() && closing.deadline.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        closing.done = true;
        Poll::Ready(())
    }

    /// For the poll methods of a failed connection: completes the close,
    /// then yields the error (the one that failed it, the first time).
    fn poll_closed_error(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        ready!(self.poll_close(cx));
        Poll::Ready(
            self.closing
                .as_mut()
                .and_then(|c| c.error.take())
                .unwrap_or_else(failed_error),
        )
    }

    /// Re-attests the peer on this live connection (a new request with a
    /// new context) and returns the new result. A refusal is fatal for the
    /// connection. Application data received meanwhile is kept for reading.
    pub async fn reattest(&mut self) -> Result<Ear, NetError> {
        if self.failed {
            return Err(NetError::Failed);
        }
        self.session.start_reattestation()?;
        self.peer_ear = None;
        let timeout = self.attestation_timeout;
        let fut = self.drive(
            |s| s.session.outstanding_requests() == 0 && s.peer_ear.is_some(),
            "re-attestation",
        );
        let r = tokio::time::timeout(timeout, fut).await;
        match r {
            Ok(Ok(())) => Ok(self.peer_ear.clone().expect("checked by drive")),
            Ok(Err(e)) => Err(self.fail(e).await),
            Err(_) => Err(self.fail(NetError::Timeout("re-attestation")).await),
        }
    }

    /// Ends the connection for a reason of the application (say, an idle
    /// timeout: ERROR 6): sends ERROR `code` (see
    /// [`crate::transport::frame::error_code`]) with `reason` after what is
    /// queued, then the TLS close_notify, as every failed connection does
    /// (giving up after 1 s on a peer that does not read). The stream is
    /// failed from then on; after a failure it does nothing.
    pub async fn close_with_error(&mut self, code: u16, reason: &str) {
        if self.failed {
            return;
        }
        let frame = Frame::Error {
            code,
            reason: reason.to_string(),
        };
        self.start_closing(Some(frame), None);
        std::future::poll_fn(|cx| self.poll_close(cx)).await;
    }

    /// The latest attestation result of the peer (if this side appraises it).
    pub fn peer_attestation(&self) -> Option<&Ear> {
        self.peer_ear.as_ref()
    }

    /// The underlying TLS stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

fn io_err(e: impl Into<NetError>) -> io::Error {
    io::Error::other(e.into())
}

impl<S: TlsStreamExt> AsyncRead for AttestedStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.reader_waiting = false;
        if this.closing.is_some() {
            return this.poll_closed_error(cx).map(Err);
        }
        // Checked before anything buffered is handed out.
        if this.failed || this.session.has_failed() {
            this.mark_failed();
            return Poll::Ready(Err(failed_error()));
        }
        loop {
            if this.app_pos < this.app.len() {
                let n = (this.app.len() - this.app_pos).min(buf.remaining());
                buf.put_slice(&this.app[this.app_pos..this.app_pos + n]);
                this.app_pos += n;
                if this.app_pos == this.app.len() {
                    this.app.clear();
                    this.app_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            // Answers to re-attestation requests go out while we read. A
            // peer that sends requests without reading our answers is not
            // read from until it does.
            match this.poll_flush_out(cx) {
                Poll::Ready(Err(e)) => {
                    this.mark_failed();
                    return Poll::Ready(Err(e));
                }
                Poll::Pending if this.out.len() > MAX_QUEUED_OUTPUT || this.answer_unflushed => {
                    this.reader_waiting = true;
                    return Poll::Pending;
                }
                _ => {}
            }
            // Evidence for a re-attestation request of the peer.
            match this.poll_evidence(cx) {
                Poll::Ready(Ok(true)) => continue,
                Poll::Ready(Err(e)) => return this.fail_now(cx, e).map(Err),
                Poll::Ready(Ok(false)) | Poll::Pending => {}
            }
            if this.eof {
                if !this.decoder.is_empty() {
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "truncated frame");
                    this.start_closing(None, Some(e));
                    return this.poll_closed_error(cx).map(Err);
                }
                return Poll::Ready(Ok(()));
            }
            match this.poll_fill(cx) {
                Poll::Pending => {
                    this.reader_waiting = true;
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => {
                    this.mark_failed();
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(0)) => {} // end of stream: handled on the next turn of the loop
                Poll::Ready(Ok(_)) => {
                    if let Err(e) = this.process_frames() {
                        return this.fail_now(cx, e).map(Err);
                    }
                }
            }
        }
    }
}

impl<S: TlsStreamExt> AttestedStream<S> {
    /// `fail` for the poll methods: marks the stream failed, queues the
    /// ERROR frame and closes; the error is ready once the ERROR frame and
    /// the close_notify are out (an application that drops the stream on
    /// the error has then closed it properly).
    fn fail_now(&mut self, cx: &mut Context<'_>, e: NetError) -> Poll<io::Error> {
        self.start_closing(error_frame_for(&e), Some(io_err(e)));
        self.poll_closed_error(cx)
    }

    /// For writes: handles whatever the peer has sent, without waiting for
    /// more, unless a reader is waiting (it handles it) or enough of the
    /// peer's application data is already buffered. This is how a side that
    /// only writes still answers re-attestation requests.
    fn poll_incoming(&mut self, cx: &mut Context<'_>) -> Result<(), NetError> {
        loop {
            if self.reader_waiting || self.eof || self.failed || self.answer_unflushed {
                return Ok(());
            }
            if let Poll::Ready(done) = self.poll_evidence(cx) {
                if done? {
                    continue;
                }
            }
            if self.app.len() - self.app_pos >= MAX_BUFFERED_WHILE_WRITING {
                return Ok(());
            }
            match self.poll_fill(cx) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Err(e)) => return Err(NetError::Io(e)),
                // Reported (with a truncated frame, if any) by the next read.
                Poll::Ready(Ok(0)) => return Ok(()),
                Poll::Ready(Ok(_)) => self.process_frames()?,
            }
        }
    }

    /// Writes queued frames; Ready when all are written.
    fn poll_flush_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.answer_unflushed |= self.session.has_untaken_answer();
        let more = self.session.take_outgoing();
        if self.out.is_empty() {
            // Nothing queued: take the session's bytes without a copy.
            self.out = more;
        } else {
            self.out.extend_from_slice(&more);
        }
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.drain(..n);
        }
        self.answer_unflushed = false;
        Poll::Ready(Ok(()))
    }
}

impl<S: TlsStreamExt> AsyncWrite for AttestedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.closing.is_some() {
            return this.poll_closed_error(cx).map(Err);
        }
        if this.failed {
            return Poll::Ready(Err(failed_error()));
        }
        if let Err(e) = this.poll_incoming(cx) {
            return this.fail_now(cx, e).map(Err);
        }
        ready!(this.poll_flush_out(cx))?;
        let n = buf.len().min(crate::transport::frame::MAX_DATA_CHUNK);
        this.session.send_data(&buf[..n]).map_err(io_err)?;
        let _ = this.poll_flush_out(cx)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.closing.is_some() {
            return this.poll_closed_error(cx).map(Err);
        }
        if !this.failed {
            if let Err(e) = this.poll_incoming(cx) {
                return this.fail_now(cx, e).map(Err);
            }
        }
        ready!(this.poll_flush_out(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.closing.is_some() {
            // A failed connection closes itself; its error is reported if
            // no other call has reported it yet.
            ready!(this.poll_close(cx));
            return Poll::Ready(match this.closing.as_mut().and_then(|c| c.error.take()) {
                Some(e) => Err(e),
                None => Ok(()),
            });
        }
        ready!(this.poll_flush_out(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
