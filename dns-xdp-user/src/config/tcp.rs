//! `[server] tcp_*`: how many TCP connections the fallback server keeps, from one source and in
//! all, and how long each may sit idle or take over one message; the defaults and their checks.
//!
//! The defaults follow Knot's timeouts (`tcp-idle-timeout` 10 s, `tcp-io-timeout` 500 ms; ours
//! is 1 s, room for a 64 KB answer to a client a few hundred ms away) and NSD's pressure rule
//! (above half of `tcp-count`, new connections get 200 ms; here every idle connection does).
//! The cap is higher than either's default (Knot: half the open-file limit; NSD: 100) because
//! a connection here costs a task and a 4 KB buffer, and the agent raises its open-file limit
//! to fit it.

use std::time::Duration;

/// What the fallback's TCP connections may hold, as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// Connections open at once; at the cap a new one closes the oldest idle connection.
    pub max_connections: usize,
    /// Connections from one source (an IPv4 address, an IPv6 /64) at once.
    pub max_connections_per_source: usize,
    /// How long a connection may wait for its next query.
    pub idle_timeout: Duration,
    /// The same while more than half of `max_connections` are open.
    pub idle_timeout_under_pressure: Duration,
    /// How long one query may take to arrive once its first byte has, and one reply to be sent.
    pub io_timeout: Duration,
    /// Queries answered on one connection before it is closed; None: no limit.
    pub max_queries_per_connection: Option<u64>,
}

pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
pub const DEFAULT_MAX_CONNECTIONS_PER_SOURCE: usize = 64;
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT_UNDER_PRESSURE: Duration = Duration::from_millis(200);
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(1);

impl Default for TcpLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_source: DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            idle_timeout_under_pressure: DEFAULT_IDLE_TIMEOUT_UNDER_PRESSURE,
            io_timeout: DEFAULT_IO_TIMEOUT,
            max_queries_per_connection: None,
        }
    }
}

impl TcpLimits {
    /// What is wrong with these limits, if anything, naming the key to change.
    pub fn check(&self) -> Result<(), String> {
        if self.max_connections == 0 {
            return Err(
                "[server] tcp_max_connections = 0 would refuse every TCP client; \
                        give at least 1 (the default is 4096)"
                    .into(),
            );
        }
        if self.max_connections_per_source == 0 {
            return Err(
                "[server] tcp_max_connections_per_source = 0 would refuse every TCP \
                        client; give at least 1 (the default is 64)"
                    .into(),
            );
        }
        if self.idle_timeout_under_pressure > self.idle_timeout {
            return Err(format!(
                "[server] tcp_idle_timeout_under_pressure = {} is longer than tcp_idle_timeout \
                 = {}: under pressure the idle timeout gets shorter, not longer",
                super::duration::format(self.idle_timeout_under_pressure),
                super::duration::format(self.idle_timeout)
            ));
        }
        if self.max_queries_per_connection == Some(0) {
            return Err(
                "[server] tcp_max_queries_per_connection = 0 would answer nothing; \
                        leave it out for no limit"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_pass_and_each_bad_value_names_its_key() {
        assert_eq!(TcpLimits::default().check(), Ok(()));
        let bad = [
            TcpLimits {
                max_connections: 0,
                ..TcpLimits::default()
            },
            TcpLimits {
                max_connections_per_source: 0,
                ..TcpLimits::default()
            },
            TcpLimits {
                idle_timeout_under_pressure: Duration::from_secs(11),
                ..TcpLimits::default()
            },
            TcpLimits {
                max_queries_per_connection: Some(0),
                ..TcpLimits::default()
            },
        ];
        let keys = [
            "tcp_max_connections =",
            "tcp_max_connections_per_source",
            "tcp_idle_timeout_under_pressure",
            "tcp_max_queries_per_connection",
        ];
        for (limits, key) in bad.iter().zip(keys) {
            let e = limits.check().unwrap_err();
            assert!(e.contains(key), "{e}");
        }
    }
}
