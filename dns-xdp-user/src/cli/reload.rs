//! `dns-xdp reload`: asks the running agent to read its config and zones again.

use std::{io, path::PathBuf};

use anyhow::{anyhow, bail, Result};

use crate::daemon::pid_file::read_agent_pid;

#[derive(clap::Args)]
pub struct Args {
    /// The agent's `--pid-file`.
    #[arg(long)]
    pid_file: PathBuf,
}

pub fn execute(args: Args) -> Result<()> {
    let pid = signal_reload(&args.pid_file)?;
    println!(
        "dns-xdp: asked the agent (pid {pid}) to reload; its log says whether the new zones are \
         served"
    );
    Ok(())
}

/// `dns-xdp reload`: sends SIGHUP to the agent whose pid is in `pid_file`. Returns the pid.
fn signal_reload(pid_file: &std::path::Path) -> Result<u32> {
    let pid = read_agent_pid(pid_file)?.ok_or_else(|| {
        anyhow!(
            "no dns-xdp agent runs with the pid in {} (the file is stale: an agent removes it \
             when it stops); start the agent with `dns-xdp run --pid-file {}`",
            pid_file.display(),
            pid_file.display()
        )
    })?;
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is positive.
    if unsafe { libc::kill(pid as libc::pid_t, libc::SIGHUP) } != 0 {
        let e = io::Error::last_os_error();
        bail!(
            "cannot signal the agent (pid {pid}): {e}{}",
            if e.raw_os_error() == Some(libc::EPERM) {
                "; run `dns-xdp reload` as the agent's user (root)"
            } else {
                ""
            }
        );
    }
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_pid_file_says_how_to_start_the_agent() {
        let dir = std::env::temp_dir().join(format!("dns-xdp-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agent.pid");
        // Our own pid is a live process, but not one called dns-xdp.
        std::fs::write(&path, format!("{}\n", std::process::id())).unwrap();
        let e = signal_reload(&path).unwrap_err().to_string();
        assert!(
            e.contains("stale") && e.contains("dns-xdp run --pid-file"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
