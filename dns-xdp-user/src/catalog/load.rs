//! The first stages of a snapshot: the config and the zone files read and checked, the zones
//! signed, the aliases and pools checked against them. A [`Loaded`] is what a start or a reload
//! either gets whole or refuses; snapshots are made from it as the aliases' upstream answers
//! change.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use hickory_proto::rr::Name;

use super::{pools, signers, Served, Snapshot, ZoneIndex};
use crate::{
    alias::{self, Alias, Flattened},
    config::{Config, ConfigError, TrafficConfig, ZoneSource},
    zone::{Zone, ZoneError},
};

/// Why a config and its zones cannot be served. Each says which file and what to change.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Every zone that failed, not only the first.
    #[error("{}", describe_zones(.0))]
    Zones(Vec<(Name, ZoneError)>),
    #[error(transparent)]
    Signing(#[from] signers::SetupError),
    #[error("config file {}: {problem}", path.display())]
    Alias { path: PathBuf, problem: String },
    #[error("config file {}: {source}", path.display())]
    Pool {
        path: PathBuf,
        #[source]
        source: Box<pools::PoolConflict>,
    },
}

fn describe_zones(failed: &[(Name, ZoneError)]) -> String {
    let all: Vec<String> = failed
        .iter()
        .map(|(origin, e)| format!("loading zone {origin}: {e}"))
        .collect();
    match all.as_slice() {
        [one] => one.clone(),
        all => format!(
            "{} zones failed to load:\n  {}",
            all.len(),
            all.join("\n  ")
        ),
    }
}

/// A config and its zones, checked and signed: everything a snapshot is made from.
pub struct Loaded {
    pub config: Config,
    /// The config's checks, regions and pools, validated (CA files read).
    pub traffic: TrafficConfig,
    /// As the zone files have them, with their signers and apex DNSSEC RRsets.
    zones: Vec<Served>,
    index: ZoneIndex,
    aliases: Vec<Alias>,
}

impl Loaded {
    /// Reads the config at `config_path` and every zone it names.
    pub fn read(config_path: &Path) -> Result<Self, LoadError> {
        let config = Config::load(config_path)?;
        let mut zones = Vec::new();
        let mut failed = Vec::new();
        for (source, loaded) in read_zones(&config, config_path) {
            match loaded {
                Ok(zone) => zones.push(zone),
                Err(e) => failed.push((source.origin, e)),
            }
        }
        if !failed.is_empty() {
            return Err(LoadError::Zones(failed));
        }
        Self::with_zones(config, zones, config_path)
    }

    /// Checks the rest of `config` against its loaded `zones` as a start or a reload does:
    /// the zones are signed, the aliases resolve, no pool contradicts the zones' data.
    pub fn with_zones(
        config: Config,
        mut zones: Vec<Zone>,
        config_path: &Path,
    ) -> Result<Self, LoadError> {
        let traffic = config.traffic(config_path)?;
        let signers = signers::prepare(&config, config_path, &mut zones)?;
        let zones: Vec<Served> = zones
            .into_iter()
            .zip(signers)
            .map(|(zone, signer)| Served {
                zone: Arc::new(zone),
                signer,
            })
            .collect();
        let index = ZoneIndex::new(zones.iter().map(|served| served.zone.origin()));
        let zone_of = |name: &Name| index.find(name).map(|at| &*zones[at].zone);
        let aliases =
            alias::plan(&config.alias_sources(), zone_of).map_err(|problem| LoadError::Alias {
                path: config_path.to_path_buf(),
                problem,
            })?;
        pools::check(&traffic.steering.pools, zone_of).map_err(|source| LoadError::Pool {
            path: config_path.to_path_buf(),
            source: Box::new(source),
        })?;
        Ok(Self {
            config,
            traffic,
            zones,
            index,
            aliases,
        })
    }

    /// The targets of the aliases resolved through the upstream resolvers, sorted.
    pub fn upstream_targets(&self) -> Vec<Name> {
        let mut targets: Vec<Name> = self
            .aliases
            .iter()
            .filter(|a| matches!(a.source, alias::Source::Upstream))
            .map(|a| a.target.clone())
            .collect();
        targets.sort();
        targets.dedup();
        targets
    }

    /// Whether any zone is signed.
    pub fn is_signed(&self) -> bool {
        self.zones.iter().any(|served| served.signer.is_some())
    }

    /// The last two stages: every alias flattened with `upstream` (the last good answers of
    /// the upstream targets), every pool's placeholder in. Zones neither touches are shared
    /// with this `Loaded`.
    pub fn snapshot(&self, upstream: &HashMap<Name, Flattened>) -> Snapshot {
        let mut snapshot = Snapshot::of(self.zones.clone(), self.index.clone());
        for alias in &self.aliases {
            snapshot.flatten(alias, upstream);
        }
        for pool in &self.traffic.steering.pools {
            snapshot.insert_placeholder(pools::placeholder(pool));
        }
        snapshot
    }
}

/// Reads each zone of `config`, in config order, with its own result.
pub fn read_zones(
    config: &Config,
    config_path: &Path,
) -> Vec<(ZoneSource, Result<Zone, ZoneError>)> {
    config
        .zone_sources(config_path)
        .into_iter()
        .map(|source| {
            let loaded = Zone::load(&source.origin, &source.file);
            (source, loaded)
        })
        .collect()
}
