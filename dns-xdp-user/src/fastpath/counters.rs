//! The fast path's counters (`dns_counters`, one per outcome of a packet), summed over CPUs.

use std::path::Path;

use aya::maps::{MapData, PerCpuArray};
use dns_xdp_common::{
    counters::{Counter, COUNTER_COUNT},
    map_names,
};

use super::dataplane::DataplaneError;

/// Fast-path counters summed over CPUs, in [`Counter::ALL`] order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub [u64; COUNTER_COUNT]);

impl Counters {
    pub(super) fn read(map: &PerCpuArray<MapData, u64>) -> Result<Self, DataplaneError> {
        let mut totals = [0u64; COUNTER_COUNT];
        for counter in Counter::ALL {
            let per_cpu = map
                .get(&(counter as u32), 0)
                .map_err(|source| DataplaneError::Map {
                    name: map_names::COUNTERS,
                    source,
                })?;
            totals[counter as usize] = per_cpu.iter().sum();
        }
        Ok(Self(totals))
    }

    /// Reads the counters of a running agent from its pinned map.
    pub fn read_pinned(dir: &Path) -> Result<Self, DataplaneError> {
        let data = MapData::from_pin(dir.join(map_names::COUNTERS)).map_err(|source| {
            DataplaneError::Map {
                name: map_names::COUNTERS,
                source,
            }
        })?;
        let map = PerCpuArray::try_from(aya::maps::Map::PerCpuArray(data)).map_err(|source| {
            DataplaneError::Map {
                name: map_names::COUNTERS,
                source,
            }
        })?;
        Self::read(&map)
    }

    pub fn get(&self, counter: Counter) -> u64 {
        self.0[counter as usize]
    }

    pub fn answered(&self) -> u64 {
        self.get(Counter::AnsweredV4) + self.get(Counter::AnsweredV6)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Counter, u64)> + '_ {
        Counter::ALL.into_iter().map(|c| (c, self.get(c)))
    }
}
