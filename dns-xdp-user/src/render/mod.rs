//! Answers computed once, for both paths: the bytes of every answer section the fast path can
//! send, the map form of names, checksums, and the RRSIGs that follow an RRset.
//!
//! [`Rendered::of`] renders a snapshot's A and AAAA RRsets: each owned by the zone that holds
//! its name, authoritative (not at or below a delegation), not a pool's placeholder, and small
//! enough for the fast path's entry. The fast path's map entries are made from them
//! ([`crate::fastpath::answers`]) and the fallback splices the same bytes into its replies to
//! the same queries ([`crate::fallback::splice`]).

pub mod name;
pub mod section;
pub mod signatures;

use std::{collections::HashMap, sync::Arc};

use dns_xdp_common::answer::{MAX_ANSWER_LEN, QTYPE_A, QTYPE_AAAA};
use hickory_proto::rr::{Name, RecordType};

use crate::{catalog::Snapshot, dnssec, zone::RrSet};

pub use name::{keyed, name_key};
pub use section::{ones_complement_sum, Section};
pub use signatures::Signatures;

/// One rendered RRset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedRrset {
    /// The owner in map form (see [`name`]) and its hash.
    pub name: Arc<[u8]>,
    pub name_hash: u64,
    /// A or AAAA, as a wire type code.
    pub qtype: u16,
    pub section: Section,
    /// What a DO=1 query gets beside it.
    pub signatures: Signatures,
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

/// A snapshot's rendered RRsets: the A ones, then the AAAA ones, each by owner in map form.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    rrsets: [HashMap<Arc<[u8]>, RenderedRrset>; 2],
    skipped: Vec<Skipped>,
    /// Unix seconds: the earliest renewal time of the signatures rendered.
    renew_at: Option<u64>,
}

impl Rendered {
    /// Renders every A and AAAA RRset of `snapshot` the fast path can answer, signed as they
    /// are now where their zone is signed.
    pub fn of(snapshot: &Snapshot) -> Self {
        let now = dnssec::unix_now();
        let mut rendered = Self::default();
        for served in snapshot.zones() {
            let zone = &served.zone;
            for rrset in zone.rrsets() {
                let Some(qtype) = section::address_qtype(rrset.rtype) else {
                    continue;
                };
                // A nested zone we also serve answers for its names.
                if !snapshot
                    .find(&rrset.name)
                    .is_some_and(|owner| std::ptr::eq(owner.zone.as_ref(), zone.as_ref()))
                    || snapshot.is_placeholder(&rrset.name, rrset.rtype)
                {
                    continue;
                }
                if zone.delegation(&rrset.name).is_some() {
                    rendered.skipped.push(Skipped::BelowZoneCut {
                        name: rrset.name.clone(),
                        rtype: rrset.rtype,
                    });
                    continue;
                }
                match render_rrset(qtype, rrset, served.signer.as_deref(), now) {
                    Ok((one, renew_at)) => {
                        rendered.renew_at = signatures::earliest(rendered.renew_at, renew_at);
                        let by_name = &mut rendered.rrsets[usize::from(qtype == QTYPE_AAAA)];
                        by_name.insert(one.name.clone(), one);
                    }
                    Err(skipped) => rendered.skipped.push(skipped),
                }
            }
        }
        rendered
    }

    /// The RRset of owner `name` (map form, see [`name`]) and type `qtype`.
    pub fn get(&self, name: &[u8], qtype: u16) -> Option<&RenderedRrset> {
        match qtype {
            QTYPE_A => self.rrsets[0].get(name),
            QTYPE_AAAA => self.rrsets[1].get(name),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &RenderedRrset> {
        self.rrsets.iter().flat_map(HashMap::values)
    }

    pub fn len(&self) -> usize {
        self.rrsets.iter().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What could not be rendered, for the log.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// Unix seconds by which the rendered signatures are due for renewal: from then on the
    /// signer makes new ones, and the snapshot should be rendered and published afresh (long
    /// before the old ones expire: see `SigningConfig::refresh`). None without signatures.
    pub fn renew_at(&self) -> Option<u64> {
        self.renew_at
    }
}

/// Renders one A or AAAA RRset, signed by `signer` if given; with its signatures' renewal time.
pub fn render_rrset(
    qtype: u16,
    rrset: &RrSet,
    signer: Option<&dnssec::Signer>,
    now: u64,
) -> Result<(RenderedRrset, Option<u64>), Skipped> {
    let section = section::render_rrset(qtype, rrset).map_err(|len| Skipped::TooLarge {
        name: rrset.name.clone(),
        rtype: rrset.rtype,
        len,
    })?;
    let (signatures, renew_at) = match signer {
        None => (Signatures::Unsigned, None),
        Some(signer) => {
            let signed = signatures::sign(signer, rrset, section.bytes.len(), now);
            (signed.rrsigs, signed.renew_at)
        }
    };
    let (name, name_hash) = keyed(&rrset.name);
    Ok((
        RenderedRrset {
            name: name.into(),
            name_hash,
            qtype,
            section,
            signatures,
        },
        renew_at,
    ))
}

#[cfg(test)]
mod tests;
