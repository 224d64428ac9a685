//! Which destination addresses are ours to answer for: the `listen` addresses, where a wildcard
//! (`0.0.0.0`, `::`) stands for every address this host has in that family, as it does for the
//! fallback server's sockets.

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
            served.extend(all.iter().filter(|a| a.is_ipv4() == ip.is_ipv4()));
        } else {
            served.insert(ip);
        }
    }
    Ok(served)
}

/// Every address configured on this host's interfaces (in this network namespace).
fn host_addresses() -> io::Result<Vec<IpAddr>> {
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
        if !ifa.ifa_addr.is_null() {
            // SAFETY: the family says which sockaddr type `ifa_addr` points to.
            match i32::from(unsafe { (*ifa.ifa_addr).sa_family }) {
                libc::AF_INET => {
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    addrs.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        sin.sin_addr.s_addr,
                    ))));
                }
                libc::AF_INET6 => {
                    let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    addrs.push(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)));
                }
                _ => {}
            }
        }
        entry = ifa.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(addrs)
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
}
