//! DCAP collateral: loading, verifying once, caching by (TEE type, FMSPC).
//!
//! The file format is dcap-qvl's `QuoteCollateralV3` JSON: `tcb_info` and
//! `qe_identity` are the exact signed JSON strings, signatures are hex
//! (raw r || s), CRLs are hex DER, issuer chains are PEM. Verification at
//! load time is independent of the clock: signatures, issuers, revocation
//! of the signing certificates. What depends on the time is recorded as
//! validity [`Window`]s and checked against the appraisal time per quote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::pki::{self, Cert, Crl, PkiError};

/// Which TEE a piece of collateral (or a quote) is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tee {
    /// Intel SGX.
    Sgx,
    /// Intel TDX.
    Tdx,
}

impl std::fmt::Display for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tee::Sgx => "SGX",
            Tee::Tdx => "TDX",
        })
    }
}

/// Why collateral could not be loaded or verified.
#[derive(Debug, thiserror::Error)]
pub enum CollateralError {
    /// File or directory could not be read.
    #[error("cannot read collateral {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not collateral JSON.
    #[error("collateral {source_name} is not valid collateral JSON: {reason}")]
    Json {
        /// Where it came from.
        source_name: String,
        /// Parser message.
        reason: String,
    },
    /// A field is present but malformed.
    #[error("collateral {source_name}: field {field} is invalid: {reason}")]
    Field {
        /// Where it came from.
        source_name: String,
        /// The field.
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// A signature, issuer or revocation check failed.
    #[error("collateral {source_name}: {error}")]
    Pki {
        /// Where it came from.
        source_name: String,
        /// The failure.
        error: PkiError,
    },
    /// A signing certificate is revoked.
    #[error("collateral {source_name}: {what} is revoked by the Intel root CA CRL")]
    Revoked {
        /// Where it came from.
        source_name: String,
        /// The certificate.
        what: String,
    },
}

/// The JSON layout (dcap-qvl `QuoteCollateralV3`).
#[derive(Deserialize)]
struct CollateralJson {
    pck_crl_issuer_chain: String,
    root_ca_crl: String,
    pck_crl: String,
    tcb_info_issuer_chain: String,
    tcb_info: String,
    tcb_info_signature: String,
    qe_identity_issuer_chain: String,
    qe_identity: String,
    qe_identity_signature: String,
    #[serde(default)]
    pck_certificate_chain: Option<String>,
}

/// TCB status of a TCB level, the QE or the TDX module (Intel's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum TcbStatus {
    /// Fully patched.
    UpToDate,
    /// Patched, but software mitigations are needed.
    SWHardeningNeeded,
    /// Platform configuration needed.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// Not patched.
    OutOfDate,
    /// Not patched, and configuration needed.
    OutOfDateConfigurationNeeded,
    /// Keys revoked.
    Revoked,
    /// TD 1.5: launched on an out-of-date TCB, current TCB is fine.
    TDRelaunchAdvised,
    /// As above, with configuration needed.
    TDRelaunchAdvisedConfigurationNeeded,
}

impl TcbStatus {
    /// Intel's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::SWHardeningNeeded => "SWHardeningNeeded",
            Self::ConfigurationNeeded => "ConfigurationNeeded",
            Self::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            Self::OutOfDate => "OutOfDate",
            Self::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            Self::Revoked => "Revoked",
            Self::TDRelaunchAdvised => "TDRelaunchAdvised",
            Self::TDRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
        }
    }

    /// Parses Intel's name.
    pub fn from_name(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }

    /// Intel QVL `convergeTcbStatuses`: only an OutOfDate or Revoked
    /// component (QE, TDX module) changes the platform status.
    pub fn converge_with_component(self, component: TcbStatus) -> TcbStatus {
        use TcbStatus::*;
        match (component, self) {
            (Revoked, _) => Revoked,
            (OutOfDate, UpToDate | SWHardeningNeeded) => OutOfDate,
            (OutOfDate, ConfigurationNeeded | ConfigurationAndSWHardeningNeeded) => OutOfDateConfigurationNeeded,
            _ => self,
        }
    }

    /// Intel QVL `checkForRelaunch` for a TD 1.5 (launch vs current TCB).
    pub fn check_for_relaunch(self, current: TcbStatus) -> TcbStatus {
        use TcbStatus::*;
        let cfg = |s| {
            matches!(
                s,
                ConfigurationNeeded
                    | OutOfDateConfigurationNeeded
                    | ConfigurationAndSWHardeningNeeded
                    | TDRelaunchAdvisedConfigurationNeeded
            )
        };
        match (self, current) {
            (
                OutOfDate | OutOfDateConfigurationNeeded,
                UpToDate | SWHardeningNeeded | ConfigurationNeeded | ConfigurationAndSWHardeningNeeded,
            ) => {
                if cfg(self) || cfg(current) {
                    TDRelaunchAdvisedConfigurationNeeded
                } else {
                    TDRelaunchAdvised
                }
            }
            _ => self,
        }
    }
}

impl std::fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Deserialize)]
struct SvnJson {
    svn: u8,
}

#[derive(Deserialize)]
struct TcbJson {
    sgxtcbcomponents: Vec<SvnJson>,
    pcesvn: u16,
    #[serde(default)]
    tdxtcbcomponents: Option<Vec<SvnJson>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbLevelJson {
    tcb: TcbJson,
    tcb_date: String,
    tcb_status: TcbStatus,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TdxModuleJson {
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
}

#[derive(Deserialize)]
struct IsvSvnJson {
    isvsvn: u16,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SvnLevelJson {
    tcb: IsvSvnJson,
    tcb_status: TcbStatus,
    #[serde(rename = "advisoryIDs", default)]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TdxModuleIdentityJson {
    id: String,
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
    tcb_levels: Vec<SvnLevelJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfoJson {
    #[serde(default)]
    id: Option<String>,
    version: u8,
    issue_date: String,
    next_update: String,
    fmspc: String,
    pce_id: String,
    tcb_evaluation_data_number: u32,
    tcb_levels: Vec<TcbLevelJson>,
    #[serde(default)]
    tdx_module: Option<TdxModuleJson>,
    #[serde(default)]
    tdx_module_identities: Vec<TdxModuleIdentityJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QeIdentityJson {
    id: String,
    version: u8,
    issue_date: String,
    next_update: String,
    tcb_evaluation_data_number: u32,
    miscselect: String,
    miscselect_mask: String,
    attributes: String,
    attributes_mask: String,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<SvnLevelJson>,
}

/// A platform TCB level of the TCB info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcbLevel {
    /// Minimum SGX TCB components.
    pub sgx: [u8; 16],
    /// Minimum PCESVN.
    pub pce_svn: u16,
    /// Minimum TDX TCB components (TDX TCB info only).
    pub tdx: Option<[u8; 16]>,
    /// tcbDate.
    pub tcb_date: String,
    /// Status of platforms at this level.
    pub status: TcbStatus,
    /// Intel security advisories.
    pub advisories: Vec<String>,
}

/// A level of an ISVSVN-ordered list (QE identity, TDX module identity).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SvnLevel {
    /// Minimum ISVSVN.
    pub isvsvn: u16,
    /// Status at this level.
    pub status: TcbStatus,
    /// Advisories.
    pub advisories: Vec<String>,
}

/// Expected TDX module signer and attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TdxModule {
    /// `TDX_xx` id (empty for the base `tdxModule`).
    pub id: String,
    /// Expected MRSIGNERSEAM.
    pub mrsigner: [u8; 48],
    /// Expected SEAMATTRIBUTES.
    pub attributes: [u8; 8],
    /// Mask applied to SEAMATTRIBUTES.
    pub attributes_mask: [u8; 8],
    /// Module TCB levels (module identities only).
    pub levels: Vec<SvnLevel>,
}

/// Verified, parsed TCB info.
#[derive(Clone, Debug)]
pub struct TcbInfo {
    /// SGX or TDX.
    pub tee: Tee,
    /// FMSPC.
    pub fmspc: [u8; 6],
    /// PCE-ID.
    pub pce_id: Vec<u8>,
    /// issueDate (Unix seconds).
    pub issue_date: i64,
    /// nextUpdate (Unix seconds).
    pub next_update: i64,
    /// tcbEvaluationDataNumber.
    pub eval_number: u32,
    /// Levels in Intel QVL's canonical order (highest first).
    pub levels: Vec<TcbLevel>,
    /// Base TDX module identity.
    pub tdx_module: Option<TdxModule>,
    /// TDX module identities by version.
    pub tdx_module_identities: Vec<TdxModule>,
}

/// Verified, parsed QE identity.
#[derive(Clone, Debug)]
pub struct QeIdentity {
    /// `QE` or `TD_QE`.
    pub id: String,
    /// issueDate.
    pub issue_date: i64,
    /// nextUpdate.
    pub next_update: i64,
    /// tcbEvaluationDataNumber (orders successive QE identities).
    pub eval_number: u32,
    /// Expected MISCSELECT.
    pub miscselect: u32,
    /// MISCSELECT mask.
    pub miscselect_mask: u32,
    /// Expected ATTRIBUTES.
    pub attributes: [u8; 16],
    /// ATTRIBUTES mask.
    pub attributes_mask: [u8; 16],
    /// Expected MRSIGNER.
    pub mrsigner: [u8; 32],
    /// Expected ISVPRODID.
    pub isvprodid: u16,
    /// QE TCB levels (highest ISVSVN first).
    pub levels: Vec<SvnLevel>,
}

/// A time window in which one piece of collateral is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// What it is ("PCK CRL", "TCB info", ...).
    pub what: String,
    /// Valid from (Unix seconds, inclusive).
    pub not_before: i64,
    /// Valid until (Unix seconds, inclusive).
    pub not_after: i64,
}

impl Window {
    /// Why `now` is outside this window, or `None` when inside.
    pub fn check(&self, now: i64) -> Option<String> {
        if now < self.not_before {
            Some(format!(
                "{} is not yet valid at {} (valid from {})",
                self.what,
                fmt_time(now),
                fmt_time(self.not_before)
            ))
        } else if now > self.not_after {
            Some(format!(
                "{} expired at {} (verification time {})",
                self.what,
                fmt_time(self.not_after),
                fmt_time(now)
            ))
        } else {
            None
        }
    }
}

/// RFC 3339 rendering of Unix seconds.
pub fn fmt_time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

/// One collateral set, verified (signatures, issuers, revocation of the
/// signing certificates) and parsed.
#[derive(Debug)]
pub struct VerifiedCollateral {
    /// Where it was loaded from.
    pub source: String,
    /// TCB info.
    pub tcb_info: TcbInfo,
    /// QE identity.
    pub qe_identity: QeIdentity,
    /// The PCK CA (Platform or Processor CA) that issued the PCK CRL, verified to the root.
    pub pck_ca: Cert,
    /// SHA-256 of the PCK CA certificate.
    pub pck_ca_fingerprint: [u8; 32],
    /// The PCK CRL.
    pub pck_crl: Crl,
    /// Every validity window that must contain the verification time.
    pub windows: Vec<Window>,
    /// A PCK chain supplied with the collateral (`pck_certificate_chain`).
    /// Only kept: the verifier never uses it, because quotes whose
    /// certification data is not a PCK chain (type 5) are refused.
    pub pck_chain_pem: Option<String>,
}

impl VerifiedCollateral {
    /// The TEE this collateral is for.
    pub fn tee(&self) -> Tee {
        self.tcb_info.tee
    }

    /// Every reason why `now` is outside the collateral's validity.
    pub fn time_failures(&self, now: i64) -> Vec<String> {
        self.windows.iter().filter_map(|w| w.check(now)).collect()
    }
}

fn parse_time(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    hex::decode(s).ok()?.try_into().ok()
}

impl VerifiedCollateral {
    /// Parses and verifies one collateral JSON document against the Intel root.
    pub fn from_json(text: &str, source: &str, root: &Cert) -> Result<Self, CollateralError> {
        let field = |field: &str, reason: String| CollateralError::Field {
            source_name: source.into(),
            field: field.into(),
            reason,
        };
        let pki = |error: PkiError| CollateralError::Pki {
            source_name: source.into(),
            error,
        };
        let c: CollateralJson = serde_json::from_str(text).map_err(|e| CollateralError::Json {
            source_name: source.into(),
            reason: e.to_string(),
        })?;
        let unhex = |name: &str, v: &str| hex::decode(v.trim()).map_err(|e| field(name, format!("not hex: {e}")));
        let mut windows = vec![Window {
            what: "Intel SGX Root CA certificate".into(),
            not_before: root.not_before,
            not_after: root.not_after,
        }];

        // Root CA CRL, signed by the root.
        let root_crl = Crl::from_der(&unhex("root_ca_crl", &c.root_ca_crl)?, "root CA CRL").map_err(pki)?;
        root_crl.verify_issued_by(root).map_err(pki)?;
        windows.push(Window {
            what: "root CA CRL".into(),
            not_before: root_crl.this_update,
            not_after: root_crl.next_update,
        });

        // A certificate directly under the root, not revoked by the root CRL.
        let signer = |chain_pem: &str, what: &str, windows: &mut Vec<Window>| -> Result<Cert, CollateralError> {
            let chain = pki::parse_pem_chain(chain_pem.as_bytes(), what).map_err(pki)?;
            let leaf = chain
                .into_iter()
                .next()
                .ok_or_else(|| field(what, "empty chain".into()))?;
            leaf.verify_issued_by(root).map_err(pki)?;
            if root_crl.revokes(&leaf) {
                return Err(CollateralError::Revoked {
                    source_name: source.into(),
                    what: format!("{what} certificate {:?}", leaf.subject_str),
                });
            }
            windows.push(Window {
                what: format!("{what} certificate ({})", leaf.subject_str),
                not_before: leaf.not_before,
                not_after: leaf.not_after,
            });
            Ok(leaf)
        };

        // TCB info, signed by the TCB signing certificate.
        let tcb_signer = signer(&c.tcb_info_issuer_chain, "TCB info signing", &mut windows)?;
        let sig = unhex("tcb_info_signature", &c.tcb_info_signature)?;
        tcb_signer
            .verify_raw(c.tcb_info.as_bytes(), &sig, "TCB info")
            .map_err(pki)?;
        let tcb_info = parse_tcb_info(&c.tcb_info).map_err(|r| field("tcb_info", r))?;
        windows.push(Window {
            what: "TCB info".into(),
            not_before: tcb_info.issue_date,
            not_after: tcb_info.next_update,
        });

        // QE identity.
        let qe_signer = if c.qe_identity_issuer_chain == c.tcb_info_issuer_chain {
            tcb_signer
        } else {
            signer(&c.qe_identity_issuer_chain, "QE identity signing", &mut windows)?
        };
        let sig = unhex("qe_identity_signature", &c.qe_identity_signature)?;
        qe_signer
            .verify_raw(c.qe_identity.as_bytes(), &sig, "QE identity")
            .map_err(pki)?;
        let qe_identity = parse_qe_identity(&c.qe_identity).map_err(|r| field("qe_identity", r))?;
        windows.push(Window {
            what: "QE identity".into(),
            not_before: qe_identity.issue_date,
            not_after: qe_identity.next_update,
        });
        let qe_ok = match tcb_info.tee {
            Tee::Sgx => qe_identity.id == "QE",
            Tee::Tdx => qe_identity.id == "TD_QE",
        };
        if !qe_ok {
            return Err(field(
                "qe_identity",
                format!("id {:?} does not belong to {} TCB info", qe_identity.id, tcb_info.tee),
            ));
        }

        // PCK CA and PCK CRL.
        let pck_ca = signer(&c.pck_crl_issuer_chain, "PCK CA", &mut windows)?;
        let pck_crl = Crl::from_der(&unhex("pck_crl", &c.pck_crl)?, "PCK CRL").map_err(pki)?;
        pck_crl.verify_issued_by(&pck_ca).map_err(pki)?;
        windows.push(Window {
            what: "PCK CRL".into(),
            not_before: pck_crl.this_update,
            not_after: pck_crl.next_update,
        });

        Ok(Self {
            source: source.into(),
            pck_ca_fingerprint: pck_ca.fingerprint(),
            tcb_info,
            qe_identity,
            pck_ca,
            pck_crl,
            windows,
            pck_chain_pem: c.pck_certificate_chain,
        })
    }
}

fn parse_svn_levels(levels: Vec<SvnLevelJson>) -> Vec<SvnLevel> {
    let mut out: Vec<SvnLevel> = levels
        .into_iter()
        .map(|l| SvnLevel {
            isvsvn: l.tcb.isvsvn,
            status: l.tcb_status,
            advisories: l.advisory_ids,
        })
        .collect();
    out.sort_by_key(|l| std::cmp::Reverse(l.isvsvn));
    out
}

fn components(v: &[SvnJson], what: &str) -> Result<[u8; 16], String> {
    if v.len() != 16 {
        return Err(format!("{what} has {} components, expected 16", v.len()));
    }
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().zip(v) {
        *o = c.svn;
    }
    Ok(out)
}

fn parse_module(m: &TdxModuleJson, id: &str, levels: Vec<SvnLevel>) -> Result<TdxModule, String> {
    Ok(TdxModule {
        id: id.to_string(),
        mrsigner: hex_array(&m.mrsigner).ok_or("tdxModule mrsigner is not 48 hex bytes")?,
        attributes: hex_array(&m.attributes).ok_or("tdxModule attributes is not 8 hex bytes")?,
        attributes_mask: hex_array(&m.attributes_mask).ok_or("tdxModule attributesMask is not 8 hex bytes")?,
        levels,
    })
}

/// Parses the `tcbInfo` object of a TCB info document (version 3, SGX or
/// TDX). Its signature must have been checked by the caller.
pub fn parse_tcb_info(text: &str) -> Result<TcbInfo, String> {
    let j: TcbInfoJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let tee = match (j.id.as_deref(), j.version) {
        (Some("SGX"), 3) => Tee::Sgx,
        (Some("TDX"), 3) => Tee::Tdx,
        (id, v) => {
            return Err(format!(
                "unsupported TCB info id {id:?} version {v} (expected SGX or TDX, version 3)"
            ))
        }
    };
    let mut levels = Vec::with_capacity(j.tcb_levels.len());
    for l in &j.tcb_levels {
        let tdx = match (&l.tcb.tdxtcbcomponents, tee) {
            (Some(c), Tee::Tdx) => Some(components(c, "tdxtcbcomponents")?),
            (None, Tee::Tdx) => return Err("TDX TCB level without tdxtcbcomponents".into()),
            (_, Tee::Sgx) => None,
        };
        levels.push(TcbLevel {
            sgx: components(&l.tcb.sgxtcbcomponents, "sgxtcbcomponents")?,
            pce_svn: l.tcb.pcesvn,
            tdx,
            tcb_date: l.tcb_date.clone(),
            status: l.tcb_status,
            advisories: l.advisory_ids.clone(),
        });
    }
    // Intel QVL's canonical order: SGX components, then PCESVN, then TDX
    // components, highest first.
    levels.sort_by(|a, b| {
        b.sgx
            .cmp(&a.sgx)
            .then_with(|| b.pce_svn.cmp(&a.pce_svn))
            .then_with(|| b.tdx.cmp(&a.tdx))
    });
    let tdx_module = match (&j.tdx_module, tee) {
        (Some(m), _) => Some(parse_module(m, "", Vec::new())?),
        (None, Tee::Tdx) => return Err("TDX TCB info without tdxModule".into()),
        (None, Tee::Sgx) => None,
    };
    let mut tdx_module_identities = Vec::new();
    for m in j.tdx_module_identities {
        let base = TdxModuleJson {
            mrsigner: m.mrsigner,
            attributes: m.attributes,
            attributes_mask: m.attributes_mask,
        };
        tdx_module_identities.push(parse_module(&base, &m.id, parse_svn_levels(m.tcb_levels))?);
    }
    Ok(TcbInfo {
        tee,
        fmspc: hex_array(&j.fmspc).ok_or("fmspc is not 6 hex bytes")?,
        pce_id: hex::decode(&j.pce_id).map_err(|e| format!("pceId: {e}"))?,
        issue_date: parse_time(&j.issue_date).ok_or("issueDate is not RFC 3339")?,
        next_update: parse_time(&j.next_update).ok_or("nextUpdate is not RFC 3339")?,
        eval_number: j.tcb_evaluation_data_number,
        levels,
        tdx_module,
        tdx_module_identities,
    })
}

fn parse_qe_identity(text: &str) -> Result<QeIdentity, String> {
    let j: QeIdentityJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if !matches!((j.id.as_str(), j.version), ("QE", 2) | ("TD_QE", 2 | 3)) {
        return Err(format!("unsupported QE identity id {:?} version {}", j.id, j.version));
    }
    Ok(QeIdentity {
        eval_number: j.tcb_evaluation_data_number,
        issue_date: parse_time(&j.issue_date).ok_or("issueDate is not RFC 3339")?,
        next_update: parse_time(&j.next_update).ok_or("nextUpdate is not RFC 3339")?,
        miscselect: u32::from_le_bytes(hex_array(&j.miscselect).ok_or("miscselect is not 4 hex bytes")?),
        miscselect_mask: u32::from_le_bytes(hex_array(&j.miscselect_mask).ok_or("miscselectMask is not 4 hex bytes")?),
        attributes: hex_array(&j.attributes).ok_or("attributes is not 16 hex bytes")?,
        attributes_mask: hex_array(&j.attributes_mask).ok_or("attributesMask is not 16 hex bytes")?,
        mrsigner: hex_array(&j.mrsigner).ok_or("mrsigner is not 32 hex bytes")?,
        isvprodid: j.isvprodid,
        levels: parse_svn_levels(j.tcb_levels),
        id: j.id,
    })
}

/// Verified collateral indexed by (TEE, FMSPC). Several sets may share a key
/// (e.g. successive downloads); the newest one valid at the verification time
/// wins (see [`CollateralCache::lookup`]).
#[derive(Debug, Default)]
pub struct CollateralCache {
    entries: HashMap<(Tee, [u8; 6]), Vec<Arc<VerifiedCollateral>>>,
    sources: Vec<String>,
}

/// At most this many collateral files are read from one directory.
pub const MAX_COLLATERAL_FILES: usize = 1024;

impl CollateralCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads a collateral file, or every `*.json` file of a directory.
    pub fn load_path(&mut self, path: &Path, root: &Cert) -> Result<usize, CollateralError> {
        let io = |source| CollateralError::Io {
            path: path.to_path_buf(),
            source,
        };
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
                .take(MAX_COLLATERAL_FILES)
                .collect();
            files.sort();
            let n = files.len();
            for f in files {
                self.load_file(&f, root)?;
            }
            Ok(n)
        } else {
            self.load_file(path, root)?;
            Ok(1)
        }
    }

    fn load_file(&mut self, path: &Path, root: &Cert) -> Result<(), CollateralError> {
        let text =
            crate::fsutil::read_bounded_to_string(path, crate::fsutil::MAX_BUNDLE_FILE_LEN).map_err(|source| {
                CollateralError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        self.insert(VerifiedCollateral::from_json(&text, &path.display().to_string(), root)?);
        Ok(())
    }

    /// Adds verified collateral.
    pub fn insert(&mut self, c: VerifiedCollateral) {
        self.sources.push(c.source.clone());
        self.entries
            .entry((c.tee(), c.tcb_info.fmspc))
            .or_default()
            .push(Arc::new(c));
    }

    /// Number of collateral sets.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// True when nothing is loaded.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The collateral for (tee, fmspc) to verify a quote with at `now`.
    ///
    /// Among the sets whose windows all contain `now`, the newest wins (see
    /// [`VerifiedCollateral::newness`]); if none is valid at `now`, the
    /// newest set overall is returned and the caller reports its time
    /// failures. The choice depends only on the sets, not on the order they
    /// were loaded in: the first valid set in load (file-name) order could be
    /// an older download that predates a revocation or a TCB recovery.
    pub fn lookup(&self, tee: Tee, fmspc: &[u8; 6], now: i64) -> Option<&Arc<VerifiedCollateral>> {
        let list = self.entries.get(&(tee, *fmspc))?;
        let newest = |a: &&Arc<VerifiedCollateral>, b: &&Arc<VerifiedCollateral>| a.newness().cmp(&b.newness());
        list.iter()
            .filter(|c| c.time_failures(now).is_empty())
            .max_by(newest)
            .or_else(|| list.iter().max_by(newest))
    }

    /// The first loaded set (in [`VerifiedCollateral::newness`] order,
    /// newest first) whose PCK CRL is valid at `now`, has the issuer of
    /// `cert` and lists `cert` as revoked.
    ///
    /// Every loaded set is consulted, whatever its TEE or FMSPC: a PCK CRL
    /// belongs to the PCK CA, not to a platform, so a revocation published in
    /// any currently valid CRL of that CA must refuse the certificate even if
    /// another (older or newer) set's CRL does not list it yet.
    pub fn pck_revoked_by(&self, cert: &Cert, now: i64) -> Option<&Arc<VerifiedCollateral>> {
        self.entries
            .values()
            .flatten()
            .filter(|c| c.pck_crl_valid_at(now) && c.pck_crl.revokes(cert))
            .max_by(|a, b| a.newness().cmp(&b.newness()))
    }
}

impl VerifiedCollateral {
    /// The key that orders sets for the same (TEE, FMSPC) from oldest to
    /// newest: TCB info tcbEvaluationDataNumber, QE identity
    /// tcbEvaluationDataNumber, TCB info issueDate, QE identity issueDate,
    /// PCK CRL thisUpdate, and finally the source name so that the order is
    /// total and independent of load order.
    pub fn newness(&self) -> (u32, u32, i64, i64, i64, &str) {
        (
            self.tcb_info.eval_number,
            self.qe_identity.eval_number,
            self.tcb_info.issue_date,
            self.qe_identity.issue_date,
            self.pck_crl.this_update,
            &self.source,
        )
    }

    /// Whether this set's PCK CRL may be relied on at `now`: the CRL's
    /// `thisUpdate..nextUpdate` and its issuing PCK CA certificate's
    /// validity contain `now` (both verified to the root at load).
    pub fn pck_crl_valid_at(&self, now: i64) -> bool {
        (self.pck_crl.this_update..=self.pck_crl.next_update).contains(&now)
            && (self.pck_ca.not_before..=self.pck_ca.not_after).contains(&now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(path: &str) -> String {
        std::fs::read_to_string(format!("{}/../../vectors/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn verifies_vector_collateral_and_records_windows() {
        let root = pki::intel_root().unwrap();
        let c = VerifiedCollateral::from_json(&vector("tdx/tdx_quote_collateral.json"), "t", &root).unwrap();
        assert_eq!(c.tee(), Tee::Tdx);
        assert_eq!(hex::encode(c.tcb_info.fmspc), "b0c06f000000");
        // 2025-07-01 is inside every window, 2026-11-26 is not.
        assert!(c.time_failures(1751328000).is_empty());
        let late = c.time_failures(1795651200);
        assert!(late.iter().any(|r| r.contains("PCK CRL expired")), "{late:?}");
        // One second before the QE identity issue date (the last start).
        let early = c.time_failures(1750329147 - 1);
        assert_eq!(early.len(), 1, "{early:?}");
        assert!(early[0].contains("QE identity is not yet valid"), "{early:?}");
        assert!(c.time_failures(1752919235 + 1).iter().any(|r| r.contains("expired")));
        let c = VerifiedCollateral::from_json(&vector("sgx/sgx_quote_collateral.json"), "s", &root).unwrap();
        assert_eq!(c.tee(), Tee::Sgx);
    }

    #[test]
    fn tampered_collateral_is_refused() {
        let root = pki::intel_root().unwrap();
        let text = vector("tdx/tdx_quote_collateral.json");
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        // TCB info changed after signing.
        let mut t = v.clone();
        let tcb = t["tcb_info"].as_str().unwrap().replace("\"UpToDate\"", "\"OutOfDate\"");
        t["tcb_info"] = tcb.into();
        let e = VerifiedCollateral::from_json(&t.to_string(), "x", &root).unwrap_err();
        assert!(e.to_string().contains("TCB info: signature is invalid"), "{e}");
        // QE identity changed after signing.
        let mut t = v.clone();
        let qe = t["qe_identity"]
            .as_str()
            .unwrap()
            .replace("\"isvprodid\":2", "\"isvprodid\":3");
        t["qe_identity"] = qe.into();
        let e = VerifiedCollateral::from_json(&t.to_string(), "x", &root).unwrap_err();
        assert!(e.to_string().contains("QE identity: signature is invalid"), "{e}");
        // PCK CRL signature broken (flip a byte near the end: inside the signature).
        let mut crl = hex::decode(v["pck_crl"].as_str().unwrap()).unwrap();
        let n = crl.len();
        crl[n - 3] ^= 1;
        v["pck_crl"] = hex::encode(crl).into();
        let e = VerifiedCollateral::from_json(&v.to_string(), "x", &root).unwrap_err();
        assert!(e.to_string().contains("PCK CRL"), "{e}");
        // Garbage.
        let e = VerifiedCollateral::from_json("{\"nope\": 1}", "x", &root)
            .err()
            .unwrap();
        assert!(
            matches!(e, CollateralError::Json { .. }) && e.to_string().contains("missing field"),
            "{e:?}"
        );
        let e = VerifiedCollateral::from_json("not json", "x", &root).err().unwrap();
        assert!(
            matches!(e, CollateralError::Json { .. }) && e.to_string().contains("expected ident"),
            "{e:?}"
        );
    }

    #[test]
    fn a_foreign_root_verifies_nothing() {
        // The signing chain must end at the embedded root: any other
        // self-signed CA (here: the TCB signing certificate's issuer is
        // checked against a different root) is refused.
        let text = vector("tdx/tdx_quote_collateral.json");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let chain = pki::parse_pem_chain(v["tcb_info_issuer_chain"].as_str().unwrap().as_bytes(), "c").unwrap();
        let not_root = chain[0].clone();
        let e = VerifiedCollateral::from_json(&text, "x", &not_root).err().unwrap();
        assert!(
            matches!(
                e,
                CollateralError::Pki {
                    error: pki::PkiError::Issuer { .. },
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn status_convergence_matches_intel() {
        use TcbStatus::*;
        assert_eq!(UpToDate.converge_with_component(OutOfDate), OutOfDate);
        assert_eq!(
            ConfigurationNeeded.converge_with_component(OutOfDate),
            OutOfDateConfigurationNeeded
        );
        assert_eq!(SWHardeningNeeded.converge_with_component(UpToDate), SWHardeningNeeded);
        assert_eq!(UpToDate.converge_with_component(Revoked), Revoked);
        assert_eq!(OutOfDate.check_for_relaunch(UpToDate), TDRelaunchAdvised);
        assert_eq!(
            OutOfDate.check_for_relaunch(ConfigurationNeeded),
            TDRelaunchAdvisedConfigurationNeeded
        );
        assert_eq!(UpToDate.check_for_relaunch(OutOfDate), UpToDate);
        assert_eq!(TcbStatus::from_name("SWHardeningNeeded"), Some(SWHardeningNeeded));
        assert_eq!(TcbStatus::from_name("Fine"), None);
    }

    /// `key` of a collateral JSON document (a JSON string) as a value.
    fn inner(text: &str, key: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        serde_json::from_str(v[key].as_str().unwrap()).unwrap()
    }

    #[test]
    fn an_sgx_qe_identity_in_tdx_collateral_is_refused() {
        let root = pki::intel_root().unwrap();
        let sgx: serde_json::Value = serde_json::from_str(&vector("sgx/sgx_quote_collateral.json")).unwrap();
        let mut tdx: serde_json::Value = serde_json::from_str(&vector("tdx/tdx_quote_collateral.json")).unwrap();
        // Genuinely signed by Intel, but for the SGX QE.
        for k in ["qe_identity", "qe_identity_signature", "qe_identity_issuer_chain"] {
            tdx[k] = sgx[k].clone();
        }
        let e = VerifiedCollateral::from_json(&tdx.to_string(), "x", &root).unwrap_err();
        assert!(
            matches!(&e, CollateralError::Field { field, reason, .. }
                if field == "qe_identity" && reason.contains("does not belong to")),
            "{e}"
        );
    }

    #[test]
    fn tcb_info_with_a_wrong_component_count_or_missing_tdx_components_is_refused() {
        let tcb = inner(&vector("tdx/tdx_quote_collateral.json"), "tcb_info");
        parse_tcb_info(&tcb.to_string()).unwrap();

        let mut t = tcb.clone();
        t["tcbLevels"][0]["tcb"]["sgxtcbcomponents"]
            .as_array_mut()
            .unwrap()
            .pop();
        assert_eq!(
            parse_tcb_info(&t.to_string()).unwrap_err(),
            "sgxtcbcomponents has 15 components, expected 16"
        );
        let mut t = tcb.clone();
        let comps = t["tcbLevels"][0]["tcb"]["tdxtcbcomponents"].as_array_mut().unwrap();
        comps.push(comps[0].clone());
        assert_eq!(
            parse_tcb_info(&t.to_string()).unwrap_err(),
            "tdxtcbcomponents has 17 components, expected 16"
        );
        let mut t = tcb.clone();
        t["tcbLevels"][0]["tcb"]
            .as_object_mut()
            .unwrap()
            .remove("tdxtcbcomponents");
        assert_eq!(
            parse_tcb_info(&t.to_string()).unwrap_err(),
            "TDX TCB level without tdxtcbcomponents"
        );
    }

    #[test]
    fn tcb_info_and_qe_identity_of_unknown_versions_are_refused() {
        let text = vector("tdx/tdx_quote_collateral.json");
        for v in [2, 4] {
            let mut t = inner(&text, "tcb_info");
            t["version"] = v.into();
            let e = parse_tcb_info(&t.to_string()).unwrap_err();
            assert!(
                e.contains("unsupported TCB info") && e.contains(&format!("version {v}")),
                "{e}"
            );
        }
        let mut t = inner(&vector("sgx/sgx_quote_collateral.json"), "tcb_info");
        t["version"] = 2.into();
        let e = parse_tcb_info(&t.to_string()).unwrap_err();
        assert!(e.contains("unsupported TCB info"), "{e}");

        let qe = inner(&text, "qe_identity");
        parse_qe_identity(&qe.to_string()).unwrap();
        for (id, v) in [("TD_QE", 1), ("TD_QE", 4), ("QE", 3), ("QE", 1)] {
            let mut q = qe.clone();
            q["id"] = id.into();
            q["version"] = v.into();
            let e = parse_qe_identity(&q.to_string()).unwrap_err();
            assert!(e.contains("unsupported QE identity"), "{id} {v}: {e}");
        }
    }
}
