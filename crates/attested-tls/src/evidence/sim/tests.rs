use super::*;
use crate::binder::{BindingClaims, ExpectedBinding};
use crate::crypto::HashAlgorithm;
use crate::ear::Tier;
use crate::verifier::{AppraisalContext, Verifier};

fn binding() -> BindingClaims {
    BindingClaims::from_exported_value(HashAlgorithm::Sha256, b"spki", &[9; 32])
}

#[test]
fn media_type_matching_ignores_whitespace() {
    assert!(is_sim_media_type(SIM_MEDIA_TYPE));
    assert!(is_sim_media_type(
        "application/eat+cwt ;eat_profile=\"tag:attested-tls.dev,2026:sim-tee#1\""
    ));
    assert!(!is_sim_media_type("application/eat+cwt"));
    assert!(!is_sim_media_type(
        "application/eat+cwt; eat_profile=\"tag:attested-tls.dev,2026:sim-tee#2\""
    ));
}

#[test]
fn evidence_round_trips_and_is_detected() {
    let world = ephemeral_world(1).unwrap();
    let inst = world.instances[0].clone();
    let policy = SimPolicy {
        measurements: vec![hex::encode(&inst.config().measurement)],
        min_security_version: Some(1),
        ..SimPolicy::default()
    };
    let v = SimVerifier::new(policy, vec![world.root.cert_der().to_vec()]).unwrap();
    let ev = SimAttester::new(inst).evidence(&binding()).unwrap();
    assert!(v.detect(&ev));
    assert!(!v.detect(&ev[1..]));
    let expected = ExpectedBinding::Claims(binding());
    let ctx = AppraisalContext {
        expected: &expected,
        now: time::OffsetDateTime::now_utc(),
        policy_id: "t",
    };
    let a = v.appraise(SIM_MEDIA_TYPE, &ev, &ctx);
    assert_eq!(a.status, Tier::Affirming, "{:?}", a.findings);
}

fn claims_map(entries: Vec<(i64, ciborium::Value)>) -> Vec<u8> {
    let map = ciborium::Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (ciborium::Value::Integer(k.into()), v))
            .collect(),
    );
    let mut out = Vec::new();
    ciborium::into_writer(&map, &mut out).unwrap();
    out
}

fn good_entries() -> Vec<(i64, ciborium::Value)> {
    use ciborium::Value as V;
    vec![
        (265, V::Text(SIM_EAT_PROFILE.into())),
        (10, V::Bytes(vec![1; 32])),
        (256, V::Bytes(vec![2; 17])),
        (6, V::Integer(5.into())),
        (263, V::Integer(1.into())),
        (CLAIM_MEASUREMENT, V::Bytes(vec![3; 48])),
        (CLAIM_AIK_PUB_HASH, V::Bytes(vec![4; 32])),
        (CLAIM_SECURITY_VERSION, V::Integer(7.into())),
        (CLAIM_HASH_ALG, V::Text("sha256".into())),
    ]
}

fn decode_err(entries: Vec<(i64, ciborium::Value)>) -> String {
    eat::SimClaims::from_cbor(&claims_map(entries)).unwrap_err().0
}

#[test]
fn claims_decode_and_refuse_bad_types() {
    use ciborium::Value as V;
    let c = eat::SimClaims::from_cbor(&claims_map(good_entries())).unwrap();
    assert_eq!(c.security_version, 7);
    assert!(!c.debug());

    let with = |label: i64, v: V| {
        let mut e = good_entries();
        for (k, val) in e.iter_mut() {
            if *k == label {
                *val = v.clone();
            }
        }
        e
    };
    assert_eq!(decode_err(with(263, V::Integer(5.into()))), "dbgstat");
    assert_eq!(decode_err(with(263, V::Integer((-1).into()))), "dbgstat");
    assert_eq!(
        decode_err(with(CLAIM_SECURITY_VERSION, V::Integer((-1).into()))),
        "security_version"
    );
    assert_eq!(decode_err(with(CLAIM_HASH_ALG, V::Text("SHA-256".into()))), "hash_alg");
    assert_eq!(decode_err(with(CLAIM_HASH_ALG, V::Text("sha384".into()))), "eat_nonce");
    assert_eq!(decode_err(with(10, V::Bytes(vec![1; 4]))), "eat_nonce");
    assert_eq!(
        decode_err(with(CLAIM_AIK_PUB_HASH, V::Bytes(vec![4; 31]))),
        "aik_pub_hash"
    );
    assert_eq!(decode_err(with(256, V::Bytes(vec![]))), "ueid");
    assert_eq!(decode_err(with(6, V::Float(1.5))), "iat");
    assert_eq!(decode_err(with(265, V::Text("tag:other".into()))), "eat_profile");
    assert_eq!(
        decode_err(with(CLAIM_MEASUREMENT, V::Bytes(vec![0; 65]))),
        "measurement"
    );

    // Duplicate labels, trailing bytes, non-map payloads.
    let mut dup = good_entries();
    dup.push((10, V::Bytes(vec![1; 32])));
    assert_eq!(decode_err(dup), "claims");
    let mut trailing = claims_map(good_entries());
    trailing.push(0);
    assert_eq!(eat::SimClaims::from_cbor(&trailing).unwrap_err().0, "claims");
    assert_eq!(eat::SimClaims::from_cbor(&[0x80]).unwrap_err().0, "claims");
    assert_eq!(eat::SimClaims::from_cbor(&[]).unwrap_err().0, "claims");
    // A map header announcing 2^32 entries with nothing behind it.
    let e = eat::SimClaims::from_cbor(&[0xba, 0xff, 0xff, 0xff, 0xff]).unwrap_err();
    assert!(e.0 == "claims" && e.1.contains("UnexpectedEof"), "{e:?}");
}

#[test]
fn detect_requires_the_sim_profile() {
    assert!(!eat::looks_like_sim(&[]));
    assert!(!eat::looks_like_sim(b"not cbor"));
    let world = ephemeral_world(1).unwrap();
    let ev = SimAttester::new(world.instances[0].clone())
        .evidence(&binding())
        .unwrap();
    assert!(eat::looks_like_sim(&ev));
}

#[test]
fn instance_configs_are_validated() {
    let root = SimRoot::generate("v").unwrap();
    let mut cfg = SimInstanceConfig::new(vec![]);
    assert!(
        matches!(root.issue_instance(cfg.clone()), Err(SimError::Invalid { ref field, .. }) if field == "measurement")
    );
    cfg.measurement = vec![1; 32];
    cfg.instance_id = vec![0; 34];
    assert!(matches!(root.issue_instance(cfg), Err(SimError::Invalid { ref field, .. }) if field == "instance_id"));
    let r = SimRoot::generate(" ");
    assert!(
        matches!(&r, Err(SimError::Invalid { field, reason }) if field == "name" && reason.contains("must not be empty")),
        "{:?}",
        r.err()
    );
    let r = ephemeral_world(0);
    assert!(
        matches!(&r, Err(SimError::Invalid { field, reason }) if field == "instances" && reason.contains("at least one")),
        "{:?}",
        r.err()
    );
}

#[test]
fn attester_refuses_malformed_bindings() {
    let world = ephemeral_world(1).unwrap();
    let att = SimAttester::new(world.instances[0].clone());
    let mut b = binding();
    b.binder.truncate(16);
    let r = att.evidence(&b);
    assert!(
        matches!(&r, Err(SimError::Invalid { field, reason }) if field == "binder" && reason.contains("16 bytes, expected 32")),
        "{r:?}"
    );
    let mut b = binding();
    b.aik_pub_hash.push(0);
    let r = att.evidence(&b);
    assert!(
        matches!(&r, Err(SimError::Invalid { field, reason }) if field == "aik_pub_hash" && reason.contains("33 bytes, expected 32")),
        "{r:?}"
    );
}

mod instance_file_errors {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;

    static INSTANCE_TOML: LazyLock<String> = LazyLock::new(|| ephemeral_world(1).unwrap().instances[0].to_toml());

    /// The base64 lines of the instance's private key.
    fn key_lines(text: &str) -> Vec<&str> {
        let key = text.split("private_key = ").nth(1).unwrap_or_default();
        key.lines()
            .map(|l| l.trim().trim_matches('"'))
            .filter(|l| l.len() >= 12 && !l.contains("-----"))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever damage an instance file takes (cut short, bytes
        /// replaced), loading it never panics and an error never quotes
        /// the private key.
        #[test]
        fn damaged_instance_files_never_panic_or_quote_the_key(
            cut in 0usize..4096,
            edits in proptest::collection::vec((0usize..4096, any::<u8>()), 0..4),
        ) {
            let text = INSTANCE_TOML.as_str();
            let mut bytes = text.as_bytes()[..cut.min(text.len())].to_vec();
            for (at, b) in edits {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = b;
                }
            }
            let damaged = String::from_utf8_lossy(&bytes);
            if let Err(e) = SimInstance::from_toml(&damaged) {
                let e = e.to_string();
                for k in key_lines(text) {
                    prop_assert!(!e.contains(&k[..12]), "quotes key material: {}", e);
                }
            }
        }
    }
}

#[test]
fn instance_configs_with_an_oversized_measurement_are_refused() {
    let root = SimRoot::generate("v").unwrap();
    let cfg = SimInstanceConfig::new(vec![7; 65]);
    let err = root.issue_instance(cfg.clone()).unwrap_err();
    assert!(
        matches!(&err, SimError::Invalid { field, reason } if field == "measurement" && reason.contains("65 bytes")),
        "{err}"
    );
    let ok = SimInstanceConfig::new(vec![7; 64]);
    assert_eq!(root.issue_instance(ok).unwrap().config().measurement.len(), 64);
}
