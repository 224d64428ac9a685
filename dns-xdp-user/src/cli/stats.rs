//! `dns-xdp stats`: the fast-path counters of a running agent, read from its pinned map; with
//! `--watch`, refreshed in the terminal with the rate of each. With `--metrics ADDR` also what
//! only the agent knows (fallback queries, health, publications, zone serials), read from its
//! Prometheus endpoint: the same figures as the metrics, in a terminal.

use std::{
    fmt::Write as _,
    io::{self, IsTerminal, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::Path,
    thread,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, Result};
use dns_xdp_common::PIN_DIR;

use crate::fastpath::counters::Counters;

#[derive(clap::Args)]
pub struct Args {
    /// One JSON object instead of a table.
    #[arg(long, conflicts_with = "watch")]
    json: bool,
    /// Refresh every `--interval`, with each counter's rate per second, until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// How often `--watch` refreshes (`500ms`, `1s`, `1m`).
    #[arg(long, default_value = "1s", value_parser = super::duration_arg, requires = "watch")]
    interval: Duration,
    #[arg(long, default_value = PIN_DIR)]
    pin_dir: std::path::PathBuf,
    /// Also show the fallback's queries, health, publications and zone serials from the
    /// agent's metrics endpoint (`[metrics] listen`, e.g. 127.0.0.1:9153).
    #[arg(long)]
    metrics: Option<SocketAddr>,
}

pub fn execute(args: Args) -> Result<()> {
    if args.watch {
        watch(&args.pin_dir, args.interval, args.metrics)
    } else {
        print(&args.pin_dir, args.json, args.metrics)
    }
}

pub fn print(pin_dir: &Path, json: bool, metrics: Option<SocketAddr>) -> Result<()> {
    let counters = Counters::read_pinned(pin_dir).with_context(|| {
        format!(
            "reading the counters pinned in {}: is `dns-xdp run` running with XDP on (and are you \
             root)?",
            pin_dir.display()
        )
    })?;
    print!("{}", render(&counters, json));
    if let Some(addr) = metrics {
        if !json {
            println!();
        }
        print!("{}", agent_status(addr, json)?);
    }
    Ok(())
}

/// The agent's own figures from its metrics endpoint at `addr`, as text (or JSON: the samples
/// by metric name).
pub fn agent_status(addr: SocketAddr, json: bool) -> Result<String> {
    let text = scrape(addr).with_context(|| {
        format!(
            "reading http://{addr}/metrics: is the agent running with `[metrics] listen = \
             \"{addr}\"`?"
        )
    })?;
    let samples = parse_exposition(&text);
    Ok(if json {
        let map: serde_json::Map<String, serde_json::Value> = samples
            .iter()
            .map(|(name, labels, value)| {
                let key = if labels.is_empty() {
                    name.clone()
                } else {
                    format!("{name}{{{labels}}}")
                };
                (key, (*value).into())
            })
            .collect();
        format!("{}\n", serde_json::Value::Object(map))
    } else {
        render_status(&samples, SystemTime::now())
    })
}

/// One GET of `/metrics`, HTTP/1.1, the body returned.
fn scrape(addr: SocketAddr) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("not an HTTP reply"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(
            head.lines().next().unwrap_or_default().to_string(),
        ));
    }
    Ok(body.to_string())
}

/// (name, labels as written, value) of each sample line.
fn parse_exposition(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            Some((name.to_string(), labels.to_string(), value))
        })
        .collect()
}

/// The value of label `key` in `labels` (`a="x",b="y"`).
fn label<'a>(labels: &'a str, key: &str) -> &'a str {
    labels
        .split("\",")
        .find_map(|pair| pair.strip_prefix(&format!("{key}=\"")))
        .map_or("", |v| v.trim_end_matches('"'))
}

fn render_status(samples: &[(String, String, f64)], now: SystemTime) -> String {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let ago = |at: f64| format!("{:.0}s ago", (now - at).max(0.0));
    fn of<'a>(
        samples: &'a [(String, String, f64)],
        name: &'a str,
    ) -> impl Iterator<Item = &'a (String, String, f64)> + 'a {
        samples.iter().filter(move |(n, _, _)| n == name)
    }
    let mut text = String::new();
    let mut section = |title: &str, lines: Vec<String>| {
        let _ = writeln!(text, "{title}");
        if lines.is_empty() {
            let _ = writeln!(text, "  (none)");
        }
        for line in lines {
            let _ = writeln!(text, "  {line}");
        }
    };
    section(
        "fallback responses (transport, rcode)",
        of(samples, "dns_xdp_fallback_responses_total")
            .map(|(_, l, v)| format!("{:<4} {:<9} {v}", label(l, "transport"), label(l, "rcode")))
            .collect(),
    );
    section(
        "fallback queries (transport, type)",
        of(samples, "dns_xdp_fallback_queries_total")
            .map(|(_, l, v)| format!("{:<4} {:<9} {v}", label(l, "transport"), label(l, "qtype")))
            .collect(),
    );
    let mut health = Vec::new();
    for (_, labels, up) in of(samples, "dns_xdp_health_up") {
        let same = |name: &str| {
            of(samples, name)
                .find(|(_, l, _)| l == labels)
                .map(|(_, _, v)| *v)
        };
        let latency = same("dns_xdp_health_check_duration_seconds")
            .map_or(String::new(), |s| format!(", {:.1} ms", s * 1e3));
        let checked = same("dns_xdp_health_last_check_timestamp_seconds")
            .map_or(String::new(), |at| format!(", checked {}", ago(at)));
        health.push(format!(
            "{} ({}): {}{latency}{checked}",
            label(labels, "target"),
            label(labels, "check"),
            if *up == 1.0 { "up" } else { "DOWN" }
        ));
    }
    if let Some((_, _, at)) = of(
        samples,
        "dns_xdp_health_checker_last_activity_timestamp_seconds",
    )
    .next()
    {
        health.push(format!("checker last probed {}", ago(*at)));
    }
    section("health", health);
    let mut published = Vec::new();
    if let Some((_, _, generation)) = of(samples, "dns_xdp_publish_generation").next() {
        published.push(format!("fast-path generation {generation}"));
    }
    if let Some((_, _, at)) = of(samples, "dns_xdp_last_publish_timestamp_seconds").next() {
        published.push(format!("last published {}", ago(*at)));
    }
    published.extend(
        of(samples, "dns_xdp_zone_serial")
            .map(|(_, l, v)| format!("zone {} serial {v}", label(l, "zone"))),
    );
    section("published", published);
    text
}

pub fn render(counters: &Counters, json: bool) -> String {
    if json {
        let map: serde_json::Map<String, serde_json::Value> = counters
            .iter()
            .map(|(c, v)| (c.name().to_string(), v.into()))
            .collect();
        format!("{}\n", serde_json::Value::Object(map))
    } else {
        let width = counters
            .iter()
            .map(|(c, _)| c.name().len())
            .max()
            .unwrap_or(0);
        counters
            .iter()
            .map(|(c, v)| format!("{:width$}  {v}\n", c.name()))
            .collect()
    }
}

/// Prints the counters every `interval` with their rates over the last interval, until
/// interrupted. The map is opened afresh each time, so the watch follows an agent that restarts
/// (or takes over); while none is running it says so and waits.
pub fn watch(pin_dir: &Path, interval: Duration, metrics: Option<SocketAddr>) -> Result<()> {
    let terminal = io::stdout().is_terminal();
    let mut previous: Option<(Instant, Counters)> = None;
    loop {
        let now = Instant::now();
        let body = match Counters::read_pinned(pin_dir) {
            Ok(counters) => {
                let since = previous
                    .as_ref()
                    .map(|(at, before)| (before, now.duration_since(*at)));
                let text = render_rates(&counters, since);
                previous = Some((now, counters));
                text
            }
            Err(e) => {
                previous = None;
                format!(
                    "no counters pinned ({}); waiting for an agent\n",
                    crate::error::describe(&e.into())
                )
            }
        };
        let body = match metrics.map(|addr| agent_status(addr, false)) {
            Some(Ok(status)) => format!("{body}\n{status}"),
            Some(Err(e)) => format!("{body}\n{}\n", crate::error::describe(&e)),
            None => body,
        };
        // Clear the screen and go home; when piped, frames simply follow each other.
        let clear = if terminal { "\x1b[H\x1b[2J" } else { "\n" };
        let frame = format!(
            "{clear}dns-xdp stats: {}, every {interval:?} (Ctrl-C to quit)\n\n{body}",
            pin_dir.display()
        );
        let mut out = io::stdout().lock();
        match out.write_all(frame.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`| head`): done, not an error.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        drop(out);
        thread::sleep(interval.saturating_sub(now.elapsed()));
    }
}

/// The counters with their totals and, given the previous reading and the time since, their
/// rates per second. A counter that went down (the maps were replaced) has no rate.
pub fn render_rates(counters: &Counters, since: Option<(&Counters, Duration)>) -> String {
    let width = counters
        .iter()
        .map(|(c, _)| c.name().len())
        .max()
        .unwrap_or(0);
    let mut text = format!(
        "{:width$}  {:>14}  {:>12}\n",
        "counter", "total", "per second"
    );
    for (counter, total) in counters.iter() {
        let rate = since
            .filter(|(_, elapsed)| !elapsed.is_zero())
            .and_then(|(before, elapsed)| {
                let delta = total.checked_sub(before.get(counter))?;
                Some(delta as f64 / elapsed.as_secs_f64())
            })
            .map_or("-".to_string(), |rate| format!("{rate:.1}"));
        let _ = writeln!(text, "{:width$}  {total:>14}  {rate:>12}", counter.name());
    }
    text
}

#[cfg(test)]
mod tests {
    use dns_xdp_common::counters::{Counter, COUNTER_COUNT};

    use super::*;

    #[test]
    fn renders_every_counter_by_name() {
        let mut values = [0u64; COUNTER_COUNT];
        values[Counter::AnsweredV6 as usize] = 7;
        let c = Counters(values);
        let text = render(&c, false);
        assert_eq!(text.lines().count(), COUNTER_COUNT);
        assert!(text.contains("answered_v6          7"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render(&c, true)).unwrap();
        assert_eq!(json["answered_v6"], 7);
        assert_eq!(json["pass_miss"], 0);
    }

    #[test]
    fn agent_status_from_the_exposition() {
        let text = "# HELP x\n# TYPE dns_xdp_fallback_responses_total counter\n\
            dns_xdp_fallback_responses_total{transport=\"udp\",rcode=\"NXDOMAIN\"} 4\n\
            dns_xdp_health_up{target=\"192.0.2.10:80\",check=\"web\"} 0\n\
            dns_xdp_health_check_duration_seconds{target=\"192.0.2.10:80\",check=\"web\"} 0.0025\n\
            dns_xdp_health_last_check_timestamp_seconds{target=\"192.0.2.10:80\",check=\"web\"} 95\n\
            dns_xdp_publish_generation 3\n\
            dns_xdp_zone_serial{zone=\"example.com.\"} 7\n";
        let samples = parse_exposition(text);
        assert_eq!(samples.len(), 6);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let status = render_status(&samples, now);
        for want in [
            "  udp  NXDOMAIN  4",
            "  192.0.2.10:80 (web): DOWN, 2.5 ms, checked 5s ago",
            "  fast-path generation 3",
            "  zone example.com. serial 7",
        ] {
            assert!(status.lines().any(|l| l == want), "{want:?} in\n{status}");
        }
        assert!(
            status.contains("fallback queries (transport, type)\n  (none)"),
            "{status}"
        );
    }

    #[test]
    fn rates_per_second_from_two_readings() {
        let mut before = [0u64; COUNTER_COUNT];
        before[Counter::AnsweredV4 as usize] = 1000;
        before[Counter::PassMiss as usize] = 50;
        let mut after = before;
        after[Counter::AnsweredV4 as usize] = 5000;
        // Replaced maps start again from zero: no rate rather than a huge one.
        after[Counter::PassMiss as usize] = 3;
        let (before, after) = (Counters(before), Counters(after));

        let text = render_rates(&after, Some((&before, Duration::from_secs(2))));
        let line = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name} in:\n{text}"))
                .split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
        };
        assert!(text.starts_with("counter"), "{text}");
        assert_eq!(text.lines().count(), COUNTER_COUNT + 1);
        assert_eq!(line("answered_v4"), ["5000", "2000.0"]);
        assert_eq!(line("answered_v6"), ["0", "0.0"]);
        assert_eq!(line("pass_miss"), ["3", "-"]);

        let first = render_rates(&after, None);
        assert_eq!(
            first
                .lines()
                .find(|l| l.starts_with("answered_v4"))
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>(),
            ["answered_v4", "5000", "-"]
        );
    }
}
