//! The probe loops: one task per distinct target, their state machines, and what they report.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rustls::ClientConfig;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::probe::{probe, ProbeResult};
use super::state::{HealthState, Tracker};
use super::tls::client_config;
use super::Target;
use crate::config::check::{Protocol, Trust};

/// The first checks of the targets given to the checker's first `set_targets` start within this
/// (or within their interval, if shorter), so that the agent's first publish need not wait a
/// whole interval.
const QUICK_START: Duration = Duration::from_secs(1);
/// Checks of one target are `interval` ± this fraction apart, so targets added together drift
/// apart rather than checking in bursts.
const JITTER: f64 = 0.1;

/// A target's state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    pub target: Target,
    pub old: HealthState,
    pub new: HealthState,
    /// The result that made the change, e.g. "HTTP 503 (expected 200-399)".
    pub reason: String,
}

/// Where a target stands, for metrics and stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    pub target: Target,
    pub state: HealthState,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    /// None until the first check has finished.
    pub last_result: Option<ProbeResult>,
    /// When the last check finished.
    pub last_check: Option<SystemTime>,
}

/// Runs the health checks of a set of targets.
///
/// Each distinct [`Target`] gets one Tokio task, however many pools use it. The first result
/// of a target decides up or down at once; after that `fall` failures in a row take it down and
/// `rise` successes in a row bring it back (see [`HealthState`]). Changes are logged and sent
/// to the receiver returned by [`Checker::new`].
///
/// Scheduling: the targets of the first [`Checker::set_targets`] call are checked first at a
/// random moment within `min(interval, 1s)`, so start-up is quick, and next at a random moment
/// within one interval after that, which spreads them over the interval. Targets added later
/// are checked first at a random moment within their interval. From then on each target is
/// checked every interval ± 10%, measured from the start of one check to the next.
///
/// Dropping the checker stops all checks.
pub struct Checker {
    runtime: Handle,
    shared: Arc<Shared>,
    targets: Mutex<Targets>,
}

struct Targets {
    running: HashMap<Target, Running>,
    /// False until the first `set_targets`, whose targets start quickly.
    started: bool,
}

struct Running {
    slot: Arc<Slot>,
    task: JoinHandle<()>,
}

/// What all probe loops share with the checker.
struct Shared {
    events: mpsc::UnboundedSender<HealthChange>,
    last_probe: Mutex<Option<SystemTime>>,
    /// Bumped after every result, to wake `first_round`.
    results: watch::Sender<u64>,
}

/// One target's state, shared by its probe loop and the checker.
#[derive(Default)]
struct Slot(Mutex<SlotState>);

#[derive(Default)]
struct SlotState {
    /// Cleared when the target is removed; a loop that finds it cleared reports nothing more.
    active: bool,
    tracker: Tracker,
    last_result: Option<ProbeResult>,
    last_check: Option<SystemTime>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked: every update under
/// these locks is a few plain assignments.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Checker {
    /// A checker with no targets, and the receiver of its state changes. The probe loops run
    /// on the Tokio runtime this is called in (it panics outside one).
    pub fn new() -> (Self, mpsc::UnboundedReceiver<HealthChange>) {
        let (events, receiver) = mpsc::unbounded_channel();
        let checker = Checker {
            runtime: Handle::current(),
            shared: Arc::new(Shared {
                events,
                last_probe: Mutex::new(None),
                results: watch::Sender::new(0),
            }),
            targets: Mutex::new(Targets {
                running: HashMap::new(),
                started: false,
            }),
        };
        (checker, receiver)
    }

    /// Makes `targets` the set to check. Duplicates are checked once. Targets already being
    /// checked keep their state and schedule; new ones start as [`HealthState::Unknown`];
    /// removed ones stop, and no change of theirs is sent after this returns (one sent before
    /// may still be waiting in the receiver, so the receiver should ignore targets it no
    /// longer has).
    pub fn set_targets(&self, targets: impl IntoIterator<Item = Target>) {
        let wanted: HashSet<Target> = targets.into_iter().collect();
        let mut current = lock(&self.targets);
        current.running.retain(|target, running| {
            let keep = wanted.contains(target);
            if !keep {
                lock(&running.slot.0).active = false;
                running.task.abort();
                log::debug!("health: stopped {target}");
            }
            keep
        });
        let quick_start = !current.started;
        current.started = true;
        let mut tls_configs: HashMap<&Trust, Arc<ClientConfig>> = HashMap::new();
        for target in &wanted {
            if current.running.contains_key(target) {
                continue;
            }
            let tls = (target.spec.protocol == Protocol::Https).then(|| {
                tls_configs
                    .entry(&target.spec.trust)
                    .or_insert_with(|| client_config(&target.spec.trust))
                    .clone()
            });
            let slot = Arc::new(Slot::default());
            lock(&slot.0).active = true;
            let task = self.runtime.spawn(probe_loop(
                target.clone(),
                slot.clone(),
                self.shared.clone(),
                tls,
                quick_start,
            ));
            log::debug!("health: started {target}");
            current
                .running
                .insert(target.clone(), Running { slot, task });
        }
    }

    /// The state of `target`, or None if it is not being checked.
    pub fn state(&self, target: &Target) -> Option<HealthState> {
        let current = lock(&self.targets);
        let running = current.running.get(target)?;
        let state = lock(&running.slot.0).tracker.state;
        Some(state)
    }

    /// Every target's status, ordered by check name, then address.
    pub fn snapshot(&self) -> Vec<TargetStatus> {
        let mut statuses: Vec<TargetStatus> = lock(&self.targets)
            .running
            .iter()
            .map(|(target, running)| {
                let slot = lock(&running.slot.0);
                TargetStatus {
                    target: target.clone(),
                    state: slot.tracker.state,
                    consecutive_successes: slot.tracker.successes,
                    consecutive_failures: slot.tracker.failures,
                    last_result: slot.last_result.clone(),
                    last_check: slot.last_check,
                }
            })
            .collect();
        statuses.sort_by(|a, b| {
            (&a.target.spec.name, a.target.address).cmp(&(&b.target.spec.name, b.target.address))
        });
        statuses
    }

    /// When the checker last finished a check of any target: its own sign of life. None
    /// before the first check has finished.
    pub fn liveness(&self) -> Option<SystemTime> {
        *lock(&self.shared.last_probe)
    }

    /// Waits until every target has a first result or `deadline` passes; true if all have one.
    /// The agent calls this before its first publish, so that it starts with real health.
    pub async fn first_round(&self, deadline: std::time::Instant) -> bool {
        let mut results = self.shared.results.subscribe();
        loop {
            // Marking the version seen before looking means no result can slip in between.
            results.borrow_and_update();
            if self.all_reported() {
                return true;
            }
            let wait = tokio::time::timeout_at(Instant::from_std(deadline), results.changed());
            if wait.await.is_err() {
                return self.all_reported();
            }
        }
    }

    fn all_reported(&self) -> bool {
        lock(&self.targets)
            .running
            .values()
            .all(|running| lock(&running.slot.0).tracker.state != HealthState::Unknown)
    }
}

impl Drop for Checker {
    fn drop(&mut self) {
        for running in lock(&self.targets).running.values() {
            lock(&running.slot.0).active = false;
            running.task.abort();
        }
    }
}

/// Checks one target until its task is aborted.
async fn probe_loop(
    target: Target,
    slot: Arc<Slot>,
    shared: Arc<Shared>,
    tls: Option<Arc<ClientConfig>>,
    quick_start: bool,
) {
    let interval = target.spec.interval;
    let mut next = Instant::now() + first_delay(interval, quick_start);
    let mut first = true;
    loop {
        tokio::time::sleep_until(next).await;
        let started = Instant::now();
        let result = probe(&target, tls.as_ref()).await;
        if !shared.record(&target, &slot, result) {
            return;
        }
        next = started + next_delay(interval, first && quick_start);
        first = false;
    }
}

/// Until the first check.
fn first_delay(interval: Duration, quick_start: bool) -> Duration {
    let window = if quick_start {
        interval.min(QUICK_START)
    } else {
        interval
    };
    window.mul_f64(rand::random_range(0.0..1.0))
}

/// From the start of one check to the start of the next. After a quick first check the next
/// comes at a random moment within one interval, so that targets started together spread
/// over the interval.
fn next_delay(interval: Duration, after_quick_first: bool) -> Duration {
    if after_quick_first {
        interval.mul_f64(rand::random_range(0.0..1.0))
    } else {
        interval.mul_f64(rand::random_range(1.0 - JITTER..=1.0 + JITTER))
    }
}

impl Shared {
    /// Records a result; false if the target has been removed, which ends its loop.
    fn record(&self, target: &Target, slot: &Slot, result: ProbeResult) -> bool {
        let now = SystemTime::now();
        {
            let mut slot = lock(&slot.0);
            if !slot.active {
                return false;
            }
            let spec = &target.spec;
            if let Some(old) = slot.tracker.record(result.ok, spec.fall, spec.rise) {
                let new = slot.tracker.state;
                log_change(target, old, &slot.tracker, &result.reason);
                // Sent under the slot's lock, so that none follows the target's removal. A
                // closed receiver means the agent is shutting down; the log has the change.
                let _ = self.events.send(HealthChange {
                    target: target.clone(),
                    old,
                    new,
                    reason: result.reason.clone(),
                });
            }
            slot.last_result = Some(result);
            slot.last_check = Some(now);
        }
        *lock(&self.last_probe) = Some(now);
        self.results.send_modify(|n| *n = n.wrapping_add(1));
        true
    }
}

/// One line per state change, with the target, the check and its result as fields.
fn log_change(target: &Target, old: HealthState, tracker: &Tracker, reason: &str) {
    let new = tracker.state;
    let summary = match old {
        HealthState::Unknown => format!("health: {target} is {new} (first check)"),
        HealthState::Up => format!(
            "health: {target} went down after {} failed checks in a row",
            tracker.failures
        ),
        HealthState::Down => format!(
            "health: {target} is back up after {} successful checks in a row",
            tracker.successes
        ),
    };
    let address = target.address;
    let check = target.spec.name();
    if new == HealthState::Down {
        tracing::warn!(%address, check, from = %old, to = %new, result = reason, "{summary}: {reason}");
    } else {
        tracing::info!(%address, check, from = %old, to = %new, result = reason, "{summary}: {reason}");
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{spec, ClosedPort, TestServer};
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    /// Far beyond what any of these tests needs, so only a real bug fails them.
    const PATIENCE: Duration = Duration::from_secs(20);

    async fn next_change(events: &mut mpsc::UnboundedReceiver<HealthChange>) -> HealthChange {
        tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("a state change within the deadline")
            .expect("the checker is alive")
    }

    async fn wait_for_requests(server: &TestServer, count: usize) {
        let give_up = deadline();
        while server.requests() < count {
            assert!(
                std::time::Instant::now() < give_up,
                "the server saw no more checks"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn deadline() -> std::time::Instant {
        std::time::Instant::now() + PATIENCE
    }

    /// Intervals short enough for quick tests, timeouts long enough that a loaded machine does
    /// not fail a loopback check.
    const FAST: &str = "interval = \"200ms\"\ntimeout = \"180ms\"";

    fn http_target(port: u16, extra: &str) -> Target {
        Target {
            address: LOOPBACK,
            spec: spec(&format!(
                "protocol = \"http\"\nport = {port}\npath = \"/health\"\n{extra}"
            )),
        }
    }

    #[test]
    fn schedule_stays_in_bounds() {
        let interval = Duration::from_secs(10);
        for _ in 0..1000 {
            assert!(first_delay(interval, true) < QUICK_START);
            assert!(first_delay(Duration::from_millis(300), true) < Duration::from_millis(300));
            assert!(first_delay(interval, false) < interval);
            assert!(next_delay(interval, true) < interval);
            let gap = next_delay(interval, false);
            assert!(
                gap >= Duration::from_secs(9) && gap <= Duration::from_secs(11),
                "{gap:?}"
            );
        }
    }

    #[tokio::test]
    async fn first_results_decide_and_first_round_waits_for_them() {
        let server = TestServer::http().await;
        let closed = ClosedPort::new();
        let up = http_target(server.addr.port(), FAST);
        let down = http_target(closed.port(), FAST);
        let (checker, mut events) = Checker::new();
        assert_eq!(checker.liveness(), None);
        checker.set_targets([up.clone(), down.clone()]);
        assert_eq!(checker.state(&up), Some(HealthState::Unknown));
        assert!(checker.first_round(deadline()).await);
        assert_eq!(checker.state(&up), Some(HealthState::Up));
        assert_eq!(checker.state(&down), Some(HealthState::Down));
        assert!(checker.liveness().unwrap() <= SystemTime::now());

        let mut firsts = [
            next_change(&mut events).await,
            next_change(&mut events).await,
        ];
        firsts.sort_by_key(|c| c.new == HealthState::Down);
        assert_eq!(
            (firsts[0].target == up, firsts[0].old, firsts[0].new),
            (true, HealthState::Unknown, HealthState::Up)
        );
        assert_eq!(firsts[0].reason, "HTTP 200");
        assert_eq!(
            (firsts[1].target == down, firsts[1].old, firsts[1].new),
            (true, HealthState::Unknown, HealthState::Down)
        );
        assert_eq!(firsts[1].reason, "connect refused");

        let snapshot = checker.snapshot();
        assert_eq!(snapshot.len(), 2);
        let down_status = snapshot.iter().find(|s| s.target == down).unwrap();
        assert_eq!(down_status.state, HealthState::Down);
        assert!(down_status.consecutive_failures >= 1);
        assert_eq!(down_status.consecutive_successes, 0);
        assert!(!down_status.last_result.as_ref().unwrap().ok);
        assert!(down_status.last_check.is_some());
    }

    #[tokio::test]
    async fn first_round_gives_up_at_the_deadline() {
        // Never accepts, so the first check can end only in its 20 s timeout.
        let silent = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
        let target = http_target(
            silent.local_addr().unwrap().port(),
            "interval = \"1m\"\ntimeout = \"20s\"",
        );
        let (checker, _events) = Checker::new();
        checker.set_targets([target]);
        let started = std::time::Instant::now();
        let deadline = started + Duration::from_millis(300);
        assert!(!checker.first_round(deadline).await);
        assert!(started.elapsed() >= Duration::from_millis(300));
        // No targets: nothing to wait for.
        checker.set_targets([]);
        assert!(checker.first_round(std::time::Instant::now()).await);
    }

    #[tokio::test]
    async fn fall_and_rise_through_the_checker() {
        let server = TestServer::http().await;
        let target = http_target(
            server.addr.port(),
            "interval = \"200ms\"\ntimeout = \"180ms\"\nfall = 2\nrise = 2",
        );
        let (checker, mut events) = Checker::new();
        checker.set_targets([target.clone()]);
        let change = next_change(&mut events).await;
        assert_eq!(
            (change.old, change.new),
            (HealthState::Unknown, HealthState::Up)
        );

        server.set_status(503);
        let change = next_change(&mut events).await;
        assert_eq!(
            (change.old, change.new),
            (HealthState::Up, HealthState::Down)
        );
        assert_eq!(change.reason, "HTTP 503 (expected 200-399)");
        let status = checker.snapshot().remove(0);
        assert!(status.consecutive_failures >= 2, "{status:?}");

        server.set_status(200);
        let change = next_change(&mut events).await;
        assert_eq!(
            (change.old, change.new),
            (HealthState::Down, HealthState::Up)
        );
        assert_eq!(change.target, target);
        assert!(checker.snapshot()[0].consecutive_successes >= 2);
    }

    #[tokio::test]
    async fn equal_targets_share_one_loop() {
        let server = TestServer::http().await;
        // Built separately, as two pools naming the same check and member would.
        let a = http_target(server.addr.port(), FAST);
        let b = http_target(server.addr.port(), FAST);
        assert!(!Arc::ptr_eq(&a.spec, &b.spec));
        let (checker, mut events) = Checker::new();
        checker.set_targets([a.clone(), b.clone(), a.clone()]);
        assert_eq!(lock(&checker.targets).running.len(), 1);
        assert_eq!(checker.snapshot().len(), 1);
        assert_eq!(next_change(&mut events).await.new, HealthState::Up);
        // A different check on the same address is another target.
        let other = http_target(server.addr.port(), &format!("{FAST}\nexpect = \"200\""));
        checker.set_targets([a, b, other]);
        assert_eq!(checker.snapshot().len(), 2);
    }

    #[tokio::test]
    async fn kept_targets_keep_state_and_removed_ones_stop() {
        let kept_server = TestServer::http().await;
        let removed_server = TestServer::http().await;
        let kept = http_target(kept_server.addr.port(), FAST);
        let removed = http_target(removed_server.addr.port(), FAST);
        let (checker, mut events) = Checker::new();
        checker.set_targets([kept.clone(), removed.clone()]);
        assert!(checker.first_round(deadline()).await);
        for _ in 0..2 {
            assert_eq!(next_change(&mut events).await.old, HealthState::Unknown);
        }
        let removed_slot = Arc::downgrade(&lock(&checker.targets).running[&removed].slot);

        checker.set_targets([kept.clone()]);
        assert_eq!(checker.state(&removed), None);
        assert_eq!(checker.state(&kept), Some(HealthState::Up));
        // The loop's task is gone once it has dropped its share of the slot.
        let give_up = std::time::Instant::now() + PATIENCE;
        while removed_slot.upgrade().is_some() {
            assert!(
                std::time::Instant::now() < give_up,
                "the removed loop still runs"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Several intervals: the kept target is checked on, the removed one is not. The count
        // is taken after two of them, when a request sent just before the removal has been
        // answered.
        wait_for_requests(&kept_server, kept_server.requests() + 2).await;
        let requests = removed_server.requests();
        wait_for_requests(&kept_server, kept_server.requests() + 4).await;
        assert_eq!(removed_server.requests(), requests);
        // The kept target neither restarted nor changed state.
        assert!(events.try_recv().is_err());
    }

    #[tokio::test]
    async fn dropping_the_checker_stops_the_loops() {
        let server = TestServer::http().await;
        let target = http_target(server.addr.port(), FAST);
        let (checker, _events) = Checker::new();
        checker.set_targets([target.clone()]);
        assert!(checker.first_round(deadline()).await);
        let slot = Arc::downgrade(&lock(&checker.targets).running[&target].slot);
        drop(checker);
        let give_up = std::time::Instant::now() + PATIENCE;
        while slot.upgrade().is_some() {
            assert!(
                std::time::Instant::now() < give_up,
                "the loop outlived its checker"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
