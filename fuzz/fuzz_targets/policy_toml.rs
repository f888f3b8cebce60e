//! `policy::Policy::from_toml` on arbitrary UTF-8: never panics. The `[sim]`
//! section of a policy that parses is then checked by `SimVerifier::new`
//! (hex lists, measurement sizes), without reading any file: a fuzzed
//! `trusted_roots = ["/dev/zero"]` must not turn into an endless read.
#![no_main]

use std::path::Path;

use attested_tls::policy::Policy;
use attested_tls::sim::SimVerifier;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(p) = Policy::from_toml(text, Path::new("/nonexistent/attested-tls-fuzz")) {
        assert!(!p.id.trim().is_empty());
        if let Some(sim) = &p.sim {
            let _ = SimVerifier::new(sim.clone(), Vec::new());
        }
    }
});
