//! Sources of TLS exporter values (RFC 8446 §7.5).
//!
//! The RFC 9261 logic in [`crate::ea`] never talks to a TLS library
//! directly: it asks an [`Exporter`] for `TLS-Exporter(label, context, L)`.
//! A live rustls connection is one source; [`SecretExporter`] computes the
//! same values from a fixed `exporter_master_secret`, which is how the
//! shared test vectors stand in for a connection.

use crate::crypto::HashAlgorithm;

/// Why an exporter value could not be produced.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ExporterError {
    /// The TLS connection has not finished its handshake.
    #[error("the TLS handshake has not completed, no exporter is available")]
    HandshakeIncomplete,
    /// The connection negotiated something other than TLS 1.3.
    #[error("attested connections require TLS 1.3 (negotiated {0})")]
    NotTls13(String),
    /// The TLS library refused the export.
    #[error("the TLS library refused to export keying material: {0}")]
    Tls(String),
    /// The label or output length does not fit TLS 1.3's HkdfLabel (a
    /// label of at most 249 bytes, at most 255 hash-sized output blocks).
    #[error("cannot export keying material: {0}")]
    Unencodable(&'static str),
}

/// Something that can compute `TLS-Exporter(label, context, len)` for one
/// TLS 1.3 connection.
pub trait Exporter {
    /// The negotiated cipher suite's hash.
    fn hash(&self) -> Result<HashAlgorithm, ExporterError>;
    /// `TLS-Exporter(label, context, len)`; an empty `context` is the
    /// zero-length context (TLS 1.3 does not distinguish it from none).
    fn export(&self, label: &[u8], context: &[u8], len: usize) -> Result<Vec<u8>, ExporterError>;
}

/// Remembers the exporter values of one connection, so that each is derived
/// once however often the protocol needs it.
///
/// RFC 9261 derives the authenticator handshake context and finished key
/// with an empty context, so they are the same for every authenticator of a
/// connection and direction; the binder's value depends only on the
/// request's context, which the requester knows before the answer arrives.
/// A requester can therefore derive these while it waits
/// ([`crate::transport::Session::prepare`]) instead of after the
/// authenticator arrived, when they are on the connection's critical path.
/// At most [`ExporterCache::CAPACITY`] values are kept (oldest evicted).
///
/// ```
/// use attested_tls::exporter::{Exporter, ExporterCache, SecretExporter};
/// use attested_tls::crypto::HashAlgorithm;
/// let exp = SecretExporter::new(HashAlgorithm::Sha256, vec![0u8; 32]);
/// let cache = ExporterCache::default();
/// let a = cache.with(&exp).export(b"EXPORTER-test", b"", 32).unwrap();
/// assert_eq!(cache.len(), 1);
/// assert_eq!(cache.with(&exp).export(b"EXPORTER-test", b"", 32).unwrap(), a);
/// assert_eq!(a, exp.export(b"EXPORTER-test", b"", 32).unwrap());
/// ```
#[derive(Default)]
pub struct ExporterCache {
    entries: std::cell::RefCell<std::collections::VecDeque<CachedValue>>,
}

struct CachedValue {
    label: Vec<u8>,
    context: Vec<u8>,
    value: Vec<u8>,
}

impl ExporterCache {
    /// Values kept at most.
    pub const CAPACITY: usize = 8;

    /// An exporter that answers from this cache and fills it from `inner`.
    /// Use it only with the connection the cache belongs to.
    pub fn with<'a>(&'a self, inner: &'a dyn Exporter) -> CachingExporter<'a> {
        CachingExporter { inner, cache: self }
    }

    /// Number of cached values.
    pub fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for ExporterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The values are secrets (a finished key among them): never printed.
        f.debug_struct("ExporterCache").field("values", &self.len()).finish()
    }
}

/// An [`Exporter`] backed by an [`ExporterCache`]; see there.
pub struct CachingExporter<'a> {
    inner: &'a dyn Exporter,
    cache: &'a ExporterCache,
}

impl Exporter for CachingExporter<'_> {
    fn hash(&self) -> Result<HashAlgorithm, ExporterError> {
        self.inner.hash()
    }

    fn export(&self, label: &[u8], context: &[u8], len: usize) -> Result<Vec<u8>, ExporterError> {
        let hit = self
            .cache
            .entries
            .borrow()
            .iter()
            .find(|e| e.label == label && e.context == context && e.value.len() == len)
            .map(|e| e.value.clone());
        if let Some(v) = hit {
            return Ok(v);
        }
        let value = self.inner.export(label, context, len)?;
        let mut entries = self.cache.entries.borrow_mut();
        if entries.len() == ExporterCache::CAPACITY {
            entries.pop_front();
        }
        entries.push_back(CachedValue {
            label: label.to_vec(),
            context: context.to_vec(),
            value: value.clone(),
        });
        Ok(value)
    }
}

/// Computes exporter values from a known `exporter_master_secret`.
///
/// Used for test vectors and for implementations that obtain the secret
/// from elsewhere. Never derive this secret from a live connection in
/// production: use the TLS library's exporter.
///
/// ```
/// use attested_tls::exporter::{Exporter, SecretExporter};
/// use attested_tls::crypto::HashAlgorithm;
/// let exp = SecretExporter::new(HashAlgorithm::Sha256, vec![0u8; 32]);
/// assert_eq!(exp.export(b"EXPORTER-test", b"", 32).unwrap().len(), 32);
/// ```
#[derive(Clone)]
pub struct SecretExporter {
    hash: HashAlgorithm,
    /// HMAC key of the exporter_master_secret (every export starts with it).
    secret_key: aws_lc_rs::hmac::Key,
}

impl SecretExporter {
    /// Wraps an `exporter_master_secret` for the given cipher-suite hash.
    pub fn new(hash: HashAlgorithm, exporter_master_secret: Vec<u8>) -> Self {
        Self {
            hash,
            secret_key: hash.hmac_key(&exporter_master_secret),
        }
    }
}

impl std::fmt::Debug for SecretExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretExporter")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl Exporter for SecretExporter {
    fn hash(&self) -> Result<HashAlgorithm, ExporterError> {
        Ok(self.hash)
    }

    fn export(&self, label: &[u8], context: &[u8], len: usize) -> Result<Vec<u8>, ExporterError> {
        let h = self.hash;
        // Refused here rather than left to the HKDF helpers' assertions: the
        // caller (a test vector, a profile) chose them.
        if label.len() > 249 {
            return Err(ExporterError::Unencodable("the label is longer than 249 bytes"));
        }
        if len > 255 * h.output_len() {
            return Err(ExporterError::Unencodable("the output is longer than 255 hash blocks"));
        }
        // Derive-Secret(Secret, label, "") = HKDF-Expand-Label(Secret, label, Hash(""), Hash.length)
        let empty_hash: &[u8] = match h {
            HashAlgorithm::Sha256 => &SHA256_EMPTY,
            HashAlgorithm::Sha384 => &SHA384_EMPTY,
        };
        let derived = h.hkdf_expand_label_with(&self.secret_key, label, empty_hash, h.output_len());
        Ok(h.hkdf_expand_label(&derived, b"exporter", &h.digest(context), len))
    }
}

/// SHA-256("").
const SHA256_EMPTY: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];
/// SHA-384("").
const SHA384_EMPTY: [u8; 48] = [
    0x38, 0xb0, 0x60, 0xa7, 0x51, 0xac, 0x96, 0x38, 0x4c, 0xd9, 0x32, 0x7e, 0xb1, 0xb1, 0xe3, 0x6a, 0x21, 0xfd, 0xb7,
    0x11, 0x14, 0xbe, 0x07, 0x43, 0x4c, 0x0c, 0xc7, 0xbf, 0x63, 0xf6, 0xe1, 0xda, 0x27, 0x4e, 0xde, 0xbf, 0xe7, 0x6f,
    0x65, 0xfb, 0xd5, 0x1a, 0xd2, 0xf1, 0x48, 0x98, 0xb9, 0x5b,
];

fn rustls_hash(
    suite: Option<rustls::SupportedCipherSuite>,
    version: Option<rustls::ProtocolVersion>,
) -> Result<HashAlgorithm, ExporterError> {
    match version {
        Some(rustls::ProtocolVersion::TLSv1_3) => {}
        Some(v) => return Err(ExporterError::NotTls13(format!("{v:?}"))),
        None => return Err(ExporterError::HandshakeIncomplete),
    }
    let suite = suite.ok_or(ExporterError::HandshakeIncomplete)?;
    let tls13 = suite
        .tls13()
        .ok_or_else(|| ExporterError::NotTls13(format!("{:?}", suite.suite())))?;
    match tls13.common.hash_provider.algorithm() {
        rustls::crypto::hash::HashAlgorithm::SHA256 => Ok(HashAlgorithm::Sha256),
        rustls::crypto::hash::HashAlgorithm::SHA384 => Ok(HashAlgorithm::Sha384),
        other => Err(ExporterError::Tls(format!("unsupported cipher-suite hash {other:?}"))),
    }
}

macro_rules! impl_rustls_exporter {
    ($conn:ty) => {
        impl Exporter for $conn {
            fn hash(&self) -> Result<HashAlgorithm, ExporterError> {
                if self.is_handshaking() {
                    return Err(ExporterError::HandshakeIncomplete);
                }
                rustls_hash(self.negotiated_cipher_suite(), self.protocol_version())
            }

            fn export(&self, label: &[u8], context: &[u8], len: usize) -> Result<Vec<u8>, ExporterError> {
                // Checks TLS 1.3 and handshake completion before exporting.
                Exporter::hash(self)?;
                self.export_keying_material(vec![0u8; len], label, Some(context))
                    .map_err(|e| ExporterError::Tls(e.to_string()))
            }
        }
    };
}

impl_rustls_exporter!(rustls::ClientConnection);
impl_rustls_exporter!(rustls::ServerConnection);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_exporter_refuses_unencodable_requests_instead_of_panicking() {
        for h in [HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
            let exp = SecretExporter::new(h, vec![7; h.output_len()]);
            assert!(exp.export(&[b'a'; 249], b"", 32).is_ok());
            assert!(matches!(
                exp.export(&[b'a'; 250], b"", 32),
                Err(ExporterError::Unencodable(m)) if m.contains("249")
            ));
            assert_eq!(
                exp.export(b"EXPORTER-x", b"", 255 * h.output_len()).unwrap().len(),
                255 * h.output_len()
            );
            assert!(matches!(
                exp.export(b"EXPORTER-x", b"", 255 * h.output_len() + 1),
                Err(ExporterError::Unencodable(m)) if m.contains("255")
            ));
        }
    }

    #[test]
    fn cache_returns_what_the_exporter_returns_and_evicts_oldest() {
        let e = SecretExporter::new(HashAlgorithm::Sha384, vec![9u8; 48]);
        let cache = ExporterCache::default();
        let c = cache.with(&e);
        // Same label, different context or length: distinct values.
        let keys: [(&[u8], &[u8], usize); 4] = [
            (b"EXPORTER-a", b"", 48),
            (b"EXPORTER-a", b"x", 48),
            (b"EXPORTER-a", b"", 32),
            (b"EXPORTER-b", b"", 48),
        ];
        for (label, context, len) in keys {
            assert_eq!(
                c.export(label, context, len).unwrap(),
                e.export(label, context, len).unwrap()
            );
        }
        assert_eq!(cache.len(), 4);
        assert_eq!(
            c.export(b"EXPORTER-a", b"x", 48).unwrap(),
            e.export(b"EXPORTER-a", b"x", 48).unwrap()
        );
        assert_eq!(cache.len(), 4, "a hit adds nothing");
        for i in 0..20u8 {
            c.export(b"EXPORTER-c", &[i], 16).unwrap();
        }
        assert_eq!(cache.len(), ExporterCache::CAPACITY);
        assert!(!format!("{cache:?}").contains("EXPORTER"));
    }

    #[test]
    fn cache_does_not_remember_failures() {
        struct Failing;
        impl Exporter for Failing {
            fn hash(&self) -> Result<HashAlgorithm, ExporterError> {
                Err(ExporterError::HandshakeIncomplete)
            }
            fn export(&self, _: &[u8], _: &[u8], _: usize) -> Result<Vec<u8>, ExporterError> {
                Err(ExporterError::HandshakeIncomplete)
            }
        }
        let cache = ExporterCache::default();
        assert_eq!(
            cache.with(&Failing).export(b"EXPORTER-a", b"", 32),
            Err(ExporterError::HandshakeIncomplete)
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn empty_hash_constants_are_right() {
        assert_eq!(&SHA256_EMPTY[..], &HashAlgorithm::Sha256.digest(b"")[..]);
        assert_eq!(&SHA384_EMPTY[..], &HashAlgorithm::Sha384.digest(b"")[..]);
    }

    #[test]
    fn distinct_labels_and_contexts_give_distinct_values() {
        let e = SecretExporter::new(HashAlgorithm::Sha384, vec![7u8; 48]);
        let a = e.export(b"EXPORTER-a", b"", 48).unwrap();
        let b = e.export(b"EXPORTER-b", b"", 48).unwrap();
        let c = e.export(b"EXPORTER-a", b"x", 48).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 48);
    }

    #[test]
    fn rustls_hash_refuses_other_versions_and_unfinished_handshakes() {
        assert_eq!(
            rustls_hash(None, Some(rustls::ProtocolVersion::TLSv1_2)),
            Err(ExporterError::NotTls13("TLSv1_2".into()))
        );
        assert_eq!(rustls_hash(None, None), Err(ExporterError::HandshakeIncomplete));
        assert_eq!(
            rustls_hash(None, Some(rustls::ProtocolVersion::TLSv1_3)),
            Err(ExporterError::HandshakeIncomplete)
        );
        let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384;
        assert_eq!(
            rustls_hash(Some(suite), Some(rustls::ProtocolVersion::TLSv1_3)),
            Ok(HashAlgorithm::Sha384)
        );
        assert!(matches!(
            rustls_hash(Some(suite), Some(rustls::ProtocolVersion::TLSv1_2)),
            Err(ExporterError::NotTls13(_))
        ));
    }

    #[test]
    fn cache_evicts_the_oldest_value_not_the_newest() {
        struct Counting(SecretExporter, std::cell::Cell<usize>);
        impl Exporter for Counting {
            fn hash(&self) -> Result<HashAlgorithm, ExporterError> {
                self.0.hash()
            }
            fn export(&self, label: &[u8], context: &[u8], len: usize) -> Result<Vec<u8>, ExporterError> {
                self.1.set(self.1.get() + 1);
                self.0.export(label, context, len)
            }
        }
        let inner = Counting(SecretExporter::new(HashAlgorithm::Sha256, vec![1u8; 32]), 0.into());
        let cache = ExporterCache::default();
        let c = cache.with(&inner);
        let n = ExporterCache::CAPACITY as u8;
        for i in 0..=n {
            c.export(b"EXPORTER-k", &[i], 32).unwrap();
        }
        assert_eq!(inner.1.get(), usize::from(n) + 1);
        // The newest CAPACITY values are all still cached...
        for i in 1..=n {
            assert_eq!(
                c.export(b"EXPORTER-k", &[i], 32).unwrap(),
                inner.0.export(b"EXPORTER-k", &[i], 32).unwrap()
            );
        }
        assert_eq!(inner.1.get(), usize::from(n) + 1, "a recent value was evicted");
        // ...and the oldest one is derived again.
        c.export(b"EXPORTER-k", &[0], 32).unwrap();
        assert_eq!(inner.1.get(), usize::from(n) + 2);
    }
}
