//! The canonical form of an RRset and the data an RRSIG signs (RFC 4034 §3.1.8.1 and §6).
//!
//! Built here rather than with hickory-proto's `TBS`, which orders RDATA by its non-canonical
//! encoding: with mixed-case names in RDATA (an NS or MX written in capitals in a zone file)
//! that order differs from RFC 4034 §6.3's and validators reject the signature.

use hickory_proto::dnssec::rdata::SigInput;
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};

use super::DnssecError;

const CLASS_IN: u16 = 1;

/// An RRset in canonical form: owner lowercased, each RDATA in canonical form (names in the
/// RDATA of the RFC 4034 §6.2 types lowercased, as amended by RFC 6840 §5.1), sorted as octet
/// strings, duplicates removed (RFC 4034 §6.3).
pub(crate) struct CanonicalRrset {
    owner: Vec<u8>,
    rtype: RecordType,
    ttl: u32,
    rdata: Vec<Vec<u8>>,
}

impl CanonicalRrset {
    pub(crate) fn new(
        owner: &Name,
        rtype: RecordType,
        ttl: u32,
        rdata: &[RData],
    ) -> Result<Self, DnssecError> {
        let mut canonical = rdata
            .iter()
            .map(canonical_rdata)
            .collect::<Result<Vec<_>, _>>()?;
        // Vec<u8>'s order is RFC 4034 §6.3's: octet by octet, a missing octet first.
        canonical.sort_unstable();
        canonical.dedup();
        Ok(CanonicalRrset {
            owner: lowercase_wire(owner),
            rtype,
            ttl,
            rdata: canonical,
        })
    }

    /// Identifies the RRset exactly: owner, type, TTL and the RDATA set. Every RRSIG over the
    /// same key is the same, whatever the order or case the RRset came in.
    pub(crate) fn cache_key(&self) -> Box<[u8]> {
        let mut key = Vec::with_capacity(
            self.owner.len() + 6 + self.rdata.iter().map(|r| r.len() + 2).sum::<usize>(),
        );
        key.extend_from_slice(&self.owner);
        key.extend_from_slice(&u16::from(self.rtype).to_be_bytes());
        key.extend_from_slice(&self.ttl.to_be_bytes());
        for rdata in &self.rdata {
            key.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            key.extend_from_slice(rdata);
        }
        key.into_boxed_slice()
    }

    /// RFC 4034 §3.1.8.1: `RRSIG_RDATA | RR(1) | RR(2) | …`, where `rrsig_rdata` is the RRSIG
    /// RDATA without its signature (see [`rrsig_rdata`]).
    pub(crate) fn signed_data(&self, rrsig_rdata: &[u8]) -> Vec<u8> {
        let fixed = self.owner.len() + 10;
        let mut data = Vec::with_capacity(
            rrsig_rdata.len()
                + self
                    .rdata
                    .iter()
                    .map(|rdata| fixed + rdata.len())
                    .sum::<usize>(),
        );
        data.extend_from_slice(rrsig_rdata);
        for rdata in &self.rdata {
            // The RRSIG's labels field equals the owner's label count (less a leading `*`),
            // so RFC 4035 §5.3.2's name reconstruction gives back the owner itself.
            data.extend_from_slice(&self.owner);
            data.extend_from_slice(&u16::from(self.rtype).to_be_bytes());
            data.extend_from_slice(&CLASS_IN.to_be_bytes());
            data.extend_from_slice(&self.ttl.to_be_bytes());
            data.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            data.extend_from_slice(rdata);
        }
        data
    }
}

/// The RRSIG RDATA fields before the signature (RFC 4034 §3.1), signer name in canonical
/// form: the head of both the signed data and the RRSIG record.
pub(crate) fn rrsig_rdata(input: &SigInput) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(18 + input.signer_name.len() + 1);
    rdata.extend_from_slice(&u16::from(input.type_covered).to_be_bytes());
    rdata.push(u8::from(input.algorithm));
    rdata.push(input.num_labels);
    rdata.extend_from_slice(&input.original_ttl.to_be_bytes());
    rdata.extend_from_slice(&input.sig_expiration.get().to_be_bytes());
    rdata.extend_from_slice(&input.sig_inception.get().to_be_bytes());
    rdata.extend_from_slice(&input.key_tag.to_be_bytes());
    rdata.extend_from_slice(&lowercase_wire(&input.signer_name));
    rdata
}

/// The RRSIG labels field (RFC 4034 §3.1.3): the owner's labels, the root and a leading `*`
/// not counted.
pub(crate) fn rrsig_labels(owner: &Name) -> u8 {
    owner.num_labels()
}

/// `name` in wire format, uncompressed, ASCII letters lowercased (RFC 4034 §6.2).
pub(crate) fn lowercase_wire(name: &Name) -> Vec<u8> {
    let mut wire = Vec::with_capacity(name.len() + 1);
    for label in name.iter() {
        wire.push(label.len() as u8);
        wire.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    wire.push(0);
    wire
}

fn canonical_rdata(rdata: &RData) -> Result<Vec<u8>, DnssecError> {
    let mut bytes = Vec::new();
    let mut encoder = BinEncoder::new(&mut bytes);
    // Canonical form makes hickory lowercase the names of the types RFC 4034 §6.2 (with RFC
    // 6840 §5.1) lists and never compress; the name encoding keeps any other type's names
    // uncompressed too.
    encoder.set_canonical_form(true);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    rdata.emit(&mut encoder).map_err(|e| DnssecError::Encode {
        what: format!("{} RDATA", rdata.record_type()),
        problem: e.to_string(),
    })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, MX, NS, TXT};
    use std::net::Ipv4Addr;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn rdata_is_sorted_deduplicated_and_lowercased() {
        let ns = |s: &str| RData::NS(NS(n(s)));
        let set = CanonicalRrset::new(
            &n("Example.COM."),
            RecordType::NS,
            300,
            &[
                ns("b.EXAMPLE.net."),
                ns("A.example.net."),
                ns("a.example.NET."),
            ],
        )
        .unwrap();
        assert_eq!(set.owner, b"\x07example\x03com\x00");
        assert_eq!(
            set.rdata,
            vec![
                b"\x01a\x07example\x03net\x00".to_vec(),
                b"\x01b\x07example\x03net\x00".to_vec()
            ]
        );
        // Octet order, not numeric text order: 192.0.2.10 < 192.0.2.9; a missing octet sorts
        // before a zero octet.
        let a = |last| RData::A(A(Ipv4Addr::new(192, 0, 2, last)));
        let set = CanonicalRrset::new(&n("a."), RecordType::A, 1, &[a(9), a(10), a(200)]).unwrap();
        assert_eq!(
            set.rdata.iter().map(|r| r[3]).collect::<Vec<_>>(),
            vec![9, 10, 200]
        );
        let txt = |s: &[u8]| RData::TXT(TXT::from_bytes(vec![s]));
        let set =
            CanonicalRrset::new(&n("a."), RecordType::TXT, 1, &[txt(b"a\0"), txt(b"a")]).unwrap();
        assert_eq!(set.rdata, vec![b"\x01a".to_vec(), b"\x02a\0".to_vec()]);
    }

    #[test]
    fn mx_exchange_is_lowercased_and_order_ignores_input_order() {
        let mx = |p, s: &str| RData::MX(MX::new(p, n(s)));
        let one = CanonicalRrset::new(
            &n("x."),
            RecordType::MX,
            60,
            &[mx(10, "MAIL.x."), mx(5, "b.x.")],
        )
        .unwrap();
        let two = CanonicalRrset::new(
            &n("X."),
            RecordType::MX,
            60,
            &[mx(5, "B.x."), mx(10, "mail.X.")],
        )
        .unwrap();
        assert_eq!(one.cache_key(), two.cache_key());
        assert_eq!(one.rdata[0], b"\x00\x05\x01b\x01x\x00");
    }

    #[test]
    fn labels_skip_a_leading_wildcard() {
        assert_eq!(rrsig_labels(&n("www.example.com.")), 3);
        assert_eq!(rrsig_labels(&n("*.example.com.")), 2);
        assert_eq!(rrsig_labels(&Name::root()), 0);
    }
}
