//! `cargo xtask bench`: builds what the benchmarks need and runs them.

use std::process::Command;

use anyhow::{bail, Result};

use crate::ebpf::{build_agent, build_ebpf, Profile};
use crate::{is_root, run, workspace_root};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// The XDP program's cost per packet (hit A, hit AAAA, miss, MAC-swap baseline).
    Xdp,
    /// The fallback server (XDP off) against Knot DNS and NSD under dnsperf over veth, and the
    /// agent's load time and memory for a zone of a million A records.
    Fallback,
    /// Publishing one health change that changes 10,000 pools, end to end.
    Steering,
}

pub fn bench(which: Which) -> Result<()> {
    if !is_root() {
        bail!("the benchmarks load BPF programs: run `sudo -E cargo xtask bench`");
    }
    build_ebpf()?;
    let target = match which {
        Which::Xdp => "xdp",
        Which::Steering => "steering",
        Which::Fallback => {
            // The bench runs the agent binary, which `cargo bench` does not build; an
            // optimised one, to compare with the optimised C servers.
            build_agent(Profile::Release)?;
            "fallback"
        }
    };
    run(Command::new("cargo").current_dir(workspace_root()).args([
        "bench",
        "-p",
        "dns-xdp-tests",
        "--bench",
        target,
    ]))
}
