//! Test only, with the cargo feature `test-hooks`: `DNS_XDP_TEST_CORRUPT_RRSIG=<owner name>` in
//! the agent's environment makes every RRSIG it sends for that owner name (any case) carry a
//! broken signature: the last octet of the signature is flipped. It exists so that the tests
//! can prove a validating resolver refuses (SERVFAIL) what fails validation. Read once, when
//! the first zone is signed; the agent logs a warning when it is set. Never set it in
//! production.
//!
//! Without the feature (every build but the tests') the functions do nothing, and neither the
//! variable nor its name is in the binary.

use hickory_proto::dnssec::rdata::RRSIG;
use hickory_proto::rr::Name;

#[cfg(feature = "test-hooks")]
mod hook {
    use std::sync::OnceLock;

    use hickory_proto::rr::Name;

    pub const ENV: &str = "DNS_XDP_TEST_CORRUPT_RRSIG";

    pub fn owner() -> Option<&'static Name> {
        static OWNER: OnceLock<Option<Name>> = OnceLock::new();
        OWNER
            .get_or_init(|| {
                let text = std::env::var(ENV).ok()?;
                match Name::from_ascii(text.trim()) {
                    Ok(mut name) => {
                        name.set_fqdn(true);
                        Some(name)
                    }
                    Err(e) => {
                        log::error!("{ENV}={text:?} is not a domain name ({e}); ignored");
                        None
                    }
                }
            })
            .as_ref()
    }

    pub fn announce() {
        if let Some(name) = owner() {
            log::warn!(
                "{ENV} is set: every RRSIG for {name} is deliberately broken (a test hook; \
                 unset it outside tests)"
            );
        }
    }
}

/// The owner name the hook breaks signatures for, if it is set.
#[inline(always)]
fn owner() -> Option<&'static Name> {
    #[cfg(feature = "test-hooks")]
    return hook::owner();
    #[cfg(not(feature = "test-hooks"))]
    None
}

/// Logs a warning if the hook is set.
pub(crate) fn announce() {
    #[cfg(feature = "test-hooks")]
    hook::announce();
}

/// Whether the hook names `owner_name`.
pub(crate) fn targets(owner_name: &Name) -> bool {
    owner() == Some(owner_name)
}

/// `rrsig` with its signature broken if the hook names `owner`; else None.
pub(crate) fn corrupted(owner_name: &Name, rrsig: &RRSIG) -> Option<RRSIG> {
    corrupted_for(owner(), owner_name, rrsig)
}

fn corrupted_for(target: Option<&Name>, owner_name: &Name, rrsig: &RRSIG) -> Option<RRSIG> {
    if target != Some(owner_name) {
        return None;
    }
    let mut signature = rrsig.sig().to_vec();
    *signature.last_mut()? ^= 0xFF;
    Some(RRSIG::from_sig(rrsig.input().clone(), signature))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::dnssec::rdata::SigInput;
    use hickory_proto::dnssec::Algorithm;
    use hickory_proto::rr::{RecordType, SerialNumber};

    #[test]
    fn flips_the_last_signature_octet_of_the_named_owner_only() {
        let n = |s: &str| Name::from_ascii(s).unwrap();
        let input = SigInput {
            type_covered: RecordType::A,
            algorithm: Algorithm::ED25519,
            num_labels: 3,
            original_ttl: 60,
            sig_expiration: SerialNumber::new(2),
            sig_inception: SerialNumber::new(1),
            key_tag: 7,
            signer_name: n("example.com."),
        };
        let rrsig = RRSIG::from_sig(input, vec![1, 2, 3]);
        let target = n("www.example.com.");
        let broken = corrupted_for(Some(&target), &n("WWW.Example.com."), &rrsig).unwrap();
        assert_eq!(broken.sig(), &[1, 2, 0xFC]);
        assert_eq!(broken.input(), rrsig.input());
        assert!(corrupted_for(Some(&target), &n("example.com."), &rrsig).is_none());
        assert!(corrupted_for(None, &target, &rrsig).is_none());
    }
}
