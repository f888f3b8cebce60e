//! Simulation roots and instances: keys, certificates and instance files.

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;
use x509_parser::der_parser::asn1_rs::Tag;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_X509_SERIALNUMBER};

use super::SimError;

/// Validity of a simulation root certificate.
const ROOT_VALIDITY: time::Duration = time::Duration::days(20 * 365);
/// Validity of an instance certificate.
const INSTANCE_VALIDITY: time::Duration = time::Duration::days(10 * 365);
/// Back-dating of `notBefore`, for clocks that are a little behind.
const BACKDATE: time::Duration = time::Duration::hours(1);
/// Longest instance id (the longest RFC 9711 UEID).
pub(crate) const MAX_INSTANCE_ID_LEN: usize = 33;
/// Longest measurement.
pub(crate) const MAX_MEASUREMENT_LEN: usize = 64;

/// Parses a DER certificate, refusing trailing bytes.
pub(crate) fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} trailing bytes after the certificate", rest.len()));
    }
    Ok(cert)
}

/// The uncompressed P-256 point of a certificate's key; refuses other keys.
pub(crate) fn p256_public_key<'a>(cert: &'a X509Certificate<'_>) -> Result<&'a [u8], String> {
    let spki = cert.public_key();
    if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
        return Err(format!(
            "key algorithm {} is not id-ecPublicKey",
            spki.algorithm.algorithm
        ));
    }
    let curve = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
    if curve.as_ref() != Some(&OID_EC_P256) {
        return Err("key is not on curve P-256".into());
    }
    let point: &[u8] = &spki.subject_public_key.data;
    if point.len() != 65 || point[0] != 0x04 {
        return Err("P-256 key is not an uncompressed point".into());
    }
    Ok(point)
}

/// The instance id a certificate certifies (subject `serialNumber`, hex).
pub(crate) fn certified_instance_id(cert: &X509Certificate<'_>) -> Result<Vec<u8>, String> {
    let mut it = cert.subject().iter_by_oid(&OID_X509_SERIALNUMBER);
    let attr = it
        .next()
        .ok_or("instance certificate certifies no instance id (subject serialNumber)")?;
    if it.next().is_some() {
        return Err("instance certificate has more than one subject serialNumber".into());
    }
    let s = attr
        .as_str()
        .map_err(|e| format!("subject serialNumber is not a string: {e}"))?;
    hex::decode(s).map_err(|e| format!("subject serialNumber {s:?} is not hex: {e}"))
}

fn crypto(e: impl std::fmt::Display) -> SimError {
    SimError::Crypto(e.to_string())
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A simulation root CA: a P-256 key and a self-signed X.509 CA certificate.
///
/// A verifier trusts simulated Evidence only when its policy lists this
/// root's certificate in `[sim] trusted_roots`.
pub struct SimRoot {
    key: KeyPair,
    issuer_params: CertificateParams,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for SimRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRoot")
            .field("subject", &self.subject())
            .finish_non_exhaustive()
    }
}

impl SimRoot {
    /// Generates a new root whose certificate's common name is `name`.
    ///
    /// ```
    /// let root = attested_tls::sim::SimRoot::generate("my lab").unwrap();
    /// assert!(root.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    /// ```
    pub fn generate(name: &str) -> Result<SimRoot, SimError> {
        if name.trim().is_empty() {
            return Err(SimError::invalid("name", "the root name must not be empty"));
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(crypto)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "attested-tls simulated TEE");
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = now() - BACKDATE;
        params.not_after = now() + ROOT_VALIDITY;
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
        let cert = params.self_signed(&key).map_err(crypto)?;
        Ok(SimRoot {
            key,
            issuer_params: params,
            cert_der: cert.der().to_vec(),
        })
    }

    /// The root certificate, PEM.
    pub fn cert_pem(&self) -> String {
        crate::crypto::pem_encode("CERTIFICATE", &self.cert_der)
    }

    /// The root certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The root private key, PKCS#8 PEM. Keep it secret: whoever holds it
    /// can issue instances every verifier trusting this root accepts.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// The root certificate's subject, for display.
    pub fn subject(&self) -> String {
        parse_cert(&self.cert_der)
            .map(|c| c.subject().to_string())
            .unwrap_or_default()
    }

    /// Loads a root from its certificate and PKCS#8 key (PEM). The key
    /// must be a P-256 key matching the certificate.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<SimRoot, SimError> {
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| SimError::invalid("root certificate", format!("no PEM certificate: {e}")))?
            .to_vec();
        let pkcs8 = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| SimError::invalid("root key", format!("no PKCS#8 PEM private key: {e}")))?;
        let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &PKCS_ECDSA_P256_SHA256)
            .map_err(|e| SimError::invalid("root key", format!("not a P-256 PKCS#8 key: {e}")))?;
        let cert = parse_cert(&cert_der).map_err(|e| SimError::invalid("root certificate", e))?;
        let point = p256_public_key(&cert).map_err(|e| SimError::invalid("root certificate", e))?;
        if point != key.public_key_raw() {
            return Err(SimError::invalid(
                "root key",
                "the key does not match the root certificate's public key",
            ));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name_of(&cert)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        drop(cert);
        Ok(SimRoot {
            key,
            issuer_params: params,
            cert_der,
        })
    }

    /// Issues an instance: a fresh P-256 key and a certificate signed by
    /// this root that certifies `config.instance_id`.
    pub fn issue_instance(&self, config: SimInstanceConfig) -> Result<SimInstance, SimError> {
        config.validate()?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(crypto)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "attested-tls simulated TEE");
        dn.push(DnType::CommonName, "attested-tls simulated TEE instance");
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 5]),
            DnValue::PrintableString(
                hex::encode(&config.instance_id)
                    .try_into()
                    .map_err(|e| SimError::Crypto(format!("instance id: {e}")))?,
            ),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = now() - BACKDATE;
        params.not_after = now() + INSTANCE_VALIDITY;
        params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_params(&self.issuer_params, &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(crypto)?;
        SimInstance::new(config, key.serialize_der(), cert.der().to_vec())
    }
}

fn random_serial() -> Vec<u8> {
    let mut s = crate::crypto::random_bytes(16);
    s[0] &= 0x7f;
    s[0] |= 0x01;
    s
}

/// Rebuilds an rcgen distinguished name from a parsed certificate subject,
/// so that certificates issued by a loaded root name it exactly.
fn distinguished_name_of(cert: &X509Certificate<'_>) -> Result<DistinguishedName, SimError> {
    let mut dn = DistinguishedName::new();
    for attr in cert.subject().iter_attributes() {
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or_else(|| SimError::invalid("root certificate", "subject attribute OID too large"))?
            .collect();
        let s = attr
            .as_str()
            .map_err(|e| SimError::invalid("root certificate", format!("subject attribute is not a string: {e}")))?
            .to_string();
        let value = match attr.attr_value().tag() {
            Tag::PrintableString => DnValue::PrintableString(
                s.try_into()
                    .map_err(|e| SimError::invalid("root certificate", format!("subject: {e}")))?,
            ),
            Tag::Utf8String => DnValue::Utf8String(s),
            other => {
                return Err(SimError::invalid(
                    "root certificate",
                    format!("subject attribute string type {other} is not supported"),
                ))
            }
        };
        dn.push(DnType::from_oid(&oid), value);
    }
    Ok(dn)
}

/// The configuration a simulated instance reports about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimInstanceConfig {
    /// The measurement of the simulated workload (1..=64 bytes).
    pub measurement: Vec<u8>,
    /// The platform instance id (1..=33 bytes; like an SNP chip_id). It is
    /// certified by the instance certificate.
    pub instance_id: Vec<u8>,
    /// Whether the simulated TEE runs in debug mode (reported as `dbgstat`).
    pub debug: bool,
    /// The security version number.
    pub security_version: u32,
}

impl SimInstanceConfig {
    /// A configuration with a random RFC 9711 UEID (type 0x01 followed by
    /// 16 random bytes), debug off and security version 1.
    pub fn new(measurement: Vec<u8>) -> Self {
        let mut instance_id = vec![0x01];
        instance_id.extend(crate::crypto::random_bytes(16));
        Self {
            measurement,
            instance_id,
            debug: false,
            security_version: 1,
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        if self.measurement.is_empty() || self.measurement.len() > MAX_MEASUREMENT_LEN {
            return Err(SimError::invalid(
                "measurement",
                format!("is {} bytes, must be 1..={MAX_MEASUREMENT_LEN}", self.measurement.len()),
            ));
        }
        if self.instance_id.is_empty() || self.instance_id.len() > MAX_INSTANCE_ID_LEN {
            return Err(SimError::invalid(
                "instance_id",
                format!("is {} bytes, must be 1..={MAX_INSTANCE_ID_LEN}", self.instance_id.len()),
            ));
        }
        Ok(())
    }
}

/// A simulated TEE instance: its key, its certificate (chained to a
/// [`SimRoot`]) and its configuration. Cloning shares the key.
#[derive(Clone)]
pub struct SimInstance {
    config: SimInstanceConfig,
    key_pkcs8: Vec<u8>,
    pub(crate) signing_key: Arc<EcdsaKeyPair>,
    cert_der: Vec<u8>,
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
}

impl std::fmt::Debug for SimInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimInstance")
            .field("config", &self.config)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The keys of an instance file.
const INSTANCE_FILE_KEYS: [&str; 6] = [
    "measurement",
    "instance_id",
    "debug",
    "security_version",
    "certificate",
    "private_key",
];

/// The instance file, as written by [`SimInstance::to_toml`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceFile {
    measurement: String,
    instance_id: String,
    debug: bool,
    security_version: u32,
    certificate: String,
    private_key: String,
}

impl SimInstance {
    /// Checks that key, certificate and configuration belong together.
    fn new(config: SimInstanceConfig, key_pkcs8: Vec<u8>, cert_der: Vec<u8>) -> Result<SimInstance, SimError> {
        config.validate()?;
        let signing_key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_pkcs8)
            .map_err(|e| SimError::invalid("private_key", format!("not a P-256 PKCS#8 key: {e}")))?;
        let cert = parse_cert(&cert_der).map_err(|e| SimError::invalid("certificate", e))?;
        let point = p256_public_key(&cert).map_err(|e| SimError::invalid("certificate", e))?;
        use aws_lc_rs::signature::KeyPair as _;
        if point != signing_key.public_key().as_ref() {
            return Err(SimError::invalid(
                "private_key",
                "the key does not match the certificate's public key",
            ));
        }
        let certified = certified_instance_id(&cert).map_err(|e| SimError::invalid("certificate", e))?;
        if certified != config.instance_id {
            return Err(SimError::invalid(
                "instance_id",
                format!(
                    "{} differs from the instance id {} the certificate certifies",
                    hex::encode(&config.instance_id),
                    hex::encode(&certified)
                ),
            ));
        }
        let not_before = cert.validity().not_before.to_datetime();
        let not_after = cert.validity().not_after.to_datetime();
        drop(cert);
        Ok(SimInstance {
            config,
            key_pkcs8,
            signing_key: Arc::new(signing_key),
            cert_der,
            not_before,
            not_after,
        })
    }

    /// The instance's configuration.
    pub fn config(&self) -> &SimInstanceConfig {
        &self.config
    }

    /// The instance certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Start of the instance certificate's validity.
    pub fn not_before(&self) -> time::OffsetDateTime {
        self.not_before
    }

    /// End of the instance certificate's validity: Evidence appraised after
    /// it is refused.
    pub fn not_after(&self) -> time::OffsetDateTime {
        self.not_after
    }

    /// The self-contained instance file (TOML): configuration, certificate
    /// and private key. Keep it secret: it holds the instance key.
    pub fn to_toml(&self) -> String {
        let file = InstanceFile {
            measurement: hex::encode(&self.config.measurement),
            instance_id: hex::encode(&self.config.instance_id),
            debug: self.config.debug,
            security_version: self.config.security_version,
            certificate: crate::crypto::pem_encode("CERTIFICATE", &self.cert_der),
            private_key: crate::crypto::pem_encode("PRIVATE KEY", &self.key_pkcs8),
        };
        let body = toml::to_string(&file).unwrap_or_default();
        format!("# attested-tls simulated TEE instance (secret: holds the instance key)\n{body}")
    }

    /// Parses an instance file written by [`SimInstance::to_toml`]. Errors
    /// name the field that is missing or invalid.
    pub fn from_toml(text: &str) -> Result<SimInstance, SimError> {
        let f: InstanceFile = toml::from_str(text).map_err(|e| {
            // Never quote the file: it holds the instance's private key.
            SimError::Toml(crate::fsutil::toml_error(
                text,
                &e,
                crate::fsutil::TomlKeys::Only(&INSTANCE_FILE_KEYS),
            ))
        })?;
        let measurement = hex::decode(f.measurement.trim())
            .map_err(|e| SimError::invalid("measurement", format!("is not hex: {e}")))?;
        let instance_id = hex::decode(f.instance_id.trim())
            .map_err(|e| SimError::invalid("instance_id", format!("is not hex: {e}")))?;
        let cert_der = CertificateDer::from_pem_slice(f.certificate.as_bytes())
            .map_err(|e| SimError::invalid("certificate", format!("no PEM certificate: {e}")))?
            .to_vec();
        let key = PrivatePkcs8KeyDer::from_pem_slice(f.private_key.as_bytes())
            .map_err(|e| SimError::invalid("private_key", format!("no PKCS#8 PEM private key: {e}")))?;
        let config = SimInstanceConfig {
            measurement,
            instance_id,
            debug: f.debug,
            security_version: f.security_version,
        };
        SimInstance::new(config, key.secret_pkcs8_der().to_vec(), cert_der)
    }

    /// Reads an instance file. Errors name the file (and the field).
    pub fn load(path: &Path) -> Result<SimInstance, SimError> {
        // Bounded: an instance file is a few KiB; a device or FIFO named by
        // mistake must fail, not exhaust memory or block.
        let text =
            crate::fsutil::read_bounded_to_string(path, crate::fsutil::MAX_CONFIG_FILE_LEN).map_err(|source| {
                SimError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        Self::from_toml(&text).map_err(|e| e.in_file(path))
    }
}

#[cfg(test)]
mod output_escaping {
    use super::*;

    /// The source line is no longer quoted, but the TOML message itself
    /// still names an unknown key raw.
    #[test]
    fn instance_file_errors_carry_no_control_characters() {
        let root = SimRoot::generate("r").unwrap();
        let inst = root.issue_instance(SimInstanceConfig::new(vec![1; 48])).unwrap();
        let text = format!("\"x\\u001b[2J\\nok\" = 1\n{}", inst.to_toml());
        let e = SimInstance::from_toml(&text).unwrap_err().to_string();
        assert!(!e.chars().any(char::is_control), "raw control characters: {e:?}");
    }
}
