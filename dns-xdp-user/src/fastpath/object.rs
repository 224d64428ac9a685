//! The XDP program, built by `cargo xtask build-ebpf` and embedded at compile time (see
//! `build.rs`), so the agent is a single binary.

/// The eBPF object file, 8-byte aligned as the ELF parser expects.
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(env!("DNS_XDP_EBPF_OBJECT"));
