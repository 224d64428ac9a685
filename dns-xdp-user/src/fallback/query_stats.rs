//! Counts of the queries the fallback server answers, by transport, response code and query
//! type, for the metrics endpoint. Lock-free: each query adds to a few relaxed atomics.

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

pub struct QueryStats {
    /// [transport][rcode]
    responses: [[AtomicU64; 16]; 2],
    /// [transport][qtype index]
    queries: [[AtomicU64; QTYPES.len() + 1]; 2],
}

impl Default for QueryStats {
    fn default() -> Self {
        Self {
            responses: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            queries: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
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
}
