//! Golden and negative tests of the DCAP (TDX, SGX) verifier on the real
//! quotes and collateral in `vectors/` (see `vectors/README.md` for the
//! expected outcomes and time windows), plus a cross-check of the TCB status
//! against dcap-qvl.

use std::path::Path;

use attested_tls::binder::ExpectedBinding;
use attested_tls::ear::{Ear, Tier};
use attested_tls::platform::dcap::{SGX_MEDIA_TYPE, TDX_MEDIA_TYPE};
use attested_tls::policy::Policy;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const V: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/");

fn read(p: &str) -> Vec<u8> {
    std::fs::read(format!("{V}{p}")).unwrap()
}

fn read_hex(p: &str) -> Vec<u8> {
    let t = String::from_utf8(read(p)).unwrap();
    let t: String = t.trim().trim_start_matches("0x").split_whitespace().collect();
    hex::decode(t).unwrap()
}

fn at(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &Rfc3339).unwrap()
}

const TDX_T: &str = "2025-07-01T00:00:00Z";
const TDX_MRTD: &str =
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
const TDX_RD: &str = "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20";
const TDX_COL: &str = "tdx/tdx_quote_collateral.json";

fn rd(h: &str) -> ExpectedBinding {
    ExpectedBinding::report_data_from_hex(h).unwrap()
}

fn policy(section: &str, collateral: &str, body: &str) -> Policy {
    let text = format!("id = \"golden\"\n[{section}]\ncollateral = [\"{V}{collateral}\"]\n{body}\n");
    Policy::from_toml(&text, Path::new("/")).unwrap()
}

fn tdx_policy(mrtd: &str, extra: &str) -> Policy {
    policy("tdx", TDX_COL, &format!("mrtd = [\"{mrtd}\"]\n{extra}"))
}

fn appraise(p: &Policy, media: &str, quote: &[u8], expected: &ExpectedBinding, now: &str) -> Ear {
    p.appraiser().unwrap().appraise_raw(media, quote, expected, at(now))
}

fn claim(ear: &Ear, sub: &str, name: &str) -> serde_json::Value {
    ear.submods[sub]
        .claims
        .get(name)
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

/// The contraindicated findings' claim names.
fn refused_claims(ear: &Ear, sub: &str) -> Vec<String> {
    ear.submods[sub]
        .findings
        .iter()
        .filter(|f| f.tier == Tier::Contraindicated)
        .map(|f| f.claim.clone())
        .collect()
}

#[test]
fn tdx_quote_is_affirming_and_up_to_date() {
    let ear = appraise(
        &tdx_policy(TDX_MRTD, ""),
        TDX_MEDIA_TYPE,
        &read("tdx/tdx_quote"),
        &rd(TDX_RD),
        TDX_T,
    );
    assert!(ear.is_affirming(), "{}", ear.render());
    assert_eq!(claim(&ear, "tdx", "tcb_status"), "UpToDate");
    assert_eq!(claim(&ear, "tdx", "advisory_ids"), serde_json::json!([]));
    assert_eq!(claim(&ear, "tdx", "fmspc"), "b0c06f000000");
    assert_eq!(claim(&ear, "tdx", "mrtd"), TDX_MRTD);
    assert_eq!(claim(&ear, "tdx", "tee_tcb_svn"), "06010300000000000000000000000000");
    assert_eq!(claim(&ear, "tdx", "report_data"), TDX_RD);
    assert_eq!(
        claim(&ear, "tdx", "rtmr0"),
        "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0"
    );
    assert_eq!(claim(&ear, "tdx", "ppid").as_str().map(str::len), Some(32));
    // Appraising again uses the cached PCK entry and gives the same result.
    let again = appraise(
        &tdx_policy(TDX_MRTD, ""),
        TDX_MEDIA_TYPE,
        &read("tdx/tdx_quote"),
        &rd(TDX_RD),
        TDX_T,
    );
    assert_eq!(again.submods, ear.submods);
}

#[test]
fn tdx_quote_window_bounds_are_inclusive_and_enforced() {
    let p = tdx_policy(TDX_MRTD, "");
    let q = read("tdx/tdx_quote");
    let a = p.appraiser().unwrap();
    let first = "2025-06-19T10:32:27Z";
    let last = "2025-07-19T10:00:35Z";
    assert!(a
        .appraise_raw(TDX_MEDIA_TYPE, &q, &rd(TDX_RD), at(first))
        .is_affirming());
    assert!(a.appraise_raw(TDX_MEDIA_TYPE, &q, &rd(TDX_RD), at(last)).is_affirming());

    let before = a.appraise_raw(TDX_MEDIA_TYPE, &q, &rd(TDX_RD), at("2025-06-19T10:32:26Z"));
    assert!(!before.is_affirming());
    let s = before.refusal_summary();
    assert!(s.contains("QE identity is not yet valid"), "{s}");

    let after = a.appraise_raw(TDX_MEDIA_TYPE, &q, &rd(TDX_RD), at("2025-07-19T10:00:36Z"));
    assert!(!after.is_acceptable(), "{}", after.render());

    let late = a.appraise_raw(TDX_MEDIA_TYPE, &q, &rd(TDX_RD), at("2026-11-26T00:00:00Z"));
    assert!(!late.is_acceptable());
    let s = late.refusal_summary();
    assert!(s.contains("PCK CRL expired"), "{s}");
    assert!(refused_claims(&late, "tdx")
        .iter()
        .all(|c| c == "collateral" || c == "pck_certificate"));
}

#[test]
fn tdx_td15ex_is_affirming() {
    let mrtd = "2a674327c50218dba880066b349b8d559d749ed68dce33fd651c184a877d084b07a9e583767a7ad5da13ed91deec2b70";
    let report_data = "2945321c99222c3622a14cf7feaab073e799be14b5f3e73cd2e6cad64e5f062463ad204f33f0a39e47d098330db88ca5b5d0a7afce540dfe4c4fe4a377190731";
    let p = policy(
        "tdx",
        "tdx/tdx_quote_td15ex_collateral.json",
        &format!("mrtd = [\"{mrtd}\"]"),
    );
    let ear = appraise(
        &p,
        TDX_MEDIA_TYPE,
        &read("tdx/tdx_quote_td15ex"),
        &rd(report_data),
        "2026-10-20T00:00:00Z",
    );
    assert!(ear.is_affirming(), "{}", ear.render());
    assert_eq!(claim(&ear, "tdx", "tcb_status"), "UpToDate");
    assert_eq!(claim(&ear, "tdx", "td_report_version"), "1.5-ex");
    assert_eq!(claim(&ear, "tdx", "tee_tcb_svn2"), "0f010400000000000000000000000000");
}

#[test]
fn tdx_outdated_has_no_matching_tcb_level() {
    let mrtd = "273828c46252fcbdd8ad2dd907130222b03466d52a2911d70c1a5950895d6bd1ae451d382d5a9b1b4c0ed0e5ae9a3dbd";
    let report_data = "d2142b643598eb5fae2bc8529dd79a558b29f868ccbb6531cb28dab9dce477280000000000000000000000000000000000000000000000000000000000000000";
    let p = policy(
        "tdx",
        "tdx/tdx_quote_outdated_collateral.json",
        &format!("mrtd = [\"{mrtd}\"]\nallowed_tcb_statuses = [\"UpToDate\", \"OutOfDate\", \"SWHardeningNeeded\"]"),
    );
    let ear = appraise(
        &p,
        TDX_MEDIA_TYPE,
        &read("tdx/tdx_quote_outdated"),
        &rd(report_data),
        "2026-03-01T00:00:00Z",
    );
    assert!(!ear.is_acceptable(), "{}", ear.render());
    assert_eq!(refused_claims(&ear, "tdx"), vec!["tcb_level"], "{}", ear.render());
    assert!(ear.refusal_summary().contains("no matching TCB level"));
}

#[test]
fn hex_quotes_have_no_matching_tcb_level_with_the_tdx_collateral() {
    for (file, mrtd, report_data) in [
        (
            "tdx/tdx-quote.hex",
            "7ba9e262ce6979087e34632603f354dd8f8a870f5947d116af8114db6c9d0d74c48bec4280e5b4f4a37025a10905bb29",
            "7148f47ef58b475fce69b386e2d6b4c964a9533cc328ea8e544db66612a5174698d006951cefa8fd4450e884300638e567e22f9a012ef5754aa6a9d9564fcd8a",
        ),
        (
            "tdx/quote-from-tappd.hex",
            "c68518a0ebb42136c12b2275164f8c72f25fa9a34392228687ed6e9caeb9c0f1dbd895e9cf475121c029dc47e70e91fd",
            "7668c6b4eafb62301c72714ecc7d90ce9a0e04b52dc117720df2047b0a59f1dbd937243eef1410a3cdc524aad66d4554b4f18b54da2fc0608dac40d6dea5f1d4",
        ),
    ] {
        let q = read_hex(file);
        let ear = appraise(&tdx_policy(mrtd, ""), TDX_MEDIA_TYPE, &q, &rd(report_data), TDX_T);
        assert!(!ear.is_acceptable(), "{file}: {}", ear.render());
        assert_eq!(refused_claims(&ear, "tdx"), vec!["tcb_level"], "{file}: {}", ear.render());
        assert_eq!(claim(&ear, "tdx", "tee_tcb_svn"), "05010200000000000000000000000000");
    }
}

const SGX_MRENCLAVE: &str = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
const SGX_RD: &str = "48656c6c6f2c20776f726c6421000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

#[test]
fn sgx_quote_is_refused_by_a_strict_policy_naming_status_and_advisories() {
    let p = policy(
        "sgx",
        "sgx/sgx_quote_collateral.json",
        &format!("mrenclave = [\"{SGX_MRENCLAVE}\"]"),
    );
    let ear = appraise(&p, SGX_MEDIA_TYPE, &read("sgx/sgx_quote"), &rd(SGX_RD), TDX_T);
    assert!(!ear.is_acceptable(), "{}", ear.render());
    assert_eq!(ear.status, Tier::Contraindicated);
    assert_eq!(refused_claims(&ear, "sgx"), vec!["tcb_status"]);
    let s = ear.refusal_summary();
    for needle in ["ConfigurationAndSWHardeningNeeded", "INTEL-SA-00289", "INTEL-SA-00615"] {
        assert!(s.contains(needle), "{needle} missing in {s}");
    }
    assert_eq!(claim(&ear, "sgx", "fmspc"), "00a067110000");
}

#[test]
fn sgx_quote_is_a_warning_when_its_status_is_allowed() {
    let p = policy(
        "sgx",
        "sgx/sgx_quote_collateral.json",
        &format!(
            "mrenclave = [\"{SGX_MRENCLAVE}\"]\nmin_isv_svn = 0\nallowed_tcb_statuses = [\"UpToDate\", \"ConfigurationAndSWHardeningNeeded\"]"
        ),
    );
    // (min_isv_svn is set so that the status is the only warning: an unset
    // floor is a warning of its own.)
    let ear = appraise(&p, SGX_MEDIA_TYPE, &read("sgx/sgx_quote"), &rd(SGX_RD), TDX_T);
    assert!(ear.is_acceptable(), "{}", ear.render());
    assert!(!ear.is_affirming());
    assert_eq!(ear.status, Tier::Warning);
    let w = &ear.submods["sgx"].findings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].reason.contains("ConfigurationAndSWHardeningNeeded") && w[0].reason.contains("INTEL-SA-00289"));
}

#[test]
fn flipped_report_data_byte_breaks_the_signature() {
    let mut q = read("tdx/tdx_quote");
    let off = 48 + 520;
    q[off] ^= 1;
    let mut flipped = hex::decode(TDX_RD).unwrap();
    flipped[0] ^= 1;
    // The binding matches the (modified) quote: only the signature fails.
    let ear = appraise(
        &tdx_policy(TDX_MRTD, ""),
        TDX_MEDIA_TYPE,
        &q,
        &rd(&hex::encode(flipped)),
        TDX_T,
    );
    assert!(!ear.is_acceptable());
    assert_eq!(refused_claims(&ear, "tdx"), vec!["signature"], "{}", ear.render());
    // Against the original binding, both fail.
    let ear = appraise(&tdx_policy(TDX_MRTD, ""), TDX_MEDIA_TYPE, &q, &rd(TDX_RD), TDX_T);
    assert_eq!(refused_claims(&ear, "tdx"), vec!["report_data", "signature"]);
}

#[test]
fn flipped_mrtd_byte_breaks_the_signature() {
    let mut q = read("tdx/tdx_quote");
    let off = 48 + 136;
    q[off] ^= 0x80;
    let mut mrtd = hex::decode(TDX_MRTD).unwrap();
    mrtd[0] ^= 0x80;
    let ear = appraise(
        &tdx_policy(&hex::encode(&mrtd), ""),
        TDX_MEDIA_TYPE,
        &q,
        &rd(TDX_RD),
        TDX_T,
    );
    assert_eq!(refused_claims(&ear, "tdx"), vec!["signature"], "{}", ear.render());
    let ear = appraise(&tdx_policy(TDX_MRTD, ""), TDX_MEDIA_TYPE, &q, &rd(TDX_RD), TDX_T);
    assert_eq!(refused_claims(&ear, "tdx"), vec!["mrtd", "signature"]);
}

#[test]
fn wrong_expected_report_data_is_refused() {
    let mut other = hex::decode(TDX_RD).unwrap();
    other[63] ^= 0xFF;
    let ear = appraise(
        &tdx_policy(TDX_MRTD, ""),
        TDX_MEDIA_TYPE,
        &read("tdx/tdx_quote"),
        &rd(&hex::encode(other)),
        TDX_T,
    );
    assert!(!ear.is_acceptable());
    assert_eq!(refused_claims(&ear, "tdx"), vec!["report_data"]);
    assert!(ear.refusal_summary().contains("not bound to this connection"));
}

#[test]
fn mrtd_not_in_policy_is_refused() {
    let other = "00".repeat(48);
    let ear = appraise(
        &tdx_policy(&other, ""),
        TDX_MEDIA_TYPE,
        &read("tdx/tdx_quote"),
        &rd(TDX_RD),
        TDX_T,
    );
    assert!(!ear.is_acceptable());
    assert_eq!(refused_claims(&ear, "tdx"), vec!["mrtd"]);
    let s = ear.refusal_summary();
    assert!(
        s.contains("not in the reference values of policy golden") && s.contains(TDX_MRTD),
        "{s}"
    );
    // And a policy without any MRTD refuses too.
    let p = policy("tdx", TDX_COL, "");
    let ear = appraise(&p, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T);
    assert!(ear.refusal_summary().contains("lists no reference MRTD values"));
}

#[test]
fn ppid_allow_list_is_enforced() {
    let ok = appraise(
        &tdx_policy(TDX_MRTD, ""),
        TDX_MEDIA_TYPE,
        &read("tdx/tdx_quote"),
        &rd(TDX_RD),
        TDX_T,
    );
    let ppid = claim(&ok, "tdx", "ppid");
    let ppid = ppid.as_str().unwrap();
    let listed = tdx_policy(TDX_MRTD, &format!("ppids = [\"{ppid}\"]"));
    assert!(appraise(&listed, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T).is_affirming());
    let other = tdx_policy(TDX_MRTD, &format!("ppids = [\"{}\"]", "11".repeat(16)));
    let ear = appraise(&other, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T);
    assert!(!ear.is_acceptable());
    assert_eq!(refused_claims(&ear, "tdx"), vec!["ppid"]);
}

#[test]
fn rtmr_allow_list_is_enforced() {
    let rtmr0 = "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0";
    let ok = tdx_policy(TDX_MRTD, &format!("rtmr0 = [\"{rtmr0}\"]"));
    assert!(appraise(&ok, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T).is_affirming());
    let bad = tdx_policy(TDX_MRTD, &format!("rtmr0 = [\"{}\"]", "00".repeat(48)));
    let ear = appraise(&bad, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T);
    assert_eq!(refused_claims(&ear, "tdx"), vec!["rtmr0"]);
}

#[test]
fn max_collateral_age_is_enforced() {
    // TCB info issued 2025-06-19, QE identity 2025-06-19: 12 days old on 2025-07-01.
    let strict = tdx_policy(TDX_MRTD, "max_collateral_age = 86400");
    let ear = appraise(&strict, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T);
    assert!(!ear.is_acceptable());
    assert!(ear.refusal_summary().contains("max_collateral_age"));
    let lax = tdx_policy(TDX_MRTD, "max_collateral_age = 2592000");
    assert!(appraise(&lax, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T).is_affirming());
}

#[test]
fn truncated_and_garbage_quotes_are_refused() {
    let q = read("tdx/tdx_quote");
    let p = tdx_policy(TDX_MRTD, "");
    for cut in [0, 10, 47, 48, 600, 700, 1000, 4000, 4935] {
        let ear = appraise(&p, TDX_MEDIA_TYPE, &q[..cut], &rd(TDX_RD), TDX_T);
        assert!(!ear.is_acceptable(), "cut {cut}");
        assert!(ear.refusal_summary().contains("malformed DCAP quote"), "cut {cut}");
    }
    let ear = appraise(&p, TDX_MEDIA_TYPE, &[0xFF; 6000], &rd(TDX_RD), TDX_T);
    assert!(!ear.is_acceptable());
    // The full quote without its zero padding still verifies.
    assert!(appraise(&p, TDX_MEDIA_TYPE, &q[..4936], &rd(TDX_RD), TDX_T).is_affirming());
}

#[test]
fn sgx_quote_presented_as_tdx_is_refused() {
    let p = tdx_policy(TDX_MRTD, "");
    let ear = appraise(&p, TDX_MEDIA_TYPE, &read("sgx/sgx_quote"), &rd(SGX_RD), TDX_T);
    assert!(!ear.is_acceptable());
    assert_eq!(refused_claims(&ear, "tdx"), vec!["tee_type"]);
}

#[test]
fn quote_without_matching_collateral_is_refused() {
    // SGX collateral only: the TDX FMSPC has none.
    let p = policy(
        "tdx",
        "sgx/sgx_quote_collateral.json",
        &format!("mrtd = [\"{TDX_MRTD}\"]"),
    );
    let ear = appraise(&p, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T);
    assert!(!ear.is_acceptable());
    assert!(ear
        .refusal_summary()
        .contains("no TDX collateral for FMSPC b0c06f000000"));
    // Another platform's TDX collateral (same FMSPC, other time): refused on time.
    let p = policy(
        "tdx",
        "tdx/tdx_quote_td15ex_collateral.json",
        &format!("mrtd = [\"{TDX_MRTD}\"]"),
    );
    let ear = appraise(&p, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T);
    assert!(!ear.is_acceptable());
    assert!(refused_claims(&ear, "tdx").contains(&"collateral".to_string()));
}

#[test]
fn garbage_collateral_is_refused_at_policy_load() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"{\"tcb_info\": 42}").unwrap();
    let text = format!("id = \"x\"\n[tdx]\nmrtd = [\"{TDX_MRTD}\"]\ncollateral = [\"bad.json\"]\n");
    let p = Policy::from_toml(&text, dir.path()).unwrap();
    let e = p.appraiser().unwrap_err().to_string();
    assert!(e.contains("tdx.collateral") && e.contains("bad.json"), "{e}");
    // Signed JSON modified after signing.
    let mut v: serde_json::Value = serde_json::from_slice(&read(TDX_COL)).unwrap();
    v["tcb_info"] = v["tcb_info"].as_str().unwrap().replace("OutOfDate", "UpToDate").into();
    std::fs::write(&bad, v.to_string()).unwrap();
    let e = p.appraiser().unwrap_err().to_string();
    assert!(e.contains("signature is invalid"), "{e}");
    // Missing file.
    let text = format!("id = \"x\"\n[tdx]\nmrtd = [\"{TDX_MRTD}\"]\ncollateral = [\"missing.json\"]\n");
    let e = Policy::from_toml(&text, dir.path())
        .unwrap()
        .appraiser()
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("tdx.collateral") && e.contains("cannot read collateral") && e.contains("missing.json"),
        "{e}"
    );
}

#[test]
fn collateral_directory_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(format!("{V}{TDX_COL}"), dir.path().join("a.json")).unwrap();
    std::fs::copy(
        format!("{V}tdx/tdx_quote_td15ex_collateral.json"),
        dir.path().join("b.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
    let text = format!("id = \"dir\"\n[tdx]\nmrtd = [\"{TDX_MRTD}\"]\ncollateral = [\".\"]\n");
    let p = Policy::from_toml(&text, dir.path()).unwrap();
    // Both sets share the FMSPC; the one valid at the time is used.
    let ear = appraise(&p, TDX_MEDIA_TYPE, &read("tdx/tdx_quote"), &rd(TDX_RD), TDX_T);
    assert!(ear.is_affirming(), "{}", ear.render());
}

#[test]
fn detect_and_media_types() {
    let tdx = tdx_policy(TDX_MRTD, "");
    let a = tdx.appraiser().unwrap();
    assert_eq!(a.detect(&read("tdx/tdx_quote")).map(|v| v.platform()), Some("tdx"));
    assert_eq!(
        a.detect(&read("tdx/tdx_quote_td15ex")).map(|v| v.platform()),
        Some("tdx")
    );
    assert!(a.detect(&read("sgx/sgx_quote")).is_none());
    assert!(a.verifier_for(TDX_MEDIA_TYPE).is_some());
    assert!(a.verifier_for(SGX_MEDIA_TYPE).is_none());
    let sgx = policy(
        "sgx",
        "sgx/sgx_quote_collateral.json",
        &format!("mrenclave = [\"{SGX_MRENCLAVE}\"]"),
    );
    let a = sgx.appraiser().unwrap();
    assert_eq!(a.detect(&read("sgx/sgx_quote")).map(|v| v.platform()), Some("sgx"));
    assert!(a.detect(&read("tdx/tdx_quote")).is_none());
}

/// dcap-qvl's TCB status (or `Err` with its message) for a vector.
fn dcap_qvl_status(quote: &[u8], collateral: &str, now: &str) -> Result<String, String> {
    let col: dcap_qvl::QuoteCollateralV3 = serde_json::from_slice(&read(collateral)).unwrap();
    dcap_qvl::verify::verify(quote, &col, at(now).unix_timestamp() as u64)
        .map(|r| r.status)
        .map_err(|e| format!("{e:#}"))
}

#[test]
fn tcb_status_matches_dcap_qvl() {
    let cases: [(&str, Vec<u8>, &str, &str, &str); 6] = [
        ("tdx", read("tdx/tdx_quote"), TDX_COL, TDX_T, TDX_MEDIA_TYPE),
        (
            "tdx",
            read("tdx/tdx_quote_td15ex"),
            "tdx/tdx_quote_td15ex_collateral.json",
            "2026-10-20T00:00:00Z",
            TDX_MEDIA_TYPE,
        ),
        (
            "tdx",
            read("tdx/tdx_quote_outdated"),
            "tdx/tdx_quote_outdated_collateral.json",
            "2026-03-01T00:00:00Z",
            TDX_MEDIA_TYPE,
        ),
        ("tdx", read_hex("tdx/tdx-quote.hex"), TDX_COL, TDX_T, TDX_MEDIA_TYPE),
        (
            "tdx",
            read_hex("tdx/quote-from-tappd.hex"),
            TDX_COL,
            TDX_T,
            TDX_MEDIA_TYPE,
        ),
        (
            "sgx",
            read("sgx/sgx_quote"),
            "sgx/sgx_quote_collateral.json",
            TDX_T,
            SGX_MEDIA_TYPE,
        ),
    ];
    for (section, quote, col, now, media) in cases {
        let theirs = dcap_qvl_status(&quote, col, now);
        let p = policy(section, col, "");
        let ear = appraise(&p, media, &quote, &ExpectedBinding::ReportData([0; 64]), now);
        let ours = claim(&ear, section, "tcb_status");
        match theirs {
            Ok(status) => assert_eq!(ours, status.as_str(), "{col}"),
            Err(e) => {
                assert!(e.contains("No matching TCB level"), "{col}: dcap-qvl: {e}");
                assert!(ours.is_null(), "{col}");
                assert!(
                    refused_claims(&ear, section).contains(&"tcb_level".to_string()),
                    "{col}"
                );
            }
        }
    }
    // Outside the window both refuse.
    let e = dcap_qvl_status(&read("tdx/tdx_quote"), TDX_COL, "2026-11-26T00:00:00Z").unwrap_err();
    assert!(e.contains("Expired"), "{e}");
}

// ---------------------------------------------------------------------------
// Several collateral sets for the same (TEE, FMSPC): the newest valid one is
// used, and every valid PCK CRL of the PCK CA is consulted. Intel collateral
// cannot be re-signed, so a "newer download" is the real collateral with its
// public (already verified) fields changed, as a later download would have.

mod overlapping_collateral {
    use super::*;
    use attested_tls::platform::dcap::collateral::{CollateralCache, TcbStatus, VerifiedCollateral};
    use attested_tls::platform::dcap::engine::{Engine, Failure, Verified};
    use attested_tls::platform::dcap::pki;
    use attested_tls::platform::dcap::quote::Quote;

    /// 2025-07-01T00:00:00Z, inside every window of the real collateral.
    const T: i64 = 1_751_328_000;

    fn real(source: &str) -> VerifiedCollateral {
        let text = String::from_utf8(read(TDX_COL)).unwrap();
        VerifiedCollateral::from_json(&text, source, &pki::intel_root().unwrap()).unwrap()
    }

    fn pck_serial(raw: &[u8]) -> Vec<u8> {
        let q = Quote::parse(raw).unwrap();
        pki::parse_pem_chain(q.pck_cert_data, "pck").unwrap()[0].serial.clone()
    }

    /// A later download: evaluation data number + 1, TCB info issued an hour
    /// later, every TCB level OutOfDate.
    fn newer(source: &str) -> VerifiedCollateral {
        let mut c = real(source);
        c.tcb_info.issue_date += 3600;
        c.tcb_info.eval_number += 1;
        for l in &mut c.tcb_info.levels {
            l.status = TcbStatus::OutOfDate;
        }
        c
    }

    /// Verifies the real TDX quote with `sets` loaded in the given order.
    /// Source names are chosen so that file-name order would not help.
    fn verify(sets: Vec<VerifiedCollateral>) -> Result<Verified, Vec<Failure>> {
        let mut cache = CollateralCache::new();
        for c in sets {
            cache.insert(c);
        }
        let raw = read("tdx/tdx_quote");
        Engine::new(pki::intel_root().unwrap(), cache).verify(&Quote::parse(&raw).unwrap(), T)
    }

    /// `n` and the real collateral as an older set, in the order asked.
    fn with_older(n: VerifiedCollateral, newer_first: bool) -> Vec<VerifiedCollateral> {
        if newer_first {
            vec![n, real("b-older.json")]
        } else {
            vec![real("b-older.json"), n]
        }
    }

    fn assert_revoked(r: Result<Verified, Vec<Failure>>, order: &str) {
        let f = r.map(|v| v.tcb_status).expect_err(order);
        assert_eq!(f.len(), 1, "{order}: {f:?}");
        assert_eq!(f[0].claim, "pck_certificate", "{order}: {f:?}");
        assert!(f[0].reason.contains("revoked by the PCK CRL"), "{order}: {f:?}");
    }

    #[test]
    fn a_newer_set_that_revokes_the_pck_refuses_in_both_load_orders() {
        let serial = pck_serial(&read("tdx/tdx_quote"));
        let revoking = || {
            let mut c = newer("a-newer.json");
            c.pck_crl.revoked.insert(serial.clone());
            c
        };
        assert_revoked(verify(vec![real("b-older.json"), revoking()]), "old first");
        assert_revoked(verify(vec![revoking(), real("b-older.json")]), "new first");
    }

    #[test]
    fn a_newer_evaluation_number_wins_in_both_load_orders() {
        for (order, sets) in [
            ("old first", vec![real("b-older.json"), newer("a-newer.json")]),
            ("new first", vec![newer("a-newer.json"), real("b-older.json")]),
        ] {
            let v = verify(sets).unwrap_or_else(|f| panic!("{order}: {f:?}"));
            assert_eq!(v.tcb_status, TcbStatus::OutOfDate, "{order}");
            assert_eq!(v.collateral.source, "a-newer.json", "{order}");
        }
        // Only the evaluation number differs (same issue dates): it still wins.
        for newer_first in [false, true] {
            let mut n = real("a-newer.json");
            n.tcb_info.eval_number += 1;
            for l in &mut n.tcb_info.levels {
                l.status = TcbStatus::OutOfDate;
            }
            let sets = with_older(n, newer_first);
            let v = verify(sets).unwrap();
            assert_eq!(v.tcb_status, TcbStatus::OutOfDate, "newer first: {newer_first}");
        }
    }

    #[test]
    fn a_later_qe_identity_or_crl_breaks_a_tie_in_both_load_orders() {
        let variants: [fn(&mut VerifiedCollateral); 3] = [
            |c| c.qe_identity.eval_number += 1,
            |c| c.qe_identity.issue_date += 60,
            |c| c.pck_crl.this_update += 60,
        ];
        for bump in variants {
            for newer_first in [false, true] {
                let mut n = real("a-newer.json");
                bump(&mut n);
                for l in &mut n.tcb_info.levels {
                    l.status = TcbStatus::OutOfDate;
                }
                let sets = with_older(n, newer_first);
                let v = verify(sets).unwrap();
                assert_eq!(v.collateral.source, "a-newer.json", "newer first: {newer_first}");
            }
        }
    }

    #[test]
    fn a_revocation_in_any_valid_pck_crl_refuses() {
        // The newest set is chosen and its CRL does not list the PCK, but
        // another loaded set's CRL (same PCK CA, valid now) does.
        let serial = pck_serial(&read("tdx/tdx_quote"));
        let revoking_older = || {
            let mut c = real("b-older.json");
            c.pck_crl.revoked.insert(serial.clone());
            c
        };
        assert_revoked(verify(vec![revoking_older(), newer("a-newer.json")]), "old first");
        assert_revoked(verify(vec![newer("a-newer.json"), revoking_older()]), "new first");
        // A CRL that is not valid at the verification time is not relied on.
        let mut stale = revoking_older();
        stale.pck_crl.next_update = T - 1;
        let v = verify(vec![stale, newer("a-newer.json")]).unwrap();
        assert_eq!(v.collateral.source, "a-newer.json");
    }
}
