//! Simulated Evidence: the EAT claims set, its COSE_Sign1 envelope and the
//! attester that produces it.

use ciborium::Value;
use coset::{iana, CoseSign1, Label, TaggedCborSerializable};

use super::ca::{MAX_INSTANCE_ID_LEN, MAX_MEASUREMENT_LEN};
use super::{
    SimError, SimInstance, CLAIM_AIK_PUB_HASH, CLAIM_HASH_ALG, CLAIM_MEASUREMENT, CLAIM_SECURITY_VERSION,
    MAX_EVIDENCE_LEN, SIM_MEDIA_TYPE,
};
use crate::attester::{AttestError, Attester};
use crate::binder::BindingClaims;
use crate::cmw::{Cmw, CmwRecord};
use crate::crypto::HashAlgorithm;

/// The `eat_profile` of simulated Evidence.
pub const SIM_EAT_PROFILE: &str = "tag:attested-tls.dev,2026:sim-tee#1";

/// COSE header label `x5chain` (RFC 9360).
pub(crate) const HEADER_X5CHAIN: i64 = 33;

const CLAIM_IAT: i64 = 6;
const CLAIM_EAT_NONCE: i64 = 10;
const CLAIM_UEID: i64 = 256;
const CLAIM_DBGSTAT: i64 = 263;
const CLAIM_EAT_PROFILE: i64 = 265;

/// RFC 9711 `dbgstat`: debug enabled.
const DBGSTAT_ENABLED: u64 = 0;
/// RFC 9711 `dbgstat`: debug disabled.
const DBGSTAT_DISABLED: u64 = 1;
/// Highest defined `dbgstat` (disabled-fully-and-permanently).
const DBGSTAT_MAX: u64 = 4;

/// Bounds of an `eat_nonce` byte string (RFC 9711).
const NONCE_LEN: std::ops::RangeInclusive<usize> = 8..=64;

/// The claims of simulated Evidence, decoded and type-checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SimClaims {
    pub eat_nonce: Vec<u8>,
    pub ueid: Vec<u8>,
    pub iat: i64,
    pub dbgstat: u64,
    pub measurement: Vec<u8>,
    pub aik_pub_hash: Vec<u8>,
    pub security_version: u64,
    pub hash: HashAlgorithm,
}

impl SimClaims {
    /// Whether `dbgstat` says debug is enabled.
    pub fn debug(&self) -> bool {
        self.dbgstat == DBGSTAT_ENABLED
    }

    fn to_cbor(&self) -> Result<Vec<u8>, SimError> {
        let int = |i: i64| Value::Integer(i.into());
        let map = Value::Map(vec![
            (int(CLAIM_EAT_PROFILE), Value::Text(SIM_EAT_PROFILE.into())),
            (int(CLAIM_EAT_NONCE), Value::Bytes(self.eat_nonce.clone())),
            (int(CLAIM_UEID), Value::Bytes(self.ueid.clone())),
            (int(CLAIM_IAT), int(self.iat)),
            (int(CLAIM_DBGSTAT), Value::Integer(self.dbgstat.into())),
            (int(CLAIM_MEASUREMENT), Value::Bytes(self.measurement.clone())),
            (int(CLAIM_AIK_PUB_HASH), Value::Bytes(self.aik_pub_hash.clone())),
            (
                int(CLAIM_SECURITY_VERSION),
                Value::Integer(self.security_version.into()),
            ),
            (int(CLAIM_HASH_ALG), Value::Text(self.hash.name().into())),
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&map, &mut out).map_err(|e| SimError::Crypto(format!("CBOR encoding: {e}")))?;
        Ok(out)
    }

    /// Decodes and type-checks a claims set. The error names the claim.
    pub fn from_cbor(payload: &[u8]) -> Result<SimClaims, (String, String)> {
        let err = |claim: &str, reason: String| (claim.to_string(), reason);
        if payload.len() > MAX_EVIDENCE_LEN {
            return Err(err("claims", format!("payload is {} bytes", payload.len())));
        }
        let mut reader = payload;
        let v: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, 8)
            .map_err(|e| err("claims", format!("payload is not CBOR: {e}")))?;
        if !reader.is_empty() {
            return Err(err(
                "claims",
                format!("{} trailing bytes after the claims", reader.len()),
            ));
        }
        let entries = match v {
            Value::Map(m) => m,
            _ => return Err(err("claims", "payload is not a CBOR map".into())),
        };
        let mut claims = std::collections::BTreeMap::new();
        for (k, v) in entries {
            let label = match k {
                Value::Integer(i) => {
                    i64::try_from(i128::from(i)).map_err(|_| err("claims", "claim label out of range".into()))?
                }
                _ => return Err(err("claims", "claim label is not an integer".into())),
            };
            if claims.insert(label, v).is_some() {
                return Err(err("claims", format!("claim {label} appears twice")));
            }
        }
        let mut take = |label: i64, name: &str| {
            claims
                .remove(&label)
                .ok_or_else(|| err(name, format!("mandatory claim {name} ({label}) is missing")))
        };
        let bytes = |v: Value, name: &str, range: std::ops::RangeInclusive<usize>| match v {
            Value::Bytes(b) if range.contains(&b.len()) => Ok(b),
            Value::Bytes(b) => Err(err(
                name,
                format!("is {} bytes, expected {}..={}", b.len(), range.start(), range.end()),
            )),
            _ => Err(err(name, "is not a byte string".into())),
        };
        let uint = |v: Value, name: &str| match v {
            Value::Integer(i) => {
                u64::try_from(i128::from(i)).map_err(|_| err(name, "is not an unsigned integer".into()))
            }
            _ => Err(err(name, "is not an unsigned integer".into())),
        };
        let text = |v: Value, name: &str| match v {
            Value::Text(t) => Ok(t),
            _ => Err(err(name, "is not a text string".into())),
        };

        let profile = text(take(CLAIM_EAT_PROFILE, "eat_profile")?, "eat_profile")?;
        if profile != SIM_EAT_PROFILE {
            return Err(err(
                "eat_profile",
                format!("is {profile:?}, expected {SIM_EAT_PROFILE:?}"),
            ));
        }
        let hash_name = text(take(CLAIM_HASH_ALG, "hash_alg")?, "hash_alg")?;
        let hash = HashAlgorithm::from_name(&hash_name)
            .filter(|h| h.name() == hash_name)
            .ok_or_else(|| err("hash_alg", format!("{hash_name:?} is not sha256 or sha384")))?;
        let hlen = hash.output_len();
        let eat_nonce = bytes(take(CLAIM_EAT_NONCE, "eat_nonce")?, "eat_nonce", NONCE_LEN)?;
        if eat_nonce.len() != hlen {
            return Err(err(
                "eat_nonce",
                format!("is {} bytes, but a {} binder is {hlen}", eat_nonce.len(), hash.name()),
            ));
        }
        let aik_pub_hash = bytes(take(CLAIM_AIK_PUB_HASH, "aik_pub_hash")?, "aik_pub_hash", hlen..=hlen)?;
        let ueid = bytes(take(CLAIM_UEID, "ueid")?, "ueid", 1..=MAX_INSTANCE_ID_LEN)?;
        let iat = match take(CLAIM_IAT, "iat")? {
            Value::Integer(i) => i64::try_from(i128::from(i)).map_err(|_| err("iat", "is out of range".to_string()))?,
            _ => return Err(err("iat", "is not an integer".into())),
        };
        let dbgstat = uint(take(CLAIM_DBGSTAT, "dbgstat")?, "dbgstat")?;
        if dbgstat > DBGSTAT_MAX {
            return Err(err("dbgstat", format!("{dbgstat} is not an RFC 9711 debug status")));
        }
        let measurement = bytes(
            take(CLAIM_MEASUREMENT, "measurement")?,
            "measurement",
            1..=MAX_MEASUREMENT_LEN,
        )?;
        let security_version = uint(take(CLAIM_SECURITY_VERSION, "security_version")?, "security_version")?;
        if let Some(label) = claims.keys().next() {
            return Err(err(
                "claims",
                format!("claim {label} is not part of the sim-tee profile"),
            ));
        }
        Ok(SimClaims {
            eat_nonce,
            ueid,
            iat,
            dbgstat,
            measurement,
            aik_pub_hash,
            security_version,
            hash,
        })
    }
}

/// The structure of simulated Evidence, decoded but not yet verified.
pub(crate) struct Envelope {
    pub sign1: CoseSign1,
    pub cert_der: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Decodes the COSE_Sign1 envelope (bounded) and checks its headers:
/// ES256, exactly one certificate in the protected `x5chain`, nothing else.
pub(crate) fn decode_envelope(evidence: &[u8]) -> Result<Envelope, String> {
    if evidence.is_empty() {
        return Err("Evidence is empty".into());
    }
    if evidence.len() > MAX_EVIDENCE_LEN {
        return Err(format!(
            "Evidence is {} bytes, more than the {MAX_EVIDENCE_LEN}-byte limit",
            evidence.len()
        ));
    }
    let sign1 = CoseSign1::from_tagged_slice(evidence).map_err(|e| format!("not a tagged COSE_Sign1: {e}"))?;
    let h = &sign1.protected.header;
    if h.alg != Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256)) {
        return Err(format!("protected alg is {:?}, only ES256 is accepted", h.alg));
    }
    // coset parses these well-known parameters out of `rest`, so each must
    // be checked by name: "nothing but alg and x5chain" includes IVs.
    if !h.crit.is_empty()
        || h.content_type.is_some()
        || !h.key_id.is_empty()
        || !h.iv.is_empty()
        || !h.partial_iv.is_empty()
        || !h.counter_signatures.is_empty()
    {
        return Err("protected header has parameters other than alg and x5chain".into());
    }
    if !sign1.unprotected.is_empty() {
        return Err("unprotected header is not empty".into());
    }
    let mut cert = None;
    for (label, value) in &h.rest {
        match label {
            Label::Int(HEADER_X5CHAIN) if cert.is_none() => {
                cert = Some(match value {
                    Value::Bytes(b) => b.clone(),
                    Value::Array(items) if items.len() == 1 => match &items[0] {
                        Value::Bytes(b) => b.clone(),
                        _ => return Err("x5chain entry is not a byte string".into()),
                    },
                    Value::Array(items) => {
                        return Err(format!(
                            "x5chain has {} certificates, expected exactly one (the instance certificate)",
                            items.len()
                        ))
                    }
                    _ => return Err("x5chain is not a byte string".into()),
                });
            }
            other => return Err(format!("unexpected protected header parameter {other:?}")),
        }
    }
    let cert_der = cert.ok_or("protected header has no x5chain (instance certificate)")?;
    let payload = sign1.payload.clone().ok_or("COSE_Sign1 has a detached payload")?;
    if sign1.signature.len() != 64 {
        return Err(format!(
            "ES256 signature is {} bytes, expected 64",
            sign1.signature.len()
        ));
    }
    Ok(Envelope {
        sign1,
        cert_der,
        payload,
    })
}

/// Produces simulated Evidence with an instance's key.
#[derive(Clone, Debug)]
pub struct SimAttester {
    instance: SimInstance,
    /// The encoded protected header `{1: -7 (ES256), 33: instance
    /// certificate}`: the same for every Evidence of this instance, so it
    /// is encoded once, not per connection.
    protected: Vec<u8>,
}

impl SimAttester {
    /// An attester for `instance`.
    pub fn new(instance: SimInstance) -> SimAttester {
        let protected = protected_header(instance.cert_der());
        SimAttester { instance, protected }
    }

    /// The instance this attester speaks for.
    pub fn instance(&self) -> &SimInstance {
        &self.instance
    }

    /// Produces the raw Evidence (a tagged COSE_Sign1) for `binding`.
    pub fn evidence(&self, binding: &BindingClaims) -> Result<Vec<u8>, SimError> {
        let hlen = binding.hash.output_len();
        if binding.binder.len() != hlen || !NONCE_LEN.contains(&binding.binder.len()) {
            return Err(SimError::invalid(
                "binder",
                format!("is {} bytes, expected {hlen}", binding.binder.len()),
            ));
        }
        if binding.aik_pub_hash.len() != hlen {
            return Err(SimError::invalid(
                "aik_pub_hash",
                format!("is {} bytes, expected {hlen}", binding.aik_pub_hash.len()),
            ));
        }
        let config = self.instance.config();
        let claims = SimClaims {
            eat_nonce: binding.binder.clone(),
            ueid: config.instance_id.clone(),
            iat: time::OffsetDateTime::now_utc().unix_timestamp(),
            dbgstat: if config.debug {
                DBGSTAT_ENABLED
            } else {
                DBGSTAT_DISABLED
            },
            measurement: config.measurement.clone(),
            aik_pub_hash: binding.aik_pub_hash.clone(),
            security_version: config.security_version.into(),
            hash: binding.hash,
        };
        let payload = claims.to_cbor()?;
        // Encoded directly rather than through coset's value tree (which
        // copies the certificate and the payload into CBOR values twice,
        // for the Sig_structure and for the envelope): this runs once per
        // attested connection. The bytes are the ones coset produces (a
        // test compares them).
        let tbs = sig_structure(&self.protected, &payload);
        let signature = self
            .instance
            .signing_key
            .sign(&aws_lc_rs::rand::SystemRandom::new(), &tbs)
            .map_err(|e| SimError::Crypto(format!("ES256 signing: {e}")))?;
        Ok(tagged_cose_sign1(&self.protected, &payload, signature.as_ref()))
    }
}

/// Appends the head of a CBOR data item of major type `major` with
/// argument `arg`, in its shortest form (RFC 8949 §4.2.1, as ciborium
/// writes it).
fn cbor_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    match arg {
        0..=23 => out.push(m | arg as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, arg as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(arg as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(arg as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&arg.to_be_bytes());
        }
    }
}

/// Appends a CBOR byte string.
fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The encoded protected header of simulated Evidence: `{1: -7, 33:
/// h'certificate'}` (alg ES256, x5chain with the instance certificate),
/// labels in the order coset writes them.
fn protected_header(cert_der: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cert_der.len() + 8);
    out.push(0xa2); // map(2)
    out.extend_from_slice(&[0x01, 0x26]); // 1 (alg): -7 (ES256)
    cbor_head(&mut out, 0, HEADER_X5CHAIN as u64);
    cbor_bytes(&mut out, cert_der);
    out
}

/// The COSE Sig_structure a COSE_Sign1 signature covers (RFC 9052 §4.4):
/// `["Signature1", protected, external_aad = h'', payload]`.
fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 24);
    out.push(0x84); // array(4)
    cbor_head(&mut out, 3, 10);
    out.extend_from_slice(b"Signature1");
    cbor_bytes(&mut out, protected);
    cbor_bytes(&mut out, b"");
    cbor_bytes(&mut out, payload);
    out
}

/// A tagged COSE_Sign1 (tag 18) with an empty unprotected header:
/// `18([protected, {}, payload, signature])`.
fn tagged_cose_sign1(protected: &[u8], payload: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + signature.len() + 16);
    out.push(0xd2); // tag(18)
    out.push(0x84); // array(4)
    cbor_bytes(&mut out, protected);
    out.push(0xa0); // map(0)
    cbor_bytes(&mut out, payload);
    cbor_bytes(&mut out, signature);
    out
}

impl Attester for SimAttester {
    fn platform(&self) -> &str {
        "sim"
    }

    /// Signing in software: never blocks.
    fn may_block(&self) -> bool {
        false
    }

    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        let evidence = self.evidence(binding).map_err(|e| AttestError::Platform {
            interface: "sim".into(),
            reason: e.to_string(),
        })?;
        if evidence.len() > crate::cmw::MAX_CMW_LEN {
            return Err(AttestError::TooLarge(evidence.len()));
        }
        Ok(Cmw::Record(CmwRecord::evidence(SIM_MEDIA_TYPE, evidence)))
    }
}

/// Whether raw bytes are a tagged COSE_Sign1 whose payload carries the
/// sim-tee `eat_profile` (no signature is checked).
pub(crate) fn looks_like_sim(raw: &[u8]) -> bool {
    if raw.len() > MAX_EVIDENCE_LEN {
        return false;
    }
    let Ok(sign1) = CoseSign1::from_tagged_slice(raw) else {
        return false;
    };
    let Some(payload) = sign1.payload else {
        return false;
    };
    let mut reader = payload.as_slice();
    let Ok(Value::Map(entries)) = ciborium::de::from_reader_with_recursion_limit::<Value, _>(&mut reader, 8) else {
        return false;
    };
    entries.iter().any(|(k, v)| {
        matches!(k, Value::Integer(i) if i128::from(*i) == i128::from(CLAIM_EAT_PROFILE))
            && matches!(v, Value::Text(t) if t == SIM_EAT_PROFILE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use coset::{CoseSign1Builder, HeaderBuilder};

    /// Guards the hand-written COSE encoding of [`SimAttester::evidence`]:
    /// its bytes must be exactly what coset builds from the same parts
    /// (Evidence on the wire did not change when it replaced coset), and
    /// the signature must cover coset's Sig_structure.
    #[test]
    fn evidence_is_byte_for_byte_the_coset_encoding() {
        let world = super::super::ephemeral_world(1).unwrap();
        let instance = world.instances[0].clone();
        let attester = SimAttester::new(instance.clone());
        for hash in [HashAlgorithm::Sha256, HashAlgorithm::Sha384] {
            let n = hash.output_len();
            let binding = BindingClaims {
                hash,
                binder: vec![0xb1; n],
                aik_pub_hash: vec![0xa1; n],
            };
            let ev = attester.evidence(&binding).unwrap();
            let parsed = CoseSign1::from_tagged_slice(&ev).unwrap();
            let payload = parsed.payload.clone().unwrap();
            let rebuilt = CoseSign1Builder::new()
                .protected(
                    HeaderBuilder::new()
                        .algorithm(iana::Algorithm::ES256)
                        .value(HEADER_X5CHAIN, Value::Bytes(instance.cert_der().to_vec()))
                        .build(),
                )
                .payload(payload.clone())
                .signature(parsed.signature.clone())
                .build();
            assert_eq!(rebuilt.clone().to_tagged_vec().unwrap(), ev);
            let tbs = rebuilt.tbs_data(b"");
            assert_eq!(tbs, sig_structure(&protected_header(instance.cert_der()), &payload));
            aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                aws_lc_rs::signature::KeyPair::public_key(instance.signing_key.as_ref()).as_ref(),
            )
            .verify(&tbs, &parsed.signature)
            .unwrap();
        }
    }

    /// The CBOR heads are the shortest forms, as ciborium writes them, at
    /// every boundary between argument sizes.
    #[test]
    fn cbor_heads_match_ciborium_at_every_size_boundary() {
        for arg in [
            0u64,
            23,
            24,
            255,
            256,
            65_535,
            65_536,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            u64::MAX,
        ] {
            let mut ours = Vec::new();
            cbor_head(&mut ours, 0, arg);
            let mut theirs = Vec::new();
            ciborium::into_writer(&Value::Integer(arg.into()), &mut theirs).unwrap();
            assert_eq!(ours, theirs, "argument {arg}");
        }
        let mut ours = Vec::new();
        cbor_bytes(&mut ours, &[7u8; 300]);
        let mut theirs = Vec::new();
        ciborium::into_writer(&Value::Bytes(vec![7u8; 300]), &mut theirs).unwrap();
        assert_eq!(ours, theirs);
    }
}
