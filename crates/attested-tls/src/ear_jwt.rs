//! Signed EAR: an [`Ear`] as a compact JWS / JWT (RFC 7515, RFC 7519).
//!
//! The header is `{"alg": "ES256" | "ES384" | "EdDSA", "typ": "JWT"}`, the
//! payload the EAR JSON, and ECDSA signatures are the raw `r || s` of
//! RFC 7518 §3.4. Keys are PKCS#8 PEM private keys (P-256, P-384 or
//! Ed25519) for signing and PEM SubjectPublicKeyInfo (or JWK) public keys
//! for verifying.
//!
//! Reading refuses `alg: none`, an `alg` that is not the key's, a `crit`
//! header, bad signatures and malformed base64 or JSON, and accepts both
//! the draft-ietf-rats-ear claim names and the older Veraison dotted ones
//! (`ear.status`, `ear.trustworthiness-vector`, `ear.appraisal-policy-id`,
//! `ear.verifier-id`), but never both names of one claim, and never a JSON
//! object that repeats a key (a generic JSON reader keeps only one of the
//! values, so the two could be read differently by two relying parties).
//!
//! A signed EAR is only as current as its time claims say: reading takes
//! the verification time and an optional maximum age in an
//! [`EarJwtValidation`], requires `iat` and enforces `exp` and `nbf` when
//! present (see [`EarJwtValidation`] for the rules).
//!
//! An imported submodule is never more trusted than its own claims: its
//! status is lowered to the worst tier of its trustworthiness vector and
//! findings, and the overall status to [`Tier::overall`] of the submodules.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;

use crate::corim::VerificationKey;
use crate::ear::{Ear, Tier, EAR_PROFILE, EAR_PROFILE_VERAISON};

/// Largest token accepted by [`verify_ear_jwt`], checked before decoding.
pub const MAX_JWT_LEN: usize = 1024 * 1024;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why an EAR could not be signed or a signed EAR not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EarJwtError {
    /// The key could not be parsed or is of an unsupported type.
    #[error("key: {0}")]
    Key(String),
    /// The token is not a well-formed compact JWS.
    #[error("malformed JWT: {0}")]
    Malformed(String),
    /// The header's `alg` is refused.
    #[error("JWT algorithm refused: {0}")]
    Algorithm(String),
    /// The signature does not verify with the key.
    #[error("JWT signature does not verify with the {0} key")]
    Signature(&'static str),
    /// The payload is not an EAR.
    #[error("JWT payload is not an EAR: {0}")]
    Claims(String),
    /// The signing operation failed.
    #[error("signing failed")]
    Signing,
    /// A JSON object in the header or payload repeats a key.
    #[error("JWT {part} repeats a JSON key: {detail}")]
    DuplicateKey {
        /// `header` or `payload`.
        part: &'static str,
        /// Which key, and where.
        detail: String,
    },
    /// A claim is given under both its draft-ietf-rats-ear name and its
    /// Veraison dotted name.
    #[error("the EAR gives both {draft:?} and {veraison:?}, two names of one claim")]
    ConflictingClaimNames {
        /// The draft-ietf-rats-ear (or this crate's) name.
        draft: &'static str,
        /// The Veraison dotted name.
        veraison: &'static str,
    },
    /// The EAR has no `iat`, which draft-ietf-rats-ear requires.
    #[error("the EAR has no iat (issued-at) claim")]
    MissingIat,
    /// `iat`, `exp` or `nbf` is not an integer NumericDate.
    #[error("{0} is not an integer NumericDate (seconds since the Unix epoch)")]
    InvalidTimeClaim(&'static str),
    /// `exp` is at or before the verification time (less the leeway).
    #[error("the EAR expired: exp {exp} is at or before the verification time {now}")]
    Expired {
        /// The token's `exp`, seconds since the Unix epoch.
        exp: i64,
        /// The verification time, seconds since the Unix epoch.
        now: i64,
    },
    /// `nbf` or `iat` is after the verification time (plus the leeway).
    #[error("the EAR is not valid yet: {claim} {value} is after the verification time {now}")]
    NotYetValid {
        /// `nbf` or `iat`.
        claim: &'static str,
        /// Its value, seconds since the Unix epoch.
        value: i64,
        /// The verification time, seconds since the Unix epoch.
        now: i64,
    },
    /// `iat` is older than the maximum age (plus the leeway).
    #[error("the EAR is too old: iat {iat} is more than {max_age_secs} s before the verification time {now}")]
    TooOld {
        /// The token's `iat`, seconds since the Unix epoch.
        iat: i64,
        /// The verification time, seconds since the Unix epoch.
        now: i64,
        /// The maximum age, in whole seconds.
        max_age_secs: u64,
    },
}

/// Largest clock-skew leeway [`EarJwtValidation::with_leeway`] accepts; a
/// larger one is reduced to this. A leeway tolerates clocks that disagree
/// by a little, not tokens that are stale by a lot.
pub const MAX_EAR_LEEWAY: std::time::Duration = std::time::Duration::from_secs(60);

/// When a signed EAR is read, and how old it may be.
///
/// With `now` the verification time, `leeway` the clock-skew tolerance
/// (zero unless set, at most [`MAX_EAR_LEEWAY`]) and all times in whole
/// seconds since the Unix epoch, an EAR is refused when:
/// - it has no `iat` (draft-ietf-rats-ear requires it), or `iat`, `exp` or
///   `nbf` is not an integer;
/// - `exp` is present and `exp <= now - leeway` (expired at or before now);
/// - `nbf` is present and `nbf > now + leeway` (not valid yet);
/// - `iat > now + leeway` (issued in the future);
/// - a maximum age is set and `iat < now - max_age - leeway` (too old).
///
/// `exp` and `nbf` are optional ([`sign_ear_jwt`] emits neither, only
/// `iat`), but enforced when present. Without a maximum age, an EAR
/// without `exp` does not go stale: set one unless the EAR is known to be
/// fresh some other way (e.g. its `eat_nonce` was checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarJwtValidation {
    now: time::OffsetDateTime,
    max_age: Option<std::time::Duration>,
    leeway: std::time::Duration,
}

impl EarJwtValidation {
    /// Validation at `now`, with no maximum age and no leeway.
    pub const fn at(now: time::OffsetDateTime) -> Self {
        Self {
            now,
            max_age: None,
            leeway: std::time::Duration::ZERO,
        }
    }

    /// Refuses an EAR whose `iat` is more than `max_age` (whole seconds)
    /// before the verification time.
    #[must_use]
    pub const fn with_max_age(mut self, max_age: std::time::Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Tolerates clocks that disagree by up to `leeway` (whole seconds),
    /// reduced to [`MAX_EAR_LEEWAY`] if larger.
    #[must_use]
    pub fn with_leeway(mut self, leeway: std::time::Duration) -> Self {
        self.leeway = leeway.min(MAX_EAR_LEEWAY);
        self
    }

    /// Applies the rules above to the payload's time claims.
    fn check(&self, obj: &serde_json::Map<String, serde_json::Value>) -> Result<(), EarJwtError> {
        let int = |claim: &'static str| -> Result<Option<i64>, EarJwtError> {
            match obj.get(claim) {
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or(EarJwtError::InvalidTimeClaim(claim)),
            }
        };
        let iat = int("iat")?.ok_or(EarJwtError::MissingIat)?;
        let (exp, nbf) = (int("exp")?, int("nbf")?);
        let now = self.now.unix_timestamp();
        // i128: none of these sums can overflow, whatever the token says.
        let (n, leeway) = (i128::from(now), i128::from(self.leeway.as_secs()));
        if let Some(exp) = exp {
            if i128::from(exp) <= n - leeway {
                return Err(EarJwtError::Expired { exp, now });
            }
        }
        for (claim, value) in [("nbf", nbf), ("iat", Some(iat))] {
            if let Some(value) = value {
                if i128::from(value) > n + leeway {
                    return Err(EarJwtError::NotYetValid { claim, value, now });
                }
            }
        }
        if let Some(max_age) = self.max_age {
            let max_age_secs = max_age.as_secs();
            if i128::from(iat) < n - i128::from(max_age_secs) - leeway {
                return Err(EarJwtError::TooOld { iat, now, max_age_secs });
            }
        }
        Ok(())
    }
}

enum Inner {
    P256(EcdsaKeyPair),
    P384(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// A private key for signing EARs, parsed from a PKCS#8 PEM
/// (`-----BEGIN PRIVATE KEY-----`): P-256 (ES256), P-384 (ES384) or
/// Ed25519 (EdDSA).
pub struct SigningKeyPem {
    inner: Inner,
}

impl std::fmt::Debug for SigningKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyPem")
            .field("alg", &self.alg())
            .finish_non_exhaustive()
    }
}

impl SigningKeyPem {
    /// Parses a PKCS#8 PEM private key.
    pub fn from_pem(pem: &[u8]) -> Result<Self, EarJwtError> {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem)
            .map_err(|e| EarJwtError::Key(format!("no PKCS#8 PEM private key: {e}")))?;
        let der = der.secret_pkcs8_der();
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            return Ok(Self { inner: Inner::P256(k) });
        }
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, der) {
            return Ok(Self { inner: Inner::P384(k) });
        }
        if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Ok(Self {
                inner: Inner::Ed25519(k),
            });
        }
        Err(EarJwtError::Key(
            "the PKCS#8 key is not a P-256, P-384 or Ed25519 key".into(),
        ))
    }

    /// The JWS `alg` this key signs with.
    pub const fn alg(&self) -> &'static str {
        match self.inner {
            Inner::P256(_) => "ES256",
            Inner::P384(_) => "ES384",
            Inner::Ed25519(_) => "EdDSA",
        }
    }

    /// The matching verification key.
    pub fn public_key(&self) -> VerificationKey {
        match &self.inner {
            Inner::P256(k) => VerificationKey::P256(k.public_key().as_ref().to_vec()),
            Inner::P384(k) => VerificationKey::P384(k.public_key().as_ref().to_vec()),
            Inner::Ed25519(k) => VerificationKey::Ed25519(k.public_key().as_ref().to_vec()),
        }
    }

    /// The public key as a PEM SubjectPublicKeyInfo.
    pub fn public_key_pem(&self) -> Result<String, EarJwtError> {
        let der = match &self.inner {
            Inner::P256(k) | Inner::P384(k) => k.public_key().as_der().map_err(|_| EarJwtError::Signing)?,
            Inner::Ed25519(k) => k.public_key().as_der().map_err(|_| EarJwtError::Signing)?,
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        Ok(pem)
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, EarJwtError> {
        let rng = SystemRandom::new();
        match &self.inner {
            Inner::P256(k) | Inner::P384(k) => {
                Ok(k.sign(&rng, msg).map_err(|_| EarJwtError::Signing)?.as_ref().to_vec())
            }
            Inner::Ed25519(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

/// Signs an EAR as a compact JWS (`header.payload.signature`, base64url
/// without padding). Only fails if the cryptographic library does.
pub fn sign_ear_jwt(ear: &Ear, key: &SigningKeyPem) -> Result<String, EarJwtError> {
    let header = serde_json::json!({"alg": key.alg(), "typ": "JWT"});
    let payload = serde_json::to_vec(ear).map_err(|e| {
        // serde quotes unknown variants and fields, which the signer chose.
        EarJwtError::Claims(crate::ear::escape_control(&e.to_string()).into_owned())
    })?;
    let mut signing_input = B64.encode(header.to_string());
    signing_input.push('.');
    signing_input.push_str(&B64.encode(payload));
    let sig = key.sign(signing_input.as_bytes())?;
    signing_input.push('.');
    signing_input.push_str(&B64.encode(sig));
    Ok(signing_input)
}

/// Verifies a signed EAR with a PEM public key (SubjectPublicKeyInfo) or a
/// JWK, checks its time claims against `validation` (see
/// [`EarJwtValidation`]), and returns the EAR as [`ear_from_json`] reads it.
pub fn verify_ear_jwt(token: &str, public_key: &[u8], validation: &EarJwtValidation) -> Result<Ear, EarJwtError> {
    let key = VerificationKey::from_pem_or_jwk(public_key).map_err(|e| EarJwtError::Key(e.to_string()))?;
    verify_ear_jwt_with(token, &key, validation)
}

/// Verifies a signed EAR with a parsed key; otherwise as [`verify_ear_jwt`].
/// A header or payload that repeats a JSON key is refused.
pub fn verify_ear_jwt_with(
    token: &str,
    key: &VerificationKey,
    validation: &EarJwtValidation,
) -> Result<Ear, EarJwtError> {
    if token.len() > MAX_JWT_LEN {
        return Err(EarJwtError::Malformed(format!(
            "{} bytes, more than the {MAX_JWT_LEN} accepted",
            token.len()
        )));
    }
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(EarJwtError::Malformed("expected three dot-separated parts".into()));
    };
    let dec = |what: &str, x: &str| {
        B64.decode(x)
            .map_err(|e| EarJwtError::Malformed(format!("{what} is not base64url: {e}")))
    };
    let header = parse_json("header", &dec("header", h)?)?;
    let header = header
        .as_object()
        .ok_or_else(|| EarJwtError::Malformed("header is not a JSON object".into()))?;
    let alg = header
        .get("alg")
        .and_then(|a| a.as_str())
        .ok_or_else(|| EarJwtError::Algorithm("header has no alg".into()))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(EarJwtError::Algorithm(
            "\"none\" (unsigned tokens are never accepted)".into(),
        ));
    }
    if alg != key.jose_alg() {
        return Err(EarJwtError::Algorithm(format!(
            "{alg:?} is not the algorithm of the {} key",
            key.jose_alg()
        )));
    }
    if header.contains_key("crit") {
        return Err(EarJwtError::Malformed(
            "critical header parameters are not supported".into(),
        ));
    }
    if let Some(typ) = header.get("typ") {
        let ok = typ.as_str().is_some_and(|t| {
            t.eq_ignore_ascii_case("JWT")
                || t.eq_ignore_ascii_case("application/eat+jwt")
                || t.eq_ignore_ascii_case("eat+jwt")
        });
        if !ok {
            return Err(EarJwtError::Malformed(format!("typ {typ} is not JWT")));
        }
    }
    let sig = dec("signature", s)?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    key.verify(signing_input.as_bytes(), &sig)
        .map_err(|_| EarJwtError::Signature(key.jose_alg()))?;
    let payload = parse_json("payload", &dec("payload", p)?)?;
    ear_from_json(payload, validation)
}

/// Parses JSON, refusing an object that repeats a key: `serde_json::Value`
/// keeps the last of repeated keys, so a check on it cannot see them.
fn parse_json(part: &'static str, bytes: &[u8]) -> Result<serde_json::Value, EarJwtError> {
    if let Err(e) = serde_json::from_slice::<NoDuplicateKeys>(bytes) {
        // The walk accepts every JSON value, so its only data error is the
        // repeated key; syntax, EOF and nesting-limit errors are malformed JSON.
        return Err(if e.is_data() {
            EarJwtError::DuplicateKey {
                part,
                detail: e.to_string(),
            }
        } else {
            EarJwtError::Malformed(format!("{part} is not JSON: {e}"))
        });
    }
    serde_json::from_slice(bytes).map_err(|e| EarJwtError::Malformed(format!("{part} is not JSON: {e}")))
}

/// A walk over any JSON value that fails on the first object repeating a
/// key (compared after unescaping, so `"a"` and `"\u0061"` are the same).
/// It keeps nothing; serde_json's recursion limit bounds its depth.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = NoDuplicateKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_i64<E>(self, _: i64) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_u64<E>(self, _: u64) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_f64<E>(self, _: f64) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_str<E>(self, _: &str) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_unit<E>(self) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_none<E>(self) -> Result<NoDuplicateKeys, E> {
                Ok(NoDuplicateKeys)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicateKeys, A::Error> {
                while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
                Ok(NoDuplicateKeys)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicateKeys, A::Error> {
                let mut seen = std::collections::BTreeSet::new();
                while let Some(key) = map.next_key::<String>()? {
                    if seen.contains(&key) {
                        return Err(serde::de::Error::custom(format_args!("{key:?} is repeated")));
                    }
                    map.next_value::<NoDuplicateKeys>()?;
                    seen.insert(key);
                }
                Ok(NoDuplicateKeys)
            }
        }
        d.deserialize_any(V)
    }
}

/// Refuses a claim given under both its Veraison name `from` and this
/// crate's name `to`, rather than ignoring one of them: the two values
/// could differ, and which one counts would be arbitrary.
fn refuse_both(
    obj: &serde_json::Map<String, serde_json::Value>,
    from: &'static str,
    to: &'static str,
) -> Result<(), EarJwtError> {
    if obj.contains_key(to) && obj.contains_key(from) {
        return Err(EarJwtError::ConflictingClaimNames {
            draft: to,
            veraison: from,
        });
    }
    Ok(())
}

/// Moves the Veraison name `from` of a claim to this crate's name `to`,
/// refusing a claim given under both ([`refuse_both`]).
fn rename(
    obj: &mut serde_json::Map<String, serde_json::Value>,
    from: &'static str,
    to: &'static str,
) -> Result<(), EarJwtError> {
    refuse_both(obj, from, to)?;
    if let Some(v) = obj.remove(from) {
        obj.insert(to.to_string(), v);
    }
    Ok(())
}

/// `status` lowered to `worst`, the worst tier its own evidence implies: a
/// contraindicated claim makes it contraindicated; otherwise it becomes
/// the worse of the two, except that `none` (no statement) stays `none`,
/// since `max` would raise it to an acceptable tier.
fn cap(status: Tier, worst: Tier) -> Tier {
    match (status, worst) {
        (_, Tier::Contraindicated) => Tier::Contraindicated,
        (Tier::None, _) => Tier::None,
        (s, w) => s.max(w),
    }
}

/// Reads EAR JSON, accepting the draft names and the older Veraison dotted
/// names, and checks its time claims against `validation` (see
/// [`EarJwtValidation`]).
///
/// - The profile must be [`EAR_PROFILE`] or [`EAR_PROFILE_VERAISON`].
/// - A claim given under both its names is refused
///   ([`EarJwtError::ConflictingClaimNames`]). Repeated JSON keys cannot be
///   seen in a `serde_json::Value` (it keeps the last one):
///   [`verify_ear_jwt`] refuses them in the raw payload.
/// - Each submodule's status is lowered to the worst tier of its
///   trustworthiness vector (AR4SI values: 2..=31 affirming, 32..=95
///   warning, 96..=127 contraindicated) and of its findings, as
///   [`crate::ear::Appraisal::finish`] computes it; a `none` status stays
///   `none` unless a claim is contraindicated.
/// - The overall status is [`Tier::overall`] of the submodules, or the
///   issuer's overall status where that is worse (or `none`); `none` when
///   no submodule was appraised, whatever the issuer says.
pub fn ear_from_json(value: serde_json::Value, validation: &EarJwtValidation) -> Result<Ear, EarJwtError> {
    use serde_json::{json, Value};
    let Value::Object(mut obj) = value else {
        return Err(EarJwtError::Claims("not a JSON object".into()));
    };
    match obj.get("eat_profile").and_then(|p| p.as_str()) {
        Some(EAR_PROFILE) | Some(EAR_PROFILE_VERAISON) => {}
        other => return Err(EarJwtError::Claims(format!("unknown eat_profile {other:?}"))),
    }
    validation.check(&obj)?;
    rename(&mut obj, "ear.verifier-id", "ear_verifier_id")?;
    rename(&mut obj, "ear.status", "status")?;
    let status_given = obj.contains_key("status");
    if !status_given {
        obj.insert("status".into(), json!("none"));
    }
    let Some(Value::Object(submods)) = obj.get_mut("submods") else {
        return Err(EarJwtError::Claims("no submods object".into()));
    };
    for (name, sm) in submods.iter_mut() {
        let Value::Object(sm) = sm else {
            return Err(EarJwtError::Claims(format!("submod {name:?} is not an object")));
        };
        rename(sm, "ear.status", "ear_status")?;
        rename(sm, "ear.trustworthiness-vector", "ear_trustworthiness_vector")?;
        refuse_both(sm, "ear.appraisal-policy-id", "ear_appraisal_policy_ids")?;
        if !sm.contains_key("ear_appraisal_policy_ids") {
            // Veraison gives one policy id as a string, the draft a list.
            let ids = match sm.remove("ear.appraisal-policy-id") {
                Some(Value::String(s)) => json!([s]),
                Some(other) => other,
                None => json!([]),
            };
            sm.insert("ear_appraisal_policy_ids".into(), ids);
        }
        sm.entry("ear_trustworthiness_vector").or_insert_with(|| json!({}));
        sm.entry("attested_tls_claims").or_insert_with(|| json!({}));
        sm.entry("attested_tls_findings").or_insert_with(|| json!([]));
    }
    let mut ear: Ear = serde_json::from_value(Value::Object(obj)).map_err(|e| {
        // serde quotes unknown variants and fields, which the signer chose.
        EarJwtError::Claims(crate::ear::escape_control(&e.to_string()).into_owned())
    })?;
    for a in ear.submods.values_mut() {
        // The issuer's `ear_status` is a summary of the vector and findings
        // it sent along; where they disagree, the worse one is believed.
        let vector = a.trust_vector.values().map(|v| Tier::of_claim_value(*v));
        let worst = vector.chain(a.findings.iter().map(|f| f.tier)).max();
        a.status = cap(a.status, worst.unwrap_or(Tier::None));
    }
    // The same combination as `Ear::new`: a `none` submodule beside
    // appraised ones makes the result contraindicated, not affirming.
    let overall = Tier::overall(ear.submods.values().map(|a| a.status));
    // An issuer's overall status counts only where it is worse than the
    // submodules' (or `none`); with nothing appraised the result is `none`.
    ear.status = if status_given && overall != Tier::None {
        cap(ear.status, overall)
    } else {
        overall
    };
    Ok(ear)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ear::{Appraisal, TrustClaim};

    fn pem(label: &str, der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
    }

    fn key(alg: &str) -> SigningKeyPem {
        let rng = SystemRandom::new();
        let doc = match alg {
            "ES256" => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .unwrap()
                .as_ref()
                .to_vec(),
            "ES384" => EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
                .unwrap()
                .as_ref()
                .to_vec(),
            _ => Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref().to_vec(),
        };
        SigningKeyPem::from_pem(pem("PRIVATE KEY", &doc).as_bytes()).unwrap()
    }

    fn ear() -> Ear {
        let mut a = Appraisal::new("prod");
        a.set(TrustClaim::Hardware, 2);
        a.claim("realm.initial_measurement", "00ff");
        Ear::new(
            1_700_000_000,
            BTreeMap::from([("cca".to_string(), a.finish())]),
            Some("ab".into()),
        )
    }

    #[test]
    fn round_trip_for_every_algorithm() {
        for alg in ["ES256", "ES384", "EdDSA"] {
            let k = key(alg);
            assert_eq!(k.alg(), alg);
            let jwt = sign_ear_jwt(&ear(), &k).unwrap();
            let header: serde_json::Value =
                serde_json::from_slice(&B64.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
            assert_eq!(header, serde_json::json!({"alg": alg, "typ": "JWT"}));
            let pub_pem = k.public_key_pem().unwrap();
            assert_eq!(verify_ear_jwt(&jwt, pub_pem.as_bytes(), &v()).unwrap(), ear(), "{alg}");
            assert_eq!(verify_ear_jwt_with(&jwt, &k.public_key(), &v()).unwrap(), ear());
        }
    }

    #[test]
    fn ecdsa_signatures_are_raw_r_s() {
        let jwt = sign_ear_jwt(&ear(), &key("ES384")).unwrap();
        assert_eq!(B64.decode(jwt.rsplit('.').next().unwrap()).unwrap().len(), 96);
        let jwt = sign_ear_jwt(&ear(), &key("ES256")).unwrap();
        assert_eq!(B64.decode(jwt.rsplit('.').next().unwrap()).unwrap().len(), 64);
    }

    #[test]
    fn tampered_payload_is_refused() {
        let k = key("ES256");
        let jwt = sign_ear_jwt(&ear(), &k).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        let mut other = ear();
        other.iat += 1;
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(serde_json::to_vec(&other).unwrap()),
            parts[2]
        );
        assert_eq!(
            verify_ear_jwt_with(&forged, &k.public_key(), &v()),
            Err(EarJwtError::Signature("ES256"))
        );
    }

    #[test]
    fn alg_none_and_alg_mismatch_are_refused() {
        let k = key("ES256");
        let payload = B64.encode(serde_json::to_vec(&ear()).unwrap());
        for alg in ["none", "None", "NONE"] {
            let h = B64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let t = format!("{h}.{payload}.");
            assert!(matches!(
                verify_ear_jwt_with(&t, &k.public_key(), &v()),
                Err(EarJwtError::Algorithm(_))
            ));
        }
        // Signed with ES384 but checked with an ES256 key, and HS256 headers.
        let jwt = sign_ear_jwt(&ear(), &key("ES384")).unwrap();
        assert!(matches!(
            verify_ear_jwt_with(&jwt, &k.public_key(), &v()),
            Err(EarJwtError::Algorithm(_))
        ));
        let h = B64.encode(r#"{"alg":"HS256"}"#);
        assert!(matches!(
            verify_ear_jwt_with(&format!("{h}.{payload}.AAAA"), &k.public_key(), &v()),
            Err(EarJwtError::Algorithm(_))
        ));
        let h = B64.encode(r#"{"alg":"ES256","crit":["exp"]}"#);
        assert!(matches!(
            verify_ear_jwt_with(&format!("{h}.{payload}.AAAA"), &k.public_key(), &v()),
            Err(EarJwtError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_key_is_refused() {
        let jwt = sign_ear_jwt(&ear(), &key("EdDSA")).unwrap();
        let other = key("EdDSA").public_key_pem().unwrap();
        assert_eq!(
            verify_ear_jwt(&jwt, other.as_bytes(), &v()),
            Err(EarJwtError::Signature("EdDSA"))
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let k = key("ES256");
        let jwt = sign_ear_jwt(&ear(), &k).unwrap();
        let pk = k.public_key();
        let parts = || EarJwtError::Malformed("expected three dot-separated parts".into());
        for (bad, want) in [
            (String::new(), parts()),
            ("a.b".to_string(), parts()),
            ("a.b.c.d".into(), parts()),
            (format!("{jwt}."), parts()),
            // Not base64url: the signed input changed, so the signature fails.
            (jwt.replacen('.', ".!", 1), EarJwtError::Signature("ES256")),
            (
                format!("{}.{}", B64.encode("not json"), jwt.split_once('.').unwrap().1),
                EarJwtError::Malformed("header is not JSON: expected ident at line 1 column 2".into()),
            ),
            (
                "x".repeat(MAX_JWT_LEN + 1),
                EarJwtError::Malformed(format!(
                    "{} bytes, more than the {MAX_JWT_LEN} accepted",
                    MAX_JWT_LEN + 1
                )),
            ),
        ] {
            assert_eq!(verify_ear_jwt_with(&bad, &pk, &v()).unwrap_err(), want, "{bad:.40}");
        }
        // A valid signature over a payload that is not an EAR.
        let h = B64.encode(r#"{"alg":"ES256","typ":"JWT"}"#);
        let p = B64.encode(r#"{"eat_profile":"tag:example.com,2024:other","submods":{}}"#);
        let input = format!("{h}.{p}");
        let sig = k.sign(input.as_bytes()).unwrap();
        let t = format!("{input}.{}", B64.encode(sig));
        assert!(matches!(
            verify_ear_jwt_with(&t, &pk, &v()),
            Err(EarJwtError::Claims(_))
        ));
        let e = SigningKeyPem::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .err()
            .unwrap();
        assert!(
            matches!(&e, EarJwtError::Key(m) if m.contains("not a P-256, P-384 or Ed25519 key")),
            "{e:?}"
        );
        let e = verify_ear_jwt(&jwt, b"not a key", &v()).unwrap_err();
        assert!(
            matches!(&e, EarJwtError::Key(m) if m.contains("JWK is not JSON")),
            "{e:?}"
        );
    }

    #[test]
    fn veraison_dotted_names_are_read() {
        let j = serde_json::json!({
            "eat_profile": EAR_PROFILE_VERAISON,
            "iat": 1_666_091_373,
            "ear.verifier-id": {"build": "vts 0.0.1", "developer": "https://veraison-project.org"},
            "submods": {
                "CCA_SSD_PLATFORM": {
                    "ear.status": "affirming",
                    "ear.trustworthiness-vector": {"instance-identity": 2, "hardware": 2},
                    "ear.appraisal-policy-id": "policy:CCA_SSD_PLATFORM",
                    "ear.veraison.annotated-evidence": {"x": 1}
                }
            }
        });
        let ear = ear_from_json(j, &v()).unwrap();
        assert_eq!(ear.status, Tier::Affirming);
        let sm = &ear.submods["CCA_SSD_PLATFORM"];
        assert_eq!(sm.policy_ids, ["policy:CCA_SSD_PLATFORM"]);
        assert_eq!(sm.trust_vector[&TrustClaim::Hardware], 2);
        assert_eq!(ear.ear_verifier_id.developer, "https://veraison-project.org");
        // A Veraison EAR whose submod is contraindicated is not affirming.
        let j = serde_json::json!({
            "eat_profile": EAR_PROFILE_VERAISON, "iat": 1,
            "ear.verifier-id": {"build": "b", "developer": "d"},
            "submods": {"a": {"ear.status": "affirming"}, "b": {"ear.status": "contraindicated"}}
        });
        assert_eq!(ear_from_json(j, &v()).unwrap().status, Tier::Contraindicated);
    }

    #[test]
    fn imported_ear_with_an_unappraised_submod_is_not_affirming() {
        let base = |submods: serde_json::Value| {
            serde_json::json!({
                "eat_profile": EAR_PROFILE_VERAISON, "iat": 1,
                "ear.verifier-id": {"build": "b", "developer": "d"},
                "submods": submods
            })
        };
        // No overall status given: computed, and a `none` beside an
        // `affirming` is contraindicated (it was the maximum, `affirming`).
        let ear = ear_from_json(
            base(serde_json::json!({
                "a": {"ear.status": "affirming"}, "b": {"ear.status": "none"}
            })),
            &v(),
        )
        .unwrap();
        assert_eq!(ear.status, Tier::Contraindicated);
        assert!(!ear.is_affirming() && !ear.is_acceptable());
        // All none: none.
        let ear = ear_from_json(
            base(serde_json::json!({
                "a": {"ear.status": "none"}, "b": {"ear.status": "none"}
            })),
            &v(),
        )
        .unwrap();
        assert_eq!(ear.status, Tier::None);
        // An issuer's `affirming` does not hide a `none` submodule: the
        // overall status is the submodules' (it was the issuer's).
        let mut j = base(serde_json::json!({
            "a": {"ear.status": "affirming"}, "b": {"ear.status": "none"}
        }));
        j["ear.status"] = serde_json::json!("affirming");
        let ear = ear_from_json(j, &v()).unwrap();
        assert_eq!(ear.status, Tier::Contraindicated);
        assert!(!ear.is_affirming() && !ear.is_acceptable());
    }

    const NOW: i64 = 1_700_000_100;

    fn at(now: i64) -> EarJwtValidation {
        EarJwtValidation::at(time::OffsetDateTime::from_unix_timestamp(now).unwrap())
    }

    /// Validation at [`NOW`], 100 s after [`ear`]'s `iat`.
    fn v() -> EarJwtValidation {
        at(NOW)
    }

    /// A token signed by `k` over exactly `header` and `payload`.
    fn sign_raw(k: &SigningKeyPem, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let sig = k.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    /// [`ear`] as JSON with `extra` claims set (`null` removes one), signed.
    fn signed_with(k: &SigningKeyPem, extra: serde_json::Value) -> String {
        let mut j = serde_json::to_value(ear()).unwrap();
        for (name, value) in extra.as_object().unwrap() {
            match value {
                serde_json::Value::Null => j.as_object_mut().unwrap().remove(name),
                _ => j.as_object_mut().unwrap().insert(name.clone(), value.clone()),
            };
        }
        sign_raw(k, &format!(r#"{{"alg":"{}","typ":"JWT"}}"#, k.alg()), &j.to_string())
    }

    #[test]
    fn signed_ear_outside_its_validity_is_refused() {
        let k = key("EdDSA");
        let pk = k.public_key();
        let check = |extra: serde_json::Value, val: &EarJwtValidation| {
            verify_ear_jwt_with(&signed_with(&k, extra), &pk, val).map(|e| e.status)
        };
        // The reviewer's token: long expired and valid only from 2100.
        assert_eq!(
            check(serde_json::json!({"exp": 2, "nbf": 4_102_444_800_i64}), &v()),
            Err(EarJwtError::Expired { exp: 2, now: NOW })
        );
        assert_eq!(
            check(serde_json::json!({"nbf": 4_102_444_800_i64}), &v()),
            Err(EarJwtError::NotYetValid {
                claim: "nbf",
                value: 4_102_444_800,
                now: NOW
            })
        );
        // exp at now is expired; one second later it is not.
        assert_eq!(
            check(serde_json::json!({"exp": NOW}), &v()),
            Err(EarJwtError::Expired { exp: NOW, now: NOW })
        );
        assert_eq!(
            check(serde_json::json!({"exp": NOW + 1, "nbf": NOW}), &v()),
            Ok(Tier::Affirming)
        );
        // Issued in the future.
        assert_eq!(
            check(serde_json::json!({"iat": NOW + 1}), &v()),
            Err(EarJwtError::NotYetValid {
                claim: "iat",
                value: NOW + 1,
                now: NOW
            })
        );
        // A leeway tolerates small skew, both ways, and no more.
        let skew = v().with_leeway(std::time::Duration::from_secs(5));
        assert!(check(serde_json::json!({"iat": NOW + 5, "exp": NOW - 4}), &skew).is_ok());
        assert!(matches!(
            check(serde_json::json!({"iat": NOW + 6}), &skew),
            Err(EarJwtError::NotYetValid { claim: "iat", .. })
        ));
        assert!(matches!(
            check(serde_json::json!({"exp": NOW - 5}), &skew),
            Err(EarJwtError::Expired { .. })
        ));
        // A day of leeway is reduced to MAX_EAR_LEEWAY.
        let day = v().with_leeway(std::time::Duration::from_secs(86_400));
        let max = i64::try_from(MAX_EAR_LEEWAY.as_secs()).unwrap();
        assert!(check(serde_json::json!({"nbf": NOW + max}), &day).is_ok());
        assert!(matches!(
            check(serde_json::json!({"nbf": NOW + max + 1}), &day),
            Err(EarJwtError::NotYetValid { claim: "nbf", .. })
        ));
        // Extreme values are compared without overflow.
        assert!(check(serde_json::json!({"exp": i64::MAX}), &v()).is_ok());
        assert!(matches!(
            check(serde_json::json!({"exp": i64::MIN}), &day),
            Err(EarJwtError::Expired { .. })
        ));
    }

    #[test]
    fn signed_ear_older_than_the_maximum_age_is_refused() {
        let k = key("ES256");
        let jwt = sign_ear_jwt(&ear(), &k).unwrap();
        let pk = k.public_key();
        let aged = |secs| v().with_max_age(std::time::Duration::from_secs(secs));
        // ear() was issued 100 s before NOW.
        assert_eq!(verify_ear_jwt_with(&jwt, &pk, &aged(100)).unwrap(), ear());
        assert_eq!(
            verify_ear_jwt_with(&jwt, &pk, &aged(99)),
            Err(EarJwtError::TooOld {
                iat: 1_700_000_000,
                now: NOW,
                max_age_secs: 99
            })
        );
        let skew = aged(99).with_leeway(std::time::Duration::from_secs(1));
        assert!(verify_ear_jwt_with(&jwt, &pk, &skew).is_ok());
        // Extreme values are compared without overflow.
        let old = signed_with(&k, serde_json::json!({"iat": i64::MIN}));
        assert!(matches!(
            verify_ear_jwt_with(&old, &pk, &aged(1_000_000)),
            Err(EarJwtError::TooOld { .. })
        ));
        assert!(verify_ear_jwt_with(&old, &pk, &aged(u64::MAX)).is_ok());
    }

    #[test]
    fn signed_ear_without_iat_or_with_non_integer_times_is_refused() {
        let k = key("ES384");
        let pk = k.public_key();
        let check = |extra| verify_ear_jwt_with(&signed_with(&k, extra), &pk, &v());
        assert_eq!(check(serde_json::json!({"iat": null})), Err(EarJwtError::MissingIat));
        assert_eq!(
            check(serde_json::json!({"iat": "1700000000"})),
            Err(EarJwtError::InvalidTimeClaim("iat"))
        );
        assert_eq!(
            check(serde_json::json!({"exp": 1.7e9})),
            Err(EarJwtError::InvalidTimeClaim("exp"))
        );
        assert_eq!(
            check(serde_json::json!({"nbf": u64::MAX})),
            Err(EarJwtError::InvalidTimeClaim("nbf"))
        );
        // The same rules for unsigned EAR JSON.
        let mut j = serde_json::to_value(ear()).unwrap();
        j.as_object_mut().unwrap().remove("iat");
        assert_eq!(ear_from_json(j, &v()), Err(EarJwtError::MissingIat));
        let mut j = serde_json::to_value(ear()).unwrap();
        j["exp"] = serde_json::json!(2);
        assert_eq!(ear_from_json(j, &v()), Err(EarJwtError::Expired { exp: 2, now: NOW }));
    }

    /// A Veraison-style EAR with one submodule `sm`, signed.
    fn veraison_signed(k: &SigningKeyPem, sm: &str) -> String {
        let payload = format!(
            r#"{{"eat_profile":"{EAR_PROFILE_VERAISON}","iat":1700000000,
                "ear.verifier-id":{{"build":"b","developer":"d"}},"submods":{{"a":{sm}}}}}"#
        );
        sign_raw(k, r#"{"alg":"EdDSA","typ":"JWT"}"#, &payload)
    }

    #[test]
    fn imported_submodule_is_no_more_trusted_than_its_trust_vector() {
        let k = key("EdDSA");
        let pk = k.public_key();
        // The reviewer's token: affirming, with contraindicated claims.
        let t = veraison_signed(
            &k,
            r#"{"ear.status":"affirming","ear.trustworthiness-vector":
                {"executables":96,"hardware":99,"instance-identity":96}}"#,
        );
        let ear = verify_ear_jwt_with(&t, &pk, &v()).unwrap();
        assert_eq!(ear.submods["a"].status, Tier::Contraindicated);
        assert_eq!(ear.status, Tier::Contraindicated);
        assert!(!ear.is_affirming() && !ear.is_acceptable());
        let status = |sm: serde_json::Value, issuer: Option<&str>| {
            let mut j = serde_json::json!({
                "eat_profile": EAR_PROFILE_VERAISON, "iat": 1,
                "ear.verifier-id": {"build": "b", "developer": "d"},
                "submods": {"a": sm}
            });
            if let Some(s) = issuer {
                j["ear.status"] = serde_json::json!(s);
            }
            let ear = ear_from_json(j, &v()).unwrap();
            (ear.submods["a"].status, ear.status)
        };
        // The issuer's overall `affirming` does not survive either.
        let bad = serde_json::json!({"ear.status": "affirming", "ear.trustworthiness-vector": {"executables": 96}});
        assert_eq!(
            status(bad, Some("affirming")),
            (Tier::Contraindicated, Tier::Contraindicated)
        );
        // A warning claim makes an affirming submodule a warning.
        let warn = serde_json::json!({"ear_status": "affirming", "ear_trustworthiness_vector": {"hardware": 32, "executables": 2}});
        assert_eq!(status(warn, None), (Tier::Warning, Tier::Warning));
        // So does a finding, as `Appraisal::finish` counts findings.
        let finding = serde_json::json!({"ear_status": "affirming", "attested_tls_findings": [
            {"claim": "debug", "reason": "r", "tier": "contraindicated"}]});
        assert_eq!(status(finding, None).0, Tier::Contraindicated);
        // `none` (no statement) is not raised to an acceptable tier.
        let none = serde_json::json!({"ear.status": "none", "ear.trustworthiness-vector": {"hardware": 32}});
        assert_eq!(status(none, None), (Tier::None, Tier::None));
        // Agreeing and worse issuer statuses are kept.
        let ok = serde_json::json!({"ear.status": "affirming", "ear.trustworthiness-vector": {"hardware": 2}});
        assert_eq!(status(ok.clone(), None), (Tier::Affirming, Tier::Affirming));
        assert_eq!(status(ok, Some("warning")), (Tier::Affirming, Tier::Warning));
    }

    #[test]
    fn a_claim_under_both_names_is_refused() {
        let k = key("EdDSA");
        let pk = k.public_key();
        // The reviewer's token: the two names of ear_status disagree.
        let t = veraison_signed(&k, r#"{"ear_status":"contraindicated","ear.status":"affirming"}"#);
        assert_eq!(
            verify_ear_jwt_with(&t, &pk, &v()),
            Err(EarJwtError::ConflictingClaimNames {
                draft: "ear_status",
                veraison: "ear.status"
            })
        );
        for (sm, draft) in [
            (
                serde_json::json!({"ear.status": "affirming", "ear_status": "affirming"}),
                "ear_status",
            ),
            (
                serde_json::json!({"ear.status": "affirming", "ear_trustworthiness_vector": {},
                    "ear.trustworthiness-vector": {"hardware": 2}}),
                "ear_trustworthiness_vector",
            ),
            (
                serde_json::json!({"ear.status": "affirming", "ear_appraisal_policy_ids": ["p"],
                    "ear.appraisal-policy-id": "q"}),
                "ear_appraisal_policy_ids",
            ),
        ] {
            let j = serde_json::json!({
                "eat_profile": EAR_PROFILE_VERAISON, "iat": 1,
                "ear.verifier-id": {"build": "b", "developer": "d"}, "submods": {"a": sm}
            });
            assert!(
                matches!(ear_from_json(j, &v()), Err(EarJwtError::ConflictingClaimNames { draft: d, .. }) if d == draft),
                "{draft}"
            );
        }
        for (name, value, draft) in [
            (
                "ear_verifier_id",
                serde_json::json!({"build": "b", "developer": "d"}),
                "ear_verifier_id",
            ),
            ("status", serde_json::json!("affirming"), "status"),
        ] {
            let mut j = serde_json::json!({
                "eat_profile": EAR_PROFILE_VERAISON, "iat": 1, "ear.status": "contraindicated",
                "ear.verifier-id": {"build": "b", "developer": "d"}, "submods": {}
            });
            j[name] = value;
            assert!(
                matches!(ear_from_json(j, &v()), Err(EarJwtError::ConflictingClaimNames { draft: d, .. }) if d == draft),
                "{draft}"
            );
        }
    }

    #[test]
    fn a_repeated_json_key_is_refused() {
        let k = key("EdDSA");
        let pk = k.public_key();
        let dup = |t: &str| {
            matches!(
                verify_ear_jwt_with(t, &pk, &v()),
                Err(EarJwtError::DuplicateKey { part: "payload", .. })
            )
        };
        // One name, two values: serde_json would keep the last, `affirming`.
        assert!(dup(&veraison_signed(
            &k,
            r#"{"ear.status":"contraindicated","ear.status":"affirming"}"#
        )));
        // Escaped spellings of one key are one key.
        assert!(dup(&veraison_signed(
            &k,
            r#"{"ear.status":"contraindicated","ear.status":"affirming"}"#
        )));
        // In the trust vector, and at the top level.
        assert!(dup(&veraison_signed(
            &k,
            r#"{"ear.status":"affirming","ear.trustworthiness-vector":{"hardware":97,"hardware":2}}"#
        )));
        let payload = format!(
            r#"{{"eat_profile":"{EAR_PROFILE_VERAISON}","iat":1700000000,"iat":1,
                "ear.verifier-id":{{"build":"b","developer":"d"}},"submods":{{}}}}"#
        );
        assert!(dup(&sign_raw(&k, r#"{"alg":"EdDSA","typ":"JWT"}"#, &payload)));
        // In the header.
        let t = sign_raw(&k, r#"{"alg":"EdDSA","typ":"JWT","typ":"JWT"}"#, &ear_json());
        assert!(matches!(
            verify_ear_jwt_with(&t, &pk, &v()),
            Err(EarJwtError::DuplicateKey { part: "header", .. })
        ));
        // The same key in different objects is not a repetition.
        let t = veraison_signed(&k, r#"{"ear.status":"affirming","x":{"ear.status":1}}"#);
        assert!(verify_ear_jwt_with(&t, &pk, &v()).is_ok());
        // Malformed JSON is still reported as such.
        let t = sign_raw(&k, r#"{"alg":"EdDSA","typ":"JWT"}"#, r#"{"a":"#);
        assert!(matches!(
            verify_ear_jwt_with(&t, &pk, &v()),
            Err(EarJwtError::Malformed(_))
        ));
    }

    fn ear_json() -> String {
        serde_json::to_string(&ear()).unwrap()
    }

    #[test]
    fn a_typ_other_than_jwt_and_alg_none_are_refused_for_their_own_reason() {
        let k = key("ES256");
        let payload = serde_json::to_string(&ear()).unwrap();
        let ok = sign_raw(&k, r#"{"alg":"ES256","typ":"JWT"}"#, &payload);
        assert!(verify_ear_jwt_with(&ok, &k.public_key(), &v()).is_ok());
        let t = sign_raw(&k, r#"{"alg":"ES256","typ":"at+jwt"}"#, &payload);
        let e = verify_ear_jwt_with(&t, &k.public_key(), &v()).unwrap_err();
        assert!(matches!(&e, EarJwtError::Malformed(m) if m.contains("typ")), "{e}");
        // "none" is refused as unsigned, not only as another key's algorithm.
        let h = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let e = verify_ear_jwt_with(&format!("{h}.{}.", B64.encode(&payload)), &k.public_key(), &v()).unwrap_err();
        assert!(e.to_string().contains("never accepted"), "{e}");
    }
}

#[cfg(test)]
mod output_escaping {
    use super::*;

    /// The EAR signer chooses the strings in the payload: a serde error
    /// naming an unknown variant or field must not quote them raw.
    #[test]
    fn claims_errors_do_not_quote_payload_strings_raw() {
        let rng = SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(doc.as_ref());
        let k = SigningKeyPem::from_pem(
            format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n").as_bytes(),
        )
        .unwrap();
        let payload = serde_json::json!({
            "eat_profile": EAR_PROFILE,
            "iat": 1_700_000_000_i64,
            "submods": {"snp": {
                "ear_status": "x\u{1b}[2K\rattestation result: affirming",
                "ear_appraisal_policy_ids": ["p"]
            }}
        });
        let header = format!(r#"{{"alg":"{}","typ":"JWT"}}"#, k.alg());
        let input = format!("{}.{}", B64.encode(header), B64.encode(payload.to_string()));
        let sig = k.sign(input.as_bytes()).unwrap();
        let token = format!("{input}.{}", B64.encode(sig));
        let now = time::OffsetDateTime::from_unix_timestamp(1_700_000_100).unwrap();
        let e = verify_ear_jwt_with(&token, &k.public_key(), &EarJwtValidation::at(now)).unwrap_err();
        let shown = e.to_string();
        assert!(
            !shown.chars().any(char::is_control),
            "raw control characters: {shown:?}"
        );
    }
}
