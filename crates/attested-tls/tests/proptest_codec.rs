//! Property tests of the RFC 9261 handshake-message codecs (`codec`).
//!
//! - every encoder's output decodes back to the same value, and every
//!   successful decode re-encodes to the very bytes it came from (the
//!   encodings are canonical);
//! - no decoder panics on arbitrary bytes, nor on valid encodings with
//!   random byte flips, truncations and insertions.

use std::collections::BTreeMap;

use attested_tls::codec::{
    AuthenticatorParts, AuthenticatorRequest, CertificateEntry, CertificateMsg, CertificateVerify, Extension, Finished,
    HandshakeType, EXT_CMW_ATTESTATION_DEFAULT, EXT_SIGNATURE_ALGORITHMS,
};
use attested_tls::ea;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max)
}

/// Extensions with distinct types (decoders refuse duplicates), in a random order.
fn extensions(min: usize, max: usize) -> impl Strategy<Value = Vec<Extension>> {
    prop::collection::btree_map(any::<u16>(), bytes(40), min..=max)
        .prop_map(|m: BTreeMap<u16, Vec<u8>>| {
            m.into_iter()
                .map(|(typ, data)| Extension { typ, data })
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
}

fn request_type() -> impl Strategy<Value = HandshakeType> {
    prop_oneof![
        Just(HandshakeType::CertificateRequest),
        Just(HandshakeType::ClientCertificateRequest)
    ]
}

fn authenticator_request() -> impl Strategy<Value = AuthenticatorRequest> {
    // The extensions block is `<2..2^16-1>`: at least one extension.
    (request_type(), bytes(255), extensions(1, 6)).prop_map(|(msg_type, context, extensions)| AuthenticatorRequest {
        msg_type,
        context,
        extensions,
    })
}

fn certificate_msg() -> impl Strategy<Value = CertificateMsg> {
    let entry = (prop::collection::vec(any::<u8>(), 1..200), extensions(0, 3))
        .prop_map(|(cert_der, extensions)| CertificateEntry { cert_der, extensions });
    (bytes(255), prop::collection::vec(entry, 0..4)).prop_map(|(context, entries)| CertificateMsg { context, entries })
}

fn certificate_verify() -> impl Strategy<Value = CertificateVerify> {
    (any::<u16>(), bytes(300)).prop_map(|(scheme, signature)| CertificateVerify { scheme, signature })
}

/// A syntactically valid authenticator (random content, no valid MACs).
fn full_authenticator() -> impl Strategy<Value = (CertificateMsg, CertificateVerify, Vec<u8>)> {
    (certificate_msg(), certificate_verify(), bytes(64))
}

/// Applies `(position, xor mask)` flips; positions are taken modulo the length.
fn flip(mut b: Vec<u8>, flips: &[(usize, u8)]) -> Vec<u8> {
    if !b.is_empty() {
        for &(pos, mask) in flips {
            let i = pos % b.len();
            b[i] ^= mask;
        }
    }
    b
}

/// Runs every codec decoder on `b`; for each success, checks the canonical
/// re-encoding. Panics (failing the property) only on a real bug.
fn decode_everything(b: &[u8]) {
    if let Ok(req) = AuthenticatorRequest::decode(b) {
        assert_eq!(req.encode(), b, "AuthenticatorRequest decoding is not canonical");
    }
    match AuthenticatorParts::decode(b) {
        Ok(AuthenticatorParts::Full {
            certificate,
            certificate_msg,
            certificate_verify,
            certificate_verify_msg,
            finished,
        }) => {
            assert_eq!(certificate_msg.encode(), certificate);
            assert_eq!(certificate_verify_msg.encode(), certificate_verify);
            let mut again = certificate_msg.encode();
            again.extend_from_slice(&certificate_verify_msg.encode());
            again.extend_from_slice(
                &Finished {
                    verify_data: finished.to_vec(),
                }
                .encode(),
            );
            assert_eq!(again, b);
        }
        Ok(AuthenticatorParts::Empty { finished }) => {
            let again = Finished {
                verify_data: finished.to_vec(),
            }
            .encode();
            assert_eq!(again, b);
        }
        Err(_) => {}
    }
    if let Ok(c) = CertificateMsg::decode_body(b) {
        assert_eq!(&c.encode()[4..], b, "Certificate body decoding is not canonical");
    }
    if let Ok(cv) = CertificateVerify::decode_body(b) {
        assert_eq!(&cv.encode()[4..], b);
    }
    if let Ok(s) = Extension::parse_signature_algorithms(b) {
        assert_eq!(Extension::signature_algorithms(&s).data, b);
    }
    if let Ok(c) = Extension::parse_cmw_attestation(b) {
        // Parsing accepts at most MAX_CMW_IN_EXTENSION bytes; the
        // authenticator side caps Evidence lower still (MAX_CMW_LEN, which
        // leaves room for the entry's extensions block).
        assert!(c.len() <= attested_tls::codec::MAX_CMW_IN_EXTENSION);
        if c.len() <= attested_tls::cmw::MAX_CMW_LEN {
            assert_eq!(
                Extension::cmw_attestation(EXT_CMW_ATTESTATION_DEFAULT, c).unwrap().data,
                b
            );
        }
    }
    let _ = ea::get_context(b);
}

proptest! {
    #[test]
    fn request_round_trips(req in authenticator_request()) {
        let enc = req.encode();
        prop_assert_eq!(enc[0], req.msg_type.code());
        prop_assert_eq!(AuthenticatorRequest::decode(&enc), Ok(req));
    }

    #[test]
    fn request_with_trailing_or_missing_bytes_is_refused(req in authenticator_request(), extra in bytes(8), cut in 1usize..64) {
        let enc = req.encode();
        let mut long = enc.clone();
        long.extend_from_slice(&extra);
        if !extra.is_empty() {
            prop_assert!(AuthenticatorRequest::decode(&long).is_err());
        }
        let short = &enc[..enc.len().saturating_sub(cut)];
        prop_assert!(AuthenticatorRequest::decode(short).is_err());
    }

    #[test]
    fn certificate_round_trips_alone_and_in_an_authenticator((cert, cv, fin) in full_authenticator()) {
        let cert_enc = cert.encode();
        prop_assert_eq!(cert_enc[0], HandshakeType::Certificate.code());
        prop_assert_eq!(CertificateMsg::decode_body(&cert_enc[4..]), Ok(cert.clone()));

        let cv_enc = cv.encode();
        prop_assert_eq!(CertificateVerify::decode_body(&cv_enc[4..]), Ok(cv.clone()));

        let mut auth = cert_enc.clone();
        auth.extend_from_slice(&cv_enc);
        auth.extend_from_slice(&Finished { verify_data: fin.clone() }.encode());
        match AuthenticatorParts::decode(&auth) {
            Ok(AuthenticatorParts::Full { certificate, certificate_msg, certificate_verify, certificate_verify_msg, finished }) => {
                prop_assert_eq!(certificate, &cert_enc[..]);
                prop_assert_eq!(certificate_msg, cert.clone());
                prop_assert_eq!(certificate_verify, &cv_enc[..]);
                prop_assert_eq!(certificate_verify_msg, cv);
                prop_assert_eq!(finished, &fin[..]);
            }
            other => prop_assert!(false, "expected a full authenticator, got {:?}", other),
        }
        let expect_ctx = Some(cert.context.clone());
        prop_assert_eq!(ea::get_context(&auth).ok(), Some(expect_ctx));

        // Trailing bytes after the Finished are refused.
        auth.push(0);
        prop_assert!(AuthenticatorParts::decode(&auth).is_err());
    }

    #[test]
    fn empty_authenticator_round_trips(fin in bytes(64)) {
        let enc = Finished { verify_data: fin.clone() }.encode();
        prop_assert_eq!(AuthenticatorParts::decode(&enc), Ok(AuthenticatorParts::Empty { finished: &fin[..] }));
        prop_assert_eq!(ea::get_context(&enc).ok(), Some(None));
    }

    #[test]
    fn signature_algorithms_round_trip(schemes in prop::collection::vec(any::<u16>(), 0..64)) {
        let ext = Extension::signature_algorithms(&schemes);
        prop_assert_eq!(ext.typ, EXT_SIGNATURE_ALGORITHMS);
        let parsed = Extension::parse_signature_algorithms(&ext.data);
        if schemes.is_empty() {
            // `supported_signature_algorithms<2..2^16-2>`: an empty list is malformed.
            prop_assert!(parsed.is_err());
        } else {
            prop_assert_eq!(parsed, Ok(schemes));
        }
    }

    #[test]
    fn cmw_attestation_round_trips(ext_type in any::<u16>(), cmw in prop::collection::vec(any::<u8>(), 1..2048)) {
        let ext = Extension::cmw_attestation(ext_type, &cmw).unwrap();
        prop_assert_eq!(ext.typ, ext_type);
        prop_assert_eq!(Extension::parse_cmw_attestation(&ext.data), Ok(&cmw[..]));
        let req = Extension::cmw_attestation_request(ext_type);
        prop_assert_eq!(req.typ, ext_type);
        prop_assert!(req.data.is_empty());
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..2048)) {
        decode_everything(&b);
    }

    #[test]
    fn decoders_never_panic_on_mutated_requests(
        req in authenticator_request(),
        flips in prop::collection::vec((any::<usize>(), 1u8..), 1..4),
        cut in any::<usize>(),
    ) {
        let b = flip(req.encode(), &flips);
        decode_everything(&b);
        decode_everything(&b[..cut % (b.len() + 1)]);
    }

    #[test]
    fn decoders_never_panic_on_mutated_authenticators(
        (cert, cv, fin) in full_authenticator(),
        flips in prop::collection::vec((any::<usize>(), 1u8..), 1..4),
        cut in any::<usize>(),
        insert in (any::<usize>(), bytes(4)),
    ) {
        let mut auth = cert.encode();
        auth.extend_from_slice(&cv.encode());
        auth.extend_from_slice(&Finished { verify_data: fin }.encode());
        let b = flip(auth.clone(), &flips);
        decode_everything(&b);
        decode_everything(&b[..cut % (b.len() + 1)]);
        decode_everything(&auth[4..]);
        let at = insert.0 % (auth.len() + 1);
        let mut grown = auth[..at].to_vec();
        grown.extend_from_slice(&insert.1);
        grown.extend_from_slice(&auth[at..]);
        decode_everything(&grown);
    }
}

/// Every proper prefix of a valid request and authenticator is refused.
#[test]
fn every_truncation_of_the_vector_messages_is_refused() {
    let req = hex::decode(
        "1100002f20a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf000c000d000400020807ff000000",
    )
    .unwrap();
    assert!(AuthenticatorRequest::decode(&req).is_ok());
    for n in 0..req.len() {
        assert!(
            AuthenticatorRequest::decode(&req[..n]).is_err(),
            "prefix of {n} bytes decoded"
        );
    }
}
