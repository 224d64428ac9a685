//! The answer map: one entry per (generation, view, variant, type, name), whose value holds the
//! answer section bytes ready to copy after the echoed question.
//!
//! Views and variants steer traffic. A name's entry in view 0, variant 0 is always looked up first.
//! If it says `per_view`, the client's view (from the live view trie, see `views`) selects the
//! entry instead; if the selected entry has `variants > 1`, a uniformly random variant of that
//! view does. A missing view or variant entry passes the query up rather than answering from
//! another one. Entries change in place while live (health changes); `publish` describes how a
//! query is kept from reading an entry the kernel is rewriting.
//!
//! The key carries a 64-bit hash of the name rather than the name itself: hashing and comparing
//! a 16-byte key is far cheaper per packet than a 256-byte one. The value carries the full name,
//! and the program compares it before answering, so a hash collision can only ever pass a query
//! up, never answer it wrong. (The agent also refuses to publish two names with one hash.)

/// Longest domain name in wire format (RFC 1035 §2.3.4), including the root label.
pub const MAX_NAME_LEN: usize = 255;

/// A name buffer: the name, then zeros up to a whole number of 64-bit words.
pub const NAME_BUF_LEN: usize = 256;
pub const NAME_WORDS: usize = NAME_BUF_LEN / 8;

/// Room for the answer section of one RRset plus its RRSIG, in wire format with every owner name
/// compressed to the question (`0xC00C`). Anything larger is answered by the fallback server.
///
/// An RRSIG of algorithm 13 or 15 (64-byte signatures) is 94 bytes plus the signer's name: 107
/// for `example.com.`, 349 for the longest zone name. Beside four AAAA records (112 bytes) that
/// is 219 bytes, 461 at worst; beside the largest RRset that still fits alone, or with two
/// signatures during a double-signature rollover, it may not fit: then the entry is published
/// without its RRSIG ([`DNSSEC_UNPUBLISHED`]) and DO=1 queries for it pass up, while DO=0 ones
/// are still answered. Growing the value for that case would cost every entry of a map that
/// may hold a million.
pub const MAX_ANSWER_LEN: usize = 512;

/// [`AnswerValue::dnssec`]: the zone is unsigned. A DO=1 query gets the RRset alone, with DO
/// echoed in the OPT record (RFC 3225 §3).
pub const DNSSEC_UNSIGNED: u8 = 0;
/// The zone is signed and the RRSIGs follow the RRset in `data`: a DO=1 query gets both.
pub const DNSSEC_SIGNED: u8 = 1;
/// The zone is signed but the entry holds no RRSIG (it would not fit, or signing failed): a
/// DO=1 query passes up, so the fallback answers it signed (or not at all).
pub const DNSSEC_UNPUBLISHED: u8 = 2;

/// The default view: clients no region covers, and every name that does not vary by region.
pub const DEFAULT_VIEW: u8 = 0;

/// The variant every answer has; weighted answers add variants 1 to `variants - 1`.
pub const FIRST_VARIANT: u8 = 0;

/// Query types the fast path answers.
pub const QTYPE_A: u16 = 1;
pub const QTYPE_AAAA: u16 = 28;

/// Key of the answer map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AnswerKey {
    /// Publication generation; only keys of the live generation (see `PublishState`) are read.
    pub generation: u32,
    /// View id (client-address based answer sets; 0 is the default view).
    pub view: u8,
    /// Variant of the answer within its view (0 always exists).
    pub variant: u8,
    /// Query type (A or AAAA).
    pub qtype: u16,
    /// [`name_hash`] of the lowercased wire-format name.
    pub name_hash: u64,
}

/// Value of the answer map.
///
/// `name[..name_len]` is the owner name in wire format, ASCII letters lowercased (RFC 4343),
/// zero padded. `data[..answer_len]` is the answer section (the whole RRset), `answer_count`
/// records. `data[answer_len..answer_len + rrsig_len]` are the RRset's `rrsig_count` RRSIG
/// records (owners compressed to the question too), sent after it to DO=1 queries when
/// `dnssec` is [`DNSSEC_SIGNED`]; `dnssec` says what a DO=1 query gets otherwise.
///
/// `per_view` and `variants` steer the lookup (see the module documentation). They are read
/// from variant 0 of a view only; every variant of a view carries the same values.
///
/// An entry with `answer_len == 0` has no answer: a `per_view` name whose default view has none
/// (NODATA for clients no region covers) still needs its view-0 entry so the client's view gets
/// looked up; clients that end on it are passed up.
///
/// The checksums are the 16-bit ones'-complement sums of those byte ranges as if they started at
/// an even offset, computed once by the agent so the kernel never sums the answer bytes.
///
/// Aligned to 8 bytes, as the kernel places map values (a hash map rounds the key up to 8
/// bytes before the value), so the program reads `name` and `data` a 64-bit word at a time.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AnswerValue {
    pub name: [u8; NAME_BUF_LEN],
    /// At most [`MAX_NAME_LEN`], so one byte.
    pub name_len: u8,
    /// [`DNSSEC_UNSIGNED`], [`DNSSEC_SIGNED`] or [`DNSSEC_UNPUBLISHED`].
    pub dnssec: u8,
    pub answer_count: u16,
    pub answer_len: u16,
    pub answer_csum: u16,
    pub rrsig_count: u16,
    pub rrsig_len: u16,
    pub rrsig_csum: u16,
    /// Non-zero: the answer depends on the client's view; look the view up.
    pub per_view: u8,
    /// Variants of this view's answer (at least 1); one is picked at random per query.
    pub variants: u8,
    pub data: [u8; MAX_ANSWER_LEN],
}

impl AnswerValue {
    /// No name, no answer, the default view only, one variant.
    pub const fn empty() -> Self {
        Self {
            name: [0; NAME_BUF_LEN],
            name_len: 0,
            dnssec: DNSSEC_UNSIGNED,
            answer_count: 0,
            answer_len: 0,
            answer_csum: 0,
            rrsig_count: 0,
            rrsig_len: 0,
            rrsig_csum: 0,
            per_view: 0,
            variants: 1,
            data: [0; MAX_ANSWER_LEN],
        }
    }
}

/// The name hash, one 64-bit word at a time: `name_hash_finish(name_hash_word(...(seed)), len)`.
/// Words are the zero-padded lowercase name read little-endian, eight bytes each. Not
/// cryptographic and need not be: a collision costs a pass-up, never a wrong answer.
pub const NAME_HASH_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
pub fn name_hash_word(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(23) ^ word).wrapping_mul(0xFF51_AFD7_ED55_8CCD)
}

/// Mixes in the length and avalanches the bits (the MurmurHash3 finaliser).
#[inline(always)]
pub fn name_hash_finish(hash: u64, name_len: usize) -> u64 {
    let mut h = hash ^ name_len as u64;
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// The hash of a zero-padded lowercase wire-format name of `name_len` bytes.
pub fn name_hash(name: &[u8; NAME_BUF_LEN], name_len: usize) -> u64 {
    let mut hash = NAME_HASH_SEED;
    for chunk in name.chunks_exact(8).take(name_len.div_ceil(8)) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        hash = name_hash_word(hash, word);
    }
    name_hash_finish(hash, name_len)
}

const _: () = assert!(core::mem::offset_of!(AnswerValue, data) % 8 == 0);
// The value stays as small as it was before it held RRSIGs: 272 bytes of name and fields.
const _: () = assert!(core::mem::size_of::<AnswerValue>() == 272 + MAX_ANSWER_LEN);

#[cfg(feature = "user")]
unsafe impl aya::Pod for AnswerKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for AnswerValue {}
