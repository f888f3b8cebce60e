//! Appraisal by a remote verifier (the background-check model) and
//! signed results presented by the attester (the passport model).
//!
//! A relying party whose policy has a `[remote_verifier]` section does not
//! appraise Evidence itself: it sends the Evidence, with the connection's
//! binding as the nonce, to a verification service (`atls verifier serve`,
//! or any service with Veraison's challenge-response API) and checks the
//! signed EAR that comes back with [`RemoteVerifier::check_result`]: its
//! signature with the pinned key, its freshness (`iat`, `exp`, the maximum
//! age) and its binding (`eat_nonce` is this connection's binding). Nothing
//! here does I/O: the HTTP exchange is a [`RemoteVerifierClient`], which
//! the `attested-tls-verifier` crate provides, run by [`crate::net`] under
//! the verifier's timeout.
//!
//! A relying party whose policy has a `[passport]` section accepts, in
//! place of Evidence, a signed EAR the attester obtained from a verifier it
//! trusts ([`PassportVerifier`], for records of [`PASSPORT_MEDIA_TYPE`]),
//! under the same three checks.
//!
//! The nonce is the binding's 64-byte `report_data`
//! ([`ExpectedBinding::report_data`]): it commits to the seat-expat binder
//! and the authenticator key's hash (or, for a relying party that only
//! knows report data, is that value), so one value covers every platform.
//! See `docs/verifier.md`.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use serde::Deserialize;

use crate::binder::ExpectedBinding;
use crate::corim::VerificationKey;
use crate::ear::{claim_value, escape_control, Appraisal, Ear, EatNonce, Tier, TrustClaim};
use crate::ear_jwt::{EarJwtError, EarJwtValidation};
use crate::policy::{Policy, PolicyError};
use crate::verifier::{AppraisalContext, Verifier};

/// Why a remote verifier's answer was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RemoteVerifierError {
    /// The verifier could not be reached (connection refused, no route,
    /// name not resolved).
    #[error("remote verifier {url} is unreachable: {reason}")]
    Unreachable {
        /// The verifier's URL.
        url: String,
        /// The cause.
        reason: String,
    },
    /// The verifier did not answer within the policy's timeout.
    #[error("remote verifier {url} did not answer within {secs} s (remote_verifier.timeout_secs)")]
    Timeout {
        /// The verifier's URL.
        url: String,
        /// The timeout.
        secs: u64,
    },
    /// The verifier answered with an HTTP error (its problem detail quoted).
    #[error("remote verifier {url} answered HTTP {status}: {detail}")]
    Http {
        /// The verifier's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The problem's `detail`, or what the body said (escaped, cut).
        detail: String,
    },
    /// The answer is not what the challenge-response API defines (no
    /// Location, not a session resource, no result, ...).
    #[error("remote verifier {url} broke the challenge-response protocol: {reason}")]
    Protocol {
        /// The verifier's URL.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The URL is not one the client can use.
    #[error("remote verifier URL {url:?} is not usable: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The signed EAR does not verify with the pinned key, is malformed,
    /// expired, too old or not valid yet.
    #[error("the EAR from {issuer} is refused: {source}")]
    Jwt {
        /// Who issued it (the verifier's URL, or `passport`).
        issuer: String,
        /// The reason.
        #[source]
        source: EarJwtError,
    },
    /// The EAR's `eat_nonce` is not this connection's binding: it answers
    /// another challenge (another connection, a replay), or none.
    #[error("the EAR from {issuer} is for another challenge: eat_nonce {observed} is not this connection's binding {expected}")]
    NonceMismatch {
        /// Who issued it.
        issuer: String,
        /// The EAR's `eat_nonce` (base64url), or `(absent)`.
        observed: String,
        /// The binding (base64url) the relying party computed.
        expected: String,
    },
}

/// The HTTP side of remote appraisal: runs one challenge-response exchange
/// (new session with `nonce`, Evidence posted with `media_type`) and
/// returns the signed EAR as it came, unchecked. Implemented by
/// `attested_tls_verifier::client::HttpVerifierClient`; [`crate::net`] runs
/// it under [`RemoteVerifier::timeout`] and checks the result with
/// [`RemoteVerifier::check_result`].
pub trait RemoteVerifierClient: Send + Sync {
    /// Appraises `evidence` at the verifier `url`.
    fn appraise(
        &self,
        url: &str,
        media_type: &'static str,
        evidence: Vec<u8>,
        nonce: [u8; 64],
    ) -> Pin<Box<dyn Future<Output = Result<String, RemoteVerifierError>> + Send + 'static>>;
}

/// Media type of Evidence sent as a CBOR CMW (RFC 9999).
pub const CMW_CBOR_MEDIA_TYPE: &str = "application/cmw+cbor";
/// Media type of Evidence sent as a JSON CMW (RFC 9999).
pub const CMW_JSON_MEDIA_TYPE: &str = "application/cmw+json";

/// The media type of CMW bytes: JSON when they start with `[` or `{`.
pub fn cmw_media_type(cmw: &[u8]) -> &'static str {
    match cmw.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[' | b'{') => CMW_JSON_MEDIA_TYPE,
        _ => CMW_CBOR_MEDIA_TYPE,
    }
}

/// Media type of the CMW record that carries a passport, a signed EAR
/// presented instead of Evidence: the one mode `early`'s passport scheme
/// uses ([`crate::modes::early::EAR_JWT_MEDIA_TYPE`]), a JWT whose payload
/// is an EAR of draft-ietf-rats-ear-04's profile.
pub const PASSPORT_MEDIA_TYPE: &str = crate::modes::early::EAR_JWT_MEDIA_TYPE;

/// Longest `timeout_secs` and `max_age_secs` a policy may set.
pub const MAX_REMOTE_SECS: u64 = 3600;

/// A remote verifier the relying party trusts: where it is, the key its
/// results must be signed with, how old a result may be and how long to
/// wait for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteVerifier {
    url: String,
    key: VerificationKey,
    max_age: Duration,
    timeout: Duration,
}

impl RemoteVerifier {
    /// A remote verifier at `url` (the API base, e.g.
    /// `http://127.0.0.1:8443/challenge-response/v1`), whose EARs verify
    /// with `key`, are at most `max_age` old and arrive within `timeout`.
    pub fn new(url: impl Into<String>, key: VerificationKey, max_age: Duration, timeout: Duration) -> Self {
        Self {
            url: url.into(),
            key,
            max_age,
            timeout,
        }
    }

    /// The API base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How long to wait for the verifier's answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The nonce sent with Evidence that must match `expected`.
    pub fn nonce_for(expected: &ExpectedBinding) -> [u8; 64] {
        expected.report_data()
    }

    /// Checks a signed EAR the verifier returned for Evidence bound to
    /// `expected`: signature with the pinned key, time claims at `now`
    /// with the maximum age, and `eat_nonce` equal to the nonce sent
    /// ([`RemoteVerifier::nonce_for`]). Acceptability of the result itself
    /// (its status) is the caller's, as for a local appraisal.
    pub fn check_result(
        &self,
        token: &str,
        expected: &ExpectedBinding,
        now: time::OffsetDateTime,
    ) -> Result<Ear, RemoteVerifierError> {
        check_signed_ear(token, &[&self.key], self.max_age, expected, now, &self.url)
    }
}

/// The checks of a signed EAR shared by both models: a key of `keys`
/// verifies it; `iat`/`exp`/`nbf` hold at `now` and `iat` is at most
/// `max_age` old; `eat_nonce` is `expected`'s report data.
fn check_signed_ear(
    token: &str,
    keys: &[&VerificationKey],
    max_age: Duration,
    expected: &ExpectedBinding,
    now: time::OffsetDateTime,
    issuer: &str,
) -> Result<Ear, RemoteVerifierError> {
    let validation = EarJwtValidation::at(now).with_max_age(max_age);
    let mut result = Err(EarJwtError::Key("no trusted key".into()));
    for key in keys {
        result = crate::ear_jwt::verify_ear_jwt_with(token, key, &validation);
        // Only a signature that does not verify (or an algorithm not the
        // key's) is worth trying the next key; anything else is final.
        if !matches!(result, Err(EarJwtError::Signature(_) | EarJwtError::Algorithm(_))) {
            break;
        }
    }
    let ear = result.map_err(|source| RemoteVerifierError::Jwt {
        issuer: issuer.to_string(),
        source,
    })?;
    let want = RemoteVerifier::nonce_for(expected);
    match &ear.eat_nonce {
        Some(n) if crate::crypto::constant_time_eq(n.as_bytes(), &want) => Ok(ear),
        other => Err(RemoteVerifierError::NonceMismatch {
            issuer: issuer.to_string(),
            observed: other.as_ref().map_or_else(|| "(absent)".into(), EatNonce::to_base64url),
            expected: EatNonce::new(want.to_vec())
                .map(|n| n.to_base64url())
                .unwrap_or_default(),
        }),
    }
}

fn default_max_age() -> u64 {
    60
}

fn default_timeout() -> u64 {
    10
}

fn check_secs(key: &str, secs: u64) -> Result<Duration, PolicyError> {
    if secs == 0 || secs > MAX_REMOTE_SECS {
        return Err(PolicyError::value(
            key,
            format!("{secs}; must be 1 to {MAX_REMOTE_SECS} seconds"),
        ));
    }
    Ok(Duration::from_secs(secs))
}

fn read_key(policy: &Policy, key: &str, path: &std::path::Path) -> Result<VerificationKey, PolicyError> {
    let file = policy.resolve(path);
    let bytes = crate::fsutil::read_bounded(&file, crate::fsutil::MAX_CONFIG_FILE_LEN)
        .map_err(|e| PolicyError::value(key, format!("cannot read {}: {e}", file.display())))?;
    VerificationKey::from_pem_or_jwk(&bytes).map_err(|e| PolicyError::value(key, format!("{}: {e}", file.display())))
}

/// The `[remote_verifier]` policy section.
///
/// ```toml
/// [remote_verifier]
/// url = "http://127.0.0.1:8443/challenge-response/v1"
/// public_key = "verifier.pub.pem"   # relative to the policy file
/// max_age_secs = 60                 # default 60
/// timeout_secs = 10                 # default 10
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteVerifierPolicy {
    /// The API base URL (`http://HOST:PORT/challenge-response/v1`).
    pub url: String,
    /// The verifier's public key (PEM SubjectPublicKeyInfo or JWK).
    pub public_key: PathBuf,
    /// Largest age of a result (`now - iat`), 1 to 3600 s.
    #[serde(default = "default_max_age")]
    pub max_age_secs: u64,
    /// How long to wait for the verifier, 1 to 3600 s.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

impl RemoteVerifierPolicy {
    /// The verifier, with its key read.
    pub fn remote_verifier(&self, policy: &Policy) -> Result<RemoteVerifier, PolicyError> {
        let url = self.url.trim();
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(PolicyError::value(
                "remote_verifier.url",
                format!("{url:?} is not an http:// or https:// URL"),
            ));
        }
        Ok(RemoteVerifier::new(
            url.trim_end_matches('/'),
            read_key(policy, "remote_verifier.public_key", &self.public_key)?,
            check_secs("remote_verifier.max_age_secs", self.max_age_secs)?,
            check_secs("remote_verifier.timeout_secs", self.timeout_secs)?,
        ))
    }
}

/// Largest number of trusted keys a `[passport]` section may list.
pub const MAX_PASSPORT_KEYS: usize = 16;

/// Appraises passports: a CMW record of [`PASSPORT_MEDIA_TYPE`] holding an
/// EAR JWT signed by one of the trusted verifier keys, fresh (`iat` at
/// most `max_age` old, `exp` not passed) and whose `eat_nonce` is this
/// connection's `report_data`. The result is one submodule, `passport`,
/// carrying the verifier's trustworthiness claims (the worst of its
/// submodules'), its findings (prefixed with their submodule) and claims
/// naming the verifier, its `iat` and its submodules; it is
/// contraindicated when a check fails (findings `passport_signature`,
/// `passport_freshness`, `passport_nonce`, `passport_format`) or the
/// verifier's result is not acceptable (`passport_status`).
#[derive(Clone, Debug)]
pub struct PassportVerifier {
    keys: Vec<VerificationKey>,
    max_age: Duration,
}

impl PassportVerifier {
    /// A verifier of passports signed by one of `keys`, at most `max_age` old.
    pub fn new(keys: Vec<VerificationKey>, max_age: Duration) -> Self {
        Self { keys, max_age }
    }

    /// The checked EAR of a passport, or why it is refused.
    pub fn check(
        &self,
        token: &[u8],
        expected: &ExpectedBinding,
        now: time::OffsetDateTime,
    ) -> Result<Ear, RemoteVerifierError> {
        let token = std::str::from_utf8(token).map_err(|_| RemoteVerifierError::Jwt {
            issuer: "passport".into(),
            source: EarJwtError::Malformed("the token is not UTF-8".into()),
        })?;
        let keys: Vec<&VerificationKey> = self.keys.iter().collect();
        check_signed_ear(token, &keys, self.max_age, expected, now, "passport")
    }
}

impl Verifier for PassportVerifier {
    fn platform(&self) -> &'static str {
        "passport"
    }

    fn accepts_media_type(&self, media_type: &str) -> bool {
        media_type == PASSPORT_MEDIA_TYPE
    }

    fn appraise(&self, _media_type: &str, evidence: &[u8], ctx: &AppraisalContext<'_>) -> Appraisal {
        let mut a = Appraisal::new(ctx.policy_id);
        let ear = match self.check(evidence, ctx.expected, ctx.now) {
            Ok(ear) => ear,
            Err(e) => {
                let claim = match &e {
                    RemoteVerifierError::NonceMismatch { .. } => "passport_nonce",
                    RemoteVerifierError::Jwt {
                        source: EarJwtError::Signature(_) | EarJwtError::Algorithm(_) | EarJwtError::Key(_),
                        ..
                    } => "passport_signature",
                    RemoteVerifierError::Jwt {
                        source:
                            EarJwtError::Expired { .. }
                            | EarJwtError::TooOld { .. }
                            | EarJwtError::NotYetValid { .. }
                            | EarJwtError::MissingIat
                            | EarJwtError::InvalidTimeClaim(_),
                        ..
                    } => "passport_freshness",
                    _ => "passport_format",
                };
                a.fail(
                    TrustClaim::InstanceIdentity,
                    claim_value::UNTRUSTWORTHY_INSTANCE,
                    claim,
                    None,
                    None,
                    escape_control(&e.to_string()).into_owned(),
                );
                return a.finish();
            }
        };
        a.claim(
            "passport_verifier",
            serde_json::to_value(&ear.ear_verifier_id).unwrap_or_default(),
        );
        a.claim("passport_iat", ear.iat);
        a.claim(
            "passport_submods",
            serde_json::to_value(&ear.submods).unwrap_or_default(),
        );
        for (name, sub) in &ear.submods {
            for (claim, value) in &sub.trust_vector {
                a.set(*claim, *value);
            }
            for f in &sub.findings {
                let mut f = f.clone();
                f.claim = format!("{}: {}", escape_control(name), f.claim);
                a.findings.push(f);
            }
        }
        if !ear.is_acceptable() {
            a.fail(
                TrustClaim::InstanceIdentity,
                claim_value::UNTRUSTWORTHY_INSTANCE,
                "passport_status",
                Some(ear.status.to_string()),
                Some("affirming or warning".into()),
                format!("the verifier's result is not acceptable: {}", ear.refusal_summary()),
            );
        } else if ear.status == Tier::Warning && !a.findings.iter().any(|f| f.tier == Tier::Warning) {
            // A warning the verifier gave without saying why stays a warning.
            a.warn(
                TrustClaim::Configuration,
                claim_value::UNSAFE_CONFIG,
                "passport_status",
                Some(ear.status.to_string()),
                "the verifier's result is a warning",
            );
        }
        a.finish()
    }
}

/// The `[passport]` policy section.
///
/// ```toml
/// [passport]
/// verifier_keys = ["verifier.pub.pem"]   # relative to the policy file
/// max_age_secs = 60                      # default 60
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassportPolicy {
    /// Public keys (PEM SubjectPublicKeyInfo or JWK) of the verifiers whose
    /// passports are accepted; 1 to [`MAX_PASSPORT_KEYS`].
    pub verifier_keys: Vec<PathBuf>,
    /// Largest age of a passport (`now - iat`), 1 to 3600 s.
    #[serde(default = "default_max_age")]
    pub max_age_secs: u64,
}

impl PassportPolicy {
    /// The verifier, with its keys read.
    pub fn verifier(&self, policy: &Policy) -> Result<PassportVerifier, PolicyError> {
        if self.verifier_keys.is_empty() || self.verifier_keys.len() > MAX_PASSPORT_KEYS {
            return Err(PolicyError::value(
                "passport.verifier_keys",
                format!(
                    "lists {} keys; list 1 to {MAX_PASSPORT_KEYS} (without a key no passport can be accepted: \
                     remove the [passport] section instead)",
                    self.verifier_keys.len()
                ),
            ));
        }
        let keys = self
            .verifier_keys
            .iter()
            .map(|k| read_key(policy, "passport.verifier_keys", k))
            .collect::<Result<_, _>>()?;
        Ok(PassportVerifier::new(
            keys,
            check_secs("passport.max_age_secs", self.max_age_secs)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_pem() -> String {
        let k = crate::ear_jwt::SigningKeyPem::from_pem(crate::ear_jwt::generate_signing_key_pem().unwrap().as_bytes())
            .unwrap();
        k.public_key_pem().unwrap()
    }

    /// Guards the `[remote_verifier]` section: its keys are read (with
    /// defaults), bad values are refused naming the key, and platform
    /// sections beside it are refused (they would silently not apply).
    #[test]
    fn the_remote_verifier_section() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("v.pem"), key_pem()).unwrap();
        let policy = |body: &str| Policy::from_toml(&format!("id = \"rp\"\n{body}"), dir.path());
        let a =
            policy("[remote_verifier]\nurl = \"http://127.0.0.1:1/challenge-response/v1/\"\npublic_key = \"v.pem\"\n")
                .unwrap()
                .appraiser()
                .unwrap();
        let r = a.remote_verifier().unwrap();
        assert_eq!(r.url(), "http://127.0.0.1:1/challenge-response/v1");
        assert_eq!(
            (r.timeout(), r.max_age),
            (Duration::from_secs(10), Duration::from_secs(60))
        );
        assert!(!a.has_platforms());
        let refused = |body: &str| policy(body).unwrap().appraiser().unwrap_err();
        for (body, key) in [
            ("[remote_verifier]\nurl = \"ftp://v\"\npublic_key = \"v.pem\"\n", "remote_verifier.url"),
            ("[remote_verifier]\nurl = \"http://v\"\npublic_key = \"missing.pem\"\n", "remote_verifier.public_key"),
            (
                "[remote_verifier]\nurl = \"http://v\"\npublic_key = \"v.pem\"\ntimeout_secs = 0\n",
                "remote_verifier.timeout_secs",
            ),
            (
                "[remote_verifier]\nurl = \"http://v\"\npublic_key = \"v.pem\"\nmax_age_secs = 3601\n",
                "remote_verifier.max_age_secs",
            ),
            (
                "[sim]\ntrusted_roots = []\nmeasurements = []\n[remote_verifier]\nurl = \"http://v\"\npublic_key = \"v.pem\"\n",
                "remote_verifier",
            ),
        ] {
            let e = refused(body);
            assert!(matches!(&e, PolicyError::Value { key: k, .. } if k == key), "{body}: {e}");
        }
        // A misspelt key is an error, never ignored.
        let e = policy("[remote_verifier]\nurl = \"http://v\"\npublic_key = \"v.pem\"\ntimeout = 1\n").unwrap_err();
        assert!(e.to_string().contains("timeout"), "{e}");
    }
}
