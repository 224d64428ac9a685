//! The program's maps. Their layout lives in `dns-xdp-common`; names match
//! `dns_xdp_common::map_names`.

use aya_ebpf::{
    bindings::{BPF_F_MMAPABLE, BPF_F_NO_PREALLOC},
    btf_maps::{lpm_trie::Key, Array, HashMap, LpmTrie, PerCpuArray},
    macros::btf_map,
};
use dns_xdp_common::{
    addresses::{AddressEntry, ServedAddr, ADDR_SERVED, MAX_SERVED_ADDRS},
    answer::{AnswerKey, AnswerValue, DEFAULT_VIEW},
    counters::{Counter, COUNTER_COUNT},
    publish::PublishState,
    scratch::{Scratch, OPAQUE_SLOTS},
    views::{ViewKey, ViewValue, MAX_VIEW_PREFIXES},
};

/// Default capacity; the agent resizes it at load time from the zone size.
const ANSWERS_MAX_ENTRIES: usize = 65536;

#[btf_map(name = "dns_answers")]
pub static ANSWERS: HashMap<
    AnswerKey,
    AnswerValue,
    ANSWERS_MAX_ENTRIES,
    { BPF_F_NO_PREALLOC as usize },
> = HashMap::new();

/// Mappable, so the agent writes it with single atomic stores (see `PublishState`).
#[btf_map(name = "dns_publish")]
pub static PUBLISH: Array<PublishState, 1, { BPF_F_MMAPABLE as usize }> = Array::new();

#[btf_map(name = "dns_counters")]
pub static COUNTERS: PerCpuArray<u64, COUNTER_COUNT> = PerCpuArray::new();

#[btf_map(name = "dns_addresses")]
pub static ADDRESSES: HashMap<ServedAddr, AddressEntry, MAX_SERVED_ADDRS> = HashMap::new();

/// Client prefix → view, two tries of which `Live::views` says which is live. Keyed by the
/// 16-byte address (aya's `Key<[u8; 16]>` is `ViewKey`'s layout); LPM tries are always
/// `BPF_F_NO_PREALLOC`, the type's default, so capacity costs nothing until used.
#[btf_map(name = "dns_views_0")]
pub static VIEWS_0: LpmTrie<[u8; 16], ViewValue, MAX_VIEW_PREFIXES> = LpmTrie::new();
#[btf_map(name = "dns_views_1")]
pub static VIEWS_1: LpmTrie<[u8; 16], ViewValue, MAX_VIEW_PREFIXES> = LpmTrie::new();

const _: () = assert!(core::mem::size_of::<Key<[u8; 16]>>() == core::mem::size_of::<ViewKey>());

#[btf_map(name = "dns_scratch")]
pub static SCRATCH: PerCpuArray<Scratch, 1> = PerCpuArray::new();

/// The answer-map entry for `key`.
#[inline(always)]
pub fn answer(key: &AnswerKey) -> Option<&'static AnswerValue> {
    unsafe { ANSWERS.get(key) }
}

/// The entry of `addr` if it is one of the addresses the server answers for.
#[inline(always)]
pub fn served(addr: &ServedAddr) -> Option<&'static AddressEntry> {
    unsafe { ADDRESSES.get(addr) }.filter(|entry| entry.kind == ADDR_SERVED)
}

/// Whether no query from `addr` may be answered: every address in the map is one no client
/// sends from (ours, and the network and broadcast addresses of the host's subnets).
#[inline(always)]
pub fn never_source(addr: &ServedAddr) -> bool {
    unsafe { ADDRESSES.get(addr) }.is_some()
}

/// The view of a client at `addr` (16 bytes, IPv4 mapped as in `ViewKey`): the longest
/// prefix in view trie `trie` (0 or 1) that covers it, or the default view.
#[inline(always)]
pub fn view_of(trie: u8, addr: [u8; 16]) -> u8 {
    let key = Key::new(128, addr);
    let found = if trie == 0 {
        VIEWS_0.get(&key)
    } else {
        VIEWS_1.get(&key)
    };
    match found {
        Some(value) => value.view,
        None => DEFAULT_VIEW,
    }
}

/// Passes `value` through map memory so the verifier forgets which exact value it was (see
/// `Scratch::opaque`); the caller bounds it again before use.
#[inline(always)]
pub fn forget(scratch: *mut Scratch, slot: usize, value: u64) -> u64 {
    let slot = unsafe { &mut (*scratch).opaque[slot % OPAQUE_SLOTS] };
    unsafe { core::ptr::write_volatile(slot, value) };
    unsafe { core::ptr::read_volatile(slot) }
}

#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter as u32) {
        // Per-CPU slot: no other CPU writes it, so a plain add is exact.
        unsafe { *slot += 1 };
    }
}
