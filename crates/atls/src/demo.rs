//! `atls demo`: an attested server and client in one process, on the
//! simulated TEE, over loopback TLS 1.3.

use std::sync::Arc;

use attested_tls::ear::Ear;
use attested_tls::net::{self, AttestationConfig};
use attested_tls::sim::{self, SimAttester};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Failure;

/// Arguments of `atls demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Attestation mode: `expat` (post-handshake Exported Attestation,
    /// RFC 9261 + draft-fossati-seat-expat), `early` (intra-handshake,
    /// draft-fossati-seat-early-attestation, on OpenSSL), or a binding
    /// profile of the field by name (never a default, weaker: see
    /// docs/modes.md).
    #[arg(long, value_enum, default_value_t = crate::early::Mode::Expat)]
    mode: crate::early::Mode,
    /// Machine-readable output: JSON lines on stdout, one per step
    /// (`{"event": "appraised" | "reattested" | "refused", "appraised":
    /// "server" | "client", "ear" | "reason": ...}`).
    #[arg(long)]
    json: bool,
    /// Mutual attestation: the client attests too.
    #[arg(long)]
    mutual: bool,
}

pub(crate) fn server_tls() -> Result<Arc<rustls::ServerConfig>, Failure> {
    let (cert, key) = net::tls::self_signed_server_identity("atls-server").map_err(Failure::input)?;
    net::tls::server_config(vec![cert], key).map_err(Failure::input)
}

/// Shows one appraisal of the demo: `label` then the rendered EAR, or with
/// `json` one JSON line `{"event": "appraised", "appraised": who, "ear": ...}`
/// (`who` is the side that was appraised: `server` or `client`).
pub(crate) fn show(label: &str, who: &str, ear: &Ear, json: bool) {
    if json {
        json_line(serde_json::json!({ "event": "appraised", "appraised": who, "ear": ear }));
    } else {
        outln!("{label}");
        for line in ear.render().lines() {
            outln!("  {line}");
        }
    }
}

/// Prints one line of JSON output (the `--json` form of a step).
pub(crate) fn json_line(v: serde_json::Value) {
    outln!("{v}");
}

/// The demo server: echoes what it reads until the client's end of
/// stream (then returns without closing: the client has gone).
pub(crate) async fn echo_until_eof<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> std::io::Result<()> {
    let mut buf = vec![0u8; 1024];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n]).await?;
        s.flush().await?;
    }
}

/// The message the demo's client sends and expects back.
pub(crate) const DEMO_MESSAGE: &[u8] = b"hello from an attested client";

/// Sends [`DEMO_MESSAGE`] on an attested stream and checks that the
/// server echoes it.
pub(crate) async fn echo_once<S: AsyncRead + AsyncWrite + Unpin>(c: &mut S) -> Result<(), Failure> {
    c.write_all(DEMO_MESSAGE).await.map_err(Failure::input)?;
    c.flush().await.map_err(Failure::input)?;
    let mut back = vec![0u8; DEMO_MESSAGE.len()];
    c.read_exact(&mut back).await.map_err(Failure::input)?;
    if back != DEMO_MESSAGE {
        return Err(Failure::network("the echoed data differs"));
    }
    Ok(())
}

/// A genuine simulated TEE of `world` running code its policy does not
/// approve: the demo's last step shows it refused.
pub(crate) fn unapproved_instance(world: &sim::SimWorld) -> Result<sim::SimInstance, Failure> {
    world
        .root
        .issue_instance(sim::SimInstanceConfig::new(vec![0xee; 48]))
        .map_err(Failure::input)
}

/// The demo's last step: the client's connection to the unapproved
/// instance (`outcome`) must have failed; shows why.
pub(crate) fn show_unapproved_refused<T>(outcome: Result<T, Failure>, json: bool) -> Result<u8, Failure> {
    match outcome {
        Ok(_) => Err(Failure::refused(
            "BUG: a server with an unknown measurement was accepted",
        )),
        Err(f) => {
            if json {
                json_line(serde_json::json!({ "event": "refused", "appraised": "server", "reason": f.message() }));
            } else {
                outln!(
                    "\na server running unapproved code is refused:\n  client: {}",
                    f.message()
                );
            }
            Ok(0)
        }
    }
}

/// The demo's header: the simulated TEE, the server instance, the mode.
pub(crate) fn print_world(world: &sim::SimWorld, server: &sim::SimInstance, mode_line: &str) {
    outln!("simulated TEE: root \"{}\"", world.root.subject());
    outln!(
        "server instance {}  measurement {}",
        hex::encode(&server.config().instance_id),
        hex::encode(&server.config().measurement)
    );
    outln!("{mode_line}\n");
}

pub async fn run(args: DemoArgs) -> Result<u8, Failure> {
    match args.mode {
        crate::early::Mode::Early => return crate::early::demo(args.json, args.mutual).await,
        crate::early::Mode::Profile(p) => return crate::profiles::demo(p, args.json, args.mutual).await,
        crate::early::Mode::Expat => {}
    }
    let world = sim::ephemeral_world(2).map_err(Failure::input)?;
    let t1 = world.instances[0].clone();
    let appraiser = world.appraiser("sim-demo");
    if !args.json {
        print_world(
            &world,
            &t1,
            "mode: expat, post-handshake Exported Attestation (RFC 9261 + draft-fossati-seat-expat-04), TLS 1.3",
        );
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Failure::input)?;
    let addr = listener.local_addr().map_err(Failure::input)?;
    let tls = server_tls()?;
    let mut server_cfg = AttestationConfig::attester(Arc::new(SimAttester::new(t1.clone()))).map_err(Failure::input)?;
    let mut client_cfg = AttestationConfig::verifier(appraiser.clone());
    if args.mutual {
        server_cfg = server_cfg.with_appraiser(appraiser.clone());
        client_cfg = client_cfg
            .with_attester(Arc::new(SimAttester::new(world.instances[1].clone())))
            .map_err(Failure::input)?;
    }
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let (mut s, client_ear) = net::accept(&tls, tcp, &server_cfg)
            .await
            .map_err(std::io::Error::other)?;
        crate::demo::echo_until_eof(&mut s).await?;
        Ok::<_, std::io::Error>(client_ear)
    });

    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(Failure::input)?;
    let client_tls = net::tls::client_config().map_err(Failure::input)?;
    let (mut c, ear) = net::connect(&client_tls, "atls-server", tcp, &client_cfg)
        .await
        .map_err(|e| Failure::refused(format!("attested connection failed: {e}")))?;
    let ear = ear.ok_or_else(|| Failure::refused("the server was not appraised"))?;
    show("client appraised the server:", "server", &ear, args.json);
    let msg = DEMO_MESSAGE;
    c.write_all(msg).await.map_err(Failure::input)?;
    c.flush().await.map_err(Failure::input)?;
    let mut back = vec![0u8; msg.len()];
    c.read_exact(&mut back).await.map_err(Failure::input)?;
    if !args.json {
        outln!(
            "\napplication data echoed after attestation: {:?}",
            String::from_utf8_lossy(&back)
        );
    }
    let again = c
        .reattest()
        .await
        .map_err(|e| Failure::refused(format!("re-attestation failed: {e}")))?;
    if args.json {
        json_line(serde_json::json!({ "event": "reattested", "appraised": "server", "ear": again }));
    } else {
        outln!(
            "re-attestation on the same connection: {} (new binder {})",
            again.status,
            binder_prefix(again.eat_nonce.as_ref().map(ToString::to_string))
        );
    }
    c.shutdown().await.map_err(Failure::input)?;
    drop(c);
    let client_ear = server.await.map_err(Failure::input)?.map_err(Failure::input)?;
    if let Some(ce) = client_ear {
        show("\nserver appraised the client:", "client", &ce, args.json);
    }

    // Fail closed: a genuine simulated TEE running other code is refused.
    let other = unapproved_instance(&world)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(Failure::input)?;
    let addr = listener.local_addr().map_err(Failure::input)?;
    let tls = server_tls()?;
    let server_cfg = AttestationConfig::attester(Arc::new(SimAttester::new(other))).map_err(Failure::input)?;
    let srv = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        net::accept(&tls, tcp, &server_cfg)
            .await
            .map(|_| ())
            .map_err(std::io::Error::other)
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(Failure::input)?;
    match net::connect(&client_tls, "atls-server", tcp, &AttestationConfig::verifier(appraiser)).await {
        Ok(_) => {
            return Err(Failure::refused(
                "BUG: a server with an unknown measurement was accepted",
            ))
        }
        Err(e) => {
            if args.json {
                json_line(serde_json::json!({ "event": "refused", "appraised": "server", "reason": e.to_string() }));
            } else {
                outln!("\na server running unapproved code is refused:\n  client: {e}");
            }
        }
    }
    if let Ok(Err(e)) = srv.await {
        if !args.json {
            outln!("  server: {e}");
        }
    }
    Ok(0)
}

/// The start of an EAR's binder for display: its first 16 characters and
/// "...", the whole of a shorter one, or "(none)" when the EAR carries none.
/// Never slices past the end (the EAR comes from the peer's appraisal).
fn binder_prefix(nonce: Option<String>) -> String {
    match nonce {
        None => "(none)".into(),
        Some(n) => match n.get(..16) {
            Some(head) if n.len() > 16 => format!("{head}..."),
            _ => n,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::binder_prefix;

    /// Guards the re-attestation line of `atls demo`: an EAR without
    /// `eat_nonce` (or with a short one) used to panic on `[..16]`.
    #[test]
    fn binder_prefix_never_panics() {
        assert_eq!(binder_prefix(None), "(none)");
        assert_eq!(binder_prefix(Some("abcd".into())), "abcd");
        assert_eq!(
            binder_prefix(Some("0123456789abcdef0123".into())),
            "0123456789abcdef..."
        );
    }
}
