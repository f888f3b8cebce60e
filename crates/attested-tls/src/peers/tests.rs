//! Reader tests on certificates, CSRs, tokens and authenticators built
//! here (test keys, a test Intel-like root): positive, wrong key, modified
//! bytes, truncation. The real samples are checked in `tests/peer_vectors.rs`.

use super::testutil::{cert_with, csr_with, der, key, rd, TestPki};
use super::*;

const GRAMINE_ARCS: &[u64] = &[0, 6, 9, 42, 840, 113741, 1337, 6];
const DICE_ARCS: &[u64] = &[2, 23, 133, 5, 4, 9];
const OE_ARCS: &[u64] = &[1, 2, 840, 113556, 10, 1, 1];
const ENARX_SGX_ARCS: &[u64] = &[1, 3, 6, 1, 4, 1, 58270, 1, 2];
const DSTACK_QUOTE_ARCS: &[u64] = &[1, 3, 6, 1, 4, 1, 62397, 1, 1];
const CONTRAST_ARCS: &[u64] = &[1, 3, 9901, 2, 1];
const COCOS_V3_ARCS: &[u64] = &[2, 99999, 1, 2];

fn one(input: &[u8], opts: &ReadOptions) -> PeerReport {
    let mut found = read(input, opts).expect("readable");
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0).result.expect("well-formed")
}

fn claim<'a>(r: &'a PeerReport, k: &str) -> &'a str {
    r.claims.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).unwrap()
}

fn assert_fails(r: &PeerReport) {
    assert!(matches!(r.binding.outcome, BindingOutcome::Fails(_)), "{:?}", r.binding);
    assert!(!r.passes());
}

fn invalid_containing(r: &PeerReport, needle: &str) {
    assert!(
        matches!(&r.evidence.outcome, EvidenceOutcome::Invalid(e) if e.contains(needle)),
        "{:?}",
        r.evidence
    );
    assert!(!r.passes());
}

#[test]
fn oids_are_the_documented_dotted_names() {
    use super::x509::oid_text;
    assert_eq!(oid_text(gramine::OID_CONTENT), "0.6.9.42.840.113741.1337.6");
    assert_eq!(oid_text(dice::OID_CONTENT), "2.23.133.5.4.9");
    assert_eq!(oid_text(open_enclave::OID_CONTENT), "1.2.840.113556.10.1.1");
    assert_eq!(oid_text(enarx::OID_SGX), "1.3.6.1.4.1.58270.1.2");
    assert_eq!(oid_text(enarx::OID_SNP), "1.3.6.1.4.1.58270.1.3");
    assert_eq!(oid_text(dstack::OID_ARC), "1.3.6.1.4.1.62397.1");
    assert_eq!(oid_text(contrast::OID_CONTENT), "1.3.9901.2.1");
    assert_eq!(oid_text(constellation::OID_ARC), "1.3.9900");
    assert_eq!(oid_text(cocos::OID_ARC_V3), "2.99999.1");
}

#[test]
fn gramine_legacy_binding_signatures_and_negatives() {
    let pki = TestPki::new();
    let (k, spki) = key();
    let quote = pki.sgx_quote(&rd(&sha256(&spki)));
    let cert = cert_with(&k, GRAMINE_ARCS, quote.clone());
    let r = one(&cert, &pki.opts());
    assert_eq!(r.format, PeerFormat::GramineLegacy);
    assert!(r.passes(), "{r:?}");
    // Guards L7: a carrier certificate outside its validity window at the
    // verification time does not pass (before, it was only a note).
    assert_eq!(r.carrier_validity, Some(Ok(())));
    let mut expired = r.clone();
    expired.carrier_validity = Some(Err("the certificate is not valid at ...".into()));
    assert!(!expired.passes());
    // (rcgen's default window is 1975..4096: 1970 is before it.)
    let mut early = pki.opts();
    early.now = 0;
    assert!(matches!(one(&cert, &early).carrier_validity, Some(Err(_))));
    assert_eq!(claim(&r, "debug"), "true");
    assert_eq!(claim(&r, "mrenclave"), hex::encode([0x5e; 32]));
    assert_eq!(claim(&r, "fmspc"), "00aabb000000");
    // PEM reads the same.
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &cert)
    );
    assert_eq!(one(pem.as_bytes(), &pki.opts()), r);

    // Wrong key: the same quote in another key's certificate.
    let (k2, _) = key();
    assert_fails(&one(&cert_with(&k2, GRAMINE_ARCS, quote.clone()), &pki.opts()));
    // Flipped byte of the body (MRENCLAVE): the quote signature fails.
    let mut bad = quote.clone();
    bad[48 + 64] ^= 1;
    invalid_containing(&one(&cert_with(&k, GRAMINE_ARCS, bad), &pki.opts()), "quote signature");
    // Another root: the chain does not anchor.
    let other = TestPki::new();
    invalid_containing(&one(&cert, &other.opts()), "PCK chain");
    // The embedded Intel root: the test chain does not anchor either.
    let mut intel = pki.opts();
    intel.intel_root = None;
    invalid_containing(&one(&cert, &intel), "PCK chain");
    // Truncated quote: a typed error naming the field.
    let found = read(&cert_with(&k, GRAMINE_ARCS, quote[..500].to_vec()), &pki.opts()).unwrap();
    assert!(
        matches!(
            &found[0].result,
            Err(PeerError::Malformed {
                format: PeerFormat::GramineLegacy,
                what: "quote",
                ..
            })
        ),
        "{found:?}"
    );
    // Correctly encoded OID 1.2.840.113741.1337.6: not what Gramine writes, so no evidence.
    let e = read(&cert_with(&k, &[1, 2, 840, 113741, 1337, 6], quote), &pki.opts()).unwrap_err();
    assert!(matches!(e, PeerError::NoEvidence(_)), "{e:?}");
}

fn claims_buffer(spki: &[u8], extra: bool) -> Vec<u8> {
    use ciborium::Value;
    let mut inner = Vec::new();
    ciborium::into_writer(
        &Value::Array(vec![1.into(), Value::Bytes(sha256(spki).to_vec())]),
        &mut inner,
    )
    .unwrap();
    let mut m = vec![(Value::Text("pubkey-hash".into()), Value::Bytes(inner))];
    if extra {
        m.push((Value::Text("key_0".into()), Value::Bytes(b"value_0".to_vec())));
        m.push((Value::Text("nonce".into()), Value::Bytes(vec![7; 8])));
    }
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Map(m), &mut out).unwrap();
    out
}

fn dice_value(quote: Vec<u8>, claims: Vec<u8>) -> Vec<u8> {
    use ciborium::Value;
    let v = Value::Tag(
        dice::CBOR_TAG,
        Box::new(Value::Array(vec![Value::Bytes(quote), Value::Bytes(claims)])),
    );
    let mut out = Vec::new();
    ciborium::into_writer(&v, &mut out).unwrap();
    out
}

#[test]
fn tcg_dice_binding_and_negatives() {
    let pki = TestPki::new();
    let (k, spki) = key();
    let claims = claims_buffer(&spki, true);
    let quote = pki.sgx_quote(&rd(&sha256(&claims)));
    let r = one(
        &cert_with(&k, DICE_ARCS, dice_value(quote.clone(), claims.clone())),
        &pki.opts(),
    );
    assert_eq!(r.format, PeerFormat::TcgDice);
    assert!(r.passes(), "{r:?}");
    assert_eq!(claim(&r, "nonce"), "0707070707070707");
    // A quote bound under the legacy rule (SHA-256(SPKI)) fails the DICE rule.
    let legacy = pki.sgx_quote(&rd(&sha256(&spki)));
    assert_fails(&one(
        &cert_with(&k, DICE_ARCS, dice_value(legacy, claims.clone())),
        &pki.opts(),
    ));
    // A changed byte of the claims-buffer (the custom claim's value).
    let mut changed = claims.clone();
    let at = changed.len() - 12;
    changed[at] ^= 1;
    assert_fails(&one(
        &cert_with(&k, DICE_ARCS, dice_value(quote.clone(), changed)),
        &pki.opts(),
    ));
    // The pubkey-hash checked against another certificate's key.
    let (k2, _) = key();
    let r = one(
        &cert_with(&k2, DICE_ARCS, dice_value(quote.clone(), claims.clone())),
        &pki.opts(),
    );
    assert!(
        matches!(&r.binding.outcome, BindingOutcome::Fails(e) if e.contains("pubkey-hash")),
        "{r:?}"
    );
    // Not the tagged structure.
    let found = read(&cert_with(&k, DICE_ARCS, vec![0x82, 0x40, 0x40]), &pki.opts()).unwrap();
    assert!(
        matches!(
            &found[0].result,
            Err(PeerError::Malformed {
                what: "tagged evidence",
                ..
            })
        ),
        "{found:?}"
    );
    // No pubkey-hash.
    let mut empty_map = Vec::new();
    ciborium::into_writer(&ciborium::Value::Map(vec![]), &mut empty_map).unwrap();
    let found = read(&cert_with(&k, DICE_ARCS, dice_value(quote, empty_map)), &pki.opts()).unwrap();
    assert!(
        matches!(
            &found[0].result,
            Err(PeerError::Malformed {
                what: "claims-buffer",
                ..
            })
        ),
        "{found:?}"
    );
}

#[test]
fn open_enclave_both_encodings_and_negatives() {
    let pki = TestPki::new();
    let (k, spki) = key();
    let mut pem = super::x509::spki_pem(&spki).into_bytes();
    pem.push(0);
    let quote = pki.sgx_quote(&rd(&sha256(&pem)));
    let wrapped = der(0x04, &quote);
    let mut headed = Vec::new();
    headed.extend_from_slice(&1u32.to_le_bytes());
    headed.extend_from_slice(&2u32.to_le_bytes());
    headed.extend_from_slice(&(quote.len() as u64).to_le_bytes());
    headed.extend_from_slice(&quote);
    for v in [wrapped, headed.clone()] {
        let r = one(&cert_with(&k, OE_ARCS, v), &pki.opts());
        assert_eq!(r.format, PeerFormat::OpenEnclave);
        assert!(r.passes(), "{r:?}");
    }
    // SHA-256 of the SPKI DER, or of the PEM without its NUL: both fail.
    for wrong in [sha256(&spki), sha256(&pem[..pem.len() - 1])] {
        let q = pki.sgx_quote(&rd(&wrong));
        assert_fails(&one(&cert_with(&k, OE_ARCS, der(0x04, &q)), &pki.opts()));
    }
    // report_size disagreeing with what follows.
    headed[8] ^= 1;
    let found = read(&cert_with(&k, OE_ARCS, headed), &pki.opts()).unwrap();
    assert!(
        matches!(
            &found[0].result,
            Err(PeerError::Malformed {
                what: "oe_report_header_t",
                ..
            })
        ),
        "{found:?}"
    );
    // A certificate without the extension: no evidence, never "verified".
    let plain = rcgen::CertificateParams::new(vec!["x".to_string()])
        .unwrap()
        .self_signed(&k)
        .unwrap();
    assert!(matches!(read(plain.der(), &pki.opts()), Err(PeerError::NoEvidence(_))));
}

fn enarx_value(quote: &[u8]) -> Vec<u8> {
    let mut c = der(0x04, quote);
    c.extend(der(0x30, &der(0x30, &[])));
    c.extend(der(0x30, &[der(0x30, &[]), der(0x04, b"{}")].concat()));
    der(0x30, &c)
}

#[test]
fn enarx_csr_binding_signature_and_negatives() {
    let pki = TestPki::new();
    let (k, spki) = key();
    let quote = pki.sgx_quote(&rd(&sha256(&spki)));
    let csr = csr_with(&k, ENARX_SGX_ARCS, enarx_value(&quote));
    let r = one(&csr, &pki.opts());
    assert_eq!(r.format, PeerFormat::EnarxSgx);
    assert!(r.passes(), "{r:?}");
    // A flipped byte of the CSR's signed part: the CSR signature fails.
    let mut bad = csr.clone();
    let at = bad.windows(32).position(|w| w == [0x5e; 32]).unwrap();
    bad[at] ^= 1;
    let r = one(&bad, &pki.opts());
    assert!(matches!(r.carrier_signature, Some(Err(_))), "{r:?}");
    assert!(!r.passes());
    // Another key's CSR.
    let (k2, _) = key();
    assert_fails(&one(&csr_with(&k2, ENARX_SGX_ARCS, enarx_value(&quote)), &pki.opts()));
    // Trailing junk in the evidence SEQUENCE.
    let mut v = enarx_value(&quote);
    v.push(0);
    let found = read(&csr_with(&k, ENARX_SGX_ARCS, v), &pki.opts());
    assert!(found.is_err() || found.unwrap()[0].result.is_err());
}

#[test]
fn dstack_tdx_binding() {
    let pki = TestPki::new();
    let (k, spki) = key();
    let want = crate::crypto::sha512(&[b"ratls-cert:", &spki]);
    let r = one(&cert_with(&k, DSTACK_QUOTE_ARCS, pki.tdx_quote(&want)), &pki.opts());
    assert_eq!(r.format, PeerFormat::Dstack);
    assert!(r.passes(), "{r:?}");
    assert_eq!(r.evidence.platform, "tdx");
    assert_eq!(claim(&r, "mrtd"), hex::encode([0x4d; 48]));
    let wrong = crate::crypto::sha512(&[&spki]);
    assert_fails(&one(
        &cert_with(&k, DSTACK_QUOTE_ARCS, pki.tdx_quote(&wrong)),
        &pki.opts(),
    ));
    // `.8` alone (encoding unknown): no evidence, never "verified".
    let e = read(
        &cert_with(&k, &[1, 3, 6, 1, 4, 1, 62397, 1, 8], vec![1, 2]),
        &pki.opts(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, PeerError::NoEvidence(m) if m.contains("1.3.6.1.4.1.62397.1.8")),
        "{e:?}"
    );
}

fn snp_report(report_data: &[u8; 64]) -> Vec<u8> {
    let mut r = vec![0u8; 1184];
    r[0] = 2; // version
    r[0x34] = 1; // ECDSA P-384 with SHA-384
    r[0x50..0x90].copy_from_slice(report_data);
    r
}

#[test]
fn contrast_binding_needs_the_nonce_and_snp_needs_a_vcek() {
    let (k, spki) = key();
    let nonce = [0x42u8; 32];
    let report = snp_report(&crate::crypto::sha512(&[&spki, &nonce]));
    let cert = cert_with(&k, CONTRAST_ARCS, report.clone());
    let mut opts = ReadOptions::at(time::OffsetDateTime::now_utc().unix_timestamp());
    let r = one(&cert, &opts);
    assert_eq!(r.format, PeerFormat::Contrast);
    assert!(matches!(r.binding.outcome, BindingOutcome::NeedsConnection(_)));
    // This test has no AMD-signed report: the signature stays unverified.
    assert!(
        matches!(r.evidence.outcome, EvidenceOutcome::Unverifiable(_)),
        "{:?}",
        r.evidence
    );
    assert!(!r.passes());
    opts.nonce = Some(nonce.to_vec());
    assert_eq!(one(&cert, &opts).binding.outcome, BindingOutcome::Holds);
    opts.nonce = Some(vec![0x43; 32]);
    assert_fails(&one(&cert, &opts));
    // A report of the wrong length.
    let found = read(&cert_with(&k, CONTRAST_ARCS, report[..100].to_vec()), &opts).unwrap();
    assert!(matches!(
        &found[0].result,
        Err(PeerError::Malformed {
            what: "SEV-SNP report",
            ..
        })
    ));
}

#[test]
fn constellation_variants_are_named_and_never_verified() {
    let (k, _) = key();
    let r = one(&cert_with(&k, &[1, 3, 9900, 4, 3], vec![1, 2, 3]), &ReadOptions::at(0));
    assert_eq!(r.format, PeerFormat::Constellation);
    assert_eq!(claim(&r, "variant"), "Azure TDX");
    assert!(matches!(r.evidence.outcome, EvidenceOutcome::Unverifiable(_)));
    assert!(!r.passes());
    // An unknown variant under the arc is not Constellation's.
    assert!(matches!(
        read(&cert_with(&k, &[1, 3, 9900, 9, 9], vec![1]), &ReadOptions::at(0)),
        Err(PeerError::NoEvidence(_))
    ));
}

#[test]
fn cocos_v3_computes_sha3_512_of_spki_and_nonce() {
    let (k, spki) = key();
    let cert = cert_with(&k, COCOS_V3_ARCS, vec![0xd2, 0x84]);
    let mut opts = ReadOptions::at(0);
    let r = one(&cert, &opts);
    assert_eq!(r.format, PeerFormat::CocosV3);
    assert!(matches!(r.binding.outcome, BindingOutcome::NeedsConnection(_)));
    assert_eq!(claim(&r, "platform"), "TDX");
    opts.nonce = Some(vec![9; 64]);
    let r = one(&cert, &opts);
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA3_512);
    ctx.update(&spki);
    ctx.update(&[9; 64]);
    let h = ctx.finish();
    assert_eq!(claim(&r, "expected_report_data"), hex::encode(h.as_ref()));
    assert_eq!(claim(&r, "expected_eat_nonce"), hex::encode(&h.as_ref()[..32]));
    assert!(!r.passes());
}

fn authenticator(cert_der: &[u8], ext: Vec<u8>) -> Vec<u8> {
    use crate::codec::{CertificateEntry, CertificateMsg, CertificateVerify, Extension, Finished};
    let mut out = CertificateMsg {
        context: vec![1; 32],
        entries: vec![CertificateEntry {
            cert_der: cert_der.to_vec(),
            extensions: vec![Extension { typ: 0xff00, data: ext }],
        }],
    }
    .encode();
    out.extend(
        CertificateVerify {
            scheme: 0x0403,
            signature: vec![0; 70],
        }
        .encode(),
    );
    out.extend(
        Finished {
            verify_data: vec![0; 32],
        }
        .encode(),
    );
    out
}

#[test]
fn cocos_v4_checks_aik_pub_hash_against_the_leaf() {
    let (k, spki) = key();
    let cert = rcgen::CertificateParams::new(vec!["x".to_string()])
        .unwrap()
        .self_signed(&k)
        .unwrap();
    let payload = |label: &str, aik: &[u8]| {
        serde_json::to_vec(&serde_json::json!({
            "version": 1, "media_type": "application/eat+cwt", "evidence": "AA==",
            "binder": {"exporter_label": label, "aik_pub_hash": hex::encode(aik), "binding": hex::encode([0u8; 32])}
        }))
        .unwrap()
    };
    let ea = authenticator(cert.der(), payload("Attestation", &sha256(&spki)));
    assert_eq!(detect(&ea).unwrap(), [PeerFormat::CocosV4]);
    let r = one(&ea, &ReadOptions::at(0));
    assert!(matches!(r.binding.outcome, BindingOutcome::NeedsConnection(_)), "{r:?}");
    assert_eq!(claim(&r, "model"), "background check (evidence)");
    assert_fails(&one(
        &authenticator(cert.der(), payload("Attestation", &[1; 32])),
        &ReadOptions::at(0),
    ));
    assert_fails(&one(
        &authenticator(cert.der(), payload("EXPORTER-x", &sha256(&spki))),
        &ReadOptions::at(0),
    ));
    // A seat-expat CMW in 0xFF00 is not Cocos' payload.
    let found = read(&authenticator(cert.der(), vec![0x82, 0x01, 0x02]), &ReadOptions::at(0)).unwrap();
    assert!(matches!(found[0].result, Err(PeerError::NoEvidence(_))));
}

mod tng_tokens {
    use super::*;
    use base64::Engine as _;

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    struct Service {
        ca_der: Vec<u8>,
        leaf_der: Vec<u8>,
        key: aws_lc_rs::signature::EcdsaKeyPair,
    }

    fn service() -> Service {
        use aws_lc_rs::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut cp = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        cp.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        cp.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Test AS CA");
        let ca = cp.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(cp, ca_key);
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &aws_lc_rs::rand::SystemRandom::new())
                .unwrap();
        let leaf_key = rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["as".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        Service {
            ca_der: ca.der().to_vec(),
            leaf_der: leaf.der().to_vec(),
            key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap(),
        }
    }

    fn token(s: &Service, payload: &serde_json::Value) -> String {
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "jwk": {"x5c": [B64.encode(&s.leaf_der)]}});
        let mut t = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload.to_string()));
        let sig = s.key.sign(&aws_lc_rs::rand::SystemRandom::new(), t.as_bytes()).unwrap();
        t.push('.');
        t.push_str(&B64.encode(sig.as_ref()));
        t
    }

    fn payload(iat: i64, runtime: &serde_json::Value, report_data: &[u8]) -> serde_json::Value {
        serde_json::json!({
            "eat_profile": "tag:github.com,2024:confidential-containers/Trustee",
            "iat": iat, "exp": iat + 300,
            "submods": {"cpu0": {"ear.status": "affirming", "ear.veraison.annotated-evidence": {
                "report_data": hex::encode(report_data), "runtime_data_claims": runtime,
                "tdx": {"quote": {"body": {"mr_td": "ab", "td_attributes": "0100000000000000"}}}}}}
        })
    }

    #[test]
    fn tokens_verify_to_the_given_ca_and_bind_runtime_data() {
        let s = service();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let runtime = serde_json::json!({"challenge_token": "c", "hpke_key_config": {"k": 1}});
        let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, runtime.to_string().as_bytes());
        let good = token(&s, &payload(now - 10, &runtime, &rd(h.as_ref())));
        let mut opts = ReadOptions::at(now);
        opts.certs = vec![s.ca_der.clone()];
        let r = one(good.as_bytes(), &opts);
        assert_eq!(r.format, PeerFormat::TngEar);
        assert!(r.passes(), "{r:?}");
        assert_eq!(claim(&r, "cpu0.tdx.debug"), "true");
        // Guards L7: more submodules than are read (16): a binding that
        // held for the first 16 is "not checked", never "holds".
        let mut many = payload(now - 10, &runtime, &rd(h.as_ref()));
        let cpu0 = many["submods"]["cpu0"].clone();
        for i in 1..17 {
            many["submods"][format!("cpu{i:02}")] = cpu0.clone();
        }
        let r17 = one(token(&s, &many).as_bytes(), &opts);
        assert!(
            matches!(&r17.binding.outcome, BindingOutcome::NotChecked(why) if why.contains("17 submodules")),
            "{:?}",
            r17.binding
        );
        assert!(!r17.passes());
        // Another CA.
        opts.certs = vec![service().ca_der];
        assert!(matches!(
            one(good.as_bytes(), &opts).evidence.outcome,
            EvidenceOutcome::Invalid(_)
        ));
        opts.certs = vec![s.ca_der.clone()];
        // Outside [iat, exp].
        opts.now = now + 400;
        invalid_containing(&one(good.as_bytes(), &opts), "valid");
        opts.now = now;
        // Payload changed after signing: the JWS signature fails.
        let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
        parts[1] = B64.encode(payload(now - 10, &runtime, &rd(&[1; 48])).to_string());
        invalid_containing(&one(parts.join(".").as_bytes(), &opts), "signature");
        // A token whose report_data does not bind its runtime data.
        let unbound = token(&s, &payload(now - 10, &runtime, &rd(&[1; 48])));
        assert_fails(&one(unbound.as_bytes(), &opts));
    }
}

/// Guards the PEM detection: a raw quote carries its PCK chain as PEM, and
/// was read as the PCK certificate ("no evidence") instead of "unreadable".
#[test]
fn a_raw_quote_is_not_read_as_its_pck_certificate() {
    let pki = TestPki::new();
    let quote = pki.sgx_quote(&rd(&[1; 32]));
    assert!(matches!(read(&quote, &pki.opts()), Err(PeerError::Unreadable(_))));
    assert!(matches!(detect(&quote), Err(PeerError::Unreadable(_))));
}

#[test]
fn unreadable_inputs_are_typed_errors() {
    for input in [
        &b""[..],
        b"garbage",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        &[0x30, 0x03, 0x02, 0x01],
    ] {
        let e = read(input, &ReadOptions::at(0)).unwrap_err();
        assert!(matches!(e, PeerError::Unreadable(_)), "{input:?}: {e:?}");
    }
    let big = vec![0u8; MAX_INPUT_LEN + 1];
    assert_eq!(
        read(&big, &ReadOptions::at(0)).unwrap_err(),
        PeerError::TooLarge(MAX_INPUT_LEN + 1)
    );
    // A truncated certificate is not a certificate.
    let (k, _) = key();
    let cert = cert_with(&k, GRAMINE_ARCS, vec![1; 10]);
    assert!(matches!(
        read(&cert[..cert.len() - 5], &ReadOptions::at(0)),
        Err(PeerError::Unreadable(_))
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Any byte of an attested certificate changed, or the certificate cut
    /// short: the readers return, never panic.
    #[test]
    fn mutated_certificates_never_panic(idx in 0usize..10_000, val in proptest::prelude::any::<u8>()) {
        use std::sync::OnceLock;
        static CERTS: OnceLock<(TestPki, Vec<Vec<u8>>)> = OnceLock::new();
        let (pki, certs) = CERTS.get_or_init(|| {
            let pki = TestPki::new();
            let (k, spki) = key();
            let claims = claims_buffer(&spki, true);
            let certs = vec![
                cert_with(&k, GRAMINE_ARCS, pki.sgx_quote(&rd(&sha256(&spki)))),
                cert_with(&k, DICE_ARCS, dice_value(pki.sgx_quote(&rd(&sha256(&claims))), claims)),
                csr_with(&k, ENARX_SGX_ARCS, enarx_value(&pki.sgx_quote(&rd(&sha256(&spki))))),
            ];
            (pki, certs)
        });
        for c in certs {
            let mut m = c.clone();
            let i = idx % m.len();
            m[i] = val;
            let _ = read(&m, &pki.opts());
            let _ = read(&c[..i], &pki.opts());
        }
    }
}
