//! `BPF_PROG_TEST_RUN` from any thread. aya runs a program only through the `Xdp` it loaded,
//! which its owner (the `Dataplane`) lends out by reference; a test that changes the maps
//! through the dataplane while other threads run the program needs a handle of its own: a
//! duplicate of the program's file descriptor, which is all the syscall takes.

use std::{
    io,
    os::fd::{AsFd, AsRawFd, OwnedFd},
};

use aya::programs::Xdp;

/// The XDP actions a run returns (`enum xdp_action`).
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;

/// The program, by its own file descriptor; `Send` and `Sync`.
pub struct TestRunner {
    fd: OwnedFd,
}

/// What one run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The XDP action the program returned.
    pub action: u32,
    /// Bytes of the frame after the run.
    pub len: usize,
}

/// `union bpf_attr` as `BPF_PROG_TEST_RUN` reads it (its `test` member, to `batch_size`).
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

const BPF_PROG_TEST_RUN: libc::c_long = 10;

impl TestRunner {
    pub fn new(program: &Xdp) -> io::Result<Self> {
        let fd = program
            .fd()
            .map_err(io::Error::other)?
            .as_fd()
            .try_clone_to_owned()?;
        Ok(Self { fd })
    }

    /// Runs the program once on `frame`; the frame after the run is `out[..outcome.len]`.
    pub fn run(&self, frame: &[u8], out: &mut [u8]) -> io::Result<Outcome> {
        let mut attr = TestRunAttr {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: frame.len() as u32,
            data_size_out: out.len() as u32,
            data_in: frame.as_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat: 1,
            ..TestRunAttr::default()
        };
        // SAFETY: `attr` is the kernel's layout for this command, its pointers name `frame` and
        // `out` with their true lengths, and both outlive the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_PROG_TEST_RUN,
                &mut attr as *mut TestRunAttr,
                std::mem::size_of::<TestRunAttr>(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Outcome {
            action: attr.retval,
            len: attr.data_size_out as usize,
        })
    }
}
