//! Golden tests of the SEV-SNP verifier against the real vectors in
//! `vectors/sev-snp` (see `vectors/README.md` for the expected outcomes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use attested_tls::binder::ExpectedBinding;
use attested_tls::cmw::{Cmw, CmwRecord};
use attested_tls::ear::{Appraisal, Tier};
use attested_tls::platform::snp::certs::sha256;
use attested_tls::platform::snp::*;
use attested_tls::policy::Policy;
use attested_tls::verifier::{AppraisalContext, Verifier};

#[path = "support/snp_synthetic.rs"]
mod snp_synthetic;

const MEASUREMENT: &str =
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
const REPORT_DATA: &str = "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd";
const CHIP_ID: &str = "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6";
/// 2025-01-01T00:00:00Z: inside both VCEKs' validity.
const NOW: i64 = 1_735_689_600;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/sev-snp")
}

fn read(name: &str) -> Vec<u8> {
    let p = dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn report() -> Vec<u8> {
    hex::decode(String::from_utf8(read("report_milan.hex")).unwrap().trim()).unwrap()
}

fn pem_certs(name: &str) -> Vec<Vec<u8>> {
    let text = read(name);
    let mut out = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(&text) {
        out.push(pem.unwrap().contents);
    }
    out
}

fn expected() -> ExpectedBinding {
    ExpectedBinding::report_data_from_hex(REPORT_DATA).unwrap()
}

fn at(t: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t).unwrap()
}

/// The certified TCB of the Milan vector, as a policy floor it meets.
const MILAN_MIN_TCB: &str = "min_tcb = { bootloader = 3, tee = 0, snp = 8, microcode = 115 }";

/// A verifier from a policy whose `[snp]` section is `extra` plus the
/// vector's measurement and, unless `extra` sets them, the floors
/// [`MILAN_MIN_TCB`] and `min_guest_svn = 0` (an unset floor makes every
/// result a warning, see `an_unset_min_tcb_is_a_warning_naming_it`);
/// relative paths resolve against the vectors.
fn verifier(extra: &str) -> SnpVerifier {
    verifier_in(&dir(), extra)
}

fn verifier_in(base: &Path, extra: &str) -> SnpVerifier {
    let floor = if extra.contains("min_tcb") { "" } else { MILAN_MIN_TCB };
    let svn_floor = if extra.contains("min_guest_svn") {
        ""
    } else {
        "min_guest_svn = 0"
    };
    let p = Policy::from_toml(
        &format!("id = \"snp-test\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\n{floor}\n{svn_floor}\n{extra}\n"),
        base,
    )
    .unwrap();
    SnpVerifier::new(p.snp.as_ref().unwrap(), &p).unwrap()
}

/// A verifier trusting only the AMD roots of `gens` (not all built-in
/// ones), with the Milan VCEK: to check that a chain does not verify under
/// another product line's root. Roots can only be narrowed this way, in
/// code: a policy always trusts the built-in roots.
fn verifier_with_roots_of(gens: &[&str]) -> SnpVerifier {
    let mut store = TrustStore::empty();
    for gen in gens {
        let ark = &pem_certs(&format!("amd-roots/{gen}/ark.pem"))[0];
        let ask = &pem_certs(&format!("amd-roots/{gen}/ask.pem"))[0];
        store.add_root(ParsedCert::from_der(ark).unwrap()).unwrap();
        store.add_intermediate(ParsedCert::from_der(ask).unwrap());
    }
    let cfg = SnpConfig::from_policy(&SnpPolicy {
        measurements: vec![MEASUREMENT.into()],
        ..Default::default()
    })
    .unwrap();
    let mut v = SnpVerifier::with_trust_store(cfg, store);
    v.add_cert(&read("vcek_milan.der")).unwrap();
    v
}

fn appraise_with(
    v: &SnpVerifier,
    media_type: &str,
    evidence: &[u8],
    expected: &ExpectedBinding,
    now: i64,
) -> Appraisal {
    let ctx = AppraisalContext {
        expected,
        now: at(now),
        policy_id: "snp-test",
    };
    v.appraise(media_type, evidence, &ctx)
}

fn appraise_raw(v: &SnpVerifier, report: &[u8]) -> Appraisal {
    appraise_with(v, MEDIA_TYPE_REPORT, report, &expected(), NOW)
}

fn claims(a: &Appraisal) -> Vec<&str> {
    a.findings.iter().map(|f| f.claim.as_str()).collect()
}

fn assert_refused_for(a: &Appraisal, claim: &str) {
    assert_eq!(a.status, Tier::Contraindicated, "{a:#?}");
    assert!(
        claims(a).contains(&claim),
        "expected a {claim:?} finding, got {:#?}",
        a.findings
    );
}

fn milan_table() -> Vec<u8> {
    let chain = pem_certs("cert_chain_milan"); // ASK then ARK
    let vcek = read("vcek_milan.der");
    build_cert_table(&[(guid::VCEK, &vcek), (guid::ASK, &chain[0]), (guid::ARK, &chain[1])])
}

#[test]
fn milan_report_with_vcek_from_the_policy_is_affirming() {
    let v = verifier("certs = [\"vcek_milan.der\"]");
    let r = report();
    assert!(v.detect(&r));
    let a = appraise_raw(&v, &r);
    assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);
    assert_eq!(a.claims["product"], "Milan");
    assert_eq!(a.claims["measurement"], MEASUREMENT);
    assert_eq!(a.claims["chip_id"], CHIP_ID);
    assert_eq!(a.claims["version"], 2);
    assert_eq!(a.claims["vmpl"], 0);
    assert_eq!(a.claims["signing_key"], "vcek");
    assert_eq!(a.claims["policy"]["debug"], false);
    let tcb = serde_json::json!({"bootloader": 3, "tee": 0, "snp": 8, "microcode": 115});
    assert_eq!(a.claims["reported_tcb"], tcb);
    assert_eq!(a.claims["certified_tcb"], tcb);
    assert_eq!(a.claims["endorsement_key"]["root"], "ARK-Milan");
    // The root is named by the hash of its DER, not only by its CN.
    let ark = &pem_certs("amd-roots/milan/ark.pem")[0];
    assert_eq!(a.claims["endorsement_key"]["root_sha256"], hex::encode(sha256(ark)));
    assert_eq!(a.claims["endorsement_key"]["root_origin"], "built-in AMD root");
}

#[test]
fn milan_report_in_the_envelope_with_the_host_cert_table_is_affirming() {
    let v = verifier("");
    let env = encode_envelope(&report(), Some(&milan_table()));
    let a = appraise_with(&v, MEDIA_TYPE_ENVELOPE, &env, &expected(), NOW);
    assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);

    // Through the policy's appraiser and a CMW, as on a connection.
    let p = Policy::from_toml(
        &format!("id = \"snp-test\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\n{MILAN_MIN_TCB}\nmin_guest_svn = 0\n"),
        &dir(),
    )
    .unwrap();
    let cmw = Cmw::Record(CmwRecord::evidence(MEDIA_TYPE_ENVELOPE, env)).to_cbor();
    let ear = p.appraiser().unwrap().appraise_cmw_bytes(&cmw, &expected(), at(NOW));
    assert!(ear.is_affirming(), "{}", ear.render());
}

#[test]
fn second_appraisal_uses_the_cached_chain() {
    let v = verifier("");
    let env = encode_envelope(&report(), Some(&milan_table()));
    assert!(v.cache().is_empty());
    assert!(appraise_with(&v, MEDIA_TYPE_ENVELOPE, &env, &expected(), NOW).is_affirming());
    assert_eq!(v.cache().len(), 1);
    assert!(v.cache().contains(&read("vcek_milan.der")));
    // The cache holds no time decision: a later time still fails.
    let a = appraise_with(&v, MEDIA_TYPE_ENVELOPE, &env, &expected(), 1_950_000_000);
    assert_refused_for(&a, "cert_validity");
    assert!(appraise_with(&v, MEDIA_TYPE_ENVELOPE, &env, &expected(), NOW).is_affirming());
    assert_eq!(v.cache().len(), 1);
    v.cache().clear();
    assert!(v.cache().is_empty());
}

#[test]
fn flipped_bit_7_of_byte_21_fails_the_signature() {
    let v = verifier("certs = [\"vcek_milan.der\"]");
    let mut r = report();
    r[21] ^= 0x80;
    assert_refused_for(&appraise_raw(&v, &r), "signature");
}

#[test]
fn any_changed_byte_of_the_signed_area_fails_the_signature() {
    let v = verifier("certs = [\"vcek_milan.der\"]");
    let orig = report();
    for i in 0..0x2A0 {
        let mut r = orig.clone();
        r[i] ^= 0x01;
        let a = appraise_raw(&v, &r);
        assert_ne!(a.status, Tier::Affirming, "byte {i:#x}");
        // An unsupported signature algorithm is refused before the
        // signature is checked; any other byte fails the signature.
        let expected = if (0x34..0x38).contains(&i) {
            "sig_algo"
        } else {
            "signature"
        };
        assert!(claims(&a).contains(&expected), "byte {i:#x}: {:?}", a.findings);
    }
}

#[test]
fn corrupted_signature_bytes_fail() {
    let v = verifier("certs = [\"vcek_milan.der\"]");
    let orig = report();
    for i in [0x2A0, 0x2A0 + 47, 0x2E8, 0x2E8 + 47] {
        let mut r = orig.clone();
        r[i] ^= 0x01;
        assert_refused_for(&appraise_raw(&v, &r), "signature");
    }
    // A non-zero byte beyond the 48-byte scalar is refused, not truncated.
    let mut r = orig.clone();
    r[0x2A0 + 60] = 1;
    let a = appraise_raw(&v, &r);
    assert_refused_for(&a, "signature");
    assert!(a.findings[0].reason.contains("beyond the 48-byte"), "{:?}", a.findings);
}

#[test]
fn milan_vcek_against_genoa_or_turin_roots_fails() {
    for gen in ["genoa", "turin"] {
        let v = verifier_with_roots_of(&[gen]);
        let a = appraise_raw(&v, &report());
        assert_refused_for(&a, "endorsement_key");
    }
    // The signatures themselves do not verify across product lines.
    for gen in ["genoa", "turin"] {
        let ark = ParsedCert::from_der(&pem_certs(&format!("amd-roots/{gen}/ark.pem"))[0]).unwrap();
        let ask = ParsedCert::from_der(&pem_certs(&format!("amd-roots/{gen}/ask.pem"))[0]).unwrap();
        let vcek = ParsedCert::from_der(&read("vcek_milan.der")).unwrap();
        assert!(matches!(
            vcek.verify_signature_by(&ask),
            Err(ChainError::BadSignature { .. })
        ));
        let r = vcek.verify_issued_by(&ask);
        assert!(
            matches!(&r, Err(ChainError::BadSignature { subject, .. }) if subject == "SEV-VCEK"),
            "{r:?}"
        );
        ask.verify_issued_by(&ark).unwrap();
    }
}

#[test]
fn vcek_with_a_modified_tbs_byte_fails() {
    let mut vcek = read("vcek_milan.der");
    vcek[40] ^= 0x01;
    let mut v = verifier("");
    v.add_cert(&vcek).unwrap();
    assert_refused_for(&appraise_raw(&v, &report()), "endorsement_key");
    // Also as the Evidence's own VCEK.
    let chain = pem_certs("cert_chain_milan");
    let table = build_cert_table(&[(guid::VCEK, &vcek), (guid::ASK, &chain[0])]);
    let a = appraise_with(
        &verifier(""),
        MEDIA_TYPE_ENVELOPE,
        &encode_envelope(&report(), Some(&table)),
        &expected(),
        NOW,
    );
    assert_refused_for(&a, "endorsement_key");
}

#[test]
fn turin_vcek_for_the_milan_report_fails() {
    // Another chip's VCEK, of another product line: the chain verifies but
    // the report signature, the TCB and the chip id do not match.
    let v = verifier("certs = [\"vcek_turin.der\"]");
    let a = appraise_raw(&v, &report());
    assert_refused_for(&a, "signature");
    assert!(claims(&a).contains(&"hwid"), "{:?}", a.findings);
    assert!(claims(&a).contains(&"reported_tcb"), "{:?}", a.findings);
    let table = build_cert_table(&[(guid::VCEK, &read("vcek_turin.der"))]);
    let a = appraise_with(
        &verifier(""),
        MEDIA_TYPE_ENVELOPE,
        &encode_envelope(&report(), Some(&table)),
        &expected(),
        NOW,
    );
    assert_refused_for(&a, "signature");
}

#[test]
fn wrong_expected_report_data_fails() {
    let v = verifier("certs = [\"vcek_milan.der\"]");
    let mut rd = hex::decode(REPORT_DATA).unwrap();
    rd[63] ^= 1;
    let exp = ExpectedBinding::ReportData(rd.try_into().unwrap());
    let a = appraise_with(&v, MEDIA_TYPE_REPORT, &report(), &exp, NOW);
    assert_refused_for(&a, "report_data");
    assert_eq!(claims(&a), ["report_data"]);
}

#[test]
fn measurement_not_in_the_policy_fails() {
    let p = Policy::from_toml(
        &format!(
            "id = \"snp-test\"\n[snp]\nmeasurements = [\"{}\"]\ncerts = [\"vcek_milan.der\"]\n{MILAN_MIN_TCB}\nmin_guest_svn = 0\n",
            "00".repeat(48)
        ),
        &dir(),
    )
    .unwrap();
    let v = SnpVerifier::new(p.snp.as_ref().unwrap(), &p).unwrap();
    let a = appraise_raw(&v, &report());
    assert_eq!(claims(&a), ["measurement"]);
    assert_eq!(a.status, Tier::Contraindicated);
}

#[test]
fn debug_bit_set_fails_debug_and_signature() {
    let mut r = report();
    r[0x08 + 2] ^= 1 << 3; // policy bit 19
    let a = appraise_raw(&verifier("certs = [\"vcek_milan.der\"]"), &r);
    assert_refused_for(&a, "debug");
    assert!(claims(&a).contains(&"signature"));
    // allow_debug turns the debug finding into a warning; the signature
    // still fails.
    let a = appraise_raw(&verifier("certs = [\"vcek_milan.der\"]\nallow_debug = true"), &r);
    assert_refused_for(&a, "signature");
    let debug = a.findings.iter().find(|f| f.claim == "debug").unwrap();
    assert_eq!(debug.tier, Tier::Warning);
}

#[test]
fn chip_id_allow_list() {
    let v = verifier(&format!("certs = [\"vcek_milan.der\"]\nchip_ids = [\"{CHIP_ID}\"]"));
    assert!(appraise_raw(&v, &report()).is_affirming());
    let v = verifier(&format!(
        "certs = [\"vcek_milan.der\"]\nchip_ids = [\"{}\"]",
        "ab".repeat(64)
    ));
    let a = appraise_raw(&v, &report());
    assert_refused_for(&a, "chip_id");
    assert_eq!(claims(&a), ["chip_id"]);
}

#[test]
fn an_8_byte_chip_id_prefix_does_not_pin_a_milan_chip() {
    // An 8-byte entry is a Turin hwID. On Milan it would pin only 8 of the
    // 64 chip_id bytes, so it must not match, even though it is this chip's
    // prefix.
    let v = verifier(&format!(
        "certs = [\"vcek_milan.der\"]\nchip_ids = [\"{}\"]",
        &CHIP_ID[..16]
    ));
    let a = appraise_raw(&v, &report());
    assert_refused_for(&a, "chip_id");
    assert_eq!(claims(&a), ["chip_id"]);
    assert!(
        a.findings[0].reason.contains("only matches on Turin"),
        "{:#?}",
        a.findings
    );
    assert!(a.findings[0].reason.contains("Milan"), "{:#?}", a.findings);
}

#[test]
fn min_tcb_is_compared_with_the_certified_tcb() {
    let v = verifier("certs = [\"vcek_milan.der\"]\nmin_tcb = { bootloader = 3, tee = 0, snp = 8, microcode = 115 }");
    assert!(appraise_raw(&v, &report()).is_affirming());
    let v = verifier("certs = [\"vcek_milan.der\"]\nmin_tcb = { snp = 9 }");
    let a = appraise_raw(&v, &report());
    assert_refused_for(&a, "min_tcb.snp");
    assert_eq!(claims(&a), ["min_tcb.snp"]);
    let v = verifier("certs = [\"vcek_milan.der\"]\nmin_tcb = { microcode = 116, fmc = 0 }");
    let a = appraise_raw(&v, &report());
    assert_eq!(claims(&a), ["min_tcb.microcode", "min_tcb.fmc"]);
}

/// Guards issue 8 point 4: without `min_tcb` any certified TCB, however
/// old, used to be affirming. An unset floor is now a warning that names
/// the key (the Milan vector is otherwise affirming); a floor that is set
/// and met is affirming.
#[test]
fn an_unset_min_tcb_is_a_warning_naming_it() {
    let p = Policy::from_toml(
        &format!("id = \"snp-test\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\ncerts = [\"vcek_milan.der\"]\nmin_guest_svn = 0\n"),
        &dir(),
    )
    .unwrap();
    let v = SnpVerifier::new(p.snp.as_ref().unwrap(), &p).unwrap();
    let a = appraise_raw(&v, &report());
    assert_eq!(a.status, Tier::Warning, "{:#?}", a.findings);
    assert_eq!(claims(&a), ["min_tcb"]);
    let f = &a.findings[0];
    assert_eq!(f.tier, Tier::Warning);
    assert!(f.reason.contains("min_tcb not set"), "{f}");
    assert_eq!(f.observed.as_deref(), Some("bootloader=3 tee=0 snp=8 microcode=115"));
    // Through an appraiser, the result is acceptable but not affirming.
    let ear = p
        .appraiser()
        .unwrap()
        .appraise_raw(MEDIA_TYPE_REPORT, &report(), &expected(), at(NOW));
    assert!(ear.is_acceptable() && !ear.is_affirming(), "{}", ear.render());
    // Any component set is a floor: no warning.
    assert!(appraise_raw(
        &verifier("certs = [\"vcek_milan.der\"]\nmin_tcb = { snp = 1 }"),
        &report()
    )
    .is_affirming());
}

#[test]
fn time_outside_the_vcek_validity_fails() {
    let v = verifier("certs = [\"vcek_milan.der\"]");
    // 2023-04-03T19:23:42Z, one second before notBefore; 2030-04-03T19:23:44Z.
    for t in [1_680_549_822, 1_901_474_624] {
        let a = appraise_with(&v, MEDIA_TYPE_REPORT, &report(), &expected(), t);
        assert_refused_for(&a, "cert_validity");
        assert_eq!(claims(&a), ["cert_validity"]);
    }
    for t in [1_680_549_823, 1_901_474_623] {
        assert!(appraise_with(&v, MEDIA_TYPE_REPORT, &report(), &expected(), t).is_affirming());
    }
}

#[test]
fn the_matching_vcek_is_chosen_among_several_in_the_policy() {
    for certs in [
        "\"vcek_turin.der\", \"vcek_milan.der\"",
        "\"vcek_milan.der\", \"vcek_turin.der\"",
    ] {
        let a = appraise_raw(&verifier(&format!("certs = [{certs}]")), &report());
        assert!(a.is_affirming(), "{certs}: {:?}", a.findings);
    }
}

#[test]
fn raw_report_without_any_vcek_fails() {
    let a = appraise_raw(&verifier(""), &report());
    assert_refused_for(&a, "endorsement_key");
    assert!(a.findings[0].reason.contains("certs"), "{:?}", a.findings);
}

#[test]
fn vlek_signed_report_needs_a_vlek() {
    let mut r = report();
    r[0x48] = 1 << 2; // SIGNING_KEY = VLEK
    let a = appraise_raw(&verifier("certs = [\"vcek_milan.der\"]"), &r);
    assert_refused_for(&a, "endorsement_key");
    assert!(a.findings[0].reason.contains("VLEK"), "{:?}", a.findings);
    r[0x48] = 7 << 2; // no signing key
    assert_refused_for(
        &appraise_raw(&verifier("certs = [\"vcek_milan.der\"]"), &r),
        "signing_key",
    );
}

#[test]
fn product_pin() {
    assert!(appraise_raw(
        &verifier("certs = [\"vcek_milan.der\"]\nproduct = \"milan\""),
        &report()
    )
    .is_affirming());
    let a = appraise_raw(
        &verifier("certs = [\"vcek_milan.der\"]\nproduct = \"genoa\""),
        &report(),
    );
    assert_refused_for(&a, "product");
}

#[test]
fn turin_chain_verifies_with_turin_roots_only() {
    let turin = read("vcek_turin.der");
    // Built-in roots.
    let v = verifier("");
    let leaf = v.verify_endorsement_key(&turin, &[]).unwrap();
    assert_eq!(leaf.product, Product::Turin);
    assert_eq!(leaf.root, "ARK-Turin");
    assert_eq!(
        leaf.tcb,
        Tcb {
            fmc: Some(0),
            bootloader: 0,
            tee: 0,
            snp: 0,
            microcode: 9
        }
    );
    assert_eq!(
        leaf.hw_id.as_deref(),
        Some(&hex::decode("1e550a8ee5cf9f4d").unwrap()[..])
    );
    assert!(leaf.valid_at(NOW));
    assert!(!leaf.valid_at(1_700_000_000)); // 2023, before notBefore
                                            // The chain file from the policy: its ARK is the built-in one, byte for
                                            // byte, so it is not reported as ignored.
    let v = verifier("certs = [\"cert_chain_turin\"]");
    assert!(v.verify_endorsement_key(&turin, &[]).is_ok());
    assert!(v.ignored_roots().is_empty(), "{:?}", v.ignored_roots());
    // Milan or Genoa roots only: refused.
    let turin_ask = &pem_certs("cert_chain_turin")[0];
    for gen in ["milan", "genoa"] {
        let v = verifier_with_roots_of(&[gen]);
        assert!(matches!(
            v.verify_endorsement_key(&turin, &[]),
            Err(ChainError::NoIntermediate(i)) if i == "SEV-Turin"
        ));
        let r = v.verify_endorsement_key(&turin, &[turin_ask]);
        assert!(
            matches!(&r, Err(ChainError::Untrusted { intermediate, .. }) if intermediate == "SEV-Turin"),
            "{gen}: {:?}",
            r.err()
        );
        let ask = ParsedCert::from_der(&pem_certs(&format!("amd-roots/{gen}/ask.pem"))[0]).unwrap();
        let vcek = ParsedCert::from_der(&turin).unwrap();
        assert!(matches!(
            vcek.verify_signature_by(&ask),
            Err(ChainError::BadSignature { .. })
        ));
    }
}

#[test]
fn directory_of_certs_in_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("vcek.der"), read("vcek_milan.der")).unwrap();
    std::fs::write(tmp.path().join("cert_chain.pem"), read("cert_chain_milan")).unwrap();
    std::fs::write(tmp.path().join("README.txt"), "not a certificate").unwrap();
    let v = verifier(&format!("certs = [{:?}]", tmp.path().display().to_string()));
    assert!(appraise_raw(&v, &report()).is_affirming());
    // The dumped chain's ARK is AMD's, byte for byte: not an ignored root.
    assert!(v.ignored_roots().is_empty(), "{:?}", v.ignored_roots());
    // A file that is not a certificate is an error, named.
    std::fs::write(tmp.path().join("bad.pem"), "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
    let p = Policy::from_toml(
        &format!(
            "id = \"x\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\ncerts = [{:?}]\n",
            tmp.path().display().to_string()
        ),
        &dir(),
    )
    .unwrap();
    let e = SnpVerifier::new(p.snp.as_ref().unwrap(), &p).unwrap_err();
    assert!(e.to_string().contains("bad.pem"), "{e}");
}

#[test]
fn cert_table_round_trip() {
    let vcek = read("vcek_milan.der");
    let chain = pem_certs("cert_chain_milan");
    let entries = [
        (guid::VCEK, &vcek[..]),
        (guid::ASK, &chain[0][..]),
        (guid::ARK, &chain[1][..]),
    ];
    let mut table = build_cert_table(&entries);
    let parsed = parse_cert_table(&table).unwrap();
    assert_eq!(parsed.len(), 3);
    for (p, (g, d)) in parsed.iter().zip(entries.iter()) {
        assert_eq!((&p.guid, p.data), (g, *d));
    }
    let c = EvidenceCerts::from_table(&parsed);
    assert_eq!(c.vcek, Some(&vcek[..]));
    assert_eq!(c.ask, Some(&chain[0][..]));
    assert_eq!(c.ark, Some(&chain[1][..]));
    assert_eq!(c.vlek, None);
    // Page padding after the data is accepted, as the kernel returns it.
    table.resize(table.len().div_ceil(4096) * 4096, 0);
    assert_eq!(parse_cert_table(&table).unwrap().len(), 3);
    // An empty table is just the terminator.
    assert!(parse_cert_table(&build_cert_table(&[])).unwrap().is_empty());
}

fn entry(g: [u8; 16], offset: u32, length: u32) -> Vec<u8> {
    let mut e = g.to_vec();
    e.extend_from_slice(&offset.to_le_bytes());
    e.extend_from_slice(&length.to_le_bytes());
    e
}

#[test]
fn malformed_cert_tables_are_refused() {
    let z = [0u8; 16];
    let data = [0x30u8; 100];
    let mk = |entries: &[Vec<u8>], terminate: bool| {
        let mut t: Vec<u8> = entries.concat();
        if terminate {
            t.extend_from_slice(&entry(z, 0, 0));
        }
        t.extend_from_slice(&data);
        t
    };
    let hdr = 3 * 24; // two entries + terminator
                      // Overlapping entries.
    let t = mk(&[entry(guid::VCEK, hdr, 60), entry(guid::ASK, hdr + 50, 40)], true);
    assert_eq!(parse_cert_table(&t), Err(CertTableError::Overlap(0, 1)));
    // Out of range.
    let t = mk(&[entry(guid::VCEK, hdr, 60), entry(guid::ASK, hdr + 60, 41)], true);
    assert!(matches!(
        parse_cert_table(&t),
        Err(CertTableError::OutOfRange { index: 1, .. })
    ));
    let t = mk(&[entry(guid::VCEK, u32::MAX, 2), entry(guid::ASK, hdr, 1)], true);
    assert!(matches!(
        parse_cert_table(&t),
        Err(CertTableError::OutOfRange { index: 0, .. })
    ));
    // Data inside the headers.
    let t = mk(&[entry(guid::VCEK, 0, 24), entry(guid::ASK, hdr, 1)], true);
    assert!(matches!(
        parse_cert_table(&t),
        Err(CertTableError::OverlapsHeader { index: 0, .. })
    ));
    // Missing terminator: the entries run to the end of the buffer.
    let t: Vec<u8> = [entry(guid::VCEK, 48, 1), entry(guid::ASK, 49, 1)].concat();
    assert_eq!(parse_cert_table(&t), Err(CertTableError::MissingTerminator(2)));
    assert_eq!(parse_cert_table(&[]), Err(CertTableError::MissingTerminator(0)));
    // A zero GUID with a length is no terminator.
    let t = mk(&[entry(guid::VCEK, hdr, 1), entry(z, hdr, 1)], false);
    assert_eq!(parse_cert_table(&t), Err(CertTableError::BadTerminator(1)));
    // Duplicates and empty entries.
    let t = mk(&[entry(guid::VCEK, hdr, 1), entry(guid::VCEK, hdr + 1, 1)], true);
    assert!(matches!(parse_cert_table(&t), Err(CertTableError::Duplicate(_))));
    let t = mk(&[entry(guid::VCEK, hdr, 0), entry(guid::ASK, hdr, 1)], true);
    assert_eq!(parse_cert_table(&t), Err(CertTableError::Empty(0)));
    // Too many entries.
    let many: Vec<Vec<u8>> = (0..=evidence::MAX_ENTRIES as u8)
        .map(|i| entry([i + 1; 16], 0, 1))
        .collect();
    assert_eq!(parse_cert_table(&mk(&many, true)), Err(CertTableError::TooManyEntries));

    // A malformed table in an envelope makes the appraisal fail closed.
    let t = mk(&[entry(guid::VCEK, hdr, 60), entry(guid::ASK, hdr + 50, 40)], true);
    let a = appraise_with(
        &verifier(""),
        MEDIA_TYPE_ENVELOPE,
        &encode_envelope(&report(), Some(&t)),
        &expected(),
        NOW,
    );
    assert_refused_for(&a, "cert_table");
}

#[test]
fn malformed_evidence_is_a_malfunction_not_a_panic() {
    let v = verifier("certs = [\"vcek_milan.der\"]");
    let r = report();
    for bad in [&r[..100], &r[..1183], &[][..]] {
        assert_refused_for(&appraise_raw(&v, bad), "report");
    }
    for bad in [&[0xa0][..], &[0x82, 0x01][..], b"not cbor"] {
        assert_refused_for(
            &appraise_with(&v, MEDIA_TYPE_ENVELOPE, bad, &expected(), NOW),
            "envelope",
        );
    }
    assert!(!v.accepts_media_type("application/eat+cwt"));
    assert!(v.accepts_media_type(MEDIA_TYPE_REPORT));
    assert!(v.accepts_media_type(MEDIA_TYPE_ENVELOPE));
}

#[test]
fn verifier_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SnpVerifier>();
    let v: Arc<dyn Verifier> = Arc::new(verifier("certs = [\"vcek_milan.der\"]"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let v = v.clone();
            std::thread::spawn(move || {
                let exp = expected();
                let ctx = AppraisalContext {
                    expected: &exp,
                    now: at(NOW),
                    policy_id: "p",
                };
                v.appraise(MEDIA_TYPE_REPORT, &report(), &ctx).is_affirming()
            })
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap()));
}

/// A synthetic AMD-shaped hierarchy (own roots, RSASSA-PSS SHA-384 salt 48,
/// P-384 endorsement keys) for what the real vectors do not cover: a Turin
/// report (FMC TCB layout, 8-byte hwID), the VLEK chain shape
/// ARK -> ASVK -> VLEK, and certificates with wrong PSS parameters.
mod synthetic {
    use super::snp_synthetic::{cert, hierarchy, spl, Key};
    use super::*;
    use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
    use aws_lc_rs::signature::EcdsaKeyPair;

    const HWID8: [u8; 8] = [0x1e, 0x55, 0x0a, 0x8e, 0xe5, 0xcf, 0x9f, 0x4d];

    fn turin_exts() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("1.3.6.1.4.1.3704.1.2", b"\x16\x05Turin".to_vec()),
            ("1.3.6.1.4.1.3704.1.3.9", spl(1)),
            ("1.3.6.1.4.1.3704.1.3.1", spl(2)),
            ("1.3.6.1.4.1.3704.1.3.2", spl(3)),
            ("1.3.6.1.4.1.3704.1.3.3", spl(4)),
            ("1.3.6.1.4.1.3704.1.3.8", spl(5)),
            ("1.3.6.1.4.1.3704.1.4", HWID8.to_vec()),
        ]
    }

    /// A version 3 report with the vectors' measurement and report data,
    /// signed with `key`.
    fn signed_report(key: &EcdsaKeyPair, f: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let (m, rd) = (hex::decode(MEASUREMENT).unwrap(), hex::decode(REPORT_DATA).unwrap());
        snp_synthetic::signed_report(key, &m, &rd, f)
    }

    fn turin_fields(r: &mut [u8]) {
        r[0x180..0x188].copy_from_slice(&[1, 2, 3, 4, 0, 0, 0, 5]); // fmc, bl, tee, snp, .., ucode
        r[0x188] = 0x1a; // CPUID family: Turin
        r[0x189] = 0x02;
        r[0x1A0..0x1A8].copy_from_slice(&HWID8);
    }

    /// A verifier trusting `ark` through the policy's `trusted_arks`,
    /// besides the built-in roots.
    fn verifier_trusting(ark: &[u8], extra: &str) -> (SnpVerifier, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("ark.der"), ark).unwrap();
        let v = verifier_in(tmp.path(), &format!("trusted_arks = [\"ark.der\"]\n{extra}"));
        (v, tmp)
    }

    fn envelope(r: &[u8], entries: &[([u8; 16], &[u8])]) -> Vec<u8> {
        encode_envelope(r, Some(&build_cert_table(entries)))
    }

    #[test]
    fn turin_report_with_fmc_layout_and_8_byte_hwid() {
        let h = hierarchy("Turin", "SEV-Turin", "SEV-VCEK", &turin_exts());
        let (v, _tmp) = verifier_trusting(
            &h.ark,
            "min_tcb = { fmc = 1, bootloader = 2, tee = 3, snp = 4, microcode = 5 }",
        );
        let table = [(guid::VCEK, &h.leaf[..]), (guid::ASK, &h.intermediate[..])];

        let r = signed_report(&h.leaf_key, turin_fields);
        let a = appraise_with(&v, MEDIA_TYPE_ENVELOPE, &envelope(&r, &table), &expected(), NOW);
        assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);
        assert_eq!(a.claims["product"], "Turin");
        let tcb = serde_json::json!({"fmc": 1, "bootloader": 2, "tee": 3, "snp": 4, "microcode": 5});
        assert_eq!(a.claims["reported_tcb"], tcb);
        assert_eq!(a.claims["certified_tcb"], tcb);

        // Above the certified FMC SPL.
        let (v2, _t2) = verifier_trusting(&h.ark, "min_tcb = { fmc = 2 }");
        let a = appraise_with(&v2, MEDIA_TYPE_ENVELOPE, &envelope(&r, &table), &expected(), NOW);
        assert_eq!(claims(&a), ["min_tcb.fmc"]);

        // A report TCB read with the Milan layout would not match: the
        // bytes are swapped for a properly signed report claiming bl=1.
        let r = signed_report(&h.leaf_key, |r| {
            turin_fields(r);
            r[0x180] = 2;
        });
        let a = appraise_with(&v, MEDIA_TYPE_ENVELOPE, &envelope(&r, &table), &expected(), NOW);
        assert_eq!(claims(&a), ["reported_tcb"]);

        // Another chip (first 8 bytes of chip_id differ); the rest of
        // chip_id is not certified by the 8-byte hwID.
        let r = signed_report(&h.leaf_key, |r| {
            turin_fields(r);
            r[0x1A0] ^= 1;
        });
        let a = appraise_with(&v, MEDIA_TYPE_ENVELOPE, &envelope(&r, &table), &expected(), NOW);
        assert_eq!(claims(&a), ["hwid"]);
        let r = signed_report(&h.leaf_key, |r| {
            turin_fields(r);
            r[0x1A0 + 40] = 9;
        });
        assert!(appraise_with(&v, MEDIA_TYPE_ENVELOPE, &envelope(&r, &table), &expected(), NOW).is_affirming());

        // CPUID naming Milan contradicts the Turin chain.
        let r = signed_report(&h.leaf_key, |r| {
            turin_fields(r);
            r[0x188] = 0x19;
            r[0x189] = 0x01;
        });
        let a = appraise_with(&v, MEDIA_TYPE_ENVELOPE, &envelope(&r, &table), &expected(), NOW);
        assert_eq!(claims(&a), ["product"]);

        // The real AMD roots do not know this hierarchy.
        let r = signed_report(&h.leaf_key, turin_fields);
        let a = appraise_with(
            &verifier(""),
            MEDIA_TYPE_ENVELOPE,
            &envelope(&r, &table),
            &expected(),
            NOW,
        );
        assert_refused_for(&a, "endorsement_key");
    }

    /// Guards issue 8 point 1: a self-signed certificate among `certs`
    /// used to replace the built-in AMD roots, so a host that hands out its
    /// own ARK -> ASK -> VCEK (as the usual "dump the certificate table into
    /// a folder" workflow passes along) could sign a report with the
    /// expected measurement and report data and be affirming. Now the ARK
    /// is ignored, the result says so, and the chain is refused as not
    /// rooted in a trusted AMD root; only `trusted_arks` makes it a root,
    /// and the result then names that root by its hash.
    #[test]
    fn a_forged_hierarchy_in_certs_is_refused_naming_the_ignored_root() {
        let (m, rd) = (hex::decode(MEASUREMENT).unwrap(), hex::decode(REPORT_DATA).unwrap());
        let (h, r) = snp_synthetic::forged_milan(&m, &rd);
        let tmp = tempfile::tempdir().unwrap();
        for (n, d) in [("ark.der", &h.ark), ("ask.der", &h.intermediate), ("vcek.der", &h.leaf)] {
            std::fs::write(tmp.path().join(n), d).unwrap();
        }
        let ark_hash = hex::encode(sha256(&h.ark));

        let v = verifier_in(tmp.path(), "certs = [\".\"]");
        assert_eq!(v.ignored_roots().len(), 1, "{:?}", v.ignored_roots());
        assert_eq!(v.ignored_roots()[0].subject, "ARK-Milan");
        let a = appraise_raw(&v, &r);
        assert_refused_for(&a, "endorsement_key");
        let chain = a.findings.iter().find(|f| f.claim == "endorsement_key").unwrap();
        assert!(chain.reason.contains("not a trusted AMD root"), "{chain}");
        let ignored = a.findings.iter().find(|f| f.claim == "certs").unwrap();
        assert_eq!(ignored.tier, Tier::Warning);
        assert!(ignored.observed.as_deref().unwrap().contains(&ark_hash), "{ignored}");
        assert!(ignored.reason.contains("trusted_arks"), "{ignored}");

        // The host's certificate table with its own ARK: refused too.
        let table = [
            (guid::VCEK, &h.leaf[..]),
            (guid::ASK, &h.intermediate[..]),
            (guid::ARK, &h.ark[..]),
        ];
        let a = appraise_with(
            &verifier(""),
            MEDIA_TYPE_ENVELOPE,
            &envelope(&r, &table),
            &expected(),
            NOW,
        );
        assert_refused_for(&a, "endorsement_key");

        // Through the library API as well.
        let mut v = verifier("");
        v.add_cert(&h.ark).unwrap();
        v.add_cert(&h.intermediate).unwrap();
        v.add_cert(&h.leaf).unwrap();
        assert_refused_for(&appraise_raw(&v, &r), "endorsement_key");

        // Named explicitly as a root, it is one, and the result says which.
        let v = verifier_in(
            tmp.path(),
            "trusted_arks = [\"ark.der\"]\ncerts = [\"ask.der\", \"vcek.der\"]",
        );
        assert!(v.ignored_roots().is_empty());
        let a = appraise_raw(&v, &r);
        assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);
        assert_eq!(a.claims["endorsement_key"]["root"], "ARK-Milan");
        assert_eq!(a.claims["endorsement_key"]["root_sha256"], ark_hash);
        assert_eq!(a.claims["endorsement_key"]["root_origin"], "trusted_arks");
        let mut v = verifier("");
        v.add_trusted_ark(&h.ark).unwrap();
        v.add_cert(&h.intermediate).unwrap();
        v.add_cert(&h.leaf).unwrap();
        assert!(appraise_raw(&v, &r).is_affirming());
    }

    /// Guards the review's L2 and L3: `add_cert(ark)` before
    /// `add_trusted_ark(ark)` left a stale "ignored root" warning although
    /// the root was trusted; and the ignored-root finding named the local
    /// file it came from, which reached the peer in the EAR.
    #[test]
    fn an_ignored_root_later_trusted_is_not_reported_and_no_path_is_sent() {
        let (m, rd) = (hex::decode(MEASUREMENT).unwrap(), hex::decode(REPORT_DATA).unwrap());
        let (h, r) = snp_synthetic::forged_milan(&m, &rd);
        let mut v = verifier("");
        v.add_cert(&h.ark).unwrap();
        assert_eq!(v.ignored_roots().len(), 1);
        v.add_trusted_ark(&h.ark).unwrap();
        v.add_cert(&h.intermediate).unwrap();
        v.add_cert(&h.leaf).unwrap();
        assert!(v.ignored_roots().is_empty(), "{:?}", v.ignored_roots());
        let a = appraise_raw(&v, &r);
        assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);

        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("host-ark.der"), &h.ark).unwrap();
        let v = verifier_in(tmp.path(), "certs = [\"host-ark.der\"]");
        let a = appraise_raw(&v, &r);
        let ignored = a.findings.iter().find(|f| f.claim == "certs").unwrap();
        let observed = ignored.observed.as_deref().unwrap();
        assert_eq!(observed, format!("ARK-Milan sha256:{}", hex::encode(sha256(&h.ark))));
        assert!(
            !format!("{:?}", a.findings).contains("host-ark.der"),
            "{:?}",
            a.findings
        );
    }

    /// Guards the review's M3: a forged hierarchy copying AMD's exact
    /// subject names matched the built-in ARK-Milan by name, so the refusal
    /// read "signature of ... does not verify with the key of ARK-Milan"
    /// instead of saying the chain has no trusted root (what
    /// docs/platforms/snp.md promises). Both ways in: `certs`, and the
    /// Evidence's certificate table.
    #[test]
    fn a_forged_hierarchy_with_amd_names_is_refused_as_not_a_trusted_root() {
        let (m, rd) = (hex::decode(MEASUREMENT).unwrap(), hex::decode(REPORT_DATA).unwrap());
        let (h, r) = snp_synthetic::forged_milan_with_amd_names(&m, &rd);
        let refused_as_untrusted = |a: &Appraisal| {
            assert_refused_for(a, "endorsement_key");
            let chain = a.findings.iter().find(|f| f.claim == "endorsement_key").unwrap();
            assert!(
                chain
                    .reason
                    .contains("\"SEV-Milan\" is issued by \"ARK-Milan\", which is not a trusted AMD root")
                    && chain.reason.contains("a trusted root has that name"),
                "{chain}"
            );
        };
        let tmp = tempfile::tempdir().unwrap();
        for (n, d) in [("ark.der", &h.ark), ("ask.der", &h.intermediate), ("vcek.der", &h.leaf)] {
            std::fs::write(tmp.path().join(n), d).unwrap();
        }
        refused_as_untrusted(&appraise_raw(&verifier_in(tmp.path(), "certs = [\".\"]"), &r));
        let table = [
            (guid::VCEK, &h.leaf[..]),
            (guid::ASK, &h.intermediate[..]),
            (guid::ARK, &h.ark[..]),
        ];
        refused_as_untrusted(&appraise_with(
            &verifier(""),
            MEDIA_TYPE_ENVELOPE,
            &envelope(&r, &table),
            &expected(),
            NOW,
        ));
    }

    /// A `trusted_arks` entry must be a self-signed certificate: an ASK
    /// there is refused when the policy loads, naming the key and file.
    #[test]
    fn trusted_arks_must_be_self_signed() {
        let (m, rd) = (hex::decode(MEASUREMENT).unwrap(), hex::decode(REPORT_DATA).unwrap());
        let (h, _) = snp_synthetic::forged_milan(&m, &rd);
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("ask.der"), &h.intermediate).unwrap();
        let p = Policy::from_toml(
            &format!("id = \"x\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\ntrusted_arks = [\"ask.der\"]\n"),
            tmp.path(),
        )
        .unwrap();
        let e = SnpVerifier::new(p.snp.as_ref().unwrap(), &p).unwrap_err();
        assert!(
            matches!(&e, attested_tls::policy::PolicyError::Value { key, reason }
                if key == "snp.trusted_arks" && reason.contains("ask.der") && reason.contains("not self-signed")),
            "{e:?}"
        );
        let mut v = verifier("");
        assert!(matches!(
            v.add_trusted_ark(&h.intermediate),
            Err(ChainError::NotSelfSigned(_))
        ));
    }

    fn vlek_exts() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("1.3.6.1.4.1.3704.1.2", b"\x16\x08Milan-B0".to_vec()),
            ("1.3.6.1.4.1.3704.1.3.1", spl(3)),
            ("1.3.6.1.4.1.3704.1.3.2", spl(0)),
            ("1.3.6.1.4.1.3704.1.3.3", spl(8)),
            ("1.3.6.1.4.1.3704.1.3.8", spl(200)),
        ]
    }

    fn vlek_fields(r: &mut [u8]) {
        r[0] = 2;
        r[0x48] = 1 << 2; // SIGNING_KEY = VLEK
        r[0x180..0x188].copy_from_slice(&[3, 0, 0, 0, 0, 0, 8, 200]);
    }

    #[test]
    fn vlek_chain_ark_asvk_vlek() {
        let mut exts = vlek_exts();
        exts[4].1 = vec![0x02, 0x02, 0x00, 200]; // DER INTEGER 200
        let h = hierarchy("Milan", "SEV-VLEK-Milan", "SEV-VLEK", &exts);
        let (v, _tmp) = verifier_trusting(&h.ark, "");
        let r = signed_report(&h.leaf_key, vlek_fields);

        // ASVK in the ASK slot of the host's table.
        let table = [(guid::VLEK, &h.leaf[..]), (guid::ASK, &h.intermediate[..])];
        let a = appraise_with(&v, MEDIA_TYPE_ENVELOPE, &envelope(&r, &table), &expected(), NOW);
        assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);
        assert_eq!(a.claims["endorsement_key"]["kind"], "VLEK");
        assert_eq!(a.claims["endorsement_key"]["intermediate"], "SEV-VLEK-Milan");

        // Bare report, VLEK and ASVK from the policy.
        let tmp = tempfile::tempdir().unwrap();
        for (n, d) in [
            ("ark.der", &h.ark),
            ("asvk.der", &h.intermediate),
            ("vlek.der", &h.leaf),
        ] {
            std::fs::write(tmp.path().join(n), d).unwrap();
        }
        let v2 = verifier_in(
            tmp.path(),
            "trusted_arks = [\"ark.der\"]\ncerts = [\"asvk.der\", \"vlek.der\"]\nmin_tcb = { snp = 8 }",
        );
        assert!(appraise_raw(&v2, &r).is_affirming());

        // Without the ASVK: refused, naming it (a fresh verifier: `v` has
        // the verified chain cached, which stays valid without the ASVK).
        let (v3, _t3) = verifier_trusting(&h.ark, "");
        let a = appraise_with(
            &v3,
            MEDIA_TYPE_ENVELOPE,
            &envelope(&r, &[(guid::VLEK, &h.leaf[..])]),
            &expected(),
            NOW,
        );
        assert_refused_for(&a, "endorsement_key");
        assert!(a.findings[0].reason.contains("SEV-VLEK-Milan"), "{:?}", a.findings);

        // A VLEK offered for a VCEK-signed report is not used.
        let r_vcek = signed_report(&h.leaf_key, |r| {
            vlek_fields(r);
            r[0x48] = 0;
        });
        let a = appraise_with(&v, MEDIA_TYPE_ENVELOPE, &envelope(&r_vcek, &table), &expected(), NOW);
        assert_refused_for(&a, "endorsement_key");
        assert!(a.findings[0].reason.contains("VCEK"), "{:?}", a.findings);
    }

    #[test]
    fn wrong_pss_parameters_and_missing_extensions_are_refused() {
        let ark_key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let ark = cert("ARK-Milan", "ARK-Milan", &Key::Rsa(&ark_key), &ark_key, &[], 48);
        let ark = ParsedCert::from_der(&ark).unwrap();
        ark.verify_issued_by(&ark).unwrap();
        // Same signature scheme (aws-lc signs with salt 48), but the
        // certificate declares salt 32: refused on the parameters.
        let salt32 = cert("ARK-Milan", "ARK-Milan", &Key::Rsa(&ark_key), &ark_key, &[], 32);
        let salt32 = ParsedCert::from_der(&salt32).unwrap();
        assert!(matches!(
            salt32.verify_signature_by(&ark),
            Err(ChainError::SignatureAlgorithm { .. })
        ));

        // A VCEK without hwID or without ucodeSPL.
        for drop in [
            "1.3.6.1.4.1.3704.1.4",
            "1.3.6.1.4.1.3704.1.3.8",
            "1.3.6.1.4.1.3704.1.3.9",
        ] {
            let exts: Vec<_> = turin_exts().into_iter().filter(|(o, _)| *o != drop).collect();
            let h = hierarchy("Turin", "SEV-Turin", "SEV-VCEK", &exts);
            let (v, _tmp) = verifier_trusting(&h.ark, "");
            let e = v.verify_endorsement_key(&h.leaf, &[&h.intermediate]).unwrap_err();
            assert!(matches!(e, ChainError::Extension { .. }), "{drop}: {e}");
        }
        // A malformed SPL value.
        let mut exts = turin_exts();
        exts[1].1 = vec![0x04, 0x01, 0x01];
        let h = hierarchy("Turin", "SEV-Turin", "SEV-VCEK", &exts);
        let (v, _tmp) = verifier_trusting(&h.ark, "");
        let e = v.verify_endorsement_key(&h.leaf, &[&h.intermediate]).unwrap_err();
        assert!(e.to_string().contains("fmcSPL"), "{e}");
    }
}
