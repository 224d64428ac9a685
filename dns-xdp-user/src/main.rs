use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::Result;
use clap::{Parser, Subcommand};
use dns_xdp_common::PIN_DIR;
use dns_xdp_user::{agent, dataplane::XdpAttachMode, dnssec, lint, maps_dump, stats, stop};
use hickory_proto::rr::Name;

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

#[derive(Subcommand)]
enum Command {
    /// Load the zones, attach the fast path and serve until SIGINT/SIGTERM; SIGHUP reloads the
    /// config and the zones; SIGUSR2 exits leaving the fast path attached for the next agent.
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
    /// Stop the running agent (SIGTERM: it detaches the fast path and removes its pins) and
    /// wait until it has exited. With no agent running, remove what a dead one left pinned,
    /// detaching its program from the interface.
    Stop {
        #[arg(long, default_value = PIN_DIR)]
        pin_dir: PathBuf,
        /// The agent's `--pid-file`; without it the agent is found as the holder of the pin
        /// directory.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// How long to wait for the agent to exit (`500ms`, `30s`, `2m`).
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        timeout: Duration,
        /// Leave the fast path attached and answering, with its pins, for the next agent to
        /// take over (sends SIGUSR2): for upgrades without a gap.
        #[arg(long)]
        handover: bool,
    },
    /// Print the fast-path counters of the running agent, summed over CPUs.
    Stats {
        /// One JSON object instead of a table.
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// Refresh every `--interval`, with each counter's rate per second, until Ctrl-C.
        #[arg(long)]
        watch: bool,
        /// How often `--watch` refreshes (`500ms`, `1s`, `1m`).
        #[arg(long, default_value = "1s", value_parser = parse_duration, requires = "watch")]
        interval: Duration,
        #[arg(long, default_value = PIN_DIR)]
        pin_dir: PathBuf,
        /// Also show the fallback's queries, health, publications and zone serials from the
        /// agent's metrics endpoint (`[metrics] listen`, e.g. 127.0.0.1:9153).
        #[arg(long)]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Inspect the running agent's pinned BPF maps.
    Maps {
        #[command(subcommand)]
        command: MapsCommand,
    },
    /// Lint a config and its zones for designs that hurt in production, each finding
    /// explained. Exits 0 when clean, 1 with findings, 2 when the config or a zone does not
    /// load (the error is printed).
    Check {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// One JSON object (`findings`, or `error`) instead of text.
        #[arg(long)]
        json: bool,
        /// Leave out a rule's findings (repeatable), for designs chosen on purpose.
        #[arg(long, value_enum)]
        allow: Vec<lint::Rule>,
    },
    /// Manage a zone's DNSSEC keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
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
    let cli = Cli::parse();
    init_logging(cli.log_format);
    if let Command::Check {
        config,
        json,
        allow,
    } = &cli.command
    {
        return check(config, *json, allow);
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", agent::describe_error(&e));
            ExitCode::FAILURE
        }
    }
}

/// `dns-xdp check`: its own exit codes, 0 clean, 1 findings, 2 errors.
fn check(config: &Path, json: bool, allow: &[lint::Rule]) -> ExitCode {
    match lint::check(config) {
        Ok(mut findings) => {
            findings.retain(|f| !allow.contains(&f.rule));
            if json {
                print!("{}", lint::render_json(config, &findings));
            } else {
                print!("{}", lint::render_text(config, &findings));
            }
            ExitCode::from(u8::from(!findings.is_empty()))
        }
        Err(e) => {
            let error = agent::describe_error(&e);
            if json {
                println!("{}", serde_json::json!({ "error": error }));
            }
            eprintln!("Error: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Check { .. } => unreachable!("handled in main"),
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
            if let agent::Ended::HandedOver = result? {
                std::process::exit(agent::HANDOVER_EXIT_STATUS.into());
            }
            Ok(())
        }
        Command::Reload { pid_file } => {
            let pid = agent::signal_reload(&pid_file)?;
            println!(
                "dns-xdp: asked the agent (pid {pid}) to reload; its log says whether the new \
                 zones are served"
            );
            Ok(())
        }
        Command::Stop {
            pin_dir,
            pid_file,
            timeout,
            handover,
        } => {
            let stopped = stop::stop(&pin_dir, pid_file.as_deref(), timeout, handover)?;
            println!("{}", stop::describe(&stopped, &pin_dir));
            Ok(())
        }
        Command::Stats {
            json,
            watch,
            interval,
            pin_dir,
            metrics,
        } => {
            if watch {
                stats::watch(&pin_dir, interval, metrics)
            } else {
                stats::print(&pin_dir, json, metrics)
            }
        }
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

/// `500ms`, `30s`, `2m`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((text, "s"), |at| text.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 500ms, 30s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("unit {unit:?} in {text:?}: use ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3h").unwrap_err().contains("use ms, s or m"));
        assert!(parse_duration("soon").is_err());
    }
}
