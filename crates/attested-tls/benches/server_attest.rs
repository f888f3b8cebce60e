//! The server's per-connection attestation work, step by step, outside
//! sockets: what `atls bench`'s server CPU reading (attested against round
//! trip) is made of, to see where the time goes.
//!
//! The exporter is a real rustls TLS 1.3 server connection (handshake
//! completed in memory with the same configurations as `atls bench`:
//! P-256 certificate, TLS_AES_256_GCM_SHA384, so SHA-384 everywhere), the
//! attester the simulated TEE. Every step runs in rounds, the steps
//! alternating within each round; the median round is printed.
//!
//! `cargo bench -p attested-tls --bench server_attest`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attested_tls::attester::Attester;
use attested_tls::binder::{BindingClaims, EXPORTED_VALUE_LEN};
use attested_tls::ea::{self, AuthenticatorIdentity, EaProfile, Role};
use attested_tls::exporter::Exporter;
use attested_tls::net::{self, AttestationConfig};
use attested_tls::sim::{self, SimAttester};
use attested_tls::transport::{Frame, FrameDecoder, Session, SessionConfig};

/// A server connection whose handshake is done (in memory).
fn connected_server() -> rustls::ServerConnection {
    let (cert, key) = net::tls::self_signed_server_identity("atls-server").unwrap();
    let server_cfg = net::tls::server_config(vec![cert], key).unwrap();
    let client_cfg = net::tls::client_config().unwrap();
    let mut server = rustls::ServerConnection::new(server_cfg).unwrap();
    let mut client = rustls::ClientConnection::new(client_cfg, "atls-server".try_into().unwrap()).unwrap();
    let mut buf = Vec::new();
    while client.is_handshaking() || server.is_handshaking() {
        buf.clear();
        client.write_tls(&mut buf).unwrap();
        server.read_tls(&mut &buf[..]).unwrap();
        server.process_new_packets().unwrap();
        buf.clear();
        server.write_tls(&mut buf).unwrap();
        client.read_tls(&mut &buf[..]).unwrap();
        client.process_new_packets().unwrap();
    }
    server
}

fn per_op(iterations: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations as u32
}

fn main() {
    let server = connected_server();
    let exporter: &dyn Exporter = &server;
    let world = sim::ephemeral_world(1).unwrap();
    let attester = Arc::new(SimAttester::new(world.instances[0].clone()));
    let server_att = AttestationConfig::attester(attester.clone()).unwrap();
    let client_att = AttestationConfig::verifier(world.appraiser("bench"));
    let identity: AuthenticatorIdentity = server_att.identity.clone().unwrap();
    let profile = EaProfile::default();

    // The client's first flight (HELLO + AUTH_REQUEST), as frames.
    let mk = |role, att: &AttestationConfig| {
        let mut c = SessionConfig::new(role);
        c.attester = att.attester.clone();
        c.identity = att.identity.clone();
        c.appraiser = att.appraiser.clone();
        c
    };
    let client_cfg = mk(Role::Client, &client_att);
    let server_cfg = mk(Role::Server, &server_att);
    let first_flight = Session::new(client_cfg.clone()).take_outgoing();
    let frames = |bytes: &[u8]| {
        let mut d = FrameDecoder::new(1 << 20);
        d.push(bytes);
        let mut v = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            v.push(f);
        }
        v
    };
    let request = frames(&first_flight)
        .into_iter()
        .find_map(|f| match f {
            Frame::AuthRequest { request, .. } => Some(request),
            _ => None,
        })
        .unwrap();
    let context = attested_tls::codec::AuthenticatorRequest::decode(&request)
        .unwrap()
        .context;
    let binding = profile.binding(exporter, &context, identity.spki()).unwrap();
    let cmw = attester.attest(&binding).unwrap();
    let cmw_bytes = cmw.to_cbor();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 =
        aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .unwrap();
    let kp = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.as_ref(),
    )
    .unwrap();
    let hash = exporter.hash().unwrap();

    type Step<'a> = (&'static str, Box<dyn FnMut() + 'a>);
    let mut steps: Vec<Step> = vec![
        (
            "whole server answer (Session: HELLO + AUTH_REQUEST -> HELLO + AUTHENTICATOR)",
            Box::new(|| {
                let mut s = Session::new(server_cfg.clone());
                for f in frames(&first_flight) {
                    s.handle_frame(f, exporter).unwrap();
                }
                black_box(s.take_outgoing());
            }),
        ),
        (
            "  Session::new (config clone, HELLO not yet queued)",
            Box::new(|| {
                black_box(Session::new(server_cfg.clone()));
            }),
        ),
        (
            "  Session::new + the client's HELLO (our HELLO queued)",
            Box::new(|| {
                let mut s = Session::new(server_cfg.clone());
                let hello = frames(&first_flight).into_iter().next().unwrap();
                s.handle_frame(hello, exporter).unwrap();
                black_box(s.take_outgoing());
            }),
        ),
        (
            "  frames: decode the client's first flight",
            Box::new(|| {
                black_box(frames(&first_flight));
            }),
        ),
        (
            "  binding (1 export + Hash(SPKI || value) + Hash(SPKI))",
            Box::new(|| {
                black_box(profile.binding(exporter, &context, identity.spki()).unwrap());
            }),
        ),
        (
            "    one rustls export (32 bytes)",
            Box::new(|| {
                black_box(
                    exporter
                        .export(b"EXPORTER-cmw-attestation", &context, EXPORTED_VALUE_LEN)
                        .unwrap(),
                );
            }),
        ),
        (
            "    binder digests alone",
            Box::new(|| {
                black_box(BindingClaims::from_exported_value(hash, identity.spki(), &[7u8; 32]));
            }),
        ),
        (
            "  sim Evidence (claims CBOR, COSE_Sign1, ES256 sign) as CMW",
            Box::new(|| {
                black_box(attester.attest(&binding).unwrap());
            }),
        ),
        (
            "  CMW to CBOR",
            Box::new(|| {
                black_box(cmw.to_cbor());
            }),
        ),
        (
            "  ea::authenticate (2 exports, Certificate, transcript, P-256 sign, Finished)",
            Box::new(|| {
                black_box(
                    ea::authenticate(exporter, Role::Server, &profile, &request, &identity, Some(&cmw_bytes)).unwrap(),
                );
            }),
        ),
        (
            "    ea::keys (HC, FK: 2 exports)",
            Box::new(|| {
                black_box(ea::keys(exporter, Role::Server).unwrap());
            }),
        ),
        (
            "raw P-256 sign (aws-lc-rs), for reference",
            Box::new(|| {
                black_box(kp.sign(&rng, &[0x20u8; 119]).unwrap());
            }),
        ),
    ];
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let rounds = 9;
    let mut samples = vec![Vec::new(); steps.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in steps.iter_mut().enumerate() {
            samples[i].push(per_op(iterations, f).as_secs_f64() * 1e6);
        }
    }
    println!("server attestation steps ({rounds} rounds x {iterations} iterations, median round)");
    for ((name, _), mut s) in steps.iter().zip(samples) {
        s.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{:>8.2} us  {name}", s[s.len() / 2]);
    }
}
