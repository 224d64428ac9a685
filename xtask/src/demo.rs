//! `cargo xtask demo`: builds everything, then runs the demo program of the tests crate, which
//! owns the namespace topology and the agent harness.

use std::process::Command;

use anyhow::{bail, Result};

use crate::ebpf::{build_agent, build_ebpf, Profile, TestHooks};
use crate::{is_root, run, workspace_root};

pub fn demo(once: bool) -> Result<()> {
    if !is_root() {
        bail!("the demo loads BPF and makes network namespaces: run `sudo -E cargo xtask demo`");
    }
    build_ebpf()?;
    build_agent(Profile::Debug, TestHooks::Without)?;
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace_root()).args([
        "run",
        "--quiet",
        "-p",
        "dns-xdp-tests",
        "--bin",
        "dns-xdp-demo",
    ]);
    if once {
        cmd.args(["--", "--once"]);
    }
    run(&mut cmd)
}
