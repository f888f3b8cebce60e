//! Shared helpers for loopback integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use attested_tls::attester::Attester;
use attested_tls::ea::AuthenticatorIdentity;
use attested_tls::net::{self, AttestationConfig, AttestedStream, NetError};
use attested_tls::sim::{SimAttester, SimInstance, SimInstanceConfig, SimPolicy, SimRoot, SimVerifier};
use attested_tls::verifier::Appraiser;
use rustls::pki_types::PrivateKeyDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub type World = attested_tls::sim::SimWorld;

pub fn world(n: usize) -> World {
    attested_tls::sim::ephemeral_world(n).unwrap()
}

/// Test conveniences on a simulation world.
pub trait WorldExt {
    /// Another instance of this world's root with a changed configuration.
    fn instance_with(&self, f: impl FnOnce(&mut SimInstanceConfig)) -> SimInstance;
    /// An appraiser trusting this world's root under `policy`, reported as `test-policy`.
    fn appraiser_with(&self, policy: SimPolicy) -> Appraiser;
    /// `appraiser_with(sim_policy(true))`: measurements and instance ids pinned.
    fn test_appraiser(&self) -> Appraiser;
}

impl WorldExt for World {
    fn instance_with(&self, f: impl FnOnce(&mut SimInstanceConfig)) -> SimInstance {
        let mut cfg = self.instances[0].config().clone();
        f(&mut cfg);
        self.root.issue_instance(cfg).unwrap()
    }

    fn appraiser_with(&self, policy: SimPolicy) -> Appraiser {
        appraiser_for(policy, &[&self.root])
    }

    fn test_appraiser(&self) -> Appraiser {
        self.appraiser_with(self.sim_policy(true))
    }
}

pub fn appraiser_for(policy: SimPolicy, roots: &[&SimRoot]) -> Appraiser {
    let v = SimVerifier::new(policy, roots.iter().map(|r| r.cert_der().to_vec()).collect()).unwrap();
    Appraiser::new("test-policy").with_verifier(Arc::new(v))
}

pub fn attester(instance: &SimInstance) -> Arc<dyn Attester> {
    Arc::new(SimAttester::new(instance.clone()))
}

pub fn server_tls() -> Arc<rustls::ServerConfig> {
    let id = rcgen::generate_simple_self_signed(vec!["server.test".into()]).unwrap();
    net::tls::server_config(
        vec![id.cert.der().clone()],
        PrivateKeyDer::Pkcs8(id.signing_key.serialize_der().into()),
    )
    .unwrap()
}

pub fn identity() -> AuthenticatorIdentity {
    AuthenticatorIdentity::generate_self_signed("attester.test").unwrap()
}

pub type ServerStream = AttestedStream<tokio_rustls::server::TlsStream<TcpStream>>;
pub type ClientStream = AttestedStream<tokio_rustls::client::TlsStream<TcpStream>>;

/// Runs one attested connection; the server echoes one message.
pub async fn run_pair(
    server: AttestationConfig,
    client: AttestationConfig,
) -> (
    Result<(ServerStream, Option<attested_tls::ear::Ear>), NetError>,
    Result<(ClientStream, Option<attested_tls::ear::Ear>), NetError>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = server_tls();
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        net::accept(&tls, tcp, &server).await
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let cli = net::connect(&net::tls::client_config().unwrap(), "server.test", tcp, &client).await;
    let srv = srv.await.unwrap();
    (srv, cli)
}

pub async fn echo_once(server: &mut ServerStream, client: &mut ClientStream, msg: &[u8]) {
    client.write_all(msg).await.unwrap();
    client.flush().await.unwrap();
    let mut buf = vec![0u8; msg.len()];
    server.read_exact(&mut buf).await.unwrap();
    server.write_all(&buf).await.unwrap();
    server.flush().await.unwrap();
    let mut back = vec![0u8; msg.len()];
    client.read_exact(&mut back).await.unwrap();
    assert_eq!(back, msg);
}

/// How a peer ended a TLS connection, as a reader sees it.
#[derive(Debug)]
pub enum TlsEnd {
    /// close_notify, then the end of the stream: an orderly close.
    CloseNotify,
    /// A read error, e.g. `UnexpectedEof` for a TCP end without close_notify.
    Error(std::io::Error),
}

/// A TLS client speaking the transport by hand (no session state machine),
/// for tests that send what a correct peer never would.
pub struct RawClient {
    pub tls: tokio_rustls::client::TlsStream<TcpStream>,
    pub decoder: attested_tls::transport::FrameDecoder,
}

impl RawClient {
    pub async fn connect(addr: std::net::SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = rustls::pki_types::ServerName::try_from("server.test").unwrap();
        let tls = tokio_rustls::TlsConnector::from(net::tls::client_config().unwrap())
            .connect(name, tcp)
            .await
            .unwrap();
        Self {
            tls,
            decoder: attested_tls::transport::FrameDecoder::new(1 << 20),
        }
    }

    /// The HELLO of a client that requires the server to attest.
    pub fn hello() -> attested_tls::transport::Frame {
        use attested_tls::transport::frame::{Hello, FLAG_REQUIRES_PEER_ATTESTATION, VERSION};
        let profile = attested_tls::ea::EaProfile::default();
        attested_tls::transport::Frame::Hello(Hello {
            version: VERSION,
            flags: FLAG_REQUIRES_PEER_ATTESTATION,
            max_frame: attested_tls::transport::frame::DEFAULT_MAX_FRAME as u32,
            cmw_ext_type: profile.cmw_ext_type,
            exporter_label: profile.exporter_label,
        })
    }

    /// An AUTH_REQUEST asking the server to attest, with `context`.
    pub fn request(request_id: u32, context: Vec<u8>) -> attested_tls::transport::Frame {
        let request = attested_tls::ea::EaProfile::default()
            .request(attested_tls::ea::Role::Server, context)
            .encode();
        attested_tls::transport::Frame::AuthRequest { request_id, request }
    }

    /// An OUTCOME accepting the answer to `request_id`.
    pub fn accepted(request_id: u32) -> attested_tls::transport::Frame {
        attested_tls::transport::Frame::Outcome {
            request_id,
            status: attested_tls::transport::frame::OutcomeStatus::Accepted,
            reason: "accepted".into(),
            ear_json: Vec::new(),
        }
    }

    pub async fn send(&mut self, frames: &[attested_tls::transport::Frame]) {
        let mut bytes = Vec::new();
        for f in frames {
            f.encode_into(&mut bytes);
        }
        self.send_bytes(&bytes).await;
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).await.unwrap();
        self.tls.flush().await.unwrap();
    }

    /// The next frame, or how the server ended the connection.
    pub async fn next_frame(&mut self) -> Result<attested_tls::transport::Frame, TlsEnd> {
        loop {
            if let Some(f) = self.decoder.next_frame().unwrap() {
                return Ok(f);
            }
            let mut buf = [0u8; 16 * 1024];
            match self.tls.read(&mut buf).await {
                Ok(0) => return Err(TlsEnd::CloseNotify),
                Ok(n) => self.decoder.push(&buf[..n]),
                Err(e) => return Err(TlsEnd::Error(e)),
            }
        }
    }

    /// Reads until the server ends the connection and asserts how: one
    /// ERROR frame (after the server's HELLO, if that was not read yet),
    /// then close_notify. Returns the ERROR's code and reason.
    pub async fn error_then_close_notify(&mut self, case: &str) -> (u16, String) {
        use attested_tls::transport::Frame;
        let (frames, end) = self.read_to_end().await;
        let (code, reason) = match frames.as_slice() {
            [Frame::Error { code, reason }] | [Frame::Hello(_), Frame::Error { code, reason }] => {
                (*code, reason.clone())
            }
            other => panic!("{case}: expected one ERROR frame, got {other:?}"),
        };
        assert!(
            matches!(end, TlsEnd::CloseNotify),
            "{case}: after ERROR {code} ({reason}) the server ended with {end:?}, not close_notify"
        );
        (code, reason)
    }

    /// Reads until the server ends the connection (within 10 s): the frames
    /// it sent and how it ended.
    pub async fn read_to_end(&mut self) -> (Vec<attested_tls::transport::Frame>, TlsEnd) {
        let mut frames = Vec::new();
        let read = async {
            loop {
                match self.next_frame().await {
                    Ok(f) => frames.push(f),
                    Err(end) => return end,
                }
            }
        };
        let end = tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("the server ends the connection");
        (frames, end)
    }
}
