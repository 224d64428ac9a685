//! One check of one target: connect, and for http(s) ask and judge the answer.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::config::check::BODY_LIMIT;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::Target;
use crate::config::{
    check::{CheckSpec, Protocol},
    duration,
};

/// At most this much of a body is read and searched for `body`.
/// A status line and headers longer than this are not a health endpoint's.
const HEAD_LIMIT: u64 = 16 * 1024;
const HEAD_TOO_LONG: &str = "response head longer than 16 KiB";
/// A chunk-size line longer than this is garbage.
const CHUNK_LINE_LIMIT: u64 = 1024;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub ok: bool,
    /// What was seen, for people: "HTTP 200", "connect refused", "timeout after 5s",
    /// "certificate: ...", "body lacks \"ok\"".
    pub reason: String,
    /// From the start of the check to its verdict.
    pub latency: Duration,
}

/// Checks `target` once, within its check's timeout. `tls` is needed for https checks only.
pub(crate) async fn probe(target: &Target, tls: Option<&Arc<ClientConfig>>) -> ProbeResult {
    let spec = &target.spec;
    let started = Instant::now();
    let verdict = tokio::time::timeout(spec.timeout, run(target.address, spec, tls)).await;
    let latency = started.elapsed();
    let (ok, reason) = match verdict {
        Ok(Ok(reason)) => (true, reason),
        Ok(Err(reason)) => (false, reason),
        Err(_) => (
            false,
            format!("timeout after {}", duration::format(spec.timeout)),
        ),
    };
    ProbeResult {
        ok,
        reason,
        latency,
    }
}

/// Ok(reason) if the target passed, Err(reason) if not.
async fn run(
    address: IpAddr,
    spec: &CheckSpec,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<String, String> {
    let tcp = TcpStream::connect(SocketAddr::new(address, spec.port))
        .await
        .map_err(|e| describe_io("connect", &e))?;
    // A small request and its answer: Nagle's algorithm would only add delay.
    let _ = tcp.set_nodelay(true);
    match spec.protocol {
        Protocol::Tcp => Ok("connected".into()),
        Protocol::Http => http(tcp, address, spec).await,
        Protocol::Https => {
            let config = tls
                .expect("https targets are given a TLS client config")
                .clone();
            let name = match &spec.host {
                Some(host) => ServerName::try_from(host.clone())
                    .expect("validated as a server name when the config was loaded"),
                None => ServerName::IpAddress(address.into()),
            };
            let stream = TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| describe_tls(&e))?;
            http(stream, address, spec).await
        }
    }
}

/// Sends the GET and judges the status line and, if `body` is set, the body.
async fn http<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    address: IpAddr,
    spec: &CheckSpec,
) -> Result<String, String> {
    stream
        .write_all(request(address, spec).as_bytes())
        .await
        .map_err(|e| describe_io("sending the request", &e))?;
    stream
        .flush()
        .await
        .map_err(|e| describe_io("sending the request", &e))?;

    let mut reader = BufReader::new(stream);
    let mut head_budget = HEAD_LIMIT;
    let status_line = read_line(&mut reader, &mut head_budget, HEAD_TOO_LONG).await?;
    let status = parse_status_line(&status_line)?;
    if !spec.expect.contains(status) {
        return Err(format!("HTTP {status} (expected {})", spec.expect));
    }
    let Some(wanted) = &spec.body else {
        return Ok(format!("HTTP {status}"));
    };

    let mut content_length = None;
    let mut chunked = false;
    loop {
        let line = read_line(&mut reader, &mut head_budget, HEAD_TOO_LONG).await?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad response header {:?}", shorten(&line)));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<u64>()
                    .map_err(|_| format!("bad Content-Length {:?}", shorten(value)))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }

    let body = if chunked {
        read_chunked(&mut reader).await?
    } else {
        let limit = content_length.map_or(BODY_LIMIT as u64, |n| n.min(BODY_LIMIT as u64));
        let mut body = Vec::new();
        // A server that closes the connection without a TLS close_notify ends its body with
        // an UnexpectedEof error; with `Connection: close` the close itself is the end, so what
        // arrived before it is the body either way.
        if let Err(e) = (&mut reader).take(limit).read_to_end(&mut body).await {
            if e.kind() != io::ErrorKind::UnexpectedEof {
                return Err(describe_io("reading the body", &e));
            }
        }
        body
    };
    if contains(&body, wanted.as_bytes()) {
        Ok(format!("HTTP {status}, body has {wanted:?}"))
    } else {
        Err(format!("body lacks {wanted:?} (HTTP {status})"))
    }
}

fn request(address: IpAddr, spec: &CheckSpec) -> String {
    let default_port = match spec.protocol {
        Protocol::Https => 443,
        _ => 80,
    };
    let mut host = match (&spec.host, address) {
        (Some(host), _) if host.contains(':') => format!("[{host}]"),
        (Some(host), _) => host.clone(),
        (None, IpAddr::V6(v6)) => format!("[{v6}]"),
        (None, IpAddr::V4(v4)) => v4.to_string(),
    };
    if spec.port != default_port {
        host = format!("{host}:{}", spec.port);
    }
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dns-xdp/{} health-check\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        spec.path,
        env!("CARGO_PKG_VERSION"),
    )
}

/// One CRLF- (or LF-) terminated line without its terminator, charged against `budget`;
/// `too_long` is the reason given when the budget runs out first.
async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    budget: &mut u64,
    too_long: &str,
) -> Result<String, String> {
    let mut line = Vec::new();
    let n = (&mut *reader)
        .take(*budget)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|e| describe_io("reading the response", &e))?;
    *budget -= n as u64;
    if line.last() != Some(&b'\n') {
        return Err(if *budget == 0 {
            too_long.into()
        } else if n == 0 {
            "connection closed without a response".into()
        } else {
            "connection closed inside the response head".into()
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// "HTTP/1.1 200 OK" → 200.
fn parse_status_line(line: &str) -> Result<u16, String> {
    let bad = || format!("bad status line {:?}", shorten(line));
    let rest = line.strip_prefix("HTTP/1.").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, ' ');
    let _minor = parts.next();
    let code = parts.next().ok_or_else(bad)?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    code.parse().map_err(|_| bad())
}

/// A chunked body (RFC 9112 section 7.1), decoded, up to `BODY_LIMIT` bytes.
async fn read_chunked<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while body.len() < BODY_LIMIT {
        let mut budget = CHUNK_LINE_LIMIT;
        let line = read_line(reader, &mut budget, "chunk size line too long").await?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {:?}", shorten(&line)))?;
        if size == 0 {
            break;
        }
        let wanted = size.min((BODY_LIMIT - body.len()) as u64);
        let got = (&mut *reader)
            .take(wanted)
            .read_to_end(&mut body)
            .await
            .map_err(|e| describe_io("reading the body", &e))?;
        if (got as u64) < wanted {
            // Closed inside a chunk: judge what arrived.
            break;
        }
        if wanted < size {
            break;
        }
        let mut budget = 2;
        read_line(reader, &mut budget, "chunk not followed by CRLF").await?;
    }
    Ok(body)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// At most 60 characters of text from the other side, for a reason.
fn shorten(text: &str) -> String {
    text.chars().take(60).collect()
}

fn describe_io(doing: &str, error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionRefused => format!("{doing} refused"),
        io::ErrorKind::ConnectionReset => format!("connection reset while {doing}"),
        io::ErrorKind::HostUnreachable => format!("{doing}: host unreachable"),
        io::ErrorKind::NetworkUnreachable => format!("{doing}: network unreachable"),
        io::ErrorKind::UnexpectedEof => format!("connection closed while {doing}"),
        _ => format!("{doing}: {error}"),
    }
}

fn describe_tls(error: &io::Error) -> String {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            "certificate: unknown issuer (no trusted CA signed it; see ca_file)".into()
        }
        Some(rustls::Error::InvalidCertificate(problem)) => {
            let text = problem.to_string();
            format!(
                "certificate: {}",
                text.strip_prefix("certificate ").unwrap_or(&text)
            )
        }
        Some(other) => format!("TLS: {other}"),
        None => describe_io("TLS handshake", error),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{spec, spec_in, ClosedPort, TestPki, TestServer};
    use super::super::tls::client_config;
    use super::*;
    use crate::config::check::Trust;
    use std::net::Ipv4Addr;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    async fn check(port: u16, keys: &str) -> ProbeResult {
        check_spec(Target {
            address: LOOPBACK,
            spec: spec(&format!("port = {port}\n{keys}")),
        })
        .await
    }

    async fn check_spec(target: Target) -> ProbeResult {
        let tls =
            (target.spec.protocol == Protocol::Https).then(|| client_config(&target.spec.trust));
        probe(&target, tls.as_ref()).await
    }

    #[tokio::test]
    async fn http_status_and_request() {
        let server = TestServer::http().await;
        let port = server.addr.port();
        let keys = "protocol = \"http\"\npath = \"/health?full=1\"\nhost = \"App.Example.com\"";
        let result = check(port, keys).await;
        assert!(result.ok, "{result:?}");
        assert_eq!(result.reason, "HTTP 200");
        let request = server.last_request();
        assert!(
            request.starts_with("GET /health?full=1 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("\r\nHost: app.example.com:{port}\r\n")),
            "{request}"
        );
        let agent = format!(
            "\r\nUser-Agent: dns-xdp/{} health-check\r\n",
            env!("CARGO_PKG_VERSION")
        );
        assert!(request.contains(&agent), "{request}");
        assert!(request.contains("\r\nConnection: close\r\n"), "{request}");

        // Without `host`, the Host header names the address.
        check(port, "protocol = \"http\"").await;
        assert!(server
            .last_request()
            .contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")));

        server.set_status(503);
        let result = check(port, "protocol = \"http\"").await;
        assert!(!result.ok);
        assert_eq!(result.reason, "HTTP 503 (expected 200-399)");
        let result = check(port, "protocol = \"http\"\nexpect = \"200,503\"").await;
        assert!(result.ok, "{result:?}");
        server.set_status(302);
        assert!(check(port, "protocol = \"http\"").await.ok);
        assert!(
            !check(port, "protocol = \"http\"\nexpect = \"200\"")
                .await
                .ok
        );
    }

    #[tokio::test]
    async fn http_body_substring() {
        let server = TestServer::http().await;
        let port = server.addr.port();
        server.set_body("status: all ok\n");
        let result = check(port, "protocol = \"http\"\nbody = \"all ok\"").await;
        assert!(result.ok, "{result:?}");
        assert_eq!(result.reason, "HTTP 200, body has \"all ok\"");
        server.set_body("status: degraded\n");
        let result = check(port, "protocol = \"http\"\nbody = \"all ok\"").await;
        assert!(!result.ok);
        assert_eq!(result.reason, "body lacks \"all ok\" (HTTP 200)");
        // The status is judged first.
        server.set_status(500);
        let result = check(port, "protocol = \"http\"\nbody = \"degraded\"").await;
        assert_eq!(result.reason, "HTTP 500 (expected 200-399)");
    }

    #[tokio::test]
    async fn https_verifies_the_certificate() {
        let pki = TestPki::new(&["app.example.com", "127.0.0.1"]);
        let server = TestServer::https(pki.server.clone()).await;
        let port = server.addr.port();
        let dir = std::env::temp_dir().join(format!("dns-xdp-health-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
        let target = |keys: &str| Target {
            address: LOOPBACK,
            spec: spec_in(
                &format!("protocol = \"https\"\nport = {port}\n{keys}"),
                &dir,
            ),
        };

        let verified = target("host = \"app.example.com\"\nca_file = \"ca.pem\"");
        assert!(matches!(verified.spec.trust, Trust::SystemAnd { .. }));
        let result = check_spec(verified).await;
        assert!(result.ok, "{result:?}");
        assert_eq!(result.reason, "HTTP 200");
        assert!(server.last_request().contains("\r\nHost: app.example.com:"));

        // No host: the certificate must be valid for the address.
        let result = check_spec(target("ca_file = \"ca.pem\"")).await;
        assert!(result.ok, "{result:?}");

        let wrong_host =
            check_spec(target("host = \"other.example.com\"\nca_file = \"ca.pem\"")).await;
        assert!(!wrong_host.ok);
        assert!(
            wrong_host.reason.starts_with("certificate: "),
            "{wrong_host:?}"
        );
        assert!(
            wrong_host.reason.contains("other.example.com"),
            "{wrong_host:?}"
        );

        let unknown_ca = check_spec(target("host = \"app.example.com\"")).await;
        assert!(!unknown_ca.ok);
        assert!(
            unknown_ca.reason.starts_with("certificate: "),
            "{unknown_ca:?}"
        );

        let insecure = check_spec(target("host = \"other.example.com\"\ninsecure = true")).await;
        assert!(insecure.ok, "{insecure:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn tcp_open_and_closed() {
        let server = TestServer::http().await;
        let result = check(server.addr.port(), "protocol = \"tcp\"").await;
        assert!(result.ok, "{result:?}");
        assert_eq!(result.reason, "connected");
        let closed = ClosedPort::new();
        let result = check(closed.port(), "protocol = \"tcp\"").await;
        assert!(!result.ok);
        assert_eq!(result.reason, "connect refused");
        let result = check(closed.port(), "protocol = \"https\"").await;
        assert_eq!(result.reason, "connect refused");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        // The kernel completes the handshake from the backlog; nobody ever reads the request.
        let silent = std::net::TcpListener::bind((LOOPBACK, 0)).unwrap();
        let port = silent.local_addr().unwrap().port();
        for protocol in ["http", "https"] {
            let keys = format!("protocol = \"{protocol}\"\ninterval = \"1s\"\ntimeout = \"200ms\"");
            let result = check(port, &keys).await;
            assert!(!result.ok);
            assert_eq!(result.reason, "timeout after 200ms");
            assert!(result.latency >= Duration::from_millis(200), "{result:?}");
        }
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Ok(200));
        assert_eq!(
            parse_status_line("HTTP/1.0 503 Service Unavailable"),
            Ok(503)
        );
        assert_eq!(parse_status_line("HTTP/1.1 204"), Ok(204));
        for bad in [
            "",
            "HTTP/2 200",
            "HTTP/1.1 20",
            "HTTP/1.1 2000 x",
            "SSH-2.0-OpenSSH",
        ] {
            assert!(parse_status_line(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded() {
        let wire = b"4\r\nhel\n\r\n6;ext=1\r\nlo, ok\r\n0\r\n\r\n";
        let body = read_chunked(&mut BufReader::new(&wire[..])).await.unwrap();
        assert_eq!(body, b"hel\nlo, ok");
        assert!(read_chunked(&mut BufReader::new(&b"zz\r\n"[..]))
            .await
            .is_err());
    }

    #[test]
    fn substring_search() {
        assert!(contains(b"status: ok\n", b"ok"));
        assert!(!contains(b"o k", b"ok"));
        assert!(!contains(b"", b"ok"));
    }
}
