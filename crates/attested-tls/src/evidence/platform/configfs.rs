//! Linux configfs-tsm attester (`/sys/kernel/config/tsm/report`, Linux 6.7+),
//! the one report interface of SEV-SNP, TDX and Arm CCA guests.
//!
//! For each attestation the attester creates its own entry directory, reads
//! `generation`, writes the 64-byte `report_data` to `inblob` (and, if asked,
//! the VMPL to `privlevel`), reads `outblob`, `auxblob` and `provider`, and
//! reads `generation` again: it must have advanced by exactly this
//! attester's own writes. If it advanced by fewer, the provider did not
//! produce a report; if by more (or it went backwards), another writer raced
//! on the entry and the output may not be for this `report_data`. Either
//! way the attestation fails. The entry is removed on
//! every path, errors included. See `docs/platforms/configfs.md`.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::attester::{AttestError, Attester};
use crate::binder::BindingClaims;
use crate::cmw::{Cmw, CmwRecord, MAX_CMW_LEN};
use crate::platform::snp::{encode_envelope, MEDIA_TYPE_ENVELOPE};

/// Where the kernel mounts the report interface.
pub const DEFAULT_REPORT_ROOT: &str = "/sys/kernel/config/tsm/report";
/// Media type of a raw TDX quote (configfs `tdx_guest` provider).
pub const MEDIA_TYPE_TDX_QUOTE: &str = "application/vnd.intel.tdx.quote";
/// Media type of a CCA attestation token (configfs `arm_cca_guest` provider).
pub const MEDIA_TYPE_CCA_TOKEN: &str = "application/eat+cwt; eat_profile=\"tag:arm.com,2023:cca_platform#1.0.0\"";
/// Largest attribute read (the kernel caps outblob well below this).
pub const MAX_ATTRIBUTE_LEN: usize = 1 << 20;
/// Default time to wait for a new entry's attributes (see
/// [`ConfigfsAttester::with_populate_timeout`]).
pub const DEFAULT_POPULATE_TIMEOUT: Duration = Duration::from_secs(1);

/// The TEE behind the report interface (`provider` attribute).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// AMD SEV-SNP (`sev_guest`).
    Snp,
    /// Intel TDX (`tdx_guest`).
    Tdx,
    /// Arm CCA (`arm_cca_guest`).
    Cca,
}

impl Provider {
    /// Parses the `provider` attribute (`sev_guest`, `tdx_guest`,
    /// `arm_cca_guest`, or the same with dashes).
    pub fn from_name(s: &str) -> Option<Self> {
        match s.trim().replace('-', "_").as_str() {
            "sev_guest" => Some(Self::Snp),
            "tdx_guest" => Some(Self::Tdx),
            "arm_cca_guest" => Some(Self::Cca),
            _ => None,
        }
    }

    /// Platform name (`snp`, `tdx`, `cca`).
    pub const fn platform(self) -> &'static str {
        match self {
            Self::Snp => "snp",
            Self::Tdx => "tdx",
            Self::Cca => "cca",
        }
    }

    /// Media type of the Evidence this provider yields.
    pub const fn media_type(self) -> &'static str {
        match self {
            Self::Snp => MEDIA_TYPE_ENVELOPE,
            Self::Tdx => MEDIA_TYPE_TDX_QUOTE,
            Self::Cca => MEDIA_TYPE_CCA_TOKEN,
        }
    }
}

/// Why the report interface failed. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigfsError {
    /// A file operation failed.
    #[error("configfs-tsm: cannot {op} {}: {source}", path.display())]
    Io {
        /// `create entry`, `read`, `write`, ...
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The entry's attributes did not appear.
    #[error("configfs-tsm: {} did not appear within {waited:?} of creating the entry (is {} a configfs-tsm report directory?)", path.display(), root.display())]
    NotPopulated {
        /// The attribute waited for.
        path: PathBuf,
        /// The report root.
        root: PathBuf,
        /// How long.
        waited: Duration,
    },
    /// `generation` does not hold a number.
    #[error("configfs-tsm: {} holds {content:?}, not a generation number", path.display())]
    BadGeneration {
        /// The file.
        path: PathBuf,
        /// What it held.
        content: String,
    },
    /// `provider` names no supported TEE.
    #[error("configfs-tsm: {} names provider {name:?}, which is not sev_guest, tdx_guest or arm_cca_guest", path.display())]
    UnknownProvider {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
    },
    /// The provider is not the one the attester was set up for.
    #[error("configfs-tsm: provider is {found:?}, expected {expected:?}")]
    WrongProvider {
        /// Expected.
        expected: Provider,
        /// Found.
        found: Provider,
    },
    /// `outblob` was empty.
    #[error("configfs-tsm: {} is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// An attribute is larger than [`MAX_ATTRIBUTE_LEN`].
    #[error("configfs-tsm: {} is larger than {MAX_ATTRIBUTE_LEN} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// `generation` did not advance by this attester's writes: the
    /// provider did not produce a report for them, so `outblob` is stale
    /// (or empty of this request's `report_data`).
    #[error("configfs-tsm: {} went from {before} to {after}, expected {expected}: generation did not advance by this attester's writes (the provider did not produce a report)", path.display())]
    NotAdvanced {
        /// The `generation` file.
        path: PathBuf,
        /// Before this attester's writes.
        before: u64,
        /// After reading the output.
        after: u64,
        /// `before` plus this attester's writes.
        expected: u64,
    },
    /// `generation` is so large that it cannot advance by this attester's
    /// writes without overflowing: the check cannot be made, so the output
    /// is not trusted.
    #[error("configfs-tsm: {} holds {before}, which cannot advance by {writes} write(s) without overflowing u64: the generation check cannot be made", path.display())]
    GenerationOverflow {
        /// The `generation` file.
        path: PathBuf,
        /// Before this attester's writes.
        before: u64,
        /// This attester's writes.
        writes: u64,
    },
    /// Another writer changed the entry between this attester's write and
    /// read (`generation` advanced by more than this attester's writes, or
    /// went backwards): the output may be for someone else's `report_data`.
    #[error("configfs-tsm: {} went from {before} to {after}, expected {expected}: another writer raced on the entry", path.display())]
    Race {
        /// The `generation` file.
        path: PathBuf,
        /// Before this attester's writes.
        before: u64,
        /// After reading the output.
        after: u64,
        /// `before` plus this attester's writes.
        expected: u64,
    },
}

impl From<ConfigfsError> for AttestError {
    fn from(e: ConfigfsError) -> Self {
        AttestError::Platform {
            interface: "configfs-tsm".into(),
            reason: e.to_string(),
        }
    }
}

/// What one report request returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsmReport {
    /// The TEE.
    pub provider: Provider,
    /// The report / quote / token.
    pub outblob: Vec<u8>,
    /// Auxiliary data (SNP: the host's certificate table), if any.
    pub auxblob: Option<Vec<u8>>,
    /// `generation` after the request.
    pub generation: u64,
}

impl TsmReport {
    /// Wraps the output as a CMW Evidence record: the SEV-SNP envelope
    /// (report + certificate table), a raw TDX quote, or a raw CCA token.
    /// Refuses records larger than the `cmw_attestation` extension holds.
    pub fn to_cmw(&self) -> Result<Cmw, AttestError> {
        let value = match self.provider {
            Provider::Snp => encode_envelope(&self.outblob, self.auxblob.as_deref()),
            Provider::Tdx | Provider::Cca => self.outblob.clone(),
        };
        let cmw = Cmw::Record(CmwRecord::evidence(self.provider.media_type(), value));
        let len = cmw.to_cbor().len();
        if len > MAX_CMW_LEN {
            return Err(AttestError::TooLarge(len));
        }
        Ok(cmw)
    }
}

/// Produces Evidence through configfs-tsm.
#[derive(Debug)]
pub struct ConfigfsAttester {
    root: PathBuf,
    privlevel: Option<u32>,
    expected: Option<Provider>,
    populate_timeout: Duration,
    seen: OnceLock<Provider>,
}

impl Default for ConfigfsAttester {
    fn default() -> Self {
        Self::new(DEFAULT_REPORT_ROOT)
    }
}

/// Removes an entry when dropped, on every path.
struct EntryGuard {
    path: PathBuf,
}

impl Drop for EntryGuard {
    fn drop(&mut self) {
        if let Err(e) = remove_entry(&self.path) {
            tracing::warn!("configfs-tsm: cannot remove entry {}: {e}", self.path.display());
        }
    }
}

/// On configfs, `rmdir` removes an entry together with its attributes. A
/// tree that is not configfs (a user-space emulation, a test fake) still
/// holds the attribute files, so they are unlinked and `rmdir` retried;
/// only files inside the entry this attester created are touched.
fn remove_entry(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir(path) {
        Err(e) if e.kind() == ErrorKind::DirectoryNotEmpty => {
            for f in std::fs::read_dir(path)? {
                let f = f?;
                if !f.file_type()?.is_dir() {
                    std::fs::remove_file(f.path())?;
                }
            }
            std::fs::remove_dir(path)
        }
        other => other,
    }
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ConfigfsError + 'a {
    move |source| ConfigfsError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Reads an attribute; `None` if it does not exist.
fn read_attr(path: &Path) -> Result<Option<Vec<u8>>, ConfigfsError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("open", path)(e)),
    };
    let mut out = Vec::new();
    f.take(MAX_ATTRIBUTE_LEN as u64 + 1)
        .read_to_end(&mut out)
        .map_err(io("read", path))?;
    if out.len() > MAX_ATTRIBUTE_LEN {
        return Err(ConfigfsError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(Some(out))
}

fn read_required(path: &Path) -> Result<Vec<u8>, ConfigfsError> {
    read_attr(path)?.ok_or_else(|| {
        io("read", path)(std::io::Error::new(
            ErrorKind::NotFound,
            "attribute missing from the entry",
        ))
    })
}

fn read_generation(path: &Path) -> Result<u64, ConfigfsError> {
    let raw = read_required(path)?;
    let text = String::from_utf8_lossy(&raw);
    text.trim().parse().map_err(|_| ConfigfsError::BadGeneration {
        path: path.to_path_buf(),
        content: text.into_owned(),
    })
}

/// Writes an existing attribute in one `write` and closes it (configfs
/// binary attributes take effect on close).
fn write_attr(path: &Path, data: &[u8]) -> Result<(), ConfigfsError> {
    let mut f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io("open for writing", path))?;
    f.write_all(data).map_err(io("write", path))?;
    drop(f);
    Ok(())
}

fn entry_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "attested-tls-{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        hex::encode(crate::crypto::random_bytes(4))
    )
}

impl ConfigfsAttester {
    /// An attester on the report root `root` (usually
    /// [`DEFAULT_REPORT_ROOT`]).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            privlevel: None,
            expected: None,
            populate_timeout: DEFAULT_POPULATE_TIMEOUT,
            seen: OnceLock::new(),
        }
    }

    /// Writes `level` to `privlevel` before each request (SEV-SNP: the VMPL
    /// the report is requested for).
    pub fn with_privlevel(mut self, level: u32) -> Self {
        self.privlevel = Some(level);
        self
    }

    /// Fails unless the provider is `p`.
    pub fn expect_provider(mut self, p: Provider) -> Self {
        self.expected = Some(p);
        self
    }

    /// How long to wait for a new entry's attributes. The kernel creates
    /// them inside `mkdir`, so on configfs there is no wait; user-space
    /// emulations of the interface populate an entry shortly after.
    pub fn with_populate_timeout(mut self, d: Duration) -> Self {
        self.populate_timeout = d;
        self
    }

    /// The report root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn wait_populated(&self, generation: &Path) -> Result<(), ConfigfsError> {
        let start = Instant::now();
        loop {
            match std::fs::symlink_metadata(generation) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io("stat", generation)(e)),
            }
            if start.elapsed() >= self.populate_timeout {
                return Err(ConfigfsError::NotPopulated {
                    path: generation.to_path_buf(),
                    root: self.root.clone(),
                    waited: self.populate_timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Requests one report for `report_data`.
    pub fn report(&self, report_data: &[u8; 64]) -> Result<TsmReport, ConfigfsError> {
        let dir = self.root.join(entry_name());
        std::fs::create_dir(&dir).map_err(io("create entry", &dir))?;
        let _guard = EntryGuard { path: dir.clone() };

        let generation_path = dir.join("generation");
        self.wait_populated(&generation_path)?;
        let before = read_generation(&generation_path)?;

        let provider_path = dir.join("provider");
        let name = String::from_utf8_lossy(&read_required(&provider_path)?)
            .trim()
            .to_string();
        let provider = Provider::from_name(&name).ok_or(ConfigfsError::UnknownProvider {
            path: provider_path,
            name,
        })?;
        if let Some(expected) = self.expected.filter(|e| *e != provider) {
            return Err(ConfigfsError::WrongProvider {
                expected,
                found: provider,
            });
        }

        let mut writes: u64 = 0;
        if let Some(level) = self.privlevel {
            write_attr(&dir.join("privlevel"), format!("{level}\n").as_bytes())?;
            writes += 1;
        }
        write_attr(&dir.join("inblob"), report_data)?;
        writes += 1;

        let outblob_path = dir.join("outblob");
        let outblob = read_required(&outblob_path)?;
        if outblob.is_empty() {
            return Err(ConfigfsError::Empty { path: outblob_path });
        }
        let auxblob = read_attr(&dir.join("auxblob"))?.filter(|a| !a.is_empty());

        let after = read_generation(&generation_path)?;
        // Checked: `generation` comes from the file system, and a value near
        // u64::MAX must fail the check, not overflow (a panic in debug builds,
        // a wrapped and meaningless comparison in release builds).
        let Some(expected) = before.checked_add(writes) else {
            return Err(ConfigfsError::GenerationOverflow {
                path: generation_path,
                before,
                writes,
            });
        };
        // Short of `expected` (but not backwards): some write produced no
        // report. Past it, or backwards: someone else wrote to the entry.
        if (before..expected).contains(&after) {
            return Err(ConfigfsError::NotAdvanced {
                path: generation_path,
                before,
                after,
                expected,
            });
        }
        if after != expected {
            return Err(ConfigfsError::Race {
                path: generation_path,
                before,
                after,
                expected,
            });
        }
        let _ = self.seen.set(provider);
        Ok(TsmReport {
            provider,
            outblob,
            auxblob,
            generation: after,
        })
    }
}

impl Attester for ConfigfsAttester {
    fn platform(&self) -> &str {
        self.expected
            .or_else(|| self.seen.get().copied())
            .map_or("configfs-tsm", Provider::platform)
    }

    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        self.report(&binding.report_data())?.to_cmw()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names() {
        assert_eq!(Provider::from_name("sev_guest\n"), Some(Provider::Snp));
        assert_eq!(Provider::from_name("sev-guest"), Some(Provider::Snp));
        assert_eq!(Provider::from_name("tdx_guest"), Some(Provider::Tdx));
        assert_eq!(Provider::from_name("arm-cca-guest"), Some(Provider::Cca));
        assert_eq!(Provider::from_name("sev"), None);
    }

    #[test]
    fn oversized_output_is_refused() {
        let r = TsmReport {
            provider: Provider::Tdx,
            outblob: vec![0; MAX_CMW_LEN],
            auxblob: None,
            generation: 1,
        };
        assert!(matches!(r.to_cmw(), Err(AttestError::TooLarge(n)) if n > MAX_CMW_LEN));
        let r = TsmReport {
            outblob: vec![0; 1000],
            ..r
        };
        assert!(r.to_cmw().is_ok());
    }
}
