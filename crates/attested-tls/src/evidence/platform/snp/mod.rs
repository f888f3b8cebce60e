//! AMD SEV-SNP verifier.
//!
//! Appraises an `ATTESTATION_REPORT` (bare, or in the CBOR envelope with
//! the host's certificate table) against the `[snp]` policy section:
//!
//! 1. the endorsement key chain ARK -> ASK -> VCEK (or ARK -> ASVK -> VLEK),
//!    RSASSA-PSS/SHA-384 signatures, every certificate valid at the
//!    appraisal time, the ARK a built-in AMD root (Milan, Genoa, Turin) or
//!    one the policy names explicitly in `trusted_arks`. A self-signed
//!    certificate among `certs` (or in the Evidence) is never a root: whoever
//!    hands out those files would otherwise choose the root;
//! 2. the report's ECDSA P-384 signature with that key;
//! 3. the TCB the certificate certifies equals the report's `reported_tcb`,
//!    and the certificate's `hwID` is the report's `chip_id`;
//! 4. the policy: minimum TCB (of the *certified* TCB; unset is a warning),
//!    debug, migration agent, VMPL, measurement, host data, ID/author key
//!    digests, chip ids, guest SVN, report version, and `report_data` equal
//!    to the connection binding.
//!
//! Every failed check is a [`crate::ear::Finding`] naming the field. Verified
//! chains are cached by the endorsement key's DER hash ([`ChainCache`]), so
//! appraising another report of a known machine costs one P-384
//! verification. See `docs/platforms/snp.md`.

pub mod certs;
pub mod evidence;
pub mod report;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::ear::{claim_value as cv, hex_join, Appraisal, Finding, Tier, TrustClaim};
use crate::policy::{parse_hex_list, Policy, PolicyError};
use crate::verifier::{AppraisalContext, Verifier};

pub use certs::{
    load_cert_paths, Added, CertRole, ChainCache, ChainError, LeafKind, ParsedCert, TrustStore, VerifiedLeaf,
    DEFAULT_CACHE_CAPACITY,
};
pub use evidence::{
    build_cert_table, decode_envelope, encode_envelope, guid, parse_cert_table, CertTableEntry, CertTableError,
    Envelope, EnvelopeError, EvidenceCerts, MEDIA_TYPE_ENVELOPE, MEDIA_TYPE_REPORT,
};
pub use report::{AttestationReport, GuestPolicy, Product, ReportError, SigningKey, Tcb};

/// AR4SI hardware value "unsupportable hardware" (a TCB below the policy's
/// minimum).
const UNSUPPORTABLE_HARDWARE: i8 = 96;

/// Whether `sha256` is the DER hash of a built-in AMD ARK.
pub(crate) fn is_builtin_ark(sha256: &[u8; 32]) -> bool {
    builtin_certs().iter().any(|(ark, _)| ark.sha256 == *sha256)
}

/// The built-in AMD roots: `(product, ARK PEM, ASK PEM)`.
pub const BUILTIN_ROOTS: [(Product, &str, &str); 3] = [
    (
        Product::Milan,
        include_str!("../amd-roots/milan/ark.pem"),
        include_str!("../amd-roots/milan/ask.pem"),
    ),
    (
        Product::Genoa,
        include_str!("../amd-roots/genoa/ark.pem"),
        include_str!("../amd-roots/genoa/ask.pem"),
    ),
    (
        Product::Turin,
        include_str!("../amd-roots/turin/ark.pem"),
        include_str!("../amd-roots/turin/ask.pem"),
    ),
];

fn builtin_certs() -> &'static [(ParsedCert, ParsedCert)] {
    static CERTS: OnceLock<Vec<(ParsedCert, ParsedCert)>> = OnceLock::new();
    CERTS.get_or_init(|| {
        BUILTIN_ROOTS
            .iter()
            .map(|(p, ark, ask)| {
                let parse = |pem: &str, what: &str| {
                    let der = certs::certs_from_bytes(pem.as_bytes(), what)
                        .unwrap_or_else(|e| panic!("built-in {p} {what}: {e}"))
                        .remove(0);
                    ParsedCert::from_der(&der).unwrap_or_else(|e| panic!("built-in {p} {what}: {e}"))
                };
                (parse(ark, "ARK"), parse(ask, "ASK"))
            })
            .collect()
    })
}

/// The TrustStore of the built-in AMD roots (ARKs) and their ASKs.
pub fn builtin_trust_store() -> TrustStore {
    let mut t = TrustStore::empty();
    for (ark, ask) in builtin_certs() {
        t.add_root(ark.clone()).expect("built-in ARKs are self-issued");
        t.add_intermediate(ask.clone());
    }
    t
}

/// Minimum TCB components (`min_tcb = { bootloader = 3, snp = 8 }`),
/// compared with the TCB the VCEK/VLEK certificate certifies.
#[derive(Clone, Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MinTcb {
    /// Minimum boot loader SPL.
    pub bootloader: Option<u8>,
    /// Minimum TEE SPL.
    pub tee: Option<u8>,
    /// Minimum SNP firmware SPL.
    pub snp: Option<u8>,
    /// Minimum microcode SPL.
    pub microcode: Option<u8>,
    /// Minimum FMC SPL (Turin; a chain without one fails when this is set).
    pub fmc: Option<u8>,
}

/// Policy section `[snp]`. See `docs/platforms/snp.md`.
///
/// ```toml
/// [snp]
/// measurements = ["7a1e5c26..."]       # allowed launch measurements (48-byte hex), at least one
/// host_data = ["00..."]                # optional allow-list (32-byte hex)
/// id_key_digests = ["..."]             # optional allow-list (48-byte hex)
/// author_key_digests = ["..."]         # optional allow-list (48-byte hex)
/// chip_ids = ["d495..."]               # optional allow-list (64-byte hex; 8 bytes: a Turin hwID, Turin only)
/// allow_debug = false                  # default false
/// allow_migration_agent = false        # default false (guest policy bit 18)
/// report_id_ma = "ffff..."             # optional pin (32-byte hex)
/// vmpls = [0]                          # allowed VMPLs, default [0]
/// min_tcb = { bootloader = 3, tee = 0, snp = 8, microcode = 115 }   # unset: a warning
/// min_guest_svn = 0                    # floor; unset: a warning
/// certs = ["amd/"]                     # PEM/DER files or directories: VCEK/VLEK, ASK/ASVK (never roots)
/// trusted_arks = ["test-ark.pem"]      # optional extra roots, besides the built-in AMD ARKs
/// product = "milan"                    # optional pin: milan | genoa | turin
/// max_report_version = 5               # default 5
/// ```
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SnpPolicy {
    /// Allowed launch measurements (hex, 48 bytes). At least one.
    #[serde(default)]
    pub measurements: Vec<String>,
    /// Allowed `host_data` values (hex, 32 bytes); empty: not checked.
    #[serde(default)]
    pub host_data: Vec<String>,
    /// Allowed `id_key_digest` values (hex, 48 bytes); empty: not checked.
    #[serde(default)]
    pub id_key_digests: Vec<String>,
    /// Allowed `author_key_digest` values (hex, 48 bytes); empty: not checked.
    #[serde(default)]
    pub author_key_digests: Vec<String>,
    /// Allowed chips (hex `chip_id`, 64 bytes, or the 8-byte Turin hwID,
    /// which only matches a Turin chain); empty: any chip.
    #[serde(default)]
    pub chip_ids: Vec<String>,
    /// Accept guests whose policy allows debugging (result: warning).
    #[serde(default)]
    pub allow_debug: bool,
    /// Accept guests whose policy allows a migration agent (guest policy
    /// bit 18, MIGRATE_MA; result: warning). Refused by default: the
    /// migration agent can export the guest's memory.
    #[serde(default)]
    pub allow_migration_agent: bool,
    /// Required `REPORT_ID_MA` (hex, 32 bytes): the report ID of the
    /// guest's migration agent (all `ff` when it has none). Unset: not
    /// checked.
    #[serde(default)]
    pub report_id_ma: Option<String>,
    /// Allowed VMPLs the report may have been requested from (default `[0]`).
    #[serde(default, alias = "vmpl")]
    pub vmpls: Option<Vec<u32>>,
    /// Minimum certified TCB. Unset (no component given): any certified
    /// TCB is accepted and the result is a warning that says so.
    #[serde(default)]
    pub min_tcb: MinTcb,
    /// Minimum `guest_svn` (`None`: not set, a warning naming it).
    #[serde(default)]
    pub min_guest_svn: Option<u32>,
    /// Certificate files or directories (PEM or DER): VCEK/VLEK for raw
    /// reports and ASK/ASVK intermediates. Never roots: a self-signed
    /// certificate here is ignored (with a warning in every result) unless
    /// it already is a trusted root. Relative paths resolve against the
    /// policy file.
    #[serde(default)]
    pub certs: Vec<PathBuf>,
    /// ARK files or directories (PEM or DER) trusted as roots besides the
    /// built-in AMD roots (tests, a product line not built in). Relative
    /// paths resolve against the policy file.
    #[serde(default)]
    pub trusted_arks: Vec<PathBuf>,
    /// Only accept this product line.
    #[serde(default)]
    pub product: Option<Product>,
    /// Highest report version accepted (default 5).
    #[serde(default)]
    pub max_report_version: Option<u32>,
}

impl SnpPolicy {
    /// Builds the verifier for this section.
    pub fn verifier(&self, policy: &Policy) -> Result<Arc<dyn Verifier>, PolicyError> {
        Ok(Arc::new(SnpVerifier::new(self, policy)?))
    }
}

/// The `[snp]` policy with its values parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnpConfig {
    /// Allowed measurements.
    pub measurements: Vec<[u8; 48]>,
    /// Allowed host data (empty: any).
    pub host_data: Vec<[u8; 32]>,
    /// Allowed ID key digests (empty: any).
    pub id_key_digests: Vec<[u8; 48]>,
    /// Allowed author key digests (empty: any).
    pub author_key_digests: Vec<[u8; 48]>,
    /// Allowed chip ids, 64 or 8 bytes (8: a Turin hwID, matched on Turin only; empty: any).
    pub chip_ids: Vec<Vec<u8>>,
    /// Debug allowed (with a warning).
    pub allow_debug: bool,
    /// Migration agent allowed (with a warning).
    pub allow_migration_agent: bool,
    /// Required `REPORT_ID_MA` (unset: not checked).
    pub report_id_ma: Option<[u8; 32]>,
    /// Allowed VMPLs.
    pub vmpls: Vec<u32>,
    /// Minimum certified TCB.
    pub min_tcb: MinTcb,
    /// Minimum guest SVN.
    pub min_guest_svn: Option<u32>,
    /// Product pin.
    pub product: Option<Product>,
    /// Highest report version.
    pub max_report_version: u32,
}

fn fixed<const N: usize>(key: &str, values: &[String]) -> Result<Vec<[u8; N]>, PolicyError> {
    Ok(parse_hex_list(key, values, Some(N))?
        .into_iter()
        .map(|v| v.try_into().expect("length checked"))
        .collect())
}

impl SnpConfig {
    /// Parses and checks the policy values.
    pub fn from_policy(p: &SnpPolicy) -> Result<Self, PolicyError> {
        let measurements = fixed::<48>("snp.measurements", &p.measurements)?;
        if measurements.is_empty() {
            return Err(PolicyError::value(
                "snp.measurements",
                "must list at least one allowed measurement (48-byte hex)",
            ));
        }
        let chip_ids = parse_hex_list("snp.chip_ids", &p.chip_ids, None)?;
        if let Some(c) = chip_ids.iter().find(|c| c.len() != 64 && c.len() != 8) {
            return Err(PolicyError::value(
                "snp.chip_ids",
                format!(
                    "{} is {} bytes, expected 64 (chip_id) or 8 (Turin hwID)",
                    hex::encode(c),
                    c.len()
                ),
            ));
        }
        let vmpls = p.vmpls.clone().unwrap_or_else(|| vec![0]);
        if vmpls.is_empty() || vmpls.iter().any(|v| *v > 3) {
            return Err(PolicyError::value("snp.vmpls", "must list VMPLs between 0 and 3"));
        }
        let max_report_version = p.max_report_version.unwrap_or(report::MAX_KNOWN_VERSION);
        if max_report_version < report::MIN_VERSION {
            return Err(PolicyError::value(
                "snp.max_report_version",
                format!("must be at least {}", report::MIN_VERSION),
            ));
        }
        Ok(Self {
            measurements,
            host_data: fixed::<32>("snp.host_data", &p.host_data)?,
            id_key_digests: fixed::<48>("snp.id_key_digests", &p.id_key_digests)?,
            author_key_digests: fixed::<48>("snp.author_key_digests", &p.author_key_digests)?,
            chip_ids,
            allow_debug: p.allow_debug,
            allow_migration_agent: p.allow_migration_agent,
            report_id_ma: fixed::<32>("snp.report_id_ma", p.report_id_ma.as_slice())?.pop(),
            vmpls,
            min_tcb: p.min_tcb.clone(),
            min_guest_svn: p.min_guest_svn,
            product: p.product,
            max_report_version,
        })
    }
}

/// A self-signed certificate that was offered as a certificate (policy
/// `certs`, `atls verify --certs`, [`SnpVerifier::add_cert`]) and left out
/// because it is not a trusted root. Every appraisal reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredRoot {
    /// Where it came from (a file, or `added certificate`).
    pub source: String,
    /// Its subject CN.
    pub subject: String,
    /// SHA-256 of its DER.
    pub sha256: [u8; 32],
}

/// The SEV-SNP verifier.
pub struct SnpVerifier {
    cfg: SnpConfig,
    trust: TrustStore,
    cache: ChainCache,
    ignored_roots: Vec<IgnoredRoot>,
}

impl std::fmt::Debug for SnpVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnpVerifier")
            .field("cfg", &self.cfg)
            .field("cache", &self.cache)
            .field("ignored_roots", &self.ignored_roots)
            .finish_non_exhaustive()
    }
}

impl SnpVerifier {
    /// Builds the verifier of a policy section: trusts the built-in AMD
    /// roots and the `trusted_arks`, and loads `certs` as intermediates
    /// and endorsement keys (paths relative to the policy file).
    pub fn new(section: &SnpPolicy, policy: &Policy) -> Result<Self, PolicyError> {
        let cfg = SnpConfig::from_policy(section)?;
        let load = |key: &str, paths: &[PathBuf]| {
            let paths: Vec<PathBuf> = paths.iter().map(|p| policy.resolve(p)).collect();
            load_cert_paths(&paths).map_err(|(p, e)| PolicyError::value(key, format!("{}: {e}", p.display())))
        };
        let mut v = Self::with_trust_store(cfg, builtin_trust_store());
        for (path, der) in load("snp.trusted_arks", &section.trusted_arks)? {
            v.trust_ark_der(&der)
                .map_err(|e| PolicyError::value("snp.trusted_arks", format!("{}: {e}", path.display())))?;
        }
        for (path, der) in load("snp.certs", &section.certs)? {
            v.add_cert_der(&der, &path.display().to_string())
                .map_err(|e| PolicyError::value("snp.certs", format!("{}: {e}", path.display())))?;
        }
        Ok(v)
    }

    /// A verifier with an explicit trust store (see [`builtin_trust_store`]).
    pub fn with_trust_store(cfg: SnpConfig, trust: TrustStore) -> Self {
        Self {
            cfg,
            trust,
            cache: ChainCache::default(),
            ignored_roots: Vec::new(),
        }
    }

    /// Adds certificates (PEM or DER) that are not trust anchors: a
    /// VCEK/VLEK to check raw reports with, or an intermediate. A
    /// self-signed certificate is not trusted (unless it already is a
    /// trusted root): it is recorded in [`SnpVerifier::ignored_roots`] and
    /// every appraisal reports it. Roots: [`SnpVerifier::add_trusted_ark`].
    pub fn add_cert(&mut self, pem_or_der: &[u8]) -> Result<(), ChainError> {
        for der in certs::certs_from_bytes(pem_or_der, "added certificate")? {
            self.add_cert_der(&der, "added certificate")?;
        }
        Ok(())
    }

    /// Trusts ARKs (PEM or DER, self-signed) as roots besides the ones
    /// already trusted: the library form of the policy's `trusted_arks`.
    pub fn add_trusted_ark(&mut self, pem_or_der: &[u8]) -> Result<(), ChainError> {
        for der in certs::certs_from_bytes(pem_or_der, "trusted ARK")? {
            self.trust_ark_der(&der)?;
        }
        Ok(())
    }

    fn trust_ark_der(&mut self, der: &[u8]) -> Result<(), ChainError> {
        let ark = ParsedCert::from_der(der)?;
        // Checked now so that a wrong file is named when the policy loads,
        // not as an untrusted chain later.
        ark.verify_self_signed()?;
        // Offered earlier among the certs (and ignored then), trusted now:
        // no longer an ignored root, whatever the order of the calls.
        self.ignored_roots.retain(|r| r.sha256 != ark.sha256);
        self.trust.add_root(ark)
    }

    fn add_cert_der(&mut self, der: &[u8], source: &str) -> Result<(), ChainError> {
        if let Added::SelfSigned(c) = self.trust.add_der(der)? {
            // Byte-identical to a trusted root (the AMD ARK of a dumped
            // host certificate table): nothing is ignored.
            if !self.trust.trusts_root(&c.sha256) && !self.ignored_roots.iter().any(|r| r.sha256 == c.sha256) {
                // The file is named here, locally, and not in the finding:
                // a finding travels in the EAR, which may go to the peer.
                tracing::warn!(
                    "SEV-SNP: self-signed certificate {:?} sha256:{} from {source} is not a trust anchor and was \
                     ignored; list it in trusted_arks to trust it",
                    c.subject_cn,
                    hex::encode(c.sha256)
                );
                self.ignored_roots.push(IgnoredRoot {
                    source: source.to_string(),
                    subject: c.subject_cn,
                    sha256: c.sha256,
                });
            }
        }
        Ok(())
    }

    /// Self-signed certificates offered as certificates and left out.
    pub fn ignored_roots(&self) -> &[IgnoredRoot] {
        &self.ignored_roots
    }

    /// The parsed policy.
    pub fn config(&self) -> &SnpConfig {
        &self.cfg
    }

    /// The cache of verified chains.
    pub fn cache(&self) -> &ChainCache {
        &self.cache
    }

    /// The trust store.
    pub fn trust_store(&self) -> &TrustStore {
        &self.trust
    }

    /// Verifies an endorsement key certificate's chain (not its time
    /// validity: see [`VerifiedLeaf::valid_at`]). `extra` are additional
    /// intermediates.
    pub fn verify_endorsement_key(&self, leaf_der: &[u8], extra: &[&[u8]]) -> Result<Arc<VerifiedLeaf>, ChainError> {
        self.trust.verify_leaf(leaf_der, extra, &self.cache)
    }

    /// Appraises a report with the certificates that came with it.
    pub fn appraise_report(&self, raw: &[u8], ev: EvidenceCerts<'_>, ctx: &AppraisalContext<'_>) -> Appraisal {
        let report = match AttestationReport::parse(raw) {
            Ok(r) => r,
            Err(e) => return Appraisal::malfunction(ctx.policy_id, "report", e.to_string()),
        };
        let mut a = Appraisal::new(ctx.policy_id);
        record_report_claims(&report, &mut a);
        let product = self.check_endorsement(&report, ev, ctx, &mut a);
        check_report_policy(&report, &self.cfg, product, &ctx.expected.report_data(), &mut a);
        for r in &self.ignored_roots {
            // Not a trust-vector claim: nothing about the Evidence, but the
            // policy (or command line) asked for something that was not done.
            a.findings.push(Finding {
                claim: "certs".into(),
                // CN and hash only: the source (a local path) is logged
                // when the certificate is added, never sent in the EAR.
                observed: Some(format!("{} sha256:{}", r.subject, hex::encode(r.sha256))),
                expected: None,
                reason: "a self-signed certificate among the certs is never a trust anchor and was ignored \
                         (it is not a built-in AMD ARK); list it in trusted_arks to trust it"
                    .into(),
                tier: Tier::Warning,
            });
        }
        a.finish()
    }

    /// Picks the endorsement key certificate: the Evidence's, else the one
    /// supplied out of band that matches the report's chip and TCB (or the
    /// first, so that the mismatch is reported).
    fn select_leaf<'a>(
        &'a self,
        report: &AttestationReport,
        kind: LeafKind,
        ev: &EvidenceCerts<'a>,
    ) -> Option<&'a [u8]> {
        let from_evidence = match kind {
            LeafKind::Vcek => ev.vcek,
            LeafKind::Vlek => ev.vlek,
        };
        if from_evidence.is_some() {
            return from_evidence;
        }
        let mut first = None;
        for (c, der) in self.trust.leaves(kind) {
            first.get_or_insert(der);
            let Ok((_, product, tcb)) = c.endorsement() else {
                continue;
            };
            let tcb_ok = tcb == Tcb::decode(report.reported_tcb, product);
            let chip_ok = kind == LeafKind::Vlek
                || c.amd_extensions()
                    .ok()
                    .and_then(|a| a.hw_id.as_deref())
                    .is_some_and(|h| hw_id_matches(h, &report.chip_id));
            if tcb_ok && chip_ok {
                return Some(der);
            }
        }
        first
    }

    /// Checks 1-3 of the module documentation. Returns the product line of
    /// the endorsement key's verified chain, `None` when no chain verified.
    fn check_endorsement(
        &self,
        r: &AttestationReport,
        ev: EvidenceCerts<'_>,
        ctx: &AppraisalContext<'_>,
        a: &mut Appraisal,
    ) -> Option<Product> {
        use TrustClaim::{Hardware, InstanceIdentity};
        // Without a verified endorsement key that matches the report,
        // neither the hardware nor the instance is recognized.
        let hw_fail =
            |a: &mut Appraisal, claim: &str, observed: Option<String>, expected: Option<String>, why: String| {
                a.set(InstanceIdentity, cv::UNTRUSTWORTHY_INSTANCE);
                a.fail(Hardware, cv::UNRECOGNIZED_HARDWARE, claim, observed, expected, why)
            };
        if r.sig_algo != report::SIG_ALGO_ECDSA_P384_SHA384 {
            hw_fail(
                a,
                "sig_algo",
                Some(r.sig_algo.to_string()),
                Some("1 (ECDSA P-384 with SHA-384)".into()),
                "the report's signature algorithm is not supported".into(),
            );
            return None;
        }
        let kind = match r.signing_key() {
            SigningKey::Vcek => LeafKind::Vcek,
            SigningKey::Vlek => LeafKind::Vlek,
            other => {
                hw_fail(
                    a,
                    "signing_key",
                    Some(other.name()),
                    Some("vcek or vlek".into()),
                    "the report is not signed by an AMD endorsement key".into(),
                );
                return None;
            }
        };
        let Some(leaf_der) = self.select_leaf(r, kind, &ev) else {
            hw_fail(
                a,
                "endorsement_key",
                None,
                None,
                ChainError::NoLeaf(kind.name()).to_string(),
            );
            return None;
        };
        let extra: Vec<&[u8]> = ev.ask.into_iter().collect();
        let leaf = match self.trust.verify_leaf(leaf_der, &extra, &self.cache) {
            Ok(l) => l,
            Err(e) => {
                hw_fail(a, "endorsement_key", None, None, e.to_string());
                return None;
            }
        };
        a.claim("product", leaf.product.name());
        a.claim(
            "endorsement_key",
            serde_json::json!({
                "kind": leaf.kind.name(),
                "sha256": leaf.fingerprint,
                "root": leaf.root,
                "root_sha256": hex::encode(leaf.root_sha256),
                "root_origin": if is_builtin_ark(&leaf.root_sha256) { "built-in AMD root" } else { "trusted_arks" },
                "intermediate": leaf.intermediate,
                "product_name": leaf.product_name,
                "not_before": fmt_time(leaf.window.0),
                "not_after": fmt_time(leaf.window.1),
            }),
        );
        a.claim("certified_tcb", leaf.tcb.to_json());
        let reported = Tcb::decode(r.reported_tcb, leaf.product);
        a.claim("reported_tcb", reported.to_json());
        a.claim("current_tcb", Tcb::decode(r.current_tcb, leaf.product).to_json());
        a.claim("committed_tcb", Tcb::decode(r.committed_tcb, leaf.product).to_json());

        let failures_before = a.findings.len();
        if leaf.kind != kind {
            hw_fail(
                a,
                "endorsement_key",
                Some(leaf.kind.name().into()),
                Some(kind.name().into()),
                "the certificate is not of the key type the report names".into(),
            );
        }
        let now = ctx.now.unix_timestamp();
        if !leaf.valid_at(now) {
            hw_fail(
                a,
                "cert_validity",
                Some(fmt_time(now)),
                Some(format!("{} .. {}", fmt_time(leaf.window.0), fmt_time(leaf.window.1))),
                "the appraisal time is outside the validity of the certificate chain".into(),
            );
        }
        if let Some(p) = self.cfg.product.filter(|p| *p != leaf.product) {
            hw_fail(
                a,
                "product",
                Some(leaf.product.name().into()),
                Some(p.name().into()),
                "the policy only accepts another product line".into(),
            );
        }
        if let Some(p) = r.cpuid_product().filter(|p| *p != leaf.product) {
            hw_fail(
                a,
                "product",
                Some(format!("report CPUID says {p}")),
                Some(leaf.product.name().into()),
                "the report's CPUID names another product line than its certificate chain".into(),
            );
        }
        match r.signature_fixed() {
            Err(e) => hw_fail(a, "signature", None, None, e.to_string()),
            Ok(sig) if !leaf.verify_p384(r.signed_bytes(), &sig) => hw_fail(
                a,
                "signature",
                None,
                None,
                format!("the report signature does not verify with the {}", kind.name()),
            ),
            Ok(_) => {}
        }
        if reported != leaf.tcb {
            hw_fail(
                a,
                "reported_tcb",
                Some(tcb_string(&reported)),
                Some(tcb_string(&leaf.tcb)),
                format!("the report's reported_tcb is not the TCB its {} certifies", kind.name()),
            );
        }
        if let Some(h) = &leaf.hw_id {
            if !hw_id_matches(h, &r.chip_id) {
                hw_fail(
                    a,
                    "hwid",
                    Some(hex::encode(r.chip_id)),
                    Some(hex::encode(h)),
                    "the report's chip_id is not the chip the VCEK was issued to".into(),
                );
            }
        }
        let m = &self.cfg.min_tcb;
        let comps = [
            ("bootloader", m.bootloader, Some(leaf.tcb.bootloader)),
            ("tee", m.tee, Some(leaf.tcb.tee)),
            ("snp", m.snp, Some(leaf.tcb.snp)),
            ("microcode", m.microcode, Some(leaf.tcb.microcode)),
            ("fmc", m.fmc, leaf.tcb.fmc),
        ];
        for (name, min, have) in comps {
            let Some(min) = min else { continue };
            if have.is_none_or(|h| h < min) {
                a.fail(
                    Hardware,
                    UNSUPPORTABLE_HARDWARE,
                    &format!("min_tcb.{name}"),
                    Some(have.map_or("absent".into(), |h| h.to_string())),
                    Some(format!(">= {min}")),
                    format!("the certified {name} SPL is below the policy's minimum"),
                );
            }
        }
        if a.findings.len() == failures_before {
            a.set(Hardware, cv::GENUINE_HARDWARE);
        }
        if *m == MinTcb::default() {
            // No floor: the chain is genuine but nothing says its TCB is
            // not one with known vulnerabilities.
            a.warn(
                Hardware,
                cv::VULNERABLE_HARDWARE,
                "min_tcb",
                Some(tcb_string(&leaf.tcb)),
                format!(
                    "min_tcb not set in policy {}: any certified TCB accepted, however old \
                     (set snp.min_tcb to the oldest TCB you accept)",
                    ctx.policy_id
                ),
            );
        }
        Some(leaf.product)
    }
}

/// Whether a certificate's `hwID` names the report's chip: all 64 bytes, or
/// on Turin (8-byte hwID) the first 8.
pub(crate) fn hw_id_matches(hw_id: &[u8], chip_id: &[u8; 64]) -> bool {
    match hw_id.len() {
        64 => hw_id == chip_id,
        8 => hw_id == &chip_id[..8],
        _ => false,
    }
}

fn tcb_string(t: &Tcb) -> String {
    let mut s = String::new();
    if let Some(f) = t.fmc {
        s.push_str(&format!("fmc={f} "));
    }
    s.push_str(&format!(
        "bootloader={} tee={} snp={} microcode={}",
        t.bootloader, t.tee, t.snp, t.microcode
    ));
    s
}

fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

fn record_report_claims(r: &AttestationReport, a: &mut Appraisal) {
    a.claim("version", r.version);
    a.claim("guest_svn", r.guest_svn);
    a.claim("policy", r.policy.to_json());
    a.claim("vmpl", r.vmpl);
    a.claim("signing_key", r.signing_key().name());
    a.claim("measurement", hex::encode(r.measurement));
    a.claim("report_data", hex::encode(r.report_data));
    a.claim("host_data", hex::encode(r.host_data));
    a.claim("id_key_digest", hex::encode(r.id_key_digest));
    a.claim("author_key_digest", hex::encode(r.author_key_digest));
    a.claim("family_id", hex::encode(r.family_id));
    a.claim("image_id", hex::encode(r.image_id));
    a.claim("chip_id", hex::encode(r.chip_id));
    a.claim("report_id", hex::encode(r.report_id));
    a.claim("report_id_ma", hex::encode(r.report_id_ma));
    a.claim("platform_info", format!("0x{:x}", r.platform_info));
    a.claim("reported_tcb_raw", hex::encode(r.reported_tcb));
    if let Some((f, m, s)) = r.cpuid {
        a.claim("cpuid", serde_json::json!({ "family": f, "model": m, "stepping": s }));
    }
}

/// The checks of the report's own fields against the policy and the
/// expected binding (check 4 of the module documentation, except the
/// minimum TCB, which needs the certificate). Public so that they can be
/// tested without a signed report. `product` is the product line of the
/// verified endorsement chain (`None` when none verified): an 8-byte
/// `chip_ids` entry (a Turin hwID) only matches on Turin.
pub fn check_report_policy(
    r: &AttestationReport,
    cfg: &SnpConfig,
    product: Option<Product>,
    expected_report_data: &[u8; 64],
    a: &mut Appraisal,
) {
    use TrustClaim::{Configuration, Executables, InstanceIdentity, RuntimeOpaque};

    if crate::crypto::constant_time_eq(&r.report_data, expected_report_data) {
        a.set(InstanceIdentity, cv::TRUSTWORTHY_INSTANCE);
    } else {
        a.fail(
            InstanceIdentity,
            cv::UNTRUSTWORTHY_INSTANCE,
            "report_data",
            Some(hex::encode(r.report_data)),
            Some(hex::encode(expected_report_data)),
            "report_data is not the binding of this connection (replayed or relayed Evidence)",
        );
    }
    // An 8-byte entry is a Turin hwID, which names the chip by the first 8
    // bytes of chip_id. On Milan and Genoa the whole 64-byte chip_id is the
    // identity, so an 8-byte entry would pin only a prefix: it never matches
    // there.
    let turin = product == Some(Product::Turin);
    if !cfg.chip_ids.is_empty()
        && !cfg.chip_ids.iter().any(|c| match c.len() {
            64 => c[..] == r.chip_id[..],
            8 => turin && c[..] == r.chip_id[..8],
            _ => false,
        })
    {
        let short_prefix_only = !turin && cfg.chip_ids.iter().any(|c| c.len() == 8 && c[..] == r.chip_id[..8]);
        let why = if short_prefix_only {
            format!(
                "the chip is not in the policy's chip_ids (an 8-byte entry is a Turin hwID and only matches on \
                 Turin; this chain is {})",
                product.map_or("not verified".to_string(), |p| p.name().to_string())
            )
        } else {
            "the chip is not in the policy's chip_ids".to_string()
        };
        a.fail(
            InstanceIdentity,
            cv::UNTRUSTWORTHY_INSTANCE,
            "chip_id",
            Some(hex::encode(r.chip_id)),
            Some(format!("one of {}", hex_join(&cfg.chip_ids, ", "))),
            why,
        );
    }

    let config_before = a.findings.len();
    if r.version > cfg.max_report_version {
        a.fail(
            Configuration,
            cv::UNSUPPORTABLE_CONFIG,
            "version",
            Some(r.version.to_string()),
            Some(format!("<= {}", cfg.max_report_version)),
            "the report version is newer than the policy accepts",
        );
    }
    if r.policy.debug() {
        a.debug_enabled(
            cfg.allow_debug,
            format!("{:#x}", r.policy.0),
            "the guest policy allows debugging (bit 19): the host can read guest memory",
        );
    } else {
        a.set(RuntimeOpaque, cv::ENCRYPTED_MEMORY);
    }
    let policy_id = a.policy_ids.first().cloned().unwrap_or_default();
    if r.policy.migrate_ma() {
        let what = "the guest policy allows a migration agent (bit 18, MIGRATE_MA): it can export the guest's memory";
        if cfg.allow_migration_agent {
            a.warn(
                Configuration,
                cv::UNSAFE_CONFIG,
                "migrate_ma",
                Some(format!("{:#x}", r.policy.0)),
                format!("{what}; allowed by policy {policy_id} (allow_migration_agent = true)"),
            );
        } else {
            a.fail(
                Configuration,
                cv::UNSUPPORTABLE_CONFIG,
                "migrate_ma",
                Some(format!("{:#x}", r.policy.0)),
                Some("bit 18 clear".into()),
                format!("{what}, and policy {policy_id} does not allow it (allow_migration_agent)"),
            );
        }
    }
    if let Some(pin) = cfg.report_id_ma.filter(|p| *p != r.report_id_ma) {
        a.fail(
            Configuration,
            cv::UNSUPPORTABLE_CONFIG,
            "report_id_ma",
            Some(hex::encode(r.report_id_ma)),
            Some(hex::encode(pin)),
            "REPORT_ID_MA is not the migration agent the policy's report_id_ma pins",
        );
    }
    if !cfg.vmpls.contains(&r.vmpl) {
        a.fail(
            Configuration,
            cv::UNSUPPORTABLE_CONFIG,
            "vmpl",
            Some(r.vmpl.to_string()),
            Some(format!("one of {:?}", cfg.vmpls)),
            "the report was requested from a VMPL the policy does not allow",
        );
    }
    if !cfg.host_data.is_empty() && !cfg.host_data.contains(&r.host_data) {
        a.fail(
            Configuration,
            cv::UNSUPPORTABLE_CONFIG,
            "host_data",
            Some(hex::encode(r.host_data)),
            Some(format!("one of {}", hex_join(&cfg.host_data, ", "))),
            "host_data is not in the policy's host_data",
        );
    }
    // Warnings (debug, migration agent allowed) keep their unsafe value.
    if a.findings[config_before..].iter().all(|f| f.tier == Tier::Warning) {
        a.set(Configuration, cv::APPROVED_CONFIG);
    }

    let exec_before = a.findings.len();
    if !cfg.measurements.contains(&r.measurement) {
        a.fail(
            Executables,
            cv::UNRECOGNIZED_RUNTIME,
            "measurement",
            Some(hex::encode(r.measurement)),
            Some(format!("one of {}", hex_join(&cfg.measurements, ", "))),
            "the launch measurement is not in the policy's measurements",
        );
    }
    if !cfg.id_key_digests.is_empty() && !cfg.id_key_digests.contains(&r.id_key_digest) {
        a.fail(
            Executables,
            cv::UNRECOGNIZED_RUNTIME,
            "id_key_digest",
            Some(hex::encode(r.id_key_digest)),
            Some(format!("one of {}", hex_join(&cfg.id_key_digests, ", "))),
            "the ID key digest is not in the policy's id_key_digests",
        );
    }
    if !cfg.author_key_digests.is_empty() && !cfg.author_key_digests.contains(&r.author_key_digest) {
        a.fail(
            Executables,
            cv::UNRECOGNIZED_RUNTIME,
            "author_key_digest",
            Some(hex::encode(r.author_key_digest)),
            Some(format!("one of {}", hex_join(&cfg.author_key_digests, ", "))),
            "the author key digest is not in the policy's author_key_digests",
        );
    }
    if let Some(min) = cfg.min_guest_svn.filter(|m| r.guest_svn < *m) {
        a.fail(
            Executables,
            cv::CONTRAINDICATED_RUNTIME,
            "guest_svn",
            Some(r.guest_svn.to_string()),
            Some(format!(">= {min}")),
            "the guest SVN is below the policy's minimum",
        );
    }
    if a.findings.len() == exec_before {
        a.set(Executables, cv::APPROVED_RUNTIME);
    }
    if cfg.min_guest_svn.is_none() {
        // No floor, as for sgx.min_isv_svn: an older, vulnerable build of
        // the same guest (same ID/author key) would pass unnoticed.
        let policy_id = a.policy_ids.first().cloned().unwrap_or_default();
        a.warn(
            Executables,
            cv::UNSAFE_RUNTIME,
            "guest_svn",
            Some(r.guest_svn.to_string()),
            format!(
                "snp.min_guest_svn not set in policy {policy_id}: any guest SVN accepted \
                 (set snp.min_guest_svn to the oldest guest version you accept)"
            ),
        );
    }
}

fn media_essence(m: &str) -> &str {
    m.split(';').next().unwrap_or("").trim()
}

impl Verifier for SnpVerifier {
    fn platform(&self) -> &'static str {
        "snp"
    }

    fn accepts_media_type(&self, media_type: &str) -> bool {
        let m = media_essence(media_type);
        m.eq_ignore_ascii_case(MEDIA_TYPE_REPORT) || m.eq_ignore_ascii_case(MEDIA_TYPE_ENVELOPE)
    }

    fn detect(&self, raw: &[u8]) -> bool {
        report::looks_like_report(raw)
    }

    fn appraise(&self, media_type: &str, evidence: &[u8], ctx: &AppraisalContext<'_>) -> Appraisal {
        let m = media_essence(media_type);
        if m.eq_ignore_ascii_case(MEDIA_TYPE_REPORT) {
            return self.appraise_report(evidence, EvidenceCerts::default(), ctx);
        }
        if !m.eq_ignore_ascii_case(MEDIA_TYPE_ENVELOPE) {
            return Appraisal::malfunction(
                ctx.policy_id,
                "media_type",
                format!("the SEV-SNP verifier does not appraise {media_type:?}"),
            );
        }
        let env = match decode_envelope(evidence) {
            Ok(e) => e,
            Err(e) => return Appraisal::malfunction(ctx.policy_id, "envelope", e.to_string()),
        };
        let entries = match env.certs.as_deref().map(parse_cert_table).transpose() {
            Ok(e) => e.unwrap_or_default(),
            Err(e) => return Appraisal::malfunction(ctx.policy_id, "cert_table", e.to_string()),
        };
        self.appraise_report(&env.report, EvidenceCerts::from_table(&entries), ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ear::Tier;

    const MEASUREMENT: &str =
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";

    /// A policy with every floor of the report set (min_guest_svn = 0), so
    /// that a clean report is affirming.
    fn cfg() -> SnpConfig {
        SnpConfig::from_policy(&SnpPolicy {
            measurements: vec![MEASUREMENT.into()],
            min_guest_svn: Some(0),
            ..Default::default()
        })
        .unwrap()
    }

    /// Guards the review's M4: `snp.min_guest_svn` unset was silent while
    /// `sgx.min_isv_svn` unset warns; now it is a warning naming the key
    /// (an explicit 0 is a deliberate "any version": no warning).
    #[test]
    fn min_guest_svn_unset_is_a_warning_naming_it() {
        let mut c = cfg();
        c.min_guest_svn = None;
        let a = run(&report(false, 0), &c);
        assert_eq!(a.status, Tier::Warning, "{:?}", a.findings);
        assert_eq!(claims(&a), ["guest_svn"]);
        assert!(
            a.findings[0].reason.contains("snp.min_guest_svn not set in policy p"),
            "{:?}",
            a.findings
        );
        assert_eq!(run(&report(false, 0), &cfg()).status, Tier::Affirming);
    }

    /// An unsigned report with chosen fields (the policy checks do not look
    /// at the signature).
    fn report(debug: bool, vmpl: u32) -> AttestationReport {
        let mut b = vec![0u8; report::REPORT_LEN];
        b[0] = 2;
        b[0x34] = 1;
        let policy: u64 = 0x30000 | if debug { 1 << 19 } else { 0 };
        b[0x08..0x10].copy_from_slice(&policy.to_le_bytes());
        b[0x30..0x34].copy_from_slice(&vmpl.to_le_bytes());
        b[0x50..0x90].copy_from_slice(&[7; 64]);
        b[0x90..0xC0].copy_from_slice(&hex::decode(MEASUREMENT).unwrap());
        b[0x1A0..0x1E0].copy_from_slice(&[0xcc; 64]);
        AttestationReport::parse(&b).unwrap()
    }

    fn run(r: &AttestationReport, c: &SnpConfig) -> Appraisal {
        let mut a = Appraisal::new("p");
        check_report_policy(r, c, None, &[7; 64], &mut a);
        a.finish()
    }

    fn claims(a: &Appraisal) -> Vec<&str> {
        a.findings.iter().map(|f| f.claim.as_str()).collect()
    }

    #[test]
    fn clean_report_passes_the_policy_checks() {
        let a = run(&report(false, 0), &cfg());
        assert_eq!(a.status, Tier::Affirming, "{:?}", a.findings);
    }

    #[test]
    fn debug_is_refused_unless_allowed_then_warned() {
        let a = run(&report(true, 0), &cfg());
        assert_eq!(a.status, Tier::Contraindicated);
        assert_eq!(claims(&a), ["debug"]);
        let mut c = cfg();
        c.allow_debug = true;
        let a = run(&report(true, 0), &c);
        assert_eq!(a.status, Tier::Warning, "{:?}", a.findings);
        assert_eq!(a.findings[0].tier, Tier::Warning);
        assert!(!a.trust_vector.contains_key(&TrustClaim::RuntimeOpaque));
    }

    /// `report(false, 0)` with guest policy bit 18 (MIGRATE_MA) set and
    /// REPORT_ID_MA `id_ma`.
    fn migratable(id_ma: [u8; 32]) -> AttestationReport {
        let mut b = report(false, 0).as_bytes().to_vec();
        b[0x08..0x10].copy_from_slice(&(0x30000u64 | 1 << 18).to_le_bytes());
        b[0x160..0x180].copy_from_slice(&id_ma);
        AttestationReport::parse(&b).unwrap()
    }

    /// Guards issue 8 point 3: guest policy bit 18 (a migration agent may
    /// export the guest's memory) was reported but never checked, so such
    /// a guest was affirming. Refused by default; allowed, a warning that
    /// says so; `report_id_ma` pins the agent.
    #[test]
    fn migration_agent_is_refused_unless_allowed_then_warned() {
        let r = migratable([0xff; 32]);
        assert!(r.policy.migrate_ma());
        let a = run(&r, &cfg());
        assert_eq!(a.status, Tier::Contraindicated, "{:?}", a.findings);
        assert_eq!(claims(&a), ["migrate_ma"]);
        assert!(
            a.findings[0].reason.contains("allow_migration_agent"),
            "{}",
            a.findings[0]
        );
        assert_eq!(a.trust_vector[&TrustClaim::Configuration], cv::UNSUPPORTABLE_CONFIG);

        let mut c = cfg();
        c.allow_migration_agent = true;
        let a = run(&r, &c);
        assert_eq!(a.status, Tier::Warning, "{:?}", a.findings);
        assert_eq!(claims(&a), ["migrate_ma"]);
        assert_eq!(a.findings[0].tier, Tier::Warning);
        assert!(
            a.findings[0]
                .reason
                .contains("allowed by policy p (allow_migration_agent = true)"),
            "{}",
            a.findings[0]
        );
        assert_eq!(a.trust_vector[&TrustClaim::Configuration], cv::UNSAFE_CONFIG);

        // Without bit 18 nothing is said.
        assert!(run(&report(false, 0), &cfg()).is_affirming());
    }

    #[test]
    fn report_id_ma_pin() {
        let mut c = cfg();
        c.allow_migration_agent = true;
        c.report_id_ma = Some([0xab; 32]);
        let a = run(&migratable([0xab; 32]), &c);
        assert_eq!(claims(&a), ["migrate_ma"]);
        assert_eq!(a.status, Tier::Warning);
        let a = run(&migratable([0xac; 32]), &c);
        assert_eq!(a.status, Tier::Contraindicated);
        assert_eq!(claims(&a), ["migrate_ma", "report_id_ma"]);
        assert_eq!(a.findings[1].expected.as_deref(), Some(&*"ab".repeat(32)));
        // The pin applies whether or not bit 18 is set (the report's field
        // is all ff without an agent).
        let mut c = cfg();
        c.report_id_ma = Some([0xff; 32]);
        assert_eq!(claims(&run(&report(false, 0), &c)), ["report_id_ma"]);
        let p = SnpPolicy {
            measurements: vec![MEASUREMENT.into()],
            report_id_ma: Some("ff".repeat(32)),
            allow_migration_agent: true,
            ..Default::default()
        };
        let parsed = SnpConfig::from_policy(&p).unwrap();
        assert_eq!(parsed.report_id_ma, Some([0xff; 32]));
        assert!(parsed.allow_migration_agent);
        let e = SnpConfig::from_policy(&SnpPolicy {
            report_id_ma: Some("ff".repeat(31)),
            ..p
        })
        .unwrap_err();
        assert!(
            matches!(&e, crate::policy::PolicyError::Value { key, .. } if key == "snp.report_id_ma"),
            "{e:?}"
        );
    }

    #[test]
    fn vmpl_measurement_report_data_and_allow_lists() {
        assert_eq!(claims(&run(&report(false, 1), &cfg())), ["vmpl"]);
        let mut c = cfg();
        c.vmpls = vec![0, 1];
        assert!(run(&report(false, 1), &c).is_affirming());

        let mut c = cfg();
        c.measurements = vec![[0; 48]];
        assert_eq!(claims(&run(&report(false, 0), &c)), ["measurement"]);

        let mut a = Appraisal::new("p");
        check_report_policy(&report(false, 0), &cfg(), None, &[8; 64], &mut a);
        assert_eq!(claims(&a.finish()), ["report_data"]);

        let mut c = cfg();
        c.chip_ids = vec![vec![0xcc; 64]];
        assert!(run(&report(false, 0), &c).is_affirming());
        c.chip_ids = vec![vec![0xdd; 64]];
        assert_eq!(claims(&run(&report(false, 0), &c)), ["chip_id"]);

        // An 8-byte entry (Turin hwID) matches only on a Turin chain.
        c.chip_ids = vec![vec![0xcc; 8]];
        let on = |p: Option<Product>| {
            let mut a = Appraisal::new("p");
            check_report_policy(&report(false, 0), &c, p, &[7; 64], &mut a);
            a.finish()
        };
        assert!(on(Some(Product::Turin)).is_affirming());
        for p in [Some(Product::Milan), Some(Product::Genoa), None] {
            let a = on(p);
            assert_eq!(claims(&a), ["chip_id"], "{p:?}");
            assert!(
                a.findings[0].reason.contains("only matches on Turin"),
                "{:?}",
                a.findings
            );
        }

        let mut c = cfg();
        c.host_data = vec![[1; 32]];
        c.id_key_digests = vec![[1; 48]];
        c.author_key_digests = vec![[1; 48]];
        c.min_guest_svn = Some(1);
        c.max_report_version = 2;
        let a = run(&report(false, 0), &c);
        assert_eq!(
            claims(&a),
            ["host_data", "id_key_digest", "author_key_digest", "guest_svn"]
        );
    }

    #[test]
    fn policy_values_are_validated() {
        let e = SnpConfig::from_policy(&SnpPolicy::default()).err().unwrap();
        assert!(
            matches!(&e, crate::policy::PolicyError::Value { key, reason } if key == "snp.measurements" && reason.contains("at least one")),
            "{e:?}"
        );
        let bad = |f: fn(&mut SnpPolicy)| {
            let mut p = SnpPolicy {
                measurements: vec![MEASUREMENT.into()],
                ..Default::default()
            };
            f(&mut p);
            SnpConfig::from_policy(&p).is_err()
        };
        assert!(bad(|p| p.measurements = vec!["00".into()]));
        assert!(bad(|p| p.chip_ids = vec!["00".repeat(10)]));
        assert!(bad(|p| p.vmpls = Some(vec![4])));
        assert!(bad(|p| p.vmpls = Some(vec![])));
        assert!(bad(|p| p.host_data = vec!["zz".into()]));
        assert!(bad(|p| p.max_report_version = Some(1)));
    }

    #[test]
    fn policy_toml_keys() {
        let p = Policy::from_toml(
            &format!(
                "id = \"x\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\nvmpl = [0, 2]\nproduct = \"turin\"\n\
                 min_tcb = {{ bootloader = 3, snp = 8 }}\n"
            ),
            std::path::Path::new("."),
        )
        .unwrap();
        let s = p.snp.as_ref().unwrap();
        assert_eq!(s.product, Some(Product::Turin));
        assert_eq!(s.vmpls, Some(vec![0, 2]));
        assert_eq!(s.min_tcb.snp, Some(8));
        assert!(p.appraiser().is_ok());
        let e = Policy::from_toml(
            &format!("id = \"x\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\nmin_tcb = {{ snpp = 1 }}\n"),
            std::path::Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("snpp"), "{e}");
    }

    #[test]
    fn builtin_roots_parse_and_self_verify() {
        for (ark, ask) in builtin_certs() {
            assert!(ark.is_self_issued());
            ark.verify_issued_by(ark).unwrap();
            ask.verify_issued_by(ark).unwrap();
        }
        // An ASK does not verify under another product's ARK, signature
        // alone (names aside).
        let b = builtin_certs();
        assert!(matches!(
            b[1].1.verify_signature_by(&b[0].0),
            Err(ChainError::BadSignature { .. })
        ));
    }

    #[test]
    fn unknown_keys_in_the_snp_section_are_refused() {
        let e = crate::policy::Policy::from_toml(
            &format!("id = \"x\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\nallow_debg = true\n"),
            std::path::Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("allow_debg"), "{e}");
    }
}
