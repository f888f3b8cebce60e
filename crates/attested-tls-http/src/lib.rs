//! HTTP over attested TLS (the default mode: post-handshake Exported
//! Attestation on rustls; no OpenSSL).
//!
//! - [`AttestedConnector`]: a connector for hyper-util's `Client` (a tower
//!   `Service<Uri>`). For each `https` URI it opens TCP and runs
//!   [`attested_tls::net::connect`]; hyper gets the connection, and sends a
//!   request on it, only after the server's Evidence passed the configured
//!   appraisal. The server's attestation result reaches every response as
//!   a [`PeerAttestation`] in its extensions. A refusal fails the request
//!   with an error whose source chain holds the [`NetError`]
//!   ([`find_net_error`]).
//! - [`AttestedServer`]: an accept loop that runs [`attested_tls::net::accept`]
//!   on each connection and serves an axum `Router` over it (HTTP/1.1,
//!   hyper-util), with the client's attestation result, when the client
//!   attested, in each request's extensions as a [`PeerAttestation`].
//! - [`PeerAttestation`] is also an axum extractor: a handler that takes it
//!   answers 403 Forbidden to a client that did not attest;
//!   `Option<PeerAttestation>` serves both.
//!
//! `docs/http.md` describes them, with the GA4GH TES example
//! (`cargo run -p attested-tls-http --example tes`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
mod close;
mod server;

use std::sync::Arc;

use attested_tls::ear::Ear;

pub use attested_tls::net::NetError;
pub use client::{find_net_error, AttestedConnection, AttestedConnector};
pub use server::{AttestedServer, NotAttested};

/// The attestation result of the peer of an attested connection, as
/// appraised when the connection was established.
///
/// The connector puts the server's in the extensions of every response it
/// receives on that connection; [`AttestedServer`] puts the client's (when
/// the client attested) in the extensions of every request. It is only
/// ever made from a result the connection accepted: a refused peer has no
/// connection, so no request or response.
#[derive(Clone, Debug)]
pub struct PeerAttestation {
    ear: Arc<Ear>,
}

impl PeerAttestation {
    /// Wraps an accepted attestation result.
    pub fn new(ear: Ear) -> Self {
        Self { ear: Arc::new(ear) }
    }

    /// The attestation result (EAR).
    pub fn ear(&self) -> &Ear {
        &self.ear
    }

    /// A claim the verifier extracted from the peer's Evidence (say,
    /// `measurement` or `instance_id`), from the first submodule that has
    /// it, as a string (other JSON values in their JSON form).
    pub fn claim(&self, name: &str) -> Option<String> {
        self.ear.submods.values().find_map(|a| {
            a.claims.get(name).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
    }
}

/// The Rust examples of `docs/http.md`, compiled as doctests so that the
/// document stays true to the API.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/http.md")]
struct HttpMdDoctests;
