//! The open-file limit (RLIMIT_NOFILE), raised at start to fit `tcp_max_connections`: systemd
//! and most shells start a service with a soft limit of 1024, which 4096 connections would
//! exceed. Unbound raises its limit for its sockets the same way; Knot instead sizes its
//! `tcp-max-clients` to half the limit. Raising the soft limit up to the hard one needs no
//! privilege; where the hard limit is too low, the cap is lowered to fit, with a warning.

use crate::config::tcp::TcpLimits;

/// Descriptors the agent needs besides its TCP connections: listening sockets, BPF maps and
/// programs, health-check and upstream sockets, zone and key files, connections being closed.
pub const OTHER_DESCRIPTORS: u64 = 1024;

/// What to do about the limit for a cap of `connections`.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// The soft limit to set, if it must rise.
    pub raise_to: Option<u64>,
    /// The connections the limit then leaves room for.
    pub connections: usize,
}

/// The plan for `connections` under the current (soft, hard) limits.
pub fn plan(soft: u64, hard: u64, connections: usize) -> Plan {
    let needed = (connections as u64).saturating_add(OTHER_DESCRIPTORS);
    if soft >= needed {
        return Plan {
            raise_to: None,
            connections,
        };
    }
    let limit = needed.min(hard).max(soft);
    let room = if limit >= needed {
        connections
    } else {
        // Half the limit, as Knot sizes its cap, when the rest would not leave that much.
        usize::try_from(limit.saturating_sub(OTHER_DESCRIPTORS).max(limit / 2))
            .unwrap_or(usize::MAX)
            .clamp(1, connections)
    };
    Plan {
        raise_to: (limit > soft).then_some(limit),
        connections: room,
    }
}

/// Raises the soft limit as far as `limits` need, logging what it did; returns the limits
/// with `max_connections` lowered to what the limit leaves room for.
pub fn fit(mut limits: TcpLimits) -> TcpLimits {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit, which `current` is.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) } != 0 {
        log::warn!(
            "cannot read the open-file limit (RLIMIT_NOFILE): {}; serving up to \
             tcp_max_connections = {} TCP connections regardless",
            std::io::Error::last_os_error(),
            limits.max_connections
        );
        return limits;
    }
    let (soft, hard) = (current.rlim_cur, current.rlim_max);
    let mut plan = plan(soft, hard, limits.max_connections);
    if let Some(raised) = plan.raise_to {
        let new = libc::rlimit {
            rlim_cur: raised,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads one rlimit, which `new` is.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            log::info!(
                "raised the open-file limit (RLIMIT_NOFILE) from {soft} to {raised} for \
                 tcp_max_connections = {} and {OTHER_DESCRIPTORS} other descriptors",
                limits.max_connections
            );
        } else {
            let error = std::io::Error::last_os_error();
            plan = self::plan(soft, soft, limits.max_connections);
            log::warn!("cannot raise the open-file limit (RLIMIT_NOFILE) from {soft}: {error}");
        }
    }
    if plan.connections < limits.max_connections {
        log::warn!(
            "the open-file limit (RLIMIT_NOFILE, hard limit {hard}) leaves room for {} TCP \
             connections, not tcp_max_connections = {}: serving at most {}; raise the hard \
             limit (LimitNOFILE= in the systemd unit, ulimit -Hn) or lower tcp_max_connections",
            plan.connections,
            limits.max_connections,
            plan.connections
        );
        limits.max_connections = plan.connections;
        limits.max_connections_per_source = limits
            .max_connections_per_source
            .min(limits.max_connections);
    }
    limits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raises_the_soft_limit_as_far_as_needed_and_no_further_than_the_hard_one() {
        assert_eq!(
            plan(1024, 524_288, 4096),
            Plan {
                raise_to: Some(5120),
                connections: 4096
            }
        );
        assert_eq!(
            plan(65_536, 524_288, 4096),
            Plan {
                raise_to: None,
                connections: 4096
            }
        );
        // A hard limit short of what is needed: up to it, and the cap lowered to fit.
        assert_eq!(
            plan(1024, 3072, 4096),
            Plan {
                raise_to: Some(3072),
                connections: 2048
            }
        );
        // Nothing to raise: half the limit, as Knot sizes its cap.
        assert_eq!(
            plan(1024, 1024, 4096),
            Plan {
                raise_to: None,
                connections: 512
            }
        );
        assert_eq!(plan(1024, 1024, 100).connections, 100);
    }
}
