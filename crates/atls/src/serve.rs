//! `atls serve` and `atls connect`: attested TLS between two processes.

use std::path::PathBuf;
use std::sync::Arc;

use attested_tls::attester::Attester;
use attested_tls::net::{self, AttestationConfig};
use attested_tls::policy::Policy;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::Failure;

/// How this side attests.
#[derive(clap::Args, Clone)]
pub struct AttesterArgs {
    /// Attester: `sim` (simulated TEE, needs --sim-instance), `configfs`
    /// (Linux configfs-tsm: SEV-SNP, TDX or CCA guest), or `none`.
    #[arg(long, default_value = "none")]
    attester: String,
    /// Simulated instance file written by `atls sim init`.
    #[arg(long)]
    sim_instance: Option<PathBuf>,
    /// configfs-tsm report directory.
    #[arg(long, default_value = "/sys/kernel/config/tsm/report")]
    tsm_dir: PathBuf,
}

impl AttesterArgs {
    fn build(&self) -> Result<Option<Arc<dyn Attester>>, Failure> {
        match self.attester.as_str() {
            "none" => Ok(None),
            "sim" => {
                let path = self
                    .sim_instance
                    .as_ref()
                    .ok_or_else(|| Failure::input("--attester sim needs --sim-instance FILE (see `atls sim init`)"))?;
                let inst = attested_tls::sim::SimInstance::load(path).map_err(Failure::input)?;
                Ok(Some(Arc::new(attested_tls::sim::SimAttester::new(inst))))
            }
            "configfs" => configfs_attester(&self.tsm_dir),
            other => Err(Failure::input(format!(
                "unknown attester {other:?} (sim, configfs, none)"
            ))),
        }
    }
}

fn configfs_attester(dir: &std::path::Path) -> Result<Option<Arc<dyn Attester>>, Failure> {
    crate::verify::configfs_attester(dir)
}

/// Arguments of `atls serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:4433")]
    listen: String,
    #[command(flatten)]
    attester: AttesterArgs,
    /// Require clients to attest, appraised with this policy.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// TLS certificate chain (PEM); default: a fresh self-signed one.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// Forward attested connections to this TCP address instead of echoing.
    #[arg(long)]
    forward: Option<String>,
    /// Serve one connection, then exit.
    #[arg(long)]
    once: bool,
}

fn load_policy(path: &std::path::Path) -> Result<attested_tls::verifier::Appraiser, Failure> {
    let p = Policy::load(path).map_err(Failure::input)?;
    p.appraiser().map_err(Failure::input)
}

fn tls_identity(args: &ServeArgs) -> Result<Arc<rustls::ServerConfig>, Failure> {
    match (&args.cert, &args.key) {
        (Some(c), Some(k)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
                .map_err(|e| Failure::input(format!("{}: {e}", c.display())))?
                .collect::<Result<_, _>>()
                .map_err(|e| Failure::input(format!("{}: {e}", c.display())))?;
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| Failure::input(format!("{}: {e}", k.display())))?;
            net::tls::server_config(chain, key).map_err(Failure::input)
        }
        _ => crate::demo::server_tls(),
    }
}

pub async fn serve(args: ServeArgs) -> Result<u8, Failure> {
    let mut cfg = AttestationConfig::default();
    if let Some(a) = args.attester.build()? {
        cfg = cfg.with_attester(a).map_err(Failure::input)?;
    }
    if let Some(p) = &args.policy {
        cfg = cfg.with_appraiser(load_policy(p)?);
    }
    if cfg.attester.is_none() && cfg.appraiser.is_none() {
        return Err(Failure::input("nothing to attest: give --attester and/or --policy"));
    }
    let tls = tls_identity(&args)?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Failure::input(format!("cannot listen on {}: {e}", args.listen)))?;
    eprintln!(
        "atls: serving attested TLS on {}",
        listener.local_addr().map_err(Failure::input)?
    );
    loop {
        let (tcp, peer) = listener.accept().await.map_err(Failure::input)?;
        let _ = tcp.set_nodelay(true);
        let (tls, cfg, forward) = (tls.clone(), cfg.clone(), args.forward.clone());
        let task = tokio::spawn(async move {
            match net::accept(&tls, tcp, &cfg).await {
                Err(e) => eprintln!("atls: {peer}: refused: {e}"),
                Ok((stream, ear)) => {
                    match &ear {
                        Some(e) => eprintln!("atls: {peer}: client attested: {}", e.status),
                        None => eprintln!("atls: {peer}: attested to client"),
                    }
                    let r = match forward {
                        Some(addr) => forward_to(stream, &addr).await,
                        None => echo(stream).await,
                    };
                    if let Err(e) = r {
                        eprintln!("atls: {peer}: {e}");
                    }
                }
            }
        });
        if args.once {
            task.await.map_err(Failure::input)?;
            return Ok(0);
        }
    }
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(stream: S) -> std::io::Result<()> {
    let (mut r, mut w) = tokio::io::split(stream);
    tokio::io::copy(&mut r, &mut w).await?;
    w.shutdown().await
}

async fn forward_to<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, addr: &str) -> std::io::Result<()> {
    let mut upstream = tokio::net::TcpStream::connect(addr).await?;
    tokio::io::copy_bidirectional(&mut stream, &mut upstream)
        .await
        .map(|_| ())
}

/// Arguments of `atls connect`.
#[derive(clap::Args)]
pub struct ConnectArgs {
    /// Server address (host:port).
    addr: String,
    /// Appraisal policy for the server's Evidence.
    #[arg(long)]
    policy: PathBuf,
    /// TLS server name.
    #[arg(long, default_value = "atls-server")]
    server_name: String,
    #[command(flatten)]
    attester: AttesterArgs,
    /// Print the server's attestation result as EAR JSON (on stderr).
    #[arg(long)]
    json: bool,
}

pub async fn connect(args: ConnectArgs) -> Result<u8, Failure> {
    let mut cfg = AttestationConfig::verifier(load_policy(&args.policy)?);
    if let Some(a) = args.attester.build()? {
        cfg = cfg.with_attester(a).map_err(Failure::input)?;
    }
    let tcp = tokio::net::TcpStream::connect(&args.addr)
        .await
        .map_err(|e| Failure::input(format!("cannot connect to {}: {e}", args.addr)))?;
    let _ = tcp.set_nodelay(true);
    let tls = net::tls::client_config().map_err(Failure::input)?;
    let (stream, ear) = match net::connect(&tls, &args.server_name, tcp, &cfg).await {
        Ok(x) => x,
        Err(e) => {
            if let (true, Some(ear)) = (args.json, e.peer_ear()) {
                eprintln!("{}", ear.to_json_pretty());
            }
            return Err(Failure::refused(format!("server refused: {e}")));
        }
    };
    if let Some(ear) = &ear {
        if args.json {
            eprintln!("{}", ear.to_json_pretty());
        } else {
            eprint!("{}", ear.render());
        }
    }
    let (mut r, mut w) = tokio::io::split(stream);
    let up = async {
        tokio::io::copy(&mut tokio::io::stdin(), &mut w).await?;
        w.shutdown().await
    };
    let down = async {
        let mut out = tokio::io::stdout();
        tokio::io::copy(&mut r, &mut out).await?;
        out.flush().await
    };
    let (a, b) = tokio::join!(up, down);
    a.and(b).map_err(|e| Failure::input(format!("connection error: {e}")))?;
    Ok(0)
}
