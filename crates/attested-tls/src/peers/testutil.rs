//! Test builders: a test Intel-like PKI (root -> PCK leaf with an SGX
//! extension), SGX v3 / TDX v4 quotes signed by test keys, and self-signed
//! certificates carrying a value under any extension OID. The readers are
//! anchored in the test root through [`ReadOptions::intel_root`].

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use rcgen::{BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer, KeyPair};

use super::ReadOptions;
use crate::platform::dcap::pki::Cert;
use crate::platform::dcap::quote::INTEL_QE_VENDOR_ID;

/// DER TLV with a definite length.
pub fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else if n < 0x10000 {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    } else {
        out.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

const SGX_EXT_OID: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01];

fn sgx_item(sub: &[u8], value: Vec<u8>) -> Vec<u8> {
    let mut oid = SGX_EXT_OID.to_vec();
    oid.extend_from_slice(sub);
    let mut c = der(0x06, &oid);
    c.extend(value);
    der(0x30, &c)
}

/// The value of a PCK certificate's SGX extension (FMSPC `00aabb000000`).
pub fn sgx_extension() -> Vec<u8> {
    let mut tcb = Vec::new();
    for n in 1..=16u8 {
        tcb.extend(sgx_item(&[2, n], der(0x02, &[n])));
    }
    tcb.extend(sgx_item(&[2, 17], der(0x02, &[7])));
    tcb.extend(sgx_item(&[2, 18], der(0x04, &[1; 16])));
    let mut c = sgx_item(&[1], der(0x04, &[0x11; 16]));
    c.extend(sgx_item(&[2], der(0x30, &tcb)));
    c.extend(sgx_item(&[3], der(0x04, &[0, 0])));
    c.extend(sgx_item(&[4], der(0x04, &[0, 0xaa, 0xbb, 0, 0, 0])));
    c.extend(sgx_item(&[5], der(0x0a, &[0])));
    der(0x30, &c)
}

/// A test root, a PCK leaf issued by it, and the keys.
pub struct TestPki {
    /// The root, as the readers take it.
    pub root: Cert,
    /// PEM chain carried in quotes: leaf, root.
    pub chain_pem: String,
    pck: EcdsaKeyPair,
    att: EcdsaKeyPair,
}

fn name(cn: &str) -> DistinguishedName {
    let mut n = DistinguishedName::new();
    n.push(DnType::CommonName, cn);
    n
}

impl TestPki {
    /// A fresh PKI.
    pub fn new() -> Self {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut rp = CertificateParams::new(Vec::<String>::new()).unwrap();
        rp.distinguished_name = name("Test SGX Root CA");
        rp.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root_cert = rp.self_signed(&root_key).unwrap();
        let issuer = Issuer::new(rp, root_key);
        let pck_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        let pck_rcgen = KeyPair::try_from(pck_pkcs8.as_ref()).unwrap();
        let mut lp = CertificateParams::new(Vec::<String>::new()).unwrap();
        lp.distinguished_name = name("Test SGX PCK Certificate");
        lp.custom_extensions = vec![CustomExtension::from_oid_content(
            &[1, 2, 840, 113741, 1, 13, 1],
            sgx_extension(),
        )];
        let leaf = lp.signed_by(&pck_rcgen, &issuer).unwrap();
        let pck = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pck_pkcs8.as_ref()).unwrap();
        let att = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        Self {
            root: Cert::from_der(root_cert.der(), "test root").unwrap(),
            chain_pem: format!("{}{}", leaf.pem(), root_cert.pem()),
            pck,
            att,
        }
    }

    /// Options anchored in this PKI's root, at the current time.
    pub fn opts(&self) -> ReadOptions {
        let mut o = ReadOptions::at(time::OffsetDateTime::now_utc().unix_timestamp());
        o.intel_root = Some(self.root.clone());
        o
    }

    fn sign(key: &EcdsaKeyPair, msg: &[u8]) -> Vec<u8> {
        key.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec()
    }

    /// An SGX quote v3 (DEBUG enclave, MRENCLAVE `0x5e..`) with `report_data`.
    pub fn sgx_quote(&self, report_data: &[u8; 64]) -> Vec<u8> {
        let mut body = vec![0u8; 384];
        body[48] = 0x07; // attributes: INIT | DEBUG | MODE64BIT
        body[64..96].fill(0x5e); // MRENCLAVE
        body[128..160].fill(0x5f); // MRSIGNER
        body[320..384].copy_from_slice(report_data);
        self.quote(3, 0, &body)
    }

    /// A TDX quote v4 (TD 1.0 body) with `report_data`.
    pub fn tdx_quote(&self, report_data: &[u8; 64]) -> Vec<u8> {
        let mut body = vec![0u8; 584];
        body[136..184].fill(0x4d); // MRTD
        body[520..584].copy_from_slice(report_data);
        self.quote(4, 0x81, &body)
    }

    fn quote(&self, version: u16, tee_type: u32, body: &[u8]) -> Vec<u8> {
        let mut q = Vec::new();
        q.extend_from_slice(&version.to_le_bytes());
        q.extend_from_slice(&2u16.to_le_bytes());
        q.extend_from_slice(&tee_type.to_le_bytes());
        q.extend_from_slice(&[9, 0, 13, 0]);
        q.extend_from_slice(&INTEL_QE_VENDOR_ID);
        q.extend_from_slice(&[0; 20]);
        q.extend_from_slice(body);
        let att_pub = &self.att.public_key().as_ref()[1..];
        let auth = [0xa5u8; 32];
        let mut qe_report = vec![0u8; 384];
        let mut h = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        h.update(att_pub);
        h.update(&auth);
        qe_report[320..352].copy_from_slice(h.finish().as_ref());
        let mut qe = qe_report.clone();
        qe.extend(Self::sign(&self.pck, &qe_report));
        qe.extend_from_slice(&(auth.len() as u16).to_le_bytes());
        qe.extend_from_slice(&auth);
        qe.extend_from_slice(&5u16.to_le_bytes());
        qe.extend_from_slice(&(self.chain_pem.len() as u32).to_le_bytes());
        qe.extend_from_slice(self.chain_pem.as_bytes());
        let mut sig_data = Self::sign(&self.att, &q);
        sig_data.extend_from_slice(att_pub);
        if version == 3 {
            sig_data.extend(qe);
        } else {
            sig_data.extend_from_slice(&6u16.to_le_bytes());
            sig_data.extend_from_slice(&(qe.len() as u32).to_le_bytes());
            sig_data.extend(qe);
        }
        q.extend_from_slice(&(sig_data.len() as u32).to_le_bytes());
        q.extend(sig_data);
        q
    }
}

/// A P-256 key and its SPKI DER.
pub fn key() -> (KeyPair, Vec<u8>) {
    let k = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&k);
    (k, spki)
}

/// A self-signed certificate of `key` with `value` under extension `oid`.
pub fn cert_with(key: &KeyPair, oid: &[u64], value: Vec<u8>) -> Vec<u8> {
    let mut p = CertificateParams::new(vec!["peer.test".to_string()]).unwrap();
    p.custom_extensions = vec![CustomExtension::from_oid_content(oid, value)];
    p.self_signed(key).unwrap().der().to_vec()
}

/// A CSR of `key` with `value` under extension `oid`.
pub fn csr_with(key: &KeyPair, oid: &[u64], value: Vec<u8>) -> Vec<u8> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.custom_extensions = vec![CustomExtension::from_oid_content(oid, value)];
    p.serialize_request(key).unwrap().der().to_vec()
}

/// `report_data = prefix || 0..`.
pub fn rd(prefix: &[u8]) -> [u8; 64] {
    let mut r = [0u8; 64];
    r[..prefix.len()].copy_from_slice(prefix);
    r
}
