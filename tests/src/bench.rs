//! What the load benchmarks share: finding the peer tools, one query from a namespace, the
//! generated zone and query files every server is measured with, and small statistics.

use std::{
    fs,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result};
use hickory_proto::op::Message;

use crate::{
    netns::{in_netns, require_root},
    packet::Query,
};

/// A load benchmark's `main`: `run` as root, its error chain printed and the exit code 1 on
/// failure; without root it says why it did not run.
pub fn main(name: &str, run: impl FnOnce() -> Result<()>) {
    if !require_root(name) {
        return;
    }
    if let Err(e) = run() {
        eprintln!("{name} failed: {e:#}");
        std::process::exit(1);
    }
}

/// Names with an A and an AAAA record in the benchmark zone.
pub const NAMES: usize = 10_000;
/// Names with a TXT record.
pub const TXT_NAMES: usize = 100;

/// `name` on PATH, or in /usr/sbin or /usr/bin (root's PATH under sudo may lack /usr/sbin).
pub fn tool(name: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .with_context(|| {
            format!("{name} not found: `cargo xtask setup` installs it (Debian package)")
        })
}

/// The first line `program arg` prints (on stdout or stderr), e.g. its version; empty if it
/// cannot run.
pub fn tool_version(program: &str, arg: &str) -> String {
    tool(program)
        .ok()
        .and_then(|path| Command::new(path).arg(arg).output().ok())
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

/// One query over UDP from inside `ns`; `None` if no reply came within a second.
pub fn ask(ns: &str, server: SocketAddr, name: &str, qtype: u16) -> Result<Option<Message>> {
    let query = Query::new(name, qtype).encode();
    in_netns(ns, move || -> Option<Message> {
        let bind: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind).ok()?;
        socket.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        socket.send_to(&query, server).ok()?;
        let mut buf = vec![0u8; 65535];
        let (n, _) = socket.recv_from(&mut buf).ok()?;
        Message::from_vec(&buf[..n]).ok()
    })
}

/// The median of `values` (which it sorts); NaN for none.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// `DNS_XDP_BENCH_ROUNDS` if set to a positive number, else `default`.
pub fn rounds(default: usize) -> usize {
    std::env::var("DNS_XDP_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// The 1, 5 and 15 minute load averages, "1.02 0.87 0.64": other work on the machine, which
/// the benchmarks print beside their figures.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// xorshift64*: the same query files on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The `i`th IPv4 address of the documentation ranges (wrapping after 762).
pub fn doc_v4(i: usize) -> String {
    let net = ["192.0.2", "198.51.100", "203.0.113"][i % 3];
    format!("{net}.{}", 1 + (i / 3) % 254)
}

/// The AAAA address of name `h<i>` in [`write_zone`]'s zone.
pub fn doc_v6(i: usize) -> String {
    format!("2001:db8:0:1::{:x}", i + 1)
}

/// The benchmark zone for example.com.: names `h0`..`h{NAMES-1}` with one A ([`doc_v4`]) and
/// one AAAA ([`doc_v6`]) each, `t0`.. with a TXT, and MX and TXT at the apex.
pub fn write_zone(path: &Path) -> Result<()> {
    let mut text = String::from(
        "$ORIGIN example.com.\n$TTL 300\n\
         @ SOA ns1 hostmaster 1 3600 600 86400 60\n\
         @ NS ns1\n\
         @ MX 10 mail\n\
         @ MX 20 mail2\n\
         @ TXT \"v=spf1 -all\"\n\
         ns1 A 192.0.2.53\n\
         mail A 192.0.2.25\n\
         mail2 A 198.51.100.25\n",
    );
    for i in 0..NAMES {
        text.push_str(&format!("h{i} A {}\nh{i} AAAA {}\n", doc_v4(i), doc_v6(i)));
    }
    for i in 0..TXT_NAMES {
        text.push_str(&format!("t{i} TXT \"bench text {i}\"\n"));
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `lines` queries of a mix an authoritative server sees: 60% A, 20% AAAA, 5% MX, 5% TXT,
/// 10% names that do not exist. One `name type` per line, as dnsperf and kxdpgun read them.
pub fn write_mixed_queries(path: &Path, lines: usize) -> Result<()> {
    let mut rng = Rng(0x5EED_D15C_0FFE_E123);
    let mut text = String::with_capacity(lines * 24);
    for _ in 0..lines {
        text.push_str(&mixed_line(&mut rng));
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// One line of [`write_mixed_queries`]' mix.
fn mixed_line(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..=59 => format!("h{}.example.com A\n", rng.below(NAMES)),
        60..=79 => format!("h{}.example.com AAAA\n", rng.below(NAMES)),
        80..=84 => "example.com MX\n".to_string(),
        85..=89 => format!("t{}.example.com TXT\n", rng.below(TXT_NAMES)),
        _ => format!("nx{}.example.com A\n", rng.below(1_000_000)),
    }
}

/// A random-subdomain flood over the mixed traffic: `flood` lines of unique names under
/// example.com (NXDOMAIN), each in random 0x20 case as resolvers that randomise case send
/// them, interleaved one for one with `flood` lines of [`write_mixed_queries`]' mix, the
/// legitimate traffic whose repeated queries a packet cache should keep answering.
pub fn write_flood_queries(path: &Path, flood: usize) -> Result<()> {
    let mut rng = Rng(0xF100_D5EE_D0BA_D5ED);
    let mut hot = Rng(0x5EED_D15C_0FFE_E123);
    let mut text = String::with_capacity(flood * 48);
    for i in 0..flood {
        // The index makes every name unique; the random part makes them look like an attack's.
        let label = format!("r{i:x}x{:08x}", rng.next_u64() as u32);
        let mut name = String::with_capacity(label.len() + 12);
        for c in label.chars().chain(".example.com".chars()) {
            name.push(if rng.below(2) == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        text.push_str(&name);
        text.push_str(" A\n");
        text.push_str(&mixed_line(&mut hot));
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `lines` queries of what the fast path is for: 80% A, 20% AAAA, for names drawn uniformly
/// from the zone's `h` names, without EDNS.
pub fn write_hot_queries(path: &Path, lines: usize) -> Result<()> {
    let mut rng = Rng(0x0DD5_EED5_CAFE_F00D);
    let mut text = String::with_capacity(lines * 24);
    for _ in 0..lines {
        let qtype = if rng.below(100) < 80 { "A" } else { "AAAA" };
        text.push_str(&format!("h{}.example.com {qtype}\n", rng.below(NAMES)));
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
