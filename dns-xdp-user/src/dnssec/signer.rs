//! Online signing of a zone's RRsets, with a signature cache.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::dnssec::rdata::{DNSSECRData, SigInput, RRSIG};
use hickory_proto::rr::{Name, RData, Record, RecordType, SerialNumber};

use super::canonical::{rrsig_labels, rrsig_rdata, CanonicalRrset};
use super::keys::{KeyDir, KeyState, ZoneKey};
use super::{DnssecError, SigningConfig};
use crate::zone::RrSet;

/// Signs the RRsets of one zone with its active keys: DNSKEY, CDS and CDNSKEY at the apex with
/// the KSKs (or CSK), everything else with the ZSKs (or CSK). Every active key of the right
/// role signs, so a double-signature rollover works as well as pre-publication.
///
/// The keys are fixed for the signer's life; a key change is a new signer. The signature cache
/// lives in the signer, so keep one signer across zone reloads while the keys stay the same.
pub struct Signer {
    zone: Name,
    keys: Vec<ZoneKey>,
    /// Indices into `keys` of the active keys signing the zone's RRsets.
    zone_signers: Vec<usize>,
    /// Indices into `keys` of the active keys signing DNSKEY, CDS and CDNSKEY.
    key_signers: Vec<usize>,
    /// DNSKEY, CDS and CDNSKEY at the apex, in type-code order.
    apex: Vec<RrSet>,
    config: SigningConfig,
    cache: Mutex<HashMap<Box<[u8]>, Rrsigs>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("zone", &self.zone.to_string())
            .field("keys", &self.keys)
            .field("config", &self.config)
            .finish()
    }
}

impl Signer {
    /// A signer for `zone` with `keys` (all of the zone's keys, whatever their state). Needs
    /// an active KSK and ZSK, or an active CSK, all of one algorithm.
    pub fn new(
        zone: &Name,
        keys: Vec<ZoneKey>,
        config: SigningConfig,
    ) -> Result<Signer, DnssecError> {
        let mut zone = zone.to_lowercase();
        zone.set_fqdn(true);
        check_config(&config)?;
        if let Some(stranger) = keys.iter().find(|key| key.zone() != &zone) {
            return Err(DnssecError::WrongZone {
                key: stranger.file_stem().to_path_buf(),
                zone: zone.to_string(),
            });
        }
        if let Some(other) = keys
            .iter()
            .find(|key| key.algorithm() != keys[0].algorithm())
        {
            return Err(DnssecError::MixedAlgorithms {
                zone: zone.to_string(),
                first: keys[0].file_stem().to_path_buf(),
                second: other.file_stem().to_path_buf(),
            });
        }
        let active = |role_ok: fn(super::KeyRole) -> bool| -> Vec<usize> {
            keys.iter()
                .enumerate()
                .filter(|(_, key)| key.state() == KeyState::Active && role_ok(key.role()))
                .map(|(at, _)| at)
                .collect()
        };
        let zone_signers = active(super::KeyRole::signs_zone);
        let key_signers = active(super::KeyRole::signs_keys);
        if zone_signers.is_empty() || key_signers.is_empty() {
            return Err(DnssecError::NoActiveKey {
                zone: zone.to_string(),
                role: if zone_signers.is_empty() {
                    "ZSK"
                } else {
                    "KSK"
                },
            });
        }
        let apex = apex_rrsets(&zone, &keys, config.dnskey_ttl);
        Ok(Signer {
            zone,
            keys,
            zone_signers,
            key_signers,
            apex,
            config,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Loads `zone`'s keys from the key directory `dir` and makes its signer.
    pub fn load(dir: &Path, zone: &Name, config: SigningConfig) -> Result<Signer, DnssecError> {
        let keys = KeyDir::open(dir)?.load(zone)?;
        Signer::new(zone, keys, config)
    }

    /// The zone apex: lowercase, fully qualified.
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    pub fn keys(&self) -> &[ZoneKey] {
        &self.keys
    }

    pub fn config(&self) -> &SigningConfig {
        &self.config
    }

    /// The DNSKEY RRset (every key of the zone: published, active and retired), then the CDS
    /// and CDNSKEY RRsets (every KSK or CSK that is not retired, RFC 7344), all at the apex.
    /// Insert them into the zone so that they are answered like any other RRset.
    pub fn apex_rrsets(&self) -> &[RrSet] {
        &self.apex
    }

    /// The RRSIGs over `rrset` served under `owner`, from the cache while they have more than
    /// [`SigningConfig::refresh`] left, else newly made: inception `now` minus the inception
    /// offset, expiration `now` plus the validity.
    ///
    /// `owner` is `rrset.name`, except for an answer synthesised from a wildcard: then it is
    /// the query name, and the RRSIG's labels field counts the query name's labels, as though
    /// it existed (compact denial, RFC 9824 §3.3: no NSEC then proves the query name absent).
    /// An RRset whose owner is itself a wildcard (`*.example.com.`, asked for by that name)
    /// gets labels without the `*` (RFC 4034 §3.1.3).
    pub fn sign(&self, owner: &Name, rrset: &RrSet, now: u64) -> Result<Rrsigs, DnssecError> {
        if !self.zone.zone_of(owner) {
            return Err(DnssecError::OutOfZone {
                owner: owner.to_string(),
                zone: self.zone.to_string(),
            });
        }
        if rrset.rtype == RecordType::RRSIG || rrset.rdata.is_empty() {
            return Err(DnssecError::Unsignable {
                owner: owner.to_string(),
                rtype: rrset.rtype,
            });
        }
        let canonical = CanonicalRrset::new(owner, rrset.rtype, rrset.ttl, &rrset.rdata)?;
        let key = canonical.cache_key();
        if let Some(cached) = self.cache().get(&key) {
            if cached.fresh(now) {
                return Ok(cached.clone());
            }
        }
        let signed = self.sign_now(owner, rrset.rtype, rrset.ttl, &canonical, now)?;
        let mut cache = self.cache();
        if cache.len() >= self.config.cache_capacity {
            cache.retain(|_, sigs| sigs.fresh(now));
            if cache.len() >= self.config.cache_capacity {
                cache.clear();
            }
        }
        cache.insert(key, signed.clone());
        Ok(signed)
    }

    /// Signed RRsets in the cache.
    pub fn cached(&self) -> usize {
        self.cache().len()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Rrsigs>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn sign_now(
        &self,
        owner: &Name,
        rtype: RecordType,
        ttl: u32,
        canonical: &CanonicalRrset,
        now: u64,
    ) -> Result<Rrsigs, DnssecError> {
        let inception = now.saturating_sub(self.config.inception_offset.as_secs());
        let expiration = now + self.config.validity.as_secs();
        let signs_keys = matches!(
            rtype,
            RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY
        ) && owner.eq(&self.zone);
        let signers = if signs_keys {
            &self.key_signers
        } else {
            &self.zone_signers
        };
        let sigs = signers
            .iter()
            .map(|&at| {
                let key = &self.keys[at];
                let input = SigInput {
                    type_covered: rtype,
                    algorithm: key.algorithm().hickory(),
                    num_labels: rrsig_labels(owner),
                    original_ttl: ttl,
                    // RFC 4034 §3.1.5: the fields are serial numbers, times modulo 2^32.
                    sig_expiration: SerialNumber::new(expiration as u32),
                    sig_inception: SerialNumber::new(inception as u32),
                    key_tag: key.tag(),
                    signer_name: self.zone.clone(),
                };
                let mut rdata = rrsig_rdata(&input);
                let signature = key.sign(&canonical.signed_data(&rdata))?;
                rdata.extend_from_slice(&signature);
                Ok(Sig {
                    rrsig: RRSIG::from_sig(input, signature),
                    rdata: rdata.into_boxed_slice(),
                })
            })
            .collect::<Result<Vec<_>, DnssecError>>()?;
        Ok(Rrsigs {
            sigs: sigs.into(),
            inception,
            expiration,
            renew_at: expiration.saturating_sub(self.config.refresh.as_secs()),
        })
    }
}

/// The RRSIGs over one RRset: one per signing key, usually one. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Rrsigs {
    sigs: Arc<[Sig]>,
    inception: u64,
    expiration: u64,
    renew_at: u64,
}

#[derive(Debug)]
struct Sig {
    rrsig: RRSIG,
    /// The RRSIG's RDATA in wire format.
    rdata: Box<[u8]>,
}

impl Rrsigs {
    pub fn iter(&self) -> impl Iterator<Item = &RRSIG> {
        self.sigs.iter().map(|sig| &sig.rrsig)
    }

    pub fn len(&self) -> usize {
        self.sigs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sigs.is_empty()
    }

    /// The RRSIG records, owned by `owner` (the covered RRset's owner as sent) with `ttl`
    /// (the covered RRset's TTL as sent, RFC 4034 §3).
    pub fn records<'a>(&'a self, owner: &'a Name, ttl: u32) -> impl Iterator<Item = Record> + 'a {
        self.iter().map(move |rrsig| {
            let rrsig = super::test_hook::corrupted(owner, rrsig).unwrap_or_else(|| rrsig.clone());
            Record::from_rdata(owner.clone(), ttl, RData::DNSSEC(DNSSECRData::RRSIG(rrsig)))
        })
    }

    /// The RRSIG records in wire format for the fast path, to follow the answer RRset: each
    /// owned by a compression pointer to the question name (`0xC00C`, right after the 12-octet
    /// header), class IN, `ttl` (the RRset's). The signer name inside stays uncompressed, as
    /// RFC 4034 §3.1.7 requires. `owner` is the covered RRset's owner, for the test hook only
    /// (see [`super::test_hook`]): the fast path's signatures break as the fallback's do.
    pub fn wire_after_question(&self, owner: &Name, ttl: u32) -> WireRrsigs {
        let corrupt = super::test_hook::targets(owner);
        let mut bytes = Vec::new();
        for sig in self.sigs.iter() {
            bytes.extend_from_slice(&[0xC0, 0x0C]);
            bytes.extend_from_slice(&u16::from(RecordType::RRSIG).to_be_bytes());
            bytes.extend_from_slice(&1u16.to_be_bytes());
            bytes.extend_from_slice(&ttl.to_be_bytes());
            bytes.extend_from_slice(&(sig.rdata.len() as u16).to_be_bytes());
            bytes.extend_from_slice(&sig.rdata);
            if corrupt {
                // The signature ends the RDATA: its last octet, as `test_hook::corrupted` flips.
                if let Some(last) = bytes.last_mut() {
                    *last ^= 0xFF;
                }
            }
        }
        WireRrsigs {
            count: self.sigs.len() as u16,
            bytes,
        }
    }

    /// Unix seconds: signed at `inception` plus the inception offset.
    pub fn inception(&self) -> u64 {
        self.inception
    }

    /// Unix seconds.
    pub fn expiration(&self) -> u64 {
        self.expiration
    }

    /// Unix seconds after which [`Signer::sign`] makes new signatures for this RRset. Whoever
    /// publishes signatures elsewhere (the fast path's maps) re-signs and republishes them by
    /// then.
    pub fn renew_at(&self) -> u64 {
        self.renew_at
    }

    fn fresh(&self, now: u64) -> bool {
        // A clock set back before the inception would make validators reject them.
        self.inception <= now && now < self.renew_at
    }
}

/// RRSIG records in wire format, ready to append after an answer (see
/// [`Rrsigs::wire_after_question`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireRrsigs {
    /// Records in `bytes`: add it to the answer count.
    pub count: u16,
    pub bytes: Vec<u8>,
}

fn check_config(config: &SigningConfig) -> Result<(), DnssecError> {
    let bad = |problem: &str| {
        Err(DnssecError::BadSigningConfig {
            problem: problem.to_string(),
        })
    };
    // RFC 4034 §3.1.5: serial-number arithmetic only orders times less than 2^31 s apart.
    let max = Duration::from_secs(1 << 30);
    if config.validity.is_zero() || config.validity > max {
        return bad("the signature validity must be more than 0 and less than 34 years");
    }
    if config.refresh.is_zero() || config.refresh >= config.validity {
        return bad("the refresh period must be more than 0 and less than the validity");
    }
    if config.inception_offset > max {
        return bad("the inception offset must be less than 34 years");
    }
    if config.cache_capacity == 0 {
        return bad("the signature cache needs room for at least one RRset");
    }
    Ok(())
}

fn apex_rrsets(zone: &Name, keys: &[ZoneKey], ttl: u32) -> Vec<RrSet> {
    let offered: Vec<&ZoneKey> = keys
        .iter()
        .filter(|key| key.role().signs_keys() && key.state() != KeyState::Retired)
        .collect();
    let rrset = |rtype, rdata: Vec<RData>| RrSet {
        name: zone.clone(),
        rtype,
        ttl,
        rdata,
    };
    let mut apex = vec![rrset(
        RecordType::DNSKEY,
        keys.iter()
            .map(|key| RData::DNSSEC(DNSSECRData::DNSKEY(key.dnskey().clone())))
            .collect(),
    )];
    // Every active KSK is offered, and one is required, so these are never empty.
    apex.push(rrset(
        RecordType::CDS,
        offered
            .iter()
            .map(|key| RData::DNSSEC(DNSSECRData::CDS(key.cds())))
            .collect(),
    ));
    apex.push(rrset(
        RecordType::CDNSKEY,
        offered
            .iter()
            .map(|key| RData::DNSSEC(DNSSECRData::CDNSKEY(key.cdnskey())))
            .collect(),
    ));
    apex
}
