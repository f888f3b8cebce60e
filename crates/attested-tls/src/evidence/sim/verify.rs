//! Appraisal of simulated Evidence.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_FIXED};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256;

use super::ca::{certified_instance_id, p256_public_key, parse_cert};
use super::eat::{decode_envelope, looks_like_sim, SimClaims};
use super::is_sim_media_type;
use crate::binder::{BindingClaims, ExpectedBinding};
use crate::crypto::constant_time_eq;
use crate::ear::{claim_value as cv, hex_join, Appraisal, TrustClaim};
use crate::policy::{parse_hex_list, Policy, PolicyError};
use crate::verifier::{AppraisalContext, Verifier};

/// Policy section `[sim]`: which simulation roots, measurements and
/// instances are acceptable.
///
/// ```toml
/// [sim]
/// trusted_roots = ["sim/root.pem"]   # PEM files, relative to the policy file
/// measurements = ["3f2a..."]         # hex allow-list (empty: everything refused)
/// instance_ids = ["01ab..."]         # optional hex allow-list of instances
/// allow_debug = false                # default false
/// min_security_version = 1           # floor; unset: any version, with a warning naming the key
/// max_evidence_age = 300             # optional, seconds: refuse older `iat`
/// ```
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SimPolicy {
    /// PEM files holding the simulation root certificates to trust,
    /// relative to the policy file. Empty: all simulated Evidence is refused.
    pub trusted_roots: Vec<PathBuf>,
    /// Allowed measurements (hex). Empty: the executables check fails
    /// ("policy lists no reference measurements").
    pub measurements: Vec<String>,
    /// Allowed instance ids (hex). `None`: any instance of a trusted root.
    #[serde(default)]
    pub instance_ids: Option<Vec<String>>,
    /// Whether Evidence with debug enabled is acceptable (with a warning).
    #[serde(default)]
    pub allow_debug: bool,
    /// Lowest acceptable security version. `None` (unset): any security
    /// version is accepted and every result is at best a warning that
    /// names `sim.min_security_version`; set it (0 included, a deliberate
    /// "any version") to get an affirming result.
    #[serde(default)]
    pub min_security_version: Option<u32>,
    /// Largest accepted age of the Evidence (`iat`), in seconds; Evidence
    /// from more than a minute in the future is refused too. `None`: `iat`
    /// is not checked (freshness then rests on the binder alone).
    #[serde(default)]
    pub max_evidence_age: Option<u64>,
}

impl SimPolicy {
    /// Builds the verifier, reading the `trusted_roots` files (resolved
    /// against the policy's directory with [`Policy::resolve`]).
    pub fn verifier(&self, policy: &Policy) -> Result<SimVerifier, PolicyError> {
        let mut roots = Vec::new();
        for p in &self.trusted_roots {
            let path = policy.resolve(p);
            // Named as the key's file, not as a policy file: the policy
            // itself was read.
            let pem = crate::fsutil::read_bounded(&path, crate::fsutil::MAX_CONFIG_FILE_LEN)
                .map_err(|e| PolicyError::value("sim.trusted_roots", format!("cannot read {}: {e}", path.display())))?;
            let mut found = 0;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    PolicyError::value("sim.trusted_roots", format!("{}: invalid PEM: {e}", path.display()))
                })?;
                roots.push(cert.to_vec());
                found += 1;
            }
            if found == 0 {
                return Err(PolicyError::value(
                    "sim.trusted_roots",
                    format!("{} contains no PEM certificate", path.display()),
                ));
            }
        }
        SimVerifier::new(self.clone(), roots)
    }
}

#[derive(Debug)]
struct TrustedRoot {
    subject: String,
    /// DER of the subject name, compared with instance certificates' issuer.
    subject_raw: Vec<u8>,
    /// Uncompressed P-256 point.
    point: Vec<u8>,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
}

/// What a verified instance certificate establishes.
#[derive(Debug)]
struct VerifiedInstance {
    root_idx: usize,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
    certified_id: Vec<u8>,
    point: Vec<u8>,
}

/// A refusal found while checking the instance certificate.
struct Refusal {
    claim: &'static str,
    observed: Option<String>,
    expected: Option<String>,
    reason: String,
}

impl Refusal {
    fn new(claim: &'static str, observed: Option<String>, expected: Option<String>, reason: String) -> Self {
        Self {
            claim,
            observed,
            expected,
            reason,
        }
    }
}

/// Most instance certificates remembered as verified (the set is cleared
/// when full; a miss only costs one signature verification).
const CHAIN_CACHE_MAX: usize = 4096;

// What a refusal expected, for the checks whose observed value is not a
// single field: so that every finding says what would have been accepted.
/// Expected value of a `cose` (envelope) refusal.
const ENVELOPE_EXPECTED: &str =
    "a tagged COSE_Sign1 within the size limit, with an attached payload, protected alg ES256 \
     and x5chain holding exactly one certificate, no other header parameter and an empty unprotected header";
/// Expected value of an `instance_certificate` refusal.
const CERT_EXPECTED: &str =
    "a DER X.509 instance certificate with an uncompressed ECDSA P-256 key and one subject serialNumber (the instance id)";
/// Expected value of a claim decoding refusal.
const CLAIMS_EXPECTED: &str =
    "a sim-tee#1 claims set: every mandatory claim once, with its type and size, and no other claim";

/// Appraises simulated Evidence against a [`SimPolicy`].
#[derive(Debug)]
pub struct SimVerifier {
    roots: Vec<TrustedRoot>,
    /// SHA-256 of instance certificates whose signature by a trusted root
    /// was verified, with that root's index: the chain of an instance is
    /// checked once, not on every connection.
    verified_chains: std::sync::Mutex<std::collections::HashMap<Vec<u8>, Arc<VerifiedInstance>>>,
    measurements: Vec<Vec<u8>>,
    instance_ids: Option<Vec<Vec<u8>>>,
    allow_debug: bool,
    min_security_version: Option<u32>,
    max_evidence_age: Option<u64>,
}

impl SimVerifier {
    /// A verifier trusting the given root certificates (DER). The policy's
    /// `trusted_roots` paths are ignored here (see [`SimPolicy::verifier`]).
    pub fn new(policy: SimPolicy, trusted_roots_der: Vec<Vec<u8>>) -> Result<SimVerifier, PolicyError> {
        let measurements = parse_hex_list("sim.measurements", &policy.measurements, None)?;
        for m in &measurements {
            if m.is_empty() || m.len() > super::ca::MAX_MEASUREMENT_LEN {
                return Err(PolicyError::value(
                    "sim.measurements",
                    format!("a measurement of {} bytes is not 1..=64 bytes", m.len()),
                ));
            }
        }
        let instance_ids = match &policy.instance_ids {
            Some(ids) => Some(parse_hex_list("sim.instance_ids", ids, None)?),
            None => None,
        };
        let mut roots = Vec::new();
        for der in trusted_roots_der {
            let cert = parse_cert(&der).map_err(|e| PolicyError::value("sim.trusted_roots", e))?;
            let point = p256_public_key(&cert)
                .map_err(|e| PolicyError::value("sim.trusted_roots", format!("{}: {e}", cert.subject())))?
                .to_vec();
            roots.push(TrustedRoot {
                subject: cert.subject().to_string(),
                subject_raw: cert.subject().as_raw().to_vec(),
                point,
                not_before: cert.validity().not_before.to_datetime(),
                not_after: cert.validity().not_after.to_datetime(),
            });
        }
        Ok(SimVerifier {
            roots,
            verified_chains: std::sync::Mutex::new(std::collections::HashMap::new()),
            measurements,
            instance_ids,
            allow_debug: policy.allow_debug,
            min_security_version: policy.min_security_version,
            max_evidence_age: policy.max_evidence_age,
        })
    }

    /// The instance certificate's facts, verified against a trusted root
    /// once and then remembered by the certificate's SHA-256.
    fn verified_instance(&self, cert_der: &[u8]) -> Result<Arc<VerifiedInstance>, Refusal> {
        let digest = crate::crypto::HashAlgorithm::Sha256.digest(cert_der);
        if let Some(v) = self.verified_chains.lock().ok().and_then(|m| m.get(&digest).cloned()) {
            return Ok(v);
        }
        let cert = parse_cert(cert_der)
            .map_err(|r| Refusal::new("instance_certificate", None, Some(CERT_EXPECTED.into()), r))?;
        let root_idx = self.issuing_root(&cert).ok_or_else(|| {
            let expected = if self.roots.is_empty() {
                "(policy trusts no simulation root)".to_string()
            } else {
                self.roots
                    .iter()
                    .map(|r| r.subject.as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            Refusal::new(
                "root",
                Some(cert.issuer().to_string()),
                Some(expected),
                "simulation root not trusted by policy: the instance certificate is not signed by any trusted root"
                    .into(),
            )
        })?;
        let certified_id = certified_instance_id(&cert)
            .map_err(|r| Refusal::new("instance_certificate", None, Some(CERT_EXPECTED.into()), r))?;
        let point = p256_public_key(&cert)
            .map_err(|r| Refusal::new("instance_certificate", None, Some(CERT_EXPECTED.into()), r))?
            .to_vec();
        let v = Arc::new(VerifiedInstance {
            root_idx,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            certified_id,
            point,
        });
        if let Ok(mut m) = self.verified_chains.lock() {
            if m.len() >= CHAIN_CACHE_MAX {
                m.clear();
            }
            m.insert(digest, v.clone());
        }
        Ok(v)
    }

    /// Finds the trusted root that issued `cert`: same issuer name and a
    /// valid ECDSA P-256 / SHA-256 signature.
    fn issuing_root(&self, cert: &X509Certificate<'_>) -> Option<usize> {
        if cert.signature_algorithm.algorithm != OID_SIG_ECDSA_WITH_SHA256 {
            return None;
        }
        let tbs: &[u8] = cert.tbs_certificate.as_ref();
        let sig: &[u8] = &cert.signature_value.data;
        self.roots.iter().position(|root| {
            root.subject_raw == cert.issuer().as_raw()
                && UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &root.point)
                    .verify(tbs, sig)
                    .is_ok()
        })
    }

    fn appraise_inner(&self, evidence: &[u8], ctx: &AppraisalContext<'_>, a: &mut Appraisal) {
        use TrustClaim::*;
        // 1. Envelope.
        let env = match decode_envelope(evidence) {
            Ok(e) => e,
            Err(reason) => {
                a.fail(
                    InstanceIdentity,
                    cv::UNTRUSTWORTHY_INSTANCE,
                    "cose",
                    None,
                    Some(ENVELOPE_EXPECTED.into()),
                    reason,
                );
                return;
            }
        };
        // The claims are shown (not trusted) even when a later check
        // refuses, as the other platforms show a report's fields: so that
        // `atls verify` without a trusted root still prints what the
        // Evidence says. A claims set that does not decode is refused after
        // the signature check, as before.
        let claims = SimClaims::from_cbor(&env.payload);
        if let Ok(c) = &claims {
            record_claims(c, a);
        }
        // 2. Instance certificate chained to a trusted root, valid now.
        let inst = match self.verified_instance(&env.cert_der) {
            Ok(v) => v,
            Err(r) => {
                a.fail(
                    InstanceIdentity,
                    cv::UNTRUSTWORTHY_INSTANCE,
                    r.claim,
                    r.observed,
                    r.expected,
                    r.reason,
                );
                return;
            }
        };
        let Some(root) = self.roots.get(inst.root_idx) else {
            a.fail(
                InstanceIdentity,
                cv::VERIFIER_MALFUNCTION,
                "root",
                None,
                None,
                "root index out of range",
            );
            return;
        };
        a.claim("root", root.subject.clone());
        let mut out_of_validity = false;
        for (what, (nb, na)) in [
            ("instance_certificate", (inst.not_before, inst.not_after)),
            ("root", (root.not_before, root.not_after)),
        ] {
            if ctx.now < nb || ctx.now > na {
                a.fail(
                    InstanceIdentity,
                    cv::UNTRUSTWORTHY_INSTANCE,
                    what,
                    Some(format!("valid {nb} .. {na}")),
                    Some(format!("valid at {}", ctx.now)),
                    format!("{what} is not valid at the verification time"),
                );
                out_of_validity = true;
            }
        }
        if out_of_validity {
            return;
        }
        let certified_id = inst.certified_id.clone();
        // 3. Signature by the instance key.
        let point = &inst.point;
        let verified = env.sign1.verify_signature(b"", |sig, tbs| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(tbs, sig)
        });
        if verified.is_err() {
            a.fail(
                InstanceIdentity,
                cv::UNTRUSTWORTHY_INSTANCE,
                "signature",
                None,
                Some("an ES256 signature by the instance certificate's key".into()),
                "the COSE_Sign1 signature does not verify with the instance certificate's key",
            );
            return;
        }
        // 4. Claims.
        let claims = match claims {
            Ok(c) => c,
            Err((claim, reason)) => {
                a.fail(
                    InstanceIdentity,
                    cv::UNTRUSTWORTHY_INSTANCE,
                    &claim,
                    None,
                    Some(CLAIMS_EXPECTED.into()),
                    reason,
                );
                return;
            }
        };
        if claims.ueid != certified_id {
            a.fail(
                InstanceIdentity,
                cv::UNTRUSTWORTHY_INSTANCE,
                "instance_id",
                Some(hex::encode(&claims.ueid)),
                Some(hex::encode(&certified_id)),
                "the ueid claim differs from the instance id the instance certificate certifies",
            );
        }
        self.check_binding(&claims, ctx.expected, a);
        self.check_policy(&claims, ctx.policy_id, a);
        if let Some(max) = self.max_evidence_age {
            let now = ctx.now.unix_timestamp();
            let max = i64::try_from(max).unwrap_or(i64::MAX);
            if claims.iat < now.saturating_sub(max) || claims.iat > now.saturating_add(60) {
                a.fail(
                    InstanceIdentity,
                    cv::UNTRUSTWORTHY_INSTANCE,
                    "iat",
                    Some(claims.iat.to_string()),
                    Some(format!("{} ..= {}", now.saturating_sub(max), now.saturating_add(60))),
                    format!(
                        "the Evidence is older than the {max} s policy {} allows, or from the future",
                        ctx.policy_id
                    ),
                );
            }
        }
        // What the sim checks establish when nothing failed: the platform is
        // the one the policy trusts. (A simulation offers no memory
        // protection, so no runtime-opaque claim is made.)
        a.set(InstanceIdentity, cv::TRUSTWORTHY_INSTANCE);
        a.set(Hardware, cv::GENUINE_HARDWARE);
    }

    fn check_binding(&self, claims: &SimClaims, expected: &ExpectedBinding, a: &mut Appraisal) {
        use TrustClaim::*;
        match expected {
            ExpectedBinding::Claims(c) => {
                if c.hash != claims.hash {
                    a.fail(
                        InstanceIdentity,
                        cv::UNTRUSTWORTHY_INSTANCE,
                        "hash_alg",
                        Some(claims.hash.name().into()),
                        Some(c.hash.name().into()),
                        "the Evidence's binder was computed with another hash",
                    );
                }
                if !constant_time_eq(&claims.eat_nonce, &c.binder) {
                    a.fail(
                        InstanceIdentity,
                        cv::UNTRUSTWORTHY_INSTANCE,
                        "eat_nonce",
                        Some(hex::encode(&claims.eat_nonce)),
                        Some(hex::encode(&c.binder)),
                        "eat_nonce is not the binder of this connection",
                    );
                }
                if !constant_time_eq(&claims.aik_pub_hash, &c.aik_pub_hash) {
                    a.fail(
                        InstanceIdentity,
                        cv::UNTRUSTWORTHY_INSTANCE,
                        "aik_pub_hash",
                        Some(hex::encode(&claims.aik_pub_hash)),
                        Some(hex::encode(&c.aik_pub_hash)),
                        "aik_pub_hash is not the hash of the authenticator's key",
                    );
                }
            }
            ExpectedBinding::ReportData(r) => {
                let observed = BindingClaims {
                    hash: claims.hash,
                    binder: claims.eat_nonce.clone(),
                    aik_pub_hash: claims.aik_pub_hash.clone(),
                }
                .report_data();
                if !constant_time_eq(&observed, r) {
                    a.fail(
                        InstanceIdentity,
                        cv::UNTRUSTWORTHY_INSTANCE,
                        "report_data",
                        Some(hex::encode(observed)),
                        Some(hex::encode(r)),
                        "SHA-512(prefix || eat_nonce || aik_pub_hash) is not the expected report data",
                    );
                }
            }
        }
    }

    fn check_policy(&self, claims: &SimClaims, policy_id: &str, a: &mut Appraisal) {
        use TrustClaim::*;
        if self.measurements.is_empty() {
            a.fail(
                Executables,
                cv::UNRECOGNIZED_RUNTIME,
                "measurement",
                Some(hex::encode(&claims.measurement)),
                None,
                format!("policy {policy_id} lists no reference measurements"),
            );
        } else if !self.measurements.iter().any(|m| m == &claims.measurement) {
            a.fail(
                Executables,
                cv::UNRECOGNIZED_RUNTIME,
                "measurement",
                Some(hex::encode(&claims.measurement)),
                Some(hex_join(&self.measurements, " | ")),
                format!("measurement is not in the reference values of policy {policy_id}"),
            );
        } else {
            a.set(Executables, cv::APPROVED_RUNTIME);
        }
        if let Some(ids) = &self.instance_ids {
            if !ids.iter().any(|i| i == &claims.ueid) {
                a.fail(
                    InstanceIdentity,
                    cv::UNTRUSTWORTHY_INSTANCE,
                    "instance_id",
                    Some(hex::encode(&claims.ueid)),
                    Some(if ids.is_empty() {
                        "(no instance allowed)".to_string()
                    } else {
                        hex_join(ids, " | ")
                    }),
                    format!("instance is not in the instance_ids of policy {policy_id}"),
                );
            }
        }
        if claims.debug() {
            a.debug_enabled(self.allow_debug, "true".into(), "debug is enabled (dbgstat)");
        }
        match self.min_security_version {
            Some(min) if claims.security_version < u64::from(min) => a.fail(
                Configuration,
                cv::UNSUPPORTABLE_CONFIG,
                "security_version",
                Some(claims.security_version.to_string()),
                Some(format!(">= {min}")),
                format!("security version is below the minimum of policy {policy_id}"),
            ),
            Some(_) => {}
            // No floor: an old, vulnerable version would pass unnoticed, so
            // the result says so rather than affirming.
            None => a.warn(
                Configuration,
                cv::UNSAFE_CONFIG,
                "security_version",
                Some(claims.security_version.to_string()),
                format!("sim.min_security_version not set in policy {policy_id}: any security version accepted"),
            ),
        }
        a.set(Configuration, cv::APPROVED_CONFIG);
    }
}

/// Records the Evidence's claims in the appraisal (for display and audit).
fn record_claims(claims: &SimClaims, a: &mut Appraisal) {
    a.claim("measurement", hex::encode(&claims.measurement));
    a.claim("instance_id", hex::encode(&claims.ueid));
    a.claim("debug", claims.debug());
    a.claim("security_version", claims.security_version);
    a.claim("eat_nonce", hex::encode(&claims.eat_nonce));
    a.claim("aik_pub_hash", hex::encode(&claims.aik_pub_hash));
    a.claim("hash_alg", claims.hash.name());
    a.claim("iat", claims.iat);
}

impl Verifier for SimVerifier {
    fn platform(&self) -> &'static str {
        "sim"
    }

    fn accepts_media_type(&self, media_type: &str) -> bool {
        is_sim_media_type(media_type)
    }

    fn detect(&self, raw: &[u8]) -> bool {
        looks_like_sim(raw)
    }

    fn appraise(&self, media_type: &str, evidence: &[u8], ctx: &AppraisalContext<'_>) -> Appraisal {
        let mut a = Appraisal::new(ctx.policy_id);
        if !is_sim_media_type(media_type) {
            a.fail(
                TrustClaim::InstanceIdentity,
                cv::VERIFIER_MALFUNCTION,
                "media_type",
                Some(media_type.to_string()),
                Some(super::SIM_MEDIA_TYPE.to_string()),
                "not simulated-TEE Evidence",
            );
            return a.finish();
        }
        self.appraise_inner(evidence, ctx, &mut a);
        a.finish()
    }
}
