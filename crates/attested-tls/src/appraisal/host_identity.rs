//! Host identity (I1): the attested key must also hold a WebPKI
//! certificate for the name the client dialled.
//!
//! Attestation proves *what* runs; it does not prove *for whom*. A genuine
//! TEE running the same code for someone else (the diversion target T2 of
//! `../shared/spec/binding-mechanisms.md`, attack D1) produces Evidence
//! that passes the same policy. I1 closes that gap: the relying party also
//! requires that the attested key (in the default mode the authenticator
//! key, whose `AIK_pub_hash = Hash(SPKI)` the Evidence commits to) is the
//! end-entity key of a certificate chain that
//!
//! - chains to roots the relying party trusts *for this purpose*,
//! - is valid for the server name the client dialled (DNS name or IP
//!   address in the subjectAltName),
//! - is valid at the verification time, with the serverAuth extended key
//!   usage if the end entity lists extended key usages,
//!
//! checked by rustls' WebPKI server-certificate verifier (the same checks
//! a browser-style TLS client makes on a server certificate). T2 has no
//! certificate for that name from those roots, so it is refused, and the
//! refusal names the check.
//!
//! Sans-IO: [`HostIdentity::verify`] takes the chain, the name and the
//! time; [`HostIdentityCheck::apply`] also records the outcome in an
//! [`Ear`] (a `host_identity` claim, or a contraindicated `host_identity`
//! finding) so that the result says that I1 was checked. The session
//! ([`crate::transport::SessionConfig::host_identity`]) runs it after it
//! validated the authenticator and appraised the Evidence; the tokio
//! adapter sets it from [`crate::net::AttestationConfig::host_identity`]
//! and the name given to [`crate::net::connect`]. See docs/host-identity.md.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::UnixTime;
/// The certificate and server-name types of this module's API (rustls'),
/// for callers on other TLS stacks (mode `early` on OpenSSL).
pub use rustls::pki_types::{CertificateDer, ServerName};

use crate::ear::{claim_value, Ear, Tier, TrustClaim};

/// The EAR claim (and finding) name of the I1 check.
pub const CLAIM: &str = "host_identity";

/// Why a host identity requirement could not be set up, or was not met.
#[derive(Debug, thiserror::Error)]
pub enum HostIdentityError {
    /// No trusted root was given: I1 cannot be required without roots
    /// (it would accept nothing, or, worse, be skipped).
    #[error("host identity (I1) is required but no trusted root certificate was given")]
    NoRoots,
    /// A root certificate could not be read or used as a trust anchor.
    #[error("host identity (I1) root {source_name}: {reason}")]
    BadRoot {
        /// The file (or "root N") it came from.
        source_name: String,
        /// What was wrong.
        reason: String,
    },
    /// The verification time is before the Unix epoch.
    #[error("host identity (I1): verification time {0} is before 1970")]
    BadTime(time::OffsetDateTime),
    /// Host identity is required (by the appraiser's policy) but this
    /// connection has no server name to check it for (a server appraising
    /// its client, or a session configured without one).
    #[error("host identity (I1) is required by policy {policy_id} but no server name is known on this connection to check it for")]
    NoServerName {
        /// The policy that requires it.
        policy_id: String,
    },
    /// The authenticator carried no certificate.
    #[error("host identity (I1): the authenticator carries no certificate")]
    NoCertificate,
    /// The attested key's certificate chain does not verify for the name
    /// against the trusted roots (the WebPKI reason is kept).
    #[error(
        "host identity (I1): the attested key has no certificate for {server_name} from the trusted roots: {reason}"
    )]
    NotCertified {
        /// The dialled name.
        server_name: String,
        /// The WebPKI verifier's reason (unknown issuer, expired, not
        /// valid for the name, ...).
        reason: String,
    },
}

/// The relying party's I1 requirement: the roots a host-identity
/// certificate must chain to. Cheap to clone.
#[derive(Clone)]
pub struct HostIdentity {
    verifier: Arc<WebPkiServerVerifier>,
    roots: usize,
}

impl std::fmt::Debug for HostIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostIdentity").field("roots", &self.roots).finish()
    }
}

impl HostIdentity {
    /// Requires certificates chaining to `roots`. An empty store is
    /// refused ([`HostIdentityError::NoRoots`]): fail closed.
    pub fn new(roots: rustls::RootCertStore) -> Result<Self, HostIdentityError> {
        if roots.is_empty() {
            return Err(HostIdentityError::NoRoots);
        }
        let count = roots.len();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| HostIdentityError::BadRoot {
                source_name: "root store".into(),
                reason: e.to_string(),
            })?;
        Ok(Self { verifier, roots: count })
    }

    /// Requires certificates chaining to the given DER root certificates.
    pub fn from_der(roots: impl IntoIterator<Item = CertificateDer<'static>>) -> Result<Self, HostIdentityError> {
        let mut store = rustls::RootCertStore::empty();
        for (i, root) in roots.into_iter().enumerate() {
            store.add(root).map_err(|e| HostIdentityError::BadRoot {
                source_name: format!("root {i}"),
                reason: e.to_string(),
            })?;
        }
        Self::new(store)
    }

    /// Requires certificates chaining to the roots in the given PEM files
    /// (each holds one or more `CERTIFICATE` blocks; a file without one is
    /// an error).
    pub fn from_pem_files<P: AsRef<Path>>(files: &[P]) -> Result<Self, HostIdentityError> {
        let mut roots = Vec::new();
        for file in files {
            let file = file.as_ref();
            let bad = |reason: String| HostIdentityError::BadRoot {
                source_name: file.display().to_string(),
                reason,
            };
            let pem = crate::fsutil::read_bounded(file, crate::fsutil::MAX_CONFIG_FILE_LEN)
                .map_err(|e| bad(e.to_string()))?;
            let before = roots.len();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                roots.push(cert.map_err(|e| bad(format!("not PEM: {e}")))?);
            }
            if roots.len() == before {
                return Err(bad("no CERTIFICATE block".into()));
            }
        }
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root).map_err(|e| HostIdentityError::BadRoot {
                source_name: "PEM root".into(),
                reason: e.to_string(),
            })?;
        }
        Self::new(store)
    }

    /// Number of trusted roots.
    pub fn root_count(&self) -> usize {
        self.roots
    }

    /// The requirement for one connection: certificates for `server_name`.
    pub fn for_server(&self, server_name: ServerName<'static>) -> HostIdentityCheck {
        HostIdentityCheck {
            identity: self.clone(),
            server_name,
        }
    }

    /// Checks that `cert_chain` (end entity first: the attested key's
    /// certificate, then intermediates) verifies for `server_name` against
    /// the trusted roots at `now`, with rustls' WebPKI verifier.
    pub fn verify(
        &self,
        cert_chain: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: time::OffsetDateTime,
    ) -> Result<(), HostIdentityError> {
        let (leaf, intermediates) = cert_chain.split_first().ok_or(HostIdentityError::NoCertificate)?;
        let secs = u64::try_from(now.unix_timestamp()).map_err(|_| HostIdentityError::BadTime(now))?;
        let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
        self.verifier
            .verify_server_cert(leaf, intermediates, server_name, &[], now)
            .map(|_| ())
            .map_err(|e| HostIdentityError::NotCertified {
                server_name: server_name.to_str().into_owned(),
                reason: e.to_string(),
            })
    }
}

/// An I1 requirement bound to the name one connection dialled.
#[derive(Clone, Debug)]
pub struct HostIdentityCheck {
    /// The trusted roots.
    pub identity: HostIdentity,
    /// The name the client dialled (the TLS server name).
    pub server_name: ServerName<'static>,
}

impl HostIdentityCheck {
    /// Verifies the attested key's chain (see [`HostIdentity::verify`])
    /// and records the outcome in every submodule of `ear` (each one's
    /// Evidence committed to that key): on success a `host_identity` claim
    /// naming the server and `instance-identity` trustworthy; on failure a
    /// contraindicated `host_identity` finding whose reason is the error,
    /// and `instance-identity` untrustworthy (97). The EAR's status is
    /// recomputed, so a refused check makes it contraindicated. Returns the
    /// check's own result as well.
    pub fn apply(
        &self,
        ear: &mut Ear,
        cert_chain: &[CertificateDer<'_>],
        now: time::OffsetDateTime,
    ) -> Result<(), HostIdentityError> {
        let name = self.server_name.to_str().into_owned();
        let result = self.identity.verify(cert_chain, &self.server_name, now);
        let expected = format!(
            "a certificate for {name} chaining to one of the {} trusted roots",
            self.identity.roots
        );
        record(ear, result.as_ref().map(|()| name.as_str()), expected);
        result
    }
}

/// Records a host identity outcome in every submodule of `ear`: `Ok(name)`
/// as the `host_identity` claim, an error as a contraindicated
/// `host_identity` finding (with `expected`, what a certificate had to
/// be); then recomputes the statuses. See [`HostIdentityCheck::apply`];
/// also used to refuse a peer when I1 is required but cannot be checked.
pub fn record(ear: &mut Ear, outcome: Result<&str, &HostIdentityError>, expected: String) {
    for appraisal in ear.submods.values_mut() {
        match outcome {
            Ok(name) => {
                appraisal.claim(
                    CLAIM,
                    format!("{name}: the attested key's certificate chains to a trusted root (I1 checked)"),
                );
                appraisal.set(TrustClaim::InstanceIdentity, claim_value::TRUSTWORTHY_INSTANCE);
            }
            Err(e) => appraisal.fail(
                TrustClaim::InstanceIdentity,
                claim_value::UNTRUSTWORTHY_INSTANCE,
                CLAIM,
                None,
                Some(expected.clone()),
                e.to_string(),
            ),
        }
        *appraisal = appraisal.clone().finish();
    }
    let overall = Tier::overall(ear.submods.values().map(|a| a.status));
    ear.status = ear.status.capped_by(overall);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ear::Appraisal;

    /// A test CA and what it issues.
    struct Ca {
        cert: rcgen::Certificate,
        issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    }

    fn ca(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            cert,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn leaf(ca: &Ca, name: &str) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params.signed_by(&key, &ca.issuer).unwrap().der().clone()
    }

    fn name(n: &str) -> ServerName<'static> {
        ServerName::try_from(n.to_string()).unwrap()
    }

    fn ear() -> Ear {
        let mut a = Appraisal::new("p");
        a.set(TrustClaim::Executables, claim_value::APPROVED_RUNTIME);
        Ear::new(0, [("sim".to_string(), a.finish())].into(), None)
    }

    #[test]
    fn requiring_i1_without_roots_is_an_error() {
        // Guards fail-closed configuration: no roots must not mean "skip".
        assert!(matches!(
            HostIdentity::new(rustls::RootCertStore::empty()),
            Err(HostIdentityError::NoRoots)
        ));
        assert!(matches!(
            HostIdentity::from_der(Vec::new()),
            Err(HostIdentityError::NoRoots)
        ));
    }

    #[test]
    fn the_check_is_recorded_in_the_ear_either_way() {
        let ca = ca("Test CA");
        let hi = HostIdentity::from_der([ca.cert.der().clone()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        let check = hi.for_server(name("svc.example"));

        let mut good = ear();
        check.apply(&mut good, &[leaf(&ca, "svc.example")], now).unwrap();
        assert!(good.is_affirming(), "{}", good.render());
        let claim = good.submods["sim"].claims[CLAIM].as_str().unwrap();
        assert!(claim.contains("svc.example") && claim.contains("I1 checked"), "{claim}");

        // Guards the refusal path: a certificate for another name makes the
        // result contraindicated, with a finding naming the check and the
        // WebPKI reason.
        let mut bad = ear();
        let e = check.apply(&mut bad, &[leaf(&ca, "other.example")], now).unwrap_err();
        assert!(
            matches!(&e, HostIdentityError::NotCertified { reason, .. } if reason.contains("not valid for name")),
            "{e}"
        );
        assert_eq!(bad.status, Tier::Contraindicated);
        assert!(!bad.is_acceptable());
        let summary = bad.refusal_summary();
        assert!(
            summary.contains("host_identity: host identity (I1): the attested key has no certificate for svc.example"),
            "{summary}"
        );
        assert_eq!(
            bad.submods["sim"].trust_vector[&TrustClaim::InstanceIdentity],
            claim_value::UNTRUSTWORTHY_INSTANCE
        );

        // No certificate at all.
        let mut none = ear();
        assert!(matches!(
            check.apply(&mut none, &[], now),
            Err(HostIdentityError::NoCertificate)
        ));
        assert!(!none.is_acceptable());
    }

    #[test]
    fn the_verification_time_comes_from_the_caller() {
        let ca = ca("Test CA");
        let hi = HostIdentity::from_der([ca.cert.der().clone()]).unwrap();
        let chain = [leaf(&ca, "svc.example")];
        // rcgen's default validity ends in 4096; a time after it is refused
        // as expired.
        let late = time::macros::datetime!(4100-01-01 0:00 UTC);
        let e = hi.verify(&chain, &name("svc.example"), late).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        let early = time::macros::datetime!(1960-01-01 0:00 UTC);
        assert!(matches!(
            hi.verify(&chain, &name("svc.example"), early),
            Err(HostIdentityError::BadTime(_))
        ));
    }
}
