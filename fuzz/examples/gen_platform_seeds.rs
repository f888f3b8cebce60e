//! Writes the seed corpora of the platform-decoder targets
//! (`snp_report`, `dcap_quote`, `dcap_collateral`, `cca_token`,
//! `corim_import`, `ear_jwt_verify`) under `fuzz/seeds/<target>/`, from the
//! repository's test vectors (`ATLS_VECTORS`, default `../vectors/` relative
//! to this crate) and the fixture keys in `fixtures/platform/`.
//!
//! ```text
//! cd fuzz && cargo run --example gen_platform_seeds
//! ```
//!
//! The signed seeds (a COSE-signed CoRIM, EAR JWTs) are signed with the
//! fixture keys the targets verify with; the EAR seeds must stay the exact
//! tokens the `ear_jwt_verify` target accepts, so regenerating them means
//! regenerating nothing else (the target reads its accepted token from
//! `seeds/ear_jwt_verify/*.jwt` at build time).

use std::collections::BTreeMap;
use std::path::PathBuf;

use attested_tls::ear::{Appraisal, Ear, EatNonce};
use attested_tls::ear_jwt::{sign_ear_jwt, SigningKeyPem};
use attested_tls::platform::snp::{build_cert_table, encode_envelope, guid};
use aws_lc_rs::signature::Ed25519KeyPair;
use coset::cbor::value::Value;
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use rustls::pki_types::pem::PemObject;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vectors() -> PathBuf {
    std::env::var_os("ATLS_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../vectors"))
}

fn vector(p: &str) -> Vec<u8> {
    let path = vectors().join(p);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = root().join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
    println!("seeds/{target}/{name}: {} bytes", bytes.len());
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}
fn text(s: &str) -> Value {
    Value::Text(s.into())
}
fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    coset::cbor::ser::into_writer(v, &mut out).unwrap();
    out
}

/// An unsigned CoRIM (tag 501) with one CoMID: a CCA realm RIM digest and
/// a TDX MRTD digest.
fn corim() -> Vec<u8> {
    let env = |vendor: &str, model: &str| {
        Value::Map(vec![(
            int(0),
            Value::Map(vec![(int(1), text(vendor)), (int(2), text(model))]),
        )])
    };
    let digest = |label: &str, alg: i64, d: &[u8]| {
        Value::Map(vec![
            (int(0), text(label)),
            (
                int(1),
                Value::Map(vec![(
                    int(2),
                    Value::Array(vec![Value::Array(vec![int(alg), Value::Bytes(d.to_vec())])]),
                )]),
            ),
        ])
    };
    let triple = |e: Value, m: Value| Value::Array(vec![e, Value::Array(vec![m])]);
    let comid = Value::Map(vec![
        (int(1), Value::Map(vec![(int(0), text("fuzz-comid"))])),
        (
            int(4),
            Value::Map(vec![(
                int(0),
                Value::Array(vec![
                    triple(env("ARM", "realm"), digest("RIM", 2, &[0x43; 64])),
                    triple(env("Intel", "tdx"), digest("mrtd", 7, &[0x91; 48])),
                ]),
            )]),
        ),
    ]);
    enc(&Value::Tag(
        501,
        Box::new(Value::Map(vec![
            (int(0), text("fuzz-corim-1")),
            (
                int(1),
                Value::Array(vec![Value::Tag(506, Box::new(Value::Bytes(enc(&comid))))]),
            ),
        ])),
    ))
}

fn main() {
    // SEV-SNP: the raw Milan report, its cert table, and the envelope.
    let report = hex::decode(String::from_utf8(vector("sev-snp/report_milan.hex")).unwrap().trim()).unwrap();
    let chain: Vec<Vec<u8>> = x509_chain(&vector("sev-snp/cert_chain_milan"));
    let vcek = vector("sev-snp/vcek_milan.der");
    let table = build_cert_table(&[(guid::VCEK, &vcek), (guid::ASK, &chain[0]), (guid::ARK, &chain[1])]);
    write("snp_report", "report_milan.bin", &report);
    write("snp_report", "cert_table_milan.bin", &table);
    write(
        "snp_report",
        "envelope_milan.cbor",
        &encode_envelope(&report, Some(&table)),
    );
    write(
        "snp_report",
        "envelope_milan_no_certs.cbor",
        &encode_envelope(&report, None),
    );

    // DCAP quotes (v4 TD1.0, v5 TD1.5, v5 TD1.5-ex, v3 SGX).
    for (p, n) in [
        ("tdx/tdx_quote", "tdx_quote_v4.bin"),
        ("tdx/tdx_quote_outdated", "tdx_quote_v5_td15.bin"),
        ("tdx/tdx_quote_td15ex", "tdx_quote_v5_td15ex.bin"),
        ("sgx/sgx_quote", "sgx_quote_v3.bin"),
    ] {
        write("dcap_quote", n, &vector(p));
    }
    write(
        "dcap_collateral",
        "tdx_quote_collateral.json",
        &vector("tdx/tdx_quote_collateral.json"),
    );
    write(
        "dcap_collateral",
        "sgx_quote_collateral.json",
        &vector("sgx/sgx_quote_collateral.json"),
    );

    // CCA: tokens and bare claims.
    for n in [
        "cca-token-01.cbor",
        "cca-token-02.cbor",
        "platform-claims.cbor",
        "realm-claims.cbor",
        "realm-claims+spurious-text-key.cbor",
        "realm-claims-missing-challenge.cbor",
    ] {
        write("cca_token", n, &vector(&format!("cca/{n}")));
    }

    // CoRIM: unsigned, and COSE_Sign1-signed with the fixture Ed25519 key.
    let unsigned = corim();
    write("corim_import", "unsigned.cbor", &unsigned);
    let pem = std::fs::read(root().join("fixtures/platform/ed25519-key.pem")).unwrap();
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(&pem).unwrap();
    let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der()).unwrap();
    let signed = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .content_type("application/rim+cbor".into())
                .build(),
        )
        .payload(unsigned)
        .create_signature(b"", |tbs| kp.sign(tbs).as_ref().to_vec())
        .build()
        .to_tagged_vec()
        .unwrap();
    write("corim_import", "signed-ed25519.cbor", &signed);

    // EAR JWTs signed with the fixture keys.
    let mut submods = BTreeMap::new();
    let mut a = Appraisal::new("fuzz-policy");
    a.claim("measurement", "00".repeat(48));
    submods.insert("snp".to_string(), a.finish());
    let ear = Ear::new(1_735_689_600, submods, EatNonce::new(vec![0xab; 32]).ok());
    for (k, n) in [("ed25519", "ear-ed25519.jwt"), ("p256", "ear-p256.jwt")] {
        let key =
            SigningKeyPem::from_pem(&std::fs::read(root().join(format!("fixtures/platform/{k}-key.pem"))).unwrap())
                .unwrap();
        write("ear_jwt_verify", n, sign_ear_jwt(&ear, &key).unwrap().as_bytes());
    }
}

fn x509_chain(pem: &[u8]) -> Vec<Vec<u8>> {
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.unwrap().to_vec())
        .collect()
}
