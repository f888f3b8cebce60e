//! The key-exchange groups this crate's contexts offer: X25519, P-256 and
//! P-384 only (`attested_tls_openssl::TLS_GROUPS`). OpenSSL's default list
//! also has the finite-field groups, and the attack lab's R5-ffdhe2048
//! found the binding profiles' clients completing a handshake with a server
//! that offers ffdhe2048 alone. Guards `set_groups_list(TLS_GROUPS)` in the
//! contexts of every mode: each client must refuse that server in the
//! handshake.

use std::net::{TcpListener, TcpStream};
use std::thread;

use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslAcceptor, SslContext, SslMethod, SslVersion};
use openssl::x509::X509;

/// A plain TLS 1.3 server whose only group is ffdhe2048; returns whether
/// its handshake completed.
fn ffdhe2048_server() -> (u16, thread::JoinHandle<bool>) {
    let id = rcgen::generate_simple_self_signed(vec!["server.test".to_string()]).unwrap();
    let mut b = SslAcceptor::mozilla_modern_v5(SslMethod::tls_server()).unwrap();
    b.set_certificate(&X509::from_der(id.cert.der()).unwrap()).unwrap();
    b.set_private_key(&PKey::private_key_from_der(&id.signing_key.serialize_der()).unwrap())
        .unwrap();
    b.set_min_proto_version(Some(SslVersion::TLS1_3)).unwrap();
    b.set_groups_list("ffdhe2048").unwrap();
    let acceptor = b.build();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        acceptor.accept(tcp).is_ok()
    });
    (port, server)
}

/// Runs a client handshake on `ctx` against the ffdhe2048-only server and
/// asserts that neither side completed it.
fn refused(ctx: &SslContext, what: &str) {
    let (port, server) = ffdhe2048_server();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut ssl = Ssl::new(ctx).unwrap();
    ssl.set_hostname("server.test").unwrap();
    let client = ssl.connect(tcp);
    assert!(client.is_err(), "{what}: the client completed a handshake on ffdhe2048");
    assert!(!server.join().unwrap(), "{what}: the server completed a handshake");
}

#[test]
fn no_client_context_negotiates_a_finite_field_group() {
    refused(
        &attested_tls_openssl::expat::client_context().unwrap(),
        "default mode on OpenSSL",
    );
    for profile in attested_tls::modes::profiles::PROFILES {
        let cfg = attested_tls_openssl::profiles::ProfileClientConfig::new(profile.name(), appraiser()).unwrap();
        let ctx = attested_tls_openssl::profiles::client_context_builder(&cfg)
            .unwrap()
            .build();
        refused(&ctx, profile.name());
    }
}

fn appraiser() -> attested_tls::verifier::Appraiser {
    attested_tls::verifier::Appraiser::new("groups-test")
}
