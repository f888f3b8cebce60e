//! Per-quote DCAP verification against cached, pre-verified collateral.
//!
//! Per quote only what is quote-specific is done: the PCK leaf (parsed and
//! checked against its CA once, then cached by the hash of the PEM chain),
//! its revocation status, the QE report signature, the QE report data, the
//! QE identity, the quote signature and the TCB level matching.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use super::collateral::{CollateralCache, SvnLevel, TcbInfo, TcbLevel, TcbStatus, Tee, VerifiedCollateral, Window};
use super::pki::{self, Cert, SgxExtension};
use super::quote::{Body, Quote, TdReport, CERT_DATA_PCK_CHAIN, INTEL_QE_VENDOR_ID};
use crate::ear::claim_value;

/// AR4SI hardware value 96: genuine hardware with known vulnerabilities the
/// policy does not accept (contraindicated).
pub const HARDWARE_CONTRAINDICATED: i8 = 96;

/// At most this many PCK chains are cached; the cache is emptied when full.
pub const MAX_PCK_CACHE: usize = 4096;

/// One failed verification step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The claim or object (`collateral`, `pck_certificate`, `qe_report`,
    /// `qe_identity`, `signature`, `tcb_level`, `tcb_status`).
    pub claim: &'static str,
    /// AR4SI hardware value to record.
    pub hardware: i8,
    /// Why.
    pub reason: String,
}

impl Failure {
    fn new(claim: &'static str, reason: impl Into<String>) -> Self {
        Self {
            claim,
            hardware: claim_value::UNRECOGNIZED_HARDWARE,
            reason: reason.into(),
        }
    }

    fn tcb(reason: impl Into<String>) -> Self {
        Self {
            claim: "tcb_level",
            hardware: HARDWARE_CONTRAINDICATED,
            reason: reason.into(),
        }
    }
}

/// A parsed PCK chain leaf, cached by the SHA-256 of the PEM chain.
#[derive(Debug)]
pub struct PckEntry {
    /// The PCK leaf certificate.
    pub leaf: Cert,
    /// Its SGX extension.
    pub ext: SgxExtension,
    /// Fingerprint of the CA certificate the leaf signature was verified with.
    verified_by: OnceLock<[u8; 32]>,
}

/// The outcome of a successful cryptographic verification.
#[derive(Clone, Debug)]
pub struct Verified {
    /// Converged TCB status (platform, QE, TDX module, TD 1.5 relaunch).
    pub tcb_status: TcbStatus,
    /// Advisory IDs of the platform and QE levels.
    pub advisories: Vec<String>,
    /// Status of the matched platform level before convergence.
    pub platform_status: TcbStatus,
    /// Status of the QE.
    pub qe_status: TcbStatus,
    /// tcbDate of the matched platform level.
    pub tcb_date: String,
    /// The PCK leaf and its extension.
    pub pck: Arc<PckEntry>,
    /// The collateral used.
    pub collateral: Arc<VerifiedCollateral>,
}

/// The DCAP verification engine: the Intel root, verified collateral and the PCK cache.
#[derive(Debug)]
pub struct Engine {
    root: Cert,
    collateral: CollateralCache,
    pck_cache: RwLock<HashMap<[u8; 32], Arc<PckEntry>>>,
}

impl Engine {
    /// An engine over verified collateral.
    pub fn new(root: Cert, collateral: CollateralCache) -> Self {
        Self {
            root,
            collateral,
            pck_cache: RwLock::new(HashMap::new()),
        }
    }

    /// The Intel root certificate in use.
    pub fn root(&self) -> &Cert {
        &self.root
    }

    /// The collateral cache.
    pub fn collateral(&self) -> &CollateralCache {
        &self.collateral
    }

    fn pck_entry(&self, pem: &[u8]) -> Result<Arc<PckEntry>, Failure> {
        let key = pki::sha256(pem);
        if let Some(e) = self.pck_cache.read().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(e);
        }
        let chain =
            pki::parse_pem_chain(pem, "PCK chain").map_err(|e| Failure::new("pck_certificate", e.to_string()))?;
        let leaf = chain
            .into_iter()
            .next()
            .ok_or_else(|| Failure::new("pck_certificate", "empty PCK chain"))?;
        let ext_der = leaf
            .sgx_extension
            .as_deref()
            .ok_or_else(|| Failure::new("pck_certificate", "PCK certificate has no SGX extension"))?;
        let ext = SgxExtension::parse(ext_der).map_err(|e| Failure::new("pck_certificate", e.to_string()))?;
        let entry = Arc::new(PckEntry {
            leaf,
            ext,
            verified_by: OnceLock::new(),
        });
        if let Ok(mut m) = self.pck_cache.write() {
            if m.len() >= MAX_PCK_CACHE {
                m.clear();
            }
            m.insert(key, entry.clone());
        }
        Ok(entry)
    }

    /// Verifies a parsed quote at `now` (Unix seconds). Returns every
    /// failure of the first failing stage.
    pub fn verify(&self, q: &Quote<'_>, now: i64) -> Result<Verified, Vec<Failure>> {
        let one = |f: Failure| vec![f];
        let tee = if q.is_tdx() { Tee::Tdx } else { Tee::Sgx };
        if q.header.qe_vendor_id != INTEL_QE_VENDOR_ID {
            return Err(one(Failure::new(
                "qe_vendor_id",
                format!("unknown QE vendor id {}", hex::encode(q.header.qe_vendor_id)),
            )));
        }
        if q.pck_cert_data_type != CERT_DATA_PCK_CHAIN {
            return Err(one(Failure::new(
                "pck_certificate",
                format!(
                    "certification data type {} is not supported (expected 5, a PCK certificate chain)",
                    q.pck_cert_data_type
                ),
            )));
        }
        let pck = self.pck_entry(q.pck_cert_data).map_err(one)?;
        let fmspc = pck.ext.fmspc;
        let Some(col) = self.collateral.lookup(tee, &fmspc, now) else {
            return Err(one(Failure::new(
                "collateral",
                format!(
                    "no {tee} collateral for FMSPC {} among {} loaded collateral set(s)",
                    hex::encode(fmspc),
                    self.collateral.len()
                ),
            )));
        };

        // Time: every collateral window and the PCK leaf's validity.
        let mut time_failures: Vec<Failure> = col
            .time_failures(now)
            .into_iter()
            .map(|r| Failure::new("collateral", format!("{r} [{}]", col.source)))
            .collect();
        let leaf_window = Window {
            what: "PCK certificate".into(),
            not_before: pck.leaf.not_before,
            not_after: pck.leaf.not_after,
        };
        if let Some(r) = leaf_window.check(now) {
            time_failures.push(Failure::new("pck_certificate", r));
        }
        if !time_failures.is_empty() {
            return Err(time_failures);
        }

        // PCK leaf issued by the collateral's PCK CA (verified to the root at load).
        if pck.verified_by.get() != Some(&col.pck_ca_fingerprint) {
            pck.leaf
                .verify_issued_by(&col.pck_ca)
                .map_err(|e| Failure::new("pck_certificate", format!("PCK certificate chain: {e}")))
                .map_err(one)?;
            let _ = pck.verified_by.set(col.pck_ca_fingerprint);
        }
        // Revocation: the chosen set's CRL (valid at `now`, checked above) and
        // every other loaded PCK CRL of the same CA that is valid at `now`.
        // Otherwise a set whose CRL predates a revocation would hide it.
        let revoked_by = if col.pck_crl.revokes(&pck.leaf) {
            Some(col)
        } else {
            self.collateral.pck_revoked_by(&pck.leaf, now)
        };
        if let Some(by) = revoked_by {
            return Err(one(Failure::new(
                "pck_certificate",
                format!(
                    "PCK certificate serial {} is revoked by the PCK CRL [{}]",
                    hex::encode(&pck.leaf.serial),
                    by.source
                ),
            )));
        }
        if pck.ext.pceid != col.tcb_info.pce_id {
            return Err(one(Failure::new(
                "pck_certificate",
                format!(
                    "PCE-ID {} does not match the TCB info's {}",
                    hex::encode(&pck.ext.pceid),
                    hex::encode(&col.tcb_info.pce_id)
                ),
            )));
        }

        let qe_level = verify_signatures(q, &pck.leaf)
            .and_then(|()| check_qe_identity(q, &col.qe_identity))
            .map_err(one)?;

        // TCB level.
        let ext = &pck.ext;
        let (platform, current) = match &q.body {
            Body::Sgx(_) => (find_level(&col.tcb_info, ext, None).map_err(one)?.clone(), None),
            Body::Td(td) => {
                let launch = evaluate_tdx(&col.tcb_info, ext, &td.tee_tcb_svn).map_err(one)?;
                check_module_identity(&col.tcb_info, td).map_err(one)?;
                let current = match &td.tee_tcb_svn2 {
                    Some(svn2) => Some(evaluate_tdx(&col.tcb_info, ext, svn2).map_err(|mut f| {
                        f.reason = format!("current TCB (TEE_TCB_SVN2): {}", f.reason);
                        one(f)
                    })?),
                    None => None,
                };
                (launch, current)
            }
        };
        let mut status = platform.status.converge_with_component(qe_level.status);
        let mut advisories = platform.advisories.clone();
        for a in &qe_level.advisories {
            if !advisories.contains(a) {
                advisories.push(a.clone());
            }
        }
        let current_status = current.map(|c| c.status.converge_with_component(qe_level.status));
        if status == TcbStatus::Revoked || current_status == Some(TcbStatus::Revoked) {
            return Err(one(Failure::new("tcb_status", "TCB status is Revoked")));
        }
        if let Some(c) = current_status {
            status = status.check_for_relaunch(c);
        }
        Ok(Verified {
            tcb_status: status,
            advisories,
            platform_status: platform.status,
            qe_status: qe_level.status,
            tcb_date: platform.tcb_date.clone(),
            pck,
            collateral: col.clone(),
        })
    }
}

/// The signature checks of a quote that need no collateral: the QE report
/// signed by the PCK leaf key, the QE report data binding the attestation
/// key (`SHA-256(attestation key || QE authentication data)`, zero-padded),
/// and the quote signature by the attestation key over header and body.
/// [`Engine::verify`] runs them after the PCK chain; readers of formats
/// that carry no collateral (`crate::peers`) run them on their own.
pub fn verify_signatures(q: &Quote<'_>, pck_leaf: &Cert) -> Result<(), Failure> {
    pck_leaf
        .verify_raw(
            q.qe_report_raw,
            &q.qe_report_signature,
            "QE report (signed by the PCK key)",
        )
        .map_err(|e| Failure::new("qe_report", e.to_string()))?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&q.attestation_key);
    ctx.update(q.qe_auth_data);
    let digest = ctx.finish();
    let rd = &q.qe_report.report_data;
    if !crate::crypto::constant_time_eq(&rd[..32], digest.as_ref()) || rd[32..].iter().any(|b| *b != 0) {
        return Err(Failure::new(
            "qe_report",
            "QE report data is not SHA-256(attestation key || QE authentication data) zero-padded",
        ));
    }
    let mut key = [0x04u8; 65];
    key[1..].copy_from_slice(&q.attestation_key);
    pki::verify_p256_raw(&key, q.signed, &q.signature, "quote").map_err(|_| {
        Failure::new(
            "signature",
            "quote signature by the attestation key is invalid (header or body modified)",
        )
    })
}

fn check_qe_identity<'c>(q: &Quote<'_>, id: &'c super::collateral::QeIdentity) -> Result<&'c SvnLevel, Failure> {
    let r = &q.qe_report;
    let fail = |what: &str, observed: String, expected: String| {
        Failure::new(
            "qe_identity",
            format!("QE {what} {observed} does not match the QE identity ({expected})"),
        )
    };
    if r.mrsigner != id.mrsigner {
        return Err(fail("MRSIGNER", hex::encode(r.mrsigner), hex::encode(id.mrsigner)));
    }
    if r.isv_prod_id != id.isvprodid {
        return Err(fail("ISVPRODID", r.isv_prod_id.to_string(), id.isvprodid.to_string()));
    }
    if r.miscselect & id.miscselect_mask != id.miscselect & id.miscselect_mask {
        return Err(fail(
            "MISCSELECT",
            format!("{:08x}", r.miscselect),
            format!("{:08x} mask {:08x}", id.miscselect, id.miscselect_mask),
        ));
    }
    let attrs_ok = r
        .attributes
        .iter()
        .zip(&id.attributes)
        .zip(&id.attributes_mask)
        .all(|((a, e), m)| a & m == e & m);
    if !attrs_ok || r.debug() {
        return Err(fail(
            "ATTRIBUTES",
            hex::encode(r.attributes),
            format!(
                "{} mask {}",
                hex::encode(id.attributes),
                hex::encode(id.attributes_mask)
            ),
        ));
    }
    let level = id.levels.iter().find(|l| r.isv_svn >= l.isvsvn).ok_or_else(|| {
        Failure::new(
            "qe_identity",
            format!("QE ISVSVN {} is below every QE identity TCB level", r.isv_svn),
        )
    })?;
    use TcbStatus::*;
    if !matches!(
        level.status,
        UpToDate | OutOfDate | ConfigurationNeeded | Revoked | OutOfDateConfigurationNeeded
    ) {
        return Err(Failure::new(
            "qe_identity",
            format!("unrecognized TCB status {} in the QE identity", level.status),
        ));
    }
    Ok(level)
}

/// The first (highest) TCB level whose components the platform meets.
pub fn find_level<'c>(
    info: &'c TcbInfo,
    ext: &SgxExtension,
    tee_tcb_svn: Option<&[u8; 16]>,
) -> Result<&'c TcbLevel, Failure> {
    for level in &info.levels {
        let sgx_ok = ext
            .tcb_components
            .iter()
            .zip(&level.sgx)
            .all(|(have, need)| have >= need);
        let pce_ok = ext.pce_svn >= level.pce_svn;
        let tdx_ok = match (tee_tcb_svn, &level.tdx) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(svn), Some(need)) => {
                // A non-zero module version leaves components 0 and 1 to the
                // TDX module identity (Intel QVL).
                let skip = if svn[1] > 0 { 2 } else { 0 };
                svn.iter().zip(need).skip(skip).all(|(h, n)| h >= n)
            }
        };
        if sgx_ok && pce_ok && tdx_ok {
            use TcbStatus::*;
            if matches!(level.status, TDRelaunchAdvised | TDRelaunchAdvisedConfigurationNeeded) {
                return Err(Failure::tcb(format!(
                    "unrecognized TCB status {} in the TCB info",
                    level.status
                )));
            }
            return Ok(level);
        }
    }
    let tdx = tee_tcb_svn
        .map(|s| format!(", TEE_TCB_SVN {}", hex::encode(s)))
        .unwrap_or_default();
    Err(Failure::tcb(format!(
        "no matching TCB level: platform SGX components {}, PCESVN {}{} are below every level of the TCB info",
        hex::encode(ext.tcb_components),
        ext.pce_svn,
        tdx
    )))
}

fn module_identity<'c>(
    info: &'c TcbInfo,
    tee_tcb_svn: &[u8; 16],
) -> Result<Option<&'c super::collateral::TdxModule>, Failure> {
    let version = tee_tcb_svn[1];
    if version == 0 {
        return Ok(None);
    }
    let wanted = format!("TDX_{version:02X}");
    info.tdx_module_identities
        .iter()
        .find(|m| m.id.eq_ignore_ascii_case(&wanted))
        .map(Some)
        .ok_or_else(|| Failure::tcb(format!("no TDX module identity {wanted} in the TCB info")))
}

/// Platform level for `tee_tcb_svn`, converged with the TDX module level.
fn evaluate_tdx(info: &TcbInfo, ext: &SgxExtension, tee_tcb_svn: &[u8; 16]) -> Result<TcbLevel, Failure> {
    let mut level = find_level(info, ext, Some(tee_tcb_svn))?.clone();
    if let Some(module) = module_identity(info, tee_tcb_svn)? {
        let m = module
            .levels
            .iter()
            .find(|l| tee_tcb_svn[0] as u16 >= l.isvsvn)
            .ok_or_else(|| {
                Failure::tcb(format!(
                    "TDX module ISVSVN {} is below every level of module identity {}",
                    tee_tcb_svn[0], module.id
                ))
            })?;
        if !matches!(
            m.status,
            TcbStatus::UpToDate | TcbStatus::OutOfDate | TcbStatus::Revoked
        ) {
            return Err(Failure::tcb(format!("unrecognized TDX module TCB status {}", m.status)));
        }
        level.status = level.status.converge_with_component(m.status);
        for a in &m.advisories {
            if !level.advisories.contains(a) {
                level.advisories.push(a.clone());
            }
        }
    }
    Ok(level)
}

/// MRSIGNERSEAM and SEAMATTRIBUTES against the (versioned) TDX module identity.
fn check_module_identity(info: &TcbInfo, td: &TdReport) -> Result<(), Failure> {
    let expected = match module_identity(info, &td.tee_tcb_svn)? {
        Some(m) => m,
        None => info
            .tdx_module
            .as_ref()
            .ok_or_else(|| Failure::tcb("TDX TCB info has no tdxModule"))?,
    };
    if td.mrsignerseam != expected.mrsigner {
        return Err(Failure::new(
            "mrsignerseam",
            format!(
                "TDX module signer {} is not the expected {}",
                hex::encode(td.mrsignerseam),
                hex::encode(expected.mrsigner)
            ),
        ));
    }
    for ((a, e), m) in td
        .seam_attributes
        .iter()
        .zip(&expected.attributes)
        .zip(&expected.attributes_mask)
    {
        if a & m != e & m || a & !m != 0 {
            return Err(Failure::new(
                "seam_attributes",
                format!(
                    "SEAM attributes {} do not match {} (mask {})",
                    hex::encode(td.seam_attributes),
                    hex::encode(expected.attributes),
                    hex::encode(expected.attributes_mask)
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::dcap::collateral::VerifiedCollateral;

    const T: i64 = 1_751_328_000; // 2025-07-01T00:00:00Z

    fn vector(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../../vectors/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn collateral(path: &str) -> VerifiedCollateral {
        let text = String::from_utf8(vector(path)).unwrap();
        VerifiedCollateral::from_json(&text, path, &pki::intel_root().unwrap()).unwrap()
    }

    fn tdx() -> VerifiedCollateral {
        collateral("tdx/tdx_quote_collateral.json")
    }

    fn run(c: VerifiedCollateral, raw: &[u8]) -> Result<Verified, Vec<Failure>> {
        let mut cache = CollateralCache::new();
        cache.insert(c);
        let e = Engine::new(pki::intel_root().unwrap(), cache);
        e.verify(&Quote::parse(raw).unwrap(), T)
    }

    /// Expects a single failure of `claim` whose reason contains `needle`.
    fn refused(r: Result<Verified, Vec<Failure>>, claim: &str, needle: &str) {
        let f = r.expect_err("must be refused");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].claim, claim, "{f:?}");
        assert!(f[0].reason.contains(needle), "{f:?}");
    }

    // Offsets in tdx/tdx_quote (v4): signature data at 636.
    const ATT_KEY: usize = 700;
    const QE_REPORT: usize = 770;
    const QE_AUTH: usize = 1220;

    #[test]
    fn baseline_verifies_and_is_cached() {
        let raw = vector("tdx/tdx_quote");
        let mut cache = CollateralCache::new();
        cache.insert(tdx());
        let e = Engine::new(pki::intel_root().unwrap(), cache);
        let q = Quote::parse(&raw).unwrap();
        let v = e.verify(&q, T).unwrap();
        assert_eq!(v.tcb_status, TcbStatus::UpToDate);
        let again = e.verify(&q, T).unwrap();
        assert!(Arc::ptr_eq(&v.pck, &again.pck));
    }

    #[test]
    fn qe_identity_mismatches_are_refused() {
        let raw = vector("tdx/tdx_quote");
        let mut c = tdx();
        c.qe_identity.mrsigner[0] ^= 1;
        refused(run(c, &raw), "qe_identity", "MRSIGNER");
        let mut c = tdx();
        c.qe_identity.isvprodid += 1;
        refused(run(c, &raw), "qe_identity", "ISVPRODID");
        let mut c = tdx();
        c.qe_identity.miscselect ^= 1;
        refused(run(c, &raw), "qe_identity", "MISCSELECT");
        let mut c = tdx();
        c.qe_identity.attributes[0] ^= 0x10;
        refused(run(c, &raw), "qe_identity", "ATTRIBUTES");
        let mut c = tdx();
        for l in &mut c.qe_identity.levels {
            l.isvsvn = 1000;
        }
        refused(run(c, &raw), "qe_identity", "below every QE identity TCB level");
        // An out-of-date QE makes the whole TCB out of date.
        let mut c = tdx();
        c.qe_identity.levels[0].status = TcbStatus::OutOfDate;
        assert_eq!(run(c, &raw).unwrap().tcb_status, TcbStatus::OutOfDate);
    }

    #[test]
    fn pck_checks_are_enforced() {
        let raw = vector("tdx/tdx_quote");
        let leaf_serial = {
            let q = Quote::parse(&raw).unwrap();
            pki::parse_pem_chain(q.pck_cert_data, "pck").unwrap()[0].serial.clone()
        };
        let mut c = tdx();
        c.pck_crl.revoked.insert(leaf_serial);
        refused(run(c, &raw), "pck_certificate", "revoked by the PCK CRL");
        // A PCK CA that did not issue the leaf.
        let mut c = tdx();
        c.pck_ca = pki::intel_root().unwrap();
        c.pck_ca_fingerprint = c.pck_ca.fingerprint();
        refused(run(c, &raw), "pck_certificate", "is not issued by");
        let mut c = tdx();
        c.tcb_info.pce_id = vec![1, 0];
        refused(run(c, &raw), "pck_certificate", "PCE-ID");
    }

    #[test]
    fn qe_report_and_attestation_key_are_bound() {
        let mut raw = vector("tdx/tdx_quote");
        raw[QE_AUTH] ^= 1;
        refused(run(tdx(), &raw), "qe_report", "QE report data");
        let mut raw = vector("tdx/tdx_quote");
        raw[ATT_KEY + 5] ^= 1;
        refused(run(tdx(), &raw), "qe_report", "QE report data");
        let mut raw = vector("tdx/tdx_quote");
        raw[QE_REPORT + 320 + 40] ^= 1; // a byte of the QE report's report data
        refused(run(tdx(), &raw), "qe_report", "signature is invalid");
    }

    #[test]
    fn tcb_rules_are_enforced() {
        let raw = vector("tdx/tdx_quote");
        let mut c = tdx();
        for m in &mut c.tcb_info.tdx_module_identities {
            m.mrsigner[0] = 1;
        }
        refused(run(c, &raw), "mrsignerseam", "TDX module signer");
        let mut c = tdx();
        for m in &mut c.tcb_info.tdx_module_identities {
            m.attributes_mask = [0; 8];
            m.attributes = [0; 8];
        }
        // Mask 0: SEAM attributes 0 still match (no bits outside the mask set).
        assert!(run(c, &raw).is_ok());
        let mut c = tdx();
        for m in &mut c.tcb_info.tdx_module_identities {
            for l in &mut m.levels {
                l.isvsvn = 200;
            }
        }
        refused(run(c, &raw), "tcb_level", "TDX module ISVSVN");
        let mut c = tdx();
        c.tcb_info.tdx_module_identities.clear();
        refused(run(c, &raw), "tcb_level", "no TDX module identity TDX_01");
        let mut c = tdx();
        c.tcb_info.levels.retain(|l| l.status != TcbStatus::UpToDate);
        assert_eq!(run(c, &raw).unwrap().tcb_status, TcbStatus::OutOfDate);
        let mut c = tdx();
        c.tcb_info.levels[0].status = TcbStatus::Revoked;
        refused(run(c, &raw), "tcb_status", "Revoked");
        let mut c = tdx();
        for l in &mut c.tcb_info.levels {
            l.pce_svn = 1000;
        }
        refused(run(c, &raw), "tcb_level", "no matching TCB level");
        // A module update that makes the module out of date.
        let mut c = tdx();
        for m in &mut c.tcb_info.tdx_module_identities {
            m.levels.retain(|l| l.status == TcbStatus::OutOfDate);
        }
        assert_eq!(run(c, &raw).unwrap().tcb_status, TcbStatus::OutOfDate);
    }

    #[test]
    fn unknown_vendor_and_cert_type_are_refused() {
        let mut raw = vector("tdx/tdx_quote");
        raw[12] ^= 1;
        refused(run(tdx(), &raw), "qe_vendor_id", "unknown QE vendor id");
        let mut raw = vector("tdx/tdx_quote");
        // Inner certification data type (after the 32-byte auth data).
        raw[QE_AUTH + 32] = 4;
        refused(run(tdx(), &raw), "pck_certificate", "certification data type 4");
    }
}
