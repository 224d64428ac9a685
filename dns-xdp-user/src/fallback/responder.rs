//! The authoritative responder: builds the answer to one DNS message from the loaded zones.
//!
//! It serves the queries the XDP fast path passes up and is the oracle the XDP tests compare
//! against, so for A and AAAA it must produce exactly what the fast path does: minimal
//! responses, the question echoed byte for byte, answers owned by the client's spelling of the
//! name, and an OPT record without options.
//!
//! Everything else follows RFC 1034 §4.3.2 the way Knot DNS 3.2 does by default, so operators
//! can compare the two answer for answer: CNAME chains are followed (at most `MAX_CNAMES`,
//! loops stopped) — unlike Knot, also into the other zones we serve, as NSD does; wildcards are
//! expanded at the closest encloser (RFC 4592); names at or below a zone cut get a referral
//! with glue; ANY gets one RRset (RFC 8482); NS, MX and SRV answers carry their targets'
//! addresses in the additional section, and positive answers no NS RRset in the authority.
//!
//! DNSSEC: a DO=1 query for a zone with a [`crate::dnssec::Signer`] gets every authoritative
//! RRset with its RRSIGs, signed on the spot (from the signer's cache): answers, each link of a
//! CNAME chain, steered answers as chosen, wildcard answers (signed for the query name, RFC
//! 9824 §3.3), the SOA of negative answers with one NSEC by Compact Denial of Existence (RFC
//! 9824: NXDOMAIN becomes NOERROR with NXNAME in the NSEC's bitmap, unless the query sets the
//! CO flag), and in referrals the DS RRset or the NSEC proving there is none. Delegation NS
//! RRsets and glue stay unsigned (RFC 4035 §2.2). DO=0 queries get what they always got. The
//! signing is `fallback/signing.rs`'s, the OPT records `fallback/edns.rs`'s.

use std::{net::IpAddr, sync::Arc};

use hickory_proto::op::{Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use crate::catalog::{Served, Snapshot};
use crate::dnssec::{self, NXNAME};
use crate::fallback::{
    edns,
    packet_cache::PacketCache,
    signing::{signed, Sections, Signing},
    splice,
};
use crate::render::Rendered;
use crate::steering::steered::{Client, Steered};
use crate::zone::{Lookup, RrSet, Zone};

/// UDP payload limit without EDNS (RFC 1035 §4.2.1), and the floor with it (RFC 6891 §6.2.5).
const MIN_UDP_PAYLOAD: u16 = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

pub struct Responder {
    /// The zones and their signers; shared with the responder a health change replaces, where
    /// only `steered` differs.
    snapshot: Arc<Snapshot>,
    edns_payload: u16,
    /// The zones' A/AAAA answers as the fast path serves them, spliced into replies without a
    /// Message round trip.
    rendered: Arc<Rendered>,
    /// The pools' answers, which replace the placeholder RRsets their names hold in the zones.
    steered: Arc<Steered>,
    /// Replies the general path built, for repeated queries; never a steered one. Signed
    /// replies are kept only until their first signature is due for renewal.
    cache: PacketCache,
}

impl Responder {
    /// Answers from `snapshot` with its `rendered` answers (made once for both paths) and the
    /// pools' answers in `steered`. `edns_payload` is the UDP payload size advertised in our
    /// OPT records.
    pub fn new(
        snapshot: Arc<Snapshot>,
        rendered: Arc<Rendered>,
        steered: Arc<Steered>,
        edns_payload: u16,
    ) -> Self {
        Responder {
            snapshot,
            edns_payload,
            rendered,
            steered,
            cache: PacketCache::default(),
        }
    }

    /// Answers from `zones` as they are: unsigned, no aliases, no pools.
    pub fn for_zones(zones: Vec<Zone>, edns_payload: u16) -> Self {
        Self::for_snapshot(Snapshot::unsigned(zones), edns_payload)
    }

    /// Answers from `snapshot`, rendered here, without pools.
    pub fn for_snapshot(snapshot: Snapshot, edns_payload: u16) -> Self {
        let rendered = Arc::new(Rendered::of(&snapshot));
        Self::new(Arc::new(snapshot), rendered, Arc::default(), edns_payload)
    }

    /// This responder with the pools answering from `steered`: the zones and rendered answers
    /// are shared, so a health change costs what its pools cost, whatever the zones' size.
    pub fn with_steered(&self, steered: Arc<Steered>) -> Self {
        Self::new(
            Arc::clone(&self.snapshot),
            Arc::clone(&self.rendered),
            steered,
            self.edns_payload,
        )
    }

    pub fn steered(&self) -> &Arc<Steered> {
        &self.steered
    }

    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    pub fn edns_payload(&self) -> u16 {
        self.edns_payload
    }

    /// Answers one DNS message received over `transport` from `source`. None = send nothing:
    /// the message is shorter than a header, or is itself a response.
    pub fn respond(
        &self,
        query: &[u8],
        transport: Transport,
        source: Option<IpAddr>,
    ) -> Option<Vec<u8>> {
        crate::fallback::test_hook::panic_if_named(query);
        let rendered = |name: &[u8], qtype| self.rendered.get(name, qtype).map(|r| &r.section);
        if let Some(reply) = splice::reply(query, transport, self.edns_payload, rendered) {
            return Some(reply);
        }
        if let Some(reply) = self.cache.get(query, transport) {
            return Some(reply);
        }
        let General {
            reply,
            steered,
            fresh_until,
        } = self.respond_general(query, transport, source)?;
        // A steered reply depends on the client and a random draw, not on the query alone.
        if !steered {
            self.cache.put(query, transport, &reply, fresh_until);
        }
        Some(reply)
    }

    /// [`Responder::respond`] without the rendered shortcut: decodes the query and encodes a
    /// message. The reference the shortcut and the XDP fast path are both tested against.
    pub fn respond_in_full(
        &self,
        query: &[u8],
        transport: Transport,
        source: Option<IpAddr>,
    ) -> Option<Vec<u8>> {
        self.respond_general(query, transport, source)
            .map(|general| general.reply)
    }

    fn respond_general(
        &self,
        query: &[u8],
        transport: Transport,
        source: Option<IpAddr>,
    ) -> Option<General> {
        let header = Header::read(&mut BinDecoder::new(query)).ok()?;
        // Never answer a response: that invites reflection loops between servers.
        if header.message_type == MessageType::Response {
            return None;
        }
        let mut response = Message::new(header.id, MessageType::Response, header.op_code);
        response.metadata.recursion_desired = header.recursion_desired;
        response.metadata.checking_disabled = header.checking_disabled;

        let request = match Message::from_vec(query) {
            Ok(request) if edns::opt_owners_are_root(query).unwrap_or(false) => request,
            _ => {
                response.metadata.response_code = ResponseCode::FormErr;
                if header.counts.queries == 1 {
                    if let Some(question) = first_question(query) {
                        response.add_query(question);
                    }
                }
                return Some(General {
                    reply: self.encode(response, Vec::new(), None, transport)?,
                    steered: false,
                    fresh_until: None,
                });
            }
        };

        let asked = edns::Asked::of(request.edns.as_ref());
        // RFC 6891 §7: a query with OPT gets an OPT back, whatever the outcome.
        if request.edns.is_some() {
            response.set_edns(edns::ours(self.edns_payload, &asked));
        }
        if let [question] = request.queries.as_slice() {
            response.add_query(question.clone());
        }
        let edns::Asked {
            client_payload,
            dnssec_ok,
            compact_ok,
            subnet,
        } = asked;
        let client = Client {
            addr: source,
            subnet: subnet.map(|s| (s.addr(), s.source_prefix())),
        };
        let mut optional = Vec::new();
        let mut scope = None;
        let mut signing = dnssec_ok.then(|| Signing {
            now: dnssec::unix_now(),
            compact_ok,
            fresh_until: None,
        });
        if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
            // RFC 6891 §6.1.3: we only speak EDNS version 0.
            response.metadata.response_code = ResponseCode::BADVERS;
        } else if header.op_code != OpCode::Query {
            response.metadata.response_code = ResponseCode::NotImp;
        } else if request.queries.len() != 1 {
            response.metadata.response_code = ResponseCode::FormErr;
        } else {
            (optional, scope) = self.answer(
                &mut response,
                &request.queries[0],
                &client,
                signing.as_mut(),
            );
        }
        // RFC 7871 §7.2.1: echo the client's subnet with the scope the answer depends on.
        if let (Some(subnet), Some(edns)) = (subnet, response.edns.as_mut()) {
            let echo = ClientSubnet::new(subnet.addr(), subnet.source_prefix(), scope.unwrap_or(0));
            edns.options_mut().insert(EdnsOption::Subnet(echo));
        }
        let reply = self.encode(response, optional, client_payload, transport)?;
        Some(General {
            reply,
            steered: scope.is_some(),
            fresh_until: signing.and_then(|signing| signing.fresh_until),
        })
    }

    /// Fills in the answer to a well-formed standard query, as RFC 1034 §4.3.2 lays it out and
    /// Knot DNS 3.2 implements it. Returns the optional additional RRsets, which `encode` adds
    /// only as far as they fit (RFC 2181 §9), and the ECS scope when a pool answered. With
    /// `signing` (a DO=1 query), RRsets of signed zones come with their RRSIGs.
    fn answer(
        &self,
        response: &mut Message,
        question: &Query,
        client: &Client,
        signing: Option<&mut Signing>,
    ) -> (Vec<Vec<Record>>, Option<u8>) {
        let qname = question.name();
        let qtype = question.query_type();
        if !matches!(question.query_class(), DNSClass::IN | DNSClass::ANY)
            // Zone transfers are not offered.
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            response.metadata.response_code = ResponseCode::Refused;
            return (Vec::new(), None);
        }
        let Some(zone) = self.zone_for(qname, qtype) else {
            response.metadata.response_code = ResponseCode::Refused;
            return (Vec::new(), None);
        };
        // RFC 9824 §3.5: NXNAME is a meta-type of compact denial, never asked for.
        if qtype == NXNAME && zone.signer.is_some() {
            response.metadata.response_code = ResponseCode::FormErr;
            return (Vec::new(), None);
        }

        let mut answer = Vec::new();
        let mut scope = None;
        let outcome = self.resolve(zone, qname, qtype, client, &mut answer, &mut scope);
        // RFC 1034 §4.3.2 step 3b: a referral is not authoritative. RFC 6604 §3: AA reflects
        // the first owner name, so a CNAME chain that ends in a referral keeps it (as Knot and
        // NSD do).
        response.metadata.authoritative =
            !(answer.is_empty() && matches!(outcome, Outcome::Referral { .. }));
        let mut authority = Vec::new();
        match &outcome {
            Outcome::Answer => {}
            Outcome::NoData { zone, .. } => authority.push(negative_soa(zone)),
            Outcome::NxDomain { zone, .. } => {
                // RFC 6604 §2.1: after a CNAME chain, the RCODE is about its last name.
                response.metadata.response_code = ResponseCode::NXDomain;
                authority.push(negative_soa(zone));
            }
            Outcome::Referral { zone, ns } => authority.push(Placed {
                owner: ns.name.clone(),
                set: ns,
                zone,
                ttl: ns.ttl,
            }),
        }
        let referral = matches!(outcome, Outcome::Referral { .. });
        let (required, optional) = additional(&answer, &authority, referral);

        if let Some(signing) = signing {
            let sections = Sections {
                answer: &answer,
                authority: &authority,
                required: &required,
                optional: &optional,
            };
            return match signed(response, qtype, &outcome, sections, signing) {
                Ok(optional) => (optional, scope),
                Err(e) => {
                    // RFC 4035 §3.1: signed data goes out with its signatures or not at all.
                    log::error!("cannot sign the answer to {qname} {qtype}: {e}");
                    response.answers.clear();
                    response.authorities.clear();
                    response.additionals.clear();
                    response.metadata.response_code = ResponseCode::ServFail;
                    (Vec::new(), None)
                }
            };
        }
        response.add_answers(answer.iter().flat_map(Placed::records));
        response.add_authorities(authority.iter().flat_map(Placed::records));
        response.add_additionals(required.iter().flat_map(Placed::records));
        let optional = optional
            .iter()
            .map(|placed| placed.records().collect())
            .collect();
        (optional, scope)
    }

    /// Follows `qname` through our zones, appending answer RRsets to `answer`, and says how
    /// the search ended. A pool's name answers with what steering chose for `client`, and
    /// `scope` records the ECS scope of that choice.
    fn resolve<'z>(
        &'z self,
        mut zone: &'z Served,
        qname: &Name,
        qtype: RecordType,
        client: &Client,
        answer: &mut Vec<Placed<'z>>,
        scope: &mut Option<u8>,
    ) -> Outcome<'z> {
        // The name being looked up, spelled as asked: by the client, then by each CNAME. The
        // answer's owner names take this spelling, so the first compresses to the question.
        let mut name = qname.clone();
        loop {
            // RFC 1034 §4.3.2 step 3b: at or below a cut, refer — except for DS at the cut,
            // which lives in the parent (RFC 4035 §3.1.4.1) and is answered from here.
            if let Some(ns) = zone.delegation(&name) {
                if !(qtype == RecordType::DS && ns.name == name) {
                    return Outcome::Referral { zone, ns };
                }
            }
            let rrsets = match zone.find(&name) {
                Lookup::Exact(rrsets) => rrsets,
                Lookup::Wildcard(rrsets) => {
                    // RFC 4592 §4.2 leaves NS at a wildcard undefined; like Knot DNS, treat
                    // the wildcard as the cut it looks like.
                    if let Some(ns) = rrsets.iter().find(|set| set.rtype == RecordType::NS) {
                        return Outcome::Referral { zone, ns };
                    }
                    // RFC 4592 §3.3.1: synthesized with the name looked up as owner.
                    rrsets
                }
                Lookup::NxDomain => return Outcome::NxDomain { zone, name },
            };

            let cname = rrsets.iter().find(|set| set.rtype == RecordType::CNAME);
            if let Some(cname) = cname.filter(|_| follows_cnames(qtype)) {
                // RFC 1034 §3.6.2: the CNAME goes in the answer, then its target is looked
                // up, as long as it is in our zones (RFC 1034 §4.3.2 step 3a). Knot DNS
                // stops after MAX_CNAMES, and so do we.
                if answer.len() == MAX_CNAMES {
                    return Outcome::Answer;
                }
                answer.push(Placed {
                    owner: name,
                    set: cname,
                    zone,
                    ttl: cname.ttl,
                });
                let Some(RData::CNAME(target)) = cname.rdata.first() else {
                    return Outcome::Answer;
                };
                // A name met before means a loop (RFC 1034 §3.6.2 asks servers to detect
                // them): every CNAME of it is already in the answer, so it is complete.
                if answer.iter().any(|placed| placed.owner == target.0) {
                    return Outcome::Answer;
                }
                // A target outside our zones is the resolver's to chase.
                let Some(next) = self.zone_for(&target.0, qtype) else {
                    return Outcome::Answer;
                };
                zone = next;
                name = target.0.clone();
                continue;
            }

            let found = if qtype == RecordType::ANY {
                // RFC 8482 §4.1: answer ANY with one RRset, over every transport. Knot DNS
                // 3.2 sends the first in type-code order (`node_rrset_at(node, 0)`), as here.
                rrsets.first()
            } else {
                rrsets.iter().find(|set| set.rtype == qtype)
            };
            // A pool's placeholder RRset stands in for what steering chooses.
            let found = match found {
                Some(set) => match self.steered.choose(&set.name, set.rtype, client) {
                    Some(choice) => {
                        *scope = Some(choice.scope);
                        choice.rrset
                    }
                    None => Some(set),
                },
                None => None,
            };
            return match found {
                Some(set) => {
                    answer.push(Placed {
                        owner: name,
                        set,
                        zone,
                        ttl: set.ttl,
                    });
                    Outcome::Answer
                }
                None => Outcome::NoData {
                    zone,
                    name,
                    present: rrsets,
                },
            };
        }
    }

    /// The zone holding `name`. DS records live on the parent side of a zone cut (RFC 4035
    /// §3.1.4.1), so for DS the zone of the parent name is preferred, which answers DS at the
    /// apex of a child zone we also serve from its parent, as Knot does.
    fn zone_for(&self, name: &Name, qtype: RecordType) -> Option<&Served> {
        if qtype == RecordType::DS && !name.is_root() {
            if let Some(parent) = self.snapshot.find(&name.base_name()) {
                return Some(parent);
            }
        }
        self.snapshot.find(name)
    }

    /// Serializes `response`, truncating it to what the client accepts over `transport`, then
    /// adds the `optional` additional RRsets that still fit.
    fn encode(
        &self,
        mut response: Message,
        optional: Vec<Vec<Record>>,
        client_payload: Option<u16>,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let limit = match transport {
            // The client's size, but never more than we advertise: larger UDP answers risk IP
            // fragmentation (DNS Flag Day 2020). The fast path applies the same limit.
            Transport::Udp => usize::from(
                client_payload
                    .unwrap_or(0)
                    .min(self.edns_payload)
                    .max(MIN_UDP_PAYLOAD),
            ),
            // The encoder itself stops at the 65535-octet TCP limit and sets TC.
            Transport::Tcp => usize::from(u16::MAX),
        };
        let bytes = to_vec(&response)?;
        if bytes.len() > limit {
            // RFC 2181 §9: drop whole sections rather than send a partial RRset; the client
            // retries over TCP. The question and OPT stay.
            response.answers.clear();
            response.authorities.clear();
            response.additionals.clear();
            response.metadata.truncation = true;
            return to_vec(&response);
        }
        if optional.is_empty() {
            return Some(bytes);
        }
        // RFC 2181 §9: data the client did not ask for never sets TC. Like Knot DNS, add each
        // RRset in order if it fits and skip it if not.
        let required = response.additionals.len();
        response
            .additionals
            .extend(optional.iter().flatten().cloned());
        match to_vec(&response) {
            Some(all) if all.len() <= limit => return Some(all),
            _ => response.additionals.truncate(required),
        }
        let mut best = bytes;
        for rrset in optional {
            let before = response.additionals.len();
            response.additionals.extend(rrset);
            match to_vec(&response) {
                Some(bigger) if bigger.len() <= limit => best = bigger,
                _ => response.additionals.truncate(before),
            }
        }
        Some(best)
    }
}

/// How many CNAMEs one answer follows: Knot DNS 3.2's `CNAME_CHAIN_MAX`, lowered from 20 in
/// 2021 to limit amplification; resolvers re-query from where the chain stops.
const MAX_CNAMES: usize = 5;

/// How the search for an answer ended; decides the authority section and the header.
pub(super) enum Outcome<'z> {
    /// Positive: the RRset asked for, or a CNAME chain that stops (leaves our zones, loops, or
    /// reaches `MAX_CNAMES`) before it.
    Answer,
    /// The last name, `name`, exists without the type asked for (RFC 2308 §2.2); it (or the
    /// wildcard that stands for it) owns the RRsets `present`.
    NoData {
        zone: &'z Served,
        name: Name,
        present: &'z [RrSet],
    },
    /// The last name, `name`, does not exist (RFC 2308 §2.1).
    NxDomain { zone: &'z Served, name: Name },
    /// The last name is at or below a zone cut whose NS RRset is `ns`.
    Referral { zone: &'z Served, ns: &'z RrSet },
}

/// An RRset as it goes into the response: under `owner` (the name as asked, for answers), with
/// `ttl`, and from `zone`, where additional-section processing looks up its targets.
pub(super) struct Placed<'z> {
    pub(super) owner: Name,
    pub(super) set: &'z RrSet,
    pub(super) zone: &'z Served,
    pub(super) ttl: u32,
}

impl Placed<'_> {
    pub(super) fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.set
            .rdata
            .iter()
            .map(|rdata| Record::from_rdata(self.owner.clone(), self.ttl, rdata.clone()))
    }

    fn is(&self, owner: &Name, rtype: RecordType) -> bool {
        self.set.rtype == rtype && self.owner == *owner
    }
}

/// RFC 1034 §3.6.2: a CNAME is followed for any type but CNAME itself and ANY; like Knot DNS,
/// also not for the DNSSEC types that may sit beside a CNAME (RFC 4035 §2.5).
fn follows_cnames(qtype: RecordType) -> bool {
    !matches!(
        qtype,
        RecordType::CNAME | RecordType::ANY | RecordType::RRSIG | RecordType::NSEC
    )
}

/// RFC 2308 §3: negative answers carry the zone's SOA with the negative-caching TTL, the lower
/// of its TTL and its MINIMUM field.
pub(super) fn negative_soa(zone: &Served) -> Placed<'_> {
    let soa = zone.soa();
    let ttl = match soa.rdata.first() {
        Some(RData::SOA(fields)) => soa.ttl.min(fields.minimum),
        _ => soa.ttl,
    };
    Placed {
        owner: soa.name.clone(),
        set: soa,
        zone,
        ttl,
    }
}

/// A reply of the general path.
struct General {
    reply: Vec<u8>,
    /// A pool's answer is in it.
    steered: bool,
    /// Unix seconds after which the reply must not be sent again: the earliest renewal time of
    /// its signatures. None for a reply without any.
    fresh_until: Option<u64>,
}

/// Additional-section processing as Knot DNS 3.2 does it by default (RFC 1034 §3.7, RFC 1035
/// §3.3.9 and §3.3.11, RFC 2782): for each NS, MX and SRV RRset in the answer and authority
/// sections, the A and then AAAA RRsets of each target its zone holds — exactly, or from a
/// wildcard (owned by the target); below a zone cut only exact glue. Each RRset at most once.
/// In-domain glue (RFC 9471: the NS target is at or below the NS owner, under a cut) comes
/// first; in a referral it is required, so `encode` truncates rather than leave it out. All
/// else is optional. A and AAAA answers have no additional targets: they stay minimal.
fn additional<'z>(
    answer: &[Placed<'z>],
    authority: &[Placed<'z>],
    referral: bool,
) -> (Vec<Placed<'z>>, Vec<Placed<'z>>) {
    let mut required: Vec<Placed<'z>> = Vec::new();
    let mut optional: Vec<Placed<'z>> = Vec::new();
    for placed in answer.iter().chain(authority) {
        let zone = placed.zone;
        let mut glue = Vec::new();
        let mut others = Vec::new();
        for rdata in &placed.set.rdata {
            let target = match rdata {
                RData::NS(ns) => &ns.0,
                RData::MX(mx) => &mx.exchange,
                RData::SRV(srv) => &srv.target,
                _ => continue,
            };
            // "." means no service (RFC 2782, RFC 7505); nothing to look up outside the zone.
            if target.is_root() || !zone.contains(target) {
                continue;
            }
            if zone.delegation(target).is_some() {
                let in_domain =
                    placed.set.rtype == RecordType::NS && placed.set.name.zone_of(target);
                let group = if in_domain { &mut glue } else { &mut others };
                group.push((target, zone.rrsets_at(target)));
            } else if let Lookup::Exact(rrsets) | Lookup::Wildcard(rrsets) = zone.find(target) {
                others.push((target, rrsets));
            }
        }
        let glue_is_required = referral && placed.set.rtype == RecordType::NS;
        for (i, (target, rrsets)) in glue.iter().chain(&others).enumerate() {
            for rtype in [RecordType::A, RecordType::AAAA] {
                let Some(set) = rrsets.iter().find(|set| set.rtype == rtype) else {
                    continue;
                };
                let seen = answer
                    .iter()
                    .chain(authority)
                    .chain(&required)
                    .chain(&optional)
                    .any(|other| other.is(target, rtype));
                if seen {
                    continue;
                }
                let placed = Placed {
                    owner: (*target).clone(),
                    set,
                    zone,
                    ttl: set.ttl,
                };
                if glue_is_required && i < glue.len() {
                    required.push(placed);
                } else {
                    optional.push(placed);
                }
            }
        }
    }
    (required, optional)
}

fn to_vec(message: &Message) -> Option<Vec<u8>> {
    message
        .to_vec()
        .map_err(|e| log::error!("cannot encode response {}: {e}", message.metadata.id))
        .ok()
}

/// The question of a message whose later sections may be malformed.
fn first_question(query: &[u8]) -> Option<Query> {
    let mut decoder = BinDecoder::new(query);
    Header::read(&mut decoder).ok()?;
    Query::read(&mut decoder).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_EDNS_PAYLOAD;
    use hickory_proto::op::Edns;
    use hickory_proto::rr::rdata::opt::EdnsCode;
    use hickory_proto::rr::rdata::opt::EdnsOption;
    use hickory_proto::rr::rdata::{A, AAAA, SOA};
    use std::net::Ipv4Addr;

    const ZONE: &str = "\
$TTL 3600
@      SOA   ns1 hostmaster 1 7200 900 1209600 300
@      NS    ns1
ns1    A     192.0.2.53
www    A     192.0.2.1
www    AAAA  2001:db8::1
multi  A     192.0.2.1
multi  A     192.0.2.2
multi  A     192.0.2.3
multi  A     192.0.2.4
alias  CNAME www
a.b    TXT   \"below an empty non-terminal\"
";

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn example_zone() -> Zone {
        let mut text = ZONE.to_string();
        for i in 0..40 {
            text.push_str(&format!("big A 198.51.100.{i}\n"));
        }
        Zone::parse(&n("example.com."), &text, "example.zone").unwrap()
    }

    fn responder() -> Responder {
        Responder::for_zones(vec![example_zone()], DEFAULT_EDNS_PAYLOAD)
    }

    fn query_message(name: &str, qtype: RecordType) -> Message {
        let mut m = Message::new(0xbeef, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(n(name), qtype));
        m
    }

    fn query(name: &str, qtype: RecordType) -> Vec<u8> {
        query_message(name, qtype).to_vec().unwrap()
    }

    fn edns_query(name: &str, qtype: RecordType, payload: u16) -> Vec<u8> {
        let mut m = query_message(name, qtype);
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        m.set_edns(edns);
        m.to_vec().unwrap()
    }

    fn ask(r: &Responder, q: &[u8], transport: Transport) -> (Vec<u8>, Message) {
        let bytes = r.respond(q, transport, None).expect("a response");
        let message = Message::from_vec(&bytes).expect("the response parses");
        (bytes, message)
    }

    fn udp(q: &[u8]) -> Message {
        ask(&responder(), q, Transport::Udp).1
    }

    fn a(last: u8) -> RData {
        RData::A(A(Ipv4Addr::new(192, 0, 2, last)))
    }

    /// Header checks shared by every answer from our zones.
    fn assert_authoritative(m: &Message, rcode: ResponseCode) {
        assert_eq!(m.metadata.id, 0xbeef);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert_eq!(m.metadata.op_code, OpCode::Query);
        assert_eq!(m.metadata.response_code, rcode);
        assert!(m.metadata.authoritative);
        assert!(m.metadata.recursion_desired, "RD copied");
        assert!(!m.metadata.recursion_available);
        assert!(!m.metadata.authentic_data);
        assert!(!m.metadata.truncation);
        assert_eq!(m.queries.len(), 1);
    }

    #[test]
    fn positive_a_single_record() {
        let (bytes, m) = ask(
            &responder(),
            &query("www.example.com.", RecordType::A),
            Transport::Udp,
        );
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(m.answers.len(), 1);
        assert!(m.answers[0].name.eq_case(&n("www.example.com.")));
        assert_eq!(m.answers[0].ttl, 3600);
        assert_eq!(m.answers[0].dns_class, DNSClass::IN);
        assert_eq!(m.answers[0].data, a(1));
        assert!(m.authorities.is_empty() && m.additionals.is_empty());
        assert!(m.edns.is_none(), "no OPT when the query had none");
        // Header (12) + question (17 + 4) + answer (pointer 2 + 10 + 4).
        assert_eq!(bytes.len(), 12 + 21 + 16);
    }

    #[test]
    fn positive_a_four_records_in_zone_order() {
        let m = udp(&query("multi.example.com.", RecordType::A));
        assert_authoritative(&m, ResponseCode::NoError);
        let data: Vec<RData> = m.answers.iter().map(|r| r.data.clone()).collect();
        assert_eq!(data, [a(1), a(2), a(3), a(4)]);
    }

    #[test]
    fn positive_aaaa() {
        let m = udp(&query("www.example.com.", RecordType::AAAA));
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            m.answers.iter().map(|r| r.data.clone()).collect::<Vec<_>>(),
            [RData::AAAA(AAAA("2001:db8::1".parse().unwrap()))]
        );
    }

    #[test]
    fn mixed_case_query_is_matched_and_echoed_exactly() {
        let q = query("wWw.ExAmPlE.CoM.", RecordType::A);
        let (bytes, m) = ask(&responder(), &q, Transport::Udp);
        assert_authoritative(&m, ResponseCode::NoError);
        // The question section is byte-identical, and the answer owner points at it (0xC00C).
        assert_eq!(&bytes[12..q.len()], &q[12..]);
        assert_eq!(&bytes[q.len()..q.len() + 2], &[0xc0, 0x0c]);
        assert!(m.queries[0].name().eq_case(&n("wWw.ExAmPlE.CoM.")));
        assert!(m.answers[0].name.eq_case(&n("wWw.ExAmPlE.CoM.")));
        assert_eq!(m.answers[0].data, a(1));
    }

    #[test]
    fn header_bits_cd_copied_ad_and_aa_from_query_ignored() {
        let mut m = query_message("www.example.com.", RecordType::A);
        m.metadata.checking_disabled = true;
        m.metadata.authentic_data = true;
        m.metadata.recursion_desired = false;
        m.metadata.recursion_available = true;
        let r = udp(&m.to_vec().unwrap());
        assert!(r.metadata.checking_disabled);
        assert!(!r.metadata.authentic_data);
        assert!(!r.metadata.recursion_desired);
        assert!(!r.metadata.recursion_available);
        assert!(r.metadata.authoritative);
    }

    fn assert_negative(m: &Message, rcode: ResponseCode, soa_ttl: u32) {
        assert_authoritative(m, rcode);
        assert!(m.answers.is_empty());
        assert_eq!(m.authorities.len(), 1);
        let soa = &m.authorities[0];
        assert_eq!(soa.name, n("example.com."));
        assert_eq!(soa.ttl, soa_ttl);
        assert!(matches!(&soa.data, RData::SOA(s) if s.minimum == 300));
        assert!(m.additionals.is_empty());
    }

    #[test]
    fn nxdomain_and_nodata_carry_the_soa_with_the_negative_ttl() {
        // SOA TTL 3600, MINIMUM 300: min(3600, 300).
        assert_negative(
            &udp(&query("nope.example.com.", RecordType::A)),
            ResponseCode::NXDomain,
            300,
        );
        assert_negative(
            &udp(&query("www.example.com.", RecordType::TXT)),
            ResponseCode::NoError,
            300,
        );
        // An empty non-terminal exists (RFC 8020): NODATA, not NXDOMAIN.
        assert_negative(
            &udp(&query("b.example.com.", RecordType::A)),
            ResponseCode::NoError,
            300,
        );
        assert_negative(
            &udp(&query("x.www.example.com.", RecordType::A)),
            ResponseCode::NXDomain,
            300,
        );

        // SOA TTL below MINIMUM: the SOA TTL.
        let zone = Zone::parse(
            &n("example.com."),
            "@ 60 SOA ns1 hm 1 2 3 4 300\n@ 60 NS ns1\n",
            "z",
        )
        .unwrap();
        let r = Responder::for_zones(vec![zone], DEFAULT_EDNS_PAYLOAD);
        let m = ask(
            &r,
            &query("nope.example.com.", RecordType::A),
            Transport::Udp,
        )
        .1;
        assert_negative(&m, ResponseCode::NXDomain, 60);
    }

    #[test]
    fn negative_answer_soa_owner_compression_is_case_sensitive() {
        // hickory compresses by exact bytes: the lowercase SOA owner points into a lowercase
        // question (offset 12 + 5 = 0x11) but is written in full after a mixed-case one.
        let q = query("nope.example.com.", RecordType::A);
        let (bytes, _) = ask(&responder(), &q, Transport::Udp);
        assert_eq!(&bytes[q.len()..q.len() + 2], &[0xc0, 0x11]);
        let q = query("nope.EXAMPLE.com.", RecordType::A);
        let (bytes, m) = ask(&responder(), &q, Transport::Udp);
        assert_eq!(&bytes[q.len()..q.len() + 8], b"\x07example");
        assert_negative(&m, ResponseCode::NXDomain, 300);
    }

    #[test]
    fn rfc1034_3_6_2_cname_answer_then_its_target() {
        let (bytes, m) = ask(
            &responder(),
            &query("Alias.example.com.", RecordType::A),
            Transport::Udp,
        );
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            [
                "Alias.example.com. 3600 CNAME www.example.com.",
                "www.example.com. 3600 A 192.0.2.1",
            ]
        );
        assert!(m.authorities.is_empty() && m.additionals.is_empty());
        // The CNAME's owner is the question's name (0xC00C), and the target's records point
        // at the name in the CNAME's RDATA.
        let q_len = query("Alias.example.com.", RecordType::A).len();
        assert_eq!(&bytes[q_len..q_len + 2], &[0xc0, 0x0c]);
    }

    #[test]
    fn refused_outside_our_zones_and_for_other_classes() {
        for q in [
            query("www.example.net.", RecordType::A),
            query("com.", RecordType::NS),
            query("example.com.", RecordType::AXFR),
            {
                let mut m = query_message("www.example.com.", RecordType::A);
                m.queries[0].set_query_class(DNSClass::CH);
                m.to_vec().unwrap()
            },
        ] {
            let m = udp(&q);
            assert_eq!(m.metadata.response_code, ResponseCode::Refused);
            assert!(!m.metadata.authoritative);
            assert_eq!(m.queries.len(), 1);
            assert!(m.answers.is_empty() && m.authorities.is_empty());
        }
        // Class ANY is answered like IN.
        let mut m = query_message("www.example.com.", RecordType::A);
        m.queries[0].set_query_class(DNSClass::ANY);
        assert_eq!(udp(&m.to_vec().unwrap()).answers.len(), 1);
    }

    #[test]
    fn most_specific_zone_answers() {
        let sub = Zone::parse(
            &n("sub.example.com."),
            "$TTL 10\n@ SOA ns1 hm 1 2 3 4 5\n@ NS ns1\nwww A 192.0.2.99\n",
            "sub",
        )
        .unwrap();
        let r = Responder::for_zones(vec![example_zone(), sub], DEFAULT_EDNS_PAYLOAD);
        let m = ask(
            &r,
            &query("www.sub.example.com.", RecordType::A),
            Transport::Udp,
        )
        .1;
        assert_eq!(m.answers[0].data, a(99));
        let m = ask(
            &r,
            &query("nope.sub.example.com.", RecordType::A),
            Transport::Udp,
        )
        .1;
        assert_eq!(m.authorities[0].name, n("sub.example.com."));
        let m = ask(
            &r,
            &query("www.example.com.", RecordType::A),
            Transport::Udp,
        )
        .1;
        assert_eq!(m.answers[0].data, a(1));
    }

    #[test]
    fn notimp_for_other_opcodes() {
        for opcode in [1u8, 2, 4, 5, 15] {
            let mut q = query("www.example.com.", RecordType::A);
            q[2] = (q[2] & 0x87) | (opcode << 3);
            let m = udp(&q);
            assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
            assert_eq!(u8::from(m.metadata.op_code), opcode, "opcode copied");
            assert!(!m.metadata.authoritative);
            assert!(m.answers.is_empty());
        }
    }

    #[test]
    fn nothing_for_short_messages_and_responses() {
        let r = responder();
        assert_eq!(r.respond(&[], Transport::Udp, None), None);
        assert_eq!(r.respond(&[0; 11], Transport::Udp, None), None);
        let mut q = query("www.example.com.", RecordType::A);
        q[2] |= 0x80; // QR
        assert_eq!(r.respond(&q, Transport::Udp, None), None);
    }

    fn assert_formerr(q: &[u8], question_echoed: bool) -> Message {
        let m = udp(q);
        assert_eq!(m.metadata.id, 0xbeef);
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        assert!(!m.metadata.authoritative);
        assert!(m.answers.is_empty() && m.authorities.is_empty());
        assert_eq!(m.queries.len(), usize::from(question_echoed), "{m:?}");
        m
    }

    #[test]
    fn formerr_for_malformed_queries() {
        let good = query("www.example.com.", RecordType::A);
        // Header only, claiming a question.
        assert_formerr(&good[..12], false);
        // Question cut short.
        assert_formerr(&good[..good.len() - 1], false);
        // A good question, then an additional record that is not there.
        let mut bad_additional = good.clone();
        bad_additional[11] = 1;
        let m = assert_formerr(&bad_additional, true);
        assert!(m.queries[0].name().eq_case(&n("www.example.com.")));
        // No question at all.
        let mut no_question = good[..12].to_vec();
        no_question[5] = 0;
        assert_formerr(&no_question, false);
        // Two questions.
        let mut two = query_message("www.example.com.", RecordType::A);
        two.add_query(Query::query(n("ns1.example.com."), RecordType::A));
        assert_formerr(&two.to_vec().unwrap(), false);
    }

    #[test]
    fn formerr_for_bad_opt_records() {
        // Two OPT records.
        let mut q = edns_query("www.example.com.", RecordType::A, 1232);
        let opt = q[q.len() - 11..].to_vec();
        q.extend_from_slice(&opt);
        q[11] = 2;
        assert_formerr(&q, true);
        // OPT owned by a name other than the root.
        let mut q = edns_query("www.example.com.", RecordType::A, 1232);
        let opt_at = q.len() - 11;
        assert_eq!(q[opt_at], 0, "root owner");
        q.splice(opt_at..opt_at + 1, [1, b'x', 0]);
        assert_formerr(&q, true);
    }

    #[test]
    fn edns_response_has_our_payload_version_0_do_copied_no_options() {
        let mut m = query_message("www.example.com.", RecordType::A);
        let mut edns = Edns::new();
        edns.set_max_payload(4096).set_dnssec_ok(true);
        edns.options_mut()
            .insert(EdnsOption::Unknown(10, vec![1, 2, 3, 4, 5, 6, 7, 8]));
        edns.options_mut()
            .insert(EdnsOption::Unknown(65001, vec![9]));
        m.set_edns(edns);
        let r = udp(&m.to_vec().unwrap());
        assert_authoritative(&r, ResponseCode::NoError);
        assert_eq!(r.answers.len(), 1, "COOKIE and unknown options are ignored");
        let edns = r.edns.as_ref().expect("OPT in the response");
        assert_eq!(edns.max_payload(), DEFAULT_EDNS_PAYLOAD);
        assert_eq!(edns.version(), 0);
        assert!(edns.flags().dnssec_ok, "RFC 3225 §3: DO copied");
        assert!(edns.options().as_ref().is_empty());
        assert_eq!(r.additionals.len(), 0);
    }

    #[test]
    fn edns_payload_is_configurable() {
        let r = Responder::for_zones(vec![example_zone()], 4000);
        let m = ask(
            &r,
            &edns_query("www.example.com.", RecordType::A, 1232),
            Transport::Udp,
        )
        .1;
        assert_eq!(m.edns.unwrap().max_payload(), 4000);
    }

    #[test]
    fn badvers_for_edns_versions_above_0() {
        let mut m = query_message("www.example.com.", RecordType::A);
        let mut edns = Edns::new();
        edns.set_version(1);
        m.set_edns(edns);
        let (bytes, r) = ask(&responder(), &m.to_vec().unwrap(), Transport::Udp);
        // hickory decodes RCODE 16 as BADSIG, which shares the number with BADVERS.
        assert_eq!(u16::from(r.metadata.response_code), 16);
        assert_eq!(bytes[3] & 0x0f, 0, "low RCODE bits are 0; 16 is in the OPT");
        assert!(!r.metadata.authoritative);
        assert!(r.answers.is_empty() && r.authorities.is_empty());
        assert_eq!(r.queries.len(), 1);
        let edns = r.edns.expect("OPT in the response");
        assert_eq!((edns.version(), edns.rcode_high()), (0, 1));
    }

    #[test]
    fn truncated_over_512_without_edns() {
        let q = query("big.example.com.", RecordType::A);
        let (bytes, m) = ask(&responder(), &q, Transport::Udp);
        assert!(m.metadata.truncation);
        assert!(m.metadata.authoritative);
        assert!(m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty());
        assert_eq!(&bytes[12..], &q[12..], "only the question is left");
        // A large enough EDNS payload gets everything; the truncated form keeps the OPT.
        let m = udp(&edns_query("big.example.com.", RecordType::A, 1232));
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 40);
        let m = udp(&edns_query("big.example.com.", RecordType::A, 600));
        assert!(m.metadata.truncation);
        assert!(m.edns.is_some());
        // Payloads below 512 count as 512 (RFC 6891 §6.2.5).
        let m = udp(&edns_query("multi.example.com.", RecordType::A, 100));
        assert_eq!(m.answers.len(), 4);
    }

    #[test]
    fn full_answer_over_tcp() {
        let (bytes, m) = ask(
            &responder(),
            &query("big.example.com.", RecordType::A),
            Transport::Tcp,
        );
        assert!(bytes.len() > 512);
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 40);
        assert!(m.answers.iter().all(|r| r.ttl == 3600));
    }

    #[test]
    fn soa_query_is_a_positive_answer() {
        let m = udp(&query("example.com.", RecordType::SOA));
        assert_authoritative(&m, ResponseCode::NoError);
        assert!(matches!(
            &m.answers[0].data,
            RData::SOA(SOA { serial: 1, .. })
        ));
        assert_eq!(
            m.answers[0].ttl, 3600,
            "the SOA TTL rule is for negative answers only"
        );
    }
    /// Each record as "owner TTL TYPE RDATA", the owner with its case.
    fn lines(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data))
            .collect()
    }

    fn zone(origin: &str, text: &str) -> Zone {
        Zone::parse(&n(origin), text, origin).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ask_udp(r: &Responder, name: &str, qtype: RecordType) -> Message {
        ask(r, &query(name, qtype), Transport::Udp).1
    }

    /// Chains, delegations and additional-section data, next to a second zone we serve.
    const CHAINS: &str = "\
$TTL 3600
@          SOA   ns1 hostmaster 1 7200 900 1209600 300
@          NS    ns1
ns1        A     192.0.2.53
ns1        AAAA  2001:db8::53
www        A     192.0.2.1
www        AAAA  2001:db8::1
txt        TXT   hello
one        CNAME two
two        CNAME Www
loop1      CNAME loop2
loop2      CNAME loop1
self       CNAME self
dangling   CNAME nothing
nodata     CNAME www
out        CNAME www.example.net.
other      CNAME www.other.test.
otherx     CNAME nope.other.test.
deleg      CNAME host.sub
c1         CNAME c2
c2         CNAME c3
c3         CNAME c4
c4         CNAME c5
c5         CNAME c6
c6         CNAME c7
c7         A     192.0.2.7
sub        NS    ns.sub
sub        NS    ns.sibling
sub        NS    ns.elsewhere.net.
ns.sub     A     192.0.2.100
ns.sub     AAAA  2001:db8::100
sibling    NS    ns.sibling
ns.sibling A     192.0.2.200
mail       MX    10 mx1
mail       MX    20 www.example.net.
mail       MX    30 mx.wild
mail       MX    40 ns.sub
dup        MX    10 mx1
dup        MX    20 MX1
mx1        A     192.0.2.25
*.wild     A     192.0.2.99
_sip._udp  SRV   0 5 5060 www
null       MX    0 .
";

    const OTHER: &str = "\
$TTL 60
@    SOA   ns hm 7 7200 900 1209600 30
@    NS    ns.example.com.
www  A     198.51.100.1
";

    fn chains() -> Responder {
        Responder::for_zones(
            vec![zone("example.com.", CHAINS), zone("other.test.", OTHER)],
            DEFAULT_EDNS_PAYLOAD,
        )
    }

    const SOA_LINE: &str =
        "example.com. 300 SOA ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300";

    #[test]
    fn rfc1034_4_3_2_cname_chain() {
        let m = ask_udp(&chains(), "One.Example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NoError);
        // Every owner is the name as it was asked for: by the client, then by each CNAME.
        assert_eq!(
            lines(&m.answers),
            [
                "One.Example.com. 3600 CNAME two.example.com.",
                "two.example.com. 3600 CNAME Www.example.com.",
                "Www.example.com. 3600 A 192.0.2.1",
            ]
        );
        assert!(m.authorities.is_empty() && m.additionals.is_empty());
        // A CNAME query gets the CNAME alone.
        let m = ask_udp(&chains(), "one.example.com.", RecordType::CNAME);
        assert_eq!(
            lines(&m.answers),
            ["one.example.com. 3600 CNAME two.example.com."]
        );
    }

    #[test]
    fn rfc1034_4_3_2_cname_chain_into_another_zone_we_serve() {
        let m = ask_udp(&chains(), "other.example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            [
                "other.example.com. 3600 CNAME www.other.test.",
                "www.other.test. 60 A 198.51.100.1",
            ]
        );
        assert!(m.authorities.is_empty());
    }

    #[test]
    fn rfc1034_4_3_2_cname_chain_stops_where_our_zones_end() {
        let m = ask_udp(&chains(), "out.example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            ["out.example.com. 3600 CNAME www.example.net."]
        );
        assert!(m.authorities.is_empty() && m.additionals.is_empty());
    }

    #[test]
    fn rfc1034_3_6_2_cname_loops_are_detected() {
        let m = ask_udp(&chains(), "loop1.example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            [
                "loop1.example.com. 3600 CNAME loop2.example.com.",
                "loop2.example.com. 3600 CNAME loop1.example.com.",
            ]
        );
        let m = ask_udp(&chains(), "SELF.example.com.", RecordType::AAAA);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            ["SELF.example.com. 3600 CNAME self.example.com."]
        );
        assert!(m.authorities.is_empty());
    }

    #[test]
    fn cname_chain_length_is_limited_like_knot() {
        // c1 → … → c7 → A: Knot DNS 3.2 (CNAME_CHAIN_MAX 5) sends five CNAMEs and stops.
        let m = ask_udp(&chains(), "c1.example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NoError);
        let types: Vec<RecordType> = m.answers.iter().map(Record::record_type).collect();
        assert_eq!(types, [RecordType::CNAME; MAX_CNAMES]);
        assert_eq!(m.answers[4].name, n("c5.example.com."));
        assert!(m.authorities.is_empty());
        // Five links are followed to the end.
        let m = ask_udp(&chains(), "c2.example.com.", RecordType::A);
        assert_eq!(m.answers.len(), 6);
        assert_eq!(m.answers[5].data, RData::A(A(Ipv4Addr::new(192, 0, 2, 7))));
    }

    #[test]
    fn rfc6604_2_1_rcode_reflects_the_last_name_of_the_chain() {
        let m = ask_udp(&chains(), "dangling.example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NXDomain);
        assert_eq!(
            lines(&m.answers),
            ["dangling.example.com. 3600 CNAME nothing.example.com."]
        );
        assert_eq!(lines(&m.authorities), [SOA_LINE]);
        // In another zone we serve: that zone's SOA.
        let m = ask_udp(&chains(), "otherx.example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NXDomain);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(
            lines(&m.authorities),
            ["other.test. 30 SOA ns.other.test. hm.other.test. 7 7200 900 1209600 30"]
        );
    }

    #[test]
    fn rfc2308_2_2_nodata_at_the_end_of_a_chain() {
        let m = ask_udp(&chains(), "nodata.example.com.", RecordType::TXT);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            ["nodata.example.com. 3600 CNAME www.example.com."]
        );
        assert_eq!(lines(&m.authorities), [SOA_LINE]);
        assert!(m.additionals.is_empty());
    }

    #[test]
    fn rfc6604_3_aa_follows_the_first_owner_when_a_chain_ends_in_a_referral() {
        let m = ask_udp(&chains(), "deleg.example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            ["deleg.example.com. 3600 CNAME host.sub.example.com."]
        );
        assert_eq!(m.authorities.len(), 3);
        assert!(m
            .authorities
            .iter()
            .all(|r| r.record_type() == RecordType::NS));
        assert_eq!(m.additionals.len(), 3, "glue: {:?}", lines(&m.additionals));
    }

    fn assert_referral(m: &Message) {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(!m.metadata.authoritative, "a referral is not authoritative");
        assert!(m.answers.is_empty(), "{:?}", lines(&m.answers));
        assert_eq!(
            lines(&m.authorities),
            [
                "sub.example.com. 3600 NS ns.sub.example.com.",
                "sub.example.com. 3600 NS ns.sibling.example.com.",
                "sub.example.com. 3600 NS ns.elsewhere.net.",
            ]
        );
        // In-domain glue first, then sibling glue; nothing for the name server elsewhere.
        assert_eq!(
            lines(&m.additionals),
            [
                "ns.sub.example.com. 3600 A 192.0.2.100",
                "ns.sub.example.com. 3600 AAAA 2001:db8::100",
                "ns.sibling.example.com. 3600 A 192.0.2.200",
            ]
        );
    }

    #[test]
    fn rfc1034_4_3_2_referral_at_and_below_a_zone_cut() {
        let r = chains();
        for (name, qtype) in [
            ("host.sub.example.com.", RecordType::A),
            ("a.b.sub.example.com.", RecordType::MX),
            ("sub.example.com.", RecordType::NS),
            ("sub.example.com.", RecordType::A),
            ("sub.example.com.", RecordType::ANY),
            ("sub.example.com.", RecordType::SOA),
            // Glue is not authoritative data: the child answers for it.
            ("ns.sub.example.com.", RecordType::A),
            ("ns.sub.example.com.", RecordType::AAAA),
            // DS below the cut is the child's business too.
            ("x.sub.example.com.", RecordType::DS),
        ] {
            let m = ask_udp(&r, name, qtype);
            assert_eq!(m.queries.len(), 1);
            assert_referral(&m);
        }
        // Over TCP too.
        let (_, m) = ask(
            &r,
            &query("host.sub.example.com.", RecordType::A),
            Transport::Tcp,
        );
        assert_referral(&m);
    }

    #[test]
    fn rfc4035_3_1_4_1_ds_at_the_cut_is_answered_by_the_parent() {
        // No DS here (nothing is signed yet): NODATA, authoritatively, with the parent's SOA.
        let m = ask_udp(&chains(), "sub.example.com.", RecordType::DS);
        assert_negative(&m, ResponseCode::NoError, 300);
        // With a DS RRset, the parent answers it; with the child zone loaded too, DS at its
        // apex still comes from the parent (as Knot DNS picks the zone for DS).
        let digest = "ab".repeat(32);
        let parent = zone(
            "example.com.",
            &format!(
                "$TTL 3600\n@ SOA ns1 hm 1 2 3 4 300\n@ NS ns1\nns1 A 192.0.2.53\n\
                 sub NS ns1.sub\nns1.sub A 192.0.2.54\nsub DS \\# 36 30390802{digest}\n"
            ),
        );
        let child = zone(
            "sub.example.com.",
            "$TTL 60\n@ SOA ns1 hm 9 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.54\n",
        );
        for zones in [vec![parent.clone()], vec![parent, child]] {
            let r = Responder::for_zones(zones, DEFAULT_EDNS_PAYLOAD);
            let m = ask_udp(&r, "Sub.example.com.", RecordType::DS);
            assert_authoritative(&m, ResponseCode::NoError);
            assert_eq!(m.answers.len(), 1);
            assert_eq!(m.answers[0].record_type(), RecordType::DS);
            assert!(m.answers[0].name.eq_case(&n("Sub.example.com.")));
            assert!(m.authorities.is_empty());
        }
        let r = Responder::for_zones(
            vec![
                zone(
                    "sub.example.com.",
                    "@ 60 SOA ns1 hm 9 2 3 4 60\n@ 60 NS ns1\n",
                ),
                example_zone(),
            ],
            DEFAULT_EDNS_PAYLOAD,
        );
        // The child answers everything else at its apex.
        let m = ask_udp(&r, "sub.example.com.", RecordType::SOA);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(m.answers[0].name, n("sub.example.com."));
    }

    #[test]
    fn rfc1034_4_3_2_occluded_data_is_never_answered() {
        let z = zone(
            "example.com.",
            "$TTL 60\n@ SOA ns1 hm 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\n\
             sub NS ns.sub\nns.sub A 192.0.2.1\nsecret.sub TXT hidden\nsub TXT hidden\n",
        );
        let r = Responder::for_zones(vec![z], DEFAULT_EDNS_PAYLOAD);
        for name in ["secret.sub.example.com.", "sub.example.com."] {
            let m = ask_udp(&r, name, RecordType::TXT);
            assert!(!m.metadata.authoritative);
            assert!(m.answers.is_empty());
            assert_eq!(
                lines(&m.authorities),
                ["sub.example.com. 60 NS ns.sub.example.com."]
            );
            assert_eq!(
                lines(&m.additionals),
                ["ns.sub.example.com. 60 A 192.0.2.1"]
            );
        }
    }

    #[test]
    fn rfc9471_3_in_domain_glue_that_does_not_fit_truncates_a_referral() {
        let mut text = String::from(
            "$TTL 60\n@ SOA ns1 hm 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\n\
             sub NS ns.sub\nsub NS ns.sibling\nsibling NS ns.sibling\n",
        );
        for i in 0..40 {
            text.push_str(&format!("ns.sub A 198.51.100.{i}\n"));
            text.push_str(&format!("ns.sibling A 203.0.113.{i}\n"));
        }
        let r = Responder::for_zones(vec![zone("example.com.", &text)], DEFAULT_EDNS_PAYLOAD);
        // Without EDNS, 40 in-domain glue records (640 octets) cannot fit in 512: TC.
        let m = ask_udp(&r, "www.sub.example.com.", RecordType::A);
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty() && m.authorities.is_empty() && m.additionals.is_empty());
        // With room for them, all in-domain glue goes out; sibling glue only as far as it
        // fits, and leaving it out sets no TC.
        let q = edns_query("www.sub.example.com.", RecordType::A, 1232);
        let (bytes, m) = ask(&r, &q, Transport::Udp);
        assert!(!m.metadata.truncation);
        assert_eq!(m.authorities.len(), 2);
        let glue: Vec<&Record> = m
            .additionals
            .iter()
            .filter(|r| r.name == n("ns.sub.example.com."))
            .collect();
        assert_eq!(glue.len(), 40);
        // The sibling glue RRset (40 records) no longer fits, and goes whole (RFC 2181 §9).
        assert_eq!(
            m.additionals.len(),
            glue.len(),
            "{:?}",
            lines(&m.additionals)
        );
        assert!(bytes.len() <= 1232);
        // Over TCP, everything.
        let (_, m) = ask(
            &r,
            &query("www.sub.example.com.", RecordType::A),
            Transport::Tcp,
        );
        assert_eq!(m.additionals.len(), 80);
    }

    /// RFC 4592 §2.2.1's example zone.
    const RFC4592: &str = "\
$ORIGIN example.
example.                 3600 IN  SOA   ns.example.com. hostmaster.example. 1 7200 900 1209600 300
example.                 3600     NS    ns.example.com.
example.                 3600     NS    ns.example.net.
*.example.               3600     TXT   \"this is a wildcard\"
*.example.               3600     MX    10 host1.example.
sub.*.example.           3600     TXT   \"this is not a wildcard\"
host1.example.           3600     A     192.0.2.1
_ssh._tcp.host1.example. 3600     SRV   0 0 22 host1.example.
_ssh._tcp.host2.example. 3600     SRV   0 0 22 host1.example.
subdel.example.          3600     NS    ns.example.com.
subdel.example.          3600     NS    ns.example.net.
";

    fn rfc4592() -> Responder {
        Responder::for_zones(vec![zone("example.", RFC4592)], DEFAULT_EDNS_PAYLOAD)
    }

    fn assert_nodata_or_nxdomain(m: &Message, rcode: ResponseCode) {
        assert_authoritative(m, rcode);
        assert!(m.answers.is_empty(), "{:?}", lines(&m.answers));
        assert_eq!(m.authorities.len(), 1);
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    }

    #[test]
    fn rfc4592_2_2_1_closest_encloser() {
        let r = rfc4592();
        // Synthesized from *.example: the owner is the query name, and the MX's target goes
        // to the additional section.
        let m = ask_udp(&r, "host3.example.", RecordType::MX);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            ["host3.example. 3600 MX 10 host1.example."]
        );
        assert_eq!(lines(&m.additionals), ["host1.example. 3600 A 192.0.2.1"]);
        assert!(m.authorities.is_empty());
        // Wildcard match without the type: NODATA.
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "host3.example.", RecordType::A),
            ResponseCode::NoError,
        );
        // bar.example does not exist, so example is the closest encloser.
        let m = ask_udp(&r, "foo.bar.example.", RecordType::TXT);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            ["foo.bar.example. 3600 TXT this is a wildcard"]
        );
        // Names that exist are not synthesized.
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "host1.example.", RecordType::MX),
            ResponseCode::NoError,
        );
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "sub.*.example.", RecordType::MX),
            ResponseCode::NoError,
        );
        // _tcp.host1.example exists (an empty non-terminal) and has no wildcard child.
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "_telnet._tcp.host1.example.", RecordType::SRV),
            ResponseCode::NXDomain,
        );
        // subdel.example is a zone cut: a referral, no synthesis.
        let m = ask_udp(&r, "host.subdel.example.", RecordType::A);
        assert!(!m.metadata.authoritative);
        assert!(m.answers.is_empty());
        assert_eq!(
            lines(&m.authorities),
            [
                "subdel.example. 3600 NS ns.example.com.",
                "subdel.example. 3600 NS ns.example.net.",
            ]
        );
        assert!(
            m.additionals.is_empty(),
            "no glue for names outside the zone"
        );
        // *.example exists and is the closest encloser; *.*.example does not exist.
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "ghost.*.example.", RecordType::MX),
            ResponseCode::NXDomain,
        );
    }

    #[test]
    fn rfc4592_3_3_1_synthesized_owner_is_the_client_spelling() {
        let q = query("HoSt3.EXAMPLE.", RecordType::TXT);
        let (bytes, m) = ask(&rfc4592(), &q, Transport::Udp);
        assert_authoritative(&m, ResponseCode::NoError);
        assert!(m.answers[0].name.eq_case(&n("HoSt3.EXAMPLE.")));
        assert_eq!(
            &bytes[12..q.len()],
            &q[12..],
            "question echoed byte for byte"
        );
        assert_eq!(&bytes[q.len()..q.len() + 2], &[0xc0, 0x0c]);
    }

    #[test]
    fn rfc4592_2_3_a_query_for_the_asterisk_matches_the_wildcard_owner() {
        let r = rfc4592();
        let m = ask_udp(&r, "*.example.", RecordType::TXT);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            ["*.example. 3600 TXT this is a wildcard"]
        );
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "*.example.", RecordType::A),
            ResponseCode::NoError,
        );
    }

    #[test]
    fn rfc4592_2_2_2_empty_non_terminals_block_wildcards() {
        let z = zone(
            "example.com.",
            "$TTL 60\n@ SOA ns1 hm 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\n\
             * TXT wild\na.b TXT below-ent\n*.ent2 TXT deeper-wild\nx.ent2 TXT x\n",
        );
        let r = Responder::for_zones(vec![z], DEFAULT_EDNS_PAYLOAD);
        // b exists (as an empty non-terminal), so it is the closest encloser of x.b and
        // *.example.com does not apply.
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "x.b.example.com.", RecordType::TXT),
            ResponseCode::NXDomain,
        );
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "b.example.com.", RecordType::TXT),
            ResponseCode::NoError,
        );
        for (name, text) in [
            ("nope.example.com.", "wild"),
            ("y.nope.example.com.", "wild"),
            ("q.ent2.example.com.", "deeper-wild"),
        ] {
            let m = ask_udp(&r, name, RecordType::TXT);
            assert_authoritative(&m, ResponseCode::NoError);
            assert_eq!(lines(&m.answers), [format!("{name} 60 TXT {text}")]);
        }
    }

    #[test]
    fn rfc4592_4_9_empty_non_terminal_wildcard_gives_nodata() {
        let z = zone(
            "example.com.",
            "$TTL 60\n@ SOA ns1 hm 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\nsub.*.ent TXT x\n",
        );
        let r = Responder::for_zones(vec![z], DEFAULT_EDNS_PAYLOAD);
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "foo.ent.example.com.", RecordType::TXT),
            ResponseCode::NoError,
        );
    }

    #[test]
    fn rfc4592_4_3_wildcard_cnames_are_followed() {
        let z = zone(
            "example.com.",
            "$TTL 60\n@ SOA ns1 hm 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\n\
             www A 192.0.2.1\n*.alias CNAME www\n*.loop CNAME x.loop\n",
        );
        let r = Responder::for_zones(vec![z], DEFAULT_EDNS_PAYLOAD);
        let m = ask_udp(&r, "Foo.alias.example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            [
                "Foo.alias.example.com. 60 CNAME www.example.com.",
                "www.example.com. 60 A 192.0.2.1",
            ]
        );
        // A wildcard CNAME whose target it matches itself: a loop, stopped.
        let m = ask_udp(&r, "a.loop.example.com.", RecordType::A);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.answers),
            [
                "a.loop.example.com. 60 CNAME x.loop.example.com.",
                "x.loop.example.com. 60 CNAME x.loop.example.com.",
            ]
        );
    }

    #[test]
    fn rfc8482_4_1_any_gets_one_rrset_over_every_transport() {
        let r = chains();
        for transport in [Transport::Udp, Transport::Tcp] {
            let (_, m) = ask(&r, &query("www.example.com.", RecordType::ANY), transport);
            assert_authoritative(&m, ResponseCode::NoError);
            assert_eq!(lines(&m.answers), ["www.example.com. 3600 A 192.0.2.1"]);
            assert!(m.authorities.is_empty() && m.additionals.is_empty());
        }
        // The RRset with the lowest type code, as Knot DNS 3.2 picks it: NS at the apex, with
        // its additional data like any NS answer.
        let m = ask_udp(&r, "example.com.", RecordType::ANY);
        assert_eq!(lines(&m.answers), ["example.com. 3600 NS ns1.example.com."]);
        assert_eq!(m.additionals.len(), 2);
        // A CNAME is the answer to ANY, not followed (RFC 1034 §3.6.2).
        let m = ask_udp(&r, "one.example.com.", RecordType::ANY);
        assert_eq!(
            lines(&m.answers),
            ["one.example.com. 3600 CNAME two.example.com."]
        );
        // Empty non-terminal and missing names.
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "_udp.example.com.", RecordType::ANY),
            ResponseCode::NoError,
        );
        assert_nodata_or_nxdomain(
            &ask_udp(&r, "nope.example.com.", RecordType::ANY),
            ResponseCode::NXDomain,
        );
    }

    #[test]
    fn rfc1035_3_3_9_mx_targets_in_the_additional_section() {
        let m = ask_udp(&chains(), "mail.example.com.", RecordType::MX);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(m.answers.len(), 4);
        // Knot's default: no NS RRset in the authority section of a positive answer.
        assert!(m.authorities.is_empty());
        assert_eq!(
            lines(&m.additionals),
            [
                "mx1.example.com. 3600 A 192.0.2.25",
                // From the wildcard *.wild, owned by the target.
                "mx.wild.example.com. 3600 A 192.0.2.99",
                // Glue is fine as additional data.
                "ns.sub.example.com. 3600 A 192.0.2.100",
                "ns.sub.example.com. 3600 AAAA 2001:db8::100",
            ]
        );
        // The same RRset once, whichever way the targets are spelled.
        let m = ask_udp(&chains(), "dup.example.com.", RecordType::MX);
        assert_eq!(
            lines(&m.additionals),
            ["mx1.example.com. 3600 A 192.0.2.25"]
        );
        // RFC 7505 null MX: nothing to add.
        let m = ask_udp(&chains(), "null.example.com.", RecordType::MX);
        assert_eq!(m.answers.len(), 1);
        assert!(m.additionals.is_empty());
    }

    #[test]
    fn rfc2782_srv_targets_in_the_additional_section() {
        let m = ask_udp(&chains(), "_sip._udp.example.com.", RecordType::SRV);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(
            lines(&m.additionals),
            [
                "www.example.com. 3600 A 192.0.2.1",
                "www.example.com. 3600 AAAA 2001:db8::1",
            ]
        );
    }

    #[test]
    fn rfc1034_4_3_2_ns_answer_carries_name_server_addresses() {
        let m = ask_udp(&chains(), "example.com.", RecordType::NS);
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(lines(&m.answers), ["example.com. 3600 NS ns1.example.com."]);
        assert!(m.authorities.is_empty());
        assert_eq!(
            lines(&m.additionals),
            [
                "ns1.example.com. 3600 A 192.0.2.53",
                "ns1.example.com. 3600 AAAA 2001:db8::53",
            ]
        );
    }

    #[test]
    fn rfc2181_9_optional_additional_data_never_truncates() {
        let mut text = String::from(
            "$TTL 60\n@ SOA ns1 hm 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\n\
             mail MX 10 a\nmail MX 20 b\nb A 192.0.2.2\n",
        );
        for i in 0..40 {
            text.push_str(&format!("a A 198.51.100.{i}\n"));
        }
        let r = Responder::for_zones(vec![zone("example.com.", &text)], DEFAULT_EDNS_PAYLOAD);
        // a's 40 addresses don't fit in 512 octets; b's one does and is still sent.
        let (bytes, m) = ask(
            &r,
            &query("mail.example.com.", RecordType::MX),
            Transport::Udp,
        );
        assert!(!m.metadata.truncation);
        assert!(bytes.len() <= 512);
        assert_eq!(m.answers.len(), 2);
        assert_eq!(lines(&m.additionals), ["b.example.com. 60 A 192.0.2.2"]);
        let (_, m) = ask(
            &r,
            &query("mail.example.com.", RecordType::MX),
            Transport::Tcp,
        );
        assert_eq!(m.additionals.len(), 41);
    }

    #[test]
    fn rfc1034_4_3_2_address_answers_stay_minimal() {
        // What the fast path sends must be all there is: no authority, no additional data,
        // also at the apex and for glue-like names.
        let z = zone(
            "example.com.",
            "$TTL 60\n@ SOA ns1 hm 1 2 3 4 60\n@ NS ns1\n@ MX 10 ns1\n@ A 192.0.2.80\n\
             ns1 A 192.0.2.53\n",
        );
        let r = Responder::for_zones(vec![z], DEFAULT_EDNS_PAYLOAD);
        for name in ["example.com.", "ns1.example.com."] {
            let m = ask_udp(&r, name, RecordType::A);
            assert_authoritative(&m, ResponseCode::NoError);
            assert_eq!(m.answers.len(), 1);
            assert!(m.authorities.is_empty() && m.additionals.is_empty());
        }
    }
    mod steering {
        use std::{collections::HashMap, net::IpAddr, sync::Arc};

        use super::*;
        use crate::steering::steered::{Entry, Steered};
        use crate::{config::steering::Region, steering::Views};
        use hickory_proto::rr::rdata::A;

        fn rrset(addrs: &[&str]) -> RrSet {
            RrSet {
                name: n("app.example.com."),
                rtype: RecordType::A,
                ttl: 60,
                rdata: addrs
                    .iter()
                    .map(|a| RData::A(A(a.parse().unwrap())))
                    .collect(),
            }
        }

        fn region(name: &str, view: u8, cidr: &str) -> Region {
            Region {
                name: name.into(),
                view,
                continents: Vec::new(),
                countries: Vec::new(),
                cidrs: vec![cidr.parse().unwrap()],
                fallback: Vec::new(),
            }
        }

        /// `app` is a geo pool: EU and NA regions, NA with every member down (NODATA);
        /// `lb` is weighted over two variants.
        fn steered_responder() -> Responder {
            // As the agent does it: the pools' names hold placeholder RRsets, which the fast
            // path's answers never include.
            let mut snapshot = Snapshot::unsigned([zone("example.com.", ZONE)]);
            for name in ["app.example.com.", "lb.example.com."] {
                snapshot.insert_placeholder(RrSet {
                    name: n(name),
                    rtype: RecordType::A,
                    ttl: 300,
                    rdata: vec![a(100)],
                });
            }
            let base = Responder::for_snapshot(snapshot, DEFAULT_EDNS_PAYLOAD);
            let views = Views::build(
                &[
                    region("eu", 1, "198.51.100.0/25"),
                    region("na", 2, "198.51.100.128/25"),
                ],
                None,
            )
            .unwrap();
            let mut entries = HashMap::new();
            entries.insert(
                (n("app.example.com."), RecordType::A),
                Entry {
                    per_view: true,
                    views: vec![
                        Some(vec![rrset(&["192.0.2.10"])]),
                        Some(vec![rrset(&["192.0.2.11"])]),
                        None,
                    ],
                },
            );
            let mut lb = vec![rrset(&["192.0.2.20"]), rrset(&["192.0.2.21"])];
            for set in &mut lb {
                set.name = n("lb.example.com.");
            }
            entries.insert(
                (n("lb.example.com."), RecordType::A),
                Entry {
                    per_view: false,
                    views: vec![Some(lb)],
                },
            );
            base.with_steered(Arc::new(Steered::new(Arc::new(views), entries)))
        }

        fn ask_from(r: &Responder, q: &[u8], source: &str) -> Message {
            let source: IpAddr = source.parse().unwrap();
            let bytes = r.respond(q, Transport::Udp, Some(source)).unwrap();
            Message::from_vec(&bytes).unwrap()
        }

        fn ecs_query(name: &str, subnet: &str, source_prefix: u8) -> Vec<u8> {
            let mut m = query_message(name, RecordType::A);
            let mut edns = Edns::new();
            edns.set_max_payload(1232);
            edns.options_mut()
                .insert(EdnsOption::Subnet(ClientSubnet::new(
                    subnet.parse().unwrap(),
                    source_prefix,
                    0,
                )));
            m.set_edns(edns);
            m.to_vec().unwrap()
        }

        fn ecs_of(m: &Message) -> ClientSubnet {
            match m.edns.as_ref().unwrap().options().get(EdnsCode::Subnet) {
                Some(EdnsOption::Subnet(subnet)) => *subnet,
                other => panic!("no ECS echoed: {other:?}"),
            }
        }

        #[test]
        fn the_client_address_picks_the_region_every_time() {
            let r = steered_responder();
            let q = query("app.example.com.", RecordType::A);
            // The same query bytes from three places: a cached reply would repeat the first.
            for _ in 0..2 {
                let eu = ask_from(&r, &q, "198.51.100.5");
                assert_eq!(lines(&eu.answers), ["app.example.com. 60 A 192.0.2.11"]);
                let elsewhere = ask_from(&r, &q, "203.0.113.1");
                assert_eq!(
                    lines(&elsewhere.answers),
                    ["app.example.com. 60 A 192.0.2.10"]
                );
                let na = ask_from(&r, &q, "198.51.100.200");
                assert_negative(&na, ResponseCode::NoError, 300);
            }
            // Other types at the pool's name are the zone's: NODATA for AAAA.
            let aaaa = ask_from(
                &r,
                &query("app.example.com.", RecordType::AAAA),
                "198.51.100.5",
            );
            assert_negative(&aaaa, ResponseCode::NoError, 300);
        }

        #[test]
        fn rfc7871_ecs_decides_the_region_and_is_echoed_with_its_scope() {
            let r = steered_responder();
            // From a resolver outside every region, for an EU client subnet.
            let m = ask_from(
                &r,
                &ecs_query("app.example.com.", "198.51.100.0", 24),
                "203.0.113.1",
            );
            assert_eq!(lines(&m.answers), ["app.example.com. 60 A 192.0.2.11"]);
            let echo = ecs_of(&m);
            assert_eq!(echo.addr(), "198.51.100.0".parse::<IpAddr>().unwrap());
            assert_eq!(echo.source_prefix(), 24);
            // The /24 spans both regions: the answer holds for the EU /25 only.
            assert_eq!(echo.scope_prefix(), 25);

            // An answer that does not vary by region has scope 0 (§7.2.1).
            let m = ask_from(
                &r,
                &ecs_query("www.example.com.", "198.51.100.0", 24),
                "203.0.113.1",
            );
            assert_eq!(m.answers.len(), 1);
            assert_eq!(ecs_of(&m).scope_prefix(), 0);
            // Source prefix 0: the client asked that no address be used; the default view.
            let m = ask_from(
                &r,
                &ecs_query("app.example.com.", "0.0.0.0", 0),
                "198.51.100.5",
            );
            assert_eq!(lines(&m.answers), ["app.example.com. 60 A 192.0.2.10"]);
            assert_eq!(ecs_of(&m).scope_prefix(), 0);
        }

        #[test]
        fn weighted_variants_are_drawn_per_query() {
            let r = steered_responder();
            let q = query("lb.example.com.", RecordType::A);
            let mut seen = HashMap::new();
            for _ in 0..400 {
                let m = ask_from(&r, &q, "203.0.113.1");
                *seen.entry(lines(&m.answers)).or_insert(0) += 1;
            }
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert!(seen.values().all(|&count| count > 100), "{seen:?}");
        }

        /// A pool flipped back and forth thousands of times (as health changes replace the
        /// table) while another thread queries: every reply holds one whole RRset, the old or
        /// the new, never a mix and never nothing.
        #[test]
        fn queries_see_the_old_or_the_new_answer_while_a_pool_flips() {
            use crate::fallback::server::SharedResponder;

            let sets = [
                ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"],
                ["192.0.2.5", "192.0.2.6", "192.0.2.7", "192.0.2.8"],
            ];
            let table = |i: usize| {
                let mut entries = HashMap::new();
                entries.insert(
                    (n("app.example.com."), RecordType::A),
                    Entry {
                        per_view: false,
                        views: vec![Some(vec![rrset(&sets[i])])],
                    },
                );
                Arc::new(Steered::new(Arc::default(), entries))
            };
            let tables = [table(0), table(1)];
            let shared = SharedResponder::new(steered_responder().with_steered(tables[0].clone()));
            let wanted: Vec<Vec<String>> = sets
                .iter()
                .map(|set| {
                    set.iter()
                        .map(|a| format!("app.example.com. 60 A {a}"))
                        .collect()
                })
                .collect();
            std::thread::scope(|scope| {
                let querier = scope.spawn(|| {
                    let q = query("app.example.com.", RecordType::A);
                    for _ in 0..3_000 {
                        let m = ask_from(&shared.current(), &q, "203.0.113.1");
                        let got = lines(&m.answers);
                        assert!(wanted.contains(&got), "a mixed or empty answer: {got:?}");
                    }
                });
                // Flip until the querier is through (or failed), and at least 5,000 times.
                let mut flips = 0;
                while flips < 5_000 || !querier.is_finished() {
                    let current = shared.current();
                    shared.replace(current.with_steered(tables[flips % 2].clone()));
                    flips += 1;
                }
                querier.join().unwrap();
            });
        }
    }
}

/// The rendered shortcut (crate::fallback::splice) and the packet cache must give exactly what the
/// general path gives, for the queries they take and the ones next to them.
#[cfg(test)]
mod rendered_tests {
    use super::*;

    const ZONE: &str = "\
$TTL 300
@        SOA   ns1 hostmaster 1 7200 900 1209600 60
@        NS    ns1
ns1      A     192.0.2.53
www      120 A 192.0.2.10
www      AAAA  2001:db8::10
v6       AAAA  2001:db8::1
v6       AAAA  2001:db8::2
v6       AAAA  2001:db8::3
v6       AAAA  2001:db8::4
alias    CNAME www
*.wild   A     198.51.100.9
sub      NS    ns.sub
ns.sub   A     203.0.113.53
";

    fn responder(edns_payload: u16) -> Responder {
        let mut text = ZONE.to_string();
        for i in 0..31 {
            text.push_str(&format!("big A 198.51.100.{i}\n"));
        }
        let origin = Name::from_ascii("example.com.").unwrap();
        let zone = Zone::parse(&origin, &text, "rendered.zone").unwrap();
        Responder::for_zones(vec![zone], edns_payload)
    }

    fn wire(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in name.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    fn opt(payload: u16, flags: u16, options: &[(u16, &[u8])]) -> Vec<u8> {
        let mut rdata = Vec::new();
        for (code, data) in options {
            rdata.extend_from_slice(&code.to_be_bytes());
            rdata.extend_from_slice(&(data.len() as u16).to_be_bytes());
            rdata.extend_from_slice(data);
        }
        let mut out = vec![0, 0, 41];
        out.extend_from_slice(&payload.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
        out
    }

    fn message(flags: u16, name: &str, qtype: u16, opt: Option<&[u8]>) -> Vec<u8> {
        let mut out = vec![0x12, 0x34];
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(opt.is_some())]);
        out.extend_from_slice(&wire(name));
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        if let Some(opt) = opt {
            out.extend_from_slice(opt);
        }
        out
    }

    #[test]
    fn rendered_answers_equal_the_general_path_byte_for_byte() {
        let names = [
            "www.example.com.",
            "WwW.ExAmPlE.cOm.",
            "v6.example.com.",
            "big.example.com.",
            "BIG.example.com.",
            "ns1.example.com.",
            "alias.example.com.",
            "*.wild.example.com.",
            "foo.wild.example.com.",
            "ns.sub.example.com.",
            "nope.example.com.",
            "www.example.org.",
        ];
        let opts: Vec<Option<Vec<u8>>> = vec![
            None,
            Some(opt(512, 0, &[])),
            Some(opt(100, 0, &[])),
            Some(opt(1232, 0, &[])),
            Some(opt(4096, 0, &[])),
            Some(opt(1232, 0, &[(10, &[7; 8])])),
            Some(opt(4096, 0, &[(10, &[7; 24])])),
            Some(opt(1232, 0, &[(10, &[7; 5])])),
            Some(opt(1232, 0, &[(8, &[0, 1, 24, 0, 192, 0, 2])])),
            Some(opt(1232, 0x8000, &[])),
        ];
        let mut rendered = 0;
        let mut compared = 0;
        for payload in [512, 1232] {
            let r = responder(payload);
            for name in names {
                for qtype in [1u16, 28, 15] {
                    for opt in &opts {
                        for flags in [0x0100u16, 0x0000, 0x0130, 0x0200, 0x2800] {
                            let q = message(flags, name, qtype, opt.as_deref());
                            for transport in [Transport::Udp, Transport::Tcp] {
                                let general = r.respond_in_full(&q, transport, None);
                                let section = |name: &[u8], qtype| {
                                    r.rendered.get(name, qtype).map(|r| &r.section)
                                };
                                if splice::reply(&q, transport, payload, section).is_some() {
                                    rendered += 1;
                                }
                                assert_eq!(
                                    r.respond(&q, transport, None),
                                    general,
                                    "{name} type {qtype} flags {flags:#06x} opt {opt:02x?} \
                                     over {transport:?}, our payload {payload}"
                                );
                                // Asked again with another ID: from the cache or the
                                // shortcut, still the general path's reply.
                                let mut again = q.clone();
                                again[0] ^= 0xFF;
                                let want = general.map(|mut reply| {
                                    reply[..2].copy_from_slice(&again[..2]);
                                    reply
                                });
                                assert_eq!(
                                    r.respond(&again, transport, None),
                                    want,
                                    "{name} again"
                                );
                                compared += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(
            rendered > 500,
            "only {rendered} of {compared} went the rendered way"
        );
    }
}
