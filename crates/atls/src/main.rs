//! `atls`: attested TLS from the command line.
//!
//! Exit codes: 0 success (attestation affirming), 1 attestation refused or
//! a vector mismatch, 2 usage or input error, 3 accepted with warnings
//! (policy-allowed exceptions; `verify` only), 4 connection failed (network,
//! timeout, protocol error; `serve --once`, `connect`).
#![forbid(unsafe_code)]

/// `println!` to standard output, without the panic on a closed pipe
/// (see [`output`]).
macro_rules! outln {
    () => {
        $crate::output::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*), true)
    };
}

/// `print!` to standard output, without the panic on a closed pipe (see
/// [`output`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*), false)
    };
}

mod bench;
mod bench_proxy;
mod demo;
mod early;
mod inspect;
mod lab;
mod load;
mod output;
mod policy_init;
mod profiles;
mod proxy;
mod serve;
mod verifier;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use attested_tls::ear::escape_control;
use clap::{Parser, Subcommand};

/// Attested TLS for confidential computing (post-handshake Exported
/// Attestation, draft-fossati-seat-expat-04 over RFC 9261).
#[derive(Parser)]
#[command(name = "atls", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// An attested server and client in one process on the simulated TEE.
    Demo(demo::DemoArgs),
    /// Serve attested TLS: attest to each client, then echo or forward.
    Serve(serve::ServeArgs),
    /// Connect to an attested server, appraise it, then pipe stdin/stdout.
    Connect(serve::ConnectArgs),
    /// Simulated TEE management.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// RFC 9261 / seat-expat worked vectors.
    Vectors {
        #[command(subcommand)]
        command: VectorsCommand,
    },
    /// Appraise one piece of Evidence offline.
    Verify(verify::VerifyArgs),
    /// Inspect an attested certificate, CSR, token or authenticator of another system.
    Inspect(inspect::InspectArgs),
    /// Appraisal policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Measure attested vs plain TLS 1.3 and authenticate+validate cost.
    Bench(bench::BenchArgs),
    /// Reference values from a CoRIM.
    Corim {
        #[command(subcommand)]
        command: CorimCommand,
    },
    /// Run the attack lab: relay, diversion and replay attacks against each mode over loopback TLS.
    Lab(lab::LabArgs),
    /// Remote verifier: a challenge-response HTTP service issuing signed EARs.
    Verifier {
        #[command(subcommand)]
        command: verifier::VerifierCommand,
    },
    /// Load over loopback: many attested connections at once, every byte
    /// echoed and checked; reports setup p50/p99 and throughput (exit 1 on
    /// any failure).
    Load(load::LoadArgs),
    /// Soak over loopback: connect / re-attest / transfer / close at a
    /// steady rate for a duration, sampling the server side's resident
    /// memory and open descriptors (exit 1 on any failure).
    Soak(load::SoakArgs),
    /// Attested TLS proxy: `server` in front of a local service, `client`
    /// as a local plain listener opening attested connections upstream.
    Proxy {
        #[command(subcommand)]
        command: proxy::ProxyCommand,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Write a policy pinning what one piece of Evidence shows (its
    /// measurements, platform identity and versions as floors, strict
    /// defaults), after verifying its signatures and chain; for review.
    Init(policy_init::PolicyInitArgs),
}

#[derive(Subcommand)]
enum CorimCommand {
    /// Import a CoRIM (unsigned, or COSE-signed and checked with --key) and
    /// print a policy section with its reference values.
    Import {
        /// The CoRIM file (CBOR).
        file: PathBuf,
        /// Public key (PEM SPKI or JWK) the CoRIM must be signed with; without
        /// it only an unsigned CoRIM is accepted.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Platform section to produce: sim, snp, tdx, sgx, cca.
        #[arg(long)]
        platform: String,
        /// Machine-readable output: one JSON object `{"file", "corim_id",
        /// "signed", "platform", "reference_values", "policy_fragment"}`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// Create a simulation root, instances and a policy trusting them.
    Init {
        /// Directory to write root.pem, root.key, instance-N.toml, policy.toml.
        #[arg(long, default_value = "sim")]
        dir: PathBuf,
        /// Number of instances.
        #[arg(long, default_value_t = 2)]
        instances: usize,
        /// Measurement of the instances (hex; default: a fixed SHA-384).
        #[arg(long)]
        measurement: Option<String>,
        /// Give every instance after the first its own measurement.
        #[arg(long)]
        distinct_measurements: bool,
        /// Replace an existing world in DIR (a new root key: instances of the
        /// old root stop verifying). Without it, existing files are an error.
        #[arg(long)]
        force: bool,
        /// Machine-readable output: one JSON object `{"dir", "root",
        /// "instances": [{"file", "measurement", "instance_id"}], "policy"}`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Recompute every `[expected]` value of vector files from their `[input]`.
    Check {
        /// Vector files (TOML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// A CLI failure with its exit code.
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Usage or input error (exit 2).
    pub fn input(message: impl std::fmt::Display) -> Self {
        Self {
            code: 2,
            message: message.to_string(),
        }
    }
    /// Refusal (exit 1).
    pub fn refused(message: impl std::fmt::Display) -> Self {
        Self {
            code: 1,
            message: message.to_string(),
        }
    }
    /// The message shown for this failure.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Connection failure: network, timeout, protocol error (exit 4).
    pub fn network(message: impl std::fmt::Display) -> Self {
        Self {
            code: 4,
            message: message.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let matches = match <Cli as clap::CommandFactory>::command().try_get_matches() {
        Ok(m) => m,
        Err(e) => usage_error(e),
    };
    let json_errors = json_error_output(&matches);
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| usage_error(e));
    // `atls proxy` sets up its own logs (--log-format, from its flags or
    // configuration file).
    if !matches!(cli.command, Command::Proxy { .. }) {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = rt.block_on(async {
        match cli.command {
            Command::Demo(a) => demo::run(a).await,
            Command::Serve(a) => serve::serve(a).await,
            Command::Connect(a) => serve::connect(a).await,
            Command::Sim {
                command:
                    SimCommand::Init {
                        dir,
                        instances,
                        measurement,
                        distinct_measurements,
                        force,
                        json,
                    },
            } => sim_init(
                dir,
                attested_tls::sim::InitOptions {
                    instances,
                    measurement: None,
                    distinct_measurements,
                    force,
                },
                measurement,
                json,
            ),
            Command::Vectors {
                command: VectorsCommand::Check { files, json },
            } => vectors_check(&files, json),
            Command::Verify(a) => verify::run(a),
            Command::Inspect(a) => inspect::run(a),
            Command::Policy {
                command: PolicyCommand::Init(a),
            } => policy_init::run(a),
            Command::Bench(a) => bench::run(a).await,
            Command::Corim {
                command:
                    CorimCommand::Import {
                        file,
                        key,
                        platform,
                        json,
                    },
            } => corim_import(&file, key.as_deref(), &platform, json),
            Command::Lab(a) => lab::run(a).await,
            Command::Verifier { command } => verifier::run(command).await,
            Command::Load(a) => load::load(a).await,
            Command::Soak(a) => load::soak(a).await,
            Command::Proxy { command } => proxy::run(command).await,
        }
    });
    // A blocking read of stdin (`connect`) may never return; do not wait
    // for it when the command is done.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            // Error texts can quote input (file contents, a peer's words):
            // shown escaped, line breaks kept for multi-line messages.
            let shown: Vec<_> = f.message.split('\n').map(escape_control).collect();
            eprintln!("atls: {}", shown.join("\n"));
            json_errors.report(&f);
            ExitCode::from(f.code)
        }
    }
}

/// Where a failed command given `--json` writes its error as JSON.
enum JsonErrors {
    /// The command has no `--json`, or was not given it: the stderr line only.
    Off,
    /// `{"error", "exit_code"}` on stdout, after the stderr line.
    Stdout,
    /// The same on stderr: for `connect`, whose stdout carries the peer's data.
    Stderr,
}

impl JsonErrors {
    fn report(&self, f: &Failure) {
        let line = || serde_json::json!({ "error": f.message, "exit_code": f.code }).to_string();
        match self {
            Self::Off => {}
            Self::Stdout => outln!("{}", line()),
            Self::Stderr => eprintln!("{}", line()),
        }
    }
}

/// A command line clap refused (or `--help`/`--version`): clap's message
/// and status 2 as usual; when the arguments include `--json`, the error is
/// also given as `{"error", "exit_code"}` like any other failure, so a
/// script parsing JSON sees a misspelt flag as an error rather than as empty
/// output.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
        || !std::env::args_os().any(|a| a == "--json")
    {
        e.exit()
    }
    let _ = e.print();
    let rendered = e.render().to_string();
    let message = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid command line")
        .trim_start_matches("error: ");
    let f = Failure::input(message);
    let connect = std::env::args_os().nth(1).is_some_and(|a| a == "connect");
    if connect {
        JsonErrors::Stderr.report(&f)
    } else {
        JsonErrors::Stdout.report(&f)
    }
    std::process::exit(2)
}

/// Whether the command line's (sub)command was given `--json`: then a
/// failure is also reported as JSON. Any command with a `json` flag gets
/// this, whichever module defines it.
fn json_error_output(matches: &clap::ArgMatches) -> JsonErrors {
    let mut leaf = ("", matches);
    while let Some(sub) = leaf.1.subcommand() {
        leaf = sub;
    }
    match leaf.1.try_get_one::<bool>("json") {
        Ok(Some(true)) if leaf.0 == "connect" => JsonErrors::Stderr,
        Ok(Some(true)) => JsonErrors::Stdout,
        _ => JsonErrors::Off,
    }
}

fn sim_init(
    dir: PathBuf,
    mut opts: attested_tls::sim::InitOptions,
    measurement: Option<String>,
    json: bool,
) -> Result<u8, Failure> {
    opts.measurement = measurement
        .map(|m| hex::decode(m.trim()).map_err(|e| Failure::input(format!("--measurement is not hex: {e}"))))
        .transpose()?;
    let world = attested_tls::sim::init_with_options(&dir, &opts).map_err(Failure::input)?;
    if json {
        let instances: Vec<_> = world
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                serde_json::json!({
                    "file": dir.join(format!("instance-{i}.toml")).display().to_string(),
                    "measurement": hex::encode(&inst.config().measurement),
                    "instance_id": hex::encode(&inst.config().instance_id),
                })
            })
            .collect();
        let out = serde_json::json!({
            "dir": dir.display().to_string(),
            "root": dir.join("root.pem").display().to_string(),
            "instances": instances,
            "policy": dir.join("policy.toml").display().to_string(),
        });
        outln!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
        return Ok(0);
    }
    outln!("simulation root: {}", dir.join("root.pem").display());
    for (i, inst) in world.instances.iter().enumerate() {
        outln!(
            "instance {i}: {}  measurement {}  instance_id {}",
            dir.join(format!("instance-{i}.toml")).display(),
            hex::encode(&inst.config().measurement),
            hex::encode(&inst.config().instance_id)
        );
    }
    outln!("policy trusting them: {}", dir.join("policy.toml").display());
    Ok(0)
}

fn vectors_check(files: &[PathBuf], json: bool) -> Result<u8, Failure> {
    let mut all_ok = true;
    let mut reports = Vec::new();
    for f in files {
        // Vector files are a few KiB of TOML.
        let text = attested_tls::fsutil::read_bounded_to_string(f, attested_tls::fsutil::MAX_CONFIG_FILE_LEN)
            .map_err(|e| Failure::input(format!("cannot read {}: {e}", f.display())))?;
        let report =
            attested_tls::vectors::check_vector(&text).map_err(|e| Failure::input(format!("{}: {e}", f.display())))?;
        all_ok &= report.all_ok();
        if json {
            reports
                .push(serde_json::json!({ "file": f.display().to_string(), "ok": report.all_ok(), "report": report }));
        } else {
            outln!("{}: {}", f.display(), if report.all_ok() { "OK" } else { "MISMATCH" });
            for c in &report.checks {
                // Names and expected values are the file's own text.
                let name = escape_control(&c.name);
                if c.ok {
                    outln!("  ok        {name}");
                } else {
                    outln!("  MISMATCH  {name}");
                    outln!("    expected {}", escape_control(&c.expected));
                    outln!(
                        "    computed {}",
                        c.computed.as_deref().unwrap_or("(not computed by this implementation)")
                    );
                }
            }
            if !report.validates {
                outln!("  MISMATCH  recomputed authenticator does not validate");
            }
            for m in &report.missing {
                outln!("  MISSING   {m} (computed here, absent from [expected])");
            }
        }
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&reports).expect("json"));
    }
    Ok(if all_ok { 0 } else { 1 })
}

/// Largest CoRIM file read: the library's limit for a CoRIM.
const MAX_CORIM_FILE_LEN: u64 = attested_tls::corim::MAX_CORIM_LEN as u64;

fn corim_import(
    file: &std::path::Path,
    key: Option<&std::path::Path>,
    platform: &str,
    json: bool,
) -> Result<u8, Failure> {
    use attested_tls::corim;
    let bytes = verify::read_input(file, MAX_CORIM_FILE_LEN)?;
    let key = match key {
        Some(k) => Some(
            corim::VerificationKey::from_pem_or_jwk(&verify::read_input(k, attested_tls::fsutil::MAX_CONFIG_FILE_LEN)?)
                .map_err(Failure::input)?,
        ),
        None => None,
    };
    let values = corim::import(&bytes, key.as_ref()).map_err(|e| Failure::input(format!("{}: {e}", file.display())))?;
    let frag = corim::policy_fragment(&values, platform)
        .ok_or_else(|| Failure::input(format!("unknown platform {platform:?} (sim, snp, tdx, sgx, cca)")))?;
    if json {
        let out = serde_json::json!({
            "file": file.display().to_string(),
            "corim_id": values.corim_id,
            "signed": values.signed,
            "platform": platform,
            "reference_values": values.entries.len(),
            "policy_fragment": frag,
        });
        outln!("{}", serde_json::to_string_pretty(&out).expect("JSON"));
        return Ok(0);
    }
    out!("{frag}");
    Ok(0)
}
