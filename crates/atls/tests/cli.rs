//! The `atls` command line, run as a user would: real processes, real
//! loopback TLS, exit codes.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn atls() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atls"))
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("atls runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_attests_echoes_and_refuses() {
    let (code, out, err) = run(atls().arg("demo"));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("attestation result: affirming"), "{out}");
    assert!(
        out.contains("re-attestation on the same connection: affirming"),
        "{out}"
    );
    assert!(out.contains("running unapproved code is refused"), "{out}");
    let (code, out, _) = run(atls().args(["demo", "--mutual", "--json"]));
    assert_eq!(code, 0);
    assert!(
        out.matches("\"status\": \"affirming\"").count() >= 2,
        "both directions appraised: {out}"
    );
}

#[test]
fn vectors_check_reproduces_both_vectors_and_reports_mismatches() {
    let dir = vectors().join("rfc9261");
    let (code, out, err) = run(atls()
        .args(["vectors", "check"])
        .arg(dir.join("expat-ed25519-sha256-server.toml"))
        .arg(dir.join("expat-ed25519-sha256-server-label-attestation.toml")));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches(": OK").count(), 2, "{out}");
    assert!(!out.contains("MISMATCH"));

    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(dir.join("expat-ed25519-sha256-server.toml")).unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, text.replace("binder = \"0ab4", "binder = \"1ab4")).unwrap();
    let (code, out, _) = run(atls().args(["vectors", "check", "--json"]).arg(&bad));
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let bad_checks: Vec<&str> = v[0]["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(bad_checks, vec!["binder"]);

    let (code, _, err) = run(atls().args(["vectors", "check"]).arg(tmp.path().join("missing.toml")));
    assert_eq!(code, 2, "{err}");
}

struct Server(std::process::Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(args: &[&str]) -> Server {
    let mut cmd = atls();
    cmd.arg("serve").args(["--listen", "127.0.0.1:0"]).args(args);
    start_server(cmd)
}

/// Starts a server command and waits for the line with its address.
fn start_server(mut cmd: Command) -> Server {
    let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(line.contains("serving attested TLS on"), "{line}");
    Server(child, addr)
}

/// The server's exit code, waiting at most `secs` seconds.
fn wait_exit(server: &mut Server, secs: u64) -> Option<i32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Some(status) = server.0.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

/// `atls connect ADDR --policy P EXTRA...` with stdin and stdout piped.
fn spawn_connect(addr: &str, policy: &Path, extra: &[&str], stderr: Stdio) -> std::process::Child {
    atls()
        .args(["connect", addr, "--policy"])
        .arg(policy)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

fn connect(addr: &str, policy: &Path, input: &[u8], extra: &[&str]) -> (i32, String, String) {
    let mut c = spawn_connect(addr, policy, extra, Stdio::piped());
    c.stdin.take().unwrap().write_all(input).unwrap();
    let out = c.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_and_connect_in_two_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    let (code, out, err) = run(atls().args(["sim", "init", "--instances", "2", "--dir"]).arg(&sim));
    assert_eq!(code, 0, "{out}{err}");
    for f in [
        "root.pem",
        "root.key",
        "instance-0.toml",
        "instance-1.toml",
        "policy.toml",
    ] {
        assert!(sim.join(f).exists(), "{f} written");
    }
    let instance = sim.join("instance-0.toml");
    let server = serve(&[
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--once",
    ]);
    let (code, out, err) = connect(
        &server.1,
        &sim.join("policy.toml"),
        b"hello through attested TLS\n",
        &[],
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out, "hello through attested TLS\n",
        "stdout carries only the echoed data"
    );
    assert!(
        err.contains("attestation result: affirming"),
        "the appraisal goes to stderr: {err}"
    );

    // Another simulation root: the client's policy does not trust the server.
    let other = tmp.path().join("other");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&other)).0, 0);
    let server = serve(&[
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--once",
    ]);
    let mut server = server;
    let (code, out, err) = connect(&server.1, &other.join("policy.toml"), b"secret", &["--json"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        wait_exit(&mut server, 10),
        Some(1),
        "serve --once reports the refusal in its exit code"
    );
    assert!(out.is_empty(), "no application data after a refusal");
    assert!(err.contains("simulation root not trusted"), "{err}");
    assert!(
        err.contains("\"status\": \"contraindicated\""),
        "the EAR is printed with --json: {err}"
    );
}

#[test]
fn failed_connections_exit_4_not_1_from_serve_once_and_connect() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let instance = sim.join("instance-0.toml");
    let mut server = serve(&[
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--once",
    ]);
    // A client that does not speak TLS: a connection failure, no refusal.
    let mut tcp = std::net::TcpStream::connect(&server.1).unwrap();
    tcp.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    drop(tcp);
    assert_eq!(
        wait_exit(&mut server, 10),
        Some(4),
        "serve --once reports a failed connection as 4"
    );

    // A server that accepts the TCP connection and closes it at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let closer = std::thread::spawn(move || drop(listener.accept()));
    let (code, out, err) = connect(&addr, &sim.join("policy.toml"), b"", &[]);
    closer.join().unwrap();
    assert_eq!(code, 4, "connect reports a failed connection as 4: {err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("attested connection failed"), "{err}");
}

#[test]
fn serve_refuses_max_connections_0_and_serves_with_1() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let instance = sim.join("instance-0.toml");
    // 0 would never serve anyone: a usage error, not a silent 1.
    for flag in ["--max-connections", "--max-attester-calls"] {
        let (code, _, err) = run(atls().args(["serve", "--listen", "127.0.0.1:0", flag, "0"]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(flag), "{err}");
    }
    let mut server = serve(&[
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--max-connections",
        "1",
        "--max-attester-calls",
        "1",
        "--once",
    ]);
    let (code, out, err) = connect(&server.1, &sim.join("policy.toml"), b"not starved\n", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "not starved\n");
    assert_eq!(wait_exit(&mut server, 10), Some(0));
}

#[test]
fn serve_closes_an_idle_connection_with_error_6_and_close_notify() {
    // Guards issue 8: an idle connection was dropped without a word (no
    // ERROR frame, no close_notify); the client saw a truncated TLS stream.
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let instance = sim.join("instance-0.toml");
    let mut server = serve(&[
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--idle-timeout",
        "1",
        "--once",
    ]);
    // stdin stays open and silent: the connection is idle.
    let mut c = spawn_connect(&server.1, &sim.join("policy.toml"), &[], Stdio::piped());
    let stdin = c.stdin.take().unwrap();
    let out = c.wait_with_output().unwrap();
    drop(stdin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains("the peer reported error 6: idle timeout: no byte in either direction for 1 s"),
        "{err}"
    );
    assert_eq!(wait_exit(&mut server, 10), Some(4));
}

#[test]
fn mutual_attestation_between_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let policy = sim.join("policy.toml");
    let server = serve(&[
        "--attester",
        "sim",
        "--sim-instance",
        sim.join("instance-0.toml").to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
        "--once",
    ]);
    let inst1 = sim.join("instance-1.toml");
    let (code, out, err) = connect(
        &server.1,
        &policy,
        b"both attested",
        &["--attester", "sim", "--sim-instance", inst1.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "both attested");
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    let (code, _, err) = run(atls().args(["serve", "--attester", "sim"]));
    assert_eq!(code, 2);
    assert!(err.contains("--sim-instance"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("p.toml");
    std::fs::write(
        &p,
        "id = \"x\"\n[sim]\ntrusted_roots = []\nmeasurements = []\nalow_debug = true\n",
    )
    .unwrap();
    let (code, _, err) = run(atls().args(["connect", "127.0.0.1:9", "--policy"]).arg(&p));
    assert_eq!(code, 2);
    assert!(err.contains("alow_debug"), "unknown policy keys are named: {err}");
}

const TDX_REPORT_DATA: &str = "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20";
const TDX_MRTD: &str =
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";

#[test]
fn verify_tdx_quote_offline() {
    let v = vectors().join("tdx");
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("tdx.toml");
    std::fs::write(&policy, format!("id = \"tdx-prod\"\n[tdx]\nmrtd = [\"{TDX_MRTD}\"]\n")).unwrap();
    let base = |at: &str, rd: &str| {
        let mut c = atls();
        c.args(["verify", "--evidence"])
            .arg(v.join("tdx_quote"))
            .arg("--collateral")
            .arg(v.join("tdx_quote_collateral.json"))
            .arg("--policy")
            .arg(&policy)
            .args(["--at", at, "--report-data", rd]);
        c
    };
    let (code, out, err) = run(&mut base("2025-07-01T00:00:00Z", TDX_REPORT_DATA));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("[tdx] affirming (policy tdx-prod)"), "{out}");
    assert!(out.contains(TDX_MRTD));
    // Expired collateral today.
    let (code, out, _) = run(&mut base("2026-11-26T00:00:00Z", TDX_REPORT_DATA));
    assert_eq!(code, 1, "{out}");
    // Wrong binding.
    let (code, out, _) = run(&mut base("2025-07-01T00:00:00Z", &"00".repeat(64)));
    assert_eq!(code, 1);
    assert!(out.contains("report_data"), "{out}");
    // No expected report data: an error, never a skipped check.
    let (code, _, err) = run(atls().args(["verify", "--evidence"]).arg(v.join("tdx_quote")));
    assert_eq!(code, 2);
    assert!(err.contains("--report-data"), "{err}");
    let (code, _, err) = run(atls()
        .args(["verify", "--report-data", "", "--evidence"])
        .arg(v.join("tdx_quote")));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn verify_sgx_quote_warning_only_when_policy_allows_the_status() {
    let v = vectors().join("sgx");
    let tmp = tempfile::tempdir().unwrap();
    let rd = format!("{}{}", hex_of(b"Hello, world!"), "00".repeat(64 - 13));
    let mrenclave = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
    for (allowed, expect_code) in [
        ("", 1),
        (
            "allowed_tcb_statuses = [\"UpToDate\", \"ConfigurationAndSWHardeningNeeded\"]",
            3,
        ),
    ] {
        let policy = tmp.path().join("sgx.toml");
        std::fs::write(
            &policy,
            format!("id = \"sgx\"\n[sgx]\nmrenclave = [\"{mrenclave}\"]\n{allowed}\n"),
        )
        .unwrap();
        let (code, out, err) = run(atls()
            .args(["verify", "--json", "--evidence"])
            .arg(v.join("sgx_quote"))
            .arg("--collateral")
            .arg(v.join("sgx_quote_collateral.json"))
            .arg("--policy")
            .arg(&policy)
            .args(["--at", "2025-07-01T00:00:00Z", "--report-data", &rd]));
        assert_eq!(code, expect_code, "{out}{err}");
        assert!(
            out.contains("ConfigurationAndSWHardeningNeeded"),
            "the result names the status: {out}"
        );
    }
}

#[test]
fn verify_snp_report_offline_with_certs() {
    let v = vectors().join("sev-snp");
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("snp.toml");
    let measurement =
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
    let rd = "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd";
    std::fs::write(
        &policy,
        format!("id = \"snp\"\n[snp]\nmeasurements = [\"{measurement}\"]\n"),
    )
    .unwrap();
    let verify_with = |vcek: &str| {
        run(atls()
            .args(["verify", "--evidence"])
            .arg(v.join("report_milan.hex"))
            .arg("--certs")
            .arg(v.join(vcek))
            .arg("--policy")
            .arg(&policy)
            .args(["--at", "2026-01-01T00:00:00Z", "--report-data", rd]))
    };
    let (code, out, err) = verify_with("vcek_milan.der");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("[snp] affirming"), "{out}");
    // The Turin VCEK cannot vouch for the Milan report.
    let (code, out, _) = verify_with("vcek_turin.der");
    assert_eq!(code, 1, "{out}");
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn corim_import_prints_a_policy_section() {
    use ciborium::value::Value;
    let int = |i: i64| Value::Integer(i.into());
    let enc = |v: &Value| {
        let mut out = Vec::new();
        ciborium::ser::into_writer(v, &mut out).unwrap();
        out
    };
    let mrtd = vec![0x91u8; 48];
    let meas = Value::Map(vec![
        (int(0), Value::Text("mrtd".into())),
        (
            int(1),
            Value::Map(vec![(
                int(2),
                Value::Array(vec![Value::Array(vec![int(7), Value::Bytes(mrtd.clone())])]),
            )]),
        ),
    ]);
    let env = Value::Map(vec![(int(0), Value::Map(vec![(int(1), Value::Text("Intel".into()))]))]);
    let comid = Value::Map(vec![
        (int(1), Value::Map(vec![(int(0), Value::Text("comid-1".into()))])),
        (
            int(4),
            Value::Map(vec![(
                int(0),
                Value::Array(vec![Value::Array(vec![env, Value::Array(vec![meas])])]),
            )]),
        ),
    ]);
    let corim = Value::Tag(
        501,
        Box::new(Value::Map(vec![
            (int(0), Value::Text("corim-cli".into())),
            (
                int(1),
                Value::Array(vec![Value::Tag(506, Box::new(Value::Bytes(enc(&comid))))]),
            ),
        ])),
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("ref.corim");
    std::fs::write(&file, enc(&corim)).unwrap();
    let (code, out, err) = run(atls().args(["corim", "import", "--platform", "tdx"]).arg(&file));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("mrtd = [\"{}\"]", "91".repeat(48))), "{out}");
    assert!(out.contains("unsigned"), "{out}");
    // The printed section is a valid policy.
    let policy = tmp.path().join("p.toml");
    std::fs::write(&policy, format!("id = \"from-corim\"\n{out}")).unwrap();
    let (code, _, err) = run(atls()
        .args(["verify", "--evidence"])
        .arg(vectors().join("tdx/tdx_quote"))
        .arg("--policy")
        .arg(&policy)
        .args(["--report-data", &"00".repeat(64)]));
    assert_eq!(
        code, 1,
        "parses, then refuses (no collateral, wrong report data): {err}"
    );
    // Requiring a signature refuses an unsigned CoRIM.
    let key = tmp.path().join("k.pem");
    let kp = rcgen_like_p256_pem();
    std::fs::write(&key, kp).unwrap();
    let (code, _, err) = run(atls()
        .args(["corim", "import", "--platform", "tdx", "--key"])
        .arg(&key)
        .arg(&file));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.to_lowercase().contains("sign"),
        "the refusal says the CoRIM is not signed: {err}"
    );
}

/// A P-256 public key in PEM (SPKI), fixed.
fn rcgen_like_p256_pem() -> String {
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\nq9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----\n"
        .to_string()
}

#[test]
fn serve_forwards_attested_connections_to_a_local_service() {
    use std::io::Read;
    // A plain TCP service that upper-cases what it receives.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = upstream.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        s.write_all(&buf.to_ascii_uppercase()).unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let inst = sim.join("instance-0.toml");
    let server = serve(&[
        "--attester",
        "sim",
        "--sim-instance",
        inst.to_str().unwrap(),
        "--forward",
        &up_addr,
        "--once",
    ]);
    let (code, out, err) = connect(&server.1, &sim.join("policy.toml"), b"through the sidecar", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "THROUGH THE SIDECAR");
}

#[test]
fn bench_reports_every_kind_and_one_kind_on_request() {
    // Figures from a debug build mean nothing; this checks the command
    // runs both kinds of connection and reports what it promises.
    let (code, out, err) = run(atls().args([
        "bench",
        "--connections",
        "3",
        "--rounds",
        "1",
        "--iterations",
        "20",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in [
        "plain_tls13_handshakes_per_s",
        "attested_connections_per_s",
        "attested_over_plain",
        "plain_round_trip_per_s",
        "round_trip_over_plain",
        "attested_over_round_trip",
        "server_cpu_plain_us",
        "server_cpu_round_trip_us",
        "server_cpu_attested_us",
        "server_capacity_attested_over_plain",
        "authenticate_validate_us",
        "raw_p256_sign_verify_us",
        "sans_io_exchange_us",
    ] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {out}");
    }
    let (code, out, err) = run(atls().args(["bench", "--connections", "3", "--rounds", "1", "--only", "attested"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("attested connections/s"), "{out}");
    assert!(!out.contains("plain"), "{out}");
    // The round-trip baseline sends what the attested kind sends.
    let sizes = v["exchange_plaintext_bytes"].as_array().expect("sizes");
    assert_eq!(sizes.len(), 3, "{out}");
    assert!(sizes.iter().all(|n| n.as_u64().is_some_and(|n| n > 0)), "{sizes:?}");
    let (code, out, err) = run(atls().args(["bench", "--connections", "3", "--rounds", "1", "--only", "round-trip"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("plain TLS 1.3 + the same round trip/s"), "{out}");
}

#[test]
fn connect_returns_when_the_server_side_ends_even_if_stdin_stays_open() {
    use std::io::Read;
    // A service that greets and hangs up; the user never closes stdin.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = upstream.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut s, _) = upstream.accept().unwrap();
        s.write_all(b"banner\n").unwrap();
    });
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let inst = sim.join("instance-0.toml");
    let mut server = serve(&[
        "--attester",
        "sim",
        "--sim-instance",
        inst.to_str().unwrap(),
        "--forward",
        &up_addr,
        "--once",
    ]);
    let mut c = spawn_connect(&server.1, &sim.join("policy.toml"), &[], Stdio::null());
    let _stdin_kept_open = c.stdin.take();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let status = loop {
        if let Some(st) = c.try_wait().unwrap() {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "connect hangs on stdin");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(out, "banner\n");
    assert_eq!(wait_exit(&mut server, 10), Some(0));
}

#[test]
fn serve_survives_running_out_of_file_descriptors() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let inst = sim.join("instance-0.toml");
    // A low descriptor limit, so that a handful of idle TCP clients
    // exhausts it (in production: any ~1000 clients against the default).
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "ulimit -n 32 && exec {} serve --listen 127.0.0.1:0 --attester sim --sim-instance {}",
        env!("CARGO_BIN_EXE_atls"),
        inst.display()
    ));
    let mut server = start_server(cmd);
    let idle: Vec<_> = (0..60)
        .filter_map(|_| std::net::TcpStream::connect(&server.1).ok())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(server.0.try_wait().unwrap(), None, "serve exited when accept failed");
    drop(idle);
    let (code, out, err) = connect(&server.1, &sim.join("policy.toml"), b"still here", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "still here");
    assert_eq!(wait_exit(&mut server, 0), None);
}

/// Runs `atls args...` under a 1 GiB address-space limit and a deadline,
/// so that a regression to unbounded reads fails the test (allocation
/// failure, or killed when blocked on a FIFO) instead of exhausting the
/// machine's memory or hanging.
fn run_bounded(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_atls"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("atls runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("atls {args:?} did not finish within 20 s (blocked on its input?)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn mkfifo(p: &Path) {
    let status = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(status.success(), "mkfifo {}", p.display());
}

#[test]
fn sim_init_refuses_to_overwrite_without_force() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(
        run(atls().args(["sim", "init", "--instances", "1", "--dir"]).arg(&sim)).0,
        0
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&sim), 0o700);
    let snapshot =
        || ["root.pem", "root.key", "instance-0.toml", "policy.toml"].map(|f| std::fs::read(sim.join(f)).unwrap());
    let before = snapshot();

    let (code, out, err) = run(atls().args(["sim", "init", "--instances", "1", "--dir"]).arg(&sim));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("root.pem") && err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(snapshot(), before, "files unchanged after a refused re-run");

    // --force: a new root key, private even if the old file was not.
    let key = sim.join("root.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, out, err) = run(atls()
        .args(["sim", "init", "--force", "--instances", "1", "--dir"])
        .arg(&sim));
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(std::fs::read(&key).unwrap(), before[1], "a new root key");
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn sim_init_does_not_follow_a_symlink_at_root_key() {
    let tmp = tempfile::tempdir().unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, b"untouched").unwrap();
    let sim = tmp.path().join("sim");
    std::fs::create_dir(&sim).unwrap();
    std::os::unix::fs::symlink(&victim, sim.join("root.key")).unwrap();
    for force in [false, true] {
        let mut c = atls();
        c.args(["sim", "init", "--instances", "1", "--dir"]).arg(&sim);
        if force {
            c.arg("--force");
        }
        let (code, out, err) = run(&mut c);
        assert_eq!(code, if force { 0 } else { 2 }, "force {force}: {out}{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"untouched", "force {force}");
    }
    assert!(std::fs::symlink_metadata(sim.join("root.key"))
        .unwrap()
        .file_type()
        .is_file());
}

#[test]
fn verify_refuses_devices_fifos_and_oversized_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    mkfifo(&fifo);
    let big = tmp.path().join("big.hex");
    std::fs::write(&big, "00".repeat(200 * 1024)).unwrap();
    let rd = "00".repeat(64);
    let verify = |extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = ["verify", "--report-data", rd.as_str()]
            .map(std::ffi::OsStr::new)
            .to_vec();
        args.extend_from_slice(extra);
        run_bounded(&args)
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    let zero = std::ffi::OsStr::new("/dev/zero");
    let quote = vectors().join("tdx/tdx_quote");

    for input in [zero, fifo.as_os_str()] {
        for flag in ["--evidence", "--policy", "--certs", "--collateral", "--sign-ear"] {
            let mut extra = vec![os(flag), input];
            if flag != "--evidence" {
                // Real Evidence, so that `--sign-ear` is reached.
                extra.extend([os("--evidence"), quote.as_os_str()]);
            }
            let (code, out, err) = verify(&extra);
            assert_eq!(code, 2, "{flag} {input:?}: {out}{err}");
            assert!(err.contains("not a regular file"), "{flag} {input:?}: {err}");
        }
    }
    let (code, out, err) = verify(&[os("--evidence"), big.as_os_str()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("big.hex") && err.contains("-byte limit"), "{err}");

    // corim import and vectors check read their files the same way.
    for args in [
        vec![os("corim"), os("import"), zero, os("--platform"), os("sim")],
        vec![os("corim"), os("import"), fifo.as_os_str(), os("--platform"), os("sim")],
        vec![os("vectors"), os("check"), zero],
        vec![os("vectors"), os("check"), fifo.as_os_str()],
    ] {
        let (code, out, err) = run_bounded(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains("not a regular file"), "{args:?}: {err}");
    }
}

/// `[expected]` keys and values of a vector file are the file author's
/// text: `vectors check` must not print them raw (a key can erase the
/// MISMATCH line and write "ok" in its place, or a value a line of its own).
#[test]
fn vectors_check_output_escapes_the_files_keys_and_values() {
    let dir = vectors().join("rfc9261");
    let text = std::fs::read_to_string(dir.join("expat-ed25519-sha256-server.toml")).unwrap();
    let evil = text.replacen(
        "[expected]\n",
        "[expected]\n\"x\\u001b[2K\\rok        everything\" = \"00\\n/tmp/v.toml: OK\"\n",
        1,
    );
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("evil.toml");
    std::fs::write(&f, evil).unwrap();
    let (code, out, err) = run(atls().args(["vectors", "check"]).arg(&f));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters on stdout: {out:?}"
    );
    assert!(
        !out.contains("\n/tmp/v.toml: ok"),
        "the file wrote a line of its own: {out:?}"
    );
}
