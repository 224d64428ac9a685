//! DNSSEC settings in the agent's config: the `[dnssec]` section and a zone's `dnssec` and
//! `key_dir`.
//!
//! ```toml
//! [dnssec]
//! key_dir = "keys"        # relative to the config file; for zones without their own
//! validity = "7d"         # how long a signature is valid (ms, s, m, h or d); default 7d
//! dnskey_ttl = 3600       # TTL of DNSKEY, CDS and CDNSKEY; default 3600
//!
//! [[zone]]
//! origin = "example.com."
//! file = "example.com.zone"
//! dnssec = true           # or: key_dir = "example-keys", which turns it on too
//! ```
//!
//! The keys say which algorithm the zone is signed with (`dns-xdp keys generate --algorithm`
//! chose it), so the config has no algorithm setting.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{duration, ZoneConfig};

/// How a zone's signatures are made and kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningConfig {
    /// How long a signature stays valid after it is made. Default 7 days.
    pub validity: Duration,
    /// How far in the past a signature's inception lies, so that validators whose clocks are
    /// behind ours accept it. Default 1 hour.
    pub inception_offset: Duration,
    /// A cached signature is replaced once less than this is left of its validity. Default
    /// a quarter of the validity (42 hours of 7 days). Keep it above the largest TTL served:
    /// then a signature handed out just before its renewal still outlives every cache holding
    /// it.
    pub refresh: Duration,
    /// TTL of the DNSKEY, CDS and CDNSKEY RRsets. Default 3600.
    pub dnskey_ttl: u32,
    /// Signed RRsets kept. When full, expiring entries are dropped, then everything.
    pub cache_capacity: usize,
}

impl Default for SigningConfig {
    fn default() -> Self {
        let validity = Duration::from_secs(7 * 24 * 3600);
        SigningConfig {
            validity,
            inception_offset: Duration::from_secs(3600),
            refresh: validity / 4,
            dnskey_ttl: 3600,
            cache_capacity: 100_000,
        }
    }
}

/// `[dnssec]`: defaults for every zone with DNSSEC on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnssecConfig {
    /// The key directory of zones that name none of their own; relative to the config file.
    pub key_dir: Option<PathBuf>,
    /// How long a signature stays valid, e.g. "7d" (the default), "36h".
    pub validity: Option<String>,
    /// TTL of the DNSKEY, CDS and CDNSKEY RRsets; 3600 by default.
    pub dnskey_ttl: Option<u32>,
}

/// Whether a zone is signed, and with the keys in which directory (resolved against the
/// config file's directory). None: the zone is not signed. `Err` says what is missing.
pub fn zone_key_dir(
    zone: &ZoneConfig,
    dnssec: Option<&DnssecConfig>,
    config_path: &Path,
) -> Result<Option<PathBuf>, String> {
    // A zone's own key directory turns signing on unless `dnssec = false` says otherwise.
    if !zone.dnssec.unwrap_or(zone.key_dir.is_some()) {
        return Ok(None);
    }
    let dir = zone
        .key_dir
        .as_ref()
        .or(dnssec.and_then(|d| d.key_dir.as_ref()))
        .ok_or_else(|| {
            format!(
                "[[zone]] {} has dnssec = true but no key directory: set key_dir on the zone or \
                 in [dnssec], and create the keys with `dns-xdp keys generate --zone {} --dir \
                 <key directory>`",
                zone.origin, zone.origin
            )
        })?;
    let base = config_path.parent().unwrap_or(Path::new("."));
    Ok(Some(base.join(dir)))
}

/// The signing settings `[dnssec]` asks for.
pub fn signing_config(dnssec: Option<&DnssecConfig>) -> Result<SigningConfig, String> {
    let mut config = SigningConfig::default();
    let Some(dnssec) = dnssec else {
        return Ok(config);
    };
    if let Some(text) = &dnssec.validity {
        let validity = duration::parse(text)
            .map_err(|problem| format!("[dnssec] validity = {text:?}: {problem}"))?;
        // One hour or more: a signature is renewed once a quarter of its validity is left, and
        // that quarter must outlast the TTLs of what it signs.
        if validity < Duration::from_secs(3600) {
            return Err(format!(
                "[dnssec] validity = {text:?} is below 1h; signatures are renewed when a quarter \
                 of it is left, which must outlast the TTLs of the records they sign"
            ));
        }
        if validity > Duration::from_secs(366 * 86400) {
            return Err(format!(
                "[dnssec] validity = {text:?} is over a year; a stolen signature would stay \
                 valid that long"
            ));
        }
        config.validity = validity;
        config.refresh = validity / 4;
    }
    if let Some(ttl) = dnssec.dnskey_ttl {
        config.dnskey_ttl = ttl;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config(extra: &str, zone: &str) -> Config {
        toml::from_str(&format!(
            "[server]\nxdp_mode = \"off\"\n{extra}\n[[zone]]\norigin = \"example.com.\"\n\
             file = \"z\"\n{zone}"
        ))
        .unwrap()
    }

    fn key_dir(extra: &str, zone: &str) -> Result<Option<PathBuf>, String> {
        let c = config(extra, zone);
        zone_key_dir(
            &c.zones[0],
            c.dnssec.as_ref(),
            Path::new("/etc/dns-xdp/dns-xdp.toml"),
        )
    }

    #[test]
    fn which_zones_are_signed_and_where_their_keys_are() {
        assert_eq!(key_dir("", ""), Ok(None));
        assert_eq!(key_dir("[dnssec]\nkey_dir = \"keys\"\n", ""), Ok(None));
        assert_eq!(
            key_dir("[dnssec]\nkey_dir = \"keys\"\n", "dnssec = true\n"),
            Ok(Some(PathBuf::from("/etc/dns-xdp/keys")))
        );
        assert_eq!(
            key_dir(
                "[dnssec]\nkey_dir = \"keys\"\n",
                "dnssec = true\nkey_dir = \"/var/lib/k\"\n"
            ),
            Ok(Some(PathBuf::from("/var/lib/k")))
        );
        // A zone's own key directory is enough, unless signing is turned off explicitly.
        assert_eq!(
            key_dir("", "key_dir = \"k\"\n"),
            Ok(Some(PathBuf::from("/etc/dns-xdp/k")))
        );
        assert_eq!(key_dir("", "key_dir = \"k\"\ndnssec = false\n"), Ok(None));
        let e = key_dir("", "dnssec = true\n").unwrap_err();
        assert!(
            e.contains("example.com.") && e.contains("key_dir") && e.contains("keys generate"),
            "{e}"
        );
    }

    #[test]
    fn signing_settings() {
        let c = |extra: &str| signing_config(config(extra, "").dnssec.as_ref());
        assert_eq!(c(""), Ok(SigningConfig::default()));
        let s = c("[dnssec]\nvalidity = \"14d\"\ndnskey_ttl = 300\n").unwrap();
        assert_eq!(s.validity, Duration::from_secs(14 * 86400));
        assert_eq!(s.refresh, Duration::from_secs(14 * 86400 / 4));
        assert_eq!(s.dnskey_ttl, 300);
        assert_eq!(
            c("[dnssec]\nvalidity = \"36h\"\n").unwrap().validity,
            Duration::from_secs(36 * 3600)
        );
        for (bad, needle) in [
            ("7w", "unit"),
            ("0d", "longer than zero"),
            ("d", "whole number and a unit"),
            ("30m", "below 1h"),
            ("400d", "over a year"),
        ] {
            let e = c(&format!("[dnssec]\nvalidity = \"{bad}\"\n")).unwrap_err();
            assert!(e.contains("[dnssec] validity") && e.contains(needle), "{e}");
        }
        let e = toml::from_str::<Config>("[server]\n[dnssec]\nalgorithm = 13\n").unwrap_err();
        assert!(e.to_string().contains("algorithm"), "{e}");
    }
}
