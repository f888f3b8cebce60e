//! Intel DCAP quote parsing: SGX quote v3, TDX quote v4 and v5.
//!
//! The parser borrows from the input, checks every length before indexing
//! and never panics. It honours the signature-data length (quotes read from
//! files are often zero-padded) and names the field that was malformed.

/// `tee_type` of an SGX quote.
pub const TEE_TYPE_SGX: u32 = 0x0000_0000;
/// `tee_type` of a TDX quote.
pub const TEE_TYPE_TDX: u32 = 0x0000_0081;
/// Attestation key type 2: ECDSA-256 with P-256.
pub const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// The Intel QE vendor id (`939A7233-F79C-4CA9-940A-0DB3957F0607`).
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9, 0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07,
];
/// Length of the quote header.
pub const HEADER_LEN: usize = 48;
/// Length of an SGX enclave report (also the QE report).
pub const ENCLAVE_REPORT_LEN: usize = 384;
/// Length of a TD 1.0 report body.
pub const TD10_REPORT_LEN: usize = 584;
/// Length of a TD 1.5 report body.
pub const TD15_REPORT_LEN: usize = 648;
/// Length of a TD 1.5-ex report body.
pub const TD15EX_REPORT_LEN: usize = 885;
/// Certification data type 5: PEM PCK certificate chain.
pub const CERT_DATA_PCK_CHAIN: u16 = 5;
/// Certification data type 6: QE report certification data.
pub const CERT_DATA_QE_REPORT: u16 = 6;
/// Upper bound on any variable-length field (the largest real one, the PCK
/// chain, is about 4 KiB).
pub const MAX_VAR_FIELD_LEN: usize = 64 * 1024;

/// Why a quote could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// The input ends inside a field.
    #[error("quote is truncated: field {field} needs {needed} bytes at offset {offset}, {available} available")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Offset of the field (relative to the structure being read).
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// Quote version other than 3, 4 or 5.
    #[error("unsupported quote version {0} (expected 3 for SGX, 4 or 5 for TDX)")]
    Version(u16),
    /// TEE type not allowed for the quote version.
    #[error("unsupported tee_type {tee_type:#x} for quote version {version}")]
    TeeType {
        /// `tee_type` of the header.
        tee_type: u32,
        /// `version` of the header.
        version: u16,
    },
    /// Attestation key type other than ECDSA P-256.
    #[error("unsupported attestation key type {0} (only 2, ECDSA P-256, is supported)")]
    AttestationKeyType(u16),
    /// Quote v5 body type other than 2, 3 or 4.
    #[error("unsupported quote v5 body type {0} (expected 2, 3 or 4 for TDX)")]
    BodyType(u16),
    /// Quote v5 body size inconsistent with its type.
    #[error("quote v5 body size {size} does not match body type {body_type} ({expected} bytes)")]
    BodySize {
        /// Declared body type.
        body_type: u16,
        /// Declared size.
        size: u32,
        /// Size the type requires.
        expected: usize,
    },
    /// A certification data structure of an unexpected type.
    #[error("{field} has certification data type {found}, expected {expected}")]
    CertDataType {
        /// The structure.
        field: &'static str,
        /// The type found.
        found: u16,
        /// The type required.
        expected: u16,
    },
    /// A variable-length field is larger than any real quote's.
    #[error("field {field} declares {len} bytes, more than the limit of {MAX_VAR_FIELD_LEN}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Declared length.
        len: usize,
    },
}

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], QuoteError> {
        let available = self.buf.len().saturating_sub(self.pos);
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end.and_then(|e| self.buf.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(QuoteError::Truncated {
                field,
                offset: self.pos,
                needed: n,
                available,
            }),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], QuoteError> {
        let s = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, QuoteError> {
        Ok(u16::from_le_bytes(self.array::<2>(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, QuoteError> {
        Ok(u32::from_le_bytes(self.array::<4>(field)?))
    }

    fn var(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], QuoteError> {
        if len > MAX_VAR_FIELD_LEN {
            return Err(QuoteError::TooLarge { field, len });
        }
        self.take(len, field)
    }
}

/// The 48-byte quote header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Quote version (3, 4 or 5).
    pub version: u16,
    /// Attestation key type (2 = ECDSA P-256).
    pub att_key_type: u16,
    /// TEE type (0 = SGX, 0x81 = TDX).
    pub tee_type: u32,
    /// QE security version.
    pub qe_svn: u16,
    /// PCE security version.
    pub pce_svn: u16,
    /// QE vendor id.
    pub qe_vendor_id: [u8; 16],
    /// User data (first 16 bytes: QE identity of the platform).
    pub user_data: [u8; 20],
}

impl Header {
    fn parse(r: &mut Reader<'_>) -> Result<Self, QuoteError> {
        Ok(Self {
            version: r.u16("header.version")?,
            att_key_type: r.u16("header.att_key_type")?,
            tee_type: r.u32("header.tee_type")?,
            qe_svn: r.u16("header.qe_svn")?,
            pce_svn: r.u16("header.pce_svn")?,
            qe_vendor_id: r.array("header.qe_vendor_id")?,
            user_data: r.array("header.user_data")?,
        })
    }
}

/// An SGX enclave report (the body of an SGX quote, and the QE report).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnclaveReport {
    /// CPU security version.
    pub cpusvn: [u8; 16],
    /// MISCSELECT.
    pub miscselect: u32,
    /// ATTRIBUTES (flags then XFRM); bit 1 of byte 0 = DEBUG.
    pub attributes: [u8; 16],
    /// MRENCLAVE.
    pub mrenclave: [u8; 32],
    /// MRSIGNER.
    pub mrsigner: [u8; 32],
    /// ISV product id.
    pub isv_prod_id: u16,
    /// ISV security version.
    pub isv_svn: u16,
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

impl EnclaveReport {
    /// Parses a 384-byte enclave report.
    pub fn parse(bytes: &[u8]) -> Result<Self, QuoteError> {
        let mut r = Reader::new(bytes);
        let cpusvn = r.array("enclave_report.cpusvn")?;
        let miscselect = r.u32("enclave_report.miscselect")?;
        r.take(28, "enclave_report.reserved1")?;
        let attributes = r.array("enclave_report.attributes")?;
        let mrenclave = r.array("enclave_report.mrenclave")?;
        r.take(32, "enclave_report.reserved2")?;
        let mrsigner = r.array("enclave_report.mrsigner")?;
        r.take(96, "enclave_report.reserved3")?;
        let isv_prod_id = r.u16("enclave_report.isv_prod_id")?;
        let isv_svn = r.u16("enclave_report.isv_svn")?;
        r.take(60, "enclave_report.reserved4")?;
        let report_data = r.array("enclave_report.report_data")?;
        Ok(Self {
            cpusvn,
            miscselect,
            attributes,
            mrenclave,
            mrsigner,
            isv_prod_id,
            isv_svn,
            report_data,
        })
    }

    /// The DEBUG attribute (bit 1 of ATTRIBUTES.FLAGS).
    pub fn debug(&self) -> bool {
        self.attributes[0] & 0x02 != 0
    }
}

/// Which TD report layout a TDX quote carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TdReportVersion {
    /// TD 1.0 (quote v4, or v5 body type 2).
    Td10,
    /// TD 1.5 (v5 body type 3).
    Td15,
    /// TD 1.5 extended (v5 body type 4).
    Td15Ex,
}

/// A TD report body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TdReport {
    /// Layout of the body.
    pub version: TdReportVersion,
    /// TEE_TCB_SVN (byte 0 = module ISVSVN, byte 1 = module version).
    pub tee_tcb_svn: [u8; 16],
    /// MRSEAM: measurement of the TDX module.
    pub mrseam: [u8; 48],
    /// MRSIGNERSEAM: signer of the TDX module (zero for Intel's).
    pub mrsignerseam: [u8; 48],
    /// SEAMATTRIBUTES.
    pub seam_attributes: [u8; 8],
    /// TDATTRIBUTES (bit 0 = DEBUG).
    pub td_attributes: [u8; 8],
    /// XFAM.
    pub xfam: [u8; 8],
    /// MRTD: measurement of the initial TD contents.
    pub mrtd: [u8; 48],
    /// MRCONFIGID.
    pub mrconfigid: [u8; 48],
    /// MROWNER.
    pub mrowner: [u8; 48],
    /// MROWNERCONFIG.
    pub mrownerconfig: [u8; 48],
    /// RTMR0..3.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: [u8; 64],
    /// TEE_TCB_SVN2 (TD 1.5): the current TCB after TD-preserving updates.
    pub tee_tcb_svn2: Option<[u8; 16]>,
    /// MRSERVICETD (TD 1.5).
    pub mrservicetd: Option<[u8; 48]>,
}

impl TdReport {
    fn parse(bytes: &[u8], version: TdReportVersion) -> Result<Self, QuoteError> {
        let mut r = Reader::new(bytes);
        let tee_tcb_svn = r.array("td_report.tee_tcb_svn")?;
        let mrseam = r.array("td_report.mrseam")?;
        let mrsignerseam = r.array("td_report.mrsignerseam")?;
        let seam_attributes = r.array("td_report.seam_attributes")?;
        let td_attributes = r.array("td_report.td_attributes")?;
        let xfam = r.array("td_report.xfam")?;
        let mrtd = r.array("td_report.mrtd")?;
        let mrconfigid = r.array("td_report.mrconfigid")?;
        let mrowner = r.array("td_report.mrowner")?;
        let mrownerconfig = r.array("td_report.mrownerconfig")?;
        let rtmr = [
            r.array("td_report.rtmr0")?,
            r.array("td_report.rtmr1")?,
            r.array("td_report.rtmr2")?,
            r.array("td_report.rtmr3")?,
        ];
        let report_data = r.array("td_report.report_data")?;
        let (tee_tcb_svn2, mrservicetd) = match version {
            TdReportVersion::Td10 => (None, None),
            TdReportVersion::Td15 | TdReportVersion::Td15Ex => (
                Some(r.array("td_report.tee_tcb_svn2")?),
                Some(r.array("td_report.mrservicetd")?),
            ),
        };
        Ok(Self {
            version,
            tee_tcb_svn,
            mrseam,
            mrsignerseam,
            seam_attributes,
            td_attributes,
            xfam,
            mrtd,
            mrconfigid,
            mrowner,
            mrownerconfig,
            rtmr,
            report_data,
            tee_tcb_svn2,
            mrservicetd,
        })
    }

    /// TDATTRIBUTES as a little-endian integer.
    pub fn td_attributes_u64(&self) -> u64 {
        u64::from_le_bytes(self.td_attributes)
    }

    /// The DEBUG attribute (TDATTRIBUTES bit 0).
    pub fn debug(&self) -> bool {
        self.td_attributes[0] & 0x01 != 0
    }
}

/// The attested body of a quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Boxing the TD report would cost an allocation per quote for no gain.
#[allow(clippy::large_enum_variant)]
pub enum Body {
    /// SGX enclave report.
    Sgx(EnclaveReport),
    /// TD report.
    Td(TdReport),
}

impl Body {
    /// The 64-byte REPORTDATA.
    pub fn report_data(&self) -> &[u8; 64] {
        match self {
            Body::Sgx(r) => &r.report_data,
            Body::Td(r) => &r.report_data,
        }
    }
}

/// A parsed quote. Borrows the signed bytes and variable fields from the input.
#[derive(Clone, Debug)]
pub struct Quote<'a> {
    /// Header.
    pub header: Header,
    /// Attested body.
    pub body: Body,
    /// The bytes the attestation key signs (header and body, including the v5 body descriptor).
    pub signed: &'a [u8],
    /// ECDSA signature (r || s) over [`Quote::signed`].
    pub signature: [u8; 64],
    /// ECDSA P-256 attestation public key (x || y).
    pub attestation_key: [u8; 64],
    /// Raw QE report (signed by the PCK key).
    pub qe_report_raw: &'a [u8],
    /// Parsed QE report.
    pub qe_report: EnclaveReport,
    /// ECDSA signature (r || s) of the QE report by the PCK key.
    pub qe_report_signature: [u8; 64],
    /// QE authentication data.
    pub qe_auth_data: &'a [u8],
    /// Type of the innermost certification data (5 = PEM PCK chain).
    pub pck_cert_data_type: u16,
    /// The innermost certification data (PEM PCK chain for type 5).
    pub pck_cert_data: &'a [u8],
}

impl<'a> Quote<'a> {
    /// Parses a quote; bytes after the declared signature data are ignored.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, QuoteError> {
        let mut r = Reader::new(bytes);
        let header = Header::parse(&mut r)?;
        if header.att_key_type != ATT_KEY_TYPE_ECDSA_P256 {
            return Err(QuoteError::AttestationKeyType(header.att_key_type));
        }
        let body = match (header.version, header.tee_type) {
            (3, TEE_TYPE_SGX) => Body::Sgx(EnclaveReport::parse(r.take(ENCLAVE_REPORT_LEN, "sgx_report_body")?)?),
            (4, TEE_TYPE_TDX) => Body::Td(TdReport::parse(
                r.take(TD10_REPORT_LEN, "td_report_body")?,
                TdReportVersion::Td10,
            )?),
            (5, TEE_TYPE_TDX) => {
                let body_type = r.u16("body.type")?;
                let size = r.u32("body.size")?;
                let (version, expected) = match body_type {
                    2 => (TdReportVersion::Td10, TD10_REPORT_LEN),
                    3 => (TdReportVersion::Td15, TD15_REPORT_LEN),
                    4 => (TdReportVersion::Td15Ex, TD15EX_REPORT_LEN),
                    other => return Err(QuoteError::BodyType(other)),
                };
                if size as usize != expected {
                    return Err(QuoteError::BodySize {
                        body_type,
                        size,
                        expected,
                    });
                }
                Body::Td(TdReport::parse(r.take(expected, "td_report_body")?, version)?)
            }
            (3..=5, tee_type) => {
                return Err(QuoteError::TeeType {
                    tee_type,
                    version: header.version,
                })
            }
            (v, _) => return Err(QuoteError::Version(v)),
        };
        let signed_len = r.pos;
        let signed = bytes.get(..signed_len).ok_or(QuoteError::Truncated {
            field: "signed",
            offset: 0,
            needed: signed_len,
            available: bytes.len(),
        })?;
        let sig_len = r.u32("signature_data_len")? as usize;
        let sig_data = r.var(sig_len, "signature_data")?;
        let mut s = Reader::new(sig_data);
        let signature = s.array("signature_data.ecdsa_signature")?;
        let attestation_key = s.array("signature_data.attestation_key")?;
        let mut qe = if header.version == 3 {
            s
        } else {
            let ty = s.u16("certification_data.type")?;
            if ty != CERT_DATA_QE_REPORT {
                return Err(QuoteError::CertDataType {
                    field: "outer certification data",
                    found: ty,
                    expected: CERT_DATA_QE_REPORT,
                });
            }
            let len = s.u32("certification_data.size")? as usize;
            Reader::new(s.var(len, "certification_data")?)
        };
        let qe_report_raw = qe.take(ENCLAVE_REPORT_LEN, "qe_report")?;
        let qe_report = EnclaveReport::parse(qe_report_raw)?;
        let qe_report_signature = qe.array("qe_report_signature")?;
        let auth_len = qe.u16("qe_auth_data.size")? as usize;
        let qe_auth_data = qe.var(auth_len, "qe_auth_data")?;
        let pck_cert_data_type = qe.u16("pck_certification_data.type")?;
        let pck_len = qe.u32("pck_certification_data.size")? as usize;
        let pck_cert_data = qe.var(pck_len, "pck_certification_data")?;
        Ok(Self {
            header,
            body,
            signed,
            signature,
            attestation_key,
            qe_report_raw,
            qe_report,
            qe_report_signature,
            qe_auth_data,
            pck_cert_data_type,
            pck_cert_data,
        })
    }

    /// True for TDX quotes.
    pub fn is_tdx(&self) -> bool {
        matches!(self.body, Body::Td(_))
    }
}

/// Cheap format sniffing for `detect()`: TDX = version 4/5 with tee_type 0x81.
pub fn looks_like_tdx(raw: &[u8]) -> bool {
    matches!(header_prefix(raw), Some((4 | 5, ATT_KEY_TYPE_ECDSA_P256, TEE_TYPE_TDX)))
}

/// Cheap format sniffing for `detect()`: SGX = version 3 with tee_type 0.
pub fn looks_like_sgx(raw: &[u8]) -> bool {
    matches!(header_prefix(raw), Some((3, ATT_KEY_TYPE_ECDSA_P256, TEE_TYPE_SGX)))
}

fn header_prefix(raw: &[u8]) -> Option<(u16, u16, u32)> {
    if raw.len() < HEADER_LEN + ENCLAVE_REPORT_LEN {
        return None;
    }
    let mut r = Reader::new(raw);
    let v = r.u16("version").ok()?;
    let k = r.u16("att_key_type").ok()?;
    let t = r.u32("tee_type").ok()?;
    let vendor: [u8; 16] = {
        r.take(4, "svns").ok()?;
        r.array("vendor").ok()?
    };
    (vendor == INTEL_QE_VENDOR_ID).then_some((v, k, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(path: &str) -> Vec<u8> {
        std::fs::read(format!("{}/../../vectors/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn parses_tdx_v4_and_honours_signature_length() {
        let raw = vector("tdx/tdx_quote");
        assert_eq!(raw.len(), 5006);
        let q = Quote::parse(&raw).unwrap();
        assert_eq!(q.header.version, 4);
        assert_eq!(q.signed.len(), HEADER_LEN + TD10_REPORT_LEN);
        let Body::Td(td) = q.body else { panic!("not TDX") };
        assert_eq!(hex::encode(td.tee_tcb_svn), "06010300000000000000000000000000");
        assert_eq!(
            hex::encode(td.mrtd),
            "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
        );
        assert_eq!(hex::encode(td.td_attributes), "0000001000000000");
        assert_eq!(q.pck_cert_data_type, CERT_DATA_PCK_CHAIN);
        assert!(q.pck_cert_data.starts_with(b"-----BEGIN CERTIFICATE-----"));
        assert_eq!(q.qe_auth_data.len(), 32);
        assert!(looks_like_tdx(&raw) && !looks_like_sgx(&raw));
    }

    #[test]
    fn parses_tdx_v5_td15() {
        let raw = vector("tdx/tdx_quote_td15ex");
        let q = Quote::parse(&raw).unwrap();
        assert_eq!(q.header.version, 5);
        assert_eq!(q.signed.len(), HEADER_LEN + 6 + TD15EX_REPORT_LEN);
        let Body::Td(td) = q.body else { panic!("not TDX") };
        assert_eq!(td.version, TdReportVersion::Td15Ex);
        assert_eq!(
            hex::encode(td.tee_tcb_svn2.unwrap()),
            "0f010400000000000000000000000000"
        );
        assert_eq!(td.mrservicetd, Some([0; 48]));
        let raw = vector("tdx/tdx_quote_outdated");
        let Body::Td(td) = Quote::parse(&raw).unwrap().body else {
            panic!("not TDX")
        };
        assert_eq!(td.version, TdReportVersion::Td15);
        assert_eq!(
            hex::encode(td.tee_tcb_svn2.unwrap()),
            "0d010300000000000000000000000000"
        );
    }

    #[test]
    fn parses_sgx_v3() {
        let raw = vector("sgx/sgx_quote");
        let q = Quote::parse(&raw).unwrap();
        let Body::Sgx(r) = q.body else { panic!("not SGX") };
        assert_eq!(
            hex::encode(r.mrenclave),
            "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb"
        );
        assert_eq!(hex::encode(r.attributes), "0500000000000000e700000000000000");
        assert!(!r.debug());
        assert_eq!((q.header.qe_svn, q.header.pce_svn), (10, 15));
        assert!(looks_like_sgx(&raw) && !looks_like_tdx(&raw));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for path in ["tdx/tdx_quote", "tdx/tdx_quote_td15ex", "sgx/sgx_quote"] {
            let raw = vector(path);
            assert!(Quote::parse(&raw).is_ok());
            // Every prefix shorter than the declared data must fail.
            let end = raw.len() - raw.iter().rev().take_while(|b| **b == 0).count();
            for cut in (0..end).step_by(7) {
                assert!(Quote::parse(&raw[..cut]).is_err(), "{path} cut at {cut}");
            }
        }
    }

    #[test]
    fn rejects_bad_header_values() {
        let mut raw = vector("tdx/tdx_quote");
        raw[0] = 9;
        assert_eq!(Quote::parse(&raw).unwrap_err(), QuoteError::Version(9));
        let mut raw = vector("tdx/tdx_quote");
        raw[4] = 0;
        assert!(matches!(Quote::parse(&raw), Err(QuoteError::TeeType { .. })));
        let mut raw = vector("tdx/tdx_quote");
        raw[2] = 3;
        assert_eq!(Quote::parse(&raw).unwrap_err(), QuoteError::AttestationKeyType(3));
        let mut raw = vector("tdx/tdx_quote_td15ex");
        raw[50] = 1;
        assert!(matches!(Quote::parse(&raw), Err(QuoteError::BodySize { .. })));
        let mut raw = vector("tdx/tdx_quote_td15ex");
        raw[48] = 7;
        assert_eq!(Quote::parse(&raw).unwrap_err(), QuoteError::BodyType(7));
        // Signature data length larger than the file.
        let mut raw = vector("tdx/tdx_quote");
        let off = HEADER_LEN + TD10_REPORT_LEN;
        raw[off..off + 4].copy_from_slice(&0x0010_0000u32.to_le_bytes());
        assert!(matches!(Quote::parse(&raw), Err(QuoteError::TooLarge { .. })));
        raw[off..off + 4].copy_from_slice(&6000u32.to_le_bytes());
        assert!(matches!(Quote::parse(&raw), Err(QuoteError::Truncated { .. })));
        // Outer certification data type must be 6.
        let mut raw = vector("tdx/tdx_quote");
        raw[off + 4 + 128] = 5;
        assert!(matches!(Quote::parse(&raw), Err(QuoteError::CertDataType { .. })));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6000)) {
            let _ = Quote::parse(&data);
            let _ = looks_like_tdx(&data);
        }

        #[test]
        fn mutated_quotes_never_panic(idx in 0usize..5006, val in proptest::prelude::any::<u8>(), cut in 0usize..5006) {
            let mut raw = vector("tdx/tdx_quote");
            raw[idx] = val;
            let _ = Quote::parse(&raw);
            let _ = Quote::parse(&raw[..cut]);
            // Header fields forced to v5 exercise the body descriptor path.
            raw[0] = 5;
            let _ = Quote::parse(&raw);
        }
    }

    #[test]
    fn version_and_tee_type_must_agree() {
        // A version 3 (SGX) quote claiming to be TDX.
        let mut raw = vector("sgx/sgx_quote");
        assert!(Quote::parse(&raw).is_ok());
        raw[4] = 0x81;
        assert_eq!(
            Quote::parse(&raw).unwrap_err(),
            QuoteError::TeeType {
                tee_type: TEE_TYPE_TDX,
                version: 3
            }
        );
        // A version 5 quote claiming to be SGX.
        let mut raw = vector("tdx/tdx_quote_td15ex");
        raw[4] = 0;
        assert_eq!(
            Quote::parse(&raw).unwrap_err(),
            QuoteError::TeeType {
                tee_type: TEE_TYPE_SGX,
                version: 5
            }
        );
    }
}
