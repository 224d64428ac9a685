//! Child processes the tests start (the agent, knotd, nsd).

use std::{os::unix::process::CommandExt, process::Command};

/// Starts `cmd` with no signals blocked. A caller that blocks SIGINT/SIGTERM to wait for them
/// (the demo) would otherwise pass its mask on, and the child would never see the SIGTERM that
/// asks it to stop and clean up.
pub fn unblock_signals(cmd: &mut Command) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            Ok(())
        });
    }
}
