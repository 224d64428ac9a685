//! Atomicity under load (issue 4): one thread flips the published answers back and forth
//! thousands of times while the other threads run the XDP program on queries through
//! `BPF_PROG_TEST_RUN`, each run on its own. Every `XDP_TX` frame must carry valid checksums and
//! a DNS message byte-equal to the reply to one whole published version (for weighted answers,
//! any variant of one version); never a mix, never empty. A frame passed up must be the query
//! unchanged, and every pass must be counted as `pass_torn` (the program saw an update under
//! way): in any consistent state every query here is answered in the kernel.
//!
//! Two flips: in-place updates of the live generation (`Dataplane::update_answers`) between
//! two versions of a plain 4-address RRset (A and AAAA), a weighted pool that grows from 2 to 5
//! variants and shrinks back, and a geo pool whose every view changes; and reloads
//! (`Dataplane::publish`) that renumber the views, so that a query pairing one version's view
//! trie with the other's answers would get another region's answer.
//!
//! And a reload of a large zone: while the old generation's entries are deleted, queries are
//! answered; only those in flight at the flip pass up.
//!
//! Needs root (loads a BPF program); run with `cargo xtask test`.

use std::{
    collections::HashSet,
    net::IpAddr,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::Duration,
};

use dns_xdp_common::counters::Counter;
use dns_xdp_tests::{
    netns::require_root,
    packet::{parse_reply, spliced, Frame, Query},
    test_run::{TestRunner, XDP_PASS, XDP_TX},
};
use dns_xdp_user::{
    catalog::Snapshot,
    fastpath::answers::{Answer, AnswerSet},
    fastpath::dataplane::{Dataplane, ViewPrefix},
    zone::{Name, RecordType, Zone},
};

const A: u16 = 1;
const AAAA: u16 = 28;
/// Reader threads: the machine the tests run on has two CPUs, shared with the writer.
const READERS: usize = 2;
/// Each reader runs at least this many queries, and on until the writer is done.
const MIN_RUNS: usize = 20_000;
/// Between two flips.
const PAUSE: Duration = Duration::from_micros(50);

const SERVER_V4: &str = "192.0.2.1";
const SERVER_V6: &str = "2001:db8::1";
const EU_V4: &str = "198.51.100.0";
const NA_V4: &str = "203.0.113.0";
const EU_V6: &str = "2001:db8:100::";

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// The two regions' answers in `version` (0 or 1) of the geo pool: (default, eu, na).
fn geo_answers(version: usize) -> [Vec<Vec<IpAddr>>; 3] {
    if version == 0 {
        [
            vec![ips(&["192.0.2.100"])],
            vec![ips(&["198.51.100.10", "198.51.100.11"])],
            vec![ips(&["203.0.113.10"])],
        ]
    } else {
        [
            vec![ips(&["192.0.2.101", "192.0.2.102", "192.0.2.103"])],
            vec![ips(&["198.51.100.20"])],
            vec![
                ips(&["203.0.113.20"]),
                ips(&["203.0.113.21", "203.0.113.22"]),
            ],
        ]
    }
}

/// Region → view id: `renumbered` swaps the two regions' ids, as a reload may.
fn view_ids(renumbered: bool) -> (u8, u8) {
    if renumbered {
        (2, 1)
    } else {
        (1, 2)
    }
}

/// Version `version` of the published answers, its views numbered as `renumbered` says.
fn answers(version: usize, renumbered: bool) -> AnswerSet {
    let mut set = AnswerSet::default();
    let plain_a = if version == 0 {
        ips(&["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"])
    } else {
        ips(&[
            "198.51.100.30",
            "198.51.100.31",
            "198.51.100.32",
            "198.51.100.33",
        ])
    };
    set.add_steered(
        &name("plain.example.com."),
        RecordType::A,
        60,
        false,
        &[Some(vec![plain_a])],
        None,
    )
    .unwrap();
    let plain_aaaa = if version == 0 {
        ips(&[
            "2001:db8::10",
            "2001:db8::11",
            "2001:db8::12",
            "2001:db8::13",
        ])
    } else {
        ips(&[
            "2001:db8:1::10",
            "2001:db8:1::11",
            "2001:db8:1::12",
            "2001:db8:1::13",
        ])
    };
    set.add_steered(
        &name("plain.example.com."),
        RecordType::AAAA,
        60,
        false,
        &[Some(vec![plain_aaaa])],
        None,
    )
    .unwrap();
    let weighted: Vec<Vec<IpAddr>> = if version == 0 {
        vec![ips(&["192.0.2.20", "192.0.2.21"]), ips(&["192.0.2.22"])]
    } else {
        (0..5)
            .map(|i| ips(&[&format!("192.0.2.{}", 30 + i), "192.0.2.40"]))
            .collect()
    };
    set.add_steered(
        &name("weighted.example.com."),
        RecordType::A,
        60,
        false,
        &[Some(weighted)],
        None,
    )
    .unwrap();
    let [default, eu, na] = geo_answers(version);
    let (eu_view, _) = view_ids(renumbered);
    let views = if eu_view == 1 {
        [Some(default), Some(eu), Some(na)]
    } else {
        [Some(default), Some(na), Some(eu)]
    };
    set.add_steered(
        &name("geo.example.com."),
        RecordType::A,
        60,
        true,
        &views,
        None,
    )
    .unwrap();
    set
}

fn prefixes(renumbered: bool) -> Vec<ViewPrefix> {
    let (eu, na) = view_ids(renumbered);
    [(EU_V4, 24, eu), (NA_V4, 24, na), (EU_V6, 48, eu)]
        .into_iter()
        .map(|(addr, prefix_len, view)| ViewPrefix {
            addr: addr.parse().unwrap(),
            prefix_len,
            view,
        })
        .collect()
}

/// The view the longest of `prefixes` covering `client` gives it.
fn view_of(prefixes: &[ViewPrefix], client: IpAddr) -> u8 {
    let bits = |addr: IpAddr| match addr {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    };
    prefixes
        .iter()
        .filter_map(|p| {
            let len = u32::from(p.prefix_len) + if p.addr.is_ipv4() { 96 } else { 0 };
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            (bits(p.addr) & mask == bits(client) & mask).then_some((len, p.view))
        })
        .max()
        .map_or(0, |(_, view)| view)
}

/// One query and every DNS message a reply to it may carry.
struct Probe {
    what: String,
    frame: Vec<u8>,
    allowed: HashSet<Vec<u8>>,
}

/// The probes, each allowed the replies of every (answer set, view prefixes) in `versions`.
fn probes(versions: &[(AnswerSet, Vec<ViewPrefix>)]) -> Vec<Probe> {
    let queries = [
        ("plain.example.com.", A, "192.0.2.2"),
        ("plain.example.com.", AAAA, "2001:db8::2"),
        ("weighted.example.com.", A, "192.0.2.2"),
        ("geo.example.com.", A, "198.51.100.7"),
        ("geo.example.com.", A, "2001:db8:100::7"),
        ("geo.example.com.", A, "203.0.113.9"),
        ("geo.example.com.", A, "192.0.2.2"),
    ];
    queries
        .into_iter()
        .map(|(qname, qtype, client)| {
            let client: IpAddr = client.parse().unwrap();
            let server = if client.is_ipv4() {
                SERVER_V4
            } else {
                SERVER_V6
            };
            let query = Query::new(qname, qtype).encode();
            let frame = Frame::udp(client, server.parse().unwrap(), query.clone()).encode();
            let (key, len) = dns_xdp_user::render::name_key(&name(qname));
            let mut allowed = HashSet::new();
            for (set, prefixes) in versions {
                let view = view_of(prefixes, client);
                let matching: Vec<&Answer> = set
                    .iter()
                    .filter(|a| *a.name == key[..len] && a.qtype == qtype)
                    .filter(|a| a.view == if a.per_view { view } else { 0 })
                    .collect();
                assert!(!matching.is_empty(), "{qname} has an answer for {client}");
                allowed.extend(matching.into_iter().map(|a| spliced(a, &query)));
            }
            Probe {
                what: format!("{qname} type {qtype} from {client}"),
                frame,
                allowed,
            }
        })
        .collect()
}

/// What the readers saw.
#[derive(Debug, Default)]
struct Seen {
    replies: u64,
    passes: u64,
    failures: Vec<String>,
}

/// Runs the probes round-robin until `done` is set and at least `MIN_RUNS` ran, checking each.
fn read(runner: &TestRunner, probes: &[Probe], done: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let mut out = vec![0u8; 2048];
    let mut runs = 0;
    while runs < MIN_RUNS || !done.load(Ordering::Relaxed) {
        let probe = &probes[runs % probes.len()];
        runs += 1;
        let outcome = runner
            .run(&probe.frame, &mut out)
            .expect("BPF_PROG_TEST_RUN");
        let out = &out[..outcome.len];
        let failure = match outcome.action {
            XDP_TX => {
                seen.replies += 1;
                match parse_reply(out) {
                    Err(e) => Some(format!("{}: broken reply: {e}", probe.what)),
                    Ok(reply) if !probe.allowed.contains(&reply.payload) => Some(format!(
                        "{}: reply is no published version: {:02x?}",
                        probe.what, reply.payload
                    )),
                    Ok(_) => None,
                }
            }
            XDP_PASS => {
                seen.passes += 1;
                (out != probe.frame).then(|| format!("{}: passed up changed", probe.what))
            }
            other => Some(format!("{}: action {other}", probe.what)),
        };
        if let Some(failure) = failure {
            if seen.failures.len() < 5 {
                seen.failures.push(failure);
            }
        }
    }
    seen
}

/// Loads the dataplane with `versions[0]`, then runs `flip(dataplane, i)` for i in
/// 0..`flips` against `READERS` reader threads, and checks what they saw.
fn stress(
    what: &str,
    versions: &[(AnswerSet, Vec<ViewPrefix>)],
    flips: usize,
    mut flip: impl FnMut(&mut Dataplane, usize) + Send,
) {
    let capacity = versions.iter().map(|(set, _)| set.len()).max().unwrap();
    let mut dataplane = Dataplane::load(capacity as u32, 1232, None).expect("load XDP program");
    dataplane
        .serve_addresses([SERVER_V4.parse().unwrap(), SERVER_V6.parse().unwrap()], [])
        .unwrap();
    dataplane.publish(&versions[0].0, &versions[0].1).unwrap();
    let probes = probes(versions);
    let runner = TestRunner::new(dataplane.responder()).expect("a handle on the program");
    let before = dataplane.counters().unwrap();
    let done = AtomicBool::new(false);
    let seen: Vec<Seen> = thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| scope.spawn(|| read(&runner, &probes, &done)))
            .collect();
        for i in 0..flips {
            flip(&mut dataplane, i);
            // A pause, so that queries also run between flips rather than only during them
            // (during one they pass up); still thousands of flips a second.
            thread::sleep(PAUSE);
        }
        done.store(true, Ordering::Relaxed);
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let after = dataplane.counters().unwrap();
    let delta = |c: Counter| after.get(c) - before.get(c);

    let replies: u64 = seen.iter().map(|s| s.replies).sum();
    let passes: u64 = seen.iter().map(|s| s.passes).sum();
    let failures: Vec<&String> = seen.iter().flat_map(|s| &s.failures).collect();
    println!(
        "{what}: {flips} flips; {replies} replies checked, {passes} passed up, {} counted \
         pass_torn",
        delta(Counter::PassTorn)
    );
    assert!(failures.is_empty(), "{what}:\n  {failures:#?}");
    assert!(replies > 0);
    assert_eq!(
        delta(Counter::PassTorn),
        passes,
        "{what}: passes are pass_torn"
    );
    let others: Vec<(Counter, u64)> = Counter::ALL
        .into_iter()
        .filter(|&c| {
            !matches!(
                c,
                Counter::AnsweredV4 | Counter::AnsweredV6 | Counter::PassTorn
            )
        })
        .map(|c| (c, delta(c)))
        .filter(|&(_, n)| n > 0)
        .collect();
    assert!(others.is_empty(), "{what}: other passes {others:?}");
    assert_eq!(after.answered() - before.answered(), replies);
}

#[test]
fn in_place_updates_are_seen_whole() {
    if !require_root("in_place_updates_are_seen_whole") {
        return;
    }
    let versions = [
        (answers(0, false), prefixes(false)),
        (answers(1, false), prefixes(false)),
    ];
    stress("in place", &versions, 10_000, |dataplane, i| {
        let (from, to) = (&versions[i % 2].0, &versions[(i + 1) % 2].0);
        dataplane
            .update_answers(from, to)
            .into_result()
            .expect("update in place");
    });
}

#[test]
fn reloads_with_renumbered_views_are_seen_whole() {
    if !require_root("reloads_with_renumbered_views_are_seen_whole") {
        return;
    }
    let versions = [
        (answers(0, false), prefixes(false)),
        (answers(1, true), prefixes(true)),
    ];
    stress("reload", &versions, 2_000, |dataplane, i| {
        let (set, prefixes) = &versions[(i + 1) % 2];
        dataplane.publish(set, prefixes).expect("reload");
    });
}

/// Names in each version of the large zone: enough that deleting the old generation takes a
/// good while, during which the readers must keep being answered.
const LARGE_NAMES: usize = 50_000;
const LARGE_RELOADS: usize = 4;

/// A zone of `LARGE_NAMES` A records and www, each version with other addresses.
fn large_version(version: u8) -> AnswerSet {
    let mut text = String::from("$TTL 300\n@ SOA ns1 h 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\n");
    text.push_str(&format!("www A 192.0.2.{}\n", 10 + version));
    for i in 0..LARGE_NAMES {
        text.push_str(&format!(
            "h{i} A 198.51.100.{}\n",
            (i + usize::from(version)) % 250
        ));
    }
    let zone = Zone::parse(&name("example.com."), &text, "large.zone").unwrap();
    let (set, skipped) = AnswerSet::of(&Snapshot::unsigned([zone]));
    assert!(skipped.is_empty(), "{skipped:?}");
    set
}

#[test]
fn a_large_reload_passes_up_only_the_queries_in_flight_at_its_flip() {
    if !require_root("a_large_reload_passes_up_only_the_queries_in_flight_at_its_flip") {
        return;
    }
    let versions = [large_version(0), large_version(1)];
    let mut dataplane =
        Dataplane::load(versions[0].len() as u32, 1232, None).expect("load XDP program");
    dataplane
        .serve_addresses([SERVER_V4.parse().unwrap()], [])
        .unwrap();
    dataplane.publish(&versions[0], &[]).unwrap();
    let runner = TestRunner::new(dataplane.responder()).expect("a handle on the program");
    let query = Query::new("www.example.com.", A).encode();
    let frame = Frame::udp(
        "198.51.100.7".parse().unwrap(),
        SERVER_V4.parse().unwrap(),
        query,
    )
    .encode();
    let publishing = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    // (answered, passed up) while a publication ran.
    let counts: Vec<(u64, u64)> = thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = vec![0u8; 2048];
                    let (mut replies, mut passes) = (0, 0);
                    while !done.load(Ordering::Relaxed) {
                        let during = publishing.load(Ordering::Relaxed);
                        let outcome = runner.run(&frame, &mut out).expect("BPF_PROG_TEST_RUN");
                        match (outcome.action, during) {
                            (XDP_TX, true) => replies += 1,
                            (XDP_PASS, true) => passes += 1,
                            (XDP_TX | XDP_PASS, false) => {}
                            (other, _) => panic!("action {other}"),
                        }
                    }
                    (replies, passes)
                })
            })
            .collect();
        for reload in 1..=LARGE_RELOADS {
            publishing.store(true, Ordering::Relaxed);
            let published = dataplane.publish(&versions[reload % 2], &[]).unwrap();
            publishing.store(false, Ordering::Relaxed);
            assert!(published.leftovers.is_none(), "{published:?}");
            assert_eq!(dataplane.answer_keys().len(), versions[0].len());
        }
        done.store(true, Ordering::Relaxed);
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let replies: u64 = counts.iter().map(|c| c.0).sum();
    let passes: u64 = counts.iter().map(|c| c.1).sum();
    println!(
        "{LARGE_RELOADS} reloads of {} entries: {replies} queries answered and {passes} passed \
         up while they ran",
        versions[0].len()
    );
    // The readers ran all through the publications, old generations' deletes included...
    assert!(
        replies >= 100,
        "{replies} answered: the readers did not overlap"
    );
    // ...and only a query in flight at a flip can have seen the update sequence move.
    assert!(
        passes <= (READERS * LARGE_RELOADS) as u64,
        "{passes} passed up in {LARGE_RELOADS} reloads"
    );
}
