//! The testbed: a simulated hardware quoting service, the genuine attesters
//! and the identity material, all in process, on loopback only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attested_tls::attester::{AttestError, Attester};
use attested_tls::binder::BindingClaims;
use attested_tls::cmw::Cmw;
use attested_tls::host_identity::HostIdentity;
use attested_tls::modes::early::{EarlyAttester, EarlyBinding};
use attested_tls::modes::profiles::{ProfileAttester, ProfileBinding};
use attested_tls::sim::{SimAttester, SimInstance, SimVerifier, SimWorld};
use attested_tls::verifier::Appraiser;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::attacks::Capabilities;

/// What the victim client sends once it considers the server attested: the
/// oracle looks for these bytes in what the attacker (or the diversion
/// target) read.
pub const SECRET: &[u8] = b"victim secret: 7f3a9c0e-lab";

/// The name the victim dials: the service T1 provides.
pub const SERVICE_NAME: &str = "svc.example";
/// The name T2's certificate is for: T2 serves someone else.
pub const OTHER_SERVICE_NAME: &str = "other.example";

/// A genuine attester instance of the testbed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tee {
    /// The instance the client meant.
    T1,
    /// Another genuine instance with the same measurement.
    T2,
    /// The victim's own instance, when the victim attests too (mutual
    /// attestation; reflection).
    Client,
}

/// A certificate chain (end entity first) and its private key, as DER.
#[derive(Clone, Debug)]
pub struct KeyMaterial {
    /// The chain.
    pub chain: Vec<CertificateDer<'static>>,
    /// PKCS#8 private key.
    pub key_pkcs8: Vec<u8>,
}

impl KeyMaterial {
    /// The private key.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_pkcs8.clone().into())
    }

    /// A fresh self-signed P-256 certificate for `name` (the attacker's own
    /// keys, a TEE's TLS key).
    pub fn self_signed(name: &str) -> Result<Self, String> {
        let id = rcgen::generate_simple_self_signed(vec![name.to_string()]).map_err(|e| e.to_string())?;
        Ok(Self {
            chain: vec![id.cert.der().clone()],
            key_pkcs8: id.signing_key.serialize_der(),
        })
    }
}

/// The testbed's long-lived parts.
pub struct Testbed {
    /// The simulation root (the hardware vendor) and instances T1, T2 and
    /// the victim's own (mutual attestation). The
    /// attacker code never touches the root key or an instance key: it only
    /// talks to the genuine servers.
    pub world: SimWorld,
    /// The I1 certificate authority's root certificate.
    pub ca_root: CertificateDer<'static>,
    /// T1's long-term identity: a certificate for [`SERVICE_NAME`] from
    /// the CA (the LTK).
    pub t1_ltk: KeyMaterial,
    /// T2's: a certificate for [`OTHER_SERVICE_NAME`] from the same CA.
    pub t2_ltk: KeyMaterial,
}

impl Testbed {
    /// A fresh world with three instances of the same measurement and a CA.
    pub fn new() -> Result<Self, String> {
        let world = attested_tls::sim::ephemeral_world(3).map_err(|e| e.to_string())?;
        let ca_key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "lab I1 CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let ca_cert = params.self_signed(&ca_key).map_err(|e| e.to_string())?;
        let issuer = rcgen::Issuer::new(params, ca_key);
        let issue = |name: &str| -> Result<KeyMaterial, String> {
            let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
            let leaf = rcgen::CertificateParams::new(vec![name.to_string()])
                .map_err(|e| e.to_string())?
                .signed_by(&key, &issuer)
                .map_err(|e| e.to_string())?;
            Ok(KeyMaterial {
                chain: vec![leaf.der().clone()],
                key_pkcs8: key.serialize_der(),
            })
        };
        Ok(Self {
            t1_ltk: issue(SERVICE_NAME)?,
            t2_ltk: issue(OTHER_SERVICE_NAME)?,
            ca_root: ca_cert.der().clone(),
            world,
        })
    }

    /// The sim instance behind `tee`.
    pub fn instance(&self, tee: Tee) -> &SimInstance {
        &self.world.instances[match tee {
            Tee::T1 => 0,
            Tee::T2 => 1,
            Tee::Client => 2,
        }]
    }

    /// `tee`'s long-term identity.
    pub fn ltk(&self, tee: Tee) -> &KeyMaterial {
        match tee {
            Tee::T1 => &self.t1_ltk,
            Tee::T2 | Tee::Client => &self.t2_ltk,
        }
    }

    /// The victim's appraiser: the sim root, the service's measurement,
    /// and with `i2` the platform-identity allow-list of the service (T1's
    /// instance id only).
    pub fn appraiser(&self, i2: bool) -> Result<Appraiser, String> {
        let mut policy = self.world.sim_policy(false);
        if i2 {
            policy.instance_ids = Some(vec![hex::encode(&self.instance(Tee::T1).config().instance_id)]);
        }
        let v = SimVerifier::new(policy, vec![self.world.root.cert_der().to_vec()]).map_err(|e| e.to_string())?;
        Ok(Appraiser::new(if i2 { "lab-policy-i2" } else { "lab-policy" }).with_verifier(Arc::new(v)))
    }

    /// The I1 trust anchors: the CA's root.
    pub fn host_identity(&self) -> Result<HostIdentity, String> {
        HostIdentity::from_der([self.ca_root.clone()]).map_err(|e| e.to_string())
    }
}

/// A genuine attester wrapper with the lab's test-only observe hook: every
/// Evidence it produces is also recorded, and handed to an attacker whose
/// capabilities include observe-evidence.
pub struct ObservedAttester {
    inner: SimAttester,
    seen: Arc<Mutex<Vec<Cmw>>>,
}

impl ObservedAttester {
    /// Wraps the instance's attester.
    pub fn new(instance: &SimInstance, seen: Arc<Mutex<Vec<Cmw>>>) -> Self {
        Self {
            inner: SimAttester::new(instance.clone()),
            seen,
        }
    }

    fn record(&self, cmw: &Cmw) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(cmw.clone());
        }
    }
}

impl Attester for ObservedAttester {
    fn platform(&self) -> &str {
        Attester::platform(&self.inner)
    }
    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        let cmw = self.inner.attest(binding)?;
        self.record(&cmw);
        Ok(cmw)
    }
    fn may_block(&self) -> bool {
        false
    }
}

impl EarlyAttester for ObservedAttester {
    fn platform(&self) -> &str {
        Attester::platform(&self.inner)
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError> {
        let cmw = self.inner.attest_early(binding)?;
        self.record(&cmw);
        Ok(cmw)
    }
}

impl ProfileAttester for ObservedAttester {
    fn platform(&self) -> &str {
        Attester::platform(&self.inner)
    }
    fn may_block(&self) -> bool {
        false
    }
    fn attest_profile(&self, binding: &ProfileBinding) -> Result<Cmw, AttestError> {
        let cmw = self.inner.attest_profile(binding)?;
        self.record(&cmw);
        Ok(cmw)
    }
}

/// A running genuine server (or an attacker's server: the same sink).
pub struct Genuine {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Application bytes its connections read after attestation.
    pub received: Arc<Mutex<Vec<u8>>>,
    /// Every Evidence its attester produced (observe hook).
    pub observed: Arc<Mutex<Vec<Cmw>>>,
    /// Its TLS certificate and key (leak hook).
    pub tls: KeyMaterial,
    /// The key its Evidence binds, if not the TLS key (the default mode's
    /// authenticator key), and its long-term identity (leak hooks).
    pub attested_key: Option<KeyMaterial>,
}

impl Genuine {
    /// The bytes read so far, after waiting up to `wait` for the secret.
    pub async fn received_after(&self, wait: Duration) -> Vec<u8> {
        wait_for_secret(&self.received, wait).await
    }

    /// The leak-tls-key hook: the TLS key (and, where the Evidence binds
    /// another key, that key), only with the capability.
    pub fn leak_tls_key(&self, caps: Capabilities) -> Result<(KeyMaterial, Option<KeyMaterial>), String> {
        if !caps.leak_tls_key {
            return Err("the attack used leak-tls-key without the capability".into());
        }
        Ok((self.tls.clone(), self.attested_key.clone()))
    }

    /// The observe-evidence hook: the Evidence produced so far, only with
    /// the capability.
    pub fn observed(&self, caps: Capabilities) -> Result<Vec<Cmw>, String> {
        if !caps.observe_evidence {
            return Err("the attack used observe-evidence without the capability".into());
        }
        Ok(self.observed.lock().map_err(|_| "poisoned".to_string())?.clone())
    }
}

/// Waits up to `wait` for [`SECRET`] to appear in `buf`, then returns it.
pub async fn wait_for_secret(buf: &Arc<Mutex<Vec<u8>>>, wait: Duration) -> Vec<u8> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let now = buf.lock().map(|b| b.clone()).unwrap_or_default();
        if now.windows(SECRET.len()).any(|w| w == SECRET) || tokio::time::Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What `buf` holds once the victim's secret had its chance to arrive:
/// up to 2 s after the victim accepted, at once after it refused (it
/// sent nothing then).
pub async fn seen_if_accepted(victim: &crate::attacks::VictimResult, buf: &Arc<Mutex<Vec<u8>>>) -> Vec<u8> {
    let wait = match victim {
        crate::attacks::VictimResult::Accepted => Duration::from_secs(2),
        crate::attacks::VictimResult::Refused { .. } => Duration::ZERO,
    };
    wait_for_secret(buf, wait).await
}

/// Reads from `stream` into `sink` until EOF, an error, or `wait`.
pub async fn drain_into<S: tokio::io::AsyncRead + Unpin>(mut stream: S, sink: Arc<Mutex<Vec<u8>>>, wait: Duration) {
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(wait, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut s) = sink.lock() {
                        s.extend_from_slice(&buf[..n]);
                    }
                }
            }
        }
    })
    .await;
}
