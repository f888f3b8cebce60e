//! TCG DICE tagged evidence, the CCC interoperable RA-TLS format
//! (`CCC-Attestation/interoperable-ra-tls`, docs/Interoperable-RA-TLS-*.md).
//!
//! Extension OID 2.23.133.5.4.9 (DER `06 06 67 81 05 05 04 09`), value =
//! CBOR tag 60000 around `[bstr quote, bstr claims-buffer]`; the
//! claims-buffer is a CBOR map with text keys: `"pubkey-hash"` → bstr
//! holding `[hash-alg-id, bstr H(SPKI DER)]` (IANA named-information ids
//! 1 = SHA-256, 7 = SHA-384, 8 = SHA-512), optional `"nonce"`, and any other
//! key, which is ignored.
//!
//! Binding (computed on Gramine's and rats-tls' certificates, SGX):
//! `report_data = SHA-256(claims-buffer as carried) || 0^32` and
//! `pubkey-hash = H(SPKI DER)`. For a TDX quote in this extension the
//! report_data rule is not known here: the binding is then "not checked".

use ciborium::Value;

use super::quote;
use super::{
    report_data_is, sha256, Binding, BindingOutcome, CertFormat, Container, PeerError, PeerFormat, PeerReport,
    ReadOptions,
};

/// OID 2.23.133.5.4.9, content bytes.
pub const OID_CONTENT: &[u8] = &[0x67, 0x81, 0x05, 0x05, 0x04, 0x09];
/// CBOR tag of tagged SGX/TDX evidence.
pub const CBOR_TAG: u64 = 60000;

/// The binding formula.
pub const FORMULA: &str = "report_data = SHA-256(claims-buffer) || 0^32, and claims-buffer \
     \"pubkey-hash\" = H(SubjectPublicKeyInfo DER)";

/// Reader of TCG DICE tagged evidence.
pub struct TcgDice;

/// The parts of the extension value.
pub struct Tagged {
    /// The quote.
    pub quote: Vec<u8>,
    /// The claims-buffer, as carried.
    pub claims_buffer: Vec<u8>,
    /// `pubkey-hash`: (IANA hash id, hash).
    pub pubkey_hash: (i128, Vec<u8>),
    /// `nonce`, if present.
    pub nonce: Option<Vec<u8>>,
}

fn bad(what: &'static str, reason: impl std::fmt::Display) -> PeerError {
    PeerError::malformed(PeerFormat::TcgDice, what, reason)
}

/// Decodes the extension value.
pub fn decode(value: &[u8]) -> Result<Tagged, PeerError> {
    let v: Value = ciborium::from_reader(value).map_err(|e| bad("tagged evidence", format!("not CBOR: {e}")))?;
    let Value::Tag(CBOR_TAG, inner) = v else {
        return Err(bad("tagged evidence", format!("not CBOR tag {CBOR_TAG}")));
    };
    let Value::Array(items) = *inner else {
        return Err(bad("tagged evidence", "tag content is not an array"));
    };
    let [Value::Bytes(quote), Value::Bytes(claims_buffer)] = <[Value; 2]>::try_from(items)
        .map_err(|i| bad("tagged evidence", format!("array of {} items, expected 2", i.len())))?
    else {
        return Err(bad("tagged evidence", "expected [bstr quote, bstr claims-buffer]"));
    };
    let claims: Value =
        ciborium::from_reader(&claims_buffer[..]).map_err(|e| bad("claims-buffer", format!("not CBOR: {e}")))?;
    let Value::Map(entries) = claims else {
        return Err(bad("claims-buffer", "not a CBOR map"));
    };
    let text_key = |k: &Value, name: &str| matches!(k, Value::Text(t) if t == name);
    let mut pubkey_hash = None;
    let mut nonce = None;
    for (k, v) in &entries {
        if text_key(k, "pubkey-hash") {
            let Value::Bytes(b) = v else {
                return Err(bad("pubkey-hash", "not a byte string"));
            };
            let inner: Value =
                ciborium::from_reader(&b[..]).map_err(|e| bad("pubkey-hash", format!("not CBOR: {e}")))?;
            let Value::Array(a) = inner else {
                return Err(bad("pubkey-hash", "not [hash-alg-id, hash]"));
            };
            match a.as_slice() {
                [Value::Integer(alg), Value::Bytes(h)] => pubkey_hash = Some((i128::from(*alg), h.clone())),
                _ => return Err(bad("pubkey-hash", "not [hash-alg-id, hash]")),
            }
        } else if text_key(k, "nonce") {
            match v {
                Value::Bytes(n) => nonce = Some(n.clone()),
                _ => return Err(bad("nonce", "not a byte string")),
            }
        }
    }
    let pubkey_hash = pubkey_hash.ok_or_else(|| bad("claims-buffer", "no \"pubkey-hash\" claim"))?;
    Ok(Tagged {
        quote,
        claims_buffer,
        pubkey_hash,
        nonce,
    })
}

/// `H(data)` for an IANA named-information hash id (1, 7, 8).
fn named_hash(alg: i128, data: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::digest;
    let a = match alg {
        1 => &digest::SHA256,
        7 => &digest::SHA384,
        8 => &digest::SHA512,
        _ => return None,
    };
    Some(digest::digest(a, data).as_ref().to_vec())
}

/// The binding of tagged evidence `t` for the key `spki`, given the
/// quote's report_data (`tdx`: the quote is a TDX quote, whose rule is not
/// known here).
pub fn binding(spki: &[u8], t: &Tagged, report_data: &[u8; 64], tdx: bool) -> BindingOutcome {
    let (alg, hash) = &t.pubkey_hash;
    let key_ok = match named_hash(*alg, spki) {
        None => Err(format!("pubkey-hash uses hash id {alg}, not 1, 7 or 8")),
        Some(h) if crate::crypto::constant_time_eq(&h, hash) => Ok(()),
        Some(h) => Err(format!(
            "pubkey-hash is {}, H(SPKI) of the carrier is {}",
            hex::encode(hash),
            hex::encode(h)
        )),
    };
    match (key_ok, tdx) {
        (Err(e), _) => BindingOutcome::Fails(e),
        (Ok(()), true) => BindingOutcome::NotChecked(
            "pubkey-hash matches the key, but the report_data rule for a TDX quote in this extension is not known here"
                .into(),
        ),
        (Ok(()), false) => report_data_is(report_data, &sha256(&t.claims_buffer), "SHA-256(claims-buffer)"),
    }
}

impl CertFormat for TcgDice {
    const FORMAT: PeerFormat = PeerFormat::TcgDice;

    fn matches(oid: &[u8]) -> bool {
        oid == OID_CONTENT
    }

    fn read(c: &Container, _oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError> {
        let t = decode(value)?;
        let q = quote::check(Self::FORMAT, &t.quote, opts)?;
        let outcome = binding(&c.spki, &t, q.report_data(), q.quote.is_tdx());
        let (alg, hash) = &t.pubkey_hash;
        let mut claims = q.claims;
        claims.push(("pubkey_hash".into(), format!("{alg}:{}", hex::encode(hash))));
        if let Some(n) = &t.nonce {
            claims.push(("nonce".into(), hex::encode(n)));
        }
        Ok(super::cert_report(
            Self::FORMAT,
            c,
            "certificate extension 2.23.133.5.4.9 (CBOR tag 60000)",
            Binding {
                formula: FORMULA.into(),
                outcome,
            },
            q.check,
            claims,
            opts,
        ))
    }
}
