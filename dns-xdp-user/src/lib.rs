//! dns-xdp's agent: zones in, answers out — into the XDP fast path's maps and from the fallback
//! server for everything the fast path passes up.
//!
//! The modules, in the order the data flows through them:
//! - [`config`]: the config file, every default, validated;
//! - [`zone`]: zone files parsed into the zone model;
//! - [`dnssec`]: keys and online signing;
//! - [`alias`]: ALIAS targets resolved and flattened;
//! - [`catalog`]: the zones in service as one snapshot;
//! - [`render`]: the answers' bytes, computed once for both paths;
//! - [`health`] → [`steering`]: health checks and the pools' answers;
//! - [`fastpath`] and [`fallback`]: the two paths that answer;
//! - [`metrics`], [`lint`], [`status`]: what operators read;
//! - [`daemon`]: the event loop and the publisher that puts snapshots in service;
//! - [`cli`]: the subcommands.

pub mod alias;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dnssec;
pub mod error;
pub mod fallback;
pub mod fastpath;
pub mod health;
pub mod lint;
pub mod metrics;
pub mod render;
pub mod status;
pub mod steering;
pub mod zone;
