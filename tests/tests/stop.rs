//! `dns-xdp stop`: stops a running agent (found through its pin directory or its pid file) and
//! waits for it; after an agent was killed, removes what it left and detaches its program.
//!
//! Needs root (BPF, network namespaces).

use std::{
    path::PathBuf,
    process::{Command, Output},
    time::Duration,
};

use dns_xdp_tests::{
    agent::{agent_binary, Agent},
    netns::{in_netns, require_root, Topology},
};

fn fixture_zone() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "dns-xdp stop failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn stop_stops_the_agent_and_cleans_up_after_a_killed_one() {
    if !require_root("stop_stops_the_agent_and_cleans_up_after_a_killed_one") {
        return;
    }
    let topology = Topology::create("stop").expect("topology");

    // Found as the holder of its pin directory: no pid file needed.
    let mut agent = Agent::start(&topology, &fixture_zone(), "native").expect("agent starts");
    assert!(topology.server_xdp_program().is_some());
    let out = stdout(&agent.command("stop", &[]).unwrap());
    assert!(out.starts_with("dns-xdp: stopped the agent (pid "), "{out}");
    // `stop` returned only once the agent had exited.
    let status = agent.wait_exit(Duration::from_millis(500)).expect("exited");
    assert!(status.success(), "clean exit: {status}");
    assert!(topology.server_xdp_program().is_none(), "detached");
    assert!(!agent.pin_dir.exists(), "unpinned");
    assert!(!agent.pid_file.exists(), "pid file removed");

    // Found by its pid file.
    let mut agent = Agent::start(&topology, &fixture_zone(), "native").expect("agent starts");
    let pid_file = agent.pid_file.to_str().unwrap().to_string();
    let out = stdout(&agent.command("stop", &["--pid-file", &pid_file]).unwrap());
    assert!(out.starts_with("dns-xdp: stopped the agent (pid "), "{out}");
    assert!(agent.wait_exit(Duration::from_millis(500)).is_ok());
    assert!(!agent.pin_dir.exists());
    // Again: nothing left to stop is not an error.
    let out = stdout(&agent.command("stop", &["--pid-file", &pid_file]).unwrap());
    assert!(
        out.contains("no agent is running and nothing is pinned"),
        "{out}"
    );

    // Killed: it cleans nothing up, and its pinned link keeps the program attached. `stop`
    // removes its pins and detaches the program.
    let mut agent = Agent::start(&topology, &fixture_zone(), "native").expect("agent starts");
    agent.kill().expect("killed");
    assert!(
        agent.pin_dir.join("dns_answers").exists() && agent.pin_dir.join("link").exists(),
        "a killed agent leaves its pins"
    );
    assert!(topology.server_xdp_program().is_some(), "still attached");
    // In the agent's network namespace, where the interface has its name.
    let out = in_netns(&topology.server_ns, || {
        Command::new(agent_binary())
            .args(["stop", "--pin-dir"])
            .arg(&agent.pin_dir)
            .output()
    })
    .unwrap()
    .unwrap();
    let out = stdout(&out);
    assert!(
        out.starts_with("dns-xdp: no agent was running; detached the program from interface")
            && out.contains("(dxs here)")
            && out.contains("dns_answers"),
        "{out}"
    );
    assert!(topology.server_xdp_program().is_none(), "detached");
    assert!(!agent.pin_dir.exists(), "pins removed");
}
