//! The server side's HTTP/1.1 mode: a reverse proxy that adds the peer's
//! attestation to every request as `atls-peer-*` headers, after removing
//! any header of that prefix the client sent.
//!
//! hyper serves one end of an in-memory pipe; the relay of the attested
//! stream owns the other end, so that re-attestation runs on the same
//! stream as in the other modes, and each request carries the latest
//! result.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use attested_tls::net::{AttestedStream, TlsStreamExt};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::relay::{self, RelayError, RelayOptions};
use crate::PeerSummary;

/// Every header the proxy sets starts with this; the client's own headers
/// with it are removed first.
pub const HEADER_PREFIX: &str = "atls-peer-";
/// `affirming`, `warning`, `contraindicated`, `none` (the EAR's status), or
/// `not-required` when the proxy did not require the client to attest.
pub const STATUS: &str = "atls-peer-status";
/// The attested-TLS mode the result rests on (`expat`).
pub const MODE: &str = "atls-peer-mode";
/// The measurement (hex).
pub const MEASUREMENT: &str = "atls-peer-measurement";
/// The verifier, `developer/build` of the EAR's `ear_verifier_id`.
pub const VERIFIER: &str = "atls-peer-verifier";
/// The policy ids the result was reached under, comma-separated.
pub const POLICY: &str = "atls-peer-policy";
/// The EAR JSON, unpadded base64url.
pub const EAR: &str = "atls-peer-ear";
/// The TLS peer's address, `ip:port`.
pub const ADDRESS: &str = "atls-peer-address";

/// Headers of one hop (RFC 9110, Section 7.6.1), not forwarded.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
];

type Body = BoxBody<Bytes, hyper::Error>;

/// Header value text: printable ASCII kept, anything else as `?` (a
/// policy id is the policy file's text).
fn value(text: &str) -> HeaderValue {
    let clean: String = text
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("?"))
}

/// Removes every `atls-peer-*` header and the hop-by-hop ones, then sets
/// the `atls-peer-*` headers from `summary`.
pub fn rewrite_headers(headers: &mut hyper::HeaderMap, summary: &PeerSummary, peer: SocketAddr) {
    let listed: Vec<String> = headers
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    let drop: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            k.starts_with(HEADER_PREFIX) || HOP_BY_HOP.contains(&k) || listed.iter().any(|l| l == k)
        })
        .cloned()
        .collect();
    for k in drop {
        headers.remove(k);
    }
    let mut set = |name: &'static str, v: &str| {
        headers.insert(HeaderName::from_static(name), value(v));
    };
    set(STATUS, &summary.status);
    set(ADDRESS, &peer.to_string());
    if summary.status == crate::summary::NOT_REQUIRED {
        return;
    }
    set(MODE, &summary.mode);
    set(MEASUREMENT, &summary.measurement);
    set(VERIFIER, &summary.verifier);
    set(POLICY, &summary.policies.join(","));
    set(EAR, &summary.ear_b64);
}

fn bad_gateway(why: &str) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(format!("bad gateway: {why}\n")))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves HTTP/1.1 from the attested `stream` to `backend` (a connection
/// the caller opened after the peer passed), until either ends or `opts`
/// ends the relay.
pub(crate) async fn serve<S: TlsStreamExt + Send>(
    stream: &mut AttestedStream<S>,
    backend: TcpStream,
    summary: Arc<RwLock<PeerSummary>>,
    peer: SocketAddr,
    opts: RelayOptions<'_, AttestedStream<S>>,
) -> Result<(), RelayError> {
    let (sender, conn) = hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(backend))
        .await
        .map_err(|e| RelayError::Other(std::io::Error::other(e)))?;
    let _backend_conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let (mut relay_end, hyper_end) = tokio::io::duplex(64 * 1024);
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let sender = sender.clone();
        let s = summary.read().unwrap_or_else(|e| e.into_inner()).clone();
        rewrite_headers(req.headers_mut(), &s, peer);
        async move {
            let mut sender = sender.lock().await;
            if sender.ready().await.is_err() {
                return Ok::<_, hyper::Error>(bad_gateway("the backend closed the connection"));
            }
            match sender.send_request(req).await {
                Ok(resp) => Ok(resp.map(BodyExt::boxed)),
                Err(e) => Ok(bad_gateway(&e.to_string())),
            }
        }
    });
    let _front = AbortOnDrop(tokio::spawn(async move {
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(hyper_end), service)
            .await;
    }));
    relay::relay(stream, &mut relay_end, opts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_headers_of_the_prefix_are_replaced_and_not_required_is_explicit() {
        let mut h = hyper::HeaderMap::new();
        h.insert("atls-peer-status", HeaderValue::from_static("affirming"));
        h.insert("ATLS-Peer-Measurement", HeaderValue::from_static("00"));
        h.insert("atls-peer-something-new", HeaderValue::from_static("x"));
        h.insert("connection", HeaderValue::from_static("close, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        let peer: SocketAddr = "127.0.0.1:5".parse().unwrap();
        rewrite_headers(&mut h, &PeerSummary::not_required(), peer);
        assert_eq!(h.get(STATUS).unwrap(), "not-required");
        assert_eq!(h.get(ADDRESS).unwrap(), "127.0.0.1:5");
        assert!(h.get(MEASUREMENT).is_none());
        assert!(h.get("atls-peer-something-new").is_none());
        assert!(h.get("x-private").is_none() && h.get("connection").is_none());
        assert_eq!(h.get("accept").unwrap(), "*/*");
        assert_eq!(h.len(), 3);
    }
}
