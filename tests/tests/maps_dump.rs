//! `dns-xdp maps dump` against a running agent: its pinned maps read back as DNS, in text and
//! JSON, matching the zone it serves and the queries it answered.
//!
//! Needs root (BPF, network namespaces) and dig (`cargo xtask setup` installs it).

use std::{path::Path, process::Command};

use dns_xdp_tests::{
    agent::{agent_binary, Agent},
    netns::{require_root, Topology},
};

fn maps_dump(pin_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(agent_binary())
        .args(["maps", "dump", "--pin-dir"])
        .arg(pin_dir)
        .args(args)
        .output()
        .expect("run dns-xdp maps dump");
    assert!(
        output.status.success(),
        "dns-xdp maps dump {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn maps_dump_shows_the_served_answers_as_dns() {
    if !require_root("maps_dump_shows_the_served_answers_as_dns") {
        return;
    }
    let topology = Topology::create("dump").expect("topology");
    let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone");
    let agent = Agent::start(&topology, &zone, "native").expect("agent starts");
    let server = topology.server_v4.to_string();
    assert_eq!(
        topology.dig(&server, &["+short", "www.example.com", "A"]),
        ["192.0.2.10".to_string()].into()
    );

    let json: serde_json::Value =
        serde_json::from_str(&maps_dump(&agent.pin_dir, &["--json"])).expect("JSON");
    assert_eq!(json["dns_publish"]["generation"], 1, "{json}");
    assert_eq!(json["dns_publish"]["edns_payload"], 1232, "{json}");
    let addresses = &json["dns_addresses"];
    assert_eq!(
        addresses["served"],
        serde_json::json!(["192.0.2.1", "2001:db8::1"]),
        "the two listen addresses, not the whole host: {json}"
    );
    // The server's subnets, 192.0.2.0/24 and lo's 127.0.0.0/8: their network and broadcast
    // addresses are never a query's source.
    assert_eq!(
        addresses["never_source"],
        serde_json::json!(["127.0.0.0", "127.255.255.255", "192.0.2.0", "192.0.2.255"]),
        "{json}"
    );
    assert_eq!(addresses["problems"], serde_json::json!([]), "{json}");
    assert_eq!(json["dns_counters"]["answered_v4"], 1, "{json}");

    let entries = json["dns_answers"]["entries"].as_array().expect("entries");
    let find = |name: &str, qtype: &str| {
        entries
            .iter()
            .find(|e| e["name"] == name && e["type"] == qtype)
            .unwrap_or_else(|| panic!("no {name} {qtype} in {json}"))
    };
    let www = find("www.example.com.", "A");
    assert_eq!(www["records"], serde_json::json!(["192.0.2.10"]));
    assert_eq!(www["ttl"], 120);
    assert_eq!(www["view"], 0);
    assert_eq!(www["generation"], 1);
    assert_eq!(www["live"], true);
    let v6 = find("v6.example.com.", "AAAA");
    assert_eq!(
        v6["records"],
        serde_json::json!(["2001:db8::1", "2001:db8::2", "2001:db8::3", "2001:db8::4"])
    );
    for entry in entries {
        assert_eq!(entry["problems"], serde_json::json!([]), "sound: {entry}");
        assert_eq!(entry["live"], true, "one generation after start: {entry}");
    }

    // Text, one map chosen by its short name.
    let text = maps_dump(&agent.pin_dir, &["answers"]);
    assert!(
        text.starts_with(&format!(
            "dns_answers: {n} entries ({n} live, 0 stale)",
            n = entries.len()
        )),
        "{text}"
    );
    let www_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("www.example.com."))
        .unwrap_or_else(|| panic!("www in:\n{text}"));
    for part in ["A", "view 0", "gen 1 live", "ttl 120", "192.0.2.10"] {
        assert!(www_line.contains(part), "{part:?} in {www_line:?}");
    }
    let all = maps_dump(&agent.pin_dir, &[]);
    for header in [
        "dns_publish: live generation 1, EDNS payload 1232",
        "dns_addresses: the fast path answers queries to 2 address(es), and none from them or \
         from 4 other(s)",
        "dns_counters: summed over CPUs",
        "dns_answers: ",
    ] {
        assert!(all.contains(header), "{header:?} in:\n{all}");
    }

    for (addr, kind) in [("192.0.2.1", "served"), ("192.0.2.255", "never a source")] {
        assert!(
            all.lines()
                .any(|l| l.trim_start().starts_with(addr) && l.ends_with(kind)),
            "{addr} {kind} in:\n{all}"
        );
    }

    let unknown = Command::new(agent_binary())
        .args(["maps", "dump", "nosuch", "--pin-dir"])
        .arg(&agent.pin_dir)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("dns_answers"), "lists the maps: {stderr}");
}

#[test]
fn stats_watch_refreshes_with_rates() {
    if !require_root("stats_watch_refreshes_with_rates") {
        return;
    }
    let topology = Topology::create("watch").expect("topology");
    let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone");
    let agent = Agent::start(&topology, &zone, "native").expect("agent starts");
    let mut watch = Command::new(agent_binary())
        .args(["stats", "--watch", "--interval", "200ms", "--pin-dir"])
        .arg(&agent.pin_dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("dns-xdp stats --watch");
    let server = topology.server_v4.to_string();
    for _ in 0..3 {
        topology.dig(&server, &["+short", "www.example.com", "A"]);
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    watch.kill().unwrap();
    let output = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    let frames: Vec<&str> = text
        .split("dns-xdp stats: ")
        .filter(|f| !f.trim().is_empty())
        .collect();
    assert!(frames.len() >= 3, "refreshed every 200 ms:\n{text}");
    let answered = |frame: &str| -> Vec<String> {
        frame
            .lines()
            .find(|l| l.starts_with("answered_v4"))
            .unwrap_or_else(|| panic!("answered_v4 in:\n{frame}"))
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect()
    };
    assert_eq!(answered(frames[0])[1], "-", "no rate in the first frame");
    let last = answered(frames[frames.len() - 1]);
    assert_eq!(last[0], "3", "{text}");
    assert!(last[1].parse::<f64>().is_ok(), "a rate: {last:?}");
}

#[test]
fn maps_dump_shows_client_views_and_variants() {
    if !require_root("maps_dump_shows_client_views_and_variants") {
        return;
    }
    let topology = Topology::create("dumpviews").expect("topology");
    let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone");
    let config = format!(
        "[server]\ninterface = \"{interface}\"\nxdp_mode = \"native\"\n\
         listen = [\"{v4}:53\"]\n\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"{zone}\"\n\n\
         [[region]]\nname = \"eu\"\ncidrs = [\"198.51.100.0/25\", \"2001:db8:100::/48\"]\n\n\
         [[region]]\nname = \"na\"\ncidrs = [\"198.51.100.128/25\"]\n\n\
         [[pool]]\nname = \"geo.example.com.\"\ntype = \"A\"\npolicy = \"geo\"\n\
         default_region = \"na\"\n\
         [[pool.member]]\naddress = \"192.0.2.31\"\nregion = \"eu\"\n\
         [[pool.member]]\naddress = \"192.0.2.32\"\nregion = \"na\"\n\n\
         [[pool]]\nname = \"lb.example.com.\"\ntype = \"A\"\npolicy = \"weighted\"\n\
         [[pool.member]]\naddress = \"192.0.2.41\"\nweight = 1\n\
         [[pool.member]]\naddress = \"192.0.2.42\"\nweight = 1\n",
        interface = topology.server_if,
        v4 = topology.server_v4,
        zone = zone.display(),
    );
    let agent = Agent::start_with_config(&topology, &config).expect("agent starts");

    let json: serde_json::Value =
        serde_json::from_str(&maps_dump(&agent.pin_dir, &["--json", "views"])).expect("JSON");
    let prefixes: Vec<(String, u64)> = json["dns_views"]["prefixes"]
        .as_array()
        .expect("prefixes")
        .iter()
        .map(|p| {
            assert_eq!(p["problems"], serde_json::json!([]), "{p}");
            (
                p["prefix"].as_str().unwrap().to_string(),
                p["view"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        prefixes,
        [
            ("198.51.100.0/25".to_string(), 1),
            ("198.51.100.128/25".to_string(), 2),
            ("2001:db8:100::/48".to_string(), 1),
        ],
        "{json}"
    );
    let text = maps_dump(&agent.pin_dir, &["dns_views"]);
    assert!(
        text.starts_with(
            "dns_views (live trie dns_views_1): 3 client prefix(es); view 1: 2, view 2: 1\n"
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("198.51.100.128/25") && l.ends_with("view 2")),
        "{text}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&maps_dump(&agent.pin_dir, &["--json", "answers"])).expect("JSON");
    let entries = json["dns_answers"]["entries"].as_array().expect("entries");
    // Of the A entries.
    let layout = |name: &str| -> Vec<(u64, u64, u64, bool)> {
        entries
            .iter()
            .filter(|e| e["name"] == name && e["type"] == "A")
            .map(|e| {
                assert_eq!(e["problems"], serde_json::json!([]), "{e}");
                (
                    e["view"].as_u64().unwrap(),
                    e["variant"].as_u64().unwrap(),
                    e["variants"].as_u64().unwrap(),
                    e["per_view"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    // The geo pool: view 0 (the default region, na), eu and na; one variant each.
    assert_eq!(
        layout("geo.example.com."),
        [(0, 0, 1, true), (1, 0, 1, true), (2, 0, 1, true)]
    );
    // Weighted 1:1: two variants of view 0, one address each.
    let lb = layout("lb.example.com.");
    assert!(
        lb.len() >= 2
            && lb
                .iter()
                .all(|&(view, _, n, per_view)| view == 0 && n as usize == lb.len() && !per_view),
        "{lb:?}"
    );
    assert_eq!(layout("www.example.com."), [(0, 0, 1, false)]);

    let text = maps_dump(&agent.pin_dir, &["answers"]);
    let geo_eu = text
        .lines()
        .find(|l| l.trim_start().starts_with("geo.example.com.") && l.contains("view 1 "))
        .unwrap_or_else(|| panic!("geo view 1 in:\n{text}"));
    for part in ["variant 0/1", "per-view", "192.0.2.31"] {
        assert!(geo_eu.contains(part), "{part:?} in {geo_eu:?}");
    }
}
