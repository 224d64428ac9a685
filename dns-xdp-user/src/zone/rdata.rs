//! RDATA fields of one record, in presentation form or RFC 3597 generic form, to hickory `RData`.

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};

use super::lexer::Token;
use super::text::{
    parse_char_string, parse_hex, parse_name, parse_number, parse_ttl, unescape_all,
};

#[derive(Debug, PartialEq, Eq)]
pub(super) enum RdataError {
    Bad {
        line: u32,
        problem: String,
    },
    BadName {
        line: u32,
        name: String,
        problem: String,
    },
    /// The type has no presentation-form parser here.
    NeedsGeneric,
}

/// The presentation syntax of `rtype`'s RDATA, for error messages.
pub(super) fn expected_syntax(rtype: RecordType) -> &'static str {
    match rtype {
        RecordType::A => "<IPv4 address>",
        RecordType::AAAA => "<IPv6 address>",
        RecordType::NS | RecordType::CNAME | RecordType::PTR => "<domain name>",
        RecordType::MX => "<preference 0-65535> <exchange name>",
        RecordType::TXT => "<character-string> [<character-string> ...]",
        RecordType::SOA => "<mname> <rname> <serial> <refresh> <retry> <expire> <minimum>",
        RecordType::SRV => "<priority> <weight> <port> <target name>",
        RecordType::CAA => "<flags 0-255> <tag> <value>",
        _ => "\\# <length> <hex rdata>",
    }
}

/// Parses the RDATA `fields` of a record of type `rtype`. `line` is where the record's type
/// was given, used when a field is missing; names are relative to `origin`.
pub(super) fn parse(
    rtype: RecordType,
    fields: &[Token<'_>],
    line: u32,
    origin: &Name,
    scratch: &mut Vec<u8>,
) -> Result<RData, RdataError> {
    let mut f = Fields {
        tokens: fields,
        line,
        origin,
        scratch,
    };
    if fields
        .first()
        .is_some_and(|t| !t.quoted && t.text == b"\\#")
    {
        f.tokens = &fields[1..];
        return f.generic(rtype);
    }
    let rdata = match rtype {
        RecordType::A => RData::A(A(f.parsed::<Ipv4Addr>("IPv4 address")?)),
        RecordType::AAAA => RData::AAAA(AAAA(f.parsed::<Ipv6Addr>("IPv6 address")?)),
        RecordType::NS => RData::NS(NS(f.name("name server")?)),
        RecordType::CNAME => RData::CNAME(CNAME(f.name("canonical name")?)),
        RecordType::PTR => RData::PTR(PTR(f.name("pointer target")?)),
        RecordType::MX => {
            let preference = f.number("preference", u16::MAX.into())? as u16;
            RData::MX(MX::new(preference, f.name("exchange")?))
        }
        RecordType::SRV => {
            let priority = f.number("priority", u16::MAX.into())? as u16;
            let weight = f.number("weight", u16::MAX.into())? as u16;
            let port = f.number("port", u16::MAX.into())? as u16;
            RData::SRV(SRV::new(priority, weight, port, f.name("target")?))
        }
        RecordType::SOA => {
            let mname = f.name("mname (primary name server)")?;
            let rname = f.name("rname (mailbox)")?;
            let serial = f.number("serial", u32::MAX.into())? as u32;
            // The TTL limit (2^31 - 1) keeps the three timers within hickory's i32 fields.
            let refresh = f.ttl("refresh")? as i32;
            let retry = f.ttl("retry")? as i32;
            let expire = f.ttl("expire")? as i32;
            let minimum = f.ttl("minimum")?;
            RData::SOA(SOA::new(
                mname, rname, serial, refresh, retry, expire, minimum,
            ))
        }
        RecordType::TXT => {
            let first = f.next("character-string")?;
            let mut strings = vec![f.char_string(first)?];
            while let Some(token) = f.tokens.first() {
                f.tokens = &f.tokens[1..];
                strings.push(f.char_string(token)?);
            }
            RData::TXT(TXT::from_bytes(strings.iter().map(Vec::as_slice).collect()))
        }
        RecordType::CAA => f.caa()?,
        _ => return Err(RdataError::NeedsGeneric),
    };
    f.end()?;
    Ok(rdata)
}

/// A cursor over the RDATA tokens.
struct Fields<'t, 'a, 's> {
    tokens: &'t [Token<'a>],
    /// Line of the last token consumed, where a missing field is reported.
    line: u32,
    origin: &'s Name,
    scratch: &'s mut Vec<u8>,
}

impl<'t, 'a> Fields<'t, 'a, '_> {
    fn next(&mut self, what: &str) -> Result<&'t Token<'a>, RdataError> {
        let (first, rest) = self.tokens.split_first().ok_or_else(|| RdataError::Bad {
            line: self.line,
            problem: format!("the {what} is missing"),
        })?;
        self.tokens = rest;
        self.line = first.line;
        Ok(first)
    }

    /// The next field, which must not be quoted.
    fn word(&mut self, what: &str) -> Result<&'a [u8], RdataError> {
        let token = self.next(what)?;
        if token.quoted {
            return Err(self.bad(format!(
                "the {what} is a quoted string; write it without quotes"
            )));
        }
        Ok(token.text)
    }

    fn parsed<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, RdataError> {
        let text = self.word(what)?;
        std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                self.bad(format!(
                    "`{}` is not an {what}",
                    String::from_utf8_lossy(text)
                ))
            })
    }

    fn number(&mut self, what: &str, max: u64) -> Result<u64, RdataError> {
        let text = self.word(what)?;
        parse_number(text, max).ok_or_else(|| {
            self.bad(format!(
                "{what} `{}` is not a number from 0 to {max}",
                String::from_utf8_lossy(text)
            ))
        })
    }

    fn ttl(&mut self, what: &str) -> Result<u32, RdataError> {
        let text = self.word(what)?;
        parse_ttl(text).map_err(|problem| self.bad(format!("{what}: {problem}")))
    }

    fn name(&mut self, what: &str) -> Result<Name, RdataError> {
        let text = self.word(what)?;
        // RDATA names keep their case: only owner names are folded for lookups.
        parse_name(text, self.origin, false, self.scratch).map_err(|problem| RdataError::BadName {
            line: self.line,
            name: String::from_utf8_lossy(text).into_owned(),
            problem,
        })
    }

    fn char_string(&mut self, token: &Token<'_>) -> Result<Vec<u8>, RdataError> {
        self.line = token.line;
        parse_char_string(token.text).map_err(|problem| self.bad(problem))
    }

    /// RFC 8659 §4.1.1: `<flags> <tag> <value>`.
    fn caa(&mut self) -> Result<RData, RdataError> {
        let flags = self.number("flags", u8::MAX.into())? as u8;
        let tag = self.word("tag")?;
        if tag.is_empty() || tag.len() > 15 || !tag.iter().all(u8::is_ascii_alphanumeric) {
            return Err(self.bad(format!(
                "tag `{}` must be 1 to 15 ASCII letters and digits",
                String::from_utf8_lossy(tag)
            )));
        }
        let value_token = self.next("value")?;
        // The value is the rest of the RDATA on the wire, not a character-string, so it has no
        // 255-octet limit.
        let value = unescape_all(value_token.text).map_err(|problem| self.bad(problem))?;
        let mut wire = Vec::with_capacity(2 + tag.len() + value.len());
        wire.push(flags);
        wire.push(tag.len() as u8);
        wire.extend_from_slice(tag);
        wire.extend_from_slice(&value);
        // hickory's CAA fields cannot be set directly; decoding the wire form builds it.
        self.decode(RecordType::CAA, &wire)
    }

    /// RFC 3597 §5: `\# <length> <hex>...`; the `\#` is already consumed.
    fn generic(mut self, rtype: RecordType) -> Result<RData, RdataError> {
        let length = self.number("RDATA length", u16::MAX.into())? as usize;
        let mut wire = Vec::with_capacity(length);
        while let Some(token) = self.tokens.first() {
            self.tokens = &self.tokens[1..];
            self.line = token.line;
            parse_hex(token.text, &mut wire).map_err(|problem| self.bad(problem))?;
        }
        if wire.len() != length {
            return Err(self.bad(format!(
                "the length says {length} octets but the hex data has {}",
                wire.len()
            )));
        }
        self.decode(rtype, &wire)
    }

    /// Wire-format RDATA to `RData`, checking that it is well formed for `rtype`.
    fn decode(&self, rtype: RecordType, wire: &[u8]) -> Result<RData, RdataError> {
        let mut decoder = BinDecoder::new(wire);
        RData::read(&mut decoder, rtype, Restrict::new(wire.len() as u16)).map_err(|e| {
            self.bad(format!(
                "the {} octets are not valid {rtype} RDATA ({e})",
                wire.len()
            ))
        })
    }

    fn end(&self) -> Result<(), RdataError> {
        match self.tokens.first() {
            None => Ok(()),
            Some(extra) => Err(RdataError::Bad {
                line: extra.line,
                problem: format!(
                    "unexpected extra field `{}`",
                    String::from_utf8_lossy(extra.text)
                ),
            }),
        }
    }

    fn bad(&self, problem: String) -> RdataError {
        RdataError::Bad {
            line: self.line,
            problem,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::lexer::Lexer;
    use hickory_proto::rr::rdata::NULL;

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    fn rd(rtype: RecordType, text: &str) -> Result<RData, RdataError> {
        let mut lexer = Lexer::new(text.as_bytes());
        let mut tokens = Vec::new();
        lexer.next_entry(&mut tokens).unwrap();
        parse(rtype, &tokens, 1, &origin(), &mut Vec::new())
    }

    fn problem(result: Result<RData, RdataError>) -> String {
        match result {
            Err(RdataError::Bad { problem, .. }) => problem,
            other => panic!("expected a bad RDATA error, got {other:?}"),
        }
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn addresses() {
        assert_eq!(
            rd(RecordType::A, "192.0.2.1").unwrap(),
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))
        );
        assert_eq!(
            rd(RecordType::AAAA, "2001:DB8::1").unwrap(),
            RData::AAAA(AAAA("2001:db8::1".parse().unwrap()))
        );
        assert!(problem(rd(RecordType::A, "192.0.2")).contains("not an IPv4 address"));
        assert!(problem(rd(RecordType::A, "\"192.0.2.1\"")).contains("quoted"));
        assert!(problem(rd(RecordType::A, "192.0.2.1 x")).contains("extra field `x`"));
        assert!(problem(rd(RecordType::AAAA, "::g")).contains("IPv6"));
    }

    #[test]
    fn names_are_relative_to_origin_and_keep_case() {
        let RData::CNAME(CNAME(target)) = rd(RecordType::CNAME, "Www").unwrap() else {
            panic!()
        };
        assert!(target.eq_case(&name("Www.example.com.")));
        assert_eq!(rd(RecordType::NS, "@").unwrap(), RData::NS(NS(origin())));
        assert_eq!(
            rd(RecordType::PTR, "host.example.net.").unwrap(),
            RData::PTR(PTR(name("host.example.net.")))
        );
        match rd(RecordType::NS, "a..b") {
            Err(RdataError::BadName { name, .. }) => assert_eq!(name, "a..b"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mx_srv_soa() {
        assert_eq!(
            rd(RecordType::MX, "10 mail").unwrap(),
            RData::MX(MX::new(10, name("mail.example.com.")))
        );
        assert!(problem(rd(RecordType::MX, "65536 mail")).contains("0 to 65535"));
        assert!(problem(rd(RecordType::MX, "10")).contains("exchange is missing"));
        assert_eq!(
            rd(RecordType::SRV, "0 5 5060 sip").unwrap(),
            RData::SRV(SRV::new(0, 5, 5060, name("sip.example.com.")))
        );
        assert_eq!(
            rd(
                RecordType::SOA,
                "ns hostmaster ( 2024010101 1h 15m 1w 300 )"
            )
            .unwrap(),
            RData::SOA(SOA::new(
                name("ns.example.com."),
                name("hostmaster.example.com."),
                2024010101,
                3600,
                900,
                604_800,
                300
            ))
        );
        assert!(problem(rd(RecordType::SOA, "ns hm 1 2 3 4")).contains("minimum is missing"));
        assert!(problem(rd(RecordType::SOA, "ns hm 1h 2 3 4 5")).contains("serial"));
    }

    #[test]
    fn txt_strings() {
        let txt = |strings: &[&[u8]]| RData::TXT(TXT::from_bytes(strings.to_vec()));
        assert_eq!(
            rd(RecordType::TXT, r#""hello world" plain "q\"uote\"" "\255""#).unwrap(),
            txt(&[b"hello world", b"plain", b"q\"uote\"", b"\xff"])
        );
        assert_eq!(rd(RecordType::TXT, r#""""#).unwrap(), txt(&[b""]));
        let long = format!("\"{}\" \"{}\"", "a".repeat(255), "b".repeat(255));
        let RData::TXT(two) = rd(RecordType::TXT, &long).unwrap() else {
            panic!()
        };
        assert_eq!(two.txt_data.len(), 2);
        let too_long = format!("\"{}\"", "a".repeat(256));
        assert!(problem(rd(RecordType::TXT, &too_long)).contains("longer than 255"));
        assert!(problem(rd(RecordType::TXT, "")).contains("missing"));
    }

    #[test]
    fn caa() {
        let RData::CAA(caa) =
            rd(RecordType::CAA, r#"128 issue "ca.example.net; account=1""#).unwrap()
        else {
            panic!()
        };
        assert!(caa.issuer_critical);
        assert_eq!(caa.tag, "issue");
        assert_eq!(caa.value, b"ca.example.net; account=1");
        let RData::CAA(caa) = rd(RecordType::CAA, "0 iodef mailto:security@example.com").unwrap()
        else {
            panic!()
        };
        assert_eq!(caa.tag, "iodef");
        assert!(problem(rd(RecordType::CAA, r#"0 is-sue "x""#)).contains("tag"));
        assert!(problem(rd(RecordType::CAA, "256 issue x")).contains("0 to 255"));
    }

    #[test]
    fn generic_form() {
        assert_eq!(
            rd(RecordType::Unknown(65280), r"\# 4 0A000001").unwrap(),
            RData::Unknown {
                code: RecordType::Unknown(65280),
                rdata: NULL::with(vec![10, 0, 0, 1])
            }
        );
        assert_eq!(
            rd(RecordType::Unknown(65280), r"\# 0").unwrap(),
            RData::Unknown {
                code: RecordType::Unknown(65280),
                rdata: NULL::new()
            }
        );
        // Known types decode into their typed form; hex may be split.
        assert_eq!(
            rd(RecordType::A, r"\# 4 C000 0201").unwrap(),
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1)))
        );
        assert!(problem(rd(RecordType::A, r"\# 3 C00002")).contains("not valid A"));
        assert!(problem(rd(RecordType::A, r"\# 4 C00002")).contains("length says 4"));
        assert!(problem(rd(RecordType::A, r"\# 4 C0000G01")).contains("hex"));
        assert!(problem(rd(RecordType::A, r"\#")).contains("length is missing"));
        // Types without a presentation parser require the generic form.
        assert_eq!(
            rd(RecordType::HINFO, r#""cpu" "os""#),
            Err(RdataError::NeedsGeneric)
        );
        assert!(matches!(
            rd(RecordType::HINFO, r"\# 4 01610162").unwrap(),
            RData::HINFO(_)
        ));
    }
}
