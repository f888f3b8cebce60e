//! Property tests of the CMW codec (`cmw`) and the transport framing
//! (`transport::frame`).
//!
//! - CMW records and collections round-trip through CBOR (all of them) and
//!   JSON (those with a JSON form: media-type records, text labels);
//! - whatever `Cmw::decode` accepts re-encodes to CBOR that decodes to the
//!   same value;
//! - every frame variant round-trips through `FrameDecoder` under any
//!   chunking of the byte stream; `Frame::decode_payload` is canonical;
//! - no decoder panics on arbitrary bytes.

use std::collections::BTreeMap;

use attested_tls::cmw::{Cmw, CmwError, CmwLabel, CmwRecord, CmwType, MAX_CMW_LEN};
use attested_tls::transport::frame::{
    frame_type, Hello, OutcomeStatus, DEFAULT_MAX_FRAME, FLAG_CAN_ATTEST, HEADER_LEN,
};
use attested_tls::transport::{Frame, FrameDecoder, FrameError};
use proptest::prelude::*;

// ----- CMW strategies -----

fn media_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/eat+cwt".to_string()),
        Just(attested_tls::sim::SIM_MEDIA_TYPE.to_string()),
        "[a-z]{1,12}/[a-z0-9.+-]{1,20}",
        any::<String>(),
    ]
}

fn ind() -> impl Strategy<Value = Option<u8>> {
    prop::option::of(1u8..=31)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..128)
}

fn record(json: bool) -> BoxedStrategy<CmwRecord> {
    let typ = if json {
        media_type().prop_map(CmwType::MediaType).boxed()
    } else {
        prop_oneof![
            media_type().prop_map(CmwType::MediaType),
            any::<u16>().prop_map(CmwType::ContentFormat)
        ]
        .boxed()
    };
    (typ, value(), ind())
        .prop_map(|(typ, value, ind)| CmwRecord { typ, value, ind })
        .boxed()
}

fn label(json: bool) -> BoxedStrategy<CmwLabel> {
    // `__cmwc_t` is the collection type, never a label.
    let text = any::<String>()
        .prop_filter("reserved label", |s| s != "__cmwc_t")
        .prop_map(CmwLabel::Text);
    if json {
        text.boxed()
    } else {
        prop_oneof![text, any::<i64>().prop_map(CmwLabel::Int)].boxed()
    }
}

/// CMWs nested at most `MAX_DEPTH` (4) collections deep.
fn cmw(json: bool) -> impl Strategy<Value = Cmw> {
    record(json)
        .prop_map(Cmw::Record)
        .prop_recursive(4, 24, 4, move |inner| {
            (
                prop::option::of("[ -~]{0,24}"),
                prop::collection::btree_map(label(json), inner, 1..4),
            )
                .prop_map(|(ctype, members)| Cmw::Collection { ctype, members })
        })
}

/// CMWs whose labels are drawn from a few that looked alike when record
/// paths were written without escaping: `1` and `"1"`, `"a.b"` and `a`/`b`,
/// `"#1"`, the escape character.
fn colliding_cmw() -> impl Strategy<Value = Cmw> {
    let label = prop_oneof![
        (0i64..3).prop_map(CmwLabel::Int),
        prop::sample::select(vec!["1", "#1", "a", "b", "a.b", "a\\", "\\.b", ".", "", "\\#1"])
            .prop_map(|s| CmwLabel::Text(s.to_string())),
    ];
    Just(Cmw::Record(CmwRecord::evidence("a/b", vec![0]))).prop_recursive(3, 32, 6, move |inner| {
        prop::collection::btree_map(label.clone(), inner, 1..6)
            .prop_map(|members| Cmw::Collection { ctype: None, members })
    })
}

fn depth(c: &Cmw) -> usize {
    match c {
        Cmw::Record(_) => 0,
        Cmw::Collection { members, .. } => 1 + members.values().map(depth).max().unwrap_or(0),
    }
}

/// Checks that an accepted CMW re-encodes canonically.
fn check_decoded(c: &Cmw) {
    let cbor = c.to_cbor();
    if cbor.len() <= MAX_CMW_LEN {
        assert_eq!(
            Cmw::decode(&cbor).as_ref(),
            Ok(c),
            "CBOR re-encoding does not round-trip"
        );
    }
    if let Ok(j) = c.to_json() {
        if j.len() <= MAX_CMW_LEN {
            assert_eq!(
                Cmw::decode(j.as_bytes()).as_ref(),
                Ok(c),
                "JSON re-encoding does not round-trip"
            );
        }
    }
    let _ = c.records();
}

// ----- frame strategies -----

fn reason() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ -~]{0,64}"]
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 1..=255)
        )
            .prop_map(
                |(version, flags, max_frame, cmw_ext_type, exporter_label)| Frame::Hello(Hello {
                    version,
                    flags,
                    max_frame,
                    cmw_ext_type,
                    exporter_label
                })
            ),
        (any::<u32>(), prop::collection::vec(any::<u8>(), 0..300))
            .prop_map(|(request_id, request)| Frame::AuthRequest { request_id, request }),
        (any::<u32>(), prop::collection::vec(any::<u8>(), 0..600)).prop_map(|(request_id, authenticator)| {
            Frame::Authenticator {
                request_id,
                authenticator,
            }
        }),
        (
            any::<u32>(),
            prop_oneof![Just(OutcomeStatus::Accepted), Just(OutcomeStatus::Refused)],
            reason(),
            prop::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(request_id, status, reason, ear_json)| Frame::Outcome {
                request_id,
                status,
                reason,
                ear_json
            }),
        prop::collection::vec(any::<u8>(), 0..400).prop_map(Frame::Data),
        (any::<u16>(), reason()).prop_map(|(code, reason)| Frame::Error { code, reason }),
    ]
}

/// Splits `wire` at the given (sorted, deduplicated) cut points.
fn chunks<'a>(wire: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(0);
    points.push(wire.len());
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| &wire[w[0]..w[1]]).collect()
}

/// Feeds chunks to a decoder, collecting frames until the stream ends or
/// an error. Never panics on any input.
fn decode_stream(chunks: &[&[u8]], max_frame: usize) -> (Vec<Frame>, Option<FrameError>) {
    let mut d = FrameDecoder::new(max_frame);
    let mut out = Vec::new();
    for c in chunks {
        d.push(c);
        loop {
            match d.next_frame() {
                Ok(Some(f)) => out.push(f),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

proptest! {
    // ----- CMW -----

    #[test]
    fn cmw_round_trips_through_cbor(c in cmw(false)) {
        let cbor = c.to_cbor();
        prop_assert!(cbor.len() <= MAX_CMW_LEN);
        prop_assert_eq!(Cmw::decode(&cbor), Ok(c.clone()));
        prop_assert_eq!(Cmw::from_cbor(&cbor), Ok(c.clone()));
        if depth(&c) == 0 {
            prop_assert_eq!(c.records().len(), 1);
        }
    }

    #[test]
    fn cmw_round_trips_through_json(c in cmw(true)) {
        let json = c.to_json().expect("media-type records with text labels have a JSON form");
        prop_assert_eq!(Cmw::decode(json.as_bytes()), Ok(c.clone()));
        prop_assert_eq!(Cmw::from_json(json.as_bytes()), Ok(c.clone()));
        // And across: JSON -> value -> CBOR -> value.
        prop_assert_eq!(Cmw::decode(&c.to_cbor()), Ok(c));
    }

    #[test]
    fn record_paths_are_distinct(c in colliding_cmw()) {
        // Each record names its own EAR submodule by its path: two records
        // sharing a path let one result replace the other.
        let records = c.records();
        let paths: std::collections::BTreeSet<&String> = records.iter().map(|(p, _)| p).collect();
        prop_assert_eq!(paths.len(), records.len(), "paths {:?}", records.iter().map(|(p, _)| p).collect::<Vec<_>>());
    }

    #[test]
    fn content_format_and_int_labels_have_no_json_form(cf in any::<u16>(), v in value(), l in any::<i64>()) {
        let r = Cmw::Record(CmwRecord { typ: CmwType::ContentFormat(cf), value: v.clone(), ind: None });
        prop_assert!(r.to_json().is_err());
        let c = Cmw::Collection {
            ctype: None,
            members: BTreeMap::from([(CmwLabel::Int(l), Cmw::Record(CmwRecord::evidence("a/b", v)))]),
        };
        prop_assert!(c.to_json().is_err());
        prop_assert_eq!(Cmw::decode(&c.to_cbor()), Ok(c));
    }

    #[test]
    fn too_deep_collections_are_refused(leaf in record(false), extra in 1usize..4) {
        let mut c = Cmw::Record(leaf);
        for i in 0..4 + extra {
            c = Cmw::Collection { ctype: None, members: BTreeMap::from([(CmwLabel::Int(i as i64), c)]) };
        }
        prop_assert_eq!(Cmw::decode(&c.to_cbor()), Err(CmwError::TooDeep));
    }

    #[test]
    fn cmw_decoders_never_panic(b in prop::collection::vec(any::<u8>(), 0..2048)) {
        for c in [Cmw::decode(&b), Cmw::from_cbor(&b), Cmw::from_json(&b)].into_iter().flatten() {
            check_decoded(&c);
        }
    }

    #[test]
    fn cmw_decoders_never_panic_on_mutated_encodings(
        c in cmw(false),
        flips in prop::collection::vec((any::<usize>(), 1u8..), 1..4),
        cut in any::<usize>(),
    ) {
        let mut b = c.to_cbor();
        for (pos, mask) in &flips {
            let i = pos % b.len();
            b[i] ^= mask;
        }
        if let Ok(c) = Cmw::decode(&b) {
            check_decoded(&c);
        }
        let _ = Cmw::decode(&b[..cut % (b.len() + 1)]);
    }

    #[test]
    fn json_decoder_never_panics_on_mutated_json(
        c in cmw(true),
        flips in prop::collection::vec((any::<usize>(), 1u8..), 1..4),
    ) {
        let mut b = c.to_json().unwrap().into_bytes();
        for (pos, mask) in &flips {
            let i = pos % b.len();
            b[i] ^= mask;
        }
        if let Ok(c) = Cmw::decode(&b) {
            check_decoded(&c);
        }
    }

    // ----- frames -----

    #[test]
    fn frames_round_trip_under_any_chunking(
        frames in prop::collection::vec(frame(), 1..8),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut wire = Vec::new();
        for f in &frames {
            f.encode_into(&mut wire);
        }
        let (got, err) = decode_stream(&chunks(&wire, &cuts), DEFAULT_MAX_FRAME);
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn frames_round_trip_byte_by_byte(f in frame()) {
        let wire = f.encode();
        let one_by_one: Vec<&[u8]> = wire.chunks(1).collect();
        let (got, err) = decode_stream(&one_by_one, DEFAULT_MAX_FRAME);
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, vec![f.clone()]);
        // And through `decode_payload` directly.
        prop_assert_eq!(Frame::decode_payload(wire[0], &wire[HEADER_LEN..]), Ok(f));
    }

    #[test]
    fn oversized_frames_are_refused_from_the_header(
        typ in any::<u8>(),
        max in 0usize..4096,
        over in 1usize..1_000_000,
    ) {
        let len = (max + over) as u32;
        let mut header = vec![typ];
        header.extend_from_slice(&len.to_be_bytes());
        let mut d = FrameDecoder::new(max);
        d.push(&header[..HEADER_LEN - 1]);
        prop_assert_eq!(d.next_frame(), Ok(None));
        d.push(&header[HEADER_LEN - 1..]);
        prop_assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge { typ, len: len as usize, max })
        );
    }

    #[test]
    fn decode_payload_is_canonical_and_never_panics(typ in 0u8..8, payload in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(f) = Frame::decode_payload(typ, &payload) {
            let wire = f.encode();
            prop_assert_eq!(wire[0], typ);
            prop_assert_eq!(&wire[HEADER_LEN..], &payload[..]);
        }
    }

    #[test]
    fn frame_decoder_never_panics(
        b in prop::collection::vec(any::<u8>(), 0..2048),
        cuts in prop::collection::vec(any::<usize>(), 0..16),
        max in prop_oneof![Just(DEFAULT_MAX_FRAME), 0usize..512],
    ) {
        let (frames, _) = decode_stream(&chunks(&b, &cuts), max);
        for f in frames {
            // Every decoded frame re-encodes within the limit.
            prop_assert!(f.encode().len() <= HEADER_LEN + max);
        }
    }

    #[test]
    fn frame_decoder_never_panics_on_mutated_streams(
        frames in prop::collection::vec(frame(), 1..4),
        flips in prop::collection::vec((any::<usize>(), 1u8..), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut wire = Vec::new();
        for f in &frames {
            f.encode_into(&mut wire);
        }
        for (pos, mask) in &flips {
            let i = pos % wire.len();
            wire[i] ^= mask;
        }
        let _ = decode_stream(&chunks(&wire, &cuts), DEFAULT_MAX_FRAME);
    }
}

#[test]
fn hello_with_empty_label_or_unknown_types_are_refused() {
    // The HELLO encoder writes what it is given; the decoder requires a label.
    let wire = Frame::Hello(Hello {
        version: 1,
        flags: FLAG_CAN_ATTEST,
        max_frame: 1024,
        cmw_ext_type: 0xff00,
        exporter_label: Vec::new(),
    })
    .encode();
    assert!(Frame::decode_payload(frame_type::HELLO, &wire[HEADER_LEN..]).is_err());
    for typ in (0u8..=255).filter(|t| !(frame_type::HELLO..=frame_type::ERROR).contains(t)) {
        assert!(Frame::decode_payload(typ, &[]).is_err());
    }
}
