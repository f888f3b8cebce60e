//! Offline verification of the Intel quotes (SGX v3, TDX v4/v5) that peer
//! formats carry, with what the quote itself holds: the PCK chain up to the
//! Intel SGX Root CA's key, the QE report signature and data, and the quote
//! signature ([`crate::platform::dcap::engine::verify_signatures`]). The TCB
//! status needs collateral (TCB info, QE identity, CRLs): with a DCAP
//! [`Engine`] in the options it is evaluated by the engine; otherwise it is
//! reported as unverifiable.

use crate::platform::dcap::collateral::fmt_time;
use crate::platform::dcap::engine::{verify_signatures, Engine};
use crate::platform::dcap::pki::{self, Cert, SgxExtension};
use crate::platform::dcap::quote::{Body, Quote, CERT_DATA_PCK_CHAIN, INTEL_QE_VENDOR_ID};

use super::{EvidenceCheck, EvidenceOutcome, PeerError, PeerFormat, ReadOptions};

/// A parsed and checked quote.
pub struct CheckedQuote<'a> {
    /// The quote.
    pub quote: Quote<'a>,
    /// Signature and chain verification.
    pub check: EvidenceCheck,
    /// Claims of the body and of the PCK certificate.
    pub claims: Vec<(String, String)>,
    /// The PCK certificate's SGX extension, when the chain verified.
    pub pck: Option<SgxExtension>,
}

impl CheckedQuote<'_> {
    /// The 64-byte REPORTDATA.
    pub fn report_data(&self) -> &[u8; 64] {
        self.quote.body.report_data()
    }
}

/// Parses `raw` as an Intel quote (malformed: [`PeerError::Malformed`])
/// and verifies it offline.
pub fn check<'a>(format: PeerFormat, raw: &'a [u8], opts: &ReadOptions) -> Result<CheckedQuote<'a>, PeerError> {
    let quote = Quote::parse(raw).map_err(|e| PeerError::malformed(format, "quote", e))?;
    let mut claims = body_claims(&quote.body);
    claims.push(("qe_svn".into(), quote.header.qe_svn.to_string()));
    claims.push(("pce_svn".into(), quote.header.pce_svn.to_string()));
    let platform = if quote.is_tdx() { "tdx" } else { "sgx" };
    let (outcome, tcb, pck) = match verify(&quote, opts) {
        Ok((ext, anchor)) => {
            claims.push(("fmspc".into(), hex::encode(ext.fmspc)));
            claims.push(("ppid".into(), hex::encode(&ext.ppid)));
            claims.push(("pck_tcb_components".into(), hex::encode(ext.tcb_components)));
            claims.push(("pck_pcesvn".into(), ext.pce_svn.to_string()));
            (
                EvidenceOutcome::Verified { anchor },
                Some(tcb_status(&quote, opts)),
                Some(ext),
            )
        }
        Err(reason) => (EvidenceOutcome::Invalid(reason), None, None),
    };
    Ok(CheckedQuote {
        check: EvidenceCheck { platform, outcome, tcb },
        quote,
        claims,
        pck,
    })
}

fn body_claims(body: &Body) -> Vec<(String, String)> {
    let mut c = Vec::new();
    let mut add = |k: &str, v: String| c.push((k.to_string(), v));
    match body {
        Body::Sgx(r) => {
            add("mrenclave", hex::encode(r.mrenclave));
            add("mrsigner", hex::encode(r.mrsigner));
            add("isv_prod_id", r.isv_prod_id.to_string());
            add("isv_svn", r.isv_svn.to_string());
            add("attributes", hex::encode(r.attributes));
            add("debug", r.debug().to_string());
            add("cpusvn", hex::encode(r.cpusvn));
            add("report_data", hex::encode(r.report_data));
        }
        Body::Td(t) => {
            add("mrtd", hex::encode(t.mrtd));
            for (i, r) in t.rtmr.iter().enumerate() {
                add(&format!("rtmr{i}"), hex::encode(r));
            }
            add("td_attributes", hex::encode(t.td_attributes));
            add("debug", t.debug().to_string());
            add("tee_tcb_svn", hex::encode(t.tee_tcb_svn));
            add("mrseam", hex::encode(t.mrseam));
            add("report_data", hex::encode(t.report_data));
        }
    }
    c
}

/// The PCK chain to the pinned root and the signatures; returns the PCK
/// leaf's SGX extension and the anchor's name.
fn verify(q: &Quote<'_>, opts: &ReadOptions) -> Result<(SgxExtension, String), String> {
    if q.header.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(format!("unknown QE vendor id {}", hex::encode(q.header.qe_vendor_id)));
    }
    if q.pck_cert_data_type != CERT_DATA_PCK_CHAIN {
        return Err(format!(
            "certification data type {} (expected 5, a PCK certificate chain): the PCK certificate \
             must be fetched from Intel, which is not done offline",
            q.pck_cert_data_type
        ));
    }
    let root = intel_root(opts)?;
    let chain = pki::parse_pem_chain(q.pck_cert_data, "PCK chain").map_err(|e| e.to_string())?;
    anchor_chain(&chain, &root, opts.now)?;
    let leaf = &chain[0];
    let ext = leaf
        .sgx_extension
        .as_deref()
        .ok_or("the PCK certificate has no SGX extension")
        .and_then(|d| SgxExtension::parse(d).map_err(|_| "the PCK certificate's SGX extension is malformed"))
        .map_err(str::to_string)?;
    verify_signatures(q, leaf).map_err(|f| format!("{}: {}", f.claim, f.reason))?;
    Ok((ext, format!("{} (pinned key)", root.subject_str)))
}

/// The Intel root the options name, or the embedded one.
pub fn intel_root(opts: &ReadOptions) -> Result<Cert, String> {
    match &opts.intel_root {
        Some(r) => Ok(r.clone()),
        None => pki::intel_root().map_err(|e| e.to_string()),
    }
}

/// Follows issuers from the leaf (`chain[0]`) through the other
/// certificates of `chain` (in any order, as quotes carry them) until one
/// issued by `root`: each one issued by the next, each valid at `now`. The
/// chain's own copy of the root, if any, is never trusted: only `root`'s key
/// anchors.
fn anchor_chain(chain: &[Cert], root: &Cert, now: i64) -> Result<(), String> {
    let mut current = chain.first().ok_or("empty PCK chain")?;
    for _ in 0..chain.len() {
        if now < current.not_before || now > current.not_after {
            return Err(format!(
                "PCK chain certificate {:?} is not valid at {} (valid {}..{})",
                current.subject_str,
                fmt_time(now),
                fmt_time(current.not_before),
                fmt_time(current.not_after)
            ));
        }
        if current.verify_issued_by(root).is_ok() {
            return Ok(());
        }
        let issuer = chain
            .iter()
            .find(|c| c.subject == current.issuer && c.subject != current.subject)
            .ok_or_else(|| {
                format!(
                    "PCK chain: the issuer of {:?} is neither in the chain nor {:?} (or its signature is invalid)",
                    current.subject_str, root.subject_str
                )
            })?;
        current
            .verify_issued_by(issuer)
            .map_err(|e| format!("PCK chain: {e}"))?;
        current = issuer;
    }
    Err(format!("PCK chain does not end at {:?}", root.subject_str))
}

fn tcb_status(q: &Quote<'_>, opts: &ReadOptions) -> String {
    let Some(engine) = opts.dcap.as_deref() else {
        return "unverifiable without collateral (TCB info, QE identity, CRLs: give --collateral)".into();
    };
    tcb_with(engine, q, opts.now)
}

fn tcb_with(engine: &Engine, q: &Quote<'_>, now: i64) -> String {
    match engine.verify(q, now) {
        Ok(v) => {
            let adv = if v.advisories.is_empty() {
                String::new()
            } else {
                format!(" (advisories {})", v.advisories.join(", "))
            };
            format!("{}{adv}", v.tcb_status)
        }
        Err(f) => format!(
            "not evaluated: {}",
            f.iter()
                .map(|f| format!("{}: {}", f.claim, f.reason))
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}
