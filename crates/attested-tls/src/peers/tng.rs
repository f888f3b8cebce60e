//! TNG (inclavare-containers) CoCo attestation tokens: a Trustee
//! Attestation-Service JWT in EAR form, which TNG's `rats-cert` carries
//! under CBOR tag `0xC0C001`.
//!
//! The JWS header holds a `jwk` with `x5c` [leaf, CA]; the signature is
//! checked with `x5c[0]`, and `x5c[0]` must be issued by an attestation
//! service CA the user gives (`--certs`): the `x5c` in the token is never
//! its own trust anchor. The token is valid in `[iat, exp]` only.
//!
//! Binding (computed on a real token): each submodule's annotated evidence
//! has `report_data = SHA-384(compact JSON of runtime_data_claims) || 0^16`;
//! TNG puts its OHTTP HPKE key configuration and the verifier's challenge
//! token there, not a TLS key. The JSON is re-serialized with sorted keys
//! and no spaces, which is what Trustee writes for these claims (checked on
//! the sample); a writer using another key order would not match.
//!
//! The token is an attestation *result*: it carries no raw quote to
//! re-verify, so "verified" means "signed by the given service CA".

use base64::Engine as _;

use crate::corim::VerificationKey;

use super::{
    report_data_is, Binding, BindingOutcome, EvidenceCheck, EvidenceOutcome, PeerError, PeerFormat, PeerReport,
    ReadOptions,
};

/// The binding formula.
pub const FORMULA: &str = "annotated report_data = SHA-384(JSON of runtime_data_claims) || 0^16 (binds TNG's HPKE \
     key configuration and challenge token, not a TLS key)";

/// At most this many certificates are read from `x5c`.
pub const MAX_X5C: usize = 8;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn bad(what: &'static str, reason: impl std::fmt::Display) -> PeerError {
    PeerError::malformed(PeerFormat::TngEar, what, reason)
}

/// Three base64url parts whose first decodes to a JSON object with `alg`.
pub fn looks_like_jwt(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        && B64URL
            .decode(parts[0])
            .ok()
            .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
            .is_some_and(|h| h.get("alg").is_some())
}

/// Reads and checks a token.
pub fn read_token(token: &str, opts: &ReadOptions) -> Result<PeerReport, PeerError> {
    let header_b64 = token.split('.').next().unwrap_or_default();
    let header: serde_json::Value = B64URL
        .decode(header_b64)
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or_else(|| bad("JWS header", "not base64url JSON"))?;
    let x5c = header
        .get("jwk")
        .and_then(|j| j.get("x5c"))
        .or_else(|| header.get("x5c"))
        .and_then(|x| x.as_array())
        .ok_or_else(|| bad("JWS header", "no jwk.x5c (the signer's certificate chain)"))?;
    if x5c.is_empty() || x5c.len() > MAX_X5C {
        return Err(bad(
            "x5c",
            format!("{} certificates (expected 1..={MAX_X5C})", x5c.len()),
        ));
    }
    let certs: Vec<Vec<u8>> = x5c
        .iter()
        .map(|c| {
            c.as_str()
                // RFC 7515 says standard base64; Trustee writes base64url
                // without padding. Both are read.
                .and_then(|s| {
                    base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .or_else(|_| B64URL.decode(s.trim_end_matches('=')))
                        .ok()
                })
                .ok_or_else(|| bad("x5c", "an entry is not base64 DER"))
        })
        .collect::<Result<_, _>>()?;
    let leaf = super::Container::from_pem_or_der(&certs[0])?.ok_or_else(|| bad("x5c[0]", "not a certificate"))?;
    let key = VerificationKey::from_spki_der(&leaf.spki).map_err(|e| bad("x5c[0] key", e))?;
    let (payload, sig_error) = match crate::ear_jwt::verify_jws(token, &key) {
        Ok(p) => (p, None),
        Err(e) => {
            // Still show the claims of a token whose signature fails.
            let p = token
                .split('.')
                .nth(1)
                .and_then(|p| B64URL.decode(p).ok())
                .and_then(|p| serde_json::from_slice(&p).ok())
                .ok_or_else(|| bad("JWS payload", "not base64url JSON"))?;
            (p, Some(e.to_string()))
        }
    };
    let outcome = match sig_error {
        Some(e) => EvidenceOutcome::Invalid(e),
        None => match time_check(&payload, opts.now) {
            Err(e) => EvidenceOutcome::Invalid(e),
            Ok(()) => anchor(&certs[0], opts),
        },
    };
    let (claims, binding) = read_claims(&payload);
    Ok(PeerReport {
        format: PeerFormat::TngEar,
        carrier: format!("compact JWS signed by x5c[0] ({})", leaf.subject),
        binding: Binding {
            formula: FORMULA.into(),
            outcome: binding,
        },
        carrier_signature: None,
        carrier_validity: None,
        evidence: EvidenceCheck {
            platform: "ear",
            outcome,
            tcb: None,
        },
        claims,
        notes: vec![
            "an attestation result: no raw quote to re-verify".into(),
            "binds TNG's HPKE key configuration and the service's challenge, not a TLS key: a TLS peer \
             presenting this token is not shown to hold a key bound to it"
                .into(),
        ],
    })
}

fn time_check(payload: &serde_json::Value, now: i64) -> Result<(), String> {
    let t = crate::platform::dcap::collateral::fmt_time;
    let iat = payload
        .get("iat")
        .and_then(|v| v.as_i64())
        .ok_or("the token has no integer iat")?;
    let exp = payload
        .get("exp")
        .and_then(|v| v.as_i64())
        .ok_or("the token has no integer exp")?;
    if now < iat || now > exp {
        return Err(format!(
            "the token is valid {}..{} only, not at {}",
            t(iat),
            t(exp),
            t(now)
        ));
    }
    Ok(())
}

fn anchor(leaf: &[u8], opts: &ReadOptions) -> EvidenceOutcome {
    if opts.certs.is_empty() {
        return EvidenceOutcome::Unverifiable(
            "the signature verifies with x5c[0], but no attestation service CA was given (--certs) to anchor it".into(),
        );
    }
    let mut errors = Vec::new();
    for ca in &opts.certs {
        match super::x509::verify_issued_by(leaf, ca, opts.now) {
            Ok(subject) => {
                return EvidenceOutcome::Verified {
                    anchor: format!("attestation service CA {subject} (--certs)"),
                }
            }
            Err(e) => errors.push(e),
        }
    }
    EvidenceOutcome::Invalid(format!("x5c[0] is not issued by a given CA: {}", errors.join("; ")))
}

/// Claims to show, and the binding of every submodule's annotated evidence.
fn read_claims(payload: &serde_json::Value) -> (Vec<(String, String)>, BindingOutcome) {
    let esc = |v: &serde_json::Value| crate::ear::escape_control(&v.to_string()).into_owned();
    let mut claims = Vec::new();
    for k in ["eat_profile", "iat", "exp"] {
        if let Some(v) = payload.get(k) {
            claims.push((k.to_string(), esc(v)));
        }
    }
    let mut binding = BindingOutcome::NotChecked("no submodule has annotated report_data".into());
    let Some(submods) = payload.get("submods").and_then(|s| s.as_object()) else {
        return (claims, binding);
    };
    // At most 16 submodules are read (bounded work on untrusted input);
    // a binding that held for those alone is not reported as holding.
    const MAX_SUBMODS: usize = 16;
    for (name, sub) in submods.iter().take(MAX_SUBMODS) {
        let name = crate::ear::escape_control(name).into_owned();
        for k in ["ear.status", "ear.trustworthiness-vector"] {
            if let Some(v) = sub.get(k) {
                claims.push((format!("{name}.{k}"), esc(v)));
            }
        }
        let Some(ann) = sub.get("ear.veraison.annotated-evidence") else {
            continue;
        };
        if let Some(body) = ann.pointer("/tdx/quote/body") {
            for k in [
                "mr_td",
                "rtmr_0",
                "rtmr_1",
                "rtmr_2",
                "rtmr_3",
                "td_attributes",
                "tcb_svn",
            ] {
                if let Some(v) = body.get(k).and_then(|v| v.as_str()) {
                    claims.push((format!("{name}.tdx.{k}"), crate::ear::escape_control(v).into_owned()));
                }
            }
            if let Some(a) = body
                .get("td_attributes")
                .and_then(|v| v.as_str())
                .and_then(|s| hex::decode(s).ok())
            {
                claims.push((
                    format!("{name}.tdx.debug"),
                    (a.first().is_some_and(|b| b & 1 != 0)).to_string(),
                ));
            }
        }
        let rd = ann
            .get("report_data")
            .and_then(|v| v.as_str())
            .and_then(|s| hex::decode(s).ok());
        let rt = ann.get("runtime_data_claims");
        let this = match (rd.as_deref().and_then(|r| <&[u8; 64]>::try_from(r).ok()), rt) {
            (Some(rd), Some(rt)) if !rt.is_null() => {
                let json = serde_json::to_vec(rt).unwrap_or_default();
                let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &json);
                report_data_is(rd, h.as_ref(), "SHA-384(runtime_data_claims)")
            }
            _ => continue,
        };
        binding = match (binding, this) {
            (BindingOutcome::Fails(e), _) | (_, BindingOutcome::Fails(e)) => BindingOutcome::Fails(e),
            (_, b) => b,
        };
    }
    if submods.len() > MAX_SUBMODS && binding == BindingOutcome::Holds {
        binding = BindingOutcome::NotChecked(format!(
            "the token has {} submodules; only the first {MAX_SUBMODS} were checked",
            submods.len()
        ));
    }
    (claims, binding)
}
