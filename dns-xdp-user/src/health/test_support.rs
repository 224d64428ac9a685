//! Tiny loopback HTTP(S) servers and a test CA for the health checker's unit tests.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::config::check::{CheckConfig, CheckSpec};

/// A check named "test" from the TOML keys in `keys` (all but the name).
pub(crate) fn spec(keys: &str) -> Arc<CheckSpec> {
    spec_in(keys, Path::new("/"))
}

/// Like [`spec`], with relative `ca_file` paths resolved against `dir`.
pub(crate) fn spec_in(keys: &str, dir: &Path) -> Arc<CheckSpec> {
    let config: CheckConfig =
        toml::from_str(&format!("name = \"test\"\n{keys}")).expect("valid check TOML");
    Arc::new(config.to_spec(dir).expect("a valid check"))
}

/// A CA and a server certificate it signed for `names` (DNS names or IP addresses).
pub(crate) struct TestPki {
    pub ca_pem: String,
    pub server: Arc<ServerConfig>,
}

impl TestPki {
    pub fn new(names: &[&str]) -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(names)
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![leaf.der().clone()], key)
                .unwrap();
        TestPki {
            ca_pem: ca_cert.pem(),
            server: Arc::new(server),
        }
    }
}

/// A port on 127.0.0.1 that refuses connections: a TCP socket bound to it that does not listen.
/// Holding the socket keeps a parallel test from being given the port.
pub(crate) struct ClosedPort(socket2::Socket);

impl ClosedPort {
    pub fn new() -> Self {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .unwrap();
        ClosedPort(socket)
    }

    pub fn port(&self) -> u16 {
        self.0.local_addr().unwrap().as_socket().unwrap().port()
    }
}

/// Answers every request on 127.0.0.1 with a settable status and body, then closes.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    state: Arc<ServerState>,
    task: JoinHandle<()>,
}

struct ServerState {
    status: AtomicU16,
    body: Mutex<String>,
    requests: AtomicUsize,
    last_request: Mutex<String>,
}

impl TestServer {
    pub async fn http() -> Self {
        Self::start(None).await
    }

    pub async fn https(config: Arc<ServerConfig>) -> Self {
        Self::start(Some(TlsAcceptor::from(config))).await
    }

    async fn start(tls: Option<TlsAcceptor>) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ServerState {
            status: AtomicU16::new(200),
            body: Mutex::new("ok".into()),
            requests: AtomicUsize::new(0),
            last_request: Mutex::new(String::new()),
        });
        let task = tokio::spawn(serve(listener, tls, state.clone()));
        TestServer { addr, state, task }
    }

    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::Relaxed);
    }

    pub fn set_body(&self, body: &str) {
        *self.state.body.lock().unwrap() = body.into();
    }

    /// How many requests have been answered.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// The head of the latest request.
    pub fn last_request(&self) -> String {
        self.state.last_request.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, state: Arc<ServerState>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => answer(tcp, &state).await,
                Some(tls) => {
                    if let Ok(stream) = tls.accept(tcp).await {
                        answer(stream, &state).await;
                    }
                }
            }
        });
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, state: &ServerState) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    *state.last_request.lock().unwrap() = String::from_utf8_lossy(&head).into_owned();
    let status = state.status.load(Ordering::Relaxed);
    let body = state.body.lock().unwrap().clone();
    let response = format!(
        "HTTP/1.1 {status} Test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
    state.requests.fetch_add(1, Ordering::Relaxed);
}
