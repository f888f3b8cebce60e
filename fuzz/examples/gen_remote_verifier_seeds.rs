//! Writes the seed corpus of `remote_verifier_response` under
//! `fuzz/seeds/remote_verifier_response/`: the answers of `atls verifier
//! serve` as the target reads them (a `201` new session, a `200` complete
//! session, a `404` problem) and a passport CMW signed with the fixture
//! P-256 key (`fixtures/platform/p256-key.pem`) for the target's binding
//! and time.
//!
//! ```text
//! cd fuzz && cargo run --example gen_remote_verifier_seeds
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use attested_tls::cmw::{ind, Cmw, CmwRecord, CmwType};
use attested_tls::ear::{claim_value, Appraisal, Ear, EatNonce, TrustClaim};
use attested_tls::ear_jwt::{sign_ear_jwt_until, SigningKeyPem};
use attested_tls::remote::PASSPORT_MEDIA_TYPE;
use base64::Engine;

/// As in the target.
const NONCE: [u8; 64] = [0x5a; 64];
const NOW: i64 = 4_102_444_800;

fn write(name: &str, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds/remote_verifier_response");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
    println!("seeds/remote_verifier_response/{name}: {} bytes", bytes.len());
}

/// Reader `which`, status index, `Location`, body.
fn http(name: &str, which: u8, status: u8, location: &str, body: &str) {
    let mut out = vec![which, status, u8::try_from(location.len()).unwrap()];
    out.extend_from_slice(location.as_bytes());
    out.extend_from_slice(body.as_bytes());
    write(name, &out);
}

fn main() {
    let key = SigningKeyPem::from_pem(include_bytes!("../fixtures/platform/p256-key.pem")).unwrap();
    let mut sub = Appraisal::new("verifier-policy");
    sub.set(TrustClaim::InstanceIdentity, claim_value::TRUSTWORTHY_INSTANCE);
    sub.warn(
        TrustClaim::Configuration,
        claim_value::UNSAFE_CONFIG,
        "debug",
        Some("true".into()),
        "debug allowed by the policy",
    );
    let ear = Ear::new(
        NOW - 10,
        BTreeMap::from([("sim".to_string(), sub.finish())]),
        Some(EatNonce::new(NONCE.to_vec()).unwrap()),
    );
    let token = sign_ear_jwt_until(&ear, NOW + 50, &key).unwrap();
    let passport = Cmw::Record(CmwRecord {
        typ: CmwType::MediaType(PASSPORT_MEDIA_TYPE.into()),
        value: token.clone().into_bytes(),
        ind: Some(ind::ATTESTATION_RESULTS),
    });
    let mut out = vec![2u8];
    out.extend_from_slice(&passport.to_cbor());
    write("passport.bin", &out);

    let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(NONCE);
    let accept = r#"["application/cmw+cbor","application/cmw+json"]"#;
    http(
        "new_session.bin",
        0,
        0,
        "/challenge-response/v1/session/5f0c1e2d3b4a59687766554433221100",
        &format!(r#"{{"nonce":"{nonce}","expiry":"2100-01-01T00:01:00Z","accept":{accept},"status":"waiting"}}"#),
    );
    http(
        "result.bin",
        1,
        1,
        "",
        &format!(
            r#"{{"nonce":"{nonce}","expiry":"2100-01-01T00:01:00Z","accept":{accept},"status":"complete","evidence":{{"type":"application/cmw+cbor","value":"gkFhQQA="}},"result":"{token}"}}"#
        ),
    );
    http(
        "problem.bin",
        0,
        3,
        "",
        r#"{"type":"about:blank","title":"Not Found","status":404,"detail":"no session with this id (never created, deleted, or expired and swept)","code":"unknown-session"}"#,
    );
}
