//! The pools' stage of the catalog: a pool's name and type must be the pool's alone in the zone
//! that holds it, and the name gets a placeholder RRset there, so that it exists for negative
//! answers, ANY and additional-section lookups. What a pool answers for its own type is
//! steering's choice per query, never the placeholder (the fallback asks steering; the fast
//! path never renders a placeholder).

use hickory_proto::rr::{
    rdata::{A, AAAA},
    Name, RData, RecordType,
};

use crate::{
    config::steering::Pool,
    zone::{RrSet, Zone},
};

/// A pool whose name and type already mean something in our zones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[[pool]] \"{name}\" {rtype}: {problem}; a pool's name and type must be the pool's alone")]
pub struct PoolConflict {
    pub name: Name,
    pub rtype: RecordType,
    pub problem: String,
}

/// Refuses a pool whose name has data the pool would hide or contradict: records of its type, a
/// CNAME, or a delegation above it; or that no zone of ours holds. `zone_of` is the catalog's
/// lookup.
pub fn check<'z>(
    pools: &[Pool],
    zone_of: impl Fn(&Name) -> Option<&'z Zone>,
) -> Result<(), PoolConflict> {
    for pool in pools {
        let conflict = |problem: String| PoolConflict {
            name: pool.name.clone(),
            rtype: pool.rtype,
            problem,
        };
        let Some(zone) = zone_of(&pool.name) else {
            return Err(conflict("no zone we serve contains it".into()));
        };
        if let Some(cut) = zone.delegation(&pool.name) {
            return Err(conflict(format!(
                "it is at or below the delegation {} in zone {}",
                cut.name,
                zone.origin()
            )));
        }
        if zone.rrset(&pool.name, pool.rtype).is_some() {
            return Err(conflict(format!(
                "zone {} already has {} records there; remove them from the zone file or remove \
                 the pool",
                zone.origin(),
                pool.rtype
            )));
        }
        if zone.rrset(&pool.name, RecordType::CNAME).is_some() {
            return Err(conflict(format!(
                "zone {} has a CNAME there, and a CNAME owner can have no other data (RFC 1034 \
                 §3.6.2)",
                zone.origin()
            )));
        }
    }
    Ok(())
}

/// The placeholder RRset of `pool`: every member's address, as `all_down = "serve_all"` would
/// answer.
pub fn placeholder(pool: &Pool) -> RrSet {
    RrSet {
        name: pool.name.clone(),
        rtype: pool.rtype,
        ttl: pool.ttl,
        rdata: pool
            .members
            .iter()
            .filter_map(|member| match (member.address, pool.rtype) {
                (std::net::IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(v4))),
                (std::net::IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(v6))),
                _ => None,
            })
            .collect(),
    }
}
