//! Arm CCA: `CcaToken::decode` (the tag-399 collection of two COSE_Sign1),
//! `PlatformClaims::decode`, `RealmClaims::decode`, the signature and
//! binding checks of a decoded token, and the `CcaVerifier` through
//! `Verifier::appraise` (both media types).
//!
//! The verifier trusts the CPAK of token 01 (`fixtures/platform/cpak.json`,
//! with the token's instance and implementation ids) and compares with the
//! vector reference values (`fixtures/platform/rv.json`), so the token 01
//! seed passes the signatures and reference values. The expected challenge
//! is not token 01's (`[0xAB; 64]`), so the result is never affirming: an
//! affirming result for fuzzed bytes would be a forgery.
#![no_main]

use std::sync::LazyLock;

use attested_tls::binder::ExpectedBinding;
use attested_tls::platform::cca::{
    parse_rv_json, CcaToken, CcaVerifier, CcaVerifierConfig, EcPublicKey, PlatformClaims, RealmClaims, TrustAnchor,
    MEDIA_TYPE, MEDIA_TYPE_ALIAS,
};
use attested_tls::verifier::{AppraisalContext, Verifier};
use libfuzzer_sys::fuzz_target;

const CPAK: &str = include_str!("../fixtures/platform/cpak.json");
const RV: &str = include_str!("../fixtures/platform/rv.json");
const INSTANCE_ID: &str = "0107060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918";
const IMPLEMENTATION_ID: &str = "7f454c4602010100000000000000000003003e00010000005058000000000000";

struct Fixed {
    verifier: CcaVerifier,
    cpak: EcPublicKey,
    expected: ExpectedBinding,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let jwk: serde_json::Value = serde_json::from_str(CPAK).expect("cpak.json");
    let cpak = EcPublicKey::from_jwk(&jwk).expect("CPAK");
    let cfg = CcaVerifierConfig {
        trust_anchors: vec![TrustAnchor {
            instance_id: hex::decode(INSTANCE_ID).unwrap(),
            implementation_id: hex::decode(IMPLEMENTATION_ID).unwrap(),
            key: cpak.clone(),
        }],
        reference_values: parse_rv_json(RV).expect("rv.json"),
        ..Default::default()
    };
    Fixed {
        verifier: CcaVerifier::new(cfg),
        cpak,
        // Token 01's challenge is [0xAB; 64]; this differs.
        expected: ExpectedBinding::ReportData([0x5a; 64]),
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXED;
    let _ = PlatformClaims::decode(data);
    if let Ok(r) = RealmClaims::decode(data) {
        let _ = (r.rak(), r.rak_hash());
    }
    if let Ok(t) = CcaToken::decode(data) {
        let _ = t.verify_platform(&f.cpak);
        let _ = t.verify_realm();
        let _ = t.platform_binds_realm();
    }
    let ctx = AppraisalContext {
        expected: &f.expected,
        now: time::OffsetDateTime::UNIX_EPOCH,
        policy_id: "fuzz",
    };
    let _ = f.verifier.detect(data);
    for m in [MEDIA_TYPE, MEDIA_TYPE_ALIAS] {
        let a = f.verifier.appraise(m, data, &ctx);
        assert!(!a.is_affirming(), "fuzzed CCA token was affirmed: {a:?}");
    }
});
