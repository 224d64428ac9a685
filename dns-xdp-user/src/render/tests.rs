use dns_xdp_common::answer::{QTYPE_A, QTYPE_AAAA};
use hickory_proto::rr::{rdata::A, Name, RData, RecordType};

use super::*;
use crate::zone::{RrSet, Zone};

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn zone(origin: &str, text: &str) -> Zone {
    Zone::parse(&n(origin), text, origin).unwrap()
}

const BASE: &str = "$TTL 300\n@ SOA ns1 h 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\n";

fn get<'r>(rendered: &'r Rendered, name: &str, qtype: u16) -> Option<&'r RenderedRrset> {
    let (key, len) = name_key(&n(name));
    rendered.get(&key[..len], qtype)
}

#[test]
fn address_rrsets_are_rendered_once_by_owner_and_type() {
    let text = format!(
        "{BASE}www 120 A 192.0.2.10\nwww AAAA 2001:db8::10\nmail MX 10 www\ntxt TXT \"hi\"\n"
    );
    let rendered = Rendered::of(&Snapshot::unsigned([zone("example.com.", &text)]));
    assert_eq!(rendered.len(), 3, "ns1 A, www A, www AAAA");
    let www = get(&rendered, "WWW.example.com.", QTYPE_A).unwrap();
    assert_eq!(
        &*www.section.bytes,
        &[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 192, 0, 2, 10]
    );
    assert_eq!(www.signatures, Signatures::Unsigned);
    assert!(get(&rendered, "www.example.com.", QTYPE_AAAA).is_some());
    assert!(get(&rendered, "mail.example.com.", 15).is_none());
    assert!(rendered.skipped().is_empty());
    assert_eq!(rendered.renew_at(), None);
}

#[test]
fn what_the_fast_path_cannot_answer_is_left_out_and_said() {
    let mut text = format!("{BASE}sub NS ns.sub\nns.sub A 192.0.2.99\n");
    for i in 0..40 {
        text.push_str(&format!("big A 192.0.2.{i}\n"));
    }
    let rendered = Rendered::of(&Snapshot::unsigned([zone("example.com.", &text)]));
    assert_eq!(rendered.len(), 1, "only ns1 A");
    let skipped: Vec<String> = rendered.skipped().iter().map(ToString::to_string).collect();
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("ns.sub.example.com. A: at or below")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|s| s.contains("640 bytes")),
        "{skipped:?}"
    );
}

#[test]
fn a_nested_zone_renders_its_own_names_and_placeholders_are_not_rendered() {
    let parent = zone(
        "example.com.",
        &format!("{BASE}child NS ns1.child\nns1.child A 192.0.2.1\n"),
    );
    let child = zone(
        "child.example.com.",
        "$TTL 60\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 198.51.100.1\n",
    );
    let mut snapshot = Snapshot::unsigned([parent, child]);
    snapshot.insert_placeholder(RrSet {
        name: n("app.example.com."),
        rtype: RecordType::A,
        ttl: 60,
        rdata: vec![RData::A(A::new(192, 0, 2, 20))],
    });
    let rendered = Rendered::of(&snapshot);
    let glue_or_child = get(&rendered, "ns1.child.example.com.", QTYPE_A).unwrap();
    assert_eq!(&glue_or_child.section.bytes[12..], &[198, 51, 100, 1]);
    assert!(get(&rendered, "app.example.com.", QTYPE_A).is_none());
    // The parent's copy is glue below its cut, which the child's answer replaces: no skip.
    assert!(rendered.skipped().is_empty(), "{:?}", rendered.skipped());
}
