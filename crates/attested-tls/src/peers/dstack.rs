//! dstack (Phala) RA-TLS certificates: a TDX quote in the certificate.
//!
//! OIDs under 1.3.6.1.4.1.62397.1: `.1` TDX quote (raw), `.2` event log,
//! `.3` app id, `.4` certificate usage, `.8` attestation (successor of `.1`),
//! `.9` app info. Binding (from dstack's documentation, no real sample
//! here): `report_data = SHA-512("ratls-cert:" || SPKI DER)`.
//!
//! Only `.1` (a raw quote) is read. The encoding of `.8` is not known here:
//! a certificate with `.8` and no `.1` is "no evidence" (its OID is listed).

use super::{quote, report_data_is, Binding, CertFormat, Container, PeerError, PeerFormat, PeerReport, ReadOptions};

/// The arc 1.3.6.1.4.1.62397.1, content bytes.
pub const OID_ARC: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x83, 0xE7, 0x3D, 0x01];
/// Last arc of the TDX quote extension.
pub const QUOTE: u8 = 1;
/// Last arc of the attestation extension (successor of the quote).
pub const ATTESTATION: u8 = 8;

/// The binding formula.
pub const FORMULA: &str = "report_data = SHA-512(\"ratls-cert:\" || SubjectPublicKeyInfo DER)";

/// Reader of dstack certificates.
pub struct Dstack;

impl CertFormat for Dstack {
    const FORMAT: PeerFormat = PeerFormat::Dstack;

    fn matches(oid: &[u8]) -> bool {
        oid.len() == OID_ARC.len() + 1 && oid.starts_with(OID_ARC) && oid[OID_ARC.len()] == QUOTE
    }

    fn read(c: &Container, _oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
        let q = quote::check(Self::FORMAT, value, opts)?;
        let want = crate::crypto::sha512(&[b"ratls-cert:", &c.spki]);
        let outcome = report_data_is(q.report_data(), &want, "SHA-512(\"ratls-cert:\" || SPKI)");
        Ok(super::cert_report(
            Self::FORMAT,
            c,
            "certificate extension 1.3.6.1.4.1.62397.1.1 (TDX quote)",
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
