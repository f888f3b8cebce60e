//! Property tests of RFC 9261 `ea::validate`: an authenticator is accepted
//! only byte for byte as `ea::authenticate` produced it, for exactly the
//! request bytes it answers.
//!
//! - every single-byte flip (every position, several masks, and random
//!   non-zero masks) of a valid authenticator is refused;
//! - every truncation and every extension is refused;
//! - every flipped byte of the request passed to `validate` is refused;
//! - arbitrary bytes are never accepted and never panic.
//!
//! Two fixtures: the shared Ed25519 vector
//! (`vectors/rfc9261/expat-ed25519-sha256-server.toml`,
//! embedded here so the test is self-contained) and a fresh ECDSA P-256
//! self-signed identity answering a `CertificateRequest` (client sender).

use std::sync::OnceLock;

use attested_tls::cmw::{Cmw, CmwRecord};
use attested_tls::crypto::HashAlgorithm;
use attested_tls::ea::{self, AuthenticatorIdentity, EaError, EaProfile, Role};
use attested_tls::exporter::SecretExporter;
use proptest::prelude::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const VEC_SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const VEC_KEY: &str =
    "302e020100300506032b6570042204204242424242424242424242424242424242424242424242424242424242424242";
const VEC_CERT: &str = "3081e2308195a003020102020101300506032b6570301b3119301706035504030c1061747465737465722e6578616d706c65301e170d3236303130313030303030305a170d3237303130313030303030305a301b3119301706035504030c1061747465737465722e6578616d706c65302a300506032b65700321002152f8d19b791d24453242e15f2eab6cb7cffa7b6a5ed30097960e069881db12300506032b6570034100a5a4e13c7983fb72517dc6ec15012905435c2652ff29451193a37e6af95eec498a26e2a972c3b5eeae9fd026c38921ca3e0e7d9945daa2218c56f2f11a29b10e";
const VEC_CMW: &str = "8278206170706c69636174696f6e2f766e642e6578616d706c652e65766964656e6365585945564944454e43452d574954482d4e4f4e43453a0ab4a57824b88cb63ebf3f3a8d2812ac842902429bc98600b9712987617faade3b41494b3a9a82517f9af19416d98fdbcf193726b3a95c0b6fec1d51884bf3e1b739ba2ef4";
const VEC_REQUEST: &str =
    "1100002f20a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf000c000d000400020807ff000000";
const VEC_EMPTY_AUTHENTICATOR: &str = "1400002072694956ec8df63aae4c5cd3dbdda67fc024a4ef227b66def467b76bdd4c00da";

struct Fixture {
    exporter: SecretExporter,
    sender: Role,
    profile: EaProfile,
    request: Vec<u8>,
    authenticator: Vec<u8>,
    empty: Vec<u8>,
    cmw: Vec<u8>,
    spki: Vec<u8>,
}

impl Fixture {
    fn validate(&self, request: &[u8], authenticator: &[u8]) -> Result<ea::ValidatedAuthenticator, EaError> {
        ea::validate(&self.exporter, self.sender, &self.profile, request, authenticator)
    }
}

/// The shared Ed25519 vector, recomputed with `ea::authenticate` (Ed25519
/// is deterministic, so this is the vector's `authenticator`).
fn vector() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let exporter = SecretExporter::new(HashAlgorithm::Sha256, hex::decode(VEC_SECRET).unwrap());
        let key = PrivateKeyDer::Pkcs8(hex::decode(VEC_KEY).unwrap().into());
        let identity = AuthenticatorIdentity::new(vec![CertificateDer::from(hex::decode(VEC_CERT).unwrap())], &key)
            .expect("vector identity");
        let profile = EaProfile::default();
        let request = hex::decode(VEC_REQUEST).unwrap();
        let cmw = hex::decode(VEC_CMW).unwrap();
        let authenticator =
            ea::authenticate(&exporter, Role::Server, &profile, &request, &identity, Some(&cmw)).unwrap();
        let empty = ea::empty_authenticator(&exporter, Role::Server, &request).unwrap();
        assert_eq!(hex::encode(&empty), VEC_EMPTY_AUTHENTICATOR);
        Fixture {
            exporter,
            sender: Role::Server,
            profile,
            request,
            authenticator,
            empty,
            cmw,
            spki: identity.spki().to_vec(),
        }
    })
}

/// A fresh ECDSA P-256 self-signed identity (TLS client attesting) with a
/// CBOR CMW record, SHA-384 exporter.
fn generated() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let exporter = SecretExporter::new(HashAlgorithm::Sha384, (0u8..48).map(|b| b ^ 0x5a).collect());
        let identity = AuthenticatorIdentity::generate_self_signed("attester.proptest").unwrap();
        let profile = EaProfile::default();
        let request = profile.request(Role::Client, (0u8..32).collect()).encode();
        let cmw = Cmw::Record(CmwRecord::evidence("application/vnd.example.evidence", vec![0xab; 100])).to_cbor();
        let authenticator =
            ea::authenticate(&exporter, Role::Client, &profile, &request, &identity, Some(&cmw)).unwrap();
        let empty = ea::empty_authenticator(&exporter, Role::Client, &request).unwrap();
        Fixture {
            exporter,
            sender: Role::Client,
            profile,
            request,
            authenticator,
            empty,
            cmw,
            spki: identity.spki().to_vec(),
        }
    })
}

fn fixtures() -> [&'static Fixture; 2] {
    [vector(), generated()]
}

fn flipped(b: &[u8], pos: usize, mask: u8) -> Vec<u8> {
    let mut b = b.to_vec();
    b[pos] ^= mask;
    b
}

#[test]
fn fixtures_validate() {
    for f in fixtures() {
        let v = f.validate(&f.request, &f.authenticator).expect("valid authenticator");
        assert_eq!(v.cmw.as_deref(), Some(&f.cmw[..]));
        assert_eq!(v.spki, f.spki);
        assert_eq!(ea::get_context(&f.authenticator).unwrap(), Some(v.context.clone()));
        assert!(matches!(f.validate(&f.request, &f.empty), Err(EaError::Refused)));
    }
}

#[test]
fn vector_authenticator_is_reproduced() {
    // The vector is in the repository: a missing file is a failure, not a skip.
    let text = std::fs::read_to_string(format!(
        "{}/../../vectors/rfc9261/expat-ed25519-sha256-server.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("vectors/rfc9261/expat-ed25519-sha256-server.toml readable");
    let line = text
        .lines()
        .find(|l| l.starts_with("authenticator ="))
        .expect("authenticator line");
    let expected = line.split('"').nth(1).unwrap();
    assert_eq!(hex::encode(&vector().authenticator), expected);
}

#[test]
fn every_single_byte_flip_of_the_authenticator_is_refused() {
    for f in fixtures() {
        for pos in 0..f.authenticator.len() {
            for mask in [0x01, 0x02, 0x10, 0x80, 0xff] {
                let bad = flipped(&f.authenticator, pos, mask);
                let r = f.validate(&f.request, &bad);
                assert!(r.is_err(), "flip {mask:#04x} at {pos} validated: {r:?}");
            }
        }
    }
}

#[test]
fn every_single_byte_flip_of_the_empty_authenticator_is_refused_as_malformed() {
    for f in fixtures() {
        for pos in 0..f.empty.len() {
            for mask in [0x01, 0x80, 0xff] {
                let r = f.validate(&f.request, &flipped(&f.empty, pos, mask));
                assert!(
                    r.is_err() && !matches!(r, Err(EaError::Refused)),
                    "flip {mask:#04x} at {pos}: {r:?}"
                );
            }
        }
    }
}

#[test]
fn every_truncation_and_extension_is_refused() {
    for f in fixtures() {
        for n in 0..f.authenticator.len() {
            let r = f.validate(&f.request, &f.authenticator[..n]);
            assert!(r.is_err(), "prefix of {n} bytes validated");
        }
        for extra in [&[0u8][..], &[0x14, 0, 0, 0], &f.authenticator[..4]] {
            let mut long = f.authenticator.clone();
            long.extend_from_slice(extra);
            assert!(f.validate(&f.request, &long).is_err());
        }
        for n in 0..f.empty.len() {
            assert!(!matches!(f.validate(&f.request, &f.empty[..n]), Err(EaError::Refused)));
        }
    }
}

#[test]
fn every_single_byte_flip_of_the_request_is_refused() {
    for f in fixtures() {
        for pos in 0..f.request.len() {
            for mask in [0x01, 0x80, 0xff] {
                let bad = flipped(&f.request, pos, mask);
                let r = f.validate(&bad, &f.authenticator);
                assert!(r.is_err(), "request flip {mask:#04x} at {pos} validated: {r:?}");
                let r = f.validate(&bad, &f.empty);
                assert!(
                    !matches!(r, Ok(_) | Err(EaError::Refused)),
                    "request flip at {pos}: {r:?}"
                );
            }
        }
        for n in 0..f.request.len() {
            assert!(f.validate(&f.request[..n], &f.authenticator).is_err());
        }
    }
}

#[test]
fn other_connection_role_or_request_is_refused() {
    for f in fixtures() {
        let other = SecretExporter::new(HashAlgorithm::Sha256, vec![0xee; 32]);
        assert!(ea::validate(&other, f.sender, &f.profile, &f.request, &f.authenticator).is_err());
        let wrong_role = match f.sender {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        };
        assert!(ea::validate(&f.exporter, wrong_role, &f.profile, &f.request, &f.authenticator).is_err());
        // A fresh request with another context, same connection.
        let req2 = f.profile.request(f.sender, vec![0x77; 32]).encode();
        assert!(f.validate(&req2, &f.authenticator).is_err());
    }
    // The two fixtures' authenticators do not validate against each other.
    let (a, b) = (vector(), generated());
    assert!(a.validate(&a.request, &b.authenticator).is_err());
    assert!(b.validate(&b.request, &a.authenticator).is_err());
}

proptest! {
    #[test]
    fn random_xor_mask_anywhere_is_refused(pos in any::<usize>(), mask in 1u8..=255, which in 0usize..2) {
        let f = fixtures()[which];
        let pos = pos % f.authenticator.len();
        let r = f.validate(&f.request, &flipped(&f.authenticator, pos, mask));
        prop_assert!(r.is_err(), "flip {:#04x} at {} validated", mask, pos);
    }

    #[test]
    fn several_flips_are_refused(
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..8),
        which in 0usize..2,
    ) {
        let f = fixtures()[which];
        let mut bad = f.authenticator.clone();
        let mut touched = std::collections::BTreeMap::new();
        for (pos, mask) in flips {
            let i = pos % bad.len();
            bad[i] ^= mask;
            *touched.entry(i).or_insert(0u8) ^= mask;
        }
        // Flips that cancel each other out leave the authenticator intact.
        let changed = touched.values().any(|m| *m != 0);
        let r = f.validate(&f.request, &bad);
        prop_assert_eq!(r.is_ok(), !changed);
    }

    #[test]
    fn random_request_flip_is_refused(pos in any::<usize>(), mask in 1u8..=255, which in 0usize..2) {
        let f = fixtures()[which];
        let pos = pos % f.request.len();
        prop_assert!(f.validate(&flipped(&f.request, pos, mask), &f.authenticator).is_err());
    }

    #[test]
    fn splices_are_refused(cut in any::<usize>(), insert in prop::collection::vec(any::<u8>(), 1..16), which in 0usize..2) {
        let f = fixtures()[which];
        let at = cut % (f.authenticator.len() + 1);
        let mut bad = f.authenticator[..at].to_vec();
        bad.extend_from_slice(&insert);
        bad.extend_from_slice(&f.authenticator[at..]);
        prop_assert!(f.validate(&f.request, &bad).is_err());
        let mut removed = f.authenticator.clone();
        removed.drain(at.min(removed.len() - 1)..(at + insert.len()).min(removed.len()));
        prop_assert!(f.validate(&f.request, &removed).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_validate(b in prop::collection::vec(any::<u8>(), 0..2048), which in 0usize..2) {
        let f = fixtures()[which];
        prop_assert!(f.validate(&f.request, &b).is_err());
        let _ = ea::get_context(&b);
        // Arbitrary requests: must not panic (and cannot match the authenticator).
        prop_assert!(f.validate(&b, &f.authenticator).is_err());
    }
}
