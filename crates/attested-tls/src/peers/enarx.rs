//! Enarx Steward certificate signing requests (PKCS#10): the attested
//! workload sends a CSR whose extensionRequest carries its Evidence.
//!
//! - SGX, OID 1.3.6.1.4.1.58270.1.2: `SEQUENCE { OCTET STRING quote,
//!   CrlList, TcbPackage }` (CrlList and TcbPackage are Intel collateral:
//!   CRLs, the TCB Signing chain and the signed TCB info). Binding (computed
//!   on Steward's test CSR): `report_data = SHA-256(CSR SPKI DER) || 0^32`.
//! - SEV-SNP, OID 1.3.6.1.4.1.58270.1.3: `SEQUENCE { SEQUENCE { VCEK
//!   Certificate, CrlList }, OCTET STRING report }`. Binding (from Steward's
//!   source, no real sample): `report_data[0:48] = SHA-384(CSR SPKI DER)`;
//!   the last 16 bytes are not checked (their content is not documented).
//!
//! The embedded collateral is reported, not evaluated: it has no QE
//! identity, and TCB status comes from `--collateral` (dcap-qvl JSON).

use crate::der::{read_tlv, Tlv};

use super::{
    quote, report_data_is, sha256, snp, Binding, BindingOutcome, CertFormat, Container, PeerError, PeerFormat,
    PeerReport, ReadOptions,
};

/// OID 1.3.6.1.4.1.58270.1.2 (SGX), content bytes.
pub const OID_SGX: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x83, 0xC7, 0x1E, 0x01, 0x02];
/// OID 1.3.6.1.4.1.58270.1.3 (SEV-SNP), content bytes.
pub const OID_SNP: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x83, 0xC7, 0x1E, 0x01, 0x03];

/// SGX binding formula.
pub const FORMULA_SGX: &str = "report_data = SHA-256(CSR SubjectPublicKeyInfo DER) || 0^32";
/// SEV-SNP binding formula.
pub const FORMULA_SNP: &str = "report_data[0:48] = SHA-384(CSR SubjectPublicKeyInfo DER)";

fn tagged<'a>(format: PeerFormat, buf: &'a [u8], tag: u8, what: &'static str) -> Result<Tlv<'a>, PeerError> {
    let t = read_tlv(buf, what).map_err(|e| PeerError::malformed(format, what, e))?;
    if t.tag != tag {
        return Err(PeerError::malformed(
            format,
            what,
            format!("tag {:#04x}, expected {tag:#04x}", t.tag),
        ));
    }
    Ok(t)
}

/// Reader of Steward's SGX extension.
pub struct EnarxSgx;

impl CertFormat for EnarxSgx {
    const FORMAT: PeerFormat = PeerFormat::EnarxSgx;

    fn matches(oid: &[u8]) -> bool {
        oid == OID_SGX
    }

    fn read(c: &Container, value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
        let f = Self::FORMAT;
        let seq = tagged(f, value, 0x30, "SGX evidence SEQUENCE")?;
        if !seq.rest.is_empty() {
            return Err(PeerError::malformed(
                f,
                "SGX evidence SEQUENCE",
                "trailing bytes after it",
            ));
        }
        let quote_tlv = tagged(f, seq.content, 0x04, "quote OCTET STRING")?;
        let crls = tagged(f, quote_tlv.rest, 0x30, "CrlList")?;
        let tcb = tagged(f, crls.rest, 0x30, "TcbPackage")?;
        if !tcb.rest.is_empty() {
            return Err(PeerError::malformed(
                f,
                "SGX evidence SEQUENCE",
                "trailing bytes after TcbPackage",
            ));
        }
        let mut q = quote::check(f, quote_tlv.content, opts)?;
        let outcome = report_data_is(q.report_data(), &sha256(&c.spki), "SHA-256(SPKI)");
        if opts.dcap.is_none() {
            q.check.tcb = Some(
                "not evaluated: the CSR embeds Intel CRLs and TCB info but no QE identity; give collateral \
                 with --collateral"
                    .into(),
            );
        }
        Ok(super::cert_report(
            f,
            c,
            "CSR extensionRequest 1.3.6.1.4.1.58270.1.2",
            Binding {
                formula: FORMULA_SGX.into(),
                outcome,
            },
            q.check,
            q.claims,
            opts,
        ))
    }
}

/// Reader of Steward's SEV-SNP extension.
pub struct EnarxSnp;

impl CertFormat for EnarxSnp {
    const FORMAT: PeerFormat = PeerFormat::EnarxSnp;

    fn matches(oid: &[u8]) -> bool {
        oid == OID_SNP
    }

    fn read(c: &Container, value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
        let f = Self::FORMAT;
        let seq = tagged(f, value, 0x30, "SNP evidence SEQUENCE")?;
        if !seq.rest.is_empty() {
            return Err(PeerError::malformed(
                f,
                "SNP evidence SEQUENCE",
                "trailing bytes after it",
            ));
        }
        let certs = tagged(f, seq.content, 0x30, "certificate SEQUENCE")?;
        let vcek = tagged(f, certs.content, 0x30, "VCEK certificate")?;
        let report = tagged(f, certs.rest, 0x04, "report OCTET STRING")?;
        if !report.rest.is_empty() {
            return Err(PeerError::malformed(
                f,
                "SNP evidence SEQUENCE",
                "trailing bytes after the report",
            ));
        }
        let (r, check, claims) = snp::check(f, report.content, Some(vcek.whole), opts)?;
        let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &c.spki);
        let outcome = BindingOutcome::check(
            crate::crypto::constant_time_eq(&r.report_data[..48], want.as_ref()),
            || {
                format!(
                    "report_data[0:48] is {}, SHA-384(SPKI) is {}",
                    hex::encode(&r.report_data[..48]),
                    hex::encode(want.as_ref())
                )
            },
        );
        Ok(super::cert_report(
            f,
            c,
            "CSR extensionRequest 1.3.6.1.4.1.58270.1.3",
            Binding {
                formula: FORMULA_SNP.into(),
                outcome,
            },
            check,
            claims,
            opts,
        ))
    }
}
