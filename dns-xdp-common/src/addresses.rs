//! The addresses the server answers for, and the sources it never answers. A query to any other
//! address (traffic the host routes or bridges for others) is not ours to answer, however well
//! we know the name; a query from an address no client has is spoofed or broken, and the kernel's
//! stack, not the fast path, decides what becomes of it.

/// Key of the address map: IPv6 as is, IPv4 as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
/// 8-byte aligned, so the program reads it in whole words.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ServedAddr {
    pub addr: [u8; 16],
}

impl ServedAddr {
    pub const fn v4(octets: [u8; 4]) -> Self {
        let [a, b, c, d] = octets;
        Self {
            addr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, a, b, c, d],
        }
    }

    pub const fn v6(octets: [u8; 16]) -> Self {
        Self { addr: octets }
    }

    /// The address as two big-endian 64-bit words, read in two aligned loads.
    #[inline(always)]
    pub fn be_words(&self) -> [u64; 2] {
        let [hi, lo] = *bytemuck::cast_ref::<Self, [u64; 2]>(self);
        [u64::from_be(hi), u64::from_be(lo)]
    }
}

/// `AddressEntry::kind` of a served address: a destination the fast path answers for. It is
/// never a source either: a query "from ourselves" is spoofed, and answering it would talk to
/// ourselves.
pub const ADDR_SERVED: u32 = 1;
/// `AddressEntry::kind` of an address that is only never a source: the network or broadcast
/// address of an IPv4 subnet on this host, which no client sends from and a query to which is
/// not ours to answer.
pub const ADDR_NEVER_SOURCE: u32 = 2;

/// Most entries of the address map: the served addresses and the never-source ones together.
pub const MAX_SERVED_ADDRS: usize = 1024;

/// Words of [`AddressEntry::sources`]: 1024 bits, so a host with a few dozen entries sends
/// about one query in twenty or fewer to the second lookup.
pub const SOURCE_FILTER_WORDS: usize = 16;

/// Value of the address map.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct AddressEntry {
    /// [`ADDR_SERVED`] or [`ADDR_NEVER_SOURCE`].
    pub kind: u32,
    pub _pad: u32,
    /// In a served entry, a one-hash Bloom filter of every address in the map (bit
    /// [`source_filter_bit`] of each set): the program looks a query's source up only when its
    /// bit is set, so a query from a real client costs no lookup beyond its destination's.
    /// Zero in never-source entries.
    pub sources: [u64; SOURCE_FILTER_WORDS],
}

impl AddressEntry {
    pub const fn new(kind: u32) -> Self {
        Self {
            kind,
            _pad: 0,
            sources: [0; SOURCE_FILTER_WORDS],
        }
    }

    /// Sets `addr`'s bit in the source filter.
    pub fn add_source(&mut self, addr: &ServedAddr) {
        let bit = source_filter_bit(addr);
        self.sources[bit / 64] |= 1 << (bit % 64);
    }

    /// Whether `addr` may be in the map: false means it certainly is not.
    #[inline(always)]
    pub fn may_hold(&self, addr: &ServedAddr) -> bool {
        let bit = source_filter_bit(addr);
        self.sources[bit / 64] & (1 << (bit % 64)) != 0
    }
}

/// The bit of `addr` in [`AddressEntry::sources`]: its two halves folded together, then the top
/// bits of a multiplicative (Fibonacci) hash, which spreads neighbouring addresses apart.
#[inline(always)]
pub fn source_filter_bit(addr: &ServedAddr) -> usize {
    let [hi, lo] = addr.be_words();
    let folded = hi ^ lo;
    let word = (folded ^ (folded >> 32)) as u32;
    (word.wrapping_mul(0x9E37_79B1) >> (32 - SOURCE_FILTER_BITS_LOG2)) as usize
}

const SOURCE_FILTER_BITS_LOG2: u32 = 10;
const _: () = assert!(1 << SOURCE_FILTER_BITS_LOG2 == SOURCE_FILTER_WORDS * 64);

/// IPv4 sources the kernel's stack drops as martian (`ip_route_input_slow` and
/// `ip_route_use_hint` in net/ipv4/route.c): 0.0.0.0/8, 127.0.0.0/8 (with the default
/// `route_localnet=0`), multicast 224.0.0.0/4 and the limited broadcast 255.255.255.255.
/// The rest of 240.0.0.0/4 is not among them: Linux has routed it as unicast since 2.6.25, so
/// a query from it reaches the fallback, which answers it as the fast path would.
pub const fn is_martian_v4(src: [u8; 4]) -> bool {
    let first = src[0];
    first == 0 || first == 127 || first & 0xF0 == 0xE0 || u32::from_be_bytes(src) == u32::MAX
}

/// IPv6 sources no answer may go to. The kernel drops `::1` and multicast (ff00::/8) sources
/// (`ip6_rcv_core`, RFC 4291 §2.5.3 and §2.7). It takes `::` (DAD's source) and, for UDP,
/// IPv4-mapped `::ffff:0:0/96` sources (since Linux 5.12), but never answers them in kind: a
/// socket's reply to `::` goes to `::1`, and to `::ffff:a.b.c.d` out over IPv4 or not at all.
/// An answer from the fast path would be an IPv6 packet to an address that cannot receive one.
pub fn is_martian_v6(src: &ServedAddr) -> bool {
    let [hi, lo] = src.be_words();
    // ff00::/8; then, under ::/64, ::ffff:0:0/96, :: and ::1.
    hi >> 56 == 0xFF || (hi == 0 && (lo >> 32 == 0xFFFF || lo <= 1))
}

#[cfg(feature = "user")]
unsafe impl aya::Pod for ServedAddr {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for AddressEntry {}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(text: &str) -> [u8; 16] {
        text.parse::<core::net::Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn the_source_filter_holds_what_was_added() {
        let mut entry = AddressEntry::new(ADDR_SERVED);
        let added = [
            ServedAddr::v4([192, 0, 2, 0]),
            ServedAddr::v4([192, 0, 2, 255]),
            ServedAddr::v6(v6("2001:db8::1")),
        ];
        for addr in &added {
            entry.add_source(addr);
        }
        assert!(added.iter().all(|a| entry.may_hold(a)));
        // Neighbours of what was added land elsewhere: a /24's clients mostly clear the filter.
        let false_positives = (1..=254)
            .filter(|&host| entry.may_hold(&ServedAddr::v4([192, 0, 2, host])))
            .count();
        assert!(false_positives <= 3, "{false_positives} of 254");
        assert!(!AddressEntry::new(ADDR_NEVER_SOURCE).may_hold(&added[0]));
    }

    #[test]
    fn ipv4_martians_are_the_kernels() {
        for martian in [
            [0, 0, 0, 0],
            [0, 1, 2, 3],
            [127, 0, 0, 1],
            [127, 255, 255, 255],
            [224, 0, 0, 1],
            [239, 255, 255, 250],
            [255, 255, 255, 255],
        ] {
            assert!(is_martian_v4(martian), "{martian:?}");
        }
        for client in [
            [192, 0, 2, 2],
            [198, 51, 100, 7],
            [203, 0, 113, 255],
            [1, 0, 0, 0],
            [126, 255, 255, 255],
            [128, 0, 0, 0],
            [223, 255, 255, 255],
            [240, 0, 0, 1],
            [255, 255, 255, 254],
        ] {
            assert!(!is_martian_v4(client), "{client:?}");
        }
    }

    #[test]
    fn ipv6_martians() {
        for martian in [
            "::",
            "::1",
            "ff02::1",
            "ff0e::fb",
            "::ffff:0:0",
            "::ffff:c000:202",
        ] {
            assert!(is_martian_v6(&ServedAddr::v6(v6(martian))), "{martian}");
        }
        for client in [
            "2001:db8::2",
            "fe80::1",
            "::2",
            "::fffe:c000:202",
            "::1:0:0:0",
            "fe00::1",
            "100::1",
        ] {
            assert!(!is_martian_v6(&ServedAddr::v6(v6(client))), "{client}");
        }
    }
}
