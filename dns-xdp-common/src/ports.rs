//! UDP source ports no answer goes to, from the fast path or the fallback: one definition for
//! both, so a query passed up is not answered there either.

/// Port 0, which no reply can be addressed to, and the services that answer whatever they are
/// sent: echo (7), daytime (13), chargen (19) and time (37). A query spoofed from one of them
/// makes our answer its query, and its reply (or FORMERR for that reply) a loop between the two.
pub const REFLECTION_PORTS: [u16; 5] = [0, 7, 13, 19, 37];

/// Whether a UDP query from source port `port` must get no answer at all.
pub const fn is_reflection_port(port: u16) -> bool {
    matches!(port, 0 | 7 | 13 | 19 | 37)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_listed_ports() {
        for port in 0..=u16::MAX {
            assert_eq!(
                is_reflection_port(port),
                REFLECTION_PORTS.contains(&port),
                "{port}"
            );
        }
    }
}
