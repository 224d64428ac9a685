//! The fallback server: tokio UDP and TCP listeners that answer everything the fast path passes
//! up, with the same [`Responder`] the fast path's answers are checked against.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    task::JoinSet,
};

use crate::{
    fallback::query_stats::QueryStats,
    fallback::responder::{Responder, Transport},
};

/// How long a TCP connection may sit idle between queries (RFC 7766 §6.2.3 suggests seconds).
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Concurrent TCP connections; more wait in the kernel's accept queue.
const MAX_TCP_CONNECTIONS: usize = 512;
/// Queries answered on one TCP connection before it is closed.
const MAX_QUERIES_PER_CONNECTION: usize = 1000;

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

/// Sockets bound and ready to serve.
pub struct Listeners {
    /// Blocking sockets, each served by a thread of its own (see [`Listeners::serve`]).
    udp: Vec<std::net::UdpSocket>,
    tcp: Vec<TcpListener>,
}

impl Listeners {
    /// Binds UDP and TCP on every address. Fails on the first address that cannot be bound.
    pub async fn bind(addrs: &[SocketAddr]) -> std::io::Result<Self> {
        let mut udp = Vec::new();
        let mut tcp = Vec::new();
        for addr in addrs {
            let socket = bind_udp(*addr).map_err(|e| annotate(e, "UDP", addr))?;
            udp.push(socket);
            tcp.push(bind_tcp(*addr).map_err(|e| annotate(e, "TCP", addr))?);
        }
        Ok(Self { udp, tcp })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    /// Serves until the returned future is dropped (TCP) or the process exits (UDP), each query
    /// with the responder `responder` holds at the time.
    ///
    /// Each UDP socket gets a thread with a plain blocking receive-answer-send loop: answering is
    /// synchronous, and a task on the multi-threaded runtime bounced between workers on almost
    /// every datagram, which halved throughput in `cargo xtask bench fallback`.
    pub async fn serve(self, responder: SharedResponder, stats: Arc<QueryStats>) {
        for socket in self.udp {
            let responder = responder.clone();
            let stats = stats.clone();
            let spawned = std::thread::Builder::new()
                .name("dns-xdp-udp".into())
                .spawn(move || serve_udp(socket, responder, &stats));
            if let Err(e) = spawned {
                log::error!("cannot start a UDP server thread: {e}");
            }
        }
        let mut tasks = JoinSet::new();
        let limit = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
        for listener in self.tcp {
            tasks.spawn(serve_tcp(
                listener,
                responder.clone(),
                stats.clone(),
                limit.clone(),
            ));
        }
        while tasks.join_next().await.is_some() {}
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

fn serve_udp(socket: std::net::UdpSocket, responder: SharedResponder, stats: &QueryStats) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) => {
                log::debug!("UDP receive error: {e}");
                continue;
            }
        };
        if let Some(reply) =
            responder
                .current()
                .respond(&buf[..len], Transport::Udp, Some(peer.ip()))
        {
            stats.record(Transport::Udp, &buf[..len], &reply);
            if let Err(e) = socket.send_to(&reply, peer) {
                log::debug!("UDP send to {peer} failed: {e}");
            }
        }
    }
}

async fn serve_tcp(
    listener: TcpListener,
    responder: SharedResponder,
    stats: Arc<QueryStats>,
    limit: Arc<Semaphore>,
) {
    loop {
        let permit = match limit.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return,
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                log::debug!("TCP accept error: {e}");
                continue;
            }
        };
        let responder = responder.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, peer.ip(), &responder, &stats).await {
                log::debug!("TCP connection from {peer}: {e}");
            }
            drop(permit);
        });
    }
}

/// Answers length-prefixed queries (RFC 1035 §4.2.2) in order until the client closes, goes
/// idle, or reaches the per-connection limit. Each query is answered with the responder current
/// when it arrives, so a long-lived connection sees a reload too.
async fn serve_connection(
    mut stream: TcpStream,
    peer: IpAddr,
    responder: &SharedResponder,
    stats: &QueryStats,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 65535];
    for _ in 0..MAX_QUERIES_PER_CONNECTION {
        let len = match tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_u16()).await {
            Ok(Ok(len)) => len as usize,
            // Idle timeout or the client closed: both end the connection quietly.
            Ok(Err(_)) | Err(_) => return Ok(()),
        };
        tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut buf[..len]))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "query body timed out")
            })??;
        let Some(reply) = responder
            .current()
            .respond(&buf[..len], Transport::Tcp, Some(peer))
        else {
            return Ok(());
        };
        stats.record(Transport::Tcp, &buf[..len], &reply);
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await?;
    }
    Ok(())
}
