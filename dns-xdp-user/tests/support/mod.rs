//! What must hold for every input to `Responder::respond`, shared by the seeded random test
//! (`tests/respond_random.rs`) and the cargo-fuzz target (`fuzz/fuzz_targets/respond.rs`, which
//! includes this file by path).

use dns_xdp_user::{
    fallback::responder::{Responder, Transport},
    zone::{Name, Zone},
};
use hickory_proto::op::{Message, MessageType};

/// The EDNS payload size the responder under test advertises.
pub const EDNS_PAYLOAD: u16 = 1232;

/// A small zone with a bit of everything the responder treats differently: positive answers,
/// CNAME, ANY, empty non-terminals, a delegation with glue, an RRset too big for 512 bytes,
/// and a child zone that is served from the same responder.
pub const EXAMPLE_ZONE: &str = "\
$ORIGIN example.com.
$TTL 300
@        SOA   ns1 hostmaster 1 3600 600 86400 60
@        NS    ns1
@        NS    ns2.example.net.
@        MX    10 mail
@        TXT   \"v=spf1 -all\"
ns1      A     192.0.2.53
ns1      AAAA  2001:db8::53
www      A     192.0.2.10
www      AAAA  2001:db8::10
WwW2     120 A 192.0.2.11
alias    CNAME www
out      CNAME www.example.org.
mail     A     192.0.2.25
a.b.c    TXT   \"below two empty non-terminals\"
*.wild   A     192.0.2.99
dept     NS    ns.dept
ns.dept  A     192.0.2.80
srv      SRV   0 5 5060 www
caa      CAA   0 issue \"ca.example\"
long     TXT   \"a somewhat long text string to make responses grow\" \"and another one\"
";

pub const SUB_ZONE: &str = "\
$ORIGIN sub.example.com.
$TTL 60
@        SOA   ns1.example.com. hostmaster.example.com. 7 3600 600 86400 30
@        NS    ns1.example.com.
www      A     198.51.100.1
";

/// The zones as text with a 40-record RRset (`big`) appended, so that plain UDP truncates.
pub fn zones() -> Vec<Zone> {
    let mut example = EXAMPLE_ZONE.to_string();
    for i in 0..40 {
        example.push_str(&format!("big A 198.51.100.{i}\n"));
        example.push_str(&format!("big AAAA 2001:db8:1::{i:x}\n"));
    }
    let name = |s: &str| Name::from_ascii(s).unwrap();
    vec![
        Zone::parse(&name("example.com."), &example, "example.com.zone").unwrap(),
        Zone::parse(&name("sub.example.com."), SUB_ZONE, "sub.example.com.zone").unwrap(),
    ]
}

pub fn responder() -> Responder {
    Responder::for_zones(zones(), EDNS_PAYLOAD)
}

/// Names worth asking for: in the zones, around them and outside.
pub const NAMES: &[&str] = &[
    "example.com.",
    "www.example.com.",
    "WWW.EXAMPLE.COM.",
    "www2.example.com.",
    "alias.example.com.",
    "out.example.com.",
    "mail.example.com.",
    "c.example.com.",
    "b.c.example.com.",
    "a.b.c.example.com.",
    "x.wild.example.com.",
    "*.wild.example.com.",
    "dept.example.com.",
    "host.dept.example.com.",
    "ns.dept.example.com.",
    "nope.example.com.",
    "big.example.com.",
    "long.example.com.",
    "sub.example.com.",
    "www.sub.example.com.",
    "com.",
    ".",
    "example.org.",
];

/// Runs `query` through `responder` over UDP and over TCP and checks every invariant; panics
/// with the query and reply in hex when one fails. Returns the UDP reply.
pub fn check(responder: &Responder, query: &[u8]) -> Option<Message> {
    let mut udp = None;
    for transport in [Transport::Udp, Transport::Tcp] {
        let reply = responder.respond(query, transport, None);
        match check_reply(query, transport, reply.as_deref()) {
            Ok(message) if transport == Transport::Udp => udp = message,
            Ok(_) => {}
            Err(problem) => panic!(
                "{problem}\n  transport {transport:?}\n  query {}\n  reply {}",
                hex(query),
                reply.as_deref().map_or("none".to_string(), hex)
            ),
        }
    }
    udp
}

/// The invariants for one reply:
/// - a message of at least a header with QR clear gets a reply, anything else none;
/// - the reply parses with hickory-proto, is a response, and has the query's ID and opcode;
/// - over UDP it is at most 512 bytes unless the query had an OPT record, and then at most
///   the smaller of the client's and our payload size (never below 512);
/// - over TCP it fits the 16-bit length prefix.
pub fn check_reply(
    query: &[u8],
    transport: Transport,
    reply: Option<&[u8]>,
) -> Result<Option<Message>, String> {
    let is_query = query.len() >= 12 && query[2] & 0x80 == 0;
    let reply = match (is_query, reply) {
        (true, Some(reply)) => reply,
        (false, None) => return Ok(None),
        (true, None) => return Err("no reply to a query".into()),
        (false, Some(_)) => {
            return Err("a reply to a response or to a message shorter than a header".into())
        }
    };
    let message = Message::from_vec(reply).map_err(|e| format!("the reply does not parse: {e}"))?;
    if reply[..2] != query[..2] {
        return Err("the reply's ID is not the query's".into());
    }
    if message.metadata.message_type != MessageType::Response {
        return Err("the reply has QR clear".into());
    }
    if reply[2] & 0x78 != query[2] & 0x78 {
        return Err("the reply's opcode is not the query's".into());
    }
    let limit = match transport {
        Transport::Udp => match Message::from_vec(query).ok().and_then(|q| q.edns) {
            None => 512,
            Some(edns) => usize::from(edns.max_payload().clamp(512, EDNS_PAYLOAD)),
        },
        Transport::Tcp => usize::from(u16::MAX),
    };
    if reply.len() > limit {
        return Err(format!(
            "the reply is {} bytes, more than the {limit} allowed",
            reply.len()
        ));
    }
    Ok(Some(message))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
