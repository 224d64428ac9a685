//! Signed answers for DO=1 queries: each authoritative RRset with its RRSIGs, made by the
//! zone's signer on the spot (from its cache); for a negative answer, the NSEC of compact
//! denial (RFC 9824); for a referral, the DS RRset or the NSEC proving there is none. The
//! responder decides what goes in the answer; this decides what signs it.

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};

use super::responder::{negative_soa, Outcome, Placed};
use crate::dnssec::{self, Denial, DnssecError};

/// The state of signing one answer.
pub(super) struct Signing {
    /// Unix seconds.
    pub(super) now: u64,
    /// The query set CO: a nonexistent name gets RCODE NXDOMAIN (RFC 9824 §5.1).
    pub(super) compact_ok: bool,
    pub(super) fresh_until: Option<u64>,
}

impl Signing {
    /// Notes that the answer holds signatures due for renewal at `renew_at`.
    fn holds(&mut self, renew_at: u64) {
        self.fresh_until = Some(self.fresh_until.map_or(renew_at, |t| t.min(renew_at)));
    }

    /// `placed`'s records, followed by their RRSIGs if its zone is signed and it is the zone's
    /// authoritative data: not a delegation's NS RRset nor glue (RFC 4035 §2.2), which the
    /// child zone signs, if anyone. DS at a cut is the parent's and signed.
    pub(super) fn records(&mut self, placed: &Placed<'_>) -> Result<Vec<Record>, DnssecError> {
        let mut records: Vec<Record> = placed.records().collect();
        let Some(signer) = placed.zone.signer.as_deref() else {
            return Ok(records);
        };
        if placed.set.rtype != RecordType::DS && placed.zone.delegation(&placed.owner).is_some() {
            return Ok(records);
        }
        let rrsigs = signer.sign(&placed.owner, placed.set, self.now)?;
        self.holds(rrsigs.renew_at());
        records.extend(rrsigs.records(&placed.owner, placed.ttl));
        Ok(records)
    }

    /// Notes the renewal times of the RRSIGs among NSEC `records` from `signer`.
    fn holds_denial(&mut self, records: &[Record], signer: &dnssec::Signer) {
        let refresh = signer.config().refresh.as_secs();
        for record in records {
            if let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &record.data {
                // The expiration is a 32-bit serial number (RFC 4034 §3.1.5), later than now.
                let left = rrsig
                    .input()
                    .sig_expiration
                    .get()
                    .wrapping_sub(self.now as u32);
                self.holds((self.now + u64::from(left)).saturating_sub(refresh));
            }
        }
    }
}

/// The RRsets of an answer, by section.
pub(super) struct Sections<'a, 'z> {
    pub(super) answer: &'a [Placed<'z>],
    pub(super) authority: &'a [Placed<'z>],
    pub(super) required: &'a [Placed<'z>],
    pub(super) optional: &'a [Placed<'z>],
}

/// Fills `response` for a DO=1 query: each section's RRsets with their RRSIGs; for a negative
/// answer from a signed zone, the NSEC of compact denial (RFC 9824); for a referral from one,
/// the DS RRset or the NSEC proving there is none. Returns the optional additional RRsets,
/// each with its RRSIGs.
pub(super) fn signed(
    response: &mut Message,
    qtype: RecordType,
    outcome: &Outcome<'_>,
    sections: Sections<'_, '_>,
    signing: &mut Signing,
) -> Result<Vec<Vec<Record>>, DnssecError> {
    for placed in sections.answer {
        response.add_answers(signing.records(placed)?);
    }
    for placed in sections.authority {
        response.add_authorities(signing.records(placed)?);
    }
    match *outcome {
        Outcome::Answer => {}
        Outcome::NoData {
            zone,
            ref name,
            present,
        } => {
            if let Some(signer) = zone.signer.as_deref() {
                let ttl = negative_soa(zone).ttl;
                let at_cut = zone.delegation(name).is_some_and(|ns| ns.name == *name);
                let nsec = if qtype == RecordType::DS && at_cut {
                    // RFC 9824 §3.4: an unsigned delegation's NSEC, as in a referral.
                    signer.deny_ds(name, ttl, signing.now)?
                } else {
                    // A pool whose answer for this client is NODATA leaves its placeholder in
                    // the zone: the type asked for is the one proven absent.
                    let types: Vec<RecordType> = present
                        .iter()
                        .map(|set| set.rtype)
                        .filter(|&rtype| rtype != qtype)
                        .collect();
                    signer.deny(name, Denial::NoData(&types), ttl, signing.now)?
                };
                signing.holds_denial(&nsec, signer);
                response.add_authorities(nsec);
            }
        }
        Outcome::NxDomain { zone, ref name } => {
            if let Some(signer) = zone.signer.as_deref() {
                // RFC 9824 §3.1: the name "exists" with nothing but NXNAME; the RCODE says
                // NXDOMAIN only to a resolver that asked for it with CO (§5.1).
                if !signing.compact_ok {
                    response.metadata.response_code = ResponseCode::NoError;
                }
                let ttl = negative_soa(zone).ttl;
                let nsec = signer.deny(name, Denial::NxName, ttl, signing.now)?;
                signing.holds_denial(&nsec, signer);
                response.add_authorities(nsec);
            }
        }
        Outcome::Referral { zone, ns } => {
            if let Some(signer) = zone.signer.as_deref() {
                match zone.rrset(&ns.name, RecordType::DS) {
                    Some(ds) => {
                        let ds = signing.records(&Placed {
                            owner: ns.name.clone(),
                            set: ds,
                            zone,
                            ttl: ds.ttl,
                        })?;
                        response.add_authorities(ds);
                    }
                    None => {
                        let ttl = negative_soa(zone).ttl;
                        let nsec = signer.deny_ds(&ns.name, ttl, signing.now)?;
                        signing.holds_denial(&nsec, signer);
                        response.add_authorities(nsec);
                    }
                }
            }
        }
    }
    for placed in sections.required {
        response.add_additionals(signing.records(placed)?);
    }
    sections
        .optional
        .iter()
        .map(|placed| signing.records(placed))
        .collect()
}
