//! `b6-spki-nonce-alpn` (Contrast-like) and `b6-spki-nonce-sni` (B6 = B2 +
//! B4): a fresh key per handshake, and Evidence over
//! `report_data = SHA-512(SPKI DER || nonce)` (Contrast's formula; Cocos v3
//! uses SHA3-512 with the SNI carrier, read by the peer-format readers).

use super::{BindingInputs, Needs, NonceCarrier, Profile, ProfileError};

/// B6: Hash(SPKI || nonce), with the nonce in the given carrier.
#[derive(Debug)]
pub struct B6SpkiNonce(pub NonceCarrier);

impl Profile for B6SpkiNonce {
    fn name(&self) -> &'static str {
        match self.0 {
            NonceCarrier::Alpn => "b6-spki-nonce-alpn",
            NonceCarrier::Sni => "b6-spki-nonce-sni",
            NonceCarrier::Extension => "b6-spki-nonce-ext",
        }
    }
    fn mechanism(&self) -> &'static str {
        "B6"
    }
    fn needs(&self) -> Needs {
        Needs {
            client_random: false,
            nonce: Some(self.0),
            early_exporter: false,
            key: true,
        }
    }
    fn formula(&self) -> &'static str {
        "report_data = SHA-512(SPKI DER || nonce)"
    }
    fn not_protected_against(&self) -> &'static str {
        "R3 extracted-key relay (CVE-2026-33697: with the TEE's per-handshake key, an attacker relays the client's nonce to the TEE and presents its certificate and Evidence in a different handshake), D1 diversion without I1/I2"
    }
    fn report_data(&self, inputs: &BindingInputs<'_>) -> Result<[u8; 64], ProfileError> {
        Ok(crate::crypto::sha512(&[inputs.spki()?, inputs.nonce()?]))
    }
}
