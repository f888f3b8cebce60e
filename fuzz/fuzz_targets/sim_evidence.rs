//! The simulated-TEE verifier (`sim::SimVerifier` through the `Verifier`
//! trait) on fuzzed Evidence, and the `verifier::Appraiser` on the same
//! bytes taken as a CMW.
//!
//! The verifier trusts a fixed simulation root (`fixtures/sim-root.pem`)
//! and allows its instance (`fixtures/sim-instance.toml`); the appraisal
//! expects a fixed binding. The seeds are genuine Evidence of that instance
//! over a *different* binding, so they pass the envelope, chain and
//! signature checks and fail only the binding. Never panics, and the result
//! is never affirming (nor acceptable): an affirming result for fuzzed
//! bytes would be a forgery.
#![no_main]

use std::sync::LazyLock;

use attested_tls::binder::{BindingClaims, ExpectedBinding};
use attested_tls::crypto::HashAlgorithm;
use attested_tls::sim::{SimInstance, SimPolicy, SimVerifier, SIM_MEDIA_TYPE};
use attested_tls::verifier::{AppraisalContext, Appraiser, Verifier};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

const ROOT_PEM: &str = include_str!("../fixtures/sim-root.pem");
const INSTANCE_TOML: &str = include_str!("../fixtures/sim-instance.toml");
/// The exported value the expected binding is computed from (the seeds use
/// `[0x08; 32]`).
pub const EXPECTED_EXPORTED_VALUE: [u8; 32] = [0x07; 32];

struct Fixed {
    verifier: std::sync::Arc<SimVerifier>,
    appraiser: Appraiser,
    expected: ExpectedBinding,
    now: time::OffsetDateTime,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let instance = SimInstance::from_toml(INSTANCE_TOML).expect("fixture instance");
    let root = CertificateDer::from_pem_slice(ROOT_PEM.as_bytes()).expect("fixture root");
    let policy = SimPolicy {
        trusted_roots: Vec::new(),
        measurements: vec![hex::encode(&instance.config().measurement)],
        instance_ids: Some(vec![hex::encode(&instance.config().instance_id)]),
        allow_debug: false,
        min_security_version: Some(0),
        max_evidence_age: None,
    };
    let verifier = std::sync::Arc::new(SimVerifier::new(policy, vec![root.to_vec()]).expect("verifier"));
    let appraiser = Appraiser::new("fuzz").with_verifier(verifier.clone());
    Fixed {
        verifier,
        appraiser,
        expected: ExpectedBinding::Claims(BindingClaims::from_exported_value(
            HashAlgorithm::Sha256,
            b"fuzz authenticator spki",
            &EXPECTED_EXPORTED_VALUE,
        )),
        now: instance.not_before() + time::Duration::hours(2),
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXED;
    let ctx = AppraisalContext {
        expected: &f.expected,
        now: f.now,
        policy_id: "fuzz",
    };
    let _ = f.verifier.detect(data);
    let a = f.verifier.appraise(SIM_MEDIA_TYPE, data, &ctx);
    assert!(!a.is_affirming(), "fuzzed Evidence was affirmed: {a:?}");
    let a = f.verifier.appraise("application/eat+cwt", data, &ctx);
    assert!(!a.is_affirming());
    let ear = f.appraiser.appraise_raw(SIM_MEDIA_TYPE, data, &f.expected, f.now);
    assert!(!ear.is_affirming() && !ear.is_acceptable());
    let ear = f.appraiser.appraise_cmw_bytes(data, &f.expected, f.now);
    assert!(
        !ear.is_affirming() && !ear.is_acceptable(),
        "fuzzed CMW was affirmed: {ear:?}"
    );
});
