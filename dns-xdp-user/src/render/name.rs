//! A name as the answer map keys and compares it: lowercased wire format (RFC 4343), zero
//! padded to whole 64-bit words, and the hash of that ([`dns_xdp_common::answer::name_hash`]).

use dns_xdp_common::answer::{name_hash, NAME_BUF_LEN};
use hickory_proto::rr::Name;

/// The map form of a name: lowercased wire format, zero padded, and its length.
pub fn name_key(name: &Name) -> ([u8; NAME_BUF_LEN], usize) {
    let mut key = [0u8; NAME_BUF_LEN];
    let mut at = 0;
    for label in name.iter() {
        key[at] = label.len() as u8;
        for (out, byte) in key[at + 1..at + 1 + label.len()].iter_mut().zip(label) {
            *out = byte.to_ascii_lowercase();
        }
        at += 1 + label.len();
    }
    // The root label's zero is already there.
    (key, at + 1)
}

/// The name's key bytes (without the padding) and their hash.
pub fn keyed(name: &Name) -> (Box<[u8]>, u64) {
    let (key, len) = name_key(name);
    (key[..len].into(), name_hash(&key, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_lowercase_wire_format_zero_padded() {
        let (key, len) = name_key(&Name::from_ascii("WwW.Example.COM.").unwrap());
        assert_eq!(len, 17);
        assert_eq!(&key[..17], b"\x03www\x07example\x03com\x00");
        assert!(key[17..].iter().all(|&b| b == 0));
        let (bytes, hash) = keyed(&Name::from_ascii("www.example.com.").unwrap());
        assert_eq!(&*bytes, &key[..17]);
        assert_eq!(hash, name_hash(&key, 17));
    }
}
