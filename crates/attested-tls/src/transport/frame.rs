//! The frames of the attested-tls transport (version 1).
//!
//! Every byte an attested connection carries inside TLS, after the
//! handshake, is in a frame:
//!
//! ```text
//! frame = frame_type (1) || length (4, big endian) || payload (length bytes)
//! ```
//!
//! The receiver checks `length` against its configured maximum *before*
//! buffering the payload. See `docs/transport.md` for the byte-by-byte
//! specification with a worked example.

use crate::codec::{err, DecodeError, Problem, Reader, Writer};

/// Magic at the start of a HELLO payload: `ATLS`.
pub const MAGIC: [u8; 4] = *b"ATLS";
/// The only transport version defined.
pub const VERSION: u8 = 1;
/// Frame header length.
pub const HEADER_LEN: usize = 5;
/// Default maximum frame payload (256 KiB).
pub const DEFAULT_MAX_FRAME: usize = 256 * 1024;
/// Largest application-data payload put in one DATA frame.
pub const MAX_DATA_CHUNK: usize = 16 * 1024;

/// HELLO flag: this peer can attest (answers requests with Evidence).
pub const FLAG_CAN_ATTEST: u8 = 0x01;
/// HELLO flag: this peer requires the other to attest (will send a request).
pub const FLAG_REQUIRES_PEER_ATTESTATION: u8 = 0x02;
/// HELLO flag bits this version defines; a HELLO with any other bit set is
/// refused (a later version would change [`VERSION`]).
pub const KNOWN_FLAGS: u8 = FLAG_CAN_ATTEST | FLAG_REQUIRES_PEER_ATTESTATION;
/// Smallest `max_frame` a HELLO may announce: a full DATA frame must fit.
pub const MIN_MAX_FRAME: usize = MAX_DATA_CHUNK;
/// Largest `max_frame` a decoder accepts, so that header plus payload
/// length cannot overflow on any platform.
pub const MAX_MAX_FRAME: usize = (u32::MAX as usize) - HEADER_LEN;

/// Frame type codes.
pub mod frame_type {
    /// HELLO.
    pub const HELLO: u8 = 0x01;
    /// AUTH_REQUEST.
    pub const AUTH_REQUEST: u8 = 0x02;
    /// AUTHENTICATOR.
    pub const AUTHENTICATOR: u8 = 0x03;
    /// OUTCOME.
    pub const OUTCOME: u8 = 0x04;
    /// DATA.
    pub const DATA: u8 = 0x05;
    /// ERROR.
    pub const ERROR: u8 = 0x06;
}

/// Outcome status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeStatus {
    /// The Evidence was appraised and accepted.
    Accepted = 0,
    /// It was refused; `reason` says why.
    Refused = 1,
}

/// The first frame each side sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Transport version (1).
    pub version: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// Largest frame payload this peer accepts.
    pub max_frame: u32,
    /// `cmw_attestation` code point this peer uses.
    pub cmw_ext_type: u16,
    /// Binder exporter label this peer uses.
    pub exporter_label: Vec<u8>,
}

/// A transport frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Capabilities (first frame in each direction).
    Hello(Hello),
    /// An RFC 9261 authenticator request (framed handshake message 13 or 17).
    AuthRequest {
        /// Sender-chosen id, echoed in AUTHENTICATOR and OUTCOME.
        request_id: u32,
        /// The framed CertificateRequest / ClientCertificateRequest.
        request: Vec<u8>,
    },
    /// The answer to a request: Certificate || CertificateVerify || Finished,
    /// or the empty authenticator.
    Authenticator {
        /// The request's id.
        request_id: u32,
        /// The authenticator bytes.
        authenticator: Vec<u8>,
    },
    /// The requester's verdict on an authenticator.
    Outcome {
        /// The request's id.
        request_id: u32,
        /// Accepted or refused.
        status: OutcomeStatus,
        /// Human-readable reason (policy id, failing claims).
        reason: String,
        /// The EAR as JSON (may be empty).
        ear_json: Vec<u8>,
    },
    /// Application bytes (only once attestation succeeded).
    Data(Vec<u8>),
    /// A fatal error; the sender closes after it.
    Error {
        /// Error code (see `docs/transport.md`).
        code: u16,
        /// Reason.
        reason: String,
    },
}

/// Error codes of ERROR frames.
pub mod error_code {
    /// A frame that is not allowed in the current state.
    pub const PROTOCOL_VIOLATION: u16 = 1;
    /// A malformed frame or message.
    pub const DECODE_ERROR: u16 = 2;
    /// A frame over the receiver's limit.
    pub const FRAME_TOO_LARGE: u16 = 3;
    /// Version or profile mismatch.
    pub const UNSUPPORTED: u16 = 4;
    /// The peer's attestation failed (an OUTCOME refused was sent first).
    pub const ATTESTATION_FAILED: u16 = 5;
    /// A step timed out.
    pub const TIMEOUT: u16 = 6;
    /// Local failure (attester error etc.).
    pub const INTERNAL: u16 = 7;
    /// The attester is busy: as many attester calls as this side allows
    /// are running; the request was refused, not queued. Try again later.
    pub const BUSY: u16 = 8;
}

impl Frame {
    /// The frame's name, for errors.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "HELLO",
            Self::AuthRequest { .. } => "AUTH_REQUEST",
            Self::Authenticator { .. } => "AUTHENTICATOR",
            Self::Outcome { .. } => "OUTCOME",
            Self::Data(_) => "DATA",
            Self::Error { .. } => "ERROR",
        }
    }

    /// Appends the encoded frame to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new();
        let typ = match self {
            Self::Hello(h) => {
                w.bytes(&MAGIC);
                w.u8(h.version);
                w.u8(h.flags);
                w.bytes(&h.max_frame.to_be_bytes());
                w.u16(h.cmw_ext_type);
                w.vec(1, &h.exporter_label);
                frame_type::HELLO
            }
            Self::AuthRequest { request_id, request } => {
                w.bytes(&request_id.to_be_bytes());
                w.bytes(request);
                frame_type::AUTH_REQUEST
            }
            Self::Authenticator {
                request_id,
                authenticator,
            } => {
                w.bytes(&request_id.to_be_bytes());
                w.bytes(authenticator);
                frame_type::AUTHENTICATOR
            }
            Self::Outcome {
                request_id,
                status,
                reason,
                ear_json,
            } => {
                w.bytes(&request_id.to_be_bytes());
                w.u8(*status as u8);
                w.vec(2, truncate_utf8(reason, 0xffff).as_bytes());
                w.bytes(ear_json);
                frame_type::OUTCOME
            }
            Self::Data(d) => {
                w.bytes(d);
                frame_type::DATA
            }
            Self::Error { code, reason } => {
                w.u16(*code);
                w.vec(2, truncate_utf8(reason, 0xffff).as_bytes());
                frame_type::ERROR
            }
        };
        out.push(typ);
        out.extend_from_slice(&(w.buf.len() as u32).to_be_bytes());
        out.extend_from_slice(&w.buf);
    }

    /// Encodes into a new buffer.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_into(&mut v);
        v
    }

    /// Decodes one frame's payload of type `typ`.
    pub fn decode_payload(typ: u8, payload: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(payload);
        let f = match typ {
            frame_type::HELLO => {
                let magic = r.take(4, "HELLO.magic")?;
                if magic != MAGIC {
                    return Err(err(
                        "HELLO.magic",
                        Problem::Invalid(format!("{} is not \"ATLS\"", hex::encode(magic))),
                    ));
                }
                let version = r.u8("HELLO.version")?;
                let flags = r.u8("HELLO.flags")?;
                let max_frame = r.u32("HELLO.max_frame")?;
                let cmw_ext_type = r.u16("HELLO.cmw_ext_type")?;
                let exporter_label = r.vec(1, 1, 255, "HELLO.exporter_label")?.to_vec();
                r.finish("HELLO")?;
                Self::Hello(Hello {
                    version,
                    flags,
                    max_frame,
                    cmw_ext_type,
                    exporter_label,
                })
            }
            frame_type::AUTH_REQUEST => {
                let request_id = r.u32("AUTH_REQUEST.request_id")?;
                let request = r.take(r.remaining(), "AUTH_REQUEST.request")?.to_vec();
                Self::AuthRequest { request_id, request }
            }
            frame_type::AUTHENTICATOR => {
                let request_id = r.u32("AUTHENTICATOR.request_id")?;
                let authenticator = r.take(r.remaining(), "AUTHENTICATOR.authenticator")?.to_vec();
                Self::Authenticator {
                    request_id,
                    authenticator,
                }
            }
            frame_type::OUTCOME => {
                let request_id = r.u32("OUTCOME.request_id")?;
                let status = match r.u8("OUTCOME.status")? {
                    0 => OutcomeStatus::Accepted,
                    1 => OutcomeStatus::Refused,
                    s => return Err(err("OUTCOME.status", Problem::Invalid(format!("unknown status {s}")))),
                };
                let reason = utf8(r.vec(2, 0, 0xffff, "OUTCOME.reason")?, "OUTCOME.reason")?;
                let ear_json = r.take(r.remaining(), "OUTCOME.ear")?.to_vec();
                Self::Outcome {
                    request_id,
                    status,
                    reason,
                    ear_json,
                }
            }
            frame_type::DATA => {
                if payload.len() > MAX_DATA_CHUNK {
                    return Err(err(
                        "DATA",
                        Problem::LengthOutOfRange {
                            len: payload.len(),
                            min: 0,
                            max: MAX_DATA_CHUNK,
                        },
                    ));
                }
                Self::Data(payload.to_vec())
            }
            frame_type::ERROR => {
                let code = r.u16("ERROR.code")?;
                let reason = utf8(r.vec(2, 0, 0xffff, "ERROR.reason")?, "ERROR.reason")?;
                r.finish("ERROR")?;
                Self::Error { code, reason }
            }
            other => {
                return Err(err(
                    "frame_type",
                    Problem::Invalid(format!("unknown frame type {other:#04x}")),
                ))
            }
        };
        Ok(f)
    }
}

fn utf8(b: &[u8], field: &'static str) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| err(field, Problem::Invalid("not UTF-8".into())))
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Why the byte stream could not be split into frames.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A frame announced more than the configured maximum.
    #[error("peer announced a {len}-byte frame of type {typ:#04x}; the limit is {max} bytes")]
    TooLarge {
        /// Frame type.
        typ: u8,
        /// Announced length.
        len: usize,
        /// Our limit.
        max: usize,
    },
    /// A frame's payload was malformed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Incremental frame decoder: push received bytes, pull whole frames.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_frame: usize,
}

impl FrameDecoder {
    /// A decoder refusing payloads over `max_frame` bytes (at most
    /// [`MAX_MAX_FRAME`]).
    pub fn new(max_frame: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_frame: max_frame.min(MAX_MAX_FRAME),
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// True when no partial frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next complete frame, if one is buffered. Checks the announced
    /// length against the limit as soon as the header is complete.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let typ = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if len > self.max_frame {
            return Err(FrameError::TooLarge {
                typ,
                len,
                max: self.max_frame,
            });
        }
        // Cannot overflow: len <= max_frame <= MAX_MAX_FRAME.
        let end = HEADER_LEN + len;
        if self.buf.len() < end {
            return Ok(None);
        }
        let frame = Frame::decode_payload(typ, &self.buf[HEADER_LEN..end]);
        self.buf.drain(..end);
        Ok(Some(frame?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_frames() -> Vec<Frame> {
        vec![
            Frame::Hello(Hello {
                version: 1,
                flags: 3,
                max_frame: 262144,
                cmw_ext_type: 0xff00,
                exporter_label: b"EXPORTER-cmw-attestation".to_vec(),
            }),
            Frame::AuthRequest {
                request_id: 7,
                request: vec![17, 0, 0, 0],
            },
            Frame::Authenticator {
                request_id: 7,
                authenticator: vec![20, 0, 0, 1, 9],
            },
            Frame::Outcome {
                request_id: 7,
                status: OutcomeStatus::Refused,
                reason: "nope".into(),
                ear_json: b"{}".to_vec(),
            },
            Frame::Data(b"hello".to_vec()),
            Frame::Error {
                code: 5,
                reason: "x".into(),
            },
        ]
    }

    #[test]
    fn frames_round_trip_through_the_decoder_byte_by_byte() {
        let mut wire = Vec::new();
        for f in all_frames() {
            f.encode_into(&mut wire);
        }
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        let mut got = Vec::new();
        for b in wire {
            d.push(&[b]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, all_frames());
        assert!(d.is_empty());
    }

    #[test]
    fn oversized_frames_are_refused_from_the_header() {
        let mut d = FrameDecoder::new(1024);
        d.push(&[frame_type::DATA, 0, 0, 4, 1]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                typ: 5,
                len: 1025,
                max: 1024
            })
        );
    }

    #[test]
    fn the_length_is_checked_before_the_frame_type() {
        // docs/transport.md orders the checks: an unknown type announcing
        // more than the limit is "too large" from its header; within the
        // limit it is a decode error once its payload has arrived.
        let mut d = FrameDecoder::new(1024);
        d.push(&[0x77, 0, 0, 4, 1]);
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { typ: 0x77, .. })));
        let mut d = FrameDecoder::new(1024);
        d.push(&[0x77, 0, 0, 0, 2, 0]);
        assert_eq!(d.next_frame(), Ok(None), "waits for the whole payload");
        d.push(&[0]);
        let e = d.next_frame().unwrap_err();
        assert!(
            matches!(
                &e,
                FrameError::Decode(DecodeError {
                    field: "frame_type",
                    ..
                })
            ),
            "{e}"
        );
    }

    #[test]
    fn data_frames_over_the_chunk_size_are_refused() {
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
        let mut bytes = Frame::Data(vec![0; MAX_DATA_CHUNK]).encode();
        d.push(&bytes);
        assert!(matches!(d.next_frame(), Ok(Some(Frame::Data(v))) if v.len() == MAX_DATA_CHUNK));
        bytes = vec![frame_type::DATA];
        bytes.extend_from_slice(&((MAX_DATA_CHUNK + 1) as u32).to_be_bytes());
        bytes.resize(HEADER_LEN + MAX_DATA_CHUNK + 1, 0);
        d.push(&bytes);
        let e = d.next_frame().unwrap_err();
        assert!(
            matches!(&e, FrameError::Decode(DecodeError { field: "DATA", .. })),
            "{e}"
        );
    }

    #[test]
    fn decoder_limit_is_capped_so_lengths_cannot_overflow() {
        let mut d = FrameDecoder::new(usize::MAX);
        d.push(&[frame_type::DATA, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next_frame(), Err(FrameError::TooLarge { max, .. }) if max == MAX_MAX_FRAME));
    }

    #[test]
    fn malformed_payloads_name_the_field() {
        let e = Frame::decode_payload(frame_type::HELLO, b"ATLX\x01\x00\0\0\0\0\xff\0\x01a").unwrap_err();
        assert_eq!(e.field, "HELLO.magic");
        let e = Frame::decode_payload(frame_type::OUTCOME, &[0, 0, 0, 1, 9, 0, 0]).unwrap_err();
        assert_eq!(e.field, "OUTCOME.status");
        let e = Frame::decode_payload(0x77, &[]).unwrap_err();
        assert_eq!(e.field, "frame_type");
        let e = Frame::decode_payload(frame_type::AUTH_REQUEST, &[0, 0]).unwrap_err();
        assert_eq!(e.field, "AUTH_REQUEST.request_id");
    }

    #[test]
    fn hello_and_error_payloads_with_trailing_bytes_are_refused() {
        for (typ, frame, field) in [
            (frame_type::HELLO, all_frames().swap_remove(0), "HELLO"),
            (frame_type::ERROR, all_frames().swap_remove(5), "ERROR"),
        ] {
            let mut payload = frame.encode()[HEADER_LEN..].to_vec();
            assert_eq!(Frame::decode_payload(typ, &payload), Ok(frame));
            payload.push(0);
            assert_eq!(
                Frame::decode_payload(typ, &payload),
                Err(err(field, Problem::Trailing(1)))
            );
        }
    }

    #[test]
    fn reasons_that_are_not_utf8_are_refused() {
        // OUTCOME: request_id, status Refused, reason<1> = 0xff, no EAR.
        let e = Frame::decode_payload(frame_type::OUTCOME, &[0, 0, 0, 7, 1, 0, 1, 0xff]).unwrap_err();
        assert_eq!(e, err("OUTCOME.reason", Problem::Invalid("not UTF-8".into())));
        // ERROR: code 2, reason<1> = 0xff.
        let e = Frame::decode_payload(frame_type::ERROR, &[0, 2, 0, 1, 0xff]).unwrap_err();
        assert_eq!(e, err("ERROR.reason", Problem::Invalid("not UTF-8".into())));
    }

    #[test]
    fn a_frame_of_exactly_the_limit_is_accepted() {
        let mut d = FrameDecoder::new(1024);
        d.push(&Frame::Data(vec![1; 1024]).encode());
        assert_eq!(d.next_frame(), Ok(Some(Frame::Data(vec![1; 1024]))));
        assert!(d.is_empty());
    }
}
