//! Signed EAR: an [`Ear`] as a compact JWS / JWT (RFC 7515, RFC 7519).
//!
//! The header is `{"alg": "ES256" | "ES384" | "EdDSA", "typ": "JWT"}`, the
//! payload the EAR JSON, and ECDSA signatures are the raw `r || s` of
//! RFC 7518 §3.4. Keys are PKCS#8 PEM private keys (P-256, P-384 or
//! Ed25519) for signing and PEM SubjectPublicKeyInfo (or JWK) public keys
//! for verifying.
//!
//! Reading refuses `alg: none`, an `alg` that is not the key's, a `crit`
//! header, bad signatures and malformed base64 or JSON. It reads the
//! profiles of draft-ietf-rats-ear-04 (what [`sign_ear_jwt`] emits) and -03
//! and the older Veraison one, and refuses any other. It accepts both the
//! draft claim names and the Veraison dotted ones (`ear.status`,
//! `ear.trustworthiness-vector`, `ear.appraisal-policy-id`,
//! `ear.verifier-id`, `ear.raw-evidence`), but never both names of one
//! claim, and never a JSON object that repeats a key (a generic JSON reader
//! keeps only one of the values, so the two could be read differently by
//! two relying parties).
//!
//! A signed EAR is only as current as its time claims say: reading takes
//! the verification time and an optional maximum age in an
//! [`EarJwtValidation`], requires `iat` and enforces `exp` and `nbf` when
//! present (see [`EarJwtValidation`] for the rules).
//!
//! `eat_nonce` is read as its profile writes it (base64url; under -03
//! also the lower-case hex this crate wrote before -04) into the nonce's
//! bytes ([`crate::ear::EatNonce`]), and refused in any other form.
//!
//! An imported EAR whose overall status is more trusted than one of its
//! appraised submodules is refused (draft-ietf-rats-ear-04, Section 3,
//! forbids it). An imported submodule is never more trusted than its own
//! claims: its status is lowered to the worst tier of its trustworthiness
//! vector and findings, and the overall status to [`Tier::overall`] of the
//! submodules.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine;

use crate::cmw::CmwRecord;
use crate::corim::VerificationKey;
use crate::ear::{
    escape_control, Ear, EatNonce, EatNonceError, Tier, EAR_PROFILE, EAR_PROFILE_03, EAR_PROFILE_VERAISON,
};

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
    /// A claim is given under both its draft-ietf-rats-ear name and an
    /// older name of it.
    #[error("the EAR gives both {draft:?} and {legacy:?}, two names of one claim")]
    ConflictingClaimNames {
        /// The draft-ietf-rats-ear (or this crate's) name.
        draft: &'static str,
        /// The older name: the Veraison dotted one, or `status`, which this
        /// crate wrote for the overall status under the -03 profile.
        legacy: &'static str,
    },
    /// `eat_profile` is absent, not a string, or none of [`EAR_PROFILE`],
    /// [`EAR_PROFILE_03`] and [`EAR_PROFILE_VERAISON`]: the claims of an
    /// unknown profile cannot be read with known meanings.
    #[error(
        "unknown eat_profile {}: an EAR must have {EAR_PROFILE:?}, {EAR_PROFILE_03:?} or {EAR_PROFILE_VERAISON:?}",
        .profile.as_deref().map_or_else(|| "(absent or not a string)".to_string(), |p| format!("\"{p}\""))
    )]
    UnknownProfile {
        /// The profile given (control characters escaped), if it is a string.
        profile: Option<String>,
    },
    /// `ear_raw_evidence` is not in the form its profile requires: a record
    /// CMW (RFC 9999) under -04, base64url bytes under -03 and the
    /// Veraison profile.
    #[error("ear_raw_evidence is invalid under profile {profile:?}: {reason}")]
    RawEvidence {
        /// The EAR's profile.
        profile: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// `eat_nonce` is not in the form its profile requires: base64url of 8
    /// to 64 bytes under -04 and Veraison's profile; under -03 also the
    /// lower-case hex attested-tls wrote before -04. Never an array.
    #[error("eat_nonce is invalid under profile {profile:?}: {reason}")]
    EatNonce {
        /// The EAR's profile.
        profile: &'static str,
        /// What is wrong with it.
        reason: EatNonceError,
    },
    /// The overall status is more trusted than an appraised submodule's,
    /// which draft-ietf-rats-ear-04 (Section 3; -03 says the same) forbids:
    /// the issuer contradicts itself, and a relying party reading only the
    /// overall status would be misled.
    #[error(
        "the EAR's overall status {status} is more trusted than submodule \"{submod}\"'s {submod_status}; \
         draft-ietf-rats-ear-04 requires it to be no more trusted than the worst submodule"
    )]
    StatusAboveSubmodule {
        /// The overall status the issuer gave.
        status: Tier,
        /// The submodule (control characters escaped).
        submod: String,
        /// Its status as the issuer gave it.
        submod_status: Tier,
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
        Ok(crate::crypto::pem_encode("PUBLIC KEY", der.as_ref()))
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
    sign_ear_claims(ear, None, key)
}

/// Signs an EAR as [`sign_ear_jwt`] does, with an `exp` claim (seconds
/// since the Unix epoch) after its `iat`: what a verification service
/// issues, so that a relying party refuses the result once it is stale
/// even without a maximum age of its own ([`EarJwtValidation`]).
pub fn sign_ear_jwt_until(ear: &Ear, exp: i64, key: &SigningKeyPem) -> Result<String, EarJwtError> {
    sign_ear_claims(ear, Some(exp), key)
}

fn sign_ear_claims(ear: &Ear, exp: Option<i64>, key: &SigningKeyPem) -> Result<String, EarJwtError> {
    let header = serde_json::json!({"alg": key.alg(), "typ": "JWT"});
    // serde quotes unknown variants and fields, which the signer chose.
    let claims_error = |e: serde_json::Error| EarJwtError::Claims(escape_control(&e.to_string()).into_owned());
    let payload = match exp {
        // The claims in the order of the EAR's CDDL (Ear's Serialize).
        None => serde_json::to_vec(ear).map_err(claims_error)?,
        Some(exp) => {
            let mut claims = serde_json::to_value(ear).map_err(claims_error)?;
            if let Some(obj) = claims.as_object_mut() {
                obj.insert("exp".into(), exp.into());
            }
            serde_json::to_vec(&claims).map_err(claims_error)?
        }
    };
    let mut signing_input = B64.encode(header.to_string());
    signing_input.push('.');
    signing_input.push_str(&B64.encode(payload));
    let sig = key.sign(signing_input.as_bytes())?;
    signing_input.push('.');
    signing_input.push_str(&B64.encode(sig));
    Ok(signing_input)
}

/// Generates a P-256 key for signing EARs (ES256), as a PKCS#8 PEM
/// private key that [`SigningKeyPem::from_pem`] reads.
pub fn generate_signing_key_pem() -> Result<String, EarJwtError> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| EarJwtError::Signing)?;
    Ok(crate::crypto::pem_encode("PRIVATE KEY", pkcs8.as_ref()))
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
    ear_from_json(verify_jws(token, key)?, validation)
}

/// Verifies a compact JWS with `key` and returns its payload as JSON: the
/// header's `alg` must be the key's (never `none`), no `crit`, `typ` (if
/// present) a JWT type, and neither part may repeat a JSON key. Nothing
/// about the payload's claims is checked ([`verify_ear_jwt_with`] reads it
/// as an EAR; other tokens, e.g. `crate::peers::tng`, read it their way).
pub fn verify_jws(token: &str, key: &VerificationKey) -> Result<serde_json::Value, EarJwtError> {
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
    parse_json("payload", &dec("payload", p)?)
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
            legacy: from,
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

/// The EAR profiles [`ear_from_json`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    /// [`EAR_PROFILE`], draft-ietf-rats-ear-04.
    Ear04,
    /// [`EAR_PROFILE_03`], draft-ietf-rats-ear-03.
    Ear03,
    /// [`EAR_PROFILE_VERAISON`].
    Veraison,
}

impl Profile {
    fn of(obj: &serde_json::Map<String, serde_json::Value>) -> Result<Self, EarJwtError> {
        match obj.get("eat_profile").and_then(|p| p.as_str()) {
            Some(EAR_PROFILE) => Ok(Self::Ear04),
            Some(EAR_PROFILE_03) => Ok(Self::Ear03),
            Some(EAR_PROFILE_VERAISON) => Ok(Self::Veraison),
            other => Err(EarJwtError::UnknownProfile {
                profile: other.map(|p| escape_control(p).into_owned()),
            }),
        }
    }

    const fn tag(self) -> &'static str {
        match self {
            Self::Ear04 => EAR_PROFILE,
            Self::Ear03 => EAR_PROFILE_03,
            Self::Veraison => EAR_PROFILE_VERAISON,
        }
    }
}

/// Base64url with or without padding: the JSON form of `ear_raw_evidence`
/// bytes before -04 (`ear-bytes` in the draft's JSON labels allows `=`).
const B64_BYTES: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Reads `ear_raw_evidence` as `profile` defines it. Under -04 it is a
/// record CMW ("wrapped in a Record CMW", draft-ietf-rats-ear-04,
/// Section 3), kept. Before, it was bare bytes without a media type: they
/// are checked to be base64url and not kept, since [`Ear::raw_evidence`]
/// holds a record, which needs a type nobody gave.
fn read_raw_evidence(profile: Profile, value: serde_json::Value) -> Result<Option<CmwRecord>, EarJwtError> {
    let refuse = |reason: String| EarJwtError::RawEvidence {
        profile: profile.tag(),
        reason,
    };
    match profile {
        Profile::Ear04 => CmwRecord::from_json_value(value)
            .map(Some)
            .map_err(|e| refuse(escape_control(&e.to_string()).into_owned())),
        Profile::Ear03 | Profile::Veraison => match value.as_str().map(|s| B64_BYTES.decode(s)) {
            Some(Ok(_)) => Ok(None),
            Some(Err(e)) => Err(refuse(format!("the bytes are not base64url: {e}"))),
            None => Err(refuse("must be base64url bytes (a JSON string)".into())),
        },
    }
}

/// Reads `eat_nonce` as `profile` defines it: one nonce of 8 to 64 bytes
/// (RFC 9711, Section 4.1), never an array (the EAR claims-set has
/// `eat.nonce-type`, not RFC 9711's array form), in base64url
/// ([`EatNonce::from_base64url`]: -04, Section 3, "MUST be base64
/// encoded"). Under -03 only, lower-case hex is read as hex: it is what
/// attested-tls wrote before -04, in EARs that may still verify.
fn read_eat_nonce(profile: Profile, value: serde_json::Value) -> Result<EatNonce, EarJwtError> {
    use serde_json::Value;
    let refuse = |reason: EatNonceError| EarJwtError::EatNonce {
        profile: profile.tag(),
        reason,
    };
    let text = match value {
        Value::String(s) => s,
        Value::Array(a) => return Err(refuse(EatNonceError::Array { len: a.len() })),
        _ => return Err(refuse(EatNonceError::NotAString)),
    };
    match profile {
        Profile::Ear03 => EatNonce::from_03_text(&text),
        Profile::Ear04 | Profile::Veraison => EatNonce::from_base64url(&text),
    }
    .map_err(refuse)
}

/// Refuses an overall status more trusted than the worst submodule status
/// the issuer gave (draft-ietf-rats-ear-04, Section 3: "a tier of no higher
/// trust than the tier corresponding to the worst status claim across all
/// EAR appraisal submods"). A `none` on either side is no statement and is
/// not compared here: where the overall status is `none` nothing is
/// claimed, and a `none` submodule makes the result contraindicated anyway
/// ([`Tier::overall`]).
fn refuse_status_above_submods(ear: &Ear) -> Result<(), EarJwtError> {
    if ear.status == Tier::None {
        return Ok(());
    }
    let worst = ear
        .submods
        .iter()
        .filter(|(_, a)| a.status != Tier::None)
        .max_by_key(|(_, a)| a.status);
    match worst {
        Some((name, a)) if ear.status < a.status => Err(EarJwtError::StatusAboveSubmodule {
            status: ear.status,
            submod: escape_control(name).into_owned(),
            submod_status: a.status,
        }),
        _ => Ok(()),
    }
}

/// Reads EAR JSON, accepting the draft names and the older Veraison dotted
/// names, and checks its time claims against `validation` (see
/// [`EarJwtValidation`]).
///
/// - The profile must be [`EAR_PROFILE`] (-04), [`EAR_PROFILE_03`] or
///   [`EAR_PROFILE_VERAISON`] ([`EarJwtError::UnknownProfile`]).
/// - A claim given under two of its names is refused
///   ([`EarJwtError::ConflictingClaimNames`]). The overall status is
///   `ear_status` (the drafts' name), `ear.status` (Veraison's) or, under
///   -03 only, `status` (what this crate wrote before -04). Repeated JSON
///   keys cannot be seen in a `serde_json::Value` (it keeps the last one):
///   [`verify_ear_jwt`] refuses them in the raw payload.
/// - `ear_raw_evidence` (or `ear.raw-evidence`) must be a JSON record CMW
///   under -04, which [`Ear::raw_evidence`] returns, and base64url bytes
///   otherwise, which are not kept ([`EarJwtError::RawEvidence`]).
/// - `eat_nonce`, if present, must be one string: base64url of 8 to 64
///   bytes, and under -03 also lower-case hex, what attested-tls wrote
///   before -04 ([`EarJwtError::EatNonce`]; see [`EatNonce`]).
/// - An overall status more trusted than the worst status the issuer gave
///   an appraised submodule is refused
///   ([`EarJwtError::StatusAboveSubmodule`], draft-ietf-rats-ear-04,
///   Section 3).
/// - Each submodule's status is lowered to the worst tier of its
///   trustworthiness vector (AR4SI values: 2..=31 affirming, 32..=95
///   warning, 96..=127 contraindicated) and of its findings, as
///   [`crate::ear::Appraisal::finish`] computes it; a `none` status stays
///   `none` unless a claim is contraindicated.
/// - The overall status is [`Tier::overall`] of the submodules, or the
///   issuer's overall status where that is worse (or `none`); `none` when
///   no submodule was appraised, whatever the issuer says.
/// - Other claims, such as -04's `ear_device_topology`, are ignored, as
///   the draft requires of unknown claims.
pub fn ear_from_json(value: serde_json::Value, validation: &EarJwtValidation) -> Result<Ear, EarJwtError> {
    use serde_json::{json, Value};
    let Value::Object(mut obj) = value else {
        return Err(EarJwtError::Claims("not a JSON object".into()));
    };
    let profile = Profile::of(&obj)?;
    validation.check(&obj)?;
    rename(&mut obj, "ear.verifier-id", "ear_verifier_id")?;
    rename(&mut obj, "ear.status", "ear_status")?;
    if profile == Profile::Ear03 {
        rename(&mut obj, "status", "ear_status")?;
    }
    rename(&mut obj, "ear.raw-evidence", "ear_raw_evidence")?;
    let raw_evidence = match obj.remove("ear_raw_evidence") {
        Some(v) => read_raw_evidence(profile, v)?,
        None => None,
    };
    let eat_nonce = match obj.remove("eat_nonce") {
        Some(v) => Some(read_eat_nonce(profile, v)?),
        None => None,
    };
    let status_given = obj.contains_key("ear_status");
    if !status_given {
        obj.insert("ear_status".into(), json!("none"));
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
        EarJwtError::Claims(escape_control(&e.to_string()).into_owned())
    })?;
    ear.raw_evidence = raw_evidence;
    ear.eat_nonce = eat_nonce;
    // Against the statuses as the issuer gave them, before any is lowered.
    refuse_status_above_submods(&ear)?;
    for a in ear.submods.values_mut() {
        // The issuer's `ear_status` is a summary of the vector and findings
        // it sent along; where they disagree, the worse one is believed.
        let vector = a.trust_vector.values().map(|v| Tier::of_claim_value(*v));
        let worst = vector.chain(a.findings.iter().map(|f| f.tier)).max();
        a.status = a.status.capped_by(worst.unwrap_or(Tier::None));
    }
    // The same combination as `Ear::new`: a `none` submodule beside
    // appraised ones makes the result contraindicated, not affirming. An
    // issuer's overall status counts only where it is worse than the
    // submodules' (or `none`); with nothing appraised the result is `none`.
    ear.status = if status_given {
        ear.consistent_status()
    } else {
        Tier::overall(ear.submods.values().map(|a| a.status))
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

    pub(super) fn key(alg: &str) -> SigningKeyPem {
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

    /// Guards what a verification service issues: a generated key reads
    /// back, and `sign_ear_jwt_until` adds `exp`, which reading enforces
    /// (without it the same EAR reads at any later time).
    #[test]
    fn a_generated_key_signs_an_expiring_ear() {
        let k = SigningKeyPem::from_pem(generate_signing_key_pem().unwrap().as_bytes()).unwrap();
        assert_eq!(k.alg(), "ES256");
        let public = k.public_key_pem().unwrap();
        let at = |t: i64| EarJwtValidation::at(time::OffsetDateTime::from_unix_timestamp(t).unwrap());
        let token = sign_ear_jwt_until(&ear(), 1_700_000_060, &k).unwrap();
        assert!(verify_ear_jwt(&token, public.as_bytes(), &at(1_700_000_059)).is_ok());
        assert_eq!(
            verify_ear_jwt(&token, public.as_bytes(), &at(1_700_000_060)),
            Err(EarJwtError::Expired {
                exp: 1_700_000_060,
                now: 1_700_000_060
            })
        );
        let lasting = sign_ear_jwt(&ear(), &k).unwrap();
        assert!(verify_ear_jwt(&lasting, public.as_bytes(), &at(1_800_000_000)).is_ok());
    }

    fn ear() -> Ear {
        let mut a = Appraisal::new("prod");
        a.set(TrustClaim::Hardware, 2);
        a.claim("realm.initial_measurement", "00ff");
        Ear::new(
            1_700_000_000,
            BTreeMap::from([("cca".to_string(), a.finish())]),
            Some(EatNonce::new([0xab; 32]).unwrap()),
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
        assert_eq!(
            verify_ear_jwt_with(&t, &pk, &v()),
            Err(EarJwtError::UnknownProfile {
                profile: Some("tag:example.com,2024:other".into())
            })
        );
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

    pub(super) const NOW: i64 = 1_700_000_100;

    fn at(now: i64) -> EarJwtValidation {
        EarJwtValidation::at(time::OffsetDateTime::from_unix_timestamp(now).unwrap())
    }

    /// Validation at [`NOW`], 100 s after [`ear`]'s `iat`.
    pub(super) fn v() -> EarJwtValidation {
        at(NOW)
    }

    /// A token signed by `k` over exactly `header` and `payload`.
    pub(super) fn sign_raw(k: &SigningKeyPem, header: &str, payload: &str) -> String {
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
                legacy: "ear.status"
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
            ("ear_status", serde_json::json!("affirming"), "ear_status"),
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
mod profiles {
    //! Reading the -04, -03 and Veraison profiles (draft-ietf-rats-ear-04).

    use std::collections::BTreeMap;

    use super::tests::{key, sign_raw, v, NOW};
    use super::*;
    use crate::cmw::{Cmw, CmwRecord};
    use crate::ear::{Appraisal, TrustClaim};

    fn affirming_ear() -> Ear {
        let mut a = Appraisal::new("prod");
        a.set(TrustClaim::Hardware, 2);
        Ear::new(NOW - 10, BTreeMap::from([("snp".to_string(), a.finish())]), None)
    }

    /// An EAR claims-set with `extra` claims over a minimal one of `profile`.
    fn claims(profile: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut j = serde_json::json!({
            "eat_profile": profile, "iat": NOW - 10,
            "ear_verifier_id": {"build": "b", "developer": "d"},
            "submods": {"a": {"ear_status": "affirming", "ear_trustworthiness_vector": {"hardware": 2}}}
        });
        for (k, val) in extra.as_object().unwrap() {
            j[k] = val.clone();
        }
        j
    }

    /// A 48-byte seat-expat binder (SHA-384), as `eat_nonce` carries it.
    const BINDER: [u8; 48] = [0x3c; 48];

    /// Guards reading -03: a JWT as this crate signed it before -04
    /// (profile #03, overall status under `status`, bare base64url
    /// `ear_raw_evidence`, `eat_nonce` in lower-case hex) still verifies
    /// with its statuses and its nonce, as does a draft-style -03 one
    /// (`ear_status`).
    #[test]
    fn an_03_ear_jwt_still_verifies() {
        let k = key("EdDSA");
        let pk = k.public_key();
        let header = r#"{"alg":"EdDSA","typ":"JWT"}"#;
        let ours = format!(
            r#"{{"eat_profile":"{EAR_PROFILE_03}","iat":{},"ear_verifier_id":{{"developer":"attested-tls","build":"attested-tls 0.1.0"}},"status":"warning","submods":{{"snp":{{"ear_status":"warning","ear_trustworthiness_vector":{{"configuration":32}},"ear_appraisal_policy_ids":["p"],"attested_tls_claims":{{}},"attested_tls_findings":[]}}}},"eat_nonce":"{}"}}"#,
            NOW - 10,
            hex::encode(BINDER)
        );
        let ear = verify_ear_jwt_with(&sign_raw(&k, header, &ours), &pk, &v()).unwrap();
        assert_eq!(ear.eat_profile, EAR_PROFILE_03);
        // The hex nonce is read as the binder it was written from.
        assert_eq!(ear.eat_nonce.as_ref().map(EatNonce::as_bytes), Some(&BINDER[..]));
        assert_eq!((ear.status, ear.submods["snp"].status), (Tier::Warning, Tier::Warning));
        assert!(ear.is_acceptable());
        let draft_style = claims(
            EAR_PROFILE_03,
            serde_json::json!({"ear_status": "affirming", "ear_raw_evidence": "NzQ3MjY5NzM2NTYzNzQK"}),
        );
        let t = sign_raw(&k, header, &draft_style.to_string());
        let ear = verify_ear_jwt_with(&t, &pk, &v()).unwrap();
        assert!(ear.is_affirming());
        // -03 raw evidence is bytes without a type: checked, not kept.
        assert_eq!(ear.raw_evidence(), None);
        // Two names of the overall status under -03 are refused.
        let both = claims(
            EAR_PROFILE_03,
            serde_json::json!({"ear_status": "affirming", "status": "affirming"}),
        );
        assert_eq!(
            ear_from_json(both, &v()),
            Err(EarJwtError::ConflictingClaimNames {
                draft: "ear_status",
                legacy: "status"
            })
        );
        // Under -04 `status` is no EAR claim: ignored, never read as the status.
        let ignored = claims(EAR_PROFILE, serde_json::json!({"status": "contraindicated"}));
        assert_eq!(ear_from_json(ignored, &v()).unwrap().status, Tier::Affirming);
    }

    /// Guards the emitted side end to end: what `sign_ear_jwt` signs is
    /// -04 and reads back the same, raw evidence included.
    #[test]
    fn an_04_ear_jwt_round_trips_with_its_raw_evidence() {
        let k = key("ES256");
        let record = CmwRecord::evidence("application/vnd.amd.sev-snp.attestation-report", vec![7; 40]);
        let mut ear = affirming_ear().with_raw_evidence(record.clone()).unwrap();
        ear.eat_nonce = Some(EatNonce::new(BINDER).unwrap());
        let jwt = sign_ear_jwt(&ear, &k).unwrap();
        let payload: serde_json::Value =
            serde_json::from_slice(&B64.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!(payload["eat_profile"], EAR_PROFILE);
        assert_eq!(payload["eat_nonce"], B64.encode(BINDER));
        assert_eq!(
            Cmw::decode(payload["ear_raw_evidence"].to_string().as_bytes()),
            Ok(Cmw::Record(record.clone()))
        );
        let read = verify_ear_jwt_with(&jwt, &k.public_key(), &v()).unwrap();
        assert_eq!(read.raw_evidence(), Some(&record));
        assert_eq!(read, ear);
    }

    /// Guards the -04 rule on import: `eat_nonce` is one base64url string
    /// of 8 to 64 bytes. Hex (what this crate wrote before, including
    /// under -04 until this check), an over-long or empty string, an array
    /// and a non-string are each refused with their own reason; so is hex
    /// under Veraison's profile. A valid one is kept as its bytes.
    #[test]
    fn an_04_ear_jwt_with_a_hex_over_long_or_empty_nonce_is_refused() {
        let k = key("EdDSA");
        let signed = |profile: &str, nonce: serde_json::Value| {
            let j = claims(profile, serde_json::json!({ "eat_nonce": nonce }));
            verify_ear_jwt_with(
                &sign_raw(&k, r#"{"alg":"EdDSA","typ":"JWT"}"#, &j.to_string()),
                &k.public_key(),
                &v(),
            )
        };
        let refused = |profile: &'static str, nonce: serde_json::Value, reason: EatNonceError| {
            assert_eq!(
                signed(profile, nonce.clone()),
                Err(EarJwtError::EatNonce { profile, reason }),
                "{profile} {nonce}"
            );
        };
        let b64 = |b: &[u8]| B64.encode(b);
        for profile in [EAR_PROFILE, EAR_PROFILE_VERAISON] {
            refused(
                profile,
                hex::encode(BINDER).into(),
                EatNonceError::LegacyHex { digits: 96 },
            );
        }
        refused(
            EAR_PROFILE,
            hex::encode([7; 32]).into(),
            EatNonceError::LegacyHex { digits: 64 },
        );
        refused(
            EAR_PROFILE,
            hex::encode([7; 64]).into(),
            EatNonceError::LegacyHex { digits: 128 },
        );
        refused(
            EAR_PROFILE,
            format!("{}A", b64(&[0xf0; 66])).into(),
            EatNonceError::TooLong { len: 89, max: 88 },
        );
        refused(EAR_PROFILE, "".into(), EatNonceError::Empty);
        refused(EAR_PROFILE, b64(&[1; 65]).into(), EatNonceError::Length { len: 65 });
        refused(EAR_PROFILE, b64(&[1; 7]).into(), EatNonceError::Length { len: 7 });
        refused(
            EAR_PROFILE,
            serde_json::json!([b64(&BINDER), b64(&[2; 32])]),
            EatNonceError::Array { len: 2 },
        );
        refused(
            EAR_PROFILE_03,
            serde_json::json!([b64(&BINDER)]),
            EatNonceError::Array { len: 1 },
        );
        refused(EAR_PROFILE, serde_json::json!(12345678), EatNonceError::NotAString);
        assert!(matches!(
            signed(EAR_PROFILE, "+/+/+/+/+/+/".into()),
            Err(EarJwtError::EatNonce {
                reason: EatNonceError::NotBase64Url(_),
                ..
            })
        ));
        for profile in [EAR_PROFILE, EAR_PROFILE_03, EAR_PROFILE_VERAISON] {
            let ear = signed(profile, b64(&BINDER).into()).unwrap();
            assert_eq!(
                ear.eat_nonce.as_ref().map(EatNonce::as_bytes),
                Some(&BINDER[..]),
                "{profile}"
            );
        }
        let shown = signed(EAR_PROFILE, hex::encode(BINDER).into()).unwrap_err().to_string();
        assert!(shown.contains("eat_nonce") && shown.contains("hex"), "{shown}");
    }

    /// Guards the fuzz seeds of `ear_jwt_verify`: the committed tokens
    /// (-03, hex `eat_nonce`, signed before -04) still verify with the
    /// fixture keys, so the fuzzer starts from EARs that pass every check.
    #[test]
    fn the_committed_fuzz_seed_jwts_still_verify() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
        let after = EarJwtValidation::at(time::OffsetDateTime::from_unix_timestamp(4_102_444_800).unwrap());
        for (key, seed) in [("ed25519", "ear-ed25519.jwt"), ("p256", "ear-p256.jwt")] {
            let pem = std::fs::read(fuzz.join(format!("fixtures/platform/{key}-pub.pem"))).unwrap();
            let token = std::fs::read_to_string(fuzz.join(format!("seeds/ear_jwt_verify/{seed}"))).unwrap();
            let ear = verify_ear_jwt(&token, &pem, &after).unwrap();
            assert_eq!(ear.eat_profile, EAR_PROFILE_03, "{seed}");
            assert_eq!(ear.eat_nonce, Some(EatNonce::new([0xab; 32]).unwrap()), "{seed}");
        }
    }

    /// Guards the profile check: any profile but -04, -03 and Veraison's
    /// is refused with `UnknownProfile`, naming it (escaped).
    #[test]
    fn an_unknown_profile_is_refused_with_its_own_error() {
        for (profile, named) in [
            (
                serde_json::json!("tag:ietf.org,2026:rats/ear#05"),
                Some("tag:ietf.org,2026:rats/ear#05"),
            ),
            (
                serde_json::json!("tag:ietf.org,2026:rats/ear#04 "),
                Some("tag:ietf.org,2026:rats/ear#04 "),
            ),
            (
                serde_json::json!("tag:ietf.org,2023:rats/ear"),
                Some("tag:ietf.org,2023:rats/ear"),
            ),
            (serde_json::json!("x\n"), Some("x\\n")),
            (serde_json::json!(4), None),
            (serde_json::Value::Null, None),
        ] {
            let mut j = claims(EAR_PROFILE, serde_json::json!({}));
            match profile {
                serde_json::Value::Null => j.as_object_mut().unwrap().remove("eat_profile"),
                p => j.as_object_mut().unwrap().insert("eat_profile".into(), p),
            };
            let e = ear_from_json(j, &v()).unwrap_err();
            assert_eq!(
                e,
                EarJwtError::UnknownProfile {
                    profile: named.map(str::to_string)
                }
            );
            assert!(!e.to_string().chars().any(char::is_control), "{e}");
        }
        // Signed, it is refused for the same reason.
        let k = key("EdDSA");
        let t = sign_raw(
            &k,
            r#"{"alg":"EdDSA","typ":"JWT"}"#,
            &claims("tag:ietf.org,2026:rats/ear#05", serde_json::json!({})).to_string(),
        );
        assert!(matches!(
            verify_ear_jwt_with(&t, &k.public_key(), &v()),
            Err(EarJwtError::UnknownProfile { .. })
        ));
    }

    fn two_submods(overall: &str, a: &str, b: &str) -> serde_json::Value {
        serde_json::json!({
            "eat_profile": EAR_PROFILE, "iat": NOW - 10, "ear_status": overall,
            "ear_verifier_id": {"build": "b", "developer": "d"},
            "submods": {"a": {"ear_status": a}, "b": {"ear_status": b}}
        })
    }

    /// Guards -04, Section 3 on import: an overall status more trusted
    /// than the worst appraised submodule is refused (it was lowered to
    /// the submodules' and accepted). Worse or equal is kept; `none`
    /// statements are not compared (a `none` submodule is corrected to a
    /// contraindicated result instead).
    #[test]
    fn an_overall_status_more_trusted_than_a_submodule_is_refused() {
        use Tier::*;
        for (overall, a, b, worst_name, worst) in [
            ("affirming", "affirming", "warning", "b", Warning),
            ("affirming", "contraindicated", "affirming", "a", Contraindicated),
            ("warning", "warning", "contraindicated", "b", Contraindicated),
            ("affirming", "none", "warning", "b", Warning),
        ] {
            let status: Tier = serde_json::from_value(serde_json::json!(overall)).unwrap();
            assert_eq!(
                ear_from_json(two_submods(overall, a, b), &v()),
                Err(EarJwtError::StatusAboveSubmodule {
                    status,
                    submod: worst_name.into(),
                    submod_status: worst
                }),
                "{overall} over {a}, {b}"
            );
        }
        for (overall, a, b, result) in [
            ("affirming", "affirming", "affirming", Affirming),
            ("warning", "affirming", "warning", Warning),
            ("contraindicated", "affirming", "affirming", Contraindicated),
            ("none", "affirming", "warning", None),
            ("none", "affirming", "contraindicated", Contraindicated),
            ("affirming", "affirming", "none", Contraindicated),
        ] {
            assert_eq!(
                ear_from_json(two_submods(overall, a, b), &v()).map(|e| e.status),
                Ok(result),
                "{overall} over {a}, {b}"
            );
        }
        // The same under -03, which states the same rule, and signed.
        let k = key("EdDSA");
        let mut j = two_submods("affirming", "affirming", "warning");
        j["eat_profile"] = serde_json::json!(EAR_PROFILE_03);
        let t = sign_raw(&k, r#"{"alg":"EdDSA","typ":"JWT"}"#, &j.to_string());
        assert!(matches!(
            verify_ear_jwt_with(&t, &k.public_key(), &v()),
            Err(EarJwtError::StatusAboveSubmodule {
                submod_status: Warning,
                ..
            })
        ));
        // A submodule name is shown escaped.
        let j = serde_json::json!({
            "eat_profile": EAR_PROFILE, "iat": NOW - 10, "ear_status": "affirming",
            "ear_verifier_id": {"build": "b", "developer": "d"},
            "submods": {"x\nattestation result: affirming": {"ear_status": "warning"}}
        });
        let e = ear_from_json(j, &v()).unwrap_err();
        assert!(!e.to_string().chars().any(char::is_control), "{e}");
    }

    /// Guards the form of `ear_raw_evidence` per profile: a record CMW
    /// under -04 (not -03's bare bytes, not a collection), base64url bytes
    /// under -03 and Veraison's profile.
    #[test]
    fn raw_evidence_in_the_wrong_form_for_its_profile_is_refused() {
        let reason = |profile: &str, raw: serde_json::Value| match ear_from_json(
            claims(profile, serde_json::json!({"ear_raw_evidence": raw})),
            &v(),
        ) {
            Err(EarJwtError::RawEvidence { profile: p, reason }) => {
                assert_eq!(p, profile);
                reason
            }
            other => panic!("{profile}: {other:?}"),
        };
        // -04.
        assert!(reason(EAR_PROFILE, serde_json::json!("NzQ3MjY5NzM2NTYzNzQK")).contains("JSON array"));
        assert!(reason(EAR_PROFILE, serde_json::json!({"cpu": ["application/x", "AQ"]})).contains("collection"));
        assert!(reason(EAR_PROFILE, serde_json::json!(["application/x", "A+Q="])).contains("base64url"));
        assert!(reason(EAR_PROFILE, serde_json::json!(["application/x"])).contains("2 or 3"));
        assert!(reason(EAR_PROFILE, serde_json::json!(["application/x", "AQ", 0])).contains("cm-type"));
        let ok = ear_from_json(
            claims(
                EAR_PROFILE,
                serde_json::json!({"ear_raw_evidence": ["application/x", "AQ"]}),
            ),
            &v(),
        )
        .unwrap();
        assert_eq!(ok.raw_evidence().map(|r| r.value.as_slice()), Some(&[1u8][..]));
        // -03 and Veraison.
        assert!(reason(EAR_PROFILE_03, serde_json::json!(["application/x", "AQ"])).contains("a JSON string"));
        assert!(reason(EAR_PROFILE_03, serde_json::json!("not base64!")).contains("not base64url"));
        for profile in [EAR_PROFILE_03, EAR_PROFILE_VERAISON] {
            for bytes in ["NzQ3MjY5NzM2NTYzNzQK", "AQ==", "AQ"] {
                let j = claims(profile, serde_json::json!({"ear_raw_evidence": bytes}));
                assert_eq!(
                    ear_from_json(j, &v()).unwrap().raw_evidence(),
                    None,
                    "{profile} {bytes}"
                );
            }
        }
        let mut j = claims(EAR_PROFILE_VERAISON, serde_json::json!({"ear.raw-evidence": "AQ"}));
        assert!(ear_from_json(j.clone(), &v()).is_ok());
        j["ear_raw_evidence"] = serde_json::json!("AQ");
        assert_eq!(
            ear_from_json(j, &v()),
            Err(EarJwtError::ConflictingClaimNames {
                draft: "ear_raw_evidence",
                legacy: "ear.raw-evidence"
            })
        );
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
