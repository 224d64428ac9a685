//! Replies the fallback sends without decoding or encoding a DNS message: a query the fast path
//! would answer, for a rendered RRset, gets the very bytes the fast path would send, spliced
//! from the rendered answer section. Everything else returns None and goes the general way
//! through [`crate::fallback::responder::Responder`].
//!
//! Which queries qualify is `dns_xdp_common::query`'s decision, the fast path's own, so a query
//! gets the same bytes whichever of the two answers it; the unit tests hold the result to the
//! general path's, byte for byte. DO=1 queries go the general way, which signs.

use dns_xdp_common::query::{self, Question, EDNS_DO, HEADER_LEN, OPT_LEN};

use crate::{fallback::responder::Transport, render::Section};

/// The reply to `msg` if it is a query the fast path would answer and `section` has its
/// RRset: `section` is given the question's name in map form (lowercase wire format) and its
/// type. `edns_payload` is ours.
pub fn reply<'s>(
    msg: &[u8],
    transport: Transport,
    edns_payload: u16,
    section: impl FnOnce(&[u8], u16) -> Option<&'s Section>,
) -> Option<Vec<u8>> {
    let question: Question = query::parse(msg).ok()?;
    if question.edns_flags & EDNS_DO != 0 {
        return None;
    }
    let mut name = [0u8; dns_xdp_common::answer::MAX_NAME_LEN];
    let wire = &msg[HEADER_LEN..HEADER_LEN + question.name_len];
    for (out, byte) in name.iter_mut().zip(wire) {
        *out = byte.to_ascii_lowercase();
    }
    let section = section(&name[..question.name_len], question.qtype)?;
    let opt_len = if question.edns { OPT_LEN } else { 0 };
    let len = question.question_end + section.bytes.len() + opt_len;
    if transport == Transport::Udp && !query::fits(len, question.client_limit, edns_payload) {
        // Truncation is the general path's business.
        return None;
    }
    let mut reply = Vec::with_capacity(len);
    reply.extend_from_slice(&msg[..2]);
    reply.extend_from_slice(&query::answer_flags(question.flags).to_be_bytes());
    reply.extend_from_slice(&1u16.to_be_bytes());
    reply.extend_from_slice(&section.count.to_be_bytes());
    reply.extend_from_slice(&0u16.to_be_bytes());
    reply.extend_from_slice(&u16::from(question.edns).to_be_bytes());
    reply.extend_from_slice(&msg[HEADER_LEN..question.question_end]);
    reply.extend_from_slice(&section.bytes);
    if question.edns {
        reply.extend_from_slice(&query::opt_record(edns_payload, question.edns_flags));
    }
    Some(reply)
}
