//! ALIAS: `[[alias]]` names answer with the addresses of their targets on both paths, the XDP
//! fast path and the fallback. An external target is resolved through an upstream (here Knot,
//! authoritative for example.net., in the agent's namespace on 192.0.2.53), refreshed when its
//! TTL runs out, and its last good answer kept when the upstream goes away; a target in our own
//! zone is resolved from it.
//!
//! Needs root (BPF, network namespaces), dig and knotd (`cargo xtask setup` installs them).

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
    thread,
    time::{Duration, Instant},
};

use dns_xdp_tests::{
    agent::{Agent, Reload},
    knot::{Knot, KnotZone},
    netns::{require_root, Topology},
    scratch::{write_atomically, ScratchDir},
};

const UPSTREAM: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);

const OUR_ZONE: &str = "\
$ORIGIN example.com.
$TTL 300
@       IN SOA   ns1 hostmaster 1 3600 600 86400 60
@       IN NS    ns1
@       IN MX    10 www
ns1     IN A     192.0.2.1
www     IN A     192.0.2.10
www     IN AAAA  2001:db8::10
web  60 IN CNAME www
";

/// example.net. as the upstream serves it, with `lb` at `address` (TTL 2).
fn upstream_zone(serial: u32, address: &str) -> String {
    format!(
        "$ORIGIN example.net.\n$TTL 300\n\
         @   IN SOA ns1 hostmaster {serial} 3600 600 86400 60\n\
         @   IN NS  ns1\n\
         ns1 IN A   {UPSTREAM}\n\
         lb  2 IN A {address}\n"
    )
}

/// dig against the agent's IPv4 address from the client namespace: the answer lines.
fn dig(topology: &Topology, args: &[&str]) -> BTreeSet<String> {
    topology.dig(&topology.server_v4.to_string(), args)
}

fn short(topology: &Topology, name: &str, rtype: &str, tcp: bool) -> BTreeSet<String> {
    let mut args = vec![name, rtype, "+short"];
    if tcp {
        args.push("+tcp");
    }
    dig(topology, &args)
}

fn answered(agent: &Agent) -> u64 {
    let stats = agent.stats().expect("stats");
    ["answered_v4", "answered_v6"]
        .iter()
        .map(|name| {
            stats[name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name} in {stats}"))
        })
        .sum()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// `name rtype` is `want` from the fast path (its answered counter grows by one) and from the
/// fallback (over TCP).
fn assert_serves(topology: &Topology, agent: &Agent, name: &str, rtype: &str, want: &[&str]) {
    let want = set(want);
    let before = answered(agent);
    assert_eq!(
        short(topology, name, rtype, false),
        want,
        "{name} {rtype} fast path"
    );
    assert_eq!(
        answered(agent),
        before + 1,
        "the fast path answered {name} {rtype}"
    );
    assert_eq!(
        short(topology, name, rtype, true),
        want,
        "{name} {rtype} fallback"
    );
}

#[test]
fn alias_serves_flattened_addresses_refreshes_them_and_keeps_the_last_good_answer() {
    if !require_root(
        "alias_serves_flattened_addresses_refreshes_them_and_keeps_the_last_good_answer",
    ) {
        return;
    }
    let topology = Topology::create("alias").expect("topology");
    let scratch = ScratchDir::new("alias-serve");
    let upstream_file = scratch.path().join("example.net.zone");
    write_atomically(&upstream_file, &upstream_zone(1, "198.51.100.7"));
    let added = topology
        .exec(
            &topology.server_ns,
            "ip",
            &[
                "addr",
                "add",
                &format!("{UPSTREAM}/32"),
                "dev",
                &topology.server_if,
            ],
        )
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let mut knot = Knot::start(
        &topology.server_ns,
        &[IpAddr::V4(UPSTREAM)],
        &[KnotZone::new("example.net.", &upstream_file)],
    )
    .expect("knotd starts");

    let zone_file = scratch.path().join("example.com.zone");
    write_atomically(&zone_file, OUR_ZONE);
    let config = format!(
        "[server]\ninterface = \"{}\"\nxdp_mode = \"native\"\nlisten = [\"{}:53\", \"[{}]:53\"]\n\
         upstream = [\"{UPSTREAM}:53\"]\n\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n\n\
         [[alias]]\nname = \"example.com.\"\ntarget = \"lb.example.net.\"\n\n\
         [[alias]]\nname = \"app.example.com.\"\ntarget = \"web.example.com.\"\n",
        topology.server_if,
        topology.server_v4,
        topology.server_v6,
        zone_file.display()
    );
    let mut agent = Agent::start_with_config(&topology, &config).expect("agent starts");

    // Resolved before serving: the apex answers with the upstream's address on both paths,
    // with the TTL clamped up to 30 s; the target has no AAAA, so neither has the apex.
    assert_serves(&topology, &agent, "example.com", "A", &["198.51.100.7"]);
    let full = dig(&topology, &["example.com", "A", "+noall", "+answer"]);
    assert_eq!(
        full,
        set(&["example.com.\t\t30\tIN\tA\t198.51.100.7"]),
        "TTL clamped"
    );
    let nodata = dig(&topology, &["example.com", "AAAA"]);
    assert!(
        nodata.iter().any(|l| l.contains("status: NOERROR"))
            && nodata.iter().any(|l| l.contains("ANSWER: 0")),
        "NODATA for AAAA: {nodata:?}"
    );
    // The apex keeps the rest of its data.
    assert_eq!(
        short(&topology, "example.com", "MX", false),
        set(&["10 www.example.com."])
    );

    // The local alias follows our own CNAME, with its TTL.
    assert_serves(&topology, &agent, "app.example.com", "A", &["192.0.2.10"]);
    assert_serves(
        &topology,
        &agent,
        "app.example.com",
        "AAAA",
        &["2001:db8::10"],
    );
    let full = dig(&topology, &["app.example.com", "AAAA", "+noall", "+answer"]);
    assert_eq!(full, set(&["app.example.com.\t60\tIN\tAAAA\t2001:db8::10"]));

    // The upstream changes its answer: within the (clamped) TTL and a refresh, both paths
    // serve the new address.
    write_atomically(&upstream_file, &upstream_zone(2, "198.51.100.8"));
    knot.knotc(&["zone-reload", "example.net."])
        .expect("knotc zone-reload");
    let deadline = Instant::now() + Duration::from_secs(45);
    while short(&topology, "example.com", "A", false) != set(&["198.51.100.8"]) {
        assert!(
            Instant::now() < deadline,
            "the new upstream address is not served after 45 s; agent log:\n{}",
            agent.stderr()
        );
        thread::sleep(Duration::from_millis(500));
    }
    assert!(
        agent
            .stderr()
            .contains("ALIAS target lb.example.net.: A 198.51.100.8"),
        "{}",
        agent.stderr()
    );
    assert_serves(&topology, &agent, "example.com", "A", &["198.51.100.8"]);

    // The upstream goes away. A reload resolves the target again at once: that fails, and
    // both paths keep the last good answer.
    knot.stop().expect("knotd stops");
    let logged_before = agent.stderr().len();
    match agent.reload().expect("reload") {
        Reload::Applied { .. } => {}
        Reload::Refused { log } => panic!("reload refused:\n{log}"),
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !agent.stderr()[logged_before..].contains("keeping the last good answer") {
        assert!(
            Instant::now() < deadline,
            "no failed refresh logged; agent log:\n{}",
            agent.stderr()
        );
        thread::sleep(Duration::from_millis(100));
    }
    assert_serves(&topology, &agent, "example.com", "A", &["198.51.100.8"]);
    assert_serves(&topology, &agent, "app.example.com", "A", &["192.0.2.10"]);

    let status = agent.stop().expect("agent stops");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn alias_config_errors_stop_the_agent_naming_the_key() {
    if !require_root("alias_config_errors_stop_the_agent_naming_the_key") {
        return;
    }
    let topology = Topology::create("aliaserr").expect("topology");
    let scratch = ScratchDir::new("alias-errors");
    let zone_file = scratch.path().join("errors.zone");
    write_atomically(&zone_file, OUR_ZONE);
    let base = format!(
        "[server]\ninterface = \"{}\"\nxdp_mode = \"off\"\nlisten = [\"{}:53\"]\n\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n\n",
        topology.server_if,
        topology.server_v4,
        zone_file.display()
    );
    for (alias, expected) in [
        (
            "[[alias]]\nname = \"example.com.\"\ntarget = \"lb.example.net.\"\n",
            "[server] upstream",
        ),
        (
            "[[alias]]\nname = \"www.example.com.\"\ntarget = \"web.example.com.\"\n",
            "[[alias]] name = \"www.example.com.\"",
        ),
    ] {
        let exit = Agent::run_to_exit(&topology, &format!("{base}{alias}")).expect("agent runs");
        assert!(!exit.status.success(), "refused: {alias}");
        assert!(
            exit.stderr.contains(expected),
            "{expected} in:\n{}",
            exit.stderr
        );
    }
}
