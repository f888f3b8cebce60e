//! CCA token decoding: CBOR collection, platform and realm claims, keys, COSE_Sign1.

use std::collections::BTreeSet;

use aws_lc_rs::signature;
use base64::Engine;
use ciborium::value::Value;
use coset::{iana, CborSerializable, CoseSign1, RegisteredLabelWithPrivate, TaggedCborSerializable};

use super::*;
use crate::crypto::constant_time_eq;
// ---------------------------------------------------------------------------
// CBOR helpers

fn int_key(v: &Value) -> Option<i128> {
    match v {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

fn bytes_of<'a>(v: &'a Value, claim: &'static str) -> Result<&'a [u8], CcaError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(bad_claim(claim, "expected a byte string")),
    }
}

fn bytes_len(v: &Value, claim: &'static str, allowed: &[usize]) -> Result<Vec<u8>, CcaError> {
    let b = bytes_of(v, claim)?;
    if !allowed.contains(&b.len()) {
        return Err(bad_claim(
            claim,
            format!("is {} bytes, expected one of {allowed:?}", b.len()),
        ));
    }
    Ok(b.to_vec())
}

fn text_of(v: &Value, claim: &'static str) -> Result<String, CcaError> {
    match v {
        Value::Text(t) => Ok(t.clone()),
        _ => Err(bad_claim(claim, "expected a text string")),
    }
}

fn decode_cbor(bytes: &[u8], what: &'static str) -> Result<Value, CcaError> {
    if bytes.len() > MAX_TOKEN_LEN {
        return Err(CcaError::TooLarge {
            what,
            len: bytes.len(),
            max: MAX_TOKEN_LEN,
        });
    }
    let mut reader = bytes;
    let v: Value = ciborium::de::from_reader(&mut reader).map_err(|e| CcaError::Cbor {
        what,
        reason: e.to_string(),
    })?;
    if !reader.is_empty() {
        return Err(structure(
            what,
            format!("{} trailing bytes after the CBOR item", reader.len()),
        ));
    }
    Ok(v)
}

/// Tracks claims seen in a map so that duplicates are refused.
struct Seen {
    token: &'static str,
    keys: BTreeSet<i128>,
}

impl Seen {
    fn new(token: &'static str) -> Self {
        Self {
            token,
            keys: BTreeSet::new(),
        }
    }
    fn first(&mut self, key: i128, claim: &'static str) -> Result<(), CcaError> {
        if self.keys.insert(key) {
            Ok(())
        } else {
            Err(CcaError::DuplicateClaim {
                token: self.token,
                claim,
            })
        }
    }
}

fn required<T>(v: Option<T>, token: &'static str, claim: &'static str) -> Result<T, CcaError> {
    v.ok_or(CcaError::MissingClaim { token, claim })
}

// ---------------------------------------------------------------------------
// Claims

/// One entry of the platform's software components claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwComponent {
    /// Component type (`BL`, `M1`, ...), key 1.
    pub component_type: Option<String>,
    /// Measurement value, key 2 (mandatory).
    pub measurement_value: Vec<u8>,
    /// Version, key 4.
    pub version: Option<String>,
    /// Signer id, key 5.
    pub signer_id: Option<Vec<u8>>,
    /// Measurement description (hash algorithm), key 6.
    pub measurement_description: Option<String>,
}

impl SwComponent {
    fn from_value(v: &Value) -> Result<Self, CcaError> {
        const C: &str = "platform.sw_components";
        let Value::Map(m) = v else {
            return Err(bad_claim(C, "entry is not a map"));
        };
        let mut seen = Seen::new("platform sw component");
        let (mut ty, mut mv, mut ver, mut signer, mut desc) = (None, None, None, None, None);
        for (k, v) in m {
            match int_key(k) {
                Some(SW_COMPONENT_TYPE) => {
                    seen.first(SW_COMPONENT_TYPE, "component type")?;
                    ty = Some(text_of(v, "platform.sw_components.component_type")?);
                }
                Some(SW_MEASUREMENT_VALUE) => {
                    seen.first(SW_MEASUREMENT_VALUE, "measurement value")?;
                    mv = Some(bytes_len(v, "platform.sw_components.measurement_value", &[32, 48, 64])?);
                }
                Some(SW_VERSION) => {
                    seen.first(SW_VERSION, "version")?;
                    ver = Some(text_of(v, "platform.sw_components.version")?);
                }
                Some(SW_SIGNER_ID) => {
                    seen.first(SW_SIGNER_ID, "signer id")?;
                    signer = Some(bytes_len(v, "platform.sw_components.signer_id", &[32, 48, 64])?);
                }
                Some(SW_MEASUREMENT_DESC) => {
                    seen.first(SW_MEASUREMENT_DESC, "measurement description")?;
                    desc = Some(text_of(v, "platform.sw_components.measurement_description")?);
                }
                _ => {} // unknown entries are tolerated
            }
        }
        Ok(Self {
            component_type: ty,
            measurement_value: required(mv, "platform sw component", "measurement value (2)")?,
            version: ver,
            signer_id: signer,
            measurement_description: desc,
        })
    }

    pub(super) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "component_type": self.component_type,
            "measurement_value": hex::encode(&self.measurement_value),
            "version": self.version,
            "signer_id": self.signer_id.as_ref().map(hex::encode),
            "measurement_description": self.measurement_description,
        })
    }
}

/// The CCA platform claims (signed by the CPAK).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformClaims {
    /// Profile (265).
    pub profile: String,
    /// Challenge (10): `Hash(RAK)`, 32, 48 or 64 bytes.
    pub challenge: Vec<u8>,
    /// Implementation id (2396), 32 bytes.
    pub implementation_id: Vec<u8>,
    /// Instance id (256), 33 bytes, first byte 0x01 (RAND UEID).
    pub instance_id: Vec<u8>,
    /// Platform configuration (2401).
    pub config: Vec<u8>,
    /// Security lifecycle (2395).
    pub lifecycle: u16,
    /// Software components (2399).
    pub sw_components: Vec<SwComponent>,
    /// Verification service indicator (2400).
    pub verification_service: Option<String>,
    /// Hash algorithm id (2402).
    pub hash_algo_id: String,
}

/// Longest platform configuration accepted.
const MAX_CONFIG_LEN: usize = 4096;
/// Most software components accepted.
const MAX_SW_COMPONENTS: usize = 64;

impl PlatformClaims {
    /// Decodes an encoded platform claims map.
    pub fn decode(bytes: &[u8]) -> Result<Self, CcaError> {
        Self::from_value(&decode_cbor(bytes, "platform claims")?)
    }

    fn from_value(v: &Value) -> Result<Self, CcaError> {
        const T: &str = "platform";
        let Value::Map(m) = v else {
            return Err(structure("platform claims", "not a CBOR map"));
        };
        let mut seen = Seen::new(T);
        let mut profile = None;
        let mut challenge = None;
        let mut impl_id = None;
        let mut inst_id = None;
        let mut config = None;
        let mut lifecycle = None;
        let mut sw = None;
        let mut vsi = None;
        let mut hash = None;
        for (k, v) in m {
            let Some(key) = int_key(k) else { continue };
            match key {
                P_PROFILE => {
                    seen.first(key, "profile (265)")?;
                    profile = Some(text_of(v, "platform.profile")?);
                }
                P_CHALLENGE => {
                    seen.first(key, "challenge (10)")?;
                    challenge = Some(bytes_len(v, "platform.challenge", &[32, 48, 64])?);
                }
                P_IMPLEMENTATION_ID => {
                    seen.first(key, "implementation id (2396)")?;
                    impl_id = Some(bytes_len(v, "platform.implementation_id", &[32])?);
                }
                P_INSTANCE_ID => {
                    seen.first(key, "instance id (256)")?;
                    let b = bytes_len(v, "platform.instance_id", &[33])?;
                    if b[0] != 0x01 {
                        return Err(bad_claim("platform.instance_id", "first byte is not 0x01 (RAND UEID)"));
                    }
                    inst_id = Some(b);
                }
                P_CONFIG => {
                    seen.first(key, "config (2401)")?;
                    let b = bytes_of(v, "platform.config")?;
                    if b.len() > MAX_CONFIG_LEN {
                        return Err(bad_claim(
                            "platform.config",
                            format!("longer than {MAX_CONFIG_LEN} bytes"),
                        ));
                    }
                    config = Some(b.to_vec());
                }
                P_LIFECYCLE => {
                    seen.first(key, "lifecycle (2395)")?;
                    let l = match v {
                        Value::Integer(i) => u16::try_from(i128::from(*i)).ok(),
                        _ => None,
                    };
                    lifecycle =
                        Some(l.ok_or_else(|| bad_claim("platform.lifecycle", "expected an integer 0..=65535"))?);
                }
                P_SW_COMPONENTS => {
                    seen.first(key, "sw components (2399)")?;
                    let Value::Array(a) = v else {
                        return Err(bad_claim("platform.sw_components", "expected an array"));
                    };
                    if a.is_empty() || a.len() > MAX_SW_COMPONENTS {
                        return Err(bad_claim(
                            "platform.sw_components",
                            format!("has {} entries, expected 1..={MAX_SW_COMPONENTS}", a.len()),
                        ));
                    }
                    sw = Some(a.iter().map(SwComponent::from_value).collect::<Result<Vec<_>, _>>()?);
                }
                P_VERIFICATION_SERVICE => {
                    seen.first(key, "verification service (2400)")?;
                    vsi = Some(text_of(v, "platform.verification_service")?);
                }
                P_HASH_ALGO => {
                    seen.first(key, "hash algorithm id (2402)")?;
                    hash = Some(text_of(v, "platform.hash_algo_id")?);
                }
                _ => {} // unknown claims are tolerated
            }
        }
        Ok(Self {
            profile: required(profile, T, "profile (265)")?,
            challenge: required(challenge, T, "challenge (10)")?,
            implementation_id: required(impl_id, T, "implementation id (2396)")?,
            instance_id: required(inst_id, T, "instance id (256)")?,
            config: required(config, T, "config (2401)")?,
            lifecycle: required(lifecycle, T, "lifecycle (2395)")?,
            sw_components: required(sw, T, "sw components (2399)")?,
            verification_service: vsi,
            hash_algo_id: required(hash, T, "hash algorithm id (2402)")?,
        })
    }
}

/// The CCA realm claims (signed by the RAK).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealmClaims {
    /// Profile (265), optional in the legacy format.
    pub profile: Option<String>,
    /// Challenge (10), 64 bytes: carries the attested-tls `report_data`.
    pub challenge: Vec<u8>,
    /// Realm personalization value (44235), 64 bytes.
    pub personalization_value: Vec<u8>,
    /// Measurement hash algorithm (44236).
    pub hash_algo_id: String,
    /// Realm attestation public key (44237): raw EC point or COSE_Key.
    pub public_key: Vec<u8>,
    /// Realm initial measurement (44238).
    pub initial_measurement: Vec<u8>,
    /// Realm extensible measurements (44239), 4 entries.
    pub extensible_measurements: Vec<Vec<u8>>,
    /// Hash algorithm of the RAK hash in the platform challenge (44240).
    pub public_key_hash_algo_id: String,
}

impl RealmClaims {
    /// Decodes an encoded realm claims map.
    pub fn decode(bytes: &[u8]) -> Result<Self, CcaError> {
        Self::from_value(&decode_cbor(bytes, "realm claims")?)
    }

    fn from_value(v: &Value) -> Result<Self, CcaError> {
        const T: &str = "realm";
        let Value::Map(m) = v else {
            return Err(structure("realm claims", "not a CBOR map"));
        };
        let mut seen = Seen::new(T);
        let (mut profile, mut challenge, mut rpv, mut hash, mut pk, mut rim, mut rems, mut pkh) =
            (None, None, None, None, None, None, None, None);
        for (k, v) in m {
            let Some(key) = int_key(k) else { continue };
            match key {
                R_PROFILE => {
                    seen.first(key, "profile (265)")?;
                    profile = Some(text_of(v, "realm.profile")?);
                }
                R_CHALLENGE => {
                    seen.first(key, "challenge (10)")?;
                    challenge = Some(bytes_len(v, "realm.challenge", &[64])?);
                }
                R_PERSONALIZATION => {
                    seen.first(key, "personalization value (44235)")?;
                    rpv = Some(bytes_len(v, "realm.personalization_value", &[64])?);
                }
                R_HASH_ALGO => {
                    seen.first(key, "hash algorithm id (44236)")?;
                    hash = Some(text_of(v, "realm.hash_algo_id")?);
                }
                R_PUBLIC_KEY => {
                    seen.first(key, "public key (44237)")?;
                    let b = bytes_of(v, "realm.public_key")?;
                    if b.is_empty() || b.len() > 1024 {
                        return Err(bad_claim("realm.public_key", format!("is {} bytes", b.len())));
                    }
                    pk = Some(b.to_vec());
                }
                R_RIM => {
                    seen.first(key, "initial measurement (44238)")?;
                    rim = Some(bytes_len(v, "realm.initial_measurement", &[32, 48, 64])?);
                }
                R_REMS => {
                    seen.first(key, "extensible measurements (44239)")?;
                    let Value::Array(a) = v else {
                        return Err(bad_claim("realm.extensible_measurements", "expected an array"));
                    };
                    if a.len() != 4 {
                        return Err(bad_claim(
                            "realm.extensible_measurements",
                            format!("has {} entries, expected 4", a.len()),
                        ));
                    }
                    rems = Some(
                        a.iter()
                            .map(|x| bytes_len(x, "realm.extensible_measurements", &[32, 48, 64]))
                            .collect::<Result<Vec<_>, _>>()?,
                    );
                }
                R_PUBLIC_KEY_HASH_ALGO => {
                    seen.first(key, "public key hash algorithm id (44240)")?;
                    pkh = Some(text_of(v, "realm.public_key_hash_algo_id")?);
                }
                _ => {} // unknown claims are tolerated
            }
        }
        Ok(Self {
            profile,
            challenge: required(challenge, T, "challenge (10)")?,
            personalization_value: required(rpv, T, "personalization value (44235)")?,
            hash_algo_id: required(hash, T, "hash algorithm id (44236)")?,
            public_key: required(pk, T, "public key (44237)")?,
            initial_measurement: required(rim, T, "initial measurement (44238)")?,
            extensible_measurements: required(rems, T, "extensible measurements (44239)")?,
            public_key_hash_algo_id: required(pkh, T, "public key hash algorithm id (44240)")?,
        })
    }

    /// The Realm Attestation Key.
    pub fn rak(&self) -> Result<EcPublicKey, CcaError> {
        let b = &self.public_key;
        if b.first() == Some(&0x04) && matches!(b.len(), 65 | 97 | 133) {
            EcPublicKey::from_raw_point(b)
        } else {
            EcPublicKey::from_cose_key(b)
        }
    }

    /// `Hash(RAK)` with the realm's public-key hash algorithm: the value the
    /// platform challenge must equal.
    pub fn rak_hash(&self) -> Result<Vec<u8>, CcaError> {
        let alg = HashAlg::from_name(&self.public_key_hash_algo_id).ok_or_else(|| {
            bad_claim(
                "realm.public_key_hash_algo_id",
                format!("unsupported hash algorithm {:?}", self.public_key_hash_algo_id),
            )
        })?;
        Ok(alg.digest(&self.public_key))
    }
}

// ---------------------------------------------------------------------------
// Keys

/// NIST curves used by CCA keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// P-256 (ES256).
    P256,
    /// P-384 (ES384).
    P384,
    /// P-521 (ES512).
    P521,
}

impl Curve {
    const fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
    fn from_jwk_name(n: &str) -> Option<Self> {
        match n {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }
    const fn cose_alg(self) -> iana::Algorithm {
        match self {
            Self::P256 => iana::Algorithm::ES256,
            Self::P384 => iana::Algorithm::ES384,
            Self::P521 => iana::Algorithm::ES512,
        }
    }
    fn verification_alg(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::P521 => &signature::ECDSA_P521_SHA512_FIXED,
        }
    }
}

/// An EC public key: curve and uncompressed point (`04 || x || y`). The
/// point is validated by the signature verification, not at load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcPublicKey {
    /// The curve.
    pub curve: Curve,
    /// Uncompressed SEC1 point.
    pub point: Vec<u8>,
}

impl EcPublicKey {
    /// From an uncompressed SEC1 point (65, 97 or 133 bytes).
    pub fn from_raw_point(b: &[u8]) -> Result<Self, CcaError> {
        let curve = match b.len() {
            65 => Curve::P256,
            97 => Curve::P384,
            133 => Curve::P521,
            n => return Err(CcaError::Key(format!("raw EC point of {n} bytes"))),
        };
        if b[0] != 0x04 {
            return Err(CcaError::Key("raw EC point is not uncompressed (0x04)".into()));
        }
        Ok(Self {
            curve,
            point: b.to_vec(),
        })
    }

    fn from_coordinates(curve: Curve, x: &[u8], y: &[u8]) -> Result<Self, CcaError> {
        let l = curve.coordinate_len();
        if x.len() != l || y.len() != l {
            return Err(CcaError::Key(format!(
                "{curve:?} coordinates must be {l} bytes, got {} and {}",
                x.len(),
                y.len()
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * l);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Ok(Self { curve, point })
    }

    /// From a JWK (`kty` EC, `crv` P-256/P-384/P-521, base64url `x`, `y`).
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, CcaError> {
        let field = |n: &str| {
            jwk.get(n)
                .and_then(|v| v.as_str())
                .ok_or_else(|| CcaError::Key(format!("JWK lacks the string member {n:?}")))
        };
        if field("kty")? != "EC" {
            return Err(CcaError::Key("JWK kty is not EC".into()));
        }
        let crv = field("crv")?;
        let curve = Curve::from_jwk_name(crv).ok_or_else(|| CcaError::Key(format!("unsupported JWK curve {crv:?}")))?;
        let b64 = |n: &str| -> Result<Vec<u8>, CcaError> {
            let s = field(n)?;
            if s.len() > 256 {
                return Err(CcaError::Key(format!("JWK {n} is too long")));
            }
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|e| CcaError::Key(format!("JWK {n} is not base64url: {e}")))
        };
        Self::from_coordinates(curve, &b64("x")?, &b64("y")?)
    }

    /// From an encoded COSE_Key (EC2 with crv, x, y).
    pub fn from_cose_key(b: &[u8]) -> Result<Self, CcaError> {
        let v = decode_cbor(b, "COSE_Key").map_err(|e| CcaError::Key(e.to_string()))?;
        let Value::Map(m) = v else {
            return Err(CcaError::Key("COSE_Key is not a map".into()));
        };
        let get = |label: i128| m.iter().find(|(k, _)| int_key(k) == Some(label)).map(|(_, v)| v);
        let int = |v: Option<&Value>| v.and_then(int_key);
        if int(get(1)) != Some(2) {
            return Err(CcaError::Key("COSE_Key kty is not EC2".into()));
        }
        let curve = match int(get(-1)) {
            Some(1) => Curve::P256,
            Some(2) => Curve::P384,
            Some(3) => Curve::P521,
            c => return Err(CcaError::Key(format!("unsupported COSE_Key curve {c:?}"))),
        };
        let coord = |label| match get(label) {
            Some(Value::Bytes(b)) => Ok(b.as_slice()),
            _ => Err(CcaError::Key(format!("COSE_Key lacks coordinate {label}"))),
        };
        Self::from_coordinates(curve, coord(-2)?, coord(-3)?)
    }

    /// Verifies a COSE_Sign1 (no external AAD): the protected `alg` must be
    /// the one of this key's curve.
    pub fn verify_sign1(&self, sign1: &CoseSign1, token: &'static str) -> Result<(), CcaError> {
        let want = self.curve.cose_alg();
        match &sign1.protected.header.alg {
            Some(RegisteredLabelWithPrivate::Assigned(a)) if *a == want => {}
            other => {
                return Err(CcaError::Cose {
                    token,
                    reason: format!("algorithm {other:?} does not match the {:?} key ({want:?})", self.curve),
                })
            }
        }
        let key = signature::UnparsedPublicKey::new(self.curve.verification_alg(), &self.point);
        sign1
            .verify_signature(b"", |sig, tbs| key.verify(tbs, sig))
            .map_err(|_| CcaError::Signature {
                token,
                key: format!(
                    "{:?} key {}",
                    self.curve,
                    hex::encode(&self.point[..9.min(self.point.len())])
                ),
            })
    }
}

// ---------------------------------------------------------------------------
// Token

/// A decoded CCA attestation token (signatures not yet verified).
#[derive(Clone, Debug)]
pub struct CcaToken {
    /// Platform claims.
    pub platform: PlatformClaims,
    /// Realm claims.
    pub realm: RealmClaims,
    platform_sign1: CoseSign1,
    realm_sign1: CoseSign1,
}

fn decode_sign1(b: &[u8], token: &'static str) -> Result<CoseSign1, CcaError> {
    let cose = |e: coset::CoseError| CcaError::Cose {
        token,
        reason: e.to_string(),
    };
    let s = if b.first() == Some(&0xd2) {
        CoseSign1::from_tagged_slice(b).map_err(cose)?
    } else {
        CoseSign1::from_slice(b).map_err(cose)?
    };
    if s.payload.is_none() {
        return Err(CcaError::Cose {
            token,
            reason: "detached payload".into(),
        });
    }
    Ok(s)
}

impl CcaToken {
    /// Decodes a tag-399 collection and both claim sets, with bounds.
    pub fn decode(bytes: &[u8]) -> Result<Self, CcaError> {
        let v = decode_cbor(bytes, "CCA token")?;
        let Value::Tag(tag, inner) = v else {
            return Err(structure("CCA token", format!("not CBOR tag {CCA_TOKEN_TAG}")));
        };
        if tag != CCA_TOKEN_TAG {
            return Err(structure(
                "CCA token",
                format!("CBOR tag {tag}, expected {CCA_TOKEN_TAG}"),
            ));
        }
        let Value::Map(m) = *inner else {
            return Err(structure("CCA token", "collection is not a map"));
        };
        let (mut p, mut r) = (None, None);
        for (k, v) in &m {
            let slot = match int_key(k) {
                Some(KEY_PLATFORM_TOKEN) => &mut p,
                Some(KEY_REALM_TOKEN) => &mut r,
                _ => return Err(structure("CCA token", format!("unexpected collection key {k:?}"))),
            };
            if slot.is_some() {
                return Err(structure("CCA token", format!("collection key {k:?} appears twice")));
            }
            match v {
                Value::Bytes(b) => *slot = Some(b.as_slice()),
                _ => {
                    return Err(structure(
                        "CCA token",
                        format!("collection entry {k:?} is not a byte string"),
                    ))
                }
            }
        }
        let p = p.ok_or_else(|| structure("CCA token", "no platform token (44234)"))?;
        let r = r.ok_or_else(|| structure("CCA token", "no realm token (44241)"))?;
        let platform_sign1 = decode_sign1(p, "platform")?;
        let realm_sign1 = decode_sign1(r, "realm")?;
        let platform = PlatformClaims::decode(platform_sign1.payload.as_deref().unwrap_or_default())?;
        let realm = RealmClaims::decode(realm_sign1.payload.as_deref().unwrap_or_default())?;
        Ok(Self {
            platform,
            realm,
            platform_sign1,
            realm_sign1,
        })
    }

    /// Verifies the platform token's signature with a CPAK.
    pub fn verify_platform(&self, cpak: &EcPublicKey) -> Result<(), CcaError> {
        cpak.verify_sign1(&self.platform_sign1, "platform")
    }

    /// Verifies the realm token's signature with the RAK it carries.
    pub fn verify_realm(&self) -> Result<(), CcaError> {
        self.realm.rak()?.verify_sign1(&self.realm_sign1, "realm")
    }

    /// Whether the platform challenge equals `Hash(RAK)` (the platform->realm binding).
    pub fn platform_binds_realm(&self) -> Result<bool, CcaError> {
        Ok(constant_time_eq(&self.platform.challenge, &self.realm.rak_hash()?))
    }
}
