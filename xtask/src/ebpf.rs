//! Builds the two halves of dns-xdp: the XDP object (nightly, bpfel-unknown-none) and the agent
//! that loads it (the toolchain xtask itself runs on).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Result};

use crate::toolchain::{ensure_toolchain, path_with_cargo_bin};
use crate::{run, workspace_root};

pub const EBPF_TARGET: &str = "bpfel-unknown-none";
/// The eBPF crate's directory and the name of its bin target (the object file).
pub const EBPF_CRATE: &str = "dns-xdp-ebpf";
pub const AGENT_PACKAGE: &str = "dns-xdp-user";
pub const AGENT_BIN: &str = "dns-xdp";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// The directory cargo puts this profile's artifacts in.
    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// `cargo +nightly <subcommand>` for the eBPF crate and its target, sharing the workspace's
/// target directory.
pub fn ebpf_cargo(subcommand: &str) -> Result<Command> {
    let root = workspace_root();
    let mut cmd = Command::new("cargo");
    // `cargo run` exports RUSTUP_TOOLCHAIN (the outer toolchain), which older rustup releases
    // prefer over `+nightly`; host RUSTFLAGS must not reach the BPF target.
    cmd.env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("PATH", path_with_cargo_bin()?)
        // Running inside the crate picks up its own .cargo/config.toml, if it has one.
        .current_dir(root.join(EBPF_CRATE))
        .args(["+nightly", subcommand, "--target", EBPF_TARGET])
        .args(["-Z", "build-std=core", "--target-dir"])
        .arg(root.join("target"));
    Ok(cmd)
}

/// Builds the XDP program (always optimised: the verifier needs it, and the agent embeds the
/// release object) and returns the path of the object file.
pub fn build_ebpf() -> Result<PathBuf> {
    ensure_toolchain()?;
    run(ebpf_cargo("build")?.arg("--release"))?;
    let object = workspace_root()
        .join("target")
        .join(EBPF_TARGET)
        .join("release")
        .join(EBPF_CRATE);
    ensure!(
        object.is_file(),
        "the eBPF build succeeded but {} is missing: is the bin target of {EBPF_CRATE} named {EBPF_CRATE}?",
        object.display()
    );
    Ok(object)
}

/// The agent's cargo feature that compiles in the environment variables with which the tests
/// make it misbehave on purpose (`DNS_XDP_TEST_*`).
pub const TEST_HOOKS_FEATURE: &str = "test-hooks";

/// Whether an agent build has the test hooks: only the agent the tests run does, never one
/// that is run for real, demonstrated or measured.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TestHooks {
    Without,
    With,
}

/// Builds the agent and returns the path of its binary; it does not build the XDP object the
/// agent loads, so call [`build_ebpf`] first. Both hook settings build to the same path: the
/// last build wins, and cargo relinks it when the setting changes.
pub fn build_agent(profile: Profile, hooks: TestHooks) -> Result<PathBuf> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace_root())
        .args(["build", "--package", AGENT_PACKAGE]);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    if hooks == TestHooks::With {
        cmd.args(["--features", TEST_HOOKS_FEATURE]);
    }
    run(&mut cmd)?;
    Ok(workspace_root()
        .join("target")
        .join(profile.dir())
        .join(AGENT_BIN))
}
