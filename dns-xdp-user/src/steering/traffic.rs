//! Traffic steering while the agent serves: the pools' answers, computed by the policy engine
//! from their members' health, once for both paths — as the fallback's table ([`Steered`]) and
//! as each view's variants for the fast path's entries ([`PoolAnswer::variants_by_view`]).

use std::{collections::HashMap, net::IpAddr, sync::Arc};

use dns_xdp_common::views::ViewPrefix;
use hickory_proto::rr::{
    rdata::{A, AAAA},
    RData, RecordType,
};

use crate::{
    config::TrafficConfig,
    health::{HealthState, Target},
    steering::{
        self,
        steered::{Entry, Steered},
        GeoDatabase, GeoError, Health, PoolAnswer, ViewAnswer, Views,
    },
    zone::RrSet,
};

pub struct Traffic {
    config: TrafficConfig,
    views: Arc<Views>,
    /// `views` as the kernel's trie holds them: computed once (a country database gives
    /// hundreds of thousands), shared by every publication of this config.
    prefixes: Arc<[ViewPrefix]>,
    /// The pools' answers as last computed, in pool order.
    answers: Vec<PoolAnswer>,
}

impl Traffic {
    /// Opens the geo database (if any) and builds the client views. Blocking: a country
    /// database has hundreds of thousands of networks.
    pub fn load(config: TrafficConfig) -> Result<Self, GeoError> {
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
        };
        traffic.recompute(|_| None);
        Ok(traffic)
    }

    /// The checks, regions and pools these answers are computed from.
    pub fn config(&self) -> &TrafficConfig {
        &self.config
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

    /// The pools' answers as last computed, in pool order.
    pub fn answers(&self) -> &[PoolAnswer] {
        &self.answers
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
}

fn rdata(addr: IpAddr, rtype: RecordType) -> Option<RData> {
    match (addr, rtype) {
        (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(v4))),
        (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(v6))),
        _ => None,
    }
}
