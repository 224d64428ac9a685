//! Internet checksum arithmetic (RFC 1071), in big-endian 16-bit words held in a `u64` so sums
//! never overflow before the final fold.

use aya_ebpf::helpers::generated::bpf_csum_diff;
use network_types::ip::Ipv4Hdr;

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

/// Sum of an IPv4 header without options, checksum field included, in native-endian words: it
/// folds to 0xFFFF when the checksum verifies (as a big-endian sum would: the two are byte
/// swaps of each other, RFC 1071 §2(B)), and with the field zeroed the complement of its fold
/// is the checksum, to be stored in native byte order. Read as 16-bit words: the header sits
/// at an even offset, as every field of the Ethernet header before it does.
#[inline(always)]
pub fn sum_ipv4_header(hdr: &Ipv4Hdr) -> u64 {
    let words = unsafe { &*(hdr as *const Ipv4Hdr as *const [u16; Ipv4Hdr::LEN / 2]) };
    let mut sum = 0u64;
    let mut i = 0;
    while i < words.len() {
        sum += words[i] as u64;
        i += 1;
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
