//! The agent's TOML configuration.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use hickory_proto::rr::Name;
use serde::Deserialize;

use crate::{dataplane::XdpAttachMode, response::DEFAULT_EDNS_PAYLOAD};

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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// The zone's apex, e.g. "example.com." (a trailing dot is optional).
    pub origin: String,
    /// RFC 1035 zone file; relative paths are relative to the config file.
    pub file: PathBuf,
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
        Ok(())
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
}
