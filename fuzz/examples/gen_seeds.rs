//! Writes the seed corpora under `fuzz/seeds/<target>/` from real
//! encodings, and (once) the simulated-TEE fixtures `fuzz/fixtures/sim-*`
//! the `sim_evidence` target trusts.
//!
//! ```text
//! cd fuzz && cargo run --example gen_seeds
//! ```
//!
//! The RFC 9261 seeds come from the repository's vector
//! `expat-ed25519-sha256-server.toml` (path from `ATLS_VECTOR`, default
//! `../vectors/rfc9261/` relative to this crate), recomputed with
//! `attested_tls::vectors::check_vector`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use attested_tls::binder::BindingClaims;
use attested_tls::cmw::{Cmw, CmwLabel, CmwRecord, CmwType};
use attested_tls::codec::{AuthenticatorRequest, Extension, HandshakeType, EXT_CMW_ATTESTATION_DEFAULT};
use attested_tls::crypto::HashAlgorithm;
use attested_tls::ea::{EaProfile, Role};
use attested_tls::sim::{SimAttester, SimInstance, SimInstanceConfig, SimRoot, SIM_MEDIA_TYPE};
use attested_tls::transport::frame::{
    Hello, OutcomeStatus, DEFAULT_MAX_FRAME, FLAG_CAN_ATTEST, FLAG_REQUIRES_PEER_ATTESTATION, VERSION,
};
use attested_tls::transport::Frame;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = root().join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
    println!("seeds/{target}/{name}: {} bytes", bytes.len());
}

fn frames(fs: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in fs {
        f.encode_into(&mut out);
    }
    out
}

fn with_prefix(prefix: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![prefix];
    v.extend_from_slice(rest);
    v
}

/// The fixed simulation instance (and root certificate) of `sim_evidence`,
/// created on first use.
fn sim_instance() -> SimInstance {
    let fixtures = root().join("fixtures");
    let (root_path, inst_path) = (fixtures.join("sim-root.pem"), fixtures.join("sim-instance.toml"));
    if inst_path.exists() && root_path.exists() {
        return SimInstance::load(&inst_path).unwrap();
    }
    let sim_root = SimRoot::generate("attested-tls fuzz simulation root").unwrap();
    let mut cfg = SimInstanceConfig::new(attested_tls::sim::default_measurement());
    cfg.instance_id = (0u8..17).collect();
    let inst = sim_root.issue_instance(cfg).unwrap();
    std::fs::create_dir_all(&fixtures).unwrap();
    std::fs::write(&root_path, sim_root.cert_pem()).unwrap();
    std::fs::write(&inst_path, inst.to_toml()).unwrap();
    inst
}

fn main() {
    let vector_path = std::env::var_os("ATLS_VECTOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../vectors/rfc9261/expat-ed25519-sha256-server.toml"));
    let text = std::fs::read_to_string(&vector_path)
        .unwrap_or_else(|e| panic!("{}: {e} (set ATLS_VECTOR)", vector_path.display()));
    let report = attested_tls::vectors::check_vector(&text).unwrap();
    assert!(report.all_ok(), "the vector is not reproduced");
    let value = |name: &str| -> Vec<u8> {
        let c = report.checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no {name} in the vector"));
        hex::decode(c.computed.as_deref().unwrap()).unwrap()
    };
    let (request, authenticator, empty) =
        (&value("authenticator_request"), &value("authenticator"), &value("empty_authenticator"));
    let (certificate, certificate_verify) = (&value("certificate_msg"), &value("certificate_verify"));

    // ----- codec_authenticator_request -----
    write("codec_authenticator_request", "vector-request.bin", request);
    let profile = EaProfile::default();
    write(
        "codec_authenticator_request",
        "certificate-request-default-profile.bin",
        &profile.request(Role::Client, vec![0x5a; 32]).encode(),
    );
    write(
        "codec_authenticator_request",
        "no-cmw-empty-context.bin",
        &AuthenticatorRequest {
            msg_type: HandshakeType::ClientCertificateRequest,
            context: Vec::new(),
            extensions: vec![Extension::signature_algorithms(&[0x0403, 0x0804])],
        }
        .encode(),
    );

    // ----- codec_authenticator -----
    write("codec_authenticator", "vector-authenticator.bin", authenticator);
    write("codec_authenticator", "vector-empty-authenticator.bin", empty);
    write("codec_authenticator", "vector-certificate-body.bin", &certificate[4..]);
    write(
        "codec_authenticator",
        "vector-certificate-verify-body.bin",
        &certificate_verify[4..],
    );
    write(
        "codec_authenticator",
        "signature-algorithms.bin",
        &Extension::signature_algorithms(&[0x0403, 0x0503, 0x0807]).data,
    );
    let cmw_vec = hex::decode(
        text.lines()
            .find(|l| l.starts_with("cmw ="))
            .unwrap()
            .split('"')
            .nth(1)
            .unwrap(),
    )
    .unwrap();
    write(
        "codec_authenticator",
        "cmw-attestation.bin",
        &Extension::cmw_attestation(EXT_CMW_ATTESTATION_DEFAULT, &cmw_vec)
            .unwrap()
            .data,
    );

    // ----- ea_validate -----
    write("ea_validate", "vector-authenticator.bin", authenticator);
    write("ea_validate", "vector-empty-authenticator.bin", empty);
    write("ea_validate", "vector-request.bin", request);

    // ----- cmw_decode -----
    write("cmw_decode", "vector-cmw.cbor", &cmw_vec);
    let record = Cmw::Record(CmwRecord::evidence("application/eat+cwt", vec![1, 2, 3, 4]));
    let collection = Cmw::Collection {
        ctype: Some("tag:attested-tls.dev,2026:composite".into()),
        members: BTreeMap::from([
            (CmwLabel::Text("cpu".into()), record.clone()),
            (
                CmwLabel::Text("gpu".into()),
                Cmw::Record(CmwRecord {
                    typ: CmwType::MediaType("application/vnd.example+json".into()),
                    value: b"{}".to_vec(),
                    ind: Some(12),
                }),
            ),
        ]),
    };
    write("cmw_decode", "record.cbor", &record.to_cbor());
    write("cmw_decode", "record.json", record.to_json().unwrap().as_bytes());
    write("cmw_decode", "collection.cbor", &collection.to_cbor());
    write(
        "cmw_decode",
        "collection.json",
        collection.to_json().unwrap().as_bytes(),
    );
    let nested = Cmw::Collection {
        ctype: None,
        members: BTreeMap::from([
            (CmwLabel::Int(-1), collection.clone()),
            (
                CmwLabel::Int(7),
                Cmw::Record(CmwRecord {
                    typ: CmwType::ContentFormat(64999),
                    value: vec![0x23, 0x47, 0xda, 0x55],
                    ind: None,
                }),
            ),
        ]),
    };
    write("cmw_decode", "nested-int-labels.cbor", &nested.to_cbor());
    // Tagged form: TN(30001) = 1668546817 + 117 * 256 + 166 = 1668576935 = 0x637476a7, h'0102'.
    write("cmw_decode", "tagged.cbor", &hex::decode("da637476a7420102").unwrap());

    // ----- sim_evidence (genuine Evidence over a binding the target does not expect) -----
    let inst = sim_instance();
    let attester = SimAttester::new(inst.clone());
    let spki: &[u8] = b"fuzz authenticator spki";
    for (name, hash) in [("sha256", HashAlgorithm::Sha256), ("sha384", HashAlgorithm::Sha384)] {
        let binding = BindingClaims::from_exported_value(hash, spki, &[0x08; 32]);
        let evidence = attester.evidence(&binding).unwrap();
        write("sim_evidence", &format!("evidence-{name}.cose"), &evidence);
        // The signed claims alone, for `sim_claims` (which signs its input).
        let sign1 = <coset::CoseSign1 as coset::TaggedCborSerializable>::from_tagged_slice(&evidence).unwrap();
        write("sim_claims", &format!("claims-{name}.cbor"), &sign1.payload.unwrap());
        let cmw = Cmw::Record(CmwRecord::evidence(SIM_MEDIA_TYPE, evidence));
        write("sim_evidence", &format!("evidence-{name}.cmw.cbor"), &cmw.to_cbor());
    }

    // ----- transport_frames (selector byte, then a frame stream) -----
    let hello = Frame::Hello(Hello {
        version: VERSION,
        flags: FLAG_CAN_ATTEST | FLAG_REQUIRES_PEER_ATTESTATION,
        max_frame: DEFAULT_MAX_FRAME as u32,
        cmw_ext_type: EXT_CMW_ATTESTATION_DEFAULT,
        exporter_label: profile.exporter_label.clone(),
    });
    let all = [
        hello.clone(),
        Frame::AuthRequest {
            request_id: 0,
            request: request.clone(),
        },
        Frame::Authenticator {
            request_id: 0,
            authenticator: authenticator.clone(),
        },
        Frame::Outcome {
            request_id: 0,
            status: OutcomeStatus::Accepted,
            reason: "accepted under policy fuzz (affirming)".into(),
            ear_json: b"{\"status\":\"affirming\"}".to_vec(),
        },
        Frame::Data(b"hello".to_vec()),
        Frame::Error {
            code: 5,
            reason: "attestation failed".into(),
        },
    ];
    write("transport_frames", "all-frames.bin", &with_prefix(0, &frames(&all)));
    write(
        "transport_frames",
        "all-frames-small-limit.bin",
        &with_prefix(3, &frames(&all)),
    );

    // ----- transport_session (options byte, then a frame stream) -----
    // The peer (TLS server) asks the client to attest: a CertificateRequest.
    let peer_request = profile.request(Role::Client, vec![0x33; 32]).encode();
    let session = [
        Frame::AuthRequest {
            request_id: 9,
            request: peer_request.clone(),
        },
        Frame::Outcome {
            request_id: 9,
            status: OutcomeStatus::Accepted,
            reason: "ok".into(),
            ear_json: Vec::new(),
        },
        Frame::Authenticator {
            request_id: 0,
            authenticator: authenticator.clone(),
        },
    ];
    write(
        "transport_session",
        "hello-request-outcome.bin",
        &with_prefix(0x01, &frames(&session)),
    );
    write(
        "transport_session",
        "attesting-hello-request-outcome.bin",
        &with_prefix(0x03, &frames(&session)),
    );
    let mut explicit = vec![hello];
    explicit.extend(session.iter().cloned());
    write(
        "transport_session",
        "explicit-hello.bin",
        &with_prefix(0x00, &frames(&explicit)),
    );
    write(
        "transport_session",
        "empty-authenticator.bin",
        &with_prefix(
            0x01,
            &frames(&[Frame::Authenticator {
                request_id: 0,
                authenticator: empty.clone(),
            }]),
        ),
    );

    // ----- policy_toml -----
    write(
        "policy_toml",
        "sim.toml",
        format!(
            "id = \"sim-default\"\n\n[sim]\ntrusted_roots = [\"root.pem\"]\nmeasurements = [\"{}\"]\ninstance_ids = [\"{}\"]\nallow_debug = false\nmin_security_version = 1\n",
            hex::encode(&inst.config().measurement),
            hex::encode(&inst.config().instance_id)
        )
        .as_bytes(),
    );
    write("policy_toml", "minimal.toml", b"id = \"x\"\n");
    write(
        "policy_toml",
        "all-sections.toml",
        b"id = \"all\"\n[sim]\ntrusted_roots = []\nmeasurements = [\"00ff\"]\ninstance_ids = []\n[snp]\n[tdx]\n[sgx]\n[cca]\n",
    );
}
