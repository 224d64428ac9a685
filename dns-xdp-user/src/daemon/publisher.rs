//! The one way answers go into service, on both paths: [`Publisher::full`] for a snapshot (a
//! start, a reload, a changed ALIAS answer, renewed signatures) and [`Publisher::delta`] for
//! what changed in place (the pools, on a health change).
//!
//! Its rules:
//! - The fast path goes first, then the fallback. A full publication that the fast path refuses
//!   changes nothing on either path. Once the fast path has flipped to the new generation the
//!   publication stands, and the fallback swaps to it at once: whatever could not be cleaned up
//!   after the flip is reported and removed later, never a reason for the paths to differ.
//! - [`Publisher`] keeps a record of what the kernel's live generation holds, entry by entry:
//!   the set it was given whole, then each change it took, and only those. A change in place
//!   is the difference between that record and what is wanted, so after one that failed part
//!   way the next attempt ([`Publisher::repair`]) writes exactly what the kernel still lacks.
//! - A change in place that fails part way leaves the fallback serving the new answers; the
//!   report names the answers the fast path still serves from before, and the agent repairs it.

use std::sync::Arc;

use dns_xdp_common::views::ViewPrefix;
use hickory_proto::rr::{Name, RecordType};

use crate::{
    catalog::Snapshot,
    fallback::{responder::Responder, server::SharedResponder},
    fastpath::{
        answers::{AnswerSet, Change},
        dataplane::{DataplaneError, Updated},
        FastPath,
    },
    render::{Rendered, Skipped},
    steering::traffic::Traffic,
};

/// Everything a full publication puts in service, rendered once for both paths.
pub struct Publication {
    snapshot: Arc<Snapshot>,
    rendered: Arc<Rendered>,
    /// The fast path's: the zones' and the pools' entries.
    answers: AnswerSet,
    /// The fallback's pool table.
    steered: Arc<crate::steering::steered::Steered>,
    prefixes: Arc<[ViewPrefix]>,
    edns_payload: u16,
    /// What the fast path leaves to the fallback.
    pub skipped: Vec<Skipped>,
}

impl Publication {
    /// Renders `snapshot` with `traffic`'s pools as last computed.
    pub fn render(snapshot: Snapshot, traffic: &Traffic, edns_payload: u16) -> Self {
        let rendered = Rendered::of(&snapshot);
        let (mut answers, mut skipped) = AnswerSet::from_rendered(&rendered);
        skipped.extend_from_slice(rendered.skipped());
        let (pools, pools_skipped) = pool_entries(traffic, &snapshot);
        skipped.extend(pools_skipped);
        answers = answers.with_pools_of(&pools);
        Self {
            snapshot: Arc::new(snapshot),
            rendered: Arc::new(rendered),
            answers,
            steered: Arc::new(traffic.steered()),
            prefixes: traffic.view_prefixes(),
            edns_payload,
            skipped,
        }
    }

    /// The fallback's responder for this publication.
    pub fn responder(&self) -> Responder {
        Responder::new(
            self.snapshot.clone(),
            self.rendered.clone(),
            self.steered.clone(),
            self.edns_payload,
        )
    }

    /// Fast-path entries.
    pub fn answers(&self) -> usize {
        self.answers.len()
    }
}

/// What changed since the last publication, for [`Publisher::delta`].
pub enum Delta<'a> {
    /// The pools' answers were recomputed (a health change): their entries change in place,
    /// the zones stay.
    Pools(&'a Traffic),
}

/// Why a full publication changed nothing.
#[derive(Debug, thiserror::Error)]
#[error(
    "publishing {count} answers to the fast path failed: {source}{hint}; nothing changed, both \
     paths still serve {serving}"
)]
pub struct Refused {
    count: usize,
    #[source]
    source: Box<DataplaneError>,
    hint: &'static str,
    serving: String,
}

/// What a full publication did.
#[derive(Debug)]
pub struct Full {
    /// The generation both paths serve; 0 with XDP off.
    pub generation: u32,
    pub answers: usize,
    /// Why the previous generation could not all be removed after the flip (it is retried).
    pub leftovers: Option<DataplaneError>,
}

/// What a change in place did to the fast path.
#[derive(Debug)]
pub enum FastPathUpdate {
    /// XDP is off.
    Off,
    Done(Updated),
    /// The fast path took the first `done` of `total` changes; it still serves the previous
    /// answers of `stale` until [`Publisher::repair`] succeeds.
    Partial {
        done: usize,
        total: usize,
        stale: Vec<(Name, RecordType)>,
        error: DataplaneError,
    },
}

pub struct Publisher<F: FastPath> {
    fast_path: Option<F>,
    responder: SharedResponder,
    /// What the kernel's live generation holds (see the module documentation).
    kernel: AnswerSet,
    /// The pools' entries both paths should serve.
    wanted_pools: AnswerSet,
    /// The snapshot in service: its signers sign the pools' entries.
    snapshot: Arc<Snapshot>,
    /// When the rendered zones' signatures are due for renewal.
    zones_renew_at: Option<u64>,
    /// The kernel lacks some of `wanted_pools`.
    pools_behind: bool,
    /// The kernel holds entries of a generation that is no longer live.
    leftovers: bool,
}

impl<F: FastPath> Publisher<F> {
    /// A publisher for `fast_path` (None: XDP is off) and the fallback's `responder`, before
    /// its first publication.
    pub fn new(fast_path: Option<F>, responder: SharedResponder) -> Self {
        Self {
            fast_path,
            responder,
            kernel: AnswerSet::default(),
            wanted_pools: AnswerSet::default(),
            snapshot: Arc::default(),
            zones_renew_at: None,
            pools_behind: false,
            leftovers: false,
        }
    }

    pub fn fast_path(&self) -> Option<&F> {
        self.fast_path.as_ref()
    }

    pub fn fast_path_mut(&mut self) -> Option<&mut F> {
        self.fast_path.as_mut()
    }

    /// The live generation, 0 with XDP off or before the first publication.
    pub fn generation(&self) -> u32 {
        self.fast_path.as_ref().map_or(0, F::generation)
    }

    /// The snapshot being served.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// What the agent believes the kernel's live generation holds.
    pub fn kernel(&self) -> &AnswerSet {
        &self.kernel
    }

    /// Unix seconds when the first of the signatures in service is due for renewal.
    pub fn renew_at(&self) -> Option<u64> {
        crate::render::signatures::earliest(self.zones_renew_at, self.wanted_pools.renew_at())
    }

    /// Whether the kernel does not yet hold all that was published: [`Publisher::repair`] is
    /// due.
    pub fn needs_repair(&self) -> bool {
        self.pools_behind || self.leftovers
    }

    /// What is being served, for the log.
    pub fn serving(&self) -> String {
        match &self.fast_path {
            Some(fast_path) => format!("fast-path generation {}", fast_path.generation()),
            None => "XDP off".to_string(),
        }
    }

    /// Puts `publication` in service: the fast path as a new generation, flipped at once, then
    /// the fallback in one pointer store. If the fast path refuses it, neither path changes.
    pub fn full(&mut self, publication: Publication) -> Result<Full, Refused> {
        let mut full = Full {
            generation: 0,
            answers: publication.answers.len(),
            leftovers: None,
        };
        if let Some(fast_path) = &mut self.fast_path {
            fast_path.set_edns_payload(publication.edns_payload);
            match fast_path.publish(&publication.answers, &publication.prefixes) {
                Ok(published) => {
                    full.generation = published.generation;
                    full.leftovers = published.leftovers;
                }
                Err(source) => {
                    let hint = match source {
                        DataplaneError::Capacity { .. } => {
                            "; the answer map is sized when the agent starts, so restart it to \
                             serve this many answers"
                        }
                        _ => "",
                    };
                    return Err(Refused {
                        count: publication.answers.len(),
                        source: Box::new(source),
                        hint,
                        serving: self.serving(),
                    });
                }
            }
        }
        self.responder.replace(publication.responder());
        self.leftovers = full.leftovers.is_some();
        self.pools_behind = false;
        self.zones_renew_at = publication.rendered.renew_at();
        self.wanted_pools = AnswerSet::default().with_pools_of(&publication.answers);
        self.snapshot = publication.snapshot;
        self.kernel = publication.answers;
        Ok(full)
    }

    /// Puts what `delta` says changed in service: the fast path's entries in place, then the
    /// fallback.
    pub fn delta(&mut self, delta: Delta<'_>) -> FastPathUpdate {
        let Delta::Pools(traffic) = delta;
        let (pools, skipped) = pool_entries(traffic, &self.snapshot);
        for skip in &skipped {
            log::info!("{skip}");
        }
        self.wanted_pools = pools;
        self.pools_behind = true;
        let update = self.sync_pools();
        let current = self.responder.current();
        self.responder
            .replace(current.with_steered(Arc::new(traffic.steered())));
        update
    }

    /// Brings the kernel to what was published: the pools' entries it still lacks, and the
    /// removal of what a publication left behind. Returns the update of the pools, if they
    /// were behind, and the leftovers' error, if they are still there.
    pub fn repair(&mut self) -> (Option<FastPathUpdate>, Option<DataplaneError>) {
        let pools = self.pools_behind.then(|| self.sync_pools());
        let mut leftovers = None;
        if self.leftovers {
            if let Some(fast_path) = &mut self.fast_path {
                match fast_path.remove_stale() {
                    Ok(_) => self.leftovers = false,
                    Err(e) => leftovers = Some(e),
                }
            }
        }
        (pools, leftovers)
    }

    /// Writes the difference between the kernel's pools and the wanted ones, recording each
    /// change the kernel took.
    fn sync_pools(&mut self) -> FastPathUpdate {
        let Some(fast_path) = &mut self.fast_path else {
            self.pools_behind = false;
            return FastPathUpdate::Off;
        };
        let changes = self.kernel.pool_changes_to(&self.wanted_pools);
        let applied = fast_path.apply(&changes);
        self.kernel.apply_to_pools(&changes.list[..applied.done]);
        match applied.error {
            None => {
                self.pools_behind = false;
                FastPathUpdate::Done(applied.updated)
            }
            Some(error) => {
                let mut stale: Vec<(Name, RecordType)> = changes.list[applied.done..]
                    .iter()
                    .filter_map(|change| self.name_of(change))
                    .collect();
                stale.sort();
                stale.dedup();
                FastPathUpdate::Partial {
                    done: applied.done,
                    total: changes.list.len(),
                    stale,
                    error,
                }
            }
        }
    }

    /// The pool name and type a change is about.
    fn name_of(&self, change: &Change<'_>) -> Option<(Name, RecordType)> {
        let key = change.key();
        let answer = match change {
            Change::Write(answer) => Some(*answer),
            Change::Delete(_) => self.kernel.get(&key),
        }?;
        Some((
            crate::fastpath::answers::wire_to_name(&answer.name),
            RecordType::from(key.qtype),
        ))
    }
}

/// The pools' fast-path entries, each signed by its zone's signer in `snapshot`, and the pools
/// left to the fallback.
fn pool_entries(traffic: &Traffic, snapshot: &Snapshot) -> (AnswerSet, Vec<Skipped>) {
    let mut set = AnswerSet::default();
    let mut skipped = Vec::new();
    for answer in traffic.answers() {
        let signer = snapshot
            .find(&answer.name)
            .and_then(|served| served.signer.as_deref());
        let added = set.add_steered(
            &answer.name,
            answer.rtype,
            answer.ttl,
            answer.per_view,
            &answer.variants_by_view(),
            signer,
        );
        if let Err(skip) = added {
            skipped.push(skip);
        }
    }
    (set, skipped)
}

#[cfg(test)]
mod tests;
