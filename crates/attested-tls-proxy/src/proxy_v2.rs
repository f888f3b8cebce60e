//! HAProxy PROXY protocol version 2 (the binary header), with the peer's
//! attestation in TLVs of the custom range (0xE0-0xEF). Bytes in
//! `docs/proxy.md`.

use std::net::{IpAddr, SocketAddr};

/// The 12-byte signature every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];

/// Version 2, command PROXY.
const VERSION_COMMAND_PROXY: u8 = 0x21;
/// TCP over IPv4.
const FAMILY_TCP4: u8 = 0x11;
/// TCP over IPv6.
const FAMILY_TCP6: u8 = 0x21;

/// TLV type of the attestation summary: `0x01 || JSON` (see
/// [`crate::PeerSummary::to_json`]).
pub const TLV_ATLS_SUMMARY: u8 = 0xE0;
/// TLV type of the full EAR JSON (only when the peer attested, and only if
/// it fits).
pub const TLV_ATLS_EAR: u8 = 0xE1;
/// Version byte that starts the summary TLV's value.
pub const SUMMARY_VERSION: u8 = 0x01;

/// Largest header: the 16 fixed bytes and a 16-bit length.
pub const MAX_HEADER_LEN: usize = 16 + u16::MAX as usize;

/// Errors of the PROXY v2 encoder and decoder.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyV2Error {
    /// The header would not fit the 16-bit length.
    #[error("PROXY v2 header too long: {0} bytes after the fixed 16 (at most 65535)")]
    TooLong(usize),
    /// A TLV value over 65535 bytes.
    #[error("PROXY v2 TLV 0x{kind:02x} value is {len} bytes (at most 65535)")]
    TlvTooLong {
        /// The TLV type.
        kind: u8,
        /// Its length.
        len: usize,
    },
    /// The input is shorter than what it announces.
    #[error("PROXY v2 header truncated: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes there.
        have: usize,
    },
    /// Not a version 2 header.
    #[error("not a PROXY v2 header: {0}")]
    Invalid(&'static str),
}

/// A decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// The TLS peer's address.
    pub source: SocketAddr,
    /// The address the TLS peer connected to.
    pub destination: SocketAddr,
    /// The TLVs, in order.
    pub tlvs: Vec<(u8, Vec<u8>)>,
}

impl ProxyHeader {
    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.as_slice())
    }
}

/// IPv4 stays IPv4 when both ends are; otherwise both are written as IPv6
/// (IPv4-mapped), since a header has one family.
fn both_v6(a: SocketAddr) -> [u8; 16] {
    match a.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Encodes a PROXY v2 header (command PROXY, TCP) for a connection from
/// `source` to `destination`, with `tlvs` in order.
pub fn encode(source: SocketAddr, destination: SocketAddr, tlvs: &[(u8, &[u8])]) -> Result<Vec<u8>, ProxyV2Error> {
    let mut body = Vec::new();
    let family = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            body.extend_from_slice(&s.octets());
            body.extend_from_slice(&d.octets());
            FAMILY_TCP4
        }
        _ => {
            body.extend_from_slice(&both_v6(source));
            body.extend_from_slice(&both_v6(destination));
            FAMILY_TCP6
        }
    };
    body.extend_from_slice(&source.port().to_be_bytes());
    body.extend_from_slice(&destination.port().to_be_bytes());
    for (kind, value) in tlvs {
        let len = u16::try_from(value.len()).map_err(|_| ProxyV2Error::TlvTooLong {
            kind: *kind,
            len: value.len(),
        })?;
        body.push(*kind);
        body.extend_from_slice(&len.to_be_bytes());
        body.extend_from_slice(value);
    }
    let len = u16::try_from(body.len()).map_err(|_| ProxyV2Error::TooLong(body.len()))?;
    let mut out = Vec::with_capacity(16 + body.len());
    out.extend_from_slice(&SIGNATURE);
    out.push(VERSION_COMMAND_PROXY);
    out.push(family);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a PROXY v2 header (command PROXY, TCP over IPv4 or IPv6) at the
/// start of `input`; returns it and its length in bytes. Every length is
/// checked against the input before it is used.
pub fn decode(input: &[u8]) -> Result<(ProxyHeader, usize), ProxyV2Error> {
    let need = |n: usize| {
        if input.len() < n {
            Err(ProxyV2Error::Truncated {
                need: n,
                have: input.len(),
            })
        } else {
            Ok(())
        }
    };
    need(16)?;
    if input[..12] != SIGNATURE {
        return Err(ProxyV2Error::Invalid("bad signature"));
    }
    if input[12] != VERSION_COMMAND_PROXY {
        return Err(ProxyV2Error::Invalid("not version 2 command PROXY"));
    }
    let len = usize::from(u16::from_be_bytes([input[14], input[15]]));
    need(16 + len)?;
    let body = &input[16..16 + len];
    let (addrs, rest) = match input[13] {
        FAMILY_TCP4 => {
            if body.len() < 12 {
                return Err(ProxyV2Error::Invalid("IPv4 addresses cut short"));
            }
            let ip = |b: &[u8]| IpAddr::from([b[0], b[1], b[2], b[3]]);
            let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
            (
                (
                    SocketAddr::new(ip(&body[0..4]), port(&body[8..10])),
                    SocketAddr::new(ip(&body[4..8]), port(&body[10..12])),
                ),
                &body[12..],
            )
        }
        FAMILY_TCP6 => {
            if body.len() < 36 {
                return Err(ProxyV2Error::Invalid("IPv6 addresses cut short"));
            }
            let ip = |b: &[u8]| {
                let mut o = [0u8; 16];
                o.copy_from_slice(b);
                IpAddr::from(o)
            };
            let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
            (
                (
                    SocketAddr::new(ip(&body[0..16]), port(&body[32..34])),
                    SocketAddr::new(ip(&body[16..32]), port(&body[34..36])),
                ),
                &body[36..],
            )
        }
        _ => return Err(ProxyV2Error::Invalid("not TCP over IPv4 or IPv6")),
    };
    let mut tlvs = Vec::new();
    let mut r = rest;
    while !r.is_empty() {
        if r.len() < 3 {
            return Err(ProxyV2Error::Invalid("TLV header cut short"));
        }
        let l = usize::from(u16::from_be_bytes([r[1], r[2]]));
        if r.len() < 3 + l {
            return Err(ProxyV2Error::Invalid("TLV value longer than the header"));
        }
        tlvs.push((r[0], r[3..3 + l].to_vec()));
        r = &r[3 + l..];
    }
    Ok((
        ProxyHeader {
            source: addrs.0,
            destination: addrs.1,
            tlvs,
        },
        16 + len,
    ))
}

/// The header the server side sends its backend: the TLS peer's addresses,
/// the summary TLV, and the EAR TLV if the peer attested and the header
/// still fits.
pub fn header_for(
    source: SocketAddr,
    destination: SocketAddr,
    summary: &crate::PeerSummary,
) -> Result<Vec<u8>, ProxyV2Error> {
    let mut value = vec![SUMMARY_VERSION];
    value.extend_from_slice(summary.to_json().as_bytes());
    if !summary.ear_json.is_empty() {
        if let Ok(h) = encode(
            source,
            destination,
            &[(TLV_ATLS_SUMMARY, &value), (TLV_ATLS_EAR, summary.ear_json.as_bytes())],
        ) {
            return Ok(h);
        }
    }
    encode(source, destination, &[(TLV_ATLS_SUMMARY, &value)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_header_bytes_are_exact() {
        let h = encode(a("192.0.2.1:5000"), a("198.51.100.2:443"), &[(0xE0, b"\x01{}")]).unwrap();
        let expected = hex::decode(concat!(
            "0d0a0d0a000d0a515549540a", // signature
            "21",                       // v2, PROXY
            "11",                       // TCP over IPv4
            "0012",                     // 18 bytes follow
            "c0000201",
            "c6336402", // addresses
            "1388",
            "01bb", // ports
            "e0",
            "0003",
            "017b7d" // TLV
        ))
        .unwrap();
        assert_eq!(h, expected);
        let (d, n) = decode(&h).unwrap();
        assert_eq!(n, h.len());
        assert_eq!(d.source, a("192.0.2.1:5000"));
        assert_eq!(d.destination, a("198.51.100.2:443"));
        assert_eq!(d.tlv(0xE0), Some(&b"\x01{}"[..]));
    }

    #[test]
    fn mixed_families_are_written_as_ipv6() {
        let h = encode(a("[2001:db8::1]:1"), a("127.0.0.1:2"), &[]).unwrap();
        assert_eq!(h[13], FAMILY_TCP6);
        assert_eq!(u16::from_be_bytes([h[14], h[15]]), 36);
        let (d, _) = decode(&h).unwrap();
        assert_eq!(d.source, a("[2001:db8::1]:1"));
        assert_eq!(d.destination, a("[::ffff:127.0.0.1]:2"));
    }

    #[test]
    fn encoder_refuses_what_does_not_fit_the_lengths() {
        let big = vec![0u8; 65536];
        assert_eq!(
            encode(a("127.0.0.1:1"), a("127.0.0.1:2"), &[(0xE1, &big)]),
            Err(ProxyV2Error::TlvTooLong { kind: 0xE1, len: 65536 })
        );
        let v = vec![0u8; 40000];
        assert_eq!(
            encode(a("127.0.0.1:1"), a("127.0.0.1:2"), &[(0xE0, &v), (0xE1, &v)]),
            Err(ProxyV2Error::TooLong(12 + 2 * 40003))
        );
        // The largest that fits: 12 address bytes + 3 TLV header bytes.
        let v = vec![0u8; 65535 - 15];
        let h = encode(a("127.0.0.1:1"), a("127.0.0.1:2"), &[(0xE0, &v)]).unwrap();
        assert_eq!(h.len(), MAX_HEADER_LEN);
    }

    #[test]
    fn decoder_checks_every_length_before_use() {
        let h = encode(a("127.0.0.1:1"), a("127.0.0.1:2"), &[(0xE0, b"abc")]).unwrap();
        for cut in 0..h.len() {
            assert!(decode(&h[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode(&h[..10]), Err(ProxyV2Error::Truncated { need: 16, have: 10 }));
        // A TLV that announces more than the header holds.
        let mut bad = h.clone();
        let tlv_len_at = 16 + 12 + 1;
        bad[tlv_len_at..tlv_len_at + 2].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(
            decode(&bad),
            Err(ProxyV2Error::Invalid("TLV value longer than the header"))
        );
        // An address block shorter than its family needs.
        let mut short = SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]);
        assert_eq!(decode(&short), Err(ProxyV2Error::Invalid("IPv4 addresses cut short")));
        let mut sig = h.clone();
        sig[0] = 0;
        assert_eq!(decode(&sig), Err(ProxyV2Error::Invalid("bad signature")));
    }

    /// The worked example of docs/proxy.md, byte for byte.
    #[test]
    fn the_documented_example_is_what_is_encoded() {
        let s = crate::PeerSummary {
            status: "affirming".into(),
            mode: "expat".into(),
            measurement: "ab12".into(),
            verifier: "attested-tls/attested-tls 0.1.0".into(),
            policies: vec!["sim-default".into()],
            ear_b64: String::new(),
            ear_json: String::new(),
        };
        let h = header_for(a("127.0.0.1:50000"), a("127.0.0.1:8443"), &s).unwrap();
        assert_eq!(
            hex::encode(h),
            "0d0a0d0a000d0a515549540a211100927f0000017f000001c35020fbe00083017b22737461747573223a2261666669726d696e\
             67222c226d6f6465223a226578706174222c226d6561737572656d656e74223a2261623132222c227665726966696572223a2261\
             747465737465642d746c732f61747465737465642d746c7320302e312e30222c22706f6c6963696573223a5b2273696d2d646566\
             61756c74225d7d"
        );
    }

    #[test]
    fn the_ear_tlv_is_left_out_when_it_would_not_fit() {
        let mut s = crate::PeerSummary::not_required();
        s.status = "affirming".into();
        s.ear_json = "x".repeat(70000);
        let h = header_for(a("127.0.0.1:1"), a("127.0.0.1:2"), &s).unwrap();
        let (d, _) = decode(&h).unwrap();
        assert!(d.tlv(TLV_ATLS_EAR).is_none());
        assert_eq!(d.tlv(TLV_ATLS_SUMMARY).unwrap()[0], SUMMARY_VERSION);
        s.ear_json = "{\"ear_status\":\"affirming\"}".into();
        let h = header_for(a("127.0.0.1:1"), a("127.0.0.1:2"), &s).unwrap();
        let (d, _) = decode(&h).unwrap();
        assert_eq!(d.tlv(TLV_ATLS_EAR), Some(s.ear_json.as_bytes()));
    }
}
