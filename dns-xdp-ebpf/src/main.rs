//! dns-xdp's fast path: answers A/AAAA queries from BPF maps in place with `XDP_TX`, and passes
//! everything it cannot answer exactly right up to the kernel's stack (and the fallback server)
//! unchanged.
#![no_std]
#![no_main]

mod csum;
mod maps;
mod parse;
mod respond;

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use dns_xdp_common::counters::Counter;

#[xdp]
pub fn dns_xdp(ctx: XdpContext) -> u32 {
    match try_dns_xdp(&ctx) {
        Ok(counter) => {
            maps::count(counter);
            xdp_action::XDP_TX
        }
        Err(counter) => {
            maps::count(counter);
            if counter == Counter::DropRewrite {
                xdp_action::XDP_DROP
            } else {
                xdp_action::XDP_PASS
            }
        }
    }
}

/// Parses the frame layer by layer and rewrites it into the answer. Every `Err` names the
/// counter of the reason the frame goes up; the frame is only modified once the answer is known
/// to fit, so a passed frame is always the frame that arrived.
fn try_dns_xdp(ctx: &XdpContext) -> Result<Counter, Counter> {
    let scratch = maps::SCRATCH.get_ptr_mut(0).ok_or(Counter::PassInternal)?;
    let l3 = parse::eth::parse(ctx)?;
    let mut ip = parse::ip::parse(ctx, scratch, l3)?;
    let mut udp = parse::udp::parse(ctx, &ip)?;
    let served = maps::served(&ip.dst).ok_or(Counter::PassNotOurs)?;
    parse::converge(scratch, &mut ip, &mut udp)?;
    // A DNS query to us. Only now whether it came from where a client can be, so these
    // counters count queries rather than the ARP, DHCP or mDNS frames that share their traits.
    parse::eth::check_unicast(ctx)?;
    parse::udp::check_source_port(&udp)?;
    let source = parse::ip::check_source(scratch, &ip)?;
    // The served entry's filter clears almost every real client without a second lookup.
    if served.may_hold(source) && maps::never_source(source) {
        return Err(Counter::PassMartian);
    }
    let query = parse::dns::parse(ctx, scratch, &ip, &udp)?;
    respond::answer(ctx, &ip, &udp, &query)
}

/// Passes every frame. Attached to the peer end of test and demo veth pairs: veth drops frames
/// sent with `XDP_TX` unless the receiving end runs an XDP program.
#[xdp]
pub fn xdp_pass(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// Benchmark baseline, never attached: swaps the MAC addresses and sends the frame back, the
/// least an XDP responder can do. `cargo xtask bench xdp` compares the responder against it.
#[xdp]
pub fn bench_mac_swap(ctx: XdpContext) -> u32 {
    match parse::ptr_at::<network_types::eth::EthHdr>(&ctx, 0, Counter::PassNotDns) {
        Ok(eth) => {
            let eth = unsafe { &mut *eth };
            core::mem::swap(&mut eth.src_addr, &mut eth.dst_addr);
            xdp_action::XDP_TX
        }
        Err(_) => xdp_action::XDP_PASS,
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
