//! Traffic steering: which addresses each pool answers with, for which clients.
//!
//! - [`geo`]: client address (or EDNS Client Subnet) → view, from the regions' CIDRs and a
//!   MaxMind-format database; also the prefixes the kernel's LPM trie is loaded with.
//! - [`engine`]: pools + member health → per pool and view, the variants to publish.
//! - [`traffic`]: the engine's state while the agent serves: the pools' answers as last
//!   computed, recomputed on every health change.
//! - [`steered`]: those answers as the fallback serves them, chosen per query.
//!
//! The pools, regions and checks themselves are config ([`crate::config::steering`]).
//! No sockets, no maps: the publisher puts what this computes in service.

pub mod engine;
pub mod geo;
pub mod steered;
pub mod traffic;

pub use crate::config::steering::{Steering, SteeringConfigError};
pub use engine::{answers, Health, PoolAnswer, ViewAnswer};
pub use geo::{GeoDatabase, GeoError, ViewPrefix, Views, DEFAULT_VIEW};
