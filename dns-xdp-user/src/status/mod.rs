//! `dns-xdp status`: the running agent's state as one document ([`Report`]), made by the agent
//! when asked (it owns the state: nothing here is recomputed from the config), handed out on a
//! Unix socket ([`socket`]), judged by [`problems`] and shown by `cli/status.rs`.
//!
//! The document is also what `dns-xdp status --json` prints, so its field names are an
//! interface: a change that breaks a reader raises [`FORMAT_VERSION`].

pub mod problems;
pub mod share;
pub mod socket;

use std::{net::IpAddr, path::PathBuf};

use serde::{Deserialize, Serialize};

/// The version of [`Report`]'s layout; a reader refuses another.
pub const FORMAT_VERSION: u32 = 1;

/// Where the agent answers `dns-xdp status` unless told otherwise: in the runtime directory
/// the systemd unit gives it (`RuntimeDirectory=dns-xdp`).
pub const SOCKET: &str = "/run/dns-xdp/status.sock";

/// The agent's state at one moment. Times are Unix seconds on the agent's clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub version: u32,
    /// When the agent made this report.
    pub now: u64,
    pub agent: Agent,
    /// None with XDP off.
    pub fast_path: Option<FastPath>,
    pub fallback: Fallback,
    /// Answers and fallback faults over the last minute (or since the start, if sooner).
    pub last_minute: share::Window,
    pub zones: Vec<Zone>,
    /// The fast path's signatures (None: nothing it serves is signed).
    pub signatures: Option<Signatures>,
    pub pools: Vec<Pool>,
    /// None without health checks.
    pub checker: Option<Checker>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub pid: u32,
    /// When it started.
    pub started: u64,
    pub config: PathBuf,
}

/// How the XDP program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachMode {
    Native,
    Skb,
    /// The program replaced a dead agent's in its pinned link, attached as that one was.
    TakenOver,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FastPath {
    pub interface: String,
    pub mode: AttachMode,
    /// The live answer generation.
    pub generation: u32,
    pub pin_dir: PathBuf,
    /// The kernel does not hold everything published yet; a repair is scheduled.
    pub behind: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fallback {
    /// The addresses it serves on, UDP and TCP.
    pub listen: Vec<String>,
    /// Since the start: serving threads and accept loops that ended and were restarted.
    pub restarts: u64,
    /// Since the start: panics caught while serving.
    pub panics: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    pub origin: String,
    pub serial: u32,
    pub source: Source,
    /// None: served unsigned.
    pub signing: Option<Signing>,
}

/// Where a zone's data comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A zone file, read at start and at each reload.
    File { path: PathBuf },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signing {
    /// The keys' algorithm, e.g. ECDSAP256SHA256.
    pub algorithm: String,
    pub keys: Vec<Key>,
    /// How long a signature is valid, and how long before its expiry it is replaced.
    pub validity_seconds: u64,
    pub refresh_seconds: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub tag: u16,
    /// KSK, ZSK or CSK.
    pub role: String,
    /// published, active or retired.
    pub state: String,
}

/// The renewal of the signatures the fast path serves (the fallback signs on demand, from a
/// cache the signer renews by itself).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signatures {
    /// When the first of them is due for renewal.
    pub renew_at: u64,
    /// No signature in service expires before this: the due time plus the shortest refresh
    /// of the signed zones.
    pub valid_until_at_least: u64,
    /// A renewal failed and is tried again at this time.
    pub retry_at: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub name: String,
    /// A or AAAA.
    pub rtype: String,
    /// failover, weighted or geo.
    pub policy: String,
    pub ttl: u32,
    pub members: Vec<Member>,
    /// What it answers now: one entry for every client, or one per region for a geo pool.
    pub answers: Vec<Answer>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub address: IpAddr,
    pub weight: u32,
    /// Geo pools: the member's region.
    pub region: Option<String>,
    /// The check's name; None: not checked, always up.
    pub check: Option<String>,
    pub health: Health,
    /// The last check's port (with `address`, the target checked).
    pub port: Option<u16>,
    /// What the last check saw ("HTTP 200", "connect refused", ...).
    pub reason: Option<String>,
    pub last_check: Option<u64>,
    pub latency_ms: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Up,
    Down,
    /// Checked, but no result yet: counted as up.
    Unchecked,
    /// No check: always up.
    Unmonitored,
}

/// A pool's answer for the clients of one region.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// None: every client (failover and weighted pools), or, in a geo pool, the clients no
    /// region covers.
    pub region: Option<String>,
    /// Each query gets one of these address sets; none: NODATA.
    pub variants: Vec<Vec<IpAddr>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checker {
    pub targets: usize,
    /// When it last completed a check of any target.
    pub last_activity: Option<u64>,
    /// The longest interval between two checks of one target.
    pub longest_interval_seconds: f64,
}

/// A length of time in seconds for people, in its two largest units: `45s`, `5m 12s`, `2h`,
/// `1d 3h`.
pub fn span(seconds: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let Some(first) = UNITS.iter().position(|(size, _)| seconds >= *size) else {
        return "0s".to_string();
    };
    let (size, unit) = UNITS[first];
    let mut text = format!("{}{unit}", seconds / size);
    if let Some(&(next, next_unit)) = UNITS.get(first + 1) {
        let rest = seconds % size / next;
        if rest > 0 {
            text.push_str(&format!(" {rest}{next_unit}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_in_two_units() {
        for (seconds, text) in [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (312, "5m 12s"),
            (7200, "2h"),
            (3725, "1h 2m"),
            (97200, "1d 3h"),
        ] {
            assert_eq!(super::span(seconds), text);
        }
    }
}
