//! Binding attestation Evidence to a TLS connection.
//!
//! In post-handshake Exported Attestation (draft-fossati-seat-expat-04 §5)
//! the Evidence commits to
//!
//! ```text
//! exported_value = TLS-Exporter(label, certificate_request_context, 32)
//! binder         = Hash(SPKI || exported_value)
//! AIK_pub_hash   = Hash(SPKI)
//! ```
//!
//! where `SPKI` is the DER SubjectPublicKeyInfo of the authenticator's
//! end-entity certificate and `Hash` the cipher suite's hash. Hardware
//! reports have a single 64-byte `report_data` field, so both values enter
//! it through one mapping, used for every platform:
//!
//! ```text
//! report_data = SHA-512("attested-tls expat v1" || binder || AIK_pub_hash)
//! ```
//!
//! (`binder` and `AIK_pub_hash` have the same length, `Hash.length`, so the
//! concatenation is unambiguous.) See `docs/binding.md`.

use crate::crypto::{self, HashAlgorithm};
use crate::exporter::{Exporter, ExporterError};

/// The exporter label registered by draft-fossati-seat-expat-04.
pub const EXPORTER_LABEL_CMW_ATTESTATION: &[u8] = b"EXPORTER-cmw-attestation";
/// The label of draft-fossati-seat-expat-01..-03 (still used in the field).
pub const EXPORTER_LABEL_ATTESTATION_LEGACY: &[u8] = b"Attestation";
/// Length of the exported value (fixed at 32 by the draft, whatever the hash).
pub const EXPORTED_VALUE_LEN: usize = 32;
/// Domain-separation prefix of the `report_data` mapping.
pub const REPORT_DATA_PREFIX: &[u8] = b"attested-tls expat v1";

/// How a binding was (or is to be) computed. Today the only secure
/// mechanism is the post-handshake exporter binding; the legacy mechanisms
/// of `binding-mechanisms.md` are added as explicit, non-default profiles.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingMechanism {
    /// B9: `Hash(SPKI || TLS-Exporter(label, ctx, 32))` inside an RFC 9261
    /// Exported Authenticator.
    ExportedAuthenticator {
        /// The exporter label (default [`EXPORTER_LABEL_CMW_ATTESTATION`]).
        label: Vec<u8>,
    },
}

impl Default for BindingMechanism {
    fn default() -> Self {
        Self::ExportedAuthenticator {
            label: EXPORTER_LABEL_CMW_ATTESTATION.to_vec(),
        }
    }
}

/// The values attestation Evidence must carry inside its signed part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingClaims {
    /// The hash both values were computed with.
    pub hash: HashAlgorithm,
    /// `Hash(SPKI || exported_value)`.
    pub binder: Vec<u8>,
    /// `Hash(SPKI)`.
    pub aik_pub_hash: Vec<u8>,
}

impl BindingClaims {
    /// Computes the seat-expat binder for an authenticator key and a
    /// certificate_request_context on the connection behind `exporter`.
    pub fn expat(
        exporter: &dyn Exporter,
        label: &[u8],
        certificate_request_context: &[u8],
        spki_der: &[u8],
    ) -> Result<Self, ExporterError> {
        let hash = exporter.hash()?;
        let exported = exporter.export(label, certificate_request_context, EXPORTED_VALUE_LEN)?;
        Ok(Self::from_exported_value(hash, spki_der, &exported))
    }

    /// Computes binder and AIK_pub_hash from an already exported value.
    pub fn from_exported_value(hash: HashAlgorithm, spki_der: &[u8], exported_value: &[u8]) -> Self {
        Self {
            hash,
            binder: hash.digest_parts(&[spki_der, exported_value]),
            aik_pub_hash: hash.digest(spki_der),
        }
    }

    /// The 64-byte `report_data` every hardware platform carries:
    /// `SHA-512("attested-tls expat v1" || binder || AIK_pub_hash)`.
    pub fn report_data(&self) -> [u8; 64] {
        crypto::sha512(&[REPORT_DATA_PREFIX, &self.binder, &self.aik_pub_hash])
    }
}

/// What a verifier compares the Evidence's binding field with.
///
/// There is deliberately no "nothing expected" variant: a verifier never
/// accepts Evidence whose binding it has not compared with a value the
/// relying party computed itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectedBinding {
    /// The relying party computed the binder and AIK_pub_hash (on-line use).
    Claims(BindingClaims),
    /// Only the 64-byte `report_data` / challenge is known (off-line
    /// appraisal with `atls verify --report-data`).
    ReportData([u8; 64]),
}

impl ExpectedBinding {
    /// The 64-byte value a hardware report's `report_data` must equal.
    pub fn report_data(&self) -> [u8; 64] {
        match self {
            Self::Claims(c) => c.report_data(),
            Self::ReportData(r) => *r,
        }
    }

    /// Parses a hex `report_data`. Refuses empty or wrongly sized values:
    /// an empty expected value is an error, never a skipped check.
    pub fn report_data_from_hex(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("expected report data is empty; refusing to skip the binding check".into());
        }
        let bytes = hex::decode(s).map_err(|e| format!("expected report data is not hex: {e}"))?;
        let arr: [u8; 64] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("expected report data must be 64 bytes, got {}", bytes.len()))?;
        Ok(Self::ReportData(arr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_data_depends_on_both_values() {
        let a = BindingClaims {
            hash: HashAlgorithm::Sha256,
            binder: vec![1; 32],
            aik_pub_hash: vec![2; 32],
        };
        let mut b = a.clone();
        b.aik_pub_hash[0] ^= 1;
        let mut c = a.clone();
        c.binder[31] ^= 1;
        assert_ne!(a.report_data(), b.report_data());
        assert_ne!(a.report_data(), c.report_data());
    }

    #[test]
    fn empty_expected_report_data_is_an_error() {
        let e = ExpectedBinding::report_data_from_hex("").unwrap_err();
        assert!(e.to_string().contains("expected report data is empty"), "{e}");
        let e = ExpectedBinding::report_data_from_hex("00").unwrap_err();
        assert!(e.to_string().contains("must be 64 bytes, got 1"), "{e}");
        assert!(ExpectedBinding::report_data_from_hex(&"ab".repeat(64)).is_ok());
    }

    #[test]
    fn empty_expected_report_data_is_refused_as_empty_not_as_wrongly_sized() {
        for s in ["", "  \n"] {
            let e = ExpectedBinding::report_data_from_hex(s).unwrap_err();
            assert!(e.contains("is empty") && e.contains("refusing to skip"), "{e}");
        }
        let e = ExpectedBinding::report_data_from_hex("00").unwrap_err();
        assert!(e.contains("must be 64 bytes, got 1"), "{e}");
    }

    #[test]
    fn report_data_is_sha512_of_the_domain_prefix_binder_and_aik_pub_hash() {
        let c = BindingClaims {
            hash: HashAlgorithm::Sha384,
            binder: vec![0x11; 48],
            aik_pub_hash: vec![0x22; 48],
        };
        // Computed independently of `REPORT_DATA_PREFIX` and `crypto::sha512`.
        let mut input = b"attested-tls expat v1".to_vec();
        input.extend_from_slice(&c.binder);
        input.extend_from_slice(&c.aik_pub_hash);
        let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &input);
        assert_eq!(&c.report_data()[..], want.as_ref());
        assert_eq!(ExpectedBinding::Claims(c.clone()).report_data(), c.report_data());
    }

    #[test]
    fn expat_exports_32_bytes_under_the_given_label_whatever_the_hash() {
        let exp = crate::exporter::SecretExporter::new(HashAlgorithm::Sha384, vec![3u8; 48]);
        let spki = b"not really an SPKI";
        let ctx = b"request context";
        let got = BindingClaims::expat(&exp, EXPORTER_LABEL_ATTESTATION_LEGACY, ctx, spki).unwrap();
        let exported = exp.export(EXPORTER_LABEL_ATTESTATION_LEGACY, ctx, 32).unwrap();
        assert_eq!(
            got,
            BindingClaims::from_exported_value(HashAlgorithm::Sha384, spki, &exported)
        );
        assert_eq!(got.binder, HashAlgorithm::Sha384.digest_parts(&[spki, &exported]));
        assert_eq!(got.aik_pub_hash, HashAlgorithm::Sha384.digest(spki));
        // Another label, or the hash's length, would give another binder.
        let other = BindingClaims::expat(&exp, EXPORTER_LABEL_CMW_ATTESTATION, ctx, spki).unwrap();
        assert_ne!(other.binder, got.binder);
        let long = exp.export(EXPORTER_LABEL_ATTESTATION_LEGACY, ctx, 48).unwrap();
        assert_ne!(HashAlgorithm::Sha384.digest_parts(&[spki, &long]), got.binder);
    }
}
