//! `cargo xtask demo`: dns-xdp serving the repository's example zone, signed with keys made
//! for the run, with XDP on one end of a veth pair, and in a client namespace at the other:
//! real `dig`/`kdig` queries, two HTTPS backends ("US-East" and "EU-West") behind a failover
//! and a geo pool, and a validating unbound. It shows the fast path and the fallback, a
//! failover and its way back, answers by region and by EDNS Client Subnet, a validated
//! answer the fast path sent, and the counters; each step checks what it shows, and the demo
//! fails (non-zero) if one does not hold. Serves until Ctrl-C; `--once` stops after showing.
//!
//! Needs root (BPF, network namespaces). Run through `cargo xtask demo`, which builds the XDP
//! program and the agent first.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    process::{Command, ExitCode},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use dns_xdp_tests::{
    agent::{agent_binary, Agent},
    backend::{Backend, TestCa},
    netns::Topology,
    scratch::ScratchDir,
    unbound::Unbound,
};

/// The failover pool's members, with HTTPS backends of their own in the client namespace.
const US_EAST: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const EU_WEST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 20);
/// A client in each region (the regions are these /25s).
const US_CLIENT: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 50);
const EU_CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 50);

/// Health checks every second, down after two failures, up after two successes: quick enough
/// for a demo, and what an operator would shorten to see a failover.
const POOLS: &str = "\
[[check]]
name = \"health\"
protocol = \"https\"
port = 443
path = \"/health\"
host = \"app.example.com\"
ca_file = \"ca.pem\"
interval = \"1s\"
timeout = \"500ms\"
fall = 2
rise = 2

[[region]]
name = \"us-east\"
cidrs = [\"203.0.113.0/25\"]

[[region]]
name = \"eu-west\"
cidrs = [\"198.51.100.0/25\"]

[[pool]]
name = \"app.example.com.\"
type = \"A\"
policy = \"failover\"
ttl = 30
check = \"health\"
  [[pool.member]]
  address = \"203.0.113.10\"    # US-East
  [[pool.member]]
  address = \"198.51.100.20\"   # EU-West, the secondary

[[pool]]
name = \"geo.example.com.\"
type = \"A\"
policy = \"geo\"
ttl = 60
default_region = \"us-east\"
check = \"health\"
  [[pool.member]]
  address = \"203.0.113.10\"
  region = \"us-east\"
  [[pool.member]]
  address = \"198.51.100.20\"
  region = \"eu-west\"
";

fn main() -> ExitCode {
    match demo(std::env::args().any(|a| a == "--once")) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Everything the demo started; dropped in field order, so the processes stop before their
/// files and the network go.
struct World {
    unbound: Unbound,
    agent: Agent,
    us_east: Backend,
    _eu_west: Backend,
    scratch: ScratchDir,
    topology: Topology,
}

fn demo(once: bool) -> Result<()> {
    ensure!(
        dns_xdp_tests::netns::is_root(),
        "the demo needs root (BPF, network namespaces): run `sudo -E cargo xtask demo`"
    );
    // Blocked before any thread starts, so every thread inherits the mask and the signal waits
    // for `sigwait` below instead of killing the demo before it cleans up.
    let signals = block_termination_signals();
    let started = Instant::now();
    let mut world = World::start()?;
    let w = &mut world;

    let steps: [fn(&mut World) -> Result<()>; 5] = [basics, failover, geo, dnssec, counters];
    for step in steps {
        step(w)?;
        interrupted(&signals)?;
    }
    println!(
        "\n(all steps passed in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    if !once {
        try_by_hand(w);
        wait_for_signal(&signals);
        println!("\nstopping");
    }
    // Dropping the world stops unbound, the agent (SIGTERM: XDP detached, pins removed) and the
    // backends, then removes the keys and the namespaces.
    drop(world);
    Ok(())
}

impl World {
    fn start() -> Result<World> {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/example.com.zone");
        let zone = example
            .canonicalize()
            .context("examples/example.com.zone")?;
        let topology = Topology::create("demo").context("creating the demo network")?;
        for addr in [US_EAST, EU_WEST, US_CLIENT, EU_CLIENT] {
            topology.add_client_address(addr)?;
        }
        println!(
            "network: {} ({}, {} on {}) <-veth-> {} ({}, {} on {})",
            topology.server_ns,
            topology.server_v4,
            topology.server_v6,
            topology.server_if,
            topology.client_ns,
            topology.client_v4,
            topology.client_v6,
            topology.client_if
        );
        println!(
            "         on the client's side too: HTTPS backends {US_EAST} \"US-East\" and \
             {EU_WEST} \"EU-West\", clients {US_CLIENT} (us-east) and {EU_CLIENT} (eu-west)"
        );

        let scratch = ScratchDir::new("demo");
        let dir = scratch.path();
        let ca = TestCa::new()?;
        ca.write_pem(&dir.join("ca.pem"))?;
        let backend = |addr: Ipv4Addr| {
            let at = SocketAddr::new(addr.into(), 443);
            Backend::https(Some(&topology.client_ns), at, &ca, "app.example.com")
        };
        let us_east = backend(US_EAST)?;
        let eu_west = backend(EU_WEST)?;

        let keys = dir.join("keys").display().to_string();
        dns_xdp(&["keys", "generate", "--zone", "example.com.", "--dir", &keys])?;
        let ds = dns_xdp(&["keys", "ds", "--zone", "example.com.", "--dir", &keys])?;
        let ds = ds
            .lines()
            .find(|line| line.contains(" IN DS "))
            .with_context(|| format!("no DS in `dns-xdp keys ds` output: {ds}"))?;
        // unbound wants "owner DS tag alg type digest", without TTL and class.
        let fields: Vec<&str> = ds.split_whitespace().collect();
        let anchor = format!("{} DS {}", fields[0], fields[3..].join(" "));
        println!("keys:    generated in {keys}; the parent's DS: {anchor}");

        let config = format!(
            "[server]\ninterface = \"{}\"\nxdp_mode = \"native\"\n\
             listen = [\"{}:53\", \"[{}]:53\"]\n\n\
             [dnssec]\nkey_dir = \"{keys}\"\n\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\ndnssec = true\n\n{}",
            topology.server_if,
            topology.server_v4,
            topology.server_v6,
            zone.display(),
            POOLS.replace(
                "\"ca.pem\"",
                &format!("\"{}\"", dir.join("ca.pem").display())
            ),
        );
        let agent = Agent::start_with_config(&topology, &config).context("starting dns-xdp")?;
        println!(
            "dns-xdp: serving {} signed, with XDP on {}, config {}",
            zone.display(),
            topology.server_if,
            agent.config_path.display()
        );
        let unbound = Unbound::start_in_client(&topology, anchor, "example.com.")
            .context("starting unbound")?;
        println!(
            "unbound: validating on 127.0.0.1 in {}, trusting that DS only",
            topology.client_ns
        );
        Ok(World {
            unbound,
            agent,
            us_east,
            _eu_west: eu_west,
            scratch,
            topology,
        })
    }

    /// Runs `program args` in the client namespace; its stdout, or an error with its stderr.
    fn client(&self, program: &str, args: &[&str]) -> Result<String> {
        let output = self
            .topology
            .exec(&self.topology.client_ns, program, args)?;
        if !output.status.success() {
            bail!(
                "{program} {} failed: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `dig +short` for `name` A from `source`: the addresses, sorted.
    fn addresses(&self, source: Ipv4Addr, name: &str) -> Result<Vec<String>> {
        let server = format!("@{}", self.topology.server_v4);
        let source = source.to_string();
        let out = self.client(
            "dig",
            &[
                &server, "-b", &source, "+short", "+tries=1", "+time=2", name, "A",
            ],
        )?;
        let mut addresses: Vec<String> = out.lines().map(str::to_owned).collect();
        addresses.sort();
        Ok(addresses)
    }

    /// Packets the fast path answered, over IPv4 and IPv6.
    fn answered(&self) -> Result<u64> {
        let stats = self.agent.stats()?;
        let count = |key: &str| stats[key].as_u64().with_context(|| format!("no {key}"));
        Ok(count("answered_v4")? + count("answered_v6")?)
    }
}

/// Runs the agent binary with `args`; its stdout.
fn dns_xdp(args: &[&str]) -> Result<String> {
    let output = Command::new(agent_binary()).args(args).output()?;
    if !output.status.success() {
        bail!(
            "dns-xdp {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn heading(title: &str) {
    println!("\n━━ {title}");
}

/// The fast path and the fallback: which one answered each query is read from the counters.
fn basics(w: &mut World) -> Result<()> {
    heading("the fast path and the fallback");
    let v4 = format!("@{}", w.topology.server_v4);
    let v6 = format!("@{}", w.topology.server_v6);
    // (the command, whether the fast path answers it, why not)
    let queries: [(Vec<&str>, bool, &str); 6] = [
        (vec!["dig", &v4, "www.example.com", "A"], true, ""),
        (vec!["dig", &v6, "www.example.com", "AAAA"], true, ""),
        (vec!["kdig", &v4, "Api.Example.COM", "A"], true, ""),
        (
            vec!["dig", &v4, "example.com", "MX"],
            false,
            "not a fast-path type",
        ),
        (
            vec!["dig", &v4, "nope.example.com", "A"],
            false,
            "no such name",
        ),
        (
            vec!["dig", &v4, "www.example.com", "A", "+tcp"],
            false,
            "TCP",
        ),
    ];
    for (command, fast, why) in &queries {
        let before = w.answered()?;
        let text = w.client(command[0], &command[1..])?;
        let by_xdp = w.answered()? - before;
        ensure!(
            by_xdp == u64::from(*fast),
            "{}: the fast path answered {by_xdp} of 1 (expected {})",
            command.join(" "),
            u64::from(*fast)
        );
        let status = text
            .split("status: ")
            .nth(1)
            .and_then(|rest| rest.split([',', ';']).next())
            .with_context(|| format!("no status in: {text}"))?;
        // Records are the lines that are not comments (the question is one): owner, TTL,
        // class, type, data.
        let records: Vec<String> = text
            .lines()
            .filter(|line| !line.is_empty() && !line.starts_with(';'))
            .map(|line| {
                line.split_whitespace()
                    .skip(3)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let path = if *fast {
            "fast path".to_owned()
        } else {
            format!("fallback ({why})")
        };
        println!(
            "   {:<44} {path:<31} {status} {}",
            command.join(" "),
            records.join(", ")
        );
    }
    Ok(())
}

/// Stops US-East's backend, times the answer's move to EU-West with the log line that says
/// why, and brings it back.
fn failover(w: &mut World) -> Result<()> {
    heading("failover: app.example.com, US-East first, EU-West as secondary, HTTPS /health");
    let client = w.topology.client_v4;
    let name = "app.example.com";
    let now = w.addresses(client, name)?;
    ensure!(
        now == [US_EAST.to_string()],
        "{name} answers {now:?}, not US-East"
    );
    println!("   dig {name} → {} (US-East, healthy)", now.join(" "));

    println!("   stopping US-East's backend ({US_EAST}:443)");
    let logged = w.agent.stderr().len();
    w.us_east.stop();
    let took = wait_for_answer(w, client, name, EU_WEST)?;
    println!(
        "   dig {name} → {EU_WEST} (EU-West) {:.1} s after the backend stopped",
        took.as_secs_f64()
    );
    show_log_since(w, logged, &US_EAST.to_string())?;

    println!("   starting US-East's backend again");
    let logged = w.agent.stderr().len();
    w.us_east.start()?;
    let took = wait_for_answer(w, client, name, US_EAST)?;
    println!(
        "   dig {name} → {US_EAST} (US-East) again {:.1} s after it came back",
        took.as_secs_f64()
    );
    show_log_since(w, logged, &US_EAST.to_string())
}

/// Polls `name` from `source` until it answers `want` alone; how long that took.
fn wait_for_answer(w: &World, source: Ipv4Addr, name: &str, want: Ipv4Addr) -> Result<Duration> {
    let start = Instant::now();
    // Two failed checks a second apart, each up to its 500 ms timeout, then a publication.
    let limit = Duration::from_secs(15);
    loop {
        if w.addresses(source, name)? == [want.to_string()] {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            bail!(
                "{name} did not move to {want} within {limit:?}; agent log:\n{}",
                w.agent.stderr()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Prints the agent's log lines since byte `since` that mention `what`; fails if none does.
fn show_log_since(w: &World, since: usize, what: &str) -> Result<()> {
    let log = w.agent.stderr();
    let lines: Vec<&str> = log[since..]
        .lines()
        .filter(|line| line.contains(what))
        .collect();
    ensure!(
        !lines.is_empty(),
        "the agent logged nothing about {what}: {log}"
    );
    for line in lines {
        // Without the time stamp and the module: the level and the message, with its fields.
        let fields: Vec<&str> = line.split_whitespace().collect();
        let shown = match fields.as_slice() {
            [_time, level, _target, rest @ ..] => format!("{level} {}", rest.join(" ")),
            _ => line.to_owned(),
        };
        println!("   log: {shown}");
    }
    Ok(())
}

/// Each region's client gets its region's member from the fast path; an ECS query gets the
/// subnet's region, with the scope echoed.
fn geo(w: &mut World) -> Result<()> {
    heading("GeoDNS: geo.example.com by the client's region");
    let name = "geo.example.com";
    for (client, region, want) in [
        (US_CLIENT, "us-east", US_EAST),
        (EU_CLIENT, "eu-west", EU_WEST),
    ] {
        let before = w.answered()?;
        let got = w.addresses(client, name)?;
        let by_xdp = w.answered()? - before;
        ensure!(
            got == [want.to_string()] && by_xdp == 1,
            "{name} from {client} ({region}): {got:?}, fast path answered {by_xdp}"
        );
        println!("   dig -b {client} {name} → {want} ({region}, answered by the fast path)");
    }
    let subnet = "198.51.100.0/24";
    let server = format!("@{}", w.topology.server_v4);
    let text = w.client(
        "kdig",
        &[
            &server,
            &format!("+subnet={subnet}"),
            "+retry=0",
            "+timeout=2",
            name,
            "A",
        ],
    )?;
    let ecs = text
        .lines()
        .find(|line| line.contains("CLIENT-SUBNET"))
        .with_context(|| format!("no CLIENT-SUBNET in the answer: {text}"))?;
    let answer = text
        .lines()
        .find(|line| line.starts_with(&format!("{name}.")))
        .with_context(|| format!("no answer: {text}"))?;
    ensure!(
        answer.ends_with(&EU_WEST.to_string()) && ecs.contains(&format!("{subnet}/25")),
        "ECS {subnet}: {text}"
    );
    println!(
        "   kdig +subnet={subnet} {name} (from {}, in no region) → the fallback answers by the \
         subnet:",
        w.topology.client_v4
    );
    println!("   {}", ecs.trim_start_matches(';').trim());
    println!(
        "   {}",
        answer.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    Ok(())
}

/// unbound validates a signed A answer that the fast path sent.
fn dnssec(w: &mut World) -> Result<()> {
    heading("DNSSEC: unbound validates what the fast path signed");
    let before = w.answered()?;
    let resolved = w
        .unbound
        .resolve(&w.topology, &w.topology.client_ns, "www.example.com", "A");
    let by_xdp = w.answered()? - before;
    ensure!(
        resolved.status == "NOERROR" && resolved.ad,
        "unbound did not validate www.example.com A: {}\nunbound log:\n{}",
        resolved.output,
        w.unbound.log()
    );
    ensure!(
        by_xdp >= 1,
        "unbound's query for www.example.com A was not answered by the fast path"
    );
    let flags = resolved
        .output
        .lines()
        .find(|line| line.starts_with(";; flags:"))
        .unwrap_or_default();
    println!("   dig @127.0.0.1 +dnssec www.example.com A   (through unbound)");
    println!("   {}", flags.trim_start_matches(";; "));
    for record in &resolved.answer {
        let fields: Vec<&str> = record.split_whitespace().collect();
        // An RRSIG's base64 signature is long and says nothing here.
        let shown = if fields.get(3) == Some(&"RRSIG") {
            format!("{} …", fields[..fields.len().min(12)].join(" "))
        } else {
            fields.join(" ")
        };
        println!("   {shown}");
    }
    println!(
        "   ad: validated from our DS; the fast path answered {by_xdp} of unbound's queries \
         (answered_v4 +{by_xdp}), the A RRset with its RRSIG"
    );
    Ok(())
}

fn counters(w: &mut World) -> Result<()> {
    heading(&format!(
        "fast-path counters (dns-xdp stats --pin-dir {})",
        w.agent.pin_dir.display()
    ));
    let stats = Command::new(agent_binary())
        .args(["stats", "--pin-dir"])
        .arg(&w.agent.pin_dir)
        .output()?;
    ensure!(
        stats.status.success(),
        "dns-xdp stats: {}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let text = String::from_utf8_lossy(&stats.stdout);
    let (zero, counted): (Vec<&str>, Vec<&str>) = text
        .lines()
        .partition(|line| line.split_whitespace().nth(1) == Some("0"));
    for line in counted {
        println!("   {line}");
    }
    println!("   ({} more at 0)", zero.len());
    Ok(())
}

/// The commands to paste into another terminal while the demo serves.
fn try_by_hand(w: &World) {
    let t = &w.topology;
    let client = format!("ip netns exec {}", t.client_ns);
    let bin = agent_binary().display().to_string();
    let pins = w.agent.pin_dir.display();
    println!("\nserving until Ctrl-C; try, as root, in another terminal:");
    for command in [
        format!("{client} dig @{} www.example.com", t.server_v4),
        format!(
            "{client} dig @{} -b {EU_CLIENT} geo.example.com",
            t.server_v4
        ),
        format!(
            "{client} kdig @{} +subnet=203.0.113.0/24 geo.example.com",
            t.server_v4
        ),
        format!("{client} dig @127.0.0.1 +dnssec app.example.com"),
        format!("{bin} stats --watch --pin-dir {pins}"),
        format!("{bin} maps dump answers --pin-dir {pins}"),
        format!("ip netns exec {} bpftool net show", t.server_ns),
        format!("{bin} check --config {}", w.agent.config_path.display()),
    ] {
        println!("   {command}");
    }
    println!("   (keys and CA in {})", w.scratch.path().display());
}

fn block_termination_signals() -> libc::sigset_t {
    // SAFETY: plain signal-mask calls on a set this function owns.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Fails if SIGINT or SIGTERM came during the steps (blocked, they wait for us): Ctrl-C then
/// ends the demo after the step it interrupted, cleaning up, instead of after all of them.
fn interrupted(set: &libc::sigset_t) -> Result<()> {
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `set` was initialised by `block_termination_signals`; no siginfo is asked for.
    let signal = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &now) };
    if signal > 0 {
        bail!("interrupted by signal {signal}; everything the demo made is removed");
    }
    Ok(())
}

fn wait_for_signal(set: &libc::sigset_t) {
    let mut signal = 0;
    // SAFETY: `set` was initialised by `block_termination_signals`.
    unsafe { libc::sigwait(set, &mut signal) };
}
