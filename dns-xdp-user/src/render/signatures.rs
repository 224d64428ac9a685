//! The RRSIGs a DO=1 answer carries after its RRset, rendered as the records that follow it in
//! the answer section. Made with the zone's signer, the one the fallback signs with: its cache
//! hands both paths the same signatures, so a DO=1 answer is the same bytes whichever path
//! sends it.

use std::sync::Arc;

use dns_xdp_common::answer::MAX_ANSWER_LEN;

use crate::{dnssec::Signer, zone::RrSet};

/// The RRSIGs of an answer, for DO=1 queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// The zone is unsigned: the RRset alone.
    Unsigned,
    /// `count` RRSIG records, owners compressed to the question, to follow the RRset.
    Signed { count: u16, bytes: Arc<[u8]> },
    /// The zone is signed, but the RRSIGs are not in the fast path (they would not fit beside
    /// the RRset, or signing failed): DO=1 queries pass up to the fallback.
    Unpublished,
}

/// An answer's RRSIGs and when they are due for renewal.
pub struct Signed {
    pub rrsigs: Signatures,
    pub renew_at: Option<u64>,
}

/// Signs `rrset` (owned by its own name, as the fallback signs a direct answer) with `signer`
/// and renders the RRSIGs to follow `answer_len` bytes of rendered answer, if they fit beside
/// it in the fast path's entry.
pub fn sign(signer: &Signer, rrset: &RrSet, answer_len: usize, now: u64) -> Signed {
    match signer.sign(&rrset.name, rrset, now) {
        Ok(rrsigs) => {
            let wire = rrsigs.wire_after_question(&rrset.name, rrset.ttl);
            let renew_at = Some(rrsigs.renew_at());
            if answer_len + wire.bytes.len() > MAX_ANSWER_LEN {
                log::info!(
                    "{} {}: the RRSIGs ({} bytes) do not fit beside the answer in the fast \
                     path's {MAX_ANSWER_LEN} bytes; the fallback answers its DO=1 queries",
                    rrset.name,
                    rrset.rtype,
                    wire.bytes.len()
                );
                return Signed {
                    rrsigs: Signatures::Unpublished,
                    renew_at,
                };
            }
            Signed {
                rrsigs: Signatures::Signed {
                    count: wire.count,
                    bytes: wire.bytes.into(),
                },
                renew_at,
            }
        }
        Err(e) => {
            log::error!(
                "cannot sign {} {} for the fast path: {e}; the fallback answers its DO=1 queries",
                rrset.name,
                rrset.rtype
            );
            Signed {
                rrsigs: Signatures::Unpublished,
                renew_at: None,
            }
        }
    }
}

/// The earlier of two optional times.
pub fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
