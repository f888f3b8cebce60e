//! CoRIM import: `corim::import` / `import_with_keys` without a key (an
//! unsigned CoRIM is required) and with a fixed Ed25519 key (a COSE_Sign1
//! CoRIM verifying with it is required), then the policy mapping of what
//! imported (`allow_list`, `raw_value_list`, `policy_fragment`, the CCA
//! mapping).
//!
//! `ReferenceValues::signed` says whether the CoRIM was signed and the
//! signature verified: an import without a key is never `signed`, an import
//! with the key always is. The only signed CoRIM the fuzzer can produce is
//! the seed's (signed with `fixtures/platform/ed25519-key.pem`): with the
//! key, `Ok` is only possible for the seed's signed payload, so its id
//! must be the seed's.
#![no_main]

use std::sync::LazyLock;

use attested_tls::corim::{import, import_with_keys, policy_fragment, policy_keys, VerificationKey};
use attested_tls::platform::cca::from_corim;
use libfuzzer_sys::fuzz_target;

const PUBLIC_KEY: &[u8] = include_bytes!("../fixtures/platform/ed25519-pub.pem");
/// The CoRIM id of the signed seed (`examples/gen_platform_seeds.rs`).
const SIGNED_SEED_ID: &str = "fuzz-corim-1";

static KEY: LazyLock<VerificationKey> = LazyLock::new(|| VerificationKey::from_pem(PUBLIC_KEY).expect("fixture key"));

fn exercise(rv: &attested_tls::corim::ReferenceValues) {
    for label in ["RIM", "measurement", "mrtd", "mrenclave"] {
        let _ = (rv.allow_list(label), rv.raw_value_list(label));
    }
    for platform in ["snp", "tdx", "sgx", "cca", "sim", ""] {
        let _ = policy_keys(platform);
        let _ = policy_fragment(rv, platform);
    }
    let _ = from_corim(rv);
}

fuzz_target!(|data: &[u8]| {
    let key = &*KEY;
    if let Ok(rv) = import(data, None) {
        assert!(!rv.signed, "an import without a key reported a signed CoRIM");
        exercise(&rv);
    }
    let with_key = import(data, Some(key));
    if let Ok(rv) = &with_key {
        assert!(rv.signed, "an import with a key accepted an unsigned CoRIM");
        assert_eq!(
            rv.corim_id.as_deref(),
            Some(SIGNED_SEED_ID),
            "a forged signed CoRIM verified"
        );
        exercise(rv);
    }
    let multi = import_with_keys(data, std::slice::from_ref(key));
    assert_eq!(multi.is_ok(), with_key.is_ok());
    assert!(import_with_keys(data, &[]).is_ok() == import(data, None).is_ok());
});
