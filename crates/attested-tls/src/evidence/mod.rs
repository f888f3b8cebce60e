//! Evidence sources and the platform verifiers that read them.
//!
//! - [`attester`]: the [`attester::Attester`] trait (Evidence for a
//!   binding's `report_data`);
//! - [`sim`]: the simulated TEE (attester, verifier, simulation root);
//! - [`platform`]: SEV-SNP, TDX and SGX (DCAP), Arm CCA verifiers, and the
//!   Linux configfs-tsm attester for real hardware.

pub mod attester;
pub mod platform;
pub mod sim;
