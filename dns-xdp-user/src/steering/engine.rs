//! Pools + health → the answers to publish: per pool, per view, the variants a query picks from
//! uniformly at random.
//!
//! The output depends only on its inputs (no randomness, no clock), so that when health has not
//! changed the answers are identical and the publisher, which diffs them, writes nothing.

use std::{collections::BTreeSet, fmt, net::IpAddr};

use hickory_proto::rr::{Name, RecordType};

use crate::config::steering::{AllDown, Member, Policy, Pool, Region};

/// Health of one (address, check) target. `Unknown` (no check has completed yet) counts as up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    Up,
    Down,
    Unknown,
}

/// The most variants a weighted answer uses: when the weights reduced by their greatest common
/// divisor add up to more, the shares are rounded to this many slots.
pub const MAX_WEIGHTED_VARIANTS: usize = 100;

/// What one pool answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolAnswer {
    /// Lowercase, fully qualified.
    pub name: Name,
    /// A or AAAA.
    pub rtype: RecordType,
    pub ttl: u32,
    /// True when the answer depends on the client's view (geo pools); `views` then has one
    /// entry per view, the default view 0 first. Otherwise `views` has only view 0.
    pub per_view: bool,
    pub views: Vec<ViewAnswer>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ViewAnswer {
    /// No addresses: NODATA.
    NoData,
    /// At least one variant, each a non-empty RRset; a query gets one picked uniformly at
    /// random.
    Variants(Vec<Vec<IpAddr>>),
}

/// The answers of every pool, in pool order. `regions` are the validated regions (their views
/// and fallbacks); `health` tells the state of a member's (address, check name). Members
/// without a check are always up and `health` is not asked about them.
pub fn answers(
    pools: &[Pool],
    regions: &[Region],
    health: impl Fn(IpAddr, &str) -> Health,
) -> Vec<PoolAnswer> {
    pools
        .iter()
        .map(|pool| pool_answer(pool, regions, &health))
        .collect()
}

fn pool_answer(
    pool: &Pool,
    regions: &[Region],
    health: &impl Fn(IpAddr, &str) -> Health,
) -> PoolAnswer {
    let up: Vec<bool> = pool
        .members
        .iter()
        .map(|m| match &m.check {
            Some(check) => health(m.address, check) != Health::Down,
            None => true,
        })
        .collect();
    let degraded = up.contains(&false);
    let ttl = if pool.halve_ttl_when_degraded && degraded {
        (pool.ttl / 2).max(1).min(pool.ttl)
    } else {
        pool.ttl
    };
    let views = match pool.policy {
        Policy::Failover => vec![failover(pool, &up)],
        Policy::Weighted => vec![weighted(pool, &up)],
        Policy::Geo => (0..=regions.len())
            .map(|view| geo(pool, regions, view as u8, &up))
            .collect(),
    };
    PoolAnswer {
        name: pool.name.clone(),
        rtype: pool.rtype,
        ttl,
        per_view: pool.policy == Policy::Geo,
        views,
    }
}

fn failover(pool: &Pool, up: &[bool]) -> ViewAnswer {
    match pool.members.iter().zip(up).find(|(_, &up)| up) {
        Some((member, _)) => ViewAnswer::Variants(vec![vec![member.address]]),
        None => all_down(pool, pool.members.iter()),
    }
}

fn all_down<'a>(pool: &Pool, members: impl Iterator<Item = &'a Member>) -> ViewAnswer {
    match &pool.all_down {
        AllDown::ServeAll => {
            let addresses: Vec<IpAddr> = members.map(|m| m.address).collect();
            if addresses.is_empty() {
                ViewAnswer::NoData
            } else {
                ViewAnswer::Variants(vec![addresses])
            }
        }
        AllDown::Fallback(addresses) => ViewAnswer::Variants(vec![addresses.clone()]),
        AllDown::NoData => ViewAnswer::NoData,
    }
}

/// Slots in proportion to the healthy members' weights; with `answers = k`, each slot's variant
/// is its member followed by the next k - 1 healthy members in config order (wrapping), so the
/// first address is weight-proportional and the rest are distinct fallbacks for the client.
fn weighted(pool: &Pool, up: &[bool]) -> ViewAnswer {
    let healthy: Vec<&Member> = pool
        .members
        .iter()
        .zip(up)
        .filter(|(_, &up)| up)
        .map(|(m, _)| m)
        .collect();
    if healthy.is_empty() {
        return all_down(pool, pool.members.iter());
    }
    let weights: Vec<u32> = healthy.iter().map(|m| m.weight).collect();
    let per_answer = pool.answers.min(healthy.len());
    let mut variants = Vec::new();
    for (i, &count) in slots(&weights).iter().enumerate() {
        let variant: Vec<IpAddr> = (0..per_answer)
            .map(|k| healthy[(i + k) % healthy.len()].address)
            .collect();
        variants.extend(std::iter::repeat_n(variant, count));
    }
    ViewAnswer::Variants(variants)
}

/// How many of the variants each weight gets, so that a uniformly random variant picks member
/// `i` with probability `weights[i] / sum`.
///
/// Exact when the weights divided by their greatest common divisor add up to at most
/// [`MAX_WEIGHTED_VARIANTS`]. Otherwise the 100 slots are shared by the largest remainder
/// method: each gets the floor of its quota `100 × w / sum`, and the slots left go to the largest
/// fractional parts (ties to the earlier member). Every count is then its quota rounded down or
/// up, so each member's share is off by less than 1 percentage point; a member whose share is
/// under 1 % can get no slot at all.
pub fn slots(weights: &[u32]) -> Vec<usize> {
    let divisor = weights.iter().copied().fold(0, gcd).max(1);
    let reduced: Vec<u64> = weights.iter().map(|&w| u64::from(w / divisor)).collect();
    let total: u64 = reduced.iter().sum();
    if total <= MAX_WEIGHTED_VARIANTS as u64 {
        return reduced.iter().map(|&w| w as usize).collect();
    }
    let slots = MAX_WEIGHTED_VARIANTS as u64;
    let mut counts: Vec<usize> = reduced
        .iter()
        .map(|&w| (w * slots / total) as usize)
        .collect();
    let left = MAX_WEIGHTED_VARIANTS - counts.iter().sum::<usize>();
    let mut by_remainder: Vec<usize> = (0..reduced.len()).collect();
    // Stable: equal remainders keep config order.
    by_remainder.sort_by_key(|&i| std::cmp::Reverse(reduced[i] * slots % total));
    for &i in &by_remainder[..left] {
        counts[i] += 1;
    }
    counts
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// One view of a geo pool. The regions tried, in order: the view's region and its fallbacks
/// (view 0: `default_region` and its fallbacks, or every region in config order when the pool
/// has none). When none of those has a member in this pool at all, the view is answered like
/// view 0 (and view 0 then like every region). The first region with a healthy member answers
/// with all its healthy members; when none has one, `all_down` applies to the members of the
/// regions tried (`serve_all`: all of them, in the order tried).
fn geo(pool: &Pool, regions: &[Region], view: u8, up: &[bool]) -> ViewAnswer {
    let chain = |view: u8| -> Vec<u8> {
        let region = &regions[usize::from(view) - 1];
        std::iter::once(view)
            .chain(region.fallback.iter().copied())
            .collect()
    };
    let every_region = || regions.iter().map(|r| r.view).collect::<Vec<u8>>();
    let serves = |tried: &[u8]| {
        pool.members
            .iter()
            .any(|m| m.region.is_some_and(|r| tried.contains(&r)))
    };
    let default_chain = match pool.default_region {
        Some(default) if serves(&chain(default)) => chain(default),
        _ => every_region(),
    };
    let tried = match view {
        0 => default_chain,
        view => {
            let own = chain(view);
            if serves(&own) {
                own
            } else {
                default_chain
            }
        }
    };
    for region in &tried {
        let addresses: Vec<IpAddr> = pool
            .members
            .iter()
            .zip(up)
            .filter(|(m, &up)| up && m.region == Some(*region))
            .map(|(m, _)| m.address)
            .collect();
        if !addresses.is_empty() {
            return ViewAnswer::Variants(vec![addresses]);
        }
    }
    // Regions in the order tried, so the client's own come first.
    all_down(
        pool,
        tried.iter().flat_map(|&region| {
            pool.members
                .iter()
                .filter(move |m| m.region == Some(region))
        }),
    )
}

impl PoolAnswer {
    /// Each view's variants (`None` for NODATA), in view order: what the fast path's entries of
    /// the pool are rendered from.
    pub fn variants_by_view(&self) -> Vec<Option<Vec<Vec<IpAddr>>>> {
        self.views
            .iter()
            .map(|view| match view {
                ViewAnswer::NoData => None,
                ViewAnswer::Variants(variants) => Some(variants.clone()),
            })
            .collect()
    }

    /// What changed from `old` to `self`, one line per view that changed (and the TTL), for the
    /// log; empty when nothing did. `regions` name the views.
    pub fn changes_from(&self, old: &PoolAnswer, regions: &[Region]) -> Vec<String> {
        let mut lines = Vec::new();
        let head = format!("{} {}", self.name, self.rtype);
        if self.ttl != old.ttl {
            lines.push(format!("{head}: ttl {} → {}", old.ttl, self.ttl));
        }
        for (view, answer) in self.views.iter().enumerate() {
            let before = old.views.get(view);
            if before == Some(answer) {
                continue;
            }
            let where_ = match view {
                0 if self.per_view => " (default view)".to_string(),
                0 => String::new(),
                view => match regions.get(view - 1) {
                    Some(region) => format!(" (region {})", region.name),
                    None => format!(" (view {view})"),
                },
            };
            let before = before.map_or("nothing".to_string(), ToString::to_string);
            lines.push(format!("{head}{where_}: {before} → {answer}"));
        }
        lines
    }
}

impl fmt::Display for ViewAnswer {
    /// One variant: its addresses. Several: how many, and the addresses they hold.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |addresses: &mut dyn Iterator<Item = &IpAddr>| {
            addresses
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        match self {
            ViewAnswer::NoData => f.write_str("NODATA"),
            ViewAnswer::Variants(variants) if variants.len() == 1 => {
                f.write_str(&join(&mut variants[0].iter()))
            }
            ViewAnswer::Variants(variants) => {
                let distinct: BTreeSet<&IpAddr> = variants.iter().flatten().collect();
                write!(
                    f,
                    "{} variants of {}",
                    variants.len(),
                    join(&mut distinct.into_iter())
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::steering::{tests::steering, Steering};

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn one(addresses: &[&str]) -> ViewAnswer {
        ViewAnswer::Variants(vec![addresses.iter().map(|a| ip(a)).collect()])
    }

    /// Health from a list of addresses that are down (with any check) and unknown.
    fn run(s: &Steering, down: &[&str], unknown: &[&str]) -> Vec<PoolAnswer> {
        answers(&s.pools, &s.regions, |address, check| {
            assert!(["web", "tcp"].contains(&check));
            if down.iter().any(|d| ip(d) == address) {
                Health::Down
            } else if unknown.iter().any(|u| ip(u) == address) {
                Health::Unknown
            } else {
                Health::Up
            }
        })
    }

    fn pool(policy: &str, extra: &str, members: &[&str]) -> Steering {
        let mut text = format!(
            "[[region]]\nname = \"eu\"\ncidrs = [\"198.51.100.0/25\"]\nfallback = [\"na\"]\n\
             [[region]]\nname = \"na\"\ncidrs = [\"198.51.100.128/25\"]\n\
             [[region]]\nname = \"asia\"\ncidrs = [\"203.0.113.0/24\"]\nfallback = [\"eu\"]\n\
             [[region]]\nname = \"mars\"\ncidrs = [\"192.0.2.0/24\"]\n\
             [[pool]]\nname = \"app.example.com.\"\ntype = \"A\"\npolicy = \"{policy}\"\n\
             check = \"web\"\n{extra}\n"
        );
        for member in members {
            text += &format!("[[pool.member]]\n{member}\n");
        }
        steering(&text).unwrap()
    }

    fn addresses(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| format!("address = \"{a}\"")).collect()
    }

    #[test]
    fn failover_takes_the_first_healthy_member() {
        let members = addresses(&["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let s = pool("failover", "", &members);
        let a = &run(&s, &[], &[])[0];
        assert_eq!(a.name.to_string(), "app.example.com.");
        assert_eq!((a.rtype, a.ttl, a.per_view), (RecordType::A, 60, false));
        assert_eq!(a.views, [one(&["192.0.2.1"])]);
        assert_eq!(run(&s, &["192.0.2.1"], &[])[0].views, [one(&["192.0.2.2"])]);
        assert_eq!(
            run(&s, &["192.0.2.1", "192.0.2.2"], &[])[0].views,
            [one(&["192.0.2.3"])]
        );
        // Unknown counts as up.
        assert_eq!(run(&s, &[], &["192.0.2.1"])[0].views, [one(&["192.0.2.1"])]);
        // The TTL stays unless asked to halve.
        assert_eq!(run(&s, &["192.0.2.1"], &[])[0].ttl, 60);
    }

    #[test]
    fn all_down_policies() {
        let members = addresses(&["192.0.2.1", "192.0.2.2"]);
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let down = ["192.0.2.1", "192.0.2.2"];
        for policy in ["failover", "weighted"] {
            let s = pool(policy, "", &members);
            assert_eq!(
                run(&s, &down, &[])[0].views,
                [one(&["192.0.2.1", "192.0.2.2"])],
                "{policy} serve_all"
            );
            let s = pool(
                policy,
                "all_down = \"fallback\"\nall_down_fallback = [\"192.0.2.99\", \"192.0.2.98\"]",
                &members,
            );
            assert_eq!(
                run(&s, &down, &[])[0].views,
                [one(&["192.0.2.99", "192.0.2.98"])]
            );
            assert_eq!(run(&s, &down[..1], &[])[0].views, [one(&["192.0.2.2"])]);
            let s = pool(policy, "all_down = \"nodata\"", &members);
            assert_eq!(run(&s, &down, &[])[0].views, [ViewAnswer::NoData]);
        }
    }

    #[test]
    fn ttl_halves_while_degraded() {
        let members = addresses(&["192.0.2.1", "192.0.2.2"]);
        let members: Vec<&str> = members.iter().map(String::as_str).collect();
        let s = pool(
            "failover",
            "ttl = 30\nhalve_ttl_when_degraded = true",
            &members,
        );
        assert_eq!(run(&s, &[], &[])[0].ttl, 30);
        assert_eq!(
            run(&s, &[], &["192.0.2.2"])[0].ttl,
            30,
            "unknown is not down"
        );
        assert_eq!(
            run(&s, &["192.0.2.2"], &[])[0].ttl,
            15,
            "a backup down halves too"
        );
        let s = pool(
            "failover",
            "ttl = 1\nhalve_ttl_when_degraded = true",
            &members,
        );
        assert_eq!(run(&s, &["192.0.2.2"], &[])[0].ttl, 1);
        let s = pool(
            "failover",
            "ttl = 0\nhalve_ttl_when_degraded = true",
            &members,
        );
        assert_eq!(run(&s, &["192.0.2.2"], &[])[0].ttl, 0);
    }

    #[test]
    fn members_without_a_check_are_always_up() {
        let text = "[[pool]]\nname = \"app.example.com.\"\ntype = \"A\"\npolicy = \"failover\"\n\
                    [[pool.member]]\naddress = \"192.0.2.1\"\n";
        let s = steering(text).unwrap();
        let a = answers(&s.pools, &s.regions, |_, _| panic!("no check to ask about"));
        assert_eq!(a[0].views, [one(&["192.0.2.1"])]);
    }

    #[test]
    fn slot_rounding() {
        assert_eq!(slots(&[1]), [1]);
        assert_eq!(slots(&[50, 50]), [1, 1]);
        assert_eq!(slots(&[3, 1]), [3, 1]);
        assert_eq!(slots(&[60, 30, 10]), [6, 3, 1]);
        assert_eq!(slots(&[99, 1]), [99, 1]);
        // 101 reduced slots: rounded to 100, the remainders decide.
        assert_eq!(slots(&[100, 1]), [99, 1]);
        assert_eq!(slots(&[1, 1, 1]), [1, 1, 1]);
        assert_eq!(
            slots(&[
                7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7
            ]),
            [1; 51]
        );
        let s = slots(&[1000, 2001, 3]);
        assert_eq!(s.iter().sum::<usize>(), 100);
        assert_eq!(s, [33, 67, 0], "a share under 1% may get no slot");
        // Largest remainder: quotas 33.33.., 33.33.., 33.33.. → the first gets the extra slot.
        assert_eq!(slots(&[101, 101, 102]), [33, 33, 34]);
        assert_eq!(slots(&[u32::MAX, u32::MAX - 1]), [50, 50]);
        // Every count is within one slot of its quota, over many weight sets.
        let mut rng = SplitMix64(7);
        for _ in 0..2000 {
            let n = 1 + (rng.next() % 12) as usize;
            let weights: Vec<u32> = (0..n).map(|_| 1 + (rng.next() % 500) as u32).collect();
            let counts = slots(&weights);
            let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
            let variants = counts.iter().sum::<usize>() as f64;
            assert!(variants <= 100.0);
            for (&w, &c) in weights.iter().zip(&counts) {
                let error = (c as f64 / variants - f64::from(w) / total).abs();
                assert!(error < 0.01, "{weights:?} → {counts:?}");
            }
        }
    }

    /// A small deterministic generator, so the draw test is the same on every run.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    fn variants(answer: &ViewAnswer) -> &[Vec<IpAddr>] {
        match answer {
            ViewAnswer::Variants(v) => v,
            ViewAnswer::NoData => panic!("NODATA"),
        }
    }

    #[test]
    fn weighted_draws_match_the_weights() {
        for weights in [
            [5u32, 3, 2, 0],
            [70, 20, 9, 1],
            [333, 333, 251, 83],
            [1, 1, 1, 97],
        ] {
            let members: Vec<String> = weights
                .iter()
                .enumerate()
                .filter(|(_, &w)| w > 0)
                .map(|(i, w)| format!("address = \"192.0.2.{}\"\nweight = {w}", i + 1))
                .collect();
            let members: Vec<&str> = members.iter().map(String::as_str).collect();
            let s = pool("weighted", "", &members);
            let answer = &run(&s, &[], &[])[0].views[0];
            let v = variants(answer);
            assert!(v.len() <= MAX_WEIGHTED_VARIANTS);
            let mut rng = SplitMix64(42);
            let mut counts: HashMap<IpAddr, u32> = HashMap::new();
            const DRAWS: u32 = 10_000;
            for _ in 0..DRAWS {
                let variant = &v[(rng.next() % v.len() as u64) as usize];
                assert_eq!(variant.len(), 1);
                *counts.entry(variant[0]).or_default() += 1;
            }
            let total: u32 = weights.iter().sum();
            for (i, &w) in weights.iter().enumerate().filter(|(_, &w)| w > 0) {
                let got = f64::from(
                    counts
                        .get(&ip(&format!("192.0.2.{}", i + 1)))
                        .copied()
                        .unwrap_or(0),
                ) / f64::from(DRAWS);
                let want = f64::from(w) / f64::from(total);
                assert!(
                    (got - want).abs() < 0.02,
                    "weights {weights:?}: member {i} drew {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn weighted_skips_down_members_and_is_deterministic() {
        let members = [
            "address = \"192.0.2.1\"\nweight = 2",
            "address = \"192.0.2.2\"\nweight = 1",
            "address = \"192.0.2.3\"\nweight = 1",
        ];
        let s = pool("weighted", "", &members);
        let all = run(&s, &[], &[]);
        assert_eq!(all, run(&s, &[], &[]), "same health, same answers");
        assert_eq!(
            variants(&all[0].views[0]),
            [
                vec![ip("192.0.2.1")],
                vec![ip("192.0.2.1")],
                vec![ip("192.0.2.2")],
                vec![ip("192.0.2.3")],
            ]
        );
        let a = run(&s, &["192.0.2.1"], &[]);
        assert_eq!(
            variants(&a[0].views[0]),
            [vec![ip("192.0.2.2")], vec![ip("192.0.2.3")]]
        );
        assert_eq!(all[0].ttl, a[0].ttl);
    }

    #[test]
    fn weighted_with_several_answers() {
        let members = [
            "address = \"192.0.2.1\"\nweight = 2",
            "address = \"192.0.2.2\"\nweight = 1",
            "address = \"192.0.2.3\"\nweight = 1",
        ];
        let s = pool("weighted", "answers = 2", &members);
        let a = run(&s, &[], &[]);
        let v = variants(&a[0].views[0]);
        let shown: Vec<String> = v
            .iter()
            .map(|v| {
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(
            shown,
            [
                "192.0.2.1,192.0.2.2",
                "192.0.2.1,192.0.2.2",
                "192.0.2.2,192.0.2.3",
                "192.0.2.3,192.0.2.1",
            ]
        );
        // Fewer healthy members than `answers`: all of them, each variant distinct addresses.
        let s = pool("weighted", "answers = 5", &members);
        let a = run(&s, &["192.0.2.2"], &[]);
        let v = variants(&a[0].views[0]);
        assert_eq!(v.len(), 3);
        assert!(v.iter().all(|v| v.len() == 2 && v[0] != v[1]));
        assert_eq!(v[0], [ip("192.0.2.1"), ip("192.0.2.3")]);
        assert_eq!(v[2], [ip("192.0.2.3"), ip("192.0.2.1")]);
    }

    fn geo_pool(extra: &str) -> Steering {
        pool(
            "geo",
            extra,
            &[
                "address = \"192.0.2.11\"\nregion = \"eu\"",
                "address = \"192.0.2.12\"\nregion = \"eu\"",
                "address = \"192.0.2.21\"\nregion = \"na\"",
                "address = \"192.0.2.31\"\nregion = \"asia\"",
            ],
        )
    }

    #[test]
    fn geo_answers_each_view_by_its_region() {
        let s = geo_pool("default_region = \"na\"");
        let a = &run(&s, &[], &[])[0];
        assert!(a.per_view);
        assert_eq!(
            a.views,
            [
                one(&["192.0.2.21"]),               // default → na
                one(&["192.0.2.11", "192.0.2.12"]), // eu: all its healthy members
                one(&["192.0.2.21"]),               // na
                one(&["192.0.2.31"]),               // asia
                one(&["192.0.2.21"]),               // mars: no members here → like default
            ]
        );
        let a = &run(&s, &["192.0.2.11"], &[])[0];
        assert_eq!(a.views[1], one(&["192.0.2.12"]));
        // eu down → its fallback na; asia down → eu; eu down too → asia falls to all_down
        // (fallbacks are not followed further).
        let a = &run(&s, &["192.0.2.11", "192.0.2.12", "192.0.2.31"], &[])[0];
        assert_eq!(a.views[1], one(&["192.0.2.21"]));
        assert_eq!(a.views[3], one(&["192.0.2.31", "192.0.2.11", "192.0.2.12"]));
        let a = &run(&s, &["192.0.2.31"], &[])[0];
        assert_eq!(a.views[3], one(&["192.0.2.11", "192.0.2.12"]));
    }

    #[test]
    fn geo_default_without_default_region() {
        let s = geo_pool("");
        let a = &run(&s, &[], &[])[0];
        // The first region with healthy members, in config order.
        assert_eq!(a.views[0], one(&["192.0.2.11", "192.0.2.12"]));
        assert_eq!(a.views[4], a.views[0]);
        let a = &run(&s, &["192.0.2.11", "192.0.2.12"], &[])[0];
        assert_eq!(a.views[0], one(&["192.0.2.21"]));
        // Everything down: serve_all gives every member to the default view.
        let everyone = ["192.0.2.11", "192.0.2.12", "192.0.2.21", "192.0.2.31"];
        let a = &run(&s, &everyone, &[])[0];
        assert_eq!(a.views[0], one(&everyone));
        // ...and to eu the members of eu and its fallback na.
        assert_eq!(a.views[1], one(&["192.0.2.11", "192.0.2.12", "192.0.2.21"]));
        let s = geo_pool("all_down = \"nodata\"");
        let a = &run(&s, &everyone, &[])[0];
        assert!(a.views.iter().all(|v| *v == ViewAnswer::NoData));
    }

    #[test]
    fn describes_changes() {
        let s = geo_pool("default_region = \"na\"\nhalve_ttl_when_degraded = true");
        let before = &run(&s, &[], &[])[0];
        let after = &run(&s, &["192.0.2.31"], &[])[0];
        assert!(after.changes_from(after, &s.regions).is_empty());
        assert_eq!(
            after.changes_from(before, &s.regions),
            [
                "app.example.com. A: ttl 60 → 30",
                "app.example.com. A (region asia): 192.0.2.31 → 192.0.2.11 192.0.2.12",
            ]
        );
        let members = [
            "address = \"192.0.2.1\"\nweight = 2",
            "address = \"192.0.2.2\"",
        ];
        let s = pool("weighted", "", &members);
        let before = &run(&s, &[], &[])[0];
        let after = &run(&s, &["192.0.2.2"], &[])[0];
        assert_eq!(
            after.changes_from(before, &s.regions),
            ["app.example.com. A: 3 variants of 192.0.2.1 192.0.2.2 → 192.0.2.1"]
        );
    }
}
