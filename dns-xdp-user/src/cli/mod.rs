//! The `dns-xdp` command line: one module per subcommand, each with its arguments and what it
//! does with them. Errors reach the person at the terminal here, one line each.

mod check;
mod keys;
mod maps;
mod reload;
mod run;
pub mod stats;
mod status;
pub mod stop;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing::level_filters::LevelFilter;

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
    /// Show the running agent's state on one screen, whatever is wrong at the top. Exits 0
    /// when nothing is wrong, 1 when something is, 2 when no agent answers, 3 when its
    /// report cannot be read.
    Status(status::Args),
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

/// The log filter without `RUST_LOG`: dns-xdp's own state changes and everyone's warnings.
const DEFAULT_LOG_FILTER: &str = "warn,dns_xdp_user=info";

/// Dependencies that log at warning level once per packet they are handed, and the level they
/// are held at unless `RUST_LOG` names them: hickory-proto warns of every malformed EDNS
/// option it parses (20,000 such queries made 20,000 lines, 2.6 MB). dns-xdp counts and
/// summarises malformed queries itself (`dns_xdp_fallback_malformed_total`).
const PER_PACKET_LOGGERS: [(&str, LevelFilter); 1] = [("hickory_proto", LevelFilter::ERROR)];

/// Structured logs to stderr. Quiet by default: dns-xdp logs what changes (start, reload,
/// health, steering) and nothing per query.
fn init_logging(format: LogFormat) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (directives, rejected) = match rust_log.as_deref().map(str::trim) {
        None | Some("") => (log_filter(DEFAULT_LOG_FILTER), None),
        Some(text) => match tracing_subscriber::EnvFilter::try_new(text) {
            Ok(_) => (log_filter(text), None),
            Err(e) => (log_filter(DEFAULT_LOG_FILTER), Some((text.to_string(), e))),
        },
    };
    // The directives parsed above, plus ones of the fixed form `target=level`.
    let filter = tracing_subscriber::EnvFilter::new(directives);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // `init` also routes the `log` records of dns-xdp's modules and its dependencies here.
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    if let Some((text, e)) = rejected {
        log::warn!(
            "RUST_LOG={text:?} is not a log filter ({e}); using the default, \
             {DEFAULT_LOG_FILTER:?}. Write it as comma-separated `level` or `target=level`, \
             e.g. RUST_LOG=debug or RUST_LOG=info,hickory_proto=warn"
        );
    }
}

/// `base` (the user's `RUST_LOG` or the default) with each of [`PER_PACKET_LOGGERS`] held at
/// its level unless `base` has a directive of its own for it: `RUST_LOG=debug` makes dns-xdp
/// and the rest verbose without one line per packet, `RUST_LOG=debug,hickory_proto=debug`
/// gets those lines too. The hold only ever quietens: a `base` whose level for everything else
/// is already at most the hold's (`off`, `error`, or none given) is left as it is.
fn log_filter(base: &str) -> String {
    // The level of the last directive that names no target, as EnvFilter takes it.
    let global = base
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty() && !directive.contains(['=', '[']))
        .filter_map(|directive| directive.parse::<LevelFilter>().ok())
        .next_back();
    let mut directives = base.to_string();
    for (target, level) in PER_PACKET_LOGGERS {
        if global.is_none_or(|global| global <= level) {
            continue;
        }
        let named = base.split(',').any(|directive| {
            // A directive is `target[span{field=value}]=level` or `level`: its target ends at
            // the first `[` or `=`.
            let directive_target = directive.split(['[', '=']).next().unwrap_or("").trim();
            directive.contains('=')
                && (directive_target == target
                    || directive_target.starts_with(&format!("{target}::")))
        });
        if !named {
            directives.push_str(&format!(",{target}={level}"));
        }
    }
    directives
}

/// Runs the command line of this process.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let result = match cli.command {
        // `check` has exit codes of its own: 0 clean, 1 findings, 2 errors.
        Command::Check(args) => return check::execute(args),
        // So has `status`: 0 nothing wrong, 1 something wrong, 2 not running, 3 unreadable.
        Command::Status(args) => return status::execute(args),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_packet_loggers_stay_at_error_unless_rust_log_names_them() {
        assert_eq!(
            log_filter(DEFAULT_LOG_FILTER),
            "warn,dns_xdp_user=info,hickory_proto=error"
        );
        assert_eq!(log_filter("debug"), "debug,hickory_proto=error");
        assert_eq!(
            log_filter("info,hickory_proto=warn"),
            "info,hickory_proto=warn"
        );
        assert_eq!(
            log_filter("warn,hickory_proto::rr=trace"),
            "warn,hickory_proto::rr=trace"
        );
        // A span filter naming it, and a target that only starts alike.
        assert_eq!(
            log_filter("info,hickory_proto[decode]=debug"),
            "info,hickory_proto[decode]=debug"
        );
        assert_eq!(
            log_filter("info,hickory_protocol=debug"),
            "info,hickory_protocol=debug,hickory_proto=error"
        );
        // Never louder than asked: off, error, or no level for the rest.
        for quiet in ["off", "error", "dns_xdp_user=debug", "info,off"] {
            assert_eq!(log_filter(quiet), quiet);
        }
    }

    /// The filter as built holds hickory-proto's warnings back and lets dns-xdp's through.
    #[test]
    fn the_built_filter_drops_hickory_proto_warnings() {
        use tracing_subscriber::layer::SubscriberExt;

        #[derive(Clone, Default)]
        struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new(log_filter("info")))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "hickory_proto::rr::rdata::opt", "per packet");
            tracing::error!(target: "hickory_proto::op", "kept");
            tracing::info!(target: "dns_xdp_user::daemon", "state change");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("per packet"), "{text}");
        assert!(
            text.contains("kept") && text.contains("state change"),
            "{text}"
        );
    }
}
