//! `dns-xdp status`: one screen of the running agent's state, read from its status socket,
//! with whatever is wrong at the top. The exit status says the same for scripts: 0 nothing
//! wrong, 1 something wrong (listed), 2 no agent answers, 3 no report could be read.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use dns_xdp_common::PIN_DIR;
use serde::Serialize;

use crate::{
    fastpath::pin_dir::{self, LINK_PIN},
    status::{
        problems::{problems, Problem},
        socket::{self, AskError},
        span, Answer, AttachMode, Health, Report, Source, SOCKET,
    },
};

/// The exit statuses.
const PROBLEMS: u8 = 1;
const NOT_RUNNING: u8 = 2;
const UNREADABLE: u8 = 3;

#[derive(clap::Args)]
pub struct Args {
    /// One JSON object: the agent's report, `running` and `problems`.
    #[arg(long)]
    json: bool,
    /// The agent's `--status-socket`.
    #[arg(long, default_value = SOCKET)]
    status_socket: PathBuf,
    /// The agent's pin directory: when no agent answers, what it left there is shown.
    #[arg(long, default_value = PIN_DIR)]
    pin_dir: PathBuf,
    /// How long to wait for the agent's report (`500ms`, `5s`).
    #[arg(long, default_value = "5s", value_parser = super::duration_arg)]
    timeout: Duration,
}

/// What `--json` prints: the report's fields beside these.
#[derive(Serialize)]
struct Output<'a> {
    running: bool,
    problems: &'a [Problem],
    #[serde(flatten)]
    report: Option<&'a Report>,
}

pub fn execute(args: Args) -> ExitCode {
    let (report, found, code) = match socket::ask(&args.status_socket, args.timeout) {
        Ok(report) => {
            let found = problems(&report);
            let code = if found.is_empty() { 0 } else { PROBLEMS };
            (Some(report), found, code)
        }
        Err(e) => {
            let code = match e {
                AskError::NotRunning { .. } | AskError::Silent { .. } => NOT_RUNNING,
                AskError::Denied { .. } | AskError::Unreadable { .. } => UNREADABLE,
            };
            let problem = Problem {
                rule: if code == NOT_RUNNING {
                    "not-running"
                } else {
                    "unreadable"
                },
                what: not_answering(&e, &args.pin_dir),
            };
            (None, vec![problem], code)
        }
    };
    if args.json {
        let output = Output {
            running: report.is_some(),
            problems: &found,
            report: report.as_ref(),
        };
        println!(
            "{}",
            serde_json::to_string(&output).expect("the output serialises")
        );
    } else {
        match &report {
            Some(report) => print!("{}", render(report, &found)),
            None => print!("{}", headline(&found)),
        }
    }
    ExitCode::from(code)
}

/// Why no report came, with what the pin directory says about the agent.
fn not_answering(e: &AskError, pin_dir: &Path) -> String {
    let AskError::NotRunning { .. } = e else {
        return e.to_string();
    };
    if let Some(pid) = pin_dir::holder(pin_dir) {
        return format!(
            "{e}, but an agent (pid {pid}) holds {}: it is still starting, or answers on \
             another --status-socket",
            pin_dir.display()
        );
    }
    if pin_dir.join(LINK_PIN).exists() {
        return format!(
            "{e}: no agent is running, but a dead one's program is still attached (pinned in \
             {}) and answers from its last answers; nothing answers what it passes up. Start \
             the agent (it takes over) or `dns-xdp stop` detaches it",
            pin_dir.display()
        );
    }
    format!("{e}: no agent is running")
}

fn headline(found: &[Problem]) -> String {
    let mut text = match found.len() {
        0 => "dns-xdp status: nothing wrong\n".to_string(),
        1 => "dns-xdp status: 1 problem\n".to_string(),
        n => format!("dns-xdp status: {n} problems\n"),
    };
    for problem in found {
        let _ = writeln!(text, "! {}", problem.what);
    }
    text
}

/// Unix seconds as a UTC date and time.
fn date(at: u64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(at as i64) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => format!("{at} (Unix time)"),
    }
}

/// The screen: problems first, then the agent, its paths, zones and pools.
pub fn render(report: &Report, found: &[Problem]) -> String {
    let now = report.now;
    let mut text = headline(found);
    text.push('\n');
    let mut line = |label: &str, value: String| {
        let _ = writeln!(text, "{label:<12} {value}");
    };
    line(
        "agent",
        format!(
            "running (pid {}) since {}, {}; config {}",
            report.agent.pid,
            date(report.agent.started),
            span(now.saturating_sub(report.agent.started)),
            report.agent.config.display()
        ),
    );
    line(
        "fast path",
        match &report.fast_path {
            Some(f) => {
                let mode = match f.mode {
                    AttachMode::Native => "native",
                    AttachMode::Skb => "skb (generic)",
                    AttachMode::TakenOver => "taken over from the previous agent",
                };
                format!(
                    "XDP {mode} on {}, generation {}, pins in {}",
                    f.interface,
                    f.generation,
                    f.pin_dir.display()
                )
            }
            None => "off (XDP off): the fallback answers everything".to_string(),
        },
    );
    let window = &report.last_minute;
    let over = span(window.seconds as u64);
    line(
        "answers",
        match window.fast_path_share() {
            Some(share) => format!(
                "{:.1}% from the fast path over the last {over} ({} fast path, {} fallback)",
                share * 100.0,
                window.fast_path_answers,
                window.fallback_answers
            ),
            None => format!("none in the last {over}"),
        },
    );
    line(
        "fallback",
        format!(
            "on {} (UDP and TCP); {} restart(s), {} panic(s) since the start",
            report.fallback.listen.join(", "),
            report.fallback.restarts,
            report.fallback.panics
        ),
    );
    if let Some(s) = &report.signatures {
        let due = if s.renew_at > now {
            format!("in {}", span(s.renew_at - now))
        } else {
            format!("{} ago", span(now - s.renew_at))
        };
        line(
            "signatures",
            format!(
                "fast path's renewal due {due} ({}); none expires before {}",
                date(s.renew_at),
                date(s.valid_until_at_least)
            ),
        );
    }
    if let Some(c) = &report.checker {
        line(
            "checks",
            format!(
                "{} target(s), last check completed {}",
                c.targets,
                c.last_activity.map_or("never".to_string(), |at| format!(
                    "{} ago",
                    span(now.saturating_sub(at))
                ))
            ),
        );
    }

    let _ = writeln!(text, "\nzones");
    let width = report
        .zones
        .iter()
        .map(|z| z.origin.len())
        .max()
        .unwrap_or(0);
    for zone in &report.zones {
        let source = match &zone.source {
            Source::File { path } => format!("file {}", path.display()),
        };
        let signing = match &zone.signing {
            Some(s) => {
                let keys: Vec<String> = s
                    .keys
                    .iter()
                    .map(|k| format!("{} {} {}", k.role, k.tag, k.state))
                    .collect();
                format!("signed {}: {}", s.algorithm, keys.join(", "))
            }
            None => "unsigned".to_string(),
        };
        let _ = writeln!(
            text,
            "  {:<width$}  serial {:<10}  {source}  {signing}",
            zone.origin, zone.serial
        );
    }

    if !report.pools.is_empty() {
        let _ = writeln!(text, "\npools");
    }
    for pool in &report.pools {
        let _ = writeln!(
            text,
            "  {} {}  {}, ttl {}",
            pool.name, pool.rtype, pool.policy, pool.ttl
        );
        let answers: Vec<String> = pool
            .answers
            .iter()
            .map(|a| describe_answer(a, pool.answers.len() > 1))
            .collect();
        let _ = writeln!(text, "    answers  {}", answers.join(" | "));
        let width = pool
            .members
            .iter()
            .map(|m| m.address.to_string().len())
            .max()
            .unwrap_or(0);
        for m in &pool.members {
            let health = match m.health {
                Health::Up => "up",
                Health::Down => "DOWN",
                Health::Unchecked => "not checked yet",
                Health::Unmonitored => "up (no check)",
            };
            let mut about = Vec::new();
            if let Some(region) = &m.region {
                about.push(format!("region {region}"));
            }
            if pool.policy == "weighted" {
                about.push(format!("weight {}", m.weight));
            }
            if let Some(check) = &m.check {
                about.push(match m.port {
                    Some(port) => format!("check {check} port {port}"),
                    None => format!("check {check}"),
                });
            }
            about.extend(m.reason.clone());
            about.extend(m.latency_ms.map(|ms| format!("{ms:.1} ms")));
            about.extend(
                m.last_check
                    .map(|at| format!("checked {} ago", span(now.saturating_sub(at)))),
            );
            let _ = writeln!(
                text,
                "    {:<width$}  {health:<4}  {}",
                m.address.to_string(),
                about.join(", ")
            );
        }
    }
    text
}

/// One region's answer: its addresses, each variant's share when a query gets one of several,
/// or NODATA.
fn describe_answer(answer: &Answer, by_region: bool) -> String {
    let addresses = |set: &[IpAddr]| {
        set.iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let what = match answer.variants.as_slice() {
        [] => "NODATA".to_string(),
        [only] => addresses(only),
        variants => {
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for variant in variants {
                *counts.entry(addresses(variant)).or_default() += 1;
            }
            counts
                .iter()
                .map(|(set, n)| format!("{set} {:.0}%", *n as f64 * 100.0 / variants.len() as f64))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    match (&answer.region, by_region) {
        (Some(region), _) => format!("{region}: {what}"),
        (None, true) => format!("no region: {what}"),
        (None, false) => what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::problems::tests::{report, NOW};

    #[test]
    fn the_screen_shows_every_fact_and_the_problem_on_top() {
        let mut r = report();
        r.pools[0].members[0].health = Health::Down;
        r.pools[0].members[0].reason = Some("connect refused".into());
        r.pools[0].answers[0].variants = vec![vec!["192.0.2.11".parse().unwrap()]];
        let found = problems(&r);
        let screen = render(&r, &found);
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(lines[0], "dns-xdp status: 1 problem", "{screen}");
        assert!(
            lines[1].starts_with("! check target 192.0.2.10:80 is down"),
            "{screen}"
        );
        for want in [
            "agent        running (pid 4242) since 2027-01-15 06:57:55 UTC, 1h 2m; config \
             /etc/dns-xdp/dns-xdp.toml",
            "fast path    XDP native on eth0, generation 3, pins in /sys/fs/bpf/dns-xdp",
            "answers      98.0% from the fast path over the last 1m 2s (9800 fast path, 200 \
             fallback)",
            "fallback     on 192.0.2.1:53, [2001:db8::1]:53 (UDP and TCP); 0 restart(s), 0 \
             panic(s) since the start",
            "signatures   fast path's renewal due in 1h (2027-01-15 09:00:00 UTC); none expires \
             before 2027-01-17 03:00:00 UTC",
            "checks       2 target(s), last check completed 2s ago",
            "  example.com.  serial 2026120401  file /etc/dns-xdp/zones/example.com.zone  signed \
             ECDSAP256SHA256: KSK 12345 active, ZSK 54321 active",
            "  example.net.  serial 7           file /etc/dns-xdp/zones/example.net.zone  unsigned",
            "  app.example.com. A  failover, ttl 60",
            "    answers  192.0.2.11",
            "    192.0.2.10  DOWN  check web port 80, connect refused, 1.5 ms, checked 2s ago",
            "    192.0.2.11  up    check web port 80, HTTP 200, 1.5 ms, checked 2s ago",
        ] {
            assert!(lines.contains(&want), "{want:?} in\n{screen}");
        }
    }

    #[test]
    fn nothing_wrong_xdp_off_and_answers_by_region_and_share() {
        let mut r = report();
        r.fast_path = None;
        r.signatures = None;
        r.last_minute.fast_path_answers = 0;
        r.last_minute.fallback_answers = 0;
        let screen = render(&r, &problems(&r));
        assert!(
            screen.starts_with("dns-xdp status: nothing wrong\n\n"),
            "{screen}"
        );
        assert!(screen.contains("fast path    off (XDP off)"), "{screen}");
        assert!(
            screen.contains("answers      none in the last 1m 2s"),
            "{screen}"
        );
        assert!(!screen.contains("signatures"), "{screen}");

        let a = |text: &str| text.parse::<IpAddr>().unwrap();
        let weighted = Answer {
            region: None,
            variants: vec![
                vec![a("192.0.2.41")],
                vec![a("192.0.2.41")],
                vec![a("192.0.2.42")],
            ],
        };
        assert_eq!(
            describe_answer(&weighted, false),
            "192.0.2.41 67%, 192.0.2.42 33%"
        );
        let eu = Answer {
            region: Some("eu".into()),
            variants: vec![vec![a("198.51.100.20"), a("198.51.100.21")]],
        };
        assert_eq!(
            describe_answer(&eu, true),
            "eu: 198.51.100.20 198.51.100.21"
        );
        let none = Answer {
            region: None,
            variants: vec![],
        };
        assert_eq!(describe_answer(&none, true), "no region: NODATA");
        assert_eq!(date(NOW), "2027-01-15 08:00:00 UTC");
    }

    #[test]
    fn json_holds_the_report_beside_running_and_problems() {
        let r = report();
        let found = problems(&r);
        let output = Output {
            running: true,
            problems: &found,
            report: Some(&r),
        };
        let value = serde_json::to_value(&output).unwrap();
        assert_eq!(value["running"], true);
        assert_eq!(value["problems"], serde_json::json!([]));
        assert_eq!(value["zones"][0]["serial"], 2026120401);
        assert_eq!(value["zones"][0]["source"]["kind"], "file");
        assert_eq!(value["pools"][0]["members"][1]["health"], "up");
        assert_eq!(value["fast_path"]["mode"], "native");
        // And it reads back as the report it holds.
        let back: Report = serde_json::from_value(value).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn an_absent_agent_says_what_it_left() {
        let dir = std::env::temp_dir().join(format!("dns-xdp-status-cli-{}", std::process::id()));
        let e = socket::ask(&dir.join("status.sock"), Duration::from_secs(1)).unwrap_err();
        let what = not_answering(&e, &dir);
        assert!(what.ends_with(": no agent is running"), "{what}");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(LINK_PIN), "").unwrap();
        let what = not_answering(&e, &dir);
        assert!(
            what.contains("a dead one's program is still attached"),
            "{what}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
