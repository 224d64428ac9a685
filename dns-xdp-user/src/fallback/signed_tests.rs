//! Signed answers from the responder, each RRSIG checked with hickory-proto's verifier against
//! the zone's DNSKEYs.

use std::collections::HashMap;
use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, RRSIG};
use hickory_proto::dnssec::Verifier;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::catalog::Snapshot;
use crate::config::DEFAULT_EDNS_PAYLOAD;
use crate::dnssec::*;
use crate::fallback::responder::{Responder, Transport};
use crate::steering::steered::{Entry, Steered};
use crate::zone::{RrSet, Zone};

const ZONE: &str = "\
$TTL 300
@        SOA   ns1 hostmaster 1 7200 900 1209600 60
@        NS    ns1
ns1      A     192.0.2.53
www      A     192.0.2.1
www      AAAA  2001:db8::1
alias    CNAME www
chain    CNAME alias
*.wild   A     192.0.2.7
mail     MX    10 www
a.b      TXT   \"below an empty non-terminal\"
sub      NS    ns.sub
ns.sub   A     192.0.2.54
secure   NS    ns.secure
secure   DS    \\# 36 3039 0D 02 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F
ns.secure A    192.0.2.55
app      A     192.0.2.100
";

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

struct Signed {
    responder: Responder,
    signer: Arc<Signer>,
    dir: PathBuf,
}

impl Drop for Signed {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn signed_zone(label: &str) -> (Zone, Arc<Signer>, PathBuf) {
    let dir = std::env::temp_dir().join(format!("dns-xdp-answers-{label}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let origin = n("example.com.");
    generate_zone_keys(&dir, &origin, KeyAlgorithm::EcdsaP256Sha256, false, 0).unwrap();
    let signer = Arc::new(Signer::load(&dir, &origin, SigningConfig::default()).unwrap());
    let mut zone = Zone::parse(&origin, ZONE, "example.zone").unwrap();
    for rrset in signer.apex_rrsets() {
        zone.insert_rrset(rrset.clone());
    }
    (zone, signer, dir)
}

/// The responder for `zone`, signed by `signer`.
fn signed_responder(zone: Zone, signer: &Arc<Signer>) -> Responder {
    Responder::for_snapshot(
        Snapshot::new([(zone, Some(signer.clone()))]),
        DEFAULT_EDNS_PAYLOAD,
    )
}

fn signed(label: &str) -> Signed {
    let (zone, signer, dir) = signed_zone(label);
    Signed {
        responder: signed_responder(zone, &signer),
        signer,
        dir,
    }
}

fn query(name: &str, qtype: RecordType, edns_flags: Option<u16>) -> Vec<u8> {
    let mut m = Message::new(0x5eed, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(n(name), qtype));
    if let Some(flags) = edns_flags {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(flags & 0x8000 != 0);
        edns.flags_mut().z = flags & 0x7FFF;
        m.set_edns(edns);
    }
    m.to_vec().unwrap()
}

const DO: Option<u16> = Some(0x8000);
const DO_CO: Option<u16> = Some(0xC000);

fn ask(r: &Responder, name: &str, qtype: RecordType, flags: Option<u16>) -> Message {
    let bytes = r
        .respond(&query(name, qtype, flags), Transport::Udp, None)
        .unwrap();
    Message::from_vec(&bytes).unwrap()
}

fn rrsig(record: &Record) -> Option<&RRSIG> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) => Some(rrsig),
        _ => None,
    }
}

fn nsec(record: &Record) -> Option<&NSEC> {
    match &record.data {
        RData::DNSSEC(DNSSECRData::NSEC(nsec)) => Some(nsec),
        _ => None,
    }
}

/// Verifies every RRSIG of `section` against the RRset it covers there, and checks that every
/// RRset of the section but those in `unsigned` (owner, type) has one. Returns the RRSIGs.
fn verify_section<'m>(
    signer: &Signer,
    section: &'m [Record],
    unsigned: &[(&str, RecordType)],
) -> Vec<&'m RRSIG> {
    let mut sigs = Vec::new();
    let mut covered = Vec::new();
    for record in section {
        let Some(sig) = rrsig(record) else { continue };
        let rrset: Vec<Record> = section
            .iter()
            .filter(|r| r.name == record.name && r.record_type() == sig.input().type_covered)
            .cloned()
            .collect();
        assert!(!rrset.is_empty(), "RRSIG {record} covers nothing");
        let key = signer
            .keys()
            .iter()
            .find(|key| key.tag() == sig.input().key_tag)
            .expect("an RRSIG by one of the zone's keys");
        key.dnskey()
            .verify_rrsig(&record.name, DNSClass::IN, sig, rrset.iter())
            .unwrap_or_else(|e| {
                panic!(
                    "RRSIG over {} {}: {e}",
                    record.name,
                    sig.input().type_covered
                )
            });
        assert_eq!(
            record.ttl, rrset[0].ttl,
            "RFC 4034 §3: the RRSIG's TTL is the RRset's"
        );
        covered.push((record.name.clone(), sig.input().type_covered));
        sigs.push(sig);
    }
    for record in section.iter().filter(|r| rrsig(r).is_none()) {
        let key = (record.name.clone(), record.record_type());
        let exempt = unsigned
            .iter()
            .any(|(owner, rtype)| n(owner) == key.0 && *rtype == key.1);
        assert_eq!(
            covered.contains(&key),
            !exempt,
            "{record}: signed only if it is the zone's authoritative data"
        );
    }
    sigs
}

fn verify(s: &Signed, m: &Message, unsigned: &[(&str, RecordType)]) -> usize {
    verify_section(&s.signer, &m.answers, unsigned).len()
        + verify_section(&s.signer, &m.authorities, unsigned).len()
        + verify_section(&s.signer, &m.additionals, unsigned).len()
}

fn types(nsec: &NSEC) -> Vec<RecordType> {
    let mut types: Vec<RecordType> = nsec.type_bit_maps().collect();
    types.sort_by_key(|t| u16::from(*t));
    types
}

fn sorted(mut types: Vec<RecordType>) -> Vec<RecordType> {
    types.sort_by_key(|t| u16::from(*t));
    types
}

#[test]
fn positive_answers_carry_verified_rrsigs_and_do0_stays_unsigned() {
    let s = signed("positive");
    let m = ask(&s.responder, "WWW.example.com.", RecordType::A, DO);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 2);
    assert_eq!(verify(&s, &m, &[]), 1);
    let sig = rrsig(&m.answers[1]).unwrap();
    assert_eq!(sig.input().num_labels, 3);
    assert_eq!(sig.input().signer_name, n("example.com."));
    assert_eq!(m.answers[1].name.to_string(), "WWW.example.com.");
    assert!(m.edns.as_ref().unwrap().flags().dnssec_ok);

    // DO=0 and no EDNS: what an unsigned zone gives, byte for byte.
    let unsigned = Responder::for_zones(
        vec![Zone::parse(&n("example.com."), ZONE, "example.zone").unwrap()],
        DEFAULT_EDNS_PAYLOAD,
    );
    for (name, qtype) in [
        ("www.example.com.", RecordType::A),
        ("mail.example.com.", RecordType::MX),
        ("nope.example.com.", RecordType::A),
        ("x.sub.example.com.", RecordType::A),
        ("x.wild.example.com.", RecordType::A),
    ] {
        for flags in [None, Some(0)] {
            let q = query(name, qtype, flags);
            assert_eq!(
                s.responder.respond_in_full(&q, Transport::Udp, None),
                unsigned.respond_in_full(&q, Transport::Udp, None),
                "{name} {qtype} {flags:?}"
            );
        }
    }
    assert!(s.signer.cached() > 0, "signatures are cached");
}

#[test]
fn cname_chains_sign_every_link() {
    let s = signed("cname");
    let m = ask(&s.responder, "chain.example.com.", RecordType::A, DO);
    let owners: Vec<(String, RecordType)> = m
        .answers
        .iter()
        .map(|r| (r.name.to_string(), r.record_type()))
        .collect();
    assert_eq!(
        owners,
        vec![
            ("chain.example.com.".into(), RecordType::CNAME),
            ("chain.example.com.".into(), RecordType::RRSIG),
            ("alias.example.com.".into(), RecordType::CNAME),
            ("alias.example.com.".into(), RecordType::RRSIG),
            ("www.example.com.".into(), RecordType::A),
            ("www.example.com.".into(), RecordType::RRSIG),
        ]
    );
    assert_eq!(verify(&s, &m, &[]), 3);
}

#[test]
fn wildcard_answers_are_signed_for_the_query_name_without_nsec() {
    let s = signed("wildcard");
    let m = ask(&s.responder, "Host.Wild.example.com.", RecordType::A, DO);
    assert_eq!(verify(&s, &m, &[]), 1);
    let sig = rrsig(&m.answers[1]).unwrap();
    // RFC 9824 §3.3: as though the name existed: its own four labels, not the wildcard's 3.
    assert_eq!(sig.input().num_labels, 4);
    assert!(
        m.authorities.is_empty(),
        "no NSEC for a compact wildcard answer"
    );

    // A wildcard NODATA proves the type absent at the query name, with the wildcard's types.
    let m = ask(&s.responder, "host.wild.example.com.", RecordType::TXT, DO);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let nsec_record = m.authorities.iter().find(|r| nsec(r).is_some()).unwrap();
    assert_eq!(nsec_record.name, n("host.wild.example.com."));
    assert_eq!(
        types(nsec(nsec_record).unwrap()),
        sorted(vec![RecordType::A, RecordType::RRSIG, RecordType::NSEC])
    );
    assert_eq!(verify(&s, &m, &[]), 2);
}

#[test]
fn nxdomain_is_compact_nodata_unless_co() {
    let s = signed("nx");
    let m = ask(&s.responder, "Nope.example.com.", RecordType::A, DO);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let soa = m
        .authorities
        .iter()
        .find(|r| r.record_type() == RecordType::SOA)
        .unwrap();
    assert_eq!(soa.ttl, 60, "negative TTL: min(SOA TTL, MINIMUM)");
    let nsec_record = m.authorities.iter().find(|r| nsec(r).is_some()).unwrap();
    assert_eq!(nsec_record.name.to_string(), "Nope.example.com.");
    assert_eq!(nsec_record.ttl, 60);
    let nsec_rdata = nsec(nsec_record).unwrap();
    assert_eq!(
        nsec_rdata.next_domain_name(),
        &Name::from_labels([&b"\0"[..], b"nope", b"example", b"com"]).unwrap()
    );
    assert_eq!(
        types(nsec_rdata),
        sorted(vec![RecordType::RRSIG, RecordType::NSEC, NXNAME])
    );
    assert_eq!(verify(&s, &m, &[]), 2, "the SOA and the NSEC");
    assert!(m.edns.as_ref().unwrap().flags().z & 0x4000 == 0);

    let m = ask(&s.responder, "nope.example.com.", RecordType::A, DO_CO);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(
        m.edns.as_ref().unwrap().flags().z & 0x4000 != 0,
        "CO echoed"
    );
    assert_eq!(verify(&s, &m, &[]), 2);

    // Without DO, CO means nothing and the answer is the classic one.
    let m = ask(
        &s.responder,
        "nope.example.com.",
        RecordType::A,
        Some(0x4000),
    );
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(m.authorities.len(), 1);
    assert!(m.edns.as_ref().unwrap().flags().z & 0x4000 == 0);

    // RFC 9824 §3.5.
    let m = ask(&s.responder, "www.example.com.", NXNAME, DO);
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
}

#[test]
fn nodata_lists_the_types_present() {
    let s = signed("nodata");
    let m = ask(&s.responder, "www.example.com.", RecordType::TXT, DO);
    let nsec_record = m.authorities.iter().find(|r| nsec(r).is_some()).unwrap();
    assert_eq!(
        types(nsec(nsec_record).unwrap()),
        sorted(vec![
            RecordType::A,
            RecordType::AAAA,
            RecordType::RRSIG,
            RecordType::NSEC
        ])
    );
    assert_eq!(verify(&s, &m, &[]), 2);

    // An empty non-terminal: nothing but RRSIG and NSEC.
    let m = ask(&s.responder, "b.example.com.", RecordType::A, DO);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let nsec_record = m.authorities.iter().find(|r| nsec(r).is_some()).unwrap();
    assert_eq!(
        types(nsec(nsec_record).unwrap()),
        sorted(vec![RecordType::RRSIG, RecordType::NSEC])
    );

    // At the apex the signer's key RRsets are listed once each.
    let m = ask(&s.responder, "example.com.", RecordType::TXT, DO);
    let nsec_record = m.authorities.iter().find(|r| nsec(r).is_some()).unwrap();
    assert_eq!(
        types(nsec(nsec_record).unwrap()),
        sorted(vec![
            RecordType::NS,
            RecordType::SOA,
            RecordType::RRSIG,
            RecordType::NSEC,
            RecordType::DNSKEY,
            RecordType::CDS,
            RecordType::CDNSKEY,
        ])
    );
    assert_eq!(verify(&s, &m, &[]), 2);
}

#[test]
fn dnskey_cds_and_cdnskey_are_signed_by_the_ksk() {
    let s = signed("dnskey");
    let ksk = s
        .signer
        .keys()
        .iter()
        .find(|k| k.role() == KeyRole::Ksk)
        .unwrap()
        .tag();
    for qtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
        let m = ask(&s.responder, "example.com.", qtype, DO);
        let sigs = verify_section(&s.signer, &m.answers, &[]);
        assert_eq!(sigs.len(), 1, "{qtype}");
        assert_eq!(sigs[0].input().key_tag, ksk, "{qtype}");
    }
    let m = ask(&s.responder, "example.com.", RecordType::DNSKEY, DO);
    assert_eq!(m.answers.len(), 3, "KSK, ZSK and the RRSIG");
    // The zone's other data: by the ZSK.
    let m = ask(&s.responder, "example.com.", RecordType::SOA, DO);
    let sigs = verify_section(&s.signer, &m.answers, &[]);
    assert_ne!(sigs[0].input().key_tag, ksk);
}

#[test]
fn referrals_carry_a_signed_ds_or_a_signed_proof_of_none() {
    let s = signed("referral");
    let m = ask(&s.responder, "www.secure.example.com.", RecordType::A, DO);
    assert!(!m.metadata.authoritative);
    let ds: Vec<&Record> = m
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::DS)
        .collect();
    assert_eq!(ds.len(), 1);
    assert_eq!(
        verify(
            &s,
            &m,
            &[
                ("secure.example.com.", RecordType::NS),
                ("ns.secure.example.com.", RecordType::A)
            ]
        ),
        1
    );
    assert_eq!(m.additionals.len(), 1, "glue, unsigned");

    let m = ask(&s.responder, "www.sub.example.com.", RecordType::A, DO);
    let nsec_record = m.authorities.iter().find(|r| nsec(r).is_some()).unwrap();
    assert_eq!(nsec_record.name, n("sub.example.com."));
    let nsec_rdata = nsec(nsec_record).unwrap();
    assert_eq!(
        nsec_rdata.next_domain_name(),
        &Name::from_labels([&b"sub\0"[..], b"example", b"com"]).unwrap()
    );
    assert_eq!(
        types(nsec_rdata),
        sorted(vec![RecordType::NS, RecordType::RRSIG, RecordType::NSEC])
    );
    assert_eq!(
        verify(
            &s,
            &m,
            &[
                ("sub.example.com.", RecordType::NS),
                ("ns.sub.example.com.", RecordType::A)
            ]
        ),
        1
    );

    // DS asked for at the cuts: answered by the parent, signed, or proven absent.
    let m = ask(&s.responder, "secure.example.com.", RecordType::DS, DO);
    assert!(m.metadata.authoritative);
    assert_eq!(verify(&s, &m, &[]), 1);
    assert_eq!(m.answers.len(), 2);
    let m = ask(&s.responder, "sub.example.com.", RecordType::DS, DO);
    assert!(m.answers.is_empty());
    let nsec_record = m.authorities.iter().find(|r| nsec(r).is_some()).unwrap();
    assert_eq!(
        types(nsec(nsec_record).unwrap()),
        sorted(vec![RecordType::NS, RecordType::RRSIG, RecordType::NSEC])
    );
    assert_eq!(verify(&s, &m, &[]), 2);
}

#[test]
fn additional_addresses_are_signed_too() {
    let s = signed("additional");
    let m = ask(&s.responder, "mail.example.com.", RecordType::MX, DO);
    assert_eq!(verify_section(&s.signer, &m.answers, &[]).len(), 1);
    // www's A and AAAA, each with its RRSIG, added as optional data.
    assert_eq!(verify_section(&s.signer, &m.additionals, &[]).len(), 2);
}

#[test]
fn steered_answers_are_signed_as_chosen() {
    let (zone, signer, dir) = signed_zone("steered");
    let base = signed_responder(zone, &signer);
    let rrset = |last: u8| RrSet {
        name: n("app.example.com."),
        rtype: RecordType::A,
        ttl: 30,
        rdata: vec![RData::A(A::new(192, 0, 2, last))],
    };
    let mut entries = HashMap::new();
    entries.insert(
        (n("app.example.com."), RecordType::A),
        Entry {
            per_view: false,
            views: vec![Some(vec![rrset(10), rrset(11)])],
        },
    );
    let responder = base.with_steered(Arc::new(Steered::new(Arc::default(), entries)));
    let s = Signed {
        responder,
        signer,
        dir,
    };
    let mut seen = Vec::new();
    for _ in 0..40 {
        let source: IpAddr = "198.51.100.1".parse().unwrap();
        let q = query("app.example.com.", RecordType::A, DO);
        let m = Message::from_vec(
            &s.responder
                .respond(&q, Transport::Udp, Some(source))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(verify(&s, &m, &[]), 1);
        assert_eq!(m.answers[0].ttl, 30);
        let RData::A(a) = &m.answers[0].data else {
            panic!("{m:?}")
        };
        if !seen.contains(a) {
            seen.push(*a);
        }
    }
    assert_eq!(seen.len(), 2, "both variants drawn, each signed");

    // A pool whose answer is NODATA: the NSEC leaves its type out.
    let mut entries = HashMap::new();
    entries.insert(
        (n("app.example.com."), RecordType::A),
        Entry {
            per_view: false,
            views: vec![None],
        },
    );
    let responder = s
        .responder
        .with_steered(Arc::new(Steered::new(Arc::default(), entries)));
    let m = ask(&responder, "app.example.com.", RecordType::A, DO);
    assert!(m.answers.is_empty());
    let nsec_record = m.authorities.iter().find(|r| nsec(r).is_some()).unwrap();
    assert_eq!(
        types(nsec(nsec_record).unwrap()),
        sorted(vec![RecordType::RRSIG, RecordType::NSEC])
    );
    assert_eq!(verify(&s, &m, &[]), 2);
}

#[test]
fn a_signed_reply_repeats_from_the_packet_cache() {
    let s = signed("cache");
    let q = query("www.example.com.", RecordType::AAAA, DO);
    let first = s.responder.respond(&q, Transport::Udp, None).unwrap();
    let cached = s.signer.cached();
    let second = s.responder.respond(&q, Transport::Udp, None).unwrap();
    assert_eq!(first, second);
    assert_eq!(s.signer.cached(), cached);
}
