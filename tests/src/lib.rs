//! Helpers shared by the integration tests, the demo and the benchmarks.

pub mod agent;
pub mod backend;
pub mod knot;
pub mod mmdb;
pub mod netns;
pub mod packet;
pub mod process;
pub mod scratch;
pub mod test_run;
