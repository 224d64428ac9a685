//! `[[check]]` sections: what the config file says, validated into a normalized [`CheckSpec`].

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;

use super::duration;

/// The most of a response body a check reads, and so the longest `body` it can look for.
pub const BODY_LIMIT: usize = 64 * 1024;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_FALL: u32 = 3;
const DEFAULT_RISE: u32 = 2;
const DEFAULT_EXPECT: &str = "200-399";

/// What a check talks to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1 GET over TLS; the certificate is verified unless `insecure = true`.
    Https,
    /// HTTP/1.1 GET in the clear.
    Http,
    /// A TCP connection that completes its handshake.
    Tcp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Https => "https",
            Protocol::Http => "http",
            Protocol::Tcp => "tcp",
        })
    }
}

/// One `[[check]]` section as written. Turn it into a [`CheckSpec`] with [`CheckConfig::to_spec`]
/// (or all of them at once with [`resolve_checks`]); the defaults are applied there.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckConfig {
    /// Pools and members name the check they use by this.
    pub name: String,
    pub protocol: Protocol,
    /// Default 443 for https, 80 for http; required for tcp.
    pub port: Option<u16>,
    /// http(s) only; default "/".
    pub path: Option<String>,
    /// http(s) only: the Host header, and the TLS server name that the certificate must match.
    /// Default: the member's address.
    pub host: Option<String>,
    /// http(s) only: comma-separated status codes and ranges, default "200-399".
    pub expect: Option<String>,
    /// http(s) only: a substring that the first 64 KiB of the body must contain.
    pub body: Option<String>,
    /// Time between the starts of two checks of one target, e.g. "10s" (the default), "500ms".
    pub interval: Option<String>,
    /// A check that has not finished after this fails. Default: half the interval.
    pub timeout: Option<String>,
    /// Consecutive failures that take an up target down (default 3).
    pub fall: Option<u32>,
    /// Consecutive successes that bring a down target back up (default 2).
    pub rise: Option<u32>,
    /// https only: PEM certificates trusted in addition to the system's roots. A relative path
    /// is relative to the config file's directory.
    pub ca_file: Option<PathBuf>,
    /// https only: `true` skips certificate verification. It must be written out to take effect.
    pub insecure: Option<bool>,
}

/// A `[[check]]` section that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// `key` of check `check` has a bad value; `problem` says what is wrong with it.
    #[error("check {check:?}: {key} {problem}")]
    Invalid {
        check: String,
        key: &'static str,
        problem: String,
    },
    #[error("check {check:?}: cannot use ca_file {path}: {problem}")]
    CaFile {
        check: String,
        path: PathBuf,
        problem: String,
    },
    #[error("check {0:?} is defined more than once; give each [[check]] its own name")]
    Duplicate(String),
}

/// Which certificates an https check accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Trust {
    /// The system's roots.
    System,
    /// The system's roots and these, read from `ca_file` when the config was loaded.
    SystemAnd {
        ca_file: PathBuf,
        certs: Vec<CertificateDer<'static>>,
    },
    /// Any certificate (`insecure = true`); the handshake signatures are still checked.
    Insecure,
}

/// Accepted HTTP status codes: sorted, non-overlapping, non-adjacent ranges, so that equal sets
/// compare equal however they were written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Expect(Vec<RangeInclusive<u16>>);

impl Expect {
    fn parse(text: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for item in text.split(',').map(str::trim) {
            let (low, high) = item.split_once('-').unwrap_or((item, item));
            let code = |s: &str| {
                s.trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(|| {
                        format!(
                            "{text:?}: {item:?} is not a status code (100-599) or a range such as \
                             200-299; separate several with commas"
                        )
                    })
            };
            let (low, high) = (code(low)?, code(high)?);
            if low > high {
                return Err(format!("{text:?}: range {item:?} runs backwards"));
            }
            ranges.push(low..=high);
        }
        ranges.sort_by_key(|r| *r.start());
        let mut merged: Vec<RangeInclusive<u16>> = Vec::with_capacity(ranges.len());
        for range in ranges {
            match merged.last_mut() {
                Some(last) if *range.start() <= last.end().saturating_add(1) => {
                    *last = *last.start()..=(*last.end()).max(*range.end());
                }
                _ => merged.push(range),
            }
        }
        Ok(Expect(merged))
    }

    pub(crate) fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|r| r.contains(&status))
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, range) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if range.start() == range.end() {
                write!(f, "{}", range.start())?;
            } else {
                write!(f, "{}-{}", range.start(), range.end())?;
            }
        }
        Ok(())
    }
}

/// A validated check with its defaults filled in. Two checks compare equal only if they probe
/// the same way, so targets made from equal specs share one probe loop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CheckSpec {
    pub(crate) name: String,
    pub(crate) protocol: Protocol,
    pub(crate) port: u16,
    /// Starts with '/'; unused by tcp checks.
    pub(crate) path: String,
    /// Lowercase; a DNS name or an IP address.
    pub(crate) host: Option<String>,
    pub(crate) expect: Expect,
    pub(crate) body: Option<String>,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) fall: u32,
    pub(crate) rise: u32,
    pub(crate) trust: Trust,
}

impl CheckSpec {
    /// The `[[check]]` name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn fall(&self) -> u32 {
        self.fall
    }

    pub fn rise(&self) -> u32 {
        self.rise
    }
}

impl CheckConfig {
    /// Validates the section and fills in the defaults. Reads `ca_file` (resolved against
    /// `config_dir`), so that a missing or broken file is reported now, not at the first check,
    /// and a changed file is picked up by the next reload.
    pub fn to_spec(&self, config_dir: &Path) -> Result<CheckSpec, CheckError> {
        let name = &self.name;
        let invalid = |key: &'static str, problem: String| CheckError::Invalid {
            check: name.clone(),
            key,
            problem,
        };
        if name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        let http = matches!(self.protocol, Protocol::Http | Protocol::Https);
        if !http {
            for (key, set) in [
                ("path", self.path.is_some()),
                ("host", self.host.is_some()),
                ("expect", self.expect.is_some()),
                ("body", self.body.is_some()),
            ] {
                if set {
                    return Err(invalid(
                        key,
                        "applies to http and https checks only, not tcp".into(),
                    ));
                }
            }
        }
        if self.protocol != Protocol::Https {
            if self.ca_file.is_some() {
                return Err(invalid(
                    "ca_file",
                    format!("applies to https checks only, not {}", self.protocol),
                ));
            }
            if self.insecure == Some(true) {
                return Err(invalid(
                    "insecure",
                    format!("applies to https checks only, not {}", self.protocol),
                ));
            }
        }

        let port = match (self.port, self.protocol) {
            (Some(0), _) => return Err(invalid("port", "must be between 1 and 65535".into())),
            (Some(port), _) => port,
            (None, Protocol::Https) => 443,
            (None, Protocol::Http) => 80,
            (None, Protocol::Tcp) => {
                return Err(invalid(
                    "port",
                    "is required for tcp checks (there is no default)".into(),
                ))
            }
        };

        let path = self.path.clone().unwrap_or_else(|| "/".into());
        if !path.starts_with('/') {
            return Err(invalid("path", format!("{path:?} must start with '/'")));
        }
        if !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "path",
                format!(
                    "{path:?} may hold only printable ASCII without spaces; percent-encode the rest"
                ),
            ));
        }

        let host = match &self.host {
            None => None,
            Some(host) => {
                let host = host.to_ascii_lowercase();
                if ServerName::try_from(host.as_str()).is_err() {
                    return Err(invalid(
                        "host",
                        format!(
                            "{host:?} is neither a DNS name nor an IP address (leave out the port \
                             and the scheme)"
                        ),
                    ));
                }
                Some(host)
            }
        };

        let expect_text = self.expect.as_deref().unwrap_or(DEFAULT_EXPECT);
        let expect = Expect::parse(expect_text).map_err(|problem| invalid("expect", problem))?;

        if let Some(body) = &self.body {
            if body.is_empty() {
                return Err(invalid(
                    "body",
                    "must not be empty; leave it out to not check the body".into(),
                ));
            }
            if body.len() > BODY_LIMIT {
                return Err(invalid(
                    "body",
                    format!(
                        "is {} bytes long, but only the first {} bytes of a body are read",
                        body.len(),
                        BODY_LIMIT
                    ),
                ));
            }
        }

        let interval = match &self.interval {
            None => DEFAULT_INTERVAL,
            Some(text) => duration::parse(text).map_err(|problem| invalid("interval", problem))?,
        };
        let timeout = match &self.timeout {
            None => interval / 2,
            Some(text) => duration::parse(text).map_err(|problem| invalid("timeout", problem))?,
        };
        if timeout >= interval {
            return Err(invalid(
                "timeout",
                format!(
                    "{} must be shorter than interval {}",
                    duration::format(timeout),
                    duration::format(interval)
                ),
            ));
        }

        let fall = self.fall.unwrap_or(DEFAULT_FALL);
        if fall == 0 {
            return Err(invalid("fall", "must be at least 1".into()));
        }
        let rise = self.rise.unwrap_or(DEFAULT_RISE);
        if rise == 0 {
            return Err(invalid("rise", "must be at least 1".into()));
        }

        let trust =
            match (&self.ca_file, self.insecure == Some(true)) {
                (Some(_), true) => return Err(invalid(
                    "insecure",
                    "= true accepts any certificate, so ca_file would have no effect; remove one \
                     of them"
                        .into(),
                )),
                (None, true) => Trust::Insecure,
                (None, false) => Trust::System,
                (Some(ca_file), false) => {
                    let path = config_dir.join(ca_file);
                    let certs = read_ca_file(&path).map_err(|problem| CheckError::CaFile {
                        check: name.clone(),
                        path: path.clone(),
                        problem,
                    })?;
                    Trust::SystemAnd {
                        ca_file: path,
                        certs,
                    }
                }
            };

        Ok(CheckSpec {
            name: name.clone(),
            protocol: self.protocol,
            port,
            path,
            host,
            expect,
            body: self.body.clone(),
            interval,
            timeout,
            fall,
            rise,
            trust,
        })
    }
}

/// Validates every `[[check]]` section and indexes them by name; `config_dir` resolves
/// relative `ca_file` paths.
pub fn resolve_checks(
    checks: &[CheckConfig],
    config_dir: &Path,
) -> Result<HashMap<String, Arc<CheckSpec>>, CheckError> {
    let mut specs = HashMap::with_capacity(checks.len());
    for check in checks {
        let spec = Arc::new(check.to_spec(config_dir)?);
        if specs.insert(check.name.clone(), spec).is_some() {
            return Err(CheckError::Duplicate(check.name.clone()));
        }
    }
    Ok(specs)
}

/// Every certificate in a PEM file; each must be one that a root store accepts.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("it holds no PEM CERTIFICATE block".into());
    }
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store
            .add(cert.clone())
            .map_err(|e| format!("certificate {} is not usable as a trust anchor: {e}", i + 1))?;
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> Result<CheckSpec, CheckError> {
        let config: CheckConfig = toml::from_str(toml_text).expect("valid TOML for CheckConfig");
        config.to_spec(Path::new("/nonexistent"))
    }

    fn error(toml_text: &str) -> String {
        spec(toml_text)
            .expect_err("the check should be rejected")
            .to_string()
    }

    #[test]
    fn defaults_are_filled_in() {
        let https = spec("name = \"web\"\nprotocol = \"https\"").unwrap();
        assert_eq!(https.port, 443);
        assert_eq!(https.path, "/");
        assert_eq!(https.host, None);
        assert_eq!(https.expect.to_string(), "200-399");
        assert_eq!(https.interval, Duration::from_secs(10));
        assert_eq!(https.timeout, Duration::from_secs(5));
        assert_eq!((https.fall, https.rise), (3, 2));
        assert_eq!(https.trust, Trust::System);
        assert_eq!(
            spec("name = \"w\"\nprotocol = \"http\"\ninterval = \"3s\"")
                .unwrap()
                .timeout,
            Duration::from_millis(1500)
        );
        assert_eq!(spec("name = \"w\"\nprotocol = \"http\"").unwrap().port, 80);
        let tcp = spec("name = \"db\"\nprotocol = \"tcp\"\nport = 5432").unwrap();
        assert_eq!(tcp.port, 5432);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err =
            toml::from_str::<CheckConfig>("name = \"w\"\nprotocol = \"http\"\nintervall = \"1s\"")
                .unwrap_err()
                .to_string();
        assert!(err.contains("intervall"), "{err}");
        assert!(toml::from_str::<CheckConfig>("name = \"w\"\nprotocol = \"udp\"").is_err());
    }

    #[test]
    fn errors_name_the_check_and_the_key() {
        assert_eq!(
            error("name = \"web\"\nprotocol = \"https\"\ninterval = \"10s\"\ntimeout = \"20s\""),
            "check \"web\": timeout 20s must be shorter than interval 10s"
        );
        assert_eq!(
            error("name = \"web\"\nprotocol = \"https\"\ninterval = \"1s\"\ntimeout = \"1s\""),
            "check \"web\": timeout 1s must be shorter than interval 1s"
        );
        assert_eq!(
            error("name = \"db\"\nprotocol = \"tcp\""),
            "check \"db\": port is required for tcp checks (there is no default)"
        );
        assert_eq!(
            error("name = \"web\"\nprotocol = \"http\"\nfall = 0"),
            "check \"web\": fall must be at least 1"
        );
        assert_eq!(
            error("name = \"web\"\nprotocol = \"http\"\nrise = 0"),
            "check \"web\": rise must be at least 1"
        );
        let both = error(
            "name = \"web\"\nprotocol = \"https\"\ninsecure = true\nca_file = \"/etc/ca.pem\"",
        );
        assert!(both.starts_with("check \"web\": insecure = true"), "{both}");
        assert!(both.contains("ca_file"), "{both}");
        assert_eq!(
            error("name = \"web\"\nprotocol = \"http\"\ninsecure = true"),
            "check \"web\": insecure applies to https checks only, not http"
        );
        assert_eq!(
            error("name = \"db\"\nprotocol = \"tcp\"\nport = 1\npath = \"/\""),
            "check \"db\": path applies to http and https checks only, not tcp"
        );
        assert_eq!(
            error("name = \"web\"\nprotocol = \"http\"\npath = \"health\""),
            "check \"web\": path \"health\" must start with '/'"
        );
        assert!(
            error("name = \"web\"\nprotocol = \"http\"\npath = \"/a b\"")
                .starts_with("check \"web\": path \"/a b\" may hold only printable ASCII")
        );
        assert!(
            error("name = \"web\"\nprotocol = \"https\"\nhost = \"a.example:443\"")
                .starts_with("check \"web\": host \"a.example:443\" is neither")
        );
        assert_eq!(
            error("name = \"web\"\nprotocol = \"http\"\nbody = \"\""),
            "check \"web\": body must not be empty; leave it out to not check the body"
        );
        assert_eq!(
            error("name = \"web\"\nprotocol = \"http\"\ninterval = \"10\""),
            "check \"web\": interval \"10\" is not a duration: write a whole number and a unit \
             (ms, s, m, h or d), such as 500ms, 10s, 2m, 1h or 7d"
        );
        assert_eq!(
            error("name = \"web\"\nprotocol = \"http\"\ntimeout = \"0s\""),
            "check \"web\": timeout \"0s\" must be longer than zero"
        );
        let missing = error("name = \"web\"\nprotocol = \"https\"\nca_file = \"ca.pem\"");
        assert!(
            missing.starts_with("check \"web\": cannot use ca_file /nonexistent/ca.pem:"),
            "{missing}"
        );
    }

    #[test]
    fn expect_lists_and_ranges() {
        let expect = |text: &str| {
            spec(&format!(
                "name = \"web\"\nprotocol = \"http\"\nexpect = \"{text}\""
            ))
        };
        let e = expect("204, 200-202,301-302,203").unwrap().expect;
        assert_eq!(e.to_string(), "200-204,301-302");
        assert!(e.contains(200) && e.contains(204) && e.contains(302));
        assert!(!e.contains(205) && !e.contains(300) && !e.contains(303));
        // Written differently, the same set: the specs compare equal.
        assert_eq!(
            expect("200-299,300-399").unwrap(),
            spec("name = \"web\"\nprotocol = \"http\"").unwrap()
        );
        for bad in ["20x", "200-", "99", "600", "300-200", "", "200,,300"] {
            let err = expect(bad).unwrap_err().to_string();
            assert!(err.starts_with("check \"web\": expect \""), "{bad}: {err}");
        }
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let checks: Vec<CheckConfig> = ["a", "b", "a"]
            .iter()
            .map(|n| toml::from_str(&format!("name = \"{n}\"\nprotocol = \"http\"")).unwrap())
            .collect();
        let err = resolve_checks(&checks, Path::new("/")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "check \"a\" is defined more than once; give each [[check]] its own name"
        );
        assert_eq!(
            resolve_checks(&checks[..2], Path::new("/")).unwrap().len(),
            2
        );
    }
}
