//! `cargo xtask package`: the Debian package, staged in debhelper's layout and built with
//! dpkg-deb, which every Debian machine has (cargo-deb would have to be compiled on every fresh
//! CI machine first, and would still take our maintainer scripts from files).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};

use crate::ebpf::{build_agent, build_ebpf, Profile, TestHooks};
use crate::toolchain::capture;
use crate::{run, workspace_root};

const PACKAGE: &str = "dns-xdp";
/// Where the manual install in the unit's header puts the binary; the package's is Debian's.
const MANUAL_BIN: &str = "/usr/local/bin/dns-xdp";
const PACKAGE_BIN: &str = "/usr/bin/dns-xdp";
/// Debian 12's directory for units shipped by packages.
const UNIT_DIR: &str = "lib/systemd/system";
const MAINTAINER: &str = "dns-xdp developers <dns-xdp@example.invalid>";

/// Builds the XDP object and the release agent (without test hooks), and packages them with
/// the files of `dist/`; returns the path of the `.deb` under `target/debian/`.
pub fn package() -> Result<PathBuf> {
    build_ebpf()?;
    let agent = build_agent(Profile::Release, TestHooks::Without)?;
    let root = workspace_root();
    let version = agent_version(&root)?;
    let arch = capture(Command::new("dpkg").arg("--print-architecture"))?
        .trim()
        .to_owned();
    let out_dir = root.join("target/debian");
    // dpkg-shlibdeps wants debhelper's layout: debian/control, and the tree in debian/<package>.
    let work = out_dir.join("build");
    let _ = fs::remove_dir_all(&work);
    let tree = work.join("debian").join(PACKAGE);

    let dist = root.join("dist");
    let unit = fs::read_to_string(dist.join("dns-xdp.service")).context("dist/dns-xdp.service")?;
    let exec_start = format!("ExecStart={MANUAL_BIN} ");
    ensure!(
        unit.contains(&exec_start),
        "dist/dns-xdp.service has no `{exec_start}…` line for the package to point at {PACKAGE_BIN}"
    );
    let unit = unit.replace(&exec_start, &format!("ExecStart={PACKAGE_BIN} "));

    install_file(&tree, &agent, PACKAGE_BIN, 0o755)?;
    run(Command::new("strip")
        .args(["--strip-unneeded", "--remove-section=.comment"])
        .arg(tree.join(&PACKAGE_BIN[1..])))?;
    write_file(&tree, &format!("{UNIT_DIR}/dns-xdp.service"), &unit, 0o644)?;
    // The example config, and the zone it names, as conffiles: an operator's edits survive
    // upgrades, and `dpkg -P` removes them.
    install_file(
        &tree,
        &dist.join("dns-xdp.toml"),
        "/etc/dns-xdp/dns-xdp.toml",
        0o644,
    )?;
    install_file(
        &tree,
        &root.join("examples/example.com.zone"),
        "/etc/dns-xdp/zones/example.com.zone",
        0o644,
    )?;
    let doc = format!("/usr/share/doc/{PACKAGE}");
    install_file(
        &tree,
        &dist.join("debian/copyright"),
        &format!("{doc}/copyright"),
        0o644,
    )?;
    let changelog = tree.join(&doc[1..]).join("changelog.gz");
    fs::write(&changelog, gzip(&changelog_text(&root, &version)?)?)?;
    fs::set_permissions(&changelog, fs::Permissions::from_mode(0o644))?;

    let control_dir = tree.join("DEBIAN");
    fs::create_dir_all(&control_dir)?;
    for script in ["postinst", "prerm", "postrm"] {
        install_file(
            &tree,
            &dist.join("debian").join(script),
            &format!("/DEBIAN/{script}"),
            0o755,
        )?;
    }
    write_file(
        &tree,
        "DEBIAN/conffiles",
        "/etc/dns-xdp/dns-xdp.toml\n/etc/dns-xdp/zones/example.com.zone\n",
        0o644,
    )?;
    fs::write(
        work.join("debian/control"),
        format!("Source: {PACKAGE}\n\nPackage: {PACKAGE}\nArchitecture: any\n"),
    )?;
    let shlibs = capture(
        Command::new("dpkg-shlibdeps")
            .current_dir(&work)
            .args(["-O", "-e"])
            .arg(tree.join(&PACKAGE_BIN[1..])),
    )?;
    let depends = shlibs
        .trim()
        .strip_prefix("shlibs:Depends=")
        .with_context(|| format!("unexpected dpkg-shlibdeps output: {shlibs}"))?;
    write_file(
        &tree,
        "DEBIAN/md5sums",
        &md5sums(&tree, &["usr", "lib"])?,
        0o644,
    )?;
    write_file(
        &tree,
        "DEBIAN/control",
        &format!(
            "Package: {PACKAGE}\nVersion: {version}\nArchitecture: {arch}\n\
             Maintainer: {MAINTAINER}\nInstalled-Size: {size}\nDepends: {depends}\n\
             Section: net\nPriority: optional\n\
             Description: authoritative DNS server with an XDP fast path\n \
             dns-xdp answers A and AAAA queries from BPF maps in an XDP program, and\n \
             everything else from its fallback server, from the same zones: failover,\n \
             weighted and geo pools with health checks, and online DNSSEC signing.\n \
             .\n \
             The systemd unit is installed but not enabled: edit the config in\n \
             /etc/dns-xdp/, then `systemctl enable --now dns-xdp`.\n",
            size = installed_size_kib(&tree)?,
        ),
        0o644,
    )?;

    let deb = out_dir.join(format!("{PACKAGE}_{version}_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&tree)
        .arg(&deb))?;
    Ok(deb)
}

/// The agent crate's version, from the `version = "…"` line of its manifest.
fn agent_version(root: &Path) -> Result<String> {
    let manifest = root.join("dns-xdp-user/Cargo.toml");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .map(str::to_owned)
        .with_context(|| format!("no version = \"…\" line in {}", manifest.display()))
}

/// A native package's changelog: one entry for this version, dated by the commit it is built
/// from, so two builds of one commit are the same package.
fn changelog_text(root: &Path, version: &str) -> Result<String> {
    let git = |format: &str| {
        capture(Command::new("git").current_dir(root).args([
            "log",
            "-1",
            &format!("--format={format}"),
        ]))
        .map(|out| out.trim().to_owned())
    };
    Ok(format!(
        "{PACKAGE} ({version}) unstable; urgency=medium\n\n  * Built from commit {}.\n\n \
         -- {MAINTAINER}  {}\n",
        git("%h")?,
        git("%aD")?
    ))
}

fn gzip(text: &str) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::process::Stdio;
    // -n: no name or time stamp in the header, as Debian policy asks (reproducible builds).
    let mut child = Command::new("gzip")
        .args(["-9n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("failed to start gzip")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(output.status.success(), "gzip failed ({})", output.status);
    Ok(output.stdout)
}

/// Copies `from` to `to` (absolute, inside the package) under `tree`, with `mode`.
fn install_file(tree: &Path, from: &Path, to: &str, mode: u32) -> Result<()> {
    let text = fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    write_bytes(tree, to.trim_start_matches('/'), &text, mode)
}

fn write_file(tree: &Path, to: &str, text: &str, mode: u32) -> Result<()> {
    write_bytes(tree, to, text.as_bytes(), mode)
}

/// Writes `bytes` at `to` (relative to `tree`), making its directories with mode 0755 (the
/// staging tree's modes are the package's, whatever the umask).
fn write_bytes(tree: &Path, to: &str, bytes: &[u8], mode: u32) -> Result<()> {
    let path = tree.join(to);
    let parent = path.parent().expect("a file inside the tree");
    fs::create_dir_all(parent)?;
    for dir in parent.ancestors().take_while(|dir| dir.starts_with(tree)) {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    }
    fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// `DEBIAN/md5sums`: every file under the `dirs` of `tree` but the conffiles, which dpkg
/// tracks on its own.
fn md5sums(tree: &Path, dirs: &[&str]) -> Result<String> {
    let mut cmd = Command::new("find");
    cmd.current_dir(tree)
        .args(dirs)
        .args(["-type", "f", "-exec", "md5sum", "{}", "+"]);
    let mut lines: Vec<String> = capture(&mut cmd)?.lines().map(str::to_owned).collect();
    lines.sort_by(|a, b| {
        a.split_once("  ")
            .map(|p| p.1)
            .cmp(&b.split_once("  ").map(|p| p.1))
    });
    Ok(lines.iter().map(|line| format!("{line}\n")).collect())
}

/// What the files take once installed, in KiB, as `Installed-Size` counts it.
fn installed_size_kib(tree: &Path) -> Result<u64> {
    let out = capture(Command::new("du").current_dir(tree).args([
        "-sk",
        "--apparent-size",
        "--exclude=DEBIAN",
        ".",
    ]))?;
    out.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("unexpected du output: {out}"))
}
