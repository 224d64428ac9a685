//! A fresh machine has nothing mounted at /sys/fs/bpf (nor does a container, nor a process
//! under `ip netns exec`): the agent mounts bpffs there itself and serves, XDP on.
//!
//! The agent runs in a mount namespace of its own in which /sys/fs/bpf is unmounted first, so
//! the test holds whatever the host has mounted. Needs root (BPF, namespaces) and `unshare`
//! (util-linux).

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use dns_xdp_tests::{
    agent::agent_binary,
    netns::{require_root, Topology},
    process::{terminate, unblock_signals},
    scratch::ScratchDir,
};

#[test]
fn the_agent_mounts_bpffs_when_nothing_is_mounted() {
    if !require_root("the_agent_mounts_bpffs_when_nothing_is_mounted") {
        return;
    }
    let topology = Topology::create("bpffs").expect("topology");
    let dir = ScratchDir::new("bpffs");
    let zone = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.com.zone");
    let config = dir.path().join("dns-xdp.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ninterface = \"{}\"\nxdp_mode = \"native\"\nlisten = [\"{}:53\"]\n\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"{}\"\n",
            topology.server_if,
            topology.server_v4,
            zone.display()
        ),
    )
    .unwrap();
    // Every bpffs stacked at /sys/fs/bpf goes, in this mount namespace only.
    let script = format!(
        "while umount /sys/fs/bpf 2>/dev/null; do :; done; \
         if mountpoint -q /sys/fs/bpf; then echo 'still mounted' >&2; exit 1; fi; \
         exec {} run --config {} --pin-dir /sys/fs/bpf/dns-xdp-test-bpffs-{}",
        agent_binary().display(),
        config.display(),
        std::process::id()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    unblock_signals(&mut cmd);
    let mut child = topology
        .spawn(&topology.server_ns, &mut cmd)
        .expect("spawn");
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let err = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let serving = lines.recv_timeout(Duration::from_secs(60));
    let answers = topology.dig(
        &topology.server_v4.to_string(),
        &["+short", "www.example.com", "A"],
    );
    let status = terminate(&mut child, "agent").expect("agent stops");
    let stderr = err.join().unwrap();
    let serving = serving.unwrap_or_else(|_| panic!("the agent did not serve: {stderr}"));
    assert!(serving.contains("XDP native"), "{serving}");
    assert!(
        stderr.contains("mounted bpffs at /sys/fs/bpf (nothing was mounted there)"),
        "{stderr}"
    );
    assert!(answers.contains("192.0.2.10"), "{answers:?}");
    assert!(status.success(), "{status}: {stderr}");
}
