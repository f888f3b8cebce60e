//! Attesters: components that produce Evidence bound to a connection.

use crate::binder::BindingClaims;
use crate::cmw::Cmw;

/// Why Evidence could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The platform interface failed (configfs-tsm, device, ...).
    #[error("attestation interface {interface} failed: {reason}")]
    Platform {
        /// Which interface.
        interface: String,
        /// What happened.
        reason: String,
    },
    /// The Evidence would not fit in the `cmw_attestation` extension.
    #[error("Evidence is {0} bytes, larger than the {max}-byte cmw_attestation limit", max = crate::cmw::MAX_CMW_LEN)]
    TooLarge(usize),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Produces Evidence whose signed part carries the binder and AIK_pub_hash.
///
/// Implementations: [`crate::sim::SimAttester`] (simulated TEE),
/// `crate::platform::configfs::ConfigfsAttester` (SEV-SNP, TDX, CCA guests).
pub trait Attester: Send + Sync {
    /// Short platform name (`sim`, `snp`, `tdx`, `cca`).
    fn platform(&self) -> &str;
    /// Produces Evidence for `binding`, wrapped as a CMW.
    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError>;
    /// Whether [`Attester::attest`] may block for long (it talks to
    /// firmware, a device or the host). The tokio adapter runs such
    /// attesters on the blocking thread pool under the attestation
    /// deadline, so a slow or hung platform neither stalls the runtime nor
    /// holds the connection past its deadline; attesters that only compute
    /// return `false` and run inline, without the thread hand-off.
    fn may_block(&self) -> bool {
        true
    }
}
