//! Bounded reads of input files.
//!
//! Policy, instance, Evidence and key files name paths a user (or a
//! script) chose. `std::fs::read` on `/dev/zero` never ends and exhausts
//! memory, and on a FIFO it blocks until a writer appears, so inputs are read
//! with [`read_bounded`]: regular files only, and at most a limit of bytes.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::ear::escape_control;

/// Limit for small text inputs: policy files, simulated-TEE instance files,
/// PEM keys. Real ones are a few KiB; 1 MiB leaves ample room.
pub const MAX_CONFIG_FILE_LEN: u64 = 1 << 20;

/// Limit for certificate bundles, collateral and reference-value files a
/// policy names (PEM chains, Intel collateral JSON with CRLs): a few
/// hundred KiB in practice; 8 MiB leaves ample room.
pub const MAX_BUNDLE_FILE_LEN: u64 = 8 << 20;

/// Why [`read_bounded`] refused a file. Carried inside the returned
/// [`std::io::Error`] (kind `InvalidInput` / `InvalidData`), so callers that
/// report I/O errors report these too.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    /// The path is not a regular file (a device, FIFO, socket or directory).
    #[error("{} is not a regular file (it is a {kind}); only regular files are read", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file holds more than the limit.
    #[error("{} is larger than the {limit}-byte limit for this kind of file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "character device";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_fifo() {
            return "FIFO";
        }
        if t.is_socket() {
            return "socket";
        }
    }
    if t.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

fn check_regular(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    if meta.is_file() {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            BoundedReadError::NotRegular {
                path: path.to_path_buf(),
                kind: kind_of(meta.file_type()),
            },
        ))
    }
}

/// Checks, without opening it, that `path` (symlinks followed) is a regular
/// file of at most `limit` bytes. For paths read by code that does not use
/// [`read_bounded`] itself.
pub fn check_regular_file(path: &Path, limit: u64) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    check_regular(path, &meta)?;
    if meta.len() > limit {
        return Err(too_large(path, limit));
    }
    Ok(())
}

fn too_large(path: &Path, limit: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        BoundedReadError::TooLarge {
            path: path.to_path_buf(),
            limit,
        },
    )
}

/// Reads the regular file `path` (symlinks followed), refusing anything that
/// is not a regular file and any file of more than `limit` bytes.
///
/// The type is checked before opening (opening a FIFO would block) and again
/// on the opened file (the path may have been replaced in between). The read
/// goes through `take(limit + 1)`, so a file that grows while being read
/// is still refused rather than read without end.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    check_regular(path, &std::fs::metadata(path)?)?;
    let f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    check_regular(path, &meta)?;
    if meta.len() > limit {
        return Err(too_large(path, limit));
    }
    let mut out = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    f.take(limit.saturating_add(1)).read_to_end(&mut out)?;
    if out.len() as u64 > limit {
        return Err(too_large(path, limit));
    }
    Ok(out)
}

/// [`read_bounded`] for text: the bytes must be UTF-8.
pub fn read_bounded_to_string(path: &Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not valid UTF-8", path.display()),
        )
    })
}

/// Which key names [`toml_error`] may quote from the offending line.
pub(crate) enum TomlKeys<'a> {
    /// Only these: the file holds secrets in multi-line values, one of
    /// whose lines could look like `name = ...`.
    Only(&'a [&'a str]),
    /// Any bare key at the start of the line (files whose values are on
    /// the key's own line).
    Any,
}

/// A TOML parse error as "line N (key `k`): message": without the source
/// line and caret `toml` adds to its `Display`, which would print the
/// file's values (private keys, exporter secrets) and any terminal escape
/// sequences it holds; the message (which quotes unknown field names) is
/// shown through [`escape_control`].
pub(crate) fn toml_error(text: &str, e: &toml::de::Error, keys: TomlKeys<'_>) -> String {
    let message = escape_control(e.message());
    let Some(span) = e.span() else {
        return message.into_owned();
    };
    let before = text.get(..span.start).unwrap_or_default();
    let line_no = before.matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or_default();
    let key = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| match keys {
        TomlKeys::Only(names) => names.contains(k),
        TomlKeys::Any => {
            !k.is_empty()
                && k.len() <= 64
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        }
    });
    match key {
        Some(k) => format!("line {line_no} (key `{k}`): {message}"),
        None => format!("line {line_no}: {message}"),
    }
}

/// Options for a file that must not exist yet: never opens an existing
/// path (`create_new` fails on an existing file *and* on a symlink,
/// dangling or not, so a key is never written through a link), with mode
/// 0600 for secrets from the moment the file exists (0644 otherwise).
pub fn new_file_options(secret: bool) -> std::fs::OpenOptions {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        assert_eq!(read_bounded(&p, 5).unwrap(), b"hello");
        assert_eq!(read_bounded_to_string(&p, 100).unwrap(), "hello");
        check_regular_file(&p, 5).unwrap();
    }

    #[test]
    fn over_limit_files_are_refused_naming_file_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        std::fs::write(&p, [0u8; 6]).unwrap();
        for e in [read_bounded(&p, 5).unwrap_err(), check_regular_file(&p, 5).unwrap_err()] {
            let msg = e.to_string();
            assert!(msg.contains("big") && msg.contains("5-byte limit"), "{msg}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn files_longer_than_their_reported_size_are_refused_at_the_limit() {
        // procfs files are regular files that report a size of 0: only the
        // bounded read itself can notice that they hold more than the limit.
        let p = Path::new("/proc/self/status");
        assert_eq!(std::fs::metadata(p).unwrap().len(), 0);
        let e = read_bounded(p, 16).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("16-byte limit"), "{e}");
        assert!(read_bounded(p, 1 << 20).unwrap().starts_with(b"Name:"));
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_directories_are_refused() {
        let e = read_bounded(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        let e = check_regular_file(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read_bounded(dir.path(), 1024).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
    }
}
