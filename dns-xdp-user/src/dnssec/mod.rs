//! DNSSEC: zone keys, online signing and compact denial of existence.
//!
//! # Keys
//!
//! Algorithm 13 (ECDSA P-256/SHA-256) by default, 15 (Ed25519) as an option; a KSK and a ZSK,
//! or one CSK. Keys live in a key directory (mode 0700, files 0600; a directory or private key
//! file that group or others can access is refused, as ssh refuses such keys), one key as
//! three files named `K<zone>+<algorithm>+<key tag>` ([`keys`]):
//!
//! - `.key` and `.private` in BIND's formats. That is the one key format every DNSSEC tool
//!   reads: BIND, ldns (`ldns-key2ds`, `ldns-signzone`), Knot (`keymgr import-bind`) and
//!   PowerDNS (`pdnsutil import-zone-key`). An operator can check our DS with their tools,
//!   take the keys to another signer (a migration, or a second provider in a multi-signer
//!   setup, RFC 8901) and bring BIND's keys here. PKCS#8 PEM would have saved a few lines of
//!   parsing, but neither BIND nor ldns reads it.
//! - `.meta`, dns-xdp's own TOML with the role (ksk, zsk, csk), the state (published, active,
//!   retired) and the creation time. The state changes during rollovers; keeping it apart
//!   means the key files are written once and never touched again.
//!
//! # Signing
//!
//! [`Signer`] signs a zone's RRsets online: RRSIGs over the canonical form of each RRset
//! (RFC 4034 §6), inception an hour in the past, validity seven days, cached until a quarter of
//! the validity is left ([`SigningConfig`]). It serves DNSKEY, CDS and CDNSKEY at the apex
//! ([`Signer::apex_rrsets`]), signed by the KSK or CSK; everything else is signed by the ZSK
//! or CSK. [`Rrsigs::wire_after_question`] gives the RRSIGs as wire-format records owned by
//! `0xC00C`, for the fast path to append after an A or AAAA answer.
//!
//! # Denial of existence: compact answers (RFC 9824)
//!
//! Negative answers use Compact Denial of Existence rather than minimally covering NSEC
//! ("white lies", RFC 4470):
//!
//! - One NSEC per negative answer, owned by the query name, instead of up to two covering NSECs
//!   (name and wildcard) for NXDOMAIN: one signature to make instead of two, and smaller
//!   answers. The record depends on the query name and the types at it alone, so any answer
//!   can be signed online without walking the zone for neighbours, and it reveals nothing
//!   about the zone's other names.
//! - Its cost, accepted: a non-existent name is answered NOERROR with an NSEC whose bitmap
//!   holds NXNAME (RCODE NXDOMAIN only when the query sets the CO flag, RFC 9824 §5.1), and
//!   resolvers cannot synthesise negative answers from our NSECs (RFC 8198). Cloudflare and
//!   NS1 answer this way.
//!
//! The answers, consistently ([`Signer::deny`], [`Signer::deny_ds`]):
//!
//! | case | NSEC owner | next name | types |
//! |---|---|---|---|
//! | name does not exist (§3.1) | qname | `\000.qname` | RRSIG NSEC NXNAME |
//! | NODATA (§3.2) | qname | `\000.qname` | the name's types, RRSIG NSEC |
//! | empty non-terminal (§3.2) | qname | `\000.qname` | RRSIG NSEC |
//! | wildcard NODATA (§3.3) | qname | `\000.qname` | the wildcard's types, RRSIG NSEC |
//! | unsigned delegation, in a referral or for DS (§3.4) | cut | `cut\000.parent` | NS RRSIG NSEC |
//!
//! Wildcards: RFC 4035 §3.1.3.3 makes a signer prove, with an NSEC covering the query name,
//! that no closer match than the wildcard exists; its RRSIG's labels field is the wildcard's.
//! An NSEC matching the query name cannot be that proof (it says the name exists), so compact
//! denial does what RFC 9824 §3.3 says instead: a wildcard answer is signed as though the
//! query name existed, its RRSIG's labels field counting the query name's labels, and needs
//! no NSEC. [`Signer::sign`] takes the owner to sign under for this reason.
//!
//! Signed delegations carry the DS RRset and its RRSIG, signed like any other RRset; the NS
//! RRset of a delegation and glue are never signed (RFC 4035 §2.2).

mod bind;
mod canonical;
mod denial;
pub mod keys;
pub mod rollover;
mod signer;
pub mod test_hook;

use std::path::PathBuf;

pub use crate::config::dnssec::SigningConfig;
pub use denial::{Denial, NXNAME};
pub use keys::{
    generate_zone_keys, key_tag, parent_records, KeyAlgorithm, KeyDir, KeyRole, KeyState, ZoneKey,
};
pub use signer::{Rrsigs, Signer, WireRrsigs};

use hickory_proto::rr::RecordType;

/// Seconds since the Unix epoch, the time [`Signer`] works in.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// What went wrong with keys or signing. Each message names the file or zone and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DnssecError {
    #[error("key directory {} does not exist; create it and the zone's keys with `dns-xdp keys generate --zone <zone> --dir {}`", dir.display(), dir.display())]
    NoKeyDir { dir: PathBuf },
    #[error("{} is not a directory; the key directory must be one", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
    #[error("{} can be accessed by group or others (mode {mode:o}); private keys must stay private, so run `{fix}`", path.display())]
    InsecurePermissions {
        path: PathBuf,
        mode: u32,
        fix: String,
    },
    #[error("no keys for zone {zone} in {}; generate them with `dns-xdp keys generate --zone {zone} --dir {}`", dir.display(), dir.display())]
    NoKeys { zone: String, dir: PathBuf },
    #[error("zone {zone} already has keys in that directory ({}); remove its K{zone}+* files first to start over", existing.display())]
    KeysExist { zone: String, existing: PathBuf },
    #[error("key file {} is missing ({} exists); restore it from a backup, or delete the key's other files and generate a new key", missing.display(), present.display())]
    IncompleteKey { missing: PathBuf, present: PathBuf },
    #[error("key file {}: {problem}; restore it from a backup, or delete the key's files and generate a new key", path.display())]
    CorruptKey { path: PathBuf, problem: String },
    #[error("zone name {zone} cannot be part of a key file name")]
    UnusableZoneName { zone: String },
    #[error("{}: {problem}", key.display())]
    Crypto { key: PathBuf, problem: String },
    #[error("key {} is not a key of zone {zone}", key.display())]
    WrongZone { key: PathBuf, zone: String },
    #[error("zone {zone} has keys of two algorithms ({} and {}); algorithm rollovers are not supported, so keep the keys of one", first.display(), second.display())]
    MixedAlgorithms {
        zone: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("zone {zone} has no active {role} (or CSK); generate one with `dns-xdp keys generate`, or set `state = \"active\"` in a key's .meta file")]
    NoActiveKey { zone: String, role: &'static str },
    #[error("invalid signing settings: {problem}")]
    BadSigningConfig { problem: String },
    #[error("{owner} is not in zone {zone}, so this zone's keys cannot sign it")]
    OutOfZone { owner: String, zone: String },
    #[error("cannot sign {rtype} at {owner}: RRSIGs are not signed and an RRset has at least one record")]
    Unsignable { owner: String, rtype: RecordType },
    #[error("cannot encode {what} for signing: {problem}")]
    Encode { what: String, problem: String },
    #[error("no name can follow {name} in an NSEC record")]
    NoSuccessor { name: String },
}

#[cfg(test)]
mod tests;
