//! IP prefixes, and the one address space the fast path's LPM trie keys on: IPv6, with IPv4 as
//! IPv4-mapped addresses (`::ffff:a.b.c.d`, prefix length + 96).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    str::FromStr,
};

/// First address of `::ffff:0:0/96`, where IPv4 lives in the mapped space.
pub(crate) const MAPPED_V4_START: u128 = 0xffff_0000_0000;
/// Last address of `::ffff:0:0/96`.
pub(crate) const MAPPED_V4_END: u128 = 0xffff_ffff_ffff;
/// How much longer a prefix is in the mapped space than in IPv4.
pub(crate) const MAPPED_V4_OFFSET: u8 = 96;

/// An IP network: an address with its host bits zero, and a prefix length for its family.
/// IPv4 is always held as IPv4, never as an IPv4-mapped IPv6 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error(
        "{0:?} is not a prefix: write an address, a slash and a length, e.g. \"198.51.100.0/24\""
    )]
    Syntax(String),
    #[error("{text:?}: an {family} prefix is at most /{max}")]
    TooLong {
        text: String,
        family: &'static str,
        max: u8,
    },
    #[error("{text:?} has bits set after the prefix length; did you mean {suggestion}?")]
    HostBits { text: String, suggestion: Prefix },
}

impl Prefix {
    /// The network `addr/len`; an IPv4-mapped IPv6 network is taken as the IPv4 one it maps.
    /// Fails when `len` is too long for the family or `addr` has host bits set.
    pub fn new(addr: IpAddr, len: u8) -> Result<Self, PrefixError> {
        let text = format!("{addr}/{len}");
        let (addr, len) = canonical(addr, len);
        let max = max_len(addr);
        if len > max {
            let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
            return Err(PrefixError::TooLong { text, family, max });
        }
        let prefix = Self::truncate(addr, len);
        if prefix.addr != addr {
            return Err(PrefixError::HostBits {
                text,
                suggestion: prefix,
            });
        }
        Ok(prefix)
    }

    /// The network of length `len` (clamped to the family's maximum) that contains `addr`.
    pub fn truncate(addr: IpAddr, len: u8) -> Self {
        let (addr, len) = canonical(addr, len);
        let len = len.min(max_len(addr));
        let addr = match addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(len))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(len))),
        };
        Self { addr, len }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// Prefix length within the address family (0..=32 for IPv4, 0..=128 for IPv6).
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (start, end) = self.mapped_range();
        let ip = mapped(ip);
        start <= ip && ip <= end
    }

    /// The key of this prefix in the kernel's LPM trie: prefix length and address in the mapped
    /// space (IPv4 as `::ffff:a.b.c.d`, length + 96).
    pub fn lpm_key(&self) -> (u32, [u8; 16]) {
        let len = match self.addr {
            IpAddr::V4(_) => self.len + MAPPED_V4_OFFSET,
            IpAddr::V6(_) => self.len,
        };
        (u32::from(len), mapped(self.addr).to_be_bytes())
    }

    /// First and last address in the mapped space.
    pub(crate) fn mapped_range(&self) -> (u128, u128) {
        let (start, len) = self.mapped();
        (start, start | !mask128(len))
    }

    /// Address and length in the mapped space.
    pub(crate) fn mapped(&self) -> (u128, u8) {
        match self.addr {
            IpAddr::V4(_) => (mapped(self.addr), self.len + MAPPED_V4_OFFSET),
            IpAddr::V6(_) => (mapped(self.addr), self.len),
        }
    }

    /// The prefix `start/len` of the mapped space, IPv4 when inside `::ffff:0:0/96`.
    pub(crate) fn from_mapped(start: u128, len: u8) -> Self {
        Self::truncate(IpAddr::V6(Ipv6Addr::from(start)), len)
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || PrefixError::Syntax(text.to_string());
        let (addr, len) = text.split_once('/').ok_or_else(syntax)?;
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let len: u8 = len.parse().map_err(|_| syntax())?;
        Self::new(addr, len).map_err(|e| match e {
            PrefixError::TooLong { family, max, .. } => PrefixError::TooLong {
                text: text.to_string(),
                family,
                max,
            },
            PrefixError::HostBits { suggestion, .. } => PrefixError::HostBits {
                text: text.to_string(),
                suggestion,
            },
            PrefixError::Syntax(_) => syntax(),
        })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// IPv4-mapped IPv6 taken as IPv4, with the length shortened to match (a mapped prefix shorter
/// than /96 is not IPv4 and stays IPv6).
fn canonical(addr: IpAddr, len: u8) -> (IpAddr, u8) {
    match addr {
        IpAddr::V6(v6) if len >= MAPPED_V4_OFFSET => match v6.to_ipv4_mapped() {
            Some(v4) => (IpAddr::V4(v4), len - MAPPED_V4_OFFSET),
            None => (addr, len),
        },
        _ => (addr, len),
    }
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// `ip` in the mapped space.
pub(crate) fn mapped(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => MAPPED_V4_START | u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn mask32(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

pub(crate) fn mask128(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Prefix {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(p("198.51.100.0/24").to_string(), "198.51.100.0/24");
        assert_eq!(p("2001:db8:100::/48").to_string(), "2001:db8:100::/48");
        assert_eq!(p("0.0.0.0/0").prefix_len(), 0);
        // IPv4-mapped IPv6 is IPv4.
        assert_eq!(p("::ffff:198.51.100.0/120"), p("198.51.100.0/24"));
        assert!(!p("::fffe:0:0/95").is_ipv4());
    }

    #[test]
    fn rejects_what_is_not_a_prefix() {
        let e = "198.51.100.1/24".parse::<Prefix>().unwrap_err();
        assert!(
            e.to_string().contains("did you mean 198.51.100.0/24"),
            "{e}"
        );
        let e = "198.51.100.0/33".parse::<Prefix>().unwrap_err();
        assert!(e.to_string().contains("at most /32"), "{e}");
        for bad in [
            "198.51.100.0",
            "198.51.100.0/",
            "x/8",
            "2001:db8::/129",
            "/8",
        ] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn truncates_and_contains() {
        let net = Prefix::truncate("198.51.100.200".parse().unwrap(), 25);
        assert_eq!(net, p("198.51.100.128/25"));
        assert!(net.contains("198.51.100.255".parse().unwrap()));
        assert!(net.contains("::ffff:198.51.100.129".parse().unwrap()));
        assert!(!net.contains("198.51.100.127".parse().unwrap()));
        assert_eq!(
            Prefix::truncate("2001:db8::1".parse().unwrap(), 200),
            p("2001:db8::1/128")
        );
        assert_eq!(
            Prefix::truncate("192.0.2.1".parse().unwrap(), 0).prefix_len(),
            0
        );
    }

    #[test]
    fn lpm_keys_map_ipv4() {
        let (len, addr) = p("198.51.100.0/24").lpm_key();
        assert_eq!(len, 120);
        assert_eq!(
            Ipv6Addr::from(addr),
            "::ffff:198.51.100.0".parse::<Ipv6Addr>().unwrap()
        );
        let (len, addr) = p("2001:db8::/32").lpm_key();
        assert_eq!(
            (len, Ipv6Addr::from(addr)),
            (32, "2001:db8::".parse().unwrap())
        );
        assert_eq!(Prefix::from_mapped(MAPPED_V4_START, 96), p("0.0.0.0/0"));
    }
}
