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
    let addresses = json["dns_addresses"].as_array().expect("addresses");
    assert_eq!(
        addresses.len(),
        2,
        "the two listen addresses, not the whole host: {json}"
    );
    assert!(addresses.contains(&"192.0.2.1".into()), "{json}");
    assert!(addresses.contains(&"2001:db8::1".into()), "{json}");
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
        "dns_addresses: the fast path answers queries to 2 address(es)",
        "dns_counters: summed over CPUs",
        "dns_answers: ",
    ] {
        assert!(all.contains(header), "{header:?} in:\n{all}");
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
