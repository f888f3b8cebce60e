//! Recomputing seat-expat / RFC 9261 worked vectors.
//!
//! A vector file (the format of `vectors/rfc9261/*.toml`) has an
//! `[input]` table (a fixed `exporter_master_secret` standing in for a live
//! connection, the sender role, label, key, certificate, context and CMW)
//! and an `[expected]` table with every derived value. [`check_vector`]
//! recomputes each expected value from the inputs with this crate's code
//! and reports every mismatch; `atls vectors check FILE` prints the report.

use std::collections::BTreeMap;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde::Deserialize;

use crate::binder::{BindingClaims, EXPORTED_VALUE_LEN};
use crate::codec::{AuthenticatorParts, AuthenticatorRequest};
use crate::crypto::HashAlgorithm;
use crate::ea::{self, AuthenticatorIdentity, EaProfile, Role};
use crate::exporter::{Exporter, SecretExporter};

/// Why a vector file could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// TOML syntax or structure.
    #[error("vector file is not valid: {0}")]
    Parse(String),
    /// An input value is unusable.
    #[error("vector input {field} is invalid: {reason}")]
    Input {
        /// The `[input]` key.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The computation itself failed.
    #[error("computing the vector failed: {0}")]
    Compute(#[from] ea::EaError),
}

// Unknown keys are refused: a misspelt input would otherwise be ignored
// and a default used in its place.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile {
    input: Input,
    #[serde(default)]
    expected: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    hash: String,
    authenticator_sender: String,
    exporter_label: String,
    cmw_attestation_ext_type: u16,
    signature_scheme: u16,
    exporter_master_secret: String,
    signing_key_pkcs8: String,
    certificate_der: String,
    certificate_request_context: String,
    cmw: String,
}

/// One recomputed value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct VectorCheck {
    /// The `[expected]` key.
    pub name: String,
    /// Expected hex.
    pub expected: String,
    /// Computed hex (`None` if this crate does not compute that key).
    pub computed: Option<String>,
    /// Whether they are equal.
    pub ok: bool,
}

/// The outcome of checking one vector file.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct VectorReport {
    /// Every `[expected]` value, in file order of keys (sorted).
    pub checks: Vec<VectorCheck>,
    /// Whether the recomputed authenticator also validates.
    pub validates: bool,
    /// Values this crate computes that the file's `[expected]` omits: a
    /// vector that checks only some of them is not a complete check.
    pub missing: Vec<String>,
}

impl VectorReport {
    /// True when every value matched and the authenticator validated.
    pub fn all_ok(&self) -> bool {
        self.validates && self.missing.is_empty() && !self.checks.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    /// Mismatching checks.
    pub fn mismatches(&self) -> impl Iterator<Item = &VectorCheck> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

fn hex_input(field: &'static str, v: &str) -> Result<Vec<u8>, VectorError> {
    hex::decode(v.trim()).map_err(|e| VectorError::Input {
        field,
        reason: format!("not hex: {e}"),
    })
}

/// Every value this crate derives from a vector's inputs.
struct Computed {
    /// By `[expected]` key.
    values: BTreeMap<&'static str, Vec<u8>>,
    /// The file's `[expected]` table.
    expected: BTreeMap<String, String>,
    /// Whether the recomputed authenticator validates.
    validates: bool,
}

fn compute(text: &str) -> Result<Computed, VectorError> {
    let file: VectorFile = toml::from_str(text)
        .map_err(|e| VectorError::Parse(crate::fsutil::toml_error(text, &e, crate::fsutil::TomlKeys::Any)))?;
    let i = &file.input;
    let hash = HashAlgorithm::from_name(&i.hash).ok_or_else(|| VectorError::Input {
        field: "hash",
        reason: format!("unknown hash {:?}", i.hash),
    })?;
    let sender = match i.authenticator_sender.as_str() {
        "server" => Role::Server,
        "client" => Role::Client,
        other => {
            return Err(VectorError::Input {
                field: "authenticator_sender",
                reason: format!("{other:?} is not server/client"),
            })
        }
    };
    let exporter = SecretExporter::new(hash, hex_input("exporter_master_secret", &i.exporter_master_secret)?);
    let key_der = hex_input("signing_key_pkcs8", &i.signing_key_pkcs8)?;
    let cert = hex_input("certificate_der", &i.certificate_der)?;
    let context = hex_input("certificate_request_context", &i.certificate_request_context)?;
    let cmw = hex_input("cmw", &i.cmw)?;
    let profile = EaProfile {
        cmw_ext_type: i.cmw_attestation_ext_type,
        exporter_label: i.exporter_label.as_bytes().to_vec(),
        signature_schemes: vec![i.signature_scheme],
    };
    let identity = AuthenticatorIdentity::new(
        vec![CertificateDer::from(cert.clone())],
        &PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der)),
    )?;

    let mut out: BTreeMap<&'static str, Vec<u8>> = BTreeMap::new();
    let (hc, fk) = ea::keys(&exporter, sender)?;
    let request = profile.request(sender, context.clone()).encode();
    let spki = identity.spki().to_vec();
    let exported = exporter
        .export(&profile.exporter_label, &context, EXPORTED_VALUE_LEN)
        .map_err(ea::EaError::from)?;
    let binding = BindingClaims::from_exported_value(hash, &spki, &exported);
    let authenticator = ea::authenticate(&exporter, sender, &profile, &request, &identity, Some(&cmw))?;
    let empty = ea::empty_authenticator(&exporter, sender, &request)?;
    if let Ok(AuthenticatorParts::Full {
        certificate,
        certificate_verify,
        finished,
        ..
    }) = AuthenticatorParts::decode(&authenticator)
    {
        out.insert("certificate_msg", certificate.to_vec());
        out.insert(
            "certificate_verify_signed_content",
            ea::certificate_verify_content(hash, &hc, &request, certificate),
        );
        out.insert("certificate_verify", certificate_verify.to_vec());
        let mut fin = vec![20, 0, 0, finished.len() as u8];
        fin.extend_from_slice(finished);
        out.insert("finished", fin);
    }
    let validates = ea::validate(&exporter, sender, &profile, &request, &authenticator)
        .map(|v| v.cmw.as_deref() == Some(&cmw[..]) && AuthenticatorRequest::decode(&request).is_ok())
        .unwrap_or(false);
    out.insert("handshake_context", hc);
    out.insert("finished_key", fk);
    out.insert("authenticator_request", request);
    out.insert("spki", spki);
    out.insert("aik_pub_hash", binding.aik_pub_hash.clone());
    out.insert("exported_value", exported);
    out.insert("binder", binding.binder.clone());
    out.insert("authenticator", authenticator);
    out.insert("empty_authenticator", empty);
    Ok(Computed {
        values: out,
        expected: file.expected,
        validates,
    })
}

/// Recomputes every `[expected]` value of a vector file and compares.
pub fn check_vector(text: &str) -> Result<VectorReport, VectorError> {
    let Computed {
        values: computed,
        expected,
        validates,
    } = compute(text)?;
    let checks = expected
        .iter()
        .map(|(name, exp)| {
            let exp = exp.trim().to_ascii_lowercase();
            let got = computed.get(name.as_str()).map(hex::encode);
            VectorCheck {
                name: name.clone(),
                ok: got.as_deref() == Some(exp.as_str()),
                expected: exp,
                computed: got,
            }
        })
        .collect();
    let missing = computed
        .keys()
        .filter(|k| !expected.contains_key(**k))
        .map(|k| k.to_string())
        .collect();
    Ok(VectorReport {
        checks,
        validates,
        missing,
    })
}

#[cfg(test)]
mod output_escaping {
    use super::*;

    fn vector() -> String {
        let path = format!(
            "{}/../../vectors/rfc9261/expat-ed25519-sha256-server.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(path).unwrap()
    }

    /// A damaged line of a vector file must not be quoted back: the TOML
    /// error would print the signing key (or exporter_master_secret).
    #[test]
    fn parse_errors_do_not_quote_the_signing_key() {
        let text = vector();
        let key_line = text.lines().find(|l| l.starts_with("signing_key_pkcs8")).unwrap();
        let key_hex = key_line.split('"').nth(1).unwrap();
        let damaged = text.replace(key_line, key_line.trim_end_matches('"'));
        let e = check_vector(&damaged).err().unwrap().to_string();
        assert!(!e.contains(&key_hex[40..]), "the error quotes the private key: {e}");
    }

    /// Parse errors must not carry raw control characters from the file
    /// (an unknown key's name, or the quoted source line).
    #[test]
    fn parse_errors_carry_no_control_characters() {
        let text = vector();
        let unknown_key = text.replacen("[input]\n", "[input]\n\"x\\u001b[2J\\nvectors: OK\" = \"1\"\n", 1);
        let raw_esc = text.replacen("[input]\n", "[input]\n# \u{1b}[2J\n", 1);
        for t in [unknown_key, raw_esc] {
            let e = check_vector(&t).err().unwrap().to_string();
            // The toml crate's own multi-line layout uses '\n'; anything
            // else (ESC above all) came from the file.
            assert!(
                !e.chars().any(|c| c.is_control() && c != '\n'),
                "raw control characters in the error: {e:?}"
            );
            assert!(!e.contains("\nvectors: OK"), "the file wrote a line of its own: {e:?}");
        }
    }
}
