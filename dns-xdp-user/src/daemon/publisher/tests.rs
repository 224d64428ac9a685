//! The publisher's rules against a kernel that fails where a test says.

use std::{collections::HashMap, net::IpAddr, path::PathBuf};

use dns_xdp_common::answer::{AnswerKey, QTYPE_A};
use hickory_proto::{
    op::Message,
    rr::{Name, RData},
};

use super::*;
use crate::{
    catalog::Loaded,
    fallback::responder::Transport,
    fastpath::{
        answers::{Answer, Changes},
        dataplane::{Applied, Published},
    },
    health::HealthState,
};

/// A kernel in a test: the live generation's entries, and where to fail.
#[derive(Default)]
struct FakeKernel {
    generation: u32,
    live: HashMap<AnswerKey, Answer>,
    /// Refuse the next publication before its flip.
    refuse_publish: bool,
    /// Fail to clean up after the next flips, and at the next removals.
    fail_cleanup: bool,
    /// Fail the next batch of changes in place after this many.
    fail_apply_after: Option<usize>,
}

fn kernel_error() -> DataplaneError {
    DataplaneError::Capacity {
        count: 1,
        capacity: 0,
    }
}

impl FastPath for FakeKernel {
    fn set_edns_payload(&mut self, _: u16) {}

    fn publish(&mut self, set: &AnswerSet, _: &[ViewPrefix]) -> Result<Published, DataplaneError> {
        if std::mem::take(&mut self.refuse_publish) {
            return Err(kernel_error());
        }
        self.generation += 1;
        self.live = set.iter().map(|a| (a.key(0), a.clone())).collect();
        Ok(Published {
            generation: self.generation,
            leftovers: self.fail_cleanup.then(kernel_error),
        })
    }

    fn apply(&mut self, changes: &Changes<'_>) -> Applied {
        let mut applied = Applied {
            done: 0,
            updated: Updated::default(),
            error: None,
        };
        for change in &changes.list {
            if self
                .fail_apply_after
                .take_if(|after| *after == applied.done)
                .is_some()
            {
                applied.error = Some(kernel_error());
                return applied;
            }
            match *change {
                Change::Write(answer) => {
                    self.live.insert(answer.key(0), answer.clone());
                    applied.updated.written += 1;
                }
                Change::Delete(key) => {
                    self.live.remove(&key);
                    applied.updated.deleted += 1;
                }
            }
            applied.done += 1;
        }
        applied
    }

    fn remove_stale(&mut self) -> Result<usize, DataplaneError> {
        if self.fail_cleanup {
            Err(kernel_error())
        } else {
            Ok(0)
        }
    }

    fn generation(&self) -> u32 {
        self.generation
    }
}

struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A zone with www at `www`, and a failover pool app.example.com. of 192.0.2.20 (checked
/// over TCP) and 192.0.2.21.
fn load(label: &str, www: &str) -> (Files, Loaded, Traffic) {
    let dir =
        std::env::temp_dir().join(format!("dns-xdp-publisher-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("zone"),
        format!("$TTL 300\n@ SOA ns1 h 1 2 3 4 60\n@ NS ns1\nns1 A 192.0.2.53\nwww A {www}\n"),
    )
    .unwrap();
    let config = dir.join("dns-xdp.toml");
    std::fs::write(
        &config,
        "[server]\nxdp_mode = \"off\"\n\
         [[zone]]\norigin = \"example.com.\"\nfile = \"zone\"\n\
         [[check]]\nname = \"tcp\"\nprotocol = \"tcp\"\nport = 80\n\
         [[pool]]\nname = \"app.example.com.\"\ntype = \"A\"\npolicy = \"failover\"\n\
         check = \"tcp\"\n\
           [[pool.member]]\n  address = \"192.0.2.20\"\n\
           [[pool.member]]\n  address = \"192.0.2.21\"\n",
    )
    .unwrap();
    let loaded = Loaded::read(&config).unwrap();
    let traffic = Traffic::load(loaded.traffic.clone()).unwrap();
    (Files(dir), loaded, traffic)
}

/// `traffic` with 192.0.2.20 up or down.
fn health(traffic: &mut Traffic, primary_up: bool) {
    traffic.recompute(|target| {
        Some(
            if target.address == "192.0.2.20".parse::<IpAddr>().unwrap() && !primary_up {
                HealthState::Down
            } else {
                HealthState::Up
            },
        )
    });
}

fn publication(loaded: &Loaded, traffic: &Traffic) -> Publication {
    Publication::render(loaded.snapshot(&HashMap::new()), traffic, 1232)
}

/// What the fallback answers for `name` A.
fn fallback_a(responder: &SharedResponder, name: &str) -> Vec<String> {
    let mut query = Message::query();
    query.add_query(hickory_proto::op::Query::query(
        Name::from_ascii(name).unwrap(),
        hickory_proto::rr::RecordType::A,
    ));
    let reply = responder
        .current()
        .respond_in_full(&query.to_vec().unwrap(), Transport::Udp, None)
        .unwrap();
    Message::from_vec(&reply)
        .unwrap()
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.to_string()),
            _ => None,
        })
        .collect()
}

/// The address the kernel's entry for `name` A answers with.
fn kernel_a(kernel: &FakeKernel, name: &str) -> Option<String> {
    let (key, len) = crate::render::name_key(&Name::from_ascii(name).unwrap());
    let entry = kernel
        .live
        .values()
        .find(|a| *a.name == key[..len] && a.qtype == QTYPE_A && a.view == 0)?;
    let rdata = &entry.answer[entry.answer.len() - 4..];
    Some(format!(
        "{}.{}.{}.{}",
        rdata[0], rdata[1], rdata[2], rdata[3]
    ))
}

fn start(loaded: &Loaded, traffic: &Traffic) -> (Publisher<FakeKernel>, SharedResponder) {
    let first = publication(loaded, traffic);
    let responder = SharedResponder::new(first.responder());
    let mut publisher = Publisher::new(Some(FakeKernel::default()), responder.clone());
    publisher.full(first).unwrap();
    (publisher, responder)
}

#[test]
fn a_publication_the_fast_path_refuses_changes_neither_path() {
    let (_files, loaded, mut traffic) = load("refused", "192.0.2.10");
    health(&mut traffic, true);
    let (mut publisher, responder) = start(&loaded, &traffic);
    let (_newer_files, newer, _) = load("refused-newer", "192.0.2.11");
    publisher.fast_path_mut().unwrap().refuse_publish = true;
    let e = publisher
        .full(publication(&newer, &traffic))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nothing changed, both paths still serve fast-path generation 1"),
        "{e}"
    );
    assert_eq!(publisher.generation(), 1);
    assert_eq!(fallback_a(&responder, "www.example.com."), ["192.0.2.10"]);
    let kernel = publisher.fast_path().unwrap();
    assert_eq!(kernel_a(kernel, "www.example.com.").unwrap(), "192.0.2.10");
}

#[test]
fn a_publication_that_fails_after_the_flip_serves_the_new_generation_on_both_paths() {
    let (_files, loaded, mut traffic) = load("flip", "192.0.2.10");
    health(&mut traffic, true);
    let (mut publisher, responder) = start(&loaded, &traffic);
    let (_newer_files, newer, _) = load("flip-newer", "192.0.2.11");
    publisher.fast_path_mut().unwrap().fail_cleanup = true;
    let full = publisher.full(publication(&newer, &traffic)).unwrap();
    // The flip stands: both paths serve generation 2, and what is left is said and retried.
    assert_eq!(full.generation, 2);
    assert!(full.leftovers.is_some());
    assert!(publisher.needs_repair());
    assert_eq!(fallback_a(&responder, "www.example.com."), ["192.0.2.11"]);
    let kernel = publisher.fast_path().unwrap();
    assert_eq!(kernel_a(kernel, "www.example.com.").unwrap(), "192.0.2.11");
    let (_, leftovers) = publisher.repair();
    assert!(leftovers.is_some(), "still failing");
    publisher.fast_path_mut().unwrap().fail_cleanup = false;
    assert!(matches!(publisher.repair(), (None, None)));
    assert!(!publisher.needs_repair());
}

#[test]
fn a_change_in_place_that_fails_part_way_is_recorded_as_the_kernel_took_it_and_repaired() {
    let (_files, loaded, mut traffic) = load("partial", "192.0.2.10");
    health(&mut traffic, true);
    let (mut publisher, responder) = start(&loaded, &traffic);
    let pool = "app.example.com.";
    assert_eq!(
        kernel_a(publisher.fast_path().unwrap(), pool).unwrap(),
        "192.0.2.20"
    );

    // The primary goes down; the kernel takes none of the change.
    health(&mut traffic, false);
    publisher.fast_path_mut().unwrap().fail_apply_after = Some(0);
    let update = publisher.delta(Delta::Pools(&traffic));
    let FastPathUpdate::Partial {
        done, total, stale, ..
    } = update
    else {
        panic!("{update:?}");
    };
    assert_eq!((done, total), (0, 1));
    assert_eq!(stale, [(Name::from_ascii(pool).unwrap(), RecordType::A)]);
    // The fallback serves the new answer at once; the record says what the kernel holds.
    assert_eq!(fallback_a(&responder, pool), ["192.0.2.21"]);
    let kernel = publisher.fast_path().unwrap();
    assert_eq!(kernel_a(kernel, pool).unwrap(), "192.0.2.20");
    assert_eq!(
        publisher.kernel().len(),
        kernel.live.len(),
        "the record is the kernel"
    );
    assert!(publisher
        .kernel()
        .iter()
        .all(|a| kernel.live.get(&a.key(0)) == Some(a)));
    assert!(publisher.needs_repair());

    // An unrelated recomputation that leaves the pool's answer as it is must still write the
    // entry the kernel lacks (a diff against what was wanted would skip it and leave the dead
    // member answering until a reload).
    health(&mut traffic, false);
    let update = publisher.delta(Delta::Pools(&traffic));
    assert!(
        matches!(update, FastPathUpdate::Done(u) if u.written == 1),
        "{update:?}"
    );
    assert_eq!(
        kernel_a(publisher.fast_path().unwrap(), pool).unwrap(),
        "192.0.2.21"
    );
    assert!(!publisher.needs_repair());
}

#[test]
fn a_repair_writes_what_the_kernel_lacks() {
    let (_files, loaded, mut traffic) = load("repair", "192.0.2.10");
    health(&mut traffic, true);
    let (mut publisher, _responder) = start(&loaded, &traffic);
    health(&mut traffic, false);
    publisher.fast_path_mut().unwrap().fail_apply_after = Some(0);
    publisher.delta(Delta::Pools(&traffic));
    let (pools, leftovers) = publisher.repair();
    assert!(matches!(pools, Some(FastPathUpdate::Done(u)) if u.written == 1));
    assert!(leftovers.is_none());
    assert_eq!(
        kernel_a(publisher.fast_path().unwrap(), "app.example.com.").unwrap(),
        "192.0.2.21"
    );
    // Nothing left to do: a repair then writes nothing.
    assert!(matches!(publisher.repair(), (None, None)));
}
