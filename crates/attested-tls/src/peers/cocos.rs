//! Cocos (ultravioletrs/cocos) attested TLS.
//!
//! **v3** (before 2026-03): per ClientHello a fresh P-256 key and a
//! certificate whose extension (OID 2.99999.1.0 SNP+vTPM, .1.1 Azure, .1.2
//! TDX: an example arc) holds a signed EAT; `report_data = SHA3-512(SPKI DER
//! || nonce)`, the 64-byte nonce from the client's SNI (`hex(nonce) +
//! ".nonce"`), and the EAT `nonce` claim carries the first 32 bytes of that
//! hash. The EAT's exact encoding is not known here: with `--nonce` the
//! expected values are computed and shown, but the binding is reported as
//! not checked and the Evidence as unverifiable.
//!
//! **v4** (2026-03 on): RFC 9261 Exported Authenticators after the
//! handshake, the leaf entry carrying extension 0xFF00 with a JSON payload
//! `{version, media_type, evidence, attestation_results, binder:
//! {exporter_label, aik_pub_hash, binding}}`; `aik_pub_hash = H(SPKI)`,
//! `binding = H(SPKI || TLS-Exporter("Attestation", context, 32))`,
//! `report_data = SHA-512(binding)`. Offline, `aik_pub_hash` is checked
//! against the leaf key; `binding` needs the connection's exporter. The
//! encoding of the byte fields (base64 or hex here) and of `evidence`
//! (`application/eat+cwt`) are unverified.

use crate::codec::AuthenticatorParts;

use super::{
    Binding, BindingOutcome, CertFormat, Container, EvidenceCheck, EvidenceOutcome, PeerError, PeerFormat, PeerReport,
    ReadOptions,
};

/// The arc 2.99999.1, content bytes.
pub const OID_ARC_V3: &[u8] = &[0x86, 0x8D, 0x6F, 0x01];
/// The v4 extension type in the certificate entry.
pub const EXT_V4: u16 = 0xFF00;
/// The v4 exporter label.
pub const EXPORTER_LABEL_V4: &str = "Attestation";

/// v3 binding formula.
pub const FORMULA_V3: &str =
    "report_data = SHA3-512(SubjectPublicKeyInfo DER || nonce), nonce from SNI \"<hex>.nonce\"; EAT nonce = first 32 bytes";
/// v4 binding formula.
pub const FORMULA_V4: &str = "report_data = SHA-512(binding), binding = H(SPKI || TLS-Exporter(\"Attestation\", \
     certificate_request_context, 32)), aik_pub_hash = H(SPKI)";

fn platform_v3(last: u8) -> Option<&'static str> {
    match last {
        0 => Some("SEV-SNP + vTPM"),
        1 => Some("Azure"),
        2 => Some("TDX"),
        _ => None,
    }
}

/// Reader of Cocos v3 certificates.
pub struct CocosV3;

impl CertFormat for CocosV3 {
    const FORMAT: PeerFormat = PeerFormat::CocosV3;

    fn matches(oid: &[u8]) -> bool {
        oid.len() == OID_ARC_V3.len() + 1 && oid.starts_with(OID_ARC_V3) && platform_v3(oid[OID_ARC_V3.len()]).is_some()
    }

    fn read(c: &Container, oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
        let platform = oid
            .get(OID_ARC_V3.len())
            .and_then(|l| platform_v3(*l))
            .unwrap_or("unknown");
        let mut claims = vec![("platform".to_string(), platform.to_string())];
        let outcome = match &opts.nonce {
            None => BindingOutcome::NeedsConnection(
                "binding needs the connection's nonce (the client's SNI \"<hex>.nonce\"): give --nonce HEX".into(),
            ),
            Some(n) => {
                let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA3_512);
                ctx.update(&c.spki);
                ctx.update(n);
                let h = ctx.finish();
                claims.push(("expected_report_data".into(), hex::encode(h.as_ref())));
                claims.push(("expected_eat_nonce".into(), hex::encode(&h.as_ref()[..32])));
                BindingOutcome::NotChecked(
                    "the signed EAT's encoding is not known here: compare expected_report_data with the EAT".into(),
                )
            }
        };
        Ok(super::cert_report(
            Self::FORMAT,
            c,
            &format!(
                "certificate extension 2.99999.1.x ({platform}, signed EAT of {} bytes)",
                value.len()
            ),
            Binding {
                formula: FORMULA_V3.into(),
                outcome,
            },
            EvidenceCheck {
                platform: "eat",
                outcome: EvidenceOutcome::Unverifiable("the signed EAT's encoding is not known here".into()),
                tcb: None,
            },
            claims,
            opts,
        ))
    }
}

/// Whether `bytes` is a complete, non-empty Exported Authenticator.
pub fn looks_like_authenticator(bytes: &[u8]) -> bool {
    matches!(AuthenticatorParts::decode(bytes), Ok(AuthenticatorParts::Full { .. }))
}

fn bad(what: &'static str, reason: impl std::fmt::Display) -> PeerError {
    PeerError::malformed(PeerFormat::CocosV4, what, reason)
}

/// Decodes a byte field given as base64 (standard, as Go's encoding/json
/// writes `[]byte`) or hex.
fn bytes_field(v: &serde_json::Value, what: &'static str) -> Result<Vec<u8>, PeerError> {
    use base64::Engine as _;
    let s = v.as_str().ok_or_else(|| bad(what, "not a string"))?;
    if s.len() > 1024 {
        return Err(bad(what, "longer than 1024 characters"));
    }
    if s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(b) = hex::decode(s) {
            return Ok(b);
        }
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| bad(what, format!("neither hex nor base64: {e}")))
}

/// Reads a Cocos v4 Exported Authenticator.
pub fn read_authenticator(bytes: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
    let parts = AuthenticatorParts::decode(bytes).map_err(|e| bad("Exported Authenticator", e))?;
    let AuthenticatorParts::Full { certificate_msg, .. } = parts else {
        return Err(PeerError::NoEvidence(
            "the empty authenticator (a refusal) carries no Evidence".into(),
        ));
    };
    let leaf = certificate_msg
        .entries
        .first()
        .ok_or_else(|| PeerError::NoEvidence("the authenticator has no certificate".into()))?;
    let ext = leaf
        .extensions
        .iter()
        .find(|e| e.typ == EXT_V4)
        .ok_or_else(|| PeerError::NoEvidence("the leaf certificate entry has no extension 0xFF00".into()))?;
    let json: serde_json::Value = serde_json::from_slice(&ext.data).map_err(|_| {
        PeerError::NoEvidence(
            "extension 0xFF00 is not Cocos' JSON payload (a seat-expat CMW? appraise it with atls verify)".into(),
        )
    })?;
    let binder = json
        .get("binder")
        .filter(|b| b.is_object())
        .ok_or_else(|| PeerError::NoEvidence("extension 0xFF00 JSON has no binder object (not Cocos v4)".into()))?;
    let container =
        Container::from_pem_or_der(&leaf.cert_der)?.ok_or_else(|| bad("leaf certificate", "not a DER certificate"))?;
    let label = binder
        .get("exporter_label")
        .and_then(|l| l.as_str())
        .unwrap_or_default();
    let aik = bytes_field(
        binder.get("aik_pub_hash").unwrap_or(&serde_json::Value::Null),
        "binder.aik_pub_hash",
    )?;
    let want = match aik.len() {
        32 => Some(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &container.spki)),
        48 => Some(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &container.spki)),
        _ => None,
    };
    let outcome = if label != EXPORTER_LABEL_V4 {
        BindingOutcome::Fails(format!(
            "binder.exporter_label is {:?}, not {EXPORTER_LABEL_V4:?}",
            crate::ear::escape_control(label)
        ))
    } else {
        match want {
            None => BindingOutcome::Fails(format!("aik_pub_hash of {} bytes (expected 32 or 48)", aik.len())),
            Some(h) if !crate::crypto::constant_time_eq(h.as_ref(), &aik) => BindingOutcome::Fails(format!(
                "aik_pub_hash {} is not H(SPKI) of the leaf, {}",
                hex::encode(&aik),
                hex::encode(h.as_ref())
            )),
            Some(_) => BindingOutcome::NeedsConnection(
                "aik_pub_hash matches the leaf key; binding = H(SPKI || exporter) needs the connection's exporter"
                    .into(),
            ),
        }
    };
    let mut claims = Vec::new();
    for k in ["version", "media_type"] {
        if let Some(v) = json.get(k) {
            claims.push((k.to_string(), crate::ear::escape_control(&v.to_string()).into_owned()));
        }
    }
    let model = if json.get("attestation_results").is_some_and(|v| !v.is_null()) {
        "passport (attestation_results)"
    } else {
        "background check (evidence)"
    };
    claims.push(("model".into(), model.into()));
    let mut notes = container.notes.clone();
    notes.push("the CertificateVerify and Finished need the connection's handshake context: not checked".into());
    notes.extend(container.validity_note(opts.now));
    Ok(PeerReport {
        format: PeerFormat::CocosV4,
        carrier: format!(
            "Exported Authenticator, leaf ({}) extension 0xFF00 (JSON)",
            container.subject
        ),
        binding: Binding {
            formula: FORMULA_V4.into(),
            outcome,
        },
        carrier_signature: None,
        carrier_validity: None,
        evidence: EvidenceCheck {
            platform: "eat",
            outcome: EvidenceOutcome::Unverifiable(
                "the evidence (application/eat+cwt) encoding is not known here".into(),
            ),
            tcb: None,
        },
        claims,
        notes,
    })
}
