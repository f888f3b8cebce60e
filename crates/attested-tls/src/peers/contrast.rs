//! Edgeless Contrast attested certificates: a self-signed 2-hour
//! certificate (CN "Contrast") per handshake, with the raw SEV-SNP report
//! in extension OID 1.3.9901.2.1.
//!
//! Binding: `report_data = SHA-512(SPKI DER || nonce)`, the nonce coming
//! from the client in ALPN (`"atls:v1:nonce:" + hex(nonce)`) or, as a
//! fallback, base64 in SNI. The nonce is not in the certificate: offline,
//! the binding is checked only when the connection's nonce is given.
//! The report is verified with a VCEK supplied out of band (`--certs`).

use super::{
    report_data_is, snp, Binding, BindingOutcome, CertFormat, Container, PeerError, PeerFormat, PeerReport, ReadOptions,
};

/// OID 1.3.9901.2.1, content bytes.
pub const OID_CONTENT: &[u8] = &[0x2B, 0xCD, 0x2D, 0x02, 0x01];

/// The binding formula.
pub const FORMULA: &str = "report_data = SHA-512(SubjectPublicKeyInfo DER || nonce), nonce from ALPN \
     \"atls:v1:nonce:<hex>\" (or SNI)";

/// Reader of Contrast certificates.
pub struct Contrast;

impl CertFormat for Contrast {
    const FORMAT: PeerFormat = PeerFormat::Contrast;

    fn matches(oid: &[u8]) -> bool {
        oid == OID_CONTENT
    }

    fn read(c: &Container, _oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
        let (r, check, claims) = snp::check(Self::FORMAT, value, None, opts)?;
        let outcome = match &opts.nonce {
            Some(n) => report_data_is(
                &r.report_data,
                &crate::crypto::sha512(&[&c.spki, n]),
                "SHA-512(SPKI || nonce)",
            ),
            None => BindingOutcome::NeedsConnection(
                "binding needs the connection's nonce (the client's ALPN/SNI value): give --nonce HEX".into(),
            ),
        };
        Ok(super::cert_report(
            Self::FORMAT,
            c,
            "certificate extension 1.3.9901.2.1 (raw SEV-SNP report)",
            Binding {
                formula: FORMULA.into(),
                outcome,
            },
            check,
            claims,
            opts,
        ))
    }
}
