//! Catching a panic in the code that answers a query, so that a query that hits a bug costs
//! that query (the server answers it SERVFAIL) and not the socket that received it.
//!
//! Why unwinding and not `panic = "abort"` with a restart: with abort, one bad query, which a
//! client can send again and again, would kill the whole agent. The fast path would keep
//! answering from its pinned maps, but everything it passes up (every signed answer, every
//! negative answer, TCP) would go unanswered until a supervisor restarted the agent, which
//! then reloads and re-signs its zones for seconds before it serves, only to die at the next
//! such query; and where nothing restarts it (no systemd), it stays dead. Caught, the query is
//! answered SERVFAIL, logged and counted, and every other query is answered as before.
//!
//! A panic hook keeps the panics caught here out of the default hook's message on stderr: it
//! writes one unthrottled block per panic, so a client repeating a query of death would flood
//! the log. The hook hands the message and location to [`catch`] instead, whose caller logs
//! them rate-limited. Panics anywhere else still reach the previous hook.

use std::{
    any::Any,
    backtrace::{Backtrace, BacktraceStatus},
    cell::{Cell, RefCell},
    panic::{self, AssertUnwindSafe, PanicHookInfo},
    sync::Once,
};

thread_local! {
    /// Whether this thread is inside [`catch`].
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// What the hook saw of the panic being caught.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`; a panic in it comes back as its message, location and (with `RUST_BACKTRACE`
/// set) backtrace.
///
/// `AssertUnwindSafe` holds for what `f` is given here, a responder and a query: the zones and
/// rendered answers a responder shares are immutable, its caches sit behind mutexes whose every
/// critical section is one lookup or one insert, and every lock in dns-xdp is taken through
/// `PoisonError::into_inner`, so whatever a panic interrupts is left whole for the next query.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    let outer = CATCHING.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(outer);
    result.map_err(|payload| CAUGHT.take().unwrap_or_else(|| payload_text(&*payload)))
}

fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.try_with(Cell::get).unwrap_or(false) {
                // `try_with`: a thread being torn down has no locals left; then say nothing.
                let _ = CAUGHT.try_with(|caught| *caught.borrow_mut() = Some(describe(info)));
            } else {
                previous(info);
            }
        }));
    });
}

fn describe(info: &PanicHookInfo<'_>) -> String {
    let mut text = payload_text(info.payload());
    if let Some(location) = info.location() {
        text.push_str(&format!(" at {location}"));
    }
    let backtrace = Backtrace::capture();
    if backtrace.status() == BacktraceStatus::Captured {
        text.push_str(&format!("\n{backtrace}"));
    }
    text
}

/// A panic's message: `panic!` makes it a `&str` or a `String`.
pub fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_or_the_panic_with_its_location() {
        assert_eq!(catch(|| 7), Ok(7));
        let line = line!() + 1;
        let caught = catch(|| -> u8 { panic!("no answer for {}", "www.example.com.") });
        let message = caught.unwrap_err();
        assert!(
            message.starts_with(&format!(
                "no answer for www.example.com. at dns-xdp-user/src/fallback/guard.rs:{line}:"
            )),
            "{message}"
        );
        // Caught once, the thread catches the next one just as well.
        assert_eq!(
            catch(|| -> u8 { panic!("again") })
                .unwrap_err()
                .split(" at ")
                .next(),
            Some("again")
        );
    }
}
