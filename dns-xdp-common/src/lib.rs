//! Map layout and constants shared by the dns-xdp XDP program (`dns-xdp-ebpf`) and its agent
//! (`dns-xdp-user`).
//!
//! Every type stored in a BPF map is `#[repr(C)]` with explicit padding, so the kernel, the eBPF
//! program and userspace agree byte for byte, and `bytemuck`'s derive rejects hidden padding at
//! compile time.
#![no_std]

pub mod addresses;
pub mod answer;
pub mod counters;
pub mod ports;
pub mod publish;
pub mod query;
pub mod scratch;
pub mod views;

/// Map names: the eBPF program declares its maps under these names, and the agent looks them up
/// and pins them as `/sys/fs/bpf/dns-xdp/<name>`.
pub mod map_names {
    /// Hash map: [`crate::answer::AnswerKey`] → [`crate::answer::AnswerValue`].
    pub const ANSWERS: &str = "dns_answers";
    /// One-entry array, memory-mapped by the agent: [`crate::publish::PublishState`], the
    /// live generation and view trie, and the update sequence.
    pub const PUBLISH: &str = "dns_publish";
    /// Per-CPU array of `u64` counters indexed by [`crate::counters::Counter`].
    pub const COUNTERS: &str = "dns_counters";
    /// Hash map: [`crate::addresses::ServedAddr`] → [`crate::addresses::AddressEntry`]: the
    /// addresses we answer for, and with them those no query may come from.
    pub const ADDRESSES: &str = "dns_addresses";
    /// The two LPM tries [`crate::views::ViewKey`] → [`crate::views::ViewValue`], client
    /// prefix → view, indexed by [`crate::publish::Live::views`]: one is live, the other empty
    /// or being filled for the next reload.
    pub const VIEWS: [&str; 2] = ["dns_views_0", "dns_views_1"];
    /// Per-CPU scratch space for the program; not for userspace.
    pub const SCRATCH: &str = "dns_scratch";
}

/// Program names inside the eBPF object.
pub mod program_names {
    /// The DNS responder.
    pub const RESPONDER: &str = "dns_xdp";
    /// Passes every frame; attached to the peer end of test and demo veth pairs, because a frame
    /// sent with `XDP_TX` on one veth end is dropped unless the peer has an XDP program.
    pub const PASS: &str = "xdp_pass";
    /// Swaps MAC addresses and returns `XDP_TX`: the baseline of the XDP benchmark.
    pub const BENCH_BASELINE: &str = "bench_mac_swap";
}

/// Directory under bpffs where the agent pins its maps.
pub const PIN_DIR: &str = "/sys/fs/bpf/dns-xdp";
