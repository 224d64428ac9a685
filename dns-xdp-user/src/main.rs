use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::{Parser, Subcommand};
use dns_xdp_common::PIN_DIR;
use dns_xdp_user::{agent, dataplane::XdpAttachMode, maps_dump, stats};

/// Authoritative DNS with an XDP fast path.
#[derive(Parser)]
#[command(name = "dns-xdp", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the zones, attach the fast path and serve until SIGINT/SIGTERM; SIGHUP reloads the
    /// config and the zones.
    Run {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Override `[server] xdp_mode`.
        #[arg(long, value_enum)]
        xdp_mode: Option<Mode>,
        /// Where to pin the maps (one directory per running agent).
        #[arg(long, default_value = PIN_DIR)]
        pin_dir: PathBuf,
        /// Write the agent's pid here while it serves, for `dns-xdp reload`.
        #[arg(long)]
        pid_file: Option<PathBuf>,
    },
    /// Ask the running agent to reload its config and zones (sends it SIGHUP). If anything
    /// fails to load, the agent keeps serving what it had and logs why.
    Reload {
        /// The agent's `--pid-file`.
        #[arg(long)]
        pid_file: PathBuf,
    },
    /// Print the fast-path counters of the running agent, summed over CPUs.
    Stats {
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = PIN_DIR)]
        pin_dir: PathBuf,
    },
    /// Inspect the running agent's pinned BPF maps.
    Maps {
        #[command(subcommand)]
        command: MapsCommand,
    },
}

#[derive(Subcommand)]
enum MapsCommand {
    /// Print the pinned maps decoded as DNS: answers (name, type, view, generation, TTL,
    /// records), the live generation, the addresses answered for, the counters.
    Dump {
        /// One map (`dns_answers` or `answers`, ...); all of them if left out.
        name: Option<String>,
        /// One JSON object keyed by map name instead of text.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = PIN_DIR)]
        pin_dir: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Mode {
    Native,
    Skb,
    Off,
}

impl From<Mode> for XdpAttachMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Native => XdpAttachMode::Native,
            Mode::Skb => XdpAttachMode::Skb,
            Mode::Off => XdpAttachMode::Off,
        }
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", agent::describe_error(&e));
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Run {
            config,
            xdp_mode,
            pin_dir,
            pid_file,
        } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let result = runtime.block_on(agent::run(agent::RunOptions {
                config,
                xdp_mode: xdp_mode.map(Into::into),
                pin_dir,
                pid_file,
            }));
            // A reload may still be reading zones; that only reads files, so don't wait for it.
            runtime.shutdown_background();
            result
        }
        Command::Reload { pid_file } => {
            let pid = agent::signal_reload(&pid_file)?;
            println!(
                "dns-xdp: asked the agent (pid {pid}) to reload; its log says whether the new \
                 zones are served"
            );
            Ok(())
        }
        Command::Stats { json, pin_dir } => stats::print(&pin_dir, json),
        Command::Maps {
            command:
                MapsCommand::Dump {
                    name,
                    json,
                    pin_dir,
                },
        } => {
            let dumps = maps_dump::dump(&pin_dir, name.as_deref())?;
            if json {
                print!("{}", maps_dump::render_json(&dumps));
            } else {
                print!("{}", maps_dump::render_text(&dumps));
            }
            Ok(())
        }
    }
}
