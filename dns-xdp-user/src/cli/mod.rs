//! The `dns-xdp` command line: one module per subcommand, each with its arguments and what it
//! does with them. Errors reach the person at the terminal here, one line each.

mod check;
mod keys;
mod maps;
mod reload;
mod run;
pub mod stats;
pub mod stop;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Authoritative DNS with an XDP fast path.
#[derive(Parser)]
#[command(name = "dns-xdp", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text or as one JSON object each (for log shippers). Which lines: the
    /// RUST_LOG filter, by default dns-xdp's own state changes (info) and others' warnings.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Load the zones, attach the fast path and serve until SIGINT/SIGTERM; SIGHUP reloads the
    /// config and the zones; SIGUSR2 exits leaving the fast path attached for the next agent.
    Run(run::Args),
    /// Ask the running agent to reload its config and zones (sends it SIGHUP). If anything
    /// fails to load, the agent keeps serving what it had and logs why.
    Reload(reload::Args),
    /// Stop the running agent (SIGTERM: it detaches the fast path and removes its pins) and
    /// wait until it has exited. With no agent running, remove what a dead one left pinned,
    /// detaching its program from the interface.
    Stop(stop::Args),
    /// Print the fast-path counters of the running agent, summed over CPUs.
    Stats(stats::Args),
    /// Inspect the running agent's pinned BPF maps.
    Maps {
        #[command(subcommand)]
        command: maps::Command,
    },
    /// Lint a config and its zones for designs that hurt in production, each finding
    /// explained. Exits 0 when clean, 1 with findings, 2 when the config or a zone does not
    /// load (the error is printed).
    Check(check::Args),
    /// Manage a zone's DNSSEC keys.
    Keys {
        #[command(subcommand)]
        command: keys::Command,
    },
}

/// Structured logs to stderr. Quiet by default: dns-xdp logs what changes (start, reload,
/// health, steering) and nothing per query.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,dns_xdp_user=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // `init` also routes the `log` records of dns-xdp's modules and its dependencies here.
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the command line of this process.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        // `check` has exit codes of its own: 0 clean, 1 findings, 2 errors.
        Command::Check(args) => return check::execute(args),
        Command::Run(args) => run::execute(args),
        Command::Reload(args) => reload::execute(args),
        Command::Stop(args) => stop::execute(args),
        Command::Stats(args) => stats::execute(args),
        Command::Maps { command } => maps::execute(command),
        Command::Keys { command } => keys::execute(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", crate::error::describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// Parses a `--timeout`/`--interval` value the way the config file reads durations.
fn duration_arg(text: &str) -> Result<std::time::Duration, String> {
    crate::config::duration::parse(text)
}
