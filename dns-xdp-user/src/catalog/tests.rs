use std::{collections::HashMap, path::PathBuf, sync::Arc};

use hickory_proto::rr::{rdata::A, Name, RData, RecordType};

use super::*;
use crate::alias::{Addresses, Flattened};

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

const EXAMPLE: &str = "$TTL 300\n@ SOA ns1 h 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\n\
                       www A 192.0.2.10\nsub NS ns.sub\nns.sub A 192.0.2.99\n";
const CHILD: &str = "$TTL 300\n@ SOA ns1 h 7 2 3 4 60\n@ NS ns1\nns1 A 198.51.100.1\n";
const OTHER: &str = "$TTL 300\n@ SOA ns1 h 9 2 3 4 60\n@ NS ns1\nns1 A 203.0.113.1\n";

/// A config of three zones (one nested in another), an alias to an upstream target and a
/// pool, its files in a scratch directory that lives as long as the returned guard.
struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn files(label: &str) -> (Files, PathBuf) {
    let dir = std::env::temp_dir().join(format!("dns-xdp-catalog-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in [("example", EXAMPLE), ("child", CHILD), ("other", OTHER)] {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let config = dir.join("dns-xdp.toml");
    std::fs::write(
        &config,
        "[server]\nxdp_mode = \"off\"\nupstream = [\"192.0.2.53:53\"]\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"example\"\n\
         [[zone]]\norigin = \"child.example.com.\"\nfile = \"child\"\n\
         [[zone]]\norigin = \"example.org.\"\nfile = \"other\"\n\
         [[alias]]\nname = \"example.org.\"\ntarget = \"lb.example.net.\"\n\
         [[pool]]\nname = \"app.example.com.\"\ntype = \"A\"\npolicy = \"failover\"\n\
           [[pool.member]]\n  address = \"192.0.2.20\"\n\
           [[pool.member]]\n  address = \"192.0.2.21\"\n",
    )
    .unwrap();
    (Files(dir), config)
}

fn upstream(last: u8) -> HashMap<Name, Flattened> {
    HashMap::from([(
        n("lb.example.net."),
        Flattened {
            a: Some(Addresses {
                ttl: 60,
                rdata: vec![RData::A(A::new(198, 51, 100, last))],
            }),
            aaaa: None,
        },
    )])
}

#[test]
fn one_lookup_finds_the_zone_of_any_name() {
    let (_files, config) = files("lookup");
    let loaded = Loaded::read(&config).unwrap();
    let snapshot = loaded.snapshot(&HashMap::new());
    let origin = |name: &str| snapshot.find(&n(name)).map(|s| s.origin().to_string());
    assert_eq!(origin("www.example.com.").as_deref(), Some("example.com."));
    assert_eq!(
        origin("a.b.Child.Example.COM.").as_deref(),
        Some("child.example.com.")
    );
    assert_eq!(origin("example.org.").as_deref(), Some("example.org."));
    assert_eq!(origin("example.net."), None);
    assert_eq!(
        snapshot.serials(),
        [
            ("example.com.".to_string(), 1),
            ("child.example.com.".to_string(), 7),
            ("example.org.".to_string(), 9)
        ]
    );
    assert!(!snapshot.is_signed() && !loaded.is_signed());
    assert_eq!(loaded.upstream_targets(), [n("lb.example.net.")]);
}

#[test]
fn the_stages_flatten_aliases_and_place_the_pools() {
    let (_files, config) = files("stages");
    let loaded = Loaded::read(&config).unwrap();
    let before = loaded.snapshot(&HashMap::new());
    // No upstream answer yet: the alias name exists without addresses.
    let org = before.find(&n("example.org.")).unwrap();
    assert!(org.rrset(&n("example.org."), RecordType::A).is_none());
    let after = loaded.snapshot(&upstream(7));
    let org = after.find(&n("example.org.")).unwrap();
    let a = org.rrset(&n("example.org."), RecordType::A).unwrap();
    assert_eq!(a.rdata, [RData::A(A::new(198, 51, 100, 7))]);
    // The pool's name holds every member, marked as the pool's.
    let com = after.find(&n("app.example.com.")).unwrap();
    let app = com.rrset(&n("app.example.com."), RecordType::A).unwrap();
    assert_eq!(app.rdata.len(), 2);
    assert!(after.is_placeholder(&n("App.example.com."), RecordType::A));
    assert!(!after.is_placeholder(&n("www.example.com."), RecordType::A));
    // The zone neither stage touched is shared, not copied.
    let zone = |s: &Snapshot, origin: &str| s.find(&n(origin)).unwrap().zone.clone();
    assert!(Arc::ptr_eq(
        &zone(&before, "child.example.com."),
        &zone(&after, "child.example.com.")
    ));
    assert!(!Arc::ptr_eq(
        &zone(&before, "example.org."),
        &zone(&after, "example.org.")
    ));
}

#[test]
fn a_pool_that_contradicts_the_zones_is_refused() {
    let (files, config) = files("conflict");
    std::fs::write(
        files.0.join("example"),
        format!("{EXAMPLE}app A 192.0.2.9\n"),
    )
    .unwrap();
    let e = Loaded::read(&config).err().unwrap().to_string();
    assert!(
        e.contains("[[pool]] \"app.example.com.\" A") && e.contains("already has A records"),
        "{e}"
    );
    std::fs::write(files.0.join("example"), EXAMPLE).unwrap();
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("app.example.com.", "x.sub.example.com.");
    std::fs::write(&config, text).unwrap();
    let e = Loaded::read(&config).err().unwrap().to_string();
    assert!(e.contains("delegation sub.example.com."), "{e}");
}

#[test]
fn every_zone_that_fails_is_named() {
    let (files, config) = files("zones");
    std::fs::write(files.0.join("child"), "@ SOA broken\n").unwrap();
    std::fs::remove_file(files.0.join("other")).unwrap();
    let e = Loaded::read(&config).err().unwrap().to_string();
    assert!(e.starts_with("2 zones failed to load"), "{e}");
    assert!(
        e.contains("loading zone child.example.com.") && e.contains("loading zone example.org."),
        "{e}"
    );
}
