//! The certificate or CSR that carries peer Evidence: its key, its
//! extensions (by the exact content bytes of their extnID) and its own
//! signature.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use rustls::pki_types::pem::{PemObject, SectionKind};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::PeerError;

/// What kind of signed structure carries the Evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    /// An X.509 certificate.
    Certificate,
    /// A PKCS#10 certificate signing request.
    Csr,
}

impl ContainerKind {
    /// `certificate` / `CSR`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::Csr => "CSR",
        }
    }
}

/// A parsed certificate or CSR, owned.
#[derive(Clone, Debug)]
pub struct Container {
    /// Certificate or CSR.
    pub kind: ContainerKind,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// Subject, readable.
    pub subject: String,
    /// Validity (certificates only), Unix seconds.
    pub validity: Option<(i64, i64)>,
    /// Extensions: (extnID content bytes, extnValue content bytes).
    pub extensions: Vec<(Vec<u8>, Vec<u8>)>,
    /// The signature of a self-signed certificate or of a CSR: `Ok`, or
    /// why it does not verify. `None`: a certificate issued by someone
    /// else (its issuer is not known here).
    pub signature: Option<Result<(), String>>,
    /// Remarks about the container (weak key, expired).
    pub notes: Vec<String>,
}

impl Container {
    /// Parses a PEM (CERTIFICATE, CERTIFICATE REQUEST, NEW CERTIFICATE
    /// REQUEST) or DER certificate/CSR. `Ok(None)`: not one of these at all;
    /// `Err`: PEM of one of these whose DER is malformed.
    pub fn from_pem_or_der(input: &[u8]) -> Result<Option<Self>, PeerError> {
        if input.first() == Some(&0x30) {
            return Ok(Self::from_der(input));
        }
        // PEM is text: binary input that merely contains PEM (an SGX quote
        // carries its PCK chain so) is not a certificate.
        if std::str::from_utf8(input).is_err() || !input.windows(11).any(|w| w == b"-----BEGIN ") {
            return Ok(None);
        }
        for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(input) {
            let (kind, der) = item.map_err(|e| PeerError::Unreadable(format!("PEM: {e:?}")))?;
            if matches!(kind, SectionKind::Certificate | SectionKind::Csr) {
                return Self::from_der(&der)
                    .map(Some)
                    .ok_or_else(|| PeerError::Unreadable("PEM block holds no valid certificate or CSR DER".into()));
            }
        }
        // "NEW CERTIFICATE REQUEST" is not a label rustls knows.
        let text = std::str::from_utf8(input).map_err(|_| PeerError::Unreadable("PEM is not text".into()))?;
        if let Some(body) = text
            .split("-----BEGIN NEW CERTIFICATE REQUEST-----")
            .nth(1)
            .and_then(|r| r.split("-----END NEW CERTIFICATE REQUEST-----").next())
        {
            use base64::Engine as _;
            let compact: String = body.split_whitespace().collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| PeerError::Unreadable(format!("PEM body is not base64: {e}")))?;
            return Self::from_der(&der)
                .map(Some)
                .ok_or_else(|| PeerError::Unreadable("PEM block holds no valid CSR DER".into()));
        }
        Ok(None)
    }

    fn from_der(der: &[u8]) -> Option<Self> {
        if let Ok((rest, c)) = X509Certificate::from_der(der) {
            if rest.is_empty() {
                return Some(Self::from_certificate(&c));
            }
        }
        match X509CertificationRequest::from_der(der) {
            Ok(([], r)) => Some(Self::from_csr(&r)),
            _ => None,
        }
    }

    fn from_certificate(c: &X509Certificate<'_>) -> Self {
        let spki = c.public_key();
        let self_signed = c.subject().as_raw() == c.issuer().as_raw();
        let signature = self_signed.then(|| {
            verify_signature(
                spki,
                &c.signature_algorithm.algorithm.to_id_string(),
                c.tbs_certificate.as_ref(),
                &c.signature_value.data,
            )
        });
        let mut notes = key_notes(spki);
        if !self_signed {
            notes.push(format!(
                "issued by {:?}: that issuer's signature is not checked here",
                c.issuer().to_string()
            ));
        }
        Self {
            kind: ContainerKind::Certificate,
            spki: spki.raw.to_vec(),
            subject: c.subject().to_string(),
            validity: Some((c.validity().not_before.timestamp(), c.validity().not_after.timestamp())),
            extensions: c
                .extensions()
                .iter()
                .map(|e| (e.oid.as_bytes().to_vec(), e.value.to_vec()))
                .collect(),
            signature,
            notes,
        }
    }

    fn from_csr(r: &X509CertificationRequest<'_>) -> Self {
        let info = &r.certification_request_info;
        let mut extensions = Vec::new();
        for a in info.iter_attributes() {
            if let ParsedCriAttribute::ExtensionRequest(er) = a.parsed_attribute() {
                extensions.extend(
                    er.extensions
                        .iter()
                        .map(|e| (e.oid.as_bytes().to_vec(), e.value.to_vec())),
                );
            }
        }
        Self {
            kind: ContainerKind::Csr,
            spki: info.subject_pki.raw.to_vec(),
            subject: info.subject.to_string(),
            validity: None,
            extensions,
            signature: Some(verify_signature(
                &info.subject_pki,
                &r.signature_algorithm.algorithm.to_id_string(),
                info.raw,
                &r.signature_value.data,
            )),
            notes: key_notes(&info.subject_pki),
        }
    }

    /// A note when the certificate is not valid at `now`.
    pub fn validity_note(&self, now: i64) -> Option<String> {
        let (nb, na) = self.validity?;
        let t = crate::platform::dcap::collateral::fmt_time;
        (now < nb || now > na).then(|| {
            format!(
                "the {} is not valid at {} (valid {}..{})",
                self.kind.name(),
                t(now),
                t(nb),
                t(na)
            )
        })
    }
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

fn key_notes(spki: &SubjectPublicKeyInfo<'_>) -> Vec<String> {
    if spki.algorithm.algorithm.to_id_string() == OID_RSA {
        if let Ok(x509_parser::public_key::PublicKey::RSA(k)) = spki.parsed() {
            let bits = k.key_size();
            if bits < 2048 {
                return vec![format!(
                    "RSA-{bits} key: below 2048 bits, refuse it under any key-size policy"
                )];
            }
        }
    }
    Vec::new()
}

/// Verifies a signature by the key of `spki` (ECDSA P-256/P-384 with
/// SHA-256/384, RSA PKCS#1 v1.5 with SHA-256/384; RSA keys from 1024 bits,
/// smaller ones being noted by [`key_notes`]).
pub(super) fn verify_signature(
    spki: &SubjectPublicKeyInfo<'_>,
    sig_alg: &str,
    msg: &[u8],
    sig: &[u8],
) -> Result<(), String> {
    let key_alg = spki.algorithm.algorithm.to_id_string();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| o.to_id_string());
    let alg: &'static dyn VerificationAlgorithm = match (key_alg.as_str(), curve.as_deref(), sig_alg) {
        (OID_EC, Some(OID_P256), "1.2.840.10045.4.3.2") => &signature::ECDSA_P256_SHA256_ASN1,
        (OID_EC, Some(OID_P256), "1.2.840.10045.4.3.3") => &signature::ECDSA_P256_SHA384_ASN1,
        (OID_EC, Some(OID_P384), "1.2.840.10045.4.3.2") => &signature::ECDSA_P384_SHA256_ASN1,
        (OID_EC, Some(OID_P384), "1.2.840.10045.4.3.3") => &signature::ECDSA_P384_SHA384_ASN1,
        (OID_RSA, _, "1.2.840.113549.1.1.11") => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        (OID_RSA, _, "1.2.840.113549.1.1.12") => &signature::RSA_PKCS1_2048_8192_SHA384,
        (k, c, s) => {
            return Err(format!(
                "unsupported signature algorithm {s} with key {k}{}",
                c.map(|c| format!(" ({c})")).unwrap_or_default()
            ))
        }
    };
    UnparsedPublicKey::new(alg, &spki.subject_public_key.data[..])
        .verify(msg, sig)
        .map_err(|_| "signature is invalid (the signed part was modified, or another key signed it)".to_string())
}

/// Dotted form of OID content bytes (X.690 8.19: base-128 subidentifiers,
/// the first one holding the first two arcs). Shown for messages only;
/// OIDs are always matched by their bytes. A malformed encoding is shown
/// as hex.
pub fn oid_text(content: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut v: u128 = 0;
    for (i, b) in content.iter().enumerate() {
        if v > (u128::MAX >> 7) {
            return format!("(malformed OID {})", hex::encode(content));
        }
        v = (v << 7) | u128::from(b & 0x7f);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (v / 40).min(2);
                arcs.push(first);
                arcs.push(v - first * 40);
            } else {
                arcs.push(v);
            }
            v = 0;
        } else if i + 1 == content.len() {
            return format!("(malformed OID {})", hex::encode(content));
        }
    }
    if arcs.is_empty() {
        return "(empty OID)".into();
    }
    arcs.iter().map(u128::to_string).collect::<Vec<_>>().join(".")
}

/// The DER PEM text of an SPKI as OpenSSL's `PEM_write_bio_PUBKEY` writes
/// it: `-----BEGIN PUBLIC KEY-----\n`, base64 in 64-character lines each
/// ending in `\n`, `-----END PUBLIC KEY-----\n`.
pub fn spki_pem(spki: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// Checks that `issuer_der` (a CA certificate given by the user) issued
/// `child_der`: names chain, the issuer is a CA, the signature verifies and
/// both are valid at `now`. Returns the issuer's subject.
pub fn verify_issued_by(child_der: &[u8], issuer_der: &[u8], now: i64) -> Result<String, String> {
    let parse = |der, what: &str| -> Result<X509Certificate<'_>, String> {
        match X509Certificate::from_der(der) {
            Ok(([], c)) => Ok(c),
            Ok(_) => Err(format!("{what}: trailing bytes after the certificate")),
            Err(e) => Err(format!("{what}: {e}")),
        }
    };
    let child = parse(child_der, "certificate")?;
    let issuer = parse(issuer_der, "issuer certificate")?;
    if child.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(format!(
            "{:?} is issued by {:?}, not by {:?}",
            child.subject().to_string(),
            child.issuer().to_string(),
            issuer.subject().to_string()
        ));
    }
    let is_ca = issuer.basic_constraints().ok().flatten().is_some_and(|b| b.value.ca);
    if !is_ca {
        return Err(format!("{:?} is not a CA certificate", issuer.subject().to_string()));
    }
    for c in [&child, &issuer] {
        let (nb, na) = (c.validity().not_before.timestamp(), c.validity().not_after.timestamp());
        if now < nb || now > na {
            let t = crate::platform::dcap::collateral::fmt_time;
            return Err(format!(
                "{:?} is not valid at {} (valid {}..{})",
                c.subject().to_string(),
                t(now),
                t(nb),
                t(na)
            ));
        }
    }
    verify_signature(
        issuer.public_key(),
        &child.signature_algorithm.algorithm.to_id_string(),
        child.tbs_certificate.as_ref(),
        &child.signature_value.data,
    )
    .map_err(|e| format!("{:?}: {e}", child.subject().to_string()))?;
    Ok(issuer.subject().to_string())
}
