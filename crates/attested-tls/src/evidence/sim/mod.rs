//! The simulated TEE: the embedded default platform for development, tests,
//! CI and the attack lab.
//!
//! A *simulation root* ([`SimRoot`], a P-256 CA) issues *instances*
//! ([`SimInstance`]): an instance key, a certificate chained to the root
//! that certifies the instance id, and the instance's configuration
//! (measurement, debug flag, security version). A [`SimAttester`] signs
//! Evidence with the instance key; a [`SimVerifier`] appraises it against a
//! [`SimPolicy`].
//!
//! Simulated Evidence is never accepted by accident: a verifier refuses it
//! unless its policy explicitly trusts the simulation root that issued the
//! instance (`[sim] trusted_roots`).
//!
//! # Evidence format
//!
//! A tagged COSE_Sign1 (media type [`SIM_MEDIA_TYPE`]) whose protected header
//! holds `alg` = ES256 (-7) and `x5chain` (33) = the instance certificate
//! (DER), and whose payload is an EAT (CWT claims set):
//!
//! | label  | claim               | value                                          |
//! |--------|---------------------|------------------------------------------------|
//! | 10     | `eat_nonce`         | the seat-expat binder (bstr)                   |
//! | 256    | `ueid`              | the instance id (bstr)                         |
//! | 265    | `eat_profile`       | [`SIM_EAT_PROFILE`]                            |
//! | 6      | `iat`               | seconds since the Unix epoch                   |
//! | 263    | `dbgstat`           | 0 = debug enabled, 1 = disabled (RFC 9711)     |
//! | -70001 | measurement         | bstr                                           |
//! | -70002 | `aik_pub_hash`      | `Hash(SPKI)` of the authenticator key (bstr)   |
//! | -70003 | security version    | uint                                           |
//! | -70004 | hash algorithm      | `"sha256"` / `"sha384"`                        |
//!
//! # Example
//!
//! ```
//! use attested_tls::binder::{BindingClaims, ExpectedBinding};
//! use attested_tls::crypto::HashAlgorithm;
//! use attested_tls::sim::{ephemeral_world, SimAttester, SimPolicy, SimVerifier};
//! use attested_tls::verifier::{AppraisalContext, Verifier};
//!
//! let world = ephemeral_world(1).unwrap();
//! let instance = world.instances[0].clone();
//! let policy = SimPolicy {
//!     measurements: vec![hex::encode(&instance.config().measurement)],
//!     // Without a floor the result would be a warning naming this key.
//!     min_security_version: Some(instance.config().security_version),
//!     ..SimPolicy::default()
//! };
//! let verifier = SimVerifier::new(policy, vec![world.root.cert_der().to_vec()]).unwrap();
//!
//! let binding = BindingClaims::from_exported_value(HashAlgorithm::Sha256, b"spki", &[7; 32]);
//! let evidence = SimAttester::new(instance).evidence(&binding).unwrap();
//! let expected = ExpectedBinding::Claims(binding);
//! let ctx = AppraisalContext { expected: &expected, now: time::OffsetDateTime::now_utc(), policy_id: "demo" };
//! let appraisal = verifier.appraise(attested_tls::sim::SIM_MEDIA_TYPE, &evidence, &ctx);
//! assert!(appraisal.is_affirming(), "{:?}", appraisal.findings);
//! ```

mod ca;
mod eat;
mod verify;
mod world;

use std::path::PathBuf;

pub use ca::{SimInstance, SimInstanceConfig, SimRoot};
pub use eat::{SimAttester, SIM_EAT_PROFILE};
pub use verify::{SimPolicy, SimVerifier};
pub use world::{default_measurement, ephemeral_world, init, init_with_options, InitOptions, SimWorld};

/// The media type of simulated-TEE Evidence (a CMW record type).
pub const SIM_MEDIA_TYPE: &str = "application/eat+cwt; eat_profile=\"tag:attested-tls.dev,2026:sim-tee#1\"";

/// Private CWT claim label: the measurement (bstr).
pub const CLAIM_MEASUREMENT: i64 = -70001;
/// Private CWT claim label: `AIK_pub_hash` (bstr).
pub const CLAIM_AIK_PUB_HASH: i64 = -70002;
/// Private CWT claim label: the security version number (uint).
pub const CLAIM_SECURITY_VERSION: i64 = -70003;
/// Private CWT claim label: the name of the hash the binder was computed with.
pub const CLAIM_HASH_ALG: i64 = -70004;

/// Largest Evidence (COSE_Sign1) the verifier decodes.
pub const MAX_EVIDENCE_LEN: usize = 16 * 1024;

/// Why a simulation root, instance or Evidence could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file of the simulation world already exists (or a symlink stands
    /// in its place) and replacing it was not asked for.
    #[error("{path} already exists: refusing to overwrite it (replacing root.key orphans every instance it issued); pass force (`atls sim init --force`) to replace the world, or choose another directory")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// A file's content is invalid.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong in it.
        source: Box<SimError>,
    },
    /// A field of an instance file, a PEM input or a configuration is invalid.
    #[error("field {field} is invalid: {reason}")]
    Invalid {
        /// The field (`measurement`, `certificate`, `private_key`, ...).
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// The instance file is not valid TOML or lacks a field (the message
    /// names the field).
    #[error("instance file is invalid: {0}")]
    Toml(String),
    /// Key generation, certificate generation or signing failed.
    #[error("simulated TEE crypto operation failed: {0}")]
    Crypto(String),
}

impl SimError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            e @ (Self::Io { .. } | Self::File { .. } | Self::Exists { .. }) => e,
            other => Self::File {
                path: path.to_path_buf(),
                source: Box::new(other),
            },
        }
    }
}

/// Normalizes a media type for comparison: whitespace around `;` and `=`
/// is dropped and the type/subtype and parameter names are lower-cased.
fn normalize_media_type(m: &str) -> String {
    m.split(';')
        .enumerate()
        .map(|(i, part)| {
            let part = part.trim();
            if i == 0 {
                part.to_ascii_lowercase()
            } else {
                match part.split_once('=') {
                    Some((k, v)) => format!("{}={}", k.trim().to_ascii_lowercase(), v.trim()),
                    None => part.to_ascii_lowercase(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// True when `media_type` is [`SIM_MEDIA_TYPE`] (ignoring whitespace around
/// `;` and the case of the type and parameter names).
pub fn is_sim_media_type(media_type: &str) -> bool {
    normalize_media_type(media_type) == normalize_media_type(SIM_MEDIA_TYPE)
}

#[cfg(test)]
mod tests;
