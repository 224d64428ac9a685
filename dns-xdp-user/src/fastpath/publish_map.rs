//! The agent's side of `dns_publish` (see `dns_xdp_common::publish`): the map's one value,
//! mapped into the agent's memory so that what is live, the update sequence and the layout
//! version are each written with one atomic 64-bit store.

use std::{
    io,
    os::fd::{AsFd, AsRawFd},
    ptr::NonNull,
    sync::atomic::{fence, AtomicU64, Ordering},
};

use aya::maps::MapData;
use dns_xdp_common::publish::{Live, PublishState};

/// The `dns_publish` value, mapped into the agent's memory so that [`Live`] and the update
/// sequence are each written with one atomic 64-bit store (a map update syscall copies the
/// value with `memcpy`, whose stores may land in any order).
pub(super) struct PublishMap {
    /// Kept open for as long as the mapping is used.
    _map: MapData,
    page: NonNull<libc::c_void>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory, only ever accessed through atomics.
unsafe impl Send for PublishMap {}
unsafe impl Sync for PublishMap {}

impl PublishMap {
    pub(super) fn new(map: MapData) -> io::Result<Self> {
        // SAFETY: sysconf has no preconditions.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let len = usize::try_from(page_size).map_err(|_| io::Error::last_os_error())?;
        // SAFETY: maps the first page of an array map of one 16-byte value created with
        // BPF_F_MMAPABLE; the kernel checks the length and the flags.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let page = NonNull::new(page).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self {
            _map: map,
            page,
            len,
        })
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset + 8 <= std::mem::size_of::<PublishState>());
        // SAFETY: the page starts with the PublishState, so each of its 8-byte words is
        // aligned; the mapping lives as long as `self`.
        unsafe {
            &*(self
                .page
                .as_ptr()
                .cast::<u8>()
                .add(offset)
                .cast::<AtomicU64>())
        }
    }

    /// What is live.
    pub(super) fn live(&self) -> Live {
        Live::from_word(
            self.word(std::mem::offset_of!(PublishState, live))
                .load(Ordering::SeqCst),
        )
    }

    /// Makes an odd update sequence even: one a dead agent left when it died inside an update.
    /// Queries passed up while it was odd; from now on they are answered again.
    pub(super) fn settle(&self) {
        let seq = self.word(std::mem::offset_of!(PublishState, seq));
        if seq.load(Ordering::SeqCst) % 2 == 1 {
            seq.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Flips what is live. Everything the new state refers to was written before: the store
    /// releases it.
    pub(super) fn set_live(&self, live: Live) {
        self.word(std::mem::offset_of!(PublishState, live))
            .store(live.to_word(), Ordering::SeqCst);
    }

    /// Moves the update sequence on by two in one store, past a flip: every query that began
    /// before it sees the sequence moved when it checks again, and passes up.
    pub(super) fn advance(&self) {
        let seq = self.word(std::mem::offset_of!(PublishState, seq));
        seq.fetch_add(2, Ordering::SeqCst);
    }

    /// Records the layout of the maps, for an agent that may take them over.
    pub(super) fn set_layout(&self, layout: u32) {
        let word = self.word(std::mem::offset_of!(PublishState, layout));
        let pad = word.load(Ordering::SeqCst) & !u64::from(u32::MAX);
        word.store(pad | u64::from(layout), Ordering::SeqCst);
    }

    /// Makes the update sequence odd until the returned guard is dropped. The fence orders the
    /// odd value before every write of the update, the kernel's included.
    pub(super) fn begin_update(&self) -> Update<'_> {
        let seq = self.word(std::mem::offset_of!(PublishState, seq));
        let before = seq.fetch_add(1, Ordering::SeqCst);
        debug_assert!(before.is_multiple_of(2), "updates do not nest");
        fence(Ordering::SeqCst);
        Update { seq }
    }
}

impl Drop for PublishMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped; no reference into it outlives `self`.
        unsafe { libc::munmap(self.page.as_ptr(), self.len) };
    }
}

/// An update in progress: the sequence is odd until this is dropped, on error returns too.
pub(super) struct Update<'a> {
    seq: &'a AtomicU64,
}

impl Drop for Update<'_> {
    fn drop(&mut self) {
        // Every write of the update before the even value.
        fence(Ordering::SeqCst);
        self.seq.fetch_add(1, Ordering::SeqCst);
    }
}
