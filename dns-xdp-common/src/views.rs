//! Client views: an LPM trie maps client prefixes to the view whose answers they get.
//! Addresses are 16 bytes, IPv4 as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, the form of
//! `addresses::ServedAddr`), so one trie holds both families: an IPv4 prefix of length `n` is
//! stored with length `96 + n`. A client no prefix covers gets the default view, 0.
//!
//! There are two tries, `dns_views_0` and `dns_views_1` (`map_names::VIEWS`). View ids are only
//! meaningful with the answers of their generation (a reload may renumber regions), so a reload
//! fills the trie that is not live and flips to it in the same store as the generation
//! (`publish::Live`); the old one is emptied afterwards.

use core::net::IpAddr;

/// Key of the view trie, laid out as the kernel's `struct bpf_lpm_trie_key_u8` with 16 bytes
/// of data (and as aya's `lpm_trie::Key<[u8; 16]>`): the prefix length in bits, then the
/// address. Bits past the prefix length are zero, so each prefix has exactly one key.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ViewKey {
    pub prefix_len: u32,
    pub addr: [u8; 16],
}

/// Bits an IPv4 address is shifted by in its IPv4-mapped IPv6 form.
pub const V4_MAPPED_PREFIX_LEN: u32 = 96;

impl ViewKey {
    /// The key of `addr/prefix_len`, host bits cleared; None when `prefix_len` exceeds the
    /// address's length (32 for IPv4, 128 for IPv6).
    pub fn new(addr: IpAddr, prefix_len: u8) -> Option<Self> {
        let (mut bytes, prefix_len) = match addr {
            IpAddr::V4(v4) => {
                if prefix_len > 32 {
                    return None;
                }
                let [a, b, c, d] = v4.octets();
                (
                    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, a, b, c, d],
                    V4_MAPPED_PREFIX_LEN + prefix_len as u32,
                )
            }
            IpAddr::V6(v6) => {
                if prefix_len > 128 {
                    return None;
                }
                (v6.octets(), prefix_len as u32)
            }
        };
        for (i, byte) in bytes.iter_mut().enumerate() {
            let kept = (prefix_len as usize).saturating_sub(i * 8).min(8);
            *byte &= !(0xFFu8.checked_shr(kept as u32).unwrap_or(0));
        }
        Some(Self {
            prefix_len,
            addr: bytes,
        })
    }
}

/// A client prefix and the view its clients get, as the agent hands it to be published: the
/// key [`ViewKey::new`] makes of it, and the view (0, the default view, makes a prefix inside a
/// region's prefix an exception to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewPrefix {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub view: u8,
}

/// Value of the view trie.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ViewValue {
    /// The view id: 1 + the region's index in the configuration (0 is the default view).
    pub view: u8,
    pub _pad: [u8; 3],
}

impl ViewValue {
    pub const fn new(view: u8) -> Self {
        Self { view, _pad: [0; 3] }
    }
}

/// Most prefixes the agent publishes, and the capacity of each trie (a country database split
/// into regions needs a few hundred thousand).
pub const MAX_VIEW_PREFIXES: usize = 1 << 20;

#[cfg(feature = "user")]
unsafe impl aya::Pod for ViewKey {}
#[cfg(feature = "user")]
unsafe impl aya::Pod for ViewValue {}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(addr: &str, len: u8) -> Option<ViewKey> {
        ViewKey::new(addr.parse().unwrap(), len)
    }

    #[test]
    fn ipv4_prefixes_are_mapped_and_masked() {
        let k = key("198.51.100.77", 20).unwrap();
        assert_eq!(k.prefix_len, 96 + 20);
        assert_eq!(
            k.addr,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 198, 51, 96, 0]
        );
        assert_eq!(key("192.0.2.1", 32).unwrap().addr[12..], [192, 0, 2, 1]);
        assert_eq!(
            key("192.0.2.1", 0).unwrap().addr[10..],
            [0xFF, 0xFF, 0, 0, 0, 0]
        );
        assert_eq!(key("192.0.2.1", 33), None);
    }

    #[test]
    fn ipv6_prefixes_are_masked() {
        let k = key("2001:db8:1234:5678::1", 36).unwrap();
        assert_eq!(k.prefix_len, 36);
        assert_eq!(k.addr[..6], [0x20, 0x01, 0x0d, 0xb8, 0x10, 0]);
        assert!(k.addr[6..].iter().all(|&b| b == 0));
        assert_eq!(key("2001:db8::1", 128).unwrap().addr[15], 1);
        assert_eq!(key("2001:db8::", 129), None);
    }
}
