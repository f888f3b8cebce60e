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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::frame::{
    error_code, Frame, Hello, OutcomeStatus, FLAG_CAN_ATTEST, FLAG_REQUIRES_PEER_ATTESTATION, MAX_DATA_CHUNK, VERSION,
};
use crate::attester::{AttestError, Attester};
use crate::binder::{ExpectedBinding, EXPORTED_VALUE_LEN};
use crate::codec::AuthenticatorRequest;
use crate::ea::{self, AuthenticatorIdentity, ContextRegistry, EaError, EaProfile, Role};
use crate::ear::Ear;
use crate::exporter::{Exporter, ExporterCache};
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
    /// Largest frame payload we accept.
    pub max_frame: usize,
    /// Verification time for appraisals.
    pub clock: Clock,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("tls_role", &self.tls_role)
            .field("profile", &self.profile)
            .field("attester", &self.attester.as_ref().map(|a| a.platform().to_string()))
            .field("appraiser", &self.appraiser)
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
            max_frame: super::frame::DEFAULT_MAX_FRAME,
            clock: Arc::new(time::OffsetDateTime::now_utc),
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
    /// The peer declined to attest (empty authenticator) or cannot attest.
    #[error("the peer declined to attest: {0}")]
    PeerDeclined(String),
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
            Self::Incompatible(_) | Self::NoAttestation => error_code::UNSUPPORTED,
            Self::Request(EaError::Decode(_)) => error_code::DECODE_ERROR,
            Self::Request(_) | Self::Attester(_) | Self::State(_) => error_code::INTERNAL,
            Self::PeerDeclined(_) | Self::Authenticator(_) | Self::PeerNotTrusted { .. } => return None,
            Self::RefusedByPeer(_) | Self::PeerError { .. } => return None,
        };
        Some(Frame::Error {
            code,
            reason: self.to_string(),
        })
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
    awaiting_outcome: HashSet<u32>,
    ready: bool,
    failed: bool,
    hello_sent: bool,
    exporter_values: ExporterCache,
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
            awaiting_outcome: HashSet::new(),
            ready: false,
            failed: false,
            hello_sent: false,
            exporter_values: ExporterCache::default(),
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
        if self.cfg.attester.is_some() {
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

    /// Bytes to send to the peer (inside TLS), draining the queue.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
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
            Frame::Data(chunk.to_vec()).encode_into(&mut self.out);
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
                Frame::Error { code, reason } => Err(SessionError::PeerError { code, reason }),
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
            Frame::Error { code, reason } => Err(SessionError::PeerError { code, reason }),
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
            return Err(SessionError::PeerDeclined(
                "the peer has no attester and our policy requires attestation".into(),
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
        if !self.awaiting_outcome.insert(request_id) {
            return Err(SessionError::Protocol(format!(
                "request id {request_id} reused while outstanding"
            )));
        }
        let parsed = AuthenticatorRequest::decode(request).map_err(|e| SessionError::Request(e.into()))?;
        self.contexts
            .accept_request(&parsed.context)
            .map_err(SessionError::Request)?;
        let sender = self.cfg.tls_role;
        let authenticator = match (&self.cfg.attester, &self.cfg.identity) {
            (Some(attester), Some(identity)) => {
                let binding = self
                    .cfg
                    .profile
                    .binding(exporter, &parsed.context, identity.spki())
                    .map_err(SessionError::Request)?;
                let cmw = attester.attest(&binding)?.to_cbor();
                if cmw.len() > crate::cmw::MAX_CMW_LEN {
                    return Err(AttestError::TooLarge(cmw.len()).into());
                }
                ea::authenticate(exporter, sender, &self.cfg.profile, request, identity, Some(&cmw))
                    .map_err(SessionError::Request)?
            }
            _ => ea::empty_authenticator(exporter, sender, request).map_err(SessionError::Request)?,
        };
        if self.peer_initial_request.is_none() {
            self.peer_initial_request = Some(request_id);
        }
        Frame::Authenticator {
            request_id,
            authenticator,
        }
        .encode_into(&mut self.out);
        Ok(())
    }

    fn refuse(&mut self, request_id: u32, reason: String, ear: Option<&Ear>) {
        let ear_json = ear
            .map(|e| serde_json::to_vec(e).unwrap_or_default())
            .unwrap_or_default();
        Frame::Outcome {
            request_id,
            status: OutcomeStatus::Refused,
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
        let ear = appraiser.appraise_cmw_bytes(cmw, &ExpectedBinding::Claims(binding), (self.cfg.clock)());
        if !ear.is_acceptable() {
            let summary = ear.refusal_summary();
            self.refuse(request_id, summary.clone(), Some(&ear));
            return Err(SessionError::PeerNotTrusted {
                summary,
                ear: Box::new(ear),
            });
        }
        let ear_json = serde_json::to_vec(&ear).unwrap_or_default();
        Frame::Outcome {
            request_id,
            status: OutcomeStatus::Accepted,
            reason: format!("accepted under policy {} ({})", appraiser.policy_id(), ear.status),
            ear_json,
        }
        .encode_into(&mut self.out);
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
        if !self.awaiting_outcome.remove(&request_id) {
            return Err(SessionError::Protocol(format!(
                "OUTCOME for request id {request_id} we did not answer"
            )));
        }
        match status {
            OutcomeStatus::Refused => Err(SessionError::RefusedByPeer(reason)),
            OutcomeStatus::Accepted => {
                if self.peer_initial_request == Some(request_id) {
                    self.peer_initial_accepted = true;
                }
                self.events.push_back(Event::AttestationAccepted { request_id, reason });
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

    #[test]
    fn prepared_requester_derives_nothing_when_the_answer_arrives() {
        let world = ephemeral_world(1).unwrap();
        let mut client = SessionConfig::new(Role::Client);
        client.appraiser = Some(world.appraiser("prepare"));
        let mut server = SessionConfig::new(Role::Server);
        server.attester = Some(Arc::new(SimAttester::new(world.instances[0].clone())));
        server.identity = Some(AuthenticatorIdentity::generate_self_signed("prepare").unwrap());
        let (mut c, mut s) = (Session::new(client), Session::new(server));
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
        let world = ephemeral_world(1).unwrap();
        let mut client = SessionConfig::new(Role::Client);
        client.appraiser = Some(world.appraiser("prepare"));
        let mut server = SessionConfig::new(Role::Server);
        server.attester = Some(Arc::new(SimAttester::new(world.instances[0].clone())));
        server.identity = Some(AuthenticatorIdentity::generate_self_signed("prepare").unwrap());
        let (mut c, mut s) = (Session::new(client), Session::new(server));
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
}
