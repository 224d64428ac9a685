//! An agent's pin directory under bpffs (`/sys/fs/bpf/dns-xdp` by default): its maps, and the
//! link that keeps the program attached.
//!
//! The agent holds an exclusive `flock` on the directory for as long as it runs. The kernel
//! drops the lock when the process dies, however it dies, so the lock, not the pins, says
//! whether an agent is alive: pins in a directory nobody holds were left by an agent that is
//! gone (SIGKILL, a crash, a power cut of the process), and are free to be taken over or
//! removed. `/proc/locks` names the holder, which is how `dns-xdp stop` finds the agent without
//! a pid file.

use std::{
    ffi::CString,
    fs, io,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::{ffi::OsStrExt, fs::MetadataExt},
    },
    path::{Path, PathBuf},
};

/// The pinned link, beside the maps: while it exists the program stays attached, with or
/// without an agent.
pub const LINK_PIN: &str = "link";

/// Every pin an agent makes is named `dns_*` (the maps) or [`LINK_PIN`]; nothing else in the
/// directory is ours to remove.
fn is_ours(name: &str) -> bool {
    name == LINK_PIN || name.starts_with("dns_")
}

#[derive(Debug, thiserror::Error)]
pub enum PinDirError {
    #[error("cannot create the pin directory {dir}: {source}; run dns-xdp as root")]
    Create {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot lock the pin directory {dir}: {source}")]
    Lock {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "another dns-xdp agent{} serves from {dir}; stop it (`dns-xdp stop --pin-dir {dir}`) \
         or give this one another --pin-dir",
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Busy { dir: PathBuf, holder: Option<u32> },
}

/// A pin directory, locked: no other agent runs on it while this lives.
#[derive(Debug)]
pub struct PinDir {
    path: PathBuf,
    /// Holds the `flock`; closing it releases the lock.
    _lock: fs::File,
}

impl PinDir {
    /// Creates `path` if needed and locks it; fails with [`PinDirError::Busy`] when a running
    /// agent holds it.
    pub fn lock(path: &Path) -> Result<Self, PinDirError> {
        fs::create_dir_all(path).map_err(|source| PinDirError::Create {
            dir: path.to_path_buf(),
            source,
        })?;
        Self::try_lock(path)?.ok_or_else(|| PinDirError::Busy {
            dir: path.to_path_buf(),
            holder: holder(path),
        })
    }

    /// Locks an existing `path`: `None` when an agent holds it, [`PinDirError::Lock`] with
    /// `NotFound` when there is no such directory.
    pub fn try_lock(path: &Path) -> Result<Option<Self>, PinDirError> {
        let lock_err = |source| PinDirError::Lock {
            dir: path.to_path_buf(),
            source,
        };
        loop {
            // std opens with O_CLOEXEC: a child process must not inherit the lock.
            let dir = fs::File::open(path).map_err(lock_err)?;
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EWOULDBLOCK) => Ok(None),
                    _ => Err(lock_err(e)),
                };
            }
            // A stopping agent removes its directory before its lock goes: if this lock is on
            // a directory that is no longer at `path`, try again on the one that is.
            let locked = dir.metadata().map_err(lock_err)?;
            match fs::metadata(path) {
                Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => {
                    return Ok(Some(Self {
                        path: path.to_path_buf(),
                        _lock: dir,
                    }))
                }
                Ok(_) => continue,
                Err(e) => return Err(lock_err(e)),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Our pins in the directory (see [`is_ours`]), sorted.
    pub fn pins(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.path)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| is_ours(name))
            .collect();
        names.sort();
        names
    }

    /// Detaches the program of the pinned link from its interface and removes the pin.
    /// Returns the interface's index.
    pub fn remove_link(&self) -> io::Result<u32> {
        let link = self.path.join(LINK_PIN);
        let ifindex = detach_pinned_link(&link)?;
        fs::remove_file(&link)?;
        Ok(ifindex)
    }

    /// Removes the map pins (everything of ours but the link) not named in `keep`.
    pub fn remove_maps_except(&self, keep: &[&str]) -> io::Result<()> {
        for name in self.pins() {
            if name != LINK_PIN && !keep.contains(&name.as_str()) {
                fs::remove_file(self.path.join(name))?;
            }
        }
        Ok(())
    }

    /// Removes every pin of ours, detaching the program first if a link is pinned, and the
    /// directory if that leaves it empty. Returns what was removed and the interface the
    /// program was detached from, if any.
    pub fn remove_all(self) -> Removed {
        let mut removed = Removed::default();
        let link = self.path.join(LINK_PIN);
        if link.exists() {
            match detach_pinned_link(&link) {
                Ok(ifindex) => removed.detached_from = Some(ifindex),
                Err(e) => removed
                    .errors
                    .push(format!("detaching the link {}: {e}", link.display())),
            }
        }
        for name in self.pins() {
            match fs::remove_file(self.path.join(&name)) {
                Ok(()) => removed.pins.push(name),
                Err(e) => removed.errors.push(format!("removing {name}: {e}")),
            }
        }
        // Fails, and is meant to, if anything not ours is left in it.
        let _ = fs::remove_dir(&self.path);
        removed
    }
}

/// What [`PinDir::remove_all`] did.
#[derive(Debug, Default)]
pub struct Removed {
    pub pins: Vec<String>,
    /// The index of the interface the program was detached from (0: it was gone already).
    pub detached_from: Option<u32>,
    /// Pins that could not be removed, and why.
    pub errors: Vec<String>,
}

/// The pid of the process holding the lock on `path`, from `/proc/locks`; `None` if nobody
/// holds it or the holder is not visible from here.
pub fn holder(path: &Path) -> Option<u32> {
    let meta = fs::metadata(path).ok()?;
    let locks = fs::read_to_string("/proc/locks").ok()?;
    lock_holder(&locks, meta.dev(), meta.ino())
}

/// Finds the holder of a `flock` on the inode (`dev`, `ino`) in the text of `/proc/locks`,
/// whose lines read `1: FLOCK  ADVISORY  WRITE 19554 00:27:482408 0 EOF` (pid, then
/// major:minor in hex and the inode number). Waiters (`1: -> FLOCK ...`) are not holders.
fn lock_holder(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&"FLOCK") {
            return None;
        }
        let pid: u32 = fields.get(4)?.parse().ok()?;
        let mut id = fields.get(5)?.split(':');
        let maj = u32::from_str_radix(id.next()?, 16).ok()?;
        let min = u32::from_str_radix(id.next()?, 16).ok()?;
        let inode: u64 = id.next()?.parse().ok()?;
        (maj == major && min == minor && inode == ino && pid != 0).then_some(pid)
    })
}

/// The name of interface `ifindex` in this network namespace, or its number. (A link holds
/// only the index, which names another interface, or none, in another network namespace.)
pub fn interface_name(ifindex: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has the IF_NAMESIZE bytes if_indextoname writes at most.
    let name = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if name.is_null() {
        return format!("interface index {ifindex}");
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name into `buf`.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Detaches the XDP link pinned at `path` from its interface (which stays attached while
/// anything holds the link, even with its pin gone). Returns the interface's index.
fn detach_pinned_link(path: &Path) -> io::Result<u32> {
    let link = bpf::obj_get(path)?;
    let ifindex = bpf::xdp_link_ifindex(&link)?;
    // 0: its interface is gone, and the program with it.
    if ifindex != 0 {
        bpf::link_detach(&link)?;
    }
    Ok(ifindex)
}

/// The interface index of the XDP link pinned at `path` (0 once its interface is gone).
pub fn pinned_link_ifindex(path: &Path) -> io::Result<u32> {
    bpf::xdp_link_ifindex(&bpf::obj_get(path)?)
}

/// The three bpf(2) commands aya does not expose for a pinned link: open it, read which
/// interface it is attached to, detach it.
mod bpf {
    use super::*;

    const BPF_OBJ_GET: libc::c_long = 7;
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    const BPF_LINK_DETACH: libc::c_long = 34;
    const BPF_LINK_TYPE_XDP: u32 = 6;

    fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
        // SAFETY: `attr` is a live, fully initialised (no implicit padding) bpf_attr prefix
        // of the size passed; the kernel reads and writes only within it.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr as *mut T,
                std::mem::size_of::<T>() as libc::c_uint,
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    }

    pub fn obj_get(path: &Path) -> io::Result<OwnedFd> {
        #[repr(C)]
        struct ObjGet {
            pathname: u64,
            bpf_fd: u32,
            file_flags: u32,
            path_fd: i32,
            _pad: u32,
        }
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
        let mut attr = ObjGet {
            pathname: c_path.as_ptr() as u64,
            bpf_fd: 0,
            file_flags: 0,
            path_fd: 0,
            _pad: 0,
        };
        let fd = bpf(BPF_OBJ_GET, &mut attr)?;
        // SAFETY: BPF_OBJ_GET returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    pub fn xdp_link_ifindex(link: &OwnedFd) -> io::Result<u32> {
        #[repr(C)]
        struct InfoByFd {
            bpf_fd: u32,
            info_len: u32,
            info: u64,
        }
        // struct bpf_link_info: type, id, prog_id, then an 8-aligned union whose xdp member
        // is { ifindex } at byte 16. Room to spare: the kernel fills what it has.
        let mut info = [0u64; 32];
        let mut attr = InfoByFd {
            bpf_fd: link.as_raw_fd() as u32,
            info_len: std::mem::size_of_val(&info) as u32,
            info: info.as_mut_ptr() as u64,
        };
        bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
        let link_type = info[0] as u32;
        if link_type != BPF_LINK_TYPE_XDP {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the pinned link is of type {link_type}, not XDP"),
            ));
        }
        Ok(info[2] as u32)
    }

    pub fn link_detach(link: &OwnedFd) -> io::Result<()> {
        #[repr(C)]
        struct LinkDetach {
            link_fd: u32,
        }
        let mut attr = LinkDetach {
            link_fd: link.as_raw_fd() as u32,
        };
        bpf(BPF_LINK_DETACH, &mut attr).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_flock_holder_of_one_inode() {
        let locks = "\
1: POSIX  ADVISORY  WRITE 700 00:27:482408 0 EOF
2: FLOCK  ADVISORY  WRITE 19554 00:27:482408 0 EOF
2: -> FLOCK  ADVISORY  WRITE 19600 00:27:482408 0 EOF
3: FLOCK  ADVISORY  WRITE 812 fd:01:99 0 EOF
";
        let dev = libc::makedev(0, 0x27);
        assert_eq!(lock_holder(locks, dev, 482408), Some(19554));
        assert_eq!(lock_holder(locks, libc::makedev(0xfd, 1), 99), Some(812));
        assert_eq!(lock_holder(locks, dev, 482409), None);
        assert_eq!(lock_holder("", dev, 482408), None);
    }

    #[test]
    fn the_lock_excludes_a_second_holder_until_dropped() {
        // Any filesystem with flock will do for the lock itself.
        let dir = std::env::temp_dir().join(format!("dns-xdp-pindir-{}", std::process::id()));
        let first = PinDir::lock(&dir).unwrap();
        assert!(PinDir::try_lock(&dir).unwrap().is_none());
        let e = PinDir::lock(&dir).unwrap_err().to_string();
        assert!(
            e.contains(&format!("(pid {})", std::process::id())) && e.contains("dns-xdp stop"),
            "{e}"
        );
        fs::write(dir.join("dns_answers"), "").unwrap();
        fs::write(dir.join("notes"), "").unwrap();
        assert_eq!(first.pins(), ["dns_answers"]);
        drop(first);

        let second = PinDir::try_lock(&dir).unwrap().expect("free again");
        let removed = second.remove_all();
        assert_eq!(removed.pins, ["dns_answers"]);
        assert!(removed.errors.is_empty(), "{:?}", removed.errors);
        assert!(
            dir.join("notes").exists(),
            "not ours: kept, and the directory with it"
        );
        fs::remove_dir_all(&dir).unwrap();
        let e = PinDir::try_lock(&dir).unwrap_err();
        assert!(
            matches!(&e, PinDirError::Lock { source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{e}"
        );
    }
}
