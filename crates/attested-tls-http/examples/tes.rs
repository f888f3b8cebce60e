//! A GA4GH TES-style task service in a (simulated) TEE, and a client that
//! calls it over attested TLS, both in one process.
//!
//! ```sh
//! cargo run -p attested-tls-http --example tes
//! # or with the files of `atls sim init --dir sim`:
//! cargo run -p attested-tls-http --example tes -- --sim-dir sim
//! # the same service and calls through `atls proxy` (both sides, in process):
//! cargo run -p attested-tls-http --example tes -- --via-proxy
//! ```
//!
//! The server attests with a simulated TEE instance and requires the
//! client to attest too (mutual); creating a task requires an attested
//! client (the `PeerAttestation` extractor) and records who created it.
//! The client appraises the server before any request leaves, prints the
//! server's attestation result (from the response extensions), creates
//! two tasks and lists them. See docs/http.md.
//!
//! With `--via-proxy` the same service runs as a plain HTTP backend behind
//! the server side of `atls proxy` (`--backend-protocol http`), which
//! attests, appraises the client and tells the backend in `atls-peer-*`
//! headers; the client is a plain HTTP client (no attestation code) talking
//! to the client side of `atls proxy`, which appraises the server before it
//! forwards a byte. Both proxy sides run in this process through the
//! `attested-tls-proxy` library, exactly as `atls proxy server|client` do.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use attested_tls::net::{self, AttestationConfig};
use attested_tls::policy::Policy;
use attested_tls::sim::{self, SimAttester, SimInstance};
use attested_tls::verifier::Appraiser;
use attested_tls_http::{find_net_error, AttestedConnector, AttestedServer, PeerAttestation};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;
type HttpClient = Client<AttestedConnector, Full<Bytes>>;

const TES: &str = "/ga4gh/tes/v1";

// ---- the service (runs in the TEE) ----

/// The tasks the service holds (in memory).
#[derive(Default)]
struct Tasks {
    next_id: u64,
    tasks: Vec<Value>,
}

type Store = Arc<Mutex<Tasks>>;

fn tes_router() -> Router {
    Router::new()
        .route(&format!("{TES}/service-info"), get(service_info))
        .route(&format!("{TES}/tasks"), get(list_tasks).post(create_task))
        .with_state(Store::default())
}

async fn service_info() -> Json<Value> {
    Json(json!({
        "id": "org.example.attested-tes",
        "name": "attested TES (simulated TEE)",
        "type": { "group": "org.ga4gh", "artifact": "tes", "version": "1.1.0" },
        "organization": { "name": "attested-tls example", "url": "https://example.invalid" },
        "version": env!("CARGO_PKG_VERSION"),
        "storage": [],
    }))
}

/// `GET /tasks`: the MINIMAL view (id and state) of every task.
async fn list_tasks(State(store): State<Store>) -> Json<Value> {
    let tasks = store.lock().expect("store lock");
    let minimal: Vec<Value> = tasks
        .tasks
        .iter()
        .map(|t| json!({ "id": t["id"], "state": t["state"] }))
        .collect();
    Json(json!({ "tasks": minimal }))
}

/// `POST /tasks`: only an attested client may create a task (403
/// otherwise, from the extractor); its instance and measurement are
/// recorded in the task's tags.
async fn create_task(
    State(store): State<Store>,
    client: PeerAttestation,
    Json(mut task): Json<Value>,
) -> Result<Json<Value>, (StatusCode, String)> {
    if task["executors"].as_array().is_none_or(|e| e.is_empty()) {
        return Err((StatusCode::BAD_REQUEST, "a task needs at least one executor\n".into()));
    }
    let mut tasks = store.lock().expect("store lock");
    tasks.next_id += 1;
    let id = format!("task-{}", tasks.next_id);
    task["id"] = json!(id);
    task["state"] = json!("QUEUED");
    task["tags"]["attested_creator_instance_id"] = json!(client.claim("instance_id"));
    task["tags"]["attested_creator_measurement"] = json!(client.claim("measurement"));
    tasks.tasks.push(task);
    Ok(Json(json!({ "id": id })))
}

/// `POST /tasks` behind `atls proxy`: the attestation of the client comes
/// in the `atls-peer-*` headers the server side of the proxy sets (after
/// removing any a client sent), so the backend must be reachable only
/// through the proxy (here: loopback).
async fn create_task_behind_proxy(
    State(store): State<Store>,
    headers: http::HeaderMap,
    Json(mut task): Json<Value>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if header(attested_tls_proxy::http::STATUS).as_deref() != Some("affirming") {
        return Err((
            StatusCode::FORBIDDEN,
            "only an attested client may create a task\n".into(),
        ));
    }
    if task["executors"].as_array().is_none_or(|e| e.is_empty()) {
        return Err((StatusCode::BAD_REQUEST, "a task needs at least one executor\n".into()));
    }
    let mut tasks = store.lock().expect("store lock");
    tasks.next_id += 1;
    let id = format!("task-{}", tasks.next_id);
    task["id"] = json!(id);
    task["state"] = json!("QUEUED");
    task["tags"]["attested_creator_measurement"] = json!(header(attested_tls_proxy::http::MEASUREMENT));
    tasks.tasks.push(task);
    Ok(Json(json!({ "id": id })))
}

/// The same service as a plain HTTP backend for the server side of the proxy.
fn tes_router_behind_proxy() -> Router {
    Router::new()
        .route(&format!("{TES}/service-info"), get(service_info))
        .route(&format!("{TES}/tasks"), get(list_tasks).post(create_task_behind_proxy))
        .with_state(Store::default())
}

// ---- the world: an ephemeral simulated TEE, or `atls sim init` files ----

struct World {
    server: SimInstance,
    client: SimInstance,
    server_policy: Appraiser,
    client_policy: Appraiser,
}

fn world(sim_dir: Option<PathBuf>) -> Result<World, Error> {
    match sim_dir {
        None => {
            let w = sim::ephemeral_world(2)?;
            Ok(World {
                server: w.instances[0].clone(),
                client: w.instances[1].clone(),
                server_policy: w.appraiser("tes-servers"),
                client_policy: w.appraiser("tes-clients"),
            })
        }
        Some(dir) => {
            let policy = Policy::load(&dir.join("policy.toml"))?.appraiser()?;
            Ok(World {
                server: SimInstance::load(&dir.join("instance-0.toml"))?,
                client: SimInstance::load(&dir.join("instance-1.toml"))?,
                server_policy: policy.clone(),
                client_policy: policy,
            })
        }
    }
}

// ---- the client ----

async fn call<C>(
    client: &Client<C, Full<Bytes>>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> Result<(Value, Option<PeerAttestation>), Error>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let mut request = http::Request::builder().method(method).uri(uri);
    let body = match body {
        Some(v) => {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
            Full::new(Bytes::from(v.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    let response = client.request(request.body(body)?).await.map_err(|e| {
        // A refused server: show why (the EAR's refusal), not hyper's summary.
        match find_net_error(&e) {
            Some(n) => Error::from(format!("{uri}: {n}")),
            None => Error::from(e),
        }
    })?;
    let status = response.status();
    let server = response.extensions().get::<PeerAttestation>().cloned();
    let bytes = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        return Err(format!("{method} {uri}: {status}: {}", String::from_utf8_lossy(&bytes)).into());
    }
    Ok((serde_json::from_slice(&bytes)?, server))
}

/// Calls the service: service-info, two task creations, the task list.
/// Through the library the server's attestation result comes with each
/// response and is printed; through the client side of the proxy the
/// client sees plain HTTP (the proxy appraised the server before
/// forwarding any byte).
async fn run_client<C>(client: &Client<C, Full<Bytes>>, base: &str, attested_responses: bool) -> Result<(), Error>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let (info, server) = call(client, "GET", &format!("{base}{TES}/service-info"), None).await?;
    if attested_responses {
        let server = server.ok_or("the response carries no attestation result")?;
        let ear = server.ear();
        println!("server attestation: {}", ear.status);
        for (name, a) in &ear.submods {
            println!("  [{name}] {} (policy {})", a.status, a.policy_ids.join(", "));
        }
        for claim in ["measurement", "instance_id"] {
            println!("  {claim:<12} {}", server.claim(claim).unwrap_or_default());
        }
    }
    println!(
        "service-info: {} ({} {} {})",
        info["name"].as_str().unwrap_or("?"),
        info["type"]["group"].as_str().unwrap_or("?"),
        info["type"]["artifact"].as_str().unwrap_or("?"),
        info["type"]["version"].as_str().unwrap_or("?"),
    );
    for (name, command) in [
        ("hello", vec!["echo", "hello"]),
        ("checksum", vec!["sha256sum", "/data/in"]),
    ] {
        let task = json!({
            "name": name,
            "executors": [{ "image": "alpine:3", "command": command }],
        });
        let (created, _) = call(client, "POST", &format!("{base}{TES}/tasks"), Some(task)).await?;
        println!("created task {} ({name})", created["id"].as_str().unwrap_or("?"));
    }
    let (list, _) = call(client, "GET", &format!("{base}{TES}/tasks"), None).await?;
    println!("tasks:");
    for t in list["tasks"].as_array().map(Vec::as_slice).unwrap_or_default() {
        println!(
            "  {}  {}",
            t["id"].as_str().unwrap_or("?"),
            t["state"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mut sim_dir = None;
    let mut via_proxy = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sim-dir" => sim_dir = Some(PathBuf::from(args.next().ok_or("--sim-dir needs a directory")?)),
            "--via-proxy" => via_proxy = true,
            other => {
                return Err(format!("unknown argument {other:?} (usage: tes [--sim-dir DIR] [--via-proxy])").into())
            }
        }
    }
    let world = world(sim_dir)?;
    if via_proxy {
        return through_proxy(world).await;
    }

    // The service, in the simulated TEE: attests to every client and
    // requires each client to attest.
    let server_att =
        AttestationConfig::attester(Arc::new(SimAttester::new(world.server)))?.with_appraiser(world.client_policy);
    let (cert, key) = net::tls::self_signed_server_identity("localhost")?;
    let server = AttestedServer::new(net::tls::server_config(vec![cert], key)?, server_att)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("https://localhost:{}", listener.local_addr()?.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve_with_shutdown(listener, tes_router(), async {
        let _ = stopped.await;
    }));
    println!("TES service in a simulated TEE at {base}{TES} (attested TLS, mutual)");

    // The client: appraises the server before any request, attests itself.
    let client_att =
        AttestationConfig::verifier(world.server_policy).with_attester(Arc::new(SimAttester::new(world.client)))?;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(AttestedConnector::new(client_att)?);
    let outcome = run_client(&client, &base, true).await;

    drop(client); // closes the pooled connection, so shutdown does not wait for it
    let _ = stop.send(());
    serving.await??;
    outcome
}

/// The same service and calls through `atls proxy`: a plain HTTP backend
/// behind the server side (which attests and requires the client to
/// attest), and a plain HTTP client in front of the client side (which
/// attests and requires the server to attest).
async fn through_proxy(world: World) -> Result<(), Error> {
    use attested_tls_proxy::{BackendProtocol, ClientProxy, ProxyConfig, ServerProxy};

    // The backend: plain HTTP on loopback, reachable only through the proxy.
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let backend_addr = backend.local_addr()?;
    let backend_task = tokio::spawn(async move { axum::serve(backend, tes_router_behind_proxy()).await });

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    // `atls proxy server --backend ADDR --backend-protocol http --attester sim ... --policy ...`
    let server_att =
        AttestationConfig::attester(Arc::new(SimAttester::new(world.server)))?.with_appraiser(world.client_policy);
    let mut server = ServerProxy::with_attestation(
        ProxyConfig {
            backend: Some(backend_addr.to_string()),
            backend_protocol: BackendProtocol::Http,
            ..ProxyConfig::default()
        },
        server_att,
    )?;
    let server_addr = server.bind().await?;
    let server_task = tokio::spawn(server.run(shutdown(stopped.clone())));
    println!("TES backend {backend_addr} behind the server side of atls proxy at {server_addr} (attested TLS, mutual)");

    // `atls proxy client --upstream ADDR --policy ... --attester sim ...`
    let client_att =
        AttestationConfig::verifier(world.server_policy).with_attester(Arc::new(SimAttester::new(world.client)))?;
    let mut client_proxy = ClientProxy::with_attestation(
        ProxyConfig {
            upstream: Some(server_addr.to_string()),
            ..ProxyConfig::default()
        },
        client_att,
    )?;
    let local = client_proxy.bind().await?;
    let client_task = tokio::spawn(client_proxy.run(shutdown(stopped)));
    let base = format!("http://{local}");
    println!("client side of atls proxy at {base}: a plain HTTP client calls it");

    // A plain HTTP client: no attestation code at all.
    let client: Client<_, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(hyper_util::client::legacy::connect::HttpConnector::new());
    let outcome = run_client(&client, &base, false).await;

    drop(client);
    let _ = stop.send(true);
    client_task.await??;
    server_task.await??;
    backend_task.abort();
    outcome
}
