//! `atls bench`.

use crate::Failure;

/// Arguments of `atls bench`.
#[derive(clap::Args)]
pub struct BenchArgs {}

pub async fn run(_a: BenchArgs) -> Result<u8, Failure> {
    Err(Failure::input("not yet"))
}
