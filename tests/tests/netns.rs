//! The test topology itself: reachability over the plain, VLAN and QinQ links, the offloads it
//! turns off, entering its namespaces, raw tagged frames,
//! and cleanup.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::Duration;

use dns_xdp_tests::netns::{in_netns, require_root, RawSocket, Topology, VlanUnsupported};

fn ping(topology: &Topology, from_ns: &str, to: impl Into<IpAddr>) {
    let to = to.into().to_string();
    let output = topology
        .exec(from_ns, "ping", &["-c1", "-W1", &to])
        .unwrap();
    assert!(
        output.status.success(),
        "ping {to} from {from_ns} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn listed_namespaces() -> Vec<String> {
    let output = Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(output.status.success());
    // Lines look like "name" or "name (id: 3)".
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// VLAN and QinQ sub-interfaces, where the kernel can make them (this project's CI kernel
/// cannot; `tagged_frames_cross_the_veth_intact` covers tags there).
fn check_vlan_interfaces(topology: &Topology) {
    let (server_ns, client_ns) = (&topology.server_ns, &topology.client_ns);
    let (server_vlan, client_vlan) = match topology.add_vlan(
        100,
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(198, 51, 100, 2),
    ) {
        Ok(names) => names,
        Err(err) if err.is::<VlanUnsupported>() => {
            // Past the harness's capture of eprintln!, so that every run shows the gap.
            let _ = writeln!(
                io::stderr(),
                "NOTE: {err}: VLAN and QinQ interfaces not checked"
            );
            return;
        }
        Err(err) => panic!("{err:#}"),
    };
    assert_eq!(server_vlan, format!("{}.100", topology.server_if));
    assert_eq!(client_vlan, format!("{}.100", topology.client_if));
    ping(topology, client_ns, Ipv4Addr::new(198, 51, 100, 1));
    ping(topology, server_ns, Ipv4Addr::new(198, 51, 100, 2));

    let (server_qinq, client_qinq) = topology
        .add_qinq(
            300,
            400,
            Ipv4Addr::new(203, 0, 113, 1),
            Ipv4Addr::new(203, 0, 113, 2),
        )
        .unwrap();
    assert_eq!(server_qinq, format!("{}.ad300.400", topology.server_if));
    assert_eq!(client_qinq, format!("{}.ad300.400", topology.client_if));
    ping(topology, client_ns, Ipv4Addr::new(203, 0, 113, 1));
    ping(topology, server_ns, Ipv4Addr::new(203, 0, 113, 2));
    let outer = format!("{}.ad300", topology.server_if);
    let details = topology
        .exec(server_ns, "ip", &["-d", "link", "show", &outer])
        .unwrap();
    let details = String::from_utf8_lossy(&details.stdout);
    assert!(
        details.contains("vlan protocol 802.1ad id 300"),
        "{details}"
    );
}

/// An Ethernet frame from the client to the server with the given (TPID, VLAN id) tags and
/// the local-experimental EtherType, which no stack acts on.
fn tagged_frame(topology: &Topology, tags: &[(u16, u16)], payload: &[u8]) -> Vec<u8> {
    let mut frame = [topology.server_mac, topology.client_mac].concat();
    for &(tpid, vid) in tags {
        frame.extend(tpid.to_be_bytes());
        frame.extend(vid.to_be_bytes());
    }
    frame.extend(0x88b5u16.to_be_bytes());
    frame.extend(payload);
    frame
}

/// Waits for `expected` on `socket`, skipping other traffic (IPv6 link-up chatter).
fn expect_frame(socket: &RawSocket, expected: &[u8]) {
    let mut seen = Vec::new();
    while let Some(frame) = socket.recv(Duration::from_secs(2)).unwrap() {
        if frame == expected {
            return;
        }
        seen.push(frame);
    }
    panic!("frame {expected:02x?} did not arrive; saw {seen:02x?}");
}

#[test]
fn topology_connects_both_hosts_and_cleans_up() {
    if !require_root("topology_connects_both_hosts_and_cleans_up") {
        return;
    }
    let topology = Topology::create("netns-test").unwrap();
    let (server_ns, client_ns) = (&topology.server_ns, &topology.client_ns);

    ping(&topology, client_ns, topology.server_v4);
    ping(&topology, server_ns, topology.client_v4);
    ping(&topology, client_ns, topology.server_v6);
    ping(&topology, server_ns, topology.client_v6);

    check_vlan_interfaces(&topology);

    for (ns, ifname) in [
        (server_ns, &topology.server_if),
        (client_ns, &topology.client_if),
    ] {
        let features = topology.exec(ns, "ethtool", &["-k", ifname]).unwrap();
        let features = String::from_utf8_lossy(&features.stdout);
        for off in [
            "tx-checksumming: off",
            "tx-vlan-offload: off",
            "tx-vlan-stag-hw-insert: off",
        ] {
            assert!(
                features.contains(off),
                "{ifname} in {ns}: no {off:?} in\n{features}"
            );
        }
    }

    let link = topology
        .exec(
            server_ns,
            "ip",
            &["-br", "link", "show", "dev", &topology.server_if],
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&link.stdout).contains("02:64:78:00:00:01"));
    assert_eq!(topology.server_mac, [0x02, 0x64, 0x78, 0x00, 0x00, 0x01]);

    // Sockets opened inside in_netns stay in their namespace, and the addresses exist only there.
    let (server_v4, client_v4) = (topology.server_v4, topology.client_v4);
    assert!(UdpSocket::bind((server_v4, 0)).is_err());
    let server = in_netns(server_ns, || UdpSocket::bind((server_v4, 0)))
        .unwrap()
        .unwrap();
    let client = in_netns(client_ns, || UdpSocket::bind((client_v4, 0)))
        .unwrap()
        .unwrap();
    client
        .send_to(b"query", server.local_addr().unwrap())
        .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0; 16];
    let (len, from) = server.recv_from(&mut buf).unwrap();
    assert_eq!(
        (&buf[..len], from),
        (&b"query"[..], client.local_addr().unwrap())
    );

    // spawn keeps the caller's stdio settings.
    let child = topology
        .spawn(
            client_ns,
            Command::new("ip")
                .args(["-br", "addr", "show", "dev", &topology.client_if])
                .stdout(Stdio::piped()),
        )
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("192.0.2.2/24"));

    let names = [server_ns.clone(), client_ns.clone()];
    let listed = listed_namespaces();
    assert!(names.iter().all(|name| listed.contains(name)), "{listed:?}");
    drop(topology);
    let listed = listed_namespaces();
    assert!(
        !names.iter().any(|name| listed.contains(name)),
        "{listed:?}"
    );
}

#[test]
fn topologies_are_isolated_from_each_other() {
    if !require_root("topologies_are_isolated_from_each_other") {
        return;
    }
    // Same interface names and addresses, yet both work at once.
    let first = Topology::create("isolation").unwrap();
    let second = Topology::create("isolation").unwrap();
    assert_ne!(first.server_ns, second.server_ns);
    ping(&first, &first.client_ns, first.server_v4);
    ping(&second, &second.client_ns, second.server_v6);
}

#[test]
fn in_netns_passes_panics_on_and_rejects_unknown_namespaces() {
    if !require_root("in_netns_passes_panics_on_and_rejects_unknown_namespaces") {
        return;
    }
    assert!(in_netns("dnsxdp-no-such-namespace", || ()).is_err());
    let topology = Topology::create("panic").unwrap();
    let panic = std::panic::catch_unwind(|| in_netns(&topology.server_ns, || panic!("inside")));
    assert_eq!(panic.unwrap_err().downcast_ref::<&str>(), Some(&"inside"));
}

#[test]
fn tagged_frames_cross_the_veth_intact() {
    if !require_root("tagged_frames_cross_the_veth_intact") {
        return;
    }
    let topology = Topology::create("tags").unwrap();
    let client = RawSocket::open(&topology.client_ns, &topology.client_if).unwrap();
    let server = RawSocket::open(&topology.server_ns, &topology.server_if).unwrap();
    for tags in [
        &[][..],
        &[(0x8100, 100)][..],
        &[(0x88a8, 300), (0x8100, 400)][..],
    ] {
        let frame = tagged_frame(&topology, tags, b"dns-xdp tagged frame");
        client.send(&frame).unwrap();
        expect_frame(&server, &frame);
    }
}
