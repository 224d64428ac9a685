//! `dns-xdp maps dump`: the pinned maps of a running agent decoded as DNS — the answers with
//! their names, types, views, variants, generations and records; the client views as CIDR →
//! view; the live generation; the addresses answered for and those never answered; the
//! counters by name. What bpftool shows as fields, read as a DNS operator
//! reads it, with every entry checked the way the XDP program relies on it (name hash, record
//! count, checksum).
//!
//! Each map has one dump function in [`DUMPS`]; a new map is one more function and one more row.

use std::{
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::Path,
};

use aya::maps::{lpm_trie::LpmTrie, Array, HashMap, Map, MapData, MapError};
use dns_xdp_common::{
    addresses::{AddressEntry, ServedAddr, ADDR_SERVED},
    answer::{
        name_hash, AnswerKey, AnswerValue, DNSSEC_SIGNED, DNSSEC_UNPUBLISHED, DNSSEC_UNSIGNED,
        MAX_ANSWER_LEN, NAME_BUF_LEN, QTYPE_A, QTYPE_AAAA,
    },
    map_names,
    publish::PublishState,
    views::{ViewKey, ViewValue, V4_MAPPED_PREFIX_LEN},
};
use hickory_proto::{
    rr::Name,
    serialize::binary::{BinDecodable, BinDecoder},
};
use serde::Serialize;

use crate::{
    fastpath::counters::Counters, fastpath::dataplane::DataplaneError, render::ones_complement_sum,
};

#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error(
        "no map {name} pinned in {dir}: is `dns-xdp run` running there with XDP on (its \
         --pin-dir), and are you root?"
    )]
    NotPinned { name: &'static str, dir: String },
    #[error("reading the pinned map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: MapError,
    },
    #[error("no map called {0:?}; the pinned maps are {list}", list = map_list())]
    UnknownMap(String),
    #[error(transparent)]
    Dataplane(#[from] DataplaneError),
}

/// One map, dumped: as text for a terminal and as JSON.
pub struct MapDump {
    pub map: &'static str,
    pub text: String,
    pub json: serde_json::Value,
}

type DumpFn = fn(&Path) -> Result<MapDump, DumpError>;

/// Every map `dns-xdp maps dump` knows, in the order it prints them.
pub const DUMPS: &[(&str, DumpFn)] = &[
    (map_names::PUBLISH, dump_publish),
    (map_names::ADDRESSES, dump_addresses),
    (map_names::COUNTERS, dump_counters),
    (LIVE_VIEWS, dump_live_views),
    (map_names::ANSWERS, dump_answers),
];

fn map_list() -> String {
    DUMPS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Dumps the map called `name` (with or without its `dns_` prefix), or every map.
pub fn dump(pin_dir: &Path, name: Option<&str>) -> Result<Vec<MapDump>, DumpError> {
    let selected: Vec<&(&str, DumpFn)> = match name {
        None => DUMPS.iter().collect(),
        Some(wanted) => {
            let found = DUMPS
                .iter()
                .find(|(map, _)| *map == wanted || map.strip_prefix("dns_") == Some(wanted));
            vec![found.ok_or_else(|| DumpError::UnknownMap(wanted.to_string()))?]
        }
    };
    selected
        .into_iter()
        .map(|(_, dump)| dump(pin_dir))
        .collect()
}

/// The dumps as text, one section per map.
pub fn render_text(dumps: &[MapDump]) -> String {
    dumps
        .iter()
        .map(|d| d.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The dumps as one JSON object keyed by map name.
pub fn render_json(dumps: &[MapDump]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = dumps
        .iter()
        .map(|d| (d.map.to_string(), d.json.clone()))
        .collect();
    format!("{}\n", serde_json::Value::Object(map))
}

fn require_pinned(dir: &Path, name: &'static str) -> Result<(), DumpError> {
    if dir.join(name).exists() {
        Ok(())
    } else {
        Err(DumpError::NotPinned {
            name,
            dir: dir.display().to_string(),
        })
    }
}

fn open(dir: &Path, name: &'static str) -> Result<Map, DumpError> {
    require_pinned(dir, name)?;
    let map_err = |source| DumpError::Map { name, source };
    Map::from_map_data(MapData::from_pin(dir.join(name)).map_err(map_err)?).map_err(map_err)
}

fn json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("dump types serialize to JSON")
}

/// The live generation and EDNS payload size, as the program reads them for every query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Publish {
    pub generation: u32,
    pub edns_payload: u16,
    /// Which of the two view tries (`dns_views_0`, `dns_views_1`) is live.
    pub views: u8,
    /// The update sequence: odd while the agent rewrites answers in place (queries pass up).
    pub seq: u64,
}

fn read_publish(dir: &Path) -> Result<Publish, DumpError> {
    let name = map_names::PUBLISH;
    let map_err = |source| DumpError::Map { name, source };
    let array: Array<MapData, PublishState> = Array::try_from(open(dir, name)?).map_err(map_err)?;
    let state = array.get(&0, 0).map_err(map_err)?;
    Ok(Publish {
        generation: state.live.generation,
        edns_payload: state.live.edns_payload,
        views: state.live.views,
        seq: state.seq,
    })
}

fn dump_publish(dir: &Path) -> Result<MapDump, DumpError> {
    let publish = read_publish(dir)?;
    let text = if publish.generation == 0 {
        format!(
            "{}: nothing published (generation 0): every query passes up\n",
            map_names::PUBLISH
        )
    } else {
        format!(
            "{}: live generation {}, EDNS payload {}, live view trie {}, update sequence {}{}\n",
            map_names::PUBLISH,
            publish.generation,
            publish.edns_payload,
            map_names::VIEWS[usize::from(publish.views & 1)],
            publish.seq,
            if publish.seq % 2 == 1 {
                " (an update is in progress: queries pass up)"
            } else {
                ""
            }
        )
    };
    Ok(MapDump {
        map: map_names::PUBLISH,
        text,
        json: json(&publish),
    })
}

/// An address as the maps hold it (IPv4 as `::ffff:a.b.c.d`), as the address it stands for.
pub fn mapped_ip(addr: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(addr);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// The address map split as the program reads it: the served addresses, which are also never a
/// source, and the entries that are only never a source (any other kind).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Addresses {
    pub served: Vec<IpAddr>,
    pub never_source: Vec<IpAddr>,
    /// What the program would get wrong: addresses missing from a served entry's source
    /// filter, which it would answer queries from.
    pub problems: Vec<String>,
}

fn dump_addresses(dir: &Path) -> Result<MapDump, DumpError> {
    let name = map_names::ADDRESSES;
    let map_err = |source| DumpError::Map { name, source };
    let map: HashMap<MapData, ServedAddr, AddressEntry> =
        HashMap::try_from(open(dir, name)?).map_err(map_err)?;
    let entries = map.iter().collect::<Result<Vec<_>, _>>().map_err(map_err)?;
    let mut addrs = Addresses::default();
    for (key, entry) in &entries {
        if entry.kind == ADDR_SERVED {
            addrs.served.push(mapped_ip(key.addr));
            for (other, _) in &entries {
                if !entry.may_hold(other) {
                    addrs.problems.push(format!(
                        "the filter of {} misses {}: queries from it to {0} are answered",
                        mapped_ip(key.addr),
                        mapped_ip(other.addr)
                    ));
                }
            }
        } else {
            addrs.never_source.push(mapped_ip(key.addr));
        }
    }
    addrs.served.sort();
    addrs.never_source.sort();
    addrs.problems.sort();
    let mut text = format!(
        "{name}: the fast path answers queries to {} address(es), and none from them or from \
         {} other(s)\n",
        addrs.served.len(),
        addrs.never_source.len()
    );
    let width = addrs
        .served
        .iter()
        .chain(&addrs.never_source)
        .map(|a| a.to_string().len())
        .max()
        .unwrap_or(0);
    for addr in &addrs.served {
        let _ = writeln!(text, "  {addr:<width$}  served");
    }
    for addr in &addrs.never_source {
        let _ = writeln!(text, "  {addr:<width$}  never a source");
    }
    for problem in &addrs.problems {
        let _ = writeln!(text, "  ! {problem}");
    }
    Ok(MapDump {
        map: name,
        text,
        json: json(&addrs),
    })
}

fn dump_counters(dir: &Path) -> Result<MapDump, DumpError> {
    let name = map_names::COUNTERS;
    require_pinned(dir, name)?;
    let counters = Counters::read_pinned(dir)?;
    let width = counters
        .iter()
        .map(|(c, _)| c.name().len())
        .max()
        .unwrap_or(0);
    let mut text = format!("{name}: summed over CPUs\n");
    let mut values = serde_json::Map::new();
    for (counter, value) in counters.iter() {
        let _ = writeln!(text, "  {:width$}  {value}", counter.name());
        values.insert(counter.name().to_string(), value.into());
    }
    Ok(MapDump {
        map: name,
        text,
        json: serde_json::Value::Object(values),
    })
}

/// One answer-map entry, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnswerEntry {
    /// The owner name, or how it failed to decode.
    pub name: String,
    #[serde(rename = "type")]
    pub qtype: String,
    pub view: u32,
    /// Which of its view's variants this entry is (0 always exists).
    pub variant: u32,
    /// How many variants the view has; a query gets one at random. Read from variant 0.
    pub variants: u32,
    /// The answer depends on the client's view: the program looks the view up. Read from view
    /// 0, variant 0.
    pub per_view: bool,
    pub generation: u32,
    /// Of the live generation: queries are answered from it.
    pub live: bool,
    /// The RRset's TTL (None when its records disagree or there are none).
    pub ttl: Option<u32>,
    /// Each record's data in presentation format.
    pub records: Vec<String>,
    /// What a DO=1 query gets: "unsigned" (the RRset, DO echoed), "signed" (the RRset and
    /// `rrsigs` RRSIG records) or "unpublished" (it passes up: the RRSIG did not fit).
    pub dnssec: &'static str,
    pub rrsigs: u16,
    /// What is wrong with the entry; the program would pass up or answer wrongly. Empty when
    /// it is sound.
    pub problems: Vec<String>,
}

/// Decodes one entry and checks it as the program relies on it.
pub fn decode_answer(key: &AnswerKey, value: &AnswerValue, live_generation: u32) -> AnswerEntry {
    let mut problems = Vec::new();
    let name_len = usize::from(value.name_len);
    let name = if name_len == 0 || name_len > NAME_BUF_LEN {
        problems.push(format!("name length {name_len} is not 1..={NAME_BUF_LEN}"));
        "?".to_string()
    } else {
        let hash = name_hash(&value.name, name_len);
        if hash != key.name_hash {
            problems.push(format!(
                "the key's name hash {:016x} is not the name's ({hash:016x}): queries for it miss",
                key.name_hash
            ));
        }
        match wire_name(&value.name[..name_len]) {
            Ok(name) => name,
            Err(e) => {
                problems.push(format!("owner name: {e}"));
                "?".to_string()
            }
        }
    };
    let answer_len = usize::from(value.answer_len);
    let mut records = Vec::new();
    let mut ttl = None;
    if answer_len > MAX_ANSWER_LEN {
        problems.push(format!(
            "answer length {answer_len} is over the {MAX_ANSWER_LEN} bytes the value holds"
        ));
    } else {
        let bytes = &value.data[..answer_len];
        let sum = ones_complement_sum(bytes);
        if sum != value.answer_csum {
            problems.push(format!(
                "checksum {:04x} is not the answer's ({sum:04x}): answers would be dropped",
                value.answer_csum
            ));
        }
        match decode_answer_section(bytes) {
            Ok(decoded) => {
                if decoded.len() != usize::from(value.answer_count) {
                    problems.push(format!(
                        "answer_count says {} records, the bytes hold {}",
                        value.answer_count,
                        decoded.len()
                    ));
                }
                for record in &decoded {
                    if record.rtype != key.qtype {
                        problems.push(format!(
                            "a record of type {} in the answer to {} queries",
                            type_name(record.rtype),
                            type_name(key.qtype)
                        ));
                    }
                }
                let first = decoded.first().map(|r| r.ttl);
                ttl = first.filter(|t| decoded.iter().all(|r| r.ttl == *t));
                if first.is_some() && ttl.is_none() {
                    problems.push("the records' TTLs differ (RFC 2181 §5.2)".to_string());
                }
                records = decoded.into_iter().map(|r| r.data).collect();
            }
            Err(e) => problems.push(format!("answer bytes: {e}")),
        }
    }
    let dnssec = match value.dnssec {
        DNSSEC_UNSIGNED => "unsigned",
        DNSSEC_SIGNED => "signed",
        DNSSEC_UNPUBLISHED => "unpublished",
        other => {
            problems.push(format!("dnssec state {other} is none the program knows"));
            "?"
        }
    };
    let rrsig_len = usize::from(value.rrsig_len);
    if value.dnssec == DNSSEC_SIGNED {
        if value.rrsig_count == 0 || rrsig_len == 0 {
            problems.push("signed, but without RRSIG records: DO=1 answers would fail".into());
        } else if answer_len + rrsig_len > MAX_ANSWER_LEN {
            problems.push(format!(
                "answer and RRSIGs take {} bytes, over the {MAX_ANSWER_LEN} the value holds",
                answer_len + rrsig_len
            ));
        } else {
            let sum = ones_complement_sum(&value.data[answer_len..answer_len + rrsig_len]);
            if sum != value.rrsig_csum {
                problems.push(format!(
                    "RRSIG checksum {:04x} is not the RRSIGs' ({sum:04x}): DO=1 answers would \
                     be dropped",
                    value.rrsig_csum
                ));
            }
        }
    }
    if value.variants == 0 {
        problems.push("variants is 0; every view has at least variant 0".to_string());
    } else if key.variant >= value.variants {
        problems.push(format!(
            "variant {} of a view with {} variant(s): no query picks it",
            key.variant, value.variants
        ));
    }
    AnswerEntry {
        name,
        qtype: type_name(key.qtype),
        view: u32::from(key.view),
        variant: u32::from(key.variant),
        variants: u32::from(value.variants),
        per_view: value.per_view != 0,
        generation: key.generation,
        live: key.generation == live_generation && live_generation != 0,
        ttl,
        records,
        dnssec,
        rrsigs: value.rrsig_count,
        problems,
    }
}

fn dump_answers(dir: &Path) -> Result<MapDump, DumpError> {
    let name = map_names::ANSWERS;
    let map_err = |source| DumpError::Map { name, source };
    let map = open(dir, name)?;
    let live = read_publish(dir)?.generation;
    let capacity = match &map {
        Map::HashMap(data) => data.info().map_err(map_err)?.max_entries(),
        _ => 0,
    };
    let answers: HashMap<MapData, AnswerKey, AnswerValue> =
        HashMap::try_from(map).map_err(map_err)?;
    let mut entries = Vec::new();
    for item in answers.iter() {
        // An entry deleted between listing its key and reading it (a publish cleaning up) is
        // simply no longer there.
        match item {
            Ok((key, value)) => entries.push(decode_answer(&key, &value, live)),
            Err(MapError::KeyNotFound) => {}
            Err(source) => return Err(map_err(source)),
        }
    }
    entries.sort_by(|a, b| {
        (!a.live, &a.name, &a.qtype, a.view, a.generation, a.variant).cmp(&(
            !b.live,
            &b.name,
            &b.qtype,
            b.view,
            b.generation,
            b.variant,
        ))
    });
    check_variants(&mut entries);
    let live_count = entries.iter().filter(|e| e.live).count();
    let mut text = format!(
        "{name}: {} entries ({live_count} live, {} stale), room for {capacity}\n",
        entries.len(),
        entries.len() - live_count
    );
    // Long names overflow their column rather than push every line right.
    let width = entries
        .iter()
        .map(|e| e.name.len())
        .max()
        .unwrap_or(0)
        .min(32);
    for e in &entries {
        let ttl = e.ttl.map_or("-".to_string(), |t| t.to_string());
        let mut records = if e.records.is_empty() {
            "(no answer: the query passes up)".to_string()
        } else {
            e.records.join(" ")
        };
        match e.dnssec {
            "signed" => records.push_str(&format!("  +{} RRSIG", e.rrsigs)),
            "unpublished" => records.push_str("  (RRSIG not published: DO=1 passes up)"),
            _ => {}
        }
        let _ = writeln!(
            text,
            "  {:width$}  {:<4}  view {:<3} variant {:<5} {:<8}  gen {} {:<5}  ttl {ttl:<6}  \
             {records}",
            e.name,
            e.qtype,
            e.view,
            format!("{}/{}", e.variant, e.variants),
            if e.per_view { "per-view" } else { "" },
            e.generation,
            if e.live { "live" } else { "stale" },
        );
        for problem in &e.problems {
            let _ = writeln!(text, "    ! {problem}");
        }
    }
    Ok(MapDump {
        map: name,
        text,
        json: serde_json::json!({ "capacity": capacity, "entries": json(&entries) }),
    })
}

/// Adds a problem to each variant 0 whose view lacks some of the variants it announces: a query
/// that picks a missing one passes up. `entries` are sorted with each view's variants together.
fn check_variants(entries: &mut [AnswerEntry]) {
    let group = |e: &AnswerEntry| (e.name.clone(), e.qtype.clone(), e.view, e.generation);
    let mut start = 0;
    while start < entries.len() {
        let key = group(&entries[start]);
        let end = start
            + entries[start..]
                .iter()
                .take_while(|e| group(e) == key)
                .count();
        let present: Vec<u32> = entries[start..end].iter().map(|e| e.variant).collect();
        if let Some(first) = entries[start..end].iter_mut().find(|e| e.variant == 0) {
            let missing: Vec<String> = (1..first.variants)
                .filter(|v| !present.contains(v))
                .map(|v| v.to_string())
                .collect();
            if !missing.is_empty() {
                first.problems.push(format!(
                    "announces {} variants, but variant(s) {} have no entry: queries that \
                     pick them pass up",
                    first.variants,
                    missing.join(", ")
                ));
            }
        }
        start = end;
    }
}

/// One prefix of a client-view trie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ViewEntry {
    /// CIDR notation; IPv4 prefixes as IPv4 (the trie holds them as `::ffff:a.b.c.d/96+n`).
    pub prefix: String,
    pub view: u8,
    /// What is wrong with the key; empty when sound.
    pub problems: Vec<String>,
}

/// Decodes one trie entry: `key` as stored (IPv4 mapped), `value` its view.
pub fn decode_view(key: &ViewKey, value: &ViewValue) -> ViewEntry {
    let mut problems = Vec::new();
    let v4 = Ipv6Addr::from(key.addr).to_ipv4_mapped();
    let (addr, prefix_len) = match v4 {
        Some(v4) if key.prefix_len >= V4_MAPPED_PREFIX_LEN => {
            (IpAddr::V4(v4), key.prefix_len - V4_MAPPED_PREFIX_LEN)
        }
        _ => (IpAddr::V6(Ipv6Addr::from(key.addr)), key.prefix_len),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        problems.push(format!(
            "prefix length {} is longer than the address ({} bits stored)",
            prefix_len, key.prefix_len
        ));
    } else if ViewKey::new(addr, prefix_len as u8).map(|k| k.addr) != Some(key.addr) {
        // The kernel matches the first prefix_len bits only, but a second key for the same
        // prefix could then exist with another view.
        problems.push("bits past the prefix length are set".to_string());
    }
    ViewEntry {
        prefix: format!("{addr}/{prefix_len}"),
        view: value.view,
        problems,
    }
}

/// Reads the client-view trie pinned as `name`: every prefix with its view, IPv4 first, each
/// family in address order.
pub fn read_views(dir: &Path, name: &'static str) -> Result<Vec<ViewEntry>, DumpError> {
    let map_err = |source| DumpError::Map { name, source };
    let trie: LpmTrie<MapData, [u8; 16], ViewValue> =
        LpmTrie::try_from(open(dir, name)?).map_err(map_err)?;
    let mut entries = Vec::new();
    for item in trie.iter() {
        match item {
            Ok((key, value)) => {
                let key = ViewKey {
                    prefix_len: key.prefix_len(),
                    addr: key.data(),
                };
                entries.push((key, decode_view(&key, &value)));
            }
            // Deleted by a publication between listing and reading.
            Err(MapError::KeyNotFound) => {}
            Err(source) => return Err(map_err(source)),
        }
    }
    // Mapped IPv4 (::ffff:0:0/96) sorts after most IPv6; show IPv4 first.
    entries.sort_by_key(|(key, _)| {
        let v4 = Ipv6Addr::from(key.addr).to_ipv4_mapped().is_some();
        (!v4, key.addr, key.prefix_len)
    });
    Ok(entries.into_iter().map(|(_, entry)| entry).collect())
}

/// The dump of one client-view trie.
fn views_dump(dir: &Path, name: &'static str) -> Result<MapDump, DumpError> {
    let entries = read_views(dir, name)?;
    let mut per_view: std::collections::BTreeMap<u8, usize> = Default::default();
    for e in &entries {
        *per_view.entry(e.view).or_default() += 1;
    }
    let counts: Vec<String> = per_view
        .iter()
        .map(|(view, n)| format!("view {view}: {n}"))
        .collect();
    let mut text = format!(
        "{name}: {} client prefix(es){}{}\n",
        entries.len(),
        if counts.is_empty() { "" } else { "; " },
        counts.join(", ")
    );
    if entries.is_empty() {
        text.push_str("  every client gets view 0\n");
    }
    let width = entries
        .iter()
        .map(|e| e.prefix.len())
        .max()
        .unwrap_or(0)
        .min(43);
    for e in &entries {
        let _ = writeln!(text, "  {:width$}  view {}", e.prefix, e.view);
        for problem in &e.problems {
            let _ = writeln!(text, "    ! {problem}");
        }
    }
    Ok(MapDump {
        map: name,
        text,
        json: serde_json::json!({
            "prefixes": json(&entries),
            "per_view": per_view
                .iter()
                .map(|(view, n)| (view.to_string(), serde_json::Value::from(*n)))
                .collect::<serde_json::Map<_, _>>(),
        }),
    })
}

/// The name `maps dump` gives the live one of the two view tries (`dns_publish` says which;
/// the other is empty but while a reload fills it).
const LIVE_VIEWS: &str = "dns_views";

fn dump_live_views(dir: &Path) -> Result<MapDump, DumpError> {
    let live = map_names::VIEWS[usize::from(read_publish(dir)?.views & 1)];
    let mut dump = views_dump(dir, live)?;
    dump.map = LIVE_VIEWS;
    dump.text = format!(
        "{LIVE_VIEWS} (live trie {live}){}",
        &dump.text[live.len()..]
    );
    Ok(dump)
}

/// A record of an answer section as the fast path sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnswerRecord {
    pub rtype: u16,
    pub ttl: u32,
    /// Presentation format: an address for A and AAAA, RFC 3597 `\# len hex` otherwise.
    pub data: String,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SectionError {
    #[error("truncated: a record at byte {at} needs {needed} more bytes")]
    Truncated { at: usize, needed: usize },
    #[error("the owner at byte {at} is {found:#06x}, not the pointer to the question (0xc00c)")]
    Owner { at: usize, found: u16 },
    #[error("the record at byte {at} has class {class}, not IN (1)")]
    Class { at: usize, class: u16 },
    #[error("the {rtype} record at byte {at} has {len} bytes of data, not {expected}")]
    RdLength {
        at: usize,
        rtype: String,
        len: usize,
        expected: usize,
    },
}

/// Decodes an answer section of records whose owners all point at the question (`0xC00C`),
/// class IN, as `answers.rs` renders them.
pub fn decode_answer_section(bytes: &[u8]) -> Result<Vec<AnswerRecord>, SectionError> {
    const FIXED: usize = 12; // owner pointer, type, class, TTL, RDLENGTH
    let u16_at = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if bytes.len() - at < FIXED {
            return Err(SectionError::Truncated {
                at,
                needed: FIXED - (bytes.len() - at),
            });
        }
        let owner = u16_at(at);
        if owner != 0xC00C {
            return Err(SectionError::Owner { at, found: owner });
        }
        let rtype = u16_at(at + 2);
        let class = u16_at(at + 4);
        if class != 1 {
            return Err(SectionError::Class { at, class });
        }
        let ttl = u32::from_be_bytes([bytes[at + 6], bytes[at + 7], bytes[at + 8], bytes[at + 9]]);
        let len = usize::from(u16_at(at + 10));
        let rdata_at = at + FIXED;
        if bytes.len() - rdata_at < len {
            return Err(SectionError::Truncated {
                at,
                needed: len - (bytes.len() - rdata_at),
            });
        }
        let rdata = &bytes[rdata_at..rdata_at + len];
        let expected = match rtype {
            QTYPE_A => Some(4),
            QTYPE_AAAA => Some(16),
            _ => None,
        };
        if let Some(expected) = expected.filter(|&e| e != len) {
            return Err(SectionError::RdLength {
                at,
                rtype: type_name(rtype),
                len,
                expected,
            });
        }
        let data = match rtype {
            QTYPE_A => Ipv4Addr::from(<[u8; 4]>::try_from(rdata).expect("checked")).to_string(),
            QTYPE_AAAA => Ipv6Addr::from(<[u8; 16]>::try_from(rdata).expect("checked")).to_string(),
            _ => format!(
                "\\# {len} {}",
                rdata.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        };
        records.push(AnswerRecord { rtype, ttl, data });
        at = rdata_at + len;
    }
    Ok(records)
}

/// A wire-format name that must fill `wire` exactly, in presentation format.
fn wire_name(wire: &[u8]) -> Result<String, String> {
    let mut decoder = BinDecoder::new(wire);
    let name = Name::read(&mut decoder).map_err(|e| e.to_string())?;
    if decoder.index() != wire.len() {
        return Err(format!(
            "{} bytes after the name's end ({name})",
            wire.len() - decoder.index()
        ));
    }
    Ok(name.to_string())
}

fn type_name(rtype: u16) -> String {
    match rtype {
        QTYPE_A => "A".to_string(),
        QTYPE_AAAA => "AAAA".to_string(),
        other => format!("TYPE{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        fastpath::answers::AnswerSet,
        zone::{Name as ZoneName, Zone},
    };

    const ZONE: &str = "$TTL 300\n\
        @ IN SOA ns1 hostmaster 1 3600 600 86400 60\n\
        @ IN NS ns1\n\
        ns1 IN A 192.0.2.53\n\
        www 120 IN A 192.0.2.10\n\
        v6 IN AAAA 2001:db8::1\n\
        v6 IN AAAA 2001:db8::2\n";

    fn entries(live: u32) -> Vec<(AnswerKey, AnswerValue)> {
        let origin = ZoneName::from_ascii("example.com.").unwrap();
        let zone = Zone::parse(&origin, ZONE, "test.zone").unwrap();
        let (set, _) = AnswerSet::of(&crate::catalog::Snapshot::unsigned([zone]));
        set.iter().map(|a| (a.key(live), a.value())).collect()
    }

    fn entry(name: &str, qtype: u16) -> (AnswerKey, AnswerValue) {
        entries(3)
            .into_iter()
            .find(|(k, v)| k.qtype == qtype && decode_answer(k, v, 3).name == name)
            .unwrap_or_else(|| panic!("no {name} {qtype}"))
    }

    #[test]
    fn decodes_rendered_answers_as_dns() {
        let (key, value) = entry("www.example.com.", QTYPE_A);
        let decoded = decode_answer(&key, &value, 3);
        assert_eq!(
            decoded,
            AnswerEntry {
                name: "www.example.com.".to_string(),
                qtype: "A".to_string(),
                view: 0,
                variant: 0,
                variants: 1,
                per_view: false,
                generation: 3,
                live: true,
                ttl: Some(120),
                records: vec!["192.0.2.10".to_string()],
                dnssec: "unsigned",
                rrsigs: 0,
                problems: vec![],
            }
        );

        // Signed: the RRSIG bytes after the answer, with their own checksum.
        let mut signed = value;
        signed.dnssec = DNSSEC_SIGNED;
        let problems = decode_answer(&key, &signed, 3).problems;
        assert!(
            problems[0].contains("without RRSIG records"),
            "{problems:?}"
        );
        let at = usize::from(signed.answer_len);
        signed.data[at..at + 4].copy_from_slice(&[0xC0, 0x0C, 0, 46]);
        signed.rrsig_len = 4;
        signed.rrsig_count = 1;
        signed.rrsig_csum = ones_complement_sum(&[0xC0, 0x0C, 0, 46]);
        let decoded = decode_answer(&key, &signed, 3);
        assert_eq!((decoded.dnssec, decoded.rrsigs), ("signed", 1));
        assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
        signed.rrsig_csum ^= 1;
        let problems = decode_answer(&key, &signed, 3).problems;
        assert!(problems[0].contains("RRSIG checksum"), "{problems:?}");
        let (key, value) = entry("v6.example.com.", QTYPE_AAAA);
        let decoded = decode_answer(&key, &value, 4);
        assert_eq!(decoded.records, ["2001:db8::1", "2001:db8::2"]);
        assert_eq!(decoded.ttl, Some(300));
        assert!(!decoded.live, "generation 3 is stale when 4 is live");
        assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
        assert!(!decode_answer(&key, &value, 0).live, "nothing live at 0");
    }

    #[test]
    fn finds_what_would_make_the_program_miss_or_answer_wrong() {
        let (key, value) = entry("www.example.com.", QTYPE_A);

        let mut other_hash = key;
        other_hash.name_hash ^= 1;
        let problems = decode_answer(&other_hash, &value, 3).problems;
        assert!(problems[0].contains("name hash"), "{problems:?}");

        let mut bad_sum = value;
        bad_sum.answer_csum ^= 1;
        let problems = decode_answer(&key, &bad_sum, 3).problems;
        assert!(problems[0].contains("checksum"), "{problems:?}");

        let mut bad_count = value;
        bad_count.answer_count = 2;
        let problems = decode_answer(&key, &bad_count, 3).problems;
        assert!(problems[0].contains("says 2 records"), "{problems:?}");

        let mut aaaa_key = key;
        aaaa_key.qtype = QTYPE_AAAA;
        let problems = decode_answer(&aaaa_key, &value, 3).problems;
        assert!(problems
            .iter()
            .any(|p| p.contains("type A in the answer to AAAA")));

        let mut no_name = value;
        no_name.name_len = 0;
        let decoded = decode_answer(&key, &no_name, 3);
        assert_eq!(decoded.name, "?");
        assert!(decoded.problems[0].contains("name length 0"));
    }

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    /// A weighted pool with two variants in view 0 and one in view 2 (view 1 NODATA), decoded
    /// and sorted as `dump_answers` does.
    fn steered_entries() -> Vec<(AnswerKey, AnswerValue)> {
        let mut set = AnswerSet::default();
        set.add_steered(
            &ZoneName::from_ascii("app.example.com.").unwrap(),
            hickory_proto::rr::RecordType::A,
            60,
            true,
            &[
                Some(vec![ips(&["192.0.2.1"]), ips(&["192.0.2.2", "192.0.2.3"])]),
                None,
                Some(vec![ips(&["198.51.100.1"])]),
            ],
            None,
        )
        .unwrap();
        let mut entries: Vec<_> = set.iter().map(|a| (a.key(5), a.value())).collect();
        entries.sort_by_key(|(k, _)| (k.view, k.variant));
        entries
    }

    #[test]
    fn views_and_variants_of_steered_answers() {
        let decoded: Vec<AnswerEntry> = steered_entries()
            .iter()
            .map(|(k, v)| decode_answer(k, v, 5))
            .collect();
        let layout: Vec<_> = decoded
            .iter()
            .map(|e| (e.view, e.variant, e.variants, e.per_view, e.records.len()))
            .collect();
        assert_eq!(
            layout,
            [(0, 0, 2, true, 1), (0, 1, 2, true, 2), (2, 0, 1, true, 1)]
        );
        assert!(decoded.iter().all(|e| e.problems.is_empty()), "{decoded:?}");

        // A variant the view does not announce, and a view without variants.
        let (mut key, mut value) = steered_entries()[2];
        key.variant = 1;
        let problems = decode_answer(&key, &value, 5).problems;
        assert!(
            problems[0].contains("variant 1 of a view with 1"),
            "{problems:?}"
        );
        value.variants = 0;
        let problems = decode_answer(&key, &value, 5).problems;
        assert!(problems[0].contains("variants is 0"), "{problems:?}");

        // Variant 1 missing: variant 0 says so.
        let mut entries: Vec<AnswerEntry> = steered_entries()
            .iter()
            .filter(|(k, _)| (k.view, k.variant) != (0, 1))
            .map(|(k, v)| decode_answer(k, v, 5))
            .collect();
        check_variants(&mut entries);
        assert!(
            entries[0].problems[0].contains("variant(s) 1 have no entry"),
            "{:?}",
            entries[0].problems
        );
        assert!(entries[1].problems.is_empty());
    }

    #[test]
    fn view_prefixes_as_cidrs() {
        let entry = |addr: &str, len: u8, view: u8| {
            let key = ViewKey::new(addr.parse().unwrap(), len).unwrap();
            decode_view(&key, &ViewValue::new(view))
        };
        assert_eq!(
            entry("198.51.100.0", 25, 1),
            ViewEntry {
                prefix: "198.51.100.0/25".to_string(),
                view: 1,
                problems: vec![],
            }
        );
        assert_eq!(entry("2001:db8:100::", 48, 2).prefix, "2001:db8:100::/48");
        assert_eq!(entry("0.0.0.0", 0, 3).prefix, "0.0.0.0/0");
        assert_eq!(entry("::", 0, 3).prefix, "::/0");
        // ::ffff:0:0/96 itself (every IPv4 address) reads as IPv4's /0.
        let all_v4 = ViewKey {
            prefix_len: 96,
            addr: ViewKey::new("0.0.0.0".parse().unwrap(), 0).unwrap().addr,
        };
        assert_eq!(decode_view(&all_v4, &ViewValue::new(1)).prefix, "0.0.0.0/0");

        let mut unmasked = ViewKey::new("203.0.113.0".parse().unwrap(), 24).unwrap();
        unmasked.addr[15] = 7;
        let decoded = decode_view(&unmasked, &ViewValue::new(1));
        assert_eq!(decoded.prefix, "203.0.113.7/24");
        assert!(decoded.problems[0].contains("past the prefix length"));
        let too_long = ViewKey {
            prefix_len: 129,
            addr: [0; 16],
        };
        assert!(decode_view(&too_long, &ViewValue::new(1)).problems[0].contains("longer"));
    }

    #[test]
    fn section_errors_say_where_and_what() {
        let a = [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 120, 0, 4, 192, 0, 2, 10];
        assert_eq!(decode_answer_section(&a).unwrap().len(), 1);
        assert_eq!(decode_answer_section(&[]).unwrap(), vec![]);

        let mut two = a.to_vec();
        two.extend_from_slice(&a[..14]);
        assert_eq!(
            decode_answer_section(&two),
            Err(SectionError::Truncated { at: 16, needed: 2 })
        );
        assert_eq!(
            decode_answer_section(&a[..5]),
            Err(SectionError::Truncated { at: 0, needed: 7 })
        );
        let mut owner = a;
        owner[1] = 0x0D;
        assert_eq!(
            decode_answer_section(&owner),
            Err(SectionError::Owner {
                at: 0,
                found: 0xC00D
            })
        );
        let mut chaos = a;
        chaos[5] = 3;
        assert_eq!(
            decode_answer_section(&chaos),
            Err(SectionError::Class { at: 0, class: 3 })
        );
        let mut aaaa = a;
        aaaa[3] = 28;
        let e = decode_answer_section(&aaaa).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the AAAA record at byte 0 has 4 bytes of data, not 16"
        );

        let txt = [0xC0, 0x0C, 0, 16, 0, 1, 0, 0, 0, 60, 0, 3, 2, b'h', b'i'];
        assert_eq!(
            decode_answer_section(&txt).unwrap()[0],
            AnswerRecord {
                rtype: 16,
                ttl: 60,
                data: "\\# 3 026869".to_string()
            }
        );
    }

    #[test]
    fn names_and_addresses_in_presentation_format() {
        assert_eq!(
            wire_name(b"\x03www\x07example\x03com\x00").unwrap(),
            "www.example.com."
        );
        assert_eq!(wire_name(b"\x00").unwrap(), ".");
        assert!(wire_name(b"\x03www\x00\x00")
            .unwrap_err()
            .contains("1 bytes after"));
        assert!(wire_name(b"\x05ww").is_err());
        assert_eq!(
            mapped_ip(ServedAddr::v4([192, 0, 2, 1]).addr),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(mapped_ip(v6.octets()), IpAddr::V6(v6));
    }

    #[test]
    fn map_names_with_or_without_prefix() {
        let dir = Path::new("/nonexistent-dns-xdp-pins");
        let e = dump(dir, Some("answer")).err().unwrap();
        assert!(
            e.to_string()
                .contains("dns_publish, dns_addresses, dns_counters, dns_views, dns_answers"),
            "{e}"
        );
        let e = dump(dir, Some("answers")).err().unwrap();
        assert!(
            matches!(
                e,
                DumpError::NotPinned {
                    name: "dns_answers",
                    ..
                }
            ),
            "{e}"
        );
        let e = dump(dir, Some("dns_counters")).err().unwrap();
        assert!(e.to_string().contains("--pin-dir"), "{e}");
    }
}
