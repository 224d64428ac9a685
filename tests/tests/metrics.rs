//! The Prometheus endpoint of a running agent: `dns-xdp run` in one namespace with
//! `[metrics] listen` and a health-checked pool whose member is a real HTTP backend in the
//! other; queries through the fast path and the fallback; then `GET /metrics` from inside the
//! server namespace, parsed line by line and checked against what was sent.
//!
//! Needs root (BPF, network namespaces) and dig (`cargo xtask setup` installs it).

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    thread,
    time::{Duration, Instant, SystemTime},
};

use dns_xdp_tests::{
    agent::Agent,
    backend::Backend,
    metrics,
    netns::{require_root, Topology},
};

const METRICS: &str = "127.0.0.1:9153";

/// The fixture zone's serial.
const SERIAL: &str = "2026112801";

/// Health-check interval and fall of the test config.
const INTERVAL: Duration = Duration::from_secs(1);
const FALL: u32 = 2;

/// One sample of the exposition: its labels in order, and its value.
#[derive(Debug)]
struct Sample {
    labels: Vec<(String, String)>,
    value: f64,
}

/// The text exposition format (0.0.4), checked strictly: every line is a `# HELP`, a `# TYPE`
/// declared before its family's samples, or `name{label="value",...} value`. Returns the
/// samples by metric name.
fn parse_exposition(text: &str) -> HashMap<String, Vec<Sample>> {
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut samples: HashMap<String, Vec<Sample>> = HashMap::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name, rest) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("comment without a name: {line:?}"));
            assert!(valid_name(name), "metric name in {line:?}");
            match kind {
                Some("HELP") => assert!(rest.is_some_and(|h| !h.is_empty()), "{line:?}"),
                Some("TYPE") => {
                    let kind = rest.unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line:?}"
                    );
                    assert!(
                        typed.insert(name.to_string(), kind.to_string()).is_none(),
                        "TYPE of {name} given twice"
                    );
                }
                _ => panic!("a comment that is neither HELP nor TYPE: {line:?}"),
            }
            continue;
        }
        assert!(!line.is_empty(), "empty line in the exposition:\n{text}");
        let (name, labels, value) = parse_sample(line);
        assert!(
            typed.contains_key(&name),
            "{name} has samples but no TYPE before them"
        );
        if typed[&name] == "counter" {
            assert!(name.ends_with("_total"), "counter {name} without _total");
        }
        samples
            .entry(name)
            .or_default()
            .push(Sample { labels, value });
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{labels} value`, with label values' escapes (`\\`, `\"`, `\n`) undone.
fn parse_sample(line: &str) -> (String, Vec<(String, String)>, f64) {
    let bad = |why: &str| -> ! { panic!("not `name{{labels}} value` ({why}): {line:?}") };
    let Some(name_end) = line.find(['{', ' ']) else {
        bad("no value")
    };
    let name = &line[..name_end];
    if !valid_name(name) {
        bad("metric name");
    }
    let mut labels = Vec::new();
    let mut rest = &line[name_end..];
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let Some(eq) = inner.find('=') else {
                bad("label without =")
            };
            let label = &inner[..eq];
            if !valid_name(label) || label.contains(':') {
                bad("label name");
            }
            let mut chars = inner[eq + 1..].char_indices();
            if chars.next().map(|(_, c)| c) != Some('"') {
                bad("unquoted label value");
            }
            let mut value = String::new();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, 'n')) => value.push('\n'),
                        Some((_, c @ ('\\' | '"'))) => value.push(c),
                        _ => bad("escape"),
                    },
                    Some((at, '"')) => break eq + 1 + at + 1,
                    Some((_, c)) => value.push(c),
                    None => bad("unterminated label value"),
                }
            };
            labels.push((label.to_string(), value));
            inner = &inner[end..];
            inner = inner.strip_prefix(',').unwrap_or(inner);
        }
    }
    let Some(value) = rest.strip_prefix(' ') else {
        bad("no space before the value")
    };
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => match v.parse() {
            Ok(v) => v,
            Err(_) => bad("value"),
        },
    };
    (name.to_string(), labels, value)
}

/// `GET /metrics` from inside the server namespace: the status line, the headers and the body.
fn scrape(topology: &Topology) -> (String, String) {
    metrics::get(&topology.server_ns, METRICS)
}

/// The value of `name` with exactly these labels (in any order).
fn value(samples: &HashMap<String, Vec<Sample>>, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples.get(name).and_then(|all| {
        all.iter().find(|s| {
            s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
    });
    found
        .unwrap_or_else(|| panic!("no {name}{labels:?} in {:?}", samples.get(name)))
        .value
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn metrics_endpoint_reports_both_paths_health_and_publication() {
    if !require_root("metrics_endpoint_reports_both_paths_health_and_publication") {
        return;
    }
    let topology = Topology::create("metrics").expect("topology");
    let mut backend = Backend::http(
        Some(&topology.client_ns),
        SocketAddr::new(topology.client_v4.into(), 80),
    )
    .unwrap();
    let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone");
    let config = format!(
        "[server]\ninterface = \"{interface}\"\nxdp_mode = \"native\"\n\
         listen = [\"{v4}:53\"]\n\n\
         [metrics]\nlisten = \"{METRICS}\"\n\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"{zone}\"\n\n\
         [[check]]\nname = \"web\"\nprotocol = \"http\"\nport = 80\npath = \"/health\"\n\
         interval = \"{interval}ms\"\ntimeout = \"500ms\"\nfall = {FALL}\nrise = 2\n\n\
         [[pool]]\nname = \"app.example.com.\"\ntype = \"A\"\npolicy = \"failover\"\n\
         check = \"web\"\nall_down = \"nodata\"\n\
         [[pool.member]]\naddress = \"{member}\"\n",
        interface = topology.server_if,
        v4 = topology.server_v4,
        zone = zone.display(),
        interval = INTERVAL.as_millis(),
        member = topology.client_v4,
    );
    let started = unix_now();
    let agent = Agent::start_with_config(&topology, &config).expect("agent starts");
    let target = format!("{}:80", topology.client_v4);
    let server = topology.server_v4.to_string();

    // Fast path: A of a zone name and of the pool. Fallback: TXT (a type the fast path passes
    // up), a name that does not exist (a miss), and A over TCP.
    for _ in 0..3 {
        assert_eq!(
            topology.dig(&server, &["+short", "www.example.com", "A"]),
            ["192.0.2.10".to_string()].into()
        );
    }
    assert_eq!(
        topology.dig(&server, &["+short", "app.example.com", "A"]),
        [topology.client_v4.to_string()].into()
    );
    assert_eq!(
        topology
            .dig(&server, &["+short", "txt.example.com", "TXT"])
            .len(),
        1
    );
    topology.dig(&server, &["nosuch.example.com", "A"]);
    assert_eq!(
        topology.dig(&server, &["+short", "+tcp", "www.example.com", "A"]),
        ["192.0.2.10".to_string()].into()
    );

    let (head, body) = scrape(&topology);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let samples = parse_exposition(&body);
    let fast = |outcome: &str| {
        value(
            &samples,
            "dns_xdp_fast_path_packets_total",
            &[("outcome", outcome)],
        )
    };
    // dig may retry, so at least: every query sent was counted once at least.
    assert!(fast("answered_v4") >= 4.0, "{body}");
    assert_eq!(fast("answered_v6"), 0.0, "{body}");
    assert!(fast("pass_qtype") >= 1.0, "TXT passed up: {body}");
    assert!(fast("pass_miss") >= 1.0, "nosuch passed up: {body}");
    // Every outcome is there, answered or not.
    assert!(
        samples["dns_xdp_fast_path_packets_total"].len() > 10,
        "{body}"
    );

    let fallback = |transport: &str, rcode: &str| {
        value(
            &samples,
            "dns_xdp_fallback_responses_total",
            &[("transport", transport), ("rcode", rcode)],
        )
    };
    assert!(fallback("udp", "NOERROR") >= 1.0, "{body}");
    assert!(fallback("udp", "NXDOMAIN") >= 1.0, "{body}");
    assert!(fallback("tcp", "NOERROR") >= 1.0, "{body}");
    let queries = |transport: &str, qtype: &str| {
        value(
            &samples,
            "dns_xdp_fallback_queries_total",
            &[("transport", transport), ("qtype", qtype)],
        )
    };
    assert!(queries("udp", "TXT") >= 1.0, "{body}");
    assert!(queries("udp", "A") >= 1.0, "{body}");
    assert!(queries("tcp", "A") >= 1.0, "{body}");

    let health = [("target", target.as_str()), ("check", "web")];
    assert_eq!(value(&samples, "dns_xdp_health_up", &health), 1.0, "{body}");
    let took = value(&samples, "dns_xdp_health_check_duration_seconds", &health);
    assert!(took > 0.0 && took < 0.5, "check duration {took}: {body}");
    let checked = value(
        &samples,
        "dns_xdp_health_last_check_timestamp_seconds",
        &health,
    );
    assert!(checked >= started && checked <= unix_now(), "{body}");
    let alive = value(
        &samples,
        "dns_xdp_health_checker_last_activity_timestamp_seconds",
        &[],
    );
    assert!(alive >= started && alive <= unix_now(), "{body}");

    let generation = value(&samples, "dns_xdp_publish_generation", &[]);
    assert!(generation >= 1.0, "{body}");
    let published = value(&samples, "dns_xdp_last_publish_timestamp_seconds", &[]);
    assert!(published >= started && published <= unix_now(), "{body}");
    assert_eq!(
        value(&samples, "dns_xdp_zone_serial", &[("zone", "example.com.")]),
        SERIAL.parse::<f64>().unwrap(),
        "{body}"
    );

    // The member goes down: the endpoint says so, and a publication (in place, the same
    // generation) happened after the first.
    backend.stop();
    let deadline = Instant::now() + INTERVAL * (FALL + 2) + Duration::from_secs(2);
    loop {
        let (_, body) = scrape(&topology);
        if value(&parse_exposition(&body), "dns_xdp_health_up", &health) == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{target} still up after the backend stopped: {body}\nagent log:\n{}",
            agent.stderr()
        );
        thread::sleep(Duration::from_millis(200));
    }
    // The publication follows the state change on the agent's loop.
    thread::sleep(Duration::from_millis(300));
    let (_, body) = scrape(&topology);
    let after = parse_exposition(&body);
    assert_eq!(
        value(&after, "dns_xdp_publish_generation", &[]),
        generation,
        "health changes update the live generation in place: {body}"
    );
    assert!(
        value(&after, "dns_xdp_last_publish_timestamp_seconds", &[]) > published,
        "{body}"
    );
    assert!(
        topology
            .dig(&server, &["+short", "app.example.com", "A"])
            .is_empty(),
        "all_down = nodata once the only member is down"
    );
}

#[test]
fn the_exposition_parser_rejects_what_prometheus_would() {
    let good = "# HELP a_total Things.\n# TYPE a_total counter\n\
                a_total{x=\"1\",y=\"q\\\"uote\\\\ \\n\"} 3\n\
                # TYPE b gauge\nb 1.5e3\nb{z=\"\"} NaN\n";
    let samples = parse_exposition(good);
    assert_eq!(samples["a_total"][0].labels[1].1, "q\"uote\\ \n");
    assert_eq!(samples["b"][0].value, 1500.0);
    for bad in [
        "a 1\n",                                 // no TYPE
        "# TYPE a gauge\na{x=1} 1\n",            // unquoted label value
        "# TYPE a gauge\na{x=\"1\"}1\n",         // no space before the value
        "# TYPE a gauge\na one\n",               // not a number
        "# TYPE a gauge\n1a 1\n",                // bad name
        "# TYPE a counter\na 1\n",               // counter without _total
        "# TYPE a gauge\n# TYPE a gauge\na 1\n", // TYPE twice
        "# TYPE a gauge\na{x=\"1\\t\"} 1\n",     // unknown escape
        "# TYPE a gauge\n\na 1\n",               // empty line
    ] {
        let result = std::panic::catch_unwind(|| parse_exposition(bad));
        assert!(result.is_err(), "accepted {bad:?}");
    }
}
