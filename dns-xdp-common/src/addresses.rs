//! The addresses the server answers for. A query to any other address (traffic the host routes
//! or bridges for others) is not ours to answer, however well we know the name.

/// Key of the address map: IPv6 as is, IPv4 as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ServedAddr {
    pub addr: [u8; 16],
}

impl ServedAddr {
    pub const fn v4(octets: [u8; 4]) -> Self {
        let [a, b, c, d] = octets;
        Self {
            addr: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, a, b, c, d],
        }
    }

    pub const fn v6(octets: [u8; 16]) -> Self {
        Self { addr: octets }
    }
}

/// Most addresses one server answers for.
pub const MAX_SERVED_ADDRS: usize = 256;

#[cfg(feature = "user")]
unsafe impl aya::Pod for ServedAddr {}
