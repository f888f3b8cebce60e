//! The simulated TEE end to end: attest, appraise, and every way simulated
//! Evidence must be refused.

use std::path::Path;

use attested_tls::binder::{BindingClaims, ExpectedBinding};
use attested_tls::cmw::Cmw;
use attested_tls::crypto::HashAlgorithm;
use attested_tls::ear::{Appraisal, Tier};
use attested_tls::policy::Policy;
use attested_tls::sim::{
    ephemeral_world, init, SimAttester, SimError, SimInstance, SimInstanceConfig, SimPolicy, SimRoot, SimVerifier,
    SimWorld, SIM_MEDIA_TYPE,
};
use attested_tls::verifier::{AppraisalContext, Verifier};
use ciborium::Value;
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn binding(hash: HashAlgorithm, seed: u8) -> BindingClaims {
    BindingClaims::from_exported_value(hash, b"authenticator spki", &[seed; 32])
}

/// A policy allowing `inst`'s measurement, with its security version as
/// the floor (an unset floor makes every result a warning).
fn policy_for(inst: &SimInstance) -> SimPolicy {
    SimPolicy {
        measurements: vec![hex::encode(&inst.config().measurement)],
        min_security_version: Some(inst.config().security_version),
        ..SimPolicy::default()
    }
}

fn verifier(world: &SimWorld, policy: SimPolicy) -> SimVerifier {
    SimVerifier::new(policy, vec![world.root.cert_der().to_vec()]).unwrap()
}

fn appraise_at(v: &SimVerifier, evidence: &[u8], expected: &ExpectedBinding, at: time::OffsetDateTime) -> Appraisal {
    let ctx = AppraisalContext {
        expected,
        now: at,
        policy_id: "test-policy",
    };
    v.appraise(SIM_MEDIA_TYPE, evidence, &ctx)
}

fn appraise(v: &SimVerifier, evidence: &[u8], expected: &BindingClaims) -> Appraisal {
    appraise_at(v, evidence, &ExpectedBinding::Claims(expected.clone()), now())
}

/// Asserts a contraindicated result with a finding on `claim` whose text
/// contains `needle`.
fn assert_refused(a: &Appraisal, claim: &str, needle: &str) {
    assert_eq!(a.status, Tier::Contraindicated, "{:#?}", a.findings);
    assert!(
        a.findings
            .iter()
            .any(|f| f.claim == claim && f.tier == Tier::Contraindicated && f.to_string().contains(needle)),
        "no refusal on {claim} mentioning {needle:?}: {:#?}",
        a.findings
    );
}

fn one() -> (SimWorld, SimInstance) {
    let world = ephemeral_world(1).unwrap();
    let inst = world.instances[0].clone();
    (world, inst)
}

#[test]
fn attest_then_appraise_is_affirming() {
    let (world, inst) = one();
    let v = verifier(&world, policy_for(&inst));
    for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
        let b = binding(hash, 1);
        let ev = SimAttester::new(inst.clone()).evidence(&b).unwrap();
        let a = appraise(&v, &ev, &b);
        assert_eq!(a.status, Tier::Affirming, "{:#?}", a.findings);
        assert!(a.findings.is_empty());
        assert_eq!(a.claims["measurement"], hex::encode(&inst.config().measurement));
        assert_eq!(a.claims["instance_id"], hex::encode(&inst.config().instance_id));
        assert_eq!(a.claims["debug"], false);
        assert_eq!(a.claims["security_version"], 1);
        assert_eq!(a.claims["eat_nonce"], hex::encode(&b.binder));
        assert_eq!(a.claims["aik_pub_hash"], hex::encode(&b.aik_pub_hash));
        assert!(a.claims["root"].as_str().unwrap().contains("ephemeral"));
    }
}

#[test]
fn attester_wraps_evidence_in_a_cmw_the_appraiser_accepts() {
    use attested_tls::attester::Attester;
    use attested_tls::verifier::Appraiser;
    use std::sync::Arc;
    let (world, inst) = one();
    let att = SimAttester::new(inst.clone());
    assert_eq!(att.platform(), "sim");
    let b = binding(HashAlgorithm::Sha256, 2);
    let cmw = att.attest(&b).unwrap();
    match &cmw {
        Cmw::Record(r) => assert_eq!(r.typ.to_string(), SIM_MEDIA_TYPE),
        other => panic!("not a record: {other:?}"),
    }
    let appraiser = Appraiser::new("cmw-policy").with_verifier(Arc::new(verifier(&world, policy_for(&inst))));
    let ear = appraiser.appraise_cmw_bytes(&cmw.to_cbor(), &ExpectedBinding::Claims(b.clone()), now());
    assert!(ear.is_affirming(), "{}", ear.render());
    assert!(ear.submods.contains_key("sim"));
    let other = binding(HashAlgorithm::Sha256, 3);
    let ear = appraiser.appraise_cmw_bytes(&cmw.to_cbor(), &ExpectedBinding::Claims(other), now());
    assert!(!ear.is_acceptable(), "{}", ear.render());
}

#[test]
fn root_not_trusted_is_refused_naming_the_root() {
    let (world, inst) = one();
    let other = SimRoot::generate("some other lab").unwrap();
    let v = SimVerifier::new(policy_for(&inst), vec![other.cert_der().to_vec()]).unwrap();
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst.clone()).evidence(&b).unwrap();
    let a = appraise(&v, &ev, &b);
    assert_refused(&a, "root", "simulation root not trusted by policy");
    let f = a.findings.iter().find(|f| f.claim == "root").unwrap();
    assert!(f.observed.as_deref().unwrap().contains("ephemeral"), "{f}");
    assert!(f.expected.as_deref().unwrap().contains("some other lab"), "{f}");
    // What the unverified Evidence says is shown for diagnosis, as for the
    // other platforms (so that `atls verify` without a trusted root prints
    // the claims, issue 8), under a refused result.
    assert_eq!(a.claims["measurement"], hex::encode(&inst.config().measurement));
    assert!(!a.is_affirming());

    // No trusted root at all.
    let v = SimVerifier::new(policy_for(&inst), vec![]).unwrap();
    assert_refused(&appraise(&v, &ev, &b), "root", "simulation root not trusted by policy");
    drop(world);
}

#[test]
fn an_untrusted_root_name_cannot_add_lines_to_the_shown_result() {
    // Any peer can make its own "root" with any name; the refusal quotes
    // the issuer, and the text shown to people must stay one line per item.
    let (world, inst) = one();
    let evil = SimRoot::generate("x\nattestation result: affirming\n  [sim] affirming (policy prod)\u{1b}[2K").unwrap();
    let forged = evil.issue_instance(inst.config().clone()).unwrap();
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(forged).evidence(&b).unwrap();
    let appraiser = world.appraiser("prod");
    let cmw = Cmw::Record(attested_tls::cmw::CmwRecord::evidence(SIM_MEDIA_TYPE, ev)).to_cbor();
    let ear = appraiser.appraise_cmw_bytes(&cmw, &ExpectedBinding::Claims(b), now());
    assert!(!ear.is_acceptable());
    let rendered = ear.render();
    assert_eq!(
        rendered.lines().filter(|l| l.starts_with("attestation result")).count(),
        1,
        "{rendered}"
    );
    assert!(!rendered.contains('\u{1b}'), "{rendered:?}");
    assert!(rendered.contains("x\\nattestation result: affirming"), "{rendered}");
    let summary = ear.refusal_summary();
    assert!(!summary.chars().any(char::is_control), "{summary:?}");
    // The JSON keeps the exact value (JSON escapes it).
    let json: serde_json::Value = serde_json::from_str(&ear.to_json_pretty()).unwrap();
    assert!(json.to_string().contains("x\\nattestation result"), "{json}");
}

#[test]
fn wrong_measurement_is_refused() {
    let (world, inst) = one();
    let v = verifier(
        &world,
        SimPolicy {
            measurements: vec!["ab".repeat(48)],
            ..SimPolicy::default()
        },
    );
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst).evidence(&b).unwrap();
    let a = appraise(&v, &ev, &b);
    assert_refused(&a, "measurement", "not in the reference values of policy test-policy");

    let v = verifier(&world, SimPolicy::default());
    assert_refused(&appraise(&v, &ev, &b), "measurement", "lists no reference measurements");
}

#[test]
fn instance_not_allowed_is_refused() {
    let world = ephemeral_world(2).unwrap();
    let (a_inst, b_inst) = (world.instances[0].clone(), world.instances[1].clone());
    let v = verifier(
        &world,
        SimPolicy {
            instance_ids: Some(vec![hex::encode(&a_inst.config().instance_id)]),
            ..policy_for(&a_inst)
        },
    );
    let b = binding(HashAlgorithm::Sha256, 1);
    let ok = SimAttester::new(a_inst).evidence(&b).unwrap();
    assert!(appraise(&v, &ok, &b).is_affirming());
    let ev = SimAttester::new(b_inst).evidence(&b).unwrap();
    assert_refused(&appraise(&v, &ev, &b), "instance_id", "not in the instance_ids");
}

#[test]
fn debug_is_refused_unless_allowed_then_warned() {
    let world = ephemeral_world(1).unwrap();
    let mut cfg = world.instances[0].config().clone();
    cfg.debug = true;
    cfg.instance_id = vec![0x01; 17];
    let inst = world.root.issue_instance(cfg).unwrap();
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst.clone()).evidence(&b).unwrap();

    let v = verifier(&world, policy_for(&inst));
    assert_refused(&appraise(&v, &ev, &b), "debug", "does not allow debug");

    let v = verifier(
        &world,
        SimPolicy {
            allow_debug: true,
            ..policy_for(&inst)
        },
    );
    let a = appraise(&v, &ev, &b);
    assert_eq!(a.status, Tier::Warning, "{:#?}", a.findings);
    assert!(a.findings.iter().any(|f| f.claim == "debug" && f.tier == Tier::Warning));
    assert_eq!(a.claims["debug"], true);
}

#[test]
fn security_version_below_minimum_is_refused() {
    let (world, inst) = one();
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst.clone()).evidence(&b).unwrap();
    let at_min = verifier(
        &world,
        SimPolicy {
            min_security_version: Some(1),
            ..policy_for(&inst)
        },
    );
    assert!(appraise(&at_min, &ev, &b).is_affirming());
    let v = verifier(
        &world,
        SimPolicy {
            min_security_version: Some(2),
            ..policy_for(&inst)
        },
    );
    let a = appraise(&v, &ev, &b);
    assert_refused(&a, "security_version", "below the minimum");
    let f = a.findings.iter().find(|f| f.claim == "security_version").unwrap();
    assert_eq!(f.observed.as_deref(), Some("1"));
}

/// Guards issue 8 point 4: an unset `min_security_version` used to mean
/// "0, any version" and gave an affirming result. Unset is now a warning
/// naming the key (acceptable, exit 3 in `atls verify`); an explicit 0 is a
/// deliberate choice and affirms.
#[test]
fn unset_security_version_floor_is_a_warning_naming_the_key() {
    let (world, inst) = one();
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst.clone()).evidence(&b).unwrap();
    let unset = verifier(
        &world,
        SimPolicy {
            min_security_version: None,
            ..policy_for(&inst)
        },
    );
    let a = appraise(&unset, &ev, &b);
    assert_eq!(a.status, Tier::Warning, "{:#?}", a.findings);
    let f = a.findings.iter().find(|f| f.tier == Tier::Warning).expect("a warning");
    assert_eq!(f.claim, "security_version");
    assert_eq!(f.observed.as_deref(), Some("1"));
    assert!(
        f.reason.contains("sim.min_security_version not set") && f.reason.contains("any security version accepted"),
        "{f}"
    );
    assert_eq!(
        a.trust_vector[&attested_tls::ear::TrustClaim::Configuration],
        attested_tls::ear::claim_value::UNSAFE_CONFIG
    );
    let zero = verifier(
        &world,
        SimPolicy {
            min_security_version: Some(0),
            ..policy_for(&inst)
        },
    );
    let a = appraise(&zero, &ev, &b);
    assert!(a.is_affirming(), "{:#?}", a.findings);
    // Through a TOML policy: the key absent is the same warning.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), world.root.cert_pem()).unwrap();
    let text = format!(
        "id = \"p\"\n[sim]\ntrusted_roots = [\"root.pem\"]\nmeasurements = [\"{}\"]\n",
        hex::encode(&inst.config().measurement)
    );
    let appraiser = Policy::from_toml(&text, dir.path()).unwrap().appraiser().unwrap();
    let ear = appraiser.appraise_raw(SIM_MEDIA_TYPE, &ev, &ExpectedBinding::Claims(b.clone()), now());
    assert_eq!(ear.status, Tier::Warning, "{}", ear.render());
    assert!(ear.is_acceptable());
}

#[test]
fn wrong_binder_or_aik_pub_hash_is_refused() {
    let (world, inst) = one();
    let v = verifier(&world, policy_for(&inst));
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst).evidence(&b).unwrap();

    let mut other = b.clone();
    other.binder[0] ^= 1;
    let a = appraise(&v, &ev, &other);
    assert_refused(&a, "eat_nonce", "not the binder");
    assert!(!a.findings.iter().any(|f| f.claim == "aik_pub_hash"));

    let mut other = b.clone();
    other.aik_pub_hash[31] ^= 0x80;
    let a = appraise(&v, &ev, &other);
    assert_refused(&a, "aik_pub_hash", "not the hash of the authenticator");
    assert!(!a.findings.iter().any(|f| f.claim == "eat_nonce"));

    // Same values, different hash algorithm claimed by the relying party.
    let b384 = binding(HashAlgorithm::Sha384, 1);
    assert_refused(&appraise(&v, &ev, &b384), "eat_nonce", "not the binder");
}

#[test]
fn report_data_mode() {
    let (world, inst) = one();
    let v = verifier(&world, policy_for(&inst));
    let b = binding(HashAlgorithm::Sha384, 4);
    let ev = SimAttester::new(inst).evidence(&b).unwrap();
    let ok = appraise_at(&v, &ev, &ExpectedBinding::ReportData(b.report_data()), now());
    assert!(ok.is_affirming(), "{:#?}", ok.findings);
    let mut wrong = b.report_data();
    wrong[63] ^= 1;
    let a = appraise_at(&v, &ev, &ExpectedBinding::ReportData(wrong), now());
    assert_refused(&a, "report_data", "not the expected report data");
}

#[test]
fn any_flipped_byte_is_refused() {
    let (world, inst) = one();
    let v = verifier(&world, policy_for(&inst));
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst).evidence(&b).unwrap();
    assert!(appraise(&v, &ev, &b).is_affirming());
    for i in 0..ev.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = ev.clone();
            bad[i] ^= mask;
            let a = appraise(&v, &bad, &b);
            assert_eq!(
                a.status,
                Tier::Contraindicated,
                "byte {i} ^ {mask:#x} was not refused: {:#?}",
                a.findings
            );
        }
    }
    // Truncations and extensions too.
    for len in 0..ev.len() {
        assert_eq!(
            appraise(&v, &ev[..len], &b).status,
            Tier::Contraindicated,
            "truncated to {len}"
        );
    }
    let mut longer = ev.clone();
    longer.push(0);
    assert_eq!(appraise(&v, &longer, &b).status, Tier::Contraindicated);
}

#[test]
fn certificate_outside_its_validity_is_refused() {
    let (world, inst) = one();
    let v = verifier(&world, policy_for(&inst));
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst.clone()).evidence(&b).unwrap();
    let expected = ExpectedBinding::Claims(b);
    let late = inst.not_after() + time::Duration::days(1);
    let a = appraise_at(&v, &ev, &expected, late);
    assert_refused(&a, "instance_certificate", "not valid at the verification time");
    let early = inst.not_before() - time::Duration::days(1);
    assert_refused(
        &appraise_at(&v, &ev, &expected, early),
        "instance_certificate",
        "not valid",
    );
}

#[test]
fn wrong_media_type_is_refused() {
    let (world, inst) = one();
    let v = verifier(&world, policy_for(&inst));
    assert!(v.accepts_media_type(SIM_MEDIA_TYPE));
    assert!(v.accepts_media_type("application/eat+cwt ; eat_profile=\"tag:attested-tls.dev,2026:sim-tee#1\""));
    assert!(!v.accepts_media_type("application/eat+cwt"));
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst).evidence(&b).unwrap();
    let ctx = AppraisalContext {
        expected: &ExpectedBinding::Claims(b),
        now: now(),
        policy_id: "p",
    };
    assert_eq!(
        v.appraise("application/eat+cwt", &ev, &ctx).status,
        Tier::Contraindicated
    );
}

fn good_claims(inst: &SimInstance, b: &BindingClaims) -> Vec<(i64, Value)> {
    vec![
        (265, Value::Text("tag:attested-tls.dev,2026:sim-tee#1".into())),
        (10, Value::Bytes(b.binder.clone())),
        (256, Value::Bytes(inst.config().instance_id.clone())),
        (6, Value::Integer(1_700_000_000.into())),
        (263, Value::Integer(1.into())),
        (-70001, Value::Bytes(inst.config().measurement.clone())),
        (-70002, Value::Bytes(b.aik_pub_hash.clone())),
        (-70003, Value::Integer(1.into())),
        (-70004, Value::Text("sha256".into())),
    ]
}

#[test]
fn structural_checks() {
    let world = ephemeral_world(1).unwrap();
    let b = binding(HashAlgorithm::Sha256, 1);
    // Sanity: the forger produces acceptable Evidence when nothing is wrong.
    let probe = world
        .root
        .issue_instance(SimInstanceConfig::new(vec![0xaa; 48]))
        .unwrap();
    let v = verifier(&world, policy_for(&probe));
    let x5 = |i: &SimInstance| Some(Value::Bytes(i.cert_der().to_vec()));
    let inst = world
        .root
        .issue_instance(SimInstanceConfig::new(vec![0xaa; 48]))
        .unwrap();
    let (ev, _) = forged_with(&inst, iana::Algorithm::ES256, x5(&inst), good_claims(&inst, &b));
    assert!(
        appraise(&v, &ev, &b).is_affirming(),
        "{:#?}",
        appraise(&v, &ev, &b).findings
    );

    // Not ES256.
    let (ev, _) = forged_with(&inst, iana::Algorithm::ES384, x5(&inst), good_claims(&inst, &b));
    assert_refused(&appraise(&v, &ev, &b), "cose", "ES256");
    // No x5chain.
    let (ev, _) = forged_with(&inst, iana::Algorithm::ES256, None, good_claims(&inst, &b));
    assert_refused(&appraise(&v, &ev, &b), "cose", "x5chain");
    // Two certificates.
    let two = Value::Array(vec![
        Value::Bytes(inst.cert_der().to_vec()),
        Value::Bytes(world.root.cert_der().to_vec()),
    ]);
    let (ev, _) = forged_with(&inst, iana::Algorithm::ES256, Some(two), good_claims(&inst, &b));
    assert_refused(&appraise(&v, &ev, &b), "cose", "exactly one");
    // A missing mandatory claim.
    let mut claims = good_claims(&inst, &b);
    claims.retain(|(k, _)| *k != -70001);
    let (ev, _) = forged_with(&inst, iana::Algorithm::ES256, x5(&inst), claims);
    assert_refused(&appraise(&v, &ev, &b), "measurement", "missing");
    // A claim of the wrong type.
    let mut claims = good_claims(&inst, &b);
    claims[1].1 = Value::Text("nonce".into());
    let (ev, _) = forged_with(&inst, iana::Algorithm::ES256, x5(&inst), claims);
    assert_refused(&appraise(&v, &ev, &b), "eat_nonce", "not a byte string");
    // A ueid other than the certified instance id.
    let mut claims = good_claims(&inst, &b);
    claims[2].1 = Value::Bytes(vec![0x01; 17]);
    let (ev, _) = forged_with(&inst, iana::Algorithm::ES256, x5(&inst), claims);
    assert_refused(&appraise(&v, &ev, &b), "instance_id", "certifies");
    // An unknown claim.
    let mut claims = good_claims(&inst, &b);
    claims.push((-70099, Value::Bool(true)));
    let (ev, _) = forged_with(&inst, iana::Algorithm::ES256, x5(&inst), claims);
    assert_refused(&appraise(&v, &ev, &b), "claims", "not part of the sim-tee profile");
    // Evidence signed by the key of another instance than the certificate's.
    let (ev, _) = forged_with(&probe, iana::Algorithm::ES256, x5(&inst), good_claims(&inst, &b));
    assert_refused(&appraise(&v, &ev, &b), "signature", "does not verify");
    // Oversized input is refused before decoding.
    assert_refused(&appraise(&v, &vec![0xd2; 100_000], &b), "cose", "limit");
}

/// Signs arbitrary headers and claims with `signer`'s key, to exercise the
/// structural checks a well-behaved attester never trips.
fn forged_with(
    signer: &SimInstance,
    alg: iana::Algorithm,
    x5chain: Option<Value>,
    claims: Vec<(i64, Value)>,
) -> (Vec<u8>, SimInstance) {
    forged_with_header(signer, alg, x5chain, |h| h, claims)
}

/// As [`forged_with`], with `extra` adding protected header parameters.
fn forged_with_header(
    signer: &SimInstance,
    alg: iana::Algorithm,
    x5chain: Option<Value>,
    extra: impl FnOnce(HeaderBuilder) -> HeaderBuilder,
    claims: Vec<(i64, Value)>,
) -> (Vec<u8>, SimInstance) {
    let file: toml::Table = toml::from_str(&signer.to_toml()).unwrap();
    let key_pem = file["private_key"].as_str().unwrap();
    use rustls::pki_types::pem::PemObject;
    let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let key = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.secret_pkcs8_der(),
    )
    .unwrap();
    let mut h = HeaderBuilder::new().algorithm(alg);
    if let Some(x) = x5chain {
        h = h.value(33, x);
    }
    let h = extra(h);
    let map = Value::Map(claims.into_iter().map(|(k, v)| (Value::Integer(k.into()), v)).collect());
    let mut payload = Vec::new();
    ciborium::into_writer(&map, &mut payload).unwrap();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let s = CoseSign1Builder::new()
        .protected(h.build())
        .payload(payload)
        .create_signature(b"", |tbs| key.sign(&rng, tbs).unwrap().as_ref().to_vec())
        .build();
    (s.to_tagged_vec().unwrap(), signer.clone())
}

#[test]
fn instance_file_round_trip() {
    let (world, inst) = one();
    let text = inst.to_toml();
    let back = SimInstance::from_toml(&text).unwrap();
    assert_eq!(back.config(), inst.config());
    assert_eq!(back.cert_der(), inst.cert_der());
    // The reloaded instance signs Evidence the verifier accepts.
    let b = binding(HashAlgorithm::Sha256, 5);
    let ev = SimAttester::new(back).evidence(&b).unwrap();
    assert!(appraise(&verifier(&world, policy_for(&inst)), &ev, &b).is_affirming());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("i.toml");
    std::fs::write(&path, &text).unwrap();
    assert_eq!(SimInstance::load(&path).unwrap().config(), inst.config());
}

#[test]
fn root_pem_round_trip_issues_chaining_instances() {
    let root = SimRoot::generate("round trip").unwrap();
    let loaded = SimRoot::from_pem(&root.cert_pem(), &root.key_pem()).unwrap();
    assert_eq!(loaded.cert_der(), root.cert_der());
    let inst = loaded.issue_instance(SimInstanceConfig::new(vec![1; 32])).unwrap();
    let v = SimVerifier::new(policy_for(&inst), vec![root.cert_der().to_vec()]).unwrap();
    let b = binding(HashAlgorithm::Sha256, 6);
    let ev = SimAttester::new(inst).evidence(&b).unwrap();
    assert!(appraise(&v, &ev, &b).is_affirming());
    // A key that does not match the certificate is refused.
    let other = SimRoot::generate("other").unwrap();
    assert!(matches!(
        SimRoot::from_pem(&root.cert_pem(), &other.key_pem()),
        Err(SimError::Invalid { ref field, .. }) if field == "root key"
    ));
}

#[test]
fn a_damaged_instance_file_is_refused_without_quoting_its_private_key() {
    let (_world, inst) = one();
    let text = inst.to_toml();
    let key_lines: Vec<String> = text
        .split("private_key = ")
        .nth(1)
        .unwrap()
        .lines()
        .map(|l| l.trim().trim_matches('"').to_string())
        .filter(|l| l.len() >= 12 && !l.contains("-----"))
        .collect();
    assert!(!key_lines.is_empty());
    let key_start = text.find("private_key").unwrap();
    // Cut anywhere inside the key (an interrupted copy), or corrupt a line.
    let mut damaged: Vec<String> = (key_start + 20..text.len())
        .step_by(7)
        .map(|cut| text[..cut].to_string())
        .collect();
    damaged.push(text.replacen("-----END PRIVATE KEY-----\n\"\"\"", "-----END PRIVATE KEY-----\n", 1));
    let mut refused = 0;
    for t in &damaged {
        let Err(e) = SimInstance::from_toml(t) else { continue };
        refused += 1;
        let e = e.to_string();
        for k in &key_lines {
            assert!(!e.contains(&k[..12]), "the error quotes key material: {e}");
        }
    }
    assert!(refused > damaged.len() / 2, "{refused} of {}", damaged.len());
}

#[test]
fn malformed_instance_files_name_the_field() {
    let (_world, inst) = one();
    let text = inst.to_toml();
    let field_of = |t: &str| SimInstance::from_toml(t).unwrap_err().to_string();

    let no_measurement: String = text
        .lines()
        .filter(|l| !l.starts_with("measurement"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        field_of(&no_measurement).contains("measurement"),
        "{}",
        field_of(&no_measurement)
    );

    let bad_hex = text.replacen("measurement = \"", "measurement = \"zz", 1);
    let e = field_of(&bad_hex);
    assert!(e.contains("measurement") && e.contains("hex"), "{e}");

    let bad_id = text.replacen("instance_id = \"", "instance_id = \"00", 1);
    let e = field_of(&bad_id);
    assert!(e.contains("instance_id"), "{e}");

    let bad_type = text.replacen("debug = false", "debug = \"no\"", 1);
    let e = field_of(&bad_type);
    assert!(e.contains("debug"), "{e}");

    let unknown = format!("{text}\nallow_everything = true\n");
    let e = field_of(&unknown);
    assert!(e.contains("allow_everything"), "{e}");

    let bad_cert = text.replacen("-----BEGIN CERTIFICATE-----", "-----BEGIN NOTHING-----", 1);
    let e = field_of(&bad_cert);
    assert!(e.contains("certificate"), "{e}");

    // A key from another instance does not match the certificate.
    let (_w2, other) = one();
    let other_key = other.to_toml();
    let key_part = |t: &str| t.split("private_key = ").nth(1).unwrap_or_default().to_string();
    let swapped = text.replace(&key_part(&text), &key_part(&other_key));
    let e = field_of(&swapped);
    assert!(e.contains("private_key"), "{e}");

    // Loading from a file names the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken-instance.toml");
    std::fs::write(&path, &bad_hex).unwrap();
    let e = SimInstance::load(&path).unwrap_err().to_string();
    assert!(e.contains("broken-instance.toml") && e.contains("measurement"), "{e}");
    let e = SimInstance::load(&dir.path().join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.toml"), "{e}");
}

#[test]
fn init_writes_files_whose_policy_affirms_every_instance() {
    let dir = tempfile::tempdir().unwrap();
    let world = init(dir.path(), 3, None, true).unwrap();
    for f in [
        "root.pem",
        "root.key",
        "instance-0.toml",
        "instance-1.toml",
        "instance-2.toml",
        "policy.toml",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let policy = Policy::load(&dir.path().join("policy.toml")).unwrap();
    assert_eq!(policy.id, "sim-default");
    let sim = policy.sim.as_ref().unwrap();
    assert_eq!(sim.measurements.len(), 3, "distinct measurements");
    assert_eq!(sim.instance_ids.as_ref().unwrap().len(), 3);
    // An explicit floor (issue 8): without it every result would be a warning.
    assert_eq!(sim.min_security_version, Some(1));
    let appraiser = policy.appraiser().unwrap();
    for i in 0..3 {
        let inst = SimInstance::load(&dir.path().join(format!("instance-{i}.toml"))).unwrap();
        assert_eq!(inst.config(), world.instances[i].config());
        let b = binding(HashAlgorithm::Sha256, i as u8);
        let cmw = attested_tls::attester::Attester::attest(&SimAttester::new(inst), &b).unwrap();
        let ear = appraiser.appraise_cmw(&cmw, &ExpectedBinding::Claims(b), now());
        assert!(ear.is_affirming(), "instance {i}: {}", ear.render());
    }
    let root = SimRoot::from_pem(
        &std::fs::read_to_string(dir.path().join("root.pem")).unwrap(),
        &std::fs::read_to_string(dir.path().join("root.key")).unwrap(),
    )
    .unwrap();
    assert_eq!(root.cert_der(), world.root.cert_der());

    // Evidence from a world the policy does not trust is refused.
    let stranger = ephemeral_world(1).unwrap();
    let b = binding(HashAlgorithm::Sha256, 9);
    let cmw = attested_tls::attester::Attester::attest(&SimAttester::new(stranger.instances[0].clone()), &b).unwrap();
    let ear = appraiser.appraise_cmw(&cmw, &ExpectedBinding::Claims(b), now());
    assert!(!ear.is_acceptable());
    assert!(
        ear.refusal_summary().contains("simulation root not trusted by policy"),
        "{}",
        ear.refusal_summary()
    );
}

#[test]
fn init_with_a_given_measurement_shares_it() {
    let dir = tempfile::tempdir().unwrap();
    let world = init(dir.path(), 2, Some(vec![0x5a; 32]), false).unwrap();
    for inst in &world.instances {
        assert_eq!(inst.config().measurement, vec![0x5a; 32]);
    }
    let policy = Policy::load(&dir.path().join("policy.toml")).unwrap();
    assert_eq!(policy.sim.unwrap().measurements, vec!["5a".repeat(32)]);
    let r = init(dir.path(), 0, None, false);
    assert!(
        matches!(&r, Err(SimError::Invalid { field, .. }) if field == "instances"),
        "{:?}",
        r.err()
    );
}

#[test]
fn policy_with_no_trusted_roots_refuses_everything() {
    let (_world, inst) = one();
    let text = format!(
        "id = \"no-roots\"\n[sim]\ntrusted_roots = []\nmeasurements = [\"{}\"]\n",
        hex::encode(&inst.config().measurement)
    );
    let policy = Policy::from_toml(&text, Path::new(".")).unwrap();
    let appraiser = policy.appraiser().unwrap();
    let b = binding(HashAlgorithm::Sha256, 1);
    let cmw = attested_tls::attester::Attester::attest(&SimAttester::new(inst), &b).unwrap();
    let ear = appraiser.appraise_cmw(&cmw, &ExpectedBinding::Claims(b), now());
    assert!(!ear.is_acceptable());
    assert!(ear.refusal_summary().contains("simulation root not trusted by policy"));

    // A missing root file is a policy error naming the file.
    let text = "id = \"x\"\n[sim]\ntrusted_roots = [\"nope/root.pem\"]\nmeasurements = []\n";
    let policy = Policy::from_toml(text, Path::new("/nonexistent-dir")).unwrap();
    let e = policy.appraiser().unwrap_err().to_string();
    assert!(e.contains("nope/root.pem"), "{e}");
    // Bad hex in the policy names the key.
    let text = "id = \"x\"\n[sim]\ntrusted_roots = []\nmeasurements = [\"xyz\"]\n";
    let e = Policy::from_toml(text, Path::new("."))
        .unwrap()
        .appraiser()
        .unwrap_err()
        .to_string();
    assert!(e.contains("sim.measurements"), "{e}");
}

#[test]
fn evidence_older_than_the_policy_allows_is_refused() {
    let (world, inst) = one();
    let b = binding(HashAlgorithm::Sha256, 4);
    let ev = SimAttester::new(inst.clone()).evidence(&b).unwrap();
    let v = verifier(
        &world,
        SimPolicy {
            max_evidence_age: Some(300),
            ..policy_for(&inst)
        },
    );
    let expected = ExpectedBinding::Claims(b.clone());
    assert!(appraise_at(&v, &ev, &expected, now()).is_affirming());
    let later = now() + time::Duration::seconds(301);
    assert_refused(&appraise_at(&v, &ev, &expected, later), "iat", "older than");
    let earlier = now() - time::Duration::seconds(120);
    assert_refused(&appraise_at(&v, &ev, &expected, earlier), "iat", "future");
    // Without the key, iat is not checked.
    let v = verifier(&world, policy_for(&inst));
    assert!(appraise_at(&v, &ev, &expected, later).is_affirming());
}

#[test]
fn iv_and_partial_iv_header_parameters_are_refused() {
    let world = ephemeral_world(1).unwrap();
    let inst = world.instances[0].clone();
    let v = verifier(&world, policy_for(&inst));
    let b = binding(HashAlgorithm::Sha256, 1);
    let x5 = Some(Value::Bytes(inst.cert_der().to_vec()));
    let (ev, _) = forged_with_header(&inst, iana::Algorithm::ES256, x5.clone(), |h| h, good_claims(&inst, &b));
    assert!(appraise(&v, &ev, &b).is_affirming());
    let (ev, _) = forged_with_header(
        &inst,
        iana::Algorithm::ES256,
        x5.clone(),
        |h| h.iv(vec![7; 12]),
        good_claims(&inst, &b),
    );
    assert_refused(&appraise(&v, &ev, &b), "cose", "other than alg and x5chain");
    let (ev, _) = forged_with_header(
        &inst,
        iana::Algorithm::ES256,
        x5,
        |h| h.partial_iv(vec![7; 4]),
        good_claims(&inst, &b),
    );
    assert_refused(&appraise(&v, &ev, &b), "cose", "other than alg and x5chain");
}

#[test]
fn envelope_signature_and_claim_refusals_say_what_was_expected() {
    let world = ephemeral_world(2).unwrap();
    let (inst, other) = (world.instances[0].clone(), world.instances[1].clone());
    let v = verifier(&world, policy_for(&inst));
    let b = binding(HashAlgorithm::Sha256, 1);
    let x5 = Some(Value::Bytes(inst.cert_der().to_vec()));
    let expected_of = |a: &Appraisal, claim: &str| -> String {
        a.findings
            .iter()
            .find(|f| f.claim == claim)
            .and_then(|f| f.expected.clone())
            .unwrap_or_else(|| panic!("no expected value on {claim}: {:#?}", a.findings))
    };
    let a = appraise(&v, b"not cose", &b);
    assert!(expected_of(&a, "cose").contains("ES256"));
    let (ev, _) = forged_with(&other, iana::Algorithm::ES256, x5.clone(), good_claims(&inst, &b));
    assert!(expected_of(&appraise(&v, &ev, &b), "signature").contains("instance certificate's key"));
    let mut claims = good_claims(&inst, &b);
    claims.retain(|(k, _)| *k != -70001);
    let (ev, _) = forged_with(&inst, iana::Algorithm::ES256, x5, claims);
    assert!(expected_of(&appraise(&v, &ev, &b), "measurement").contains("claims set"));
    let (ev, _) = forged_with(
        &inst,
        iana::Algorithm::ES256,
        Some(Value::Bytes(b"not a certificate".to_vec())),
        good_claims(&inst, &b),
    );
    assert!(expected_of(&appraise(&v, &ev, &b), "instance_certificate").contains("X.509"));
}

/// A collection of a refused and an affirming record, appraised from its
/// encoding: the result must be refused and have one submodule per record.
fn assert_collection_refused(world: &SimWorld, inst: &SimInstance, encoded: &[u8], b: &BindingClaims) {
    use attested_tls::verifier::Appraiser;
    use std::sync::Arc;
    let appraiser = Appraiser::new("cmw-policy").with_verifier(Arc::new(verifier(world, policy_for(inst))));
    let ear = appraiser.appraise_cmw_bytes(encoded, &ExpectedBinding::Claims(b.clone()), now());
    assert!(!ear.is_affirming(), "{}", ear.render());
    assert!(!ear.is_acceptable(), "{}", ear.render());
    assert_eq!(ear.status, Tier::Contraindicated, "{}", ear.render());
    let records = Cmw::decode(encoded).unwrap().records().len();
    assert_eq!(ear.submods.len(), records, "{}", ear.render());
}

#[test]
fn cbor_int_and_text_label_collision_is_refused() {
    use attested_tls::cmw::{CmwLabel, CmwRecord};
    use std::collections::BTreeMap;
    let (world, inst) = one();
    let b = binding(HashAlgorithm::Sha256, 1);
    let good = SimAttester::new(inst.clone()).evidence(&b).unwrap();
    // Bound to another connection: refused on eat_nonce.
    let bad = SimAttester::new(inst.clone())
        .evidence(&binding(HashAlgorithm::Sha256, 2))
        .unwrap();
    // Integer 1 sorts (and is appraised) before text "1", so before the
    // fix the good record's submodule replaced the bad one's.
    let cmw = Cmw::Collection {
        ctype: None,
        members: BTreeMap::from([
            (CmwLabel::Int(1), Cmw::Record(CmwRecord::evidence(SIM_MEDIA_TYPE, bad))),
            (
                CmwLabel::Text("1".into()),
                Cmw::Record(CmwRecord::evidence(SIM_MEDIA_TYPE, good.clone())),
            ),
        ]),
    };
    assert_collection_refused(&world, &inst, &cmw.to_cbor(), &b);
    // Sanity: the same shape with two good records is affirming.
    let cmw = Cmw::Collection {
        ctype: None,
        members: BTreeMap::from([
            (
                CmwLabel::Int(1),
                Cmw::Record(CmwRecord::evidence(SIM_MEDIA_TYPE, good.clone())),
            ),
            (
                CmwLabel::Text("1".into()),
                Cmw::Record(CmwRecord::evidence(SIM_MEDIA_TYPE, good)),
            ),
        ]),
    };
    use attested_tls::verifier::Appraiser;
    let appraiser =
        Appraiser::new("cmw-policy").with_verifier(std::sync::Arc::new(verifier(&world, policy_for(&inst))));
    let ear = appraiser.appraise_cmw_bytes(&cmw.to_cbor(), &ExpectedBinding::Claims(b), now());
    assert!(ear.is_affirming(), "{}", ear.render());
    assert!(ear.submods.contains_key("sim:#1") && ear.submods.contains_key("sim:1"));
}

/// The binding of a connection, Evidence bound to it and Evidence bound to
/// another one, base64url as JSON CMW records carry them.
fn good_and_bad_base64(inst: &SimInstance) -> (BindingClaims, String, String) {
    use base64::Engine as _;
    let b = binding(HashAlgorithm::Sha256, 1);
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let good = b64(&SimAttester::new(inst.clone()).evidence(&b).unwrap());
    let bad = b64(&SimAttester::new(inst.clone())
        .evidence(&binding(HashAlgorithm::Sha256, 2))
        .unwrap());
    (b, good, bad)
}

#[test]
fn json_nested_and_dotted_label_collision_is_refused() {
    let (world, inst) = one();
    let (b, good, bad) = good_and_bad_base64(&inst);
    // "a" sorts before "a.b": the nested (bad) record was appraised first
    // and its submodule `sim:a.b` then replaced by the flat (good) one's.
    let doc = serde_json::json!({
        "a": {"b": [SIM_MEDIA_TYPE, bad]},
        "a.b": [SIM_MEDIA_TYPE, good],
    })
    .to_string();
    assert_collection_refused(&world, &inst, doc.as_bytes(), &b);
}

#[test]
fn json_duplicate_label_is_refused_not_last_one_wins() {
    use attested_tls::verifier::Appraiser;
    use std::sync::Arc;
    let (world, inst) = one();
    let (b, good, bad) = good_and_bad_base64(&inst);
    // serde_json::json! cannot repeat a key, so the document is written out.
    let mt = serde_json::to_string(SIM_MEDIA_TYPE).unwrap();
    let doc = format!(r#"{{"gpu":[{mt},"{bad}"],"gpu":[{mt},"{good}"]}}"#);
    let appraiser = Appraiser::new("cmw-policy").with_verifier(Arc::new(verifier(&world, policy_for(&inst))));
    let ear = appraiser.appraise_cmw_bytes(doc.as_bytes(), &ExpectedBinding::Claims(b), now());
    assert!(!ear.is_acceptable(), "{}", ear.render());
    assert!(
        ear.refusals().iter().any(|r| r.contains("duplicate label gpu")),
        "{}",
        ear.render()
    );
}

/// Every file of the world in `dir`, by name, with its bytes.
fn world_snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn forced(n: usize) -> attested_tls::sim::InitOptions {
    attested_tls::sim::InitOptions {
        instances: n,
        force: true,
        ..Default::default()
    }
}

#[test]
fn init_refuses_to_overwrite_an_existing_world_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sim");
    init(&dir, 2, None, false).unwrap();
    assert_eq!(mode(&dir), 0o700, "a new world directory is private");
    let before = world_snapshot(&dir);
    let err = init(&dir, 2, None, false).unwrap_err();
    assert!(
        matches!(&err, SimError::Exists { path } if path.ends_with("root.pem")),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("already exists") && msg.contains("--force"), "{msg}");
    assert_eq!(
        world_snapshot(&dir),
        before,
        "a refused init leaves the files byte-identical"
    );

    // One existing file anywhere in the world refuses the whole init, before
    // anything is written.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("policy.toml"), "mine").unwrap();
    let err = init(&other, 1, None, false).unwrap_err();
    assert!(
        matches!(&err, SimError::Exists { path } if path.ends_with("policy.toml")),
        "{err}"
    );
    assert_eq!(world_snapshot(&other), vec![("policy.toml".into(), b"mine".to_vec())]);
}

#[test]
fn init_without_force_creates_the_root_key_and_instance_files_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fresh");
    init(&dir, 2, None, false).unwrap();
    for secret in ["root.key", "instance-0.toml", "instance-1.toml"] {
        assert_eq!(mode(&dir.join(secret)), 0o600, "{secret} must be private from creation");
    }
    for public in ["root.pem", "policy.toml"] {
        assert_eq!(mode(&dir.join(public)) & 0o600, 0o600, "{public}");
    }
}

#[test]
fn init_force_writes_a_new_private_root_key_over_a_world_readable_one() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    init(dir, 1, None, false).unwrap();
    let key = dir.join("root.key");
    let old_key = std::fs::read(&key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(dir.join("instance-0.toml"), std::fs::Permissions::from_mode(0o644)).unwrap();

    let world = attested_tls::sim::init_with_options(dir, &forced(1)).unwrap();
    let new_key = std::fs::read(&key).unwrap();
    assert_ne!(new_key, old_key, "--force writes a new root key");
    assert_eq!(new_key, world.root.key_pem().into_bytes());
    assert_eq!(mode(&key), 0o600, "the new key is private whatever the old file's mode");
    assert_eq!(mode(&dir.join("instance-0.toml")), 0o600);
    // No temporary files are left behind.
    let names: Vec<String> = world_snapshot(dir).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["instance-0.toml", "policy.toml", "root.key", "root.pem"]);
    // The replaced world is consistent: its policy trusts its instance.
    let inst = SimInstance::load(&dir.join("instance-0.toml")).unwrap();
    assert_eq!(inst.config(), world.instances[0].config());
    Policy::load(&dir.join("policy.toml")).unwrap().appraiser().unwrap();
}

#[test]
fn init_never_writes_a_key_through_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("victim");
    std::fs::write(&target, b"not a key").unwrap();
    let dir = tmp.path().join("sim");
    std::fs::create_dir(&dir).unwrap();
    let link = dir.join("root.key");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    // Without force: refused, nothing written, the link's target untouched.
    let err = init(&dir, 1, None, false).unwrap_err();
    assert!(
        matches!(&err, SimError::Exists { path } if path.ends_with("root.key")),
        "{err}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"not a key");
    assert!(!dir.join("root.pem").exists(), "nothing written on refusal");

    // With force: the link itself is replaced by a private regular file.
    let world = attested_tls::sim::init_with_options(&dir, &forced(1)).unwrap();
    assert_eq!(
        std::fs::read(&target).unwrap(),
        b"not a key",
        "the link target is unchanged"
    );
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_file(), "root.key is no longer a symlink");
    assert_eq!(mode(&link), 0o600);
    assert_eq!(std::fs::read(&link).unwrap(), world.root.key_pem().into_bytes());

    // A dangling symlink is refused too (create_new does not follow it).
    let dir2 = tmp.path().join("sim2");
    std::fs::create_dir(&dir2).unwrap();
    let dangling = tmp.path().join("nowhere");
    std::os::unix::fs::symlink(&dangling, dir2.join("root.key")).unwrap();
    assert!(matches!(init(&dir2, 1, None, false), Err(SimError::Exists { .. })));
    assert!(!dangling.exists(), "no file created at the dangling link's target");
}

#[test]
fn policy_and_instance_files_are_read_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    // Valid TOML just over the 1 MiB limit: read whole, it would load.
    let pad = format!("# {}\n", "x".repeat(1 << 20));
    let policy = tmp.path().join("policy.toml");
    std::fs::write(&policy, format!("id = \"big\"\n{pad}")).unwrap();
    let err = Policy::load(&policy).unwrap_err().to_string();
    assert!(
        err.contains("policy.toml") && err.contains("1048576-byte limit"),
        "{err}"
    );

    let world = ephemeral_world(1).unwrap();
    let inst = tmp.path().join("instance.toml");
    std::fs::write(&inst, format!("{}{pad}", world.instances[0].to_toml())).unwrap();
    let err = SimInstance::load(&inst).unwrap_err().to_string();
    assert!(
        err.contains("instance.toml") && err.contains("1048576-byte limit"),
        "{err}"
    );

    // A character device is refused at once (it would never end).
    let err = Policy::load(Path::new("/dev/zero")).unwrap_err().to_string();
    assert!(err.contains("/dev/zero") && err.contains("character device"), "{err}");
    let err = SimInstance::load(Path::new("/dev/zero")).unwrap_err().to_string();
    assert!(err.contains("character device"), "{err}");

    // Files a policy names (trusted roots) are read the same way.
    let named = tmp.path().join("roots.toml");
    std::fs::write(
        &named,
        "id = \"roots\"\n[sim]\ntrusted_roots = [\"/dev/zero\"]\nmeasurements = [\"00\"]\n",
    )
    .unwrap();
    let err = Policy::load(&named)
        .and_then(|p| p.appraiser())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("/dev/zero") && err.contains("character device"), "{err}");

    // And the certificate, collateral and trust-anchor files the platform
    // sections name.
    for (name, section) in [
        ("snp", "[snp]\nmeasurements = [\"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\"]\ncerts = [\"/dev/zero\"]\n"),
        ("snp-arks", "[snp]\nmeasurements = [\"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\"]\ntrusted_arks = [\"/dev/zero\"]\n"),
        ("tdx", "[tdx]\nmrtd = [\"000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000\"]\ncollateral = [\"/dev/zero\"]\n"),
        ("cca", "[cca]\ntrust_anchors = [\"/dev/zero\"]\nrealm_initial_measurements = [\"0000000000000000000000000000000000000000000000000000000000000000\"]\n"),
    ] {
        let file = tmp.path().join(format!("{name}.toml"));
        std::fs::write(&file, format!("id = \"{name}\"\n{section}")).unwrap();
        let err = match Policy::load(&file).and_then(|p| p.appraiser()) {
            Ok(_) => panic!("{name}: a policy naming /dev/zero loaded"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("/dev/zero") && err.contains("character device"), "{name}: {err}");
    }
}

#[test]
fn a_root_with_the_trusted_name_but_another_key_is_refused() {
    let (world, inst) = one();
    let v = verifier(&world, policy_for(&inst));
    // Same subject name as the trusted root, its own key.
    let impostor = SimRoot::generate("attested-tls ephemeral simulation root").unwrap();
    assert_eq!(impostor.subject(), world.root.subject());
    let forged = impostor.issue_instance(inst.config().clone()).unwrap();
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(forged).evidence(&b).unwrap();
    assert_refused(&appraise(&v, &ev, &b), "root", "not signed by any trusted root");
}

#[test]
fn a_root_outside_its_validity_is_refused_while_the_instance_certificate_is_valid() {
    let (world, inst) = one();
    // A root certificate valid until tomorrow; the instance certificate it
    // issues is valid for ten years.
    let key_pem = world.root.key_pem();
    let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
    let mut params = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "short-lived simulation root");
    params.distinguished_name = dn;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.not_before = now() - time::Duration::days(2);
    params.not_after = now() + time::Duration::days(1);
    let root_cert = params.self_signed(&key).unwrap();
    let root = SimRoot::from_pem(&root_cert.pem(), &key_pem).unwrap();
    let inst = root.issue_instance(inst.config().clone()).unwrap();
    let v = SimVerifier::new(policy_for(&inst), vec![root_cert.der().to_vec()]).unwrap();
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst.clone()).evidence(&b).unwrap();
    let expected = ExpectedBinding::Claims(b);
    assert!(appraise_at(&v, &ev, &expected, now()).is_affirming());
    let later = now() + time::Duration::days(2);
    assert!(later < inst.not_after());
    assert_refused(
        &appraise_at(&v, &ev, &expected, later),
        "root",
        "not valid at the verification time",
    );
}

#[test]
fn crit_key_id_and_unprotected_header_parameters_are_refused() {
    let world = ephemeral_world(1).unwrap();
    let inst = world.instances[0].clone();
    let v = verifier(&world, policy_for(&inst));
    let b = binding(HashAlgorithm::Sha256, 1);
    let x5 = Some(Value::Bytes(inst.cert_der().to_vec()));
    for extra in [
        (|h: HeaderBuilder| h.add_critical(iana::HeaderParameter::Alg)) as fn(HeaderBuilder) -> HeaderBuilder,
        |h| h.key_id(b"kid".to_vec()),
        |h| h.content_type("application/cbor".into()),
    ] {
        let (ev, _) = forged_with_header(&inst, iana::Algorithm::ES256, x5.clone(), extra, good_claims(&inst, &b));
        assert_refused(&appraise(&v, &ev, &b), "cose", "other than alg and x5chain");
    }
    // The unprotected header is outside the signature: adding to it keeps
    // the signature valid, so only the envelope check refuses it.
    let good = SimAttester::new(inst).evidence(&b).unwrap();
    let mut s = coset::CoseSign1::from_tagged_slice(&good).unwrap();
    s.unprotected = HeaderBuilder::new().key_id(b"kid".to_vec()).build();
    let ev = s.to_tagged_vec().unwrap();
    assert_refused(&appraise(&v, &ev, &b), "cose", "unprotected header is not empty");
}

#[test]
fn a_binding_computed_with_another_hash_is_refused_on_hash_alg() {
    let (world, inst) = one();
    let v = verifier(&world, policy_for(&inst));
    let b = binding(HashAlgorithm::Sha256, 1);
    let ev = SimAttester::new(inst).evidence(&b).unwrap();
    // Same bytes, but the relying party computed them with SHA-384.
    let mut other = b.clone();
    other.hash = HashAlgorithm::Sha384;
    assert_refused(&appraise(&v, &ev, &other), "hash_alg", "another hash");
}

#[test]
fn an_instance_certificate_whose_outer_signature_algorithm_is_not_es256_is_refused() {
    let world = ephemeral_world(1).unwrap();
    let inst = world.instances[0].clone();
    let v = verifier(&world, policy_for(&inst));
    let b = binding(HashAlgorithm::Sha256, 1);
    // ecdsa-with-SHA256 -> ecdsa-with-SHA384 in the outer AlgorithmIdentifier
    // (outside the TBS, so the root's signature still verifies).
    let mut cert = inst.cert_der().to_vec();
    let oid = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let at = cert.windows(oid.len()).rposition(|w| w == oid).unwrap();
    cert[at + oid.len() - 1] = 0x03;
    let (ev, _) = forged_with(
        &inst,
        iana::Algorithm::ES256,
        Some(Value::Bytes(cert)),
        good_claims(&inst, &b),
    );
    let a = appraise(&v, &ev, &b);
    assert_eq!(a.status, Tier::Contraindicated, "{:#?}", a.findings);
}
