//! The Prometheus endpoint (`[metrics] listen`): `GET /metrics` returns the text exposition
//! format (version 0.0.4) of the fast path's counters, the fallback's queries, the health
//! checks, the last publication and the zones' serials. Everything is read when scraped; the
//! agent only records what happens at a publication.

use std::{
    fmt::Write as _,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

use crate::{fallback::query_stats::QueryStats, fastpath::counters::Counters};

/// One health-check target as the endpoint shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetHealth {
    /// The member address and port checked.
    pub target: String,
    /// The check's name in the config.
    pub check: String,
    /// None until the first check completes.
    pub up: Option<bool>,
    pub latency: Option<Duration>,
    pub last_check: Option<SystemTime>,
}

/// What the health checker reports at scrape time.
pub type HealthSource = Box<dyn Fn() -> (Vec<TargetHealth>, Option<SystemTime>) + Send + Sync>;

/// What the agent records when it publishes.
#[derive(Default)]
struct Published {
    generation: u32,
    at: Option<SystemTime>,
    /// (zone origin, SOA serial)
    serials: Vec<(String, u32)>,
}

pub struct Metrics {
    /// Where the fast path's maps are pinned; None with XDP off.
    pin_dir: Option<PathBuf>,
    fallback: Arc<QueryStats>,
    health: Mutex<Option<HealthSource>>,
    published: Mutex<Published>,
}

impl Metrics {
    pub fn new(pin_dir: Option<PathBuf>, fallback: Arc<QueryStats>) -> Self {
        Self {
            pin_dir,
            fallback,
            health: Mutex::new(None),
            published: Mutex::default(),
        }
    }

    pub fn set_health_source(&self, source: HealthSource) {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) = Some(source);
    }

    /// Records a publication: the fast path's generation (0 with XDP off) and the zones'
    /// serials.
    pub fn published(&self, generation: u32, serials: Vec<(String, u32)>) {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *published = Published {
            generation,
            at: Some(SystemTime::now()),
            serials,
        };
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = self
            .pin_dir
            .as_deref()
            .and_then(|dir| Counters::read_pinned(dir).ok());
        if let Some(counters) = counters {
            family(
                &mut out,
                "dns_xdp_fast_path_packets_total",
                "counter",
                "Packets the XDP program handled, by outcome (answered_* or the reason it passed \
                 them up).",
            );
            for (counter, value) in counters.iter() {
                let _ = writeln!(
                    out,
                    "dns_xdp_fast_path_packets_total{{outcome=\"{}\"}} {value}",
                    counter.name()
                );
            }
        }

        family(
            &mut out,
            "dns_xdp_fallback_responses_total",
            "counter",
            "Responses the fallback server sent, by transport and response code.",
        );
        for (transport, rcode, n) in self.fallback.responses() {
            let _ = writeln!(
                out,
                "dns_xdp_fallback_responses_total{{transport=\"{transport}\",rcode=\"{rcode}\"}} {n}"
            );
        }
        family(
            &mut out,
            "dns_xdp_fallback_queries_total",
            "counter",
            "Queries the fallback server answered, by transport and query type.",
        );
        for (transport, qtype, n) in self.fallback.queries() {
            let _ = writeln!(
                out,
                "dns_xdp_fallback_queries_total{{transport=\"{transport}\",qtype=\"{qtype}\"}} {n}"
            );
        }

        render_fallback_faults(&mut out, &self.fallback);
        render_tcp(&mut out, &self.fallback);

        let health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(source) = health.as_ref() {
            let (targets, alive) = source();
            render_health(&mut out, &targets, alive);
        }
        drop(health);

        let published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        family(
            &mut out,
            "dns_xdp_publish_generation",
            "gauge",
            "Generation of the answers live in the fast path (0: XDP off or nothing published).",
        );
        let _ = writeln!(out, "dns_xdp_publish_generation {}", published.generation);
        if let Some(at) = published.at {
            family(
                &mut out,
                "dns_xdp_last_publish_timestamp_seconds",
                "gauge",
                "When answers were last published (a start, reload or health change).",
            );
            let _ = writeln!(
                out,
                "dns_xdp_last_publish_timestamp_seconds {}",
                unix_seconds(at)
            );
        }
        family(
            &mut out,
            "dns_xdp_zone_serial",
            "gauge",
            "SOA serial of each zone being served.",
        );
        for (zone, serial) in &published.serials {
            let _ = writeln!(
                out,
                "dns_xdp_zone_serial{{zone=\"{}\"}} {serial}",
                escape(zone)
            );
        }
        out
    }
}

/// What went wrong in the fallback server, every series listed from the start (at 0), so an
/// alert on its increase sees the first one.
fn render_fallback_faults(out: &mut String, stats: &QueryStats) {
    family(
        out,
        "dns_xdp_fallback_malformed_total",
        "counter",
        "Queries the fallback server could not make sense of, by transport and what it sent \
         (formerr, or none for a message shorter than a header).",
    );
    for (transport, reply, n) in stats.malformed_counts() {
        let _ = writeln!(
            out,
            "dns_xdp_fallback_malformed_total{{transport=\"{transport}\",reply=\"{reply}\"}} {n}"
        );
    }
    family(
        out,
        "dns_xdp_fallback_dropped_total",
        "counter",
        "Messages the fallback server dropped unanswered, by transport and reason (response: \
         QR=1; source_port: from UDP port 0, 7, 13, 19 or 37).",
    );
    for (transport, reason, n) in stats.dropped_counts() {
        let _ = writeln!(
            out,
            "dns_xdp_fallback_dropped_total{{transport=\"{transport}\",reason=\"{reason}\"}} {n}"
        );
    }
    family(
        out,
        "dns_xdp_fallback_panics_total",
        "counter",
        "Panics the fallback server caught, by transport: a query answered SERVFAIL, or a \
         serving thread, accept loop or connection ended. Any is a bug: see the error log.",
    );
    for (transport, n) in stats.panic_counts() {
        let _ = writeln!(
            out,
            "dns_xdp_fallback_panics_total{{transport=\"{transport}\"}} {n}"
        );
    }
    family(
        out,
        "dns_xdp_fallback_restarts_total",
        "counter",
        "Serving threads (udp) and accept loops (tcp) of the fallback server restarted after \
         they ended.",
    );
    for (transport, n) in stats.restart_counts() {
        let _ = writeln!(
            out,
            "dns_xdp_fallback_restarts_total{{transport=\"{transport}\"}} {n}"
        );
    }
    family(
        out,
        "dns_xdp_fallback_socket_errors_total",
        "counter",
        "Failed socket operations of the fallback server, by transport and operation.",
    );
    for (transport, op, n) in stats.socket_error_counts() {
        let _ = writeln!(
            out,
            "dns_xdp_fallback_socket_errors_total{{transport=\"{transport}\",op=\"{op}\"}} {n}"
        );
    }
}

/// The fallback's TCP connections: how many are open, and what the limits did to them.
fn render_tcp(out: &mut String, stats: &QueryStats) {
    let (accepted, refused, open) = stats.tcp_connections();
    family(
        out,
        "dns_xdp_fallback_tcp_connections",
        "gauge",
        "TCP connections the fallback server has open.",
    );
    let _ = writeln!(out, "dns_xdp_fallback_tcp_connections {open}");
    family(
        out,
        "dns_xdp_fallback_tcp_accepted_total",
        "counter",
        "TCP connections the fallback server accepted, refused ones included.",
    );
    let _ = writeln!(out, "dns_xdp_fallback_tcp_accepted_total {accepted}");
    family(
        out,
        "dns_xdp_fallback_tcp_refused_total",
        "counter",
        "TCP connections closed as soon as accepted: their source had \
         tcp_max_connections_per_source open, none of them idle.",
    );
    let _ = writeln!(out, "dns_xdp_fallback_tcp_refused_total {refused}");
    family(
        out,
        "dns_xdp_fallback_tcp_closed_total",
        "counter",
        "TCP connections the fallback server closed, by reason: idle_timeout, evicted_idle and \
         evicted_stuck (to make room for a new one), read_timeout, write_timeout, query_limit.",
    );
    for (reason, n) in stats.tcp_closed_counts() {
        let _ = writeln!(
            out,
            "dns_xdp_fallback_tcp_closed_total{{reason=\"{reason}\"}} {n}"
        );
    }
}

fn render_health(out: &mut String, targets: &[TargetHealth], alive: Option<SystemTime>) {
    if let Some(alive) = alive {
        family(
            out,
            "dns_xdp_health_checker_last_activity_timestamp_seconds",
            "gauge",
            "When the health checker last completed a probe: its own liveness.",
        );
        let _ = writeln!(
            out,
            "dns_xdp_health_checker_last_activity_timestamp_seconds {}",
            unix_seconds(alive)
        );
    }
    family(
        out,
        "dns_xdp_health_up",
        "gauge",
        "1 if the target is healthy, 0 if down; absent until its first check completes.",
    );
    let labels = |t: &TargetHealth| {
        format!(
            "target=\"{}\",check=\"{}\"",
            escape(&t.target),
            escape(&t.check)
        )
    };
    for t in targets {
        if let Some(up) = t.up {
            let _ = writeln!(out, "dns_xdp_health_up{{{}}} {}", labels(t), u8::from(up));
        }
    }
    family(
        out,
        "dns_xdp_health_check_duration_seconds",
        "gauge",
        "How long the target's last check took.",
    );
    for t in targets {
        if let Some(latency) = t.latency {
            let _ = writeln!(
                out,
                "dns_xdp_health_check_duration_seconds{{{}}} {}",
                labels(t),
                latency.as_secs_f64()
            );
        }
    }
    family(
        out,
        "dns_xdp_health_last_check_timestamp_seconds",
        "gauge",
        "When the target was last checked.",
    );
    for t in targets {
        if let Some(at) = t.last_check {
            let _ = writeln!(
                out,
                "dns_xdp_health_last_check_timestamp_seconds{{{}}} {}",
                labels(t),
                unix_seconds(at)
            );
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Binds the endpoint; a busy or forbidden address fails the start with a clear error.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen for metrics on {addr}: {e} (change [metrics] listen)"),
        )
    })
}

/// Serves scrapes until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &metrics).await {
                log::debug!("metrics request from {peer}: {e}");
            }
        });
    }
}

const MAX_REQUEST: usize = 8192;

/// One request per connection: enough for Prometheus, curl and a browser.
async fn answer(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request timed out"))??;
    let line = String::from_utf8_lossy(request.split(|b| *b == b'\r').next().unwrap_or(&[]));
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "dns-xdp serves metrics at /metrics\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fallback::query_stats::{Dropped, Malformed, SocketOp, TcpClose};
    use crate::fallback::responder::Transport;

    #[test]
    fn exposition_names_labels_and_values() {
        let stats = Arc::new(QueryStats::default());
        stats.record(
            Transport::Udp,
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x0f\x00\x01",
            &[0x12, 0x34, 0x84, 0x03],
        );
        stats.malformed(Transport::Udp, Malformed::Formerr);
        stats.dropped(Transport::Udp, Dropped::SourcePort);
        stats.panicked(Transport::Tcp);
        stats.socket_error(Transport::Udp, SocketOp::Receive);
        stats.tcp_accepted(true);
        stats.tcp_closed(TcpClose::WriteTimeout);
        stats.set_tcp_open(3);
        let metrics = Metrics::new(None, stats);
        metrics.published(7, vec![("example.com.".into(), 2026112801)]);
        metrics.set_health_source(Box::new(|| {
            (
                vec![
                    TargetHealth {
                        target: "192.0.2.10:443".into(),
                        check: "web".into(),
                        up: Some(true),
                        latency: Some(Duration::from_millis(12)),
                        last_check: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100)),
                    },
                    TargetHealth {
                        target: "192.0.2.11:443".into(),
                        check: "web".into(),
                        up: None,
                        latency: None,
                        last_check: None,
                    },
                ],
                Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100)),
            )
        }));
        let text = metrics.render();
        for line in [
            "dns_xdp_fallback_responses_total{transport=\"udp\",rcode=\"NXDOMAIN\"} 1",
            "dns_xdp_fallback_queries_total{transport=\"udp\",qtype=\"MX\"} 1",
            "dns_xdp_health_up{target=\"192.0.2.10:443\",check=\"web\"} 1",
            "dns_xdp_health_check_duration_seconds{target=\"192.0.2.10:443\",check=\"web\"} 0.012",
            "dns_xdp_health_last_check_timestamp_seconds{target=\"192.0.2.10:443\",check=\"web\"} 100",
            "dns_xdp_health_checker_last_activity_timestamp_seconds 100",
            "dns_xdp_publish_generation 7",
            "dns_xdp_zone_serial{zone=\"example.com.\"} 2026112801",
            "# TYPE dns_xdp_fallback_responses_total counter",
            "dns_xdp_fallback_malformed_total{transport=\"udp\",reply=\"formerr\"} 1",
            "dns_xdp_fallback_malformed_total{transport=\"tcp\",reply=\"none\"} 0",
            "dns_xdp_fallback_dropped_total{transport=\"udp\",reason=\"source_port\"} 1",
            "dns_xdp_fallback_dropped_total{transport=\"tcp\",reason=\"response\"} 0",
            "dns_xdp_fallback_panics_total{transport=\"tcp\"} 1",
            "dns_xdp_fallback_panics_total{transport=\"udp\"} 0",
            "dns_xdp_fallback_restarts_total{transport=\"udp\"} 0",
            "dns_xdp_fallback_socket_errors_total{transport=\"udp\",op=\"receive\"} 1",
            "dns_xdp_fallback_socket_errors_total{transport=\"tcp\",op=\"accept\"} 0",
            "# TYPE dns_xdp_fallback_panics_total counter",
            "dns_xdp_fallback_tcp_connections 3",
            "dns_xdp_fallback_tcp_accepted_total 1",
            "dns_xdp_fallback_tcp_refused_total 1",
            "dns_xdp_fallback_tcp_closed_total{reason=\"write_timeout\"} 1",
            "dns_xdp_fallback_tcp_closed_total{reason=\"idle_timeout\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("192.0.2.11:443\",check=\"web\"} "), "{text}");
    }

    #[tokio::test]
    async fn serves_get_metrics_over_http() {
        let metrics = Arc::new(Metrics::new(None, Arc::default()));
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, metrics));
        let get = |path: &'static str| async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream
                .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.unwrap();
            reply
        };
        let ok = get("/metrics").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("dns_xdp_publish_generation 0"), "{ok}");
        assert!(get("/").await.starts_with("HTTP/1.1 404"));
        server.abort();
    }
}
