//! The zone a name belongs to: the one with the longest origin that contains it, found by
//! walking the name's suffixes, longest first, through a map of origins (as Knot's
//! `knot_zonedb_find_suffix` and NSD's `namedb_lookup` do). Its cost grows with the name's
//! labels, never with the number of zones.

use std::collections::HashMap;

use hickory_proto::rr::Name;

use crate::zone::wire_name;

/// Zone origins, by their lowercase wire form, to their position in the catalog.
#[derive(Clone, Debug, Default)]
pub struct ZoneIndex {
    origins: HashMap<Box<[u8]>, usize>,
}

impl ZoneIndex {
    /// Indexes `origins`, the zones' in catalog order. Of two equal origins (the config refuses
    /// them), the later wins.
    pub fn new<'a>(origins: impl IntoIterator<Item = &'a Name>) -> Self {
        let mut buf = [0u8; 255];
        let origins = origins
            .into_iter()
            .enumerate()
            .filter_map(|(at, origin)| Some((wire_name(origin, &mut buf)?.into(), at)))
            .collect();
        Self { origins }
    }

    /// The position of the zone with the longest origin at or above `name` (any case).
    pub fn find(&self, name: &Name) -> Option<usize> {
        let mut buf = [0u8; 255];
        let wire = wire_name(name, &mut buf)?;
        // Each label starts a suffix: "\x03www\x07example\x03com\x00", "\x07example...", ...
        let mut at = 0;
        loop {
            if let Some(&zone) = self.origins.get(&wire[at..]) {
                return Some(zone);
            }
            let len = usize::from(wire[at]);
            if len == 0 {
                return None;
            }
            at += 1 + len;
        }
    }

    pub fn len(&self) -> usize {
        self.origins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.origins.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn the_longest_origin_wins_whatever_the_case() {
        let origins = [n("example.com."), n("Sub.Example.com."), n("example.org.")];
        let index = ZoneIndex::new(&origins);
        assert_eq!(index.find(&n("www.example.com.")), Some(0));
        assert_eq!(index.find(&n("example.com.")), Some(0));
        assert_eq!(index.find(&n("a.b.SUB.example.COM.")), Some(1));
        assert_eq!(index.find(&n("sub.example.com.")), Some(1));
        assert_eq!(index.find(&n("xsub.example.com.")), Some(0));
        assert_eq!(index.find(&n("example.org.")), Some(2));
        assert_eq!(index.find(&n("example.net.")), None);
        assert_eq!(index.find(&n("com.")), None);
        assert_eq!(index.find(&Name::root()), None);
        // Relative names are taken as fully qualified.
        assert_eq!(index.find(&n("www.example.org")), Some(2));
    }

    #[test]
    fn the_root_zone_contains_everything() {
        let index = ZoneIndex::new(&[Name::root(), n("example.com.")]);
        assert_eq!(index.find(&n("www.example.com.")), Some(1));
        assert_eq!(index.find(&n("example.net.")), Some(0));
        assert_eq!(index.find(&Name::root()), Some(0));
    }
}
