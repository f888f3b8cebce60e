//! Golden and negative tests of the Arm CCA verifier on the shared vectors
//! (`vectors/cca`, see `vectors/README.md`: the Veraison test tokens).

use std::path::Path;

use attested_tls::binder::ExpectedBinding;
use attested_tls::ear::{claim_value, Appraisal, Tier, TrustClaim};
use attested_tls::platform::cca::*;
use attested_tls::policy::Policy;
use attested_tls::verifier::{AppraisalContext, Verifier};
use ciborium::value::Value;

macro_rules! vector {
    ($name:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/cca/", $name)
    };
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Token 01's realm challenge (the value its "report_data" must equal).
const TOKEN_01_CHALLENGE: [u8; 64] = [0xAB; 64];

fn token_02_challenge() -> [u8; 64] {
    let mut c = [0u8; 64];
    for (i, b) in c.iter_mut().enumerate() {
        *b = if i % 2 == 0 { 0x41 } else { 0x42 };
    }
    c
}

/// A trust-anchor file for token 01: its platform is signed by the P-384
/// key of `cpak.json` (not by the P-256 `ta.json` key, see
/// `token_01_with_ta_json_has_no_trust_anchor`).
fn token_01_ta_file(dir: &Path) -> std::path::PathBuf {
    let cpak: serde_json::Value = serde_json::from_slice(&read(vector!("cpak.json"))).unwrap();
    let ta = serde_json::json!([{
        "instance-id": "0107060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918",
        "implementation-id": "7f454c4602010100000000000000000003003e00010000005058000000000000",
        "pkey": cpak,
    }]);
    let p = dir.join("ta-01.json");
    std::fs::write(&p, serde_json::to_vec(&ta).unwrap()).unwrap();
    p
}

fn appraise(policy: &CcaPolicy, token: &[u8], expected: [u8; 64]) -> Appraisal {
    let v = policy.verifier(&Policy::default()).expect("policy loads");
    let exp = ExpectedBinding::ReportData(expected);
    let ctx = AppraisalContext {
        expected: &exp,
        now: time::OffsetDateTime::UNIX_EPOCH,
        policy_id: "test",
    };
    v.appraise(MEDIA_TYPE, token, &ctx)
}

fn appraise_decoded(cfg: CcaVerifierConfig, t: &CcaToken, expected: [u8; 64]) -> Appraisal {
    let exp = ExpectedBinding::ReportData(expected);
    let ctx = AppraisalContext {
        expected: &exp,
        now: time::OffsetDateTime::UNIX_EPOCH,
        policy_id: "test",
    };
    CcaVerifier::new(cfg).appraise_token(t, &ctx)
}

fn failed_claims(a: &Appraisal) -> Vec<String> {
    a.findings
        .iter()
        .filter(|f| f.tier == Tier::Contraindicated)
        .map(|f| f.claim.clone())
        .collect()
}

fn policy_01(dir: &Path) -> CcaPolicy {
    CcaPolicy {
        trust_anchors: vec![token_01_ta_file(dir)],
        reference_values: vec![vector!("rv.json").into()],
        ..Default::default()
    }
}

fn config_01(dir: &Path) -> CcaVerifierConfig {
    policy_01(dir).config(&Policy::default()).unwrap()
}

fn config_02() -> CcaVerifierConfig {
    CcaPolicy {
        trust_anchors: vec![vector!("ta-02-ok.json").into()],
        realm_initial_measurements: vec!["43".repeat(64)],
        ..Default::default()
    }
    .config(&Policy::default())
    .unwrap()
}

/// Rewrites one member (44234 platform, 44241 realm) of a token collection.
fn mutate(token: &[u8], key: i64, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let v: Value = ciborium::de::from_reader(token).unwrap();
    let Value::Tag(tag, inner) = v else {
        panic!("not tagged")
    };
    let Value::Map(mut m) = *inner else { panic!("not a map") };
    let entry = m
        .iter_mut()
        .find(|(k, _)| k.as_integer().map(i128::from) == Some(key.into()))
        .unwrap();
    let Value::Bytes(b) = &mut entry.1 else {
        panic!("not bytes")
    };
    f(b);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Tag(tag, Box::new(Value::Map(m))), &mut out).unwrap();
    out
}

// --- claims files ---------------------------------------------------------

#[test]
fn platform_claims_decode() {
    let p = PlatformClaims::decode(&read(vector!("platform-claims.cbor"))).unwrap();
    assert_eq!(p.profile, PROFILE_CCA_SSD);
    assert_eq!(p.challenge, vec![0xAA; 64]);
    assert_eq!(p.implementation_id, vec![0xAA; 32]);
    assert_eq!(p.instance_id[0], 0x01);
    assert_eq!(p.config, vec![0xCF; 4]);
    assert_eq!(p.lifecycle, 12288);
    assert_eq!(Lifecycle::of(p.lifecycle), Lifecycle::Secured);
    assert_eq!(p.sw_components.len(), 2);
    assert_eq!(p.sw_components[1].measurement_value, vec![0xCC; 64]);
    assert_eq!(p.sw_components[1].signer_id.as_deref(), Some(&[0xDD; 64][..]));
    assert_eq!(p.sw_components[0].version.as_deref(), Some("1.0.0"));
    assert_eq!(p.verification_service.as_deref(), Some("https://cca_verifier.org"));
    assert_eq!(p.hash_algo_id, "sha-256");
}

#[test]
fn realm_claims_decode() {
    let r = RealmClaims::decode(&read(vector!("realm-claims.cbor"))).unwrap();
    assert_eq!(r.challenge, vec![0xAB; 64]);
    assert_eq!(r.personalization_value, vec![0xAB; 64]);
    assert_eq!(r.initial_measurement, vec![0; 32]);
    assert_eq!(r.extensible_measurements, vec![vec![0; 32]; 4]);
    assert_eq!(r.hash_algo_id, "sha-256");
    assert_eq!(r.public_key.len(), 97);
    assert_eq!(r.public_key_hash_algo_id, "sha-256");
    assert_eq!(r.rak().unwrap().curve, Curve::P384);
}

#[test]
fn realm_claims_with_spurious_keys_decode_to_the_same_claims() {
    let base = RealmClaims::decode(&read(vector!("realm-claims.cbor"))).unwrap();
    for f in [
        read(vector!("realm-claims+spurious-numeric-key.cbor")),
        read(vector!("realm-claims+spurious-text-key.cbor")),
    ] {
        assert_eq!(RealmClaims::decode(&f).unwrap(), base);
    }
}

#[test]
fn realm_claims_without_challenge_fail_to_decode() {
    let e = RealmClaims::decode(&read(vector!("realm-claims-missing-challenge.cbor"))).unwrap_err();
    assert_eq!(
        e,
        CcaError::MissingClaim {
            token: "realm",
            claim: "challenge (10)"
        }
    );
}

// --- token 01 ---------------------------------------------------------------

#[test]
fn token_01_decodes_and_both_signatures_verify() {
    let t = CcaToken::decode(&read(vector!("cca-token-01.cbor"))).unwrap();
    let cpak: serde_json::Value = serde_json::from_slice(&read(vector!("cpak.json"))).unwrap();
    t.verify_platform(&EcPublicKey::from_jwk(&cpak).unwrap()).unwrap();
    t.verify_realm().unwrap();
    assert!(t.platform_binds_realm().unwrap());
    assert_eq!(t.realm.challenge, TOKEN_01_CHALLENGE);
}

#[test]
fn token_01_with_rv_json_is_affirming() {
    let dir = tempfile::tempdir().unwrap();
    let a = appraise(
        &policy_01(dir.path()),
        &read(vector!("cca-token-01.cbor")),
        TOKEN_01_CHALLENGE,
    );
    assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);
    assert!(a.findings.is_empty());
    assert_eq!(
        a.trust_vector[&TrustClaim::InstanceIdentity],
        claim_value::TRUSTWORTHY_INSTANCE
    );
    assert_eq!(a.trust_vector[&TrustClaim::Executables], claim_value::APPROVED_RUNTIME);
    assert_eq!(a.claims["realm.initial_measurement"], "00".repeat(32));
}

#[test]
fn token_01_through_a_toml_policy_and_the_appraiser() {
    let dir = tempfile::tempdir().unwrap();
    token_01_ta_file(dir.path());
    std::fs::copy(vector!("rv.json"), dir.path().join("rv.json")).unwrap();
    let p = Policy::from_toml(
        "id = \"cca-prod\"\n[cca]\ntrust_anchors = [\"ta-01.json\"]\nreference_values = [\"rv.json\"]\n",
        dir.path(),
    )
    .unwrap();
    let appraiser = p.appraiser().unwrap();
    let token = read(vector!("cca-token-01.cbor"));
    assert!(appraiser.detect(&token).is_some());
    let ear = appraiser.appraise_raw(
        MEDIA_TYPE,
        &token,
        &ExpectedBinding::ReportData(TOKEN_01_CHALLENGE),
        time::OffsetDateTime::UNIX_EPOCH,
    );
    assert!(ear.is_affirming(), "{}", ear.render());
    let ear = appraiser.appraise_raw(
        MEDIA_TYPE,
        &token,
        &ExpectedBinding::ReportData([0; 64]),
        time::OffsetDateTime::UNIX_EPOCH,
    );
    assert!(!ear.is_affirming());
    assert!(
        ear.refusal_summary().contains("realm.challenge"),
        "{}",
        ear.refusal_summary()
    );
}

/// The vectors README says token 01 verifies with `ta.json`, but `ta.json`
/// lists instance `01aaaa..` with a P-256 key while token 01 is instance
/// `0107060504..` signed with ES384 (the P-384 key of `cpak.json`). Upstream
/// (rust-ccatoken) never verifies token 01 with `ta.json`. Without a trust
/// anchor for its instance the token is refused.
#[test]
fn token_01_with_ta_json_has_no_trust_anchor() {
    let policy = CcaPolicy {
        trust_anchors: vec![vector!("ta.json").into()],
        reference_values: vec![vector!("rv.json").into()],
        ..Default::default()
    };
    let a = appraise(&policy, &read(vector!("cca-token-01.cbor")), TOKEN_01_CHALLENGE);
    assert_eq!(a.status, Tier::Contraindicated);
    assert_eq!(failed_claims(&a), ["platform.instance_id"]);
    assert_eq!(
        a.trust_vector[&TrustClaim::InstanceIdentity],
        claim_value::UNTRUSTWORTHY_INSTANCE
    );
}

#[test]
fn ta_json_parses() {
    let tas = parse_trust_anchors(std::str::from_utf8(&read(vector!("ta.json"))).unwrap()).unwrap();
    assert_eq!(tas.len(), 1);
    assert_eq!(tas[0].instance_id, read(vector!("inst-id.bin")));
    assert_eq!(tas[0].implementation_id, read(vector!("impl-id.bin")));
    let pkey: serde_json::Value = serde_json::from_slice(&read(vector!("pkey.json"))).unwrap();
    assert_eq!(tas[0].key, EcPublicKey::from_jwk(&pkey).unwrap());
}

#[test]
fn wrong_expected_challenge_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = TOKEN_01_CHALLENGE;
    wrong[63] ^= 1;
    let a = appraise(&policy_01(dir.path()), &read(vector!("cca-token-01.cbor")), wrong);
    assert_eq!(a.status, Tier::Contraindicated);
    assert_eq!(failed_claims(&a), ["realm.challenge"]);
}

#[test]
fn rim_not_in_policy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let policy = CcaPolicy {
        trust_anchors: vec![token_01_ta_file(dir.path())],
        realm_initial_measurements: vec!["11".repeat(32)],
        ..Default::default()
    };
    let a = appraise(&policy, &read(vector!("cca-token-01.cbor")), TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["realm.initial_measurement"]);
    assert_eq!(
        a.trust_vector[&TrustClaim::Executables],
        claim_value::UNRECOGNIZED_RUNTIME
    );
    let f = a
        .findings
        .iter()
        .find(|f| f.claim == "realm.initial_measurement")
        .unwrap();
    assert!(f.reason.contains("not in the reference values of policy test"), "{f}");
}

#[test]
fn no_reference_values_fails_the_measurement_check() {
    let dir = tempfile::tempdir().unwrap();
    let policy = CcaPolicy {
        trust_anchors: vec![token_01_ta_file(dir.path())],
        ..Default::default()
    };
    let a = appraise(&policy, &read(vector!("cca-token-01.cbor")), TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["realm.initial_measurement"]);
    let f = a
        .findings
        .iter()
        .find(|f| f.claim == "realm.initial_measurement")
        .unwrap();
    assert!(f.reason.contains("has no realm initial measurements"), "{f}");
}

#[test]
fn default_policy_refuses_everything() {
    let a = appraise(
        &CcaPolicy::default(),
        &read(vector!("cca-token-01.cbor")),
        TOKEN_01_CHALLENGE,
    );
    assert_eq!(a.status, Tier::Contraindicated);
    assert_eq!(failed_claims(&a), ["platform.instance_id"]);
}

#[test]
fn flipped_platform_signature_byte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let token = mutate(&read(vector!("cca-token-01.cbor")), 44234, |b| {
        let n = b.len();
        b[n - 1] ^= 0x01;
    });
    let a = appraise(&policy_01(dir.path()), &token, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.signature"]);
    assert_eq!(a.trust_vector[&TrustClaim::InstanceIdentity], CRYPTO_VALIDATION_FAILED);
    assert!(
        !a.trust_vector.contains_key(&TrustClaim::Executables),
        "realm not evaluated"
    );
}

#[test]
fn flipped_realm_signature_byte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let token = mutate(&read(vector!("cca-token-01.cbor")), 44241, |b| {
        let n = b.len();
        b[n - 1] ^= 0x01;
    });
    let a = appraise(&policy_01(dir.path()), &token, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["realm.signature"]);
    assert_eq!(a.trust_vector[&TrustClaim::InstanceIdentity], CRYPTO_VALIDATION_FAILED);
}

#[test]
fn modified_realm_claim_breaks_the_realm_signature() {
    let dir = tempfile::tempdir().unwrap();
    // The RIM is 32 zero bytes: change its last byte (the claims still decode).
    let orig = read(vector!("cca-token-01.cbor"));
    let token = mutate(&orig, 44241, |b| {
        let rim_hdr = [0x19, 0xAC, 0xCE, 0x58, 0x20];
        let pos = b.windows(5).position(|w| w == rim_hdr).unwrap();
        b[pos + 5 + 31] ^= 0x01;
    });
    let t = CcaToken::decode(&token).unwrap();
    assert_eq!(t.realm.initial_measurement[31], 1);
    let a = appraise(&policy_01(dir.path()), &token, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["realm.signature"]);
}

#[test]
fn platform_challenge_not_hash_of_rak_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = CcaToken::decode(&read(vector!("cca-token-01.cbor"))).unwrap();
    t.platform.challenge[0] ^= 0x80;
    assert!(!t.platform_binds_realm().unwrap());
    let a = appraise_decoded(config_01(dir.path()), &t, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.challenge"]);
    assert_eq!(a.trust_vector[&TrustClaim::InstanceIdentity], CRYPTO_VALIDATION_FAILED);

    let mut t = CcaToken::decode(&read(vector!("cca-token-01.cbor"))).unwrap();
    t.realm.public_key_hash_algo_id = "md5".into();
    let a = appraise_decoded(config_01(dir.path()), &t, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["realm.public_key_hash_algo_id"]);
}

#[test]
fn unknown_instance_id_is_refused() {
    let policy = CcaPolicy {
        trust_anchors: vec![vector!("ta-02-ok.json").into()],
        realm_initial_measurements: vec!["00".repeat(32)],
        ..Default::default()
    };
    let a = appraise(&policy, &read(vector!("cca-token-01.cbor")), TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.instance_id"]);
    assert!(a.findings[0].reason.contains("no trust anchor"));
}

#[test]
fn trust_anchor_for_another_implementation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config_01(dir.path());
    cfg.trust_anchors[0].implementation_id = vec![0xAA; 32];
    let t = CcaToken::decode(&read(vector!("cca-token-01.cbor"))).unwrap();
    let a = appraise_decoded(cfg, &t, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.implementation_id"]);
}

#[test]
fn debug_lifecycle_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = CcaToken::decode(&read(vector!("cca-token-01.cbor"))).unwrap();
    t.platform.lifecycle = 0x4000;
    let a = appraise_decoded(config_01(dir.path()), &t, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.lifecycle"]);
    assert_eq!(
        a.trust_vector[&TrustClaim::Configuration],
        claim_value::UNSUPPORTABLE_CONFIG
    );

    let mut cfg = config_01(dir.path());
    cfg.allow_debug = true;
    let a = appraise_decoded(cfg.clone(), &t, TOKEN_01_CHALLENGE);
    assert_eq!(a.status, Tier::Warning, "{:#?}", a.findings);
    assert_eq!(a.findings[0].claim, "platform.lifecycle");

    // Decommissioned or provisioning platforms are refused even with allow_debug.
    for lc in [0x6000, 0x2000, 0x0000, 0x7000] {
        t.platform.lifecycle = lc;
        let a = appraise_decoded(cfg.clone(), &t, TOKEN_01_CHALLENGE);
        assert_eq!(failed_claims(&a), ["platform.lifecycle"], "{lc:#x}");
    }
}

#[test]
fn rpv_and_rems_are_compared_when_listed() {
    let dir = tempfile::tempdir().unwrap();
    let t = CcaToken::decode(&read(vector!("cca-token-01.cbor"))).unwrap();
    let mut cfg = config_01(dir.path());
    cfg.reference_values.realm_personalization_values = vec![vec![0x11; 64]];
    let a = appraise_decoded(cfg, &t, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["realm.personalization_value"]);

    let mut cfg = config_01(dir.path());
    cfg.reference_values.rems = vec![vec![vec![0; 32], vec![0; 32], vec![0; 32], vec![1; 32]]];
    let a = appraise_decoded(cfg, &t, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["realm.extensible_measurements"]);
}

#[test]
fn platform_software_and_configuration_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let token = read(vector!("cca-token-01.cbor"));
    // A component measurement that is not the token's.
    let policy = CcaPolicy {
        trust_anchors: vec![token_01_ta_file(dir.path())],
        realm_initial_measurements: vec!["00".repeat(32)],
        platform_sw_components: vec![SwComponentReference {
            component_type: None,
            measurement: "07".repeat(32),
            signer_id: None,
            version: None,
        }],
        ..Default::default()
    };
    let a = appraise(&policy, &token, TOKEN_01_CHALLENGE);
    // The token's 4 components are unknown, and (require_all_sw_components
    // by default) the reference component is missing from the token.
    assert_eq!(failed_claims(&a), ["platform.sw_components"; 5]);

    // rv.json with another configuration for token 01's implementation.
    let rv = String::from_utf8(read(vector!("rv.json")))
        .unwrap()
        .replace("\"0107060504030201000F0E0D", "\"0207060504030201000F0E0D");
    std::fs::write(dir.path().join("rv-bad.json"), rv).unwrap();
    let policy = CcaPolicy {
        trust_anchors: vec![token_01_ta_file(dir.path())],
        reference_values: vec![dir.path().join("rv-bad.json")],
        ..Default::default()
    };
    let a = appraise(&policy, &token, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.config"]);

    // Reference values only for other implementations.
    let mut cfg = config_01(dir.path());
    cfg.reference_values.platforms.retain(|p| {
        p.implementation_id
            != Some(vec![
                0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0x3e, 0, 1, 0, 0, 0, 0x50, 0x58, 0,
                0, 0, 0, 0, 0,
            ])
    });
    let t = CcaToken::decode(&token).unwrap();
    let a = appraise_decoded(cfg, &t, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.implementation_id"]);
}

/// rv.json with one more reference component (type `M4`) for token 01's
/// implementation: every token component is still in the reference values,
/// but one reference component is not in the token.
fn rv_with_extra_component(dir: &Path) -> std::path::PathBuf {
    let mut rv: serde_json::Value = serde_json::from_slice(&read(vector!("rv.json"))).unwrap();
    let entry = rv["platform"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["implementation-id"] == "7F454C4602010100000000000000000003003E00010000005058000000000000")
        .unwrap();
    entry["sw-components"].as_array_mut().unwrap().push(serde_json::json!({
        "component-type": "M4",
        "measurement-value": "44".repeat(32),
    }));
    let path = dir.join("rv-extra.json");
    std::fs::write(&path, serde_json::to_vec(&rv).unwrap()).unwrap();
    path
}

#[test]
fn a_reference_component_missing_from_the_token_is_refused_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let token = read(vector!("cca-token-01.cbor"));
    let rv = rv_with_extra_component(dir.path());
    let policy = CcaPolicy {
        trust_anchors: vec![token_01_ta_file(dir.path())],
        reference_values: vec![rv.clone()],
        ..Default::default()
    };
    assert!(policy.require_all_sw_components, "fail closed by default");
    let a = appraise(&policy, &token, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.sw_components"], "{:#?}", a.findings);
    let f = &a.findings[0];
    assert!(f.reason.contains("missing from the token"), "{f:?}");
    assert!(f.reason.contains(&format!("M4 {}", "44".repeat(32))), "{f:?}");

    // Opting out: the reference components are an allow-list only.
    let lax = CcaPolicy {
        require_all_sw_components: false,
        ..policy
    };
    let a = appraise(&lax, &token, TOKEN_01_CHALLENGE);
    assert!(a.is_affirming(), "{:#?}", a.findings);
}

#[test]
fn require_all_sw_components_is_a_policy_key() {
    let dir = tempfile::tempdir().unwrap();
    let rv = rv_with_extra_component(dir.path());
    let ta = token_01_ta_file(dir.path());
    let token = read(vector!("cca-token-01.cbor"));
    for (key, affirming) in [
        ("", false),
        ("require_all_sw_components = true\n", false),
        ("require_all_sw_components = false\n", true),
    ] {
        let text = format!(
            "id = \"cca\"\n[cca]\ntrust_anchors = [\"{}\"]\nreference_values = [\"{}\"]\n{key}",
            ta.display(),
            rv.display()
        );
        let p = Policy::from_toml(&text, dir.path()).unwrap();
        let a = appraise(p.cca.as_ref().unwrap(), &token, TOKEN_01_CHALLENGE);
        assert_eq!(a.is_affirming(), affirming, "{key:?}: {:#?}", a.findings);
    }
}

#[test]
fn id_allow_lists_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let t = CcaToken::decode(&read(vector!("cca-token-01.cbor"))).unwrap();
    let mut cfg = config_01(dir.path());
    cfg.instance_ids = vec![read(vector!("inst-id.bin"))];
    let a = appraise_decoded(cfg, &t, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.instance_id"]);

    let mut cfg = config_01(dir.path());
    cfg.implementation_ids = vec![read(vector!("impl-id.bin"))];
    let a = appraise_decoded(cfg, &t, TOKEN_01_CHALLENGE);
    assert_eq!(failed_claims(&a), ["platform.implementation_id"]);

    let mut cfg = config_01(dir.path());
    cfg.instance_ids = vec![t.platform.instance_id.clone()];
    cfg.implementation_ids = vec![t.platform.implementation_id.clone()];
    assert_eq!(appraise_decoded(cfg, &t, TOKEN_01_CHALLENGE).status, Tier::Affirming);
}

// --- token 02 ---------------------------------------------------------------

/// Token 02 verifies with `ta-02-ok.json`. Without platform reference
/// values its platform software is not checked: a warning saying so (issue
/// 8 point 5; this test expected affirming before); with its components
/// listed in `platform_sw_components` it is affirming.
#[test]
fn token_02_with_ta_02_ok_is_affirming_once_its_platform_software_is_listed() {
    let t = CcaToken::decode(&read(vector!("cca-token-02.cbor"))).unwrap();
    assert_eq!(t.realm.public_key_hash_algo_id, "sha-512");
    let a = appraise_decoded(config_02(), &t, token_02_challenge());
    assert_eq!(a.status, Tier::Warning, "{:#?}", a.findings);
    assert!(failed_claims(&a).is_empty(), "{:#?}", a.findings);
    assert_eq!(a.findings.len(), 1, "{:#?}", a.findings);
    assert_eq!(a.findings[0].claim, "platform.sw_components");
    assert!(a.findings[0].reason.contains("platform's software is not checked"));

    let components = t
        .platform
        .sw_components
        .iter()
        .map(|c| attested_tls::platform::cca::SwComponentReference {
            component_type: c.component_type.clone(),
            measurement: hex::encode(&c.measurement_value),
            signer_id: c.signer_id.as_ref().map(hex::encode),
            version: None,
        })
        .collect();
    let cfg = CcaPolicy {
        trust_anchors: vec![vector!("ta-02-ok.json").into()],
        realm_initial_measurements: vec!["43".repeat(64)],
        platform_sw_components: components,
        ..Default::default()
    }
    .config(&Policy::default())
    .unwrap();
    let a = appraise_decoded(cfg, &t, token_02_challenge());
    assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);
}

#[test]
fn token_02_with_ta_02_bad_fails_the_platform_signature() {
    let policy = CcaPolicy {
        trust_anchors: vec![vector!("ta-02-bad.json").into()],
        realm_initial_measurements: vec!["43".repeat(64)],
        ..Default::default()
    };
    let a = appraise(&policy, &read(vector!("cca-token-02.cbor")), token_02_challenge());
    assert_eq!(failed_claims(&a), ["platform.signature"]);
    assert_eq!(a.trust_vector[&TrustClaim::InstanceIdentity], CRYPTO_VALIDATION_FAILED);
    // The realm is not evaluated.
    assert_eq!(a.trust_vector.len(), 1, "{:?}", a.trust_vector);
}

// --- malformed input ----------------------------------------------------------

#[test]
fn malformed_tokens_are_refused_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_01(dir.path());
    let token = read(vector!("cca-token-01.cbor"));
    for n in [0, 1, 3, 10, 100, token.len() / 2, token.len() - 1] {
        let a = appraise(&policy, &token[..n], TOKEN_01_CHALLENGE);
        assert_eq!(failed_claims(&a), ["cca_token"], "truncated to {n}");
    }
    // Wrong tag.
    let mut wrong = token.clone();
    wrong[2] = 0x90;
    assert!(matches!(CcaToken::decode(&wrong), Err(CcaError::Structure { .. })));
    // Oversized input is refused before decoding.
    let big = vec![0u8; MAX_TOKEN_LEN + 1];
    assert!(matches!(CcaToken::decode(&big), Err(CcaError::TooLarge { .. })));
    // A bare claims map is not a token.
    let r = CcaToken::decode(&read(vector!("realm-claims.cbor")));
    assert!(
        matches!(&r, Err(CcaError::Structure { what: "CCA token", reason }) if reason.contains("not CBOR tag 399")),
        "{:?}",
        r.err()
    );
    // Missing realm token.
    let v: Value = ciborium::de::from_reader(token.as_slice()).unwrap();
    let Value::Tag(t, inner) = v else { unreachable!() };
    let Value::Map(mut m) = *inner else { unreachable!() };
    m.retain(|(k, _)| k.as_integer().map(i128::from) != Some(44241));
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Tag(t, Box::new(Value::Map(m))), &mut out).unwrap();
    assert!(CcaToken::decode(&out)
        .unwrap_err()
        .to_string()
        .contains("no realm token"));
    // Trailing bytes.
    let mut trailing = token.clone();
    trailing.push(0);
    let r = CcaToken::decode(&trailing);
    assert!(
        matches!(&r, Err(CcaError::Structure { reason, .. }) if reason.contains("1 trailing bytes")),
        "{:?}",
        r.err()
    );
}

#[test]
fn media_types_and_detection() {
    let v = CcaVerifier::new(CcaVerifierConfig::default());
    assert!(v.accepts_media_type(MEDIA_TYPE));
    assert!(v.accepts_media_type("application/eat+cwt;eat_profile=tag:arm.com,2023:cca_platform#1.0.0"));
    assert!(v.accepts_media_type(MEDIA_TYPE_ALIAS));
    assert!(v.accepts_media_type("application/eat-collection; profile=\"http://arm.com/CCA-SSD/1.0.0\""));
    assert!(!v.accepts_media_type("application/eat+cwt"));
    assert!(!v.accepts_media_type("application/eat+cwt; eat_profile=\"tag:example.com,2024:other\""));
    assert!(v.detect(&read(vector!("cca-token-01.cbor"))));
    assert!(!v.detect(&read(vector!("realm-claims.cbor"))));
    let exp = ExpectedBinding::ReportData(TOKEN_01_CHALLENGE);
    let ctx = AppraisalContext {
        expected: &exp,
        now: time::OffsetDateTime::UNIX_EPOCH,
        policy_id: "test",
    };
    let a = v.appraise("application/json", &read(vector!("cca-token-01.cbor")), &ctx);
    assert_eq!(failed_claims(&a), ["media_type"]);
}

#[test]
fn bad_trust_anchor_and_reference_files_are_policy_errors() {
    let r = parse_trust_anchors("{}");
    assert!(
        matches!(&r, Err(CcaError::Json { what: "trust anchor list", reason }) if reason.contains("expected a sequence")),
        "{:?}",
        r.err()
    );
    // Each field refused for its own reason (not for an earlier one).
    let ta = |iid: &str, impl_id: &str, pkey: &str| {
        parse_trust_anchors(&format!(
            r#"[{{"instance-id":"{iid}","implementation-id":"{impl_id}","pkey":{pkey}}}]"#
        ))
        .unwrap_err()
        .to_string()
    };
    let (iid, impl_id) = (format!("01{}", "ab".repeat(32)), "cd".repeat(32));
    let e = ta("01", &impl_id, "{}");
    assert!(e.contains("instance-id"), "{e}");
    let e = ta(&iid, "00", "{}");
    assert!(e.contains("implementation-id"), "{e}");
    let e = ta(&iid, &impl_id, "{}");
    assert!(e.contains("JWK lacks"), "{e}");
    let e = ta(&iid, &impl_id, r#"{"kty":"RSA"}"#);
    assert!(e.contains("kty is not EC"), "{e}");
    let e = parse_rv_json(r#"{"realm":[{"initial-measurement":"zz"}]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("initial-measurement \"zz\" is not hex"), "{e}");
    // A valid initial measurement, so only the REM count can be refused.
    let im = "ab".repeat(32);
    parse_rv_json(&format!(r#"{{"realm":[{{"initial-measurement":"{im}"}}]}}"#)).unwrap();
    let e = parse_rv_json(&format!(
        r#"{{"realm":[{{"initial-measurement":"{im}","extensible-measurements":[]}}]}}"#
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("extensible-measurements has 0 entries, expected 4"), "{e}");
    let p = CcaPolicy {
        trust_anchors: vec!["/nonexistent/ta.json".into()],
        ..Default::default()
    };
    let e = p.config(&Policy::default()).unwrap_err();
    assert!(e.to_string().contains("cca.trust_anchors"), "{e}");
    let p = CcaPolicy {
        rems: vec![vec!["00".repeat(32)]],
        ..Default::default()
    };
    assert!(p
        .config(&Policy::default())
        .unwrap_err()
        .to_string()
        .contains("cca.rems"));
    let p = CcaPolicy {
        platform_sw_components: vec![SwComponentReference {
            component_type: None,
            measurement: "07".repeat(20),
            signer_id: None,
            version: None,
        }],
        ..Default::default()
    };
    let e = p.config(&Policy::default()).unwrap_err();
    assert!(e.to_string().contains("cca.platform_sw_components.measurement"), "{e}");
    let e = Policy::from_toml("id = \"x\"\n[cca]\nallow_dbug = true\n", Path::new(".")).unwrap_err();
    assert!(e.to_string().contains("allow_dbug"), "{e}");
}

/// No single-byte change anywhere in token 01 yields an affirming result
/// (and none makes the verifier panic).
#[test]
fn every_single_byte_change_of_token_01_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let v = policy_01(dir.path()).verifier(&Policy::default()).unwrap();
    let exp = ExpectedBinding::ReportData(TOKEN_01_CHALLENGE);
    let ctx = AppraisalContext {
        expected: &exp,
        now: time::OffsetDateTime::UNIX_EPOCH,
        policy_id: "test",
    };
    let token = read(vector!("cca-token-01.cbor"));
    assert_eq!(v.appraise(MEDIA_TYPE, &token, &ctx).status, Tier::Affirming);
    for i in 0..token.len() {
        for mask in [0x01u8, 0x80] {
            let mut t = token.clone();
            t[i] ^= mask;
            let a = v.appraise(MEDIA_TYPE, &t, &ctx);
            assert_eq!(a.status, Tier::Contraindicated, "byte {i} ^ {mask:#x} accepted");
        }
    }
}

/// Two anchors for one instance (key rotation): the one that verifies is used;
/// with only the wrong one, the signature fails.
#[test]
fn any_anchor_of_the_instance_may_verify() {
    let dir = tempfile::tempdir().unwrap();
    let good = config_01(dir.path());
    let mut wrong = good.trust_anchors[0].clone();
    let pkey: serde_json::Value = serde_json::from_slice(&read(vector!("pkey.json"))).unwrap();
    wrong.key = EcPublicKey::from_jwk(&pkey).unwrap();
    let t = CcaToken::decode(&read(vector!("cca-token-01.cbor"))).unwrap();

    let mut cfg = good.clone();
    cfg.trust_anchors.insert(0, wrong.clone());
    assert_eq!(appraise_decoded(cfg, &t, TOKEN_01_CHALLENGE).status, Tier::Affirming);

    let mut cfg = good;
    cfg.trust_anchors = vec![wrong];
    assert_eq!(
        failed_claims(&appraise_decoded(cfg, &t, TOKEN_01_CHALLENGE)),
        ["platform.signature"]
    );
}

// --- claim and structure checks the vectors do not exercise -------------------

/// Decodes a claims file, lets `f` change its map, re-encodes it.
fn edit_claims(path: &str, f: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let v: Value = ciborium::de::from_reader(read(path).as_slice()).unwrap();
    let Value::Map(mut m) = v else { panic!("not a map") };
    f(&mut m);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Map(m), &mut out).unwrap();
    out
}

fn claim_mut(m: &mut [(Value, Value)], key: i64) -> &mut Value {
    &mut m
        .iter_mut()
        .find(|(k, _)| k.as_integer().map(i128::from) == Some(key.into()))
        .unwrap()
        .1
}

fn bad_claim_of(e: CcaError) -> &'static str {
    match e {
        CcaError::BadClaim { claim, .. } => claim,
        other => panic!("expected a BadClaim, got {other:?}"),
    }
}

#[test]
fn platform_instance_id_that_is_not_a_rand_ueid_is_refused() {
    let p = edit_claims(vector!("platform-claims.cbor"), |m| {
        let Value::Bytes(b) = claim_mut(m, 256) else { panic!() };
        b[0] = 0x02;
    });
    assert_eq!(
        bad_claim_of(PlatformClaims::decode(&p).unwrap_err()),
        "platform.instance_id"
    );
}

#[test]
fn platform_lifecycle_outside_16_bits_is_refused() {
    let p = edit_claims(vector!("platform-claims.cbor"), |m| {
        *claim_mut(m, 2395) = Value::Integer(70_000.into());
    });
    assert_eq!(
        bad_claim_of(PlatformClaims::decode(&p).unwrap_err()),
        "platform.lifecycle"
    );
}

#[test]
fn platform_claims_with_no_software_components_are_refused() {
    let p = edit_claims(vector!("platform-claims.cbor"), |m| {
        *claim_mut(m, 2399) = Value::Array(vec![]);
    });
    let e = PlatformClaims::decode(&p).unwrap_err();
    assert!(e.to_string().contains("has 0 entries"), "{e}");
    assert_eq!(bad_claim_of(e), "platform.sw_components");
}

#[test]
fn realm_public_key_that_is_empty_or_oversized_is_refused() {
    for len in [0, 1025] {
        let r = edit_claims(vector!("realm-claims.cbor"), |m| {
            *claim_mut(m, 44237) = Value::Bytes(vec![4; len]);
        });
        let e = RealmClaims::decode(&r).unwrap_err();
        assert!(e.to_string().contains(&format!("is {len} bytes")), "{e}");
        assert_eq!(bad_claim_of(e), "realm.public_key");
    }
}

#[test]
fn token_collection_with_a_member_twice_is_refused() {
    let token = read(vector!("cca-token-01.cbor"));
    let v: Value = ciborium::de::from_reader(token.as_slice()).unwrap();
    let Value::Tag(t, inner) = v else { unreachable!() };
    let Value::Map(mut m) = *inner else { unreachable!() };
    let realm = m
        .iter()
        .find(|(k, _)| k.as_integer().map(i128::from) == Some(44241))
        .unwrap()
        .clone();
    m.push(realm);
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Tag(t, Box::new(Value::Map(m))), &mut out).unwrap();
    let e = CcaToken::decode(&out).unwrap_err();
    assert!(
        matches!(&e, CcaError::Structure { reason, .. } if reason.contains("appears twice")),
        "{e}"
    );
}

#[test]
fn realm_token_with_a_detached_payload_is_refused() {
    let token = read(vector!("cca-token-01.cbor"));
    let detached = mutate(&token, 44241, |b| {
        let tagged = b.first() == Some(&0xd2);
        let v: Value = ciborium::de::from_reader(b.as_slice()).unwrap();
        let (tag, v) = match v {
            Value::Tag(t, inner) => (Some(t), *inner),
            v => (None, v),
        };
        assert_eq!(tagged, tag.is_some());
        let Value::Array(mut a) = v else {
            panic!("not a COSE_Sign1")
        };
        a[2] = Value::Null;
        let v = match tag {
            Some(t) => Value::Tag(t, Box::new(Value::Array(a))),
            None => Value::Array(a),
        };
        b.clear();
        ciborium::ser::into_writer(&v, &mut *b).unwrap();
    });
    assert_eq!(
        CcaToken::decode(&detached).unwrap_err(),
        CcaError::Cose {
            token: "realm",
            reason: "detached payload".into()
        }
    );
}

#[test]
fn reference_values_with_wrong_lengths_or_rem_counts_are_refused() {
    let rv: serde_json::Value = serde_json::from_slice(&read(vector!("rv.json"))).unwrap();
    parse_rv_json(&rv.to_string()).unwrap();
    let h32 = "11".repeat(32);
    let json_reason = |v: &serde_json::Value| match parse_rv_json(&v.to_string()).unwrap_err() {
        CcaError::Json { reason, .. } => reason,
        other => panic!("expected a Json error, got {other:?}"),
    };

    let three =
        serde_json::json!({"realm": [{"initial-measurement": h32, "extensible-measurements": [h32, h32, h32]}]});
    assert!(
        json_reason(&three).contains("extensible-measurements has 3 entries, expected 4"),
        "{three}"
    );

    let short_rim = serde_json::json!({"realm": [{"initial-measurement": "11".repeat(31)}]});
    assert!(json_reason(&short_rim).contains("initial-measurement is 31 bytes"));

    let mut short_sw = rv.clone();
    short_sw["platform"][0]["sw-components"][0]["measurement-value"] = "22".repeat(31).into();
    assert!(json_reason(&short_sw).contains("measurement-value is 31 bytes"));

    let mut short_impl = rv.clone();
    short_impl["platform"][0]["implementation-id"] = "33".repeat(31).into();
    assert!(json_reason(&short_impl).contains("implementation-id is 31 bytes"));
}
