//! Differential test: dns-xdp (XDP on) and Knot DNS serve the same zone files, each in its own
//! pair of network namespaces, and a generated corpus of queries goes to both. For every query
//! the two replies must agree on the RCODE (extended included), the header flags, the echoed
//! question, the EDNS OPT record, and the answer, authority and additional sections compared as
//! sets of records (order-insensitive; owner names and names in RDATA compared without case,
//! as RFC 4343 has it; TTLs compared).
//!
//! Knot is the reference, but not the law: where Knot answers differently and an RFC allows
//! both answers, a named [`Rule`] below says so and cites the RFC. Every other difference is a
//! mismatch. The test reports all of them, each with the query and both replies, then fails if
//! any is left.
//!
//! Needs root (BPF, network namespaces) and Debian's `knot` package (`cargo xtask setup`
//! installs it).

use std::{
    collections::BTreeMap,
    fmt::{self, Write as _},
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket},
    path::{Path, PathBuf},
    time::Duration,
};

use dns_xdp_tests::{
    agent::Agent,
    knot::{Knot, KnotZone},
    netns::{in_netns, require_root, Topology},
    packet::{Opt, Query},
};
use hickory_proto::{
    op::Query as Question,
    rr::{DNSClass, Name, RData, RecordType},
    serialize::binary::{BinDecodable, BinDecoder, Restrict},
};

/// The zones both servers load, from tests/fixtures/differential/.
const ZONES: [(&str, &str); 2] = [
    ("example.com.", "example.com.zone"),
    ("example.net.", "example.net.zone"),
];

fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/differential")
        .join(file)
}

// Query types by number, so that types hickory does not name (private use) fit in too.
const A: u16 = 1;
const NS: u16 = 2;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const PTR: u16 = 12;
const HINFO: u16 = 13;
const MX: u16 = 15;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const SRV: u16 = 33;
const DS: u16 = 43;
const AXFR: u16 = 252;
const ANY: u16 = 255;
const CAA: u16 = 257;
const PRIVATE: u16 = 65280;
const PRIVATE_EMPTY: u16 = 65281;

/// Every name is asked every one of these types (lower case, EDNS 1232, UDP over IPv4).
const ALL_TYPES: [u16; 15] = [
    A,
    AAAA,
    NS,
    SOA,
    CNAME,
    MX,
    TXT,
    SRV,
    PTR,
    HINFO,
    CAA,
    DS,
    PRIVATE,
    PRIVATE_EMPTY,
    ANY,
];

const LONG_NAME: &str = "a23456789012345678901234567890123456789012345678901234567890123.\
b23456789012345678901234567890123456789012345678901234567890123.\
c23456789012345678901234567890123456789012345678901234567890123.\
d234567890123456789012345678901234567890123456789.example.com.";

/// The names of the corpus, with the types that matter most for each (asked again in upper
/// and mixed case). Relative names are in example.com.
const NAMES: &[(&str, &[u16])] = &[
    // The apex and plain data.
    ("example.com.", &[SOA, NS, MX, TXT, CAA, A, ANY]),
    ("www", &[A, AAAA, ANY]),
    ("multi", &[A]),
    ("v6", &[AAAA]),
    ("mixedcase", &[A]),
    ("ns1", &[A, AAAA]),
    ("ns2", &[A]),
    ("mx1", &[A, AAAA]),
    ("mail", &[MX]),
    ("txt", &[TXT]),
    ("multitxt", &[TXT]),
    ("longtxt", &[TXT]),
    ("_sip._udp", &[SRV]),
    ("sip", &[A]),
    ("ptr", &[PTR]),
    ("hinfo", &[HINFO]),
    ("unk", &[PRIVATE, PRIVATE_EMPTY, ANY]),
    // CNAMEs.
    ("alias", &[A, CNAME]),
    ("chain1", &[A, AAAA]),
    ("chain2", &[A]),
    ("cross", &[A]),
    ("crossback", &[A]),
    ("crossnx", &[A]),
    ("outside", &[A]),
    ("dangling", &[A]),
    ("tonodata", &[A]),
    ("loop1", &[A]),
    ("self", &[A]),
    ("todeleg", &[A]),
    ("towild", &[A]),
    ("toent", &[A]),
    ("x.alias", &[A]),
    // Wildcards.
    ("foo.wild", &[A, AAAA, MX, TXT]),
    ("a.b.wild", &[A]),
    ("*.wild", &[A]),
    ("wild", &[A]),
    ("exists.wild", &[A, AAAA]),
    ("ent.wild", &[A]),
    ("x.ent.wild", &[A]),
    ("host.ent.wild", &[A]),
    ("foo.wcname", &[A, CNAME]),
    ("foo.wchain", &[A]),
    ("foo.wout", &[A]),
    // Empty non-terminals.
    ("c", &[A]),
    ("b.c", &[A]),
    ("a.b.c", &[A]),
    // Delegations.
    ("sub", &[NS, A, DS]),
    ("ns1.sub", &[A, AAAA]),
    ("host.sub", &[A, MX]),
    ("deep.host.sub", &[A]),
    ("ext", &[NS, A]),
    ("host.ext", &[A]),
    ("sibling", &[NS, A]),
    // Large RRsets.
    ("big", &[A]),
    ("huge", &[AAAA]),
    (LONG_NAME, &[A]),
    // Names that do not exist.
    ("nope", &[A]),
    ("nope.www", &[A]),
    // The second zone.
    ("example.net.", &[SOA, NS]),
    ("www.example.net.", &[A]),
    ("alias.example.net.", &[A]),
    ("nope.example.net.", &[A]),
    // Outside both zones.
    ("www.example.org.", &[A]),
    ("com.", &[NS]),
    (".", &[SOA]),
];

/// (name, type) pairs asked with every EDNS variant over every transport.
const MATRIX: &[(&str, u16)] = &[
    ("www", A),
    ("www", AAAA),
    ("v6", AAAA),
    ("big", A),
    ("huge", AAAA),
    ("example.com.", NS),
    ("example.com.", ANY),
    ("mail", MX),
    ("longtxt", TXT),
    ("chain1", A),
    ("foo.wild", A),
    ("host.sub", A),
    ("nope", A),
    ("www", TXT),
    (LONG_NAME, A),
];

fn absolute(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.example.com.")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Transport {
    Udp4,
    Udp6,
    Tcp4,
    Tcp6,
}

impl Transport {
    const ALL: [Transport; 4] = [
        Transport::Udp4,
        Transport::Udp6,
        Transport::Tcp4,
        Transport::Tcp6,
    ];

    fn is_udp(self) -> bool {
        matches!(self, Transport::Udp4 | Transport::Udp6)
    }
}

/// The OPT record of a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Edns {
    None,
    /// Just a payload size.
    Size(u16),
    /// Payload 1232 and a client COOKIE (RFC 7873), as dig sends by default.
    Cookie,
    /// Payload 4096 and DO=1 (RFC 3225).
    Dnssec,
    /// Payload 1232 and an option of an unassigned code, which servers must ignore.
    UnknownOption,
    /// EDNS version 1 (RFC 6891 §6.1.3: BADVERS).
    Version1,
}

impl Edns {
    const VARIANTS: [Edns; 6] = [
        Edns::None,
        Edns::Size(512),
        Edns::Size(1232),
        Edns::Size(4096),
        Edns::Cookie,
        Edns::Dnssec,
    ];

    fn opt(self) -> Option<Opt> {
        Some(match self {
            Edns::None => return None,
            Edns::Size(size) => Opt::new(size),
            Edns::Cookie => Opt::new(1232).option(COOKIE, &[0x24, 0x7a, 0x11, 0x5e, 1, 2, 3, 4]),
            Edns::Dnssec => Opt {
                dnssec_ok: true,
                ..Opt::new(4096)
            },
            Edns::UnknownOption => Opt::new(1232).option(65001, b"dns-xdp"),
            Edns::Version1 => Opt {
                version: 1,
                ..Opt::new(1232)
            },
        })
    }
}

impl fmt::Display for Edns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edns::None => f.write_str("no EDNS"),
            Edns::Size(size) => write!(f, "EDNS {size}"),
            Edns::Cookie => f.write_str("EDNS 1232 +COOKIE"),
            Edns::Dnssec => f.write_str("EDNS 4096 DO"),
            Edns::UnknownOption => f.write_str("EDNS 1232 +option 65001"),
            Edns::Version1 => f.write_str("EDNS version 1"),
        }
    }
}

const COOKIE: u16 = 10;
const EXTENDED_DNS_ERROR: u16 = 15;

/// How the query name is spelt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Spelling {
    Lower,
    Upper,
    /// Letters alternately upper and lower case, as resolvers using 0x20 send them.
    Mixed,
}

impl Spelling {
    fn apply(self, name: &str) -> String {
        match self {
            Spelling::Lower => name.to_ascii_lowercase(),
            Spelling::Upper => name.to_ascii_uppercase(),
            Spelling::Mixed => {
                let mut upper = false;
                name.chars()
                    .map(|c| {
                        if c.is_ascii_alphabetic() {
                            upper = !upper;
                            if upper {
                                return c.to_ascii_uppercase();
                            }
                        }
                        c.to_ascii_lowercase()
                    })
                    .collect()
            }
        }
    }
}

/// One query of the corpus.
#[derive(Clone, Debug)]
struct Probe {
    /// Absolute, spelt as sent.
    name: String,
    spelling: Spelling,
    qtype: u16,
    qclass: u16,
    edns: Edns,
    transport: Transport,
}

impl Probe {
    fn new(name: &str, qtype: u16, spelling: Spelling, edns: Edns, transport: Transport) -> Self {
        Probe {
            name: spelling.apply(&absolute(name)),
            spelling,
            qtype,
            qclass: 1,
            edns,
            transport,
        }
    }

    fn encode(&self, id: u16) -> Vec<u8> {
        let mut query = Query::new(&self.name, self.qtype);
        query.id = id;
        query.qclass = self.qclass;
        match self.edns.opt() {
            Some(opt) => query.edns(opt).encode(),
            None => query.encode(),
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} {} {} {} {}",
            self.transport,
            self.edns,
            self.name,
            DNSClass::from(self.qclass),
            type_name(self.qtype)
        )
    }
}

fn type_name(qtype: u16) -> String {
    match RecordType::from(qtype) {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}

/// The corpus: every name × every type; the important types of every name in upper and mixed
/// case; the [`MATRIX`] pairs with every EDNS variant over every transport (spelling rotating);
/// and a few queries of their own (other classes, zone transfers, EDNS edge cases).
fn corpus() -> Vec<Probe> {
    let mut probes = Vec::new();
    for (name, _) in NAMES {
        for qtype in ALL_TYPES {
            probes.push(Probe::new(
                name,
                qtype,
                Spelling::Lower,
                Edns::Size(1232),
                Transport::Udp4,
            ));
        }
    }
    for (name, types) in NAMES {
        for &qtype in *types {
            for spelling in [Spelling::Upper, Spelling::Mixed] {
                probes.push(Probe::new(
                    name,
                    qtype,
                    spelling,
                    Edns::Size(1232),
                    Transport::Udp4,
                ));
            }
        }
    }
    let spellings = [Spelling::Lower, Spelling::Upper, Spelling::Mixed];
    let mut turn = 0;
    for &(name, qtype) in MATRIX {
        for edns in Edns::VARIANTS {
            for transport in Transport::ALL {
                probes.push(Probe::new(
                    name,
                    qtype,
                    spellings[turn % 3],
                    edns,
                    transport,
                ));
                turn += 1;
            }
        }
    }
    for transport in Transport::ALL {
        for edns in [Edns::UnknownOption, Edns::Version1] {
            probes.push(Probe::new("www", A, Spelling::Mixed, edns, transport));
        }
        probes.push(Probe::new(
            "example.com.",
            AXFR,
            Spelling::Lower,
            Edns::None,
            transport,
        ));
    }
    // Class ANY (RFC 1035 §3.2.5 QCLASS *), CHAOS and HESIOD.
    for (name, qtype, qclass) in [
        ("www", A, 255),
        ("nope", A, 255),
        ("version.bind.", TXT, 3),
        ("id.server.", TXT, 3),
        ("www", A, 4),
    ] {
        let mut probe = Probe::new(
            name,
            qtype,
            Spelling::Lower,
            Edns::Size(1232),
            Transport::Udp4,
        );
        probe.qclass = qclass;
        probes.push(probe);
    }
    probes
}

/// Sends every probe from the current network namespace to `v4`/`v6` port 53 and returns the
/// raw replies, or why there is none.
fn ask_all(probes: &[Probe], v4: Ipv4Addr, v6: Ipv6Addr) -> Vec<Result<Vec<u8>, String>> {
    probes
        .iter()
        .enumerate()
        .map(|(i, probe)| {
            let query = probe.encode(query_id(i));
            let server = match probe.transport {
                Transport::Udp4 | Transport::Tcp4 => SocketAddr::new(IpAddr::V4(v4), 53),
                Transport::Udp6 | Transport::Tcp6 => SocketAddr::new(IpAddr::V6(v6), 53),
            };
            if probe.transport.is_udp() {
                udp_exchange(server, &query)
            } else {
                tcp_exchange(server, &query)
            }
        })
        .collect()
}

fn query_id(index: usize) -> u16 {
    (index as u16).wrapping_mul(40503) ^ 0x5eed
}

const TIMEOUT: Duration = Duration::from_secs(2);

/// One query over UDP, sent up to twice; the reply must come from the server's address.
fn udp_exchange(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let bind: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("bind: {e}"))?;
    socket
        .connect(server)
        .map_err(|e| format!("connect: {e}"))?;
    socket
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65535];
    for _ in 0..2 {
        socket.send(query).map_err(|e| format!("send: {e}"))?;
        match socket.recv(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
    Err(format!("no UDP reply within 2 × {TIMEOUT:?}"))
}

/// One query over a new TCP connection, framed with the two-byte length (RFC 1035 §4.2.2).
fn tcp_exchange(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let mut stream =
        TcpStream::connect_timeout(&server, TIMEOUT).map_err(|e| format!("TCP connect: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream
        .write_all(&framed)
        .map_err(|e| format!("TCP send: {e}"))?;
    let mut len = [0u8; 2];
    stream
        .read_exact(&mut len)
        .map_err(|e| format!("TCP reply length: {e}"))?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream
        .read_exact(&mut reply)
        .map_err(|e| format!("TCP reply: {e}"))?;
    Ok(reply)
}

/// A reply reduced to what is compared.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Reply {
    id: u16,
    qr: bool,
    opcode: u8,
    /// With the extended bits from the OPT record.
    rcode: u16,
    flags: Vec<(&'static str, bool)>,
    /// "name class type", spelt as in the reply.
    question: Vec<String>,
    /// Answer, authority, additional (without the OPT): sorted "owner ttl class type rdata".
    sections: [Vec<String>; 3],
    opt: Option<OptRecord>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct OptRecord {
    payload: u16,
    version: u8,
    dnssec_ok: bool,
    /// Option codes, sorted.
    options: Vec<u16>,
}

const SECTIONS: [&str; 3] = ["answer", "authority", "additional"];

/// Parses a reply by hand around hickory's decoders, so that nothing is lost: hickory's
/// `Message` folds the OPT record into `Edns` and refuses records with empty RDATA.
fn parse(bytes: &[u8]) -> Result<Reply, String> {
    let mut d = BinDecoder::new(bytes);
    let u16_at = |d: &mut BinDecoder<'_>| {
        d.read_u16()
            .map(|v| v.unverified(/* any value */))
            .map_err(|e| e.to_string())
    };
    let id = u16_at(&mut d)?;
    let bits = u16_at(&mut d)?;
    let counts = [
        u16_at(&mut d)?,
        u16_at(&mut d)?,
        u16_at(&mut d)?,
        u16_at(&mut d)?,
    ];
    let flag = |mask: u16| bits & mask != 0;
    let mut question = Vec::new();
    for _ in 0..counts[0] {
        let q = Question::read(&mut d).map_err(|e| format!("question: {e}"))?;
        question.push(format!(
            "{} {} {}",
            q.name().to_ascii(),
            q.query_class(),
            type_name(u16::from(q.query_type()))
        ));
    }
    let mut sections: [Vec<String>; 3] = Default::default();
    let mut opt = None;
    let mut ext_rcode = 0u16;
    for (section, &count) in counts[1..].iter().enumerate() {
        for _ in 0..count {
            let owner = Name::read(&mut d).map_err(|e| format!("owner: {e}"))?;
            let rtype = u16_at(&mut d)?;
            let class = u16_at(&mut d)?;
            let ttl = d
                .read_u32()
                .map_err(|e| e.to_string())?
                .unverified(/* any value */);
            let len = u16_at(&mut d)?;
            let start = d.index();
            let rdata = d
                .read_slice(usize::from(len))
                .map_err(|e| format!("RDATA: {e}"))?
                .unverified(/* bounded by the message */);
            if rtype == u16::from(RecordType::OPT) {
                if opt.is_some() {
                    return Err("two OPT records".into());
                }
                ext_rcode = (ttl >> 24) as u16;
                opt = Some(OptRecord {
                    payload: class,
                    version: (ttl >> 16) as u8,
                    dnssec_ok: ttl & 0x8000 != 0,
                    options: option_codes(rdata)?,
                });
                continue;
            }
            let text = rdata_text(bytes, start, rtype, rdata);
            sections[section].push(format!(
                "{} {ttl} {} {} {text}",
                owner.to_lowercase().to_ascii(),
                DNSClass::from(class),
                type_name(rtype)
            ));
        }
    }
    if !d.is_empty() {
        return Err(format!("{} bytes after the last record", d.len()));
    }
    for section in &mut sections {
        section.sort();
    }
    Ok(Reply {
        id,
        qr: flag(0x8000),
        opcode: ((bits >> 11) & 0xf) as u8,
        rcode: (ext_rcode << 4) | (bits & 0xf),
        flags: vec![
            ("AA", flag(0x0400)),
            ("TC", flag(0x0200)),
            ("RD", flag(0x0100)),
            ("RA", flag(0x0080)),
            ("Z", flag(0x0040)),
            ("AD", flag(0x0020)),
            ("CD", flag(0x0010)),
        ],
        question,
        sections,
        opt,
    })
}

fn option_codes(mut rdata: &[u8]) -> Result<Vec<u16>, String> {
    let mut codes = Vec::new();
    while !rdata.is_empty() {
        if rdata.len() < 4 {
            return Err("truncated EDNS option".into());
        }
        let code = u16::from_be_bytes([rdata[0], rdata[1]]);
        let len = usize::from(u16::from_be_bytes([rdata[2], rdata[3]]));
        rdata = rdata
            .get(4 + len..)
            .ok_or("EDNS option longer than the OPT RDATA")?;
        codes.push(code);
    }
    codes.sort_unstable();
    Ok(codes)
}

/// RDATA in presentation form, canonical for comparison: names (which may be compressed)
/// decoded and lower-cased (RFC 4034 §6.2), TXT strings quoted one by one, and types hickory
/// does not know, or empty RDATA, in RFC 3597 generic form.
fn rdata_text(message: &[u8], start: usize, rtype: u16, raw: &[u8]) -> String {
    let generic = || {
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        format!("\\# {} {hex}", raw.len()).trim_end().to_owned()
    };
    if raw.is_empty() {
        return generic();
    }
    if rtype == TXT {
        return txt_text(raw).unwrap_or_else(generic);
    }
    let mut d = BinDecoder::new(message).clone(start as u16);
    match RData::read(
        &mut d,
        RecordType::from(rtype),
        Restrict::new(raw.len() as u16),
    ) {
        Ok(RData::Unknown { .. }) | Ok(RData::OPT(_)) | Err(_) => generic(),
        Ok(rdata) => {
            let mut text = String::new();
            if write!(text, "{rdata}").is_err() {
                return generic();
            }
            match rdata {
                RData::NS(_)
                | RData::CNAME(_)
                | RData::PTR(_)
                | RData::MX(_)
                | RData::SRV(_)
                | RData::SOA(_) => text.to_ascii_lowercase(),
                _ => text,
            }
        }
    }
}

fn txt_text(mut raw: &[u8]) -> Option<String> {
    let mut strings = Vec::new();
    while let Some((&len, rest)) = raw.split_first() {
        let string = rest.get(..usize::from(len))?;
        raw = &rest[usize::from(len)..];
        let mut quoted = String::from("\"");
        for &b in string {
            match b {
                b'"' | b'\\' => {
                    quoted.push('\\');
                    quoted.push(b as char);
                }
                0x20..=0x7e => quoted.push(b as char),
                _ => {
                    let _ = write!(quoted, "\\{b:03}");
                }
            }
        }
        quoted.push('"');
        strings.push(quoted);
    }
    Some(strings.join(" "))
}

/// Where two replies differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Aspect {
    /// No reply, or one that does not parse.
    Reply,
    /// ID, QR or opcode: anything but the query's is broken.
    Header,
    Rcode,
    Flag(&'static str),
    Question,
    Section(usize),
    OptPresence,
    OptPayload,
    OptVersion,
    OptDo,
    OptOptions,
}

impl fmt::Display for Aspect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Aspect::Reply => f.write_str("reply"),
            Aspect::Header => f.write_str("header"),
            Aspect::Rcode => f.write_str("RCODE"),
            Aspect::Flag(flag) => write!(f, "{flag} flag"),
            Aspect::Question => f.write_str("question"),
            Aspect::Section(i) => write!(f, "{} section", SECTIONS[*i]),
            Aspect::OptPresence => f.write_str("OPT presence"),
            Aspect::OptPayload => f.write_str("OPT payload size"),
            Aspect::OptVersion => f.write_str("OPT version"),
            Aspect::OptDo => f.write_str("OPT DO bit"),
            Aspect::OptOptions => f.write_str("OPT options"),
        }
    }
}

#[derive(Clone, Debug)]
struct Diff {
    aspect: Aspect,
    /// What Knot said, and what dns-xdp said (for sections: what only that side has).
    knot: String,
    ours: String,
}

fn rcode_text(rcode: u16) -> String {
    let name = match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        9 => "NOTAUTH",
        // hickory names 16 BADSIG; in a reply to a query without TSIG it is BADVERS.
        16 => "BADVERS",
        _ => return format!("RCODE{rcode}"),
    };
    name.to_owned()
}

/// Removes from `a` one copy of each record of `b`, keeping `a`'s order.
fn minus(a: &[String], b: &[String]) -> Vec<String> {
    let mut left: Vec<&String> = b.iter().collect();
    a.iter()
        .filter(
            |record| match left.iter().position(|other| other == record) {
                Some(i) => {
                    left.swap_remove(i);
                    false
                }
                None => true,
            },
        )
        .cloned()
        .collect()
}

fn list(records: &[String]) -> String {
    if records.is_empty() {
        "(nothing)".into()
    } else {
        records.join(" | ")
    }
}

fn opt_text(opt: &Option<OptRecord>) -> String {
    match opt {
        None => "no OPT".into(),
        Some(o) => format!(
            "OPT payload {} version {}{} options {:?}",
            o.payload,
            o.version,
            if o.dnssec_ok { " DO" } else { "" },
            o.options
        ),
    }
}

fn compare(probe_id: u16, knot: &Reply, ours: &Reply) -> Vec<Diff> {
    let mut diffs = Vec::new();
    let mut push = |aspect, knot: String, ours: String| {
        if knot != ours {
            diffs.push(Diff { aspect, knot, ours })
        }
    };
    let header = |r: &Reply| {
        format!(
            "id {}, QR {}, opcode {}",
            if r.id == probe_id { "echoed" } else { "wrong" },
            u8::from(r.qr),
            r.opcode
        )
    };
    push(Aspect::Header, header(knot), header(ours));
    push(
        Aspect::Rcode,
        rcode_text(knot.rcode),
        rcode_text(ours.rcode),
    );
    for ((flag, k), (_, o)) in knot.flags.iter().zip(&ours.flags) {
        push(Aspect::Flag(flag), k.to_string(), o.to_string());
    }
    push(Aspect::Question, list(&knot.question), list(&ours.question));
    for i in 0..3 {
        let (k, o) = (&knot.sections[i], &ours.sections[i]);
        if k != o {
            push(
                Aspect::Section(i),
                format!("only Knot: {}", list(&minus(k, o))),
                format!("only dns-xdp: {}", list(&minus(o, k))),
            );
        }
    }
    match (&knot.opt, &ours.opt) {
        (Some(k), Some(o)) => {
            push(
                Aspect::OptPayload,
                k.payload.to_string(),
                o.payload.to_string(),
            );
            push(
                Aspect::OptVersion,
                k.version.to_string(),
                o.version.to_string(),
            );
            push(
                Aspect::OptDo,
                k.dnssec_ok.to_string(),
                o.dnssec_ok.to_string(),
            );
            push(
                Aspect::OptOptions,
                format!("{:?}", k.options),
                format!("{:?}", o.options),
            );
        }
        (k, o) => push(Aspect::OptPresence, opt_text(k), opt_text(o)),
    }
    diffs
}

/// A difference that an RFC allows: where Knot, the reference, answers otherwise than dns-xdp
/// and both answers are correct.
struct Rule {
    name: &'static str,
    rfc: &'static str,
    why: &'static str,
    allows: fn(&Evidence) -> bool,
}

/// What a rule sees of one difference.
struct Evidence<'a> {
    probe: &'a Probe,
    knot: &'a Reply,
    ours: &'a Reply,
    diff: &'a Diff,
    /// Where Knot's CNAME chain stopped at the edge of the query name's zone, pointing into the
    /// other zone both servers load: Knot's reply with the chain chased on by asking Knot for
    /// the target (see [`chase_across_zones`]).
    knot_chased: Option<&'a Reply>,
}

static RULES: &[Rule] = &[
    Rule {
        name: "own-udp-payload-size",
        rfc: "RFC 6891 §6.2.5",
        why: "the payload size in a response's OPT is the responder's own choice of what it \
              can receive, not an echo of the requestor's",
        allows: |e| {
            e.diff.aspect == Aspect::OptPayload
                && [e.knot, e.ours]
                    .iter()
                    .all(|r| r.opt.as_ref().is_some_and(|o| o.payload >= 512))
        },
    },
    Rule {
        name: "cookie-ignored",
        rfc: "RFC 7873 §5.2",
        why: "a server without DNS COOKIE support ignores the option; one with it answers a \
              COOKIE: either reply is correct",
        allows: |e| {
            let codes = |r: &Reply| r.opt.as_ref().map(|o| o.options.clone());
            e.diff.aspect == Aspect::OptOptions
                && e.probe.edns == Edns::Cookie
                && minus_codes(codes(e.knot), codes(e.ours))
                    .chain(minus_codes(codes(e.ours), codes(e.knot)))
                    .all(|code| code == COOKIE)
        },
    },
    Rule {
        name: "any-subset",
        rfc: "RFC 8482 §4.1",
        why: "a responder may answer QTYPE ANY with a subset of the RRsets at the name (Knot \
              sends one); the additional data then follows the RRsets chosen",
        allows: |e| {
            e.probe.qtype == ANY
                && matches!(e.diff.aspect, Aspect::Section(0) | Aspect::Section(2))
                && any_answers_compatible(&e.knot.sections[0], &e.ours.sections[0])
        },
    },
    Rule {
        name: "extended-dns-error",
        rfc: "RFC 8914 §1",
        why: "an Extended DNS Error option (code 15) is optional, purely informational extra \
              information that does not change the processing of the RCODE; Knot adds one to \
              REFUSED answers",
        allows: |e| {
            let codes = |r: &Reply| r.opt.as_ref().map(|o| o.options.clone());
            e.diff.aspect == Aspect::OptOptions
                && minus_codes(codes(e.knot), codes(e.ours))
                    .chain(minus_codes(codes(e.ours), codes(e.knot)))
                    .all(|code| code == EXTENDED_DNS_ERROR)
        },
    },
    Rule {
        name: "zone-transfer-denied",
        rfc: "RFC 5936 §4.2, §5",
        why: "who may transfer a zone is local policy, and AXFR over UDP is not defined: Knot \
              denies with NOTAUTH (\"Not Authorized\", RFC 8945) over TCP and NOTIMP over UDP, \
              dns-xdp with REFUSED; all are error answers without data",
        allows: |e| {
            let denied =
                |r: &Reply| matches!(r.rcode, 4 | 5 | 9) && r.sections.iter().all(|s| s.is_empty());
            e.probe.qtype == AXFR
                && e.diff.aspect == Aspect::Rcode
                && denied(e.knot)
                && denied(e.ours)
        },
    },
    Rule {
        name: "cname-across-zones",
        rfc: "RFC 1034 §4.3.2",
        why: "at a CNAME the algorithm changes QNAME to the target and goes back to step 1, which \
              looks for the best zone among all the server has: dns-xdp chases the chain into \
              the other zone it serves (RCODE and SOA then from the chain's end, RFC 6604 §3), \
              Knot stops at the edge of the zone and leaves the rest to the resolver. Allowed \
              only where dns-xdp's reply is exactly Knot's chased on by asking Knot for the \
              target",
        allows: |e| {
            e.knot_chased.is_some_and(|chased| {
                matches!(e.diff.aspect, Aspect::Rcode | Aspect::Section(_))
                    && chased.rcode == e.ours.rcode
                    && chased.sections == e.ours.sections
            })
        },
    },
];

/// The zone among [`ZONES`] that holds `name` (lower case, absolute).
fn zone_of(name: &str) -> Option<&'static str> {
    ZONES
        .iter()
        .map(|(origin, _)| *origin)
        .filter(|origin| name == *origin || name.ends_with(&format!(".{origin}")))
        .max_by_key(|origin| origin.len())
}

/// Where `reply`'s CNAME chain from `start` stops, unfollowed, at a target in another of
/// [`ZONES`] than its owner's: the answer holds nothing but the chain, and the authority
/// section nothing at all. That target, if so.
fn zone_exit(start: &str, qtype: u16, reply: &Reply) -> Option<String> {
    if matches!(qtype, CNAME | ANY) || reply.rcode != 0 || !reply.sections[1].is_empty() {
        return None;
    }
    let mut cnames = BTreeMap::new();
    for record in &reply.sections[0] {
        // owner ttl class type rdata
        let fields: Vec<&str> = record.splitn(5, ' ').collect();
        if fields.len() != 5 || fields[3] != "CNAME" {
            return None;
        }
        cnames.insert(fields[0], fields[4]);
    }
    let mut owner = start.to_ascii_lowercase();
    for _ in 0..cnames.len() {
        let target = *cnames.get(owner.as_str())?;
        if !cnames.contains_key(target) {
            let (from, to) = (zone_of(&owner), zone_of(target));
            return (to.is_some() && to != from).then(|| target.to_owned());
        }
        owner = target.to_owned();
    }
    None
}

/// `base` with the chain continued by `next`, Knot's reply for the target: answers and
/// additional data joined, RCODE and authority section from the end of the chain.
fn continued(base: &Reply, next: &Reply) -> Reply {
    let join = |a: &[String], b: &[String]| {
        let mut joined = [a, b].concat();
        joined.sort();
        joined.dedup();
        joined
    };
    let mut chased = base.clone();
    chased.rcode = next.rcode;
    chased.sections = [
        join(&base.sections[0], &next.sections[0]),
        next.sections[1].clone(),
        join(&base.sections[2], &next.sections[2]),
    ];
    chased
}

/// For every reply of Knot's whose CNAME chain stops at the edge of the zone (see
/// [`zone_exit`]), the reply as it would be with the chain followed into the other zone: Knot
/// is asked (with `ask`) for each target in turn, the same type over the same transport with
/// the same EDNS, up to 8 zone changes.
fn chase_across_zones(
    probes: &[Probe],
    knot: &[Result<Reply, String>],
    ask: impl Fn(&[Probe]) -> Vec<Result<Vec<u8>, String>>,
) -> Vec<Option<Reply>> {
    let mut chased = vec![None; probes.len()];
    let mut pending: Vec<(usize, Reply, String)> = knot
        .iter()
        .enumerate()
        .filter_map(|(i, reply)| {
            let reply = reply.as_ref().ok()?;
            let target = zone_exit(&probes[i].name, probes[i].qtype, reply)?;
            Some((i, reply.clone(), target))
        })
        .collect();
    for _ in 0..8 {
        if pending.is_empty() {
            break;
        }
        let follow: Vec<Probe> = pending
            .iter()
            .map(|(i, _, target)| Probe {
                name: target.clone(),
                spelling: Spelling::Lower,
                ..probes[*i].clone()
            })
            .collect();
        let replies = ask(&follow);
        let mut next = Vec::new();
        for ((i, base, target), reply) in pending.into_iter().zip(replies) {
            let Ok(reply) = reply.and_then(|bytes| parse(&bytes)) else {
                continue;
            };
            let base = continued(&base, &reply);
            match zone_exit(&target, probes[i].qtype, &reply) {
                Some(target) => next.push((i, base, target)),
                None => chased[i] = Some(base),
            }
        }
        pending = next;
    }
    chased
}

fn minus_codes(a: Option<Vec<u16>>, b: Option<Vec<u16>>) -> impl Iterator<Item = u16> {
    let b = b.unwrap_or_default();
    a.unwrap_or_default()
        .into_iter()
        .filter(move |code| !b.contains(code))
}

/// RFC 8482 answers to ANY: both non-empty, owned by the query name (no CNAME chasing),
/// made of whole RRsets, and agreeing on every RRset that both contain.
fn any_answers_compatible(knot: &[String], ours: &[String]) -> bool {
    let rrsets = |records: &[String]| {
        let mut sets: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for record in records {
            let fields: Vec<&str> = record.splitn(5, ' ').collect();
            // owner ttl class type rdata
            let key = (fields[0].to_owned(), fields[3].to_owned());
            sets.entry(key).or_default().push(record.clone());
        }
        sets
    };
    let (k, o) = (rrsets(knot), rrsets(ours));
    let owners: Vec<&String> = k.keys().chain(o.keys()).map(|(owner, _)| owner).collect();
    !k.is_empty()
        && !o.is_empty()
        && owners.windows(2).all(|w| w[0] == w[1])
        && k.iter()
            .all(|(key, set)| o.get(key).is_none_or(|other| other == set))
}

/// One probe's outcome.
struct Outcome<'a> {
    index: usize,
    probe: &'a Probe,
    knot: Result<Reply, String>,
    ours: Result<Reply, String>,
    /// Each difference with the rule that allows it, if any.
    diffs: Vec<(Diff, Option<&'static Rule>)>,
}

fn summary(reply: &Result<Reply, String>) -> String {
    let r = match reply {
        Ok(r) => r,
        Err(e) => return format!("no usable reply: {e}"),
    };
    let flags: Vec<&str> = r
        .flags
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect();
    let mut text = format!(
        "{} flags [{}] {}",
        rcode_text(r.rcode),
        flags.join(" "),
        opt_text(&r.opt)
    );
    for (i, records) in r.sections.iter().enumerate() {
        if !records.is_empty() {
            let _ = write!(text, "\n        {}: {}", SECTIONS[i], list(records));
        }
    }
    text
}

#[test]
fn dns_xdp_answers_like_knot() {
    if !require_root("dns_xdp_answers_like_knot") {
        return;
    }
    let version = Knot::version().expect("knotd is installed");

    // dns-xdp, XDP on, in one pair of namespaces.
    let ours = Topology::create("diff").expect("dns-xdp topology");
    let mut config = format!(
        "[server]\ninterface = \"{}\"\nxdp_mode = \"native\"\nlisten = [\"{}:53\", \"[{}]:53\"]\n",
        ours.server_if, ours.server_v4, ours.server_v6
    );
    for (origin, file) in ZONES {
        let _ = write!(
            config,
            "\n[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\n",
            fixture(file).display()
        );
    }
    let agent = Agent::start_with_config(&ours, &config).expect("dns-xdp starts");

    // Knot in a pair of its own, with the same addresses: the queries to it never pass the
    // XDP program under test, and differ from dns-xdp's only in where they go.
    let reference = Topology::create("diff-knot").expect("Knot topology");
    let zones: Vec<KnotZone> = ZONES
        .iter()
        .map(|(origin, file)| KnotZone::new(origin, &fixture(file)))
        .collect();
    let mut knot = Knot::start(
        &reference.server_ns,
        &[reference.server_v4.into(), reference.server_v6.into()],
        &zones,
    )
    .expect("knotd starts");
    let status = knot.knotc(&["zone-status"]).expect("knotc zone-status");
    println!(
        "Knot DNS {version}, config:\n{}\nknotc zone-status:\n{status}",
        knot.config
    );

    let probes = corpus();
    assert!(probes.len() >= 300, "corpus of {} queries", probes.len());
    let knot_replies = in_netns(&reference.client_ns, || {
        ask_all(&probes, reference.server_v4, reference.server_v6)
    })
    .expect("queries to Knot");
    let our_replies = in_netns(&ours.client_ns, || {
        ask_all(&probes, ours.server_v4, ours.server_v6)
    })
    .expect("queries to dns-xdp");

    let knot_replies: Vec<Result<Reply, String>> = knot_replies
        .into_iter()
        .map(|reply| reply.and_then(|bytes| parse(&bytes)))
        .collect();
    let knot_chased = chase_across_zones(&probes, &knot_replies, |follow| {
        in_netns(&reference.client_ns, || {
            ask_all(follow, reference.server_v4, reference.server_v6)
        })
        .expect("follow-up queries to Knot")
    });

    let outcomes: Vec<Outcome> = probes
        .iter()
        .zip(knot_replies.into_iter().zip(our_replies))
        .enumerate()
        .map(|(index, (probe, (knot, o)))| {
            let ours = o.and_then(|bytes| parse(&bytes));
            let diffs = match (&knot, &ours) {
                (Ok(k), Ok(o)) => compare(query_id(index), k, o)
                    .into_iter()
                    .map(|diff| {
                        let evidence = Evidence {
                            probe,
                            knot: k,
                            ours: o,
                            diff: &diff,
                            knot_chased: knot_chased[index].as_ref(),
                        };
                        let rule = RULES.iter().find(|rule| (rule.allows)(&evidence));
                        (diff, rule)
                    })
                    .collect(),
                _ => vec![(
                    Diff {
                        aspect: Aspect::Reply,
                        knot: summary(&knot),
                        ours: summary(&ours),
                    },
                    None,
                )],
            };
            Outcome {
                index,
                probe,
                knot,
                ours,
                diffs,
            }
        })
        .collect();

    // The report: every query with a difference no rule allows, then tallies.
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.diffs.iter().any(|(_, rule)| rule.is_none()))
        .collect();
    let mut report = String::new();
    for outcome in &failed {
        let _ = writeln!(
            report,
            "\n#{} {}\n    Knot:    {}\n    dns-xdp: {}",
            outcome.index,
            outcome.probe,
            summary(&outcome.knot),
            summary(&outcome.ours)
        );
        for (diff, rule) in &outcome.diffs {
            let verdict = match rule {
                Some(rule) => format!(" (allowed: {}, {})", rule.name, rule.rfc),
                None => String::new(),
            };
            let _ = writeln!(
                report,
                "    {}{verdict}:\n        Knot:    {}\n        dns-xdp: {}",
                diff.aspect, diff.knot, diff.ours
            );
        }
    }

    let _ = writeln!(report, "\nCorpus: {} queries", probes.len());
    let mut tally = |label: &str, key: &dyn Fn(&Probe) -> String| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for probe in &probes {
            *counts.entry(key(probe)).or_default() += 1;
        }
        let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(report, "  by {label}: {}", parts.join(", "));
    };
    tally("transport", &|p| format!("{:?}", p.transport));
    tally("EDNS", &|p| p.edns.to_string());
    tally("spelling", &|p| format!("{:?}", p.spelling));
    tally("type", &|p| type_name(p.qtype));
    tally("class", &|p| DNSClass::from(p.qclass).to_string());

    let _ = writeln!(report, "\nAllowed differences:");
    for rule in RULES {
        let uses: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| {
                o.diffs
                    .iter()
                    .any(|(_, r)| r.is_some_and(|r| r.name == rule.name))
            })
            .collect();
        let _ = writeln!(
            report,
            "  {} ({}): {} queries; {}{}",
            rule.name,
            rule.rfc,
            uses.len(),
            rule.why,
            uses.first()
                .map(|o| format!("; e.g. #{} {}", o.index, o.probe))
                .unwrap_or_default()
        );
    }

    let mut by_aspect: BTreeMap<Aspect, (usize, usize)> = BTreeMap::new();
    for outcome in &failed {
        for (diff, rule) in &outcome.diffs {
            if rule.is_none() {
                let entry = by_aspect.entry(diff.aspect).or_insert((0, outcome.index));
                entry.0 += 1;
            }
        }
    }
    let _ = writeln!(
        report,
        "\nMismatches: {} of {} queries",
        failed.len(),
        probes.len()
    );
    for (aspect, (count, first)) in &by_aspect {
        let _ = writeln!(report, "  {aspect}: {count} queries, first #{first}");
    }
    println!("{report}");

    // The fast path must have answered part of the corpus, or XDP was not compared at all.
    let stats = agent.stats().expect("fast-path counters");
    println!("dns-xdp fast-path counters after the corpus: {stats}");
    let answered = ["answered_v4", "answered_v6"]
        .iter()
        .map(|name| stats[name].as_u64().unwrap_or(0))
        .sum::<u64>();
    assert!(
        answered > 0,
        "the XDP fast path answered none of the corpus: {stats}"
    );

    knot.stop().expect("knotd stops");
    drop(agent);
    assert!(
        failed.is_empty(),
        "{} of {} queries got a reply from dns-xdp that differs from Knot {version}'s in a way \
         no RFC rule allows; the report above lists them all",
        failed.len(),
        probes.len()
    );
}

/// The harness's own logic, without servers.
mod harness {
    use super::*;

    fn reply(rcode: u16, answer: &[&str], authority: &[&str]) -> Reply {
        let strings = |records: &[&str]| {
            let mut v: Vec<String> = records.iter().map(|r| r.to_string()).collect();
            v.sort();
            v
        };
        Reply {
            id: 1,
            qr: true,
            opcode: 0,
            rcode,
            flags: vec![("AA", true)],
            question: vec![],
            sections: [strings(answer), strings(authority), vec![]],
            opt: None,
        }
    }

    #[test]
    fn parse_keeps_empty_rdata_decompresses_names_and_reads_the_opt() {
        let mut bytes = vec![0x12, 0x34, 0x84, 0x00, 0, 1, 0, 2, 0, 0, 0, 1];
        bytes.extend_from_slice(&dns_xdp_tests::packet::wire_name("Www.Example.com."));
        bytes.extend_from_slice(&[0, 1, 0, 1]);
        // Owner: a pointer to the question; TYPE65281, IN, TTL 60, no RDATA.
        bytes.extend_from_slice(&[0xc0, 12, 0xff, 0x01, 0, 1, 0, 0, 0, 60, 0, 0]);
        // A CNAME whose target is "alias" + a pointer to "Example.com.".
        bytes.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 8]);
        bytes.extend_from_slice(&[5, b'a', b'l', b'i', b'a', b's', 0xc0, 16]);
        // OPT: payload 1232, extended RCODE 1 (BADVERS with the header's 0), DO, one option.
        bytes.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 1, 0, 0x80, 0, 0, 4, 0, 15, 0, 0]);
        let r = parse(&bytes).expect("parses");
        assert_eq!(r.rcode, 16);
        assert_eq!(r.question, ["Www.Example.com. IN A"]);
        assert_eq!(
            r.sections[0],
            [
                "www.example.com. 60 IN CNAME alias.example.com.",
                "www.example.com. 60 IN TYPE65281 \\# 0",
            ]
        );
        assert_eq!(
            r.opt,
            Some(OptRecord {
                payload: 1232,
                version: 0,
                dnssec_ok: true,
                options: vec![15],
            })
        );
    }

    #[test]
    fn txt_strings_stay_apart() {
        assert_eq!(
            txt_text(b"\x03a b\x02\"\\\x01\xff").as_deref(),
            Some(r#""a b" "\"\\" "\255""#)
        );
        assert_eq!(txt_text(b"\x05ab"), None);
    }

    #[test]
    fn mixed_spelling_alternates_letters() {
        assert_eq!(
            Spelling::Mixed.apply("www.example.com."),
            "WwW.eXaMpLe.CoM."
        );
        assert_eq!(Spelling::Upper.apply("_sip._udp.x."), "_SIP._UDP.X.");
    }

    #[test]
    fn a_cname_chain_leaving_for_the_other_zone_is_found() {
        let cross = reply(
            0,
            &["cross.example.com. 3600 IN CNAME www.example.net."],
            &[],
        );
        assert_eq!(
            zone_exit("Cross.Example.COM.", A, &cross).as_deref(),
            Some("www.example.net.")
        );
        // Not for CNAME or ANY queries, nor once the target was followed, nor out of the zones.
        assert_eq!(zone_exit("cross.example.com.", CNAME, &cross), None);
        let followed = reply(
            0,
            &[
                "cross.example.com. 3600 IN CNAME www.example.net.",
                "www.example.net. 3600 IN A 198.51.100.10",
            ],
            &[],
        );
        assert_eq!(zone_exit("cross.example.com.", A, &followed), None);
        let outside = reply(
            0,
            &["outside.example.com. 3600 IN CNAME www.example.org."],
            &[],
        );
        assert_eq!(zone_exit("outside.example.com.", A, &outside), None);
        // Within one zone: the chain ended in a NODATA, not at a zone's edge.
        let inside = reply(0, &["a.example.com. 3600 IN CNAME b.example.com."], &[]);
        assert_eq!(zone_exit("a.example.com.", A, &inside), None);
        let looped = reply(
            0,
            &[
                "l1.example.com. 3600 IN CNAME l2.example.com.",
                "l2.example.com. 3600 IN CNAME l1.example.com.",
            ],
            &[],
        );
        assert_eq!(zone_exit("l1.example.com.", A, &looped), None);

        let target = reply(
            3,
            &[],
            &["example.net. 600 IN SOA ns.example.net. h.example.net. 1 2 3 4 600"],
        );
        let chased = continued(&cross, &target);
        assert_eq!(chased.rcode, 3);
        assert_eq!(chased.sections[0], cross.sections[0]);
        assert_eq!(chased.sections[1], target.sections[1]);
    }

    #[test]
    fn any_answers_must_be_whole_agreeing_rrsets_of_the_name() {
        let knot = ["example.com. 3600 IN A 192.0.2.100".to_string()];
        let all = [
            "example.com. 3600 IN A 192.0.2.100".to_string(),
            "example.com. 3600 IN MX 10 mx1.example.com.".to_string(),
        ];
        assert!(any_answers_compatible(&knot, &all));
        assert!(any_answers_compatible(&all[1..], &knot), "another RRset");
        assert!(!any_answers_compatible(&knot, &[]), "NODATA is no subset");
        let other_ttl = ["example.com. 60 IN A 192.0.2.100".to_string()];
        assert!(!any_answers_compatible(&knot, &other_ttl));
        let other_name = ["www.example.com. 3600 IN A 192.0.2.10".to_string()];
        assert!(!any_answers_compatible(&knot, &other_name));
    }

    #[test]
    fn minus_is_a_multiset_difference() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(minus(&s(&["a", "a", "b"]), &s(&["a"])), s(&["a", "b"]));
        assert_eq!(minus(&s(&["a"]), &s(&["a", "c"])), s(&[]));
    }
}
