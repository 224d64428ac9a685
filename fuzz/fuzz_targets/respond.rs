//! Any bytes in, as a query over UDP and over TCP: `Responder::respond` must not panic, and
//! every reply must parse with hickory-proto, carry the query's ID and fit the transport (512
//! bytes over UDP without EDNS). The invariants live with the seeded random test that runs
//! in `cargo test` (`dns-xdp-user/tests/support/mod.rs`).

#![no_main]

use std::sync::LazyLock;

use dns_xdp_user::fallback::responder::Responder;
use libfuzzer_sys::fuzz_target;

#[path = "../../dns-xdp-user/tests/support/mod.rs"]
#[allow(dead_code)]
mod support;

static RESPONDER: LazyLock<Responder> = LazyLock::new(support::responder);

fuzz_target!(|query: &[u8]| {
    support::check(&RESPONDER, query);
});
