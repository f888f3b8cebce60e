//! `atls bench`: attested connections per second next to plain TLS 1.3
//! handshakes per second with the same keys on loopback, and the cost of
//! RFC 9261 authenticate+validate next to the raw signature operations it
//! contains. `--stack rustls,openssl` measures the default mode on both TLS
//! stacks, each against its own plain baseline; `--mode early` (OpenSSL
//! only) adds intra-handshake attestation against plain OpenSSL. Run it in
//! release mode: `cargo run --release -p atls -- bench`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attested_tls::crypto::HashAlgorithm;
use attested_tls::ea::{self, AuthenticatorIdentity, EaProfile, Role};
use attested_tls::exporter::SecretExporter;
use attested_tls::modes::early::AttestationScheme;
use attested_tls::net::{self, AttestationConfig};
use attested_tls::sim::{self, SimAttester};
use attested_tls_openssl::{expat, EarlyConfig};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use openssl::pkey::PKey;
use openssl::ssl::SslContext;
use openssl::x509::X509;
use tokio::io::AsyncWriteExt;

use crate::Failure;

/// Arguments of `atls bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Connections per round for each kind.
    #[arg(long, default_value_t = 200)]
    connections: usize,
    /// Rounds (the kinds alternate within each; the median round is reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Iterations of authenticate+validate.
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    /// Concurrent client connections (1: one after the other, which
    /// measures latency; more: throughput with both cores busy).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// TLS stacks to measure, comma-separated: rustls, openssl. Each is
    /// measured with its own plain TLS 1.3 baseline.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "rustls")]
    stack: Vec<Stack>,
    /// Attestation modes to measure, comma-separated: default (post-handshake
    /// Exported Attestation, on every stack given), early (intra-handshake,
    /// OpenSSL only).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "default")]
    mode: Vec<Mode>,
    /// Print JSON (one object; with --only, `{"kind", "label",
    /// "connections_per_s", "connections", "rounds"}`).
    #[arg(long)]
    json: bool,
    /// No progress bar (it is shown on stderr only when stderr is a
    /// terminal, and never with --json).
    #[arg(long)]
    no_progress: bool,
    /// Run connections of one kind only (for profiling with `perf`); no
    /// ratio is reported then.
    #[arg(long, value_enum)]
    only: Option<Kind>,
    /// Measure only the server CPU per connection (the server alone on its
    /// own thread), skipping connections/s and the per-operation timings:
    /// quicker, and the run to profile the server with `perf`.
    #[arg(long)]
    server_only: bool,
    /// Measure `atls proxy` instead: bulk throughput through the attested
    /// proxy pair vs the same pair over plain TLS 1.3 (best of --rounds),
    /// and the resident memory of `atls proxy server` holding
    /// --idle-connections idle attested connections.
    #[arg(long)]
    proxy: bool,
    /// With --proxy: MiB uploaded per round.
    #[arg(long, default_value_t = 256, requires = "proxy")]
    proxy_mib: usize,
    /// With --proxy: idle attested connections held through the server
    /// side (capped by the open-files limit, which is said).
    #[arg(long, default_value_t = 10_000, requires = "proxy")]
    idle_connections: usize,
}

/// A TLS stack `atls bench` can measure.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    /// rustls (aws-lc-rs), the stack of `atls serve` / `connect`.
    Rustls,
    /// OpenSSL 3 through tokio-openssl.
    Openssl,
}

/// An attestation mode `atls bench` can measure.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Post-handshake Exported Attestation (RFC 9261 + seat-expat).
    Default,
    /// Intra-handshake attestation (draft-fossati-seat-early-attestation).
    Early,
}

/// The kinds of connection the benchmark compares.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Kind {
    /// Plain rustls TLS 1.3.
    Plain,
    /// Plain rustls TLS 1.3 followed by the attested kind's messages
    /// (same sizes, same order, no attestation work): what the extra round
    /// trip of post-handshake attestation costs by itself.
    RoundTrip,
    /// The round-trip kind plus, on the server, the cryptography the
    /// protocol itself requires of an attesting server and nothing else:
    /// the three TLS exporter values (RFC 9261's handshake context and
    /// finished key, seat-expat's binder value), the binder digests, the
    /// Evidence signature (ES256 over as many bytes as the simulated TEE
    /// signs), the authenticator transcript hash, its P-256
    /// CertificateVerify signature and the Finished HMAC. No encoding, no
    /// frames, no session: the floor any implementation of the design on
    /// this TLS stack and these keys can reach, measured.
    Floor,
    /// expat on the simulated TEE, rustls.
    Attested,
    /// Plain OpenSSL TLS 1.3.
    OpensslPlain,
    /// expat on the simulated TEE, OpenSSL (`attested_tls_openssl::expat`).
    OpensslAttested,
    /// Mode `early` on the simulated TEE, OpenSSL.
    OpensslEarly,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Plain,
        Kind::RoundTrip,
        Kind::Floor,
        Kind::Attested,
        Kind::OpensslPlain,
        Kind::OpensslAttested,
        Kind::OpensslEarly,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::Plain => "plain rustls TLS 1.3 handshakes/s",
            Kind::RoundTrip => "plain TLS 1.3 + the same round trip/s",
            Kind::Floor => "round trip + the required crypto (floor)/s",
            Kind::Attested => "attested connections/s (expat, sim)",
            Kind::OpensslPlain => "plain OpenSSL TLS 1.3 handshakes/s",
            Kind::OpensslAttested => "OpenSSL attested connections/s (expat, sim)",
            Kind::OpensslEarly => "OpenSSL early attested handshakes/s (sim)",
        }
    }

    /// The name of the thread that serves this kind alone in the server
    /// CPU reading.
    fn server_thread_name(self) -> &'static str {
        match self {
            Kind::Plain => "srv-plain",
            Kind::RoundTrip => "srv-round-trip",
            Kind::Floor => "srv-floor",
            Kind::Attested => "srv-attested",
            Kind::OpensslPlain => "srv-ossl-plain",
            Kind::OpensslAttested => "srv-ossl-attest",
            Kind::OpensslEarly => "srv-ossl-early",
        }
    }

    /// The kinds `stacks` x `modes` select, in [`Kind::ALL`] order.
    fn selected(stacks: &[Stack], modes: &[Mode]) -> Result<Vec<Kind>, Failure> {
        if modes.contains(&Mode::Early) && !stacks.contains(&Stack::Openssl) {
            return Err(Failure::input(
                "--mode early needs --stack openssl: rustls cannot carry the remoteAttestation extension",
            ));
        }
        let default = modes.contains(&Mode::Default);
        Ok(Kind::ALL
            .into_iter()
            .filter(|k| match k {
                Kind::Plain => stacks.contains(&Stack::Rustls),
                Kind::RoundTrip | Kind::Floor | Kind::Attested => stacks.contains(&Stack::Rustls) && default,
                Kind::OpensslPlain => stacks.contains(&Stack::Openssl),
                Kind::OpensslAttested => stacks.contains(&Stack::Openssl) && default,
                Kind::OpensslEarly => stacks.contains(&Stack::Openssl) && modes.contains(&Mode::Early),
            })
            .collect())
    }
}

/// Plaintext sizes of the attested kind's application-layer messages, in
/// order: the client's first flight (HELLO + request), the server's answer
/// (HELLO + authenticator), the client's OUTCOME.
type ExchangeSizes = [usize; 3];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// The OpenSSL side of the benchmark: contexts with the same P-256 server
/// key as the rustls kinds.
struct OpensslSetup {
    /// Plain and expat server (hardened: TLS 1.3, no tickets).
    server: SslContext,
    /// Plain and expat client.
    client: SslContext,
    early_server: SslContext,
    early_client: SslContext,
    early_server_cfg: EarlyConfig,
    early_client_cfg: EarlyConfig,
}

/// What the benchmark's connections need, shared by every round.
struct Setup {
    tls: Arc<rustls::ServerConfig>,
    client_tls: Arc<rustls::ClientConfig>,
    server_att: AttestationConfig,
    client_att: AttestationConfig,
    sizes: ExchangeSizes,
    floor: FloorKeys,
    openssl: OpensslSetup,
}

/// What [`Kind::Floor`]'s server signs with, and how much: the attested
/// kind's authenticator key, an Evidence key of the simulated TEE's
/// algorithm, and the sizes of what each signs or hashes.
struct FloorKeys {
    identity: AuthenticatorIdentity,
    evidence_key: EcdsaKeyPair,
    /// Bytes the Evidence signature covers (the size of the simulated
    /// TEE's CMW: its COSE Sig_structure is about as long).
    evidence_signed: usize,
    /// Bytes of the authenticator's Certificate message (the Evidence
    /// plus the certificate and framing), hashed into the transcript.
    certificate: usize,
}

impl FloorKeys {
    fn new(server_att: &AttestationConfig) -> Result<Self, Failure> {
        let identity = server_att
            .identity
            .clone()
            .ok_or_else(|| Failure::input("the benchmark server has no authenticator identity"))?;
        let attester = server_att
            .attester
            .as_ref()
            .ok_or_else(|| Failure::input("the benchmark server has no attester"))?;
        let binding =
            attested_tls::binder::BindingClaims::from_exported_value(HashAlgorithm::Sha384, identity.spki(), &[0; 32]);
        let evidence_signed = attester.attest(&binding).map_err(Failure::input)?.to_cbor().len();
        let certificate = evidence_signed + identity.cert_chain.iter().map(|c| c.len() + 5).sum::<usize>() + 12;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| Failure::input("keygen"))?;
        let evidence_key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(|_| Failure::input("key"))?;
        Ok(Self {
            identity,
            evidence_key,
            evidence_signed,
            certificate,
        })
    }

    /// The cryptography an attesting server cannot avoid, on `conn`
    /// (see [`Kind::Floor`]); `request` stands for the authenticator
    /// request the transcript hashes.
    fn required_crypto(&self, conn: &rustls::ServerConnection, request: &[u8]) -> std::io::Result<()> {
        use aws_lc_rs::{digest, hmac};
        let tls13 = conn
            .negotiated_cipher_suite()
            .and_then(|s| s.tls13())
            .ok_or_else(|| std::io::Error::other("no TLS 1.3 suite"))?;
        let n = tls13.common.hash_provider.output_len();
        let (alg, mac) = if n == 48 {
            (&digest::SHA384, hmac::HMAC_SHA384)
        } else {
            (&digest::SHA256, hmac::HMAC_SHA256)
        };
        let export = |label: &[u8], context: &[u8], len: usize| {
            conn.export_keying_material(vec![0; len], label, Some(context))
                .map_err(std::io::Error::other)
        };
        let hc = export(b"EXPORTER-server authenticator handshake context", b"", n)?;
        let fk = export(b"EXPORTER-server authenticator finished key", b"", n)?;
        let value = export(b"EXPORTER-cmw-attestation", &request[..32.min(request.len())], 32)?;
        let spki = self.identity.spki();
        let mut binder = digest::Context::new(alg);
        binder.update(spki);
        binder.update(&value);
        let binder = binder.finish();
        let aik = digest::digest(alg, spki);
        // The Evidence: the binder and AIK hash inside the signed bytes.
        let mut signed = vec![0xa5; self.evidence_signed];
        let b = binder.as_ref();
        signed[..b.len()].copy_from_slice(b);
        signed[b.len()..b.len() + aik.as_ref().len()].copy_from_slice(aik.as_ref());
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let evidence_sig = self
            .evidence_key
            .sign(&rng, &signed)
            .map_err(|_| std::io::Error::other("evidence signature"))?;
        // The Certificate message carries the signed Evidence.
        let mut certificate = vec![0x5a; self.certificate];
        certificate[..signed.len()].copy_from_slice(&signed);
        let sig = evidence_sig.as_ref();
        certificate[signed.len()..signed.len() + sig.len()].copy_from_slice(sig);
        let mut transcript = digest::Context::new(alg);
        transcript.update(&hc);
        transcript.update(request);
        transcript.update(&certificate);
        let mut content = vec![0x20; 64];
        content.extend_from_slice(b"Exported Authenticator\0");
        content.extend_from_slice(transcript.clone().finish().as_ref());
        let signer = self
            .identity
            .key
            .choose_scheme(&[rustls::SignatureScheme::ECDSA_NISTP256_SHA256])
            .ok_or_else(|| std::io::Error::other("the authenticator key is not P-256"))?;
        let certificate_verify = signer.sign(&content).map_err(std::io::Error::other)?;
        transcript.update(&certificate_verify);
        let finished = hmac::sign(&hmac::Key::new(mac, &fk), transcript.finish().as_ref());
        std::hint::black_box(finished);
        Ok(())
    }
}

/// Connections per second of `kind`, and the CPU time the whole process
/// (clients and server) spent per connection, if the platform reports it.
async fn connections_per_second(
    kind: Kind,
    n: usize,
    concurrency: usize,
    setup: &Arc<Setup>,
) -> Result<(f64, Option<Duration>), Failure> {
    let cpu_before = process_cpu_time();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Failure::input)?;
    let addr = listener.local_addr().map_err(Failure::input)?;
    let server = tokio::spawn(serve_connections(listener, n, kind, setup.clone()));
    let start = Instant::now();
    let workers = concurrency.clamp(1, n.max(1));
    let mut clients = Vec::with_capacity(workers);
    for w in 0..workers {
        let count = n / workers + usize::from(w < n % workers);
        let setup = setup.clone();
        clients.push(tokio::spawn(async move {
            for _ in 0..count {
                one_client(kind, addr, &setup).await?;
            }
            Ok::<_, Failure>(())
        }));
    }
    for c in clients {
        c.await.map_err(Failure::input)??;
    }
    let elapsed = start.elapsed();
    server.await.map_err(Failure::input)?.map_err(Failure::input)?;
    let cpu = cpu_before
        .zip(process_cpu_time())
        .map(|(b, a)| a.saturating_sub(b) / n.max(1) as u32);
    Ok((n as f64 / elapsed.as_secs_f64(), cpu))
}

/// The CPU time of all this process's live threads so far, from
/// `/proc/self/task/*/schedstat` (Linux; `None` elsewhere). Unlike
/// connections per second, it hardly moves when other processes load the
/// machine: it is the figure to compare kinds by on a shared machine.
fn process_cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Accepts `n` connections of `kind`, like a real server one task per
/// connection, and waits for all of them.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    n: usize,
    kind: Kind,
    setup: Arc<Setup>,
) -> std::io::Result<()> {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let setup = setup.clone();
        tasks.push(tokio::spawn(async move { one_server(kind, tcp, &setup).await }));
    }
    for t in tasks {
        t.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}

/// A plain OpenSSL handshake on `tcp` as server or client.
async fn openssl_handshake(
    ctx: &SslContext,
    tcp: tokio::net::TcpStream,
    client: bool,
) -> std::io::Result<tokio_openssl::SslStream<tokio::net::TcpStream>> {
    let mut ssl = openssl::ssl::Ssl::new(ctx).map_err(std::io::Error::other)?;
    if client {
        ssl.set_hostname("atls-server").map_err(std::io::Error::other)?;
    }
    let mut s = tokio_openssl::SslStream::new(ssl, tcp).map_err(std::io::Error::other)?;
    let mut pinned = std::pin::Pin::new(&mut s);
    let r = if client {
        pinned.as_mut().connect().await
    } else {
        pinned.as_mut().accept().await
    };
    r.map_err(std::io::Error::other)?;
    Ok(s)
}

async fn one_server(kind: Kind, tcp: tokio::net::TcpStream, setup: &Setup) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt;
    let ossl = &setup.openssl;
    match kind {
        Kind::Attested => {
            let (mut s, _) = net::accept(&setup.tls, tcp, &setup.server_att)
                .await
                .map_err(std::io::Error::other)?;
            s.shutdown().await
        }
        Kind::Plain => {
            let mut s = tokio_rustls::TlsAcceptor::from(setup.tls.clone()).accept(tcp).await?;
            s.shutdown().await
        }
        Kind::RoundTrip | Kind::Floor => {
            let [first, answer, outcome] = setup.sizes;
            let mut s = tokio_rustls::TlsAcceptor::from(setup.tls.clone()).accept(tcp).await?;
            let mut request = vec![0; first];
            s.read_exact(&mut request).await?;
            if kind == Kind::Floor {
                setup.floor.required_crypto(s.get_ref().1, &request)?;
            }
            s.write_all(&vec![0x42; answer]).await?;
            s.flush().await?;
            s.read_exact(&mut vec![0; outcome]).await?;
            s.shutdown().await
        }
        Kind::OpensslPlain => openssl_handshake(&ossl.server, tcp, false).await?.shutdown().await,
        Kind::OpensslAttested => {
            let (mut s, _) = expat::accept(&ossl.server, tcp, &setup.server_att)
                .await
                .map_err(std::io::Error::other)?;
            s.shutdown().await
        }
        Kind::OpensslEarly => {
            let (mut s, _) = attested_tls_openssl::accept(&ossl.early_server, tcp, &ossl.early_server_cfg)
                .await
                .map_err(std::io::Error::other)?;
            s.shutdown().await
        }
    }
}

async fn one_client(kind: Kind, addr: std::net::SocketAddr, setup: &Setup) -> Result<(), Failure> {
    use tokio::io::AsyncReadExt;
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(Failure::input)?;
    tcp.set_nodelay(true).map_err(Failure::input)?;
    let name = rustls::pki_types::ServerName::try_from("atls-server").map_err(Failure::input)?;
    let connector = tokio_rustls::TlsConnector::from(setup.client_tls.clone());
    let ossl = &setup.openssl;
    let affirmed = |ear: Option<attested_tls::ear::Ear>| {
        if ear.is_some_and(|e| e.is_affirming()) {
            Ok(())
        } else {
            Err(Failure::refused("benchmark server not affirmed"))
        }
    };
    match kind {
        Kind::Attested => {
            let (mut c, ear) = net::connect(&setup.client_tls, "atls-server", tcp, &setup.client_att)
                .await
                .map_err(Failure::refused)?;
            affirmed(ear)?;
            c.shutdown().await.map_err(Failure::input)?;
        }
        Kind::Plain => {
            let mut c = connector.connect(name, tcp).await.map_err(Failure::input)?;
            c.shutdown().await.map_err(Failure::input)?;
        }
        Kind::RoundTrip | Kind::Floor => {
            let [first, answer, outcome] = setup.sizes;
            // Queued before the handshake, as `net::connect` queues the
            // client's HELLO and request: they leave with the Finished.
            let mut c = connector
                .connect_with(name, tcp, |conn| {
                    use std::io::Write;
                    let _ = conn.writer().write_all(&vec![0x41; first]);
                })
                .await
                .map_err(Failure::input)?;
            c.read_exact(&mut vec![0; answer]).await.map_err(Failure::input)?;
            c.write_all(&vec![0x43; outcome]).await.map_err(Failure::input)?;
            c.flush().await.map_err(Failure::input)?;
            c.shutdown().await.map_err(Failure::input)?;
        }
        Kind::OpensslPlain => {
            let mut c = openssl_handshake(&ossl.client, tcp, true)
                .await
                .map_err(Failure::input)?;
            c.shutdown().await.map_err(Failure::input)?;
        }
        Kind::OpensslAttested => {
            let (mut c, ear) = expat::connect(&ossl.client, "atls-server", tcp, &setup.client_att)
                .await
                .map_err(Failure::refused)?;
            affirmed(ear)?;
            c.shutdown().await.map_err(Failure::input)?;
        }
        Kind::OpensslEarly => {
            let (mut c, ear) =
                attested_tls_openssl::connect(&ossl.early_client, "atls-server", tcp, &ossl.early_client_cfg)
                    .await
                    .map_err(Failure::refused)?;
            affirmed(ear)?;
            c.shutdown().await.map_err(Failure::input)?;
        }
    }
    Ok(())
}

/// The calling thread's time on CPU so far, from
/// `/proc/thread-self/schedstat` (Linux; `None` elsewhere).
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns = stat.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(Duration::from_nanos(ns))
}

/// The server side's CPU time per connection of `kind`: the server runs
/// alone on its own thread (a current-thread runtime: accepting, TLS, the
/// attestation work and its I/O all happen there), sequential clients on
/// the caller's runtime. This is what bounds the connections per second a
/// server core sustains when its clients are other machines. `None` when
/// the platform cannot report a thread's CPU time.
async fn server_cpu_per_connection(kind: Kind, n: usize, setup: &Arc<Setup>) -> Result<Option<Duration>, Failure> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(Failure::input)?;
    listener.set_nonblocking(true).map_err(Failure::input)?;
    let addr = listener.local_addr().map_err(Failure::input)?;
    let server_setup = setup.clone();
    let server = std::thread::Builder::new()
        // Named by kind (at most 15 bytes, the kernel's limit) so that a
        // profile can pick out one kind's server: `perf report --comm srv-attested`.
        .name(kind.server_thread_name().into())
        .spawn(move || -> std::io::Result<Option<Duration>> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                let before = thread_cpu_time();
                serve_connections(listener, n, kind, server_setup).await?;
                let spent = before.zip(thread_cpu_time()).map(|(b, a)| a.saturating_sub(b));
                Ok(spent.map(|d| d / n.max(1) as u32))
            })
        })
        .map_err(Failure::input)?;
    let clients = async {
        for _ in 0..n {
            one_client(kind, addr, setup).await?;
        }
        Ok::<_, Failure>(())
    }
    .await;
    let joined = tokio::task::spawn_blocking(move || server.join())
        .await
        .map_err(Failure::input)?
        .map_err(|_| Failure::input("the benchmark server thread panicked"))?;
    clients?;
    joined.map_err(Failure::input)
}

/// The median over `rounds` of [`server_cpu_per_connection`] for each of
/// `kinds`, the kinds alternating within every round; empty when the
/// platform cannot report a thread's CPU time.
async fn server_cpu_medians(
    kinds: &[Kind],
    connections: usize,
    rounds: usize,
    setup: &Arc<Setup>,
) -> Result<Vec<(Kind, f64)>, Failure> {
    let mut samples = vec![Vec::new(); kinds.len()];
    for _ in 0..rounds.max(1) {
        for (i, kind) in kinds.iter().enumerate() {
            if let Some(d) = server_cpu_per_connection(*kind, connections, setup).await? {
                samples[i].push(d.as_secs_f64() * 1e6);
            }
        }
    }
    if samples.iter().any(|v| v.is_empty()) {
        return Ok(Vec::new());
    }
    Ok(kinds.iter().copied().zip(samples.into_iter().map(median)).collect())
}

/// Prints the server CPU per connection of each kind and the server
/// capacity ratios among them.
fn print_server_cpu(cpus: &[(Kind, f64)]) {
    use Kind::*;
    if cpus.is_empty() {
        outln!("server CPU per connection: not available (no /proc/thread-self/schedstat)");
        return;
    }
    outln!("server CPU per connection (server alone on its own thread, sequential clients)");
    for (kind, c) in cpus {
        outln!("  {:<44} {c:>10.1} us", kind.label().replace("/s", ""));
    }
    let cpu = |k: Kind| cpus.iter().find(|(x, _)| *x == k).map(|(_, c)| *c);
    let show_capacity = |label: &str, num: Kind, den: Kind| {
        if let Some((n, d)) = cpu(num).zip(cpu(den)) {
            outln!(
                "  capacity {label:<35} {:>10.3}   (connections/s a server core sustains)",
                d / n
            );
        }
    };
    show_capacity("attested / plain", Attested, Plain);
    show_capacity("floor / plain", Floor, Plain);
    show_capacity("attested / floor", Attested, Floor);
    show_capacity("early / plain OpenSSL", OpensslEarly, OpensslPlain);
    show_capacity("OpenSSL attested / plain OpenSSL", OpensslAttested, OpensslPlain);
}

fn per_op(iterations: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations as u32
}

/// The OpenSSL contexts and mode `early` configurations, with the server
/// key of the rustls kinds.
fn openssl_setup(
    cert: &rustls::pki_types::CertificateDer<'_>,
    key: &rustls::pki_types::PrivateKeyDer<'_>,
    world: &sim::SimWorld,
) -> Result<OpensslSetup, Failure> {
    let chain = [X509::from_der(cert).map_err(Failure::input)?];
    let key = PKey::private_key_from_der(key.secret_der()).map_err(Failure::input)?;
    let scheme = vec![AttestationScheme::evidence_media_type(sim::SIM_MEDIA_TYPE)];
    let early_server_cfg =
        EarlyConfig::attester(Arc::new(SimAttester::new(world.instances[0].clone())), scheme.clone());
    let early_client_cfg = EarlyConfig::verifier(world.appraiser("bench"), scheme);
    Ok(OpensslSetup {
        server: expat::server_context(&chain, &key).map_err(Failure::input)?,
        client: expat::client_context().map_err(Failure::input)?,
        early_server: attested_tls_openssl::server_context(&early_server_cfg, &chain, &key).map_err(Failure::input)?,
        early_client: attested_tls_openssl::client_context(&early_client_cfg, None).map_err(Failure::input)?,
        early_server_cfg,
        early_client_cfg,
    })
}

/// Rounds of the authenticate+validate measurement.
const EA_ROUNDS: usize = 7;

/// A progress bar of `steps` on stderr when `enabled` and stderr is a
/// terminal (so that redirected output and `--json` stay clean); hidden
/// otherwise.
pub(crate) fn progress_bar(steps: u64, enabled: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(steps), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

pub async fn run(args: BenchArgs) -> Result<u8, Failure> {
    if args.proxy {
        return crate::bench_proxy::run(args.proxy_mib, args.rounds, args.idle_connections, args.json).await;
    }
    if cfg!(debug_assertions) {
        eprintln!("atls: warning: this is a debug build; run `cargo run --release -p atls -- bench` for real figures");
    }
    let kinds = match args.only {
        Some(kind) => vec![kind],
        None => Kind::selected(&args.stack, &args.mode)?,
    };
    // Same TLS keys for every kind and stack: one P-256 self-signed server
    // certificate.
    let (cert, key) = net::tls::self_signed_server_identity("atls-server").map_err(Failure::input)?;
    let world = sim::ephemeral_world(1).map_err(Failure::input)?;
    let openssl = openssl_setup(&cert, &key, &world)?;
    let tls = net::tls::server_config(vec![cert], key).map_err(Failure::input)?;
    let client_tls = net::tls::client_config().map_err(Failure::input)?;
    let server_att =
        AttestationConfig::attester(Arc::new(SimAttester::new(world.instances[0].clone()))).map_err(Failure::input)?;
    let client_att = AttestationConfig::verifier(world.appraiser("bench"));
    let sizes = sans_io_exchange(&client_att, &server_att);
    let floor = FloorKeys::new(&server_att)?;
    let setup = Arc::new(Setup {
        tls,
        client_tls,
        server_att,
        client_att,
        sizes,
        floor,
        openssl,
    });

    if args.server_only {
        let cpus = server_cpu_medians(&kinds, args.connections, args.rounds, &setup).await?;
        if args.json {
            let us = |k: Kind| cpus.iter().find(|(x, _)| *x == k).map(|(_, c)| *c);
            outln!(
                "{}",
                serde_json::json!({
                    "server_cpu_us": cpus.iter().map(|(k, c)| (format!("{k:?}"), *c)).collect::<std::collections::BTreeMap<_, _>>(),
                    "server_capacity_attested_over_plain": us(Kind::Plain).zip(us(Kind::Attested)).map(|(p, a)| p / a),
                    "server_capacity_floor_over_plain": us(Kind::Plain).zip(us(Kind::Floor)).map(|(p, f)| p / f),
                    "server_capacity_attested_over_floor": us(Kind::Floor).zip(us(Kind::Attested)).map(|(f, a)| f / a),
                    "connections_per_round": args.connections,
                    "rounds": args.rounds,
                })
            );
        } else {
            outln!(
                "loopback, {} connections x {} rounds (median round), server alone, P-256 keys, TLS 1.3",
                args.connections,
                args.rounds
            );
            print_server_cpu(&cpus);
        }
        return Ok(0);
    }

    // Steps: connection rounds, server CPU rounds (not with --only), the
    // authenticate+validate rounds and the sans-IO exchange.
    let rounds = args.rounds.max(1) as u64;
    let kind_rounds = rounds * kinds.len() as u64;
    let steps = if args.only.is_some() {
        kind_rounds
    } else {
        2 * kind_rounds + EA_ROUNDS as u64 + 1
    };
    let bar = progress_bar(steps, !args.no_progress && !args.json);
    bar.set_message("connections");
    // The kinds alternate within every round so that load drift hits all.
    let mut rate_samples = vec![Vec::new(); kinds.len()];
    let mut total_cpu_samples = vec![Vec::new(); kinds.len()];
    for _ in 0..args.rounds.max(1) {
        for (i, kind) in kinds.iter().enumerate() {
            let (rate, cpu) = connections_per_second(*kind, args.connections, args.concurrency, &setup).await?;
            rate_samples[i].push(rate);
            if let Some(cpu) = cpu {
                total_cpu_samples[i].push(cpu.as_secs_f64() * 1e6);
            }
            bar.inc(1);
        }
    }
    if let Some(kind) = args.only {
        bar.finish_and_clear();
        if args.json {
            outln!(
                "{}",
                serde_json::json!({
                    "kind": format!("{kind:?}"),
                    "label": kind.label(),
                    "connections_per_s": median(std::mem::take(&mut rate_samples[0])),
                    "connections": args.connections,
                    "rounds": args.rounds,
                })
            );
            return Ok(0);
        }
        outln!(
            "{}: {:.1} ({} connections x {} rounds)",
            kind.label(),
            median(std::mem::take(&mut rate_samples[0])),
            args.connections,
            args.rounds
        );
        return Ok(0);
    }
    let rates: Vec<(Kind, f64)> = kinds
        .iter()
        .copied()
        .zip(rate_samples.into_iter().map(median))
        .collect();
    let rate = |k: Kind| rates.iter().find(|(x, _)| *x == k).map(|(_, r)| *r);
    let total_cpus: Vec<(Kind, f64)> = if total_cpu_samples.iter().all(|v| !v.is_empty()) {
        kinds
            .iter()
            .copied()
            .zip(total_cpu_samples.into_iter().map(median))
            .collect()
    } else {
        Vec::new()
    };
    let total_cpu = |k: Kind| total_cpus.iter().find(|(x, _)| *x == k).map(|(_, c)| *c);

    // Server-side CPU per connection, the kinds alternating.
    bar.set_message("server CPU per connection");
    let cpus = server_cpu_medians(&kinds, args.connections, args.rounds, &setup).await?;
    bar.inc(kind_rounds);
    let cpu = |k: Kind| cpus.iter().find(|(x, _)| *x == k).map(|(_, c)| *c);

    // authenticate + validate (P-256, SHA-256 suite) vs its signature operations.
    let exporter = SecretExporter::new(HashAlgorithm::Sha256, vec![1u8; 32]);
    let profile = EaProfile::default();
    let identity = AuthenticatorIdentity::generate_self_signed("bench").map_err(Failure::input)?;
    let cmw = vec![0x82u8; 1200]; // a typical simulated-Evidence CMW size
    let request = profile.request(Role::Server, vec![7u8; 32]).encode();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).map_err(|_| Failure::input("keygen"))?;
    let kp =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).map_err(|_| Failure::input("key"))?;
    let msg = vec![0x20u8; 64 + 23 + 32];
    // Alternate the two measurements in rounds so that drift in machine
    // load affects both alike; report the medians.
    let (mut ea_times, mut raw_times, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    bar.set_message("authenticate+validate");
    for _ in 0..EA_ROUNDS {
        bar.inc(1);
        let ea = per_op(args.iterations / 7 + 1, || {
            let a = ea::authenticate(&exporter, Role::Server, &profile, &request, &identity, Some(&cmw))
                .expect("authenticate");
            ea::validate(&exporter, Role::Server, &profile, &request, &a).expect("validate");
        });
        let raw = per_op(args.iterations / 7 + 1, || {
            let sig = kp.sign(&rng, &msg).expect("sign");
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, kp.public_key().as_ref())
                .verify(&msg, sig.as_ref())
                .expect("verify");
        });
        ratios.push(ea.as_secs_f64() / raw.as_secs_f64());
        ea_times.push(ea.as_secs_f64());
        raw_times.push(raw.as_secs_f64());
    }
    let ea_time = Duration::from_secs_f64(median(ea_times));
    let raw_time = Duration::from_secs_f64(median(raw_times));
    let ea_ratio = median(ratios);

    // The whole attestation exchange without sockets (sans-IO sessions).
    bar.set_message("sans-IO exchange");
    let exchange_time = per_op(args.iterations / 4, || {
        sans_io_exchange(&setup.client_att, &setup.server_att);
    });
    bar.finish_and_clear();

    // Ratios of two kinds measured in this run (None if either was not).
    let ratio = |num: Kind, den: Kind| rate(num).zip(rate(den)).map(|(n, d)| n / d);
    // Server capacity: connections/s a server core sustains, `num` / `den`.
    let capacity = |num: Kind, den: Kind| cpu(num).zip(cpu(den)).map(|(n, d)| d / n);
    // The same for both sides together: connections/s a CPU-bound machine
    // running clients and server sustains, `num` / `den`.
    let cpu_ratio = |num: Kind, den: Kind| total_cpu(num).zip(total_cpu(den)).map(|(n, d)| d / n);
    use Kind::*;
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "plain_tls13_handshakes_per_s": rate(Plain),
                "attested_connections_per_s": rate(Attested),
                "attested_over_plain": ratio(Attested, Plain),
                "plain_round_trip_per_s": rate(RoundTrip),
                "round_trip_over_plain": ratio(RoundTrip, Plain),
                "attested_over_round_trip": ratio(Attested, RoundTrip),
                "floor_per_s": rate(Floor),
                "attested_over_floor": ratio(Attested, Floor),
                "exchange_plaintext_bytes": setup.sizes,
                "server_cpu_plain_us": cpu(Plain),
                "server_cpu_round_trip_us": cpu(RoundTrip),
                "server_cpu_attested_us": cpu(Attested),
                "server_capacity_attested_over_plain": capacity(Attested, Plain),
                "server_cpu_floor_us": cpu(Floor),
                "server_capacity_floor_over_plain": capacity(Floor, Plain),
                "server_capacity_attested_over_floor": capacity(Attested, Floor),
                "openssl_plain_tls13_handshakes_per_s": rate(OpensslPlain),
                "openssl_attested_connections_per_s": rate(OpensslAttested),
                "openssl_early_handshakes_per_s": rate(OpensslEarly),
                "openssl_attested_over_openssl_plain": ratio(OpensslAttested, OpensslPlain),
                "early_over_openssl_plain": ratio(OpensslEarly, OpensslPlain),
                "openssl_attested_over_rustls_attested": ratio(OpensslAttested, Attested),
                "openssl_plain_over_rustls_plain": ratio(OpensslPlain, Plain),
                "server_cpu_openssl_plain_us": cpu(OpensslPlain),
                "server_cpu_openssl_attested_us": cpu(OpensslAttested),
                "server_cpu_openssl_early_us": cpu(OpensslEarly),
                "server_capacity_openssl_attested_over_openssl_plain": capacity(OpensslAttested, OpensslPlain),
                "server_capacity_early_over_openssl_plain": capacity(OpensslEarly, OpensslPlain),
                "cpu_per_connection_us": total_cpus.iter().map(|(k, c)| (format!("{k:?}"), *c)).collect::<std::collections::BTreeMap<_, _>>(),
                "cpu_capacity_attested_over_plain": cpu_ratio(Attested, Plain),
                "cpu_capacity_early_over_openssl_plain": cpu_ratio(OpensslEarly, OpensslPlain),
                "cpu_capacity_openssl_attested_over_openssl_plain": cpu_ratio(OpensslAttested, OpensslPlain),
                "cpu_capacity_openssl_attested_over_rustls_attested": cpu_ratio(OpensslAttested, Attested),
                "authenticate_validate_us": ea_time.as_secs_f64() * 1e6,
                "raw_p256_sign_verify_us": raw_time.as_secs_f64() * 1e6,
                "ea_over_raw_signatures": ea_ratio,
                "sans_io_exchange_us": exchange_time.as_secs_f64() * 1e6,
                "connections_per_round": args.connections,
                "concurrency": args.concurrency,
                "rounds": args.rounds,
            })
        );
    } else {
        outln!(
            "loopback, {} connections x {} rounds (median round), {} concurrent client(s), P-256 keys, TLS 1.3",
            args.connections,
            args.rounds,
            args.concurrency
        );
        for (kind, r) in &rates {
            outln!("  {:<44} {r:>10.1}", kind.label());
        }
        let show = |label: &str, r: Option<f64>, note: &str| {
            if let Some(r) = r {
                outln!("  ratio {label:<38} {r:>10.3}   {note}");
            }
        };
        show("attested / plain", ratio(Attested, Plain), "(rustls; target >= 0.6)");
        show(
            "round trip / plain",
            ratio(RoundTrip, Plain),
            "(the extra round trip alone)",
        );
        show(
            "attested / round trip",
            ratio(Attested, RoundTrip),
            "(the attestation work alone)",
        );
        show(
            "attested / floor",
            ratio(Attested, Floor),
            "(the implementation against the design's required crypto)",
        );
        if rate(RoundTrip).is_some() {
            let [a, b, c] = setup.sizes;
            outln!("  (round trip: {a}, {b} and {c} bytes of application data, as the attested kind sends)");
        }
        show(
            "early / plain OpenSSL",
            ratio(OpensslEarly, OpensslPlain),
            "(target >= 0.6)",
        );
        show(
            "OpenSSL attested / plain OpenSSL",
            ratio(OpensslAttested, OpensslPlain),
            "(default mode on OpenSSL)",
        );
        show(
            "OpenSSL attested / rustls attested",
            ratio(OpensslAttested, Attested),
            "(default mode, stack against stack)",
        );
        show(
            "plain OpenSSL / plain rustls",
            ratio(OpensslPlain, Plain),
            "(the baselines)",
        );
        if !total_cpus.is_empty() {
            outln!("CPU per connection, clients and server together (whole process; insensitive to other load)");
            for (kind, c) in &total_cpus {
                outln!("  {:<44} {c:>10.1} us", kind.label().replace("/s", ""));
            }
            let show_cpu = |label: &str, r: Option<f64>| {
                if let Some(r) = r {
                    outln!("  capacity {label:<35} {r:>10.3}   (connections/s a CPU-bound machine sustains)");
                }
            };
            show_cpu("attested / plain", cpu_ratio(Attested, Plain));
            show_cpu("early / plain OpenSSL", cpu_ratio(OpensslEarly, OpensslPlain));
            show_cpu(
                "OpenSSL attested / plain OpenSSL",
                cpu_ratio(OpensslAttested, OpensslPlain),
            );
            show_cpu(
                "OpenSSL attested / rustls attested",
                cpu_ratio(OpensslAttested, Attested),
            );
        }
        print_server_cpu(&cpus);
        outln!(
            "authenticate+validate, P-256, SHA-256, 1200-byte CMW, {} iterations",
            args.iterations
        );
        outln!(
            "  authenticate + validate                {:>10.1} us",
            ea_time.as_secs_f64() * 1e6
        );
        outln!(
            "  raw P-256 sign + verify (aws-lc-rs)    {:>10.1} us",
            raw_time.as_secs_f64() * 1e6
        );
        outln!("  ratio                                  {ea_ratio:>10.3}   (target <= 1.2)");
        outln!("whole attestation exchange without sockets (sans-IO sessions, sim Evidence, appraisal)");
        outln!(
            "  request..outcome                       {:>10.1} us",
            exchange_time.as_secs_f64() * 1e6
        );
    }
    Ok(0)
}

/// Runs one complete server-attests exchange between two sans-IO sessions
/// over a shared exporter; returns the sizes of its messages.
fn sans_io_exchange(client: &AttestationConfig, server: &AttestationConfig) -> ExchangeSizes {
    use attested_tls::transport::{FrameDecoder, Session, SessionConfig};
    let exporter = SecretExporter::new(HashAlgorithm::Sha384, vec![5u8; 48]);
    let mk = |role, att: &AttestationConfig| {
        let mut c = SessionConfig::new(role);
        c.attester = att.attester.clone();
        c.identity = att.identity.clone();
        c.appraiser = att.appraiser.clone();
        Session::new(c)
    };
    let (mut c, mut s) = (mk(Role::Client, client), mk(Role::Server, server));
    let pump = |from: &mut Session, to: &mut Session| {
        let mut d = FrameDecoder::new(1 << 20);
        let bytes = from.take_outgoing();
        d.push(&bytes);
        while let Some(f) = d.next_frame().expect("frame") {
            to.handle_frame(f, &exporter).expect("exchange");
        }
        bytes.len()
    };
    let sizes = [pump(&mut c, &mut s), pump(&mut s, &mut c), pump(&mut c, &mut s)];
    assert!(c.is_ready() && s.is_ready());
    sizes
}
