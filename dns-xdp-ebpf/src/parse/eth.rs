//! Ethernet with zero, one or two VLAN tags (802.1Q, and 802.1ad outer tags for QinQ).

use aya_ebpf::programs::XdpContext;
use dns_xdp_common::counters::Counter;
use network_types::{eth::EthHdr, vlan::VlanHdr};

use super::ptr_at;

pub const ETH_P_IPV4: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86DD;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88A8;

/// Where the network layer starts and which protocol it is.
pub struct L3 {
    pub offset: usize,
    pub ether_type: u16,
}

#[inline(always)]
pub fn parse(ctx: &XdpContext) -> Result<L3, Counter> {
    let eth: *const EthHdr = ptr_at(ctx, 0, Counter::PassNotDns)?;
    let mut ether_type = u16::from_be(unsafe { (*eth).ether_type });
    let mut offset = EthHdr::LEN;
    // Two tags at most: QinQ is the deepest stacking an edge host sees in practice.
    for _ in 0..2 {
        if ether_type != ETH_P_8021Q && ether_type != ETH_P_8021AD {
            break;
        }
        let vlan: *const VlanHdr = ptr_at(ctx, offset, Counter::PassNotDns)?;
        ether_type = u16::from_be(unsafe { (*vlan).ether_type });
        offset += VlanHdr::LEN;
    }
    if ether_type != ETH_P_IPV4 && ether_type != ETH_P_IPV6 {
        return Err(Counter::PassNotDns);
    }
    Ok(L3 { offset, ether_type })
}

/// Passes up a frame sent to a group address (broadcast or multicast): its answer would go out
/// from that address, which no frame may come from. The kernel's stack answers it from ours.
#[inline(always)]
pub fn check_unicast(ctx: &XdpContext) -> Result<(), Counter> {
    let eth: *const EthHdr = ptr_at(ctx, 0, Counter::PassInternal)?;
    // The group bit is the first octet's least significant (IEEE 802).
    if unsafe { (*eth).dst_addr[0] } & 1 != 0 {
        return Err(Counter::PassNotUnicast);
    }
    Ok(())
}
