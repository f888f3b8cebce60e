//! TLS 1.3 signature verification over a DER SubjectPublicKeyInfo.
//!
//! Only the schemes TLS 1.3 allows in CertificateVerify are accepted, and
//! the key type must match the scheme (an ECDSA P-384 key cannot be used
//! with `ecdsa_secp256r1_sha256`; `rsa_pss_rsae_*` needs an rsaEncryption
//! key, `rsa_pss_pss_*` an id-RSASSA-PSS key).

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// Schemes accepted in CertificateVerify, in our preference order:
/// ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, ed25519,
/// rsa_pss_rsae_sha256/384/512, rsa_pss_pss_sha256/384/512.
pub const TLS13_SIGNATURE_SCHEMES: &[u16] = &[0x0403, 0x0503, 0x0807, 0x0804, 0x0805, 0x0806, 0x0809, 0x080a, 0x080b];

/// Why a signature did not verify.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The scheme is not a TLS 1.3 CertificateVerify scheme.
    #[error("signature scheme {0:#06x} is not allowed in TLS 1.3")]
    UnsupportedScheme(u16),
    /// The SubjectPublicKeyInfo could not be parsed.
    #[error("public key is malformed: {0}")]
    BadKey(String),
    /// The key type does not match the scheme.
    #[error("a {key} key cannot verify scheme {scheme:#06x}")]
    KeyMismatch {
        /// Key type found.
        key: String,
        /// Scheme used.
        scheme: u16,
    },
    /// The signature is wrong.
    #[error("signature does not verify")]
    Invalid,
}

const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_ED25519: &str = "1.3.101.112";

/// Verifies `signature` over `message` with the key in `spki_der` under the
/// TLS 1.3 `scheme`.
pub fn verify_signature(scheme: u16, spki_der: &[u8], message: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| SignatureError::BadKey(e.to_string()))?;
    if !rest.is_empty() {
        return Err(SignatureError::BadKey(
            "trailing bytes after SubjectPublicKeyInfo".into(),
        ));
    }
    let alg_oid = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    let key_name = match (alg_oid.as_str(), curve.as_deref()) {
        (OID_EC, Some(OID_P256)) => "ECDSA P-256",
        (OID_EC, Some(OID_P384)) => "ECDSA P-384",
        (OID_EC, _) => "ECDSA (other curve)",
        (OID_RSA, _) => "RSA",
        (OID_RSA_PSS, _) => "RSA-PSS",
        (OID_ED25519, _) => "Ed25519",
        _ => "unknown",
    };
    let alg: &'static dyn VerificationAlgorithm = match (scheme, key_name) {
        (0x0403, "ECDSA P-256") => &signature::ECDSA_P256_SHA256_ASN1,
        (0x0503, "ECDSA P-384") => &signature::ECDSA_P384_SHA384_ASN1,
        (0x0807, "Ed25519") => &signature::ED25519,
        (0x0804, "RSA") | (0x0809, "RSA-PSS") => &signature::RSA_PSS_2048_8192_SHA256,
        (0x0805, "RSA") | (0x080a, "RSA-PSS") => &signature::RSA_PSS_2048_8192_SHA384,
        (0x0806, "RSA") | (0x080b, "RSA-PSS") => &signature::RSA_PSS_2048_8192_SHA512,
        (s, _) if !TLS13_SIGNATURE_SCHEMES.contains(&s) => return Err(SignatureError::UnsupportedScheme(s)),
        (s, k) => {
            return Err(SignatureError::KeyMismatch {
                key: k.to_string(),
                scheme: s,
            })
        }
    };
    UnparsedPublicKey::new(alg, spki.subject_public_key.data.as_ref())
        .verify(message, sig)
        .map_err(|_| SignatureError::Invalid)
}
