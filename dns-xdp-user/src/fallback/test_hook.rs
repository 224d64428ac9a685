//! Test only, with the cargo feature `test-hooks`: panics on purpose, so the tests can show
//! what a bug costs.
//!
//! - `DNS_XDP_TEST_PANIC_QNAME=<name>`: the responder panics on every query for that name
//!   (any case). The server catches it: that query is answered SERVFAIL, the socket serves on.
//! - `DNS_XDP_TEST_CRASH_QNAME=<name>`: the server panics on such a query outside the
//!   responder, where no per-query guard is: the UDP serving thread ends (and its supervisor
//!   starts a new one) or the TCP connection's task does.
//!
//! Read once, at the first query; the agent logs a warning at start for each one set. Without
//! the feature (every build but the tests') the functions do nothing, and neither the
//! variables nor their names are in the binary.

#[cfg(feature = "test-hooks")]
mod hook {
    use std::sync::OnceLock;

    use crate::fallback::wire;

    pub const PANIC: &str = "DNS_XDP_TEST_PANIC_QNAME";
    pub const CRASH: &str = "DNS_XDP_TEST_CRASH_QNAME";

    /// The name `variable` holds, lowercase and with its final dot.
    fn target(variable: &'static str) -> Option<&'static str> {
        static PANIC_NAME: OnceLock<Option<String>> = OnceLock::new();
        static CRASH_NAME: OnceLock<Option<String>> = OnceLock::new();
        let cell = if variable == PANIC {
            &PANIC_NAME
        } else {
            &CRASH_NAME
        };
        cell.get_or_init(|| {
            let text = std::env::var(variable).ok()?;
            let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
            Some(format!("{name}."))
        })
        .as_deref()
    }

    pub fn announce() {
        for (variable, what) in [
            (PANIC, "the responder panics"),
            (CRASH, "the server panics outside the responder"),
        ] {
            if let Some(name) = target(variable) {
                log::warn!(
                    "{variable} is set: {what} on every query for {name} (a test hook; unset it \
                     outside tests)"
                );
            }
        }
    }

    pub fn panic_if_named(variable: &'static str, query: &[u8]) {
        let Some(target) = target(variable) else {
            return;
        };
        if let Some(question) = wire::question(query) {
            if question.name.eq_ignore_ascii_case(target) {
                panic!("{variable}: a deliberate panic on {question}");
            }
        }
    }
}

/// Logs a warning for each hook set.
pub fn announce() {
    #[cfg(feature = "test-hooks")]
    hook::announce();
}

/// In the responder: panics if `DNS_XDP_TEST_PANIC_QNAME` names the query's first question.
#[inline(always)]
pub fn panic_if_named(_query: &[u8]) {
    #[cfg(feature = "test-hooks")]
    hook::panic_if_named(hook::PANIC, _query);
}

/// In the server, outside the per-query guard: panics if `DNS_XDP_TEST_CRASH_QNAME` names the
/// query's first question.
#[inline(always)]
pub fn crash_if_named(_query: &[u8]) {
    #[cfg(feature = "test-hooks")]
    hook::panic_if_named(hook::CRASH, _query);
}
