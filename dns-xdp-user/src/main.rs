use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use dns_xdp_common::PIN_DIR;
use dns_xdp_user::{agent, dataplane::XdpAttachMode, stats};

/// Authoritative DNS with an XDP fast path.
#[derive(Parser)]
#[command(name = "dns-xdp", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the zones, attach the fast path and serve until SIGINT/SIGTERM.
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
    },
    /// Print the fast-path counters of the running agent, summed over CPUs.
    Stats {
        /// One JSON object instead of a table.
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

fn main() -> Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match Cli::parse().command {
        Command::Run {
            config,
            xdp_mode,
            pin_dir,
        } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(agent::run(agent::RunOptions {
                config,
                xdp_mode: xdp_mode.map(Into::into),
                pin_dir,
            })),
        Command::Stats { json, pin_dir } => stats::print(&pin_dir, json),
    }
}
