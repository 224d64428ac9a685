//! Per-CPU working memory of the XDP program. Copying the DNS message out of the packet into a
//! map value gives the verifier one fixed-size buffer to bound, instead of packet pointers with
//! variable offsets, and gives `bpf_csum_diff` a buffer it may read in whole 32-bit words.

use crate::{
    addresses::ServedAddr,
    answer::{AnswerKey, MAX_ANSWER_LEN, NAME_BUF_LEN},
};

/// Largest DNS query the fast path copies and answers; larger ones pass up.
pub const MAX_QUERY_LEN: usize = 512;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Scratch {
    /// The answer-map key built from the question.
    pub key: AnswerKey,
    /// The question name, lowercased and zero padded, to compare with the answer's name.
    /// 8-byte aligned (after the 16-byte key) for word-at-a-time access.
    pub name: [u8; NAME_BUF_LEN],
    /// The query's DNS message, then zeros up to a 4-byte boundary (zeros do not change a
    /// ones'-complement sum).
    pub msg: [u8; MAX_QUERY_LEN + 4],
    pub _pad: [u8; 4],
    /// Values the program stores and reads straight back (frame offsets, the name length).
    /// The verifier does not track map memory, so values that differ path by path (one offset
    /// per VLAN depth and IP version, one length per loop exit) become one bounded unknown, and
    /// the code after them is verified once instead of once per path.
    pub opaque: [u64; OPAQUE_SLOTS],
    /// The frame's Ethernet, VLAN, IP and UDP headers, kept while the frame grows at its head.
    pub headers: [u8; MAX_HEADERS_LEN],
    /// The answer section, copied out of the answer map before the frame is touched, so that
    /// the copy can be checked against concurrent updates (see `publish`) and the frame still
    /// passed up whole when it fails the check.
    pub answer: [u8; MAX_ANSWER_LEN],
    /// The client's address, written while parsing the IP header, the key of its address-map
    /// and view-trie lookups. Here rather than on the stack, where the constant bytes of its
    /// IPv4-mapped form would keep the verifier from merging the IPv4 and IPv6 paths for the
    /// rest of the program.
    pub source: ServedAddr,
}

/// Ethernet with two VLAN tags, IPv6 and UDP: 22 + 40 + 8 bytes, rounded up to a multiple of 8.
pub const MAX_HEADERS_LEN: usize = 72;

/// Slots in [`Scratch::opaque`].
pub const OPAQUE_SLOTS: usize = 8;

// The program copies the answer in 64-bit words (see `answer::AnswerValue::data`).
const _: () = assert!(core::mem::offset_of!(Scratch, answer) % 8 == 0);
