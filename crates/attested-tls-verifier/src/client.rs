//! The client of the challenge-response API: what a relying party (the
//! background-check model) and an attester (the passport model) use to
//! have Evidence appraised by a remote verifier.
//!
//! One exchange is `POST {url}/newSession?nonce=..` (201 and a
//! `Location`), `POST` of the Evidence to the session with its media type
//! (a `complete` session whose `result` is the signed EAR), then
//! `DELETE` of the session (best effort). Only `http://` URLs: run the
//! verifier on loopback or a private network, or behind a TLS-terminating
//! proxy on the same host. The result is signed and bound to the nonce, so
//! the channel needs no integrity of its own; the Evidence is sent in the
//! clear. Every response body is read with a bound.

use std::future::Future;
use std::pin::Pin;

use attested_tls::remote::{RemoteVerifierClient, RemoteVerifierError};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{ACCEPT, CONTENT_TYPE, HOST, LOCATION};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

use crate::api::{Problem, SessionResource, SessionStatus, SESSION_MEDIA_TYPE};

/// Largest response body read: a signed EAR ([`attested_tls::ear_jwt::MAX_JWT_LEN`])
/// plus the rest of the session resource and the Evidence echoed in it.
pub const MAX_RESPONSE_LEN: usize = 4 * attested_tls::ear_jwt::MAX_JWT_LEN;

/// Longest problem `detail` (or body excerpt) an [`RemoteVerifierError::Http`]
/// quotes, in bytes; longer ones are cut and end in `...`.
pub const MAX_DETAIL_LEN: usize = 256;

/// An `http://` URL split for the client.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BaseUrl {
    /// What the URL was (for messages).
    text: String,
    /// `host:port` to connect to (port 80 if none).
    authority: String,
    /// The `Host` header.
    host_header: String,
    /// The path, without a trailing `/`.
    path: String,
}

impl BaseUrl {
    fn parse(url: &str) -> Result<Self, RemoteVerifierError> {
        let bad = |reason: &str| RemoteVerifierError::Url {
            url: attested_tls::ear::escape_control(url).into_owned(),
            reason: reason.into(),
        };
        let rest = if url.starts_with("https://") {
            return Err(bad(
                "https is not supported by this client; use http:// on loopback or a private network \
                 (the EAR is signed and bound to the nonce), or a TLS-terminating proxy",
            ));
        } else {
            url.strip_prefix("http://").ok_or_else(|| bad("not an http:// URL"))?
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') || path.contains(['?', '#']) {
            return Err(bad("expected http://HOST[:PORT]/PATH, without user, query or fragment"));
        }
        if !authority.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("the host has spaces or control characters"));
        }
        // `[v6]:port`, `[v6]`, `host:port`, `host`.
        let has_port = match authority.rfind(':') {
            Some(i) => !authority[i..].contains(']'),
            None => false,
        };
        let connect = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Self {
            text: url.to_string(),
            authority: connect,
            host_header: authority.to_string(),
            path: path.trim_end_matches('/').to_string(),
        })
    }

    /// The path of a `Location`: an absolute path, a path relative to the
    /// API base, or an `http://` URL on this same host. Anything else is
    /// refused: the client never follows a verifier to another host.
    fn resolve(&self, location: &str) -> Result<String, String> {
        if let Some(rest) = location.strip_prefix("http://") {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            if authority != self.host_header {
                return Err(format!("Location {location:?} is on another host"));
            }
            if path.is_empty() {
                return Err(format!("Location {location:?} names no session"));
            }
            return Ok(path.to_string());
        }
        if location.starts_with('/') {
            return Ok(location.to_string());
        }
        if location.contains("://") || location.is_empty() {
            return Err(format!("Location {location:?} is not a path on this verifier"));
        }
        Ok(format!("{}/{location}", self.path))
    }
}

/// The HTTP client of one verifier (or of any, through
/// [`RemoteVerifierClient`]).
#[derive(Clone, Debug, Default)]
pub struct HttpVerifierClient;

/// A response: status, `Content-Type`, body.
#[derive(Debug)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The `Location`, if any.
    pub location: Option<String>,
    /// The body (at most [`MAX_RESPONSE_LEN`] bytes).
    pub body: Bytes,
}

impl HttpVerifierClient {
    /// A client.
    pub fn new() -> Self {
        Self
    }

    /// One request to `path` on the verifier of `url`, over a new
    /// connection. Public so that tests and tools can speak the API
    /// directly.
    pub async fn request(
        &self,
        url: &str,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<RawResponse, RemoteVerifierError> {
        let base = BaseUrl::parse(url)?;
        send(&base, method, path, content_type, body).await
    }

    /// The whole exchange: a session with `nonce`, the Evidence posted
    /// with `media_type`, the signed EAR returned unchecked (the caller
    /// checks it: `attested_tls::remote::RemoteVerifier::check_result`),
    /// the session deleted.
    pub async fn appraise_at(
        &self,
        url: &str,
        media_type: &str,
        evidence: Vec<u8>,
        nonce: &[u8; 64],
    ) -> Result<String, RemoteVerifierError> {
        let base = BaseUrl::parse(url)?;
        let nonce_text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(nonce);
        let created = send(
            &base,
            Method::POST,
            &format!("{}/newSession?nonce={nonce_text}", base.path),
            None,
            Vec::new(),
        )
        .await?;
        let session_path = read_new_session(&base, &created, nonce)?;
        let submitted = send(&base, Method::POST, &session_path, Some(media_type), evidence).await;
        // Best effort, whatever came back: the session is not needed any more.
        let _ = send(&base, Method::DELETE, &session_path, None, Vec::new()).await;
        read_result(&base, &submitted?)
    }
}

/// Reads the verifier's answer to `newSession?nonce=..` for `nonce`: the
/// path of the session to post the Evidence to. Refused unless it is `201`
/// with a session resource for this very nonce and a `Location` on this
/// verifier. Pure (no I/O): what the client makes of bytes from the
/// network, which the `remote_verifier_response` fuzz target drives.
pub fn read_new_session_response(
    url: &str,
    response: &RawResponse,
    nonce: &[u8; 64],
) -> Result<String, RemoteVerifierError> {
    read_new_session(&BaseUrl::parse(url)?, response, nonce)
}

/// Reads the verifier's answer to the Evidence submission: the signed EAR
/// (unchecked: see [`HttpVerifierClient::appraise_at`]) of a `200`,
/// `complete` session resource. Pure, as [`read_new_session_response`].
pub fn read_result_response(url: &str, response: &RawResponse) -> Result<String, RemoteVerifierError> {
    read_result(&BaseUrl::parse(url)?, response)
}

fn read_new_session(base: &BaseUrl, created: &RawResponse, nonce: &[u8; 64]) -> Result<String, RemoteVerifierError> {
    let protocol = |reason: String| RemoteVerifierError::Protocol {
        url: base.text.clone(),
        reason,
    };
    expect_status(base, created, StatusCode::CREATED)?;
    let session = read_session(base, created)?;
    let nonce_text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(nonce);
    if session.nonce.trim_end_matches('=') != nonce_text {
        return Err(protocol("the new session's nonce is not the one asked for".into()));
    }
    let location = created
        .location
        .as_deref()
        .ok_or_else(|| protocol("201 without a Location".into()))?;
    base.resolve(location).map_err(protocol)
}

fn read_result(base: &BaseUrl, submitted: &RawResponse) -> Result<String, RemoteVerifierError> {
    expect_status(base, submitted, StatusCode::OK)?;
    let session = read_session(base, submitted)?;
    match (session.status, session.result) {
        (SessionStatus::Complete, Some(token)) => Ok(token),
        (status, _) => Err(RemoteVerifierError::Protocol {
            url: base.text.clone(),
            reason: format!(
                "the session is {status:?} without a result after the Evidence was submitted \
                 (asynchronous appraisal is not supported by this client)"
            ),
        }),
    }
}

impl RemoteVerifierClient for HttpVerifierClient {
    fn appraise(
        &self,
        url: &str,
        media_type: &'static str,
        evidence: Vec<u8>,
        nonce: [u8; 64],
    ) -> Pin<Box<dyn Future<Output = Result<String, RemoteVerifierError>> + Send + 'static>> {
        let (client, url) = (self.clone(), url.to_string());
        Box::pin(async move { client.appraise_at(&url, media_type, evidence, &nonce).await })
    }
}

fn expect_status(base: &BaseUrl, r: &RawResponse, want: StatusCode) -> Result<(), RemoteVerifierError> {
    if r.status == want {
        return Ok(());
    }
    let detail = match serde_json::from_slice::<Problem>(&r.body) {
        Ok(p) => format!("{} ({})", p.detail, p.code),
        Err(_) => String::from_utf8_lossy(&r.body[..r.body.len().min(MAX_DETAIL_LEN + 1)]).into_owned(),
    };
    // Cut: the body is the verifier's (or, over http://, anyone's on the
    // path) and the error travels on, into logs and the OUTCOME's reason.
    let mut detail = attested_tls::ear::escape_control(&detail).into_owned();
    if detail.len() > MAX_DETAIL_LEN {
        let mut end = MAX_DETAIL_LEN;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
        detail.push_str("...");
    }
    Err(RemoteVerifierError::Http {
        url: base.text.clone(),
        status: r.status.as_u16(),
        detail,
    })
}

fn read_session(base: &BaseUrl, r: &RawResponse) -> Result<SessionResource, RemoteVerifierError> {
    serde_json::from_slice(&r.body).map_err(|e| RemoteVerifierError::Protocol {
        url: base.text.clone(),
        reason: format!("the answer is not a session resource: {e}"),
    })
}

async fn send(
    base: &BaseUrl,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Result<RawResponse, RemoteVerifierError> {
    let unreachable = |reason: String| RemoteVerifierError::Unreachable {
        url: base.text.clone(),
        reason,
    };
    let tcp = tokio::net::TcpStream::connect(&base.authority)
        .await
        .map_err(|e| unreachable(format!("cannot connect to {}: {e}", base.authority)))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, &base.host_header)
        .header(ACCEPT, SESSION_MEDIA_TYPE);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| RemoteVerifierError::Url {
            url: base.text.clone(),
            reason: format!("cannot make a request for {path:?}: {e}"),
        })?;
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(format!("the request failed: {e}")))?;
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let (status, content_type, location) = (resp.status(), header(CONTENT_TYPE), header(LOCATION));
        let body = Limited::new(resp.into_body(), MAX_RESPONSE_LEN)
            .collect()
            .await
            .map_err(|e| RemoteVerifierError::Protocol {
                url: base.text.clone(),
                reason: format!("the response body could not be read (at most {MAX_RESPONSE_LEN} bytes): {e}"),
            })?
            .to_bytes();
        Ok(RawResponse {
            status,
            content_type,
            location,
            body,
        })
    }
    .await;
    conn.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_locations() {
        let b = BaseUrl::parse("http://127.0.0.1:8443/challenge-response/v1/").unwrap();
        assert_eq!(b.authority, "127.0.0.1:8443");
        assert_eq!(b.path, "/challenge-response/v1");
        assert_eq!(BaseUrl::parse("http://verifier/x").unwrap().authority, "verifier:80");
        assert_eq!(BaseUrl::parse("http://[::1]:9/x").unwrap().authority, "[::1]:9");
        assert_eq!(BaseUrl::parse("http://[::1]/x").unwrap().authority, "[::1]:80");
        for bad in ["https://v/x", "ftp://v", "http://", "http://u@v/", "http://v/x?y"] {
            assert!(
                matches!(BaseUrl::parse(bad), Err(RemoteVerifierError::Url { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            b.resolve("/challenge-response/v1/session/1").unwrap(),
            "/challenge-response/v1/session/1"
        );
        assert_eq!(b.resolve("session/1").unwrap(), "/challenge-response/v1/session/1");
        assert_eq!(b.resolve("http://127.0.0.1:8443/s/1").unwrap(), "/s/1");
        // Guards: a verifier cannot send the Evidence elsewhere.
        assert!(b.resolve("http://evil.example/s/1").is_err());
        assert!(b.resolve("https://127.0.0.1:8443/s/1").is_err());
        assert!(b.resolve("http://127.0.0.1:8443").is_err());
    }

    /// Guards the cut of an HTTP error's detail: the body comes from the
    /// verifier (or, over http://, from anyone on the path) and the error
    /// travels on into logs and the OUTCOME's reason, so a 100 kB problem
    /// `detail` (or body) is quoted up to MAX_DETAIL_LEN bytes, then `...`.
    #[test]
    fn a_long_problem_detail_is_cut() {
        let url = "http://127.0.0.1:8443/challenge-response/v1";
        let problem = Problem {
            problem_type: "about:blank".into(),
            title: "Bad Request".into(),
            status: 400,
            detail: "é".repeat(50_000),
            code: "bad-nonce".into(),
        };
        for body in [serde_json::to_vec(&problem).unwrap(), vec![b'x'; 100_000]] {
            let r = RawResponse {
                status: StatusCode::BAD_REQUEST,
                content_type: None,
                location: None,
                body: body.into(),
            };
            match read_result_response(url, &r) {
                Err(RemoteVerifierError::Http {
                    status: 400, detail, ..
                }) => {
                    assert!(detail.len() <= MAX_DETAIL_LEN + 3, "{} bytes", detail.len());
                    assert!(detail.ends_with("..."), "{detail}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
