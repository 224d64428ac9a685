//! `cargo xtask test`: what CI runs.

use std::process::Command;

use anyhow::{bail, Result};

use crate::ebpf::{build_agent, build_ebpf, ebpf_cargo, Profile, EBPF_CRATE};
use crate::{is_root, run, workspace_root};

/// Builds, checks formatting and lints, then runs every test; `cargo_test_args` go to `cargo test`.
pub fn test(cargo_test_args: &[String]) -> Result<()> {
    if !is_root() {
        bail!("the BPF and network-namespace tests need root: run `sudo -E cargo xtask test`");
    }
    build_ebpf()?;
    // Integration tests start the agent binary, which `cargo test` does not build for them.
    build_agent(Profile::Debug)?;
    let root = workspace_root();
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["fmt", "--all", "--", "--check"]))?;
    // The eBPF crate only compiles for its own target, so the host lint and test runs skip it
    // and it is linted on its own with the nightly toolchain that builds it.
    run(Command::new("cargo")
        .current_dir(&root)
        .args([
            "clippy",
            "--workspace",
            "--exclude",
            EBPF_CRATE,
            "--all-targets",
        ])
        .args(["--", "-D", "warnings"]))?;
    run(ebpf_cargo("clippy")?.args(["--", "-D", "warnings"]))?;
    // No `--workspace`: the default members are every crate but the eBPF one, and unlike
    // `--workspace` they give way to a `-p` among the extra arguments.
    run(Command::new("cargo")
        .current_dir(&root)
        .arg("test")
        .args(cargo_test_args))
}
