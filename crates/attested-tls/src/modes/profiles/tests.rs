use super::*;

fn inputs<'a>(spki: &'a [u8], cr: &'a [u8], nonce: &'a [u8], ee: &'a [u8]) -> BindingInputs<'a> {
    BindingInputs {
        client_random: Some(cr),
        nonce: Some(nonce),
        early_exporter: Some(ee),
        spki_der: spki,
    }
}

#[test]
fn every_profile_is_found_by_its_name_and_names_are_unique() {
    let names = names();
    for n in &names {
        assert_eq!(from_name(n).unwrap().name(), *n);
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
}

#[test]
fn unknown_names_and_the_default_modes_are_not_profiles() {
    for n in ["", "expat", "early", "B6", "b6"] {
        let e = from_name(n).unwrap_err();
        assert!(
            matches!(&e, ProfileError::UnknownProfile { name, known } if name == n && known.contains("b7-draft06")),
            "{e}"
        );
    }
}

/// Guards "no stronger, no weaker": each profile's report_data changes with
/// exactly the inputs its design binds, and with no other.
#[test]
fn report_data_depends_on_exactly_the_inputs_the_design_binds() {
    let (spki, cr, nonce, ee) = (b"spki".to_vec(), [1u8; 32], [2u8; 32], [3u8; 32]);
    for p in PROFILES {
        let base = p.report_data(&inputs(&spki, &cr, &nonce, &ee)).unwrap();
        let n = p.needs();
        let changed = |i: BindingInputs<'_>| p.report_data(&i).unwrap() != base;
        let (cr2, nonce2, ee2) = ([9u8; 32], [9u8; 32], [9u8; 32]);
        assert_eq!(changed(inputs(b"other", &cr, &nonce, &ee)), n.key, "{}: key", p.name());
        assert_eq!(
            changed(inputs(&spki, &cr2, &nonce, &ee)),
            n.client_random,
            "{}: client random",
            p.name()
        );
        assert_eq!(
            changed(inputs(&spki, &cr, &nonce2, &ee)),
            n.nonce.is_some(),
            "{}: nonce",
            p.name()
        );
        assert_eq!(
            changed(inputs(&spki, &cr, &nonce, &ee2)),
            n.early_exporter,
            "{}: exporter",
            p.name()
        );
    }
}

#[test]
fn missing_or_wrongly_sized_inputs_are_refused_by_name() {
    let p = from_name("b2-alpn").unwrap();
    assert_eq!(
        p.report_data(&BindingInputs::default()).unwrap_err(),
        ProfileError::MissingInput("nonce")
    );
    let e = p
        .report_data(&BindingInputs {
            nonce: Some(&[0; 8]),
            ..BindingInputs::default()
        })
        .unwrap_err();
    assert_eq!(
        e,
        ProfileError::BadLength {
            what: "nonce",
            len: 8,
            expected: 32
        }
    );
    let e = from_name("b4-static-cert")
        .unwrap()
        .report_data(&BindingInputs::default())
        .unwrap_err();
    assert_eq!(e, ProfileError::MissingInput("server SPKI"));
}

#[test]
fn formulas_match_the_designs() {
    let (spki, nonce) = (b"spki der".to_vec(), [5u8; 32]);
    let i = BindingInputs {
        nonce: Some(&nonce),
        spki_der: &spki,
        ..BindingInputs::default()
    };
    // Contrast: SHA-512(SPKI || nonce), computed independently.
    let mut cat = spki.clone();
    cat.extend_from_slice(&nonce);
    let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, &cat);
    assert_eq!(
        &from_name("b6-spki-nonce-alpn").unwrap().report_data(&i).unwrap()[..],
        want.as_ref()
    );
    // Gramine: SHA-256(SPKI) || 0^32.
    let rd = from_name("b4-static-cert").unwrap().report_data(&i).unwrap();
    let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &spki);
    assert_eq!(&rd[..32], h.as_ref());
    assert_eq!(rd[32..], [0u8; 32]);
}

#[test]
fn draft06_binder_map_is_deterministic_cbor() {
    let m = b7_draft06::binder_map(&[1; 32], &[2; 32], &[3; 32]);
    let v: ciborium::Value = ciborium::from_reader(m.as_slice()).unwrap();
    let want = ciborium::Value::Map(vec![
        (ciborium::Value::Integer(1.into()), ciborium::Value::Bytes(vec![1; 32])),
        (ciborium::Value::Integer(2.into()), ciborium::Value::Bytes(vec![2; 32])),
        (ciborium::Value::Integer(3.into()), ciborium::Value::Bytes(vec![3; 32])),
    ]);
    assert_eq!(v, want);
    let mut re = Vec::new();
    ciborium::into_writer(&want, &mut re).unwrap();
    assert_eq!(re, m);
}

/// RFC 8448 §3: without a PSK, early secret = HKDF-Extract(0, 0) =
/// 33ad0a1c...; the exporter derivation is the one the default mode's
/// vectors check ([`SecretExporter`]).
#[test]
fn early_exporter_without_psk_depends_on_the_client_hello_only() {
    let z = [0u8; 32];
    assert_eq!(
        hex::encode(HashAlgorithm::Sha256.hmac(&z, &z)),
        "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"
    );
    let h = HashAlgorithm::Sha256;
    let a = early_exporter(h, b"client hello 1", EARLY_EXPORTER_LABEL, b"", 32).unwrap();
    assert_eq!(
        a,
        early_exporter(h, b"client hello 1", EARLY_EXPORTER_LABEL, b"", 32).unwrap()
    );
    assert_ne!(
        a,
        early_exporter(h, b"client hello 2", EARLY_EXPORTER_LABEL, b"", 32).unwrap()
    );
    assert_ne!(a, early_exporter(h, b"client hello 1", b"other", b"", 32).unwrap());
}

#[test]
fn nonce_carriers_round_trip_and_refuse_malformed_values() {
    let nonce = [0xabu8; 32];
    assert_eq!(nonce_from_sni(Some(&sni_for_nonce(&nonce))).unwrap(), nonce);
    assert_eq!(
        nonce_from_sni(None).unwrap_err(),
        CarrierError::NoNonce("server name (no SNI sent)")
    );
    assert_eq!(
        nonce_from_sni(Some("example.com")).unwrap_err(),
        CarrierError::NoNonce("server name")
    );
    assert!(matches!(
        nonce_from_sni(Some("abcd.nonce")),
        Err(CarrierError::MalformedNonce {
            carrier: "server name",
            ..
        })
    ));
    assert_eq!(nonce_from_alpn(&alpn_wire(&nonce, &["h2"])).unwrap(), nonce);
    assert_eq!(
        nonce_from_alpn(b"\x02h2").unwrap_err(),
        CarrierError::NoNonce("ALPN protocol list")
    );
    assert!(matches!(
        nonce_from_alpn(b"\x09h2"),
        Err(CarrierError::MalformedNonce { carrier: "ALPN", .. })
    ));
    let mut bad = alpn_wire(&nonce, &[]);
    *bad.last_mut().unwrap() = b'z';
    assert!(matches!(
        nonce_from_alpn(&bad),
        Err(CarrierError::MalformedNonce { carrier: "ALPN", .. })
    ));
    assert_eq!(nonce_from_extension(&nonce).unwrap(), nonce);
    assert!(matches!(
        nonce_from_extension(&[1; 31]),
        Err(CarrierError::MalformedNonce { .. })
    ));
}

#[test]
fn certificate_carries_the_evidence_and_its_key() {
    let key = rcgen::KeyPair::generate().unwrap();
    let der = certificate_with_evidence(&key, b"cmw bytes").unwrap();
    let (spki, cmw) = evidence_from_certificate(&der).unwrap();
    assert_eq!(cmw, b"cmw bytes");
    assert_eq!(spki, rcgen::PublicKeyData::subject_public_key_info(&key));
    let plain = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
    assert_eq!(
        evidence_from_certificate(plain.cert.der()).unwrap_err(),
        CarrierError::NoEvidence
    );
    assert!(matches!(
        evidence_from_certificate(b"junk"),
        Err(CarrierError::Certificate(_))
    ));
}

#[test]
fn sim_claims_are_one_hash_long() {
    let b = ProfileBinding::new("b2-sni", [7; 64]);
    let c = b.sim_claims();
    assert_eq!(c.binder, HashAlgorithm::Sha256.digest(&[7; 64]));
    assert_eq!(c.aik_pub_hash, vec![0; 32]);
}

/// Guards "every use logs a warning naming what the profile does not
/// protect against".
#[test]
fn every_use_warns_with_what_the_profile_does_not_protect_against() {
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let w = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for p in PROFILES {
            warn_use(*p, "client");
        }
    });
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    for p in PROFILES {
        let line = out
            .lines()
            .find(|l| l.contains(&format!("binding profile {} ", p.name())))
            .unwrap_or_else(|| panic!("no warning for {}: {out}", p.name()));
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains(p.not_protected_against()), "{line}");
    }
}

#[test]
fn hardware_evidence_is_compared_with_the_designs_report_data_and_sim_with_its_hash() {
    let b = ProfileBinding::new("b6-spki-nonce-alpn", [3; 64]);
    let record = |typ: &str| {
        Cmw::Record(crate::cmw::CmwRecord {
            typ: crate::cmw::CmwType::MediaType(typ.into()),
            value: vec![1],
            ind: None,
        })
    };
    assert_eq!(
        b.expected_for(&record("application/vnd.amd.sev-snp.report")),
        ExpectedBinding::ReportData([3; 64])
    );
    assert_eq!(
        b.expected_for(&record(crate::sim::SIM_MEDIA_TYPE)),
        ExpectedBinding::Claims(b.sim_claims())
    );
}

/// Pins H1, the cross-profile signing oracle of the deployed designs (not
/// a bug to fix: the profiles must stay faithful): Evidence a B1/B2 server
/// makes for a client-chosen V is exactly what a B4 client accepts for the
/// attacker's own key (V = SHA-256(SPKI)), a B7 client for the attacker's
/// map (V = SHA-256(map)) and a B3 client for the attacker's handshake
/// (V = exporter), both as hardware `report_data` and as the simulated
/// TEE's claims. If this stops holding, docs/modes.md and the
/// signing-oracle acknowledgement must be revisited.
#[test]
fn b1_b2_evidence_passes_b3_b4_b7_checks_for_the_attackers_inputs() {
    let attacker_spki = b"attacker's SPKI";
    let client_hello_exporter = [0x42; 32];
    let nonce = [0x17; 32];
    let victim = inputs(attacker_spki, &[0x55; 32], &nonce, &client_hello_exporter);
    for target in ["b4-static-cert", "b7-draft06", "b3-early-exporter"] {
        let target = from_name(target).unwrap();
        let wanted = target.binding(&victim).unwrap();
        // The oracle's V: the first 32 bytes; the rest is the shared 0^32.
        assert_eq!(wanted.report_data[32..], [0; 32], "{}", target.name());
        let v = &wanted.report_data[..32];
        for oracle in PROFILES.iter().filter(|p| p.signs_client_chosen_data()) {
            let signed = if oracle.needs().client_random {
                oracle.binding(&inputs(b"TEE key", v, &[], &[])).unwrap()
            } else {
                oracle.binding(&inputs(b"TEE key", &[0; 32], v, &[])).unwrap()
            };
            assert_eq!(
                signed.report_data,
                wanted.report_data,
                "{} -> {}",
                oracle.name(),
                target.name()
            );
            assert_eq!(
                signed.sim_claims(),
                wanted.sim_claims(),
                "{} -> {}",
                oracle.name(),
                target.name()
            );
        }
    }
    let oracles: Vec<_> = PROFILES
        .iter()
        .filter(|p| p.signs_client_chosen_data())
        .map(|p| p.mechanism())
        .collect();
    assert!(oracles.contains(&"B1") && oracles.contains(&"B2"), "{oracles:?}");
    assert!(PROFILES
        .iter()
        .all(|p| p.signs_client_chosen_data() == matches!(p.mechanism(), "B1" | "B2")));
}
