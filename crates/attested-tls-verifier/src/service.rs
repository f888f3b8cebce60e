//! The verification service: Veraison-style challenge-response sessions
//! over HTTP/1.1, appraised with the project's verifiers and policy, each
//! answered with a signed EAR.
//!
//! Every resource is bounded: the number of live sessions
//! ([`ServiceConfig::max_sessions`]), their lifetime
//! ([`ServiceConfig::session_ttl`]), the Evidence size (checked against
//! `Content-Length` before reading, and while reading a body without one),
//! the time to send a request ([`ServiceConfig::request_timeout`]) and the
//! number of connections served at once.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attested_tls::binder::ExpectedBinding;
use attested_tls::ear::VerifierId;
use attested_tls::ear_jwt::{sign_ear_jwt_until, SigningKeyPem};
use attested_tls::verifier::Appraiser;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::api::{
    EvidenceBlob, Problem, SessionResource, SessionStatus, API_PREFIX, CMW_CBOR_MEDIA_TYPE, CMW_JSON_MEDIA_TYPE,
    NONCE_LEN, PROBLEM_MEDIA_TYPE, SESSION_MEDIA_TYPE,
};

/// Source of the current time (an input, so that tests can move it).
pub type Clock = Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>;

/// Why a service could not be configured.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A bound is zero or out of range.
    #[error("verifier service setting {setting} is invalid: {reason}")]
    Setting {
        /// The setting (`session_ttl`, `max_sessions`, ...).
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// What a verification service appraises with, signs with and allows.
#[derive(Clone)]
pub struct ServiceConfig {
    /// The verifiers and policy Evidence is appraised with.
    pub appraiser: Appraiser,
    /// The key EARs are signed with.
    pub signing_key: Arc<SigningKeyPem>,
    /// `ear_verifier_id` of the EARs issued.
    pub verifier_id: VerifierId,
    /// How long a session lives after it is created (default 60 s).
    pub session_ttl: Duration,
    /// `exp - iat` of the EARs issued (default 60 s).
    pub result_ttl: Duration,
    /// Sessions alive at once (default 1024); a new session beyond it is
    /// refused (503) until one expires or is deleted.
    pub max_sessions: usize,
    /// Largest Evidence accepted (default 1 MiB).
    pub max_evidence_len: usize,
    /// Connections served at once (default 256); more wait in the backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and again its body
    /// (default 10 s).
    pub request_timeout: Duration,
    /// The time source.
    pub clock: Clock,
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("appraiser", &self.appraiser)
            .field("verifier_id", &self.verifier_id)
            .field("session_ttl", &self.session_ttl)
            .field("result_ttl", &self.result_ttl)
            .field("max_sessions", &self.max_sessions)
            .field("max_evidence_len", &self.max_evidence_len)
            .field("max_connections", &self.max_connections)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// Default [`ServiceConfig::session_ttl`] and [`ServiceConfig::result_ttl`].
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
/// Longest [`ServiceConfig::session_ttl`] and [`ServiceConfig::result_ttl`]: one hour.
pub const MAX_TTL: Duration = Duration::from_secs(3600);
/// Default [`ServiceConfig::max_sessions`].
pub const DEFAULT_MAX_SESSIONS: usize = 1024;
/// Default and largest [`ServiceConfig::max_evidence_len`]: 1 MiB.
pub const MAX_EVIDENCE_LEN: usize = 1 << 20;

impl ServiceConfig {
    /// A configuration with the defaults above.
    pub fn new(appraiser: Appraiser, signing_key: SigningKeyPem) -> Self {
        Self {
            appraiser,
            signing_key: Arc::new(signing_key),
            verifier_id: VerifierId::default(),
            session_ttl: DEFAULT_TTL,
            result_ttl: DEFAULT_TTL,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_evidence_len: MAX_EVIDENCE_LEN,
            max_connections: 256,
            request_timeout: Duration::from_secs(10),
            clock: Arc::new(time::OffsetDateTime::now_utc),
        }
    }

    fn check(&self) -> Result<(), ServiceError> {
        let bad = |setting, reason: String| Err(ServiceError::Setting { setting, reason });
        for (setting, ttl) in [("session_ttl", self.session_ttl), ("result_ttl", self.result_ttl)] {
            if ttl.as_secs() == 0 || ttl > MAX_TTL {
                return bad(
                    setting,
                    format!("{} s; must be 1 to {} s", ttl.as_secs(), MAX_TTL.as_secs()),
                );
            }
        }
        if self.max_sessions == 0 {
            return bad("max_sessions", "must be at least 1".into());
        }
        if self.max_connections == 0 || self.max_connections > tokio::sync::Semaphore::MAX_PERMITS {
            return bad("max_connections", "must be at least 1".into());
        }
        if self.max_evidence_len == 0 || self.max_evidence_len > MAX_EVIDENCE_LEN {
            return bad(
                "max_evidence_len",
                format!("{}; must be 1 to {MAX_EVIDENCE_LEN} bytes", self.max_evidence_len),
            );
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout", "must not be zero".into());
        }
        Ok(())
    }
}

/// One session.
struct SessionState {
    nonce: [u8; NONCE_LEN],
    expiry: time::OffsetDateTime,
    /// The signed EAR. The Evidence is not kept: it is echoed in the
    /// answer to its submission only, so that live sessions hold at most a
    /// result each, not up to `max_evidence_len` (times `max_sessions`).
    result: Option<String>,
}

struct Inner {
    cfg: ServiceConfig,
    sessions: Mutex<HashMap<String, SessionState>>,
}

/// A running verification service (cheap to clone: clones share sessions).
#[derive(Clone)]
pub struct VerifierService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for VerifierService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierService")
            .field("cfg", &self.inner.cfg)
            .field("sessions", &self.session_count())
            .finish()
    }
}

/// A problem response in the making.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    detail: String,
}

fn refusal(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        detail: detail.into(),
    }
}

type HttpResponse = Response<Full<Bytes>>;

impl VerifierService {
    /// A service with `cfg`, refused if a bound is out of range.
    pub fn new(cfg: ServiceConfig) -> Result<Self, ServiceError> {
        cfg.check()?;
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                sessions: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Sessions alive now (expired ones are counted until they are swept,
    /// which happens whenever a session is created).
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionState>> {
        // A panic while holding the lock cannot leave a map half-updated
        // (every update is one insert or remove): keep serving.
        self.inner.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves HTTP/1.1 on `listener` until the task is dropped. Accept
    /// errors (out of descriptors, a reset before accept) are logged and
    /// survived; a client cannot stop the service.
    pub async fn serve(self, listener: tokio::net::TcpListener) {
        let slots = Arc::new(tokio::sync::Semaphore::new(self.inner.cfg.max_connections));
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (tcp, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("verifier: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let svc = self.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let timeout = svc.inner.cfg.request_timeout;
                let handler = hyper::service::service_fn(move |req| {
                    let svc = svc.clone();
                    async move { Ok::<_, Infallible>(svc.handle(req).await) }
                });
                // One request per connection: an idle keep-alive connection
                // would hold a connection slot with no deadline.
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .keep_alive(false)
                    .header_read_timeout(timeout)
                    .serve_connection(TokioIo::new(tcp), handler);
                if let Err(e) = conn.await {
                    tracing::debug!("verifier: connection from {peer}: {e}");
                }
            });
        }
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>) -> HttpResponse {
        match self.route(req).await {
            Ok(r) => r,
            Err(r) => problem(r),
        }
    }

    async fn route(&self, req: Request<Incoming>) -> Result<HttpResponse, Refusal> {
        let path = req.uri().path().to_string();
        let Some(rest) = path.strip_prefix(API_PREFIX) else {
            return Err(refusal(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no resource here; the API is under {API_PREFIX}/"),
            ));
        };
        if rest == "/newSession" {
            if req.method() != Method::POST {
                return Err(method_not_allowed(req.method(), "POST"));
            }
            return self.new_session(req.uri().query().unwrap_or(""));
        }
        let Some(id) = rest
            .strip_prefix("/session/")
            .filter(|id| !id.is_empty() && !id.contains('/'))
        else {
            return Err(refusal(
                StatusCode::NOT_FOUND,
                "not-found",
                format!("no resource here; sessions are {API_PREFIX}/session/ID"),
            ));
        };
        let id = id.to_string();
        match *req.method() {
            Method::GET => self.with_session(&id, |s| Ok(session_response(StatusCode::OK, s, None, None))),
            Method::DELETE => {
                self.with_session(&id, |_| Ok(()))?;
                self.sessions().remove(&id);
                Ok(Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(Full::new(Bytes::new()))
                    .expect("static response"))
            }
            Method::POST => self.submit(&id, req).await,
            ref m => Err(method_not_allowed(m, "GET, POST, DELETE")),
        }
    }

    /// Runs `f` on a live session; an unknown one is 404 `unknown-session`,
    /// an expired one 404 `session-expired` (and is forgotten).
    fn with_session<T>(&self, id: &str, f: impl FnOnce(&mut SessionState) -> Result<T, Refusal>) -> Result<T, Refusal> {
        let now = (self.inner.cfg.clock)();
        let mut sessions = self.sessions();
        let Some(s) = sessions.get_mut(id) else {
            return Err(refusal(
                StatusCode::NOT_FOUND,
                "unknown-session",
                "no session with this id (never created, deleted, or expired and swept)",
            ));
        };
        if s.expiry <= now {
            sessions.remove(id);
            return Err(refusal(
                StatusCode::NOT_FOUND,
                "session-expired",
                "the session expired; create a new one",
            ));
        }
        f(s)
    }

    fn new_session(&self, query: &str) -> Result<HttpResponse, Refusal> {
        let nonce = parse_nonce_query(query)?;
        let cfg = &self.inner.cfg;
        let now = (cfg.clock)();
        let expiry = now + cfg.session_ttl;
        let id = random_id();
        let mut sessions = self.sessions();
        sessions.retain(|_, s| s.expiry > now);
        if sessions.len() >= cfg.max_sessions {
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "too-many-sessions",
                format!(
                    "{} sessions are open, the most this verifier keeps; retry when one expires",
                    cfg.max_sessions
                ),
            ));
        }
        let state = SessionState {
            nonce,
            expiry,
            result: None,
        };
        let location = format!("{API_PREFIX}/session/{id}");
        let response = session_response(StatusCode::CREATED, &state, None, Some(&location));
        sessions.insert(id, state);
        Ok(response)
    }

    async fn submit(&self, id: &str, req: Request<Incoming>) -> Result<HttpResponse, Refusal> {
        let cfg = &self.inner.cfg;
        // Before anything is read: a live, waiting session, and a known type.
        let nonce = self.with_session(id, |s| {
            if s.result.is_some() {
                return Err(refusal(
                    StatusCode::CONFLICT,
                    "evidence-already-submitted",
                    "Evidence was already submitted to this session; create a new session",
                ));
            }
            Ok(s.nonce)
        })?;
        let media_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or("")
            .to_string();
        let Some(kind) = self.evidence_kind(&media_type) else {
            return Err(refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                format!(
                    "Evidence of type {:?} is not accepted; send one of {:?}, or Evidence of a type the policy appraises",
                    attested_tls::ear::escape_control(&media_type),
                    accepted_types()
                ),
            ));
        };
        let max = cfg.max_evidence_len;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large(max));
        }
        let body = match tokio::time::timeout(cfg.request_timeout, Limited::new(req.into_body(), max).collect()).await {
            Err(_) => {
                return Err(refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    "request-timeout",
                    format!("the Evidence did not arrive within {} s", cfg.request_timeout.as_secs()),
                ))
            }
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large(max)),
            Ok(Err(e)) => {
                return Err(refusal(
                    StatusCode::BAD_REQUEST,
                    "bad-body",
                    format!("the request body could not be read: {e}"),
                ))
            }
            Ok(Ok(b)) => b.to_bytes(),
        };
        if body.is_empty() {
            return Err(refusal(
                StatusCode::BAD_REQUEST,
                "empty-evidence",
                "the request body is empty",
            ));
        }
        // Appraisal (certificate chains, signatures, CBOR; up to a few
        // milliseconds for a DCAP quote with collateral) and signing run on
        // the blocking pool, so that a burst of Evidence does not stall the
        // runtime's workers, which also serve every other connection's
        // timeouts.
        let inner = self.inner.clone();
        let (body, media_type, ear, token) = tokio::task::spawn_blocking(move || {
            let cfg = &inner.cfg;
            let now = (cfg.clock)();
            let expected = ExpectedBinding::ReportData(nonce);
            let mut ear = match kind {
                EvidenceKind::Cmw => cfg.appraiser.appraise_cmw_bytes(&body, &expected, now),
                EvidenceKind::Raw => cfg.appraiser.appraise_raw(&media_type, &body, &expected, now),
            };
            ear.ear_verifier_id = cfg.verifier_id.clone();
            let exp = now.unix_timestamp().saturating_add(cfg.result_ttl.as_secs() as i64);
            let token = sign_ear_jwt_until(&ear, exp, &cfg.signing_key);
            (body, media_type, ear, token)
        })
        .await
        .map_err(|e| {
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "appraisal-failed",
                format!("the appraisal task ended abnormally: {e}"),
            )
        })?;
        let token = token.map_err(|e| {
            refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "signing-failed",
                format!("the result could not be signed: {e}"),
            )
        })?;
        tracing::info!(
            "verifier: session {id}: {} Evidence appraised: {}",
            attested_tls::ear::escape_control(&media_type),
            ear.status
        );
        let evidence = EvidenceBlob {
            media_type: media_type.clone(),
            value: base64::engine::general_purpose::STANDARD.encode(&body),
        };
        // The session may have expired or been deleted meanwhile.
        self.with_session(id, |s| {
            if s.result.is_some() {
                return Err(refusal(
                    StatusCode::CONFLICT,
                    "evidence-already-submitted",
                    "Evidence was already submitted to this session; create a new session",
                ));
            }
            s.result = Some(token);
            Ok(session_response(StatusCode::OK, s, Some(evidence), None))
        })
    }

    fn evidence_kind(&self, media_type: &str) -> Option<EvidenceKind> {
        let base = media_type.split(';').next().unwrap_or("").trim();
        if base.eq_ignore_ascii_case(CMW_CBOR_MEDIA_TYPE) || base.eq_ignore_ascii_case(CMW_JSON_MEDIA_TYPE) {
            return Some(EvidenceKind::Cmw);
        }
        if !media_type.is_empty() && self.inner.cfg.appraiser.verifier_for(media_type).is_some() {
            return Some(EvidenceKind::Raw);
        }
        None
    }
}

enum EvidenceKind {
    /// A CMW (CBOR or JSON), appraised record by record.
    Cmw,
    /// Raw Evidence of a type a policy section's verifier appraises.
    Raw,
}

fn accepted_types() -> Vec<String> {
    vec![CMW_CBOR_MEDIA_TYPE.into(), CMW_JSON_MEDIA_TYPE.into()]
}

fn too_large(max: usize) -> Refusal {
    refusal(
        StatusCode::PAYLOAD_TOO_LARGE,
        "evidence-too-large",
        format!("the Evidence is larger than the {max} bytes this verifier accepts"),
    )
}

fn method_not_allowed(method: &Method, allowed: &str) -> Refusal {
    refusal(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{method} is not allowed here; use {allowed}"),
    )
}

/// A 128-bit random session id, hex.
fn random_id() -> String {
    let mut id = [0u8; 16];
    // The system RNG does not fail on any supported platform; a failure
    // would leave zeros, which a later insert of the same id would reveal,
    // so fail loudly instead.
    aws_lc_rs::rand::fill(&mut id).expect("system random number generator");
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads `nonce=BASE64URL` or `nonceSize=N` (exactly one of them).
fn parse_nonce_query(query: &str) -> Result<[u8; NONCE_LEN], Refusal> {
    let bad = |detail: String| refusal(StatusCode::BAD_REQUEST, "bad-nonce", detail);
    let (mut nonce, mut size) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v).ok_or_else(|| bad(format!("the value of {k:?} is not percent-encoded text")))?;
        match k {
            "nonce" if nonce.is_none() => nonce = Some(v),
            "nonceSize" if size.is_none() => size = Some(v),
            "nonce" | "nonceSize" => return Err(bad(format!("{k} is given twice"))),
            _ => {
                return Err(bad(format!(
                    "unknown query parameter {:?}; give nonce or nonceSize",
                    attested_tls::ear::escape_control(k)
                )))
            }
        }
    }
    match (nonce, size) {
        (Some(_), Some(_)) => Err(bad("give nonce or nonceSize, not both".into())),
        (None, None) => Err(bad(format!(
            "give nonce (base64url of {NONCE_LEN} bytes) or nonceSize={NONCE_LEN}"
        ))),
        (None, Some(size)) => match size.parse::<usize>() {
            Ok(NONCE_LEN) => {
                let mut n = [0u8; NONCE_LEN];
                aws_lc_rs::rand::fill(&mut n).expect("system random number generator");
                Ok(n)
            }
            _ => Err(bad(format!(
                "nonceSize {:?}: this verifier takes {NONCE_LEN}-byte nonces only (the report_data Evidence binds)",
                attested_tls::ear::escape_control(&size)
            ))),
        },
        (Some(text), None) => {
            // 64 bytes are 86 characters unpadded, 88 padded: refuse longer
            // text before decoding it.
            if text.len() > 88 {
                return Err(bad(format!("nonce is {} characters, more than 88", text.len())));
            }
            let bytes = B64URL_READ
                .decode(text.as_bytes())
                .map_err(|e| bad(format!("nonce is not base64url: {e}")))?;
            <[u8; NONCE_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
                bad(format!(
                    "nonce is {} bytes; this verifier takes {NONCE_LEN}-byte nonces only (the report_data Evidence binds)",
                    bytes.len()
                ))
            })
        }
    }
}

/// Base64url, padded or not.
const B64URL_READ: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Decodes `%XX` escapes (e.g. `%3D` for a padding `=`); `None` for a
/// malformed escape or text that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The session resource of `s`; `evidence` only in the answer to the
/// submission (see [`SessionState::result`]).
fn session_response(
    status: StatusCode,
    s: &SessionState,
    evidence: Option<EvidenceBlob>,
    location: Option<&str>,
) -> HttpResponse {
    let resource = SessionResource {
        nonce: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.nonce),
        expiry: rfc3339(s.expiry),
        accept: accepted_types(),
        status: if s.result.is_some() {
            SessionStatus::Complete
        } else {
            SessionStatus::Waiting
        },
        evidence,
        result: s.result.clone(),
    };
    let body = serde_json::to_vec(&resource).unwrap_or_default();
    let mut r = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, SESSION_MEDIA_TYPE)
        .body(Full::new(Bytes::from(body)))
        .expect("static response");
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        r.headers_mut().insert(LOCATION, l);
    }
    r
}

fn problem(r: Refusal) -> HttpResponse {
    let p = Problem {
        problem_type: "about:blank".into(),
        title: r.status.canonical_reason().unwrap_or("Error").into(),
        status: r.status.as_u16(),
        detail: r.detail,
        code: r.code.into(),
    };
    Response::builder()
        .status(r.status)
        .header(CONTENT_TYPE, PROBLEM_MEDIA_TYPE)
        .body(Full::new(Bytes::from(serde_json::to_vec(&p).unwrap_or_default())))
        .expect("static response")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the nonce bounds: exactly one of nonce / nonceSize, 64 bytes,
    /// base64url padded or not (padding percent-encoded or not), text
    /// longer than 88 characters refused before decoding.
    #[test]
    fn nonce_query_bounds() {
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 64]);
        assert_eq!(parse_nonce_query(&format!("nonce={n}")).ok(), Some([7u8; 64]));
        assert_eq!(parse_nonce_query(&format!("nonce={n}%3D%3D")).ok(), Some([7u8; 64]));
        assert!(parse_nonce_query("nonceSize=64").is_ok());
        for (q, needle) in [
            ("", "give nonce"),
            ("nonceSize=32", "64-byte nonces only"),
            ("nonceSize=65", "64-byte nonces only"),
            ("nonceSize=64&nonceSize=64", "twice"),
            (&format!("nonce={n}&nonceSize=64"), "not both"),
            (
                &format!(
                    "nonce={}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([1u8; 32])
                ),
                "is 32 bytes",
            ),
            (&format!("nonce={}", "A".repeat(89)), "more than 88"),
            ("nonce=%zz", "percent-encoded"),
            ("nonce=!!!!", "not base64url"),
            ("foo=1", "unknown query parameter"),
        ] {
            let r = parse_nonce_query(q).err().unwrap_or_else(|| panic!("{q} accepted"));
            assert_eq!(r.code, "bad-nonce", "{q}");
            assert!(r.detail.contains(needle), "{q}: {}", r.detail);
        }
    }
}
