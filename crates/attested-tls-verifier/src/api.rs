//! What goes over HTTP: the challenge-response session resource, the
//! problem details and the media types, shared by the service and the
//! client.
//!
//! The shape follows Veraison's challenge-response API (`veraison/docs`,
//! `api/challenge-response/README.md` and `schemas/components.yaml`): a
//! session resource `{nonce, expiry, accept, status, evidence?, result?}`
//! whose `result` is the Attestation Result as a JWS. See `docs/verifier.md`.

use serde::{Deserialize, Serialize};

/// Media type of the session resource (Veraison's).
pub const SESSION_MEDIA_TYPE: &str = "application/vnd.veraison.challenge-response-session+json";

/// Media type of an error response (RFC 9457).
pub const PROBLEM_MEDIA_TYPE: &str = "application/problem+json";

/// Evidence as a CBOR CMW (RFC 9999): the bytes an attested-tls
/// authenticator carries.
pub const CMW_CBOR_MEDIA_TYPE: &str = "application/cmw+cbor";

/// Evidence as a JSON CMW (RFC 9999).
pub const CMW_JSON_MEDIA_TYPE: &str = "application/cmw+json";

/// The path prefix of the API.
pub const API_PREFIX: &str = "/challenge-response/v1";

/// The one nonce length this verifier takes: the 64-byte `report_data`
/// every attested-tls binding maps to (see `docs/verifier.md`). Veraison
/// allows 8 to 64 bytes; shorter nonces cannot be compared with Evidence
/// of this project's bindings, so they are refused rather than padded.
pub const NONCE_LEN: usize = 64;

/// A session's state (`status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Created; no Evidence yet.
    Waiting,
    /// Evidence being appraised (never seen here: appraisal is synchronous).
    Processing,
    /// Appraised: `result` holds the signed EAR.
    Complete,
    /// Appraisal failed inside the verifier.
    Failed,
}

/// The Evidence submitted to a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceBlob {
    /// Its media type (the request's `Content-Type`).
    #[serde(rename = "type")]
    pub media_type: String,
    /// Its bytes, base64 (standard alphabet, padded).
    pub value: String,
}

/// The challenge-response session resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResource {
    /// The session nonce, base64url without padding.
    pub nonce: String,
    /// When the session is forgotten (RFC 3339, UTC).
    pub expiry: String,
    /// Media types of Evidence the session takes.
    pub accept: Vec<String>,
    /// Where the session stands.
    pub status: SessionStatus,
    /// The submitted Evidence (once submitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceBlob>,
    /// The signed EAR (a compact JWS), once `complete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// An error response (RFC 9457 problem details), with `code`, an
/// extension member naming the problem for programs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Always `about:blank`: `code` says which problem it is.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP reason phrase of `status`.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What was wrong with this request.
    pub detail: String,
    /// One of the problem codes of `docs/verifier.md`.
    pub code: String,
}
