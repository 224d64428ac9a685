//! Packet fixtures through `BPF_PROG_TEST_RUN`: each case is a frame, the action the XDP program
//! must take, and for answers the fallback server's reply to the same query as the oracle. Every
//! `XDP_TX` frame is taken apart header by header (checksums included) and its DNS message must
//! equal the fallback's byte for byte, then decode with hickory-proto field by field.
//!
//! Steered answers (views by client prefix, weighted variants) have no zone to ask the fallback
//! about; their oracle is the fallback's splicer (`Rendered`, held byte for byte to the general
//! path by its own tests) given the one view or variant the client must get.
//!
//! Needs root (loads a BPF program); run with `cargo xtask test`.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    path::Path,
    sync::Arc,
};

use aya::programs::{TestRun, TestRunOptions};
use dns_xdp_common::{
    addresses::{source_filter_bit, ServedAddr},
    counters::Counter,
};
use dns_xdp_tests::{
    netns::require_root,
    packet::{
        parse_frame, parse_reply, spliced, wire_name, Frame, Opt, Query, FLAG_RD, TPID_8021AD,
        TPID_8021Q,
    },
    test_run::{XDP_PASS, XDP_TX},
};
use dns_xdp_user::{
    catalog::Snapshot,
    dnssec::{generate_zone_keys, unix_now, KeyAlgorithm, Signer, SigningConfig},
    fallback::responder::{Responder, Transport},
    fastpath::addresses::ipv4_subnet_edges,
    fastpath::answers::{Answer, AnswerSet},
    fastpath::dataplane::{Dataplane, Updated, ViewPrefix},
    steering::steered::{Entry, Steered},
    zone::{Name, RecordType, Zone},
};
use hickory_proto::op::{Message, MessageType, ResponseCode};

const A: u16 = 1;
const AAAA: u16 = 28;
const MX: u16 = 15;
const OPT_COOKIE: u16 = 10;
const OPT_ECS: u16 = 8;
const EDNS_CO: u16 = 0x4000;

fn fixture_zone() -> Zone {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone");
    Zone::load(&Name::from_ascii("example.com.").unwrap(), &path).expect("fixture zone loads")
}

fn v4() -> (IpAddr, IpAddr) {
    ("192.0.2.2".parse().unwrap(), "192.0.2.1".parse().unwrap())
}

fn v6() -> (IpAddr, IpAddr) {
    (
        "2001:db8::2".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
    )
}

fn frame((src, dst): (IpAddr, IpAddr), query: &Query) -> Frame {
    Frame::udp(src, dst, query.encode())
}

enum Expect {
    /// `XDP_TX` with this many answer records.
    Answer(usize),
    Pass(Counter),
}

struct Case {
    what: String,
    frame: Vec<u8>,
    expect: Expect,
}

fn case(what: &str, frame: Vec<u8>, expect: Expect) -> Case {
    Case {
        what: what.to_string(),
        frame,
        expect,
    }
}

const LONG_NAME: &str = "a23456789012345678901234567890123456789012345678901234567890123.\
    b23456789012345678901234567890123456789012345678901234567890123.\
    c23456789012345678901234567890123456789012345678901234567890123.\
    d234567890123456789012345678901234567890123456789.example.com.";

fn cases() -> Vec<Case> {
    use Expect::*;
    let q = |name: &str, qtype| Query::new(name, qtype);
    let mut cases = vec![
        case(
            "A over IPv4",
            frame(v4(), &q("www.example.com.", A)).encode(),
            Answer(1),
        ),
        case(
            "AAAA over IPv6, 4 records",
            frame(v6(), &q("v6.example.com.", AAAA)).encode(),
            Answer(4),
        ),
        case(
            "AAAA over IPv4",
            frame(v4(), &q("www.example.com.", AAAA)).encode(),
            Answer(1),
        ),
        case(
            "A over IPv6, 3 records",
            frame(v6(), &q("multi.example.com.", A)).encode(),
            Answer(3),
        ),
        case(
            "mixed-case name (0x20) echoed",
            frame(v4(), &q("wWw.ExAmPlE.cOm.", A)).encode(),
            Answer(1),
        ),
        case(
            "upper-case name over IPv6",
            frame(v6(), &q("V6.EXAMPLE.COM.", AAAA)).encode(),
            Answer(4),
        ),
        case(
            "longest legal name (255 bytes)",
            frame(v4(), &q(&LONG_NAME.to_uppercase(), A)).encode(),
            Answer(1),
        ),
        case(
            "EDNS, no DO",
            frame(v4(), &q("www.example.com.", A).edns(Opt::new(1232))).encode(),
            Answer(1),
        ),
        case(
            "EDNS payload below 512 counts as 512",
            frame(v6(), &q("v6.example.com.", AAAA).edns(Opt::new(100))).encode(),
            Answer(4),
        ),
        case(
            "EDNS with a client COOKIE",
            frame(
                v4(),
                &q("www.example.com.", A).edns(Opt::new(1232).option(OPT_COOKIE, &[7; 8])),
            )
            .encode(),
            Answer(1),
        ),
        case(
            "EDNS with client and server COOKIE",
            frame(
                v6(),
                &q("www.example.com.", AAAA).edns(Opt::new(4096).option(OPT_COOKIE, &[7; 24])),
            )
            .encode(),
            Answer(1),
        ),
        case(
            "A RRset that needs EDNS to fit",
            frame(v4(), &q("big.example.com.", A).edns(Opt::new(1232))).encode(),
            Answer(31),
        ),
        case(
            "RRset too big for 512 bytes",
            frame(v4(), &q("big.example.com.", A)).encode(),
            Pass(Counter::PassTooBig),
        ),
        case(
            "RRset too big for a 512-byte EDNS buffer",
            frame(v6(), &q("big.example.com.", A).edns(Opt::new(512))).encode(),
            Pass(Counter::PassTooBig),
        ),
        case(
            "EDNS DO=1 to an unsigned zone: the RRset, DO echoed",
            frame(
                v4(),
                &q("www.example.com.", A).edns(Opt {
                    dnssec_ok: true,
                    ..Opt::new(1232)
                }),
            )
            .encode(),
            Answer(1),
        ),
        case(
            "EDNS DO=1 and CO to an unsigned zone: both echoed",
            frame(
                v6(),
                &q("v6.example.com.", AAAA).edns(Opt {
                    dnssec_ok: true,
                    other_flags: EDNS_CO,
                    ..Opt::new(1232).option(OPT_COOKIE, &[7; 8])
                }),
            )
            .encode(),
            Answer(4),
        ),
        case(
            "EDNS CO without DO: not echoed",
            frame(
                v4(),
                &q("www.example.com.", A).edns(Opt {
                    other_flags: EDNS_CO,
                    ..Opt::new(1232)
                }),
            )
            .encode(),
            Answer(1),
        ),
        case(
            "EDNS version 1",
            frame(
                v4(),
                &q("www.example.com.", A).edns(Opt {
                    version: 1,
                    ..Opt::new(1232)
                }),
            )
            .encode(),
            Pass(Counter::PassEdns),
        ),
        case(
            "EDNS Client Subnet option",
            frame(
                v4(),
                &q("www.example.com.", A)
                    .edns(Opt::new(1232).option(OPT_ECS, &[0, 1, 24, 0, 198, 51, 100])),
            )
            .encode(),
            Pass(Counter::PassEdns),
        ),
        case(
            "COOKIE of a malformed length",
            frame(
                v4(),
                &q("www.example.com.", A).edns(Opt::new(1232).option(OPT_COOKIE, &[7; 5])),
            )
            .encode(),
            Pass(Counter::PassEdns),
        ),
        case(
            "name not in the maps",
            frame(v4(), &q("nope.example.com.", A)).encode(),
            Pass(Counter::PassMiss),
        ),
        case(
            "name outside every zone",
            frame(v6(), &q("www.example.org.", AAAA)).encode(),
            Pass(Counter::PassMiss),
        ),
        case(
            "type the fast path does not answer (MX)",
            frame(v4(), &q("mail.example.com.", MX)).encode(),
            Pass(Counter::PassQtype),
        ),
        case(
            "name without the requested type",
            frame(v4(), &q("v6.example.com.", A)).encode(),
            Pass(Counter::PassMiss),
        ),
        case(
            "name longer than 255 bytes",
            frame(v4(), &q(&format!("x.{LONG_NAME}"), A)).encode(),
            Pass(Counter::PassNotQuery),
        ),
    ];

    let mut f = frame(v4(), &q("www.example.com.", A));
    f.vlans = vec![(TPID_8021Q, 100)];
    cases.push(case("802.1Q VLAN", f.encode(), Answer(1)));
    let mut f = frame(v6(), &q("v6.example.com.", AAAA));
    f.vlans = vec![(TPID_8021AD, 100), (TPID_8021Q, 200)];
    cases.push(case("QinQ (802.1ad + 802.1Q)", f.encode(), Answer(4)));
    let mut f = frame(v4(), &q("www.example.com.", A));
    f.vlans = vec![(TPID_8021AD, 1), (TPID_8021Q, 2), (TPID_8021Q, 3)];
    cases.push(case(
        "three VLAN tags",
        f.encode(),
        Pass(Counter::PassNotDns),
    ));

    let mut f = frame(v4(), &q("ns1.example.com.", A));
    f.padding = 20;
    cases.push(case(
        "short frame with Ethernet padding",
        f.encode(),
        Answer(1),
    ));

    let header = |flags: u16, counts: [u16; 4]| {
        let mut query = q("www.example.com.", A);
        query.flags = flags;
        query.counts = counts;
        frame(v4(), &query).encode()
    };
    cases.push(case(
        "RD=0, CD=1, AD=1",
        header(0x0030, [1, 0, 0, 0]),
        Answer(1),
    ));
    cases.push(case(
        "QR=1 (a response)",
        header(0x8000 | FLAG_RD, [1, 0, 0, 0]),
        Pass(Counter::PassNotQuery),
    ));
    cases.push(case(
        "opcode NOTIFY",
        header(4 << 11, [1, 0, 0, 0]),
        Pass(Counter::PassNotQuery),
    ));
    cases.push(case(
        "TC=1",
        header(0x0200, [1, 0, 0, 0]),
        Pass(Counter::PassNotQuery),
    ));
    cases.push(case(
        "QDCOUNT=2",
        header(FLAG_RD, [2, 0, 0, 0]),
        Pass(Counter::PassNotQuery),
    ));
    cases.push(case(
        "QDCOUNT=0",
        header(FLAG_RD, [0, 0, 0, 0]),
        Pass(Counter::PassNotQuery),
    ));
    cases.push(case(
        "ANCOUNT=1",
        header(FLAG_RD, [1, 1, 0, 0]),
        Pass(Counter::PassNotQuery),
    ));
    cases.push(case(
        "ARCOUNT=1 without an OPT",
        header(FLAG_RD, [1, 0, 0, 1]),
        Pass(Counter::PassNotQuery),
    ));
    cases.push(case(
        "ARCOUNT=2",
        header(FLAG_RD, [1, 0, 0, 2]),
        Pass(Counter::PassNotQuery),
    ));

    let mut query = q("www.example.com.", A);
    query.qclass = 3;
    cases.push(case(
        "class CH",
        frame(v4(), &query).encode(),
        Pass(Counter::PassNotQuery),
    ));
    let mut query = q("www.example.com.", A);
    query.trailing = vec![0xde, 0xad];
    cases.push(case(
        "bytes after the question",
        frame(v4(), &query).encode(),
        Pass(Counter::PassNotQuery),
    ));
    let mut query = q("www.example.com.", A).edns(Opt::new(1232));
    query.trailing = vec![0];
    cases.push(case(
        "bytes after the OPT record",
        frame(v4(), &query).encode(),
        Pass(Counter::PassNotQuery),
    ));
    let mut query = q("www.example.com.", A);
    query.name = vec![3, b'w', b'w', b'w', 0xC0, 12];
    cases.push(case(
        "compression pointer in the question",
        frame(v4(), &query).encode(),
        Pass(Counter::PassNotQuery),
    ));
    let mut query = q("www.example.com.", A);
    query.name = [vec![64], vec![b'a'; 64], wire_name("example.com.")].concat();
    cases.push(case(
        "label longer than 63",
        frame(v4(), &query).encode(),
        Pass(Counter::PassNotQuery),
    ));
    let mut query = q("www.example.com.", A);
    query.name = vec![3, b'w', b'w'];
    query.qtype = 0;
    query.qclass = 0;
    let mut f = frame(v4(), &query);
    f.payload.truncate(12 + 3);
    cases.push(case(
        "question cut short",
        f.encode(),
        Pass(Counter::PassNotQuery),
    ));
    cases.push(case(
        "DNS header cut short",
        Frame::udp(v4().0, v4().1, vec![0x12, 0x34, 1, 0, 0, 1]).encode(),
        Pass(Counter::PassNotQuery),
    ));

    let good = frame(v4(), &q("www.example.com.", A)).encode();
    // BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header, so that is the shortest.
    for cut in [14, 14 + 10, 14 + 20 + 4] {
        cases.push(case(
            &format!("frame truncated to {cut} bytes"),
            good[..cut].to_vec(),
            Pass(Counter::PassIpUnsupported),
        ));
    }
    let mut cut = good.clone();
    cut.truncate(good.len() - 3);
    cases.push(case(
        "IP length beyond the frame",
        cut,
        Pass(Counter::PassIpUnsupported),
    ));

    let mut f = frame(v4(), &q("www.example.com.", A));
    f.udp_checksum = Some(0x1234);
    cases.push(case(
        "wrong UDP checksum (IPv4)",
        f.encode(),
        Pass(Counter::PassChecksum),
    ));
    let mut f = frame(v6(), &q("www.example.com.", AAAA));
    f.udp_checksum = Some(0xBEEF);
    cases.push(case(
        "wrong UDP checksum (IPv6)",
        f.encode(),
        Pass(Counter::PassChecksum),
    ));
    let mut f = frame(v4(), &q("www.example.com.", A));
    f.udp_checksum = Some(0);
    cases.push(case(
        "IPv4 UDP checksum absent (zero): answered, with a checksum",
        f.encode(),
        Answer(1),
    ));
    let mut f = frame(v4(), &q("multi.example.com.", A).edns(Opt::new(1232)));
    f.udp_checksum = Some(0);
    cases.push(case(
        "IPv4 UDP checksum absent, with EDNS",
        f.encode(),
        Answer(3),
    ));
    let mut f = frame(v6(), &q("www.example.com.", AAAA));
    f.udp_checksum = Some(0);
    cases.push(case(
        "IPv6 UDP checksum zero (never legal)",
        f.encode(),
        Pass(Counter::PassChecksum),
    ));
    let mut flipped = frame(v4(), &q("www.example.com.", A)).encode();
    let at = flipped.len() - 8;
    flipped[at] ^= 0x20;
    cases.push(case(
        "one flipped bit in the name",
        flipped,
        Pass(Counter::PassChecksum),
    ));

    let mut f = frame(v4(), &q("www.example.com.", A));
    f.ipv4_frag = 0x2000;
    cases.push(case(
        "IPv4 more-fragments",
        f.encode(),
        Pass(Counter::PassIpUnsupported),
    ));
    let mut f = frame(v4(), &q("www.example.com.", A));
    f.ipv4_frag = 0x0010;
    cases.push(case(
        "IPv4 fragment offset",
        f.encode(),
        Pass(Counter::PassIpUnsupported),
    ));
    let mut f = frame(v4(), &q("www.example.com.", A));
    f.ipv4_options = vec![1, 1, 1, 0];
    cases.push(case(
        "IPv4 options",
        f.encode(),
        Pass(Counter::PassIpUnsupported),
    ));
    let mut v6_frag = frame(v6(), &q("www.example.com.", AAAA)).encode();
    v6_frag[14 + 6] = 44;
    cases.push(case(
        "IPv6 fragment header",
        v6_frag,
        Pass(Counter::PassNotDns),
    ));

    let elsewhere = (v4().0, "198.51.100.7".parse().unwrap());
    cases.push(case(
        "query to an address we do not serve (IPv4)",
        frame(elsewhere, &q("www.example.com.", A)).encode(),
        Pass(Counter::PassNotOurs),
    ));
    let elsewhere = (v6().0, "2001:db8::99".parse().unwrap());
    cases.push(case(
        "query to an address we do not serve (IPv6)",
        frame(elsewhere, &q("v6.example.com.", AAAA)).encode(),
        Pass(Counter::PassNotOurs),
    ));
    let mut f = frame(v4(), &q("www.example.com.", A));
    f.dst_port = 5353;
    cases.push(case(
        "UDP to another port",
        f.encode(),
        Pass(Counter::PassNotDns),
    ));
    let mut tcp = frame(v4(), &q("www.example.com.", A)).encode();
    tcp[14 + 9] = 6;
    cases.push(case("TCP to port 53", tcp, Pass(Counter::PassNotDns)));
    let mut arp = good.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    cases.push(case("ARP", arp, Pass(Counter::PassNotDns)));
    cases.extend(sender_cases());
    cases
}

/// Queries the kernel's stack would drop, or whose answer would go where none may: passed up
/// untouched, each with its counter, beside answered ones that are as close as can be, so no
/// check is wider than it should be.
fn sender_cases() -> Vec<Case> {
    use Expect::*;
    let www_a = Query::new("www.example.com.", A);
    let v6_aaaa = Query::new("v6.example.com.", AAAA);
    let mut cases = Vec::new();

    // RFC 7042 §2.1.1: 00-00-5E-00-53-xx is for documentation; 01-00-5E-90-10-xx its multicast.
    for (what, mac, from, query, expect) in [
        (
            "broadcast MAC (IPv4)",
            [0xFF; 6],
            v4(),
            &www_a,
            Pass(Counter::PassNotUnicast),
        ),
        (
            "broadcast MAC (IPv6)",
            [0xFF; 6],
            v6(),
            &v6_aaaa,
            Pass(Counter::PassNotUnicast),
        ),
        (
            "IPv4 multicast MAC 01:00:5e:90:10:00",
            [0x01, 0x00, 0x5E, 0x90, 0x10, 0x00],
            v4(),
            &www_a,
            Pass(Counter::PassNotUnicast),
        ),
        (
            "IPv6 multicast MAC 33:33:00:00:00:01",
            [0x33, 0x33, 0, 0, 0, 1],
            v6(),
            &v6_aaaa,
            Pass(Counter::PassNotUnicast),
        ),
        (
            "universally administered unicast MAC 00:00:5e:00:53:01",
            [0x00, 0x00, 0x5E, 0x00, 0x53, 0x01],
            v4(),
            &www_a,
            Answer(1),
        ),
    ] {
        let mut f = frame(from, query);
        f.dst_mac = mac;
        cases.push(case(&format!("to the {what}"), f.encode(), expect));
    }

    let mut bad_header = frame(v4(), &www_a).encode();
    bad_header[14 + 10] ^= 0x01;
    cases.push(case(
        "wrong IPv4 header checksum",
        bad_header,
        Pass(Counter::PassIpChecksum),
    ));
    let mut bad_header = frame(v4(), &www_a);
    bad_header.vlans = vec![(TPID_8021Q, 100)];
    let mut bad_header = bad_header.encode();
    bad_header[14 + 4 + 10] ^= 0x80;
    cases.push(case(
        "wrong IPv4 header checksum behind a VLAN tag",
        bad_header,
        Pass(Counter::PassIpChecksum),
    ));

    // The fixture frames go to 192.0.2.1 in 192.0.2.0/24 (`serve`) and 2001:db8::1.
    let from = |src: &str, query: &Query| {
        let dst = if src.contains(':') { v6().1 } else { v4().1 };
        frame((src.parse().unwrap(), dst), query).encode()
    };
    for (what, src) in [
        ("our own address (IPv4)", "192.0.2.1"),
        ("our own address (IPv6)", "2001:db8::1"),
        ("the subnet's network address", "192.0.2.0"),
        ("the subnet's broadcast address", "192.0.2.255"),
        ("0.0.0.0", "0.0.0.0"),
        ("0.0.0.0/8", "0.1.2.3"),
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.0/8", "127.255.255.254"),
        ("multicast 224.0.0.1", "224.0.0.1"),
        ("multicast 239.255.255.250", "239.255.255.250"),
        ("the limited broadcast 255.255.255.255", "255.255.255.255"),
        ("::", "::"),
        ("::1", "::1"),
        ("multicast ff02::1", "ff02::1"),
        ("IPv4-mapped ::ffff:192.0.2.2", "::ffff:192.0.2.2"),
    ] {
        let query = if src.contains(':') { &v6_aaaa } else { &www_a };
        cases.push(case(
            &format!("from {what}"),
            from(src, query),
            Pass(Counter::PassMartian),
        ));
    }
    for (what, src) in [
        ("a host next to the broadcast address", "192.0.2.254"),
        (
            "an address ending in .0 outside our subnets",
            "198.51.100.0",
        ),
        (
            "an address ending in .255 outside our subnets",
            "203.0.113.255",
        ),
        ("the last address below multicast", "223.255.255.255"),
        // Linux routes 240.0.0.0/4 as unicast (bar 255.255.255.255), and answers from it.
        ("240.0.0.1", "240.0.0.1"),
        ("255.255.255.254", "255.255.255.254"),
        ("another host in our IPv6 prefix", "2001:db8::2:1"),
        ("a link-local address", "fe80::2"),
        ("::2, neither :: nor ::1", "::2"),
    ] {
        let (query, records) = if src.contains(':') {
            (&v6_aaaa, 4)
        } else {
            (&www_a, 1)
        };
        cases.push(case(
            &format!("from {what}: answered"),
            from(src, query),
            Answer(records),
        ));
    }

    // A client whose bit in the served entry's source filter another address set: the program
    // looks it up, finds no entry, and answers.
    let taken: Vec<usize> = served()
        .into_iter()
        .chain(server_subnet_edges())
        .map(|addr| source_filter_bit(&served_addr(addr)))
        .collect();
    let sharing = (0..=255)
        .map(|host| IpAddr::V4(Ipv4Addr::new(198, 51, 100, host)))
        .find(|addr| taken.contains(&source_filter_bit(&served_addr(*addr))))
        .expect("some address of a /24 shares a bit with the fixture's entries");
    cases.push(case(
        &format!("from {sharing}, whose filter bit another address set: answered"),
        from(&sharing.to_string(), &www_a),
        Answer(1),
    ));

    for port in dns_xdp_common::ports::REFLECTION_PORTS {
        for (family, addrs, query) in [("IPv4", v4(), &www_a), ("IPv6", v6(), &v6_aaaa)] {
            let mut f = frame(addrs, query);
            f.src_port = port;
            cases.push(case(
                &format!("from UDP port {port} ({family})"),
                f.encode(),
                Pass(Counter::PassSourcePort),
            ));
        }
    }
    for port in [1, 6, 8, 36, 38, 53, 1024, 65535] {
        let mut f = frame(v4(), &www_a);
        f.src_port = port;
        cases.push(case(
            &format!("from UDP port {port}: answered"),
            f.encode(),
            Answer(1),
        ));
    }
    cases
}

/// Runs the program once on `frame`, returning the action and the frame after it.
fn run(dataplane: &Dataplane, frame: &[u8]) -> (u32, Vec<u8>) {
    let mut out = vec![0u8; 4096];
    let result = dataplane
        .responder()
        .test_run(TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            ..TestRunOptions::new()
        })
        .expect("BPF_PROG_TEST_RUN");
    out.truncate(result.data_size_out as usize);
    (result.return_value, out)
}

fn load(zones: Vec<Zone>) -> Dataplane {
    let (answers, skipped) = AnswerSet::of(&Snapshot::unsigned(zones));
    assert!(
        skipped.is_empty(),
        "fixture zone fits the fast path: {skipped:?}"
    );
    let mut dataplane =
        Dataplane::load(answers.len() as u32, 1232, None).expect("load XDP program");
    serve(&mut dataplane);
    dataplane.publish(&answers, &[]).expect("publish answers");
    dataplane
}

/// The server addresses of the fixture frames.
fn served() -> [IpAddr; 2] {
    [v4().1, v6().1]
}

/// The server's IPv4 subnet: 192.0.2.0/24.
const SERVER_NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);

/// Fills the address map as the agent does on a host whose server address is in
/// `SERVER_NETMASK`'s subnet: the served addresses, and the subnet's network and broadcast
/// addresses as sources never answered.
fn serve(dataplane: &mut Dataplane) {
    dataplane
        .serve_addresses(served(), server_subnet_edges())
        .unwrap();
}

fn server_subnet_edges() -> Vec<IpAddr> {
    let IpAddr::V4(server) = v4().1 else {
        unreachable!("v4() is IPv4")
    };
    ipv4_subnet_edges(server, SERVER_NETMASK, None)
        .map(IpAddr::V4)
        .collect()
}

/// `addr` as the address map's key.
fn served_addr(addr: IpAddr) -> ServedAddr {
    match addr {
        IpAddr::V4(v4) => ServedAddr::v4(v4.octets()),
        IpAddr::V6(v6) => ServedAddr::v6(v6.octets()),
    }
}

#[test]
fn fixtures_through_bpf_prog_test_run() {
    if !require_root("fixtures_through_bpf_prog_test_run") {
        return;
    }
    let zone = fixture_zone();
    let dataplane = load(vec![zone.clone()]);
    let oracle = Responder::for_zones(vec![zone], 1232);

    let cases = cases();
    let failures = run_cases(&dataplane, &cases, &oracle);
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

/// Runs every case through the program and checks it; returns what failed, one line each.
fn run_cases(dataplane: &Dataplane, cases: &[Case], oracle: &Responder) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let before = dataplane.counters().unwrap();
        let (action, out) = run(dataplane, &case.frame);
        let after = dataplane.counters().unwrap();
        let outcome = match &case.expect {
            Expect::Pass(counter) => check_pass(case, action, &out, *counter, &before, &after),
            Expect::Answer(records) => check_answer(case, action, &out, *records, oracle),
        };
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", case.what));
        }
    }
    failures
}

fn check_pass(
    case: &Case,
    action: u32,
    out: &[u8],
    counter: Counter,
    before: &dns_xdp_user::fastpath::counters::Counters,
    after: &dns_xdp_user::fastpath::counters::Counters,
) -> Result<(), String> {
    if action != XDP_PASS {
        return Err(format!("action {action}, expected XDP_PASS"));
    }
    if out != case.frame {
        return Err("passed frame was modified".into());
    }
    let changed: Vec<_> = after
        .iter()
        .zip(before.iter())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((c, _), _)| c)
        .collect();
    if changed != [counter] || after.get(counter) != before.get(counter) + 1 {
        return Err(format!(
            "counted {changed:?} (+{}), expected [{counter:?}] +1",
            after.get(counter) - before.get(counter)
        ));
    }
    Ok(())
}

fn check_answer(
    case: &Case,
    action: u32,
    out: &[u8],
    records: usize,
    oracle: &Responder,
) -> Result<(), String> {
    let (query, reply) = check_frame(&case.frame, action, out)?;
    // The general path, not the rendered shortcut that shares the fast path's bytes.
    let expected = oracle
        .respond_in_full(&query.payload, Transport::Udp, None)
        .ok_or("the fallback server gives no answer")?;
    let got =
        Message::from_vec(&reply.payload).map_err(|e| format!("hickory cannot decode: {e}"))?;
    let want = Message::from_vec(&expected).expect("oracle reply decodes");
    let (h, w) = (&got.metadata, &want.metadata);
    if h.id != 0x5eed || h.message_type != MessageType::Response || !h.authoritative || h.truncation
    {
        return Err(format!("header {h:?}"));
    }
    if h.response_code != ResponseCode::NoError || h.recursion_available || h.authentic_data {
        return Err(format!("header {h:?}"));
    }
    let query_flags = u16::from_be_bytes([query.payload[2], query.payload[3]]);
    if h.recursion_desired != (query_flags & 0x0100 != 0)
        || h.checking_disabled != (query_flags & 0x0010 != 0)
    {
        return Err(format!("RD/CD not copied: {h:?}"));
    }
    if h != w {
        return Err(format!("header {h:?} differs from the fallback's {w:?}"));
    }
    if got.answers.len() != records {
        return Err(format!(
            "{} answer records, expected {records}",
            got.answers.len()
        ));
    }
    if got.queries != want.queries || got.answers != want.answers {
        return Err(format!(
            "question/answers differ from the fallback's:\n    got  {:?} {:?}\n    want {:?} {:?}",
            got.queries, got.answers, want.queries, want.answers
        ));
    }
    // The question is echoed byte for byte: the client's case (0x20) survives.
    let qlen = query.payload.len()
        - if got.edns.is_some() {
            11 + opt_rdata_len(&query.payload)
        } else {
            0
        };
    if reply.payload[12..qlen] != query.payload[12..qlen] {
        return Err("question not echoed byte for byte".into());
    }
    if got.edns != want.edns
        || got.authorities != want.authorities
        || got.additionals != want.additionals
    {
        return Err(format!(
            "EDNS/authority/additional differ: {:?} vs {:?}",
            got.edns, want.edns
        ));
    }
    if let Some(edns) = &got.edns {
        // DO echoed (RFC 3225 §3): the fallback's OPT, compared above, has it as the query did.
        if edns.max_payload() != 1232 || edns.version() != 0 {
            return Err(format!("OPT {edns:?}"));
        }
        if !edns.options().as_ref().is_empty() {
            return Err("options echoed in the answer's OPT".into());
        }
    }
    if reply.payload != expected {
        return Err(format!(
            "bytes differ from the fallback's\n    got  {:02x?}\n    want {:02x?}",
            reply.payload, expected
        ));
    }
    Ok(())
}

/// Checks that `out` is the answer frame to `frame`: `XDP_TX`, every checksum right, MACs,
/// addresses and ports swapped, a fresh IP TTL. Returns both taken apart.
fn check_frame(
    frame: &[u8],
    action: u32,
    out: &[u8],
) -> Result<(dns_xdp_tests::packet::Reply, dns_xdp_tests::packet::Reply), String> {
    if action != XDP_TX {
        return Err(format!("action {action}, expected XDP_TX"));
    }
    let query = parse_frame(frame, true).map_err(|e| format!("fixture itself: {e}"))?;
    let reply = parse_reply(out)?;
    if reply.dst_mac != query.src_mac || reply.src_mac != query.dst_mac {
        return Err("MAC addresses not swapped".into());
    }
    if reply.vlans != query.vlans {
        return Err(format!(
            "VLAN tags {:?}, expected {:?}",
            reply.vlans, query.vlans
        ));
    }
    if (reply.src, reply.dst) != (query.dst, query.src) {
        return Err(format!(
            "addresses {} -> {} not swapped",
            reply.src, reply.dst
        ));
    }
    if (reply.src_port, reply.dst_port) != (53, query.src_port) {
        return Err("ports not swapped".into());
    }
    if reply.ttl != 64 {
        return Err(format!("IP TTL {}", reply.ttl));
    }
    Ok((query, reply))
}

/// RDLENGTH of the OPT record that ends `payload`.
fn opt_rdata_len(payload: &[u8]) -> usize {
    // Options are the last bytes; RDLENGTH sits just before them. Walk from the question end.
    let mut at = 12;
    while payload[at] != 0 {
        at += 1 + payload[at] as usize;
    }
    at += 1 + 4;
    u16::from_be_bytes([payload[at + 9], payload[at + 10]]) as usize
}

#[test]
fn nothing_passes_before_the_first_publish() {
    if !require_root("nothing_passes_before_the_first_publish") {
        return;
    }
    let mut dataplane = Dataplane::load(16, 1232, None).expect("load XDP program");
    serve(&mut dataplane);
    let frame = frame(v4(), &Query::new("www.example.com.", A)).encode();
    let (action, out) = run(&dataplane, &frame);
    assert_eq!(action, XDP_PASS);
    assert_eq!(out, frame);
    assert_eq!(dataplane.counters().unwrap().get(Counter::PassMiss), 1);
}

#[test]
fn a_new_generation_replaces_the_old_one_whole() {
    if !require_root("a_new_generation_replaces_the_old_one_whole") {
        return;
    }
    let origin = Name::from_ascii("example.com.").unwrap();
    let zone = |addr: &str, extra: &str| {
        Zone::parse(
            &origin,
            &format!(
                "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.53\nwww A {addr}\n{extra}"
            ),
            "gen.zone",
        )
        .unwrap()
    };
    let first = zone("192.0.2.10", "old A 192.0.2.11\n");
    let mut dataplane = load(vec![first]);
    let second = zone("192.0.2.20", "");
    let (answers, _) = AnswerSet::of(&Snapshot::unsigned([second.clone()]));
    assert_eq!(dataplane.publish(&answers, &[]).unwrap().generation, 2);

    let keys = dataplane.answer_keys();
    assert!(
        keys.iter().all(|k| k.generation == 2),
        "old generation left behind"
    );
    assert_eq!(keys.len(), answers.len());

    let (action, out) = run(
        &dataplane,
        &frame(v4(), &Query::new("www.example.com.", A)).encode(),
    );
    assert_eq!(action, XDP_TX);
    let reply = parse_reply(&out).unwrap();
    let message = Message::from_vec(&reply.payload).unwrap();
    assert_eq!(message.answers[0].data.to_string(), "192.0.2.20");
    let (action, _) = run(
        &dataplane,
        &frame(v4(), &Query::new("old.example.com.", A)).encode(),
    );
    assert_eq!(action, XDP_PASS, "a name only the old generation had");
}

#[test]
fn a_hash_collision_passes_up_instead_of_answering_wrong() {
    if !require_root("a_hash_collision_passes_up_instead_of_answering_wrong") {
        return;
    }
    let zone = fixture_zone();
    let (answers, _) = AnswerSet::of(&Snapshot::unsigned([zone.clone()]));
    let www = answers
        .iter()
        .find(|a| a.name.starts_with(b"\x03www\x07example") && a.qtype == A)
        .expect("www A");
    // Forge the worst case: the key of "wwx.example.com." leads to the answer for www.
    let (wwx, len) = dns_xdp_user::render::name_key(&Name::from_ascii("wwx.example.com.").unwrap());
    let mut forged = www.clone();
    forged.name_hash = dns_xdp_common::answer::name_hash(&wwx, len);
    let mut dataplane = Dataplane::load(4, 1232, None).expect("load XDP program");
    serve(&mut dataplane);
    dataplane
        .publish(&AnswerSet::from_answers(vec![forged]), &[])
        .unwrap();

    let frame = frame(v4(), &Query::new("wwx.example.com.", A)).encode();
    let (action, out) = run(&dataplane, &frame);
    assert_eq!(
        action, XDP_PASS,
        "a colliding name must not get another name's answer"
    );
    assert_eq!(out, frame);
    assert_eq!(dataplane.counters().unwrap().get(Counter::PassMiss), 1);
}

#[test]
fn answers_never_exceed_our_advertised_payload() {
    if !require_root("answers_never_exceed_our_advertised_payload") {
        return;
    }
    let zone = fixture_zone();
    let (answers, _) = AnswerSet::of(&Snapshot::unsigned([zone.clone()]));
    let mut dataplane = Dataplane::load(answers.len() as u32, 512, None).expect("load");
    serve(&mut dataplane);
    dataplane.publish(&answers, &[]).unwrap();
    let oracle = Responder::for_zones(vec![zone], 512);

    // The client offers 4096 bytes, we advertise 512: the 540-byte answer goes to the fallback,
    // which truncates it, rather than out of the fast path.
    let query = Query::new("big.example.com.", A).edns(Opt::new(4096));
    let big = frame(v4(), &query).encode();
    let (action, out) = run(&dataplane, &big);
    assert_eq!(action, XDP_PASS);
    assert_eq!(out, big);
    assert_eq!(dataplane.counters().unwrap().get(Counter::PassTooBig), 1);
    let fallback = Message::from_vec(
        &oracle
            .respond_in_full(&query.encode(), Transport::Udp, None)
            .unwrap(),
    )
    .unwrap();
    assert!(fallback.metadata.truncation);
    assert_eq!(fallback.edns.unwrap().max_payload(), 512);

    // What fits is answered, with our size in the OPT.
    let small = frame(
        v4(),
        &Query::new("www.example.com.", A).edns(Opt::new(4096)),
    )
    .encode();
    let (action, out) = run(&dataplane, &small);
    assert_eq!(action, XDP_TX);
    let reply = Message::from_vec(&parse_reply(&out).unwrap().payload).unwrap();
    assert_eq!(reply.edns.unwrap().max_payload(), 512);
}

// Steering: answers by the client's view, and weighted variants.

const IN_NO_REGION_V4: &str = "192.0.2.2";
const IN_NO_REGION_V6: &str = "2001:db8::2";

/// Client prefix → view, as steering would publish them.
fn view_prefixes() -> Vec<ViewPrefix> {
    [
        ("198.51.100.0", 24, 1),
        ("203.0.113.0", 24, 2),
        // Longer prefixes win: part of region 2's block belongs to region 1, one address to
        // no region.
        ("203.0.113.192", 26, 1),
        ("203.0.113.77", 32, 0),
        ("2001:db8:100::", 48, 1),
        ("2001:db8:200::", 48, 2),
        ("2001:db8:200:3::", 64, 3),
        // A view no pool has an answer for.
        ("2001:db8:400::", 48, 4),
    ]
    .into_iter()
    .map(|(addr, prefix_len, view)| ViewPrefix {
        addr: addr.parse().unwrap(),
        prefix_len,
        view,
    })
    .collect()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

fn weighted_variants(n: usize) -> Vec<Vec<IpAddr>> {
    (0..n)
        .map(|i| ips(&[&format!("192.0.2.{}", 11 + i)]))
        .collect()
}

/// The fixture zone's answers plus the steered pools.
fn steered_answers(weighted: usize) -> AnswerSet {
    let (mut set, _) = AnswerSet::of(&Snapshot::unsigned([fixture_zone()]));
    let name = |n: &str| Name::from_ascii(n).unwrap();
    let add = |set: &mut AnswerSet, n, qtype, per_view, views: Vec<Option<Vec<Vec<IpAddr>>>>| {
        set.add_steered(&name(n), qtype, 60, per_view, &views, None)
            .unwrap()
    };
    // View 3 is NODATA for A; view 4 has no answer at all.
    add(
        &mut set,
        "geo.example.com.",
        RecordType::A,
        true,
        vec![
            Some(vec![ips(&["192.0.2.100"])]),
            Some(vec![ips(&["198.51.100.10"])]),
            Some(vec![ips(&["203.0.113.10", "203.0.113.11"])]),
            None,
        ],
    );
    add(
        &mut set,
        "geo.example.com.",
        RecordType::AAAA,
        true,
        vec![
            Some(vec![ips(&["2001:db8::100"])]),
            Some(vec![ips(&["2001:db8:100::10"])]),
            Some(vec![ips(&["2001:db8:200::10"])]),
            Some(vec![ips(&["2001:db8:200:3::10"])]),
        ],
    );
    add(
        &mut set,
        "nodefault.example.com.",
        RecordType::A,
        true,
        vec![None, Some(vec![ips(&["198.51.100.20"])])],
    );
    add(
        &mut set,
        "weighted.example.com.",
        RecordType::A,
        false,
        vec![Some(weighted_variants(weighted))],
    );
    set
}

fn load_steered(set: &AnswerSet) -> Dataplane {
    let mut dataplane = Dataplane::load(set.len() as u32, 1232, None).expect("load XDP program");
    serve(&mut dataplane);
    dataplane
        .publish(set, &view_prefixes())
        .expect("publish answers and views");
    dataplane
}

/// The entry for (`name`, `qtype`, `view`, `variant`).
fn entry<'a>(set: &'a AnswerSet, name: &str, qtype: u16, view: u8, variant: u8) -> &'a Answer {
    let (key, len) = dns_xdp_user::render::name_key(&Name::from_ascii(name).unwrap());
    set.iter()
        .find(|a| {
            *a.name == key[..len] && a.qtype == qtype && a.view == view && a.variant == variant
        })
        .unwrap_or_else(|| panic!("no entry {name} {qtype} view {view} variant {variant}"))
}

enum Steer {
    /// `XDP_TX` with the answer of this view (variant 0).
    View(u8),
    Pass(Counter),
    /// A zone name: the fallback's general path is the oracle.
    Zone(usize),
}

struct SteerCase {
    what: &'static str,
    frame: Vec<u8>,
    name: &'static str,
    qtype: u16,
    expect: Steer,
}

fn steer_cases() -> Vec<SteerCase> {
    use Steer::*;
    let server_v4: IpAddr = v4().1;
    let server_v6: IpAddr = v6().1;
    let from = |client: &str, query: &Query| {
        let client: IpAddr = client.parse().unwrap();
        let server = if client.is_ipv4() {
            server_v4
        } else {
            server_v6
        };
        Frame::udp(client, server, query.encode())
    };
    let case = |what, client: &str, name, qtype, expect| SteerCase {
        what,
        frame: from(client, &Query::new(name, qtype)).encode(),
        name,
        qtype,
        expect,
    };
    let mut cases = vec![
        case(
            "IPv4 client in region 1",
            "198.51.100.7",
            "geo.example.com.",
            A,
            View(1),
        ),
        case(
            "IPv4 client in region 2, 2 records",
            "203.0.113.9",
            "geo.example.com.",
            A,
            View(2),
        ),
        case(
            "IPv4 client in a longer prefix of region 1 inside region 2's",
            "203.0.113.200",
            "geo.example.com.",
            A,
            View(1),
        ),
        case(
            "IPv4 /32 inside region 2 mapped back to the default view",
            "203.0.113.77",
            "geo.example.com.",
            A,
            View(0),
        ),
        case(
            "IPv4 client in no region gets the default view",
            IN_NO_REGION_V4,
            "geo.example.com.",
            A,
            View(0),
        ),
        case(
            "IPv6 client in region 1",
            "2001:db8:100::5",
            "geo.example.com.",
            AAAA,
            View(1),
        ),
        case(
            "IPv6 client in region 2",
            "2001:db8:200:1::5",
            "geo.example.com.",
            AAAA,
            View(2),
        ),
        case(
            "IPv6 client in region 3, a /64 inside region 2's /48",
            "2001:db8:200:3::5",
            "geo.example.com.",
            AAAA,
            View(3),
        ),
        case(
            "IPv6 client in no region gets the default view",
            IN_NO_REGION_V6,
            "geo.example.com.",
            AAAA,
            View(0),
        ),
        case(
            "view that is NODATA for the type passes up",
            "2001:db8:200:3::5",
            "geo.example.com.",
            A,
            Pass(Counter::PassNoView),
        ),
        case(
            "view without any entry passes up",
            "2001:db8:400::5",
            "geo.example.com.",
            A,
            Pass(Counter::PassNoView),
        ),
        case(
            "pool without a default answer, client in no region, passes up",
            IN_NO_REGION_V4,
            "nodefault.example.com.",
            A,
            Pass(Counter::PassNoView),
        ),
        case(
            "pool without a default answer, client in region 1",
            "198.51.100.7",
            "nodefault.example.com.",
            A,
            View(1),
        ),
        case(
            "mixed-case name, client in region 2",
            "203.0.113.9",
            "GeO.ExAmPlE.cOm.",
            A,
            View(2),
        ),
        case(
            "zone name asked from region 1: no view lookup",
            "198.51.100.7",
            "www.example.com.",
            A,
            Zone(1),
        ),
    ];
    cases.push(SteerCase {
        what: "EDNS query, client in region 1",
        frame: from(
            "198.51.100.7",
            &Query::new("geo.example.com.", A).edns(Opt::new(1232)),
        )
        .encode(),
        name: "geo.example.com.",
        qtype: A,
        expect: View(1),
    });
    cases.push(SteerCase {
        what: "ECS query passes up to the fallback, which answers by the subnet",
        frame: from(
            IN_NO_REGION_V4,
            &Query::new("geo.example.com.", A)
                .edns(Opt::new(1232).option(OPT_ECS, &[0, 1, 24, 0, 198, 51, 100])),
        )
        .encode(),
        name: "geo.example.com.",
        qtype: A,
        expect: Pass(Counter::PassEdns),
    });
    let mut tagged = from("2001:db8:100::5", &Query::new("geo.example.com.", AAAA));
    tagged.vlans = vec![(TPID_8021AD, 100), (TPID_8021Q, 200)];
    cases.push(SteerCase {
        what: "QinQ frame, IPv6 client in region 1",
        frame: tagged.encode(),
        name: "geo.example.com.",
        qtype: AAAA,
        expect: View(1),
    });
    cases
}

#[test]
fn answers_by_the_clients_view() {
    if !require_root("answers_by_the_clients_view") {
        return;
    }
    let set = steered_answers(4);
    let dataplane = load_steered(&set);
    let oracle = Responder::for_zones(vec![fixture_zone()], 1232);
    let mut failures = Vec::new();
    let cases = steer_cases();
    for case in &cases {
        let before = dataplane.counters().unwrap();
        let (action, out) = run(&dataplane, &case.frame);
        let after = dataplane.counters().unwrap();
        let as_case = Case {
            what: case.what.to_string(),
            frame: case.frame.clone(),
            expect: Expect::Answer(0),
        };
        let outcome = match case.expect {
            Steer::Pass(counter) => check_pass(&as_case, action, &out, counter, &before, &after),
            Steer::Zone(records) => check_answer(&as_case, action, &out, records, &oracle),
            Steer::View(view) => check_frame(&case.frame, action, &out).and_then(|(q, r)| {
                let want = spliced(entry(&set, case.name, case.qtype, view, 0), &q.payload);
                if r.payload == want {
                    Ok(())
                } else {
                    Err(format!(
                        "not view {view}'s answer\n    got  {:02x?}\n    want {:02x?}",
                        r.payload, want
                    ))
                }
            }),
        };
        if let Err(e) = outcome {
            failures.push(format!("{}: {e}", case.what));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} steering fixtures failed:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

/// Runs the weighted query `runs` times; returns how often each variant answered (by index)
/// and how many runs passed up (each with the frame unchanged).
fn run_weighted(dataplane: &Dataplane, set: &AnswerSet, runs: usize) -> (Vec<usize>, usize) {
    let frame = frame(v4(), &Query::new("weighted.example.com.", A)).encode();
    let payload = parse_frame(&frame, false).unwrap().payload;
    let variants: Vec<Vec<u8>> = (0..)
        .map_while(|variant| {
            let (key, len) =
                dns_xdp_user::render::name_key(&Name::from_ascii("weighted.example.com.").unwrap());
            set.iter()
                .find(|a| *a.name == key[..len] && a.variant == variant)
                .map(|a| spliced(a, &payload))
        })
        .collect();
    let mut seen = vec![0; variants.len()];
    let mut passed = 0;
    for _ in 0..runs {
        let (action, out) = run(dataplane, &frame);
        if action == XDP_PASS {
            assert_eq!(out, frame, "a passed frame is unchanged");
            passed += 1;
            continue;
        }
        let (_, reply) = check_frame(&frame, action, &out).unwrap();
        let variant = variants
            .iter()
            .position(|v| *v == reply.payload)
            .unwrap_or_else(|| panic!("reply is no published variant: {:02x?}", reply.payload));
        seen[variant] += 1;
    }
    (seen, passed)
}

#[test]
fn weighted_variants_are_picked_at_random() {
    if !require_root("weighted_variants_are_picked_at_random") {
        return;
    }
    let set = steered_answers(4);
    let dataplane = load_steered(&set);
    let (seen, passed) = run_weighted(&dataplane, &set, 2_000);
    assert_eq!(passed, 0);
    // 500 expected each; 350 is 7.7 standard deviations below.
    assert!(
        seen.iter().all(|&n| n >= 350),
        "variants not uniform: {seen:?}"
    );
    assert_eq!(dataplane.counters().unwrap().answered(), 2_000);
}

#[test]
fn a_missing_variant_passes_up() {
    if !require_root("a_missing_variant_passes_up") {
        return;
    }
    let set = steered_answers(4);
    let mut dataplane = load_steered(&set);
    // Variant 2 deleted while variant 0 still counts 4: the moment a shrink is half done.
    let without = AnswerSet::from_answers(
        set.iter()
            .filter(|a| !(a.variant == 2 && a.name.starts_with(b"\x08weighted")))
            .cloned()
            .collect(),
    );
    assert_eq!(
        dataplane
            .update_answers(&set, &without)
            .into_result()
            .unwrap(),
        Updated {
            written: 0,
            deleted: 1
        }
    );
    let (seen, passed) = run_weighted(&dataplane, &set, 2_000);
    assert_eq!(seen[2], 0);
    assert!((350..=650).contains(&passed), "{passed} of 2000 passed up");
    let counters = dataplane.counters().unwrap();
    assert_eq!(counters.get(Counter::PassNoVariant), passed as u64);
    assert_eq!(counters.answered(), 2_000 - passed as u64);
}

#[test]
fn in_place_updates_write_only_what_changed() {
    if !require_root("in_place_updates_write_only_what_changed") {
        return;
    }
    let old = steered_answers(4);
    let mut dataplane = load_steered(&old);
    let keys_before = dataplane.answer_keys().len();
    // Region 1 moves to another address; weighted grows from 4 variants to 5 (each variant 0..3
    // is rewritten because its variant count changes).
    let mut new = steered_answers(5);
    let (mut zone_only, _) = AnswerSet::of(&Snapshot::unsigned([fixture_zone()]));
    let geo = Name::from_ascii("geo.example.com.").unwrap();
    zone_only
        .add_steered(
            &geo,
            RecordType::A,
            60,
            true,
            &[
                Some(vec![ips(&["192.0.2.100"])]),
                Some(vec![ips(&["198.51.100.11"])]),
                Some(vec![ips(&["203.0.113.10", "203.0.113.11"])]),
                None,
            ],
            None,
        )
        .unwrap();
    let region1 = entry(&zone_only, "geo.example.com.", A, 1, 0).clone();
    new = AnswerSet::from_answers(
        new.iter()
            .filter(|a| a.key(0) != region1.key(0))
            .cloned()
            .chain([region1.clone()])
            .collect(),
    );
    assert_eq!(
        dataplane.update_answers(&old, &new).into_result().unwrap(),
        Updated {
            written: 6,
            deleted: 0
        }
    );
    assert_eq!(dataplane.generation(), 1, "in place: no new generation");
    assert_eq!(dataplane.answer_keys().len(), keys_before + 1);
    assert!(dataplane.answer_keys().iter().all(|k| k.generation == 1));

    let query = Query::new("geo.example.com.", A);
    let frame = Frame::udp("198.51.100.7".parse().unwrap(), v4().1, query.encode()).encode();
    let (action, out) = run(&dataplane, &frame);
    let (q, reply) = check_frame(&frame, action, &out).unwrap();
    assert_eq!(reply.payload, spliced(&region1, &q.payload));
    let (seen, _) = run_weighted(&dataplane, &new, 500);
    assert!(
        seen.iter().all(|&n| n > 0),
        "all 5 variants answer: {seen:?}"
    );

    // And back: variant 4 goes after variant 0 stops counting it.
    assert_eq!(
        dataplane.update_answers(&new, &old).into_result().unwrap(),
        Updated {
            written: 5,
            deleted: 1
        }
    );
    assert_eq!(dataplane.answer_keys().len(), keys_before);
    assert_eq!(
        dataplane.update_answers(&old, &old).into_result().unwrap(),
        Updated::default()
    );
}

#[test]
fn the_view_trie_follows_each_published_set() {
    if !require_root("the_view_trie_follows_each_published_set") {
        return;
    }
    let set = steered_answers(4);
    let mut dataplane = load_steered(&set);
    let trie = |d: &Dataplane| -> HashMap<(IpAddr, u8), u8> {
        d.view_prefixes()
            .unwrap()
            .into_iter()
            .map(|(key, view)| {
                let addr = std::net::Ipv6Addr::from(key.addr);
                let (addr, len) = match addr.to_ipv4_mapped() {
                    Some(v4) if key.prefix_len >= 96 => (IpAddr::V4(v4), key.prefix_len - 96),
                    _ => (IpAddr::V6(addr), key.prefix_len),
                };
                ((addr, len as u8), view)
            })
            .collect()
    };
    let wanted = |prefixes: &[ViewPrefix]| -> HashMap<(IpAddr, u8), u8> {
        prefixes
            .iter()
            .map(|p| ((p.addr, p.prefix_len), p.view))
            .collect()
    };
    assert_eq!(trie(&dataplane), wanted(&view_prefixes()));

    // Region 1's IPv4 block moves to region 2, 203.0.113.0/24 goes, a new prefix comes; a
    // prefix given with host bits is stored masked.
    let mut next: Vec<ViewPrefix> = view_prefixes()
        .into_iter()
        .filter(|p| p.addr != "203.0.113.0".parse::<IpAddr>().unwrap())
        .map(|p| {
            if p.addr == "198.51.100.0".parse::<IpAddr>().unwrap() {
                ViewPrefix { view: 2, ..p }
            } else {
                p
            }
        })
        .collect();
    next.push(ViewPrefix {
        addr: "192.0.2.130".parse().unwrap(),
        prefix_len: 25,
        view: 1,
    });
    assert_eq!(dataplane.publish(&set, &next).unwrap().generation, 2);
    let mut expected = wanted(&next);
    expected.remove(&("192.0.2.130".parse().unwrap(), 25));
    expected.insert(("192.0.2.128".parse().unwrap(), 25), 1);
    assert_eq!(trie(&dataplane), expected);

    let geo = |dataplane: &Dataplane, client: &str| {
        let query = Query::new("geo.example.com.", A);
        let frame = Frame::udp(client.parse().unwrap(), v4().1, query.encode()).encode();
        let (action, out) = run(dataplane, &frame);
        let (q, reply) = check_frame(&frame, action, &out).unwrap();
        (q.payload, reply.payload)
    };
    let (q, reply) = geo(&dataplane, "198.51.100.7");
    assert_eq!(reply, spliced(entry(&set, "geo.example.com.", A, 2, 0), &q));
    let (q, reply) = geo(&dataplane, "203.0.113.9");
    assert_eq!(reply, spliced(entry(&set, "geo.example.com.", A, 0, 0), &q));

    // The same prefixes again: the live trie stays as it is.
    assert_eq!(dataplane.publish(&set, &next).unwrap().generation, 3);
    assert_eq!(trie(&dataplane), expected);

    // A bad prefix refuses the whole publish; what is live stays.
    assert!(matches!(
        dataplane.publish(
            &set,
            &[ViewPrefix {
                addr: "192.0.2.0".parse().unwrap(),
                prefix_len: 33,
                view: 1
            }]
        ),
        Err(dns_xdp_user::fastpath::dataplane::DataplaneError::BadPrefix { .. })
    ));
    assert_eq!(dataplane.generation(), 3);
    assert_eq!(trie(&dataplane), expected);

    assert_eq!(dataplane.publish(&set, &[]).unwrap().generation, 4);
    assert!(trie(&dataplane).is_empty());
    let (q, reply) = geo(&dataplane, "198.51.100.7");
    assert_eq!(reply, spliced(entry(&set, "geo.example.com.", A, 0, 0), &q));
}

/// The fixture zone plus 24 A records at `mid` (fits the map with its RRSIG, but not a
/// 512-byte answer) and the placeholder of a pool at `weighted`, signed with new ECDSA P-256
/// keys in a fresh key directory (removed when the guard drops).
fn signed_zone() -> (Zone, Arc<Signer>, KeysDir) {
    let origin = Name::from_ascii("example.com.").unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone");
    let mut text = std::fs::read_to_string(path).unwrap();
    for i in 1..=24 {
        text.push_str(&format!("mid IN A 203.0.113.{i}\n"));
    }
    text.push_str("weighted IN A 192.0.2.11\n");
    let mut zone = Zone::parse(&origin, &text, "signed fixture").unwrap();
    let dir =
        KeysDir(std::env::temp_dir().join(format!("dns-xdp-fixture-keys-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    generate_zone_keys(
        &dir.0,
        &origin,
        KeyAlgorithm::EcdsaP256Sha256,
        false,
        unix_now(),
    )
    .unwrap();
    let signer = Signer::load(&dir.0, &origin, SigningConfig::default()).unwrap();
    for rrset in signer.apex_rrsets() {
        zone.insert_rrset(rrset.clone());
    }
    (zone, Arc::new(signer), KeysDir(dir.0.clone()))
}

struct KeysDir(std::path::PathBuf);

impl Drop for KeysDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn signed_cases() -> Vec<Case> {
    use Expect::*;
    let q = |name: &str, qtype| Query::new(name, qtype);
    let dnssec = |payload| Opt {
        dnssec_ok: true,
        ..Opt::new(payload)
    };
    let mut cases = vec![
        case(
            "signed A over IPv4, DO=1: RRset and RRSIG",
            frame(v4(), &q("www.example.com.", A).edns(dnssec(1232))).encode(),
            Answer(2),
        ),
        case(
            "signed AAAA over IPv6, 4 records, DO=1",
            frame(v6(), &q("v6.example.com.", AAAA).edns(dnssec(1232))).encode(),
            Answer(5),
        ),
        case(
            "signed, DO=1 with a 512-byte buffer that fits",
            frame(v6(), &q("v6.example.com.", AAAA).edns(dnssec(512))).encode(),
            Answer(5),
        ),
        case(
            "signed, mixed-case name, DO=1 and CO and a COOKIE",
            frame(
                v4(),
                &q("MuLtI.example.COM.", A).edns(Opt {
                    other_flags: EDNS_CO,
                    ..dnssec(4096).option(OPT_COOKIE, &[7; 8])
                }),
            )
            .encode(),
            Answer(4),
        ),
        case(
            "signed 24 A records, DO=1",
            frame(v4(), &q("mid.example.com.", A).edns(dnssec(1232))).encode(),
            Answer(25),
        ),
        case(
            "signed 24 A records, DO=1, too big for the client's 512",
            frame(v4(), &q("mid.example.com.", A).edns(dnssec(512))).encode(),
            Pass(Counter::PassTooBig),
        ),
        case(
            "signed 24 A records, DO=0: no RRSIG",
            frame(v4(), &q("mid.example.com.", A).edns(Opt::new(512))).encode(),
            Answer(24),
        ),
        case(
            "signed, no EDNS: no RRSIG",
            frame(v4(), &q("www.example.com.", A)).encode(),
            Answer(1),
        ),
        case(
            "signed, RRSIG too large to publish beside 31 records: DO=1 passes",
            frame(v4(), &q("big.example.com.", A).edns(dnssec(1232))).encode(),
            Pass(Counter::PassUnsigned),
        ),
        case(
            "signed, RRSIG too large to publish: DO=0 still answered",
            frame(v6(), &q("big.example.com.", A).edns(Opt::new(1232))).encode(),
            Answer(31),
        ),
    ];
    let mut f = frame(v6(), &q("v6.example.com.", AAAA).edns(dnssec(1232)));
    f.vlans = vec![(TPID_8021AD, 100), (TPID_8021Q, 200)];
    cases.push(case("signed over QinQ, DO=1", f.encode(), Answer(5)));
    let mut f = frame(v4(), &q("www.example.com.", A).edns(dnssec(1232)));
    f.udp_checksum = Some(0);
    cases.push(case(
        "signed, DO=1, IPv4 UDP checksum absent",
        f.encode(),
        Answer(2),
    ));
    cases
}

/// DO=1 queries to a signed zone are answered in the kernel with the RRSIG the agent published,
/// byte for byte what the fallback sends: both sign through the zone's one signer, whose cache
/// gives them the same signature.
#[test]
fn signed_answers_match_the_fallback() {
    if !require_root("signed_answers_match_the_fallback") {
        return;
    }
    let (zone, signer, _keys) = signed_zone();
    let snapshot = || Snapshot::new([(zone.clone(), Some(signer.clone()))]);
    let (mut set, skipped) = AnswerSet::of(&snapshot());
    assert!(skipped.is_empty(), "{skipped:?}");
    assert!(set.renew_at().is_some(), "the set knows when to re-sign");
    // A weighted pool of the signed zone: each variant is an RRset signed on its own.
    let weighted = Name::from_ascii("weighted.example.com.").unwrap();
    let variants = weighted_variants(3);
    set.add_steered(
        &weighted,
        RecordType::A,
        60,
        false,
        &[Some(variants.clone())],
        Some(&signer),
    )
    .unwrap();
    let mut dataplane = Dataplane::load(set.len() as u32, 1232, None).expect("load XDP program");
    serve(&mut dataplane);
    dataplane.publish(&set, &[]).expect("publish answers");
    let oracle = Responder::for_snapshot(snapshot(), 1232);

    let cases = signed_cases();
    let mut failures = run_cases(&dataplane, &cases, &oracle);

    // The weighted pool: the fallback with that one variant in its table is the oracle for
    // each variant; every kernel answer must be one of them, and each must come up.
    let oracles: Vec<Vec<u8>> = variants
        .iter()
        .map(|addrs| {
            let rrset = dns_xdp_user::zone::RrSet {
                name: weighted.clone(),
                rtype: RecordType::A,
                ttl: 60,
                rdata: addrs
                    .iter()
                    .map(|a| match a {
                        IpAddr::V4(v4) => hickory_proto::rr::RData::A((*v4).into()),
                        IpAddr::V6(_) => unreachable!("an A pool"),
                    })
                    .collect(),
            };
            let entry = Entry {
                per_view: false,
                views: vec![Some(vec![rrset])],
            };
            let steered = Steered::new(
                Arc::default(),
                HashMap::from([((weighted.clone(), RecordType::A), entry)]),
            );
            let responder =
                Responder::for_snapshot(snapshot(), 1232).with_steered(Arc::new(steered));
            let query = Query::new("weighted.example.com.", A).edns(Opt {
                dnssec_ok: true,
                ..Opt::new(1232)
            });
            responder
                .respond_in_full(&query.encode(), Transport::Udp, None)
                .unwrap()
        })
        .collect();
    let query = Query::new("weighted.example.com.", A).edns(Opt {
        dnssec_ok: true,
        ..Opt::new(1232)
    });
    let weighted_frame = frame(v4(), &query).encode();
    let mut seen = vec![0usize; oracles.len()];
    for _ in 0..60 {
        let (action, out) = run(&dataplane, &weighted_frame);
        match check_frame(&weighted_frame, action, &out) {
            Ok((_, reply)) => match oracles.iter().position(|o| *o == reply.payload) {
                Some(at) => seen[at] += 1,
                None => {
                    failures.push(format!(
                        "signed weighted answer matches no variant's fallback reply: {:02x?}",
                        reply.payload
                    ));
                    break;
                }
            },
            Err(e) => {
                failures.push(format!("signed weighted answer: {e}"));
                break;
            }
        }
    }
    if failures.is_empty() && seen.contains(&0) {
        failures.push(format!("signed weighted variants seen {seen:?}"));
    }
    assert!(
        failures.is_empty(),
        "{} signed fixtures failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn verifier_work_stays_bounded() {
    if !require_root("verifier_work_stays_bounded") {
        return;
    }
    let dataplane = Dataplane::load(16, 1232, None).expect("load XDP program");
    let info = dataplane.responder().info().expect("program info");
    let processed = info
        .verified_instruction_count()
        .expect("the kernel reports verified instructions (5.16+)");
    println!("verifier: {processed} instructions processed");
    // Today ~32,500 (~27,000 before DO=1 answers). Path explosions (see `Scratch::opaque`) go past the kernel's 1,000,000
    // limit; this catches the growth long before that.
    assert!(
        processed < 100_000,
        "{processed} instructions processed by the verifier"
    );
}
