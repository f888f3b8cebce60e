//! Edgeless Constellation attested certificates: a self-signed 2-hour
//! certificate whose extension OID names the attestation variant
//! (1.3.9900.x.y); the value is that variant's attestation document over
//! `SHA-256(SPKI)` and the client's nonce (sent as the SNI).
//!
//! The documents' encodings (per variant: TPM quotes, SNP reports, Nitro
//! documents) are not known here: the reader names the variant and reports
//! the binding and the Evidence as not checked. It never says "verified".

use super::{
    Binding, BindingOutcome, CertFormat, Container, EvidenceCheck, EvidenceOutcome, PeerError, PeerFormat, PeerReport,
    ReadOptions,
};

/// The arc 1.3.9900, content bytes.
pub const OID_ARC: &[u8] = &[0x2B, 0xCD, 0x2C];

/// The known variants: (x, y, name).
pub const VARIANTS: &[(u8, u8, &str)] = &[
    (1, 1, "dummy"),
    (2, 1, "AWS Nitro TPM"),
    (2, 2, "AWS SEV-SNP"),
    (3, 1, "GCP SEV-ES"),
    (3, 2, "GCP SEV-SNP"),
    (4, 1, "Azure SEV-SNP"),
    (4, 2, "Azure Trusted Launch"),
    (4, 3, "Azure TDX"),
    (5, 1, "QEMU vTPM"),
    (5, 99, "QEMU TDX"),
];

/// The binding formula.
pub const FORMULA: &str = "attestation document over SHA-256(SubjectPublicKeyInfo DER) and the client's \
     nonce (sent as SNI); exact bytes per variant not known here";

/// The variant named by extnID content bytes.
pub fn variant(oid: &[u8]) -> Option<&'static str> {
    match oid.strip_prefix(OID_ARC)? {
        [x, y] => VARIANTS.iter().find(|(a, b, _)| a == x && b == y).map(|v| v.2),
        _ => None,
    }
}

/// Reader of Constellation certificates.
pub struct Constellation;

impl CertFormat for Constellation {
    const FORMAT: PeerFormat = PeerFormat::Constellation;

    fn matches(oid: &[u8]) -> bool {
        variant(oid).is_some()
    }

    fn read(c: &Container, oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
        let name = variant(oid).unwrap_or("unknown");
        let why = format!("the {name} attestation document's encoding is not known here");
        Ok(super::cert_report(
            Self::FORMAT,
            c,
            &format!("certificate extension 1.3.9900 variant {name} ({} bytes)", value.len()),
            Binding {
                formula: FORMULA.into(),
                outcome: BindingOutcome::NotChecked(why.clone()),
            },
            EvidenceCheck {
                platform: "constellation",
                outcome: EvidenceOutcome::Unverifiable(why),
                tcb: None,
            },
            vec![("variant".into(), name.into())],
            opts,
        ))
    }
}
