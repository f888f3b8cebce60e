//! The authenticator-side codecs on arbitrary bytes:
//! `AuthenticatorParts::decode`, `CertificateMsg::decode_body`,
//! `CertificateVerify::decode_body`, `Extension::parse_signature_algorithms`
//! and `Extension::parse_cmw_attestation`. None may panic; each success must
//! re-encode to exactly the bytes it was decoded from.
#![no_main]

use attested_tls::cmw::MAX_CMW_LEN;
use attested_tls::codec::{
    AuthenticatorParts, CertificateMsg, CertificateVerify, Extension, Finished, EXT_CMW_ATTESTATION_DEFAULT,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match AuthenticatorParts::decode(data) {
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
            assert_eq!(again, data, "authenticator decoding is not canonical");
            // Every extension of every entry goes through the extension parsers.
            for entry in &certificate_msg.entries {
                for ext in &entry.extensions {
                    let _ = Extension::parse_signature_algorithms(&ext.data);
                    let _ = Extension::parse_cmw_attestation(&ext.data);
                }
            }
        }
        Ok(AuthenticatorParts::Empty { finished }) => {
            let again = Finished {
                verify_data: finished.to_vec(),
            }
            .encode();
            assert_eq!(again, data);
        }
        Err(_) => {}
    }
    if let Ok(c) = CertificateMsg::decode_body(data) {
        assert_eq!(&c.encode()[4..], data, "Certificate body decoding is not canonical");
    }
    if let Ok(cv) = CertificateVerify::decode_body(data) {
        assert_eq!(
            &cv.encode()[4..],
            data,
            "CertificateVerify body decoding is not canonical"
        );
    }
    if let Ok(schemes) = Extension::parse_signature_algorithms(data) {
        assert!(!schemes.is_empty());
        assert_eq!(Extension::signature_algorithms(&schemes).data, data);
    }
    if let Ok(cmw) = Extension::parse_cmw_attestation(data) {
        assert!(!cmw.is_empty());
        // A CMW of 65534..=65535 bytes parses but has no encoding (and cannot
        // occur inside a real extension, whose data is at most 2^16-1 bytes).
        if cmw.len() <= MAX_CMW_LEN {
            let ext = Extension::cmw_attestation(EXT_CMW_ATTESTATION_DEFAULT, cmw).expect("fits");
            assert_eq!(ext.data, data);
        }
    }
});
