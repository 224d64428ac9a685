//! Negative answers with Compact Denial of Existence (RFC 9824): one NSEC, owned by the query
//! name and signed on the spot, proves what the name lacks.

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::canonical::lowercase_wire;
use super::signer::Signer;
use super::DnssecError;
use crate::zone::RrSet;

/// NXNAME (RFC 9824 §2): the meta-type whose bit in an NSEC type bitmap says the name does
/// not exist. A query for it gets FORMERR (RFC 9824 §3.5).
pub const NXNAME: RecordType = RecordType::Unknown(128);

/// Longest name in wire format (RFC 1035 §2.3.4).
const MAX_NAME_WIRE: usize = 255;
const MAX_LABEL: usize = 63;

/// What the NSEC at a query name says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial<'a> {
    /// The name does not exist (RFC 9824 §3.1): types RRSIG, NSEC, NXNAME. The response is a
    /// NODATA one: RCODE NOERROR, unless the query set the CO flag (RFC 9824 §5.1).
    NxName,
    /// The name exists with exactly these types, and not the one asked for (§3.2). An empty
    /// non-terminal has none. For a wildcard NODATA (§3.3), the types of the wildcard.
    NoData(&'a [RecordType]),
}

impl Signer {
    /// The authority records denying data at `qname`: its NSEC (next name `\000.<qname>`, the
    /// immediate successor, RFC 9824 §3.1) and the NSEC's RRSIGs. `ttl` is the negative-caching
    /// TTL of the zone, the lower of its SOA's TTL and MINIMUM (RFC 9077 §3.1), as for the SOA
    /// sent beside it. At the apex the bitmap also holds DNSKEY, CDS and CDNSKEY, which the
    /// signer serves.
    pub fn deny(
        &self,
        qname: &Name,
        denial: Denial<'_>,
        ttl: u32,
        now: u64,
    ) -> Result<Vec<Record>, DnssecError> {
        let mut types = vec![RecordType::RRSIG, RecordType::NSEC];
        match denial {
            Denial::NxName => types.push(NXNAME),
            Denial::NoData(present) => {
                types.extend_from_slice(present);
                if qname.eq(self.zone()) {
                    types.extend(self.apex_rrsets().iter().map(|set| set.rtype));
                }
            }
        }
        let next = successor(qname)
            .or_else(|| successor_of_first_label(qname))
            .ok_or_else(|| DnssecError::NoSuccessor {
                name: qname.to_string(),
            })?;
        self.signed_nsec(qname, next, types, ttl, now)
    }

    /// The authority records of a referral to `cut`, an unsigned delegation (no DS there): its
    /// NSEC with types NS, RRSIG and NSEC, which proves the DS absent, and the NSEC's RRSIGs.
    /// The next name is `<first label>\000.<parent>`, past every name below the cut, which
    /// belong to the child (RFC 9824 §3.4). The same records answer a DS query at the cut.
    pub fn deny_ds(&self, cut: &Name, ttl: u32, now: u64) -> Result<Vec<Record>, DnssecError> {
        let next = successor_of_first_label(cut).ok_or_else(|| DnssecError::NoSuccessor {
            name: cut.to_string(),
        })?;
        let types = vec![RecordType::NS, RecordType::RRSIG, RecordType::NSEC];
        self.signed_nsec(cut, next, types, ttl, now)
    }

    fn signed_nsec(
        &self,
        owner: &Name,
        next: Name,
        types: Vec<RecordType>,
        ttl: u32,
        now: u64,
    ) -> Result<Vec<Record>, DnssecError> {
        let nsec = RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types)));
        let rrset = RrSet {
            name: owner.to_lowercase(),
            rtype: RecordType::NSEC,
            ttl,
            rdata: vec![nsec.clone()],
        };
        let rrsigs = self.sign(owner, &rrset, now)?;
        let mut records = vec![Record::from_rdata(owner.clone(), ttl, nsec)];
        records.extend(rrsigs.records(owner, ttl));
        Ok(records)
    }
}

/// `\000.<name>`, the name right after `name` in canonical order, if short enough.
fn successor(name: &Name) -> Option<Name> {
    if lowercase_wire(name).len() + 2 > MAX_NAME_WIRE {
        return None;
    }
    name.to_lowercase().prepend_label(&b"\0"[..]).ok()
}

/// The first name after `name` and all its descendants in canonical order, among the names
/// that can exist: `<label>\000.<parent>`, or, when that is too long, the first label with its
/// last octet that can grow incremented (`abc` → `abd`; nothing longer fits, so nothing sorts
/// between). None only for a first label of 0xFF octets at full length.
fn successor_of_first_label(name: &Name) -> Option<Name> {
    let lower = name.to_lowercase();
    let mut labels = lower.iter();
    let mut first = labels.next()?.to_vec();
    let rest: Vec<&[u8]> = labels.collect();
    if first.len() < MAX_LABEL && lowercase_wire(&lower).len() < MAX_NAME_WIRE {
        first.push(0);
    } else {
        let at = first.iter().rposition(|&octet| octet != 0xFF)?;
        first.truncate(at + 1);
        first[at] += 1;
        // Canonical order compares lowercased octets: after '@' (0x40) comes '[' (0x5B).
        if first[at].is_ascii_uppercase() {
            first[at] = b'[';
        }
    }
    let mut next =
        Name::from_labels(std::iter::once(first).chain(rest.into_iter().map(<[u8]>::to_vec)))
            .ok()?;
    next.set_fqdn(true);
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn successors() {
        let labels = |labels: &[&[u8]]| Name::from_labels(labels.iter().copied()).unwrap();
        assert_eq!(
            successor(&n("A.Example.com.")).unwrap(),
            labels(&[b"\0", b"a", b"example", b"com"])
        );
        assert_eq!(
            successor_of_first_label(&n("Sub.example.com.")).unwrap(),
            labels(&[b"sub\0", b"example", b"com"])
        );
        // 63-octet first label: cannot grow, so its last octet does.
        let long = format!("{}.example.com.", "a".repeat(63));
        let next = successor_of_first_label(&n(&long)).unwrap();
        assert_eq!(next, n(&format!("{}b.example.com.", "a".repeat(62))));
        let at = format!("{}@", "a".repeat(62));
        let at = Name::from_labels([at.as_bytes(), b"example", b"com"]).unwrap();
        let next = successor_of_first_label(&at).unwrap();
        assert_eq!(next.iter().next().unwrap()[62], b'[');
        // A 255-octet name has no room for `\000.`, nor for one more octet in its first label.
        let full = format!(
            "{}.{}.{}.{}.",
            "a".repeat(62),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(62)
        );
        assert_eq!(lowercase_wire(&n(&full)).len(), 255);
        assert!(successor(&n(&full)).is_none());
        let next = successor_of_first_label(&n(&full)).unwrap();
        assert_eq!(
            next.iter().next().unwrap(),
            &format!("{}b", "a".repeat(61)).into_bytes()[..]
        );
        assert!(n(&full).cmp(&next).is_lt());
    }
}
