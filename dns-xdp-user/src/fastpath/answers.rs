//! The fast path's answer map as the agent lays it out: rendered RRsets and steered pools →
//! map entries. The bytes are [`crate::render`]'s; this module decides the keys, the views and
//! variants, and the order in which changes reach the kernel.
//!
//! Zone RRsets become one entry each (view 0, variant 0). Steered pools ([`AnswerSet::add_steered`])
//! become one entry per view and variant, laid out as the kernel reads them (see
//! `dns_xdp_common::answer`). Changes in place are applied with the ordered [`Change`]s of
//! [`AnswerSet::changes_to`].
//!
//! The kernel never signs: it appends the RRSIG records rendered for it. The set remembers
//! when the first of its signatures is due for renewal ([`AnswerSet::renew_at`]): the agent
//! publishes afresh by then.

use std::{
    collections::{hash_map::Entry, HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
};

use hickory_proto::rr::{Name, RecordType};

use dns_xdp_common::answer::{
    AnswerKey, AnswerValue, DEFAULT_VIEW, DNSSEC_SIGNED, DNSSEC_UNPUBLISHED, DNSSEC_UNSIGNED,
    FIRST_VARIANT, QTYPE_A, QTYPE_AAAA,
};

use crate::{
    catalog::Snapshot,
    dnssec::{self, Signer},
    render::{
        keyed, ones_complement_sum,
        section::{address_rdata, render, Section},
        signatures::{earliest, sign},
        Rendered, RenderedRrset, Signatures, Skipped,
    },
    zone::RrSet,
};

/// Most views a steered answer has: view ids are one byte.
pub const MAX_VIEWS: usize = u8::MAX as usize + 1;
/// Most variants one view of a steered answer has (`AnswerValue::variants` is one byte).
pub const MAX_VARIANTS: usize = u8::MAX as usize;

/// One map entry, without its generation (assigned when published).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub view: u8,
    pub variant: u8,
    /// The answer depends on the client's view: the kernel looks the view up.
    pub per_view: bool,
    /// How many variants this entry's view has (at least 1); the kernel picks one at random.
    pub variants: u8,
    pub qtype: u16,
    /// Hash of `name`.
    pub name_hash: u64,
    /// The owner name: lowercased wire format.
    pub name: Arc<[u8]>,
    pub answer_count: u16,
    /// The answer section: every record of the RRset, owners compressed to the question.
    /// Empty for the view-0 entry of a steered name whose default view has no answer.
    pub answer: Arc<[u8]>,
    /// What a DO=1 query gets beside the RRset.
    pub dnssec: Signatures,
}

impl Answer {
    /// The map value. Built when published rather than stored: it is mostly padding (a
    /// million answers would hold ~800 MB of it).
    pub fn value(&self) -> AnswerValue {
        let mut value = AnswerValue::empty();
        value.name[..self.name.len()].copy_from_slice(&self.name);
        value.name_len = self.name.len() as u8;
        value.answer_count = self.answer_count;
        value.answer_len = self.answer.len() as u16;
        value.answer_csum = ones_complement_sum(&self.answer);
        value.data[..self.answer.len()].copy_from_slice(&self.answer);
        value.dnssec = match &self.dnssec {
            Signatures::Unsigned => DNSSEC_UNSIGNED,
            Signatures::Unpublished => DNSSEC_UNPUBLISHED,
            Signatures::Signed { count, bytes } => {
                let at = self.answer.len();
                value.rrsig_count = *count;
                value.rrsig_len = bytes.len() as u16;
                value.rrsig_csum = ones_complement_sum(bytes);
                value.data[at..at + bytes.len()].copy_from_slice(bytes);
                DNSSEC_SIGNED
            }
        };
        value.per_view = u8::from(self.per_view);
        value.variants = self.variants;
        value
    }

    pub fn key(&self, generation: u32) -> AnswerKey {
        AnswerKey {
            generation,
            view: self.view,
            variant: self.variant,
            qtype: self.qtype,
            name_hash: self.name_hash,
        }
    }

    /// The same answer for every client and every query: neither the client's view nor chance
    /// picks it. Only such answers can be given without knowing who asks.
    pub fn is_fixed(&self) -> bool {
        !self.per_view && self.variants == 1
    }
}

/// The fast path's answers, by map key (generation 0): the zones' entries, which only a whole
/// publication changes, and the pools', which change in place with health.
#[derive(Clone, Debug, Default)]
pub struct AnswerSet {
    /// One per rendered RRset (and the ready-made entries tests build).
    zones: HashMap<AnswerKey, Answer>,
    /// Every view and variant of every pool.
    pools: HashMap<AnswerKey, Answer>,
    /// (type, name hash) of the steered names, which a second pool may not take over.
    steered: HashSet<(u16, u64)>,
    /// Unix seconds: the earliest renewal time of the signatures in each part.
    zones_renew_at: Option<u64>,
    pools_renew_at: Option<u64>,
}

/// One change to the live answer map. [`AnswerSet::changes_to`] lists them in the order that
/// keeps every lookup chain whole: an entry is written before the entry that leads to it (a
/// view's variant 0 leads to its other variants, view 0 to the other views), and deleted after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// Insert the entry, or replace the one with its key.
    Write(&'a Answer),
    /// Delete the entry with this key (its generation is 0; the live one applies).
    Delete(AnswerKey),
}

impl Change<'_> {
    pub fn key(&self) -> AnswerKey {
        match self {
            Change::Write(answer) => answer.key(0),
            Change::Delete(key) => *key,
        }
    }
}

/// The changes from one set to another, in the order to apply them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes<'a> {
    pub list: Vec<Change<'a>>,
    /// How many of the writes add a key the old set lacks: what the map needs room for.
    pub inserted: usize,
}

impl Changes<'_> {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Where an entry sits in its lookup chain: 2 for view 0 variant 0 (looked up first), 1 for
/// another view's variant 0, 0 for other variants (looked up last).
fn chain_rank(key: &AnswerKey) -> u8 {
    match (key.view, key.variant) {
        (DEFAULT_VIEW, FIRST_VARIANT) => 2,
        (_, FIRST_VARIANT) => 1,
        _ => 0,
    }
}

impl AnswerSet {
    /// The entries of a snapshot's rendered RRsets.
    pub fn of(snapshot: &Snapshot) -> (Self, Vec<Skipped>) {
        let rendered = Rendered::of(snapshot);
        let (set, mut skipped) = Self::from_rendered(&rendered);
        skipped.extend_from_slice(rendered.skipped());
        (set, skipped)
    }

    /// One entry (view 0, variant 0) per rendered RRset; the RRsets whose name hash another
    /// name took first are left out.
    pub fn from_rendered(rendered: &Rendered) -> (Self, Vec<Skipped>) {
        let mut set = Self {
            zones_renew_at: rendered.renew_at(),
            ..Self::default()
        };
        let mut skipped = Vec::new();
        for rrset in rendered.iter() {
            let answer = Answer::fixed(rrset);
            match set.zones.entry(answer.key(0)) {
                Entry::Occupied(_) => skipped.push(Skipped::HashCollision {
                    name: wire_to_name(&rrset.name),
                    rtype: RecordType::from(rrset.qtype),
                }),
                Entry::Vacant(slot) => {
                    slot.insert(answer);
                }
            }
        }
        (set, skipped)
    }

    /// A set of ready-made answers, as tests build them. Of two answers with one key, the later
    /// one is kept.
    pub fn from_answers(answers: Vec<Answer>) -> Self {
        Self {
            zones: answers.into_iter().map(|a| (a.key(0), a)).collect(),
            ..Self::default()
        }
    }

    /// Unix seconds by which the set's signatures are due for renewal: from then on the
    /// signer makes new ones, and the set should be built and published afresh (long before
    /// the old ones expire: see `SigningConfig::refresh`). None without signatures.
    pub fn renew_at(&self) -> Option<u64> {
        earliest(self.zones_renew_at, self.pools_renew_at)
    }

    /// Adds the answers of a steered pool: `name` (any case) and `qtype` (A or AAAA), its `ttl`,
    /// whether the answer depends on the client's view, and `views[v]` for each view `v` (only
    /// `views[0]` unless `per_view`): `None` where the view answers NODATA, else its variants,
    /// each a non-empty list of addresses of `qtype`'s family, rendered in the order given.
    /// Views past the end of `views` are like `None`. Of a view's variants, each query gets one
    /// picked uniformly at random.
    ///
    /// The pool replaces a zone RRset of the same name and type. Nothing is added when it is
    /// skipped: the fallback server answers the whole pool then.
    ///
    /// NODATA is never answered by the fast path, which would need the zone's SOA: a view
    /// without an answer gets no entry, and a query that ends up there passes up (counter
    /// `pass_no_view`). For a `per_view` pool whose view 0 is NODATA, view 0 still gets an entry,
    /// without an answer, so clients of the other views are answered in the kernel.
    ///
    /// A pool in a signed zone gives its `signer`: each view's and variant's RRset is signed as
    /// it is now, as the fallback signs the answer it picks.
    pub fn add_steered(
        &mut self,
        name: &Name,
        qtype: RecordType,
        ttl: u32,
        per_view: bool,
        views: &[Option<Vec<Vec<IpAddr>>>],
        signer: Option<&Signer>,
    ) -> Result<(), Skipped> {
        let now = dnssec::unix_now();
        let mut renew_at = None;
        let unsteerable = |reason: String| Skipped::Unsteerable {
            name: name.clone(),
            rtype: qtype,
            reason,
        };
        let wire_type = match qtype {
            RecordType::A => QTYPE_A,
            RecordType::AAAA => QTYPE_AAAA,
            other => return Err(unsteerable(format!("type {other} cannot be steered"))),
        };
        if views.len() > MAX_VIEWS {
            return Err(unsteerable(format!(
                "{} views, more than the fast path's {MAX_VIEWS}",
                views.len()
            )));
        }
        if !per_view && views.len() > 1 {
            return Err(unsteerable(format!(
                "{} views for an answer that does not vary by view",
                views.len()
            )));
        }
        let (name_bytes, name_hash) = keyed(name);
        let name_bytes: Arc<[u8]> = name_bytes.into();
        let entry =
            |view: usize, variant: usize, variants: usize, answer: Section, dnssec: Signatures| {
                Answer {
                    view: view as u8,
                    variant: variant as u8,
                    per_view,
                    variants: variants as u8,
                    qtype: wire_type,
                    name_hash,
                    name: name_bytes.clone(),
                    answer_count: answer.count,
                    answer: answer.bytes,
                    dnssec,
                }
            };
        let mut entries = Vec::new();
        for (view, variants) in views.iter().enumerate() {
            let Some(variants) = variants else { continue };
            if variants.is_empty() || variants.len() > MAX_VARIANTS {
                return Err(unsteerable(format!(
                    "view {view} has {} variants; it needs 1 to {MAX_VARIANTS} (or NODATA)",
                    variants.len()
                )));
            }
            for (variant, addrs) in variants.iter().enumerate() {
                let rdata = addrs
                    .iter()
                    .map(|addr| match (addr, qtype) {
                        (IpAddr::V4(v4), RecordType::A) => Some(v4.octets().to_vec()),
                        (IpAddr::V6(v6), RecordType::AAAA) => Some(v6.octets().to_vec()),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
                    .filter(|rdata| !rdata.is_empty())
                    .ok_or_else(|| {
                        unsteerable(format!(
                            "view {view} variant {variant} is not a non-empty list of {qtype} \
                             addresses: {addrs:?}"
                        ))
                    })?;
                let answer = render(wire_type, ttl, &rdata).map_err(|len| Skipped::TooLarge {
                    name: name.clone(),
                    rtype: qtype,
                    len,
                })?;
                let dnssec = match signer {
                    None => Signatures::Unsigned,
                    Some(signer) => {
                        let rrset = RrSet {
                            name: name.clone(),
                            rtype: qtype,
                            ttl,
                            rdata: addrs.iter().map(|&addr| address_rdata(addr)).collect(),
                        };
                        let signed = sign(signer, &rrset, answer.bytes.len(), now);
                        renew_at = earliest(renew_at, signed.renew_at);
                        signed.rrsigs
                    }
                };
                entries.push(entry(view, variant, variants.len(), answer, dnssec));
            }
        }
        if per_view && !entries.is_empty() && entries[0].view != DEFAULT_VIEW {
            let nothing = Section::empty();
            // No RRset, so nothing to sign: the marker only leads to the other views.
            let dnssec = match signer {
                None => Signatures::Unsigned,
                Some(_) => Signatures::Unpublished,
            };
            entries.insert(0, entry(0, 0, 1, nothing, dnssec));
        }

        let root = AnswerKey {
            generation: 0,
            view: DEFAULT_VIEW,
            variant: FIRST_VARIANT,
            qtype: wire_type,
            name_hash,
        };
        if self.steered.contains(&(wire_type, name_hash)) {
            return Err(match self.pools.get(&root) {
                Some(other) if other.name != name_bytes => Skipped::HashCollision {
                    name: name.clone(),
                    rtype: qtype,
                },
                _ => unsteerable("another pool already serves this name and type".into()),
            });
        }
        if let Some(zone_answer) = self.zones.get(&root) {
            if zone_answer.name != name_bytes {
                return Err(Skipped::HashCollision {
                    name: name.clone(),
                    rtype: qtype,
                });
            }
            self.zones.remove(&root);
        }
        self.steered.insert((wire_type, name_hash));
        self.pools
            .extend(entries.into_iter().map(|a| (a.key(0), a)));
        self.pools_renew_at = earliest(self.pools_renew_at, renew_at);
        Ok(())
    }

    /// This set with the pools' entries of `other` in place of its own: what a health change
    /// makes of the set being served.
    pub fn with_pools_of(&self, other: &AnswerSet) -> AnswerSet {
        AnswerSet {
            zones: self.zones.clone(),
            pools: other.pools.clone(),
            steered: other.steered.clone(),
            zones_renew_at: self.zones_renew_at,
            pools_renew_at: other.pools_renew_at,
        }
    }

    pub fn len(&self) -> usize {
        self.zones.len() + self.pools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &Answer> {
        self.zones.values().chain(self.pools.values())
    }

    /// The pools' entries.
    pub fn pools(&self) -> impl Iterator<Item = &Answer> {
        self.pools.values()
    }

    /// The answer with `key`, whose generation must be 0.
    pub fn get(&self, key: &AnswerKey) -> Option<&Answer> {
        self.zones.get(key).or_else(|| self.pools.get(key))
    }

    /// Applies `changes`, made to the pools' entries of a set like this one, to this set: how
    /// the agent's record of what the kernel holds follows each change the kernel took.
    pub fn apply_to_pools(&mut self, changes: &[Change<'_>]) {
        for change in changes {
            match *change {
                Change::Write(answer) => {
                    self.pools.insert(answer.key(0), answer.clone());
                }
                Change::Delete(key) => {
                    self.pools.remove(&key);
                }
            }
        }
    }

    /// The changes that turn the pools' entries of `self` into those of `new`, ordered as
    /// [`AnswerSet::changes_to`] orders them; the zones' entries are not looked at.
    pub fn pool_changes_to<'a>(&self, new: &'a AnswerSet) -> Changes<'a> {
        diff(
            |key| self.pools.get(key),
            self.pools.keys(),
            |key| self.get(key).is_some(),
            |key| new.pools.contains_key(key),
            new.pools.iter(),
        )
    }

    /// The changes that turn the map entries of `self` into those of `new`, in the order to
    /// apply them: writes (new and changed entries) before deletes, writes deepest in the lookup
    /// chain first and deletes shallowest first. So a view or variant is in place before
    /// anything leads to it, and nothing leads to it any more when it goes: every step leaves
    /// each lookup chain whole. (Queries overlapping the batch pass up anyway, see
    /// `Dataplane::update_answers`; the order keeps a batch stopped by an error consistent.)
    /// Entries equal in both are not touched.
    pub fn changes_to<'a>(&self, new: &'a AnswerSet) -> Changes<'a> {
        diff(
            |key| self.get(key),
            self.zones.keys().chain(self.pools.keys()),
            |key| self.get(key).is_some(),
            |key| new.get(key).is_some(),
            new.zones.iter().chain(new.pools.iter()),
        )
    }
}

/// The ordered changes from the entries `old` finds (whose keys are `old_keys`) to `new`
/// (whose keys `in_new` tells); `in_map` tells the keys the map holds already, which a write
/// replaces rather than inserts.
fn diff<'o, 'a>(
    old: impl Fn(&AnswerKey) -> Option<&'o Answer>,
    old_keys: impl Iterator<Item = &'o AnswerKey>,
    in_map: impl Fn(&AnswerKey) -> bool,
    in_new: impl Fn(&AnswerKey) -> bool,
    new: impl Iterator<Item = (&'a AnswerKey, &'a Answer)>,
) -> Changes<'a> {
    let mut writes = Vec::new();
    let mut inserted = 0;
    for (key, answer) in new {
        if old(key) != Some(answer) {
            inserted += usize::from(!in_map(key));
            writes.push(Change::Write(answer));
        }
    }
    let deletes = old_keys
        .filter(|key| !in_new(key))
        .map(|key| Change::Delete(*key))
        .collect();
    Changes {
        list: order(writes).into_iter().chain(order(deletes)).collect(),
        inserted,
    }
}

/// Writes deepest in the lookup chain first, deletes shallowest first (see
/// [`AnswerSet::changes_to`]); `changes` are all writes or all deletes.
fn order(mut changes: Vec<Change<'_>>) -> Vec<Change<'_>> {
    changes.sort_by_key(|change| {
        let rank = chain_rank(&change.key());
        match change {
            Change::Write(_) => rank,
            Change::Delete(_) => 2 - rank,
        }
    });
    changes
}

impl Answer {
    /// The entry of a rendered RRset: view 0, variant 0, the same for every client.
    pub fn fixed(rrset: &RenderedRrset) -> Self {
        Self {
            view: DEFAULT_VIEW,
            variant: FIRST_VARIANT,
            per_view: false,
            variants: 1,
            qtype: rrset.qtype,
            name_hash: rrset.name_hash,
            name: rrset.name.clone(),
            answer_count: rrset.section.count,
            answer: rrset.section.bytes.clone(),
            dnssec: rrset.signatures.clone(),
        }
    }
}

/// The name of a map-form key, for the log.
pub fn wire_to_name(wire: &[u8]) -> Name {
    let mut labels = Vec::new();
    let mut at = 0;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        labels.push(&wire[at + 1..(at + 1 + usize::from(len)).min(wire.len())]);
        at += 1 + usize::from(len);
    }
    Name::from_labels(labels).unwrap_or_else(|_| Name::root())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        render::name_key,
        zone::{Name, Zone},
    };
    use dns_xdp_common::answer::name_hash;

    /// The entries of unsigned `zones`, as a publication makes them.
    fn from_zones(zones: impl IntoIterator<Item = Zone>) -> (AnswerSet, Vec<Skipped>) {
        AnswerSet::of(&Snapshot::unsigned(zones))
    }

    fn zone(text: &str) -> Zone {
        let origin = Name::from_ascii("example.com.").unwrap();
        Zone::parse(&origin, text, "test.zone").unwrap()
    }

    const BASE: &str = "$TTL 300\n\
        @ IN SOA ns1 hostmaster 1 3600 600 86400 60\n\
        @ IN NS ns1\n\
        ns1 IN A 192.0.2.53\n";

    /// The entry of `name` and `qtype` in view 0, variant 0.
    fn find<'a>(set: &'a AnswerSet, name: &str, qtype: u16) -> &'a Answer {
        let (key, _) = name_key(&Name::from_ascii(name).unwrap());
        set.iter()
            .find(|a| a.value().name == key && a.qtype == qtype && (a.view, a.variant) == (0, 0))
            .unwrap_or_else(|| panic!("no answer for {name} {qtype}"))
    }

    #[test]
    fn renders_a_record_with_pointer_ttl_and_checksum() {
        let z = zone(&format!("{BASE}www 120 IN A 192.0.2.10\n"));
        let (set, skipped) = from_zones([z]);
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
    fn signed_zones_publish_rrsigs_after_the_rrset_when_they_fit() {
        use crate::dnssec::{generate_zone_keys, KeyAlgorithm, SigningConfig};
        let dir = std::env::temp_dir().join(format!("dns-xdp-answers-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let origin = Name::from_ascii("example.com.").unwrap();
        let now = dnssec::unix_now();
        generate_zone_keys(&dir, &origin, KeyAlgorithm::EcdsaP256Sha256, false, now).unwrap();
        let signer = Signer::load(&dir, &origin, SigningConfig::default()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let mut text = format!("{BASE}www 120 IN A 192.0.2.10\n");
        for i in 0..31 {
            text.push_str(&format!("big IN A 198.51.100.{i}\n"));
        }
        let z = zone(&text);
        let signer = std::sync::Arc::new(signer);
        let (set, skipped) = AnswerSet::of(&Snapshot::new([(z.clone(), Some(signer.clone()))]));
        assert!(skipped.is_empty(), "{skipped:?}");

        let www = find(&set, "www.example.com.", QTYPE_A);
        let rrset = z.rrset(
            &Name::from_ascii("www.example.com.").unwrap(),
            RecordType::A,
        );
        let rrset = rrset.unwrap();
        // The signer's cache hands out the signature the set holds: the fallback's too.
        let sigs = signer.sign(&rrset.name, rrset, now).unwrap();
        let wire = sigs.wire_after_question(&rrset.name, 120);
        assert_eq!(
            www.dnssec,
            Signatures::Signed {
                count: 1,
                bytes: wire.bytes.clone().into()
            }
        );
        assert_eq!(set.renew_at(), Some(sigs.renew_at()));
        let value = www.value();
        assert_eq!(value.dnssec, DNSSEC_SIGNED);
        let (len, sig_len) = (value.answer_len as usize, value.rrsig_len as usize);
        assert_eq!((value.rrsig_count, sig_len), (1, wire.bytes.len()));
        assert_eq!(&value.data[len..len + sig_len], &wire.bytes[..]);
        assert_eq!(value.rrsig_csum, ones_complement_sum(&wire.bytes));

        // 31 records (496 bytes) leave no room for the RRSIG: DO=1 queries pass up.
        let big = find(&set, "big.example.com.", QTYPE_A);
        assert_eq!(big.dnssec, Signatures::Unpublished);
        assert_eq!(big.value().dnssec, DNSSEC_UNPUBLISHED);
        // Unsigned zones stay unsigned.
        let (plain, _) = from_zones([zone(&text)]);
        let value = find(&plain, "www.example.com.", QTYPE_A).value();
        assert_eq!((value.dnssec, value.rrsig_len), (DNSSEC_UNSIGNED, 0));
        assert_eq!(plain.renew_at(), None);
    }

    #[test]
    fn renders_whole_aaaa_rrset() {
        let z = zone(&format!(
            "{BASE}v6 IN AAAA 2001:db8::1\nv6 IN AAAA 2001:db8::2\nv6 IN AAAA 2001:db8::3\nv6 IN AAAA 2001:db8::4\n"
        ));
        let (set, _) = from_zones([z]);
        let a = find(&set, "v6.example.com.", QTYPE_AAAA);
        assert_eq!(a.value().answer_count, 4);
        assert_eq!(a.value().answer_len, 4 * 28);
        assert_eq!(&a.value().data[10..12], &[0, 16]);
    }

    #[test]
    fn only_address_rrsets_become_answers() {
        let z = zone(&format!("{BASE}mail IN MX 10 ns1\ntxt IN TXT \"hi\"\n"));
        let (set, _) = from_zones([z]);
        assert_eq!(set.len(), 1, "only ns1 A");
    }

    #[test]
    fn names_below_a_delegation_are_left_to_the_fallback() {
        let z = zone(&format!("{BASE}sub IN NS ns.sub\nns.sub IN A 192.0.2.99\n"));
        let (set, skipped) = from_zones([z]);
        assert_eq!(set.len(), 1);
        assert!(matches!(skipped[0], Skipped::BelowZoneCut { .. }));
    }

    #[test]
    fn oversized_rrset_is_left_to_the_fallback() {
        let mut text = BASE.to_string();
        for i in 0..40 {
            text.push_str(&format!("big IN A 192.0.2.{i}\n"));
        }
        let (set, skipped) = from_zones([zone(&text)]);
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
        let (set, _) = from_zones([parent, child]);
        let a = find(&set, "ns1.child.example.com.", QTYPE_A);
        assert_eq!(&a.value().data[12..16], &[198, 51, 100, 1]);
        assert_eq!(set.iter().filter(|a| a.qtype == QTYPE_A).count(), 2);
    }

    #[test]
    fn key_hash_covers_case_folded_name_and_type() {
        let (set, _) = from_zones([zone(&format!(
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

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn app() -> Name {
        Name::from_ascii("App.Example.com.").unwrap()
    }

    fn steered(per_view: bool, views: &[Option<Vec<Vec<IpAddr>>>]) -> AnswerSet {
        let mut set = AnswerSet::default();
        set.add_steered(&app(), RecordType::A, 60, per_view, views, None)
            .unwrap();
        set
    }

    /// (view, variant, per_view, variants, answer_count) of every entry, sorted.
    fn layout(set: &AnswerSet) -> Vec<(u8, u8, bool, u8, u16)> {
        let mut entries: Vec<_> = set
            .iter()
            .map(|a| (a.view, a.variant, a.per_view, a.variants, a.answer_count))
            .collect();
        entries.sort();
        entries
    }

    #[test]
    fn steered_answers_render_as_the_zone_would() {
        let z = zone(&format!(
            "{BASE}app 60 IN A 192.0.2.10\napp 60 IN A 192.0.2.11\n"
        ));
        let (zone_set, _) = from_zones([z]);
        let from_zone = find(&zone_set, "app.example.com.", QTYPE_A);
        let set = steered(false, &[Some(vec![ips(&["192.0.2.10", "192.0.2.11"])])]);
        let pool = find(&set, "app.example.com.", QTYPE_A);
        assert_eq!(pool, from_zone);
        assert!(pool.is_fixed());

        let mut set = AnswerSet::default();
        set.add_steered(
            &app(),
            RecordType::AAAA,
            30,
            false,
            &[Some(vec![ips(&["2001:db8::7"])])],
            None,
        )
        .unwrap();
        let value = find(&set, "app.example.com.", QTYPE_AAAA).value();
        let mut expected = vec![0xC0, 0x0C, 0, 28, 0, 1, 0, 0, 0, 30, 0, 16];
        expected.extend_from_slice(
            &"2001:db8::7"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        assert_eq!(&value.data[..value.answer_len as usize], &expected[..]);
        assert_eq!(value.answer_csum, ones_complement_sum(&expected));
    }

    #[test]
    fn steered_views_and_variants_get_one_entry_each() {
        let set = steered(
            true,
            &[
                Some(vec![ips(&["192.0.2.1"]), ips(&["192.0.2.2", "192.0.2.3"])]),
                None,
                Some(vec![ips(&["198.51.100.1"])]),
            ],
        );
        assert_eq!(
            layout(&set),
            [(0, 0, true, 2, 1), (0, 1, true, 2, 2), (2, 0, true, 1, 1)]
        );
        let entry = set.iter().find(|a| (a.view, a.variant) == (2, 0)).unwrap();
        let value = entry.value();
        assert_eq!((value.per_view, value.variants), (1, 1));
        assert_eq!(&value.data[12..16], &[198, 51, 100, 1]);
        let key = entry.key(9);
        assert_eq!((key.generation, key.view, key.variant), (9, 2, 0));
        assert!(set.iter().all(|a| !a.is_fixed()));
        // Every entry of the pool shares the name and its hash.
        let (name, len) = name_key(&app());
        assert!(set
            .iter()
            .all(|a| *a.name == name[..len] && a.name_hash == name_hash(&name, len)));
    }

    #[test]
    fn weighted_without_views_keeps_view_zero_only() {
        let set = steered(
            false,
            &[Some(vec![
                ips(&["192.0.2.1"]),
                ips(&["192.0.2.1"]),
                ips(&["192.0.2.2"]),
            ])],
        );
        assert_eq!(
            layout(&set),
            [
                (0, 0, false, 3, 1),
                (0, 1, false, 3, 1),
                (0, 2, false, 3, 1)
            ]
        );
    }

    #[test]
    fn nodata_default_view_of_a_geo_pool_keeps_an_empty_entry() {
        let set = steered(true, &[None, Some(vec![ips(&["192.0.2.1"])])]);
        assert_eq!(layout(&set), [(0, 0, true, 1, 0), (1, 0, true, 1, 1)]);
        let marker = set.iter().find(|a| a.view == 0).unwrap().value();
        assert_eq!(marker.answer_len, 0);
        assert_eq!(marker.per_view, 1);

        assert!(steered(true, &[None, None]).is_empty());
        assert!(steered(false, &[None]).is_empty());
        assert!(steered(true, &[]).is_empty());
    }

    #[test]
    fn a_pool_replaces_the_zone_rrset_of_its_name() {
        let z = zone(&format!("{BASE}app IN A 192.0.2.99\n"));
        let (mut set, _) = from_zones([z]);
        set.add_steered(
            &app(),
            RecordType::A,
            60,
            true,
            &[None, Some(vec![ips(&["192.0.2.1"])])],
            None,
        )
        .unwrap();
        let root = find(&set, "app.example.com.", QTYPE_A);
        assert_eq!(root.answer_count, 0, "the zone's answer is gone");
        // Even a pool with nothing to answer takes the name over.
        let z = zone(&format!("{BASE}app IN A 192.0.2.99\n"));
        let (mut set, _) = from_zones([z]);
        set.add_steered(&app(), RecordType::A, 60, false, &[None], None)
            .unwrap();
        assert_eq!(set.len(), 1, "only ns1 A is left");
        let again = set.add_steered(&app(), RecordType::A, 60, false, &[None], None);
        assert!(
            matches!(again, Err(Skipped::Unsteerable { .. })),
            "{again:?}"
        );
    }

    #[test]
    fn unsteerable_pools_are_left_whole_to_the_fallback() {
        let add = |qtype, per_view, views: &[Option<Vec<Vec<IpAddr>>>]| {
            let mut set = AnswerSet::default();
            let result = set.add_steered(&app(), qtype, 60, per_view, views, None);
            assert!(set.is_empty(), "nothing added when skipped");
            result.unwrap_err()
        };
        let one = || Some(vec![ips(&["192.0.2.1"])]);
        for (what, skipped) in [
            (
                "views without per_view",
                add(RecordType::A, false, &[one(), one()]),
            ),
            (
                "IPv6 in an A pool",
                add(RecordType::A, true, &[Some(vec![ips(&["2001:db8::1"])])]),
            ),
            (
                "empty variant",
                add(RecordType::A, true, &[one(), Some(vec![vec![]])]),
            ),
            ("no variants", add(RecordType::A, true, &[Some(vec![])])),
            ("MX", add(RecordType::MX, false, &[one()])),
            (
                "256 variants",
                add(
                    RecordType::A,
                    false,
                    &[Some(vec![ips(&["192.0.2.1"]); 256])],
                ),
            ),
            ("257 views", add(RecordType::A, true, &vec![one(); 257])),
        ] {
            assert!(
                matches!(skipped, Skipped::Unsteerable { .. }),
                "{what}: {skipped:?}"
            );
            assert!(skipped.to_string().contains("fallback server answers it"));
        }
        let many: Vec<IpAddr> = (0..40)
            .map(|i| format!("192.0.2.{i}").parse().unwrap())
            .collect();
        let too_large = add(RecordType::A, true, &[one(), Some(vec![many])]);
        assert!(
            matches!(too_large, Skipped::TooLarge { len: 640, .. }),
            "{too_large:?}"
        );
        // 255 variants and 256 views are the most that fit.
        steered(false, &[Some(vec![ips(&["192.0.2.1"]); 255])]);
        assert_eq!(steered(true, &vec![one(); 256]).len(), 256);
    }

    /// The changes as ('W' or 'D', view, variant).
    fn ops(old: &AnswerSet, new: &AnswerSet) -> Vec<(char, u8, u8)> {
        old.changes_to(new)
            .list
            .iter()
            .map(|c| {
                let key = c.key();
                let op = if matches!(c, Change::Write(_)) {
                    'W'
                } else {
                    'D'
                };
                (op, key.view, key.variant)
            })
            .collect()
    }

    fn variants(n: usize) -> Option<Vec<Vec<IpAddr>>> {
        Some(
            (0..n)
                .map(|i| vec![format!("192.0.2.{}", i + 1).parse().unwrap()])
                .collect(),
        )
    }

    #[test]
    fn growing_writes_the_new_variants_before_variant_zero() {
        let old = steered(false, &[variants(1)]);
        let new = steered(false, &[variants(3)]);
        let changes = ops(&old, &new);
        assert_eq!(changes.last(), Some(&('W', 0, 0)));
        let mut extras = changes[..2].to_vec();
        extras.sort();
        assert_eq!(extras, [('W', 0, 1), ('W', 0, 2)]);
    }

    #[test]
    fn shrinking_writes_variant_zero_before_deleting_the_rest() {
        let old = steered(false, &[variants(3)]);
        let new = steered(false, &[variants(1)]);
        let changes = ops(&old, &new);
        assert_eq!(changes[0], ('W', 0, 0));
        let mut gone = changes[1..].to_vec();
        gone.sort();
        assert_eq!(gone, [('D', 0, 1), ('D', 0, 2)]);
    }

    #[test]
    fn unchanged_entries_are_not_touched() {
        let set = steered(true, &[variants(2), variants(3)]);
        assert!(set.changes_to(&set.clone()).is_empty());
        // One view changes: only its entries are written.
        let new = steered(true, &[variants(2), Some(vec![ips(&["198.51.100.1"])])]);
        let changes = ops(&set, &new);
        assert_eq!(changes[0], ('W', 1, 0));
        let mut gone = changes[1..].to_vec();
        gone.sort();
        assert_eq!(gone, [('D', 1, 1), ('D', 1, 2)]);
    }

    #[test]
    fn views_are_in_place_before_view_zero_leads_to_them_and_go_after() {
        let plain = steered(false, &[variants(1)]);
        let geo = steered(true, &[variants(1), variants(2), None]);
        let changes = ops(&plain, &geo);
        assert_eq!(changes, [('W', 1, 1), ('W', 1, 0), ('W', 0, 0)]);
        let changes = ops(&geo, &plain);
        assert_eq!(changes, [('W', 0, 0), ('D', 1, 0), ('D', 1, 1)]);
        // A whole pool going: its first lookup goes first.
        let changes = ops(&geo, &AnswerSet::default());
        assert_eq!(changes, [('D', 0, 0), ('D', 1, 0), ('D', 1, 1)]);
        // Only keys of either set are touched: a zone's answers are not in these sets.
        let z = zone(BASE);
        let (zones, _) = from_zones([z]);
        assert!(zones.changes_to(&zones).is_empty());
    }
}
