//! The agent's state as `dns-xdp status` shows it ([`crate::status::Report`]), made by the
//! event loop from what it holds at the moment it is asked: the snapshot and generation in
//! service, the pools' answers, the checker's results, the fallback's counters.

use std::{
    collections::HashMap,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Instant, SystemTime},
};

use hickory_proto::rr::RData;

use crate::{
    config::steering::Policy,
    fallback::query_stats::QueryStats,
    health::{HealthState, TargetStatus},
    status::{
        self,
        share::{Reading, Samples},
        AttachMode, Report,
    },
    steering::ViewAnswer,
};

use super::Running;

/// What a report needs that the rest of the agent does not keep.
pub struct Sources {
    pub started: SystemTime,
    /// None with XDP off.
    pub attached: Option<AttachMode>,
    pub pin_dir: PathBuf,
    /// The fallback's addresses, as bound.
    pub listening: Vec<String>,
    pub query_stats: Arc<QueryStats>,
    pub samples: Arc<Samples>,
}

/// `path` from the root, as the agent (whose working directory it is relative to) sees it.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn unix(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Running {
    pub(super) fn report(&self) -> Report {
        let now = crate::dnssec::unix_now();
        let sources = &self.status;
        let fast_path = sources.attached.map(|mode| status::FastPath {
            interface: self.server.interface.clone().unwrap_or_default(),
            mode,
            generation: self.publisher.generation(),
            pin_dir: sources.pin_dir.clone(),
            behind: self.publisher.needs_repair(),
        });
        let stats = &sources.query_stats;
        let current = Reading::take(fast_path.as_ref().map(|f| f.pin_dir.as_path()), stats);
        Report {
            version: status::FORMAT_VERSION,
            now,
            agent: status::Agent {
                pid: std::process::id(),
                started: unix(sources.started),
                config: absolute(&self.config_path),
            },
            fast_path,
            fallback: status::Fallback {
                listen: sources.listening.clone(),
                restarts: current.restarts,
                panics: current.panics,
            },
            last_minute: sources.samples.window(Instant::now(), current),
            zones: self.zones(),
            signatures: self.signatures(now),
            pools: self.pools(),
            checker: self.checker_status(),
        }
    }

    fn zones(&self) -> Vec<status::Zone> {
        let files: HashMap<String, PathBuf> = self
            .loaded
            .config
            .zone_sources(&self.config_path)
            .into_iter()
            .map(|source| (source.origin.to_string(), absolute(&source.file)))
            .collect();
        self.publisher
            .snapshot()
            .zones()
            .iter()
            .map(|served| {
                let origin = served.zone.origin().to_string();
                let serial = match served.zone.soa().rdata.first() {
                    Some(RData::SOA(soa)) => soa.serial,
                    _ => 0,
                };
                let signing = served.signer.as_ref().map(|signer| status::Signing {
                    algorithm: signer
                        .keys()
                        .first()
                        .map_or("", |key| key.algorithm().mnemonic())
                        .to_string(),
                    keys: signer
                        .keys()
                        .iter()
                        .map(|key| status::Key {
                            tag: key.tag(),
                            role: key.role().to_string(),
                            state: key.state().to_string(),
                        })
                        .collect(),
                    validity_seconds: signer.config().validity.as_secs(),
                    refresh_seconds: signer.config().refresh.as_secs(),
                });
                status::Zone {
                    source: status::Source::File {
                        path: files.get(&origin).cloned().unwrap_or_default(),
                    },
                    origin,
                    serial,
                    signing,
                }
            })
            .collect()
    }

    fn signatures(&self, now: u64) -> Option<status::Signatures> {
        let renew_at = self.publisher.renew_at()?;
        let shortest_refresh = self
            .publisher
            .snapshot()
            .zones()
            .iter()
            .filter_map(|served| served.signer.as_ref())
            .map(|signer| signer.config().refresh.as_secs())
            .min()
            .unwrap_or(0);
        Some(status::Signatures {
            renew_at,
            valid_until_at_least: renew_at + shortest_refresh,
            retry_at: self
                .renew_retry
                .map(|at| now + at.saturating_duration_since(Instant::now()).as_secs()),
        })
    }

    fn pools(&self) -> Vec<status::Pool> {
        let health: HashMap<(IpAddr, String), TargetStatus> = self
            .checker
            .snapshot()
            .into_iter()
            .map(|s| ((s.target.address, s.target.spec.name().to_string()), s))
            .collect();
        let config = self.traffic.config();
        let regions = &config.steering.regions;
        let region_name = |view: u8| {
            view.checked_sub(1)
                .and_then(|i| regions.get(usize::from(i)))
                .map(|region| region.name.clone())
        };
        config
            .steering
            .pools
            .iter()
            .zip(self.traffic.answers())
            .map(|(pool, answer)| {
                let members = pool
                    .members
                    .iter()
                    .map(|member| {
                        let checked = member
                            .check
                            .as_ref()
                            .and_then(|check| health.get(&(member.address, check.clone())));
                        let result = checked.and_then(|s| s.last_result.as_ref());
                        status::Member {
                            address: member.address,
                            weight: member.weight,
                            region: member.region.and_then(region_name),
                            check: member.check.clone(),
                            health: match (&member.check, checked.map(|s| s.state)) {
                                (None, _) => status::Health::Unmonitored,
                                (Some(_), Some(HealthState::Up)) => status::Health::Up,
                                (Some(_), Some(HealthState::Down)) => status::Health::Down,
                                (Some(_), _) => status::Health::Unchecked,
                            },
                            port: checked.map(|s| s.target.spec.port()),
                            reason: result.map(|r| r.reason.clone()),
                            last_check: checked.and_then(|s| s.last_check).map(unix),
                            latency_ms: result.map(|r| r.latency.as_secs_f64() * 1e3),
                        }
                    })
                    .collect();
                let answers = answer
                    .views
                    .iter()
                    .enumerate()
                    .map(|(view, answered)| status::Answer {
                        region: u8::try_from(view).ok().and_then(region_name),
                        variants: match answered {
                            ViewAnswer::NoData => Vec::new(),
                            ViewAnswer::Variants(variants) => variants.clone(),
                        },
                    })
                    .collect();
                status::Pool {
                    name: pool.name.to_string(),
                    rtype: pool.rtype.to_string(),
                    policy: match pool.policy {
                        Policy::Failover => "failover",
                        Policy::Weighted => "weighted",
                        Policy::Geo => "geo",
                    }
                    .to_string(),
                    ttl: answer.ttl,
                    members,
                    answers,
                }
            })
            .collect()
    }

    fn checker_status(&self) -> Option<status::Checker> {
        let targets = self.traffic.targets();
        if targets.is_empty() {
            return None;
        }
        Some(status::Checker {
            targets: targets.len(),
            last_activity: self.checker.liveness().map(unix),
            longest_interval_seconds: targets
                .iter()
                .map(|t| t.spec.interval().as_secs_f64())
                .fold(0.0, f64::max),
        })
    }
}
