//! bpffs, the filesystem pins live in. A fresh machine, a container or `ip netns exec` (which
//! mounts a sysfs of its own) often has nothing mounted at `/sys/fs/bpf`; the agent then mounts
//! it, as Cilium's and bpfman's agents do, rather than fail on a step every operator would have
//! to learn first.

use std::{
    ffi::CString,
    io,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

/// Where bpffs belongs (the kernel makes this directory in sysfs for it).
pub const MOUNT_POINT: &str = "/sys/fs/bpf";

/// `statfs.f_type` of bpffs (`BPF_FS_MAGIC` in linux/magic.h).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

#[derive(Debug, thiserror::Error)]
pub enum BpffsError {
    #[error(
        "nothing is mounted at {MOUNT_POINT} and mounting bpffs there failed: {source}; mount it \
         (`mount -t bpf bpf {MOUNT_POINT}`) as root, give the container a bpffs there, or set \
         xdp_mode = \"off\" to serve without XDP"
    )]
    Mount {
        #[source]
        source: io::Error,
    },
    #[error(
        "the pin directory {dir} is not on bpffs ({on} is not); mount one (`mount -t bpf bpf \
         {on}`) or choose a --pin-dir under {MOUNT_POINT}"
    )]
    NotBpffs { dir: PathBuf, on: PathBuf },
    #[error("cannot inspect {path} to find its filesystem: {source}")]
    Inspect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Makes sure `pin_dir` lies on bpffs. Returns where bpffs was mounted, if this had to mount
/// it: at [`MOUNT_POINT`], only when `pin_dir` is below it and nothing is mounted there.
pub fn ensure(pin_dir: &Path) -> Result<Option<PathBuf>, BpffsError> {
    let existing = pin_dir
        .ancestors()
        .find(|dir| dir.exists())
        .unwrap_or(Path::new("/"));
    if is_bpffs(existing)? {
        return Ok(None);
    }
    let mount_point = Path::new(MOUNT_POINT);
    if !pin_dir.starts_with(mount_point) || !mount_point.is_dir() {
        return Err(BpffsError::NotBpffs {
            dir: pin_dir.to_path_buf(),
            on: existing.to_path_buf(),
        });
    }
    mount(mount_point).map_err(|source| BpffsError::Mount { source })?;
    Ok(Some(mount_point.to_path_buf()))
}

/// Whether `path` is on bpffs.
pub fn is_bpffs(path: &Path) -> Result<bool, BpffsError> {
    let inspect = |source| BpffsError::Inspect {
        path: path.to_path_buf(),
        source,
    };
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| inspect(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: statfs writes at most one `struct statfs` into `stat`; `c_path` is NUL-terminated.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(inspect(io::Error::last_os_error()));
    }
    Ok(stat.f_type as i64 == BPF_FS_MAGIC)
}

/// Mounts bpffs at `at`, readable by root only as systemd mounts it.
fn mount(at: &Path) -> io::Result<()> {
    let target = CString::new(at.as_os_str().as_bytes())?;
    let (source, fstype, options) = (c"bpf", c"bpf", c"mode=0700");
    // SAFETY: every pointer is a NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            options.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_dir_elsewhere_that_is_not_bpffs_is_refused_with_the_fix() {
        let dir = std::env::temp_dir().join("dns-xdp-not-bpffs/pins");
        let e = ensure(&dir).unwrap_err().to_string();
        assert!(
            e.contains("is not on bpffs") && e.contains("mount -t bpf bpf"),
            "{e}"
        );
        assert!(!is_bpffs(&std::env::temp_dir()).unwrap());
    }
}
