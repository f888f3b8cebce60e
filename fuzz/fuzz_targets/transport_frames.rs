//! `transport::FrameDecoder` fed arbitrary bytes in arbitrary chunks, and
//! `Frame::decode_payload` for every frame type.
//!
//! Input: `selector || stream`. The selector picks the decoder's limit and
//! seeds the chunk sizes. Never panics; frames that decode re-encode to the
//! very bytes they came from; a decoder that ends empty without an error
//! consumed a stream equal to the concatenated re-encodings.
#![no_main]

use attested_tls::transport::frame::{DEFAULT_MAX_FRAME, HEADER_LEN};
use attested_tls::transport::{Frame, FrameDecoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let max_frame = match selector & 0x03 {
        0 => DEFAULT_MAX_FRAME,
        1 => 0,
        2 => 16,
        _ => 1024,
    };
    // A small xorshift seeded by the selector gives the chunk sizes.
    let mut state = u32::from(selector) | 0x100;
    let mut d = FrameDecoder::new(max_frame);
    let mut frames = Vec::new();
    let mut failed = false;
    let mut rest = stream;
    'outer: while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (1 + (state % 64) as usize).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        d.push(chunk);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.encode().len() <= HEADER_LEN + max_frame);
                    frames.push(f);
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break 'outer;
                }
            }
        }
    }
    if !failed && d.is_empty() {
        let mut again = Vec::new();
        for f in &frames {
            f.encode_into(&mut again);
        }
        assert_eq!(again, stream, "frame stream decoding is not canonical");
    }

    // Every frame type's payload decoder on the whole input.
    for typ in 0u8..=7 {
        if let Ok(f) = Frame::decode_payload(typ, data) {
            let wire = f.encode();
            assert_eq!(wire[0], typ);
            assert_eq!(
                &wire[HEADER_LEN..],
                data,
                "{} payload decoding is not canonical",
                f.name()
            );
        }
    }
});
