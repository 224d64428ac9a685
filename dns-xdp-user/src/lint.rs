//! `dns-xdp check`: lints a config and its zones for the designs that hold until the day they
//! hurt — one DNS provider, long TTLs on answers meant to change, pools nobody checks, a CNAME at
//! the apex, unsigned zones, long TTLs during a migration. Each [`Finding`] says what was found,
//! why it hurts, how to fix it, and the RFC or reasoning behind it.
//!
//! The config and zones are loaded as the agent loads them: whatever a start would refuse is an
//! error here too, except a CNAME at a zone's apex, which is a finding (the zone cannot load, and
//! the fix — an ALIAS — is this lint's to explain).

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use hickory_proto::rr::{Name, RData, RecordType};
use serde::Serialize;

use crate::{
    catalog::{load::read_zones, LoadError, Loaded},
    config::{
        steering::{Policy, Pool},
        Config, ConfigError, ZoneConfig,
    },
    zone::{Zone, ZoneError},
};

/// Pool TTLs above this defeat failover and geo steering (seconds).
pub const MAX_STEERED_TTL: u32 = 300;

/// TTLs above this make a migration slow to take effect and slow to roll back (seconds).
pub const MAX_MIGRATION_TTL: u32 = 3600;

/// How many RRsets a migration finding names before it only counts the rest.
const LISTED_RRSETS: usize = 8;

/// Public suffixes of two labels, under which a registrable domain has three labels
/// (`example.co.uk.`). The common ones only: an unlisted one makes every name server under it
/// look like one provider, which errs towards a finding.
const TWO_LABEL_SUFFIXES: &[&str] = &[
    "ac.uk", "co.uk", "gov.uk", "ltd.uk", "me.uk", "net.uk", "org.uk", "plc.uk", "com.au",
    "net.au", "org.au", "edu.au", "gov.au", "co.nz", "net.nz", "org.nz", "co.jp", "ne.jp", "or.jp",
    "ac.jp", "go.jp", "co.za", "org.za", "com.br", "net.br", "org.br", "com.cn", "net.cn",
    "org.cn", "com.mx", "co.in", "net.in", "org.in", "com.sg", "com.hk", "co.kr", "or.kr",
    "com.tw", "co.il", "com.tr", "com.ar", "co.id",
];

/// What `dns-xdp check` looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Every name server of a zone under one registrable domain.
    SingleProvider,
    /// A failover or geo pool (or a health-checked weighted one) with ttl > 300.
    HighTtl,
    /// Pool members with no health check.
    NoHealthCheck,
    /// A CNAME at a zone's apex.
    ApexCname,
    /// A zone served unsigned.
    DnssecOff,
    /// A TTL above 3600 s while `[migration] active = true`.
    MigrationTtl,
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::SingleProvider => "single-provider",
            Rule::HighTtl => "high-ttl",
            Rule::NoHealthCheck => "no-health-check",
            Rule::ApexCname => "apex-cname",
            Rule::DnssecOff => "dnssec-off",
            Rule::MigrationTtl => "migration-ttl",
        }
    }
}

/// One finding, explained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    /// What it is about: `zone example.com.`, `[[pool]] app.example.com. A`.
    pub subject: String,
    pub what: String,
    pub why: String,
    pub fix: String,
    /// The RFCs or the reasoning the finding rests on.
    pub reference: String,
}

/// Loads the config at `config_path` and its zones as the agent would, and lints them. An error
/// is what the agent would refuse to start with (apart from a CNAME at an apex, a finding).
pub fn check(config_path: &Path) -> anyhow::Result<Vec<Finding>> {
    let config = Config::load(config_path)?;
    let mut zones = Vec::new();
    let mut apex_cnames = Vec::new();
    let mut failed = Vec::new();
    for (source, loaded) in read_zones(&config, config_path) {
        match loaded {
            Ok(zone) => zones.push(zone),
            Err(ZoneError::CnameAndOtherData { at, name, .. })
                if Name::from_ascii(&name).is_ok_and(|n| n == source.origin) =>
            {
                apex_cnames.push(apex_cname(&source.origin, &at.to_string()));
            }
            Err(e) => failed.push((source.origin, e)),
        }
    }
    if !failed.is_empty() {
        return Err(LoadError::Zones(failed).into());
    }
    let findings = lint(&config, config_path, &zones)?;
    if apex_cnames.is_empty() {
        // Every zone loaded: what the agent checks across config and zones must hold too. With
        // a zone missing, pools and aliases in it would be refused for the wrong reason.
        Loaded::with_zones(config, zones, config_path)?;
    }
    apex_cnames.extend(findings);
    Ok(apex_cnames)
}

/// The findings in `config` (read from `config_path`) and its loaded `zones`: per zone, then
/// per pool, in config order.
pub fn lint(
    config: &Config,
    config_path: &Path,
    zones: &[Zone],
) -> Result<Vec<Finding>, ConfigError> {
    let traffic = config.traffic(config_path)?;
    let mut findings = Vec::new();
    for (source, zone_config) in config.zone_sources(config_path).iter().zip(&config.zones) {
        if let Some(zone) = zones.iter().find(|z| *z.origin() == source.origin) {
            findings.extend(single_provider(zone));
        }
        findings.extend(dnssec_off(&source.origin, zone_config));
        if config.migration.active {
            if let Some(zone) = zones.iter().find(|z| *z.origin() == source.origin) {
                findings.extend(migration_zone(zone));
            }
        }
    }
    for pool in &traffic.steering.pools {
        findings.extend(no_health_check(pool));
        findings.extend(high_ttl(pool));
        if config.migration.active {
            findings.extend(migration_pool(pool));
        }
    }
    Ok(findings)
}

/// The registrable domain of a name server's name: its last two labels, or three under a
/// two-label public suffix such as `co.uk.`. A heuristic, not the Public Suffix List: a provider
/// whose servers span several domains (`awsdns-01.com.`, `awsdns-02.net.`) counts as several.
pub fn registrable_domain(name: &Name) -> Name {
    let name = name.to_lowercase();
    let labels = usize::from(name.num_labels());
    let suffix = name.trim_to(2).to_string();
    let keep = if TWO_LABEL_SUFFIXES.contains(&suffix.trim_end_matches('.')) {
        3
    } else {
        2
    };
    name.trim_to(keep.min(labels))
}

fn zone_subject(origin: &Name) -> String {
    format!("zone {origin}")
}

fn pool_subject(pool: &Pool) -> String {
    format!("[[pool]] {} {}", pool.name, pool.rtype)
}

fn single_provider(zone: &Zone) -> Option<Finding> {
    let origin = zone.origin();
    let ns = zone.rrset(origin, RecordType::NS)?;
    let targets: Vec<Name> = ns
        .rdata
        .iter()
        .filter_map(|r| match r {
            RData::NS(ns) => Some(ns.0.to_lowercase()),
            _ => None,
        })
        .collect();
    let mut domains: Vec<Name> = targets.iter().map(registrable_domain).collect();
    domains.sort();
    domains.dedup();
    let [domain] = domains.as_slice() else {
        return None;
    };
    let list = join(&targets);
    let what = match targets.len() {
        1 => format!(
            "the only name server of {origin}, {list}, is under {domain}: one operator runs it"
        ),
        n => format!(
            "all {n} name servers of {origin} ({list}) are under {domain}: one operator runs \
             every one of them"
        ),
    };
    Some(Finding {
        rule: Rule::SingleProvider,
        subject: zone_subject(origin),
        what,
        why: "When that operator fails — an outage, a DDoS on its name servers, a bad deploy, a \
              suspended account — every server of the zone fails at once, and its names stop \
              resolving as resolvers' caches expire (as for Dyn's customers in October 2016). \
              A zone's name servers should share no single point of failure."
            .into(),
        fix: format!(
            "Serve {origin} from a second provider too: load the same zone data there (dns-xdp \
             does not serve zone transfers, so push the zone file to both, or feed both from \
             one hidden primary), then list both providers' name servers in the apex NS RRset \
             and in the delegation at the parent. If the zone is signed, the parent's DS \
             records must cover both providers' keys (RFC 8901)."
        ),
        reference: "RFC 2182 §3 and §5 (name servers in separate places and networks); RFC \
                    8901 (multi-provider DNSSEC). Heuristic: name servers are grouped by \
                    registrable domain, the last two labels of their names, three under \
                    two-label public suffixes such as co.uk."
            .into(),
    })
}

fn dnssec_off(origin: &Name, zone: &ZoneConfig) -> Option<Finding> {
    if signed(zone) {
        return None;
    }
    Some(Finding {
        rule: Rule::DnssecOff,
        subject: zone_subject(origin),
        what: format!("{origin} is served unsigned (its [[zone]] does not set dnssec = true)"),
        why: "Without signatures a resolver cannot tell our answers from forged ones: anyone on \
              the path, or off it winning a race against the real answer (cache poisoning), \
              can send the zone's clients anywhere. Validating resolvers reject answers that \
              the zone's keys did not sign."
            .into(),
        fix: format!(
            "Generate keys with `dns-xdp keys generate --zone {origin} --dir <key dir>`, set \
             dnssec = true (or key_dir) in the zone's [[zone]], and give the parent the DS record that \
             `dns-xdp keys ds --zone {origin} --dir <key dir>` prints."
        ),
        reference: "RFC 3833 (the threats); RFC 4033 §1 and RFC 4035 (DNSSEC).".into(),
    })
}

/// Whether the zone is served signed: `dnssec = true`, or a `key_dir` without `dnssec = false`.
fn signed(zone: &ZoneConfig) -> bool {
    zone.dnssec.unwrap_or(zone.key_dir.is_some())
}

fn high_ttl(pool: &Pool) -> Option<Finding> {
    let checked = pool.members.iter().any(|m| m.check.is_some());
    let steered = match pool.policy {
        Policy::Failover | Policy::Geo => true,
        // Weighted answers change only when health drops a member.
        Policy::Weighted => checked,
    };
    if !steered || pool.ttl <= MAX_STEERED_TTL {
        return None;
    }
    let ttl = pool.ttl;
    let why = match pool.policy {
        Policy::Geo => format!(
            "Resolvers keep an answer for its TTL. When a region's members go down, dns-xdp \
             moves its clients to the next region within interval × fall, but clients whose \
             resolver cached the old answer are sent to the dead members for up to {ttl} s \
             ({}) more.",
            human(ttl)
        ),
        _ => format!(
            "Resolvers keep an answer for its TTL. When a member goes down, dns-xdp stops \
             answering with it within interval × fall, but clients whose resolver cached it \
             are sent to the dead member for up to {ttl} s ({}) more.",
            human(ttl)
        ),
    };
    Some(Finding {
        rule: Rule::HighTtl,
        subject: pool_subject(pool),
        what: format!(
            "the {} pool answers with ttl = {ttl}, above {MAX_STEERED_TTL} s",
            policy_name(pool.policy)
        ),
        why,
        fix: "Set ttl = 60 (the default) in this [[pool]], or at most 300. A short TTL costs \
              more queries, which the fast path is built to answer."
            .into(),
        reference: "RFC 1034 §3.6 and RFC 2181 §8 (a TTL is how long resolvers may cache); \
                    failover records are commonly 60 s (Route 53, gdnsd)."
            .into(),
    })
}

fn no_health_check(pool: &Pool) -> Option<Finding> {
    let unchecked: Vec<String> = pool
        .members
        .iter()
        .filter(|m| m.check.is_none())
        .map(|m| m.address.to_string())
        .collect();
    if unchecked.is_empty() {
        return None;
    }
    let what = if unchecked.len() == pool.members.len() {
        "the pool has no health check: no member has `check` and the pool has none".to_string()
    } else {
        format!(
            "member(s) {} have no health check: no `check` of their own and none on the pool",
            unchecked.join(", ")
        )
    };
    let consequence = match pool.policy {
        Policy::Failover => "a failover pool never fails over away from it",
        Policy::Weighted => "it keeps its share of the answers",
        Policy::Geo => "its region's clients keep being sent to it",
    };
    Some(Finding {
        rule: Rule::NoHealthCheck,
        subject: pool_subject(pool),
        what,
        why: format!(
            "A member without a check counts as up forever: when it fails, {consequence}, and \
             clients are sent to an address that does not answer."
        ),
        fix: "Define a [[check]] (for example protocol = \"https\", path = \"/health\") and set \
              check = \"<its name>\" on the pool, or on each member. For a last-resort address \
              that must answer when everything else is down, use all_down = \"fallback\" with \
              all_down_fallback rather than an unchecked member."
            .into(),
        reference: "Reasoning: pools steer by health, and a member with no check is assumed \
                    up; only a check can take it out of the answers."
            .into(),
    })
}

fn apex_cname(origin: &Name, at: &str) -> Finding {
    Finding {
        rule: Rule::ApexCname,
        subject: zone_subject(origin),
        what: format!("{origin} has a CNAME at its apex ({at})"),
        why: "The apex must own the zone's SOA and NS records, and a name with a CNAME can own \
              no other data: resolvers follow the CNAME and lose the apex's own records (NS, \
              MX, TXT). dns-xdp refuses to load the zone, so the other checks of this zone wait \
              until it loads."
            .into(),
        fix: format!(
            "Remove the CNAME from the zone file and add an ALIAS to the config:\n\
             \x20 [[alias]]\n\
             \x20 name = \"{origin}\"\n\
             \x20 target = \"<the CNAME's target>\"\n\
             It answers A and AAAA queries at the apex with the target's addresses, flattened, \
             and leaves the apex's other records alone (a target outside our zones also needs \
             [server] upstream)."
        ),
        reference: "RFC 1034 §3.6.2 and RFC 2181 §10.1 (a CNAME stands alone); ALIAS \
                    flattening as in PowerDNS ALIAS and Knot's mod-alias."
            .into(),
    }
}

fn migration_why(max_ttl: u32) -> String {
    format!(
        "[migration] active = true says names are about to move to new addresses or to another \
         provider. Resolvers that cached an answer keep it for its TTL after the switch: with \
         {max_ttl} s, some clients use the old data for up to {} after it, and a rollback takes \
         as long.",
        human(max_ttl)
    )
}

const MIGRATION_REFERENCE: &str = "RFC 1034 §3.6 and RFC 2181 §8 (a TTL is how long resolvers \
                                   may cache); lowering TTLs ahead of a move is standard \
                                   practice.";

fn migration_zone(zone: &Zone) -> Option<Finding> {
    let long: Vec<_> = zone
        .rrsets()
        .filter(|set| set.ttl > MAX_MIGRATION_TTL)
        .collect();
    let max_ttl = long.iter().map(|set| set.ttl).max()?;
    let mut list: Vec<String> = long
        .iter()
        .take(LISTED_RRSETS)
        .map(|set| format!("{} {} ttl {}", set.name, set.rtype, set.ttl))
        .collect();
    if long.len() > LISTED_RRSETS {
        list.push(format!("and {} more", long.len() - LISTED_RRSETS));
    }
    Some(Finding {
        rule: Rule::MigrationTtl,
        subject: zone_subject(zone.origin()),
        what: format!(
            "{} RRset(s) have a TTL above {MAX_MIGRATION_TTL} s during the migration: {}",
            long.len(),
            list.join("; ")
        ),
        why: migration_why(max_ttl),
        fix: format!(
            "Lower these TTLs in the zone file to {MAX_MIGRATION_TTL} s or less (300 s for names \
             that will change) now, wait out the old TTL before switching so that every cache \
             holds the short one, and raise them again once the migration is over. If the \
             provider changes, lower the NS and DS TTLs at the parent too: those are the \
             parent's."
        ),
        reference: MIGRATION_REFERENCE.into(),
    })
}

fn migration_pool(pool: &Pool) -> Option<Finding> {
    if pool.ttl <= MAX_MIGRATION_TTL {
        return None;
    }
    Some(Finding {
        rule: Rule::MigrationTtl,
        subject: pool_subject(pool),
        what: format!(
            "ttl = {} is above {MAX_MIGRATION_TTL} s during the migration",
            pool.ttl
        ),
        why: migration_why(pool.ttl),
        fix: format!(
            "Set ttl to {MAX_MIGRATION_TTL} or less in this [[pool]] (60, the default, suits a \
             pool) and wait out the old TTL before switching."
        ),
        reference: MIGRATION_REFERENCE.into(),
    })
}

fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::Failover => "failover",
        Policy::Weighted => "weighted",
        Policy::Geo => "geo",
    }
}

fn join(names: &[Name]) -> String {
    names
        .iter()
        .map(Name::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A TTL in the largest unit that divides it evenly enough to read: `1 h`, `2 d`, `90 min`.
fn human(seconds: u32) -> String {
    match seconds {
        s if s >= 86_400 && s % 3600 == 0 => {
            let hours = s / 3600;
            if hours % 24 == 0 {
                format!("{} d", hours / 24)
            } else {
                format!("{hours} h")
            }
        }
        s if s >= 3600 && s % 60 == 0 => {
            if s % 3600 == 0 {
                format!("{} h", s / 3600)
            } else {
                format!("{} min", s / 60)
            }
        }
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// The findings as text: one block per finding, then a summary line.
pub fn render_text(config_path: &Path, findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let _ = writeln!(out, "[{}] {}", f.rule.id(), f.subject);
        for (label, text) in [
            ("", f.what.as_str()),
            ("why: ", &f.why),
            ("fix: ", &f.fix),
            ("see: ", &f.reference),
        ] {
            out.push_str(&wrap(label, text));
        }
        out.push('\n');
    }
    let mut counts: BTreeMap<Rule, usize> = BTreeMap::new();
    for f in findings {
        *counts.entry(f.rule).or_default() += 1;
    }
    match findings.len() {
        0 => {
            let _ = writeln!(out, "dns-xdp check: {}: no findings", config_path.display());
        }
        n => {
            let by_rule: Vec<String> = counts
                .iter()
                .map(|(rule, count)| format!("{} {count}", rule.id()))
                .collect();
            let _ = writeln!(
                out,
                "dns-xdp check: {}: {n} finding(s) ({})",
                config_path.display(),
                by_rule.join(", ")
            );
        }
    }
    out
}

/// The findings as one JSON object.
pub fn render_json(config_path: &Path, findings: &[Finding]) -> String {
    let value = serde_json::json!({
        "config": config_path.display().to_string(),
        "findings": findings,
    });
    format!("{value}\n")
}

const WIDTH: usize = 100;
const INDENT: &str = "    ";

/// `label` and `text` as indented lines of at most [`WIDTH`] columns. Lines of `text` that
/// start with a space (examples to copy) are kept as they are.
fn wrap(label: &str, text: &str) -> String {
    let mut out = String::new();
    let mut first = true;
    for paragraph in text.split('\n') {
        if paragraph.starts_with(' ') {
            let _ = writeln!(out, "{INDENT}{paragraph}");
            continue;
        }
        let mut line = if first {
            format!("  {label}")
        } else {
            INDENT.to_string()
        };
        first = false;
        let mut empty = true;
        for word in paragraph.split_whitespace() {
            if !empty && line.len() + 1 + word.len() > WIDTH {
                let _ = writeln!(out, "{line}");
                line = INDENT.to_string();
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "[server]\nxdp_mode = \"off\"\n";

    /// A zone file for `origin` with these NS targets and extra records.
    fn zone_text(ns: &[&str], extra: &str) -> String {
        let mut text = "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n".to_string();
        for target in ns {
            let _ = writeln!(text, "@ IN NS {target}");
        }
        text.push_str("ns1 IN A 192.0.2.53\n");
        text.push_str(extra);
        text
    }

    fn zone(origin: &str, text: &str) -> Zone {
        Zone::parse(&Name::from_ascii(origin).unwrap(), text, "test.zone").unwrap()
    }

    /// Lints `config` (TOML after `[server]`) with `zones` as loaded.
    fn run(config: &str, zones: &[Zone]) -> Vec<Finding> {
        let config: Config = toml::from_str(&format!("{HEAD}{config}")).unwrap();
        lint(&config, Path::new("/nonexistent/dns-xdp.toml"), zones).unwrap()
    }

    fn rules(findings: &[Finding]) -> Vec<Rule> {
        findings.iter().map(|f| f.rule).collect()
    }

    fn of(findings: &[Finding], rule: Rule) -> Vec<&Finding> {
        findings.iter().filter(|f| f.rule == rule).collect()
    }

    const ZONE_CONFIG: &str = "[[zone]]\norigin = \"example.com.\"\nfile = \"x\"\n";

    /// Two providers' name servers, so that only the rule under test finds anything (besides
    /// dnssec-off: the zones here are unsigned).
    fn two_providers() -> Zone {
        zone(
            "example.com.",
            &zone_text(&["ns1", "ns.example.net."], "www IN A 192.0.2.10\n"),
        )
    }

    fn pool(extra: &str, members: &str) -> String {
        format!(
            "{ZONE_CONFIG}[[check]]\nname = \"web\"\nprotocol = \"http\"\n\
             [[pool]]\nname = \"app.example.com.\"\ntype = \"A\"\n{extra}{members}"
        )
    }

    const CHECKED: &str = "[[pool.member]]\naddress = \"192.0.2.10\"\ncheck = \"web\"\n\
                           [[pool.member]]\naddress = \"192.0.2.11\"\ncheck = \"web\"\n";
    const UNCHECKED: &str = "[[pool.member]]\naddress = \"192.0.2.10\"\n\
                             [[pool.member]]\naddress = \"192.0.2.11\"\n";

    #[test]
    fn registrable_domains() {
        let domain = |n: &str| registrable_domain(&Name::from_ascii(n).unwrap()).to_string();
        assert_eq!(domain("ns1.example.net."), "example.net.");
        assert_eq!(domain("A.NS.Example.NET."), "example.net.");
        assert_eq!(domain("ns1.dns.example.co.uk."), "example.co.uk.");
        assert_eq!(domain("ns1.example.uk."), "example.uk.");
        assert_eq!(domain("example.net."), "example.net.");
        assert_eq!(domain("localhost."), "localhost.");
        assert_eq!(domain("co.uk."), "co.uk.");
    }

    #[test]
    fn single_provider_when_every_name_server_shares_one_domain() {
        let one = zone(
            "example.com.",
            &zone_text(&["ns1.example.net.", "NS2.example.net."], ""),
        );
        let found = run(ZONE_CONFIG, &[one]);
        let f = of(&found, Rule::SingleProvider);
        assert_eq!(f.len(), 1, "{found:?}");
        assert_eq!(f[0].subject, "zone example.com.");
        assert!(
            f[0].what
                .contains("all 2 name servers of example.com. (ns1.example.net., ns2.example.net.) are under example.net."),
            "{}",
            f[0].what
        );
        assert!(f[0].reference.contains("RFC 2182"));

        // In-zone name servers are one operator too: ourselves.
        let own = zone("example.com.", &zone_text(&["ns1"], ""));
        let found = run(ZONE_CONFIG, &[own]);
        assert!(
            of(&found, Rule::SingleProvider)[0].what.contains(
                "the only name server of example.com., ns1.example.com., is under example.com."
            ),
            "{found:?}"
        );

        // Two providers; and two under one two-label suffix.
        assert!(of(&run(ZONE_CONFIG, &[two_providers()]), Rule::SingleProvider).is_empty());
        let uk = zone(
            "example.com.",
            &zone_text(&["ns1.one.co.uk.", "ns1.two.co.uk."], ""),
        );
        assert!(of(&run(ZONE_CONFIG, &[uk]), Rule::SingleProvider).is_empty());
        let uk = zone(
            "example.com.",
            &zone_text(&["a.one.co.uk.", "b.one.co.uk."], ""),
        );
        assert_eq!(of(&run(ZONE_CONFIG, &[uk]), Rule::SingleProvider).len(), 1);
    }

    #[test]
    fn high_ttl_on_failover_and_geo_pools() {
        let zones = [two_providers()];
        let high = |policy: &str, ttl: u32, members: &str| {
            let found = run(
                &pool(&format!("policy = \"{policy}\"\nttl = {ttl}\n"), members),
                &zones,
            );
            of(&found, Rule::HighTtl).len()
        };
        assert_eq!(high("failover", 301, CHECKED), 1);
        assert_eq!(high("failover", 300, CHECKED), 0);
        assert_eq!(high("failover", 3600, UNCHECKED), 1);
        assert_eq!(high("weighted", 3600, CHECKED), 1);
        assert_eq!(high("weighted", 3600, UNCHECKED), 0, "answers never change");

        let geo = format!(
            "{ZONE_CONFIG}[[region]]\nname = \"eu\"\ncidrs = [\"198.51.100.0/24\"]\n\
             [[pool]]\nname = \"geo.example.com.\"\ntype = \"A\"\npolicy = \"geo\"\nttl = 600\n\
             [[pool.member]]\naddress = \"192.0.2.10\"\nregion = \"eu\"\n"
        );
        let found = run(&geo, &zones);
        let f = of(&found, Rule::HighTtl);
        assert_eq!(f.len(), 1, "{found:?}");
        assert_eq!(f[0].subject, "[[pool]] geo.example.com. A");
        assert!(f[0].what.contains("geo pool answers with ttl = 600"));
        assert!(f[0].why.contains("600 s (10 min)"), "{}", f[0].why);
    }

    #[test]
    fn pools_without_health_checks() {
        let zones = [two_providers()];
        let found = run(&pool("policy = \"failover\"\n", UNCHECKED), &zones);
        let f = of(&found, Rule::NoHealthCheck);
        assert_eq!(f.len(), 1, "{found:?}");
        assert!(f[0].what.contains("the pool has no health check"));
        assert!(f[0].why.contains("never fails over"));

        // The pool's check covers members without their own.
        let found = run(
            &pool("policy = \"weighted\"\ncheck = \"web\"\n", UNCHECKED),
            &zones,
        );
        assert!(of(&found, Rule::NoHealthCheck).is_empty(), "{found:?}");

        let partly = "[[pool.member]]\naddress = \"192.0.2.10\"\ncheck = \"web\"\n\
                      [[pool.member]]\naddress = \"192.0.2.11\"\n";
        let found = run(&pool("policy = \"weighted\"\n", partly), &zones);
        let f = of(&found, Rule::NoHealthCheck);
        assert!(
            f[0].what
                .contains("member(s) 192.0.2.11 have no health check"),
            "{}",
            f[0].what
        );
        assert!(f[0].why.contains("keeps its share"));
    }

    #[test]
    fn unsigned_zones_are_found_signed_ones_are_not() {
        let found = run(ZONE_CONFIG, &[two_providers()]);
        assert_eq!(rules(&found), [Rule::DnssecOff]);
        assert!(found[0]
            .fix
            .contains("dns-xdp keys generate --zone example.com."));
        for signed in ["dnssec = true\n", "key_dir = \"keys\"\n"] {
            let found = run(&format!("{ZONE_CONFIG}{signed}"), &[two_providers()]);
            assert!(found.is_empty(), "{signed}: {found:?}");
        }
        let off = run(
            &format!("{ZONE_CONFIG}key_dir = \"keys\"\ndnssec = false\n"),
            &[two_providers()],
        );
        assert_eq!(rules(&off), [Rule::DnssecOff]);
    }

    #[test]
    fn long_ttls_only_during_a_migration() {
        let long = zone(
            "example.com.",
            &zone_text(
                &["ns1", "ns.example.net."],
                "www 86400 IN A 192.0.2.10\nmail 3601 IN A 192.0.2.25\nok 3600 IN A 192.0.2.1\n",
            ),
        );
        let zones = [long];
        let config = pool("policy = \"weighted\"\nttl = 7200\n", CHECKED);
        let found = run(&config, &zones);
        assert!(of(&found, Rule::MigrationTtl).is_empty(), "{found:?}");

        let found = run(&format!("[migration]\nactive = true\n{config}"), &zones);
        let f = of(&found, Rule::MigrationTtl);
        assert_eq!(f.len(), 2, "{found:?}");
        assert_eq!(f[0].subject, "zone example.com.");
        assert!(
            f[0].what.contains(
                "2 RRset(s) have a TTL above 3600 s during the migration: \
                 mail.example.com. A ttl 3601; www.example.com. A ttl 86400"
            ),
            "{}",
            f[0].what
        );
        assert!(f[0].why.contains("up to 1 d"), "{}", f[0].why);
        assert_eq!(f[1].subject, "[[pool]] app.example.com. A");
        assert!(f[1].what.contains("ttl = 7200"));

        let found = run(&format!("[migration]\nactive = false\n{config}"), &zones);
        assert!(of(&found, Rule::MigrationTtl).is_empty());
    }

    #[test]
    fn many_long_rrsets_are_counted_not_listed() {
        let mut extra = String::new();
        for i in 0..12 {
            let _ = writeln!(extra, "h{i:02} 7200 IN A 192.0.2.{i}");
        }
        let zones = [zone(
            "example.com.",
            &zone_text(&["ns1", "ns.example.net."], &extra),
        )];
        let found = run(
            &format!("[migration]\nactive = true\n{ZONE_CONFIG}"),
            &zones,
        );
        let f = of(&found, Rule::MigrationTtl);
        assert!(
            f[0].what.starts_with("12 RRset(s)") && f[0].what.ends_with("; and 4 more"),
            "{}",
            f[0].what
        );
    }

    /// A config file and zone file in a fresh directory.
    struct Files(std::path::PathBuf);

    impl Files {
        fn new(tag: &str, config: &str, zone: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("dns-xdp-lint-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("dns-xdp.toml"), format!("{HEAD}{config}")).unwrap();
            std::fs::write(dir.join("x"), zone).unwrap();
            Self(dir)
        }

        fn config(&self) -> std::path::PathBuf {
            self.0.join("dns-xdp.toml")
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_cname_at_the_apex_is_a_finding_and_other_zone_errors_are_errors() {
        let files = Files::new(
            "apex",
            ZONE_CONFIG,
            &zone_text(&["ns1", "ns.example.net."], "@ IN CNAME lb.example.net.\n"),
        );
        let found = check(&files.config()).unwrap();
        assert_eq!(found[0].rule, Rule::ApexCname, "{found:?}");
        assert!(found[0]
            .what
            .contains("example.com. has a CNAME at its apex"));
        assert!(found[0].fix.contains("[[alias]]\n"), "{}", found[0].fix);

        let files = Files::new(
            "below",
            ZONE_CONFIG,
            &zone_text(&["ns1"], "www IN CNAME a\nwww IN A 192.0.2.1\n"),
        );
        let e = check(&files.config()).unwrap_err().to_string();
        assert!(e.contains("has a CNAME and A data"), "{e}");

        // What the agent checks across config and zones is an error too.
        let files = Files::new(
            "pool",
            &pool("policy = \"failover\"\n", CHECKED),
            &zone_text(&["ns1"], "app IN A 192.0.2.1\n"),
        );
        let e = check(&files.config()).unwrap_err().to_string();
        assert!(e.contains("already has A records"), "{e}");
    }

    #[test]
    fn text_blocks_and_json() {
        let found = run(ZONE_CONFIG, &[two_providers()]);
        let path = Path::new("/etc/dns-xdp/dns-xdp.toml");
        let text = render_text(path, &found);
        assert!(text.starts_with("[dnssec-off] zone example.com.\n  example.com. is served"));
        assert!(text.contains("\n  why: Without signatures"), "{text}");
        assert!(text.contains("\n  fix: Generate keys"), "{text}");
        assert!(text.contains("\n  see: RFC 3833"), "{text}");
        assert!(text.lines().all(|l| l.len() <= WIDTH), "{text}");
        assert!(
            text.ends_with(
                "dns-xdp check: /etc/dns-xdp/dns-xdp.toml: 1 finding(s) (dnssec-off 1)\n"
            ),
            "{text}"
        );
        assert!(render_text(path, &[]).ends_with(": no findings\n"));

        let json: serde_json::Value = serde_json::from_str(&render_json(path, &found)).unwrap();
        assert_eq!(json["findings"][0]["rule"], "dnssec-off");
        assert_eq!(json["findings"][0]["subject"], "zone example.com.");
        assert_eq!(json["config"], "/etc/dns-xdp/dns-xdp.toml");
    }

    #[test]
    fn examples_keep_their_lines() {
        let text = wrap(
            "fix: ",
            "Add this:\n  [[alias]]\n  name = \"a.\"\nThen reload.",
        );
        assert_eq!(
            text,
            "  fix: Add this:\n      [[alias]]\n      name = \"a.\"\n    Then reload.\n"
        );
        assert_eq!(human(3600), "1 h");
        assert_eq!(human(86_400), "1 d");
        assert_eq!(human(90_000), "25 h");
        assert_eq!(human(5400), "90 min");
        assert_eq!(human(301), "301 s");
    }
}
