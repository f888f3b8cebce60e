//! Intel DCAP (TDX and SGX) quote verification, offline and fail-closed.
//!
//! Media types: [`TDX_MEDIA_TYPE`] (`application/vnd.intel.tdx.quote`) and
//! [`SGX_MEDIA_TYPE`] (`application/vnd.intel.sgx.quote`); the value is the
//! raw binary quote.
//!
//! Collateral (TCB info, QE identity, CRLs and their issuer chains, in
//! dcap-qvl's `QuoteCollateralV3` JSON) is read from the files the policy
//! names, verified once against the embedded Intel SGX Root CA and cached
//! by (TEE type, FMSPC). Per quote the verifier checks the PCK chain (cached
//! by hash), PCK revocation, the QE report signature and data, the QE
//! identity, the quote signature, the TCB level, every validity window at
//! the appraisal time, the binding (`report_data`) and the policy's
//! reference values. See `docs/platforms/dcap.md`.

pub mod collateral;
pub mod engine;
pub mod pki;
pub mod quote;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use self::collateral::{CollateralCache, TcbStatus};
use self::engine::Engine;
use self::quote::{Body, EnclaveReport, Quote, TdReport};
use crate::ear::{claim_value, hex_join, Appraisal, TrustClaim};
use crate::policy::{parse_hex_list, Policy, PolicyError};
use crate::verifier::{AppraisalContext, Verifier};

/// Media type of a raw Intel TDX quote (v4 or v5).
pub const TDX_MEDIA_TYPE: &str = "application/vnd.intel.tdx.quote";
/// Media type of a raw Intel SGX quote (v3).
pub const SGX_MEDIA_TYPE: &str = "application/vnd.intel.sgx.quote";

fn default_statuses() -> Vec<String> {
    vec!["UpToDate".to_string()]
}

/// Policy section `[tdx]`.
///
/// ```toml
/// [tdx]
/// mrtd = ["91eb2b44..."]                 # required: allowed MRTD values (hex, 48 bytes)
/// rtmr1 = ["0084452c..."]                # optional allow-lists for RTMR0..3
/// allowed_tcb_statuses = ["UpToDate"]    # default
/// collateral = ["collateral/"]           # files or directories of collateral JSON
/// ```
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TdxPolicy {
    /// Allowed MRTD values (hex, 48 bytes each). Required: with an empty
    /// list every TDX quote is refused.
    #[serde(default)]
    pub mrtd: Vec<String>,
    /// Optional allow-list for RTMR0 (hex, 48 bytes); empty = not checked.
    #[serde(default)]
    pub rtmr0: Vec<String>,
    /// Optional allow-list for RTMR1 (hex, 48 bytes); empty = not checked.
    #[serde(default)]
    pub rtmr1: Vec<String>,
    /// Optional allow-list for RTMR2 (hex, 48 bytes); empty = not checked.
    #[serde(default)]
    pub rtmr2: Vec<String>,
    /// Optional allow-list for RTMR3 (hex, 48 bytes); empty = not checked.
    #[serde(default)]
    pub rtmr3: Vec<String>,
    /// Optional allow-list for MRCONFIGID (hex, 48 bytes); empty = not checked.
    #[serde(default)]
    pub mrconfigid: Vec<String>,
    /// Optional allow-list for MROWNER (hex, 48 bytes); empty = not checked.
    #[serde(default)]
    pub mrowner: Vec<String>,
    /// Optional allow-list for MROWNERCONFIG (hex, 48 bytes); empty = not checked.
    #[serde(default)]
    pub mrownerconfig: Vec<String>,
    /// Accept TDs with the DEBUG attribute (TDATTRIBUTES bit 0) or profiling
    /// bits set; the result is then a warning. Default false.
    #[serde(default)]
    pub allow_debug: bool,
    /// TCB statuses accepted (Intel's names). Default `["UpToDate"]`; any
    /// other accepted status makes the result a warning naming the status
    /// and advisories. `Revoked` is never accepted.
    #[serde(default)]
    pub allowed_tcb_statuses: Option<Vec<String>>,
    /// Optional allow-list of platforms by PPID (hex, 16 bytes, from the
    /// PCK certificate); empty = any platform.
    #[serde(default)]
    pub ppids: Vec<String>,
    /// Collateral files or directories (relative to the policy file). The
    /// CLI's `--collateral` adds to this list.
    #[serde(default)]
    pub collateral: Vec<PathBuf>,
    /// Optional maximum age in seconds of the TCB info and QE identity
    /// (time since their issueDate) at the verification time.
    #[serde(default)]
    pub max_collateral_age: Option<u64>,
}

/// Policy section `[sgx]`.
///
/// ```toml
/// [sgx]
/// mrenclave = ["33d8736d..."]   # and/or mrsigner; at least one list is required
/// isv_prod_id = 0
/// min_isv_svn = 0
/// collateral = ["sgx_quote_collateral.json"]
/// ```
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SgxPolicy {
    /// Allowed MRENCLAVE values (hex, 32 bytes). At least one of `mrenclave`
    /// and `mrsigner` must be non-empty; every non-empty list must match.
    #[serde(default)]
    pub mrenclave: Vec<String>,
    /// Allowed MRSIGNER values (hex, 32 bytes).
    #[serde(default)]
    pub mrsigner: Vec<String>,
    /// Required ISVPRODID, if set.
    #[serde(default)]
    pub isv_prod_id: Option<u16>,
    /// Minimum ISVSVN. Unset: any ISVSVN is accepted and every result is
    /// at best a warning naming `sgx.min_isv_svn`; set it (0 included, a
    /// deliberate "any version") to get an affirming result.
    #[serde(default)]
    pub min_isv_svn: Option<u16>,
    /// Accept enclaves with the DEBUG attribute; the result is then a
    /// warning. Default false.
    #[serde(default)]
    pub allow_debug: bool,
    /// TCB statuses accepted (Intel's names). Default `["UpToDate"]`; any
    /// other accepted status makes the result a warning naming the status
    /// and advisories. `Revoked` is never accepted.
    #[serde(default)]
    pub allowed_tcb_statuses: Option<Vec<String>>,
    /// Optional allow-list of platforms by PPID (hex, 16 bytes).
    #[serde(default)]
    pub ppids: Vec<String>,
    /// Collateral files or directories (relative to the policy file).
    #[serde(default)]
    pub collateral: Vec<PathBuf>,
    /// Optional maximum age in seconds of the TCB info and QE identity.
    #[serde(default)]
    pub max_collateral_age: Option<u64>,
}

/// Rules shared by TDX and SGX.
#[derive(Clone, Debug)]
pub struct CommonRules {
    /// Accepted TCB statuses.
    pub statuses: Vec<TcbStatus>,
    /// PPID allow-list (empty = any).
    pub ppids: Vec<Vec<u8>>,
    /// Maximum collateral age in seconds.
    pub max_collateral_age: Option<i64>,
}

impl CommonRules {
    fn compile(
        section: &str,
        statuses: &Option<Vec<String>>,
        ppids: &[String],
        max_age: Option<u64>,
    ) -> Result<Self, PolicyError> {
        let names = statuses.clone().unwrap_or_else(default_statuses);
        let key = format!("{section}.allowed_tcb_statuses");
        let mut out = Vec::new();
        for n in &names {
            let s = TcbStatus::from_name(n)
                .ok_or_else(|| PolicyError::value(&key, format!("{n:?} is not an Intel TCB status")))?;
            if s == TcbStatus::Revoked {
                return Err(PolicyError::value(&key, "Revoked can never be accepted"));
            }
            out.push(s);
        }
        let max_collateral_age = max_age
            .map(|a| {
                i64::try_from(a).map_err(|_| PolicyError::value(format!("{section}.max_collateral_age"), "too large"))
            })
            .transpose()?;
        Ok(Self {
            statuses: out,
            ppids: parse_hex_list(&format!("{section}.ppids"), ppids, Some(16))?,
            max_collateral_age,
        })
    }
}

/// The compiled `[tdx]` rules (hex decoded).
#[derive(Clone, Debug)]
pub struct TdxRules {
    /// Allowed MRTDs.
    pub mrtd: Vec<Vec<u8>>,
    /// Allowed RTMR0..3 (empty = not checked).
    pub rtmr: [Vec<Vec<u8>>; 4],
    /// Allowed MRCONFIGIDs.
    pub mrconfigid: Vec<Vec<u8>>,
    /// Allowed MROWNERs.
    pub mrowner: Vec<Vec<u8>>,
    /// Allowed MROWNERCONFIGs.
    pub mrownerconfig: Vec<Vec<u8>>,
    /// Debug allowed.
    pub allow_debug: bool,
    /// Shared rules.
    pub common: CommonRules,
}

impl TdxPolicy {
    /// Compiles the hex lists and statuses.
    pub fn rules(&self) -> Result<TdxRules, PolicyError> {
        let l = |k: &str, v: &[String]| parse_hex_list(&format!("tdx.{k}"), v, Some(48));
        Ok(TdxRules {
            mrtd: l("mrtd", &self.mrtd)?,
            rtmr: [
                l("rtmr0", &self.rtmr0)?,
                l("rtmr1", &self.rtmr1)?,
                l("rtmr2", &self.rtmr2)?,
                l("rtmr3", &self.rtmr3)?,
            ],
            mrconfigid: l("mrconfigid", &self.mrconfigid)?,
            mrowner: l("mrowner", &self.mrowner)?,
            mrownerconfig: l("mrownerconfig", &self.mrownerconfig)?,
            allow_debug: self.allow_debug,
            common: CommonRules::compile("tdx", &self.allowed_tcb_statuses, &self.ppids, self.max_collateral_age)?,
        })
    }

    /// Builds the verifier for this section (loads and verifies the collateral).
    pub fn verifier(&self, policy: &Policy) -> Result<Arc<dyn Verifier>, PolicyError> {
        let rules = self.rules()?;
        let engine = load_engine(policy, &self.collateral, "tdx.collateral")?;
        Ok(Arc::new(TdxVerifier {
            rules,
            engine: Arc::new(engine),
        }))
    }
}

/// The compiled `[sgx]` rules.
#[derive(Clone, Debug)]
pub struct SgxRules {
    /// Allowed MRENCLAVEs.
    pub mrenclave: Vec<Vec<u8>>,
    /// Allowed MRSIGNERs.
    pub mrsigner: Vec<Vec<u8>>,
    /// Required ISVPRODID.
    pub isv_prod_id: Option<u16>,
    /// Minimum ISVSVN (`None`: not set, a warning).
    pub min_isv_svn: Option<u16>,
    /// Debug allowed.
    pub allow_debug: bool,
    /// Shared rules.
    pub common: CommonRules,
}

impl SgxPolicy {
    /// Compiles the hex lists and statuses.
    pub fn rules(&self) -> Result<SgxRules, PolicyError> {
        Ok(SgxRules {
            mrenclave: parse_hex_list("sgx.mrenclave", &self.mrenclave, Some(32))?,
            mrsigner: parse_hex_list("sgx.mrsigner", &self.mrsigner, Some(32))?,
            isv_prod_id: self.isv_prod_id,
            min_isv_svn: self.min_isv_svn,
            allow_debug: self.allow_debug,
            common: CommonRules::compile("sgx", &self.allowed_tcb_statuses, &self.ppids, self.max_collateral_age)?,
        })
    }

    /// Builds the verifier for this section (loads and verifies the collateral).
    pub fn verifier(&self, policy: &Policy) -> Result<Arc<dyn Verifier>, PolicyError> {
        let rules = self.rules()?;
        let engine = load_engine(policy, &self.collateral, "sgx.collateral")?;
        Ok(Arc::new(SgxVerifier {
            rules,
            engine: Arc::new(engine),
        }))
    }
}

fn load_engine(policy: &Policy, paths: &[PathBuf], key: &str) -> Result<Engine, PolicyError> {
    let root = pki::intel_root().map_err(|e| PolicyError::value(key, format!("embedded Intel root: {e}")))?;
    let mut cache = CollateralCache::new();
    for p in paths {
        cache
            .load_path(&policy.resolve(p), &root)
            .map_err(|e| PolicyError::value(key, e.to_string()))?;
    }
    Ok(Engine::new(root, cache))
}

/// Verifier for [`TDX_MEDIA_TYPE`].
#[derive(Debug)]
pub struct TdxVerifier {
    rules: TdxRules,
    engine: Arc<Engine>,
}

impl TdxVerifier {
    /// A verifier from compiled rules and an engine (shared with others if wanted).
    pub fn new(rules: TdxRules, engine: Arc<Engine>) -> Self {
        Self { rules, engine }
    }
}

/// Verifier for [`SGX_MEDIA_TYPE`].
#[derive(Debug)]
pub struct SgxVerifier {
    rules: SgxRules,
    engine: Arc<Engine>,
}

impl SgxVerifier {
    /// A verifier from compiled rules and an engine.
    pub fn new(rules: SgxRules, engine: Arc<Engine>) -> Self {
        Self { rules, engine }
    }
}

fn media_type_base(m: &str) -> &str {
    m.split(';').next().unwrap_or("").trim()
}

impl Verifier for TdxVerifier {
    fn platform(&self) -> &'static str {
        "tdx"
    }
    fn accepts_media_type(&self, media_type: &str) -> bool {
        media_type_base(media_type).eq_ignore_ascii_case(TDX_MEDIA_TYPE)
    }
    fn detect(&self, raw: &[u8]) -> bool {
        quote::looks_like_tdx(raw)
    }
    fn appraise(&self, _media_type: &str, evidence: &[u8], ctx: &AppraisalContext<'_>) -> Appraisal {
        appraise_quote(
            &self.engine,
            &self.rules.common,
            true,
            evidence,
            ctx,
            |body, a, policy_id| {
                if let Body::Td(td) = body {
                    evaluate_td(td, &self.rules, policy_id, a);
                }
            },
        )
    }
}

impl Verifier for SgxVerifier {
    fn platform(&self) -> &'static str {
        "sgx"
    }
    fn accepts_media_type(&self, media_type: &str) -> bool {
        media_type_base(media_type).eq_ignore_ascii_case(SGX_MEDIA_TYPE)
    }
    fn detect(&self, raw: &[u8]) -> bool {
        quote::looks_like_sgx(raw)
    }
    fn appraise(&self, _media_type: &str, evidence: &[u8], ctx: &AppraisalContext<'_>) -> Appraisal {
        appraise_quote(
            &self.engine,
            &self.rules.common,
            false,
            evidence,
            ctx,
            |body, a, policy_id| {
                if let Body::Sgx(r) = body {
                    evaluate_sgx(r, &self.rules, policy_id, a);
                }
            },
        )
    }
}

fn appraise_quote(
    engine: &Engine,
    common: &CommonRules,
    want_tdx: bool,
    evidence: &[u8],
    ctx: &AppraisalContext<'_>,
    body_rules: impl Fn(&Body, &mut Appraisal, &str),
) -> Appraisal {
    let q = match Quote::parse(evidence) {
        Ok(q) => q,
        Err(e) => return Appraisal::malfunction(ctx.policy_id, "quote", format!("malformed DCAP quote: {e}")),
    };
    let mut a = Appraisal::new(ctx.policy_id);
    if q.is_tdx() != want_tdx {
        let (got, want) = if want_tdx { ("SGX", "TDX") } else { ("TDX", "SGX") };
        a.fail(
            TrustClaim::InstanceIdentity,
            claim_value::VERIFIER_MALFUNCTION,
            "tee_type",
            Some(got.into()),
            Some(want.into()),
            format!("an {got} quote was presented as {want} Evidence"),
        );
        return a.finish();
    }
    record_quote_claims(&q, &mut a);

    // Binding: always compared with the value the relying party computed.
    let expected = ctx.expected.report_data();
    let observed = q.body.report_data();
    if !crate::crypto::constant_time_eq(observed, &expected) {
        a.fail(
            TrustClaim::InstanceIdentity,
            claim_value::UNTRUSTWORTHY_INSTANCE,
            "report_data",
            Some(hex::encode(observed)),
            Some(hex::encode(expected)),
            "quote report_data does not match the expected binding (Evidence not bound to this connection)",
        );
    }

    // Reference values and configuration.
    body_rules(&q.body, &mut a, ctx.policy_id);

    // Signatures, collateral, TCB.
    let now = ctx.now.unix_timestamp();
    match engine.verify(&q, now) {
        Err(failures) => {
            for f in failures {
                a.fail(TrustClaim::Hardware, f.hardware, f.claim, None, None, f.reason);
            }
        }
        Ok(v) => {
            let ext = &v.pck.ext;
            a.claim("tcb_status", v.tcb_status.as_str());
            a.claim("advisory_ids", v.advisories.clone());
            a.claim("platform_tcb_status", v.platform_status.as_str());
            a.claim("qe_tcb_status", v.qe_status.as_str());
            a.claim("tcb_date", v.tcb_date.clone());
            a.claim("fmspc", hex::encode(ext.fmspc));
            a.claim("ppid", hex::encode(&ext.ppid));
            a.claim("pce_id", hex::encode(&ext.pceid));
            a.claim("pck_tcb_components", hex::encode(ext.tcb_components));
            a.claim("pck_pce_svn", ext.pce_svn);
            a.claim("collateral", v.collateral.source.clone());
            a.claim("tcb_evaluation_data_number", v.collateral.tcb_info.eval_number);

            // TCB status.
            let adv = if v.advisories.is_empty() {
                "no advisories".to_string()
            } else {
                format!("advisories {}", v.advisories.join(", "))
            };
            if !common.statuses.contains(&v.tcb_status) {
                let allowed: Vec<&str> = common.statuses.iter().map(|s| s.as_str()).collect();
                a.fail(
                    TrustClaim::Hardware,
                    engine::HARDWARE_CONTRAINDICATED,
                    "tcb_status",
                    Some(v.tcb_status.as_str().into()),
                    Some(allowed.join(", ")),
                    format!(
                        "TCB status {} ({adv}) is not accepted by policy {}",
                        v.tcb_status, ctx.policy_id
                    ),
                );
            } else if v.tcb_status != TcbStatus::UpToDate {
                a.warn(
                    TrustClaim::Hardware,
                    claim_value::VULNERABLE_HARDWARE,
                    "tcb_status",
                    Some(v.tcb_status.as_str().into()),
                    format!(
                        "TCB status {} ({adv}) accepted by policy {}",
                        v.tcb_status, ctx.policy_id
                    ),
                );
            } else {
                a.set(TrustClaim::Hardware, claim_value::GENUINE_HARDWARE);
            }

            // Platform identity.
            if common.ppids.is_empty() || in_list(&common.ppids, &ext.ppid) {
                a.set(TrustClaim::InstanceIdentity, claim_value::TRUSTWORTHY_INSTANCE);
            } else {
                a.fail(
                    TrustClaim::InstanceIdentity,
                    claim_value::UNTRUSTWORTHY_INSTANCE,
                    "ppid",
                    Some(hex::encode(&ext.ppid)),
                    None,
                    format!("platform PPID is not in the ppids of policy {}", ctx.policy_id),
                );
            }

            // Collateral age.
            if let Some(max) = common.max_collateral_age {
                let info = &v.collateral.tcb_info;
                let qe = &v.collateral.qe_identity;
                for (what, issued) in [("TCB info", info.issue_date), ("QE identity", qe.issue_date)] {
                    if now.saturating_sub(issued) > max {
                        a.fail(
                            TrustClaim::Hardware,
                            claim_value::UNRECOGNIZED_HARDWARE,
                            "collateral",
                            Some(collateral::fmt_time(issued)),
                            None,
                            format!(
                                "{what} is older than max_collateral_age = {max} s of policy {}",
                                ctx.policy_id
                            ),
                        );
                    }
                }
            }
            a.set(TrustClaim::RuntimeOpaque, claim_value::ENCRYPTED_MEMORY);
        }
    }
    a.finish()
}

fn record_quote_claims(q: &Quote<'_>, a: &mut Appraisal) {
    a.claim("quote_version", q.header.version);
    a.claim("qe_svn", q.header.qe_svn);
    a.claim("pce_svn", q.header.pce_svn);
    match &q.body {
        Body::Td(td) => {
            a.claim("tee", "tdx");
            a.claim(
                "td_report_version",
                match td.version {
                    quote::TdReportVersion::Td10 => "1.0",
                    quote::TdReportVersion::Td15 => "1.5",
                    quote::TdReportVersion::Td15Ex => "1.5-ex",
                },
            );
            a.claim("tee_tcb_svn", hex::encode(td.tee_tcb_svn));
            a.claim("mrseam", hex::encode(td.mrseam));
            a.claim("mrsignerseam", hex::encode(td.mrsignerseam));
            a.claim("seam_attributes", hex::encode(td.seam_attributes));
            a.claim("td_attributes", hex::encode(td.td_attributes));
            a.claim("xfam", hex::encode(td.xfam));
            a.claim("mrtd", hex::encode(td.mrtd));
            a.claim("mrconfigid", hex::encode(td.mrconfigid));
            a.claim("mrowner", hex::encode(td.mrowner));
            a.claim("mrownerconfig", hex::encode(td.mrownerconfig));
            for (i, r) in td.rtmr.iter().enumerate() {
                a.claim(&format!("rtmr{i}"), hex::encode(r));
            }
            if let Some(s) = td.tee_tcb_svn2 {
                a.claim("tee_tcb_svn2", hex::encode(s));
            }
            if let Some(s) = td.mrservicetd {
                a.claim("mrservicetd", hex::encode(s));
            }
            a.claim("report_data", hex::encode(td.report_data));
            a.claim("debug", td.debug());
        }
        Body::Sgx(r) => {
            a.claim("tee", "sgx");
            a.claim("cpusvn", hex::encode(r.cpusvn));
            a.claim("miscselect", format!("{:08x}", r.miscselect));
            a.claim("attributes", hex::encode(r.attributes));
            a.claim("mrenclave", hex::encode(r.mrenclave));
            a.claim("mrsigner", hex::encode(r.mrsigner));
            a.claim("isv_prod_id", r.isv_prod_id);
            a.claim("isv_svn", r.isv_svn);
            a.claim("report_data", hex::encode(r.report_data));
            a.claim("debug", r.debug());
        }
    }
}

/// TDATTRIBUTES bits that must be zero (TDX 1.5 reserved bits).
const TD_ATTR_RESERVED: u64 = (0b1110) | (0x1FF << 7) | (0xF << 23) | (0x3FFF_FFFF << 32);
/// TDATTRIBUTES bits 4..6 (TUD profiling / debug-class).
const TD_ATTR_PROFILING: u64 = 0x70;
const TD_ATTR_SERVTD_EXT: u64 = 1 << 17;
const TD_ATTR_SEPT_VE_DISABLE: u64 = 1 << 28;
const TD_ATTR_MIGRATABLE: u64 = 1 << 29;

fn in_list(list: &[Vec<u8>], v: &[u8]) -> bool {
    list.iter().any(|x| crate::crypto::constant_time_eq(x, v))
}

/// (name, allow-list, observed value, trust claim) of an optional allow-list.
type ListCheck<'a> = (&'a str, &'a Vec<Vec<u8>>, &'a [u8; 48], TrustClaim);

/// Applies the `[tdx]` reference values and configuration rules to a TD report.
pub fn evaluate_td(td: &TdReport, rules: &TdxRules, policy_id: &str, a: &mut Appraisal) {
    // Measurements.
    let mut executables_ok = true;
    if rules.mrtd.is_empty() {
        executables_ok = false;
        a.fail(
            TrustClaim::Executables,
            claim_value::UNRECOGNIZED_RUNTIME,
            "mrtd",
            Some(hex::encode(td.mrtd)),
            None,
            format!("policy {policy_id} lists no reference MRTD values"),
        );
    } else if !in_list(&rules.mrtd, &td.mrtd) {
        executables_ok = false;
        a.fail(
            TrustClaim::Executables,
            claim_value::UNRECOGNIZED_RUNTIME,
            "mrtd",
            Some(hex::encode(td.mrtd)),
            Some(hex_join(&rules.mrtd, " | ")),
            format!("MRTD is not in the reference values of policy {policy_id}"),
        );
    }
    let optional: [ListCheck<'_>; 7] = [
        ("rtmr0", &rules.rtmr[0], &td.rtmr[0], TrustClaim::Executables),
        ("rtmr1", &rules.rtmr[1], &td.rtmr[1], TrustClaim::Executables),
        ("rtmr2", &rules.rtmr[2], &td.rtmr[2], TrustClaim::Executables),
        ("rtmr3", &rules.rtmr[3], &td.rtmr[3], TrustClaim::Executables),
        (
            "mrconfigid",
            &rules.mrconfigid,
            &td.mrconfigid,
            TrustClaim::Configuration,
        ),
        ("mrowner", &rules.mrowner, &td.mrowner, TrustClaim::Configuration),
        (
            "mrownerconfig",
            &rules.mrownerconfig,
            &td.mrownerconfig,
            TrustClaim::Configuration,
        ),
    ];
    for (name, list, value, trust) in optional {
        if !list.is_empty() && !in_list(list, value) {
            let code = if trust == TrustClaim::Executables {
                executables_ok = false;
                claim_value::UNRECOGNIZED_RUNTIME
            } else {
                claim_value::UNSUPPORTABLE_CONFIG
            };
            a.fail(
                trust,
                code,
                name,
                Some(hex::encode(value)),
                Some(hex_join(list, " | ")),
                format!(
                    "{} is not in the reference values of policy {policy_id}",
                    name.to_uppercase()
                ),
            );
        }
    }
    if executables_ok {
        a.set(TrustClaim::Executables, claim_value::APPROVED_RUNTIME);
    }

    // Configuration.
    let attrs = td.td_attributes_u64();
    let attr_hex = Some(hex::encode(td.td_attributes));
    let debugish = attrs & (1 | TD_ATTR_PROFILING);
    if debugish != 0 {
        a.debug_enabled(
            rules.allow_debug,
            hex::encode(td.td_attributes),
            "TD debug/profiling attributes are set",
        );
    }
    let mut config_fail = |reason: &str| {
        a.fail(
            TrustClaim::Configuration,
            claim_value::UNSUPPORTABLE_CONFIG,
            "td_attributes",
            attr_hex.clone(),
            None,
            reason.to_string(),
        )
    };
    if attrs & TD_ATTR_RESERVED != 0 {
        config_fail("reserved TD attribute bits are set");
    }
    if attrs & TD_ATTR_MIGRATABLE != 0 {
        config_fail("TD migration is enabled");
    }
    if attrs & TD_ATTR_SERVTD_EXT != 0 {
        config_fail("SERVTD_EXT is enabled (service TDs are not supported by this verifier)");
    }
    if attrs & TD_ATTR_SEPT_VE_DISABLE == 0 {
        config_fail("SEPT_VE_DISABLE is not set");
    }
    if let Some(m) = td.mrservicetd {
        if m != [0u8; 48] {
            a.fail(
                TrustClaim::Configuration,
                claim_value::UNSUPPORTABLE_CONFIG,
                "mrservicetd",
                Some(hex::encode(m)),
                Some("zero".into()),
                "the TD is bound to a service TD (not supported by this verifier)",
            );
        }
    }
    a.set(TrustClaim::Configuration, claim_value::APPROVED_CONFIG);
}

/// Applies the `[sgx]` reference values and configuration rules to an enclave report.
pub fn evaluate_sgx(r: &EnclaveReport, rules: &SgxRules, policy_id: &str, a: &mut Appraisal) {
    let mut ok = true;
    if rules.mrenclave.is_empty() && rules.mrsigner.is_empty() {
        ok = false;
        a.fail(
            TrustClaim::Executables,
            claim_value::UNRECOGNIZED_RUNTIME,
            "mrenclave",
            Some(hex::encode(r.mrenclave)),
            None,
            format!("policy {policy_id} lists no reference MRENCLAVE or MRSIGNER values"),
        );
    }
    for (name, list, v) in [
        ("mrenclave", &rules.mrenclave, &r.mrenclave),
        ("mrsigner", &rules.mrsigner, &r.mrsigner),
    ] {
        if !list.is_empty() && !in_list(list, v) {
            ok = false;
            a.fail(
                TrustClaim::Executables,
                claim_value::UNRECOGNIZED_RUNTIME,
                name,
                Some(hex::encode(v)),
                Some(hex_join(list, " | ")),
                format!(
                    "{} is not in the reference values of policy {policy_id}",
                    name.to_uppercase()
                ),
            );
        }
    }
    if let Some(p) = rules.isv_prod_id {
        if r.isv_prod_id != p {
            ok = false;
            a.fail(
                TrustClaim::Executables,
                claim_value::UNRECOGNIZED_RUNTIME,
                "isv_prod_id",
                Some(r.isv_prod_id.to_string()),
                Some(p.to_string()),
                format!("ISVPRODID differs from policy {policy_id}"),
            );
        }
    }
    match rules.min_isv_svn {
        Some(min) if r.isv_svn < min => {
            ok = false;
            a.fail(
                TrustClaim::Executables,
                claim_value::UNRECOGNIZED_RUNTIME,
                "isv_svn",
                Some(r.isv_svn.to_string()),
                Some(format!(">= {min}")),
                format!("ISVSVN is below the minimum of policy {policy_id}"),
            );
        }
        Some(_) => {}
        // No floor: an older, vulnerable enclave version of the same signer
        // (or of the same MRENCLAVE, re-signed) would pass unnoticed.
        None => a.warn(
            TrustClaim::Executables,
            claim_value::UNSAFE_RUNTIME,
            "isv_svn",
            Some(r.isv_svn.to_string()),
            format!("sgx.min_isv_svn not set in policy {policy_id}: any ISV SVN accepted"),
        ),
    }
    if ok {
        a.set(TrustClaim::Executables, claim_value::APPROVED_RUNTIME);
    }
    if r.debug() {
        a.debug_enabled(
            rules.allow_debug,
            hex::encode(r.attributes),
            "enclave DEBUG attribute is set",
        );
    }
    a.set(TrustClaim::Configuration, claim_value::APPROVED_CONFIG);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ear::Tier;

    fn td_report() -> TdReport {
        let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/tdx/tdx_quote")).unwrap();
        match Quote::parse(&raw).unwrap().body {
            Body::Td(td) => td,
            Body::Sgx(_) => panic!("not TDX"),
        }
    }

    fn rules(allow_debug: bool) -> TdxRules {
        let mut p = TdxPolicy {
            mrtd: vec![hex::encode(td_report().mrtd)],
            ..Default::default()
        };
        p.allow_debug = allow_debug;
        p.rules().unwrap()
    }

    fn eval(td: &TdReport, rules: &TdxRules) -> Appraisal {
        let mut a = Appraisal::new("p");
        evaluate_td(td, rules, "p", &mut a);
        a.finish()
    }

    #[test]
    fn clean_td_passes_policy() {
        let a = eval(&td_report(), &rules(false));
        assert_eq!(a.status, Tier::Affirming, "{:?}", a.findings);
    }

    #[test]
    fn debug_bit_is_refused_unless_allowed() {
        let mut td = td_report();
        td.td_attributes[0] |= 1;
        let a = eval(&td, &rules(false));
        assert_eq!(a.status, Tier::Contraindicated);
        assert!(a.findings.iter().any(|f| f.claim == "debug"), "{:?}", a.findings);
        let a = eval(&td, &rules(true));
        assert_eq!(a.status, Tier::Warning, "{:?}", a.findings);
    }

    #[test]
    fn td_attribute_rules_are_enforced() {
        for (bit, needle) in [
            (29, "migration"),
            (17, "SERVTD_EXT"),
            (40, "reserved"),
            (4, "debug/profiling"),
        ] {
            let mut td = td_report();
            let v = td.td_attributes_u64() | (1u64 << bit);
            td.td_attributes = v.to_le_bytes();
            let a = eval(&td, &rules(false));
            assert_eq!(a.status, Tier::Contraindicated, "bit {bit}");
            assert!(
                a.findings.iter().any(|f| f.reason.contains(needle)),
                "bit {bit}: {:?}",
                a.findings
            );
        }
        let mut td = td_report();
        td.td_attributes = (td.td_attributes_u64() & !TD_ATTR_SEPT_VE_DISABLE).to_le_bytes();
        assert!(eval(&td, &rules(false))
            .findings
            .iter()
            .any(|f| f.reason.contains("SEPT_VE_DISABLE")));
        let mut td = td_report();
        td.mrservicetd = Some([1; 48]);
        assert_eq!(eval(&td, &rules(false)).status, Tier::Contraindicated);
    }

    #[test]
    fn default_policy_is_strictest() {
        let r = TdxPolicy::default().rules().unwrap();
        assert!(r.mrtd.is_empty() && !r.allow_debug);
        assert_eq!(r.common.statuses, vec![TcbStatus::UpToDate]);
        let a = eval(&td_report(), &r);
        assert_eq!(a.status, Tier::Contraindicated);
        assert!(a.findings[0].reason.contains("lists no reference MRTD values"));
        let s = SgxPolicy::default().rules().unwrap();
        assert_eq!(s.common.statuses, vec![TcbStatus::UpToDate]);
    }

    #[test]
    fn rtmr_and_owner_lists_are_checked_when_present() {
        let mut r = rules(false);
        r.rtmr[3] = vec![vec![0xAA; 48]];
        let a = eval(&td_report(), &r);
        assert!(a.findings.iter().any(|f| f.claim == "rtmr3"));
        let mut r = rules(false);
        r.mrowner = vec![vec![0xAA; 48]];
        let a = eval(&td_report(), &r);
        assert!(a.findings.iter().any(|f| f.claim == "mrowner"));
        assert_eq!(a.status, Tier::Contraindicated);
    }

    #[test]
    fn policy_values_are_validated() {
        let bad = TdxPolicy {
            allowed_tcb_statuses: Some(vec!["Revoked".into()]),
            ..Default::default()
        };
        let e = bad.rules().err().unwrap();
        assert!(
            matches!(&e, crate::policy::PolicyError::Value { key, reason } if key == "tdx.allowed_tcb_statuses" && reason.contains("Revoked")),
            "{e:?}"
        );
        let bad = TdxPolicy {
            allowed_tcb_statuses: Some(vec!["Fine".into()]),
            ..Default::default()
        };
        assert!(bad.rules().unwrap_err().to_string().contains("Fine"));
        let bad = TdxPolicy {
            mrtd: vec!["abcd".into()],
            ..Default::default()
        };
        let e = bad.rules().err().unwrap();
        assert!(
            matches!(&e, crate::policy::PolicyError::Value { key, reason } if key == "tdx.mrtd" && reason.contains("is 2 bytes, expected 48")),
            "{e:?}"
        );
        let bad = SgxPolicy {
            ppids: vec!["00".into()],
            ..Default::default()
        };
        let e = bad.rules().err().unwrap();
        assert!(
            matches!(&e, crate::policy::PolicyError::Value { key, reason } if key == "sgx.ppids" && reason.contains("is 1 bytes, expected 16")),
            "{e:?}"
        );
    }

    /// The enclave report of the SGX test vector.
    fn sgx_report() -> EnclaveReport {
        let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/sgx/sgx_quote")).unwrap();
        match Quote::parse(&raw).unwrap().body {
            Body::Sgx(r) => r,
            Body::Td(_) => panic!("not SGX"),
        }
    }

    #[test]
    fn sgx_policy_rules() {
        let r = sgx_report();
        let eval = |rules: &SgxRules, r: &EnclaveReport| {
            let mut a = Appraisal::new("p");
            evaluate_sgx(r, rules, "p", &mut a);
            a.finish()
        };
        let ok = SgxPolicy {
            mrenclave: vec![hex::encode(r.mrenclave)],
            isv_prod_id: Some(0),
            min_isv_svn: Some(0),
            ..Default::default()
        }
        .rules()
        .unwrap();
        assert_eq!(eval(&ok, &r).status, Tier::Affirming);
        assert_eq!(
            eval(&SgxPolicy::default().rules().unwrap(), &r).status,
            Tier::Contraindicated
        );
        let mut bad = ok.clone();
        bad.isv_prod_id = Some(1);
        assert_eq!(eval(&bad, &r).status, Tier::Contraindicated);
        let mut bad = ok.clone();
        bad.min_isv_svn = Some(1);
        assert_eq!(eval(&bad, &r).status, Tier::Contraindicated);
        let mut bad = ok.clone();
        bad.mrsigner = vec![vec![0; 32]];
        assert_eq!(eval(&bad, &r).status, Tier::Contraindicated);
        let mut dbg = r;
        dbg.attributes[0] |= 2;
        assert_eq!(eval(&ok, &dbg).status, Tier::Contraindicated);
        let mut allow = ok.clone();
        allow.allow_debug = true;
        assert_eq!(eval(&allow, &dbg).status, Tier::Warning);
    }

    /// Guards issue 8 point 4: with `min_isv_svn` unset any ISVSVN used to
    /// be accepted silently (affirming). Unset is now a warning naming the
    /// key; an explicit 0 affirms.
    #[test]
    fn unset_min_isv_svn_is_a_warning_naming_the_key() {
        let r = sgx_report();
        let rules = |min_isv_svn| {
            SgxPolicy {
                mrenclave: vec![hex::encode(r.mrenclave)],
                min_isv_svn,
                ..Default::default()
            }
            .rules()
            .unwrap()
        };
        let mut a = Appraisal::new("p");
        evaluate_sgx(&r, &rules(None), "p", &mut a);
        let a = a.finish();
        assert_eq!(a.status, Tier::Warning, "{:?}", a.findings);
        assert_eq!(a.findings.len(), 1, "{:?}", a.findings);
        let f = &a.findings[0];
        assert_eq!((f.claim.as_str(), f.tier), ("isv_svn", Tier::Warning));
        assert_eq!(f.observed.as_deref(), Some("0"));
        assert!(
            f.reason.contains("sgx.min_isv_svn not set") && f.reason.contains("any ISV SVN accepted"),
            "{f}"
        );
        assert_eq!(a.trust_vector[&TrustClaim::Executables], claim_value::UNSAFE_RUNTIME);
        let mut a = Appraisal::new("p");
        evaluate_sgx(&r, &rules(Some(0)), "p", &mut a);
        assert_eq!(a.finish().status, Tier::Affirming);
    }

    #[test]
    fn unknown_keys_in_the_tdx_and_sgx_sections_are_refused() {
        for text in [
            "id = \"x\"\n[tdx]\nmrtd = []\nallow_debg = true\n",
            "id = \"x\"\n[sgx]\nmrenclave = []\nallow_debg = true\n",
        ] {
            let e = crate::policy::Policy::from_toml(text, std::path::Path::new(".")).unwrap_err();
            assert!(e.to_string().contains("allow_debg"), "{text}: {e}");
        }
    }
}
