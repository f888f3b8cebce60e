//! `atls inspect`: what an attested certificate, CSR, token, Exported
//! Authenticator, CMW or raw Evidence made by another system shows, and
//! whether its binding and signatures hold (`attested_tls::peers`).
//!
//! Exit codes: 0 every piece of Evidence found has a binding that holds for
//! the key of its carrier and signatures that verify up to a vendor root; 1
//! a binding fails or cannot be checked offline, a signature or chain is
//! invalid or unverifiable, or the input carries no Evidence; 2 the input
//! (or a `--certs` / `--collateral` file, or a flag) cannot be read.
//! Inspection compares nothing with reference values: that is `atls verify`.

use std::path::PathBuf;
use std::sync::Arc;

use attested_tls::cmw::Cmw;
use attested_tls::ear::escape_control;
use attested_tls::peers::{
    self, BindingOutcome, EvidenceOutcome, Found, PeerError, PeerFormat, PeerReport, ReadOptions,
};
use attested_tls::platform::dcap::{collateral::CollateralCache, engine::Engine, pki, quote};

use crate::verify::{parse_at, read_input};
use crate::Failure;

/// Arguments of `atls inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The input: a certificate or CSR (PEM or DER), a compact JWT, an
    /// Exported Authenticator, a CMW or raw Evidence (binary or hex).
    file: PathBuf,
    /// Verification time (RFC 3339); default now. Samples that are expired
    /// today are inspected at a time inside their validity.
    #[arg(long)]
    at: Option<String>,
    #[command(flatten)]
    inputs: crate::verify::CertInputArgs,
    /// The connection's nonce (hex), for formats whose binding includes it
    /// (Contrast, Cocos v3).
    #[arg(long)]
    nonce: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Largest input file.
const MAX_FILE_LEN: u64 = 2 * peers::MAX_INPUT_LEN as u64 + 64 * 1024;

/// `atls inspect`.
pub fn run(args: InspectArgs) -> Result<u8, Failure> {
    let now = parse_at(args.at.as_deref())?.unix_timestamp();
    let mut opts = ReadOptions::at(now);
    if let Some(n) = &args.nonce {
        opts.nonce = Some(hex::decode(n.trim()).map_err(|e| Failure::input(format!("--nonce is not hex: {e}")))?);
    }
    if !args.inputs.certs.is_empty() {
        let loaded = attested_tls::platform::snp::load_cert_paths(&args.inputs.certs)
            .map_err(|(p, e)| Failure::input(format!("--certs {}: {e}", p.display())))?;
        opts.certs = loaded.into_iter().map(|(_, der)| der).collect();
    }
    if !args.inputs.trust_ark.is_empty() {
        let loaded = attested_tls::platform::snp::load_cert_paths(&args.inputs.trust_ark)
            .map_err(|(p, e)| Failure::input(format!("--trust-ark {}: {e}", p.display())))?;
        opts.trusted_arks = loaded.into_iter().map(|(_, der)| der).collect();
    }
    if !args.inputs.collateral.is_empty() {
        let root = pki::intel_root().map_err(Failure::input)?;
        let mut cache = CollateralCache::new();
        for p in &args.inputs.collateral {
            cache
                .load_path(p, &root)
                .map_err(|e| Failure::input(format!("--collateral {}: {e}", p.display())))?;
        }
        opts.dcap = Some(Arc::new(Engine::new(root, cache)));
    }
    let raw = read_input(&args.file, MAX_FILE_LEN)?;
    let bytes = unhex(&raw).unwrap_or(raw);
    let found = match peers::read(&bytes, &opts) {
        Ok(f) => f,
        Err(PeerError::Unreadable(why)) => return own_format(&bytes, &opts, &args, &why),
        Err(e @ PeerError::TooLarge(_)) => return Err(Failure::input(e)),
        Err(e @ PeerError::NoEvidence(_)) => {
            if args.json {
                outln!(
                    "{}",
                    serde_json::json!({"file": args.file.display().to_string(), "error": e.to_string(), "pass": false})
                );
            } else {
                outln!("{}: {}", args.file.display(), escape_control(&e.to_string()));
            }
            return Ok(1);
        }
        Err(e) => return Err(Failure::refused(e)),
    };
    let pass = found.iter().all(|f| f.result.as_ref().is_ok_and(PeerReport::passes));
    if args.json {
        let items: Vec<_> = found.iter().map(found_json).collect();
        let out = serde_json::json!({"file": args.file.display().to_string(), "pass": pass, "evidence": items});
        outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        outln!("{}", args.file.display());
        for (i, f) in found.iter().enumerate() {
            print_found(i + 1, f);
        }
        outln!(
            "result: {}",
            if pass {
                "PASS (every binding holds and every signature verifies up to a vendor root; no policy was applied)"
            } else {
                "FAIL (see above)"
            }
        );
    }
    Ok(if pass { 0 } else { 1 })
}

/// ASCII hex (whitespace and a `0x` prefix allowed) decoded, if that is
/// what `raw` is.
fn unhex(raw: &[u8]) -> Option<Vec<u8>> {
    let t = std::str::from_utf8(raw).ok()?.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let compact: String = t.split_whitespace().collect();
    if compact.is_empty() || compact.len() % 2 != 0 || !compact.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    hex::decode(compact).ok()
}

fn outcome_text(format: PeerFormat, b: &BindingOutcome) -> String {
    match b {
        // A TNG/Trustee token binds its runtime data (the HPKE key
        // configuration and challenge), not the key of a TLS carrier.
        BindingOutcome::Holds if format == PeerFormat::TngEar => {
            "HOLDS for the token's runtime_data_claims (its HPKE key configuration and challenge; no TLS key is bound)"
                .into()
        }
        BindingOutcome::Holds => "HOLDS for the key of the carrier".into(),
        BindingOutcome::Fails(e) => format!("FAILS: {e}"),
        BindingOutcome::NeedsConnection(e) => format!("NOT CHECKED: {e}"),
        BindingOutcome::NotChecked(e) => format!("NOT CHECKED: {e}"),
    }
}

fn evidence_text(e: &EvidenceOutcome) -> String {
    match e {
        EvidenceOutcome::Verified { anchor } => format!("signatures VERIFY up to {anchor}"),
        EvidenceOutcome::Invalid(e) => format!("INVALID: {e}"),
        EvidenceOutcome::Unverifiable(e) => format!("UNVERIFIED: {e}"),
    }
}

fn print_found(i: usize, f: &Found) {
    let p = |s: String| outln!("{}", escape_control(&s));
    let r = match &f.result {
        Ok(r) => r,
        Err(e) => {
            p(format!("[{i}] format: {} ({})", f.format.name(), f.format.id()));
            p(format!("    MALFORMED: {e}"));
            return;
        }
    };
    p(format!("[{i}] format: {} ({})", r.format.name(), r.format.id()));
    p(format!("    carrier: {}", r.carrier));
    p(format!("    binding: {}", r.binding.formula));
    p(format!("             {}", outcome_text(r.format, &r.binding.outcome)));
    match &r.carrier_signature {
        Some(Ok(())) => outln!("    carrier signature: valid"),
        Some(Err(e)) => p(format!("    carrier signature: INVALID: {e}")),
        None => {}
    }
    p(format!(
        "    evidence ({}): {}",
        r.evidence.platform,
        evidence_text(&r.evidence.outcome)
    ));
    if let Some(t) = &r.evidence.tcb {
        p(format!("    tcb status: {t}"));
    }
    if !r.claims.is_empty() {
        outln!("    claims:");
        for (k, v) in &r.claims {
            p(format!("      {k:<24} {v}"));
        }
    }
    let m = r.format.mechanism();
    outln!("    mechanism {} (binding-mechanisms.md); open to:", m.id());
    for a in m.open_to() {
        outln!("      - {a}");
    }
    for n in &r.notes {
        p(format!("    note: {n}"));
    }
}

fn found_json(f: &Found) -> serde_json::Value {
    let r = match &f.result {
        Ok(r) => r,
        Err(e) => {
            return serde_json::json!({"format": f.format.id(), "error": e.to_string(), "pass": false});
        }
    };
    let (binding, binding_detail) = match &r.binding.outcome {
        BindingOutcome::Holds => ("holds", None),
        BindingOutcome::Fails(e) => ("fails", Some(e)),
        BindingOutcome::NeedsConnection(e) => ("needs-connection", Some(e)),
        BindingOutcome::NotChecked(e) => ("not-checked", Some(e)),
    };
    let (evidence, evidence_detail) = match &r.evidence.outcome {
        EvidenceOutcome::Verified { anchor } => ("verified", Some(anchor)),
        EvidenceOutcome::Invalid(e) => ("invalid", Some(e)),
        EvidenceOutcome::Unverifiable(e) => ("unverified", Some(e)),
    };
    serde_json::json!({
        "format": r.format.id(),
        "name": r.format.name(),
        "carrier": r.carrier,
        "binding": {"formula": r.binding.formula, "outcome": binding, "detail": binding_detail},
        "carrier_signature": r.carrier_signature.as_ref().map(|s| match s { Ok(()) => "valid".to_string(), Err(e) => e.clone() }),
        "carrier_validity": r.carrier_validity.as_ref().map(|s| match s { Ok(()) => "valid".to_string(), Err(e) => e.clone() }),
        "evidence": {"platform": r.evidence.platform, "outcome": evidence, "detail": evidence_detail, "tcb": r.evidence.tcb},
        "claims": claims_json(&r.claims),
        "mechanism": r.format.mechanism().id(),
        "open_to": r.format.mechanism().open_to(),
        "notes": r.notes,
        "pass": r.passes(),
    })
}

fn claims_json(claims: &[(String, String)]) -> serde_json::Value {
    serde_json::Value::Object(
        claims
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    )
}

/// A malformed raw quote or report, without naming a peer format.
fn malformed(e: PeerError) -> Failure {
    match e {
        PeerError::Malformed { what, reason, .. } => Failure::refused(format!("malformed {what}: {reason}")),
        e => Failure::refused(e),
    }
}

/// This project's own formats (a CMW, raw Evidence): shown, but their
/// binding is the connection's exporter, which a file does not have.
fn own_format(bytes: &[u8], opts: &ReadOptions, args: &InspectArgs, why: &str) -> Result<u8, Failure> {
    let say = |format: &str, evidence: String, claims: Vec<(String, String)>| {
        let binding = "the Evidence carries no key of its own: its binding (report_data = H(SPKI || exporter)) \
                       needs the connection; appraise it with atls verify --report-data";
        if args.json {
            let out = serde_json::json!({
                "file": args.file.display().to_string(), "format": format, "binding": {"outcome": "needs-connection", "detail": binding},
                "evidence": evidence, "claims": claims_json(&claims),
                "pass": false,
            });
            outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        } else {
            outln!("{}", args.file.display());
            outln!("format: {format}");
            outln!("binding: NOT CHECKED: {binding}");
            outln!("evidence: {}", escape_control(&evidence));
            for (k, v) in claims {
                outln!("  {k:<24} {}", escape_control(&v));
            }
            outln!("result: FAIL (no binding to check)");
        }
    };
    if quote::looks_like_sgx(bytes) || quote::looks_like_tdx(bytes) {
        // The format only names the reader in errors, which `malformed` drops.
        let q = peers::quote::check(peers::PeerFormat::GramineLegacy, bytes, opts).map_err(malformed)?;
        let mut text = evidence_text(&q.check.outcome);
        if let Some(t) = &q.check.tcb {
            text.push_str(&format!("; tcb status: {t}"));
        }
        say(
            &format!("raw Intel {} quote", q.check.platform.to_uppercase()),
            text,
            q.claims,
        );
        return Ok(1);
    }
    if attested_tls::platform::snp::report::looks_like_report(bytes) {
        let (_, check, claims) =
            peers::snp::check(peers::PeerFormat::Contrast, bytes, None, opts).map_err(malformed)?;
        say("raw SEV-SNP report", evidence_text(&check.outcome), claims);
        return Ok(1);
    }
    if let Ok(cmw) = Cmw::decode(bytes) {
        let records: Vec<(String, String)> = cmw
            .records()
            .into_iter()
            .map(|(label, r)| (label, r.media_type().unwrap_or("(no media type)").to_string()))
            .collect();
        say(
            "CMW (seat-expat Evidence)",
            "not verified here: appraise it with atls verify (it names the verifier by media type)".into(),
            records,
        );
        return Ok(1);
    }
    Err(Failure::input(format!(
        "{}: {why}; nor a CMW or raw SGX/TDX/SEV-SNP Evidence",
        args.file.display()
    )))
}

#[cfg(test)]
mod outcome_text_tests {
    use super::*;

    /// Guards L7: a TNG token's binding covers its runtime data (an HPKE
    /// key), so its PASS text must not claim the carrier's key is bound.
    #[test]
    fn tng_binding_text_names_what_it_binds() {
        let tng = outcome_text(PeerFormat::TngEar, &BindingOutcome::Holds);
        assert!(!tng.contains("key of the carrier") && tng.contains("HPKE"), "{tng}");
        let cert = outcome_text(PeerFormat::GramineLegacy, &BindingOutcome::Holds);
        assert!(cert.contains("key of the carrier"), "{cert}");
    }
}
