//! Appraisal: from Evidence to an attestation result.
//!
//! - [`verifier`]: the [`verifier::Verifier`] trait (one per platform) and
//!   the [`verifier::Appraiser`] that dispatches a CMW to them;
//! - [`policy`]: the TOML policy a relying party writes;
//! - [`ear`], [`ear_jwt`]: EAT Attestation Results (draft-ietf-rats-ear-04)
//!   and their signed (JWT) form for the passport model;
//! - [`remote`]: appraisal by a remote verifier service (background
//!   check) and signed results presented by the attester (passport);
//! - [`corim`]: reference values imported from CoRIM;
//! - [`host_identity`]: I1, the attested key's WebPKI certificate for the
//!   dialled name (anti-diversion).
//!
//! Every check fails closed: a result is affirming only when every check
//! ran and passed, and a policy-allowed exception is a warning that names it.

pub mod corim;
pub mod ear;
pub mod ear_jwt;
pub mod host_identity;
pub mod policy;
pub mod remote;
pub mod verifier;
