//! The DNS query: header, one question, and an optional OPT record (EDNS version 0, no options
//! but DNS COOKIE). Parsing works on a copy of the message in the per-CPU scratch buffer,
//! which is also where the answer-map key is built and the UDP checksum is verified.
//!
//! What is answered is decided by `dns_xdp_common::query`, as it is for the agent; this walk
//! only reads the bytes in the order and the shape the verifier accepts.

use aya_ebpf::{helpers::generated::bpf_xdp_load_bytes, programs::XdpContext};
use dns_xdp_common::{
    answer::{
        name_hash_finish, name_hash_word, DEFAULT_VIEW, FIRST_VARIANT, MAX_NAME_LEN, NAME_BUF_LEN,
        NAME_HASH_SEED, NAME_WORDS,
    },
    counters::Counter,
    query::{
        check_edns_version, check_header, check_question, client_limit, echoed_edns_flags,
        name_fits, option_allowed, plain_label, CLASSIC_UDP_LIMIT, HEADER_LEN, MAX_OPTIONS,
        OPT_LEN, TYPE_OPT,
    },
    scratch::{Scratch, MAX_QUERY_LEN},
};

use super::{be16, ip::Ip, udp::Udp};
use crate::{csum, maps::forget};

const SLOT_NAME_LEN: usize = 0;
const SLOT_MSG_LEN: usize = 3;

pub struct Query {
    pub scratch: *mut Scratch,
    /// Wire length of the question name.
    pub name_len: usize,
    /// Offset just past the question: where the answer section starts.
    pub question_end: usize,
    /// The query's header flags.
    pub flags: u16,
    /// The query carried an OPT record, so the answer carries one too.
    pub edns: bool,
    /// The EDNS flags the answer's OPT echoes: DO, and CO beside it; 0 for DO=0.
    pub edns_flags: u16,
    /// The largest UDP answer the client accepts.
    pub size_limit: usize,
    /// Ones'-complement sum of the whole DNS message, from checking the UDP checksum.
    pub msg_sum: u16,
}

#[inline(always)]
pub fn parse(
    ctx: &XdpContext,
    scratch: *mut Scratch,
    ip: &Ip,
    udp: &Udp,
) -> Result<Query, Counter> {
    let msg = unsafe { &mut (*scratch).msg };
    let len = udp.dns_len;
    if len > MAX_QUERY_LEN {
        return Err(Counter::PassTooLong);
    }
    // `len` is at least a header long (checked with the UDP length), so never zero.
    let rc = unsafe {
        bpf_xdp_load_bytes(
            ctx.ctx,
            udp.dns_offset as u32,
            msg.as_mut_ptr() as *mut _,
            len as u32,
        )
    };
    if rc != 0 {
        return Err(Counter::PassInternal);
    }
    zero_pad(msg, len);
    let msg_sum = verify_checksum(msg, len, ip, udp)?;

    let flags = be16([msg[2], msg[3]]);
    let arcount = be16([msg[10], msg[11]]);
    check_header(
        flags,
        be16([msg[4], msg[5]]),
        be16([msg[6], msg[7]]),
        be16([msg[8], msg[9]]),
        arcount,
    )?;

    let key = unsafe { &mut (*scratch).key };
    let name = unsafe { &mut (*scratch).name };
    let name_len = name_length(msg, len)?;
    // Each exit of the name loops leaves its own exact name length and its own bound on the
    // message length; forgetting both lets the verifier check the code after them once.
    let (name_len, len) = forget_lengths(scratch, name_len, len)?;
    key.name_hash = copy_name_lowercase(msg, name_len, name);
    let (name_len, len) = forget_lengths(scratch, name_len, len)?;
    let qtype_at = HEADER_LEN + name_len;
    let question_end = qtype_at + 4;
    if question_end > len {
        return Err(Counter::PassNotQuery);
    }
    let qtype = read16(msg, qtype_at)?;
    check_question(qtype, read16(msg, qtype_at + 2)?)?;
    key.view = DEFAULT_VIEW;
    key.variant = FIRST_VARIANT;
    key.qtype = qtype;

    let (edns, (size_limit, edns_flags)) = if arcount == 1 {
        (true, parse_opt(msg, question_end, len)?)
    } else if question_end == len {
        (false, (CLASSIC_UDP_LIMIT, 0))
    } else {
        // Bytes after the question that no record count accounts for.
        return Err(Counter::PassNotQuery);
    };
    Ok(Query {
        scratch,
        name_len,
        question_end,
        flags,
        edns,
        edns_flags,
        size_limit,
        msg_sum,
    })
}

#[inline(always)]
fn forget_lengths(
    scratch: *mut Scratch,
    name_len: usize,
    len: usize,
) -> Result<(usize, usize), Counter> {
    let name_len = forget(scratch, SLOT_NAME_LEN, name_len as u64) as usize;
    let len = forget(scratch, SLOT_MSG_LEN, len as u64) as usize;
    if name_len == 0 || name_len > MAX_NAME_LEN || len > MAX_QUERY_LEN {
        return Err(Counter::PassNotQuery);
    }
    Ok((name_len, len))
}

/// Zeros the bytes after the message up to the next 4-byte boundary, so the message can be summed
/// in whole words.
#[inline(always)]
fn zero_pad(msg: &mut [u8; MAX_QUERY_LEN + 4], len: usize) {
    for i in 0..3 {
        if let Some(b) = msg.get_mut(len + i) {
            *b = 0;
        }
    }
}

#[inline(always)]
fn round4(len: usize) -> u32 {
    ((len + 3) & !3) as u32 & 0x3FF
}

#[inline(always)]
fn verify_checksum(
    msg: &[u8; MAX_QUERY_LEN + 4],
    len: usize,
    ip: &Ip,
    udp: &Udp,
) -> Result<u16, Counter> {
    let words = round4(len);
    if words == 0 || words as usize > MAX_QUERY_LEN + 4 {
        return Err(Counter::PassInternal);
    }
    let udp_len = (len + 8) as u64;
    // Pseudo-header (addresses, protocol, length), then the UDP header (ports, length, checksum).
    let msg_sum = csum::sum_buf(msg.as_ptr(), words);
    let sum = ip.addr_sum + 17 + udp_len + udp.port_sum + udp_len + udp.check as u64 + msg_sum;
    // A zero IPv4 checksum (`udp::parse` refuses it over IPv6) means the sender computed none:
    // there is nothing to verify, and the answer's checksum is computed in full anyway.
    if udp.check != 0 && csum::fold(sum) != 0xFFFF {
        return Err(Counter::PassChecksum);
    }
    Ok(msg_sum as u16)
}

/// Finds the end of the question name and returns its wire length. Compression pointers and
/// extended label types are not valid in a question we answer, so they pass up.
#[inline(always)]
fn name_length(msg: &[u8; MAX_QUERY_LEN + 4], len: usize) -> Result<usize, Counter> {
    let mut pos = HEADER_LEN;
    // A name of at most 255 bytes has at most 127 labels before the root.
    for _ in 0..128 {
        if pos >= len {
            return Err(Counter::PassNotQuery);
        }
        let b = *msg.get(pos).ok_or(Counter::PassNotQuery)?;
        if b == 0 {
            return Ok(pos + 1 - HEADER_LEN);
        }
        if !plain_label(b) {
            return Err(Counter::PassNotQuery);
        }
        pos += 1 + b as usize;
        if !name_fits(pos - HEADER_LEN) {
            return Err(Counter::PassNotQuery);
        }
    }
    Err(Counter::PassNotQuery)
}

/// Copies the `name_len`-byte question name into `name`, ASCII letters lowercased (RFC 4343),
/// eight bytes at a time, and returns its hash. Label length bytes are at most 63, below 'A', so
/// lowercasing every byte leaves them alone. Bytes of `name` past the name's last word are left
/// as they are: nothing reads them.
#[inline(always)]
fn copy_name_lowercase(
    msg: &[u8; MAX_QUERY_LEN + 4],
    name_len: usize,
    name: &mut [u8; NAME_BUF_LEN],
) -> u64 {
    let out = name.as_mut_ptr() as *mut u64;
    let mut hash = NAME_HASH_SEED;
    for word in 0..NAME_WORDS {
        let at = word * 8;
        if at >= name_len {
            break;
        }
        let src = &msg[HEADER_LEN + at..HEADER_LEN + at + 8];
        let mut w = u64::from_le_bytes([
            src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7],
        ]);
        let left = name_len - at;
        if left < 8 {
            // Little-endian: the name's bytes are the low ones.
            w &= (1u64 << (8 * left)) - 1;
        }
        let w = lowercase_word(w);
        hash = name_hash_word(hash, w);
        unsafe { out.add(word).write(w) };
    }
    name_hash_finish(hash, name_len)
}

/// Lowercases the ASCII letters in eight bytes at once.
#[inline(always)]
fn lowercase_word(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low7 = w & (0x7F * ONES);
    // Per byte, the high bit of `ge_a` says byte >= 'A' and that of `gt_z` says byte > 'Z'.
    let ge_a = low7 + (0x80 - b'A' as u64) * ONES;
    let gt_z = low7 + (0x80 - b'Z' as u64 - 1) * ONES;
    let upper = ge_a & !gt_z & !w & (0x80 * ONES);
    w | (upper >> 2)
}

#[inline(always)]
fn read16(msg: &[u8; MAX_QUERY_LEN + 4], at: usize) -> Result<u16, Counter> {
    let hi = *msg.get(at).ok_or(Counter::PassNotQuery)?;
    let lo = *msg.get(at + 1).ok_or(Counter::PassNotQuery)?;
    Ok(be16([hi, lo]))
}

/// Parses the OPT record that must fill the rest of the message, and returns the client's UDP
/// payload size and the flags to echo (DO, and CO when DO is set). Anything but EDNS version 0
/// with only COOKIE options passes up, so the fallback server gives the full answer (BADVERS,
/// ECS, ...).
#[inline(always)]
fn parse_opt(
    msg: &[u8; MAX_QUERY_LEN + 4],
    at: usize,
    len: usize,
) -> Result<(usize, u16), Counter> {
    if at + OPT_LEN > len || *msg.get(at).ok_or(Counter::PassNotQuery)? != 0 {
        return Err(Counter::PassNotQuery);
    }
    if read16(msg, at + 1)? != TYPE_OPT {
        return Err(Counter::PassNotQuery);
    }
    let payload = read16(msg, at + 3)?;
    let ext_rcode = *msg.get(at + 5).ok_or(Counter::PassNotQuery)?;
    let version = *msg.get(at + 6).ok_or(Counter::PassNotQuery)?;
    let edns_flags = read16(msg, at + 7)?;
    check_edns_version(ext_rcode, version)?;
    let rdata_end = at + OPT_LEN + read16(msg, at + 9)? as usize;
    if rdata_end != len {
        return Err(Counter::PassNotQuery);
    }
    let mut pos = at + OPT_LEN;
    for _ in 0..MAX_OPTIONS {
        if pos == rdata_end {
            break;
        }
        // An option header cut short by the record's end: the bytes past it are not the
        // query's.
        if pos + 4 > rdata_end {
            return Err(Counter::PassNotQuery);
        }
        let code = read16(msg, pos)?;
        let opt_len = read16(msg, pos + 2)? as usize;
        if !option_allowed(code, opt_len) {
            return Err(Counter::PassEdns);
        }
        pos += 4 + opt_len;
        if pos > rdata_end {
            return Err(Counter::PassNotQuery);
        }
    }
    if pos != rdata_end {
        return Err(Counter::PassEdns);
    }
    Ok((client_limit(payload), echoed_edns_flags(edns_flags)))
}
