//! kxdpgun (Debian's `knot-dnsutils`), Knot's AF_XDP load generator, run from a topology's
//! client namespace on the client veth end.
//!
//! On a veth it needs nothing of the peer: it attaches its own XDP program to the client end
//! (which must have none: [`Topology::detach_client_pass`]), sends through an AF_XDP socket
//! in copy mode and takes the replies from its program. It leaves that program attached when it
//! exits, so [`Kxdpgun::run`] detaches it. One thread per queue of the interface: one on a veth.
//!
//! It counts replies without matching them to queries, so what a server answers is checked
//! apart (one kdig query) before it is measured. Over IPv4 it sends UDP without a checksum
//! (zero, which RFC 768 allows), which dns-xdp's fast path passes up as unverifiable: measure
//! over IPv6, where the checksum is mandatory and kxdpgun computes it.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    io::Read,
    net::IpAddr,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};

use crate::{bench::tool, netns::Topology};

/// One kxdpgun run.
pub struct Kxdpgun<'a> {
    pub server: IpAddr,
    /// The query file, `name type` per line, read in a loop.
    pub queries: &'a Path,
    /// `-t`.
    pub seconds: f64,
    /// `-Q`, queries per second to send: above what kxdpgun can send, it sends at its ceiling.
    pub qps: u64,
}

/// What a run counted.
#[derive(Clone, Debug, Default)]
pub struct Load {
    pub queries: u64,
    pub replies: u64,
    /// Queries and replies per second, as kxdpgun computes them (over its duration).
    pub offered_qps: f64,
    pub answered_qps: f64,
    /// Replies by RCODE, e.g. {"NOERROR": 1000}.
    pub rcodes: BTreeMap<String, u64>,
    /// The line saying how it sends, e.g. "using interface dxc, XDP threads 1, UDP, native mode".
    pub mode: String,
}

impl Load {
    /// Replies per query sent.
    pub fn answered_share(&self) -> f64 {
        if self.queries == 0 {
            return 0.0;
        }
        self.replies as f64 / self.queries as f64
    }

    /// What a benchmark report records of the run.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "queries": self.queries,
            "replies": self.replies,
            "offered_qps": self.offered_qps,
            "answered_qps": self.answered_qps,
            "answered_share": self.answered_share(),
            "rcodes": self.rcodes,
            "mode": self.mode,
        })
    }

    /// The RCODEs as "NOERROR 1000, NXDOMAIN 2".
    pub fn rcodes_text(&self) -> String {
        let mut text = String::new();
        for (rcode, n) in &self.rcodes {
            let sep = if text.is_empty() { "" } else { ", " };
            let _ = write!(text, "{sep}{rcode} {n}");
        }
        text
    }
}

impl Kxdpgun<'_> {
    /// Runs kxdpgun on the client end (whose XDP slot must be free), waits for it, and
    /// detaches the XDP program it leaves behind.
    pub fn run(&self, topology: &Topology) -> Result<Load> {
        let result = self.run_attached(topology);
        let detached = topology.exec(
            &topology.client_ns,
            "ip",
            &["link", "set", "dev", &topology.client_if, "xdp", "off"],
        );
        let load = result?;
        let output = detached?;
        ensure!(
            output.status.success(),
            "detaching kxdpgun's XDP program from {} failed: {}",
            topology.client_if,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(load)
    }

    fn run_attached(&self, topology: &Topology) -> Result<Load> {
        let mut cmd = Command::new(tool("kxdpgun")?);
        cmd.args(["-t", &format!("{:.1}", self.seconds)])
            .args(["-Q", &self.qps.to_string()])
            .args(["-I", &topology.client_if, "-i"])
            .arg(self.queries)
            .arg(self.server.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = topology.spawn(&topology.client_ns, &mut cmd)?;
        let mut pipes = (
            child.stdout.take().expect("piped"),
            child.stderr.take().expect("piped"),
        );
        let readers = thread::spawn(move || {
            let (mut out, mut err) = (String::new(), String::new());
            let _ = pipes.0.read_to_string(&mut out);
            let _ = pipes.1.read_to_string(&mut err);
            (out, err)
        });
        // It sends for `seconds`, then waits a moment for the last replies.
        let deadline = Instant::now() + Duration::from_secs_f64(self.seconds + 20.0);
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("kxdpgun did not finish within {} s", self.seconds + 20.0);
            }
            thread::sleep(Duration::from_millis(50));
        };
        let (out, err) = readers.join().expect("kxdpgun readers");
        ensure!(
            status.success(),
            "kxdpgun failed ({status}): {}{}",
            err.trim(),
            out.trim()
        );
        parse(&out).with_context(|| format!("kxdpgun's output:\n{out}{err}"))
    }
}

/// The numbers in kxdpgun 3.2's summary:
///
/// ```text
/// using interface dxc, XDP threads 1, UDP, native mode
/// thread#00: sent 150010, received 146236
/// total queries:     150010 (50003 pps)
/// total replies:     146236 (48745 pps) (97%)
/// responded NOERROR:   146236
/// ```
pub fn parse(out: &str) -> Result<Load> {
    // The count after `label:` and the rate in the parentheses after it.
    let counted = |label: &str| -> Option<(u64, f64)> {
        let rest = out
            .lines()
            .find_map(|line| line.trim().strip_prefix(label)?.strip_prefix(':'))?;
        let mut numbers = rest
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty());
        Some((numbers.next()?.parse().ok()?, numbers.next()?.parse().ok()?))
    };
    let (queries, offered_qps) = counted("total queries").context("no \"total queries\" line")?;
    let (replies, answered_qps) = counted("total replies").context("no \"total replies\" line")?;
    let rcodes = out
        .lines()
        .filter_map(|line| {
            let (rcode, n) = line.trim().strip_prefix("responded ")?.split_once(':')?;
            Some((rcode.trim().to_owned(), n.trim().parse().ok()?))
        })
        .collect();
    let mode = out
        .lines()
        .find(|line| line.starts_with("using interface"))
        .unwrap_or_default()
        .to_owned();
    Ok(Load {
        queries,
        replies,
        offered_qps,
        answered_qps,
        rcodes,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As kxdpgun 3.2.6 prints it.
    const OUTPUT: &str = "using interface dxc, XDP threads 1, UDP, native mode
thread#00: sent 1616520, received 379254
total queries:     1616520 (538840 pps)
total replies:     379254 (126418 pps) (23%)
average DNS reply size: 49 B
average Ethernet reply rate: 92032304 bps (92.03 Mbps)
responded NOERROR:   379250
responded NXDOMAIN:   4
duration: 3 s
";

    #[test]
    fn summary() {
        let load = parse(OUTPUT).unwrap();
        assert_eq!((load.queries, load.replies), (1_616_520, 379_254));
        assert_eq!(
            (load.offered_qps, load.answered_qps),
            (538_840.0, 126_418.0)
        );
        assert_eq!(load.rcodes_text(), "NOERROR 379250, NXDOMAIN 4");
        assert_eq!(
            load.mode,
            "using interface dxc, XDP threads 1, UDP, native mode"
        );
        assert!((load.answered_share() - 379_254.0 / 1_616_520.0).abs() < 1e-12);
    }

    #[test]
    fn no_summary_is_an_error() {
        assert!(parse("failed to initialize XDP socket\n").is_err());
    }
}
