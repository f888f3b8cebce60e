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
//! `ear.verifier-id`).

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
    let payload = serde_json::to_vec(ear).map_err(|e| EarJwtError::Claims(e.to_string()))?;
    let mut signing_input = B64.encode(header.to_string());
    signing_input.push('.');
    signing_input.push_str(&B64.encode(payload));
    let sig = key.sign(signing_input.as_bytes())?;
    signing_input.push('.');
    signing_input.push_str(&B64.encode(sig));
    Ok(signing_input)
}

/// Verifies a signed EAR with a PEM public key (SubjectPublicKeyInfo) or a
/// JWK, and returns the EAR.
pub fn verify_ear_jwt(token: &str, public_key: &[u8]) -> Result<Ear, EarJwtError> {
    let key = VerificationKey::from_pem_or_jwk(public_key).map_err(|e| EarJwtError::Key(e.to_string()))?;
    verify_ear_jwt_with(token, &key)
}

/// Verifies a signed EAR with a parsed key.
pub fn verify_ear_jwt_with(token: &str, key: &VerificationKey) -> Result<Ear, EarJwtError> {
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
    let header: serde_json::Value = serde_json::from_slice(&dec("header", h)?)
        .map_err(|e| EarJwtError::Malformed(format!("header is not JSON: {e}")))?;
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
    let payload: serde_json::Value = serde_json::from_slice(&dec("payload", p)?)
        .map_err(|e| EarJwtError::Malformed(format!("payload is not JSON: {e}")))?;
    ear_from_json(payload)
}

fn rename(obj: &mut serde_json::Map<String, serde_json::Value>, from: &str, to: &str) {
    if !obj.contains_key(to) {
        if let Some(v) = obj.remove(from) {
            obj.insert(to.to_string(), v);
        }
    }
}

/// Reads EAR JSON, accepting the draft names and the older Veraison dotted
/// names. The profile must be [`EAR_PROFILE`] or [`EAR_PROFILE_VERAISON`].
pub fn ear_from_json(value: serde_json::Value) -> Result<Ear, EarJwtError> {
    use serde_json::{json, Value};
    let Value::Object(mut obj) = value else {
        return Err(EarJwtError::Claims("not a JSON object".into()));
    };
    match obj.get("eat_profile").and_then(|p| p.as_str()) {
        Some(EAR_PROFILE) | Some(EAR_PROFILE_VERAISON) => {}
        other => return Err(EarJwtError::Claims(format!("unknown eat_profile {other:?}"))),
    }
    rename(&mut obj, "ear.verifier-id", "ear_verifier_id");
    rename(&mut obj, "ear.status", "status");
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
        rename(sm, "ear.status", "ear_status");
        rename(sm, "ear.trustworthiness-vector", "ear_trustworthiness_vector");
        if !sm.contains_key("ear_appraisal_policy_ids") {
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
    let mut ear: Ear = serde_json::from_value(Value::Object(obj)).map_err(|e| EarJwtError::Claims(e.to_string()))?;
    if !status_given {
        // The same combination as `Ear::new`: a `none` submodule beside
        // appraised ones makes the result contraindicated, not affirming.
        ear.status = Tier::overall(ear.submods.values().map(|a| a.status));
    }
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
            assert_eq!(verify_ear_jwt(&jwt, pub_pem.as_bytes()).unwrap(), ear(), "{alg}");
            assert_eq!(verify_ear_jwt_with(&jwt, &k.public_key()).unwrap(), ear());
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
            verify_ear_jwt_with(&forged, &k.public_key()),
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
                verify_ear_jwt_with(&t, &k.public_key()),
                Err(EarJwtError::Algorithm(_))
            ));
        }
        // Signed with ES384 but checked with an ES256 key, and HS256 headers.
        let jwt = sign_ear_jwt(&ear(), &key("ES384")).unwrap();
        assert!(matches!(
            verify_ear_jwt_with(&jwt, &k.public_key()),
            Err(EarJwtError::Algorithm(_))
        ));
        let h = B64.encode(r#"{"alg":"HS256"}"#);
        assert!(matches!(
            verify_ear_jwt_with(&format!("{h}.{payload}.AAAA"), &k.public_key()),
            Err(EarJwtError::Algorithm(_))
        ));
        let h = B64.encode(r#"{"alg":"ES256","crit":["exp"]}"#);
        assert!(matches!(
            verify_ear_jwt_with(&format!("{h}.{payload}.AAAA"), &k.public_key()),
            Err(EarJwtError::Malformed(_))
        ));
    }

    #[test]
    fn wrong_key_is_refused() {
        let jwt = sign_ear_jwt(&ear(), &key("EdDSA")).unwrap();
        let other = key("EdDSA").public_key_pem().unwrap();
        assert_eq!(
            verify_ear_jwt(&jwt, other.as_bytes()),
            Err(EarJwtError::Signature("EdDSA"))
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let k = key("ES256");
        let jwt = sign_ear_jwt(&ear(), &k).unwrap();
        let pk = k.public_key();
        for bad in [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{jwt}."),
            jwt.replacen('.', ".!", 1),
            format!("{}.{}", B64.encode("not json"), jwt.split_once('.').unwrap().1),
            "x".repeat(MAX_JWT_LEN + 1),
        ] {
            assert!(verify_ear_jwt_with(&bad, &pk).is_err(), "{bad:.40}");
        }
        // A valid signature over a payload that is not an EAR.
        let h = B64.encode(r#"{"alg":"ES256","typ":"JWT"}"#);
        let p = B64.encode(r#"{"eat_profile":"tag:example.com,2024:other","submods":{}}"#);
        let input = format!("{h}.{p}");
        let sig = k.sign(input.as_bytes()).unwrap();
        let t = format!("{input}.{}", B64.encode(sig));
        assert!(matches!(verify_ear_jwt_with(&t, &pk), Err(EarJwtError::Claims(_))));
        assert!(SigningKeyPem::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err());
        assert!(verify_ear_jwt(&jwt, b"not a key").is_err());
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
        let ear = ear_from_json(j).unwrap();
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
        assert_eq!(ear_from_json(j).unwrap().status, Tier::Contraindicated);
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
        let ear = ear_from_json(base(serde_json::json!({
            "a": {"ear.status": "affirming"}, "b": {"ear.status": "none"}
        })))
        .unwrap();
        assert_eq!(ear.status, Tier::Contraindicated);
        assert!(!ear.is_affirming() && !ear.is_acceptable());
        // All none: none.
        let ear = ear_from_json(base(serde_json::json!({
            "a": {"ear.status": "none"}, "b": {"ear.status": "none"}
        })))
        .unwrap();
        assert_eq!(ear.status, Tier::None);
        // An issuer's `affirming` does not hide a `none` submodule.
        let mut j = base(serde_json::json!({
            "a": {"ear.status": "affirming"}, "b": {"ear.status": "none"}
        }));
        j["ear.status"] = serde_json::json!("affirming");
        let ear = ear_from_json(j).unwrap();
        assert_eq!(ear.status, Tier::Affirming);
        assert!(!ear.is_affirming() && !ear.is_acceptable());
    }
}
