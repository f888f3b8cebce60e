//! `ea::validate` with a fixed connection (a `SecretExporter` over the
//! shared vector's exporter_master_secret) and the vector's fixed request,
//! against fuzzed authenticator bytes; and `ea::get_context`.
//!
//! Never panics. Exactly one authenticator is correct for this request and
//! connection (the vector's: Ed25519 is deterministic and the Finished MAC
//! covers every byte), so `Ok` for any other input is a forgery; likewise
//! `Refused` for anything but the vector's empty authenticator. The fuzzed
//! bytes are also tried as the *request* that the vector's authenticator
//! answers: only the vector's request may validate.
#![no_main]

use std::sync::LazyLock;

use attested_tls::crypto::HashAlgorithm;
use attested_tls::ea::{self, EaError, EaProfile, Role};
use attested_tls::exporter::SecretExporter;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const REQUEST: &str =
    "1100002f20a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf000c000d000400020807ff000000";
const AUTHENTICATOR: &str = include_str!("../fixtures/vector-authenticator.hex");
const EMPTY_AUTHENTICATOR: &str = "1400002072694956ec8df63aae4c5cd3dbdda67fc024a4ef227b66def467b76bdd4c00da";

struct Fixed {
    exporter: SecretExporter,
    profile: EaProfile,
    request: Vec<u8>,
    authenticator: Vec<u8>,
    empty: Vec<u8>,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let f = Fixed {
        exporter: SecretExporter::new(HashAlgorithm::Sha256, hex::decode(SECRET).unwrap()),
        profile: EaProfile::default(),
        request: hex::decode(REQUEST).unwrap(),
        authenticator: hex::decode(AUTHENTICATOR.trim()).unwrap(),
        empty: hex::decode(EMPTY_AUTHENTICATOR).unwrap(),
    };
    // The fixture itself must validate, or the target tests nothing.
    ea::validate(&f.exporter, Role::Server, &f.profile, &f.request, &f.authenticator).expect("vector validates");
    f
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXED;
    let _ = ea::get_context(data);
    match ea::validate(&f.exporter, Role::Server, &f.profile, &f.request, data) {
        Ok(v) => {
            assert_eq!(data, &f.authenticator[..], "forged authenticator validated: {v:?}");
        }
        Err(EaError::Refused) => assert_eq!(data, &f.empty[..], "forged empty authenticator accepted"),
        Err(_) => {}
    }
    // The same bytes as the request the vector's authenticator answers.
    if ea::validate(&f.exporter, Role::Server, &f.profile, data, &f.authenticator).is_ok() {
        assert_eq!(
            data,
            &f.request[..],
            "the vector authenticator validated against another request"
        );
    }
});
