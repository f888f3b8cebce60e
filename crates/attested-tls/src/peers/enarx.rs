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
//! The TCB info embedded in the SGX extension gives the platform TCB
//! status ([`embedded_tcb_status`]); the CSR has no QE identity and its
//! CRLs are not checked. With a DCAP engine in the options (collateral) the
//! engine's status is used instead.

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

    fn read(c: &Container, _oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
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
            if let Some(ext) = &q.pck {
                q.check.tcb = Some(match embedded_tcb_status(tcb.content, ext, opts) {
                    Ok(s) => s,
                    Err(e) => format!("embedded TCB info not evaluated: {e}"),
                });
            }
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

/// The platform TCB status under the TCB info embedded in a TcbPackage
/// (`SEQUENCE { SEQUENCE OF Certificate, OCTET STRING tcbInfo }`, the
/// first certificate the TCB Signing certificate, the document Intel's PCS
/// JSON `{"tcbInfo":{..},"signature":"<hex>"}`): the signing certificate
/// issued by the Intel root and valid at the verification time, the
/// signature over the `tcbInfo` object's bytes as carried, the TCB info's
/// window, and the level the PCK certificate's TCB meets. The QE identity
/// is not included in the CSR and the CRLs are not checked: the text says so.
pub fn embedded_tcb_status(
    package: &[u8],
    pck: &crate::platform::dcap::pki::SgxExtension,
    opts: &ReadOptions,
) -> Result<String, String> {
    use crate::platform::dcap::collateral::{fmt_time, parse_tcb_info};
    use crate::platform::dcap::pki::Cert;
    let e = |what: &str, d: crate::der::DerError| format!("{what}: {d}");
    let certs = read_tlv(package, "TcbPackage certificates").map_err(|d| e("TcbPackage", d))?;
    let doc = read_tlv(certs.rest, "TcbPackage tcbInfo").map_err(|d| e("TcbPackage", d))?;
    if certs.tag != 0x30 || doc.tag != 0x04 {
        return Err("TcbPackage is not SEQUENCE { SEQUENCE OF Certificate, OCTET STRING }".into());
    }
    let signer_der = read_tlv(certs.content, "TCB Signing certificate").map_err(|d| e("TcbPackage", d))?;
    let signer = Cert::from_der(signer_der.whole, "TCB Signing certificate").map_err(|x| x.to_string())?;
    let root = quote::intel_root(opts)?;
    signer.verify_issued_by(&root).map_err(|x| x.to_string())?;
    if opts.now < signer.not_before || opts.now > signer.not_after {
        return Err(format!(
            "the TCB Signing certificate is not valid at {}",
            fmt_time(opts.now)
        ));
    }
    let text = std::str::from_utf8(doc.content).map_err(|_| "tcbInfo is not UTF-8".to_string())?;
    let (body, sig) = text
        .strip_prefix("{\"tcbInfo\":")
        .and_then(|r| r.rsplit_once(",\"signature\":\""))
        .and_then(|(b, s)| Some((b, s.strip_suffix("\"}")?)))
        .ok_or("tcbInfo is not {\"tcbInfo\":{..},\"signature\":\"..\"}")?;
    let sig = hex::decode(sig).map_err(|x| format!("tcbInfo signature is not hex: {x}"))?;
    signer
        .verify_raw(body.as_bytes(), &sig, "TCB info")
        .map_err(|x| x.to_string())?;
    let info = parse_tcb_info(body)?;
    if info.fmspc != pck.fmspc {
        return Err(format!(
            "the TCB info is for FMSPC {}, the PCK certificate's is {}",
            hex::encode(info.fmspc),
            hex::encode(pck.fmspc)
        ));
    }
    if opts.now < info.issue_date || opts.now > info.next_update {
        return Err(format!(
            "the TCB info is valid {}..{}, not at {}",
            fmt_time(info.issue_date),
            fmt_time(info.next_update),
            fmt_time(opts.now)
        ));
    }
    let level = crate::platform::dcap::engine::find_level(&info, pck, None).map_err(|f| f.reason)?;
    let adv = if level.advisories.is_empty() {
        String::new()
    } else {
        format!(", advisories {}", level.advisories.join(", "))
    };
    Ok(format!(
        "{} (platform level of the CSR's embedded TCB info, tcbDate {}{adv}; QE identity not included, CRLs not checked)",
        level.status, level.tcb_date
    ))
}

/// Reader of Steward's SEV-SNP extension.
pub struct EnarxSnp;

impl CertFormat for EnarxSnp {
    const FORMAT: PeerFormat = PeerFormat::EnarxSnp;

    fn matches(oid: &[u8]) -> bool {
        oid == OID_SNP
    }

    fn read(c: &Container, _oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
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
