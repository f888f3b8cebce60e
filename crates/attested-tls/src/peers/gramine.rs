//! Gramine RA-TLS, the legacy extension ("non-standard SGX quote").
//!
//! Gramine (v1.0 on) writes extnID DER `06 0B 06 09 2A 86 48 86 F8 4D 8A 39 06`:
//! the intended OID 1.2.840.113741.1337.6 *with its own tag and length*
//! inside the OID, kept for compatibility (`tools/sgx/ra-tls/ra_tls.h`).
//! Dotted-string lookups of 1.2.840.113741.1337.6 find nothing; the content
//! bytes are matched here. The value is the raw SGX quote v3.
//!
//! Binding (computed on real certificates): `report_data = SHA-256(SPKI DER) || 0^32`.

use super::quote;
use super::{report_data_is, sha256, Binding, CertFormat, Container, PeerError, PeerFormat, PeerReport, ReadOptions};

/// The extnID content bytes Gramine writes (an OID wrapped in an OID).
pub const OID_CONTENT: &[u8] = &[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x8A, 0x39, 0x06];

/// The binding formula.
pub const FORMULA: &str = "report_data = SHA-256(SubjectPublicKeyInfo DER) || 0^32";

/// Reader of the legacy Gramine extension.
pub struct GramineLegacy;

impl CertFormat for GramineLegacy {
    const FORMAT: PeerFormat = PeerFormat::GramineLegacy;

    fn matches(oid: &[u8]) -> bool {
        oid == OID_CONTENT
    }

    fn read(c: &Container, _oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
        let q = quote::check(Self::FORMAT, value, opts)?;
        let outcome = report_data_is(q.report_data(), &sha256(&c.spki), "SHA-256(SPKI)");
        Ok(super::cert_report(
            Self::FORMAT,
            c,
            "certificate extension 1.2.840.113741.1337.6 (mis-encoded as 0.6.9.42.840.113741.1337.6)",
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
