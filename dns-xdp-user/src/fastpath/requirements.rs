//! What the fast path needs of the machine, checked before anything is loaded so that the
//! error says what is missing rather than what failed because of it.

use std::{ffi::CStr, io};

/// The oldest kernel the program loads on: `bpf_xdp_load_bytes` and `bpf_xdp_store_bytes`
/// came in Linux 5.18.
pub const MIN_KERNEL: (u32, u32) = (5, 18);

#[derive(Debug, thiserror::Error)]
pub enum RequirementError {
    #[error(
        "the fast path runs on x86-64 only, not on {0}: it tells a torn read of an answer by an \
         update sequence whose soundness rests on x86-64 keeping loads in order (see \
         dns_xdp_common::publish); set xdp_mode = \"off\" to serve from the fallback alone"
    )]
    Architecture(&'static str),
    #[error(
        "Linux {release} is too old for the fast path, which needs {}.{} or later \
         (bpf_xdp_load_bytes); upgrade the kernel, or set xdp_mode = \"off\" to serve from the \
         fallback alone",
        MIN_KERNEL.0,
        MIN_KERNEL.1
    )]
    Kernel { release: String },
    #[error("cannot read the kernel's release: {0}")]
    Uname(#[source] io::Error),
}

/// Checks the CPU architecture and the kernel's release.
pub fn check() -> Result<(), RequirementError> {
    if !cfg!(target_arch = "x86_64") {
        return Err(RequirementError::Architecture(std::env::consts::ARCH));
    }
    let release = kernel_release().map_err(RequirementError::Uname)?;
    match version(&release) {
        Some(version) if version >= MIN_KERNEL => Ok(()),
        _ => Err(RequirementError::Kernel { release }),
    }
}

fn kernel_release() -> io::Result<String> {
    // SAFETY: uname fills the struct it is given; the release is NUL-terminated in it.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut name) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let release = unsafe { CStr::from_ptr(name.release.as_ptr()) };
    Ok(release.to_string_lossy().into_owned())
}

/// (major, minor) of a release such as "6.18.0-1-amd64".
fn version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_compared_by_major_and_minor() {
        assert_eq!(version("6.18.0-1-amd64"), Some((6, 18)));
        assert_eq!(version("5.4.0"), Some((5, 4)));
        assert_eq!(version("5.18"), Some((5, 18)));
        assert_eq!(version("garbage"), None);
        assert!((5, 4) < MIN_KERNEL && (5, 18) >= MIN_KERNEL && (6, 1) >= MIN_KERNEL);
        // The machine the tests run on has what the fast path needs.
        check().unwrap();
        let e = RequirementError::Kernel {
            release: "5.10.0".into(),
        };
        assert!(e.to_string().contains("5.18 or later"), "{e}");
    }
}
