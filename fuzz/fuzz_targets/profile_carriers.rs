//! The binding profiles' carriers (`modes::profiles`) on arbitrary bytes:
//! the nonce in a server name (`nonce_from_sni`), in an ALPN protocol list
//! (`nonce_from_alpn`), in the nonce extension (`nonce_from_extension`),
//! and the Evidence in a certificate extension
//! (`evidence_from_certificate`). The first byte picks the carrier (low two
//! bits); the rest is the carrier's bytes (for the server name: their lossy
//! UTF-8). Never panics; a nonce read is `NONCE_LEN` bytes and is read back
//! from its own re-encoding; Evidence read is within `1..=MAX_EVIDENCE_LEN`
//! bytes, a slice of the certificate, beside a non-empty SPKI.
#![no_main]

use attested_tls::modes::profiles::{
    alpn_wire, evidence_from_certificate, nonce_from_alpn, nonce_from_extension, nonce_from_sni, sni_for_nonce,
    MAX_EVIDENCE_LEN, NONCE_LEN,
};
use libfuzzer_sys::fuzz_target;

fn check_nonce(nonce: &[u8]) {
    assert_eq!(nonce.len(), NONCE_LEN, "a nonce of the wrong length was read");
    assert_eq!(nonce_from_sni(Some(&sni_for_nonce(nonce))).as_deref(), Ok(nonce));
    assert_eq!(nonce_from_alpn(&alpn_wire(nonce, &["h2"])).as_deref(), Ok(nonce));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    match first & 3 {
        0 => {
            let sni = String::from_utf8_lossy(body);
            if let Ok(nonce) = nonce_from_sni(Some(&sni)) {
                check_nonce(&nonce);
            }
        }
        1 => {
            if let Ok(nonce) = nonce_from_alpn(body) {
                check_nonce(&nonce);
            }
        }
        2 => match nonce_from_extension(body) {
            Ok(nonce) => {
                assert_eq!(nonce, body, "the extension's nonce is its body");
                check_nonce(&nonce);
            }
            Err(_) => assert_ne!(body.len(), NONCE_LEN, "a nonce-sized body was refused"),
        },
        _ => {
            if let Ok((spki, evidence)) = evidence_from_certificate(body) {
                assert!(!spki.is_empty(), "an empty SPKI was read");
                assert!(
                    (1..=MAX_EVIDENCE_LEN).contains(&evidence.len()),
                    "Evidence of {} bytes",
                    evidence.len()
                );
                assert!(contains(body, &evidence), "the Evidence is not from the certificate");
                assert!(contains(body, &spki), "the SPKI is not from the certificate");
            }
        }
    }
});
