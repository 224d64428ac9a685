use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::{Parser, Subcommand};
use dns_xdp_common::PIN_DIR;
use dns_xdp_user::{agent, dataplane::XdpAttachMode, dnssec, stats};
use hickory_proto::rr::Name;

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
    /// Manage a zone's DNSSEC keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate a KSK and a ZSK (or one CSK) for a zone, active at once, into a key directory
    /// readable by its owner only (created if missing).
    Generate {
        /// The zone, e.g. example.com.
        #[arg(long)]
        zone: Name,
        /// The key directory.
        #[arg(long)]
        dir: PathBuf,
        /// 13 (ECDSAP256SHA256) or 15 (ED25519).
        #[arg(long, default_value = "13")]
        algorithm: dnssec::KeyAlgorithm,
        /// One combined signing key instead of a KSK and a ZSK.
        #[arg(long)]
        csk: bool,
    },
    /// Print the DS records (SHA-256) to give the parent zone, and the CDS and CDNSKEY records
    /// the zone publishes for it, in zone-file syntax.
    Ds {
        /// The zone, e.g. example.com.
        #[arg(long)]
        zone: Name,
        /// The key directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Roll the zone's ZSK by pre-publication, one step at a time: `publish` a new ZSK,
    /// `activate` it (the old one is retired), `remove` the old one; `status` shows where the
    /// rollover stands. Reload the agent after each step and wait what the step prints before
    /// the next; a step out of order is refused.
    RollZsk {
        /// The zone, e.g. example.com.
        #[arg(long)]
        zone: Name,
        /// The key directory.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, value_enum)]
        step: RollStep,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RollStep {
    Publish,
    Activate,
    Remove,
    Status,
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
        Command::Keys { command } => run_keys(command),
    }
}

fn run_keys(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Generate {
            zone,
            dir,
            algorithm,
            csk,
        } => {
            let keys = dnssec::generate_zone_keys(&dir, &zone, algorithm, csk, dnssec::unix_now())?;
            for key in &keys {
                println!(
                    "dns-xdp: generated {} {} (algorithm {}): {}.{{key,private,meta}}",
                    key.role(),
                    key.tag(),
                    key.algorithm(),
                    key.file_stem().display()
                );
            }
            println!(
                "dns-xdp: give the parent zone the DS record from `dns-xdp keys ds --zone {} --dir {}`",
                zone,
                dir.display()
            );
            Ok(())
        }
        KeysCommand::Ds { zone, dir } => {
            let keys = dnssec::KeyDir::open(&dir)?.load(&zone)?;
            print!("{}", dnssec::parent_records(&keys));
            Ok(())
        }
        KeysCommand::RollZsk { zone, dir, step } => {
            use dnssec::rollover::{roll_zsk, status, Step};
            let step = match step {
                RollStep::Publish => Step::Publish,
                RollStep::Activate => Step::Activate,
                RollStep::Remove => Step::Remove,
                RollStep::Status => {
                    print!("{}", status(&dir, &zone)?);
                    return Ok(());
                }
            };
            print!("{}", roll_zsk(&dir, &zone, step, dnssec::unix_now())?);
            Ok(())
        }
    }
}
