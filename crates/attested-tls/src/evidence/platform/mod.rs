//! Hardware TEE platforms: attesters and verifiers for AMD SEV-SNP, Intel
//! TDX and SGX (DCAP), and Arm CCA, plus the Linux configfs-tsm attester
//! interface shared by SNP, TDX and CCA guests.

pub mod cca;
pub mod configfs;
pub mod dcap;
pub mod snp;
