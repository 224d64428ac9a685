//! Client address → view: the regions' CIDRs and a MaxMind-format database, flattened into one
//! table that userspace searches and the kernel's LPM trie is loaded from.
//!
//! Which region an address belongs to:
//! - A config CIDR decides for every address inside it, whatever the database says, even where
//!   the database has a more specific network: the operator's list is the override. Among config
//!   CIDRs, the longest match wins (two regions cannot list the same CIDR).
//! - Otherwise the database network containing the address decides: a region whose `countries`
//!   has the network's country wins over one whose `continents` has its continent (a country is
//!   in one region, a continent in one region, so there is no other tie). The continent is the
//!   record's `continent.code`, or the country's continent when the record has none (the
//!   `country_code` schema).
//! - Otherwise view 0, the default view.
//!
//! All of that is resolved here, into disjoint ranges of one address space (IPv6, IPv4 mapped
//! into `::ffff:0:0/96`), so the kernel's trie holds disjoint prefixes and its longest-prefix
//! match is simply "the prefix that contains the address": [`Views::view_of`] finds the very
//! prefix the kernel finds. An IPv6 CIDR or network never covers IPv4 clients, even `::/0`.

use std::{
    collections::HashMap,
    net::IpAddr,
    path::{Path, PathBuf},
};

use maxminddb::{PathElement, Reader};

use crate::config::{
    continent::Continent,
    prefix::{self, Prefix, MAPPED_V4_END, MAPPED_V4_OFFSET, MAPPED_V4_START},
    steering::Region,
};

/// The default view: clients no region covers.
pub const DEFAULT_VIEW: u8 = 0;

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot open the geo database {path}: {source}; check [geo] database")]
    Open {
        path: PathBuf,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
    #[error(
        "the geo database {path} is damaged: {source}; download it again or point [geo] \
         database at another copy"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
}

/// An open MaxMind-format database.
pub struct GeoDatabase {
    path: PathBuf,
    reader: Reader<Vec<u8>>,
}

impl GeoDatabase {
    pub fn open(path: &Path) -> Result<Self, GeoError> {
        let reader = Reader::open_readfile(path).map_err(|source| GeoError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            reader,
        })
    }

    /// A database held in memory; `label` names it in errors.
    pub fn from_bytes(label: &Path, bytes: Vec<u8>) -> Result<Self, GeoError> {
        let reader = Reader::from_source(bytes).map_err(|source| GeoError::Open {
            path: label.to_path_buf(),
            source,
        })?;
        Ok(Self {
            path: label.to_path_buf(),
            reader,
        })
    }

    /// Every network with data, IPv4 ones once and as IPv4 (the reader skips the aliases an
    /// IPv6 database points at its IPv4 subtree, such as `::ffff:0:0/96` and `2002::/16`), with
    /// its country and continent.
    fn networks(&self) -> Result<Vec<(Prefix, Place)>, GeoError> {
        let damaged = |source| GeoError::Read {
            path: self.path.clone(),
            source,
        };
        // Many networks share one record: decode each record once.
        let mut places: HashMap<usize, Place> = HashMap::new();
        let mut out = Vec::new();
        for item in self.reader.networks(Default::default()).map_err(damaged)? {
            let item = item.map_err(damaged)?;
            let network = item.network().map_err(damaged)?;
            let Some(offset) = item.offset() else {
                continue;
            };
            let place = match places.get(&offset) {
                Some(place) => place.clone(),
                None => {
                    let place = Place::decode(&item).map_err(damaged)?;
                    places.insert(offset, place.clone());
                    place
                }
            };
            out.push((database_prefix(network.ip(), network.prefix()), place));
        }
        Ok(out)
    }
}

/// A network as the database stores it, IPv4 as IPv4 (IPv6 databases keep IPv4 at `::/96`).
fn database_prefix(ip: IpAddr, len: u8) -> Prefix {
    match ip {
        IpAddr::V6(v6) if len >= MAPPED_V4_OFFSET && u128::from(v6) >> 32 == 0 => Prefix::truncate(
            IpAddr::V4((u128::from(v6) as u32).into()),
            len - MAPPED_V4_OFFSET,
        ),
        _ => Prefix::truncate(ip, len),
    }
}

/// What a database record says about where a network is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Place {
    /// Upper case ISO code.
    country: Option<String>,
    continent: Option<Continent>,
}

impl Place {
    fn decode<S: AsRef<[u8]>>(
        item: &maxminddb::LookupResult<'_, S>,
    ) -> Result<Self, maxminddb::MaxMindDbError> {
        let key = PathElement::Key;
        let country = match item.decode_path::<String>(&[key("country"), key("iso_code")])? {
            Some(code) => Some(code),
            None => item.decode_path::<String>(&[key("country_code")])?,
        }
        .map(|code| code.to_ascii_uppercase());
        let continent = item
            .decode_path::<String>(&[key("continent"), key("code")])?
            .and_then(|code| Continent::parse(&code))
            .or_else(|| country.as_deref().and_then(Continent::of_country));
        Ok(Self { country, continent })
    }
}

/// One entry of the kernel's LPM trie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewPrefix {
    pub prefix: Prefix,
    /// Never 0: addresses no prefix covers are in the default view.
    pub view: u8,
}

/// The client-address → view table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Views {
    /// Sorted by start, covering the whole mapped space: each range runs up to the next one's
    /// start. Never two neighbours with one view, except at the edges of `::ffff:0:0/96`, which
    /// are kept so that no range mixes IPv4 and IPv6.
    ranges: Vec<(u128, u8)>,
    /// Number of views, the default one included.
    count: usize,
}

/// Who says a prefix belongs to a view; a config CIDR outranks the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Database,
    Config,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    start: u128,
    end: u128,
    /// Within its family: nested prefixes rank by (source, length).
    rank: (Source, u8),
    view: u8,
}

/// No regions: every client is in the default view.
impl Default for Views {
    fn default() -> Self {
        Self::build(&[], None).expect("without regions or a database nothing can fail")
    }
}

impl Views {
    /// The views of `regions`, from their CIDRs and, when given, the database.
    pub fn build(regions: &[Region], database: Option<&GeoDatabase>) -> Result<Self, GeoError> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut add = |prefix: Prefix, source: Source, view: u8| {
            let (start, end) = family_range(prefix);
            let entry = Entry {
                start,
                end,
                rank: (source, prefix.prefix_len()),
                view,
            };
            if prefix.is_ipv4() {
                v4.push(entry);
            } else {
                v6.push(entry);
            }
        };
        for region in regions {
            for &cidr in &region.cidrs {
                add(cidr, Source::Config, region.view);
            }
        }
        if let Some(database) = database {
            let by_country: HashMap<&str, u8> = regions
                .iter()
                .flat_map(|r| r.countries.iter().map(|c| (c.as_str(), r.view)))
                .collect();
            let by_continent: HashMap<Continent, u8> = regions
                .iter()
                .flat_map(|r| r.continents.iter().map(|&c| (c, r.view)))
                .collect();
            for (prefix, place) in database.networks()? {
                let view = place
                    .country
                    .as_deref()
                    .and_then(|c| by_country.get(c))
                    .or_else(|| place.continent.and_then(|c| by_continent.get(&c)));
                if let Some(&view) = view {
                    add(prefix, Source::Database, view);
                }
            }
        }
        let v4 = flatten(v4, u128::from(u32::MAX));
        let v6 = flatten(v6, u128::MAX);
        Ok(Self {
            ranges: join(&v4, &v6),
            count: regions.len() + 1,
        })
    }

    /// Number of views, the default view 0 included.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The view of a client address, and the length of the prefix that decided it: the prefix
    /// of [`Views::prefixes`] that contains the address (the one the kernel's LPM trie matches),
    /// or for the default view the largest prefix around the address that no entry touches.
    /// IPv4-mapped IPv6 addresses are taken as IPv4; lengths are within the family.
    pub fn view_of(&self, ip: IpAddr) -> (u8, u8) {
        let ip = ip.to_canonical();
        let key = prefix::mapped(ip);
        let i = self.ranges.partition_point(|&(start, _)| start <= key) - 1;
        let (start, view) = self.ranges[i];
        let end = self.ranges.get(i + 1).map(|&(next, _)| next - 1);
        let len = block_len(key, start, end);
        let len = if ip.is_ipv4() {
            len - MAPPED_V4_OFFSET
        } else {
            len
        };
        (view, len)
    }

    /// The view for an EDNS Client Subnet (RFC 7871) and the scope prefix length to answer with.
    ///
    /// The address is truncated to `source_prefix` bits (clamped to the family's length), and
    /// the view is that of the truncated address. The scope is the length of the prefix that
    /// decided it (see [`Views::view_of`]): every address in `subnet/scope` gets the same view,
    /// so a resolver may cache the answer for all of them. It can be longer than the source
    /// prefix when the subnet spans several views; RFC 7871 §7.2.1 lets an authoritative say so,
    /// and resolvers then send more bits. A source prefix of 0 (the client asked that no address
    /// be used) gets the default view and scope 0.
    pub fn view_for_subnet(&self, addr: IpAddr, source_prefix: u8) -> (u8, u8) {
        if source_prefix == 0 {
            return (DEFAULT_VIEW, 0);
        }
        self.view_of(Prefix::truncate(addr, source_prefix).addr())
    }

    /// The kernel's LPM trie: disjoint prefixes, sorted, each with a non-default view.
    pub fn prefixes(&self) -> Vec<ViewPrefix> {
        let mut out = Vec::new();
        for (i, &(start, view)) in self.ranges.iter().enumerate() {
            if view == DEFAULT_VIEW {
                continue;
            }
            let end = self.ranges.get(i + 1).map(|&(next, _)| next - 1);
            let mut at = Some(start);
            while let Some(block_start) = at.filter(|&a| end.is_none_or(|end| a <= end)) {
                // The largest aligned block starting here that stays inside the range.
                let len = block_len(block_start, block_start, end);
                out.push(ViewPrefix {
                    prefix: Prefix::from_mapped(block_start, len),
                    view,
                });
                at = (block_start | !prefix::mask128(len)).checked_add(1);
            }
        }
        out
    }
}

/// First and last address of a prefix in its family's own space (IPv4 as a 32-bit number).
fn family_range(prefix: Prefix) -> (u128, u128) {
    let (start, end) = prefix.mapped_range();
    if prefix.is_ipv4() {
        (start - MAPPED_V4_START, end - MAPPED_V4_START)
    } else {
        (start, end)
    }
}

/// The length of the largest block around `key` inside `start..=end` (`end` None: the top of
/// the space): the shortest length at which `key`'s block neither reaches below `start` nor
/// above `end`.
fn block_len(key: u128, start: u128, end: Option<u128>) -> u8 {
    // The block must not contain start - 1: it must be long enough to tell them apart.
    let low = match start.checked_sub(1) {
        Some(before) => (key ^ before).leading_zeros() + 1,
        None => 0,
    };
    let high = match end.and_then(|end| end.checked_add(1)) {
        Some(after) => (key ^ after).leading_zeros() + 1,
        None => 0,
    };
    low.max(high) as u8
}

/// Nested or disjoint prefixes of one family → ranges covering `0..=last`, each with the view
/// of the highest-ranked entry containing it (0 where none does), neighbours of one view merged.
fn flatten(mut entries: Vec<Entry>, last: u128) -> Vec<(u128, u8)> {
    // Outer prefixes before the ones they contain.
    entries.sort_by_key(|e| (e.start, std::cmp::Reverse(e.end)));
    let mut out: Vec<(u128, u8)> = Vec::new();
    let emit = |out: &mut Vec<(u128, u8)>, start: u128, view: u8| {
        if out.last().is_none_or(|&(_, last_view)| last_view != view) {
            out.push((start, view));
        }
    };
    // The prefixes containing the current position, outermost first, each with the view of the
    // best-ranked entry among it and its ancestors.
    let mut open: Vec<(u128, (Source, u8), u8)> = Vec::new();
    // The first address not yet emitted; None once past `last`.
    let mut pos = Some(0u128);
    for entry in entries {
        while let Some(&(end, _, view)) = open.last() {
            if end >= entry.start {
                break;
            }
            if let Some(p) = pos.filter(|&p| p <= end) {
                emit(&mut out, p, view);
                pos = end.checked_add(1);
            }
            open.pop();
        }
        if let Some(p) = pos.filter(|&p| p < entry.start) {
            emit(&mut out, p, open.last().map_or(DEFAULT_VIEW, |o| o.2));
        }
        pos = Some(entry.start);
        let (rank, view) = match open.last() {
            Some(&(_, rank, view)) if rank > entry.rank => (rank, view),
            _ => (entry.rank, entry.view),
        };
        open.push((entry.end, rank, view));
    }
    while let Some((end, _, view)) = open.pop() {
        if let Some(p) = pos.filter(|&p| p <= end) {
            emit(&mut out, p, view);
            pos = end.checked_add(1);
        }
    }
    if let Some(p) = pos.filter(|&p| p <= last) {
        emit(&mut out, p, DEFAULT_VIEW);
    }
    out
}

/// The IPv6 ranges with `::ffff:0:0/96` replaced by the IPv4 ranges, edges kept.
fn join(v4: &[(u128, u8)], v6: &[(u128, u8)]) -> Vec<(u128, u8)> {
    let view6_at = |addr: u128| v6[v6.partition_point(|&(start, _)| start <= addr) - 1].1;
    let mut out: Vec<(u128, u8)> = Vec::with_capacity(v4.len() + v6.len() + 2);
    let push = |out: &mut Vec<(u128, u8)>, start: u128, view: u8| {
        if out.last().is_none_or(|&(_, last)| last != view) {
            out.push((start, view));
        }
    };
    for &(start, view) in v6.iter().filter(|&&(start, _)| start < MAPPED_V4_START) {
        push(&mut out, start, view);
    }
    out.extend(
        v4.iter()
            .map(|&(start, view)| (MAPPED_V4_START + start, view)),
    );
    out.push((MAPPED_V4_END + 1, view6_at(MAPPED_V4_END + 1)));
    for &(start, view) in v6.iter().filter(|&&(start, _)| start > MAPPED_V4_END + 1) {
        push(&mut out, start, view);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::steering::tests::steering;

    /// The committed fixture (written by `dns-xdp-tests`' `mmdb` module):
    /// 198.51.100.0/25 DE/EU, 198.51.100.128/25 US/NA, 203.0.113.0/24 JP/AS,
    /// 192.0.2.0/24 BR/SA, 2001:db8:e0::/48 FR/EU, 2001:db8:a0::/48 CA/NA, in the
    /// GeoLite2-Country schema; `test-country-code.mmdb` holds the same in the `country_code`
    /// schema.
    pub(crate) fn fixture(name: &str) -> GeoDatabase {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/geo")
            .join(name);
        GeoDatabase::open(&path).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    pub(crate) const REGIONS: &str = r#"
        [geo]
        database = "test-country.mmdb"
        [[region]]
        name = "eu"
        continents = ["Europe"]
        [[region]]
        name = "na"
        continents = ["North America"]
        [[region]]
        name = "jp"
        countries = ["JP"]
        continents = ["AS"]
    "#;

    fn views(regions: &str, database: Option<&str>) -> Views {
        let steering = steering(regions).unwrap();
        let db = database.map(fixture);
        Views::build(&steering.regions, db.as_ref()).unwrap()
    }

    #[test]
    fn database_lookups_v4_and_v6() {
        for file in ["test-country.mmdb", "test-country-code.mmdb"] {
            let v = views(REGIONS, Some(file));
            assert_eq!(v.count(), 4);
            assert_eq!(v.view_of(ip("198.51.100.1")), (1, 25), "{file}");
            assert_eq!(v.view_of(ip("198.51.100.200")), (2, 25), "{file}");
            assert_eq!(v.view_of(ip("::ffff:198.51.100.200")), (2, 25), "{file}");
            assert_eq!(v.view_of(ip("203.0.113.7")).0, 3, "{file}");
            assert_eq!(v.view_of(ip("2001:db8:e0::1")), (1, 48), "{file}");
            assert_eq!(v.view_of(ip("2001:db8:a0:ffff::1")), (2, 48), "{file}");
            // Brazil is in no region; nor is what the database does not know.
            assert_eq!(v.view_of(ip("192.0.2.1")).0, 0, "{file}");
            assert_eq!(v.view_of(ip("2001:db8:b0::1")).0, 0, "{file}");
            // An IPv4-compatible or NAT64-looking IPv6 address is not its IPv4 address.
            assert_eq!(v.view_of(ip("::198.51.100.1")).0, 0, "{file}");
        }
    }

    #[test]
    fn ipv4_networks_come_once_as_ipv4() {
        let db = fixture("test-country.mmdb");
        let mut networks: Vec<String> = db
            .networks()
            .unwrap()
            .into_iter()
            .map(|(prefix, place)| format!("{prefix} {}", place.country.unwrap()))
            .collect();
        networks.sort();
        assert_eq!(
            networks,
            [
                "192.0.2.0/24 BR",
                "198.51.100.0/25 DE",
                "198.51.100.128/25 US",
                "2001:db8:a0::/48 CA",
                "2001:db8:e0::/48 FR",
                "203.0.113.0/24 JP",
            ]
        );
    }

    #[test]
    fn countries_win_over_continents() {
        let regions = r#"
            [geo]
            database = "x"
            [[region]]
            name = "americas"
            continents = ["NA", "SA"]
            [[region]]
            name = "us"
            countries = ["US"]
        "#;
        let v = views(regions, Some("test-country.mmdb"));
        assert_eq!(v.view_of(ip("198.51.100.200")).0, 2);
        assert_eq!(v.view_of(ip("192.0.2.1")).0, 1);
        assert_eq!(v.view_of(ip("2001:db8:a0::1")).0, 1);
    }

    #[test]
    fn config_cidrs_decide_over_the_database() {
        let regions = format!(
            "{REGIONS}\n[[region]]\nname = \"lab\"\ncidrs = [\"198.51.100.0/24\", \
             \"203.0.113.64/26\", \"2001:db8::/32\"]\n[[region]]\nname = \"desk\"\ncidrs = \
             [\"2001:db8:e0:1::/64\"]\n"
        );
        let v = views(&regions, Some("test-country.mmdb"));
        // Over more specific database networks...
        assert_eq!(v.view_of(ip("198.51.100.1")), (4, 24));
        assert_eq!(v.view_of(ip("198.51.100.200")), (4, 24));
        // (A /64 here: the next /64 is another region's, so the block ends there.)
        assert_eq!(v.view_of(ip("2001:db8:e0::1")), (4, 64));
        // ...and inside a less specific one, where the rest keeps the database's answer.
        assert_eq!(v.view_of(ip("203.0.113.65")), (4, 26));
        assert_eq!(v.view_of(ip("203.0.113.1")), (3, 26));
        assert_eq!(v.view_of(ip("203.0.113.129")), (3, 25));
        // Among config CIDRs the longest match wins.
        assert_eq!(v.view_of(ip("2001:db8:e0:1::1")), (5, 64));
        assert_eq!(v.view_of(ip("2001:db8:e0:2::1")), (4, 63));
    }

    #[test]
    fn cidrs_without_a_database_and_ipv6_never_covers_ipv4() {
        let v = views(
            "[[region]]\nname = \"v6\"\ncidrs = [\"::/0\"]\n[[region]]\nname = \"v4\"\ncidrs = \
             [\"198.51.100.0/24\"]\n",
            None,
        );
        assert_eq!(v.view_of(ip("2001:db8::1")), (1, 3));
        assert_eq!(v.view_of(ip("::1")), (1, 81));
        assert_eq!(v.view_of(ip("198.51.100.9")), (2, 24));
        assert_eq!(v.view_of(ip("192.0.2.1")), (0, 6));
        assert_eq!(v.view_of(ip("203.0.113.1")), (0, 5));
        let p = v.prefixes();
        assert!(
            p.iter().all(|e| e.prefix.is_ipv4() == (e.view == 2)),
            "{p:?}"
        );
        // ::/0 minus ::ffff:0:0/96 is one prefix per bit of the /96.
        assert_eq!(p.len(), 96 + 1);
    }

    #[test]
    fn prefixes_are_what_view_of_finds() {
        let regions = format!(
            "{REGIONS}\n[[region]]\nname = \"lab\"\ncidrs = [\"203.0.113.64/26\", \
             \"2001:db8:e0:1::/64\"]\n"
        );
        let v = views(&regions, Some("test-country.mmdb"));
        let p = v.prefixes();
        let shown: Vec<String> = p
            .iter()
            .map(|e| format!("{} {}", e.prefix, e.view))
            .collect();
        assert_eq!(
            shown,
            [
                "198.51.100.0/25 1",
                "198.51.100.128/25 2",
                "203.0.113.0/26 3",
                "203.0.113.64/26 4",
                "203.0.113.128/25 3",
                "2001:db8:a0::/48 2",
                "2001:db8:e0::/64 1",
                "2001:db8:e0:1::/64 4",
                "2001:db8:e0:2::/63 1",
                "2001:db8:e0:4::/62 1",
                "2001:db8:e0:8::/61 1",
                "2001:db8:e0:10::/60 1",
                "2001:db8:e0:20::/59 1",
                "2001:db8:e0:40::/58 1",
                "2001:db8:e0:80::/57 1",
                "2001:db8:e0:100::/56 1",
                "2001:db8:e0:200::/55 1",
                "2001:db8:e0:400::/54 1",
                "2001:db8:e0:800::/53 1",
                "2001:db8:e0:1000::/52 1",
                "2001:db8:e0:2000::/51 1",
                "2001:db8:e0:4000::/50 1",
                "2001:db8:e0:8000::/49 1",
            ]
        );
        for entry in &p {
            let (start, end) = entry.prefix.mapped_range();
            for key in [start, end, start + (end - start) / 2] {
                let addr = Prefix::from_mapped(key, 128).addr();
                assert_eq!(
                    v.view_of(addr),
                    (entry.view, entry.prefix.prefix_len()),
                    "{addr} in {}",
                    entry.prefix
                );
            }
        }
        let (len, key) = p[0].prefix.lpm_key();
        assert_eq!(
            (len, &key[..12]),
            (121, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff][..])
        );
    }

    #[test]
    fn ecs_scope() {
        let v = views(REGIONS, Some("test-country.mmdb"));
        // The subnet is in one region's network: the scope is that network.
        assert_eq!(v.view_for_subnet(ip("198.51.100.77"), 32), (1, 25));
        assert_eq!(v.view_for_subnet(ip("198.51.100.200"), 26), (2, 25));
        assert_eq!(v.view_for_subnet(ip("2001:db8:e0:5::"), 56), (1, 48));
        // A /24 spanning two regions: answered by the truncated address (198.51.100.0, eu),
        // with a scope longer than the source, telling the resolver to send more bits.
        assert_eq!(v.view_for_subnet(ip("198.51.100.200"), 24), (1, 25));
        // Host bits beyond the source prefix are ignored.
        assert_eq!(
            v.view_for_subnet(ip("198.51.100.255"), 24),
            v.view_for_subnet(ip("198.51.100.0"), 24)
        );
        // Outside every region: the default view, for the largest block around the subnet
        // that no region touches.
        assert_eq!(v.view_for_subnet(ip("192.0.2.0"), 24), (0, 6));
        assert_eq!(v.view_for_subnet(ip("2001:db8:ffff::"), 48), (0, 33));
        // Source /0: no client information, the default view for everyone.
        assert_eq!(v.view_for_subnet(ip("198.51.100.1"), 0), (0, 0));
        // Over-long source prefixes are clamped to the family.
        assert_eq!(v.view_for_subnet(ip("198.51.100.1"), 99), (1, 25));
    }

    #[test]
    fn no_regions_is_one_default_view() {
        let v = views("", None);
        assert_eq!(v.count(), 1);
        assert!(v.prefixes().is_empty());
        assert_eq!(v.view_of(ip("198.51.100.1")), (0, 0));
        assert_eq!(v.view_of(ip("2001:db8::1")), (0, 3));
    }

    #[test]
    fn flatten_ranks_nested_entries() {
        let e = |start, end, source, len, view| Entry {
            start,
            end,
            rank: (source, len),
            view,
        };
        // In an 8-bit space: a config block around a more specific database one (config wins),
        // a database block with a more specific one inside (the longer wins), then the top.
        let ranges = flatten(
            vec![
                e(16, 31, Source::Database, 4, 1),
                e(0, 63, Source::Config, 2, 2),
                e(128, 255, Source::Database, 1, 3),
                e(192, 255, Source::Database, 2, 1),
            ],
            255,
        );
        assert_eq!(ranges, [(0, 2), (64, 0), (128, 3), (192, 1)]);
        assert_eq!(flatten(vec![], 255), [(0, 0)]);
        let all = flatten(vec![e(0, u128::MAX, Source::Config, 0, 7)], u128::MAX);
        assert_eq!(all, [(0, 7)]);
    }

    /// Random nested prefixes of an 8-bit space, config and database mixed: every address gets
    /// the view of the best-ranked entry containing it, as a brute-force search says.
    #[test]
    fn flatten_matches_brute_force() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..500 {
            let mut entries: Vec<Entry> = Vec::new();
            for _ in 0..(next() % 12) {
                let len = (next() % 9) as u8;
                let size = 1u128 << (8 - len);
                let start = u128::from(next() % 256) & !(size - 1);
                let source = if next() % 2 == 0 {
                    Source::Config
                } else {
                    Source::Database
                };
                let clash = entries
                    .iter()
                    .any(|e| e.start == start && e.rank == (source, len));
                if !clash {
                    let view = 1 + (next() % 3) as u8;
                    entries.push(Entry {
                        start,
                        end: start + size - 1,
                        rank: (source, len),
                        view,
                    });
                }
            }
            let ranges = flatten(entries.clone(), 255);
            for addr in 0..=255u128 {
                let want = entries
                    .iter()
                    .filter(|e| e.start <= addr && addr <= e.end)
                    .max_by_key(|e| e.rank)
                    .map_or(DEFAULT_VIEW, |e| e.view);
                let got = ranges[ranges.partition_point(|r| r.0 <= addr) - 1].1;
                assert_eq!(got, want, "address {addr} of {entries:?} → {ranges:?}");
            }
            assert!(ranges
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 != w[1].1));
        }
    }

    /// The real database in ../shared/data/geo (NRO data, `country_code` schema), read only
    /// where the checkout has shared/ beside it: every network the database maps to a region's
    /// continent gets that region's view.
    #[test]
    fn real_database_when_present() {
        // The repository's checkout has shared/ beside it; a worktree one level deeper.
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let candidates = ["../../shared", "../../../shared"]
            .map(|up| root.join(up).join("data/geo/geo-whois-asn-country.mmdb"));
        let Some(path) = candidates.iter().find(|path| path.exists()) else {
            eprintln!(
                "skipped: no {} (the shared geo data)",
                candidates[0].display()
            );
            return;
        };
        let db = GeoDatabase::open(path).unwrap();
        let regions = steering(
            "[geo]\ndatabase = \"x\"\n[[region]]\nname = \"eu\"\ncontinents = [\"EU\"]\n\
             [[region]]\nname = \"na\"\ncontinents = [\"NA\"]\n[[region]]\nname = \"jp\"\n\
             countries = [\"JP\"]\n",
        )
        .unwrap()
        .regions;
        let started = std::time::Instant::now();
        let v = Views::build(&regions, Some(&db)).unwrap();
        let elapsed = started.elapsed();
        let networks = db.networks().unwrap();
        eprintln!(
            "{} networks → {} ranges, {} prefixes in {elapsed:?}",
            networks.len(),
            v.ranges.len(),
            v.prefixes().len(),
        );
        let mut checked = 0;
        for (prefix, place) in networks.iter().step_by(97) {
            let expected = match (place.country.as_deref(), place.continent) {
                (Some("JP"), _) => 3,
                (_, Some(Continent::Europe)) => 1,
                (_, Some(Continent::NorthAmerica)) => 2,
                _ => 0,
            };
            assert_eq!(v.view_of(prefix.addr()).0, expected, "{prefix} {place:?}");
            checked += 1;
        }
        assert!(checked > 100);
    }
}
