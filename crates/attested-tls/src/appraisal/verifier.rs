//! Verifiers and the appraiser that dispatches Evidence to them.
//!
//! A [`Verifier`] appraises one platform's Evidence against its section of
//! the [`crate::policy::Policy`] and the binding the relying party computed
//! itself. The [`Appraiser`] unwraps a CMW, hands every record to the
//! verifier that accepts its media type and combines the results into an
//! [`Ear`]. Anything it cannot appraise is contraindicated: unknown media
//! types, malformed CMWs, a platform the policy has no section for.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::binder::ExpectedBinding;
use crate::cmw::Cmw;
use crate::ear::{Appraisal, Ear, EatNonce};
use crate::host_identity::HostIdentity;

/// Inputs of one appraisal besides the Evidence itself.
#[derive(Clone, Debug)]
pub struct AppraisalContext<'a> {
    /// The binding value the relying party computed itself.
    pub expected: &'a ExpectedBinding,
    /// Verification time. An explicit input so that results are
    /// reproducible (collateral and certificates are checked against it).
    pub now: time::OffsetDateTime,
    /// The id of the policy in force, copied into the result.
    pub policy_id: &'a str,
}

/// Appraises one platform's Evidence.
pub trait Verifier: Send + Sync {
    /// EAR submodule name (`sim`, `snp`, `tdx`, `sgx`, `cca`).
    fn platform(&self) -> &'static str;
    /// Whether this verifier appraises records of `media_type`.
    fn accepts_media_type(&self, media_type: &str) -> bool;
    /// Whether raw, unwrapped bytes look like this platform's Evidence
    /// (used by `atls verify` for files that are not CMWs).
    fn detect(&self, _raw: &[u8]) -> bool {
        false
    }
    /// Appraises `evidence` (the CMW record's value). Never panics and never
    /// returns an affirming result without having compared the binding.
    fn appraise(&self, media_type: &str, evidence: &[u8], ctx: &AppraisalContext<'_>) -> Appraisal;
}

/// Dispatches CMW-wrapped Evidence to verifiers and builds the EAR.
#[derive(Clone)]
pub struct Appraiser {
    policy_id: String,
    verifiers: Vec<Arc<dyn Verifier>>,
    host_identity: Option<HostIdentity>,
    remote: Option<crate::remote::RemoteVerifier>,
}

impl std::fmt::Debug for Appraiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appraiser")
            .field("policy_id", &self.policy_id)
            .field(
                "verifiers",
                &self.verifiers.iter().map(|v| v.platform()).collect::<Vec<_>>(),
            )
            .field("host_identity", &self.host_identity)
            .field("remote", &self.remote.as_ref().map(|r| r.url()))
            .finish()
    }
}

impl Appraiser {
    /// An appraiser with no verifiers: it refuses everything.
    pub fn new(policy_id: impl Into<String>) -> Self {
        Self {
            policy_id: policy_id.into(),
            verifiers: Vec::new(),
            host_identity: None,
            remote: None,
        }
    }

    /// Hands appraisal of a peer's Evidence on a connection to a remote
    /// verifier (the background-check model; a policy's
    /// `[remote_verifier]` section): the attestation session asks for it
    /// ([`crate::transport::Event::AppraisalRequested`]) instead of
    /// appraising with this appraiser's verifiers, and accepts only a
    /// result that [`crate::remote::RemoteVerifier::check_result`] accepts
    /// and that is acceptable. The `appraise_*` methods of this appraiser
    /// are unchanged (they appraise locally).
    pub fn with_remote_verifier(mut self, remote: crate::remote::RemoteVerifier) -> Self {
        self.remote = Some(remote);
        self
    }

    /// The remote verifier connections are appraised by, if any.
    pub fn remote_verifier(&self) -> Option<&crate::remote::RemoteVerifier> {
        self.remote.as_ref()
    }

    /// Requires host identity (I1) of every peer appraised on a
    /// connection: the attested key must also have a certificate for the
    /// dialled server name from these roots (a policy's `[host_identity]`
    /// section). The Evidence appraisal itself does not use it; the
    /// attestation session does, and refuses the peer when it cannot check
    /// it (no server name), so a policy that asks for I1 never goes
    /// unchecked on a connection. See [`crate::host_identity`].
    pub fn with_host_identity(mut self, host_identity: HostIdentity) -> Self {
        self.host_identity = Some(host_identity);
        self
    }

    /// Whether this appraiser has any platform verifier (its policy has
    /// platform sections with reference values).
    pub fn has_platforms(&self) -> bool {
        !self.verifiers.is_empty()
    }

    /// The host identity (I1) requirement, if any.
    pub fn host_identity(&self) -> Option<&HostIdentity> {
        self.host_identity.as_ref()
    }

    /// Adds a verifier.
    pub fn with_verifier(mut self, v: Arc<dyn Verifier>) -> Self {
        self.verifiers.push(v);
        self
    }

    /// The policy id results are reported under.
    pub fn policy_id(&self) -> &str {
        &self.policy_id
    }

    /// The verifier for a media type, if any.
    pub fn verifier_for(&self, media_type: &str) -> Option<&Arc<dyn Verifier>> {
        self.verifiers.iter().find(|v| v.accepts_media_type(media_type))
    }

    /// The verifier that recognizes raw bytes, if any.
    pub fn detect(&self, raw: &[u8]) -> Option<&Arc<dyn Verifier>> {
        self.verifiers.iter().find(|v| v.detect(raw))
    }

    /// Appraises encoded CMW bytes.
    pub fn appraise_cmw_bytes(&self, cmw: &[u8], expected: &ExpectedBinding, now: time::OffsetDateTime) -> Ear {
        match Cmw::decode(cmw) {
            Ok(c) => self.appraise_cmw(&c, expected, now),
            Err(e) => self.single(
                "cmw",
                Appraisal::malfunction(&self.policy_id, "cmw", e.to_string()),
                expected,
                now,
            ),
        }
    }

    /// Appraises a decoded CMW: every record must be appraised and
    /// affirming for the result to be affirming.
    pub fn appraise_cmw(&self, cmw: &Cmw, expected: &ExpectedBinding, now: time::OffsetDateTime) -> Ear {
        let ctx = AppraisalContext {
            expected,
            now,
            policy_id: &self.policy_id,
        };
        let records = cmw.records();
        let is_collection = matches!(cmw, Cmw::Collection { .. });
        let mut appraised = Vec::with_capacity(records.len());
        for (path, rec) in &records {
            let media_type = rec.typ.to_string();
            let (name, appraisal) = match self.verifier_for(&media_type) {
                Some(v) => (v.platform().to_string(), v.appraise(&media_type, &rec.value, &ctx)),
                None => (
                    "unknown".to_string(),
                    Appraisal::malfunction(
                        &self.policy_id,
                        "media_type",
                        format!(
                            "no verifier in policy {} accepts Evidence of type {media_type:?}",
                            self.policy_id
                        ),
                    ),
                ),
            };
            // Collection members are always `platform:path` (the path is
            // unambiguous, see `Cmw::records`); a bare record is `platform`.
            let key = if is_collection { format!("{name}:{path}") } else { name };
            appraised.push((key, appraisal));
        }
        let submods = self.collect_submods(appraised, records.len());
        Ear::new(now.unix_timestamp(), submods, binding_nonce(expected))
    }

    /// Builds the submodule map, failing closed if it does not hold exactly
    /// one submodule per record. Record paths are unambiguous, so this
    /// should never trigger; it is here so that a future change to naming
    /// cannot again let one record's result silently replace another's
    /// (which made `{1: <bad>, "1": <good>}` affirming).
    fn collect_submods(&self, appraised: Vec<(String, Appraisal)>, records: usize) -> BTreeMap<String, Appraisal> {
        let mut submods = BTreeMap::new();
        let mut collisions = Vec::new();
        for (key, appraisal) in appraised {
            match submods.entry(key) {
                std::collections::btree_map::Entry::Occupied(e) => collisions.push(e.key().clone()),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(appraisal);
                }
            }
        }
        for key in &collisions {
            // Neither record's result can be told apart from the other's:
            // the submodule is refused, whatever either said.
            submods.insert(
                key.clone(),
                Appraisal::malfunction(
                    &self.policy_id,
                    "cmw",
                    format!("two CMW records map to the same submodule {key:?}"),
                ),
            );
        }
        if submods.len() != records {
            // `cmw` has no `:`, so it is no collection member's name.
            submods.insert(
                "cmw".to_string(),
                Appraisal::malfunction(
                    &self.policy_id,
                    "cmw",
                    format!(
                        "the CMW has {records} records but they map to {} submodules",
                        submods.len()
                    ),
                ),
            );
        }
        submods
    }

    /// Appraises raw Evidence of a known media type.
    pub fn appraise_raw(
        &self,
        media_type: &str,
        evidence: &[u8],
        expected: &ExpectedBinding,
        now: time::OffsetDateTime,
    ) -> Ear {
        let ctx = AppraisalContext {
            expected,
            now,
            policy_id: &self.policy_id,
        };
        match self.verifier_for(media_type) {
            Some(v) => self.single(v.platform(), v.appraise(media_type, evidence, &ctx), expected, now),
            None => self.single(
                "unknown",
                Appraisal::malfunction(
                    &self.policy_id,
                    "media_type",
                    format!("no verifier accepts {media_type:?}"),
                ),
                expected,
                now,
            ),
        }
    }

    fn single(&self, name: &str, a: Appraisal, expected: &ExpectedBinding, now: time::OffsetDateTime) -> Ear {
        let submods = BTreeMap::from([(name.to_string(), a)]);
        Ear::new(now.unix_timestamp(), submods, binding_nonce(expected))
    }
}

/// The EAR's `eat_nonce`: the binding the relying party expects, which the
/// Evidence was compared with (if it could be read at all), echoed in every
/// result of an [`Appraiser`] so that the EAR says what it answers. A
/// binder is a hash (32 to 64 bytes) and report data 64 bytes, so this is
/// `None` only for a hand-made binder outside RFC 9711's 8..=64 bytes, which
/// no `eat_nonce` can carry.
fn binding_nonce(expected: &ExpectedBinding) -> Option<EatNonce> {
    match expected {
        ExpectedBinding::Claims(c) => EatNonce::new(c.binder.as_slice()).ok(),
        ExpectedBinding::ReportData(r) => EatNonce::new(r.as_slice()).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ear::{claim_value, Tier, TrustClaim};

    fn affirming() -> Appraisal {
        let mut a = Appraisal::new("p");
        a.set(TrustClaim::InstanceIdentity, claim_value::TRUSTWORTHY_INSTANCE);
        a.finish()
    }

    fn refused() -> Appraisal {
        Appraisal::malfunction("p", "signature", "does not verify")
    }

    #[test]
    fn colliding_submodule_names_are_refused_whatever_the_order() {
        let appraiser = Appraiser::new("p");
        for pair in [
            [refused(), affirming()],
            [affirming(), refused()],
            [affirming(), affirming()],
        ] {
            let [a, b] = pair;
            let submods = appraiser.collect_submods(vec![("sim:1".into(), a), ("sim:1".into(), b)], 2);
            let ear = Ear::new(0, submods, None);
            assert!(!ear.is_acceptable(), "{}", ear.render());
            assert_eq!(ear.status, Tier::Contraindicated);
            assert!(ear.submods["sim:1"]
                .findings
                .iter()
                .any(|f| f.reason.contains("same submodule")));
            assert!(ear.submods.contains_key("cmw"), "{}", ear.render());
        }
    }

    #[test]
    fn one_submodule_per_record_is_affirming() {
        let appraiser = Appraiser::new("p");
        let submods = appraiser.collect_submods(vec![("sim:#1".into(), affirming()), ("sim:1".into(), affirming())], 2);
        assert_eq!(submods.len(), 2);
        assert!(Ear::new(0, submods, None).is_affirming());
    }
}
