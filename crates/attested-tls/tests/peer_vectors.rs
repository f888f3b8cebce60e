//! Every sample in `../shared/vectors/peers/` gives the outcome its README
//! states. The samples come from other projects' public repositories and
//! are never copied into this one: when the directory is absent (a plain
//! clone) each test prints a `SKIPPED` line and passes; CI runs them with
//! the directory present, then once more from a clone without it. The
//! readers are also tested without these files, on certificates the unit
//! tests build (`peers::tests`).

use attested_tls::peers::{
    self, BindingOutcome, EvidenceOutcome, Found, PeerError, PeerFormat, PeerReport, ReadOptions,
};

#[path = "support/peer_samples.rs"]
mod peer_samples;

fn sample(rel: &str) -> Option<Vec<u8>> {
    Some(std::fs::read(peer_samples::peers_dir()?.join(rel)).expect("sample readable"))
}

/// 2023-06-01T00:00:00Z: inside the Gramine and rats-tls certificates' and PCK chains' windows.
const T_2023_06: i64 = 1_685_577_600;
/// 2021-01-01T00:00:00Z: inside the MAA certificate's window.
const T_2021: i64 = 1_609_459_200;
/// 2023-02-01T00:00:00Z: the Enarx CSR's collateral window.
const T_ENARX: i64 = 1_675_209_600;
/// Inside the TNG token's [iat, exp].
const T_TNG: i64 = 1_768_895_800;

fn reports(bytes: &[u8], opts: &ReadOptions) -> Vec<PeerReport> {
    peers::read(bytes, opts)
        .expect("readable")
        .into_iter()
        .map(|Found { format, result }| result.unwrap_or_else(|e| panic!("{format}: {e}")))
        .collect()
}

fn claim<'a>(r: &'a PeerReport, k: &str) -> &'a str {
    r.claims
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no claim {k}"))
}

fn verified(r: &PeerReport) {
    assert!(
        matches!(r.evidence.outcome, EvidenceOutcome::Verified { .. }),
        "{:?}",
        r.evidence
    );
    assert_eq!(r.binding.outcome, BindingOutcome::Holds, "{:?}", r.binding);
    assert_eq!(r.carrier_signature, Some(Ok(())));
    assert!(r.passes());
}

#[test]
fn gramine_cert_both_extensions_hold_and_verify() {
    let Some(pem) = sample("interop-ratls/gramine-cert.pem") else {
        return;
    };
    let rs = reports(&pem, &ReadOptions::at(T_2023_06));
    assert_eq!(
        rs.iter().map(|r| r.format).collect::<Vec<_>>(),
        [PeerFormat::GramineLegacy, PeerFormat::TcgDice]
    );
    for r in &rs {
        verified(r);
        assert_eq!(
            claim(r, "mrenclave"),
            "0866e7ca11b9f4efe4bf39b2607f4e1299f111920d96d95719080f01b62b7585"
        );
        assert_eq!(
            claim(r, "mrsigner"),
            "adc53501f21ced9b998e37a7a18e061c63e00315045fa57a49c18ef0a30d02ca"
        );
        assert_eq!(claim(r, "debug"), "true");
        assert_eq!(claim(r, "fmspc"), "00606a000000");
        assert_eq!(claim(r, "qe_svn"), "9");
        assert!(r
            .evidence
            .tcb
            .as_deref()
            .unwrap()
            .starts_with("unverifiable without collateral"));
    }
    assert!(
        claim(&rs[0], "report_data").starts_with("5a5a5b2d177433048e9d62409d1acc4ec526c06e294d09e69a36cff9369e4851")
    );
    assert!(
        claim(&rs[1], "report_data").starts_with("d8673446fe0f6842d4af0d182c8751d7e967039116deff5f85a43b2ca90c2831")
    );
}

#[test]
fn rats_tls_cert_holds_ignores_custom_claims_and_expires() {
    let Some(pem) = sample("interop-ratls/rats-tls-cert.pem") else {
        return;
    };
    let rs = reports(&pem, &ReadOptions::at(T_2023_06));
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].format, PeerFormat::TcgDice);
    verified(&rs[0]);
    assert_eq!(
        claim(&rs[0], "mrenclave"),
        "38e1b40b8c68186f359c97ecb6a89965d9d8638f2df06fbe18e84d79a266c041"
    );
    assert_eq!(claim(&rs[0], "debug"), "true");
    assert!(rs[0].notes.is_empty(), "{:?}", rs[0].notes);
    // After 2024-02-22T17:10:22Z the certificate is expired: noted.
    let later = reports(&pem, &ReadOptions::at(1_708_622_000));
    assert!(
        later[0].notes.iter().any(|n| n.contains("not valid at")),
        "{:?}",
        later[0].notes
    );
}

#[test]
fn oe_certificates_hold_with_pem_and_nul() {
    let Some(der) = sample("oe-attested-cert/maa.prod.uks.signing.cert.der") else {
        return;
    };
    let rs = reports(&der, &ReadOptions::at(T_2021));
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].format, PeerFormat::OpenEnclave);
    verified(&rs[0]);
    assert_eq!(
        claim(&rs[0], "mrenclave"),
        "5eaa887fb1744de9a13ef95967faa264a5d025512952549c69f541566cbff209"
    );
    assert_eq!(claim(&rs[0], "isv_prod_id"), "1");
    assert_eq!(claim(&rs[0], "debug"), "true");
    assert!(rs[0].notes.iter().any(|n| n.contains("RSA-1024")), "{:?}", rs[0].notes);
    // The .cer (one line of base64, no armour) reads the same.
    let cer = sample("oe-attested-cert/maa.prod.uks.signing.cert.cer").unwrap();
    assert_eq!(reports(&cer, &ReadOptions::at(T_2021)), rs);

    let sdk = sample("oe-attested-cert/sgx_cert_ec_bad_tcb.der").unwrap();
    // PCK leaf 2019-01-08..2026-01-08.
    let rs = reports(&sdk, &ReadOptions::at(T_2021));
    verified(&rs[0]);
    assert!(rs[0].carrier.contains("oe_report_header_t"));
    assert_eq!(
        claim(&rs[0], "mrenclave"),
        "1795e0135c5e5bca660626495a34e2d05f29af86fcb15c66e8f9bab5e4dfee06"
    );
    assert_eq!(claim(&rs[0], "fmspc"), "00906ea10000");
    // Now (after 2026-01-08) the PCK leaf is expired: the chain is invalid.
    let rs = reports(&sdk, &ReadOptions::at(1_780_000_000));
    assert!(
        matches!(&rs[0].evidence.outcome, EvidenceOutcome::Invalid(e) if e.contains("not valid at")),
        "{:?}",
        rs[0].evidence
    );
}

#[test]
fn enarx_csr_holds() {
    let Some(csr) = sample("enarx-csr/icelake.signed.tcb.crl.single.i5.csr") else {
        return;
    };
    let rs = reports(&csr, &ReadOptions::at(T_ENARX));
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].format, PeerFormat::EnarxSgx);
    verified(&rs[0]);
    assert_eq!(
        claim(&rs[0], "mrenclave"),
        "4046ea255f0455131a024e1265ac1ebd131fdbd1240f1712a00381f6f04e8c15"
    );
    assert_eq!(claim(&rs[0], "debug"), "false");
    assert_eq!(claim(&rs[0], "fmspc"), "00706e470000");
    // The TCB info embedded in the CSR puts the platform at OutOfDate.
    let tcb = rs[0].evidence.tcb.as_deref().unwrap();
    assert!(
        tcb.starts_with("OutOfDate (") && tcb.contains("tcbDate 2020-06-10"),
        "{tcb}"
    );
    for sa in ["00381", "00389", "00477", "00289", "00614", "00617", "00615", "00657"] {
        assert!(tcb.contains(&format!("INTEL-SA-{sa}")), "{tcb}");
    }
    // After the TCB Signing certificate expired (2025-05-21), not evaluated.
    let late = reports(&csr, &ReadOptions::at(1_750_000_000));
    assert!(late[0]
        .evidence
        .tcb
        .as_deref()
        .unwrap()
        .starts_with("embedded TCB info not evaluated"));
    // A changed byte of the signed TCB info: its signature (and the CSR's) fails.
    let mut bad = csr.clone();
    let at = bad.windows(11).position(|w| w == b"\"tcbStatus\"").unwrap();
    bad[at + 1] = b'u';
    let r = &reports(&bad, &ReadOptions::at(T_ENARX))[0];
    assert!(matches!(r.carrier_signature, Some(Err(_))));
    let tcb = r.evidence.tcb.as_deref().unwrap();
    assert!(tcb.contains("TCB info: signature is invalid"), "{tcb}");
}

#[test]
fn tng_token_verifies_with_the_service_ca_inside_its_window_only() {
    let Some(jwt) = sample("tng-ear/ear.jwt") else { return };
    let ca_pem = sample("tng-ear/ear.as-ca.pem").unwrap();
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let ca = CertificateDer::from_pem_slice(&ca_pem).unwrap().to_vec();
    let mut opts = ReadOptions::at(T_TNG);
    opts.certs = vec![ca];
    let rs = reports(&jwt, &opts);
    assert_eq!(rs[0].format, PeerFormat::TngEar);
    assert_eq!(rs[0].binding.outcome, BindingOutcome::Holds, "{:?}", rs[0].binding);
    assert!(
        matches!(rs[0].evidence.outcome, EvidenceOutcome::Verified { .. }),
        "{:?}",
        rs[0].evidence
    );
    assert!(rs[0].passes());
    assert_eq!(
        claim(&rs[0], "cpu0.tdx.mr_td"),
        "157768a71a6a31f5561978c4cde665809d22976ef5dead2952839b7b3ea23b6c2931c9148fe1d117c99faefac18bb73b"
    );
    assert_eq!(claim(&rs[0], "cpu0.ear.status"), "\"affirming\"");
    // Outside [iat, exp]: refused, naming the window.
    opts.now = 1_768_896_008;
    let rs = reports(&jwt, &opts);
    assert!(
        matches!(&rs[0].evidence.outcome, EvidenceOutcome::Invalid(e) if e.contains("valid")),
        "{:?}",
        rs[0].evidence
    );
    // Without the service CA: the signature is not anchored.
    let rs = reports(&jwt, &ReadOptions::at(T_TNG));
    assert!(matches!(rs[0].evidence.outcome, EvidenceOutcome::Unverifiable(_)));
    assert!(!rs[0].passes());
}

fn der_of(pem: &[u8]) -> Vec<u8> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    CertificateDer::from_pem_slice(pem).unwrap().to_vec()
}

/// The DICE extension value and the SPKI of a sample certificate.
fn dice_parts(der: &[u8]) -> (peers::dice::Tagged, Vec<u8>) {
    use x509_parser::prelude::FromDer;
    let (_, c) = x509_parser::certificate::X509Certificate::from_der(der).unwrap();
    let ext = c
        .extensions()
        .iter()
        .find(|e| e.oid.as_bytes() == peers::dice::OID_CONTENT)
        .unwrap();
    (peers::dice::decode(ext.value).unwrap(), c.public_key().raw.to_vec())
}

fn report_data(quote: &[u8]) -> [u8; 64] {
    *attested_tls::platform::dcap::quote::Quote::parse(quote)
        .unwrap()
        .body
        .report_data()
}

/// The README's "Must FAIL" list for `interop-ratls/`.
#[test]
fn interop_ratls_must_fail_cases() {
    let Some(pem) = sample("interop-ratls/gramine-cert.pem") else {
        return;
    };
    let der = der_of(&pem);
    let rats = der_of(&sample("interop-ratls/rats-tls-cert.pem").unwrap());
    let (dice, spki) = dice_parts(&der);
    let dice_rd = report_data(&dice.quote);
    assert_eq!(
        peers::dice::binding(&spki, &dice, &dice_rd, false),
        BindingOutcome::Holds
    );
    // The legacy quote (same enclave, report_data = SHA-256(SPKI)) under the DICE rule.
    let legacy_rd: [u8; 64] = {
        let r = &reports(&pem, &ReadOptions::at(T_2023_06))[0];
        hex::decode(claim(r, "report_data")).unwrap().try_into().unwrap()
    };
    assert!(matches!(
        peers::dice::binding(&spki, &dice, &legacy_rd, false),
        BindingOutcome::Fails(_)
    ));
    // Any changed byte of the claims-buffer: the binding never holds
    // (a change that leaves it undecodable is a malformed extension).
    for i in 0..dice.claims_buffer.len() {
        let mut cb = dice.claims_buffer.clone();
        cb[i] ^= 0x01;
        let mut v = Vec::new();
        let tagged = ciborium::Value::Tag(
            60000,
            Box::new(ciborium::Value::Array(vec![
                ciborium::Value::Bytes(dice.quote.clone()),
                ciborium::Value::Bytes(cb),
            ])),
        );
        ciborium::into_writer(&tagged, &mut v).unwrap();
        if let Ok(t) = peers::dice::decode(&v) {
            assert_ne!(
                peers::dice::binding(&spki, &t, &dice_rd, false),
                BindingOutcome::Holds,
                "byte {i}"
            );
        }
    }
    // The pubkey-hash checked against the other certificate's SPKI.
    let (_, rats_spki) = dice_parts(&rats);
    assert!(matches!(
        peers::dice::binding(&rats_spki, &dice, &dice_rd, false),
        BindingOutcome::Fails(e) if e.contains("pubkey-hash")
    ));
    // A changed byte of the quote body (MRENCLAVE, in both quotes): quote
    // signatures and the certificate's self-signature fail.
    let mrenclave = hex::decode("0866e7ca11b9f4efe4bf39b2607f4e1299f111920d96d95719080f01b62b7585").unwrap();
    let mut bad = der.clone();
    let at = bad.windows(32).position(|w| w == mrenclave).unwrap();
    bad[at] ^= 1;
    let rs = reports(&bad, &ReadOptions::at(T_2023_06));
    assert!(matches!(&rs[0].evidence.outcome, EvidenceOutcome::Invalid(e) if e.contains("quote signature")));
    assert!(matches!(rs[0].carrier_signature, Some(Err(_))));
    assert!(!rs[0].passes());
    // Looking the Gramine extension up by its dotted string finds nothing.
    use x509_parser::prelude::FromDer;
    let (_, c) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
    let dotted = x509_parser::der_parser::oid!(1.2.840 .113741 .1337 .6);
    assert!(c.extensions().iter().all(|e| e.oid != dotted));
}

/// The README's "Must FAIL" list for `oe-attested-cert/`.
#[test]
fn open_enclave_must_fail_cases() {
    let Some(der) = sample("oe-attested-cert/maa.prod.uks.signing.cert.der") else {
        return;
    };
    let r = &reports(&der, &ReadOptions::at(T_2021))[0];
    let rd = hex::decode(claim(r, "report_data")).unwrap();
    use x509_parser::prelude::FromDer;
    let (_, c) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
    let spki = c.public_key().raw;
    let sha = |d: &[u8]| {
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d)
            .as_ref()
            .to_vec()
    };
    assert_eq!(
        hex::encode(&rd[..32]),
        "2901401eb935c402ca1c10f86f8bbb4c2bc2275330d0c95865efabc5d78f3ad8"
    );
    // SPKI DER, or the PEM text without its NUL: neither is the binding.
    assert_ne!(&rd[..32], &sha(spki)[..]);
    let pem = peers_spki_pem(spki);
    assert_ne!(&rd[..32], &sha(pem.as_bytes())[..]);
    let mut with_nul = pem.into_bytes();
    with_nul.push(0);
    assert_eq!(&rd[..32], &sha(&with_nul)[..]);
    // A changed byte in the extension (here: MRSIGNER): the self-signature fails.
    let mrsigner = hex::decode("5e5410aaf99a32e32df2a97d579e65f8310f274816ec4f34cedeeb1be410a526").unwrap();
    let mut bad = der.clone();
    let at = bad.windows(32).position(|w| w == mrsigner).unwrap();
    bad[at] ^= 1;
    let r = &reports(&bad, &ReadOptions::at(T_2021))[0];
    assert!(matches!(r.carrier_signature, Some(Err(_))), "{r:?}");
    assert!(!r.passes());
}

/// The PEM text OpenSSL writes for an SPKI (64-character lines).
fn peers_spki_pem(spki: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(spki);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

#[test]
fn no_evidence_is_never_verified() {
    // A certificate without any attested-TLS extension (the TNG CA).
    let Some(ca) = sample("tng-ear/ear.as-ca.pem") else {
        return;
    };
    assert!(matches!(
        peers::read(&ca, &ReadOptions::at(T_TNG)),
        Err(PeerError::NoEvidence(_))
    ));
}
