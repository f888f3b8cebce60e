//! `atls lab`: runs the attack lab (crate `attested-tls-lab`) and prints
//! the results matrix.

use std::path::PathBuf;

use attested_tls_lab::{run_lab, LabOptions};

use crate::Failure;

/// Arguments of `atls lab`.
#[derive(clap::Args)]
pub struct LabArgs {
    /// Print the report as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Also write one self-contained HTML page (matrix and a
    /// message-sequence diagram per attack) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Also print the matrix as Markdown (docs/lab.md's table).
    #[arg(long)]
    markdown: bool,
    /// Run only these attacks (repeatable; ids as in the table, e.g. D1, R3, PH-leaf-key).
    #[arg(long, value_name = "ATTACK")]
    only: Vec<String>,
    /// Run only these modes (repeatable): a name (expat, expat+I2, early+I1) or a prefix ending in * (early*).
    #[arg(long, value_name = "MODE")]
    mode: Vec<String>,
    /// No progress bar (it is shown on stderr only when stderr is a
    /// terminal, and never with --json).
    #[arg(long)]
    no_progress: bool,
}

/// Runs the lab. Exit 0 when no attack succeeded against the default mode
/// with its default policy (I2) or against `early` with I1 or I2, 1
/// otherwise, 2 for a bad filter.
pub async fn run(args: LabArgs) -> Result<u8, Failure> {
    let opts = LabOptions {
        only: args.only,
        modes: args.mode,
        progress: !args.no_progress && !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    // run_lab builds its own runtime: run it off this one.
    let report = tokio::task::spawn_blocking(move || run_lab(&opts))
        .await
        .map_err(|e| Failure::input(format!("the lab stopped: {e}")))?
        .map_err(Failure::input)?;
    if args.json {
        outln!("{}", report.to_json());
    } else {
        out!("{}", report.to_table());
    }
    if args.markdown {
        out!("\n{}", report.to_markdown());
    }
    if let Some(path) = args.html {
        std::fs::write(&path, report.to_html())
            .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(if report.gating_failures().is_empty() { 0 } else { 1 })
}
