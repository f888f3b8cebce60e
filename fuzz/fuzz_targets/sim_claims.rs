//! The claims parser of the simulated-TEE verifier, behind the signature
//! check that `sim_evidence` cannot get past: the fuzzed bytes are the
//! *payload* of a COSE_Sign1 that this target signs with the fixture
//! instance key (`fixtures/sim-instance.toml`), so every input reaches
//! `SimClaims::from_cbor` and the binding and policy checks.
//!
//! Two verifiers trust the fixture root. The first allows the instance
//! (appraisal must not panic). The second has an empty `instance_ids`
//! allow-list: whatever the signed claims say, its result must never be
//! affirming, since an empty allow-list admits no instance.
#![no_main]

use std::sync::LazyLock;

use attested_tls::binder::{BindingClaims, ExpectedBinding};
use attested_tls::crypto::HashAlgorithm;
use attested_tls::sim::{SimInstance, SimPolicy, SimVerifier, SIM_MEDIA_TYPE};
use attested_tls::verifier::{AppraisalContext, Verifier};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

const ROOT_PEM: &str = include_str!("../fixtures/sim-root.pem");
const INSTANCE_TOML: &str = include_str!("../fixtures/sim-instance.toml");
/// COSE header label of `x5chain`.
const X5CHAIN: i64 = 33;

struct Fixed {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    cert_der: Vec<u8>,
    allowing: SimVerifier,
    empty_allow_list: SimVerifier,
    expected: ExpectedBinding,
    now: time::OffsetDateTime,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let instance = SimInstance::from_toml(INSTANCE_TOML).expect("fixture instance");
    let pem = INSTANCE_TOML
        .split("private_key = \"\"\"")
        .nth(1)
        .and_then(|s| s.split("\"\"\"").next())
        .expect("private_key in the instance file");
    let key_der = PrivatePkcs8KeyDer::from_pem_slice(pem.trim().as_bytes()).expect("PKCS#8 key");
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, key_der.secret_pkcs8_der()).expect("P-256 key");
    let root = CertificateDer::from_pem_slice(ROOT_PEM.as_bytes()).expect("fixture root");
    let policy = |ids: Vec<String>| SimPolicy {
        trusted_roots: Vec::new(),
        measurements: vec![hex::encode(&instance.config().measurement)],
        instance_ids: Some(ids),
        allow_debug: true,
        min_security_version: Some(0),
        max_evidence_age: None,
    };
    Fixed {
        key,
        rng: SystemRandom::new(),
        cert_der: instance.cert_der().to_vec(),
        allowing: SimVerifier::new(
            policy(vec![hex::encode(&instance.config().instance_id)]),
            vec![root.to_vec()],
        )
        .expect("verifier"),
        empty_allow_list: SimVerifier::new(policy(Vec::new()), vec![root.to_vec()]).expect("verifier"),
        expected: ExpectedBinding::Claims(BindingClaims::from_exported_value(
            HashAlgorithm::Sha256,
            b"fuzz authenticator spki",
            &[0x07; 32],
        )),
        now: instance.not_before() + time::Duration::hours(2),
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXED;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES256)
        .value(X5CHAIN, coset::cbor::value::Value::Bytes(f.cert_der.clone()))
        .build();
    let Ok(evidence) = CoseSign1Builder::new()
        .protected(protected)
        .payload(data.to_vec())
        .create_signature(b"", |tbs| f.key.sign(&f.rng, tbs).expect("sign").as_ref().to_vec())
        .build()
        .to_tagged_vec()
    else {
        return;
    };
    let ctx = AppraisalContext {
        expected: &f.expected,
        now: f.now,
        policy_id: "fuzz",
    };
    let _ = f.allowing.appraise(SIM_MEDIA_TYPE, &evidence, &ctx);
    let a = f.empty_allow_list.appraise(SIM_MEDIA_TYPE, &evidence, &ctx);
    assert!(!a.is_affirming(), "an empty instance_ids allow-list admitted: {a:?}");
});
