//! Arm CCA attestation tokens: decoding, verification and appraisal.
//!
//! A CCA attestation token is a CBOR collection (tag 399) of two COSE_Sign1
//! messages:
//!
//! ```text
//! cca-token = #6.399({
//!   44234 => bstr .cbor COSE_Sign1(platform claims),   ; signed by the CPAK
//!   44241 => bstr .cbor COSE_Sign1(realm claims),      ; signed by the RAK
//! })
//! ```
//!
//! Verification follows the chain the architecture defines:
//!
//! 1. the platform token is signed by the CCA Platform Attestation Key
//!    (CPAK) of a trust anchor found by the platform **instance id**;
//! 2. the platform challenge equals `Hash(RAK)`, with the realm's
//!    public-key hash algorithm: this binds the realm to the platform;
//! 3. the realm token is signed by that Realm Attestation Key (RAK), which
//!    the realm claims carry (raw EC point or COSE_Key);
//! 4. the realm challenge equals the relying party's expected
//!    `report_data` (the attested-tls binding);
//! 5. the platform lifecycle state is a secured one (debug states only if
//!    the policy says `allow_debug`), and reference values match: realm
//!    initial measurement (RIM), optional personalization values (RPV) and
//!    extensible measurements (REMs), optional platform software components.
//!
//! Every check fails closed. See `docs/platforms/cca.md`.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lc_rs::digest;
use serde::Deserialize;

use crate::crypto::constant_time_eq;
use crate::ear::{claim_value, hex_join, Appraisal, TrustClaim};
use crate::policy::{parse_hex_list, Policy, PolicyError};
use crate::verifier::{AppraisalContext, Verifier};

mod reference;
mod token;

use reference::SwRef;
pub use reference::*;
pub use token::*;

/// The media type this verifier registers for CCA tokens (the collection
/// of platform and realm token).
pub const MEDIA_TYPE: &str = "application/eat+cwt; eat_profile=\"tag:arm.com,2023:cca_platform#1.0.0\"";
/// An alias accepted on input: `application/vnd.arm.cca-token`.
pub const MEDIA_TYPE_ALIAS: &str = "application/vnd.arm.cca-token";
/// The EAT profile of the CCA platform token (`eat_profile` parameter of [`MEDIA_TYPE`]).
pub const EAT_PROFILE_CCA_PLATFORM: &str = "tag:arm.com,2023:cca_platform#1.0.0";
/// The legacy platform profile of the CCA security specification (used by
/// the Veraison media type `application/eat-collection; profile="http://arm.com/CCA-SSD/1.0.0"`).
pub const PROFILE_CCA_SSD: &str = "http://arm.com/CCA-SSD/1.0.0";
/// CBOR tag of the CCA token collection.
pub const CCA_TOKEN_TAG: u64 = 399;
/// Largest token accepted, checked before decoding (real tokens are ~1-3 KiB).
pub const MAX_TOKEN_LEN: usize = 64 * 1024;
/// AR4SI value used when a signature or a cryptographic binding does not
/// verify ("cryptographic validation failed").
pub const CRYPTO_VALIDATION_FAILED: i8 = 99;

const KEY_PLATFORM_TOKEN: i128 = 44234;
const KEY_REALM_TOKEN: i128 = 44241;

// Platform claim keys.
const P_PROFILE: i128 = 265;
const P_CHALLENGE: i128 = 10;
const P_IMPLEMENTATION_ID: i128 = 2396;
const P_INSTANCE_ID: i128 = 256;
const P_CONFIG: i128 = 2401;
const P_LIFECYCLE: i128 = 2395;
const P_SW_COMPONENTS: i128 = 2399;
const P_VERIFICATION_SERVICE: i128 = 2400;
const P_HASH_ALGO: i128 = 2402;

// Software component keys.
const SW_COMPONENT_TYPE: i128 = 1;
const SW_MEASUREMENT_VALUE: i128 = 2;
const SW_VERSION: i128 = 4;
const SW_SIGNER_ID: i128 = 5;
const SW_MEASUREMENT_DESC: i128 = 6;

// Realm claim keys.
const R_CHALLENGE: i128 = 10;
const R_PROFILE: i128 = 265;
const R_PERSONALIZATION: i128 = 44235;
const R_HASH_ALGO: i128 = 44236;
const R_PUBLIC_KEY: i128 = 44237;
const R_RIM: i128 = 44238;
const R_REMS: i128 = 44239;
const R_PUBLIC_KEY_HASH_ALGO: i128 = 44240;

/// Why a CCA token, trust anchor or reference-value file could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CcaError {
    /// The input is larger than the decoder accepts.
    #[error("{what} is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not well-formed CBOR.
    #[error("{what} is not well-formed CBOR: {reason}")]
    Cbor {
        /// What was being decoded.
        what: &'static str,
        /// Decoder message.
        reason: String,
    },
    /// The structure is not what the CCA token format requires.
    #[error("{what}: {reason}")]
    Structure {
        /// What was being decoded.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A mandatory claim is absent.
    #[error("{token} claims lack the mandatory claim {claim}")]
    MissingClaim {
        /// `platform` or `realm`.
        token: &'static str,
        /// The claim name.
        claim: &'static str,
    },
    /// A claim appears twice.
    #[error("{token} claims contain {claim} twice")]
    DuplicateClaim {
        /// `platform` or `realm`.
        token: &'static str,
        /// The claim name.
        claim: &'static str,
    },
    /// A claim has the wrong type or length.
    #[error("claim {claim}: {reason}")]
    BadClaim {
        /// The claim name.
        claim: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A COSE structure could not be decoded or has unsupported parameters.
    #[error("{token} COSE_Sign1: {reason}")]
    Cose {
        /// `platform` or `realm`.
        token: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A public key could not be parsed.
    #[error("public key: {0}")]
    Key(String),
    /// A signature did not verify.
    #[error("{token} token signature does not verify with {key}")]
    Signature {
        /// `platform` or `realm`.
        token: &'static str,
        /// Which key was used.
        key: String,
    },
    /// A JSON file (trust anchors, reference values) is invalid.
    #[error("{what} is invalid: {reason}")]
    Json {
        /// What file.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

fn structure(what: &'static str, reason: impl Into<String>) -> CcaError {
    CcaError::Structure {
        what,
        reason: reason.into(),
    }
}

fn bad_claim(claim: &'static str, reason: impl Into<String>) -> CcaError {
    CcaError::BadClaim {
        claim,
        reason: reason.into(),
    }
}

/// Hash algorithms named in CCA tokens (IANA Named Information names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    /// `sha-256`.
    Sha256,
    /// `sha-384`.
    Sha384,
    /// `sha-512`.
    Sha512,
}

impl HashAlg {
    /// Parses `sha-256`, `sha-384`, `sha-512` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "sha-256" => Some(Self::Sha256),
            "sha-384" => Some(Self::Sha384),
            "sha-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The IANA name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }

    /// Digest length in bytes.
    pub const fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Always false (a digest is never empty); present for API symmetry with `len`.
    pub const fn is_empty(self) -> bool {
        false
    }

    /// `Hash(data)`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

// ---------------------------------------------------------------------------
// Policy

/// Policy section `[cca]`. With no keys set (the default) every token is
/// refused: there is no trust anchor and no reference RIM.
///
/// ```toml
/// [cca]
/// trust_anchors = ["cca/ta.json"]          # CPAKs by platform instance id
/// realm_initial_measurements = ["00..."]   # allowed RIMs (hex)
/// platform_sw_components = [{ component_type = "BL", measurement = "..." }]  # or in reference_values; none: a warning
/// realm_personalization_values = []        # allowed RPVs (hex); empty: not compared
/// rems = [["00..", "00..", "00..", "00.."]] # allowed REM quadruples; empty: not compared
/// reference_values = ["cca/rv.json"]       # rv.json files or CoRIMs, merged with the above
/// require_all_sw_components = true         # default true: every reference component must be in the token
/// allow_debug = false
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CcaPolicy {
    /// Trust-anchor files (JSON list of `{instance-id, implementation-id,
    /// pkey (JWK)}`): the CPAK of every platform instance accepted. Paths
    /// are relative to the policy file. No trust anchor: every token fails.
    #[serde(default)]
    pub trust_anchors: Vec<PathBuf>,
    /// Allowed realm initial measurements (hex, 32/48/64 bytes). Empty
    /// (and none from `reference_values`): the measurement check FAILS.
    #[serde(default)]
    pub realm_initial_measurements: Vec<String>,
    /// Allowed realm personalization values (hex, 64 bytes). Empty: the RPV
    /// is reported but not compared.
    #[serde(default)]
    pub realm_personalization_values: Vec<String>,
    /// Allowed REM quadruples (4 hex strings each). Empty: REMs are
    /// reported but not compared.
    #[serde(default)]
    pub rems: Vec<Vec<String>>,
    /// Allowed platform software components, for any implementation.
    /// Empty (and no platform entries from `reference_values`): platform
    /// software is reported but not compared, and every result is at best a
    /// warning that says so.
    #[serde(default)]
    pub platform_sw_components: Vec<SwComponentReference>,
    /// Reference-value files merged with the lists above: Veraison-style
    /// `rv.json` (detected by a leading `{`) or a CoRIM (CBOR, signed or
    /// unsigned; see `docs/corim.md`).
    #[serde(default)]
    pub reference_values: Vec<PathBuf>,
    /// A platform reference entry only matches when every one of its
    /// software components is present in the token (as well as every token
    /// component being in the entry). Default true (fail closed): a token
    /// that omits a reference component, e.g. a skipped boot stage, is
    /// refused. Set false to treat the entry's components as an allow-list
    /// only (a token may report a subset).
    #[serde(default = "default_true")]
    pub require_all_sw_components: bool,
    /// Public keys (PEM SPKI or JWK files) a signed CoRIM in
    /// `reference_values` must verify with. When set, unsigned CoRIMs are
    /// refused; when empty, signed CoRIMs are refused.
    #[serde(default)]
    pub corim_keys: Vec<PathBuf>,
    /// Accept debug lifecycle states (non-PSA-RoT debug, recoverable
    /// PSA-RoT debug) with a warning. Default false: refused.
    #[serde(default)]
    pub allow_debug: bool,
    /// Allowed platform implementation ids (hex, 32 bytes). Empty: any
    /// implementation with a trust anchor.
    #[serde(default)]
    pub implementation_ids: Vec<String>,
    /// Allowed platform instance ids (hex, 33 bytes). Empty: any instance
    /// with a trust anchor.
    #[serde(default)]
    pub instance_ids: Vec<String>,
}

fn default_true() -> bool {
    true
}

impl Default for CcaPolicy {
    /// Every key at its TOML default (so `require_all_sw_components` is true).
    fn default() -> Self {
        Self {
            trust_anchors: Vec::new(),
            realm_initial_measurements: Vec::new(),
            realm_personalization_values: Vec::new(),
            rems: Vec::new(),
            platform_sw_components: Vec::new(),
            reference_values: Vec::new(),
            require_all_sw_components: true,
            corim_keys: Vec::new(),
            allow_debug: false,
            implementation_ids: Vec::new(),
            instance_ids: Vec::new(),
        }
    }
}

fn read_policy_file(policy: &Policy, key: &str, p: &std::path::Path) -> Result<Vec<u8>, PolicyError> {
    let path = policy.resolve(p);
    crate::fsutil::read_bounded(&path, crate::fsutil::MAX_BUNDLE_FILE_LEN)
        .map_err(|e| PolicyError::value(key, format!("{}: {e}", path.display())))
}

impl CcaPolicy {
    /// Builds the verifier for this section.
    pub fn verifier(&self, policy: &Policy) -> Result<Arc<dyn Verifier>, PolicyError> {
        Ok(Arc::new(CcaVerifier::new(self.config(policy)?)))
    }

    /// Loads every file and parses every value of this section.
    pub fn config(&self, policy: &Policy) -> Result<CcaVerifierConfig, PolicyError> {
        let mut trust_anchors = Vec::new();
        for p in &self.trust_anchors {
            let bytes = read_policy_file(policy, "cca.trust_anchors", p)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| PolicyError::value("cca.trust_anchors", format!("{} is not UTF-8", p.display())))?;
            trust_anchors.extend(
                parse_trust_anchors(&text)
                    .map_err(|e| PolicyError::value("cca.trust_anchors", format!("{}: {e}", p.display())))?,
            );
        }
        let mut rv = CcaReferenceValues {
            platforms: Vec::new(),
            realm_initial_measurements: parse_hex_list(
                "cca.realm_initial_measurements",
                &self.realm_initial_measurements,
                None,
            )?,
            realm_personalization_values: parse_hex_list(
                "cca.realm_personalization_values",
                &self.realm_personalization_values,
                Some(64),
            )?,
            rems: Vec::new(),
        };
        for m in &rv.realm_initial_measurements {
            if !matches!(m.len(), 32 | 48 | 64) {
                return Err(PolicyError::value(
                    "cca.realm_initial_measurements",
                    format!("{} is {} bytes, expected 32, 48 or 64", hex::encode(m), m.len()),
                ));
            }
        }
        for quad in &self.rems {
            if quad.len() != 4 {
                return Err(PolicyError::value(
                    "cca.rems",
                    format!("every entry must list 4 REMs, one lists {}", quad.len()),
                ));
            }
            rv.rems.push(rem_len_check(&parse_hex_list("cca.rems", quad, None)?)?);
        }
        if !self.platform_sw_components.is_empty() {
            let sw = self
                .platform_sw_components
                .iter()
                .map(|s| {
                    let measurement = parse_hex_list(
                        "cca.platform_sw_components.measurement",
                        std::slice::from_ref(&s.measurement),
                        None,
                    )?
                    .remove(0);
                    if !matches!(measurement.len(), 32 | 48 | 64) {
                        return Err(PolicyError::value(
                            "cca.platform_sw_components.measurement",
                            format!(
                                "{} is {} bytes, expected 32, 48 or 64",
                                s.measurement,
                                measurement.len()
                            ),
                        ));
                    }
                    Ok(SwRef {
                        component_type: s.component_type.clone(),
                        measurement,
                        signer_id: match &s.signer_id {
                            Some(x) => Some(
                                parse_hex_list("cca.platform_sw_components.signer_id", std::slice::from_ref(x), None)?
                                    .remove(0),
                            ),
                            None => None,
                        },
                    })
                })
                .collect::<Result<Vec<_>, PolicyError>>()?;
            rv.platforms.push(PlatformReference {
                implementation_id: None,
                configuration: None,
                sw_components: sw,
            });
        }
        let corim_keys = self
            .corim_keys
            .iter()
            .map(|p| {
                let b = read_policy_file(policy, "cca.corim_keys", p)?;
                crate::corim::VerificationKey::from_pem_or_jwk(&b)
                    .map_err(|e| PolicyError::value("cca.corim_keys", format!("{}: {e}", p.display())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for p in &self.reference_values {
            let bytes = read_policy_file(policy, "cca.reference_values", p)?;
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace()).copied();
            let more = if first == Some(b'{') {
                // Keys say reference values must be signed: an unsigned
                // rv.json in their place would bypass that.
                if !corim_keys.is_empty() {
                    return Err(PolicyError::value(
                        "cca.reference_values",
                        format!(
                            "{} is unsigned JSON, but cca.corim_keys requires signed CoRIM reference values",
                            p.display()
                        ),
                    ));
                }
                let text = String::from_utf8(bytes)
                    .map_err(|_| PolicyError::value("cca.reference_values", format!("{} is not UTF-8", p.display())))?;
                parse_rv_json(&text)
                    .map_err(|e| PolicyError::value("cca.reference_values", format!("{}: {e}", p.display())))?
            } else {
                let rvs = crate::corim::import_with_keys(&bytes, &corim_keys)
                    .map_err(|e| PolicyError::value("cca.reference_values", format!("{}: {e}", p.display())))?;
                from_corim(&rvs)
                    .map_err(|e| PolicyError::value("cca.reference_values", format!("{}: {e}", p.display())))?
            };
            rv.merge(more);
        }
        Ok(CcaVerifierConfig {
            trust_anchors,
            reference_values: rv,
            allow_debug: self.allow_debug,
            require_all_sw_components: self.require_all_sw_components,
            implementation_ids: parse_hex_list("cca.implementation_ids", &self.implementation_ids, Some(32))?,
            instance_ids: parse_hex_list("cca.instance_ids", &self.instance_ids, Some(33))?,
        })
    }
}

fn rem_len_check(q: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, PolicyError> {
    for m in q {
        if !matches!(m.len(), 32 | 48 | 64) {
            return Err(PolicyError::value(
                "cca.rems",
                format!("{} is {} bytes, expected 32, 48 or 64", hex::encode(m), m.len()),
            ));
        }
    }
    Ok(q.to_vec())
}

/// Maps CoRIM reference values to CCA reference values (labels compared
/// case-insensitively):
///
/// - digests of measurements labelled `RIM`, and of integrity registers
///   named `rim`, become allowed RIMs;
/// - raw values of measurements labelled `RPV`, or of a measurement that
///   also carries a `rim` integrity register (the Veraison realm CoMID
///   layout), become allowed RPVs (a masked raw value is refused);
/// - `REM0`..`REM3` (four measurements of one environment, or four integrity
///   registers `rem0`..`rem3` of one measurement) become an allowed REM quadruple;
/// - other labelled digests become platform software components
///   (component type = label) of a platform reference for any implementation.
pub fn from_corim(rvs: &crate::corim::ReferenceValues) -> Result<CcaReferenceValues, CcaError> {
    let mut out = CcaReferenceValues::default();
    for m in rvs.allow_list("RIM") {
        if let Ok(b) = hex::decode(&m) {
            out.realm_initial_measurements.push(b);
        }
    }
    let is = |l: &Option<String>, name: &str| l.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(name));
    for e in &rvs.entries {
        let has_rim_register = e.integrity_registers.keys().any(|k| k.eq_ignore_ascii_case("rim"));
        if is(&e.label, "RPV") || has_rim_register {
            if let Some(raw) = &e.raw_value {
                if e.raw_value_mask.is_some() {
                    return Err(CcaError::Json {
                        what: "CoRIM reference values",
                        reason: "a masked realm personalization value cannot be compared exactly".into(),
                    });
                }
                if raw.len() != 64 {
                    return Err(CcaError::Json {
                        what: "CoRIM reference values",
                        reason: format!("realm personalization value is {} bytes, expected 64", raw.len()),
                    });
                }
                out.realm_personalization_values.push(raw.clone());
            }
        }
        // REMs as integrity registers of one measurement.
        let regs: Vec<Vec<u8>> = (0..4)
            .filter_map(|i| {
                e.integrity_registers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&format!("rem{i}")))
                    .and_then(|(_, d)| d.first().map(|d| d.1.clone()))
            })
            .collect();
        if regs.len() == 4 {
            out.rems.push(regs);
        }
    }
    // REMs as labelled measurements, grouped by environment.
    let mut envs: Vec<&crate::corim::Environment> = Vec::new();
    for e in &rvs.entries {
        if is(&e.label, "REM0") && !envs.contains(&&e.environment) {
            envs.push(&e.environment);
        }
    }
    for env in envs {
        let quad: Vec<Vec<u8>> = (0..4)
            .filter_map(|i| {
                rvs.entries
                    .iter()
                    .find(|e| &e.environment == env && is(&e.label, &format!("REM{i}")))
                    .and_then(|e| e.digests.first().map(|d| d.1.clone()))
            })
            .collect();
        if quad.len() == 4 {
            out.rems.push(quad);
        }
    }
    let mut sw = Vec::new();
    for e in &rvs.entries {
        let Some(label) = &e.label else { continue };
        let upper = label.to_ascii_uppercase();
        if upper == "RIM" || upper == "RPV" || upper.starts_with("REM") {
            continue;
        }
        for (_, d) in &e.digests {
            sw.push(SwRef {
                component_type: Some(label.clone()),
                measurement: d.clone(),
                signer_id: None,
            });
        }
    }
    if !sw.is_empty() {
        out.platforms.push(PlatformReference {
            implementation_id: None,
            configuration: None,
            sw_components: sw,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Verifier

/// Everything a [`CcaVerifier`] compares with, already parsed.
#[derive(Clone, Debug)]
pub struct CcaVerifierConfig {
    /// CPAKs by platform instance.
    pub trust_anchors: Vec<TrustAnchor>,
    /// Reference values.
    pub reference_values: CcaReferenceValues,
    /// Accept debug lifecycle states with a warning.
    pub allow_debug: bool,
    /// A platform reference entry needs every one of its software
    /// components in the token (see [`CcaPolicy::require_all_sw_components`]).
    pub require_all_sw_components: bool,
    /// Allowed implementation ids (empty: any).
    pub implementation_ids: Vec<Vec<u8>>,
    /// Allowed instance ids (empty: any).
    pub instance_ids: Vec<Vec<u8>>,
}

impl Default for CcaVerifierConfig {
    /// Nothing trusted, and `require_all_sw_components` true (fail closed,
    /// as in the policy).
    fn default() -> Self {
        Self {
            trust_anchors: Vec::new(),
            reference_values: CcaReferenceValues::default(),
            allow_debug: false,
            require_all_sw_components: true,
            implementation_ids: Vec::new(),
            instance_ids: Vec::new(),
        }
    }
}

/// The Arm CCA verifier.
#[derive(Clone, Debug)]
pub struct CcaVerifier {
    cfg: CcaVerifierConfig,
}

/// PSA / CCA security lifecycle states (upper byte of the claim).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// 0x00xx.
    Unknown,
    /// 0x10xx.
    AssemblyAndTest,
    /// 0x20xx.
    PsaRotProvisioning,
    /// 0x30xx: the only state accepted without `allow_debug`.
    Secured,
    /// 0x40xx.
    NonPsaRotDebug,
    /// 0x50xx.
    RecoverablePsaRotDebug,
    /// 0x60xx.
    Decommissioned,
    /// Anything else.
    Invalid,
}

impl Lifecycle {
    /// Classifies a lifecycle claim value.
    pub const fn of(v: u16) -> Self {
        match v >> 8 {
            0x00 => Self::Unknown,
            0x10 => Self::AssemblyAndTest,
            0x20 => Self::PsaRotProvisioning,
            0x30 => Self::Secured,
            0x40 => Self::NonPsaRotDebug,
            0x50 => Self::RecoverablePsaRotDebug,
            0x60 => Self::Decommissioned,
            _ => Self::Invalid,
        }
    }

    /// Name used in results.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::AssemblyAndTest => "assembly-and-test",
            Self::PsaRotProvisioning => "psa-rot-provisioning",
            Self::Secured => "secured",
            Self::NonPsaRotDebug => "non-psa-rot-debug",
            Self::RecoverablePsaRotDebug => "recoverable-psa-rot-debug",
            Self::Decommissioned => "decommissioned",
            Self::Invalid => "invalid",
        }
    }
}

fn media_type_matches(m: &str) -> bool {
    let mut parts = m.split(';');
    let base = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let mut params = Vec::new();
    for p in parts {
        if let Some((k, v)) = p.split_once('=') {
            params.push((k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_string()));
        }
    }
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    match base.as_str() {
        "application/eat+cwt" => param("eat_profile") == Some(EAT_PROFILE_CCA_PLATFORM),
        "application/eat-collection" => param("profile") == Some(PROFILE_CCA_SSD),
        "application/vnd.arm.cca-token" => true,
        _ => false,
    }
}

impl CcaVerifier {
    /// A verifier over parsed trust anchors and reference values.
    pub fn new(cfg: CcaVerifierConfig) -> Self {
        Self { cfg }
    }

    /// Appraises a decoded token (the checks behind [`Verifier::appraise`]).
    pub fn appraise_token(&self, t: &CcaToken, ctx: &AppraisalContext<'_>) -> Appraisal {
        let mut a = Appraisal::new(ctx.policy_id);
        record_claims(t, &mut a);
        self.check(t, ctx, &mut a);
        a.finish()
    }

    fn check(&self, t: &CcaToken, ctx: &AppraisalContext<'_>, a: &mut Appraisal) {
        let p = &t.platform;
        let r = &t.realm;
        use claim_value as cv;
        use TrustClaim as T;

        // 1. The platform instance's trust anchor and the platform signature.
        // Several anchors may name one instance (key rotation): any may verify.
        let anchors: Vec<&TrustAnchor> = self
            .cfg
            .trust_anchors
            .iter()
            .filter(|ta| ta.instance_id == p.instance_id)
            .collect();
        let Some(first) = anchors.first() else {
            a.fail(
                T::InstanceIdentity,
                cv::UNTRUSTWORTHY_INSTANCE,
                "platform.instance_id",
                Some(hex::encode(&p.instance_id)),
                None,
                format!(
                    "no trust anchor of policy {} is for this platform instance; realm not evaluated",
                    ctx.policy_id
                ),
            );
            return;
        };
        let anchors: Vec<&TrustAnchor> = anchors
            .iter()
            .copied()
            .filter(|ta| ta.implementation_id == p.implementation_id)
            .collect();
        if anchors.is_empty() {
            a.fail(
                T::InstanceIdentity,
                cv::UNTRUSTWORTHY_INSTANCE,
                "platform.implementation_id",
                Some(hex::encode(&p.implementation_id)),
                Some(hex::encode(&first.implementation_id)),
                "the trust anchor of this instance is for another implementation; realm not evaluated",
            );
            return;
        }
        let mut verified = Err(CcaError::Key("no trust anchor".into()));
        for ta in &anchors {
            verified = t.verify_platform(&ta.key);
            if verified.is_ok() {
                break;
            }
        }
        if let Err(e) = verified {
            a.fail(
                T::InstanceIdentity,
                CRYPTO_VALIDATION_FAILED,
                "platform.signature",
                None,
                None,
                format!("{e}; realm not evaluated"),
            );
            return;
        }
        a.set(T::InstanceIdentity, cv::TRUSTWORTHY_INSTANCE);
        a.set(T::Hardware, cv::GENUINE_HARDWARE);
        if !self.cfg.instance_ids.is_empty() && !self.cfg.instance_ids.contains(&p.instance_id) {
            a.fail(
                T::InstanceIdentity,
                cv::UNTRUSTWORTHY_INSTANCE,
                "platform.instance_id",
                Some(hex::encode(&p.instance_id)),
                Some(hex_join(&self.cfg.instance_ids, ", ")),
                format!("instance is not in instance_ids of policy {}", ctx.policy_id),
            );
        }
        if !self.cfg.implementation_ids.is_empty() && !self.cfg.implementation_ids.contains(&p.implementation_id) {
            a.fail(
                T::Hardware,
                cv::UNRECOGNIZED_HARDWARE,
                "platform.implementation_id",
                Some(hex::encode(&p.implementation_id)),
                Some(hex_join(&self.cfg.implementation_ids, ", ")),
                format!(
                    "implementation is not in implementation_ids of policy {}",
                    ctx.policy_id
                ),
            );
        }

        // 2. Lifecycle.
        let lc = Lifecycle::of(p.lifecycle);
        let observed = Some(format!("{:#06x} ({})", p.lifecycle, lc.name()));
        match lc {
            Lifecycle::Secured => a.set(T::Configuration, cv::APPROVED_CONFIG),
            Lifecycle::NonPsaRotDebug | Lifecycle::RecoverablePsaRotDebug if self.cfg.allow_debug => a.warn(
                T::Configuration,
                cv::UNSAFE_CONFIG,
                "platform.lifecycle",
                observed,
                "debug lifecycle state accepted because the policy sets allow_debug",
            ),
            Lifecycle::NonPsaRotDebug | Lifecycle::RecoverablePsaRotDebug => a.fail(
                T::Configuration,
                cv::UNSUPPORTABLE_CONFIG,
                "platform.lifecycle",
                observed,
                Some("secured (0x30xx)".into()),
                format!(
                    "debug lifecycle state refused (policy {} does not allow debug)",
                    ctx.policy_id
                ),
            ),
            _ => a.fail(
                T::Configuration,
                cv::UNSUPPORTABLE_CONFIG,
                "platform.lifecycle",
                observed,
                Some("secured (0x30xx)".into()),
                "the platform is not in a secured lifecycle state",
            ),
        }

        // 3. Platform reference values.
        self.check_platform_refs(p, ctx, a);

        // 4. Platform -> realm binding, realm signature.
        match t.platform_binds_realm() {
            Ok(true) => {}
            Ok(false) => {
                a.fail(
                    T::InstanceIdentity,
                    CRYPTO_VALIDATION_FAILED,
                    "platform.challenge",
                    Some(hex::encode(&p.challenge)),
                    r.rak_hash().ok().map(hex::encode),
                    "the platform challenge is not Hash(RAK): the realm token is not bound to this platform",
                );
                return;
            }
            Err(e) => {
                a.fail(
                    T::InstanceIdentity,
                    CRYPTO_VALIDATION_FAILED,
                    "realm.public_key_hash_algo_id",
                    Some(r.public_key_hash_algo_id.clone()),
                    None,
                    e.to_string(),
                );
                return;
            }
        }
        if let Err(e) = t.verify_realm() {
            a.fail(
                T::InstanceIdentity,
                CRYPTO_VALIDATION_FAILED,
                "realm.signature",
                None,
                None,
                e.to_string(),
            );
            return;
        }

        // 5. The attested-tls binding.
        let expected = ctx.expected.report_data();
        if !constant_time_eq(&r.challenge, &expected) {
            a.fail(
                T::InstanceIdentity,
                cv::UNTRUSTWORTHY_INSTANCE,
                "realm.challenge",
                Some(hex::encode(&r.challenge)),
                Some(hex::encode(expected)),
                "the realm challenge is not the expected report_data: the Evidence is not bound to this connection",
            );
        }

        // 6. Realm reference values.
        let rv = &self.cfg.reference_values;
        if rv.realm_initial_measurements.is_empty() {
            a.fail(
                T::Executables,
                cv::UNRECOGNIZED_RUNTIME,
                "realm.initial_measurement",
                Some(hex::encode(&r.initial_measurement)),
                None,
                format!(
                    "policy {} has no realm initial measurements (realm_initial_measurements / reference_values)",
                    ctx.policy_id
                ),
            );
        } else if !rv
            .realm_initial_measurements
            .iter()
            .any(|m| constant_time_eq(m, &r.initial_measurement))
        {
            a.fail(
                T::Executables,
                cv::UNRECOGNIZED_RUNTIME,
                "realm.initial_measurement",
                Some(hex::encode(&r.initial_measurement)),
                Some(hex_join(&rv.realm_initial_measurements, ", ")),
                format!("RIM is not in the reference values of policy {}", ctx.policy_id),
            );
        }
        if !rv.realm_personalization_values.is_empty()
            && !rv
                .realm_personalization_values
                .iter()
                .any(|m| constant_time_eq(m, &r.personalization_value))
        {
            a.fail(
                T::Configuration,
                cv::UNSUPPORTABLE_CONFIG,
                "realm.personalization_value",
                Some(hex::encode(&r.personalization_value)),
                Some(hex_join(&rv.realm_personalization_values, ", ")),
                format!("RPV is not in the reference values of policy {}", ctx.policy_id),
            );
        }
        if !rv.rems.is_empty() && !rv.rems.iter().any(|q| q == &r.extensible_measurements) {
            a.fail(
                T::Executables,
                cv::UNRECOGNIZED_RUNTIME,
                "realm.extensible_measurements",
                Some(hex_join(&r.extensible_measurements, ", ")),
                None,
                format!("the REMs match no REM set of policy {}", ctx.policy_id),
            );
        }
        a.set(T::Configuration, cv::APPROVED_CONFIG);
        a.set(T::Executables, cv::APPROVED_RUNTIME);
        a.set(T::RuntimeOpaque, cv::ENCRYPTED_MEMORY);
    }

    fn check_platform_refs(&self, p: &PlatformClaims, ctx: &AppraisalContext<'_>, a: &mut Appraisal) {
        let refs = &self.cfg.reference_values.platforms;
        if refs.is_empty() {
            // Nothing to compare the platform firmware with: any platform
            // software, however old or vulnerable, would pass unnoticed.
            // (Hardware, which covers the platform's firmware: the
            // executables claim speaks for the realm's measurements.)
            a.warn(
                TrustClaim::Hardware,
                claim_value::VULNERABLE_HARDWARE,
                "platform.sw_components",
                Some(format!("{} component(s)", p.sw_components.len())),
                format!(
                    "policy {} has no platform reference values (cca.platform_sw_components / \
                     cca.reference_values): the platform's software is not checked",
                    ctx.policy_id
                ),
            );
            return;
        }
        let applicable: Vec<&PlatformReference> = refs
            .iter()
            .filter(|r| r.implementation_id.as_ref().is_none_or(|i| i == &p.implementation_id))
            .collect();
        let Some(first) = applicable.first() else {
            a.fail(
                TrustClaim::Hardware,
                claim_value::UNRECOGNIZED_HARDWARE,
                "platform.implementation_id",
                Some(hex::encode(&p.implementation_id)),
                None,
                format!(
                    "policy {} has no platform reference values for this implementation",
                    ctx.policy_id
                ),
            );
            return;
        };
        let require_all = self.cfg.require_all_sw_components;

        let matches = |r: &PlatformReference| {
            r.configuration.as_ref().is_none_or(|c| c == &p.config)
                && p.sw_components
                    .iter()
                    .all(|c| r.sw_components.iter().any(|s| s.matches(c)))
                && (!require_all || missing_sw_components(r, p).is_empty())
        };
        if applicable.iter().any(|r| matches(r)) {
            return;
        }
        // Explain against the first applicable entry.
        let before = a.findings.len();
        if let Some(c) = &first.configuration {
            if c != &p.config {
                a.fail(
                    TrustClaim::Configuration,
                    claim_value::UNSUPPORTABLE_CONFIG,
                    "platform.config",
                    Some(hex::encode(&p.config)),
                    Some(hex::encode(c)),
                    format!(
                        "platform configuration is not in the reference values of policy {}",
                        ctx.policy_id
                    ),
                );
            }
        }
        for c in &p.sw_components {
            if !first.sw_components.iter().any(|s| s.matches(c)) {
                a.fail(
                    TrustClaim::Executables,
                    claim_value::UNRECOGNIZED_RUNTIME,
                    "platform.sw_components",
                    Some(format!(
                        "{} {}",
                        c.component_type.as_deref().unwrap_or("(untyped)"),
                        hex::encode(&c.measurement_value)
                    )),
                    None,
                    format!(
                        "software component is not in the reference values of policy {}",
                        ctx.policy_id
                    ),
                );
            }
        }
        // With require_all_sw_components, a reference component the token
        // does not report (e.g. a skipped or replaced boot stage) refuses.
        let absent = if require_all {
            missing_sw_components(first, p)
        } else {
            Vec::new()
        };
        if !absent.is_empty() {
            let names: Vec<String> = absent
                .iter()
                .map(|s| {
                    format!(
                        "{} {}",
                        s.component_type.as_deref().unwrap_or("(untyped)"),
                        hex::encode(&s.measurement)
                    )
                })
                .collect();
            a.fail(
                TrustClaim::Executables,
                claim_value::UNRECOGNIZED_RUNTIME,
                "platform.sw_components",
                None,
                Some(names.join(", ")),
                format!(
                    "reference software component(s) missing from the token (policy {} requires all): {}",
                    ctx.policy_id,
                    names.join(", ")
                ),
            );
        }
        // Every component matched the first entry individually but no entry
        // matched as a whole (configuration of another entry): still a failure.
        if a.findings.len() == before {
            a.fail(
                TrustClaim::Executables,
                claim_value::UNRECOGNIZED_RUNTIME,
                "platform.sw_components",
                None,
                None,
                format!("platform matches no reference-value entry of policy {}", ctx.policy_id),
            );
        }
    }
}

/// Reference components of `r` that no software component of the token matches.
fn missing_sw_components<'r>(r: &'r PlatformReference, p: &PlatformClaims) -> Vec<&'r SwRef> {
    r.sw_components
        .iter()
        .filter(|s| !p.sw_components.iter().any(|c| s.matches(c)))
        .collect()
}

fn record_claims(t: &CcaToken, a: &mut Appraisal) {
    let p = &t.platform;
    let r = &t.realm;
    a.claim("platform.profile", p.profile.clone());
    a.claim("platform.challenge", hex::encode(&p.challenge));
    a.claim("platform.implementation_id", hex::encode(&p.implementation_id));
    a.claim("platform.instance_id", hex::encode(&p.instance_id));
    a.claim("platform.config", hex::encode(&p.config));
    a.claim(
        "platform.lifecycle",
        format!("{:#06x} ({})", p.lifecycle, Lifecycle::of(p.lifecycle).name()),
    );
    a.claim(
        "platform.sw_components",
        serde_json::Value::Array(p.sw_components.iter().map(SwComponent::to_json).collect()),
    );
    if let Some(v) = &p.verification_service {
        a.claim("platform.verification_service", v.clone());
    }
    a.claim("platform.hash_algo_id", p.hash_algo_id.clone());
    if let Some(v) = &r.profile {
        a.claim("realm.profile", v.clone());
    }
    a.claim("realm.challenge", hex::encode(&r.challenge));
    a.claim("realm.personalization_value", hex::encode(&r.personalization_value));
    a.claim("realm.initial_measurement", hex::encode(&r.initial_measurement));
    a.claim(
        "realm.extensible_measurements",
        serde_json::Value::Array(
            r.extensible_measurements
                .iter()
                .map(|m| hex::encode(m).into())
                .collect(),
        ),
    );
    a.claim("realm.hash_algo_id", r.hash_algo_id.clone());
    a.claim("realm.public_key", hex::encode(&r.public_key));
    a.claim("realm.public_key_hash_algo_id", r.public_key_hash_algo_id.clone());
}

impl Verifier for CcaVerifier {
    fn platform(&self) -> &'static str {
        "cca"
    }

    fn accepts_media_type(&self, media_type: &str) -> bool {
        media_type_matches(media_type)
    }

    fn detect(&self, raw: &[u8]) -> bool {
        // CBOR tag 399: major type 6, two-byte argument 0x018f.
        raw.starts_with(&[0xd9, 0x01, 0x8f])
    }

    fn appraise(&self, media_type: &str, evidence: &[u8], ctx: &AppraisalContext<'_>) -> Appraisal {
        if !media_type_matches(media_type) {
            return Appraisal::malfunction(
                ctx.policy_id,
                "media_type",
                format!("the CCA verifier does not appraise {media_type:?}"),
            );
        }
        match CcaToken::decode(evidence) {
            Ok(t) => self.appraise_token(&t, ctx),
            Err(e) => Appraisal::malfunction(ctx.policy_id, "cca_token", e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binder::ExpectedBinding;
    use crate::ear::Tier;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair};
    use ciborium::value::Value;
    use coset::{iana, CborSerializable, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};

    fn int(i: i64) -> Value {
        Value::Integer(i.into())
    }

    fn enc(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        out
    }

    fn keypair(alg: &'static signature::EcdsaSigningAlgorithm) -> EcdsaKeyPair {
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
        EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap()
    }

    fn sign(kp: &EcdsaKeyPair, alg: iana::Algorithm, payload: Vec<u8>, tagged: bool) -> Vec<u8> {
        let s = CoseSign1Builder::new()
            .protected(HeaderBuilder::new().algorithm(alg).build())
            .payload(payload)
            .create_signature(b"", |tbs| kp.sign(&SystemRandom::new(), tbs).unwrap().as_ref().to_vec())
            .build();
        if tagged {
            s.to_tagged_vec().unwrap()
        } else {
            s.to_vec().unwrap()
        }
    }

    /// A synthetic, correctly signed token: CPAK P-256, RAK P-384.
    struct Synth {
        cpak: EcdsaKeyPair,
        rak: EcdsaKeyPair,
        lifecycle: i64,
        rak_as_cose_key: bool,
        platform_alg: iana::Algorithm,
        realm_claims_extra: Vec<(Value, Value)>,
    }

    const INSTANCE: [u8; 33] = [1; 33];
    const IMPLEMENTATION: [u8; 32] = [2; 32];
    const CHALLENGE: [u8; 64] = [0x5a; 64];

    impl Synth {
        fn new() -> Self {
            Self {
                cpak: keypair(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
                rak: keypair(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
                lifecycle: 0x3000,
                rak_as_cose_key: false,
                platform_alg: iana::Algorithm::ES256,
                realm_claims_extra: Vec::new(),
            }
        }

        fn rak_bytes(&self) -> Vec<u8> {
            let p = self.rak.public_key().as_ref();
            if self.rak_as_cose_key {
                enc(&Value::Map(vec![
                    (int(1), int(2)),
                    (int(-1), int(2)),
                    (int(-2), Value::Bytes(p[1..49].to_vec())),
                    (int(-3), Value::Bytes(p[49..].to_vec())),
                ]))
            } else {
                p.to_vec()
            }
        }

        fn token(&self) -> Vec<u8> {
            let rak = self.rak_bytes();
            let mut realm = vec![
                (int(10), Value::Bytes(CHALLENGE.to_vec())),
                (int(44235), Value::Bytes(vec![0; 64])),
                (int(44236), Value::Text("sha-256".into())),
                (int(44237), Value::Bytes(rak.clone())),
                (int(44238), Value::Bytes(vec![0x11; 32])),
                (int(44239), Value::Array(vec![Value::Bytes(vec![0; 32]); 4])),
                (int(44240), Value::Text("sha-384".into())),
            ];
            realm.extend(self.realm_claims_extra.clone());
            let platform = Value::Map(vec![
                (int(265), Value::Text(EAT_PROFILE_CCA_PLATFORM.into())),
                (int(10), Value::Bytes(HashAlg::Sha384.digest(&rak))),
                (int(2396), Value::Bytes(IMPLEMENTATION.to_vec())),
                (int(256), Value::Bytes(INSTANCE.to_vec())),
                (int(2401), Value::Bytes(vec![])),
                (int(2395), int(self.lifecycle)),
                (
                    int(2399),
                    Value::Array(vec![Value::Map(vec![
                        (int(1), Value::Text("BL".into())),
                        (int(2), Value::Bytes(vec![0x22; 32])),
                        (int(5), Value::Bytes(vec![0x33; 32])),
                    ])]),
                ),
                (int(2402), Value::Text("sha-256".into())),
            ]);
            let p = sign(&self.cpak, self.platform_alg, enc(&platform), true);
            let r = sign(&self.rak, iana::Algorithm::ES384, enc(&Value::Map(realm)), false);
            enc(&Value::Tag(
                CCA_TOKEN_TAG,
                Box::new(Value::Map(vec![
                    (int(44234), Value::Bytes(p)),
                    (int(44241), Value::Bytes(r)),
                ])),
            ))
        }

        fn config(&self) -> CcaVerifierConfig {
            CcaVerifierConfig {
                trust_anchors: vec![TrustAnchor {
                    instance_id: INSTANCE.to_vec(),
                    implementation_id: IMPLEMENTATION.to_vec(),
                    key: EcPublicKey::from_raw_point(self.cpak.public_key().as_ref()).unwrap(),
                }],
                reference_values: CcaReferenceValues {
                    realm_initial_measurements: vec![vec![0x11; 32]],
                    platforms: vec![PlatformReference {
                        implementation_id: None,
                        configuration: None,
                        sw_components: vec![SwRef {
                            component_type: Some("BL".into()),
                            measurement: vec![0x22; 32],
                            signer_id: Some(vec![0x33; 32]),
                        }],
                    }],
                    ..Default::default()
                },
                ..Default::default()
            }
        }
    }

    fn run(cfg: CcaVerifierConfig, token: &[u8]) -> Appraisal {
        let exp = ExpectedBinding::ReportData(CHALLENGE);
        let ctx = AppraisalContext {
            expected: &exp,
            now: time::OffsetDateTime::UNIX_EPOCH,
            policy_id: "unit",
        };
        CcaVerifier::new(cfg).appraise(MEDIA_TYPE, token, &ctx)
    }

    fn failed(a: &Appraisal) -> Vec<&str> {
        a.findings
            .iter()
            .filter(|f| f.tier == Tier::Contraindicated)
            .map(|f| f.claim.as_str())
            .collect()
    }

    #[test]
    fn synthetic_token_is_affirming() {
        let s = Synth::new();
        let a = run(s.config(), &s.token());
        assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);
    }

    /// Guards issue 8 point 5: with no platform reference values the
    /// platform's software went unchecked and the result was affirming.
    /// It is now a warning that says so (still acceptable).
    #[test]
    fn no_platform_reference_values_is_a_warning_naming_it() {
        let s = Synth::new();
        let mut cfg = s.config();
        cfg.reference_values.platforms.clear();
        let a = run(cfg, &s.token());
        assert_eq!(a.status, Tier::Warning, "{:#?}", a.findings);
        assert_eq!(a.findings.len(), 1, "{:#?}", a.findings);
        let f = &a.findings[0];
        assert_eq!((f.claim.as_str(), f.tier), ("platform.sw_components", Tier::Warning));
        assert!(
            f.reason.contains("no platform reference values") && f.reason.contains("not checked"),
            "{f}"
        );
        assert_eq!(a.trust_vector[&TrustClaim::Hardware], claim_value::VULNERABLE_HARDWARE);
        assert_eq!(a.trust_vector[&TrustClaim::Executables], claim_value::APPROVED_RUNTIME);
    }

    #[test]
    fn rak_as_cose_key_verifies() {
        let mut s = Synth::new();
        s.rak_as_cose_key = true;
        let t = CcaToken::decode(&s.token()).unwrap();
        assert_eq!(t.realm.rak().unwrap().curve, Curve::P384);
        assert_eq!(run(s.config(), &s.token()).status, Tier::Affirming);
    }

    #[test]
    fn signed_debug_lifecycle_is_refused_unless_allowed() {
        let mut s = Synth::new();
        s.lifecycle = 0x5000;
        let token = s.token();
        assert_eq!(failed(&run(s.config(), &token)), ["platform.lifecycle"]);
        let mut cfg = s.config();
        cfg.allow_debug = true;
        let a = run(cfg, &token);
        assert_eq!(a.status, Tier::Warning);
        assert_eq!(a.trust_vector[&TrustClaim::Configuration], claim_value::UNSAFE_CONFIG);
    }

    #[test]
    fn algorithm_header_must_match_the_key() {
        let mut s = Synth::new();
        s.platform_alg = iana::Algorithm::ES384; // a P-256 signature labelled ES384
        assert_eq!(failed(&run(s.config(), &s.token())), ["platform.signature"]);
    }

    #[test]
    fn duplicate_and_ill_typed_claims_are_decode_errors() {
        let mut s = Synth::new();
        s.realm_claims_extra = vec![(int(44238), Value::Bytes(vec![0x11; 32]))];
        assert_eq!(
            CcaToken::decode(&s.token()).unwrap_err(),
            CcaError::DuplicateClaim {
                token: "realm",
                claim: "initial measurement (44238)"
            }
        );
        for (k, v) in [
            (44240, Value::Bytes(vec![])),
            (44239, Value::Array(vec![])),
            (10, Value::Bytes(vec![0; 63])),
        ] {
            let m = Value::Map(vec![(int(k), v)]);
            assert!(matches!(RealmClaims::decode(&enc(&m)), Err(CcaError::BadClaim { .. })));
        }
        // (A wrong instance-id type and an out-of-range lifecycle, each in
        // otherwise complete claims: tests/cca_vectors.rs.)
        let r = PlatformClaims::decode(&enc(&Value::Array(vec![])));
        assert!(
            matches!(&r, Err(CcaError::Structure { what: "platform claims", reason }) if reason.contains("not a CBOR map")),
            "{:?}",
            r.err()
        );
    }

    #[test]
    fn lifecycle_classes() {
        assert_eq!(Lifecycle::of(0x3003), Lifecycle::Secured);
        assert_eq!(Lifecycle::of(0x40ff), Lifecycle::NonPsaRotDebug);
        assert_eq!(Lifecycle::of(0x5000), Lifecycle::RecoverablePsaRotDebug);
        assert_eq!(Lifecycle::of(0x6000), Lifecycle::Decommissioned);
        assert_eq!(Lifecycle::of(0x1000), Lifecycle::AssemblyAndTest);
        assert_eq!(Lifecycle::of(0x0001), Lifecycle::Unknown);
        assert_eq!(Lifecycle::of(0x3100), Lifecycle::Invalid);
    }

    #[test]
    fn keys_are_parsed_with_bounds() {
        let key_err = |r: Result<EcPublicKey, CcaError>, want: &str| match r {
            Err(CcaError::Key(m)) => assert!(m.contains(want), "{m}"),
            other => panic!("{:?}", other.err()),
        };
        key_err(EcPublicKey::from_raw_point(&[4; 64]), "raw EC point of 64 bytes");
        key_err(EcPublicKey::from_raw_point(&[3; 65]), "not uncompressed (0x04)");
        assert!(EcPublicKey::from_raw_point(&[4; 65]).is_ok());
        key_err(EcPublicKey::from_cose_key(&[0xa0]), "kty is not EC2");
        key_err(EcPublicKey::from_cose_key(&[]), "not well-formed CBOR");
        let okp = enc(&Value::Map(vec![(int(1), int(1)), (int(-1), int(6))]));
        key_err(EcPublicKey::from_cose_key(&okp), "kty is not EC2");
        let short = enc(&Value::Map(vec![
            (int(1), int(2)),
            (int(-1), int(1)),
            (int(-2), Value::Bytes(vec![1; 31])),
            (int(-3), Value::Bytes(vec![1; 32])),
        ]));
        key_err(EcPublicKey::from_cose_key(&short), "must be 32 bytes, got 31 and 32");
        key_err(
            EcPublicKey::from_jwk(&serde_json::json!({"kty": "EC", "crv": "P-192", "x": "", "y": ""})),
            "unsupported JWK curve \"P-192\"",
        );
        key_err(
            EcPublicKey::from_jwk(&serde_json::json!({"kty": "OKP"})),
            "JWK kty is not EC",
        );
    }

    #[test]
    fn hash_algorithms() {
        assert_eq!(HashAlg::from_name("SHA-512"), Some(HashAlg::Sha512));
        assert_eq!(HashAlg::from_name("sha256"), None);
        assert_eq!(HashAlg::Sha384.digest(b"").len(), HashAlg::Sha384.len());
    }

    #[test]
    fn corim_mapping_of_registers_and_labels() {
        use crate::corim::{Environment, ReferenceValue, ReferenceValues};
        let env = Environment {
            vendor: Some("ARM".into()),
            ..Default::default()
        };
        let mut realm = ReferenceValue {
            environment: env.clone(),
            raw_value: Some(vec![7; 64]),
            ..Default::default()
        };
        realm
            .integrity_registers
            .insert("rim".into(), vec![("sha-256".into(), vec![1; 32])]);
        for i in 0..4u8 {
            realm
                .integrity_registers
                .insert(format!("rem{i}"), vec![("sha-256".into(), vec![i; 32])]);
        }
        let bl = ReferenceValue {
            environment: env,
            label: Some("BL".into()),
            digests: vec![("sha-256".into(), vec![9; 32])],
            ..Default::default()
        };
        let rvs = ReferenceValues {
            corim_id: None,
            signed: false,
            entries: vec![realm.clone(), bl],
        };
        let out = from_corim(&rvs).unwrap();
        assert_eq!(out.realm_initial_measurements, vec![vec![1; 32]]);
        assert_eq!(out.realm_personalization_values, vec![vec![7; 64]]);
        assert_eq!(out.rems, vec![vec![vec![0; 32], vec![1; 32], vec![2; 32], vec![3; 32]]]);
        assert_eq!(out.platforms.len(), 1);
        assert_eq!(out.platforms[0].sw_components[0].measurement, vec![9; 32]);
        realm.raw_value_mask = Some(vec![0xff; 64]);
        let rvs = ReferenceValues {
            corim_id: None,
            signed: false,
            entries: vec![realm],
        };
        let r = from_corim(&rvs);
        assert!(
            matches!(&r, Err(CcaError::Json { reason, .. }) if reason.contains("masked realm personalization value")),
            "{:?}",
            r.err()
        );
    }
}
