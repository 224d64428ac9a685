//! Child processes the tests start (the agent, knotd, nsd): started with no signals blocked,
//! their output collected, stopped with SIGTERM.

use std::{
    io::Read,
    os::unix::process::CommandExt,
    process::{Child, Command, ExitStatus},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

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

/// Sends `child` SIGTERM and waits up to 10 s for it to exit; kills it and fails if it does not.
/// `what` names it in the error.
pub fn terminate(child: &mut Child, what: &str) -> anyhow::Result<ExitStatus> {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{what} ignored SIGTERM for 10 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Appends what `pipe` (a child's stdout or stderr) gives to `sink`, from a thread of its own,
/// until the child closes it.
pub fn append_output(mut pipe: impl Read + Send + 'static, sink: &Arc<Mutex<String>>) {
    let sink = sink.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut buf) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}
