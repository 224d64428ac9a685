//! Decoding of the textual fields of master files: domain names, character-strings, numbers,
//! TTLs, classes and types. Errors are plain descriptions; the parser adds file and line.

use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::BinDecodable;

/// Largest TTL allowed (RFC 2181 §8: the top bit of a TTL must be zero).
pub(super) const MAX_TTL: u32 = i32::MAX as u32;

/// Decodes the escape starting at `text[i] == b'\\'`: `\DDD` (decimal octet) or `\X` (X itself).
/// Returns the octet and the number of input bytes consumed.
fn unescape(text: &[u8], i: usize) -> Result<(u8, usize), String> {
    match text.get(i + 1) {
        Some(d) if d.is_ascii_digit() => {
            let digits = text
                .get(i + 1..i + 4)
                .filter(|ds| ds.iter().all(u8::is_ascii_digit))
                .ok_or("a `\\DDD` escape needs exactly three decimal digits")?;
            let value = digits
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
            let octet =
                u8::try_from(value).map_err(|_| format!("escape `\\{value}` is above 255"))?;
            Ok((octet, 4))
        }
        Some(&c) => Ok((c, 2)),
        None => Err("`\\` at the end of the field".into()),
    }
}

/// Parses a domain name in master-file syntax: `@` is `origin`, a name without a trailing dot is
/// relative to `origin`. `lowercase` folds ASCII letters (owner names are stored lowercase);
/// `wire` is scratch space reused across calls to avoid an allocation per name.
pub(super) fn parse_name(
    text: &[u8],
    origin: &Name,
    lowercase: bool,
    wire: &mut Vec<u8>,
) -> Result<Name, String> {
    if text == b"@" {
        return Ok(origin.clone());
    }
    if text == b"." {
        return Ok(Name::root());
    }
    // Build the uncompressed wire form, then let hickory decode it: one path for all names.
    wire.clear();
    wire.push(0); // length of the label being built
    let mut label_start = 0;
    let mut absolute = false;
    let mut i = 0;
    while i < text.len() {
        let octet = match text[i] {
            b'.' => {
                close_label(wire, label_start)?;
                label_start = wire.len();
                wire.push(0);
                absolute = true;
                i += 1;
                continue;
            }
            b'\\' => {
                let (octet, used) = unescape(text, i)?;
                i += used;
                octet
            }
            c => {
                i += 1;
                c
            }
        };
        absolute = false;
        wire.push(if lowercase {
            octet.to_ascii_lowercase()
        } else {
            octet
        });
        if wire.len() > Name::MAX_LENGTH + 1 {
            return Err(format!(
                "longer than {} octets in wire form",
                Name::MAX_LENGTH
            ));
        }
    }
    if !absolute {
        close_label(wire, label_start)?;
        for label in origin.iter() {
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
        }
        wire.push(0);
    }
    if wire.len() > Name::MAX_LENGTH {
        return Err(format!(
            "{} octets in wire form, more than {}",
            wire.len(),
            Name::MAX_LENGTH
        ));
    }
    Name::from_bytes(wire).map_err(|e| e.to_string())
}

/// Writes the length of the label whose length octet is at `wire[start]`.
fn close_label(wire: &mut [u8], start: usize) -> Result<(), String> {
    match wire.len() - start - 1 {
        0 => Err("empty label (two dots in a row, or a leading dot)".into()),
        len @ 1..=63 => {
            wire[start] = len as u8;
            Ok(())
        }
        len => Err(format!("a label of {len} octets is longer than 63")),
    }
}

/// Decodes one character-string (RFC 1035 §3.3): at most 255 octets after unescaping.
pub(super) fn parse_char_string(text: &[u8]) -> Result<Vec<u8>, String> {
    let out = unescape_all(text)?;
    if out.len() > 255 {
        return Err(format!(
            "a character-string of {} octets is longer than 255; split it into several quoted strings",
            out.len()
        ));
    }
    Ok(out)
}

/// Decodes every escape in `text`.
pub(super) fn unescape_all(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' {
            let (octet, used) = unescape(text, i)?;
            out.push(octet);
            i += used;
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// An unsigned decimal number no larger than `max`.
pub(super) fn parse_number(text: &[u8], max: u64) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.iter()
        .try_fold(0u64, |acc, d| {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
        .filter(|&n| n <= max)
}

/// A TTL: seconds, or BIND-style units such as `1h30m` or `2W` (w, d, h, m, s; any case).
pub(super) fn parse_ttl(text: &[u8]) -> Result<u32, String> {
    let shown = String::from_utf8_lossy(text);
    let bad = || {
        format!(
            "`{shown}` is not a TTL; write seconds (3600) or units such as 1h30m (w, d, h, m, s)"
        )
    };
    let total = if text.iter().all(u8::is_ascii_digit) {
        parse_number(text, u64::MAX).ok_or_else(bad)?
    } else {
        let mut total = 0u64;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            let value = parse_number(&rest[..digits], u64::from(u32::MAX)).ok_or_else(bad)?;
            let unit = match rest.get(digits).map(u8::to_ascii_lowercase) {
                Some(b'w') => 604_800,
                Some(b'd') => 86_400,
                Some(b'h') => 3_600,
                Some(b'm') => 60,
                Some(b's') => 1,
                _ => return Err(bad()),
            };
            total = total.saturating_add(value * unit);
            rest = &rest[digits + 1..];
        }
        total
    };
    u32::try_from(total)
        .ok()
        .filter(|&ttl| ttl <= MAX_TTL)
        .ok_or_else(|| format!("TTL `{shown}` is above the maximum {MAX_TTL} (RFC 2181 §8)"))
}

/// What a class field names. Only IN is served; the other classes are recognised so that they
/// are reported as unsupported rather than mistaken for a record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    In,
    Other,
}

pub(super) fn parse_class(text: &[u8]) -> Option<Class> {
    const OTHERS: [&[u8]; 5] = [b"CH", b"CS", b"HS", b"NONE", b"ANY"];
    if text.eq_ignore_ascii_case(b"IN") {
        return Some(Class::In);
    }
    if OTHERS.iter().any(|c| text.eq_ignore_ascii_case(c)) {
        return Some(Class::Other);
    }
    let number = strip_prefix_ignore_case(text, b"CLASS")?;
    match parse_number(number, u64::from(u16::MAX))? {
        1 => Some(Class::In),
        _ => Some(Class::Other),
    }
}

/// A type mnemonic (any case) or RFC 3597 `TYPEnnn`.
pub(super) fn parse_type(text: &[u8]) -> Option<RecordType> {
    if let Some(number) = strip_prefix_ignore_case(text, b"TYPE") {
        if let Some(code) = parse_number(number, u64::from(u16::MAX)) {
            return Some(RecordType::from(code as u16));
        }
    }
    let upper = std::str::from_utf8(text).ok()?.to_ascii_uppercase();
    match upper.parse::<RecordType>() {
        // hickory also accepts `*` for ANY, which is no type mnemonic in a zone file.
        Ok(rtype) if upper != "*" => Some(rtype),
        _ => None,
    }
}

/// Types that only exist in messages or queries (RFC 6895 §3.1: 0, OPT, and 128-255).
pub(super) fn is_meta_type(rtype: RecordType) -> bool {
    matches!(u16::from(rtype), 0 | 41 | 128..=255)
}

fn strip_prefix_ignore_case<'t>(text: &'t [u8], prefix: &[u8]) -> Option<&'t [u8]> {
    (text.len() > prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &text[prefix.len()..])
}

/// Decodes hexadecimal digits (both cases) into octets.
pub(super) fn parse_hex(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "`{}` has an odd number of hex digits",
            String::from_utf8_lossy(text)
        ));
    }
    for pair in text.chunks(2) {
        let digit = |c: u8| (c as char).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
            _ => {
                return Err(format!(
                    "`{}` is not hexadecimal",
                    String::from_utf8_lossy(text)
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    fn name(text: &str, lowercase: bool) -> Result<Name, String> {
        parse_name(text.as_bytes(), &origin(), lowercase, &mut Vec::new())
    }

    #[test]
    fn names_relative_absolute_and_at() {
        assert_eq!(name("@", true).unwrap(), origin());
        assert_eq!(
            name("www", true).unwrap(),
            Name::from_ascii("www.example.com.").unwrap()
        );
        let abs = name("www.example.net.", true).unwrap();
        assert!(abs.is_fqdn());
        assert_eq!(abs, Name::from_ascii("www.example.net.").unwrap());
        assert!(name(".", true).unwrap().is_root());
        assert!(name("a.b", true).unwrap().is_fqdn());
    }

    #[test]
    fn names_lowercase_only_on_request() {
        let lower = name("WwW", true).unwrap();
        assert!(lower.eq_case(&Name::from_ascii("www.example.com.").unwrap()));
        let kept = name("WwW.Example.NET.", false).unwrap();
        assert!(kept.eq_case(&Name::from_ascii("WwW.Example.NET.").unwrap()));
    }

    #[test]
    fn names_with_escapes() {
        let dotted = name(r"a\.b.example.com.", true).unwrap();
        assert_eq!(dotted.iter().next().unwrap(), b"a.b");
        assert_eq!(dotted.num_labels(), 3);
        let decimal = name(r"\065\000\255x", false).unwrap();
        assert_eq!(decimal.iter().next().unwrap(), b"A\x00\xffx");
        let folded = name(r"\065", true).unwrap();
        assert_eq!(folded.iter().next().unwrap(), b"a");
        let space = name(r"a\ b", true).unwrap();
        assert_eq!(space.iter().next().unwrap(), b"a b");
    }

    #[test]
    fn name_errors() {
        assert!(name("a..b", true).unwrap_err().contains("empty label"));
        assert!(name(".a", true).unwrap_err().contains("empty label"));
        let long_label = "x".repeat(64);
        assert!(name(&long_label, true).unwrap_err().contains("64 octets"));
        assert!(name(&"x".repeat(63), true).is_ok());
        // 4 labels of 63 octets = 4 * 64 + 1 = 257 octets.
        let long_name = format!("{0}.{0}.{0}.{0}.", "y".repeat(63));
        assert!(name(&long_name, true).unwrap_err().contains("255"));
        // 3 * 64 + 62 + 1 = 255 octets: the longest legal name.
        let longest = format!("{0}.{0}.{0}.{1}.", "y".repeat(63), "z".repeat(61));
        assert_eq!(name(&longest, true).unwrap().len(), 254);
        // A relative name can become too long by the origin being appended.
        let rel = format!("{0}.{0}.{0}.{1}", "y".repeat(63), "z".repeat(50));
        assert!(name(&rel, true).unwrap_err().contains("255"));
        assert!(name(r"\25", true)
            .unwrap_err()
            .contains("three decimal digits"));
        assert!(name(r"\256", true).unwrap_err().contains("above 255"));
    }

    #[test]
    fn character_strings() {
        assert_eq!(
            parse_char_string(br#"a \"q\" \059"#).unwrap(),
            br#"a "q" ;"#
        );
        assert_eq!(parse_char_string(b"").unwrap(), b"");
        assert!(parse_char_string(&[b'x'; 255]).is_ok());
        assert!(parse_char_string(&[b'x'; 256])
            .unwrap_err()
            .contains("256 octets"));
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl(b"3600"), Ok(3600));
        assert_eq!(parse_ttl(b"0"), Ok(0));
        assert_eq!(parse_ttl(b"1h30m"), Ok(5400));
        assert_eq!(
            parse_ttl(b"1W2d3H4m5S"),
            Ok(604_800 + 172_800 + 10_800 + 240 + 5)
        );
        assert_eq!(parse_ttl(b"2147483647"), Ok(MAX_TTL));
        assert!(parse_ttl(b"2147483648").unwrap_err().contains("maximum"));
        assert!(parse_ttl(b"99999999999999999999999").is_err());
        assert!(parse_ttl(b"1h30").unwrap_err().contains("not a TTL"));
        assert!(parse_ttl(b"1x").is_err());
        assert!(parse_ttl(b"h").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number(b"65535", 65535), Some(65535));
        assert_eq!(parse_number(b"65536", 65535), None);
        assert_eq!(parse_number(b"", 10), None);
        assert_eq!(parse_number(b"-1", 10), None);
        assert_eq!(parse_number(b"1a", 10), None);
    }

    #[test]
    fn classes_and_types() {
        assert_eq!(parse_class(b"in"), Some(Class::In));
        assert_eq!(parse_class(b"CLASS1"), Some(Class::In));
        assert_eq!(parse_class(b"CH"), Some(Class::Other));
        assert_eq!(parse_class(b"class3"), Some(Class::Other));
        assert_eq!(parse_class(b"A"), None);
        assert_eq!(parse_class(b"CLASS"), None);
        assert_eq!(parse_type(b"aaaa"), Some(RecordType::AAAA));
        assert_eq!(parse_type(b"TYPE1"), Some(RecordType::A));
        assert_eq!(parse_type(b"type65280"), Some(RecordType::Unknown(65280)));
        assert_eq!(parse_type(b"TYPE65536"), None);
        assert_eq!(parse_type(b"BOGUS"), None);
        assert_eq!(parse_type(b"*"), None);
        assert!(is_meta_type(RecordType::OPT));
        assert!(is_meta_type(RecordType::ANY));
        assert!(is_meta_type(RecordType::AXFR));
        assert!(!is_meta_type(RecordType::CAA));
    }

    #[test]
    fn hex() {
        let mut out = Vec::new();
        parse_hex(b"00fFa1", &mut out).unwrap();
        assert_eq!(out, [0x00, 0xff, 0xa1]);
        assert!(parse_hex(b"abc", &mut out).is_err());
        assert!(parse_hex(b"zz", &mut out).is_err());
    }
}
