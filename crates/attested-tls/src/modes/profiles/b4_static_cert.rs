//! `b4-static-cert` (B4): a static RA-TLS certificate whose Evidence binds
//! the hash of its public key, with no nonce (Intel RA-TLS / Gramine, Open
//! Enclave, dstack, TNG). `report_data = SHA-256(SPKI) || 0^32`, Gramine's
//! layout.

use super::{padded, BindingInputs, CertificateLifetime, Needs, Profile, ProfileError};
use crate::crypto::HashAlgorithm;

/// B4: the static certificate's key hash.
#[derive(Debug)]
pub struct B4StaticCert;

impl Profile for B4StaticCert {
    fn name(&self) -> &'static str {
        "b4-static-cert"
    }
    fn mechanism(&self) -> &'static str {
        "B4"
    }
    fn needs(&self) -> Needs {
        Needs {
            client_random: false,
            nonce: None,
            early_exporter: false,
            key: true,
        }
    }
    fn certificate(&self) -> CertificateLifetime {
        CertificateLifetime::Static
    }
    fn formula(&self) -> &'static str {
        "report_data = SHA-256(SPKI) || 0^32 (static certificate, no nonce)"
    }
    fn not_protected_against(&self) -> &'static str {
        "replay (no freshness: whoever holds the certificate's leaked key can serve it long after, the TEE offline), R3 extracted-key relay, D1 diversion without I1/I2; cross-profile: a B1/B2 server (any TEE of the same code running b1-client-random or b2-*) signs any client-chosen V as V || 0^32, so anyone who can reach one obtains Evidence over SHA-256(their own SPKI) || 0^32, which passes this check with their own key"
    }
    fn report_data(&self, inputs: &BindingInputs<'_>) -> Result<[u8; 64], ProfileError> {
        padded(&[&HashAlgorithm::Sha256.digest(inputs.spki()?)])
    }
}
