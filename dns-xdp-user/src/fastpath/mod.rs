//! The XDP fast path as the agent drives it: the program object, its maps and their layout in
//! the agent's terms (answer entries), loading, attaching, pinning and taking over, the
//! addresses it answers for, its counters, and the decoded dump of its maps.

pub mod addresses;
pub mod answers;
pub mod bpffs;
pub mod dataplane;
pub mod maps_dump;
pub mod object;
pub mod pin_dir;
pub mod takeover;
