//! Replies the general path built, kept by the exact bytes of the query after its ID: the reply
//! is a function of those bytes, the transport and the zones alone, so a repeated query gets the
//! stored reply with its own ID. Lives inside a [`crate::fallback::responder::Responder`], so new zones
//! (a reload, an ALIAS change) start with an empty cache.
//!
//! The key is case-sensitive, as the reply echoes the question's exact case; resolvers that
//! randomise case (0x20) simply hit less. When full it is emptied rather than managed entry by
//! entry: a flood of unique names (random-subdomain attacks) then costs an insert and, now and
//! then, a clear, never unbounded memory.
//!
//! A signed reply is kept only until the first of its signatures is due for renewal (the
//! signer makes new ones from then on, [`crate::dnssec::SigningConfig::refresh`] before the
//! old ones expire), so a responder that serves for weeks never sends a stale signature.

use std::{collections::HashMap, sync::Mutex};

use crate::{dnssec::unix_now, fallback::responder::Transport};

/// Entries before the cache is emptied (~100 bytes of key and ~100–500 of reply each).
const MAX_ENTRIES: usize = 65_536;
/// Queries longer than this are not cached (real queries are far shorter).
const MAX_QUERY_LEN: usize = 512;

/// Query (transport, then bytes after the ID) → reply, and the Unix second from which it
/// must not be sent again (`u64::MAX`: none).
type Replies = HashMap<Box<[u8]>, (Box<[u8]>, u64)>;

#[derive(Default)]
pub struct PacketCache {
    replies: Mutex<Replies>,
}

impl PacketCache {
    /// The stored reply to `query`, with `query`'s ID, if there is one.
    pub fn get(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let key = key(query, transport)?;
        let replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        let (stored, until) = replies.get(key.as_slice())?;
        if *until != u64::MAX && unix_now() >= *until {
            return None;
        }
        let mut reply = stored.to_vec();
        reply[..2].copy_from_slice(&query[..2]);
        Some(reply)
    }

    /// Stores `reply` as the answer to `query`, to be sent until the Unix second `until` if
    /// given (then it is replaced by the next reply built).
    pub fn put(&self, query: &[u8], transport: Transport, reply: &[u8], until: Option<u64>) {
        let Some(key) = key(query, transport) else {
            return;
        };
        if reply.len() < 2 {
            return;
        }
        let mut replies = self.replies.lock().unwrap_or_else(|e| e.into_inner());
        if replies.len() >= MAX_ENTRIES {
            replies.clear();
        }
        replies.insert(key.into(), (reply.into(), until.unwrap_or(u64::MAX)));
    }
}

/// The transport, then the query without its ID.
fn key(query: &[u8], transport: Transport) -> Option<Vec<u8>> {
    if query.len() < 12 || query.len() > MAX_QUERY_LEN {
        return None;
    }
    let mut key = Vec::with_capacity(query.len() - 1);
    key.push(match transport {
        Transport::Udp => 0,
        Transport::Tcp => 1,
    });
    key.extend_from_slice(&query[2..]);
    Some(key)
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

    #[test]
    fn it_empties_itself_when_full_and_skips_odd_sizes() {
        let cache = PacketCache::default();
        for i in 0..=MAX_ENTRIES as u32 {
            let mut body = vec![0u8; 10];
            body.extend_from_slice(&i.to_be_bytes());
            cache.put(&query(0, &body), Transport::Udp, &[0, 0, 1], None);
        }
        assert_eq!(cache.replies.lock().unwrap().len(), 1);
        cache.put(&[0; 5], Transport::Udp, &[0, 0, 1], None);
        cache.put(&[0; 600], Transport::Udp, &[0, 0, 1], None);
        assert_eq!(cache.replies.lock().unwrap().len(), 1);
    }
}
