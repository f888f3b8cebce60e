//! The lab's fast CI subset: D1 and R3 against the default mode without
//! and with I2, D1 against mode `early` without identity, and R3 (the
//! CVE-2026-33697 relay) against the Contrast-like profile
//! `b6-spki-nonce-alpn`. Each assertion names both the outcome and the
//! check (or, for a success, the route) behind it.

use attested_tls_lab::{run_lab, AttackId, LabOptions, LabReport, Outcome};

fn subset() -> LabReport {
    run_lab(&LabOptions {
        only: vec!["D1".into(), "R3".into()],
        modes: vec![
            "expat".into(),
            "expat+I2".into(),
            "early".into(),
            "b6-spki-nonce-alpn".into(),
        ],
        progress: false,
    })
    .expect("the lab runs")
}

fn refused_by(report: &LabReport, mode: &str, attack: AttackId) -> String {
    match &report.get(mode, attack).expect("the row exists").outcome {
        Outcome::Refused { check, .. } => check.clone(),
        other => panic!("{mode} / {}: expected a refusal, got {other:?}", attack.id()),
    }
}

fn assert_diverted(report: &LabReport, mode: &str) {
    match &report.get(mode, AttackId::D1).expect("the row exists").outcome {
        Outcome::Succeeded { how } => assert!(how.contains("T2"), "{how}"),
        other => panic!("{mode} / D1: expected the diversion to succeed, got {other:?}"),
    }
}

/// One run for all assertions (each attack runs real TLS servers).
#[test]
fn d1_and_r3_against_the_default_mode_with_and_without_i2_and_early_without_identity() {
    let report = subset();
    // Guards the oracle's success path: without a platform-identity
    // allow-list, a genuine T2 with the same measurement is accepted and
    // C's data reaches T2 (a weak setup, by design).
    assert_diverted(&report, "expat");
    assert_diverted(&report, "early");
    // Guards I2: the same diversion is refused by the sim verifier's
    // instance_id check, and by nothing else.
    assert_eq!(
        refused_by(&report, "expat+I2", AttackId::D1),
        "EAR finding sim.instance_id"
    );
    // Guards the binder: T1's genuine Evidence with T1's leaked keys on
    // another connection is refused by the binder inside the signed
    // Evidence (the EAT eat_nonce), and only by it (the key in the
    // Evidence matches the leaked key).
    assert_eq!(refused_by(&report, "expat", AttackId::R3), "EAR finding sim.eat_nonce");
    assert_eq!(
        refused_by(&report, "expat+I2", AttackId::R3),
        "EAR finding sim.eat_nonce"
    );
    // Guards the profiles' measurement (a weak design, attacked with its
    // real code): with the key T1 used on A's own connection (leaked), A
    // relays C's ALPN nonce to T1 and presents T1's Evidence in its own
    // handshake with C; SHA-512(SPKI || nonce) holds, C accepts, A reads.
    let row = report.get("b6-spki-nonce-alpn", AttackId::R3).expect("the row exists");
    match &row.outcome {
        Outcome::Succeeded { how } => assert!(how.contains("A read C's application data"), "{how}"),
        other => panic!("b6-spki-nonce-alpn / R3: expected the relay to succeed, got {other:?}"),
    }
    let route: Vec<&str> = row.trace.iter().map(|s| s.label.as_str()).collect();
    assert!(
        route.iter().any(|l| l.contains("C's nonce copied into its alpn")),
        "{route:?}"
    );
    assert!(route.iter().any(|l| l.contains("(leaked)")), "{route:?}");
    assert!(!row.gating, "a profile never fails the lab");
    // The exit rule: expat+I2 is the default mode with its default
    // policy; nothing succeeded there.
    assert!(report.gating_failures().is_empty(), "{}", report.to_table());
    // The renderings carry the verdicts.
    assert!(report.to_table().contains("refused by EAR finding sim.instance_id"));
    let html = report.to_html();
    assert!(html.contains("<svg") && html.contains("SUCCEEDED"));
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), 8);
}

/// Filters that name nothing are refused, naming what exists.
#[test]
fn unknown_filters_are_refused() {
    let e = run_lab(&LabOptions {
        only: vec!["R9".into()],
        ..LabOptions::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("names no attack") && e.to_string().contains("PH-leaf-key"),
        "{e}"
    );
    let e = run_lab(&LabOptions {
        modes: vec!["b9".into()],
        ..LabOptions::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().contains("names no mode") && e.to_string().contains("early+I1+I2"),
        "{e}"
    );
}

/// The downgrade and post-handshake rows built last, one real run each
/// (well under a second): each asserts the check that refused it.
#[test]
fn downgrades_replayed_authenticators_and_tickets_are_refused_by_the_named_check() {
    let report = run_lab(&LabOptions {
        only: vec![
            "R5-group".into(),
            "R5-keyshare".into(),
            "PH-replay-auth".into(),
            "PH-tickets".into(),
            "R5-sha1".into(),
            "R5-sha1-req".into(),
        ],
        modes: vec!["expat".into(), "early".into()],
        progress: false,
    })
    .expect("the lab runs");
    // Guards the victim's TLS stack against a HelloRetryRequest naming a
    // group it never offered (RFC 8446 4.1.4) and an all-zero X25519
    // share (a low-order point), in the default mode (rustls) ...
    assert_eq!(
        refused_by(&report, "expat", AttackId::R5Group),
        "rustls: peer misbehaved: IllegalHelloRetryRequestWithUnofferedNamedGroup"
    );
    assert_eq!(
        refused_by(&report, "expat", AttackId::R5KeyShare),
        "rustls: peer misbehaved: InvalidKeyShare"
    );
    // ... and in mode early (OpenSSL).
    assert!(refused_by(&report, "early", AttackId::R5Group).contains("bad key share"));
    assert!(refused_by(&report, "early", AttackId::R5KeyShare).contains("bad key share"));
    // Guards the authenticator's context check: T1's authenticator from
    // A's own connection, replayed on C's, answers another request.
    assert_eq!(
        refused_by(&report, "expat", AttackId::PhReplayedAuthenticator),
        "SessionError::Authenticator(EaError::ContextMismatch)"
    );
    // Guards mode early's set_num_tickets(0): T1 sends nothing after C's
    // Finished (observed on the wire).
    assert!(refused_by(&report, "early", AttackId::PhTickets).starts_with("no ticket issued"));
    // Guards the default mode's Resumption::disabled: C's ClientHello
    // offers neither pre_shared_key nor early_data (observed by A).
    assert!(refused_by(&report, "expat", AttackId::PhTickets).starts_with("no PSK offered"));
    // Guards the authenticator's scheme check (ea::validate): A's
    // authenticator signed with ecdsa_sha1 (a signature that verifies
    // under SHA-1) answers a request that offered no SHA-1 scheme, and is
    // refused by that check, before any Evidence is appraised.
    assert_eq!(
        refused_by(&report, "expat", AttackId::R5Sha1),
        "SessionError::Authenticator(EaError::SchemeNotOffered)"
    );
    // Guards the attester's request check: a request offering only
    // rsa_pkcs1_sha1 / ecdsa_sha1 gets ERROR 4 (unsupported), no
    // authenticator.
    let req = refused_by(&report, "expat", AttackId::R5Sha1Request);
    assert!(
        req.starts_with("SessionError::Request(EaError::NoCommonScheme), ERROR 4 to A:"),
        "{req}"
    );
}
