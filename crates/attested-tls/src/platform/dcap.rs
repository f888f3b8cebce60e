//! Placeholder: the Intel DCAP (TDX, SGX) verifier is being written (issue 3).

use std::sync::Arc;

use serde::Deserialize;

use crate::policy::{Policy, PolicyError};
use crate::verifier::Verifier;

/// Policy section `[tdx]`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TdxPolicy {}

impl TdxPolicy {
    /// Builds the verifier for this section.
    pub fn verifier(&self, _policy: &Policy) -> Result<Arc<dyn Verifier>, PolicyError> {
        Err(PolicyError::Unsupported("tdx"))
    }
}

/// Policy section `[sgx]`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SgxPolicy {}

impl SgxPolicy {
    /// Builds the verifier for this section.
    pub fn verifier(&self, _policy: &Policy) -> Result<Arc<dyn Verifier>, PolicyError> {
        Err(PolicyError::Unsupported("sgx"))
    }
}
