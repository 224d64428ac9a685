//! The Debian package (`cargo xtask package`) installed on this machine as an operator would:
//! `dpkg -i`, `dns-xdp check` on the example config it ships, the agent started with the
//! installed unit's own command line (no systemd here) on an `eth0` in a namespace of the
//! test's, answering dig and kdig from the fast path; stopped as systemd stops it, started
//! again and left running for `dpkg -r`, whose prerm must stop it; then `dpkg -P`. Nothing may
//! be left running, attached, pinned or installed.
//!
//! Needs root and dpkg. It installs and purges the package, so it refuses to run where a
//! dns-xdp package, `/etc/dns-xdp`, the default pin directory or the unit's pid file exist
//! already.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use dns_xdp_tests::{
    netns::{require_root, Topology},
    process::{append_output, terminate, unblock_signals},
};

const PACKAGE: &str = "dns-xdp";
/// Set by `cargo xtask test`, which builds the package before the tests.
const DEB_ENV: &str = "DNS_XDP_DEB";
const BINARY: &str = "/usr/bin/dns-xdp";
const UNIT: &str = "/lib/systemd/system/dns-xdp.service";
const CONFIG: &str = "/etc/dns-xdp/dns-xdp.toml";
/// Where the agent pins when no `--pin-dir` is given, as under the unit.
const PIN_DIR: &str = "/sys/fs/bpf/dns-xdp";
/// The unit's `--pid-file`, in its `RuntimeDirectory=`.
const PID_FILE: &str = "/run/dns-xdp/dns-xdp.pid";
/// The example config's interface.
const INTERFACE: &str = "eth0";

/// The package to test: `$DNS_XDP_DEB`, else the one `.deb` in target/debian/.
fn deb() -> PathBuf {
    if let Some(path) = std::env::var_os(DEB_ENV) {
        return PathBuf::from(path);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian");
    let debs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .collect();
    assert!(
        debs.len() == 1,
        "want one .deb in {} (found {debs:?}): build it with `cargo xtask package` (`cargo \
         xtask test` does), or set {DEB_ENV}",
        dir.display()
    );
    debs.into_iter().next().unwrap()
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"))
}

/// Runs `program args`, panicking with its output unless it succeeds; its stdout.
fn run_ok(program: &str, args: &[&str]) -> String {
    let output = run(program, args);
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// dpkg's status of the package ("install ok installed", "deinstall ok config-files"), or
/// None once dpkg knows nothing of it.
fn package_status() -> Option<String> {
    let output = run("dpkg-query", &["-W", "-f", "${Status}", PACKAGE]);
    let status = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && status != "unknown ok not-installed").then_some(status)
}

/// Processes whose executable is the packaged binary (also once dpkg has deleted it).
fn packaged_processes() -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
            let exe = exe.to_string_lossy();
            (exe == BINARY || exe == format!("{BINARY} (deleted)"))
                .then(|| entry.file_name().to_string_lossy().into_owned())
        })
        .collect()
}

/// The agent as the unit starts it: `ExecStart=`, with the unit's `Environment=` and the
/// `RuntimeDirectory=` systemd would make, in the server namespace.
struct UnitAgent {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl UnitAgent {
    fn start(topology: &Topology, unit: &Unit) -> UnitAgent {
        std::fs::create_dir_all(&unit.runtime_dir).unwrap();
        let mut cmd = Command::new(&unit.exec_start[0]);
        cmd.args(&unit.exec_start[1..])
            .envs(unit.environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        unblock_signals(&mut cmd);
        let mut child = topology.spawn(&topology.server_ns, &mut cmd).unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = child.stderr.take().unwrap();
        append_output(pipe, &stderr);
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let agent = UnitAgent { child, stderr };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.starts_with("dns-xdp: serving") => return agent,
                Ok(_) => {}
                Err(_) => panic!(
                    "the packaged agent did not start serving: {}",
                    agent.stderr()
                ),
            }
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the agent to exit (stopped by someone else); its status.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the agent still runs: {}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for UnitAgent {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = terminate(&mut self.child, "the packaged agent");
        }
    }
}

/// What the test reads from the installed unit file.
struct Unit {
    exec_start: Vec<String>,
    environment: Vec<(String, String)>,
    runtime_dir: PathBuf,
}

impl Unit {
    fn read(path: &str) -> Unit {
        let text = std::fs::read_to_string(path).unwrap();
        let values = |key: &str| -> Vec<String> {
            text.lines()
                .filter_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
                .collect()
        };
        let [exec_start] = &values("ExecStart")[..] else {
            panic!("{path}: want one ExecStart=");
        };
        let [runtime_dir] = &values("RuntimeDirectory")[..] else {
            panic!("{path}: want one RuntimeDirectory=");
        };
        Unit {
            exec_start: exec_start.split_whitespace().map(str::to_owned).collect(),
            environment: values("Environment")
                .iter()
                .flat_map(|line| line.split_whitespace())
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            runtime_dir: Path::new("/run").join(runtime_dir),
        }
    }
}

/// Purges the package if the test left it installed (its prerm stops any agent still
/// running) and removes the runtime directory if the test made it, on failure as on success.
struct Uninstall {
    runtime_dir: Option<PathBuf>,
}

impl Drop for Uninstall {
    fn drop(&mut self) {
        if package_status().is_some() {
            let output = run("dpkg", &["-P", PACKAGE]);
            if !output.status.success() {
                eprintln!(
                    "warning: dpkg -P {PACKAGE} failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
        if let Some(dir) = &self.runtime_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `dns-xdp stats --json` of the agent on the default pin directory: packets it answered.
fn answered(version: &str) -> u64 {
    let stats: serde_json::Value =
        serde_json::from_str(&run_ok(BINARY, &["stats", "--json"])).unwrap();
    stats[format!("answered_{version}")].as_u64().unwrap()
}

/// Nothing of the agent on the interface, in bpffs or among the processes.
fn assert_nothing_left(topology: &Topology, when: &str) {
    assert_eq!(
        topology.server_xdp_program(),
        None,
        "{when}: an XDP program is still attached to {INTERFACE}"
    );
    let net = topology
        .exec(&topology.server_ns, "bpftool", &["net", "show"])
        .unwrap();
    let net = String::from_utf8_lossy(&net.stdout);
    assert!(
        !net.contains(INTERFACE),
        "{when}: bpftool net still lists {INTERFACE}:\n{net}"
    );
    assert!(
        !Path::new(PIN_DIR).exists(),
        "{when}: {PIN_DIR} is still there"
    );
    assert_eq!(
        packaged_processes(),
        Vec::<String>::new(),
        "{when}: {BINARY} still runs (pids)"
    );
}

#[test]
fn the_package_installs_serves_and_leaves_nothing_once_removed() {
    if !require_root("the_package_installs_serves_and_leaves_nothing_once_removed") {
        return;
    }
    let deb = deb();
    assert_eq!(
        package_status(),
        None,
        "{PACKAGE} is installed here: this test installs and purges it; remove it first"
    );
    for path in ["/etc/dns-xdp", PIN_DIR, PID_FILE] {
        assert!(
            !Path::new(path).exists(),
            "{path} exists: this test installs and purges {PACKAGE}, which would take it over; \
             move it away first"
        );
    }
    // Dropped last: the agents stop, and the package goes, before the namespaces do.
    let topology = Topology::create_with_server_if("package", INTERFACE).expect("topology");
    // Other agents on this machine may use the directory too (not its pid file: see above).
    let runtime_dir = Path::new(PID_FILE).parent().unwrap();
    let _uninstall = Uninstall {
        runtime_dir: (!runtime_dir.exists()).then(|| runtime_dir.to_path_buf()),
    };

    run_ok("dpkg", &["-i", &deb.display().to_string()]);
    assert_eq!(package_status().as_deref(), Some("install ok installed"));
    let files: Vec<String> = run_ok("dpkg", &["-L", PACKAGE])
        .lines()
        .map(str::to_owned)
        .collect();
    for file in [BINARY, UNIT, CONFIG, "/etc/dns-xdp/zones/example.com.zone"] {
        assert!(files.iter().any(|f| f == file), "dpkg -L lacks {file}");
        assert!(Path::new(file).is_file(), "{file} is not installed");
    }
    let conffiles = run_ok("dpkg-query", &["-W", "-f", "${Conffiles}", PACKAGE]);
    assert!(
        conffiles.contains(CONFIG),
        "{CONFIG} is no conffile: {conffiles}"
    );

    // The shipped config loads as `run` would load it; its findings are advice (exit 1).
    let check = run(BINARY, &["check", "--config", CONFIG]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        matches!(check.status.code(), Some(0 | 1)),
        "dns-xdp check refused the example config ({}):\n{report}{}",
        check.status,
        String::from_utf8_lossy(&check.stderr)
    );
    eprintln!("dns-xdp check --config {CONFIG}:\n{report}");

    let unit = Unit::read(UNIT);
    assert_eq!(
        unit.exec_start[0], BINARY,
        "the unit starts the packaged binary"
    );
    let server = topology.server_v4.to_string();
    let mut agent = UnitAgent::start(&topology, &unit);
    assert!(
        topology.server_xdp_program().is_some(),
        "no XDP program on {INTERFACE}: {}",
        agent.stderr()
    );
    let before = answered("v4");
    assert_eq!(
        topology.dig(&server, &["+short", "www.example.com", "A"]),
        ["192.0.2.80", "192.0.2.81"].map(String::from).into(),
        "dig A"
    );
    assert_eq!(answered("v4"), before + 1, "the fast path answered dig");
    let before = answered("v6");
    let kdig = topology
        .exec(
            &topology.client_ns,
            "kdig",
            &[
                &format!("@{}", topology.server_v6),
                "+short",
                "+retry=0",
                "+timeout=2",
                "www.example.com",
                "AAAA",
            ],
        )
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&kdig.stdout).trim(),
        "2001:db8::80",
        "kdig AAAA: {kdig:?}"
    );
    assert_eq!(answered("v6"), before + 1, "the fast path answered kdig");

    // As `systemctl stop` stops it: SIGTERM, a clean exit, everything undone.
    let status = terminate(&mut agent.child, "the packaged agent").unwrap();
    assert!(status.success(), "SIGTERM: {status}; {}", agent.stderr());
    assert_nothing_left(&topology, "after SIGTERM");

    // Removed while it serves: the prerm stops it.
    let mut agent = UnitAgent::start(&topology, &unit);
    run_ok("dpkg", &["-r", PACKAGE]);
    let status = agent.wait_exit();
    assert!(status.success(), "stopped by dpkg -r: {status}");
    assert_nothing_left(&topology, "after dpkg -r");
    assert_eq!(
        package_status().as_deref(),
        Some("deinstall ok config-files")
    );
    for file in [BINARY, UNIT] {
        assert!(!Path::new(file).exists(), "dpkg -r left {file}");
    }
    assert!(Path::new(CONFIG).exists(), "dpkg -r keeps the conffiles");

    run_ok("dpkg", &["-P", PACKAGE]);
    assert_eq!(package_status(), None, "dpkg -P leaves the package known");
    assert!(
        !run("dpkg", &["-L", PACKAGE]).status.success(),
        "dpkg -L still lists it"
    );
    for file in &files {
        let path = Path::new(file);
        // Directories such as /usr/bin are shared; the package's own must go.
        let shared = path.is_dir() && !file.contains("dns-xdp");
        assert!(shared || !path.exists(), "dpkg -P left {file}");
    }
    assert_nothing_left(&topology, "after dpkg -P");
}
