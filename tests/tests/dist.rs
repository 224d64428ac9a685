//! The files in `dist/`: the example config loads, and the systemd unit passes
//! `systemd-analyze verify` (where systemd's tools are installed) with its command lines
//! accepted by the binary.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
};

use dns_xdp_tests::{agent::agent_binary, scratch::ScratchDir};
use dns_xdp_user::config::Config;

fn dist(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dist")
        .join(file)
}

#[test]
fn the_example_config_loads() {
    let config = Config::load(&dist("dns-xdp.toml")).expect("dist/dns-xdp.toml is valid");
    assert_eq!(config.server.interface.as_deref(), Some("eth0"));
    assert_eq!(config.zones.len(), 1);
}

#[test]
fn the_systemd_unit_verifies() {
    let unit = std::fs::read_to_string(dist("dns-xdp.service")).unwrap();
    let exec_start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    let args: Vec<&str> = exec_start.split_whitespace().collect();
    assert_eq!(args[0], "/usr/local/bin/dns-xdp");
    // The same arguments, with --help: clap checks every flag before printing help.
    let mut check = args[1..].to_vec();
    check.push("--help");
    let output = Command::new(agent_binary()).args(&check).output().unwrap();
    assert!(
        output.status.success(),
        "dns-xdp {check:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    // verify checks that ExecStart's binary exists: point it at the one we built.
    let scratch = ScratchDir::new("dist-unit");
    let path = scratch.path().join("dns-xdp.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/dns-xdp",
            &agent_binary().display().to_string(),
        ),
    )
    .unwrap();
    let output = match Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(_) => {
            // Past the test harness's capture, like `require_root`'s SKIPPED line.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED the_systemd_unit_verifies: no systemd-analyze (Debian's systemd package)"
            );
            return;
        }
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify:\n{stderr}"
    );
}
