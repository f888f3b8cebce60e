//! `b2-sni`, `b2-alpn`, `b2-ext` (B2): the Evidence binds a nonce the
//! client chose and sent in the ClientHello: in the server name
//! (`<hex>.nonce`, Cocos v3's carrier), in ALPN (`atls:v1:nonce:<hex>`,
//! Contrast's) or in a ClientHello extension. `report_data = nonce || 0^32`.

use super::{padded, BindingInputs, Needs, NonceCarrier, Profile, ProfileError};

/// B2: the client's nonce, in the given carrier.
#[derive(Debug)]
pub struct B2Nonce(pub NonceCarrier);

impl Profile for B2Nonce {
    fn name(&self) -> &'static str {
        match self.0 {
            NonceCarrier::Sni => "b2-sni",
            NonceCarrier::Alpn => "b2-alpn",
            NonceCarrier::Extension => "b2-ext",
        }
    }
    fn mechanism(&self) -> &'static str {
        "B2"
    }
    fn needs(&self) -> Needs {
        Needs {
            client_random: false,
            nonce: Some(self.0),
            early_exporter: false,
            key: false,
        }
    }
    fn formula(&self) -> &'static str {
        "report_data = nonce || 0^32"
    }
    fn signs_client_chosen_data(&self) -> bool {
        true
    }
    fn not_protected_against(&self) -> &'static str {
        "R1 nonce-only relay (the nonce travels in clear; an attacker copies it into its own handshake with the TEE and answers with its own key), R2, R3 extracted-key relay, D1 diversion without I1/I2; the TLS key is not bound; and the server is a signing oracle: it signs any value a TLS client chooses as V || 0^32, which a B4 (V = SHA-256(SPKI)), B7 (V = SHA-256(map)) or B3 (V = exporter) client accepts, so with hardware it runs only when acknowledged (allow_signing_oracle / --allow-signing-oracle)"
    }
    fn report_data(&self, inputs: &BindingInputs<'_>) -> Result<[u8; 64], ProfileError> {
        padded(&[inputs.nonce()?])
    }
}
