//! The fast path's share of the answers while the agent reloads a zone of a million A records
//! under kxdpgun load.
//!
//! A reload publishes the new answers as a new generation, flips to it and deletes the old one.
//! Queries that overlap a change the program might read half-written pass up to the fallback
//! (counter `pass_torn`), so how long the agent keeps those changes open decides how much of
//! the load the fast path hands to the fallback, which at this rate answers only part of it.
//!
//! Setup. One veth topology; dns-xdp (the release agent) serves example.com. with 1,000,000
//! names `n<i>`, one A record each, with XDP native on the server's veth end, receiving as the
//! kernel does by default (`THREADED_NAPI` says why). Before the load and after the last
//! reload, one query each for a changed and an unchanged name must get the address of the
//! zone being served.
//!
//! Load. kxdpgun (one thread, AF_XDP on the client end) sends A queries for names spread over
//! the whole zone to [2001:db8::1]:53 at a fixed rate (`DNS_XDP_BENCH_QPS`, default
//! `DEFAULT_QPS`) for `LOAD_SECONDS`. IPv6, because kxdpgun's IPv4 queries carry a zero UDP
//! checksum, which the fast path passes up.
//!
//! Reloads. `FIRST_RELOAD_AT` into the load, the zone file is replaced (a rename: 1% of the
//! names get another address, the SOA serial goes up) and the agent reloaded (`dns-xdp reload
//! --pid-file`); once it printed `dns-xdp: reloaded`, again after `RELOAD_GAP` if the load
//! has `RELOAD_ROOM` times the last reload's duration left, up to `RELOADS`. A reload's
//! duration is from the SIGHUP to that line: reading and checking the zone, publishing,
//! flipping and deleting the old generation.
//!
//! Counters. Every `SAMPLE_EVERY` a thread runs `dns-xdp stats --json --pin-dir` (the CLI, so
//! the bench depends on counter names, not on the agent's modules). Per interval, the fast
//! path's share = Δ(answered_v4 + answered_v6) / Δ(every counter but pass_not_dns and
//! pass_not_ours): of the DNS queries the program saw, the share it answered. Queries it never
//! saw (the veth dropped them: its drop counters are shown) count against kxdpgun's answered
//! share (replies / sent) only.
//!
//! Prints a per-second timeline and the figures (the lowest interval share, the intervals
//! below `SHARE_GOAL` and their total duration, pass_torn, each reload's duration and pass_torn
//! window, the offered rate, kxdpgun's answered share) and writes them, with every interval, to
//! `target/bench/reload.json` and under `reload` into `target/bench/report.json`. The machine
//! has two cores shared by kxdpgun, the agent (which parses the zone during a reload) and the
//! veth's work, and by whatever else runs: the load average is printed with the figures. Fails
//! only when something could not run. Needs root, kxdpgun and the release agent (`cargo xtask
//! bench reload` builds it).

use std::{
    collections::BTreeMap,
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use dns_xdp_tests::{
    agent::{agent_binary, pinned_stats, Agent, Reload},
    bench::{ask, doc_v4, loadavg, median, tool, tool_version},
    kxdpgun::{Kxdpgun, Load},
    netns::Topology,
    scratch::ScratchDir,
};
use serde_json::{json, Value};

/// Names in the zone, each with one A record.
const RECORDS: usize = 1_000_000;
/// Every this many names gets another address in each reload: 1%.
const CHANGED_EVERY: usize = 100;
/// Lines in the query file (kxdpgun loops over it).
const QUERY_LINES: usize = 200_000;
/// Below the fast path's ceiling, so that what it passes up shows rather than what it cannot
/// take: the program saw every query (`sent, never seen by the program` shows when it does
/// not). High enough that the fallback cannot answer all that the fast path passes up: at
/// 100,000 it answered most of it, and kxdpgun's figure hid much of the cost.
const DEFAULT_QPS: u64 = 150_000;
/// Room for two reloads, which take 14-25 s each here under this load, depending on what else
/// runs.
const LOAD_SECONDS: f64 = 75.0;
/// After kxdpgun's start (it attaches its program and sets up its socket first).
const FIRST_RELOAD_AT: Duration = Duration::from_secs(5);
/// From one reload's end to the next one's start.
const RELOAD_GAP: Duration = Duration::from_secs(3);
const RELOADS: usize = 2;
/// A reload starts only if the load lasts this many times longer than the last one took:
/// reload times vary by half with what else runs here, and a reload that outlasts the load is
/// not measured to its end.
const RELOAD_ROOM: f64 = 1.5;
/// Whether the server's veth end runs XDP in a kernel thread of its own (see `load.rs`). Off:
/// at this fixed rate that thread, competing with the agent's reload and other work for two
/// cores, fell behind and the veth dropped 2-7% of the queries before the program saw them
/// (100,000-150,000 q/s, load average 3-6), and none when XDP ran in the softirq of
/// kxdpgun's CPU, as the kernel does by default.
const THREADED_NAPI: bool = false;
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Samples after kxdpgun returned, for the last replies.
const TAIL: Duration = Duration::from_millis(300);
/// The goal once the reload no longer passes queries up: this share in every interval.
const SHARE_GOAL: f64 = 0.99;
/// Counters of packets that are not DNS queries to this server.
const NOT_QUERIES: [&str; 2] = ["pass_not_dns", "pass_not_ours"];

fn main() {
    dns_xdp_tests::bench::main("bench reload", run);
}

/// Name `n<i>`'s address in zone `version` (0 before any reload): 1% of the names move in
/// each version, to an address unlike the one before.
fn address(i: usize, version: usize) -> String {
    if i.is_multiple_of(CHANGED_EVERY) {
        doc_v4(i + version)
    } else {
        doc_v4(i)
    }
}

/// Zone `version` of example.com., with SOA serial `version + 1`.
fn write_zone(path: &Path, version: usize) -> Result<()> {
    let mut text = String::with_capacity(RECORDS * 24);
    text.push_str(&format!(
        "$ORIGIN example.com.\n$TTL 300\n\
         @ SOA ns1 hostmaster {} 3600 600 86400 60\n\
         @ NS ns1\n\
         ns1 A 192.0.2.53\n",
        version + 1
    ));
    for i in 0..RECORDS {
        text.push_str(&format!("n{i} A {}\n", address(i, version)));
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// A queries for names spread over the whole zone (a golden-ratio stride through the
/// indices), as kxdpgun reads them.
fn write_queries(path: &Path) -> Result<()> {
    let mut text = String::with_capacity(QUERY_LINES * 20);
    for k in 0..QUERY_LINES as u64 {
        let i = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) % RECORDS as u64;
        text.push_str(&format!("n{i}.example.com A\n"));
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The fast path answers `n<i>` with its address in zone `version`, over IPv6 as the load.
fn check_answer(topology: &Topology, i: usize, version: usize) -> Result<String> {
    let name = format!("n{i}.example.com.");
    let server = SocketAddr::new(topology.server_v6.into(), 53);
    let reply = ask(&topology.client_ns, server, &name, 1)?;
    let expected = address(i, version);
    let got: Vec<String> = reply
        .iter()
        .flat_map(|m| m.answers.iter().map(|r| r.data.to_string()))
        .collect();
    ensure!(
        got == [expected.clone()],
        "{name} A: expected {expected} (zone version {version}), got {got:?}"
    );
    Ok(format!("{name} A {expected}"))
}

/// Frames the veth dropped so far: sent from the client end (`tx dropped`: the server end's
/// receive ring was full) or dropped on arrival at the server end (`rx dropped`).
fn veth_drops(topology: &Topology) -> Result<u64> {
    let mut drops = 0;
    for (ns, ifname, dir) in [
        (&topology.client_ns, &topology.client_if, "tx"),
        (&topology.server_ns, &topology.server_if, "rx"),
    ] {
        let output = topology.exec(ns, "ip", &["-s", "-j", "link", "show", "dev", ifname])?;
        ensure!(
            output.status.success(),
            "ip -s link show {ifname} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        let links: Value = serde_json::from_slice(&output.stdout)
            .with_context(|| format!("ip -s -j link show {ifname}"))?;
        drops += links[0]["stats64"][dir]["dropped"]
            .as_u64()
            .with_context(|| format!("no {dir} dropped count for {ifname}: {links}"))?;
    }
    Ok(drops)
}

/// The counters by name, read at `at` seconds since the load began: the middle of the
/// `dns-xdp stats` run, which took `read` seconds (the timestamp's uncertainty).
struct Sample {
    at: f64,
    read: f64,
    counters: BTreeMap<String, u64>,
}

fn read_counters(pin_dir: &Path) -> Result<BTreeMap<String, u64>> {
    let stats = pinned_stats(pin_dir)?;
    let object = stats
        .as_object()
        .context("dns-xdp stats --json: not an object")?;
    Ok(object
        .iter()
        .filter_map(|(name, v)| Some((name.clone(), v.as_u64()?)))
        .collect())
}

/// Samples the counters every `SAMPLE_EVERY` from `t0` until `stop`. A sample that overran
/// its slot makes the next one wait for the following slot, so samples stay on the grid.
fn sample_until(stop: &AtomicBool, t0: Instant, pin_dir: &Path) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    let mut slot = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let before = t0.elapsed().as_secs_f64();
        let counters = read_counters(pin_dir)?;
        let after = t0.elapsed().as_secs_f64();
        samples.push(Sample {
            at: (before + after) / 2.0,
            read: after - before,
            counters,
        });
        slot = slot.max((t0.elapsed().as_secs_f64() / SAMPLE_EVERY.as_secs_f64()) as u32) + 1;
        let next = t0 + SAMPLE_EVERY * slot;
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(samples)
}

/// One reload, in seconds since the load began.
struct Reloaded {
    started: f64,
    finished: f64,
    /// The agent's `dns-xdp: reloaded` line.
    line: String,
}

impl Reloaded {
    fn seconds(&self) -> f64 {
        self.finished - self.started
    }
}

/// Reloads the agent onto zone versions 1, 2, ... (`versions[k]`, renamed over `zone`) while
/// the load lasts, as the module documentation describes.
fn reload_during(
    agent: &mut Agent,
    zone: &Path,
    versions: &[PathBuf],
    t0: Instant,
    load_ends: Instant,
) -> Result<Vec<Reloaded>> {
    let mut done: Vec<Reloaded> = Vec::new();
    thread::sleep((t0 + FIRST_RELOAD_AT).saturating_duration_since(Instant::now()));
    for version in versions {
        if let Some(last) = done.last() {
            thread::sleep(RELOAD_GAP);
            let needed = Duration::from_secs_f64(last.seconds() * RELOAD_ROOM);
            if load_ends.saturating_duration_since(Instant::now()) < needed {
                break;
            }
        }
        // A rename, as a deploy tool would: the agent never reads half a file.
        fs::rename(version, zone).context("replacing the zone file")?;
        let started = t0.elapsed().as_secs_f64();
        let line = match agent.reload()? {
            Reload::Applied { line, .. } => line,
            Reload::Refused { log } => bail!("the agent refused the reload: {log}"),
        };
        done.push(Reloaded {
            started,
            finished: t0.elapsed().as_secs_f64(),
            line,
        });
    }
    Ok(done)
}

/// What the counters did between two samples.
struct Interval {
    from: f64,
    to: f64,
    /// DNS queries to this server that the program saw.
    seen: u64,
    answered: u64,
    torn: u64,
}

impl Interval {
    fn between(a: &Sample, b: &Sample) -> Self {
        let delta = |name: &str| {
            b.counters
                .get(name)
                .unwrap_or(&0)
                .saturating_sub(*a.counters.get(name).unwrap_or(&0))
        };
        Interval {
            from: a.at,
            to: b.at,
            seen: b
                .counters
                .keys()
                .filter(|name| !NOT_QUERIES.contains(&name.as_str()))
                .map(|name| delta(name))
                .sum(),
            answered: delta("answered_v4") + delta("answered_v6"),
            torn: delta("pass_torn"),
        }
    }

    fn seconds(&self) -> f64 {
        self.to - self.from
    }

    /// The fast path's share of the queries it saw; none without queries.
    fn share(&self) -> Option<f64> {
        (self.seen > 0).then(|| self.answered as f64 / self.seen as f64)
    }

    fn overlaps(&self, from: f64, to: f64) -> bool {
        self.from < to && self.to > from
    }
}

/// What the counters did while one reload ran.
struct DuringReload {
    torn: u64,
    /// From the start of the first interval with pass_torn to the end of the last.
    torn_window: Option<(f64, f64)>,
    min_share: Option<f64>,
}

impl DuringReload {
    fn of(r: &Reloaded, intervals: &[Interval]) -> Self {
        let during: Vec<&Interval> = intervals
            .iter()
            .filter(|i| i.overlaps(r.started, r.finished))
            .collect();
        let torn: Vec<&&Interval> = during.iter().filter(|i| i.torn > 0).collect();
        DuringReload {
            torn: torn.iter().map(|i| i.torn).sum(),
            torn_window: torn.first().zip(torn.last()).map(|(a, b)| (a.from, b.to)),
            min_share: during
                .iter()
                .filter_map(|i| i.share())
                .min_by(f64::total_cmp),
        }
    }
}

/// The figures of one run.
struct Figures {
    /// Intervals in which the program saw queries.
    loaded: usize,
    /// Queries the program saw, and answered, over the whole run.
    seen: u64,
    answered: u64,
    /// The end of the last interval in which the program saw queries.
    load_ended: f64,
    /// The lowest share, and when its interval began.
    min_share: Option<(f64, f64)>,
    below_goal: usize,
    below_goal_seconds: f64,
    torn: u64,
    torn_intervals: usize,
    torn_seconds: f64,
    /// Σanswered / Σseen over the intervals that overlap no reload.
    share_outside_reloads: Option<f64>,
    /// How long `dns-xdp stats` took: median and longest, in seconds.
    read_median: f64,
    read_max: f64,
}

fn figures(samples: &[Sample], intervals: &[Interval], reloads: &[Reloaded]) -> Figures {
    let loaded: Vec<&Interval> = intervals.iter().filter(|i| i.seen > 0).collect();
    let below: Vec<&&Interval> = loaded
        .iter()
        .filter(|i| i.share().is_some_and(|s| s < SHARE_GOAL))
        .collect();
    let torn: Vec<&&Interval> = loaded.iter().filter(|i| i.torn > 0).collect();
    let outside: Vec<&&Interval> = loaded
        .iter()
        .filter(|i| !reloads.iter().any(|r| i.overlaps(r.started, r.finished)))
        .collect();
    let seen: u64 = outside.iter().map(|i| i.seen).sum();
    let mut reads: Vec<f64> = samples.iter().map(|s| s.read).collect();
    Figures {
        loaded: loaded.len(),
        seen: intervals.iter().map(|i| i.seen).sum(),
        answered: intervals.iter().map(|i| i.answered).sum(),
        load_ended: loaded.last().map_or(0.0, |i| i.to),
        min_share: loaded
            .iter()
            .filter_map(|i| Some((i.share()?, i.from)))
            .min_by(|a, b| a.0.total_cmp(&b.0)),
        below_goal: below.len(),
        below_goal_seconds: below
            .iter()
            .map(|i| i.seconds())
            .fold(0.0, |all, s| all + s),
        torn: intervals.iter().map(|i| i.torn).sum(),
        torn_intervals: torn.len(),
        torn_seconds: torn.iter().map(|i| i.seconds()).fold(0.0, |all, s| all + s),
        share_outside_reloads: (seen > 0)
            .then(|| outside.iter().map(|i| i.answered).sum::<u64>() as f64 / seen as f64),
        read_max: reads.iter().copied().fold(0.0, f64::max),
        read_median: median(&mut reads),
    }
}

fn run() -> Result<()> {
    tool("kxdpgun")?;
    let agent_bin = agent_binary();
    let qps = std::env::var("DNS_XDP_BENCH_QPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&q: &u64| q > 0)
        .unwrap_or(DEFAULT_QPS);
    let dir = ScratchDir::new("bench-reload");
    let zone = dir.path().join("example.com.zone");
    let queries = dir.path().join("queries.txt");
    let written = Instant::now();
    write_zone(&zone, 0)?;
    // Written ahead, so that a reload starts with a rename, not with minutes of formatting.
    let versions: Vec<PathBuf> = (1..=RELOADS)
        .map(|v| {
            let path = dir.path().join(format!("example.com.zone.{v}"));
            write_zone(&path, v).map(|()| path)
        })
        .collect::<Result<_>>()?;
    write_queries(&queries)?;
    let zone_bytes = fs::metadata(&zone)?.len();
    let written = written.elapsed().as_secs_f64();

    let mut topology = Topology::create("reload")?;
    let started = Instant::now();
    let mut agent = Agent::start(&topology, &zone, "native").context("starting dns-xdp")?;
    let start_seconds = started.elapsed().as_secs_f64();
    topology.set_server_threaded_napi(THREADED_NAPI)?;
    let mut checks = vec![
        check_answer(&topology, 0, 0)?,
        check_answer(&topology, RECORDS - 1, 0)?,
    ];
    let load_before = loadavg();
    println!(
        "\nreload: dns-xdp (XDP native{}) serving {RECORDS} A records ({:.0} MB zone, three \
         versions written in {written:.1} s; agent serving after {start_seconds:.1} s);\n\
         kxdpgun at {qps} q/s for {LOAD_SECONDS} s from {} to [{}]:53, A queries spread over \
         the zone; up to {RELOADS} reloads (1% of the addresses and the serial change) from \
         {} s in;\n\
         counters every {} ms via `{} stats --json`; load average {load_before} at start",
        if THREADED_NAPI { ", tNAPI" } else { "" },
        zone_bytes as f64 / 1e6,
        topology.client_ns,
        topology.server_v6,
        FIRST_RELOAD_AT.as_secs(),
        SAMPLE_EVERY.as_millis(),
        agent_bin.display(),
    );

    // kxdpgun brings its own XDP program for the client end.
    topology.detach_client_pass();
    let kxdpgun = Kxdpgun {
        server: topology.server_v6.into(),
        queries: &queries,
        seconds: LOAD_SECONDS,
        qps,
    };
    let drops_before = veth_drops(&topology)?;
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    let load_ends = t0 + Duration::from_secs_f64(LOAD_SECONDS);
    let pin_dir = agent.pin_dir.clone();
    let (load, reloads, samples) = thread::scope(|s| {
        let sampler = s.spawn(|| sample_until(&stop, t0, &pin_dir));
        let reloader = s.spawn(|| reload_during(&mut agent, &zone, &versions, t0, load_ends));
        let load = kxdpgun.run(&topology);
        // A reload that outlasts the load is waited for: it is part of what is measured.
        let reloads = reloader.join().expect("reload thread");
        thread::sleep(TAIL);
        stop.store(true, Ordering::Relaxed);
        (load, reloads, sampler.join().expect("sampler thread"))
    });
    let (load, reloads, samples) = (load?, reloads?, samples?);
    let veth_dropped = veth_drops(&topology)?.saturating_sub(drops_before);
    topology.attach_client_pass()?;
    let version = reloads.len();
    checks.push(check_answer(&topology, 0, version)?);
    checks.push(check_answer(&topology, 1, version)?);
    let load_after = loadavg();
    agent.stop()?;

    let intervals: Vec<Interval> = samples
        .windows(2)
        .map(|w| Interval::between(&w[0], &w[1]))
        .collect();
    let f = figures(&samples, &intervals, &reloads);
    let during: Vec<DuringReload> = reloads
        .iter()
        .map(|r| DuringReload::of(r, &intervals))
        .collect();
    print_timeline(&intervals, &reloads);
    print_figures(&f, &load, qps, veth_dropped, &reloads, &during);
    println!(
        "answers checked: {}\nload average {load_before} at start, {load_after} at the end (two \
         cores shared with whatever else runs: repeat a run whose figures look disturbed)",
        checks.join(", ")
    );

    let report = json!({
        "config": {
            "agent": agent_bin.display().to_string(),
            "kxdpgun": tool_version("kxdpgun", "--version"),
            "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            "cpus": thread::available_parallelism().map_or(0, |n| n.get()),
            "records": RECORDS,
            "changed_per_reload": RECORDS / CHANGED_EVERY,
            "zone_bytes": zone_bytes,
            "agent_start_seconds": start_seconds,
            "xdp": "native",
            "threaded_napi": THREADED_NAPI,
            "server": format!("[{}]:53", topology.server_v6),
            "queries": "A, names spread over the zone, no EDNS, IPv6",
            "requested_qps": qps,
            "load_seconds": LOAD_SECONDS,
            "first_reload_at_seconds": FIRST_RELOAD_AT.as_secs_f64(),
            "reload_gap_seconds": RELOAD_GAP.as_secs_f64(),
            "sample_every_ms": SAMPLE_EVERY.as_millis() as u64,
            "share": "Δ(answered_v4 + answered_v6) / Δ(all counters but pass_not_dns, pass_not_ours)",
            "share_goal": SHARE_GOAL,
            "load_average_start": load_before,
            "load_average_end": load_after,
        },
        "kxdpgun": load.json(),
        "reloads": reloads.iter().zip(&during).map(|(r, d)| json!({
            "started_at_seconds": r.started,
            "finished_at_seconds": r.finished,
            "seconds": r.seconds(),
            "line": r.line,
            "pass_torn": d.torn,
            "torn_from_seconds": d.torn_window.map(|w| w.0),
            "torn_to_seconds": d.torn_window.map(|w| w.1),
            "min_share": d.min_share,
        })).collect::<Vec<_>>(),
        "summary": {
            "loaded_intervals": f.loaded,
            "min_share": f.min_share.map(|(s, _)| s),
            "min_share_at_seconds": f.min_share.map(|(_, at)| at),
            "intervals_below_goal": f.below_goal,
            "seconds_below_goal": f.below_goal_seconds,
            "seen_by_program": f.seen,
            "answered_by_program": f.answered,
            "sent_not_seen": load.queries.saturating_sub(f.seen),
            "veth_dropped": veth_dropped,
            "replies_not_from_program": load.replies.saturating_sub(f.answered),
            "pass_torn": f.torn,
            "torn_intervals": f.torn_intervals,
            "torn_seconds": f.torn_seconds,
            "share_outside_reloads": f.share_outside_reloads,
            "goal_met": f.min_share.is_some_and(|(s, _)| s >= SHARE_GOAL),
            "stats_read_median_seconds": f.read_median,
            "stats_read_max_seconds": f.read_max,
        },
        "checks": checks,
        "intervals": intervals.iter().map(|i| json!({
            "from": i.from,
            "to": i.to,
            "seen": i.seen,
            "answered": i.answered,
            "pass_torn": i.torn,
        })).collect::<Vec<_>>(),
    });
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    fs::create_dir_all(&out)?;
    fs::write(
        out.join("reload.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    // The load bench writes report.json afresh; until it does, this run's figures sit beside
    // what is there.
    let report_path = out.join("report.json");
    let mut merged: Value = fs::read_to_string(&report_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    merged["reload"] = report;
    fs::write(&report_path, serde_json::to_string_pretty(&merged)? + "\n")?;
    println!(
        "results: target/bench/reload.json (and under \"reload\" in target/bench/report.json)"
    );
    Ok(())
}

/// One line per second of the load: the program's query rate, its share over the second and
/// in its worst interval, pass_torn, and which reload ran.
fn print_timeline(intervals: &[Interval], reloads: &[Reloaded]) {
    println!(
        "\n{:>5} {:>9} {:>7} {:>7} {:>8}  (per second; min: the lowest {} ms interval)",
        "s",
        "seen q/s",
        "fast %",
        "min %",
        "torn",
        SAMPLE_EVERY.as_millis()
    );
    let last = intervals.last().map_or(0.0, |i| i.to);
    for second in 0..last.ceil() as usize {
        let (from, to) = (second as f64, second as f64 + 1.0);
        let of: Vec<&Interval> = intervals
            .iter()
            .filter(|i| i.from >= from && i.from < to)
            .collect();
        let seen: u64 = of.iter().map(|i| i.seen).sum();
        if seen == 0 {
            continue;
        }
        let span: f64 = of.iter().map(|i| i.seconds()).fold(0.0, |all, s| all + s);
        let answered: u64 = of.iter().map(|i| i.answered).sum();
        let min = of
            .iter()
            .filter_map(|i| i.share())
            .fold(f64::INFINITY, f64::min);
        let running: Vec<String> = reloads
            .iter()
            .enumerate()
            .filter(|(_, r)| r.started < to && r.finished > from)
            .map(|(n, _)| format!("reload {}", n + 1))
            .collect();
        println!(
            "{second:>5} {:>9.0} {:>6.1}% {:>6.1}% {:>8}  {}",
            seen as f64 / span,
            answered as f64 * 100.0 / seen as f64,
            min * 100.0,
            of.iter().map(|i| i.torn).sum::<u64>(),
            running.join(", ")
        );
    }
}

fn print_figures(
    f: &Figures,
    load: &Load,
    qps: u64,
    veth_dropped: u64,
    reloads: &[Reloaded],
    during: &[DuringReload],
) {
    let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.2}%", x * 100.0));
    println!();
    let rows = [
        (
            "offered (kxdpgun sent)".to_string(),
            format!("{:.0} q/s (requested {qps})", load.offered_qps),
        ),
        (
            "kxdpgun answered (replies / sent)".to_string(),
            format!(
                "{:.2}% ({} of {}, {} unanswered; {})",
                load.answered_share() * 100.0,
                load.replies,
                load.queries,
                load.queries.saturating_sub(load.replies),
                load.rcodes_text()
            ),
        ),
        (
            "sent, never seen by the program".to_string(),
            format!(
                "{} ({:.2}%; the veth dropped {veth_dropped} frames)",
                load.queries.saturating_sub(f.seen),
                load.queries.saturating_sub(f.seen) as f64 * 100.0 / load.queries.max(1) as f64
            ),
        ),
        (
            "replies from the fallback".to_string(),
            format!(
                "{} (replies - fast-path answers)",
                load.replies.saturating_sub(f.answered)
            ),
        ),
        (
            format!("lowest fast-path share ({} ms)", SAMPLE_EVERY.as_millis()),
            match f.min_share {
                Some((s, at)) => format!("{:.2}% (interval from {at:.1} s)", s * 100.0),
                None => "- (the program saw no queries)".to_string(),
            },
        ),
        (
            format!("intervals below {:.0}%", SHARE_GOAL * 100.0),
            format!(
                "{} of {}, {:.1} s in all",
                f.below_goal, f.loaded, f.below_goal_seconds
            ),
        ),
        (
            "pass_torn".to_string(),
            format!(
                "{} (in {} intervals, {:.1} s)",
                f.torn, f.torn_intervals, f.torn_seconds
            ),
        ),
        (
            "fast-path share outside reloads".to_string(),
            pct(f.share_outside_reloads),
        ),
        (
            "dns-xdp stats run (sample timing)".to_string(),
            format!(
                "median {:.0} ms, longest {:.0} ms",
                f.read_median * 1e3,
                f.read_max * 1e3
            ),
        ),
    ];
    for (what, value) in rows {
        println!("{what:<36} {value}");
    }
    for (n, (r, d)) in reloads.iter().zip(during).enumerate() {
        let torn = match d.torn_window {
            Some((from, to)) => format!(
                "pass_torn {} from {from:.1} s to {to:.1} s ({:.1} s)",
                d.torn,
                to - from
            ),
            None => "no pass_torn".to_string(),
        };
        println!(
            "{:<36} {:.2} s ({:.1} s to {:.1} s); {torn}; lowest share {}\n{:<36} {}",
            format!("reload {}", n + 1),
            r.seconds(),
            r.started,
            r.finished,
            pct(d.min_share),
            "",
            r.line
        );
    }
    // kxdpgun falls behind when it gets less than its core: then the reloads met less load.
    if load.offered_qps < qps as f64 * 0.98 {
        println!(
            "kxdpgun sent {:.0}% of the requested rate: the machine was busy, repeat the run",
            load.offered_qps * 100.0 / qps as f64
        );
    }
    if reloads.is_empty() {
        println!("no reload ran: the load was too short");
    }
    if reloads.last().is_some_and(|r| r.finished > f.load_ended) {
        println!(
            "the last reload ended after the load ({:.1} s): its end was not measured",
            f.load_ended
        );
    }
    let met = f.min_share.is_some_and(|(s, _)| s >= SHARE_GOAL);
    println!(
        "goal: the fast path answers >= {:.0}% of the queries it sees in every {} ms interval, \
         reloads included: {}",
        SHARE_GOAL * 100.0,
        SAMPLE_EVERY.as_millis(),
        if met { "met" } else { "NOT met" }
    );
}
