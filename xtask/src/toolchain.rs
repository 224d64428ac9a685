//! Finds, and installs when missing, everything beyond stable Rust that building and testing
//! dns-xdp needs. The checks only fork a few quick queries, so every command runs them first.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context, Result};

use crate::{describe, is_root, run};

/// Debian packages, each with the reason printed when it has to be installed.
pub const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("llvm-22-dev", "bpf-linker links against LLVM 22"),
    ("libpolly-22-dev", "LLVM 22's link line names Polly"),
    ("libzstd-dev", "LLVM 22 links against zstd"),
    ("zlib1g-dev", "LLVM 22 links against zlib"),
    ("bpftool", "to inspect loaded XDP programs and maps"),
    ("dnsperf", "to load the server in benchmarks"),
    ("bind9-dnsutils", "dig, a reference DNS client for tests"),
    (
        "knot-dnsutils",
        "kdig, a second reference DNS client for tests, and kxdpgun, the AF_XDP load generator",
    ),
    ("iproute2", "ip netns and veth build the test topology"),
    (
        "ethtool",
        "turns veth offloads off so XDP sees complete packets",
    ),
    ("iputils-ping", "ping checks the test topology"),
    (
        "knot",
        "Knot DNS, the reference server of the differential test",
    ),
    ("nsd", "NSD, a peer server in the fallback benchmark"),
    (
        "ldnsutils",
        "ldns-key2ds, ldns-signzone and ldns-verify-zone check our DNSSEC keys and signatures",
    ),
    (
        "unbound",
        "a validating resolver: the DNSSEC tests check our signed answers with it (and delv)",
    ),
    (
        "fonts-dejavu-core",
        "a font for the text of the load benchmark's chart",
    ),
    (
        "systemd",
        "systemd-analyze verifies the unit in dist/ (nothing is started: no systemd runs here)",
    ),
];

/// Components of the nightly toolchain, which only builds and lints the eBPF crate.
const NIGHTLY_COMPONENTS: &[(&str, &str)] = &[
    (
        "rust-src",
        "-Z build-std=core needs core's source for bpfel-unknown-none",
    ),
    ("clippy", "to lint the eBPF crate for its own target"),
];

/// Pinned because the names of its LLVM features change between releases.
const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_PREFIX: &str = "/usr/lib/llvm-22";

/// Set once everything was found, so commands that call each other check only once.
static READY: AtomicBool = AtomicBool::new(false);

/// Installs whatever is missing; prints one line per install and nothing otherwise.
pub fn ensure_toolchain() -> Result<()> {
    if READY.load(Ordering::Relaxed) {
        return Ok(());
    }
    ensure_debian_packages()?;
    ensure_nightly()?;
    ensure_bpf_linker()?;
    READY.store(true, Ordering::Relaxed);
    Ok(())
}

/// Says whether bpffs is mounted at /sys/fs/bpf. Nothing mounted is fine: `dns-xdp run` (and
/// with it the tests and the demo) mounts it when it starts. No /sys/fs/bpf at all is not:
/// sysfs is missing, or the kernel has no BPF.
pub fn check_bpffs() -> Result<String> {
    const MOUNT_POINT: &str = "/sys/fs/bpf";
    const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
    if !Path::new(MOUNT_POINT).is_dir() {
        bail!(
            "{MOUNT_POINT} does not exist: mount sysfs at /sys, on a kernel built with BPF \
             (CONFIG_BPF_SYSCALL)"
        );
    }
    // SAFETY: statfs writes one `struct statfs` into `stat`; the path is NUL-terminated.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c"/sys/fs/bpf".as_ptr(), &mut stat) } != 0 {
        bail!(
            "cannot inspect {MOUNT_POINT}: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(if stat.f_type as i64 == BPF_FS_MAGIC {
        format!("bpffs is mounted at {MOUNT_POINT}")
    } else {
        format!(
            "nothing is mounted at {MOUNT_POINT}: `dns-xdp run`, the tests and the demo mount \
             bpffs there when they start"
        )
    })
}

/// `$CARGO_HOME/bin`, where `cargo install` puts bpf-linker.
fn cargo_bin_dir() -> Option<PathBuf> {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))?;
    Some(home.join("bin"))
}

/// PATH with `$CARGO_HOME/bin` appended, so rustc finds a bpf-linker installed there even when
/// the user's PATH lacks it.
pub fn path_with_cargo_bin() -> Result<OsString> {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect())
        .unwrap_or_default();
    dirs.extend(cargo_bin_dir());
    env::join_paths(dirs).context("PATH contains an invalid entry")
}

fn ensure_debian_packages() -> Result<()> {
    let names: Vec<&str> = DEBIAN_PACKAGES.iter().map(|(name, _)| *name).collect();
    // dpkg-query exits non-zero when any package is unknown, yet still lists the rest on stdout.
    let output = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${Status}\\n"])
        .args(&names)
        .output()
        .context("failed to run dpkg-query (setup supports Debian only)")?;
    let listing = String::from_utf8_lossy(&output.stdout);
    let installed = |name: &str| {
        listing.lines().any(|line| {
            line.split_once(' ')
                .is_some_and(|(pkg, status)| pkg == name && status == "install ok installed")
        })
    };
    let missing: Vec<&(&str, &str)> = DEBIAN_PACKAGES
        .iter()
        .filter(|(name, _)| !installed(name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.iter().map(|(name, _)| *name).collect::<Vec<_>>();
    if !is_root() {
        bail!(
            "missing Debian packages: {}; run `sudo cargo xtask setup` to install them",
            list.join(" ")
        );
    }
    for (name, why) in &missing {
        println!("setup: installing Debian package {name}: {why}");
    }
    run(Command::new("apt-get").args(["-q", "update"]))?;
    run(Command::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .args(["-q", "install", "-y"])
        .args(&list))
}

fn ensure_nightly() -> Result<()> {
    let toolchains = capture(Command::new("rustup").args(["toolchain", "list"]))?;
    if !toolchains.lines().any(|line| line.starts_with("nightly-")) {
        println!(
            "setup: installing the nightly Rust toolchain: only nightly builds eBPF (build-std)"
        );
        let mut cmd = Command::new("rustup");
        cmd.args(["toolchain", "install", "nightly", "--profile", "minimal"]);
        for (component, _) in NIGHTLY_COMPONENTS {
            cmd.args(["--component", component]);
        }
        return run(&mut cmd);
    }
    let installed = capture(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]))?;
    // Host-specific components are listed with a target suffix, e.g. clippy-x86_64-unknown-linux-gnu.
    let has = |component: &str| {
        installed.lines().any(|line| {
            line == component
                || line
                    .strip_prefix(component)
                    .is_some_and(|rest| rest.starts_with('-'))
        })
    };
    for (component, why) in NIGHTLY_COMPONENTS {
        if !has(component) {
            println!("setup: installing nightly component {component}: {why}");
            run(Command::new("rustup").args([
                "component",
                "add",
                component,
                "--toolchain",
                "nightly",
            ]))?;
        }
    }
    Ok(())
}

fn ensure_bpf_linker() -> Result<()> {
    if env::split_paths(&path_with_cargo_bin()?).any(|dir| dir.join("bpf-linker").is_file()) {
        return Ok(());
    }
    println!(
        "setup: installing bpf-linker {BPF_LINKER_VERSION} against LLVM 22: it links the XDP \
         program (cargo install, takes several minutes)"
    );
    let llvm_bin = Path::new(LLVM_PREFIX).join("bin");
    let path = env::join_paths(
        std::iter::once(llvm_bin).chain(env::split_paths(&env::var_os("PATH").unwrap_or_default())),
    )
    .context("PATH contains an invalid entry")?;
    run(Command::new("cargo")
        .env("LLVM_PREFIX", LLVM_PREFIX)
        .env("PATH", path)
        .args([
            "install",
            "bpf-linker",
            "--locked",
            "--version",
            BPF_LINKER_VERSION,
        ])
        .args(["--no-default-features", "--features", "llvm-22"]))
}

/// Runs a query and returns its stdout, failing with its stderr.
pub fn capture(cmd: &mut Command) -> Result<String> {
    let output = cmd
        .output()
        .with_context(|| format!("failed to start {}", describe(cmd)))?;
    if !output.status.success() {
        bail!(
            "{} failed: {}",
            describe(cmd),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
