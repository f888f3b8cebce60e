//! What binds Evidence to a connection, one module per mode.
//!
//! The default mode, post-handshake Exported Attestation, lives in
//! [`crate::binder`] and [`crate::ea`]. Further modes are explicit and
//! non-default; each is one file here (sans-IO: codecs, binder,
//! `report_data` mapping) plus an adapter in the crate of the TLS stack
//! that can carry it.
//!
//! - [`early`]: intra-handshake attestation
//!   (draft-fossati-seat-early-attestation -05..-07); its OpenSSL adapter is
//!   the `attested-tls-openssl` crate.
//! - [`profiles`]: the binding mechanisms of the field (B1-B7), explicit,
//!   named, never a default; OpenSSL adapter in `attested_tls_openssl::profiles`.

pub mod early;
pub mod profiles;
