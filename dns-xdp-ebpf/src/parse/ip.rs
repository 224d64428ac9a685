//! IPv4 without options or fragmentation, and IPv6 without extension headers, carrying UDP.

use core::ptr::addr_of_mut;

use aya_ebpf::programs::XdpContext;
use dns_xdp_common::{
    addresses::{is_martian_v4, is_martian_v6, ServedAddr},
    counters::Counter,
    scratch::Scratch,
};
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
pub fn parse(ctx: &XdpContext, scratch: *mut Scratch, l3: L3) -> Result<Ip, Counter> {
    if l3.ether_type == ETH_P_IPV4 {
        parse_v4(ctx, scratch, l3.offset)
    } else {
        parse_v6(ctx, scratch, l3.offset)
    }
}

/// The client's (source) address that parsing left in `Scratch::source`, unless the kernel's
/// stack drops it or it cannot take an answer in kind (`dns_xdp_common::addresses` says which
/// and why): then the query passes up.
#[inline(always)]
pub fn check_source(scratch: *mut Scratch, ip: &Ip) -> Result<&'static ServedAddr, Counter> {
    let source = unsafe { &(*scratch).source };
    let martian = if ip.is_v4 {
        // The last word of `::ffff:a.b.c.d`.
        is_martian_v4((source.be_words()[1] as u32).to_be_bytes())
    } else {
        is_martian_v6(source)
    };
    if martian {
        return Err(Counter::PassMartian);
    }
    Ok(source)
}

#[inline(always)]
fn parse_v4(ctx: &XdpContext, scratch: *mut Scratch, offset: usize) -> Result<Ip, Counter> {
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
    // The kernel's stack drops a header whose checksum fails (`ip_rcv_core`): its fields, the
    // addresses the answer would go to among them, cannot be trusted.
    if csum::fold(csum::sum_ipv4_header(ip)) != 0xFFFF {
        return Err(Counter::PassIpChecksum);
    }
    let src = unsafe { *(ip.src_addr.as_ptr() as *const [u16; 2]) };
    // `::ffff:a.b.c.d`, as `ServedAddr::v4` has it.
    store_source(scratch, [0, 0, 0, 0, 0, 0xFFFF, src[0], src[1]]);
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
fn parse_v6(ctx: &XdpContext, scratch: *mut Scratch, offset: usize) -> Result<Ip, Counter> {
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
    store_source(scratch, unsafe {
        *(ip.src_addr.as_ptr() as *const [u16; 8])
    });
    Ok(Ip {
        is_v4: false,
        offset,
        l4_offset: offset + Ipv6Hdr::LEN,
        l4_len: payload,
        dst: ServedAddr::v6(ip.dst_addr),
        addr_sum: csum::sum_bytes16(&ip.src_addr) + csum::sum_bytes16(&ip.dst_addr),
    })
}

/// Writes the source address to `Scratch::source` from its 16-bit words as they lie in the frame
/// (the header sits at an even offset, as the Ethernet header's fields do), in two 64-bit
/// little-endian stores: copied as bytes, it becomes a call to the object's byte-by-byte
/// `memcpy`.
#[inline(always)]
fn store_source(scratch: *mut Scratch, words: [u16; 8]) {
    let w = |i: usize| words[i] as u64;
    let first = w(0) | w(1) << 16 | w(2) << 32 | w(3) << 48;
    let second = w(4) | w(5) << 16 | w(6) << 32 | w(7) << 48;
    let to = unsafe { addr_of_mut!((*scratch).source) } as *mut [u64; 2];
    unsafe { to.write([first, second]) };
}
