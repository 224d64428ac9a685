//! `dns-xdp check`: lints a config and its zones (see [`crate::lint`]).

use std::{path::PathBuf, process::ExitCode};

use crate::lint;

#[derive(clap::Args)]
pub struct Args {
    /// TOML config file.
    #[arg(long, short)]
    config: PathBuf,
    /// One JSON object (`findings`, or `error`) instead of text.
    #[arg(long)]
    json: bool,
    /// Leave out a rule's findings (repeatable), for designs chosen on purpose.
    #[arg(long, value_enum)]
    allow: Vec<lint::Rule>,
}

/// Its own exit codes: 0 clean, 1 findings, 2 errors.
pub fn execute(args: Args) -> ExitCode {
    match lint::check(&args.config) {
        Ok(mut findings) => {
            findings.retain(|f| !args.allow.contains(&f.rule));
            if args.json {
                print!("{}", lint::render_json(&args.config, &findings));
            } else {
                print!("{}", lint::render_text(&args.config, &findings));
            }
            ExitCode::from(u8::from(!findings.is_empty()))
        }
        Err(e) => {
            let error = crate::error::describe(&e);
            if args.json {
                println!("{}", serde_json::json!({ "error": error }));
            }
            eprintln!("Error: {error}");
            ExitCode::from(2)
        }
    }
}
