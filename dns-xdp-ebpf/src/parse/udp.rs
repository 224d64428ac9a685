//! UDP to port 53 whose length agrees with the IP header.

use aya_ebpf::programs::XdpContext;
use dns_xdp_common::{counters::Counter, ports::is_reflection_port};
use network_types::udp::UdpHdr;

use super::{be16, ip::Ip, ptr_at};

const DNS_PORT: u16 = 53;
/// A DNS header is 12 bytes; anything shorter is not a query.
const DNS_HEADER_LEN: usize = 12;

pub struct Udp {
    /// Offset of the DNS message.
    pub dns_offset: usize,
    /// Length of the DNS message.
    pub dns_len: usize,
    /// The query's UDP checksum field, needed to verify it; 0 over IPv4 when the sender
    /// computed none.
    pub check: u16,
    /// Source and destination ports summed (the same after swapping them).
    pub port_sum: u64,
    /// Where the answer would go.
    pub src_port: u16,
}

#[inline(always)]
pub fn parse(ctx: &XdpContext, ip: &Ip) -> Result<Udp, Counter> {
    let udp: *const UdpHdr = ptr_at(ctx, ip.l4_offset, Counter::PassNotDns)?;
    let udp = unsafe { &*udp };
    if be16(udp.dst) != DNS_PORT {
        return Err(Counter::PassNotDns);
    }
    let len = be16(udp.len) as usize;
    if len != ip.l4_len || len < UdpHdr::LEN + DNS_HEADER_LEN {
        return Err(Counter::PassNotQuery);
    }
    let check = be16(udp.check);
    // A UDP checksum of zero means "not computed": legal over IPv4 (RFC 768; kxdpgun sends
    // such queries), where the query is taken as it is, as the kernel's stack takes it; never
    // over IPv6 (RFC 8200 §8.1).
    if check == 0 && !ip.is_v4 {
        return Err(Counter::PassChecksum);
    }
    let src_port = be16(udp.src);
    Ok(Udp {
        dns_offset: ip.l4_offset + UdpHdr::LEN,
        dns_len: len - UdpHdr::LEN,
        check,
        port_sum: src_port as u64 + be16(udp.dst) as u64,
        src_port,
    })
}

/// Passes up a query from a port no answer may go to (`dns_xdp_common::ports`, the one
/// definition for both paths).
#[inline(always)]
pub fn check_source_port(udp: &Udp) -> Result<(), Counter> {
    if is_reflection_port(udp.src_port) {
        return Err(Counter::PassSourcePort);
    }
    Ok(())
}
