//! `atls inspect` exit codes: 0 binding holds and signatures verify to a
//! vendor root, 1 binding fails / signature or chain invalid / no
//! Evidence, 2 unreadable input. Certificates built here cover 1 and 2 on
//! a plain clone; exit 0 needs a quote signed under the real Intel root,
//! which only the peer samples in ../shared/vectors/peers have (those tests
//! print a `SKIPPED` line and pass when the directory is absent, as in a
//! plain clone).

use std::path::Path;
use std::process::Command;

#[path = "../../attested-tls/tests/support/snp_synthetic.rs"]
mod snp_synthetic;

fn atls() -> Command {
    Command::new(env!("CARGO_BIN_EXE_atls"))
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("atls runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[path = "../../attested-tls/tests/support/peer_samples.rs"]
mod peer_samples;
use peer_samples::peers_dir as peers;

/// A self-signed certificate with `value` under extension `oid`.
fn cert_with(oid: &[u64], value: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&k);
    let mut p = rcgen::CertificateParams::new(vec!["peer.test".to_string()]).unwrap();
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(oid, value)];
    (p.self_signed(&k).unwrap().der().to_vec(), spki)
}

#[test]
fn inspect_real_samples_exit_0_inside_their_windows_and_1_outside() {
    let Some(d) = peers() else { return };
    let (code, out, err) = run(atls()
        .arg("inspect")
        .arg(d.join("interop-ratls/gramine-cert.pem"))
        .args(["--at", "2023-06-01T00:00:00Z"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("gramine-legacy") && out.contains("tcg-dice"), "{out}");
    assert!(
        out.contains("HOLDS") && out.contains("debug                    true"),
        "{out}"
    );
    assert!(out.contains("mechanism B4") && out.contains("RP replay"), "{out}");

    let (code, out, _) = run(atls()
        .arg("inspect")
        .arg(d.join("tng-ear/ear.jwt"))
        .args(["--at", "2026-01-20T07:56:40Z", "--json", "--certs"])
        .arg(d.join("tng-ear/ear.as-ca.pem")));
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["evidence"][0]["binding"]["outcome"], "holds");
    assert_eq!(v["evidence"][0]["evidence"]["outcome"], "verified");
    // One second after exp.
    let (code, out, _) = run(atls()
        .arg("inspect")
        .arg(d.join("tng-ear/ear.jwt"))
        .args(["--at", "2026-01-20T08:00:08Z", "--certs"])
        .arg(d.join("tng-ear/ear.as-ca.pem")));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("INVALID: the token is valid"), "{out}");
    // Its PCK leaf expired on 2026-01-08.
    let (code, out, _) = run(atls()
        .arg("inspect")
        .arg(d.join("oe-attested-cert/sgx_cert_ec_bad_tcb.der"))
        .args(["--at", "2026-06-01T00:00:00Z"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is not valid at"), "{out}");
}

#[test]
fn inspect_exit_1_when_the_chain_does_not_reach_a_vendor_root() {
    // A Gramine-format certificate whose "quote" is too short to be one.
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = cert_with(&[0, 6, 9, 42, 840, 113741, 1337, 6], vec![3, 0, 2, 0]);
    let f = dir.path().join("gramine.der");
    std::fs::write(&f, &cert).unwrap();
    let (code, out, _) = run(atls().arg("inspect").arg(&f));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MALFORMED") && out.contains("quote is truncated"), "{out}");
}

#[test]
fn inspect_contrast_binding_with_and_without_the_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let nonce = [0x42u8; 32];
    // The report is bound to another key than the certificate's (built
    // before the key exists): the binding fails with the nonce.
    let mut report = vec![0u8; 1184];
    report[0] = 2;
    report[0x34] = 1;
    let (cert, _) = cert_with(&[1, 3, 9901, 2, 1], report);
    let f = dir.path().join("contrast.der");
    std::fs::write(&f, &cert).unwrap();
    let (code, out, _) = run(atls().arg("inspect").arg(&f));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("binding needs the connection's nonce"), "{out}");
    let (code, out, _) = run(atls().arg("inspect").arg(&f).args(["--nonce", &hex::encode(nonce)]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILS: report_data is"), "{out}");
}

#[test]
fn inspect_exit_1_without_evidence_and_2_for_unreadable_input() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = cert_with(&[1, 2, 3, 4], vec![5]);
    let f = dir.path().join("plain.der");
    std::fs::write(&f, &cert).unwrap();
    let (code, out, _) = run(atls().arg("inspect").arg(&f));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no evidence"), "{out}");

    let g = dir.path().join("garbage.bin");
    std::fs::write(&g, b"\x01\x02garbage").unwrap();
    let (code, _, err) = run(atls().arg("inspect").arg(&g));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a certificate or CSR"), "{err}");
    // Truncated certificate.
    std::fs::write(&g, &cert[..cert.len() / 2]).unwrap();
    assert_eq!(run(atls().arg("inspect").arg(&g)).0, 2);
    // Missing file, bad --nonce, bad --at.
    assert_eq!(run(atls().arg("inspect").arg(dir.path().join("absent"))).0, 2);
    assert_eq!(run(atls().arg("inspect").arg(&f).args(["--nonce", "zz"])).0, 2);
    assert_eq!(run(atls().arg("inspect").arg(&f).args(["--at", "yesterday"])).0, 2);
}

#[test]
fn inspect_raw_quote_shows_tcb_with_collateral_and_exits_1_for_lack_of_a_binding() {
    let v = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/sgx");
    let (code, out, err) = run(atls()
        .arg("inspect")
        .arg(v.join("sgx_quote"))
        .arg("--collateral")
        .arg(v.join("sgx_quote_collateral.json"))
        .args(["--at", "2025-07-01T00:00:00Z"]));
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("format: raw Intel SGX quote"), "{out}");
    assert!(
        out.contains("signatures VERIFY up to") && out.contains("tcb status: "),
        "{out}"
    );
    assert!(out.contains("binding: NOT CHECKED"), "{out}");
}

#[test]
fn inspect_contrast_exit_0_with_nonce_vcek_and_an_explicitly_trusted_ark() {
    let dir = tempfile::tempdir().unwrap();
    let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&k);
    let nonce = [7u8; 32];
    let rd = attested_tls::crypto::sha512(&[&spki, &nonce]);
    let (h, report) = snp_synthetic::forged_milan(&[0x11; 48], &rd);
    let mut p = rcgen::CertificateParams::new(vec!["Contrast".to_string()]).unwrap();
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(&[1, 3, 9901, 2, 1], report)];
    let f = dir.path().join("contrast.der");
    std::fs::write(&f, p.self_signed(&k).unwrap().der()).unwrap();
    for (name, der) in [("vcek.der", &h.leaf), ("ask.der", &h.intermediate), ("ark.der", &h.ark)] {
        std::fs::write(dir.path().join(name), der).unwrap();
    }
    let base = |cmd: &mut Command| {
        cmd.arg("inspect")
            .arg(&f)
            .args(["--nonce", &hex::encode(nonce), "--certs"])
            .arg(dir.path().join("vcek.der"))
            .arg("--certs")
            .arg(dir.path().join("ask.der"));
    };
    let mut cmd = atls();
    base(&mut cmd);
    let (code, out, _) = run(&mut cmd);
    assert_eq!(code, 1, "the host-made ARK is not trusted by default: {out}");
    let mut cmd = atls();
    base(&mut cmd);
    cmd.arg("--trust-ark").arg(dir.path().join("ark.der"));
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("mechanism B6") && out.contains("CVE-2026-33697"), "{out}");
}
