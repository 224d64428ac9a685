//! The fallback server: everything the fast path passes up is answered here, from the same
//! catalog and rendered answers, over UDP and TCP.

pub mod connections;
mod edns;
pub mod guard;
pub mod log_limit;
pub mod packet_cache;
pub mod query_stats;
pub mod responder;
pub mod server;
mod signing;
pub mod splice;
pub mod tcp;
pub mod test_hook;
mod udp;
pub mod wire;

#[cfg(test)]
mod signed_tests;
