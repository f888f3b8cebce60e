//! `atls lab` from the command line: filters, output formats and the exit
//! rule (a success gates only against the default mode with its default
//! policy, I2, or against `early` with I1 or I2).

use std::process::Command;

fn atls(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_atls"))
        .args(args)
        .output()
        .expect("atls runs")
}

/// Guards the exit rule's negative side and the JSON output: D1 refused by
/// I2 under the default policy exits 0, and the row names the check.
#[test]
fn d1_against_the_default_policy_is_refused_by_i2_and_exits_0() {
    let out = atls(&["lab", "--only", "D1", "--mode", "expat+I2", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &json["rows"][0];
    assert_eq!(row["attack"], "D1");
    assert_eq!(row["mode"], "expat+I2");
    assert_eq!(row["outcome"]["outcome"], "refused");
    assert_eq!(row["outcome"]["check"], "EAR finding sim.instance_id");
}

/// Guards that a success outside the gated configurations does not fail
/// the lab (D1 against expat without identity succeeds by design), and
/// that --html writes one page with the diagram.
#[test]
fn a_success_against_an_ungated_mode_exits_0_and_html_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("lab.html");
    let out = atls(&[
        "lab",
        "--only",
        "D1",
        "--mode",
        "expat",
        "--no-progress",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("SUCCEEDED") && !table.contains("FAILS THE LAB"),
        "{table}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<svg") && page.contains("redirected"),
        "the D1 diagram is on the page"
    );
}

/// Unknown attack ids are a usage error (exit 2) naming the valid ones.
#[test]
fn an_unknown_attack_is_a_usage_error() {
    let out = atls(&["lab", "--only", "R9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PH-leaf-key"));
}
