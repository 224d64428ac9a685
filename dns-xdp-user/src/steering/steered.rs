//! Steered answers as the fallback serves them: for each pool's name and type, per view, the
//! variants the policy engine chose. They are the same answers the agent publishes to the fast
//! path, chosen the way the XDP program chooses: the client's view (by EDNS Client Subnet when
//! the query has one, else by source address), then a uniformly random variant.
//!
//! A health change replaces this table alone; the zones and their rendered answers are shared
//! with the responder it replaces.

use std::{collections::HashMap, net::IpAddr, sync::Arc};

use hickory_proto::rr::{Name, RecordType};

use crate::{steering::Views, zone::RrSet};

/// The client as far as steering cares: its source address and the subnet it sent in EDNS
/// Client Subnet (RFC 7871), if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Client {
    pub addr: Option<IpAddr>,
    /// (address, source prefix length) from the query's ECS option.
    pub subnet: Option<(IpAddr, u8)>,
}

/// One pool's answers: `views[v]` for view `v`; None = NODATA there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub per_view: bool,
    pub views: Vec<Option<Vec<RrSet>>>,
}

/// What steering decided for one question.
#[derive(Debug, PartialEq, Eq)]
pub struct Choice<'a> {
    /// The RRset to answer with; None = NODATA.
    pub rrset: Option<&'a RrSet>,
    /// ECS scope prefix length for the answer: the prefix that decided the region when the
    /// answer varies by region, else 0 (RFC 7871 §7.2.1).
    pub scope: u8,
}

/// Keyed by hickory `Name`s, which compare and hash case-insensitively: any spelling of a
/// pool's name finds its entry.
#[derive(Default)]
pub struct Steered {
    views: Arc<Views>,
    entries: HashMap<(Name, RecordType), Entry>,
}

impl Steered {
    pub fn new(views: Arc<Views>, entries: HashMap<(Name, RecordType), Entry>) -> Self {
        Self { views, entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `name` (any case) has a steered answer of type `rtype`.
    pub fn steers(&self, name: &Name, rtype: RecordType) -> bool {
        self.entries.contains_key(&(name.clone(), rtype))
    }

    /// The answer for `name`/`rtype` to `client`, or None if no pool answers it.
    pub fn choose(&self, name: &Name, rtype: RecordType, client: &Client) -> Option<Choice<'_>> {
        let entry = self.entries.get(&(name.clone(), rtype))?;
        let (view, scope) = if entry.per_view {
            match (client.subnet, client.addr) {
                (Some((addr, source)), _) => self.views.view_for_subnet(addr, source),
                (None, Some(addr)) => (self.views.view_of(addr).0, 0),
                (None, None) => (0, 0),
            }
        } else {
            (0, 0)
        };
        // Every view of a per-view pool is published; view 0 covers anything else.
        let variants = entry
            .views
            .get(usize::from(view))
            .or_else(|| entry.views.first())?;
        let rrset = variants.as_ref().and_then(|variants| match variants.len() {
            0 => None,
            1 => variants.first(),
            n => variants.get(rand::random::<u32>() as usize % n),
        });
        Some(Choice { rrset, scope })
    }
}
