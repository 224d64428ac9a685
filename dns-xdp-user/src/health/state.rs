//! The health state machine of one target: a pure function of its check results.

use std::fmt;

/// The health of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    /// No check has finished yet.
    Unknown,
    Up,
    Down,
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthState::Unknown => "unknown",
            HealthState::Up => "up",
            HealthState::Down => "down",
        })
    }
}

/// State and streaks of one target.
///
/// The first result decides up or down at once: before it nothing is known, and waiting for
/// `fall` or `rise` results would only keep a dead backend in the answers (or a live one out)
/// for longer. After that, `fall` consecutive failures take an up target down and `rise`
/// consecutive successes bring a down target up; anything shorter changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tracker {
    pub(crate) state: HealthState,
    /// Successes in a row up to the latest result (0 if it failed).
    pub(crate) successes: u32,
    /// Failures in a row up to the latest result (0 if it succeeded).
    pub(crate) failures: u32,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            state: HealthState::Unknown,
            successes: 0,
            failures: 0,
        }
    }
}

impl Tracker {
    /// Records one result; returns the previous state if this one changed it.
    pub(crate) fn record(&mut self, ok: bool, fall: u32, rise: u32) -> Option<HealthState> {
        if ok {
            self.successes = self.successes.saturating_add(1);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
            self.successes = 0;
        }
        let next = match self.state {
            HealthState::Unknown if ok => HealthState::Up,
            HealthState::Unknown => HealthState::Down,
            HealthState::Up if self.failures >= fall => HealthState::Down,
            HealthState::Down if self.successes >= rise => HealthState::Up,
            unchanged => unchanged,
        };
        let old = self.state;
        self.state = next;
        (old != next).then_some(old)
    }
}

#[cfg(test)]
mod tests {
    use super::HealthState::{Down, Unknown, Up};
    use super::*;

    /// Feeds `results` ('+' success, '-' failure) and returns the state after each.
    fn run(fall: u32, rise: u32, results: &str) -> Vec<HealthState> {
        let mut tracker = Tracker::default();
        results
            .chars()
            .map(|c| {
                tracker.record(c == '+', fall, rise);
                tracker.state
            })
            .collect()
    }

    #[test]
    fn first_result_decides_at_once() {
        assert_eq!(Tracker::default().state, Unknown);
        let mut up = Tracker::default();
        assert_eq!(up.record(true, 3, 2), Some(Unknown));
        assert_eq!(up.state, Up);
        let mut down = Tracker::default();
        assert_eq!(down.record(false, 3, 2), Some(Unknown));
        assert_eq!(down.state, Down);
        // Even with large thresholds.
        assert_eq!(run(10, 10, "-"), [Down]);
        assert_eq!(run(10, 10, "+"), [Up]);
    }

    #[test]
    fn fall_and_rise() {
        assert_eq!(
            run(3, 2, "+---++"),
            [Up, Up, Up, Down, Down, Up],
            "3 failures take it down, 2 successes bring it back"
        );
        assert_eq!(run(1, 1, "+-+-"), [Up, Down, Up, Down]);
        // From a first failure, `rise` successes are needed.
        assert_eq!(run(3, 3, "-++++"), [Down, Down, Down, Up, Up]);
    }

    #[test]
    fn flapping_inside_the_thresholds_changes_nothing() {
        let states = run(3, 2, "+--+--+-+--+");
        assert!(states.iter().all(|s| *s == Up), "{states:?}");
        let states = run(3, 2, "-+-+-+--+-+-");
        assert!(states.iter().all(|s| *s == Down), "{states:?}");
    }

    #[test]
    fn record_reports_only_changes_and_keeps_streaks() {
        let mut tracker = Tracker::default();
        let changes: Vec<_> = "++--+---++"
            .chars()
            .map(|c| tracker.record(c == '+', 3, 2))
            .collect();
        assert_eq!(
            changes,
            [
                Some(Unknown),
                None,
                None,
                None,
                None,
                None,
                None,
                Some(Up),
                None,
                Some(Down)
            ]
        );
        assert_eq!((tracker.successes, tracker.failures), (2, 0));
    }
}
