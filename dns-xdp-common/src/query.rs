//! Which DNS queries the fast path answers, and how its answer's header and OPT record are
//! made: the rules, once, for the XDP program and for the agent (whose fallback splices the
//! same bytes for the same queries, and whose tests hold the two to each other).
//!
//! The program walks the query its own way, shaped for the verifier (`dns-xdp-ebpf/src/parse`),
//! and asks this module at every decision; [`parse`] walks a query held in a slice with the
//! same decisions, for the agent. A query is answered when it is a standard query (QR=0,
//! opcode QUERY, TC=0) with one question, no answer or authority records and at most one
//! additional record, which must be an OPT record filling the rest of the message, of EDNS
//! version 0, whose options are all well-formed DNS COOKIEs; the question name is plain labels
//! (no compression), the class IN and the type A or AAAA.

use crate::{
    answer::{MAX_NAME_LEN, QTYPE_A, QTYPE_AAAA},
    counters::Counter,
};

pub const HEADER_LEN: usize = 12;
pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_OPCODE: u16 = 0x7800;
pub const FLAG_TC: u16 = 0x0200;
pub const CLASS_IN: u16 = 1;
pub const TYPE_OPT: u16 = 41;
/// The fixed part of an OPT record: root name, type, class, TTL, RDLENGTH.
pub const OPT_LEN: usize = 11;
pub const EDNS_DO: u16 = 0x8000;
/// Compact Answers OK (RFC 9824 §5.1), echoed beside DO as the fallback does.
pub const EDNS_CO: u16 = 0x4000;
pub const OPTION_COOKIE: u16 = 10;
/// Most EDNS options the program walks: a COOKIE and the odd extra one it passes up anyway.
pub const MAX_OPTIONS: usize = 4;
/// RFC 1035 §4.2.1: without EDNS a UDP answer is at most 512 bytes; with EDNS, no client limit
/// is below it (RFC 6891 §6.2.5).
pub const CLASSIC_UDP_LIMIT: usize = 512;
/// Answer header flags: QR=1 and AA=1; RD and CD are copied from the query, as NSD and Knot do.
pub const ANSWER_FLAGS: u16 = 0x8400;
pub const COPIED_FLAGS: u16 = 0x0110;

/// Whether a header (flags and the four counts) is one of a query the fast path answers;
/// `Err` names the counter of why not.
#[inline(always)]
pub fn check_header(
    flags: u16,
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
) -> Result<(), Counter> {
    if flags & (FLAG_QR | FLAG_OPCODE | FLAG_TC) != 0
        || qdcount != 1
        || ancount != 0
        || nscount != 0
        || arcount > 1
    {
        return Err(Counter::PassNotQuery);
    }
    Ok(())
}

/// Whether one byte of the question name, where a label length is due, starts a plain label
/// (or, zero, ends the name): compression pointers and extended label types do not.
#[inline(always)]
pub fn plain_label(len: u8) -> bool {
    len <= 63
}

/// Whether a name that has reached `name_len` bytes without ending is still short enough.
#[inline(always)]
pub fn name_fits(name_len: usize) -> bool {
    name_len < MAX_NAME_LEN
}

/// Whether the question's class and type are answered; `Err` names the counter of why not.
#[inline(always)]
pub fn check_question(qtype: u16, qclass: u16) -> Result<(), Counter> {
    if qclass != CLASS_IN {
        return Err(Counter::PassNotQuery);
    }
    if qtype != QTYPE_A && qtype != QTYPE_AAAA {
        return Err(Counter::PassQtype);
    }
    Ok(())
}

/// Whether the OPT record's extended RCODE and version are what the fast path speaks (version
/// 0); anything else gets BADVERS or more from the fallback.
#[inline(always)]
pub fn check_edns_version(ext_rcode: u8, version: u8) -> Result<(), Counter> {
    if ext_rcode != 0 || version != 0 {
        return Err(Counter::PassEdns);
    }
    Ok(())
}

/// Whether an EDNS option may stand in a query the fast path answers: only a DNS COOKIE of a
/// legal length (RFC 7873 §5.2: a client cookie alone is 8 bytes, with a server cookie 16 to
/// 40), which the answer ignores as a server without cookies does. Other lengths are FORMERR,
/// which the fallback gives.
#[inline(always)]
pub fn option_allowed(code: u16, len: usize) -> bool {
    code == OPTION_COOKIE && (len == 8 || (16..=40).contains(&len))
}

/// The EDNS flags the answer's OPT record echoes: DO (RFC 3225 §3), and CO beside it (RFC 9824
/// §5.1, meaningful only with DO); 0 for DO=0.
#[inline(always)]
pub fn echoed_edns_flags(flags: u16) -> u16 {
    if flags & EDNS_DO != 0 {
        flags & (EDNS_DO | EDNS_CO)
    } else {
        0
    }
}

/// The largest UDP answer a client accepts, from the payload size its OPT record states.
#[inline(always)]
pub fn client_limit(payload: u16) -> usize {
    let payload = payload as usize;
    if payload < CLASSIC_UDP_LIMIT {
        CLASSIC_UDP_LIMIT
    } else {
        payload
    }
}

/// Whether a UDP answer of `len` bytes goes out: within the client's limit and within ours
/// (what we advertise, as the fallback caps it: larger UDP answers risk IP fragmentation).
#[inline(always)]
pub fn fits(len: usize, client_limit: usize, edns_payload: u16) -> bool {
    let ours = edns_payload as usize;
    let ours = if ours < CLASSIC_UDP_LIMIT {
        CLASSIC_UDP_LIMIT
    } else {
        ours
    };
    len <= client_limit && len <= ours
}

/// The answer's header flags for a query with `flags`.
#[inline(always)]
pub fn answer_flags(flags: u16) -> u16 {
    ANSWER_FLAGS | (flags & COPIED_FLAGS)
}

/// The OPT record of an answer: root owner, our UDP payload size, extended RCODE 0, version 0,
/// the echoed flags (see [`echoed_edns_flags`]), no options.
#[inline(always)]
pub fn opt_record(payload: u16, echoed_flags: u16) -> [u8; OPT_LEN] {
    let p = payload.to_be_bytes();
    let f = echoed_flags.to_be_bytes();
    [0, 0, 41, p[0], p[1], 0, 0, f[0], f[1], 0, 0]
}

/// A query the fast path answers, as [`parse`] found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    /// The header flags.
    pub flags: u16,
    /// Wire length of the question name, which starts at [`HEADER_LEN`].
    pub name_len: usize,
    pub qtype: u16,
    /// Offset just past the question: where the answer section starts.
    pub question_end: usize,
    /// The query had an OPT record, so the answer has one.
    pub edns: bool,
    /// See [`echoed_edns_flags`].
    pub edns_flags: u16,
    /// See [`client_limit`]; [`CLASSIC_UDP_LIMIT`] without EDNS.
    pub client_limit: usize,
}

/// Decides whether the fast path answers `msg`, a whole DNS message, as the XDP program decides
/// it (apart from what only the frame can say: addresses, ports, checksums, the message's size
/// against the program's buffer).
pub fn parse(msg: &[u8]) -> Result<Question, Counter> {
    let read16 = |at: usize| -> Result<u16, Counter> {
        match (msg.get(at), msg.get(at + 1)) {
            (Some(&hi), Some(&lo)) => Ok(u16::from_be_bytes([hi, lo])),
            _ => Err(Counter::PassNotQuery),
        }
    };
    let flags = read16(2)?;
    let arcount = read16(10)?;
    check_header(flags, read16(4)?, read16(6)?, read16(8)?, arcount)?;
    let mut at = HEADER_LEN;
    let name_len = loop {
        let len = *msg.get(at).ok_or(Counter::PassNotQuery)?;
        if len == 0 {
            break at + 1 - HEADER_LEN;
        }
        if !plain_label(len) {
            return Err(Counter::PassNotQuery);
        }
        at += 1 + len as usize;
        if !name_fits(at - HEADER_LEN) {
            return Err(Counter::PassNotQuery);
        }
    };
    let qtype_at = HEADER_LEN + name_len;
    let question_end = qtype_at + 4;
    if question_end > msg.len() {
        return Err(Counter::PassNotQuery);
    }
    let qtype = read16(qtype_at)?;
    check_question(qtype, read16(qtype_at + 2)?)?;
    let mut question = Question {
        flags,
        name_len,
        qtype,
        question_end,
        edns: false,
        edns_flags: 0,
        client_limit: CLASSIC_UDP_LIMIT,
    };
    if arcount == 0 {
        // Bytes after the question that no record count accounts for.
        return if question_end == msg.len() {
            Ok(question)
        } else {
            Err(Counter::PassNotQuery)
        };
    }
    let opt = question_end;
    if opt + OPT_LEN > msg.len() || msg[opt] != 0 || read16(opt + 1)? != TYPE_OPT {
        return Err(Counter::PassNotQuery);
    }
    check_edns_version(msg[opt + 5], msg[opt + 6])?;
    let end = opt + OPT_LEN + read16(opt + 9)? as usize;
    if end != msg.len() {
        return Err(Counter::PassNotQuery);
    }
    let mut pos = opt + OPT_LEN;
    for _ in 0..MAX_OPTIONS {
        if pos == end {
            break;
        }
        if pos + 4 > end {
            return Err(Counter::PassNotQuery);
        }
        let len = read16(pos + 2)? as usize;
        if !option_allowed(read16(pos)?, len) {
            return Err(Counter::PassEdns);
        }
        pos += 4 + len;
        if pos > end {
            return Err(Counter::PassNotQuery);
        }
    }
    if pos != end {
        return Err(Counter::PassEdns);
    }
    question.edns = true;
    question.edns_flags = echoed_edns_flags(read16(opt + 7)?);
    question.client_limit = client_limit(read16(opt + 3)?);
    Ok(question)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    fn query(flags: u16, counts: [u16; 4], name: &[u8], qtype: u16, rest: &[u8]) -> Vec<u8> {
        let mut q = Vec::from([0x12, 0x34]);
        q.extend_from_slice(&flags.to_be_bytes());
        for count in counts {
            q.extend_from_slice(&count.to_be_bytes());
        }
        q.extend_from_slice(name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q.extend_from_slice(rest);
        q
    }

    fn opt(payload: u16, flags: u16, version: u8, options: &[(u16, usize)]) -> Vec<u8> {
        let mut rdata = Vec::new();
        for &(code, len) in options {
            rdata.extend_from_slice(&code.to_be_bytes());
            rdata.extend_from_slice(&(len as u16).to_be_bytes());
            rdata.extend(core::iter::repeat_n(7u8, len));
        }
        let mut o = Vec::from([0, 0, 41]);
        o.extend_from_slice(&payload.to_be_bytes());
        o.extend_from_slice(&[0, version]);
        o.extend_from_slice(&flags.to_be_bytes());
        o.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        o.extend_from_slice(&rdata);
        o
    }

    const WWW: &[u8] = b"\x03www\x07example\x03com\x00";

    #[test]
    fn a_plain_query_is_answered_with_the_classic_limit() {
        let q = parse(&query(0x0100, [1, 0, 0, 0], WWW, QTYPE_A, &[])).unwrap();
        assert_eq!(
            (q.name_len, q.qtype, q.question_end, q.edns),
            (17, 1, 33, false)
        );
        assert_eq!(q.client_limit, 512);
        assert_eq!(answer_flags(q.flags), 0x8500);
    }

    #[test]
    fn edns_version_0_with_cookies_only() {
        let ok = |o: Vec<u8>| parse(&query(0, [1, 0, 0, 1], WWW, QTYPE_AAAA, &o));
        let q = ok(opt(4096, 0xC000, 0, &[(OPTION_COOKIE, 8)])).unwrap();
        assert_eq!((q.edns, q.edns_flags, q.client_limit), (true, 0xC000, 4096));
        assert_eq!(
            ok(opt(100, 0x4000, 0, &[])).unwrap().edns_flags,
            0,
            "CO alone"
        );
        assert_eq!(ok(opt(100, 0, 0, &[])).unwrap().client_limit, 512);
        assert!(ok(opt(1232, 0, 0, &[(OPTION_COOKIE, 24)])).is_ok());
        assert_eq!(ok(opt(1232, 0, 1, &[])), Err(Counter::PassEdns));
        assert_eq!(
            ok(opt(1232, 0, 0, &[(OPTION_COOKIE, 5)])),
            Err(Counter::PassEdns)
        );
        assert_eq!(ok(opt(1232, 0, 0, &[(8, 7)])), Err(Counter::PassEdns));
        let mut short = opt(1232, 0, 0, &[(OPTION_COOKIE, 8)]);
        short.pop();
        assert_eq!(ok(short), Err(Counter::PassNotQuery));
    }

    #[test]
    fn everything_else_passes_up_with_its_reason() {
        let plain =
            |flags, counts, qtype, rest: &[u8]| parse(&query(flags, counts, WWW, qtype, rest));
        assert_eq!(
            plain(0x8000, [1, 0, 0, 0], 1, &[]),
            Err(Counter::PassNotQuery)
        );
        assert_eq!(
            plain(0x2800, [1, 0, 0, 0], 1, &[]),
            Err(Counter::PassNotQuery)
        );
        assert_eq!(
            plain(0x0200, [1, 0, 0, 0], 1, &[]),
            Err(Counter::PassNotQuery)
        );
        assert_eq!(plain(0, [2, 0, 0, 0], 1, &[]), Err(Counter::PassNotQuery));
        assert_eq!(plain(0, [1, 0, 0, 2], 1, &[]), Err(Counter::PassNotQuery));
        assert_eq!(plain(0, [1, 0, 0, 0], 15, &[]), Err(Counter::PassQtype));
        assert_eq!(plain(0, [1, 0, 0, 0], 1, &[0]), Err(Counter::PassNotQuery));
        let compressed = query(0, [1, 0, 0, 0], b"\xC0\x0C", 1, &[]);
        assert_eq!(parse(&compressed), Err(Counter::PassNotQuery));
        assert_eq!(parse(&[0; 11]), Err(Counter::PassNotQuery));
    }

    #[test]
    fn limits_and_the_opt_record() {
        assert!(fits(512, 512, 100));
        assert!(!fits(513, 4096, 512));
        assert!(!fits(1300, 4096, 1232));
        assert!(fits(1232, 1232, 1232));
        assert_eq!(
            opt_record(1232, EDNS_DO),
            [0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]
        );
    }
}
