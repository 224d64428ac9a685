//! dnsperf (Debian's `dnsperf` 2.10) run from a topology's client namespace, its summary
//! parsed, and latency percentiles taken from its verbose output.
//!
//! This dnsperf has no latency histogram: its summary gives only the average, minimum, maximum
//! and standard deviation. With `-v` it prints one line per response, `> NOERROR name type
//! 0.000123` (the latency in seconds; `T` instead of the RCODE for a query that timed out), so
//! the percentiles are computed from those lines, read from its stdout as it runs.

use std::{
    io::{BufRead, BufReader, Read},
    net::IpAddr,
    path::Path,
    process::{Command, Stdio},
    thread,
};

use anyhow::{ensure, Context, Result};

use crate::{bench::tool, netns::Topology};

/// One dnsperf run.
pub struct Dnsperf<'a> {
    pub server: IpAddr,
    /// The query file, `name type` per line; dnsperf loops over it.
    pub queries: &'a Path,
    /// `-l`: how long to send.
    pub seconds: u32,
    /// `-c`: clients (sockets).
    pub clients: u32,
    /// `-q`: queries outstanding at most.
    pub outstanding: u32,
    /// `-Q`: the rate to send at; `None` sends as fast as answers allow.
    pub max_qps: Option<u32>,
    /// `-t`: how long a query may wait for its answer before it counts as lost (and how long
    /// dnsperf waits at the end); `None` keeps dnsperf's 5 s.
    pub timeout_seconds: Option<u32>,
    /// `-v`, for [`Perf::latency`].
    pub percentiles: bool,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Perf {
    pub qps: f64,
    pub avg_latency_us: f64,
    pub min_latency_us: f64,
    pub max_latency_us: f64,
    pub stddev_latency_us: f64,
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
    /// As dnsperf prints them, e.g. "NOERROR 90000 (90.00%), NXDOMAIN 10000 (10.00%)".
    pub rcodes: String,
    pub response_bytes: f64,
    pub run_seconds: f64,
    /// dnsperf's own CPU time per second of the run (1.0 = one core).
    pub dnsperf_cpu: f64,
    /// With [`Dnsperf::percentiles`].
    pub latency: Option<Percentiles>,
}

/// Latency percentiles over every answered query of a run, in µs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
}

impl Percentiles {
    /// From latencies in seconds (sorted here); `None` for none.
    pub fn from_seconds(mut latencies: Vec<f64>) -> Option<Self> {
        if latencies.is_empty() {
            return None;
        }
        latencies.sort_by(f64::total_cmp);
        // Nearest rank: the smallest value at or above which the share `p` of samples lies.
        let at = |p: f64| {
            let rank = (p * latencies.len() as f64).ceil() as usize;
            latencies[rank.clamp(1, latencies.len()) - 1] * 1e6
        };
        Some(Self {
            samples: latencies.len(),
            p50_us: at(0.50),
            p90_us: at(0.90),
            p99_us: at(0.99),
            p999_us: at(0.999),
        })
    }
}

impl Dnsperf<'_> {
    /// Runs dnsperf in the topology's client namespace and waits for it.
    pub fn run(&self, topology: &Topology) -> Result<Perf> {
        let mut cmd = Command::new(tool("dnsperf")?);
        cmd.args(["-s", &self.server.to_string(), "-d"])
            .arg(self.queries)
            .args(["-l", &self.seconds.to_string()])
            .args(["-c", &self.clients.to_string()])
            .args(["-q", &self.outstanding.to_string()]);
        if let Some(qps) = self.max_qps {
            cmd.args(["-Q", &qps.to_string()]);
        }
        if let Some(timeout) = self.timeout_seconds {
            cmd.args(["-t", &timeout.to_string()]);
        }
        if self.percentiles {
            cmd.arg("-v");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = topology.spawn(&topology.client_ns, &mut cmd)?;
        let stdout = child.stdout.take().expect("piped");
        // Per-response lines go to latencies, the rest (the summary) to text.
        let reader = thread::spawn(move || {
            let mut text = String::new();
            let mut latencies = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match line.strip_prefix("> ") {
                    Some(response) => latencies.extend(response_latency(response)),
                    None => {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
            }
            (text, latencies)
        });
        let mut stderr = child.stderr.take().expect("piped");
        let errors = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut status = 0;
        // SAFETY: rusage is plain data, valid when zeroed.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child; `status` and `usage` are valid for writes.
        let rc = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
        ensure!(rc > 0, "wait4: {}", std::io::Error::last_os_error());
        let (out, latencies) = reader.join().expect("dnsperf reader");
        let stderr = errors.join().unwrap_or_default();
        ensure!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "dnsperf failed (status {status:#x}): {stderr}{out}"
        );
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let mut perf = parse(&out)?;
        perf.dnsperf_cpu = (secs(usage.ru_utime) + secs(usage.ru_stime)) / perf.run_seconds;
        if self.percentiles {
            perf.latency = Percentiles::from_seconds(latencies);
        }
        Ok(perf)
    }
}

/// The latency of a verbose response line without its `> `: `NOERROR name type 0.000123`; none
/// for a query that timed out (`T`) or was interrupted (`I`).
fn response_latency(line: &str) -> Option<f64> {
    let mut fields = line.split_whitespace();
    let rcode = fields.next()?;
    if rcode == "T" || rcode == "I" {
        return None;
    }
    fields.last()?.parse().ok()
}

/// The text after `label:` on the line that starts with it.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix(label)?.strip_prefix(':'))
        .map(str::trim)
}

fn first_number(text: &str) -> Option<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|s| !s.is_empty())?
        .parse()
        .ok()
}

/// The number after `key ` in text such as "0.000745 (min 0.000020, max 0.004640)".
fn after(text: &str, key: &str) -> Option<f64> {
    first_number(text.split_once(key)?.1)
}

/// dnsperf's summary ("Statistics:" and below).
pub fn parse(out: &str) -> Result<Perf> {
    let get = |label: &str| {
        field(out, label).with_context(|| format!("dnsperf printed no {label:?}:\n{out}"))
    };
    let number = |label: &str| -> Result<f64> {
        first_number(get(label)?).with_context(|| format!("dnsperf {label:?} is not a number"))
    };
    let latency = get("Average Latency (s)")?;
    Ok(Perf {
        qps: number("Queries per second")?,
        avg_latency_us: first_number(latency).unwrap_or(f64::NAN) * 1e6,
        min_latency_us: after(latency, "min").unwrap_or(f64::NAN) * 1e6,
        max_latency_us: after(latency, "max").unwrap_or(f64::NAN) * 1e6,
        stddev_latency_us: number("Latency StdDev (s)")? * 1e6,
        sent: number("Queries sent")? as u64,
        completed: number("Queries completed")? as u64,
        lost: number("Queries lost")? as u64,
        rcodes: get("Response codes")?.to_string(),
        response_bytes: field(out, "Average packet size")
            .and_then(|s| after(s, "response"))
            .unwrap_or(f64::NAN),
        run_seconds: number("Run time (s)")?,
        dnsperf_cpu: 0.0,
        latency: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As dnsperf 2.10 prints it.
    const SUMMARY: &str = "Statistics:

  Queries sent:         1000
  Queries completed:    998 (99.80%)
  Queries lost:         2 (0.20%)

  Response codes:       NOERROR 998 (100.00%)
  Average packet size:  request 33, response 49
  Run time (s):         1.000232
  Queries per second:   997.768054

  Average Latency (s):  0.000287 (min 0.000013, max 0.005883)
  Latency StdDev (s):   0.000731
";

    #[test]
    fn summary() {
        let perf = parse(SUMMARY).unwrap();
        assert_eq!((perf.sent, perf.completed, perf.lost), (1000, 998, 2));
        assert!((perf.qps - 997.768054).abs() < 1e-6);
        assert!((perf.avg_latency_us - 287.0).abs() < 1e-6);
        assert!((perf.min_latency_us - 13.0).abs() < 1e-6);
        assert!((perf.max_latency_us - 5883.0).abs() < 1e-6);
        assert!((perf.response_bytes - 49.0).abs() < 1e-9);
        assert_eq!(perf.rcodes, "NOERROR 998 (100.00%)");
    }

    #[test]
    fn verbose_lines() {
        assert_eq!(
            response_latency("NOERROR www.example.com A 0.000318"),
            Some(0.000318)
        );
        assert_eq!(
            response_latency("NXDOMAIN nx1.example.com A 0.000042"),
            Some(0.000042)
        );
        assert_eq!(response_latency("T www.example.com A"), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::from_seconds((1..=1000).map(|i| i as f64 * 1e-6).collect()).unwrap();
        assert_eq!(p.samples, 1000);
        assert!((p.p50_us - 500.0).abs() < 1e-6);
        assert!((p.p90_us - 900.0).abs() < 1e-6);
        assert!((p.p99_us - 990.0).abs() < 1e-6);
        assert!((p.p999_us - 999.0).abs() < 1e-6);
        assert!(Percentiles::from_seconds(Vec::new()).is_none());
    }
}
