//! EDNS (RFC 6891) as the fallback speaks it: what a query's OPT record asks for, and the OPT
//! record of our answer.

use hickory_proto::op::{Edns, Header, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};

/// The Compact Answers OK flag among the EDNS flags (RFC 9824 §5.1), after DO.
const EDNS_FLAG_CO: u16 = 0x4000;

/// What a query's OPT record asks of the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Asked {
    /// The UDP payload size the client accepts; None without EDNS.
    pub client_payload: Option<u16>,
    /// DO: the client wants DNSSEC records (RFC 3225).
    pub dnssec_ok: bool,
    /// CO beside DO (RFC 9824 §5.1): NXDOMAIN is said with its RCODE in a compact denial.
    pub compact_ok: bool,
    /// EDNS Client Subnet (RFC 7871).
    pub subnet: Option<ClientSubnet>,
}

impl Asked {
    pub fn of(edns: Option<&Edns>) -> Self {
        let Some(edns) = edns else {
            return Self::default();
        };
        let dnssec_ok = edns.flags().dnssec_ok;
        Self {
            client_payload: Some(edns.max_payload()),
            dnssec_ok,
            // CO only means something beside DO, and we echo it to say we know it.
            compact_ok: dnssec_ok && edns.flags().z & EDNS_FLAG_CO != 0,
            subnet: match edns.options().get(EdnsCode::Subnet) {
                Some(EdnsOption::Subnet(subnet)) => Some(*subnet),
                _ => None,
            },
        }
    }
}

/// Our OPT record, advertising `payload`: version 0, DO copied from the query (RFC 3225 §3: it
/// MUST be, signed data or not), CO too (RFC 9824 §5.1), and no options: EDNS options in the
/// query, DNS COOKIE included, are ignored as RFC 7873 §5.2 allows a server without cookies to.
/// (The ECS echo is added by the responder, which knows the scope.)
pub fn ours(payload: u16, asked: &Asked) -> Edns {
    let mut edns = Edns::new();
    edns.set_max_payload(payload).set_dnssec_ok(asked.dnssec_ok);
    if asked.compact_ok {
        edns.flags_mut().z |= EDNS_FLAG_CO;
    }
    edns
}

/// RFC 6891 §6.1.2: an OPT RR's owner must be the root, and its options must fill its RDATA.
/// hickory drops the owner when it turns the OPT into `Edns`, and broken options with a
/// warning, so walk the message's records to check.
pub fn opt_owners_are_root(query: &[u8]) -> Result<bool, DecodeError> {
    let mut decoder = BinDecoder::new(query);
    let counts = Header::read(&mut decoder)?.counts;
    for _ in 0..counts.queries {
        Query::read(&mut decoder)?;
    }
    let records =
        u32::from(counts.answers) + u32::from(counts.authorities) + u32::from(counts.additionals);
    for _ in 0..records {
        let owner = Name::read(&mut decoder)?;
        let rtype = RecordType::from(decoder.read_u16()?.unverified(/* any type */));
        decoder.read_slice(6)?; // class and TTL
        let rdlength = decoder.read_u16()?.unverified(/* bounded by read_slice */);
        let rdata = decoder.read_slice(usize::from(rdlength))?.unverified(/* checked next */);
        if rtype == RecordType::OPT
            && (!owner.is_root() || super::wire::check_edns_options(rdata).is_err())
        {
            return Ok(false);
        }
    }
    Ok(true)
}
