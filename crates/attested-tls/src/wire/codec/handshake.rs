//! Handshake messages: CertificateRequest (13), ClientCertificateRequest
//! (17), Certificate (11), CertificateVerify (15), Finished (20), and the
//! `signature_algorithms` and `cmw_attestation` extensions.
//!
//! Every message is encoded and decoded *framed*: `msg_type(1) ||
//! uint24 length || body`, because RFC 9261 hashes the framed messages.

use super::{err, DecodeError, Problem, Reader, Writer};

/// Extension type of `signature_algorithms` (RFC 8446 §4.2.3).
pub const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
/// Default code point of `cmw_attestation` (draft-fossati-seat-expat; the
/// value is TBD, so it is configurable; 0xFF00 is private use and what the
/// Go implementation in the field uses).
pub const EXT_CMW_ATTESTATION_DEFAULT: u16 = 0xFF00;
/// Largest body of any handshake message we accept (uint24 limit).
pub const MAX_HANDSHAKE_BODY: usize = (1 << 24) - 1;

/// Handshake message types used by Exported Authenticators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandshakeType {
    /// Certificate (11).
    Certificate,
    /// CertificateRequest (13): a server asks the client to authenticate.
    CertificateRequest,
    /// CertificateVerify (15).
    CertificateVerify,
    /// ClientCertificateRequest (17): a client asks the server.
    ClientCertificateRequest,
    /// Finished (20).
    Finished,
}

impl HandshakeType {
    /// Wire value.
    pub const fn code(self) -> u8 {
        match self {
            Self::Certificate => 11,
            Self::CertificateRequest => 13,
            Self::CertificateVerify => 15,
            Self::ClientCertificateRequest => 17,
            Self::Finished => 20,
        }
    }

    /// From a wire value.
    pub fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            11 => Self::Certificate,
            13 => Self::CertificateRequest,
            15 => Self::CertificateVerify,
            17 => Self::ClientCertificateRequest,
            20 => Self::Finished,
            _ => return None,
        })
    }
}

/// Splits one framed handshake message off the front of `r`, checking its
/// type. Returns the whole framed message and its body.
pub fn read_framed<'a>(
    r: &mut Reader<'a>,
    expected: &[HandshakeType],
    field: &'static str,
) -> Result<(HandshakeType, &'a [u8], &'a [u8]), DecodeError> {
    let start = r.clone();
    let code = r.u8(field)?;
    let typ = HandshakeType::from_code(code)
        .filter(|t| expected.contains(t))
        .ok_or_else(|| {
            err(
                field,
                Problem::Invalid(format!("unexpected handshake message type {code}")),
            )
        })?;
    let body = r.vec(3, 0, MAX_HANDSHAKE_BODY, field)?;
    let framed_len = 4 + body.len();
    let mut s = start;
    let framed = s.take(framed_len, field)?;
    Ok((typ, framed, body))
}

fn frame(typ: HandshakeType, body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(typ.code());
    w.nested(3, body);
    w.buf
}

/// A TLS extension: type and opaque data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// Extension type.
    pub typ: u16,
    /// `extension_data`.
    pub data: Vec<u8>,
}

impl Extension {
    /// `signature_algorithms` with the given schemes.
    pub fn signature_algorithms(schemes: &[u16]) -> Self {
        let mut w = Writer::new();
        w.nested(2, |w| schemes.iter().for_each(|s| w.u16(*s)));
        Self {
            typ: EXT_SIGNATURE_ALGORITHMS,
            data: w.buf,
        }
    }

    /// Decodes `signature_algorithms` data: `SignatureScheme supported_signature_algorithms<2..2^16-2>`.
    pub fn parse_signature_algorithms(data: &[u8]) -> Result<Vec<u16>, DecodeError> {
        const F: &str = "signature_algorithms";
        let mut r = Reader::new(data);
        let list = r.vec(2, 2, 0xfffe, F)?;
        r.finish(F)?;
        if list.len() % 2 != 0 {
            return Err(err(F, Problem::Invalid("odd length scheme list".into())));
        }
        Ok(list.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect())
    }

    /// An empty `cmw_attestation` extension: in a request, it asks for Evidence.
    pub fn cmw_attestation_request(ext_type: u16) -> Self {
        Self {
            typ: ext_type,
            data: Vec::new(),
        }
    }

    /// A `cmw_attestation` extension carrying a CMW: `opaque cmw_data<1..2^16-1>`.
    /// Fails if the CMW is empty or cannot fit a CertificateEntry
    /// (more than [`MAX_CMW_IN_EXTENSION`] bytes).
    pub fn cmw_attestation(ext_type: u16, cmw: &[u8]) -> Result<Self, usize> {
        if cmw.is_empty() || cmw.len() > MAX_CMW_IN_EXTENSION {
            return Err(cmw.len());
        }
        let mut w = Writer::new();
        w.vec(2, cmw);
        Ok(Self {
            typ: ext_type,
            data: w.buf,
        })
    }

    /// Decodes `cmw_attestation` data from a CertificateEntry.
    pub fn parse_cmw_attestation(data: &[u8]) -> Result<&[u8], DecodeError> {
        const F: &str = "cmw_attestation";
        let mut r = Reader::new(data);
        let cmw = r.vec(2, 1, MAX_CMW_IN_EXTENSION, F)?;
        r.finish(F)?;
        Ok(cmw)
    }
}

/// Largest CMW a `cmw_attestation` extension can carry: a CertificateEntry's
/// `extensions<0..2^16-1>` block holds the extension's type (2 bytes),
/// `extension_data` length (2) and the CMW's own length prefix (2), so
/// 2^16-1 - 6 bytes remain when it is the entry's only extension.
pub const MAX_CMW_IN_EXTENSION: usize = 0xffff - 6;

/// Encoded size of an `extensions` block's content.
pub fn extensions_len(exts: &[Extension]) -> usize {
    exts.iter().map(|e| 4 + e.data.len()).sum()
}

fn write_extensions(w: &mut Writer, exts: &[Extension]) {
    w.nested(2, |w| {
        for e in exts {
            w.u16(e.typ);
            w.vec(2, &e.data);
        }
    });
}

fn read_extensions(r: &mut Reader<'_>, min: usize, field: &'static str) -> Result<Vec<Extension>, DecodeError> {
    let block = r.vec(2, min, 0xffff, field)?;
    let mut er = Reader::new(block);
    let mut out: Vec<Extension> = Vec::new();
    // A set, not a scan of `out`: a 64 KiB block can hold 16 383 empty
    // extensions, and a quadratic duplicate check on them is a peer-driven
    // CPU cost before any signature is checked.
    let mut seen = std::collections::HashSet::new();
    while er.remaining() > 0 {
        let typ = er.u16(field)?;
        let data = er.vec(2, 0, 0xffff, field)?;
        if !seen.insert(typ) {
            return Err(err(field, Problem::Invalid(format!("duplicate extension {typ:#06x}"))));
        }
        out.push(Extension {
            typ,
            data: data.to_vec(),
        });
    }
    Ok(out)
}

/// Finds an extension by type.
pub fn find_extension(exts: &[Extension], typ: u16) -> Option<&Extension> {
    exts.iter().find(|e| e.typ == typ)
}

/// An authenticator request: CertificateRequest (13) or
/// ClientCertificateRequest (17); same body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatorRequest {
    /// 13 (server asks client) or 17 (client asks server).
    pub msg_type: HandshakeType,
    /// `certificate_request_context<0..2^8-1>`; unique per connection.
    pub context: Vec<u8>,
    /// `extensions<2..2^16-1>`.
    pub extensions: Vec<Extension>,
}

impl AuthenticatorRequest {
    /// Framed encoding.
    pub fn encode(&self) -> Vec<u8> {
        frame(self.msg_type, |w| {
            w.vec(1, &self.context);
            write_extensions(w, &self.extensions);
        })
    }

    /// Decodes a framed request.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        const F: &str = "AuthenticatorRequest";
        let mut r = Reader::new(bytes);
        let (msg_type, _, body) = read_framed(
            &mut r,
            &[
                HandshakeType::CertificateRequest,
                HandshakeType::ClientCertificateRequest,
            ],
            F,
        )?;
        r.finish(F)?;
        let mut b = Reader::new(body);
        let context = b
            .vec(1, 0, 255, "AuthenticatorRequest.certificate_request_context")?
            .to_vec();
        let extensions = read_extensions(&mut b, 2, "AuthenticatorRequest.extensions")?;
        b.finish(F)?;
        Ok(Self {
            msg_type,
            context,
            extensions,
        })
    }
}

/// One entry of a Certificate message (X.509 only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateEntry {
    /// `cert_data<1..2^24-1>`: DER X.509 certificate.
    pub cert_der: Vec<u8>,
    /// Per-entry extensions.
    pub extensions: Vec<Extension>,
}

/// Certificate (11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateMsg {
    /// Copied from the request.
    pub context: Vec<u8>,
    /// End-entity first; empty in an empty authenticator.
    pub entries: Vec<CertificateEntry>,
}

impl CertificateMsg {
    /// Framed encoding.
    pub fn encode(&self) -> Vec<u8> {
        frame(HandshakeType::Certificate, |w| {
            w.vec(1, &self.context);
            w.nested(3, |w| {
                for e in &self.entries {
                    w.vec(3, &e.cert_der);
                    write_extensions(w, &e.extensions);
                }
            });
        })
    }

    /// Decodes the body of a Certificate message.
    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut b = Reader::new(body);
        let context = b.vec(1, 0, 255, "Certificate.certificate_request_context")?.to_vec();
        let list = b.vec(3, 0, MAX_HANDSHAKE_BODY, "Certificate.certificate_list")?;
        b.finish("Certificate")?;
        let mut lr = Reader::new(list);
        let mut entries = Vec::new();
        while lr.remaining() > 0 {
            let cert_der = lr.vec(3, 1, MAX_HANDSHAKE_BODY, "CertificateEntry.cert_data")?.to_vec();
            let extensions = read_extensions(&mut lr, 0, "CertificateEntry.extensions")?;
            entries.push(CertificateEntry { cert_der, extensions });
        }
        Ok(Self { context, entries })
    }
}

/// CertificateVerify (15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateVerify {
    /// TLS 1.3 SignatureScheme.
    pub scheme: u16,
    /// `signature<0..2^16-1>`.
    pub signature: Vec<u8>,
}

impl CertificateVerify {
    /// Framed encoding.
    pub fn encode(&self) -> Vec<u8> {
        frame(HandshakeType::CertificateVerify, |w| {
            w.u16(self.scheme);
            w.vec(2, &self.signature);
        })
    }

    /// Decodes the body.
    pub fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let mut b = Reader::new(body);
        let scheme = b.u16("CertificateVerify.algorithm")?;
        let signature = b.vec(2, 0, 0xffff, "CertificateVerify.signature")?.to_vec();
        b.finish("CertificateVerify")?;
        Ok(Self { scheme, signature })
    }
}

/// Finished (20): `verify_data[Hash.length]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// HMAC output.
    pub verify_data: Vec<u8>,
}

impl Finished {
    /// Framed encoding.
    pub fn encode(&self) -> Vec<u8> {
        frame(HandshakeType::Finished, |w| w.bytes(&self.verify_data))
    }
}

/// An authenticator split into its framed messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthenticatorParts<'a> {
    /// Certificate || CertificateVerify || Finished.
    Full {
        /// Framed Certificate.
        certificate: &'a [u8],
        /// Decoded Certificate.
        certificate_msg: CertificateMsg,
        /// Framed CertificateVerify.
        certificate_verify: &'a [u8],
        /// Decoded CertificateVerify.
        certificate_verify_msg: CertificateVerify,
        /// Finished verify_data.
        finished: &'a [u8],
    },
    /// The empty authenticator (a refusal): Finished only.
    Empty {
        /// Finished verify_data.
        finished: &'a [u8],
    },
}

impl<'a> AuthenticatorParts<'a> {
    /// Splits an authenticator; every message must be present, typed and
    /// framed correctly, with nothing after the Finished.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        const F: &str = "Authenticator";
        let mut r = Reader::new(bytes);
        let (typ, framed, body) = read_framed(&mut r, &[HandshakeType::Certificate, HandshakeType::Finished], F)?;
        if typ == HandshakeType::Finished {
            r.finish(F)?;
            return Ok(Self::Empty { finished: body });
        }
        let certificate_msg = CertificateMsg::decode_body(body)?;
        let (_, cv_framed, cv_body) = read_framed(&mut r, &[HandshakeType::CertificateVerify], F)?;
        let certificate_verify_msg = CertificateVerify::decode_body(cv_body)?;
        let (_, _, fin_body) = read_framed(&mut r, &[HandshakeType::Finished], F)?;
        r.finish(F)?;
        Ok(Self::Full {
            certificate: framed,
            certificate_msg,
            certificate_verify: cv_framed,
            certificate_verify_msg,
            finished: fin_body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_vector_bytes() {
        let req = AuthenticatorRequest {
            msg_type: HandshakeType::ClientCertificateRequest,
            context: (0xa0..=0xbf).collect(),
            extensions: vec![
                Extension::signature_algorithms(&[0x0807]),
                Extension::cmw_attestation_request(EXT_CMW_ATTESTATION_DEFAULT),
            ],
        };
        let enc = req.encode();
        assert_eq!(
            hex::encode(&enc),
            "1100002f20a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf000c000d000400020807ff000000"
        );
        assert_eq!(AuthenticatorRequest::decode(&enc).unwrap(), req);
    }

    #[test]
    fn bad_requests_name_the_field() {
        // wrong type
        let e = AuthenticatorRequest::decode(&[11, 0, 0, 0]).unwrap_err();
        assert_eq!(e.field, "AuthenticatorRequest");
        // extensions block shorter than 2
        let e = AuthenticatorRequest::decode(&[13, 0, 0, 3, 0, 0, 0]).unwrap_err();
        assert_eq!(e.field, "AuthenticatorRequest.extensions");
        // duplicate extension
        let e = AuthenticatorRequest::decode(&[13, 0, 0, 11, 0, 0, 8, 0xff, 0, 0, 0, 0xff, 0, 0, 0]).unwrap_err();
        assert!(matches!(e.problem, Problem::Invalid(_)), "{e}");
        // trailing data
        let mut ok = AuthenticatorRequest {
            msg_type: HandshakeType::CertificateRequest,
            context: vec![],
            extensions: vec![Extension::signature_algorithms(&[0x0403])],
        }
        .encode();
        ok.push(0);
        assert!(matches!(
            AuthenticatorRequest::decode(&ok).unwrap_err().problem,
            Problem::Trailing(1)
        ));
    }

    #[test]
    fn cmw_extension_limits() {
        assert_eq!(Extension::cmw_attestation(0xff00, &[]), Err(0));
        assert!(Extension::cmw_attestation(0xff00, &vec![0; MAX_CMW_IN_EXTENSION]).is_ok());
        assert_eq!(
            Extension::cmw_attestation(0xff00, &vec![0; MAX_CMW_IN_EXTENSION + 1]),
            Err(MAX_CMW_IN_EXTENSION + 1)
        );
        assert_eq!(Extension::cmw_attestation(0xff00, &vec![0; 65534]), Err(65534));
        let e = Extension::parse_cmw_attestation(&[0, 0]).unwrap_err();
        assert_eq!(e.field, "cmw_attestation", "{e:?}");
        assert!(
            matches!(e.problem, Problem::LengthOutOfRange { len: 0, min: 1, .. }),
            "{e:?}"
        );
        let e = Extension::parse_signature_algorithms(&[0, 3, 8, 7, 1]).unwrap_err();
        assert_eq!(e.field, "signature_algorithms", "{e:?}");
        assert!(
            matches!(&e.problem, Problem::Invalid(m) if m == "odd length scheme list"),
            "{e:?}"
        );
    }

    #[test]
    fn request_with_trailing_bytes_inside_its_body_is_refused() {
        let mut enc = AuthenticatorRequest {
            msg_type: HandshakeType::CertificateRequest,
            context: vec![1],
            extensions: vec![Extension::signature_algorithms(&[0x0403])],
        }
        .encode();
        // One more byte inside the framed body (the uint24 length grows with
        // it), after the extensions block.
        enc[3] += 1;
        enc.push(0);
        assert_eq!(
            AuthenticatorRequest::decode(&enc),
            Err(err("AuthenticatorRequest", Problem::Trailing(1)))
        );
    }

    #[test]
    fn cmw_attestation_longer_than_an_extension_can_hold_is_refused() {
        let with_len = |n: usize| {
            let mut d = (n as u16).to_be_bytes().to_vec();
            d.resize(2 + n, 0xa5);
            d
        };
        let max = with_len(MAX_CMW_IN_EXTENSION);
        assert_eq!(
            Extension::parse_cmw_attestation(&max).map(<[u8]>::len),
            Ok(MAX_CMW_IN_EXTENSION)
        );
        assert_eq!(
            Extension::parse_cmw_attestation(&with_len(MAX_CMW_IN_EXTENSION + 1)),
            Err(err(
                "cmw_attestation",
                Problem::LengthOutOfRange {
                    len: MAX_CMW_IN_EXTENSION + 1,
                    min: 1,
                    max: MAX_CMW_IN_EXTENSION
                }
            ))
        );
    }

    #[test]
    fn certificate_entry_with_empty_cert_data_is_refused() {
        // context<0>, certificate_list<5> = { cert_data<0>, extensions<0> }
        let body = [0, 0, 0, 5, 0, 0, 0, 0, 0];
        assert_eq!(
            CertificateMsg::decode_body(&body),
            Err(err(
                "CertificateEntry.cert_data",
                Problem::LengthOutOfRange {
                    len: 0,
                    min: 1,
                    max: MAX_HANDSHAKE_BODY
                }
            ))
        );
    }

    #[test]
    fn empty_authenticator_with_trailing_bytes_is_refused() {
        let mut enc = Finished {
            verify_data: vec![7; 32],
        }
        .encode();
        assert!(matches!(
            AuthenticatorParts::decode(&enc),
            Ok(AuthenticatorParts::Empty { .. })
        ));
        enc.push(0);
        assert_eq!(
            AuthenticatorParts::decode(&enc),
            Err(err("Authenticator", Problem::Trailing(1)))
        );
    }
}
