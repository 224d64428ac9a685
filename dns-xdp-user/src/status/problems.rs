//! What is wrong with a running agent, from its report: each rule a named check of the facts,
//! in plain words for the top of `dns-xdp status` (and its exit status).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{span, Health, Report};

/// How long past their renewal time signatures may still be in service before it counts as
/// a failure: the agent renews them at that time, give or take its event loop's latency.
const RENEWAL_GRACE: u64 = 60;

/// A health checker that completed no check for this many of its longest intervals (plus
/// [`CHECKER_SLACK`] seconds for a slow probe) has stopped.
const CHECKER_INTERVALS: f64 = 3.0;
const CHECKER_SLACK: f64 = 10.0;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The rule's name, for scripts.
    pub rule: &'static str,
    /// What is wrong and what it does, for people.
    pub what: String,
}

/// Every problem the report shows, in the order of the rules.
pub fn problems(report: &Report) -> Vec<Problem> {
    let mut found = Vec::new();
    signatures_stale(report, &mut found);
    targets_down(report, &mut found);
    pools_without_answer(report, &mut found);
    fallback_restarted(report, &mut found);
    fallback_panicked(report, &mut found);
    checker_stalled(report, &mut found);
    fast_path_behind(report, &mut found);
    found
}

fn signatures_stale(report: &Report, found: &mut Vec<Problem>) {
    let Some(signatures) = &report.signatures else {
        return;
    };
    let now = report.now;
    if now <= signatures.renew_at + RENEWAL_GRACE {
        return;
    }
    let retry = signatures.retry_at.map_or(String::new(), |at| {
        format!(
            " (a renewal failed; the next try is in {})",
            span(at.saturating_sub(now))
        )
    });
    let expiry = if now >= signatures.valid_until_at_least {
        format!(
            "some may have expired {} ago, and validating resolvers answer SERVFAIL for them",
            span(now - signatures.valid_until_at_least)
        )
    } else {
        format!(
            "the first may expire in {}, and validating resolvers then answer SERVFAIL for them",
            span(signatures.valid_until_at_least - now)
        )
    };
    found.push(Problem {
        rule: "signatures-stale",
        what: format!(
            "the fast path's DNSSEC signatures were due for renewal {} ago and are not renewed{retry}; \
             {expiry}: see the error log",
            span(now - signatures.renew_at)
        ),
    });
}

/// A check target found down, and the pools it is a member of.
struct Down {
    reason: Option<String>,
    last_check: Option<u64>,
    pools: Vec<String>,
}

fn targets_down(report: &Report, found: &mut Vec<Problem>) {
    // One line per target (address:port, check), with every pool it is a member of.
    let mut down: BTreeMap<(String, String), Down> = BTreeMap::new();
    for pool in &report.pools {
        for member in pool.members.iter().filter(|m| m.health == Health::Down) {
            let target = match member.port {
                Some(port) => std::net::SocketAddr::new(member.address, port).to_string(),
                None => member.address.to_string(),
            };
            let check = member.check.clone().unwrap_or_default();
            down.entry((target, check))
                .or_insert_with(|| Down {
                    reason: member.reason.clone(),
                    last_check: member.last_check,
                    pools: Vec::new(),
                })
                .pools
                .push(format!("{} {}", pool.name, pool.rtype));
        }
    }
    for ((target, check), d) in down {
        let seen = match (d.reason, d.last_check) {
            (Some(reason), Some(at)) => {
                format!(": {reason}, {} ago", span(report.now.saturating_sub(at)))
            }
            (Some(reason), None) => format!(": {reason}"),
            _ => String::new(),
        };
        found.push(Problem {
            rule: "target-down",
            what: format!(
                "check target {target} is down (check {check}{seen}); {} answer{} without it",
                d.pools.join(", "),
                if d.pools.len() == 1 { "s" } else { "" }
            ),
        });
    }
}

fn pools_without_answer(report: &Report, found: &mut Vec<Problem>) {
    for pool in &report.pools {
        for answer in pool.answers.iter().filter(|a| a.variants.is_empty()) {
            let clients = match &answer.region {
                Some(region) => format!("clients in region {region}"),
                None if pool.policy == "geo" => "clients of no region".to_string(),
                None => "every client".to_string(),
            };
            found.push(Problem {
                rule: "pool-no-answer",
                what: format!(
                    "{} {} answers NODATA to {clients}: no member it may answer with is up",
                    pool.name, pool.rtype
                ),
            });
        }
    }
}

fn fallback_restarted(report: &Report, found: &mut Vec<Problem>) {
    let window = &report.last_minute;
    if window.fallback_restarts == 0 {
        return;
    }
    found.push(Problem {
        rule: "fallback-thread-died",
        what: format!(
            "{} of the fallback's serving threads or accept loops died in the last {} and were \
             restarted: queries to it went unanswered meanwhile; this is a bug, see the error log",
            window.fallback_restarts,
            span(window.seconds as u64)
        ),
    });
}

fn fallback_panicked(report: &Report, found: &mut Vec<Problem>) {
    let window = &report.last_minute;
    if window.fallback_panics == 0 {
        return;
    }
    found.push(Problem {
        rule: "fallback-panic",
        what: format!(
            "the fallback panicked {} time(s) in the last {} (each a query answered SERVFAIL, or \
             a serving thread lost); this is a bug, see the error log",
            window.fallback_panics,
            span(window.seconds as u64)
        ),
    });
}

fn checker_stalled(report: &Report, found: &mut Vec<Problem>) {
    let Some(checker) = report.checker.as_ref().filter(|c| c.targets > 0) else {
        return;
    };
    let last = checker.last_activity.unwrap_or(report.agent.started);
    let quiet = report.now.saturating_sub(last);
    let limit = checker.longest_interval_seconds * CHECKER_INTERVALS + CHECKER_SLACK;
    if (quiet as f64) <= limit {
        return;
    }
    found.push(Problem {
        rule: "checker-stalled",
        what: format!(
            "the health checker has completed no check for {} (every target is checked at \
             least every {:.0}s): the pools answer from health as it was then",
            span(quiet),
            checker.longest_interval_seconds
        ),
    });
}

fn fast_path_behind(report: &Report, found: &mut Vec<Problem>) {
    if report.fast_path.as_ref().is_some_and(|f| f.behind) {
        found.push(Problem {
            rule: "fast-path-behind",
            what: "the fast path's maps do not hold exactly what was published (the kernel \
                   refused part of a change, or the removal of a previous generation's entries): \
                   the agent retries; see the error log"
                .to_string(),
        });
    }
}

#[cfg(test)]
pub mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::status::{
        share::Window, Agent, Answer, AttachMode, Checker, Fallback, FastPath, Key, Member, Pool,
        Signatures, Signing, Source, Zone, FORMAT_VERSION,
    };

    pub const NOW: u64 = 1_800_000_000;

    /// A healthy agent of two zones (one signed) and a failover pool, for tests to break.
    pub fn report() -> Report {
        let member = |address: &str, health, reason: &str| Member {
            address: address.parse().unwrap(),
            weight: 1,
            region: None,
            check: Some("web".into()),
            health,
            port: Some(80),
            reason: Some(reason.into()),
            last_check: Some(NOW - 2),
            latency_ms: Some(1.5),
        };
        Report {
            version: FORMAT_VERSION,
            now: NOW,
            agent: Agent {
                pid: 4242,
                started: NOW - 3725,
                config: PathBuf::from("/etc/dns-xdp/dns-xdp.toml"),
            },
            fast_path: Some(FastPath {
                interface: "eth0".into(),
                mode: AttachMode::Native,
                generation: 3,
                pin_dir: PathBuf::from("/sys/fs/bpf/dns-xdp"),
                behind: false,
            }),
            fallback: Fallback {
                listen: vec!["192.0.2.1:53".into(), "[2001:db8::1]:53".into()],
                restarts: 0,
                panics: 0,
            },
            last_minute: Window {
                seconds: 62.0,
                fast_path_answers: 9_800,
                fallback_answers: 200,
                fallback_restarts: 0,
                fallback_panics: 0,
            },
            zones: vec![
                Zone {
                    origin: "example.com.".into(),
                    serial: 2026120401,
                    source: Source::File {
                        path: "/etc/dns-xdp/zones/example.com.zone".into(),
                    },
                    signing: Some(Signing {
                        algorithm: "ECDSAP256SHA256".into(),
                        keys: vec![
                            Key {
                                tag: 12345,
                                role: "KSK".into(),
                                state: "active".into(),
                            },
                            Key {
                                tag: 54321,
                                role: "ZSK".into(),
                                state: "active".into(),
                            },
                        ],
                        validity_seconds: 7 * 86400,
                        refresh_seconds: 42 * 3600,
                    }),
                },
                Zone {
                    origin: "example.net.".into(),
                    serial: 7,
                    source: Source::File {
                        path: "/etc/dns-xdp/zones/example.net.zone".into(),
                    },
                    signing: None,
                },
            ],
            signatures: Some(Signatures {
                renew_at: NOW + 3600,
                valid_until_at_least: NOW + 3600 + 42 * 3600,
                retry_at: None,
            }),
            pools: vec![Pool {
                name: "app.example.com.".into(),
                rtype: "A".into(),
                policy: "failover".into(),
                ttl: 60,
                members: vec![
                    member("192.0.2.10", Health::Up, "HTTP 200"),
                    member("192.0.2.11", Health::Up, "HTTP 200"),
                ],
                answers: vec![Answer {
                    region: None,
                    variants: vec![vec!["192.0.2.10".parse().unwrap()]],
                }],
            }],
            checker: Some(Checker {
                targets: 2,
                last_activity: Some(NOW - 2),
                longest_interval_seconds: 10.0,
            }),
        }
    }

    fn rules(report: &Report) -> Vec<&'static str> {
        problems(report).iter().map(|p| p.rule).collect()
    }

    #[test]
    fn a_healthy_agent_has_no_problem() {
        assert_eq!(problems(&report()), []);
    }

    #[test]
    fn a_down_target_is_named_once_with_every_pool_it_serves() {
        let mut r = report();
        r.pools[0].members[0].health = Health::Down;
        r.pools[0].members[0].reason = Some("connect refused".into());
        let mut other = r.pools[0].clone();
        other.name = "www.example.com.".into();
        r.pools.push(other);
        let found = problems(&r);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, "target-down");
        assert_eq!(
            found[0].what,
            "check target 192.0.2.10:80 is down (check web: connect refused, 2s ago); \
             app.example.com. A, www.example.com. A answer without it"
        );
        // Unchecked and unmonitored members count as up.
        let mut r = report();
        r.pools[0].members[0].health = Health::Unchecked;
        r.pools[0].members[1].health = Health::Unmonitored;
        assert_eq!(rules(&r), Vec::<&str>::new());
    }

    #[test]
    fn signatures_are_stale_a_minute_past_their_renewal() {
        let mut r = report();
        let signatures = r.signatures.as_mut().unwrap();
        signatures.renew_at = NOW - RENEWAL_GRACE;
        assert_eq!(rules(&r), Vec::<&str>::new(), "within the grace");
        let signatures = r.signatures.as_mut().unwrap();
        signatures.renew_at = NOW - 7200;
        signatures.valid_until_at_least = NOW + 3600;
        signatures.retry_at = Some(NOW + 1800);
        let found = problems(&r);
        assert_eq!(rules(&r), ["signatures-stale"]);
        assert!(
            found[0].what.contains("due for renewal 2h ago")
                && found[0].what.contains("next try is in 30m")
                && found[0].what.contains("may expire in 1h"),
            "{}",
            found[0].what
        );
        r.signatures.as_mut().unwrap().valid_until_at_least = NOW - 60;
        assert!(problems(&r)[0].what.contains("expired 1m ago"));
    }

    #[test]
    fn a_dead_thread_or_panic_in_the_last_minute_only() {
        let mut r = report();
        r.fallback.restarts = 3;
        r.fallback.panics = 5;
        assert_eq!(rules(&r), Vec::<&str>::new(), "long ago: not now");
        r.last_minute.fallback_restarts = 1;
        r.last_minute.fallback_panics = 2;
        assert_eq!(rules(&r), ["fallback-thread-died", "fallback-panic"]);
        assert!(problems(&r)[0]
            .what
            .starts_with("1 of the fallback's serving threads"));
    }

    #[test]
    fn a_checker_quiet_for_three_intervals_has_stalled() {
        let mut r = report();
        r.checker.as_mut().unwrap().last_activity = Some(NOW - 40);
        assert_eq!(rules(&r), Vec::<&str>::new());
        r.checker.as_mut().unwrap().last_activity = Some(NOW - 41);
        assert_eq!(rules(&r), ["checker-stalled"]);
        // Never a check since a start long ago.
        r.checker.as_mut().unwrap().last_activity = None;
        assert_eq!(rules(&r), ["checker-stalled"]);
    }

    #[test]
    fn nodata_from_a_pool_and_a_fast_path_behind() {
        let mut r = report();
        r.pools[0].policy = "geo".into();
        r.pools[0].answers = vec![
            Answer {
                region: None,
                variants: vec![],
            },
            Answer {
                region: Some("eu".into()),
                variants: vec![],
            },
        ];
        r.fast_path.as_mut().unwrap().behind = true;
        let found = problems(&r);
        assert_eq!(
            rules(&r),
            ["pool-no-answer", "pool-no-answer", "fast-path-behind"]
        );
        assert!(found[0].what.contains("to clients of no region"));
        assert!(found[1].what.contains("to clients in region eu"));
    }
}
