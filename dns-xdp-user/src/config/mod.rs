//! The agent's TOML configuration.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use hickory_proto::rr::Name;
use serde::Deserialize;

pub mod check;
pub mod continent;
pub mod dnssec;
pub mod duration;
pub mod prefix;
pub mod steering;
pub mod tcp;

use check::{resolve_checks, CheckConfig, CheckSpec};
use steering::{GeoConfig, PoolConfig, RegionConfig, Steering};
use tcp::TcpLimits;

/// The EDNS UDP payload size we advertise by default: the DNS Flag Day 2020 value, which
/// avoids IP fragmentation.
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;

/// Where the metrics endpoint listens by default: localhost only, since the metrics tell which
/// backends are down.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9153";

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
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(rename = "zone", default)]
    pub zones: Vec<ZoneConfig>,
    #[serde(rename = "alias", default)]
    pub aliases: Vec<AliasConfig>,
    /// The Prometheus endpoint; off without a `[metrics]` section.
    pub metrics: Option<MetricsConfig>,
    /// Health checks, by name, for the pools' members.
    #[serde(rename = "check", default)]
    pub checks: Vec<CheckConfig>,
    #[serde(default)]
    pub geo: GeoConfig,
    #[serde(rename = "region", default)]
    pub regions: Vec<RegionConfig>,
    #[serde(rename = "pool", default)]
    pub pools: Vec<PoolConfig>,
    /// Declares a migration under way, for `dns-xdp check`; the agent serves the same either way.
    #[serde(default)]
    pub migration: MigrationConfig,
    /// Defaults for zones with DNSSEC on (see [`crate::config::dnssec`]).
    pub dnssec: Option<dnssec::DnssecConfig>,
}

/// `[migration]`: names are about to move to new addresses or another provider, so
/// `dns-xdp check` flags TTLs that would make the move slow to take effect and to roll back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationConfig {
    #[serde(default)]
    pub active: bool,
}

/// The traffic-steering part of a config, validated: health checks by name, regions and pools.
#[derive(Debug, Clone)]
pub struct TrafficConfig {
    pub checks: HashMap<String, Arc<CheckSpec>>,
    /// With the geo database's path resolved against the config file's directory.
    pub steering: Steering,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `GET /metrics` is served; localhost by default.
    #[serde(default = "default_metrics_listen")]
    pub listen: SocketAddr,
}

fn default_metrics_listen() -> SocketAddr {
    DEFAULT_METRICS_LISTEN
        .parse()
        .expect("a valid socket address")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Interface the XDP program attaches to. Required unless `xdp_mode = "off"`.
    pub interface: Option<String>,
    #[serde(default = "default_xdp_mode")]
    pub xdp_mode: XdpAttachMode,
    /// Addresses the fallback server listens on, UDP and TCP.
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    /// The EDNS UDP payload size we advertise (RFC 6891; 1232 avoids fragmentation).
    #[serde(default = "default_edns_payload")]
    pub edns_payload: u16,
    /// Resolvers asked, in order, for the addresses of ALIAS targets outside our zones.
    #[serde(default)]
    pub upstream: Vec<SocketAddr>,
    /// The fallback's TCP connections: see [`TcpLimits`] for each.
    #[serde(default = "default_tcp_max_connections")]
    pub tcp_max_connections: usize,
    #[serde(default = "default_tcp_max_connections_per_source")]
    pub tcp_max_connections_per_source: usize,
    #[serde(
        default = "default_tcp_idle_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub tcp_idle_timeout: std::time::Duration,
    #[serde(
        default = "default_tcp_idle_timeout_under_pressure",
        deserialize_with = "duration::deserialize"
    )]
    pub tcp_idle_timeout_under_pressure: std::time::Duration,
    #[serde(
        default = "default_tcp_io_timeout",
        deserialize_with = "duration::deserialize"
    )]
    pub tcp_io_timeout: std::time::Duration,
    pub tcp_max_queries_per_connection: Option<u64>,
}

impl ServerConfig {
    pub fn tcp_limits(&self) -> TcpLimits {
        TcpLimits {
            max_connections: self.tcp_max_connections,
            max_connections_per_source: self.tcp_max_connections_per_source,
            idle_timeout: self.tcp_idle_timeout,
            idle_timeout_under_pressure: self.tcp_idle_timeout_under_pressure,
            io_timeout: self.tcp_io_timeout,
            max_queries_per_connection: self.tcp_max_queries_per_connection,
        }
    }
}

fn default_tcp_max_connections() -> usize {
    tcp::DEFAULT_MAX_CONNECTIONS
}

fn default_tcp_max_connections_per_source() -> usize {
    tcp::DEFAULT_MAX_CONNECTIONS_PER_SOURCE
}

fn default_tcp_idle_timeout() -> std::time::Duration {
    tcp::DEFAULT_IDLE_TIMEOUT
}

fn default_tcp_idle_timeout_under_pressure() -> std::time::Duration {
    tcp::DEFAULT_IDLE_TIMEOUT_UNDER_PRESSURE
}

fn default_tcp_io_timeout() -> std::time::Duration {
    tcp::DEFAULT_IO_TIMEOUT
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// The zone's apex, e.g. "example.com." (a trailing dot is optional).
    pub origin: String,
    /// RFC 1035 zone file; relative paths are relative to the config file.
    pub file: PathBuf,
    /// Sign the zone (DNSSEC); on by default when `key_dir` is set (see [`crate::config::dnssec`]).
    pub dnssec: Option<bool>,
    /// The zone's key directory, relative to the config file; default `[dnssec] key_dir`.
    pub key_dir: Option<PathBuf>,
}

/// An ALIAS: `name` answers A and AAAA queries with the addresses of `target` (flattened), so
/// that a zone apex, which cannot own a CNAME, can still follow a name someone else runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasConfig {
    /// The name that answers, inside a configured zone (usually its apex).
    pub name: String,
    /// The name whose addresses it answers with: in our zones, or resolved through
    /// `[server] upstream`.
    pub target: String,
}

fn default_xdp_mode() -> XdpAttachMode {
    XdpAttachMode::Native
}

fn default_listen() -> Vec<SocketAddr> {
    vec![
        SocketAddr::from(([0, 0, 0, 0], 53)),
        SocketAddr::from(([0u16; 8], 53)),
    ]
}

fn default_edns_payload() -> u16 {
    DEFAULT_EDNS_PAYLOAD
}

/// An alias with its names parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasSource {
    /// Lowercase and fully qualified.
    pub name: Name,
    /// Lowercase and fully qualified.
    pub target: Name,
    /// True if the target is inside one of our zones, so it is resolved from them rather
    /// than through `[server] upstream`.
    pub local: bool,
}

/// A zone to load: its origin parsed, its file resolved.
#[derive(Debug, Clone)]
pub struct ZoneSource {
    pub origin: Name,
    pub file: PathBuf,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: Config = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if self.server.xdp_mode != XdpAttachMode::Off && self.server.interface.is_none() {
            return Err(invalid(
                "[server] interface is missing: name the interface to attach XDP to, or set \
                 xdp_mode = \"off\""
                    .into(),
            ));
        }
        if self.server.listen.is_empty() {
            return Err(invalid(
                "[server] listen is empty: give at least one address such as \"0.0.0.0:53\"".into(),
            ));
        }
        if self.server.edns_payload < 512 {
            return Err(invalid(format!(
                "[server] edns_payload = {} is below 512, the minimum DNS over UDP allows",
                self.server.edns_payload
            )));
        }
        self.server.tcp_limits().check().map_err(invalid)?;
        if self.zones.is_empty() {
            return Err(invalid(
                "no [[zone]] configured: add one with origin = \"example.com.\" and file = \"...\""
                    .into(),
            ));
        }
        let mut seen = Vec::new();
        for zone in &self.zones {
            let origin = parse_origin(&zone.origin).map_err(|e| {
                invalid(format!(
                    "[[zone]] origin = {:?} is not a domain name: {e}",
                    zone.origin
                ))
            })?;
            if seen.contains(&origin) {
                return Err(invalid(format!(
                    "[[zone]] origin {origin} is configured twice"
                )));
            }
            seen.push(origin);
        }
        let mut names: Vec<Name> = Vec::new();
        for alias in &self.aliases {
            let name = parse_origin(&alias.name).map_err(|e| {
                invalid(format!(
                    "[[alias]] name = {:?} is not a domain name: {e}",
                    alias.name
                ))
            })?;
            let target = parse_origin(&alias.target).map_err(|e| {
                invalid(format!(
                    "[[alias]] target = {:?} is not a domain name: {e}",
                    alias.target
                ))
            })?;
            if !seen.iter().any(|origin| origin.zone_of(&name)) {
                return Err(invalid(format!(
                    "[[alias]] name = {:?} is outside every configured [[zone]]; an alias \
                     answers for a name in one of our zones, usually its apex",
                    alias.name
                )));
            }
            if names.contains(&name) {
                return Err(invalid(format!(
                    "[[alias]] name = {:?} is configured twice; a name has one alias",
                    alias.name
                )));
            }
            if target == name {
                return Err(invalid(format!(
                    "[[alias]] target = {:?} is the alias's own name",
                    alias.target
                )));
            }
            let local = seen.iter().any(|origin| origin.zone_of(&target));
            if !local && self.server.upstream.is_empty() {
                return Err(invalid(format!(
                    "[[alias]] target = {:?} is outside our zones, so it is resolved through \
                     [server] upstream, which is not set: add upstream = [\"192.0.2.53:53\"] \
                     with the resolvers to ask",
                    alias.target,
                )));
            }
            names.push(name);
        }
        for (alias, name) in self.aliases.iter().zip(&names) {
            let target = parse_origin(&alias.target).expect("parsed above");
            if names.contains(&target) {
                return Err(invalid(format!(
                    "[[alias]] target = {:?} (the target of {name}) is itself an alias; point \
                     it at that alias's target instead",
                    alias.target
                )));
            }
        }
        if let Some(bad) = self.server.upstream.iter().find(|addr| addr.port() == 0) {
            return Err(invalid(format!(
                "[server] upstream {bad} has port 0; DNS resolvers listen on port 53"
            )));
        }
        Ok(())
    }

    /// The health checks, regions and pools, validated against each other and the zones. Reads
    /// the checks' CA files (but not the geo database, which the agent loads). Not part of
    /// [`Config::load`]: every loader calls it once, for the `TrafficConfig` it needs.
    pub fn traffic(&self, path: &Path) -> Result<TrafficConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let checks = resolve_checks(&self.checks, base).map_err(|e| invalid(e.to_string()))?;
        let names: Vec<&str> = checks.keys().map(String::as_str).collect();
        let origins: Vec<Name> = self
            .zones
            .iter()
            .map(|z| parse_origin(&z.origin).expect("validated before"))
            .collect();
        let mut steering =
            steering::validate(&self.geo, &self.regions, &self.pools, &origins, &names)
                .map_err(|e| invalid(e.to_string()))?;
        steering.database = steering.database.map(|db| base.join(db));
        Ok(TrafficConfig { checks, steering })
    }

    /// The aliases with their names parsed, in config order.
    pub fn alias_sources(&self) -> Vec<AliasSource> {
        let origins: Vec<Name> = self
            .zones
            .iter()
            .map(|z| parse_origin(&z.origin).expect("validated on load"))
            .collect();
        self.aliases
            .iter()
            .map(|alias| {
                let target = parse_origin(&alias.target).expect("validated on load");
                AliasSource {
                    name: parse_origin(&alias.name).expect("validated on load"),
                    local: origins.iter().any(|origin| origin.zone_of(&target)),
                    target,
                }
            })
            .collect()
    }

    /// The zones with origins parsed and files resolved against the config file's directory.
    pub fn zone_sources(&self, config_path: &Path) -> Vec<ZoneSource> {
        let base = config_path.parent().unwrap_or(Path::new("."));
        self.zones
            .iter()
            .map(|z| ZoneSource {
                origin: parse_origin(&z.origin).expect("validated on load"),
                file: base.join(&z.file),
            })
            .collect()
    }
}

fn parse_origin(text: &str) -> Result<Name, hickory_proto::ProtoError> {
    let mut name = Name::from_ascii(text)?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("dns-xdp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!(
            "{:x}.toml",
            text.len() * 31 + text.as_bytes()[0] as usize
        ));
        std::fs::write(&path, text).unwrap();
        let result = Config::load(&path);
        std::fs::remove_file(&path).unwrap();
        result
    }

    #[test]
    fn full_config() {
        let c = parse(
            "[server]\ninterface = \"eth0\"\nxdp_mode = \"skb\"\nlisten = [\"192.0.2.1:53\", \"[2001:db8::1]:53\"]\n\
             [[zone]]\norigin = \"Example.COM\"\nfile = \"example.zone\"\n",
        )
        .unwrap();
        assert_eq!(c.server.xdp_mode, XdpAttachMode::Skb);
        assert_eq!(c.server.listen.len(), 2);
        assert_eq!(c.server.edns_payload, 1232);
        let z = c.zone_sources(Path::new("/etc/dns-xdp/dns-xdp.toml"));
        assert_eq!(z[0].origin.to_string(), "example.com.");
        assert_eq!(z[0].file, Path::new("/etc/dns-xdp/example.zone"));
        assert_eq!(c.metrics, None);
    }

    #[test]
    fn tcp_limits_default_unless_set_and_durations_use_the_one_grammar() {
        let base = "[server]\ninterface = \"eth0\"\n";
        let zone = "[[zone]]\norigin = \"a.\"\nfile = \"a\"\n";
        let c = parse(&format!("{base}{zone}")).unwrap();
        assert_eq!(c.server.tcp_limits(), TcpLimits::default());
        let c = parse(&format!(
            "{base}tcp_max_connections = 100\ntcp_max_connections_per_source = 5\n\
             tcp_idle_timeout = \"3s\"\ntcp_idle_timeout_under_pressure = \"100ms\"\n\
             tcp_io_timeout = \"500ms\"\ntcp_max_queries_per_connection = 1000\n{zone}"
        ))
        .unwrap();
        assert_eq!(
            c.server.tcp_limits(),
            TcpLimits {
                max_connections: 100,
                max_connections_per_source: 5,
                idle_timeout: std::time::Duration::from_secs(3),
                idle_timeout_under_pressure: std::time::Duration::from_millis(100),
                io_timeout: std::time::Duration::from_millis(500),
                max_queries_per_connection: Some(1000),
            }
        );
        let e = parse(&format!("{base}tcp_io_timeout = \"1.5s\"\n{zone}")).unwrap_err();
        assert!(e.to_string().contains("whole number and a unit"), "{e}");
        let e = parse(&format!("{base}tcp_idle_timeout = \"100ms\"\n{zone}")).unwrap_err();
        assert!(
            e.to_string().contains("tcp_idle_timeout_under_pressure"),
            "{e}"
        );
    }

    #[test]
    fn metrics_listen_on_localhost_unless_set() {
        let base = "[server]\ninterface = \"eth0\"\n[[zone]]\norigin = \"a.\"\nfile = \"a\"\n";
        let c = parse(&format!("{base}[metrics]\n")).unwrap();
        assert_eq!(c.metrics.unwrap().listen.to_string(), "127.0.0.1:9153");
        let c = parse(&format!("{base}[metrics]\nlisten = \"[::1]:9100\"\n")).unwrap();
        assert_eq!(c.metrics.unwrap().listen.to_string(), "[::1]:9100");
        let e = parse(&format!("{base}[metrics]\nport = 1\n")).unwrap_err();
        assert!(e.to_string().contains("unknown field `port`"), "{e}");
    }

    #[test]
    fn defaults_listen_on_all_addresses() {
        let c = parse("[server]\ninterface = \"eth0\"\n[[zone]]\norigin = \"a.\"\nfile = \"a\"\n")
            .unwrap();
        assert_eq!(c.server.xdp_mode, XdpAttachMode::Native);
        assert_eq!(c.server.listen, default_listen());
    }

    #[test]
    fn errors_name_the_problem() {
        let e = parse("[server]\nxdp_mode = \"native\"\n[[zone]]\norigin = \"a.\"\nfile = \"a\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("interface is missing"), "{e}");
        let e = parse("[server]\ninterface = \"x\"\nxdp_mode = \"fast\"\n").unwrap_err();
        assert!(e.to_string().contains("fast"), "{e}");
        let e = parse("[server]\ninterface = \"x\"\ninterfce = \"y\"\n").unwrap_err();
        assert!(e.to_string().contains("interfce"), "{e}");
        let e = parse("[server]\nxdp_mode = \"off\"\n").unwrap_err();
        assert!(e.to_string().contains("no [[zone]]"), "{e}");
        let e = parse("[server]\nxdp_mode = \"off\"\n[[zone]]\norigin = \"a..b\"\nfile = \"a\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("not a domain name"), "{e}");
    }

    const ZONES: &str = "[[zone]]\norigin = \"example.com.\"\nfile = \"a\"\n\
                         [[zone]]\norigin = \"example.org.\"\nfile = \"b\"\n";

    fn with_aliases(server_extra: &str, aliases: &str) -> Result<Config, ConfigError> {
        parse(&format!(
            "[server]\nxdp_mode = \"off\"\n{server_extra}{ZONES}{aliases}"
        ))
    }

    fn alias(name: &str, target: &str) -> String {
        format!("[[alias]]\nname = \"{name}\"\ntarget = \"{target}\"\n")
    }

    #[test]
    fn aliases_and_upstreams() {
        let c = with_aliases(
            "upstream = [\"192.0.2.53:53\", \"[2001:db8::53]:5353\"]\n",
            &(alias("Example.COM", "lb.example.net.")
                + &alias("www.example.org.", "www.example.com.")),
        )
        .unwrap();
        assert_eq!(c.server.upstream.len(), 2);
        let a = c.alias_sources();
        assert_eq!(a[0].name.to_string(), "example.com.");
        assert!(!a[0].local);
        assert!(a[1].local, "a target in another of our zones is local");

        // Local targets need no upstream.
        let c = with_aliases("", &alias("example.com.", "www.example.org.")).unwrap();
        assert!(c.server.upstream.is_empty());
    }

    #[test]
    fn alias_errors_name_the_key() {
        let e = with_aliases("", &alias("example.com.", "lb.example.net.")).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("[[alias]] target = \"lb.example.net.\"") && e.contains("[server] upstream"),
            "{e}"
        );
        let e = with_aliases("upstream = []\n", &alias("example.com.", "lb.example.net."))
            .unwrap_err()
            .to_string();
        assert!(e.contains("upstream"), "{e}");
        let e = with_aliases("", &alias("example.net.", "example.com."))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[[alias]] name = \"example.net.\"") && e.contains("outside every"),
            "{e}"
        );
        let e = with_aliases(
            "",
            &(alias("a.example.com.", "example.org.") + &alias("A.example.com", "example.org.")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("configured twice"), "{e}");
        let e = with_aliases("", &alias("a.example.com.", "a.example.com"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("own name"), "{e}");
        let e = with_aliases(
            "",
            &(alias("a.example.com.", "b.example.com.") + &alias("b.example.com.", "example.org.")),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("itself an alias"), "{e}");
        let e = with_aliases("", &alias("a..example.com.", "example.org."))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[[alias]] name") && e.contains("not a domain name"),
            "{e}"
        );
        let e = with_aliases(
            "",
            "[[alias]]\nname = \"a.example.com.\"\ntargte = \"x.\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("targte"), "{e}");
        let e = with_aliases(
            "upstream = [\"192.0.2.53\"]\n",
            &alias("example.com.", "lb.example.net."),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("upstream"), "{e}");
        let e = with_aliases(
            "upstream = [\"192.0.2.53:0\"]\n",
            &alias("example.com.", "lb.example.net."),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("port 0"), "{e}");
    }
}
