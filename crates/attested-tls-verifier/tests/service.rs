//! The verification service over real HTTP on loopback: sessions, Evidence
//! in, signed EAR out, and every refusal with its problem code.

mod common;

use attested_tls::ear::Tier;
use attested_tls::remote::{RemoteVerifierError, CMW_CBOR_MEDIA_TYPE};
use attested_tls_verifier::api::{Problem, SessionResource, SessionStatus, API_PREFIX, PROBLEM_MEDIA_TYPE};
use attested_tls_verifier::HttpVerifierClient;
use common::*;
use hyper::{Method, StatusCode};

fn problem(r: &attested_tls_verifier::client::RawResponse) -> Problem {
    assert_eq!(r.content_type.as_deref(), Some(PROBLEM_MEDIA_TYPE));
    serde_json::from_slice(&r.body).unwrap()
}

/// Good sim Evidence gets a complete session whose result is an affirming
/// EAR, signed with the service key, with `eat_nonce` the session nonce
/// and `exp = iat + result_ttl`; the relying party's checks accept it.
#[tokio::test]
async fn good_evidence_gets_an_affirming_ear_bound_to_the_nonce() {
    let v = Verifier::start(|_| {}).await;
    let (evidence, expected) = v.evidence();
    let nonce = expected.report_data();
    let token = HttpVerifierClient::new()
        .appraise_at(&v.url, CMW_CBOR_MEDIA_TYPE, evidence, &nonce)
        .await
        .unwrap();
    let ear = v.remote().check_result(&token, &expected, now()).unwrap();
    assert!(ear.is_affirming(), "{}", ear.render());
    assert_eq!(ear.eat_nonce.as_ref().unwrap().as_bytes(), &nonce[..]);
    let claims = jwt_claims(&token);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60);
    assert_eq!(claims["ear_verifier_id"]["developer"], "test-verifier");
    // The client deleted its session.
    assert_eq!(v.service.session_count(), 0);
}

/// Evidence bound to something else still gets a signed EAR (as Veraison
/// answers), contraindicated, naming the binding check that failed.
#[tokio::test]
async fn evidence_for_another_nonce_gets_a_contraindicated_ear() {
    let v = Verifier::start(|_| {}).await;
    let (evidence, _) = v.evidence();
    let (_, other) = v.evidence();
    let token = HttpVerifierClient::new()
        .appraise_at(&v.url, CMW_CBOR_MEDIA_TYPE, evidence, &other.report_data())
        .await
        .unwrap();
    let ear = v.remote().check_result(&token, &other, now()).unwrap();
    assert_eq!(ear.status, Tier::Contraindicated);
    assert!(
        ear.refusal_summary().contains("report_data"),
        "{}",
        ear.refusal_summary()
    );
}

/// Guards the session resource shape: 201 + Location + `waiting`, then
/// `complete` with the Evidence echoed; GET shows the result but not the
/// Evidence (guards the memory bound: a live session keeps its result, not
/// up to 1 MiB of Evidence, so `max_sessions` sessions cannot hold
/// `max_sessions` MiB); a second
/// submission is 409; DELETE is 204, then the session is unknown (404).
#[tokio::test]
async fn session_lifecycle_follows_the_challenge_response_shape() {
    let v = Verifier::start(|_| {}).await;
    let c = HttpVerifierClient::new();
    let (evidence, expected) = v.evidence();
    let created = c
        .request(
            &v.url,
            Method::POST,
            &format!("{API_PREFIX}/newSession?nonce={}", b64(&expected.report_data())),
            None,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(
        created.content_type.as_deref(),
        Some("application/vnd.veraison.challenge-response-session+json")
    );
    let loc = created.location.clone().unwrap();
    assert!(loc.starts_with(&format!("{API_PREFIX}/session/")), "{loc}");
    let s: SessionResource = serde_json::from_slice(&created.body).unwrap();
    assert_eq!(s.status, SessionStatus::Waiting);
    assert_eq!(s.nonce, b64(&expected.report_data()));
    assert_eq!(s.accept, vec!["application/cmw+cbor", "application/cmw+json"]);
    assert!(s.result.is_none() && s.evidence.is_none());
    time::OffsetDateTime::parse(&s.expiry, &time::format_description::well_known::Rfc3339).unwrap();

    let done = c
        .request(&v.url, Method::POST, &loc, Some(CMW_CBOR_MEDIA_TYPE), evidence.clone())
        .await
        .unwrap();
    assert_eq!(done.status, StatusCode::OK);
    let s: SessionResource = serde_json::from_slice(&done.body).unwrap();
    assert_eq!(s.status, SessionStatus::Complete);
    assert_eq!(s.evidence.as_ref().unwrap().media_type, CMW_CBOR_MEDIA_TYPE);
    assert!(s.result.is_some());

    let got = c.request(&v.url, Method::GET, &loc, None, vec![]).await.unwrap();
    let kept = SessionResource { evidence: None, ..s };
    assert_eq!(serde_json::from_slice::<SessionResource>(&got.body).unwrap(), kept);

    let again = c
        .request(&v.url, Method::POST, &loc, Some(CMW_CBOR_MEDIA_TYPE), evidence)
        .await
        .unwrap();
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(problem(&again).code, "evidence-already-submitted");

    let deleted = c.request(&v.url, Method::DELETE, &loc, None, vec![]).await.unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = c.request(&v.url, Method::GET, &loc, None, vec![]).await.unwrap();
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(problem(&gone).code, "unknown-session");
}

/// Each refusal is an RFC 9457 problem with its own code: unknown
/// session, expired session, unknown media type, oversize body (declared
/// and checked before reading), bad nonce, too many sessions.
#[tokio::test]
async fn refusals_are_problem_responses_with_specific_codes() {
    let v = Verifier::start(|cfg| {
        cfg.max_evidence_len = 1000;
        cfg.max_sessions = 2;
    })
    .await;
    let c = HttpVerifierClient::new();
    let new_session = || async {
        let r = c
            .request(
                &v.url,
                Method::POST,
                &format!("{API_PREFIX}/newSession?nonceSize=64"),
                None,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.location.unwrap()
    };

    let r = c
        .request(&v.url, Method::GET, &format!("{API_PREFIX}/session/0123"), None, vec![])
        .await
        .unwrap();
    assert_eq!(
        (r.status, problem(&r).code.as_str()),
        (StatusCode::NOT_FOUND, "unknown-session")
    );
    let p = problem(&r);
    assert_eq!(
        (p.problem_type.as_str(), p.title.as_str(), p.status),
        ("about:blank", "Not Found", 404)
    );

    let loc = new_session().await;
    let r = c
        .request(&v.url, Method::POST, &loc, Some("application/x-unknown"), vec![1, 2, 3])
        .await
        .unwrap();
    assert_eq!(
        (r.status, problem(&r).code.as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
    );

    let r = c
        .request(&v.url, Method::POST, &loc, Some(CMW_CBOR_MEDIA_TYPE), vec![0; 1001])
        .await
        .unwrap();
    assert_eq!(
        (r.status, problem(&r).code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "evidence-too-large")
    );
    // The session is still usable after a refused submission.
    let r = c.request(&v.url, Method::GET, &loc, None, vec![]).await.unwrap();
    assert_eq!(r.status, StatusCode::OK);

    let r = c
        .request(
            &v.url,
            Method::POST,
            &format!("{API_PREFIX}/newSession?nonceSize=32"),
            None,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, problem(&r).code.as_str()),
        (StatusCode::BAD_REQUEST, "bad-nonce")
    );

    let _second = new_session().await;
    let r = c
        .request(
            &v.url,
            Method::POST,
            &format!("{API_PREFIX}/newSession?nonceSize=64"),
            None,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, problem(&r).code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "too-many-sessions")
    );

    // Past the session TTL: expired (and forgotten), and new sessions fit again.
    v.advance(61);
    let r = c.request(&v.url, Method::GET, &loc, None, vec![]).await.unwrap();
    assert_eq!(
        (r.status, problem(&r).code.as_str()),
        (StatusCode::NOT_FOUND, "session-expired")
    );
    new_session().await;
}

/// The client names what went wrong: a refused connection, an HTTP error
/// with the verifier's problem detail.
#[tokio::test]
async fn client_errors_name_the_verifier_and_the_problem() {
    let closed = closed_port_url().await;
    let e = HttpVerifierClient::new()
        .appraise_at(&closed, CMW_CBOR_MEDIA_TYPE, vec![1], &[0; 64])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RemoteVerifierError::Unreachable { url, .. } if url == &closed),
        "{e}"
    );

    let v = Verifier::start(|_| {}).await;
    let e = HttpVerifierClient::new()
        .appraise_at(&v.url, "application/x-unknown", vec![1], &[0; 64])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, RemoteVerifierError::Http { status: 415, detail, .. } if detail.contains("unsupported-media-type")),
        "{e}"
    );
}

/// Guards the size check before reading: a request that declares more
/// than the limit is answered 413 at once, with the body never sent (were
/// the body read first, this request would wait for it and end in 408
/// `request-timeout` instead).
#[tokio::test]
async fn an_oversize_declared_body_is_refused_before_it_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let v = Verifier::start(|cfg| cfg.max_evidence_len = 1000).await;
    let c = HttpVerifierClient::new();
    let created = c
        .request(
            &v.url,
            Method::POST,
            &format!("{API_PREFIX}/newSession?nonceSize=64"),
            None,
            vec![],
        )
        .await
        .unwrap();
    let loc = created.location.unwrap();
    let addr = v
        .url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(
        format!(
            "POST {loc} HTTP/1.1\r\nHost: v\r\nContent-Type: {CMW_CBOR_MEDIA_TYPE}\r\nContent-Length: 1000001\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut head = vec![0u8; 4096];
    let n = tcp.read(&mut head).await.unwrap();
    let text = String::from_utf8_lossy(&head[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("evidence-too-large"), "{text}");
}
