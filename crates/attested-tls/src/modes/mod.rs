//! What binds Evidence to a connection, one module per mode.
//!
//! - [`expat`]: the default mode, post-handshake Exported Attestation
//!   (draft-fossati-seat-expat over RFC 9261, whose messages are [`crate::ea`]):
//!   the binder and the `report_data` mapping (also [`crate::binder`]).
//!
//! Further modes are explicit and non-default; each is one file here (sans-IO: codecs, binder,
//! `report_data` mapping) plus an adapter in the crate of the TLS stack
//! that can carry it.
//!
//! - [`early`]: intra-handshake attestation
//!   (draft-fossati-seat-early-attestation -05..-07); its OpenSSL adapter is
//!   the `attested-tls-openssl` crate.
//! - [`profiles`]: the binding mechanisms of the field (B1-B7), explicit,
//!   named, never a default; OpenSSL adapter in `attested_tls_openssl::profiles`.

pub mod early;
pub mod expat;
pub mod profiles;

use crate::ear::{Appraisal, Ear};

/// The claim every submodule of an EAR produced on a connection carries:
/// the mode the result rests on ([`MODE_EXPAT`], [`MODE_EARLY`], or a
/// binding profile's name, [`profiles`]), so that a result says how its
/// Evidence was bound to the connection.
pub const MODE_CLAIM: &str = "attested_tls_mode";
/// The default mode, post-handshake Exported Attestation
/// (draft-fossati-seat-expat over RFC 9261).
pub const MODE_EXPAT: &str = "expat";
/// Mode `early`, intra-handshake attestation ([`early`]).
pub const MODE_EARLY: &str = "early";

/// Records in every submodule of `ear` that the result rests on `mode`.
pub fn mark_mode(ear: &mut Ear, mode: &'static str) {
    for a in ear.submods.values_mut() {
        Appraisal::claim(a, MODE_CLAIM, mode);
    }
}
