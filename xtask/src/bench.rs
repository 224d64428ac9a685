//! `cargo xtask bench`: builds what the benchmarks need and runs them.

use std::process::Command;

use anyhow::{bail, Result};

use crate::ebpf::build_ebpf;
use crate::{is_root, run, workspace_root};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// The XDP program's cost per packet (hit A, hit AAAA, miss, MAC-swap baseline).
    Xdp,
}

pub fn bench(which: Which) -> Result<()> {
    if !is_root() {
        bail!("the benchmarks load BPF programs: run `sudo -E cargo xtask bench`");
    }
    build_ebpf()?;
    let target = match which {
        Which::Xdp => "xdp",
    };
    run(Command::new("cargo").current_dir(workspace_root()).args([
        "bench",
        "-p",
        "dns-xdp-tests",
        "--bench",
        target,
    ]))
}
