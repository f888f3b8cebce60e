//! The attester's side of the passport model in the default mode: for
//! each request of the relying party, Evidence from the platform's
//! attester is appraised by the remote verifier with the connection's
//! binding as nonce, and the signed EAR it returns is presented in the
//! authenticator's CMW instead of the Evidence (a record of
//! [`PASSPORT_MEDIA_TYPE`], `ind` attestation results). The relying party
//! accepts it with a `[passport]` policy section
//! ([`attested_tls::remote::PassportVerifier`]). See `docs/verifier.md`.

use std::sync::Arc;
use std::time::Duration;

use attested_tls::attester::{AttestError, Attester};
use attested_tls::binder::BindingClaims;
use attested_tls::cmw::{ind, Cmw, CmwRecord, CmwType};
use attested_tls::remote::{cmw_media_type, PASSPORT_MEDIA_TYPE};

use crate::client::HttpVerifierClient;

/// An [`Attester`] that presents passports: Evidence from `evidence`,
/// exchanged at the verifier for a signed EAR.
pub struct PassportAttester {
    evidence: Arc<dyn Attester>,
    url: String,
    timeout: Duration,
    client: HttpVerifierClient,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for PassportAttester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassportAttester")
            .field("evidence", &self.evidence.platform())
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PassportAttester {
    /// Passports for the Evidence of `evidence`, from the verifier at `url`
    /// (the API base), each exchange bounded by `timeout`. Must be called
    /// within a tokio runtime, which runs the HTTP exchanges.
    pub fn new(evidence: Arc<dyn Attester>, url: impl Into<String>, timeout: Duration) -> Result<Self, AttestError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| AttestError::Other(format!("a passport attester needs a tokio runtime: {e}")))?;
        Ok(Self {
            evidence,
            url: url.into(),
            timeout,
            client: HttpVerifierClient::new(),
            runtime,
        })
    }
}

impl Attester for PassportAttester {
    fn platform(&self) -> &str {
        "passport"
    }

    /// Always: it waits for the verifier. The tokio adapter therefore runs
    /// it on the blocking pool under the attestation deadline.
    fn may_block(&self) -> bool {
        true
    }

    fn attest(&self, binding: &BindingClaims) -> Result<Cmw, AttestError> {
        let evidence = self.evidence.attest(binding)?.to_cbor();
        let (client, url, timeout) = (self.client.clone(), self.url.clone(), self.timeout);
        let nonce = binding.report_data();
        let media_type = cmw_media_type(&evidence);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        // The exchange runs on the runtime; this (blocking-pool) thread
        // waits for it, at most `timeout` (no `block_on`, which would panic
        // if this were ever called on a runtime thread).
        self.runtime.spawn(async move {
            let r = tokio::time::timeout(timeout, client.appraise_at(&url, media_type, evidence, &nonce)).await;
            let _ = tx.send(r);
        });
        let verifier_failed = |reason: String| AttestError::Platform {
            interface: format!("remote verifier {}", self.url),
            reason,
        };
        let token = match rx.recv_timeout(timeout + Duration::from_secs(1)) {
            Ok(Ok(Ok(token))) => token,
            Ok(Ok(Err(e))) => return Err(verifier_failed(e.to_string())),
            Ok(Err(_)) | Err(_) => return Err(verifier_failed(format!("no answer within {} s", timeout.as_secs()))),
        };
        let record = CmwRecord {
            typ: CmwType::MediaType(PASSPORT_MEDIA_TYPE.into()),
            value: token.into_bytes(),
            ind: Some(ind::ATTESTATION_RESULTS),
        };
        let cmw = Cmw::Record(record);
        let len = cmw.to_cbor().len();
        if len > attested_tls::cmw::MAX_CMW_LEN {
            return Err(AttestError::TooLarge(len));
        }
        Ok(cmw)
    }
}
