//! `atls proxy server` and `atls proxy client`: the thin command line over
//! `attested_tls_proxy` (docs/proxy.md).

use std::path::PathBuf;

use attested_tls_proxy::{BackendProtocol, ClientProxy, LogFormat, ProxyConfig, ServerProxy};

use crate::Failure;

/// `atls proxy` subcommands.
#[derive(clap::Subcommand)]
pub enum ProxyCommand {
    /// Terminate attested TLS in front of a local service (the backend).
    Server(ServerArgs),
    /// A local plain listener that opens attested connections upstream and
    /// forwards nothing unless the server's appraisal passed.
    Client(ClientArgs),
}

/// Flags of both sides. Every flag is also a key of `--config FILE.toml`
/// (`-` → `_`); a flag given overrides the file.
#[derive(clap::Args)]
pub struct CommonArgs {
    /// Address to listen on (default 127.0.0.1:0: a free port, printed).
    #[arg(long)]
    listen: Option<String>,
    /// This side's attester: `sim` (needs --sim-instance), `configfs`, or
    /// `none` (default).
    #[arg(long)]
    attester: Option<String>,
    /// Simulated instance file written by `atls sim init`.
    #[arg(long)]
    sim_instance: Option<PathBuf>,
    /// configfs-tsm report directory.
    #[arg(long)]
    tsm_dir: Option<PathBuf>,
    /// Appraisal policy for the peer. Client: required. Server: clients
    /// must attest (mutual), appraised with it.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Re-attest the peer on each live connection every SECS seconds (0,
    /// the default: never); only a side with --policy re-attests.
    #[arg(long, value_name = "SECS")]
    reattest_interval: Option<u64>,
    /// Connections at once (default 1024); one beyond is closed at once.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Attester calls at once, all connections together (default 16).
    #[arg(long, value_name = "N")]
    max_attester_calls: Option<usize>,
    /// TLS handshake deadline (default 10).
    #[arg(long, value_name = "SECS")]
    handshake_timeout: Option<u64>,
    /// Attestation exchange deadline, also of each re-attestation (default 10).
    #[arg(long, value_name = "SECS")]
    attestation_timeout: Option<u64>,
    /// Close a connection idle this long (default 300; 0: never).
    #[arg(long, value_name = "SECS")]
    idle_timeout: Option<u64>,
    /// Deadline for reaching the backend or upstream (default 10).
    #[arg(long, value_name = "SECS")]
    connect_timeout: Option<u64>,
    /// At SIGTERM, how long live connections may go on (default 30).
    #[arg(long, value_name = "SECS")]
    drain_timeout: Option<u64>,
    /// Serve Prometheus metrics on ADDR (/metrics).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// TOML file with any of these settings (flags override it).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format on stderr: `human` (default) or `json`.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<LogFormat>,
    /// Print the `listening` line as a JSON object.
    #[arg(long)]
    json: bool,
}

/// `atls proxy server`.
#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The local service to forward attested connections to.
    #[arg(long, value_name = "ADDR")]
    backend: Option<String>,
    /// `tcp` (default), `proxy-v2` (PROXY protocol v2 header with the
    /// attestation TLVs) or `http` (HTTP/1.1 with `atls-peer-*` headers).
    #[arg(long, value_name = "PROTOCOL")]
    backend_protocol: Option<BackendProtocol>,
    /// TLS certificate chain to present (PEM, end entity first), with
    /// --key (default: a self-signed certificate for `atls-server`).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Private key of --cert (PEM).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Attest with --cert's key, so that clients requiring host identity
    /// (a policy's `[host_identity]` section, I1) accept this server for the names
    /// --cert is issued for.
    #[arg(long)]
    attest_with_tls_cert: bool,
}

/// `atls proxy client`.
#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The attested server to connect to.
    #[arg(long, value_name = "ADDR")]
    upstream: Option<String>,
    /// TLS server name dialled (default `atls-server`).
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// Require host identity (I1) of the server for --server-name, with
    /// this CA certificate file (PEM) as a root (repeatable); replaces the
    /// policy's `[host_identity]` roots.
    #[arg(long = "host-ca", value_name = "FILE")]
    host_ca: Vec<PathBuf>,
}

impl CommonArgs {
    /// The configuration: the file's (if any), then the flags given.
    fn config(&self) -> Result<ProxyConfig, Failure> {
        let mut c = match &self.config {
            Some(p) => ProxyConfig::from_toml_file(p).map_err(Failure::input)?,
            None => ProxyConfig::default(),
        };
        macro_rules! over {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { c.$f = v.clone().into(); } )* };
        }
        over!(
            listen,
            attester,
            tsm_dir,
            reattest_interval,
            max_connections,
            max_attester_calls,
            handshake_timeout,
            attestation_timeout,
            idle_timeout,
            connect_timeout,
            drain_timeout,
            log_format
        );
        if let Some(p) = &self.sim_instance {
            c.sim_instance = Some(p.clone());
        }
        if let Some(p) = &self.policy {
            c.policy = Some(p.clone());
        }
        if let Some(m) = &self.metrics {
            c.metrics = Some(m.clone());
        }
        c.json |= self.json;
        Ok(c)
    }
}

/// Logs on stderr, as `format` says; `RUST_LOG` filters (default `info`).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Human => b.try_init(),
        LogFormat::Json => b.json().flatten_event(true).try_init(),
    };
}

/// Completes at SIGTERM or SIGINT. The handlers are installed when this is
/// called, before the `listening` line, so that a signal sent as soon as
/// the line is read drains rather than kills.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(Failure::input)?;
    let mut int = signal(SignalKind::interrupt()).map_err(Failure::input)?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("signal received: shutting down");
    })
}

fn print_listening(addr: std::net::SocketAddr, metrics: Option<std::net::SocketAddr>, json: bool) {
    use std::io::Write;
    let line = if json {
        // Keys in the documented order (serde_json's map would sort them).
        format!(
            "{{\"event\":\"listening\",\"addr\":{},\"metrics\":{}}}",
            serde_json::Value::from(addr.to_string()),
            metrics.map_or(serde_json::Value::Null, |m| m.to_string().into())
        )
    } else {
        format!("listening on {addr}")
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub async fn run(cmd: ProxyCommand) -> Result<u8, Failure> {
    match cmd {
        ProxyCommand::Server(a) => {
            let mut c = a.common.config()?;
            if let Some(b) = a.backend {
                c.backend = Some(b);
            }
            if let Some(p) = a.backend_protocol {
                c.backend_protocol = p;
            }
            if let Some(p) = a.cert {
                c.cert = Some(p);
            }
            if let Some(p) = a.key {
                c.key = Some(p);
            }
            c.attest_with_tls_cert |= a.attest_with_tls_cert;
            init_logging(c.log_format);
            let json = c.json;
            let shutdown = shutdown_signal()?;
            let mut proxy = ServerProxy::new(c).map_err(Failure::input)?;
            let addr = proxy.bind().await.map_err(Failure::input)?;
            print_listening(addr, proxy.metrics_addr(), json);
            proxy.run(shutdown).await.map_err(Failure::input)?;
        }
        ProxyCommand::Client(a) => {
            let mut c = a.common.config()?;
            if let Some(u) = a.upstream {
                c.upstream = Some(u);
            }
            if let Some(n) = a.server_name {
                c.server_name = Some(n);
            }
            if !a.host_ca.is_empty() {
                c.host_ca = a.host_ca;
            }
            init_logging(c.log_format);
            let json = c.json;
            let shutdown = shutdown_signal()?;
            let mut proxy = ClientProxy::new(c).map_err(Failure::input)?;
            let addr = proxy.bind().await.map_err(Failure::input)?;
            print_listening(addr, proxy.metrics_addr(), json);
            proxy.run(shutdown).await.map_err(Failure::input)?;
        }
    }
    Ok(0)
}
