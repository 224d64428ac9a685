//! The sign-setup stage of the catalog: each zone with `dnssec = true` gets its signer and the
//! signer's DNSKEY, CDS and CDNSKEY RRsets at its apex.
//!
//! A signer's signature cache is what makes online signing cheap, so a reload keeps the
//! signer of a zone whose keys and settings did not change: the signers in service are
//! remembered (weakly: a signer lives only as long as zones in service hold it) and one with
//! the same zone, the same key files in the same states and the same settings is reused.
//! A key state change (a rollover step) or new settings make a new signer, with a cold cache.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use hickory_proto::rr::Name;

use crate::config::{
    dnssec::{signing_config, zone_key_dir},
    Config,
};
use crate::dnssec::{test_hook, DnssecError, KeyDir, Signer, SigningConfig};
use crate::zone::Zone;

/// Why the zones could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("config file {}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("zone {zone} has DNSSEC on, but its key directory {} does not exist; create it and the zone's keys with `dns-xdp keys generate --zone {zone} --dir {}`", dir.display(), dir.display())]
    NoKeyDir { zone: String, dir: PathBuf },
    #[error("zone {zone} has DNSSEC on, but its keys in {} cannot be used: {source}", dir.display())]
    Keys {
        zone: String,
        dir: PathBuf,
        #[source]
        source: Box<DnssecError>,
    },
    #[error("zone {zone}: its largest TTL ({ttl} s) is longer than the {refresh} s of validity a signature has left when it is renewed, so cached answers could outlive their signatures; raise [dnssec] validity above {} s or lower the TTL", u64::from(*ttl) * 4)]
    TtlTooLong {
        zone: String,
        ttl: u32,
        refresh: u64,
    },
}

/// The signers of the zones of `config` (loaded from `config_path`) that have DNSSEC on: loads
/// each one's keys, makes its signer (or takes the one already serving it when nothing
/// changed) and adds the DNSKEY, CDS and CDNSKEY RRsets to its apex, replacing any the zone
/// file has. `zones` are the zones of `config`, in any order; the signers come in the same
/// order, None for a zone served unsigned. Fails, naming the zone, the key directory and what
/// to do, if any signed zone's keys are missing or unusable.
pub fn prepare(
    config: &Config,
    config_path: &Path,
    zones: &mut [Zone],
) -> Result<Vec<Option<Arc<Signer>>>, SetupError> {
    let invalid = |message: String| SetupError::Config {
        path: config_path.to_path_buf(),
        message,
    };
    let signing = signing_config(config.dnssec.as_ref()).map_err(invalid)?;
    let sources = config.zone_sources(config_path);
    let mut signers = vec![None; zones.len()];
    for (zone_config, source) in config.zones.iter().zip(&sources) {
        let Some(dir) =
            zone_key_dir(zone_config, config.dnssec.as_ref(), config_path).map_err(invalid)?
        else {
            continue;
        };
        let Some(at) = zones.iter().position(|z| z.origin() == &source.origin) else {
            continue;
        };
        let zone = &mut zones[at];
        let signer = signer_for(&source.origin, &dir, &signing).map_err(|source| match source {
            DnssecError::NoKeyDir { .. } => SetupError::NoKeyDir {
                zone: zone.origin().to_string(),
                dir: dir.clone(),
            },
            source => SetupError::Keys {
                zone: zone.origin().to_string(),
                dir: dir.clone(),
                source: Box::new(source),
            },
        })?;
        let ttl = zone
            .rrsets()
            .map(|set| set.ttl)
            .chain([signing.dnskey_ttl])
            .max()
            .unwrap_or(0);
        if u64::from(ttl) > signing.refresh.as_secs() {
            return Err(SetupError::TtlTooLong {
                zone: zone.origin().to_string(),
                ttl,
                refresh: signing.refresh.as_secs(),
            });
        }
        for rrset in signer.apex_rrsets() {
            zone.insert_rrset(rrset.clone());
        }
        signers[at] = Some(signer);
    }
    test_hook::announce();
    Ok(signers)
}

/// Signers in service, to reuse across reloads.
static LIVE: Mutex<Vec<Weak<Signer>>> = Mutex::new(Vec::new());

/// The signer for `zone` with the keys in `dir`: one in service if its keys and settings are
/// the same, else a new one.
fn signer_for(zone: &Name, dir: &Path, config: &SigningConfig) -> Result<Arc<Signer>, DnssecError> {
    let keys = KeyDir::open(dir)?.load(zone)?;
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|signer| signer.strong_count() > 0);
    let same = |signer: &Signer| {
        signer.zone() == &zone.to_lowercase()
            && signer.config() == config
            && signer.keys().len() == keys.len()
            && signer.keys().iter().zip(&keys).all(|(a, b)| {
                a.file_stem() == b.file_stem()
                    && a.role() == b.role()
                    && a.state() == b.state()
                    && a.dnskey() == b.dnskey()
            })
    };
    if let Some(signer) = live
        .iter()
        .filter_map(Weak::upgrade)
        .find(|signer| same(signer))
    {
        return Ok(signer);
    }
    let signer = Arc::new(Signer::new(zone, keys, config.clone())?);
    live.push(Arc::downgrade(&signer));
    Ok(signer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::{generate_zone_keys, KeyAlgorithm, KeyState};
    use std::fs;
    use std::os::unix::fs::DirBuilderExt;

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    struct Setup {
        dir: PathBuf,
        config_path: PathBuf,
    }

    impl Drop for Setup {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    fn setup(label: &str, config: &str) -> (Setup, Config) {
        let dir =
            std::env::temp_dir().join(format!("dns-xdp-zones-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let config_path = dir.join("dns-xdp.toml");
        let config: Config = toml::from_str(config).unwrap();
        (Setup { dir, config_path }, config)
    }

    fn zone(origin: &str, ttl: u32) -> Zone {
        Zone::parse(
            &n(origin),
            &format!("$TTL {ttl}\n@ SOA ns hostmaster 1 2 3 4 300\n@ NS ns\nns A 192.0.2.53\n"),
            "zone",
        )
        .unwrap()
    }

    const CONFIG: &str = "[server]\nxdp_mode = \"off\"\n[dnssec]\nkey_dir = \"keys\"\n\
        [[zone]]\norigin = \"example.com.\"\nfile = \"a\"\ndnssec = true\n\
        [[zone]]\norigin = \"example.org.\"\nfile = \"b\"\n";

    #[test]
    fn signed_zones_get_their_signer_and_apex_key_rrsets() {
        let (s, config) = setup("signed", CONFIG);
        let keys = s.dir.join("keys");
        generate_zone_keys(
            &keys,
            &n("example.com."),
            KeyAlgorithm::EcdsaP256Sha256,
            false,
            0,
        )
        .unwrap();
        let mut zones = vec![zone("example.com.", 300), zone("example.org.", 300)];
        let signers = prepare(&config, &s.config_path, &mut zones).unwrap();
        let signer = signers[0].clone().expect("signed");
        assert!(signers[1].is_none());
        let apex = zones[0].rrsets_at(&n("example.com."));
        for rtype in [RecordType::DNSKEY, RecordType::CDS, RecordType::CDNSKEY] {
            assert!(apex.iter().any(|set| set.rtype == rtype), "{rtype}");
        }
        assert_eq!(
            zones[0]
                .rrset(&n("example.com."), RecordType::DNSKEY)
                .unwrap()
                .rdata
                .len(),
            2
        );

        // A reload with the same keys keeps the signer and its cache.
        let mut again = vec![zone("example.com.", 300), zone("example.org.", 300)];
        let again_signers = prepare(&config, &s.config_path, &mut again).unwrap();
        assert!(Arc::ptr_eq(&signer, again_signers[0].as_ref().unwrap()));

        // A key state change makes a new one.
        let key_dir = KeyDir::open(&keys).unwrap();
        let mut loaded = key_dir.load(&n("example.com.")).unwrap();
        let zsk = loaded
            .iter_mut()
            .find(|k| k.role() == crate::dnssec::KeyRole::Zsk)
            .unwrap();
        let new_zsk = key_dir
            .generate(
                &n("example.com."),
                KeyAlgorithm::EcdsaP256Sha256,
                crate::dnssec::KeyRole::Zsk,
                KeyState::Published,
                1,
            )
            .unwrap();
        assert_ne!(zsk.tag(), new_zsk.tag());
        let mut third = vec![zone("example.com.", 300), zone("example.org.", 300)];
        let third_signers = prepare(&config, &s.config_path, &mut third).unwrap();
        let third_signer = third_signers[0].as_ref().unwrap();
        assert!(!Arc::ptr_eq(&signer, third_signer));
        assert_eq!(third_signer.keys().len(), 3);
    }

    #[test]
    fn missing_keys_name_the_zone_the_directory_and_the_command() {
        let (s, config) = setup("missing", CONFIG);
        let mut zones = vec![zone("example.com.", 300)];
        let e = prepare(&config, &s.config_path, &mut zones)
            .unwrap_err()
            .to_string();
        let dir = s.dir.join("keys").display().to_string();
        assert!(
            e.contains(&format!(
                "dns-xdp keys generate --zone example.com. --dir {dir}"
            )),
            "{e}"
        );
        fs::DirBuilder::new()
            .mode(0o700)
            .create(s.dir.join("keys"))
            .unwrap();
        let e = prepare(&config, &s.config_path, &mut zones)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no keys for zone example.com.") && e.contains("dns-xdp keys generate"),
            "{e}"
        );
        // Nothing half done: no keys, no DNSKEY at the apex.
        let apex = n("example.com.");
        assert!(zones[0]
            .rrset(&apex, hickory_proto::rr::RecordType::DNSKEY)
            .is_none());
    }

    #[test]
    fn ttls_must_stay_below_the_renewal_margin() {
        let (s, config) = setup(
            "ttl",
            "[server]\nxdp_mode = \"off\"\n[dnssec]\nvalidity = \"1h\"\n\
             [[zone]]\norigin = \"example.com.\"\nfile = \"a\"\nkey_dir = \"k\"\n",
        );
        generate_zone_keys(
            &s.dir.join("k"),
            &n("example.com."),
            KeyAlgorithm::Ed25519,
            true,
            0,
        )
        .unwrap();
        let mut zones = vec![zone("example.com.", 3600)];
        let e = prepare(&config, &s.config_path, &mut zones)
            .unwrap_err()
            .to_string();
        assert!(e.contains("3600 s") && e.contains("validity"), "{e}");
    }

    use hickory_proto::rr::RecordType;
}
