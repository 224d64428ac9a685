//! A stub resolver for ALIAS targets outside our zones: asks the configured upstream resolvers
//! for a name's A or AAAA records (RD=1, EDNS), over UDP and over TCP when the answer is
//! truncated, trying the next upstream when one fails.

use std::{net::SocketAddr, time::Duration};

use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{Name, RData, Record, RecordType},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
    time::timeout,
};

use super::{Addresses, MAX_CNAMES};

/// How long one upstream has to answer one query (over UDP, and again over TCP after TC).
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The negative-caching TTL when a negative answer carries no SOA.
const DEFAULT_NEGATIVE_TTL: u32 = 300;

/// What an upstream said about one name and type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The addresses, TTL the lowest along the CNAME chain that led to them.
    Found(Addresses),
    /// The name has no records of the type, or does not exist; `ttl` is how long that holds
    /// (RFC 2308).
    None { ttl: u32 },
}

impl Answer {
    pub fn ttl(&self) -> u32 {
        match self {
            Answer::Found(addresses) => addresses.ttl,
            Answer::None { ttl } => *ttl,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Upstreams {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl Upstreams {
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        Self {
            servers,
            timeout: QUERY_TIMEOUT,
        }
    }

    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// The `rtype` (A or AAAA) records of `name`, following CNAMEs: within an answer, and by
    /// asking again for the last name of a chain an upstream leaves unfinished (as an
    /// authoritative server without recursion does).
    pub async fn resolve(&self, name: &Name, rtype: RecordType) -> Result<Answer, String> {
        let mut name = name.clone();
        let mut ttl = u32::MAX;
        let mut cnames = 0;
        loop {
            let response = self.ask(&name, rtype).await?;
            let (last, chain_ttl, followed) = follow_chain(&response.answers, &name);
            cnames += followed;
            if cnames > MAX_CNAMES {
                return Err(format!("more than {MAX_CNAMES} CNAMEs (a loop?)"));
            }
            ttl = ttl.min(chain_ttl);
            let rdata: Vec<RData> = response
                .answers
                .iter()
                .filter(|r| r.record_type() == rtype && r.name == last)
                .map(|r| r.data.clone())
                .fold(Vec::new(), |mut all, rdata| {
                    if !all.contains(&rdata) {
                        all.push(rdata);
                    }
                    all
                });
            if !rdata.is_empty() {
                let records_ttl = response
                    .answers
                    .iter()
                    .filter(|r| r.record_type() == rtype && r.name == last)
                    .map(|r| r.ttl)
                    .min()
                    .unwrap_or(u32::MAX);
                return Ok(Answer::Found(Addresses {
                    ttl: ttl.min(records_ttl),
                    rdata,
                }));
            }
            let soa = response.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            });
            let nxdomain = response.metadata.response_code == ResponseCode::NXDomain;
            if followed > 0 && soa.is_none() && !nxdomain {
                // A chain that leaves the upstream's data: ask for where it leads.
                name = last;
                continue;
            }
            return Ok(Answer::None {
                ttl: ttl.min(soa.unwrap_or(DEFAULT_NEGATIVE_TTL)),
            });
        }
    }

    /// One question, to each upstream in turn until one answers NOERROR or NXDOMAIN.
    async fn ask(&self, name: &Name, rtype: RecordType) -> Result<Message, String> {
        let mut failures = Vec::new();
        for &server in &self.servers {
            match self.exchange(server, name, rtype).await {
                Ok(response) => return Ok(response),
                Err(e) => failures.push(format!("{server}: {e}")),
            }
        }
        Err(format!("{name} {rtype}: {}", failures.join("; ")))
    }

    async fn exchange(
        &self,
        server: SocketAddr,
        name: &Name,
        rtype: RecordType,
    ) -> Result<Message, String> {
        let id = random_id();
        let mut query = Message::new(id, MessageType::Query, OpCode::Query);
        query.metadata.recursion_desired = true;
        query.add_query(Query::query(name.clone(), rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        query.set_edns(edns);
        let bytes = query
            .to_vec()
            .map_err(|e| format!("encoding the query: {e}"))?;

        let reply = timeout(self.timeout, udp_exchange(server, &bytes))
            .await
            .map_err(|_| format!("no answer over UDP within {:?}", self.timeout))??;
        let mut response = check(&reply, id, name, rtype)?;
        if response.metadata.truncation {
            let reply = timeout(self.timeout, tcp_exchange(server, &bytes))
                .await
                .map_err(|_| format!("no answer over TCP within {:?}", self.timeout))??;
            response = check(&reply, id, name, rtype)?;
            if response.metadata.truncation {
                return Err("truncated over TCP".into());
            }
        }
        match response.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => Ok(response),
            rcode => Err(format!("answered {rcode}")),
        }
    }
}

async fn udp_exchange(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let bind: SocketAddr = if server.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind)
        .await
        .map_err(|e| format!("UDP socket: {e}"))?;
    // Connected: replies from anyone else are dropped by the kernel, and an ICMP port
    // unreachable ends the wait at once.
    socket
        .connect(server)
        .await
        .map_err(|e| format!("UDP connect: {e}"))?;
    socket
        .send(query)
        .await
        .map_err(|e| format!("UDP send: {e}"))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| format!("UDP receive: {e}"))?;
        // Keep waiting past datagrams that are not the reply (wrong ID: spoofed or late).
        if n >= 2 && buf[..2] == query[..2] {
            return Ok(buf[..n].to_vec());
        }
    }
}

async fn tcp_exchange(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| format!("TCP connect: {e}"))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&(query.len() as u16).to_be_bytes());
    framed.extend_from_slice(query);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| format!("TCP send: {e}"))?;
    let len = stream
        .read_u16()
        .await
        .map_err(|e| format!("TCP receive: {e}"))?;
    let mut reply = vec![0u8; usize::from(len)];
    stream
        .read_exact(&mut reply)
        .await
        .map_err(|e| format!("TCP receive: {e}"))?;
    Ok(reply)
}

/// Parses a reply and checks that it answers our query: ID, QR, opcode and question.
fn check(reply: &[u8], id: u16, name: &Name, rtype: RecordType) -> Result<Message, String> {
    let response = Message::from_vec(reply).map_err(|e| format!("malformed answer: {e}"))?;
    let question_matches = matches!(
        response.queries.as_slice(),
        [q] if q.name() == name && q.query_type() == rtype
    );
    if response.metadata.id != id
        || response.metadata.message_type != MessageType::Response
        || response.metadata.op_code != OpCode::Query
        || !question_matches
    {
        return Err("the answer does not match the question".into());
    }
    Ok(response)
}

/// Follows the CNAMEs in `answers` from `name`: returns the last name, the lowest CNAME TTL
/// (`u32::MAX` if none) and how many were followed (stopping at a loop or `MAX_CNAMES`).
fn follow_chain(answers: &[Record], name: &Name) -> (Name, u32, usize) {
    let mut name = name.clone();
    let mut ttl = u32::MAX;
    let mut followed = 0;
    while followed <= MAX_CNAMES {
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == name => Some((target.0.clone(), r.ttl)),
            _ => None,
        });
        let Some((target, cname_ttl)) = next else {
            break;
        };
        name = target;
        ttl = ttl.min(cname_ttl);
        followed += 1;
    }
    (name, ttl, followed)
}

/// An unpredictable message ID (RFC 5452 §9.2), from the kernel's generator.
fn random_id() -> u16 {
    let mut id = [0u8; 2];
    // SAFETY: getrandom(2) writes at most `len` bytes into the buffer we own.
    let n = unsafe { libc::getrandom(id.as_mut_ptr().cast(), id.len(), 0) };
    if n != 2 {
        // Not seeded yet (early boot): the clock is better than a constant.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        return nanos as u16 ^ (nanos >> 16) as u16;
    }
    u16::from_ne_bytes(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME, SOA};
    use std::net::Ipv4Addr;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// A fake upstream on 127.0.0.1 (UDP and TCP on the same port) that answers every query
    /// with `answer(query, over_tcp)`.
    async fn fake(
        answer: impl Fn(&Message, bool) -> Option<Message> + Send + Sync + 'static,
    ) -> SocketAddr {
        let answer = std::sync::Arc::new(answer);
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
        let for_udp = answer.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            loop {
                let (len, peer) = udp.recv_from(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf[..len]).unwrap();
                if let Some(reply) = for_udp(&query, false) {
                    udp.send_to(&reply.to_vec().unwrap(), peer).await.unwrap();
                }
            }
        });
        tokio::spawn(async move {
            loop {
                let (mut stream, _) = tcp.accept().await.unwrap();
                let len = stream.read_u16().await.unwrap();
                let mut buf = vec![0u8; usize::from(len)];
                stream.read_exact(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf).unwrap();
                if let Some(reply) = answer(&query, true) {
                    let bytes = reply.to_vec().unwrap();
                    stream.write_u16(bytes.len() as u16).await.unwrap();
                    stream.write_all(&bytes).await.unwrap();
                }
            }
        });
        addr
    }

    fn reply_to(query: &Message, rcode: ResponseCode) -> Message {
        let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        reply.metadata.response_code = rcode;
        reply.metadata.recursion_desired = query.metadata.recursion_desired;
        reply.add_query(query.queries[0].clone());
        reply
    }

    fn a(name: &str, ttl: u32, last: u8) -> Record {
        Record::from_rdata(n(name), ttl, RData::A(A(Ipv4Addr::new(198, 51, 100, last))))
    }

    #[tokio::test]
    async fn follows_a_cname_chain_and_takes_the_lowest_ttl() {
        let server = fake(|q, _| {
            assert!(q.metadata.recursion_desired, "RD=1");
            assert!(q.edns.is_some(), "EDNS");
            let mut r = reply_to(q, ResponseCode::NoError);
            r.add_answer(Record::from_rdata(
                n("lb.example.net."),
                60,
                RData::CNAME(CNAME(n("pool.example.org."))),
            ));
            r.add_answer(a("pool.example.org.", 300, 7));
            r.add_answer(a("pool.example.org.", 300, 8));
            r.add_answer(a("unrelated.example.org.", 5, 9));
            Some(r)
        })
        .await;
        let answer = Upstreams::new(vec![server])
            .resolve(&n("lb.example.net."), RecordType::A)
            .await
            .unwrap();
        let Answer::Found(addresses) = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(addresses.ttl, 60);
        assert_eq!(addresses.rdata.len(), 2);
    }

    #[tokio::test]
    async fn truncated_udp_is_retried_over_tcp() {
        let server = fake(|q, tcp| {
            let mut r = reply_to(q, ResponseCode::NoError);
            if tcp {
                r.add_answer(a("big.example.net.", 120, 1));
            } else {
                r.metadata.truncation = true;
            }
            Some(r)
        })
        .await;
        let answer = Upstreams::new(vec![server])
            .resolve(&n("big.example.net."), RecordType::A)
            .await
            .unwrap();
        assert_eq!(answer.ttl(), 120);
    }

    #[tokio::test]
    async fn servfail_and_silence_move_on_to_the_next_upstream() {
        let failing = fake(|q, _| Some(reply_to(q, ResponseCode::ServFail))).await;
        let silent = fake(|_, _| None).await;
        let good = fake(|q, _| {
            let mut r = reply_to(q, ResponseCode::NoError);
            r.add_answer(a("lb.example.net.", 30, 1));
            Some(r)
        })
        .await;
        let mut upstreams = Upstreams::new(vec![failing, silent, good]);
        upstreams.timeout = Duration::from_millis(200);
        let answer = upstreams
            .resolve(&n("lb.example.net."), RecordType::A)
            .await
            .unwrap();
        assert!(matches!(answer, Answer::Found(_)));

        let mut upstreams = Upstreams::new(vec![failing, silent]);
        upstreams.timeout = Duration::from_millis(200);
        let e = upstreams
            .resolve(&n("lb.example.net."), RecordType::A)
            .await
            .unwrap_err();
        assert!(
            e.contains("SERVFAIL") || e.contains("Server Failure"),
            "{e}"
        );
        assert!(e.contains("within"), "{e}");
    }

    #[tokio::test]
    async fn negative_answers_take_the_soa_negative_ttl() {
        let server = fake(|q, _| {
            let mut r = reply_to(q, ResponseCode::NXDomain);
            let soa = SOA::new(n("ns.example.net."), n("h.example.net."), 1, 2, 3, 4, 45);
            r.add_authority(Record::from_rdata(n("example.net."), 3600, RData::SOA(soa)));
            Some(r)
        })
        .await;
        let answer = Upstreams::new(vec![server])
            .resolve(&n("nope.example.net."), RecordType::AAAA)
            .await
            .unwrap();
        assert_eq!(answer, Answer::None { ttl: 45 });
    }

    #[tokio::test]
    async fn answers_to_another_question_are_refused() {
        let server = fake(|q, _| {
            let mut r = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
            r.add_query(Query::query(n("other.example.net."), RecordType::A));
            r.add_answer(a("other.example.net.", 30, 1));
            Some(r)
        })
        .await;
        let e = Upstreams::new(vec![server])
            .resolve(&n("lb.example.net."), RecordType::A)
            .await
            .unwrap_err();
        assert!(e.contains("does not match"), "{e}");
    }
}
