//! `atls policy init --from-evidence`: a policy pinning what a piece of
//! Evidence shows, for the user to review; and `atls verify` without a
//! policy, which shows the same claims but never affirms.
//!
//! Both run in two passes:
//!
//! 1. the Evidence is appraised under a *discovery* policy that has a
//!    section for every platform but no reference values, only to read its
//!    claims (that appraisal's findings are discarded);
//! 2. a policy is written from those claims (measurements, platform
//!    identity, the observed versions as floors, strict defaults) and the
//!    Evidence is appraised again under it. Every check of the verifiers runs
//!    in this pass: signatures, certificate chains, collateral, binding.
//!
//! `policy init` writes the policy only if the second pass accepts the
//! Evidence, so a written policy always loads and accepts the Evidence it
//! was made from. `verify` without a policy prints the second pass with a
//! refusal added: nothing is affirming without a policy of the user's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use attested_tls::binder::{BindingClaims, ExpectedBinding};
use attested_tls::crypto::HashAlgorithm;
use attested_tls::ear::{claim_value, Appraisal, Ear, TrustClaim};
use attested_tls::policy::Policy;
use serde_json::Value;

use crate::verify::{absolute, appraise_evidence, parse_at, read_evidence, EvidenceInputArgs, EvidenceInputs};
use crate::Failure;

/// Arguments of `atls policy init`.
#[derive(clap::Args)]
pub struct PolicyInitArgs {
    /// Evidence file, as `atls verify --evidence`: a CMW, or raw platform
    /// Evidence (binary or hex).
    #[arg(long)]
    from_evidence: PathBuf,
    #[command(flatten)]
    inputs: EvidenceInputArgs,
    /// Verification time (RFC 3339, e.g. 2025-07-01T00:00:00Z); default now.
    #[arg(long)]
    at: Option<String>,
    /// Where to write the policy (TOML).
    #[arg(long)]
    out: PathBuf,
    /// Replace an existing file at `--out`.
    #[arg(long)]
    force: bool,
    /// Write an observed Intel TCB status other than UpToDate into
    /// `allowed_tcb_statuses` (accepted with a warning naming it). Without
    /// it, such Evidence is refused and no policy is written.
    #[arg(long)]
    accept_observed_tcb_status: bool,
    /// Write an observed SEV-SNP VMPL other than 0 into `vmpls`. Without it,
    /// such Evidence is refused and no policy is written (the strict default
    /// is `vmpls = [0]`).
    #[arg(long)]
    accept_observed_vmpl: bool,
    /// Machine-readable output: one JSON object `{"out", "policy_id",
    /// "from_evidence", "ear"}` (the EAR of the Evidence under the written
    /// policy) instead of the summary.
    #[arg(long)]
    json: bool,
}

/// Which observed values `policy init` may write although the strict
/// default would refuse them (each needs its own flag).
#[derive(Clone, Copy, Default)]
struct AcceptObserved {
    /// An Intel TCB status other than UpToDate.
    tcb_status: bool,
    /// An SEV-SNP VMPL other than 0.
    vmpl: bool,
}

/// Policy id of `atls verify` without `--policy` (both passes).
pub const NO_POLICY_ID: &str = "atls-verify-no-policy";

/// What `atls verify` prints after the result when no policy was given.
pub const NO_POLICY_HINT: &str = "no --policy given: the claims above went through every check that needs no \
     reference values (signatures, chains, collateral, binding) but were compared with none, and nothing is \
     affirming without a policy. `atls policy init --from-evidence FILE --out policy.toml` writes one pinning \
     them (review it).";

/// A 48-byte launch measurement for the discovery pass: `[snp]` refuses to
/// load without one, and this pass only reads claims (its findings,
/// including the certain measurement mismatch, are discarded).
const DISCOVERY_SNP_MEASUREMENT: [u8; 48] = [0; 48];

/// Pass 1: the Evidence's claims, under a policy with a section for every
/// platform and no reference values.
fn discover(
    inputs: &EvidenceInputs<'_>,
    bytes: &[u8],
    path: &Path,
    expected: &ExpectedBinding,
    now: time::OffsetDateTime,
) -> Result<Ear, Failure> {
    let mut policy = Policy {
        id: NO_POLICY_ID.into(),
        sim: Some(Default::default()),
        snp: Some(attested_tls::platform::snp::SnpPolicy {
            measurements: vec![hex::encode(DISCOVERY_SNP_MEASUREMENT)],
            ..Default::default()
        }),
        tdx: Some(Default::default()),
        sgx: Some(Default::default()),
        cca: Some(Default::default()),
        ..Default::default()
    };
    // Every section is present: no flag goes unused here.
    inputs.add_to(&mut policy)?;
    appraise_evidence(&policy, bytes, path, expected, now)
}

/// `atls verify` without `--policy`: the Evidence verified under a policy
/// pinning its own claims (so that only real problems are listed, not
/// reference values nobody gave), with a refusal added to every submodule.
/// Also returns what to print after the result: [`NO_POLICY_HINT`], and
/// which input would let more be checked.
pub fn appraise_without_policy(
    inputs: &EvidenceInputs<'_>,
    bytes: &[u8],
    path: &Path,
    expected: &ExpectedBinding,
    now: time::OffsetDateTime,
) -> Result<(Ear, String), Failure> {
    let observed = discover(inputs, bytes, path, expected, now)?;
    // Claims too incomplete to write a policy from (malformed Evidence):
    // the discovery result says why.
    // The strict defaults (vmpls = [0], only UpToDate): a guest at another
    // VMPL or a platform out of date is shown refused, not pinned as normal.
    let ear = match render_policy(NO_POLICY_ID, &observed, inputs, AcceptObserved::default(), None) {
        Ok(text) => {
            let policy = Policy::from_toml(&text, Path::new(".")).map_err(Failure::input)?;
            appraise_evidence(&policy, bytes, path, expected, now)?
        }
        Err(_) => without_discovery_findings(observed.clone()),
    };
    let more = hint(&observed, inputs).trim_start();
    let shown = if more.is_empty() {
        NO_POLICY_HINT.to_string()
    } else {
        format!("{NO_POLICY_HINT}\n{more}")
    };
    Ok((refused_for_lack_of_policy(ear), shown))
}

/// Claims compared with reference values: with none in the discovery
/// policy, their refusals say nothing about the Evidence.
const REFERENCE_VALUE_CLAIMS: &[&str] = &["measurement", "mrtd", "mrenclave", "realm.initial_measurement"];

/// Claims whose floor the discovery policy leaves unset (a warning that
/// says nothing about the Evidence).
const FLOOR_CLAIMS: &[&str] = &[
    "min_tcb",
    "guest_svn",
    "isv_svn",
    "security_version",
    "platform.sw_components",
];

/// The discovery appraisal without the findings that only its policy
/// causes: a reference value it lacks (or the placeholder SNP measurement,
/// "expected 000..."), a floor it leaves unset. What is left are the
/// Evidence's own problems (malformed, signature, chain, ...).
fn without_discovery_findings(mut ear: Ear) -> Ear {
    let placeholder = hex::encode(DISCOVERY_SNP_MEASUREMENT);
    for a in ear.submods.values_mut() {
        a.findings.retain(|f| {
            let claim = f.claim.as_str();
            let discovery_only = match f.tier {
                attested_tls::ear::Tier::Contraindicated => {
                    f.expected.as_deref().is_some_and(|e| e.contains(&placeholder))
                        || (f.expected.is_none() && REFERENCE_VALUE_CLAIMS.contains(&claim))
                }
                attested_tls::ear::Tier::Warning => FLOOR_CLAIMS.contains(&claim),
                _ => false,
            };
            !discovery_only
        });
    }
    ear
}

/// Adds to every submodule the refusal "no policy given".
fn refused_for_lack_of_policy(ear: Ear) -> Ear {
    let submods = ear
        .submods
        .into_iter()
        .map(|(name, mut a)| {
            a.fail(
                TrustClaim::Executables,
                claim_value::UNRECOGNIZED_RUNTIME,
                "policy",
                None,
                Some("an appraisal policy (--policy)".into()),
                "no policy given: the claims are shown but compared with no reference values; \
                 nothing is affirming without a policy",
            );
            (name, a.finish())
        })
        .collect();
    Ear::new(ear.iat, submods, ear.eat_nonce)
}

/// `atls policy init`.
pub fn run(args: PolicyInitArgs) -> Result<u8, Failure> {
    // Refused before any work, so that nothing is half done.
    if !args.force && std::fs::symlink_metadata(&args.out).is_ok() {
        return Err(Failure::input(format!(
            "{} already exists: refusing to overwrite it; pass --force to replace it",
            args.out.display()
        )));
    }
    let now = parse_at(args.at.as_deref())?;
    let inputs = args.inputs.inputs();
    inputs.check_paths()?;
    let bytes = read_evidence(&args.from_evidence)?;
    // No connection: the binding is not what is checked here, so the
    // discovery pass takes any value and the second the Evidence's own.
    let observed = discover(
        &inputs,
        &bytes,
        &args.from_evidence,
        &ExpectedBinding::ReportData([0; 64]),
        now,
    )?;
    let no_policy = |why: String| {
        Failure::refused(format!(
            "{}: {why}; no policy written{}",
            args.from_evidence.display(),
            hint(&observed, &inputs)
        ))
    };
    let binding = observed_binding(&observed).map_err(&no_policy)?;
    let accept = AcceptObserved {
        tcb_status: args.accept_observed_tcb_status,
        vmpl: args.accept_observed_vmpl,
    };
    let digest = hex::encode(HashAlgorithm::Sha256.digest(&bytes));
    let id = format!("from-evidence-{}", &digest[..16]);
    // A value only a flag may write (VMPL, TCB status) is named only when it
    // is the one problem: Evidence that fails anyway is refused for that.
    let needs_flag = needs_acceptance(&observed, accept);
    let written = if needs_flag.is_some() {
        AcceptObserved {
            tcb_status: true,
            vmpl: true,
        }
    } else {
        accept
    };
    let text = render_policy(&id, &observed, &inputs, written, Some((&digest, now))).map_err(&no_policy)?;
    let policy = Policy::from_toml(&text, Path::new(".")).map_err(|e| Failure::input(format!("BUG: {e}")))?;
    let ear = appraise_evidence(&policy, &bytes, &args.from_evidence, &binding, now)?;
    if !ear.is_acceptable() {
        return Err(no_policy(format!(
            "the Evidence does not verify under the policy written from it: {}",
            ear.refusal_summary()
        )));
    }
    if let Some(why) = needs_flag {
        return Err(no_policy(why));
    }
    write_policy(&args.out, &text, args.force)?;
    if args.json {
        let out = serde_json::json!({
            "out": args.out.display().to_string(),
            "policy_id": id,
            "from_evidence": args.from_evidence.display().to_string(),
            "ear": ear,
        });
        outln!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
        return Ok(0);
    }
    outln!(
        "wrote {} (policy {id}): it pins the measurements, platform identity and versions observed in {}; \
         review every value before relying on it",
        args.out.display(),
        args.from_evidence.display()
    );
    outln!("the Evidence under this policy: {}", ear.status);
    for (name, a) in &ear.submods {
        for f in a.findings.iter() {
            outln!("  [{}] {:<8} {f}", attested_tls::ear::escape_control(name), f.tier);
        }
    }
    Ok(0)
}

/// Why the observed claims may not be written without a flag: a VMPL other
/// than 0 (without `--accept-observed-vmpl`) or a TCB status other than
/// UpToDate (without `--accept-observed-tcb-status`). None: nothing needs one.
fn needs_acceptance(observed: &Ear, accept: AcceptObserved) -> Option<String> {
    let mut why = Vec::new();
    for (name, a) in &observed.submods {
        let c = Claims(&a.claims);
        let name = attested_tls::ear::escape_control(name);
        match platform_of(name.as_ref()) {
            "snp" if !accept.vmpl => {
                if let Some(v) = c.u64("vmpl").filter(|v| *v != 0) {
                    why.push(format!(
                        "[{name}] the guest runs at VMPL {v}, not 0 (the strict default vmpls = [0]);                          pass --accept-observed-vmpl to pin VMPL {v}"
                    ));
                }
            }
            "tdx" | "sgx" if !accept.tcb_status => {
                if let Some(st) = c.str("tcb_status").filter(|s| *s != "UpToDate") {
                    why.push(format!(
                        "[{name}] the platform's TCB status is {}, not UpToDate; pass                          --accept-observed-tcb-status to accept it (with a warning)",
                        attested_tls::ear::escape_control(st)
                    ));
                }
            }
            _ => {}
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// What the user can add when the Evidence could not be verified (empty
/// when nothing is missing), starting with a space.
fn hint(observed: &Ear, inputs: &EvidenceInputs<'_>) -> &'static str {
    let has = |p: &str| observed.submods.keys().any(|k| platform_of(k) == p);
    if has("sim") && inputs.sim_roots.is_empty() {
        " (simulated Evidence: give the simulation root that issued the instance with --sim-root)"
    } else if has("cca") && inputs.cca_trust_anchors.is_empty() {
        " (CCA Evidence: give the platform's trust anchor with --cca-trust-anchors)"
    } else if (has("tdx") || has("sgx")) && inputs.collateral.is_empty() {
        " (Intel Evidence: give its collateral with --collateral)"
    } else {
        ""
    }
}

/// Writes `text` to `out`: a new file, or with `force` a fresh temporary
/// file renamed over the old one (a symlink there is replaced, not followed).
fn write_policy(out: &Path, text: &str, force: bool) -> Result<(), Failure> {
    use std::io::Write;
    let failed = |p: &Path, e: std::io::Error| Failure::input(format!("cannot write {}: {e}", p.display()));
    let create = |p: &Path| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(p)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    };
    if !force {
        return create(out).map_err(|e| failed(out, e));
    }
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = out.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}",
        hex::encode(attested_tls::crypto::random_bytes(8))
    ));
    let result = create(&tmp)
        .map_err(|e| failed(&tmp, e))
        .and_then(|()| std::fs::rename(&tmp, out).map_err(|e| failed(out, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The EAR submodule name's platform (`sim`, or `sim` of `sim:#0`).
fn platform_of(submodule: &str) -> &str {
    submodule.split(':').next().unwrap_or(submodule)
}

/// The binding the Evidence carries (its first submodule's), as the
/// expected value of the second pass of `policy init`.
fn observed_binding(ear: &Ear) -> Result<ExpectedBinding, String> {
    let (name, a) = ear.submods.iter().next().ok_or("no Evidence was appraised")?;
    let c = Claims(&a.claims);
    let hex64 = |key: &str| -> Result<ExpectedBinding, String> {
        let v = c.hex(key).ok_or_else(|| format!("the Evidence shows no {key}"))?;
        ExpectedBinding::report_data_from_hex(v)
    };
    match platform_of(name) {
        "sim" => {
            let (Some(nonce), Some(aik), Some(alg)) = (c.hex("eat_nonce"), c.hex("aik_pub_hash"), c.str("hash_alg"))
            else {
                return Err(refusal_of(a, "the simulated Evidence's claims could not be read"));
            };
            let hash = HashAlgorithm::from_name(alg).ok_or_else(|| format!("unknown hash_alg {alg:?}"))?;
            let decode = |h: &str| hex::decode(h).map_err(|e| e.to_string());
            Ok(ExpectedBinding::ReportData(
                BindingClaims {
                    hash,
                    binder: decode(nonce)?,
                    aik_pub_hash: decode(aik)?,
                }
                .report_data(),
            ))
        }
        "cca" => hex64("realm.challenge"),
        "snp" | "tdx" | "sgx" => hex64("report_data"),
        other => Err(refusal_of(
            a,
            &format!("no policy can be written for Evidence appraised as {other:?}"),
        )),
    }
}

/// `fallback`, or the appraisal's first refusal when it has one (it says
/// why the claims are missing).
fn refusal_of(a: &Appraisal, fallback: &str) -> String {
    a.findings
        .iter()
        .find(|f| f.tier == attested_tls::ear::Tier::Contraindicated)
        .map(|f| f.to_string())
        .unwrap_or_else(|| fallback.to_string())
}

/// Read access to one submodule's claims.
#[derive(Clone, Copy)]
struct Claims<'a>(&'a BTreeMap<String, Value>);

impl<'a> Claims<'a> {
    fn str(self, key: &str) -> Option<&'a str> {
        self.0.get(key).and_then(Value::as_str)
    }
    /// A claim that is lower-case hex (every binary claim is): safe to
    /// write into the policy as is.
    fn hex(self, key: &str) -> Option<&'a str> {
        self.str(key).filter(|s| Self::is_hex(s))
    }
    fn is_hex(s: &str) -> bool {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
    fn u64(self, key: &str) -> Option<u64> {
        self.0.get(key).and_then(Value::as_u64)
    }
}

/// A TOML basic string, escaped.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "))
}

fn path_list(paths: &[PathBuf]) -> Result<String, String> {
    let abs = paths
        .iter()
        .map(|p| {
            let a = absolute(p).map_err(|f| f.message)?;
            a.to_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{} is not a UTF-8 path", a.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(list(&abs))
}

/// Values of `key` over several submodules, without repeats, in order.
fn union(claims: &[Claims<'_>], key: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in claims {
        if let Some(v) = c.hex(key) {
            if !out.iter().any(|o| o == v) {
                out.push(v.to_string());
            }
        }
    }
    out
}

/// The lowest value of `key` over several submodules (a floor every one
/// of them meets).
fn floor(claims: &[Claims<'_>], key: &str) -> Option<u64> {
    claims.iter().filter_map(|c| c.u64(key)).min()
}

/// The policy text pinning the claims of `ear`: one section per platform
/// found, with every key commented. `accept`: which observed values other
/// than the strict defaults are written (an Intel TCB status other than
/// UpToDate, a VMPL other than 0); otherwise only the default is, with the
/// observed value in a comment. `provenance`: the
/// Evidence's SHA-256 and the verification time, for the header.
fn render_policy(
    id: &str,
    ear: &Ear,
    inputs: &EvidenceInputs<'_>,
    accept: AcceptObserved,
    provenance: Option<(&str, time::OffsetDateTime)>,
) -> Result<String, String> {
    let mut by_platform: BTreeMap<&str, Vec<(&str, Claims<'_>)>> = BTreeMap::new();
    for (name, a) in &ear.submods {
        by_platform
            .entry(platform_of(name))
            .or_default()
            .push((name.as_str(), Claims(&a.claims)));
    }
    let mut out = String::from(
        "# Written by `atls policy init --from-evidence`. REVIEW IT: every value below was\n\
         # observed in one piece of Evidence. Keep only what your deployment must have, and\n\
         # check the measurements against what you built (or a CoRIM from its vendor).\n",
    );
    if let Some((digest, at)) = provenance {
        let at = at
            .replace_nanosecond(0)
            .unwrap_or(at)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        out.push_str(&format!("# Evidence SHA-256 {digest}, verified at {at}.\n"));
    }
    out.push_str(&format!("id = {}\n", q(id)));
    for (platform, subs) in &by_platform {
        let claims: Vec<Claims<'_>> = subs.iter().map(|(_, c)| *c).collect();
        let section = match *platform {
            "sim" => sim_section(&claims, inputs)?,
            "snp" => snp_section(&claims, inputs, accept.vmpl)?,
            "tdx" => dcap_section("tdx", &claims, inputs, accept.tcb_status)?,
            "sgx" => dcap_section("sgx", &claims, inputs, accept.tcb_status)?,
            "cca" => cca_section(&claims, inputs)?,
            _ => {
                let (name, _) = subs[0];
                let reason = ear.submods.get(name).map(|a| refusal_of(a, "")).unwrap_or_default();
                return Err(format!("the Evidence was not recognized ({reason})"));
            }
        };
        out.push('\n');
        out.push_str(&section);
    }
    Ok(out)
}

/// Fails when a claim every policy of the platform needs is absent (the
/// Evidence could not be decoded that far).
fn required(values: Vec<String>, what: &str) -> Result<Vec<String>, String> {
    if values.is_empty() {
        Err(format!("the Evidence shows no {what}"))
    } else {
        Ok(values)
    }
}

fn sim_section(claims: &[Claims<'_>], inputs: &EvidenceInputs<'_>) -> Result<String, String> {
    let measurements = required(union(claims, "measurement"), "measurement")?;
    let ids = required(union(claims, "instance_id"), "instance_id")?;
    let min = floor(claims, "security_version").ok_or("the Evidence shows no security_version")?;
    Ok(format!(
        "# Simulated TEE (docs/simulated-tee.md).\n\
         [sim]\n\
         trusted_roots = {}   # the simulation root given with --sim-root\n\
         measurements = {}\n\
         instance_ids = {}   # only these instances (anti-diversion)\n\
         allow_debug = false\n\
         min_security_version = {min}   # the observed version: older ones are refused\n\
         # max_evidence_age = 300   # optional: refuse Evidence whose iat is older (seconds)\n",
        path_list(inputs.sim_roots)?,
        list(&measurements),
        list(&ids),
    ))
}

fn snp_section(
    claims: &[Claims<'_>],
    inputs: &EvidenceInputs<'_>,
    accept_observed_vmpl: bool,
) -> Result<String, String> {
    let measurements = required(union(claims, "measurement"), "measurement")?;
    // An all-zero CHIP_ID is the firmware's mask (MASK_CHIP_ID, or a
    // VLEK-signed report): it names no chip, so pinning it would bind
    // nothing and claim anti-diversion falsely.
    let (masked, chips): (Vec<String>, Vec<String>) = union(claims, "chip_id")
        .into_iter()
        .partition(|c| c.bytes().all(|b| b == b'0'));
    let mut s = String::from("# AMD SEV-SNP (docs/platforms/snp.md).\n[snp]\nmeasurements = ");
    s.push_str(&list(&measurements));
    s.push('\n');
    if !masked.is_empty() {
        s.push_str(
            "# chip_ids not pinned: the report's CHIP_ID is all zero (masked by the guest policy,\n\
             # or a VLEK-signed report), which names no chip.\n",
        );
    }
    if !chips.is_empty() {
        s.push_str(&format!(
            "chip_ids = {}   # only this chip (anti-diversion)\n",
            list(&chips)
        ));
    }
    let products: Vec<String> = claims
        .iter()
        .filter_map(|c| c.str("product"))
        .filter_map(attested_tls::platform::snp::Product::from_name)
        .map(|p| p.name().to_ascii_lowercase())
        .collect();
    if let Some(p) = products.first().filter(|p| products.iter().all(|o| o == *p)) {
        s.push_str(&format!("product = {}\n", q(p)));
    }
    let mut vmpls: Vec<u64> = claims.iter().filter_map(|c| c.u64("vmpl")).collect();
    vmpls.sort_unstable();
    vmpls.dedup();
    let shown: Vec<String> = vmpls.iter().map(u64::to_string).collect();
    if accept_observed_vmpl && vmpls.iter().any(|v| *v != 0) {
        s.push_str(&format!(
            "# REVIEW: the guest runs at VMPL {0}, not 0 (written because of --accept-observed-vmpl);\n\
             # the strict default is vmpls = [0].\n\
             vmpls = [{0}]\n",
            shown.join(", ")
        ));
    } else if vmpls.iter().any(|v| *v != 0) {
        s.push_str(&format!(
            "vmpls = [0]   # the strict default; observed VMPL {}\n",
            shown.join(", ")
        ));
    } else {
        s.push_str("vmpls = [0]\n");
    }
    s.push_str("allow_debug = false\nallow_migration_agent = false\n");
    // The floor is the TCB the endorsement key certifies (what min_tcb is
    // compared with), the lowest of each component if several.
    let tcbs: Vec<&serde_json::Map<String, Value>> = claims
        .iter()
        .filter_map(|c| c.0.get("certified_tcb").and_then(Value::as_object))
        .collect();
    if !tcbs.is_empty() {
        let component = |name: &str| tcbs.iter().map(|t| t.get(name).and_then(Value::as_u64)).min().flatten();
        let parts: Vec<String> = ["fmc", "bootloader", "tee", "snp", "microcode"]
            .into_iter()
            .filter_map(|n| component(n).map(|v| format!("{n} = {v}")))
            .collect();
        s.push_str(&format!(
            "min_tcb = {{ {} }}   # the certified TCB observed: older firmware is refused\n",
            parts.join(", ")
        ));
    }
    if let Some(svn) = floor(claims, "guest_svn") {
        s.push_str(&format!("min_guest_svn = {svn}\n"));
    }
    if !inputs.certs.is_empty() {
        s.push_str(&format!(
            "certs = {}   # as given with --certs\n",
            path_list(inputs.certs)?
        ));
    }
    // Only a root the chain actually ended at is written: a --trust-ark
    // that was not needed would widen the policy for nothing.
    let ended_at_trusted_ark = claims.iter().any(|c| {
        c.0.get("endorsement_key")
            .and_then(|k| k.get("root_origin"))
            .and_then(Value::as_str)
            == Some("trusted_arks")
    });
    if !inputs.trust_arks.is_empty() && ended_at_trusted_ark {
        s.push_str(&format!(
            "trusted_arks = {}   # as given with --trust-ark: roots besides AMD's; review\n",
            path_list(inputs.trust_arks)?
        ));
    } else if !inputs.trust_arks.is_empty() {
        s.push_str("# trusted_arks not written: the chain ended at a built-in AMD root, not at a --trust-ark\n");
    }
    for (key, claim) in [
        ("host_data", "host_data"),
        ("id_key_digests", "id_key_digest"),
        ("author_key_digests", "author_key_digest"),
    ] {
        let values = union(claims, claim);
        if !values.is_empty() {
            s.push_str(&format!("# {key} = {}   # observed; uncomment to pin\n", list(&values)));
        }
    }
    Ok(s)
}

fn dcap_section(
    section: &str,
    claims: &[Claims<'_>],
    inputs: &EvidenceInputs<'_>,
    accept_observed_tcb_status: bool,
) -> Result<String, String> {
    let mut s = format!(
        "# Intel {} (docs/platforms/dcap.md).\n[{section}]\n",
        section.to_uppercase()
    );
    if section == "tdx" {
        s.push_str(&format!("mrtd = {}\n", list(&required(union(claims, "mrtd"), "MRTD")?)));
        for key in [
            "rtmr0",
            "rtmr1",
            "rtmr2",
            "rtmr3",
            "mrconfigid",
            "mrowner",
            "mrownerconfig",
        ] {
            let values = union(claims, key);
            if !values.is_empty() {
                let note = if key == "rtmr3" {
                    "   # extended at run time by the workload: remove if it varies"
                } else {
                    ""
                };
                s.push_str(&format!("{key} = {}{note}\n", list(&values)));
            }
        }
    } else {
        s.push_str(&format!(
            "mrenclave = {}\n",
            list(&required(union(claims, "mrenclave"), "MRENCLAVE")?)
        ));
        let signers = union(claims, "mrsigner");
        if !signers.is_empty() {
            s.push_str(&format!("mrsigner = {}\n", list(&signers)));
        }
        let products: Vec<u64> = claims.iter().filter_map(|c| c.u64("isv_prod_id")).collect();
        if let Some(p) = products.first().filter(|p| products.iter().all(|o| o == *p)) {
            s.push_str(&format!("isv_prod_id = {p}\n"));
        }
        if let Some(svn) = floor(claims, "isv_svn") {
            s.push_str(&format!(
                "min_isv_svn = {svn}   # the observed version: older ones are refused\n"
            ));
        }
    }
    s.push_str("allow_debug = false\n");
    let mut statuses = vec!["UpToDate".to_string()];
    let mut non_current = Vec::new();
    for c in claims {
        if let Some(st) = c.str("tcb_status").filter(|s| *s != "UpToDate") {
            if !non_current.iter().any(|o| o == st) {
                non_current.push(st.to_string());
            }
        }
    }
    if accept_observed_tcb_status && !non_current.is_empty() {
        statuses.extend(non_current);
        s.push_str(&format!(
            "# REVIEW: the platform's TCB status is not UpToDate (written because of\n\
             # --accept-observed-tcb-status); listing it accepts it with a warning naming it\n\
             # and its advisories. Remove it once the platform is updated.\n\
             allowed_tcb_statuses = {}\n",
            list(&statuses)
        ));
    } else if !non_current.is_empty() {
        s.push_str(&format!(
            "allowed_tcb_statuses = {}   # the strict default; observed TCB status {}\n",
            list(&statuses),
            attested_tls::ear::escape_control(&non_current.join(", "))
        ));
    } else {
        s.push_str(&format!("allowed_tcb_statuses = {}\n", list(&statuses)));
    }
    let ppids = union(claims, "ppid");
    if !ppids.is_empty() {
        let fmspcs = union(claims, "fmspc");
        s.push_str(&format!(
            "ppids = {}   # only this platform (anti-diversion); FMSPC {}\n",
            list(&ppids),
            fmspcs.join(", ")
        ));
    }
    if !inputs.collateral.is_empty() {
        s.push_str(&format!(
            "collateral = {}   # expires: refresh it, or pass --collateral\n",
            path_list(inputs.collateral)?
        ));
    }
    Ok(s)
}

fn cca_section(claims: &[Claims<'_>], inputs: &EvidenceInputs<'_>) -> Result<String, String> {
    let rims = required(union(claims, "realm.initial_measurement"), "realm initial measurement")?;
    let mut s = format!(
        "# Arm CCA (docs/platforms/cca.md).\n\
         [cca]\n\
         trust_anchors = {}   # as given with --cca-trust-anchors\n\
         realm_initial_measurements = {}\n",
        path_list(inputs.cca_trust_anchors)?,
        list(&rims)
    );
    let rpvs = union(claims, "realm.personalization_value");
    if !rpvs.is_empty() {
        s.push_str(&format!("realm_personalization_values = {}\n", list(&rpvs)));
    }
    let mut rems: Vec<Vec<String>> = Vec::new();
    for c in claims {
        let Some(Value::Array(items)) = c.0.get("realm.extensible_measurements") else {
            continue;
        };
        let quad: Vec<String> = items.iter().filter_map(Value::as_str).map(str::to_string).collect();
        if quad.len() == 4 && quad.iter().all(|h| Claims::is_hex(h)) && !rems.contains(&quad) {
            rems.push(quad);
        }
    }
    if !rems.is_empty() {
        let shown: Vec<String> = rems.iter().map(|q| list(q)).collect();
        s.push_str(&format!(
            "rems = [{}]   # extended at run time: remove if they vary\n",
            shown.join(", ")
        ));
    }
    // The platform's software, as reported: without these the platform
    // firmware is not checked (a warning).
    let mut components: Vec<String> = Vec::new();
    for c in claims {
        let Some(Value::Array(items)) = c.0.get("platform.sw_components") else {
            continue;
        };
        for item in items {
            let Some(m) = item
                .get("measurement_value")
                .and_then(Value::as_str)
                .filter(|h| Claims::is_hex(h))
            else {
                continue;
            };
            let mut fields = Vec::new();
            if let Some(t) = item.get("component_type").and_then(Value::as_str) {
                fields.push(format!("component_type = {}", q(t)));
            }
            fields.push(format!("measurement = {}", q(m)));
            if let Some(sig) = item
                .get("signer_id")
                .and_then(Value::as_str)
                .filter(|h| Claims::is_hex(h))
            {
                fields.push(format!("signer_id = {}", q(sig)));
            }
            let entry = format!("  {{ {} }},", fields.join(", "));
            if !components.contains(&entry) {
                components.push(entry);
            }
        }
    }
    if !components.is_empty() {
        s.push_str(&format!(
            "platform_sw_components = [   # the platform's firmware, as reported\n{}\n]\n",
            components.join("\n")
        ));
    }
    s.push_str("require_all_sw_components = true\nallow_debug = false\n");
    for (key, claim) in [
        ("implementation_ids", "platform.implementation_id"),
        ("instance_ids", "platform.instance_id"),
    ] {
        let values = union(claims, claim);
        if !values.is_empty() {
            s.push_str(&format!("{key} = {}\n", list(&values)));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snp_claims(chip_id: &str, root_origin: &str) -> BTreeMap<String, Value> {
        let mut m = BTreeMap::new();
        m.insert("measurement".into(), Value::from("ab".repeat(48)));
        m.insert("chip_id".into(), Value::from(chip_id));
        m.insert("vmpl".into(), Value::from(0));
        m.insert(
            "endorsement_key".into(),
            serde_json::json!({ "root_origin": root_origin }),
        );
        m
    }

    fn inputs<'a>(trust_arks: &'a [PathBuf]) -> EvidenceInputs<'a> {
        EvidenceInputs {
            certs: &[],
            trust_arks,
            collateral: &[],
            sim_roots: &[],
            cca_trust_anchors: &[],
        }
    }

    /// Guards the review's L7: when no policy could be written from the
    /// claims, `verify` without a policy showed the discovery pass as is,
    /// with a bogus "measurement expected 000..." refusal and the warnings
    /// of floors only the discovery policy leaves unset.
    #[test]
    fn the_fallback_drops_findings_only_the_discovery_policy_causes() {
        use attested_tls::ear::{claim_value as cv, TrustClaim as T};
        let mut a = Appraisal::new(NO_POLICY_ID);
        a.fail(
            T::Executables,
            cv::UNRECOGNIZED_RUNTIME,
            "measurement",
            Some("ab".repeat(48)),
            Some(format!("one of {}", hex::encode(DISCOVERY_SNP_MEASUREMENT))),
            "the measurement is not in the policy",
        );
        a.fail(
            T::Executables,
            cv::UNRECOGNIZED_RUNTIME,
            "mrtd",
            Some("cd".repeat(48)),
            None,
            "policy lists no reference MRTD values",
        );
        a.warn(T::Hardware, cv::VULNERABLE_HARDWARE, "min_tcb", None, "min_tcb not set");
        a.fail(
            T::Hardware,
            cv::UNRECOGNIZED_HARDWARE,
            "endorsement_key",
            None,
            None,
            "signature does not verify",
        );
        let ear = Ear::new(0, [("snp".to_string(), a.finish())].into_iter().collect(), None);
        let ear = without_discovery_findings(ear);
        let left: Vec<&str> = ear.submods["snp"].findings.iter().map(|f| f.claim.as_str()).collect();
        assert_eq!(left, ["endorsement_key"]);
    }

    /// Guards the review's L6: an all-zero CHIP_ID (masked, or a VLEK
    /// report) was pinned as `chip_ids`, labelled anti-diversion, although
    /// it names no chip.
    #[test]
    fn snp_section_does_not_pin_a_masked_chip_id() {
        let claims = snp_claims(&"00".repeat(64), "built-in AMD root");
        let s = snp_section(&[Claims(&claims)], &inputs(&[]), false).unwrap();
        assert!(!s.contains("chip_ids ="), "{s}");
        assert!(s.contains("CHIP_ID is all zero"), "{s}");
        let claims = snp_claims(&"c1".repeat(64), "built-in AMD root");
        let s = snp_section(&[Claims(&claims)], &inputs(&[]), false).unwrap();
        assert!(s.contains(&format!("chip_ids = [\"{}\"]", "c1".repeat(64))), "{s}");
    }

    /// Guards the review's L5: `trusted_arks` was written whenever
    /// --trust-ark was given, even when the chain ended at a built-in AMD
    /// root (widening the policy for nothing).
    #[test]
    fn snp_section_writes_trusted_arks_only_when_the_chain_ended_there() {
        let arks = [PathBuf::from("/tmp/ark.der")];
        let claims = snp_claims(&"c1".repeat(64), "built-in AMD root");
        let s = snp_section(&[Claims(&claims)], &inputs(&arks), false).unwrap();
        assert!(!s.contains("trusted_arks ="), "{s}");
        assert!(s.contains("# trusted_arks not written"), "{s}");
        let claims = snp_claims(&"c1".repeat(64), "trusted_arks");
        let s = snp_section(&[Claims(&claims)], &inputs(&arks), false).unwrap();
        assert!(s.contains("trusted_arks = [\"/tmp/ark.der\"]"), "{s}");
    }

    /// Guards the review's M1: the observed VMPL was pinned; now the strict
    /// `vmpls = [0]` is written (the observed one in a comment) unless
    /// accepted explicitly.
    #[test]
    fn snp_section_writes_vmpl_0_unless_accepted() {
        let mut claims = snp_claims(&"c1".repeat(64), "built-in AMD root");
        claims.insert("vmpl".into(), Value::from(2));
        let s = snp_section(&[Claims(&claims)], &inputs(&[]), false).unwrap();
        assert!(s.contains("vmpls = [0]   # the strict default; observed VMPL 2"), "{s}");
        let s = snp_section(&[Claims(&claims)], &inputs(&[]), true).unwrap();
        assert!(s.contains("\nvmpls = [2]\n"), "{s}");
    }
}
