//! Traffic steering while the agent serves: the pools' answers, computed by the policy engine
//! from their members' health, in the two forms the two paths serve — map entries for the fast
//! path and RRsets for the fallback — from one computation, so both answer alike.

use std::{collections::HashMap, net::IpAddr, sync::Arc};

use hickory_proto::rr::{
    rdata::{A, AAAA},
    Name, RData, RecordType,
};

use crate::{
    config::TrafficConfig,
    dnssec::Signer,
    fallback::server::SharedResponder,
    fastpath::{
        answers::{AnswerSet, Skipped},
        dataplane::{Dataplane, DataplaneError, Updated, ViewPrefix},
    },
    health::{HealthState, Target},
    steering::{
        self,
        steered::{Entry, Steered},
        GeoDatabase, GeoError, Health, PoolAnswer, ViewAnswer, Views,
    },
    zone::{RrSet, Zone},
};

#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("geo database: {0}")]
    Geo(#[from] GeoError),
    #[error(
        "[[pool]] \"{name}\" {rtype}: {problem}; a pool's name and type must be the pool's alone"
    )]
    Conflict {
        name: Name,
        rtype: RecordType,
        problem: String,
    },
}

/// What [`Traffic::republish`] did.
pub struct Republished {
    /// One line per changed answer, for the log.
    pub lines: Vec<String>,
    /// The fast path's in-place update; None with XDP off.
    pub fast_path: Option<Result<Updated, DataplaneError>>,
}

pub struct Traffic {
    config: TrafficConfig,
    views: Arc<Views>,
    /// `views` as the kernel's trie holds them: computed once (a country database gives
    /// hundreds of thousands), shared by every publication of this config.
    prefixes: Arc<[ViewPrefix]>,
    /// The pools' answers as last computed, in pool order.
    answers: Vec<PoolAnswer>,
    /// The signer of each pool in a signed zone, by the pool's lowercase name: the zone's
    /// own, so the fast path's RRSIGs come from the cache the fallback signs from.
    signers: HashMap<Name, Arc<Signer>>,
}

impl Traffic {
    /// Opens the geo database (if any) and builds the client views. Blocking: a country
    /// database has hundreds of thousands of networks.
    pub fn load(config: TrafficConfig) -> Result<Self, TrafficError> {
        let database = config
            .steering
            .database
            .as_deref()
            .map(GeoDatabase::open)
            .transpose()?;
        let views = Views::build(&config.steering.regions, database.as_ref())?;
        let prefixes = views
            .prefixes()
            .into_iter()
            .map(|p| ViewPrefix {
                addr: p.prefix.addr(),
                prefix_len: p.prefix.prefix_len(),
                view: p.view,
            })
            .collect();
        let mut traffic = Self {
            config,
            views: Arc::new(views),
            prefixes,
            answers: Vec::new(),
            signers: HashMap::new(),
        };
        traffic.recompute(|_| None);
        Ok(traffic)
    }

    pub fn pools(&self) -> usize {
        self.config.steering.pools.len()
    }

    /// The client views as the kernel's trie holds them.
    pub fn view_prefixes(&self) -> Arc<[ViewPrefix]> {
        self.prefixes.clone()
    }

    /// The distinct (member, check) pairs to check.
    pub fn targets(&self) -> Vec<Target> {
        self.config
            .steering
            .health_targets()
            .into_iter()
            .map(|(address, check)| Target {
                address,
                spec: self.config.checks[&check].clone(),
            })
            .collect()
    }

    /// Refuses pools whose name already has data the pool would hide or contradict: records of
    /// its type, a CNAME, or a delegation above it.
    pub fn check_zones(&self, zones: &[Zone]) -> Result<(), TrafficError> {
        for pool in &self.config.steering.pools {
            let conflict = |problem: String| TrafficError::Conflict {
                name: pool.name.clone(),
                rtype: pool.rtype,
                problem,
            };
            let Some(zone) = most_specific(zones, &pool.name) else {
                return Err(conflict("no zone we serve contains it".into()));
            };
            if let Some(cut) = zone.delegation(&pool.name) {
                return Err(conflict(format!(
                    "it is at or below the delegation {} in zone {}",
                    cut.name,
                    zone.origin()
                )));
            }
            if zone.rrset(&pool.name, pool.rtype).is_some() {
                return Err(conflict(format!(
                    "zone {} already has {} records there; remove them from the zone file or \
                     remove the pool",
                    zone.origin(),
                    pool.rtype
                )));
            }
            if zone.rrset(&pool.name, RecordType::CNAME).is_some() {
                return Err(conflict(format!(
                    "zone {} has a CNAME there, and a CNAME owner can have no other data \
                     (RFC 1034 §3.6.2)",
                    zone.origin()
                )));
            }
        }
        Ok(())
    }

    /// Signs the pools of the signed `zones` (the zones served, their signers set) in the fast
    /// path with their zone's signer.
    pub fn sign_with(&mut self, zones: &[Zone]) {
        self.signers = self
            .config
            .steering
            .pools
            .iter()
            .filter_map(|pool| {
                let signer = most_specific(zones, &pool.name)?.signer()?;
                Some((pool.name.to_lowercase(), Arc::clone(signer)))
            })
            .collect();
    }

    /// Gives each pool's name an RRset of its type in its zone, so the name exists for the
    /// fallback's NXDOMAIN/NODATA logic and answers ANY and additional-section lookups; every
    /// member's address, as with `all_down = "serve_all"`. The fallback answers the pool's own
    /// type from [`Traffic::steered`] instead. Call after rendering the zones' fast-path
    /// answers, which must not include these.
    pub fn insert_placeholders(&self, zones: &mut [Zone]) {
        for pool in &self.config.steering.pools {
            let Some(at) = most_specific_index(zones, &pool.name) else {
                continue; // check_zones refused it.
            };
            let rdata = pool
                .members
                .iter()
                .filter_map(|m| rdata(m.address, pool.rtype))
                .collect();
            zones[at].insert_rrset(RrSet {
                name: pool.name.clone(),
                rtype: pool.rtype,
                ttl: pool.ttl,
                rdata,
            });
        }
    }

    /// Computes every pool's answer from `health` (None: not checked yet, counted as up), and
    /// returns a line per changed answer, for the log.
    pub fn recompute(&mut self, health: impl Fn(&Target) -> Option<HealthState>) -> Vec<String> {
        let checks = &self.config.checks;
        let answers = steering::answers(
            &self.config.steering.pools,
            &self.config.steering.regions,
            |address, check| {
                let target = Target {
                    address,
                    spec: checks[check].clone(),
                };
                match health(&target) {
                    Some(HealthState::Up) => Health::Up,
                    Some(HealthState::Down) => Health::Down,
                    Some(HealthState::Unknown) | None => Health::Unknown,
                }
            },
        );
        let mut changes = Vec::new();
        if !self.answers.is_empty() {
            for (new, old) in answers.iter().zip(&self.answers) {
                changes.extend(new.changes_from(old, &self.config.steering.regions));
            }
        }
        self.answers = answers;
        changes
    }

    /// Recomputes every pool with `health` and puts the answers that changed in service: in
    /// place in the fast path, entry by entry (`live`, the pools' entries it holds, becomes the
    /// new ones), and as a new pool table in the fallback; the zones are not touched. None when
    /// no answer changed.
    pub fn republish(
        &mut self,
        health: impl Fn(&Target) -> Option<HealthState>,
        dataplane: Option<&mut Dataplane>,
        responder: &SharedResponder,
        live: &mut AnswerSet,
    ) -> Option<Republished> {
        let lines = self.recompute(health);
        if lines.is_empty() {
            return None;
        }
        let (answers, _) = self.fast_path();
        let fast_path = dataplane.map(|dataplane| dataplane.update_answers(live, &answers));
        let current = responder.current();
        responder.replace(current.with_steered(Arc::new(self.steered())));
        *live = answers;
        Some(Republished { lines, fast_path })
    }

    /// The pools' answers as the fallback serves them.
    pub fn steered(&self) -> Steered {
        let entries = self
            .answers
            .iter()
            .map(|answer| {
                let views = answer
                    .views
                    .iter()
                    .map(|view| match view {
                        ViewAnswer::NoData => None,
                        ViewAnswer::Variants(variants) => Some(
                            variants
                                .iter()
                                .map(|addrs| RrSet {
                                    name: answer.name.clone(),
                                    rtype: answer.rtype,
                                    ttl: answer.ttl,
                                    rdata: addrs
                                        .iter()
                                        .filter_map(|&a| rdata(a, answer.rtype))
                                        .collect(),
                                })
                                .collect(),
                        ),
                    })
                    .collect();
                let entry = Entry {
                    per_view: answer.per_view,
                    views,
                };
                ((answer.name.clone(), answer.rtype), entry)
            })
            .collect::<HashMap<_, _>>();
        Steered::new(self.views.clone(), entries)
    }

    /// The pools' answers as fast-path map entries, and the pools left to the fallback.
    pub fn fast_path(&self) -> (AnswerSet, Vec<Skipped>) {
        let mut set = AnswerSet::default();
        let skipped = self.fast_path_into(&mut set);
        (set, skipped)
    }

    /// Adds the pools' entries to `set` (a zone's RRset of a pool's name and type would give
    /// way); returns the pools left to the fallback.
    pub fn fast_path_into(&self, set: &mut AnswerSet) -> Vec<Skipped> {
        let mut skipped = Vec::new();
        for answer in &self.answers {
            let views: Vec<Option<Vec<Vec<IpAddr>>>> = answer
                .views
                .iter()
                .map(|view| match view {
                    ViewAnswer::NoData => None,
                    ViewAnswer::Variants(variants) => Some(variants.clone()),
                })
                .collect();
            let added = match self.signers.get(&answer.name) {
                Some(signer) => set.add_signed_steered(
                    &answer.name,
                    answer.rtype,
                    answer.ttl,
                    answer.per_view,
                    &views,
                    signer,
                ),
                None => set.add_steered(
                    &answer.name,
                    answer.rtype,
                    answer.ttl,
                    answer.per_view,
                    &views,
                ),
            };
            if let Err(skip) = added {
                skipped.push(skip);
            }
        }
        skipped
    }
}

fn rdata(addr: IpAddr, rtype: RecordType) -> Option<RData> {
    match (addr, rtype) {
        (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(v4))),
        (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(v6))),
        _ => None,
    }
}

fn most_specific_index(zones: &[Zone], name: &Name) -> Option<usize> {
    zones
        .iter()
        .enumerate()
        .filter(|(_, zone)| zone.contains(name))
        .max_by_key(|(_, zone)| zone.origin().num_labels())
        .map(|(at, _)| at)
}

fn most_specific<'z>(zones: &'z [Zone], name: &Name) -> Option<&'z Zone> {
    most_specific_index(zones, name).map(|at| &zones[at])
}
