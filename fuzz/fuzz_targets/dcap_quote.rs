//! Intel DCAP quotes: `dcap::quote::Quote::parse` (v3 SGX, v4 and v5 TDX),
//! and the `TdxVerifier` and `SgxVerifier` through `Verifier::appraise`.
//!
//! The verifiers share one engine holding the vector collateral
//! (`fixtures/platform/{tdx,sgx}_quote_collateral.json`, verified against
//! the embedded Intel root) and appraise at 2025-07-01, inside both
//! collateral windows. The TDX policy allows the `tdx_quote` vector's MRTD,
//! the SGX policy the `sgx_quote` vector's MRENCLAVE, so the seeds pass the
//! quote, QE, PCK chain and collateral checks. The expected report data is
//! neither vector's, so the result is never affirming: an affirming result
//! for fuzzed bytes would be a forgery.
#![no_main]

use std::sync::{Arc, LazyLock};

use attested_tls::binder::ExpectedBinding;
use attested_tls::platform::dcap::collateral::{CollateralCache, VerifiedCollateral};
use attested_tls::platform::dcap::engine::Engine;
use attested_tls::platform::dcap::quote::{looks_like_sgx, looks_like_tdx, Body, Quote};
use attested_tls::platform::dcap::{
    pki, SgxPolicy, SgxVerifier, TdxPolicy, TdxVerifier, SGX_MEDIA_TYPE, TDX_MEDIA_TYPE,
};
use attested_tls::verifier::{AppraisalContext, Verifier};
use libfuzzer_sys::fuzz_target;

const TDX_COLLATERAL: &str = include_str!("../fixtures/platform/tdx_quote_collateral.json");
const SGX_COLLATERAL: &str = include_str!("../fixtures/platform/sgx_quote_collateral.json");
const MRTD: &str = "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
const MRENCLAVE: &str = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
/// 2025-07-01T00:00:00Z.
const NOW: i64 = 1_751_328_000;

struct Fixed {
    tdx: TdxVerifier,
    sgx: SgxVerifier,
    expected: ExpectedBinding,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let root = pki::intel_root().expect("embedded Intel root");
    let mut cache = CollateralCache::new();
    for (text, source) in [
        (TDX_COLLATERAL, "tdx_quote_collateral.json"),
        (SGX_COLLATERAL, "sgx_quote_collateral.json"),
    ] {
        cache.insert(VerifiedCollateral::from_json(text, source, &root).expect("vector collateral"));
    }
    let engine = Arc::new(Engine::new(root, cache));
    let tdx = TdxPolicy {
        mrtd: vec![MRTD.to_string()],
        ..Default::default()
    };
    let sgx = SgxPolicy {
        mrenclave: vec![MRENCLAVE.to_string()],
        // The vector's status; allowing it lets the seed reach the binding check.
        allowed_tcb_statuses: Some(vec!["UpToDate".into(), "ConfigurationAndSWHardeningNeeded".into()]),
        ..Default::default()
    };
    Fixed {
        tdx: TdxVerifier::new(tdx.rules().expect("tdx rules"), engine.clone()),
        sgx: SgxVerifier::new(sgx.rules().expect("sgx rules"), engine),
        // Neither vector's report data.
        expected: ExpectedBinding::ReportData([0x5a; 64]),
    }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXED;
    let _ = (looks_like_tdx(data), looks_like_sgx(data));
    if let Ok(q) = Quote::parse(data) {
        assert!(data.starts_with(q.signed));
        assert_eq!(q.is_tdx(), matches!(q.body, Body::Td(_)));
        let _ = q.body.report_data();
    }
    let ctx = AppraisalContext {
        expected: &f.expected,
        now: time::OffsetDateTime::from_unix_timestamp(NOW).unwrap(),
        policy_id: "fuzz",
    };
    let _ = (f.tdx.detect(data), f.sgx.detect(data));
    let a = f.tdx.appraise(TDX_MEDIA_TYPE, data, &ctx);
    assert!(!a.is_affirming(), "fuzzed TDX quote was affirmed: {a:?}");
    let a = f.sgx.appraise(SGX_MEDIA_TYPE, data, &ctx);
    assert!(!a.is_affirming(), "fuzzed SGX quote was affirmed: {a:?}");
});
