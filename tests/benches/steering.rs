//! Publishing a health change: the time from "this target's state changed" to both paths
//! serving the new answers, for 10,000 pools that all use the one target. End to end, as the
//! agent does it (`Publisher::delta`): the policy engine recomputes every pool, the changed
//! answers are rendered, written in place into the kernel's answer map (loaded, not attached),
//! and the fallback's pool table is replaced.
//!
//! Goal (steering issue): under one second. Needs root. Run with `cargo xtask bench steering`;
//! it also writes `target/bench/steering.json`.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use dns_xdp_tests::netns::require_root;
use dns_xdp_user::{
    catalog::{pools::placeholder, Snapshot},
    config::steering::{validate, GeoConfig, PoolConfig, RegionConfig},
    config::TrafficConfig,
    daemon::publisher::{Delta, FastPathUpdate, Publication, Publisher},
    fallback::server::SharedResponder,
    fastpath::dataplane::Dataplane,
    health::{resolve_checks, CheckConfig, HealthState, Target},
    steering::traffic::Traffic,
    zone::{Name, Zone},
};
use serde::Deserialize;

const POOLS: usize = 10_000;
const FLIPS: usize = 10;
const GOAL: Duration = Duration::from_secs(1);

const ZONE: &str =
    "$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 192.0.2.53\n";

#[derive(Deserialize)]
struct Sections {
    #[serde(rename = "check")]
    checks: Vec<CheckConfig>,
    #[serde(rename = "region", default)]
    regions: Vec<RegionConfig>,
    #[serde(rename = "pool")]
    pools: Vec<PoolConfig>,
}

/// 10,000 pools of `policy`, each with the checked member 192.0.2.10 and two more.
fn config(policy: &str) -> TrafficConfig {
    let mut text = String::from(
        "[[check]]\nname = \"web\"\nprotocol = \"tcp\"\nport = 80\n\n\
         [[region]]\nname = \"eu\"\ncidrs = [\"198.51.100.0/25\"]\nfallback = [\"na\"]\n\
         [[region]]\nname = \"na\"\ncidrs = [\"198.51.100.128/25\"]\n\
         [[region]]\nname = \"asia\"\ncidrs = [\"203.0.113.0/24\"]\n",
    );
    for i in 0..POOLS {
        let (extra, member) = match policy {
            "weighted" => ("", ["weight = 1", "weight = 2", "weight = 3"]),
            "geo" => (
                "default_region = \"na\"\n",
                ["region = \"eu\"", "region = \"na\"", "region = \"asia\""],
            ),
            _ => ("", ["", "", ""]),
        };
        text.push_str(&format!(
            "[[pool]]\nname = \"p{i}.example.com.\"\ntype = \"A\"\npolicy = \"{policy}\"\n{extra}\
             [[pool.member]]\naddress = \"192.0.2.10\"\ncheck = \"web\"\n{}\n\
             [[pool.member]]\naddress = \"192.0.2.11\"\n{}\n\
             [[pool.member]]\naddress = \"192.0.2.12\"\n{}\n",
            member[0], member[1], member[2]
        ));
    }
    let sections: Sections = toml::from_str(&text).expect("bench config");
    let checks = resolve_checks(&sections.checks, &PathBuf::from(".")).expect("checks");
    let names: Vec<&str> = checks.keys().map(String::as_str).collect();
    let origin = Name::from_ascii("example.com.").unwrap();
    let steering = validate(
        &GeoConfig::default(),
        &sections.regions,
        &sections.pools,
        &[origin],
        &names,
    )
    .expect("valid pools");
    TrafficConfig { checks, steering }
}

struct Figures {
    policy: &'static str,
    entries: usize,
    times: Vec<Duration>,
}

fn measure(policy: &'static str) -> Figures {
    let config = config(policy);
    let pools = config.steering.pools.clone();
    let mut traffic = Traffic::load(config).expect("traffic");
    let target = traffic.targets().pop().expect("one target");
    let up = |t: &Target| (*t == target).then_some(HealthState::Up);
    let down = |t: &Target| (*t == target).then_some(HealthState::Down);
    traffic.recompute(up);

    let origin = Name::from_ascii("example.com.").unwrap();
    let mut snapshot = Snapshot::unsigned([Zone::parse(&origin, ZONE, "bench").unwrap()]);
    for pool in &pools {
        snapshot.insert_placeholder(placeholder(pool));
    }
    let publication = Publication::render(snapshot, &traffic, 1232);
    let capacity = u32::try_from(publication.answers() * 2).unwrap();
    let dataplane = Dataplane::load(capacity, 1232, None).expect("load the program");
    let responder = SharedResponder::new(publication.responder());
    let mut publisher = Publisher::new(Some(dataplane), responder);
    publisher.full(publication).expect("publish");

    let mut times = Vec::new();
    for flip in 0..FLIPS {
        let started = Instant::now();
        let lines = if flip % 2 == 0 {
            traffic.recompute(down)
        } else {
            traffic.recompute(up)
        };
        let update = publisher.delta(Delta::Pools(&traffic));
        let took = started.elapsed();
        assert!(lines.len() >= POOLS, "{} lines", lines.len());
        assert!(
            matches!(update, FastPathUpdate::Done(_)),
            "in-place update: {update:?}"
        );
        times.push(took);
    }
    Figures {
        policy,
        entries: publisher.kernel().pools().count(),
        times,
    }
}

fn main() {
    if !require_root("steering publish benchmark") {
        return;
    }
    let mut rows = Vec::new();
    println!("publishing one health change that changes all {POOLS} pools (goal: under {GOAL:?})");
    println!(
        "{:<10} {:>12} {:>10} {:>10} {:>6}",
        "policy", "map entries", "median", "max", "goal"
    );
    for policy in ["failover", "weighted", "geo"] {
        let mut f = measure(policy);
        f.times.sort();
        let median = f.times[f.times.len() / 2];
        let max = *f.times.last().unwrap();
        let met = if max < GOAL { "met" } else { "NOT met" };
        println!(
            "{:<10} {:>12} {:>8.0}ms {:>8.0}ms {:>6}",
            f.policy,
            f.entries,
            median.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3,
            met
        );
        rows.push(serde_json::json!({
            "policy": f.policy,
            "pools": POOLS,
            "map_entries": f.entries,
            "median_ms": median.as_secs_f64() * 1e3,
            "max_ms": max.as_secs_f64() * 1e3,
            "goal_ms": GOAL.as_secs_f64() * 1e3,
            "met": max < GOAL,
        }));
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("steering.json"),
        serde_json::to_string_pretty(&rows).unwrap(),
    )
    .unwrap();
}
