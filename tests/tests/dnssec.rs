//! DNSSEC end to end, judged by real validators: `dns-xdp run` serves a signed zone
//! (example.com.), a signed child with a DS in its parent (secure.example.com.) and an
//! unsigned child (insecure.example.com.) in the server namespace, with XDP attached; in the
//! client namespace `unbound` (Debian's) validates with example.com.'s DS as its only trust
//! anchor and a stub zone pointing at dns-xdp, and BIND's `delv` validates by itself from the
//! same anchor, asking dns-xdp directly.
//!
//! - Every kind of answer validates (AD=1, "fully validated"): positive A and AAAA, a CNAME,
//!   a wildcard, a nonexistent name (compact denial: NOERROR and an NSEC, RFC 9824), NODATA,
//!   DNSKEY, the secure child through its DS; the unsigned child is proven insecure (no AD,
//!   not SERVFAIL). The fast-path counters show that XDP answers the positive A query, RRSIG
//!   included (DO=1).
//! - `DNS_XDP_TEST_CORRUPT_RRSIG` breaks one name's signatures, the fast path's copy too: that
//!   name is SERVFAIL.
//! - A ZSK rollover (`dns-xdp keys roll-zsk`, a reload after each step) never stops
//!   validation. unbound keeps running with its cache through the whole rollover (no flush, no
//!   restart): TTLs are 2 s, each step is checked at once (while caches still hold the
//!   previous DNSKEY RRset and signatures, where a wrong order would fail) and for the
//!   step's waiting time after it. The fast path answers delv's DO=1 queries with the
//!   signatures of the key that signs after each step.
//! - A failover pool in the signed zone: its answer validates before and after the primary's
//!   backend stops and the answer moves to the secondary (signed as published).
//! - A signed zone without keys stops the agent with an error naming the zone, the directory
//!   and the command that makes keys.
//!
//! Needs root (BPF, network namespaces), unbound and delv (`cargo xtask setup` installs them).

use std::{
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use dns_xdp_tests::{
    agent::{agent_binary, Agent},
    backend::Backend,
    netns::{require_root, Topology},
    scratch::ScratchDir,
    unbound::{delv, Resolved, Unbound},
};

/// The name whose signatures the test hook breaks.
const BROKEN: &str = "broken.example.com.";

/// Runs the dns-xdp binary; its stdout, or a panic with its stderr.
fn dns_xdp(args: &[&str]) -> String {
    let output = Command::new(agent_binary()).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "dns-xdp {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `dns-xdp keys ds` output → the DS line for `zone`: (tag, algorithm, digest type, digest).
fn ds_of(key_dir: &Path, zone: &str) -> (u16, u8, u8, String) {
    let out = dns_xdp(&[
        "keys",
        "ds",
        "--zone",
        zone,
        "--dir",
        &key_dir.display().to_string(),
    ]);
    let line = out
        .lines()
        .find(|line| line.contains(" IN DS "))
        .unwrap_or_else(|| panic!("no DS in {out}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    (
        fields[3].parse().unwrap(),
        fields[4].parse().unwrap(),
        fields[5].parse().unwrap(),
        fields[6].to_string(),
    )
}

fn parent_zone(ttl: u32, child_ds: &(u16, u8, u8, String)) -> String {
    let (tag, alg, digest_type, digest) = child_ds;
    // The zone parser takes DS in RFC 3597 form.
    let ds = format!(
        "\\# {} {tag:04X}{alg:02X}{digest_type:02X}{digest}",
        4 + digest.len() / 2
    );
    format!(
        "$TTL {ttl}\n\
         @         SOA   ns1 hostmaster 1 7200 900 1209600 {ttl}\n\
         @         NS    ns1\n\
         ns1       A     192.0.2.1\n\
         www       A     192.0.2.10\n\
         www       AAAA  2001:db8::10\n\
         alias     CNAME www\n\
         *.wild    A     192.0.2.7\n\
         broken    A     192.0.2.66\n\
         secure    NS    ns1\n\
         secure    DS    {ds}\n\
         insecure  NS    ns1\n"
    )
}

fn child_zone(ttl: u32, address: &str) -> String {
    format!(
        "$TTL {ttl}\n\
         @    SOA  ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 {ttl}\n\
         @    NS   ns1.example.com.\n\
         www  A    {address}\n"
    )
}

/// dns-xdp serving the three zones with XDP on, and unbound validating in the client
/// namespace. Fields drop in order: the processes stop before their files and namespaces go.
struct World {
    unbound: Unbound,
    agent: Agent,
    key_dir: PathBuf,
    /// delv's `trust-anchors { … };` file.
    anchors: PathBuf,
    /// Zone files and keys, removed on drop.
    _scratch: ScratchDir,
    topology: Topology,
}

impl World {
    /// `extra` is appended to the agent's config (pools and their checks).
    fn new(tag: &str, ttl: u32, env: &[(&str, &str)], extra: &str) -> World {
        let topology = Topology::create(tag).expect("topology");
        let scratch = ScratchDir::new(&format!("dnssec-{tag}"));
        let dir = scratch.path();
        let key_dir = dir.join("keys");
        let keys = key_dir.display().to_string();
        for zone in ["example.com.", "secure.example.com."] {
            dns_xdp(&["keys", "generate", "--zone", zone, "--dir", &keys]);
        }
        let parent_ds = ds_of(&key_dir, "example.com.");
        let child_ds = ds_of(&key_dir, "secure.example.com.");
        std::fs::write(dir.join("example.com.zone"), parent_zone(ttl, &child_ds)).unwrap();
        std::fs::write(dir.join("secure.zone"), child_zone(ttl, "192.0.2.20")).unwrap();
        std::fs::write(dir.join("insecure.zone"), child_zone(ttl, "192.0.2.30")).unwrap();
        let (tag_, alg, digest_type, digest) = &parent_ds;
        let anchors = dir.join("anchors.conf");
        std::fs::write(
            &anchors,
            format!(
                "trust-anchors {{\n  example.com. static-ds {tag_} {alg} {digest_type} \
                 \"{digest}\";\n}};\n"
            ),
        )
        .unwrap();

        let config = format!(
            "[server]\ninterface = \"{}\"\nxdp_mode = \"native\"\n\
             listen = [\"{}:53\", \"[{}]:53\"]\n\n\
             [dnssec]\nkey_dir = \"{keys}\"\ndnskey_ttl = {ttl}\n\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\ndnssec = true\n\n\
             [[zone]]\norigin = \"secure.example.com.\"\nfile = \"{}\"\ndnssec = true\n\n\
             [[zone]]\norigin = \"insecure.example.com.\"\nfile = \"{}\"\n\n{extra}",
            topology.server_if,
            topology.server_v4,
            topology.server_v6,
            dir.join("example.com.zone").display(),
            dir.join("secure.zone").display(),
            dir.join("insecure.zone").display(),
        );
        let agent = Agent::start_with_env(&topology, &config, env).expect("agent starts");
        let anchor = format!("example.com. DS {tag_} {alg} {digest_type} {digest}");
        let unbound =
            Unbound::start_in_client(&topology, anchor, "example.com.").expect("unbound starts");
        World {
            unbound,
            agent,
            key_dir,
            anchors,
            _scratch: scratch,
            topology,
        }
    }

    fn resolve(&self, name: &str, qtype: &str) -> Resolved {
        self.unbound
            .resolve(&self.topology, &self.topology.client_ns, name, qtype)
    }

    /// Resolves through unbound and requires NOERROR with AD=1.
    fn validated(&self, name: &str, qtype: &str, when: &str) -> Resolved {
        let r = self.resolve(name, qtype);
        assert!(
            r.status == "NOERROR" && r.ad,
            "{when}: unbound did not validate {name} {qtype}: {}\nunbound log:\n{}\nagent:\n{}",
            r.output,
            self.unbound.log(),
            self.agent.stderr()
        );
        r
    }

    /// Asks delv (no cache, its own validation) through dns-xdp directly.
    fn delv_validated(&self, name: &str, qtype: &str, when: &str) -> String {
        let d = self.delv(name, qtype);
        assert!(
            d.validated,
            "{when}: delv did not validate {name} {qtype}:\n{}",
            d.output
        );
        d.output
    }

    fn delv(&self, name: &str, qtype: &str) -> dns_xdp_tests::unbound::Delv {
        delv(
            &self.topology,
            &self.topology.client_ns,
            self.topology.server_v4.into(),
            &self.anchors,
            "example.com",
            name,
            qtype,
        )
    }

    fn counter(&self, name: &str) -> u64 {
        let stats = self.agent.stats().expect("stats");
        stats[name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name} in {stats}"))
    }

    fn roll(&self, step: &str) -> String {
        dns_xdp(&[
            "keys",
            "roll-zsk",
            "--zone",
            "example.com.",
            "--dir",
            &self.key_dir.display().to_string(),
            "--step",
            step,
        ])
    }
}

fn has(r: &Resolved, needle: &str) -> bool {
    r.answer.iter().any(|line| line.contains(needle))
}

#[test]
fn unbound_and_delv_validate_every_kind_of_answer() {
    if !require_root("unbound_and_delv_validate_every_kind_of_answer") {
        return;
    }
    let w = World::new("dnssec", 300, &[("DNS_XDP_TEST_CORRUPT_RRSIG", BROKEN)], "");

    // The key RRset first, so the counters below see the A query alone.
    let dnskey = w.validated("example.com.", "DNSKEY", "DNSKEY");
    assert_eq!(
        dnskey
            .answer
            .iter()
            .filter(|l| l.contains("\tDNSKEY\t"))
            .count(),
        2,
        "{}",
        dnskey.output
    );
    let (xdp_before, passed_before) = (w.counter("answered_v4"), w.counter("pass_edns"));
    let unsigned_before = w.counter("pass_unsigned");
    let a = w.validated("www.example.com.", "A", "positive A");
    assert!(
        has(&a, "192.0.2.10") && has(&a, "RRSIG\tA 13 3 300"),
        "{}",
        a.output
    );
    let (xdp, passed) = (
        w.counter("answered_v4") - xdp_before,
        w.counter("pass_edns") + w.counter("pass_unsigned") - passed_before - unsigned_before,
    );
    // unbound asks with DO=1: the fast path answers with the RRSIG the agent published.
    println!("unbound's DO=1 query for www A: {xdp} answered by XDP, {passed} passed up");
    assert!(
        xdp >= 1,
        "the fast path did not answer unbound's DO=1 query"
    );
    assert_eq!(passed, 0, "unbound's DO=1 query was passed up");

    // The same RRset from the fast path to a client without DNSSEC.
    let xdp_before = w.counter("answered_v4");
    let plain = w.topology.dig(
        &w.topology.server_v4.to_string(),
        &["+short", "www.example.com", "A"],
    );
    assert_eq!(plain.into_iter().collect::<Vec<_>>(), vec!["192.0.2.10"]);
    assert_eq!(w.counter("answered_v4"), xdp_before + 1, "XDP answered");

    let aaaa = w.validated("www.example.com.", "AAAA", "positive AAAA");
    assert!(has(&aaaa, "2001:db8::10"), "{}", aaaa.output);
    let cname = w.validated("alias.example.com.", "A", "CNAME");
    assert!(
        has(&cname, "CNAME\twww.example.com.") && has(&cname, "192.0.2.10"),
        "{}",
        cname.output
    );
    let wild = w.validated("Host.Wild.example.com.", "A", "wildcard");
    assert!(has(&wild, "192.0.2.7"), "{}", wild.output);
    // Compact denial: a nonexistent name is a validated NODATA (RFC 9824 §3.1).
    let nx = w.validated("nope.example.com.", "A", "nonexistent name");
    assert!(nx.answer.is_empty(), "{}", nx.output);
    assert!(
        nx.output
            .contains("NSEC\t\\000.nope.example.com. RRSIG NSEC TYPE128"),
        "{}",
        nx.output
    );
    let nodata = w.validated("www.example.com.", "TXT", "NODATA");
    assert!(nodata.answer.is_empty(), "{}", nodata.output);
    let secure = w.validated("www.secure.example.com.", "A", "secure child");
    assert!(has(&secure, "192.0.2.20"), "{}", secure.output);
    // The unsigned child: proven insecure by the parent's NSEC for its DS, so answered
    // without AD; a bad proof would make it bogus (SERVFAIL).
    let insecure = w.resolve("www.insecure.example.com.", "A");
    assert!(
        insecure.status == "NOERROR" && !insecure.ad && has(&insecure, "192.0.2.30"),
        "{}\n{}",
        insecure.output,
        w.unbound.log()
    );

    // The fast path sends the broken signature too (the test hook breaks its copy as well).
    let xdp_before = w.counter("answered_v4");
    let broken = w.resolve(BROKEN, "A");
    assert_eq!(broken.status, "SERVFAIL", "{}", broken.output);
    assert!(
        w.counter("answered_v4") > xdp_before,
        "the fast path did not answer {BROKEN}"
    );
    assert!(
        w.unbound
            .log()
            .contains("validation failure <broken.example.com. A IN>"),
        "{}",
        w.unbound.log()
    );

    for (name, qtype) in [
        ("www.example.com.", "A"),
        ("www.example.com.", "AAAA"),
        ("alias.example.com.", "A"),
        ("host.wild.example.com.", "A"),
        ("nope.example.com.", "A"),
        ("www.example.com.", "TXT"),
        ("example.com.", "DNSKEY"),
        ("www.secure.example.com.", "A"),
    ] {
        w.delv_validated(name, qtype, "delv");
    }
    let insecure = w.delv("www.insecure.example.com.", "A");
    assert!(
        insecure.output.contains("; unsigned answer") && insecure.output.contains("192.0.2.30"),
        "{}",
        insecure.output
    );
    let broken = w.delv(BROKEN, "A");
    assert!(!broken.validated, "{}", broken.output);
    assert!(
        broken.output.contains("RRSIG failed to verify"),
        "{}",
        broken.output
    );
}

#[test]
fn zsk_rollover_by_pre_publication_keeps_validating() {
    if !require_root("zsk_rollover_by_pre_publication_keeps_validating") {
        return;
    }
    const TTL: u64 = 2;
    let mut w = World::new("dnsroll", TTL as u32, &[], "");
    let zsk_tags = |w: &World| -> Vec<String> {
        let out = w.delv_validated("example.com.", "DNSKEY", "DNSKEY");
        let mut tags: Vec<String> = out
            .lines()
            .filter(|l| l.contains("ZSK;"))
            .map(|l| l.rsplit("key id = ").next().unwrap().trim().to_string())
            .collect();
        tags.sort();
        tags
    };
    // delv asks dns-xdp directly with DO=1, which the fast path answers from the signatures
    // the agent published: a step's reload must have republished them.
    let signing_tag = |w: &World| -> String {
        let xdp_before = w.counter("answered_v4");
        let out = w.delv_validated("www.example.com.", "A", "signing key");
        assert!(
            w.counter("answered_v4") > xdp_before,
            "the fast path did not answer delv"
        );
        let line = out
            .lines()
            .find(|l| l.contains("RRSIG\tA "))
            .unwrap()
            .to_string();
        line.split_whitespace().nth(10).unwrap().to_string()
    };
    // Every query that matters, through unbound (with its cache) and delv (without one).
    let check = |w: &World, when: &str| {
        for (name, qtype) in [
            ("www.example.com.", "A"),
            ("alias.example.com.", "A"),
            ("nope.example.com.", "A"),
            ("www.example.com.", "TXT"),
            ("example.com.", "DNSKEY"),
        ] {
            w.validated(name, qtype, when);
        }
        w.delv_validated("www.example.com.", "A", when);
    };
    // Checks at once after a step's reload, then until `wait` has passed.
    let check_for = |w: &World, wait: Duration, when: &str| {
        let end = Instant::now() + wait;
        let mut rounds = 0;
        while rounds == 0 || Instant::now() < end {
            check(w, &format!("{when} (round {rounds})"));
            rounds += 1;
            thread::sleep(Duration::from_millis(300));
        }
    };
    let reload = |w: &mut World, when: &str| match w.agent.reload().expect("reload") {
        dns_xdp_tests::agent::Reload::Applied { .. } => {}
        refused => panic!("{when}: reload refused: {refused:?}"),
    };
    // Waits one TTL more than the step requires, so unbound's caches have turned over.
    let wait = Duration::from_secs(TTL + 1);

    check_for(&w, wait, "before the rollover");
    let old_zsk = zsk_tags(&w);
    assert_eq!(old_zsk.len(), 1);
    assert_eq!(signing_tag(&w), old_zsk[0]);

    let out = w.roll("publish");
    assert!(out.contains("DNSKEY TTL"), "{out}");
    let refused = Command::new(agent_binary())
        .args(["keys", "roll-zsk", "--zone", "example.com.", "--dir"])
        .arg(&w.key_dir)
        .args(["--step", "remove"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--step activate"));
    reload(&mut w, "publish");
    check_for(&w, wait, "after publish");
    let both = zsk_tags(&w);
    assert_eq!(both.len(), 2, "the new ZSK is published");
    assert_eq!(signing_tag(&w), old_zsk[0], "the old ZSK still signs");

    let out = w.roll("activate");
    assert!(out.contains("largest TTL"), "{out}");
    reload(&mut w, "activate");
    check_for(&w, wait, "after activate");
    let new_zsk: Vec<String> = both.into_iter().filter(|t| *t != old_zsk[0]).collect();
    assert_eq!(signing_tag(&w), new_zsk[0], "the new ZSK signs");
    assert_eq!(zsk_tags(&w).len(), 2, "the old ZSK stays published");

    let out = w.roll("remove");
    assert!(out.contains("complete"), "{out}");
    reload(&mut w, "remove");
    check_for(&w, wait, "after remove");
    assert_eq!(zsk_tags(&w), new_zsk);
    assert!(w.roll("status").contains("none in progress"));
    assert!(
        !w.unbound.log().contains("validation failure"),
        "{}",
        w.unbound.log()
    );
}

#[test]
fn a_signed_zone_without_keys_stops_the_agent_with_the_fix() {
    if !require_root("a_signed_zone_without_keys_stops_the_agent_with_the_fix") {
        return;
    }
    let topology = Topology::create("dnsnokeys").expect("topology");
    let scratch = ScratchDir::new("dnssec-nokeys");
    let zone = scratch.path().join("example.com.zone");
    std::fs::write(
        &zone,
        "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n",
    )
    .unwrap();
    let key_dir = scratch.path().join("no-keys");
    let config = format!(
        "[server]\nxdp_mode = \"off\"\nlisten = [\"{}:53\"]\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\nkey_dir = \"{}\"\n",
        topology.server_v4,
        zone.display(),
        key_dir.display()
    );
    let exit = Agent::run_to_exit(&topology, &config).expect("agent runs");
    assert!(!exit.status.success());
    for needle in [
        "example.com.",
        &key_dir.display().to_string(),
        "dns-xdp keys generate --zone example.com.",
    ] {
        assert!(exit.stderr.contains(needle), "{needle} in: {}", exit.stderr);
    }
}

const FAILOVER_POOL: &str = "\
[[check]]
name = \"web\"
protocol = \"http\"
port = 80
interval = \"1s\"
timeout = \"400ms\"
fall = 2
rise = 2

[[pool]]
name = \"app.example.com.\"
type = \"A\"
policy = \"failover\"
ttl = 2
  [[pool.member]]
  address = \"192.0.2.10\"
  check = \"web\"
  [[pool.member]]
  address = \"192.0.2.11\"
";

#[test]
fn answers_after_a_failover_validate() {
    if !require_root("answers_after_a_failover_validate") {
        return;
    }
    // The primary's backend must answer before the agent starts: it lives in the client
    // namespace, which the topology inside `World` creates, so start with a world whose pool
    // member is up once the backend is listening (unknown counts as up meanwhile).
    let w = World::new("dnsfail", 2, &[], FAILOVER_POOL);
    let output = w
        .topology
        .exec(
            &w.topology.client_ns,
            "ip",
            &["addr", "add", "192.0.2.10/32", "dev", &w.topology.client_if],
        )
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut primary = Backend::http(
        Some(&w.topology.client_ns),
        "192.0.2.10:80".parse().unwrap(),
    )
    .unwrap();
    let wait_for = |address: &str, when: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = w.resolve("app.example.com.", "A");
            if r.status == "NOERROR" && r.ad && has(&r, address) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{when}: app.example.com. never validated as {address}: {}\nunbound log:\n{}\n\
                 agent:\n{}",
                r.output,
                w.unbound.log(),
                w.agent.stderr()
            );
            thread::sleep(Duration::from_millis(300));
        }
    };
    wait_for("192.0.2.10", "primary up");
    w.delv_validated("app.example.com.", "A", "primary up");

    primary.stop();
    wait_for("192.0.2.11", "after failover");
    let out = w.delv_validated("app.example.com.", "A", "after failover");
    assert!(out.contains("192.0.2.11"), "{out}");
    assert!(
        !w.unbound.log().contains("validation failure"),
        "unbound saw a bad signature: {}",
        w.unbound.log()
    );
}
