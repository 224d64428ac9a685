//! The zones in service as one [`Snapshot`]: each zone with its signer, and the index that
//! finds the zone of a name by a label walk. Both paths answer from one snapshot at a time.
//!
//! A snapshot is built in one pass, each stage on what the one before made
//! ([`load::Loaded`] holds the first two, for a later snapshot to start from):
//! 1. load: the config and every zone file, checked ([`crate::zone`]);
//! 2. sign setup: keys and signers of the zones with DNSSEC on, their apex DNSKEY, CDS and
//!    CDNSKEY ([`signers`]);
//! 3. alias flattening: ALIAS names given their targets' addresses ([`crate::alias`]);
//! 4. pool placeholders: each pool's name holds an RRset of its type ([`pools`]).
//!
//! Zones are shared between snapshots until a stage changes them: a snapshot made again for a
//! changed ALIAS answer copies only the zones the alias is in.

pub mod index;
pub mod load;
pub mod pools;
pub mod signers;

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use hickory_proto::rr::{Name, RData, RecordType};

use crate::{
    alias::{Alias, Flattened},
    dnssec::Signer,
    zone::{RrSet, Zone},
};

pub use index::ZoneIndex;
pub use load::{LoadError, Loaded};

/// One zone in service: the zone and what signs it. It reads as its zone.
#[derive(Clone)]
pub struct Served {
    pub zone: Arc<Zone>,
    /// Signs its answers to DO=1 queries, when it has DNSSEC on.
    pub signer: Option<Arc<Signer>>,
}

impl std::ops::Deref for Served {
    type Target = Zone;

    fn deref(&self) -> &Zone {
        &self.zone
    }
}

/// The zones both paths answer from.
#[derive(Clone, Default)]
pub struct Snapshot {
    zones: Vec<Served>,
    index: ZoneIndex,
    /// (name, type) of the pools' placeholder RRsets.
    placeholders: HashSet<(Name, RecordType)>,
}

impl Snapshot {
    /// A snapshot of `zones` as they are, each with its signer: no aliases, no pools.
    pub fn new(zones: impl IntoIterator<Item = (Zone, Option<Arc<Signer>>)>) -> Self {
        let zones: Vec<Served> = zones
            .into_iter()
            .map(|(zone, signer)| Served {
                zone: Arc::new(zone),
                signer,
            })
            .collect();
        let index = ZoneIndex::new(zones.iter().map(|served| served.zone.origin()));
        Self::of(zones, index)
    }

    /// Unsigned `zones`, as they are.
    pub fn unsigned(zones: impl IntoIterator<Item = Zone>) -> Self {
        Self::new(zones.into_iter().map(|zone| (zone, None)))
    }

    /// `zones`, indexed by `index`, without placeholders.
    fn of(zones: Vec<Served>, index: ZoneIndex) -> Self {
        Self {
            zones,
            index,
            placeholders: HashSet::new(),
        }
    }

    /// The flattening stage for one alias: makes its name exist and gives it its target's
    /// addresses, from `upstream` (the last good answers by target) for an upstream target.
    pub fn flatten(&mut self, alias: &Alias, upstream: &HashMap<Name, Flattened>) {
        let Some(zone) = self.zone_mut(&alias.name) else {
            return; // `alias::plan` checked that a zone holds it.
        };
        zone.insert_empty_name(&alias.name);
        for rrset in alias.rrsets(upstream) {
            zone.insert_rrset(rrset);
        }
    }

    /// The pools' stage for one pool: its name gets `placeholder`, the RRset of its type that
    /// stands for what steering answers (see [`pools`]).
    pub fn insert_placeholder(&mut self, placeholder: RrSet) {
        let key = (placeholder.name.clone(), placeholder.rtype);
        let Some(zone) = self.zone_mut(&placeholder.name) else {
            return; // `pools::check` refused it.
        };
        zone.insert_rrset(placeholder);
        self.placeholders.insert(key);
    }

    /// The zone holding `name`, to change: copied first if another snapshot shares it.
    fn zone_mut(&mut self, name: &Name) -> Option<&mut Zone> {
        let at = self.index.find(name)?;
        Some(Arc::make_mut(&mut self.zones[at].zone))
    }

    /// The zone holding `name` (any case): the one with the longest origin above it.
    pub fn find(&self, name: &Name) -> Option<&Served> {
        self.index.find(name).map(|at| &self.zones[at])
    }

    /// Every zone, in config order.
    pub fn zones(&self) -> &[Served] {
        &self.zones
    }

    /// Whether the RRset of `name` and `rtype` stands in for a pool, whose answers steering
    /// chooses per query.
    pub fn is_placeholder(&self, name: &Name, rtype: RecordType) -> bool {
        self.placeholders.contains(&(name.clone(), rtype))
    }

    /// Whether any zone is signed.
    pub fn is_signed(&self) -> bool {
        self.zones.iter().any(|served| served.signer.is_some())
    }

    /// (origin, SOA serial) of every zone.
    pub fn serials(&self) -> Vec<(String, u32)> {
        self.zones
            .iter()
            .filter_map(|served| match served.zone.soa().rdata.first() {
                Some(RData::SOA(soa)) => Some((served.zone.origin().to_string(), soa.serial)),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
