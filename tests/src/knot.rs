//! Knot DNS (`knotd`, from Debian's `knot` package) as the reference server of the differential
//! test: started in a network namespace with its config, run directory and databases in a
//! directory of its own, and stopped (SIGTERM) and cleaned up on drop.

use std::{
    fmt::Write as _,
    net::{IpAddr, SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::{
    netns::in_netns,
    packet::Query,
    process::{append_output, terminate, unblock_signals},
};

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// How long knotd may take from start to serving every zone.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One zone for Knot to serve: its apex and master file.
#[derive(Clone, Debug)]
pub struct KnotZone {
    /// The apex, e.g. "example.com." (a trailing dot is optional).
    pub domain: String,
    pub file: PathBuf,
}

impl KnotZone {
    pub fn new(domain: &str, file: &Path) -> Self {
        Self {
            domain: domain.to_owned(),
            file: file.to_owned(),
        }
    }
}

/// A `knotd` process serving zones on port 53 of some addresses in a network namespace.
pub struct Knot {
    child: Option<Child>,
    /// Config, run directory (pid file, control socket) and databases.
    dir: PathBuf,
    config_path: PathBuf,
    /// The config knotd runs with.
    pub config: String,
    /// Where it listens, UDP and TCP.
    pub listen: Vec<SocketAddr>,
    log: Arc<Mutex<String>>,
    /// (namespace, interface) of knotd's XDP mode, whose program knotd leaves attached when it
    /// exits (so that a restart keeps the interface's traffic flowing); stop detaches it.
    xdp: Option<(String, String)>,
}

/// The `knotd` binary: on PATH, else where Debian puts it.
fn binary(name: &str) -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "{name} not found: install Debian's knot package (`apt-get install knot`; \
                 `cargo xtask setup` does)"
            )
        })
}

impl Knot {
    /// The installed Knot version, e.g. "3.2.6", from `knotd --version`.
    pub fn version() -> Result<String> {
        let output = Command::new(binary("knotd")?)
            .arg("--version")
            .output()
            .context("failed to run knotd --version")?;
        let text = String::from_utf8_lossy(&output.stdout);
        // "knotd (Knot DNS), version 3.2.6"
        text.split_whitespace()
            .last()
            .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
            .map(str::to_owned)
            .with_context(|| format!("unexpected knotd --version output: {text:?}"))
    }

    /// Writes a config serving `zones` on port 53 of `addrs`, starts knotd in the network
    /// namespace `ns` and waits until it answers the SOA query of every zone authoritatively.
    /// The addresses must already be configured in `ns`.
    pub fn start(ns: &str, addrs: &[IpAddr], zones: &[KnotZone]) -> Result<Self> {
        Self::start_with(ns, addrs, zones, None)
    }

    /// As [`Knot::start`], and with Knot's XDP mode on `interface` (in `ns`): its XDP program
    /// hands UDP queries to port 53 to an AF_XDP socket and its XDP worker answers them (one
    /// worker per queue: one on a veth). The addresses stay bound for everything else.
    pub fn start_xdp(
        ns: &str,
        addrs: &[IpAddr],
        zones: &[KnotZone],
        interface: &str,
    ) -> Result<Self> {
        Self::start_with(ns, addrs, zones, Some(interface))
    }

    fn start_with(
        ns: &str,
        addrs: &[IpAddr],
        zones: &[KnotZone],
        xdp: Option<&str>,
    ) -> Result<Self> {
        ensure!(!addrs.is_empty(), "knotd needs an address to listen on");
        ensure!(!zones.is_empty(), "knotd needs a zone to serve");
        let binary = binary("knotd")?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dns-xdp-knot-{}-{id}", std::process::id()));
        // A directory left by a killed earlier process with the same pid would hold its
        // databases; start clean.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let listen: Vec<SocketAddr> = addrs.iter().map(|&ip| SocketAddr::new(ip, 53)).collect();
        let config = config_text(&dir, &listen, zones, xdp)?;
        let config_path = dir.join("knot.conf");
        std::fs::write(&config_path, &config)?;

        let mut cmd = Command::new(binary);
        cmd.arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        unblock_signals(&mut cmd);
        let mut child = in_netns(ns, || cmd.spawn())?
            .with_context(|| format!("failed to start knotd in {ns}"))?;
        let log = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().expect("piped");
        append_output(pipe, &log);
        let mut knot = Self {
            child: Some(child),
            dir,
            config_path,
            config,
            listen,
            log,
            xdp: xdp.map(|interface| (ns.to_owned(), interface.to_owned())),
        };
        knot.wait_serving(ns, zones)?;
        Ok(knot)
    }

    /// Polls each zone's SOA over UDP from inside `ns` until knotd answers it with NOERROR and
    /// AA (it loads zones in the background after it starts listening, answering SERVFAIL
    /// meanwhile).
    fn wait_serving(&mut self, ns: &str, zones: &[KnotZone]) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let server = self.listen[0];
        for zone in zones {
            let query = Query::new(&zone.domain, u16::from(RecordType::SOA)).encode();
            loop {
                let query = query.clone();
                let reply = in_netns(ns, move || udp_exchange(server, &query))?;
                if let Some(message) = reply.and_then(|r| Message::from_vec(&r).ok()) {
                    if message.metadata.response_code == ResponseCode::NoError
                        && message.metadata.authoritative
                        && !message.answers.is_empty()
                    {
                        break;
                    }
                }
                if let Some(status) = self.child.as_mut().expect("running").try_wait()? {
                    bail!("knotd exited with {status} before serving: {}", self.log());
                }
                if Instant::now() > deadline {
                    bail!(
                        "knotd did not serve {} within {START_TIMEOUT:?}: {}",
                        zone.domain,
                        self.log()
                    );
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// Everything knotd logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Runs `knotc` against this server's control socket (e.g. `["zone-status"]`) and returns
    /// its output.
    pub fn knotc(&self, args: &[&str]) -> Result<String> {
        let output = Command::new(binary("knotc")?)
            .arg("-c")
            .arg(&self.config_path)
            .args(args)
            .output()
            .context("failed to run knotc")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "knotc {} failed: {}{}",
                args.join(" "),
                text,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(text)
    }

    /// Sends SIGTERM, waits for knotd to exit and detaches the XDP program it leaves behind.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("knotd already stopped")?;
        let status = terminate(&mut child, "knotd")?;
        if let Some((ns, interface)) = self.xdp.take() {
            let output = Command::new("ip")
                .args(["-n", &ns, "link", "set", "dev", &interface, "xdp", "off"])
                .output()
                .context("failed to run ip")?;
            ensure!(
                output.status.success(),
                "detaching knotd's XDP program from {interface} in {ns} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(status)
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The knot.conf: one worker of each kind, everything it writes under `dir`, and the zones
/// loaded whole from their files, checked, and never written back; with `xdp`, UDP over XDP on
/// that interface.
fn config_text(
    dir: &Path,
    listen: &[SocketAddr],
    zones: &[KnotZone],
    xdp: Option<&str>,
) -> Result<String> {
    let dir = dir.display();
    let listen = listen
        .iter()
        .map(|addr| format!("{}@{}", addr.ip(), addr.port()))
        .collect::<Vec<_>>()
        .join(", ");
    // UDP only; no route check: a veth end in a namespace is the only way out anyway.
    let xdp = xdp
        .map(|interface| {
            format!(
                "xdp:\n    listen: {interface}\n    udp: on\n    tcp: off\n    route-check: off\n\n"
            )
        })
        .unwrap_or_default();
    let mut text = format!(
        "server:\n\
         \x20   rundir: \"{dir}\"\n\
         \x20   listen: [ {listen} ]\n\
         \x20   udp-workers: 1\n\
         \x20   tcp-workers: 1\n\
         \x20   background-workers: 1\n\
         \x20   # No CHAOS-class identity or version answers (RFC 4892): dns-xdp has none.\n\
         \x20   identity: \"\"\n\
         \x20   version: \"\"\n\
         \n\
         {xdp}\
         log:\n\
         \x20 - target: stderr\n\
         \x20   any: info\n\
         \n\
         database:\n\
         \x20   storage: \"{dir}\"\n\
         \n\
         template:\n\
         \x20 - id: default\n\
         \x20   storage: \"{dir}\"\n\
         \x20   zonefile-load: whole\n\
         \x20   journal-content: none\n\
         \x20   zonefile-sync: -1\n\
         \x20   semantic-checks: on\n\
         \n\
         zone:\n"
    );
    for zone in zones {
        let file = zone
            .file
            .canonicalize()
            .with_context(|| format!("zone file {} for {}", zone.file.display(), zone.domain))?;
        writeln!(
            text,
            "  - domain: {}\n    file: \"{}\"",
            zone.domain,
            file.display()
        )?;
    }
    Ok(text)
}

/// One UDP query and its reply, `None` if none came within a second.
fn udp_exchange(server: SocketAddr, query: &[u8]) -> Option<Vec<u8>> {
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap()
    } else {
        "[::]:0".parse().unwrap()
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    socket.send_to(query, server).ok()?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}
