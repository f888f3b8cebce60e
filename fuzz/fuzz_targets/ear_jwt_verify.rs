//! Signed EARs: `ear_jwt::verify_ear_jwt` at a fixed time with fixed public keys (an
//! Ed25519 PEM and a P-256 PEM, `fixtures/platform/*-pub.pem`), on the
//! input as UTF-8 when it is, and on its lossy UTF-8 conversion always
//! (non-UTF-8 bytes become U+FFFD).
//!
//! The seeds are EAR JWTs signed with the matching private keys. Nothing
//! else can verify: `Ok` is only possible when the signed part (header and
//! payload, after trimming) is the seed's for that key. (A P-256 signature
//! may be re-encoded as (r, n - s), so the signature part itself is not
//! compared.)
#![no_main]

use attested_tls::ear_jwt::{verify_ear_jwt, EarJwtValidation};
use libfuzzer_sys::fuzz_target;

const KEYS: [(&[u8], &str); 2] = [
    (
        include_bytes!("../fixtures/platform/ed25519-pub.pem"),
        include_str!("../seeds/ear_jwt_verify/ear-ed25519.jwt"),
    ),
    (
        include_bytes!("../fixtures/platform/p256-pub.pem"),
        include_str!("../seeds/ear_jwt_verify/ear-p256.jwt"),
    ),
];

fn signed_part(token: &str) -> &str {
    let t = token.trim();
    t.rsplit_once('.').map_or(t, |(signed, _)| signed)
}

fn check(token: &str) {
    // A verification time after the seeds' `iat` (2100-01-01), so that the
    // time checks do not hide the signature check behind them.
    let at = EarJwtValidation::at(time::OffsetDateTime::from_unix_timestamp(4_102_444_800).expect("a valid time"));
    for (key, seed) in KEYS {
        if let Ok(ear) = verify_ear_jwt(token, key, &at) {
            assert_eq!(
                signed_part(token),
                signed_part(seed),
                "a forged EAR JWT verified: {ear:?}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        check(s);
    }
    check(&String::from_utf8_lossy(data));
});
