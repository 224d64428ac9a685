//! Our keys and signatures checked by ldns, an independent DNSSEC implementation (Debian's
//! `ldnsutils`, installed by `cargo xtask setup`): `ldns-key2ds` computes the DS of our `.key`
//! files, `ldns-signzone` signs with our `.private` files, and `ldns-verify-zone` validates a
//! zone we signed, from the DS down: the DNSKEY RRset by the KSK, every other RRSIG, the
//! canonical order of mixed-case RDATA, wildcards, delegations.
//!
//! The zone is signed the way a pre-signed zone is (a full NSEC chain, built here), because
//! `ldns-verify-zone` checks whole zones; the compact-denial NSECs dns-xdp sends are checked
//! by the unit tests in `src/dnssec/tests.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use dns_xdp_user::dnssec::{
    generate_zone_keys, unix_now, KeyAlgorithm, KeyRole, Signer, SigningConfig, ZoneKey,
};
use dns_xdp_user::zone::{RrSet, Zone};
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
use hickory_proto::rr::{Name, RData, Record, RecordType};

const ZONE: &str = r#"$TTL 300
@        SOA   ns1 hostmaster 1 7200 900 1209600 300
@        NS    NS1.Example.COM.
@        NS    ns2.example.net.
@        MX    10 Mail.EXAMPLE.com.
@        MX    5 backup.example.net.
@        A     192.0.2.1
ns1      A     192.0.2.53
mail     A     192.0.2.25
www      A     192.0.2.10
www      A     192.0.2.9
www      AAAA  2001:db8::10
alias    CNAME WWW
*        TXT   "wild"
*.w      A     192.0.2.77
a.b.c    TXT   "below two empty non-terminals"
unsigned NS    ns.unsigned
ns.unsigned A  192.0.2.54
secure   NS    ns1.example.net.
secure   DS    \# 36 30390d020000000000000000000000000000000000000000000000000000000000000000
"#;

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn run(tool: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {tool} ({e}): install ldnsutils, e.g. with `cargo xtask setup`")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{tool} {args:?} failed ({}):\n{text}",
        output.status
    );
    text
}

fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dns-xdp-ldns-{label}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn ksk(keys: &[ZoneKey]) -> &ZoneKey {
    keys.iter().find(|key| key.role().signs_keys()).unwrap()
}

/// The zone text signed with `signer`, an NSEC chain included, in zone-file syntax.
fn signed_zone_text(zone: &Zone, signer: &Signer) -> String {
    let now = unix_now();
    let mut zone = zone.clone();
    for set in signer.apex_rrsets() {
        zone.insert_rrset(set.clone());
    }
    // Authoritative names and delegation points own NSECs; glue below a cut owns nothing
    // (RFC 4035 §2.3).
    let mut names: Vec<(Name, Vec<&RrSet>)> = Vec::new();
    for set in zone.rrsets() {
        if zone
            .delegation(&set.name)
            .is_some_and(|ns| ns.name != set.name)
        {
            continue;
        }
        match names.last_mut() {
            Some((name, sets)) if *name == set.name => sets.push(set),
            _ => names.push((set.name.clone(), vec![set])),
        }
    }
    let mut text = String::new();
    let soa = zone.soa();
    let negative_ttl = match soa.rdata.first() {
        Some(RData::SOA(soa_data)) => soa.ttl.min(soa_data.minimum),
        _ => soa.ttl,
    };
    for (at, (name, sets)) in names.iter().enumerate() {
        let cut = zone.delegation(name).is_some();
        for set in sets {
            for record in set.records(name) {
                text.push_str(&record_text(&record));
            }
            // RFC 4035 §2.2: the NS RRset of a delegation is not signed.
            if cut && set.rtype == RecordType::NS {
                continue;
            }
            let sigs = signer.sign(name, set, now).unwrap();
            for record in sigs.records(name, set.ttl) {
                text.push_str(&format!("{record}\n"));
            }
        }
        let next = names[(at + 1) % names.len()].0.clone();
        let types = sets
            .iter()
            .map(|set| set.rtype)
            .chain([RecordType::RRSIG, RecordType::NSEC]);
        let nsec = RrSet {
            name: name.clone(),
            rtype: RecordType::NSEC,
            ttl: negative_ttl,
            rdata: vec![RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(next, types)))],
        };
        let record: Record = nsec.records(name).next().unwrap();
        text.push_str(&format!("{record}\n"));
        for record in signer
            .sign(name, &nsec, now)
            .unwrap()
            .records(name, nsec.ttl)
        {
            text.push_str(&format!("{record}\n"));
        }
    }
    text
}

/// One line of zone-file text. hickory-proto prints TXT strings without quotes, which a
/// zone file reads as one string per word, so those are quoted here.
fn record_text(record: &Record) -> String {
    match &record.data {
        RData::TXT(txt) => {
            let strings: Vec<String> = txt
                .txt_data
                .iter()
                .map(|s| {
                    let s = String::from_utf8_lossy(s);
                    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
                })
                .collect();
            format!(
                "{} {} IN TXT {}\n",
                record.name,
                record.ttl,
                strings.join(" ")
            )
        }
        _ => format!("{record}\n"),
    }
}

fn check(algorithm: KeyAlgorithm, csk: bool) {
    let dir = temp_dir(&format!("{}-{csk}", algorithm.number()));
    let origin = n("example.com.");
    let keys = generate_zone_keys(&dir.join("keys"), &origin, algorithm, csk, unix_now()).unwrap();
    let keys_dir = dir.join("keys");

    // ldns computes the same DS from our .key file.
    let ksk_stem = ksk(&keys)
        .file_stem()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let ds = run(
        "ldns-key2ds",
        &["-n", "-2", &format!("{ksk_stem}.key")],
        &keys_dir,
    );
    let ours = ksk(&keys).ds().to_string().to_lowercase();
    assert!(
        ds.to_lowercase().contains(&ours),
        "ldns: {ds}\nours: {ours}"
    );

    // ldns validates the zone we sign, with that DS as its trust anchor.
    let zone = Zone::parse(&origin, ZONE, "ldns.zone").unwrap();
    let signer = Signer::load(&keys_dir, &origin, SigningConfig::default()).unwrap();
    let signed = dir.join("example.com.signed");
    fs::write(&signed, signed_zone_text(&zone, &signer)).unwrap();
    let anchor = dir.join("anchor.ds");
    fs::write(
        &anchor,
        format!("example.com. 3600 IN DS {}\n", ksk(&keys).ds()),
    )
    .unwrap();
    run(
        "ldns-verify-zone",
        &[
            "-V",
            "2",
            "-k",
            anchor.to_str().unwrap(),
            signed.to_str().unwrap(),
        ],
        &dir,
    );

    // A broken signature is caught: the check above is not vacuous.
    let text = fs::read_to_string(&signed).unwrap();
    let line = text
        .lines()
        .find(|line| line.contains(" RRSIG A ") && line.starts_with("www."))
        .unwrap();
    let mut broken = line.to_string();
    let last = broken.pop().unwrap();
    broken.push(if last == 'A' { 'B' } else { 'A' });
    fs::write(&signed, text.replace(line, &broken)).unwrap();
    let status = Command::new("ldns-verify-zone")
        .args(["-k", anchor.to_str().unwrap(), signed.to_str().unwrap()])
        .output()
        .unwrap()
        .status;
    assert!(
        !status.success(),
        "ldns-verify-zone accepted a corrupted RRSIG"
    );

    // ldns signs with our private key files (BIND's format), and validates its own result.
    let unsigned = dir.join("example.com.zone");
    fs::write(&unsigned, format!("$ORIGIN example.com.\n{ZONE}")).unwrap();
    let stems: Vec<String> = keys
        .iter()
        .map(|key| key.file_stem().to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["-o", "example.com.", unsigned.to_str().unwrap()];
    args.extend(stems.iter().map(String::as_str));
    run("ldns-signzone", &args, &dir);
    run(
        "ldns-verify-zone",
        &[
            "-k",
            anchor.to_str().unwrap(),
            dir.join("example.com.zone.signed").to_str().unwrap(),
        ],
        &dir,
    );
    assert!(keys.iter().any(|key| key.role() == KeyRole::Csk) == csk);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ldns_validates_an_ecdsa_p256_zone_with_ksk_and_zsk() {
    check(KeyAlgorithm::EcdsaP256Sha256, false);
}

#[test]
fn ldns_validates_an_ed25519_zone_with_a_csk() {
    check(KeyAlgorithm::Ed25519, true);
}
