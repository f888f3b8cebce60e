//! SEV-SNP Evidence forms: the host's certificate table (the configfs-tsm
//! `auxblob`, GHCB extended-report format) and the CBOR envelope that
//! carries a report together with it.

use ciborium::value::Value;

/// Media type of a bare 1184-byte `ATTESTATION_REPORT`.
pub const MEDIA_TYPE_REPORT: &str = "application/vnd.amd.sev-snp.attestation-report";
/// Media type of the CBOR envelope `{"report": bstr, ? "certs": bstr}`.
pub const MEDIA_TYPE_ENVELOPE: &str = "application/vnd.attested-tls.sev-snp+cbor";

/// Certificate table GUIDs (RFC 4122 byte order, as the kernel and the
/// host tools store them).
pub mod guid {
    /// VCEK, `63da758d-e664-4564-adc5-f4b93be8accd`.
    pub const VCEK: [u8; 16] = [
        0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd,
    ];
    /// ASK, `4ab7b379-bbac-4fe4-a02f-05aef327c782`.
    pub const ASK: [u8; 16] = [
        0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82,
    ];
    /// ARK, `c0b406a4-a803-4952-9743-3fb6014cd0ae`.
    pub const ARK: [u8; 16] = [
        0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae,
    ];
    /// VLEK, `a8074bc2-a25a-483e-aae6-39c045a0b8a1`.
    pub const VLEK: [u8; 16] = [
        0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1,
    ];

    /// Formats a GUID as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub fn to_string(g: &[u8; 16]) -> String {
        let h = hex::encode(g);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

/// Size of one table entry: GUID (16) + offset (u32) + length (u32).
pub const ENTRY_LEN: usize = 24;
/// Most entries accepted before the terminator.
pub const MAX_ENTRIES: usize = 64;
/// Largest envelope accepted.
pub const MAX_ENVELOPE_LEN: usize = 256 * 1024;

/// Why a certificate table is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertTableError {
    /// The buffer ends inside an entry, before the terminator.
    #[error("certificate table ends inside entry {0} (no all-zero terminator entry)")]
    MissingTerminator(usize),
    /// More than [`MAX_ENTRIES`] entries.
    #[error("certificate table has more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    /// An entry with a zero GUID but a non-zero offset or length.
    #[error("certificate table entry {0} has a zero GUID but a non-zero offset or length")]
    BadTerminator(usize),
    /// An entry's data does not lie inside the buffer.
    #[error("certificate table entry {index} ({guid}) points to {offset}+{length}, outside the {buf_len}-byte buffer")]
    OutOfRange {
        /// Entry index.
        index: usize,
        /// Entry GUID.
        guid: String,
        /// Offset.
        offset: u32,
        /// Length.
        length: u32,
        /// Buffer size.
        buf_len: usize,
    },
    /// An entry's data overlaps the entry headers.
    #[error("certificate table entry {index} ({guid}) overlaps the table headers")]
    OverlapsHeader {
        /// Entry index.
        index: usize,
        /// Entry GUID.
        guid: String,
    },
    /// Two entries' data overlap.
    #[error("certificate table entries {0} and {1} overlap")]
    Overlap(usize, usize),
    /// An entry of length zero.
    #[error("certificate table entry {0} is empty")]
    Empty(usize),
    /// The same GUID twice.
    #[error("certificate table lists {0} twice")]
    Duplicate(String),
}

/// One entry of a certificate table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertTableEntry<'a> {
    /// The entry's GUID.
    pub guid: [u8; 16],
    /// The certificate bytes (DER for the AMD GUIDs).
    pub data: &'a [u8],
}

/// Parses a certificate table: entries of GUID + u32 offset + u32 length
/// (little endian), terminated by an all-zero entry, followed by the data.
/// Offsets are from the start of the table. Trailing bytes (the kernel pads
/// to a page) are allowed; entries must lie inside the buffer, after the
/// headers, without overlapping each other, and no GUID may appear twice.
pub fn parse_cert_table(buf: &[u8]) -> Result<Vec<CertTableEntry<'_>>, CertTableError> {
    let mut raw = Vec::new();
    let mut index = 0;
    loop {
        let start = index * ENTRY_LEN;
        let Some(e) = buf.get(start..start + ENTRY_LEN) else {
            return Err(CertTableError::MissingTerminator(index));
        };
        let mut g = [0u8; 16];
        g.copy_from_slice(&e[..16]);
        let offset = u32::from_le_bytes(e[16..20].try_into().expect("4 bytes"));
        let length = u32::from_le_bytes(e[20..24].try_into().expect("4 bytes"));
        if g == [0; 16] {
            if offset != 0 || length != 0 {
                return Err(CertTableError::BadTerminator(index));
            }
            break;
        }
        if index == MAX_ENTRIES {
            return Err(CertTableError::TooManyEntries);
        }
        raw.push((g, offset, length));
        index += 1;
    }
    let header_end = (raw.len() + 1) * ENTRY_LEN;
    let mut ranges: Vec<(usize, usize, usize)> = Vec::with_capacity(raw.len());
    let mut out = Vec::with_capacity(raw.len());
    for (i, &(g, offset, length)) in raw.iter().enumerate() {
        if raw[..i].iter().any(|(h, _, _)| *h == g) {
            return Err(CertTableError::Duplicate(guid::to_string(&g)));
        }
        if length == 0 {
            return Err(CertTableError::Empty(i));
        }
        let (s, l) = (offset as usize, length as usize);
        let end = s
            .checked_add(l)
            .filter(|&e| e <= buf.len())
            .ok_or(CertTableError::OutOfRange {
                index: i,
                guid: guid::to_string(&g),
                offset,
                length,
                buf_len: buf.len(),
            })?;
        if s < header_end {
            return Err(CertTableError::OverlapsHeader {
                index: i,
                guid: guid::to_string(&g),
            });
        }
        ranges.push((s, end, i));
        out.push(CertTableEntry {
            guid: g,
            data: &buf[s..end],
        });
    }
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(CertTableError::Overlap(w[0].2.min(w[1].2), w[0].2.max(w[1].2)));
        }
    }
    Ok(out)
}

/// Builds a certificate table (headers, terminator, then the data in
/// order), the inverse of [`parse_cert_table`].
///
/// # Panics
/// If an entry is larger than 4 GiB or there are more than
/// [`MAX_ENTRIES`] entries.
pub fn build_cert_table(entries: &[([u8; 16], &[u8])]) -> Vec<u8> {
    assert!(entries.len() <= MAX_ENTRIES, "too many certificate table entries");
    let header = (entries.len() + 1) * ENTRY_LEN;
    let total = header + entries.iter().map(|(_, d)| d.len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    let mut offset = header;
    for (g, d) in entries {
        out.extend_from_slice(g);
        out.extend_from_slice(&u32::try_from(offset).expect("table under 4 GiB").to_le_bytes());
        out.extend_from_slice(&u32::try_from(d.len()).expect("entry under 4 GiB").to_le_bytes());
        offset += d.len();
    }
    out.extend_from_slice(&[0u8; ENTRY_LEN]);
    for (_, d) in entries {
        out.extend_from_slice(d);
    }
    out
}

/// The certificates of a table, by role. Unknown GUIDs (CRLs, vendor
/// data) are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvidenceCerts<'a> {
    /// VCEK (DER).
    pub vcek: Option<&'a [u8]>,
    /// VLEK (DER).
    pub vlek: Option<&'a [u8]>,
    /// ASK, or the ASVK for VLEK-signed reports (DER).
    pub ask: Option<&'a [u8]>,
    /// ARK (DER). Never a trust anchor: roots are the built-in AMD ARKs
    /// and the policy's `trusted_arks`.
    pub ark: Option<&'a [u8]>,
}

impl<'a> EvidenceCerts<'a> {
    /// Sorts table entries by role.
    pub fn from_table(entries: &[CertTableEntry<'a>]) -> Self {
        let mut c = Self::default();
        for e in entries {
            match e.guid {
                guid::VCEK => c.vcek = Some(e.data),
                guid::VLEK => c.vlek = Some(e.data),
                guid::ASK => c.ask = Some(e.data),
                guid::ARK => c.ark = Some(e.data),
                _ => {}
            }
        }
        c
    }
}

/// Why an envelope is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Larger than [`MAX_ENVELOPE_LEN`].
    #[error("SEV-SNP envelope is {0} bytes, more than the {MAX_ENVELOPE_LEN}-byte limit")]
    TooLarge(usize),
    /// Not CBOR.
    #[error("SEV-SNP envelope is not CBOR: {0}")]
    Cbor(String),
    /// Not the expected map.
    #[error("SEV-SNP envelope is invalid: {0}")]
    Invalid(String),
}

/// A decoded envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The report bytes.
    pub report: Vec<u8>,
    /// The certificate table, if the host supplied one (empty is absent).
    pub certs: Option<Vec<u8>>,
}

/// Encodes the envelope `{"report": report, ? "certs": certs}` (an empty
/// `certs` is left out).
pub fn encode_envelope(report: &[u8], certs: Option<&[u8]>) -> Vec<u8> {
    let mut map = vec![(Value::Text("report".into()), Value::Bytes(report.to_vec()))];
    if let Some(c) = certs.filter(|c| !c.is_empty()) {
        map.push((Value::Text("certs".into()), Value::Bytes(c.to_vec())));
    }
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Map(map), &mut out).expect("CBOR encoding into a Vec cannot fail");
    out
}

/// Decodes an envelope. Unknown keys, duplicate keys and wrong types are
/// refused.
pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    if bytes.len() > MAX_ENVELOPE_LEN {
        return Err(EnvelopeError::TooLarge(bytes.len()));
    }
    let mut reader = bytes;
    let v: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, 4)
        .map_err(|e| EnvelopeError::Cbor(e.to_string()))?;
    if !reader.is_empty() {
        return Err(EnvelopeError::Cbor(format!("{} trailing bytes", reader.len())));
    }
    let Value::Map(entries) = v else {
        return Err(EnvelopeError::Invalid("is not a map".into()));
    };
    let (mut report, mut certs) = (None, None);
    for (k, v) in entries {
        let key = match k {
            Value::Text(t) => t,
            _ => return Err(EnvelopeError::Invalid("has a non-text key".into())),
        };
        let slot = match key.as_str() {
            "report" => &mut report,
            "certs" => &mut certs,
            other => return Err(EnvelopeError::Invalid(format!("has unknown key {other:?}"))),
        };
        if slot.is_some() {
            return Err(EnvelopeError::Invalid(format!("has key {key:?} twice")));
        }
        match v {
            Value::Bytes(b) => *slot = Some(b),
            _ => return Err(EnvelopeError::Invalid(format!("{key:?} is not a byte string"))),
        }
    }
    Ok(Envelope {
        report: report.ok_or_else(|| EnvelopeError::Invalid("has no \"report\"".into()))?,
        certs: certs.filter(|c| !c.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_strings_match_the_spec() {
        assert_eq!(guid::to_string(&guid::VCEK), "63da758d-e664-4564-adc5-f4b93be8accd");
        assert_eq!(guid::to_string(&guid::ASK), "4ab7b379-bbac-4fe4-a02f-05aef327c782");
        assert_eq!(guid::to_string(&guid::ARK), "c0b406a4-a803-4952-9743-3fb6014cd0ae");
        assert_eq!(guid::to_string(&guid::VLEK), "a8074bc2-a25a-483e-aae6-39c045a0b8a1");
    }

    #[test]
    fn envelope_round_trip_and_strictness() {
        let e = encode_envelope(&[1, 2, 3], Some(&[4]));
        assert_eq!(
            decode_envelope(&e).unwrap(),
            Envelope {
                report: vec![1, 2, 3],
                certs: Some(vec![4])
            }
        );
        assert_eq!(decode_envelope(&encode_envelope(&[1], Some(&[]))).unwrap().certs, None);
        let mut extra = Vec::new();
        ciborium::into_writer(
            &Value::Map(vec![
                (Value::Text("report".into()), Value::Bytes(vec![1])),
                (Value::Text("x".into()), Value::Bytes(vec![1])),
            ]),
            &mut extra,
        )
        .unwrap();
        assert!(matches!(decode_envelope(&extra), Err(EnvelopeError::Invalid(_))));
        assert!(matches!(decode_envelope(&[0xa0]), Err(EnvelopeError::Invalid(_))));
        assert!(matches!(decode_envelope(&[0xff]), Err(EnvelopeError::Cbor(_))));
    }

    #[test]
    fn envelope_with_the_report_key_twice_is_refused_not_last_one_wins() {
        let mut twice = Vec::new();
        ciborium::into_writer(
            &Value::Map(vec![
                (Value::Text("report".into()), Value::Bytes(vec![1])),
                (Value::Text("report".into()), Value::Bytes(vec![2])),
            ]),
            &mut twice,
        )
        .unwrap();
        assert_eq!(
            decode_envelope(&twice),
            Err(EnvelopeError::Invalid("has key \"report\" twice".into()))
        );
    }

    #[test]
    fn envelope_with_trailing_bytes_is_refused() {
        let mut e = encode_envelope(&[1, 2, 3], None);
        e.push(0);
        assert_eq!(decode_envelope(&e), Err(EnvelopeError::Cbor("1 trailing bytes".into())));
    }

    #[test]
    fn envelope_over_the_size_limit_is_refused_before_decoding() {
        let e = encode_envelope(&vec![0u8; MAX_ENVELOPE_LEN], None);
        assert!(e.len() > MAX_ENVELOPE_LEN);
        assert_eq!(decode_envelope(&e), Err(EnvelopeError::TooLarge(e.len())));
        let fits = encode_envelope(&vec![0u8; MAX_ENVELOPE_LEN - 16], None);
        assert!(decode_envelope(&fits).is_ok());
    }
}
