//! `Responder::respond` under random input, without a fuzzer: 50,000 seeded messages, random
//! bytes and mutated well-formed queries, each over UDP and TCP, with the invariants of
//! `support::check_reply` (no panic, every reply parses, carries the query's ID and fits the
//! transport). The cargo-fuzz target `respond` (in `fuzz/`) checks the same things for longer.
//!
//! `DNS_XDP_RANDOM_SEED` and `DNS_XDP_RANDOM_CASES` change the seed and the number of cases.

mod support;

use dns_xdp_user::fallback::responder::Responder;

use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{rdata::opt::EdnsOption, DNSClass, Name, RecordType},
};

const DEFAULT_SEED: u64 = 0x646e_732d_7864_7021;
const DEFAULT_CASES: usize = 50_000;

/// SplitMix64: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), near enough for testing.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const QTYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::NS,
    RecordType::SOA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::TXT,
    RecordType::SRV,
    RecordType::CAA,
    RecordType::PTR,
    RecordType::DS,
    RecordType::ANY,
    RecordType::AXFR,
    RecordType::IXFR,
    RecordType::OPT,
    RecordType::Unknown(65_280),
];

/// A name from the zones (with its case scrambled now and then), below one, or random labels.
fn random_name(rng: &mut Rng) -> Name {
    let mut text = rng.pick(support::NAMES).to_string();
    if rng.chance(3) {
        text = text
            .chars()
            .map(|c| {
                if rng.chance(2) {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
    }
    let mut name = Name::from_ascii(&text).unwrap();
    if rng.chance(6) {
        for _ in 0..=rng.below(3) {
            let max = if rng.chance(8) { 63 } else { 8 };
            let len = 1 + rng.below(max);
            let label: Vec<u8> = (0..len).map(|_| b'a' + rng.below(26) as u8).collect();
            if let Ok(longer) =
                Name::from_labels([label.as_slice()]).and_then(|l| l.append_name(&name))
            {
                name = longer;
            }
        }
    }
    name
}

/// A well-formed message: mostly ordinary queries, sometimes with odd opcodes, classes, flags,
/// EDNS versions, options, several questions or none.
fn random_message(rng: &mut Rng) -> Vec<u8> {
    let op_code = match rng.below(10) {
        0 => OpCode::from_u8(rng.below(16) as u8),
        _ => OpCode::Query,
    };
    let mut m = Message::new(rng.next() as u16, MessageType::Query, op_code);
    m.metadata.recursion_desired = rng.chance(2);
    m.metadata.checking_disabled = rng.chance(4);
    m.metadata.authentic_data = rng.chance(4);
    m.metadata.truncation = rng.chance(20);
    let questions = match rng.below(20) {
        0 => 0,
        1 => 2,
        _ => 1,
    };
    for _ in 0..questions {
        // Mostly the types the zones have most of, so that many queries are answered.
        let qtype = match rng.below(3) {
            0 => *rng.pick(QTYPES),
            _ => *rng.pick(&[RecordType::A, RecordType::AAAA, RecordType::ANY]),
        };
        let mut query = Query::query(random_name(rng), qtype);
        if rng.chance(8) {
            query.set_query_class(*rng.pick(&[
                DNSClass::CH,
                DNSClass::HS,
                DNSClass::NONE,
                DNSClass::ANY,
                DNSClass::Unknown(42),
            ]));
        }
        m.add_query(query);
    }
    if rng.chance(2) {
        let mut edns = Edns::new();
        edns.set_max_payload(*rng.pick(&[0, 100, 511, 512, 513, 1232, 1400, 4096, 65535]));
        edns.set_dnssec_ok(rng.chance(3));
        if rng.chance(10) {
            edns.set_version(1 + rng.below(255) as u8);
        }
        if rng.chance(3) {
            // A client COOKIE, as dig sends, and now and then some other option.
            edns.options_mut()
                .insert(EdnsOption::Unknown(10, rng.bytes(8)));
        }
        if rng.chance(6) {
            let len = rng.below(40);
            edns.options_mut()
                .insert(EdnsOption::Unknown(65_001, rng.bytes(len)));
        }
        m.set_edns(edns);
    }
    m.to_vec().expect("a generated message encodes")
}

/// Interesting byte values for DNS: lengths at their limits, compression pointer tags.
const INTERESTING: &[u8] = &[0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xc0 | 0x0c, 0xff];

/// Applies random edits to `message`, mostly one, so that many mutants still reach the
/// answer paths; `other` is for splicing.
fn mutate(rng: &mut Rng, mut message: Vec<u8>, other: &[u8]) -> Vec<u8> {
    let edits = match rng.below(20) {
        0..=11 => 1,
        12..=16 => 2,
        _ => 3 + rng.below(6),
    };
    for _ in 0..edits {
        let len = message.len();
        match rng.below(11) {
            0 if len > 0 => message[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => message[rng.below(len)] = rng.byte(),
            2 if len > 0 => message[rng.below(len)] = *rng.pick(INTERESTING),
            3 => message.truncate(rng.below(len + 1)),
            4 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes = rng.bytes(n);
                message.splice(at..at, bytes);
            }
            5 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(8)).min(len);
                message.drain(at..end);
            }
            6 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                let copy = message[at..end].to_vec();
                let to = rng.below(len + 1);
                message.splice(to..to, copy);
            }
            // A section count: small, or absurd.
            7 if len >= 12 => {
                let at = 4 + 2 * rng.below(4);
                let count: u16 = if rng.chance(4) {
                    0xffff
                } else {
                    rng.below(4) as u16
                };
                message[at..at + 2].copy_from_slice(&count.to_be_bytes());
            }
            // A compression pointer, anywhere, to anywhere (loops included).
            8 => {
                let at = rng.below(len + 1);
                let target = rng.below(len.max(1) + 16) as u16;
                let pointer = (0xc000 | target).to_be_bytes();
                message.splice(at..at, pointer);
            }
            9 => {
                let keep = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                message.truncate(keep);
                message.extend_from_slice(&other[from..]);
            }
            // Header flags: QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode.
            10 if len >= 4 => {
                message[2] = rng.byte() & !0x80;
                message[3] = rng.byte();
            }
            _ => {}
        }
    }
    message
}

#[test]
fn random_and_mutated_queries_get_well_formed_replies() {
    let seed = env_or("DNS_XDP_RANDOM_SEED", DEFAULT_SEED);
    let cases = env_or("DNS_XDP_RANDOM_CASES", DEFAULT_CASES);
    let tally = run_cases(&support::responder(), seed, cases);
    if cases == DEFAULT_CASES {
        let share = |n: usize| n * 100 / cases;
        // Percentages about half of what the default seed gives.
        assert!(share(tally.answered) >= 3, "{tally:?}");
        assert!(share(tally.negative) >= 5, "{tally:?}");
        assert!(share(tally.formerr) >= 20, "{tally:?}");
        assert!(share(tally.other_rcodes) >= 10, "{tally:?}");
        assert!(share(tally.silent) >= 5, "{tally:?}");
        assert!(tally.truncated >= 100, "{tally:?}");
    }
}

/// The same with both zones signed: a third of the queries set DO, so the signing paths
/// (RRSIGs, compact denial, DS in referrals) meet odd names, types and sizes. None may fail
/// to sign (SERVFAIL).
#[test]
fn random_queries_to_signed_zones_get_well_formed_replies() {
    use dns_xdp_user::catalog::Snapshot;
    use dns_xdp_user::dnssec::{generate_zone_keys, KeyAlgorithm, Signer, SigningConfig};
    use std::sync::Arc;

    let seed = env_or("DNS_XDP_RANDOM_SEED", DEFAULT_SEED) ^ 0x5167;
    let cases = env_or("DNS_XDP_RANDOM_CASES", DEFAULT_CASES) / 2;
    let dir = std::env::temp_dir().join(format!("dns-xdp-random-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut signed = Vec::new();
    for mut zone in support::zones() {
        let origin = zone.origin().clone();
        generate_zone_keys(&dir, &origin, KeyAlgorithm::EcdsaP256Sha256, false, 0).unwrap();
        let signer = Arc::new(Signer::load(&dir, &origin, SigningConfig::default()).unwrap());
        for rrset in signer.apex_rrsets() {
            zone.insert_rrset(rrset.clone());
        }
        signed.push((zone, Some(signer)));
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let responder = Responder::for_snapshot(Snapshot::new(signed), support::EDNS_PAYLOAD);
    let tally = run_cases(&responder, seed, cases);
    assert_eq!(tally.servfail, 0, "{tally:?}");
    // About half of what the default seed gives.
    assert!(tally.signed * 100 / cases >= 1, "{tally:?}");
}

/// Runs `cases` seeded inputs through `responder`, checking every reply.
fn run_cases(responder: &Responder, seed: u64, cases: usize) -> Tally {
    let mut rng = Rng(seed);
    let mut previous = random_message(&mut rng);
    let mut tally = Tally::default();
    for case in 0..cases {
        let input = match rng.below(8) {
            // Raw noise: mostly short, sometimes up to a full UDP payload.
            0 => {
                let len = if rng.chance(8) {
                    rng.below(1500)
                } else {
                    rng.below(64)
                };
                rng.bytes(len)
            }
            // Well-formed, unchanged: the answer paths, truncation, EDNS.
            1 | 2 => random_message(&mut rng),
            _ => {
                let message = random_message(&mut rng);
                let input = mutate(&mut rng, message.clone(), &previous);
                previous = message;
                input
            }
        };
        match std::panic::catch_unwind(|| support::check(responder, &input)) {
            Ok(reply) => tally.add(reply.as_ref()),
            Err(panic) => {
                eprintln!(
                    "case {case} of seed {seed:#x} failed; input {}",
                    support::hex(&input)
                );
                std::panic::resume_unwind(panic);
            }
        }
    }
    // The inputs must reach every part of the responder, not just its parse errors.
    eprintln!("{cases} cases: {tally:?}");
    tally
}

/// What the UDP replies were, to show the inputs cover the responder.
#[derive(Debug, Default)]
struct Tally {
    /// No reply (a response, or shorter than a header).
    silent: usize,
    /// NOERROR with answers.
    answered: usize,
    /// NXDOMAIN or NODATA.
    negative: usize,
    formerr: usize,
    truncated: usize,
    /// REFUSED, NOTIMP, BADVERS, SERVFAIL.
    other_rcodes: usize,
    servfail: usize,
    /// Replies with an RRSIG in them.
    signed: usize,
}

impl Tally {
    fn add(&mut self, reply: Option<&Message>) {
        let Some(reply) = reply else {
            self.silent += 1;
            return;
        };
        if reply.metadata.truncation {
            self.truncated += 1;
        }
        if reply
            .answers
            .iter()
            .chain(&reply.authorities)
            .any(|r| r.record_type() == RecordType::RRSIG)
        {
            self.signed += 1;
        }
        if reply.metadata.response_code == ResponseCode::ServFail {
            self.servfail += 1;
        }
        match reply.metadata.response_code {
            ResponseCode::NoError if !reply.answers.is_empty() => self.answered += 1,
            ResponseCode::NoError | ResponseCode::NXDomain => self.negative += 1,
            ResponseCode::FormErr => self.formerr += 1,
            _ => self.other_rcodes += 1,
        }
    }
}

#[test]
fn the_invariants_catch_what_they_should() {
    use dns_xdp_user::fallback::responder::Transport;
    let query = Message::new(0, MessageType::Query, OpCode::Query)
        .to_vec()
        .unwrap();
    assert!(support::check_reply(&query, Transport::Udp, None).is_err());
    assert!(support::check_reply(&[0; 11], Transport::Udp, Some(&query)).is_err());
    let mut reply = Message::response(0, OpCode::Query).to_vec().unwrap();
    assert!(support::check_reply(&query, Transport::Udp, Some(&reply)).is_ok());
    reply[0] = 1;
    assert!(support::check_reply(&query, Transport::Udp, Some(&reply)).is_err());
    let mut big = Message::response(0, OpCode::Query);
    for i in 0..40 {
        big.add_query(Query::query(
            Name::from_ascii(format!("name-{i}.example.com.")).unwrap(),
            RecordType::A,
        ));
    }
    let big = big.to_vec().unwrap();
    assert!(support::check_reply(&query, Transport::Udp, Some(&big)).is_err());
    assert!(support::check_reply(&query, Transport::Tcp, Some(&big)).is_ok());
}
