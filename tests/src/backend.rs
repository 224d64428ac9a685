//! Real HTTP and HTTPS backends for health-check tests: a server on a given address inside a
//! network namespace that can be stopped (connections refused), started again and told which
//! status to answer with, and a test CA whose PEM file a check's `ca_file` can trust.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::netns::in_netns;

/// A client that has not sent its request head by then is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const HEAD_LIMIT: usize = 16 * 1024;

/// A certificate authority made for one test run.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    pub fn new() -> Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "dns-xdp test CA");
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM-encoded.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Writes the CA certificate as PEM, for a check's `ca_file`.
    pub fn write_pem(&self, path: &Path) -> Result<()> {
        std::fs::write(path, &self.pem)
            .with_context(|| format!("writing the test CA to {}", path.display()))
    }

    /// TLS server settings with a certificate for `names` (DNS names or IP addresses).
    fn server_config(&self, names: &[String]) -> Result<Arc<ServerConfig>> {
        let key = KeyPair::generate()?;
        let cert = CertificateParams::new(names.to_vec())?.signed_by(&key, &self.issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone()], key)?;
        Ok(Arc::new(config))
    }
}

/// An HTTP or HTTPS server that answers every GET (`/health` or any other path) with the
/// status set by [`Backend::set_status`] (200 at first) and a body of "ok" (2xx) or
/// "unavailable". It serves from its own thread; dropping it stops it.
pub struct Backend {
    netns: Option<String>,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    serving: Option<Serving>,
}

struct State {
    status: AtomicU16,
    requests: AtomicU64,
}

/// The serving thread; dropping `stop` ends it.
struct Serving {
    stop: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

impl Backend {
    /// Starts a plain HTTP backend on `addr` inside `netns` (None: this process's namespace).
    /// Port 0 picks a free port, which [`Backend::addr`] tells and restarts keep.
    pub fn http(netns: Option<&str>, addr: SocketAddr) -> Result<Self> {
        Self::start_new(netns, addr, None)
    }

    /// Starts an HTTPS backend whose certificate, signed by `ca`, is valid for `name` and for
    /// the address it listens on.
    pub fn https(netns: Option<&str>, addr: SocketAddr, ca: &TestCa, name: &str) -> Result<Self> {
        let config = ca.server_config(&[name.to_owned(), addr.ip().to_string()])?;
        Self::start_new(netns, addr, Some(TlsAcceptor::from(config)))
    }

    fn start_new(netns: Option<&str>, addr: SocketAddr, tls: Option<TlsAcceptor>) -> Result<Self> {
        let mut backend = Backend {
            netns: netns.map(str::to_owned),
            addr,
            tls,
            state: Arc::new(State {
                status: AtomicU16::new(200),
                requests: AtomicU64::new(0),
            }),
            serving: None,
        };
        backend.start()?;
        Ok(backend)
    }

    /// The address it listens on (with the port chosen, if it was given port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Listens again after [`Backend::stop`]; does nothing if it is running.
    pub fn start(&mut self) -> Result<()> {
        if self.serving.is_some() {
            return Ok(());
        }
        let addr = self.addr;
        // std's TcpListener sets SO_REUSEADDR, so a restart can take the port back while
        // connections of the previous run linger in TIME_WAIT.
        let bind = move || std::net::TcpListener::bind(addr);
        let listener = match &self.netns {
            Some(ns) => in_netns(ns, bind)?,
            None => bind(),
        }
        .with_context(|| format!("backend cannot listen on {addr}"))?;
        self.addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the backend's runtime")?;
        let (stop, stopped) = oneshot::channel();
        let tls = self.tls.clone();
        let state = self.state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("backend {}", self.addr))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => serve(listener, tls, state, stopped).await,
                        Err(e) => panic!("backend cannot use its listener: {e}"),
                    }
                })
            })
            .context("starting the backend's thread")?;
        self.serving = Some(Serving { stop, thread });
        Ok(())
    }

    /// Closes the listener and every open connection; connecting is refused from when this
    /// returns until [`Backend::start`].
    pub fn stop(&mut self) {
        if let Some(Serving { stop, thread }) = self.serving.take() {
            drop(stop);
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }

    /// The status code of every answer from now on.
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::Relaxed);
    }

    /// How many requests it has received (and answered, unless the client left), over all
    /// its runs.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Accepts until `stopped` fires (or its sender is dropped); returning drops the listener and
/// the connections.
async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => {
                // A child process forked elsewhere in this process (tests run in parallel and
                // spawn `ip`, agents, ...) holds a copy of the listener's fd until it execs, so
                // closing ours would not always stop the listening at once: connections would
                // still be queued, then reset. shutdown acts on the socket itself.
                // SAFETY: the fd belongs to `listener`, which is alive here.
                unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) };
                return;
            }
            accepted = listener.accept() => {
                if let Ok((tcp, _)) = accepted {
                    connections.spawn(connection(tcp, tls.clone(), state.clone()));
                }
            }
            // Reaps finished connections, so the set does not grow over a long test.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(tcp: TcpStream, tls: Option<TlsAcceptor>, state: Arc<State>) {
    let _ = tcp.set_nodelay(true);
    // A client that is slow or gone is simply dropped.
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, async {
        match tls {
            None => answer(tcp, &state).await,
            Some(tls) => {
                if let Ok(stream) = tls.accept(tcp).await {
                    answer(stream, &state).await;
                }
            }
        }
    })
    .await;
}

/// Reads one request head and answers it.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, state: &State) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > HEAD_LIMIT {
            return;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    // Counted before answering, so a client that has its answer sees it counted.
    state.requests.fetch_add(1, Ordering::Relaxed);
    let status = state.status.load(Ordering::Relaxed);
    let (reason, body) = match status {
        200..=299 => ("OK", "ok"),
        503 => ("Service Unavailable", "unavailable"),
        _ => ("Test Status", "unavailable"),
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(response.as_bytes()).await.is_ok() {
        // Sends TLS close_notify, then FIN.
        let _ = stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpStream};
    use std::time::Instant;

    use dns_xdp_user::health::{resolve_checks, CheckConfig, Checker, HealthState, Target};

    use super::*;
    use crate::scratch::ScratchDir;

    const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

    fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
        let mut tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            tcp,
            "GET {path} HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        tcp.read_to_string(&mut response)?;
        Ok(response)
    }

    #[test]
    fn http_backend_stops_starts_and_changes_status() {
        let mut backend = Backend::http(None, LOOPBACK).unwrap();
        let addr = backend.addr();
        assert_ne!(addr.port(), 0);
        let response = get(addr, "/health").unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.ends_with("\r\n\r\nok"), "{response}");
        assert!(get(addr, "/any/path").unwrap().starts_with("HTTP/1.1 200 "));

        backend.set_status(503);
        let response = get(addr, "/health").unwrap();
        assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
        assert_eq!(backend.requests(), 3);

        backend.stop();
        let refused = get(addr, "/health").unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        backend.stop();

        backend.start().unwrap();
        assert_eq!(backend.addr(), addr, "a restart keeps the port");
        backend.set_status(200);
        assert!(get(addr, "/health").unwrap().starts_with("HTTP/1.1 200 "));
        assert_eq!(backend.requests(), 4);
    }

    /// Inside a namespace, on the server's documentation address, reached from the client's.
    #[test]
    fn backend_serves_inside_a_namespace() {
        if !crate::netns::require_root("backend_serves_inside_a_namespace") {
            return;
        }
        let topology = crate::netns::Topology::create("backend").unwrap();
        for ip in [
            std::net::IpAddr::from(topology.server_v4),
            topology.server_v6.into(),
        ] {
            let addr = SocketAddr::new(ip, 8080);
            let mut backend = Backend::http(Some(&topology.server_ns), addr).unwrap();
            assert_eq!(backend.addr(), addr);
            let from_client = || in_netns(&topology.client_ns, || get(addr, "/health")).unwrap();
            let response = from_client().unwrap();
            assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
            backend.stop();
            assert_eq!(
                from_client().unwrap_err().kind(),
                std::io::ErrorKind::ConnectionRefused
            );
            // The restart binds inside the namespace again.
            backend.start().unwrap();
            assert!(from_client().unwrap().starts_with("HTTP/1.1 200 "));
        }
    }

    /// The checker trusts the backend's certificate through `ca_file`, and sees it go and come
    /// back.
    #[tokio::test]
    async fn https_backend_passes_a_verified_check() {
        let scratch = ScratchDir::new("backend-https");
        let ca = TestCa::new().unwrap();
        ca.write_pem(&scratch.path().join("ca.pem")).unwrap();
        let mut backend = Backend::https(None, LOOPBACK, &ca, "app.example.com").unwrap();
        let addr = backend.addr();

        // Timeouts far above a loopback TLS handshake (a few ms in a debug build), which a
        // loaded machine can still stretch to tens.
        let check: CheckConfig = toml::from_str(&format!(
            "name = \"web\"\nprotocol = \"https\"\nport = {}\npath = \"/health\"\n\
             host = \"app.example.com\"\nbody = \"ok\"\nca_file = \"ca.pem\"\n\
             interval = \"500ms\"\ntimeout = \"450ms\"\nfall = 2\nrise = 2",
            addr.port()
        ))
        .unwrap();
        let specs = resolve_checks(&[check], scratch.path()).unwrap();
        let target = Target {
            address: addr.ip(),
            spec: specs["web"].clone(),
        };
        let (checker, mut events) = Checker::new();
        checker.set_targets([target.clone()]);
        let deadline = Instant::now() + Duration::from_secs(20);
        assert!(checker.first_round(deadline).await);
        assert_eq!(checker.state(&target), Some(HealthState::Up));

        let mut next_state = async || {
            tokio::time::timeout(Duration::from_secs(20), events.recv())
                .await
                .expect("a state change within the deadline")
                .expect("the checker is alive")
        };
        assert_eq!(next_state().await.new, HealthState::Up);
        backend.stop();
        let down = next_state().await;
        assert_eq!(down.new, HealthState::Down);
        assert_eq!(down.reason, "connect refused");
        backend.start().unwrap();
        assert_eq!(next_state().await.new, HealthState::Up);
        assert!(backend.requests() >= 3);
    }
}
