//! The fallback server under what production sends it: a query that makes it panic, a flood of
//! malformed queries, and queries from UDP ports whose services answer anything. `dns-xdp run`
//! with XDP off (every query reaches the fallback) in one namespace, clients in the other, and
//! the metrics endpoint read from inside the server's namespace.
//!
//! - A panic while answering costs that query (SERVFAIL), not the socket: normal queries are
//!   answered on the same UDP socket and TCP connection, the log has the panic with the
//!   question and the client, the metrics count it. A panic outside the responder ends the UDP
//!   serving thread, which is restarted on the same socket, or the TCP connection, after which
//!   the listener still accepts.
//! - 20,000 queries whose OPT record ends inside an option (hickory-proto logs a warning for
//!   each, dns-xdp used to answer them as if the option were absent) are answered FORMERR, as
//!   Knot and NSD answer them, counted, and logged in one line.
//! - Queries from UDP ports 0, 7 and 19 get no reply; the same query from another port does.
//!
//! Needs root (network namespaces) and an agent built with the `test-hooks` feature (`cargo
//! xtask test` builds it).

use std::{
    io::{ErrorKind, Read, Write},
    net::{IpAddr, SocketAddr, TcpStream, UdpSocket},
    path::Path,
    thread,
    time::{Duration, Instant},
};

use dns_xdp_tests::{
    agent::Agent,
    metrics::{self, sample},
    netns::{in_netns, require_root, RawSocket, Topology},
    packet::{parse_reply, Frame, Opt, Query},
};
use hickory_proto::op::{Message, ResponseCode};

const METRICS: &str = "127.0.0.1:9153";
/// How long any one reply or log line may take before the test gives up on it.
const PATIENCE: Duration = Duration::from_secs(10);

/// XDP off, so that every query reaches the fallback server, with the metrics endpoint.
fn config(topology: &Topology) -> String {
    let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone");
    format!(
        "[server]\ninterface = \"{}\"\nxdp_mode = \"off\"\nlisten = [\"{}:53\"]\n\n\
         [metrics]\nlisten = \"{METRICS}\"\n\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n",
        topology.server_if,
        topology.server_v4,
        zone.display()
    )
}

fn server(topology: &Topology) -> SocketAddr {
    SocketAddr::new(topology.server_v4.into(), 53)
}

/// A UDP socket in the client namespace on `port` (0: any).
fn client_udp(topology: &Topology, port: u16) -> UdpSocket {
    let addr = SocketAddr::new(topology.client_v4.into(), port);
    let socket = in_netns(&topology.client_ns, move || UdpSocket::bind(addr))
        .unwrap()
        .unwrap_or_else(|e| panic!("binding UDP {addr} in the client namespace: {e}"));
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    socket
}

fn client_tcp(topology: &Topology) -> TcpStream {
    let server = server(topology);
    let stream = in_netns(&topology.client_ns, move || TcpStream::connect(server))
        .unwrap()
        .unwrap_or_else(|e| panic!("connecting to TCP {server}: {e}"));
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

fn query(name: &str, id: u16) -> Vec<u8> {
    let mut query = Query::new(name, 1);
    query.id = id;
    query.encode()
}

/// A datagram on `socket`, within its read timeout. A signal that interrupts the wait (a
/// child of this process ending) is not the end of it: a socket with a read timeout fails
/// with EINTR even under SA_RESTART.
fn recv(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    loop {
        match socket.recv_from(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            got => return got,
        }
    }
}

/// The reply with `id` to a query sent on `socket`; replies with other IDs (to earlier
/// queries) are skipped.
fn udp_reply(socket: &UdpSocket, id: u16) -> Message {
    let mut buf = [0u8; 4096];
    loop {
        let (len, _) =
            recv(socket, &mut buf).unwrap_or_else(|e| panic!("no UDP reply with ID {id}: {e}"));
        let message = Message::from_vec(&buf[..len]).expect("the reply parses");
        if message.metadata.id == id {
            return message;
        }
    }
}

fn ask_udp(socket: &UdpSocket, server: SocketAddr, name: &str, id: u16) -> Message {
    socket.send_to(&query(name, id), server).unwrap();
    udp_reply(socket, id)
}

/// Sends one length-prefixed query and reads the reply; None if the server closed the
/// connection instead.
fn ask_tcp(stream: &mut TcpStream, name: &str, id: u16) -> Option<Message> {
    let query = query(name, id);
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    stream.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
            ) =>
        {
            return None
        }
        Err(e) => panic!("reading the TCP reply to {name}: {e}"),
    }
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).unwrap();
    Some(Message::from_vec(&reply).expect("the reply parses"))
}

fn assert_www(reply: &Message, how: &str) {
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError, "{how}");
    let answers: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(answers, ["192.0.2.10"], "{how}");
}

fn scrape(topology: &Topology) -> String {
    metrics::scrape(&topology.server_ns, METRICS)
}

/// Waits until `series` reaches `expected` (a count another task of the agent adds to after
/// the client has seen the effect), and fails if it goes past it or never gets there.
fn wait_for_sample(topology: &Topology, series: &str, expected: f64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let body = scrape(topology);
        let value = sample(&body, series);
        assert!(value <= expected, "{series} is {value}, not {expected}");
        if value == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} still {value}, not {expected}:\n{body}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the agent's stderr contains `text` (its stderr is read by a thread).
fn wait_for_log(agent: &Agent, text: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let log = agent.stderr();
        if log.contains(text) {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "no {text:?} in the agent's log:\n{log}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_panic_while_answering_costs_one_query_not_the_socket() {
    if !require_root("a_panic_while_answering_costs_one_query_not_the_socket") {
        return;
    }
    let topology = Topology::create("robust-panic").expect("topology");
    let agent = Agent::start_with_env(
        &topology,
        &config(&topology),
        &[
            ("DNS_XDP_TEST_PANIC_QNAME", "boom.example.com"),
            ("DNS_XDP_TEST_CRASH_QNAME", "crash.example.com"),
        ],
    )
    .expect("agent starts");
    let server = server(&topology);

    // UDP: the query that panics is answered SERVFAIL, and the same socket answers the next.
    let udp = client_udp(&topology, 0);
    let client_port = udp.local_addr().unwrap().port();
    let failed = ask_udp(&udp, server, "BOOM.example.com.", 1);
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(failed.queries[0].name().to_string(), "BOOM.example.com.");
    assert_www(
        &ask_udp(&udp, server, "www.example.com.", 2),
        "UDP after a panic",
    );

    // TCP: the same, on one connection.
    let mut tcp = client_tcp(&topology);
    let failed = ask_tcp(&mut tcp, "boom.example.com.", 3).expect("a SERVFAIL over TCP");
    assert_eq!(failed.metadata.response_code, ResponseCode::ServFail);
    let after = ask_tcp(&mut tcp, "www.example.com.", 4).expect("the connection serves on");
    assert_www(&after, "TCP after a panic, same connection");

    // Outside the responder's guard, a panic ends the UDP serving thread: the supervisor starts
    // another on the same socket, which answers the query queued behind the crash.
    udp.send_to(&query("crash.example.com.", 5), server)
        .unwrap();
    udp.send_to(&query("www.example.com.", 6), server).unwrap();
    assert_www(&udp_reply(&udp, 6), "UDP after its thread was restarted");
    // Over TCP it ends that connection's task; the listener accepts the next one.
    let mut doomed = client_tcp(&topology);
    assert!(
        ask_tcp(&mut doomed, "crash.example.com.", 7).is_none(),
        "the crashed connection is closed"
    );
    let mut next = client_tcp(&topology);
    let after = ask_tcp(&mut next, "www.example.com.", 8).expect("a new connection is served");
    assert_www(&after, "TCP after a connection's task panicked");

    // Loud: the first panic is logged with its question, client and message, the thread's end
    // and restart too; the rest are counted (their lines are rate-limited).
    let log = wait_for_log(&agent, "the UDP server thread for");
    let panic_line = format!(
        "ERROR dns_xdp_user::fallback::server: answering BOOM.example.com. A from {}:{client_port} \
         over UDP panicked (answered SERVFAIL, serving on; this is a bug in dns-xdp: please \
         report it with this line): DNS_XDP_TEST_PANIC_QNAME: a deliberate panic on \
         BOOM.example.com. A at ",
        topology.client_v4
    );
    assert!(log.contains(&panic_line), "no {panic_line:?} in\n{log}");
    assert!(
        log.contains(&format!(
            "the UDP server thread for {server} panicked (starting a new one in 1ms"
        )),
        "{log}"
    );

    wait_for_sample(
        &topology,
        "dns_xdp_fallback_panics_total{transport=\"tcp\"}",
        2.0,
    );
    let body = scrape(&topology);
    for (series, expected) in [
        ("dns_xdp_fallback_panics_total{transport=\"udp\"}", 2.0),
        ("dns_xdp_fallback_restarts_total{transport=\"udp\"}", 1.0),
        ("dns_xdp_fallback_restarts_total{transport=\"tcp\"}", 0.0),
        (
            "dns_xdp_fallback_responses_total{transport=\"udp\",rcode=\"SERVFAIL\"}",
            1.0,
        ),
        (
            "dns_xdp_fallback_responses_total{transport=\"tcp\",rcode=\"SERVFAIL\"}",
            1.0,
        ),
        (
            "dns_xdp_fallback_responses_total{transport=\"udp\",rcode=\"NOERROR\"}",
            2.0,
        ),
        (
            "dns_xdp_fallback_responses_total{transport=\"tcp\",rcode=\"NOERROR\"}",
            2.0,
        ),
    ] {
        assert_eq!(sample(&body, series), expected, "{series} in\n{body}");
    }
}

/// Queries in flight at once in the flood: few enough that no socket buffer overflows, so
/// every one is answered and counted.
const FLOOD_WINDOW: u16 = 64;
const FLOOD: u16 = 20_000;

#[test]
fn a_flood_of_malformed_queries_is_counted_and_logged_in_one_line() {
    if !require_root("a_flood_of_malformed_queries_is_counted_and_logged_in_one_line") {
        return;
    }
    let topology = Topology::create("robust-flood").expect("topology");
    // The harness runs the agent with RUST_LOG=info: more than the default lets through.
    let agent = Agent::start_with_config(&topology, &config(&topology)).expect("agent starts");
    let server = server(&topology);
    let logged_before = agent.stderr().len();

    // Each query for a name of its own, so no packet cache spares the parse; its OPT record
    // holds a 2-byte option code and no length.
    let malformed = |i: u16| {
        let mut query = Query::new(&format!("n{i}.example.com."), 1).edns(Opt::new(1232));
        query.id = i;
        let mut bytes = query.encode();
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(&[0, 2, 0, 10]); // RDLENGTH 2, option code 10
        bytes
    };
    let udp = client_udp(&topology, 0);
    let mut formerr = 0u32;
    let mut buf = [0u8; 512];
    let started = Instant::now();
    for window in (0..FLOOD).step_by(usize::from(FLOOD_WINDOW)) {
        let ids = window..(window + FLOOD_WINDOW).min(FLOOD);
        for i in ids.clone() {
            udp.send_to(&malformed(i), server).unwrap();
        }
        for _ in ids {
            let (len, _) = recv(&udp, &mut buf)
                .unwrap_or_else(|e| panic!("a reply missing after {formerr} FORMERRs: {e}"));
            if Message::from_vec(&buf[..len])
                .unwrap()
                .metadata
                .response_code
                == ResponseCode::FormErr
            {
                formerr += 1;
            }
        }
    }
    eprintln!(
        "{FLOOD} malformed queries answered in {:?}",
        started.elapsed()
    );

    // One line for the first; the rest are summarised by later lines, at most every 20 s.
    let deadline = Instant::now() + PATIENCE;
    let logged = loop {
        let logged = agent.stderr()[logged_before..].to_string();
        if logged.contains("malformed query from") || logged.lines().count() > 3 {
            break logged;
        }
        assert!(Instant::now() < deadline, "nothing logged: {logged:?}");
        thread::sleep(Duration::from_millis(20));
    };
    let lines = logged.lines().count();
    assert!(
        lines <= 3 && logged.len() < 1000,
        "{lines} lines, {} bytes logged for {FLOOD} malformed queries; the first ones:\n{}",
        logged.len(),
        logged.lines().take(5).collect::<Vec<_>>().join("\n")
    );
    let line = format!(
        "INFO dns_xdp_user::fallback::server: malformed query from {} over UDP: the OPT record \
         ends 2 byte(s) into an EDNS option's 4-byte code and length (answered FORMERR;",
        topology.client_v4
    );
    assert!(logged.contains(&line), "no {line:?} in\n{logged}");
    assert_eq!(
        formerr,
        u32::from(FLOOD),
        "every one answered FORMERR, as Knot and NSD do"
    );

    let body = scrape(&topology);
    for (series, expected) in [
        (
            "dns_xdp_fallback_malformed_total{transport=\"udp\",reply=\"formerr\"}",
            f64::from(FLOOD),
        ),
        (
            "dns_xdp_fallback_malformed_total{transport=\"udp\",reply=\"none\"}",
            0.0,
        ),
        (
            "dns_xdp_fallback_responses_total{transport=\"udp\",rcode=\"FORMERR\"}",
            f64::from(FLOOD),
        ),
    ] {
        assert_eq!(sample(&body, series), expected, "{series} in\n{body}");
    }
}

#[test]
fn udp_queries_from_ports_that_answer_anything_go_unanswered() {
    if !require_root("udp_queries_from_ports_that_answer_anything_go_unanswered") {
        return;
    }
    let topology = Topology::create("robust-ports").expect("topology");
    let agent = Agent::start_with_config(&topology, &config(&topology)).expect("agent starts");
    let server = server(&topology);
    let normal = client_udp(&topology, 0);

    // Echo (7) and chargen (19) in the client namespace: each sends the query a normal port
    // gets answered. The server answers one socket's datagrams in order, so the normal port's
    // reply arriving means a reply to the port before it would have arrived first.
    for (id, port) in [(1, 7), (2, 19)] {
        let looping = client_udp(&topology, port);
        looping
            .send_to(&query("www.example.com.", id), server)
            .unwrap();
        assert_www(
            &ask_udp(&normal, server, "www.example.com.", id + 100),
            "from a normal port",
        );
        looping.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 512];
        match looping.recv_from(&mut buf) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            got => panic!("a reply to source port {port}: {got:?}"),
        }
    }

    // Port 0 cannot be bound: a frame written by hand, then one from a normal port.
    let raw = RawSocket::open(&topology.client_ns, &topology.client_if).expect("raw socket");
    for (id, port) in [(3u16, 0u16), (4, 40053)] {
        let mut frame = Frame::udp(
            IpAddr::V4(topology.client_v4),
            IpAddr::V4(topology.server_v4),
            query("www.example.com.", id),
        );
        frame.src_port = port;
        let mut bytes = frame.encode();
        bytes[..6].copy_from_slice(&topology.server_mac);
        bytes[6..12].copy_from_slice(&topology.client_mac);
        raw.send(&bytes).unwrap();
    }
    loop {
        let got = raw
            .recv(PATIENCE)
            .unwrap()
            .expect("a reply to the query from port 40053");
        let Ok(reply) = parse_reply(&got) else {
            continue;
        };
        if reply.src != IpAddr::V4(topology.server_v4) || reply.src_port != 53 {
            continue;
        }
        assert_ne!(reply.dst_port, 0, "a reply to source port 0");
        if reply.dst_port == 40053 {
            assert_www(
                &Message::from_vec(&reply.payload).unwrap(),
                "from port 40053",
            );
            break;
        }
    }

    let body = scrape(&topology);
    assert_eq!(
        sample(
            &body,
            "dns_xdp_fallback_dropped_total{transport=\"udp\",reason=\"source_port\"}"
        ),
        3.0,
        "{body}\nagent log:\n{}",
        agent.stderr()
    );
    assert_eq!(
        sample(
            &body,
            "dns_xdp_fallback_responses_total{transport=\"udp\",rcode=\"NOERROR\"}"
        ),
        3.0,
        "{body}"
    );
}
