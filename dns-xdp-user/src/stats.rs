//! `dns-xdp stats`: the fast-path counters of a running agent, read from its pinned map; with
//! `--watch`, refreshed in the terminal with the rate of each.

use std::{
    fmt::Write as _,
    io::{self, IsTerminal, Write as _},
    path::Path,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};

use crate::dataplane::Counters;

pub fn print(pin_dir: &Path, json: bool) -> Result<()> {
    let counters = Counters::read_pinned(pin_dir).with_context(|| {
        format!(
            "reading the counters pinned in {}: is `dns-xdp run` running with XDP on (and are you \
             root)?",
            pin_dir.display()
        )
    })?;
    print!("{}", render(&counters, json));
    Ok(())
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
pub fn watch(pin_dir: &Path, interval: Duration) -> Result<()> {
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
                    crate::agent::describe_error(&e.into())
                )
            }
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
