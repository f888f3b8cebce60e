//! `--mode <profile>` of `atls serve`, `connect` and `demo`: the binding
//! profiles of the field (B1-B7 of `docs/modes.md`) on OpenSSL, through
//! [`attested_tls_openssl::profiles`].
//!
//! A profile is never a default: it is selected by its exact name only
//! ([`crate::early::Mode`] lists them, an unknown name is a usage error),
//! and every use prints a warning on stderr naming what the design does
//! not protect against. The attesters (sim, configfs), the policy and the
//! appraiser are those of the other modes; every accepted EAR carries
//! `attested_tls_mode = "<profile>"`. The profiles attest the server only:
//! the flags of client attestation and host identity are refused.

use std::sync::Arc;

use attested_tls::attester::AttestError;
use attested_tls::cmw::Cmw;
use attested_tls::ear::Ear;
use attested_tls::modes::profiles::{Profile, ProfileAttester, ProfileBinding};
use attested_tls::platform::configfs::ConfigfsAttester;
use attested_tls::sim::{self, SimAttester};
use attested_tls_openssl::profiles::{
    self as ossl, ProfileClientConfig, ProfileRefusal, ProfileServerConfig, ProfileTlsError,
};
use attested_tls_openssl::EarlyError;
use tokio::io::AsyncWriteExt;

use crate::early::BoundedAttester;
use crate::serve::{AttesterArgs, ConnectArgs, ServeArgs};
use crate::Failure;

/// The `--mode` help of a profile.
pub(crate) fn help(profile: &dyn Profile) -> String {
    format!(
        "binding profile {}, never a default, weaker than the default mode: {}",
        profile.mechanism(),
        profile.formula()
    )
}

/// The warning every use of a profile prints on stderr: the profile is not
/// the default, and what it does not protect against (the registry's text).
pub(crate) fn warning(profile: &dyn Profile) -> String {
    format!(
        "WARNING: --mode {} is binding profile {} of the field, not the default mode; \
         it does not protect against: {}. Use it only to talk to systems that bind \
         attestation this way (docs/modes.md).",
        profile.name(),
        profile.mechanism(),
        profile.not_protected_against()
    )
}

fn warn(profile: &dyn Profile) {
    eprintln!("atls: {}", warning(profile));
}

/// A flag that a profile cannot honour: a usage error naming it and why.
fn not_with_profile(profile: &dyn Profile, flag: &str, why: &str) -> Failure {
    Failure::input(format!("{flag} is not available with --mode {}: {why}", profile.name()))
}

const SERVER_ONLY: &str = "the binding profiles attest the server only";

impl<A: ProfileAttester + ?Sized> ProfileAttester for BoundedAttester<A> {
    fn platform(&self) -> &str {
        self.inner.platform()
    }
    fn is_simulated(&self) -> bool {
        self.inner.is_simulated()
    }
    fn may_block(&self) -> bool {
        self.inner.may_block()
    }
    fn attest_profile(&self, binding: &ProfileBinding) -> Result<Cmw, AttestError> {
        let _call = self.call()?;
        self.inner.attest_profile(binding)
    }
}

/// The server's attester (`--attester sim|configfs`), at most
/// `--max-attester-calls` calls at a time.
fn server_attester(
    profile: &dyn Profile,
    args: &AttesterArgs,
    max_calls: u32,
) -> Result<Arc<dyn ProfileAttester>, Failure> {
    args.refuse_passport_from(profile.name())?;
    let attester: Arc<dyn ProfileAttester> = match args.attester.as_str() {
        "sim" => Arc::new(args.sim()?),
        "configfs" => Arc::new(ConfigfsAttester::new(&args.tsm_dir)),
        "none" => {
            return Err(Failure::input(format!(
                "--mode {}: a server of a binding profile attests: give --attester sim or configfs",
                profile.name()
            )))
        }
        other => return Err(crate::serve::unknown_attester(other)),
    };
    Ok(Arc::new(BoundedAttester::new(attester, max_calls as usize)))
}

/// What a refusal of `side` probably means when the two ends were not
/// started with the same `--mode`, if it can mean that.
fn mismatch_hint(profile: &dyn Profile, e: &ProfileTlsError, client: bool) -> Option<String> {
    let name = profile.name();
    let binding_refused = |r: &ProfileRefusal| {
        r.refused_claims()
            .iter()
            .any(|c| matches!(c.as_str(), "eat_nonce" | "report_data" | "aik_pub_hash" | "hash_alg"))
    };
    match e {
        ProfileTlsError::Refused { reason, .. } if client => match reason {
            ProfileRefusal::Evidence(_) | ProfileRefusal::MalformedCmw(_) => Some(format!(
                "the server does not present Evidence as profile {name} does: both ends must use the same \
                 --mode (a server of the default mode attests after the handshake: connect without --mode)"
            )),
            r if binding_refused(r) => Some(format!(
                "the Evidence is not bound to this connection the way profile {name} binds it: a server of \
                 another mode or profile (both ends must use the same --mode), or a relay"
            )),
            _ => None,
        },
        ProfileTlsError::Refused {
            reason: ProfileRefusal::Nonce(_),
            ..
        } => Some(format!(
            "the client did not send the nonce profile {name} carries: both ends must use the same --mode"
        )),
        ProfileTlsError::Tls(EarlyError::PeerAlert { .. }) if client => Some(format!(
            "the server ended the handshake: it may serve another mode or profile than {name} \
             (both ends must use the same --mode)"
        )),
        _ => None,
    }
}

/// Exit code of a failed profile connection, as for the other modes: a
/// refusal by either side 1, a configuration error 2, anything else (I/O,
/// timeouts, TLS failures) 4; with a hint when the two ends' `--mode` may
/// differ.
fn profile_failure(context: &str, profile: &dyn Profile, e: &ProfileTlsError, client: bool) -> Failure {
    let failure = match e {
        ProfileTlsError::Config(_) => Failure::input(format!("{context}: {e}")),
        ProfileTlsError::Refused { .. } => Failure::refused(format!("{context}: {e}")),
        ProfileTlsError::Tls(t) => crate::early::early_failure(context, t),
    };
    match mismatch_hint(profile, e, client) {
        Some(hint) => Failure {
            message: format!("{} ({hint})", failure.message),
            ..failure
        },
        None => failure,
    }
}

/// `atls serve --mode <profile>`.
pub async fn serve(profile: &'static dyn Profile, args: ServeArgs) -> Result<u8, Failure> {
    if args.policy.is_some() {
        return Err(not_with_profile(profile, "--policy", SERVER_ONLY));
    }
    if crate::serve::cert_and_key(&args)?.is_some() {
        return Err(not_with_profile(
            profile,
            "--cert/--key",
            "the profile makes its own certificate, which carries the Evidence",
        ));
    }
    if args.passport_key.is_some() {
        return Err(not_with_profile(
            profile,
            "--passport-key",
            "the passport scheme is mode early's",
        ));
    }
    let attester = server_attester(profile, &args.attester, args.max_attester_calls)?;
    if args.allow_signing_oracle && !profile.signs_client_chosen_data() {
        return Err(not_with_profile(
            profile,
            "--allow-signing-oracle",
            "only the b1-client-random and b2-* servers are signing oracles",
        ));
    }
    let mut cfg =
        ProfileServerConfig::new(profile.name(), attester).map_err(|e| profile_failure("serve", profile, &e, false))?;
    cfg.allow_signing_oracle = args.allow_signing_oracle;
    warn(profile);
    // A static design (b4-static-cert) attests here, once.
    let ctx = ossl::server_context(&cfg).map_err(|e| profile_failure("serve", profile, &e, false))?;
    let (ctx, cfg) = (Arc::new(ctx), Arc::new(cfg));
    let idle_timeout = crate::serve::idle(args.idle_timeout);
    let json = args.json;
    crate::serve::accept_loop(&args, |tcp, peer| {
        let (ctx, cfg, forward) = (ctx.clone(), cfg.clone(), args.forward.clone());
        async move {
            let name = cfg.profile().name();
            let mut stream = match ossl::accept(&ctx, tcp, &cfg).await {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("atls: {peer}: refused: {e}");
                    crate::serve::refused_event(json, peer, name, &e, None);
                    return Err(profile_failure(&format!("{peer}"), cfg.profile(), &e, false));
                }
            };
            eprintln!("atls: {peer}: attested to client (binding profile {name}, not the default mode)");
            crate::serve::attested_event(json, peer, name, None);
            let r = crate::serve::serve_stream(&mut stream, forward, idle_timeout).await;
            // close_notify, also after a failure of the other end.
            let _ = tokio::time::timeout(crate::serve::CLOSE_TIMEOUT, stream.shutdown()).await;
            r.map_err(|e| crate::serve::stream_failure(peer, e))
        }
    })
    .await
}

/// `atls connect --mode <profile>`.
pub async fn connect(profile: &'static dyn Profile, args: ConnectArgs) -> Result<u8, Failure> {
    if args.attester.attester != "none" {
        return Err(not_with_profile(profile, "--attester", SERVER_ONLY));
    }
    if !args.host_ca.is_empty() {
        return Err(not_with_profile(
            profile,
            "--host-ca",
            "host identity (I1) needs a certified attested key; the profiles' certificates are self-signed",
        ));
    }
    if !args.passport_verifier.is_empty() {
        return Err(not_with_profile(
            profile,
            "--passport-verifier",
            "the passport scheme is mode early's",
        ));
    }
    let appraiser = crate::serve::load_policy(&args.policy)?;
    if appraiser.host_identity().is_some() {
        // Fail closed: the policy asks for a check this mode cannot make.
        return Err(Failure::input(format!(
            "{}: [host_identity] (I1) is not available with --mode {}: the profiles' certificates are self-signed",
            args.policy.display(),
            profile.name()
        )));
    }
    let cfg = ProfileClientConfig::new(profile.name(), appraiser)
        .map_err(|e| profile_failure("connect", profile, &e, true))?;
    warn(profile);
    let ctx = ossl::client_context(&cfg).map_err(|e| profile_failure("connect", profile, &e, true))?;
    let tcp = args.dial().await?;
    let context = format!("attested connection failed (--mode {})", profile.name());
    match ossl::connect(&ctx, &args.server_name(), tcp, &cfg).await {
        Ok((stream, ear, _)) => {
            crate::serve::show_ear(&ear, args.json);
            crate::serve::pipe_stdio(stream).await
        }
        Err(e) => {
            if let (
                true,
                ProfileTlsError::Refused {
                    reason: ProfileRefusal::NotTrusted(ear),
                    ..
                },
            ) = (args.json, &e)
            {
                eprintln!("{}", ear.to_json_pretty());
            }
            Err(profile_failure(&context, profile, &e, true))
        }
    }
}

/// `atls demo --mode <profile>`: one connection of the profile on the
/// simulated TEE (the client appraises the server, data is echoed), then
/// a server running other code, refused.
pub async fn demo(profile: &'static dyn Profile, json: bool, mutual: bool) -> Result<u8, Failure> {
    if mutual {
        return Err(not_with_profile(profile, "--mutual", SERVER_ONLY));
    }
    warn(profile);
    let world = sim::ephemeral_world(1).map_err(Failure::input)?;
    let t1 = world.instances[0].clone();
    let appraiser = world.appraiser("sim-demo");
    if !json {
        crate::demo::print_world(
            &world,
            &t1,
            &format!(
                "mode: {}, binding profile {} (not the default), {}, on OpenSSL, TLS 1.3",
                profile.name(),
                profile.mechanism(),
                profile.formula()
            ),
        );
    }
    let ear = one_connection(profile, Arc::new(SimAttester::new(t1)), &appraiser, true).await?;
    crate::demo::show("client appraised the server:", "server", &ear, json);
    if !json {
        outln!(
            "\napplication data echoed after attestation: {:?}",
            String::from_utf8_lossy(crate::demo::DEMO_MESSAGE)
        );
    }

    // Fail closed: a genuine simulated TEE running other code is refused.
    let other = crate::demo::unapproved_instance(&world)?;
    let outcome = one_connection(profile, Arc::new(SimAttester::new(other)), &appraiser, false).await;
    crate::demo::show_unapproved_refused(outcome, json)
}

/// One loopback connection of `profile` (echoing one message when `echo`):
/// the server's EAR as the client saw it.
async fn one_connection(
    profile: &'static dyn Profile,
    attester: Arc<dyn ProfileAttester>,
    appraiser: &attested_tls::verifier::Appraiser,
    echo: bool,
) -> Result<Ear, Failure> {
    let fail = |e: ProfileTlsError| profile_failure("demo", profile, &e, true);
    let server_cfg = ProfileServerConfig::new(profile.name(), attester).map_err(fail)?;
    let client_cfg = ProfileClientConfig::new(profile.name(), appraiser.clone()).map_err(fail)?;
    let sctx = ossl::server_context(&server_cfg).map_err(fail)?;
    let cctx = ossl::client_context(&client_cfg).map_err(fail)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Failure::input)?;
    let addr = listener.local_addr().map_err(Failure::input)?;
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let (mut s, _) = ossl::accept(&sctx, tcp, &server_cfg)
            .await
            .map_err(std::io::Error::other)?;
        crate::demo::echo_until_eof(&mut s).await
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(Failure::input)?;
    let connected = ossl::connect(&cctx, "atls-server", tcp, &client_cfg).await;
    let (mut c, ear, _) = match connected {
        Ok(x) => x,
        Err(e) => {
            server.abort();
            return Err(profile_failure(
                &format!("attested connection failed (--mode {})", profile.name()),
                profile,
                &e,
                true,
            ));
        }
    };
    if echo {
        crate::demo::echo_once(&mut c).await?;
    }
    c.shutdown().await.map_err(Failure::input)?;
    drop(c);
    server.await.map_err(Failure::input)?.map_err(Failure::input)?;
    Ok(ear)
}

#[cfg(test)]
mod tests {
    use super::*;
    use attested_tls::modes::profiles::PROFILES;
    use clap::ValueEnum;

    use crate::early::Mode;

    /// Guards the `--mode` names: every registered profile is selectable,
    /// under its registry name, and the default is the default mode.
    #[test]
    fn every_profile_is_a_mode_by_its_name_and_none_is_the_default() {
        assert_eq!(Mode::default(), Mode::Expat);
        for p in PROFILES {
            let m = Mode::from_str(p.name(), false).unwrap();
            assert_eq!(m.name(), p.name());
            assert!(matches!(m, Mode::Profile(q) if q.name() == p.name()));
        }
        assert_eq!(Mode::value_variants().len(), PROFILES.len() + 2);
        assert!(Mode::from_str("b6", false).is_err());
    }

    /// Guards the warning: it names the profile and carries the registry's
    /// text of what the profile does not protect against.
    #[test]
    fn the_warning_names_what_the_profile_does_not_protect_against() {
        for p in PROFILES {
            let w = warning(*p);
            assert!(w.contains(p.name()) && w.contains(p.not_protected_against()), "{w}");
        }
    }
}
