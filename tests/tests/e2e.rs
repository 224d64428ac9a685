//! End to end: `dns-xdp run` in one network namespace with XDP on its veth end, real clients
//! (dig, kdig, a hickory-proto client, raw tagged frames) in the other. Every answer is checked,
//! and the fast-path counters must show that the fast path, not the fallback, answered the hot
//! queries.
//!
//! Needs root (BPF, network namespaces) and dig/kdig (`cargo xtask setup` installs them).

use std::{
    collections::BTreeSet,
    net::{IpAddr, SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    time::Duration,
};

use dns_xdp_tests::{
    agent::Agent,
    netns::{in_netns, require_root, RawSocket, Topology},
    packet::{parse_reply, Frame, Opt, Query, Reply, TPID_8021AD, TPID_8021Q},
};
use hickory_proto::op::{Message, ResponseCode};

fn fixture_zone() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone")
}

/// Runs a client tool in the client namespace and returns its stdout.
fn client(topology: &Topology, program: &str, args: &[&str]) -> String {
    let output = topology
        .exec(&topology.client_ns, program, args)
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn counter(stats: &serde_json::Value, name: &str) -> u64 {
    stats[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter {name} in {stats}"))
}

/// The next DNS reply `raw` receives, within 5 s of asking `what`.
fn dns_reply(raw: &RawSocket, what: &str) -> Reply {
    loop {
        let got = raw
            .recv(Duration::from_secs(5))
            .unwrap()
            .unwrap_or_else(|| panic!("no reply to {what}"));
        if let Ok(reply) = parse_reply(&got) {
            if reply.src_port == 53 {
                return reply;
            }
        }
    }
}

fn xdp_attached(topology: &Topology) -> bool {
    let out = topology
        .exec(
            &topology.server_ns,
            "ip",
            &["link", "show", "dev", &topology.server_if],
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
}

#[test]
fn fast_path_answers_real_clients_and_the_fallback_the_rest() {
    if !require_root("fast_path_answers_real_clients_and_the_fallback_the_rest") {
        return;
    }
    let topology = Topology::create("e2e").expect("topology");
    let mut agent = Agent::start(&topology, &fixture_zone(), "native").expect("agent starts");
    assert!(
        xdp_attached(&topology),
        "XDP program attached to {}",
        topology.server_if
    );
    let v4 = format!("@{}", topology.server_v4);
    let v6 = format!("@{}", topology.server_v6);

    // dig sends EDNS with a COOKIE and AD=1 by default: the fast path answers those too.
    let www = client(
        &topology,
        "dig",
        &[&v4, "www.example.com", "A", "+short", "+tries=1"],
    );
    assert_eq!(lines(&www), set(&["192.0.2.10"]));
    let v6_answer = client(
        &topology,
        "dig",
        &[&v6, "v6.example.com", "AAAA", "+short", "+tries=1"],
    );
    assert_eq!(
        lines(&v6_answer),
        set(&["2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8::4"])
    );
    let multi = client(
        &topology,
        "kdig",
        &[&v4, "multi.example.com", "A", "+short", "+retry=0"],
    );
    assert_eq!(
        lines(&multi),
        set(&["192.0.2.21", "192.0.2.22", "192.0.2.23"])
    );
    let full = client(
        &topology,
        "dig",
        &[&v4, "WwW.ExAmPlE.cOm", "A", "+tries=1", "+nocookie"],
    );
    assert!(full.contains("flags: qr aa rd;"), "flags in:\n{full}");
    assert!(
        full.contains(";WwW.ExAmPlE.cOm.\t\tIN\tA"),
        "question echoed with its case:\n{full}"
    );
    assert!(
        full.contains("WwW.ExAmPlE.cOm.\t120\tIN\tA\t192.0.2.10"),
        "answer:\n{full}"
    );

    // A hickory-proto client over IPv6 with EDNS.
    let server = SocketAddr::new(IpAddr::V6(topology.server_v6), 53);
    let query = Query::new("V6.Example.Com.", 28)
        .edns(Opt::new(1232))
        .encode();
    let reply = in_netns(&topology.client_ns, move || {
        let socket = UdpSocket::bind("[::]:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket.send_to(&query, server).unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    })
    .unwrap();
    let message = Message::from_vec(&reply).expect("reply decodes");
    assert_eq!(message.metadata.response_code, ResponseCode::NoError);
    assert!(message.metadata.authoritative);
    assert_eq!(message.queries[0].name().to_string(), "V6.Example.Com.");
    assert_eq!(message.answers.len(), 4);
    assert_eq!(message.edns.as_ref().unwrap().max_payload(), 1232);

    let stats = agent.stats().expect("stats");
    assert_eq!(counter(&stats, "answered_v4"), 3, "{stats}");
    assert_eq!(counter(&stats, "answered_v6"), 2, "{stats}");

    // What the fast path passes up, the fallback answers.
    let mx = client(
        &topology,
        "dig",
        &[&v4, "mail.example.com", "MX", "+short", "+tries=1"],
    );
    assert_eq!(lines(&mx), set(&["10 www.example.com."]));
    let nx = client(
        &topology,
        "dig",
        &[&v6, "nope.example.com", "A", "+tries=1"],
    );
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");
    assert!(
        nx.contains("example.com.\t\t60\tIN\tSOA\tns1.example.com."),
        "SOA in authority:\n{nx}"
    );
    // DO=1 to an unsigned zone: the fast path answers it, the RRset alone with DO echoed.
    let dnssec = client(
        &topology,
        "dig",
        &[&v4, "www.example.com", "A", "+dnssec", "+short", "+tries=1"],
    );
    assert_eq!(lines(&dnssec), set(&["192.0.2.10"]));
    let big = client(
        &topology,
        "dig",
        &[
            &v4,
            "big.example.com",
            "A",
            "+noedns",
            "+tries=1",
            "+ignore",
        ],
    );
    assert!(
        big.contains("flags: qr aa tc rd;"),
        "truncated over UDP without EDNS:\n{big}"
    );
    // Same answer over TCP (the fallback) as over UDP (the fast path).
    let tcp = client(
        &topology,
        "dig",
        &[&v4, "www.example.com", "A", "+tcp", "+short"],
    );
    assert_eq!(lines(&tcp), lines(&www));
    let tcp_big = client(
        &topology,
        "kdig",
        &[&v4, "big.example.com", "A", "+tcp", "+short"],
    );
    assert_eq!(lines(&tcp_big).len(), 31);

    let stats = agent.stats().expect("stats");
    assert_eq!(
        counter(&stats, "answered_v4"),
        4,
        "fallback-only queries stayed out: {stats}"
    );
    assert_eq!(counter(&stats, "pass_qtype"), 1, "{stats}");
    assert_eq!(counter(&stats, "pass_miss"), 1, "{stats}");
    assert_eq!(counter(&stats, "pass_edns"), 0, "{stats}");
    assert_eq!(counter(&stats, "pass_too_big"), 1, "{stats}");
    assert_eq!(counter(&stats, "drop_rewrite"), 0, "{stats}");

    // Tagged frames: the kernel here has no VLAN interfaces, so send them raw.
    let raw = RawSocket::open(&topology.client_ns, &topology.client_if).expect("raw socket");
    for tags in [
        vec![(TPID_8021Q, 100)],
        vec![(TPID_8021AD, 300), (TPID_8021Q, 400)],
    ] {
        let mut frame = Frame::udp(
            IpAddr::V4(topology.client_v4),
            IpAddr::V4(topology.server_v4),
            Query::new("www.example.com.", 1).encode(),
        );
        frame.vlans = tags.clone();
        let mut bytes = frame.encode();
        bytes[..6].copy_from_slice(&topology.server_mac);
        bytes[6..12].copy_from_slice(&topology.client_mac);
        raw.send(&bytes).unwrap();
        let reply = dns_reply(&raw, &format!("a frame tagged {tags:?}"));
        assert_eq!(reply.vlans, tags, "tags kept");
        let message = Message::from_vec(&reply.payload).unwrap();
        assert_eq!(message.answers[0].data.to_string(), "192.0.2.10");
    }
    let stats = agent.stats().expect("stats");
    assert_eq!(counter(&stats, "answered_v4"), 6, "{stats}");

    // A query in a broadcast frame goes up: the kernel's stack answers it from the server's own
    // MAC address, where an answer in place would come from ff:ff:ff:ff:ff:ff.
    let mut frame = Frame::udp(
        IpAddr::V4(topology.client_v4),
        IpAddr::V4(topology.server_v4),
        Query::new("www.example.com.", 1).encode(),
    );
    frame.dst_mac = [0xFF; 6];
    let mut bytes = frame.encode();
    bytes[6..12].copy_from_slice(&topology.client_mac);
    raw.send(&bytes).unwrap();
    let reply = dns_reply(&raw, "a query to the broadcast MAC address");
    assert_eq!(
        (reply.src_mac, reply.dst_mac),
        (topology.server_mac, topology.client_mac),
        "answered from the server's MAC address, to the client's"
    );
    let message = Message::from_vec(&reply.payload).unwrap();
    assert_eq!(message.answers[0].data.to_string(), "192.0.2.10");
    let stats = agent.stats().expect("stats");
    assert_eq!(counter(&stats, "pass_not_unicast"), 1, "{stats}");
    assert_eq!(counter(&stats, "answered_v4"), 6, "not in place: {stats}");

    let status = agent.stop().expect("agent stops");
    assert!(status.success(), "exit status {status}");
    assert!(!xdp_attached(&topology), "XDP detached on SIGTERM");
    assert!(!agent.pin_dir.exists(), "pins removed on SIGTERM");
}

#[test]
fn xdp_off_serves_from_the_fallback_alone() {
    if !require_root("xdp_off_serves_from_the_fallback_alone") {
        return;
    }
    let topology = Topology::create("e2e-off").expect("topology");
    let agent = Agent::start(&topology, &fixture_zone(), "off").expect("agent starts");
    assert!(!xdp_attached(&topology));
    let answer = client(
        &topology,
        "dig",
        &[
            &format!("@{}", topology.server_v4),
            "www.example.com",
            "A",
            "+short",
        ],
    );
    assert_eq!(lines(&answer), set(&["192.0.2.10"]));
    assert!(agent.stats().is_err(), "no counters without XDP");
}

#[test]
fn bad_input_is_refused_clearly_and_leaves_nothing_attached() {
    if !require_root("bad_input_is_refused_clearly_and_leaves_nothing_attached") {
        return;
    }
    let topology = Topology::create("e2e-bad").expect("topology");
    let dir = std::env::temp_dir().join(format!("dns-xdp-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_zone = dir.join("bad.zone");
    std::fs::write(
        &bad_zone,
        "$TTL 60\n@ SOA ns h 1 2 3 4 5\nwww A 192.0.2.300\n@ NS ns\n",
    )
    .unwrap();
    let config = |interface: &str, zone: &Path| {
        format!(
            "[server]\ninterface = \"{interface}\"\nlisten = [\"{}:53\"]\n[[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n",
            topology.server_v4,
            zone.display()
        )
    };
    let cases = [
        (
            config("nosuch0", &fixture_zone()),
            "interface \"nosuch0\" does not exist",
        ),
        (config(&topology.server_if, &bad_zone), "bad.zone:3"),
        (
            config(&topology.server_if, &dir.join("missing.zone")),
            "missing.zone",
        ),
        (
            config(&topology.server_if, &fixture_zone()).replace("listen", "lissen"),
            "lissen",
        ),
    ];
    for (config, expected) in cases {
        let exit = Agent::run_to_exit(&topology, &config).expect("agent runs");
        let (status, stderr) = (exit.status, exit.stderr);
        assert!(!status.success(), "refused: {config}");
        assert!(!exit.left_pins, "no pins left behind: {stderr}");
        assert!(
            stderr.contains(expected),
            "stderr names {expected:?}:\n{stderr}"
        );
        assert!(!xdp_attached(&topology), "nothing attached after: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
