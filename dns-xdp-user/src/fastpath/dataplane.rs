//! The kernel side as the agent sees it: loads the XDP program, attaches it, pins its maps under
//! bpffs, publishes answer sets with their client-view tries atomically (or changes answers in
//! place, under the update sequence), and reads the counters back.
//!
//! `dns_xdp_common::publish` explains how the program is kept from answering with an entry
//! the kernel is rewriting; this module keeps the agent's half of that bargain: every write
//! that frees an element of the live generation (an update or a delete in place) happens while
//! the update sequence is odd (`PublishMap::begin_update`), and the entries of a generation
//! that is no longer live are deleted only after the flip that retired it moved the sequence
//! on (`PublishMap::advance`).

use std::{
    collections::{HashMap as StdHashMap, HashSet},
    io,
    net::IpAddr,
    path::{Path, PathBuf},
};

use aya::{
    maps::{lpm_trie::Key, HashMap, LpmTrie, Map, MapData, MapError, PerCpuArray},
    programs::{
        links::{FdLink, PinnedLink},
        xdp::{XdpLink, XdpLinkId},
        ProgramError, Xdp, XdpMode,
    },
    Ebpf, EbpfLoader,
};
use dns_xdp_common::{
    addresses::{AddressEntry, ServedAddr, ADDR_NEVER_SOURCE, ADDR_SERVED, MAX_SERVED_ADDRS},
    answer::{AnswerKey, AnswerValue},
    map_names, program_names,
    publish::{Live, LAYOUT_VERSION},
    views::{ViewKey, ViewValue, MAX_VIEW_PREFIXES},
};

use crate::{
    config::XdpAttachMode,
    fastpath::{
        answers::{AnswerSet, Change, Changes},
        bpffs::{self, BpffsError},
        counters::Counters,
        pin_dir::{self, PinDir, PinDirError, LINK_PIN},
        publish_map::PublishMap,
        requirements::{self, RequirementError},
        takeover::{self, PINNED_MAPS},
    },
};

#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    #[error(
        "loading the XDP program failed: {0}. Loading BPF programs needs root (or CAP_BPF and \
         CAP_NET_ADMIN); run dns-xdp as root, or set xdp_mode = \"off\" to serve without XDP"
    )]
    Load(#[source] Box<aya::EbpfError>),
    #[error("the eBPF object has no {0}; rebuild it with `cargo xtask build-ebpf`")]
    Missing(&'static str),
    #[error("the kernel rejected the XDP program: {0}")]
    Program(#[source] Box<ProgramError>),
    #[error(
        "interface {0:?} does not exist; check `[server] interface` (`ip link` lists interfaces)"
    )]
    NoInterface(String),
    #[error(
        "attaching XDP to {interface} failed in native mode ({native}) and in skb mode ({skb})"
    )]
    Attach {
        interface: String,
        native: Box<ProgramError>,
        skb: Box<ProgramError>,
    },
    #[error("attaching XDP to {interface} in native mode failed: {source}")]
    AttachNative {
        interface: String,
        #[source]
        source: Box<ProgramError>,
    },
    #[error("attaching XDP to {interface} in skb mode failed: {source}")]
    AttachSkb {
        interface: String,
        #[source]
        source: Box<ProgramError>,
    },
    #[error("BPF map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: MapError,
    },
    #[error("pinning maps under {dir} failed: {source}")]
    Pin {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    PinDir(#[from] PinDirError),
    #[error(transparent)]
    Bpffs(#[from] BpffsError),
    #[error(transparent)]
    Requirement(#[from] RequirementError),
    #[error("the pinned link {path}: {source}")]
    Link {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the kernel attached XDP to {0} without a BPF link, which cannot be pinned; dns-xdp \
         needs Linux 5.9 or later"
    )]
    NoLink(String),
    #[error(
        "{0} addresses to answer for or to refuse as sources, more than the {MAX_SERVED_ADDRS} \
         the fast path holds; list specific [server] listen addresses"
    )]
    TooManyAddresses(usize),
    #[error("{count} answers do not fit the answer map (capacity {capacity})")]
    Capacity { count: usize, capacity: u32 },
    #[error(
        "view prefix {addr}/{prefix_len} is longer than an {family} address; use at most /{max}",
        family = if addr.is_ipv4() { "IPv4" } else { "IPv6" },
        max = if addr.is_ipv4() { 32 } else { 128 }
    )]
    BadPrefix { addr: IpAddr, prefix_len: u8 },
    #[error(
        "{0} view prefixes, more than the {MAX_VIEW_PREFIXES} the fast path holds; merge \
         adjacent prefixes of one region, or use fewer regions"
    )]
    TooManyPrefixes(usize),
    #[error(
        "nothing is published yet, so there is no live answer set to change in place; publish a \
         whole answer set first"
    )]
    NothingPublished,
    #[error(
        "mapping BPF map {map} into memory failed: {0}; the kernel must support memory-mapped \
         BPF arrays (Linux 5.5 or later)",
        map = map_names::PUBLISH
    )]
    MapPublish(#[source] io::Error),
}

fn map_err(name: &'static str) -> impl FnOnce(MapError) -> DataplaneError {
    move |source| DataplaneError::Map { name, source }
}

/// How the program ended up attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attached {
    Native,
    Skb,
    /// In place of a dead agent's program, through its pinned link, in the mode that link was
    /// made with.
    TookOver,
}

pub use dns_xdp_common::views::ViewPrefix;

/// What an in-place update did to a map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Updated {
    /// Entries inserted or replaced.
    pub written: usize,
    pub deleted: usize,
}

/// What [`Dataplane::apply`] did: the first `done` changes took effect, in their order; the
/// rest did not, for `error`'s reason.
#[derive(Debug)]
pub struct Applied {
    pub done: usize,
    pub updated: Updated,
    pub error: Option<DataplaneError>,
}

impl Applied {
    /// All of it, or the error.
    pub fn into_result(self) -> Result<Updated, DataplaneError> {
        match self.error {
            None => Ok(self.updated),
            Some(e) => Err(e),
        }
    }
}

/// What [`Dataplane::publish`] did: `generation` is live with its view trie.
#[derive(Debug)]
pub struct Published {
    pub generation: u32,
    /// Why the previous generation's entries, or the prefixes of the trie that is no longer
    /// live, could not all be removed after the flip. Nothing answers from them; they take room
    /// until [`Dataplane::remove_stale`] (which the next publication runs first) removes them.
    pub leftovers: Option<DataplaneError>,
}

pub struct Dataplane {
    ebpf: Ebpf,
    answers: HashMap<MapData, AnswerKey, AnswerValue>,
    /// The two view tries, indexed by `Live::views`.
    views: [LpmTrie<MapData, [u8; 16], ViewValue>; 2],
    /// What each trie holds: the agent is their only writer.
    trie_contents: [StdHashMap<ViewKey, u8>; 2],
    /// Entries of the live generation.
    live_entries: usize,
    addresses: HashMap<MapData, ServedAddr, AddressEntry>,
    publish: PublishMap,
    counters: PerCpuArray<MapData, u64>,
    capacity: u32,
    /// What `publish` holds as live.
    live: Live,
    /// The EDNS payload size for the next publish.
    edns_payload: u16,
    /// Locked for as long as this dataplane lives; holds its pins.
    pin_dir: Option<PinDir>,
    /// The interface index of a dead agent's pinned link, in which [`Dataplane::attach`]
    /// replaces the program.
    inherited_link: Option<u32>,
    /// Whether the maps are a dead agent's, still answering from its last generation through
    /// its link.
    inherited_answers: bool,
    /// Our attachment, also pinned: held while the agent runs.
    link: Option<FdLink>,
}

impl Dataplane {
    /// Loads the program and creates its maps, sized for `answer_capacity` answers, and pins the
    /// maps as `<pin_dir>/<map name>` so bpftool and `dns-xdp stats` can read them (the pins go
    /// with [`Dataplane::unpin`] or on drop). `pin_dir` stays locked while the dataplane lives,
    /// so no second agent runs on it. Nothing is attached yet.
    ///
    /// Pins a dead agent left in `pin_dir` are taken over (see [`crate::fastpath::takeover`]): its maps,
    /// when they have the shape this program expects, keep their answers and counters, and
    /// [`Dataplane::attach`] replaces the program in its pinned link.
    pub fn load(
        answer_capacity: u32,
        edns_payload: u16,
        pin_dir: Option<&Path>,
    ) -> Result<Self, DataplaneError> {
        requirements::check()?;
        if let Some(dir) = pin_dir {
            if let Some(at) = bpffs::ensure(dir)? {
                log::info!(
                    "mounted bpffs at {} (nothing was mounted there) for the pins in {}",
                    at.display(),
                    dir.display()
                );
            }
        }
        // Before the program is verified, which takes a while: a busy directory fails at once.
        let pin_dir = pin_dir.map(PinDir::lock).transpose()?;
        // A publish holds the old and the new generation at once.
        let capacity = answer_capacity.saturating_mul(2).max(1024);
        let found = pin_dir
            .as_ref()
            .map(|dir| takeover::inspect(dir, crate::fastpath::object::OBJECT, capacity))
            .unwrap_or_default();
        let maps = load_program(capacity, pin_dir.as_ref(), found.reuse_maps);
        let (ebpf, answers, addresses, views, publish, counters) = match maps {
            Ok(maps) => maps,
            Err(e) => {
                match pin_dir {
                    // A dead agent's program may still be answering from its pins: leave them.
                    Some(dir) if found.anything => log::warn!(
                        "left the pins in {} as they were; `dns-xdp stop --pin-dir {}` removes \
                         them",
                        dir.path().display(),
                        dir.path().display()
                    ),
                    // Nothing of this agent may stay behind: no pins, no directory it made.
                    Some(dir) => {
                        dir.remove_all();
                    }
                    None => {}
                }
                return Err(e);
            }
        };
        // From here on, dropping the dataplane removes the pins.
        let mut dataplane = Self {
            ebpf,
            answers,
            views,
            trie_contents: Default::default(),
            live_entries: 0,
            addresses,
            publish,
            counters,
            capacity,
            live: Live {
                generation: 0,
                edns_payload,
                views: 0,
                _pad: 0,
            },
            edns_payload,
            pin_dir,
            inherited_link: found.link_ifindex,
            inherited_answers: false,
            link: None,
        };
        if found.reuse_maps {
            dataplane.live = dataplane.publish.live();
            let live = dataplane.live.generation;
            dataplane.capacity = found.answer_capacity;
            // A dead agent may have died inside an update: its sequence may be odd, so make it
            // even again. A generation it was still writing was never live: out with it (and
            // with whatever it failed to clean up), so that the next publish, which may reuse
            // its number, starts clean. Whatever of it a query read is a dead process's past:
            // that query ended long ago.
            dataplane.publish.settle();
            for trie in 0..2 {
                dataplane.trie_contents[trie] = dataplane.trie_entries(trie)?;
            }
            dataplane.remove_stale()?;
            // In-place updates and publishing work from what the maps hold.
            dataplane.live_entries = dataplane.answer_keys().len();
            dataplane.inherited_answers = live != 0 && found.link_ifindex.is_some();
            log::info!(
                "took over the maps pinned in {} (live generation {live})",
                dataplane
                    .pin_dir
                    .as_ref()
                    .map_or(String::new(), |d| d.path().display().to_string())
            );
        } else {
            dataplane.publish.set_layout(LAYOUT_VERSION);
            dataplane.publish.set_live(dataplane.live);
        }
        Ok(dataplane)
    }

    /// The live generation of a dead agent whose answers the fast path keeps serving until
    /// this agent's first [`Dataplane::publish`]; `None` when it is not taking over.
    pub fn inherited_generation(&self) -> Option<u32> {
        self.inherited_answers.then_some(self.live.generation)
    }

    /// The responder program, for `BPF_PROG_TEST_RUN` in tests and benchmarks.
    pub fn responder(&self) -> &Xdp {
        self.ebpf
            .program(program_names::RESPONDER)
            .and_then(|p| p.try_into().ok())
            .expect("found and converted in load")
    }

    /// Attaches the responder to `interface`: native mode first, then skb mode if the driver
    /// cannot run XDP itself. With a pin directory the attachment is a BPF link pinned as
    /// `<pin_dir>/link`, which keeps the program attached and answering if the agent dies. A
    /// dead agent's link on the same interface is taken over: the program in it is replaced in
    /// one atomic update, so no packet goes unanswered.
    pub fn attach(
        &mut self,
        interface: &str,
        mode: XdpAttachMode,
    ) -> Result<Attached, DataplaneError> {
        let ifindex = check_interface(interface)?;
        if let Some(old) = self.inherited_link {
            let dir = self
                .pin_dir
                .as_ref()
                .expect("inherited from a pin directory");
            let path = dir.path().join(LINK_PIN);
            if old == ifindex {
                let link = PinnedLink::from_pin(&path)
                    .map_err(|e| link_err(&path, e))
                    .and_then(|pinned| {
                        XdpLink::try_from(FdLink::from(pinned)).map_err(|e| link_err(&path, e))
                    })?;
                self.responder_mut()?
                    .attach_to_link(link)
                    .map_err(|e| DataplaneError::Program(Box::new(e)))?;
                self.inherited_link = None;
                return Ok(Attached::TookOver);
            }
            log::warn!(
                "the dead agent's program is attached to {}, not {interface}: detaching it there",
                pin_dir::interface_name(old)
            );
            dir.remove_link().map_err(|e| link_err(&path, e))?;
            self.inherited_link = None;
        }
        let (link_id, attached) = self.attach_new(interface, mode)?;
        if let Some(dir) = &self.pin_dir {
            let path = dir.path().join(LINK_PIN);
            let link = self
                .responder_mut()?
                .take_link(link_id)
                .map_err(|e| DataplaneError::Program(Box::new(e)))?;
            let link = FdLink::try_from(link)
                .map_err(|_| DataplaneError::NoLink(interface.to_string()))?;
            let pinned = link.pin(&path).map_err(|e| link_err(&path, e))?;
            self.link = Some(pinned.into());
        }
        Ok(attached)
    }

    fn responder_mut(&mut self) -> Result<&mut Xdp, DataplaneError> {
        self.ebpf
            .program_mut(program_names::RESPONDER)
            .and_then(|p| p.try_into().ok())
            .ok_or(DataplaneError::Missing("XDP program"))
    }

    fn attach_new(
        &mut self,
        interface: &str,
        mode: XdpAttachMode,
    ) -> Result<(XdpLinkId, Attached), DataplaneError> {
        let program = self.responder_mut()?;
        match mode {
            XdpAttachMode::Skb => program
                .attach(interface, XdpMode::Skb)
                .map(|id| (id, Attached::Skb))
                .map_err(|source| DataplaneError::AttachSkb {
                    interface: interface.to_string(),
                    source: Box::new(source),
                }),
            XdpAttachMode::Native | XdpAttachMode::Off => {
                match program.attach(interface, XdpMode::Driver) {
                    Ok(id) => Ok((id, Attached::Native)),
                    Err(native) => {
                        log::warn!(
                            "native XDP on {interface} failed ({native}); falling back to skb mode \
                             (set xdp_mode = \"skb\" to skip this attempt)"
                        );
                        program
                            .attach(interface, XdpMode::Skb)
                            .map(|id| (id, Attached::Skb))
                            .map_err(|skb| DataplaneError::Attach {
                                interface: interface.to_string(),
                                native: Box::new(native),
                                skb: Box::new(skb),
                            })
                    }
                }
            }
        }
    }

    /// Releases the pin directory but leaves the pins, and with them the program attached and
    /// answering: the next agent on the directory takes them over. For upgrades.
    pub fn hand_over(&mut self) {
        self.pin_dir = None;
    }

    /// Detaches the program, removes the pins and releases the pin directory: what a clean
    /// stop does (a killed agent leaves them, for the next one to take over).
    pub fn unpin(&mut self) {
        if let Some(dir) = self.pin_dir.take() {
            if self.inherited_link.is_some() {
                // Stopped before taking over: the dead agent's program still answers through
                // its link, from its maps. Leave them to the next agent.
                log::warn!(
                    "left the pins in {} as they were; `dns-xdp stop --pin-dir {}` removes them",
                    dir.path().display(),
                    dir.path().display()
                );
            } else {
                dir.remove_all();
            }
        }
        self.link = None;
    }

    /// Sets the destination addresses the program answers for (queries to any other address
    /// pass up) and the sources it never answers: `never_sources` and the served addresses.
    /// An address in both stays served. Every served entry's source filter holds every
    /// address, and the served entries are written first, so no address in the map is ever
    /// missing from a filter the program reads.
    pub fn serve_addresses(
        &mut self,
        served: impl IntoIterator<Item = IpAddr>,
        never_sources: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), DataplaneError> {
        let key = |addr| match addr {
            IpAddr::V4(v4) => ServedAddr::v4(v4.octets()),
            IpAddr::V6(v6) => ServedAddr::v6(v6.octets()),
        };
        let served: HashSet<ServedAddr> = served.into_iter().map(key).collect();
        let never_sources: HashSet<ServedAddr> = never_sources
            .into_iter()
            .map(key)
            .filter(|addr| !served.contains(addr))
            .collect();
        let count = served.len() + never_sources.len();
        if count > MAX_SERVED_ADDRS {
            return Err(DataplaneError::TooManyAddresses(count));
        }
        let mut served_entry = AddressEntry::new(ADDR_SERVED);
        for addr in served.iter().chain(&never_sources) {
            served_entry.add_source(addr);
        }
        let entries = served.iter().map(|addr| (addr, served_entry)).chain(
            never_sources
                .iter()
                .map(|addr| (addr, AddressEntry::new(ADDR_NEVER_SOURCE))),
        );
        for (addr, entry) in entries {
            self.addresses
                .insert(addr, entry, 0)
                .map_err(map_err(map_names::ADDRESSES))?;
        }
        let stale: Vec<ServedAddr> = self
            .addresses
            .keys()
            .filter_map(Result::ok)
            .filter(|a| !served.contains(a) && !never_sources.contains(a))
            .collect();
        for addr in &stale {
            self.addresses
                .remove(addr)
                .map_err(map_err(map_names::ADDRESSES))?;
        }
        Ok(())
    }

    /// Publishes a whole answer set and the client prefixes of its views (`prefixes`; of two
    /// entries for one prefix the later wins): writes the answers under a new generation and
    /// the prefixes into the view trie that is not live, flips generation, trie and EDNS size
    /// in one store and moves the update sequence past the flip, then deletes the old
    /// generation and empties the old trie, which no query reads any more (see
    /// `dns_xdp_common::publish`). A query sees the old answers with the old views, or the new
    /// with the new. When the prefixes are those already live, the live trie stays and neither
    /// is written.
    ///
    /// On error nothing live has changed. Once the flip is made the publication stands: what
    /// could not be cleaned up after it is in [`Published::leftovers`].
    pub fn publish(
        &mut self,
        set: &AnswerSet,
        prefixes: &[ViewPrefix],
    ) -> Result<Published, DataplaneError> {
        let wanted = trie_contents(prefixes)?;
        // What an earlier publication left behind takes room this one needs.
        self.remove_stale()?;
        if self.live_entries + set.len() > self.capacity as usize {
            return Err(DataplaneError::Capacity {
                count: set.len(),
                capacity: self.capacity / 2,
            });
        }
        let next = match self.live.generation.wrapping_add(1) {
            0 => 1,
            g => g,
        };
        let old_trie = self.live.views as usize;
        let trie = if wanted == self.trie_contents[old_trie] {
            old_trie
        } else {
            1 - old_trie
        };
        // Neither the new generation nor the idle trie is read before the flip, and inserting
        // frees nothing a query may hold, so no update sequence (see `dns_xdp_common::publish`).
        let mut written = Ok(());
        if trie != old_trie {
            // Empty: `remove_stale` emptied the idle trie.
            written = self.fill_trie(trie, &wanted);
        }
        if written.is_ok() {
            written = set.iter().try_for_each(|answer| {
                self.answers
                    .insert(answer.key(next), answer.value(), 0)
                    .map_err(map_err(map_names::ANSWERS))
            });
        }
        if let Err(e) = written {
            // Take the half-written state back out: the next publish reuses the generation
            // number and the trie, and must not inherit anything from this one. None of it was
            // ever live, so no query holds it; what cannot be removed now, `remove_stale`
            // removes before the next publication.
            let half_written = keys_where(&self.answers, |k| k.generation == next);
            let _ = remove_keys(&mut self.answers, &half_written);
            if trie != old_trie {
                let _ = self.clear_trie(trie);
            }
            return Err(e);
        }
        self.live = Live {
            generation: next,
            edns_payload: self.edns_payload,
            views: trie as u8,
            _pad: 0,
        };
        self.publish.set_live(self.live);
        self.publish.advance();
        self.live_entries = set.len();
        Ok(Published {
            generation: next,
            leftovers: self.remove_stale().err(),
        })
    }

    /// Removes everything no query reaches: the entries of generations other than the live
    /// one, and the prefixes of the view trie that is not live. Their last readers began before
    /// the flip that retired them, and that flip moved the update sequence on, so no odd
    /// sequence is needed (see `dns_xdp_common::publish`). Returns how many entries went.
    pub fn remove_stale(&mut self) -> Result<usize, DataplaneError> {
        let live = self.live.generation;
        let stale = keys_where(&self.answers, |k| k.generation != live);
        remove_keys(&mut self.answers, &stale)?;
        self.clear_trie(1 - self.live.views as usize)?;
        Ok(stale.len())
    }

    /// Applies `changes` to the live generation in place, in their order: writes the entries
    /// they write, deletes those they delete. The whole batch runs under the update sequence: a
    /// query that overlaps it passes up (`pass_torn`), so every answer comes from an entry
    /// before or after a change, never one being rewritten. For changes in place (health); a
    /// reload publishes a whole new generation with [`Dataplane::publish`].
    ///
    /// `changes` must be ordered as [`AnswerSet::changes_to`] orders them, so that each step
    /// leaves every lookup chain whole: stopped by an error half way, the map holds each entry
    /// whole, and exactly the first [`Applied::done`] changes.
    pub fn apply(&mut self, changes: &Changes<'_>) -> Applied {
        let mut applied = Applied {
            done: 0,
            updated: Updated::default(),
            error: None,
        };
        if self.live.generation == 0 {
            applied.error = Some(DataplaneError::NothingPublished);
            return applied;
        }
        let room = self.capacity as usize / 2;
        if self.live_entries + changes.inserted > room {
            applied.error = Some(DataplaneError::Capacity {
                count: self.live_entries + changes.inserted,
                capacity: room as u32,
            });
            return applied;
        }
        let generation = self.live.generation;
        let _update = self.publish.begin_update();
        for change in &changes.list {
            let result = match change {
                Change::Write(answer) => {
                    let key = answer.key(generation);
                    let new = self.answers.get(&key, 0).is_err();
                    self.answers
                        .insert(key, answer.value(), 0)
                        .map(|()| {
                            applied.updated.written += 1;
                            self.live_entries += usize::from(new);
                        })
                        .map_err(map_err(map_names::ANSWERS))
                }
                Change::Delete(key) => {
                    let key = AnswerKey { generation, ..*key };
                    match self.answers.remove(&key) {
                        Ok(()) => {
                            applied.updated.deleted += 1;
                            self.live_entries = self.live_entries.saturating_sub(1);
                            Ok(())
                        }
                        // Gone already: the change holds all the same.
                        Err(MapError::KeyNotFound) => Ok(()),
                        Err(e) => Err(map_err(map_names::ANSWERS)(e)),
                    }
                }
            };
            if let Err(e) = result {
                applied.error = Some(e);
                return applied;
            }
            applied.done += 1;
        }
        applied
    }

    /// Changes the live generation in place from `old` to `new` (see [`Dataplane::apply`]):
    /// `old` must be what the live generation holds for the keys of either set.
    pub fn update_answers(&mut self, old: &AnswerSet, new: &AnswerSet) -> Applied {
        self.apply(&old.changes_to(new))
    }

    /// Writes `wanted` into trie `trie`, which is empty and idle.
    fn fill_trie(
        &mut self,
        trie: usize,
        wanted: &StdHashMap<ViewKey, u8>,
    ) -> Result<(), DataplaneError> {
        for (key, &view) in wanted {
            self.views[trie]
                .insert(&trie_key(key), ViewValue::new(view), 0)
                .map_err(map_err(map_names::VIEWS[trie]))?;
            self.trie_contents[trie].insert(*key, view);
        }
        Ok(())
    }

    /// Empties trie `trie`, which is idle. An LPM trie frees its nodes only after an RCU grace
    /// period, so a query still walking it reads old nodes, never reused ones.
    fn clear_trie(&mut self, trie: usize) -> Result<(), DataplaneError> {
        let keys: Vec<ViewKey> = self.trie_contents[trie].keys().copied().collect();
        for key in &keys {
            match self.views[trie].remove(&trie_key(key)) {
                Ok(()) | Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(map_err(map_names::VIEWS[trie])(e)),
            }
            self.trie_contents[trie].remove(key);
        }
        Ok(())
    }

    /// The live view trie as the kernel holds it (for tests and inspection).
    pub fn view_prefixes(&self) -> Result<StdHashMap<ViewKey, u8>, DataplaneError> {
        self.trie_entries(self.live.views as usize)
    }

    /// What view trie `trie` holds.
    fn trie_entries(&self, trie: usize) -> Result<StdHashMap<ViewKey, u8>, DataplaneError> {
        self.views[trie]
            .iter()
            .map(|entry| {
                entry
                    .map(|(key, value)| {
                        let key = ViewKey {
                            prefix_len: key.prefix_len(),
                            addr: key.data(),
                        };
                        (key, value.view)
                    })
                    .map_err(map_err(map_names::VIEWS[trie]))
            })
            .collect()
    }

    /// Sets the EDNS payload size the program advertises from the next [`Dataplane::publish`]
    /// on, which flips it together with the answers.
    pub fn set_edns_payload(&mut self, edns_payload: u16) {
        self.edns_payload = edns_payload;
    }

    /// The live generation (0 before the first publish).
    pub fn generation(&self) -> u32 {
        self.live.generation
    }

    /// The counters, summed over CPUs.
    pub fn counters(&self) -> Result<Counters, DataplaneError> {
        Counters::read(&self.counters)
    }

    /// Keys currently in the answer map (for tests and inspection).
    pub fn answer_keys(&self) -> HashSet<AnswerKey> {
        self.answers.keys().filter_map(Result::ok).collect()
    }
}

fn trie_key(key: &ViewKey) -> Key<[u8; 16]> {
    Key::new(key.prefix_len, key.addr)
}

/// The trie entries for `prefixes`, the later of two for one prefix winning.
fn trie_contents(prefixes: &[ViewPrefix]) -> Result<StdHashMap<ViewKey, u8>, DataplaneError> {
    let mut wanted = StdHashMap::with_capacity(prefixes.len());
    for p in prefixes {
        let key = ViewKey::new(p.addr, p.prefix_len).ok_or(DataplaneError::BadPrefix {
            addr: p.addr,
            prefix_len: p.prefix_len,
        })?;
        wanted.insert(key, p.view);
    }
    if wanted.len() > MAX_VIEW_PREFIXES {
        return Err(DataplaneError::TooManyPrefixes(wanted.len()));
    }
    Ok(wanted)
}

/// The keys in the answer map that match `wanted`.
fn keys_where(
    answers: &HashMap<MapData, AnswerKey, AnswerValue>,
    wanted: impl Fn(&AnswerKey) -> bool,
) -> Vec<AnswerKey> {
    answers
        .keys()
        .filter_map(Result::ok)
        .filter(|k| wanted(k))
        .collect()
}

/// Deletes `keys` from the answer map (those already gone are no error).
fn remove_keys(
    answers: &mut HashMap<MapData, AnswerKey, AnswerValue>,
    keys: &[AnswerKey],
) -> Result<(), DataplaneError> {
    for key in keys {
        match answers.remove(key) {
            Ok(()) | Err(MapError::KeyNotFound) => {}
            Err(e) => return Err(map_err(map_names::ANSWERS)(e)),
        }
    }
    Ok(())
}

/// The index of `interface`; a clear error when it does not exist in this network namespace.
fn check_interface(interface: &str) -> Result<u32, DataplaneError> {
    let missing = || DataplaneError::NoInterface(interface.to_string());
    let name = std::ffi::CString::new(interface).map_err(|_| missing())?;
    // SAFETY: `name` is a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(missing()),
        index => Ok(index),
    }
}

fn link_err(path: &Path, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> DataplaneError {
    DataplaneError::Link {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// The pass-everything program attached to one interface; detached when dropped.
///
/// A frame sent with `XDP_TX` from one end of a veth pair is dropped unless the other end runs
/// an XDP program, so test and demo topologies attach this to the client end.
pub struct PassProgram {
    _ebpf: Ebpf,
}

impl PassProgram {
    pub fn attach(interface: &str) -> Result<Self, DataplaneError> {
        check_interface(interface)?;
        let mut ebpf = Ebpf::load(crate::fastpath::object::OBJECT)
            .map_err(|e| DataplaneError::Load(Box::new(e)))?;
        let program: &mut Xdp = ebpf
            .program_mut(program_names::PASS)
            .ok_or(DataplaneError::Missing("XDP pass program"))?
            .try_into()
            .map_err(|e| DataplaneError::Program(Box::new(e)))?;
        program
            .load()
            .map_err(|e| DataplaneError::Program(Box::new(e)))?;
        program
            .attach(interface, XdpMode::Driver)
            .map_err(|source| DataplaneError::AttachNative {
                interface: interface.to_string(),
                source: Box::new(source),
            })?;
        Ok(Self { _ebpf: ebpf })
    }
}

type Maps = (
    Ebpf,
    HashMap<MapData, AnswerKey, AnswerValue>,
    HashMap<MapData, ServedAddr, AddressEntry>,
    [LpmTrie<MapData, [u8; 16], ViewValue>; 2],
    PublishMap,
    PerCpuArray<MapData, u64>,
);

/// Loads the program with an answer map of `capacity` entries and pins the maps in `pin_dir`:
/// with `reuse`, the maps pinned there are the program's (a takeover); otherwise new maps
/// replace whatever is pinned.
fn load_program(
    capacity: u32,
    pin_dir: Option<&PinDir>,
    reuse: bool,
) -> Result<Maps, DataplaneError> {
    let mut loader = EbpfLoader::new();
    loader.map_max_entries(map_names::ANSWERS, capacity);
    if let Some(dir) = pin_dir.filter(|_| reuse) {
        for name in PINNED_MAPS {
            loader.map_pin_path(name, dir.path().join(name));
        }
    }
    let mut ebpf = loader
        .load(crate::fastpath::object::OBJECT)
        .map_err(|e| DataplaneError::Load(Box::new(e)))?;
    let program: &mut Xdp = ebpf
        .program_mut(program_names::RESPONDER)
        .ok_or(DataplaneError::Missing("XDP program"))?
        .try_into()
        .map_err(|e| DataplaneError::Program(Box::new(e)))?;
    program
        .load()
        .map_err(|e| DataplaneError::Program(Box::new(e)))?;
    if let Some(dir) = pin_dir {
        let pin_err = |source| DataplaneError::Pin {
            dir: dir.path().to_path_buf(),
            source,
        };
        // Maps no program of ours uses (a newer or older release's), or the dead agent's
        // that this program does not share: the dead program keeps its maps for as long as
        // it runs, pins or not.
        let keep: &[&str] = if reuse { &PINNED_MAPS } else { &[] };
        dir.remove_maps_except(keep).map_err(pin_err)?;
        if !reuse {
            for name in PINNED_MAPS {
                let map = ebpf
                    .map(name)
                    .ok_or(DataplaneError::Missing("pinned map"))?;
                map.pin(dir.path().join(name))
                    .map_err(|e| pin_err(io::Error::other(e.to_string())))?;
            }
        }
    }
    let answers = HashMap::try_from(
        ebpf.take_map(map_names::ANSWERS)
            .ok_or(DataplaneError::Missing("answer map"))?,
    )
    .map_err(map_err(map_names::ANSWERS))?;
    let addresses = HashMap::try_from(
        ebpf.take_map(map_names::ADDRESSES)
            .ok_or(DataplaneError::Missing("address map"))?,
    )
    .map_err(map_err(map_names::ADDRESSES))?;
    let mut trie = |name: &'static str| {
        LpmTrie::try_from(
            ebpf.take_map(name)
                .ok_or(DataplaneError::Missing("view trie"))?,
        )
        .map_err(map_err(name))
    };
    let views = [trie(map_names::VIEWS[0])?, trie(map_names::VIEWS[1])?];
    let publish = match ebpf.take_map(map_names::PUBLISH) {
        Some(Map::Array(data)) => PublishMap::new(data).map_err(DataplaneError::MapPublish)?,
        _ => return Err(DataplaneError::Missing("publish map")),
    };
    let counters = PerCpuArray::try_from(
        ebpf.take_map(map_names::COUNTERS)
            .ok_or(DataplaneError::Missing("counter map"))?,
    )
    .map_err(map_err(map_names::COUNTERS))?;
    Ok((ebpf, answers, addresses, views, publish, counters))
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.unpin();
    }
}
