//! Frame parsing, one module per layer.

pub mod dns;
pub mod eth;
pub mod ip;
pub mod udp;

use aya_ebpf::programs::XdpContext;
use dns_xdp_common::{counters::Counter, scratch::Scratch};

use crate::maps::forget;

/// The one bounds check: a pointer to a `T` at `offset` into the frame, or `Err(reason)` when the
/// frame is too short to hold it.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, offset: usize, reason: Counter) -> Result<*mut T, Counter> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + core::mem::size_of::<T>() > end {
        return Err(reason);
    }
    Ok((start + offset) as *mut T)
}

/// Reads a big-endian `u16` from two bytes.
#[inline(always)]
pub fn be16(bytes: [u8; 2]) -> u16 {
    u16::from_be_bytes(bytes)
}

/// Deepest network-layer offset: Ethernet plus two VLAN tags.
const MAX_L3_OFFSET: usize = 14 + 2 * 4;

/// Each VLAN depth and IP version reaches the DNS layer with its own exact offsets; forgetting
/// them lets the verifier check everything after this point once rather than six times.
#[inline(always)]
pub fn converge(scratch: *mut Scratch, ip: &mut ip::Ip, udp: &mut udp::Udp) -> Result<(), Counter> {
    let is_v4 = forget(scratch, 1, ip.is_v4 as u64) != 0;
    let l3 = forget(scratch, 2, ip.offset as u64) as usize;
    if l3 > MAX_L3_OFFSET {
        return Err(Counter::PassInternal);
    }
    let header_len = if is_v4 { 20 } else { 40 };
    ip.is_v4 = is_v4;
    ip.offset = l3;
    ip.l4_offset = l3 + header_len;
    udp.dns_offset = ip.l4_offset + 8;
    Ok(())
}
