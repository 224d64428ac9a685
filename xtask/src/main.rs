//! Project automation, run as `cargo xtask <command>`.

mod bench;
mod demo;
mod ebpf;
mod package;
mod test;
mod toolchain;

use std::path::{Path, PathBuf};
use std::process::{Command as Process, ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use ebpf::Profile;

#[derive(Parser)]
#[command(about = "Build, test and set up dns-xdp")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install whatever the build and the tests need and is missing (Debian packages,
    /// nightly rust-src, bpf-linker); quick when nothing is.
    Setup,
    /// Build the XDP program for bpfel-unknown-none with nightly (the agent embeds it).
    BuildEbpf,
    /// Build the XDP program (release) and then the agent.
    Build {
        /// Build the agent with the release profile.
        #[arg(long)]
        release: bool,
    },
    /// Run dns-xdp on the example zone in a two-namespace veth network, show real answers and
    /// the fast-path counters, and serve until Ctrl-C (needs root).
    Demo {
        /// Exit after showing the answers instead of serving.
        #[arg(long)]
        once: bool,
    },
    /// Build the Debian package (release agent, systemd unit, example config) into
    /// target/debian/ with dpkg-deb.
    Package,
    /// Run benchmarks (needs root): with no argument `xdp` and then `load`, reported together
    /// in target/bench/report.json; `xdp` times the fast path through BPF_PROG_TEST_RUN;
    /// `load` measures offered vs answered queries/s against Knot (UDP and AF_XDP) and NSD;
    /// `fallback` loads the fallback server, Knot and NSD with dnsperf and measures memory.
    Bench {
        #[arg(value_enum)]
        which: Option<bench::Which>,
    },
    /// Check formatting and lints, then run every test (needs root).
    Test {
        /// Extra arguments for `cargo test`, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    match execute(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the context chain on one line; anyhow's Debug form would add a
            // backtrace whenever RUST_BACKTRACE is set, which only buries the message.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> Result<()> {
    match command {
        Command::Setup => {
            toolchain::ensure_toolchain()?;
            println!("toolchain ready");
            println!("{}", toolchain::check_bpffs()?);
        }
        Command::BuildEbpf => {
            let object = ebpf::build_ebpf()?;
            println!("{}", object.display());
        }
        Command::Build { release } => {
            let object = ebpf::build_ebpf()?;
            println!("{}", object.display());
            let profile = if release {
                Profile::Release
            } else {
                Profile::Debug
            };
            let agent = ebpf::build_agent(profile, ebpf::TestHooks::Without)?;
            println!("{}", agent.display());
        }
        Command::Package => {
            let deb = package::package()?;
            println!("{}", deb.display());
        }
        Command::Test { args } => test::test(&args)?,
        Command::Demo { once } => demo::demo(once)?,
        Command::Bench { which } => bench::bench(which)?,
    }
    Ok(())
}

/// The workspace root: xtask lives one level below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `cmd` with inherited stdio, failing unless it exits successfully. Echoes it first
/// (to stderr, keeping stdout for results such as paths) so a CI log shows which step failed.
pub fn run(cmd: &mut Process) -> Result<()> {
    eprintln!("+ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("failed to start {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

/// The command line as a user would type it, for error messages.
pub fn describe(cmd: &Process) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
