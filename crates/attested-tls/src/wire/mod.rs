//! Wire formats: the bytes other parties send, each behind one codec.
//!
//! Decoders here take untrusted input: they check every length before
//! allocating, refuse trailing bytes, and report what was wrong with a typed
//! error. Nothing in this module decides trust.
//!
//! - [`codec`]: the TLS handshake structures RFC 9261 uses (requests,
//!   Certificate, CertificateVerify, Finished, extensions);
//! - [`cmw`]: Conceptual Message Wrappers (RFC 9999), CBOR and JSON;
//! - [`der`]: the small DER walker for certificates and keys.

pub mod cmw;
pub mod codec;
pub mod der;
