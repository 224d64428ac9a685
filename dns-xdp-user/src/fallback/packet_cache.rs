//! Replies the general path built, kept by the exact bytes of the query after its ID: the reply
//! is a function of those bytes, the transport and the zones alone, so a repeated query gets the
//! stored reply with its own ID. Lives inside a [`crate::fallback::responder::Responder`], so new zones
//! (a reload, an ALIAS change) start with an empty cache.
//!
//! The key is case-sensitive, as the reply echoes the question's exact case; resolvers that
//! randomise case (0x20) simply hit less. The cache is bounded by bytes and evicts by S3-FIFO
//! (`quick_cache`, sharded so the UDP threads, one per socket, rarely share a lock): a new
//! entry waits in a small queue and only one asked again moves to the main one, so a flood of
//! unique names (random-subdomain attacks) cycles through the small queue while the queries
//! that repeat stay. With a hot set of 10,000 queries asked between as many unique ones it
//! kept every hot reply, as `moka` did at a fourth of the speed, where the map this replaced,
//! emptied whenever it reached 65,536 entries, answered 82% of them.
//!
//! A signed reply is kept only until the first of its signatures is due for renewal (the
//! signer makes new ones from then on, [`crate::dnssec::SigningConfig::refresh`] before the
//! old ones expire), so a responder that serves for weeks never sends a stale signature.

use std::hash::{Hash, Hasher};

use quick_cache::{sync::Cache, Equivalent, Weighter};

use crate::{dnssec::unix_now, fallback::responder::Transport};

/// The bytes the cache may hold: keys, replies and [`ENTRY_OVERHEAD`] each.
const MAX_BYTES: u64 = 32 << 20;
/// What an entry costs beyond its key and reply bytes: the two boxes' heap headers, the
/// table slot and the queue's bookkeeping, rounded up.
const ENTRY_OVERHEAD: u64 = 96;
/// A typical entry's cost, to size the table up front.
const TYPICAL_ENTRY: u64 = 256;
/// Queries longer than this are not cached (real queries are far shorter).
const MAX_QUERY_LEN: usize = 512;

/// A stored query: its transport, then its bytes after the ID.
#[derive(PartialEq, Eq)]
struct Key {
    transport: Transport,
    query: Box<[u8]>,
}

/// A [`Key`] borrowed from the message being answered, so a lookup allocates nothing.
struct Lookup<'q> {
    transport: Transport,
    query: &'q [u8],
}

// One hash for both: the transport, then the bytes as a slice.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Lookup {
            transport: self.transport,
            query: &self.query,
        }
        .hash(state);
    }
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.transport as u8).hash(state);
        self.query.hash(state);
    }
}

impl Equivalent<Key> for Lookup<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.transport == key.transport && *self.query == *key.query
    }
}

/// A reply, and the Unix second from which it must not be sent again (`u64::MAX`: none).
#[derive(Clone)]
struct Stored {
    reply: Box<[u8]>,
    until: u64,
}

#[derive(Clone)]
struct Bytes;

impl Weighter<Key, Stored> for Bytes {
    fn weight(&self, key: &Key, stored: &Stored) -> u64 {
        (key.query.len() + stored.reply.len()) as u64 + ENTRY_OVERHEAD
    }
}

pub struct PacketCache {
    replies: Cache<Key, Stored, Bytes>,
}

// The serving threads catch a panic and go on with the same responder, so the cache must stay
// sound across one: no code of ours that could panic (the hash, the comparison, the weight)
// runs while `quick_cache` holds a shard's lock half-way through a change.
impl std::panic::RefUnwindSafe for PacketCache {}

impl Default for PacketCache {
    fn default() -> Self {
        Self::holding(MAX_BYTES)
    }
}

impl PacketCache {
    /// A cache of at most `max_bytes` (by [`Bytes`]' count).
    fn holding(max_bytes: u64) -> Self {
        Self {
            replies: Cache::with_weighter((max_bytes / TYPICAL_ENTRY) as usize, max_bytes, Bytes),
        }
    }

    /// The stored reply to `query`, with `query`'s ID, if there is one.
    pub fn get(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let stored = self.replies.get(&lookup(query, transport)?)?;
        if stored.until != u64::MAX && unix_now() >= stored.until {
            return None;
        }
        let mut reply = stored.reply.into_vec();
        reply[..2].copy_from_slice(&query[..2]);
        Some(reply)
    }

    /// Stores `reply` as the answer to `query`, to be sent until the Unix second `until` if
    /// given (then it is replaced by the next reply built).
    pub fn put(&self, query: &[u8], transport: Transport, reply: &[u8], until: Option<u64>) {
        let Some(lookup) = lookup(query, transport) else {
            return;
        };
        if reply.len() < 2 {
            return;
        }
        self.replies.insert(
            Key {
                transport,
                query: lookup.query.into(),
            },
            Stored {
                reply: reply.into(),
                until: until.unwrap_or(u64::MAX),
            },
        );
    }
}

/// The key of `query`, a message of at least a header and at most [`MAX_QUERY_LEN`] bytes.
fn lookup(query: &[u8], transport: Transport) -> Option<Lookup<'_>> {
    if query.len() < 12 || query.len() > MAX_QUERY_LEN {
        return None;
    }
    Some(Lookup {
        transport,
        query: &query[2..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u16, body: &[u8]) -> Vec<u8> {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(body);
        q
    }

    #[test]
    fn a_repeated_query_gets_the_stored_reply_with_its_own_id() {
        let cache = PacketCache::default();
        let body = [
            1u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w', b'w', 0, 0, 1, 0, 1,
        ];
        cache.put(
            &query(1, &body),
            Transport::Udp,
            &[0, 1, 0x84, 0, 9, 9],
            None,
        );
        assert_eq!(
            cache.get(&query(0xABCD, &body), Transport::Udp),
            Some(vec![0xAB, 0xCD, 0x84, 0, 9, 9])
        );
        assert_eq!(
            cache.get(&query(1, &body), Transport::Tcp),
            None,
            "per transport"
        );
        let mut other = body;
        other[11] = b'W';
        assert_eq!(
            cache.get(&query(1, &other), Transport::Udp),
            None,
            "case-sensitive"
        );
    }

    #[test]
    fn signed_replies_are_dropped_when_their_signatures_are_due_for_renewal() {
        let cache = PacketCache::default();
        let body = [1u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
        let now = unix_now();
        cache.put(&query(1, &body), Transport::Udp, &[0, 1, 7], Some(now + 60));
        assert_eq!(
            cache.get(&query(2, &body), Transport::Udp),
            Some(vec![0, 2, 7])
        );
        cache.put(&query(1, &body), Transport::Udp, &[0, 1, 8], Some(now));
        assert_eq!(cache.get(&query(2, &body), Transport::Udp), None);
    }

    /// A query for the name of one label, `n` in four bytes.
    fn numbered(id: u16, n: u32) -> Vec<u8> {
        let mut body = vec![1u8, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4];
        body.extend_from_slice(&n.to_be_bytes());
        body.extend_from_slice(&[0, 0, 1, 0, 1]);
        query(id, &body)
    }

    #[test]
    fn a_flood_of_unique_queries_leaves_the_repeated_ones_stored_and_the_size_bounded() {
        // Small, so the flood is quick; more unique queries than the 65,536 entries at which
        // the map this replaced emptied itself.
        const HOLDS: u64 = 1 << 20;
        const HOT: u32 = 1_000;
        const FLOOD: u32 = 100_000;
        let cache = PacketCache::holding(HOLDS);
        let reply = [0u8; 200];
        for n in 0..HOT {
            cache.put(&numbered(0, n), Transport::Udp, &reply, None);
        }
        // Each hot query asked again between the unique ones, as a resolver's users would.
        let mut missed = 0;
        for i in 0..FLOOD {
            cache.put(&numbered(0, HOT + i), Transport::Udp, &reply, None);
            if cache.get(&numbered(7, i % HOT), Transport::Udp).is_none() {
                missed += 1;
            }
        }
        assert_eq!(missed, 0, "hot queries missed during a flood of {FLOOD}");
        assert!(
            cache.replies.weight() <= HOLDS,
            "{} bytes held",
            cache.replies.weight()
        );
    }

    #[test]
    fn odd_sizes_are_not_stored() {
        let cache = PacketCache::default();
        cache.put(&[0; 5], Transport::Udp, &[0, 0, 1], None);
        cache.put(&[0; 600], Transport::Udp, &[0, 0, 1], None);
        cache.put(&[0; 12], Transport::Udp, &[0], None);
        assert_eq!(cache.replies.len(), 0);
        assert_eq!(cache.get(&[0; 5], Transport::Udp), None);
        assert_eq!(cache.get(&[0; 600], Transport::Udp), None);
    }
}
