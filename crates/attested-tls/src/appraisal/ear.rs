//! Appraisal results as EAT Attestation Results (draft-ietf-rats-ear-04).
//!
//! [`Ear`] serializes as the JSON claims-set of the `-04` profile
//! ([`EAR_PROFILE`]); [`crate::ear_jwt`] signs it and reads `-04`, `-03`
//! and Veraison EARs. docs/ear.md describes both.
//!
//! A verifier produces one [`Appraisal`] per attesting environment (an EAR
//! "submodule": `sim`, `snp`, `tdx`, `sgx`, `cca`); an [`Ear`] collects them.
//! Beyond the draft's claims, every appraisal lists its [`Finding`]s: for
//! each check that failed (or passed only because the policy allowed it),
//! the claim, the observed value, the expected value and why. That is what
//! lets a user read "measurement 3f2a... is not in the reference values of
//! policy prod-v3" instead of "attestation failed".

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::cmw::{CmwError, CmwRecord};

/// `text` with control characters (line breaks, terminal escape sequences)
/// line/paragraph separators and Unicode bidirectional controls escaped (`\n`, `\u{1b}`,
/// `\u{202e}`): for text that came from a peer or from Evidence and is
/// shown to people, so that it cannot start lines of its own ("attestation
/// result: affirming"), drive the terminal or reorder what is displayed.
/// JSON output needs no such care (serde escapes it).
///
/// ```
/// use attested_tls::ear::escape_control;
/// assert_eq!(escape_control("CN=x\nresult: ok"), "CN=x\\nresult: ok");
/// assert_eq!(escape_control("plain"), "plain");
/// ```
pub fn escape_control(text: &str) -> Cow<'_, str> {
    fn unsafe_to_show(c: char) -> bool {
        // Controls, the line and paragraph separators, and every
        // Bidi_Control character.
        c.is_control()
            || matches!(
                c,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            )
    }
    if !text.chars().any(unsafe_to_show) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_to_show(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The EAR profile this crate emits (draft-ietf-rats-ear-04, Section 3).
pub const EAR_PROFILE: &str = "tag:ietf.org,2026:rats/ear#04";
/// The draft-ietf-rats-ear-03 profile, accepted when reading (it is what
/// this crate emitted before -04).
pub const EAR_PROFILE_03: &str = "tag:ietf.org,2026:rats/ear#03";
/// The older Veraison profile, accepted when reading.
pub const EAR_PROFILE_VERAISON: &str = "tag:github.com,2023:veraison/ear";

/// AR4SI trustworthiness tier, ordered from best to worst.
///
/// `None` sorts first, below `Affirming`, which is right inside one
/// appraisal's trust vector (a claim without a value adds nothing) but wrong
/// when combining submodules: an environment nobody made a statement about
/// must not let the others' `affirming` through. Combine submodule tiers
/// with [`Tier::overall`], never with `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The verifier makes no statement (e.g. nothing was appraised).
    None,
    /// Every check passed.
    Affirming,
    /// Acceptable to this policy, but something deserves attention.
    Warning,
    /// Must not be trusted.
    Contraindicated,
}

impl Tier {
    /// The overall tier of a result made of submodules with these tiers.
    ///
    /// - no submodule, or every submodule `none`: `none` (nothing was
    ///   appraised);
    /// - some submodules `none` and others not: `contraindicated`. A
    ///   submodule the verifier made no statement about was not appraised,
    ///   and a result is affirming (or an acceptable warning) only when
    ///   every attesting environment was appraised; `warning` would not do,
    ///   since a warning is accepted;
    /// - otherwise the worst of them.
    pub fn overall(tiers: impl IntoIterator<Item = Tier>) -> Tier {
        let mut worst = None;
        let (mut any_none, mut any_other) = (false, false);
        for t in tiers {
            if t == Tier::None {
                any_none = true;
            } else {
                any_other = true;
                worst = worst.max(Some(t));
            }
        }
        match (any_none, any_other) {
            (_, false) => Tier::None,
            (true, true) => Tier::Contraindicated,
            (false, true) => worst.unwrap_or(Tier::None),
        }
    }

    /// This tier as a statement that may be no more trusted than `worst`,
    /// the worst tier of what it summarizes: `contraindicated` if `worst`
    /// is; otherwise the worse of the two, except that `none` (no
    /// statement) stays `none`, since the worse of `none` and anything
    /// else would raise it to an acceptable tier.
    ///
    /// ```
    /// use attested_tls::ear::Tier;
    /// assert_eq!(Tier::Affirming.capped_by(Tier::Warning), Tier::Warning);
    /// assert_eq!(Tier::Warning.capped_by(Tier::Affirming), Tier::Warning);
    /// assert_eq!(Tier::None.capped_by(Tier::Warning), Tier::None);
    /// assert_eq!(Tier::None.capped_by(Tier::Contraindicated), Tier::Contraindicated);
    /// ```
    pub fn capped_by(self, worst: Tier) -> Tier {
        match (self, worst) {
            (_, Tier::Contraindicated) => Tier::Contraindicated,
            (Tier::None, _) => Tier::None,
            (s, w) => s.max(w),
        }
    }

    /// The numeric value of the CBOR encoding.
    pub const fn code(self) -> i8 {
        match self {
            Self::None => 0,
            Self::Affirming => 2,
            Self::Warning => 32,
            Self::Contraindicated => 96,
        }
    }

    /// Maps an AR4SI claim value to its tier (-1..=1 none, 2..=31 affirming,
    /// 32..=95 warning, 96..=127 contraindicated).
    pub const fn of_claim_value(v: i8) -> Self {
        match v {
            2..=31 => Self::Affirming,
            32..=95 => Self::Warning,
            96..=127 => Self::Contraindicated,
            _ => Self::None,
        }
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Affirming => "affirming",
            Self::Warning => "warning",
            Self::Contraindicated => "contraindicated",
        })
    }
}

/// The eight AR4SI trustworthiness claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrustClaim {
    /// Is the attester the instance it claims (and an allowed one)?
    InstanceIdentity,
    /// Is its configuration (debug, policy bits, TCB settings) approved?
    Configuration,
    /// Are the measured executables the approved ones?
    Executables,
    /// File system integrity.
    FileSystem,
    /// Is the hardware genuine and up to date?
    Hardware,
    /// Is run-time memory protected from the host?
    RuntimeOpaque,
    /// Is storage protected?
    StorageOpaque,
    /// Is data the attester relies on trustworthy?
    SourcedData,
}

/// Claim values from the AR4SI tables used by this crate's verifiers.
pub mod claim_value {
    /// instance-identity: recognized, not known compromised.
    pub const TRUSTWORTHY_INSTANCE: i8 = 2;
    /// instance-identity: not recognized / not allowed.
    pub const UNTRUSTWORTHY_INSTANCE: i8 = 97;
    /// configuration: approved.
    pub const APPROVED_CONFIG: i8 = 2;
    /// configuration: allowed by policy but unsafe (e.g. debug allowed).
    pub const UNSAFE_CONFIG: i8 = 32;
    /// configuration: unsupportable / forbidden.
    pub const UNSUPPORTABLE_CONFIG: i8 = 96;
    /// executables: approved at boot and run time.
    pub const APPROVED_RUNTIME: i8 = 2;
    /// executables: genuine and approved, but the verifier cannot vouch
    /// that none of them is a vulnerable version (e.g. no version floor set).
    pub const UNSAFE_RUNTIME: i8 = 32;
    /// executables: unrecognized.
    pub const UNRECOGNIZED_RUNTIME: i8 = 33;
    /// executables: contraindicated.
    pub const CONTRAINDICATED_RUNTIME: i8 = 96;
    /// hardware: genuine and current.
    pub const GENUINE_HARDWARE: i8 = 2;
    /// hardware: genuine but needs an update (outdated TCB allowed by policy).
    pub const VULNERABLE_HARDWARE: i8 = 32;
    /// hardware: not genuine or unsupportable.
    pub const UNRECOGNIZED_HARDWARE: i8 = 97;
    /// runtime-opaque: memory encrypted from the host.
    pub const ENCRYPTED_MEMORY: i8 = 2;
    /// runtime-opaque: visible to the host.
    pub const VISIBLE_MEMORY: i8 = 96;
    /// Verifier error (evidence could not be checked at all).
    pub const VERIFIER_MALFUNCTION: i8 = 99;
}

/// One check that failed, or passed only because the policy allowed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The claim or field that was checked (`measurement`, `report_data`,
    /// `signature`, `debug`, `tcb.snp`, ...).
    pub claim: String,
    /// What the Evidence said (hex for binary values), if applicable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// What the policy or the relying party expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// Human-readable reason.
    pub reason: String,
    /// Tier this finding imposes (contraindicated for refusals, warning for
    /// conditions the policy explicitly allowed).
    pub tier: Tier,
}

/// One line: every field is shown through [`escape_control`], since
/// observed values (and the reasons quoting them) come from Evidence.
impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = escape_control;
        write!(f, "{}: {}", e(&self.claim), e(&self.reason))?;
        if let Some(o) = &self.observed {
            write!(f, " (observed {}", e(o))?;
            match &self.expected {
                Some(x) => write!(f, ", expected {})", e(x))?,
                None => write!(f, ")")?,
            }
        } else if let Some(x) = &self.expected {
            write!(f, " (expected {})", e(x))?;
        }
        Ok(())
    }
}

/// The appraisal of one attesting environment (one EAR submodule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Appraisal {
    /// Overall tier of this submodule (`ear_status`).
    #[serde(rename = "ear_status")]
    pub status: Tier,
    /// AR4SI trustworthiness vector (`ear_trustworthiness_vector`).
    #[serde(rename = "ear_trustworthiness_vector")]
    pub trust_vector: BTreeMap<TrustClaim, i8>,
    /// Policies applied (`ear_appraisal_policy_ids`).
    #[serde(rename = "ear_appraisal_policy_ids")]
    pub policy_ids: Vec<String>,
    /// Claims the verifier extracted from the Evidence, for display and audit.
    #[serde(rename = "attested_tls_claims")]
    pub claims: BTreeMap<String, serde_json::Value>,
    /// Failed checks and policy-allowed exceptions.
    #[serde(rename = "attested_tls_findings")]
    pub findings: Vec<Finding>,
}

impl Appraisal {
    /// Starts an appraisal under `policy_id`; its status stays
    /// [`Tier::None`] until [`Appraisal::finish`].
    pub fn new(policy_id: impl Into<String>) -> Self {
        Self {
            status: Tier::None,
            trust_vector: BTreeMap::new(),
            policy_ids: vec![policy_id.into()],
            claims: BTreeMap::new(),
            findings: Vec::new(),
        }
    }

    /// Records a claim observed in the Evidence.
    pub fn claim(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.claims.insert(name.to_string(), value.into());
    }

    /// Sets a trustworthiness claim, keeping the worse of an earlier value.
    pub fn set(&mut self, claim: TrustClaim, value: i8) {
        let entry = self.trust_vector.entry(claim).or_insert(value);
        if Tier::of_claim_value(value) > Tier::of_claim_value(*entry) {
            *entry = value;
        }
    }

    /// Records a failed check: the submodule becomes contraindicated.
    pub fn fail(
        &mut self,
        trust: TrustClaim,
        value: i8,
        claim: &str,
        observed: Option<String>,
        expected: Option<String>,
        reason: impl Into<String>,
    ) {
        self.set(trust, value);
        self.findings.push(Finding {
            claim: claim.to_string(),
            observed,
            expected,
            reason: reason.into(),
            tier: Tier::Contraindicated,
        });
    }

    /// Records a condition the policy allowed, explicitly (debug allowed, an
    /// allowed TCB status) or by leaving a floor unset (any version
    /// accepted): the submodule becomes at best a warning and the result
    /// says why.
    pub fn warn(
        &mut self,
        trust: TrustClaim,
        value: i8,
        claim: &str,
        observed: Option<String>,
        reason: impl Into<String>,
    ) {
        self.set(trust, value);
        self.findings.push(Finding {
            claim: claim.to_string(),
            observed,
            expected: None,
            reason: reason.into(),
            tier: Tier::Warning,
        });
    }

    /// Records a TEE running in debug mode (the host can read or change its
    /// state): refused, unless the policy sets `allow_debug`, in which case
    /// the result becomes a warning that says debug was allowed. `observed`
    /// is the field as found (hex or text), `what` names what is set.
    pub fn debug_enabled(&mut self, allow_debug: bool, observed: String, what: &str) {
        let policy_id = self.policy_ids.first().cloned().unwrap_or_default();
        if allow_debug {
            self.warn(
                TrustClaim::Configuration,
                claim_value::UNSAFE_CONFIG,
                "debug",
                Some(observed),
                format!("{what}; allowed by policy {policy_id} (allow_debug = true)"),
            );
        } else {
            self.fail(
                TrustClaim::Configuration,
                claim_value::UNSUPPORTABLE_CONFIG,
                "debug",
                Some(observed),
                Some("debug off".into()),
                format!("{what}, and policy {policy_id} does not allow debug"),
            );
        }
    }

    /// Computes the overall status: the worst of the trust vector and of the
    /// findings; `none` when nothing was appraised.
    pub fn finish(mut self) -> Self {
        let vector_worst = self.trust_vector.values().map(|v| Tier::of_claim_value(*v)).max();
        let finding_worst = self.findings.iter().map(|f| f.tier).max();
        self.status = match (vector_worst, finding_worst) {
            (None, None) => Tier::None,
            (a, b) => a.into_iter().chain(b).max().unwrap_or(Tier::None),
        };
        // A vector made only of "no claim" values is not an affirmation.
        if self.status == Tier::None && self.findings.is_empty() {
            self.status = Tier::None;
        }
        self
    }

    /// Convenience: an appraisal that failed before any claim could be read
    /// (malformed Evidence, unknown format, verifier error).
    pub fn malfunction(policy_id: &str, claim: &str, reason: impl Into<String>) -> Self {
        let mut a = Self::new(policy_id);
        a.fail(
            TrustClaim::InstanceIdentity,
            claim_value::VERIFIER_MALFUNCTION,
            claim,
            None,
            None,
            reason,
        );
        a.finish()
    }

    /// True when this submodule is affirming.
    pub fn is_affirming(&self) -> bool {
        self.status == Tier::Affirming
    }
}

/// Who produced a result (`ear_verifier_id`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierId {
    /// Developer of the verifier.
    pub developer: String,
    /// Build / version.
    pub build: String,
}

impl Default for VerifierId {
    fn default() -> Self {
        Self {
            developer: "attested-tls".into(),
            build: concat!("attested-tls ", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// Base64url (RFC 4648, Section 5) without padding: how an [`EatNonce`] is
/// written, as JWTs (RFC 7515) and RFC 9711's `base64-url-text` write bytes.
const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Base64url with or without padding, refusing non-zero trailing bits (so
/// that one nonce has one encoding up to padding): how an [`EatNonce`] is
/// read. draft-ietf-rats-ear-04 counts the padded length ("a string
/// between 12 and 88 bytes long"), so padding is accepted.
const B64URL_READ: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// An EAR's `eat_nonce`: 8 to 64 bytes (RFC 9711, Section 4.1;
/// draft-ietf-rats-ear-04, Section 3), written in JSON as their unpadded
/// base64url ([`EatNonce::to_base64url`]).
///
/// An EAR carries one nonce: the EAR claims-set's `eat_nonce` is
/// `eat.nonce-type`, not RFC 9711's `nonce-type / [2* nonce-type]`, in
/// every profile this crate reads (-04, -03, Veraison's).
///
/// ```
/// use attested_tls::ear::{EatNonce, EatNonceError};
/// let n = EatNonce::new(vec![0xfb; 32]).unwrap();
/// assert_eq!(n.to_base64url(), "-_v7".repeat(10) + "-_s");
/// assert_eq!(EatNonce::from_base64url(&n.to_base64url()), Ok(n));
/// assert_eq!(EatNonce::new(vec![1; 7]), Err(EatNonceError::Length { len: 7 }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EatNonce(Vec<u8>);

/// Why bytes or a JSON value are not an [`EatNonce`]. Shown after
/// "eat_nonce is invalid ...: ".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EatNonceError {
    /// The nonce is not 8 to 64 bytes long.
    #[error("it is {len} bytes; RFC 9711 (Section 4.1) allows 8 to 64")]
    Length {
        /// Its length in bytes.
        len: usize,
    },
    /// The JSON string is empty.
    #[error("it is empty; a nonce is 8 to 64 bytes (RFC 9711, Section 4.1)")]
    Empty,
    /// The JSON string is longer than the encoding of any 64-byte nonce.
    #[error("it is {len} characters, more than the {max} of the largest nonce (64 bytes) encoded")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The most its encoding allows: 88 for base64url (padded), 128
        /// for the hex of -03 EARs made by attested-tls.
        max: usize,
    },
    /// The JSON string is lower-case hex, as attested-tls wrote `eat_nonce`
    /// before draft-ietf-rats-ear-04: read so only under the -03 profile.
    #[error(
        "it is {digits} lower-case hex digits, as attested-tls wrote eat_nonce before \
         draft-ietf-rats-ear-04; this profile requires base64url"
    )]
    LegacyHex {
        /// The number of hex digits.
        digits: usize,
    },
    /// The JSON string is not base64url.
    #[error("it is not base64url: {0}")]
    NotBase64Url(String),
    /// The JSON value is an array of nonces, which RFC 9711 allows in an
    /// EAT but the EAR claims-set does not.
    #[error(
        "it is an array of {len} values; an EAR carries one nonce (draft-ietf-rats-ear-04, Section 3: \
         eat.nonce-type, without RFC 9711's array form)"
    )]
    Array {
        /// The number of elements.
        len: usize,
    },
    /// The JSON value is neither a string nor an array.
    #[error("it is not a JSON string")]
    NotAString,
}

impl EatNonce {
    /// The fewest bytes in a nonce (RFC 9711, Section 4.1: 64 bits).
    pub const MIN_LEN: usize = 8;
    /// The most bytes in a nonce (RFC 9711, Section 4.1).
    pub const MAX_LEN: usize = 64;
    /// The longest base64url string read: the padded encoding of
    /// [`EatNonce::MAX_LEN`] bytes (draft-ietf-rats-ear-04: "between 12
    /// and 88 bytes long").
    pub const MAX_BASE64URL_LEN: usize = 88;
    /// The fewest lower-case hex digits taken for the pre-04 hex form
    /// ([`EatNonceError::LegacyHex`]). attested-tls wrote binders of 32 to
    /// 64 bytes (64 to 128 digits); a base64url nonce of this length or
    /// more is all hex digits with probability 4^-32 = 2^-64.
    const LEGACY_HEX_MIN_DIGITS: usize = 32;

    /// A nonce of 8 to 64 bytes ([`EatNonceError::Length`] otherwise).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, EatNonceError> {
        let bytes = bytes.into();
        if (Self::MIN_LEN..=Self::MAX_LEN).contains(&bytes.len()) {
            Ok(Self(bytes))
        } else {
            Err(EatNonceError::Length { len: bytes.len() })
        }
    }

    /// The nonce's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The JSON form: unpadded base64url, 11 to 86 characters (43, 64 or
    /// 86 for the 32-, 48- and 64-byte binders this crate's verifiers
    /// emit).
    pub fn to_base64url(&self) -> String {
        B64URL.encode(&self.0)
    }

    /// Reads the JSON form of draft-ietf-rats-ear-04 (and of Veraison's
    /// profile): base64url, padded or not, of 8 to 64 bytes. Refused, each
    /// with its own [`EatNonceError`]: an empty string, lower-case hex of
    /// 32 digits or more (the pre-04 form, see
    /// [`EatNonceError::LegacyHex`]), more than 88 characters (checked
    /// before decoding), anything but base64url, and a decoded length
    /// outside 8..=64.
    pub fn from_base64url(text: &str) -> Result<Self, EatNonceError> {
        if text.is_empty() {
            return Err(EatNonceError::Empty);
        }
        if Self::is_legacy_hex(text) {
            return Err(EatNonceError::LegacyHex { digits: text.len() });
        }
        if text.len() > Self::MAX_BASE64URL_LEN {
            return Err(EatNonceError::TooLong {
                len: text.len(),
                max: Self::MAX_BASE64URL_LEN,
            });
        }
        let bytes = B64URL_READ
            .decode(text)
            .map_err(|e| EatNonceError::NotBase64Url(escape_control(&e.to_string()).into_owned()))?;
        Self::new(bytes)
    }

    /// True for the form attested-tls wrote before draft-ietf-rats-ear-04:
    /// an even number (at least 32) of lower-case hex digits.
    pub(crate) fn is_legacy_hex(text: &str) -> bool {
        text.len() >= Self::LEGACY_HEX_MIN_DIGITS
            && text.len() % 2 == 0
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// Reads `eat_nonce` as a -03 EAR carries it: the pre-04 hex form
    /// ([`EatNonce::is_legacy_hex`], at most 128 digits, checked before
    /// decoding) where the text is one, else [`EatNonce::from_base64url`]
    /// (the -03 draft's own rule, the same as -04's).
    pub(crate) fn from_03_text(text: &str) -> Result<Self, EatNonceError> {
        if !Self::is_legacy_hex(text) {
            return Self::from_base64url(text);
        }
        let max = 2 * Self::MAX_LEN;
        if text.len() > max {
            return Err(EatNonceError::TooLong { len: text.len(), max });
        }
        // Cannot fail: `is_legacy_hex` admitted an even number of hex digits.
        hex::decode(text).map_or_else(|_| Self::from_base64url(text), Self::new)
    }
}

/// The JSON form, [`EatNonce::to_base64url`].
impl std::fmt::Display for EatNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64url())
    }
}

impl Serialize for EatNonce {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64url())
    }
}

/// Reads [`EatNonce::from_base64url`]'s form (draft-ietf-rats-ear-04).
impl<'de> Deserialize<'de> for EatNonce {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_base64url(&text).map_err(serde::de::Error::custom)
    }
}

/// An EAT Attestation Result.
///
/// It serializes as the JSON claims-set of its `eat_profile` ([`EAR_PROFILE`]
/// for every result [`Ear::new`] makes): `eat_profile`, `iat`,
/// `ear_verifier_id`, `ear_status` (the overall status, as
/// [`Ear::consistent_status`] gives it, never more trusted than the worst
/// submodule), `ear_raw_evidence` (a record CMW, only when set with
/// [`Ear::with_raw_evidence`]), `submods` and `eat_nonce` (base64url,
/// [`EatNonce`]). Deserializing with serde reads these names (all but
/// `ear_raw_evidence`; `eat_nonce` as -04 writes it) without any of the
/// other checks of [`crate::ear_jwt::ear_from_json`], which is the way to
/// read an EAR from elsewhere.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Ear {
    /// `eat_profile`.
    pub eat_profile: String,
    /// `iat`, seconds since the Unix epoch.
    pub iat: i64,
    /// `ear_verifier_id`.
    pub ear_verifier_id: VerifierId,
    /// Overall status (`ear_status`), as [`Tier::overall`] computes it: the
    /// worst submodule; `none` if there is none or all are `none`;
    /// `contraindicated` if some but not all are `none`. What is
    /// serialized is [`Ear::consistent_status`], so that a value set here
    /// by hand can make the emitted status worse, never better.
    #[serde(rename = "ear_status")]
    pub status: Tier,
    /// `ear_raw_evidence`: the Evidence that was appraised, as a record CMW
    /// (draft-ietf-rats-ear-04, Section 3; RFC 9999). Private so that
    /// only a record with a JSON form gets here ([`Ear::with_raw_evidence`]).
    #[serde(skip)]
    pub(crate) raw_evidence: Option<CmwRecord>,
    /// `submods`, one per attesting environment.
    pub submods: BTreeMap<String, Appraisal>,
    /// `eat_nonce`: the binding the appraisal compared the Evidence with
    /// (the seat-expat binder, or the expected report data), emitted as
    /// base64url ([`EatNonce`]).
    pub eat_nonce: Option<EatNonce>,
}

/// The JSON claims-set, in the order of draft-ietf-rats-ear-04's CDDL.
impl Serialize for Ear {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Claims<'a> {
            eat_profile: &'a str,
            ear_status: Tier,
            iat: i64,
            ear_verifier_id: &'a VerifierId,
            #[serde(skip_serializing_if = "Option::is_none")]
            ear_raw_evidence: Option<serde_json::Value>,
            submods: &'a BTreeMap<String, Appraisal>,
            #[serde(skip_serializing_if = "Option::is_none")]
            eat_nonce: Option<&'a EatNonce>,
        }
        let ear_raw_evidence = match &self.raw_evidence {
            None => None,
            // Cannot fail: `with_raw_evidence` checked the JSON form.
            Some(r) => Some(r.to_json_value().map_err(serde::ser::Error::custom)?),
        };
        Claims {
            eat_profile: &self.eat_profile,
            ear_status: self.consistent_status(),
            iat: self.iat,
            ear_verifier_id: &self.ear_verifier_id,
            ear_raw_evidence,
            submods: &self.submods,
            eat_nonce: self.eat_nonce.as_ref(),
        }
        .serialize(serializer)
    }
}

impl Ear {
    /// Builds a result from submodule appraisals, computing the overall
    /// tier; `eat_nonce` is the binding the appraisal compared against.
    pub fn new(iat: i64, submods: BTreeMap<String, Appraisal>, eat_nonce: Option<EatNonce>) -> Self {
        let status = Tier::overall(submods.values().map(|a| a.status));
        Self {
            eat_profile: EAR_PROFILE.into(),
            iat,
            ear_verifier_id: VerifierId::default(),
            status,
            raw_evidence: None,
            submods,
            eat_nonce,
        }
    }

    /// Adds the Evidence that was appraised, emitted as `ear_raw_evidence`:
    /// a JSON record CMW `[type, value, ?ind]` (draft-ietf-rats-ear-04,
    /// Section 3; RFC 9999). Off unless asked for, since the Evidence may
    /// identify the attester (the draft's privacy considerations) and a
    /// relying party that appraised it has it already. A record typed by a
    /// CoAP Content-Format has no JSON form and is refused.
    pub fn with_raw_evidence(mut self, record: CmwRecord) -> Result<Self, CmwError> {
        record.to_json_value()?;
        self.raw_evidence = Some(record);
        Ok(self)
    }

    /// The Evidence carried as `ear_raw_evidence`, if any (only a `-04`
    /// EAR carries it as a record; see [`crate::ear_jwt::ear_from_json`]).
    pub fn raw_evidence(&self) -> Option<&CmwRecord> {
        self.raw_evidence.as_ref()
    }

    /// The overall status as it is emitted: [`Ear::status`] made no more
    /// trusted than [`Tier::overall`] of the submodules (see
    /// [`Tier::capped_by`]), and `none` when no submodule was appraised.
    /// draft-ietf-rats-ear-04 (Section 3) requires the overall status to be
    /// "a tier of no higher trust than the tier corresponding to the worst
    /// status claim across all EAR appraisal submods"; for [`Ear::new`]'s
    /// results this is [`Ear::status`] itself.
    pub fn consistent_status(&self) -> Tier {
        let overall = Tier::overall(self.submods.values().map(|a| a.status));
        if overall == Tier::None {
            Tier::None
        } else {
            self.status.capped_by(overall)
        }
    }

    /// True only when there is at least one submodule and all are affirming.
    /// The submodules are checked themselves, not only `status`: an EAR read
    /// from elsewhere carries its issuer's `status`, which need not agree.
    pub fn is_affirming(&self) -> bool {
        self.status == Tier::Affirming
            && !self.submods.is_empty()
            && self.submods.values().all(|a| a.status == Tier::Affirming)
    }

    /// True when the result may be relied on: affirming, or a warning that
    /// by contract only arises from conditions the policy allowed (debug
    /// allowed, an allowed non-current TCB status, a version floor left
    /// unset). Every warning is listed in the findings.
    /// As for [`Ear::is_affirming`], every submodule must itself be
    /// affirming or a warning: one that was not appraised (`none`) or was
    /// refused makes the whole result unacceptable.
    pub fn is_acceptable(&self) -> bool {
        let ok = |t: Tier| matches!(t, Tier::Affirming | Tier::Warning);
        ok(self.status) && !self.submods.is_empty() && self.submods.values().all(|a| ok(a.status))
    }

    /// Every contraindicated finding, prefixed with its submodule.
    pub fn refusals(&self) -> Vec<String> {
        self.submods
            .iter()
            .flat_map(|(name, a)| {
                a.findings
                    .iter()
                    .filter(|f| f.tier == Tier::Contraindicated)
                    .map(move |f| format!("{}: {f}", escape_control(name)))
            })
            .collect()
    }

    /// A one-line reason for a refusal, naming the policy and the first
    /// failing claims.
    pub fn refusal_summary(&self) -> String {
        let refusals = self.refusals();
        let policy = self
            .submods
            .values()
            .flat_map(|a| a.policy_ids.iter())
            .next()
            .map(|p| escape_control(p).into_owned())
            .unwrap_or_else(|| "(none)".into());
        if refusals.is_empty() {
            format!("attestation result is {} under policy {policy}", self.status)
        } else {
            format!("refused under policy {policy}: {}", refusals.join("; "))
        }
    }

    /// Pretty JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("EAR serializes")
    }

    /// Human-readable multi-line rendering.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "attestation result: {}", self.status);
        for (name, a) in &self.submods {
            let _ = writeln!(
                s,
                "  [{}] {} (policy {})",
                escape_control(name),
                a.status,
                escape_control(&a.policy_ids.join(", "))
            );
            for (k, v) in &a.claims {
                let v = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(s, "    {:<22} {}", escape_control(k), escape_control(&v));
            }
            for f in &a.findings {
                let _ = writeln!(s, "    {:<10} {f}", format!("{}:", f.tier));
            }
        }
        s
    }
}

/// Hex of each value, joined with `sep`: the expected side of a finding
/// that lists the values a policy allows.
pub(crate) fn hex_join<T: AsRef<[u8]>>(values: &[T], sep: &str) -> String {
    values.iter().map(hex::encode).collect::<Vec<_>>().join(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_evidence_is_shown_on_one_line_without_control_characters() {
        assert_eq!(escape_control("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(escape_control("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape_control("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert!(matches!(escape_control("CN=root, O=ünïcode"), Cow::Borrowed(_)));
        let f = Finding {
            claim: "root\n".into(),
            observed: Some("CN=x\nattestation result: affirming".into()),
            expected: Some("CN=y\u{1b}[2J".into()),
            reason: "not trusted\n".into(),
            tier: Tier::Contraindicated,
        };
        let shown = f.to_string();
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(
            shown,
            "root\\n: not trusted\\n (observed CN=x\\nattestation result: affirming, expected CN=y\\u{1b}[2J)"
        );
    }

    #[test]
    fn failure_makes_contraindicated_and_warning_is_worse_than_affirming() {
        let mut a = Appraisal::new("p");
        a.set(TrustClaim::Executables, claim_value::APPROVED_RUNTIME);
        assert_eq!(a.clone().finish().status, Tier::Affirming);
        a.warn(
            TrustClaim::Configuration,
            claim_value::UNSAFE_CONFIG,
            "debug",
            Some("true".into()),
            "debug allowed by policy",
        );
        assert_eq!(a.clone().finish().status, Tier::Warning);
        a.fail(
            TrustClaim::Executables,
            claim_value::UNRECOGNIZED_RUNTIME,
            "measurement",
            Some("aa".into()),
            Some("bb".into()),
            "not allowed",
        );
        let a = a.finish();
        assert_eq!(a.status, Tier::Contraindicated);
        assert_eq!(
            a.trust_vector[&TrustClaim::Executables],
            claim_value::UNRECOGNIZED_RUNTIME
        );
    }

    #[test]
    fn empty_ear_is_not_affirming() {
        let ear = Ear::new(0, BTreeMap::new(), None);
        assert!(!ear.is_affirming());
        assert_eq!(ear.status, Tier::None);
        assert_eq!(Appraisal::new("p").finish().status, Tier::None);
    }

    #[test]
    fn json_uses_ear_claim_names() {
        let mut a = Appraisal::new("prod");
        a.set(TrustClaim::Hardware, 2);
        let ear = Ear::new(1, BTreeMap::from([("sim".to_string(), a.finish())]), None);
        let j = ear.to_json_pretty();
        assert!(j.contains("\"ear_status\": \"affirming\""), "{j}");
        assert!(j.contains("\"hardware\": 2"), "{j}");
        assert!(j.contains(EAR_PROFILE));
    }

    fn with_status(status: Tier) -> Appraisal {
        let mut a = Appraisal::new("p");
        a.status = status;
        a
    }

    fn ear_of(tiers: &[Tier]) -> Ear {
        let submods = tiers
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("sim:{i}"), with_status(*t)))
            .collect();
        Ear::new(0, submods, None)
    }

    #[test]
    fn a_none_submodule_beside_an_affirming_one_is_not_affirming() {
        let ear = ear_of(&[Tier::Affirming, Tier::None]);
        assert_eq!(ear.status, Tier::Contraindicated);
        assert!(!ear.is_affirming());
        assert!(!ear.is_acceptable());
        let ear = ear_of(&[Tier::Warning, Tier::None]);
        assert_eq!(ear.status, Tier::Contraindicated);
        assert!(!ear.is_acceptable());
    }

    #[test]
    fn all_none_is_none_and_otherwise_the_worst_tier() {
        assert_eq!(ear_of(&[Tier::None, Tier::None]).status, Tier::None);
        assert!(!ear_of(&[Tier::None]).is_acceptable());
        assert_eq!(ear_of(&[Tier::Affirming, Tier::Affirming]).status, Tier::Affirming);
        assert!(ear_of(&[Tier::Affirming, Tier::Affirming]).is_affirming());
        let w = ear_of(&[Tier::Affirming, Tier::Warning]);
        assert_eq!(w.status, Tier::Warning);
        assert!(w.is_acceptable() && !w.is_affirming());
        assert_eq!(
            ear_of(&[Tier::Warning, Tier::Contraindicated]).status,
            Tier::Contraindicated
        );
    }

    #[test]
    fn a_status_that_disagrees_with_the_submodules_is_not_trusted() {
        // As an imported EAR may claim: overall affirming, one submodule not.
        for t in [Tier::None, Tier::Contraindicated] {
            let mut ear = ear_of(&[Tier::Affirming, t]);
            ear.status = Tier::Affirming;
            assert!(!ear.is_affirming(), "{t}");
            assert!(!ear.is_acceptable(), "{t}");
        }
        let mut ear = ear_of(&[Tier::Affirming, Tier::Warning]);
        ear.status = Tier::Affirming;
        assert!(!ear.is_affirming());
    }

    #[test]
    fn a_later_set_does_not_hide_an_earlier_failure_in_the_trust_vector() {
        let mut a = Appraisal::new("p");
        a.fail(
            TrustClaim::Configuration,
            claim_value::UNSUPPORTABLE_CONFIG,
            "x",
            None,
            None,
            "refused",
        );
        // What verifiers do after their checks.
        a.set(TrustClaim::Configuration, claim_value::APPROVED_CONFIG);
        let a = a.finish();
        assert_eq!(
            a.trust_vector[&TrustClaim::Configuration],
            claim_value::UNSUPPORTABLE_CONFIG
        );
    }

    #[test]
    fn an_imported_ear_without_submodules_is_not_acceptable() {
        let mut ear = Ear::new(0, BTreeMap::new(), None);
        ear.status = Tier::Affirming;
        assert!(!ear.is_affirming());
        assert!(!ear.is_acceptable());
    }
}

#[cfg(test)]
mod formats {
    //! What an EAR looks like on the wire (draft-ietf-rats-ear-04).

    use super::*;
    use crate::cmw::{Cmw, CmwType};

    fn affirming(name: &str) -> BTreeMap<String, Appraisal> {
        let mut a = Appraisal::new("p");
        a.set(TrustClaim::Hardware, claim_value::GENUINE_HARDWARE);
        BTreeMap::from([(name.to_string(), a.finish())])
    }

    /// Guards the profile we emit: every EAR this crate makes carries the
    /// -04 profile, and the overall status under -04's name `ear_status`
    /// (it was `status`, no EAR claim, under -03).
    #[test]
    fn an_ear_we_emit_carries_the_04_profile_and_its_claim_names() {
        assert_eq!(EAR_PROFILE, "tag:ietf.org,2026:rats/ear#04");
        let ear = Ear::new(1, affirming("sim"), Some(EatNonce::new([0xab; 32]).unwrap()));
        let j: serde_json::Value = serde_json::from_str(&ear.to_json_pretty()).unwrap();
        assert_eq!(j["eat_profile"], "tag:ietf.org,2026:rats/ear#04");
        assert_eq!(j["ear_status"], "affirming");
        assert_eq!(j["submods"]["sim"]["ear_status"], "affirming");
        assert!(j.get("status").is_none(), "{j}");
        // Not emitted unless asked for.
        assert!(j.get("ear_raw_evidence").is_none(), "{j}");
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys.iter().copied().collect::<std::collections::BTreeSet<_>>(),
            [
                "eat_nonce",
                "eat_profile",
                "ear_status",
                "ear_verifier_id",
                "iat",
                "submods"
            ]
            .into()
        );
    }

    /// Guards -04, Section 3: the overall status we emit is never more
    /// trusted than the worst submodule, whatever `status` was set to by
    /// hand (it used to be serialized as it stood).
    #[test]
    fn the_status_we_emit_is_never_more_trusted_than_the_worst_submodule() {
        let tiers = [Tier::None, Tier::Affirming, Tier::Warning, Tier::Contraindicated];
        let mut checked = 0;
        for n in 1..=3u32 {
            for combo in 0..4usize.pow(n) {
                let submods: BTreeMap<String, Appraisal> = (0..n)
                    .map(|i| {
                        let mut a = Appraisal::new("p");
                        a.status = tiers[combo / 4usize.pow(i) % 4];
                        (format!("s{i}"), a)
                    })
                    .collect();
                for set in tiers {
                    let mut ear = Ear::new(0, submods.clone(), None);
                    ear.status = set;
                    let j = serde_json::to_value(&ear).unwrap();
                    let emitted: Tier = serde_json::from_value(j["ear_status"].clone()).unwrap();
                    for a in submods.values() {
                        assert!(
                            emitted == Tier::None || emitted >= a.status,
                            "emitted {emitted} beside a {} submodule (status set to {set})",
                            a.status
                        );
                    }
                    // A `none` submodule beside appraised ones is never acceptable.
                    let appraised = submods.values().filter(|a| a.status != Tier::None).count();
                    if appraised > 0 && appraised < submods.len() {
                        assert_eq!(emitted, Tier::Contraindicated);
                    }
                    // Worse by hand stays worse.
                    if set != Tier::None && Tier::overall(submods.values().map(|a| a.status)) != Tier::None {
                        assert!(emitted >= set);
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 4 * (4 + 16 + 64));
    }

    /// Guards -04's `ear_raw_evidence` form: a JSON record CMW (RFC 9999)
    /// that the CMW decoder reads back as the same record.
    #[test]
    fn raw_evidence_is_a_record_cmw_that_round_trips_through_the_cmw_decoder() {
        let record = CmwRecord::evidence(crate::sim::SIM_MEDIA_TYPE, vec![0x84, 0x43, 0xa1, 0x01, 0x26, 0xff]);
        let ear = Ear::new(1, affirming("sim"), None)
            .with_raw_evidence(record.clone())
            .unwrap();
        assert_eq!(ear.raw_evidence(), Some(&record));
        let j = serde_json::to_value(&ear).unwrap();
        let raw = &j["ear_raw_evidence"];
        assert_eq!(
            raw,
            &serde_json::json!([crate::sim::SIM_MEDIA_TYPE, "hEOhASb_", crate::cmw::ind::EVIDENCE])
        );
        assert_eq!(Cmw::decode(raw.to_string().as_bytes()), Ok(Cmw::Record(record.clone())));
        assert_eq!(CmwRecord::from_json_value(raw.clone()), Ok(record));
        // A record typed by a Content-Format has no JSON form.
        let cf = CmwRecord {
            typ: CmwType::ContentFormat(10_000),
            value: vec![1],
            ind: None,
        };
        assert!(matches!(
            Ear::new(1, affirming("sim"), None).with_raw_evidence(cf),
            Err(CmwError::Invalid { field: "type", .. })
        ));
    }
}

#[cfg(test)]
mod eat_nonce {
    //! `eat_nonce`: one nonce of 8 to 64 bytes (RFC 9711, Section 4.1),
    //! "base64 encoded, resulting in a string between 12 and 88 bytes
    //! long" in a JWT (draft-ietf-rats-ear-04, Section 3).

    use super::*;
    use crate::binder::{BindingClaims, ExpectedBinding};
    use crate::cmw::Cmw;
    use crate::crypto::HashAlgorithm;
    use crate::verifier::Appraiser;

    /// Guards the emitted form: the `eat_nonce` of an appraisal's EAR is
    /// the unpadded base64url of the binding it compared (the binder, or
    /// the expected report data), 12 to 88 characters. It was lower-case
    /// hex, up to 128 characters.
    #[test]
    fn the_eat_nonce_we_emit_is_base64url_of_the_binding_within_04_bounds() {
        let claims =
            |hash: HashAlgorithm| ExpectedBinding::Claims(BindingClaims::from_exported_value(hash, b"spki", &[9; 32]));
        let record = Cmw::Record(CmwRecord::evidence("application/x-unknown", vec![1, 2, 3]));
        let now = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        for (expected, len, chars) in [
            (claims(HashAlgorithm::Sha256), 32, 43),
            (claims(HashAlgorithm::Sha384), 48, 64),
            (ExpectedBinding::ReportData([0xfb; 64]), 64, 86),
        ] {
            let binding: Vec<u8> = match &expected {
                ExpectedBinding::Claims(c) => c.binder.clone(),
                ExpectedBinding::ReportData(r) => r.to_vec(),
            };
            assert_eq!(binding.len(), len);
            let ear = Appraiser::new("p").appraise_cmw(&record, &expected, now);
            let j = serde_json::to_value(&ear).unwrap();
            let text = j["eat_nonce"].as_str().unwrap();
            assert_eq!(text, B64URL.encode(&binding));
            assert_eq!(text.len(), chars);
            assert!((12..=88).contains(&text.len()), "{text}");
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{text}"
            );
            assert_eq!(ear.eat_nonce.as_ref().map(EatNonce::as_bytes), Some(&binding[..]));
            // serde reads back what it wrote.
            assert_eq!(serde_json::from_value::<Ear>(j).unwrap(), ear);
            // Raw Evidence, and Evidence that cannot be read, get the same
            // nonce (they had none).
            let appraiser = Appraiser::new("p");
            for other in [
                appraiser.appraise_raw("application/x-unknown", &[1, 2, 3], &expected, now),
                appraiser.appraise_cmw_bytes(b"not a CMW", &expected, now),
            ] {
                assert_eq!(other.eat_nonce, ear.eat_nonce);
            }
        }
    }

    /// Guards the byte bounds of RFC 9711, Section 4.1 on the nonce we
    /// make, and the encoded lengths at both ends.
    #[test]
    fn a_nonce_is_8_to_64_bytes() {
        for len in [0, 1, 7, 65, 128] {
            assert_eq!(EatNonce::new(vec![1; len]), Err(EatNonceError::Length { len }));
        }
        for (len, chars) in [(8, 11), (9, 12), (63, 84), (64, 86)] {
            let n = EatNonce::new(vec![0xff; len]).unwrap();
            assert_eq!(n.as_bytes().len(), len);
            assert_eq!(n.to_base64url().len(), chars);
            assert_eq!(n.to_string(), n.to_base64url());
            assert_eq!(EatNonce::from_base64url(&n.to_base64url()), Ok(n));
        }
    }

    /// Guards each refusal of the -04 form, with its own error: an empty
    /// string, the pre-04 hex, more than 88 characters (before decoding),
    /// anything but base64url, a decoded length outside 8..=64.
    #[test]
    fn the_04_form_refuses_empty_hex_over_long_and_non_base64url_text() {
        let refused = |text: &str| EatNonce::from_base64url(text).unwrap_err();
        assert_eq!(refused(""), EatNonceError::Empty);
        // What this crate emitted before: hex of a 32-, 48- and 64-byte binding.
        for len in [32, 48, 64] {
            assert_eq!(
                refused(&hex::encode(vec![0xab; len])),
                EatNonceError::LegacyHex { digits: 2 * len }
            );
        }
        assert_eq!(refused(&"A".repeat(89)), EatNonceError::TooLong { len: 89, max: 88 });
        // 65 bytes: 87 characters, not too long to decode, too long a nonce.
        assert_eq!(refused(&B64URL.encode([1; 65])), EatNonceError::Length { len: 65 });
        assert_eq!(refused(&B64URL.encode([1; 7])), EatNonceError::Length { len: 7 });
        for text in [
            "AAAAAAAAAAA+",
            "AAAAAAAAAAA/",
            "AAAA AAAAAAA",
            "AAAAAAAAAAB",
            "AAAAAAAAA\n",
        ] {
            assert!(matches!(refused(text), EatNonceError::NotBase64Url(_)), "{text}");
        }
        // Hex shorter than any binding this crate wrote is read as base64url.
        assert_eq!(
            EatNonce::from_base64url("abababababababab").map(|n| n.as_bytes().len()),
            Ok(12)
        );
        // Padded base64url of the same bytes is the same nonce.
        let n = EatNonce::new([7; 32]).unwrap();
        assert_eq!(EatNonce::from_base64url(&format!("{n}=")), Ok(n));
        // Every refusal is shown without control characters.
        assert!(!refused("AAAA\nAAAAAAA").to_string().chars().any(char::is_control));
    }

    /// Guards the -03 reading: hex where the text is the pre-04 hex, at
    /// most 128 digits; base64url otherwise.
    #[test]
    fn the_03_form_reads_the_hex_we_wrote_and_base64url() {
        let binder = [0x5c; 48];
        assert_eq!(
            EatNonce::from_03_text(&hex::encode(binder)),
            Ok(EatNonce::new(binder).unwrap())
        );
        assert_eq!(
            EatNonce::from_03_text(&B64URL.encode(binder)),
            Ok(EatNonce::new(binder).unwrap())
        );
        assert_eq!(
            EatNonce::from_03_text(&"ab".repeat(65)),
            Err(EatNonceError::TooLong { len: 130, max: 128 })
        );
        assert_eq!(EatNonce::from_03_text(""), Err(EatNonceError::Empty));
    }
}

#[cfg(test)]
mod output_escaping {
    use super::*;

    /// Unicode line/paragraph separators and the remaining Bidi_Control
    /// character (U+061C ARABIC LETTER MARK) pass through unescaped.
    #[test]
    fn escape_control_covers_line_separators_and_every_bidi_control() {
        for c in ['\u{2028}', '\u{2029}', '\u{061c}'] {
            let s = format!("CN=x{c}attestation result: affirming");
            assert!(!escape_control(&s).contains(c), "U+{:04X} is not escaped", c as u32);
        }
    }
}
