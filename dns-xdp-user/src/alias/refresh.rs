//! Keeps the upstream answers of ALIAS targets fresh: each target is resolved again when its
//! TTL runs out; a failure keeps the last good answer and is retried with backoff.
//!
//! The refresher only resolves and remembers; the agent asks it when the next target is due
//! ([`Refresher::next_due`]), starts the due lookups ([`Refresher::start_due`]), and publishes
//! when [`Refresher::finish`] says an answer changed.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use hickory_proto::rr::{Name, RecordType};
use tokio::task::JoinSet;

use super::{
    upstream::{Answer, Upstreams},
    Flattened,
};

/// Upstream TTLs are clamped to this range before they decide when to refresh and what TTL to
/// serve: a TTL of 0 or 1 s would have us ask continuously, one of a week would keep an answer
/// that long after the upstream changed it.
pub const MIN_TTL: u32 = 30;
pub const MAX_TTL: u32 = 86_400;
/// Retry delays after a failed lookup: doubling from the first to the last.
pub const FIRST_RETRY: Duration = Duration::from_secs(2);
pub const MAX_RETRY: Duration = Duration::from_secs(300);

/// The outcome of one target's lookup: its addresses and in how many seconds to look again.
pub type Lookup = (Name, Result<(Flattened, u32), String>);

struct Target {
    due: Instant,
    retry: Duration,
    in_flight: bool,
}

pub struct Refresher {
    upstreams: Upstreams,
    targets: HashMap<Name, Target>,
    /// The last good answer of each target; a target without one serves no addresses.
    answers: HashMap<Name, Flattened>,
    lookups: JoinSet<Lookup>,
}

impl Refresher {
    pub fn new(upstreams: Upstreams) -> Self {
        Self {
            upstreams,
            targets: HashMap::new(),
            answers: HashMap::new(),
            lookups: JoinSet::new(),
        }
    }

    /// Resolves these targets from now on, through `upstreams`, all of them right away (a
    /// reload is a request to look again); their last good answers are kept, those of targets
    /// no longer wanted forgotten.
    pub fn set_targets(&mut self, upstreams: Upstreams, targets: impl IntoIterator<Item = Name>) {
        let now = Instant::now();
        self.upstreams = upstreams;
        let mut wanted = HashMap::new();
        for target in targets {
            let in_flight = self.targets.get(&target).is_some_and(|t| t.in_flight);
            wanted.insert(
                target,
                Target {
                    due: now,
                    retry: FIRST_RETRY,
                    in_flight,
                },
            );
        }
        self.answers.retain(|name, _| wanted.contains_key(name));
        self.targets = wanted;
    }

    /// The last good answers, by target.
    pub fn answers(&self) -> &HashMap<Name, Flattened> {
        &self.answers
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// When the next target not being looked up is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.targets
            .values()
            .filter(|t| !t.in_flight)
            .map(|t| t.due)
            .min()
    }

    /// Starts a lookup of every target that is due.
    pub fn start_due(&mut self) {
        let now = Instant::now();
        for (name, target) in &mut self.targets {
            if target.in_flight || target.due > now {
                continue;
            }
            target.in_flight = true;
            let upstreams = self.upstreams.clone();
            let name = name.clone();
            self.lookups.spawn(async move {
                let result = lookup(&upstreams, &name).await;
                (name, result)
            });
        }
    }

    /// The next finished lookup; pending forever while none is running.
    pub async fn next_finished(&mut self) -> Lookup {
        loop {
            match self.lookups.join_next().await {
                Some(Ok(lookup)) => return lookup,
                Some(Err(e)) => log::error!("an ALIAS lookup task failed: {e}"),
                None => std::future::pending::<()>().await,
            }
        }
    }

    /// Takes in a finished lookup and schedules the target's next one. True if the target's
    /// addresses changed, so the zones must be published again; a changed TTL alone does not
    /// count (a caching upstream counts its TTLs down), it is taken with the next change.
    pub fn finish(&mut self, (name, result): Lookup) -> bool {
        let Some(target) = self.targets.get_mut(&name) else {
            return false; // No longer wanted (a reload removed its alias).
        };
        target.in_flight = false;
        match result {
            Ok((flattened, refresh)) => {
                let refresh = Duration::from_secs(refresh.into());
                target.due = Instant::now() + refresh;
                target.retry = FIRST_RETRY;
                let changed = match self.answers.get(&name) {
                    Some(old) => !old.same_addresses(&flattened),
                    None => true,
                };
                if changed {
                    log::info!(
                        "ALIAS target {name}: {}; next refresh in {}s",
                        flattened.describe(),
                        refresh.as_secs()
                    );
                    self.answers.insert(name, flattened);
                } else {
                    log::debug!("ALIAS target {name}: unchanged; next refresh in {refresh:?}");
                }
                changed
            }
            Err(e) => {
                let retry = target.retry;
                target.due = Instant::now() + retry;
                target.retry = (retry * 2).min(MAX_RETRY);
                match self.answers.get(&name) {
                    Some(last) => log::warn!(
                        "ALIAS target {name}: resolving it failed ({e}); keeping the last good \
                         answer ({}), retrying in {}s",
                        last.describe(),
                        retry.as_secs()
                    ),
                    None => log::error!(
                        "ALIAS target {name}: resolving it failed ({e}) and there is no answer \
                         yet, so its aliases answer NODATA for A and AAAA; retrying in {}s; \
                         check [server] upstream ({})",
                        retry.as_secs(),
                        self.upstreams
                            .servers()
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
                false
            }
        }
    }

    /// Starts every due lookup and takes in those that finish within `limit` (the agent's
    /// first resolution, before it serves). Lookups still running then finish later.
    pub async fn resolve_for(&mut self, limit: Duration) {
        self.start_due();
        let deadline = tokio::time::Instant::now() + limit;
        while self.targets.values().any(|t| t.in_flight) {
            match tokio::time::timeout_at(deadline, self.next_finished()).await {
                Ok(lookup) => {
                    self.finish(lookup);
                }
                Err(_) => break,
            }
        }
        for (name, target) in &self.targets {
            if target.in_flight {
                log::error!(
                    "ALIAS target {name}: no answer from [server] upstream within {limit:?}; \
                     its aliases answer NODATA for A and AAAA until one comes"
                );
            }
        }
    }
}

/// Resolves A and AAAA of `name` at the same time; both must succeed. The next lookup is due
/// when the first of the two answers, positive or negative, expires.
async fn lookup(upstreams: &Upstreams, name: &Name) -> Result<(Flattened, u32), String> {
    let (a, aaaa) = tokio::join!(
        upstreams.resolve(name, RecordType::A),
        upstreams.resolve(name, RecordType::AAAA)
    );
    let (a, aaaa) = (a?, aaaa?);
    let refresh = a.ttl().min(aaaa.ttl()).clamp(MIN_TTL, MAX_TTL);
    Ok((flattened(a, aaaa), refresh))
}

/// The answers as served: their TTLs clamped to [`MIN_TTL`, `MAX_TTL`].
pub fn flattened(a: Answer, aaaa: Answer) -> Flattened {
    let take = |answer: Answer| match answer {
        Answer::Found(mut addresses) => {
            addresses.ttl = addresses.ttl.clamp(MIN_TTL, MAX_TTL);
            Some(addresses)
        }
        Answer::None { .. } => None,
    };
    Flattened {
        a: take(a),
        aaaa: take(aaaa),
    }
}
