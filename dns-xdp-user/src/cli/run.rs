//! `dns-xdp run`: the agent (see [`crate::daemon`]).

use std::path::PathBuf;

use anyhow::Result;
use dns_xdp_common::PIN_DIR;

use crate::{config::XdpAttachMode, daemon, status};

#[derive(clap::Args)]
pub struct Args {
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
    /// Answer `dns-xdp status` on this Unix socket (one per running agent).
    #[arg(long, default_value = status::SOCKET)]
    status_socket: PathBuf,
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

pub fn execute(args: Args) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(daemon::run(daemon::RunOptions {
        config: args.config,
        xdp_mode: args.xdp_mode.map(Into::into),
        pin_dir: args.pin_dir,
        pid_file: args.pid_file,
        status_socket: args.status_socket,
    }));
    // A reload may still be reading zones; that only reads files, so don't wait for it.
    runtime.shutdown_background();
    if let daemon::Ended::HandedOver = result? {
        std::process::exit(daemon::HANDOVER_EXIT_STATUS.into());
    }
    Ok(())
}
