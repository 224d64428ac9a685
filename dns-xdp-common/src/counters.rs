//! Fast-path counters: a per-CPU array of `u64`, one slot per outcome.

/// Why a packet was answered or passed up. The discriminant is the counter's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Counter {
    /// Answered in place over IPv4.
    AnsweredV4 = 0,
    /// Answered in place over IPv6.
    AnsweredV6 = 1,
    /// Not IPv4/IPv6 UDP to port 53 (ARP, TCP, other ports, ...).
    PassNotDns = 2,
    /// IPv4 options or fragment, IPv6 extension header, or a truncated header.
    PassIpUnsupported = 3,
    /// UDP checksum missing (IPv4 zero) or wrong.
    PassChecksum = 4,
    /// A DNS message the fast path does not answer: not a plain query (QR, opcode, counts,
    /// TC), a malformed or compressed question, a class other than IN, or trailing data.
    PassNotQuery = 5,
    /// A query type other than A or AAAA.
    PassQtype = 6,
    /// EDNS the fast path does not handle: version > 0, options other than COOKIE.
    PassEdns = 7,
    /// No answer published for this name and type.
    PassMiss = 8,
    /// The answer does not fit the client's UDP payload size.
    PassTooBig = 9,
    /// Query larger than the program's scratch buffer.
    PassTooLong = 10,
    /// A helper or map the program relies on failed; the frame is unchanged.
    PassInternal = 11,
    /// The frame was partly rewritten when a helper failed; it is dropped rather than passed up
    /// half-changed. Never expected: a non-zero count is a bug to report.
    DropRewrite = 12,
    /// DNS to an address this server does not answer for (see `addresses`).
    PassNotOurs = 13,
    /// The frame has neither tailroom nor headroom enough to grow into the answer (the
    /// driver's or veth's buffer is too small).
    PassNoRoom = 14,
    /// The answer depends on the client's view, and that view has no answer in the fast path:
    /// NODATA there (which needs the zone's SOA), or its entry is not or no longer published.
    /// The fallback answers by the client's region.
    PassNoView = 15,
    /// The randomly chosen variant of a weighted answer has no entry. Not expected: the agent
    /// publishes every variant a view counts, and queries overlapping an update that removes
    /// some are counted `pass_torn`.
    PassNoVariant = 16,
    /// The agent was changing live answers while the query was looked up (`PublishState::seq`
    /// was odd, or moved): what the program read may be part old, part new, so the fallback
    /// answers instead.
    PassTorn = 17,
    /// A DO=1 query for an answer of a signed zone whose RRSIG the fast path does not hold
    /// (too large for the map entry, or signing failed): the fallback signs it.
    PassUnsigned = 18,
    /// A query to a group MAC address (broadcast or multicast): an answer would be sent from
    /// that address, which no frame may come from. The kernel's stack answers it properly.
    PassNotUnicast = 19,
    /// An IPv4 header checksum that does not verify: the kernel's stack drops the packet.
    PassIpChecksum = 20,
    /// A source address no client has: a fixed martian (0.0.0.0/8, 127.0.0.0/8, multicast,
    /// 255.255.255.255; ::, ::1, multicast, IPv4-mapped), one of the addresses we answer for,
    /// or the network or broadcast address of a subnet on this host (see `addresses`).
    PassMartian = 21,
    /// A UDP source port no answer may go to: 0, or echo, daytime, chargen and time, whose
    /// replies would loop with ours (see `ports`).
    PassSourcePort = 22,
}

pub const COUNTER_COUNT: usize = 23;

impl Counter {
    pub const ALL: [Counter; COUNTER_COUNT] = [
        Counter::AnsweredV4,
        Counter::AnsweredV6,
        Counter::PassNotDns,
        Counter::PassNotOurs,
        Counter::PassNotUnicast,
        Counter::PassIpUnsupported,
        Counter::PassIpChecksum,
        Counter::PassChecksum,
        Counter::PassMartian,
        Counter::PassSourcePort,
        Counter::PassNotQuery,
        Counter::PassQtype,
        Counter::PassEdns,
        Counter::PassUnsigned,
        Counter::PassMiss,
        Counter::PassNoView,
        Counter::PassNoVariant,
        Counter::PassTorn,
        Counter::PassTooBig,
        Counter::PassTooLong,
        Counter::PassNoRoom,
        Counter::PassInternal,
        Counter::DropRewrite,
    ];

    /// Stable name used by `dns-xdp stats` and its JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::AnsweredV4 => "answered_v4",
            Counter::AnsweredV6 => "answered_v6",
            Counter::PassNotDns => "pass_not_dns",
            Counter::PassIpUnsupported => "pass_ip_unsupported",
            Counter::PassChecksum => "pass_checksum",
            Counter::PassNotQuery => "pass_not_query",
            Counter::PassQtype => "pass_qtype",
            Counter::PassEdns => "pass_edns",
            Counter::PassMiss => "pass_miss",
            Counter::PassTooBig => "pass_too_big",
            Counter::PassTooLong => "pass_too_long",
            Counter::PassInternal => "pass_internal",
            Counter::DropRewrite => "drop_rewrite",
            Counter::PassNotOurs => "pass_not_ours",
            Counter::PassNoRoom => "pass_no_room",
            Counter::PassNoView => "pass_no_view",
            Counter::PassNoVariant => "pass_no_variant",
            Counter::PassTorn => "pass_torn",
            Counter::PassUnsigned => "pass_unsigned",
            Counter::PassNotUnicast => "pass_not_unicast",
            Counter::PassIpChecksum => "pass_ip_checksum",
            Counter::PassMartian => "pass_martian",
            Counter::PassSourcePort => "pass_source_port",
        }
    }
}
