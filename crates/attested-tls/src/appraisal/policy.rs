//! Appraisal policy: the TOML file a relying party writes.
//!
//! ```toml
//! id = "prod-v3"                      # reported in every result
//!
//! [sim]                               # simulated TEE (development, CI, the attack lab)
//! trusted_roots = ["sim/root.pem"]    # simulation roots to trust; relative to this file
//! measurements = ["3f2a..."]          # allowed measurements (hex); an empty list refuses all
//! instance_ids = ["01ab..."]          # optional allow-list of platform instances
//! allow_debug = false                 # default false
//! min_security_version = 2            # floor; unset: a warning naming the key
//! ```
//!
//! Every section is optional, but Evidence of a platform whose section is
//! absent is refused. Unknown keys are an error, never ignored: a typo such
//! as `alow_debug = true` must not silently leave a check in its default.
//! See `docs/policy.md` for every platform's keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::verifier::{Appraiser, Verifier};

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// TOML syntax error or unknown key.
    #[error("policy {path} is invalid: {message}")]
    Parse {
        /// The file (or `<inline>`).
        path: String,
        /// The parser's message (names the key and line).
        message: String,
    },
    /// A value is present but unusable.
    #[error("policy key {key} is invalid: {reason}")]
    Value {
        /// The key.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The policy names a platform this build cannot appraise.
    #[error("policy section [{0}] is not supported by this build")]
    Unsupported(&'static str),
}

impl PolicyError {
    /// Shorthand for [`PolicyError::Value`].
    pub fn value(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Value {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A parsed policy. Build an [`Appraiser`] from it with [`Policy::appraiser`].
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Policy id, reported in results (`ear_appraisal_policy_ids`).
    pub id: String,
    /// Simulated TEE.
    #[serde(default)]
    pub sim: Option<crate::sim::SimPolicy>,
    /// AMD SEV-SNP.
    #[serde(default)]
    pub snp: Option<crate::platform::snp::SnpPolicy>,
    /// Intel TDX.
    #[serde(default)]
    pub tdx: Option<crate::platform::dcap::TdxPolicy>,
    /// Intel SGX.
    #[serde(default)]
    pub sgx: Option<crate::platform::dcap::SgxPolicy>,
    /// Arm CCA.
    #[serde(default)]
    pub cca: Option<crate::platform::cca::CcaPolicy>,
    /// Host identity (I1): the attested key must also have a WebPKI
    /// certificate for the server name the client dialled.
    #[serde(default)]
    pub host_identity: Option<HostIdentityPolicy>,
    /// A remote verifier appraises peers' Evidence instead of this
    /// policy's platform sections (background-check model; see
    /// `docs/verifier.md`).
    #[serde(default)]
    pub remote_verifier: Option<crate::remote::RemoteVerifierPolicy>,
    /// Passports (signed EARs presented instead of Evidence) from these
    /// verifiers are accepted (passport model; see `docs/verifier.md`).
    #[serde(default)]
    pub passport: Option<crate::remote::PassportPolicy>,
    /// Directory relative paths are resolved against (the policy file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Policy {
    /// Parses a policy from TOML text; relative paths resolve against `base_dir`.
    pub fn from_toml(text: &str, base_dir: &Path) -> Result<Self, PolicyError> {
        let mut p: Policy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: "<inline>".into(),
            message: crate::fsutil::toml_error(text, &e, crate::fsutil::TomlKeys::Any),
        })?;
        p.base_dir = base_dir.to_path_buf();
        p.validate()?;
        Ok(p)
    }

    /// Reads and parses a policy file. Only a regular file of at most
    /// [`crate::fsutil::MAX_CONFIG_FILE_LEN`] bytes is read.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text =
            crate::fsutil::read_bounded_to_string(path, crate::fsutil::MAX_CONFIG_FILE_LEN).map_err(|source| {
                PolicyError::Io {
                    path: path.into(),
                    source,
                }
            })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut p: Policy = toml::from_str(&text).map_err(|e| PolicyError::Parse {
            path: path.display().to_string(),
            message: crate::fsutil::toml_error(&text, &e, crate::fsutil::TomlKeys::Any),
        })?;
        p.base_dir = base;
        p.validate()?;
        Ok(p)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        if self.id.trim().is_empty() {
            return Err(PolicyError::value(
                "id",
                "must not be empty (it names the policy in every result)",
            ));
        }
        Ok(())
    }

    /// Resolves a path from the policy against its directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Builds the appraiser with one verifier per section present.
    pub fn appraiser(&self) -> Result<Appraiser, PolicyError> {
        let mut a = Appraiser::new(self.id.clone());
        if let Some(s) = &self.sim {
            a = a.with_verifier(Arc::new(s.verifier(self)?) as Arc<dyn Verifier>);
        }
        if let Some(s) = &self.snp {
            a = a.with_verifier(s.verifier(self)?);
        }
        if let Some(s) = &self.tdx {
            a = a.with_verifier(s.verifier(self)?);
        }
        if let Some(s) = &self.sgx {
            a = a.with_verifier(s.verifier(self)?);
        }
        if let Some(s) = &self.cca {
            a = a.with_verifier(s.verifier(self)?);
        }
        if let Some(p) = &self.passport {
            a = a.with_verifier(Arc::new(p.verifier(self)?) as Arc<dyn Verifier>);
        }
        if let Some(h) = &self.host_identity {
            a = a.with_host_identity(h.host_identity(self)?);
        }
        if let Some(r) = &self.remote_verifier {
            // Fail closed: with a remote verifier, the platform sections
            // would read as if their reference values applied to
            // connections; they would not (the remote verifier's policy
            // does).
            if a.has_platforms() {
                return Err(PolicyError::value(
                    "remote_verifier",
                    "a policy that names a remote verifier cannot also have platform sections ([sim], [snp], \
                     [tdx], [sgx], [cca], [passport]): the remote verifier appraises with its own policy, and \
                     these sections would silently not apply; remove them or the [remote_verifier] section",
                ));
            }
            a = a.with_remote_verifier(r.remote_verifier(self)?);
        }
        Ok(a)
    }
}

/// The `[host_identity]` section (I1; see `docs/host-identity.md`).
///
/// ```toml
/// [host_identity]
/// roots = ["service-ca.pem"]   # PEM root certificates; relative to the policy file
/// ```
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HostIdentityPolicy {
    /// Root certificate files (PEM, one or more certificates each) that the
    /// attested key's certificate must chain to. Must not be empty.
    pub roots: Vec<PathBuf>,
}

impl HostIdentityPolicy {
    /// The requirement, with the roots read (relative paths resolved
    /// against the policy's directory).
    pub fn host_identity(&self, policy: &Policy) -> Result<crate::host_identity::HostIdentity, PolicyError> {
        if self.roots.is_empty() {
            return Err(PolicyError::value(
                "host_identity.roots",
                "lists no root certificate; host identity (I1) cannot be required without roots \
                 (remove the [host_identity] section to not require it)",
            ));
        }
        let files: Vec<PathBuf> = self.roots.iter().map(|r| policy.resolve(r)).collect();
        crate::host_identity::HostIdentity::from_pem_files(&files)
            .map_err(|e| PolicyError::value("host_identity.roots", e.to_string()))
    }
}

/// Parses a list of hex strings into byte vectors of an exact length.
pub fn parse_hex_list(key: &str, values: &[String], len: Option<usize>) -> Result<Vec<Vec<u8>>, PolicyError> {
    values
        .iter()
        .map(|v| {
            let b = hex::decode(v.trim()).map_err(|e| PolicyError::value(key, format!("{v:?} is not hex: {e}")))?;
            if let Some(l) = len {
                if b.len() != l {
                    return Err(PolicyError::value(
                        key,
                        format!("{v:?} is {} bytes, expected {l}", b.len()),
                    ));
                }
            }
            Ok(b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let e = Policy::from_toml("id = \"x\"\nalow_debug = true\n", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("alow_debug"), "{e}");
        let e = Policy::from_toml(
            "id = \"x\"\n[sim]\ntrusted_roots=[]\nmeasurements=[]\nalow_debug = true\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("alow_debug"), "{e}");
    }

    #[test]
    fn parse_errors_name_line_and_key_without_echoing_the_file() {
        // A type error names where it is, not by quoting the line.
        let e = Policy::from_toml("id = \"x\"\n[sim]\nallow_debug = \"yes\"\n", Path::new(".")).unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("line 3") && shown.contains("allow_debug"), "{shown}");
        assert!(
            !shown.contains(" | ") && !shown.contains('^'),
            "the source line is echoed: {shown}"
        );
        // Terminal escapes in the file (a comment, a quoted key) stay escaped.
        for text in [
            "id = \"x\" # \u{1b}[2J\n[sim]\nallow_debug = 1\n",
            "id = \"x\"\n\"k\\u001b[2J\\nOK\" = 1\n",
        ] {
            let shown = Policy::from_toml(text, Path::new(".")).unwrap_err().to_string();
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
    }

    #[test]
    fn the_host_identity_section_needs_readable_roots() {
        // Guards fail-closed I1 in the policy: an empty or unreadable root
        // list is an error naming the key, not "I1 off"; a misspelt key is
        // refused like any other.
        let dir = tempfile::tempdir().unwrap();
        let policy = |section: &str| Policy::from_toml(&format!("id = \"x\"\n[host_identity]\n{section}"), dir.path());
        let e = policy("roots = []\n").unwrap().appraiser().unwrap_err();
        assert!(
            matches!(&e, PolicyError::Value { key, reason } if key == "host_identity.roots" && reason.contains("no root")),
            "{e}"
        );
        let e = policy("roots = [\"missing.pem\"]\n").unwrap().appraiser().unwrap_err();
        assert!(
            matches!(&e, PolicyError::Value { key, reason } if key == "host_identity.roots" && reason.contains("missing.pem")),
            "{e}"
        );
        assert!(policy("root = [\"ca.pem\"]\n")
            .unwrap_err()
            .to_string()
            .contains("root"));
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
        let a = policy("roots = [\"ca.pem\"]\n").unwrap().appraiser().unwrap();
        assert_eq!(a.host_identity().map(|h| h.root_count()), Some(1));
        assert!(Policy::from_toml("id = \"x\"", dir.path())
            .unwrap()
            .appraiser()
            .unwrap()
            .host_identity()
            .is_none());
    }

    #[test]
    fn empty_id_is_refused() {
        let e = Policy::from_toml("id = \"\"", Path::new(".")).err().unwrap();
        assert!(
            matches!(&e, PolicyError::Value { key, reason } if key == "id" && reason.contains("must not be empty")),
            "{e:?}"
        );
    }

    #[test]
    fn policy_without_sections_refuses_everything() {
        let p = Policy::from_toml("id = \"empty\"", Path::new(".")).unwrap();
        let a = p.appraiser().unwrap();
        let ear = a.appraise_cmw_bytes(
            &crate::cmw::Cmw::Record(crate::cmw::CmwRecord::evidence("application/eat+cwt", vec![1])).to_cbor(),
            &crate::binder::ExpectedBinding::ReportData([0; 64]),
            time::OffsetDateTime::UNIX_EPOCH,
        );
        assert!(!ear.is_affirming());
        assert!(
            ear.refusal_summary().contains("no verifier"),
            "{}",
            ear.refusal_summary()
        );
    }
}

#[cfg(test)]
mod doc_tests {
    /// The complete example of `docs/policy.md` parses: every key it shows
    /// exists (unknown keys are errors).
    #[test]
    fn documented_example_parses() {
        let doc = include_str!("../../../../docs/policy.md");
        let toml = doc
            .split("```toml")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("a toml block");
        let p = super::Policy::from_toml(toml, std::path::Path::new(".")).unwrap();
        assert_eq!(p.id, "prod-v3");
        assert!(p.sim.is_some() && p.snp.is_some() && p.tdx.is_some() && p.sgx.is_some() && p.cca.is_some());
    }
}
