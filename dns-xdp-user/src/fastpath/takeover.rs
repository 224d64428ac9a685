//! What a starting agent finds in its pin directory, left by an agent that is gone (the
//! directory's lock was free, see [`crate::fastpath::pin_dir`]), and whether it can take it over.
//!
//! The pinned link keeps the dead agent's program attached and answering from its maps. The
//! new agent reuses those maps when they have the shape its own program expects, so the answers
//! and counters live on, and replaces the program in the link in one atomic update. Maps of
//! another shape (a release that changed them) cannot be shared: the new program gets fresh
//! maps, filled before it replaces the old one in the link. So do maps of the same shape whose
//! layout version (in `dns_publish`, see `dns_xdp_common::publish::LAYOUT_VERSION`) is not this
//! agent's: a release that changed what a field means without changing a size.

use std::path::Path;

use aya::maps::{Array, Map, MapData, MapInfo};
use dns_xdp_common::{
    map_names,
    publish::{PublishState, LAYOUT_VERSION},
};

use crate::fastpath::pin_dir::{self, PinDir, LINK_PIN};

/// The maps the agent pins, and so the maps a new agent can take over.
pub const PINNED_MAPS: [&str; 6] = [
    map_names::ANSWERS,
    map_names::VIEWS[0],
    map_names::VIEWS[1],
    map_names::ADDRESSES,
    map_names::PUBLISH,
    map_names::COUNTERS,
];

/// What a pin directory holds for a new agent.
#[derive(Debug, Default)]
pub struct Found {
    /// Every map in [`PINNED_MAPS`] is pinned with the shape this agent's program expects.
    pub reuse_maps: bool,
    /// The answer map's capacity, when the maps are reused.
    pub answer_capacity: u32,
    /// The interface index of a pinned XDP link (0 if its interface is gone).
    pub link_ifindex: Option<u32>,
    /// Anything pinned at all: a dead agent's directory, not a fresh one.
    pub anything: bool,
}

/// A map's shape: what must match for two programs to share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
}

impl Shape {
    fn of_pinned(info: &MapInfo) -> Option<Self> {
        Some(Self {
            map_type: info.map_type().ok()? as u32,
            key_size: info.key_size(),
            value_size: info.value_size(),
            max_entries: info.max_entries(),
            flags: info.map_flags(),
        })
    }
}

/// Why a pinned map of shape `pinned` cannot serve as map `name` of shape `wanted`, if it
/// cannot. The answer map may be larger than wanted (its entries are allocated as used), never
/// smaller; every other map must match exactly.
pub fn unfit(name: &str, pinned: &Shape, wanted: &Shape) -> Option<String> {
    if (
        pinned.map_type,
        pinned.key_size,
        pinned.value_size,
        pinned.flags,
    ) != (
        wanted.map_type,
        wanted.key_size,
        wanted.value_size,
        wanted.flags,
    ) {
        return Some(format!(
            "{name} has another layout (type {}, key {} bytes, value {} bytes, flags {:#x}; \
             this program's: type {}, key {}, value {}, flags {:#x})",
            pinned.map_type,
            pinned.key_size,
            pinned.value_size,
            pinned.flags,
            wanted.map_type,
            wanted.key_size,
            wanted.value_size,
            wanted.flags
        ));
    }
    let fits = if name == map_names::ANSWERS {
        pinned.max_entries >= wanted.max_entries
    } else {
        pinned.max_entries == wanted.max_entries
    };
    (!fits).then(|| {
        format!(
            "{name} holds {} entries, this agent needs {}",
            pinned.max_entries, wanted.max_entries
        )
    })
}

/// The shapes of this agent's maps, from the eBPF object, with the answer map sized for
/// `answer_capacity`.
pub fn wanted_shapes(object: &[u8], answer_capacity: u32) -> Option<Vec<(&'static str, Shape)>> {
    let object = aya_obj::Object::parse(object).ok()?;
    PINNED_MAPS
        .iter()
        .map(|&name| {
            let map = object.maps.get(name)?;
            let max_entries = if name == map_names::ANSWERS {
                answer_capacity
            } else {
                map.max_entries()
            };
            Some((
                name,
                Shape {
                    map_type: map.map_type(),
                    key_size: map.key_size(),
                    value_size: map.value_size(),
                    max_entries,
                    flags: map.map_flags(),
                },
            ))
        })
        .collect()
}

/// Looks at what `dir` holds and decides what to take over; logs why maps are not reused.
pub fn inspect(dir: &PinDir, object: &[u8], answer_capacity: u32) -> Found {
    let pins = dir.pins();
    if pins.is_empty() {
        return Found::default();
    }
    let link_ifindex = pins
        .iter()
        .any(|p| p == LINK_PIN)
        .then(|| pin_dir::pinned_link_ifindex(&dir.path().join(LINK_PIN)))
        .and_then(|ifindex| match ifindex {
            Ok(ifindex) => Some(ifindex),
            Err(e) => {
                log::warn!(
                    "{}: {e}; attaching afresh",
                    dir.path().join(LINK_PIN).display()
                );
                None
            }
        });
    let (reuse_maps, answer_capacity) = match reusable(dir.path(), object, answer_capacity) {
        Ok(capacity) => (true, capacity),
        Err(why) => {
            log::warn!(
                "not reusing the maps pinned in {}: {why}; starting with fresh ones",
                dir.path().display()
            );
            (false, 0)
        }
    };
    Found {
        reuse_maps,
        answer_capacity,
        link_ifindex,
        anything: true,
    }
}

/// The pinned answer map's capacity if every map in `dir` can be reused, else why not.
fn reusable(dir: &Path, object: &[u8], answer_capacity: u32) -> Result<u32, String> {
    let wanted = wanted_shapes(object, answer_capacity)
        .ok_or("the eBPF object does not define every pinned map")?;
    let mut capacity = 0;
    for (name, want) in wanted {
        let info = MapInfo::from_pin(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        let pinned = Shape::of_pinned(&info).ok_or(format!("{name}: unknown map type"))?;
        if let Some(why) = unfit(name, &pinned, &want) {
            return Err(why);
        }
        if name == map_names::ANSWERS {
            capacity = pinned.max_entries;
        }
    }
    let layout = pinned_layout(dir).map_err(|e| format!("{}: {e}", map_names::PUBLISH))?;
    if layout != LAYOUT_VERSION {
        return Err(format!(
            "they have layout version {layout}, this agent's is {LAYOUT_VERSION}"
        ));
    }
    Ok(capacity)
}

/// The layout version the pinned maps were made with.
fn pinned_layout(dir: &Path) -> Result<u32, aya::maps::MapError> {
    let data = MapData::from_pin(dir.join(map_names::PUBLISH))?;
    let publish: Array<MapData, PublishState> = Array::try_from(Map::Array(data))?;
    Ok(publish.get(&0, 0)?.layout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_defines_every_pinned_map() {
        let shapes = wanted_shapes(crate::fastpath::object::OBJECT, 4096).expect("all maps");
        let answers = shapes
            .iter()
            .find(|(name, _)| *name == map_names::ANSWERS)
            .unwrap()
            .1;
        assert_eq!(answers.max_entries, 4096);
        assert_eq!(
            answers.key_size as usize,
            std::mem::size_of::<dns_xdp_common::answer::AnswerKey>()
        );
        assert_eq!(
            answers.value_size as usize,
            std::mem::size_of::<dns_xdp_common::answer::AnswerValue>()
        );
    }

    #[test]
    fn maps_are_shared_only_with_the_same_layout_and_room_enough() {
        let want = Shape {
            map_type: 1,
            key_size: 16,
            value_size: 800,
            max_entries: 2048,
            flags: 1,
        };
        let answers = map_names::ANSWERS;
        assert_eq!(unfit(answers, &want, &want), None);
        let bigger = Shape {
            max_entries: 65536,
            ..want
        };
        assert_eq!(unfit(answers, &bigger, &want), None, "larger is fine");
        let smaller = Shape {
            max_entries: 1024,
            ..want
        };
        let why = unfit(answers, &smaller, &want).unwrap();
        assert!(
            why.contains("holds 1024 entries, this agent needs 2048"),
            "{why}"
        );
        assert!(
            unfit(map_names::COUNTERS, &bigger, &want).is_some(),
            "others match exactly"
        );
        for other in [
            Shape {
                key_size: 20,
                ..want
            },
            Shape {
                value_size: 801,
                ..want
            },
            Shape {
                map_type: 2,
                ..want
            },
            Shape { flags: 0, ..want },
        ] {
            let why = unfit(answers, &other, &want).unwrap();
            assert!(why.contains("another layout"), "{why}");
        }
    }
}
