//! `atls verify`: offline appraisal of one piece of Evidence.
//!
//! The platform is detected from the CMW media type, or from the bytes of
//! raw Evidence (an SEV-SNP report, a TDX or SGX quote, a CCA token,
//! simulated Evidence). Files may be binary or ASCII hex (with or without a
//! `0x` prefix). The binding is never skipped: `--report-data` is required.
//!
//! Without `--policy` every platform is treated alike: the Evidence is
//! verified (signatures, chains, collateral, binding) and its claims are
//! printed, but the result is never affirming (see [`crate::policy_init`]).

use std::path::{Path, PathBuf};

use attested_tls::binder::ExpectedBinding;
use attested_tls::cmw::Cmw;
use attested_tls::ear::{escape_control, Ear, Tier};
use attested_tls::policy::Policy;

use crate::Failure;

/// Arguments of `atls verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// Evidence file: a CMW (CBOR or JSON), or raw platform Evidence
    /// (binary or hex).
    #[arg(long)]
    evidence: PathBuf,
    #[command(flatten)]
    inputs: EvidenceInputArgs,
    /// Appraisal policy (TOML). Without one, the Evidence is verified and
    /// its claims are printed, but nothing is affirming (exit 1).
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

/// Certificates, roots and collateral given with Evidence: one set of
/// flags for `atls verify`, `atls policy init` and `atls inspect`.
#[derive(clap::Args)]
pub struct CertInputArgs {
    /// Certificates (PEM/DER files or directories): SEV-SNP intermediates
    /// and endorsement keys (ASK, VCEK/VLEK; a self-signed certificate here
    /// is never a root: it is ignored, and reported, unless it is a built-in
    /// AMD ARK); for `atls inspect` also an attestation service's CA for
    /// tokens.
    #[arg(long)]
    pub certs: Vec<PathBuf>,
    /// An SEV-SNP root (ARK, PEM/DER, self-signed) to trust besides the
    /// built-in AMD roots, as the policy's `trusted_arks`. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub trust_ark: Vec<PathBuf>,
    /// Intel DCAP collateral (JSON file or directory of them), for TDX and SGX.
    #[arg(long)]
    pub collateral: Vec<PathBuf>,
}

/// The Evidence inputs of `atls verify` and `atls policy init`:
/// [`CertInputArgs`] and the trust anchors of the simulated TEE and CCA.
#[derive(clap::Args)]
pub struct EvidenceInputArgs {
    #[command(flatten)]
    pub bundles: CertInputArgs,
    /// Simulation root certificate (PEM) to trust for simulated Evidence;
    /// added to `[sim] trusted_roots`.
    #[arg(long)]
    pub sim_root: Vec<PathBuf>,
    /// Arm CCA trust anchors (JSON list of instance id, implementation id
    /// and CPAK); added to `[cca] trust_anchors`.
    #[arg(long)]
    pub cca_trust_anchors: Vec<PathBuf>,
}

impl EvidenceInputArgs {
    /// The inputs as [`EvidenceInputs`].
    pub fn inputs(&self) -> EvidenceInputs<'_> {
        EvidenceInputs {
            certs: &self.bundles.certs,
            trust_arks: &self.bundles.trust_ark,
            collateral: &self.bundles.collateral,
            sim_roots: &self.sim_root,
            cca_trust_anchors: &self.cca_trust_anchors,
        }
    }
}

/// What comes with Evidence besides the policy: certificates, collateral
/// and trust anchors (`atls verify` and `atls policy init` take the same).
pub struct EvidenceInputs<'a> {
    /// `--certs`: SEV-SNP certificates (intermediates and leaves).
    pub certs: &'a [PathBuf],
    /// `--trust-ark`: SEV-SNP roots to trust besides the built-in AMD roots.
    pub trust_arks: &'a [PathBuf],
    /// `--collateral`: Intel DCAP collateral.
    pub collateral: &'a [PathBuf],
    /// `--sim-root`: simulation roots.
    pub sim_roots: &'a [PathBuf],
    /// `--cca-trust-anchors`: CCA trust-anchor files.
    pub cca_trust_anchors: &'a [PathBuf],
}

impl EvidenceInputs<'_> {
    /// Checks every named file up front (see [`check_bundle_paths`]).
    pub fn check_paths(&self) -> Result<(), Failure> {
        check_bundle_paths("--certs", self.certs)?;
        check_bundle_paths("--trust-ark", self.trust_arks)?;
        check_bundle_paths("--collateral", self.collateral)?;
        check_bundle_paths("--sim-root", self.sim_roots)?;
        check_bundle_paths("--cca-trust-anchors", self.cca_trust_anchors)
    }

    /// Adds the inputs to the policy's sections, and returns a note for
    /// each flag that no section of the policy takes (it is not used: a
    /// section created for it would have no reference values and refuse to
    /// load). Paths from the command line are relative to the working
    /// directory, not to the policy file, so they are made absolute first.
    pub fn add_to(&self, policy: &mut Policy) -> Result<Vec<String>, Failure> {
        let id = escape_control(&policy.id).into_owned();
        let mut unused = Vec::new();
        // Appends `paths` to every list given (one per section that takes
        // the flag and is present); notes the flag when there is none.
        let mut add = |flag: &str, sections: &str, paths: &[PathBuf], lists: Vec<Option<&mut Vec<PathBuf>>>| {
            if paths.is_empty() {
                return Ok::<(), Failure>(());
            }
            let abs = paths.iter().map(|p| absolute(p)).collect::<Result<Vec<_>, _>>()?;
            let mut used = false;
            for list in lists.into_iter().flatten() {
                list.extend(abs.iter().cloned());
                used = true;
            }
            if !used {
                unused.push(format!(
                    "{flag} was not used: policy {id} has no {sections} section (Evidence of that platform \
                     would be refused anyway)"
                ));
            }
            Ok(())
        };
        add(
            "--certs",
            "[snp]",
            self.certs,
            vec![policy.snp.as_mut().map(|s| &mut s.certs)],
        )?;
        add(
            "--trust-ark",
            "[snp]",
            self.trust_arks,
            vec![policy.snp.as_mut().map(|s| &mut s.trusted_arks)],
        )?;
        add(
            "--collateral",
            "[tdx] or [sgx]",
            self.collateral,
            vec![
                policy.tdx.as_mut().map(|s| &mut s.collateral),
                policy.sgx.as_mut().map(|s| &mut s.collateral),
            ],
        )?;
        add(
            "--sim-root",
            "[sim]",
            self.sim_roots,
            vec![policy.sim.as_mut().map(|s| &mut s.trusted_roots)],
        )?;
        add(
            "--cca-trust-anchors",
            "[cca]",
            self.cca_trust_anchors,
            vec![policy.cca.as_mut().map(|s| &mut s.trust_anchors)],
        )?;
        Ok(unused)
    }
}

/// `path` made absolute against the working directory.
pub fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path).map_err(|e| Failure::input(format!("{}: {e}", path.display())))
}

/// Parses `--at` (RFC 3339); none: now.
pub fn parse_at(at: Option<&str>) -> Result<time::OffsetDateTime, Failure> {
    match at {
        Some(t) => time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|e| Failure::input(format!("--at {t:?} is not an RFC 3339 time: {e}"))),
        None => Ok(time::OffsetDateTime::now_utc()),
    }
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
    let now = parse_at(args.at.as_deref())?;
    let inputs = args.inputs.inputs();
    let policy = match &args.policy {
        Some(p) => Some(Policy::load(p).map_err(Failure::input)?),
        None => None,
    };
    inputs.check_paths()?;
    let bytes = read_evidence(&args.evidence)?;
    let (ear, no_policy_hint) = match policy {
        Some(mut policy) => {
            if policy.host_identity.is_some() {
                // Said, not silently dropped: I1 needs a connection.
                eprintln!(
                    "atls: note: policy {} requires host identity (I1); it concerns the attested key's \
                     certificate on a connection and is not checked on Evidence alone",
                    escape_control(&policy.id)
                );
            }
            for note in inputs.add_to(&mut policy)? {
                eprintln!("atls: note: {note}");
            }
            (
                appraise_evidence(&policy, &bytes, &args.evidence, &expected, now)?,
                None,
            )
        }
        None => {
            let (ear, hint) =
                crate::policy_init::appraise_without_policy(&inputs, &bytes, &args.evidence, &expected, now)?;
            (ear, Some(hint))
        }
    };
    if args.json {
        outln!("{}", ear.to_json_pretty());
    } else {
        out!("{}", ear.render());
        if let Some(h) = &no_policy_hint {
            outln!("{h}");
        }
    }
    if let Some(k) = &args.sign_ear {
        let pem = read_input(k, attested_tls::fsutil::MAX_CONFIG_FILE_LEN)?;
        let key = attested_tls::ear_jwt::SigningKeyPem::from_pem(&pem).map_err(Failure::input)?;
        outln!(
            "{}",
            attested_tls::ear_jwt::sign_ear_jwt(&ear, &key).map_err(Failure::input)?
        );
    }
    if no_policy_hint.is_some() {
        // Never affirming without a policy, whatever the EAR says.
        return Ok(1);
    }
    Ok(match ear.status {
        Tier::Affirming if ear.is_affirming() => 0,
        Tier::Warning if ear.is_acceptable() => 3,
        _ => 1,
    })
}

/// Appraises Evidence (a CMW, or raw Evidence of a platform the policy has
/// a section for) under `policy`.
pub fn appraise_evidence(
    policy: &Policy,
    bytes: &[u8],
    path: &Path,
    expected: &ExpectedBinding,
    now: time::OffsetDateTime,
) -> Result<Ear, Failure> {
    let appraiser = policy.appraiser().map_err(Failure::input)?;
    Ok(match Cmw::decode(bytes) {
        Ok(cmw) if !looks_raw(&appraiser, bytes) => appraiser.appraise_cmw(&cmw, expected, now),
        _ => {
            let v = appraiser.detect(bytes).ok_or_else(|| {
                Failure::input(format!(
                    "{}: not a CMW, and no verifier of policy {} recognizes the bytes",
                    path.display(),
                    policy.id
                ))
            })?;
            let mt = raw_media_type(v.platform()).ok_or_else(|| Failure::input("unknown platform"))?;
            appraiser.appraise_raw(mt, bytes, expected, now)
        }
    })
}

/// Raw Evidence that also happens to parse as CBOR (a CCA token is a CBOR
/// tag, simulated Evidence a tagged COSE_Sign1) is treated as raw.
fn looks_raw(appraiser: &attested_tls::verifier::Appraiser, bytes: &[u8]) -> bool {
    appraiser.detect(bytes).is_some()
}
