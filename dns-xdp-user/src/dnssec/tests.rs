//! Signing checked against RFC known answers and hickory-proto's independent verifier
//! (its own construction of the signed data, and ring underneath).

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use data_encoding::BASE64;
use hickory_proto::dnssec::rdata::{DNSSECRData, SigInput, RRSIG};
use hickory_proto::dnssec::{Algorithm, PublicKey, Verifier};
use hickory_proto::op::Message;
use hickory_proto::rr::rdata::{A, AAAA, MX, NS, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, SerialNumber};

use super::canonical::{rrsig_rdata, CanonicalRrset};
use super::*;
use crate::zone::RrSet;

fn n(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// A new private directory: tests run in parallel, so each gets its own.
fn temp_dir(label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dns-xdp-dnssec-{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    dir
}

fn write_private(path: &Path, text: &str) {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Writes a key as BIND would (plus our `.meta`), as an operator importing one does.
fn import_key(dir: &Path, zone: &str, alg: u8, tag: u16, dnskey: &str, private: &str, role: &str) {
    let stem = dir.join(format!("K{zone}+{alg:03}+{tag:05}"));
    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", stem.display()));
    write_private(&with("key"), &format!("{zone} IN DNSKEY {dnskey}\n"));
    write_private(
        &with("private"),
        &format!("Private-key-format: v1.2\nAlgorithm: {alg}\nPrivateKey: {private}\n"),
    );
    write_private(
        &with("meta"),
        &format!("role = \"{role}\"\nstate = \"active\"\ncreated = 0\n"),
    );
}

/// The RFC 8080 §6.1 Ed25519 key of example.com., as a CSK.
fn rfc8080_signer(config: SigningConfig) -> (Signer, PathBuf) {
    let dir = temp_dir("rfc8080");
    import_key(
        &dir,
        "example.com.",
        15,
        3613,
        "257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=",
        "ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=",
        "csk",
    );
    (Signer::load(&dir, &n("example.com."), config).unwrap(), dir)
}

fn rrset(name: &str, ttl: u32, rdata: Vec<RData>) -> RrSet {
    RrSet {
        name: n(name),
        rtype: rdata[0].record_type(),
        ttl,
        rdata,
    }
}

/// `\000.<labels>`: hickory-proto parses no `\000` in names from text.
fn zero_label(labels: &[&str]) -> Name {
    Name::from_labels(std::iter::once(&b"\0"[..]).chain(labels.iter().map(|l| l.as_bytes())))
        .unwrap()
}

fn a(last: u8) -> RData {
    RData::A(A(Ipv4Addr::new(192, 0, 2, last)))
}

/// Verifies every RRSIG with hickory-proto's verifier against the DNSKEY its tag names.
fn verify(signer: &Signer, owner: &Name, set: &RrSet, sigs: &Rrsigs) {
    assert!(!sigs.is_empty());
    let records: Vec<Record> = set.records(owner).collect();
    for rrsig in sigs.iter() {
        let key = signer
            .keys()
            .iter()
            .find(|key| key.tag() == rrsig.input().key_tag)
            .expect("a key with the RRSIG's tag");
        key.dnskey()
            .verify_rrsig(owner, DNSClass::IN, rrsig, records.iter())
            .unwrap_or_else(|e| panic!("{owner} {}: {e}", set.rtype));
        assert_eq!(rrsig.input().signer_name, n("example.com."));
        assert_eq!(rrsig.input().original_ttl, set.ttl);
        assert_eq!(rrsig.input().type_covered, set.rtype);
    }
}

#[test]
fn rfc8080_ed25519_known_answer() {
    // RFC 8080 §6.1 with erratum 4935: example.com. 3600 IN MX 10 mail.example.com., inception
    // 1438207200, expiration 1440021600. Ed25519 is deterministic, so the signature must match.
    let now = 1_438_207_200 + 3600;
    let config = SigningConfig {
        validity: Duration::from_secs(1_440_021_600 - now),
        inception_offset: Duration::from_secs(3600),
        refresh: Duration::from_secs(60),
        ..SigningConfig::default()
    };
    let (signer, dir) = rfc8080_signer(config);
    let key = &signer.keys()[0];
    assert_eq!(key.tag(), 3613);
    assert_eq!(key.role(), KeyRole::Csk);
    assert_eq!(
        key.ds().to_string(),
        "3613 15 2 3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B"
    );
    let mx = rrset(
        "example.com.",
        3600,
        vec![RData::MX(MX::new(10, n("mail.example.com.")))],
    );
    let sigs = signer.sign(&n("example.com."), &mx, now).unwrap();
    let rrsig = sigs.iter().next().unwrap();
    assert_eq!(
        BASE64.encode(rrsig.sig()),
        "oL9krJun7xfBOIWcGHi7mag5/hdZrKWw15jPGrHpjQeRAvTdszaPD+QLs3fx8A4M3e23mRZ9VrbpMngwcrqNAg=="
    );
    assert_eq!(rrsig.input().num_labels, 2);
    assert_eq!(rrsig.input().sig_inception.get(), 1_438_207_200);
    assert_eq!(rrsig.input().sig_expiration.get(), 1_440_021_600);
    verify(&signer, &n("example.com."), &mx, &sigs);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn rfc6605_p256_known_answer() {
    let dir = temp_dir("rfc6605");
    import_key(
        &dir,
        "example.net.",
        13,
        55648,
        "257 3 13 GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edbkrSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==",
        "GU6SnQ/Ou+xC5RumuIUIuJZteXT2z0O/ok1s38Et6mQ=",
        "csk",
    );
    let keys = KeyDir::open(&dir)
        .unwrap()
        .load(&n("example.net."))
        .unwrap();
    assert_eq!(keys[0].tag(), 55648);
    assert_eq!(
        keys[0].ds().to_string().to_lowercase(),
        "55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17"
    );
    // ECDSA signatures are randomised: check our signed data against RFC 6605 §6.1's RRSIG.
    let input = SigInput {
        type_covered: RecordType::A,
        algorithm: Algorithm::ECDSAP256SHA256,
        num_labels: 3,
        original_ttl: 3600,
        sig_expiration: SerialNumber::new(1_284_026_679), // 20100909100439
        sig_inception: SerialNumber::new(1_281_607_479),  // 20100812100439
        key_tag: 55648,
        signer_name: n("example.net."),
    };
    let set = CanonicalRrset::new(
        &n("www.example.net."),
        RecordType::A,
        3600,
        &[RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))],
    )
    .unwrap();
    let signature = BASE64
        .decode(
            b"qx6wLYqmh+l9oCKTN6qIc+bw6ya+KJ8oMz0YP107epXAyGmt+3SNruPFKG7tZoLBLlUzGGus7ZwmwWep666VCw==",
        )
        .unwrap();
    keys[0]
        .dnskey()
        .public_key()
        .verify(&set.signed_data(&rrsig_rdata(&input)), &signature)
        .expect("RFC 6605's signature verifies over our signed data");
    // And ours verify with hickory-proto.
    let signer = Signer::new(&n("example.net."), keys, SigningConfig::default()).unwrap();
    let www = rrset(
        "www.example.net.",
        3600,
        vec![RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))],
    );
    let sigs = signer
        .sign(&n("www.example.net."), &www, unix_now())
        .unwrap();
    let rrsig = sigs.iter().next().unwrap();
    signer.keys()[0]
        .dnskey()
        .verify_rrsig(
            &n("www.example.net."),
            DNSClass::IN,
            rrsig,
            www.records(&www.name).collect::<Vec<_>>().iter(),
        )
        .unwrap();
    fs::remove_dir_all(dir).unwrap();
}

fn generated_signer(
    algorithm: KeyAlgorithm,
    csk: bool,
    config: SigningConfig,
) -> (Signer, PathBuf) {
    let dir = temp_dir(&format!("gen{}{csk}", algorithm.number())).join("keys");
    generate_zone_keys(&dir, &n("example.com."), algorithm, csk, unix_now()).unwrap();
    (Signer::load(&dir, &n("example.com."), config).unwrap(), dir)
}

#[test]
fn signs_and_verifies_with_both_algorithms() {
    for algorithm in [KeyAlgorithm::EcdsaP256Sha256, KeyAlgorithm::Ed25519] {
        let (signer, dir) = generated_signer(algorithm, false, SigningConfig::default());
        let now = unix_now();
        let ksk = signer
            .keys()
            .iter()
            .find(|k| k.role() == KeyRole::Ksk)
            .unwrap()
            .tag();
        let zsk = signer
            .keys()
            .iter()
            .find(|k| k.role() == KeyRole::Zsk)
            .unwrap()
            .tag();
        let sets = [
            rrset("www.example.com.", 300, vec![a(10), a(9), a(200)]),
            rrset(
                "www.example.com.",
                300,
                vec![RData::AAAA(AAAA(Ipv6Addr::new(
                    0x2001, 0xdb8, 0, 0, 0, 0, 0, 1,
                )))],
            ),
            rrset(
                "example.com.",
                3600,
                vec![RData::TXT(TXT::new(vec!["v=spf1 -all".into()]))],
            ),
            rrset(
                "example.com.",
                3600,
                vec![RData::NS(NS(n("ns1.example.net.")))],
            ),
        ];
        for set in &sets {
            let sigs = signer.sign(&set.name, set, now).unwrap();
            verify(&signer, &set.name, set, &sigs);
            let rrsig = sigs.iter().next().unwrap();
            assert_eq!(rrsig.input().key_tag, zsk, "the ZSK signs {}", set.rtype);
            assert_eq!(u64::from(rrsig.input().sig_inception.get()), now - 3600);
            assert_eq!(
                u64::from(rrsig.input().sig_expiration.get()),
                now + 7 * 24 * 3600
            );
            assert_eq!(rrsig.input().algorithm.to_string(), algorithm.mnemonic());
        }
        // The apex key RRsets: signed by the KSK.
        let apex = signer.apex_rrsets();
        assert_eq!(
            apex.iter().map(|s| s.rtype).collect::<Vec<_>>(),
            vec![RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY]
        );
        assert_eq!(apex[0].rdata.len(), 2, "KSK and ZSK published");
        assert_eq!(
            apex[1].rdata.len(),
            1,
            "only the KSK is offered to the parent"
        );
        for set in apex {
            let sigs = signer.sign(&set.name, set, now).unwrap();
            verify(&signer, &set.name, set, &sigs);
            assert_eq!(sigs.iter().next().unwrap().input().key_tag, ksk);
        }
        // A DNSKEY-typed RRset elsewhere would be a ZSK's to sign.
        let elsewhere = RrSet {
            name: n("sub.example.com."),
            ..apex[0].clone()
        };
        let sigs = signer.sign(&elsewhere.name, &elsewhere, now).unwrap();
        assert_eq!(sigs.iter().next().unwrap().input().key_tag, zsk);
        fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}

#[test]
fn a_csk_signs_everything() {
    let (signer, dir) = generated_signer(KeyAlgorithm::Ed25519, true, SigningConfig::default());
    let tag = signer.keys()[0].tag();
    let now = unix_now();
    for set in signer
        .apex_rrsets()
        .iter()
        .cloned()
        .chain([rrset("a.example.com.", 60, vec![a(1)])])
    {
        let sigs = signer.sign(&set.name, &set, now).unwrap();
        assert_eq!(sigs.len(), 1);
        assert_eq!(sigs.iter().next().unwrap().input().key_tag, tag);
        verify(&signer, &set.name, &set, &sigs);
    }
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn wildcard_answers_are_signed_as_the_query_name() {
    let (signer, dir) = generated_signer(KeyAlgorithm::Ed25519, true, SigningConfig::default());
    let now = unix_now();
    let wildcard = rrset("*.example.com.", 300, vec![a(7)]);
    // RFC 9824 §3.3: under the query name, labels counting all of its labels.
    let qname = n("Host.Sub.example.com.");
    let sigs = signer.sign(&qname, &wildcard, now).unwrap();
    assert_eq!(sigs.iter().next().unwrap().input().num_labels, 4);
    verify(&signer, &qname, &wildcard, &sigs);
    // Asked for by its own name, the wildcard RRset's labels leave out the `*` (RFC 4034
    // §3.1.3), and a validator reconstructs `*.example.com.` from them.
    let own = signer.sign(&wildcard.name, &wildcard, now).unwrap();
    assert_eq!(own.iter().next().unwrap().input().num_labels, 2);
    verify(&signer, &wildcard.name, &wildcard, &own);
    assert!(matches!(
        signer.sign(&n("example.org."), &wildcard, now),
        Err(DnssecError::OutOfZone { .. })
    ));
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn mixed_case_rdata_signs_in_canonical_order() {
    // hickory-proto's verifier sorts RDATA by its non-canonical encoding, so give it the
    // records already in canonical order; the signature must not depend on the order or case
    // they came in.
    let (signer, dir) = generated_signer(KeyAlgorithm::Ed25519, true, SigningConfig::default());
    let now = unix_now();
    let ns = |s: &str| RData::NS(NS(n(s)));
    let mixed = rrset(
        "example.com.",
        3600,
        vec![
            ns("NS2.Example.NET."),
            ns("ns1.example.net."),
            ns("Ns1.example.net."),
        ],
    );
    let canonical = rrset(
        "example.com.",
        3600,
        vec![ns("ns1.example.net."), ns("ns2.example.net.")],
    );
    let sigs = signer.sign(&mixed.name, &mixed, now).unwrap();
    verify(&signer, &canonical.name, &canonical, &sigs);
    let again = signer.sign(&canonical.name, &canonical, now).unwrap();
    assert_eq!(
        sigs.iter().next(),
        again.iter().next(),
        "one cache entry for both spellings"
    );
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn cached_signatures_are_renewed_before_they_expire() {
    let config = SigningConfig {
        validity: Duration::from_secs(4000),
        refresh: Duration::from_secs(1000),
        cache_capacity: 3,
        ..SigningConfig::default()
    };
    // ECDSA signatures are randomised: equal signatures come from the cache.
    let (signer, dir) = generated_signer(KeyAlgorithm::EcdsaP256Sha256, true, config);
    let set = rrset("www.example.com.", 300, vec![a(1), a(2)]);
    let reordered = rrset("WWW.example.com.", 300, vec![a(2), a(1)]);
    let t0 = 1_800_000_000;
    let first = signer.sign(&set.name, &set, t0).unwrap();
    let rrsig = |sigs: &Rrsigs| sigs.iter().next().unwrap().clone();
    assert_eq!(first.renew_at(), t0 + 3000);
    assert_eq!(
        rrsig(&signer.sign(&reordered.name, &reordered, t0 + 2999).unwrap()),
        rrsig(&first)
    );
    let renewed = signer.sign(&set.name, &set, t0 + 3000).unwrap();
    assert_ne!(rrsig(&renewed), rrsig(&first));
    assert_eq!(
        u64::from(rrsig(&renewed).input().sig_inception.get()),
        t0 + 3000 - 3600
    );
    // A clock set back before the inception signs anew.
    let back = signer.sign(&set.name, &set, t0 - 4000).unwrap();
    assert_ne!(rrsig(&back), rrsig(&renewed));

    // The TTL and the RDATA are part of the key.
    let other_ttl = RrSet {
        ttl: 301,
        ..set.clone()
    };
    assert_ne!(
        rrsig(&signer.sign(&set.name, &other_ttl, t0).unwrap()),
        rrsig(&back)
    );
    assert_eq!(signer.cached(), 2);
    signer
        .sign(&set.name, &rrset("www.example.com.", 300, vec![a(3)]), t0)
        .unwrap();
    assert_eq!(signer.cached(), 3);
    // Full: stale entries go first, then everything.
    signer
        .sign(&set.name, &rrset("www.example.com.", 300, vec![a(4)]), t0)
        .unwrap();
    assert!(signer.cached() <= 3);
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn wire_rrsigs_follow_an_answer() {
    let (signer, dir) = generated_signer(
        KeyAlgorithm::EcdsaP256Sha256,
        false,
        SigningConfig::default(),
    );
    let set = rrset("www.example.com.", 300, vec![a(1)]);
    let sigs = signer.sign(&set.name, &set, unix_now()).unwrap();
    let wire = sigs.wire_after_question(&set.name, 300);
    assert_eq!(wire.count, 1);
    assert_eq!(&wire.bytes[..10], &[0xC0, 0x0C, 0, 46, 0, 1, 0, 0, 1, 44]);
    // A response: header (ID 0, QR AA, one question, two answers), the question, the A record
    // owned by 0xC00C, then the RRSIG bytes.
    let mut message = vec![0, 0, 0x84, 0, 0, 1, 0, 2, 0, 0, 0, 0];
    message.extend_from_slice(b"\x03WwW\x07example\x03com\x00\x00\x01\x00\x01");
    message.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1]);
    message.extend_from_slice(&wire.bytes);
    let parsed = Message::from_vec(&message).unwrap();
    let owner = n("WwW.example.com.");
    let expected: Vec<Record> = sigs.records(&owner, 300).collect();
    assert_eq!(parsed.answers[1..], expected[..]);
    let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &parsed.answers[1].data else {
        panic!("not an RRSIG: {:?}", parsed.answers[1]);
    };
    let rrsig: &RRSIG = rrsig;
    signer.keys()[1]
        .dnskey()
        .verify_rrsig(&owner, DNSClass::IN, rrsig, parsed.answers[..1].iter())
        .unwrap();
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

fn nsec_of(records: &[Record]) -> (Name, Name, Vec<RecordType>) {
    let RData::DNSSEC(DNSSECRData::NSEC(nsec)) = &records[0].data else {
        panic!("not an NSEC: {:?}", records[0]);
    };
    (
        records[0].name.clone(),
        nsec.next_domain_name().clone(),
        nsec.type_bit_maps().collect(),
    )
}

fn check_denial(signer: &Signer, records: &[Record], ttl: u32) {
    assert_eq!(records.len(), 2, "NSEC and its RRSIG");
    assert!(records.iter().all(|r| r.ttl == ttl));
    let set = RrSet {
        name: records[0].name.clone(),
        rtype: RecordType::NSEC,
        ttl,
        rdata: vec![records[0].data.clone()],
    };
    let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &records[1].data else {
        panic!("not an RRSIG: {:?}", records[1]);
    };
    assert_eq!(rrsig.input().type_covered, RecordType::NSEC);
    signer.keys()[0]
        .dnskey()
        .verify_rrsig(&set.name, DNSClass::IN, rrsig, records[..1].iter())
        .unwrap();
}

#[test]
fn compact_denial_records() {
    use RecordType::*;
    let (signer, dir) = generated_signer(KeyAlgorithm::Ed25519, true, SigningConfig::default());
    let now = unix_now();

    let records = signer
        .deny(&n("Nope.example.com."), Denial::NxName, 300, now)
        .unwrap();
    check_denial(&signer, &records, 300);
    assert_eq!(
        nsec_of(&records),
        (
            n("Nope.example.com."),
            zero_label(&["nope", "example", "com"]),
            vec![RRSIG, NSEC, NXNAME]
        )
    );

    let records = signer
        .deny(&n("www.example.com."), Denial::NoData(&[A, AAAA]), 300, now)
        .unwrap();
    check_denial(&signer, &records, 300);
    assert_eq!(nsec_of(&records).2, vec![A, AAAA, RRSIG, NSEC]);

    // An empty non-terminal exists: no NXNAME.
    let records = signer
        .deny(&n("ent.example.com."), Denial::NoData(&[]), 300, now)
        .unwrap();
    assert_eq!(nsec_of(&records).2, vec![RRSIG, NSEC]);

    // At the apex, the key RRsets the signer serves are listed too.
    let records = signer
        .deny(&n("example.com."), Denial::NoData(&[NS, SOA]), 300, now)
        .unwrap();
    check_denial(&signer, &records, 300);
    assert_eq!(
        nsec_of(&records).2,
        vec![NS, SOA, RRSIG, NSEC, DNSKEY, CDS, CDNSKEY]
    );

    // No DS at an unsigned delegation; the next name passes every name below the cut.
    let records = signer.deny_ds(&n("Sub.example.com."), 300, now).unwrap();
    check_denial(&signer, &records, 300);
    assert_eq!(
        nsec_of(&records),
        (
            n("Sub.example.com."),
            Name::from_labels([&b"sub\0"[..], b"example", b"com"]).unwrap(),
            vec![NS, RRSIG, NSEC]
        )
    );
    fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn signer_needs_active_keys_of_one_algorithm() {
    let dir = temp_dir("needs");
    let key_dir = KeyDir::open(&dir).unwrap();
    let zone = n("example.com.");
    key_dir
        .generate(
            &zone,
            KeyAlgorithm::Ed25519,
            KeyRole::Ksk,
            KeyState::Active,
            0,
        )
        .unwrap();
    let mut zsk = key_dir
        .generate(
            &zone,
            KeyAlgorithm::Ed25519,
            KeyRole::Zsk,
            KeyState::Published,
            0,
        )
        .unwrap();
    let err = Signer::load(&dir, &zone, SigningConfig::default()).unwrap_err();
    assert!(err.to_string().contains("no active ZSK"), "{err}");
    key_dir.set_state(&mut zsk, KeyState::Active).unwrap();
    Signer::load(&dir, &zone, SigningConfig::default()).unwrap();

    key_dir
        .generate(
            &zone,
            KeyAlgorithm::EcdsaP256Sha256,
            KeyRole::Zsk,
            KeyState::Published,
            0,
        )
        .unwrap();
    let err = Signer::load(&dir, &zone, SigningConfig::default()).unwrap_err();
    assert!(matches!(err, DnssecError::MixedAlgorithms { .. }), "{err}");

    let bad = SigningConfig {
        refresh: Duration::from_secs(8 * 24 * 3600),
        ..SigningConfig::default()
    };
    let keys = key_dir.load(&n("example.com.")).unwrap();
    assert!(matches!(
        Signer::new(&zone, keys, bad),
        Err(DnssecError::BadSigningConfig { .. })
    ));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn published_and_retired_keys_are_in_dnskey_only() {
    let dir = temp_dir("states");
    let key_dir = KeyDir::open(&dir).unwrap();
    let zone = n("example.com.");
    let csk = key_dir
        .generate(
            &zone,
            KeyAlgorithm::Ed25519,
            KeyRole::Csk,
            KeyState::Active,
            0,
        )
        .unwrap();
    key_dir
        .generate(
            &zone,
            KeyAlgorithm::Ed25519,
            KeyRole::Zsk,
            KeyState::Published,
            0,
        )
        .unwrap();
    key_dir
        .generate(
            &zone,
            KeyAlgorithm::Ed25519,
            KeyRole::Ksk,
            KeyState::Retired,
            0,
        )
        .unwrap();
    let signer = Signer::load(&dir, &zone, SigningConfig::default()).unwrap();
    let apex = signer.apex_rrsets();
    assert_eq!(apex[0].rdata.len(), 3, "every key in DNSKEY");
    assert_eq!(
        apex[1].rdata.len(),
        1,
        "the retired KSK is no longer offered"
    );
    let sigs = signer
        .sign(&zone, &rrset("example.com.", 60, vec![a(1)]), unix_now())
        .unwrap();
    assert_eq!(
        sigs.iter().map(|s| s.input().key_tag).collect::<Vec<_>>(),
        vec![csk.tag()],
        "only the active key signs"
    );
    let text = parent_records(signer.keys());
    assert_eq!(text.matches(" IN DS ").count(), 1, "{text}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn parent_records_text() {
    let (signer, dir) = rfc8080_signer(SigningConfig::default());
    assert_eq!(
        parent_records(signer.keys()),
        "; combined signing key (KSK and ZSK) 3613, algorithm 15 (ED25519), active\n\
         example.com. IN DS 3613 15 2 3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B\n\
         example.com. IN CDS 3613 15 2 3AA5AB37EFCE57F737FC1627013FEE07BDF241BD10F3B1964AB55C78E79A304B\n\
         example.com. IN CDNSKEY 257 3 15 l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n"
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn signer_is_shared_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Signer>();
    send_and_sync::<Rrsigs>();
}
