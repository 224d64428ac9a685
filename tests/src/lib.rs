//! Helpers shared by the integration tests, the demo and the benchmarks.

pub mod agent;
pub mod backend;
pub mod bench;
pub mod dnsperf;
pub mod knot;
pub mod kxdpgun;
pub mod metrics;
pub mod mmdb;
pub mod netns;
pub mod nsd;
pub mod packet;
pub mod process;
pub mod scratch;
pub mod servers;
pub mod test_run;
pub mod unbound;
