//! `dns-xdp check` as operators run it: the binary on config and zone files, its exit codes
//! (0 clean, 1 findings, 2 a config or zone that does not load), its text and its JSON. No root
//! needed.

use std::process::Output;

use dns_xdp_tests::{agent::agent_binary, scratch::ScratchDir};

/// Name servers of two providers and a health-checked pool with a short TTL: nothing to find
/// but the zone being unsigned (which `clean_config_exits_0` fixes).
const GOOD_ZONE: &str = "\
$TTL 300
@       IN SOA  ns1 hostmaster 1 3600 600 86400 60
@       IN NS   ns1
@       IN NS   ns1.example.net.
ns1     IN A    192.0.2.53
www     IN A    192.0.2.80
";

const GOOD_CONFIG: &str = "\
[server]
xdp_mode = \"off\"

[[zone]]
origin = \"example.com.\"
file = \"example.com.zone\"

[[check]]
name = \"web\"
protocol = \"https\"

[[pool]]
name = \"app.example.com.\"
type = \"A\"
policy = \"failover\"
check = \"web\"
  [[pool.member]]
  address = \"192.0.2.10\"
  [[pool.member]]
  address = \"192.0.2.11\"
";

/// Runs `dns-xdp check --config <dir>/dns-xdp.toml args` on these files.
fn check(tag: &str, config: &str, zone: &str, args: &[&str]) -> Output {
    let scratch = ScratchDir::new(&format!("check-{tag}"));
    let config_path = scratch.path().join("dns-xdp.toml");
    std::fs::write(&config_path, config).unwrap();
    std::fs::write(scratch.path().join("example.com.zone"), zone).unwrap();
    std::process::Command::new(agent_binary())
        .arg("check")
        .arg("--config")
        .arg(&config_path)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn clean_config_exits_0() {
    // Signed with keys made as an operator makes them; the key directory sits beside the config.
    let scratch = ScratchDir::new("check-keys");
    let keys = scratch.path().join("keys");
    let generated = std::process::Command::new(agent_binary())
        .args(["keys", "generate", "--zone", "example.com.", "--dir"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", stderr(&generated));
    let signed = GOOD_CONFIG.replace(
        "file = \"example.com.zone\"\n",
        &format!(
            "file = \"example.com.zone\"\nkey_dir = \"{}\"\n",
            keys.display()
        ),
    );
    let output = check("clean", &signed, GOOD_ZONE, &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).ends_with(": no findings\n"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn findings_exit_1_with_one_block_each() {
    let config = GOOD_CONFIG
        .replace("check = \"web\"\n", "ttl = 3600\n")
        .replace("[server]\n", "[migration]\nactive = true\n\n[server]\n");
    let zone = GOOD_ZONE
        .replace("@       IN NS   ns1.example.net.\n", "")
        .replace("www     IN A", "www 86400 IN A");
    let output = check("findings", &config, &zone, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    for header in [
        "[single-provider] zone example.com.\n",
        "[dnssec-off] zone example.com.\n",
        "[migration-ttl] zone example.com.\n",
        "[no-health-check] [[pool]] app.example.com. A\n",
        "[high-ttl] [[pool]] app.example.com. A\n",
    ] {
        assert!(text.contains(header), "no {header:?} in\n{text}");
    }
    // Each block says what, why, how to fix, and where that comes from.
    assert_eq!(text.matches("\n  why: ").count(), 5, "{text}");
    assert_eq!(text.matches("\n  fix: ").count(), 5, "{text}");
    assert_eq!(text.matches("\n  see: ").count(), 5, "{text}");
    assert!(text.contains("5 finding(s)"), "{text}");

    let output = check("findings-json", &config, &zone, &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let rules: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "single-provider",
            "dnssec-off",
            "migration-ttl",
            "no-health-check",
            "high-ttl"
        ]
    );
    for key in ["subject", "what", "why", "fix", "reference"] {
        assert!(json["findings"][0][key].is_string(), "{key}: {json}");
    }

    // Allowing every rule found leaves nothing.
    let allow: Vec<&str> = rules.iter().flat_map(|r| ["--allow", r]).collect();
    let output = check("findings-allowed", &config, &zone, &allow);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn a_cname_at_the_apex_exits_1_and_suggests_an_alias() {
    let zone = format!("{GOOD_ZONE}@ IN CNAME lb.example.net.\n");
    let output = check("apex", GOOD_CONFIG, &zone, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.starts_with("[apex-cname] zone example.com.\n"),
        "{text}"
    );
    assert!(text.contains("[[alias]]"), "{text}");
}

#[test]
fn config_and_zone_errors_exit_2_with_the_error() {
    let output = check(
        "bad-config",
        &GOOD_CONFIG.replace("policy = \"failover\"", "policy = \"roundrobin\""),
        GOOD_ZONE,
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("roundrobin") && stdout(&output).is_empty(),
        "{}",
        stderr(&output)
    );

    let output = check(
        "bad-zone",
        GOOD_CONFIG,
        &format!("{GOOD_ZONE}www IN AAAA 192.0.2.1\n"),
        &["--json"],
    );
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("loading zone example.com.") && error.contains("example.com.zone:7"),
        "{error}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(json["error"].as_str().unwrap().contains("AAAA"), "{json}");

    // What a start refuses across config and zones: the pool's name already has A records.
    let output = check(
        "conflict",
        GOOD_CONFIG,
        &format!("{GOOD_ZONE}app IN A 192.0.2.1\n"),
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("already has A records"),
        "{}",
        stderr(&output)
    );

    let output = std::process::Command::new(agent_binary())
        .args(["check", "--config", "/nonexistent/dns-xdp.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("cannot read config file"));
}
