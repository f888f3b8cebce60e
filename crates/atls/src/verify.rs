//! `atls verify`: offline appraisal of one piece of Evidence.
//!
//! The platform is detected from the CMW media type, or from the bytes of
//! raw Evidence (an SEV-SNP report, a TDX or SGX quote, a CCA token,
//! simulated Evidence). Files may be binary or ASCII hex (with or without a
//! `0x` prefix). The binding is never skipped: `--report-data` is required.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use attested_tls::attester::Attester;
use attested_tls::binder::ExpectedBinding;
use attested_tls::cmw::Cmw;
use attested_tls::ear::{Ear, Tier};
use attested_tls::policy::Policy;

use crate::Failure;

/// Arguments of `atls verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Evidence file: a CMW (CBOR or JSON), or raw platform Evidence
    /// (binary or hex).
    #[arg(long)]
    evidence: PathBuf,
    /// SEV-SNP certificates (VCEK/VLEK, ASK/ASVK): a PEM/DER file or a
    /// directory. Never roots: a self-signed certificate here is ignored
    /// (and reported) unless it is a built-in AMD ARK.
    #[arg(long)]
    certs: Vec<PathBuf>,
    /// An SEV-SNP root (ARK, PEM/DER, self-signed) to trust besides the
    /// built-in AMD roots, as the policy's `trusted_arks`. Repeatable.
    #[arg(long, value_name = "FILE")]
    trust_ark: Vec<PathBuf>,
    /// Intel DCAP collateral (JSON file or directory of them), for TDX and SGX.
    #[arg(long)]
    collateral: Vec<PathBuf>,
    /// Appraisal policy (TOML). Without one, every platform is appraised
    /// with its strictest default (no reference values: never affirming).
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Expected report data / binder-derived value (64 bytes, hex).
    #[arg(long)]
    report_data: Option<String>,
    /// Verification time (RFC 3339, e.g. 2025-07-01T00:00:00Z); default now.
    #[arg(long)]
    at: Option<String>,
    /// Print the EAR as JSON.
    #[arg(long)]
    json: bool,
    /// Also print the EAR as a JWT signed with this PKCS#8 PEM key (P-256,
    /// P-384 or Ed25519), for the passport model.
    #[arg(long)]
    sign_ear: Option<PathBuf>,
}

/// The configfs-tsm attester, for `serve`/`connect --attester configfs`.
pub fn configfs_attester(dir: &Path) -> Result<Option<Arc<dyn Attester>>, Failure> {
    Ok(Some(Arc::new(attested_tls::platform::configfs::ConfigfsAttester::new(
        dir,
    ))))
}

/// Largest Evidence file read: the largest CMW the `cmw_attestation`
/// extension carries, as hex (twice the bytes), plus 64 KiB of slack for
/// line breaks, a `0x` prefix or JSON wrapping. Raw platform Evidence is
/// smaller than a CMW holding it.
pub const MAX_EVIDENCE_FILE_LEN: u64 = 2 * attested_tls::cmw::MAX_CMW_LEN as u64 + 64 * 1024;

/// Largest certificate bundle (`--certs`) or collateral file
/// (`--collateral`): the library's limit for such files.
pub const MAX_BUNDLE_FILE_LEN: u64 = attested_tls::fsutil::MAX_BUNDLE_FILE_LEN;

/// Reads an input file, refusing devices, FIFOs and files over `limit`.
pub fn read_input(path: &Path, limit: u64) -> Result<Vec<u8>, Failure> {
    attested_tls::fsutil::read_bounded(path, limit)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))
}

/// `--certs` / `--collateral` files are read by the library's loaders;
/// check up front that each one named directly is a regular file within
/// the limit, so `/dev/zero` or a FIFO fails at once instead of exhausting
/// memory or blocking. (Directory entries are already filtered to regular
/// files by the loaders.)
fn check_bundle_paths(flag: &str, paths: &[PathBuf]) -> Result<(), Failure> {
    for p in paths {
        if p.is_dir() {
            continue;
        }
        attested_tls::fsutil::check_regular_file(p, MAX_BUNDLE_FILE_LEN)
            .map_err(|e| Failure::input(format!("{flag} {}: {e}", p.display())))?;
    }
    Ok(())
}

/// `paths` made absolute against the working directory.
fn absolute_paths(flag: &str, paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    paths
        .iter()
        .map(|p| std::path::absolute(p).map_err(|e| Failure::input(format!("{flag} {}: {e}", p.display()))))
        .collect()
}

/// Reads a file, decoding ASCII hex if that is what it holds.
pub fn read_evidence(path: &Path) -> Result<Vec<u8>, Failure> {
    let raw = read_input(path, MAX_EVIDENCE_FILE_LEN)?;
    let text = std::str::from_utf8(&raw).ok().map(str::trim);
    if let Some(t) = text {
        let t = t.strip_prefix("0x").unwrap_or(t);
        let compact: String = t.split_whitespace().collect();
        if !compact.is_empty() && compact.len() % 2 == 0 && compact.bytes().all(|b| b.is_ascii_hexdigit()) {
            return hex::decode(compact).map_err(|e| Failure::input(format!("{}: {e}", path.display())));
        }
    }
    Ok(raw)
}

/// Without `--policy`: every platform section at its strictest default (no
/// reference values, so never affirming), keeping only the sections that can
/// be built that way (`[snp]` insists on measurements and needs a policy).
fn default_policy() -> Policy {
    let mut p = Policy {
        id: "atls-verify-strict-default".into(),
        ..Default::default()
    };
    let try_section = |p: &Policy| p.appraiser().is_ok();
    p.tdx = Some(Default::default());
    p.sgx = Some(Default::default());
    p.cca = Some(Default::default());
    let mut with_snp = p.clone();
    with_snp.snp = Some(Default::default());
    if try_section(&with_snp) {
        p = with_snp;
    }
    p
}

/// Media type of raw Evidence recognized by the verifier of `platform`.
fn raw_media_type(platform: &str) -> Option<&'static str> {
    Some(match platform {
        "sim" => attested_tls::sim::SIM_MEDIA_TYPE,
        "snp" => attested_tls::platform::snp::MEDIA_TYPE_REPORT,
        "tdx" => attested_tls::platform::dcap::TDX_MEDIA_TYPE,
        "sgx" => attested_tls::platform::dcap::SGX_MEDIA_TYPE,
        "cca" => attested_tls::platform::cca::MEDIA_TYPE,
        _ => return None,
    })
}

pub fn run(args: VerifyArgs) -> Result<u8, Failure> {
    let expected = match &args.report_data {
        Some(h) => ExpectedBinding::report_data_from_hex(h).map_err(Failure::input)?,
        None => {
            return Err(Failure::input(
                "--report-data HEX is required: the binding of Evidence is never left unchecked \
                 (give the 64-byte value the Evidence must carry)",
            ))
        }
    };
    let now = match &args.at {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| Failure::input(format!("--at {t:?} is not an RFC 3339 time: {e}")))?,
        None => time::OffsetDateTime::now_utc(),
    };
    let mut policy = match &args.policy {
        Some(p) => Policy::load(p).map_err(Failure::input)?,
        None => default_policy(),
    };
    check_bundle_paths("--certs", &args.certs)?;
    check_bundle_paths("--collateral", &args.collateral)?;
    check_bundle_paths("--trust-ark", &args.trust_ark)?;
    // The policy resolves relative paths against its own directory; the
    // command line's are relative to the working directory.
    let certs = absolute_paths("--certs", &args.certs)?;
    let collateral = absolute_paths("--collateral", &args.collateral)?;
    let trust_arks = absolute_paths("--trust-ark", &args.trust_ark)?;
    if !trust_arks.is_empty() {
        policy
            .snp
            .get_or_insert_with(Default::default)
            .trusted_arks
            .extend(trust_arks);
    }
    if !certs.is_empty() {
        policy.snp.get_or_insert_with(Default::default).certs.extend(certs);
    }
    if !collateral.is_empty() {
        policy
            .tdx
            .get_or_insert_with(Default::default)
            .collateral
            .extend(collateral.iter().cloned());
        policy
            .sgx
            .get_or_insert_with(Default::default)
            .collateral
            .extend(collateral);
    }
    let appraiser = policy.appraiser().map_err(Failure::input)?;
    let bytes = read_evidence(&args.evidence)?;

    let ear: Ear = match Cmw::decode(&bytes) {
        Ok(cmw) if !looks_raw(&appraiser, &bytes) => appraiser.appraise_cmw(&cmw, &expected, now),
        _ => {
            let v = appraiser.detect(&bytes).ok_or_else(|| {
                Failure::input(format!(
                    "{}: not a CMW, and no verifier of policy {} recognizes the bytes",
                    args.evidence.display(),
                    policy.id
                ))
            })?;
            let mt = raw_media_type(v.platform()).ok_or_else(|| Failure::input("unknown platform"))?;
            appraiser.appraise_raw(mt, &bytes, &expected, now)
        }
    };
    if args.json {
        println!("{}", ear.to_json_pretty());
    } else {
        print!("{}", ear.render());
    }
    if let Some(k) = &args.sign_ear {
        let pem = read_input(k, attested_tls::fsutil::MAX_CONFIG_FILE_LEN)?;
        let key = attested_tls::ear_jwt::SigningKeyPem::from_pem(&pem).map_err(Failure::input)?;
        println!(
            "{}",
            attested_tls::ear_jwt::sign_ear_jwt(&ear, &key).map_err(Failure::input)?
        );
    }
    Ok(match ear.status {
        Tier::Affirming if ear.is_affirming() => 0,
        Tier::Warning if ear.is_acceptable() => 3,
        _ => 1,
    })
}

/// Raw Evidence that also happens to parse as CBOR (a CCA token is a CBOR
/// tag, simulated Evidence a tagged COSE_Sign1) is treated as raw.
fn looks_raw(appraiser: &attested_tls::verifier::Appraiser, bytes: &[u8]) -> bool {
    appraiser.detect(bytes).is_some()
}
