use std::net::Ipv4Addr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};

use super::*;
use crate::{
    alias::refresh::{Refresher, MIN_TTL},
    alias::upstream::Upstreams,
    catalog::{Snapshot, ZoneIndex},
    config::DEFAULT_EDNS_PAYLOAD,
    fallback::responder::{Responder, Transport},
    fastpath::answers::AnswerSet,
    render::name_key,
};

/// The zone of a name among `zones`, as the catalog finds it.
fn zone_of<'z>(zones: &'z [Zone]) -> impl Fn(&Name) -> Option<&'z Zone> {
    let index = ZoneIndex::new(zones.iter().map(Zone::origin));
    move |name: &Name| index.find(name).map(|at| &zones[at])
}

/// `zones` with `aliases` flattened, as a snapshot makes them.
fn flattened(zones: Vec<Zone>, aliases: &[Alias], upstream: &HashMap<Name, Flattened>) -> Snapshot {
    let mut snapshot = Snapshot::unsigned(zones);
    for alias in aliases {
        snapshot.flatten(alias, upstream);
    }
    snapshot
}

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

const ZONE: &str = "\
$TTL 300
@       SOA   ns1 hostmaster 1 7200 900 1209600 60
@       NS    ns1
@       MX    10 www
ns1     A     192.0.2.53
www     A     192.0.2.10
www     AAAA  2001:db8::10
web 120 CNAME www
chain 60 CNAME web
v4only  A     192.0.2.11
*.wild  A     192.0.2.12
mail    MX    10 www
gone    CNAME nope
out     CNAME lb.example.net.
sub     NS    ns.sub
ns.sub  A     192.0.2.99
";

fn zones() -> Vec<Zone> {
    zones_with("")
}

fn zones_with(extra: &str) -> Vec<Zone> {
    let text = format!("{ZONE}{extra}");
    vec![Zone::parse(&n("example.com."), &text, "example.zone").unwrap()]
}

fn source(name: &str, target: &str, local: bool) -> AliasSource {
    AliasSource {
        name: n(name),
        target: n(target),
        local,
    }
}

fn a(last: u8) -> RData {
    RData::A(A(Ipv4Addr::new(192, 0, 2, last)))
}

#[test]
fn local_target_follows_cnames_with_the_lowest_ttl() {
    let f = resolve_local(zone_of(&zones()), &n("chain.example.com.")).unwrap();
    assert_eq!(
        f.a,
        Some(Addresses {
            ttl: 60,
            rdata: vec![a(10)]
        })
    );
    assert_eq!(f.aaaa.as_ref().unwrap().ttl, 60);
    let f = resolve_local(zone_of(&zones()), &n("WWW.example.com.")).unwrap();
    assert_eq!(f.a.unwrap().ttl, 300);
    let f = resolve_local(zone_of(&zones()), &n("v4only.example.com.")).unwrap();
    assert!(f.aaaa.is_none(), "no AAAA: none flattened");
    let f = resolve_local(zone_of(&zones()), &n("x.wild.example.com.")).unwrap();
    assert_eq!(f.a.unwrap().rdata, vec![a(12)], "wildcards synthesize");
}

#[test]
fn local_targets_that_lead_nowhere_are_errors() {
    let e = resolve_local(zone_of(&zones()), &n("nope.example.com.")).unwrap_err();
    assert!(e.contains("does not exist"), "{e}");
    let e = resolve_local(zone_of(&zones()), &n("gone.example.com.")).unwrap_err();
    assert!(
        e.contains("nope.example.com.,") && e.contains("does not exist"),
        "{e}"
    );
    let e = resolve_local(zone_of(&zones()), &n("out.example.com.")).unwrap_err();
    assert!(
        e.contains("out of our zones") && e.contains("lb.example.net."),
        "{e}"
    );
    let e = resolve_local(zone_of(&zones()), &n("x.sub.example.com.")).unwrap_err();
    assert!(e.contains("delegation sub.example.com."), "{e}");
    let e = resolve_local(zone_of(&zones()), &n("mail.example.com.")).unwrap_err();
    assert!(e.contains("no A or AAAA"), "{e}");

    let looping = Zone::parse(
        &n("example.com."),
        "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\na CNAME b\nb CNAME a\n",
        "loop.zone",
    )
    .unwrap();
    let e = resolve_local(zone_of(&[looping]), &n("a.example.com.")).unwrap_err();
    assert!(e.contains("more than 8 CNAMEs"), "{e}");
}

#[test]
fn plan_rejects_alias_names_that_own_addresses_or_sit_below_a_cut() {
    for (name, what) in [
        ("www.example.com.", "A records"),
        ("web.example.com.", "CNAME records"),
        ("x.sub.example.com.", "delegation sub.example.com."),
    ] {
        let e = plan(&[source(name, "lb.example.net.", false)], zone_of(&zones())).unwrap_err();
        assert!(e.contains(&format!("[[alias]] name = \"{name}\"")), "{e}");
        assert!(e.contains(what), "{e}");
    }
    let e = plan(
        &[source("example.com.", "nope.example.com.", true)],
        zone_of(&zones()),
    )
    .unwrap_err();
    assert!(
        e.contains("[[alias]] name = \"example.com.\" target = \"nope.example.com.\""),
        "{e}"
    );
    let planned = plan(
        &[
            source("example.com.", "chain.example.com.", true),
            source("shop.example.com.", "lb.example.net.", false),
        ],
        zone_of(&zones()),
    )
    .unwrap();
    assert!(matches!(planned[0].source, Source::Local(_)));
    assert!(matches!(planned[1].source, Source::Upstream));
}

fn ask(responder: &Responder, name: &str, rtype: RecordType, transport: Transport) -> Vec<u8> {
    let mut query = Message::new(7, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(n(name), rtype));
    responder
        .respond(&query.to_vec().unwrap(), transport, None)
        .unwrap()
}

fn answer_count(bytes: &[u8]) -> (ResponseCode, usize) {
    let m = Message::from_vec(bytes).unwrap();
    (m.metadata.response_code, m.answers.len())
}

#[test]
fn flattened_addresses_serve_on_both_paths_byte_for_byte() {
    let aliases = plan(
        &[
            source("example.com.", "chain.example.com.", true),
            source("shop.example.com.", "lb.example.net.", false),
        ],
        zone_of(&zones()),
    )
    .unwrap();
    let upstream = HashMap::from([(
        n("lb.example.net."),
        Flattened {
            a: Some(Addresses {
                ttl: 45,
                rdata: vec![RData::A(A(Ipv4Addr::new(198, 51, 100, 7)))],
            }),
            aaaa: None,
        },
    )]);
    let served = flattened(zones(), &aliases, &upstream);
    let (set, skipped) = AnswerSet::of(&served);
    assert!(skipped.iter().all(|s| !s.to_string().contains("shop")));
    let responder = Responder::for_snapshot(served, DEFAULT_EDNS_PAYLOAD);

    for (name, qtype, ttl) in [
        ("example.com.", RecordType::A, 60),
        ("example.com.", RecordType::AAAA, 60),
        ("shop.example.com.", RecordType::A, 45),
    ] {
        let bytes = ask(&responder, name, qtype, Transport::Udp);
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!(m.answers.len(), 1, "{name} {qtype}");
        assert_eq!(m.answers[0].ttl, ttl, "{name} {qtype}");
        // The fast path's entry is the fallback's answer section, byte for byte.
        let (key, _) = name_key(&n(name));
        let entry = set
            .iter()
            .find(|e| e.value().name == key && e.qtype == u16::from(qtype))
            .unwrap_or_else(|| panic!("no fast-path entry for {name} {qtype}"));
        let section = &entry.value().data[..entry.value().answer_len as usize];
        let (_, name_len) = name_key(&n(name));
        let question_end = 12 + name_len + 4;
        assert_eq!(&bytes[question_end..], section, "{name} {qtype}");
    }
    // The apex keeps its other data.
    let m = Message::from_vec(&ask(
        &responder,
        "example.com.",
        RecordType::MX,
        Transport::Tcp,
    ))
    .unwrap();
    assert_eq!(m.answers.len(), 1);
    // No AAAA upstream: NODATA, with the SOA; and the wildcard does not cover the alias name.
    let bytes = ask(
        &responder,
        "shop.example.com.",
        RecordType::AAAA,
        Transport::Udp,
    );
    assert_eq!(answer_count(&bytes), (ResponseCode::NoError, 0));
    assert_eq!(Message::from_vec(&bytes).unwrap().authorities.len(), 1);
    let bytes = ask(
        &responder,
        "shop.example.com.",
        RecordType::TXT,
        Transport::Udp,
    );
    assert_eq!(answer_count(&bytes), (ResponseCode::NoError, 0));
}

#[test]
fn before_its_first_answer_an_upstream_alias_answers_nodata() {
    let wildcard = zones_with("* TXT \"wildcard\"\n");
    let aliases = plan(
        &[source("shop.example.com.", "lb.example.net.", false)],
        zone_of(&wildcard),
    )
    .unwrap();
    let served = flattened(wildcard.clone(), &aliases, &HashMap::new());
    let (set, _) = AnswerSet::of(&served);
    let (key, _) = name_key(&n("shop.example.com."));
    assert!(
        set.iter().all(|e| e.value().name != key),
        "nothing for the fast path"
    );
    let responder = Responder::for_snapshot(served, DEFAULT_EDNS_PAYLOAD);
    for rtype in [RecordType::A, RecordType::AAAA, RecordType::TXT] {
        let bytes = ask(&responder, "shop.example.com.", rtype, Transport::Udp);
        assert_eq!(answer_count(&bytes), (ResponseCode::NoError, 0), "{rtype}");
    }
    // Without the alias the wildcard would answer TXT.
    let responder = Responder::for_zones(wildcard, DEFAULT_EDNS_PAYLOAD);
    let bytes = ask(
        &responder,
        "shop.example.com.",
        RecordType::TXT,
        Transport::Udp,
    );
    assert_eq!(answer_count(&bytes), (ResponseCode::NoError, 1));
}

fn found(last: u8, ttl: u32) -> Flattened {
    Flattened {
        a: Some(Addresses {
            ttl,
            rdata: vec![a(last)],
        }),
        aaaa: Some(Addresses {
            ttl,
            rdata: vec![RData::AAAA(AAAA("2001:db8::1".parse().unwrap()))],
        }),
    }
}

#[tokio::test]
async fn refresher_reports_changes_only_and_keeps_the_last_good_answer() {
    let target = n("lb.example.net.");
    let mut refresher = Refresher::new(Upstreams::new(vec![]));
    refresher.set_targets(Upstreams::new(vec![]), [target.clone()]);
    assert!(refresher.next_due().unwrap() <= std::time::Instant::now());

    assert!(
        refresher.finish((target.clone(), Ok((found(7, 60), 60)))),
        "first answer"
    );
    let due = refresher.next_due().unwrap();
    assert!(due > std::time::Instant::now() + std::time::Duration::from_secs(55));
    assert!(
        !refresher.finish((target.clone(), Ok((found(7, 41), 41)))),
        "a TTL change alone publishes nothing"
    );
    assert_eq!(refresher.answers()[&target].a.as_ref().unwrap().ttl, 60);
    assert!(!refresher.finish((target.clone(), Err("timed out".into()))));
    assert_eq!(
        refresher.answers()[&target],
        found(7, 60),
        "last good answer kept"
    );
    let retry = refresher.next_due().unwrap();
    assert!(retry < std::time::Instant::now() + std::time::Duration::from_secs(3));
    assert!(refresher.finish((target.clone(), Ok((found(8, 60), 60)))));

    // A reload keeps the answers of the targets still wanted, due at once, and forgets others.
    refresher.set_targets(Upstreams::new(vec![]), [target.clone()]);
    assert_eq!(refresher.answers()[&target], found(8, 60));
    assert!(refresher.next_due().unwrap() <= std::time::Instant::now());
    refresher.set_targets(Upstreams::new(vec![]), [n("other.example.net.")]);
    assert!(refresher.answers().is_empty());
    assert!(
        !refresher.finish((target, Ok((found(9, 60), 60)))),
        "unwanted target"
    );
}

#[test]
fn upstream_ttls_are_clamped() {
    use super::upstream::Answer;
    let f = refresh::flattened(
        Answer::Found(Addresses {
            ttl: 2,
            rdata: vec![a(1)],
        }),
        Answer::None { ttl: 10 },
    );
    assert_eq!(f.a.unwrap().ttl, MIN_TTL);
    assert!(f.aaaa.is_none());
    let f = refresh::flattened(
        Answer::Found(Addresses {
            ttl: 10_000_000,
            rdata: vec![a(1)],
        }),
        Answer::None { ttl: 10 },
    );
    assert_eq!(f.a.unwrap().ttl, refresh::MAX_TTL);
}
