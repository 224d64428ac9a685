//! dns-xdp under load against its peers: offered vs answered queries/s with kxdpgun, and
//! dnsperf's queries/s and latency percentiles, all in one run over one veth pair.
//!
//! Servers. Each serves the same generated zone (10,000 names with an A and an AAAA record,
//! see `dns_xdp_tests::bench::write_zone`) on port 53 of 192.0.2.1 and 2001:db8::1 in the
//! server namespace: dns-xdp with XDP native on the server's veth end, dns-xdp with XDP off
//! (its fallback answers everything), knotd (one UDP worker, one background worker), knotd
//! in its AF_XDP mode on the same veth end (one XDP worker: a veth has one queue), and nsd
//! (one server process, RRL off). Before anything is measured, kdig in the client namespace
//! asks each for an A and an AAAA record and the answers must be the zone's.
//!
//! Where XDP runs. A veth end with an XDP program receives through NAPI, by default in the
//! softirq of the CPU that sent the frame: the server's XDP work (dns-xdp's answers, Knot's
//! redirect to its socket) then runs on the load generator's CPU, which slows the generator
//! down by as much as the server works. Both XDP servers are therefore measured twice: as
//! the kernel does by default, and with threaded NAPI on the server's end (`tNAPI`), where the
//! end receives in a kernel thread of its own that the scheduler can put on the other core, as
//! a server's own NIC queue would. The other servers receive through the socket layer and are
//! not affected.
//!
//! Load. The queries are what the fast path is for: 80% A and 20% AAAA for names drawn
//! uniformly from the zone, without EDNS, sent to [2001:db8::1]:53. IPv6, because kxdpgun
//! sends IPv4 UDP with a zero checksum, which the fast path passes up as unverifiable.
//! - kxdpgun (AF_XDP, one thread, on the client's veth end): at its ceiling (a rate above what
//!   it can send) for every server in every round, and at fixed rates (`SWEEP_QPS`) in the
//!   first round. It counts queries sent and replies received.
//! - dnsperf (`-c 8 -q 200`): as fast as answers allow, and at a fixed 10,000 queries/s in
//!   the first round, for latency percentiles (from `-v`, see `dns_xdp_tests::dnsperf`).
//!
//! The machine has two cores, shared by the load generator, the server and the veth's softirq
//! work (and by whatever else runs): so servers take turns, one round after another
//! (`DNS_XDP_BENCH_ROUNDS`, default 3), each figure at the ceiling is the median over rounds
//! (each on its own), and only ratios measured in the same run mean much.
//!
//! Prints one table with ratios to Knot's AF_XDP mode and to the fallback and the issue's
//! goals, met or not; writes `target/bench/report.json` (with `target/bench/xdp.json`, the
//! BPF_PROG_TEST_RUN bench, when it is there) and `target/bench/load.png` (answered vs offered
//! per server). Fails only when something could not run: a tool missing, a server that does
//! not start or answers wrongly. Needs root, and the release agent (`cargo xtask bench`
//! builds it).

use std::{
    fs,
    path::{Path, PathBuf},
    thread,
    time::{Instant, SystemTime},
};

use anyhow::{bail, ensure, Context, Result};
use dns_xdp_tests::{
    agent::agent_binary,
    bench::{
        doc_v4, doc_v6, loadavg, median, rounds, tool, tool_version, write_hot_queries, write_zone,
        NAMES,
    },
    dnsperf::{Dnsperf, Percentiles, Perf},
    kxdpgun::{Kxdpgun, Load},
    netns::Topology,
    scratch::ScratchDir,
    servers::{Server, Spec},
};
use plotters::prelude::*;
use serde_json::{json, Value};

/// Lines in the query file (both tools loop over it).
const QUERY_LINES: usize = 100_000;
/// Far above what kxdpgun sends from one thread here, so it sends at its ceiling.
const CEILING_QPS: u64 = 10_000_000;
const CEILING_SECONDS: f64 = 3.0;
/// Fixed kxdpgun rates of the first round, below its ceiling on this kind of machine.
const SWEEP_QPS: [u64; 5] = [50_000, 100_000, 200_000, 300_000, 400_000];
const SWEEP_SECONDS: f64 = 1.5;
const DNSPERF_SECONDS: u32 = 3;
const CLIENTS: u32 = 8;
const OUTSTANDING: u32 = 200;
/// A query unanswered after a second is lost: bounds dnsperf's wait at the end of a run.
const DNSPERF_TIMEOUT_SECONDS: u32 = 1;
/// The rate of the latency run: far below every server's ceiling, so the percentiles are the
/// time to answer rather than time spent queued.
const LATENCY_QPS: u32 = 10_000;
const LATENCY_SECONDS: u32 = 2;
const DEFAULT_ROUNDS: usize = 3;
/// Goals from the issue, for dns-xdp with XDP at kxdpgun's ceiling.
const ANSWERED_GOAL: f64 = 0.99;
const KNOT_XDP_GOAL: f64 = 1.2;
/// From Debian's fonts-dejavu-core, for the chart's text.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Peer {
    FastPath,
    FastPathThreaded,
    KnotXdp,
    KnotXdpThreaded,
    Fallback,
    Knot,
    Nsd,
}

impl Peer {
    const ALL: [Peer; 7] = [
        Peer::FastPath,
        Peer::FastPathThreaded,
        Peer::KnotXdp,
        Peer::KnotXdpThreaded,
        Peer::Fallback,
        Peer::Knot,
        Peer::Nsd,
    ];

    fn label(self) -> &'static str {
        match self {
            Peer::FastPath => "dns-xdp XDP",
            Peer::FastPathThreaded => "dns-xdp XDP tNAPI",
            Peer::KnotXdp => "Knot AF_XDP",
            Peer::KnotXdpThreaded => "Knot AF_XDP tNAPI",
            Peer::Fallback => "dns-xdp XDP off",
            Peer::Knot => "Knot UDP",
            Peer::Nsd => "NSD",
        }
    }

    fn spec(self) -> Spec {
        match self {
            Peer::FastPath | Peer::FastPathThreaded => Spec::DnsXdp { xdp_mode: "native" },
            Peer::Fallback => Spec::DnsXdp { xdp_mode: "off" },
            Peer::Knot => Spec::Knot { xdp: false },
            Peer::KnotXdp | Peer::KnotXdpThreaded => Spec::Knot { xdp: true },
            Peer::Nsd => Spec::Nsd,
        }
    }

    /// Whether the server's veth end runs XDP, and so receives through NAPI: `Some(threaded)`.
    fn napi(self) -> Option<bool> {
        match self {
            Peer::FastPath | Peer::KnotXdp => Some(false),
            Peer::FastPathThreaded | Peer::KnotXdpThreaded => Some(true),
            Peer::Fallback | Peer::Knot | Peer::Nsd => None,
        }
    }

    /// Its line in the chart: dns-xdp reds, Knot blues, threaded NAPI the lighter shade.
    fn color(self) -> RGBColor {
        match self {
            Peer::FastPath => RGBColor(200, 30, 30),
            Peer::FastPathThreaded => RGBColor(250, 130, 40),
            Peer::KnotXdp => RGBColor(20, 70, 190),
            Peer::KnotXdpThreaded => RGBColor(90, 170, 240),
            Peer::Fallback => RGBColor(140, 40, 140),
            Peer::Knot => RGBColor(20, 150, 60),
            Peer::Nsd => RGBColor(110, 110, 110),
        }
    }

    /// The Knot AF_XDP row to compare with: the one receiving the same way.
    fn knot_xdp(self) -> Peer {
        if self.napi() == Some(true) {
            Peer::KnotXdpThreaded
        } else {
            Peer::KnotXdp
        }
    }
}

/// A kxdpgun run at its ceiling, with what the server's XDP counted meanwhile: for dns-xdp the
/// fast path's answers, for Knot's AF_XDP mode the queries its program handed to its socket.
#[derive(Clone)]
struct Ceiling {
    load: Load,
    via_xdp: Option<u64>,
}

impl Ceiling {
    /// `via_xdp` as a share: of the replies for dns-xdp, of the queries for Knot.
    fn via_xdp_share(&self, peer: Peer) -> Option<f64> {
        let of = match peer.spec() {
            Spec::Knot { .. } => self.load.queries,
            _ => self.load.replies,
        };
        Some(self.via_xdp? as f64 / of.max(1) as f64)
    }
}

/// The medians, each on its own, of a server's runs at kxdpgun's ceiling.
struct CeilingMedians {
    offered_qps: f64,
    answered_qps: f64,
    answered_share: f64,
    via_xdp_share: Option<f64>,
}

/// Everything measured for one server, over all rounds.
#[derive(Default)]
struct Measured {
    /// What the answer check got.
    check: String,
    ceilings: Vec<Ceiling>,
    /// At `SWEEP_QPS`, in order.
    sweep: Vec<Load>,
    /// As fast as answers allow, with percentiles at that load.
    dnsperf: Vec<Perf>,
    /// At `LATENCY_QPS`.
    latency: Option<Perf>,
}

impl Measured {
    fn ceiling(&self, peer: Peer) -> CeilingMedians {
        let of = |f: &dyn Fn(&Ceiling) -> f64| {
            median(&mut self.ceilings.iter().map(f).collect::<Vec<_>>())
        };
        let mut via: Vec<f64> = self
            .ceilings
            .iter()
            .filter_map(|c| c.via_xdp_share(peer))
            .collect();
        CeilingMedians {
            offered_qps: of(&|c| c.load.offered_qps),
            answered_qps: of(&|c| c.load.answered_qps),
            answered_share: of(&|c| c.load.answered_share()),
            via_xdp_share: (!via.is_empty()).then(|| median(&mut via)),
        }
    }

    fn dnsperf_qps(&self) -> f64 {
        median(&mut self.dnsperf.iter().map(|p| p.qps).collect::<Vec<_>>())
    }

    /// The percentiles of the median dnsperf run at full load.
    fn loaded_latency(&self) -> Option<Percentiles> {
        let mut runs: Vec<&Perf> = self.dnsperf.iter().collect();
        runs.sort_by(|a, b| a.qps.total_cmp(&b.qps));
        runs.get((runs.len().max(1) - 1) / 2)?.latency
    }
}

fn main() {
    dns_xdp_tests::bench::main("bench load", run);
}

fn run() -> Result<()> {
    for program in [
        "kxdpgun", "dnsperf", "kdig", "knotd", "nsd", "ethtool", "ip",
    ] {
        tool(program)?;
    }
    // Before minutes of measuring: the chart needs it at the end.
    register_font()?;
    let agent = agent_binary();
    let rounds = rounds(DEFAULT_ROUNDS);
    let dir = ScratchDir::new("bench-load");
    let zone = dir.path().join("example.com.zone");
    let queries = dir.path().join("queries.txt");
    write_zone(&zone)?;
    write_hot_queries(&queries, QUERY_LINES)?;
    let mut topology = Topology::create("load")?;
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let load_before = loadavg();
    println!(
        "\nload: kxdpgun (AF_XDP, one thread) and dnsperf (-c {CLIENTS} -q {OUTSTANDING}) in {} \
         -> [{}]:53 over veth; {cpus} CPUs, load average {load_before} at start\n\
         zone: {NAMES} names with A and AAAA; queries: 80% A, 20% AAAA of those names, no EDNS; \
         {rounds} round(s), servers taking turns; agent {}",
        topology.client_ns,
        topology.server_v6,
        agent.display()
    );
    let started = Instant::now();
    let mut measured: Vec<Measured> = Peer::ALL.iter().map(|_| Measured::default()).collect();
    for round in 1..=rounds {
        for (i, &peer) in Peer::ALL.iter().enumerate() {
            measure(
                &mut topology,
                peer,
                &zone,
                &queries,
                round == 1,
                &mut measured[i],
            )
            .with_context(|| format!("{} (round {round})", peer.label()))?;
            let m = &measured[i];
            let ceiling = m.ceilings.last().expect("measured");
            println!(
                "round {round}/{rounds} {:<18} kxdpgun {} offered, {} answered ({:.1}%); \
                 dnsperf {} q/s",
                peer.label(),
                thousands(ceiling.load.offered_qps),
                thousands(ceiling.load.answered_qps),
                ceiling.load.answered_share() * 100.0,
                thousands(m.dnsperf.last().expect("measured").qps)
            );
        }
    }
    let load_after = loadavg();
    let xdp = xdp_bench_results();
    print_table(&measured, rounds, xdp.as_ref());
    println!(
        "\nmeasured in {:.0} s; load average {load_before} at start, {load_after} at the end \
         (other work on the machine makes the figures noisy: compare ratios within a run)",
        started.elapsed().as_secs_f64()
    );

    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    fs::create_dir_all(&out)?;
    let report = report(
        &measured,
        rounds,
        xdp,
        (&load_before, &load_after),
        &topology,
    );
    fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    draw_chart(&out.join("load.png"), &measured)?;
    println!("results: target/bench/report.json, chart: target/bench/load.png");
    Ok(())
}

/// One round of one server: start it, check its answers, measure, stop it.
fn measure(
    topology: &mut Topology,
    peer: Peer,
    zone: &Path,
    queries: &Path,
    first_round: bool,
    m: &mut Measured,
) -> Result<()> {
    let server = Server::start(peer.spec(), topology, zone).context("starting it")?;
    if let Some(threaded) = peer.napi() {
        topology.set_server_threaded_napi(threaded)?;
    }
    m.check = check_answers(topology).context("checking its answers")?;
    let dnsperf = |max_qps: Option<u32>, seconds: u32| Dnsperf {
        server: topology.server_v6.into(),
        queries,
        seconds,
        clients: CLIENTS,
        outstanding: OUTSTANDING,
        max_qps,
        timeout_seconds: Some(DNSPERF_TIMEOUT_SECONDS),
        percentiles: true,
    };
    if first_round {
        m.latency = Some(dnsperf(Some(LATENCY_QPS), LATENCY_SECONDS).run(topology)?);
    }
    m.dnsperf
        .push(dnsperf(None, DNSPERF_SECONDS).run(topology)?);

    // kxdpgun brings its own XDP program for the client end.
    topology.detach_client_pass();
    let kxdpgun = |qps: u64, seconds: f64| Kxdpgun {
        server: topology.server_v6.into(),
        queries,
        seconds,
        qps,
    };
    let before = xdp_counter(topology, peer, &server)?;
    let load = kxdpgun(CEILING_QPS, CEILING_SECONDS).run(topology)?;
    let after = xdp_counter(topology, peer, &server)?;
    m.ceilings.push(Ceiling {
        load,
        via_xdp: after.zip(before).map(|(a, b)| a.saturating_sub(b)),
    });
    if first_round {
        for qps in SWEEP_QPS {
            m.sweep.push(kxdpgun(qps, SWEEP_SECONDS).run(topology)?);
        }
    }
    topology.attach_client_pass()?;
    server.stop()
}

/// kdig from the client namespace, over IPv6 as the load: h0's A and h1's AAAA must be the
/// zone's. Returns what it got.
fn check_answers(topology: &Topology) -> Result<String> {
    let kdig = tool("kdig")?;
    let server = format!("@{}", topology.server_v6);
    let mut got = Vec::new();
    for (name, qtype, expected) in [
        ("h0.example.com.", "A", doc_v4(0)),
        ("h1.example.com.", "AAAA", doc_v6(1)),
    ] {
        let output = topology.exec(
            &topology.client_ns,
            &kdig.to_string_lossy(),
            &[&server, "+short", "+timeout=2", "+retry=0", name, qtype],
        )?;
        let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
        ensure!(
            output.status.success() && answer == expected,
            "kdig {server} {name} {qtype}: expected {expected}, got {answer:?} {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        got.push(format!("{name} {qtype} {answer}"));
    }
    Ok(got.join(", "))
}

/// dns-xdp's fast-path answers so far (with XDP on), or the queries Knot's XDP program has
/// handed to its AF_XDP socket (the veth's `xdp_redirect` counter); `None` for the others.
fn xdp_counter(topology: &Topology, peer: Peer, server: &Server) -> Result<Option<u64>> {
    match (peer, server) {
        (Peer::FastPath | Peer::FastPathThreaded, Server::DnsXdp(agent)) => {
            let stats = agent.stats()?;
            let answered = |key: &str| stats[key].as_u64().unwrap_or(0);
            Ok(Some(answered("answered_v4") + answered("answered_v6")))
        }
        (Peer::KnotXdp | Peer::KnotXdpThreaded, _) => {
            let output =
                topology.exec(&topology.server_ns, "ethtool", &["-S", &topology.server_if])?;
            ensure!(
                output.status.success(),
                "ethtool -S {} failed: {}",
                topology.server_if,
                String::from_utf8_lossy(&output.stderr).trim()
            );
            let text = String::from_utf8_lossy(&output.stdout);
            Ok(Some(
                text.lines()
                    .filter_map(|line| line.trim().split_once(':'))
                    .filter(|(name, _)| {
                        name.starts_with("rx_queue_") && name.ends_with("_xdp_redirect")
                    })
                    .filter_map(|(_, n)| n.trim().parse::<u64>().ok())
                    .sum(),
            ))
        }
        _ => Ok(None),
    }
}

/// "Version 2.10.0", from the last lines of `dnsperf -h` (it has no version option).
fn dnsperf_version() -> String {
    tool("dnsperf")
        .ok()
        .and_then(|path| std::process::Command::new(path).arg("-h").output().ok())
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stderr).into_owned()
                + &String::from_utf8_lossy(&o.stdout);
            text.lines()
                .find(|line| line.starts_with("Version "))
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// "581k" for 581,234.
fn thousands(x: f64) -> String {
    format!("{:.0}k", x / 1000.0)
}

/// "2.10×", or "-" when there is nothing to compare with.
fn ratio(x: f64, to: f64) -> String {
    if to > 0.0 && x.is_finite() {
        format!("{:.2}×", x / to)
    } else {
        "-".to_string()
    }
}

fn us(p: Option<Percentiles>, f: fn(&Percentiles) -> f64) -> String {
    p.map_or("-".to_string(), |p| format!("{:.0}", f(&p)))
}

/// `target/bench/xdp.json` of the BPF_PROG_TEST_RUN bench, with its age in seconds.
fn xdp_bench_results() -> Option<(Value, u64)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench/xdp.json");
    let text = fs::read_to_string(&path).ok()?;
    let age = fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map_or(0, |d| d.as_secs());
    Some((serde_json::from_str(&text).ok()?, age))
}

/// `peer`'s measurements: `measured` is in `Peer::ALL`'s order.
fn of(measured: &[Measured], peer: Peer) -> &Measured {
    &measured[Peer::ALL
        .iter()
        .position(|&p| p == peer)
        .expect("every peer")]
}

fn print_table(measured: &[Measured], rounds: usize, xdp: Option<&(Value, u64)>) {
    let fallback = of(measured, Peer::Fallback);
    println!(
        "\nkxdpgun at its ceiling: the median of {rounds} round(s); then the answered % at fixed \
         offered rates (round 1); dnsperf q/s: median; latency percentiles in µs at {} q/s \
         (round 1) and p99 at full load (median run)\n\
         ×K-XDP: ratio to Knot AF_XDP receiving the same way; ×fallb: to dns-xdp XDP off; XDP: \
         dns-xdp: replies the fast path sent, Knot: queries its XDP program handed to AF_XDP\n\
         tNAPI: the server's veth end receives (runs XDP) in a kernel thread of its own, not in \
         the softirq of the sending CPU: the server's XDP work no longer runs on the load \
         generator's CPU\n",
        LATENCY_QPS
    );
    let mut head = format!(
        "{:<18} {:>8} {:>8} {:>6} {:>7} {:>7} {:>5} |",
        "server", "offered", "answered", "ans%", "×K-XDP", "×fallb", "XDP"
    );
    for qps in SWEEP_QPS {
        head.push_str(&format!(" {:>5}", thousands(qps as f64)));
    }
    head.push_str(&format!(
        " | {:>7} {:>7} {:>7} | {:>5} {:>5} {:>5} {:>6} | {:>7}",
        "dnsperf", "×K-XDP", "×fallb", "p50", "p90", "p99", "p99.9", "p99 max"
    ));
    println!("{head}");
    for (&peer, m) in Peer::ALL.iter().zip(measured) {
        let c = m.ceiling(peer);
        let knot_xdp = of(measured, peer.knot_xdp());
        let mut row = format!(
            "{:<18} {:>8} {:>8} {:>5.1}% {:>7} {:>7} {:>5} |",
            peer.label(),
            thousands(c.offered_qps),
            thousands(c.answered_qps),
            c.answered_share * 100.0,
            ratio(
                c.answered_qps,
                knot_xdp.ceiling(peer.knot_xdp()).answered_qps
            ),
            ratio(
                c.answered_qps,
                fallback.ceiling(Peer::Fallback).answered_qps
            ),
            c.via_xdp_share
                .map_or("-".to_string(), |s| format!("{:.0}%", s * 100.0)),
        );
        for load in &m.sweep {
            row.push_str(&format!(" {:>5.0}", load.answered_share() * 100.0));
        }
        let latency = m.latency.as_ref().and_then(|p| p.latency);
        row.push_str(&format!(
            " | {:>7} {:>7} {:>7} | {:>5} {:>5} {:>5} {:>6} | {:>7}",
            thousands(m.dnsperf_qps()),
            ratio(m.dnsperf_qps(), knot_xdp.dnsperf_qps()),
            ratio(m.dnsperf_qps(), fallback.dnsperf_qps()),
            us(latency, |p| p.p50_us),
            us(latency, |p| p.p90_us),
            us(latency, |p| p.p99_us),
            us(latency, |p| p.p999_us),
            us(m.loaded_latency(), |p| p.p99_us),
        ));
        println!("{row}");
    }
    for goal in goals(measured) {
        println!(
            "goal: {} — {}: {}",
            goal.statement,
            goal.measured,
            if goal.met { "met" } else { "NOT met" }
        );
    }
    if let Some((Value::Array(cases), age)) = xdp {
        let cases: Vec<String> = cases
            .iter()
            .filter_map(|c| Some(format!("{} {} ns", c["case"].as_str()?, c["median_ns"])))
            .collect();
        if !cases.is_empty() {
            println!(
                "fast path per packet (BPF_PROG_TEST_RUN medians, target/bench/xdp.json, {age} s \
                 old): {}",
                cases.join("; ")
            );
        }
    }
}

struct Goal {
    statement: String,
    measured: String,
    value: f64,
    met: bool,
}

/// The two goals for dns-xdp with XDP, for each way the server's veth end receives.
fn goals(measured: &[Measured]) -> Vec<Goal> {
    let mut goals = Vec::new();
    for peer in [Peer::FastPath, Peer::FastPathThreaded] {
        let fast = of(measured, peer).ceiling(peer);
        let knot_peer = peer.knot_xdp();
        let knot = of(measured, knot_peer).ceiling(knot_peer);
        let share = fast.answered_share;
        let vs_knot = fast.answered_qps / knot.answered_qps;
        goals.push(Goal {
            statement: format!(
                "{} answers >= {:.0}% of what kxdpgun offers at its ceiling",
                peer.label(),
                ANSWERED_GOAL * 100.0
            ),
            measured: format!("median {:.1}%", share * 100.0),
            value: share,
            met: share >= ANSWERED_GOAL,
        });
        goals.push(Goal {
            statement: format!(
                "{} answers >= {KNOT_XDP_GOAL}× {}'s queries/s at kxdpgun's ceiling",
                peer.label(),
                knot_peer.label()
            ),
            measured: format!(
                "median {} vs {} ({:.2}×)",
                thousands(fast.answered_qps),
                thousands(knot.answered_qps),
                vs_knot
            ),
            value: vs_knot,
            met: vs_knot >= KNOT_XDP_GOAL,
        });
    }
    goals
}

fn percentiles_json(p: Option<Percentiles>) -> Value {
    p.map_or(Value::Null, |p| {
        json!({
            "samples": p.samples,
            "p50_us": p.p50_us,
            "p90_us": p.p90_us,
            "p99_us": p.p99_us,
            "p99_9_us": p.p999_us,
        })
    })
}

fn perf_json(perf: &Perf) -> Value {
    json!({
        "qps": perf.qps,
        "queries_sent": perf.sent,
        "queries_completed": perf.completed,
        "queries_lost": perf.lost,
        "response_codes": perf.rcodes,
        "avg_latency_us": perf.avg_latency_us,
        "min_latency_us": perf.min_latency_us,
        "max_latency_us": perf.max_latency_us,
        "stddev_latency_us": perf.stddev_latency_us,
        "run_seconds": perf.run_seconds,
        "dnsperf_cpu_share": perf.dnsperf_cpu,
        "latency_percentiles": percentiles_json(perf.latency),
    })
}

fn report(
    measured: &[Measured],
    rounds: usize,
    xdp: Option<(Value, u64)>,
    (load_before, load_after): (&str, &str),
    topology: &Topology,
) -> Value {
    let fallback = of(measured, Peer::Fallback);
    let servers: Vec<Value> = Peer::ALL
        .iter()
        .zip(measured)
        .map(|(&peer, m)| {
            let c = m.ceiling(peer);
            let knot_xdp = of(measured, peer.knot_xdp());
            json!({
                "server": peer.label(),
                "spec": format!("{:?}", peer.spec()),
                "threaded_napi": peer.napi(),
                "compared_with": peer.knot_xdp().label(),
                "check": m.check,
                "ceiling": {
                    "median_offered_qps": c.offered_qps,
                    "median_answered_qps": c.answered_qps,
                    "median_answered_share": c.answered_share,
                    "median_via_xdp_share": c.via_xdp_share,
                    "answered_ratio_to_knot_xdp":
                        c.answered_qps / knot_xdp.ceiling(peer.knot_xdp()).answered_qps,
                    "answered_ratio_to_fallback":
                        c.answered_qps / fallback.ceiling(Peer::Fallback).answered_qps,
                    "runs": m.ceilings.iter().map(|c| json!({
                        "load": c.load.json(),
                        "via_xdp": c.via_xdp,
                    })).collect::<Vec<_>>(),
                },
                "sweep": m.sweep.iter().zip(SWEEP_QPS).map(|(l, qps)| json!({
                    "requested_qps": qps,
                    "load": l.json(),
                })).collect::<Vec<_>>(),
                "dnsperf": {
                    "median_qps": m.dnsperf_qps(),
                    "qps_ratio_to_knot_xdp": m.dnsperf_qps() / knot_xdp.dnsperf_qps(),
                    "qps_ratio_to_fallback": m.dnsperf_qps() / fallback.dnsperf_qps(),
                    "runs": m.dnsperf.iter().map(perf_json).collect::<Vec<_>>(),
                    "fixed_rate": m.latency.as_ref().map(perf_json),
                },
            })
        })
        .collect();
    let goals: Vec<Value> = goals(measured)
        .into_iter()
        .map(|g| json!({"goal": g.statement, "measured": g.measured, "value": g.value, "met": g.met}))
        .collect();
    json!({
        "config": {
            "agent": agent_binary().display().to_string(),
            "knotd": tool_version("knotd", "--version"),
            "kxdpgun": tool_version("kxdpgun", "--version"),
            "nsd": tool_version("nsd", "-v"),
            "dnsperf_version": dnsperf_version(),
            "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            "cpus": thread::available_parallelism().map_or(0, |n| n.get()),
            "load_average_start": load_before,
            "load_average_end": load_after,
            "rounds": rounds,
            "server": format!("[{}]:53", topology.server_v6),
            "queries": "80% A, 20% AAAA, names uniform over the zone's 10000, no EDNS, IPv6",
            "kxdpgun_ceiling": {"qps": CEILING_QPS, "seconds": CEILING_SECONDS},
            "kxdpgun_sweep": {"qps": SWEEP_QPS, "seconds": SWEEP_SECONDS},
            "dnsperf": format!("-c {CLIENTS} -q {OUTSTANDING} -l {DNSPERF_SECONDS} -t {DNSPERF_TIMEOUT_SECONDS} -v"),
            "dnsperf_fixed_rate": format!("-Q {LATENCY_QPS} -l {LATENCY_SECONDS}"),
        },
        "servers": servers,
        "goals": goals,
        "xdp_prog_test_run": xdp.map_or(Value::Null, |(results, age)| json!({
            "file": "target/bench/xdp.json",
            "age_seconds": age,
            "results": results,
        })),
    })
}

/// The chart's text needs a font file: plotters' ab_glyph backend does no system font lookup.
fn register_font() -> Result<()> {
    let bytes = fs::read(FONT).with_context(|| {
        format!("the chart's font {FONT} is missing: install Debian's fonts-dejavu-core (`cargo xtask setup` does)")
    })?;
    // plotters keeps the font for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_err() {
        bail!("{FONT} is not a font ab_glyph can read");
    }
    Ok(())
}

/// Answered against offered queries/s: per server a line through its fixed-rate runs and the
/// medians at kxdpgun's ceiling, and a ring for each ceiling run; and the line where every
/// query is answered.
fn draw_chart(path: &Path, measured: &[Measured]) -> Result<()> {
    /// (offered, answered) in thousands per second.
    type Point = (f64, f64);
    let k = |load: &Load| (load.offered_qps / 1000.0, load.answered_qps / 1000.0);
    // (server, line, rings)
    let series: Vec<(Peer, Vec<Point>, Vec<Point>)> = Peer::ALL
        .iter()
        .zip(measured)
        .map(|(&peer, m)| {
            let c = m.ceiling(peer);
            let mut line: Vec<Point> = m.sweep.iter().map(k).collect();
            line.push((c.offered_qps / 1000.0, c.answered_qps / 1000.0));
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            (peer, line, m.ceilings.iter().map(|c| k(&c.load)).collect())
        })
        .collect();
    let top = series
        .iter()
        .flat_map(|(_, line, rings)| line.iter().chain(rings).map(|p| p.0.max(p.1)))
        .fold(100.0, f64::max)
        * 1.05;
    let draw = || -> Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(path, (1200, 800)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "answered vs offered queries/s — kxdpgun over veth, IPv6, A/AAAA \
                 (rings: each run at its ceiling)",
                ("sans-serif", 26),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..top, 0.0..top)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE.mix(0.0))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc("offered (thousand queries/s)")
            .y_desc("answered (thousand queries/s)")
            .axis_desc_style(("sans-serif", 18))
            .label_style(("sans-serif", 15))
            .draw()?;
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 0.0), (top, top)],
                8,
                6,
                BLACK.mix(0.4).into(),
            ))?
            .label("every query answered")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.mix(0.4)));
        for (peer, line, rings) in &series {
            let color = peer.color();
            chart
                .draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))?
                .label(peer.label())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            chart.draw_series(
                rings
                    .iter()
                    .map(|&p| Circle::new(p, 6, color.stroke_width(2))),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.5))
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))
}
