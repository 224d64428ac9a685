//! A DNS message read straight from its bytes, for the server's own needs where decoding it
//! into a hickory-proto `Message` is not wanted: naming a query in a log line, saying why a
//! message is malformed, checking that its EDNS options are intact (hickory drops broken ones
//! with a warning and answers as if they were absent), and building the SERVFAIL for a query
//! whose answering failed. The readers are bounds-checked and follow no compression pointers,
//! so they cannot panic or loop on any input: they run where the responder itself just
//! panicked.

use std::fmt;

use hickory_proto::rr::RecordType;

/// The fixed header of every DNS message (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
/// RCODE FORMERR (RFC 1035 §4.1.1).
pub const RCODE_FORMERR: u8 = 1;
const RCODE_SERVFAIL: u8 = 2;
const TYPE_OPT: u16 = 41;
/// RFC 9824 §3.5: a meta-type of compact denial, FORMERR when asked for.
const TYPE_NXNAME: u16 = 128;
/// Header flags (RFC 1035 §4.1.1, RFC 4035 §3.2): QR, OPCODE and RD in the third byte, CD in
/// the fourth.
const FLAG_QR: u8 = 0x80;
const MASK_OPCODE_RD: u8 = 0x79;
const FLAG_CD: u8 = 0x10;
/// DO in the OPT record's flags (RFC 3225 §3).
const EDNS_DO: u16 = 0x8000;
/// The UDP payload size a SERVFAIL's OPT advertises: the default of `[server] edns_payload`,
/// as the configured value is the responder's and the responder is what failed.
const SERVFAIL_EDNS_PAYLOAD: u16 = crate::config::DEFAULT_EDNS_PAYLOAD;
/// Longest rendering of a name in a log line; a wire name has at most 255 bytes, but each may
/// take 4 characters escaped.
const MAX_NAME_TEXT: usize = 300;

/// The RCODE in a message's header (the low 4 bits; an OPT record's extension is not read).
pub fn rcode(message: &[u8]) -> Option<u8> {
    message.get(3).map(|flags| flags & 0x0F)
}

/// Whether the message is a response (QR=1). A message shorter than the flags is not.
pub fn is_response(message: &[u8]) -> bool {
    message.get(2).is_some_and(|flags| flags & FLAG_QR != 0)
}

/// What is wrong with an OPT record's options, each of which is a code, a length and that many
/// bytes of data (RFC 6891 §6.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionsProblem {
    /// Fewer bytes are left than an option's 4-byte code and length.
    CutShort { left: usize },
    /// An option's length runs past the end of the record.
    Overruns { code: u16, len: usize, left: usize },
}

impl fmt::Display for OptionsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsProblem::CutShort { left } => write!(
                f,
                "the OPT record ends {left} byte(s) into an EDNS option's 4-byte code and length"
            ),
            OptionsProblem::Overruns { code, len, left } => write!(
                f,
                "EDNS option {code} claims {len} byte(s) of data but the OPT record has {left} left"
            ),
        }
    }
}

/// Checks that an OPT record's RDATA is a whole number of options. Knot and NSD answer FORMERR
/// when it is not; hickory-proto logs a warning and drops the options.
pub fn check_edns_options(rdata: &[u8]) -> Result<(), OptionsProblem> {
    let mut rest = rdata;
    while !rest.is_empty() {
        let [c0, c1, l0, l1, data @ ..] = rest else {
            return Err(OptionsProblem::CutShort { left: rest.len() });
        };
        let code = u16::from_be_bytes([*c0, *c1]);
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        if len > data.len() {
            return Err(OptionsProblem::Overruns {
                code,
                len,
                left: data.len(),
            });
        }
        rest = &data[len..];
    }
    Ok(())
}

/// The first question of a message, for a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// In presentation format (RFC 1035 §5.1), with `\.`, `\\` and `\DDD` escapes.
    pub name: String,
    pub qtype: u16,
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, type_name(self.qtype))
    }
}

/// A type's mnemonic, or `TYPE<n>` (RFC 3597 §5) for one hickory-proto does not know.
pub fn type_name(qtype: u16) -> String {
    match RecordType::from(qtype) {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => <&'static str>::from(known).to_string(),
    }
}

/// The message's first question, if its header counts one and it is whole.
pub fn question(message: &[u8]) -> Option<Question> {
    let mut reader = Reader::after_header(message)?;
    if reader.count(0) == 0 {
        return None;
    }
    let name = reader.name(true).ok()?.text;
    let qtype = reader.u16()?;
    reader.u16()?; // class
    Some(Question { name, qtype })
}

/// Why the responder could not take `message` as a query (it answered FORMERR, or nothing),
/// in words for a log line: the first problem found reading it from the start.
pub fn why_malformed(message: &[u8]) -> String {
    match structure(message) {
        Err(problem) => problem,
        Ok(found) => {
            if let Some(problem) = found.opt.and_then(|opt| opt.problem) {
                problem
            } else if found.questions != 1 {
                format!(
                    "{} questions: a query has exactly one (RFC 9619)",
                    found.questions
                )
            } else if found.qtype == Some(TYPE_NXNAME) {
                "type NXNAME is a meta-type, never asked for (RFC 9824 §3.5)".to_string()
            } else if found.trailing > 0 {
                format!("{} byte(s) after the last record", found.trailing)
            } else {
                "the responder could not decode it".to_string()
            }
        }
    }
}

/// The SERVFAIL for a query whose answering failed: the query's ID, opcode, RD and CD, its
/// question if it has exactly one, and an OPT (with DO copied) if it had one (RFC 6891 §6.1.1,
/// RFC 3225 §3). None for a message that must not be answered: one shorter than a header, or
/// a response.
pub fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    if query.len() < HEADER_LEN || is_response(query) {
        return None;
    }
    let found = structure(query).ok();
    let question = found
        .as_ref()
        .filter(|found| found.questions == 1)
        .and_then(|found| query.get(HEADER_LEN..found.question_end?));
    let opt = found.as_ref().and_then(|found| found.opt.as_ref());
    let mut reply = Vec::with_capacity(HEADER_LEN + question.map_or(0, <[u8]>::len) + 11);
    reply.extend_from_slice(&query[..2]);
    reply.push(FLAG_QR | (query[2] & MASK_OPCODE_RD));
    reply.push((query[3] & FLAG_CD) | RCODE_SERVFAIL);
    for count in [
        u16::from(question.is_some()),
        0,
        0,
        u16::from(opt.is_some()),
    ] {
        reply.extend_from_slice(&count.to_be_bytes());
    }
    if let Some(question) = question {
        reply.extend_from_slice(question);
    }
    if let Some(opt) = opt {
        reply.extend_from_slice(&[0]); // the root owns it
        reply.extend_from_slice(&TYPE_OPT.to_be_bytes());
        reply.extend_from_slice(&SERVFAIL_EDNS_PAYLOAD.to_be_bytes());
        reply.extend_from_slice(&[0, 0]); // extended RCODE, version 0
        reply.extend_from_slice(&(opt.flags & EDNS_DO).to_be_bytes());
        reply.extend_from_slice(&[0, 0]); // no options
    }
    Some(reply)
}

/// What a walk through a whole message found.
struct Structure {
    questions: u16,
    /// Where the first question ends, when there is one.
    question_end: Option<usize>,
    qtype: Option<u16>,
    /// The (first) OPT record.
    opt: Option<Opt>,
    /// Bytes after the last record the header counts.
    trailing: usize,
}

struct Opt {
    flags: u16,
    /// What is wrong with it, if anything.
    problem: Option<String>,
}

/// Walks the header, every question and every record, checking each against the message's
/// end; the error says where it stopped.
fn structure(message: &[u8]) -> Result<Structure, String> {
    let Some(mut reader) = Reader::after_header(message) else {
        return Err(format!(
            "{} byte(s): shorter than a DNS header ({HEADER_LEN})",
            message.len()
        ));
    };
    let questions = reader.count(0);
    let mut found = Structure {
        questions,
        question_end: None,
        qtype: None,
        opt: None,
        trailing: 0,
    };
    for i in 0..questions {
        let cut = || format!("question {} of {questions} is cut short", i + 1);
        reader
            .name(false)
            .map_err(|e| format!("question {}: {e}", i + 1))?;
        let qtype = reader.u16().ok_or_else(cut)?;
        reader.u16().ok_or_else(cut)?;
        if i == 0 {
            found.question_end = Some(reader.at);
            found.qtype = Some(qtype);
        }
    }
    for (section, index) in [("answer", 1), ("authority", 2), ("additional", 3)] {
        let records = reader.count(index);
        for i in 0..records {
            let at = |what: &str| format!("{section} record {} of {records}: {what}", i + 1);
            let root_owner = reader.name(false).map_err(|e| at(&e))?.is_root;
            let cut = || at("cut short");
            let rtype = reader.u16().ok_or_else(cut)?;
            reader.u16().ok_or_else(cut)?; // class
            reader.u16().ok_or_else(cut)?; // TTL: for OPT, extended RCODE and version
            let flags = reader.u16().ok_or_else(cut)?; // TTL: for OPT, the EDNS flags
            let len = usize::from(reader.u16().ok_or_else(cut)?);
            let left = reader.left();
            let rdata = reader.take(len).ok_or_else(|| {
                at(&format!(
                    "RDLENGTH {len} but {left} byte(s) left in the message"
                ))
            })?;
            if rtype != TYPE_OPT {
                continue;
            }
            if found.opt.is_some() {
                return Err("more than one OPT record (RFC 6891 §6.1.1)".to_string());
            }
            let problem = if section != "additional" {
                Some(format!(
                    "an OPT record in the {section} section (RFC 6891 §6.1.1)"
                ))
            } else if !root_owner {
                Some("an OPT record not owned by the root (RFC 6891 §6.1.2)".to_string())
            } else {
                check_edns_options(rdata).err().map(|e| e.to_string())
            };
            found.opt = Some(Opt { flags, problem });
        }
    }
    found.trailing = reader.left();
    Ok(found)
}

/// A cursor over a message, past its header.
struct Reader<'a> {
    message: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn after_header(message: &'a [u8]) -> Option<Self> {
        (message.len() >= HEADER_LEN).then_some(Reader {
            message,
            at: HEADER_LEN,
        })
    }

    /// The header's count of section `index` (0 questions, 1 answers, 2 authority, 3
    /// additional).
    fn count(&self, index: usize) -> u16 {
        let at = 4 + 2 * index;
        u16::from_be_bytes([self.message[at], self.message[at + 1]])
    }

    fn left(&self) -> usize {
        self.message.len() - self.at
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let bytes = self.message.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(bytes)
    }

    fn u16(&mut self) -> Option<u16> {
        let bytes = self.take(2)?;
        Some(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// Reads a name, rendered in presentation format when `render` is set (a compression
    /// pointer, which is not followed, shown as `\[pointer]`). The error says what is wrong.
    fn name(&mut self, render: bool) -> Result<WireName, String> {
        let mut name = WireName {
            text: String::new(),
            is_root: true,
        };
        let mut wire_len = 0usize;
        loop {
            let Some(&len) = self.message.get(self.at) else {
                return Err("the name runs past the end of the message".to_string());
            };
            match len & 0xC0 {
                0x00 => {}
                0xC0 => {
                    // A pointer ends the name; where it points is not checked here.
                    self.take(2)
                        .ok_or("the name's compression pointer is cut short")?;
                    name.is_root = false;
                    if render {
                        name.text.push_str("\\[pointer]");
                    }
                    return Ok(name);
                }
                bits => {
                    return Err(format!(
                        "label type {bits:#04x} is not in use (RFC 6891 §5)"
                    ))
                }
            }
            self.at += 1;
            wire_len += 1 + usize::from(len);
            if wire_len > 255 {
                return Err("the name is longer than 255 bytes (RFC 1035 §3.1)".to_string());
            }
            if len == 0 {
                if render && name.is_root {
                    name.text.push('.');
                }
                return Ok(name);
            }
            name.is_root = false;
            let label = self
                .take(usize::from(len))
                .ok_or("a label runs past the end of the message")?;
            if render {
                push_label(&mut name.text, label);
                name.text.push('.');
            }
        }
    }
}

/// A name as [`Reader::name`] read it.
struct WireName {
    /// Empty unless rendered.
    text: String,
    is_root: bool,
}

/// Appends a label in presentation format, escaping what is not a printable letter, digit or
/// punctuation, and stopping at [`MAX_NAME_TEXT`].
fn push_label(text: &mut String, label: &[u8]) {
    for &byte in label {
        if text.len() >= MAX_NAME_TEXT {
            return;
        }
        match byte {
            b'.' | b'\\' => {
                text.push('\\');
                text.push(char::from(byte));
            }
            0x21..=0x7E => text.push(char::from(byte)),
            _ => text.push_str(&format!("\\{byte:03}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], qtype: u16, additional: &[u8], arcount: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x10, 0, 1, 0, 0, 0, 0];
        q.extend_from_slice(&arcount.to_be_bytes());
        q.extend_from_slice(name);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q.extend_from_slice(additional);
        q
    }

    const WWW: &[u8] = b"\x03www\x07example\x03com\x00";

    /// An OPT record with DO=1 and this RDATA.
    fn opt(rdata: &[u8]) -> Vec<u8> {
        let mut opt = vec![0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0];
        opt.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        opt.extend_from_slice(rdata);
        opt
    }

    #[test]
    fn edns_options_must_fill_the_record_exactly() {
        assert_eq!(check_edns_options(b""), Ok(()));
        assert_eq!(
            check_edns_options(b"\x00\x0a\x00\x02ab\x00\x0c\x00\x00"),
            Ok(())
        );
        assert_eq!(
            check_edns_options(b"\x00\x0a"),
            Err(OptionsProblem::CutShort { left: 2 })
        );
        assert_eq!(
            check_edns_options(b"\x00\x0a\x00\x05ab"),
            Err(OptionsProblem::Overruns {
                code: 10,
                len: 5,
                left: 2
            })
        );
    }

    #[test]
    fn names_the_question_in_presentation_format() {
        let q = query(b"\x04a.b\\\x02\x01c\x07example\x03com\x00", 28, b"", 0);
        let question = question(&q).unwrap();
        assert_eq!(question.name, "a\\.b\\\\.\\001c.example.com.");
        assert_eq!(question.to_string(), "a\\.b\\\\.\\001c.example.com. AAAA");
        assert_eq!(
            super::question(&query(b"\x00", 65534, b"", 0))
                .unwrap()
                .to_string(),
            ". TYPE65534"
        );
        assert_eq!(
            super::question(&query(b"\x03www\xc0\x0c", 1, b"", 0))
                .unwrap()
                .name,
            "www.\\[pointer]"
        );
        assert_eq!(super::question(&q[..q.len() - 1]), None);
    }

    #[test]
    fn says_why_a_message_is_malformed() {
        let cases: &[(Vec<u8>, &str)] = &[
            (vec![0; 5], "5 byte(s): shorter than a DNS header (12)"),
            (
                query(WWW, 1, &opt(b"\x00\x0a"), 1),
                "the OPT record ends 2 byte(s) into an EDNS option's 4-byte code and length",
            ),
            (
                query(WWW, 1, &opt(b"\x00\x0a\x00\x05ab"), 1),
                "EDNS option 10 claims 5 byte(s) of data but the OPT record has 2 left",
            ),
            (
                query(WWW, 1, &[opt(b""), opt(b"")].concat(), 2),
                "more than one OPT record (RFC 6891 §6.1.1)",
            ),
            (
                query(WWW, 1, b"\x01x\x00\x00\x29\x04\xd0\0\0\0\0\0\0", 1),
                "an OPT record not owned by the root (RFC 6891 §6.1.2)",
            ),
            (
                query(WWW, 1, &opt(b"")[..8], 1),
                "additional record 1 of 1: cut short",
            ),
            (
                query(WWW, 1, b"\x00\x00\x01\x00\x01\0\0\0\0\x00\x09ab", 1),
                "additional record 1 of 1: RDLENGTH 9 but 2 byte(s) left in the message",
            ),
            (
                query(b"\x03www\x40", 1, b"", 0),
                "question 1: label type 0x40 is not in use (RFC 6891 §5)",
            ),
            (
                query(b"\x09www", 1, b"", 0),
                "question 1: a label runs past the end of the message",
            ),
            (
                query(WWW, 128, b"", 0),
                "type NXNAME is a meta-type, never asked for (RFC 9824 §3.5)",
            ),
            (query(WWW, 1, b"xy", 0), "2 byte(s) after the last record"),
            (query(WWW, 1, b"", 0), "the responder could not decode it"),
        ];
        for (message, why) in cases {
            assert_eq!(why_malformed(message), *why, "{message:02x?}");
        }
        let mut two = query(WWW, 1, b"", 0);
        two[5] = 2;
        let question = two[12..].to_vec();
        two.extend_from_slice(&question);
        assert_eq!(
            why_malformed(&two),
            "2 questions: a query has exactly one (RFC 9619)"
        );
        let mut long = vec![0u8; 12];
        long[5] = 1;
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(
            why_malformed(&long),
            "question 1: the name is longer than 255 bytes (RFC 1035 §3.1)"
        );
    }

    #[test]
    fn servfail_echoes_id_flags_question_and_edns() {
        let q = query(WWW, 1, &opt(b"\x00\x0a\x00\x08abcdefgh"), 1);
        let reply = servfail(&q).unwrap();
        let mut expected = vec![0x12, 0x34, 0x81, 0x12, 0, 1, 0, 0, 0, 0, 0, 1];
        expected.extend_from_slice(WWW);
        expected.extend_from_slice(&[0, 1, 0, 1]);
        expected.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]);
        assert_eq!(reply, expected);
        // Without OPT, with a question we cannot delimit: the header alone.
        let reply = servfail(&query(b"\x09www", 1, b"", 0)).unwrap();
        assert_eq!(reply, [0x12, 0x34, 0x81, 0x12, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut response = q.clone();
        response[2] |= 0x80;
        assert_eq!(servfail(&response), None);
        assert_eq!(servfail(&q[..11]), None);
    }

    /// Every prefix and every single-byte change of real messages: no reader panics.
    #[test]
    fn readers_never_panic() {
        let messages = [
            query(WWW, 1, &opt(b"\x00\x0a\x00\x08abcdefgh"), 1),
            query(b"\x03www\xc0\x0c", 1, &opt(b"\x00\x0a"), 1),
        ];
        for message in messages {
            for len in 0..=message.len() {
                let prefix = &message[..len];
                let _ = (why_malformed(prefix), servfail(prefix), question(prefix));
                for at in 0..len {
                    for byte in [0x00, 0x3F, 0x40, 0xC0, 0xFF] {
                        let mut changed = prefix.to_vec();
                        changed[at] = byte;
                        let _ = (
                            why_malformed(&changed),
                            servfail(&changed),
                            question(&changed),
                        );
                    }
                }
            }
        }
    }
}
