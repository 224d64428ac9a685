//! The fallback server against Knot DNS and NSD under dnsperf, and what loading a zone of a
//! million A records costs the agent.
//!
//! Throughput. One veth topology; each server in turn serves the same generated zone (10k names
//! with A and AAAA, MX and TXT) on 192.0.2.1:53 in the server namespace: dns-xdp with XDP off
//! (so its fallback answers everything, A and AAAA included), knotd (one UDP, one TCP and one
//! background worker, no RRL module) and nsd (one server process, RRL off, minimal responses as
//! Knot and dns-xdp give). dnsperf in the client namespace sends the same queries to each
//! (`-c 8 -q 200`), a short warm-up and then a counted run, for two cases: the mixed one (60% A,
//! 20% AAAA, 5% MX, 5% TXT, 10% NXDOMAIN) and a random-subdomain flood (unique 0x20-cased
//! names that do not exist, between the mixed case's queries), where the packet cache must
//! keep the repeated replies while the unique ones pass through. The machine is noisy, so the servers take turns (dns-xdp, knot, nsd, dns-xdp,
//! ...) for `DNS_XDP_BENCH_ROUNDS` rounds (default 2), and each is summarised by its best and
//! its median run. The CPU time each server and dnsperf used during the counted run is shown
//! too: on two cores, a load generator at 100% means the servers were not the limit.
//!
//! Memory. A zone of 1,000,000 A records: the agent's time from spawn to its "serving" line and
//! its peak RSS (VmHWM), with XDP off and with XDP in native mode on the veth (publishing every
//! answer to the BPF map is part of loading; the map's kernel memory is not in the agent's RSS,
//! so it is shown apart, from bpftool). Knot and NSD loading the same zone are shown for scale.
//!
//! Needs root, knotd, nsd and dnsperf, and a release build of the agent (`target/release/
//! dns-xdp`, or `DNS_XDP_BIN`). Run with `cargo xtask bench fallback`, which builds it; results
//! also go to `target/bench/fallback.json`.

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::Instant,
};

use anyhow::{ensure, Context, Result};
use dns_xdp_tests::{
    agent::agent_binary,
    bench::{
        ask, doc_v4, median, rounds, tool, tool_version, write_flood_queries, write_mixed_queries,
        write_zone, NAMES, TXT_NAMES,
    },
    dnsperf::{Dnsperf, Perf},
    netns::Topology,
    scratch::ScratchDir,
    servers::{Server, Spec},
};
use serde_json::{json, Value};

/// Lines in the dnsperf query file (dnsperf loops over it).
const QUERY_LINES: usize = 100_000;
/// Unique names in the flood case, more than a counted run sends, so none repeats within it
/// (the warm-up before it sends its first ones).
const FLOOD_NAMES: usize = 1_000_000;
const WARMUP_SECONDS: u32 = 2;
const RUN_SECONDS: u32 = 10;
const CLIENTS: u32 = 8;
const OUTSTANDING: u32 = 200;
const DEFAULT_ROUNDS: usize = 2;
/// A records in the memory zone.
const BIG_ZONE_RECORDS: usize = 1_000_000;
/// Goal from the issue: that zone loads in under 1.5 GB of RSS (10^9 bytes, not GiB).
const RSS_GOAL_BYTES: u64 = 1_500_000_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    DnsXdp,
    Knot,
    Nsd,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::DnsXdp, Kind::Knot, Kind::Nsd];

    fn label(self) -> &'static str {
        match self {
            Kind::DnsXdp => "dns-xdp fallback",
            Kind::Knot => "knotd",
            Kind::Nsd => "nsd",
        }
    }

    /// The server, with `xdp_mode` for dns-xdp.
    fn spec(self, xdp_mode: &'static str) -> Spec {
        match self {
            Kind::DnsXdp => Spec::DnsXdp { xdp_mode },
            Kind::Knot => Spec::Knot { xdp: false },
            Kind::Nsd => Spec::Nsd,
        }
    }
}

fn write_big_zone(path: &Path) -> Result<()> {
    let mut text = String::with_capacity(BIG_ZONE_RECORDS * 24);
    text.push_str(
        "$ORIGIN example.com.\n$TTL 300\n\
         @ SOA ns1 hostmaster 1 3600 600 86400 60\n\
         @ NS ns1\n\
         ns1 A 192.0.2.53\n",
    );
    for i in 0..BIG_ZONE_RECORDS {
        text.push_str(&format!("n{i} A {}\n", doc_v4(i)));
    }
    fs::write(path, text)?;
    Ok(())
}

/// The pids of every process holding a UDP socket on port 53 in the server namespace (nsd's
/// main and server processes share theirs).
fn server_pids(topology: &Topology) -> Result<Vec<u32>> {
    let output = topology.exec(&topology.server_ns, "ss", &["-Hulpn", "sport = :53"])?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut pids: Vec<u32> = text
        .split("pid=")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    ensure!(
        !pids.is_empty(),
        "no process listens on UDP port 53: {text}"
    );
    Ok(pids)
}

/// User plus system CPU time of `pids` so far, in seconds.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    pids.iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter_map(|stat| {
            // Fields after the command name, which may hold spaces, ends with ')'.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum::<u64>() as f64
        / ticks
}

/// A `kB` field of /proc/<pid>/status or smaps_rollup, in bytes.
fn proc_kb(pid: u32, file: &str, field: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn mem_available() -> u64 {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// A counted dnsperf run, with what the machine did meanwhile.
#[derive(Default, Clone)]
struct Run {
    perf: Perf,
    /// CPU time of the server processes per second of the run (1.0 = one core).
    server_cpu: f64,
    /// All CPUs' busy (not idle) time per second of the run, as a share of all CPUs, from
    /// /proc/stat: near 1.0 means the machine, not one server, was the limit.
    busy: f64,
    /// UDP datagrams the server namespace dropped for a full socket receive buffer.
    rcvbuf_drops: u64,
}

impl Run {
    /// The server's CPU time per answered query, in µs: the figure to compare on a machine
    /// where the servers, dnsperf and the veth's softirq work share two cores.
    fn cpu_us_per_query(&self) -> f64 {
        self.server_cpu * 1e6 / self.perf.qps
    }
}

/// Runs dnsperf for `seconds` in the client namespace and returns its figures, with the CPU
/// time that the server processes used meanwhile.
fn dnsperf(topology: &Topology, queries: &Path, seconds: u32) -> Result<Run> {
    let pids = server_pids(topology)?;
    let server_before = cpu_seconds(&pids);
    let system_before = cpu_times();
    let drops_before = rcvbuf_errors(topology);
    let perf = Dnsperf {
        server: topology.server_v4.into(),
        queries,
        seconds,
        clients: CLIENTS,
        outstanding: OUTSTANDING,
        max_qps: None,
        timeout_seconds: None,
        percentiles: false,
    }
    .run(topology)?;
    let server_cpu = cpu_seconds(&pids) - server_before;
    let system = cpu_times();
    let drops = rcvbuf_errors(topology).saturating_sub(drops_before);
    // Per second of the run, not of the wall time: dnsperf waits out its timeout for lost
    // queries after the run, idle.
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpus = thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let busy = (system.0 - system_before.0).saturating_sub(system.1 - system_before.1);
    Ok(Run {
        server_cpu: server_cpu / perf.run_seconds,
        busy: busy as f64 / ticks / perf.run_seconds / cpus,
        rcvbuf_drops: drops,
        perf,
    })
}

/// `Udp: RcvbufErrors` of the server namespace so far.
fn rcvbuf_errors(topology: &Topology) -> u64 {
    let Ok(output) = topology.exec(&topology.server_ns, "cat", &["/proc/net/snmp"]) else {
        return 0;
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let mut udp = text.lines().filter(|line| line.starts_with("Udp: "));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "RcvbufErrors")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// All CPUs' (total, idle + iowait) jiffies so far, from the first line of /proc/stat.
fn cpu_times() -> (u64, u64) {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total, idle)
}

struct Summary {
    kind: Kind,
    best: f64,
    median: f64,
    latency_us: f64,
    stddev_us: f64,
    lost: u64,
    server_cpu: f64,
    cpu_us_per_query: f64,
    dnsperf_cpu: f64,
    busy: f64,
}

/// A query file the servers are measured with, and the qps goal against NSD's.
struct Case {
    name: &'static str,
    queries: &'static str,
    write: fn(&Path) -> Result<()>,
    /// The fallback's median qps at least this many times NSD's.
    goal: f64,
}

const CASES: [Case; 2] = [
    Case {
        name: "mixed",
        queries: "60% A, 20% AAAA, 5% MX, 5% TXT, 10% NXDOMAIN",
        write: |path| write_mixed_queries(path, QUERY_LINES),
        goal: 1.0,
    },
    Case {
        name: "flood",
        queries: "a random-subdomain flood: half the queries unique 0x20-cased NXDOMAIN names \
                  (1M, none repeats), interleaved with the mixed case's queries",
        write: |path| write_flood_queries(path, FLOOD_NAMES),
        goal: 1.2,
    },
];

fn throughput(
    topology: &Topology,
    zone: &Path,
    queries: &Path,
    case: &Case,
    json: &mut Value,
) -> Result<Vec<Summary>> {
    let rounds = rounds(DEFAULT_ROUNDS);
    println!(
        "\nfallback throughput, {} case: dnsperf -c {CLIENTS} -q {OUTSTANDING} -l {RUN_SECONDS} \
         (after a {WARMUP_SECONDS} s warm-up) from {} to {}:53 over veth;\n\
         zone: {NAMES} names with A and AAAA, {TXT_NAMES} TXT, apex MX; queries: {};\n\
         servers take turns, {rounds} round(s); srv/perf CPU: CPU time of the server's processes \
         and of dnsperf per second of the counted run (100% = one core); µs/q: server CPU time per \
         query; busy: all {} CPUs, softirq included; drops: queries the server's socket dropped \
         (receive buffer full)\n",
        case.name,
        topology.client_ns,
        topology.server_v4,
        case.queries,
        thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!(
        "{:<17} {:>5} {:>10} {:>9} {:>9} {:>8} {:>6} {:>6} {:>7} {:>6} {:>8} {:>5} {:>6}  response codes",
        "server",
        "round",
        "qps",
        "avg µs",
        "sd µs",
        "max µs",
        "lost",
        "drops",
        "srv CPU",
        "µs/q",
        "perf CPU",
        "busy",
        "bytes"
    );
    let mut runs: Vec<(Kind, Run)> = Vec::new();
    for round in 1..=rounds {
        for kind in Kind::ALL {
            let server = Server::start(kind.spec("off"), topology, zone)
                .with_context(|| format!("starting {}", kind.label()))?;
            dnsperf(topology, queries, WARMUP_SECONDS)?;
            let run = dnsperf(topology, queries, RUN_SECONDS)?;
            server.stop()?;
            let perf = &run.perf;
            println!(
                "{:<17} {:>5} {:>10.0} {:>9.0} {:>9.0} {:>8.0} {:>6} {:>6} {:>6.0}% {:>6.2} {:>7.0}% {:>4.0}% {:>6.0}  {}",
                kind.label(),
                round,
                perf.qps,
                perf.avg_latency_us,
                perf.stddev_latency_us,
                perf.max_latency_us,
                perf.lost,
                run.rcvbuf_drops,
                run.server_cpu * 100.0,
                run.cpu_us_per_query(),
                perf.dnsperf_cpu * 100.0,
                run.busy * 100.0,
                perf.response_bytes,
                perf.rcodes
            );
            json["runs"].as_array_mut().expect("array").push(json!({
                "case": case.name,
                "server": kind.label(),
                "round": round,
                "qps": perf.qps,
                "avg_latency_us": perf.avg_latency_us,
                "min_latency_us": perf.min_latency_us,
                "max_latency_us": perf.max_latency_us,
                "stddev_latency_us": perf.stddev_latency_us,
                "queries_sent": perf.sent,
                "queries_completed": perf.completed,
                "queries_lost": perf.lost,
                "server_rcvbuf_drops": run.rcvbuf_drops,
                "response_codes": perf.rcodes,
                "avg_response_bytes": perf.response_bytes,
                "server_cpu_share": run.server_cpu,
                "server_cpu_us_per_query": run.cpu_us_per_query(),
                "dnsperf_cpu_share": perf.dnsperf_cpu,
                "machine_busy_share": run.busy,
            }));
            runs.push((kind, run));
        }
    }
    let summaries: Vec<Summary> = Kind::ALL
        .iter()
        .map(|&kind| {
            let of: Vec<&Run> = runs
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, r)| r)
                .collect();
            let collect = |f: fn(&Run) -> f64| of.iter().map(|r| f(r)).collect::<Vec<f64>>();
            Summary {
                kind,
                best: of.iter().map(|r| r.perf.qps).fold(0.0, f64::max),
                median: median(&mut collect(|r| r.perf.qps)),
                latency_us: median(&mut collect(|r| r.perf.avg_latency_us)),
                stddev_us: median(&mut collect(|r| r.perf.stddev_latency_us)),
                lost: of.iter().map(|r| r.perf.lost).sum(),
                server_cpu: median(&mut collect(|r| r.server_cpu)),
                cpu_us_per_query: median(&mut collect(Run::cpu_us_per_query)),
                dnsperf_cpu: median(&mut collect(|r| r.perf.dnsperf_cpu)),
                busy: median(&mut collect(|r| r.busy)),
            }
        })
        .collect();
    Ok(summaries)
}

fn print_summary(summaries: &[Summary], case: &Case, rounds: usize, json: &mut Value) {
    let nsd = summaries
        .iter()
        .find(|s| s.kind == Kind::Nsd)
        .expect("nsd ran");
    println!(
        "\n{} case, summary over {rounds} run(s) each: best and median qps; latency, CPU, busy: medians; \
         lost: total\n",
        case.name
    );
    println!(
        "{:<17} {:>10} {:>10} {:>8} {:>8} {:>9} {:>8} {:>6} {:>7} {:>6} {:>8} {:>5}",
        "server",
        "best qps",
        "median",
        "×NSD",
        "×NSD",
        "avg µs",
        "sd µs",
        "lost",
        "srv CPU",
        "µs/q",
        "perf CPU",
        "busy"
    );
    println!(
        "{:<17} {:>10} {:>10} {:>8} {:>8}",
        "", "", "", "(best)", "(median)"
    );
    for s in summaries {
        println!(
            "{:<17} {:>10.0} {:>10.0} {:>7.2}× {:>7.2}× {:>9.0} {:>8.0} {:>6} {:>6.0}% {:>6.2} {:>7.0}% {:>4.0}%",
            s.kind.label(),
            s.best,
            s.median,
            s.best / nsd.best,
            s.median / nsd.median,
            s.latency_us,
            s.stddev_us,
            s.lost,
            s.server_cpu * 100.0,
            s.cpu_us_per_query,
            s.dnsperf_cpu * 100.0,
            s.busy * 100.0
        );
        json["summary"].as_array_mut().expect("array").push(json!({
            "case": case.name,
            "server": s.kind.label(),
            "runs": rounds,
            "best_qps": s.best,
            "median_qps": s.median,
            "best_ratio_to_nsd": s.best / nsd.best,
            "median_ratio_to_nsd": s.median / nsd.median,
            "median_avg_latency_us": s.latency_us,
            "median_stddev_latency_us": s.stddev_us,
            "queries_lost": s.lost,
            "median_server_cpu_share": s.server_cpu,
            "median_server_cpu_us_per_query": s.cpu_us_per_query,
            "median_dnsperf_cpu_share": s.dnsperf_cpu,
            "median_machine_busy_share": s.busy,
        }));
    }
    let ours = &summaries[0];
    let met = ours.median >= case.goal * nsd.median;
    println!(
        "\ngoal ({} case): the fallback's qps at least {:.1}× NSD's — median {:.0} vs {:.0} ({:.2}×), best \
         {:.0} vs {:.0} ({:.2}×): {}",
        case.name,
        case.goal,
        ours.median,
        nsd.median,
        ours.median / nsd.median,
        ours.best,
        nsd.best,
        ours.best / nsd.best,
        if met { "met" } else { "NOT met" }
    );
    json["goals"].as_array_mut().expect("array").push(json!({
        "case": case.name,
        "statement": format!(
            "dns-xdp's fallback (XDP off) median qps >= {} x NSD's median qps",
            case.goal
        ),
        "met": met,
        "median_ratio_to_nsd": ours.median / nsd.median,
        "best_ratio_to_nsd": ours.best / nsd.best,
    }));
}

/// The kernel memory of every map pinned in `pin_dir`, from bpftool (`bytes_memlock`, which
/// for the answer hash map, created without preallocation, counts the elements it holds).
fn pinned_map_memory(pin_dir: &Path) -> Vec<(String, u64, u64)> {
    let Ok(entries) = fs::read_dir(pin_dir) else {
        return Vec::new();
    };
    let mut maps: Vec<(String, u64, u64)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let output = Command::new("bpftool")
                .args(["-j", "map", "show", "pinned"])
                .arg(entry.path())
                .output()
                .ok()?;
            let info: Value = serde_json::from_slice(&output.stdout).ok()?;
            Some((
                entry.file_name().to_string_lossy().into_owned(),
                info["bytes_memlock"].as_u64()?,
                info["max_entries"].as_u64().unwrap_or(0),
            ))
        })
        .collect();
    maps.sort();
    maps
}

fn memory(topology: &Topology, dir: &Path, json: &mut Value) -> Result<()> {
    let zone = dir.join("big.zone");
    let started = Instant::now();
    write_big_zone(&zone)?;
    println!(
        "\nmemory: zone of {BIG_ZONE_RECORDS} A records ({:.1} MB file, written in {:.1} s); \
         load = spawn until serving (dns-xdp: its \"serving\" line; knotd, nsd: SOA answered);\n\
         peak = VmHWM of the largest process; PSS = proportional set size summed over the \
         server's processes, once serving; goal: dns-xdp peak under {:.1} GB\n",
        fs::metadata(&zone)?.len() as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        RSS_GOAL_BYTES as f64 / 1e9
    );
    println!(
        "{:<28} {:>8} {:>10} {:>10} {:>10}  check",
        "server", "load s", "peak MB", "PSS MB", "stop s"
    );
    let server = SocketAddr::new(topology.server_v4.into(), 53);
    let cases = [
        (Kind::DnsXdp, "off", "dns-xdp, XDP off"),
        (Kind::DnsXdp, "native", "dns-xdp, XDP native"),
        (Kind::Knot, "", "knotd"),
        (Kind::Nsd, "", "nsd"),
    ];
    for (kind, mode, label) in cases {
        let available_before = mem_available();
        let t0 = Instant::now();
        let started = Server::start(kind.spec(mode), topology, &zone);
        let load = t0.elapsed().as_secs_f64();
        let server_proc = match started {
            Ok(s) => s,
            Err(e) => {
                println!("{label:<28} failed to load: {e:#}");
                json["memory"].as_array_mut().expect("array").push(json!({
                    "server": label, "error": format!("{e:#}"),
                }));
                continue;
            }
        };
        let pids = server_pids(topology)?;
        let peak = pids
            .iter()
            .map(|&pid| proc_kb(pid, "status", "VmHWM"))
            .max()
            .unwrap_or(0);
        let rss: u64 = pids
            .iter()
            .map(|&pid| proc_kb(pid, "status", "VmRSS"))
            .sum();
        let pss: u64 = pids
            .iter()
            .map(|&pid| proc_kb(pid, "smaps_rollup", "Pss"))
            .sum();
        let system_used = available_before.saturating_sub(mem_available());
        let last = format!("n{}.example.com.", BIG_ZONE_RECORDS - 1);
        let reply = ask(&topology.client_ns, server, &last, 1)?;
        let check = match &reply {
            Some(m) if m.answers.len() == 1 => format!("{last} A {}", m.answers[0].data),
            Some(m) => format!("{last} A: {:?}", m.metadata.response_code),
            None => format!("{last} A: no answer"),
        };
        let maps = match &server_proc {
            Server::DnsXdp(agent) if mode != "off" => pinned_map_memory(&agent.pin_dir),
            _ => Vec::new(),
        };
        let t1 = Instant::now();
        server_proc.stop()?;
        let stop = t1.elapsed().as_secs_f64();
        println!(
            "{label:<28} {load:>8.2} {:>10.0} {:>10.0} {stop:>10.2}  {check}",
            peak as f64 / 1e6,
            pss as f64 / 1e6
        );
        let kernel: u64 = maps.iter().map(|(_, bytes, _)| bytes).sum();
        for (name, bytes, max_entries) in &maps {
            if *bytes >= 1_000_000 {
                println!(
                    "{:<28} kernel map {name}: {:.0} MB (bpftool memlock; max_entries {max_entries})",
                    "",
                    *bytes as f64 / 1e6
                );
            }
        }
        if !maps.is_empty() {
            println!(
                "{:<28} all pinned maps: {:.0} MB; system MemAvailable fell {:.0} MB while it \
                 loaded (agent + kernel)",
                "",
                kernel as f64 / 1e6,
                system_used as f64 / 1e6
            );
        }
        let mut entry = json!({
            "server": label,
            "load_seconds": load,
            "peak_rss_bytes": peak,
            "rss_bytes": rss,
            "pss_bytes": pss,
            "processes": pids.len(),
            "stop_seconds": stop,
            "check": check,
        });
        if kind == Kind::DnsXdp {
            entry["under_goal"] = json!(peak < RSS_GOAL_BYTES);
        }
        if !maps.is_empty() {
            entry["kernel_maps_bytes"] = json!(kernel);
            entry["kernel_maps"] = maps
                .iter()
                .map(|(name, bytes, max)| json!({"map": name, "bytes_memlock": bytes, "max_entries": max}))
                .collect();
            entry["system_mem_available_drop_bytes"] = json!(system_used);
        }
        json["memory"].as_array_mut().expect("array").push(entry);
    }
    let verdicts: Vec<String> = json["memory"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|m| {
            Some(format!(
                "{} {:.2} GB {}",
                m["server"].as_str()?,
                m["peak_rss_bytes"].as_u64()? as f64 / 1e9,
                if m["under_goal"].as_bool()? {
                    "(met)"
                } else {
                    "(NOT met)"
                }
            ))
        })
        .collect();
    println!(
        "\ngoal: {BIG_ZONE_RECORDS} A records load in under {:.1} GB RSS — {}",
        RSS_GOAL_BYTES as f64 / 1e9,
        verdicts.join(", ")
    );
    Ok(())
}

fn main() {
    dns_xdp_tests::bench::main("bench fallback", run);
}

fn run() -> Result<()> {
    for program in ["knotd", "nsd", "dnsperf", "bpftool", "ss"] {
        tool(program)?;
    }
    let agent = agent_binary();
    let dir = ScratchDir::new("bench");
    let topology = Topology::create("fbench")?;
    let mut json = json!({
        "config": {
            "agent": agent.display().to_string(),
            "knot": tool_version("knotd", "--version"),
            "nsd": tool_version("nsd", "-v"),
            "dnsperf": format!("-c {CLIENTS} -q {OUTSTANDING} -l {RUN_SECONDS}"),
            "warmup_seconds": WARMUP_SECONDS,
            "rounds": rounds(DEFAULT_ROUNDS),
            "cpus": thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "cases": CASES.iter().map(|c| json!({"case": c.name, "queries": c.queries})).collect::<Vec<_>>(),
            // The agent inherits the environment; this one sizes its tokio runtime.
            "tokio_worker_threads": std::env::var("TOKIO_WORKER_THREADS").ok(),
        },
        "runs": [],
        "summary": [],
        "goals": [],
        "memory": [],
    });
    println!(
        "agent: {} ({}); {}; {}",
        agent.display(),
        if agent.to_string_lossy().contains("/release/") {
            "release build"
        } else {
            "check it is a release build"
        },
        json["config"]["knot"].as_str().unwrap_or("knotd"),
        json["config"]["nsd"].as_str().unwrap_or("nsd")
    );
    if let Ok(threads) = std::env::var("TOKIO_WORKER_THREADS") {
        println!("the agent inherits TOKIO_WORKER_THREADS={threads}");
    }
    let zone = dir.path().join("example.com.zone");
    write_zone(&zone)?;
    for case in &CASES {
        let queries = dir.path().join(format!("{}.txt", case.name));
        (case.write)(&queries)?;
        let summaries = throughput(&topology, &zone, &queries, case, &mut json)?;
        print_summary(&summaries, case, rounds(DEFAULT_ROUNDS), &mut json);
    }
    memory(&topology, dir.path(), &mut json)?;

    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    fs::create_dir_all(&out)?;
    fs::write(
        out.join("fallback.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    println!("\nresults: target/bench/fallback.json");
    Ok(())
}
