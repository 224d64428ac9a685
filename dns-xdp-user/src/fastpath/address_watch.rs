//! Word from the kernel that this host's addresses changed (rtnetlink's IPv4 and IPv6 address
//! groups), so that a wildcard `listen` address keeps standing for every address the host has:
//! one added after the start is answered in the fast path too, one removed is no longer.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    time::Duration,
};

use tokio::io::{unix::AsyncFd, Interest};

/// rtnetlink multicast groups (linux/rtnetlink.h).
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;

/// Changes come in bursts (an address, then its routes, then DAD on IPv6): wait this long after
/// the first for the rest, and read the addresses once.
const SETTLE: Duration = Duration::from_millis(200);

pub struct AddressWatch {
    socket: AsyncFd<OwnedFd>,
}

impl AddressWatch {
    /// Subscribes to address changes in this network namespace.
    pub fn open() -> io::Result<Self> {
        // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an all-zero sockaddr_nl is valid; the fields set below are its meaning.
        let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        address.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
        // SAFETY: `address` is a sockaddr_nl of the size given.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&address as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the OwnedFd moves into the AsyncFd, which owns it, open and unchanged, for
        // as long as it lives.
        let socket = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(io::Error::from)?;
        Ok(Self { socket })
    }

    /// Returns once an address was added or removed (and the burst around it is over).
    pub async fn changed(&mut self) -> io::Result<()> {
        loop {
            let mut ready = self.socket.readable().await?;
            let drained = drain(self.socket.get_ref());
            ready.clear_ready();
            if drained? {
                break;
            }
        }
        tokio::time::sleep(SETTLE).await;
        drain(self.socket.get_ref())?;
        Ok(())
    }
}

/// Reads every message waiting; whether there was any. A full socket buffer (ENOBUFS: changes
/// were lost) counts as a change too, since the addresses are read afresh anyway.
fn drain(socket: &OwnedFd) -> io::Result<bool> {
    let mut buf = [0u8; 16 * 1024];
    let mut any = false;
    loop {
        // SAFETY: recv writes at most `buf.len()` bytes into `buf`.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n > 0 {
            any = true;
            continue;
        }
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            _ if n == 0 => Ok(any),
            Some(libc::EAGAIN) => Ok(any),
            Some(libc::ENOBUFS) => Ok(true),
            Some(libc::EINTR) => continue,
            _ => Err(e),
        };
    }
}
