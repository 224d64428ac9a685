//! Signed answers per second from the fallback's responder, in process, on one thread: the
//! cost of online signing with the signature cache warm (every RRSIG already made) and cold
//! (a new signer each round, so every answer is signed on the spot), beside the same queries
//! unsigned (DO=0), for algorithms 13 (ECDSA P-256) and 15 (Ed25519).
//!
//! Queries go through `Responder::respond_in_full`, which decodes, answers and encodes every
//! query (no rendered shortcut, no packet cache), so the numbers are the general path's; the
//! last case shows what the packet cache makes of a repeated signed query (`respond`). The
//! zone has 10,000 names with A and AAAA; positive queries cycle through 2,000 of them,
//! negative ones ask for names that do not exist (compact denial signs one NSEC per name:
//! "random" asks for a new name every time, as a random-subdomain flood does). Each case is
//! timed in rounds; the median round is reported.
//!
//! Run with `cargo bench -p dns-xdp-tests --bench signed` (no root needed); results also go to
//! `target/bench/signed.json`.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use dns_xdp_user::{
    catalog::Snapshot,
    dnssec::{generate_zone_keys, KeyAlgorithm, Signer, SigningConfig},
    fallback::responder::{Responder, Transport},
    zone::Zone,
};
use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
};

const NAMES: usize = 10_000;
/// Distinct names per round.
const ROUND: usize = 2_000;
const ROUNDS: usize = 15;

fn zone_text() -> String {
    let mut text = String::from(
        "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n",
    );
    for i in 0..NAMES {
        text.push_str(&format!(
            "h{i} A 192.0.2.{}\nh{i} AAAA 2001:db8::{:x}\n",
            i % 250 + 1,
            i + 1
        ));
    }
    text
}

fn query(name: &str, dnssec_ok: bool) -> Vec<u8> {
    let mut m = Message::new(0x1234, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232).set_dnssec_ok(dnssec_ok);
    m.set_edns(edns);
    m.to_vec().unwrap()
}

struct Setup {
    algorithm: KeyAlgorithm,
    zone: Zone,
    dir: PathBuf,
    origin: Name,
}

impl Setup {
    fn new(algorithm: KeyAlgorithm) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "dns-xdp-bench-signed-{}-{}",
            algorithm.number(),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let origin = Name::from_ascii("example.com.").unwrap();
        generate_zone_keys(&dir, &origin, algorithm, false, 0).unwrap();
        let zone = Zone::parse(&origin, &zone_text(), "bench.zone").unwrap();
        Setup {
            algorithm,
            zone,
            dir,
            origin,
        }
    }

    /// A responder for the zone with a new signer, whose cache is empty.
    fn responder(&self, signed: bool) -> Responder {
        let mut zone = self.zone.clone();
        let mut signer = None;
        if signed {
            let new =
                Arc::new(Signer::load(&self.dir, &self.origin, SigningConfig::default()).unwrap());
            for rrset in new.apex_rrsets() {
                zone.insert_rrset(rrset.clone());
            }
            signer = Some(new);
        }
        Responder::for_snapshot(Snapshot::new([(zone, signer)]), 1232)
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Times `run` on what `prepare` makes for round `r` (preparing is not timed): queries
/// answered and the time taken.
fn timed<S>(
    r: usize,
    prepare: &impl Fn(usize) -> S,
    run: &impl Fn(&S) -> usize,
) -> (usize, Duration) {
    let state = prepare(r);
    let start = Instant::now();
    let n = run(&state);
    (n, start.elapsed())
}

/// One benchmark case: runs round `r`, returning queries answered and time taken.
type Case<'a> = (String, Box<dyn Fn(usize) -> (usize, Duration) + 'a>);

fn case<'a, S>(
    name: String,
    prepare: impl Fn(usize) -> S + 'a,
    run: impl Fn(&S) -> usize + 'a,
) -> Case<'a> {
    (name, Box::new(move |r| timed(r, &prepare, &run)))
}

fn answer_all(r: &Responder, queries: &[Vec<u8>], full: bool) -> usize {
    for q in queries {
        let reply = if full {
            r.respond_in_full(q, Transport::Udp, None)
        } else {
            r.respond(q, Transport::Udp, None)
        };
        std::hint::black_box(reply.expect("a reply"));
    }
    queries.len()
}

fn main() {
    let positive = |dnssec_ok| -> Vec<Vec<u8>> {
        (0..ROUND)
            .map(|i| query(&format!("h{}.example.com.", i * 5), dnssec_ok))
            .collect()
    };
    let negative = |dnssec_ok| -> Vec<Vec<u8>> {
        (0..ROUND)
            .map(|i| query(&format!("nx{i}.example.com."), dnssec_ok))
            .collect()
    };
    let (plain, signed_queries) = (positive(false), positive(true));
    let (plain_nx, signed_nx) = (negative(false), negative(true));
    let setups: Vec<Setup> = [KeyAlgorithm::EcdsaP256Sha256, KeyAlgorithm::Ed25519]
        .into_iter()
        .map(Setup::new)
        .collect();
    let unsigned = setups[0].responder(false);
    let warm: Vec<Responder> = setups.iter().map(|s| s.responder(true)).collect();
    for responder in &warm {
        let sample = responder
            .respond_in_full(&signed_queries[0], Transport::Udp, None)
            .unwrap();
        let sample = Message::from_vec(&sample).unwrap();
        assert!(
            sample
                .answers
                .iter()
                .any(|r| r.record_type() == RecordType::RRSIG),
            "signed answers carry RRSIGs: {sample:?}"
        );
        // Warm: every signature the warm cases need, made once.
        answer_all(responder, &signed_queries, true);
        answer_all(responder, &signed_nx, true);
        answer_all(responder, &signed_queries, false);
    }

    let mut cases: Vec<Case> = vec![
        case(
            "DO=0 A, unsigned (baseline)".into(),
            |_| (),
            |_| answer_all(&unsigned, &plain, true),
        ),
        case(
            "DO=0 NXDOMAIN, unsigned".into(),
            |_| (),
            |_| answer_all(&unsigned, &plain_nx, true),
        ),
    ];
    for (setup, warm) in setups.iter().zip(&warm) {
        let alg = setup.algorithm.number();
        cases.push(case(
            format!("alg {alg}: DO=1 A, signature cache warm"),
            |_| (),
            |_| answer_all(warm, &signed_queries, true),
        ));
        cases.push(case(
            format!("alg {alg}: DO=1 A, cold (new signer each round)"),
            |_| setup.responder(true),
            |cold| answer_all(cold, &signed_queries, true),
        ));
        cases.push(case(
            format!("alg {alg}: DO=1 NXDOMAIN, same names (warm)"),
            |_| (),
            |_| answer_all(warm, &signed_nx, true),
        ));
        cases.push(case(
            format!("alg {alg}: DO=1 NXDOMAIN, a new name each (cold)"),
            move |r| -> Vec<Vec<u8>> {
                (0..ROUND)
                    .map(|i| query(&format!("r{r}a{alg}x{i}.example.com."), true))
                    .collect()
            },
            |fresh| answer_all(warm, fresh, true),
        ));
        cases.push(case(
            format!("alg {alg}: DO=1 A, packet cache (respond)"),
            |_| (),
            |_| answer_all(warm, &signed_queries, false),
        ));
    }

    // Rounds interleave the cases, so that whatever else the machine does slows all alike.
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for r in 0..ROUNDS {
        for (at, (_, run)) in cases.iter().enumerate() {
            let (n, took) = run(r);
            rates[at].push(n as f64 / took.max(Duration::from_nanos(1)).as_secs_f64());
        }
    }
    let medians: Vec<f64> = rates
        .iter_mut()
        .map(|rates| {
            rates.sort_by(f64::total_cmp);
            rates[rates.len() / 2]
        })
        .collect();
    let base = medians[0];
    println!(
        "\nanswers per second, one thread, in process (median of {ROUNDS} interleaved rounds of \
         {ROUND} queries)"
    );
    println!("{:<52} {:>12} {:>10}", "case", "answers/s", "×baseline");
    let mut json = Vec::new();
    for ((name, _), rate) in cases.iter().zip(&medians) {
        println!("{name:<52} {rate:>12.0} {:>9.2}×", rate / base);
        json.push(format!(
            "{{\"case\":\"{name}\",\"answers_per_second\":{rate:.0},\"ratio_to_baseline\":{:.3}}}",
            rate / base
        ));
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("signed.json"), format!("[{}]\n", json.join(",\n"))).unwrap();
}
