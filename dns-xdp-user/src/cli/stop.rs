//! `dns-xdp stop`: asks the running agent to stop (SIGTERM: it detaches the program and removes
//! its pins) and waits until it has exited. With no agent running, it removes what a dead one
//! left: the pinned link (detaching the program from its interface) and the pinned maps.
//!
//! `dns-xdp stop --handover` asks it to exit leaving the program attached and its pins in place
//! (SIGUSR2), for the next agent to take over: an upgrade without a gap in the fast path.

use std::{
    fs, io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use dns_xdp_common::PIN_DIR;

use crate::{
    daemon::pid_file::read_agent_pid,
    fastpath::pin_dir::{self, PinDir, PinDirError, Removed},
};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = PIN_DIR)]
    pin_dir: std::path::PathBuf,
    /// The agent's `--pid-file`; without it the agent is found as the holder of the pin
    /// directory.
    #[arg(long)]
    pid_file: Option<std::path::PathBuf>,
    /// How long to wait for the agent to exit (`500ms`, `30s`, `2m`).
    #[arg(long, default_value = "30s", value_parser = super::duration_arg)]
    timeout: Duration,
    /// Leave the fast path attached and answering, with its pins, for the next agent to take
    /// over (sends SIGUSR2): for upgrades without a gap.
    #[arg(long)]
    handover: bool,
}

pub fn execute(args: Args) -> Result<()> {
    let stopped = stop(
        &args.pin_dir,
        args.pid_file.as_deref(),
        args.timeout,
        args.handover,
    )?;
    println!("{}", describe(&stopped, &args.pin_dir));
    Ok(())
}

/// What `dns-xdp stop` did.
#[derive(Debug)]
pub enum Stopped {
    /// The agent with this pid exited; `leftovers` is what it left in the pin directory that
    /// `stop` removed after it (normally nothing: the agent removes its own pins).
    Agent {
        pid: u32,
        leftovers: Option<Removed>,
    },
    /// No agent ran; these pins of a dead one were removed.
    Leftovers(Removed),
    /// The agent with this pid (if one ran) exited, leaving its pins for the next one.
    HandedOver { pid: Option<u32> },
    /// No agent ran and nothing was pinned.
    Nothing,
}

/// Stops the agent serving from `pin_dir` (found by `pid_file` if given, else as the holder of
/// the pin directory's lock), waiting up to `timeout` for it to exit, then removes whatever is
/// left pinned in `pin_dir` if no agent holds it any more. With `handover` the agent leaves
/// its pins and program in place, and so does `stop`.
pub fn stop(
    pin_dir: &Path,
    pid_file: Option<&Path>,
    timeout: Duration,
    handover: bool,
) -> Result<Stopped> {
    let pid = match pid_file {
        // An agent that stopped cleanly removed its pid file.
        Some(file) if file.exists() => read_agent_pid(file)?,
        _ => None,
    };
    let pid = pid.or_else(|| pin_dir::holder(pin_dir));
    let signal = if handover {
        libc::SIGUSR2
    } else {
        libc::SIGTERM
    };
    let stopped = match pid {
        Some(pid) => {
            terminate(pid, signal, timeout)?;
            Some(pid)
        }
        None => None,
    };
    if handover {
        return Ok(Stopped::HandedOver { pid: stopped });
    }
    let leftovers = match PinDir::try_lock(pin_dir) {
        Ok(Some(dir)) if dir.pins().is_empty() => {
            // An empty directory a dead agent made; not worth a word.
            let _ = fs::remove_dir(dir.path());
            None
        }
        Ok(Some(dir)) => {
            let removed = dir.remove_all();
            if !removed.errors.is_empty() {
                bail!(
                    "could not remove everything left in {}: {}",
                    pin_dir.display(),
                    removed.errors.join("; ")
                );
            }
            Some(removed)
        }
        Ok(None) if stopped.is_some() => {
            log::warn!(
                "another agent holds {} (started since?); left it running",
                pin_dir.display()
            );
            None
        }
        Ok(None) => bail!(
            "an agent holds {} but its pid is not visible from here (another pid namespace?); \
             stop it with `dns-xdp stop --pid-file` and its pid file",
            pin_dir.display()
        ),
        Err(PinDirError::Lock { source, .. }) if source.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    Ok(match (stopped, leftovers) {
        (Some(pid), leftovers) => Stopped::Agent { pid, leftovers },
        (None, Some(removed)) => Stopped::Leftovers(removed),
        (None, None) => Stopped::Nothing,
    })
}

/// Sends `signal` to the dns-xdp process `pid` and waits up to `timeout` for it to exit.
fn terminate(pid: u32, signal: libc::c_int, timeout: Duration) -> Result<()> {
    // A pidfd names this process and no other, even if it exits and its pid is reused while
    // we look at it.
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => fd,
        // Gone already.
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot open process {pid}")),
    };
    match fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) if comm.trim_end() == "dns-xdp" => {}
        Ok(comm) => bail!(
            "process {pid} is {:?}, not a dns-xdp agent; not signalling it",
            comm.trim_end()
        ),
        Err(_) => return Ok(()),
    }
    // SAFETY: pidfd_send_signal with a pidfd we own, no siginfo.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        return Err(anyhow!(
            "cannot signal the agent (pid {pid}): {e}{}",
            if e.raw_os_error() == Some(libc::EPERM) {
                "; run `dns-xdp stop` as the agent's user (root)"
            } else {
                ""
            }
        ));
    }
    // The pidfd turns readable when the process exits (whether or not it is reaped yet).
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "the agent (pid {pid}) has not exited {timeout:?} after being asked to; it may \
                 still be shutting down. `kill -KILL {pid}`, then `dns-xdp stop` again removes \
                 what it leaves"
            );
        }
        let mut poll = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut poll, 1, millis) } {
            n if n > 0 => return Ok(()),
            0 => {}
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e).context("waiting for the agent to exit");
                }
            }
        }
    }
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// One line saying what [`stop`] did, for the terminal.
pub fn describe(stopped: &Stopped, pin_dir: &Path) -> String {
    let removed = |r: &Removed| {
        let detached = match r.detached_from {
            None => String::new(),
            Some(0) => "found the program's interface gone and ".to_string(),
            // The link knows the index only; the name is this network namespace's.
            Some(index) => format!(
                "detached the program from interface index {index} ({} here) and ",
                pin_dir::interface_name(index)
            ),
        };
        format!(
            "{detached}removed the pins left in {}: {}",
            pin_dir.display(),
            r.pins.join(", ")
        )
    };
    match stopped {
        Stopped::Agent {
            pid,
            leftovers: None,
        } => format!("dns-xdp: stopped the agent (pid {pid})"),
        Stopped::Agent {
            pid,
            leftovers: Some(r),
        } => format!("dns-xdp: stopped the agent (pid {pid}); {}", removed(r)),
        Stopped::Leftovers(r) => format!("dns-xdp: no agent was running; {}", removed(r)),
        Stopped::HandedOver { pid: Some(pid) } => format!(
            "dns-xdp: the agent (pid {pid}) exited leaving the fast path attached; start the \
             next one on {} to take it over",
            pin_dir.display()
        ),
        Stopped::HandedOver { pid: None } => format!(
            "dns-xdp: no agent is running; left whatever is pinned in {} as it is",
            pin_dir.display()
        ),
        Stopped::Nothing => format!(
            "dns-xdp: no agent is running and nothing is pinned in {}",
            pin_dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_stop_is_not_an_error() {
        let dir = std::env::temp_dir().join(format!("dns-xdp-stop-{}", std::process::id()));
        let stopped = stop(&dir, None, Duration::from_secs(1), false).unwrap();
        assert!(matches!(stopped, Stopped::Nothing));
        assert!(describe(&stopped, &dir).contains("no agent is running"));

        // A stale pid file (our pid, not a process called dns-xdp) is no agent either.
        fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.with_extension("pid");
        fs::write(&pid_file, format!("{}\n", std::process::id())).unwrap();
        let stopped = stop(&dir, Some(&pid_file), Duration::from_secs(1), false).unwrap();
        assert!(matches!(stopped, Stopped::Nothing), "{stopped:?}");
        assert!(!dir.exists(), "its empty pin directory went too");
        fs::remove_file(&pid_file).unwrap();
    }

    #[test]
    fn never_signals_a_process_that_is_not_dns_xdp() {
        let e = terminate(std::process::id(), libc::SIGTERM, Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("not a dns-xdp agent"), "{e}");
    }
}
