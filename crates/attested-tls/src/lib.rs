//! # attested-tls
//!
//! Attested TLS for confidential computing. A peer running in a TEE proves
//! to the other side of a TLS 1.3 connection what code it runs and on which
//! platform, and the proof is bound to *that* connection.
//!
//! The default mode is post-handshake **Exported Attestation**: after an
//! ordinary TLS 1.3 handshake, the relying party sends an RFC 9261
//! authenticator request; the attester answers with an Exported
//! Authenticator whose end-entity certificate entry carries Evidence (a CMW
//! in the `cmw_attestation` extension of draft-fossati-seat-expat-04) that
//! commits to `Hash(SPKI || TLS-Exporter("EXPORTER-cmw-attestation", ctx, 32))`.
//!
//! ## Layout
//!
//! The protocol core is sans-IO, like rustls' `msgs` codecs and
//! `quinn-proto`:
//! - [`codec`]: wire codecs of the TLS handshake messages RFC 9261 uses;
//! - [`ea`]: RFC 9261 request / authenticate / validate over any [`exporter::Exporter`];
//! - [`binder`]: the seat-expat binder and the `report_data` mapping;
//! - [`cmw`], [`ear`]: Conceptual Message Wrappers and EAT Attestation Results;
//! - [`attester`], [`verifier`], [`policy`]: pluggable Evidence producers,
//!   verifiers and the TOML policy; [`sim`] (simulated TEE) and [`platform`]
//!   (SEV-SNP, TDX, SGX, CCA verifiers; the configfs-tsm attester);
//! - [`corim`]: reference values from CoRIM; [`ear_jwt`]: signed EARs;
//! - [`host_identity`]: I1, the attested key's WebPKI certificate for the
//!   dialled name (anti-diversion);
//! - [`vectors`]: recomputing RFC 9261 / seat-expat worked vectors;
//! - [`crypto`], [`der`]: the few primitives and DER walks the hot path needs;
//! - [`transport`]: the framing that carries the messages in-band and the
//!   attestation session state machine.
//!
//! [`net`] is the thin tokio + rustls adapter: `connect` / `accept` return a
//! stream only after attestation succeeded.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attester;
pub mod binder;
pub mod cmw;
pub mod codec;
pub mod corim;
pub mod crypto;
pub mod der;
pub mod ea;
pub mod ear;
pub mod ear_jwt;
pub mod exporter;
pub mod fsutil;
pub mod host_identity;
pub mod modes;
pub mod net;
pub mod peers;
pub mod platform;
pub mod policy;
pub mod sim;
pub mod transport;
pub mod vectors;
pub mod verifier;

/// The README's code blocks are compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
