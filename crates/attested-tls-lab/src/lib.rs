//! # attested-tls-lab
//!
//! The attack lab: the diversion, relay and replay attacks of the formal
//! analyses of attested TLS (`../shared/spec/binding-mechanisms.md`),
//! executed over real TLS connections on loopback against each mode the
//! project implements, with the project's own relying-party code as the
//! victim client.
//!
//! - [`testbed`]: the simulated hardware quoting service (a sim world whose
//!   root key the attacker never gets), genuine attesters T1 (the one the
//!   client meant) and T2 (same measurement, another instance id), the
//!   I1 certificate authority and the victim's secret.
//! - [`attacker`]: the attacker's tools: TCP redirector, plaintext relay,
//!   a ClientHello reader, an attester that replays Evidence it obtained,
//!   a verifier that records the Evidence it sees, and the capability
//!   switches ([`Capabilities`]) that gate the test-only leak and observe
//!   hooks of the genuine attesters.
//! - [`modes`]: one [`modes::LabMode`] per mode configuration; the
//!   registry [`modes::registry`] is the only list of modes.
//! - [`attacks`]: the attack catalogue ([`AttackId`]) and the attacks
//!   that work the same on every mode (D1, R5).
//! - [`report`]: outcomes, the oracle's verdicts and the renderings
//!   (terminal table, JSON, one self-contained HTML page with an SVG
//!   message-sequence diagram per attack).
//!
//! The oracle: an attack SUCCEEDS only when the victim client reports
//! attested OK and the attacker (or, for a diversion, the party the
//! attacker diverted to) reads the client's application data in
//! plaintext. A refusal is reported with the check that refused it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attacker;
pub mod attacks;
pub mod modes;
pub mod report;
pub mod testbed;

pub use attacks::{AttackId, Capabilities};
pub use report::{LabReport, Outcome, Row};

/// What [`run_lab`] runs.
#[derive(Clone, Debug, Default)]
pub struct LabOptions {
    /// Only these attacks (ids as [`AttackId::id`], case-insensitive);
    /// empty: all.
    pub only: Vec<String>,
    /// Only these modes: a mode name (`expat`, `expat+I2`), or a prefix
    /// ending in `*` (`early*`: the family), case-insensitive; empty: all.
    pub modes: Vec<String>,
    /// Show a progress bar on the terminal (stderr).
    pub progress: bool,
}

/// Errors that stop the lab before any attack ran.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The testbed could not be set up.
    #[error("testbed: {0}")]
    Testbed(String),
    /// A filter names no attack or no mode.
    #[error("{0}")]
    Filter(String),
}

/// Whether `filter` (a name, or a prefix followed by `*`) selects `name`.
fn mode_matches(filter: &str, name: &str) -> bool {
    match filter.strip_suffix('*') {
        Some(prefix) => name.to_ascii_lowercase().starts_with(&prefix.to_ascii_lowercase()),
        None => filter.eq_ignore_ascii_case(name),
    }
}

/// Runs every selected attack against every selected mode and returns
/// what the runs did. Builds its own tokio runtime; call it from outside
/// one.
pub fn run_lab(options: &LabOptions) -> Result<LabReport, LabError> {
    let modes: Vec<Box<dyn modes::LabMode>> = modes::registry()
        .into_iter()
        .filter(|m| options.modes.is_empty() || options.modes.iter().any(|f| mode_matches(f, &m.name())))
        .collect();
    if modes.is_empty() {
        return Err(LabError::Filter(format!(
            "--mode {:?} names no mode; modes: {}",
            options.modes,
            modes::registry()
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut attacks: Vec<AttackId> = Vec::new();
    for a in AttackId::ALL {
        if options.only.is_empty() || options.only.iter().any(|o| o.eq_ignore_ascii_case(a.id())) {
            attacks.push(*a);
        }
    }
    if attacks.is_empty() {
        return Err(LabError::Filter(format!(
            "--only {:?} names no attack; attacks: {}",
            options.only,
            AttackId::ALL.iter().map(|a| a.id()).collect::<Vec<_>>().join(", ")
        )));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| LabError::Testbed(format!("tokio runtime: {e}")))?;
    let testbed = testbed::Testbed::new().map_err(LabError::Testbed)?;
    let total = (modes.len() * attacks.len()) as u64;
    let bar = if options.progress {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut rows = Vec::with_capacity(modes.len() * attacks.len());
    for mode in &modes {
        for attack in &attacks {
            bar.set_message(format!("{} / {}", mode.name(), attack.id()));
            let run = runtime.block_on(attacks::run(mode.as_ref(), *attack, &testbed));
            rows.push(Row {
                mode: mode.name(),
                family: mode.family().to_string(),
                gating: mode.gating(),
                attack: *attack,
                capabilities: attack.capabilities(),
                outcome: run.outcome,
                trace: run.trace,
            });
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    // Genuine servers of the last attacks may still run; they end with the
    // runtime.
    runtime.shutdown_background();
    Ok(LabReport { rows })
}

#[cfg(test)]
mod tests {
    use super::mode_matches;

    #[test]
    fn mode_filters_match_names_exactly_or_by_prefix() {
        assert!(mode_matches("expat", "expat"));
        assert!(!mode_matches("expat", "expat+I2"), "a family is selected with a star");
        assert!(mode_matches("EARLY*", "early+I1+I2"));
        assert!(mode_matches("expat+i2", "expat+I2"));
        assert!(!mode_matches("early*", "expat"));
    }
}
