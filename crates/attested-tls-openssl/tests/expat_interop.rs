//! The default mode (post-handshake Exported Attestation) across two
//! independent TLS stacks over real loopback sockets: rustls on one side,
//! OpenSSL on the other, in every direction (server attests, client
//! attests, mutual), with the simulated TEE. Both stacks must derive the
//! same exporter values, or no RFC 9261 authenticator of one verifies on
//! the other; the first tests check those values directly.

use std::sync::Arc;

use attested_tls::attester::Attester;
use attested_tls::ear::Ear;
use attested_tls::net::{self, AttestationConfig, AttestedStream, NetError, TlsStreamExt};
use attested_tls::sim::{ephemeral_world, SimAttester, SimInstance, SimPolicy, SimVerifier, SimWorld};
use attested_tls::transport::SessionError;
use attested_tls::verifier::Appraiser;
use attested_tls_openssl::expat::{self, ExpatError};
use openssl::pkey::PKey;
use openssl::x509::X509;
use rustls::pki_types::PrivateKeyDer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stack {
    Rustls,
    OpenSsl,
}

/// An attested stream of either stack.
trait Attested: AsyncRead + AsyncWrite + Unpin + Send {
    /// `TLS-Exporter(label, context, len)` of the connection under it.
    fn export(&self, label: &[u8], context: &[u8], len: usize) -> Vec<u8>;
}

impl<S: TlsStreamExt + Send> Attested for AttestedStream<S> {
    fn export(&self, label: &[u8], context: &[u8], len: usize) -> Vec<u8> {
        self.get_ref().exporter().export(label, context, len).unwrap()
    }
}

type Side = Result<(Box<dyn Attested>, Option<Ear>), ExpatError>;

/// One server identity (P-256, self-signed), usable by both stacks.
struct Identity {
    cert_der: Vec<u8>,
    key_pkcs8: Vec<u8>,
}

impl Identity {
    fn new() -> Self {
        let id = rcgen::generate_simple_self_signed(vec!["server.test".to_string()]).unwrap();
        Self {
            cert_der: id.cert.der().to_vec(),
            key_pkcs8: id.signing_key.serialize_der(),
        }
    }
}

/// Runs one connection: `server` on `server_stack`, `client` on
/// `client_stack`; `suite` (an OpenSSL TLS 1.3 cipher-suite name) restricts
/// the OpenSSL side(s).
async fn run(
    server_stack: Stack,
    server: AttestationConfig,
    client_stack: Stack,
    client: AttestationConfig,
    suite: Option<&'static str>,
) -> (Side, Side) {
    let id = Identity::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let r: Side = match server_stack {
            Stack::Rustls => {
                let tls = net::tls::server_config(
                    vec![id.cert_der.clone().into()],
                    PrivateKeyDer::Pkcs8(id.key_pkcs8.clone().into()),
                )
                .unwrap();
                net::accept(&tls, tcp, &server)
                    .await
                    .map(|(s, e)| (Box::new(s) as Box<dyn Attested>, e))
                    .map_err(ExpatError::Net)
            }
            Stack::OpenSsl => {
                let chain = [X509::from_der(&id.cert_der).unwrap()];
                let key = PKey::private_key_from_der(&id.key_pkcs8).unwrap();
                let mut b = expat::server_context_builder(&chain, &key).unwrap();
                if let Some(s) = suite {
                    b.set_ciphersuites(s).unwrap();
                }
                expat::accept(&b.build(), tcp, &server)
                    .await
                    .map(|(s, e)| (Box::new(s) as Box<dyn Attested>, e))
            }
        };
        r
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let cli: Side = match client_stack {
        Stack::Rustls => net::connect(&net::tls::client_config().unwrap(), "server.test", tcp, &client)
            .await
            .map(|(s, e)| (Box::new(s) as Box<dyn Attested>, e))
            .map_err(ExpatError::Net),
        Stack::OpenSsl => {
            let mut b = expat::client_context_builder().unwrap();
            if let Some(s) = suite {
                b.set_ciphersuites(s).unwrap();
            }
            expat::connect(&b.build(), "server.test", tcp, &client)
                .await
                .map(|(s, e)| (Box::new(s) as Box<dyn Attested>, e))
        }
    };
    (srv.await.unwrap(), cli)
}

fn attester(instance: &SimInstance) -> Arc<dyn Attester> {
    Arc::new(SimAttester::new(instance.clone()))
}

fn attests(instance: &SimInstance) -> AttestationConfig {
    AttestationConfig::attester(attester(instance)).unwrap()
}

fn appraiser_with(w: &SimWorld, policy: SimPolicy) -> Appraiser {
    let v = SimVerifier::new(policy, vec![w.root.cert_der().to_vec()]).unwrap();
    Appraiser::new("test-policy").with_verifier(Arc::new(v))
}

/// Requires the peer to attest with one of `w`'s instances (measurement and
/// instance id pinned).
fn appraises(w: &SimWorld) -> AttestationConfig {
    AttestationConfig::verifier(appraiser_with(w, w.sim_policy(true)))
}

async fn echo(server: &mut Box<dyn Attested>, client: &mut Box<dyn Attested>, msg: &[u8]) {
    let (mut sr, mut cw) = (vec![0u8; msg.len()], msg.to_vec());
    let write = async {
        client.write_all(&cw).await.unwrap();
        client.flush().await.unwrap();
    };
    let read = async { server.read_exact(&mut sr).await.unwrap() };
    tokio::join!(write, read);
    server.write_all(&sr).await.unwrap();
    server.flush().await.unwrap();
    client.read_exact(&mut cw).await.unwrap();
    assert_eq!(cw, msg);
}

const BOTH_WAYS: [(Stack, Stack); 2] = [(Stack::Rustls, Stack::OpenSsl), (Stack::OpenSsl, Stack::Rustls)];

/// Two independent TLS 1.3 stacks export identical keying material for the
/// same connection, with each cipher-suite hash, a non-empty and an empty
/// context, in both server/client arrangements. (Guards the OpenSSL
/// exporter: the wrong digest, or a context OpenSSL ignored, would differ
/// from rustls here before any authenticator failed.)
#[tokio::test]
async fn both_stacks_export_identical_keying_material() {
    let w = ephemeral_world(1).unwrap();
    for (server_stack, client_stack) in BOTH_WAYS {
        for (suite, hash_len) in [("TLS_AES_128_GCM_SHA256", 32), ("TLS_AES_256_GCM_SHA384", 48)] {
            let (s, c) = run(
                server_stack,
                attests(&w.instances[0]),
                client_stack,
                appraises(&w),
                Some(suite),
            )
            .await;
            let (s, _) = s.unwrap();
            let (c, _) = c.unwrap();
            for (label, context, len) in [
                (&b"EXPORTER-attested-tls interop"[..], &b"some context"[..], 32),
                (b"EXPORTER-attested-tls interop", b"", 64),
                (b"EXPORTER-other", b"some context", hash_len),
            ] {
                let a = s.export(label, context, len);
                let b = c.export(label, context, len);
                assert_eq!(a.len(), len);
                assert_eq!(
                    hex::encode(&a),
                    hex::encode(&b),
                    "{server_stack:?} server vs {client_stack:?} client, {suite}, label {:?}, context {:?}",
                    String::from_utf8_lossy(label),
                    String::from_utf8_lossy(context)
                );
            }
            // Different contexts give different values (the context is not ignored).
            assert_ne!(s.export(b"EXPORTER-x", b"a", 32), s.export(b"EXPORTER-x", b"b", 32));
        }
    }
}

#[tokio::test]
async fn server_attests_across_stacks_both_ways() {
    let w = ephemeral_world(1).unwrap();
    for (server_stack, client_stack) in BOTH_WAYS {
        let (s, c) = run(
            server_stack,
            attests(&w.instances[0]),
            client_stack,
            appraises(&w),
            None,
        )
        .await;
        let (mut s, server_view) = s.unwrap_or_else(|e| panic!("{server_stack:?} server: {e}"));
        let (mut c, ear) = c.unwrap_or_else(|e| panic!("{client_stack:?} client: {e}"));
        assert!(server_view.is_none(), "the server appraised nothing");
        let ear = ear.expect("the client appraised the server");
        assert!(ear.is_affirming(), "{}", ear.render());
        assert_eq!(
            ear.submods["sim"].claims["measurement"],
            hex::encode(&w.instances[0].config().measurement)
        );
        echo(&mut s, &mut c, b"hello across stacks").await;
    }
}

#[tokio::test]
async fn client_attests_across_stacks_both_ways() {
    let w = ephemeral_world(1).unwrap();
    for (server_stack, client_stack) in BOTH_WAYS {
        let (s, c) = run(
            server_stack,
            appraises(&w),
            client_stack,
            attests(&w.instances[0]),
            None,
        )
        .await;
        let (mut s, ear) = s.unwrap_or_else(|e| panic!("{server_stack:?} server: {e}"));
        let (mut c, client_view) = c.unwrap_or_else(|e| panic!("{client_stack:?} client: {e}"));
        assert!(client_view.is_none());
        assert!(ear.expect("the server appraised the client").is_affirming());
        echo(&mut s, &mut c, b"ping").await;
    }
}

#[tokio::test]
async fn mutual_attestation_across_stacks_both_ways() {
    let w = ephemeral_world(2).unwrap();
    for (server_stack, client_stack) in BOTH_WAYS {
        let server = attests(&w.instances[0]).with_appraiser(appraiser_with(&w, w.sim_policy(true)));
        let client = attests(&w.instances[1]).with_appraiser(appraiser_with(&w, w.sim_policy(true)));
        let (s, c) = run(server_stack, server, client_stack, client, None).await;
        let (mut s, s_ear) = s.unwrap_or_else(|e| panic!("{server_stack:?} server: {e}"));
        let (mut c, c_ear) = c.unwrap_or_else(|e| panic!("{client_stack:?} client: {e}"));
        // Each side saw the other's instance.
        assert_eq!(
            s_ear.unwrap().submods["sim"].claims["instance_id"],
            hex::encode(&w.instances[1].config().instance_id)
        );
        assert_eq!(
            c_ear.unwrap().submods["sim"].claims["instance_id"],
            hex::encode(&w.instances[0].config().instance_id)
        );
        echo(&mut s, &mut c, &vec![7u8; 100_000]).await;
    }
}

/// The default mode on OpenSSL at both ends, mutual, with re-attestation
/// on the live connection.
#[tokio::test]
async fn openssl_to_openssl_mutual_and_reattestation() {
    let w = ephemeral_world(2).unwrap();
    let server = attests(&w.instances[0]).with_appraiser(appraiser_with(&w, w.sim_policy(true)));
    let client = attests(&w.instances[1]).with_appraiser(appraiser_with(&w, w.sim_policy(true)));
    let id = Identity::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let chain = [X509::from_der(&id.cert_der).unwrap()];
        let key = PKey::private_key_from_der(&id.key_pkcs8).unwrap();
        let (mut s, ear) = expat::accept(&expat::server_context(&chain, &key).unwrap(), tcp, &server)
            .await
            .unwrap();
        assert!(ear.unwrap().is_affirming());
        // Serve until the client closes: answers its re-attestation request.
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        buf
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut c, ear) = expat::connect(&expat::client_context().unwrap(), "server.test", tcp, &client)
        .await
        .unwrap();
    assert!(ear.unwrap().is_affirming());
    assert_eq!(c.get_ref().ssl().version_str(), "TLSv1.3");
    let again = c.reattest().await.unwrap();
    assert!(again.is_affirming());
    c.write_all(b"after re-attestation").await.unwrap();
    c.shutdown().await.unwrap();
    assert_eq!(srv.await.unwrap(), b"after re-attestation");
}

/// The relying party on either stack refuses Evidence of a measurement its
/// policy does not list, naming the check; the attester on the other stack
/// learns the same reason from the OUTCOME.
#[tokio::test]
async fn wrong_measurement_is_refused_by_either_stack() {
    let w = ephemeral_world(1).unwrap();
    let mut cfg = w.instances[0].config().clone();
    cfg.measurement = vec![0xee; 48];
    let bad = w.root.issue_instance(cfg).unwrap();
    // Server attests, client appraises; then the client attests, the server appraises.
    for (server_stack, client_stack) in BOTH_WAYS {
        let rp = || AttestationConfig::verifier(appraiser_with(&w, w.sim_policy(false)));
        let (s, c) = run(server_stack, attests(&bad), client_stack, rp(), None).await;
        expect_refusal(c, s, "measurement", &format!("{client_stack:?} client appraising"));
        let (s, c) = run(server_stack, rp(), client_stack, attests(&bad), None).await;
        expect_refusal(s, c, "measurement", &format!("{server_stack:?} server appraising"));
    }
}

fn expect_refusal(relying_party: Side, attester: Side, needle: &str, what: &str) {
    match relying_party {
        Err(ExpatError::Net(NetError::Attestation(SessionError::PeerNotTrusted { summary, ear }))) => {
            assert!(!ear.is_acceptable(), "{what}");
            assert!(summary.contains(needle), "{what}: {summary:?} does not name {needle:?}");
            assert!(
                summary.contains("test-policy"),
                "{what}: the refusal names the policy: {summary}"
            );
        }
        Err(e) => panic!("{what}: expected PeerNotTrusted, got {e}"),
        Ok(_) => panic!("{what}: accepted a peer it must refuse"),
    }
    match attester {
        Err(ExpatError::Net(NetError::Attestation(SessionError::RefusedByPeer(reason)))) => {
            assert!(
                reason.contains(needle),
                "{what}: the attester learned {reason:?}, not {needle:?}"
            )
        }
        Err(e) => panic!("{what}: the attester saw {e}, expected the peer's refusal"),
        Ok(_) => panic!("{what}: the attester completed although it was refused"),
    }
}

/// An OpenSSL client that requires attestation refuses a rustls server
/// that does not attest, and the reverse, naming the missing attestation.
#[tokio::test]
async fn a_verifier_on_either_stack_refuses_a_peer_without_attester() {
    let w = ephemeral_world(1).unwrap();
    for (server_stack, client_stack) in BOTH_WAYS {
        // The server has an appraiser (so the connection is attested one
        // way) but the client requires the server to attest as well.
        let server = AttestationConfig::verifier(appraiser_with(&w, w.sim_policy(true)));
        let client = attests(&w.instances[0]).with_appraiser(appraiser_with(&w, w.sim_policy(true)));
        let (_s, c) = run(server_stack, server, client_stack, client, None).await;
        match c {
            Err(ExpatError::Net(NetError::Attestation(SessionError::PeerCannotAttest(why)))) => {
                assert!(why.contains("can_attest"), "{why}")
            }
            Err(e) => panic!("{client_stack:?} client: expected PeerCannotAttest, got {e}"),
            Ok(_) => panic!("{client_stack:?} client accepted a server that does not attest"),
        }
    }
}

/// Shared with the other suites; this one uses only roots and leaves.
#[allow(dead_code)]
#[path = "../../attested-tls/tests/support/test_ca.rs"]
mod test_ca;

/// Host identity (I1) on the OpenSSL relying party of the default mode: the
/// name the OpenSSL client dialled reaches the session, so a server whose
/// attested (authenticator) key has a certificate for it from the client's
/// roots is accepted, and a genuine TEE with a self-signed authenticator is
/// refused naming I1. Guards `establish_over`'s server name: without it the
/// OpenSSL side could not check I1 at all.
#[tokio::test]
async fn host_identity_is_checked_by_an_openssl_relying_party() {
    let w = ephemeral_world(1).unwrap();
    let ca = test_ca::Ca::new("I1 test root");
    let (chain, key) = ca.chain("server.test", None, &[]);
    let identity = attested_tls::ea::AuthenticatorIdentity::new(chain, &PrivateKeyDer::Pkcs8(key.into())).unwrap();
    let certified = attests(&w.instances[0]).with_identity(identity);
    let (server, client) = run(
        Stack::Rustls,
        certified,
        Stack::OpenSsl,
        appraises(&w).with_host_identity(ca.roots()),
        None,
    )
    .await;
    server.expect("server side accepted");
    let (_, ear) = client.expect("a certified authenticator key is accepted");
    let ear = ear.expect("the server's result");
    assert!(ear.to_json_pretty().contains("I1 checked"), "{}", ear.render());

    // The same genuine TEE without a certificate for the name.
    let (_, client) = run(
        Stack::Rustls,
        attests(&w.instances[0]),
        Stack::OpenSsl,
        appraises(&w).with_host_identity(ca.roots()),
        None,
    )
    .await;
    let Err(ExpatError::Net(NetError::Attestation(SessionError::PeerNotTrusted { summary, .. }))) = client else {
        panic!("expected a refusal naming I1, got {:?}", client.map(|(_, e)| e));
    };
    assert!(summary.contains("host identity (I1)"), "{summary}");
}

/// A TLS server dialled no name: requiring I1 there is a configuration
/// error on the OpenSSL adapter too, never a skipped check.
#[tokio::test]
async fn host_identity_on_an_openssl_server_is_a_configuration_error() {
    let w = ephemeral_world(1).unwrap();
    let ca = test_ca::Ca::new("I1 test root");
    let (server, _client) = run(
        Stack::OpenSsl,
        appraises(&w).with_host_identity(ca.roots()),
        Stack::Rustls,
        attests(&w.instances[0]),
        None,
    )
    .await;
    let Err(ExpatError::Net(NetError::Config(reason))) = server else {
        panic!("expected a configuration error, got {:?}", server.map(|(_, e)| e));
    };
    assert!(reason.contains("host identity (I1)"), "{reason}");
}
