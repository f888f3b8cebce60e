//! CCA trust anchors (`ta.json`) and reference values (`rv.json`, CoRIM).

use serde::Deserialize;

use super::*;
use crate::crypto::constant_time_eq;
// ---------------------------------------------------------------------------
// Trust anchors and reference values

/// A CCA platform trust anchor: the CPAK of one platform instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchor {
    /// Platform instance id (33 bytes).
    pub instance_id: Vec<u8>,
    /// Platform implementation id (32 bytes).
    pub implementation_id: Vec<u8>,
    /// The CPAK.
    pub key: EcPublicKey,
}

#[derive(Deserialize)]
struct TaJson {
    #[serde(rename = "instance-id")]
    instance_id: String,
    #[serde(rename = "implementation-id")]
    implementation_id: String,
    pkey: serde_json::Value,
}

fn hex_field(what: &'static str, field: &str, s: &str, lens: &[usize]) -> Result<Vec<u8>, CcaError> {
    let b = hex::decode(s.trim()).map_err(|e| CcaError::Json {
        what,
        reason: format!("{field} {s:?} is not hex: {e}"),
    })?;
    if !lens.is_empty() && !lens.contains(&b.len()) {
        return Err(CcaError::Json {
            what,
            reason: format!("{field} is {} bytes, expected one of {lens:?}", b.len()),
        });
    }
    Ok(b)
}

/// Parses a trust-anchor file: a JSON list of
/// `{"instance-id": hex, "implementation-id": hex, "pkey": JWK}` (the
/// Veraison `ta.json` format).
pub fn parse_trust_anchors(json: &str) -> Result<Vec<TrustAnchor>, CcaError> {
    const W: &str = "trust anchor list";
    let list: Vec<TaJson> = serde_json::from_str(json).map_err(|e| CcaError::Json {
        what: W,
        reason: e.to_string(),
    })?;
    list.into_iter()
        .map(|t| {
            Ok(TrustAnchor {
                instance_id: hex_field(W, "instance-id", &t.instance_id, &[33])?,
                implementation_id: hex_field(W, "implementation-id", &t.implementation_id, &[32])?,
                key: EcPublicKey::from_jwk(&t.pkey)?,
            })
        })
        .collect()
}

/// A reference value for one platform software component.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwComponentReference {
    /// Component type (`BL`, ...); compared when both sides have one.
    #[serde(default)]
    pub component_type: Option<String>,
    /// Measurement value (hex in the policy).
    pub measurement: String,
    /// Signer id (hex); compared when given.
    #[serde(default)]
    pub signer_id: Option<String>,
    /// Version; informational, not compared.
    #[serde(default)]
    pub version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SwRef {
    pub(super) component_type: Option<String>,
    pub(super) measurement: Vec<u8>,
    pub(super) signer_id: Option<Vec<u8>>,
}

impl SwRef {
    pub(super) fn matches(&self, c: &SwComponent) -> bool {
        let ty_ok = match (&self.component_type, &c.component_type) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        let signer_ok = match (&self.signer_id, &c.signer_id) {
            (Some(a), Some(b)) => constant_time_eq(a, b),
            (Some(_), None) => false,
            (None, _) => true,
        };
        ty_ok && signer_ok && constant_time_eq(&self.measurement, &c.measurement_value)
    }
}

/// Reference values of one platform (implementation): configuration and
/// software components.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformReference {
    /// The implementation these values apply to (`None`: any).
    pub implementation_id: Option<Vec<u8>>,
    /// Required platform configuration (`None`: not compared).
    pub configuration: Option<Vec<u8>>,
    pub(super) sw_components: Vec<SwRef>,
}

/// All CCA reference values a verifier compares with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CcaReferenceValues {
    /// Platform reference values; empty: platform software not compared
    /// (every result is then at best a warning saying so).
    pub platforms: Vec<PlatformReference>,
    /// Allowed realm initial measurements; empty: every token FAILS.
    pub realm_initial_measurements: Vec<Vec<u8>>,
    /// Allowed realm personalization values; empty: not compared.
    pub realm_personalization_values: Vec<Vec<u8>>,
    /// Allowed REM quadruples; empty: not compared.
    pub rems: Vec<Vec<Vec<u8>>>,
}

impl CcaReferenceValues {
    /// Appends another set of reference values.
    pub fn merge(&mut self, other: CcaReferenceValues) {
        self.platforms.extend(other.platforms);
        self.realm_initial_measurements.extend(other.realm_initial_measurements);
        self.realm_personalization_values
            .extend(other.realm_personalization_values);
        self.rems.extend(other.rems);
    }
}

#[derive(Deserialize)]
struct RvJson {
    #[serde(default)]
    platform: Vec<RvPlatform>,
    #[serde(default)]
    realm: Vec<RvRealm>,
}

#[derive(Deserialize)]
struct RvPlatform {
    #[serde(rename = "implementation-id")]
    implementation_id: String,
    #[serde(rename = "platform-configuration", default)]
    configuration: Option<String>,
    #[serde(rename = "sw-components", default)]
    sw_components: Vec<RvSw>,
}

#[derive(Deserialize)]
struct RvSw {
    #[serde(rename = "component-type", default)]
    component_type: Option<String>,
    #[serde(rename = "measurement-value")]
    measurement_value: String,
    #[serde(rename = "signer-id", default)]
    signer_id: Option<String>,
}

#[derive(Deserialize)]
struct RvRealm {
    #[serde(rename = "personalization-value", default)]
    personalization_value: Option<String>,
    #[serde(rename = "initial-measurement")]
    initial_measurement: String,
    #[serde(rename = "extensible-measurements", default)]
    extensible_measurements: Option<Vec<String>>,
}

/// Parses a Veraison-style `rv.json` (platform entries keyed by
/// implementation id with configuration and software components; realm
/// entries with RIM, REMs and RPV). Hex everywhere.
pub fn parse_rv_json(json: &str) -> Result<CcaReferenceValues, CcaError> {
    const W: &str = "reference values";
    let rv: RvJson = serde_json::from_str(json).map_err(|e| CcaError::Json {
        what: W,
        reason: e.to_string(),
    })?;
    let mut out = CcaReferenceValues::default();
    for p in rv.platform {
        out.platforms.push(PlatformReference {
            implementation_id: Some(hex_field(W, "implementation-id", &p.implementation_id, &[32])?),
            configuration: p
                .configuration
                .as_deref()
                .map(|c| hex_field(W, "platform-configuration", c, &[]))
                .transpose()?,
            sw_components: p
                .sw_components
                .iter()
                .map(|s| {
                    Ok(SwRef {
                        component_type: s.component_type.clone(),
                        measurement: hex_field(W, "measurement-value", &s.measurement_value, &[32, 48, 64])?,
                        signer_id: s
                            .signer_id
                            .as_deref()
                            .map(|x| hex_field(W, "signer-id", x, &[32, 48, 64]))
                            .transpose()?,
                    })
                })
                .collect::<Result<_, CcaError>>()?,
        });
    }
    for r in rv.realm {
        out.realm_initial_measurements.push(hex_field(
            W,
            "initial-measurement",
            &r.initial_measurement,
            &[32, 48, 64],
        )?);
        if let Some(p) = &r.personalization_value {
            out.realm_personalization_values
                .push(hex_field(W, "personalization-value", p, &[64])?);
        }
        if let Some(rems) = &r.extensible_measurements {
            if rems.len() != 4 {
                return Err(CcaError::Json {
                    what: W,
                    reason: format!("extensible-measurements has {} entries, expected 4", rems.len()),
                });
            }
            out.rems.push(
                rems.iter()
                    .map(|x| hex_field(W, "extensible-measurements", x, &[32, 48, 64]))
                    .collect::<Result<_, _>>()?,
            );
        }
    }
    Ok(out)
}
