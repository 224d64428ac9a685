//! The kernel side as the agent sees it: loads the XDP program, attaches it, pins its maps under
//! bpffs, publishes answer sets atomically (or changes them in place, entry by entry, in an
//! order that keeps every lookup whole), keeps the client-view trie, and reads the counters back.

use std::{
    collections::{HashMap as StdHashMap, HashSet},
    io,
    net::IpAddr,
    path::{Path, PathBuf},
};

use aya::{
    maps::{lpm_trie::Key, Array, HashMap, LpmTrie, MapData, MapError, PerCpuArray},
    programs::{
        links::{FdLink, PinnedLink},
        xdp::{XdpLink, XdpLinkId},
        ProgramError, Xdp, XdpMode,
    },
    Ebpf, EbpfLoader,
};
use dns_xdp_common::{
    addresses::{ServedAddr, MAX_SERVED_ADDRS},
    answer::{AnswerKey, AnswerValue},
    counters::{Counter, COUNTER_COUNT},
    map_names, program_names,
    publish::PublishState,
    views::{ViewKey, ViewValue, MAX_VIEW_PREFIXES},
};

use crate::{
    answers::{AnswerSet, Change},
    pin_dir::{self, PinDir, PinDirError, LINK_PIN},
    takeover::{self, PINNED_MAPS},
};

/// How the XDP program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpAttachMode {
    /// In the driver; falls back to `skb` when the driver has no XDP support.
    Native,
    /// Generic XDP in the kernel's network stack: slower, works on every device.
    Skb,
    /// No XDP at all: the fallback server answers everything.
    Off,
}

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
    #[error(
        "pinning maps under {dir} failed: {source}. Is bpffs mounted at /sys/fs/bpf \
         (`mount -t bpf bpf /sys/fs/bpf`)?"
    )]
    Pin {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    PinDir(#[from] PinDirError),
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
        "{0} addresses to answer for, more than the {MAX_SERVED_ADDRS} the fast path holds; \
         list specific [server] listen addresses"
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

/// A client prefix and the view its clients get (0, the default view, makes a prefix inside a
/// region's prefix an exception to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewPrefix {
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub view: u8,
}

/// What an in-place update did to a map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Updated {
    /// Entries inserted or replaced.
    pub written: usize,
    pub deleted: usize,
}

pub struct Dataplane {
    ebpf: Ebpf,
    answers: HashMap<MapData, AnswerKey, AnswerValue>,
    views: LpmTrie<MapData, [u8; 16], ViewValue>,
    /// What `views` holds: the agent is its only writer.
    published_views: StdHashMap<ViewKey, u8>,
    /// Entries of the live generation.
    live: usize,
    addresses: HashMap<MapData, ServedAddr, u32>,
    publish: Array<MapData, PublishState>,
    counters: PerCpuArray<MapData, u64>,
    capacity: u32,
    generation: u32,
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
    /// Pins a dead agent left in `pin_dir` are taken over (see [`crate::takeover`]): its maps,
    /// when they have the shape this program expects, keep their answers and counters, and
    /// [`Dataplane::attach`] replaces the program in its pinned link.
    pub fn load(
        answer_capacity: u32,
        edns_payload: u16,
        pin_dir: Option<&Path>,
    ) -> Result<Self, DataplaneError> {
        // Before the program is verified, which takes a while: a busy directory fails at once.
        let pin_dir = pin_dir.map(PinDir::lock).transpose()?;
        // A publish holds the old and the new generation at once.
        let capacity = answer_capacity.saturating_mul(2).max(1024);
        let found = pin_dir
            .as_ref()
            .map(|dir| takeover::inspect(dir, crate::ebpf::OBJECT, capacity))
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
            published_views: StdHashMap::new(),
            live: 0,
            addresses,
            publish,
            counters,
            capacity,
            generation: 0,
            edns_payload,
            pin_dir,
            inherited_link: found.link_ifindex,
            inherited_answers: false,
            link: None,
        };
        if found.reuse_maps {
            let state = dataplane
                .publish
                .get(&0, 0)
                .map_err(map_err(map_names::PUBLISH))?;
            let live = state.generation;
            dataplane.generation = live;
            dataplane.capacity = found.answer_capacity;
            // A generation the dead agent was still writing was never live: out with it, so
            // that the next publish, which may reuse its number, starts clean.
            dataplane.remove_where(|k| k.generation != live)?;
            // In-place updates and view publishing work from what the maps hold.
            dataplane.live = dataplane.answer_keys().len();
            dataplane.published_views = dataplane.view_prefixes()?;
            dataplane.inherited_answers = live != 0 && found.link_ifindex.is_some();
            log::info!(
                "took over the maps pinned in {} (live generation {live})",
                dataplane
                    .pin_dir
                    .as_ref()
                    .map_or(String::new(), |d| d.path().display().to_string())
            );
        } else {
            dataplane.write_publish_state(0)?;
        }
        Ok(dataplane)
    }

    /// The live generation of a dead agent whose answers the fast path keeps serving until
    /// this agent's first [`Dataplane::publish`]; `None` when it is not taking over.
    pub fn inherited_generation(&self) -> Option<u32> {
        self.inherited_answers.then_some(self.generation)
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

    /// Sets the destination addresses the program answers for; queries to any other address
    /// pass up.
    pub fn serve_addresses(
        &mut self,
        addrs: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), DataplaneError> {
        let wanted: HashSet<ServedAddr> = addrs
            .into_iter()
            .map(|addr| match addr {
                IpAddr::V4(v4) => ServedAddr::v4(v4.octets()),
                IpAddr::V6(v6) => ServedAddr::v6(v6.octets()),
            })
            .collect();
        if wanted.len() > MAX_SERVED_ADDRS {
            return Err(DataplaneError::TooManyAddresses(wanted.len()));
        }
        for addr in &wanted {
            self.addresses
                .insert(addr, 1, 0)
                .map_err(map_err(map_names::ADDRESSES))?;
        }
        let stale: Vec<ServedAddr> = self
            .addresses
            .keys()
            .filter_map(Result::ok)
            .filter(|a| !wanted.contains(a))
            .collect();
        for addr in &stale {
            self.addresses
                .remove(addr)
                .map_err(map_err(map_names::ADDRESSES))?;
        }
        Ok(())
    }

    /// Publishes a whole answer set: writes it under a new generation, flips the live
    /// generation in one map update, then deletes the old generation. A query sees either the
    /// old set or the new one.
    pub fn publish(&mut self, set: &AnswerSet) -> Result<u32, DataplaneError> {
        let live = self.answers.keys().count();
        if live + set.len() > self.capacity as usize {
            return Err(DataplaneError::Capacity {
                count: set.len(),
                capacity: self.capacity / 2,
            });
        }
        let next = match self.generation.wrapping_add(1) {
            0 => 1,
            g => g,
        };
        let written = set
            .iter()
            .try_for_each(|answer| {
                self.answers
                    .insert(answer.key(next), answer.value(), 0)
                    .map_err(map_err(map_names::ANSWERS))
            })
            .and_then(|()| self.write_publish_state(next));
        if let Err(e) = written {
            // Take the half-written generation back out: the next publish reuses its number
            // and must not inherit answers from this one.
            let _ = self.remove_where(|k| k.generation == next);
            return Err(e);
        }
        self.generation = next;
        self.live = set.len();
        let live = self.generation;
        self.remove_where(|k| k.generation != live)?;
        Ok(next)
    }

    /// Changes the live generation in place from `old` to `new`: writes the entries that are new
    /// or differ, deletes those `new` lacks, in the order of [`AnswerSet::changes_to`], and
    /// leaves equal ones alone. Each map write is atomic on its own, so a query sees an old or a
    /// new entry, or passes up where a view or variant is being removed; it never sees a torn
    /// one. For health changes; a reload publishes a whole new generation with
    /// [`Dataplane::publish`].
    ///
    /// `old` must be what the live generation holds for its keys: the last set published or
    /// updated to, or any part of it (such as the steered answers alone, with `new` their
    /// successor), since keys in neither set are not touched. On error the map is part way
    /// between the two (each entry whole, the order kept); publish a whole set to recover.
    pub fn update_answers(
        &mut self,
        old: &AnswerSet,
        new: &AnswerSet,
    ) -> Result<Updated, DataplaneError> {
        if self.generation == 0 {
            return Err(DataplaneError::NothingPublished);
        }
        let changes = old.changes_to(new);
        let inserted = changes
            .iter()
            .filter(|c| matches!(c, Change::Write(a) if old.get(&a.key(0)).is_none()))
            .count();
        let room = self.capacity as usize / 2;
        if self.live + inserted > room {
            return Err(DataplaneError::Capacity {
                count: self.live + inserted,
                capacity: room as u32,
            });
        }
        let mut updated = Updated::default();
        for change in &changes {
            match change {
                Change::Write(answer) => {
                    self.answers
                        .insert(answer.key(self.generation), answer.value(), 0)
                        .map_err(map_err(map_names::ANSWERS))?;
                    updated.written += 1;
                }
                Change::Delete(key) => {
                    let key = AnswerKey {
                        generation: self.generation,
                        ..*key
                    };
                    match self.answers.remove(&key) {
                        Ok(()) => updated.deleted += 1,
                        Err(MapError::KeyNotFound) => {}
                        Err(e) => return Err(map_err(map_names::ANSWERS)(e)),
                    }
                }
            }
        }
        self.live = (self.live + inserted).saturating_sub(updated.deleted);
        Ok(updated)
    }

    /// Makes the view trie hold exactly `prefixes`: inserts or updates what is new or changed
    /// first, then deletes what is gone, so a client covered before and after is never left
    /// without its view. Of two entries for one prefix the later wins.
    ///
    /// A client whose view has no answer for a steered name is passed up, so the answers of a
    /// new view should be published before the prefixes that lead to it.
    pub fn publish_views(&mut self, prefixes: &[ViewPrefix]) -> Result<Updated, DataplaneError> {
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
        let mut updated = Updated::default();
        for (key, &view) in &wanted {
            if self.published_views.get(key) == Some(&view) {
                continue;
            }
            self.views
                .insert(&trie_key(key), ViewValue::new(view), 0)
                .map_err(map_err(map_names::VIEWS))?;
            self.published_views.insert(*key, view);
            updated.written += 1;
        }
        let stale: Vec<ViewKey> = self
            .published_views
            .keys()
            .filter(|key| !wanted.contains_key(key))
            .copied()
            .collect();
        for key in &stale {
            match self.views.remove(&trie_key(key)) {
                Ok(()) | Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(map_err(map_names::VIEWS)(e)),
            }
            self.published_views.remove(key);
            updated.deleted += 1;
        }
        Ok(updated)
    }

    /// The view trie as the kernel holds it (for tests and inspection).
    pub fn view_prefixes(&self) -> Result<StdHashMap<ViewKey, u8>, DataplaneError> {
        self.views
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
                    .map_err(map_err(map_names::VIEWS))
            })
            .collect()
    }

    /// Sets the EDNS payload size the program advertises from the next [`Dataplane::publish`]
    /// on, which flips it together with the answers.
    pub fn set_edns_payload(&mut self, edns_payload: u16) {
        self.edns_payload = edns_payload;
    }

    /// Deletes every answer whose key matches `stale`.
    fn remove_where(&mut self, stale: impl Fn(&AnswerKey) -> bool) -> Result<(), DataplaneError> {
        let stale: Vec<AnswerKey> = self
            .answers
            .keys()
            .filter_map(Result::ok)
            .filter(|k| stale(k))
            .collect();
        for key in &stale {
            match self.answers.remove(key) {
                Ok(()) | Err(MapError::KeyNotFound) => {}
                Err(e) => return Err(map_err(map_names::ANSWERS)(e)),
            }
        }
        Ok(())
    }

    fn write_publish_state(&mut self, generation: u32) -> Result<(), DataplaneError> {
        let state = PublishState {
            generation,
            edns_payload: self.edns_payload,
            _pad: 0,
        };
        self.publish
            .set(0, state, 0)
            .map_err(map_err(map_names::PUBLISH))
    }

    /// The live generation (0 before the first publish).
    pub fn generation(&self) -> u32 {
        self.generation
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
        let mut ebpf =
            Ebpf::load(crate::ebpf::OBJECT).map_err(|e| DataplaneError::Load(Box::new(e)))?;
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
    HashMap<MapData, ServedAddr, u32>,
    LpmTrie<MapData, [u8; 16], ViewValue>,
    Array<MapData, PublishState>,
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
        .load(crate::ebpf::OBJECT)
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
    let views = LpmTrie::try_from(
        ebpf.take_map(map_names::VIEWS)
            .ok_or(DataplaneError::Missing("view map"))?,
    )
    .map_err(map_err(map_names::VIEWS))?;
    let publish = Array::try_from(
        ebpf.take_map(map_names::PUBLISH)
            .ok_or(DataplaneError::Missing("publish map"))?,
    )
    .map_err(map_err(map_names::PUBLISH))?;
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

/// Fast-path counters summed over CPUs, in [`Counter::ALL`] order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters(pub [u64; COUNTER_COUNT]);

impl Counters {
    fn read(map: &PerCpuArray<MapData, u64>) -> Result<Self, DataplaneError> {
        let mut totals = [0u64; COUNTER_COUNT];
        for counter in Counter::ALL {
            let per_cpu = map
                .get(&(counter as u32), 0)
                .map_err(map_err(map_names::COUNTERS))?;
            totals[counter as usize] = per_cpu.iter().sum();
        }
        Ok(Self(totals))
    }

    /// Reads the counters of a running agent from its pinned map.
    pub fn read_pinned(dir: &Path) -> Result<Self, DataplaneError> {
        let data = MapData::from_pin(dir.join(map_names::COUNTERS))
            .map_err(map_err(map_names::COUNTERS))?;
        let map = PerCpuArray::try_from(aya::maps::Map::PerCpuArray(data))
            .map_err(map_err(map_names::COUNTERS))?;
        Self::read(&map)
    }

    pub fn get(&self, counter: Counter) -> u64 {
        self.0[counter as usize]
    }

    pub fn answered(&self) -> u64 {
        self.get(Counter::AnsweredV4) + self.get(Counter::AnsweredV6)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Counter, u64)> + '_ {
        Counter::ALL.into_iter().map(|c| (c, self.get(c)))
    }
}
