//! One TCP connection of the fallback server: length-prefixed queries (RFC 1035 §4.2.2)
//! answered in order, each wait bounded (idle: the table's idle timeout; a query once its first
//! byte is in, a reply: the I/O timeout), closed at once when the
//! [table](crate::fallback::connections) gives its room to a newcomer.
//!
//! At `tcp_max_queries_per_connection` the connection is not dropped with queries in its
//! buffers: dropping a socket with unread data makes Linux send RST, which also throws away
//! replies not yet acknowledged (today's 1,000 answers then a reset, of 1,500 pipelined
//! queries). Every query already received is answered (RFC 7766 §6.2.1: what was asked before
//! the close), then a FIN follows the last reply, and what the client still sends is read and
//! dropped until it closes its end; the client sends what it has left on a new connection.

use std::{
    io,
    net::IpAddr,
    os::fd::AsRawFd,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpStream,
    },
    sync::{Notify, Semaphore, SemaphorePermit},
};

use crate::{
    config::tcp::TcpLimits,
    fallback::{
        connections::{ConnectionId, Evicted, Source, Table},
        query_stats::{QueryStats, TcpClose},
    },
};

/// How often idle connections are checked against the short idle timeout under pressure.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// Pipelined queries answered at once, across all connections. A query that arrives on a
/// connection waiting for it is answered at once; one queued behind another on its connection
/// waits for a turn. Clients that pipeline without end (and never read) then queue among
/// themselves, and a new client's query waits for a few answers, not for one to each of them:
/// 600 such clients made it wait 260 ms (median; 570 ms at most) in the debug build with a
/// yield after each query, which queues the waiting query behind all of them.
const PIPELINED_AT_ONCE: usize = 4;

/// What a connection reads into at once: a few pipelined queries. Queries are read into a
/// buffer that grows only as their bytes arrive, so a length prefix of 65535 costs nothing
/// until the client sends that much.
const READ_BUFFER: usize = 4096;

/// Admits the fallback's TCP connections: the table that decides, and the counters.
pub struct Limiter {
    table: Mutex<Table<Arc<Notify>>>,
    limits: TcpLimits,
    stats: Arc<QueryStats>,
    /// Turns for pipelined queries, [`PIPELINED_AT_ONCE`] of them; tokio's semaphore serves
    /// waiters in order, so the pipelining connections take turns.
    pipelined: Semaphore,
}

/// An admitted connection's place in the table; dropping it gives the place up.
pub struct Admitted {
    id: ConnectionId,
    /// Notified when the table closes the connection to make room or sweeps it.
    close: Arc<Notify>,
    limiter: Arc<Limiter>,
}

impl Limiter {
    pub fn new(limits: TcpLimits, stats: Arc<QueryStats>) -> Self {
        Self {
            table: Mutex::new(Table::new(limits)),
            limits,
            stats,
            pipelined: Semaphore::new(PIPELINED_AT_ONCE),
        }
    }

    /// The table; every change to it is one step, so a panic elsewhere leaves it whole.
    fn table(&self) -> MutexGuard<'_, Table<Arc<Notify>>> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `peer`, closing the one that makes room for it if the table is
    /// full; None (counted) if its source has its limit open, none idle.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admitted> {
        let close = Arc::new(Notify::new());
        let mut table = self.table();
        let admitted = table.admit(Source::of(peer), Instant::now(), close.clone());
        self.stats.set_tcp_open(table.len());
        drop(table);
        self.stats.tcp_accepted(admitted.is_err());
        let (id, victim) = admitted.ok()?;
        if let Some((closed, why)) = victim {
            // A permit is stored if its task is between waits: the next wait ends at once.
            closed.handle.notify_one();
            self.stats.tcp_closed(match why {
                Evicted::Idle => TcpClose::EvictedIdle,
                Evicted::Stuck => TcpClose::EvictedStuck,
            });
        }
        Some(Admitted {
            id,
            close,
            limiter: self.clone(),
        })
    }

    /// Closes the connections idle longer than the short idle timeout, if under pressure.
    pub fn sweep(&self) {
        let mut table = self.table();
        let swept = table.sweep(Instant::now());
        self.stats.set_tcp_open(table.len());
        drop(table);
        for closed in swept {
            closed.handle.notify_one();
            self.stats.tcp_closed(TcpClose::IdleTimeout);
        }
    }
}

impl Admitted {
    /// Marks the connection idle; returns how long it may stay so.
    fn idle(&self) -> Duration {
        let mut table = self.limiter.table();
        table.idle(self.id, Instant::now());
        table.idle_timeout()
    }

    fn busy(&self) {
        self.limiter.table().busy(self.id, Instant::now());
    }

    /// Ends the connection for `why`, counted unless the table had already closed it.
    fn closed(&self, why: TcpClose) {
        let mut table = self.limiter.table();
        let was_open = table.remove(self.id).is_some();
        self.limiter.stats.set_tcp_open(table.len());
        drop(table);
        if was_open {
            self.limiter.stats.tcp_closed(why);
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut table = self.limiter.table();
        table.remove(self.id);
        self.limiter.stats.set_tcp_open(table.len());
    }
}

/// How a bounded wait ended.
enum Bounded<T> {
    Done(T),
    TimedOut,
    /// The table closed the connection.
    Closed,
}

async fn bounded<F: std::future::Future>(
    deadline: Instant,
    close: &Notify,
    future: F,
) -> Bounded<F::Output> {
    tokio::select! {
        out = future => Bounded::Done(out),
        _ = tokio::time::sleep_until(deadline.into()) => Bounded::TimedOut,
        _ = close.notified() => Bounded::Closed,
    }
}

/// Answers the queries on `stream` with `answer` until the client closes, a timeout or the
/// table closes it, or a message is not to be answered (`answer` returns None).
pub async fn serve(
    stream: TcpStream,
    connection: Admitted,
    answer: impl Fn(&[u8]) -> Option<Vec<u8>>,
) -> io::Result<()> {
    let limits = connection.limiter.limits;
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::with_capacity(READ_BUFFER, reader);
    let mut query = Vec::new();
    let mut answered = 0u64;
    loop {
        if limits
            .max_queries_per_connection
            .is_some_and(|max| answered >= max)
        {
            return finish(reader, writer, &connection, &answer, &mut query).await;
        }
        let turn = if reader.buffer().is_empty() {
            let idle_for = connection.idle();
            let more = tokio::select! {
                read = reader.fill_buf() => !read?.is_empty(),
                _ = tokio::time::sleep(idle_for) => {
                    connection.closed(TcpClose::IdleTimeout);
                    return Ok(());
                }
                _ = connection.close.notified() => return Ok(()),
            };
            if !more {
                return Ok(());
            }
            None
        } else {
            tokio::select! {
                // The semaphore is never closed.
                turn = connection.limiter.pipelined.acquire() => turn.ok(),
                _ = connection.close.notified() => return Ok(()),
            }
        };
        match exchange(
            &mut reader,
            &mut writer,
            &connection,
            turn,
            &answer,
            &mut query,
        )
        .await?
        {
            Exchange::Answered(_) => answered += 1,
            Exchange::Ended => return Ok(()),
        }
    }
}

enum Exchange {
    /// The bytes the query took, its length prefix included.
    Answered(usize),
    /// The connection is to be closed: a timeout, the table, or a message not answered.
    Ended,
}

/// Reads one query whose first byte is in, answers it and writes the reply, each within the
/// I/O timeout. A pipelined query's `turn` is given back before the reply is written: a client
/// that does not read must not hold it while its write waits.
async fn exchange(
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
    connection: &Admitted,
    turn: Option<SemaphorePermit<'_>>,
    answer: &impl Fn(&[u8]) -> Option<Vec<u8>>,
    query: &mut Vec<u8>,
) -> io::Result<Exchange> {
    let io_timeout = connection.limiter.limits.io_timeout;
    connection.busy();
    let deadline = Instant::now() + io_timeout;
    match bounded(deadline, &connection.close, read_message(reader, query)).await {
        Bounded::Done(read) => read?,
        Bounded::TimedOut => {
            connection.closed(TcpClose::ReadTimeout);
            return Ok(Exchange::Ended);
        }
        Bounded::Closed => return Ok(Exchange::Ended),
    }
    let Some(reply) = answer(query) else {
        return Ok(Exchange::Ended);
    };
    drop(turn);
    let read = 2 + query.len();
    query.clear();
    query.shrink_to(READ_BUFFER);
    let mut framed = Vec::with_capacity(reply.len() + 2);
    framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
    framed.extend_from_slice(&reply);
    let deadline = Instant::now() + io_timeout;
    match bounded(deadline, &connection.close, writer.write_all(&framed)).await {
        Bounded::Done(written) => written?,
        Bounded::TimedOut => {
            connection.closed(TcpClose::WriteTimeout);
            return Ok(Exchange::Ended);
        }
        Bounded::Closed => return Ok(Exchange::Ended),
    }
    Ok(Exchange::Answered(read))
}

/// One length-prefixed message into `query`.
async fn read_message(
    reader: &mut BufReader<OwnedReadHalf>,
    query: &mut Vec<u8>,
) -> io::Result<()> {
    let len = usize::from(reader.read_u16().await?);
    query.clear();
    (&mut *reader).take(len as u64).read_to_end(query).await?;
    if query.len() < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// At the query limit: answers every query received so far, sends FIN after the last reply,
/// then reads and drops what comes until the client closes or the I/O timeout passes.
async fn finish(
    mut reader: BufReader<OwnedReadHalf>,
    mut writer: OwnedWriteHalf,
    connection: &Admitted,
    answer: &impl Fn(&[u8]) -> Option<Vec<u8>>,
    query: &mut Vec<u8>,
) -> io::Result<()> {
    // What had arrived at the limit, and no more: a client that goes on pipelining must not
    // keep the connection for ever. A query whose first bytes are in is read whole.
    let mut received = reader.buffer().len() + unread(reader.get_ref().as_ref());
    while received > 0 {
        match exchange(&mut reader, &mut writer, connection, None, answer, query).await? {
            Exchange::Answered(read) => received = received.saturating_sub(read),
            Exchange::Ended => return Ok(()),
        }
    }
    writer.shutdown().await?;
    let deadline = Instant::now() + connection.limiter.limits.io_timeout;
    let mut sink = [0u8; READ_BUFFER];
    while let Bounded::Done(Ok(1..)) =
        bounded(deadline, &connection.close, reader.read(&mut sink)).await
    {}
    connection.closed(TcpClose::QueryLimit);
    Ok(())
}

/// Bytes the socket has received that nobody has read yet.
fn unread(stream: &TcpStream) -> usize {
    let mut bytes: libc::c_int = 0;
    // SAFETY: FIONREAD on a socket writes one int: the bytes in its receive queue.
    let status = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut bytes) };
    if status == 0 {
        usize::try_from(bytes).unwrap_or(0)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn limits() -> TcpLimits {
        TcpLimits {
            io_timeout: Duration::from_millis(200),
            ..TcpLimits::default()
        }
    }

    fn framed(query: &[u8]) -> Vec<u8> {
        let mut out = (query.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(query);
        out
    }

    /// A connected (client, server side) pair on loopback.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    fn limiter(limits: TcpLimits) -> (Arc<Limiter>, Arc<QueryStats>) {
        let stats = Arc::new(QueryStats::default());
        (Arc::new(Limiter::new(limits, stats.clone())), stats)
    }

    fn closed(stats: &QueryStats, reason: &str) -> u64 {
        stats
            .tcp_closed_counts()
            .into_iter()
            .find(|(name, _)| *name == reason)
            .unwrap()
            .1
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn a_client_that_never_reads_is_closed_by_the_write_timeout() {
        let (limiter, stats) = limiter(limits());
        let (mut client, server) = pair().await;
        let admitted = limiter.admit(LOCAL).unwrap();
        // Large replies fill the socket buffers after a few hundred queries.
        let serving = tokio::spawn(serve(server, admitted, |_| Some(vec![0u8; 16_000])));
        let burst: Vec<u8> = (0..100).flat_map(|_| framed(b"query")).collect();
        let pipelining = async { while client.write_all(&burst).await.is_ok() {} };
        tokio::select! {
            _ = pipelining => {}
            served = serving => served.unwrap().unwrap(),
        }
        assert_eq!(closed(&stats, "write_timeout"), 1);
        assert_eq!(stats.tcp_connections().2, 0);
    }

    #[tokio::test]
    async fn a_query_that_stops_half_way_is_closed_by_the_read_timeout() {
        let (limiter, stats) = limiter(limits());
        let (mut client, server) = pair().await;
        client.write_all(&[0]).await.unwrap();
        let started = Instant::now();
        serve(server, limiter.admit(LOCAL).unwrap(), |_| {
            Some(vec![0u8; 12])
        })
        .await
        .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert_eq!(closed(&stats, "read_timeout"), 1);
        assert_eq!(client.read(&mut [0u8; 1]).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn at_the_query_limit_every_query_received_is_answered_then_a_fin() {
        let (limiter, stats) = limiter(TcpLimits {
            max_queries_per_connection: Some(10),
            ..limits()
        });
        let (mut client, server) = pair().await;
        let queries: Vec<u8> = (0u8..25).flat_map(|n| framed(&[n; 12])).collect();
        client.write_all(&queries).await.unwrap();
        let serving = tokio::spawn(serve(server, limiter.admit(LOCAL).unwrap(), |q| {
            Some(q.to_vec())
        }));
        for n in 0u8..25 {
            let len = client.read_u16().await.unwrap();
            let mut reply = vec![0u8; usize::from(len)];
            client.read_exact(&mut reply).await.unwrap();
            assert_eq!(reply, [n; 12]);
        }
        assert_eq!(client.read(&mut [0u8; 1]).await.unwrap(), 0, "a FIN");
        drop(client);
        serving.await.unwrap().unwrap();
        assert_eq!(closed(&stats, "query_limit"), 1);
    }

    #[tokio::test]
    async fn at_the_cap_an_idle_connection_makes_room_at_once() {
        let (limiter, stats) = limiter(TcpLimits {
            max_connections: 1,
            ..limits()
        });
        let (mut client, server) = pair().await;
        let serving = tokio::spawn(serve(server, limiter.admit(LOCAL).unwrap(), |q| {
            Some(q.to_vec())
        }));
        client.write_all(&framed(b"one")).await.unwrap();
        assert_eq!(client.read_u16().await.unwrap(), 3);
        client.read_exact(&mut [0u8; 3]).await.unwrap();
        let newcomer = limiter.admit(LOCAL).unwrap();
        tokio::time::timeout(Duration::from_secs(1), serving)
            .await
            .expect("the idle connection closed at once")
            .unwrap()
            .unwrap();
        assert_eq!(client.read(&mut [0u8; 1]).await.unwrap(), 0);
        assert_eq!(closed(&stats, "evicted_idle"), 1);
        assert_eq!(stats.tcp_connections(), (2, 0, 1));
        drop(newcomer);
        assert_eq!(stats.tcp_connections().2, 0);
    }
}
