//! The authoritative responder: builds the answer to one DNS message from the loaded zones.
//!
//! It serves the queries the XDP fast path passes up and is the oracle the XDP tests compare
//! against, so for A and AAAA it must produce exactly what the fast path does: minimal
//! responses, the question echoed byte for byte, answers owned by the client's spelling of the
//! name, and an OPT record without options.

use hickory_proto::op::{Edns, Header, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};

use crate::zone::{RrSet, Zone};

/// EDNS payload size we advertise: the DNS Flag Day 2020 value, which avoids IP fragmentation.
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;

/// UDP payload limit without EDNS (RFC 1035 §4.2.1), and the floor with it (RFC 6891 §6.2.5).
const MIN_UDP_PAYLOAD: u16 = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

pub struct Responder {
    zones: Vec<Zone>,
    edns_payload: u16,
}

impl Responder {
    /// `edns_payload` is the UDP payload size advertised in our OPT records.
    pub fn new(zones: Vec<Zone>, edns_payload: u16) -> Self {
        Responder {
            zones,
            edns_payload,
        }
    }

    /// Answers one DNS message received over `transport`. None = send nothing: the message is
    /// shorter than a header, or is itself a response.
    pub fn respond(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let header = Header::read(&mut BinDecoder::new(query)).ok()?;
        // Never answer a response: that invites reflection loops between servers.
        if header.message_type == MessageType::Response {
            return None;
        }
        let mut response = Message::new(header.id, MessageType::Response, header.op_code);
        response.metadata.recursion_desired = header.recursion_desired;
        response.metadata.checking_disabled = header.checking_disabled;

        let request = match Message::from_vec(query) {
            Ok(request) if opt_owners_are_root(query).unwrap_or(false) => request,
            _ => {
                response.metadata.response_code = ResponseCode::FormErr;
                if header.counts.queries == 1 {
                    if let Some(question) = first_question(query) {
                        response.add_query(question);
                    }
                }
                return self.encode(response, None, transport);
            }
        };

        // RFC 6891 §7: a query with OPT gets an OPT back, whatever the outcome.
        let client_payload = request.edns.as_ref().map(Edns::max_payload);
        if request.edns.is_some() {
            response.set_edns(self.our_edns());
        }
        if let [question] = request.queries.as_slice() {
            response.add_query(question.clone());
        }

        if request.edns.as_ref().is_some_and(|edns| edns.version() > 0) {
            // RFC 6891 §6.1.3: we only speak EDNS version 0.
            response.metadata.response_code = ResponseCode::BADVERS;
        } else if header.op_code != OpCode::Query {
            response.metadata.response_code = ResponseCode::NotImp;
        } else if request.queries.len() != 1 {
            response.metadata.response_code = ResponseCode::FormErr;
        } else {
            self.answer(&mut response, &request.queries[0]);
        }
        self.encode(response, client_payload, transport)
    }

    /// Fills in the answer to a well-formed standard query.
    fn answer(&self, response: &mut Message, question: &Query) {
        let qname = question.name();
        let qtype = question.query_type();
        if !matches!(question.query_class(), DNSClass::IN | DNSClass::ANY)
            // Zone transfers are not offered.
            || matches!(qtype, RecordType::AXFR | RecordType::IXFR)
        {
            response.metadata.response_code = ResponseCode::Refused;
            return;
        }
        let Some(zone) = self.zone_for(qname) else {
            response.metadata.response_code = ResponseCode::Refused;
            return;
        };
        response.metadata.authoritative = true;

        let at_name = zone.rrsets_at(qname);
        let answer: Vec<&RrSet> = if qtype == RecordType::ANY {
            at_name.iter().collect()
        } else {
            // Without CNAME chasing, a CNAME at the name is the whole answer for other types.
            at_name
                .iter()
                .find(|set| set.rtype == qtype)
                .or_else(|| at_name.iter().find(|set| set.rtype == RecordType::CNAME))
                .into_iter()
                .collect()
        };
        if !answer.is_empty() {
            // The client's spelling of the name, so the answer compresses to the question.
            for set in answer {
                response.add_answers(set.records(qname));
            }
            return;
        }

        // RFC 2308 §3: negative answers carry the SOA, with the negative-caching TTL.
        if !zone.name_exists(qname) {
            response.metadata.response_code = ResponseCode::NXDomain;
        }
        let soa = zone.soa();
        let ttl = match soa.rdata.first() {
            Some(RData::SOA(fields)) => soa.ttl.min(fields.minimum),
            _ => soa.ttl,
        };
        response.add_authorities(
            soa.rdata
                .iter()
                .map(|rdata| Record::from_rdata(soa.name.clone(), ttl, rdata.clone())),
        );
    }

    /// The most specific zone containing `name`.
    fn zone_for(&self, name: &Name) -> Option<&Zone> {
        self.zones
            .iter()
            .filter(|zone| zone.contains(name))
            .max_by_key(|zone| zone.origin().iter().len())
    }

    fn our_edns(&self) -> Edns {
        // Version 0, DO clear (nothing is signed yet) and no options: EDNS options in the query,
        // DNS COOKIE included, are ignored as RFC 7873 §5.2 allows a server without cookies to.
        let mut edns = Edns::new();
        edns.set_max_payload(self.edns_payload);
        edns
    }

    /// Serializes `response`, truncating it to what the client accepts over `transport`.
    fn encode(
        &self,
        mut response: Message,
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
        if bytes.len() <= limit {
            return Some(bytes);
        }
        // RFC 2181 §9: drop whole sections rather than send a partial RRset; the client retries
        // over TCP. The question and OPT stay.
        response.answers.clear();
        response.authorities.clear();
        response.additionals.clear();
        response.metadata.truncation = true;
        to_vec(&response)
    }
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

/// RFC 6891 §6.1.2: an OPT RR's owner must be the root. hickory drops the owner when it turns
/// the OPT into `Edns`, so walk the message's records to check.
fn opt_owners_are_root(query: &[u8]) -> Result<bool, DecodeError> {
    let mut decoder = BinDecoder::new(query);
    let counts = Header::read(&mut decoder)?.counts;
    for _ in 0..counts.queries {
        Query::read(&mut decoder)?;
    }
    let records =
        u32::from(counts.answers) + u32::from(counts.authorities) + u32::from(counts.additionals);
    for _ in 0..records {
        let owner = Name::read(&mut decoder)?;
        let rtype = RecordType::from(decoder.read_u16()?.unverified(/* any type */));
        decoder.read_slice(6)?; // class and TTL
        let rdlength = decoder.read_u16()?.unverified(/* bounded by read_slice */);
        decoder.read_slice(usize::from(rdlength))?;
        if rtype == RecordType::OPT && !owner.is_root() {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::EdnsFlags;
    use hickory_proto::rr::rdata::opt::EdnsOption;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA};
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
        Responder::new(vec![example_zone()], DEFAULT_EDNS_PAYLOAD)
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
        let bytes = r.respond(q, transport).expect("a response");
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
        let r = Responder::new(vec![zone], DEFAULT_EDNS_PAYLOAD);
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
    fn cname_is_the_answer_for_other_types() {
        let m = udp(&query("Alias.example.com.", RecordType::A));
        assert_authoritative(&m, ResponseCode::NoError);
        assert_eq!(m.answers.len(), 1);
        assert!(m.answers[0].name.eq_case(&n("Alias.example.com.")));
        assert_eq!(
            m.answers[0].data,
            RData::CNAME(CNAME(n("www.example.com.")))
        );
    }

    #[test]
    fn any_returns_every_rrset_at_the_name() {
        let m = udp(&query("www.example.com.", RecordType::ANY));
        assert_authoritative(&m, ResponseCode::NoError);
        let types: Vec<RecordType> = m.answers.iter().map(Record::record_type).collect();
        assert_eq!(types, [RecordType::A, RecordType::AAAA]);
        assert_negative(
            &udp(&query("b.example.com.", RecordType::ANY)),
            ResponseCode::NoError,
            300,
        );
        assert_negative(
            &udp(&query("no.example.com.", RecordType::ANY)),
            ResponseCode::NXDomain,
            300,
        );
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
        let r = Responder::new(vec![example_zone(), sub], DEFAULT_EDNS_PAYLOAD);
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
        assert_eq!(r.respond(&[], Transport::Udp), None);
        assert_eq!(r.respond(&[0; 11], Transport::Udp), None);
        let mut q = query("www.example.com.", RecordType::A);
        q[2] |= 0x80; // QR
        assert_eq!(r.respond(&q, Transport::Udp), None);
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
    fn edns_response_has_our_payload_version_0_no_do_no_options() {
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
        assert_eq!(*edns.flags(), EdnsFlags::default(), "DO clear");
        assert!(edns.options().as_ref().is_empty());
        assert_eq!(r.additionals.len(), 0);
    }

    #[test]
    fn edns_payload_is_configurable() {
        let r = Responder::new(vec![example_zone()], 4000);
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
}
