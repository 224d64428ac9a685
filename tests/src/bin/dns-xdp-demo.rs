//! `cargo xtask demo`: dns-xdp serving the repository's example zone with XDP on one end of a
//! veth pair, real `dig`/`kdig` queries from a client namespace at the other, and the counters
//! that show which path answered. Serves until Ctrl-C; `--once` stops after showing.
//!
//! Needs root (BPF, network namespaces). Run through `cargo xtask demo`, which builds the XDP
//! program and the agent first.

use std::{path::Path, process::ExitCode};

use anyhow::{Context, Result};
use dns_xdp_tests::{agent::Agent, netns::Topology};

fn main() -> ExitCode {
    match demo(std::env::args().any(|a| a == "--once")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo(once: bool) -> Result<()> {
    anyhow::ensure!(
        dns_xdp_tests::netns::is_root(),
        "the demo needs root (BPF, network namespaces): run `sudo -E cargo xtask demo`"
    );
    let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/example.com.zone");
    let zone = zone.canonicalize().context("examples/example.com.zone")?;
    // Blocked before any thread starts, so every thread inherits the mask and the signal waits
    // for `sigwait` below instead of killing the demo before it cleans up.
    let signals = block_termination_signals();

    let topology = Topology::create("demo").context("creating the demo network")?;
    println!(
        "network: namespace {} ({}, {} on {}) <-veth-> namespace {} ({}, {} on {})",
        topology.server_ns,
        topology.server_v4,
        topology.server_v6,
        topology.server_if,
        topology.client_ns,
        topology.client_v4,
        topology.client_v6,
        topology.client_if
    );
    let agent = Agent::start(&topology, &zone, "native").context("starting dns-xdp")?;
    println!(
        "dns-xdp: serving {} with XDP on {}\n",
        zone.display(),
        topology.server_if
    );

    let v4 = format!("@{}", topology.server_v4);
    let v6 = format!("@{}", topology.server_v6);
    let queries: [(&str, Vec<&str>); 6] = [
        (
            "fast path, IPv4, A RRset",
            vec!["dig", &v4, "www.example.com", "A"],
        ),
        (
            "fast path, IPv6, AAAA",
            vec!["dig", &v6, "www.example.com", "AAAA"],
        ),
        (
            "fast path, kdig, mixed case",
            vec!["kdig", &v4, "Api.Example.COM", "A"],
        ),
        (
            "fallback: MX is not a fast-path type",
            vec!["dig", &v4, "example.com", "MX"],
        ),
        (
            "fallback: NXDOMAIN with the SOA",
            vec!["dig", &v4, "nope.example.com", "A"],
        ),
        (
            "fallback: TCP",
            vec!["dig", &v4, "www.example.com", "A", "+tcp"],
        ),
    ];
    for (what, command) in &queries {
        let mut args = command[1..].to_vec();
        args.extend(["+noall", "+answer", "+authority", "+comments"]);
        let output = topology.exec(&topology.client_ns, command[0], &args)?;
        println!("── {what}: {}", command.join(" "));
        let text = String::from_utf8_lossy(&output.stdout);
        for line in text.lines().filter(|l| {
            l.contains("status:")
                || l.contains("flags:") && !l.contains("EDNS")
                || !l.starts_with(';')
        }) {
            if !line.trim().is_empty() {
                println!("   {line}");
            }
        }
    }

    println!(
        "\n── fast-path counters (dns-xdp stats --pin-dir {}):",
        agent.pin_dir.display()
    );
    let stats = std::process::Command::new(dns_xdp_tests::agent::agent_binary())
        .args(["stats", "--pin-dir"])
        .arg(&agent.pin_dir)
        .output()?;
    for line in String::from_utf8_lossy(&stats.stdout).lines() {
        println!("   {line}");
    }
    println!(
        "\n   inspect the maps: bpftool map dump pinned {}/dns_answers",
        agent.pin_dir.display()
    );

    if !once {
        println!(
            "\nserving until Ctrl-C; try: ip netns exec {} dig @{} www.example.com",
            topology.client_ns, topology.server_v4
        );
        wait_for_signal(&signals);
        println!("\nstopping");
    }
    // Dropping the agent stops it (SIGTERM: XDP detached, pins removed), then the topology.
    drop(agent);
    drop(topology);
    Ok(())
}

fn block_termination_signals() -> libc::sigset_t {
    // SAFETY: plain signal-mask calls on a set this function owns.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_signal(set: &libc::sigset_t) {
    let mut signal = 0;
    // SAFETY: `set` was initialised by `block_termination_signals`.
    unsafe { libc::sigwait(set, &mut signal) };
}
