//! The `atls` command line, run as a user would: real processes, real
//! loopback TLS, exit codes.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn atls() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atls"))
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors")
}

#[path = "../../attested-tls/tests/support/snp_synthetic.rs"]
mod snp_synthetic;

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
    // --json: one JSON object per line, one per step (issue 12 point 5;
    // the EARs used to be printed as concatenated pretty JSON documents).
    let (code, out, _) = run(atls().args(["demo", "--mutual", "--json"]));
    assert_eq!(code, 0);
    let steps = json_lines(&out);
    let step = |event: &str, who: &str| {
        steps
            .iter()
            .find(|v| v["event"] == event && v["appraised"] == who)
            .unwrap_or_else(|| panic!("no {event} {who} step: {out}"))
    };
    assert_eq!(step("appraised", "server")["ear"]["ear_status"], "affirming", "{out}");
    assert_eq!(step("appraised", "client")["ear"]["ear_status"], "affirming", "{out}");
    assert_eq!(step("reattested", "server")["ear"]["ear_status"], "affirming", "{out}");
    assert!(
        step("refused", "server")["reason"]
            .as_str()
            .unwrap()
            .contains("measurement"),
        "{out}"
    );
}

/// Parses `--json` output made of JSON lines (every line one object).
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// `atls sim init --json` (issue 12 point 5): the files and identities of
/// the world it wrote, as one JSON object; and a failure given `--json`
/// is reported as `{"error", "exit_code"}` on stdout too.
#[test]
fn sim_init_json_and_json_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sim");
    let (code, out, err) = run(atls()
        .args(["sim", "init", "--json", "--instances", "3", "--dir"])
        .arg(&dir));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let instances = v["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 3, "{out}");
    let policy = std::fs::read_to_string(v["policy"].as_str().unwrap()).unwrap();
    for i in instances {
        assert!(Path::new(i["file"].as_str().unwrap()).exists(), "{out}");
        assert!(policy.contains(i["instance_id"].as_str().unwrap()), "{out}");
    }
    // The world exists now: refused, and said in JSON with --json ...
    let (code, out, err) = run(atls().args(["sim", "init", "--json", "--dir"]).arg(&dir));
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["exit_code"], 2, "{out}");
    assert!(v["error"].as_str().unwrap().contains("already exists"), "{out}");
    assert!(err.contains("already exists"), "the human line stays on stderr: {err}");
    // ... and not without it (human output unchanged).
    let (code, out, _) = run(atls().args(["sim", "init", "--dir"]).arg(&dir));
    assert_eq!(code, 2);
    assert!(out.is_empty(), "{out}");
}

/// `atls serve --json` (issue 12 point 5): JSON lines on stdout, the
/// listening address, then one event per connection: `attested` (with the
/// client's EAR when the server appraises clients) or `refused`.
#[test]
fn serve_json_reports_connections_as_json_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let other = tmp.path().join("other");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&other)).0, 0);
    let policy = sim.join("policy.toml");
    let serve_json = |client_policy: &Path| {
        let mut child = atls()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--once",
                "--json",
                "--attester",
                "sim",
            ])
            .arg("--sim-instance")
            .arg(sim.join("instance-0.toml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let listening: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(listening["event"], "listening", "{first}");
        let addr = listening["addr"].as_str().unwrap().to_string();
        let (code, _, err) = connect(&addr, client_policy, b"x\n", &[]);
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let _ = child.wait();
        (code, err, json_lines(&rest))
    };
    let (code, err, events) = serve_json(&policy);
    assert_eq!(code, 0, "{err}");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "attested", "{events:?}");
    assert_eq!(events[0]["mode"], "expat");
    assert!(
        events[0]["client_ear"].is_null(),
        "no client attestation asked: {events:?}"
    );
    // A client that does not trust this server: the server reports the refusal.
    // With --once the refusal is also the command's failure: its JSON error
    // line (exit code 1) follows the event.
    let (code, _, events) = serve_json(&other.join("policy.toml"));
    assert_eq!(code, 1);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["event"], "refused", "{events:?}");
    assert!(
        events[0]["error"].as_str().unwrap().contains("refused our attestation"),
        "{events:?}"
    );
    assert_eq!(events[1]["exit_code"], 1, "{events:?}");
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

/// A running `atls serve`: the process, its address, and what it wrote on
/// stderr before the address line (the binding profiles' warning).
struct Server(std::process::Child, String, String);

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
    let child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    // Owned by `Server` first, so that a failed start still kills it.
    let mut server = Server(child, String::new(), String::new());
    let mut reader = BufReader::new(server.0.stderr.as_mut().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "no address line: {}",
            server.2
        );
        if line.contains("serving attested TLS on") {
            server.1 = line.trim().rsplit(' ').next().unwrap().to_string();
            return server;
        }
        server.2.push_str(&line);
    }
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
        err.contains("\n  \"ear_status\": \"contraindicated\""),
        "the EAR is printed with --json: {err}"
    );
    // The failure as JSON goes to stderr too: stdout is the peer's data.
    let last: serde_json::Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(last["exit_code"], 1, "{err}");
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

/// Guards the review's L1: `--certs` / `--trust-ark` (and the other input
/// flags) with a policy lacking their section created an empty section,
/// and the policy then failed to load ("snp.measurements is invalid", exit
/// 2). Now the flag is noted as unused and the appraisal goes on.
#[test]
fn verify_notes_input_flags_the_policy_has_no_section_for() {
    let v = vectors();
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("tdx.toml");
    std::fs::write(&policy, format!("id = \"tdx-prod\"\n[tdx]\nmrtd = [\"{TDX_MRTD}\"]\n")).unwrap();
    let vcek = v.join("sev-snp/vcek_milan.der");
    let (code, out, err) = run(atls()
        .args(["verify", "--evidence"])
        .arg(v.join("tdx/tdx_quote"))
        .arg("--collateral")
        .arg(v.join("tdx/tdx_quote_collateral.json"))
        .arg("--policy")
        .arg(&policy)
        .args([
            "--certs".as_ref(),
            vcek.as_os_str(),
            "--trust-ark".as_ref(),
            vcek.as_os_str(),
        ])
        .args(["--sim-root".as_ref(), vcek.as_os_str()])
        .args(["--cca-trust-anchors".as_ref(), vcek.as_os_str()])
        .args(["--at", "2025-07-01T00:00:00Z", "--report-data", TDX_REPORT_DATA]));
    assert_eq!(code, 0, "{out}{err}");
    for flag in ["--certs", "--trust-ark", "--sim-root", "--cca-trust-anchors"] {
        assert!(
            err.contains(&format!("atls: note: {flag} was not used: policy tdx-prod has no")),
            "{flag}: {err}"
        );
    }
    assert!(!err.contains("--collateral was not used"), "{err}");
}

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
    // With the floors the vector meets (as README's example): affirming.
    std::fs::write(
        &policy,
        format!(
            "id = \"snp\"\n[snp]\nmeasurements = [\"{measurement}\"]\n\
             min_tcb = {{ bootloader = 3, tee = 0, snp = 8, microcode = 115 }}\nmin_guest_svn = 0\n"
        ),
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
    // README's example: `--certs` relative to the working directory, the
    // policy elsewhere. The path used to be resolved against the policy's
    // directory (exit 2, no such file).
    let (code, out, err) = run(atls()
        .current_dir(&v)
        .args([
            "verify",
            "--evidence",
            "report_milan.hex",
            "--certs",
            "vcek_milan.der",
            "--policy",
        ])
        .arg(&policy)
        .args(["--at", "2026-01-01T00:00:00Z", "--report-data", rd]));
    assert_eq!(code, 0, "{out}{err}");
    // The Turin VCEK cannot vouch for the Milan report.
    let (code, out, _) = verify_with("vcek_turin.der");
    assert_eq!(code, 1, "{out}");
    // Guards issue 8 point 4: without min_tcb any certified TCB is
    // accepted, which is a warning naming the key (exit 3), not affirming.
    std::fs::write(
        &policy,
        format!("id = \"snp\"\n[snp]\nmeasurements = [\"{measurement}\"]\n"),
    )
    .unwrap();
    let (code, out, err) = verify_with("vcek_milan.der");
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        out.contains("[snp] warning") && out.contains("min_tcb not set"),
        "{out}"
    );
    // Guards the review's M4 through the CLI: min_guest_svn unset is a
    // warning naming it (exit 3), as sgx.min_isv_svn unset is.
    std::fs::write(
        &policy,
        format!(
            "id = \"snp\"\n[snp]\nmeasurements = [\"{measurement}\"]\n\
             min_tcb = {{ bootloader = 3, tee = 0, snp = 8, microcode = 115 }}\n"
        ),
    )
    .unwrap();
    let (code, out, err) = verify_with("vcek_milan.der");
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("snp.min_guest_svn not set"), "{out}");
}

/// Guards issue 8 point 1 through the CLI: the usual workflow of dumping
/// the host's certificate table (ARK, ASK, VCEK) into a folder and passing
/// it with `--certs` let a host-made hierarchy sign a report with the
/// expected measurement and report data and get exit 0. The folder's ARK
/// is now ignored (and reported), the chain is refused with the reason
/// named, exit 1; `--trust-ark` makes it a root, and the result names it
/// by its SHA-256.
#[test]
fn verify_snp_refuses_a_forged_hierarchy_passed_with_certs() {
    let measurement =
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
    let rd = "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd";
    let (h, report) = snp_synthetic::forged_milan(&hex::decode(measurement).unwrap(), &hex::decode(rd).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("host-certs");
    std::fs::create_dir(&certs).unwrap();
    for (n, d) in [("ark.der", &h.ark), ("ask.der", &h.intermediate), ("vcek.der", &h.leaf)] {
        std::fs::write(certs.join(n), d).unwrap();
    }
    let evidence = tmp.path().join("report.hex");
    std::fs::write(&evidence, hex_of(&report)).unwrap();
    let policy = tmp.path().join("snp.toml");
    std::fs::write(
        &policy,
        format!(
            "id = \"snp\"\n[snp]\nmeasurements = [\"{measurement}\"]\nmin_tcb = {{ snp = 8 }}\nmin_guest_svn = 0\n"
        ),
    )
    .unwrap();
    let verify = |extra: &[&std::ffi::OsStr]| {
        run(atls()
            .args(["verify", "--evidence"])
            .arg(&evidence)
            .arg("--policy")
            .arg(&policy)
            .args(["--at", "2026-01-01T00:00:00Z", "--report-data", rd])
            .args(extra))
    };
    let (code, out, err) = verify(&["--certs".as_ref(), certs.as_os_str()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("[snp] contraindicated"), "{out}");
    assert!(
        out.contains("endorsement_key") && out.contains("not a trusted AMD root"),
        "{out}"
    );
    let ark_hash = hex_of(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &h.ark).as_ref());
    assert!(out.contains("never a trust anchor") && out.contains(&ark_hash), "{out}");

    // Trusted explicitly, the same files verify and the result names the root.
    let ark = certs.join("ark.der");
    let (code, out, err) = verify(&[
        "--certs".as_ref(),
        certs.join("ask.der").as_os_str(),
        "--certs".as_ref(),
        certs.join("vcek.der").as_os_str(),
        "--trust-ark".as_ref(),
        ark.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let ear: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = &ear["submods"]["snp"]["attested_tls_claims"]["endorsement_key"];
    assert_eq!(key["root_sha256"], ark_hash.as_str(), "{out}");
    assert_eq!(key["root_origin"], "trusted_arks", "{out}");
}

/// Guards the review's M3 through the CLI: a forged hierarchy copying
/// AMD's exact names, passed with `--certs`, is refused as not leading to
/// a trusted AMD root (it was "signature ... does not verify with the key
/// of ARK-Milan").
#[test]
fn verify_snp_refuses_a_forged_hierarchy_with_amd_names_as_untrusted() {
    let measurement = [0x7au8; 48];
    let rd = [0xd4u8; 64];
    let (h, report) = snp_synthetic::forged_milan_with_amd_names(&measurement, &rd);
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("host-certs");
    std::fs::create_dir(&certs).unwrap();
    for (n, d) in [("ark.der", &h.ark), ("ask.der", &h.intermediate), ("vcek.der", &h.leaf)] {
        std::fs::write(certs.join(n), d).unwrap();
    }
    let evidence = tmp.path().join("report.hex");
    std::fs::write(&evidence, hex_of(&report)).unwrap();
    let policy = tmp.path().join("snp.toml");
    std::fs::write(
        &policy,
        format!(
            "id = \"snp\"\n[snp]\nmeasurements = [\"{}\"]\nmin_tcb = {{ snp = 8 }}\nmin_guest_svn = 0\n",
            hex_of(&measurement)
        ),
    )
    .unwrap();
    let (code, out, err) = run(atls()
        .args(["verify", "--evidence"])
        .arg(&evidence)
        .arg("--policy")
        .arg(&policy)
        .arg("--certs")
        .arg(&certs)
        .args(["--at", "2026-01-01T00:00:00Z", "--report-data", &hex_of(&rd)]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("which is not a trusted AMD root") && out.contains("a trusted root has that name"),
        "{out}"
    );
}

/// Guards the review's M1 and what docs/policy.md says `policy init`
/// refuses: Evidence from a guest at VMPL 2 is not pinned (it used to write
/// `vmpls = [2]`) unless --accept-observed-vmpl, and `verify` without a
/// policy flags the VMPL; a debuggable guest or one allowing a migration
/// agent gets no policy at all (no flag accepts them).
#[test]
fn policy_init_refuses_snp_vmpl_debug_and_migration_agent() {
    let measurement = [0x7au8; 48];
    let rd = [0xd4u8; 64];
    let tmp = tempfile::tempdir().unwrap();
    let forged = |name: &str, f: fn(&mut [u8])| {
        let (h, report) = snp_synthetic::forged_milan_changed(&measurement, &rd, f);
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("ark.der"), &h.ark).unwrap();
        std::fs::write(dir.join("ask.der"), &h.intermediate).unwrap();
        std::fs::write(dir.join("vcek.der"), &h.leaf).unwrap();
        std::fs::write(dir.join("report.hex"), hex_of(&report)).unwrap();
        dir
    };
    let init = |dir: &Path, extra: &[&str]| {
        let out_file = dir.join("p.toml");
        let r = run(atls()
            .args(["policy", "init", "--from-evidence"])
            .arg(dir.join("report.hex"))
            .arg("--certs")
            .arg(dir.join("ask.der"))
            .arg("--certs")
            .arg(dir.join("vcek.der"))
            .arg("--trust-ark")
            .arg(dir.join("ark.der"))
            .args(["--at", "2026-01-01T00:00:00Z", "--out"])
            .arg(&out_file)
            .args(extra));
        (r, out_file)
    };
    let vmpl2 = forged("vmpl2", |r| r[0x30] = 2);
    let ((code, out, err), file) = init(&vmpl2, &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("VMPL 2") && err.contains("--accept-observed-vmpl"),
        "{err}"
    );
    assert!(!file.exists());
    let ((code, out, err), file) = init(&vmpl2, &["--accept-observed-vmpl"]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("vmpls = [2]") && text.contains("# REVIEW: the guest runs at VMPL 2"),
        "{text}"
    );
    // Without a policy the non-zero VMPL is a refusal of its own.
    let (code, out, _) = run(atls()
        .args(["verify", "--evidence"])
        .arg(vmpl2.join("report.hex"))
        .arg("--certs")
        .arg(vmpl2.join("ask.der"))
        .arg("--certs")
        .arg(vmpl2.join("vcek.der"))
        .arg("--trust-ark")
        .arg(vmpl2.join("ark.der"))
        .args(["--at", "2026-01-01T00:00:00Z", "--report-data", &hex_of(&rd)]));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(|l| l.contains("contraindicated") && l.contains("vmpl")),
        "{out}"
    );

    // Debug (guest policy bit 19) and migration agent (bit 18): refused,
    // whatever the flags.
    for (name, bit, claim) in [("debug", 19u32, "debug"), ("migration", 18, "migration")] {
        let dir = forged(
            name,
            if bit == 19 {
                |r: &mut [u8]| r[0x0A] |= 0x08
            } else {
                |r: &mut [u8]| r[0x0A] |= 0x04
            },
        );
        let ((code, out, err), file) = init(&dir, &["--accept-observed-vmpl", "--accept-observed-tcb-status"]);
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(
            err.contains("no policy written") && err.to_lowercase().contains(claim),
            "{name}: {err}"
        );
        assert!(!file.exists(), "{name}");
    }
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
    // --json (issue 12 point 5): the same section in one JSON object.
    let (code, json, err) = run(atls()
        .args(["corim", "import", "--json", "--platform", "tdx"])
        .arg(&file));
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["corim_id"], "corim-cli", "{json}");
    assert_eq!(v["signed"], false, "{json}");
    assert_eq!(v["reference_values"], 1, "{json}");
    assert_eq!(v["policy_fragment"], out.as_str(), "{json}");
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
        "floor_per_s",
        "attested_over_floor",
        "server_cpu_floor_us",
        "server_capacity_floor_over_plain",
        "server_capacity_attested_over_floor",
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
    // --only with --json (issue 12 point 5; it used to print the human line).
    let (code, out, err) = run(atls().args([
        "bench",
        "--connections",
        "3",
        "--rounds",
        "1",
        "--only",
        "attested",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    let one: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(one["kind"], "Attested", "{out}");
    assert!(one["connections_per_s"].as_f64().is_some_and(|x| x > 0.0), "{out}");
    // The round-trip baseline sends what the attested kind sends.
    let sizes = v["exchange_plaintext_bytes"].as_array().expect("sizes");
    assert_eq!(sizes.len(), 3, "{out}");
    assert!(sizes.iter().all(|n| n.as_u64().is_some_and(|n| n > 0)), "{sizes:?}");
    let (code, out, err) = run(atls().args(["bench", "--connections", "3", "--rounds", "1", "--only", "round-trip"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("plain TLS 1.3 + the same round trip/s"), "{out}");
    // The server-alone reading by itself: no connections/s, no operations.
    let (code, out, err) = run(atls().args([
        "bench",
        "--connections",
        "3",
        "--rounds",
        "1",
        "--server-only",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for kind in ["Plain", "RoundTrip", "Floor", "Attested"] {
        assert!(
            v["server_cpu_us"][kind].as_f64().is_some_and(|x| x > 0.0),
            "{kind} in {out}"
        );
    }
    assert!(v["server_capacity_attested_over_plain"].as_f64().is_some(), "{out}");
    assert!(v["server_capacity_floor_over_plain"].as_f64().is_some(), "{out}");
    assert!(v["plain_tls13_handshakes_per_s"].is_null(), "{out}");
    // The floor kind alone: the round trip plus the required crypto.
    let (code, out, err) = run(atls().args(["bench", "--connections", "3", "--rounds", "1", "--only", "floor"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.starts_with("round trip + the required crypto (floor)/s"), "{out}");
    let (code, out, err) = run(atls().args([
        "bench",
        "--connections",
        "3",
        "--rounds",
        "1",
        "--server-only",
        "--only",
        "attested",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("attested connections (expat, sim)"), "{out}");
    assert!(!out.contains("plain"), "{out}");
}

#[test]
fn bench_measures_both_stacks_and_mode_early() {
    // Figures from a debug build mean nothing; this checks that the OpenSSL
    // kinds run (plain, the default mode, mode early) and that every ratio
    // the issue asks for is reported.
    let (code, out, err) = run(atls().args([
        "bench",
        "--connections",
        "2",
        "--rounds",
        "1",
        "--iterations",
        "20",
        "--stack",
        "rustls,openssl",
        "--mode",
        "default,early",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in [
        "plain_tls13_handshakes_per_s",
        "attested_connections_per_s",
        "openssl_plain_tls13_handshakes_per_s",
        "openssl_attested_connections_per_s",
        "openssl_early_handshakes_per_s",
        "early_over_openssl_plain",
        "openssl_attested_over_openssl_plain",
        "openssl_attested_over_rustls_attested",
        "server_cpu_openssl_early_us",
        "server_capacity_early_over_openssl_plain",
    ] {
        assert!(v[key].as_f64().is_some_and(|x| x > 0.0), "{key} in {out}");
    }
    // OpenSSL alone: no rustls figures.
    let (code, out, err) = run(atls().args([
        "bench",
        "--connections",
        "2",
        "--rounds",
        "1",
        "--iterations",
        "20",
        "--stack",
        "openssl",
        "--mode",
        "early",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["early_over_openssl_plain"].as_f64().is_some(), "{out}");
    assert!(v["plain_tls13_handshakes_per_s"].is_null(), "{out}");
    assert!(v["openssl_attested_connections_per_s"].is_null(), "{out}");
    // rustls cannot carry mode early: refused as a usage error, naming why.
    let (code, _, err) = run(atls().args(["bench", "--connections", "2", "--mode", "early"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--stack openssl"), "{err}");
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
        for flag in [
            "--evidence",
            "--policy",
            "--certs",
            "--collateral",
            "--sign-ear",
            "--trust-ark",
        ] {
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

const SNP_REPORT_DATA: &str = "d447b55d197491bfe15cf298f9de9986b7a7c4be2468b4f6e2d53b71d7c645810b0f2cdfca0040433be063fc1a8293f0f3f8dae7b79fecb3d1cd82bd6a93ebfd";
const SNP_MEASUREMENT: &str =
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";
const SGX_MRENCLAVE: &str = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
const TDX15_REPORT_DATA: &str = "2945321c99222c3622a14cf7feaab073e799be14b5f3e73cd2e6cad64e5f062463ad204f33f0a39e47d098330db88ca5b5d0a7afce540dfe4c4fe4a377190731";

fn sgx_report_data() -> String {
    format!("{}{}", hex_of(b"Hello, world!"), "00".repeat(64 - 13))
}

/// Simulated Evidence from a fresh `sim init` world in `dir`: the Evidence
/// file, its report data, the root and the instance's measurement.
fn sim_evidence(dir: &Path) -> (PathBuf, String, PathBuf, String) {
    use attested_tls::binder::BindingClaims;
    use attested_tls::crypto::HashAlgorithm;
    let world = attested_tls::sim::init(&dir.join("sim"), 1, None, false).unwrap();
    let inst = world.instances[0].clone();
    let binding = BindingClaims::from_exported_value(HashAlgorithm::Sha256, b"spki", &[7; 32]);
    let evidence = attested_tls::sim::SimAttester::new(inst.clone())
        .evidence(&binding)
        .unwrap();
    let file = dir.join("sim-evidence.cbor");
    std::fs::write(&file, evidence).unwrap();
    (
        file,
        hex_of(&binding.report_data()),
        dir.join("sim/root.pem"),
        hex_of(&inst.config().measurement),
    )
}

/// One platform's Evidence as `atls verify` / `atls policy init` take it.
struct Case {
    name: &'static str,
    /// Evidence and inputs (`--evidence`/`--from-evidence` added per command).
    evidence: PathBuf,
    inputs: Vec<std::ffi::OsString>,
    report_data: String,
    /// A claim value the output must show.
    shows: String,
    /// `atls verify` exit code under the policy `policy init` wrote.
    round_trip_exit: i32,
}

fn cases(tmp: &Path) -> Vec<Case> {
    let v = vectors();
    let os = |s: &str| std::ffi::OsString::from(s);
    let path = |p: PathBuf| p.into_os_string();
    let (sim_ev, sim_rd, sim_root, sim_m) = sim_evidence(tmp);
    vec![
        Case {
            name: "snp",
            evidence: v.join("sev-snp/report_milan.hex"),
            inputs: vec![
                os("--certs"),
                path(v.join("sev-snp/vcek_milan.der")),
                os("--at"),
                os("2026-01-01T00:00:00Z"),
            ],
            report_data: SNP_REPORT_DATA.into(),
            shows: SNP_MEASUREMENT.into(),
            round_trip_exit: 0,
        },
        Case {
            name: "tdx",
            evidence: v.join("tdx/tdx_quote"),
            inputs: vec![
                os("--collateral"),
                path(v.join("tdx/tdx_quote_collateral.json")),
                os("--at"),
                os("2025-07-01T00:00:00Z"),
            ],
            report_data: TDX_REPORT_DATA.into(),
            shows: TDX_MRTD.into(),
            round_trip_exit: 0,
        },
        Case {
            name: "tdx 1.5",
            evidence: v.join("tdx/tdx_quote_td15ex"),
            inputs: vec![
                os("--collateral"),
                path(v.join("tdx/tdx_quote_td15ex_collateral.json")),
                os("--at"),
                os("2026-10-20T00:00:00Z"),
            ],
            report_data: TDX15_REPORT_DATA.into(),
            shows: "2a674327c50218dba880066b349b8d559d749ed68dce33fd651c184a877d084b07a9e583767a7ad5da13ed91deec2b70"
                .into(),
            round_trip_exit: 0,
        },
        Case {
            // TCB status ConfigurationAndSWHardeningNeeded: the best any
            // policy can give is a warning naming it.
            name: "sgx",
            evidence: v.join("sgx/sgx_quote"),
            inputs: vec![
                os("--collateral"),
                path(v.join("sgx/sgx_quote_collateral.json")),
                os("--at"),
                os("2025-07-01T00:00:00Z"),
            ],
            report_data: sgx_report_data(),
            shows: SGX_MRENCLAVE.into(),
            round_trip_exit: 3,
        },
        Case {
            name: "cca",
            evidence: v.join("cca/cca-token-02.cbor"),
            inputs: vec![os("--cca-trust-anchors"), path(v.join("cca/ta-02-ok.json"))],
            report_data: cca_token_02_challenge(),
            shows: "43".repeat(64),
            round_trip_exit: 0,
        },
        Case {
            name: "sim",
            evidence: sim_ev,
            inputs: vec![os("--sim-root"), path(sim_root)],
            report_data: sim_rd,
            shows: sim_m,
            round_trip_exit: 0,
        },
    ]
}

/// The realm challenge of `cca-token-02.cbor` (its report data): "AB" x 32.
fn cca_token_02_challenge() -> String {
    "4142".repeat(32)
}

/// Guards the issue-8 finding: without `--policy`, SEV-SNP failed with a
/// policy-load error ("snp.measurements is invalid") while TDX printed its
/// claims. Every platform now prints its claims, says that nothing is
/// affirming without a policy, and exits 1.
#[test]
fn verify_without_policy_prints_the_claims_of_every_platform_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    for c in cases(tmp.path()) {
        let (code, out, err) = run(atls()
            .args(["verify", "--evidence"])
            .arg(&c.evidence)
            .args(&c.inputs)
            .args(["--report-data", &c.report_data]));
        assert_eq!(code, 1, "{}: {out}{err}", c.name);
        assert!(!err.contains("is invalid"), "{}: a policy error: {err}", c.name);
        assert!(out.contains(&c.shows), "{}: the claims are printed: {out}", c.name);
        assert!(
            out.starts_with("attestation result: contraindicated"),
            "{}: {out}",
            c.name
        );
        assert!(
            out.contains("no policy given: the claims are shown but compared with no reference values"),
            "{}: {out}",
            c.name
        );
        assert!(out.contains("atls policy init --from-evidence"), "{}: {out}", c.name);
        // The only refusal is the missing policy: the rest verified.
        let refusals = out
            .lines()
            .filter(|l| l.trim_start().starts_with("contraindicated:"))
            .count();
        let expected = if c.name == "sgx" { 2 } else { 1 }; // + the TCB status, not UpToDate
        assert_eq!(refusals, expected, "{}: {out}", c.name);

        // Checks that need no reference values still run: a wrong binding is named.
        let (code, out, _) = run(atls()
            .args(["verify", "--json", "--evidence"])
            .arg(&c.evidence)
            .args(&c.inputs)
            .args(["--report-data", &"00".repeat(64)]));
        assert_eq!(code, 1, "{}", c.name);
        let ear: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(ear["ear_status"], "contraindicated", "{}", c.name);
        let findings = ear["submods"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|s| s["attested_tls_findings"].as_array().unwrap().clone())
            .map(|f| f["claim"].as_str().unwrap().to_string())
            .collect::<Vec<_>>();
        assert!(
            findings
                .iter()
                .any(|f| f.contains("report_data") || f.contains("challenge")),
            "{}: {findings:?}",
            c.name
        );
        assert!(findings.contains(&"policy".to_string()), "{}: {findings:?}", c.name);
    }
    // Without the simulation root the claims are still shown (they used to
    // be read only after the chain verified), with the refusal and a hint.
    let (evidence, rd, _, m) = sim_evidence(&tmp.path().join("again"));
    let (code, out, err) = run(atls()
        .args(["verify", "--evidence"])
        .arg(&evidence)
        .args(["--report-data", &rd]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(&m), "{out}");
    assert!(out.contains("simulation root not trusted"), "{out}");
    assert!(out.contains("--sim-root"), "{out}");
}

/// `atls policy init --json` (issue 12 point 5): where the policy went, its
/// id, and the EAR of the Evidence under it, as one JSON object.
#[test]
fn policy_init_json_reports_the_written_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let c = cases(tmp.path()).into_iter().find(|c| c.name == "sim").unwrap();
    let out_file = tmp.path().join("sim-policy.toml");
    let (code, out, err) = run(atls()
        .args(["policy", "init", "--json", "--from-evidence"])
        .arg(&c.evidence)
        .args(&c.inputs)
        .arg("--out")
        .arg(&out_file));
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["out"], out_file.display().to_string(), "{out}");
    assert_eq!(v["ear"]["ear_status"], "affirming", "{out}");
    let id = v["policy_id"].as_str().unwrap();
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert!(text.contains(&format!("id = \"{id}\"")), "{text}");
}

/// `atls policy init --from-evidence` writes a policy that loads and
/// accepts the Evidence it was made from (affirming; a warning for the SGX
/// quote, whose platform TCB is not UpToDate), refuses to overwrite
/// without --force, and writes nothing for Evidence that does not verify.
#[test]
fn policy_init_writes_a_policy_that_affirms_the_same_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    for c in cases(tmp.path()) {
        let out_file = tmp.path().join(format!("{}.toml", c.name.replace(' ', "-")));
        let is_sgx = c.name == "sgx";
        let init = |accept: bool| {
            let mut cmd = atls();
            cmd.args(["policy", "init", "--from-evidence"])
                .arg(&c.evidence)
                .args(&c.inputs)
                .arg("--out")
                .arg(&out_file);
            if accept {
                cmd.arg("--accept-observed-tcb-status");
            }
            cmd
        };
        if is_sgx {
            // Guards the review's M2: a TCB status other than UpToDate was
            // written as allowed without being asked; now it needs the flag.
            let (code, out, err) = run(&mut init(false));
            assert_eq!(code, 1, "{out}{err}");
            assert!(
                err.contains("ConfigurationAndSWHardeningNeeded") && err.contains("--accept-observed-tcb-status"),
                "{err}"
            );
            assert!(!out_file.exists(), "a policy was written without the flag");
        }
        let (code, out, err) = run(&mut init(is_sgx));
        assert_eq!(code, 0, "{}: {out}{err}", c.name);
        assert!(out.contains("review"), "{}: {out}", c.name);
        let text = std::fs::read_to_string(&out_file).unwrap();
        assert!(text.contains(&c.shows), "{}: {text}", c.name);
        assert!(text.contains("allow_debug = false"), "{}: {text}", c.name);
        // The TCB-status REVIEW comment only where a status was accepted
        // (the header's "REVIEW IT" is in every file).
        assert_eq!(
            text.contains("# REVIEW: the platform's TCB status is not UpToDate"),
            is_sgx,
            "{}: {text}",
            c.name
        );

        // The round trip: `verify --policy` with the written file alone
        // (no --certs / --collateral / trust anchors: the policy names them).
        let at: Vec<&std::ffi::OsString> = c.inputs.iter().skip_while(|a| *a != "--at").take(2).collect();
        let (code, vout, verr) = run(atls()
            .args(["verify", "--evidence"])
            .arg(&c.evidence)
            .arg("--policy")
            .arg(&out_file)
            .args(at)
            .args(["--report-data", &c.report_data]));
        assert_eq!(code, c.round_trip_exit, "{}: {vout}{verr}\n{text}", c.name);
        if c.round_trip_exit == 0 {
            assert!(vout.starts_with("attestation result: affirming"), "{}: {vout}", c.name);
        } else {
            assert!(vout.contains("ConfigurationAndSWHardeningNeeded"), "{}: {vout}", c.name);
            assert!(!vout.contains("not set"), "every floor is written: {vout}");
        }

        // Never overwritten without --force.
        let (code, _, err) = run(&mut init(is_sgx));
        assert_eq!(code, 2, "{}: {err}", c.name);
        assert!(err.contains("already exists") && err.contains("--force"), "{err}");
        assert_eq!(std::fs::read_to_string(&out_file).unwrap(), text);
        let (code, _, err) = run(init(is_sgx).arg("--force"));
        assert_eq!(code, 0, "{}: {err}", c.name);
    }
}

#[test]
fn policy_init_writes_nothing_for_evidence_that_does_not_verify() {
    let v = vectors();
    let tmp = tempfile::tempdir().unwrap();
    let out_file = tmp.path().join("p.toml");
    let init = |args: &[&std::ffi::OsStr]| {
        let r = run(atls().args(["policy", "init", "--out"]).arg(&out_file).args(args));
        assert!(!out_file.exists(), "{args:?}: a policy was written");
        r
    };
    let os = std::ffi::OsStr::new;
    // TCB below every level of the collateral.
    let (code, _, err) = init(&[
        os("--from-evidence"),
        v.join("tdx/tdx_quote_outdated").as_os_str(),
        os("--collateral"),
        v.join("tdx/tdx_quote_outdated_collateral.json").as_os_str(),
        os("--at"),
        os("2026-03-01T00:00:00Z"),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tcb_level") && err.contains("no policy written"), "{err}");
    // A signed byte changed: the report signature fails.
    let mut report = std::fs::read_to_string(v.join("sev-snp/report_milan.hex")).unwrap();
    report.replace_range(42..44, "ff");
    let bad = tmp.path().join("bad.hex");
    std::fs::write(&bad, report).unwrap();
    let (code, _, err) = init(&[
        os("--from-evidence"),
        bad.as_os_str(),
        os("--certs"),
        v.join("sev-snp/vcek_milan.der").as_os_str(),
        os("--at"),
        os("2026-01-01T00:00:00Z"),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("signature"), "{err}");
    // No trust anchor: the platform signature cannot be checked; the
    // message says which input is missing.
    let (code, _, err) = init(&[os("--from-evidence"), v.join("cca/cca-token-02.cbor").as_os_str()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--cca-trust-anchors"), "{err}");
    let (sim_ev, ..) = sim_evidence(tmp.path());
    let (code, _, err) = init(&[os("--from-evidence"), sim_ev.as_os_str()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("simulation root not trusted") && err.contains("--sim-root"),
        "{err}"
    );
}

/// Guards issue 8 point 4 at the CLI: a policy without
/// `min_security_version` gives a warning naming the key (exit 3), and the
/// policy `atls sim init` writes sets it (so its results affirm).
#[test]
fn verify_exits_3_when_a_floor_is_unset() {
    let tmp = tempfile::tempdir().unwrap();
    let (evidence, rd, root, m) = sim_evidence(tmp.path());
    let written = std::fs::read_to_string(tmp.path().join("sim/policy.toml")).unwrap();
    assert!(written.contains("min_security_version = 1"), "{written}");
    let verify = |policy: &Path| {
        run(atls()
            .args(["verify", "--evidence"])
            .arg(&evidence)
            .arg("--policy")
            .arg(policy)
            .args(["--report-data", &rd]))
    };
    let (code, out, err) = verify(&tmp.path().join("sim/policy.toml"));
    assert_eq!(code, 0, "{out}{err}");
    let unset = tmp.path().join("unset.toml");
    std::fs::write(
        &unset,
        format!(
            "id = \"no-floor\"\n[sim]\ntrusted_roots = [{:?}]\nmeasurements = [\"{m}\"]\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    let (code, out, err) = verify(&unset);
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.starts_with("attestation result: warning"), "{out}");
    assert!(
        out.contains("sim.min_security_version not set in policy no-floor: any security version accepted"),
        "{out}"
    );
}

/// `--certs` / `--collateral` paths are the user's, relative to the working
/// directory; they were joined to the policy file's directory (as the
/// policy's own paths are), so README's example (`--certs
/// $V/...` with `--policy /tmp/snp.toml`) failed with "No such file".
#[test]
fn verify_resolves_command_line_paths_against_the_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("snp.toml");
    std::fs::write(
        &policy,
        format!("id = \"snp\"\n[snp]\nmeasurements = [\"{SNP_MEASUREMENT}\"]\nmin_tcb = {{ bootloader = 3 }}\n"),
    )
    .unwrap();
    let (code, out, err) = run(atls()
        .current_dir(vectors())
        .args([
            "verify",
            "--evidence",
            "sev-snp/report_milan.hex",
            "--certs",
            "sev-snp/vcek_milan.der",
            "--at",
            "2026-01-01T00:00:00Z",
            "--report-data",
            SNP_REPORT_DATA,
            "--policy",
        ])
        .arg(&policy));
    assert!(!err.contains("No such file"), "{err}");
    assert_ne!(code, 2, "{out}{err}");
    assert!(out.contains("endorsement_key"), "the VCEK was found: {out}");
}

/// Writes a test CA (`ca.pem`) and, for each `(stem, name)`, a certificate
/// for `name` issued by it (`stem.pem`, `stem.key`) into `dir`.
fn write_test_ca(dir: &Path, leaves: &[(&str, &str)]) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "atls cli test CA");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    std::fs::write(dir.join("ca.pem"), params.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = rcgen::Issuer::new(params, ca_key);
    for (stem, name) in leaves {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        std::fs::write(dir.join(format!("{stem}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
    }
}

#[test]
fn connect_host_ca_requires_the_attested_key_to_be_certified_for_the_dialled_name() {
    // Guards the I1 flags: `serve --attest-with-tls-cert` makes the
    // authenticator carry the --cert chain, and `connect --host-ca` accepts
    // the server only if that (attested) key has a certificate for the
    // dialled --server-name from the CA; the EAR shown says I1 was checked.
    // The same genuine instance attesting with its default self-signed key
    // (a diversion target: no certificate for the name) is refused, exit 1,
    // naming the check and the WebPKI reason.
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    write_test_ca(tmp.path(), &[("svc", "svc.example")]);
    let path = |f: &str| tmp.path().join(f).to_str().unwrap().to_string();
    let instance = sim.join("instance-0.toml");
    let policy = sim.join("policy.toml");
    let tls_cert = ["--cert", &path("svc.pem"), "--key", &path("svc.key")];
    let i1 = ["--server-name", "svc.example", "--host-ca", &path("ca.pem")];

    let mut args = vec![
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--once",
    ];
    args.extend(tls_cert);
    let mut with_cert = args.clone();
    with_cert.push("--attest-with-tls-cert");
    let mut server = serve(&with_cert);
    let (code, out, err) = connect(&server.1, &policy, b"to svc.example\n", &i1);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "to svc.example\n");
    assert!(err.contains("attestation result: affirming"), "{err}");
    assert!(
        err.contains("host_identity") && err.contains("svc.example: ") && err.contains("I1 checked"),
        "{err}"
    );
    assert_eq!(wait_exit(&mut server, 10), Some(0));

    // Without --attest-with-tls-cert the TLS certificate is the same, but
    // the attested key is not the certified one: refused.
    let mut server = serve(&args);
    let (code, out, err) = connect(&server.1, &policy, b"secret", &i1);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "no application data after a refusal");
    assert!(
        err.contains("host identity (I1): the attested key has no certificate for svc.example from the trusted roots"),
        "{err}"
    );
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert_eq!(wait_exit(&mut server, 10), Some(1));

    // The same requirement from the policy file ([host_identity]), with no
    // flag: enforced for the dialled name.
    let i1_policy = sim.join("i1-policy.toml");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    text.push_str(&format!("\n[host_identity]\nroots = [{:?}]\n", path("ca.pem")));
    std::fs::write(&i1_policy, text).unwrap();
    let mut server = serve(&args);
    let (code, _, err) = connect(&server.1, &i1_policy, b"secret", &["--server-name", "svc.example"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("host identity (I1)") && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert_eq!(wait_exit(&mut server, 10), Some(1));
    // A server cannot require it of its clients: a usage error at start.
    let (code, _, err) = run(atls()
        .args(["serve", "--listen", "127.0.0.1:0", "--policy"])
        .arg(&i1_policy));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("a server cannot require it"), "{err}");

    // Usage errors: a missing root file; the flag without --cert.
    let (code, _, err) = run(atls()
        .args(["connect", "127.0.0.1:9", "--policy"])
        .arg(&policy)
        .args(["--host-ca", &path("missing.pem")]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--host-ca") && err.contains("missing.pem"), "{err}");
    let (code, _, err) = run(atls().args(["serve", "--attest-with-tls-cert"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--cert"), "{err}");
}

#[test]
fn demo_mode_early_attests_echoes_and_refuses() {
    let (code, out, err) = run(atls().args(["demo", "--mode", "early"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("mode: early"), "{out}");
    assert!(out.contains("attestation result: affirming"), "{out}");
    assert!(out.contains("attested_tls_mode      early"), "{out}");
    assert!(out.contains("running unapproved code is refused"), "{out}");
    let (code, out, _) = run(atls().args(["demo", "--mode", "early", "--mutual", "--json"]));
    assert_eq!(code, 0);
    let appraised: Vec<_> = json_lines(&out)
        .into_iter()
        .filter(|v| v["event"] == "appraised")
        .collect();
    assert_eq!(appraised.len(), 2, "both directions appraised: {out}");
    for v in &appraised {
        let submods = v["ear"]["submods"].as_object().unwrap();
        assert!(
            submods
                .values()
                .all(|s| s["attested_tls_claims"]["attested_tls_mode"] == "early"),
            "in mode early: {out}"
        );
    }
}

#[test]
fn serve_and_connect_in_mode_early_and_a_mode_mismatch_fails_clearly() {
    // Guards --mode on serve and connect: an early server and client agree
    // (the EAR says mode early; the default mode's says expat), and a
    // client of the other mode fails with an error naming the fix.
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let instance = sim.join("instance-0.toml");
    let policy = sim.join("policy.toml");
    let early = [
        "--mode",
        "early",
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--once",
    ];

    let mut server = serve(&early);
    let (code, out, err) = connect(&server.1, &policy, b"early data\n", &["--mode", "early", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "early data\n");
    assert!(err.contains("\"ear_status\": \"affirming\""), "{err}");
    assert!(err.contains("\"attested_tls_mode\": \"early\""), "{err}");
    assert_eq!(wait_exit(&mut server, 10), Some(0));

    // The default mode's EAR names its mode too.
    let mut server = serve(&early[2..]);
    let (code, _, err) = connect(&server.1, &policy, b"x", &["--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("\"attested_tls_mode\": \"expat\""), "{err}");
    assert_eq!(wait_exit(&mut server, 10), Some(0));

    // An expat client to an early server: the server refuses its
    // ClientHello (no remoteAttestation) with missing_extension; the client
    // fails as a connection failure (4) and is told about --mode early.
    let mut server = serve(&early);
    let (code, out, err) = connect(&server.1, &policy, b"secret", &[]);
    assert_eq!(code, 4, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("MissingExtension") && err.contains("--mode early"),
        "{err}"
    );
    assert_eq!(
        wait_exit(&mut server, 10),
        Some(1),
        "the early server refused attestation"
    );

    // An early client to an expat server: the server does not attest in
    // the handshake; the client refuses it (exit 1) and says why.
    let _server = serve(&early[2..]);
    let (code, out, err) = connect(&_server.1, &policy, b"secret", &["--mode", "early"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("attestation required but the peer declined") && err.contains("without --mode early"),
        "{err}"
    );

    // A client of another simulation root refuses the early server: exit 1,
    // the EAR with --json.
    let other = tmp.path().join("other");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&other)).0, 0);
    let mut server = serve(&early);
    let (code, out, err) = connect(
        &server.1,
        &other.join("policy.toml"),
        b"secret",
        &["--mode", "early", "--json"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("simulation root not trusted"), "{err}");
    assert!(err.contains("\"ear_status\": \"contraindicated\""), "{err}");
    assert_eq!(wait_exit(&mut server, 10), Some(1));
}

#[test]
fn connect_mode_early_host_ca_requires_the_tls_key_to_be_certified_for_the_dialled_name() {
    // Guards I1 in mode early from the command line: the attested key is
    // the TLS key, so `serve --mode early --cert/--key` with a CA-issued
    // certificate passes `connect --mode early --host-ca`, and the same
    // genuine instance with its self-signed TLS key (no certificate for the
    // name) is refused, exit 1, naming the check.
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    write_test_ca(tmp.path(), &[("svc", "svc.example")]);
    let path = |f: &str| tmp.path().join(f).to_str().unwrap().to_string();
    let instance = sim.join("instance-0.toml");
    let policy = sim.join("policy.toml");
    let args = [
        "--mode",
        "early",
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--once",
    ];
    let i1 = [
        "--mode",
        "early",
        "--server-name",
        "svc.example",
        "--host-ca",
        &path("ca.pem"),
    ];
    let (cert, key) = (path("svc.pem"), path("svc.key"));
    let mut with_cert = args.to_vec();
    with_cert.extend(["--cert", &cert, "--key", &key]);
    let mut server = serve(&with_cert);
    let (code, out, err) = connect(&server.1, &policy, b"to svc.example\n", &i1);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "to svc.example\n");
    assert!(err.contains("host_identity") && err.contains("I1 checked"), "{err}");
    assert!(err.contains("attested_tls_mode      early"), "{err}");
    assert_eq!(wait_exit(&mut server, 10), Some(0));

    let mut server = serve(&args);
    let (code, out, err) = connect(&server.1, &policy, b"secret", &i1);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("host identity (I1): the attested key has no certificate for svc.example")
            && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert_eq!(wait_exit(&mut server, 10), Some(1), "the client refused it");
}

#[test]
fn mode_early_passport_flags_present_and_check_a_signed_result() {
    // Guards the passport flags: `serve --passport-key/--passport-policy`
    // presents a signed EAR about its own Evidence; `connect
    // --passport-verifier ID=FILE` accepts it only with that verifier's
    // key (another key: exit 1, "passport refused"); in the default mode
    // the flags are usage errors.
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let instance = sim.join("instance-0.toml");
    let policy = sim.join("policy.toml");
    let write_key = |stem: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        std::fs::write(tmp.path().join(format!("{stem}.key")), key.serialize_pem()).unwrap();
        std::fs::write(tmp.path().join(format!("{stem}.pub")), key.public_key_pem()).unwrap();
        tmp.path().join(stem).to_str().unwrap().to_string()
    };
    let (verifier, other) = (write_key("verifier"), write_key("other"));
    let signing_key = format!("{verifier}.key");
    let server_args = [
        "--mode",
        "early",
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--passport-key",
        &signing_key,
        "--passport-policy",
        policy.to_str().unwrap(),
        "--verifier-id",
        "test-verifier",
        "--once",
    ];
    let trusted = format!("test-verifier={verifier}.pub");
    // A passport is appraised by its verifier's policy: the client's own
    // policy has no platform sections (one with them is refused, below).
    let passport_only = tmp.path().join("passport-only.toml");
    std::fs::write(&passport_only, "id = \"passport-only\"\n").unwrap();
    let mut server = serve(&server_args);
    // The verifier's signing key sits on the attested host: testing only.
    assert!(server.2.contains("for testing and demos"), "{}", server.2);
    let (code, out, err) = connect(
        &server.1,
        &passport_only,
        b"passport\n",
        &["--mode", "early", "--passport-verifier", &trusted, "--json"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "passport\n");
    assert!(err.contains("\"attested_tls_mode\": \"early\""), "{err}");
    assert_eq!(wait_exit(&mut server, 10), Some(0));

    let untrusted = format!("test-verifier={other}.pub");
    let mut server = serve(&server_args);
    let (code, out, err) = connect(
        &server.1,
        &passport_only,
        b"secret",
        &["--mode", "early", "--passport-verifier", &untrusted],
    );
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("passport refused"), "{err}");
    assert_eq!(wait_exit(&mut server, 10), Some(1));

    // Guards H2: the client's policy with platform sections next to
    // --passport-verifier is a usage error (its reference values would
    // not apply to passports), before dialling.
    let (code, _, err) = run(atls()
        .args(["connect", "127.0.0.1:9", "--mode", "early", "--policy"])
        .arg(&policy)
        .args(["--passport-verifier", &trusted]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("platform sections"), "{err}");

    let (code, _, err) = run(atls()
        .args(["serve", "--passport-key", &signing_key, "--passport-policy"])
        .arg(&policy));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mode early"), "{err}");
    let (code, _, err) = run(atls()
        .args(["connect", "127.0.0.1:9", "--policy"])
        .arg(&policy)
        .args(["--passport-verifier", &trusted]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("mode early"), "{err}");
}

/// Guards `--mode <profile>` on serve and connect: for representative
/// profiles (a nonce in ALPN bound with the key, the client random, a
/// static certificate) both ends warn on stderr with the registry's text of
/// what the profile does not protect against, the connection is accepted,
/// data flows, and the EAR records the profile as `attested_tls_mode`.
#[test]
fn serve_and_connect_with_binding_profiles_warn_and_record_the_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let instance = sim.join("instance-0.toml");
    let policy = sim.join("policy.toml");
    for name in ["b6-spki-nonce-alpn", "b1-client-random", "b4-static-cert"] {
        let not_protected = attested_tls::modes::profiles::from_name(name)
            .unwrap()
            .not_protected_against();
        let mut server = serve(&[
            "--mode",
            name,
            "--attester",
            "sim",
            "--sim-instance",
            instance.to_str().unwrap(),
            "--once",
        ]);
        assert!(
            server.2.contains(&format!("WARNING: --mode {name} is binding profile"))
                && server.2.contains(not_protected),
            "serve warns: {}",
            server.2
        );
        let (code, out, err) = connect(&server.1, &policy, b"profile data\n", &["--mode", name, "--json"]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(out, "profile data\n", "{name}");
        assert!(err.contains("\"ear_status\": \"affirming\""), "{name}: {err}");
        assert!(
            err.contains(&format!("\"attested_tls_mode\": \"{name}\"")),
            "{name}: {err}"
        );
        assert!(
            err.contains(&format!("WARNING: --mode {name} is binding profile")) && err.contains(not_protected),
            "connect warns: {err}"
        );
        assert_eq!(wait_exit(&mut server, 10), Some(0), "{name}");
    }
    // The rendered result names the mode too.
    let _server = serve(&[
        "--mode",
        "b4-static-cert",
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
    ]);
    let (code, _, err) = connect(&_server.1, &policy, b"x", &["--mode", "b4-static-cert"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("attested_tls_mode      b4-static-cert"), "{err}");
}

/// Guards that two ends of different modes fail clearly: a profile client
/// of a server of another profile refuses the Evidence (exit 1, naming the
/// binder claim and the likely cause), a profile client of a default-mode
/// server finds no Evidence in its certificate (exit 1), and a default-mode
/// client of a profile server is refused by the server's nonce check.
#[test]
fn a_binding_profile_mode_mismatch_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let instance = sim.join("instance-0.toml");
    let policy = sim.join("policy.toml");
    let server_of = |mode: &str| {
        serve(&[
            "--mode",
            mode,
            "--attester",
            "sim",
            "--sim-instance",
            instance.to_str().unwrap(),
            "--once",
        ])
    };
    let hint = "both ends must use the same --mode";

    let _server = server_of("b1-client-random");
    let (code, out, err) = connect(&_server.1, &policy, b"secret", &["--mode", "b6-spki-nonce-alpn"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("eat_nonce is not the binder of this connection") && err.contains(hint),
        "{err}"
    );

    let _server = server_of("expat");
    let (code, out, err) = connect(&_server.1, &policy, b"secret", &["--mode", "b4-static-cert"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("the certificate has no Evidence extension") && err.contains(hint),
        "{err}"
    );

    let mut server = server_of("b6-spki-nonce-alpn");
    let (code, out, err) = connect(&server.1, &policy, b"secret", &[]);
    assert_eq!(code, 4, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("connect with its --mode"), "{err}");
    assert_eq!(
        wait_exit(&mut server, 10),
        Some(1),
        "the server refused the nonce check"
    );
    let mut rest = String::new();
    server.0.stderr.take().unwrap().read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("nonce check: the ALPN protocol list carries no attestation nonce") && rest.contains(hint),
        "{rest}"
    );
}

/// Guards the selection of profiles: an unknown mode is a usage error
/// (exit 2) listing every known name; the flags a profile cannot honour
/// (client attestation, host identity, our own certificate) are usage
/// errors, not silently ignored; and the demo runs a profile.
#[test]
fn binding_profiles_are_selected_by_name_only() {
    for cmd in [
        vec!["serve", "--mode", "b6"],
        vec![
            "connect",
            "127.0.0.1:1",
            "--policy",
            "p.toml",
            "--mode",
            "B6-SPKI-NONCE-ALPN",
        ],
        vec!["demo", "--mode", "contrast"],
    ] {
        let (code, _, err) = run(atls().args(&cmd));
        assert_eq!(code, 2, "{cmd:?}: {err}");
        for name in attested_tls::modes::profiles::names() {
            assert!(err.contains(name), "{cmd:?} lists {name}: {err}");
        }
        assert!(err.contains("expat") && err.contains("early"), "{err}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    let instance = sim.join("instance-0.toml");
    let policy = sim.join("policy.toml");
    let mode = ["--mode", "b6-spki-nonce-alpn"];
    let sim_attester = ["--attester", "sim", "--sim-instance", instance.to_str().unwrap()];
    // A policy requiring host identity (I1): the profiles cannot check it.
    write_test_ca(tmp.path(), &[("svc", "svc.example")]);
    let i1_policy = sim.join("i1-policy.toml");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    text.push_str(&format!(
        "\n[host_identity]\nroots = [{:?}]\n",
        tmp.path().join("ca.pem")
    ));
    std::fs::write(&i1_policy, text).unwrap();
    let (cert, key) = (tmp.path().join("svc.pem"), tmp.path().join("svc.key"));
    for (args, needle) in [
        (
            vec!["connect", "127.0.0.1:1", "--policy", i1_policy.to_str().unwrap()],
            "[host_identity] (I1) is not available with --mode b6-spki-nonce-alpn",
        ),
        (
            [
                &[
                    "serve",
                    "--cert",
                    cert.to_str().unwrap(),
                    "--key",
                    key.to_str().unwrap(),
                ][..],
                &sim_attester,
            ]
            .concat(),
            "--cert/--key is not available",
        ),
        (vec!["serve"], "give --attester sim or configfs"),
        (
            [&["serve"][..], &sim_attester, &["--policy", policy.to_str().unwrap()]].concat(),
            "--policy is not available with --mode b6-spki-nonce-alpn",
        ),
        (
            [
                &["connect", "127.0.0.1:1", "--policy", policy.to_str().unwrap()][..],
                &sim_attester,
            ]
            .concat(),
            "--attester is not available",
        ),
        (
            vec![
                "connect",
                "127.0.0.1:1",
                "--policy",
                policy.to_str().unwrap(),
                "--host-ca",
                "ca.pem",
            ],
            "--host-ca is not available",
        ),
        (vec!["demo", "--mutual"], "--mutual is not available"),
    ] {
        let (code, _, err) = run(atls().args(&args).args(mode));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }

    let (code, out, err) = run(atls().args(["demo", "--mode", "b7-draft06"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("attested_tls_mode      b7-draft06"), "{out}");
    assert!(out.contains("running unapproved code is refused"), "{out}");
    assert!(
        err.contains("WARNING: --mode b7-draft06 is binding profile B7"),
        "{err}"
    );
}

/// Guards H1 in the CLI: `serve` of a signing-oracle profile (b1/b2) with a
/// hardware attester (configfs) is refused before listening, explaining
/// why and naming --allow-signing-oracle; the flag is refused where it
/// means nothing (another profile, the default mode).
#[test]
fn signing_oracle_profiles_need_allow_signing_oracle_with_hardware() {
    let tmp = tempfile::tempdir().unwrap();
    let tsm = tmp.path().join("no-tsm");
    let listen = ["--listen", "127.0.0.1:0"];
    for mode in ["b1-client-random", "b2-alpn"] {
        let (code, _, err) = run(atls()
            .args(["serve", "--mode", mode, "--attester", "configfs", "--tsm-dir"])
            .arg(&tsm)
            .args(listen));
        assert_eq!(code, 2, "{mode}: {err}");
        assert!(
            err.contains("signing oracle") && err.contains("--allow-signing-oracle") && err.contains("b4-static-cert"),
            "{mode}: {err}"
        );
    }
    for mode in [&["--mode", "b4-static-cert"][..], &[]] {
        let (code, _, err) = run(atls()
            .args(["serve", "--allow-signing-oracle", "--attester", "configfs", "--tsm-dir"])
            .arg(&tsm)
            .args(mode)
            .args(listen));
        assert_eq!(code, 2, "{mode:?}: {err}");
        assert!(err.contains("--allow-signing-oracle"), "{mode:?}: {err}");
    }
}

/// Guards L10: `--host-ca` replaces the policy's `[host_identity]` roots
/// (documented in docs/host-identity.md); `connect` says so on stderr when
/// both are given, in both modes, before dialling.
#[test]
fn host_ca_with_a_policy_host_identity_prints_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = tmp.path().join("sim");
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(&sim)).0, 0);
    write_test_ca(tmp.path(), &[("svc", "svc.example")]);
    let ca = tmp.path().join("ca.pem");
    let i1_policy = sim.join("i1-policy.toml");
    let mut text = std::fs::read_to_string(sim.join("policy.toml")).unwrap();
    text.push_str(&format!("\n[host_identity]\nroots = [{:?}]\n", ca.to_str().unwrap()));
    std::fs::write(&i1_policy, text).unwrap();
    for mode in ["expat", "early"] {
        let (code, _, err) = run(atls()
            .args([
                "connect",
                "127.0.0.1:9",
                "--mode",
                mode,
                "--server-name",
                "svc.example",
                "--policy",
            ])
            .arg(&i1_policy)
            .arg("--host-ca")
            .arg(&ca));
        assert_ne!(code, 0, "{mode}: {err}");
        assert!(err.contains("--host-ca replaces the roots"), "{mode}: {err}");
        let (_, _, err) = run(atls()
            .args([
                "connect",
                "127.0.0.1:9",
                "--mode",
                mode,
                "--server-name",
                "svc.example",
                "--policy",
            ])
            .arg(&i1_policy));
        assert!(!err.contains("--host-ca replaces"), "{mode}: {err}");
    }
}

/// A running `atls verifier serve` and its address.
struct VerifierProcess(std::process::Child, String);

impl Drop for VerifierProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Creates a verifier key pair and a sim world in `dir`, then starts
/// `atls verifier serve` on port 0 and reads the address it prints.
fn start_verifier(dir: &Path, extra: &[&str]) -> VerifierProcess {
    let (code, out, err) = run(atls()
        .args(["verifier", "key", "init", "--key"])
        .arg(dir.join("verifier.key.pem"))
        .arg("--pub")
        .arg(dir.join("verifier.pub.pem")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("public key for relying parties"), "{out}");
    if !dir.join("sim/policy.toml").exists() {
        let (code, out, err) = run(atls().args(["sim", "init", "--dir"]).arg(dir.join("sim")));
        assert_eq!(code, 0, "{out}{err}");
    }
    let child = atls()
        .args(["verifier", "serve", "--listen", "127.0.0.1:0", "--policy"])
        .arg(dir.join("sim/policy.toml"))
        .arg("--signing-key")
        .arg(dir.join("verifier.key.pem"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut v = VerifierProcess(child, String::new());
    let mut line = String::new();
    BufReader::new(v.0.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    v.1 = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("no address line: {line:?}"))
        .to_string();
    v
}

/// One HTTP/1.1 request by hand; the whole response.
fn http(addr: &str, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// `atls verifier key init` writes a private key (0600, never over an
/// existing file) and its public key; `atls verifier serve` prints the
/// real port it bound and answers the challenge-response API.
#[test]
fn verifier_serve_prints_its_address_and_answers_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let v = start_verifier(tmp.path(), &["--session-ttl", "30", "--max-sessions", "4"]);
    assert!(v.1.starts_with("127.0.0.1:") && !v.1.ends_with(":0"), "{}", v.1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tmp.path().join("verifier.key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (code, _, err) = run(atls()
        .args(["verifier", "key", "init", "--key"])
        .arg(tmp.path().join("verifier.key.pem"))
        .arg("--pub")
        .arg(tmp.path().join("other.pub.pem")));
    assert_eq!(code, 2);
    assert!(err.contains("exists; not overwritten"), "{err}");

    let created = http(
        &v.1,
        "POST /challenge-response/v1/newSession?nonceSize=64 HTTP/1.1\r\nHost: v\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(created.starts_with("HTTP/1.1 201 Created"), "{created}");
    assert!(
        created.contains("location: /challenge-response/v1/session/"),
        "{created}"
    );
    assert!(created.contains("\"status\":\"waiting\""), "{created}");
    let unknown = http(
        &v.1,
        "GET /challenge-response/v1/session/00 HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n",
    );
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    assert!(unknown.contains("\"code\":\"unknown-session\""), "{unknown}");
}

/// Three processes: `atls verifier serve`, `atls serve` attesting with a
/// sim instance, and `atls connect` whose policy names the verifier
/// (`[remote_verifier]`): the client accepts the verifier's EAR and pipes
/// data. With the verifier gone, `connect` fails naming it (exit 4), and
/// a `[remote_verifier]` policy in mode `early` is a usage error.
#[test]
fn connect_with_a_remote_verifier_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let mut v = start_verifier(tmp.path(), &["--verifier-id", "cli-verifier"]);
    let rp = tmp.path().join("rp.toml");
    let rp_text = |addr: &str| {
        format!(
            "id = \"rp\"\n[remote_verifier]\nurl = \"http://{addr}/challenge-response/v1\"\npublic_key = \"verifier.pub.pem\"\ntimeout_secs = 5\n"
        )
    };
    std::fs::write(&rp, rp_text(&v.1)).unwrap();
    let instance = tmp.path().join("sim/instance-0.toml");
    let args = [
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--once",
    ];
    let server = serve(&args);
    let (code, out, err) = connect(&server.1, &rp, b"via the remote verifier\n", &["--json"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "via the remote verifier\n");
    assert!(err.contains("\"developer\": \"cli-verifier\""), "{err}");
    assert!(err.contains("\"ear_status\": \"affirming\""), "{err}");

    let _ = v.0.kill();
    let _ = v.0.wait();
    let server = serve(&args);
    let (code, _, err) = connect(&server.1, &rp, b"", &[]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains(&format!(
            "remote verifier http://{}/challenge-response/v1 is unreachable",
            v.1
        )),
        "{err}"
    );

    let (code, _, err) = run(atls()
        .args(["connect", "127.0.0.1:9", "--mode", "early", "--policy"])
        .arg(&rp));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("supported in the default mode only"), "{err}");
}

/// Passport model over three processes: `atls serve --passport-from`
/// presents the verifier's signed EAR instead of its Evidence, and
/// `atls connect` with a `[passport]` policy trusting the verifier's key
/// accepts it; a policy trusting another key refuses it (exit 1, naming
/// the passport check); `--passport-from` in mode early is a usage error.
#[test]
fn serve_with_a_passport_from_the_verifier() {
    let tmp = tempfile::tempdir().unwrap();
    let v = start_verifier(tmp.path(), &[]);
    let rp = tmp.path().join("rp.toml");
    std::fs::write(&rp, "id = \"rp\"\n[passport]\nverifier_keys = [\"verifier.pub.pem\"]\n").unwrap();
    let instance = tmp.path().join("sim/instance-0.toml");
    let url = format!("http://{}/challenge-response/v1", v.1);
    let args = [
        "--attester",
        "sim",
        "--sim-instance",
        instance.to_str().unwrap(),
        "--passport-from",
        url.as_str(),
        "--once",
    ];
    let server = serve(&args);
    let (code, out, err) = connect(&server.1, &rp, b"passport\n", &["--json"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, "passport\n");
    assert!(err.contains("\"passport_verifier\""), "{err}");

    let other = tempfile::tempdir().unwrap();
    let (code, _, _) = run(atls()
        .args(["verifier", "key", "init", "--key"])
        .arg(other.path().join("k.pem"))
        .arg("--pub")
        .arg(tmp.path().join("other.pub.pem")));
    assert_eq!(code, 0);
    std::fs::write(&rp, "id = \"rp\"\n[passport]\nverifier_keys = [\"other.pub.pem\"]\n").unwrap();
    let server = serve(&args);
    let (code, _, err) = connect(&server.1, &rp, b"", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("passport_signature"), "{err}");

    let (code, _, err) = run(atls()
        .args(["serve", "--mode", "early", "--attester", "sim", "--sim-instance"])
        .arg(&instance)
        .args(["--passport-from", url.as_str()]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--passport-from is for the default mode"), "{err}");
}

/// A simulation world and a TLS certificate and key in `dir`, as a server
/// operator would have them.
fn server_files(dir: &Path) {
    assert_eq!(run(atls().args(["sim", "init", "--dir"]).arg(dir)).0, 0);
    let id = rcgen::generate_simple_self_signed(vec!["atls-server".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), id.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), id.signing_key.serialize_pem()).unwrap();
}

/// Issue 13 (faults): every disk-backed input of `serve`, `connect` and
/// `verify` that has vanished or been replaced by garbage before the
/// command is exit 2 with a message naming the file. Guards two messages
/// that named no file or the wrong one: a `--cert` file without
/// certificates reached rustls as an empty chain ("TLS error: peer sent no
/// certificates"), and a policy's vanished `trusted_roots` file was
/// reported as "cannot read policy file ROOT".
#[test]
fn vanished_or_garbage_inputs_exit_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    server_files(&good);
    // `bad` is a copy in which each case breaks one file.
    let bad = tmp.path().join("bad");
    let copy = || {
        let _ = std::fs::remove_dir_all(&bad);
        std::fs::create_dir(&bad).unwrap();
        for e in std::fs::read_dir(&good).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), bad.join(e.file_name())).unwrap();
        }
    };
    let g = |f: &str| good.join(f).to_str().unwrap().to_string();
    let b = |f: &str| bad.join(f).to_str().unwrap().to_string();
    let sim_server = |inst: &str, extra: &[String]| {
        let mut a: Vec<String> = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--attester",
            "sim",
            "--sim-instance",
        ]
        .map(String::from)
        .to_vec();
        a.push(inst.to_string());
        a.extend_from_slice(extra);
        a
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let report_data = "00".repeat(64);
    // (what breaks, the file, the command, what the message must say)
    let cases: Vec<(&str, &str, Vec<String>, String)> = vec![
        (
            "serve: sim instance",
            "instance-0.toml",
            sim_server(&b("instance-0.toml"), &[]),
            b("instance-0.toml"),
        ),
        (
            "serve: policy",
            "policy.toml",
            sim_server(&g("instance-0.toml"), &s(&["--policy", &b("policy.toml")])),
            b("policy.toml"),
        ),
        (
            "serve: the policy's root",
            "root.pem",
            sim_server(&g("instance-0.toml"), &s(&["--policy", &b("policy.toml")])),
            b("root.pem"),
        ),
        (
            "serve: TLS certificate",
            "cert.pem",
            sim_server(
                &g("instance-0.toml"),
                &s(&["--cert", &b("cert.pem"), "--key", &g("key.pem")]),
            ),
            b("cert.pem"),
        ),
        (
            "serve: TLS key",
            "key.pem",
            sim_server(
                &g("instance-0.toml"),
                &s(&["--cert", &g("cert.pem"), "--key", &b("key.pem")]),
            ),
            b("key.pem"),
        ),
        (
            "connect: policy",
            "policy.toml",
            s(&["connect", "127.0.0.1:9", "--policy", &b("policy.toml")]),
            b("policy.toml"),
        ),
        (
            "connect: the policy's root",
            "root.pem",
            s(&["connect", "127.0.0.1:9", "--policy", &b("policy.toml")]),
            b("root.pem"),
        ),
        (
            "connect: host CA",
            "cert.pem",
            s(&[
                "connect",
                "127.0.0.1:9",
                "--policy",
                &g("policy.toml"),
                "--host-ca",
                &b("cert.pem"),
            ]),
            b("cert.pem"),
        ),
        (
            "connect: sim instance",
            "instance-1.toml",
            s(&[
                "connect",
                "127.0.0.1:9",
                "--policy",
                &g("policy.toml"),
                "--attester",
                "sim",
                "--sim-instance",
                &b("instance-1.toml"),
            ]),
            b("instance-1.toml"),
        ),
        (
            "verify: evidence",
            "instance-1.toml",
            s(&[
                "verify",
                "--report-data",
                &report_data,
                "--policy",
                &g("policy.toml"),
                "--evidence",
                &b("instance-1.toml"),
            ]),
            b("instance-1.toml"),
        ),
        (
            "verify: policy",
            "policy.toml",
            s(&[
                "verify",
                "--report-data",
                &report_data,
                "--evidence",
                &g("root.pem"),
                "--policy",
                &b("policy.toml"),
            ]),
            b("policy.toml"),
        ),
        (
            "verify: the policy's root",
            "root.pem",
            s(&[
                "verify",
                "--report-data",
                &report_data,
                "--evidence",
                &g("root.pem"),
                "--policy",
                &b("policy.toml"),
            ]),
            b("root.pem"),
        ),
    ];
    for (case, file, args, named) in &cases {
        for how in ["deleted", "garbage"] {
            copy();
            let path = bad.join(file);
            match how {
                "deleted" => std::fs::remove_file(&path).unwrap(),
                _ => std::fs::write(&path, b"\x00garbage\nnot = [what it should be\n").unwrap(),
            }
            let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
            let (code, _, err) = run_bounded(&args);
            // Evidence that is garbage is the Evidence's problem: no
            // verifier recognizes it (exit 2, naming the file, too).
            assert_eq!(code, 2, "{case}, {how}: {err}");
            assert!(
                err.contains(named.as_str()),
                "{case}, {how}: the message names {named}: {err}"
            );
            assert!(!err.contains("peer sent no certificates"), "{case}, {how}: {err}");
            if how == "deleted" {
                assert!(err.contains("No such file"), "{case}, {how}: {err}");
            }
            if *file == "root.pem" {
                assert!(
                    err.contains("sim.trusted_roots"),
                    "{case}, {how}: names the policy key: {err}"
                );
            }
        }
    }
    // Collateral and certificates for hardware Evidence: vanished.
    let v = vectors().join("tdx");
    let policy = tmp.path().join("tdx.toml");
    std::fs::write(&policy, format!("id = \"tdx-prod\"\n[tdx]\nmrtd = [\"{TDX_MRTD}\"]\n")).unwrap();
    for (flag, file) in [("--collateral", "gone.json"), ("--certs", "gone.pem")] {
        let gone = tmp.path().join(file);
        let (code, _, err) = run(atls()
            .args(["verify", "--report-data", TDX_REPORT_DATA, "--evidence"])
            .arg(v.join("tdx_quote"))
            .arg("--policy")
            .arg(&policy)
            .arg(flag)
            .arg(&gone));
        assert_eq!(code, 2, "{flag}: {err}");
        assert!(
            err.contains(gone.to_str().unwrap()) && err.contains("No such file"),
            "{flag}: {err}"
        );
    }
    // Collateral replaced by garbage.
    let garbage = tmp.path().join("collateral.json");
    std::fs::write(&garbage, b"{\"tcb_info\": 7").unwrap();
    let (code, _, err) = run(atls()
        .args([
            "verify",
            "--report-data",
            TDX_REPORT_DATA,
            "--at",
            "2025-07-01T00:00:00Z",
            "--evidence",
        ])
        .arg(v.join("tdx_quote"))
        .arg("--policy")
        .arg(&policy)
        .arg("--collateral")
        .arg(&garbage));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(garbage.to_str().unwrap()), "{err}");
}

/// Issue 13 (faults): `atls serve` (mode expat) reads its files once, at
/// start: the sim instance, the policy and its roots, the TLS certificate
/// and key are in memory. Deleting them, or replacing them by garbage,
/// while it runs changes nothing for the connections it serves (to use new
/// files, restart it). The only per-connection input on disk is the
/// configfs-tsm report directory (hardware attesters), whose failure is an
/// attester error (ERROR 7, tests/faults.rs).
#[test]
fn a_running_server_keeps_what_it_loaded_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = tmp.path().join("srv");
    server_files(&srv);
    // The client's copies of the policy and root, and its own instance.
    let cli = tmp.path().join("cli");
    std::fs::create_dir(&cli).unwrap();
    for f in ["policy.toml", "root.pem", "instance-1.toml"] {
        std::fs::copy(srv.join(f), cli.join(f)).unwrap();
    }
    let p = |f: &str| srv.join(f).to_str().unwrap().to_string();
    let mut server = serve(&[
        "--attester",
        "sim",
        "--sim-instance",
        &p("instance-0.toml"),
        "--policy",
        &p("policy.toml"),
        "--cert",
        &p("cert.pem"),
        "--key",
        &p("key.pem"),
    ]);
    let inst = cli.join("instance-1.toml");
    let client = ["--attester", "sim", "--sim-instance", inst.to_str().unwrap()];
    for round in ["files deleted", "files replaced by garbage"] {
        let _ = std::fs::remove_dir_all(&srv);
        if round == "files replaced by garbage" {
            std::fs::create_dir(&srv).unwrap();
            for f in ["instance-0.toml", "policy.toml", "root.pem", "cert.pem", "key.pem"] {
                std::fs::write(srv.join(f), b"garbage").unwrap();
            }
        }
        let (code, out, err) = connect(&server.1, &cli.join("policy.toml"), b"still served\n", &client);
        assert_eq!(code, 0, "{round}: {err}");
        assert_eq!(out, "still served\n", "{round}");
    }
    assert_eq!(wait_exit(&mut server, 0), None, "the server is still running");
    let _ = server.0.kill();
    let _ = server.0.wait();
}

/// Smoke test of the bounded load and soak commands (tiny numbers, no
/// timed assertion: the figures are docs/reliability.md's).
#[test]
fn load_and_soak_run_bounded_and_check_every_byte() {
    let json = |out: &str| serde_json::from_str::<serde_json::Value>(out).unwrap();
    let (code, out, err) = run(atls().args([
        "load",
        "--connections",
        "20",
        "--concurrency",
        "20",
        "--bytes",
        "70000",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(
        (v["succeeded"].as_u64(), v["failed"].as_u64()),
        (Some(20), Some(0)),
        "{out}"
    );
    assert!(v["setup_ms"]["p99"].as_f64().unwrap() > 0.0, "{out}");
    assert!(v["nofile_limit"].as_u64().unwrap() > 0, "{out}");
    let (code, out, err) = run(atls().args([
        "soak",
        "--duration",
        "3s",
        "--rate",
        "5/s",
        "--sample-every",
        "1",
        "--json",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let v = json(&out);
    assert_eq!(v["failed"].as_u64(), Some(0), "{out}");
    assert!(v["connections"].as_u64().unwrap() >= 1, "{out}");
    assert!(v["rss_kb"]["max"].as_u64().unwrap() >= v["rss_kb"]["start"].as_u64().unwrap());
    // The proxy topology runs `atls proxy` as child processes: without that
    // subcommand it says so; with it, it must pass too.
    let has_proxy = atls().args(["proxy", "--help"]).output().unwrap().status.success();
    let (code, out, err) = run(atls().args(["load", "--via", "proxy", "--connections", "5", "--json"]));
    if has_proxy {
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(json(&out)["failed"].as_u64(), Some(0), "{out}");
    } else {
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--via proxy needs `atls proxy`"), "{err}");
    }
}

#[test]
fn a_closed_output_pipe_ends_the_command_quietly_with_the_sigpipe_status() {
    // `atls ... | head`: the reader has gone before the first line. The
    // write fails with EPIPE (Rust ignores SIGPIPE); the command must stop
    // with 141 (128 + SIGPIPE, what a Unix tool killed by it reports), not
    // panic. The read end is closed before the child starts, so every write
    // fails and the outcome does not depend on timing.
    let dir = vectors().join("rfc9261");
    for args in [
        vec![
            "vectors".to_string(),
            "check".to_string(),
            dir.join("expat-ed25519-sha256-server.toml").display().to_string(),
        ],
        vec!["demo".to_string()],
        ["lab", "--only", "D1", "--mode", "expat"].map(String::from).to_vec(),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = atls()
            .args(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
    }
}

#[test]
fn a_command_line_error_with_json_is_reported_as_json() {
    // A misspelt flag next to --json: clap's message on stderr as usual,
    // and the error as JSON where the command's JSON goes (stdout; stderr
    // for connect, whose stdout is the peer's data), exit 2.
    let (code, out, err) = run(atls().args(["verify", "--json", "--bogus"]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("unexpected argument '--bogus'"), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object on stdout");
    assert_eq!(v["exit_code"], 2, "{out}");
    assert!(v["error"].as_str().unwrap().contains("--bogus"), "{out}");

    let (code, out, err) = run(atls().args(["connect", "--json", "--bogus", "127.0.0.1:1"]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(out.is_empty(), "{out}");
    let last = err.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).expect("JSON as the last stderr line");
    assert!(v["error"].as_str().unwrap().contains("--bogus"), "{err}");

    // Without --json: clap's message only.
    let (code, out, err) = run(atls().args(["verify", "--bogus"]));
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(out.is_empty() && !err.contains("exit_code"), "{out}\n{err}");
    // --help is not an error, with or without --json.
    let (code, out, _) = run(atls().args(["verify", "--json", "--help"]));
    assert_eq!(code, 0);
    assert!(out.contains("Usage"), "{out}");
}
