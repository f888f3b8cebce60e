//! Intel DCAP collateral: `dcap::collateral::VerifiedCollateral::from_json`
//! (the dcap-qvl `QuoteCollateralV3` JSON: signed TCB info and QE identity,
//! CRLs, issuer chains) against the embedded Intel root, on arbitrary UTF-8
//! (and on the lossy UTF-8 conversion of any input). Never panics; what
//! loads answers its accessors without panicking.
#![no_main]

use std::sync::LazyLock;

use attested_tls::platform::dcap::collateral::{CollateralCache, VerifiedCollateral};
use attested_tls::platform::dcap::pki::{self, Cert};
use libfuzzer_sys::fuzz_target;

static ROOT: LazyLock<Cert> = LazyLock::new(|| pki::intel_root().expect("embedded Intel root"));

/// 2025-07-01T00:00:00Z.
const NOW: i64 = 1_751_328_000;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(c) = VerifiedCollateral::from_json(&text, "fuzz", &ROOT) {
        let _ = (
            c.tee(),
            c.time_failures(NOW),
            c.time_failures(i64::MIN),
            c.time_failures(i64::MAX),
        );
        let (tee, fmspc) = (c.tee(), c.tcb_info.fmspc);
        let mut cache = CollateralCache::new();
        cache.insert(c);
        assert!(cache.lookup(tee, &fmspc, NOW).is_some());
    }
});
