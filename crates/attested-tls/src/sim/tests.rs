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
