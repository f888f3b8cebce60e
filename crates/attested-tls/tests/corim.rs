//! CoRIM import: CoRIMs built in the test (unsigned and COSE-signed), their
//! reference values, the CCA mapping, and malformed / forged inputs.

use attested_tls::corim::*;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use base64::Engine;
use ciborium::value::Value;
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}
fn text(s: &str) -> Value {
    Value::Text(s.into())
}
fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}
fn tag(t: u64, v: Value) -> Value {
    Value::Tag(t, Box::new(v))
}
fn map(pairs: Vec<(Value, Value)>) -> Value {
    Value::Map(pairs)
}
fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

fn env(vendor: &str, model: &str) -> Value {
    map(vec![(int(0), map(vec![(int(1), text(vendor)), (int(2), text(model))]))])
}

fn digest_meas(label: &str, alg: i64, d: &[u8]) -> Value {
    map(vec![
        (int(0), text(label)),
        (
            int(1),
            map(vec![(
                int(2),
                Value::Array(vec![Value::Array(vec![int(alg), bytes(d)])]),
            )]),
        ),
    ])
}

fn comid(id: &str, triples: Vec<Value>) -> Value {
    map(vec![
        (int(1), map(vec![(int(0), text(id))])),
        (int(4), map(vec![(int(0), Value::Array(triples))])),
    ])
}

fn corim(comids: &[Value]) -> Value {
    tag(
        501,
        map(vec![
            (int(0), text("corim-test-1")),
            (
                int(1),
                Value::Array(comids.iter().map(|c| tag(506, bytes(&enc(c)))).collect()),
            ),
        ]),
    )
}

/// Token 01's realm personalization value.
const RPV: &[u8; 64] = b"The quick brown fox jumps over 13 lazy dogs.The quick brown fox ";

/// A CCA realm CoRIM (for token 01): RIM digest, RPV raw value.
fn cca_realm_corim() -> Vec<u8> {
    let realm = env("ARM", "realm");
    let rpv = map(vec![
        (int(0), text("RPV")),
        (int(1), map(vec![(int(4), tag(560, bytes(RPV)))])),
    ]);
    enc(&corim(&[comid(
        "cca-realm",
        vec![Value::Array(vec![
            realm,
            Value::Array(vec![digest_meas("RIM", 1, &[0; 32]), rpv]),
        ])],
    )]))
}

struct TestKey {
    kp: EcdsaKeyPair,
    alg: iana::Algorithm,
}

fn es256() -> TestKey {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    TestKey {
        kp: EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap(),
        alg: iana::Algorithm::ES256,
    }
}

fn es384() -> TestKey {
    let rng = SystemRandom::new();
    let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    TestKey {
        kp: EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, doc.as_ref()).unwrap(),
        alg: iana::Algorithm::ES384,
    }
}

impl TestKey {
    fn verification_key(&self) -> VerificationKey {
        let p = self.kp.public_key().as_ref().to_vec();
        match self.alg {
            iana::Algorithm::ES256 => VerificationKey::P256(p),
            _ => VerificationKey::P384(p),
        }
    }
    fn pem(&self) -> String {
        let der = self.kp.public_key().as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }
    fn sign(&self, payload: Vec<u8>) -> Vec<u8> {
        let rng = SystemRandom::new();
        CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(self.alg)
                    .content_type("application/rats-corim+cbor".into())
                    .build(),
            )
            .payload(payload)
            .create_signature(b"", |tbs| self.kp.sign(&rng, tbs).unwrap().as_ref().to_vec())
            .build()
            .to_tagged_vec()
            .unwrap()
    }
}

// --- import ---------------------------------------------------------------------

#[test]
fn unsigned_cca_realm_corim_is_imported() {
    let rv = import(&cca_realm_corim(), None).unwrap();
    assert_eq!(rv.corim_id.as_deref(), Some("corim-test-1"));
    assert!(!rv.signed);
    assert_eq!(rv.entries.len(), 2);
    let e = &rv.entries[0];
    assert_eq!(e.comid_id.as_deref(), Some("cca-realm"));
    assert_eq!(e.environment.vendor.as_deref(), Some("ARM"));
    assert_eq!(e.environment.model.as_deref(), Some("realm"));
    assert_eq!(e.label.as_deref(), Some("RIM"));
    assert_eq!(e.digests, vec![("sha-256".to_string(), vec![0; 32])]);
    assert_eq!(rv.allow_list("RIM"), vec!["00".repeat(32)]);
    assert_eq!(rv.allow_list("rim"), vec!["00".repeat(32)]);
    assert!(rv.allow_list("measurement").is_empty());
    assert_eq!(rv.raw_value_list("RPV"), vec![hex::encode(RPV)]);
}

#[test]
fn snp_and_tdx_style_labels_and_many_measurement_forms() {
    let uuid = [7u8; 16];
    let class = map(vec![
        (int(0), tag(111, bytes(&[0x2b, 6, 1]))),
        (int(1), text("AMD")),
        (int(2), text("SEV-SNP")),
        (int(3), int(1)),
        (int(4), int(2)),
    ]);
    let environment = map(vec![(int(0), class), (int(1), tag(550, bytes(&[1, 2, 3])))]);
    let ms = vec![
        digest_meas("measurement", 7, &[0x11; 48]),
        digest_meas("measurement", 7, &[0x22; 48]),
        digest_meas("mrtd", 7, &[0x33; 48]),
        // mkey uuid, svn tagged 552, version map, masked raw value
        map(vec![
            (int(0), tag(37, bytes(&uuid))),
            (
                int(1),
                map(vec![
                    (int(0), map(vec![(int(0), text("1.2.3"))])),
                    (int(1), tag(552, int(5))),
                    (int(4), tag(563, Value::Array(vec![bytes(&[1, 2]), bytes(&[0xff, 0])]))),
                ]),
            ),
        ]),
        // no mkey: the name is the label; integrity registers
        map(vec![(
            int(1),
            map(vec![
                (int(11), text("firmware")),
                (
                    int(14),
                    map(vec![
                        (
                            text("rim"),
                            Value::Array(vec![Value::Array(vec![text("sha-256"), bytes(&[9; 32])])]),
                        ),
                        (int(1), Value::Array(vec![Value::Array(vec![int(8), bytes(&[8; 64])])])),
                    ]),
                ),
            ]),
        )]),
    ];
    let c = comid("snp", vec![Value::Array(vec![environment, Value::Array(ms)])]);
    let rv = import(&enc(&corim(&[c])), None).unwrap();
    assert_eq!(rv.allow_list("measurement"), vec!["11".repeat(48), "22".repeat(48)]);
    assert_eq!(rv.allow_list("MRTD"), vec!["33".repeat(48)]);
    let e = &rv.entries[0].environment;
    assert_eq!(e.class_id.as_deref(), Some("oid:2b0601"));
    assert_eq!((e.layer, e.index), (Some(1), Some(2)));
    assert_eq!(e.instance.as_deref(), Some("ueid:010203"));
    let u = &rv.entries[3];
    assert_eq!(u.label, Some(format!("uuid:{}", hex::encode(uuid))));
    assert_eq!(u.svn, Some(5));
    assert!(!u.svn_is_minimum);
    assert_eq!(u.version.as_deref(), Some("1.2.3"));
    assert_eq!(u.raw_value.as_deref(), Some(&[1u8, 2][..]));
    assert_eq!(u.raw_value_mask.as_deref(), Some(&[0xffu8, 0][..]));
    let f = &rv.entries[4];
    assert_eq!(f.label.as_deref(), Some("firmware"));
    assert_eq!(rv.allow_list("RIM"), vec!["09".repeat(32)]);
    assert_eq!(f.integrity_registers["1"], vec![("sha-512".to_string(), vec![8; 64])]);
}

#[test]
fn comid_tag_wrapping_a_map_and_other_concise_tags() {
    // Older drafts: #6.506(map); CoSWID (505) entries are skipped.
    let c = comid(
        "x",
        vec![Value::Array(vec![
            env("v", "m"),
            Value::Array(vec![digest_meas("RIM", 1, &[1; 32])]),
        ])],
    );
    let v = tag(
        501,
        map(vec![
            (int(0), tag(37, bytes(&[1; 16]))),
            (int(1), Value::Array(vec![tag(505, bytes(b"swid")), tag(506, c)])),
        ]),
    );
    let rv = import(&enc(&v), None).unwrap();
    assert_eq!(rv.corim_id, Some(format!("uuid:{}", "01".repeat(16))));
    assert_eq!(rv.allow_list("RIM"), vec!["01".repeat(32)]);
}

#[test]
fn signed_corim_verifies_with_its_key_only() {
    let k = es256();
    let signed = k.sign(cca_realm_corim());
    let rv = import(&signed, Some(&k.verification_key())).unwrap();
    assert!(rv.signed);
    assert_eq!(rv.allow_list("RIM"), vec!["00".repeat(32)]);
    // PEM and JWK forms of the same key.
    let from_pem = VerificationKey::from_pem(k.pem().as_bytes()).unwrap();
    assert_eq!(from_pem, k.verification_key());
    assert!(import(&signed, Some(&from_pem)).is_ok());
    let point = k.kp.public_key().as_ref();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = format!(
        r#"{{"kty":"EC","crv":"P-256","x":"{}","y":"{}"}}"#,
        b64(&point[1..33]),
        b64(&point[33..])
    );
    assert_eq!(
        VerificationKey::from_pem_or_jwk(jwk.as_bytes()).unwrap(),
        k.verification_key()
    );
    // Several keys: one of them verifies.
    assert!(import_with_keys(&signed, &[es256().verification_key(), k.verification_key()]).is_ok());
}

#[test]
fn signed_corim_with_wrong_key_is_refused() {
    let signed = es256().sign(cca_realm_corim());
    assert!(matches!(
        import(&signed, Some(&es256().verification_key())),
        Err(CorimError::Signature(_))
    ));
    // A P-384 key for an ES256 signature: algorithm mismatch.
    assert!(matches!(
        import(&signed, Some(&es384().verification_key())),
        Err(CorimError::Signature(_))
    ));
}

#[test]
fn tampered_signed_corim_is_refused() {
    let k = es256();
    let signed = k.sign(cca_realm_corim());
    // Change one byte of the RIM inside the payload (32 zero bytes after `58 20`).
    let pos = signed.windows(3).position(|w| w == [0x58, 0x20, 0x00]).unwrap();
    let mut t = signed.clone();
    t[pos + 2] = 0x01;
    assert!(matches!(
        import(&t, Some(&k.verification_key())),
        Err(CorimError::Signature(_))
    ));
}

#[test]
fn signed_corim_without_a_key_and_unsigned_with_keys_are_refused() {
    let k = es256();
    assert_eq!(import(&k.sign(cca_realm_corim()), None), Err(CorimError::KeyRequired));
    assert_eq!(
        import(&cca_realm_corim(), Some(&k.verification_key())),
        Err(CorimError::Unsigned)
    );
    // A signed payload that is not a CoRIM.
    let signed = k.sign(enc(&map(vec![(int(0), text("x"))])));
    assert!(matches!(
        import(&signed, Some(&k.verification_key())),
        Err(CorimError::Structure { .. })
    ));
}

// --- malformed input ----------------------------------------------------------

#[test]
fn truncated_cbor_is_refused() {
    let good = cca_realm_corim();
    for n in 0..good.len() {
        let r = import(&good[..n], None);
        assert!(
            matches!(r, Err(CorimError::Cbor { .. })),
            "prefix of {n} bytes: {:?}",
            r.err()
        );
    }
    let signed = es256().sign(good);
    let k = es256().verification_key();
    for n in 0..signed.len() {
        let r = import(&signed[..n], Some(&k));
        assert!(
            matches!(r, Err(CorimError::Cbor { .. })),
            "prefix of {n} bytes: {:?}",
            r.err()
        );
    }
}

#[test]
fn wrong_tags_are_refused() {
    let inner = map(vec![(int(0), text("id")), (int(1), Value::Array(vec![]))]);
    for v in [tag(502, inner.clone()), inner.clone(), Value::Array(vec![])] {
        assert!(
            matches!(import(&enc(&v), None), Err(CorimError::Structure { .. })),
            "{v:?}"
        );
    }
    // A concise tag that is not tagged.
    let v = tag(
        501,
        map(vec![(int(0), text("id")), (int(1), Value::Array(vec![bytes(b"x")]))]),
    );
    let r = import(&enc(&v), None);
    assert!(
        matches!(&r, Err(CorimError::Structure { reason, .. }) if reason.contains("not a tagged concise tag")),
        "{:?}",
        r.err()
    );
}

#[test]
fn missing_mandatory_fields_are_refused() {
    let ok_comid = comid(
        "c",
        vec![Value::Array(vec![
            env("v", "m"),
            Value::Array(vec![digest_meas("RIM", 1, &[0; 32])]),
        ])],
    );
    let cases: Vec<(&str, Value)> = vec![
        (
            "lacks id",
            tag(
                501,
                map(vec![(int(1), Value::Array(vec![tag(506, bytes(&enc(&ok_comid)))]))]),
            ),
        ),
        ("lacks tags", tag(501, map(vec![(int(0), text("id"))]))),
        (
            "must not be empty",
            tag(501, map(vec![(int(0), text("id")), (int(1), Value::Array(vec![]))])),
        ),
        ("tag-identity", corim(&[map(vec![(int(4), map(vec![]))])])),
        ("triples", corim(&[map(vec![(int(1), map(vec![(int(0), text("c"))]))])])),
        (
            "mval",
            corim(&[comid(
                "c",
                vec![Value::Array(vec![
                    env("v", "m"),
                    Value::Array(vec![map(vec![(int(0), text("RIM"))])]),
                ])],
            )]),
        ),
        (
            "no measurement",
            corim(&[comid(
                "c",
                vec![Value::Array(vec![env("v", "m"), Value::Array(vec![])])],
            )]),
        ),
        (
            "neither class",
            corim(&[comid(
                "c",
                vec![Value::Array(vec![
                    map(vec![]),
                    Value::Array(vec![digest_meas("RIM", 1, &[0; 32])]),
                ])],
            )]),
        ),
        (
            "digest is 31 bytes",
            corim(&[comid(
                "c",
                vec![Value::Array(vec![
                    env("v", "m"),
                    Value::Array(vec![digest_meas("RIM", 1, &[0; 31])]),
                ])],
            )]),
        ),
    ];
    for (why, v) in cases {
        let e = import(&enc(&v), None).unwrap_err();
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
}

#[test]
fn oversized_inputs_are_refused_before_allocation() {
    let big = vec![0u8; MAX_CORIM_LEN + 1];
    assert_eq!(
        import(&big, None),
        Err(CorimError::TooLarge {
            len: MAX_CORIM_LEN + 1,
            max: MAX_CORIM_LEN
        })
    );
    // A byte string that claims 2^62 bytes but has 3: refused, no huge allocation.
    let mut lying = vec![0xd9, 0x01, 0xf5, 0xa2, 0x00, 0x5b];
    lying.extend_from_slice(&(1u64 << 62).to_be_bytes());
    lying.extend_from_slice(b"abc");
    assert!(matches!(import(&lying, None), Err(CorimError::Cbor { .. })));
    // An array that claims 2^62 entries.
    let mut lying = vec![0xd9, 0x01, 0xf5, 0x9b];
    lying.extend_from_slice(&(1u64 << 62).to_be_bytes());
    let r = import(&lying, None);
    assert!(
        matches!(&r, Err(CorimError::Cbor { reason, .. }) if reason.contains("UnexpectedEof")),
        "{:?}",
        r.err()
    );
    // Deep nesting.
    let mut deep = vec![0xd9, 0x01, 0xf5];
    deep.extend(std::iter::repeat_n(0x81, 100_000));
    deep.push(0x00);
    let r = import(&deep, None);
    assert!(
        matches!(&r, Err(CorimError::Cbor { reason, .. }) if reason.contains("RecursionLimitExceeded")),
        "{:?}",
        r.err()
    );
}

#[test]
fn bad_keys_are_refused() {
    let key_err = |r: Result<VerificationKey, CorimError>, want: &str| match r {
        Err(CorimError::Key(m)) => assert!(m.contains(want), "{m}"),
        other => panic!("{:?}", other.err()),
    };
    key_err(VerificationKey::from_pem(b"nothing"), "no PEM PUBLIC KEY");
    key_err(
        VerificationKey::from_jwk(r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#),
        "P-256 JWK coordinates must be 32 bytes",
    );
    key_err(
        VerificationKey::from_jwk(r#"{"kty":"RSA","crv":"x"}"#),
        "unsupported JWK kty \"RSA\"",
    );
    key_err(
        VerificationKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01, 0x00]),
        "not a SubjectPublicKeyInfo",
    );
}

// --- CCA mapping ---------------------------------------------------------------

#[test]
fn cca_policy_takes_reference_values_from_a_signed_corim() {
    use attested_tls::binder::ExpectedBinding;
    use attested_tls::ear::Tier;
    use attested_tls::platform::cca::{CcaPolicy, MEDIA_TYPE};
    use attested_tls::policy::Policy;
    use attested_tls::verifier::AppraisalContext;

    let dir = tempfile::tempdir().unwrap();
    let vectors = concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/cca/");
    let cpak: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{vectors}cpak.json")).unwrap()).unwrap();
    let ta = serde_json::json!([{
        "instance-id": "0107060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918",
        "implementation-id": "7f454c4602010100000000000000000003003e00010000005058000000000000",
        "pkey": cpak,
    }]);
    std::fs::write(dir.path().join("ta.json"), serde_json::to_vec(&ta).unwrap()).unwrap();
    let k = es256();
    std::fs::write(dir.path().join("corim.cbor"), k.sign(cca_realm_corim())).unwrap();
    std::fs::write(dir.path().join("corim-key.pem"), k.pem()).unwrap();
    std::fs::write(dir.path().join("other-key.pem"), es256().pem()).unwrap();

    let token = std::fs::read(format!("{vectors}cca-token-01.cbor")).unwrap();
    let exp = ExpectedBinding::ReportData([0xAB; 64]);
    let ctx = AppraisalContext {
        expected: &exp,
        now: time::OffsetDateTime::UNIX_EPOCH,
        policy_id: "corim",
    };
    let policy = |key: &str| {
        let text = format!(
            "id = \"corim\"\n[cca]\ntrust_anchors = [\"ta.json\"]\nreference_values = [\"corim.cbor\"]\ncorim_keys = [\"{key}\"]\n"
        );
        Policy::from_toml(&text, dir.path())
    };
    let p = policy("corim-key.pem").unwrap();
    let cca: &CcaPolicy = p.cca.as_ref().unwrap();
    let cfg = cca.config(&p).unwrap();
    assert_eq!(cfg.reference_values.realm_initial_measurements, vec![vec![0u8; 32]]);
    assert_eq!(cfg.reference_values.realm_personalization_values, vec![RPV.to_vec()]);
    let a = cca.verifier(&p).unwrap().appraise(MEDIA_TYPE, &token, &ctx);
    // The realm values from the CoRIM all match. The CoRIM has no platform
    // values, so the platform software is not checked: a warning saying so
    // (issue 8 point 5; affirming before), not a refusal.
    assert_eq!(a.status, Tier::Warning, "{:#?}", a.findings);
    let claims: Vec<(&str, Tier)> = a.findings.iter().map(|f| (f.claim.as_str(), f.tier)).collect();
    assert_eq!(claims, [("platform.sw_components", Tier::Warning)]);

    // The CoRIM signed by another key: the policy does not load.
    let p = policy("other-key.pem").unwrap();
    let e = p.appraiser().unwrap_err();
    assert!(e.to_string().contains("cca.reference_values"), "{e}");

    // Unsigned rv.json put where the signed CoRIM was (whatever its file
    // name): refused while keys are configured.
    std::fs::copy(format!("{vectors}rv.json"), dir.path().join("corim.cbor")).unwrap();
    let e = policy("corim-key.pem").unwrap().appraiser().unwrap_err();
    assert!(e.to_string().contains("unsigned JSON"), "{e}");
}

#[test]
fn corim_id_cannot_write_policy_keys() {
    // An unsigned CoRIM whose id tries to end the fragment's comment line.
    let evil = "acme (signature verified)\n[snp]\nallow_debug = true\n#";
    let doc = tag(
        501,
        map(vec![
            (int(0), text(evil)),
            (
                int(1),
                Value::Array(vec![tag(
                    506,
                    bytes(&enc(&comid(
                        "c",
                        vec![Value::Array(vec![
                            env("ACME", "td"),
                            Value::Array(vec![digest_meas("mrtd", 7, &[0x11; 48])]),
                        ])],
                    ))),
                )]),
            ),
        ]),
    );
    let rv = import(&enc(&doc), None).unwrap();
    let fragment = policy_fragment(&rv, "tdx").unwrap();
    assert_eq!(fragment.lines().filter(|l| l.starts_with('[')).count(), 1, "{fragment}");
    assert!(fragment.lines().next().unwrap().contains("(unsigned)"), "{fragment}");
    let parsed: toml::Value = toml::from_str(&fragment).unwrap();
    assert!(parsed.get("snp").is_none(), "{fragment}");
    assert_eq!(parsed["tdx"]["mrtd"].as_array().map(|a| a.len()), Some(1));
}

#[test]
fn signed_corim_whose_cose_alg_does_not_name_the_key_algorithm_is_refused() {
    // A valid P-256 signature, but the protected header says ES384.
    let k = es256();
    let key = VerificationKey::P256(k.kp.public_key().as_ref().to_vec());
    let mislabelled = TestKey {
        alg: iana::Algorithm::ES384,
        ..k
    };
    let signed = mislabelled.sign(cca_realm_corim());
    match import(&signed, Some(&key)) {
        Err(CorimError::Signature(m)) => assert!(m.contains("does not match the ES256 key"), "{m}"),
        other => panic!("a mislabelled algorithm must be refused, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn signed_corim_with_critical_headers_is_refused() {
    let k = es256();
    let rng = SystemRandom::new();
    let signed = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(k.alg)
                .add_critical(iana::HeaderParameter::CounterSignature)
                .build(),
        )
        .payload(cca_realm_corim())
        .create_signature(b"", |tbs| k.kp.sign(&rng, tbs).unwrap().as_ref().to_vec())
        .build()
        .to_tagged_vec()
        .unwrap();
    let e = import(&signed, Some(&k.verification_key())).unwrap_err();
    assert!(e.to_string().contains("critical"), "{e}");
}
