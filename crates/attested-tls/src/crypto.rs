//! Cryptographic primitives shared by the protocol core: the cipher-suite
//! hash, HMAC, the TLS 1.3 HKDF-Expand-Label construction and a
//! constant-time comparison.
//!
//! Everything here is a thin wrapper over `aws-lc-rs`, the provider rustls
//! already links, so the attested connection never pulls in a second
//! implementation of the same primitive.

use aws_lc_rs::{digest, hmac};

/// The hash function of a TLS 1.3 cipher suite.
///
/// RFC 9261 derives every length from this hash (`Hash.length`), so nothing
/// in the crate hard-codes 32 or 48 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-256 (TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256).
    Sha256,
    /// SHA-384 (TLS_AES_256_GCM_SHA384).
    Sha384,
}

impl HashAlgorithm {
    /// Output length in bytes (`Hash.length`).
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
        }
    }

    /// The name used in vector files and policies (`sha256`, `sha384`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
        }
    }

    /// Parses `sha256` / `sha384` (case-insensitive, `-` allowed).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            _ => None,
        }
    }

    fn digest_alg(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
        }
    }

    fn hmac_alg(self) -> hmac::Algorithm {
        match self {
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha384 => hmac::HMAC_SHA384,
        }
    }

    /// `Hash(data)`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        digest::digest(self.digest_alg(), data).as_ref().to_vec()
    }

    /// `Hash(parts[0] || parts[1] || ...)` without concatenating first.
    pub fn digest_parts(self, parts: &[&[u8]]) -> Vec<u8> {
        let mut ctx = digest::Context::new(self.digest_alg());
        for p in parts {
            ctx.update(p);
        }
        ctx.finish().as_ref().to_vec()
    }

    /// A running hash, for transcripts that share a prefix: clone it to
    /// finish one value and keep feeding the original.
    pub fn context(self) -> Transcript {
        Transcript(digest::Context::new(self.digest_alg()))
    }

    /// `HMAC-Hash(key, data)`.
    pub fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        let key = hmac::Key::new(self.hmac_alg(), key);
        hmac::sign(&key, data).as_ref().to_vec()
    }

    /// HKDF-Expand (RFC 5869 §2.3) with this hash.
    ///
    /// Written over HMAC rather than through `aws_lc_rs::hkdf` because TLS
    /// exporters need arbitrary labels and output lengths that the typed
    /// HKDF API does not expose.
    pub fn hkdf_expand(self, prk: &[u8], info: &[u8], len: usize) -> Vec<u8> {
        self.hkdf_expand_with(&self.hmac_key(prk), info, len)
    }

    /// An HMAC key for this hash, for secrets used in several expansions.
    pub fn hmac_key(self, secret: &[u8]) -> hmac::Key {
        hmac::Key::new(self.hmac_alg(), secret)
    }

    /// HKDF-Expand with a prepared HMAC key (see [`HashAlgorithm::hmac_key`]).
    pub fn hkdf_expand_with(self, key: &hmac::Key, info: &[u8], len: usize) -> Vec<u8> {
        assert!(len <= 255 * self.output_len(), "HKDF-Expand length too large");
        let mut out = Vec::with_capacity(len);
        let mut t: Vec<u8> = Vec::new();
        let mut counter = 1u8;
        while out.len() < len {
            let mut ctx = hmac::Context::with_key(key);
            ctx.update(&t);
            ctx.update(info);
            ctx.update(&[counter]);
            t = ctx.sign().as_ref().to_vec();
            let take = (len - out.len()).min(t.len());
            out.extend_from_slice(&t[..take]);
            counter = counter.wrapping_add(1);
        }
        out
    }

    /// HKDF-Expand-Label (RFC 8446 §7.1): the label is prefixed with `tls13 `.
    pub fn hkdf_expand_label(self, secret: &[u8], label: &[u8], context: &[u8], len: usize) -> Vec<u8> {
        self.hkdf_expand_label_with(&self.hmac_key(secret), label, context, len)
    }

    /// HKDF-Expand-Label with a prepared HMAC key for the secret.
    pub fn hkdf_expand_label_with(self, secret: &hmac::Key, label: &[u8], context: &[u8], len: usize) -> Vec<u8> {
        let full_label_len = 6 + label.len();
        assert!(
            full_label_len <= 255 && context.len() <= 255,
            "HKDF label or context too long"
        );
        let mut info = Vec::with_capacity(4 + full_label_len + context.len());
        info.extend_from_slice(&(len as u16).to_be_bytes());
        info.push(full_label_len as u8);
        info.extend_from_slice(b"tls13 ");
        info.extend_from_slice(label);
        info.push(context.len() as u8);
        info.extend_from_slice(context);
        self.hkdf_expand_with(secret, &info, len)
    }
}

/// A running hash (see [`HashAlgorithm::context`]).
#[derive(Clone)]
pub struct Transcript(digest::Context);

impl Transcript {
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The hash of everything fed so far, leaving `self` usable.
    pub fn current(&self) -> Vec<u8> {
        self.0.clone().finish().as_ref().to_vec()
    }
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transcript")
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Fills a fresh buffer with `len` bytes from the system CSPRNG.
pub fn random_bytes(len: usize) -> Vec<u8> {
    use aws_lc_rs::rand::SecureRandom;
    let mut out = vec![0u8; len];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut out)
        .expect("system random generator failed");
    out
}

/// SHA-512, used by the `report_data` mapping (see [`crate::binder`]).
pub fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut ctx = digest::Context::new(&digest::SHA512);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 64];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// PEM text of `der` under `label` (RFC 7468), 64 characters a line.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_expand_matches_rfc5869_case_1() {
        // RFC 5869 A.1: PRK and OKM for IKM = 0x0b * 22.
        let prk = hex::decode("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let okm = HashAlgorithm::Sha256.hkdf_expand(&prk, &info, 42);
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn lengths_follow_the_hash() {
        assert_eq!(HashAlgorithm::Sha256.digest(b"").len(), 32);
        assert_eq!(HashAlgorithm::Sha384.digest(b"").len(), 48);
        assert_eq!(HashAlgorithm::Sha384.hmac(b"k", b"d").len(), 48);
        assert_eq!(HashAlgorithm::from_name("SHA-384"), Some(HashAlgorithm::Sha384));
        assert_eq!(HashAlgorithm::from_name("md5"), None);
    }

    #[test]
    fn constant_time_eq_distinguishes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn hkdf_expand_label_accepts_the_longest_label_and_context() {
        let label = vec![b'l'; 255 - 6];
        let context = vec![b'c'; 255];
        let out = HashAlgorithm::Sha256.hkdf_expand_label(&[0; 32], &label, &context, 255 * 32);
        assert_eq!(out.len(), 255 * 32);
    }

    #[test]
    #[should_panic(expected = "HKDF label or context too long")]
    fn hkdf_expand_label_refuses_a_label_over_255_bytes_with_its_prefix() {
        HashAlgorithm::Sha256.hkdf_expand_label(&[0; 32], &[b'l'; 255 - 5], b"", 32);
    }

    #[test]
    #[should_panic(expected = "HKDF label or context too long")]
    fn hkdf_expand_label_refuses_a_context_over_255_bytes() {
        HashAlgorithm::Sha256.hkdf_expand_label(&[0; 32], b"l", &[b'c'; 256], 32);
    }

    #[test]
    #[should_panic(expected = "HKDF-Expand length too large")]
    fn hkdf_expand_refuses_more_than_255_blocks() {
        HashAlgorithm::Sha384.hkdf_expand(&[0; 48], b"info", 255 * 48 + 1);
    }
}
