//! `--mode early` of `atls serve`, `connect` and `demo`: intra-handshake
//! attestation (draft-fossati-seat-early-attestation) on OpenSSL, through
//! the `attested-tls-openssl` crate. The Evidence travels in the TLS 1.3
//! handshake and binds the TLS end-entity key, so the TLS certificate is
//! the attested key (the TIK) and host identity (I1) checks it.

use std::sync::{Arc, OnceLock};

use attested_tls::attester::AttestError;
use attested_tls::cmw::Cmw;
use attested_tls::ear::Ear;
use attested_tls::modes::early::{AttestationScheme, EarlyAttester, EarlyBinding};
use attested_tls::modes::profiles::{Profile, PROFILES};
use attested_tls::platform::configfs::ConfigfsAttester;
use attested_tls::sim::{self, SimAttester, SIM_MEDIA_TYPE};
use attested_tls_openssl::{EarlyConfig, EarlyError, Refusal};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWriteExt;

use crate::serve::{AttesterArgs, ConnectArgs, ServeArgs};
use crate::Failure;

/// How Evidence is bound to the TLS connection (`--mode` of `serve`,
/// `connect` and `demo`). The default is [`Mode::Expat`]; a binding
/// profile is only ever selected by its name.
#[derive(Clone, Copy, Debug, Default)]
pub enum Mode {
    /// Post-handshake Exported Attestation (RFC 9261 +
    /// draft-fossati-seat-expat), the default.
    #[default]
    Expat,
    /// Intra-handshake attestation (draft-fossati-seat-early-attestation)
    /// on OpenSSL.
    Early,
    /// A binding profile of the field (B1-B7), on OpenSSL: explicit and
    /// never a default ([`crate::profiles`], `docs/modes.md`).
    Profile(&'static dyn Profile),
}

impl Mode {
    /// The name it is selected by, which is also the value of the EAR's
    /// `attested_tls_mode` claim.
    pub fn name(self) -> &'static str {
        match self {
            Self::Expat => attested_tls::modes::MODE_EXPAT,
            Self::Early => attested_tls::modes::MODE_EARLY,
            Self::Profile(p) => p.name(),
        }
    }
}

impl PartialEq for Mode {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Mode {}

/// The mode names `--mode` accepts: `expat`, `early` and every registered
/// profile. Anything else is a usage error (exit 2) that lists them.
impl clap::ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: OnceLock<Vec<Mode>> = OnceLock::new();
        ALL.get_or_init(|| {
            [Mode::Expat, Mode::Early]
                .into_iter()
                .chain(PROFILES.iter().map(|p| Mode::Profile(*p)))
                .collect()
        })
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            Self::Expat => {
                "post-handshake Exported Attestation (RFC 9261 + draft-fossati-seat-expat), the default".into()
            }
            Self::Early => "intra-handshake attestation (draft-fossati-seat-early-attestation) on OpenSSL".into(),
            Self::Profile(p) => crate::profiles::help(*p),
        };
        Some(clap::builder::PossibleValue::new(self.name()).help(help))
    }
}

/// The mode line the demo prints.
const EARLY_MODE_LINE: &str =
    "mode: early, intra-handshake attestation (draft-fossati-seat-early-attestation) on OpenSSL, TLS 1.3";

type Identity = (Vec<X509>, PKey<Private>);

/// The Evidence schemes a relying party of this CLI offers, in preference
/// order: every platform the policy's verifiers may appraise (the
/// attester picks the one it can produce; the policy decides whether that
/// platform is trusted).
fn accepted_schemes() -> Vec<AttestationScheme> {
    use attested_tls::platform::configfs::Provider;
    [
        SIM_MEDIA_TYPE,
        Provider::Snp.media_type(),
        Provider::Tdx.media_type(),
        Provider::Cca.media_type(),
    ]
    .into_iter()
    .map(AttestationScheme::evidence_media_type)
    .collect()
}

type EarlyAttesterAndSchemes = (Arc<dyn EarlyAttester>, Vec<AttestationScheme>);

/// This side's attester for mode `early` and the one scheme it presents.
fn early_attester(args: &AttesterArgs) -> Result<Option<EarlyAttesterAndSchemes>, Failure> {
    args.refuse_passport_from("early")?;
    match args.attester.as_str() {
        "none" => Ok(None),
        "sim" => Ok(Some((
            Arc::new(args.sim()?),
            vec![AttestationScheme::evidence_media_type(SIM_MEDIA_TYPE)],
        ))),
        "configfs" => {
            // The scheme names the platform's Evidence type, which only a
            // report says (the `provider` attribute): one report at start.
            let attester = ConfigfsAttester::new(&args.tsm_dir);
            let probe = attester
                .report(&[0u8; 64])
                .map_err(|e| Failure::input(format!("--attester configfs: {e}")))?;
            let scheme = AttestationScheme::evidence_media_type(probe.provider.media_type());
            Ok(Some((Arc::new(attester.expect_provider(probe.provider)), vec![scheme])))
        }
        other => Err(crate::serve::unknown_attester(other)),
    }
}

/// Bounds the attester calls running at the same time, all connections
/// together (`serve --max-attester-calls`): in mode `early` and the binding
/// profiles the attester runs inside the handshake, so a call beyond the
/// bound fails at once (the handshake ends with internal_error) instead of
/// queueing behind a slow platform interface, as the default mode refuses
/// it with ERROR 8.
pub(crate) struct BoundedAttester<A: ?Sized> {
    pub(crate) inner: Arc<A>,
    calls: Arc<tokio::sync::Semaphore>,
    max: usize,
}

impl<A: ?Sized> BoundedAttester<A> {
    pub(crate) fn new(inner: Arc<A>, max: usize) -> Self {
        Self {
            inner,
            calls: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
        }
    }

    /// One of the calls allowed at a time, or the busy error.
    pub(crate) fn call(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AttestError> {
        self.calls.try_acquire().map_err(|_| {
            AttestError::Other(format!(
                "busy: all {} attester calls allowed on this side are running; try again later",
                self.max
            ))
        })
    }
}

impl<A: EarlyAttester + ?Sized> EarlyAttester for BoundedAttester<A> {
    fn platform(&self) -> &str {
        self.inner.platform()
    }
    fn may_block(&self) -> bool {
        self.inner.may_block()
    }
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError> {
        let _call = self.call()?;
        self.inner.attest_early(binding)
    }
}

/// A rustls-typed chain and key as OpenSSL objects.
fn openssl_identity(chain: &[CertificateDer<'_>], key: &PrivateKeyDer<'_>) -> Result<Identity, Failure> {
    let chain = chain
        .iter()
        .map(|c| X509::from_der(c).map_err(|e| Failure::input(format!("certificate: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let key = PKey::private_key_from_der(key.secret_der()).map_err(|e| Failure::input(format!("private key: {e}")))?;
    Ok((chain, key))
}

/// A fresh self-signed identity for `name`.
fn self_signed(name: &str) -> Result<Identity, Failure> {
    let (cert, key) = attested_tls::net::tls::self_signed_server_identity(name).map_err(Failure::input)?;
    openssl_identity(&[cert], &key)
}

/// Exit code of a failed mode `early` connection, as for the default mode:
/// a refusal of attestation by either side is 1, a configuration error 2,
/// anything else (I/O, timeouts, TLS failures) 4.
pub(crate) fn early_failure(context: &str, e: &EarlyError) -> Failure {
    match e {
        EarlyError::Refused { .. } => Failure::refused(format!("{context}: {e}")),
        // bad_certificate and missing_extension: the peer refused our
        // attestation, or required attestation we did not offer.
        EarlyError::PeerAlert { code: 42 | 109, .. } => Failure::refused(format!("{context}: {e}")),
        EarlyError::Config(_) => Failure::input(format!("{context}: {e}")),
        _ => Failure::network(format!("{context}: {e}")),
    }
}

/// The passport attester of `serve --passport-key K --passport-policy P`:
/// this side's Evidence, appraised in process with P and signed with K,
/// presented in the `result(1)` scheme of `--verifier-id`.
fn passport_attester(
    args: &ServeArgs,
    evidence: Option<EarlyAttesterAndSchemes>,
) -> Result<EarlyAttesterAndSchemes, Failure> {
    let (Some(key), Some(policy)) = (&args.passport_key, &args.passport_policy) else {
        return Err(Failure::input("--passport-key needs --passport-policy"));
    };
    let Some((evidence, _)) = evidence else {
        return Err(Failure::input(
            "--passport-key needs an attester (--attester): the passport is a result about its Evidence",
        ));
    };
    let pem = crate::verify::read_input(key, attested_tls::fsutil::MAX_CONFIG_FILE_LEN)?;
    let key = attested_tls::ear_jwt::SigningKeyPem::from_pem(&pem)
        .map_err(|e| Failure::input(format!("--passport-key {}: {e}", key.display())))?;
    let attester = attested_tls::modes::early::PassportAttester {
        evidence,
        verifier: crate::serve::load_policy(policy)?,
        key,
        clock: Arc::new(time::OffsetDateTime::now_utc),
    };
    let scheme = AttestationScheme::Result {
        verifier_identity: args.verifier_id.as_bytes().to_vec(),
    };
    Ok((Arc::new(attester), vec![scheme]))
}

/// The verifiers of `connect --passport-verifier ID=FILE`.
fn passport_verifiers(specs: &[String]) -> Result<Vec<(Vec<u8>, attested_tls::corim::VerificationKey)>, Failure> {
    specs
        .iter()
        .map(|spec| {
            let (id, file) = spec
                .split_once('=')
                .filter(|(id, file)| !id.is_empty() && !file.is_empty())
                .ok_or_else(|| Failure::input(format!("--passport-verifier {spec:?}: expected ID=FILE")))?;
            let bytes =
                crate::verify::read_input(std::path::Path::new(file), attested_tls::fsutil::MAX_CONFIG_FILE_LEN)?;
            let key = attested_tls::corim::VerificationKey::from_pem_or_jwk(&bytes)
                .map_err(|e| Failure::input(format!("--passport-verifier {id}: {file}: {e}")))?;
            Ok((id.as_bytes().to_vec(), key))
        })
        .collect()
}

/// `atls serve --mode early`.
pub async fn serve(args: ServeArgs) -> Result<u8, Failure> {
    if args.allow_signing_oracle {
        return Err(Failure::input(
            "--allow-signing-oracle is for the b1-client-random and b2-* profiles, not mode early",
        ));
    }
    let mut attester = early_attester(&args.attester)?;
    if args.passport_key.is_some() {
        attester = Some(passport_attester(&args, attester)?);
        // The passport's worth rests on the verifier's key being outside
        // the attester's control; here it is on the attested host itself.
        eprintln!(
            "atls: WARNING: --passport-key signs passports on this (the attested) host: whoever controls the host \
             holds the verifier key and can sign any result; for testing and demos only (a real verifier runs \
             elsewhere, e.g. `atls verify --sign-ear`)"
        );
    }
    let max_calls = args.max_attester_calls as usize;
    let attester = attester.map(|(a, schemes)| {
        let bounded: Arc<dyn EarlyAttester> = Arc::new(BoundedAttester::new(a, max_calls));
        (bounded, schemes)
    });
    let mut cfg = EarlyConfig {
        attester,
        ..EarlyConfig::default()
    };
    if let Some(appraiser) = crate::serve::server_appraiser(&args, crate::serve::load_policy)? {
        cfg.appraiser = Some((appraiser, accepted_schemes()));
    }
    if cfg.attester.is_none() && cfg.appraiser.is_none() {
        return Err(Failure::input("nothing to attest: give --attester and/or --policy"));
    }
    // The TLS identity is the attested key (TIK): a CA-issued one lets
    // clients require host identity (I1).
    let (chain, key) = match crate::serve::cert_and_key(&args)? {
        Some((chain, key)) => openssl_identity(&chain, &key)?,
        None => self_signed("atls-server")?,
    };
    let ctx = attested_tls_openssl::server_context(&cfg, &chain, &key).map_err(|e| early_failure("serve", &e))?;
    let (ctx, cfg) = (Arc::new(ctx), Arc::new(cfg));
    let idle_timeout = crate::serve::idle(args.idle_timeout);
    let json = args.json;
    crate::serve::accept_loop(&args, |tcp, peer| {
        let (ctx, cfg, forward) = (ctx.clone(), cfg.clone(), args.forward.clone());
        async move {
            let (mut stream, ear) = match attested_tls_openssl::accept(&ctx, tcp, &cfg).await {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("atls: {peer}: refused: {e}");
                    let ear = match &e {
                        EarlyError::Refused {
                            reason: Refusal::NotTrusted(ear),
                        } => Some(&**ear),
                        _ => None,
                    };
                    crate::serve::refused_event(json, peer, "early", &e, ear);
                    return Err(early_failure(&format!("{peer}"), &e));
                }
            };
            match &ear {
                Some(e) => eprintln!("atls: {peer}: client attested (mode early): {}", e.status),
                None => eprintln!("atls: {peer}: attested to client (mode early)"),
            }
            crate::serve::attested_event(json, peer, "early", ear.as_ref());
            let r = crate::serve::serve_stream(&mut stream, forward, idle_timeout).await;
            // close_notify, also after a failure of the other end.
            let _ = tokio::time::timeout(crate::serve::CLOSE_TIMEOUT, stream.shutdown()).await;
            r.map_err(|e| crate::serve::stream_failure(peer, e))
        }
    })
    .await
}

/// `atls connect --mode early`.
pub async fn connect(args: ConnectArgs) -> Result<u8, Failure> {
    let appraiser = crate::serve::load_policy(&args.policy)?;
    let passports = passport_verifiers(&args.passport_verifier)?;
    // Passports first: the server picks the first scheme of this list it
    // can present.
    let mut schemes: Vec<AttestationScheme> = passports
        .iter()
        .map(|(id, _)| AttestationScheme::Result {
            verifier_identity: id.clone(),
        })
        .collect();
    schemes.extend(accepted_schemes());
    let mut cfg = EarlyConfig::verifier(appraiser, schemes);
    cfg.passport_verifiers = passports;
    cfg.host_identity = match &cfg.appraiser {
        Some((a, _)) => args.host_identity(a)?,
        None => None,
    };
    cfg.attester = early_attester(&args.attester)?;
    let identity = match &cfg.attester {
        Some(_) => Some(self_signed("atls-client")?),
        None => None,
    };
    let ctx = attested_tls_openssl::client_context(&cfg, identity.as_ref().map(|(c, k)| (c.as_slice(), k)))
        .map_err(|e| early_failure("connect", &e))?;
    let server_name = args.server_name();
    let tcp = args.dial().await?;
    let (stream, ear) = match attested_tls_openssl::connect(&ctx, &server_name, tcp, &cfg).await {
        Ok(x) => x,
        Err(e) => {
            if let (
                true,
                EarlyError::Refused {
                    reason: Refusal::NotTrusted(ear),
                },
            ) = (args.json, &e)
            {
                eprintln!("{}", ear.to_json_pretty());
            }
            let mut failure = early_failure("attested connection failed (mode early)", &e);
            if let EarlyError::Refused {
                reason: Refusal::PeerDeclined(_),
            } = &e
            {
                failure = Failure::refused(format!(
                    "{} (a server of the default mode, expat, attests after the handshake: connect without --mode early)",
                    failure.message()
                ));
            }
            return Err(failure);
        }
    };
    let ear = ear.ok_or_else(|| Failure::refused("BUG: the server was not appraised"))?;
    crate::serve::show_ear(&ear, args.json);
    crate::serve::pipe_stdio(stream).await
}

/// `atls demo --mode early`: the demo's steps in mode `early` (there is no
/// re-attestation on a connection in this mode: the Evidence is part of
/// the handshake).
pub async fn demo(json: bool, mutual: bool) -> Result<u8, Failure> {
    let world = sim::ephemeral_world(2).map_err(Failure::input)?;
    let t1 = world.instances[0].clone();
    let appraiser = world.appraiser("sim-demo");
    let scheme = || vec![AttestationScheme::evidence_media_type(SIM_MEDIA_TYPE)];
    if !json {
        crate::demo::print_world(&world, &t1, EARLY_MODE_LINE);
    }
    let mut server_cfg = EarlyConfig::attester(Arc::new(SimAttester::new(t1)), scheme());
    let mut client_cfg = EarlyConfig::verifier(appraiser.clone(), scheme());
    if mutual {
        server_cfg = server_cfg.with_appraiser(appraiser.clone(), scheme());
        client_cfg.attester = Some((Arc::new(SimAttester::new(world.instances[1].clone())), scheme()));
    }
    let (ear, client_ear) = one_connection(server_cfg, client_cfg, true).await?;
    let ear = ear.ok_or_else(|| Failure::refused("the server was not appraised"))?;
    crate::demo::show("client appraised the server:", "server", &ear, json);
    if !json {
        outln!(
            "\napplication data echoed after attestation: {:?}",
            String::from_utf8_lossy(crate::demo::DEMO_MESSAGE)
        );
        outln!("re-attestation: not in this mode (the Evidence is part of the handshake; open a new connection)");
    }
    if let Some(ce) = client_ear {
        crate::demo::show("\nserver appraised the client:", "client", &ce, json);
    }

    // Fail closed: a genuine simulated TEE running other code is refused.
    let other = crate::demo::unapproved_instance(&world)?;
    let server_cfg = EarlyConfig::attester(Arc::new(SimAttester::new(other)), scheme());
    let outcome = one_connection(server_cfg, EarlyConfig::verifier(appraiser, scheme()), false).await;
    crate::demo::show_unapproved_refused(outcome, json)
}

/// One loopback connection of mode `early` (echoing one message when
/// `echo`): the server's EAR as the client saw it, and the client's as the
/// server saw it.
async fn one_connection(
    server_cfg: EarlyConfig,
    client_cfg: EarlyConfig,
    echo: bool,
) -> Result<(Option<Ear>, Option<Ear>), Failure> {
    let (chain, key) = self_signed("atls-server")?;
    let sctx =
        attested_tls_openssl::server_context(&server_cfg, &chain, &key).map_err(|e| early_failure("demo", &e))?;
    let client_id = match &client_cfg.attester {
        Some(_) => Some(self_signed("atls-client")?),
        None => None,
    };
    let cctx = attested_tls_openssl::client_context(&client_cfg, client_id.as_ref().map(|(c, k)| (c.as_slice(), k)))
        .map_err(|e| early_failure("demo", &e))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Failure::input)?;
    let addr = listener.local_addr().map_err(Failure::input)?;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let (mut s, client_ear) = attested_tls_openssl::accept(&sctx, tcp, &server_cfg)
            .await
            .map_err(std::io::Error::other)?;
        crate::demo::echo_until_eof(&mut s).await?;
        Ok::<_, std::io::Error>(client_ear)
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(Failure::input)?;
    let (mut c, ear) = attested_tls_openssl::connect(&cctx, "atls-server", tcp, &client_cfg)
        .await
        .map_err(|e| early_failure("attested connection failed (mode early)", &e))?;
    if echo {
        crate::demo::echo_once(&mut c).await?;
    }
    c.shutdown().await.map_err(Failure::input)?;
    drop(c);
    let client_ear = server.await.map_err(Failure::input)?.map_err(Failure::input)?;
    Ok((ear, client_ear))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Blocks in `attest_early` until told to go on; a call made while
    /// another is inside returns at once, saying so (so that a missing
    /// bound fails the test instead of hanging it).
    struct Gated {
        entered: mpsc::SyncSender<()>,
        go: std::sync::Mutex<mpsc::Receiver<()>>,
        inside: std::sync::atomic::AtomicUsize,
    }

    impl EarlyAttester for Gated {
        fn platform(&self) -> &str {
            "gated"
        }
        fn may_block(&self) -> bool {
            true
        }
        fn attest_early(&self, _: &EarlyBinding) -> Result<Cmw, AttestError> {
            use std::sync::atomic::Ordering;
            if self.inside.fetch_add(1, Ordering::SeqCst) > 0 {
                self.inside.fetch_sub(1, Ordering::SeqCst);
                return Err(AttestError::Other("entered while another call was inside".into()));
            }
            self.entered.send(()).unwrap();
            self.go.lock().unwrap().recv().unwrap();
            self.inside.fetch_sub(1, Ordering::SeqCst);
            Err(AttestError::Other("gated attester done".into()))
        }
    }

    #[test]
    fn a_call_beyond_max_attester_calls_fails_at_once_and_the_bound_is_released() {
        // Guards `serve --mode early --max-attester-calls`: with one call
        // running, a second fails as busy without reaching the attester;
        // after the first ends, a call reaches it again.
        let (entered_tx, entered) = mpsc::sync_channel(2);
        let (go, go_rx) = mpsc::sync_channel(2);
        let bounded = Arc::new(BoundedAttester::new(
            Arc::new(Gated {
                entered: entered_tx,
                go: std::sync::Mutex::new(go_rx),
                inside: Default::default(),
            }),
            1,
        ));
        let binding = EarlyBinding::new(attested_tls::crypto::HashAlgorithm::Sha256, &[0u8; 32], b"spki");
        let first = {
            let (bounded, binding) = (bounded.clone(), binding.clone());
            std::thread::spawn(move || bounded.attest_early(&binding))
        };
        entered.recv().unwrap();
        match bounded.attest_early(&binding) {
            Err(AttestError::Other(m)) => assert!(m.contains("busy: all 1 attester calls"), "{m}"),
            other => panic!("{other:?}"),
        }
        go.send(()).unwrap();
        assert!(first
            .join()
            .unwrap()
            .unwrap_err()
            .to_string()
            .contains("gated attester done"));
        go.send(()).unwrap();
        let again = bounded.attest_early(&binding).unwrap_err().to_string();
        assert!(again.contains("gated attester done"), "{again}");
    }
}
