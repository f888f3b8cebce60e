//! Hardware TEE platforms: attesters and verifiers for AMD SEV-SNP, Intel
//! TDX and SGX (DCAP), and Arm CCA, plus the Linux configfs-tsm attester
//! interface shared by SNP, TDX and CCA guests.

pub mod cca;
pub mod configfs;
pub mod dcap;
pub mod snp;

/// Temporary stand-in.
pub struct NoVerifier;
impl crate::verifier::Verifier for NoVerifier {
    fn platform(&self) -> &'static str {
        "none"
    }
    fn accepts_media_type(&self, _m: &str) -> bool {
        false
    }
    fn appraise(&self, _m: &str, _e: &[u8], ctx: &crate::verifier::AppraisalContext<'_>) -> crate::ear::Appraisal {
        crate::ear::Appraisal::malfunction(ctx.policy_id, "none", "no verifier")
    }
}
