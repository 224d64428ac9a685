//! The answer map: one entry per (generation, view, lowercase name, type), whose value holds the
//! answer section bytes ready to copy after the echoed question.

/// Longest domain name in wire format (RFC 1035 §2.3.4), including the root label.
pub const MAX_NAME_LEN: usize = 255;

/// Room for the answer section of one RRset plus its RRSIG, in wire format with every owner name
/// compressed to the question (`0xC00C`). Anything larger is answered by the fallback server.
pub const MAX_ANSWER_LEN: usize = 512;

/// The default view; later views are chosen by client address.
pub const DEFAULT_VIEW: u16 = 0;

/// Query types the fast path answers.
pub const QTYPE_A: u16 = 1;
pub const QTYPE_AAAA: u16 = 28;

/// Key of the answer map.
///
/// `name` is the query name in wire format with ASCII letters lowercased (RFC 4343) and zero
/// padding after the root label, so equal names give equal keys and the full name is compared:
/// there are no hash collisions to get wrong.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AnswerKey {
    /// Publication generation; only keys of the live generation (see `PublishState`) are read.
    pub generation: u32,
    /// View id (client-address based answer sets; 0 is the default view).
    pub view: u16,
    /// Query type (A or AAAA).
    pub qtype: u16,
    /// Lowercased wire-format name, zero padded.
    pub name: [u8; MAX_NAME_LEN + 1],
}

impl AnswerKey {
    pub const fn zeroed() -> Self {
        Self {
            generation: 0,
            view: 0,
            qtype: 0,
            name: [0; MAX_NAME_LEN + 1],
        }
    }
}

/// Value of the answer map.
///
/// `data[..answer_len]` is the answer section (the whole RRset), `answer_count` records.
/// `data[answer_len..answer_len + rrsig_len]` is reserved for the RRset's RRSIG, sent to DO=1
/// queries once signing lands; `rrsig_len == 0` means unsigned.
///
/// The checksums are the 16-bit ones'-complement sums of those byte ranges as if they started at
/// an even offset, computed once by the agent so the kernel never sums the answer bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AnswerValue {
    pub answer_count: u16,
    pub answer_len: u16,
    pub answer_csum: u16,
    pub rrsig_count: u16,
    pub rrsig_len: u16,
    pub rrsig_csum: u16,
    pub _pad: [u8; 4],
    pub data: [u8; MAX_ANSWER_LEN],
}

impl AnswerValue {
    pub const fn zeroed() -> Self {
        Self {
            answer_count: 0,
            answer_len: 0,
            answer_csum: 0,
            rrsig_count: 0,
            rrsig_len: 0,
            rrsig_csum: 0,
            _pad: [0; 4],
            data: [0; MAX_ANSWER_LEN],
        }
    }
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for AnswerKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for AnswerValue {}
