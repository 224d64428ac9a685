//! Counts of the queries the fallback server answers, by transport, response code and query
//! type, and of what went wrong while serving (malformed and dropped queries, panics, restarts,
//! socket errors), for the metrics endpoint. Lock-free: each event adds to a relaxed atomic.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::fallback::responder::Transport;

/// Query types counted by name; every other type counts as "other".
pub const QTYPES: [(u16, &str); 14] = [
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (15, "MX"),
    (16, "TXT"),
    (28, "AAAA"),
    (33, "SRV"),
    (43, "DS"),
    (48, "DNSKEY"),
    (65, "HTTPS"),
    (252, "AXFR"),
    (255, "ANY"),
];
const OTHER_QTYPE: usize = QTYPES.len();

/// RCODE names (RFC 1035 §4.1.1, RFC 2136 §2.2); the header's 4 bits.
pub const RCODES: [&str; 16] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "DSOTYPENI",
    "RCODE12",
    "RCODE13",
    "RCODE14",
    "RCODE15",
];

const TRANSPORTS: [(Transport, &str); 2] = [(Transport::Udp, "udp"), (Transport::Tcp, "tcp")];

/// What the server sent for a query it could not make sense of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// FORMERR: the header could be read.
    Formerr,
    /// Nothing: shorter than a header.
    Unanswered,
}

/// Why a message was dropped unanswered though it was not malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// It is a response (QR=1): answering responses invites loops between servers.
    Response,
    /// Its UDP source port is a service that answers anything (see
    /// `dns_xdp_common::ports`).
    SourcePort,
}

/// The socket operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketOp {
    Receive,
    Send,
    Accept,
}

/// Why the server closed a TCP connection (a client closing its own is not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpClose {
    /// Idle for the idle timeout (the short one under pressure included).
    IdleTimeout,
    /// Idle, closed to make room for a new connection.
    EvictedIdle,
    /// Its query or reply had waited longest when a new connection needed its room.
    EvictedStuck,
    /// A query did not arrive whole within the I/O timeout of its first byte.
    ReadTimeout,
    /// A reply could not be sent within the I/O timeout: the client does not read.
    WriteTimeout,
    /// It reached `tcp_max_queries_per_connection`, and had its queries answered.
    QueryLimit,
}

const TCP_CLOSES: [(TcpClose, &str); 6] = [
    (TcpClose::IdleTimeout, "idle_timeout"),
    (TcpClose::EvictedIdle, "evicted_idle"),
    (TcpClose::EvictedStuck, "evicted_stuck"),
    (TcpClose::ReadTimeout, "read_timeout"),
    (TcpClose::WriteTimeout, "write_timeout"),
    (TcpClose::QueryLimit, "query_limit"),
];

/// (transport, what) pairs that can happen, in the order listed; each is listed even at 0, so
/// an alert on an increase sees the first one.
const MALFORMED: [(Transport, Malformed, &str); 4] = [
    (Transport::Udp, Malformed::Formerr, "formerr"),
    (Transport::Udp, Malformed::Unanswered, "none"),
    (Transport::Tcp, Malformed::Formerr, "formerr"),
    (Transport::Tcp, Malformed::Unanswered, "none"),
];
const DROPPED: [(Transport, Dropped, &str); 3] = [
    (Transport::Udp, Dropped::Response, "response"),
    (Transport::Udp, Dropped::SourcePort, "source_port"),
    (Transport::Tcp, Dropped::Response, "response"),
];
const SOCKET_ERRORS: [(Transport, SocketOp, &str); 3] = [
    (Transport::Udp, SocketOp::Receive, "receive"),
    (Transport::Udp, SocketOp::Send, "send"),
    (Transport::Tcp, SocketOp::Accept, "accept"),
];

pub struct QueryStats {
    /// [transport][rcode]
    responses: [[AtomicU64; 16]; 2],
    /// [transport][qtype index]
    queries: [[AtomicU64; QTYPES.len() + 1]; 2],
    /// [index in MALFORMED]
    malformed: [AtomicU64; MALFORMED.len()],
    /// [index in DROPPED]
    dropped: [AtomicU64; DROPPED.len()],
    /// [index in SOCKET_ERRORS]
    socket_errors: [AtomicU64; SOCKET_ERRORS.len()],
    /// [transport]: panics caught while answering or serving.
    panics: [AtomicU64; 2],
    /// [transport]: serving threads (UDP) and accept loops (TCP) restarted after they ended.
    restarts: [AtomicU64; 2],
    tcp_accepted: AtomicU64,
    /// Connections closed at once: their source had its limit open, none idle.
    tcp_refused: AtomicU64,
    /// [index in TCP_CLOSES]
    tcp_closed: [AtomicU64; TCP_CLOSES.len()],
    /// Connections open now.
    tcp_open: AtomicU64,
}

impl Default for QueryStats {
    fn default() -> Self {
        let zero = || AtomicU64::new(0);
        Self {
            responses: std::array::from_fn(|_| std::array::from_fn(|_| zero())),
            queries: std::array::from_fn(|_| std::array::from_fn(|_| zero())),
            malformed: std::array::from_fn(|_| zero()),
            dropped: std::array::from_fn(|_| zero()),
            socket_errors: std::array::from_fn(|_| zero()),
            panics: std::array::from_fn(|_| zero()),
            restarts: std::array::from_fn(|_| zero()),
            tcp_accepted: zero(),
            tcp_refused: zero(),
            tcp_closed: std::array::from_fn(|_| zero()),
            tcp_open: zero(),
        }
    }
}

fn transport_index(transport: Transport) -> usize {
    match transport {
        Transport::Udp => 0,
        Transport::Tcp => 1,
    }
}

impl QueryStats {
    /// Counts one answered query from the raw query and reply.
    pub fn record(&self, transport: Transport, query: &[u8], reply: &[u8]) {
        let t = transport_index(transport);
        if let Some(flags) = reply.get(3) {
            self.responses[t][usize::from(flags & 0x0F)].fetch_add(1, Ordering::Relaxed);
        }
        let qtype = question_type(query)
            .and_then(|qtype| QTYPES.iter().position(|(code, _)| *code == qtype))
            .unwrap_or(OTHER_QTYPE);
        self.queries[t][qtype].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a query the server could not make sense of.
    pub fn malformed(&self, transport: Transport, what: Malformed) {
        add(&self.malformed, &MALFORMED, transport, what);
    }

    /// Counts a message dropped unanswered.
    pub fn dropped(&self, transport: Transport, why: Dropped) {
        add(&self.dropped, &DROPPED, transport, why);
    }

    /// Counts a failed socket operation.
    pub fn socket_error(&self, transport: Transport, op: SocketOp) {
        add(&self.socket_errors, &SOCKET_ERRORS, transport, op);
    }

    /// Counts a panic caught while answering or serving.
    pub fn panicked(&self, transport: Transport) {
        self.panics[transport_index(transport)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a serving thread or accept loop restarted.
    pub fn restarted(&self, transport: Transport) {
        self.restarts[transport_index(transport)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a TCP connection accepted, and whether it was admitted or refused.
    pub fn tcp_accepted(&self, refused: bool) {
        self.tcp_accepted.fetch_add(1, Ordering::Relaxed);
        if refused {
            self.tcp_refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a TCP connection the server closed.
    pub fn tcp_closed(&self, why: TcpClose) {
        if let Some(i) = TCP_CLOSES.iter().position(|(w, _)| *w == why) {
            self.tcp_closed[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records how many TCP connections are open.
    pub fn set_tcp_open(&self, open: usize) {
        self.tcp_open.store(open as u64, Ordering::Relaxed);
    }

    /// (accepted, refused, open now).
    pub fn tcp_connections(&self) -> (u64, u64, u64) {
        (
            self.tcp_accepted.load(Ordering::Relaxed),
            self.tcp_refused.load(Ordering::Relaxed),
            self.tcp_open.load(Ordering::Relaxed),
        )
    }

    /// (reason, count) of TCP connections the server closed, zeros included.
    pub fn tcp_closed_counts(&self) -> Vec<(&'static str, u64)> {
        TCP_CLOSES
            .iter()
            .zip(&self.tcp_closed)
            .map(|((_, name), n)| (*name, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// (transport, `formerr` or `none`, count), zeros included.
    pub fn malformed_counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        listed(&self.malformed, &MALFORMED)
    }

    /// (transport, reason, count), zeros included.
    pub fn dropped_counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        listed(&self.dropped, &DROPPED)
    }

    /// (transport, operation, count), zeros included.
    pub fn socket_error_counts(&self) -> Vec<(&'static str, &'static str, u64)> {
        listed(&self.socket_errors, &SOCKET_ERRORS)
    }

    /// (transport, count) of panics caught, zeros included.
    pub fn panic_counts(&self) -> Vec<(&'static str, u64)> {
        per_transport(&self.panics)
    }

    /// (transport, count) of restarts, zeros included.
    pub fn restart_counts(&self) -> Vec<(&'static str, u64)> {
        per_transport(&self.restarts)
    }

    /// (transport, rcode name, count) for every non-zero count.
    pub fn responses(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::new();
        for (transport, tname) in TRANSPORTS {
            for (rcode, name) in RCODES.iter().enumerate() {
                let n = self.responses[transport_index(transport)][rcode].load(Ordering::Relaxed);
                if n > 0 {
                    out.push((tname, *name, n));
                }
            }
        }
        out
    }

    /// (transport, qtype name, count) for every non-zero count.
    pub fn queries(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::new();
        for (transport, tname) in TRANSPORTS {
            let names = QTYPES.iter().map(|(_, name)| *name).chain(["other"]);
            for (i, name) in names.enumerate() {
                let n = self.queries[transport_index(transport)][i].load(Ordering::Relaxed);
                if n > 0 {
                    out.push((tname, name, n));
                }
            }
        }
        out
    }
}

fn add<W: PartialEq>(
    counts: &[AtomicU64],
    table: &[(Transport, W, &str)],
    transport: Transport,
    what: W,
) {
    // Every pair the server records is in its table; one that is not is not counted rather than
    // taking the server down.
    if let Some(i) = table
        .iter()
        .position(|(t, w, _)| *t == transport && *w == what)
    {
        counts[i].fetch_add(1, Ordering::Relaxed);
    }
}

fn listed<W>(
    counts: &[AtomicU64],
    table: &[(Transport, W, &'static str)],
) -> Vec<(&'static str, &'static str, u64)> {
    table
        .iter()
        .zip(counts)
        .map(|((transport, _, name), n)| {
            (transport_name(*transport), *name, n.load(Ordering::Relaxed))
        })
        .collect()
}

fn per_transport(counts: &[AtomicU64; 2]) -> Vec<(&'static str, u64)> {
    TRANSPORTS
        .iter()
        .map(|(transport, name)| {
            (
                *name,
                counts[transport_index(*transport)].load(Ordering::Relaxed),
            )
        })
        .collect()
}

fn transport_name(transport: Transport) -> &'static str {
    TRANSPORTS[transport_index(transport)].1
}

/// The type of the first question: after the header and the question's name (uncompressed, as
/// questions are).
fn question_type(query: &[u8]) -> Option<u16> {
    let mut at = 12;
    loop {
        let len = usize::from(*query.get(at)?);
        if len == 0 {
            at += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        at += 1 + len;
    }
    Some(u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03www\x07example\x03com\x00");
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn counts_by_transport_rcode_and_type() {
        let stats = QueryStats::default();
        let nxdomain = [0x12, 0x34, 0x84, 0x03];
        let noerror = [0x12, 0x34, 0x84, 0x00];
        stats.record(Transport::Udp, &query(1), &noerror);
        stats.record(Transport::Udp, &query(1), &nxdomain);
        stats.record(Transport::Tcp, &query(99), &noerror);
        stats.record(Transport::Udp, &[0; 3], &noerror);
        assert_eq!(
            stats.responses(),
            vec![
                ("udp", "NOERROR", 2),
                ("udp", "NXDOMAIN", 1),
                ("tcp", "NOERROR", 1)
            ]
        );
        assert_eq!(
            stats.queries(),
            vec![("udp", "A", 2), ("udp", "other", 1), ("tcp", "other", 1)]
        );
    }

    #[test]
    fn counts_what_went_wrong_listing_zeros() {
        let stats = QueryStats::default();
        stats.malformed(Transport::Udp, Malformed::Formerr);
        stats.malformed(Transport::Udp, Malformed::Formerr);
        stats.malformed(Transport::Tcp, Malformed::Unanswered);
        stats.dropped(Transport::Udp, Dropped::SourcePort);
        stats.socket_error(Transport::Tcp, SocketOp::Accept);
        stats.panicked(Transport::Tcp);
        stats.restarted(Transport::Udp);
        assert_eq!(
            stats.malformed_counts(),
            vec![
                ("udp", "formerr", 2),
                ("udp", "none", 0),
                ("tcp", "formerr", 0),
                ("tcp", "none", 1)
            ]
        );
        assert_eq!(
            stats.dropped_counts(),
            vec![
                ("udp", "response", 0),
                ("udp", "source_port", 1),
                ("tcp", "response", 0)
            ]
        );
        assert_eq!(
            stats.socket_error_counts(),
            vec![
                ("udp", "receive", 0),
                ("udp", "send", 0),
                ("tcp", "accept", 1)
            ]
        );
        assert_eq!(stats.panic_counts(), vec![("udp", 0), ("tcp", 1)]);
        assert_eq!(stats.restart_counts(), vec![("udp", 1), ("tcp", 0)]);
    }

    #[test]
    fn counts_tcp_connections_and_why_the_server_closed_them() {
        let stats = QueryStats::default();
        stats.tcp_accepted(false);
        stats.tcp_accepted(true);
        stats.set_tcp_open(1);
        stats.tcp_closed(TcpClose::WriteTimeout);
        stats.tcp_closed(TcpClose::EvictedIdle);
        stats.tcp_closed(TcpClose::WriteTimeout);
        assert_eq!(stats.tcp_connections(), (2, 1, 1));
        assert_eq!(
            stats.tcp_closed_counts(),
            vec![
                ("idle_timeout", 0),
                ("evicted_idle", 1),
                ("evicted_stuck", 0),
                ("read_timeout", 0),
                ("write_timeout", 2),
                ("query_limit", 0)
            ]
        );
    }
}
