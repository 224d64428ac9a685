//! What is live, and whether the agent is changing it: the one value of the `dns_publish` array,
//! which the agent writes through a memory mapping of the map (`BPF_F_MMAPABLE`) with single
//! 64-bit atomic stores, so the program never reads a half-written word.
//!
//! Reload: the agent writes a whole new generation of answers and the idle view trie, then
//! flips [`Live`] (generation, view trie and EDNS size together) in one store. The program reads
//! `Live` once per packet, so each query uses the old generation with the old trie or the new
//! generation with the new trie, never a mix.
//!
//! After the flip, the agent also moves [`PublishState::seq`] on by two, in one store: a query
//! that read the old `Live` began before that store and sees `seq` moved when it reads it
//! again, so it passes up, whatever it read; one that began after reads the new `Live` and
//! never looks at the old generation. The old generation's entries are then deleted without an
//! odd sequence: no query answers from them, even if their elements are reused at once. Only
//! the queries in flight at the flip pass up, however large the generation.
//!
//! Entries rewritten under a reader: `dns_answers` is a `BPF_F_NO_PREALLOC` hash map, whose
//! elements come from the kernel's `bpf_mem_alloc` per-CPU free lists. An update links a new
//! element, unlinks the old one and frees it to the free list, from which the very next update
//! or insert takes it again (last in, first out) and copies another key and value into it; no
//! grace period in between. A program that looked the old element up a moment before may still
//! be reading it, and would answer with part of one value and part of another, even another
//! name's. So every agent write that frees an element a query may hold happens while
//! [`PublishState::seq`], a sequence lock, is odd: the agent makes it odd, changes the entries,
//! makes it even again. The program reads it before anything else and again after it has
//! copied out everything it answers from; odd or moved, the query passes up (counter
//! `pass_torn`) before the frame is touched. Queries that overlap a batch of changes all pass
//! up, whichever entries they wanted: the fallback answers them, from the same data.
//!
//! Why that suffices: every store into a reused element belongs to a write the kernel makes
//! after the agent's store that made `seq` odd. x86-64 makes stores visible in program order
//! (the `rep movsb` of the kernel's `memcpy` may reorder the stores within one copy, never
//! with the stores around it) and does not reorder loads, so a program that saw any byte of
//! such a write sees the odd or a later value when it reads `seq` again. Weakly ordered CPUs
//! (arm64) would need read barriers in the program, which BPF has only as atomic
//! read-modify-writes; the agent refuses to load the fast path on any other architecture
//! (`dns-xdp-user/src/fastpath/requirements.rs`). The compiler must keep the program's loads of
//! the answer before its second read of `seq`: a compiler fence there sees to it.
//!
//! A stamp at the head and the tail of each value, checked around the copy, would instead rely
//! on the order in which the kernel's copy stores the value's bytes, which nothing fixes: on
//! x86-64 `memcpy` is `rep movsb` on CPUs with fast short moves (its stores may become visible
//! in any order), else a loop that copies backwards when the addresses suggest it.
//!
//! Inserts of keys no query can reach yet (a new generation) need no odd `seq`: the elements
//! they reuse were freed while it was odd, and a query still holding one read `seq` before and
//! will see it moved. The view tries free their nodes only after an RCU grace period
//! (`bpf_mem_cache_free_rcu`), so their writes need none either.

/// The layout of every map (keys, values and what they mean) this release's program and agent
/// share. An agent taking over a dead one's maps reuses them only when the dead one wrote the
/// same number: raise it with any change of meaning that leaves the sizes as they were.
pub const LAYOUT_VERSION: u32 = 1;

/// The published state a query is answered from, stored as one 64-bit word.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Live {
    /// Generation of the live answer set. 0 means nothing is published: every query passes up.
    pub generation: u32,
    /// EDNS UDP payload size the server advertises in its OPT record.
    pub edns_payload: u16,
    /// Which view trie is live: 0 for `dns_views_0`, 1 for `dns_views_1`.
    pub views: u8,
    pub _pad: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct PublishState {
    pub live: Live,
    /// Update sequence: odd while the agent changes live answer entries (see the module
    /// documentation); it only grows, by 2 per batch of changes and per flip.
    pub seq: u64,
    /// [`LAYOUT_VERSION`] of the agent that made the maps; the program does not read it.
    pub layout: u32,
    pub _pad: u32,
}

impl Live {
    /// The word the agent stores and the program loads.
    pub fn to_word(self) -> u64 {
        bytemuck::cast(self)
    }

    pub fn from_word(word: u64) -> Self {
        bytemuck::cast(word)
    }
}

const _: () = assert!(core::mem::size_of::<Live>() == 8);
const _: () = assert!(core::mem::offset_of!(PublishState, seq) == 8);
const _: () = assert!(core::mem::offset_of!(PublishState, layout) == 16);

#[cfg(feature = "user")]
unsafe impl aya::Pod for PublishState {}
