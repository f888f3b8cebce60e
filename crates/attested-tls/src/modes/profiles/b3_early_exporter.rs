//! `b3-early-exporter` (B3): the Evidence binds
//! `TLS-Early-Exporter("attestation-binder", "", 32)`. Without a PSK the
//! early secret is a constant, so the value depends on the ClientHello
//! alone (see [`super::early_exporter`]). `report_data = early_exporter || 0^32`.

use super::{padded, BindingInputs, Needs, Profile, ProfileError};

/// B3: the early exporter.
#[derive(Debug)]
pub struct B3EarlyExporter;

impl Profile for B3EarlyExporter {
    fn name(&self) -> &'static str {
        "b3-early-exporter"
    }
    fn mechanism(&self) -> &'static str {
        "B3"
    }
    fn needs(&self) -> Needs {
        Needs {
            client_random: false,
            nonce: None,
            early_exporter: true,
            key: false,
        }
    }
    fn formula(&self) -> &'static str {
        "report_data = TLS-Early-Exporter(\"attestation-binder\", \"\", 32) || 0^32 (no PSK: a function of the ClientHello only)"
    }
    fn not_protected_against(&self) -> &'static str {
        "R1 relay (an attacker that forwards the client's ClientHello bytes to the TEE gets Evidence over the same value) and R2 ClientHello forwarding, R3 extracted-key relay, D1 diversion without I1/I2; the TLS key is not bound; cross-profile: a B1/B2 server (any TEE of the same code running b1-client-random or b2-*) signs any client-chosen V as V || 0^32, so anyone who can reach one obtains Evidence over their own handshake's exporter || 0^32, which passes this check"
    }
    fn report_data(&self, inputs: &BindingInputs<'_>) -> Result<[u8; 64], ProfileError> {
        padded(&[inputs.early_exporter()?])
    }
}
