//! The modes under attack. A mode is one [`LabMode`] value in
//! [`registry`]; a new mode is one file here that implements the trait
//! and one line in the registry. The binding profiles B1-B7 share one
//! file ([`ProfileMode`], driven by each profile's `Needs`, as the OpenSSL
//! adapter is): a profile joins with one registry line.

mod early;
mod expat;
mod profile;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use crate::attacks::{AttackId, AttackRun, Capabilities, VictimResult};
use crate::testbed::{Genuine, Tee, Testbed};

pub use early::Early;
pub use expat::Expat;
pub use profile::ProfileMode;

/// A boxed future (the trait is object safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The identity mechanisms a mode configuration adds to its binding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdentityConfig {
    /// I1: the attested key must have a certificate for the dialled name
    /// from the client's roots.
    pub i1: bool,
    /// I2: the platform identity (sim instance id) must be on the
    /// service's allow-list (T1 only).
    pub i2: bool,
}

impl IdentityConfig {
    /// The four combinations, none first.
    pub const ALL: [IdentityConfig; 4] = [
        Self { i1: false, i2: false },
        Self { i1: true, i2: false },
        Self { i1: false, i2: true },
        Self { i1: true, i2: true },
    ];

    /// `""`, `+I1`, `+I2`, `+I1+I2`.
    pub fn suffix(self) -> &'static str {
        match (self.i1, self.i2) {
            (false, false) => "",
            (true, false) => "+I1",
            (false, true) => "+I2",
            (true, true) => "+I1+I2",
        }
    }
}

/// Whether an attack is run against a mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applicability {
    /// Run it.
    Applicable,
    /// The attack does not apply to the mode's design.
    NotApplicable(String),
    /// It applies, but the lab does not build it here.
    NotBuilt(String),
}

/// One mode configuration under attack.
pub trait LabMode: Send + Sync {
    /// Its name in the matrix (`expat+I2`).
    fn name(&self) -> String;
    /// Its family (`expat`, `early`).
    fn family(&self) -> &'static str;
    /// Whether a successful attack against it fails the lab.
    fn gating(&self) -> bool;
    /// Whether `attack` is run against it.
    fn applicable(&self, attack: AttackId) -> Applicability;
    /// Starts a genuine attester server for `tee` (the mode's real server
    /// code), reading what its clients send after attestation.
    fn serve_genuine<'a>(&'a self, tb: &'a Testbed, tee: Tee) -> BoxFuture<'a, Result<Genuine, String>>;
    /// The victim client (the mode's real relying-party code) dialling
    /// [`crate::testbed::SERVICE_NAME`] at `addr`; on attested OK it sends
    /// [`crate::testbed::SECRET`].
    fn victim<'a>(&'a self, tb: &'a Testbed, addr: SocketAddr) -> BoxFuture<'a, VictimResult>;
    /// The attacks whose construction is specific to the mode (all but D1,
    /// PH-tickets and the R5 downgrades, which [`crate::attacks`] builds
    /// from the two methods above; R5-sha1 is the mode's own in `expat`,
    /// where it is built at the RFC 9261 layer).
    fn run<'a>(
        &'a self,
        attack: AttackId,
        caps: Capabilities,
        tb: &'a Testbed,
    ) -> BoxFuture<'a, Result<AttackRun, String>>;
}

/// Every mode configuration the lab attacks.
pub fn registry() -> Vec<Box<dyn LabMode>> {
    let mut v: Vec<Box<dyn LabMode>> = Vec::new();
    for id in IdentityConfig::ALL {
        v.push(Box::new(Expat { identity: id }));
    }
    for id in IdentityConfig::ALL {
        v.push(Box::new(Early { identity: id }));
    }
    // The binding profiles B1-B7, each without and with I2.
    v.extend(ProfileMode::variants("b1-client-random"));
    v.extend(ProfileMode::variants("b2-sni"));
    v.extend(ProfileMode::variants("b2-alpn"));
    v.extend(ProfileMode::variants("b2-ext"));
    v.extend(ProfileMode::variants("b3-early-exporter"));
    v.extend(ProfileMode::variants("b4-static-cert"));
    v.extend(ProfileMode::variants("b5-nonce-early-exporter"));
    v.extend(ProfileMode::variants("b6-spki-nonce-alpn"));
    v.extend(ProfileMode::variants("b6-spki-nonce-sni"));
    v.extend(ProfileMode::variants("b7-draft06"));
    v
}

/// The check behind a refusal, from an EAR: the names of its
/// contraindicated findings.
pub fn ear_check(ear: &attested_tls::ear::Ear) -> String {
    let mut names: Vec<String> = Vec::new();
    for (sub, a) in &ear.submods {
        for f in &a.findings {
            if f.tier == attested_tls::ear::Tier::Contraindicated {
                let n = format!("{sub}.{}", f.claim);
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    if names.is_empty() {
        format!("EAR status {}", ear.status)
    } else {
        format!("EAR finding {}", names.join(", "))
    }
}

/// OpenSSL's error stack (`error:CODE:LIB:FUNC:REASON:FILE:LINE:`, comma
/// separated) as `FUNC: REASON` pairs, without codes and source paths.
pub fn openssl_reasons(stack: &str) -> String {
    stack
        .split(", ")
        .map(|e| {
            let parts: Vec<&str> = e.split(':').collect();
            match (parts.first(), parts.get(3), parts.get(4)) {
                (Some(&"error"), Some(func), Some(reason)) => format!("{func}: {reason}"),
                _ => e.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An enum value's variant name from its Debug form.
pub fn variant_name(debug: &str) -> &str {
    let end = debug.find(['(', ' ', '{']).unwrap_or(debug.len());
    &debug[..end]
}

#[cfg(test)]
mod tests {
    use super::{openssl_reasons, registry};

    #[test]
    fn openssl_error_stacks_lose_codes_and_paths() {
        assert_eq!(
            openssl_reasons(
                "error:1C8000A4:Provider routines:ecx_derive:failed during derivation:../x.c:161:, \
                 error:0A00006C:SSL routines:ssl_derive:bad key share:../s3_lib.c:5212:"
            ),
            "ecx_derive: failed during derivation, ssl_derive: bad key share"
        );
        assert_eq!(openssl_reasons("something else"), "something else");
    }

    /// Guards the registry: every profile of the library is attacked,
    /// without and with I2 (a registry line naming no profile would yield
    /// no mode), and mode names are unique.
    #[test]
    fn every_profile_is_in_the_registry_with_and_without_i2() {
        let names: Vec<String> = registry().iter().map(|m| m.name()).collect();
        for p in attested_tls::modes::profiles::names() {
            assert!(names.contains(&p.to_string()), "{p} missing from {names:?}");
            assert!(names.contains(&format!("{p}+I2")), "{p}+I2 missing from {names:?}");
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "{names:?}");
        assert!(registry()
            .iter()
            .filter(|m| m.gating())
            .all(|m| !m.name().starts_with('b')));
    }
}
