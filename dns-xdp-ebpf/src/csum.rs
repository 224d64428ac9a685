//! Internet checksum arithmetic (RFC 1071), in big-endian 16-bit words held in a `u64` so sums
//! never overflow before the final fold.

use aya_ebpf::helpers::generated::bpf_csum_diff;

#[inline(always)]
pub fn sum_bytes4(b: &[u8; 4]) -> u64 {
    u16::from_be_bytes([b[0], b[1]]) as u64 + u16::from_be_bytes([b[2], b[3]]) as u64
}

#[inline(always)]
pub fn sum_bytes16(b: &[u8; 16]) -> u64 {
    let mut sum = 0u64;
    let mut i = 0;
    while i < 16 {
        sum += u16::from_be_bytes([b[i], b[i + 1]]) as u64;
        i += 2;
    }
    sum
}

/// Folds a wide sum to 16 bits with end-around carry.
#[inline(always)]
pub fn fold(mut sum: u64) -> u16 {
    sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum = (sum & 0xFFFF) + (sum >> 16);
    sum as u16
}

/// A sum of bytes that start at an odd offset of the checksummed data is the byte-swapped sum
/// of the same bytes at an even offset.
#[inline(always)]
pub fn at_offset(sum: u16, offset: usize) -> u64 {
    if offset & 1 == 1 {
        sum.swap_bytes() as u64
    } else {
        sum as u64
    }
}

/// Sums `len` bytes (a multiple of 4, at most 512) of `buf` with the kernel's `bpf_csum_diff`.
/// The helper adds native-endian (little-endian) words; swapping the folded result gives the
/// big-endian sum.
#[inline(always)]
pub fn sum_buf(buf: *const u8, len: u32) -> u64 {
    let raw = unsafe { bpf_csum_diff(core::ptr::null_mut(), 0, buf as *mut u32, len, 0) };
    fold(raw as u32 as u64).swap_bytes() as u64
}

/// The final checksum of a UDP datagram whose words sum to `sum`. Zero is sent as all ones
/// (RFC 768): zero would mean "no checksum".
#[inline(always)]
pub fn udp_checksum(sum: u64) -> u16 {
    match !fold(sum) {
        0 => 0xFFFF,
        c => c,
    }
}
