//! Golden tests: both shared seat-expat / RFC 9261 vectors are reproduced
//! byte for byte.

use attested_tls::vectors::check_vector;

fn vector(name: &str) -> String {
    let path = format!("{}/../../vectors/rfc9261/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn assert_reproduced(name: &str) {
    let report = check_vector(&vector(name)).unwrap();
    let bad: Vec<_> = report.mismatches().collect();
    assert!(bad.is_empty(), "{name}: mismatches {bad:#?}");
    assert!(report.validates, "{name}: recomputed authenticator does not validate");
    assert_eq!(report.checks.len(), 13, "{name}: every expected key is checked");
}

#[test]
fn expat_label_vector_is_reproduced() {
    assert_reproduced("expat-ed25519-sha256-server.toml");
}

#[test]
fn legacy_attestation_label_vector_is_reproduced() {
    assert_reproduced("expat-ed25519-sha256-server-label-attestation.toml");
}

#[test]
fn a_changed_input_is_reported_as_mismatch() {
    let text = vector("expat-ed25519-sha256-server.toml").replace(
        "exporter_label = \"EXPORTER-cmw-attestation\"",
        "exporter_label = \"Attestation\"",
    );
    let report = check_vector(&text).unwrap();
    let bad: Vec<_> = report.mismatches().map(|c| c.name.as_str()).collect();
    assert!(bad.contains(&"binder") && bad.contains(&"exported_value"), "{bad:?}");
    assert!(!bad.contains(&"handshake_context"), "{bad:?}");
    assert!(!report.all_ok());
}

#[test]
fn a_vector_that_checks_only_some_values_is_not_ok() {
    // Keep only `spki` in [expected]: every other value goes unchecked.
    let text = vector("expat-ed25519-sha256-server.toml");
    let (input, expected) = text.split_once("[expected]").unwrap();
    let spki = expected.lines().find(|l| l.starts_with("spki =")).unwrap();
    let report = check_vector(&format!("{input}[expected]\n{spki}\n")).unwrap();
    assert!(report.mismatches().next().is_none());
    assert!(!report.all_ok(), "an incomplete vector must not pass");
    assert!(report.missing.iter().any(|m| m == "binder"), "{:?}", report.missing);
    let full = check_vector(&text).unwrap();
    assert!(full.all_ok() && full.missing.is_empty(), "{:?}", full.missing);
}

#[test]
fn unknown_keys_in_a_vector_file_are_refused() {
    let text = vector("expat-ed25519-sha256-server.toml");
    let typo = text.replacen("[input]\n", "[input]\nexporter_lable = \"x\"\n", 1);
    let e = check_vector(&typo).expect_err("a misspelt input key is refused");
    assert!(e.to_string().contains("exporter_lable"), "{e}");
}
