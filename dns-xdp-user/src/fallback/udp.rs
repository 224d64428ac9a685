//! A UDP socket's datagrams with the address each was sent to. A socket bound to a wildcard
//! address (`0.0.0.0`, `[::]`) receives for every address of the host, but a plain `send_to`
//! leaves the reply's source to routing, which picks the interface's first address: a client
//! that asked another one drops the reply as from a stranger. So such a socket learns each
//! query's destination (IP_PKTINFO, IPV6_RECVPKTINFO) and sends the reply from it, as Knot and
//! NSD do.

use std::{
    io,
    mem::{size_of, zeroed},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket},
    os::fd::AsRawFd,
};

/// A received datagram: its length, its sender, and the address it was sent to (known on a
/// wildcard socket only).
pub struct Received {
    pub len: usize,
    pub peer: SocketAddr,
    pub local: Option<IpAddr>,
}

/// Room for one IP_PKTINFO or IPV6_PKTINFO control message, 8-byte aligned as cmsghdr wants.
#[repr(C, align(8))]
struct Control([u8; 64]);

pub struct Datagrams {
    socket: UdpSocket,
    /// The socket is bound to a wildcard address: replies name their source.
    wildcard: bool,
}

impl Datagrams {
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        let local = socket.local_addr()?;
        let wildcard = local.ip().is_unspecified();
        if wildcard {
            let (level, option) = match local {
                SocketAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_PKTINFO),
                SocketAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO),
            };
            set_option(&socket, level, option)?;
        }
        Ok(Self { socket, wildcard })
    }

    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Blocks until a datagram arrives.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        if !self.wildcard {
            let (len, peer) = self.socket.recv_from(buf)?;
            return Ok(Received {
                len,
                peer,
                local: None,
            });
        }
        // SAFETY: all-zero is a valid sockaddr_storage, msghdr and control buffer; the msghdr
        // names buffers that live through the call, with their true lengths.
        let mut name: libc::sockaddr_storage = unsafe { zeroed() };
        let mut control = Control([0; 64]);
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_controllen = control.0.len();
        let len = unsafe { libc::recvmsg(self.socket.as_raw_fd(), &mut msg, 0) };
        if len < 0 {
            return Err(io::Error::last_os_error());
        }
        let peer = socket_addr(&name)
            .ok_or_else(|| io::Error::other("a datagram from an address of no IP family"))?;
        Ok(Received {
            len: len as usize,
            peer,
            // SAFETY: `msg` describes the control data the kernel just wrote.
            local: unsafe { destination(&msg) },
        })
    }

    /// Sends `reply` to `peer`, from `local` when the query said where it was sent to.
    pub fn send(&self, reply: &[u8], peer: SocketAddr, local: Option<IpAddr>) -> io::Result<()> {
        let Some(local) = local.filter(|_| self.wildcard) else {
            return self.socket.send_to(reply, peer).map(drop);
        };
        let mut name: libc::sockaddr_storage = unsafe { zeroed() };
        let name_len = write_socket_addr(peer, &mut name);
        let mut control = Control([0; 64]);
        let mut iov = libc::iovec {
            iov_base: reply.as_ptr() as *mut libc::c_void,
            iov_len: reply.len(),
        };
        // SAFETY: as in `recv`; the control message is written inside `control` by the CMSG
        // macros, within the length given to them.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&mut name as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = name_len;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.0.as_mut_ptr().cast();
        unsafe {
            match local {
                IpAddr::V4(v4) => {
                    let info = libc::in_pktinfo {
                        ipi_ifindex: 0,
                        ipi_spec_dst: libc::in_addr {
                            s_addr: u32::from(v4).to_be(),
                        },
                        ipi_addr: libc::in_addr { s_addr: 0 },
                    };
                    msg.msg_controllen =
                        libc::CMSG_SPACE(size_of::<libc::in_pktinfo>() as u32) as usize;
                    let cmsg = libc::CMSG_FIRSTHDR(&msg);
                    (*cmsg).cmsg_level = libc::IPPROTO_IP;
                    (*cmsg).cmsg_type = libc::IP_PKTINFO;
                    (*cmsg).cmsg_len =
                        libc::CMSG_LEN(size_of::<libc::in_pktinfo>() as u32) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
                }
                IpAddr::V6(v6) => {
                    let info = libc::in6_pktinfo {
                        ipi6_addr: libc::in6_addr {
                            s6_addr: v6.octets(),
                        },
                        ipi6_ifindex: 0,
                    };
                    msg.msg_controllen =
                        libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) as usize;
                    let cmsg = libc::CMSG_FIRSTHDR(&msg);
                    (*cmsg).cmsg_level = libc::IPPROTO_IPV6;
                    (*cmsg).cmsg_type = libc::IPV6_PKTINFO;
                    (*cmsg).cmsg_len =
                        libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as usize;
                    std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
                }
            }
            if libc::sendmsg(self.socket.as_raw_fd(), &msg, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

fn set_option(socket: &UdpSocket, level: libc::c_int, option: libc::c_int) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads one c_int from `on`.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The destination address in the PKTINFO control message of `msg`, if there is one.
///
/// # Safety
/// `msg` must describe control data as `recvmsg` left it.
unsafe fn destination(msg: &libc::msghdr) -> Option<IpAddr> {
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        let header = unsafe { &*cmsg };
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        match (header.cmsg_level, header.cmsg_type) {
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                let info: libc::in_pktinfo = unsafe { std::ptr::read_unaligned(data.cast()) };
                return Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                    info.ipi_addr.s_addr,
                ))));
            }
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                let info: libc::in6_pktinfo = unsafe { std::ptr::read_unaligned(data.cast()) };
                return Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
            }
            _ => {}
        }
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    None
}

fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(storage as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(storage as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn write_socket_addr(addr: SocketAddr, storage: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage has room and alignment for a sockaddr_in.
            let sin = unsafe { &mut *(storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage has room and alignment for a sockaddr_in6.
            let sin6 = unsafe { &mut *(storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_flowinfo = v6.flowinfo();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over loopback: a wildcard socket learns each query's destination and replies from it.
    #[test]
    fn a_wildcard_socket_replies_from_the_address_asked() {
        let server = Datagrams::new(UdpSocket::bind("0.0.0.0:0").unwrap()).unwrap();
        let port = server.socket().local_addr().unwrap().port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        // 127.0.0.2 is as much this host's as 127.0.0.1, and not the address routing picks.
        client.connect(("127.0.0.2", port)).unwrap();
        client.send(b"query").unwrap();
        let mut buf = [0u8; 64];
        let got = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got.len], b"query");
        assert_eq!(got.local, Some("127.0.0.2".parse().unwrap()));
        assert_eq!(got.peer, client.local_addr().unwrap());
        server.send(b"reply", got.peer, got.local).unwrap();
        // A connected socket takes datagrams from its peer's address alone.
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let n = client
            .recv(&mut buf)
            .expect("the reply comes from 127.0.0.2");
        assert_eq!(&buf[..n], b"reply");

        let specific = Datagrams::new(UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let to = specific.socket().local_addr().unwrap();
        let unconnected = UdpSocket::bind("127.0.0.1:0").unwrap();
        unconnected.send_to(b"x", to).unwrap();
        let got = specific.recv(&mut buf).unwrap();
        assert_eq!(got.local, None, "a specific socket needs no PKTINFO");
    }

    #[test]
    fn ipv6_wildcard_sockets_learn_the_destination_too() {
        let Ok(socket) = UdpSocket::bind("[::]:0") else {
            return; // no IPv6 on this host
        };
        let server = Datagrams::new(socket).unwrap();
        let port = server.socket().local_addr().unwrap().port();
        let client = UdpSocket::bind("[::1]:0").unwrap();
        client.send_to(b"q", ("::1", port)).unwrap();
        let mut buf = [0u8; 8];
        let got = server.recv(&mut buf).unwrap();
        assert_eq!(got.local, Some("::1".parse().unwrap()));
        server.send(b"r", got.peer, got.local).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        assert_eq!(client.recv(&mut buf).unwrap(), 1);
    }
}
