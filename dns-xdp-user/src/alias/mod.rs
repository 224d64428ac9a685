//! ALIAS records: a name (usually a zone apex, which cannot own a CNAME) that answers A and AAAA
//! queries with the addresses of another name, its target. Zone files cannot hold them; they
//! come from `[[alias]]` in the config and are flattened: the target's addresses are added to
//! the zone as A and AAAA RRsets at the alias name, so the fast path and the fallback serve
//! them like any other address, byte for byte the same.
//!
//! A target in our own zones is resolved from them when the zones load (CNAME chains followed,
//! the TTL the lowest along the chain). Any other target is resolved through the configured
//! upstream resolvers and refreshed when its TTL runs out ([`refresh`]); until its first answer
//! the alias name exists without addresses, so it answers NODATA for A and AAAA.
//!
//! Which zone holds a name is the catalog's to say: the functions here take its lookup.

pub mod refresh;
pub mod upstream;

use std::collections::HashMap;

use hickory_proto::rr::{Name, RData, RecordType};

use crate::{
    config::AliasSource,
    zone::{Lookup, RrSet, Zone},
};

/// How many CNAMEs resolving a target follows, in our zones or in upstream answers.
pub const MAX_CNAMES: usize = 8;

/// The addresses of one type, with the TTL to serve them with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addresses {
    pub ttl: u32,
    /// A or AAAA RDATA, without duplicates; never empty.
    pub rdata: Vec<RData>,
}

/// What a target resolved to: its A and AAAA addresses, each `None` if it has none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flattened {
    pub a: Option<Addresses>,
    pub aaaa: Option<Addresses>,
}

impl Flattened {
    /// True if both hold the same addresses, whatever their TTLs and order.
    pub fn same_addresses(&self, other: &Flattened) -> bool {
        fn sorted(addresses: &Option<Addresses>) -> Vec<String> {
            let mut all: Vec<String> = addresses
                .iter()
                .flat_map(|a| a.rdata.iter().map(RData::to_string))
                .collect();
            all.sort();
            all
        }
        sorted(&self.a) == sorted(&other.a) && sorted(&self.aaaa) == sorted(&other.aaaa)
    }

    /// The addresses, for the log: "A 192.0.2.1, AAAA 2001:db8::1" or "no addresses".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (rtype, addresses) in [("A", &self.a), ("AAAA", &self.aaaa)] {
            if let Some(addresses) = addresses {
                let list: Vec<String> = addresses.rdata.iter().map(RData::to_string).collect();
                parts.push(format!(
                    "{rtype} {} (TTL {})",
                    list.join(" "),
                    addresses.ttl
                ));
            }
        }
        if parts.is_empty() {
            "no addresses".to_string()
        } else {
            parts.join(", ")
        }
    }

    fn get(&self, rtype: RecordType) -> Option<&Addresses> {
        match rtype {
            RecordType::A => self.a.as_ref(),
            _ => self.aaaa.as_ref(),
        }
    }
}

/// An alias checked against the zones, ready to serve.
#[derive(Clone, Debug)]
pub struct Alias {
    pub name: Name,
    pub target: Name,
    pub source: Source,
}

#[derive(Clone, Debug)]
pub enum Source {
    /// Resolved from our zones when they loaded.
    Local(Flattened),
    /// Resolved through the upstream resolvers; the answers are kept by [`refresh`].
    Upstream,
}

/// Checks every alias against the loaded zones (`zone_of` finds the zone holding a name) and
/// resolves the local ones. Errors name the alias's key and say what to change.
pub fn plan<'z>(
    aliases: &[AliasSource],
    zone_of: impl Fn(&Name) -> Option<&'z Zone>,
) -> Result<Vec<Alias>, String> {
    let mut planned = Vec::new();
    for alias in aliases {
        let key = format!("[[alias]] name = \"{}\"", alias.name);
        let zone =
            zone_of(&alias.name).ok_or_else(|| format!("{key} is outside every loaded zone"))?;
        if let Some(cut) = zone.delegation(&alias.name) {
            return Err(format!(
                "{key} is at or below the delegation {}, so the child zone answers for it; put \
                 the alias in the zone that serves the name",
                cut.name
            ));
        }
        for rtype in [RecordType::A, RecordType::AAAA, RecordType::CNAME] {
            if zone.rrset(&alias.name, rtype).is_some() {
                return Err(format!(
                    "{key}: the zone file of {} gives {} {rtype} records; an alias name must \
                     own no A, AAAA or CNAME records, so remove them or the alias",
                    zone.origin(),
                    alias.name
                ));
            }
        }
        let source = if alias.local {
            let flattened = resolve_local(&zone_of, &alias.target)
                .map_err(|problem| format!("{key} target = \"{}\" {problem}", alias.target))?;
            Source::Local(flattened)
        } else {
            Source::Upstream
        };
        planned.push(Alias {
            name: alias.name.clone(),
            target: alias.target.clone(),
            source,
        });
    }
    Ok(planned)
}

/// The A and AAAA RRsets `target` leads to in our zones (`zone_of` finds the zone holding a
/// name), following CNAMEs (within our zones) and wildcards, each with the lowest TTL along its
/// chain.
pub fn resolve_local<'z>(
    zone_of: impl Fn(&Name) -> Option<&'z Zone>,
    target: &Name,
) -> Result<Flattened, String> {
    let mut flattened = Flattened::default();
    for rtype in [RecordType::A, RecordType::AAAA] {
        let mut name = target.clone();
        let mut ttl = u32::MAX;
        let mut chain = 0;
        let found = loop {
            let Some(zone) = zone_of(&name) else {
                return Err(format!(
                    "leads out of our zones (CNAME to {name}); point the alias at {name}, which \
                     is then resolved through [server] upstream"
                ));
            };
            if let Some(cut) = zone.delegation(&name) {
                return Err(format!(
                    "leads to {name}, at or below the delegation {}, whose data we do not serve",
                    cut.name
                ));
            }
            let rrsets = match zone.find(&name) {
                Lookup::Exact(rrsets) | Lookup::Wildcard(rrsets) => rrsets,
                Lookup::NxDomain => {
                    return Err(format!(
                        "leads to {name}, which does not exist in {}",
                        zone.origin()
                    ))
                }
            };
            if let Some(cname) = rrsets.iter().find(|set| set.rtype == RecordType::CNAME) {
                chain += 1;
                if chain > MAX_CNAMES {
                    return Err(format!(
                        "leads through more than {MAX_CNAMES} CNAMEs (a loop?)"
                    ));
                }
                let Some(RData::CNAME(next)) = cname.rdata.first() else {
                    return Err(format!("leads to a malformed CNAME at {name}"));
                };
                ttl = ttl.min(cname.ttl);
                name = next.0.clone();
                continue;
            }
            break rrsets
                .iter()
                .find(|set| set.rtype == rtype)
                .map(|set| Addresses {
                    ttl: ttl.min(set.ttl),
                    rdata: set.rdata.clone(),
                });
        };
        match rtype {
            RecordType::A => flattened.a = found,
            _ => flattened.aaaa = found,
        }
    }
    if flattened.a.is_none() && flattened.aaaa.is_none() {
        return Err("has no A or AAAA records in our zones".to_string());
    }
    Ok(flattened)
}

impl Alias {
    /// What flattening puts at the alias name, besides making it exist: the A and AAAA RRsets
    /// of its target — from the zones for a local target, from `upstream` (the last good
    /// answers, by target) for the others; none for an upstream target without an answer yet.
    pub fn rrsets(&self, upstream: &HashMap<Name, Flattened>) -> Vec<RrSet> {
        let flattened = match &self.source {
            Source::Local(flattened) => Some(flattened),
            Source::Upstream => upstream.get(&self.target),
        };
        [RecordType::A, RecordType::AAAA]
            .into_iter()
            .filter_map(|rtype| {
                let addresses = flattened?.get(rtype)?;
                Some(RrSet {
                    name: self.name.clone(),
                    rtype,
                    ttl: addresses.ttl,
                    rdata: addresses.rdata.clone(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
