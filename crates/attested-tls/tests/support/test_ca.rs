//! A test CA for host identity (I1) tests, shared by the rustls
//! (`attested-tls`) and OpenSSL (`attested-tls-openssl`) test suites.

use attested_tls::host_identity::{CertificateDer, HostIdentity};

/// A test CA and what it issues.
pub struct Ca {
    /// Its certificate.
    pub cert: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A CA certificate's parameters: named, may sign certificates.
fn ca_params(name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    params
}

impl Ca {
    /// A root CA (self-signed).
    pub fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = ca_params(name);
        let cert = params.self_signed(&key).unwrap().der().clone();
        Self {
            cert,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// An intermediate CA certified by this one.
    pub fn intermediate(&self, name: &str) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = ca_params(name);
        let cert = params.signed_by(&key, &self.issuer).unwrap().der().clone();
        Self {
            cert,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A certificate for `dns_name` on a fresh P-256 key, valid over
    /// `validity` if given, followed by `extra` (intermediates); and the
    /// key as PKCS#8 DER.
    pub fn chain(
        &self,
        dns_name: &str,
        validity: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
        extra: &[CertificateDer<'static>],
    ) -> (Vec<CertificateDer<'static>>, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![dns_name.to_string()]).unwrap();
        if let Some((from, to)) = validity {
            params.not_before = from;
            params.not_after = to;
        }
        let leaf = params.signed_by(&key, &self.issuer).unwrap().der().clone();
        let mut chain = vec![leaf];
        chain.extend_from_slice(extra);
        (chain, key.serialize_der())
    }

    /// An I1 requirement trusting this CA alone.
    pub fn roots(&self) -> HostIdentity {
        HostIdentity::from_der([self.cert.clone()]).unwrap()
    }
}
