//! Peer formats carrying SEV-SNP reports (Contrast, Enarx Steward's SNP
//! CSR extension), verified end to end with the synthetic AMD-shaped
//! hierarchy of `support/snp_synthetic.rs`: trusted only when its ARK is
//! given explicitly (`ReadOptions::trusted_arks`, `atls inspect
//! --trust-ark`), never by default.

#[path = "support/snp_synthetic.rs"]
mod snp_synthetic;

use attested_tls::peers::{self, BindingOutcome, EvidenceOutcome, PeerFormat, PeerReport, ReadOptions};

fn one(input: &[u8], opts: &ReadOptions) -> PeerReport {
    let mut found = peers::read(input, opts).expect("readable");
    assert_eq!(found.len(), 1);
    found.remove(0).result.expect("well-formed")
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn key() -> (rcgen::KeyPair, Vec<u8>) {
    let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&k);
    (k, spki)
}

#[test]
fn contrast_report_verifies_under_an_explicitly_trusted_ark_only() {
    let (k, spki) = key();
    let nonce = [0x42u8; 32];
    let rd = attested_tls::crypto::sha512(&[&spki, &nonce]);
    let (h, report) = snp_synthetic::forged_milan(&[0x11; 48], &rd);
    let mut p = rcgen::CertificateParams::new(vec!["Contrast".to_string()]).unwrap();
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
        &[1, 3, 9901, 2, 1],
        report.clone(),
    )];
    let cert = p.self_signed(&k).unwrap().der().to_vec();

    let mut opts = ReadOptions::at(now());
    opts.nonce = Some(nonce.to_vec());
    opts.certs = vec![h.leaf.clone(), h.intermediate.clone()];
    // Not an AMD root: refused by default.
    let r = one(&cert, &opts);
    assert_eq!(r.format, PeerFormat::Contrast);
    assert_eq!(r.binding.outcome, BindingOutcome::Holds);
    assert!(
        matches!(&r.evidence.outcome, EvidenceOutcome::Invalid(e) if e.contains("VCEK chain")),
        "{:?}",
        r.evidence
    );
    // The host-made ARK given explicitly: the chain and signature verify.
    opts.trusted_arks = vec![h.ark.clone()];
    let r = one(&cert, &opts);
    assert!(
        matches!(r.evidence.outcome, EvidenceOutcome::Verified { .. }),
        "{:?}",
        r.evidence
    );
    assert!(r.passes());
    assert!(r
        .claims
        .iter()
        .any(|(k, v)| k == "measurement" && v == &hex::encode([0x11; 48])));
    // A changed byte of the signed report (the measurement).
    let mut bad = report.clone();
    bad[0x90] ^= 1;
    let mut p = rcgen::CertificateParams::new(vec!["Contrast".to_string()]).unwrap();
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(&[1, 3, 9901, 2, 1], bad)];
    let r = one(p.self_signed(&k).unwrap().der(), &opts);
    assert!(
        matches!(&r.evidence.outcome, EvidenceOutcome::Invalid(e) if e.contains("report signature")),
        "{:?}",
        r.evidence
    );
    // Without the VCEK: unverified.
    opts.certs.clear();
    assert!(matches!(
        one(&cert, &opts).evidence.outcome,
        EvidenceOutcome::Unverifiable(_)
    ));
}

#[test]
fn enarx_snp_csr_binding_and_verification() {
    use snp_synthetic::{seq, tlv};
    let (k, spki) = key();
    let h384 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &spki);
    let mut rd = [0u8; 64];
    rd[..48].copy_from_slice(h384.as_ref());
    let (h, report) = snp_synthetic::forged_milan(&[0x22; 48], &rd);
    let value = |report: &[u8]| seq(&[seq(&[h.leaf.clone(), seq(&[])]), tlv(0x04, report)]);
    let csr = |k: &rcgen::KeyPair, v: Vec<u8>| {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 58270, 1, 3],
            v,
        )];
        p.serialize_request(k).unwrap().der().to_vec()
    };
    let mut opts = ReadOptions::at(now());
    opts.certs = vec![h.intermediate.clone()];
    opts.trusted_arks = vec![h.ark.clone()];
    let r = one(&csr(&k, value(&report)), &opts);
    assert_eq!(r.format, PeerFormat::EnarxSnp);
    assert!(r.passes(), "{r:?}");
    // Another key's CSR with the same report.
    let (k2, _) = key();
    assert!(matches!(
        one(&csr(&k2, value(&report)), &opts).binding.outcome,
        BindingOutcome::Fails(_)
    ));
}

#[test]
fn a_report_of_another_chip_is_refused() {
    let (k, spki) = key();
    let rd = attested_tls::crypto::sha512(&[&spki, &[1u8; 32]]);
    let (h, _) = snp_synthetic::forged_milan(&[0x11; 48], &rd);
    // Signed by the VCEK, but naming another chip.
    let report = snp_synthetic::signed_report(&h.leaf_key, &[0x11; 48], &rd, |r| {
        r[0x180..0x188].copy_from_slice(&[3, 0, 0, 0, 0, 0, 8, 115]);
        r[0x1A0..0x1E0].copy_from_slice(&[0xc2; 64]);
    });
    let mut p = rcgen::CertificateParams::new(vec!["Contrast".to_string()]).unwrap();
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(&[1, 3, 9901, 2, 1], report)];
    let mut opts = ReadOptions::at(now());
    opts.certs = vec![h.leaf.clone(), h.intermediate.clone()];
    opts.trusted_arks = vec![h.ark.clone()];
    let r = one(p.self_signed(&k).unwrap().der(), &opts);
    assert!(
        matches!(&r.evidence.outcome, EvidenceOutcome::Invalid(e) if e.contains("CHIP_ID")),
        "{:?}",
        r.evidence
    );
}

/// Guards the review's L4: a self-signed certificate among `--certs` was
/// dropped silently, and a verified chain always named its root "built-in
/// AMD root", even one trusted with `--trust-ark`. Now the ignored root is
/// reported and the root is named by SHA-256 and origin.
#[test]
fn ignored_roots_are_reported_and_the_root_is_named_by_hash_and_origin() {
    let (k, spki) = key();
    let nonce = [0x42u8; 32];
    let rd = attested_tls::crypto::sha512(&[&spki, &nonce]);
    let (h, report) = snp_synthetic::forged_milan(&[0x11; 48], &rd);
    let mut p = rcgen::CertificateParams::new(vec!["Contrast".to_string()]).unwrap();
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(&[1, 3, 9901, 2, 1], report)];
    let cert = p.self_signed(&k).unwrap().der().to_vec();
    let ark_hash = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &h.ark).as_ref());

    let mut opts = ReadOptions::at(now());
    opts.nonce = Some(nonce.to_vec());
    opts.certs = vec![h.leaf.clone(), h.intermediate.clone(), h.ark.clone()];
    let r = one(&cert, &opts);
    assert!(
        matches!(&r.evidence.outcome, EvidenceOutcome::Invalid(e)
            if e.contains("ignored") && e.contains(&ark_hash) && e.contains("--trust-ark")),
        "{:?}",
        r.evidence
    );
    opts.certs.pop();
    opts.trusted_arks = vec![h.ark.clone()];
    let r = one(&cert, &opts);
    assert!(
        matches!(&r.evidence.outcome, EvidenceOutcome::Verified { anchor }
            if anchor == &format!("ARK-Milan sha256:{ark_hash} (--trust-ark)")),
        "{:?}",
        r.evidence
    );
}
