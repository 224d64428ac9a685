//! Traffic steering: which addresses each pool answers with, for which clients.
//!
//! - [`config`]: the `[geo]`, `[[region]]` and `[[pool]]` sections and their validation into a
//!   [`Steering`] model.
//! - [`geo`]: client address (or EDNS Client Subnet) → view, from the regions' CIDRs and a
//!   MaxMind-format database; also the prefixes the kernel's LPM trie is loaded with.
//! - [`engine`]: pools + member health → per pool and view, the variants to publish.
//!
//! Pure logic: no sockets, no maps, no clock. The agent feeds it health and publishes what it
//! returns.

pub mod config;
pub mod continent;
pub mod engine;
pub mod geo;
pub mod prefix;

pub use config::{validate, GeoConfig, PoolConfig, RegionConfig, Steering, SteeringConfigError};
pub use continent::Continent;
pub use engine::{answers, Health, PoolAnswer, ViewAnswer};
pub use geo::{GeoDatabase, GeoError, ViewPrefix, Views, DEFAULT_VIEW};
pub use prefix::{Prefix, PrefixError};
