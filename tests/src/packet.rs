//! Frames on the wire, built and taken apart byte by byte: queries exactly as a test wants them
//! (including broken ones), and answers checked header by header, checksums included.

use std::net::IpAddr;

use dns_xdp_user::{
    fallback::{responder::Transport, splice},
    fastpath::answers::Answer,
    render::Section,
};

/// A DNS question name in wire format, from dotted text ("www.example.com.").
pub fn wire_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// An OPT record for a query.
#[derive(Clone, Debug)]
pub struct Opt {
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    /// EDNS flag bits after DO (CO is 0x4000, RFC 9824 §5.1).
    pub other_flags: u16,
    pub options: Vec<(u16, Vec<u8>)>,
}

impl Opt {
    pub fn new(payload: u16) -> Self {
        Self {
            payload,
            version: 0,
            dnssec_ok: false,
            other_flags: 0,
            options: Vec::new(),
        }
    }

    pub fn option(mut self, code: u16, data: &[u8]) -> Self {
        self.options.push((code, data.to_vec()));
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut rdata = Vec::new();
        for (code, data) in &self.options {
            rdata.extend_from_slice(&code.to_be_bytes());
            rdata.extend_from_slice(&(data.len() as u16).to_be_bytes());
            rdata.extend_from_slice(data);
        }
        let mut out = vec![0, 0, 41];
        out.extend_from_slice(&self.payload.to_be_bytes());
        out.push(0);
        out.push(self.version);
        out.extend_from_slice(
            &(if self.dnssec_ok { 0x8000u16 } else { 0 } | self.other_flags).to_be_bytes(),
        );
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
        out
    }
}

/// A DNS query message, field by field.
#[derive(Clone, Debug)]
pub struct Query {
    pub id: u16,
    pub flags: u16,
    pub counts: [u16; 4],
    pub name: Vec<u8>,
    pub qtype: u16,
    pub qclass: u16,
    pub opt: Option<Opt>,
    /// Bytes appended after everything else.
    pub trailing: Vec<u8>,
}

/// RD=1, as stub resolvers and dig send.
pub const FLAG_RD: u16 = 0x0100;

impl Query {
    pub fn new(name: &str, qtype: u16) -> Self {
        Self {
            id: 0x5eed,
            flags: FLAG_RD,
            counts: [1, 0, 0, 0],
            name: wire_name(name),
            qtype,
            qclass: 1,
            opt: None,
            trailing: Vec::new(),
        }
    }

    pub fn edns(mut self, opt: Opt) -> Self {
        self.counts[3] = 1;
        self.opt = Some(opt);
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for count in self.counts {
            out.extend_from_slice(&count.to_be_bytes());
        }
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some(opt) = &self.opt {
            out.extend_from_slice(&opt.encode());
        }
        out.extend_from_slice(&self.trailing);
        out
    }
}

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
pub const SERVER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const TPID_8021Q: u16 = 0x8100;
pub const TPID_8021AD: u16 = 0x88A8;

/// A UDP datagram in an Ethernet frame, from client to server.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The destination MAC address, the server's unless a test wants another.
    pub dst_mac: [u8; 6],
    /// (TPID, VLAN id), outermost first.
    pub vlans: Vec<(u16, u16)>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
    /// IPv4 only: extra header words (options), flags/fragment offset field.
    pub ipv4_options: Vec<u8>,
    pub ipv4_frag: u16,
    /// Replace the computed UDP checksum.
    pub udp_checksum: Option<u16>,
    /// Ethernet padding after the IP packet.
    pub padding: usize,
}

impl Frame {
    pub fn udp(src: IpAddr, dst: IpAddr, payload: Vec<u8>) -> Self {
        Self {
            dst_mac: SERVER_MAC,
            vlans: Vec::new(),
            src,
            dst,
            src_port: 40053,
            dst_port: 53,
            payload,
            ipv4_options: Vec::new(),
            ipv4_frag: 0,
            udp_checksum: None,
            padding: 0,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.dst_mac);
        out.extend_from_slice(&CLIENT_MAC);
        for (tpid, vid) in &self.vlans {
            out.extend_from_slice(&tpid.to_be_bytes());
            out.extend_from_slice(&(vid & 0x0FFF).to_be_bytes());
        }
        let udp_len = (8 + self.payload.len()) as u16;
        let mut udp = Vec::new();
        udp.extend_from_slice(&self.src_port.to_be_bytes());
        udp.extend_from_slice(&self.dst_port.to_be_bytes());
        udp.extend_from_slice(&udp_len.to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&self.payload);
        let checksum = self
            .udp_checksum
            .unwrap_or_else(|| udp_checksum(self.src, self.dst, &udp));
        udp[6..8].copy_from_slice(&checksum.to_be_bytes());
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                out.extend_from_slice(&0x0800u16.to_be_bytes());
                let header_len = 20 + self.ipv4_options.len();
                let mut ip = vec![0x40 | (header_len / 4) as u8, 0];
                ip.extend_from_slice(&((header_len + udp.len()) as u16).to_be_bytes());
                ip.extend_from_slice(&0x1234u16.to_be_bytes());
                ip.extend_from_slice(&self.ipv4_frag.to_be_bytes());
                ip.extend_from_slice(&[64, 17, 0, 0]);
                ip.extend_from_slice(&src.octets());
                ip.extend_from_slice(&dst.octets());
                ip.extend_from_slice(&self.ipv4_options);
                let check = !fold(sum(&ip));
                ip[10..12].copy_from_slice(&check.to_be_bytes());
                out.extend_from_slice(&ip);
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                out.extend_from_slice(&0x86DDu16.to_be_bytes());
                out.extend_from_slice(&[0x60, 0, 0, 0]);
                out.extend_from_slice(&udp_len.to_be_bytes());
                out.extend_from_slice(&[17, 64]);
                out.extend_from_slice(&src.octets());
                out.extend_from_slice(&dst.octets());
            }
            _ => panic!("source and destination must be the same IP version"),
        }
        out.extend_from_slice(&udp);
        out.extend(std::iter::repeat_n(0u8, self.padding));
        out
    }
}

/// Sum of big-endian 16-bit words, an odd last byte padded with zero.
fn sum(bytes: &[u8]) -> u64 {
    bytes
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64)
        .sum()
}

fn fold(mut s: u64) -> u16 {
    while s > 0xFFFF {
        s = (s & 0xFFFF) + (s >> 16);
    }
    s as u16
}

fn pseudo_header_sum(src: IpAddr, dst: IpAddr, udp_len: usize) -> u64 {
    let addrs = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => sum(&s.octets()) + sum(&d.octets()),
        (IpAddr::V6(s), IpAddr::V6(d)) => sum(&s.octets()) + sum(&d.octets()),
        _ => panic!("mixed IP versions"),
    };
    addrs + 17 + udp_len as u64
}

/// The UDP checksum for a datagram (header with a zero checksum field, and payload).
pub fn udp_checksum(src: IpAddr, dst: IpAddr, udp: &[u8]) -> u16 {
    match !fold(pseudo_header_sum(src, dst, udp.len()) + sum(udp)) {
        0 => 0xFFFF,
        c => c,
    }
}

/// An answer frame taken apart, with every length and checksum verified.
#[derive(Debug)]
pub struct Reply {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub vlans: Vec<(u16, u16)>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

/// Parses an answer frame, failing on any inconsistency: lengths that disagree with the frame,
/// a wrong IPv4 header checksum or a wrong UDP checksum.
pub fn parse_reply(frame: &[u8]) -> Result<Reply, String> {
    parse_frame(frame, false)
}

/// Parses a UDP frame like [`parse_reply`]; `allow_padding` accepts bytes after the IP packet,
/// as short Ethernet frames carry, and an IPv4 UDP checksum of zero (none computed), as
/// queries may have: both are for frames a client sent, never for our replies.
pub fn parse_frame(frame: &[u8], allow_padding: bool) -> Result<Reply, String> {
    let fits = |end: usize| end == frame.len() || (allow_padding && end <= frame.len());
    let take = |at: usize, n: usize| -> Result<&[u8], String> {
        frame
            .get(at..at + n)
            .ok_or_else(|| format!("frame of {} bytes too short at {at}+{n}", frame.len()))
    };
    let dst_mac: [u8; 6] = take(0, 6)?.try_into().unwrap();
    let src_mac: [u8; 6] = take(6, 6)?.try_into().unwrap();
    let mut at = 12;
    let mut vlans = Vec::new();
    let mut ether_type = u16::from_be_bytes(take(at, 2)?.try_into().unwrap());
    while ether_type == TPID_8021Q || ether_type == TPID_8021AD {
        let vid = u16::from_be_bytes(take(at + 2, 2)?.try_into().unwrap()) & 0x0FFF;
        vlans.push((ether_type, vid));
        at += 4;
        ether_type = u16::from_be_bytes(take(at, 2)?.try_into().unwrap());
    }
    at += 2;
    let (src, dst, ttl, udp_at, udp_len) = match ether_type {
        0x0800 => {
            let ip = take(at, 20)?;
            if ip[0] != 0x45 {
                return Err(format!("IPv4 version/IHL byte {:#x}", ip[0]));
            }
            if fold(sum(ip)) != 0xFFFF {
                return Err("IPv4 header checksum is wrong".into());
            }
            let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
            if !fits(at + total) {
                return Err(format!(
                    "IPv4 total length {total} disagrees with the frame"
                ));
            }
            let src = IpAddr::from(<[u8; 4]>::try_from(&ip[12..16]).unwrap());
            let dst = IpAddr::from(<[u8; 4]>::try_from(&ip[16..20]).unwrap());
            (src, dst, ip[8], at + 20, total - 20)
        }
        0x86DD => {
            let ip = take(at, 40)?;
            if ip[6] != 17 {
                return Err(format!("IPv6 next header {}", ip[6]));
            }
            let payload = u16::from_be_bytes([ip[4], ip[5]]) as usize;
            if !fits(at + 40 + payload) {
                return Err(format!(
                    "IPv6 payload length {payload} disagrees with the frame"
                ));
            }
            let src = IpAddr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
            let dst = IpAddr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
            (src, dst, ip[7], at + 40, payload)
        }
        other => return Err(format!("ether type {other:#06x}")),
    };
    let udp = take(udp_at, udp_len)?;
    if u16::from_be_bytes([udp[4], udp[5]]) as usize != udp_len {
        return Err("UDP length disagrees with the IP length".into());
    }
    let stated = u16::from_be_bytes([udp[6], udp[7]]);
    let unchecked = stated == 0 && allow_padding && src.is_ipv4();
    if stated == 0 && !unchecked {
        return Err("UDP checksum is zero".into());
    }
    if !unchecked && fold(pseudo_header_sum(src, dst, udp_len) + sum(udp)) != 0xFFFF {
        let mut zeroed = udp.to_vec();
        zeroed[6..8].copy_from_slice(&[0, 0]);
        return Err(format!(
            "UDP checksum {stated:#06x} is wrong; expected {:#06x}",
            udp_checksum(src, dst, &zeroed)
        ));
    }
    Ok(Reply {
        dst_mac,
        src_mac,
        vlans,
        src,
        dst,
        ttl,
        src_port: u16::from_be_bytes([udp[0], udp[1]]),
        dst_port: u16::from_be_bytes([udp[2], udp[3]]),
        payload: udp[8..].to_vec(),
    })
}

/// The reply to `query` (a DNS message) that carries `answer`, one view's variant of a steered
/// entry: the fallback's splicer, given that one answer as if it were the only one. The oracle
/// for fast-path replies from steered entries.
pub fn spliced(answer: &Answer, query: &[u8]) -> Vec<u8> {
    let section = Section {
        count: answer.answer_count,
        bytes: answer.answer.clone(),
    };
    let found =
        |name: &[u8], qtype| (name == &*answer.name && qtype == answer.qtype).then_some(&section);
    splice::reply(query, Transport::Udp, 1232, found).expect("the splicer answers the query")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_frames_parse_back_with_valid_checksums() {
        let q = Query::new("www.example.com.", 1).encode();
        for (src, dst) in [("192.0.2.2", "192.0.2.1"), ("2001:db8::2", "2001:db8::1")] {
            let mut f = Frame::udp(src.parse().unwrap(), dst.parse().unwrap(), q.clone());
            f.vlans = vec![(TPID_8021AD, 100), (TPID_8021Q, 200)];
            let r = parse_reply(&f.encode()).unwrap();
            assert_eq!(r.payload, q);
            assert_eq!(r.vlans, f.vlans);
            assert_eq!(r.dst_port, 53);
        }
    }

    #[test]
    fn wire_name_encodes_labels() {
        assert_eq!(wire_name("a.bc."), b"\x01a\x02bc\x00");
        assert_eq!(wire_name("."), b"\x00");
    }
}
