//! `cargo xtask test`: what CI runs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use anyhow::{bail, Result};

use crate::ebpf::{
    build_agent, build_ebpf, ebpf_cargo, Profile, TestHooks, AGENT_PACKAGE, EBPF_CRATE,
};
use crate::package::package;
use crate::{describe, is_root, run, workspace_root};

/// Builds, checks formatting and lints, then runs every test; `cargo_test_args` go to `cargo test`.
pub fn test(cargo_test_args: &[String]) -> Result<()> {
    if !is_root() {
        bail!("the BPF and network-namespace tests need root: run `sudo -E cargo xtask test`");
    }
    build_ebpf()?;
    // tests/package.rs installs it.
    let deb = package()?;
    // Integration tests start the agent binary, which `cargo test` does not build for them,
    // with the test hooks some of them set.
    build_agent(Profile::Debug, TestHooks::With)?;
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
    // The workspace run lints the agent with the test hooks (the tests crate turns them on);
    // this one lints it as it is released, without them.
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["clippy", "--package", AGENT_PACKAGE, "--all-targets"])
        .args(["--", "-D", "warnings"]))?;
    run(ebpf_cargo("clippy")?.args(["--", "-D", "warnings"]))?;
    // No `--workspace`: the default members are every crate but the eBPF one, and unlike
    // `--workspace` they give way to a `-p` among the extra arguments.
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&root)
        .env("DNS_XDP_DEB", &deb)
        .arg("test")
        .args(cargo_test_args);
    run_counting(&mut cmd)
}

/// Runs `cargo test`, passing its output through, and ends with one line totalling every test
/// binary's result, so a log's last line says how many tests ran (the last binary cargo runs
/// is often one without tests).
fn run_counting(cmd: &mut Command) -> Result<()> {
    eprintln!("+ {}", describe(cmd));
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let mut totals = [0u64; 3];
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        if let Some(counts) = line.strip_prefix("test result: ") {
            for (total, word) in totals.iter_mut().zip(["passed", "failed", "ignored"]) {
                *total += count_before(counts, word);
            }
        }
    }
    let status = child.wait()?;
    println!(
        "summary: {} passed, {} failed, {} skipped",
        totals[0], totals[1], totals[2]
    );
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

/// The number before `word` in "ok. 3 passed; 0 failed; 1 ignored; ...".
fn count_before(counts: &str, word: &str) -> u64 {
    counts
        .split(';')
        .filter_map(|part| {
            part.trim()
                .trim_start_matches("ok. ")
                .trim_start_matches("FAILED. ")
                .split_once(' ')
        })
        .find(|(_, w)| *w == word)
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0)
}
