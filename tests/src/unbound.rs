//! `unbound` (Debian's package) as a validating resolver for the DNSSEC tests: started in a
//! network namespace with trust anchors for our zones and stub zones pointing at dns-xdp,
//! everything (config, log, control socket) in a directory of its own; stopped (SIGTERM) and
//! cleaned up on drop. BIND's `delv` is here too, for a second, cache-less validator.

use std::{
    fmt::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    netns::Topology,
    process::{terminate, unblock_signals},
};

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// How long unbound may take from start to answering its control socket.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A zone unbound resolves by asking `server` directly.
pub struct StubZone {
    pub name: String,
    pub server: IpAddr,
}

pub struct Unbound {
    child: Option<Child>,
    dir: PathBuf,
    config_path: PathBuf,
    ns: String,
    /// Where it answers (port 53).
    pub listen: IpAddr,
}

/// What a query through the resolver returned, from dig's output.
#[derive(Debug)]
pub struct Resolved {
    /// The RCODE, e.g. "NOERROR".
    pub status: String,
    /// AD=1: the resolver validated the answer.
    pub ad: bool,
    /// The answer section, one record a line.
    pub answer: Vec<String>,
    /// dig's whole output, for messages.
    pub output: String,
}

impl Unbound {
    /// Starts unbound in `ns`, listening on `listen`, validating with `trust_anchors` (lines
    /// such as `example.com. DS 12345 13 2 ABCD…`) and sending the `stubs` zones' queries to
    /// their servers. Hardened and strict: no permissive mode, no QNAME minimisation (fewer
    /// queries to follow), `val-log-level: 2` (the log says why something failed).
    pub fn start(
        topology: &Topology,
        ns: &str,
        listen: IpAddr,
        trust_anchors: &[String],
        stubs: &[StubZone],
    ) -> Result<Self> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dns-xdp-unbound-{}-{id}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let config_path = dir.join("unbound.conf");
        let d = dir.display();
        let mut config = format!(
            "server:\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  \
             pidfile: \"{d}/unbound.pid\"\n  logfile: \"{d}/unbound.log\"\n  use-syslog: no\n  \
             verbosity: 1\n  val-log-level: 2\n  interface: {listen}\n  port: 53\n  \
             access-control: 0.0.0.0/0 allow\n  access-control: ::/0 allow\n  \
             do-not-query-localhost: no\n  num-threads: 1\n  \
             module-config: \"validator iterator\"\n  val-permissive-mode: no\n  \
             harden-dnssec-stripped: yes\n  harden-below-nxdomain: yes\n  \
             harden-algo-downgrade: yes\n  harden-glue: yes\n  qname-minimisation: no\n  \
             trust-anchor-signaling: no\n  root-key-sentinel: no\n  prefetch: no\n  \
             serve-expired: no\n"
        );
        for anchor in trust_anchors {
            writeln!(config, "  trust-anchor: \"{anchor}\"")?;
        }
        write!(
            config,
            "remote-control:\n  control-enable: yes\n  control-interface: {d}/unbound.ctl\n  \
             control-use-cert: no\n"
        )?;
        for stub in stubs {
            write!(
                config,
                "stub-zone:\n  name: \"{}\"\n  stub-addr: {}\n",
                stub.name, stub.server
            )?;
        }
        std::fs::write(&config_path, &config)?;
        let check = Command::new("unbound-checkconf")
            .arg(&config_path)
            .output()
            .context("running unbound-checkconf: install Debian's unbound package")?;
        if !check.status.success() {
            bail!(
                "unbound-checkconf refused the config: {}{}\n{config}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
        }
        let mut cmd = Command::new("unbound");
        cmd.arg("-d")
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unblock_signals(&mut cmd);
        let child = topology.spawn(ns, &mut cmd)?;
        let mut unbound = Self {
            child: Some(child),
            dir,
            config_path,
            ns: ns.to_string(),
            listen,
        };
        unbound.wait_ready(topology)?;
        Ok(unbound)
    }

    /// Unbound on 127.0.0.1 in the client namespace, trusting `anchor` alone and asking the
    /// topology's server for `zone`: the validator in front of dns-xdp.
    pub fn start_in_client(topology: &Topology, anchor: String, zone: &str) -> Result<Self> {
        Self::start(
            topology,
            &topology.client_ns,
            IpAddr::from([127, 0, 0, 1]),
            &[anchor],
            &[StubZone {
                name: zone.into(),
                server: topology.server_v4.into(),
            }],
        )
    }

    fn wait_ready(&mut self, topology: &Topology) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.control(topology, &["status"]).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().expect("running").try_wait()? {
                bail!("unbound exited with {status} on start: {}", self.log());
            }
            if Instant::now() > deadline {
                bail!("unbound not ready after {START_TIMEOUT:?}: {}", self.log());
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `unbound-control` with `args` against this unbound; its stdout.
    pub fn control(&self, topology: &Topology, args: &[&str]) -> Result<String> {
        let config = self.config_path.display().to_string();
        let mut all = vec!["-c", config.as_str()];
        all.extend_from_slice(args);
        let output = topology.exec(&self.ns, "unbound-control", &all)?;
        if !output.status.success() {
            bail!(
                "unbound-control {args:?} failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Asks this resolver for `name`/`qtype` with dig (DO=1) from `ns`.
    pub fn resolve(&self, topology: &Topology, ns: &str, name: &str, qtype: &str) -> Resolved {
        let server = format!("@{}", self.listen);
        let output = topology
            .exec(
                ns,
                "dig",
                &[&server, "+dnssec", "+tries=2", "+time=3", name, qtype],
            )
            .unwrap_or_else(|e| panic!("dig: {e}"));
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let status = text
            .split("status: ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap_or("NO REPLY")
            .to_string();
        let ad = text
            .lines()
            .find(|line| line.starts_with(";; flags:"))
            .is_some_and(|line| {
                line.split(';')
                    .nth(2)
                    .unwrap_or("")
                    .split_whitespace()
                    .any(|f| f == "ad")
            });
        let answer = text
            .split(";; ANSWER SECTION:\n")
            .nth(1)
            .map(|rest| {
                rest.lines()
                    .take_while(|line| !line.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Resolved {
            status,
            ad,
            answer,
            output: text,
        }
    }

    /// unbound's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("unbound.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = terminate(&mut child, "unbound");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What BIND's `delv` said about one query.
#[derive(Debug)]
pub struct Delv {
    /// "; fully validated" or "; negative response, fully validated" was printed.
    pub validated: bool,
    /// stdout and stderr.
    pub output: String,
}

/// Runs `delv @server -a anchors +root=<root> name qtype` in `ns`: delv asks `server` (an
/// authoritative server will do) and validates everything itself from the trust anchors in
/// `anchors` (a `trust-anchors { … };` file), with no cache between runs.
pub fn delv(
    topology: &Topology,
    ns: &str,
    server: IpAddr,
    anchors: &Path,
    root: &str,
    name: &str,
    qtype: &str,
) -> Delv {
    let server = format!("@{server}");
    let anchors = anchors.display().to_string();
    let root = format!("+root={root}");
    let output = topology
        .exec(ns, "delv", &[&server, "-a", &anchors, &root, name, qtype])
        .unwrap_or_else(|e| panic!("delv (Debian's bind9-dnsutils): {e}"));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Delv {
        validated: output.lines().any(|line| {
            line == "; fully validated" || line == "; negative response, fully validated"
        }),
        output,
    }
}
