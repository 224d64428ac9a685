//! dns-xdp's agent: zones in, answers out — into the XDP fast path's maps and from the fallback
//! server for everything the fast path passes up.

pub mod agent;
pub mod alias;
pub mod answers;
pub mod config;
pub mod dataplane;
pub mod dnssec;
pub mod ebpf;
pub mod health;
pub mod lint;
pub mod local_addrs;
pub mod maps_dump;
pub mod metrics;
pub mod packet_cache;
pub mod pin_dir;
pub mod query_stats;
pub mod rendered;
pub mod response;
pub mod server;
pub mod stats;
pub mod steered;
pub mod steering;
pub mod stop;
pub mod takeover;
pub mod traffic;
pub mod zone;
