//! Authoritative zone data: RFC 1035 master files parsed into an in-memory model.
//!
//! Owner names are stored lowercase (RFC 4343) and all lookups are case-insensitive. RRsets are
//! kept in one vector sorted in canonical DNS name order (RFC 4034 §6.1) and then by type code:
//! this is both the deterministic iteration order and what makes lookups a binary search, and it
//! costs far less memory than a map for zones with millions of names.

mod lexer;
mod parser;
mod rdata;
mod text;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// All records of one owner name and type, as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrSet {
    /// Owner name: lowercase and fully qualified.
    pub name: Name,
    pub rtype: RecordType,
    pub ttl: u32,
    /// In zone-file order, without duplicates (RFC 2181 §5).
    pub rdata: Vec<RData>,
}

impl RrSet {
    /// The RRset as records named `owner`, which lets a responder echo the client's spelling of
    /// the name (it must equal `self.name` apart from case).
    pub fn records<'a>(&'a self, owner: &'a Name) -> impl Iterator<Item = Record> + 'a {
        self.rdata
            .iter()
            .map(move |rdata| Record::from_rdata(owner.clone(), self.ttl, rdata.clone()))
    }
}

/// One authoritative zone.
#[derive(Debug, Clone)]
pub struct Zone {
    origin: Name,
    /// Sorted by (canonical name order, type code); keys are unique.
    rrsets: Vec<RrSet>,
    /// Index of the apex SOA in `rrsets`.
    soa: usize,
    /// True if any name below the apex owns NS records, i.e. the zone delegates; most zones
    /// don't, and then [`Zone::delegation`] needs no lookups.
    has_cuts: bool,
    /// Names that exist without owning RRsets (see [`Zone::insert_empty_name`]); a handful at
    /// most, so a list.
    empty_names: Vec<Name>,
    /// Owner name (lowercase wire format) → (first index, count) of its RRsets in `rrsets`.
    /// Exact lookups are the common case of every query; a binary search over `Name`s costs
    /// ~20 label-by-label comparisons, which the fallback benchmark found to be almost half of
    /// a query's time.
    index: HashMap<Box<[u8]>, (usize, usize)>,
}

/// What a name leads to in the authoritative data of a zone (RFC 1034 §4.3.2 step 3, with RFC
/// 4592 wildcards). Zone cuts are not considered here: ask [`Zone::delegation`] first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'z> {
    /// The name exists and owns these RRsets, ordered by type code. Empty for an empty
    /// non-terminal (RFC 8020), which exists but owns nothing.
    Exact(&'z [RrSet]),
    /// The name does not exist, and the wildcard at its closest encloser (the source of
    /// synthesis, RFC 4592 §3.3.1) owns these RRsets; empty if that wildcard is itself an empty
    /// non-terminal. Answers from them are owned by the name looked up, not by `*`.
    Wildcard(&'z [RrSet]),
    /// Neither the name nor a source of synthesis exists: NXDOMAIN.
    NxDomain,
}

impl Zone {
    /// Reads a master file. `$INCLUDE` paths are resolved against the including file's directory.
    pub fn load(origin: &Name, path: &Path) -> Result<Zone, ZoneError> {
        parser::load(origin, path)
    }

    /// Parses master-file text; `file_label` names it in errors. `$INCLUDE` paths are resolved
    /// against the current directory.
    pub fn parse(origin: &Name, text: &str, file_label: &str) -> Result<Zone, ZoneError> {
        parser::parse(origin, text.as_bytes(), file_label)
    }

    /// Assembles a zone from sorted, validated RRsets; only the parser can guarantee that.
    fn from_sorted(origin: Name, rrsets: Vec<RrSet>) -> Option<Zone> {
        let soa = rrsets
            .iter()
            .take_while(|set| set.name == origin)
            .position(|set| set.rtype == RecordType::SOA)?;
        let has_cuts = rrsets
            .iter()
            .any(|set| set.rtype == RecordType::NS && set.name != origin);
        let index = index_of(&rrsets);
        Some(Zone {
            origin,
            rrsets,
            soa,
            has_cuts,
            empty_names: Vec::new(),
            index,
        })
    }

    /// Adds `rrset`, replacing the RRset of the same owner and type if there is
    /// one. For data that does not come from the zone file, such as flattened ALIAS addresses;
    /// the caller keeps the zone valid (no CNAME beside other data, no SOA).
    ///
    /// # Panics
    /// If the owner is outside the zone or `rrset` is an SOA or empty.
    pub fn insert_rrset(&mut self, mut rrset: RrSet) {
        assert!(
            self.contains(&rrset.name),
            "{} is outside the zone {}",
            rrset.name,
            self.origin
        );
        assert!(
            rrset.rtype != RecordType::SOA,
            "the SOA comes from the zone file"
        );
        assert!(
            !rrset.rdata.is_empty(),
            "an RRset holds at least one record"
        );
        rrset.name = fqdn(&rrset.name).to_lowercase();
        let found = self.rrsets.binary_search_by(|set| {
            set.name
                .cmp(&rrset.name)
                .then_with(|| u16::from(set.rtype).cmp(&u16::from(rrset.rtype)))
        });
        match found {
            Ok(at) => self.rrsets[at] = rrset,
            Err(at) => {
                self.has_cuts |= rrset.rtype == RecordType::NS && rrset.name != self.origin;
                if at <= self.soa {
                    self.soa += 1;
                }
                self.rrsets.insert(at, rrset);
                // Every later RRset moved; inserts are rare (ALIAS flattening), so rebuild.
                self.index = index_of(&self.rrsets);
            }
        }
    }

    /// Makes `name` exist even if it owns no RRsets, as an empty non-terminal
    /// does: a query for it gets NODATA, never NXDOMAIN, and wildcards do not synthesize it.
    ///
    /// # Panics
    /// If `name` is outside the zone.
    pub fn insert_empty_name(&mut self, name: &Name) {
        assert!(
            self.contains(name),
            "{name} is outside the zone {}",
            self.origin
        );
        let name = fqdn(name).to_lowercase();
        if !self.empty_names.contains(&name) {
            self.empty_names.push(name);
        }
    }

    pub fn origin(&self) -> &Name {
        &self.origin
    }

    pub fn soa(&self) -> &RrSet {
        &self.rrsets[self.soa]
    }

    /// True if `name` is at or below the origin.
    pub fn contains(&self, name: &Name) -> bool {
        self.origin.zone_of(name)
    }

    /// All RRsets owned by `name`, ordered by type code.
    pub fn rrsets_at(&self, name: &Name) -> &[RrSet] {
        let mut key = [0u8; 255];
        match wire_name(name, &mut key).and_then(|key| self.index.get(key)) {
            Some(&(start, len)) => &self.rrsets[start..start + len],
            None => &[],
        }
    }

    pub fn rrset(&self, name: &Name, rtype: RecordType) -> Option<&RrSet> {
        self.rrsets_at(name).iter().find(|set| set.rtype == rtype)
    }

    /// True if `name` is in the zone and owns any RRset or is an empty non-terminal, i.e. has
    /// descendants that do (RFC 8020: only a name with neither may get NXDOMAIN).
    pub fn name_exists(&self, name: &Name) -> bool {
        let name = fqdn(name);
        // Canonical order puts a name's descendants right after it, so the first RRset at or
        // after `name` tells whether anything exists at or below it.
        self.contains(&name)
            && (!self.rrsets_at(&name).is_empty()
                || self
                    .rrsets
                    .get(self.lower_bound(&name))
                    .is_some_and(|set| name.zone_of(&set.name))
                || self.empty_names.iter().any(|empty| name.zone_of(empty)))
    }

    /// The zone cut at or above `name`: the NS RRset of its highest ancestor-or-self below the
    /// apex that owns NS records. Everything at or below that name is the child zone's, so the
    /// parent answers with a referral (RFC 1034 §4.3.2 step 3b); data the parent holds there is
    /// glue or occluded, never an authoritative answer. None when `name` is authoritative here,
    /// or not in the zone.
    pub fn delegation(&self, name: &Name) -> Option<&RrSet> {
        if !self.has_cuts || !self.contains(name) {
            return None;
        }
        // Top down, so that a cut below a cut (occluded data itself) never wins.
        (label_count(&self.origin) + 1..=label_count(name))
            .find_map(|labels| self.rrset(&name.trim_to(labels), RecordType::NS))
    }

    /// Looks `name` up as RFC 1034 §4.3.2 step 3 and RFC 4592 §3.3 describe: the name itself,
    /// else the wildcard child of its closest encloser, the longest ancestor that exists (empty
    /// non-terminals included, which is how they block wildcards, RFC 4592 §2.2.2). A query for
    /// the `*` name itself is an exact match (RFC 4592 §2.3: no synthesis happens then).
    pub fn find(&self, name: &Name) -> Lookup<'_> {
        if !self.contains(name) {
            return Lookup::NxDomain;
        }
        let at_name = self.rrsets_at(name);
        if !at_name.is_empty() || self.name_exists(name) {
            return Lookup::Exact(at_name);
        }
        // The apex exists, so some ancestor at or below it is the closest encloser.
        let closest_encloser = (label_count(&self.origin)..label_count(name))
            .rev()
            .map(|labels| name.trim_to(labels))
            .find(|ancestor| self.name_exists(ancestor))
            .unwrap_or_else(|| self.origin.clone());
        match closest_encloser.prepend_label(&b"*"[..]) {
            Ok(wildcard) if self.name_exists(&wildcard) => {
                Lookup::Wildcard(self.rrsets_at(&wildcard))
            }
            // No wildcard there, or one that would be longer than 255 octets.
            _ => Lookup::NxDomain,
        }
    }

    /// Every RRset, in canonical name order and then by type code.
    pub fn rrsets(&self) -> impl Iterator<Item = &RrSet> {
        self.rrsets.iter()
    }

    fn lower_bound(&self, name: &Name) -> usize {
        self.rrsets
            .partition_point(|set| set.name.cmp(name) == Ordering::Less)
    }
}

/// `(first index, count)` of each owner's RRsets in sorted `rrsets`, keyed by the owner's
/// lowercase wire format.
fn index_of(rrsets: &[RrSet]) -> HashMap<Box<[u8]>, (usize, usize)> {
    let mut index: HashMap<Box<[u8]>, (usize, usize)> = HashMap::with_capacity(rrsets.len());
    let mut key = [0u8; 255];
    for (at, set) in rrsets.iter().enumerate() {
        let Some(name) = wire_name(&set.name, &mut key) else {
            continue;
        };
        match index.get_mut(name) {
            Some((_, count)) => *count += 1,
            None => {
                index.insert(name.into(), (at, 1));
            }
        }
    }
    index
}

/// `name` as lowercase wire format (fully qualified) in `buf`: the form names are compared in,
/// whatever their case (RFC 4343). None if it cannot be a name.
pub fn wire_name<'b>(name: &Name, buf: &'b mut [u8; 255]) -> Option<&'b [u8]> {
    let mut at = 0;
    for label in name.iter() {
        let end = at + 1 + label.len();
        // The root label still has to fit.
        if end >= buf.len() {
            return None;
        }
        buf[at] = label.len() as u8;
        for (out, byte) in buf[at + 1..end].iter_mut().zip(label) {
            *out = byte.to_ascii_lowercase();
        }
        at = end;
    }
    buf[at] = 0;
    Some(&buf[..=at])
}

/// Labels in `name`, the root not counted. (`Name::num_labels` does not count a leading `*`.)
fn label_count(name: &Name) -> usize {
    name.iter().len()
}

/// Stored names are fully qualified; a relative name would sort before all of them.
fn fqdn(name: &Name) -> Cow<'_, Name> {
    if name.is_fqdn() {
        Cow::Borrowed(name)
    } else {
        let mut name = name.clone();
        name.set_fqdn(true);
        Cow::Owned(name)
    }
}

/// A line of a zone file, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Why a zone could not be loaded. Each message says where, what is wrong and how to fix it.
/// Names are kept as text: errors are for people, and `Name` would make every `Result` large.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    #[error("{}: cannot read zone file: {source}; check that the file exists and is readable", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{at}: cannot read $INCLUDE file {}: {source}; relative paths are resolved against the including file's directory", path.display())]
    Include {
        at: Location,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{at}: $INCLUDE of {} nests more than {max} files deep; check for a file that includes itself", path.display())]
    IncludeTooDeep {
        at: Location,
        path: PathBuf,
        max: usize,
    },
    #[error("{at}: {problem}; {fix}")]
    Syntax {
        at: Location,
        problem: String,
        fix: String,
    },
    #[error("{at}: invalid domain name `{name}`: {problem}; a label holds 1 to 63 octets and a whole name at most 255")]
    BadName {
        at: Location,
        name: String,
        problem: String,
    },
    #[error("{at}: record has no TTL and no $TTL or SOA record precedes it; give the record a TTL or put a $TTL line at the top of the file")]
    NoTtl { at: Location },
    #[error("{at}: class {class} is not supported; only IN zones are served, so use IN or leave the class out")]
    UnsupportedClass { at: Location, class: String },
    #[error("{at}: unknown record type `{rtype}`; check the spelling, or write the record in RFC 3597 form `TYPEnnn \\# <length> <hex>`")]
    UnknownType { at: Location, rtype: String },
    #[error(
        "{at}: {rtype} is a meta or query type and cannot be stored in a zone; remove the record"
    )]
    MetaType { at: Location, rtype: RecordType },
    #[error("{at}: {rtype} records can only be written in RFC 3597 generic form here; write `{rtype} \\# <length> <hex rdata>`")]
    NeedsGenericSyntax { at: Location, rtype: RecordType },
    #[error("{at}: invalid {rtype} data: {problem}; expected `{rtype} {expected}`")]
    BadRdata {
        at: Location,
        rtype: RecordType,
        problem: String,
        expected: &'static str,
    },
    #[error("{at}: owner {name} is outside the zone {origin}; fix the name (without a trailing dot it is relative to $ORIGIN) or move the record to its own zone")]
    OutOfZone {
        at: Location,
        name: String,
        origin: String,
    },
    #[error("{at}: SOA record at {name}, but an SOA belongs only at the zone apex {origin}; fix its owner or remove it")]
    SoaNotAtApex {
        at: Location,
        name: String,
        origin: String,
    },
    #[error("{at}: second SOA record (the first is at {first}); a zone has exactly one, so remove one of them")]
    DuplicateSoa { at: Location, first: Location },
    #[error("{at}: end of zone {origin} without an SOA record at its apex; add one")]
    MissingSoa { at: Location, origin: String },
    #[error("{at}: zone {origin} has an SOA but no NS records at its apex; add at least one NS record for {origin}")]
    MissingApexNs { at: Location, origin: String },
    #[error("{at}: {name} has a CNAME and {other} data (at {other_at}); a name with a CNAME can have no other records (RFC 1034 §3.6.2), so remove one of them")]
    CnameAndOtherData {
        at: Location,
        name: String,
        other: RecordType,
        other_at: Location,
    },
    #[error("{at}: {name} has more than one CNAME record; a name can have only one, so keep one")]
    MultipleCnames { at: Location, name: String },
    #[error("{at}: missing glue: the delegation {cut} names the name server {target}, which is inside it, but this zone has no A or AAAA record for {target}; resolvers cannot find that server without one (RFC 9471), so add its address here or use a name server outside {cut}")]
    MissingGlue {
        at: Location,
        cut: String,
        target: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::A;
    use std::net::Ipv4Addr;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn zone() -> Zone {
        Zone::parse(
            &n("example.com."),
            "$TTL 300\n\
             @ SOA ns hostmaster 1 2 3 4 5\n\
             @ NS ns\n\
             ns A 192.0.2.1\n\
             www A 192.0.2.2\n\
             www AAAA 2001:db8::2\n\
             a.b.c TXT x\n\
             z MX 10 www\n",
            "t.zone",
        )
        .unwrap()
    }

    #[test]
    fn lookups_are_case_insensitive_and_accept_relative_names() {
        let z = zone();
        let set = z.rrset(&n("WwW.ExAmPlE.cOm."), RecordType::A).unwrap();
        assert_eq!(set.rdata, vec![RData::A(A(Ipv4Addr::new(192, 0, 2, 2)))]);
        assert!(z.rrset(&n("www.example.com"), RecordType::AAAA).is_some());
        assert!(z.rrset(&n("www.example.com."), RecordType::MX).is_none());
        assert_eq!(z.rrsets_at(&n("www.example.com.")).len(), 2);
        assert!(z.rrsets_at(&n("nope.example.com.")).is_empty());
    }

    #[test]
    fn contains_is_case_insensitive_and_bounded_by_origin() {
        let z = zone();
        assert!(z.contains(&n("EXAMPLE.com.")));
        assert!(z.contains(&n("deep.below.example.com.")));
        assert!(!z.contains(&n("com.")));
        assert!(!z.contains(&n("example.net.")));
        assert!(!z.contains(&n("notexample.com.")));
    }

    #[test]
    fn name_exists_includes_empty_non_terminals() {
        let z = zone();
        assert!(z.name_exists(&n("example.com.")));
        assert!(z.name_exists(&n("WWW.example.com.")));
        assert!(z.name_exists(&n("c.example.com.")), "empty non-terminal");
        assert!(z.name_exists(&n("B.C.example.com.")), "empty non-terminal");
        assert!(z.name_exists(&n("a.b.c.example.com.")));
        assert!(!z.name_exists(&n("x.a.b.c.example.com.")));
        assert!(!z.name_exists(&n("d.example.com.")));
        assert!(!z.name_exists(&n("zz.example.com.")));
        assert!(!z.name_exists(&n("example.net.")));
        assert!(!z.name_exists(&n("com.")), "above the zone");
        assert!(!z.name_exists(&Name::root()), "above the zone");
        assert!(z.name_exists(&n("b.c.example.com")), "relative name");
    }

    #[test]
    fn soa_and_origin() {
        let z = zone();
        assert_eq!(z.origin(), &n("example.com."));
        assert_eq!(z.soa().rtype, RecordType::SOA);
        assert_eq!(z.soa().name, n("example.com."));
    }

    #[test]
    fn rrsets_iterate_in_canonical_then_type_order() {
        let z = zone();
        let got: Vec<(String, RecordType)> =
            z.rrsets().map(|s| (s.name.to_string(), s.rtype)).collect();
        let want = [
            ("example.com.", RecordType::NS),
            ("example.com.", RecordType::SOA),
            ("a.b.c.example.com.", RecordType::TXT),
            ("ns.example.com.", RecordType::A),
            ("www.example.com.", RecordType::A),
            ("www.example.com.", RecordType::AAAA),
            ("z.example.com.", RecordType::MX),
        ];
        let want: Vec<(String, RecordType)> =
            want.iter().map(|(s, t)| (s.to_string(), *t)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn records_take_the_given_owner() {
        let z = zone();
        let owner = n("WWW.Example.COM.");
        let set = z.rrset(&owner, RecordType::A).unwrap();
        let records: Vec<Record> = set.records(&owner).collect();
        assert_eq!(records.len(), 1);
        assert!(records[0].name.eq_case(&owner));
        assert_eq!(records[0].ttl, 300);
    }

    #[test]
    fn location_display() {
        let at = Location {
            file: "a/b.zone".into(),
            line: 7,
        };
        assert_eq!(at.to_string(), "a/b.zone:7");
    }
    fn delegating_zone() -> Zone {
        Zone::parse(
            &n("example.com."),
            "$TTL 300\n\
             @ SOA ns hostmaster 1 2 3 4 5\n\
             @ NS ns\n\
             ns A 192.0.2.1\n\
             sub NS ns.sub\n\
             ns.sub A 192.0.2.3\n\
             deeper.sub NS ns.sub\n\
             * TXT wild\n\
             *.w TXT wild-w\n\
             a.b TXT x\n",
            "t.zone",
        )
        .unwrap()
    }

    #[test]
    fn delegation_finds_the_highest_cut_at_or_above_a_name() {
        let z = delegating_zone();
        let cut = |name: &str| z.delegation(&n(name)).map(|ns| ns.name.to_string());
        assert_eq!(cut("sub.example.com."), Some("sub.example.com.".into()));
        assert_eq!(cut("X.Sub.example.com."), Some("sub.example.com.".into()));
        assert_eq!(
            cut("a.deeper.sub.example.com."),
            Some("sub.example.com.".into())
        );
        assert_eq!(cut("example.com."), None, "apex NS is not a cut");
        assert_eq!(cut("ns.example.com."), None);
        assert_eq!(cut("subx.example.com."), None);
        assert_eq!(cut("example.net."), None);
        assert_eq!(zone().delegation(&n("www.example.com.")), None);
    }

    #[test]
    fn find_exact_wildcard_and_nxdomain() {
        let z = delegating_zone();
        let Lookup::Exact(sets) = z.find(&n("NS.example.com.")) else {
            panic!()
        };
        assert_eq!(sets.len(), 1);
        assert_eq!(
            z.find(&n("b.example.com.")),
            Lookup::Exact(&[]),
            "empty non-terminal"
        );
        let Lookup::Wildcard(sets) = z.find(&n("x.y.example.com.")) else {
            panic!()
        };
        assert_eq!(sets[0].name, n("*.example.com."));
        let Lookup::Wildcard(sets) = z.find(&n("q.w.example.com.")) else {
            panic!()
        };
        assert_eq!(sets[0].name, n("*.w.example.com."), "closest encloser w");
        assert_eq!(
            z.find(&n("x.b.example.com.")),
            Lookup::NxDomain,
            "ENT blocks *"
        );
        assert!(matches!(z.find(&n("*.example.com.")), Lookup::Exact(_)));
        assert_eq!(z.find(&n("example.net.")), Lookup::NxDomain);
        assert_eq!(zone().find(&n("nope.example.com.")), Lookup::NxDomain);
    }

    #[test]
    fn inserted_rrsets_and_empty_names_are_served() {
        let mut z = zone();
        let apex_a = RrSet {
            name: n("EXAMPLE.com."),
            rtype: RecordType::A,
            ttl: 60,
            rdata: vec![RData::A(A(Ipv4Addr::new(198, 51, 100, 7)))],
        };
        z.insert_rrset(apex_a.clone());
        assert_eq!(
            z.soa().rtype,
            RecordType::SOA,
            "the SOA index follows the insert"
        );
        let set = z.rrset(&n("example.com."), RecordType::A).unwrap();
        assert_eq!(
            (set.ttl, set.name.to_string().as_str()),
            (60, "example.com.")
        );
        let mut replaced = apex_a;
        replaced.ttl = 30;
        z.insert_rrset(replaced);
        assert_eq!(z.rrsets_at(&n("example.com.")).len(), 3, "A, NS, SOA");
        assert_eq!(z.rrset(&n("example.com."), RecordType::A).unwrap().ttl, 30);

        assert_eq!(z.find(&n("shop.x.example.com.")), Lookup::NxDomain);
        z.insert_empty_name(&n("Shop.X.example.com."));
        assert_eq!(z.find(&n("shop.x.example.com.")), Lookup::Exact(&[]));
        assert_eq!(
            z.find(&n("x.example.com.")),
            Lookup::Exact(&[]),
            "an ancestor exists"
        );
        assert_eq!(z.find(&n("y.shop.x.example.com.")), Lookup::NxDomain);
    }
}
