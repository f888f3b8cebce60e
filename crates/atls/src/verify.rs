//! `atls verify`: offline appraisal of one piece of Evidence.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use attested_tls::attester::Attester;

use crate::Failure;

/// Arguments of `atls verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Evidence file: a CMW (CBOR or JSON), or raw platform Evidence
    /// (binary or hex).
    #[arg(long)]
    evidence: PathBuf,
    /// Appraisal policy (TOML).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Expected report data (64 bytes hex) the Evidence must be bound to.
    #[arg(long)]
    report_data: Option<String>,
    /// Verification time (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
    /// Print the EAR as JSON.
    #[arg(long)]
    json: bool,
}

pub fn configfs_attester(_dir: &Path) -> Result<Option<Arc<dyn Attester>>, Failure> {
    Err(Failure::input(
        "the configfs attester is not available in this build yet",
    ))
}

pub fn run(_args: VerifyArgs) -> Result<u8, Failure> {
    Err(Failure::input("atls verify is not available in this build yet"))
}
