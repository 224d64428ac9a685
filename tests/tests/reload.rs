//! Reload: `dns-xdp reload` (SIGHUP) puts changed zones in service on both paths, the XDP fast
//! path and the fallback; a zone or config that fails to load changes nothing, and the agent
//! keeps serving what it had.
//!
//! Needs root (BPF, network namespaces) and dig (`cargo xtask setup` installs it).

use std::collections::BTreeSet;

use dns_xdp_tests::{
    agent::{Agent, Reload},
    netns::{require_root, Topology},
    scratch::{write_atomically, ScratchDir},
};

const ZONE_HEAD: &str = "\
$ORIGIN example.com.
$TTL 300
@       IN SOA  ns1 hostmaster 1 3600 600 86400 60
@       IN NS   ns1
ns1     IN A    192.0.2.53
www     IN AAAA 2001:db8::10
";

/// The test zone with `www` at `address`, plus `extra` lines (line 7 on).
fn zone(address: &str, extra: &str) -> String {
    format!("{ZONE_HEAD}www     IN A    {address}\n{extra}")
}

/// Runs dig against the server's IPv4 address in the client namespace and returns the
/// `+short` answer lines.
fn dig(topology: &Topology, args: &[&str]) -> BTreeSet<String> {
    dig_at(topology, &topology.server_v4.to_string(), args)
}

fn dig_at(topology: &Topology, server: &str, args: &[&str]) -> BTreeSet<String> {
    let mut all = vec!["+short"];
    all.extend_from_slice(args);
    topology.dig(server, &all)
}

fn answered(agent: &Agent) -> u64 {
    let stats = agent.stats().expect("stats");
    ["answered_v4", "answered_v6"]
        .iter()
        .map(|name| {
            stats[name]
                .as_u64()
                .unwrap_or_else(|| panic!("no counter {name} in {stats}"))
        })
        .sum()
}

/// `www.example.com A` is `address` from the fast path (its answered counter grows by one) and
/// from the fallback (over TCP).
fn assert_serves(topology: &Topology, agent: &Agent, address: &str, when: &str) {
    let want = BTreeSet::from([address.to_string()]);
    let before = answered(agent);
    assert_eq!(
        dig(topology, &["www.example.com", "A"]),
        want,
        "fast path {when}"
    );
    assert_eq!(
        answered(agent),
        before + 1,
        "the fast path answered the UDP query {when}"
    );
    assert_eq!(
        dig(topology, &["www.example.com", "A", "+tcp"]),
        want,
        "fallback {when}"
    );
}

fn applied(reload: Reload) -> (String, String) {
    match reload {
        Reload::Applied { line, log } => (line, log),
        Reload::Refused { log } => panic!("reload refused:\n{log}"),
    }
}

fn refused(reload: Reload) -> String {
    match reload {
        Reload::Refused { log } => log,
        Reload::Applied { line, log } => panic!("reload applied: {line}\n{log}"),
    }
}

#[test]
fn reload_serves_new_zones_and_keeps_the_old_ones_when_a_load_fails() {
    if !require_root("reload_serves_new_zones_and_keeps_the_old_ones_when_a_load_fails") {
        return;
    }
    let topology = Topology::create("reload").expect("topology");
    let scratch = ScratchDir::new("reload");
    let zone_file = scratch.path().join("reload.zone");
    write_atomically(&zone_file, &zone("192.0.2.10", ""));
    let mut agent = Agent::start(&topology, &zone_file, "native").expect("agent starts");
    assert_serves(&topology, &agent, "192.0.2.10", "at start");

    // A changed record: both paths serve it after the reload, from generation 2.
    write_atomically(&zone_file, &zone("192.0.2.11", ""));
    let (line, _) = applied(agent.reload().expect("reload"));
    assert!(line.contains("1 zone(s)"), "{line}");
    assert!(line.contains("(generation 2)"), "{line}");
    assert_serves(&topology, &agent, "192.0.2.11", "after a reload");

    // A syntax error on line 8: the reload is refused with file:line, and both paths keep
    // serving the zone as it was, not the new A record of line 7 either.
    write_atomically(&zone_file, &zone("192.0.2.12", "mail    IN MX   ten www\n"));
    let log = refused(agent.reload().expect("reload"));
    let at = format!("{}:8", zone_file.display());
    assert!(log.contains(&at), "the error names {at}:\n{log}");
    assert!(log.contains("still serving the previous zones"), "{log}");
    assert!(
        agent.is_running(),
        "a failed reload does not stop the agent"
    );
    assert_serves(&topology, &agent, "192.0.2.11", "after a failed reload");

    // A zone file that has gone: refused too.
    std::fs::rename(&zone_file, scratch.path().join("moved.zone")).unwrap();
    let log = refused(agent.reload().expect("reload"));
    assert!(
        log.contains("reload.zone"),
        "the error names the file:\n{log}"
    );
    assert_serves(
        &topology,
        &agent,
        "192.0.2.11",
        "after a reload without the zone file",
    );

    // More answers than the fast path's map was sized for at start (1024 entries): it cannot
    // take them, so neither path changes, and the log says a restart is needed.
    let mut many = zone("192.0.2.13", "");
    for i in 0..1100 {
        many.push_str(&format!("h{i} IN A 198.51.100.{}\n", i % 250));
    }
    write_atomically(&zone_file, &many);
    let log = refused(agent.reload().expect("reload"));
    assert!(
        log.contains("restart it"),
        "the error says to restart:\n{log}"
    );
    assert_serves(
        &topology,
        &agent,
        "192.0.2.11",
        "after a reload too big for the fast path",
    );

    // A config that fails to parse: refused, naming the bad key.
    let config = std::fs::read_to_string(&agent.config_path).unwrap();
    write_atomically(&agent.config_path, &config.replace("listen", "lissen"));
    let log = refused(agent.reload().expect("reload"));
    assert!(log.contains("lissen"), "the error names the key:\n{log}");
    assert_serves(&topology, &agent, "192.0.2.11", "after a bad config");

    // Fixed: the new data on both paths. A listen change in the same reload is reported as
    // needing a restart, the rest applied; the failed reloads used up no generation.
    write_atomically(&zone_file, &zone("192.0.2.12", "mail    IN MX   10 www\n"));
    let fewer_addresses = config.replace(&format!(", \"[{}]:53\"", topology.server_v6), "");
    assert_ne!(
        fewer_addresses, config,
        "the harness config lists the IPv6 address"
    );
    write_atomically(&agent.config_path, &fewer_addresses);
    let (line, log) = applied(agent.reload().expect("reload"));
    assert!(line.contains("(generation 3)"), "{line}");
    assert!(
        log.contains("[server] listen changed") && log.contains("needs a restart"),
        "{log}"
    );
    assert_serves(&topology, &agent, "192.0.2.12", "after the fix");
    assert_eq!(
        dig(&topology, &["mail.example.com", "MX", "+tcp"]),
        BTreeSet::from(["10 www.example.com.".to_string()])
    );
    // Still listening on IPv6 until a restart.
    assert_eq!(
        dig_at(
            &topology,
            &topology.server_v6.to_string(),
            &["www.example.com", "AAAA", "+tcp"]
        ),
        BTreeSet::from(["2001:db8::10".to_string()])
    );

    let pid_file = agent.pid_file.clone();
    assert!(pid_file.exists(), "pid file while serving");
    let status = agent.stop().expect("agent stops");
    assert!(status.success(), "exit status {status}");
    assert!(!pid_file.exists(), "pid file removed on SIGTERM");
    assert!(!agent.pin_dir.exists(), "pins removed on SIGTERM");
}

#[test]
fn reload_without_an_agent_says_so() {
    let scratch = std::env::temp_dir().join(format!("dns-xdp-noagent-{}", std::process::id()));
    let output = std::process::Command::new(dns_xdp_tests::agent::agent_binary())
        .args(["reload", "--pid-file"])
        .arg(scratch.join("agent.pid"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no pid file") && stderr.contains("--pid-file"),
        "{stderr}"
    );
}
