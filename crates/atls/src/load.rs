//! `atls load` and `atls soak`: bounded load and soak runs over loopback
//! (issue 13 points 1 and 2; figures in docs/reliability.md).
//!
//! Two topologies:
//! - `--via direct`: attested library clients (`net::connect`) against an
//!   attested echo server (`net::accept`) in this process, on the
//!   simulated TEE;
//! - `--via proxy`: plain TCP clients through `atls proxy client` and
//!   `atls proxy server` (child processes of this executable) to a TCP
//!   echo service in this process.
//!
//! Every payload is random and compared byte for byte when it comes back;
//! any failure makes the run exit 1.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attested_tls::net::{self, AttestationConfig};
use attested_tls::sim::{self, SimAttester};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::Failure;

/// Which path the connections take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// Attested library clients to an attested echo server, in process.
    Direct,
    /// Plain TCP clients through `atls proxy client` and `atls proxy
    /// server` (child processes) to a TCP echo service.
    Proxy,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Proxy => "proxy",
        }
    }
}

/// Arguments of `atls load`.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// Topology: `direct` (library clients and server in this process) or
    /// `proxy` (through `atls proxy client` and `atls proxy server`).
    #[arg(long, value_enum, default_value_t = Via::Direct)]
    via: Via,
    /// Connections in total.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    connections: u32,
    /// Connections open at the same time.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Random bytes each connection sends and expects echoed.
    #[arg(long, default_value_t = 16 * 1024)]
    bytes: usize,
    /// Deadline of one connection (connect, attestation, echo, close), in
    /// seconds; a connection over it is a failure. With `--via direct`
    /// also the TLS handshake and attestation deadlines of both sides.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Machine-readable report on stdout.
    #[arg(long)]
    json: bool,
}

/// Arguments of `atls soak`.
#[derive(clap::Args)]
pub struct SoakArgs {
    /// Topology (see `atls load --help`).
    #[arg(long, value_enum, default_value_t = Via::Direct)]
    via: Via,
    /// How long to run: `90s`, `10m`, `1h`.
    #[arg(long, value_parser = parse_duration)]
    duration: Duration,
    /// Connections started per second: `20/s` or `20`.
    #[arg(long, value_parser = parse_rate, default_value = "10/s")]
    rate: f64,
    /// Random bytes each connection sends and expects echoed.
    #[arg(long, default_value_t = 16 * 1024)]
    bytes: usize,
    /// Seconds between samples of resident memory and open descriptors.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    sample_every: u64,
    /// Deadline of one connection, in seconds (with `--via direct` also
    /// the handshake and attestation deadlines).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Machine-readable report on stdout.
    #[arg(long)]
    json: bool,
}

/// `90s`, `10m`, `1h`, `500ms`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (90s, 10m, 1h)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (ms, s, m, h)")),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        return Err(format!("{s:?}: the duration must be positive"));
    }
    // Not from_secs_f64, which panics beyond u64::MAX seconds.
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?}: the duration is too long"))
}

/// `20/s` or `20`: connections per second.
fn parse_rate(s: &str) -> Result<f64, String> {
    let n = s.trim().strip_suffix("/s").unwrap_or(s.trim());
    match n.parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() && r <= 100_000.0 => Ok(r),
        _ => Err(format!(
            "{s:?} is not a rate (connections per second, e.g. 20/s; at most 100000)"
        )),
    }
}

/// Raises the soft limit on open descriptors to the hard limit: each
/// connection costs up to four here (both ends in process, or the client
/// side only with the proxy). Returns the limit in force.
fn raise_nofile_limit() -> Result<u64, Failure> {
    rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|e| Failure::input(format!("cannot raise the open-file limit (RLIMIT_NOFILE): {e}")))
}

/// One connection's random payload.
fn payload(len: usize) -> Result<Vec<u8>, Failure> {
    let mut p = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut p).map_err(|_| Failure::input("no random bytes from the system"))?;
    Ok(p)
}

/// Sends `data`, reads it back and compares (both at once, so that the
/// echo never waits on a full buffer), then closes our direction and
/// expects the end of the stream. Returns the time to the first echoed
/// byte, from `started`.
async fn echo_check<S: AsyncRead + AsyncWrite>(stream: S, data: &[u8], started: Instant) -> Result<Duration, String> {
    let (mut r, mut w) = tokio::io::split(stream);
    let send = async {
        w.write_all(data).await?;
        w.flush().await?;
        w.shutdown().await
    };
    let recv = async {
        let mut back = vec![0u8; data.len()];
        let mut got = 0;
        let mut first = None;
        while got < back.len() {
            let n = r.read(&mut back[got..]).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the echo ended after {got} of {} bytes", data.len()),
                ));
            }
            first.get_or_insert_with(|| started.elapsed());
            got += n;
        }
        if let Some(i) = back.iter().zip(data).position(|(a, b)| a != b) {
            return Err(std::io::Error::other(format!("echoed byte {i} differs")));
        }
        let mut end = [0u8; 1];
        if r.read(&mut end).await? != 0 {
            return Err(std::io::Error::other("more bytes echoed than sent"));
        }
        Ok(first.unwrap_or_else(|| started.elapsed()))
    };
    let (sent, first) = tokio::join!(send, recv);
    sent.map_err(|e| format!("sending: {e}"))?;
    first.map_err(|e| format!("echo: {e}"))
}

/// A listener for many connections at once: the backlog of
/// `TcpListener::bind` (1024) would make a burst of 2000 connects wait
/// for SYN retransmissions.
fn listener() -> Result<TcpListener, Failure> {
    let s = tokio::net::TcpSocket::new_v4().map_err(Failure::input)?;
    s.set_reuseaddr(true).map_err(Failure::input)?;
    s.bind("127.0.0.1:0".parse().expect("address"))
        .map_err(Failure::input)?;
    s.listen(4096).map_err(Failure::input)
}

/// Accepts connections for ever, running `handle` on each.
fn accept_all<F, Fut>(l: TcpListener, handle: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match l.accept().await {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(handle(tcp));
                }
                Err(e) => {
                    eprintln!("atls: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

/// What a run needs: how to open one checked connection, and what to
/// sample on the server side.
enum Topology {
    Direct(Box<Direct>),
    Proxy(Proxy),
}

/// The in-process attested echo server and the client configuration.
struct Direct {
    addr: std::net::SocketAddr,
    client: AttestationConfig,
    tls: Arc<rustls::ClientConfig>,
    server: tokio::task::JoinHandle<()>,
    /// Server-side connections being served (for the end-of-run check).
    open: Arc<std::sync::atomic::AtomicUsize>,
}

impl Direct {
    /// `deadline`: the TLS handshake and attestation deadlines of both
    /// sides (a burst of thousands of handshakes on a small machine takes
    /// longer than the 10 s defaults to clear).
    async fn start(deadline: Duration) -> Result<Self, Failure> {
        let world = sim::ephemeral_world(1).map_err(Failure::input)?;
        let server_cfg = AttestationConfig::attester(Arc::new(SimAttester::new(world.instances[0].clone())))
            .map_err(Failure::input)?
            .with_timeouts(deadline, deadline);
        let client = AttestationConfig::verifier(world.appraiser("load")).with_timeouts(deadline, deadline);
        let tls_server = crate::demo::server_tls()?;
        let l = listener()?;
        let addr = l.local_addr().map_err(Failure::input)?;
        let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = open.clone();
        let server = accept_all(l, move |tcp| {
            let (tls, cfg, open) = (tls_server.clone(), server_cfg.clone(), counter.clone());
            async move {
                open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Ok((stream, _)) = net::accept(&tls, tcp, &cfg).await {
                    let _ = crate::serve::serve_stream(stream, None, None).await;
                }
                open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        Ok(Self {
            addr,
            client,
            tls: net::tls::client_config().map_err(Failure::input)?,
            server,
            open,
        })
    }

    /// One connection: attested setup (timed to the stream being ready),
    /// optionally a re-attestation, the echo of `data`.
    async fn connection(&self, data: &[u8], reattest: bool) -> Result<Duration, String> {
        let started = Instant::now();
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (mut stream, _) = net::connect(&self.tls, "atls-server", tcp, &self.client)
            .await
            .map_err(|e| format!("attestation: {e}"))?;
        let setup = started.elapsed();
        if reattest {
            let ear = stream.reattest().await.map_err(|e| format!("re-attestation: {e}"))?;
            if !ear.is_affirming() {
                return Err(format!("re-attestation: {}", ear.status));
            }
        }
        echo_check(stream, data, started).await?;
        Ok(setup)
    }
}

/// The proxies (child processes) and the in-process echo service.
struct Proxy {
    client_addr: String,
    /// The client proxy's `/metrics` address (it re-attests the server).
    client_metrics: Option<String>,
    children: Vec<(&'static str, tokio::process::Child)>,
    echo: tokio::task::JoinHandle<()>,
    dir: PathBuf,
}

/// The line a proxy prints on stdout when it listens.
#[derive(serde::Deserialize)]
struct Listening {
    event: String,
    addr: String,
    #[serde(default)]
    metrics: Option<String>,
}

impl Proxy {
    /// Starts the echo backend and both proxy sides. `deadline` becomes
    /// their handshake and attestation timeouts and `max_connections` their
    /// connection limit, so that a burst of `max_connections` connections
    /// on a small machine is measured, not refused by the defaults (10 s,
    /// 1024 connections).
    async fn start(
        reattest_interval: Option<u64>,
        deadline: Duration,
        max_connections: usize,
    ) -> Result<Self, Failure> {
        let exe = std::env::current_exe().map_err(|e| Failure::input(format!("cannot find this executable: {e}")))?;
        let help = tokio::process::Command::new(&exe)
            .args(["proxy", "--help"])
            .output()
            .await
            .map_err(|e| Failure::input(format!("cannot run {}: {e}", exe.display())))?;
        if !help.status.success() {
            return Err(Failure::input(format!(
                "--via proxy needs `atls proxy`, which this build of {} does not have: {}",
                exe.display(),
                String::from_utf8_lossy(&help.stderr).lines().next().unwrap_or("")
            )));
        }
        let dir = std::env::temp_dir().join(format!("atls-load-{}-{}", std::process::id(), now_nanos()));
        sim::init_with_options(&dir, &sim::InitOptions::default()).map_err(Failure::input)?;
        let echo_l = listener()?;
        let echo_addr = echo_l.local_addr().map_err(Failure::input)?;
        let echo = accept_all(echo_l, |tcp| async move {
            let _ = crate::serve::serve_stream(tcp, None, None).await;
        });
        let mut proxy = Self {
            client_addr: String::new(),
            client_metrics: None,
            children: Vec::new(),
            echo,
            dir,
        };
        let instance = proxy.dir.join("instance-0.toml");
        let policy = proxy.dir.join("policy.toml");
        let interval: Vec<String> = reattest_interval
            .map(|s| vec!["--reattest-interval".to_string(), s.to_string()])
            .unwrap_or_default();
        let secs = deadline.as_secs().max(1).to_string();
        let max = max_connections.max(1).to_string();
        let limits: Vec<&std::ffi::OsStr> = vec![
            "--handshake-timeout".as_ref(),
            secs.as_ref(),
            "--attestation-timeout".as_ref(),
            secs.as_ref(),
            "--max-connections".as_ref(),
            max.as_ref(),
        ];
        let echo_addr = echo_addr.to_string();
        let mut server_args: Vec<&std::ffi::OsStr> = vec![
            "proxy".as_ref(),
            "server".as_ref(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--backend".as_ref(),
            echo_addr.as_ref(),
            "--attester".as_ref(),
            "sim".as_ref(),
            "--sim-instance".as_ref(),
            instance.as_os_str(),
            "--json".as_ref(),
        ];
        server_args.extend(limits.iter().copied());
        let (server_addr, _) = proxy.spawn("proxy server", &exe, &server_args).await?;
        let mut client_args: Vec<&std::ffi::OsStr> = vec![
            "proxy".as_ref(),
            "client".as_ref(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--upstream".as_ref(),
            server_addr.as_ref(),
            "--policy".as_ref(),
            policy.as_os_str(),
            "--json".as_ref(),
            // Its re-attestation counts, read at the end of a soak.
            "--metrics".as_ref(),
            "127.0.0.1:0".as_ref(),
        ];
        client_args.extend(interval.iter().map(std::ffi::OsStr::new));
        client_args.extend(limits.iter().copied());
        (proxy.client_addr, proxy.client_metrics) = proxy.spawn("proxy client", &exe, &client_args).await?;
        Ok(proxy)
    }

    /// Starts a child and waits (at most 30 s) for its `listening` line:
    /// its address and its `/metrics` address, if any.
    async fn spawn(
        &mut self,
        name: &'static str,
        exe: &Path,
        args: &[&std::ffi::OsStr],
    ) -> Result<(String, Option<String>), Failure> {
        let mut cmd = tokio::process::Command::new(exe);
        // The proxies log every connection at `info`: thousands of lines
        // that would bury the report. Warnings and errors still show;
        // an explicit RUST_LOG is passed on unchanged.
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Failure::input(format!("cannot start `atls {name}`: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        self.children.push((name, child));
        let mut lines = BufReader::new(stdout).lines();
        let wait = async {
            while let Some(line) = lines.next_line().await? {
                if let Ok(l) = serde_json::from_str::<Listening>(&line) {
                    if l.event == "listening" {
                        return Ok(Some((l.addr, l.metrics)));
                    }
                }
            }
            Ok::<_, std::io::Error>(None)
        };
        let addr = tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .map_err(|_| Failure::network(format!("`atls {name}` printed no listening line within 30 s")))?
            .map_err(|e| Failure::network(format!("`atls {name}`: {e}")))?
            .ok_or_else(|| Failure::network(format!("`atls {name}` ended without a listening line")))?;
        // The rest of its stdout (more events) is read and dropped, so that
        // the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(addr)
    }

    /// One connection through the proxies: timed to the first echoed byte.
    /// With `hold` (a soak), the connection first stays open for
    /// [`SOAK_HOLD`], longer than the client proxy's re-attestation
    /// interval, so that the proxy re-attests the server on it before the
    /// bytes go through.
    async fn connection(&self, data: &[u8], hold: bool) -> Result<Duration, String> {
        let tcp = TcpStream::connect(&self.client_addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        if hold {
            tokio::time::sleep(SOAK_HOLD).await;
        }
        echo_check(tcp, data, Instant::now()).await
    }

    /// The client proxy's `atls_proxy_reattestations_total` by result,
    /// from its `/metrics`.
    async fn reattestations(&self) -> Result<std::collections::BTreeMap<String, u64>, String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self
            .client_metrics
            .as_deref()
            .ok_or("the client proxy serves no /metrics")?;
        let mut tcp = TcpStream::connect(addr).await.map_err(|e| format!("/metrics: {e}"))?;
        tcp.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .map_err(|e| format!("/metrics: {e}"))?;
        let mut body = String::new();
        // Bounded: the exposition of one proxy is a few kB.
        tcp.take(1 << 20)
            .read_to_string(&mut body)
            .await
            .map_err(|e| format!("/metrics: {e}"))?;
        let mut by_result = std::collections::BTreeMap::new();
        for line in body
            .lines()
            .filter(|l| l.starts_with("atls_proxy_reattestations_total{"))
        {
            let result = line
                .split("result=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("?")
                .to_string();
            let n: u64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0);
            *by_result.entry(result).or_insert(0) += n;
        }
        Ok(by_result)
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().filter_map(|(_, c)| c.id()).collect()
    }

    /// SIGTERM to each proxy; each must exit 0 within 10 s.
    async fn stop(mut self) -> Result<(), Failure> {
        self.echo.abort();
        let mut problems = Vec::new();
        for (name, child) in &mut self.children {
            let Some(pid) = child.id() else {
                problems.push(format!("`atls {name}` had already exited"));
                continue;
            };
            // `kill`, not a signal call: this crate has no unsafe code.
            let sent = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
            if !sent.is_ok_and(|s| s.success()) {
                problems.push(format!("cannot send SIGTERM to `atls {name}` ({pid})"));
                continue;
            }
            match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
                Ok(Ok(s)) if s.success() => {}
                Ok(Ok(s)) => problems.push(format!("`atls {name}` exited with {s} on SIGTERM, not 0")),
                Ok(Err(e)) => problems.push(format!("`atls {name}`: {e}")),
                Err(_) => problems.push(format!("`atls {name}` did not exit within 10 s of SIGTERM")),
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Failure::network(problems.join("; ")))
        }
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl Topology {
    async fn start(
        via: Via,
        reattest_interval: Option<u64>,
        deadline: Duration,
        max_connections: usize,
    ) -> Result<Self, Failure> {
        Ok(match via {
            Via::Direct => Self::Direct(Box::new(Direct::start(deadline).await?)),
            Via::Proxy => Self::Proxy(Proxy::start(reattest_interval, deadline, max_connections).await?),
        })
    }

    async fn connection(&self, data: &[u8], reattest: bool) -> Result<Duration, String> {
        match self {
            Self::Direct(d) => d.connection(data, reattest).await,
            Self::Proxy(p) => p.connection(data, reattest).await,
        }
    }

    /// The processes whose memory and descriptors a soak samples.
    fn server_pids(&self) -> Vec<u32> {
        match self {
            Self::Direct(_) => vec![std::process::id()],
            Self::Proxy(p) => p.pids(),
        }
    }

    /// Stops the server side; a direct server must have no connection left.
    async fn stop(self) -> Result<(), Failure> {
        match self {
            Self::Direct(d) => {
                // The server's last closes may still be running.
                let deadline = Instant::now() + Duration::from_secs(10);
                while d.open.load(std::sync::atomic::Ordering::Relaxed) > 0 && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                d.server.abort();
                match d.open.load(std::sync::atomic::Ordering::Relaxed) {
                    0 => Ok(()),
                    n => Err(Failure::network(format!(
                        "{n} server connections still open 10 s after the last client finished"
                    ))),
                }
            }
            Self::Proxy(p) => p.stop().await,
        }
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn progress(len: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    let template = if len.is_some() {
        "{bar:40} {pos}/{len} {msg}"
    } else {
        "{spinner} {elapsed} {msg}"
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar
}

/// Nearest-rank percentile of sorted values, in milliseconds.
fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// Keeps the first few failure messages and counts them all.
#[derive(Default)]
struct Failures {
    count: u64,
    first: Vec<String>,
}

impl Failures {
    fn add(&mut self, e: String) {
        self.count += 1;
        if self.first.len() < 10 {
            self.first.push(e);
        }
    }
}

pub async fn load(args: LoadArgs) -> Result<u8, Failure> {
    let nofile = raise_nofile_limit()?;
    let topo = Arc::new(
        Topology::start(
            args.via,
            None,
            Duration::from_secs(args.timeout),
            (args.concurrency as usize).max(1024),
        )
        .await?,
    );
    let gate = Arc::new(tokio::sync::Semaphore::new(args.concurrency as usize));
    let bar = progress(Some(u64::from(args.connections)), "connections");
    let timeout = Duration::from_secs(args.timeout);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.connections {
        let permit = gate.clone().acquire_owned().await.map_err(Failure::input)?;
        let (topo, data) = (topo.clone(), payload(args.bytes)?);
        tasks.spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(timeout, topo.connection(&data, false)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no result within {} s", timeout.as_secs())),
            }
        });
    }
    let mut setups = Vec::with_capacity(args.connections as usize);
    let mut failures = Failures::default();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(setup)) => setups.push(setup),
            Ok(Err(e)) => failures.add(e),
            Err(e) => failures.add(format!("task: {e}")),
        }
        bar.inc(1);
    }
    let wall = started.elapsed();
    bar.finish_and_clear();
    let topo = Arc::into_inner(topo).expect("every connection task has ended");
    if let Err(f) = topo.stop().await {
        failures.add(f.message().to_string());
    }
    setups.sort();
    let echoed = setups.len() as f64 * args.bytes as f64;
    let report = serde_json::json!({
        "command": "load",
        "via": args.via.name(),
        "connections": args.connections,
        "concurrency": args.concurrency,
        "bytes_per_connection": args.bytes,
        "succeeded": setups.len(),
        "failed": failures.count,
        "failures": failures.first,
        "setup_ms": { "p50": percentile_ms(&setups, 50.0), "p99": percentile_ms(&setups, 99.0),
                      "max": percentile_ms(&setups, 100.0) },
        "setup_measures": match args.via {
            Via::Direct => "TCP connect to attested stream ready (server attested and appraised)",
            Via::Proxy => "TCP connect to the client proxy to the first echoed byte",
        },
        "wall_s": wall.as_secs_f64(),
        "throughput_mb_s": echoed / 1e6 / wall.as_secs_f64(),
        "nofile_limit": nofile,
    });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report).expect("json"));
    } else {
        outln!(
            "load via {}: {} connections ({} at a time), {} bytes each echoed and checked",
            args.via.name(),
            args.connections,
            args.concurrency,
            args.bytes
        );
        outln!("  succeeded {}  failed {}", setups.len(), failures.count);
        outln!(
            "  connection setup ({}): p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            report["setup_measures"].as_str().unwrap_or(""),
            percentile_ms(&setups, 50.0),
            percentile_ms(&setups, 99.0),
            percentile_ms(&setups, 100.0)
        );
        outln!(
            "  {:.2} s wall, {:.2} MB/s echoed payload; open-file limit {}",
            wall.as_secs_f64(),
            echoed / 1e6 / wall.as_secs_f64(),
            nofile
        );
        for f in &failures.first {
            outln!("  failure: {f}");
        }
    }
    Ok(if failures.count == 0 { 0 } else { 1 })
}

/// Resident memory (kB) and open descriptors of processes.
#[derive(Clone, Copy, Default, serde::Serialize)]
struct Sample {
    /// Seconds since the soak started.
    t_s: u64,
    rss_kb: u64,
    fds: u64,
}

fn sample(pids: &[u32], since: Instant) -> Result<Sample, String> {
    let mut s = Sample {
        t_s: since.elapsed().as_secs(),
        ..Sample::default()
    };
    for pid in pids {
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
        s.rss_kb += status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| format!("/proc/{pid}/status has no VmRSS"))?;
        s.fds += std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map_err(|e| format!("/proc/{pid}/fd: {e}"))?
            .count() as u64;
    }
    Ok(s)
}

/// Start, maximum and end of one sampled figure.
#[derive(serde::Serialize)]
struct Range {
    start: u64,
    max: u64,
    end: u64,
}

fn range(samples: &[Sample], f: impl Fn(&Sample) -> u64) -> Range {
    Range {
        start: samples.first().map_or(0, &f),
        max: samples.iter().map(&f).max().unwrap_or(0),
        end: samples.last().map_or(0, &f),
    }
}

/// How long a soak connection through the proxies stays open before its
/// bytes: longer than the client proxy's re-attestation interval (1 s).
const SOAK_HOLD: Duration = Duration::from_millis(1500);

pub async fn soak(args: SoakArgs) -> Result<u8, Failure> {
    let nofile = raise_nofile_limit()?;
    // The proxies re-attest by themselves; direct connections call reattest.
    let topo = Arc::new(Topology::start(args.via, Some(1), Duration::from_secs(args.timeout), 1024).await?);
    let pids = topo.server_pids();
    let bar = progress(None, "soak");
    let timeout = Duration::from_secs(args.timeout);
    let started = Instant::now();
    let mut samples = vec![sample(&pids, started).map_err(Failure::network)?];
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sampler = tokio::time::interval(Duration::from_secs(args.sample_every));
    sampler.tick().await;
    let mut tasks = tokio::task::JoinSet::new();
    let mut failures = Failures::default();
    let (mut started_n, mut done) = (0u64, 0u64);
    let mut collect = |r: Result<Result<Duration, String>, tokio::task::JoinError>, failures: &mut Failures| {
        done += 1;
        match r {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.add(e),
            Err(e) => failures.add(format!("task: {e}")),
        }
    };
    while started.elapsed() < args.duration {
        tokio::select! {
            _ = ticker.tick() => {
                let (topo, data) = (topo.clone(), payload(args.bytes)?);
                started_n += 1;
                tasks.spawn(async move {
                    match tokio::time::timeout(timeout, topo.connection(&data, true)).await {
                        Ok(r) => r,
                        Err(_) => Err(format!("no result within {} s", timeout.as_secs())),
                    }
                });
            }
            _ = sampler.tick() => {
                let s = sample(&pids, started).map_err(Failure::network)?;
                bar.set_message(format!("{started_n} connections, rss {} kB, {} fds, {} failed", s.rss_kb, s.fds, failures.count));
                samples.push(s);
            }
            Some(r) = tasks.join_next() => collect(r, &mut failures),
        }
        bar.tick();
    }
    while let Some(r) = tasks.join_next().await {
        collect(r, &mut failures);
    }
    // The end sample after the last connection has closed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    samples.push(sample(&pids, started).map_err(Failure::network)?);
    bar.finish_and_clear();
    let topo = Arc::into_inner(topo).expect("every connection task has ended");
    // Through the proxies, the client proxy re-attests: a soak in which it
    // re-attested nothing did not test what it says.
    let reattestations = match &topo {
        Topology::Proxy(p) => match p.reattestations().await {
            Ok(by_result) => {
                if done > 0 && by_result.values().sum::<u64>() == 0 {
                    failures.add("the client proxy re-attested no connection".to_string());
                }
                for (result, n) in &by_result {
                    if result != "accepted" && *n > 0 {
                        failures.add(format!("{n} re-attestations ended {result:?}"));
                    }
                }
                Some(by_result)
            }
            Err(e) => {
                failures.add(e);
                None
            }
        },
        Topology::Direct(_) => None,
    };
    if let Err(f) = topo.stop().await {
        failures.add(f.message().to_string());
    }
    let rss = range(&samples, |s| s.rss_kb);
    let fds = range(&samples, |s| s.fds);
    let report = serde_json::json!({
        "command": "soak",
        "via": args.via.name(),
        "duration_s": args.duration.as_secs_f64(),
        "rate_per_s": args.rate,
        "bytes_per_connection": args.bytes,
        "connections": done,
        "failed": failures.count,
        "failures": failures.first,
        "sampled": match args.via {
            Via::Direct => "this process (server and clients)",
            Via::Proxy => "the two proxy processes together",
        },
        "samples": samples,
        "rss_kb": rss,
        "fds": fds,
        "proxy_reattestations": reattestations,
        "nofile_limit": nofile,
    });
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report).expect("json"));
    } else {
        outln!(
            "soak via {}: {:.0} s at {}/s, {} connections (connect, re-attest, {} bytes echoed and checked, close)",
            args.via.name(),
            args.duration.as_secs_f64(),
            args.rate,
            done,
            args.bytes
        );
        outln!("  failed {}", failures.count);
        outln!(
            "  {} ({} samples): resident memory start {} kB, max {} kB, end {} kB; open descriptors start {}, max {}, end {}",
            report["sampled"].as_str().unwrap_or(""),
            samples.len(),
            rss.start,
            rss.max,
            rss.end,
            fds.start,
            fds.max,
            fds.end
        );
        if let Some(r) = &reattestations {
            outln!("  re-attestations by the client proxy: {r:?}");
        }
        for f in &failures.first {
            outln!("  failure: {f}");
        }
    }
    Ok(if failures.count == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rates_parse_and_refuse_nonsense() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        // Guards the overflow: beyond u64::MAX seconds is an error, not a
        // panic of Duration::from_secs_f64.
        assert_eq!(
            parse_duration("99999999999999999999h"),
            Err("\"99999999999999999999h\": the duration is too long".into())
        );
        assert_eq!(parse_rate("20/s"), Ok(20.0));
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&v, 50.0), 50.0);
        assert_eq!(percentile_ms(&v, 99.0), 99.0);
        assert_eq!(percentile_ms(&v, 100.0), 100.0);
        assert_eq!(percentile_ms(&[], 50.0), 0.0);
    }
}
