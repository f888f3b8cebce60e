//! What the server side tells its backend about the TLS peer: a summary
//! of the peer's latest attestation result (EAR).

use attested_tls::ear::Ear;
use base64::Engine;
use serde::Serialize;

/// The `status` of a peer that was not required to attest (the server
/// side has no `policy`).
pub const NOT_REQUIRED: &str = "not-required";

/// Claims read as the measurement, in this order: the simulated TEE and
/// SEV-SNP (`measurement`), TDX (`mrtd`), SGX (`mrenclave`), CCA (the realm
/// initial measurement).
const MEASUREMENT_CLAIMS: [&str; 4] = ["measurement", "mrtd", "mrenclave", "realm_initial_measurement"];

/// The peer's attestation, as the backend sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerSummary {
    /// The EAR's `ear_status` (`affirming`, `warning`, ...), or
    /// [`NOT_REQUIRED`].
    pub status: String,
    /// The attested-TLS mode the result rests on (`expat`), empty when not
    /// required.
    pub mode: String,
    /// The first submodule's measurement claim (hex), empty if none.
    pub measurement: String,
    /// The EAR's `ear_verifier_id`, `developer/build`.
    pub verifier: String,
    /// The policies the result was reached under (`policy_ids` of every
    /// submodule, in order, without repeats).
    pub policies: Vec<String>,
    /// The EAR JSON, unpadded base64url; empty when not required.
    #[serde(skip)]
    pub ear_b64: String,
    /// The EAR JSON itself; empty when not required.
    #[serde(skip)]
    pub ear_json: String,
}

impl PeerSummary {
    /// The summary of a peer that was not required to attest.
    pub fn not_required() -> Self {
        Self {
            status: NOT_REQUIRED.into(),
            mode: String::new(),
            measurement: String::new(),
            verifier: String::new(),
            policies: Vec::new(),
            ear_b64: String::new(),
            ear_json: String::new(),
        }
    }

    /// The summary of an appraised peer's result.
    pub fn from_ear(ear: &Ear) -> Self {
        let first = ear.submods.values().next();
        let claim = |name: &str| {
            first
                .and_then(|a| a.claims.get(name))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let measurement = MEASUREMENT_CLAIMS.iter().find_map(|c| claim(c)).unwrap_or_default();
        let mode = claim(attested_tls::modes::MODE_CLAIM).unwrap_or_default();
        let mut policies: Vec<String> = Vec::new();
        for a in ear.submods.values() {
            for p in &a.policy_ids {
                if !policies.contains(p) {
                    policies.push(p.clone());
                }
            }
        }
        let ear_json = serde_json::to_string(ear).unwrap_or_default();
        Self {
            status: ear.consistent_status().to_string(),
            mode,
            measurement,
            verifier: format!("{}/{}", ear.ear_verifier_id.developer, ear.ear_verifier_id.build),
            policies,
            ear_b64: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ear_json.as_bytes()),
            ear_json,
        }
    }

    /// The compact JSON of the summary (`status`, `mode`, `measurement`,
    /// `verifier`, `policies`, in this order): the PROXY v2 summary TLV.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a summary serializes")
    }
}
