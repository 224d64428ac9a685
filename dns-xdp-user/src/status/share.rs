//! What happened over the last minute: how many answers the fast path and the fallback sent,
//! and how many of the fallback's serving loops died. The counters only ever count up since
//! the start, so the agent samples them every few seconds and a report takes the difference
//! between now and the sample a minute old.

use std::{
    collections::VecDeque,
    path::Path,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{fallback::query_stats::QueryStats, fastpath::counters::Counters};

/// How far back a report looks.
pub const WINDOW: Duration = Duration::from_secs(60);

/// How often the agent samples; a report's window is `WINDOW` to `WINDOW` plus this.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// The counters at one moment, since the agent's start (the fast path's since its maps were
/// made).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    pub fast_path: u64,
    pub fallback: u64,
    pub restarts: u64,
    pub panics: u64,
}

impl Reading {
    /// Reads the fast path's counters pinned in `pin_dir` (None: XDP off) and the fallback's.
    pub fn take(pin_dir: Option<&Path>, fallback: &QueryStats) -> Self {
        let fast_path = pin_dir
            .and_then(|dir| Counters::read_pinned(dir).ok())
            .map_or(0, |counters| counters.answered());
        Self {
            fast_path,
            fallback: fallback.responses().iter().map(|(_, _, n)| n).sum(),
            restarts: fallback.restart_counts().iter().map(|(_, n)| n).sum(),
            panics: fallback.panic_counts().iter().map(|(_, n)| n).sum(),
        }
    }
}

/// The differences over a window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// How long it is: [`WINDOW`] or a little more, less only shortly after the start.
    pub seconds: f64,
    pub fast_path_answers: u64,
    pub fallback_answers: u64,
    pub fallback_restarts: u64,
    pub fallback_panics: u64,
}

impl Window {
    /// The fast path's share of the answers sent, None when none were.
    pub fn fast_path_share(&self) -> Option<f64> {
        let all = self.fast_path_answers + self.fallback_answers;
        (all > 0).then(|| self.fast_path_answers as f64 / all as f64)
    }
}

/// Readings over the last [`WINDOW`], oldest first.
#[derive(Default)]
pub struct Samples(Mutex<VecDeque<(Instant, Reading)>>);

impl Samples {
    /// Adds `reading`, taken at `at`, and forgets what a report no longer needs: all but the
    /// newest reading that is a whole window old.
    pub fn record(&self, at: Instant, reading: Reading) {
        let mut samples = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        samples.push_back((at, reading));
        while samples
            .get(1)
            .is_some_and(|(second, _)| at.saturating_duration_since(*second) >= WINDOW)
        {
            samples.pop_front();
        }
    }

    /// From the newest reading at least a window before `now` (else the oldest) to `current`.
    pub fn window(&self, now: Instant, current: Reading) -> Window {
        let samples = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let base = samples
            .iter()
            .rev()
            .find(|(at, _)| now.saturating_duration_since(*at) >= WINDOW)
            .or(samples.front());
        let Some((at, before)) = base else {
            return Window::default();
        };
        // A counter that went down was read from maps made anew: count from zero.
        let since = |now: u64, then: u64| now.checked_sub(then).unwrap_or(now);
        Window {
            seconds: now.saturating_duration_since(*at).as_secs_f64(),
            fast_path_answers: since(current.fast_path, before.fast_path),
            fallback_answers: since(current.fallback, before.fallback),
            fallback_restarts: since(current.restarts, before.restarts),
            fallback_panics: since(current.panics, before.panics),
        }
    }
}

/// Samples the counters every [`SAMPLE_EVERY`] into `samples`, until the task is dropped.
pub async fn sample(
    pin_dir: Option<std::path::PathBuf>,
    fallback: std::sync::Arc<QueryStats>,
    samples: std::sync::Arc<Samples>,
) {
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        // Reading the pinned map is a few system calls: no need for a blocking thread.
        let reading = Reading::take(pin_dir.as_deref(), &fallback);
        samples.record(Instant::now(), reading);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(fast_path: u64, fallback: u64, restarts: u64) -> Reading {
        Reading {
            fast_path,
            fallback,
            restarts,
            panics: 0,
        }
    }

    #[test]
    fn the_window_reaches_back_a_minute_and_no_further() {
        let samples = Samples::default();
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        // Before any sample: nothing to compare with.
        assert_eq!(samples.window(at(0), reading(5, 5, 0)), Window::default());
        for (s, n) in [(0, 0), (5, 100), (10, 200)] {
            samples.record(at(s), reading(n, n / 10, 0));
        }
        // Younger than a minute: since the first sample.
        let young = samples.window(at(12), reading(300, 30, 1));
        assert_eq!(young.seconds, 12.0);
        assert_eq!((young.fast_path_answers, young.fallback_answers), (300, 30));
        assert_eq!(young.fallback_restarts, 1);
        let share = young.fast_path_share().unwrap();
        assert!((share - 300.0 / 330.0).abs() < 1e-9, "{share}");

        for s in (15..=70).step_by(5) {
            samples.record(at(s), reading(s * 20, s * 2, 1));
        }
        // At 72 s the newest sample a minute old is the one at 10 s; older ones are gone.
        let old = samples.window(at(72), reading(72 * 20, 72 * 2, 1));
        assert_eq!(old.seconds, 62.0);
        assert_eq!(old.fast_path_answers, 72 * 20 - 200);
        assert_eq!(old.fallback_answers, 72 * 2 - 20);
        assert_eq!(old.fallback_restarts, 1);
        assert_eq!(samples.0.lock().unwrap().front().unwrap().0, at(10));
    }

    #[test]
    fn no_answers_is_no_share_and_a_reset_counts_from_zero() {
        let samples = Samples::default();
        let start = Instant::now();
        samples.record(start, reading(1000, 0, 0));
        let window = samples.window(start + Duration::from_secs(5), reading(40, 0, 0));
        assert_eq!(window.fast_path_answers, 40);
        assert_eq!(Window::default().fast_path_share(), None);
    }
}
