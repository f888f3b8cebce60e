//! Golden tests of the SEV-SNP verifier against the real vectors in
//! `../shared/vectors/sev-snp` (see its README for the expected outcomes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use attested_tls::binder::ExpectedBinding;
use attested_tls::cmw::{Cmw, CmwRecord};
use attested_tls::ear::{Appraisal, Tier};
use attested_tls::platform::snp::*;
use attested_tls::policy::Policy;
use attested_tls::verifier::{AppraisalContext, Verifier};

const MEASUREMENT: &str =
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
const REPORT_DATA: &str = "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd";
const CHIP_ID: &str = "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6";
/// 2025-01-01T00:00:00Z: inside both VCEKs' validity.
const NOW: i64 = 1_735_689_600;

fn dir() -> PathBuf {
    std::env::var_os("ATTESTED_TLS_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
        .join("vectors/sev-snp")
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

/// A verifier from a policy whose `[snp]` section is `extra` plus the
/// vector's measurement; relative paths resolve against the vectors.
fn verifier(extra: &str) -> SnpVerifier {
    let p = Policy::from_toml(
        &format!("id = \"snp-test\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\n{extra}\n"),
        &dir(),
    )
    .unwrap();
    SnpVerifier::new(p.snp.as_ref().unwrap(), &p).unwrap()
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
}

#[test]
fn milan_report_in_the_envelope_with_the_host_cert_table_is_affirming() {
    let v = verifier("");
    let env = encode_envelope(&report(), Some(&milan_table()));
    let a = appraise_with(&v, MEDIA_TYPE_ENVELOPE, &env, &expected(), NOW);
    assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);

    // Through the policy's appraiser and a CMW, as on a connection.
    let p = Policy::from_toml(
        &format!("id = \"snp-test\"\n[snp]\nmeasurements = [\"{MEASUREMENT}\"]\n"),
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
        let v = verifier(&format!(
            "certs = [\"vcek_milan.der\", \"amd-roots/{gen}/ark.pem\", \"amd-roots/{gen}/ask.pem\"]"
        ));
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
        assert!(vcek.verify_issued_by(&ask).is_err());
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
            "id = \"snp-test\"\n[snp]\nmeasurements = [\"{}\"]\ncerts = [\"vcek_milan.der\"]\n",
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
                                            // The chain file from the policy (its ARK replaces the built-in roots).
    let v = verifier("certs = [\"cert_chain_turin\"]");
    assert!(v.verify_endorsement_key(&turin, &[]).is_ok());
    // Milan or Genoa roots only: refused.
    for gen in ["milan", "genoa"] {
        let v = verifier(&format!(
            "certs = [\"amd-roots/{gen}/ark.pem\", \"amd-roots/{gen}/ask.pem\"]"
        ));
        assert!(v.verify_endorsement_key(&turin, &[]).is_err(), "{gen}");
        let ask = ParsedCert::from_der(&pem_certs(&format!("amd-roots/{gen}/ask.pem"))[0]).unwrap();
        let vcek = ParsedCert::from_der(&turin).unwrap();
        assert!(matches!(
            vcek.verify_signature_by(&ask),
            Err(ChainError::BadSignature { .. })
        ));
    }
    // Turin ASK supplied with the Evidence, Milan root only: refused.
    let v = verifier("certs = [\"amd-roots/milan/ark.pem\"]");
    let turin_ask = &pem_certs("cert_chain_turin")[0];
    assert!(matches!(
        v.verify_endorsement_key(&turin, &[turin_ask]),
        Err(ChainError::Untrusted { .. })
    ));
}

#[test]
fn directory_of_certs_in_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("vcek.der"), read("vcek_milan.der")).unwrap();
    std::fs::write(tmp.path().join("cert_chain.pem"), read("cert_chain_milan")).unwrap();
    std::fs::write(tmp.path().join("README.txt"), "not a certificate").unwrap();
    let v = verifier(&format!("certs = [{:?}]", tmp.path().display().to_string()));
    assert!(appraise_raw(&v, &report()).is_affirming());
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
