//! `codec::AuthenticatorRequest::decode` on arbitrary bytes: never panics,
//! and whatever decodes re-encodes to exactly the input (the encoding is
//! canonical), and decodes again to the same value.
#![no_main]

use attested_tls::codec::AuthenticatorRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = AuthenticatorRequest::decode(data) {
        let enc = req.encode();
        assert_eq!(enc, data, "AuthenticatorRequest decoding is not canonical");
        assert_eq!(AuthenticatorRequest::decode(&enc).as_ref(), Ok(&req));
    }
});
