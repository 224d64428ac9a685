//! The fallback server: UDP and TCP listeners that answer everything the fast path passes up,
//! with the same [`Responder`] the fast path's answers are checked against.
//!
//! Nothing that goes wrong while serving is silent, and nothing short of the process dying
//! stops a socket from being served:
//! - a panic while answering a query costs that query, which is answered SERVFAIL; the panic is
//!   logged (error, with the question and the client) and counted, and the socket serves on
//!   ([`guard`] says why this rather than `panic = "abort"`);
//! - a UDP serving thread or TCP accept loop that ends anyway is logged and restarted by
//!   [`Listeners::serve`], which supervises them; a TCP connection task that panics is logged;
//! - receive, send and accept errors that would recur at once back off ([`Backoff`]) instead
//!   of looping hot;
//! - malformed queries, panics and socket errors are counted for the metrics, and logged at
//!   most every [`PERIOD`] per kind with a count ([`log_limit`](crate::fallback::log_limit));
//! - UDP queries from port 0 and from the ports of services that answer anything (echo,
//!   daytime, chargen, time: a loop between two servers, CVE-1999-0103) are dropped unanswered
//!   and counted; the fast path passes the same up, by the same definition
//!   (`dns_xdp_common::ports`).

use std::{
    collections::HashMap,
    convert::Infallible,
    io,
    net::SocketAddr,
    sync::{Arc, PoisonError, RwLock},
    thread,
    time::{Duration, Instant},
};

use dns_xdp_common::ports::is_reflection_port;
use tokio::{net::TcpListener, sync::mpsc, task::JoinSet, time::MissedTickBehavior};

use crate::{
    config::tcp::TcpLimits,
    fallback::{
        guard,
        log_limit::{Line, LogLimiter, PERIOD},
        query_stats::{Dropped, Malformed, QueryStats, SocketOp},
        responder::{Responder, Transport},
        tcp::{self, Limiter, SWEEP_INTERVAL},
        test_hook,
        udp::{Datagrams, Received},
        wire::{self, Question, RCODE_FORMERR},
    },
};
/// How often the supervisor writes the counts the rate-limited logs hold, so that the count of
/// a burst that has stopped still reaches the log within [`PERIOD`] and this.
const LOG_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// The responder the listeners answer with, replaceable while they serve (`dns-xdp reload`).
///
/// Each query takes its own `Arc` of the current responder, so a swap is one pointer store:
/// queries already being answered finish with the old zones, every later one gets the new.
/// The lock is held only to clone or store that pointer, never while answering.
#[derive(Clone)]
pub struct SharedResponder(Arc<RwLock<Arc<Responder>>>);

impl SharedResponder {
    pub fn new(responder: Responder) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(responder))))
    }

    /// The responder to answer the next query with.
    pub fn current(&self) -> Arc<Responder> {
        // Nothing panics while holding the lock, and a poisoned pointer is still whole.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Answers every later query with `responder`; returns the one it replaces.
    pub fn replace(&self, responder: Responder) -> Arc<Responder> {
        let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, Arc::new(responder))
    }
}

/// Socket buffer for UDP: a burst the default ~200 KB would drop is queued instead (NSD asks for
/// a similar size); the benchmark's only losses were receive-buffer overflows.
const UDP_SOCKET_BUFFER: usize = 1 << 20;

/// Sockets bound and ready to serve, with their local addresses.
pub struct Listeners {
    /// Blocking sockets, each served by a thread of its own (see [`Listeners::serve`]).
    udp: Vec<(SocketAddr, Datagrams)>,
    tcp: Vec<(SocketAddr, TcpListener)>,
}

impl Listeners {
    /// Binds UDP and TCP on every address. Fails on the first address that cannot be bound.
    pub async fn bind(addrs: &[SocketAddr]) -> io::Result<Self> {
        test_hook::announce();
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for addr in addrs {
            let socket = bind_udp(*addr)
                .and_then(Datagrams::new)
                .map_err(|e| annotate(e, "UDP", addr))?;
            udp.push((socket.socket().local_addr()?, socket));
            let listener = bind_tcp(*addr).map_err(|e| annotate(e, "TCP", addr))?;
            tcp.push((listener.local_addr()?, listener));
        }
        Ok(Self { udp, tcp })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().map(|(local, _)| *local).collect()
    }

    /// Serves until the returned future is dropped (TCP) or the process exits (UDP), each query
    /// with the responder `responder` holds at the time, TCP connections within `tcp_limits`.
    /// It never returns: it supervises the serving loops, restarting any that ends, sweeps idle
    /// TCP connections under pressure and writes the rate-limited logs' counts.
    ///
    /// Each UDP socket gets a thread with a plain blocking receive-answer-send loop: answering is
    /// synchronous, and a task on the multi-threaded runtime bounced between workers on almost
    /// every datagram, which halved throughput in `cargo xtask bench fallback`.
    pub async fn serve(
        self,
        responder: SharedResponder,
        stats: Arc<QueryStats>,
        tcp_limits: TcpLimits,
    ) {
        let limit = Arc::new(Limiter::new(tcp_limits, stats.clone()));
        let serving = Arc::new(Serving::new(responder, stats));
        let (ended, mut endings) = mpsc::unbounded_channel();
        let mut udp: Vec<Supervised<Arc<Datagrams>>> = self
            .udp
            .into_iter()
            .map(|(local, socket)| Supervised::new(local, Arc::new(socket)))
            .collect();
        for (index, worker) in udp.iter_mut().enumerate() {
            worker.start_udp(index, &serving, &ended, Duration::ZERO);
        }
        let mut tcp: Vec<Supervised<Arc<TcpListener>>> = self
            .tcp
            .into_iter()
            .map(|(local, listener)| Supervised::new(local, Arc::new(listener)))
            .collect();
        let mut accepting = JoinSet::new();
        let mut accept_loops = HashMap::new();
        for (index, worker) in tcp.iter_mut().enumerate() {
            let id = worker.start_tcp(&mut accepting, &serving, &limit, Duration::ZERO);
            accept_loops.insert(id, index);
        }
        let mut flush = tokio::time::interval(LOG_FLUSH_INTERVAL);
        flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                Some((index, how)) = endings.recv() => {
                    let worker = &mut udp[index];
                    let delay = worker.ended(&serving.stats, Transport::Udp, &how);
                    worker.start_udp(index, &serving, &ended, delay);
                }
                Some(joined) = accepting.join_next_with_id() => {
                    let (id, how) = match joined {
                        Ok((id, ())) => (id, Ended::Returned),
                        Err(e) => {
                            let id = e.id();
                            match e.try_into_panic() {
                                Ok(payload) => (id, Ended::Panicked(guard::payload_text(&*payload))),
                                Err(_) => (id, Ended::Cancelled),
                            }
                        }
                    };
                    let Some(index) = accept_loops.remove(&id) else { continue };
                    let worker = &mut tcp[index];
                    let delay = worker.ended(&serving.stats, Transport::Tcp, &how);
                    let id = worker.start_tcp(&mut accepting, &serving, &limit, delay);
                    accept_loops.insert(id, index);
                }
                _ = flush.tick() => serving.flush_logs(Instant::now()),
                _ = sweep.tick() => limit.sweep(),
            }
        }
    }
}

/// How a serving loop ended.
enum Ended {
    Panicked(String),
    /// Its thread could not be started.
    NotStarted(io::Error),
    /// It returned or its task was cancelled, neither of which it should ever be.
    Returned,
    Cancelled,
}

/// A socket's serving loop (a UDP thread, a TCP accept task), as its supervisor keeps it.
struct Supervised<S> {
    local: SocketAddr,
    socket: S,
    /// When the loop was last started.
    started: Instant,
    /// Delays the restarts of a loop that keeps dying as soon as it starts.
    restarts: Backoff,
}

impl<S> Supervised<S> {
    fn new(local: SocketAddr, socket: S) -> Self {
        Self {
            local,
            socket,
            started: Instant::now(),
            restarts: Backoff::new(),
        }
    }

    /// Logs and counts the end of the loop; returns how long to wait before restarting it: 1 ms
    /// after a loop that served for a second or more, doubling up to 1 s for one that keeps
    /// dying sooner.
    fn ended(&mut self, stats: &QueryStats, transport: Transport, how: &Ended) -> Duration {
        if self.started.elapsed() >= Backoff::MAX {
            self.restarts.succeeded();
        }
        let delay = self.restarts.failed();
        let (what, start) = match transport {
            Transport::Udp => ("UDP server thread", "starting a new one"),
            Transport::Tcp => ("TCP accept loop", "restarting it"),
        };
        const BUG: &str = "; this is a bug in dns-xdp: please report it with this line";
        // The panic message last: with RUST_BACKTRACE set, a backtrace follows it.
        let (how, bug, why) = match how {
            Ended::Panicked(message) => {
                stats.panicked(transport);
                ("panicked", BUG, message.clone())
            }
            Ended::NotStarted(e) => ("could not start", "", e.to_string()),
            Ended::Returned => ("returned", BUG, "it never should".to_string()),
            Ended::Cancelled => ("was cancelled", BUG, "it never should be".to_string()),
        };
        stats.restarted(transport);
        log::error!(
            "the {what} for {} {how} ({start} in {delay:?}{bug}): {why}",
            self.local
        );
        delay
    }
}

impl Supervised<Arc<Datagrams>> {
    /// Starts a thread that waits `delay`, then serves the socket until it panics, and then
    /// tells the supervisor through `ended`.
    fn start_udp(
        &mut self,
        index: usize,
        serving: &Arc<Serving>,
        ended: &mpsc::UnboundedSender<(usize, Ended)>,
        delay: Duration,
    ) {
        self.started = Instant::now() + delay;
        let (local, socket, serving, report) = (
            self.local,
            self.socket.clone(),
            serving.clone(),
            ended.clone(),
        );
        let spawned = thread::Builder::new()
            .name("dns-xdp-udp".into())
            .spawn(move || {
                thread::sleep(delay);
                let how = match guard::catch(|| serve_udp(&socket, local, &serving)) {
                    Ok(never) => match never {},
                    Err(message) => Ended::Panicked(message),
                };
                // The supervisor is gone only when the server is being dropped.
                let _ = report.send((index, how));
            });
        if let Err(e) = spawned {
            let _ = ended.send((index, Ended::NotStarted(e)));
        }
    }
}

impl Supervised<Arc<TcpListener>> {
    /// Starts the accept loop after `delay`, in `tasks`; returns its task's id.
    fn start_tcp(
        &mut self,
        tasks: &mut JoinSet<()>,
        serving: &Arc<Serving>,
        limit: &Arc<Limiter>,
        delay: Duration,
    ) -> tokio::task::Id {
        self.started = Instant::now() + delay;
        let (local, listener, serving, limit) = (
            self.local,
            self.socket.clone(),
            serving.clone(),
            limit.clone(),
        );
        tasks
            .spawn(async move {
                tokio::time::sleep(delay).await;
                serve_tcp(&listener, local, serving, limit).await;
            })
            .id()
    }
}

/// The delay before retrying after an error that would recur at once (a full buffer, no
/// descriptors left, a loop that dies as it starts): 1 ms, doubling up to 1 s, and 1 ms again
/// after a success. Without it such an error spins a core and floods the log.
#[derive(Debug)]
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(1);
    const MAX: Duration = Duration::from_secs(1);

    fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// The delay to wait after a failure; the next failure waits twice as long.
    fn failed(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(Self::MAX);
        delay
    }

    fn succeeded(&mut self) {
        self.next = Self::FIRST;
    }
}

/// Whether a socket error is about this host (no buffer space, memory or descriptors left), so
/// that trying again at once fails again, rather than about one peer or connection.
fn host_wide(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock
        || matches!(
            error.raw_os_error(),
            Some(libc::ENOBUFS | libc::ENOMEM | libc::EMFILE | libc::ENFILE)
        )
}

/// What every serving thread and task shares: the responder, the counters and the
/// rate-limited logs.
struct Serving {
    responder: SharedResponder,
    stats: Arc<QueryStats>,
    panics: LogLimiter<PanicEvent>,
    malformed: LogLimiter<MalformedEvent>,
    socket_errors: LogLimiter<SocketErrorEvent>,
}

/// A panic caught while serving one client.
struct PanicEvent {
    transport: Transport,
    peer: SocketAddr,
    site: PanicSite,
    message: String,
}

enum PanicSite {
    /// Answering a query with this first question (None: it has none that can be read).
    Query(Option<Question>),
    /// In a TCP connection's task, outside any query.
    Connection,
}

/// A query the server could not make sense of.
struct MalformedEvent {
    transport: Transport,
    peer: SocketAddr,
    /// The whole message, to say what was wrong with it when a line is written.
    query: Vec<u8>,
    sent: Malformed,
}

struct SocketErrorEvent {
    transport: Transport,
    op: SocketOp,
    local: SocketAddr,
    /// The peer a send was for.
    peer: Option<SocketAddr>,
    error: io::Error,
    /// The backoff the loop waits before its next try, if it does.
    retry_in: Option<Duration>,
}

impl Serving {
    fn new(responder: SharedResponder, stats: Arc<QueryStats>) -> Self {
        Self {
            responder,
            stats,
            panics: LogLimiter::default(),
            malformed: LogLimiter::default(),
            socket_errors: LogLimiter::default(),
        }
    }

    /// The reply to one message from `peer`, if any, with all about it counted: a panic while
    /// answering becomes SERVFAIL, a malformed query is counted and logged rate-limited.
    fn answer(&self, query: &[u8], transport: Transport, peer: SocketAddr) -> Option<Vec<u8>> {
        let responder = self.responder.current();
        let reply = match guard::catch(|| responder.respond(query, transport, Some(peer.ip()))) {
            Ok(reply) => reply,
            Err(message) => {
                self.stats.panicked(transport);
                self.panicked(PanicEvent {
                    transport,
                    peer,
                    site: PanicSite::Query(wire::question(query)),
                    message,
                });
                wire::servfail(query)
            }
        };
        match &reply {
            Some(reply) => {
                self.stats.record(transport, query, reply);
                if wire::rcode(reply) == Some(RCODE_FORMERR) {
                    self.malformed(transport, peer, query, Malformed::Formerr);
                }
            }
            None if query.len() < wire::HEADER_LEN => {
                self.malformed(transport, peer, query, Malformed::Unanswered);
            }
            None if wire::is_response(query) => self.stats.dropped(transport, Dropped::Response),
            // The responder could not encode its reply, and logged why.
            None => {}
        }
        reply
    }

    fn panicked(&self, event: PanicEvent) {
        if let Some(line) = self.panics.event(Instant::now(), event) {
            log_panic(&line);
        }
    }

    fn malformed(&self, transport: Transport, peer: SocketAddr, query: &[u8], sent: Malformed) {
        self.stats.malformed(transport, sent);
        let event = MalformedEvent {
            transport,
            peer,
            query: query.to_vec(),
            sent,
        };
        if let Some(line) = self.malformed.event(Instant::now(), event) {
            log_malformed(&line);
        }
    }

    fn socket_error(&self, event: SocketErrorEvent) {
        self.stats.socket_error(event.transport, event.op);
        if let Some(line) = self.socket_errors.event(Instant::now(), event) {
            log_socket_error(&line);
        }
    }

    /// Writes what the rate-limited logs have counted since their last lines, where due.
    fn flush_logs(&self, now: Instant) {
        if let Some(line) = self.panics.flush(now) {
            log_panic(&line);
        }
        if let Some(line) = self.malformed.flush(now) {
            log_malformed(&line);
        }
        if let Some(line) = self.socket_errors.flush(now) {
            log_socket_error(&line);
        }
    }
}

fn transport_name(transport: Transport) -> &'static str {
    match transport {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
    }
}

/// "in the last 20 s", for a line that counts the events since the previous one.
fn over(line_over: Duration) -> String {
    format!("in the last {} s", line_over.as_secs().max(1))
}

fn log_panic(line: &Line<PanicEvent>) {
    let PanicEvent {
        transport,
        peer,
        site,
        message,
    } = &line.example;
    let transport = transport_name(*transport);
    let (what, then) = match site {
        PanicSite::Query(Some(question)) => (
            format!("answering {question} from {peer} over {transport}"),
            "answered SERVFAIL",
        ),
        PanicSite::Query(None) => (
            format!("answering a query without a question from {peer} over {transport}"),
            "answered SERVFAIL",
        ),
        PanicSite::Connection => (
            format!("serving the {transport} connection from {peer}"),
            "connection closed",
        ),
    };
    // The message last: with RUST_BACKTRACE set, a backtrace follows it.
    match line.over {
        None => log::error!(
            "{what} panicked ({then}, serving on; this is a bug in dns-xdp: please report it \
             with this line): {message}"
        ),
        Some(over_time) => log::error!(
            "{} panics {} while serving clients ({then}); the last, {what}: {message}",
            line.count,
            over(over_time)
        ),
    }
}

fn log_malformed(line: &Line<MalformedEvent>) {
    let MalformedEvent {
        transport,
        peer,
        query,
        sent,
    } = &line.example;
    let why = wire::why_malformed(query);
    let transport = transport_name(*transport);
    let sent = match sent {
        Malformed::Formerr => "answered FORMERR",
        Malformed::Unanswered => "not answered",
    };
    match line.over {
        None => log::info!(
            "malformed query from {} over {transport}: {why} ({sent}; more are counted in \
             dns_xdp_fallback_malformed_total and logged at most every {} s)",
            peer.ip(),
            PERIOD.as_secs()
        ),
        Some(over_time) => log::info!(
            "{} malformed queries {}, last from {} over {transport}: {why} ({sent})",
            line.count,
            over(over_time),
            peer.ip()
        ),
    }
}

fn log_socket_error(line: &Line<SocketErrorEvent>) {
    let SocketErrorEvent {
        transport,
        op,
        local,
        peer,
        error,
        retry_in,
    } = &line.example;
    let op = match op {
        SocketOp::Receive => "receive",
        SocketOp::Send => "send",
        SocketOp::Accept => "accept",
    };
    let to = peer.map(|peer| format!(" to {peer}")).unwrap_or_default();
    let what = format!("{} {op} on {local}{to}", transport_name(*transport));
    let then = match retry_in {
        Some(delay) => format!("retrying in {delay:?} (doubling up to 1 s while it fails)"),
        None => "serving on".to_string(),
    };
    match line.over {
        None => log::warn!("{what} failed: {error}; {then}"),
        Some(over_time) => log::warn!(
            "{} socket errors {}; the last, {what}: {error}; {then}",
            line.count,
            over(over_time)
        ),
    }
}

fn annotate(e: std::io::Error, proto: &str, addr: &SocketAddr) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!(
            "cannot listen on {proto} {addr}: {e} (is another DNS server running there? check \
             [server] listen)"
        ),
    )
}

fn socket_for(addr: SocketAddr, ty: socket2::Type) -> std::io::Result<socket2::Socket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), ty, None)?;
    if addr.is_ipv6() {
        // "[::]:53" and "0.0.0.0:53" are configured side by side; keep the families apart.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = socket_for(addr, socket2::Type::DGRAM)?;
    socket.set_nonblocking(false)?;
    // Best effort: the kernel caps it at net.core.rmem_max / wmem_max.
    let _ = socket.set_recv_buffer_size(UDP_SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_SOCKET_BUFFER);
    Ok(socket.into())
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket_for(addr, socket2::Type::STREAM)?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Receives, answers and sends on one UDP socket for ever: a blocking loop on a thread of its
/// own (see [`Listeners::serve`]).
fn serve_udp(socket: &Datagrams, local: SocketAddr, serving: &Serving) -> Infallible {
    let mut buf = vec![0u8; 65535];
    let mut receiving = Backoff::new();
    let mut sending = Backoff::new();
    loop {
        let Received {
            len,
            peer,
            local: asked,
        } = match socket.recv(&mut buf) {
            Ok(received) => {
                receiving.succeeded();
                received
            }
            // A signal interrupted the wait: nothing failed.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                let delay = receiving.failed();
                serving.socket_error(SocketErrorEvent {
                    transport: Transport::Udp,
                    op: SocketOp::Receive,
                    local,
                    peer: None,
                    error,
                    retry_in: Some(delay),
                });
                thread::sleep(delay);
                continue;
            }
        };
        if is_reflection_port(peer.port()) {
            serving.stats.dropped(Transport::Udp, Dropped::SourcePort);
            continue;
        }
        test_hook::crash_if_named(&buf[..len]);
        let Some(reply) = serving.answer(&buf[..len], Transport::Udp, peer) else {
            continue;
        };
        match socket.send(&reply, peer, asked) {
            Ok(()) => sending.succeeded(),
            Err(error) => {
                // A full buffer fails the next send too; an error about this peer (unreachable,
                // refused by a firewall) must not slow the answers to everyone else.
                let delay = host_wide(&error).then(|| sending.failed());
                serving.socket_error(SocketErrorEvent {
                    transport: Transport::Udp,
                    op: SocketOp::Send,
                    local,
                    peer: Some(peer),
                    error,
                    retry_in: delay,
                });
                if let Some(delay) = delay {
                    thread::sleep(delay);
                }
            }
        }
    }
}

/// Accepts TCP connections for ever, each admitted by `limit` answered by a task of its own.
/// Every connection is accepted at once, even at the cap, where the table closes another one
/// for it: a connection left in the kernel's backlog would wait behind everyone else's.
async fn serve_tcp(
    listener: &TcpListener,
    local: SocketAddr,
    serving: Arc<Serving>,
    limit: Arc<Limiter>,
) {
    let mut accepting = Backoff::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                accepting.succeeded();
                accepted
            }
            // The client gave up before its connection was taken: about it alone.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) =>
            {
                log::debug!("TCP accept on {local}: {e}");
                continue;
            }
            // No descriptors or memory left: the connection waits in the backlog, and
            // accepting again at once would fail again.
            Err(error) => {
                let delay = accepting.failed();
                serving.socket_error(SocketErrorEvent {
                    transport: Transport::Tcp,
                    op: SocketOp::Accept,
                    local,
                    peer: None,
                    error,
                    retry_in: Some(delay),
                });
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        // Refused (counted): dropping it closes it.
        let Some(admitted) = limit.admit(peer.ip()) else {
            continue;
        };
        let connection = tokio::spawn({
            let serving = serving.clone();
            async move {
                let answer = |query: &[u8]| {
                    test_hook::crash_if_named(query);
                    serving.answer(query, Transport::Tcp, peer)
                };
                if let Err(e) = tcp::serve(stream, admitted, answer).await {
                    log::debug!("TCP connection from {peer}: {e}");
                }
            }
        });
        // A panic outside a query (each is caught in `Serving::answer`) ends the connection's
        // task; this one makes it heard.
        let serving = serving.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                if e.is_panic() {
                    serving.stats.panicked(Transport::Tcp);
                    serving.panicked(PanicEvent {
                        transport: Transport::Tcp,
                        peer,
                        site: PanicSite::Connection,
                        message: guard::payload_text(&*e.into_panic()),
                    });
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::Zone;
    use hickory_proto::rr::Name;

    #[test]
    fn backoff_doubles_up_to_a_second_and_starts_over_after_a_success() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..12).map(|_| backoff.failed().as_millis()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(1));
    }

    #[test]
    fn only_errors_about_this_host_back_off() {
        for errno in [
            libc::ENOBUFS,
            libc::ENOMEM,
            libc::EMFILE,
            libc::ENFILE,
            libc::EAGAIN,
        ] {
            assert!(host_wide(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
        for errno in [
            libc::EHOSTUNREACH,
            libc::ENETUNREACH,
            libc::EPERM,
            libc::EACCES,
        ] {
            assert!(!host_wide(&io::Error::from_raw_os_error(errno)), "{errno}");
        }
    }

    fn serving() -> Serving {
        let origin = Name::from_ascii("example.com.").unwrap();
        let zone = Zone::parse(
            &origin,
            "$TTL 300\n@ SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n",
            "example.zone",
        )
        .unwrap();
        Serving::new(
            SharedResponder::new(Responder::for_zones(vec![zone], 1232)),
            Arc::default(),
        )
    }

    #[test]
    fn counts_what_it_cannot_answer_by_what_it_sent() {
        let serving = serving();
        let peer: SocketAddr = "192.0.2.7:5353".parse().unwrap();
        let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        query.extend_from_slice(b"\x03ns1\x07example\x03com\x00\x00\x01\x00\x01");
        assert!(serving.answer(&query, Transport::Udp, peer).is_some());
        assert_eq!(serving.answer(&query[..5], Transport::Udp, peer), None);
        let mut response = query.clone();
        response[2] |= 0x80;
        assert_eq!(serving.answer(&response, Transport::Tcp, peer), None);
        let mut broken_opt = query.clone();
        broken_opt[11] = 1;
        broken_opt.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 2, 0, 10]);
        let reply = serving.answer(&broken_opt, Transport::Udp, peer).unwrap();
        assert_eq!(wire::rcode(&reply), Some(RCODE_FORMERR));
        assert_eq!(
            serving.stats.malformed_counts(),
            vec![
                ("udp", "formerr", 1),
                ("udp", "none", 1),
                ("tcp", "formerr", 0),
                ("tcp", "none", 0)
            ]
        );
        assert_eq!(
            serving.stats.dropped_counts(),
            vec![
                ("udp", "response", 0),
                ("udp", "source_port", 0),
                ("tcp", "response", 1)
            ]
        );
        assert_eq!(
            serving.stats.responses(),
            vec![("udp", "NOERROR", 1), ("udp", "FORMERR", 1)]
        );
    }
}
