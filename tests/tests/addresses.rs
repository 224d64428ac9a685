//! A wildcard `listen` address stands for every address the host has, also those added or
//! removed while the agent serves: the fast path answers queries to an address added after
//! the start, and no longer counts one that went; until it has it, the fallback answers, from
//! the address the query was sent to.
//!
//! Needs root (BPF, network namespaces) and dig.

use std::{
    path::Path,
    process::Command,
    thread,
    time::{Duration, Instant},
};

use dns_xdp_tests::{
    agent::{agent_binary, Agent},
    netns::{require_root, Topology},
};

const ADDED: &str = "192.0.2.77";

fn answered_v4(agent: &Agent) -> u64 {
    agent.stats().expect("stats")["answered_v4"]
        .as_u64()
        .expect("answered_v4")
}

/// The addresses `dns-xdp maps dump addresses` shows.
fn served(agent: &Agent) -> String {
    let output = Command::new(agent_binary())
        .args(["maps", "dump", "addresses", "--pin-dir"])
        .arg(&agent.pin_dir)
        .output()
        .expect("maps dump");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn an_address_added_while_serving_is_answered_in_the_fast_path() {
    if !require_root("an_address_added_while_serving_is_answered_in_the_fast_path") {
        return;
    }
    let topology = Topology::create("addr").expect("topology");
    let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone");
    let config = format!(
        "[server]\ninterface = \"{}\"\nxdp_mode = \"native\"\n\
         listen = [\"0.0.0.0:53\", \"[::]:53\"]\n\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n",
        topology.server_if,
        zone.display()
    );
    let agent = Agent::start_with_config(&topology, &config).expect("agent starts");
    assert!(!served(&agent).contains(ADDED));

    let ip = |args: &[&str]| {
        let output = topology.exec(&topology.server_ns, "ip", args).unwrap();
        assert!(output.status.success(), "ip {args:?}: {output:?}");
    };
    ip(&[
        "addr",
        "add",
        &format!("{ADDED}/24"),
        "dev",
        &topology.server_if,
    ]);
    // The agent hears of it from the kernel and updates the fast path's addresses; a query to
    // the new address is then answered in the kernel, not passed up as not ours.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = answered_v4(&agent);
        // Until the fast path has the address, the fallback answers, from the address asked
        // (its socket is bound to 0.0.0.0: the reply names its source); after, the fast path.
        let answer = topology.dig(ADDED, &["+short", "www.example.com", "A"]);
        assert!(answer.contains("192.0.2.10"), "{answer:?}");
        if answered_v4(&agent) > before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the fast path does not answer for {ADDED}: {}",
            served(&agent)
        );
        thread::sleep(Duration::from_millis(200));
    }
    assert!(served(&agent).contains(ADDED));

    ip(&[
        "addr",
        "del",
        &format!("{ADDED}/24"),
        "dev",
        &topology.server_if,
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while served(&agent).contains(ADDED) {
        assert!(Instant::now() < deadline, "{ADDED} is still served");
        thread::sleep(Duration::from_millis(200));
    }
}
