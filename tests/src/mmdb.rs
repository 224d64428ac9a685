//! A small MaxMind DB writer (format 2.0, as the public MaxMind DB specification describes it),
//! for geo fixtures the tests can make themselves: an IPv6 database whose IPv4 networks live
//! under `::/96`, with the usual aliases of that subtree, 24-bit records, and a data section of
//! maps, strings and unsigned integers.
//!
//! Layout of a file: the binary search tree (`node_count` nodes of two 24-bit big-endian
//! records: left for a 0 bit, right for a 1 bit; a record below `node_count` points at a node,
//! equal to it means "no data", above it points into the data section at `record - node_count
//! - 16`), 16 zero bytes, the data section, then the metadata marker and the metadata map.

use std::{collections::HashMap, net::IpAddr, path::PathBuf};

/// A value of the data section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    String(String),
    Uint16(u16),
    Uint32(u32),
    Uint64(u64),
    /// Keys in the order given, so the output is reproducible.
    Map(Vec<(String, Value)>),
    Array(Vec<Value>),
}

impl Value {
    pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Self {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    pub fn string(text: &str) -> Self {
        Value::String(text.to_string())
    }
}

// Data field types (MaxMind DB spec, "Output Data Section").
const TYPE_STRING: u8 = 2;
const TYPE_UINT16: u8 = 5;
const TYPE_UINT32: u8 = 6;
const TYPE_MAP: u8 = 7;
const TYPE_UINT64: u8 = 9;
const TYPE_ARRAY: u8 = 11;

const RECORD_BITS: u16 = 24;
const DATA_SEPARATOR: usize = 16;
const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// IPv6 prefixes that MaxMind's own databases point at the IPv4 subtree: IPv4-mapped, Teredo
/// and 6to4 addresses (the IPv4 address follows the prefix).
const IPV4_ALIASES: [(u128, u8); 3] = [
    (0xffff_0000_0000, 96),
    (0x2001_0000 << 96, 32),
    (0x2002 << 112, 16),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Record {
    Empty,
    Node(u32),
    /// Offset in the data section.
    Data(u32),
}

pub struct Writer {
    database_type: String,
    description: String,
    /// Node 0 is the root.
    nodes: Vec<[Record; 2]>,
    data: Vec<u8>,
    /// Each distinct encoded value is stored once.
    offsets: HashMap<Vec<u8>, u32>,
}

impl Writer {
    pub fn new(database_type: &str, description: &str) -> Self {
        Self {
            database_type: database_type.to_string(),
            description: description.to_string(),
            nodes: vec![[Record::Empty; 2]],
            data: Vec::new(),
            offsets: HashMap::new(),
        }
    }

    /// Maps `network` ("198.51.100.0/25", "2001:db8:e0::/48") to `value`. Networks must not
    /// overlap, and IPv6 ones must stay out of the IPv4 subtree and its aliases.
    pub fn insert(&mut self, network: &str, value: &Value) {
        let (addr, len) = network.split_once('/').expect("address/length");
        let len: u8 = len.parse().expect("prefix length");
        let (bits, len) = match addr.parse::<IpAddr>().expect("an IP address") {
            // IPv4 lives in the first /96 of an IPv6 database.
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), len + 96),
            IpAddr::V6(v6) => (u128::from(v6), len),
        };
        assert!((1..=128).contains(&len), "{network}: length out of range");
        let mut encoded = Vec::new();
        encode(&mut encoded, value);
        let offset = match self.offsets.get(&encoded) {
            Some(&offset) => offset,
            None => {
                let offset = u32::try_from(self.data.len()).expect("small data section");
                self.data.extend_from_slice(&encoded);
                self.offsets.insert(encoded, offset);
                offset
            }
        };
        self.set(bits, len, Record::Data(offset), network);
    }

    /// Points the record for `bits/len` at `record`, creating the nodes on the way.
    fn set(&mut self, bits: u128, len: u8, record: Record, what: &str) {
        let mut node = 0usize;
        for depth in 0..len {
            let bit = ((bits >> (127 - depth)) & 1) as usize;
            if depth == len - 1 {
                assert_eq!(
                    self.nodes[node][bit],
                    Record::Empty,
                    "{what} overlaps another network"
                );
                self.nodes[node][bit] = record;
                return;
            }
            node = match self.nodes[node][bit] {
                Record::Node(next) => next as usize,
                Record::Empty => {
                    let next = self.nodes.len();
                    self.nodes.push([Record::Empty; 2]);
                    self.nodes[node][bit] = Record::Node(next as u32);
                    next
                }
                Record::Data(_) => panic!("{what} is inside another network"),
            };
        }
    }

    /// The node of `::/96`, created if missing: the root of the IPv4 subtree.
    fn ipv4_root(&mut self) -> u32 {
        let mut node = 0usize;
        for _ in 0..96 {
            node = match self.nodes[node][0] {
                Record::Node(next) => next as usize,
                Record::Empty => {
                    let next = self.nodes.len();
                    self.nodes.push([Record::Empty; 2]);
                    self.nodes[node][0] = Record::Node(next as u32);
                    next
                }
                Record::Data(_) => panic!("data above the IPv4 subtree"),
            };
        }
        node as u32
    }

    /// The database file; `build_epoch` (seconds since 1970) is its only input besides the
    /// networks, so the same call gives the same bytes.
    pub fn finish(mut self, build_epoch: u64) -> Vec<u8> {
        let ipv4 = self.ipv4_root();
        for (bits, len) in IPV4_ALIASES {
            self.set(bits, len, Record::Node(ipv4), "an IPv4 alias");
        }
        let node_count = u32::try_from(self.nodes.len()).expect("small tree");
        let value = |record: Record| -> u32 {
            let value = match record {
                Record::Empty => node_count,
                Record::Node(node) => node,
                Record::Data(offset) => node_count + DATA_SEPARATOR as u32 + offset,
            };
            assert!(value < 1 << RECORD_BITS, "record does not fit 24 bits");
            value
        };
        let mut out = Vec::new();
        for [left, right] in &self.nodes {
            out.extend_from_slice(&value(*left).to_be_bytes()[1..]);
            out.extend_from_slice(&value(*right).to_be_bytes()[1..]);
        }
        out.extend_from_slice(&[0; DATA_SEPARATOR]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(METADATA_MARKER);
        let metadata = Value::map([
            ("binary_format_major_version", Value::Uint16(2)),
            ("binary_format_minor_version", Value::Uint16(0)),
            ("build_epoch", Value::Uint64(build_epoch)),
            ("database_type", Value::String(self.database_type)),
            (
                "description",
                Value::map([("en", Value::String(self.description))]),
            ),
            ("ip_version", Value::Uint16(6)),
            ("languages", Value::Array(vec![Value::string("en")])),
            ("node_count", Value::Uint32(node_count)),
            ("record_size", Value::Uint16(RECORD_BITS)),
        ]);
        encode(&mut out, &metadata);
        out
    }
}

/// Appends `value` in the data section's encoding.
fn encode(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(text) => {
            control(out, TYPE_STRING, text.len());
            out.extend_from_slice(text.as_bytes());
        }
        Value::Uint16(n) => uint(out, TYPE_UINT16, u64::from(*n)),
        Value::Uint32(n) => uint(out, TYPE_UINT32, u64::from(*n)),
        Value::Uint64(n) => uint(out, TYPE_UINT64, *n),
        Value::Map(pairs) => {
            control(out, TYPE_MAP, pairs.len());
            for (key, value) in pairs {
                encode(out, &Value::String(key.clone()));
                encode(out, value);
            }
        }
        Value::Array(items) => {
            control(out, TYPE_ARRAY, items.len());
            for item in items {
                encode(out, item);
            }
        }
    }
}

/// Unsigned integers take as many big-endian bytes as they need (none for 0).
fn uint(out: &mut Vec<u8>, kind: u8, n: u64) {
    let bytes = n.to_be_bytes();
    let skip = (n.leading_zeros() / 8) as usize;
    control(out, kind, bytes.len() - skip);
    out.extend_from_slice(&bytes[skip..]);
}

/// The control byte: type in the top 3 bits (0 and an extra byte `type - 7` for the extended
/// types), size in the low 5 bits, with 1–3 more bytes for sizes from 29 on.
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (type_bits, extended) = if kind <= 7 {
        (kind << 5, None)
    } else {
        (0, Some(kind - 7))
    };
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, vec![]),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65821) as u32).to_be_bytes()[1..].to_vec()),
    };
    out.push(type_bits | size_bits);
    out.extend(extended);
    out.extend(extra);
}

/// The networks of the geo fixtures: (network, ISO country code, continent code). Documentation
/// prefixes only.
pub const FIXTURE_NETWORKS: [(&str, &str, &str); 6] = [
    ("192.0.2.0/24", "BR", "SA"),
    ("198.51.100.0/25", "DE", "EU"),
    ("198.51.100.128/25", "US", "NA"),
    ("203.0.113.0/24", "JP", "AS"),
    ("2001:db8:e0::/48", "FR", "EU"),
    ("2001:db8:a0::/48", "CA", "NA"),
];

/// Build time of the fixtures: fixed, so they are reproducible (2026-01-01T00:00:00Z).
const FIXTURE_EPOCH: u64 = 1_767_225_600;

/// `test-country.mmdb`: the GeoLite2-Country record layout (`continent.code`,
/// `country.iso_code`, with names and GeoNames ids as real records carry them).
pub fn test_country() -> Vec<u8> {
    let mut writer = Writer::new(
        "GeoLite2-Country",
        "dns-xdp test fixture (GeoLite2-Country layout)",
    );
    for (i, (network, country, continent)) in FIXTURE_NETWORKS.iter().enumerate() {
        let record = Value::map([
            (
                "continent",
                Value::map([
                    ("code", Value::string(continent)),
                    ("geoname_id", Value::Uint32(6_255_140 + i as u32)),
                ]),
            ),
            (
                "country",
                Value::map([
                    ("geoname_id", Value::Uint32(2_921_040 + i as u32)),
                    ("iso_code", Value::string(country)),
                    ("names", Value::map([("en", Value::string(country))])),
                ]),
            ),
        ]);
        writer.insert(network, &record);
    }
    writer.finish(FIXTURE_EPOCH)
}

/// `test-country-code.mmdb`: the simple `country_code` schema (no continent).
pub fn test_country_code() -> Vec<u8> {
    let mut writer = Writer::new("country", "dns-xdp test fixture (country_code schema)");
    for (network, country, _) in FIXTURE_NETWORKS {
        writer.insert(
            network,
            &Value::map([("country_code", Value::string(country))]),
        );
    }
    writer.finish(FIXTURE_EPOCH)
}

/// Makes the bytes of one fixture.
pub type Make = fn() -> Vec<u8>;

/// Every geo fixture: file name and how to make it.
pub const FIXTURES: [(&str, Make); 2] = [
    ("test-country.mmdb", test_country),
    ("test-country-code.mmdb", test_country_code),
];

/// Where the geo fixtures are committed.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/geo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes() {
        let enc = |v: Value| {
            let mut out = Vec::new();
            encode(&mut out, &v);
            out
        };
        assert_eq!(enc(Value::string("en")), [0x42, b'e', b'n']);
        assert_eq!(enc(Value::Uint16(0)), [0xa0]);
        assert_eq!(enc(Value::Uint16(6)), [0xa1, 6]);
        assert_eq!(enc(Value::Uint32(0x1_0000)), [0xc3, 1, 0, 0]);
        assert_eq!(enc(Value::Uint64(1)), [0x01, 0x02, 1]);
        assert_eq!(enc(Value::Array(vec![])), [0x00, 0x04]);
        assert_eq!(enc(Value::map([])), [0xe0]);
        let long = "x".repeat(300);
        assert_eq!(enc(Value::String(long))[..3], [0x5e, 0, 15]);
        assert_eq!(enc(Value::String("y".repeat(29)))[..2], [0x5d, 0]);
    }
}
