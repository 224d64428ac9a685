//! RRsets as the bytes of an answer section: every record owned by a compression pointer to the
//! question name (`0xC00C`: it always starts right after the 12-byte header), so the same bytes
//! follow any spelling of the question. Both paths send these bytes; the kernel only copies
//! them, with the checksum computed here.

use std::{net::IpAddr, sync::Arc};

use dns_xdp_common::answer::{MAX_ANSWER_LEN, QTYPE_A, QTYPE_AAAA};
use hickory_proto::{
    rr::{
        rdata::{A, AAAA},
        RData, RecordType,
    },
    serialize::binary::{BinEncodable, BinEncoder},
};

use crate::zone::RrSet;

const POINTER_TO_QUESTION: [u8; 2] = [0xC0, 0x0C];
const CLASS_IN: u16 = 1;

/// A rendered answer section and its record count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub count: u16,
    /// Shared by every copy: the fast path's entries and the fallback's splicer hold the same.
    pub bytes: Arc<[u8]>,
}

impl Section {
    pub fn empty() -> Self {
        Self {
            count: 0,
            bytes: Arc::from(&[][..]),
        }
    }
}

/// The wire type code of A and AAAA, the types the fast path answers.
pub fn address_qtype(rtype: RecordType) -> Option<u16> {
    match rtype {
        RecordType::A => Some(QTYPE_A),
        RecordType::AAAA => Some(QTYPE_AAAA),
        _ => None,
    }
}

/// Renders records of `qtype` with `ttl`, one per RDATA, owners compressed to the question;
/// `Err(len)` when the section would exceed `MAX_ANSWER_LEN`.
pub fn render(qtype: u16, ttl: u32, rdata: &[Vec<u8>]) -> Result<Section, usize> {
    let mut bytes = Vec::with_capacity(rdata.len() * 28);
    for rdata in rdata {
        bytes.extend_from_slice(&POINTER_TO_QUESTION);
        bytes.extend_from_slice(&qtype.to_be_bytes());
        bytes.extend_from_slice(&CLASS_IN.to_be_bytes());
        bytes.extend_from_slice(&ttl.to_be_bytes());
        bytes.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        bytes.extend_from_slice(rdata);
    }
    if bytes.len() > MAX_ANSWER_LEN {
        return Err(bytes.len());
    }
    Ok(Section {
        count: rdata.len() as u16,
        bytes: bytes.into(),
    })
}

/// Renders an A or AAAA RRset; `Err(len)` when it does not fit the fast path.
pub fn render_rrset(qtype: u16, rrset: &RrSet) -> Result<Section, usize> {
    let rdata: Vec<Vec<u8>> = rrset.rdata.iter().map(encode_rdata).collect();
    render(qtype, rrset.ttl, &rdata)
}

fn encode_rdata(rdata: &RData) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    let mut encoder = BinEncoder::new(&mut out);
    rdata
        .emit(&mut encoder)
        .expect("A and AAAA RDATA always encode");
    out
}

/// The RDATA of an address.
pub fn address_rdata(addr: IpAddr) -> RData {
    match addr {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}

/// The 16-bit ones'-complement sum (RFC 1071) of `bytes` starting at an even offset, folded but
/// not complemented.
pub fn ones_complement_sum(bytes: &[u8]) -> u16 {
    let mut sum: u64 = bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]) as u64)
        .sum();
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        assert_eq!(
            ones_complement_sum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        assert_eq!(ones_complement_sum(&[0xff]), 0xff00);
    }

    #[test]
    fn records_are_owned_by_the_question() {
        let section = render(QTYPE_A, 120, &[vec![192, 0, 2, 10]]).unwrap();
        assert_eq!(section.count, 1);
        assert_eq!(
            &*section.bytes,
            &[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 192, 0, 2, 10]
        );
        let many: Vec<Vec<u8>> = (0..40).map(|i| vec![192, 0, 2, i]).collect();
        assert_eq!(render(QTYPE_A, 60, &many), Err(640));
    }
}
