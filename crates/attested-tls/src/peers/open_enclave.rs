//! Open Enclave attested certificates (OE SDK `oe_get_attestation_certificate`,
//! and Microsoft Azure Attestation's signing certificates).
//!
//! Extension OID 1.2.840.113556.10.1.1 (DER `06 09 2A 86 48 86 F7 14 0A 01 01`).
//! Two value encodings occur: a DER OCTET STRING wrapping the raw SGX quote
//! (MAA), or `oe_report_header_t` {u32 version = 1, u32 report_type = 2
//! (SGX remote), u64 report_size} (little-endian) followed by the quote (OE SDK).
//!
//! Binding (computed on every sample): `report_data = SHA-256(PEM text of
//! the SPKI, including one trailing NUL byte) || 0^32`, the PEM text being
//! what OpenSSL's `PEM_write_bio_PUBKEY` writes (see [`super::x509::spki_pem`]).

use super::quote;
use super::x509::spki_pem;
use super::{report_data_is, sha256, Binding, CertFormat, Container, PeerError, PeerFormat, PeerReport, ReadOptions};

/// OID 1.2.840.113556.10.1.1, content bytes.
pub const OID_CONTENT: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x14, 0x0A, 0x01, 0x01];
/// `oe_report_header_t` length.
pub const HEADER_LEN: usize = 16;

/// The binding formula.
pub const FORMULA: &str = "report_data = SHA-256(PEM(SubjectPublicKeyInfo) || 0x00) || 0^32";

/// Reader of Open Enclave attested certificates.
pub struct OpenEnclave;

fn bad(what: &'static str, reason: impl std::fmt::Display) -> PeerError {
    PeerError::malformed(PeerFormat::OpenEnclave, what, reason)
}

/// The quote inside the extension value, and which encoding carried it.
pub fn quote_of(value: &[u8]) -> Result<(&[u8], &'static str), PeerError> {
    if value.first() == Some(&0x04) {
        let tlv = crate::der::read_tlv(value, "OE extension OCTET STRING").map_err(|e| bad("extension value", e))?;
        if !tlv.rest.is_empty() {
            return Err(bad("extension value", "trailing bytes after the OCTET STRING"));
        }
        return Ok((tlv.content, "OCTET STRING around the quote"));
    }
    let hdr = value.get(..HEADER_LEN).ok_or_else(|| {
        bad(
            "oe_report_header_t",
            format!("{} bytes, need {HEADER_LEN}", value.len()),
        )
    })?;
    let u32_at = |i: usize| u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
    let (version, report_type) = (u32_at(0), u32_at(4));
    let mut size = [0u8; 8];
    size.copy_from_slice(&hdr[8..16]);
    let size = u64::from_le_bytes(size);
    if version != 1 || report_type != 2 {
        return Err(bad(
            "oe_report_header_t",
            format!("version {version}, report_type {report_type} (expected 1 and 2, SGX remote)"),
        ));
    }
    let body = &value[HEADER_LEN..];
    if size != body.len() as u64 {
        return Err(bad(
            "oe_report_header_t",
            format!("report_size {size} but {} bytes follow", body.len()),
        ));
    }
    Ok((body, "oe_report_header_t + quote"))
}

impl CertFormat for OpenEnclave {
    const FORMAT: PeerFormat = PeerFormat::OpenEnclave;

    fn matches(oid: &[u8]) -> bool {
        oid == OID_CONTENT
    }

    fn read(c: &Container, _oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
        let (raw, encoding) = quote_of(value)?;
        let q = quote::check(Self::FORMAT, raw, opts)?;
        let mut pem = spki_pem(&c.spki).into_bytes();
        pem.push(0);
        let outcome = report_data_is(q.report_data(), &sha256(&pem), "SHA-256(PEM(SPKI) || NUL)");
        Ok(super::cert_report(
            Self::FORMAT,
            c,
            &format!("certificate extension 1.2.840.113556.10.1.1 ({encoding})"),
            Binding {
                formula: FORMULA.into(),
                outcome,
            },
            q.check,
            q.claims,
            opts,
        ))
    }
}
