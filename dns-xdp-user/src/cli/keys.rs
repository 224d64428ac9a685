//! `dns-xdp keys`: a zone's DNSSEC keys (see [`crate::dnssec`]).

use std::path::PathBuf;

use anyhow::Result;
use hickory_proto::rr::Name;

use crate::dnssec;

#[derive(clap::Subcommand)]
pub enum Command {
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
pub enum RollStep {
    Publish,
    Activate,
    Remove,
    Status,
}

pub fn execute(command: Command) -> Result<()> {
    match command {
        Command::Generate {
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
        Command::Ds { zone, dir } => {
            let keys = dnssec::KeyDir::open(&dir)?.load(&zone)?;
            print!("{}", dnssec::parent_records(&keys));
            Ok(())
        }
        Command::RollZsk { zone, dir, step } => {
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
