//! Conceptual Message Wrappers (RFC 9999), CBOR and JSON.
//!
//! A CMW carries attestation Evidence (or results) with its media type. It
//! is either a record `[type, value, ?ind]` or a collection mapping labels to
//! CMWs. Decoding is bounded: inputs over [`MAX_CMW_LEN`] bytes and nesting
//! deeper than [`MAX_DEPTH`] are refused before anything is allocated for
//! them.

use std::collections::BTreeMap;

use base64::Engine as _;
use ciborium::value::{Integer, Value};

/// Largest CMW accepted: what a `cmw_attestation` extension can carry as
/// the only extension of a CertificateEntry (see
/// [`crate::codec::MAX_CMW_IN_EXTENSION`]).
pub const MAX_CMW_LEN: usize = crate::codec::MAX_CMW_IN_EXTENSION;
/// Deepest nesting of collections accepted.
pub const MAX_DEPTH: usize = 4;
/// CBOR tag base for the tagged form: `TN(cf) = 1668546817 + (cf / 255) * 256 + cf % 255`.
const TN_BASE: u64 = 1_668_546_817;

/// `cm-type` indicator bits.
pub mod ind {
    /// Reference values.
    pub const REFERENCE_VALUES: u8 = 1;
    /// Endorsements.
    pub const ENDORSEMENTS: u8 = 2;
    /// Evidence.
    pub const EVIDENCE: u8 = 4;
    /// Attestation results.
    pub const ATTESTATION_RESULTS: u8 = 8;
    /// Appraisal policy.
    pub const APPRAISAL_POLICY: u8 = 16;
}

/// Why a CMW could not be decoded.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CmwError {
    /// Empty input.
    #[error("CMW is empty")]
    Empty,
    /// Over [`MAX_CMW_LEN`].
    #[error("CMW is {0} bytes, more than the {MAX_CMW_LEN}-byte limit")]
    TooLarge(usize),
    /// The first byte is not a CMW form.
    #[error("CMW starts with byte 0x{0:02x}, which is no CBOR or JSON CMW form")]
    UnknownForm(u8),
    /// CBOR was malformed.
    #[error("CMW CBOR is malformed: {0}")]
    Cbor(String),
    /// JSON was malformed.
    #[error("CMW JSON is malformed: {0}")]
    Json(String),
    /// The structure is not a record or collection.
    #[error("CMW {field} is invalid: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Collections nested too deeply.
    #[error("CMW collections nest deeper than {MAX_DEPTH}")]
    TooDeep,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> CmwError {
    CmwError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A record's type: a media type string or a CoAP Content-Format number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CmwType {
    /// An IANA media type such as `application/eat+cwt`.
    MediaType(String),
    /// A CoAP Content-Format (CBOR only).
    ContentFormat(u16),
}

impl std::fmt::Display for CmwType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MediaType(m) => f.write_str(m),
            Self::ContentFormat(c) => write!(f, "content-format {c}"),
        }
    }
}

/// A CMW record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmwRecord {
    /// The value's type.
    pub typ: CmwType,
    /// The wrapped bytes.
    pub value: Vec<u8>,
    /// `cm-type` bits, if known.
    pub ind: Option<u8>,
}

impl CmwRecord {
    /// A record holding Evidence of the given media type.
    pub fn evidence(media_type: &str, value: Vec<u8>) -> Self {
        Self {
            typ: CmwType::MediaType(media_type.to_string()),
            value,
            ind: Some(ind::EVIDENCE),
        }
    }

    /// The media type, if the record has one.
    pub fn media_type(&self) -> Option<&str> {
        match &self.typ {
            CmwType::MediaType(m) => Some(m),
            CmwType::ContentFormat(_) => None,
        }
    }

    /// The JSON record `[type, value, ?ind]` (RFC 9999), `value` in
    /// unpadded base64url, as a JSON value: the form a record takes inside
    /// another JSON document, such as the `ear_raw_evidence` claim of an
    /// EAR (draft-ietf-rats-ear-04). A record typed by a CoAP
    /// Content-Format has no JSON form and is refused.
    pub fn to_json_value(&self) -> Result<serde_json::Value, CmwError> {
        use serde_json::Value as J;
        let t = match &self.typ {
            CmwType::MediaType(m) => m.clone(),
            CmwType::ContentFormat(_) => {
                return Err(invalid("type", "content-format records have no JSON serialization"))
            }
        };
        let mut items = vec![J::String(t), J::String(b64url(&self.value))];
        if let Some(i) = self.ind {
            items.push(J::from(i));
        }
        Ok(J::Array(items))
    }

    /// Decodes a JSON record from a parsed JSON value, with the checks of
    /// [`Cmw::from_json`]; a collection (an object) is refused, since the
    /// place this is read from holds one record. The value is already
    /// bounded by the document it came from, which is why no
    /// [`MAX_CMW_LEN`] applies here.
    pub fn from_json_value(value: serde_json::Value) -> Result<Self, CmwError> {
        use serde::Deserialize as _;
        let node = JsonNode::deserialize(value).map_err(|e| CmwError::Json(e.to_string()))?;
        match node {
            JsonNode::Array(items) => record_from_json_items(items),
            JsonNode::Object(_) => Err(invalid("record", "is a CMW collection (an object), not a record")),
            _ => Err(invalid("record", "must be a JSON array [type, value, ?ind]")),
        }
    }
}

/// A collection label.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CmwLabel {
    /// Integer label (CBOR only).
    Int(i64),
    /// Text label.
    Text(String),
}

/// Renders a label as one segment of a record path (see [`Cmw::records`]):
/// integer labels as `#N`, text labels with `\`, `.` and `#` escaped by a
/// backslash. The rendering is injective so that two distinct labels (the
/// integer `1` and the text `"1"`, a nested `a` / `b` and a flat `"a.b"`)
/// never give the same path, and so never the same EAR submodule.
impl std::fmt::Display for CmwLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(i) => write!(f, "#{i}"),
            Self::Text(t) => {
                for c in t.chars() {
                    if matches!(c, '\\' | '.' | '#') {
                        f.write_str("\\")?;
                    }
                    write!(f, "{c}")?;
                }
                Ok(())
            }
        }
    }
}

/// A Conceptual Message Wrapper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmw {
    /// One wrapped message.
    Record(CmwRecord),
    /// Several, by label, with an optional collection type (`__cmwc_t`).
    Collection {
        /// `__cmwc_t`.
        ctype: Option<String>,
        /// Members (at least one).
        members: BTreeMap<CmwLabel, Cmw>,
    },
}

impl Cmw {
    /// Visits every record with its label path.
    ///
    /// The path of a bare record is empty. For collection members it is the
    /// labels from the outermost collection inwards, joined by `.`; each
    /// label is rendered as [`CmwLabel`]'s `Display` does: an integer label
    /// as `#N` (`#1`, `#-3`), a text label as is except that `\`, `.` and
    /// `#` are preceded by a `\` (`"a.b"` is `a\.b`, `"#1"` is `\#1`).
    /// Distinct records therefore always have distinct paths: `{1: X,
    /// "1": Y}` gives `#1` and `1`, `{"a": {"b": X}, "a.b": Y}` gives `a.b`
    /// and `a\.b`. The appraiser names submodules after these paths, and
    /// a collision there would let one record's result hide another's.
    pub fn records(&self) -> Vec<(String, &CmwRecord)> {
        let mut out = Vec::new();
        // `path` is `None` at the top only: an empty text label is a path
        // segment like any other (`{"": {"x": A}, "x": B}` gives `.x` and
        // `x`), which testing `path.is_empty()` instead would lose.
        fn walk<'a>(c: &'a Cmw, path: Option<String>, out: &mut Vec<(String, &'a CmwRecord)>) {
            match c {
                Cmw::Record(r) => out.push((path.unwrap_or_default(), r)),
                Cmw::Collection { members, .. } => {
                    for (l, m) in members {
                        let p = match &path {
                            None => l.to_string(),
                            Some(path) => format!("{path}.{l}"),
                        };
                        walk(m, Some(p), out);
                    }
                }
            }
        }
        walk(self, None, &mut out);
        out
    }

    /// Decodes either serialization, telling them apart by the first byte.
    pub fn decode(bytes: &[u8]) -> Result<Self, CmwError> {
        let first = *bytes.first().ok_or(CmwError::Empty)?;
        if bytes.len() > MAX_CMW_LEN {
            return Err(CmwError::TooLarge(bytes.len()));
        }
        match first {
            b'[' | b'{' => Self::from_json(bytes),
            0x82 | 0x83 | 0x9f | 0xda | 0xa0..=0xbb | 0xbf => Self::from_cbor(bytes),
            other => Err(CmwError::UnknownForm(other)),
        }
    }

    // ----- CBOR -----

    /// Encodes as CBOR.
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(&self.to_cbor_value(), &mut out).expect("CBOR encoding into a Vec cannot fail");
        out
    }

    fn to_cbor_value(&self) -> Value {
        match self {
            Cmw::Record(r) => {
                let mut items = vec![
                    match &r.typ {
                        CmwType::MediaType(m) => Value::Text(m.clone()),
                        CmwType::ContentFormat(c) => Value::Integer((*c).into()),
                    },
                    Value::Bytes(r.value.clone()),
                ];
                if let Some(i) = r.ind {
                    items.push(Value::Integer(i.into()));
                }
                Value::Array(items)
            }
            Cmw::Collection { ctype, members } => {
                let mut map = Vec::new();
                if let Some(t) = ctype {
                    map.push((Value::Text("__cmwc_t".into()), Value::Text(t.clone())));
                }
                for (l, m) in members {
                    let k = match l {
                        CmwLabel::Int(i) => Value::Integer((*i).into()),
                        CmwLabel::Text(t) => Value::Text(t.clone()),
                    };
                    map.push((k, m.to_cbor_value()));
                }
                Value::Map(map)
            }
        }
    }

    /// Decodes CBOR (record, tagged record or collection).
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, CmwError> {
        if bytes.len() > MAX_CMW_LEN {
            return Err(CmwError::TooLarge(bytes.len()));
        }
        let mut reader = bytes;
        let v: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, 16)
            .map_err(|e| CmwError::Cbor(e.to_string()))?;
        if !reader.is_empty() {
            return Err(CmwError::Cbor(format!("{} trailing bytes after the CMW", reader.len())));
        }
        Self::from_cbor_value(v, 0)
    }

    fn from_cbor_value(v: Value, depth: usize) -> Result<Self, CmwError> {
        if depth > MAX_DEPTH {
            return Err(CmwError::TooDeep);
        }
        match v {
            Value::Array(items) => {
                if !(2..=3).contains(&items.len()) {
                    return Err(invalid("record", format!("has {} items, expected 2 or 3", items.len())));
                }
                let mut it = items.into_iter();
                let typ = match it.next() {
                    Some(Value::Text(t)) => CmwType::MediaType(t),
                    Some(Value::Integer(i)) => CmwType::ContentFormat(
                        u16::try_from(i128::from(i)).map_err(|_| invalid("type", "content-format out of range"))?,
                    ),
                    _ => return Err(invalid("type", "must be a media type string or content-format integer")),
                };
                let value = match it.next() {
                    Some(Value::Bytes(b)) => b,
                    _ => return Err(invalid("value", "must be a byte string")),
                };
                let ind = match it.next() {
                    None => None,
                    Some(Value::Integer(i)) => Some(parse_ind(i)?),
                    Some(_) => return Err(invalid("ind", "must be an unsigned integer")),
                };
                Ok(Cmw::Record(CmwRecord { typ, value, ind }))
            }
            Value::Tag(tag, inner) => {
                if tag < TN_BASE {
                    return Err(invalid(
                        "tag",
                        format!("CBOR tag {tag} is not a CMW content-format tag"),
                    ));
                }
                let off = tag - TN_BASE;
                let (hi, lo) = (off / 256, off % 256);
                if lo >= 255 {
                    return Err(invalid("tag", format!("CBOR tag {tag} is not of the form TN(cf)")));
                }
                let cf = u16::try_from(hi * 255 + lo).map_err(|_| invalid("tag", "content-format out of range"))?;
                match *inner {
                    Value::Bytes(b) => Ok(Cmw::Record(CmwRecord {
                        typ: CmwType::ContentFormat(cf),
                        value: b,
                        ind: None,
                    })),
                    _ => Err(invalid("tag", "tagged CMW must wrap a byte string")),
                }
            }
            Value::Map(entries) => {
                let mut ctype = None;
                let mut members = BTreeMap::new();
                for (k, v) in entries {
                    let label = match k {
                        Value::Text(t) if t == "__cmwc_t" => {
                            if ctype.is_some() {
                                return Err(invalid("label", "duplicate label __cmwc_t"));
                            }
                            match v {
                                Value::Text(t) => ctype = Some(t),
                                _ => return Err(invalid("__cmwc_t", "must be text")),
                            }
                            continue;
                        }
                        Value::Text(t) => CmwLabel::Text(t),
                        Value::Integer(i) => CmwLabel::Int(
                            i64::try_from(i128::from(i)).map_err(|_| invalid("label", "integer out of range"))?,
                        ),
                        _ => return Err(invalid("label", "must be an integer or text")),
                    };
                    let m = Self::from_cbor_value(v, depth + 1)?;
                    if members.insert(label.clone(), m).is_some() {
                        return Err(invalid("label", format!("duplicate label {label}")));
                    }
                }
                if members.is_empty() {
                    return Err(invalid("collection", "must have at least one member"));
                }
                Ok(Cmw::Collection { ctype, members })
            }
            _ => Err(invalid(
                "cmw",
                "is neither a record (array), a tagged record nor a collection (map)",
            )),
        }
    }

    // ----- JSON -----

    /// Encodes as JSON. Records typed by a CoAP Content-Format and
    /// integer labels have no JSON form: they are refused with an error.
    pub fn to_json(&self) -> Result<String, CmwError> {
        Ok(self.to_json_value()?.to_string())
    }

    fn to_json_value(&self) -> Result<serde_json::Value, CmwError> {
        use serde_json::Value as J;
        Ok(match self {
            Cmw::Record(r) => r.to_json_value()?,
            Cmw::Collection { ctype, members } => {
                let mut map = serde_json::Map::new();
                if let Some(t) = ctype {
                    map.insert("__cmwc_t".into(), J::String(t.clone()));
                }
                for (l, m) in members {
                    let k = match l {
                        CmwLabel::Text(t) => t.clone(),
                        CmwLabel::Int(_) => return Err(invalid("label", "integer labels have no JSON serialization")),
                    };
                    map.insert(k, m.to_json_value()?);
                }
                J::Object(map)
            }
        })
    }

    /// Decodes JSON (record or collection). A key repeated in any object
    /// (a label or `__cmwc_t`) is refused, as the CBOR decoder refuses a
    /// repeated label: a generic JSON reader keeps only one of the values,
    /// which would let a second record silently replace the first.
    pub fn from_json(bytes: &[u8]) -> Result<Self, CmwError> {
        if bytes.len() > MAX_CMW_LEN {
            return Err(CmwError::TooLarge(bytes.len()));
        }
        let v: JsonNode = serde_json::from_slice(bytes).map_err(|e| CmwError::Json(e.to_string()))?;
        Self::from_json_value(v, 0)
    }

    fn from_json_value(v: JsonNode, depth: usize) -> Result<Self, CmwError> {
        use JsonNode as J;
        if depth > MAX_DEPTH {
            return Err(CmwError::TooDeep);
        }
        match v {
            J::Array(items) => Ok(Cmw::Record(record_from_json_items(items)?)),
            J::Object(entries) => {
                let mut ctype = None;
                let mut members = BTreeMap::new();
                for (k, v) in entries {
                    if k == "__cmwc_t" {
                        if ctype.is_some() {
                            return Err(invalid("label", "duplicate label __cmwc_t"));
                        }
                        match v {
                            J::String(t) => ctype = Some(t),
                            _ => return Err(invalid("__cmwc_t", "must be a string")),
                        }
                        continue;
                    }
                    let label = CmwLabel::Text(k);
                    if members.contains_key(&label) {
                        return Err(invalid("label", format!("duplicate label {label}")));
                    }
                    let m = Self::from_json_value(v, depth + 1)?;
                    members.insert(label, m);
                }
                if members.is_empty() {
                    return Err(invalid("collection", "must have at least one member"));
                }
                Ok(Cmw::Collection { ctype, members })
            }
            _ => Err(invalid("cmw", "is neither a record (array) nor a collection (object)")),
        }
    }
}

/// A JSON value as the CMW decoder needs it. Unlike `serde_json::Value`,
/// objects keep every entry in document order, repeated keys included, so
/// that [`Cmw::from_json`] can refuse them instead of silently keeping the
/// last one. serde_json's own recursion limit still bounds nesting.
enum JsonNode {
    Array(Vec<JsonNode>),
    Object(Vec<(String, JsonNode)>),
    String(String),
    /// A non-negative integer (the only number a CMW holds: `ind`).
    Uint(u64),
    /// Anything else (null, booleans, negative or fractional numbers):
    /// never valid in a CMW, kept only to be refused with a CMW error.
    Other,
}

impl<'de> serde::Deserialize<'de> for JsonNode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = JsonNode;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<JsonNode, E> {
                Ok(JsonNode::Other)
            }
            fn visit_i64<E>(self, v: i64) -> Result<JsonNode, E> {
                Ok(u64::try_from(v).map_or(JsonNode::Other, JsonNode::Uint))
            }
            fn visit_u64<E>(self, v: u64) -> Result<JsonNode, E> {
                Ok(JsonNode::Uint(v))
            }
            fn visit_f64<E>(self, _: f64) -> Result<JsonNode, E> {
                Ok(JsonNode::Other)
            }
            fn visit_str<E>(self, v: &str) -> Result<JsonNode, E> {
                Ok(JsonNode::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<JsonNode, E> {
                Ok(JsonNode::String(v))
            }
            fn visit_unit<E>(self) -> Result<JsonNode, E> {
                Ok(JsonNode::Other)
            }
            fn visit_none<E>(self) -> Result<JsonNode, E> {
                Ok(JsonNode::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonNode, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(JsonNode::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonNode, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, JsonNode>()? {
                    entries.push((k, v));
                }
                Ok(JsonNode::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// The items of a JSON record `[type, value, ?ind]`.
fn record_from_json_items(items: Vec<JsonNode>) -> Result<CmwRecord, CmwError> {
    if !(2..=3).contains(&items.len()) {
        return Err(invalid("record", format!("has {} items, expected 2 or 3", items.len())));
    }
    let mut it = items.into_iter();
    let typ = match it.next() {
        Some(JsonNode::String(t)) => CmwType::MediaType(t),
        _ => return Err(invalid("type", "must be a media type string")),
    };
    let value = match it.next() {
        Some(JsonNode::String(s)) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map_err(|e| invalid("value", format!("is not unpadded base64url: {e}")))?,
        _ => return Err(invalid("value", "must be a base64url string")),
    };
    let ind = match it.next() {
        None => None,
        Some(JsonNode::Uint(n)) => Some(parse_ind(Integer::from(n))?),
        Some(_) => return Err(invalid("ind", "must be an unsigned integer")),
    };
    Ok(CmwRecord { typ, value, ind })
}

fn parse_ind(i: Integer) -> Result<u8, CmwError> {
    let n = i128::from(i);
    if !(1..=31).contains(&n) {
        return Err(invalid("ind", format!("{n} is not a non-zero cm-type bitmask")));
    }
    Ok(n as u8)
}

fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9999_examples_decode() {
        // CBOR [64999, h'2347da55']
        let c = Cmw::decode(&hex::decode("8219fde7442347da55").unwrap()).unwrap();
        assert_eq!(
            c,
            Cmw::Record(CmwRecord {
                typ: CmwType::ContentFormat(64999),
                value: vec![0x23, 0x47, 0xda, 0x55],
                ind: None
            })
        );
        let j = Cmw::decode(br#"["application/vnd.example.rats-conceptual-msg","I0faVQ"]"#).unwrap();
        match &j {
            Cmw::Record(r) => assert_eq!(r.value, vec![0x23, 0x47, 0xda, 0x55]),
            _ => panic!(),
        }
        assert_eq!(Cmw::decode(j.to_json().unwrap().as_bytes()).unwrap(), j);
    }

    #[test]
    fn tagged_form_decodes() {
        // cf = 30001 -> TN = 1668546817 + 117*256 + 166
        let tag = TN_BASE + (30001 / 255) * 256 + 30001 % 255;
        let v = Value::Tag(tag, Box::new(Value::Bytes(vec![1, 2])));
        let mut b = Vec::new();
        ciborium::into_writer(&v, &mut b).unwrap();
        match Cmw::decode(&b).unwrap() {
            Cmw::Record(r) => assert_eq!(r.typ, CmwType::ContentFormat(30001)),
            _ => panic!(),
        }
    }

    #[test]
    fn collections_round_trip_both_ways() {
        let c = Cmw::Collection {
            ctype: Some("tag:example.com,2026:x".into()),
            members: BTreeMap::from([
                (
                    CmwLabel::Text("cpu".into()),
                    Cmw::Record(CmwRecord::evidence("application/eat+cwt", vec![1, 2, 3])),
                ),
                (
                    CmwLabel::Text("gpu".into()),
                    Cmw::Record(CmwRecord::evidence("application/x", vec![4])),
                ),
            ]),
        };
        assert_eq!(Cmw::decode(&c.to_cbor()).unwrap(), c);
        assert_eq!(Cmw::decode(c.to_json().unwrap().as_bytes()).unwrap(), c);
        assert_eq!(c.records().len(), 2);
    }

    #[test]
    fn malformed_inputs_are_refused() {
        assert_eq!(Cmw::decode(b""), Err(CmwError::Empty));
        assert!(matches!(Cmw::decode(&[0x00]), Err(CmwError::UnknownForm(0))));
        assert!(matches!(
            Cmw::decode(&[0xa0]),
            Err(CmwError::Invalid {
                field: "collection",
                ..
            })
        ));
        assert!(matches!(
            Cmw::decode(b"[\"a\"]"),
            Err(CmwError::Invalid { field: "record", .. })
        ));
        assert!(matches!(
            Cmw::decode(b"[\"a\",\"!!\"]"),
            Err(CmwError::Invalid { field: "value", .. })
        ));
        assert!(matches!(
            Cmw::decode(b"{}"),
            Err(CmwError::Invalid {
                field: "collection",
                ..
            })
        ));
        // array header claims 2 items, nothing follows
        assert!(matches!(Cmw::decode(&[0x82]), Err(CmwError::Cbor(_))));
        // byte string claiming 4 GiB
        let r = Cmw::decode(&[0x82, 0x01, 0x5a, 0xff, 0xff, 0xff, 0xff]);
        assert!(
            matches!(&r, Err(CmwError::Cbor(e)) if e.contains("UnexpectedEof")),
            "{r:?}"
        );
        assert!(matches!(
            Cmw::decode(&vec![b'['; MAX_CMW_LEN + 1]),
            Err(CmwError::TooLarge(_))
        ));
    }

    fn rec(v: u8) -> Cmw {
        Cmw::Record(CmwRecord::evidence("application/x", vec![v]))
    }

    #[test]
    fn record_paths_are_unambiguous() {
        // Integer 1 and text "1" were both rendered `1`.
        let c = Cmw::Collection {
            ctype: None,
            members: BTreeMap::from([(CmwLabel::Int(1), rec(1)), (CmwLabel::Text("1".into()), rec(2))]),
        };
        let paths: Vec<String> = c.records().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["#1", "1"]);
        // A nested a/b and a flat "a.b" were both rendered `a.b`.
        let c = Cmw::decode(br#"{"a":{"b":["application/x","AQ"]},"a.b":["application/x","Ag"]}"#).unwrap();
        let paths: Vec<String> = c.records().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["a.b", "a\\.b"]);
        // An empty label is a segment too: `{"": {"x": A}, "x": B}`.
        let c = Cmw::decode(br#"{"":{"x":["application/x","AQ"]},"x":["application/x","Ag"]}"#).unwrap();
        let paths: Vec<String> = c.records().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, [".x", "x"]);
        // The escape character and a leading `#` are escaped too.
        assert_eq!(CmwLabel::Text("#1".into()).to_string(), "\\#1");
        assert_eq!(CmwLabel::Text("a\\".into()).to_string(), "a\\\\");
        assert_eq!(CmwLabel::Int(-3).to_string(), "#-3");
        assert_eq!(CmwLabel::Text("cpu".into()).to_string(), "cpu");
    }

    #[test]
    fn json_duplicate_keys_are_refused_at_every_level() {
        let dup = |doc: &str| match Cmw::decode(doc.as_bytes()) {
            Err(CmwError::Invalid { field: "label", reason }) => reason,
            other => panic!("{doc}: {other:?}"),
        };
        assert_eq!(
            dup(r#"{"gpu":["application/x","AQ"],"gpu":["application/x","Ag"]}"#),
            "duplicate label gpu"
        );
        assert_eq!(
            dup(r#"{"a":{"gpu":["application/x","AQ"],"gpu":["application/x","Ag"]}}"#),
            "duplicate label gpu"
        );
        assert_eq!(
            dup(r#"{"__cmwc_t":"x","__cmwc_t":"y","gpu":["application/x","AQ"]}"#),
            "duplicate label __cmwc_t"
        );
        // Without repetition the same documents decode.
        assert!(Cmw::decode(br#"{"gpu":["application/x","AQ"],"cpu":["application/x","Ag"]}"#).is_ok());
        assert!(Cmw::decode(br#"{"__cmwc_t":"x","gpu":["application/x","AQ",4]}"#).is_ok());
    }

    #[test]
    fn cbor_duplicate_cmwc_t_is_refused() {
        let map = Value::Map(vec![
            (Value::Text("__cmwc_t".into()), Value::Text("x".into())),
            (Value::Text("__cmwc_t".into()), Value::Text("y".into())),
            (Value::Integer(1.into()), rec(1).to_cbor_value()),
        ]);
        let mut b = Vec::new();
        ciborium::into_writer(&map, &mut b).unwrap();
        assert_eq!(
            Cmw::decode(&b),
            Err(CmwError::Invalid {
                field: "label",
                reason: "duplicate label __cmwc_t".into()
            })
        );
    }

    fn cbor(v: &Value) -> Vec<u8> {
        let mut b = Vec::new();
        ciborium::into_writer(v, &mut b).unwrap();
        b
    }

    #[test]
    fn cbor_duplicate_labels_are_refused() {
        for label in [Value::Text("gpu".into()), Value::Integer(1.into())] {
            let map = Value::Map(vec![
                (label.clone(), rec(1).to_cbor_value()),
                (label, rec(2).to_cbor_value()),
            ]);
            match Cmw::decode(&cbor(&map)) {
                Err(CmwError::Invalid { field: "label", reason }) => {
                    assert!(reason.starts_with("duplicate label"), "{reason}")
                }
                other => panic!("a repeated label must be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn cbor_trailing_bytes_are_refused() {
        let mut b = rec(1).to_cbor();
        assert_eq!(Cmw::decode(&b), Ok(rec(1)));
        b.push(0x00);
        assert_eq!(
            Cmw::decode(&b),
            Err(CmwError::Cbor("1 trailing bytes after the CMW".into()))
        );
    }

    #[test]
    fn json_collections_nested_deeper_than_the_limit_are_refused() {
        let nest = |levels: usize| {
            let mut doc = r#"["application/x","AQ"]"#.to_string();
            for _ in 0..levels {
                doc = format!(r#"{{"a":{doc}}}"#);
            }
            doc
        };
        assert!(Cmw::decode(nest(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(Cmw::decode(nest(MAX_DEPTH + 1).as_bytes()), Err(CmwError::TooDeep));
    }

    #[test]
    fn cbor_tags_that_are_not_tn_of_a_content_format_are_refused() {
        let tagged = |tag: u64| cbor(&Value::Tag(tag, Box::new(Value::Bytes(vec![1]))));
        let reason = |tag: u64| match Cmw::from_cbor(&tagged(tag)) {
            Err(CmwError::Invalid { field: "tag", reason }) => reason,
            other => panic!("tag {tag}: {other:?}"),
        };
        // Below the TN range (self-described CBOR 55799, and just below).
        for tag in [55799, TN_BASE - 1] {
            assert!(reason(tag).contains("is not a CMW content-format tag"), "{tag}");
        }
        // TN(cf) never has 255 as its low byte offset.
        assert!(reason(TN_BASE + 255).contains("is not of the form TN(cf)"));
        assert!(reason(TN_BASE + 3 * 256 + 255).contains("is not of the form TN(cf)"));
        // Its neighbours are TN(254) and TN(255).
        assert!(Cmw::decode(&tagged(TN_BASE + 254)).is_ok());
        assert!(Cmw::decode(&tagged(TN_BASE + 256)).is_ok());
    }

    #[test]
    fn tagged_cmw_that_does_not_wrap_a_byte_string_is_refused() {
        let v = Value::Tag(TN_BASE + 1, Box::new(Value::Text("AQ".into())));
        assert_eq!(
            Cmw::decode(&cbor(&v)),
            Err(CmwError::Invalid {
                field: "tag",
                reason: "tagged CMW must wrap a byte string".into()
            })
        );
    }

    #[test]
    fn ind_outside_the_cm_type_bits_is_refused() {
        let refused = |c: Result<Cmw, CmwError>, what: &str| match c {
            Err(CmwError::Invalid { field: "ind", reason }) => {
                assert!(reason.contains("is not a non-zero cm-type bitmask"), "{what}: {reason}")
            }
            other => panic!("{what}: {other:?}"),
        };
        for ind in [0u8, 32, 255] {
            let v = Value::Array(vec![
                Value::Text("application/x".into()),
                Value::Bytes(vec![1]),
                Value::Integer(ind.into()),
            ]);
            refused(Cmw::decode(&cbor(&v)), &format!("CBOR ind {ind}"));
            let doc = format!(r#"["application/x","AQ",{ind}]"#);
            refused(Cmw::decode(doc.as_bytes()), &doc);
        }
        for ind in [1u8, 31] {
            assert!(Cmw::decode(format!(r#"["application/x","AQ",{ind}]"#).as_bytes()).is_ok());
        }
    }

    #[test]
    fn json_non_cmw_values_are_refused_not_panicked_on() {
        for doc in [
            r#"["a","AQ",-1]"#,
            r#"["a","AQ",1.5]"#,
            r#"["a","AQ",null]"#,
            r#"{"x":true}"#,
        ] {
            assert!(
                matches!(Cmw::decode(doc.as_bytes()), Err(CmwError::Invalid { .. })),
                "{doc}"
            );
        }
    }
}
