//! A `transport::Session` (TLS client role, requiring the peer to attest
//! with an appraiser from `sim::ephemeral_world(1)`) fed the frames decoded
//! from fuzzed bytes, over a fixed `SecretExporter`.
//!
//! Input: `options || frame stream`. Option bits: 0x01 prepends a valid
//! peer HELLO (so the fuzzer reaches the post-HELLO states at once), 0x02
//! also gives the session a simulated attester and identity (it then answers
//! AUTH_REQUESTs with real authenticators), 0x0c are the HELLO's flags,
//! 0x10 defers attestation (the harness supplies the Evidence when the
//! session asks, as the tokio adapter does for attesters that may block),
//! 0x20 makes the harness a lazy transport that takes the outgoing bytes
//! only when the session fails and at the end (so an AUTHENTICATOR of ours
//! stays untaken while more frames arrive: an OUTCOME then must fail the
//! session, the one-attester-call rule of docs/transport.md).
//!
//! Never panics; every error yields its ERROR frame (if any) and leaves the
//! session failed; everything the session sends decodes as frames; and the
//! session never becomes ready nor reports the peer attested, since no
//! fuzzed authenticator can answer its random context with Evidence signed
//! by the world's instance key.
#![no_main]

use std::sync::{Arc, LazyLock};

use attested_tls::crypto::HashAlgorithm;
use attested_tls::ea::{AuthenticatorIdentity, EaProfile, Role};
use attested_tls::exporter::SecretExporter;
use attested_tls::sim::{ephemeral_world, SimAttester};
use attested_tls::transport::frame::{Hello, DEFAULT_MAX_FRAME, FLAG_CAN_ATTEST, VERSION};
use attested_tls::transport::{Event, Frame, FrameDecoder, Session, SessionConfig};
use libfuzzer_sys::fuzz_target;

struct Fixed {
    exporter: SecretExporter,
    attester: Arc<SimAttester>,
    verify_only: SessionConfig,
    attesting: SessionConfig,
}

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let world = ephemeral_world(1).expect("simulation world");
    let mut verify_only = SessionConfig::new(Role::Client);
    verify_only.appraiser = Some(world.appraiser("fuzz"));
    // A fixed clock: results do not depend on when the fuzzer runs.
    let now = world.instances[0].not_before() + time::Duration::hours(1);
    verify_only.clock = Arc::new(move || now);
    let mut attesting = verify_only.clone();
    let attester = Arc::new(SimAttester::new(world.instances[0].clone()));
    attesting.attester = Some(attester.clone());
    attesting.identity = Some(AuthenticatorIdentity::generate_self_signed("fuzz.client").expect("identity"));
    Fixed {
        exporter: SecretExporter::new(HashAlgorithm::Sha256, vec![0x42; 32]),
        attester,
        verify_only,
        attesting,
    }
});

fn check_outgoing(s: &mut Session) {
    let out = s.take_outgoing();
    let mut d = FrameDecoder::new(usize::MAX);
    d.push(&out);
    while let Some(f) = d.next_frame().expect("the session sends well-formed frames") {
        drop(f);
    }
    assert!(d.is_empty(), "the session sent a partial frame");
}

fn check_events(s: &mut Session, lazy: bool) {
    let f = &*FIXED;
    while let Some(e) = s.poll_event() {
        match e {
            Event::Ready | Event::PeerAttested { .. } | Event::Data(_) => {
                panic!("fuzzed frames made the session attested: {e:?}")
            }
            Event::EvidenceRequested { request_id, binding } => {
                use attested_tls::attester::Attester;
                assert_eq!(s.evidence_requested(), Some(request_id));
                let r = s.provide_evidence(request_id, f.attester.attest(&binding), &f.exporter);
                assert_eq!(r.is_err(), s.has_failed());
                if !lazy || s.has_failed() {
                    check_outgoing(s);
                }
            }
            Event::AttestationAccepted { .. } => {}
            Event::AppraisalRequested { .. } => {
                panic!("a session whose appraiser is local asked for a remote appraisal: {e:?}")
            }
        }
    }
    assert!(!s.is_ready());
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, stream)) = data.split_first() else {
        return;
    };
    let f = &*FIXED;
    let mut cfg = if options & 0x02 != 0 {
        f.attesting.clone()
    } else {
        f.verify_only.clone()
    };
    cfg.defer_attestation = options & 0x10 != 0;
    let lazy = options & 0x20 != 0;
    let mut s = Session::new(cfg);
    check_outgoing(&mut s);

    let mut frames = Vec::new();
    if options & 0x01 != 0 {
        frames.push(Frame::Hello(Hello {
            version: VERSION,
            flags: ((options >> 2) & 0x03) | FLAG_CAN_ATTEST,
            max_frame: DEFAULT_MAX_FRAME as u32,
            cmw_ext_type: EaProfile::default().cmw_ext_type,
            exporter_label: EaProfile::default().exporter_label,
        }));
    }
    let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME);
    d.push(stream);
    while let Ok(Some(frame)) = d.next_frame() {
        frames.push(frame);
    }

    for frame in frames {
        let outcome_while_untaken = s.has_untaken_answer() && matches!(frame, Frame::Outcome { .. });
        match s.handle_frame(frame.clone(), &f.exporter) {
            Ok(()) => {
                assert!(!s.has_failed());
                assert!(
                    !outcome_while_untaken,
                    "an OUTCOME was accepted before our AUTHENTICATOR was taken"
                );
                if !lazy {
                    check_outgoing(&mut s);
                }
                check_events(&mut s, lazy);
            }
            Err(e) => {
                assert!(s.has_failed());
                assert!(!s.is_ready());
                if let Some(ef) = e.error_frame() {
                    let _ = ef.encode();
                }
                check_outgoing(&mut s);
                check_events(&mut s, lazy);
                // A failed session refuses everything afterwards.
                assert!(s.handle_frame(frame, &f.exporter).is_err());
                assert!(s.send_data(b"x").is_err());
                break;
            }
        }
    }
    check_outgoing(&mut s);
    assert!(!s.has_untaken_answer(), "take_outgoing leaves an answer untaken");
    assert!(s.send_data(b"x").is_err());
});
