//! Zero-downtime restart: the agent is killed with SIGKILL (or handed over with `dns-xdp stop
//! --handover`) under dnsperf load on names the fast path answers, and started again. Its
//! pinned link keeps the program attached and answering from the pinned maps while no agent
//! runs; the new agent reuses the maps and replaces the program in the link atomically, and
//! only then publishes its own answers. Not one query may go unanswered.
//!
//! Needs root (BPF, network namespaces), dig and dnsperf (`cargo xtask setup` installs them).

use std::{
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use dns_xdp_tests::{
    agent::Agent,
    netns::{require_root, Topology},
    scratch::{write_atomically, ScratchDir},
};

const ZONE: &str = "\
$ORIGIN example.com.
$TTL 300
@       IN SOA  ns1 hostmaster 1 3600 600 86400 60
@       IN NS   ns1
ns1     IN A    192.0.2.53
v6      IN AAAA 2001:db8::1
v6      IN AAAA 2001:db8::2
";

/// Hot names, every one answered by the fast path (A and AAAA, no EDNS, fits 512 bytes).
const QUERIES: &str = "www.example.com A\nv6.example.com AAAA\nns1.example.com A\n";

fn zone(www: &str) -> String {
    format!("{ZONE}www     IN A    {www}\n")
}

/// The zone with `extra` more A names, each a fast-path answer.
fn bigger_zone(www: &str, extra: usize) -> String {
    let mut text = zone(www);
    for i in 0..extra {
        text.push_str(&format!("host{i} IN A 203.0.113.{}\n", i % 250 + 1));
    }
    text
}

fn answered(agent: &Agent) -> u64 {
    let stats = agent.stats().expect("stats from the pinned counters");
    stats["answered_v4"].as_u64().unwrap() + stats["answered_v6"].as_u64().unwrap()
}

/// Waits up to 5 s for the agent to log `text` (its stderr is read on another thread).
fn wait_logged(agent: &Agent, text: &str) {
    for _ in 0..100 {
        if agent.stderr().contains(text) {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("{text:?} not logged:\n{}", agent.stderr());
}

/// The number after `label` in dnsperf's report (`  Queries sent:   8000`).
fn dnsperf_count(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in dnsperf's report:\n{report}"))
}

#[test]
fn a_killed_agent_is_replaced_without_losing_a_query() {
    if !require_root("a_killed_agent_is_replaced_without_losing_a_query") {
        return;
    }
    restart_under_load("takeover", Restart::SameMaps);
}

/// A new agent with more answers than the pinned answer map holds cannot share the maps: its
/// program gets fresh ones, filled before it replaces the old program in the link, so still
/// no query is lost.
#[test]
fn a_restart_that_outgrows_the_answer_map_swaps_in_fresh_maps() {
    if !require_root("a_restart_that_outgrows_the_answer_map_swaps_in_fresh_maps") {
        return;
    }
    restart_under_load("takeover-grow", Restart::MoreAnswers);
}

/// `dns-xdp stop --handover` (SIGUSR2), the way to upgrade: the agent exits cleanly but leaves
/// the fast path attached, and the next one takes it over as after a crash.
#[test]
fn a_handed_over_agent_is_replaced_without_losing_a_query() {
    if !require_root("a_handed_over_agent_is_replaced_without_losing_a_query") {
        return;
    }
    restart_under_load("takeover-handover", Restart::HandedOver);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// SIGKILL, then the same config with a changed record: the maps are taken over.
    SameMaps,
    /// SIGKILL, then 600 more names than the 1024-entry answer map the first agent made has
    /// room for twice.
    MoreAnswers,
    /// `dns-xdp stop --handover`, then as `SameMaps`.
    HandedOver,
}

fn restart_under_load(tag: &str, restart: Restart) {
    let topology = Topology::create(tag).expect("topology");
    let scratch = ScratchDir::new(tag);
    let zone_file = scratch.path().join("example.com.zone");
    write_atomically(&zone_file, &zone("192.0.2.10"));
    let queries = scratch.path().join("queries");
    write_atomically(&queries, QUERIES);
    let mut agent = Agent::start(&topology, &zone_file, "native").expect("agent starts");
    let server = topology.server_v4.to_string();
    let www = |topology: &Topology| topology.dig(&server, &["+short", "www.example.com", "A"]);
    assert_eq!(www(&topology), ["192.0.2.10".to_string()].into());
    let first_program = topology.server_xdp_program().expect("attached");
    let before = answered(&agent);

    // A steady 2000 queries/s for 8 s, from one socket, each with dnsperf's 5 s timeout.
    let mut dnsperf = Command::new("ip")
        .args(["netns", "exec", &topology.client_ns, "dnsperf"])
        .args(["-s", &server, "-d"])
        .arg(&queries)
        .args(["-l", "8", "-Q", "2000", "-c", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dnsperf runs (`cargo xtask setup` installs it)");
    thread::sleep(Duration::from_secs(1));

    if restart == Restart::HandedOver {
        let out = agent.command("stop", &["--handover"]).unwrap();
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.contains("exited leaving the fast path attached"),
            "{out}"
        );
        let status = agent.wait_exit(Duration::from_millis(500)).expect("exited");
        assert_eq!(
            status.code(),
            Some(75),
            "the handover's exit status, which the systemd unit restarts on"
        );
    } else {
        agent.kill().expect("SIGKILL");
    }
    assert_eq!(
        topology.server_xdp_program(),
        Some(first_program),
        "the pinned link keeps the program attached with no agent"
    );
    let dead = answered(&agent);
    thread::sleep(Duration::from_millis(300));
    assert!(
        answered(&agent) > dead,
        "the fast path keeps answering while no agent runs"
    );
    assert_eq!(
        www(&topology),
        ["192.0.2.10".to_string()].into(),
        "the dead agent's answers"
    );

    // The new agent serves a changed zone, but only from its first publish on.
    let (new_zone, generation) = match restart {
        Restart::SameMaps | Restart::HandedOver => (zone("192.0.2.11"), 2),
        // Fresh maps start again from generation 1.
        Restart::MoreAnswers => (bigger_zone("192.0.2.11", 600), 1),
    };
    write_atomically(&zone_file, &new_zone);
    let serving = agent.restart(&topology).expect("agent restarts");
    assert!(
        serving.contains("XDP taken over on")
            && serving.contains(&format!("(generation {generation},")),
        "{serving}"
    );
    assert!(
        dnsperf.try_wait().unwrap().is_none(),
        "the restart happened under load"
    );
    wait_logged(
        &agent,
        match restart {
            Restart::SameMaps | Restart::HandedOver => {
                "which answered from the previous agent's generation 1"
            }
            Restart::MoreAnswers => "dns_answers holds 1024 entries, this agent needs 1206",
        },
    );
    assert_eq!(www(&topology), ["192.0.2.11".to_string()].into());
    let second_program = topology.server_xdp_program().expect("attached");
    assert_ne!(second_program, first_program, "the new agent's program");

    let output = dnsperf.wait_with_output().expect("dnsperf finishes");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "dnsperf: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent = dnsperf_count(&report, "Queries sent:");
    let completed = dnsperf_count(&report, "Queries completed:");
    let lost = dnsperf_count(&report, "Queries lost:");
    assert!(sent > 8000, "a real load: {report}");
    assert_eq!((completed, lost), (sent, 0), "no query lost: {report}");
    if restart != Restart::MoreAnswers {
        // dnsperf's queries and the two digs since, all answered by the fast path, counted in
        // the same pinned counters across both agents.
        assert_eq!(answered(&agent) - before, completed + 2, "{report}");
    }

    let status = agent.stop().expect("stops");
    assert!(status.success(), "{status}");
    assert!(
        topology.server_xdp_program().is_none(),
        "detached on SIGTERM"
    );
    assert!(!agent.pin_dir.exists(), "unpinned on SIGTERM");
}
