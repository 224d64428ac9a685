//! The TCP connections the fallback server holds, and which one makes room for a new one.
//!
//! Slow clients hold connections that cost nothing to keep open on their side. The rules, so
//! that they cannot shut out anyone else:
//! - A source (an IPv4 address, an IPv6 /64) has at most `max_connections_per_source`. Its
//!   next connection closes its own oldest idle one; with none idle, the new one is refused.
//! - At `max_connections` in all, a new connection closes the oldest idle connection; with none
//!   idle, the one whose query or reply has waited longest (it is stuck: a client that reads
//!   and writes finishes in a round trip). Refusing the newcomer instead would let whoever
//!   came first keep every slot for as long as its timeouts allow, and come back.
//! - While more than half of `max_connections` are open, the idle timeout is
//!   `idle_timeout_under_pressure` (NSD gives new connections 200 ms then; here it applies to
//!   every idle connection, those opened before the pressure too, through [`Table::sweep`]).
//!
//! A connection is idle while it waits for the first byte of a query, and busy from that byte
//! until its reply is written. A new one counts as busy until its server first waits for a
//! query: its query may already be in, and a server slow to get to it (an attack churning
//! connections costs CPU) must not make it look idle and sweep it. The table only decides; the
//! server closes what it is told to.

use std::{
    collections::{BTreeSet, HashMap},
    net::IpAddr,
    time::{Duration, Instant},
};

use crate::config::tcp::TcpLimits;

/// Numbers connections in the order they were admitted.
pub type ConnectionId = u64;

/// The unit of the per-source limit: an IPv4 address, or the /64 of an IPv6 address (one
/// host's or one LAN's, as an ISP hands them out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source([u8; 16]);

impl Source {
    pub fn of(address: IpAddr) -> Self {
        let mut key = [0u8; 16];
        match address {
            IpAddr::V4(v4) => key[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => key[..4].copy_from_slice(&v4.octets()),
                None => {
                    key[..8].copy_from_slice(&v6.octets()[..8]);
                    key[15] = 6;
                }
            },
        }
        Self(key)
    }
}

/// Why a connection was closed to make room for a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evicted {
    Idle,
    /// Its query or reply had waited longest.
    Stuck,
}

/// A connection the table let go of: `handle` is what its server closes it through.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed<T> {
    pub id: ConnectionId,
    pub handle: T,
}

/// A new connection not admitted: its source has its limit open, none of them idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Busy,
}

struct Entry<T> {
    source: Source,
    state: State,
    /// When it became idle or busy.
    since: Instant,
    handle: T,
}

/// The connections open, each with a handle of type `T` to close it by.
pub struct Table<T> {
    limits: TcpLimits,
    next_id: ConnectionId,
    entries: HashMap<ConnectionId, Entry<T>>,
    /// (since, id) of the idle connections, oldest first.
    idle: BTreeSet<(Instant, ConnectionId)>,
    /// (since, id) of the busy ones.
    busy: BTreeSet<(Instant, ConnectionId)>,
    /// Each source's connections; at most `max_connections_per_source` long.
    sources: HashMap<Source, Vec<ConnectionId>>,
}

impl<T> Table<T> {
    pub fn new(limits: TcpLimits) -> Self {
        Self {
            limits,
            next_id: 0,
            entries: HashMap::new(),
            idle: BTreeSet::new(),
            busy: BTreeSet::new(),
            sources: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the idle timeout is the short one.
    pub fn under_pressure(&self) -> bool {
        self.entries.len() > self.limits.max_connections / 2
    }

    /// How long a connection that goes idle now may stay so.
    pub fn idle_timeout(&self) -> Duration {
        if self.under_pressure() {
            self.limits.idle_timeout_under_pressure
        } else {
            self.limits.idle_timeout
        }
    }

    /// Admits a connection from `source`, busy from `now`; returns its id and the connection
    /// closed to make room for it, if one was.
    #[allow(clippy::type_complexity)]
    pub fn admit(
        &mut self,
        source: Source,
        now: Instant,
        handle: T,
    ) -> Result<(ConnectionId, Option<(Closed<T>, Evicted)>), Refused> {
        let from_source = self.sources.get(&source).map_or(0, Vec::len);
        let victim = if from_source >= self.limits.max_connections_per_source {
            let oldest_idle = self.sources[&source]
                .iter()
                .map(|id| (id, &self.entries[id]))
                .filter(|(_, entry)| entry.state == State::Idle)
                .min_by_key(|(id, entry)| (entry.since, **id))
                .map(|(id, _)| *id);
            Some((oldest_idle.ok_or(Refused)?, Evicted::Idle))
        } else if self.entries.len() >= self.limits.max_connections {
            // Every connection is idle or busy, so a full table always has one of either.
            let oldest = |set: &BTreeSet<(Instant, ConnectionId)>| set.first().map(|&(_, id)| id);
            oldest(&self.idle)
                .map(|id| (id, Evicted::Idle))
                .or_else(|| oldest(&self.busy).map(|id| (id, Evicted::Stuck)))
        } else {
            None
        };
        let closed = victim.and_then(|(id, why)| Some((self.remove(id)?, why)));
        let id = self.next_id;
        self.next_id += 1;
        self.entries.insert(
            id,
            Entry {
                source,
                state: State::Busy,
                since: now,
                handle,
            },
        );
        self.busy.insert((now, id));
        self.sources.entry(source).or_default().push(id);
        Ok((id, closed))
    }

    /// The connection waits for its next query from `now`.
    pub fn idle(&mut self, id: ConnectionId, now: Instant) {
        self.set(id, State::Idle, now);
    }

    /// The connection has the first byte of a query from `now`, and is busy until its reply
    /// is written.
    pub fn busy(&mut self, id: ConnectionId, now: Instant) {
        self.set(id, State::Busy, now);
    }

    fn set(&mut self, id: ConnectionId, state: State, now: Instant) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        match entry.state {
            State::Idle => self.idle.remove(&(entry.since, id)),
            State::Busy => self.busy.remove(&(entry.since, id)),
        };
        match state {
            State::Idle => self.idle.insert((now, id)),
            State::Busy => self.busy.insert((now, id)),
        };
        entry.state = state;
        entry.since = now;
    }

    /// Removes a connection that ended; its handle if it was still in the table (it was not
    /// closed to make room, or swept).
    pub fn remove(&mut self, id: ConnectionId) -> Option<Closed<T>> {
        let entry = self.entries.remove(&id)?;
        match entry.state {
            State::Idle => self.idle.remove(&(entry.since, id)),
            State::Busy => self.busy.remove(&(entry.since, id)),
        };
        if let Some(ids) = self.sources.get_mut(&entry.source) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.sources.remove(&entry.source);
            }
        }
        Some(Closed {
            id,
            handle: entry.handle,
        })
    }

    /// Under pressure, removes and returns the connections idle for longer than
    /// `idle_timeout_under_pressure` at `now`, oldest first; nothing otherwise.
    pub fn sweep(&mut self, now: Instant) -> Vec<Closed<T>> {
        let mut swept = Vec::new();
        while self.under_pressure() {
            let Some(&(since, id)) = self.idle.first() else {
                break;
            };
            if now.saturating_duration_since(since) < self.limits.idle_timeout_under_pressure {
                break;
            }
            swept.extend(self.remove(id));
        }
        swept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_source: usize) -> TcpLimits {
        TcpLimits {
            max_connections: max,
            max_connections_per_source: per_source,
            idle_timeout: Duration::from_secs(10),
            idle_timeout_under_pressure: Duration::from_millis(200),
            ..TcpLimits::default()
        }
    }

    fn source(last: u8) -> Source {
        Source::of(IpAddr::from([192, 0, 2, last]))
    }

    fn ms(start: Instant, n: u64) -> Instant {
        start + Duration::from_millis(n)
    }

    #[test]
    fn ipv6_sources_are_their_64_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Source::of(a), Source::of(b));
        assert_ne!(Source::of(a), Source::of(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(Source::of(mapped), source(7));
        assert_ne!(
            Source::of("::c000:207".parse().unwrap()),
            source(7),
            "an IPv6 address whose low bits spell an IPv4 one is not that source"
        );
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room() {
        let t0 = Instant::now();
        let mut table = Table::new(limits(3, 3));
        let (a, _) = table.admit(source(1), t0, "a").unwrap();
        let (b, _) = table.admit(source(2), ms(t0, 1), "b").unwrap();
        let (c, _) = table.admit(source(3), ms(t0, 2), "c").unwrap();
        for (id, at) in [(a, 0), (b, 1), (c, 2)] {
            table.idle(id, ms(t0, at));
        }
        // a answers a query and goes idle again: now b has been idle longest.
        table.busy(a, ms(t0, 3));
        table.idle(a, ms(t0, 4));
        let (d, closed) = table.admit(source(4), ms(t0, 5), "d").unwrap();
        table.idle(d, ms(t0, 5));
        assert_eq!(closed, Some((Closed { id: b, handle: "b" }, Evicted::Idle)));
        let (_, closed) = table.admit(source(5), ms(t0, 6), "e").unwrap();
        assert_eq!(closed, Some((Closed { id: c, handle: "c" }, Evicted::Idle)));
        assert_eq!(table.len(), 3);
        // Closed to make room, so its own end finds nothing to remove.
        assert_eq!(table.remove(b), None);
    }

    #[test]
    fn with_none_idle_the_longest_stuck_goes() {
        let t0 = Instant::now();
        let mut table = Table::new(limits(2, 2));
        let (a, _) = table.admit(source(1), t0, 'a').unwrap();
        let (b, _) = table.admit(source(2), t0, 'b').unwrap();
        table.busy(b, ms(t0, 1));
        table.busy(a, ms(t0, 2));
        let (c, closed) = table.admit(source(3), ms(t0, 3), 'c').unwrap();
        assert_eq!(
            closed,
            Some((Closed { id: b, handle: 'b' }, Evicted::Stuck))
        );
        // Once it waits for a query, the newcomer goes before any busy connection.
        table.idle(c, ms(t0, 3));
        let (_, closed) = table.admit(source(4), ms(t0, 4), 'd').unwrap();
        assert_eq!(closed, Some((Closed { id: c, handle: 'c' }, Evicted::Idle)));
    }

    #[test]
    fn a_source_at_its_limit_gives_up_its_own_oldest_idle_connection_else_is_refused() {
        let t0 = Instant::now();
        let mut table = Table::new(limits(100, 2));
        let (other, _) = table.admit(source(9), t0, 0).unwrap();
        table.idle(other, t0);
        let (a, _) = table.admit(source(1), ms(t0, 1), 1).unwrap();
        table.idle(a, ms(t0, 1));
        let (b, _) = table.admit(source(1), ms(t0, 2), 2).unwrap();
        table.idle(b, ms(t0, 2));
        let (c, closed) = table.admit(source(1), ms(t0, 3), 3).unwrap();
        assert_eq!(
            closed,
            Some((Closed { id: a, handle: 1 }, Evicted::Idle)),
            "its own oldest, not the older connection of another source"
        );
        table.busy(b, ms(t0, 4));
        table.busy(c, ms(t0, 4));
        assert_eq!(table.admit(source(1), ms(t0, 5), 4), Err(Refused));
        assert!(table.admit(source(2), ms(t0, 5), 5).is_ok());
        // Once one of them ends, the source may open another.
        assert!(table.remove(b).is_some());
        assert!(table.admit(source(1), ms(t0, 6), 6).is_ok());
        assert!(table.remove(other).is_some());
    }

    #[test]
    fn a_new_connection_is_not_idle_until_its_server_waits_for_a_query() {
        let t0 = Instant::now();
        let mut table = Table::new(limits(2, 2));
        let (a, _) = table.admit(source(1), t0, 'a').unwrap();
        let (b, _) = table.admit(source(2), t0, 'b').unwrap();
        table.idle(b, t0);
        assert!(table
            .sweep(ms(t0, 1000))
            .iter()
            .all(|closed| closed.id != a));
        let (_, closed) = table.admit(source(3), ms(t0, 1000), 'c').unwrap();
        assert_ne!(closed.map(|(closed, _)| closed.id), Some(a));
    }

    #[test]
    fn above_half_the_cap_idle_connections_get_the_short_timeout_old_ones_too() {
        let t0 = Instant::now();
        let mut table = Table::new(limits(4, 4));
        let (a, _) = table.admit(source(1), t0, 'a').unwrap();
        table.idle(a, t0);
        let (b, _) = table.admit(source(2), ms(t0, 100), 'b').unwrap();
        table.idle(b, ms(t0, 100));
        assert!(!table.under_pressure());
        assert_eq!(table.idle_timeout(), Duration::from_secs(10));
        assert!(
            table.sweep(ms(t0, 5000)).is_empty(),
            "no pressure, no sweep"
        );
        let (c, _) = table.admit(source(3), ms(t0, 5000), 'c').unwrap();
        table.idle(c, ms(t0, 5000));
        assert!(table.under_pressure());
        assert_eq!(table.idle_timeout(), Duration::from_millis(200));
        table.busy(b, ms(t0, 5000));
        // a has been idle 5 s, c not yet 200 ms, b is busy: a goes, and with it the pressure.
        let swept = table.sweep(ms(t0, 5100));
        assert_eq!(swept, vec![Closed { id: a, handle: 'a' }]);
        assert!(!table.under_pressure());
        assert!(table.sweep(ms(t0, 9000)).is_empty());
        assert_eq!(table.len(), 2);
        assert!(table.remove(c).is_some() && table.remove(b).is_some());
        assert!(table.is_empty());
    }
}
