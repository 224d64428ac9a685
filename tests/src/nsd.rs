//! NSD (`nsd`, from Debian's `nsd` package) as a peer in the benchmarks: one server process,
//! RRL off, started in a topology's server namespace with its config, pid file, xfrd state and
//! log in a directory of its own, stopped (SIGTERM) and cleaned up on drop.

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use hickory_proto::op::ResponseCode;

use crate::{
    bench::{ask, tool},
    netns::Topology,
    process::{terminate, unblock_signals},
};

/// How long NSD may take to serve a zone (a million records take a while).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `nsd -d` (foreground) serving example.com. on port 53 of the server's IPv4 and IPv6
/// addresses.
pub struct Nsd {
    child: Option<Child>,
    dir: PathBuf,
}

impl Nsd {
    /// Writes the config, starts nsd in the server namespace and waits until it answers the
    /// zone's SOA from the client namespace.
    pub fn start(topology: &Topology, zone: &Path) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("dns-xdp-nsd-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let d = dir.display();
        let zone = zone
            .canonicalize()
            .with_context(|| format!("zone file {}", zone.display()))?;
        let config = format!(
            "server:\n\
             \x20   ip-address: {v4}\n\
             \x20   ip-address: {v6}\n\
             \x20   port: 53\n\
             \x20   server-count: 1\n\
             \x20   reuseport: no\n\
             \x20   username: \"\"\n\
             \x20   chroot: \"\"\n\
             \x20   zonesdir: \"{d}\"\n\
             \x20   database: \"\"\n\
             \x20   zonelistfile: \"{d}/zone.list\"\n\
             \x20   xfrdfile: \"{d}/xfrd.state\"\n\
             \x20   xfrdir: \"{d}\"\n\
             \x20   pidfile: \"{d}/nsd.pid\"\n\
             \x20   logfile: \"{d}/nsd.log\"\n\
             \x20   verbosity: 0\n\
             \x20   hide-version: yes\n\
             \x20   hide-identity: yes\n\
             \x20   # No NS RRset in the authority section of positive answers: as Knot and dns-xdp.\n\
             \x20   minimal-responses: yes\n\
             \x20   rrl-ratelimit: 0\n\
             \x20   rrl-whitelist-ratelimit: 0\n\
             \n\
             remote-control:\n\
             \x20   control-enable: no\n\
             \n\
             zone:\n\
             \x20   name: example.com\n\
             \x20   zonefile: \"{zone}\"\n",
            v4 = topology.server_v4,
            v6 = topology.server_v6,
            zone = zone.display(),
        );
        let config_path = dir.join("nsd.conf");
        fs::write(&config_path, config)?;
        let mut cmd = Command::new(tool("nsd")?);
        cmd.arg("-d")
            .arg("-c")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        unblock_signals(&mut cmd);
        let child = topology.spawn(&topology.server_ns, &mut cmd)?;
        let mut nsd = Nsd {
            child: Some(child),
            dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let server = SocketAddr::new(topology.server_v4.into(), 53);
        loop {
            let reply = ask(&topology.client_ns, server, "example.com.", 6)?;
            if reply.is_some_and(|m| {
                m.metadata.response_code == ResponseCode::NoError && !m.answers.is_empty()
            }) {
                return Ok(nsd);
            }
            if let Some(status) = nsd.child.as_mut().expect("running").try_wait()? {
                bail!("nsd exited with {status} before serving: {}", nsd.log());
            }
            if Instant::now() > deadline {
                bail!("nsd did not serve within {START_TIMEOUT:?}: {}", nsd.log());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// What nsd logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("nsd.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for nsd to exit.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        terminate(&mut child, "nsd")?;
        Ok(())
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
