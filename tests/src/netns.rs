//! A server host and a client host for tests, the demo and benchmarks: two network namespaces
//! joined by a veth pair, addressed from the documentation ranges only.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use dns_xdp_user::fastpath::dataplane::PassProgram;

/// Numbers the topologies of this process, so parallel tests get their own namespaces.
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// Locally administered, so they can never clash with a real NIC's.
const SERVER_MAC: [u8; 6] = [0x02, 0x64, 0x78, 0x00, 0x00, 0x01];
const CLIENT_MAC: [u8; 6] = [0x02, 0x64, 0x78, 0x00, 0x00, 0x02];

/// Short, so that stacked VLAN names such as `dxs.ad4094.4094` stay within IFNAMSIZ (15).
/// They need not be unique: each end is created directly in its own namespace.
const SERVER_IF: &str = "dxs";
const CLIENT_IF: &str = "dxc";

/// Two namespaces, `server_ns` and `client_ns`, each holding one end of a veth pair.
/// Dropping it deletes both namespaces, and with them the veth pair and any VLANs on it.
pub struct Topology {
    pub server_ns: String,
    pub client_ns: String,
    /// The veth end in `server_ns`.
    pub server_if: String,
    /// The veth end in `client_ns`.
    pub client_if: String,
    /// 192.0.2.1/24
    pub server_v4: Ipv4Addr,
    /// 192.0.2.2/24
    pub client_v4: Ipv4Addr,
    /// 2001:db8::1/64
    pub server_v6: Ipv6Addr,
    /// 2001:db8::2/64
    pub client_v6: Ipv6Addr,
    pub server_mac: [u8; 6],
    pub client_mac: [u8; 6],
    /// XDP_PASS on `client_if`: a veth delivers frames that its peer's XDP program sends back
    /// with XDP_TX only if it has an XDP program itself, else they vanish without a trace.
    client_xdp: Option<PassProgram>,
}

impl Topology {
    /// Creates both namespaces (named `dnsxdp-<tag>-<pid>-<n>-{server,client}`) and the veth
    /// pair, assigns addresses, brings the links and `lo` up, turns off the veth offloads that
    /// would hide parts of a packet from XDP (TX checksums, VLAN tag insertion) and adds static
    /// neighbour entries both ways, so no ARP or ND packet ever crosses the link. `client_if`
    /// gets an XDP program that passes everything, so replies sent with XDP_TX from
    /// `server_if` arrive; `server_if` is left free for the program under test.
    pub fn create(tag: &str) -> Result<Self> {
        ensure!(
            !tag.is_empty()
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "topology tag {tag:?} must be non-empty ASCII letters, digits, '-' or '_'"
        );
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("dnsxdp-{tag}-{}-{id}", std::process::id());
        let mut topology = Topology {
            server_ns: format!("{prefix}-server"),
            client_ns: format!("{prefix}-client"),
            server_if: SERVER_IF.to_owned(),
            client_if: CLIENT_IF.to_owned(),
            server_v4: Ipv4Addr::new(192, 0, 2, 1),
            client_v4: Ipv4Addr::new(192, 0, 2, 2),
            server_v6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            client_v6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2),
            server_mac: SERVER_MAC,
            client_mac: CLIENT_MAC,
            client_xdp: None,
        };
        // On failure `topology` is dropped here, deleting whatever part of it was made.
        topology.build()?;
        Ok(topology)
    }

    fn build(&mut self) -> Result<()> {
        for ns in [&self.server_ns, &self.client_ns] {
            // This pid is alive, so a namespace already carrying it was left by a dead process
            // that had the same pid and was killed before it could clean up.
            delete_netns(ns);
            ip(&["netns", "add", ns])?;
        }
        // Creating each end inside its namespace means it never appears in the caller's.
        ip(&[
            "link",
            "add",
            &self.server_if,
            "netns",
            &self.server_ns,
            "address",
            &mac_string(self.server_mac),
            "type",
            "veth",
            "peer",
            "name",
            &self.client_if,
            "netns",
            &self.client_ns,
            "address",
            &mac_string(self.client_mac),
        ])?;
        for (ns, ifname) in [
            (&self.server_ns, &self.server_if),
            (&self.client_ns, &self.client_if),
        ] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            // With tag insertion offloaded, VLAN tags would travel in skb metadata, not in the
            // frame that XDP on the other end parses.
            self.exec_checked(
                ns,
                "ethtool",
                &[
                    "-K",
                    ifname,
                    "txvlan",
                    "off",
                    "tx-vlan-stag-hw-insert",
                    "off",
                ],
            )?;
        }
        self.configure_pair(
            (&self.server_if, &self.client_if),
            &[
                (self.server_v4.into(), self.client_v4.into(), 24),
                (self.server_v6.into(), self.client_v6.into(), 64),
            ],
        )?;
        self.attach_client_pass()
    }

    /// Detaches the pass program from `client_if`, freeing its XDP slot for a program of
    /// another tool's (kxdpgun attaches its own); [`Topology::attach_client_pass`] puts it back.
    pub fn detach_client_pass(&mut self) {
        self.client_xdp = None;
    }

    /// Attaches the pass program to `client_if`, whose XDP slot must be free.
    pub fn attach_client_pass(&mut self) -> Result<()> {
        let client_if = self.client_if.clone();
        self.client_xdp = Some(
            in_netns(&self.client_ns, move || PassProgram::attach(&client_if))?
                .context("attaching the XDP pass program to the client end")?,
        );
        Ok(())
    }

    /// Adds an 802.1Q VLAN `vid` on both veth ends, named `<if>.<vid>` (e.g. `dxs.100`), with
    /// the given /24 addresses (use 198.51.100.1 and 198.51.100.2), up, with static
    /// neighbours. Returns the (server, client) interface names. Fails with [`VlanUnsupported`]
    /// on a kernel without 802.1Q support.
    pub fn add_vlan(
        &self,
        vid: u16,
        v4_server: Ipv4Addr,
        v4_client: Ipv4Addr,
    ) -> Result<(String, String)> {
        check_vid(vid)?;
        let names = (
            format!("{}.{vid}", self.server_if),
            format!("{}.{vid}", self.client_if),
        );
        add_vlan_link(&self.server_ns, &self.server_if, &names.0, "802.1Q", vid)?;
        add_vlan_link(&self.client_ns, &self.client_if, &names.1, "802.1Q", vid)?;
        self.configure_pair(
            (&names.0, &names.1),
            &[(v4_server.into(), v4_client.into(), 24)],
        )?;
        Ok(names)
    }

    /// Adds QinQ on both veth ends: an 802.1ad service tag `outer` (`<if>.ad<outer>`) carrying
    /// an 802.1Q tag `inner` (`<if>.ad<outer>.<inner>`, e.g. `dxs.ad300.400`), with the given
    /// /24 addresses (use 203.0.113.1 and 203.0.113.2) on the inner interfaces. The `ad` keeps
    /// the names apart from [`Topology::add_vlan`]'s for the same id. Returns the (server,
    /// client) inner interface names. Fails with [`VlanUnsupported`] on a kernel without
    /// 802.1Q support.
    pub fn add_qinq(
        &self,
        outer: u16,
        inner: u16,
        v4_server: Ipv4Addr,
        v4_client: Ipv4Addr,
    ) -> Result<(String, String)> {
        check_vid(outer)?;
        check_vid(inner)?;
        let mut names = Vec::new();
        for (ns, ifname) in [
            (&self.server_ns, &self.server_if),
            (&self.client_ns, &self.client_if),
        ] {
            let outer_if = format!("{ifname}.ad{outer}");
            let inner_if = format!("{outer_if}.{inner}");
            add_vlan_link(ns, ifname, &outer_if, "802.1ad", outer)?;
            add_vlan_link(ns, &outer_if, &inner_if, "802.1Q", inner)?;
            ip(&["-n", ns, "link", "set", &outer_if, "up"])?;
            names.push(inner_if);
        }
        let client = names.pop().expect("two names");
        let server = names.pop().expect("two names");
        self.configure_pair(
            (&server, &client),
            &[(v4_server.into(), v4_client.into(), 24)],
        )?;
        Ok((server, client))
    }

    /// Runs dig against `server` from the client namespace (one try, 2 s) and returns its
    /// non-empty output lines; panics with dig's stderr if it fails.
    pub fn dig(&self, server: &str, args: &[&str]) -> BTreeSet<String> {
        let server = format!("@{server}");
        let mut all = vec![server.as_str(), "+tries=1", "+time=2"];
        all.extend_from_slice(args);
        let output = self
            .exec(&self.client_ns, "dig", &all)
            .unwrap_or_else(|e| panic!("dig: {e}"));
        assert!(
            output.status.success(),
            "dig {all:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The id of the XDP program attached to `server_if`, if any.
    pub fn server_xdp_program(&self) -> Option<u32> {
        let output = self
            .exec(
                &self.server_ns,
                "ip",
                &["-d", "link", "show", "dev", &self.server_if],
            )
            .ok()?;
        let text = String::from_utf8_lossy(&output.stdout);
        // `prog/xdp id 123` (native) or `prog/xdpgeneric id 123` (skb mode)
        let after = &text[text.find("prog/xdp")?..];
        let id = after.split_whitespace().skip_while(|w| *w != "id").nth(1)?;
        id.parse().ok()
    }

    /// Sets whether `server_if` receives in a kernel thread of its own (threaded NAPI) or in
    /// the softirq of the CPU that sent the frame (the default). The kernel takes the setting
    /// only while the end receives through NAPI, i.e. while an XDP program is attached, and
    /// keeps it when the program goes: so set it after the server under test attached its own.
    pub fn set_server_threaded_napi(&self, threaded: bool) -> Result<()> {
        let file = format!("/sys/class/net/{}/threaded", self.server_if);
        let value = u8::from(threaded);
        // `ip netns exec` mounts the namespace's own /sys, where its interfaces are.
        let output = self.exec(
            &self.server_ns,
            "sh",
            &["-c", &format!("echo {value} > {file} && cat {file}")],
        )?;
        ensure!(
            output.status.success()
                && String::from_utf8_lossy(&output.stdout).trim() == value.to_string(),
            "setting {file} to {value} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(())
    }

    /// Runs `program args` inside `ns` through `ip netns exec` and returns its output,
    /// whatever its exit status.
    /// Gives the client namespace one more address (a backend's, another client's), which
    /// the server reaches over the link: a /32 on the client's end, a route on the server's.
    pub fn add_client_address(&self, addr: &str) -> Result<()> {
        let host = format!("{addr}/32");
        self.exec_checked(
            &self.client_ns,
            "ip",
            &["addr", "add", &host, "dev", &self.client_if],
        )?;
        // Replies leave by the same veth.
        self.exec_checked(
            &self.server_ns,
            "ip",
            &["route", "add", &host, "dev", &self.server_if],
        )
    }

    pub fn exec(&self, ns: &str, program: &str, args: &[&str]) -> Result<Output> {
        Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .output()
            .with_context(|| format!("failed to run {program} in {ns}"))
    }

    /// Spawns `cmd` inside `ns`, keeping its stdio, environment and working directory (which
    /// wrapping it in `ip netns exec` would lose): it is forked from a thread that entered
    /// `ns`. Only the network namespace changes, so unlike under `ip netns exec`, /sys still
    /// shows the caller's interfaces.
    pub fn spawn(&self, ns: &str, cmd: &mut Command) -> Result<Child> {
        in_netns(ns, || cmd.spawn())?
            .with_context(|| format!("failed to spawn {:?} in {ns}", cmd.get_program()))
    }

    fn exec_checked(&self, ns: &str, program: &str, args: &[&str]) -> Result<()> {
        let output = self.exec(ns, program, args)?;
        if !output.status.success() {
            bail!(
                "{program} {} in {ns} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    /// Brings a (server, client) pair of interfaces up with TX checksum offload off (else UDP
    /// checksums stay partial, to be filled in by hardware that a veth does not have), assigns
    /// each (server, client, prefix length) address pair, and adds static neighbour entries
    /// pointing at the other end's MAC.
    fn configure_pair(
        &self,
        (server_if, client_if): (&str, &str),
        addresses: &[(IpAddr, IpAddr, u8)],
    ) -> Result<()> {
        let sides = [
            (&self.server_ns, server_if, self.client_mac, false),
            (&self.client_ns, client_if, self.server_mac, true),
        ];
        for (ns, ifname, peer_mac, is_client) in sides {
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
            self.exec_checked(ns, "ethtool", &["-K", ifname, "tx", "off"])?;
            for &(server_addr, client_addr, prefix) in addresses {
                let (own, peer) = if is_client {
                    (client_addr, server_addr)
                } else {
                    (server_addr, client_addr)
                };
                let own = format!("{own}/{prefix}");
                let mut add = vec!["-n", ns, "addr", "add", &own, "dev", ifname];
                // Without nodad an IPv6 address stays tentative, and unusable, for a while.
                if own.contains(':') {
                    add.push("nodad");
                }
                ip(&add)?;
                ip(&[
                    "-n",
                    ns,
                    "neigh",
                    "replace",
                    &peer.to_string(),
                    "lladdr",
                    &mac_string(peer_mac),
                    "dev",
                    ifname,
                    "nud",
                    "permanent",
                ])?;
            }
        }
        Ok(())
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Deleting a namespace destroys the veth end (and VLANs) in it, and with it the peer.
        for ns in [&self.server_ns, &self.client_ns] {
            delete_netns(ns);
        }
    }
}

/// Runs `f` on a new thread that has entered the network namespace `ns` and returns its
/// result; a panic in `f` is passed on. Sockets that `f` opens stay in `ns` after it returns,
/// so `f` can simply create and return them; the same goes for XDP programs attached by
/// interface name and for processes spawned from `f`.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    let netns = File::open(Path::new("/run/netns").join(ns))
        .with_context(|| format!("network namespace {ns} not found"))?;
    thread::scope(|scope| {
        let thread = scope.spawn(move || -> io::Result<T> {
            // SAFETY: setns changes only the calling thread's network namespace; this thread
            // exists for `f` alone and ends with it.
            if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(f())
        });
        match thread.join() {
            Ok(result) => result.with_context(|| format!("failed to enter network namespace {ns}")),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// For tests that need root (BPF, network namespaces): true if they can run. Otherwise prints
/// a SKIPPED line and returns false, except under CI (the CI variable set), where it panics,
/// because CI must run every test.
pub fn require_root(test: &str) -> bool {
    if is_root() {
        return true;
    }
    let reason =
        format!("{test}: needs root (BPF, network namespaces); run `sudo -E cargo xtask test`");
    if std::env::var_os("CI").is_some() {
        panic!("{reason} (CI must run every test)");
    }
    // Written to the stderr handle, not with eprintln!, which the test harness captures and
    // shows only for failed tests.
    let _ = writeln!(io::stderr(), "SKIPPED {reason}");
    false
}

fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("failed to run ip (is iproute2 installed?)")?;
    if !output.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Deletes `ns` if it exists; never fails, as it runs from `Drop`, but says so if `ns` is left.
fn delete_netns(ns: &str) {
    let path = Path::new("/run/netns").join(ns);
    if !path.exists() {
        return;
    }
    let _ = Command::new("ip").args(["netns", "del", ns]).output();
    if path.exists() {
        // Past the test harness's capture, like `require_root`'s SKIPPED line.
        let _ = writeln!(
            io::stderr(),
            "warning: could not delete network namespace {ns}"
        );
    }
}

/// Creates VLAN interface `name` with `proto` tag `vid` on `parent` inside `ns`.
fn add_vlan_link(ns: &str, parent: &str, name: &str, proto: &str, vid: u16) -> Result<()> {
    ip(&[
        "-n",
        ns,
        "link",
        "add",
        "link",
        parent,
        "name",
        name,
        "type",
        "vlan",
        "proto",
        proto,
        "id",
        &vid.to_string(),
    ])
    .map_err(|err| {
        // What `ip` says when the kernel has no vlan link type (CONFIG_VLAN_8021Q unset).
        if err.to_string().contains("Unknown device type") {
            anyhow::Error::new(VlanUnsupported)
        } else {
            err
        }
    })
}

/// The error of [`Topology::add_vlan`] and [`Topology::add_qinq`] when the kernel cannot make
/// VLAN interfaces, as on this project's CI machines: tests can catch it with
/// `err.is::<VlanUnsupported>()` and send tagged frames through a [`RawSocket`] instead.
#[derive(Debug)]
pub struct VlanUnsupported;

impl fmt::Display for VlanUnsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("this kernel has no 802.1Q VLAN interfaces (CONFIG_VLAN_8021Q)")
    }
}

impl std::error::Error for VlanUnsupported {}

/// The index of `ifname` in the calling thread's network namespace.
fn if_index(ifname: &str) -> Result<u32> {
    let name = CString::new(ifname).context("interface name contains NUL")?;
    // SAFETY: `name` is NUL-terminated.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("no interface {ifname}"));
    }
    Ok(index)
}

/// An AF_PACKET socket on one interface, for whole Ethernet frames: VLAN-tagged traffic where
/// the kernel cannot make VLAN interfaces ([`VlanUnsupported`]), and frames that no IP stack
/// would accept.
pub struct RawSocket {
    fd: OwnedFd,
}

impl RawSocket {
    /// Opens a socket on `ifname` inside `ns` that receives every frame arriving there.
    pub fn open(ns: &str, ifname: &str) -> Result<Self> {
        in_netns(ns, || -> Result<Self> {
            let ifindex = if_index(ifname)?;
            // Protocol 0 receives nothing until bind, so no other interface's frame slips in.
            // SAFETY: plain socket(2) call.
            let fd =
                unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return Err(io::Error::last_os_error())
                    .context("failed to open an AF_PACKET socket");
            }
            // SAFETY: socket(2) returned a new fd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let on: libc::c_int = 1;
            // The kernel moves a received frame's outer VLAN tag into metadata before sockets
            // see the frame; auxdata hands the tag back so `recv` can reinsert it.
            // SAFETY: `on` is a c_int of the size passed.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_PACKET,
                    libc::PACKET_AUXDATA,
                    (&on as *const libc::c_int).cast(),
                    mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error()).context("failed to enable PACKET_AUXDATA");
            }
            // SAFETY: sockaddr_ll is plain data, valid when zeroed.
            let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
            addr.sll_ifindex = ifindex as i32;
            // SAFETY: `addr` is a sockaddr_ll of the size passed.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&addr as *const libc::sockaddr_ll).cast(),
                    mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error())
                    .with_context(|| format!("failed to bind an AF_PACKET socket to {ifname}"));
            }
            Ok(RawSocket { fd })
        })?
    }

    /// Sends `frame`, a whole Ethernet frame with any VLAN tags inline, out of the interface.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        // SAFETY: `frame` is valid for reads of its length.
        let sent =
            unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error()).context("failed to send a raw frame");
        }
        ensure!(
            sent as usize == frame.len(),
            "sent {sent} of {} bytes",
            frame.len()
        );
        Ok(())
    }

    /// The next frame to arrive on the interface (frames it sends are skipped), with its outer
    /// VLAN tag, which the kernel strips on receipt, back in place; `None` if none arrives
    /// within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(None);
            }
            let mut poll = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = remaining.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: `poll` is one valid pollfd.
            if unsafe { libc::poll(&mut poll, 1, millis) } < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err).context("poll on a raw socket failed");
            }
            if poll.revents & libc::POLLIN == 0 {
                ensure!(
                    poll.revents == 0,
                    "raw socket failed (poll revents {:#x})",
                    poll.revents
                );
                continue;
            }
            if let Some(frame) = self.recv_one()? {
                return Ok(Some(frame));
            }
        }
    }

    /// Reads one waiting frame; `None` if it was one the interface sent.
    fn recv_one(&self) -> Result<Option<Vec<u8>>> {
        let mut frame = vec![0u8; 65536];
        // u64s keep the control buffer aligned for cmsghdr.
        let mut control = [0u64; 16];
        // SAFETY: sockaddr_ll is plain data, valid when zeroed.
        let mut addr: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: frame.as_mut_ptr().cast(),
            iov_len: frame.len(),
        };
        // SAFETY: msghdr is plain data, valid when zeroed.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_name = (&mut addr as *mut libc::sockaddr_ll).cast();
        msg.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control);
        // SAFETY: every buffer `msg` points to is live and as long as it says.
        let len = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) };
        if len < 0 {
            return Err(io::Error::last_os_error()).context("failed to receive a raw frame");
        }
        if addr.sll_pkttype == libc::PACKET_OUTGOING {
            return Ok(None);
        }
        frame.truncate(len as usize);
        // SAFETY: recvmsg filled in `msg`; the CMSG functions stay within its control buffer.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            // SAFETY: `cmsg` is a valid header within the control buffer.
            let header = unsafe { &*cmsg };
            if header.cmsg_level == libc::SOL_PACKET && header.cmsg_type == libc::PACKET_AUXDATA {
                // SAFETY: PACKET_AUXDATA carries a tpacket_auxdata, not necessarily aligned.
                let aux: libc::tpacket_auxdata =
                    unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
                if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 && frame.len() >= 12 {
                    let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                        aux.tp_vlan_tpid
                    } else {
                        0x8100
                    };
                    let tag = [tpid.to_be_bytes(), aux.tp_vlan_tci.to_be_bytes()].concat();
                    frame.splice(12..12, tag);
                }
            }
            // SAFETY: as for CMSG_FIRSTHDR.
            cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
        }
        Ok(Some(frame))
    }
}

fn check_vid(vid: u16) -> Result<()> {
    ensure!(
        (1..=4094).contains(&vid),
        "VLAN id {vid} is not in 1..=4094"
    );
    Ok(())
}

fn mac_string(mac: [u8; 6]) -> String {
    mac.map(|byte| format!("{byte:02x}")).join(":")
}
