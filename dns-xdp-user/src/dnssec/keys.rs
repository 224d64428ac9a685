//! Zone keys and the key directory that holds them.
//!
//! Each key is three files named after BIND's convention, `K<zone>+<algorithm>+<key tag>`:
//!
//! - `.key`: the DNSKEY record in zone-file syntax (public);
//! - `.private`: the private key in BIND's `Private-key-format: v1.3` (the raw ECDSA scalar or
//!   Ed25519 seed, base64);
//! - `.meta`: dns-xdp's own TOML: role (ksk, zsk, csk), state (published, active, retired)
//!   and creation time. It is the only file dns-xdp rewrites; the key files never change.
//!
//! See the module documentation of [`crate::dnssec`] for why this format.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::dnssec::rdata::{CDNSKEY, CDS, DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf};
use hickory_proto::rr::Name;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

use super::bind;
use super::DnssecError;

/// DNSKEY flags (RFC 4034 §2.1.1): Zone Key, plus Secure Entry Point for keys the parent's DS
/// points at.
const FLAGS_ZONE_KEY: u16 = 0x0100;
const FLAGS_SEP: u16 = 0x0001;

/// Signing algorithms dns-xdp generates and uses: the two RFC 8624 recommends for signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAlgorithm {
    /// Algorithm 13, ECDSA P-256 with SHA-256 (RFC 6605): what every validator supports.
    EcdsaP256Sha256,
    /// Algorithm 15, Ed25519 (RFC 8080): smaller, deterministic signatures.
    Ed25519,
}

impl KeyAlgorithm {
    /// The DNSSEC algorithm number.
    pub fn number(self) -> u8 {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => 13,
            KeyAlgorithm::Ed25519 => 15,
        }
    }

    pub fn from_number(number: u8) -> Option<KeyAlgorithm> {
        match number {
            13 => Some(KeyAlgorithm::EcdsaP256Sha256),
            15 => Some(KeyAlgorithm::Ed25519),
            _ => None,
        }
    }

    /// The IANA mnemonic, as BIND writes it in private key files.
    pub fn mnemonic(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => "ECDSAP256SHA256",
            KeyAlgorithm::Ed25519 => "ED25519",
        }
    }

    pub(crate) fn hickory(self) -> Algorithm {
        match self {
            KeyAlgorithm::EcdsaP256Sha256 => Algorithm::ECDSAP256SHA256,
            KeyAlgorithm::Ed25519 => Algorithm::ED25519,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.number(), self.mnemonic())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = String;

    /// Accepts the number or the mnemonic, in any case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let by_number = text.parse::<u8>().ok().and_then(KeyAlgorithm::from_number);
        let by_name = [KeyAlgorithm::EcdsaP256Sha256, KeyAlgorithm::Ed25519]
            .into_iter()
            .find(|alg| alg.mnemonic().eq_ignore_ascii_case(text));
        by_number.or(by_name).ok_or_else(|| {
            format!(
                "unsupported algorithm `{text}`: use 13 (ECDSAP256SHA256, the default) or 15 (ED25519)"
            )
        })
    }
}

/// What a key signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyRole {
    /// Key-signing key: signs the DNSKEY, CDS and CDNSKEY RRsets; the parent's DS points at it.
    Ksk,
    /// Zone-signing key: signs everything else.
    Zsk,
    /// Combined signing key: both at once.
    Csk,
}

impl KeyRole {
    /// Signs the apex key RRsets (DNSKEY, CDS, CDNSKEY) and is what the parent's DS names.
    pub fn signs_keys(self) -> bool {
        matches!(self, KeyRole::Ksk | KeyRole::Csk)
    }

    /// Signs the zone's other RRsets.
    pub fn signs_zone(self) -> bool {
        matches!(self, KeyRole::Zsk | KeyRole::Csk)
    }

    /// The DNSKEY flags: 257 for keys the parent points at, 256 for the others.
    pub fn dnskey_flags(self) -> u16 {
        if self.signs_keys() {
            FLAGS_ZONE_KEY | FLAGS_SEP
        } else {
            FLAGS_ZONE_KEY
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            KeyRole::Ksk => "ksk",
            KeyRole::Zsk => "zsk",
            KeyRole::Csk => "csk",
        }
    }

    pub(super) fn describe(self) -> &'static str {
        match self {
            KeyRole::Ksk => "key-signing key",
            KeyRole::Zsk => "zone-signing key",
            KeyRole::Csk => "combined signing key (KSK and ZSK)",
        }
    }
}

impl fmt::Display for KeyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().to_ascii_uppercase())
    }
}

/// Where a key is in its life. Keys move forward only: published → active → retired, then
/// their files are deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyState {
    /// In the DNSKEY RRset, not signing yet: a pre-published successor (RFC 6781 §4.1.1.1),
    /// so resolvers have it cached before its signatures appear.
    Published,
    /// In the DNSKEY RRset and signing.
    Active,
    /// Still in the DNSKEY RRset, no longer signing: signatures it made may still sit in
    /// caches. A retired KSK or CSK is no longer offered to the parent (CDS, CDNSKEY).
    Retired,
}

impl KeyState {
    fn as_str(self) -> &'static str {
        match self {
            KeyState::Published => "published",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The private half of a key. ring keeps it; it never leaves this module but as signatures.
enum Secret {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// One zone key, loaded and ready to sign.
pub struct ZoneKey {
    zone: Name,
    algorithm: KeyAlgorithm,
    role: KeyRole,
    state: KeyState,
    created: u64,
    dnskey: DNSKEY,
    tag: u16,
    secret: Secret,
    /// `dir/K<zone>+<alg>+<tag>`, the files without their extension.
    stem: PathBuf,
}

impl fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("ZoneKey")
            .field("zone", &self.zone.to_string())
            .field("algorithm", &self.algorithm)
            .field("role", &self.role)
            .field("state", &self.state)
            .field("tag", &self.tag)
            .field("stem", &self.stem)
            .finish()
    }
}

impl ZoneKey {
    pub fn zone(&self) -> &Name {
        &self.zone
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    pub fn role(&self) -> KeyRole {
        self.role
    }

    pub fn state(&self) -> KeyState {
        self.state
    }

    /// Unix seconds.
    pub fn created(&self) -> u64 {
        self.created
    }

    /// The key tag (RFC 4034 Appendix B).
    pub fn tag(&self) -> u16 {
        self.tag
    }

    pub fn dnskey(&self) -> &DNSKEY {
        &self.dnskey
    }

    /// The key's files without their extension (`.key`, `.private`, `.meta`).
    pub fn file_stem(&self) -> &Path {
        &self.stem
    }

    /// The DS record for the parent, with a SHA-256 digest (digest type 2, RFC 4509).
    pub fn ds(&self) -> DS {
        let (tag, digest) = self.sha256_digest();
        DS::new(tag, self.algorithm.hickory(), DigestType::SHA256, digest)
    }

    /// The CDS record (RFC 7344): the DS the child asks the parent to publish.
    pub fn cds(&self) -> CDS {
        let (tag, digest) = self.sha256_digest();
        CDS::new(
            tag,
            Some(self.algorithm.hickory()),
            DigestType::SHA256,
            digest,
        )
    }

    /// The CDNSKEY record (RFC 7344): the DNSKEY the parent computes the DS from.
    pub fn cdnskey(&self) -> CDNSKEY {
        CDNSKEY::with_flags(
            self.dnskey.flags(),
            Some(self.algorithm.hickory()),
            public_key_bytes(&self.dnskey).to_vec(),
        )
    }

    fn sha256_digest(&self) -> (u16, Vec<u8>) {
        // The owner name and DNSKEY RDATA are well-formed by construction; encoding can't fail.
        let digest = self
            .dnskey
            .to_digest(&self.zone, DigestType::SHA256)
            .expect("a loaded DNSKEY encodes");
        (self.tag, digest.as_ref().to_vec())
    }

    /// Signs `data` (the RFC 4034 §3.1.8.1 signed data) into the signature field's bytes:
    /// r | s for ECDSA (RFC 6605 §4), the 64-octet signature for Ed25519 (RFC 8080 §4).
    pub(crate) fn sign(&self, data: &[u8]) -> Result<Vec<u8>, DnssecError> {
        match &self.secret {
            Secret::Ecdsa(pair) => pair
                .sign(&SystemRandom::new(), data)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| DnssecError::Crypto {
                    key: self.stem.clone(),
                    problem: "ECDSA signing failed (no randomness available?)".into(),
                }),
            Secret::Ed25519(pair) => Ok(pair.sign(data).as_ref().to_vec()),
        }
    }
}

/// The public key bytes of a DNSKEY, as they appear in its RDATA.
fn public_key_bytes(dnskey: &DNSKEY) -> &[u8] {
    use hickory_proto::dnssec::PublicKey;
    dnskey.public_key().public_bytes()
}

/// A directory of zone keys, readable by its owner only.
#[derive(Debug, Clone)]
pub struct KeyDir {
    path: PathBuf,
}

impl KeyDir {
    /// Opens an existing key directory. Refuses one that group or others can access.
    pub fn open(path: &Path) -> Result<KeyDir, DnssecError> {
        let meta = fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                DnssecError::NoKeyDir {
                    dir: path.to_path_buf(),
                }
            } else {
                DnssecError::Io {
                    path: path.to_path_buf(),
                    action: "read the key directory",
                    source,
                }
            }
        })?;
        if !meta.is_dir() {
            return Err(DnssecError::NotADirectory {
                path: path.to_path_buf(),
            });
        }
        check_private(path, meta.permissions().mode(), "700")?;
        Ok(KeyDir {
            path: path.to_path_buf(),
        })
    }

    /// Opens the key directory, creating it (mode 0700) if it does not exist yet.
    pub fn create(path: &Path) -> Result<KeyDir, DnssecError> {
        match DirBuilder::new().recursive(true).mode(0o700).create(path) {
            Ok(()) => KeyDir::open(path),
            Err(source) => Err(DnssecError::Io {
                path: path.to_path_buf(),
                action: "create the key directory",
                source,
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Generates a key for `zone`, writes its files (mode 0600) and returns it. Its key tag
    /// differs from every other key of the zone in this directory, so validators never have
    /// to try two keys for one tag.
    pub fn generate(
        &self,
        zone: &Name,
        algorithm: KeyAlgorithm,
        role: KeyRole,
        state: KeyState,
        created: u64,
    ) -> Result<ZoneKey, DnssecError> {
        let zone = zone_name(zone)?;
        let taken: Vec<u16> = self.stems(&zone)?.keys().map(|(_, tag)| *tag).collect();
        // A collision is a 1 in 65536 event per existing key; a few retries make it vanishing.
        for _ in 0..16 {
            let (secret, private_key, public_key) =
                new_secret(algorithm).map_err(|problem| DnssecError::Crypto {
                    key: self.path.clone(),
                    problem: format!("cannot generate an algorithm {algorithm} key: {problem}"),
                })?;
            let dnskey = DNSKEY::with_flags(
                role.dnskey_flags(),
                PublicKeyBuf::new(public_key, algorithm.hickory()),
            );
            let tag = key_tag(&dnskey);
            if taken.contains(&tag) {
                continue;
            }
            let stem = self.path.join(file_stem(&zone, algorithm, tag));
            let key = ZoneKey {
                zone: zone.clone(),
                algorithm,
                role,
                state,
                created,
                dnskey,
                tag,
                secret,
                stem,
            };
            // The private key first: a key without it cannot sign, and loading says so by name.
            write_new(
                &with_extension(&key.stem, "private"),
                &bind::private_file(algorithm, &private_key, created),
            )?;
            write_new(&with_extension(&key.stem, "key"), &bind::key_file(&key))?;
            write_new(&with_extension(&key.stem, "meta"), &bind::meta_file(&key))?;
            return Ok(key);
        }
        Err(DnssecError::Crypto {
            key: self.path.clone(),
            problem: "every generated key had the key tag of an existing key".into(),
        })
    }

    /// Every key of `zone` in this directory, ordered by role and key tag. Each key's three
    /// files must be present, readable and consistent with one another, and the private key
    /// file private; an error names the first file that is not and says what to do.
    pub fn load(&self, zone: &Name) -> Result<Vec<ZoneKey>, DnssecError> {
        let zone = zone_name(zone)?;
        let stems = self.stems(&zone)?;
        if stems.is_empty() {
            return Err(DnssecError::NoKeys {
                zone: zone.to_string(),
                dir: self.path.clone(),
            });
        }
        let mut keys = stems
            .into_iter()
            .map(|((algorithm, tag), stem)| self.load_key(&zone, algorithm, tag, stem))
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by_key(|key| (key.role, key.tag));
        Ok(keys)
    }

    /// Moves `key` to `state`, rewriting its `.meta` file atomically.
    pub fn set_state(&self, key: &mut ZoneKey, state: KeyState) -> Result<(), DnssecError> {
        let previous = key.state;
        key.state = state;
        let path = with_extension(&key.stem, "meta");
        let temporary = with_extension(&key.stem, "meta.tmp");
        let written = (|| {
            let _ = fs::remove_file(&temporary);
            write_new(&temporary, &bind::meta_file(key))?;
            fs::rename(&temporary, &path).map_err(|source| DnssecError::Io {
                path: path.clone(),
                action: "replace",
                source,
            })
        })();
        if written.is_err() {
            key.state = previous;
        }
        written
    }

    /// Deletes `key`'s files: the private key first, so a key caught half deleted can no
    /// longer sign, and loading it names the missing file.
    pub fn remove(&self, key: ZoneKey) -> Result<(), DnssecError> {
        for extension in ["private", "key", "meta"] {
            let path = with_extension(&key.stem, extension);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(DnssecError::Io {
                        path,
                        action: "delete",
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// `(algorithm, tag)` → stem of every key of `zone` whose files are here, whatever they
    /// contain: any one of its three files makes a key exist.
    fn stems(&self, zone: &Name) -> Result<BTreeMap<(u8, u16), PathBuf>, DnssecError> {
        let prefix = format!("K{}+", zone_text(zone));
        let entries = fs::read_dir(&self.path).map_err(|source| DnssecError::Io {
            path: self.path.clone(),
            action: "list the key directory",
            source,
        })?;
        let mut stems = BTreeMap::new();
        for entry in entries {
            let entry = entry.map_err(|source| DnssecError::Io {
                path: self.path.clone(),
                action: "list the key directory",
                source,
            })?;
            let name = entry.file_name();
            let Some(rest) = name.to_str().and_then(|name| name.strip_prefix(&prefix)) else {
                continue;
            };
            let Some((id, extension)) = rest.split_once('.') else {
                continue;
            };
            if !matches!(extension, "key" | "private" | "meta") {
                continue;
            }
            let Some((algorithm, tag)) = id
                .split_once('+')
                .and_then(|(alg, tag)| Some((alg.parse().ok()?, tag.parse().ok()?)))
            else {
                continue;
            };
            stems.insert((algorithm, tag), self.path.join(format!("{prefix}{id}")));
        }
        Ok(stems)
    }

    fn load_key(
        &self,
        zone: &Name,
        algorithm: u8,
        tag: u16,
        stem: PathBuf,
    ) -> Result<ZoneKey, DnssecError> {
        let paths = ["private", "key", "meta"].map(|ext| with_extension(&stem, ext));
        if let Some(missing) = paths.iter().find(|path| !path.exists()) {
            let present = paths
                .iter()
                .find(|path| path.exists())
                .cloned()
                .unwrap_or_else(|| stem.clone());
            return Err(DnssecError::IncompleteKey {
                missing: missing.clone(),
                present,
            });
        }
        let [private_path, key_path, meta_path] = paths;
        let corrupt = |path: &Path, problem: String| DnssecError::CorruptKey {
            path: path.to_path_buf(),
            problem,
        };

        let Some(algorithm) = KeyAlgorithm::from_number(algorithm) else {
            return Err(corrupt(
                &private_path,
                format!("algorithm {algorithm} is not supported (only 13 and 15 are)"),
            ));
        };
        let private_text = read_private(&private_path)?;
        let private = bind::parse_private(&private_text)
            .map_err(|problem| corrupt(&private_path, problem))?;
        if private.algorithm != algorithm {
            return Err(corrupt(
                &private_path,
                format!(
                    "it holds an algorithm {} key but its name says algorithm {}",
                    private.algorithm.number(),
                    algorithm.number()
                ),
            ));
        }
        let dnskey = bind::parse_key(&read_text(&key_path)?, zone, algorithm)
            .map_err(|problem| corrupt(&key_path, problem))?;
        if key_tag(&dnskey) != tag {
            return Err(corrupt(
                &key_path,
                format!(
                    "its DNSKEY has key tag {} but its name says {tag}",
                    key_tag(&dnskey)
                ),
            ));
        }
        let meta = bind::parse_meta(&read_text(&meta_path)?)
            .map_err(|problem| corrupt(&meta_path, problem))?;
        if meta.role.dnskey_flags() != dnskey.flags() {
            return Err(corrupt(
                &meta_path,
                format!(
                    "role {} needs DNSKEY flags {} but {} has flags {}",
                    meta.role.as_str(),
                    meta.role.dnskey_flags(),
                    key_path.display(),
                    dnskey.flags()
                ),
            ));
        }
        let secret = secret_from_parts(algorithm, &private.key, public_key_bytes(&dnskey))
            .ok_or_else(|| {
                corrupt(
                    &private_path,
                    format!(
                        "the private key is not the one of the public key in {}",
                        key_path.display()
                    ),
                )
            })?;
        Ok(ZoneKey {
            zone: zone.clone(),
            algorithm,
            role: meta.role,
            state: meta.state,
            created: meta.created,
            dnskey,
            tag,
            secret,
            stem,
        })
    }
}

/// Generates a KSK and a ZSK, or one CSK, for `zone` in `dir` (created if missing), all
/// active: what `dns-xdp keys generate` does. Refuses a zone that already has keys there, as
/// a second set would double every signature.
pub fn generate_zone_keys(
    dir: &Path,
    zone: &Name,
    algorithm: KeyAlgorithm,
    csk: bool,
    now: u64,
) -> Result<Vec<ZoneKey>, DnssecError> {
    let key_dir = KeyDir::create(dir)?;
    let zone = zone_name(zone)?;
    if let Some(stem) = key_dir.stems(&zone)?.into_values().next() {
        return Err(DnssecError::KeysExist {
            zone: zone.to_string(),
            existing: stem,
        });
    }
    let roles: &[KeyRole] = if csk {
        &[KeyRole::Csk]
    } else {
        &[KeyRole::Ksk, KeyRole::Zsk]
    };
    roles
        .iter()
        .map(|&role| key_dir.generate(&zone, algorithm, role, KeyState::Active, now))
        .collect()
}

/// What the parent needs, in zone-file syntax: for each KSK or CSK that is not retired, its DS
/// record (SHA-256) and the CDS and CDNSKEY records that ask for it (RFC 7344). dns-xdp serves
/// the CDS and CDNSKEY itself; they are printed for checking.
pub fn parent_records(keys: &[ZoneKey]) -> String {
    let mut text = String::new();
    for key in keys
        .iter()
        .filter(|key| key.role.signs_keys() && key.state != KeyState::Retired)
    {
        let owner = zone_text(&key.zone);
        text.push_str(&format!(
            "; {} {}, algorithm {}, {}\n{owner} IN DS {}\n{owner} IN CDS {}\n{owner} IN CDNSKEY {}\n",
            key.role.describe(),
            key.tag,
            key.algorithm,
            key.state,
            key.ds(),
            key.cds(),
            key.cdnskey(),
        ));
    }
    text
}

/// The key tag of a DNSKEY (RFC 4034 Appendix B), from its wire-format RDATA.
pub fn key_tag(dnskey: &DNSKEY) -> u16 {
    // Our DNSKEYs always encode; the error case is a malformed key from elsewhere.
    dnskey.calculate_key_tag().unwrap_or(0)
}

/// A fresh private key: ring's key pair, the private key as BIND stores it, and the public key
/// as DNSKEY carries it. Fails only without a source of randomness.
fn new_secret(algorithm: KeyAlgorithm) -> Result<(Secret, Vec<u8>, Vec<u8>), String> {
    let rng = SystemRandom::new();
    let no_randomness = || "the system has no randomness to offer".to_string();
    match algorithm {
        KeyAlgorithm::EcdsaP256Sha256 => {
            // ring only hands out new ECDSA keys as PKCS#8; BIND's format wants the scalar.
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| no_randomness())?;
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .map_err(|e| e.to_string())?;
            let scalar = bind::ec_private_scalar(pkcs8.as_ref())
                .ok_or("ring's PKCS#8 document has an unexpected layout")?
                .to_vec();
            // DNSKEY holds the point without the SEC1 uncompressed-form prefix 0x04.
            let public = pair.public_key().as_ref()[1..].to_vec();
            Ok((Secret::Ecdsa(pair), scalar, public))
        }
        KeyAlgorithm::Ed25519 => {
            let mut seed = [0u8; 32];
            ring::rand::SecureRandom::fill(&rng, &mut seed).map_err(|_| no_randomness())?;
            let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|e| e.to_string())?;
            let public = pair.public_key().as_ref().to_vec();
            Ok((Secret::Ed25519(pair), seed.to_vec(), public))
        }
    }
}

/// ring's key pair from the private key and the DNSKEY's public key; None if they don't
/// belong together (ring checks).
fn secret_from_parts(algorithm: KeyAlgorithm, private: &[u8], public: &[u8]) -> Option<Secret> {
    match algorithm {
        KeyAlgorithm::EcdsaP256Sha256 => {
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(public);
            EcdsaKeyPair::from_private_key_and_public_key(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                private,
                &point,
                &SystemRandom::new(),
            )
            .ok()
            .map(Secret::Ecdsa)
        }
        KeyAlgorithm::Ed25519 => Ed25519KeyPair::from_seed_and_public_key(private, public)
            .ok()
            .map(Secret::Ed25519),
    }
}

/// The zone name as stored: lowercase and fully qualified. Refuses names that cannot be part
/// of a file name.
fn zone_name(zone: &Name) -> Result<Name, DnssecError> {
    let mut zone = zone.to_lowercase();
    zone.set_fqdn(true);
    let text = zone_text(&zone);
    if text.contains('/') || text.contains('\0') {
        return Err(DnssecError::UnusableZoneName { zone: text });
    }
    Ok(zone)
}

/// Presentation form with the trailing dot, as in BIND's file names (`Kexample.com.+013+…`).
pub(crate) fn zone_text(zone: &Name) -> String {
    let text = zone.to_ascii();
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}

fn file_stem(zone: &Name, algorithm: KeyAlgorithm, tag: u16) -> String {
    format!("K{}+{:03}+{:05}", zone_text(zone), algorithm.number(), tag)
}

fn with_extension(stem: &Path, extension: &str) -> PathBuf {
    let mut path = stem.as_os_str().to_owned();
    path.push(".");
    path.push(extension);
    PathBuf::from(path)
}

/// Refuses `path` if group or others have any access to it, as ssh does for private keys.
fn check_private(path: &Path, mode: u32, fix: &str) -> Result<(), DnssecError> {
    if mode & 0o077 != 0 {
        return Err(DnssecError::InsecurePermissions {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
            fix: format!("chmod {fix} {}", path.display()),
        });
    }
    Ok(())
}

fn read_private(path: &Path) -> Result<String, DnssecError> {
    let mode = fs::metadata(path)
        .map_err(|source| DnssecError::Io {
            path: path.to_path_buf(),
            action: "read",
            source,
        })?
        .permissions()
        .mode();
    check_private(path, mode, "600")?;
    read_text(path)
}

fn read_text(path: &Path) -> Result<String, DnssecError> {
    let bytes = fs::read(path).map_err(|source| DnssecError::Io {
        path: path.to_path_buf(),
        action: "read",
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| DnssecError::CorruptKey {
        path: path.to_path_buf(),
        problem: "it is not text".into(),
    })
}

/// Writes a file that must not exist yet, readable by its owner only, and syncs it.
fn write_new(path: &Path, contents: &str) -> Result<(), DnssecError> {
    let io = |source| DnssecError::Io {
        path: path.to_path_buf(),
        action: "write",
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    pub(crate) fn temp_dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dns-xdp-keys-{label}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn generate_writes_private_files_and_loads_back() {
        for (algorithm, csk) in [
            (KeyAlgorithm::EcdsaP256Sha256, false),
            (KeyAlgorithm::Ed25519, true),
        ] {
            let dir = temp_dir(&format!("gen{}", algorithm.number())).join("keys");
            let keys =
                generate_zone_keys(&dir, &n("Example.COM"), algorithm, csk, 1_700_000_000).unwrap();
            assert_eq!(keys.len(), if csk { 1 } else { 2 });
            assert_eq!(mode(&dir), 0o700);
            for key in &keys {
                assert_eq!(key.zone(), &n("example.com."));
                for ext in ["key", "private", "meta"] {
                    let path = with_extension(key.file_stem(), ext);
                    assert_eq!(mode(&path), 0o600, "{}", path.display());
                }
                let name = key.file_stem().file_name().unwrap().to_str().unwrap();
                assert_eq!(
                    name,
                    format!("Kexample.com.+{:03}+{:05}", algorithm.number(), key.tag())
                );
            }
            let loaded = KeyDir::open(&dir)
                .unwrap()
                .load(&n("example.com."))
                .unwrap();
            let summary = |keys: &[ZoneKey]| -> Vec<_> {
                keys.iter()
                    .map(|k| {
                        (
                            k.role(),
                            k.state(),
                            k.tag(),
                            k.created(),
                            k.dnskey().clone(),
                        )
                    })
                    .collect()
            };
            let mut generated = summary(&keys);
            generated.sort_by_key(|k| (k.0, k.2));
            assert_eq!(summary(&loaded), generated);
            // A loaded key signs like the generated one: same public key, and it verifies.
            let signature = loaded[0].sign(b"data").unwrap();
            use hickory_proto::dnssec::PublicKey;
            loaded[0]
                .dnskey()
                .public_key()
                .verify(b"data", &signature)
                .unwrap();

            let again = generate_zone_keys(&dir, &n("example.com."), algorithm, csk, 0);
            assert!(
                matches!(again, Err(DnssecError::KeysExist { .. })),
                "{again:?}"
            );
            fs::remove_dir_all(dir.parent().unwrap()).unwrap();
        }
    }

    #[test]
    fn roles_flags_and_states() {
        let dir = temp_dir("roles");
        let key_dir = KeyDir::create(&dir).unwrap();
        let zone = n("example.net.");
        let ksk = key_dir
            .generate(
                &zone,
                KeyAlgorithm::Ed25519,
                KeyRole::Ksk,
                KeyState::Active,
                1,
            )
            .unwrap();
        let mut zsk = key_dir
            .generate(
                &zone,
                KeyAlgorithm::Ed25519,
                KeyRole::Zsk,
                KeyState::Published,
                2,
            )
            .unwrap();
        assert_eq!(ksk.dnskey().flags(), 257);
        assert_eq!(zsk.dnskey().flags(), 256);
        assert!(ksk.dnskey().secure_entry_point() && ksk.dnskey().zone_key());
        assert_ne!(ksk.tag(), zsk.tag());

        key_dir.set_state(&mut zsk, KeyState::Active).unwrap();
        assert_eq!(zsk.state(), KeyState::Active);
        let loaded = key_dir.load(&zone).unwrap();
        assert_eq!(loaded[1].state(), KeyState::Active);
        assert_eq!(loaded[1].created(), 2);
        assert!(!with_extension(zsk.file_stem(), "meta.tmp").exists());

        // Another zone's keys in the same directory are not this zone's.
        assert!(matches!(
            key_dir.load(&n("example.org.")),
            Err(DnssecError::NoKeys { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_keys_others_can_read() {
        let dir = temp_dir("perms");
        let keys =
            generate_zone_keys(&dir, &n("example.com."), KeyAlgorithm::Ed25519, true, 0).unwrap();
        let private = with_extension(keys[0].file_stem(), "private");

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = KeyDir::open(&dir).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("chmod 700 {}", dir.display())),
            "{message}"
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();

        fs::set_permissions(&private, fs::Permissions::from_mode(0o640)).unwrap();
        let err = KeyDir::open(&dir)
            .unwrap()
            .load(&n("example.com."))
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&private.display().to_string()),
            "{message}"
        );
        assert!(message.contains("chmod 600"), "{message}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_and_corrupt_files_are_named() {
        let dir = temp_dir("corrupt");
        let zone = n("example.com.");
        assert!(matches!(
            KeyDir::open(&dir),
            Err(DnssecError::NoKeyDir { .. })
        ));
        let keys = generate_zone_keys(&dir, &zone, KeyAlgorithm::EcdsaP256Sha256, true, 0).unwrap();
        let stem = keys[0].file_stem().to_path_buf();
        let key_dir = KeyDir::open(&dir).unwrap();
        let load_error = || key_dir.load(&zone).unwrap_err().to_string();

        let meta = with_extension(&stem, "meta");
        let saved_meta = fs::read_to_string(&meta).unwrap();
        fs::remove_file(&meta).unwrap();
        let message = load_error();
        assert!(message.contains(&meta.display().to_string()), "{message}");
        assert!(message.contains("missing"), "{message}");
        write_new(&meta, "role = \"boss\"\n").unwrap();
        let message = load_error();
        assert!(message.contains(&meta.display().to_string()), "{message}");
        fs::remove_file(&meta).unwrap();
        write_new(&meta, &saved_meta.replace("csk", "zsk")).unwrap();
        let message = load_error();
        assert!(message.contains("flags"), "{message}");
        fs::remove_file(&meta).unwrap();
        write_new(&meta, &saved_meta).unwrap();

        let private = with_extension(&stem, "private");
        let saved_private = fs::read_to_string(&private).unwrap();
        fs::remove_file(&private).unwrap();
        write_new(
            &private,
            "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: !!!\n",
        )
        .unwrap();
        let message = load_error();
        assert!(
            message.contains(&private.display().to_string()),
            "{message}"
        );
        assert!(message.contains("base64"), "{message}");

        // Another key's private half: the pair does not match.
        fs::remove_file(&private).unwrap();
        let (_, other, _) = new_secret(KeyAlgorithm::EcdsaP256Sha256).unwrap();
        write_new(
            &private,
            &bind::private_file(KeyAlgorithm::EcdsaP256Sha256, &other, 0),
        )
        .unwrap();
        let message = load_error();
        assert!(
            message.contains("not the one of the public key"),
            "{message}"
        );
        fs::remove_file(&private).unwrap();
        write_new(&private, &saved_private).unwrap();

        let key = with_extension(&stem, "key");
        let saved_key = fs::read_to_string(&key).unwrap();
        fs::remove_file(&key).unwrap();
        write_new(
            &key,
            &saved_key.replace("example.com. IN", "example.org. IN"),
        )
        .unwrap();
        let message = load_error();
        assert!(message.contains(&key.display().to_string()), "{message}");
        assert!(key_dir.load(&zone).is_err());
        fs::remove_file(&key).unwrap();
        write_new(&key, &saved_key).unwrap();
        assert_eq!(key_dir.load(&zone).unwrap().len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn algorithm_names() {
        assert_eq!("13".parse(), Ok(KeyAlgorithm::EcdsaP256Sha256));
        assert_eq!("ed25519".parse(), Ok(KeyAlgorithm::Ed25519));
        assert!("8".parse::<KeyAlgorithm>().unwrap_err().contains("13"));
        assert_eq!(KeyAlgorithm::Ed25519.to_string(), "15 (ED25519)");
    }
}
