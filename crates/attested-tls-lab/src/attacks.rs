//! The attack catalogue, and the attacks built the same way on every mode.

use std::time::Duration;

use serde::Serialize;

use crate::attacker;
use crate::modes::{Applicability, LabMode};
use crate::report::{Outcome, Party, Step};
use crate::testbed::{seen_if_accepted, Tee, Testbed, SECRET};

/// The attacker's capabilities (`binding-mechanisms.md`), each off unless
/// an attack switches it on. The genuine attesters hand out their keys and
/// Evidence only through [`crate::testbed::Genuine`] accessors that take
/// the attack's capabilities and refuse when the switch is off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// Dolev-Yao network attacker with its own TLS clients and servers.
    pub net: bool,
    /// Reads the Evidence a genuine attester produces for other parties.
    pub observe_evidence: bool,
    /// Holds the genuine attester's TLS private key (and, in the default
    /// mode, its authenticator key: the key the Evidence binds).
    pub leak_tls_key: bool,
    /// Holds the service's long-term identity key / WebPKI certificate.
    pub leak_ltk: bool,
}

impl Capabilities {
    const NET: Self = Self {
        net: true,
        observe_evidence: false,
        leak_tls_key: false,
        leak_ltk: false,
    };
}

impl std::fmt::Display for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.net {
            parts.push("net");
        }
        if self.observe_evidence {
            parts.push("observe-evidence");
        }
        if self.leak_tls_key {
            parts.push("leak-tls-key");
        }
        if self.leak_ltk {
            parts.push("leak-ltk");
        }
        if parts.is_empty() {
            parts.push("none");
        }
        f.write_str(&parts.join("+"))
    }
}

/// One attack of the catalogue (with its capability set). Serialized as
/// its [`AttackId::id`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttackId {
    /// D1: the client's connection redirected to T2.
    D1,
    /// R1: nonce / request relay through the attacker's own connection to T1.
    R1,
    /// R2: the client's ClientHello forwarded byte for byte to T1.
    R2,
    /// R3: extracted-key relay (CVE-2026-33697).
    R3,
    /// R4: R2 with the extracted key.
    R4,
    /// RP replay: T1's static attested certificate served again with its
    /// leaked key (T1 not contacted).
    RpReplay,
    /// R5: downgrade to TLS 1.2.
    R5Tls12,
    /// R5: a HelloRetryRequest selecting a group C did not offer.
    R5Group,
    /// R5: a ServerHello with an invalid key share.
    R5KeyShare,
    /// R5: a server that signs only with SHA-1 schemes (TLS layer; in the
    /// default mode also its RFC 9261 authenticator).
    R5Sha1,
    /// R5: A, as relying party, asks an attesting victim for an
    /// authenticator offering only SHA-1 schemes (mutual attestation).
    R5Sha1Request,
    /// R5: a real server whose only group is ffdhe2048.
    R5Ffdhe,
    /// The AuthenticatorRequest forwarded to T1, with T1's TLS key and LTK.
    PhForwardLeaked,
    /// Old genuine Evidence next to a freshly computed binder.
    PhOldEvidence,
    /// An authenticator replayed on the same connection.
    PhReplayedAuthenticator,
    /// The authenticator's leaf key is not the key in the Evidence.
    PhLeafKey,
    /// Evidence computed with another exporter label.
    PhExporterLabel,
    /// Session tickets / 0-RTT.
    PhTickets,
    /// Application data before attestation completed.
    PhDataFirst,
    /// Reflection of a peer's own Evidence in a mutual mode.
    Reflection,
    /// Stale Evidence re-sent at re-attestation (early, -07 8.4).
    StaleReattestation,
}

impl AttackId {
    /// Every attack, in table order.
    pub const ALL: &'static [AttackId] = &[
        Self::D1,
        Self::R1,
        Self::R2,
        Self::R3,
        Self::R4,
        Self::RpReplay,
        Self::R5Tls12,
        Self::R5Group,
        Self::R5KeyShare,
        Self::R5Sha1,
        Self::R5Sha1Request,
        Self::R5Ffdhe,
        Self::PhForwardLeaked,
        Self::PhOldEvidence,
        Self::PhReplayedAuthenticator,
        Self::PhLeafKey,
        Self::PhExporterLabel,
        Self::PhTickets,
        Self::PhDataFirst,
        Self::Reflection,
        Self::StaleReattestation,
    ];

    /// Short id (`--only`).
    pub fn id(self) -> &'static str {
        match self {
            Self::D1 => "D1",
            Self::R1 => "R1",
            Self::R2 => "R2",
            Self::R3 => "R3",
            Self::R4 => "R4",
            Self::RpReplay => "RP-replay",
            Self::R5Tls12 => "R5-tls12",
            Self::R5Group => "R5-group",
            Self::R5KeyShare => "R5-keyshare",
            Self::R5Sha1 => "R5-sha1",
            Self::R5Sha1Request => "R5-sha1-req",
            Self::R5Ffdhe => "R5-ffdhe2048",
            Self::PhForwardLeaked => "PH-forward-leaked",
            Self::PhOldEvidence => "PH-old-evidence",
            Self::PhReplayedAuthenticator => "PH-replay-auth",
            Self::PhLeafKey => "PH-leaf-key",
            Self::PhExporterLabel => "PH-exporter-label",
            Self::PhTickets => "PH-tickets",
            Self::PhDataFirst => "PH-data-first",
            Self::Reflection => "reflection",
            Self::StaleReattestation => "stale-reattest",
        }
    }

    /// One line: what the attacker does.
    pub fn title(self) -> &'static str {
        match self {
            Self::D1 => "diversion: C's connection redirected to T2 (genuine, same measurement, other instance)",
            Self::R1 => "relay: A terminates C's TLS with its own key and relays C's attestation request to T1 over its own connection",
            Self::R2 => "ClientHello forwarding: A sends C's ClientHello byte for byte to T1, takes T1's Evidence, answers C itself",
            Self::R3 => "extracted-key relay: A obtains T1's Evidence over its own connection and presents it with T1's leaked key",
            Self::R4 => "R2 + R3: C's ClientHello forwarded to T1, T1's Evidence presented with T1's leaked key",
            Self::RpReplay => "replay: A serves T1's static attested certificate with T1's leaked key, without contacting T1",
            Self::R5Tls12 => "downgrade: A answers C with a TLS 1.2-only server",
            Self::R5Group => "downgrade: A's hand-written HelloRetryRequest selects a group C did not offer",
            Self::R5KeyShare => "downgrade: A's hand-written ServerHello carries an invalid key share (all-zero point)",
            Self::R5Sha1 => "downgrade: A's TLS 1.3 server may sign its CertificateVerify only with SHA-1 schemes (expat: A's RFC 9261 authenticator signed with ecdsa_sha1)",
            Self::R5Sha1Request => "downgrade (mutual): A, as relying party, asks the attesting victim for an authenticator offering only rsa_pkcs1_sha1 / ecdsa_sha1",
            Self::R5Ffdhe => "downgrade: A's TLS 1.3 server (own key) whose only group is ffdhe2048",
            Self::PhForwardLeaked => "R1 with T1's leaked TLS key and long-term key: A's TLS server presents T1's own certificate",
            Self::PhOldEvidence => "old genuine Evidence of T1 with a freshly computed binder record next to it, signed with T1's leaked key",
            Self::PhReplayedAuthenticator => "replayed authenticator: T1's HELLO and authenticator recorded on A's own connection, sent byte for byte on C's",
            Self::PhLeafKey => "T1's Evidence presented with A's own key (the key in the Evidence is not the leaf key)",
            Self::PhExporterLabel => "Evidence bound with another exporter label (T1 runs the -01..-03 label \"Attestation\")",
            Self::PhTickets => "session tickets / 0-RTT: does T1 issue a ticket C could resume, or accept early data A could replay?",
            Self::PhDataFirst => "A's server sends application data before any attestation",
            Self::Reflection => "reflection: a peer's own Evidence or authenticator sent back to it (mutual attestation)",
            Self::StaleReattestation => "stale Evidence re-sent at re-attestation (draft-fossati-seat-early-attestation-07 8.4)",
        }
    }

    /// The capabilities the attack is run with.
    pub fn capabilities(self) -> Capabilities {
        let net = Capabilities::NET;
        match self {
            Self::R2 => Capabilities {
                observe_evidence: true,
                ..net
            },
            Self::R3 | Self::RpReplay => Capabilities {
                leak_tls_key: true,
                ..net
            },
            Self::R4 => Capabilities {
                observe_evidence: true,
                leak_tls_key: true,
                ..net
            },
            Self::PhForwardLeaked => Capabilities {
                leak_tls_key: true,
                leak_ltk: true,
                ..net
            },
            Self::PhOldEvidence => Capabilities {
                leak_tls_key: true,
                ..net
            },
            _ => net,
        }
    }
}

impl Serialize for AttackId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// What one run of an attack did.
#[derive(Clone, Debug)]
pub struct AttackRun {
    /// The oracle's verdict.
    pub outcome: Outcome,
    /// What the attacker did, as messages between the parties.
    pub trace: Vec<Step>,
}

impl AttackRun {
    /// A run that did not happen, for `outcome`'s reason.
    pub fn skipped(outcome: Outcome) -> Self {
        Self {
            outcome,
            trace: Vec::new(),
        }
    }
}

/// The victim client's report: attested OK (then it sent [`SECRET`]), or
/// the check that refused.
#[derive(Clone, Debug)]
pub enum VictimResult {
    /// `connect` returned an attested stream and the client wrote the secret.
    Accepted,
    /// `connect` failed.
    Refused {
        /// The check that refused (EAR finding names, error variant, alert).
        check: String,
        /// The error as the client reported it.
        detail: String,
    },
}

/// The oracle: C attested OK and `reader` saw C's secret in plaintext.
pub fn verdict(victim: VictimResult, plaintext_seen: &[u8], reader: &str) -> Outcome {
    match victim {
        VictimResult::Refused { check, detail } => Outcome::Refused { check, detail },
        VictimResult::Accepted if contains(plaintext_seen, SECRET) => Outcome::Succeeded {
            how: format!("C reported attested OK and {reader} read C's application data in plaintext"),
        },
        VictimResult::Accepted => Outcome::AcceptedNotRead {
            detail: format!("C reported attested OK but {reader} did not read C's application data"),
        },
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// How long an attack may take before it is reported as timed out.
const ATTACK_DEADLINE: Duration = Duration::from_secs(30);

/// Runs `attack` against `mode` (or reports why it is not run).
pub async fn run(mode: &dyn LabMode, attack: AttackId, tb: &Testbed) -> AttackRun {
    match mode.applicable(attack) {
        Applicability::NotApplicable(reason) => return AttackRun::skipped(Outcome::NotApplicable { reason }),
        Applicability::NotBuilt(reason) => return AttackRun::skipped(Outcome::NotBuilt { reason }),
        Applicability::Applicable => {}
    }
    let caps = attack.capabilities();
    let fut = async {
        match attack {
            AttackId::D1 => d1(mode, tb, caps).await,
            AttackId::R5Tls12 => r5_tls12(mode, tb).await,
            // The default mode's SHA-1 downgrade is built at the RFC 9261
            // layer, where A signs what it likes: the mode builds it.
            AttackId::R5Sha1 if mode.family() == "expat" => mode.run(attack, caps, tb).await,
            AttackId::R5Sha1 => r5_openssl(mode, tb, R5Server::Sha1Only).await,
            AttackId::R5Ffdhe => r5_openssl(mode, tb, R5Server::Ffdhe2048Only).await,
            AttackId::PhTickets => ph_tickets(mode, tb).await,
            AttackId::R5Group => r5_hand_written(mode, tb, attacker::BadServerHello::UnofferedGroup).await,
            AttackId::R5KeyShare => r5_hand_written(mode, tb, attacker::BadServerHello::InvalidKeyShare).await,
            other => mode.run(other, caps, tb).await,
        }
    };
    match tokio::time::timeout(ATTACK_DEADLINE, fut).await {
        Ok(Ok(run)) => run,
        Ok(Err(e)) => AttackRun::skipped(Outcome::Error {
            detail: format!("the lab failed to run the attack: {e}"),
        }),
        Err(_) => AttackRun::skipped(Outcome::Error {
            detail: format!("the attack did not finish within {ATTACK_DEADLINE:?}"),
        }),
    }
}

/// D1: the attacker redirects C's TCP connection to T2; T2 is genuine and
/// answers C as it answers anyone. The diversion succeeds when C reports
/// attested OK and its secret reaches T2.
async fn d1(mode: &dyn LabMode, tb: &Testbed, caps: Capabilities) -> Result<AttackRun, String> {
    let _t1 = mode.serve_genuine(tb, Tee::T1).await?;
    let t2 = mode.serve_genuine(tb, Tee::T2).await?;
    let redirect = attacker::redirect(t2.addr, caps).await?;
    let victim = mode.victim(tb, redirect).await;
    let seen = seen_if_accepted(&victim, &t2.received).await;
    let trace = vec![
        Step::new(Party::C, Party::A, "TCP connect (meant for T1)"),
        Step::new(Party::A, Party::T2, "same TCP bytes, redirected"),
        Step::new(
            Party::T2,
            Party::C,
            "T2's handshake and Evidence (genuine, instance T2)",
        ),
        Step::note(Party::C, victim_note(&victim)),
        Step::new(Party::C, Party::T2, "application data, if C accepted"),
    ];
    Ok(AttackRun {
        outcome: verdict(victim, &seen, "T2 (the attacker's diversion target)"),
        trace,
    })
}

/// R5: A answers with a TLS 1.2-only server (its own self-signed key).
async fn r5_tls12(mode: &dyn LabMode, tb: &Testbed) -> Result<AttackRun, String> {
    let server = attacker::tls12_server().await?;
    let victim = mode.victim(tb, server.addr).await;
    let seen = seen_if_accepted(&victim, &server.received).await;
    let trace = vec![
        Step::new(Party::C, Party::A, "ClientHello"),
        Step::new(Party::A, Party::C, "ServerHello TLS 1.2 (A's TLS 1.2-only server)"),
        Step::note(Party::C, victim_note(&victim)),
    ];
    Ok(AttackRun {
        outcome: verdict(victim, &seen, "A"),
        trace,
    })
}

/// The OpenSSL servers of R5 that misbehave through configuration.
#[derive(Clone, Copy)]
enum R5Server {
    /// Signature schemes limited to `ecdsa_sha1` / `rsa_pkcs1_sha1`.
    Sha1Only,
    /// Groups limited to `ffdhe2048`.
    Ffdhe2048Only,
}

/// R5 (SHA-1, ffdhe2048): A answers with an OpenSSL TLS 1.3 server (its
/// own key) configured as `kind`. If A's own stack aborted its handshake
/// (it would not sign with SHA-1 in TLS 1.3, or found no common group),
/// the misbehaviour never reached C: the row says so ("not built", with
/// A's error), and C's error is not counted as a refusal.
async fn r5_openssl(mode: &dyn LabMode, tb: &Testbed, kind: R5Server) -> Result<AttackRun, String> {
    let (server, a_events) = match kind {
        R5Server::Sha1Only => attacker::sha1_only_server().await?,
        R5Server::Ffdhe2048Only => attacker::ffdhe2048_only_server().await?,
    };
    // C reaches A's server through A's record-watching relay, so that A
    // can say from C's own ClientHello whether C offered a SHA-1 scheme.
    let (addr, watch) = attacker::record_watching_relay(server.addr).await?;
    let victim = mode.victim(tb, addr).await;
    let seen = seen_if_accepted(&victim, &server.received).await;
    // What C offered of what A's server insists on, observed.
    let c_offer = match kind {
        R5Server::Sha1Only => c_sha1_offer(&watch),
        R5Server::Ffdhe2048Only => c_ffdhe_offer(&watch),
    };
    // A's server records its error just after C saw the alert.
    wait_until(|| a_events.lock().map(|e| !e.is_empty()).unwrap_or(true)).await;
    let a_event = a_events
        .lock()
        .ok()
        .and_then(|e| e.first().map(|e| crate::modes::openssl_reasons(e)));
    let what = match kind {
        R5Server::Sha1Only => "A's OpenSSL TLS 1.3 server, signature schemes limited to ecdsa_sha1 / rsa_pkcs1_sha1",
        R5Server::Ffdhe2048Only => "A's OpenSSL TLS 1.3 server, groups limited to ffdhe2048 (a HelloRetryRequest if C's key share is another group)",
    };
    let mut trace = vec![
        Step::new(Party::C, Party::A, "ClientHello"),
        Step::note(Party::A, c_offer.clone()),
        Step::new(Party::A, Party::C, what),
    ];
    // An error that reports C's alert is C's refusal, not A's abort.
    let c_alerted = |e: &str| e.contains("alert handshake failure") || e.contains("SSL alert number");
    let a_aborted = |e: &str| e != "handshake completed" && !c_alerted(e);
    match &a_event {
        Some(e) if c_alerted(e) => trace.push(Step::note(
            Party::A,
            format!("A's handshake was ended by C's alert ({e})"),
        )),
        Some(e) if e == "handshake completed" => trace.push(Step::note(
            Party::A,
            "A's handshake with C completed (on ffdhe2048, A's only group)",
        )),
        Some(e) => trace.push(Step::note(Party::A, format!("A's own handshake failed: {e}"))),
        None => {}
    }
    trace.push(Step::note(Party::C, victim_note(&victim)));
    let outcome = match (&victim, a_event) {
        (VictimResult::Refused { check, .. }, Some(e)) if a_aborted(&e) => Outcome::NotBuilt {
            reason: format!(
                "A's OpenSSL would not run this TLS 1.3 handshake: its own handshake failed ({e}) and C saw \
                 {check}; the misbehaviour never reached C; {c_offer}"
            ),
        },
        _ => verdict(victim, &seen, "A"),
    };
    Ok(AttackRun { outcome, trace })
}

/// What C's ClientHello, as [`attacker::record_watching_relay`] saw it,
/// offers of the SHA-1 signature schemes (`rsa_pkcs1_sha1` 0x0201,
/// `ecdsa_sha1` 0x0203): one sentence, observed, for the trace and the
/// row's reason.
pub fn c_sha1_offer(watch: &std::sync::Mutex<attacker::WireWatch>) -> String {
    watch
        .lock()
        .ok()
        .and_then(|w| w.client_hello.clone())
        .ok_or_else(|| "the relay saw no ClientHello".to_string())
        .and_then(|ch| attacker::ClientHelloView::parse_record(&ch))
        .and_then(|v| attacker::offered_signature_schemes(&v))
        .map(|schemes| {
            let sha1: Vec<String> = schemes
                .iter()
                .filter(|s| matches!(s, 0x0201 | 0x0203))
                .map(|s| format!("0x{s:04x}"))
                .collect();
            if sha1.is_empty() {
                format!(
                    "C's ClientHello offers no SHA-1 signature scheme (no rsa_pkcs1_sha1 0x0201 / ecdsa_sha1 0x0203 \
                     among its {} schemes, observed)",
                    schemes.len()
                )
            } else {
                format!(
                    "C's ClientHello offers SHA-1 signature schemes {} (observed)",
                    sha1.join(", ")
                )
            }
        })
        .unwrap_or_else(|e| format!("C's signature schemes not read: {e}"))
}

/// What C's ClientHello, as [`attacker::record_watching_relay`] saw it,
/// offers of the finite-field groups (ffdhe2048..ffdhe8192, 0x0100-0x0104):
/// one sentence, observed, for the trace and the row's reason.
pub fn c_ffdhe_offer(watch: &std::sync::Mutex<attacker::WireWatch>) -> String {
    watch
        .lock()
        .ok()
        .and_then(|w| w.client_hello.clone())
        .ok_or_else(|| "the relay saw no ClientHello".to_string())
        .and_then(|ch| attacker::ClientHelloView::parse_record(&ch))
        .and_then(|v| attacker::offered_groups(&v))
        .map(|groups| {
            let ffdhe: Vec<String> = groups
                .iter()
                .filter(|g| (0x0100..=0x0104).contains(*g))
                .map(|g| format!("0x{g:04x}"))
                .collect();
            if ffdhe.is_empty() {
                format!(
                    "C's ClientHello offers no finite-field group (none of ffdhe2048..ffdhe8192 among its {} groups, \
                     observed)",
                    groups.len()
                )
            } else {
                format!(
                    "C's ClientHello offers finite-field groups {} (observed)",
                    ffdhe.join(", ")
                )
            }
        })
        .unwrap_or_else(|e| format!("C's groups not read: {e}"))
}

/// R5 (groups, key shares): A reads C's ClientHello and answers with a
/// hand-written flight ([`attacker::BadServerHello`]); the victim has to
/// parse it and refuse. What A sent and C's alert are in the trace.
async fn r5_hand_written(
    mode: &dyn LabMode,
    tb: &Testbed,
    kind: attacker::BadServerHello,
) -> Result<AttackRun, String> {
    let server = attacker::bad_server_hello_server(kind).await?;
    let victim = mode.victim(tb, server.addr).await;
    // A never completes a handshake, so it reads nothing: an acceptance
    // would show as "accepted, not read".
    let seen = Vec::new();
    // C's alert reaches A just after C's connect returned: wait for A's
    // last note (C's reply), up to 1 s.
    let has_reply = || {
        server
            .notes
            .lock()
            .map(|n| n.iter().any(|l| l.starts_with("C ")))
            .unwrap_or(true)
    };
    wait_until(has_reply).await;
    let mut trace = vec![Step::new(Party::C, Party::A, "ClientHello")];
    for n in server.notes.lock().map(|n| n.clone()).unwrap_or_default() {
        trace.push(Step::note(Party::A, n));
    }
    trace.push(Step::note(Party::C, victim_note(&victim)));
    Ok(AttackRun {
        outcome: verdict(victim, &seen, "A"),
        trace,
    })
}

/// PH-tickets: C talks to the genuine T1 through A's record-watching relay
/// (A sees record types and lengths, nothing decrypted). A counts the
/// encrypted records T1 sends after C's Finished (T1's servers send no
/// application data in the lab, so these are NewSessionTicket messages)
/// and reads from C's ClientHello whether C offers resumption or 0-RTT
/// (`pre_shared_key` 41, `early_data` 42; `psk_key_exchange_modes` 45
/// only says it would take tickets).
/// Zero records: refused, no ticket issued (observed). Tickets but C
/// offers no resumption: not applicable (nothing to replay), with what
/// was seen. Tickets and a resuming C: not built (no replay written).
async fn ph_tickets(mode: &dyn LabMode, tb: &Testbed) -> Result<AttackRun, String> {
    let t1 = mode.serve_genuine(tb, Tee::T1).await?;
    let (addr, watch) = attacker::record_watching_relay(t1.addr).await?;
    let victim = mode.victim(tb, addr).await;
    if let VictimResult::Refused { check, .. } = &victim {
        return Err(format!("C refused the genuine T1 through a plain relay: {check}"));
    }
    // T1 sends its tickets right after C's Finished; C returned from its
    // 200 ms wait after writing its data, so they have passed the relay.
    let w = watch.lock().map_err(|_| "poisoned".to_string())?.clone();
    let ch = w.client_hello.as_deref().ok_or("the relay saw no ClientHello")?;
    let view = attacker::ClientHelloView::parse_record(ch)?;
    let has = |t: u16| view.extensions.iter().any(|(e, _)| *e == t);
    // psk_key_exchange_modes (45) only says C would accept tickets; a
    // resumption (or 0-RTT) is offered with pre_shared_key / early_data.
    let offers: Vec<&str> = [(41u16, "pre_shared_key"), (42, "early_data")]
        .iter()
        .filter(|(t, _)| has(*t))
        .map(|(_, n)| *n)
        .collect();
    let modes = if has(45) {
        "psk_key_exchange_modes present"
    } else {
        "no psk_key_exchange_modes"
    };
    let c_offers = if offers.is_empty() {
        format!("C's ClientHello offers no pre_shared_key or early_data ({modes})")
    } else {
        format!("C's ClientHello offers {} ({modes})", offers.join(", "))
    };
    let records = &w.server_records_after_client_finished;
    if mode.family() == "expat" {
        return Ok(ph_tickets_expat(&victim, offers.is_empty(), c_offers, records));
    }
    let trace = vec![
        Step::new(
            Party::C,
            Party::A,
            "ClientHello (A reads it: resumption / 0-RTT offered?)",
        ),
        Step::new(Party::A, Party::T1, "C's records, forwarded"),
        Step::new(
            Party::T1,
            Party::A,
            format!("after C's Finished: {} encrypted record(s) {records:?}", records.len()),
        ),
        Step::note(Party::A, c_offers.clone()),
        Step::note(Party::C, victim_note(&victim)),
    ];
    let outcome = if records.is_empty() {
        Outcome::Refused {
            check: "no ticket issued (0 records from T1 after C's Finished, observed on the wire)".into(),
            detail: c_offers,
        }
    } else if offers.is_empty() {
        Outcome::NotApplicable {
            reason: format!(
                "T1 issued {} session ticket(s) (encrypted records of {records:?} bytes after C's Finished), but \
                 {c_offers}, and every victim connection uses a new client context: no resumption or 0-RTT for A to \
                 replay",
                records.len()
            ),
        }
    } else {
        Outcome::NotBuilt {
            reason: format!(
                "T1 issued {} ticket record(s) and {c_offers}; a resumption / 0-RTT replay is not written",
                records.len()
            ),
        }
    };
    Ok(AttackRun { outcome, trace })
}

/// PH-tickets against expat. T1's encrypted records after C's Finished
/// mix tickets with the RFC 9261 request/authenticator, so A cannot count
/// tickets from lengths; what A observes is C's ClientHello. Refused only
/// if C offered neither `pre_shared_key` nor `early_data`; whether C
/// stored a ticket is not observed here (the row says so).
fn ph_tickets_expat(victim: &VictimResult, no_psk: bool, c_offers: String, records: &[usize]) -> AttackRun {
    let trace = vec![
        Step::new(
            Party::C,
            Party::A,
            "ClientHello (A reads it: resumption / 0-RTT offered?)",
        ),
        Step::new(Party::A, Party::T1, "C's records, forwarded"),
        Step::new(
            Party::T1,
            Party::A,
            format!(
                "after C's Finished: {} encrypted record(s) {records:?} (tickets and the RFC 9261 messages, not \
                 told apart)",
                records.len()
            ),
        ),
        Step::note(Party::A, c_offers.clone()),
        Step::note(Party::C, victim_note(victim)),
    ];
    let outcome = if no_psk {
        Outcome::Refused {
            check: "no PSK offered (C's ClientHello has no pre_shared_key / early_data, observed)".into(),
            detail: format!(
                "{c_offers}; whether C stored a ticket is not observed (T1's records after C's Finished include \
                 the RFC 9261 messages, so A cannot count tickets)"
            ),
        }
    } else {
        Outcome::NotBuilt {
            reason: format!("{c_offers}; a resumption / 0-RTT replay is not written"),
        }
    };
    AttackRun { outcome, trace }
}

/// Polls `done` every 10 ms, for up to 1 s.
async fn wait_until(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The victim's verdict as a trace note.
pub fn victim_note(v: &VictimResult) -> String {
    match v {
        VictimResult::Accepted => "C: attested OK, sends its secret".into(),
        VictimResult::Refused { check, .. } => format!("C refuses: {check}"),
    }
}
