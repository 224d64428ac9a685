//! Which destination addresses are ours to answer for: the `listen` addresses, where a wildcard
//! (`0.0.0.0`, `::`) stands for every address this host has in that family, as it does for the
//! fallback server's sockets. And which sources no query comes from but the host's own
//! interfaces make known: the network and broadcast addresses of its IPv4 subnets.

use std::{
    collections::BTreeSet,
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
};

/// The addresses the fast path may answer for, given the fallback's listen addresses.
pub fn served_addresses(listen: &[SocketAddr]) -> io::Result<BTreeSet<IpAddr>> {
    let mut served = BTreeSet::new();
    let mut host = None;
    for addr in listen {
        let ip = addr.ip();
        if ip.is_unspecified() {
            let all = match &host {
                Some(all) => all,
                None => host.insert(host_addresses()?),
            };
            served.extend(
                all.iter()
                    .map(|a| a.addr)
                    .filter(|a| a.is_ipv4() == ip.is_ipv4()),
            );
        } else {
            served.insert(ip);
        }
    }
    Ok(served)
}

/// The network and broadcast addresses of every IPv4 subnet on this host's interfaces (in this
/// network namespace): a query from one is spoofed, and its answer would go to a whole subnet.
pub fn subnet_edges() -> io::Result<BTreeSet<IpAddr>> {
    let mut edges = BTreeSet::new();
    for host in host_addresses()? {
        if let (IpAddr::V4(addr), Some(IpAddr::V4(netmask))) = (host.addr, host.netmask) {
            edges.extend(ipv4_subnet_edges(addr, netmask, host.broadcast).map(IpAddr::V4));
        }
    }
    Ok(edges)
}

/// The network and broadcast addresses of the subnet of `addr` with `netmask`, and the
/// broadcast address configured on it if that is another (the kernel treats it as broadcast
/// too). A /31 or /32 has none: both addresses of a /31 are hosts (RFC 3021).
pub fn ipv4_subnet_edges(
    addr: Ipv4Addr,
    netmask: Ipv4Addr,
    broadcast: Option<Ipv4Addr>,
) -> impl Iterator<Item = Ipv4Addr> {
    let (addr, mask) = (u32::from(addr), u32::from(netmask));
    let edges = if mask.leading_ones() < 31 {
        let configured = broadcast.filter(|b| !b.is_unspecified());
        [
            Some(Ipv4Addr::from(addr & mask)),
            Some(Ipv4Addr::from(addr | !mask)),
            configured,
        ]
    } else {
        [None; 3]
    };
    edges.into_iter().flatten()
}

/// An address configured on one of this host's interfaces.
struct HostAddr {
    addr: IpAddr,
    netmask: Option<IpAddr>,
    /// The broadcast address, for IPv4 on interfaces that have one.
    broadcast: Option<Ipv4Addr>,
}

/// Every address configured on this host's interfaces (in this network namespace).
fn host_addresses() -> io::Result<Vec<HostAddr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that freeifaddrs releases below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut addrs = Vec::new();
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*entry };
        // SAFETY: a sockaddr getifaddrs returned, or null.
        if let Some(addr) = unsafe { sockaddr_ip(ifa.ifa_addr) } {
            // On a broadcast interface `ifa_ifu` is the broadcast address; on a point-to-point
            // one it is the peer's, which is a host.
            let broadcast = if ifa.ifa_flags & libc::IFF_BROADCAST as u32 != 0 {
                // SAFETY: as above.
                match unsafe { sockaddr_ip(ifa.ifa_ifu) } {
                    Some(IpAddr::V4(b)) => Some(b),
                    _ => None,
                }
            } else {
                None
            };
            addrs.push(HostAddr {
                addr,
                // SAFETY: as above.
                netmask: unsafe { sockaddr_ip(ifa.ifa_netmask) },
                broadcast,
            });
        }
        entry = ifa.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(addrs)
}

/// The IP address in a sockaddr of getifaddrs's list, if it is one.
///
/// # Safety
/// `sa` is null or points to a sockaddr whose family says its type, as getifaddrs gives them.
unsafe fn sockaddr_ip(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller's promise; the family says which sockaddr type `sa` points to.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*(sa as *const libc::sockaddr_in);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    sin.sin_addr.s_addr,
                ))))
            }
            libc::AF_INET6 => {
                let sin6 = &*(sa as *const libc::sockaddr_in6);
                Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_addresses_are_served_as_given() {
        let listen: Vec<SocketAddr> = vec![
            "192.0.2.1:53".parse().unwrap(),
            "[2001:db8::1]:5353".parse().unwrap(),
        ];
        let served = served_addresses(&listen).unwrap();
        assert_eq!(
            served,
            ["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()].into()
        );
    }

    #[test]
    fn a_wildcard_stands_for_the_hosts_addresses_of_its_family() {
        let served = served_addresses(&["0.0.0.0:53".parse().unwrap()]).unwrap();
        assert!(
            served.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)),
            "{served:?}"
        );
        assert!(served.iter().all(IpAddr::is_ipv4));
    }

    fn edges(addr: &str, prefix_len: u32, broadcast: Option<&str>) -> Vec<String> {
        let netmask = Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix_len).unwrap_or(0));
        let mut out: Vec<String> = ipv4_subnet_edges(
            addr.parse().unwrap(),
            netmask,
            broadcast.map(|b| b.parse().unwrap()),
        )
        .map(|a| a.to_string())
        .collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn a_subnets_edges_are_its_network_and_broadcast_addresses() {
        assert_eq!(edges("192.0.2.1", 24, None), ["192.0.2.0", "192.0.2.255"]);
        assert_eq!(
            edges("192.0.2.77", 24, Some("192.0.2.255")),
            ["192.0.2.0", "192.0.2.255"]
        );
        assert_eq!(
            edges("198.51.101.7", 22, None),
            ["198.51.100.0", "198.51.103.255"]
        );
        assert_eq!(
            edges("203.0.113.9", 30, None),
            ["203.0.113.11", "203.0.113.8"]
        );
        assert_eq!(edges("192.0.2.1", 24, Some("0.0.0.0")).len(), 2);
    }

    #[test]
    fn a_configured_broadcast_address_is_one_too() {
        assert_eq!(
            edges("192.0.2.1", 24, Some("192.0.2.127")),
            ["192.0.2.0", "192.0.2.127", "192.0.2.255"]
        );
    }

    #[test]
    fn point_to_point_subnets_and_single_addresses_have_none() {
        // RFC 3021: both addresses of a /31 are hosts, whatever broadcast is configured.
        assert!(edges("192.0.2.0", 31, None).is_empty());
        assert!(edges("192.0.2.1", 31, Some("192.0.2.1")).is_empty());
        assert!(edges("192.0.2.1", 32, None).is_empty());
    }

    #[test]
    fn the_hosts_subnets_include_loopbacks() {
        let edges = subnet_edges().unwrap();
        assert!(edges.contains(&"127.0.0.0".parse().unwrap()), "{edges:?}");
        assert!(
            edges.contains(&"127.255.255.255".parse().unwrap()),
            "{edges:?}"
        );
    }
}
