//! `cmw::Cmw::decode` (and the form-specific `from_cbor` / `from_json`) on
//! arbitrary bytes: never panics; whatever decodes round-trips through
//! `to_cbor` (and through `to_json` when it has a JSON form).
#![no_main]

use attested_tls::cmw::{Cmw, MAX_CMW_LEN};
use libfuzzer_sys::fuzz_target;

fn check(c: &Cmw, input: &[u8]) {
    let cbor = c.to_cbor();
    if cbor.len() <= MAX_CMW_LEN {
        let again = Cmw::decode(&cbor);
        assert_eq!(
            again.as_ref(),
            Ok(c),
            "CBOR round trip failed for input {} (re-encoded {})",
            hex::encode(input),
            hex::encode(&cbor)
        );
        // The canonical encoding is a fixed point.
        assert_eq!(again.unwrap().to_cbor(), cbor);
    }
    if let Ok(json) = c.to_json() {
        if json.len() <= MAX_CMW_LEN {
            assert_eq!(
                Cmw::decode(json.as_bytes()).as_ref(),
                Ok(c),
                "JSON round trip failed: {json}"
            );
        }
    }
    let _ = c.records();
}

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Cmw::decode(data) {
        check(&c, data);
    }
    if let Ok(c) = Cmw::from_cbor(data) {
        check(&c, data);
    }
    if let Ok(c) = Cmw::from_json(data) {
        check(&c, data);
    }
});
