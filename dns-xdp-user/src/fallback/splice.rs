//! Answers the fallback sends without decoding or encoding a DNS message: plain A/AAAA queries
//! for the names the XDP fast path serves get the very bytes the fast path would send, spliced
//! from the rendered answer sections of [`AnswerSet`]. Everything else returns None and goes
//! the general way through [`crate::fallback::responder::Responder`].
//!
//! The conditions are the fast path's own (see `dns-xdp-ebpf/src/parse/dns.rs`), so a query
//! gets the same bytes whichever of the two answers it; the unit tests hold the result to the
//! general path's, byte for byte.

use std::collections::HashMap;

use dns_xdp_common::answer::{MAX_NAME_LEN, QTYPE_A, QTYPE_AAAA};

use crate::{fallback::responder::Transport, fastpath::answers::AnswerSet, zone::Zone};

const HEADER_LEN: usize = 12;
const FLAG_QR: u16 = 0x8000;
const FLAG_OPCODE: u16 = 0x7800;
const FLAG_TC: u16 = 0x0200;
/// QR=1 and AA=1; RD and CD are copied from the query.
const ANSWER_FLAGS: u16 = 0x8400;
const COPIED_FLAGS: u16 = 0x0110;
const CLASS_IN: u16 = 1;
const TYPE_OPT: u16 = 41;
const OPT_LEN: usize = 11;
const EDNS_DO: u16 = 0x8000;
const OPTION_COOKIE: u16 = 10;
const CLASSIC_UDP_LIMIT: usize = 512;

/// One rendered RRset: its record count and answer-section bytes.
struct Section {
    count: u16,
    bytes: Box<[u8]>,
}

/// The rendered answers, by (lowercase wire name, type).
pub struct Rendered {
    sections: HashMap<(Box<[u8]>, u16), Section>,
}

impl Rendered {
    pub fn new(zones: &[Zone]) -> Self {
        Self::from_answers(&AnswerSet::from_zones(zones).0)
    }

    /// From answers already rendered for the fast path.
    pub fn from_answers(set: &AnswerSet) -> Self {
        let sections = set
            .iter()
            // Steered answers depend on who asks, which this table does not know.
            .filter(|a| a.is_fixed())
            .map(|a| {
                let section = Section {
                    count: a.answer_count,
                    bytes: a.answer.clone(),
                };
                ((a.name.clone(), a.qtype), section)
            })
            .collect();
        Self { sections }
    }

    /// The reply to `query` if it is one the fast path would answer, else None.
    pub fn answer(&self, query: &[u8], transport: Transport, edns_payload: u16) -> Option<Vec<u8>> {
        let read16 = |at: usize| -> Option<u16> {
            Some(u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]))
        };
        let flags = read16(2)?;
        if flags & (FLAG_QR | FLAG_OPCODE | FLAG_TC) != 0
            || read16(4)? != 1
            || read16(6)? != 0
            || read16(8)? != 0
        {
            return None;
        }
        let arcount = read16(10)?;
        let name_len = name_length(query)?;
        let mut name = [0u8; MAX_NAME_LEN];
        for (out, byte) in name
            .iter_mut()
            .zip(&query[HEADER_LEN..HEADER_LEN + name_len])
        {
            *out = byte.to_ascii_lowercase();
        }
        let qtype_at = HEADER_LEN + name_len;
        let question_end = qtype_at + 4;
        let qtype = read16(qtype_at)?;
        if read16(qtype_at + 2)? != CLASS_IN || (qtype != QTYPE_A && qtype != QTYPE_AAAA) {
            return None;
        }
        let client_limit = match arcount {
            0 if question_end == query.len() => CLASSIC_UDP_LIMIT,
            1 => opt_payload(query, question_end)?,
            _ => return None,
        };
        let key: (Box<[u8]>, u16) = (name[..name_len].into(), qtype);
        let section = self.sections.get(&key)?;

        let edns = arcount == 1;
        let len = question_end + section.bytes.len() + if edns { OPT_LEN } else { 0 };
        let our_limit = (edns_payload as usize).max(CLASSIC_UDP_LIMIT);
        if transport == Transport::Udp && (len > client_limit || len > our_limit) {
            // Truncation is the general path's business.
            return None;
        }
        let mut reply = Vec::with_capacity(len);
        reply.extend_from_slice(&query[..2]);
        reply.extend_from_slice(&(ANSWER_FLAGS | (flags & COPIED_FLAGS)).to_be_bytes());
        reply.extend_from_slice(&1u16.to_be_bytes());
        reply.extend_from_slice(&section.count.to_be_bytes());
        reply.extend_from_slice(&0u16.to_be_bytes());
        reply.extend_from_slice(&u16::from(edns).to_be_bytes());
        reply.extend_from_slice(&query[HEADER_LEN..question_end]);
        reply.extend_from_slice(&section.bytes);
        if edns {
            let payload = edns_payload.to_be_bytes();
            reply.extend_from_slice(&[0, 0, 41, payload[0], payload[1], 0, 0, 0, 0, 0, 0]);
        }
        Some(reply)
    }
}

/// Wire length of the question name: plain labels of at most 63 bytes, no compression, at most
/// 255 bytes in all, inside the message.
fn name_length(query: &[u8]) -> Option<usize> {
    let mut at = HEADER_LEN;
    loop {
        let len = *query.get(at)? as usize;
        if len == 0 {
            return Some(at + 1 - HEADER_LEN);
        }
        if len > 63 {
            return None;
        }
        at += 1 + len;
        if at - HEADER_LEN >= MAX_NAME_LEN {
            return None;
        }
    }
}

/// The client's UDP payload size from the OPT record that must fill the rest of the message:
/// EDNS version 0, DO=0, no options but well-formed COOKIEs. None for anything else.
fn opt_payload(query: &[u8], at: usize) -> Option<usize> {
    let opt = query.get(at..at + OPT_LEN)?;
    let read16 = |i: usize| u16::from_be_bytes([opt[i], opt[i + 1]]);
    if opt[0] != 0 || read16(1) != TYPE_OPT || opt[5] != 0 || opt[6] != 0 {
        return None;
    }
    if read16(7) & EDNS_DO != 0 {
        return None;
    }
    let end = at + OPT_LEN + read16(9) as usize;
    if end != query.len() {
        return None;
    }
    let mut pos = at + OPT_LEN;
    while pos < end {
        let header = query.get(pos..pos + 4)?;
        let code = u16::from_be_bytes([header[0], header[1]]);
        let len = u16::from_be_bytes([header[2], header[3]]) as usize;
        // RFC 7873 §5.2: 8 bytes of client cookie, or 16 to 40 with a server cookie.
        if code != OPTION_COOKIE || !(len == 8 || (16..=40).contains(&len)) {
            return None;
        }
        pos += 4 + len;
    }
    if pos != end {
        return None;
    }
    Some((read16(3) as usize).max(CLASSIC_UDP_LIMIT))
}
