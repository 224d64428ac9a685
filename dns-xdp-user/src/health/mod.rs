//! Health checks of pool members: one probe loop per distinct target (address + check), a
//! fall/rise state machine per target, and the state changes the agent republishes answers on.
//!
//! - [`CheckConfig`] is a `[[check]]` section; [`resolve_checks`] validates them into
//!   [`CheckSpec`]s. A [`Target`] is a member address probed by one spec.
//! - [`Checker`] runs the probes of the targets it is given ([`Checker::set_targets`]) and
//!   sends each [`HealthChange`] to the agent.
//!
//! A target is [`HealthState::Unknown`] until its first check finishes; that first result makes
//! it up or down at once, and `fall`/`rise` apply from then on. The agent waits for
//! [`Checker::first_round`] before its first publish.

mod checker;
mod probe;
mod state;
#[cfg(test)]
mod test_support;
mod tls;

pub use crate::config::check::{resolve_checks, CheckConfig, CheckError, CheckSpec, Protocol};
pub use checker::{Checker, HealthChange, TargetStatus};
pub use probe::ProbeResult;
pub use state::HealthState;

use std::{fmt, net::IpAddr, sync::Arc};

/// One thing to check: a member address probed the way a check says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub address: IpAddr,
    pub spec: Arc<CheckSpec>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "check {:?} ({} port {}) on {}",
            self.spec.name, self.spec.protocol, self.spec.port, self.address
        )
    }
}
