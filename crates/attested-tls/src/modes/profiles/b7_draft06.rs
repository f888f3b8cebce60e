//! `b7-draft06` (B7 = B2 + B3 + B4): draft-fossati-tls-attestation-06's
//! binder, the CBOR map `{1: nonce, 2: SHA-256(SPKI DER), 3:
//! TLS-Early-Exporter("attestation-binder", "", 32)}` hashed with the
//! handshake hash (SHA-256; the profiles negotiate SHA-256 suites only).
//! `report_data = SHA-256(map) || 0^32`. The nonce travels in a ClientHello
//! extension; the Evidence, as in every profile, in the certificate.

use super::{padded, BindingInputs, Needs, NonceCarrier, Profile, ProfileError};
use crate::crypto::HashAlgorithm;

/// B7: the draft-06 CBOR binder.
#[derive(Debug)]
pub struct B7Draft06;

/// The deterministic CBOR encoding (RFC 8949 §4.2) of the draft-06 binder
/// map: keys 1, 2, 3 in order, each value a byte string.
pub fn binder_map(nonce: &[u8], spki_fingerprint: &[u8], early_exporter: &[u8]) -> Vec<u8> {
    let mut out = vec![0xa3];
    for (key, value) in [(1u8, nonce), (2, spki_fingerprint), (3, early_exporter)] {
        out.push(key);
        // Every value here is 32 bytes: a one-byte length (major type 2, 24).
        out.extend_from_slice(&[0x58, value.len() as u8]);
        out.extend_from_slice(value);
    }
    out
}

impl Profile for B7Draft06 {
    fn name(&self) -> &'static str {
        "b7-draft06"
    }
    fn mechanism(&self) -> &'static str {
        "B7"
    }
    fn needs(&self) -> Needs {
        Needs {
            client_random: false,
            nonce: Some(NonceCarrier::Extension),
            early_exporter: true,
            key: true,
        }
    }
    fn formula(&self) -> &'static str {
        "report_data = SHA-256(CBOR {1: nonce, 2: SHA-256(SPKI), 3: TLS-Early-Exporter(\"attestation-binder\", \"\", 32)}) || 0^32"
    }
    fn not_protected_against(&self) -> &'static str {
        "R4 (ClientHello forwarding plus the TEE's extracted key: every input is a function of the ClientHello and the TEE's key), D1 diversion without I1/I2; cross-profile: a B1/B2 server (any TEE of the same code running b1-client-random or b2-*) signs any client-chosen V as V || 0^32, so anyone who can reach one obtains Evidence over SHA-256(map) || 0^32 for a map with their own key and ClientHello, which passes this check"
    }
    fn report_data(&self, inputs: &BindingInputs<'_>) -> Result<[u8; 64], ProfileError> {
        let h = HashAlgorithm::Sha256;
        let map = binder_map(inputs.nonce()?, &h.digest(inputs.spki()?), inputs.early_exporter()?);
        padded(&[&h.digest(&map)])
    }
}
