//! Intel SGX PKI: certificates, CRLs and the PCK certificate's SGX extension.
//!
//! Certificates and CRLs are parsed with `x509-parser` once into owned
//! [`Cert`] / [`Crl`] values; signatures are checked with aws-lc-rs on the
//! `tbs` bytes. Intel's PKI uses ECDSA P-256 with SHA-256 throughout; any
//! other algorithm is refused.

use std::collections::HashSet;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED};
use rustls::pki_types::{pem::PemObject, CertificateDer};
use x509_parser::oid_registry::{OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ECDSA_WITH_SHA256};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

/// The Intel SGX Root CA certificate (PEM), the trust anchor of every PCK
/// and collateral-signing chain. SHA-256 fingerprint: [`INTEL_ROOT_CA_SHA256`].
pub const INTEL_ROOT_CA_PEM: &[u8] = include_bytes!("../intel-roots/intel-sgx-root-ca.pem");
/// SHA-256 of the DER of [`INTEL_ROOT_CA_PEM`].
pub const INTEL_ROOT_CA_SHA256: &str = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";
/// At most this many certificates are read from a PEM chain.
pub const MAX_CHAIN_LEN: usize = 5;

/// A PKI failure, naming the object concerned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PkiError {
    /// PEM or DER could not be decoded.
    #[error("{what}: cannot decode: {reason}")]
    Decode {
        /// The object.
        what: String,
        /// Why.
        reason: String,
    },
    /// A signature algorithm or key type other than ECDSA P-256 / SHA-256.
    #[error("{0}: unsupported or inconsistent signature algorithm (Intel's PKI uses ECDSA P-256 with SHA-256, the same inside and outside the signed part)")]
    Algorithm(String),
    /// The issuer name of the object is not the subject of the expected issuer.
    #[error("{what} is not issued by {issuer}")]
    Issuer {
        /// The object.
        what: String,
        /// The expected issuer.
        issuer: String,
    },
    /// A signature did not verify.
    #[error("{0}: signature is invalid")]
    Signature(String),
    /// The issuer is not a CA.
    #[error("{0} is not a CA certificate")]
    NotCa(String),
    /// The SGX extension is missing or malformed.
    #[error("PCK certificate SGX extension: {0}")]
    SgxExtension(String),
    /// A chain is empty or longer than [`MAX_CHAIN_LEN`].
    #[error("{what}: {count} certificates (expected 1..={MAX_CHAIN_LEN})")]
    ChainLength {
        /// The chain.
        what: String,
        /// How many certificates it held.
        count: usize,
    },
}

/// An X.509 certificate with the fields the verifier needs, owned.
#[derive(Clone, Debug)]
pub struct Cert {
    /// DER encoding.
    pub der: Vec<u8>,
    /// Readable subject (for messages).
    pub subject_str: String,
    /// Raw DER of the subject name.
    pub subject: Vec<u8>,
    /// Raw DER of the issuer name.
    pub issuer: Vec<u8>,
    /// Uncompressed EC point of the subject public key.
    pub public_key: Vec<u8>,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Raw serial number bytes.
    pub serial: Vec<u8>,
    /// basicConstraints cA.
    pub is_ca: bool,
    /// SGX extension value (OID 1.2.840.113741.1.13.1), if present.
    pub sgx_extension: Option<Vec<u8>>,
    tbs: Vec<u8>,
    signature: Vec<u8>,
}

/// OID 1.2.840.113741.1.13.1 (DER content bytes).
const SGX_EXT_OID: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01];

impl Cert {
    /// Parses a DER certificate; `what` names it in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, PkiError> {
        let (rest, c) = X509Certificate::from_der(der).map_err(|e| PkiError::Decode {
            what: what.into(),
            reason: e.to_string(),
        })?;
        if !rest.is_empty() {
            return Err(PkiError::Decode {
                what: what.into(),
                reason: format!("{} trailing bytes", rest.len()),
            });
        }
        if c.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA256
            || c.public_key().algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY
            || !crate::der::signature_algorithms_agree(der, false).unwrap_or(false)
        {
            return Err(PkiError::Algorithm(what.into()));
        }
        let is_ca = c
            .basic_constraints()
            .ok()
            .flatten()
            .map(|b| b.value.ca)
            .unwrap_or(false);
        let sgx_extension = c
            .extensions()
            .iter()
            .find(|e| e.oid.as_bytes() == SGX_EXT_OID)
            .map(|e| e.value.to_vec());
        Ok(Self {
            der: der.to_vec(),
            subject_str: c.subject().to_string(),
            subject: c.subject().as_raw().to_vec(),
            issuer: c.issuer().as_raw().to_vec(),
            public_key: c.public_key().subject_public_key.data.to_vec(),
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
            serial: c.raw_serial().to_vec(),
            is_ca,
            sgx_extension,
            tbs: c.tbs_certificate.as_ref().to_vec(),
            signature: c.signature_value.data.to_vec(),
        })
    }

    /// Checks that `issuer` issued this certificate: name chaining, issuer
    /// is a CA, ECDSA signature over the TBS.
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), PkiError> {
        if self.issuer != issuer.subject {
            return Err(PkiError::Issuer {
                what: format!("certificate {:?}", self.subject_str),
                issuer: format!("{:?}", issuer.subject_str),
            });
        }
        if !issuer.is_ca {
            return Err(PkiError::NotCa(issuer.subject_str.clone()));
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &issuer.public_key)
            .verify(&self.tbs, &self.signature)
            .map_err(|_| PkiError::Signature(format!("certificate {:?}", self.subject_str)))
    }

    /// Verifies a raw (r || s) ECDSA P-256 / SHA-256 signature with this key.
    pub fn verify_raw(&self, msg: &[u8], sig: &[u8], what: &str) -> Result<(), PkiError> {
        verify_p256_raw(&self.public_key, msg, sig, what)
    }

    /// SHA-256 of the DER.
    pub fn fingerprint(&self) -> [u8; 32] {
        sha256(&self.der)
    }
}

/// Verifies a raw (r || s) ECDSA P-256 / SHA-256 signature with an
/// uncompressed SEC1 public key.
pub fn verify_p256_raw(public_key: &[u8], msg: &[u8], sig: &[u8], what: &str) -> Result<(), PkiError> {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key)
        .verify(msg, sig)
        .map_err(|_| PkiError::Signature(what.into()))
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Parses a PEM certificate chain (leaf first).
///
/// An END line directly followed by the next BEGIN line (no line break, as
/// some quotes carry their chain: Open Enclave's `sgx_cert_ec_bad_tcb.der`)
/// is split first; the PEM reader would otherwise drop the second
/// certificate silently.
pub fn parse_pem_chain(pem: &[u8], what: &str) -> Result<Vec<Cert>, PkiError> {
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut fixed;
    let pem = if pem
        .windows(END.len() + 1)
        .any(|w| w.starts_with(END) && w[END.len()] == b'-')
    {
        fixed = Vec::with_capacity(pem.len() + 16);
        let mut rest = pem;
        while let Some(at) = rest.windows(END.len()).position(|w| w == END) {
            fixed.extend_from_slice(&rest[..at + END.len()]);
            rest = &rest[at + END.len()..];
            if rest.first() == Some(&b'-') {
                fixed.push(b'\n');
            }
        }
        fixed.extend_from_slice(rest);
        &fixed[..]
    } else {
        pem
    };
    let mut out = Vec::new();
    for (i, item) in CertificateDer::pem_slice_iter(pem).enumerate() {
        if i >= MAX_CHAIN_LEN {
            return Err(PkiError::ChainLength {
                what: what.into(),
                count: i + 1,
            });
        }
        let der = item.map_err(|e| PkiError::Decode {
            what: format!("{what} PEM"),
            reason: format!("{e:?}"),
        })?;
        out.push(Cert::from_der(der.as_ref(), &format!("{what} certificate {i}"))?);
    }
    if out.is_empty() {
        return Err(PkiError::ChainLength {
            what: what.into(),
            count: 0,
        });
    }
    Ok(out)
}

/// The embedded Intel SGX Root CA, parsed (and its self-signature checked).
pub fn intel_root() -> Result<Cert, PkiError> {
    let der = CertificateDer::from_pem_slice(INTEL_ROOT_CA_PEM).map_err(|e| PkiError::Decode {
        what: "embedded Intel SGX Root CA".into(),
        reason: format!("{e:?}"),
    })?;
    let root = Cert::from_der(der.as_ref(), "Intel SGX Root CA")?;
    root.verify_issued_by(&root)?;
    Ok(root)
}

/// A certificate revocation list, parsed and owned.
#[derive(Clone, Debug)]
pub struct Crl {
    /// Raw DER of the issuer name.
    pub issuer: Vec<u8>,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds (a CRL without one is refused).
    pub next_update: i64,
    /// Raw serial numbers of revoked certificates.
    pub revoked: HashSet<Vec<u8>>,
    what: String,
    tbs: Vec<u8>,
    signature: Vec<u8>,
}

impl Crl {
    /// Parses a DER CRL; `what` names it in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, PkiError> {
        let (_, c) = CertificateRevocationList::from_der(der).map_err(|e| PkiError::Decode {
            what: what.into(),
            reason: e.to_string(),
        })?;
        if c.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA256
            || !crate::der::signature_algorithms_agree(der, true).unwrap_or(false)
        {
            return Err(PkiError::Algorithm(what.into()));
        }
        let next_update = c.next_update().ok_or_else(|| PkiError::Decode {
            what: what.into(),
            reason: "no nextUpdate".into(),
        })?;
        Ok(Self {
            issuer: c.issuer().as_raw().to_vec(),
            this_update: c.last_update().timestamp(),
            next_update: next_update.timestamp(),
            revoked: c.iter_revoked_certificates().map(|r| r.raw_serial().to_vec()).collect(),
            what: what.into(),
            tbs: c.tbs_cert_list.as_ref().to_vec(),
            signature: c.signature_value.data.to_vec(),
        })
    }

    /// Checks that `issuer` signed this CRL.
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), PkiError> {
        if self.issuer != issuer.subject {
            return Err(PkiError::Issuer {
                what: self.what.clone(),
                issuer: format!("{:?}", issuer.subject_str),
            });
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &issuer.public_key)
            .verify(&self.tbs, &self.signature)
            .map_err(|_| PkiError::Signature(self.what.clone()))
    }

    /// Whether `cert` (issued by this CRL's issuer) is revoked.
    pub fn revokes(&self, cert: &Cert) -> bool {
        cert.issuer == self.issuer && self.revoked.contains(&cert.serial)
    }
}

/// The values of the PCK certificate's SGX extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgxExtension {
    /// PPID: the platform's provisioning id (16 bytes).
    pub ppid: Vec<u8>,
    /// SGX TCB components 1..16.
    pub tcb_components: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// CPUSVN (raw).
    pub cpusvn: [u8; 16],
    /// PCE-ID.
    pub pceid: Vec<u8>,
    /// FMSPC (family-model-stepping-platform-custom SKU).
    pub fmspc: [u8; 6],
    /// SGX type (0 = standard, 1 = scalable, 2 = scalable with integrity).
    pub sgx_type: u8,
}

fn ext_err(s: impl Into<String>) -> PkiError {
    PkiError::SgxExtension(s.into())
}

/// Reads one DER TLV with a single-byte tag; returns (tag, content, rest).
fn tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), PkiError> {
    let (&tag, rest) = input.split_first().ok_or_else(|| ext_err("truncated (tag)"))?;
    let (&first, rest) = rest.split_first().ok_or_else(|| ext_err("truncated (length)"))?;
    let (len, rest) = match first {
        n if n < 0x80 => (n as usize, rest),
        0x81 => {
            let (&b, rest) = rest.split_first().ok_or_else(|| ext_err("truncated (length)"))?;
            (b as usize, rest)
        }
        0x82 => match rest {
            [a, b, rest @ ..] => (((*a as usize) << 8) | *b as usize, rest),
            _ => return Err(ext_err("truncated (length)")),
        },
        _ => return Err(ext_err("unsupported DER length form")),
    };
    if rest.len() < len {
        return Err(ext_err("truncated (content)"));
    }
    let (content, rest) = rest.split_at(len);
    Ok((tag, content, rest))
}

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_ENUMERATED: u8 = 0x0A;
const TAG_SEQUENCE: u8 = 0x30;

/// Iterates `SEQUENCE { OID, value }` items of a SEQUENCE's content.
/// (OID content, value tag, value content).
type OidItem<'a> = (&'a [u8], u8, &'a [u8]);

fn oid_value_items(mut content: &[u8]) -> Result<Vec<OidItem<'_>>, PkiError> {
    let mut out = Vec::new();
    while !content.is_empty() {
        if out.len() > 64 {
            return Err(ext_err("too many items"));
        }
        let (tag, item, rest) = tlv(content)?;
        if tag != TAG_SEQUENCE {
            return Err(ext_err("item is not a SEQUENCE"));
        }
        let (otag, oid, vrest) = tlv(item)?;
        if otag != TAG_OID {
            return Err(ext_err("item does not start with an OID"));
        }
        let (vtag, value, tail) = tlv(vrest)?;
        if !tail.is_empty() {
            return Err(ext_err("trailing data in item"));
        }
        out.push((oid, vtag, value));
        content = rest;
    }
    Ok(out)
}

fn small_uint(tag: u8, value: &[u8], expected_tag: u8, what: &str) -> Result<u16, PkiError> {
    if tag != expected_tag {
        return Err(ext_err(format!("{what} has tag {tag:#x}")));
    }
    match value {
        [b] if *b < 0x80 => Ok(*b as u16),
        [0, b] if *b >= 0x80 => Ok(*b as u16),
        [a, b] if *a < 0x80 => Ok(u16::from_be_bytes([*a, *b])),
        [0, a, b] if *a >= 0x80 => Ok(u16::from_be_bytes([*a, *b])),
        _ => Err(ext_err(format!("{what} is not a small non-negative integer"))),
    }
}

fn octets<const N: usize>(tag: u8, value: &[u8], what: &str) -> Result<[u8; N], PkiError> {
    if tag != TAG_OCTET_STRING {
        return Err(ext_err(format!("{what} is not an OCTET STRING")));
    }
    value
        .try_into()
        .map_err(|_| ext_err(format!("{what} is {} bytes, expected {N}", value.len())))
}

fn set_once<T>(slot: &mut Option<T>, v: T, what: &str) -> Result<(), PkiError> {
    if slot.is_some() {
        return Err(ext_err(format!("duplicate {what}")));
    }
    *slot = Some(v);
    Ok(())
}

impl SgxExtension {
    /// Parses the DER value of the SGX extension.
    pub fn parse(value: &[u8]) -> Result<Self, PkiError> {
        let (tag, content, rest) = tlv(value)?;
        if tag != TAG_SEQUENCE || !rest.is_empty() {
            return Err(ext_err("not a single SEQUENCE"));
        }
        let (mut ppid, mut tcb, mut pceid, mut fmspc, mut sgx_type) = (None, None, None, None, None);
        for (oid, vtag, v) in oid_value_items(content)? {
            let Some(sub) = oid.strip_prefix(SGX_EXT_OID) else {
                continue;
            };
            match sub {
                [1] => set_once(&mut ppid, octets::<16>(vtag, v, "PPID")?.to_vec(), "PPID")?,
                [2] => {
                    if vtag != TAG_SEQUENCE {
                        return Err(ext_err("TCB is not a SEQUENCE"));
                    }
                    set_once(&mut tcb, Self::parse_tcb(v)?, "TCB")?
                }
                [3] => set_once(&mut pceid, octets::<2>(vtag, v, "PCE-ID")?.to_vec(), "PCE-ID")?,
                [4] => set_once(&mut fmspc, octets::<6>(vtag, v, "FMSPC")?, "FMSPC")?,
                [5] => set_once(
                    &mut sgx_type,
                    small_uint(vtag, v, TAG_ENUMERATED, "SGX type")?.min(255) as u8,
                    "SGX type",
                )?,
                _ => {}
            }
        }
        let (tcb_components, pce_svn, cpusvn) = tcb.ok_or_else(|| ext_err("missing TCB"))?;
        Ok(Self {
            ppid: ppid.ok_or_else(|| ext_err("missing PPID"))?,
            tcb_components,
            pce_svn,
            cpusvn,
            pceid: pceid.ok_or_else(|| ext_err("missing PCE-ID"))?,
            fmspc: fmspc.ok_or_else(|| ext_err("missing FMSPC"))?,
            sgx_type: sgx_type.ok_or_else(|| ext_err("missing SGX type"))?,
        })
    }

    fn parse_tcb(content: &[u8]) -> Result<([u8; 16], u16, [u8; 16]), PkiError> {
        let mut comps: [Option<u8>; 16] = [None; 16];
        let (mut pce_svn, mut cpusvn) = (None, None);
        for (oid, vtag, v) in oid_value_items(content)? {
            let Some(sub) = oid.strip_prefix(SGX_EXT_OID) else {
                continue;
            };
            match sub {
                [2, n @ 1..=16] => {
                    let svn = small_uint(vtag, v, TAG_INTEGER, "TCB component")?;
                    let svn = u8::try_from(svn).map_err(|_| ext_err("TCB component above 255"))?;
                    set_once(&mut comps[(*n - 1) as usize], svn, "TCB component")?
                }
                [2, 17] => set_once(&mut pce_svn, small_uint(vtag, v, TAG_INTEGER, "PCESVN")?, "PCESVN")?,
                [2, 18] => set_once(&mut cpusvn, octets::<16>(vtag, v, "CPUSVN")?, "CPUSVN")?,
                _ => {}
            }
        }
        let mut out = [0u8; 16];
        for (i, c) in comps.iter().enumerate() {
            out[i] = c.ok_or_else(|| ext_err(format!("missing TCB component {}", i + 1)))?;
        }
        Ok((
            out,
            pce_svn.ok_or_else(|| ext_err("missing PCESVN"))?,
            cpusvn.ok_or_else(|| ext_err("missing CPUSVN"))?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_root_has_the_expected_fingerprint_and_self_signature() {
        let root = intel_root().unwrap();
        assert_eq!(hex::encode(root.fingerprint()), INTEL_ROOT_CA_SHA256);
        assert!(root.subject_str.contains("Intel SGX Root CA"));
        assert!(root.is_ca);
    }

    /// Guards the split of `-----END CERTIFICATE----------BEGIN ...`: without
    /// it the PEM reader silently dropped the second certificate.
    #[test]
    fn pem_chain_with_end_and_begin_on_one_line_keeps_every_certificate() {
        let root = String::from_utf8(INTEL_ROOT_CA_PEM.to_vec()).unwrap();
        let root = root.trim_end();
        let glued = format!("{root}{root}\n{root}\n");
        assert_eq!(parse_pem_chain(glued.as_bytes(), "glued").unwrap().len(), 3);
        let plain = format!("{root}\n{root}\n");
        assert_eq!(parse_pem_chain(plain.as_bytes(), "plain").unwrap().len(), 2);
    }

    #[test]
    fn embedded_root_is_the_root_of_the_vector_chains() {
        for f in ["tdx/tdx_quote_collateral.json", "sgx/sgx_quote_collateral.json"] {
            let text = std::fs::read_to_string(format!("{}/../../vectors/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let chain = parse_pem_chain(v["tcb_info_issuer_chain"].as_str().unwrap().as_bytes(), "tcb").unwrap();
            assert_eq!(hex::encode(chain[1].fingerprint()), INTEL_ROOT_CA_SHA256);
        }
    }

    #[test]
    fn tlv_refuses_truncation() {
        let refused = |input: &[u8], why: &str| {
            let r = tlv(input);
            assert!(
                matches!(&r, Err(PkiError::SgxExtension(m)) if m == why),
                "{input:02x?}: {r:?}"
            );
        };
        refused(&[], "truncated (tag)");
        refused(&[0x30], "truncated (length)");
        refused(&[0x30, 0x05, 0x00], "truncated (content)");
        // Three length bytes are a length form this parser does not accept.
        refused(&[0x30, 0x83, 0, 0, 1, 0], "unsupported DER length form");
        refused(&[0x30, 0x81], "truncated (length)");
        refused(&[0x30, 0x82, 0x01], "truncated (length)");
        assert_eq!(
            tlv(&[0x04, 0x01, 0xAA, 0x00]).unwrap(),
            (0x04, &[0xAA][..], &[0x00][..])
        );
    }

    #[test]
    fn sgx_extension_requires_every_field() {
        let r = SgxExtension::parse(&[0x30, 0x00]);
        assert!(
            matches!(&r, Err(PkiError::SgxExtension(m)) if m == "missing TCB"),
            "{:?}",
            r.err()
        );
        let r = SgxExtension::parse(&[0x04, 0x00]);
        assert!(
            matches!(&r, Err(PkiError::SgxExtension(m)) if m == "not a single SEQUENCE"),
            "{:?}",
            r.err()
        );
    }

    fn pck_extension_der() -> Vec<u8> {
        let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/tdx/tdx_quote")).unwrap();
        let q = super::super::quote::Quote::parse(&raw).unwrap();
        parse_pem_chain(q.pck_cert_data, "pck").unwrap()[0]
            .sgx_extension
            .clone()
            .unwrap()
    }

    #[test]
    fn parses_the_vector_pck_extension() {
        let ext = SgxExtension::parse(&pck_extension_der()).unwrap();
        assert_eq!(hex::encode(ext.fmspc), "b0c06f000000");
        assert_eq!(ext.ppid.len(), 16);
        assert_eq!(ext.pceid, vec![0, 0]);
        // dcap-qvl reads CPUSVN from OID .2.18; the components must agree with it.
        assert_eq!(ext.tcb_components, ext.cpusvn);
    }

    proptest::proptest! {
        #[test]
        fn mutated_extensions_never_panic(idx in 0usize..600, val in proptest::prelude::any::<u8>()) {
            let mut der = pck_extension_der();
            let i = idx % der.len();
            der[i] = val;
            let _ = SgxExtension::parse(&der);
            let _ = SgxExtension::parse(&der[..i]);
        }
    }

    fn pck_chain() -> Vec<Cert> {
        let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/tdx/tdx_quote")).unwrap();
        let q = super::super::quote::Quote::parse(&raw).unwrap();
        parse_pem_chain(q.pck_cert_data, "pck").unwrap()
    }

    #[test]
    fn certificate_issuance_checks() {
        let chain = pck_chain();
        let (leaf, ca) = (&chain[0], &chain[1]);
        leaf.verify_issued_by(ca).unwrap();
        ca.verify_issued_by(&intel_root().unwrap()).unwrap();
        // Wrong issuer name.
        assert!(matches!(leaf.verify_issued_by(leaf), Err(PkiError::Issuer { .. })));
        // Issuer that is not a CA.
        let mut not_ca = ca.clone();
        not_ca.is_ca = false;
        assert!(matches!(leaf.verify_issued_by(&not_ca), Err(PkiError::NotCa(_))));
        // Same name, other key.
        let mut other_key = ca.clone();
        other_key.public_key = leaf.public_key.clone();
        assert!(matches!(leaf.verify_issued_by(&other_key), Err(PkiError::Signature(_))));
    }

    #[test]
    fn crl_revocation_and_issuer_checks() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../vectors/tdx/tdx_quote_collateral.json"
        ))
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let root = intel_root().unwrap();
        let mut crl = Crl::from_der(&hex::decode(v["root_ca_crl"].as_str().unwrap()).unwrap(), "root CA CRL").unwrap();
        crl.verify_issued_by(&root).unwrap();
        let ca = pck_chain()[1].clone();
        assert!(!crl.revokes(&ca));
        crl.revoked.insert(ca.serial.clone());
        assert!(crl.revokes(&ca));
        // A serial only counts for certificates of the CRL's issuer.
        let leaf = pck_chain()[0].clone();
        crl.revoked.insert(leaf.serial.clone());
        assert!(!crl.revokes(&leaf));
        // A CRL checked against the wrong issuer.
        assert!(matches!(crl.verify_issued_by(&ca), Err(PkiError::Issuer { .. })));
        let r = Crl::from_der(&[0x30, 0x03, 0x02, 0x01, 0x00], "junk");
        assert!(
            matches!(&r, Err(PkiError::Decode { what, .. }) if what == "junk"),
            "{:?}",
            r.err()
        );
    }

    #[test]
    fn a_certificate_with_trailing_bytes_is_refused() {
        let mut der = pck_chain()[0].der.clone();
        Cert::from_der(&der, "leaf").unwrap();
        der.push(0);
        let e = Cert::from_der(&der, "leaf").unwrap_err();
        assert!(
            matches!(&e, PkiError::Decode { reason, .. } if reason == "1 trailing bytes"),
            "{e}"
        );
    }

    #[test]
    fn empty_and_overlong_pem_chains_are_refused() {
        assert!(matches!(
            parse_pem_chain(b"", "c"),
            Err(PkiError::ChainLength { count: 0, .. })
        ));
        assert!(matches!(
            parse_pem_chain(b"no PEM here", "c"),
            Err(PkiError::ChainLength { count: 0, .. })
        ));
        let pem_of = |n: usize| -> Vec<u8> {
            use base64::Engine;
            let chain = pck_chain();
            let mut out = String::new();
            for c in chain.iter().cycle().take(n) {
                let b64 = base64::engine::general_purpose::STANDARD.encode(&c.der);
                out.push_str(&format!(
                    "-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n"
                ));
            }
            out.into_bytes()
        };
        assert_eq!(
            parse_pem_chain(&pem_of(MAX_CHAIN_LEN), "c").unwrap().len(),
            MAX_CHAIN_LEN
        );
        assert!(matches!(
            parse_pem_chain(&pem_of(MAX_CHAIN_LEN + 1), "c"),
            Err(PkiError::ChainLength { count, .. }) if count == MAX_CHAIN_LEN + 1
        ));
    }

    #[test]
    fn sgx_extension_with_a_duplicated_field_is_refused() {
        let ext = pck_extension_der();
        let (_, content, _) = tlv(&ext).unwrap();
        let (_, _, after_first) = tlv(content).unwrap();
        let first = &content[..content.len() - after_first.len()];
        let mut doubled = first.to_vec();
        doubled.extend_from_slice(content);
        let n = doubled.len();
        assert!((256..65536).contains(&n));
        let mut der = vec![TAG_SEQUENCE, 0x82, (n >> 8) as u8, n as u8];
        der.extend_from_slice(&doubled);
        let e = SgxExtension::parse(&der).unwrap_err();
        assert!(e.to_string().contains("duplicate PPID"), "{e}");
    }
}
