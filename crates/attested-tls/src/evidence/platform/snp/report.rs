//! The SEV-SNP `ATTESTATION_REPORT` (AMD SEV-SNP Firmware ABI, 1184 bytes,
//! little endian) and the values decoded from it.

use serde::{Deserialize, Serialize};

/// Length of an `ATTESTATION_REPORT`.
pub const REPORT_LEN: usize = 1184;
/// The report signature covers bytes `0x000..0x2A0`.
pub const SIGNED_LEN: usize = 0x2A0;
/// Lowest report version this parser understands.
pub const MIN_VERSION: u32 = 2;
/// Highest report version known when this parser was written.
pub const MAX_KNOWN_VERSION: u32 = 5;
/// `SIGNATURE_ALGO` value for ECDSA P-384 with SHA-384.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;

/// Why bytes are not an `ATTESTATION_REPORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Wrong length.
    #[error("SEV-SNP report is {0} bytes, expected {REPORT_LEN}")]
    Length(usize),
    /// Version below [`MIN_VERSION`].
    #[error("SEV-SNP report version {0} is not supported (the oldest supported is {MIN_VERSION})")]
    Version(u32),
    /// The signature's R or S has non-zero bytes above the 48 bytes of a
    /// P-384 scalar.
    #[error("SEV-SNP report signature component {0} has non-zero bytes beyond the 48-byte P-384 scalar")]
    SignatureHighBytes(&'static str),
}

/// AMD EPYC product lines with SEV-SNP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    /// 3rd generation EPYC (Zen 3).
    Milan,
    /// 4th generation EPYC (Zen 4; also Bergamo and Siena).
    Genoa,
    /// 5th generation EPYC (Zen 5).
    Turin,
}

impl Product {
    /// All product lines, in the order of their introduction.
    pub const ALL: [Product; 3] = [Product::Milan, Product::Genoa, Product::Turin];

    /// The name AMD uses in certificate names (`ARK-Milan`, `SEV-Milan`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// Parses a product name, case-insensitively.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(s))
    }

    /// The product line of a CPUID family / model (report version 3 and
    /// later carry them).
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0f) => Some(Self::Milan),
            (0x19, 0x10..=0x1f | 0xa0..=0xaf) => Some(Self::Genoa),
            (0x1a, 0x00..=0x11) => Some(Self::Turin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded `TCB_VERSION`: the security patch levels of the firmware
/// components. Milan and Genoa lay the 8 bytes out as
/// `[bootloader, tee, 0, 0, 0, 0, snp, microcode]`, Turin as
/// `[fmc, bootloader, tee, snp, 0, 0, 0, microcode]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tcb {
    /// FMC SPL (Turin and later only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
    /// Boot loader SPL.
    pub bootloader: u8,
    /// TEE (PSP OS) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// Microcode SPL.
    pub microcode: u8,
}

impl Tcb {
    /// Decodes a raw `TCB_VERSION` with the layout of `product`.
    pub fn decode(raw: [u8; 8], product: Product) -> Self {
        match product {
            Product::Milan | Product::Genoa => Self {
                fmc: None,
                bootloader: raw[0],
                tee: raw[1],
                snp: raw[6],
                microcode: raw[7],
            },
            Product::Turin => Self {
                fmc: Some(raw[0]),
                bootloader: raw[1],
                tee: raw[2],
                snp: raw[3],
                microcode: raw[7],
            },
        }
    }

    /// Encodes with the layout of `product` (the inverse of [`Tcb::decode`]
    /// for the defined bytes; reserved bytes are zero).
    pub fn encode(&self, product: Product) -> [u8; 8] {
        match product {
            Product::Milan | Product::Genoa => [self.bootloader, self.tee, 0, 0, 0, 0, self.snp, self.microcode],
            Product::Turin => [
                self.fmc.unwrap_or(0),
                self.bootloader,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ],
        }
    }

    /// JSON form for the appraisal claims.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("TCB serializes")
    }
}

/// The guest policy (`POLICY`, report offset 0x08).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestPolicy(pub u64);

impl GuestPolicy {
    /// Bit 19: the guest may be debugged by the host (its memory and state
    /// are then readable by the hypervisor).
    pub const DEBUG_BIT: u32 = 19;

    /// Minimum ABI minor version (bits 7:0).
    pub const fn abi_minor(self) -> u8 {
        self.0 as u8
    }
    /// Minimum ABI major version (bits 15:8).
    pub const fn abi_major(self) -> u8 {
        (self.0 >> 8) as u8
    }
    /// SMT allowed (bit 16).
    pub const fn smt(self) -> bool {
        self.0 & (1 << 16) != 0
    }
    /// Migration agent allowed (bit 18).
    pub const fn migrate_ma(self) -> bool {
        self.0 & (1 << 18) != 0
    }
    /// Debugging allowed (bit 19).
    pub const fn debug(self) -> bool {
        self.0 & (1 << Self::DEBUG_BIT) != 0
    }
    /// Single-socket only (bit 20).
    pub const fn single_socket(self) -> bool {
        self.0 & (1 << 20) != 0
    }

    /// JSON form for the appraisal claims.
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "raw": format!("0x{:x}", self.0),
            "abi_major": self.abi_major(),
            "abi_minor": self.abi_minor(),
            "smt": self.smt(),
            "migrate_ma": self.migrate_ma(),
            "debug": self.debug(),
            "single_socket": self.single_socket(),
        })
    }
}

/// Which key signed the report (`SIGNING_KEY`, bits 4:2 of offset 0x48).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningKey {
    /// Versioned Chip Endorsement Key.
    Vcek,
    /// Versioned Loaded Endorsement Key (cloud-provider key).
    Vlek,
    /// No key: the report is unsigned.
    None,
    /// A reserved value.
    Reserved(u8),
}

impl SigningKey {
    /// Decodes the 3-bit field.
    pub const fn from_bits(v: u8) -> Self {
        match v {
            0 => Self::Vcek,
            1 => Self::Vlek,
            7 => Self::None,
            other => Self::Reserved(other),
        }
    }

    /// Name used in claims and findings.
    pub fn name(self) -> String {
        match self {
            Self::Vcek => "vcek".into(),
            Self::Vlek => "vlek".into(),
            Self::None => "none".into(),
            Self::Reserved(v) => format!("reserved({v})"),
        }
    }
}

/// A parsed `ATTESTATION_REPORT`. Every field is a copy; [`Self::signed_bytes`]
/// returns the exact bytes the signature covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationReport {
    raw: Box<[u8; REPORT_LEN]>,
    /// `VERSION` (0x00).
    pub version: u32,
    /// `GUEST_SVN` (0x04).
    pub guest_svn: u32,
    /// `POLICY` (0x08).
    pub policy: GuestPolicy,
    /// `FAMILY_ID` (0x10).
    pub family_id: [u8; 16],
    /// `IMAGE_ID` (0x20).
    pub image_id: [u8; 16],
    /// `VMPL` (0x30).
    pub vmpl: u32,
    /// `SIGNATURE_ALGO` (0x34).
    pub sig_algo: u32,
    /// `CURRENT_TCB` (0x38), raw.
    pub current_tcb: [u8; 8],
    /// `PLATFORM_INFO` (0x40).
    pub platform_info: u64,
    /// Key information flags (0x48): AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY.
    pub key_info: u32,
    /// `REPORT_DATA` (0x50), chosen by the guest: the connection binding.
    pub report_data: [u8; 64],
    /// `MEASUREMENT` (0x90): the launch digest.
    pub measurement: [u8; 48],
    /// `HOST_DATA` (0xC0), chosen by the host at launch.
    pub host_data: [u8; 32],
    /// `ID_KEY_DIGEST` (0xE0).
    pub id_key_digest: [u8; 48],
    /// `AUTHOR_KEY_DIGEST` (0x110).
    pub author_key_digest: [u8; 48],
    /// `REPORT_ID` (0x140).
    pub report_id: [u8; 32],
    /// `REPORT_ID_MA` (0x160).
    pub report_id_ma: [u8; 32],
    /// `REPORTED_TCB` (0x180), raw: the TCB the VCEK was derived for.
    pub reported_tcb: [u8; 8],
    /// CPUID family, model and stepping (0x188..0x18B, version 3 and later).
    pub cpuid: Option<(u8, u8, u8)>,
    /// `CHIP_ID` (0x1A0).
    pub chip_id: [u8; 64],
    /// `COMMITTED_TCB` (0x1E0), raw.
    pub committed_tcb: [u8; 8],
    /// `LAUNCH_TCB` (0x1F0), raw.
    pub launch_tcb: [u8; 8],
    /// Signature R, 72 bytes little endian (0x2A0).
    pub signature_r: [u8; 72],
    /// Signature S, 72 bytes little endian (0x2E8).
    pub signature_s: [u8; 72],
}

fn arr<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[off..off + N]);
    out
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(arr(b, off))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(arr(b, off))
}

/// Whether `raw` looks like a report: 1184 bytes, a known version and the
/// ECDSA P-384 signature algorithm (used by `detect`).
pub fn looks_like_report(raw: &[u8]) -> bool {
    raw.len() == REPORT_LEN
        && (MIN_VERSION..=MAX_KNOWN_VERSION).contains(&u32_at(raw, 0))
        && u32_at(raw, 0x34) == SIG_ALGO_ECDSA_P384_SHA384
}

impl AttestationReport {
    /// Parses a report. Checks the length and the version only: every other
    /// property is the verifier's to judge, so that it can say which failed.
    pub fn parse(b: &[u8]) -> Result<Self, ReportError> {
        let raw: [u8; REPORT_LEN] = b.try_into().map_err(|_| ReportError::Length(b.len()))?;
        let version = u32_at(b, 0x00);
        if version < MIN_VERSION {
            return Err(ReportError::Version(version));
        }
        Ok(Self {
            version,
            guest_svn: u32_at(b, 0x04),
            policy: GuestPolicy(u64_at(b, 0x08)),
            family_id: arr(b, 0x10),
            image_id: arr(b, 0x20),
            vmpl: u32_at(b, 0x30),
            sig_algo: u32_at(b, 0x34),
            current_tcb: arr(b, 0x38),
            platform_info: u64_at(b, 0x40),
            key_info: u32_at(b, 0x48),
            report_data: arr(b, 0x50),
            measurement: arr(b, 0x90),
            host_data: arr(b, 0xC0),
            id_key_digest: arr(b, 0xE0),
            author_key_digest: arr(b, 0x110),
            report_id: arr(b, 0x140),
            report_id_ma: arr(b, 0x160),
            reported_tcb: arr(b, 0x180),
            cpuid: (version >= 3).then(|| (b[0x188], b[0x189], b[0x18A])),
            chip_id: arr(b, 0x1A0),
            committed_tcb: arr(b, 0x1E0),
            launch_tcb: arr(b, 0x1F0),
            signature_r: arr(b, 0x2A0),
            signature_s: arr(b, 0x2E8),
            raw: Box::new(raw),
        })
    }

    /// The whole report.
    pub fn as_bytes(&self) -> &[u8; REPORT_LEN] {
        &self.raw
    }

    /// The bytes the signature covers (`0x000..0x2A0`).
    pub fn signed_bytes(&self) -> &[u8] {
        &self.raw[..SIGNED_LEN]
    }

    /// Which key signed the report.
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_bits(((self.key_info >> 2) & 0x7) as u8)
    }

    /// AUTHOR_KEY_EN: the ID key was certified by an author key.
    pub fn author_key_en(&self) -> bool {
        self.key_info & 1 != 0
    }

    /// MASK_CHIP_KEY: the VCEK is not used (the report is then unsigned).
    pub fn mask_chip_key(&self) -> bool {
        self.key_info & 2 != 0
    }

    /// The product line named by the report's CPUID fields, if the report
    /// has them (version 3 and later) and they name a known product.
    pub fn cpuid_product(&self) -> Option<Product> {
        self.cpuid.and_then(|(f, m, _)| Product::from_cpuid(f, m))
    }

    /// The signature as the 96-byte big-endian `r || s` of
    /// `ECDSA_P384_SHA384_FIXED`. Refuses components whose bytes 48..72
    /// (beyond a P-384 scalar) are not zero.
    pub fn signature_fixed(&self) -> Result<[u8; 96], ReportError> {
        let mut out = [0u8; 96];
        for (i, (name, le)) in [("r", &self.signature_r), ("s", &self.signature_s)]
            .into_iter()
            .enumerate()
        {
            if le[48..].iter().any(|&b| b != 0) {
                return Err(ReportError::SignatureHighBytes(name));
            }
            let dst = &mut out[i * 48..(i + 1) * 48];
            for (d, s) in dst.iter_mut().zip(le[..48].iter().rev()) {
                *d = *s;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(version: u32) -> Vec<u8> {
        let mut b = vec![0u8; REPORT_LEN];
        b[0..4].copy_from_slice(&version.to_le_bytes());
        b[0x34..0x38].copy_from_slice(&1u32.to_le_bytes());
        b
    }

    #[test]
    fn lengths_and_versions_are_checked() {
        assert_eq!(AttestationReport::parse(&[0; 10]), Err(ReportError::Length(10)));
        assert_eq!(
            AttestationReport::parse(&[0; REPORT_LEN + 1]),
            Err(ReportError::Length(REPORT_LEN + 1))
        );
        assert_eq!(AttestationReport::parse(&blank(1)), Err(ReportError::Version(1)));
        assert!(AttestationReport::parse(&blank(2)).is_ok());
        assert!(looks_like_report(&blank(5)));
        assert!(!looks_like_report(&blank(6)));
        let mut b = blank(2);
        b[0x34] = 2;
        assert!(!looks_like_report(&b));
    }

    #[test]
    fn fields_decode_at_their_offsets() {
        let mut b = blank(3);
        b[0x08..0x10].copy_from_slice(&(1u64 << 19 | 1 << 16).to_le_bytes());
        b[0x30] = 2;
        b[0x48] = 1 << 2; // VLEK
        b[0x188] = 0x1a;
        b[0x189] = 0x02;
        b[0x180..0x188].copy_from_slice(&[1, 2, 3, 4, 0, 0, 0, 5]);
        let r = AttestationReport::parse(&b).unwrap();
        assert!(r.policy.debug() && r.policy.smt());
        assert_eq!(r.vmpl, 2);
        assert_eq!(r.signing_key(), SigningKey::Vlek);
        assert_eq!(r.cpuid_product(), Some(Product::Turin));
        let t = Tcb::decode(r.reported_tcb, Product::Turin);
        assert_eq!((t.fmc, t.bootloader, t.tee, t.snp, t.microcode), (Some(1), 2, 3, 4, 5));
        assert_eq!(t.encode(Product::Turin), r.reported_tcb);
        let m = Tcb::decode([3, 0, 0, 0, 0, 0, 8, 115], Product::Milan);
        assert_eq!((m.fmc, m.bootloader, m.tee, m.snp, m.microcode), (None, 3, 0, 8, 115));
    }

    #[test]
    fn signature_is_converted_to_big_endian_and_high_bytes_refused() {
        let mut b = blank(2);
        b[0x2A0] = 0x11; // least significant byte of r
        b[0x2A0 + 47] = 0x22; // most significant byte of r
        b[0x2E8] = 0x33;
        let r = AttestationReport::parse(&b).unwrap();
        let sig = r.signature_fixed().unwrap();
        assert_eq!((sig[0], sig[47], sig[95]), (0x22, 0x11, 0x33));
        b[0x2A0 + 48] = 1;
        let r = AttestationReport::parse(&b).unwrap();
        assert_eq!(r.signature_fixed(), Err(ReportError::SignatureHighBytes("r")));
        b[0x2A0 + 48] = 0;
        b[0x2E8 + 71] = 1;
        let r = AttestationReport::parse(&b).unwrap();
        assert_eq!(r.signature_fixed(), Err(ReportError::SignatureHighBytes("s")));
    }

    #[test]
    fn version_2_reports_have_no_cpuid_fields() {
        let mut b = blank(2);
        b[0x188] = 0x1a;
        b[0x189] = 0x02;
        let r = AttestationReport::parse(&b).unwrap();
        assert_eq!(r.cpuid, None, "bytes 0x188.. are reserved before version 3");
        assert_eq!(r.cpuid_product(), None);
        b[0..4].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            AttestationReport::parse(&b).unwrap().cpuid_product(),
            Some(Product::Turin)
        );
    }
}
