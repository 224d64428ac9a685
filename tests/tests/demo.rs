//! `cargo xtask demo --once` as CI runs it: the demo program checks every step it shows
//! (answers, which path sent them, the failover and its log line, regions, ECS, validation)
//! and exits non-zero when one does not hold. Here it must succeed, tell each part of the
//! story, and leave no namespace behind.
//!
//! Needs root (BPF, network namespaces), dig, kdig and unbound (`cargo xtask setup`).

use std::process::{Command, Stdio};

use dns_xdp_tests::netns::require_root;

#[test]
fn the_demo_runs_every_step_and_cleans_up() {
    if !require_root("the_demo_runs_every_step_and_cleans_up") {
        return;
    }
    let child = Command::new(env!("CARGO_BIN_EXE_dns-xdp-demo"))
        .arg("--once")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the demo failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for part in [
        "━━ the fast path and the fallback",
        "━━ failover",
        "━━ GeoDNS",
        "━━ DNSSEC",
        "━━ fast-path counters",
        "(all steps passed",
    ] {
        assert!(
            stdout.contains(part),
            "the demo never showed {part:?}:\n{stdout}"
        );
    }
    // Its namespaces and its agent's pins are named after its pid.
    let left: Vec<String> = ["/run/netns", "/sys/fs/bpf"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| {
            name.starts_with(&format!("dnsxdp-demo-{pid}-"))
                || name.starts_with(&format!("dns-xdp-test-{pid}-"))
        })
        .collect();
    assert!(left.is_empty(), "the demo left {left:?}");
}
