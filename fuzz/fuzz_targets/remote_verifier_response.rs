//! What comes back from a remote verifier, over a channel without
//! integrity (`http://`): the relying party's and the passport attester's
//! readers of the challenge-response answers
//! (`attested_tls_verifier::client::read_new_session_response`: status,
//! `Location`, session JSON or RFC 9457 problem JSON;
//! `read_result_response`), and the relying party's appraisal of a passport
//! CMW (`Appraiser::appraise_cmw_bytes` with a `PassportVerifier` trusting
//! the fixture P-256 key, `fixtures/platform/p256-pub.pem`).
//!
//! Input: byte 0 picks the reader (low two bits: 0 new session, 1 result,
//! 2 and 3 passport CMW, the rest of the input); for the HTTP readers byte 1
//! picks the status from `STATUSES`, byte 2 is the length of the `Location`
//! that follows (lossy UTF-8; 0 is no `Location`), and the rest is the body.
//!
//! Assertions: a new session is read only from a `201` and resolves to an
//! absolute path on the verifier (never another host); a result only from a
//! `200`; an error is never more than a bounded `detail`. A passport is
//! acceptable only when its signed part is the seed's (signed with the
//! fixture key for the fixed binding): nothing else can be forged.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use attested_tls::binder::ExpectedBinding;
use attested_tls::corim::VerificationKey;
use attested_tls::remote::{PassportVerifier, RemoteVerifierError};
use attested_tls::verifier::Appraiser;
use attested_tls_verifier::client::{read_new_session_response, read_result_response, RawResponse, MAX_DETAIL_LEN};
use libfuzzer_sys::fuzz_target;

const URL: &str = "http://127.0.0.1:8443/challenge-response/v1";
/// The nonce (and `report_data`) the seeds are made for.
const NONCE: [u8; 64] = [0x5a; 64];
/// The statuses byte 1 picks from.
const STATUSES: [u16; 8] = [201, 200, 400, 404, 409, 413, 503, 302];
/// The verification time (2100-01-01); the passport seed's `iat` is 10 s before.
const NOW: i64 = 4_102_444_800;
/// The passport seed, its first byte the reader selector.
/// The passport seed (its first byte is the reader selector).
const SEED_PASSPORT: &[u8] = include_bytes!("../seeds/remote_verifier_response/passport.bin");

struct Fixture {
    appraiser: Appraiser,
    expected: ExpectedBinding,
    now: time::OffsetDateTime,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = VerificationKey::from_pem_or_jwk(include_bytes!("../fixtures/platform/p256-pub.pem"))
            .expect("the fixture key");
        let passport = PassportVerifier::new(vec![key], Duration::from_secs(60));
        Fixture {
            appraiser: Appraiser::new("fuzz").with_verifier(Arc::new(passport)),
            expected: ExpectedBinding::ReportData(NONCE),
            now: time::OffsetDateTime::from_unix_timestamp(NOW).expect("a valid time"),
        }
    })
}

/// The signed part (header.payload) of the JWT a passport CMW carries.
fn signed_part(cmw: &[u8]) -> Option<Vec<u8>> {
    let cmw = attested_tls::cmw::Cmw::decode(cmw).ok()?;
    let attested_tls::cmw::Cmw::Record(r) = cmw else {
        return None;
    };
    let token = std::str::from_utf8(&r.value).ok()?.trim();
    Some(token.rsplit_once('.')?.0.as_bytes().to_vec())
}

fn check_error(e: &RemoteVerifierError) {
    if let RemoteVerifierError::Http { detail, .. } = e {
        assert!(
            detail.len() <= MAX_DETAIL_LEN + 3,
            "an uncut detail: {} bytes",
            detail.len()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which & 2 != 0 {
        let f = fixture();
        let ear = f.appraiser.appraise_cmw_bytes(rest, &f.expected, f.now);
        if ear.is_acceptable() {
            assert_eq!(
                signed_part(rest),
                signed_part(&SEED_PASSPORT[1..]),
                "a forged passport: {ear:?}"
            );
        }
        return;
    }
    let [status, location_len, rest @ ..] = rest else {
        return;
    };
    let status = STATUSES[usize::from(*status) % STATUSES.len()];
    let (location, body) = rest.split_at(usize::from(*location_len).min(rest.len()));
    let response = RawResponse {
        status: hyper::StatusCode::from_u16(status).expect("a valid status"),
        content_type: None,
        location: (!location.is_empty()).then(|| String::from_utf8_lossy(location).into_owned()),
        body: bytes::Bytes::copy_from_slice(body),
    };
    if which & 1 == 0 {
        match read_new_session_response(URL, &response, &NONCE) {
            Ok(path) => {
                assert_eq!(status, 201);
                assert!(path.starts_with('/') && !path.contains("://"), "session path {path:?}");
            }
            Err(e) => check_error(&e),
        }
    } else {
        match read_result_response(URL, &response) {
            Ok(_) => assert_eq!(status, 200),
            Err(e) => check_error(&e),
        }
    }
});
