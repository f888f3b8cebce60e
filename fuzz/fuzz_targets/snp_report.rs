//! SEV-SNP decoders: `AttestationReport::parse`, `parse_cert_table` (the
//! auxblob GUID table), `decode_envelope` (the CBOR envelope), and the
//! `SnpVerifier` through `Verifier::appraise` with both media types.
//!
//! The verifier's policy lists the Milan vector's measurement; it trusts
//! the built-in AMD roots and the vector's VCEK (`fixtures/platform/`), so
//! the seeds (the genuine Milan report, alone and in an envelope with its
//! certificate table) pass the chain and signature checks. The expected
//! report data is NOT the report's, so the result is never affirming: an
//! affirming result for fuzzed bytes would be a forgery.
#![no_main]

use std::sync::LazyLock;

use attested_tls::binder::ExpectedBinding;
use attested_tls::platform::snp::{
    builtin_trust_store, decode_envelope, encode_envelope, parse_cert_table, AttestationReport, SnpConfig, SnpPolicy,
    SnpVerifier, MEDIA_TYPE_ENVELOPE, MEDIA_TYPE_REPORT,
};
use attested_tls::verifier::{AppraisalContext, Verifier};
use libfuzzer_sys::fuzz_target;

const MEASUREMENT: &str =
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
const VCEK: &[u8] = include_bytes!("../fixtures/platform/vcek_milan.der");
/// 2025-01-01T00:00:00Z, inside the VCEK's validity.
const NOW: i64 = 1_735_689_600;

struct Fixed {
    verifier: SnpVerifier,
    expected: ExpectedBinding,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let section = SnpPolicy {
        measurements: vec![MEASUREMENT.to_string()],
        ..Default::default()
    };
    let cfg = SnpConfig::from_policy(&section).expect("policy");
    let mut verifier = SnpVerifier::with_trust_store(cfg, builtin_trust_store());
    verifier.add_cert(VCEK).expect("vector VCEK");
    Fixed {
        verifier,
        // The vector's report data is d447b55d...; this differs.
        expected: ExpectedBinding::ReportData([0x5a; 64]),
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXED;
    if let Ok(r) = AttestationReport::parse(data) {
        assert_eq!(r.as_bytes().as_slice(), &data[..r.as_bytes().len()]);
        let _ = r.signature_fixed();
        let _ = (r.signing_key(), r.cpuid_product(), r.signed_bytes().len());
    }
    if let Ok(entries) = parse_cert_table(data) {
        for e in &entries {
            let _ = format!("{e:?}");
        }
    }
    if let Ok(env) = decode_envelope(data) {
        // What decoded re-encodes to something that decodes the same.
        let again = decode_envelope(&encode_envelope(&env.report, env.certs.as_deref())).expect("re-encoding decodes");
        assert_eq!(again.report, env.report);
        let non_empty = |c: &Option<Vec<u8>>| c.clone().filter(|c| !c.is_empty());
        assert_eq!(non_empty(&again.certs), non_empty(&env.certs));
    }
    let ctx = AppraisalContext {
        expected: &f.expected,
        now: time::OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
        policy_id: "fuzz",
    };
    let _ = f.verifier.detect(data);
    for m in [MEDIA_TYPE_REPORT, MEDIA_TYPE_ENVELOPE] {
        let a = f.verifier.appraise(m, data, &ctx);
        assert!(!a.is_affirming(), "fuzzed SNP evidence ({m}) was affirmed: {a:?}");
    }
});
