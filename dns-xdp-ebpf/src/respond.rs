//! Turns the query frame into the answer in place: the answer bytes come ready-made from the
//! answer map, so the kernel only resizes the frame, copies, swaps addresses and fixes lengths
//! and checksums.

use core::{
    ptr::{addr_of, read_volatile, write_volatile},
    sync::atomic::{compiler_fence, Ordering},
};

use aya_ebpf::{
    helpers::{
        bpf_get_prandom_u32,
        generated::{
            bpf_xdp_adjust_head, bpf_xdp_adjust_tail, bpf_xdp_load_bytes, bpf_xdp_store_bytes,
        },
    },
    programs::XdpContext,
};
use dns_xdp_common::{
    addresses::ServedAddr,
    answer::{
        AnswerKey, AnswerValue, DEFAULT_VIEW, DNSSEC_SIGNED, DNSSEC_UNSIGNED, FIRST_VARIANT,
        MAX_ANSWER_LEN, NAME_BUF_LEN, NAME_WORDS,
    },
    counters::Counter,
    publish::Live,
    query::{answer_flags, fits, opt_record, OPT_LEN},
    scratch::{Scratch, MAX_HEADERS_LEN},
};
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    udp::UdpHdr,
};

use crate::{
    csum,
    maps::{self, forget, view_of, PUBLISH},
    parse::{dns::Query, ip::Ip, ptr_at, udp::Udp},
};

/// A fresh IP TTL / hop limit for the answer, rather than whatever was left of the query's.
const REPLY_TTL: u8 = 64;
/// Bytes `take` copies at a time.
const CHUNK: usize = 32;
/// `Scratch::opaque` slot of the answer's length in chunks (see `take`).
const SLOT_ANSWER_CHUNKS: usize = 4;

pub fn answer(ctx: &XdpContext, ip: &Ip, udp: &Udp, q: &Query) -> Result<Counter, Counter> {
    let publish = PUBLISH.get_ptr(0).ok_or(Counter::PassInternal)?;
    // The update sequence, then everything the answer is made of, then the sequence again: the
    // agent frees and reuses answer elements only while it is odd, so an even sequence that
    // did not move means nothing read in between was being rewritten (`publish` explains).
    let seq = unsafe { read_volatile(addr_of!((*publish).seq)) };
    if seq & 1 != 0 {
        return Err(Counter::PassTorn);
    }
    // One load: the generation, its view trie and its EDNS size were stored together.
    let live = Live::from_word(unsafe { read_volatile(addr_of!((*publish).live) as *const u64) });
    // Generation 0 means nothing is published yet.
    if live.generation == 0 {
        return Err(Counter::PassMiss);
    }
    let key = unsafe { &mut (*q.scratch).key };
    key.generation = live.generation;
    let taken =
        lookup(unsafe { &(*q.scratch).source }, key, live.views).and_then(|value| take(value, q));
    // Volatile reads keep their order only among themselves: without this the compiler may sink
    // the plain loads of the entry (`same_name`'s words, the lengths, counts and checksums that
    // `take` returns) past the second read of `seq`, where a torn read would go unnoticed.
    // Acquire, as a seqlock reader's fence (the kernel's `read_seqcount_retry`): no load before
    // it moves after it. Only the compiler's: x86-64 keeps loads in order (see `publish`), and
    // LLVM's BPF backend has no instruction for a CPU fence (`atomic::fence` fails to build).
    compiler_fence(Ordering::Acquire);
    // Also when the lookup failed: a miss caught in an update is the update's doing.
    if unsafe { read_volatile(addr_of!((*publish).seq)) } != seq {
        return Err(Counter::PassTorn);
    }
    let answer = taken?;
    let answer_len = answer.len;
    let edns_payload = live.edns_payload;

    let opt_len = if q.edns { OPT_LEN } else { 0 };
    let dns_len = q.question_end + answer_len + opt_len;
    if !fits(dns_len, q.size_limit, edns_payload) {
        return Err(Counter::PassTooBig);
    }

    // Header and question, summed before the frame changes: the header is rewritten in the
    // scratch copy and the bytes after the question are zeroed so they drop out of the sum.
    let msg = unsafe { &mut (*q.scratch).msg };
    let flags = answer_flags(q.flags);
    msg[2..4].copy_from_slice(&flags.to_be_bytes());
    msg[6..8].copy_from_slice(&answer.count.to_be_bytes());
    msg[8..10].copy_from_slice(&0u16.to_be_bytes());
    msg[10..12].copy_from_slice(&(q.edns as u16).to_be_bytes());
    for i in 0..3 {
        if let Some(b) = msg.get_mut(q.question_end + i) {
            *b = 0;
        }
    }
    let words = (((q.question_end + 3) & !3) as u32) & 0x3FF;
    if words == 0 || words as usize > msg.len() {
        return Err(Counter::PassInternal);
    }
    let opt = opt_record(edns_payload, q.edns_flags);
    let header_and_question = if q.edns {
        csum::sum_buf(msg.as_ptr(), words)
    } else {
        // Without EDNS the query is only header and question, whose sum the checksum check
        // already took: adjust it for the header words that change (the flags, and ANCOUNT
        // from 0), one helper call fewer.
        q.msg_sum as u64 + (!q.flags) as u64 + flags as u64 + answer.count as u64
    };
    let dns_sum = header_and_question
        + csum::at_offset(answer.csum, q.question_end)
        + if q.edns {
            csum::at_offset(
                opt_sum(edns_payload, q.edns_flags),
                q.question_end + answer_len,
            )
        } else {
            0
        };

    let moved = resize(ctx, q.scratch, udp.dns_offset, udp.dns_offset + dns_len)?;
    // From here on the frame is being rewritten: a failure can no longer pass it up intact.
    if moved {
        // The headers moved to the new start; the header and question follow them anew.
        let question_len = (q.question_end as u32) & 0x3FF;
        if question_len as usize > msg.len() {
            return Err(Counter::DropRewrite);
        }
        store(ctx, udp.dns_offset, msg.as_ptr(), question_len)?;
    } else {
        // The question is where it was; only the header's flags and counts change. Plain
        // writes: cheaper than a helper call for a few bytes.
        let header: *mut [u8; 10] = ptr_at(ctx, udp.dns_offset + 2, Counter::DropRewrite)?;
        unsafe { (*header).copy_from_slice(&msg[2..12]) };
    }
    store(
        ctx,
        udp.dns_offset + q.question_end,
        unsafe { (*q.scratch).answer.as_ptr() },
        answer_len as u32,
    )?;
    if q.edns {
        let at = udp.dns_offset + q.question_end + answer_len;
        let record: *mut [u8; OPT_LEN] = ptr_at(ctx, at, Counter::DropRewrite)?;
        unsafe { *record = opt };
    }

    swap_macs(ctx)?;
    let udp_len = (8 + dns_len) as u16;
    if ip.is_v4 {
        rewrite_v4(ctx, ip.offset, udp_len)?;
    } else {
        rewrite_v6(ctx, ip.offset, udp_len)?;
    }
    let hdr: *mut UdpHdr = ptr_at(ctx, ip.l4_offset, Counter::DropRewrite)?;
    let hdr = unsafe { &mut *hdr };
    core::mem::swap(&mut hdr.src, &mut hdr.dst);
    hdr.len = udp_len.to_be_bytes();
    let sum = ip.addr_sum + 17 + udp_len as u64 + udp.port_sum + udp_len as u64 + dns_sum;
    hdr.check = csum::udp_checksum(sum).to_be_bytes();

    Ok(if ip.is_v4 {
        Counter::AnsweredV4
    } else {
        Counter::AnsweredV6
    })
}

/// The answer for `key` (view 0, variant 0 as parsed): that entry, or, as it directs, the entry
/// of the client's view in view trie `trie`, then a random variant of it. A view or variant
/// without an entry passes up rather than falling back to another answer: it is NODATA there.
#[inline(always)]
fn lookup(
    client: &ServedAddr,
    key: &mut AnswerKey,
    trie: u8,
) -> Result<&'static AnswerValue, Counter> {
    let mut value = maps::answer(key).ok_or(Counter::PassMiss)?;
    if value.per_view != 0 {
        let view = view_of(trie, client.addr);
        if view != DEFAULT_VIEW {
            key.view = view;
            value = maps::answer(key).ok_or(Counter::PassNoView)?;
        }
    }
    let variants = value.variants as u32;
    if variants > 1 {
        let variant = (unsafe { bpf_get_prandom_u32() } % variants) as u8;
        if variant != FIRST_VARIANT {
            key.variant = variant;
            value = maps::answer(key).ok_or(Counter::PassNoVariant)?;
        }
    }
    Ok(value)
}

/// What the answer is made of, taken out of its map entry before the update sequence is
/// checked again; the section itself (the RRset, and for DO=1 its RRSIGs) goes to
/// `Scratch::answer`.
struct Taken {
    len: usize,
    count: u16,
    csum: u16,
}

/// Checks that `value` answers the question's name and copies its answer section out: the
/// RRset, followed for a DO=1 query to a signed zone by its RRSIGs, which `data` holds right
/// after it.
#[inline(always)]
fn take(value: &AnswerValue, q: &Query) -> Result<Taken, Counter> {
    if !same_name(value, unsafe { &(*q.scratch).name }, q.name_len) {
        // Another name with the same hash: the fallback answers this one.
        return Err(Counter::PassMiss);
    }
    let answer_len = value.answer_len as usize;
    if answer_len == 0 {
        // A per-view name with no answer for this client's (default) view.
        return Err(Counter::PassNoView);
    }
    let taken = if q.edns_flags == 0 || value.dnssec == DNSSEC_UNSIGNED {
        Taken {
            len: answer_len,
            count: value.answer_count,
            csum: value.answer_csum,
        }
    } else if value.dnssec == DNSSEC_SIGNED {
        // The RRSIGs' sum is as if they started at an even offset; they start at `answer_len`.
        let sum = value.answer_csum as u64 + csum::at_offset(value.rrsig_csum, answer_len);
        Taken {
            len: answer_len + value.rrsig_len as usize,
            count: value.answer_count.wrapping_add(value.rrsig_count),
            csum: csum::fold(sum),
        }
    } else {
        return Err(Counter::PassUnsigned);
    };
    let len = taken.len;
    if len > MAX_ANSWER_LEN {
        return Err(Counter::PassInternal);
    }
    // In chunks of four 64-bit words: both buffers are 8-byte aligned and MAX_ANSWER_LEN long,
    // a multiple of the chunk, and bytes copied past the answer are never sent. Volatile, so
    // the compiler keeps the loop rather than make it a `memcpy` call BPF cannot link. The
    // loop counts a forgotten copy of the length: each exit would otherwise narrow `len` to
    // its own range, and the verifier would check the rest of the program once per exit.
    let chunks = forget(q.scratch, SLOT_ANSWER_CHUNKS, len.div_ceil(CHUNK) as u64) as usize;
    let from = value.data.as_ptr() as *const [u64; CHUNK / 8];
    let to = unsafe { (*q.scratch).answer.as_mut_ptr() } as *mut [u64; CHUNK / 8];
    for chunk in 0..MAX_ANSWER_LEN / CHUNK {
        if chunk >= chunks {
            break;
        }
        let (from, to) = unsafe { (from.add(chunk) as *const u64, to.add(chunk) as *mut u64) };
        for word in 0..CHUNK / 8 {
            unsafe { write_volatile(to.add(word), read_volatile(from.add(word))) };
        }
    }
    Ok(taken)
}

/// The answer's owner equals the question name (both lowercased and zero padded per word).
#[inline(always)]
fn same_name(value: &AnswerValue, name: &[u8; NAME_BUF_LEN], name_len: usize) -> bool {
    if value.name_len as usize != name_len {
        return false;
    }
    let ours = value.name.as_ptr() as *const u64;
    let theirs = name.as_ptr() as *const u64;
    for word in 0..NAME_WORDS {
        if word * 8 >= name_len {
            break;
        }
        if unsafe { ours.add(word).read() != theirs.add(word).read() } {
            return false;
        }
    }
    true
}

/// Makes the frame `new_len` bytes long, leaving the headers before `dns_offset` in place.
/// Growing at the tail needs tailroom, which a driver or veth may not have (veth gives locally
/// sent packets only what their allocation happened to leave); then the frame grows into the
/// headroom XDP always has, and the headers move to the new start. The DNS message after them
/// must be rewritten by the caller when this returns true. `PassNoRoom` means the frame is
/// unchanged.
#[inline(always)]
fn resize(
    ctx: &XdpContext,
    scratch: *mut Scratch,
    dns_offset: usize,
    new_len: usize,
) -> Result<bool, Counter> {
    let delta = new_len as i64 - (ctx.data_end() - ctx.data()) as i64;
    if delta == 0 || unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta as i32) } == 0 {
        return Ok(false);
    }
    if delta < 0 || unsafe { bpf_xdp_adjust_head(ctx.ctx, -delta as i32) } != 0 {
        return Err(Counter::PassNoRoom);
    }
    let headers = unsafe { &mut (*scratch).headers };
    let len = (dns_offset as u32) & 0x7F;
    if len == 0 || len as usize > MAX_HEADERS_LEN {
        return Err(Counter::DropRewrite);
    }
    let rc =
        unsafe { bpf_xdp_load_bytes(ctx.ctx, delta as u32, headers.as_mut_ptr() as *mut _, len) };
    if rc != 0 {
        return Err(Counter::DropRewrite);
    }
    store(ctx, 0, headers.as_ptr(), len)?;
    Ok(true)
}

/// Sum of `dns_xdp_common::query::opt_record` as if at an even offset, its bytes paired into words:
/// (00 00) (29 P0) (P1 00) (00 F0) (F1 00) (00 pad).
#[inline(always)]
fn opt_sum(payload: u16, flags: u16) -> u16 {
    let p = payload.to_be_bytes();
    let f = flags.to_be_bytes();
    csum::fold(
        u16::from_be_bytes([41, p[0]]) as u64
            + u16::from_be_bytes([p[1], 0]) as u64
            + f[0] as u64
            + u16::from_be_bytes([f[1], 0]) as u64,
    )
}

#[inline(always)]
fn store(ctx: &XdpContext, offset: usize, from: *const u8, len: u32) -> Result<(), Counter> {
    let rc = unsafe { bpf_xdp_store_bytes(ctx.ctx, offset as u32, from as *mut _, len) };
    if rc != 0 {
        return Err(Counter::DropRewrite);
    }
    Ok(())
}

#[inline(always)]
fn swap_macs(ctx: &XdpContext) -> Result<(), Counter> {
    let eth: *mut EthHdr = ptr_at(ctx, 0, Counter::DropRewrite)?;
    let eth = unsafe { &mut *eth };
    core::mem::swap(&mut eth.src_addr, &mut eth.dst_addr);
    Ok(())
}

#[inline(always)]
fn rewrite_v4(ctx: &XdpContext, offset: usize, udp_len: u16) -> Result<(), Counter> {
    let ip: *mut Ipv4Hdr = ptr_at(ctx, offset, Counter::DropRewrite)?;
    let ip = unsafe { &mut *ip };
    core::mem::swap(&mut ip.src_addr, &mut ip.dst_addr);
    ip.tot_len = (Ipv4Hdr::LEN as u16 + udp_len).to_be_bytes();
    ip.ttl = REPLY_TTL;
    ip.check = [0, 0];
    ip.check = (!csum::fold(csum::sum_ipv4_header(ip))).to_ne_bytes();
    Ok(())
}

#[inline(always)]
fn rewrite_v6(ctx: &XdpContext, offset: usize, udp_len: u16) -> Result<(), Counter> {
    let ip: *mut Ipv6Hdr = ptr_at(ctx, offset, Counter::DropRewrite)?;
    let ip = unsafe { &mut *ip };
    core::mem::swap(&mut ip.src_addr, &mut ip.dst_addr);
    ip.payload_len = udp_len.to_be_bytes();
    ip.hop_limit = REPLY_TTL;
    Ok(())
}
