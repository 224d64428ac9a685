//! `dns-xdp status` against a running agent: a failover pool of two real HTTP backends in the
//! client namespace, XDP native on the server's veth end. With both up nothing is wrong
//! (exit 0); with the primary stopped the screen puts the down member at the top, shows the
//! answer chosen and the zone's serial, and exits 1; `--json` carries the same facts, and the
//! fast path's answers over the last minute are the pinned counters'. With the agent stopped,
//! exit 2.
//!
//! Needs root (BPF, network namespaces) and dig.

use std::{
    net::SocketAddr,
    process::Output,
    thread,
    time::{Duration, Instant},
};

use dns_xdp_tests::{
    agent::{agent_binary, Agent},
    backend::Backend,
    netns::{require_root, Topology},
    scratch::ScratchDir,
};

const SERIAL: u32 = 2026120401;
const PRIMARY: &str = "192.0.2.10";
const SECONDARY: &str = "192.0.2.11";

fn zone() -> String {
    format!(
        "$ORIGIN example.com.\n$TTL 300\n\
         @    IN SOA ns1 hostmaster {SERIAL} 3600 600 86400 60\n\
         @    IN NS  ns1\n\
         ns1  IN A   192.0.2.53\n\
         www  IN A   192.0.2.80\n"
    )
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn json(agent: &Agent) -> (i32, serde_json::Value) {
    let output = agent.status(&["--json"]).unwrap();
    let value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!("status --json is not JSON ({e}): {}", text(&output));
    });
    (code(&output), value)
}

#[test]
fn status_shows_a_down_member_the_answer_the_serial_and_exits_by_it() {
    if !require_root("status_shows_a_down_member_the_answer_the_serial_and_exits_by_it") {
        return;
    }
    let topology = Topology::create("status").expect("topology");
    for addr in [PRIMARY, SECONDARY] {
        topology.add_client_address(addr.parse().unwrap()).unwrap();
    }
    let scratch = ScratchDir::new("status");
    let mut primary = Backend::http(
        Some(&topology.client_ns),
        SocketAddr::new(PRIMARY.parse().unwrap(), 80),
    )
    .unwrap();
    let _secondary = Backend::http(
        Some(&topology.client_ns),
        SocketAddr::new(SECONDARY.parse().unwrap(), 80),
    )
    .unwrap();
    let zone_file = scratch.path().join("example.com.zone");
    std::fs::write(&zone_file, zone()).unwrap();
    // A second zone, signed, for the signing state and the signatures' renewal.
    let signed_file = scratch.path().join("example.org.zone");
    std::fs::write(
        &signed_file,
        "$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns1 hostmaster 9 3600 600 86400 60\n\
         @ IN NS ns1\nns1 IN A 192.0.2.54\n",
    )
    .unwrap();
    let key_dir = scratch.path().join("keys");
    let generated = std::process::Command::new(agent_binary())
        .args(["keys", "generate", "--zone", "example.org.", "--dir"])
        .arg(&key_dir)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let config = format!(
        "[server]\ninterface = \"{}\"\nxdp_mode = \"native\"\nlisten = [\"{}:53\"]\n\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n\n\
         [[zone]]\norigin = \"example.org.\"\nfile = \"{}\"\nkey_dir = \"{}\"\n\n\
         [[check]]\nname = \"web\"\nprotocol = \"http\"\nport = 80\npath = \"/health\"\n\
         interval = \"1s\"\ntimeout = \"400ms\"\nfall = 2\nrise = 2\n\n\
         [[pool]]\nname = \"app.example.com.\"\ntype = \"A\"\npolicy = \"failover\"\n\
         check = \"web\"\n  [[pool.member]]\n  address = \"{PRIMARY}\"\n\
         \x20 [[pool.member]]\n  address = \"{SECONDARY}\"\n",
        topology.server_if,
        topology.server_v4,
        zone_file.display(),
        signed_file.display(),
        key_dir.display(),
    );
    let mut agent = Agent::start_with_config(&topology, &config).expect("agent starts");
    let server = topology.server_v4.to_string();
    let dig = |name: &str, tcp: bool| {
        let mut args = vec!["+short", name, "A"];
        if tcp {
            args.push("+tcp");
        }
        topology.dig(&server, &args)
    };

    // Both up: nothing wrong.
    assert_eq!(dig("app.example.com", false), [PRIMARY.to_string()].into());
    let healthy = agent.status(&[]).unwrap();
    let screen = text(&healthy);
    assert_eq!(code(&healthy), 0, "{screen}{}", agent.stderr());
    assert!(
        screen.starts_with("dns-xdp status: nothing wrong\n"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("    answers  {PRIMARY}\n")),
        "{screen}"
    );

    // The primary's backend stops: after two failed checks the pool answers the secondary.
    primary.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while dig("app.example.com", false) != [SECONDARY.to_string()].into() {
        assert!(
            Instant::now() < deadline,
            "no failover to {SECONDARY}: {}",
            agent.stderr()
        );
        thread::sleep(Duration::from_millis(200));
    }
    // Answers from both paths, for the last minute's counts.
    for _ in 0..5 {
        assert_eq!(
            dig("www.example.com", false),
            ["192.0.2.80".to_string()].into()
        );
    }
    assert_eq!(
        dig("www.example.com", true),
        ["192.0.2.80".to_string()].into()
    );

    let down = agent.status(&[]).unwrap();
    let screen = text(&down);
    eprintln!("dns-xdp status with the primary down:\n{screen}");
    assert_eq!(code(&down), 1, "something is wrong: exit 1\n{screen}");
    let lines: Vec<&str> = screen.lines().collect();
    assert_eq!(lines[0], "dns-xdp status: 1 problem", "{screen}");
    assert!(
        lines[1].starts_with(&format!(
            "! check target {PRIMARY}:80 is down (check web: connect refused"
        )) && lines[1].ends_with("app.example.com. A answers without it"),
        "the problem is on top, in plain words:\n{screen}"
    );
    for want in [
        format!(
            "fast path    XDP native on {}, generation",
            topology.server_if
        ),
        format!(
            "  example.com.  serial {SERIAL}  file {}  unsigned",
            zone_file.display()
        ),
        format!(
            "  example.org.  serial 9           file {}  signed ECDSAP256SHA256: KSK ",
            signed_file.display()
        ),
        // Signatures made now are renewed when a quarter of the 7 days' validity is left.
        "signatures   fast path's renewal due in 5d ".to_string(),
        "  app.example.com. A  failover, ttl 60".to_string(),
        format!("    answers  {SECONDARY}"),
        format!("    {PRIMARY}  DOWN  check web port 80, connect refused"),
        format!("    {SECONDARY}  up    check web port 80, HTTP 200"),
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(&want)),
            "{want:?} in\n{screen}"
        );
    }

    // The same facts as JSON, and the fast path's share read from the agent's counters.
    let (exit, report) = json(&agent);
    let answered = {
        let stats = agent.stats().unwrap();
        stats["answered_v4"].as_u64().unwrap() + stats["answered_v6"].as_u64().unwrap()
    };
    assert_eq!(exit, 1, "{report}");
    assert_eq!(report["running"], true);
    assert_eq!(report["problems"][0]["rule"], "target-down", "{report}");
    assert_eq!(report["problems"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["zones"][0]["origin"], "example.com.");
    assert_eq!(report["zones"][0]["serial"], SERIAL);
    assert_eq!(report["zones"][0]["source"]["kind"], "file");
    let signing = &report["zones"][1]["signing"];
    assert_eq!(signing["algorithm"], "ECDSAP256SHA256", "{report}");
    assert_eq!(signing["keys"].as_array().unwrap().len(), 2, "{report}");
    assert!(report["zones"][0]["signing"].is_null(), "{report}");
    let now = report["now"].as_u64().unwrap();
    let renew_at = report["signatures"]["renew_at"].as_u64().unwrap();
    assert!(
        renew_at > now + 5 * 86400 && renew_at <= now + 126 * 3600,
        "{report}"
    );
    assert_eq!(report["fast_path"]["mode"], "native");
    assert_eq!(
        report["fast_path"]["interface"],
        topology.server_if.as_str()
    );
    let pool = &report["pools"][0];
    assert_eq!(pool["name"], "app.example.com.");
    assert_eq!(pool["members"][0]["address"], PRIMARY);
    assert_eq!(pool["members"][0]["health"], "down");
    assert_eq!(pool["members"][0]["reason"], "connect refused");
    assert_eq!(pool["members"][1]["health"], "up");
    assert_eq!(
        pool["answers"][0]["variants"],
        serde_json::json!([[SECONDARY]])
    );
    let window = &report["last_minute"];
    assert_eq!(window["fast_path_answers"], answered, "{report}");
    assert!(
        window["fallback_answers"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert_eq!(
        report["agent"]["config"],
        agent.config_path.to_str().unwrap()
    );

    // Stopped: no agent answers.
    agent.stop().unwrap();
    let gone = agent.status(&[]).unwrap();
    assert_eq!(code(&gone), 2, "{}", text(&gone));
    assert!(
        text(&gone).contains("no agent is running"),
        "{}",
        text(&gone)
    );
    let (exit, report) = json(&agent);
    assert_eq!(exit, 2);
    assert_eq!(report["running"], false);
    assert_eq!(report["problems"][0]["rule"], "not-running");
}
