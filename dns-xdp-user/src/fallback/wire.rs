//! A DNS message read straight from its bytes, where decoding it into a hickory-proto `Message`
//! would hide what is wrong with it: hickory drops broken EDNS options with a warning and
//! answers as if they were absent.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
