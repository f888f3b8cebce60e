//! Remote verification for attested-tls.
//!
//! - [`service`]: `atls verifier serve`, an HTTP verification service in
//!   the shape of Veraison's challenge-response API: a session with a
//!   nonce, Evidence submitted with its media type, a signed EAR back
//!   (draft-ietf-rats-ear-04, as a JWT) whose `eat_nonce` is the session
//!   nonce.
//! - [`client`]: the HTTP client a relying party (background check) or
//!   an attester (passport) uses to have Evidence appraised.
//! - [`passport`]: an attester that presents a signed EAR from the
//!   verifier instead of its Evidence (the passport model).
//! - [`api`]: the resources and media types on the wire.
//!
//! The core `attested-tls` crate stays free of HTTP: this crate carries
//! the server and the client. The wire format is in `docs/verifier.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod client;
pub mod passport;
pub mod service;

pub use client::HttpVerifierClient;
pub use passport::PassportAttester;
pub use service::{ServiceConfig, ServiceError, VerifierService};
