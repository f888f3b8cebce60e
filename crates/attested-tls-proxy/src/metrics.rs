//! A small Prometheus registry (text exposition format 0.0.4) and the
//! `/metrics` endpoint. Names in `docs/proxy.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Which side of the proxy a figure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// `atls proxy server`: terminates attested TLS.
    Server,
    /// `atls proxy client`: opens attested connections upstream.
    Client,
}

impl Side {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
        }
    }
}

/// Latency histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Latency {
    /// The TLS handshake.
    Handshake,
    /// The initial attestation exchange.
    Attestation,
    /// Reaching the backend (server side) or the upstream server (client
    /// side, TCP connect only).
    Connect,
}

impl Latency {
    fn name(self) -> &'static str {
        match self {
            Self::Handshake => "atls_proxy_handshake_seconds",
            Self::Attestation => "atls_proxy_attestation_seconds",
            Self::Connect => "atls_proxy_connect_seconds",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Handshake => "TLS handshake latency.",
            Self::Attestation => "Initial attestation exchange latency (after the handshake).",
            Self::Connect => "TCP connect latency to the backend (server side) or upstream (client side).",
        }
    }
}

/// Histogram bucket bounds, in seconds.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Registry {
    /// (name, labels) → value.
    counters: BTreeMap<(&'static str, Labels), u64>,
    gauges: BTreeMap<(&'static str, Labels), i64>,
    histograms: BTreeMap<(Latency, &'static str), Histogram>,
}

/// The counters, gauges and histograms of one proxy (shared handle; clones
/// count into the same registry).
#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<Registry>>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

const HELP: [(&str, &str, &str); 6] = [
    (
        "atls_proxy_connections_total",
        "counter",
        "Connections by side and result (accepted, refused, failed, over_limit, backend_failed).",
    ),
    (
        "atls_proxy_active_connections",
        "gauge",
        "Connections being handled now.",
    ),
    (
        "atls_proxy_appraisals_total",
        "counter",
        "Initial attestation exchanges by result (accepted, refused) and reason.",
    ),
    (
        "atls_proxy_reattestations_total",
        "counter",
        "Re-attestations of live connections by result (accepted, refused).",
    ),
    (
        "atls_proxy_bytes_total",
        "counter",
        "Application bytes relayed, by direction (in: from the attested peer; out: to it).",
    ),
    (
        "atls_proxy_shutdown_closed_total",
        "counter",
        "Connections closed because the drain timeout expired.",
    ),
];

impl Metrics {
    /// A new, empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves plain numbers: still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, name: &'static str, labels: Labels, n: u64) {
        *self.lock().counters.entry((name, labels)).or_default() += n;
    }

    /// Counts a connection's result.
    pub fn connection(&self, side: Side, result: &str) {
        self.add(
            "atls_proxy_connections_total",
            vec![("side", side.as_str().into()), ("result", result.into())],
            1,
        );
    }

    /// Counts an initial appraisal.
    pub fn appraisal(&self, side: Side, result: &str, reason: &str) {
        self.add(
            "atls_proxy_appraisals_total",
            vec![
                ("side", side.as_str().into()),
                ("result", result.into()),
                ("reason", reason.into()),
            ],
            1,
        );
    }

    /// Counts a re-attestation.
    pub fn reattestation(&self, side: Side, result: &str) {
        self.add(
            "atls_proxy_reattestations_total",
            vec![("side", side.as_str().into()), ("result", result.into())],
            1,
        );
    }

    /// Counts relayed bytes; `direction` is `in` (from the attested peer)
    /// or `out` (to it).
    pub fn bytes(&self, side: Side, direction: &'static str, n: u64) {
        self.add(
            "atls_proxy_bytes_total",
            vec![("side", side.as_str().into()), ("direction", direction.into())],
            n,
        );
    }

    /// Counts a connection closed at the end of the drain.
    pub fn shutdown_closed(&self, side: Side) {
        self.add(
            "atls_proxy_shutdown_closed_total",
            vec![("side", side.as_str().into())],
            1,
        );
    }

    /// Records a latency.
    pub fn observe(&self, latency: Latency, side: Side, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let mut r = self.lock();
        let h = r.histograms.entry((latency, side.as_str())).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// One more active connection, until the guard is dropped.
    pub fn active(&self, side: Side) -> ActiveGuard {
        *self
            .lock()
            .gauges
            .entry(("atls_proxy_active_connections", vec![("side", side.as_str().into())]))
            .or_default() += 1;
        ActiveGuard {
            metrics: self.clone(),
            side,
        }
    }

    /// A counter's value (0 if never counted), for tests and load tools:
    /// `labels` in the order they are shown.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.lock()
            .counters
            .iter()
            .find(|((n, l), _)| {
                *n == name && l.len() == labels.len() && l.iter().zip(labels).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
            })
            .map_or(0, |(_, v)| *v)
    }

    /// Connections being handled now on `side`.
    pub fn active_connections(&self, side: Side) -> i64 {
        self.lock()
            .gauges
            .get(&("atls_proxy_active_connections", vec![("side", side.as_str().into())]))
            .copied()
            .unwrap_or(0)
    }

    /// The text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        let r = self.lock();
        let mut out = String::new();
        let labels = |l: &Labels| {
            let inner: Vec<String> = l
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}=\"{}\"",
                        v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(","))
        };
        for (name, kind, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            if kind == "counter" {
                for ((n, l), v) in r.counters.iter().filter(|((n, _), _)| *n == name) {
                    let _ = writeln!(out, "{n}{} {v}", labels(l));
                }
            } else {
                for ((n, l), v) in r.gauges.iter().filter(|((n, _), _)| *n == name) {
                    let _ = writeln!(out, "{n}{} {v}", labels(l));
                }
            }
        }
        for lat in [Latency::Handshake, Latency::Attestation, Latency::Connect] {
            let name = lat.name();
            let _ = writeln!(out, "# HELP {name} {}\n# TYPE {name} histogram", lat.help());
            for ((_, side), h) in r.histograms.iter().filter(|((l, _), _)| *l == lat) {
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "{name}_bucket{{side=\"{side}\",le=\"{b}\"}} {}", h.counts[i]);
                }
                let _ = writeln!(out, "{name}_bucket{{side=\"{side}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{name}_sum{{side=\"{side}\"}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{side=\"{side}\"}} {}", h.count);
            }
        }
        out
    }

    /// Serves `GET /metrics` on `listener` (HTTP/1.x, one request per
    /// connection) until `shutdown` completes. Any other path is 404.
    pub async fn serve(self, listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let (mut tcp, _) = tokio::select! {
                () = &mut shutdown => return,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let metrics = self.clone();
            tokio::spawn(async move {
                // The request head: at most 8 KiB, within 5 s.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                let read = async {
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                        let n = tcp.read(&mut buf).await?;
                        if n == 0 {
                            break;
                        }
                        head.extend_from_slice(&buf[..n]);
                    }
                    Ok::<_, std::io::Error>(())
                };
                if !matches!(
                    tokio::time::timeout(std::time::Duration::from_secs(5), read).await,
                    Ok(Ok(()))
                ) {
                    return;
                }
                let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
                let line = String::from_utf8_lossy(line);
                let mut parts = line.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let path = path.split('?').next().unwrap_or("");
                let (status, ctype, body) = if method == "GET" && path == "/metrics" {
                    ("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics.render())
                } else {
                    (
                        "404 Not Found",
                        "text/plain; charset=utf-8",
                        "not found: try /metrics\n".to_string(),
                    )
                };
                let resp = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tcp.write_all(resp.as_bytes()).await;
                let _ = tcp.shutdown().await;
            });
        }
    }
}

/// Holds one place in `atls_proxy_active_connections`.
#[derive(Debug)]
pub struct ActiveGuard {
    metrics: Metrics,
    side: Side,
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        *self
            .metrics
            .lock()
            .gauges
            .entry((
                "atls_proxy_active_connections",
                vec![("side", self.side.as_str().into())],
            ))
            .or_default() -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_exposition_format() {
        let m = Metrics::new();
        m.connection(Side::Server, "accepted");
        m.connection(Side::Server, "accepted");
        m.appraisal(Side::Client, "refused", "policy");
        m.observe(Latency::Handshake, Side::Server, std::time::Duration::from_millis(3));
        let g = m.active(Side::Server);
        let text = m.render();
        assert!(text.contains("# TYPE atls_proxy_connections_total counter\n"), "{text}");
        assert!(text.contains("atls_proxy_connections_total{side=\"server\",result=\"accepted\"} 2\n"));
        assert!(text.contains("atls_proxy_appraisals_total{side=\"client\",result=\"refused\",reason=\"policy\"} 1\n"));
        assert!(text.contains("atls_proxy_active_connections{side=\"server\"} 1\n"));
        assert!(text.contains("atls_proxy_handshake_seconds_bucket{side=\"server\",le=\"0.0025\"} 0\n"));
        assert!(text.contains("atls_proxy_handshake_seconds_bucket{side=\"server\",le=\"0.005\"} 1\n"));
        assert!(text.contains("atls_proxy_handshake_seconds_count{side=\"server\"} 1\n"));
        drop(g);
        assert_eq!(m.active_connections(Side::Server), 0);
        assert_eq!(
            m.counter(
                "atls_proxy_connections_total",
                &[("side", "server"), ("result", "accepted")]
            ),
            2
        );
    }
}
