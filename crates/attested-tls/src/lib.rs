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
//! `quinn-proto`; the folders show the architecture:
//! - [`wire`]: wire formats ([`codec`] for the TLS handshake structures
//!   RFC 9261 uses, [`cmw`], [`der`]);
//! - [`ea`]: RFC 9261 request / authenticate / validate over any
//!   [`exporter::Exporter`];
//! - [`modes`]: what binds Evidence to a connection, one module per mode:
//!   [`modes::expat`] (the default; also reachable as [`binder`]),
//!   [`modes::early`] (intra-handshake), [`modes::profiles`] (the field's
//!   binding mechanisms, one file per design);
//! - [`appraisal`]: [`verifier`], [`policy`], [`ear`] / [`ear_jwt`],
//!   [`corim`], [`host_identity`];
//! - [`evidence`]: [`attester`], the simulated TEE ([`sim`]) and the
//!   hardware platforms ([`platform`]: SEV-SNP, TDX, SGX, CCA verifiers;
//!   the configfs-tsm attester);
//! - [`peers`]: readers of the attested-TLS formats other systems put on
//!   the wire;
//! - [`transport`]: the framing that carries the messages in-band and the
//!   attestation session state machine;
//! - [`crypto`], [`exporter`], [`fsutil`], [`vectors`]: primitives, TLS
//!   exporters, bounded file reads, worked-vector recomputation.
//!
//! [`net`] is the thin tokio + rustls adapter: `connect` / `accept` return a
//! stream only after attestation succeeded. The OpenSSL adapters (mode
//! `early`, the default mode on OpenSSL, the binding profiles) are the
//! separate `attested-tls-openssl` crate, so a program that uses only the
//! default mode builds without OpenSSL.
//!
//! The modules of [`wire`], [`appraisal`] and [`evidence`] are also
//! re-exported at the crate root (`attested_tls::ear`, `attested_tls::sim`,
//! ...), the paths they had before the folders existed.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod appraisal;
pub mod crypto;
pub mod ea;
pub mod evidence;
pub mod exporter;
pub mod fsutil;
pub mod modes;
pub mod net;
pub mod peers;
pub mod transport;
pub mod vectors;
pub mod wire;

pub use appraisal::{corim, ear, ear_jwt, host_identity, policy, remote, verifier};
pub use evidence::{attester, platform, sim};
pub use modes::expat as binder;
pub use wire::{cmw, codec, der};

/// The README's code blocks are compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
