//! The `[geo]`, `[[region]]` and `[[pool]]` sections as written in the config file, and their
//! validation into the [`Steering`] model the engine and the views work from.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    path::PathBuf,
};

use hickory_proto::rr::{Name, RecordType};
use serde::Deserialize;

use super::{continent::Continent, prefix::Prefix, prefix::PrefixError};

/// View ids are one byte in the fast path; 0 is the default view.
pub const MAX_REGIONS: usize = 255;

/// Largest TTL a record may carry (RFC 2181 §8).
const MAX_TTL: u32 = i32::MAX as u32;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoConfig {
    /// A MaxMind-format database (GeoLite2-Country/City, or the `country_code` schema).
    pub database: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    pub name: String,
    /// Continent codes ("EU") or names ("Europe").
    #[serde(default)]
    pub continents: Vec<String>,
    /// ISO 3166-1 alpha-2 country codes.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Client prefixes; they decide over the database (see `Views`).
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// Regions whose members answer, in order, while every member of this one is down.
    #[serde(default)]
    pub fallback: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PoolType {
    A,
    AAAA,
}

impl PoolType {
    pub fn record_type(self) -> RecordType {
        match self {
            PoolType::A => RecordType::A,
            PoolType::AAAA => RecordType::AAAA,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// The first healthy member, in config order.
    Failover,
    /// Healthy members in proportion to their weights.
    Weighted,
    /// The healthy members of the client's region.
    Geo,
}

impl Policy {
    fn key(self) -> &'static str {
        match self {
            Policy::Failover => "failover",
            Policy::Weighted => "weighted",
            Policy::Geo => "geo",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllDownConfig {
    #[default]
    ServeAll,
    Fallback,
    Nodata,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: PoolType,
    pub policy: Policy,
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    #[serde(default)]
    pub halve_ttl_when_degraded: bool,
    #[serde(default)]
    pub all_down: AllDownConfig,
    #[serde(default)]
    pub all_down_fallback: Vec<IpAddr>,
    /// Weighted pools: addresses per answer (default 1).
    pub answers: Option<u32>,
    /// Default check of the members.
    pub check: Option<String>,
    /// Geo pools: the region that answers clients no region covers.
    pub default_region: Option<String>,
    #[serde(rename = "member", default)]
    pub members: Vec<MemberConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    pub address: IpAddr,
    /// Weighted pools; default 1.
    pub weight: Option<u32>,
    /// Geo pools; required there.
    pub region: Option<String>,
    /// Overrides the pool's check.
    pub check: Option<String>,
}

fn default_ttl() -> u32 {
    60
}

/// The validated steering configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steering {
    pub database: Option<PathBuf>,
    /// In config order; `regions[i].view == i + 1`.
    pub regions: Vec<Region>,
    pub pools: Vec<Pool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    /// The region's view id: 1 + its index in config order.
    pub view: u8,
    pub continents: Vec<Continent>,
    /// Upper case ISO codes.
    pub countries: Vec<String>,
    pub cidrs: Vec<Prefix>,
    /// Views of the fallback regions, in order.
    pub fallback: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Lowercase, fully qualified.
    pub name: Name,
    /// A or AAAA.
    pub rtype: RecordType,
    pub policy: Policy,
    pub ttl: u32,
    pub halve_ttl_when_degraded: bool,
    pub all_down: AllDown,
    /// Addresses per answer: the pool's `answers` for weighted pools, 1 otherwise.
    pub answers: usize,
    /// Geo pools: the view of `default_region`.
    pub default_region: Option<u8>,
    pub members: Vec<Member>,
}

/// What a pool answers when no member it may use is healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllDown {
    /// Every member it may use, regardless of health, in one answer.
    ServeAll,
    /// These fixed addresses.
    Fallback(Vec<IpAddr>),
    /// No addresses (NODATA).
    NoData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub address: IpAddr,
    /// Weighted pools: at least 1. Others: 1.
    pub weight: u32,
    /// Geo pools: the view of the member's region.
    pub region: Option<u8>,
    /// The member's check, else the pool's; `None`: always healthy.
    pub check: Option<String>,
}

impl Steering {
    /// Every (address, check) pair whose health the pools depend on, each once, sorted.
    pub fn health_targets(&self) -> Vec<(IpAddr, String)> {
        let mut targets: Vec<(IpAddr, String)> = self
            .pools
            .iter()
            .flat_map(|pool| &pool.members)
            .filter_map(|m| Some((m.address, m.check.clone()?)))
            .collect();
        targets.sort();
        targets.dedup();
        targets
    }
}

/// A steering section that does not make sense, naming the section, the pool or region and the
/// key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SteeringConfigError {
    #[error(
        "{count} [[region]] sections configured; at most {MAX_REGIONS} fit (a view id is one \
         byte and 0 is the default view)"
    )]
    TooManyRegions { count: usize },
    #[error("[[region]] name = {name:?} is configured twice; region names must be unique")]
    DuplicateRegion { name: String },
    #[error("[[region]] name is empty; give the region a name pools can refer to")]
    EmptyRegionName,
    #[error(
        "{owner}: {key} = {value:?} names no [[region]]; define a [[region]] with that name or \
         fix the spelling"
    )]
    UnknownRegion {
        owner: String,
        key: String,
        value: String,
    },
    #[error("[[region]] {region:?}: fallback lists the region itself")]
    SelfFallback { region: String },
    #[error(
        "[[region]] {region:?}: continents has {value:?}, which is not a continent; use a code \
         (AF, AN, AS, EU, NA, OC, SA) or a name such as \"Europe\" or \"North America\""
    )]
    UnknownContinent { region: String, value: String },
    #[error(
        "[[region]] {region:?}: countries has {value:?}, which is not a two-letter ISO 3166 \
         country code such as \"DE\""
    )]
    BadCountry { region: String, value: String },
    #[error(
        "{key} {value:?} is in [[region]] {first:?} and in {second:?}; each belongs to one region"
    )]
    Overlap {
        key: &'static str,
        value: String,
        first: String,
        second: String,
    },
    #[error("[[region]] {region:?}: cidrs has {source}")]
    BadCidr {
        region: String,
        #[source]
        source: PrefixError,
    },
    #[error(
        "[[region]] {region:?}: {key} needs a geo database; set [geo] database = \"/path/to/\
         GeoLite2-Country.mmdb\", or use cidrs"
    )]
    GeoWithoutDatabase { region: String, key: &'static str },
    #[error("[[pool]] name = {name:?} is not a domain name: {message}")]
    BadPoolName { name: String, message: String },
    #[error(
        "{pool}: the name is outside every configured [[zone]]; a pool answers for a name in one \
         of our zones"
    )]
    PoolOutsideZones { pool: String },
    #[error("{pool} is configured twice; merge the two pools")]
    DuplicatePool { pool: String },
    #[error("{pool} has no [[pool.member]]; add at least one")]
    NoMembers { pool: String },
    #[error("{pool}: member {address} is listed twice")]
    DuplicateMember { pool: String, address: IpAddr },
    #[error(
        "{pool}: {key} = {address} is not an {family} address, but the pool's type is {rtype}"
    )]
    AddressFamily {
        pool: String,
        key: &'static str,
        address: IpAddr,
        family: &'static str,
        rtype: RecordType,
    },
    #[error("{pool}: member {address} has no region; every member of a geo pool needs one")]
    MemberWithoutRegion { pool: String, address: IpAddr },
    #[error(
        "{pool}: member {address} has weight = 0; give it a positive weight or remove the member"
    )]
    ZeroWeight { pool: String, address: IpAddr },
    #[error(
        "{pool}: all_down = \"fallback\" needs all_down_fallback = [\"...\"] with the addresses to \
         serve"
    )]
    FallbackWithoutAddresses { pool: String },
    #[error(
        "{pool}: all_down_fallback is set but all_down is not \"fallback\"; set all_down = \
         \"fallback\" or remove the addresses"
    )]
    FallbackAddressesUnused { pool: String },
    #[error("{pool}: {key} = {check:?} names no [[check]]; define it or fix the spelling")]
    UnknownCheck {
        pool: String,
        key: String,
        check: String,
    },
    #[error(
        "{pool}: {key} only applies to policy = {applies_to:?}, and this pool's is {policy:?}"
    )]
    KeyNotForPolicy {
        pool: String,
        key: String,
        applies_to: &'static str,
        policy: &'static str,
    },
    #[error("{pool}: answers = 0; a weighted pool answers with at least one address")]
    ZeroAnswers { pool: String },
    #[error("{pool}: ttl = {ttl} is above the largest TTL, {MAX_TTL} (RFC 2181)")]
    TtlTooLarge { pool: String, ttl: u32 },
}

type Error = SteeringConfigError;

/// Checks the steering sections against each other, the served zones and the configured checks'
/// names, and resolves names into the model the engine uses.
pub fn validate(
    geo: &GeoConfig,
    regions: &[RegionConfig],
    pools: &[PoolConfig],
    zones: &[Name],
    checks: &[&str],
) -> Result<Steering, SteeringConfigError> {
    let regions = validate_regions(geo, regions)?;
    let views: HashMap<&str, u8> = regions.iter().map(|r| (r.name.as_str(), r.view)).collect();
    let mut seen: HashSet<(Name, RecordType)> = HashSet::with_capacity(pools.len());
    let pools = pools
        .iter()
        .map(|pool| {
            let pool = validate_pool(pool, &views, zones, checks)?;
            if !seen.insert((pool.name.clone(), pool.rtype)) {
                return Err(Error::DuplicatePool {
                    pool: pool_label(&pool.name.to_string(), pool.rtype),
                });
            }
            Ok(pool)
        })
        .collect::<Result<_, _>>()?;
    Ok(Steering {
        database: geo.database.clone(),
        regions,
        pools,
    })
}

fn validate_regions(geo: &GeoConfig, regions: &[RegionConfig]) -> Result<Vec<Region>, Error> {
    if regions.len() > MAX_REGIONS {
        return Err(Error::TooManyRegions {
            count: regions.len(),
        });
    }
    let mut views: HashMap<&str, u8> = HashMap::new();
    for (i, region) in regions.iter().enumerate() {
        if region.name.is_empty() {
            return Err(Error::EmptyRegionName);
        }
        let view = u8::try_from(i + 1).expect("at most 255 regions");
        if views.insert(&region.name, view).is_some() {
            return Err(Error::DuplicateRegion {
                name: region.name.clone(),
            });
        }
    }
    // Who claimed each country, continent and prefix first, to name both claimants.
    let mut countries: HashMap<String, &str> = HashMap::new();
    let mut continents: HashMap<Continent, &str> = HashMap::new();
    let mut cidrs: HashMap<Prefix, &str> = HashMap::new();
    let mut out = Vec::with_capacity(regions.len());
    for region in regions {
        let name = region.name.as_str();
        for (key, given) in [
            ("continents", !region.continents.is_empty()),
            ("countries", !region.countries.is_empty()),
        ] {
            if given && geo.database.is_none() {
                return Err(Error::GeoWithoutDatabase {
                    region: name.into(),
                    key,
                });
            }
        }
        let mut parsed_continents = Vec::new();
        for value in &region.continents {
            let continent = Continent::parse(value).ok_or_else(|| Error::UnknownContinent {
                region: name.into(),
                value: value.clone(),
            })?;
            claim(
                &mut continents,
                continent,
                name,
                "continent",
                continent.name(),
            )?;
            parsed_continents.push(continent);
        }
        let mut parsed_countries = Vec::new();
        for value in &region.countries {
            if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(Error::BadCountry {
                    region: name.into(),
                    value: value.clone(),
                });
            }
            let code = value.to_ascii_uppercase();
            claim(&mut countries, code.clone(), name, "country", &code)?;
            parsed_countries.push(code);
        }
        let mut parsed_cidrs = Vec::new();
        for value in &region.cidrs {
            let prefix: Prefix = value.parse().map_err(|source| Error::BadCidr {
                region: name.into(),
                source,
            })?;
            claim(&mut cidrs, prefix, name, "cidr", &prefix.to_string())?;
            parsed_cidrs.push(prefix);
        }
        let mut fallback = Vec::new();
        for value in &region.fallback {
            if value == name {
                return Err(Error::SelfFallback {
                    region: name.into(),
                });
            }
            let view = *views
                .get(value.as_str())
                .ok_or_else(|| Error::UnknownRegion {
                    owner: format!("[[region]] {name:?}"),
                    key: "fallback".into(),
                    value: value.clone(),
                })?;
            if !fallback.contains(&view) {
                fallback.push(view);
            }
        }
        out.push(Region {
            name: name.into(),
            view: views[name],
            continents: parsed_continents,
            countries: parsed_countries,
            cidrs: parsed_cidrs,
            fallback,
        });
    }
    Ok(out)
}

/// Records that `region` claims `value`; an error if another region did first.
fn claim<'a, K: std::hash::Hash + Eq>(
    claims: &mut HashMap<K, &'a str>,
    value: K,
    region: &'a str,
    key: &'static str,
    shown: &str,
) -> Result<(), Error> {
    match claims.get(&value) {
        Some(first) if *first != region => Err(Error::Overlap {
            key,
            value: shown.into(),
            first: (*first).into(),
            second: region.into(),
        }),
        _ => {
            claims.insert(value, region);
            Ok(())
        }
    }
}

fn pool_label(name: &str, rtype: RecordType) -> String {
    format!("[[pool]] {name:?} {rtype}")
}

fn validate_pool(
    config: &PoolConfig,
    views: &HashMap<&str, u8>,
    zones: &[Name],
    checks: &[&str],
) -> Result<Pool, Error> {
    let rtype = config.rtype.record_type();
    let name = parse_name(&config.name).map_err(|message| Error::BadPoolName {
        name: config.name.clone(),
        message,
    })?;
    let pool = pool_label(&name.to_string(), rtype);
    if !zones.iter().any(|zone| zone.zone_of(&name)) {
        return Err(Error::PoolOutsideZones { pool });
    }
    if config.ttl > MAX_TTL {
        return Err(Error::TtlTooLarge {
            pool,
            ttl: config.ttl,
        });
    }
    if config.members.is_empty() {
        return Err(Error::NoMembers { pool });
    }
    let policy = config.policy;
    let not_for = |key: String, applies_to: &'static str| Error::KeyNotForPolicy {
        pool: pool.clone(),
        key,
        applies_to,
        policy: policy.key(),
    };
    let (family, fits): (&'static str, fn(&IpAddr) -> bool) = match config.rtype {
        PoolType::A => ("IPv4", IpAddr::is_ipv4),
        PoolType::AAAA => ("IPv6", IpAddr::is_ipv6),
    };
    let check_family = |key: &'static str, address: IpAddr| {
        if fits(&address) {
            Ok(())
        } else {
            Err(Error::AddressFamily {
                pool: pool.clone(),
                key,
                address,
                family,
                rtype,
            })
        }
    };
    let known_check = |key: String, check: &Option<String>| match check {
        Some(check) if !checks.contains(&check.as_str()) => Err(Error::UnknownCheck {
            pool: pool.clone(),
            key,
            check: check.clone(),
        }),
        _ => Ok(()),
    };
    known_check("check".into(), &config.check)?;

    let answers = match (policy, config.answers) {
        (_, None) => 1,
        (Policy::Weighted, Some(0)) => return Err(Error::ZeroAnswers { pool }),
        (Policy::Weighted, Some(n)) => n as usize,
        (_, Some(_)) => return Err(not_for("answers".into(), "weighted")),
    };
    let default_region = match (&config.default_region, policy) {
        (None, _) => None,
        (Some(region), Policy::Geo) => {
            Some(
                *views
                    .get(region.as_str())
                    .ok_or_else(|| Error::UnknownRegion {
                        owner: pool.clone(),
                        key: "default_region".into(),
                        value: region.clone(),
                    })?,
            )
        }
        (Some(_), _) => return Err(not_for("default_region".into(), "geo")),
    };
    let all_down = match config.all_down {
        AllDownConfig::Fallback if config.all_down_fallback.is_empty() => {
            return Err(Error::FallbackWithoutAddresses { pool })
        }
        AllDownConfig::Fallback => {
            for &address in &config.all_down_fallback {
                check_family("all_down_fallback", address)?;
            }
            AllDown::Fallback(config.all_down_fallback.clone())
        }
        _ if !config.all_down_fallback.is_empty() => {
            return Err(Error::FallbackAddressesUnused { pool })
        }
        AllDownConfig::ServeAll => AllDown::ServeAll,
        AllDownConfig::Nodata => AllDown::NoData,
    };

    let mut members: Vec<Member> = Vec::with_capacity(config.members.len());
    for member in &config.members {
        let address = member.address;
        check_family("[[pool.member]] address", address)?;
        if members.iter().any(|m| m.address == address) {
            return Err(Error::DuplicateMember { pool, address });
        }
        let key = |key: &str| format!("[[pool.member]] {address} {key}");
        known_check(key("check"), &member.check)?;
        let weight = match (member.weight, policy) {
            (None, _) => 1,
            (Some(0), Policy::Weighted) => return Err(Error::ZeroWeight { pool, address }),
            (Some(weight), Policy::Weighted) => weight,
            (Some(_), _) => return Err(not_for(key("weight"), "weighted")),
        };
        let region =
            match (&member.region, policy) {
                (None, Policy::Geo) => return Err(Error::MemberWithoutRegion { pool, address }),
                (None, _) => None,
                (Some(region), Policy::Geo) => Some(*views.get(region.as_str()).ok_or_else(
                    || Error::UnknownRegion {
                        owner: pool.clone(),
                        key: key("region"),
                        value: region.clone(),
                    },
                )?),
                (Some(_), _) => return Err(not_for(key("region"), "geo")),
            };
        members.push(Member {
            address,
            weight,
            region,
            check: member.check.clone().or_else(|| config.check.clone()),
        });
    }
    Ok(Pool {
        name,
        rtype,
        policy,
        ttl: config.ttl,
        halve_ttl_when_degraded: config.halve_ttl_when_degraded,
        all_down,
        answers,
        default_region,
        members,
    })
}

fn parse_name(text: &str) -> Result<Name, String> {
    let mut name = Name::from_ascii(text).map_err(|e| e.to_string())?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sections {
        #[serde(default)]
        geo: GeoConfig,
        #[serde(rename = "region", default)]
        regions: Vec<RegionConfig>,
        #[serde(rename = "pool", default)]
        pools: Vec<PoolConfig>,
    }

    const CHECKS: &[&str] = &["web", "tcp"];

    pub(crate) fn steering(text: &str) -> Result<Steering, SteeringConfigError> {
        let sections: Sections = toml::from_str(text).expect("TOML of the test parses");
        let zones = [Name::from_ascii("example.com.").unwrap()];
        validate(
            &sections.geo,
            &sections.regions,
            &sections.pools,
            &zones,
            CHECKS,
        )
    }

    fn error(text: &str) -> String {
        steering(text).unwrap_err().to_string()
    }

    const REGIONS: &str = r#"
        [geo]
        database = "/var/lib/GeoIP/GeoLite2-Country.mmdb"
        [[region]]
        name = "eu"
        continents = ["Europe"]
        countries = ["gb"]
        cidrs = ["198.51.100.0/24", "2001:db8:100::/48"]
        fallback = ["na"]
        [[region]]
        name = "na"
        continents = ["NA"]
    "#;

    #[test]
    fn full_example() {
        let s = steering(&format!(
            r#"{REGIONS}
            [[pool]]
            name = "App.Example.com"
            type = "A"
            policy = "geo"
            check = "web"
            default_region = "na"
            halve_ttl_when_degraded = true
            all_down = "fallback"
            all_down_fallback = ["192.0.2.99"]
              [[pool.member]]
              address = "192.0.2.10"
              region = "eu"
              [[pool.member]]
              address = "192.0.2.20"
              region = "na"
              check = "tcp"
            [[pool]]
            name = "www.example.com."
            type = "AAAA"
            policy = "weighted"
            answers = 2
              [[pool.member]]
              address = "2001:db8::1"
              weight = 3
              [[pool.member]]
              address = "2001:db8::2"
            "#
        ))
        .unwrap();
        assert_eq!(s.regions.len(), 2);
        let eu = &s.regions[0];
        assert_eq!((eu.view, eu.fallback.as_slice()), (1, &[2u8][..]));
        assert_eq!(eu.continents, [Continent::Europe]);
        assert_eq!(eu.countries, ["GB"]);
        assert_eq!(eu.cidrs[1].to_string(), "2001:db8:100::/48");
        assert_eq!(s.regions[1].continents, [Continent::NorthAmerica]);

        let geo = &s.pools[0];
        assert_eq!(geo.name.to_string(), "app.example.com.");
        assert_eq!(geo.rtype, RecordType::A);
        assert_eq!((geo.ttl, geo.answers), (60, 1));
        assert_eq!(geo.default_region, Some(2));
        assert_eq!(
            geo.all_down,
            AllDown::Fallback(vec!["192.0.2.99".parse().unwrap()])
        );
        assert_eq!(geo.members[0].region, Some(1));
        assert_eq!(geo.members[0].check.as_deref(), Some("web"));
        assert_eq!(geo.members[1].check.as_deref(), Some("tcp"));

        let weighted = &s.pools[1];
        assert_eq!(weighted.answers, 2);
        assert_eq!(weighted.all_down, AllDown::ServeAll);
        assert_eq!(
            weighted
                .members
                .iter()
                .map(|m| m.weight)
                .collect::<Vec<_>>(),
            [3, 1]
        );
        assert_eq!(weighted.members[0].check, None);

        assert_eq!(
            s.health_targets(),
            [
                ("192.0.2.10".parse().unwrap(), "web".to_string()),
                ("192.0.2.20".parse().unwrap(), "tcp".to_string()),
            ]
        );
    }

    fn pool(policy: &str, extra: &str, members: &[&str]) -> String {
        let mut text = format!(
            "{REGIONS}\n[[pool]]\nname = \"app.example.com.\"\ntype = \"A\"\npolicy = \
             \"{policy}\"\n{extra}\n"
        );
        for member in members {
            text += &format!("[[pool.member]]\n{member}\n");
        }
        text
    }

    #[test]
    fn region_errors() {
        let e = error(&pool(
            "geo",
            "",
            &["address = \"192.0.2.1\"\nregion = \"asia\""],
        ));
        assert!(
            e.contains("[[pool]] \"app.example.com.\" A")
                && e.contains("[[pool.member]] 192.0.2.1 region = \"asia\" names no [[region]]"),
            "{e}"
        );
        let e = error(&pool(
            "geo",
            "default_region = \"asia\"",
            &["address = \"192.0.2.1\"\nregion = \"eu\""],
        ));
        assert!(
            e.contains("default_region = \"asia\" names no [[region]]"),
            "{e}"
        );
        let e = error("[[region]]\nname = \"eu\"\nfallback = [\"na\"]\n");
        assert!(
            e.contains("[[region]] \"eu\": fallback = \"na\" names no [[region]]"),
            "{e}"
        );
        let e = error("[[region]]\nname = \"eu\"\nfallback = [\"eu\"]\n");
        assert!(e.contains("fallback lists the region itself"), "{e}");
        let e = error(&pool("geo", "", &["address = \"192.0.2.1\""]));
        assert!(
            e.contains("member 192.0.2.1 has no region; every member of a geo pool needs one"),
            "{e}"
        );
        let e = error("[[region]]\nname = \"eu\"\ncontinents = [\"EU\"]\n");
        assert!(
            e.contains("[[region]] \"eu\": continents needs a geo database")
                && e.contains("[geo] database"),
            "{e}"
        );
        let e = error("[[region]]\nname = \"eu\"\ncountries = [\"DE\"]\n");
        assert!(
            e.contains("[[region]] \"eu\": countries needs a geo database"),
            "{e}"
        );
        let many: String = (0..256)
            .map(|i| format!("[[region]]\nname = \"r{i}\"\n"))
            .collect();
        assert!(error(&many).contains("256 [[region]] sections configured; at most 255"));
        let e = error("[[region]]\nname = \"a\"\n[[region]]\nname = \"a\"\n");
        assert!(e.contains("configured twice"), "{e}");
        let e = error(
            "[geo]\ndatabase = \"x\"\n[[region]]\nname = \"a\"\ncontinents = [\"Atlantis\"]\n",
        );
        assert!(e.contains("\"Atlantis\", which is not a continent"), "{e}");
        let e = error("[geo]\ndatabase = \"x\"\n[[region]]\nname = \"a\"\ncountries = [\"DEU\"]\n");
        assert!(e.contains("\"DEU\", which is not a two-letter"), "{e}");
        let e = error(
            "[geo]\ndatabase = \"x\"\n[[region]]\nname = \"a\"\ncountries = [\"DE\"]\n\
             [[region]]\nname = \"b\"\ncountries = [\"de\"]\n",
        );
        assert!(
            e.contains("country \"DE\" is in [[region]] \"a\" and in \"b\""),
            "{e}"
        );
        let e = error(
            "[[region]]\nname = \"a\"\ncidrs = [\"198.51.100.0/24\"]\n\
             [[region]]\nname = \"b\"\ncidrs = [\"::ffff:198.51.100.0/120\"]\n",
        );
        assert!(
            e.contains("cidr \"198.51.100.0/24\" is in [[region]] \"a\""),
            "{e}"
        );
        let e = error("[[region]]\nname = \"a\"\ncidrs = [\"198.51.100.1/24\"]\n");
        assert!(
            e.contains("[[region]] \"a\": cidrs has \"198.51.100.1/24\"")
                && e.contains("198.51.100.0/24"),
            "{e}"
        );
    }

    #[test]
    fn pool_errors() {
        let m1 = "address = \"192.0.2.1\"";
        let e = error(&pool(
            "weighted",
            "",
            &["address = \"192.0.2.1\"\nweight = 0"],
        ));
        assert!(
            e.contains("[[pool]] \"app.example.com.\" A: member 192.0.2.1 has weight = 0"),
            "{e}"
        );
        let e = error(&pool("failover", "all_down = \"fallback\"", &[m1]));
        assert!(
            e.contains("all_down = \"fallback\" needs all_down_fallback"),
            "{e}"
        );
        let e = error(&pool(
            "failover",
            "all_down_fallback = [\"192.0.2.9\"]",
            &[m1],
        ));
        assert!(e.contains("all_down is not \"fallback\""), "{e}");
        let e = error(&pool("failover", "", &["address = \"2001:db8::1\""]));
        assert!(
            e.contains("[[pool.member]] address = 2001:db8::1 is not an IPv4 address")
                && e.contains("type is A"),
            "{e}"
        );
        let e = error(&pool(
            "failover",
            "all_down = \"fallback\"\nall_down_fallback = [\"2001:db8::9\"]",
            &[m1],
        ));
        assert!(
            e.contains("all_down_fallback = 2001:db8::9 is not an IPv4"),
            "{e}"
        );
        let twice = pool("failover", "", &[m1]) + &pool("weighted", "", &[m1])[REGIONS.len()..];
        let e = error(&twice);
        assert!(
            e.contains("[[pool]] \"app.example.com.\" A is configured twice"),
            "{e}"
        );
        let e = error(&pool("failover", "check = \"http\"", &[m1]));
        assert!(e.contains("check = \"http\" names no [[check]]"), "{e}");
        let e = error(&pool(
            "failover",
            "",
            &["address = \"192.0.2.1\"\ncheck = \"web2\""],
        ));
        assert!(
            e.contains("[[pool.member]] 192.0.2.1 check = \"web2\" names no [[check]]"),
            "{e}"
        );
        let e = error(&pool("failover", "answers = 2", &[m1]));
        assert!(
            e.contains("answers only applies to policy = \"weighted\"")
                && e.contains("\"failover\""),
            "{e}"
        );
        let e = error(&pool("weighted", "answers = 0", &[m1]));
        assert!(e.contains("answers = 0"), "{e}");
        let e = error(&pool(
            "failover",
            "",
            &["address = \"192.0.2.1\"\nweight = 2"],
        ));
        assert!(e.contains("192.0.2.1 weight only applies"), "{e}");
        let e = error(&pool(
            "failover",
            "",
            &["address = \"192.0.2.1\"\nregion = \"eu\""],
        ));
        assert!(
            e.contains("192.0.2.1 region only applies to policy = \"geo\""),
            "{e}"
        );
        let e = error(&pool("failover", "default_region = \"eu\"", &[m1]));
        assert!(e.contains("default_region only applies"), "{e}");
        let e = error(&pool("failover", "", &[m1, m1]));
        assert!(e.contains("member 192.0.2.1 is listed twice"), "{e}");
        let e = error(&pool("failover", "", &[]));
        assert!(e.contains("has no [[pool.member]]"), "{e}");
        let e = error(&pool("failover", "ttl = 4294967295", &[m1]));
        assert!(e.contains("ttl = 4294967295 is above"), "{e}");
        let e = error(&pool("failover", "", &[m1]).replace("app.example.com.", "app.example.net."));
        assert!(e.contains("outside every configured [[zone]]"), "{e}");
        let e = error(&pool("failover", "", &[m1]).replace("app.example.com.", "a..example.com."));
        assert!(e.contains("is not a domain name"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = pool("failover", "", &["address = \"192.0.2.1\"\nwieght = 2"]);
        let e = toml::from_str::<Sections>(&text).err().unwrap().to_string();
        assert!(e.contains("wieght"), "{e}");
        let e = toml::from_str::<Sections>("[geo]\ndatabse = \"x\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("databse"), "{e}");
        let e = toml::from_str::<Sections>(&pool("roundrobin", "", &[]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("roundrobin"), "{e}");
    }
}
