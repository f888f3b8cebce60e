//! The attestation session: a sans-IO state machine that runs the
//! attested-tls transport over one TLS 1.3 connection.
//!
//! Feed it decoded [`Frame`]s with [`Session::handle_frame`] (together with
//! the connection's [`Exporter`]), send what [`Session::take_outgoing`]
//! returns, and read [`Event`]s. It never touches a socket; the tokio
//! adapter in [`crate::net`] moves the bytes.
//!
//! ```text
//! both sides:   HELLO ->
//! requester:    AUTH_REQUEST(id, ClientCertificateRequest|CertificateRequest) ->
//! attester:                 <- AUTHENTICATOR(id, Certificate||CertificateVerify||Finished)
//! requester:    OUTCOME(id, accepted|refused, reason, EAR) ->
//! both, once ready:  DATA <-> DATA    (AUTH_REQUEST at any time re-attests)
//! ```
//!
//! A side is *ready* when its own initial request was accepted (if it
//! requires attestation) and the peer accepted its answer to the peer's
//! initial request (if the peer requires attestation). DATA before that is
//! a protocol violation: no application byte before attestation.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::frame::{
    error_code, Frame, Hello, OutcomeStatus, FLAG_CAN_ATTEST, FLAG_REQUIRES_PEER_ATTESTATION, KNOWN_FLAGS,
    MAX_DATA_CHUNK, MIN_MAX_FRAME, VERSION,
};
use crate::attester::{AttestError, Attester};
use crate::binder::{ExpectedBinding, EXPORTED_VALUE_LEN};
use crate::codec::AuthenticatorRequest;
use crate::ea::{self, AuthenticatorIdentity, ContextRegistry, EaError, EaProfile, Role};
use crate::ear::{escape_control, Ear};
use crate::exporter::{Exporter, ExporterCache};
use crate::host_identity::{HostIdentityCheck, HostIdentityError};
use crate::verifier::Appraiser;

/// Source of the verification time.
pub type Clock = Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>;

/// What one side of an attested connection does.
#[derive(Clone)]
pub struct SessionConfig {
    /// Our TLS role. It fixes the request type we send (a client sends
    /// ClientCertificateRequest) and the labels of the authenticators we send.
    pub tls_role: Role,
    /// Code point, exporter label and schemes.
    pub profile: EaProfile,
    /// Produces our Evidence when the peer asks; `None` = we cannot attest
    /// (we answer requests with the empty authenticator).
    pub attester: Option<Arc<dyn Attester>>,
    /// The key and certificate our authenticators are signed with.
    pub identity: Option<AuthenticatorIdentity>,
    /// Appraises the peer's Evidence; `Some` = we require the peer to attest.
    pub appraiser: Option<Appraiser>,
    /// Host identity (I1): when set, every authenticator of the peer must
    /// also carry a certificate chain for this server name from these
    /// roots, its end entity being the attested key; checked after the
    /// appraisal and recorded in the EAR (see [`crate::host_identity`]).
    /// Requires `appraiser`.
    pub host_identity: Option<HostIdentityCheck>,
    /// Largest frame payload we accept.
    pub max_frame: usize,
    /// Verification time for appraisals.
    pub clock: Clock,
    /// `false` (default): the session calls the attester itself when a
    /// request arrives. `true`: it emits [`Event::EvidenceRequested`]
    /// instead and the caller obtains the Evidence however it likes (on
    /// another thread, under a deadline) and hands the result to
    /// [`Session::provide_evidence`]. The tokio adapter does this for
    /// attesters that [may block](crate::attester::Attester::may_block).
    pub defer_attestation: bool,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("tls_role", &self.tls_role)
            .field("profile", &self.profile)
            .field("attester", &self.attester.as_ref().map(|a| a.platform().to_string()))
            .field("appraiser", &self.appraiser)
            .field("host_identity", &self.host_identity)
            .field("max_frame", &self.max_frame)
            .finish_non_exhaustive()
    }
}

impl SessionConfig {
    /// A configuration for `tls_role` with the default profile, nothing to
    /// attest and nothing to appraise yet.
    pub fn new(tls_role: Role) -> Self {
        Self {
            tls_role,
            profile: EaProfile::default(),
            attester: None,
            identity: None,
            appraiser: None,
            host_identity: None,
            max_frame: super::frame::DEFAULT_MAX_FRAME,
            clock: Arc::new(time::OffsetDateTime::now_utc),
            defer_attestation: false,
        }
    }
}

/// What happened, for the application.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The peer's Evidence was appraised and accepted.
    PeerAttested {
        /// Our request id.
        request_id: u32,
        /// The appraisal result.
        ear: Box<Ear>,
    },
    /// The peer accepted our Evidence.
    AttestationAccepted {
        /// The peer's request id.
        request_id: u32,
        /// The peer's stated reason.
        reason: String,
    },
    /// Attestation is complete in both required directions: application
    /// data may flow.
    Ready,
    /// Application bytes from the peer.
    Data(Vec<u8>),
    /// (Only when the appraiser names a remote verifier,
    /// [`Appraiser::remote_verifier`].) The peer's Evidence for our request
    /// `request_id` must be appraised by the remote verifier: send `cmw`
    /// with the nonce [`crate::remote::RemoteVerifier::nonce_for`]`(expected)`,
    /// check the answer with [`crate::remote::RemoteVerifier::check_result`]
    /// and pass the outcome to [`Session::provide_appraisal`]. The tokio
    /// adapter does this with the configured
    /// [`crate::remote::RemoteVerifierClient`].
    AppraisalRequested {
        /// Our request id.
        request_id: u32,
        /// The peer's CMW, as its authenticator carried it.
        cmw: Vec<u8>,
        /// The binding the relying party computed for this authenticator.
        expected: ExpectedBinding,
    },
    /// (Only with [`SessionConfig::defer_attestation`].) The peer asked us
    /// to attest: produce Evidence for `binding` with our attester and pass
    /// the result to [`Session::provide_evidence`].
    EvidenceRequested {
        /// The peer's request id.
        request_id: u32,
        /// What the Evidence must commit to.
        binding: crate::binder::BindingClaims,
    },
}

/// The step of the initial exchange a session waits for (see
/// [`Session::awaiting`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Awaiting {
    /// The peer's HELLO.
    PeerHello,
    /// The peer's AUTH_REQUEST (its HELLO requires our attestation).
    PeerRequest,
    /// The peer's AUTHENTICATOR answering our request.
    PeerAuthenticator,
    /// Our attester's Evidence for the peer's request.
    OurEvidence,
    /// The peer's OUTCOME for our AUTHENTICATOR.
    PeerOutcome,
}

impl Awaiting {
    /// The step as named in errors: `attestation (the peer's HELLO)`, ...
    pub fn step(self) -> &'static str {
        match self {
            Self::PeerHello => "attestation (waiting for the peer's HELLO)",
            Self::PeerRequest => "attestation (waiting for the peer's AUTH_REQUEST)",
            Self::PeerAuthenticator => "attestation (waiting for the peer's AUTHENTICATOR)",
            Self::OurEvidence => "attestation (our attester)",
            Self::PeerOutcome => "attestation (waiting for the peer's OUTCOME)",
        }
    }
}

/// Why a session failed. Every variant is fatal for the connection.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The peer sent a frame that is not allowed now.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Application data arrived before attestation completed.
    #[error("the peer sent application data before attestation completed")]
    ApplicationDataBeforeAttestation,
    /// Version or profile mismatch.
    #[error("peer is incompatible: {0}")]
    Incompatible(String),
    /// Neither side requires attestation: that is not an attested connection.
    #[error("neither side requires attestation; refusing an unattested connection")]
    NoAttestation,
    /// The peer declined to attest: it answered with the empty
    /// authenticator (an OUTCOME refused was sent).
    #[error("the peer declined to attest: {0}")]
    PeerDeclined(String),
    /// We require attestation but the peer's HELLO says it has no attester.
    #[error("the peer cannot attest: {0}")]
    PeerCannotAttest(String),
    /// The peer's authenticator is invalid.
    #[error("the peer's authenticator is invalid: {0}")]
    Authenticator(#[source] EaError),
    /// A request from the peer could not be answered.
    #[error("cannot answer the peer's authenticator request: {0}")]
    Request(#[source] EaError),
    /// Our attester failed.
    #[error("our attester failed: {0}")]
    Attester(#[from] AttestError),
    /// We appraised the peer's Evidence and refused it.
    #[error("peer attestation refused: {summary}")]
    PeerNotTrusted {
        /// Policy id and failing claims.
        summary: String,
        /// The full result.
        ear: Box<Ear>,
    },
    /// The peer appraised our Evidence and refused it.
    #[error("the peer refused our attestation: {0}")]
    RefusedByPeer(String),
    /// The peer reported a fatal error.
    #[error("the peer reported error {code}: {reason}")]
    PeerError {
        /// ERROR code.
        code: u16,
        /// Its reason.
        reason: String,
    },
    /// The remote verifier named by our policy could not appraise the
    /// peer's Evidence, or its answer was refused (signature, freshness,
    /// binding); an OUTCOME refused was sent.
    #[error("peer attestation refused: {0}")]
    RemoteVerifier(#[source] crate::remote::RemoteVerifierError),
    /// Operation not possible in this state.
    #[error("{0}")]
    State(&'static str),
}

impl SessionError {
    /// The ERROR frame to send the peer before closing, if any (refusals
    /// already sent an OUTCOME; peer errors need no echo).
    pub fn error_frame(&self) -> Option<Frame> {
        let code = match self {
            Self::Protocol(_) | Self::ApplicationDataBeforeAttestation => error_code::PROTOCOL_VIOLATION,
            Self::Incompatible(_) | Self::NoAttestation | Self::PeerCannotAttest(_) => error_code::UNSUPPORTED,
            Self::Request(EaError::Decode(_)) => error_code::DECODE_ERROR,
            // The peer's request breaks the protocol (replayed or empty
            // context, wrong request type for our role, too many contexts).
            Self::Request(
                EaError::ContextReused(_)
                | EaError::EmptyContext
                | EaError::WrongRequestType { .. }
                | EaError::ContextLimit(_),
            ) => error_code::PROTOCOL_VIOLATION,
            // Nothing in the request that we can sign with, or a plain
            // RFC 9261 request that does not ask for attestation (this
            // transport only attests).
            Self::Request(
                EaError::MissingSignatureAlgorithms
                | EaError::NoCommonScheme { .. }
                | EaError::AttestationNotRequested(_),
            ) => error_code::UNSUPPORTED,
            Self::Request(_) | Self::Attester(_) | Self::State(_) => error_code::INTERNAL,
            Self::PeerDeclined(_) | Self::Authenticator(_) | Self::PeerNotTrusted { .. } | Self::RemoteVerifier(_) => {
                return None
            }
            Self::RefusedByPeer(_) | Self::PeerError { .. } => return None,
        };
        // Local failures stay local: the peer is not yet trusted and needs
        // no device paths, process ids or panic messages to know that we
        // failed. The full error is the caller's to log.
        let reason = match self {
            Self::Attester(_) => "our attester failed to produce Evidence".to_string(),
            Self::Request(EaError::Exporter(_) | EaError::Signing(_)) | Self::State(_) => {
                "internal error while answering".to_string()
            }
            _ => self.to_string(),
        };
        Some(Frame::Error { code, reason })
    }
}

/// One side of the attestation protocol on one connection.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    contexts: ContextRegistry,
    out: Vec<u8>,
    events: VecDeque<Event>,
    peer_hello: Option<Hello>,
    next_request_id: u32,
    pending: HashMap<u32, Vec<u8>>,
    initial_request: Option<u32>,
    initial_accepted: bool,
    peer_initial_request: Option<u32>,
    peer_initial_accepted: bool,
    /// The peer's request we answered and whose OUTCOME we wait for. With
    /// `evidence_wanted` it is the one-request-at-a-time guard: the peer
    /// may send a new request only when both are empty.
    awaiting_outcome: Option<u32>,
    ready: bool,
    failed: bool,
    hello_sent: bool,
    exporter_values: ExporterCache,
    /// A peer request waiting for [`Session::provide_evidence`] (its
    /// Evidence is being produced): its id and bytes. Not yet answered, so
    /// no OUTCOME may concern it.
    evidence_wanted: Option<(u32, Vec<u8>)>,
    /// Our AUTHENTICATOR is queued but not yet taken by the transport
    /// ([`Session::take_outgoing`]): the peer cannot have seen it, so an
    /// OUTCOME for it is a violation. Without this, a peer pipelining
    /// AUTH_REQUEST + OUTCOME pairs got one attester call per pair from a
    /// single read (inline attesters answer at once).
    answer_untaken: bool,
    /// Our request whose authenticator is being appraised by the remote
    /// verifier ([`Event::AppraisalRequested`]), with the peer's
    /// certificate chain (for host identity, checked once the result is in).
    appraisal_wanted: Option<(u32, Vec<Vec<u8>>, [u8; 64])>,
}

impl Session {
    /// Starts a session: queues our HELLO and, if we require attestation,
    /// our initial request.
    ///
    /// # Panics
    /// If the profile fails [`EaProfile::check`] (a local configuration
    /// error; the tokio adapter checks it first and returns an error).
    pub fn new(cfg: SessionConfig) -> Self {
        if let Err(e) = cfg.profile.check() {
            panic!("invalid attestation profile: {e}");
        }
        let mut s = Self {
            cfg,
            contexts: ContextRegistry::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            peer_hello: None,
            next_request_id: 0,
            pending: HashMap::new(),
            initial_request: None,
            initial_accepted: false,
            peer_initial_request: None,
            peer_initial_accepted: false,
            awaiting_outcome: None,
            ready: false,
            failed: false,
            hello_sent: false,
            exporter_values: ExporterCache::default(),
            evidence_wanted: None,
            answer_untaken: false,
            appraisal_wanted: None,
        };
        // The TLS client always speaks first. A TLS server that has nothing
        // to request holds its HELLO until the client's arrives and sends it
        // together with its answer: one segment and one wake-up fewer.
        if s.cfg.tls_role == Role::Client || s.cfg.appraiser.is_some() {
            s.queue_hello();
        }
        if s.cfg.appraiser.is_some() {
            s.initial_request = Some(s.queue_request());
        }
        s
    }

    fn queue_hello(&mut self) {
        let mut flags = 0;
        // An attester without an authenticator identity cannot answer with
        // Evidence (it would send the empty authenticator), so it does not
        // claim to.
        if self.can_attest() {
            flags |= FLAG_CAN_ATTEST;
        }
        if self.cfg.appraiser.is_some() {
            flags |= FLAG_REQUIRES_PEER_ATTESTATION;
        }
        let hello = Hello {
            version: VERSION,
            flags,
            max_frame: self.cfg.max_frame.min(u32::MAX as usize) as u32,
            cmw_ext_type: self.cfg.profile.cmw_ext_type,
            exporter_label: self.cfg.profile.exporter_label.clone(),
        };
        Frame::Hello(hello).encode_into(&mut self.out);
        self.hello_sent = true;
    }

    fn can_attest(&self) -> bool {
        self.cfg.attester.is_some() && self.cfg.identity.is_some()
    }

    /// The peer's frame limit (ours until its HELLO arrived).
    fn peer_max_frame(&self) -> usize {
        self.peer_hello
            .as_ref()
            .map_or(self.cfg.max_frame, |h| h.max_frame as usize)
    }

    fn peer_role(&self) -> Role {
        match self.cfg.tls_role {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }

    fn queue_request(&mut self) -> u32 {
        let id = self.next_request_id;
        self.next_request_id += 1;
        let context = self.contexts.issue();
        let request = self.cfg.profile.request(self.peer_role(), context).encode();
        self.pending.insert(id, request.clone());
        Frame::AuthRequest {
            request_id: id,
            request,
        }
        .encode_into(&mut self.out);
        id
    }

    /// Bytes to send to the peer (inside TLS), draining the queue. The
    /// peer's OUTCOME for our AUTHENTICATOR is accepted only once the
    /// AUTHENTICATOR was taken here (the peer cannot have seen it before).
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        self.answer_untaken = false;
        std::mem::take(&mut self.out)
    }

    /// True when an AUTHENTICATOR of ours is queued and not yet taken with
    /// [`Session::take_outgoing`]. A transport that takes it should not
    /// handle more of the peer's frames until those bytes are written (see
    /// docs/transport.md): the peer's OUTCOME can only follow them.
    pub fn has_untaken_answer(&self) -> bool {
        self.answer_untaken
    }

    /// True when bytes are waiting to be sent.
    pub fn has_outgoing(&self) -> bool {
        !self.out.is_empty()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether application data may flow.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Whether the session has failed (it must then be closed).
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Queues application data. Refused before attestation completed.
    pub fn send_data(&mut self, data: &[u8]) -> Result<(), SessionError> {
        if !self.ready || self.failed {
            return Err(SessionError::State(
                "application data cannot be sent before attestation completed",
            ));
        }
        for chunk in data.chunks(MAX_DATA_CHUNK) {
            // The bytes of `Frame::Data(chunk).encode_into`, written in
            // place: bulk data is not copied twice more on its way.
            self.out.reserve(super::frame::HEADER_LEN + chunk.len());
            self.out.push(super::frame::frame_type::DATA);
            self.out
                .extend_from_slice(&u32::try_from(chunk.len()).expect("at most 16384").to_be_bytes());
            self.out.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Asks the peer to attest again on this connection (a new request with
    /// a new context). Returns the request id; the result arrives as
    /// [`Event::PeerAttested`] or as an error from [`Session::handle_frame`].
    pub fn start_reattestation(&mut self) -> Result<u32, SessionError> {
        if self.cfg.appraiser.is_none() {
            return Err(SessionError::State(
                "re-attestation needs an appraiser (this side does not verify the peer)",
            ));
        }
        if !self.ready || self.failed {
            return Err(SessionError::State(
                "re-attestation is only possible on an attested connection",
            ));
        }
        // The peer answers one request at a time (a second one would be a
        // protocol violation to it).
        if !self.pending.is_empty() {
            return Err(SessionError::State(
                "a re-attestation of the peer is already in progress on this connection",
            ));
        }
        if self.contexts.is_full() {
            return Err(SessionError::Request(EaError::ContextLimit(
                ContextRegistry::MAX_CONTEXTS,
            )));
        }
        Ok(self.queue_request())
    }

    /// Number of our requests still waiting for an authenticator.
    pub fn outstanding_requests(&self) -> usize {
        self.pending.len()
    }

    /// Derives now the exporter values that the answers to our outstanding
    /// requests will need (the peer's authenticator keys and each request's
    /// binder value), so that they are off the critical path when the
    /// answers arrive. Call it after the TLS handshake, while waiting for
    /// the peer; it does nothing when nothing is outstanding. Errors are
    /// left for [`Session::handle_frame`] to report.
    pub fn prepare(&mut self, exporter: &dyn Exporter) {
        if self.pending.is_empty() || self.failed {
            return;
        }
        let exporter = self.exporter_values.with(exporter);
        if ea::keys(&exporter, self.peer_role()).is_err() {
            return;
        }
        for request in self.pending.values() {
            if let Ok(r) = AuthenticatorRequest::decode(request) {
                let _ = exporter.export(&self.cfg.profile.exporter_label, &r.context, EXPORTED_VALUE_LEN);
            }
        }
    }

    /// Processes one frame from the peer. On error the session is failed;
    /// send [`SessionError::error_frame`] if any, then close.
    pub fn handle_frame(&mut self, frame: Frame, exporter: &dyn Exporter) -> Result<(), SessionError> {
        if self.failed {
            return Err(SessionError::State("session already failed"));
        }
        // Taken out for the call so that the handlers may borrow `self`
        // mutably while the exporter borrows the cache.
        let values = std::mem::take(&mut self.exporter_values);
        let r = self.handle(frame, &values.with(exporter));
        self.exporter_values = values;
        if r.is_err() {
            self.failed = true;
            self.ready = false;
        }
        r
    }

    fn handle(&mut self, frame: Frame, exporter: &dyn Exporter) -> Result<(), SessionError> {
        let Some(peer_hello) = &self.peer_hello else {
            return match frame {
                Frame::Hello(h) => self.on_hello(h),
                Frame::Error { code, reason } => Err(SessionError::PeerError {
                    code,
                    reason: escape_control(&reason).into_owned(),
                }),
                Frame::Data(_) => Err(SessionError::ApplicationDataBeforeAttestation),
                other => Err(SessionError::Protocol(format!(
                    "expected HELLO first, got {}",
                    other.name()
                ))),
            };
        };
        let _ = peer_hello;
        match frame {
            Frame::Hello(_) => Err(SessionError::Protocol("second HELLO".into())),
            Frame::AuthRequest { request_id, request } => self.on_request(request_id, &request, exporter),
            Frame::Authenticator {
                request_id,
                authenticator,
            } => self.on_authenticator(request_id, &authenticator, exporter),
            Frame::Outcome {
                request_id,
                status,
                reason,
                ..
            } => self.on_outcome(request_id, status, reason),
            Frame::Data(d) => {
                if !self.ready {
                    return Err(SessionError::ApplicationDataBeforeAttestation);
                }
                self.events.push_back(Event::Data(d));
                Ok(())
            }
            Frame::Error { code, reason } => Err(SessionError::PeerError {
                code,
                reason: escape_control(&reason).into_owned(),
            }),
        }
    }

    fn on_hello(&mut self, h: Hello) -> Result<(), SessionError> {
        if !self.hello_sent {
            self.queue_hello();
        }
        if h.version != VERSION {
            return Err(SessionError::Incompatible(format!(
                "transport version {} (we speak {VERSION})",
                h.version
            )));
        }
        if h.flags & !KNOWN_FLAGS != 0 {
            return Err(SessionError::Incompatible(format!(
                "HELLO sets flag bits {:#04x} that transport version {VERSION} does not define",
                h.flags & !KNOWN_FLAGS
            )));
        }
        if (h.max_frame as usize) < MIN_MAX_FRAME {
            return Err(SessionError::Incompatible(format!(
                "peer accepts frames of at most {} bytes; at least {MIN_MAX_FRAME} are required",
                h.max_frame
            )));
        }
        if h.cmw_ext_type != self.cfg.profile.cmw_ext_type {
            return Err(SessionError::Incompatible(format!(
                "peer uses cmw_attestation code point {:#06x}, we use {:#06x}",
                h.cmw_ext_type, self.cfg.profile.cmw_ext_type
            )));
        }
        if h.exporter_label != self.cfg.profile.exporter_label {
            return Err(SessionError::Incompatible(format!(
                "peer binds with exporter label {:?}, we use {:?}",
                String::from_utf8_lossy(&h.exporter_label),
                String::from_utf8_lossy(&self.cfg.profile.exporter_label)
            )));
        }
        let peer_requires = h.flags & FLAG_REQUIRES_PEER_ATTESTATION != 0;
        if !peer_requires && self.cfg.appraiser.is_none() {
            return Err(SessionError::NoAttestation);
        }
        if self.cfg.appraiser.is_some() && h.flags & FLAG_CAN_ATTEST == 0 {
            return Err(SessionError::PeerCannotAttest(
                "its HELLO does not set can_attest and our policy requires attestation".into(),
            ));
        }
        self.peer_hello = Some(h);
        self.check_ready();
        Ok(())
    }

    fn peer_requires(&self) -> bool {
        self.peer_hello
            .as_ref()
            .is_some_and(|h| h.flags & FLAG_REQUIRES_PEER_ATTESTATION != 0)
    }

    fn check_ready(&mut self) {
        if self.ready || self.peer_hello.is_none() {
            return;
        }
        let ours_done = self.cfg.appraiser.is_none() || self.initial_accepted;
        let theirs_done = !self.peer_requires() || self.peer_initial_accepted;
        if ours_done && theirs_done {
            self.ready = true;
            self.events.push_back(Event::Ready);
        }
    }

    fn on_request(&mut self, request_id: u32, request: &[u8], exporter: &dyn Exporter) -> Result<(), SessionError> {
        if !self.peer_requires() {
            return Err(SessionError::Protocol(
                "AUTH_REQUEST from a peer whose HELLO does not set requires_peer_attestation".into(),
            ));
        }
        // One request at a time per direction: every request makes us
        // produce Evidence and sign, so a peer must not be able to queue
        // them without reading our answers. A request is outstanding from
        // its arrival until its OUTCOME, which may only come once we
        // answered (see on_outcome): so at most one attester call per
        // connection is ever in flight.
        if let Some((producing, _)) = &self.evidence_wanted {
            return Err(SessionError::Protocol(format!(
                "AUTH_REQUEST {request_id} while our Evidence for request {producing} is being produced; one request at a time"
            )));
        }
        if let Some(waiting) = self.awaiting_outcome {
            return Err(SessionError::Protocol(format!(
                "AUTH_REQUEST {request_id} while our answer to request {waiting} awaits its OUTCOME; one request at a time"
            )));
        }
        let parsed = AuthenticatorRequest::decode(request).map_err(|e| SessionError::Request(e.into()))?;
        self.contexts
            .accept_request(&parsed.context)
            .map_err(SessionError::Request)?;
        // Everything that would make us refuse the request is checked
        // before the attester is called: a refused request costs no
        // Evidence.
        ea::check_attestation_request(
            self.cfg.tls_role,
            &self.cfg.profile,
            &parsed,
            self.cfg.identity.as_ref().filter(|_| self.cfg.attester.is_some()),
        )
        .map_err(SessionError::Request)?;
        let sender = self.cfg.tls_role;
        let authenticator = match (&self.cfg.attester, &self.cfg.identity) {
            (Some(attester), Some(identity)) => {
                let binding = self
                    .cfg
                    .profile
                    .binding(exporter, &parsed.context, identity.spki())
                    .map_err(SessionError::Request)?;
                if self.cfg.defer_attestation {
                    self.evidence_wanted = Some((request_id, request.to_vec()));
                    self.events.push_back(Event::EvidenceRequested { request_id, binding });
                    return Ok(());
                }
                let cmw = attester.attest(&binding)?;
                self.authenticator_with(request, identity, cmw, exporter)?
            }
            _ => ea::empty_authenticator(exporter, sender, request).map_err(SessionError::Request)?,
        };
        self.queue_authenticator(request_id, authenticator)
    }

    /// Completes a deferred answer (see [`SessionConfig::defer_attestation`])
    /// with our attester's result for the request in
    /// [`Event::EvidenceRequested`]. An attester error fails the session.
    pub fn provide_evidence(
        &mut self,
        request_id: u32,
        evidence: Result<crate::cmw::Cmw, AttestError>,
        exporter: &dyn Exporter,
    ) -> Result<(), SessionError> {
        if self.failed {
            return Err(SessionError::State("session already failed"));
        }
        let r = (|| {
            let request = match self.evidence_wanted.take() {
                Some((id, request)) if id == request_id => request,
                other => {
                    self.evidence_wanted = other;
                    return Err(SessionError::State("no Evidence was requested for this request id"));
                }
            };
            let identity = self
                .cfg
                .identity
                .as_ref()
                .ok_or(SessionError::State("no authenticator identity"))?;
            let values = std::mem::take(&mut self.exporter_values);
            let authenticator = self.authenticator_with(&request, identity, evidence?, &values.with(exporter));
            self.exporter_values = values;
            self.queue_authenticator(request_id, authenticator?)
        })();
        if matches!(r, Err(SessionError::State(_))) {
            // A caller mistake, not a peer or platform failure.
            return r;
        }
        if r.is_err() {
            self.failed = true;
            self.ready = false;
        }
        r
    }

    /// The request (if any) waiting for [`Session::provide_evidence`].
    pub fn evidence_requested(&self) -> Option<u32> {
        self.evidence_wanted.as_ref().map(|(id, _)| *id)
    }

    /// What the initial exchange is waiting for, in the order the peer
    /// sends it (`None` once ready, or when nothing is awaited): lets a
    /// transport name the step a deadline or an early end of the stream
    /// interrupted.
    pub fn awaiting(&self) -> Option<Awaiting> {
        if self.ready || self.failed {
            return None;
        }
        if self.peer_hello.is_none() {
            return Some(Awaiting::PeerHello);
        }
        let theirs_open = self.peer_requires() && !self.peer_initial_accepted;
        if theirs_open && self.evidence_wanted.is_some() {
            return Some(Awaiting::OurEvidence);
        }
        // The peer's first flight carries its HELLO and its request
        // together; its answer to ours comes after.
        if theirs_open && self.peer_initial_request.is_none() {
            return Some(Awaiting::PeerRequest);
        }
        if self.cfg.appraiser.is_some() && !self.initial_accepted {
            return Some(Awaiting::PeerAuthenticator);
        }
        if theirs_open {
            return Some(Awaiting::PeerOutcome);
        }
        None
    }

    fn authenticator_with(
        &self,
        request: &[u8],
        identity: &AuthenticatorIdentity,
        cmw: crate::cmw::Cmw,
        exporter: &dyn Exporter,
    ) -> Result<Vec<u8>, SessionError> {
        let cmw = cmw.to_cbor();
        if cmw.len() > crate::cmw::MAX_CMW_LEN {
            return Err(AttestError::TooLarge(cmw.len()).into());
        }
        ea::authenticate(
            exporter,
            self.cfg.tls_role,
            &self.cfg.profile,
            request,
            identity,
            Some(&cmw),
        )
        .map_err(SessionError::Request)
    }

    fn queue_authenticator(&mut self, request_id: u32, authenticator: Vec<u8>) -> Result<(), SessionError> {
        if 4 + authenticator.len() > self.peer_max_frame() {
            return Err(SessionError::Incompatible(format!(
                "our authenticator is {} bytes; the peer accepts frames of at most {} bytes",
                authenticator.len(),
                self.peer_max_frame()
            )));
        }
        if self.peer_initial_request.is_none() {
            self.peer_initial_request = Some(request_id);
        }
        self.awaiting_outcome = Some(request_id);
        self.answer_untaken = true;
        Frame::Authenticator {
            request_id,
            authenticator,
        }
        .encode_into(&mut self.out);
        Ok(())
    }

    fn refuse(&mut self, request_id: u32, reason: String, ear: Option<&Ear>) {
        self.queue_outcome(request_id, OutcomeStatus::Refused, reason, ear);
    }

    /// Queues an OUTCOME. The EAR is optional in it: if the frame would
    /// exceed the peer's limit, it goes without (the reason stays).
    fn queue_outcome(&mut self, request_id: u32, status: OutcomeStatus, reason: String, ear: Option<&Ear>) {
        let mut ear_json = ear
            .map(|e| serde_json::to_vec(e).unwrap_or_default())
            .unwrap_or_default();
        // request_id, status, reason length, reason, EAR.
        if 4 + 1 + 2 + reason.len() + ear_json.len() > self.peer_max_frame() {
            ear_json.clear();
        }
        Frame::Outcome {
            request_id,
            status,
            reason,
            ear_json,
        }
        .encode_into(&mut self.out);
    }

    fn on_authenticator(
        &mut self,
        request_id: u32,
        authenticator: &[u8],
        exporter: &dyn Exporter,
    ) -> Result<(), SessionError> {
        let Some(request) = self.pending.remove(&request_id) else {
            return Err(SessionError::Protocol(format!(
                "AUTHENTICATOR for unknown request id {request_id}"
            )));
        };
        let validated = (|| {
            if let Some(ctx) = ea::get_context(authenticator)? {
                self.contexts.accept_answer(&ctx)?;
            }
            ea::validate(exporter, self.peer_role(), &self.cfg.profile, &request, authenticator)
        })();
        let validated = match validated {
            Ok(v) => v,
            Err(EaError::Refused) => {
                let reason = "the peer declined to attest (empty authenticator)".to_string();
                self.refuse(request_id, reason.clone(), None);
                return Err(SessionError::PeerDeclined(reason));
            }
            Err(e) => {
                self.refuse(request_id, format!("authenticator invalid: {e}"), None);
                return Err(SessionError::Authenticator(e));
            }
        };
        let Some(cmw) = validated.cmw.as_deref() else {
            self.refuse(request_id, "authenticator carries no Evidence".into(), None);
            return Err(SessionError::Authenticator(EaError::MissingEvidence));
        };
        let binding = match self.cfg.profile.binding(exporter, &validated.context, &validated.spki) {
            Ok(b) => b,
            Err(e) => {
                self.refuse(request_id, e.to_string(), None);
                return Err(SessionError::Authenticator(e));
            }
        };
        let appraiser = self.cfg.appraiser.as_ref().ok_or(SessionError::State("no appraiser"))?;
        let expected = ExpectedBinding::Claims(binding);
        if appraiser.remote_verifier().is_some() {
            // Appraised elsewhere: the caller runs the exchange and comes
            // back with provide_appraisal. One at a time: our requests are
            // answered one after another.
            if let Some((waiting, _, _)) = &self.appraisal_wanted {
                return Err(SessionError::Protocol(format!(
                    "AUTHENTICATOR {request_id} while the one for request {waiting} is being appraised"
                )));
            }
            let nonce = crate::remote::RemoteVerifier::nonce_for(&expected);
            self.appraisal_wanted = Some((request_id, validated.cert_chain, nonce));
            self.events.push_back(Event::AppraisalRequested {
                request_id,
                cmw: cmw.to_vec(),
                expected,
            });
            return Ok(());
        }
        let now = (self.cfg.clock)();
        let ear = appraiser.appraise_cmw_bytes(cmw, &expected, now);
        self.conclude_appraisal(request_id, ear, &validated.cert_chain, now)
    }

    /// Completes an appraisal by the remote verifier (see
    /// [`Event::AppraisalRequested`]) with its checked result, or why there
    /// is none. An error, a result whose `eat_nonce` is not the nonce of
    /// the request (`RemoteVerifierError::NonceMismatch`, checked here
    /// whatever the caller checked), or a result that is not acceptable
    /// refuses the peer and fails the session.
    pub fn provide_appraisal(
        &mut self,
        request_id: u32,
        result: Result<Ear, crate::remote::RemoteVerifierError>,
    ) -> Result<(), SessionError> {
        if self.failed {
            return Err(SessionError::State("session already failed"));
        }
        let (cert_chain, nonce) = match self.appraisal_wanted.take() {
            Some((id, chain, nonce)) if id == request_id => (chain, nonce),
            other => {
                self.appraisal_wanted = other;
                return Err(SessionError::State("no appraisal was requested for this request id"));
            }
        };
        // The caller is to have checked the result with
        // RemoteVerifier::check_result; its binding is checked again here,
        // so that a caller that skipped it (or checked another request's)
        // cannot make the session accept an answer to another challenge.
        let result = result.and_then(|ear| match &ear.eat_nonce {
            Some(n) if crate::crypto::constant_time_eq(n.as_bytes(), &nonce) => Ok(ear),
            other => Err(crate::remote::RemoteVerifierError::NonceMismatch {
                issuer: self
                    .cfg
                    .appraiser
                    .as_ref()
                    .and_then(|a| a.remote_verifier())
                    .map_or_else(|| "the remote verifier".into(), |r| r.url().to_string()),
                observed: other
                    .as_ref()
                    .map_or_else(|| "(absent)".into(), crate::ear::EatNonce::to_base64url),
                expected: crate::ear::EatNonce::new(nonce.to_vec())
                    .map(|n| n.to_base64url())
                    .unwrap_or_default(),
            }),
        });
        let r = match result {
            Ok(ear) => {
                let now = (self.cfg.clock)();
                self.conclude_appraisal(request_id, ear, &cert_chain, now)
            }
            Err(e) => {
                self.refuse(request_id, escape_control(&e.to_string()).into_owned(), None);
                Err(SessionError::RemoteVerifier(e))
            }
        };
        if r.is_err() {
            self.failed = true;
            self.ready = false;
        }
        r
    }

    /// The request (if any) waiting for [`Session::provide_appraisal`].
    pub fn appraisal_requested(&self) -> Option<u32> {
        self.appraisal_wanted.as_ref().map(|(id, _, _)| *id)
    }

    /// What follows an appraisal, local or remote: the mode mark, host
    /// identity (I1) and the OUTCOME.
    fn conclude_appraisal(
        &mut self,
        request_id: u32,
        mut ear: Ear,
        cert_chain: &[Vec<u8>],
        now: time::OffsetDateTime,
    ) -> Result<(), SessionError> {
        let appraiser = self.cfg.appraiser.as_ref().ok_or(SessionError::State("no appraiser"))?;
        crate::modes::mark_mode(&mut ear, crate::modes::MODE_EXPAT);
        // I1, after the Evidence: it concerns the key the Evidence
        // committed to (validated.spki is the chain's end entity). Run even
        // when the appraisal refused, so that the result shows every failed
        // check; a failure is a contraindicated finding, which the
        // acceptance test below turns into a refusal.
        match (&self.cfg.host_identity, appraiser.host_identity()) {
            (Some(check), _) => {
                let chain: Vec<rustls::pki_types::CertificateDer<'_>> = cert_chain
                    .iter()
                    .map(|c| rustls::pki_types::CertificateDer::from(c.as_slice()))
                    .collect();
                let _ = check.apply(&mut ear, &chain, now);
            }
            // The policy asks for I1 and nothing tells us which name to
            // check: refused, never skipped.
            (None, Some(_)) => {
                let e = HostIdentityError::NoServerName {
                    policy_id: appraiser.policy_id().to_string(),
                };
                crate::host_identity::record(
                    &mut ear,
                    Err(&e),
                    "a server name to check the attested key's certificate for".into(),
                );
            }
            (None, None) => {}
        }
        if !ear.is_acceptable() {
            let summary = ear.refusal_summary();
            self.refuse(request_id, summary.clone(), Some(&ear));
            return Err(SessionError::PeerNotTrusted {
                summary,
                ear: Box::new(ear),
            });
        }
        let reason = format!("accepted under policy {} ({})", appraiser.policy_id(), ear.status);
        self.queue_outcome(request_id, OutcomeStatus::Accepted, reason, Some(&ear));
        if self.initial_request == Some(request_id) {
            self.initial_accepted = true;
        }
        self.events.push_back(Event::PeerAttested {
            request_id,
            ear: Box::new(ear),
        });
        self.check_ready();
        Ok(())
    }

    fn on_outcome(&mut self, request_id: u32, status: OutcomeStatus, reason: String) -> Result<(), SessionError> {
        if self.awaiting_outcome != Some(request_id) || self.answer_untaken {
            let why = match &self.evidence_wanted {
                Some((producing, _)) if *producing == request_id => "we have not answered yet",
                _ if self.awaiting_outcome == Some(request_id) => "we answered but have not sent the answer yet",
                _ => "we did not answer",
            };
            return Err(SessionError::Protocol(format!(
                "OUTCOME for request id {request_id}, which {why}; an OUTCOME may only follow our AUTHENTICATOR"
            )));
        }
        self.awaiting_outcome = None;
        match status {
            OutcomeStatus::Refused => Err(SessionError::RefusedByPeer(escape_control(&reason).into_owned())),
            OutcomeStatus::Accepted => {
                if self.peer_initial_request == Some(request_id) {
                    self.peer_initial_accepted = true;
                }
                self.events.push_back(Event::AttestationAccepted {
                    request_id,
                    reason: escape_control(&reason).into_owned(),
                });
                self.check_ready();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::crypto::HashAlgorithm;
    use crate::exporter::{ExporterError, SecretExporter};
    use crate::sim::{ephemeral_world, SimAttester};
    use crate::transport::FrameDecoder;

    /// Counts the values derived from the connection's exporter.
    struct CountingExporter {
        inner: SecretExporter,
        exports: Cell<usize>,
    }

    impl Exporter for CountingExporter {
        fn hash(&self) -> Result<HashAlgorithm, ExporterError> {
            self.inner.hash()
        }
        fn export(&self, label: &[u8], context: &[u8], len: usize) -> Result<Vec<u8>, ExporterError> {
            self.exports.set(self.exports.get() + 1);
            self.inner.export(label, context, len)
        }
    }

    fn deliver(from: &mut Session, to: &mut Session, ex: &dyn Exporter) {
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&from.take_outgoing());
        while let Some(f) = d.next_frame().unwrap() {
            to.handle_frame(f, ex).unwrap();
        }
    }

    /// A client that requires attestation and a server that attests with
    /// the simulated TEE.
    fn sim_pair() -> (Session, Session) {
        let world = ephemeral_world(1).unwrap();
        let mut client = SessionConfig::new(Role::Client);
        client.appraiser = Some(world.appraiser("pair"));
        (Session::new(client), attesting_server(&world))
    }

    #[test]
    fn every_result_of_the_default_mode_names_its_mode() {
        // Guards that an EAR says which mode it rests on: the default mode
        // marks every submodule `attested_tls_mode = "expat"` (mode
        // `early` marks "early"), accepted or refused.
        let (mut c, mut s) = sim_pair();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        deliver(&mut c, &mut s, &ex);
        deliver(&mut s, &mut c, &ex);
        match c.poll_event() {
            Some(Event::PeerAttested { ear, .. }) => {
                assert!(!ear.submods.is_empty());
                for a in ear.submods.values() {
                    assert_eq!(a.claims[crate::modes::MODE_CLAIM], crate::modes::MODE_EXPAT);
                }
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn prepared_requester_derives_nothing_when_the_answer_arrives() {
        let (mut c, mut s) = sim_pair();
        let secret = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        // One connection, seen from each side (the values are the same).
        let (cx, sx) = (
            CountingExporter {
                inner: secret.clone(),
                exports: Cell::new(0),
            },
            CountingExporter {
                inner: secret,
                exports: Cell::new(0),
            },
        );

        s.prepare(&sx);
        assert_eq!(
            sx.exports.get(),
            0,
            "a side with no outstanding request derives nothing"
        );
        c.prepare(&cx);
        // Handshake context, finished key, binder value of the request.
        assert_eq!(cx.exports.get(), 3);
        c.prepare(&cx);
        assert_eq!(cx.exports.get(), 3, "preparing twice derives nothing new");

        deliver(&mut c, &mut s, &sx);
        deliver(&mut s, &mut c, &cx);
        assert_eq!(cx.exports.get(), 3, "validation and appraisal used the prepared values");
        assert!(matches!(c.poll_event(), Some(Event::PeerAttested { ear, .. }) if ear.is_affirming()));
        deliver(&mut c, &mut s, &sx);
        assert!(c.is_ready() && s.is_ready());

        // Re-attestation: only the new request's binder value is new.
        c.start_reattestation().unwrap();
        c.prepare(&cx);
        assert_eq!(cx.exports.get(), 4);
        deliver(&mut c, &mut s, &sx);
        deliver(&mut s, &mut c, &cx);
        assert_eq!(cx.exports.get(), 4);
        assert_eq!(c.outstanding_requests(), 0);
        assert!(!c.has_failed());
    }

    #[test]
    fn prepared_values_of_another_connection_do_not_validate() {
        // The cache belongs to one connection: if a session were (wrongly)
        // prepared with another connection's exporter, the answer fails
        // validation instead of being accepted.
        let (mut c, mut s) = sim_pair();
        let this = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let other = SecretExporter::new(HashAlgorithm::Sha384, vec![5u8; 48]);
        c.prepare(&other);
        deliver(&mut c, &mut s, &this);
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&s.take_outgoing());
        let mut result = Ok(());
        while let Some(f) = d.next_frame().unwrap() {
            result = result.and(c.handle_frame(f, &this));
        }
        assert!(
            matches!(result, Err(SessionError::Authenticator(EaError::Signature(_)))),
            "{result:?}"
        );
    }

    fn hello(flags: u8, max_frame: u32) -> Frame {
        Frame::Hello(Hello {
            version: VERSION,
            flags,
            max_frame,
            cmw_ext_type: crate::codec::EXT_CMW_ATTESTATION_DEFAULT,
            exporter_label: EaProfile::default().exporter_label,
        })
    }

    fn attesting_server(world: &crate::sim::SimWorld) -> Session {
        let mut server = SessionConfig::new(Role::Server);
        server.attester = Some(Arc::new(SimAttester::new(world.instances[0].clone())));
        server.identity = Some(AuthenticatorIdentity::generate_self_signed("limits").unwrap());
        Session::new(server)
    }

    fn request_frame(id: u32, context: u8) -> Frame {
        Frame::AuthRequest {
            request_id: id,
            request: EaProfile::default().request(Role::Server, vec![context; 32]).encode(),
        }
    }

    #[test]
    fn a_policy_requiring_host_identity_without_a_server_name_refuses_the_peer() {
        // Guards fail-closed I1: an appraiser whose policy requires host
        // identity, in a session that knows no server name (here: none
        // configured), must refuse the peer naming the check, not skip it.
        let world = ephemeral_world(1).unwrap();
        let root = rcgen::generate_simple_self_signed(vec!["root.test".into()]).unwrap();
        let roots = crate::host_identity::HostIdentity::from_der([root.cert.der().clone()]).unwrap();
        let mut client = SessionConfig::new(Role::Client);
        client.appraiser = Some(world.appraiser("needs-i1").with_host_identity(roots));
        let (mut c, mut s) = (Session::new(client), attesting_server(&world));
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        deliver(&mut c, &mut s, &ex);
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&s.take_outgoing());
        let mut result = Ok(());
        while let Some(f) = d.next_frame().unwrap() {
            result = c.handle_frame(f, &ex);
        }
        match result {
            Err(SessionError::PeerNotTrusted { summary, ear }) => {
                assert!(
                    summary.contains(
                        "host_identity: host identity (I1) is required by policy needs-i1 but no server name is known"
                    ),
                    "{summary}"
                );
                assert!(!ear.is_acceptable());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_attester_answers_one_request_at_a_time() {
        let world = ephemeral_world(1).unwrap();
        let mut s = attesting_server(&world);
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18), &ex)
            .unwrap();
        s.handle_frame(request_frame(0, 1), &ex).unwrap();
        // A second request before the OUTCOME of the first: refused, so a
        // peer cannot make us attest and sign without reading the answers.
        let e = s.handle_frame(request_frame(1, 2), &ex).unwrap_err();
        assert!(
            matches!(&e, SessionError::Protocol(m) if m.contains("one request at a time")),
            "{e}"
        );
        assert_eq!(e.error_frame().map(|f| f.name()), Some("ERROR"));
        assert!(s.has_failed());
    }

    #[test]
    fn peer_reasons_cannot_add_lines_or_escape_sequences_to_our_errors() {
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let injected = "no\nattestation result: affirming\u{1b}[2J\u{202e}";
        let answered = || {
            let mut s = attesting_server(&world);
            s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18), &ex)
                .unwrap();
            s.handle_frame(request_frame(0, 1), &ex).unwrap();
            // Our answer goes out before the peer can answer it.
            s.take_outgoing();
            s
        };
        let shown = |e: SessionError| {
            let text = e.to_string();
            assert!(!text.chars().any(|c| c.is_control() || c == '\u{202e}'), "{text:?}");
            assert!(text.contains("no\\nattestation result"), "{text:?}");
        };
        // A refusal (OUTCOME) and an ERROR frame, both with a hostile reason.
        let refused = Frame::Outcome {
            request_id: 0,
            status: OutcomeStatus::Refused,
            reason: injected.into(),
            ear_json: Vec::new(),
        };
        shown(answered().handle_frame(refused, &ex).unwrap_err());
        let error = Frame::Error {
            code: 1,
            reason: injected.into(),
        };
        shown(answered().handle_frame(error, &ex).unwrap_err());
        // An acceptance's reason reaches the application as an event.
        let mut s = answered();
        let accepted = Frame::Outcome {
            request_id: 0,
            status: OutcomeStatus::Accepted,
            reason: injected.into(),
            ear_json: Vec::new(),
        };
        s.handle_frame(accepted, &ex).unwrap();
        let reason = std::iter::from_fn(|| s.poll_event())
            .find_map(|e| match e {
                Event::AttestationAccepted { reason, .. } => Some(reason),
                _ => None,
            })
            .expect("accepted");
        assert!(!reason.chars().any(char::is_control), "{reason:?}");
    }

    #[test]
    fn requests_from_a_peer_that_did_not_ask_for_attestation_are_refused() {
        let world = ephemeral_world(1).unwrap();
        let mut s = attesting_server(&world);
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        // We appraise (so the connection is attested) and the peer's HELLO
        // says it requires nothing: it has no business sending requests.
        let mut cfg = s.config().clone();
        cfg.appraiser = Some(world.appraiser("limits"));
        s = Session::new(cfg);
        s.handle_frame(hello(FLAG_CAN_ATTEST, 1 << 18), &ex).unwrap();
        let e = s.handle_frame(request_frame(0, 1), &ex).unwrap_err();
        assert!(
            matches!(&e, SessionError::Protocol(m) if m.contains("requires_peer_attestation")),
            "{e}"
        );
    }

    #[test]
    fn hellos_with_unknown_flags_or_a_tiny_frame_limit_are_refused() {
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let mut s = attesting_server(&world);
        let e = s
            .handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION | 0x80, 1 << 18), &ex)
            .unwrap_err();
        assert!(matches!(&e, SessionError::Incompatible(m) if m.contains("0x80")), "{e}");
        assert_eq!(
            e.error_frame(),
            Some(Frame::Error {
                code: error_code::UNSUPPORTED,
                reason: e.to_string()
            })
        );
        let mut s = attesting_server(&world);
        let e = s
            .handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, (MIN_MAX_FRAME - 1) as u32), &ex)
            .unwrap_err();
        assert!(
            matches!(&e, SessionError::Incompatible(m) if m.contains("at most 16383")),
            "{e}"
        );
        let mut s = attesting_server(&world);
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, MIN_MAX_FRAME as u32), &ex)
            .unwrap();
    }

    /// Evidence of a fixed size.
    struct BigAttester(usize);

    impl Attester for BigAttester {
        fn platform(&self) -> &str {
            "big"
        }
        fn attest(&self, _: &crate::binder::BindingClaims) -> Result<crate::cmw::Cmw, AttestError> {
            Ok(crate::cmw::Cmw::Record(crate::cmw::CmwRecord::evidence(
                "application/x-big",
                vec![0x42; self.0],
            )))
        }
    }

    #[test]
    fn an_authenticator_over_the_peer_frame_limit_is_not_sent() {
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let mut cfg = SessionConfig::new(Role::Server);
        cfg.attester = Some(Arc::new(BigAttester(20_000)));
        cfg.identity = Some(AuthenticatorIdentity::generate_self_signed("limits").unwrap());
        let mut s = Session::new(cfg.clone());
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, MIN_MAX_FRAME as u32), &ex)
            .unwrap();
        let _ = s.take_outgoing();
        let e = s.handle_frame(request_frame(0, 1), &ex).unwrap_err();
        assert!(
            matches!(&e, SessionError::Incompatible(m) if m.contains("at most 16384 bytes")),
            "{e}"
        );
        assert!(s.take_outgoing().is_empty(), "no authenticator was queued");
        // The same Evidence fits a peer with a larger limit.
        let mut s = Session::new(cfg);
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18), &ex)
            .unwrap();
        s.handle_frame(request_frame(0, 1), &ex).unwrap();
    }

    #[test]
    fn an_outcome_goes_without_its_ear_when_the_ear_would_not_fit() {
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let mut s = attesting_server(&world);
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, MIN_MAX_FRAME as u32), &ex)
            .unwrap();
        let _ = s.take_outgoing();
        let mut a = crate::ear::Appraisal::new("p");
        a.claim("big", "x".repeat(MIN_MAX_FRAME));
        let big = Ear::new(0, [("sim".to_string(), a.finish())].into(), None);
        let mut small = crate::ear::Appraisal::new("p");
        small.claim("small", "x");
        let small = Ear::new(0, [("sim".to_string(), small.finish())].into(), None);
        for (ear, kept) in [(big, false), (small, true)] {
            s.queue_outcome(7, OutcomeStatus::Refused, "why".into(), Some(&ear));
            let mut d = FrameDecoder::new(1 << 20);
            d.push(&s.take_outgoing());
            match d.next_frame().unwrap() {
                Some(Frame::Outcome { reason, ear_json, .. }) => {
                    assert_eq!(reason, "why");
                    assert_eq!(!ear_json.is_empty(), kept);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn an_attester_without_identity_does_not_claim_it_can_attest() {
        let world = ephemeral_world(1).unwrap();
        let mut cfg = SessionConfig::new(Role::Client);
        cfg.attester = Some(Arc::new(SimAttester::new(world.instances[0].clone())));
        cfg.appraiser = Some(world.appraiser("limits"));
        let mut with_identity = cfg.clone();
        with_identity.identity = Some(AuthenticatorIdentity::generate_self_signed("limits").unwrap());
        for (cfg, can) in [(cfg, false), (with_identity, true)] {
            let mut d = FrameDecoder::new(1 << 20);
            d.push(&Session::new(cfg).take_outgoing());
            match d.next_frame().unwrap() {
                Some(Frame::Hello(h)) => assert_eq!(h.flags & FLAG_CAN_ATTEST != 0, can),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn one_reattestation_at_a_time() {
        let (mut c, mut s) = sim_pair();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        deliver(&mut c, &mut s, &ex);
        deliver(&mut s, &mut c, &ex);
        deliver(&mut c, &mut s, &ex);
        assert!(c.is_ready());
        c.start_reattestation().unwrap();
        assert!(matches!(c.start_reattestation(), Err(SessionError::State(m)) if m.contains("already in progress")));
        deliver(&mut c, &mut s, &ex);
        deliver(&mut s, &mut c, &ex);
        deliver(&mut c, &mut s, &ex);
        c.start_reattestation().unwrap();
    }

    #[test]
    fn deferred_attestation_asks_the_caller_and_answers_with_its_evidence() {
        let world = ephemeral_world(1).unwrap();
        let mut client = SessionConfig::new(Role::Client);
        client.appraiser = Some(world.appraiser("defer"));
        let mut server = SessionConfig::new(Role::Server);
        let sim = Arc::new(SimAttester::new(world.instances[0].clone()));
        server.attester = Some(sim.clone());
        server.identity = Some(AuthenticatorIdentity::generate_self_signed("defer").unwrap());
        server.defer_attestation = true;
        let (mut c, mut s) = (Session::new(client), Session::new(server));
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        deliver(&mut c, &mut s, &ex);
        let Some(Event::EvidenceRequested { request_id, binding }) = s.poll_event() else {
            panic!("expected EvidenceRequested");
        };
        assert_eq!(s.evidence_requested(), Some(request_id));
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&s.take_outgoing());
        assert!(matches!(d.next_frame().unwrap(), Some(Frame::Hello(_))));
        assert_eq!(d.next_frame().unwrap(), None, "no authenticator before the Evidence");
        // A result for another request is a caller mistake: refused, not fatal.
        assert!(matches!(
            s.provide_evidence(request_id + 1, sim.attest(&binding), &ex),
            Err(SessionError::State(_))
        ));
        assert!(!s.has_failed());
        s.provide_evidence(request_id, sim.attest(&binding), &ex).unwrap();
        assert_eq!(s.evidence_requested(), None);
        c.handle_frame(
            Frame::Hello(Hello {
                version: VERSION,
                flags: FLAG_CAN_ATTEST,
                max_frame: 1 << 18,
                cmw_ext_type: crate::codec::EXT_CMW_ATTESTATION_DEFAULT,
                exporter_label: EaProfile::default().exporter_label,
            }),
            &ex,
        )
        .unwrap();
        deliver(&mut s, &mut c, &ex);
        deliver(&mut c, &mut s, &ex);
        assert!(c.is_ready() && s.is_ready());
    }

    /// A client session whose appraiser names a remote verifier, and a
    /// server attesting with the simulated TEE; the client has received the
    /// server's authenticator and asked for the remote appraisal.
    fn remote_pair(world: &crate::sim::SimWorld) -> (Session, Session, SecretExporter, u32, Vec<u8>, ExpectedBinding) {
        let remote = crate::remote::RemoteVerifier::new(
            "http://verifier.invalid/challenge-response/v1",
            crate::corim::VerificationKey::P256(vec![4; 65]),
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(5),
        );
        let mut client = SessionConfig::new(Role::Client);
        client.appraiser = Some(crate::verifier::Appraiser::new("rp").with_remote_verifier(remote));
        let (mut c, mut s) = (Session::new(client), attesting_server(world));
        let ex = SecretExporter::new(HashAlgorithm::Sha256, vec![6u8; 32]);
        deliver(&mut c, &mut s, &ex);
        deliver(&mut s, &mut c, &ex);
        let mut asked = None;
        while let Some(ev) = c.poll_event() {
            match ev {
                Event::AppraisalRequested {
                    request_id,
                    cmw,
                    expected,
                } => asked = Some((request_id, cmw, expected)),
                Event::PeerAttested { .. } => panic!("appraised locally"),
                _ => {}
            }
        }
        let (id, cmw, expected) = asked.expect("AppraisalRequested");
        (c, s, ex, id, cmw, expected)
    }

    /// Guards the remote-appraisal seam: with a remote verifier the session
    /// never appraises itself; it asks, waits (not ready, no OUTCOME), and
    /// concludes with the result it is given (mode mark, OUTCOME, ready).
    #[test]
    fn a_remote_verifier_is_asked_and_its_result_concludes_the_appraisal() {
        let world = ephemeral_world(1).unwrap();
        let (mut c, mut s, ex, id, cmw, expected) = remote_pair(&world);
        assert_eq!(c.appraisal_requested(), Some(id));
        assert!(!c.is_ready());
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&c.take_outgoing());
        assert_eq!(d.next_frame().unwrap(), None, "no OUTCOME before the result");
        // A result for another request is a caller mistake: refused, not fatal.
        assert!(matches!(
            c.provide_appraisal(
                id + 1,
                Err(crate::remote::RemoteVerifierError::Timeout {
                    url: "u".into(),
                    secs: 1
                })
            ),
            Err(SessionError::State(_))
        ));
        assert!(!c.has_failed());
        // What the verifier would answer: the Evidence appraised against the
        // report data sent as the nonce.
        let ear = world.appraiser("verifier").appraise_cmw_bytes(
            &cmw,
            &ExpectedBinding::ReportData(crate::remote::RemoteVerifier::nonce_for(&expected)),
            time::OffsetDateTime::now_utc(),
        );
        assert!(ear.is_affirming(), "{}", ear.render());
        c.provide_appraisal(id, Ok(ear)).unwrap();
        let attested = std::iter::from_fn(|| c.poll_event()).find_map(|e| match e {
            Event::PeerAttested { ear, .. } => Some(ear),
            _ => None,
        });
        assert_eq!(attested.unwrap().submods["sim"].claims["attested_tls_mode"], "expat");
        deliver(&mut c, &mut s, &ex);
        assert!(c.is_ready() && s.is_ready());
    }

    /// A remote verifier's failure refuses the peer (OUTCOME refused with
    /// the reason) and fails the session with `RemoteVerifier`.
    #[test]
    fn a_remote_verifier_failure_refuses_the_peer() {
        let world = ephemeral_world(1).unwrap();
        let (mut c, mut s, ex, id, _, _) = remote_pair(&world);
        let e = crate::remote::RemoteVerifierError::Timeout {
            url: "http://verifier.invalid".into(),
            secs: 5,
        };
        assert!(matches!(
            c.provide_appraisal(id, Err(e)),
            Err(SessionError::RemoteVerifier(
                crate::remote::RemoteVerifierError::Timeout { .. }
            ))
        ));
        assert!(c.has_failed());
        let mut d = FrameDecoder::new(1 << 20);
        d.push(&c.take_outgoing());
        let Some(frame) = d.next_frame().unwrap() else {
            panic!("no OUTCOME")
        };
        match s.handle_frame(frame, &ex) {
            Err(SessionError::RefusedByPeer(reason)) => {
                assert!(reason.contains("did not answer within 5 s"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    /// Guards the seam's own binding check: a result whose `eat_nonce` is
    /// not this request's nonce (an answer to another connection's
    /// challenge, handed over by a caller that did not run
    /// `RemoteVerifier::check_result`) is refused with `NonceMismatch`,
    /// never accepted, even though it is affirming.
    #[test]
    fn a_remote_result_for_another_nonce_is_refused_by_the_session() {
        let world = ephemeral_world(1).unwrap();
        let (mut c, _s, _ex, id, cmw, expected) = remote_pair(&world);
        let mut other = crate::remote::RemoteVerifier::nonce_for(&expected);
        other[0] ^= 1;
        // Evidence appraised against the other nonce would fail its
        // report_data check; take an affirming result and swap its nonce,
        // as a result for another challenge would read.
        let mut ear = world.appraiser("verifier").appraise_cmw_bytes(
            &cmw,
            &ExpectedBinding::ReportData(crate::remote::RemoteVerifier::nonce_for(&expected)),
            time::OffsetDateTime::now_utc(),
        );
        assert!(ear.is_affirming(), "{}", ear.render());
        ear.eat_nonce = Some(crate::ear::EatNonce::new(other.to_vec()).unwrap());
        match c.provide_appraisal(id, Ok(ear.clone())) {
            Err(SessionError::RemoteVerifier(crate::remote::RemoteVerifierError::NonceMismatch { issuer, .. })) => {
                assert_eq!(issuer, "http://verifier.invalid/challenge-response/v1")
            }
            other => panic!("{other:?}"),
        }
        assert!(c.has_failed() && !c.is_ready());
        assert!(!std::iter::from_fn(|| c.poll_event()).any(|e| matches!(e, Event::PeerAttested { .. })));
        // Without a nonce at all: refused the same way.
        let (mut c, _s, _ex, id, _, _) = remote_pair(&world);
        ear.eat_nonce = None;
        assert!(matches!(
            c.provide_appraisal(id, Ok(ear)),
            Err(SessionError::RemoteVerifier(crate::remote::RemoteVerifierError::NonceMismatch { observed, .. }))
                if observed == "(absent)"
        ));
    }

    #[test]
    fn a_deferred_attester_failure_is_fatal() {
        let world = ephemeral_world(1).unwrap();
        let mut s = attesting_server(&world);
        let mut cfg = s.config().clone();
        cfg.defer_attestation = true;
        s = Session::new(cfg);
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18), &ex)
            .unwrap();
        s.handle_frame(request_frame(0, 1), &ex).unwrap();
        let e = s
            .provide_evidence(0, Err(AttestError::Other("device busy".into())), &ex)
            .unwrap_err();
        assert!(matches!(&e, SessionError::Attester(_)), "{e}");
        assert!(e.to_string().contains("device busy"), "the local error has the details");
        assert!(s.has_failed());
        match e.error_frame() {
            Some(Frame::Error { code, reason }) => {
                assert_eq!(code, error_code::INTERNAL);
                assert!(
                    !reason.contains("device busy"),
                    "the peer gets no local details: {reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn outcomes_for_requests_we_did_not_answer_and_second_hellos_are_refused() {
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let mut s = attesting_server(&world);
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18), &ex)
            .unwrap();
        let e = s
            .handle_frame(
                Frame::Outcome {
                    request_id: 7,
                    status: OutcomeStatus::Accepted,
                    reason: "accepted".into(),
                    ear_json: Vec::new(),
                },
                &ex,
            )
            .unwrap_err();
        assert!(
            matches!(&e, SessionError::Protocol(m) if m.contains("did not answer")),
            "{e}"
        );

        let mut s = attesting_server(&world);
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18), &ex)
            .unwrap();
        let e = s
            .handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18), &ex)
            .unwrap_err();
        assert!(
            matches!(&e, SessionError::Protocol(m) if m.contains("second HELLO")),
            "{e}"
        );
    }

    #[test]
    fn a_hello_of_another_transport_version_is_refused() {
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let mut s = attesting_server(&world);
        let Frame::Hello(mut h) = hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18) else {
            unreachable!()
        };
        h.version = VERSION + 1;
        let e = s.handle_frame(Frame::Hello(h), &ex).unwrap_err();
        assert!(
            matches!(&e, SessionError::Incompatible(m) if m.contains("transport version")),
            "{e}"
        );
    }
    /// Counts its calls; answers as the simulated TEE.
    struct CountingAttester {
        inner: SimAttester,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl Attester for CountingAttester {
        fn platform(&self) -> &str {
            "counting"
        }
        fn attest(&self, binding: &crate::binder::BindingClaims) -> Result<crate::cmw::Cmw, AttestError> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.attest(binding)
        }
    }

    /// A server session attesting with a [`CountingAttester`] (deferred:
    /// the session asks for Evidence with an event instead of calling it),
    /// after the peer's HELLO.
    fn counting_server(world: &crate::sim::SimWorld, defer: bool) -> (Session, Arc<CountingAttester>) {
        let attester = Arc::new(CountingAttester {
            inner: SimAttester::new(world.instances[0].clone()),
            calls: Default::default(),
        });
        let mut cfg = SessionConfig::new(Role::Server);
        cfg.attester = Some(attester.clone());
        cfg.identity = Some(AuthenticatorIdentity::generate_self_signed("counting").unwrap());
        cfg.defer_attestation = defer;
        let mut s = Session::new(cfg);
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18), &ex)
            .unwrap();
        (s, attester)
    }

    fn evidence_requests(s: &mut Session) -> usize {
        std::iter::from_fn(|| s.poll_event())
            .filter(|e| matches!(e, Event::EvidenceRequested { .. }))
            .count()
    }

    fn outcome(id: u32) -> Frame {
        Frame::Outcome {
            request_id: id,
            status: OutcomeStatus::Accepted,
            reason: "accepted".into(),
            ear_json: Vec::new(),
        }
    }

    #[test]
    fn an_outcome_for_a_request_whose_evidence_is_being_produced_is_a_violation() {
        // Guards issue 8 point 2: the request was recorded as awaiting its
        // OUTCOME when it arrived, so OUTCOME(0) before our answer cleared
        // the one-at-a-time guard and REQ(1) started a second attester
        // call; pairs of REQ(n) + OUTCOME(n) queued any number of them.
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let (mut s, _) = counting_server(&world, true);
        s.handle_frame(request_frame(0, 1), &ex).unwrap();
        assert_eq!(evidence_requests(&mut s), 1);
        let e = s.handle_frame(outcome(0), &ex).unwrap_err();
        assert!(
            matches!(&e, SessionError::Protocol(m) if m.contains("OUTCOME for request id 0, which we have not answered yet")),
            "{e}"
        );
        assert!(matches!(
            e.error_frame(),
            Some(Frame::Error {
                code: error_code::PROTOCOL_VIOLATION,
                ..
            })
        ));
        assert!(s.has_failed());
        assert!(matches!(
            s.handle_frame(request_frame(1, 2), &ex),
            Err(SessionError::State(_))
        ));
        assert_eq!(evidence_requests(&mut s), 0, "no second attester call");
    }

    #[test]
    fn a_request_while_evidence_is_being_produced_is_a_violation() {
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let (mut s, _) = counting_server(&world, true);
        s.handle_frame(request_frame(0, 1), &ex).unwrap();
        let e = s.handle_frame(request_frame(1, 2), &ex).unwrap_err();
        assert!(
            matches!(&e, SessionError::Protocol(m) if m.contains("while our Evidence for request 0 is being produced")),
            "{e}"
        );
        assert!(matches!(
            e.error_frame(),
            Some(Frame::Error {
                code: error_code::PROTOCOL_VIOLATION,
                ..
            })
        ));
        assert_eq!(evidence_requests(&mut s), 1, "one attester call");
    }

    /// Guards the review's L9 in the session: with an inline attester the
    /// OUTCOME for our AUTHENTICATOR was accepted as soon as the
    /// AUTHENTICATOR was queued, so REQ(n) + OUTCOME(n) pairs in one read
    /// ran the attester once per pair. An OUTCOME before our answer was
    /// taken for sending is now a violation: one attester call.
    #[test]
    fn an_outcome_before_our_answer_was_sent_is_a_violation() {
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let (mut s, attester) = counting_server(&world, false);
        s.handle_frame(request_frame(0, 1), &ex).unwrap();
        let e = s.handle_frame(outcome(0), &ex).unwrap_err();
        assert!(
            matches!(&e, SessionError::Protocol(m) if m.contains("we answered but have not sent the answer yet")),
            "{e}"
        );
        assert_eq!(attester.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Taken for sending first: the OUTCOME is accepted.
        let (mut s, _) = counting_server(&world, false);
        s.handle_frame(request_frame(0, 1), &ex).unwrap();
        assert!(s.has_untaken_answer());
        s.take_outgoing();
        assert!(!s.has_untaken_answer());
        s.handle_frame(outcome(0), &ex).unwrap();
    }

    #[test]
    fn the_next_request_is_accepted_once_the_answer_has_its_outcome() {
        // The guard clears only through the right path: answer, OUTCOME.
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let (mut s, attester) = counting_server(&world, true);
        for id in 0..3 {
            s.handle_frame(request_frame(id, id as u8 + 1), &ex).unwrap();
            let requested = std::iter::from_fn(|| s.poll_event()).find_map(|e| match e {
                Event::EvidenceRequested { request_id, binding } => Some((request_id, binding)),
                _ => None,
            });
            let Some((request_id, binding)) = requested else {
                panic!("expected EvidenceRequested");
            };
            assert_eq!(request_id, id);
            s.provide_evidence(id, attester.attest(&binding), &ex).unwrap();
            s.take_outgoing();
            s.handle_frame(outcome(id), &ex).unwrap();
        }
        // An OUTCOME repeated for an answer already closed is refused.
        let e = s.handle_frame(outcome(2), &ex).unwrap_err();
        assert!(
            matches!(&e, SessionError::Protocol(m) if m.contains("which we did not answer")),
            "{e}"
        );
    }

    #[test]
    fn requests_that_cannot_be_answered_with_evidence_are_refused_before_the_attester_runs() {
        // Guards issue 8 (independent client): a plain RFC 9261 request,
        // without cmw_attestation, got ERROR 7 "internal error" after our
        // attester had run; it is the peer's input, refused with the code
        // docs/transport.md gives, and it costs no Evidence.
        let world = ephemeral_world(1).unwrap();
        let ex = SecretExporter::new(HashAlgorithm::Sha384, vec![4u8; 48]);
        let profile = EaProfile::default();
        let request = |extensions| Frame::AuthRequest {
            request_id: 0,
            request: AuthenticatorRequest {
                msg_type: crate::codec::HandshakeType::ClientCertificateRequest,
                context: vec![1; 32],
                extensions,
            }
            .encode(),
        };
        let sigalgs = crate::codec::Extension::signature_algorithms(&profile.signature_schemes);
        let cmw = crate::codec::Extension::cmw_attestation_request(profile.cmw_ext_type);
        let non_empty_cmw = crate::codec::Extension {
            typ: profile.cmw_ext_type,
            data: vec![0, 1, 0x80],
        };
        let cases = [
            (
                vec![sigalgs.clone()],
                error_code::UNSUPPORTED,
                "does not ask for attestation",
            ),
            (vec![cmw.clone()], error_code::UNSUPPORTED, "no signature_algorithms"),
            (
                vec![sigalgs.clone(), non_empty_cmw],
                error_code::DECODE_ERROR,
                "AuthenticatorRequest.cmw_attestation: is 3 bytes; in a request it must be empty",
            ),
            (
                vec![crate::codec::Extension::signature_algorithms(&[0x0201]), cmw],
                error_code::UNSUPPORTED,
                "no signature scheme offered",
            ),
        ];
        for defer in [false, true] {
            for (extensions, code, reason) in cases.clone() {
                let (mut s, attester) = counting_server(&world, defer);
                let e = s.handle_frame(request(extensions), &ex).unwrap_err();
                match e.error_frame() {
                    Some(Frame::Error { code: c, reason: r }) => {
                        assert_eq!(c, code, "{r}");
                        assert!(r.contains(reason), "{r}");
                    }
                    other => panic!("{other:?}"),
                }
                assert_eq!(attester.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
                assert_eq!(evidence_requests(&mut s), 0);
            }
        }
        // A side without an attester refuses the same requests instead of
        // declining them with the empty authenticator.
        let mut cfg = SessionConfig::new(Role::Server);
        cfg.identity = Some(AuthenticatorIdentity::generate_self_signed("none").unwrap());
        let mut s = Session::new(cfg);
        s.handle_frame(hello(FLAG_REQUIRES_PEER_ATTESTATION, 1 << 18), &ex)
            .unwrap();
        let e = s.handle_frame(request(vec![sigalgs]), &ex).unwrap_err();
        assert!(
            matches!(e, SessionError::Request(EaError::AttestationNotRequested(0xff00))),
            "{e}"
        );
    }
}
