//! `dns-xdp maps dump`: the pinned maps decoded as DNS (see [`crate::fastpath::maps_dump`]).

use std::path::PathBuf;

use anyhow::Result;
use dns_xdp_common::PIN_DIR;

use crate::fastpath::maps_dump;

#[derive(clap::Subcommand)]
pub enum Command {
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

pub fn execute(command: Command) -> Result<()> {
    let Command::Dump {
        name,
        json,
        pin_dir,
    } = command;
    let dumps = maps_dump::dump(&pin_dir, name.as_deref())?;
    if json {
        print!("{}", maps_dump::render_json(&dumps));
    } else {
        print!("{}", maps_dump::render_text(&dumps));
    }
    Ok(())
}
