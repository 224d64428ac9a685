//! Traffic steering end to end: `dns-xdp run` in one namespace, real HTTP and HTTPS backends
//! (test-made certificate) and the clients in another, answers checked through the XDP fast
//! path (UDP, counted) and the fallback (TCP).
//!
//! Needs root (BPF, network namespaces) and dig/kdig (`cargo xtask setup` installs them).

use std::{
    collections::{BTreeSet, HashMap},
    net::{SocketAddr, UdpSocket},
    path::Path,
    thread,
    time::{Duration, Instant},
};

use dns_xdp_tests::{
    agent::Agent,
    backend::{Backend, TestCa},
    netns::{in_netns, require_root, Topology},
    scratch::ScratchDir,
};
use hickory_proto::{
    op::{Message, Query},
    rr::{Name, RData, RecordType},
};

const ZONE: &str = "\
$ORIGIN example.com.
$TTL 300
@       IN SOA  ns1 hostmaster 1 3600 600 86400 60
@       IN NS   ns1
ns1     IN A    192.0.2.53
www     IN A    192.0.2.80
";

/// Health-check interval and thresholds of the test config.
const INTERVAL: Duration = Duration::from_secs(1);
const FALL: u32 = 3;
const RISE: u32 = 2;

/// Backends live in the client namespace on these addresses; clients of two regions too.
const PRIMARY: &str = "192.0.2.10";
const SECONDARY: &str = "192.0.2.11";
const EU_CLIENT: &str = "198.51.100.5";
const NA_CLIENT: &str = "198.51.100.200";
const ASIA_CLIENT: &str = "203.0.113.5";

struct Setup {
    topology: Topology,
    agent: Agent,
    primary: Backend,
    _secondary: Backend,
    _scratch: ScratchDir,
}

/// Starts backends and the agent with `pools` (TOML) after the common sections.
fn setup(tag: &str, pools: &str) -> Setup {
    let topology = Topology::create(tag).expect("topology");
    for addr in [PRIMARY, SECONDARY, EU_CLIENT, NA_CLIENT, ASIA_CLIENT] {
        topology.add_client_address(addr).unwrap();
    }
    let scratch = ScratchDir::new(tag);
    let ca = TestCa::new().unwrap();
    let ca_file = scratch.path().join("ca.pem");
    ca.write_pem(&ca_file).unwrap();
    let primary = Backend::http(
        Some(&topology.client_ns),
        SocketAddr::new(PRIMARY.parse().unwrap(), 80),
    )
    .unwrap();
    let secondary = Backend::https(
        Some(&topology.client_ns),
        SocketAddr::new(SECONDARY.parse().unwrap(), 443),
        &ca,
        "app.example.com",
    )
    .unwrap();
    let zone_file = scratch.path().join("example.com.zone");
    std::fs::write(&zone_file, ZONE).unwrap();
    let geo = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/geo/test-country.mmdb");
    let config = format!(
        "[server]\ninterface = \"{interface}\"\nxdp_mode = \"native\"\n\
         listen = [\"{v4}:53\", \"[{v6}]:53\"]\n\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"{zone}\"\n\n\
         [[check]]\nname = \"web\"\nprotocol = \"http\"\nport = 80\npath = \"/health\"\n\
         interval = \"{interval}ms\"\ntimeout = \"400ms\"\nfall = {FALL}\nrise = {RISE}\n\n\
         [[check]]\nname = \"tls\"\nprotocol = \"https\"\nport = 443\npath = \"/health\"\n\
         host = \"app.example.com\"\nca_file = \"{ca}\"\n\
         interval = \"{interval}ms\"\ntimeout = \"400ms\"\nfall = {FALL}\nrise = {RISE}\n\n\
         [geo]\ndatabase = \"{geo}\"\n\n\
         [[region]]\nname = \"eu\"\ncidrs = [\"198.51.100.0/25\"]\nfallback = [\"na\"]\n\n\
         [[region]]\nname = \"na\"\ncidrs = [\"198.51.100.128/25\"]\n\n\
         [[region]]\nname = \"asia\"\ncontinents = [\"Asia\"]\n\n\
         {pools}",
        interface = topology.server_if,
        v4 = topology.server_v4,
        v6 = topology.server_v6,
        zone = zone_file.display(),
        interval = INTERVAL.as_millis(),
        ca = ca_file.display(),
        geo = geo.display(),
    );
    let agent = Agent::start_with_config(&topology, &config).expect("agent starts");
    Setup {
        topology,
        agent,
        primary,
        _secondary: secondary,
        _scratch: scratch,
    }
}

fn answered(agent: &Agent) -> u64 {
    let stats = agent.stats().expect("stats");
    stats["answered_v4"].as_u64().unwrap() + stats["answered_v6"].as_u64().unwrap()
}

/// `name` A from `source`, over UDP (the fast path) or TCP (the fallback).
fn dig(topology: &Topology, source: &str, name: &str, tcp: bool) -> BTreeSet<String> {
    let mut args = vec!["-b", source, "+short", name, "A"];
    if tcp {
        args.push("+tcp");
    }
    topology.dig(&topology.server_v4.to_string(), &args)
}

fn set(addrs: &[&str]) -> BTreeSet<String> {
    addrs.iter().map(|a| a.to_string()).collect()
}

/// The answer is `want` from the fast path (the answered counter grows by exactly one) and
/// from the fallback.
fn assert_both_paths(s: &Setup, source: &str, name: &str, want: &[&str], when: &str) {
    let before = answered(&s.agent);
    assert_eq!(
        dig(&s.topology, source, name, false),
        set(want),
        "fast path, {when}"
    );
    assert_eq!(answered(&s.agent), before + 1, "XDP answered it, {when}");
    assert_eq!(
        dig(&s.topology, source, name, true),
        set(want),
        "fallback, {when}"
    );
}

/// Polls until `name` from `source` answers `want` over UDP; returns how long it took.
fn wait_for(s: &Setup, source: &str, name: &str, want: &[&str], limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if dig(&s.topology, source, name, false) == set(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{name} from {source} did not become {want:?} within {limit:?}; agent log:\n{}",
            s.agent.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

const FAILOVER_POOL: &str = "\
[[pool]]
name = \"app.example.com.\"
type = \"A\"
policy = \"failover\"
ttl = 30
  [[pool.member]]
  address = \"192.0.2.10\"
  check = \"web\"
  [[pool.member]]
  address = \"192.0.2.11\"
  check = \"tls\"
";

#[test]
fn failover_switches_within_the_thresholds_and_returns_after_rise() {
    if !require_root("failover_switches_within_the_thresholds_and_returns_after_rise") {
        return;
    }
    let mut s = setup("failover", FAILOVER_POOL);
    let client = s.topology.client_v4.to_string();
    assert_both_paths(&s, &client, "app.example.com", &[PRIMARY], "at start");

    // Flapping inside the thresholds: fewer than FALL failures in a row change nothing.
    s.primary.set_status(503);
    let flap_end = Instant::now() + INTERVAL * (FALL - 1) - Duration::from_millis(300);
    while Instant::now() < flap_end {
        assert_eq!(
            dig(&s.topology, &client, "app.example.com", false),
            set(&[PRIMARY]),
            "a short flap must not fail over"
        );
        thread::sleep(Duration::from_millis(100));
    }
    s.primary.set_status(200);
    thread::sleep(INTERVAL * 2);
    assert_both_paths(&s, &client, "app.example.com", &[PRIMARY], "after a flap");
    assert!(
        !s.agent
            .stderr()
            .contains("app.example.com. A: 192.0.2.10 → 192.0.2.11"),
        "the flap changed the answer: {}",
        s.agent.stderr()
    );

    // Stopped: down after FALL failures; the issue allows interval × fall plus one interval.
    s.primary.stop();
    let took = wait_for(
        &s,
        &client,
        "app.example.com",
        &[SECONDARY],
        INTERVAL * (FALL + 1) + Duration::from_secs(2),
    );
    eprintln!("failover took {took:?}");
    assert!(
        took <= INTERVAL * (FALL + 1) + Duration::from_millis(500),
        "failover took {took:?}"
    );
    assert_both_paths(
        &s,
        &client,
        "app.example.com",
        &[SECONDARY],
        "after failover",
    );
    let log = s.agent.stderr();
    assert!(
        log.contains("192.0.2.10") && log.contains("connect refused"),
        "the log names the check and its result: {log}"
    );

    // Back after RISE successes.
    s.primary.start().unwrap();
    let took = wait_for(
        &s,
        &client,
        "app.example.com",
        &[PRIMARY],
        INTERVAL * (RISE + 1) + Duration::from_secs(2),
    );
    eprintln!("failback took {took:?}");
    assert_both_paths(&s, &client, "app.example.com", &[PRIMARY], "after failback");
}

const GEO_POOL: &str = "\
[[pool]]
name = \"geo.example.com.\"
type = \"A\"
policy = \"geo\"
ttl = 60
default_region = \"na\"
  [[pool.member]]
  address = \"192.0.2.10\"
  region = \"eu\"
  check = \"web\"
  [[pool.member]]
  address = \"192.0.2.11\"
  region = \"na\"
  check = \"tls\"
  [[pool.member]]
  address = \"192.0.2.12\"
  region = \"asia\"
";

#[test]
fn geo_answers_by_client_region_in_the_fast_path_and_falls_back_to_the_next_region() {
    if !require_root(
        "geo_answers_by_client_region_in_the_fast_path_and_falls_back_to_the_next_region",
    ) {
        return;
    }
    let mut s = setup("geo", GEO_POOL);
    let name = "geo.example.com";
    // Config CIDRs, the mmdb (203.0.113.0/24 is JP, Asia), and no region (the default: NA).
    assert_both_paths(&s, EU_CLIENT, name, &["192.0.2.10"], "EU client");
    assert_both_paths(&s, NA_CLIENT, name, &["192.0.2.11"], "NA client");
    assert_both_paths(
        &s,
        ASIA_CLIENT,
        name,
        &["192.0.2.12"],
        "Asian client (mmdb)",
    );
    let client = s.topology.client_v4.to_string();
    assert_both_paths(&s, &client, name, &["192.0.2.11"], "client in no region");

    // EDNS Client Subnet: a resolver outside every region asks for an EU and an Asian subnet;
    // the answer is the subnet's region, with the scope echoed.
    for (subnet, want, echo) in [
        ("198.51.100.0/25", "192.0.2.10", "198.51.100.0/25/25"),
        ("203.0.113.0/24", "192.0.2.12", "203.0.113.0/24/24"),
    ] {
        let out = s
            .topology
            .exec(
                &s.topology.client_ns,
                "kdig",
                &[
                    &format!("@{}", s.topology.server_v4),
                    &format!("+subnet={subnet}"),
                    "+retry=0",
                    "+timeout=2",
                    name,
                    "A",
                ],
            )
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let answer: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{name}.")))
            .collect();
        assert!(
            answer.len() == 1 && answer[0].ends_with(want),
            "ECS {subnet}: {text}"
        );
        assert!(
            text.contains(&format!("CLIENT-SUBNET: {echo}")),
            "ECS {subnet} echoed as {echo}: {text}"
        );
    }

    // Every EU member down: EU clients get the next region's (NA) answer.
    s.primary.stop();
    wait_for(
        &s,
        EU_CLIENT,
        name,
        &["192.0.2.11"],
        INTERVAL * (FALL + 1) + Duration::from_secs(2),
    );
    assert_both_paths(&s, EU_CLIENT, name, &["192.0.2.11"], "EU down → NA");
    assert_both_paths(&s, ASIA_CLIENT, name, &["192.0.2.12"], "Asia unaffected");
}

const WEIGHTED_POOL: &str = "\
[[pool]]
name = \"lb.example.com.\"
type = \"A\"
policy = \"weighted\"
  [[pool.member]]
  address = \"192.0.2.30\"
  weight = 1
  [[pool.member]]
  address = \"192.0.2.31\"
  weight = 3
";

/// Sends `count` queries for `name` A over UDP from the client namespace, one at a time, and
/// counts the answers by address.
fn tally(topology: &Topology, name: &str, count: usize) -> HashMap<String, usize> {
    let server = SocketAddr::new(topology.server_v4.into(), 53);
    let client = topology.client_v4;
    in_netns(&topology.client_ns, move || {
        let socket = UdpSocket::bind((client, 0)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut query = Message::query();
        query.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        let mut tally = HashMap::new();
        let mut buf = [0u8; 512];
        for id in 0..count {
            query.metadata.id = id as u16;
            socket.send_to(&query.to_vec().unwrap(), server).unwrap();
            let len = socket.recv(&mut buf).expect("an answer");
            let reply = Message::from_vec(&buf[..len]).unwrap();
            assert_eq!(reply.metadata.id, id as u16);
            let addrs: Vec<String> = reply
                .answers
                .iter()
                .map(|r| match &r.data {
                    RData::A(a) => a.0.to_string(),
                    other => panic!("not an A record: {other:?}"),
                })
                .collect();
            assert_eq!(addrs.len(), 1, "one address per answer: {addrs:?}");
            *tally.entry(addrs[0].clone()).or_insert(0) += 1;
        }
        tally
    })
    .unwrap()
}

#[test]
fn weighted_shares_over_ten_thousand_answers_match_the_weights() {
    if !require_root("weighted_shares_over_ten_thousand_answers_match_the_weights") {
        return;
    }
    let s = setup("weighted", WEIGHTED_POOL);
    let before = answered(&s.agent);
    let tally = tally(&s.topology, "lb.example.com.", 10_000);
    assert_eq!(
        answered(&s.agent) - before,
        10_000,
        "the fast path answered every query"
    );
    let share = |addr: &str| tally.get(addr).copied().unwrap_or(0) as f64 / 100.0;
    eprintln!("weighted shares: {tally:?}");
    assert!((share("192.0.2.30") - 25.0).abs() <= 2.0, "{tally:?}");
    assert!((share("192.0.2.31") - 75.0).abs() <= 2.0, "{tally:?}");
}
