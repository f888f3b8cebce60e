//! Peer attested-TLS formats: `peers::detect` and `peers::read` (every
//! reader: Gramine legacy, TCG DICE, Open Enclave, Enarx, dstack, Contrast,
//! Constellation, Cocos v3/v4, TNG tokens) at a fixed time with a nonce and
//! no other trust inputs than the embedded Intel and AMD roots.
//!
//! Properties: no panic; `detect` and `read` agree on whether the input is
//! readable and on the formats found. There are no committed seeds: the
//! real samples in `../shared/vectors/peers/` come from other projects'
//! repositories and are not copied here; give them as a read-only corpus
//! (see README).
#![no_main]

use attested_tls::peers::{detect, read, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut opts = ReadOptions::at(1_700_000_000);
    opts.nonce = Some(vec![0x42; 32]);
    let detected = detect(data);
    let found = read(data, &opts);
    match (&detected, &found) {
        (Ok(formats), Ok(found)) => {
            assert_eq!(formats, &found.iter().map(|f| f.format).collect::<Vec<_>>());
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("detect and read disagree: {detected:?} vs {found:?}"),
    }
});
