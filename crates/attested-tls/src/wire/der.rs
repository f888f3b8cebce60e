//! Minimal DER walking for the hot path: pulling the SubjectPublicKeyInfo
//! out of a certificate and the key bits out of an SPKI without a full
//! X.509 parse. Bounds-checked; anything unusual is an error, and callers
//! that need more than these fields use `x509-parser`.

/// A DER structure that could not be walked: which structure, and what is
/// wrong with it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("malformed DER in {what}: {problem}")]
pub struct DerError {
    /// The structure or field being read (`signed structure`,
    /// `TBSCertificate.subject`, ...).
    pub what: &'static str,
    /// What is wrong (`truncated`, `non-minimal length`, `unexpected tag`, ...).
    pub problem: &'static str,
}

impl DerError {
    const fn new(what: &'static str, problem: &'static str) -> Self {
        Self { what, problem }
    }
}

/// One DER TLV and what follows it.
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The whole TLV (header and content).
    pub whole: &'a [u8],
    /// The content.
    pub content: &'a [u8],
    /// The bytes after the TLV.
    pub rest: &'a [u8],
}

/// Splits one TLV off the front of `buf`.
pub fn read_tlv<'a>(buf: &'a [u8], what: &'static str) -> Result<Tlv<'a>, DerError> {
    let e = |problem| move || DerError::new(what, problem);
    let tag = *buf.first().ok_or_else(e("missing (no bytes left)"))?;
    if tag & 0x1f == 0x1f {
        // High tag numbers never occur in the structures walked here.
        return Err(e("high-tag-number form")());
    }
    let first = *buf.get(1).ok_or_else(e("truncated before its length"))?;
    let (len, hdr) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(e("unsupported length form (indefinite, or more than 4 length bytes)")());
        }
        let bytes = buf.get(2..2 + n).ok_or_else(e("truncated inside its length"))?;
        if bytes[0] == 0 {
            return Err(e("non-minimal length (leading zero byte)")());
        }
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        if len < 0x80 {
            return Err(e("non-minimal length (long form for a short length)")());
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len).ok_or_else(e("length overflows"))?;
    let whole = buf.get(..end).ok_or_else(e("truncated (shorter than its length)"))?;
    Ok(Tlv {
        tag,
        whole,
        content: &whole[hdr..],
        rest: &buf[end..],
    })
}

/// Reads a TLV that must have `tag`; the error names `what` either way.
fn read_tagged<'a>(buf: &'a [u8], tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
    let tlv = read_tlv(buf, what)?;
    if tlv.tag != tag {
        return Err(DerError::new(what, "unexpected tag"));
    }
    Ok(tlv)
}

/// `read_tagged`, and nothing may follow the TLV.
fn read_last<'a>(buf: &'a [u8], tag: u8, what: &'static str) -> Result<Tlv<'a>, DerError> {
    let tlv = read_tagged(buf, tag, what)?;
    if !tlv.rest.is_empty() {
        return Err(DerError::new(what, "followed by trailing bytes"));
    }
    Ok(tlv)
}

/// The parts of a signed X.509 structure (certificate or CRL).
struct Signed<'a> {
    /// The fields of the to-be-signed part, after its version.
    tbs_fields: &'a [u8],
    /// The outer signatureAlgorithm (not covered by the signature).
    outer_alg: Tlv<'a>,
}

/// Splits `SEQUENCE { tbs SEQUENCE, signatureAlgorithm, signature }` and
/// skips the tbs version: `[0]` for certificates, an optional INTEGER for CRLs.
fn signed(der: &[u8], crl: bool) -> Result<Signed<'_>, DerError> {
    let outer = read_last(der, 0x30, "signed structure")?;
    let tbs = read_tagged(outer.content, 0x30, "tbs")?;
    let outer_alg = read_tagged(tbs.rest, 0x30, "signatureAlgorithm")?;
    // Exactly a BIT STRING after it: anything else is not a certificate or
    // CRL, whatever a lenient walk could still extract from it.
    read_last(outer_alg.rest, 0x03, "signatureValue")?;
    let version = read_tlv(tbs.content, "tbs.version")?;
    let versioned = if crl { version.tag == 0x02 } else { version.tag == 0xa0 };
    let tbs_fields = if versioned { version.rest } else { tbs.content };
    Ok(Signed { tbs_fields, outer_alg })
}

/// The DER SubjectPublicKeyInfo of an X.509 certificate.
pub fn certificate_spki(cert: &[u8]) -> Result<&[u8], DerError> {
    let mut cur = signed(cert, false)?.tbs_fields;
    for (what, expect) in [
        ("TBSCertificate.serialNumber", 0x02),
        ("TBSCertificate.signature", 0x30),
        ("TBSCertificate.issuer", 0x30),
        ("TBSCertificate.validity", 0x30),
        ("TBSCertificate.subject", 0x30),
    ] {
        cur = read_tagged(cur, expect, what)?.rest;
    }
    Ok(read_tagged(cur, 0x30, "TBSCertificate.subjectPublicKeyInfo")?.whole)
}

/// Whether the outer `signatureAlgorithm` of a certificate (or, with
/// `crl`, of a CRL) is byte-identical to the `signature` field inside the
/// signed part, as RFC 5280 §4.1.1.2 / §5.1.1.2 require. The outer one is
/// not covered by the signature, so a parser that reads the algorithm from
/// there must not accept a mismatch.
pub fn signature_algorithms_agree(der: &[u8], crl: bool) -> Result<bool, DerError> {
    let Signed {
        mut tbs_fields,
        outer_alg,
    } = signed(der, crl)?;
    if !crl {
        tbs_fields = read_tagged(tbs_fields, 0x02, "tbs.serialNumber")?.rest;
    }
    let inner_alg = read_tlv(tbs_fields, "tbs.signature")?;
    Ok(inner_alg.tag == 0x30 && inner_alg.whole == outer_alg.whole)
}

/// Splits an SPKI into its AlgorithmIdentifier (whole TLV) and the key bits
/// (the BIT STRING content without its unused-bits byte, which must be 0).
pub fn spki_parts(spki: &[u8]) -> Result<(&[u8], &[u8]), DerError> {
    let spki = read_last(spki, 0x30, "SubjectPublicKeyInfo")?;
    let alg = read_tagged(spki.content, 0x30, "SubjectPublicKeyInfo.algorithm")?;
    const KEY: &str = "SubjectPublicKeyInfo.subjectPublicKey";
    let bits = read_last(alg.rest, 0x03, KEY)?;
    if bits.content.first() != Some(&0) {
        return Err(DerError::new(KEY, "BIT STRING with unused bits"));
    }
    Ok((alg.whole, &bits.content[1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_matches_x509_parser() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let kp = rcgen::KeyPair::generate_for(alg).unwrap();
            let cert = rcgen::CertificateParams::new(vec!["a".into()])
                .unwrap()
                .self_signed(&kp)
                .unwrap();
            let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
            assert_eq!(
                certificate_spki(cert.der()).unwrap(),
                parsed.tbs_certificate.subject_pki.raw
            );
            let (_, bits) = spki_parts(parsed.tbs_certificate.subject_pki.raw).unwrap();
            assert_eq!(bits, &parsed.tbs_certificate.subject_pki.subject_public_key.data[..]);
        }
    }

    #[test]
    fn outer_and_inner_signature_algorithms_are_compared() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a".into()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        let der = cert.der().to_vec();
        assert!(signature_algorithms_agree(&der, false).unwrap());
        // Change the outer AlgorithmIdentifier's OID tag (0x06 -> 0x05): outside the signature.
        let tbs_len = read_tlv(read_tlv(&der, "c").unwrap().content, "t").unwrap().whole.len();
        let hdr = der.len() - read_tlv(&der, "c").unwrap().content.len();
        let mut bad = der.clone();
        let oid_tag_at = hdr + tbs_len + 2;
        assert_eq!(bad[oid_tag_at], 0x06);
        bad[oid_tag_at] = 0x05;
        assert!(!signature_algorithms_agree(&bad, false).unwrap());
    }

    #[test]
    fn truncations_and_garbage_are_errors() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a".into()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        let der = cert.der().to_vec();
        for n in 0..der.len() {
            let e = certificate_spki(&der[..n]).unwrap_err();
            assert_eq!(e.what, "signed structure", "truncated at {n}");
            assert!(
                e.problem.contains("truncated") || e.problem.contains("missing"),
                "{n}: {e}"
            );
        }
        assert_eq!(
            certificate_spki(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            Err(DerError::new("signed structure", "truncated (shorter than its length)"))
        );
        // The five content bytes are there: only the length form is wrong.
        assert_eq!(
            certificate_spki(&[0x30, 0x81, 0x05, 0x02, 0x01, 0x00, 0x05, 0x00]),
            Err(DerError::new(
                "signed structure",
                "non-minimal length (long form for a short length)"
            )),
        );
        assert!(read_tlv(&[0x30, 0x05, 0x02, 0x01, 0x00, 0x05, 0x00], "t").is_ok());
    }

    #[test]
    fn high_tag_numbers_and_non_minimal_lengths_are_refused() {
        // Low tag number, short length: the baseline.
        assert!(read_tlv(&[0x04, 0x01, 0xaa], "t").is_ok());
        // High-tag-number form (tag bits 0x1f).
        assert_eq!(
            read_tlv(&[0x1f, 0x01, 0xaa], "t").unwrap_err().problem,
            "high-tag-number form"
        );
        // Long form for a length that fits the short form.
        assert_eq!(
            read_tlv(&[0x04, 0x81, 0x01, 0xaa], "t").unwrap_err().problem,
            "non-minimal length (long form for a short length)"
        );
        // Long form with a leading zero length byte (0x0081 for 129).
        let mut padded = vec![0x04, 0x82, 0x00, 0x81];
        padded.resize(4 + 0x81, 0xaa);
        assert_eq!(
            read_tlv(&padded, "t").unwrap_err().problem,
            "non-minimal length (leading zero byte)"
        );
        // The minimal long form of the same length is fine.
        let mut minimal = vec![0x04, 0x81, 0x81];
        minimal.resize(3 + 0x81, 0xaa);
        assert_eq!(read_tlv(&minimal, "t").unwrap().content.len(), 0x81);
    }

    #[test]
    fn subject_public_key_with_unused_bits_is_refused() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a".into()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        let mut spki = certificate_spki(cert.der()).unwrap().to_vec();
        assert!(spki_parts(&spki).is_ok());
        // The BIT STRING is last: its unused-bits byte sits 65 bytes (the
        // uncompressed P-256 point) before the end.
        let at = spki.len() - 66;
        assert_eq!(spki[at], 0);
        spki[at] = 1;
        assert_eq!(
            spki_parts(&spki).unwrap_err(),
            DerError::new("SubjectPublicKeyInfo.subjectPublicKey", "BIT STRING with unused bits")
        );
    }

    #[test]
    fn only_tbs_algorithm_and_bit_string_make_a_signed_structure() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["a".into()])
            .unwrap()
            .self_signed(&kp)
            .unwrap();
        let der = cert.der().to_vec();
        let outer = read_tlv(&der, "t").unwrap();
        let tbs = read_tlv(outer.content, "t").unwrap();
        let alg = read_tlv(tbs.rest, "t").unwrap();
        let tbs_and_alg = &outer.content[..outer.content.len() - alg.rest.len()];
        // Re-wraps `content` in an outer SEQUENCE (short or two-byte length).
        let wrap = |content: &[u8]| {
            let mut v = vec![0x30, 0x82, (content.len() >> 8) as u8, content.len() as u8];
            v.extend_from_slice(content);
            v
        };
        assert!(certificate_spki(&wrap(outer.content)).is_ok(), "the real structure");
        // No signature, a signature that is not a BIT STRING, or junk after it.
        assert_eq!(
            certificate_spki(&wrap(tbs_and_alg)),
            Err(DerError::new("signatureValue", "missing (no bytes left)"))
        );
        let mut octets = tbs_and_alg.to_vec();
        octets.extend_from_slice(&[0x04, 0x01, 0x00]);
        assert_eq!(
            certificate_spki(&wrap(&octets)),
            Err(DerError::new("signatureValue", "unexpected tag"))
        );
        let mut junk = outer.content.to_vec();
        junk.extend_from_slice(&[0x05, 0x00]);
        assert_eq!(
            certificate_spki(&wrap(&junk)),
            Err(DerError::new("signatureValue", "followed by trailing bytes"))
        );
    }
}
