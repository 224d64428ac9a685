//! Every DNS server the benchmarks compare, started the same way: in a topology's server
//! namespace, serving one zone file as example.com. on port 53 of the server's IPv4 and IPv6
//! addresses, and answering before `start` returns.

use std::path::Path;

use anyhow::Result;

use crate::{
    agent::Agent,
    knot::{Knot, KnotZone},
    netns::Topology,
    nsd::Nsd,
};

/// Which server, and how it is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    /// `dns-xdp run` with this `xdp_mode` ("native", "skb" or "off") on the server's veth end.
    DnsXdp { xdp_mode: &'static str },
    /// knotd with one UDP, one TCP and one background worker; with `xdp`, UDP is answered by
    /// its AF_XDP mode on the server's veth end.
    Knot { xdp: bool },
    /// nsd with one server process and RRL off.
    Nsd,
}

/// A running server; stopped on drop (each harness's own `Drop`), or by [`Server::stop`].
pub enum Server {
    DnsXdp(Agent),
    Knot(Knot),
    Nsd(Nsd),
}

impl Server {
    pub fn start(spec: Spec, topology: &Topology, zone: &Path) -> Result<Self> {
        let addrs = [topology.server_v4.into(), topology.server_v6.into()];
        let zones = [KnotZone::new("example.com.", zone)];
        Ok(match spec {
            Spec::DnsXdp { xdp_mode } => Server::DnsXdp(Agent::start(topology, zone, xdp_mode)?),
            Spec::Knot { xdp: false } => {
                Server::Knot(Knot::start(&topology.server_ns, &addrs, &zones)?)
            }
            Spec::Knot { xdp: true } => Server::Knot(Knot::start_xdp(
                &topology.server_ns,
                &addrs,
                &zones,
                &topology.server_if,
            )?),
            Spec::Nsd => Server::Nsd(Nsd::start(topology, zone)?),
        })
    }

    /// Stops the server and waits for it to exit, failing if it does not within 10 s.
    pub fn stop(self) -> Result<()> {
        match self {
            Server::DnsXdp(mut agent) => {
                agent.stop()?;
            }
            Server::Knot(mut knot) => {
                knot.stop()?;
            }
            Server::Nsd(mut nsd) => nsd.stop()?,
        }
        Ok(())
    }
}
