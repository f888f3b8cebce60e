//! `atls bench --proxy`: bulk throughput through the attested proxy pair
//! against the same pair over plain TLS 1.3, and the resident memory of
//! `atls proxy server` holding many idle attested connections
//! (docs/benchmarks.md).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attested_tls::net::{self, AttestationConfig};
use attested_tls::sim::{self, SimAttester};
use attested_tls_proxy::relay::{self, RelayOptions};
use attested_tls_proxy::{ClientProxy, ProxyConfig, ServerProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::Failure;

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::network(e)
}

/// A backend that reads a connection to its end, then answers `ok` and
/// closes: the end of a bulk upload.
async fn sink_backend() -> Result<SocketAddr, Failure> {
    let l = TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
    let addr = l.local_addr().map_err(fail)?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                let _ = s.write_all(b"ok").await;
                let _ = s.shutdown().await;
            });
        }
    });
    Ok(addr)
}

/// Uploads `bytes` through `front` and waits for the backend's `ok`: the
/// throughput in MB/s (10^6 bytes).
async fn upload(front: SocketAddr, bytes: usize) -> Result<f64, Failure> {
    let mut s = TcpStream::connect(front).await.map_err(fail)?;
    let _ = s.set_nodelay(true);
    let chunk = vec![0x5Au8; 64 * 1024];
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        s.write_all(&chunk[..n]).await.map_err(fail)?;
        left -= n;
    }
    s.shutdown().await.map_err(fail)?;
    let mut ok = Vec::new();
    s.read_to_end(&mut ok).await.map_err(fail)?;
    if ok != b"ok" {
        return Err(fail(format!("the backend did not confirm the upload: {ok:?}")));
    }
    Ok(bytes as f64 / start.elapsed().as_secs_f64() / 1e6)
}

/// The plain TLS 1.3 pair, with the same TLS configurations and the same
/// relay as the attested one: a server side terminating TLS in front of
/// `backend`, and a client side listener opening TLS to it.
async fn plain_pair(backend: SocketAddr) -> Result<SocketAddr, Failure> {
    let (cert, key) = net::tls::self_signed_server_identity("atls-server").map_err(Failure::input)?;
    let server_tls = net::tls::server_config(vec![cert], key).map_err(Failure::input)?;
    let client_tls = net::tls::client_config().map_err(Failure::input)?;
    let server = TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
    let server_addr = server.local_addr().map_err(fail)?;
    tokio::spawn(async move {
        let acceptor = tokio_rustls::TlsAcceptor::from(server_tls);
        while let Ok((tcp, _)) = server.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut b) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = b.set_nodelay(true);
                let _ = relay::relay(&mut tls, &mut b, RelayOptions::default()).await;
            });
        }
    });
    let client = TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
    let client_addr = client.local_addr().map_err(fail)?;
    tokio::spawn(async move {
        let connector = tokio_rustls::TlsConnector::from(client_tls);
        while let Ok((mut local, _)) = client.accept().await {
            let connector = connector.clone();
            tokio::spawn(async move {
                let _ = local.set_nodelay(true);
                let Ok(tcp) = TcpStream::connect(server_addr).await else {
                    return;
                };
                let _ = tcp.set_nodelay(true);
                let name = rustls::pki_types::ServerName::try_from("atls-server").expect("valid name");
                let Ok(mut tls) = connector.connect(name, tcp).await else {
                    return;
                };
                let _ = relay::relay(&mut tls, &mut local, RelayOptions::default()).await;
            });
        }
    });
    Ok(client_addr)
}

/// The attested pair (`ServerProxy` attesting with the simulated TEE,
/// `ClientProxy` appraising it), in process.
async fn attested_pair(backend: SocketAddr) -> Result<SocketAddr, Failure> {
    let world = sim::ephemeral_world(1).map_err(Failure::input)?;
    let server_att =
        AttestationConfig::attester(Arc::new(SimAttester::new(world.instances[0].clone()))).map_err(Failure::input)?;
    let mut server = ServerProxy::with_attestation(
        ProxyConfig {
            backend: Some(backend.to_string()),
            idle_timeout: 0,
            ..ProxyConfig::default()
        },
        server_att,
    )
    .map_err(Failure::input)?;
    let server_addr = server.bind().await.map_err(Failure::input)?;
    tokio::spawn(server.run(std::future::pending()));
    let mut client = ClientProxy::with_attestation(
        ProxyConfig {
            upstream: Some(server_addr.to_string()),
            idle_timeout: 0,
            ..ProxyConfig::default()
        },
        AttestationConfig::verifier(world.appraiser("bench")),
    )
    .map_err(Failure::input)?;
    let client_addr = client.bind().await.map_err(Failure::input)?;
    tokio::spawn(client.run(std::future::pending()));
    Ok(client_addr)
}

/// The `Max open files` soft limit of this process.
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `VmRSS` of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Kills the child when dropped.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct MemoryFigures {
    connections: usize,
    rss_start_kib: u64,
    rss_idle_kib: u64,
    setup: Duration,
}

/// Starts `atls proxy server` (this executable) and opens `n` attested
/// connections through it, idle; its resident memory before and after.
async fn idle_memory(n: usize) -> Result<MemoryFigures, Failure> {
    let dir = std::env::temp_dir().join(format!("atls-bench-proxy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let world = sim::init_with_options(&dir, &sim::InitOptions::default()).map_err(Failure::input)?;
    // The backend holds its ends of the connections.
    let backend = TcpListener::bind("127.0.0.1:0").await.map_err(fail)?;
    let backend_addr = backend.local_addr().map_err(fail)?;
    let held = Arc::new(AtomicUsize::new(0));
    let counter = held.clone();
    let backend_task = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((s, _)) = backend.accept().await {
            conns.push(s);
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let exe = std::env::current_exe().map_err(Failure::input)?;
    let mut child = std::process::Command::new(exe)
        .args(["proxy", "server", "--listen", "127.0.0.1:0", "--backend"])
        .arg(backend_addr.to_string())
        .args(["--attester", "sim", "--sim-instance"])
        .arg(dir.join("instance-0.toml"))
        .args(["--idle-timeout", "0", "--max-connections"])
        .arg((n + 16).to_string())
        .args(["--log-format", "json"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(Failure::input)?;
    let stdout = child.stdout.take().ok_or_else(|| fail("no stdout"))?;
    let guard = ChildGuard(child);
    let line = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        line
    })
    .await
    .map_err(fail)?;
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| fail(format!("atls proxy server did not start: {line:?}")))?;
    let pid = guard.0.id();
    let rss_start_kib = rss_kib(pid).unwrap_or(0);
    let att = AttestationConfig::verifier(world.appraiser("bench"));
    let tls = net::tls::client_config().map_err(Failure::input)?;
    let start = Instant::now();
    let mut streams = Vec::with_capacity(n);
    let mut tasks = tokio::task::JoinSet::new();
    let mut opened = 0;
    // At most 32 handshakes at once.
    while streams.len() < n {
        while opened < n && tasks.len() < 32 {
            let (att, tls) = (att.clone(), tls.clone());
            tasks.spawn(async move {
                let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
                net::connect(&tls, "atls-server", tcp, &att)
                    .await
                    .map(|(s, _)| s)
                    .map_err(|e| e.to_string())
            });
            opened += 1;
        }
        match tasks.join_next().await {
            Some(Ok(Ok(s))) => {
                streams.push(s);
                if streams.len() % 1000 == 0 {
                    eprintln!("atls: bench --proxy: {} idle attested connections open", streams.len());
                }
            }
            Some(Ok(Err(e))) => return Err(fail(format!("connection {} failed: {e}", streams.len() + 1))),
            Some(Err(e)) => return Err(fail(e)),
            None => break,
        }
    }
    while held.load(Ordering::SeqCst) < n {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let setup = start.elapsed();
    // Let the allocator settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle_kib = rss_kib(pid).unwrap_or(0);
    drop(guard);
    drop(streams);
    backend_task.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(MemoryFigures {
        connections: n,
        rss_start_kib,
        rss_idle_kib,
        setup,
    })
}

/// Runs both measurements and prints them.
pub async fn run(mib: usize, rounds: usize, idle_connections: usize, json: bool) -> Result<u8, Failure> {
    if cfg!(debug_assertions) {
        eprintln!(
            "atls: warning: this is a debug build; run `cargo run --release -p atls -- bench --proxy` for real figures"
        );
    }
    let bytes = mib * 1024 * 1024;
    let backend = sink_backend().await?;
    let plain = plain_pair(backend).await?;
    let attested = attested_pair(backend).await?;
    // Warm-up, then alternate the two pairs; the best round of each.
    upload(plain, bytes / 8).await?;
    upload(attested, bytes / 8).await?;
    let (mut best_plain, mut best_attested) = (0f64, 0f64);
    let mut rounds_out = Vec::new();
    for _ in 0..rounds.max(1) {
        let p = upload(plain, bytes).await?;
        let a = upload(attested, bytes).await?;
        best_plain = best_plain.max(p);
        best_attested = best_attested.max(a);
        rounds_out.push((p, a));
    }
    // The ratio of each round (the pairs ran back to back, under the same
    // load), and their median: steadier than the best of each on a busy
    // machine.
    let mut ratios: Vec<f64> = rounds_out.iter().map(|(p, a)| a / p).collect();
    ratios.sort_by(f64::total_cmp);
    let median_ratio = ratios[ratios.len() / 2];
    // Two descriptors per connection in the proxy process (client side
    // and backend), a few for itself; the same in this process.
    let fd_limit = open_files_limit().unwrap_or(1024);
    let fit = fd_limit.saturating_sub(64) / 2;
    let n = idle_connections.min(fit);
    if n < idle_connections {
        eprintln!(
            "atls: bench --proxy: the open-files limit ({fd_limit}) allows {n} idle connections, not {idle_connections} \
             (two descriptors each, in each process); raise it with `ulimit -n` for more"
        );
    }
    let mem = idle_memory(n).await?;
    let per_conn = (mem.rss_idle_kib.saturating_sub(mem.rss_start_kib)) as f64 / mem.connections.max(1) as f64;
    if json {
        outln!(
            "{}",
            serde_json::json!({
                "throughput": {
                    "mib_per_upload": mib,
                    "rounds": rounds_out.iter().map(|(p, a)| serde_json::json!({"plain_tls_mb_s": p, "attested_mb_s": a})).collect::<Vec<_>>(),
                    "best_plain_tls_mb_s": best_plain,
                    "best_attested_mb_s": best_attested,
                    "ratio": best_attested / best_plain,
                    "median_round_ratio": median_ratio,
                },
                "idle_memory": {
                    "connections": mem.connections,
                    "rss_start_kib": mem.rss_start_kib,
                    "rss_idle_kib": mem.rss_idle_kib,
                    "per_connection_kib": per_conn,
                    "setup_s": mem.setup.as_secs_f64(),
                }
            })
        );
    } else {
        outln!(
            "bulk upload through the proxy pair ({mib} MiB per round, best of {}):",
            rounds.max(1)
        );
        for (i, (p, a)) in rounds_out.iter().enumerate() {
            outln!("  round {}: plain TLS 1.3 {p:.0} MB/s, attested {a:.0} MB/s", i + 1);
        }
        outln!(
            "  best: plain TLS 1.3 {best_plain:.0} MB/s, attested {best_attested:.0} MB/s, ratio {:.2}; median of the rounds' ratios {median_ratio:.2}",
            best_attested / best_plain
        );
        outln!(
            "idle attested connections through `atls proxy server`: {} (opened in {:.1} s)",
            mem.connections,
            mem.setup.as_secs_f64()
        );
        outln!(
            "  resident memory: {:.1} MiB at start, {:.1} MiB with them open ({per_conn:.1} KiB per connection)",
            mem.rss_start_kib as f64 / 1024.0,
            mem.rss_idle_kib as f64 / 1024.0
        );
    }
    Ok(0)
}
