//! `cargo xtask bench`: builds what the benchmarks need and runs them.

use std::process::Command;

use anyhow::{bail, Result};

use crate::ebpf::{build_agent, build_ebpf, Profile, TestHooks};
use crate::{is_root, run, workspace_root};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// The XDP program's cost per packet (hit A, hit AAAA, miss, MAC-swap baseline).
    Xdp,
    /// Offered vs answered queries/s (kxdpgun) and dnsperf's queries/s and latency for dns-xdp
    /// with XDP, with XDP off, Knot DNS, Knot's AF_XDP mode and NSD, over veth.
    Load,
    /// The fallback server (XDP off) against Knot DNS and NSD under dnsperf over veth, and the
    /// agent's load time and memory for a zone of a million A records.
    Fallback,
    /// Publishing one health change that changes 10,000 pools, end to end.
    Steering,
    /// Signed answers per second from the fallback, signature cache warm and cold.
    Signed,
    /// The fast path's share of the answers, per 100 ms, while the agent reloads a zone of a
    /// million A records under a fixed kxdpgun load (about a minute and a half; not in the
    /// default set).
    Reload,
}

/// Runs `which` bench, or with none the XDP, steering and signing benches and then the load
/// bench, which reports the XDP and load figures together (`target/bench/report.json`).
pub fn bench(which: Option<Which>) -> Result<()> {
    if !is_root() {
        bail!("the benchmarks load BPF programs: run `sudo -E cargo xtask bench`");
    }
    build_ebpf()?;
    let targets: &[&str] = match which {
        Some(Which::Xdp) => &["xdp"],
        Some(Which::Steering) => &["steering"],
        Some(Which::Signed) => &["signed"],
        Some(Which::Load) => &["load"],
        Some(Which::Fallback) => &["fallback"],
        Some(Which::Reload) => &["reload"],
        None => &["xdp", "steering", "signed", "load"],
    };
    if targets
        .iter()
        .any(|&t| t == "load" || t == "fallback" || t == "reload")
    {
        // These run the agent binary, which `cargo bench` does not build; an optimised one, to
        // compare with the optimised C servers.
        build_agent(Profile::Release, TestHooks::Without)?;
    }
    // One cargo run per bench, in this order: the load bench reads the XDP bench's results.
    for target in targets {
        run(Command::new("cargo").current_dir(workspace_root()).args([
            "bench",
            "-p",
            "dns-xdp-tests",
            "--bench",
            target,
        ]))?;
    }
    Ok(())
}
