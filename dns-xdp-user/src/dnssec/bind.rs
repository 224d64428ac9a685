//! The text of a key's three files: BIND's `.key` and `.private` formats, which BIND's
//! `dnssec-dsfromkey`, ldns (`ldns-key2ds`, `ldns-signzone`), Knot's `keymgr import-bind` and
//! PowerDNS's `pdnsutil import-zone-key` all read, and dns-xdp's `.meta`.

use data_encoding::BASE64;
use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::dnssec::PublicKeyBuf;
use hickory_proto::rr::Name;
use serde::Deserialize;

use super::keys::{zone_text, KeyAlgorithm, KeyRole, KeyState, ZoneKey};

/// `.private`: BIND's private key format. For algorithms 13 and 15 the key is one field, the
/// ECDSA private scalar or the Ed25519 seed (RFC 6605 §6.1, RFC 8080 §6 show examples).
pub(super) fn private_file(algorithm: KeyAlgorithm, key: &[u8], created: u64) -> String {
    format!(
        "Private-key-format: v1.3\nAlgorithm: {} ({})\nPrivateKey: {}\nCreated: {}\n",
        algorithm.number(),
        algorithm.mnemonic(),
        BASE64.encode(key),
        timestamp(created)
    )
}

/// The fields of a `.private` file dns-xdp needs.
pub(super) struct PrivateKey {
    pub algorithm: KeyAlgorithm,
    pub key: Vec<u8>,
}

pub(super) fn parse_private(text: &str) -> Result<PrivateKey, String> {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    };
    let format = field("Private-key-format")
        .ok_or("it has no `Private-key-format:` line, so it is not a BIND private key file")?;
    if !format.starts_with("v1.") {
        return Err(format!(
            "private key format {format} is not supported (v1.x is)"
        ));
    }
    let algorithm = field("Algorithm").ok_or("it has no `Algorithm:` line")?;
    let number = algorithm
        .split_whitespace()
        .next()
        .and_then(|number| number.parse::<u8>().ok())
        .ok_or_else(|| format!("`Algorithm: {algorithm}` does not start with a number"))?;
    let algorithm = KeyAlgorithm::from_number(number)
        .ok_or_else(|| format!("algorithm {number} is not supported (only 13 and 15 are)"))?;
    let key = field("PrivateKey").ok_or("it has no `PrivateKey:` line")?;
    let key = BASE64
        .decode(key.as_bytes())
        .map_err(|e| format!("the `PrivateKey:` value is not valid base64 ({e})"))?;
    if key.len() != 32 {
        return Err(format!(
            "the private key is {} octets long; an algorithm {number} key has 32",
            key.len()
        ));
    }
    Ok(PrivateKey { algorithm, key })
}

/// `.key`: comments, then the DNSKEY record in zone-file syntax.
pub(super) fn key_file(key: &ZoneKey) -> String {
    format!(
        "; This is a {}, keyid {}, for {}\n; Created: {}\n{} IN DNSKEY {}\n",
        key.role().describe(),
        key.tag(),
        zone_text(key.zone()),
        timestamp(key.created()),
        zone_text(key.zone()),
        key.dnskey()
    )
}

/// Reads the DNSKEY record of a `.key` file, which must be owned by `zone` and be of
/// `algorithm`. Accepts what BIND writes: `;` comments, an optional TTL and class, and
/// parentheses around a key split over lines.
pub(super) fn parse_key(
    text: &str,
    zone: &Name,
    algorithm: KeyAlgorithm,
) -> Result<DNSKEY, String> {
    let tokens: Vec<&str> = text
        .lines()
        .map(|line| line.split(';').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .filter(|token| *token != "(" && *token != ")")
        .collect();
    let at = tokens
        .iter()
        .position(|token| token.eq_ignore_ascii_case("DNSKEY"))
        .ok_or("it holds no DNSKEY record")?;
    let owner = tokens.first().copied().unwrap_or_default();
    let owner_name = Name::from_ascii(owner).map_err(|e| format!("bad owner `{owner}`: {e}"))?;
    if !owner_name.eq(zone) {
        return Err(format!(
            "its DNSKEY is for `{owner}`, not for the zone {}",
            zone_text(zone)
        ));
    }
    let [flags, protocol, number, key @ ..] = &tokens[at + 1..] else {
        return Err("its DNSKEY record lacks fields: `DNSKEY <flags> 3 <algorithm> <key>`".into());
    };
    let flags: u16 = flags
        .parse()
        .map_err(|_| format!("DNSKEY flags `{flags}` are not a number"))?;
    if *protocol != "3" {
        return Err(format!("DNSKEY protocol is {protocol}; it must be 3"));
    }
    if number.parse::<u8>().ok() != Some(algorithm.number()) {
        return Err(format!(
            "its DNSKEY is of algorithm {number} but its name says {}",
            algorithm.number()
        ));
    }
    let public = BASE64
        .decode(key.concat().as_bytes())
        .map_err(|e| format!("the DNSKEY's public key is not valid base64 ({e})"))?;
    let expected = match algorithm {
        KeyAlgorithm::EcdsaP256Sha256 => 64,
        KeyAlgorithm::Ed25519 => 32,
    };
    if public.len() != expected {
        return Err(format!(
            "the DNSKEY's public key is {} octets long; an algorithm {} key has {expected}",
            public.len(),
            algorithm.number()
        ));
    }
    Ok(DNSKEY::with_flags(
        flags,
        PublicKeyBuf::new(public, algorithm.hickory()),
    ))
}

/// `.meta`: what dns-xdp knows about a key beyond the key itself.
pub(super) fn meta_file(key: &ZoneKey) -> String {
    format!(
        "# dns-xdp metadata of the {} {} of zone {}\n\
         # state: published (in DNSKEY, not signing), active (signing) or retired (in DNSKEY,\n\
         # not signing, no longer offered to the parent); delete the key's files to remove it.\n\
         role = \"{}\"\n\
         state = \"{}\"\n\
         created = {} # {}\n",
        key.role(),
        key.tag(),
        zone_text(key.zone()),
        key.role().as_str(),
        key.state(),
        key.created(),
        timestamp(key.created()),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Meta {
    pub role: KeyRole,
    pub state: KeyState,
    /// Unix seconds.
    pub created: u64,
}

pub(super) fn parse_meta(text: &str) -> Result<Meta, String> {
    toml::from_str(text).map_err(|e| {
        format!(
            "{}; it needs `role = \"ksk\" | \"zsk\" | \"csk\"`, `state = \"published\" | \"active\" | \"retired\"` and `created = <unix seconds>`",
            e.message()
        )
    })
}

impl<'de> Deserialize<'de> for KeyRole {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "ksk" => Ok(KeyRole::Ksk),
            "zsk" => Ok(KeyRole::Zsk),
            "csk" => Ok(KeyRole::Csk),
            other => Err(serde::de::Error::custom(format!("unknown role `{other}`"))),
        }
    }
}

impl<'de> Deserialize<'de> for KeyState {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "published" => Ok(KeyState::Published),
            "active" => Ok(KeyState::Active),
            "retired" => Ok(KeyState::Retired),
            other => Err(serde::de::Error::custom(format!("unknown state `{other}`"))),
        }
    }
}

/// BIND's timestamp form, `YYYYMMDDHHMMSS` in UTC.
fn timestamp(unix: u64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix.min(i64::MAX as u64) as i64) {
        Ok(t) => format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}

/// The private scalar of a P-256 key in ring's PKCS#8 (RFC 5208) document, which wraps an
/// RFC 5915 ECPrivateKey: SEQUENCE { version, algorithm, OCTET STRING { SEQUENCE { version,
/// OCTET STRING privateKey, … } } }.
pub(super) fn ec_private_scalar(pkcs8: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    let (outer, _) = der(pkcs8, SEQUENCE)?;
    let (_, rest) = der(outer, INTEGER)?;
    let (_, rest) = der(rest, SEQUENCE)?;
    let (wrapped, _) = der(rest, OCTET_STRING)?;
    let (ec_key, _) = der(wrapped, SEQUENCE)?;
    let (_, rest) = der(ec_key, INTEGER)?;
    let (scalar, _) = der(rest, OCTET_STRING)?;
    (scalar.len() == 32).then_some(scalar)
}

/// One DER element of type `tag` at the start of `input`: its contents and what follows.
fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: the low bits count the length octets; two are plenty here.
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 2 || rest.len() < octets {
            return None;
        }
        let (len, rest) = rest.split_at(octets);
        (
            len.iter().fold(0, |acc, &b| acc << 8 | usize::from(b)),
            rest,
        )
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_bind_style() {
        assert_eq!(timestamp(0), "19700101000000");
        assert_eq!(timestamp(1_438_207_200), "20150729220000");
    }

    #[test]
    fn private_file_round_trip() {
        let text = private_file(KeyAlgorithm::Ed25519, &[7; 32], 0);
        assert!(text.starts_with("Private-key-format: v1.3\nAlgorithm: 15 (ED25519)\n"));
        let parsed = parse_private(&text).unwrap();
        assert_eq!(parsed.algorithm, KeyAlgorithm::Ed25519);
        assert_eq!(parsed.key, vec![7; 32]);
        for (bad, needle) in [
            ("Algorithm: 13\nPrivateKey: AAAA\n", "Private-key-format"),
            ("Private-key-format: v2.0\n", "not supported"),
            (
                "Private-key-format: v1.2\nAlgorithm: 8 (RSASHA256)\n",
                "algorithm 8",
            ),
            ("Private-key-format: v1.2\nAlgorithm: 13\n", "PrivateKey"),
            (
                "Private-key-format: v1.2\nAlgorithm: 13\nPrivateKey: AAAA\n",
                "3 octets",
            ),
        ] {
            let err = parse_private(bad).err().unwrap();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn key_file_accepts_bind_layouts() {
        let zone = Name::from_ascii("example.net.").unwrap();
        // RFC 6605 §6.1's key, split over lines as BIND may write it.
        let text = "; a comment\nexample.net. 3600 IN DNSKEY 257 3 13 (\n\
                    GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb\n\
                    krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA== ) ; KSK\n";
        let key = parse_key(text, &zone, KeyAlgorithm::EcdsaP256Sha256).unwrap();
        assert_eq!(key.flags(), 257);
        assert_eq!(super::super::keys::key_tag(&key), 55648);
        let err = parse_key(text, &zone, KeyAlgorithm::Ed25519).unwrap_err();
        assert!(err.contains("algorithm 13"), "{err}");
        let other = Name::from_ascii("example.com.").unwrap();
        assert!(parse_key(text, &other, KeyAlgorithm::EcdsaP256Sha256)
            .unwrap_err()
            .contains("not for the zone"));
    }

    #[test]
    fn der_walk_finds_the_ec_scalar() {
        // The shape ring generates: version 0, id-ecPublicKey/P-256, ECPrivateKey v1.
        let mut pkcs8 = vec![0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07];
        pkcs8.extend([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08]);
        pkcs8.extend([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]);
        pkcs8.extend([0x04, 0x27, 0x30, 0x25, 0x02, 0x01, 0x01, 0x04, 0x20]);
        pkcs8.extend([9u8; 32]);
        assert_eq!(ec_private_scalar(&pkcs8), Some(&[9u8; 32][..]));
        assert_eq!(ec_private_scalar(&pkcs8[..40]), None, "truncated");
        assert_eq!(
            der(&[0x30, 0x81, 0x02, 1, 2], 0x30),
            Some((&[1u8, 2][..], &[][..]))
        );
    }
}
