//! ZSK rollover by pre-publication (RFC 6781 §4.1.1.1), one step per command, driven by
//! `dns-xdp keys roll-zsk`. The key states in the `.meta` files are the rollover's only
//! memory, so a step is allowed only from the state the previous one left:
//!
//! | step | ZSKs before | ZSKs after | then wait, after the agent reloaded |
//! |---|---|---|---|
//! | `publish` | old active | old active, new published | the DNSKEY TTL: caches learn the new key |
//! | `activate` | old active, new published | new active, old retired | the largest TTL of signed data: signatures by the old key leave caches |
//! | `remove` | new active, old retired | new active | nothing: the rollover is done |
//!
//! Activation retires the old key in the same step: a published key never signs and a retired
//! key still sits in the DNSKEY RRset, so every RRSIG a resolver may hold, old or new, always
//! has its key in the DNSKEY RRset the resolver holds. The new key is activated before the old
//! one is retired, so an agent reloading between the two writes signs with both (valid too),
//! never with none. The agent picks each step up when it reloads (SIGHUP or `dns-xdp reload`).

use std::fmt::Write;
use std::path::Path;

use hickory_proto::rr::Name;

use super::{DnssecError, KeyDir, KeyRole, KeyState, ZoneKey};

/// One step of a ZSK rollover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Generate the new ZSK, published but not signing.
    Publish,
    /// The new ZSK signs; the old one is retired (still published).
    Activate,
    /// Delete the retired ZSK.
    Remove,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Publish => "publish",
            Step::Activate => "activate",
            Step::Remove => "remove",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RolloverError {
    #[error(transparent)]
    Keys(#[from] DnssecError),
    #[error("zone {zone} is signed with a CSK, which signs its own DNSKEY RRset; a ZSK rollover needs a KSK and a ZSK (`dns-xdp keys generate` without --csk)")]
    Csk { zone: String },
    #[error("zone {zone}: cannot {step} now: {state}; {next}")]
    OutOfOrder {
        zone: String,
        step: &'static str,
        state: String,
        next: String,
    },
}

/// Where a zone's ZSKs are in a rollover.
enum Phase {
    /// One active ZSK.
    Steady { active: usize },
    /// After `publish`.
    Published { active: usize, new: usize },
    /// After `activate`.
    Activated { active: usize, retired: usize },
    /// Anything else: what the keys are.
    Irregular(String),
}

fn phase(keys: &[ZoneKey]) -> Phase {
    let zsks: Vec<usize> = (0..keys.len())
        .filter(|&at| keys[at].role() == KeyRole::Zsk)
        .collect();
    let in_state = |state| {
        zsks.iter()
            .copied()
            .filter(|&at| keys[at].state() == state)
            .collect::<Vec<_>>()
    };
    let (active, published, retired) = (
        in_state(KeyState::Active),
        in_state(KeyState::Published),
        in_state(KeyState::Retired),
    );
    match (active.as_slice(), published.as_slice(), retired.as_slice()) {
        ([active], [], []) => Phase::Steady { active: *active },
        ([active], [new], []) => Phase::Published {
            active: *active,
            new: *new,
        },
        ([active], [], [retired]) => Phase::Activated {
            active: *active,
            retired: *retired,
        },
        _ => Phase::Irregular(format!(
            "its ZSKs are {}, which is no step of a rollover; fix the `state` lines of their \
             .meta files so that one is active (and at most one other published or retired)",
            describe(keys, &zsks)
        )),
    }
}

fn describe(keys: &[ZoneKey], which: &[usize]) -> String {
    if which.is_empty() {
        return "none".into();
    }
    which
        .iter()
        .map(|&at| format!("{} {}", keys[at].tag(), keys[at].state()))
        .collect::<Vec<_>>()
        .join(", ")
}

const RELOAD: &str = "reload the agent (SIGHUP or `dns-xdp reload --pid-file <file>`)";

fn wait_for(step: Step) -> &'static str {
    match step {
        Step::Publish => {
            "then wait at least the DNSKEY TTL ([dnssec] dnskey_ttl, 3600 s unless set) after \
             the reload, so that every resolver holding the DNSKEY RRset has the new key, before \
             `--step activate`"
        }
        Step::Activate => {
            "then wait at least the largest TTL of any signed answer of the zone (its largest \
             record TTL, its negative TTL, its pools' TTLs) after the reload, so that every \
             signature made with the old key has left the caches, before `--step remove`"
        }
        Step::Remove => "the rollover is then complete",
    }
}

/// Performs `step` of a ZSK rollover of `zone` in the key directory `dir` at `now` (Unix
/// seconds, the new key's creation time). Returns what was done and what to wait for before
/// the next step; refuses a step out of order, saying which step is next.
pub fn roll_zsk(dir: &Path, zone: &Name, step: Step, now: u64) -> Result<String, RolloverError> {
    let key_dir = KeyDir::open(dir)?;
    let mut keys = key_dir.load(zone)?;
    let zone_text = zone.to_string();
    if keys.iter().any(|key| key.role() == KeyRole::Csk) {
        return Err(RolloverError::Csk { zone: zone_text });
    }
    let out_of_order = |state: String, next: &str| RolloverError::OutOfOrder {
        zone: zone_text.clone(),
        step: step.name(),
        state,
        next: next.to_string(),
    };
    let done = match (step, phase(&keys)) {
        (_, Phase::Irregular(state)) => return Err(out_of_order(state, "no step applies")),
        (Step::Publish, Phase::Steady { active }) => {
            let old = keys[active].tag();
            let new = key_dir.generate(
                zone,
                keys[active].algorithm(),
                KeyRole::Zsk,
                KeyState::Published,
                now,
            )?;
            format!(
                "published ZSK {} ({}) beside the active ZSK {old}; it does not sign yet",
                new.tag(),
                new.file_stem().display()
            )
        }
        (Step::Activate, Phase::Published { active, new }) => {
            let (old, new_tag) = (keys[active].tag(), keys[new].tag());
            // New first: between the two writes both sign, which validates; never neither.
            key_dir.set_state(&mut keys[new], KeyState::Active)?;
            key_dir.set_state(&mut keys[active], KeyState::Retired)?;
            format!(
                "ZSK {new_tag} now signs the zone; ZSK {old} is retired (still in the DNSKEY \
                 RRset, signing nothing)"
            )
        }
        (Step::Remove, Phase::Activated { active, retired }) => {
            let signing = keys[active].tag();
            let old = keys.remove(retired);
            let tag = old.tag();
            key_dir.remove(old)?;
            format!("removed the retired ZSK {tag} and its files; ZSK {signing} signs the zone")
        }
        (_, Phase::Steady { .. }) => {
            return Err(out_of_order(
                "no rollover is in progress (one active ZSK)".into(),
                "start one with `--step publish`",
            ))
        }
        (_, Phase::Published { new, .. }) => {
            return Err(out_of_order(
                format!("ZSK {} is published, not yet signing", keys[new].tag()),
                "the next step is `--step activate`, once the DNSKEY TTL has passed since the \
                 reload that published it",
            ))
        }
        (_, Phase::Activated { retired, .. }) => {
            return Err(out_of_order(
                format!("ZSK {} is retired", keys[retired].tag()),
                "the next step is `--step remove`, once the largest TTL of the zone's signed \
                 answers has passed since the reload that activated its successor",
            ))
        }
    };
    Ok(format!(
        "dns-xdp: zone {zone_text}: {done}.\nNext: {RELOAD}; {}.\n",
        wait_for(step)
    ))
}

/// The zone's keys and where a ZSK rollover stands.
pub fn status(dir: &Path, zone: &Name) -> Result<String, RolloverError> {
    let keys = KeyDir::open(dir)?.load(zone)?;
    let mut text = String::new();
    for key in &keys {
        let _ = writeln!(
            text,
            "{} {} algorithm {} {} ({})",
            key.role(),
            key.tag(),
            key.algorithm(),
            key.state(),
            key.file_stem().display()
        );
    }
    let next = if keys.iter().any(|key| key.role() == KeyRole::Csk) {
        "ZSK rollover: the zone has a CSK; ZSK rollovers need a KSK and a ZSK".to_string()
    } else {
        match phase(&keys) {
            Phase::Steady { .. } => {
                "ZSK rollover: none in progress; the next step is `--step publish`".into()
            }
            Phase::Published { new, .. } => format!(
                "ZSK rollover: ZSK {} is published; the next step is `--step activate`, once \
                 the DNSKEY TTL has passed since the reload that published it",
                keys[new].tag()
            ),
            Phase::Activated { retired, .. } => format!(
                "ZSK rollover: ZSK {} is retired; the next step is `--step remove`, once the \
                 largest TTL of the zone's signed answers has passed since the reload that \
                 activated its successor",
                keys[retired].tag()
            ),
            Phase::Irregular(state) => format!("ZSK rollover: {state}"),
        }
    };
    text.push_str(&next);
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::{generate_zone_keys, KeyAlgorithm, Signer, SigningConfig};
    use std::fs;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn zsk_states(dir: &Path, zone: &Name) -> Vec<KeyState> {
        KeyDir::open(dir)
            .unwrap()
            .load(zone)
            .unwrap()
            .iter()
            .filter(|key| key.role() == KeyRole::Zsk)
            .map(|key| key.state())
            .collect()
    }

    #[test]
    fn steps_in_order_and_refused_out_of_order() {
        let dir = std::env::temp_dir().join(format!("dns-xdp-roll-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let zone = n("example.com.");
        generate_zone_keys(&dir, &zone, KeyAlgorithm::EcdsaP256Sha256, false, 0).unwrap();
        let refused = |step| roll_zsk(&dir, &zone, step, 1).unwrap_err().to_string();

        for step in [Step::Activate, Step::Remove] {
            let e = refused(step);
            assert!(
                e.contains("no rollover") && e.contains("--step publish"),
                "{e}"
            );
        }
        let out = roll_zsk(&dir, &zone, Step::Publish, 1).unwrap();
        assert!(
            out.contains("DNSKEY TTL") && out.contains("--step activate"),
            "{out}"
        );
        assert_eq!(
            zsk_states(&dir, &zone)
                .iter()
                .filter(|s| **s == KeyState::Published)
                .count(),
            1
        );
        // The new key is in the DNSKEY RRset but signs nothing yet.
        let signer = Signer::load(&dir, &zone, SigningConfig::default()).unwrap();
        assert_eq!(signer.apex_rrsets()[0].rdata.len(), 3);
        for step in [Step::Publish, Step::Remove] {
            let e = refused(step);
            assert!(
                e.contains("published") && e.contains("--step activate"),
                "{e}"
            );
        }
        assert!(status(&dir, &zone).unwrap().contains("--step activate"));

        let out = roll_zsk(&dir, &zone, Step::Activate, 2).unwrap();
        assert!(
            out.contains("largest TTL") && out.contains("--step remove"),
            "{out}"
        );
        let mut states = zsk_states(&dir, &zone);
        states.sort();
        assert_eq!(states, vec![KeyState::Active, KeyState::Retired]);
        for step in [Step::Publish, Step::Activate] {
            let e = refused(step);
            assert!(e.contains("retired") && e.contains("--step remove"), "{e}");
        }

        let out = roll_zsk(&dir, &zone, Step::Remove, 3).unwrap();
        assert!(out.contains("complete"), "{out}");
        assert_eq!(zsk_states(&dir, &zone), vec![KeyState::Active]);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            6,
            "two keys, three files each"
        );
        assert!(status(&dir, &zone).unwrap().contains("none in progress"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn csk_zones_and_odd_states_are_refused() {
        let dir = std::env::temp_dir().join(format!("dns-xdp-roll-csk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let zone = n("example.net.");
        generate_zone_keys(&dir, &zone, KeyAlgorithm::Ed25519, true, 0).unwrap();
        let e = roll_zsk(&dir, &zone, Step::Publish, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("CSK"), "{e}");
        fs::remove_dir_all(&dir).unwrap();

        let zone = n("example.org.");
        generate_zone_keys(&dir, &zone, KeyAlgorithm::Ed25519, false, 0).unwrap();
        let key_dir = KeyDir::open(&dir).unwrap();
        for _ in 0..2 {
            key_dir
                .generate(
                    &zone,
                    KeyAlgorithm::Ed25519,
                    KeyRole::Zsk,
                    KeyState::Published,
                    1,
                )
                .unwrap();
        }
        let e = roll_zsk(&dir, &zone, Step::Activate, 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no step of a rollover") && e.contains(".meta"),
            "{e}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
