//! Placeholder: the cca verifier is being written (issue 3).

use std::sync::Arc;

use serde::Deserialize;

use crate::policy::{Policy, PolicyError};
use crate::verifier::Verifier;

/// Policy section `[cca]`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CcaPolicy {}

impl CcaPolicy {
    /// Builds the verifier for this section.
    pub fn verifier(&self, _policy: &Policy) -> Result<Arc<dyn Verifier>, PolicyError> {
        Err(PolicyError::Unsupported("cca"))
    }
}
