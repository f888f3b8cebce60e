//! `atls verifier`: the remote verification service and its signing key.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use attested_tls::ear::VerifierId;
use attested_tls::ear_jwt::SigningKeyPem;
use attested_tls::policy::Policy;
use attested_tls_verifier::{ServiceConfig, VerifierService};

use crate::Failure;

/// `atls verifier` subcommands.
#[derive(clap::Subcommand)]
pub enum VerifierCommand {
    /// Serve the challenge-response verification API over HTTP: Evidence in,
    /// signed EAR (JWT) out (docs/verifier.md).
    Serve(ServeArgs),
    /// The key EARs are signed with.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

/// `atls verifier key` subcommands.
#[derive(clap::Subcommand)]
pub enum KeyCommand {
    /// Create a P-256 signing key (PKCS#8 PEM, mode 0600) and its public
    /// key (PEM SubjectPublicKeyInfo), the one relying parties pin.
    Init {
        /// The private key file to create (never overwritten).
        #[arg(long, default_value = "verifier.key.pem")]
        key: PathBuf,
        /// The public key file to create (never overwritten).
        #[arg(long = "pub", default_value = "verifier.pub.pem")]
        public: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `atls verifier serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port, printed).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: String,
    /// The appraisal policy Evidence is appraised with.
    #[arg(long)]
    policy: PathBuf,
    /// The key EARs are signed with (PKCS#8 PEM: P-256, P-384 or Ed25519;
    /// see `atls verifier key init`).
    #[arg(long, value_name = "KEY.pem")]
    signing_key: PathBuf,
    /// `ear_verifier_id.developer` of the EARs issued (default "attested-tls").
    #[arg(long, value_name = "ID")]
    verifier_id: Option<String>,
    /// Seconds a session lives after it is created (1..=3600).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    session_ttl: u64,
    /// Seconds an issued EAR is valid (`exp - iat`, 1..=3600).
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    result_ttl: u64,
    /// Sessions kept at once; beyond it new sessions are refused (503).
    #[arg(long, default_value_t = attested_tls_verifier::service::DEFAULT_MAX_SESSIONS, value_name = "N")]
    max_sessions: usize,
    /// Largest Evidence accepted, in bytes (at most 1 MiB).
    #[arg(long, default_value_t = attested_tls_verifier::service::MAX_EVIDENCE_LEN, value_name = "BYTES")]
    max_evidence_bytes: usize,
    /// Print the listening address as JSON (`{"listening": "ADDR"}`).
    #[arg(long)]
    json: bool,
}

/// Runs `atls verifier ...`.
pub async fn run(command: VerifierCommand) -> Result<u8, Failure> {
    match command {
        VerifierCommand::Serve(a) => serve(a).await,
        VerifierCommand::Key {
            command: KeyCommand::Init { key, public, json },
        } => key_init(&key, &public, json),
    }
}

async fn serve(a: ServeArgs) -> Result<u8, Failure> {
    let policy = Policy::load(&a.policy).map_err(Failure::input)?;
    let appraiser = policy.appraiser().map_err(Failure::input)?;
    let key_pem = attested_tls::fsutil::read_bounded(&a.signing_key, attested_tls::fsutil::MAX_CONFIG_FILE_LEN)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", a.signing_key.display())))?;
    let key =
        SigningKeyPem::from_pem(&key_pem).map_err(|e| Failure::input(format!("{}: {e}", a.signing_key.display())))?;
    let mut cfg = ServiceConfig::new(appraiser, key);
    if let Some(id) = a.verifier_id {
        cfg.verifier_id = VerifierId {
            developer: id,
            ..VerifierId::default()
        };
    }
    cfg.session_ttl = Duration::from_secs(a.session_ttl);
    cfg.result_ttl = Duration::from_secs(a.result_ttl);
    cfg.max_sessions = a.max_sessions;
    cfg.max_evidence_len = a.max_evidence_bytes;
    let service = VerifierService::new(cfg).map_err(Failure::input)?;
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .map_err(|e| Failure::input(format!("cannot listen on {}: {e}", a.listen)))?;
    let addr = listener.local_addr().map_err(Failure::input)?;
    {
        let mut out = std::io::stdout().lock();
        if a.json {
            let _ = writeln!(out, "{}", serde_json::json!({ "listening": addr.to_string() }));
        } else {
            let _ = writeln!(out, "listening on {addr}");
        }
        let _ = out.flush();
    }
    service.serve(listener).await;
    Ok(0)
}

fn key_init(key: &Path, public: &Path, json: bool) -> Result<u8, Failure> {
    for p in [key, public] {
        if p.symlink_metadata().is_ok() {
            return Err(Failure::input(format!("{} exists; not overwritten", p.display())));
        }
    }
    let pem = attested_tls::ear_jwt::generate_signing_key_pem().map_err(Failure::input)?;
    let pub_pem = SigningKeyPem::from_pem(pem.as_bytes())
        .and_then(|k| k.public_key_pem())
        .map_err(Failure::input)?;
    write_new(key, &pem, true)?;
    write_new(public, &pub_pem, false)?;
    if json {
        outln!(
            "{}",
            serde_json::json!({ "key": key.display().to_string(), "public_key": public.display().to_string(), "alg": "ES256" })
        );
    } else {
        outln!("signing key (ES256): {}", key.display());
        outln!("public key for relying parties: {}", public.display());
    }
    Ok(0)
}

/// Creates `path` (never an existing file or a symlink), 0600 for a secret.
fn write_new(path: &Path, contents: &str, secret: bool) -> Result<(), Failure> {
    let mut f = attested_tls::fsutil::new_file_options(secret)
        .open(path)
        .map_err(|e| Failure::input(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(contents.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display())))
}
