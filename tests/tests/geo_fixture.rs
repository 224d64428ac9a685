//! The committed geo fixtures are exactly what `dns_xdp_tests::mmdb` writes, and a MaxMind DB
//! reader accepts them and finds every network in them.
//!
//! After changing the writer or the fixture networks, rewrite the files with
//! `UPDATE_GEO_FIXTURES=1 cargo test -p dns-xdp-tests --test geo_fixture`.

use std::net::IpAddr;

use dns_xdp_tests::mmdb::{fixture_dir, FIXTURES, FIXTURE_NETWORKS};
use maxminddb::{PathElement, Reader};

#[test]
fn fixtures_are_reproducible() {
    for (name, make) in FIXTURES {
        let path = fixture_dir().join(name);
        let bytes = make();
        assert_eq!(bytes, make(), "{name}: the writer is not deterministic");
        if std::env::var_os("UPDATE_GEO_FIXTURES").is_some() {
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; create it with UPDATE_GEO_FIXTURES=1",
                path.display()
            )
        });
        assert!(
            committed == bytes,
            "{} differs from what dns_xdp_tests::mmdb writes; if the change is intended, \
             rewrite it with UPDATE_GEO_FIXTURES=1",
            path.display()
        );
    }
}

#[test]
fn maxminddb_reads_the_fixtures() {
    for (name, make) in FIXTURES {
        let reader = Reader::from_source(make()).unwrap();
        reader.verify().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(reader.metadata().ip_version, 6);
        let key = PathElement::Key;
        for (network, country, continent) in FIXTURE_NETWORKS {
            let (addr, _) = network.split_once('/').unwrap();
            let addr: IpAddr = addr.parse().unwrap();
            let found = reader.lookup(addr).unwrap();
            assert_eq!(found.network().unwrap().to_string(), network, "{name}");
            let (got_country, got_continent): (Option<String>, Option<String>) =
                if name == "test-country.mmdb" {
                    (
                        found
                            .decode_path(&[key("country"), key("iso_code")])
                            .unwrap(),
                        found.decode_path(&[key("continent"), key("code")]).unwrap(),
                    )
                } else {
                    (
                        found.decode_path(&[key("country_code")]).unwrap(),
                        Some(continent.into()),
                    )
                };
            assert_eq!(got_country.as_deref(), Some(country), "{name} {network}");
            assert_eq!(
                got_continent.as_deref(),
                Some(continent),
                "{name} {network}"
            );
            // IPv4 is reachable through the aliases of the IPv4 subtree too.
            if let IpAddr::V4(v4) = addr {
                let mapped = IpAddr::V6(v4.to_ipv6_mapped());
                assert!(reader.lookup(mapped).unwrap().has_data(), "{name} {mapped}");
                let [a, b, c, d] = v4.octets();
                let six_to_four: IpAddr = format!("2002:{a:02x}{b:02x}:{c:02x}{d:02x}::1")
                    .parse()
                    .unwrap();
                assert!(
                    reader.lookup(six_to_four).unwrap().has_data(),
                    "{name} {six_to_four}"
                );
            }
        }
        // Walking the whole database yields each network once, IPv4 ones as IPv4.
        let mut walked: Vec<String> = reader
            .networks(Default::default())
            .unwrap()
            .map(|n| n.unwrap().network().unwrap().to_string())
            .collect();
        walked.sort();
        let mut expected: Vec<String> = FIXTURE_NETWORKS.iter().map(|n| n.0.to_string()).collect();
        expected.sort();
        assert_eq!(walked, expected, "{name}");
        assert!(!reader
            .lookup("198.51.101.1".parse().unwrap())
            .unwrap()
            .has_data());
    }
}
