//! Zone data → the fast path's answer map. Every answer the kernel sends is computed here, once,
//! as the exact bytes of the answer section plus their checksum; the kernel only copies them.

use hickory_proto::{
    rr::{Name, RData, RecordType},
    serialize::binary::{BinEncodable, BinEncoder},
};

use std::collections::HashMap;

use dns_xdp_common::answer::{
    name_hash, AnswerKey, AnswerValue, DEFAULT_VIEW, MAX_ANSWER_LEN, NAME_BUF_LEN, QTYPE_A,
    QTYPE_AAAA,
};

use crate::zone::{RrSet, Zone};

/// Owner name of every answer record: a compression pointer to the question name, which always
/// starts right after the 12-byte header.
const POINTER_TO_QUESTION: [u8; 2] = [0xC0, 0x0C];
const CLASS_IN: u16 = 1;

/// One map entry, without its generation (assigned when published).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub view: u16,
    pub qtype: u16,
    /// Hash of `name`.
    pub name_hash: u64,
    /// The owner name: lowercased wire format.
    pub name: Box<[u8]>,
    pub answer_count: u16,
    /// The answer section: every record of the RRset, owners compressed to the question.
    pub answer: Box<[u8]>,
}

impl Answer {
    /// The map value. Built when published rather than stored: it is mostly padding (a
    /// million answers would hold ~800 MB of it).
    pub fn value(&self) -> AnswerValue {
        let mut value = AnswerValue::zeroed();
        value.name[..self.name.len()].copy_from_slice(&self.name);
        value.name_len = self.name.len() as u16;
        value.answer_count = self.answer_count;
        value.answer_len = self.answer.len() as u16;
        value.answer_csum = ones_complement_sum(&self.answer);
        value.data[..self.answer.len()].copy_from_slice(&self.answer);
        value
    }

    pub fn key(&self, generation: u32) -> AnswerKey {
        AnswerKey {
            generation,
            view: self.view,
            qtype: self.qtype,
            name_hash: self.name_hash,
        }
    }
}

/// Why an RRset the fast path could serve is left to the fallback server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// The answer section would exceed `MAX_ANSWER_LEN` bytes.
    TooLarge {
        name: Name,
        rtype: RecordType,
        len: usize,
    },
    /// The name is at or below a delegation: it gets a referral, not an authoritative answer.
    BelowZoneCut { name: Name, rtype: RecordType },
    /// Another name published first has the same 64-bit hash (about one in 10^12 for a
    /// million names); only one of them can have the key.
    HashCollision { name: Name, rtype: RecordType },
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::TooLarge { name, rtype, len } => write!(
                f,
                "{name} {rtype}: answer of {len} bytes exceeds the fast path's {MAX_ANSWER_LEN}; \
                 the fallback server answers it"
            ),
            Skipped::BelowZoneCut { name, rtype } => write!(
                f,
                "{name} {rtype}: at or below a delegation; the fallback server answers it"
            ),
            Skipped::HashCollision { name, rtype } => write!(
                f,
                "{name} {rtype}: its name hash collides with another name's; the fallback \
                 server answers it"
            ),
        }
    }
}

/// The answers of the default view for a set of zones.
#[derive(Clone, Debug, Default)]
pub struct AnswerSet {
    answers: Vec<Answer>,
}

impl AnswerSet {
    /// Builds the A and AAAA answers of every zone. Where zones nest, a name belongs to the
    /// zone with the longest origin, as the fallback server decides it.
    pub fn from_zones(zones: &[Zone]) -> (Self, Vec<Skipped>) {
        let mut answers = Vec::new();
        let mut skipped = Vec::new();
        let mut keys = HashMap::new();
        for zone in zones {
            let cuts: Vec<&Name> = zone
                .rrsets()
                .filter(|r| r.rtype == RecordType::NS && r.name != *zone.origin())
                .map(|r| &r.name)
                .collect();
            for rrset in zone.rrsets() {
                if !matches!(rrset.rtype, RecordType::A | RecordType::AAAA) {
                    continue;
                }
                if !owns(zone, zones, &rrset.name) {
                    continue;
                }
                if cuts.iter().any(|cut| cut.zone_of(&rrset.name)) {
                    skipped.push(Skipped::BelowZoneCut {
                        name: rrset.name.clone(),
                        rtype: rrset.rtype,
                    });
                    continue;
                }
                match Answer::from_rrset(rrset) {
                    Ok(answer) => {
                        if keys.insert(answer.key(0), ()).is_some() {
                            skipped.push(Skipped::HashCollision {
                                name: rrset.name.clone(),
                                rtype: rrset.rtype,
                            });
                        } else {
                            answers.push(answer);
                        }
                    }
                    Err(skip) => skipped.push(skip),
                }
            }
        }
        (Self { answers }, skipped)
    }

    /// A set of ready-made answers, as steering and tests build them.
    pub fn from_answers(answers: Vec<Answer>) -> Self {
        Self { answers }
    }

    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Answer> {
        self.answers.iter()
    }
}

/// True when no other zone in `zones` is more specific for `name` than `zone`.
fn owns(zone: &Zone, zones: &[Zone], name: &Name) -> bool {
    let depth = zone.origin().num_labels();
    !zones
        .iter()
        .any(|other| other.origin().num_labels() > depth && other.origin().zone_of(name))
}

impl Answer {
    /// Renders an A or AAAA RRset as answer-section bytes.
    pub fn from_rrset(rrset: &RrSet) -> Result<Self, Skipped> {
        let qtype = match rrset.rtype {
            RecordType::A => QTYPE_A,
            RecordType::AAAA => QTYPE_AAAA,
            other => unreachable!("only A and AAAA RRsets are rendered, not {other}"),
        };
        let mut bytes = Vec::with_capacity(rrset.rdata.len() * 28);
        for rdata in &rrset.rdata {
            let rdata_bytes = encode_rdata(rdata);
            bytes.extend_from_slice(&POINTER_TO_QUESTION);
            bytes.extend_from_slice(&qtype.to_be_bytes());
            bytes.extend_from_slice(&CLASS_IN.to_be_bytes());
            bytes.extend_from_slice(&rrset.ttl.to_be_bytes());
            bytes.extend_from_slice(&(rdata_bytes.len() as u16).to_be_bytes());
            bytes.extend_from_slice(&rdata_bytes);
        }
        if bytes.len() > MAX_ANSWER_LEN {
            return Err(Skipped::TooLarge {
                name: rrset.name.clone(),
                rtype: rrset.rtype,
                len: bytes.len(),
            });
        }
        let (name, name_len) = name_key(&rrset.name);
        Ok(Self {
            view: DEFAULT_VIEW,
            qtype,
            name_hash: name_hash(&name, name_len),
            name: name[..name_len].into(),
            answer_count: rrset.rdata.len() as u16,
            answer: bytes.into(),
        })
    }
}

fn encode_rdata(rdata: &RData) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    let mut encoder = BinEncoder::new(&mut out);
    rdata
        .emit(&mut encoder)
        .expect("A and AAAA RDATA always encode");
    out
}

/// The map form of a name: lowercased wire format, zero padded, and its length.
pub fn name_key(name: &Name) -> ([u8; NAME_BUF_LEN], usize) {
    let mut key = [0u8; NAME_BUF_LEN];
    let mut at = 0;
    for label in name.to_lowercase().iter() {
        key[at] = label.len() as u8;
        key[at + 1..at + 1 + label.len()].copy_from_slice(label);
        at += 1 + label.len();
    }
    // The root label's zero is already there.
    (key, at + 1)
}

/// The 16-bit ones'-complement sum (RFC 1071) of `bytes` starting at an even offset, folded but
/// not complemented.
pub fn ones_complement_sum(bytes: &[u8]) -> u16 {
    let mut sum: u64 = bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]) as u64)
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(text: &str) -> Zone {
        let origin = Name::from_ascii("example.com.").unwrap();
        Zone::parse(&origin, text, "test.zone").unwrap()
    }

    const BASE: &str = "$TTL 300\n\
        @ IN SOA ns1 hostmaster 1 3600 600 86400 60\n\
        @ IN NS ns1\n\
        ns1 IN A 192.0.2.53\n";

    fn find<'a>(set: &'a AnswerSet, name: &str, qtype: u16) -> &'a Answer {
        let (key, _) = name_key(&Name::from_ascii(name).unwrap());
        set.iter()
            .find(|a| a.value().name == key && a.qtype == qtype)
            .unwrap_or_else(|| panic!("no answer for {name} {qtype}"))
    }

    #[test]
    fn renders_a_record_with_pointer_ttl_and_checksum() {
        let z = zone(&format!("{BASE}www 120 IN A 192.0.2.10\n"));
        let (set, skipped) = AnswerSet::from_zones(&[z]);
        assert!(skipped.is_empty());
        let a = find(&set, "www.example.com.", QTYPE_A);
        let expected = [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 192, 0, 2, 10];
        assert_eq!(a.value().answer_count, 1);
        let value = a.value();
        assert_eq!(&value.data[..value.answer_len as usize], &expected);
        assert_eq!(a.value().answer_csum, ones_complement_sum(&expected));
        assert_eq!(a.value().rrsig_len, 0);
    }

    #[test]
    fn renders_whole_aaaa_rrset() {
        let z = zone(&format!(
            "{BASE}v6 IN AAAA 2001:db8::1\nv6 IN AAAA 2001:db8::2\nv6 IN AAAA 2001:db8::3\nv6 IN AAAA 2001:db8::4\n"
        ));
        let (set, _) = AnswerSet::from_zones(&[z]);
        let a = find(&set, "v6.example.com.", QTYPE_AAAA);
        assert_eq!(a.value().answer_count, 4);
        assert_eq!(a.value().answer_len, 4 * 28);
        assert_eq!(&a.value().data[10..12], &[0, 16]);
    }

    #[test]
    fn key_is_lowercase_wire_format_zero_padded() {
        let (key, len) = name_key(&Name::from_ascii("WwW.Example.COM.").unwrap());
        assert_eq!(len, 17);
        assert_eq!(&key[..17], b"\x03www\x07example\x03com\x00");
        assert!(key[17..].iter().all(|&b| b == 0));
    }

    #[test]
    fn only_address_rrsets_become_answers() {
        let z = zone(&format!("{BASE}mail IN MX 10 ns1\ntxt IN TXT \"hi\"\n"));
        let (set, _) = AnswerSet::from_zones(&[z]);
        assert_eq!(set.len(), 1, "only ns1 A");
    }

    #[test]
    fn names_below_a_delegation_are_left_to_the_fallback() {
        let z = zone(&format!("{BASE}sub IN NS ns.sub\nns.sub IN A 192.0.2.99\n"));
        let (set, skipped) = AnswerSet::from_zones(&[z]);
        assert_eq!(set.len(), 1);
        assert!(matches!(skipped[0], Skipped::BelowZoneCut { .. }));
    }

    #[test]
    fn oversized_rrset_is_left_to_the_fallback() {
        let mut text = BASE.to_string();
        for i in 0..40 {
            text.push_str(&format!("big IN A 192.0.2.{i}\n"));
        }
        let (set, skipped) = AnswerSet::from_zones(&[zone(&text)]);
        assert_eq!(set.len(), 1);
        assert!(matches!(skipped[0], Skipped::TooLarge { len: 640, .. }));
    }

    #[test]
    fn nested_zone_owns_its_names() {
        let parent = zone(&format!(
            "{BASE}child IN NS ns1.child\nns1.child IN A 192.0.2.1\n"
        ));
        let child_origin = Name::from_ascii("child.example.com.").unwrap();
        let child = Zone::parse(
            &child_origin,
            "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 198.51.100.1\n",
            "child.zone",
        )
        .unwrap();
        let (set, _) = AnswerSet::from_zones(&[parent, child]);
        let a = find(&set, "ns1.child.example.com.", QTYPE_A);
        assert_eq!(&a.value().data[12..16], &[198, 51, 100, 1]);
        assert_eq!(set.iter().filter(|a| a.qtype == QTYPE_A).count(), 2);
    }

    #[test]
    fn key_hash_covers_case_folded_name_and_type() {
        let (set, _) = AnswerSet::from_zones(&[zone(&format!(
            "{BASE}www A 192.0.2.1\nwww AAAA 2001:db8::1\n"
        ))]);
        let a = find(&set, "www.example.com.", QTYPE_A);
        let aaaa = find(&set, "www.example.com.", QTYPE_AAAA);
        let (upper, len) = name_key(&Name::from_ascii("WWW.EXAMPLE.COM.").unwrap());
        assert_eq!(a.key(7).name_hash, name_hash(&upper, len));
        assert_eq!(a.key(7).generation, 7);
        assert_eq!(a.key(1).name_hash, aaaa.key(1).name_hash);
        assert_ne!(a.key(1), aaaa.key(1), "type is part of the key");
        let (other, len) = name_key(&Name::from_ascii("wwx.example.com.").unwrap());
        assert_ne!(a.key(1).name_hash, name_hash(&other, len));
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        assert_eq!(
            ones_complement_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        assert_eq!(ones_complement_sum(&[0xff]), 0xff00);
    }
}
