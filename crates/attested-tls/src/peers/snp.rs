//! Offline verification of a raw SEV-SNP report carried by a peer format:
//! the VCEK (from the carrier, or `--certs`) chains to a built-in AMD root
//! (ARK -> ASK -> VCEK, [`crate::platform::snp::TrustStore`]), every
//! certificate is valid at the verification time (an ARK given in
//! [`ReadOptions::trusted_arks`] is trusted too), the VCEK's hwID names the
//! report's CHIP_ID, the VCEK certifies the report's `REPORTED_TCB`, and the
//! report's ECDSA P-384 signature verifies.

use crate::platform::snp::certs::Added;
use crate::platform::snp::report::{AttestationReport, Tcb};
use crate::platform::snp::{builtin_trust_store, ChainCache, LeafKind, ParsedCert};

use super::{EvidenceCheck, EvidenceOutcome, PeerError, PeerFormat, ReadOptions};

/// A parsed report, its verification and its claims.
pub type CheckedReport = (AttestationReport, EvidenceCheck, Vec<(String, String)>);

/// Parses and verifies `raw`; `vcek` is the carrier's own VCEK, if any.
pub fn check(
    format: PeerFormat,
    raw: &[u8],
    vcek: Option<&[u8]>,
    opts: &ReadOptions,
) -> Result<CheckedReport, PeerError> {
    let r = AttestationReport::parse(raw).map_err(|e| PeerError::malformed(format, "SEV-SNP report", e))?;
    let claims = vec![
        ("measurement".to_string(), hex::encode(r.measurement)),
        ("debug".into(), r.policy.debug().to_string()),
        ("chip_id".into(), hex::encode(r.chip_id)),
        ("host_data".into(), hex::encode(r.host_data)),
        ("vmpl".into(), r.vmpl.to_string()),
        ("reported_tcb".into(), hex::encode(r.reported_tcb)),
        ("report_data".into(), hex::encode(r.report_data)),
    ];
    let outcome = verify(&r, vcek, opts);
    Ok((
        r,
        EvidenceCheck {
            platform: "snp",
            outcome,
            tcb: None,
        },
        claims,
    ))
}

fn verify(r: &AttestationReport, vcek: Option<&[u8]>, opts: &ReadOptions) -> EvidenceOutcome {
    let mut trust = builtin_trust_store();
    for der in &opts.trusted_arks {
        match ParsedCert::from_der(der).map(|ark| trust.add_root(ark)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => return EvidenceOutcome::Invalid(format!("a trusted ARK: {e}")),
        }
    }
    // Self-signed --certs are never roots; said, not dropped silently.
    let mut ignored: Vec<String> = Vec::new();
    for der in &opts.certs {
        // Certificates of other kinds (an EAR service CA) are not SNP's.
        if let Ok(Added::SelfSigned(c)) = trust.add_der(der) {
            if !trust.trusts_root(&c.sha256) {
                ignored.push(format!("{:?} sha256:{}", c.subject_cn, hex::encode(c.sha256)));
            }
        }
    }
    let ignored = if ignored.is_empty() {
        String::new()
    } else {
        format!(
            "; ignored (self-signed certificates among --certs are never roots, use --trust-ark): {}",
            ignored.join(", ")
        )
    };
    let outcome = verify_with(r, vcek, opts, &trust);
    match outcome {
        EvidenceOutcome::Verified { anchor } => EvidenceOutcome::Verified {
            anchor: format!("{anchor}{ignored}"),
        },
        EvidenceOutcome::Invalid(why) => EvidenceOutcome::Invalid(format!("{why}{ignored}")),
        EvidenceOutcome::Unverifiable(why) => EvidenceOutcome::Unverifiable(format!("{why}{ignored}")),
    }
}

/// [`verify`] with the trust store made from the options.
fn verify_with(
    r: &AttestationReport,
    vcek: Option<&[u8]>,
    opts: &ReadOptions,
    trust: &crate::platform::snp::TrustStore,
) -> EvidenceOutcome {
    let leaf = match vcek {
        Some(v) => v.to_vec(),
        None => match trust.leaves(LeafKind::Vcek).next() {
            Some((_, der)) => der.to_vec(),
            None => {
                return EvidenceOutcome::Unverifiable(
                    "the carrier holds no VCEK: give the platform's VCEK (and ASK) with --certs".into(),
                )
            }
        },
    };
    let v = match trust.verify_leaf(&leaf, &[], &ChainCache::new(1)) {
        Ok(v) => v,
        Err(e) => return EvidenceOutcome::Invalid(format!("VCEK chain: {e}")),
    };
    if !v.valid_at(opts.now) {
        return EvidenceOutcome::Invalid(format!(
            "the VCEK chain is not valid at {}",
            crate::platform::dcap::collateral::fmt_time(opts.now)
        ));
    }
    if let Some(hw) = &v.hw_id {
        if !crate::platform::snp::hw_id_matches(hw, &r.chip_id) {
            return EvidenceOutcome::Invalid("the VCEK's hwID is not the report's CHIP_ID".into());
        }
    }
    if v.tcb != Tcb::decode(r.reported_tcb, v.product) {
        return EvidenceOutcome::Invalid("the VCEK does not certify the report's REPORTED_TCB".into());
    }
    let sig = match r.signature_fixed() {
        Ok(s) => s,
        Err(e) => return EvidenceOutcome::Invalid(e.to_string()),
    };
    if !v.verify_p384(r.signed_bytes(), &sig) {
        return EvidenceOutcome::Invalid("the report signature does not verify with the VCEK".into());
    }
    let origin = if crate::platform::snp::is_builtin_ark(&v.root_sha256) {
        "built-in AMD root"
    } else {
        "--trust-ark"
    };
    EvidenceOutcome::Verified {
        anchor: format!("{} sha256:{} ({origin})", v.root, hex::encode(v.root_sha256)),
    }
}
