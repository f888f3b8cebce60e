//! `b5-nonce-early-exporter` (B5 = B2 + B3): the Evidence binds the
//! client's nonce (in a ClientHello extension) and the early exporter.
//! `report_data = nonce || early_exporter`.

use super::{padded, BindingInputs, Needs, NonceCarrier, Profile, ProfileError};

/// B5: nonce and early exporter.
#[derive(Debug)]
pub struct B5NonceEarlyExporter;

impl Profile for B5NonceEarlyExporter {
    fn name(&self) -> &'static str {
        "b5-nonce-early-exporter"
    }
    fn mechanism(&self) -> &'static str {
        "B5"
    }
    fn needs(&self) -> Needs {
        Needs {
            client_random: false,
            nonce: Some(NonceCarrier::Extension),
            early_exporter: true,
            key: false,
        }
    }
    fn formula(&self) -> &'static str {
        "report_data = nonce || TLS-Early-Exporter(\"attestation-binder\", \"\", 32)"
    }
    fn not_protected_against(&self) -> &'static str {
        "R2 ClientHello-forwarding relay (both values are functions of the ClientHello), R3 extracted-key relay, D1 diversion without I1/I2; the TLS key is not bound"
    }
    fn report_data(&self, inputs: &BindingInputs<'_>) -> Result<[u8; 64], ProfileError> {
        padded(&[inputs.nonce()?, inputs.early_exporter()?])
    }
}
