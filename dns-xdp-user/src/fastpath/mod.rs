//! The XDP fast path as the agent drives it: the program object, its maps and their layout in
//! the agent's terms (answer entries), loading, attaching, pinning and taking over, the
//! addresses it answers for, its counters, and the decoded dump of its maps.

pub mod address_watch;
pub mod addresses;
pub mod answers;
pub mod bpffs;
pub mod counters;
pub mod dataplane;
pub mod maps_dump;
pub mod object;
pub mod pin_dir;
mod publish_map;
pub mod requirements;
pub mod takeover;

use dns_xdp_common::views::ViewPrefix;

use answers::{AnswerSet, Changes};
use dataplane::{Applied, Dataplane, DataplaneError, Published};

/// What publishing needs of the kernel side. [`Dataplane`] is the one real implementation; the
/// trait lets the publisher's rules be tested without BPF, against a kernel that fails where a
/// test says (as Katran's testing mode does).
pub trait FastPath {
    /// The EDNS payload size the next [`FastPath::publish`] advertises.
    fn set_edns_payload(&mut self, edns_payload: u16);
    /// See [`Dataplane::publish`].
    fn publish(
        &mut self,
        set: &AnswerSet,
        prefixes: &[ViewPrefix],
    ) -> Result<Published, DataplaneError>;
    /// See [`Dataplane::apply`].
    fn apply(&mut self, changes: &Changes<'_>) -> Applied;
    /// See [`Dataplane::remove_stale`].
    fn remove_stale(&mut self) -> Result<usize, DataplaneError>;
    /// The live generation (0 before the first publication).
    fn generation(&self) -> u32;
}

impl FastPath for Dataplane {
    fn set_edns_payload(&mut self, edns_payload: u16) {
        Dataplane::set_edns_payload(self, edns_payload);
    }

    fn publish(
        &mut self,
        set: &AnswerSet,
        prefixes: &[ViewPrefix],
    ) -> Result<Published, DataplaneError> {
        Dataplane::publish(self, set, prefixes)
    }

    fn apply(&mut self, changes: &Changes<'_>) -> Applied {
        Dataplane::apply(self, changes)
    }

    fn remove_stale(&mut self) -> Result<usize, DataplaneError> {
        Dataplane::remove_stale(self)
    }

    fn generation(&self) -> u32 {
        Dataplane::generation(self)
    }
}
