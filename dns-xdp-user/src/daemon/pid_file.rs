//! The agent's `--pid-file`: written while it serves, read by `dns-xdp reload` and
//! `dns-xdp stop` to find it.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use anyhow::{anyhow, bail, Context, Result};

/// The pid of a serving agent, written to `--pid-file` and removed when the agent stops.
pub struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    pub fn create(path: &Path) -> Result<Self> {
        let pid = std::process::id();
        if let Ok(Some(other)) = read_agent_pid(path) {
            if other != pid {
                bail!(
                    "another dns-xdp agent (pid {other}) uses the pid file {}; stop it, or give \
                     this one another --pid-file",
                    path.display()
                );
            }
        }
        // Written aside and renamed, so `dns-xdp reload` never reads half a number.
        let tmp = path.with_extension(format!("tmp.{pid}"));
        fs::write(&tmp, format!("{pid}\n"))
            .and_then(|()| fs::rename(&tmp, path))
            .with_context(|| format!("writing the pid file {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            pid,
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Only our own: another agent may have taken the file over.
        if fs::read_to_string(&self.path).is_ok_and(|text| text.trim() == self.pid.to_string()) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The pid in `pid_file` if a dns-xdp process runs with it; `None` if the file is stale.
pub fn read_agent_pid(pid_file: &Path) -> Result<Option<u32>> {
    let text = fs::read_to_string(pid_file).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => anyhow!(
            "no pid file at {}: is `dns-xdp run --pid-file {}` running?",
            pid_file.display(),
            pid_file.display()
        ),
        _ => anyhow!("cannot read the pid file {}: {e}", pid_file.display()),
    })?;
    let pid: u32 = text
        .trim()
        .parse()
        .ok()
        .filter(|&pid| pid > 0 && pid <= i32::MAX as u32)
        .ok_or_else(|| {
            anyhow!(
                "the pid file {} holds {:?}, not a process id; remove it",
                pid_file.display(),
                text.trim()
            )
        })?;
    // The kernel names a process after its executable (the first 15 bytes).
    Ok(match fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) if comm.trim_end() == "dns-xdp" => Some(pid),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_round_trip_and_clear_errors() {
        let dir = std::env::temp_dir().join(format!("dns-xdp-pidfile-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agent.pid");

        let e = read_agent_pid(&path).unwrap_err().to_string();
        assert!(e.contains("no pid file") && e.contains("--pid-file"), "{e}");

        fs::write(&path, "not a pid\n").unwrap();
        let e = read_agent_pid(&path).unwrap_err().to_string();
        assert!(e.contains("not a process id"), "{e}");

        // Our own pid is a live process, but not one called dns-xdp: a stale file.
        fs::write(&path, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(read_agent_pid(&path).unwrap(), None);

        // A stale file is taken over, and removed on drop.
        let pid_file = PidFile::create(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(pid_file);
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
