//! Log lines about events that can come once per packet (malformed queries, panics, socket
//! errors) at most once per [`PERIOD`] for each kind, with a count, so a flood of bad packets
//! costs counters and not megabytes of log.
//!
//! The first event after a quiet period is logged at once, alone: an operator sees the first
//! sign of trouble without delay. Events within [`PERIOD`] of the last line are counted and
//! the last one kept as the example; the next line, written by the first event after
//! [`PERIOD`] or by [`LogLimiter::flush`] (which the server calls on a timer, so the count of
//! a burst that stopped is not lost), reports how many there were and over how long.

use std::{
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

/// At most one line per kind in this time: three a minute.
pub const PERIOD: Duration = Duration::from_secs(20);

pub struct LogLimiter<S> {
    state: Mutex<State<S>>,
}

struct State<S> {
    /// When the last line was written.
    last_line: Option<Instant>,
    /// Events since then, not yet in a line.
    pending: u64,
    /// The last of them.
    example: Option<S>,
}

/// One line to write.
#[derive(Debug, PartialEq)]
pub struct Line<S> {
    /// Events the line reports: 1 for a first event.
    pub count: u64,
    /// None for a first event, else the time since the previous line, which the count covers.
    pub over: Option<Duration>,
    /// The latest of the events.
    pub example: S,
}

impl<S> Default for LogLimiter<S> {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                last_line: None,
                pending: 0,
                example: None,
            }),
        }
    }
}

impl<S> LogLimiter<S> {
    /// Records an event at `now`; returns the line to write, if one is due.
    pub fn event(&self, now: Instant, example: S) -> Option<Line<S>> {
        // Nothing here panics with the lock held, and the state is whole either way.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(at) = state.last_line {
            if now.saturating_duration_since(at) < PERIOD {
                state.pending += 1;
                state.example = Some(example);
                return None;
            }
        }
        let over = match (state.pending, state.last_line) {
            (0, _) | (_, None) => None,
            (_, Some(at)) => Some(now.saturating_duration_since(at)),
        };
        let count = std::mem::take(&mut state.pending) + 1;
        state.example = None;
        state.last_line = Some(now);
        Some(Line {
            count,
            over,
            example,
        })
    }

    /// The line for the events counted since the last one, once [`PERIOD`] has passed since
    /// it.
    pub fn flush(&self, now: Instant) -> Option<Line<S>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let at = state.last_line?;
        let over = now.saturating_duration_since(at);
        if state.pending == 0 || over < PERIOD {
            return None;
        }
        let example = state.example.take()?;
        let count = std::mem::take(&mut state.pending);
        state.last_line = Some(now);
        Some(Line {
            count,
            over: Some(over),
            example,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_at_once_then_one_line_per_period_with_the_count() {
        let limiter = LogLimiter::default();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        assert_eq!(
            limiter.event(t0, "a"),
            Some(Line {
                count: 1,
                over: None,
                example: "a"
            })
        );
        assert_eq!(limiter.event(t0 + s(1), "b"), None);
        assert_eq!(limiter.event(t0 + s(2), "c"), None);
        assert_eq!(limiter.flush(t0 + s(19)), None, "not before the period");
        assert_eq!(
            limiter.event(t0 + s(21), "d"),
            Some(Line {
                count: 3,
                over: Some(s(21)),
                example: "d"
            })
        );
        // A burst that stops is reported by the timer's flush.
        assert_eq!(limiter.event(t0 + s(22), "e"), None);
        assert_eq!(
            limiter.flush(t0 + s(45)),
            Some(Line {
                count: 1,
                over: Some(s(24)),
                example: "e"
            })
        );
        assert_eq!(limiter.flush(t0 + s(90)), None, "nothing pending");
        // After a quiet period, an event is a first event again.
        assert_eq!(
            limiter.event(t0 + s(300), "f"),
            Some(Line {
                count: 1,
                over: None,
                example: "f"
            })
        );
    }

    #[test]
    fn a_flood_is_one_line_now_and_one_per_period() {
        let limiter = LogLimiter::default();
        let t0 = Instant::now();
        let lines = (0..20_000u32)
            .filter_map(|i| limiter.event(t0 + Duration::from_micros(u64::from(i) * 50), i))
            .count();
        assert_eq!(lines, 1);
        let line = limiter.flush(t0 + PERIOD).unwrap();
        assert_eq!((line.count, line.example), (19_999, 19_999));
    }
}
