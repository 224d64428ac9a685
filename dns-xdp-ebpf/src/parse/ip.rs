//! IPv4 without options or fragmentation, and IPv6 without extension headers, carrying UDP.

use aya_ebpf::programs::XdpContext;
use dns_xdp_common::{addresses::ServedAddr, counters::Counter};
use network_types::ip::{Ipv4Hdr, Ipv6Hdr};

use super::{be16, eth::ETH_P_IPV4, eth::L3, ptr_at};
use crate::csum;

const IPPROTO_UDP: u8 = 17;

pub struct Ip {
    pub is_v4: bool,
    /// Offset of the IP header.
    pub offset: usize,
    /// Offset of the UDP header.
    pub l4_offset: usize,
    /// Length of the UDP header and payload, as the IP header states it.
    pub l4_len: usize,
    /// The destination address, in the form of the address map's keys.
    pub dst: ServedAddr,
    /// Ones'-complement sum of the source and destination addresses (the same either way round,
    /// so it serves the query's and the answer's pseudo-header).
    pub addr_sum: u64,
}

#[inline(always)]
pub fn parse(ctx: &XdpContext, l3: L3) -> Result<Ip, Counter> {
    if l3.ether_type == ETH_P_IPV4 {
        parse_v4(ctx, l3.offset)
    } else {
        parse_v6(ctx, l3.offset)
    }
}

/// The client's (source) address in the 16-byte form of the view trie's keys. Read again from
/// the frame only when an answer depends on it, so other queries do not carry it along.
#[inline(always)]
pub fn source(ctx: &XdpContext, ip: &Ip) -> Result<[u8; 16], Counter> {
    if ip.is_v4 {
        let hdr: *const Ipv4Hdr = ptr_at(ctx, ip.offset, Counter::PassInternal)?;
        Ok(ServedAddr::v4(unsafe { (*hdr).src_addr }).addr)
    } else {
        let hdr: *const Ipv6Hdr = ptr_at(ctx, ip.offset, Counter::PassInternal)?;
        Ok(unsafe { (*hdr).src_addr })
    }
}

#[inline(always)]
fn parse_v4(ctx: &XdpContext, offset: usize) -> Result<Ip, Counter> {
    let ip: *const Ipv4Hdr = ptr_at(ctx, offset, Counter::PassIpUnsupported)?;
    let ip = unsafe { &*ip };
    if ip.vihl != 0x45 {
        // Not version 4, or options present.
        return Err(Counter::PassIpUnsupported);
    }
    // More-fragments flag or a fragment offset: this is part of a fragmented datagram.
    if be16(ip.frags) & 0x3FFF != 0 {
        return Err(Counter::PassIpUnsupported);
    }
    if ip.proto != IPPROTO_UDP {
        return Err(Counter::PassNotDns);
    }
    let total = be16(ip.tot_len) as usize;
    if total < Ipv4Hdr::LEN || ctx.data() + offset + total > ctx.data_end() {
        return Err(Counter::PassIpUnsupported);
    }
    Ok(Ip {
        is_v4: true,
        offset,
        l4_offset: offset + Ipv4Hdr::LEN,
        l4_len: total - Ipv4Hdr::LEN,
        dst: ServedAddr::v4(ip.dst_addr),
        addr_sum: csum::sum_bytes4(&ip.src_addr) + csum::sum_bytes4(&ip.dst_addr),
    })
}

#[inline(always)]
fn parse_v6(ctx: &XdpContext, offset: usize) -> Result<Ip, Counter> {
    let ip: *const Ipv6Hdr = ptr_at(ctx, offset, Counter::PassIpUnsupported)?;
    let ip = unsafe { &*ip };
    if ip.vcf[0] >> 4 != 6 {
        return Err(Counter::PassIpUnsupported);
    }
    if ip.next_hdr != IPPROTO_UDP {
        // Extension headers (fragments included) and other protocols both land here; only UDP
        // directly after the fixed header is ours.
        return Err(Counter::PassNotDns);
    }
    let payload = be16(ip.payload_len) as usize;
    if ctx.data() + offset + Ipv6Hdr::LEN + payload > ctx.data_end() {
        return Err(Counter::PassIpUnsupported);
    }
    Ok(Ip {
        is_v4: false,
        offset,
        l4_offset: offset + Ipv6Hdr::LEN,
        l4_len: payload,
        dst: ServedAddr::v6(ip.dst_addr),
        addr_sum: csum::sum_bytes16(&ip.src_addr) + csum::sum_bytes16(&ip.dst_addr),
    })
}
