//! Zone data and steered pools → the fast path's answer map. Every answer the kernel sends is
//! computed here, once, as the exact bytes of the answer section plus their checksum; the kernel
//! only copies them.
//!
//! Zone RRsets become one entry each (view 0, variant 0). Steered pools ([`AnswerSet::add_steered`])
//! become one entry per view and variant, laid out as the kernel reads them (see
//! `dns_xdp_common::answer`). Health changes are applied in place with the ordered
//! [`Change`]s of [`AnswerSet::changes_to`].
//!
//! RRsets of signed zones, and the pools in them, are signed here, through the zone's
//! [`Signer`], the very one the fallback signs with: its cache hands both paths the same
//! signatures, so a DO=1 answer is the same bytes whichever path sends it. The kernel never
//! signs; it appends the RRSIG records rendered here. The set remembers when the first of its
//! signatures is due for renewal ([`AnswerSet::renew_at`]): the agent publishes afresh by then.

use std::{
    collections::{hash_map::Entry, HashMap, HashSet},
    net::IpAddr,
};

use hickory_proto::{
    rr::{
        rdata::{A, AAAA},
        Name, RData, RecordType,
    },
    serialize::binary::{BinEncodable, BinEncoder},
};

use dns_xdp_common::answer::{
    name_hash, AnswerKey, AnswerValue, DEFAULT_VIEW, DNSSEC_SIGNED, DNSSEC_UNPUBLISHED,
    DNSSEC_UNSIGNED, FIRST_VARIANT, MAX_ANSWER_LEN, NAME_BUF_LEN, QTYPE_A, QTYPE_AAAA,
};

use crate::{
    dnssec::{self, Signer},
    zone::{RrSet, Zone},
};

/// Owner name of every answer record: a compression pointer to the question name, which always
/// starts right after the 12-byte header.
const POINTER_TO_QUESTION: [u8; 2] = [0xC0, 0x0C];
const CLASS_IN: u16 = 1;

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
    pub name: Box<[u8]>,
    pub answer_count: u16,
    /// The answer section: every record of the RRset, owners compressed to the question.
    /// Empty for the view-0 entry of a steered name whose default view has no answer.
    pub answer: Box<[u8]>,
    /// What a DO=1 query gets beside the RRset.
    pub dnssec: Signatures,
}

/// The RRSIGs of an answer, for DO=1 queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// The zone is unsigned: the RRset alone.
    Unsigned,
    /// `count` RRSIG records, owners compressed to the question, to follow the RRset.
    Signed { count: u16, bytes: Box<[u8]> },
    /// The zone is signed, but the RRSIGs are not in the fast path (they would not fit beside
    /// the RRset, or signing failed): DO=1 queries pass up to the fallback.
    Unpublished,
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

/// Why an RRset or a pool the fast path could serve is left to the fallback server.
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
    /// A steered answer's views or variants do not fit the map's layout, or one of them is
    /// not a list of addresses of the pool's type; `reason` says which.
    Unsteerable {
        name: Name,
        rtype: RecordType,
        reason: String,
    },
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
            Skipped::Unsteerable {
                name,
                rtype,
                reason,
            } => write!(
                f,
                "{name} {rtype}: {reason}; the fallback server answers it"
            ),
        }
    }
}

/// The fast path's answers, by map key (generation 0).
#[derive(Clone, Debug, Default)]
pub struct AnswerSet {
    answers: HashMap<AnswerKey, Answer>,
    /// (type, name hash) of the steered names, which a second pool may not take over.
    steered: HashSet<(u16, u64)>,
    /// Unix seconds: the earliest renewal time of the signatures in the set.
    renew_at: Option<u64>,
}

/// One change to the live answer map. [`AnswerSet::changes_to`] lists them in the order that
/// keeps every lookup chain whole: an entry is written before the entry that leads to it (a
/// view's variant 0 leads to its other variants, view 0 to the other views), and deleted after.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// Builds the A and AAAA answers of every zone, signed as they are now if their zone is.
    /// Where zones nest, a name belongs to the zone with the longest origin, as the fallback
    /// server decides it.
    pub fn from_zones(zones: &[Zone]) -> (Self, Vec<Skipped>) {
        let now = dnssec::unix_now();
        let mut set = Self::default();
        let mut skipped = Vec::new();
        let mut renew_at = None;
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
                    Ok(mut answer) => match set.answers.entry(answer.key(0)) {
                        Entry::Occupied(_) => skipped.push(Skipped::HashCollision {
                            name: rrset.name.clone(),
                            rtype: rrset.rtype,
                        }),
                        Entry::Vacant(slot) => {
                            if let Some(signer) = zone.signer() {
                                let signed = sign(signer, rrset, &answer.answer, now);
                                answer.dnssec = signed.rrsigs;
                                renew_at = earliest(renew_at, signed.renew_at);
                            }
                            slot.insert(answer);
                        }
                    },
                    Err(skip) => skipped.push(skip),
                }
            }
        }
        set.renew_at = renew_at;
        (set, skipped)
    }

    /// A set of ready-made answers, as tests build them. Of two answers with one key, the later
    /// one is kept.
    pub fn from_answers(answers: Vec<Answer>) -> Self {
        Self {
            answers: answers.into_iter().map(|a| (a.key(0), a)).collect(),
            steered: HashSet::new(),
            renew_at: None,
        }
    }

    /// Unix seconds by which the set's signatures are due for renewal: from then on the
    /// signer makes new ones, and the set should be built and published afresh (long before
    /// the old ones expire: see `SigningConfig::refresh`). None without signatures.
    pub fn renew_at(&self) -> Option<u64> {
        self.renew_at
    }

    fn renews_at(&mut self, at: Option<u64>) {
        self.renew_at = earliest(self.renew_at, at);
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
    pub fn add_steered(
        &mut self,
        name: &Name,
        qtype: RecordType,
        ttl: u32,
        per_view: bool,
        views: &[Option<Vec<Vec<IpAddr>>>],
    ) -> Result<(), Skipped> {
        self.add_steered_with(name, qtype, ttl, per_view, views, None)
    }

    /// [`AnswerSet::add_steered`] for a pool in a signed zone: each view's and variant's RRset
    /// is signed by `signer` as it is now, as the fallback signs the answer it picks.
    pub fn add_signed_steered(
        &mut self,
        name: &Name,
        qtype: RecordType,
        ttl: u32,
        per_view: bool,
        views: &[Option<Vec<Vec<IpAddr>>>],
        signer: &Signer,
    ) -> Result<(), Skipped> {
        self.add_steered_with(name, qtype, ttl, per_view, views, Some(signer))
    }

    fn add_steered_with(
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
        let (key_name, name_len) = name_key(name);
        let name_hash = name_hash(&key_name, name_len);
        let entry =
            |view: usize, variant: usize, variants: usize, answer: Section, dnssec: Signatures| {
                Answer {
                    view: view as u8,
                    variant: variant as u8,
                    per_view,
                    variants: variants as u8,
                    qtype: wire_type,
                    name_hash,
                    name: key_name[..name_len].into(),
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
                        let signed = sign(signer, &rrset, &answer.bytes, now);
                        renew_at = earliest(renew_at, signed.renew_at);
                        signed.rrsigs
                    }
                };
                entries.push(entry(view, variant, variants.len(), answer, dnssec));
            }
        }
        if per_view && !entries.is_empty() && entries[0].view != DEFAULT_VIEW {
            let nothing = Section {
                count: 0,
                bytes: Box::default(),
            };
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
            return Err(match self.answers.get(&root) {
                Some(other) if *other.name != key_name[..name_len] => Skipped::HashCollision {
                    name: name.clone(),
                    rtype: qtype,
                },
                _ => unsteerable("another pool already serves this name and type".into()),
            });
        }
        if let Some(zone_answer) = self.answers.get(&root) {
            if *zone_answer.name != key_name[..name_len] {
                return Err(Skipped::HashCollision {
                    name: name.clone(),
                    rtype: qtype,
                });
            }
            self.answers.remove(&root);
        }
        self.steered.insert((wire_type, name_hash));
        self.answers
            .extend(entries.into_iter().map(|a| (a.key(0), a)));
        self.renews_at(renew_at);
        Ok(())
    }

    /// The pools' entries of this set alone (what health changes update in place), as
    /// rendered and signed for it.
    pub fn steered_only(&self) -> AnswerSet {
        AnswerSet {
            answers: self
                .answers
                .iter()
                .filter(|(key, _)| self.steered.contains(&(key.qtype, key.name_hash)))
                .map(|(key, answer)| (*key, answer.clone()))
                .collect(),
            steered: self.steered.clone(),
            renew_at: self.renew_at,
        }
    }

    pub fn len(&self) -> usize {
        self.answers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Answer> {
        self.answers.values()
    }

    /// The answer with `key`, whose generation must be 0.
    pub fn get(&self, key: &AnswerKey) -> Option<&Answer> {
        self.answers.get(key)
    }

    /// The changes that turn the map entries of `self` into those of `new`, in the order to
    /// apply them: writes (new and changed entries) before deletes, writes deepest in the lookup
    /// chain first and deletes shallowest first. So a view or variant is in place before
    /// anything leads to it, and nothing leads to it any more when it goes: every step leaves
    /// each lookup chain whole. (Queries overlapping the batch pass up anyway, see
    /// `Dataplane::update_answers`; the order keeps a batch stopped by an error consistent.)
    /// Entries equal in both are not touched.
    pub fn changes_to<'a>(&self, new: &'a AnswerSet) -> Vec<Change<'a>> {
        // One list per chain rank: writes go out rank 0 first, deletes rank 2 first.
        let mut writes: [Vec<Change<'a>>; 3] = Default::default();
        let mut deletes: [Vec<Change<'a>>; 3] = Default::default();
        for (key, answer) in &new.answers {
            if self.answers.get(key) != Some(answer) {
                writes[chain_rank(key) as usize].push(Change::Write(answer));
            }
        }
        for key in self.answers.keys() {
            if !new.answers.contains_key(key) {
                deletes[chain_rank(key) as usize].push(Change::Delete(*key));
            }
        }
        writes
            .into_iter()
            .chain(deletes.into_iter().rev())
            .flatten()
            .collect()
    }
}

/// True when no other zone in `zones` is more specific for `name` than `zone`.
fn owns(zone: &Zone, zones: &[Zone], name: &Name) -> bool {
    let depth = zone.origin().num_labels();
    !zones
        .iter()
        .any(|other| other.origin().num_labels() > depth && other.origin().zone_of(name))
}

/// A rendered answer section and its record count.
struct Section {
    count: u16,
    bytes: Box<[u8]>,
}

/// Renders records of `qtype` with `ttl`, one per RDATA, owners compressed to the question;
/// `Err(len)` when the section would exceed `MAX_ANSWER_LEN`.
fn render(qtype: u16, ttl: u32, rdata: &[Vec<u8>]) -> Result<Section, usize> {
    let mut bytes = Vec::with_capacity(rdata.len() * 28);
    for rdata in rdata {
        bytes.extend_from_slice(&POINTER_TO_QUESTION);
        bytes.extend_from_slice(&qtype.to_be_bytes());
        bytes.extend_from_slice(&CLASS_IN.to_be_bytes());
        bytes.extend_from_slice(&ttl.to_be_bytes());
        bytes.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        bytes.extend_from_slice(rdata);
    }
    if bytes.len() > MAX_ANSWER_LEN {
        return Err(bytes.len());
    }
    Ok(Section {
        count: rdata.len() as u16,
        bytes: bytes.into(),
    })
}

/// An answer's RRSIGs and when they are due for renewal.
struct Signed {
    rrsigs: Signatures,
    renew_at: Option<u64>,
}

/// Signs `rrset` (owned by its own name, as the fallback signs a direct answer) with `signer`
/// and renders the RRSIGs to follow `answer`, its rendered section, if they fit beside it.
fn sign(signer: &Signer, rrset: &RrSet, answer: &[u8], now: u64) -> Signed {
    match signer.sign(&rrset.name, rrset, now) {
        Ok(rrsigs) => {
            let wire = rrsigs.wire_after_question(&rrset.name, rrset.ttl);
            let renew_at = Some(rrsigs.renew_at());
            if answer.len() + wire.bytes.len() > MAX_ANSWER_LEN {
                log::info!(
                    "{} {}: the RRSIGs ({} bytes) do not fit beside the answer in the fast                      path's {MAX_ANSWER_LEN} bytes; the fallback answers its DO=1 queries",
                    rrset.name,
                    rrset.rtype,
                    wire.bytes.len()
                );
                return Signed {
                    rrsigs: Signatures::Unpublished,
                    renew_at,
                };
            }
            Signed {
                rrsigs: Signatures::Signed {
                    count: wire.count,
                    bytes: wire.bytes.into(),
                },
                renew_at,
            }
        }
        Err(e) => {
            log::error!(
                "cannot sign {} {} for the fast path: {e}; the fallback answers its DO=1 queries",
                rrset.name,
                rrset.rtype
            );
            Signed {
                rrsigs: Signatures::Unpublished,
                renew_at: None,
            }
        }
    }
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn address_rdata(addr: IpAddr) -> RData {
    match addr {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

impl Answer {
    /// Renders an A or AAAA RRset as answer-section bytes, unsigned.
    pub fn from_rrset(rrset: &RrSet) -> Result<Self, Skipped> {
        let qtype = match rrset.rtype {
            RecordType::A => QTYPE_A,
            RecordType::AAAA => QTYPE_AAAA,
            other => unreachable!("only A and AAAA RRsets are rendered, not {other}"),
        };
        let rdata: Vec<Vec<u8>> = rrset.rdata.iter().map(encode_rdata).collect();
        let rendered = render(qtype, rrset.ttl, &rdata).map_err(|len| Skipped::TooLarge {
            name: rrset.name.clone(),
            rtype: rrset.rtype,
            len,
        })?;
        let (name, name_len) = name_key(&rrset.name);
        Ok(Self {
            view: DEFAULT_VIEW,
            variant: FIRST_VARIANT,
            per_view: false,
            variants: 1,
            qtype,
            name_hash: name_hash(&name, name_len),
            name: name[..name_len].into(),
            answer_count: rendered.count,
            answer: rendered.bytes,
            dnssec: Signatures::Unsigned,
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
        let mut z = zone(&text);
        z.set_signer(std::sync::Arc::new(signer));
        let (set, skipped) = AnswerSet::from_zones(std::slice::from_ref(&z));
        assert!(skipped.is_empty(), "{skipped:?}");

        let www = find(&set, "www.example.com.", QTYPE_A);
        let rrset = z.rrset(
            &Name::from_ascii("www.example.com.").unwrap(),
            RecordType::A,
        );
        let rrset = rrset.unwrap();
        // The signer's cache hands out the signature the set holds: the fallback's too.
        let sigs = z.signer().unwrap().sign(&rrset.name, rrset, now).unwrap();
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
        let (plain, _) = AnswerSet::from_zones(&[zone(&text)]);
        let value = find(&plain, "www.example.com.", QTYPE_A).value();
        assert_eq!((value.dnssec, value.rrsig_len), (DNSSEC_UNSIGNED, 0));
        assert_eq!(plain.renew_at(), None);
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

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn app() -> Name {
        Name::from_ascii("App.Example.com.").unwrap()
    }

    fn steered(per_view: bool, views: &[Option<Vec<Vec<IpAddr>>>]) -> AnswerSet {
        let mut set = AnswerSet::default();
        set.add_steered(&app(), RecordType::A, 60, per_view, views)
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
        let (zone_set, _) = AnswerSet::from_zones(&[z]);
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
        let (mut set, _) = AnswerSet::from_zones(&[z]);
        set.add_steered(
            &app(),
            RecordType::A,
            60,
            true,
            &[None, Some(vec![ips(&["192.0.2.1"])])],
        )
        .unwrap();
        let root = find(&set, "app.example.com.", QTYPE_A);
        assert_eq!(root.answer_count, 0, "the zone's answer is gone");
        // Even a pool with nothing to answer takes the name over.
        let z = zone(&format!("{BASE}app IN A 192.0.2.99\n"));
        let (mut set, _) = AnswerSet::from_zones(&[z]);
        set.add_steered(&app(), RecordType::A, 60, false, &[None])
            .unwrap();
        assert_eq!(set.len(), 1, "only ns1 A is left");
        let again = set.add_steered(&app(), RecordType::A, 60, false, &[None]);
        assert!(
            matches!(again, Err(Skipped::Unsteerable { .. })),
            "{again:?}"
        );
    }

    #[test]
    fn unsteerable_pools_are_left_whole_to_the_fallback() {
        let add = |qtype, per_view, views: &[Option<Vec<Vec<IpAddr>>>]| {
            let mut set = AnswerSet::default();
            let result = set.add_steered(&app(), qtype, 60, per_view, views);
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
        let (zones, _) = AnswerSet::from_zones(&[z]);
        assert!(zones.changes_to(&zones).is_empty());
    }
}
