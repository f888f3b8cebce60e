//! Simulated TEE (placeholder while being written).

use serde::Deserialize;

use crate::policy::{Policy, PolicyError};

/// Policy section `[sim]`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SimPolicy {
    /// Trusted simulation roots.
    pub trusted_roots: Vec<std::path::PathBuf>,
    /// Allowed measurements.
    pub measurements: Vec<String>,
}

impl SimPolicy {
    /// Builds the verifier.
    pub fn verifier(&self, _p: &Policy) -> Result<crate::platform::NoVerifier, PolicyError> {
        Err(PolicyError::Unsupported("sim"))
    }
}
