//! `b1-client-random` (B1): the Evidence binds the TLS ClientHello.random
//! (the design Meta's private processing adopted after an audit found no
//! freshness). `report_data = client_random || 0^32`.

use super::{padded, BindingInputs, Needs, Profile, ProfileError};

/// B1: the TLS client random.
#[derive(Debug)]
pub struct B1ClientRandom;

impl Profile for B1ClientRandom {
    fn name(&self) -> &'static str {
        "b1-client-random"
    }
    fn mechanism(&self) -> &'static str {
        "B1"
    }
    fn needs(&self) -> Needs {
        Needs {
            client_random: true,
            nonce: None,
            early_exporter: false,
            key: false,
        }
    }
    fn formula(&self) -> &'static str {
        "report_data = client_random || 0^32"
    }
    fn signs_client_chosen_data(&self) -> bool {
        true
    }
    fn not_protected_against(&self) -> &'static str {
        "R1 nonce-only relay (an attacker copies the client random into its own handshake with the TEE and answers with its own key), R2 ClientHello forwarding, R3 extracted-key relay, D1 diversion without I1/I2; the TLS key is not bound; and the server is a signing oracle: it signs any value a TLS client chooses as V || 0^32, which a B4 (V = SHA-256(SPKI)), B7 (V = SHA-256(map)) or B3 (V = exporter) client accepts, so with hardware it runs only when acknowledged (allow_signing_oracle / --allow-signing-oracle)"
    }
    fn report_data(&self, inputs: &BindingInputs<'_>) -> Result<[u8; 64], ProfileError> {
        padded(&[inputs.client_random()?])
    }
}
