//! The answer map: one entry per (generation, view, type, name), whose value holds the answer
//! section bytes ready to copy after the echoed question.
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
pub const MAX_ANSWER_LEN: usize = 512;

/// The default view; later views are chosen by client address.
pub const DEFAULT_VIEW: u16 = 0;

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
    pub view: u16,
    /// Query type (A or AAAA).
    pub qtype: u16,
    /// [`name_hash`] of the lowercased wire-format name.
    pub name_hash: u64,
}

/// Value of the answer map.
///
/// `name[..name_len]` is the owner name in wire format, ASCII letters lowercased (RFC 4343),
/// zero padded. `data[..answer_len]` is the answer section (the whole RRset), `answer_count`
/// records. `data[answer_len..answer_len + rrsig_len]` is reserved for the RRset's RRSIG, sent
/// to DO=1 queries once signing lands; `rrsig_len == 0` means unsigned.
///
/// The checksums are the 16-bit ones'-complement sums of those byte ranges as if they started at
/// an even offset, computed once by the agent so the kernel never sums the answer bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AnswerValue {
    pub name: [u8; NAME_BUF_LEN],
    pub name_len: u16,
    pub answer_count: u16,
    pub answer_len: u16,
    pub answer_csum: u16,
    pub rrsig_count: u16,
    pub rrsig_len: u16,
    pub rrsig_csum: u16,
    pub _pad: [u8; 2],
    pub data: [u8; MAX_ANSWER_LEN],
}

impl AnswerValue {
    pub const fn zeroed() -> Self {
        Self {
            name: [0; NAME_BUF_LEN],
            name_len: 0,
            answer_count: 0,
            answer_len: 0,
            answer_csum: 0,
            rrsig_count: 0,
            rrsig_len: 0,
            rrsig_csum: 0,
            _pad: [0; 2],
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

#[cfg(feature = "user")]
unsafe impl aya::Pod for AnswerKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for AnswerValue {}
