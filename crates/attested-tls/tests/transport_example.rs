//! The worked example of `docs/transport.md`: these frames are what the
//! document shows, byte for byte. The request and authenticator are those of
//! the shared vector `expat-ed25519-sha256-server.toml`.

use attested_tls::transport::frame::{Frame, Hello, OutcomeStatus, FLAG_CAN_ATTEST, FLAG_REQUIRES_PEER_ATTESTATION};

fn expected(name: &str) -> String {
    let path = format!(
        "{}/../../vectors/rfc9261/expat-ed25519-sha256-server.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["expected"][name].as_str().unwrap().to_string()
}

pub fn example_frames() -> Vec<(&'static str, Frame)> {
    let label = b"EXPORTER-cmw-attestation".to_vec();
    vec![
        (
            "client HELLO",
            Frame::Hello(Hello {
                version: 1,
                flags: FLAG_REQUIRES_PEER_ATTESTATION,
                max_frame: 262144,
                cmw_ext_type: 0xff00,
                exporter_label: label.clone(),
            }),
        ),
        (
            "server HELLO",
            Frame::Hello(Hello {
                version: 1,
                flags: FLAG_CAN_ATTEST,
                max_frame: 262144,
                cmw_ext_type: 0xff00,
                exporter_label: label,
            }),
        ),
        (
            "client AUTH_REQUEST",
            Frame::AuthRequest {
                request_id: 0,
                request: hex::decode(expected("authenticator_request")).unwrap(),
            },
        ),
        (
            "server AUTHENTICATOR",
            Frame::Authenticator {
                request_id: 0,
                authenticator: hex::decode(expected("authenticator")).unwrap(),
            },
        ),
        (
            "client OUTCOME",
            Frame::Outcome {
                request_id: 0,
                status: OutcomeStatus::Accepted,
                reason: "accepted under policy demo (affirming)".into(),
                ear_json: Vec::new(),
            },
        ),
        ("client DATA", Frame::Data(b"hello".to_vec())),
        (
            "server ERROR",
            Frame::Error {
                code: 6,
                reason: "timed out during attestation".into(),
            },
        ),
    ]
}

#[test]
fn documented_frames_match_the_implementation() {
    let mut all = String::new();
    for (name, f) in example_frames() {
        let enc = hex::encode(f.encode());
        if std::env::var("PRINT_TRANSPORT_EXAMPLE").is_ok() {
            println!("{name}\n{enc}");
        }
        all.push_str(&enc);
    }
    let doc = std::fs::read_to_string(format!("{}/../../docs/transport.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let doc_hex: String = doc
        .split("```hex")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect::<Vec<_>>()
        .join("");
    let doc_hex: String = doc_hex
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<String>()
        .split_whitespace()
        .collect();
    assert_eq!(doc_hex, all, "docs/transport.md hex blocks differ from the encoder");
}
