//! A `dns-xdp run` process inside a test topology's server namespace, with its config, pin
//! directory, pid file and output, stopped (SIGTERM) and cleaned up on drop.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        mpsc, Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use crate::{
    netns::Topology,
    process::{append_output, terminate, unblock_signals},
};

static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// How long the agent may take from start to serving (it loads and verifies the XDP program).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `dns-xdp` binary: `$DNS_XDP_BIN`, else next to the test executable's target directory.
/// `cargo xtask test` builds it before the tests run.
pub fn agent_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("DNS_XDP_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current executable");
    // target/<profile>/deps/<test> or target/<profile>/<bin>
    let mut dir = exe.parent().expect("executable directory").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join("dns-xdp");
    assert!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p dns-xdp-user --features test-hooks` \
         (`cargo xtask test` does), or set DNS_XDP_BIN",
        bin.display()
    );
    bin
}

/// `dns-xdp stats --json --pin-dir pin_dir`: the fast-path counters pinned there, summed over
/// CPUs, by counter name. Needs no [`Agent`], so a thread can sample them while another holds
/// the agent (to reload it).
pub fn pinned_stats(pin_dir: &Path) -> Result<serde_json::Value> {
    let output = Command::new(agent_binary())
        .args(["stats", "--json", "--pin-dir"])
        .arg(pin_dir)
        .output()?;
    if !output.status.success() {
        bail!(
            "dns-xdp stats failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    serde_json::from_slice(&output.stdout).context("dns-xdp stats --json output")
}

/// How an agent that ran to its end (see [`Agent::run_to_exit`]) ended.
pub struct Exit {
    pub status: ExitStatus,
    pub stderr: String,
    /// Its pin directory outlived it.
    pub left_pins: bool,
}

pub struct Agent {
    child: Option<Child>,
    /// Where the agent pins its maps; unique per agent.
    pub pin_dir: PathBuf,
    /// The agent's `--pid-file`, which `dns-xdp reload` reads.
    pub pid_file: PathBuf,
    /// The agent's `--status-socket`, which `dns-xdp status` reads; unique per agent.
    pub status_socket: PathBuf,
    /// The agent's config file; rewrite it and [`Agent::reload`] to change the config.
    pub config_path: PathBuf,
    dir: PathBuf,
    stderr: Arc<Mutex<String>>,
    /// The agent's stdout, line by line.
    stdout: mpsc::Receiver<String>,
    /// Extra environment of every process this agent launches (restarts too).
    env: Vec<(String, String)>,
}

impl Agent {
    /// Writes a config serving `zone_file` (origin example.com.) on the topology's server
    /// addresses with `xdp_mode`, starts the agent in the server namespace and waits until it
    /// says it is serving.
    pub fn start(topology: &Topology, zone_file: &Path, xdp_mode: &str) -> Result<Self> {
        let config = format!(
            "[server]\ninterface = \"{}\"\nxdp_mode = \"{xdp_mode}\"\nlisten = [\"{}:53\", \"[{}]:53\"]\n\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n",
            topology.server_if,
            topology.server_v4,
            topology.server_v6,
            zone_file.display()
        );
        Self::start_with_config(topology, &config)
    }

    /// Starts the agent with `config` as its config file.
    pub fn start_with_config(topology: &Topology, config: &str) -> Result<Self> {
        Self::start_with_env(topology, config, &[])
    }

    /// Starts the agent with `config` and these extra environment variables.
    pub fn start_with_env(topology: &Topology, config: &str, env: &[(&str, &str)]) -> Result<Self> {
        let mut agent = Self::spawn(topology, config, env)?;
        agent.wait_serving()?;
        agent.check_test_hooks()?;
        Ok(agent)
    }

    /// Fails unless the agent announced every test hook (`DNS_XDP_TEST_*`) in its environment:
    /// one built without the `test-hooks` feature ignores them, and the test would fail later
    /// for no visible reason.
    fn check_test_hooks(&self) -> Result<()> {
        for (variable, _) in self
            .env
            .iter()
            .filter(|(k, _)| k.starts_with("DNS_XDP_TEST_"))
        {
            // Logged before the agent says it serves, but read from its stderr by a thread.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !self.stderr().contains(&format!("{variable} is set")) {
                if Instant::now() > deadline {
                    bail!(
                        "the agent ignored {variable}: {} was built without the test-hooks \
                         feature; build it with `cargo build -p dns-xdp-user --features \
                         test-hooks` (`cargo xtask test` does, and so does `cargo test` from \
                         the workspace root, not from tests/)",
                        agent_binary().display()
                    );
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Starts the agent and waits for it to exit (for configs that must be refused).
    pub fn run_to_exit(topology: &Topology, config: &str) -> Result<Exit> {
        let mut agent = Self::spawn(topology, config, &[])?;
        let deadline = Instant::now() + START_TIMEOUT;
        let child = agent.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait()? {
                // Let the reader thread drain what is left.
                thread::sleep(Duration::from_millis(100));
                return Ok(Exit {
                    status,
                    stderr: agent.stderr(),
                    left_pins: agent.pin_dir.exists(),
                });
            }
            if Instant::now() > deadline {
                bail!(
                    "agent still running after {START_TIMEOUT:?}; stderr: {}",
                    agent.stderr()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn spawn(topology: &Topology, config: &str, env: &[(&str, &str)]) -> Result<Self> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{id}", std::process::id());
        let dir = std::env::temp_dir().join(format!("dns-xdp-agent-{tag}"));
        std::fs::create_dir_all(&dir)?;
        let config_path = dir.join("dns-xdp.toml");
        std::fs::write(&config_path, config)?;
        let (_, stdout) = mpsc::channel();
        let mut agent = Self {
            child: None,
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/dns-xdp-test-{tag}")),
            pid_file: dir.join("agent.pid"),
            status_socket: dir.join("status.sock"),
            config_path,
            dir,
            stderr: Arc::new(Mutex::new(String::new())),
            stdout,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        // As the agent itself would: the harness reads the pins, so they must be where it
        // looks, on the bpffs this process sees.
        if let Some(at) = dns_xdp_user::fastpath::bpffs::ensure(&agent.pin_dir)? {
            eprintln!("mounted bpffs at {} for the tests' pins", at.display());
        }
        agent.launch(topology)?;
        Ok(agent)
    }

    /// Starts the agent process with this agent's config, pin directory and pid file; its
    /// stderr goes on after what earlier processes wrote.
    fn launch(&mut self, topology: &Topology) -> Result<()> {
        let mut cmd = Command::new(agent_binary());
        cmd.arg("run")
            .arg("--config")
            .arg(&self.config_path)
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .arg("--pid-file")
            .arg(&self.pid_file)
            .arg("--status-socket")
            .arg(&self.status_socket)
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        unblock_signals(&mut cmd);
        let mut child = topology.spawn(&topology.server_ns, &mut cmd)?;
        append_output(child.stderr.take().expect("piped"), &self.stderr);
        let (tx, stdout) = mpsc::channel();
        let out_pipe = child.stdout.take().expect("piped");
        thread::spawn(move || {
            for line in BufReader::new(out_pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.child = Some(child);
        self.stdout = stdout;
        Ok(())
    }

    /// Starts a new agent process on this agent's config, pin directory and pid file once the
    /// last one has exited (see [`Agent::kill`]), and waits until it serves; returns its
    /// `dns-xdp: serving` line.
    pub fn restart(&mut self, topology: &Topology) -> Result<String> {
        if self.child.is_some() {
            bail!("the agent is still running");
        }
        self.launch(topology)?;
        self.wait_serving()
    }

    /// Waits for the `dns-xdp: serving` line and returns it.
    fn wait_serving(&mut self) -> Result<String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .stdout
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) if line.starts_with("dns-xdp: serving") => return Ok(line),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {
                    if let Some(status) = self.child.as_mut().expect("running").try_wait()? {
                        bail!(
                            "agent exited with {status} before serving: {}",
                            self.stderr()
                        );
                    }
                }
                Err(_) => bail!("agent did not start serving: {}", self.stderr()),
            }
        }
    }

    /// Everything the agent wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next stdout line within `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Option<String> {
        self.stdout.recv_timeout(timeout).ok()
    }

    /// `dns-xdp stats --json` for this agent, as JSON.
    pub fn stats(&self) -> Result<serde_json::Value> {
        pinned_stats(&self.pin_dir)
    }

    /// Waits until the agent's stderr has been quiet for a moment (at most a couple of
    /// seconds): stdout and stderr are two pipes, read by two threads, so a line on one says
    /// nothing of how far the other has been read.
    fn settle_stderr(&self) {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut seen = self.stderr().len();
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
            let now = self.stderr().len();
            if now == seen {
                return;
            }
            seen = now;
        }
    }

    /// True while the agent process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Runs `dns-xdp reload --pid-file` (which sends the agent SIGHUP) and waits for the
    /// agent's verdict: its `dns-xdp: reloaded` line, or a logged "reload failed".
    pub fn reload(&mut self) -> Result<Reload> {
        let logged_before = self.stderr().len();
        let output = Command::new(agent_binary())
            .args(["reload", "--pid-file"])
            .arg(&self.pid_file)
            .output()?;
        if !output.status.success() {
            bail!(
                "dns-xdp reload failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.stdout.recv_timeout(Duration::from_millis(50)) {
                Ok(line) if line.starts_with("dns-xdp: reloaded") => {
                    // What the agent logged before the line may still be in the other pipe.
                    self.settle_stderr();
                    return Ok(Reload::Applied {
                        line,
                        log: self.stderr()[logged_before..].to_string(),
                    });
                }
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("agent exited during a reload: {}", self.stderr())
                }
            }
            let log = self.stderr()[logged_before..].to_string();
            // Whole lines only: the reader thread may have part of the last one.
            if let Some(at) = log.find("reload failed") {
                if log[at..].contains('\n') {
                    return Ok(Reload::Refused { log });
                }
            }
            if Instant::now() > deadline {
                bail!("no reload verdict after {START_TIMEOUT:?}; stderr since: {log}");
            }
        }
    }

    /// Sends SIGTERM and waits for the agent to exit.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("agent already stopped")?;
        terminate(&mut child, "agent")
    }

    /// Kills the agent with SIGKILL, as a crash would: it cleans nothing up.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().context("agent already stopped")?;
        child.kill()?;
        Ok(child.wait()?)
    }

    /// Waits up to `timeout` for the agent to exit by itself (e.g. after `dns-xdp stop`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().context("agent already stopped")?;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("agent still running after {timeout:?}: {}", self.stderr());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `dns-xdp status` on this agent's status socket and pin directory, with `args`.
    pub fn status(&self, args: &[&str]) -> Result<Output> {
        Ok(Command::new(agent_binary())
            .arg("status")
            .arg("--status-socket")
            .arg(&self.status_socket)
            .args(args)
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .output()?)
    }

    /// Runs `dns-xdp <command> --pin-dir <this agent's> args` to its end.
    pub fn command(&self, command: &str, args: &[&str]) -> Result<Output> {
        Ok(Command::new(agent_binary())
            .arg(command)
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .args(args)
            .output()?)
    }
}

/// What the agent made of a [`Agent::reload`].
#[derive(Debug)]
pub enum Reload {
    /// It serves the new config and zones: its `dns-xdp: reloaded` line, and what it logged
    /// since the reload began (warnings about settings that need a restart).
    Applied { line: String, log: String },
    /// It kept the old ones: its stderr since the reload began, which says why.
    Refused { log: String },
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.stop();
        }
        // A killed agent leaves its pins (and a pinned program) behind.
        if self.pin_dir.exists() {
            let _ = self.command("stop", &[]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
