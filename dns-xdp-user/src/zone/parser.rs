//! Master-file parsing (RFC 1035 §5) and zone validation.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use hickory_proto::rr::{Name, RData, RecordType};
use log::warn;

use super::lexer::{Entry, LexError, Lexer, Token};
use super::rdata::{self, RdataError};
use super::text::{self, Class};
use super::{Location, RrSet, Zone, ZoneError};

/// `$INCLUDE` nesting limit: deep enough for any sane layout, and stops include loops.
const MAX_INCLUDE_DEPTH: usize = 16;

pub(super) fn load(origin: &Name, path: &Path) -> Result<Zone, ZoneError> {
    let text = fs::read(path).map_err(|source| ZoneError::Read {
        path: path.to_owned(),
        source,
    })?;
    build(origin, &text, path.display().to_string(), path.parent()).map(log_warnings)
}

pub(super) fn parse(origin: &Name, text: &[u8], file_label: &str) -> Result<Zone, ZoneError> {
    build(origin, text, file_label.to_owned(), None).map(log_warnings)
}

fn log_warnings((zone, warnings): (Zone, Vec<String>)) -> Zone {
    for warning in warnings {
        warn!("{warning}");
    }
    zone
}

/// `dir` is where relative `$INCLUDE` paths start; `None` means the current directory. Returns
/// the zone and what is wrong with it but does not stop it from being served.
fn build(
    origin: &Name,
    text: &[u8],
    label: String,
    dir: Option<&Path>,
) -> Result<(Zone, Vec<String>), ZoneError> {
    let mut origin = origin.to_lowercase();
    origin.set_fqdn(true);
    let mut builder = Builder {
        origin: origin.clone(),
        files: vec![label],
        default_ttl: None,
        soa: None,
        pending: Vec::new(),
        scratch: Vec::with_capacity(256),
        warnings: Vec::new(),
    };
    let end_line = builder.parse_file(text, 0, dir, origin, 0)?;
    builder.finish(SrcLoc {
        file: 0,
        line: end_line,
    })
}

/// A compact location: index into `Builder::files` and line.
#[derive(Debug, Clone, Copy)]
struct SrcLoc {
    file: u32,
    line: u32,
}

/// An RRset as loaded, before same-key pieces from different parts of the files are merged.
struct Pending {
    set: RrSet,
    /// Where its first record was.
    at: SrcLoc,
}

struct Builder {
    origin: Name,
    /// Labels of the files read, for locations.
    files: Vec<String>,
    /// From `$TTL`; applies to the rest of the zone, included files too.
    default_ttl: Option<u32>,
    /// The apex SOA's MINIMUM field and location, once seen.
    soa: Option<(u32, SrcLoc)>,
    pending: Vec<Pending>,
    scratch: Vec<u8>,
    /// Problems that don't stop the zone from loading, each starting with its location.
    warnings: Vec<String>,
}

/// Parse state local to one file: `$INCLUDE` must not change the includer's origin (RFC 1035
/// §5.1) nor, by the same reasoning, which owner an indented line continues.
struct FileState {
    file: u32,
    dir: Option<PathBuf>,
    origin: Name,
    last_owner: Option<Name>,
    depth: usize,
}

impl Builder {
    /// Parses one file's text into `self.pending`; returns the number of its last line.
    fn parse_file(
        &mut self,
        text: &[u8],
        file: u32,
        dir: Option<&Path>,
        origin: Name,
        depth: usize,
    ) -> Result<u32, ZoneError> {
        let mut state = FileState {
            file,
            dir: dir.map(Path::to_owned),
            origin,
            last_owner: None,
            depth,
        };
        let mut lexer = Lexer::new(text);
        let mut tokens = Vec::new();
        while let Some(entry) = lexer
            .next_entry(&mut tokens)
            .map_err(|e| self.lex_error(file, e))?
        {
            if !tokens[0].quoted && tokens[0].text.starts_with(b"$") {
                self.directive(&mut state, entry, &tokens)?;
            } else {
                self.record(&mut state, entry, &tokens)?;
            }
        }
        Ok(lexer.last_line())
    }

    fn directive(
        &mut self,
        state: &mut FileState,
        entry: Entry,
        tokens: &[Token<'_>],
    ) -> Result<(), ZoneError> {
        let name = tokens[0].text;
        let args = &tokens[1..];
        let at = self.at(state.file, entry.line);
        let arg_count = |min: usize, max: usize, usage: &str| {
            if (min..=max).contains(&args.len()) {
                Ok(())
            } else {
                Err(ZoneError::Syntax {
                    at: at.clone(),
                    problem: format!(
                        "{} takes {} but has {}",
                        String::from_utf8_lossy(name),
                        if min == max {
                            format!("{min} argument")
                        } else {
                            format!("{min} or {max} arguments")
                        },
                        args.len()
                    ),
                    fix: format!("write `{usage}`"),
                })
            }
        };
        if name.eq_ignore_ascii_case(b"$ORIGIN") {
            arg_count(1, 1, "$ORIGIN <domain name>")?;
            state.origin = self.name(state, &args[0])?;
        } else if name.eq_ignore_ascii_case(b"$TTL") {
            arg_count(1, 1, "$TTL <ttl>")?;
            let ttl = text::parse_ttl(args[0].text).map_err(|problem| ZoneError::Syntax {
                at: at.clone(),
                problem,
                fix: "fix the $TTL value".into(),
            })?;
            self.default_ttl = Some(ttl);
        } else if name.eq_ignore_ascii_case(b"$INCLUDE") {
            arg_count(1, 2, "$INCLUDE <file> [<origin>]")?;
            let origin = match args.get(1) {
                Some(token) => self.name(state, token)?,
                None => state.origin.clone(),
            };
            self.include(state, at, &args[0], origin)?;
        } else {
            return Err(ZoneError::Syntax {
                at,
                problem: format!("unsupported directive {}", String::from_utf8_lossy(name)),
                fix: "use $ORIGIN, $TTL or $INCLUDE (expand $GENERATE ranges into records)".into(),
            });
        }
        Ok(())
    }

    fn include(
        &mut self,
        state: &FileState,
        at: Location,
        path_token: &Token<'_>,
        origin: Name,
    ) -> Result<(), ZoneError> {
        let path = text::unescape_all(path_token.text)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| ZoneError::Syntax {
                at: at.clone(),
                problem: format!(
                    "the $INCLUDE path `{}` has a bad escape or is not UTF-8",
                    String::from_utf8_lossy(path_token.text)
                ),
                fix: "fix the path or rename the file".into(),
            })?;
        let path = match &state.dir {
            Some(dir) => dir.join(path),
            None => PathBuf::from(path),
        };
        if state.depth >= MAX_INCLUDE_DEPTH {
            return Err(ZoneError::IncludeTooDeep {
                at,
                path,
                max: MAX_INCLUDE_DEPTH,
            });
        }
        let text = fs::read(&path).map_err(|source| ZoneError::Include {
            at,
            path: path.clone(),
            source,
        })?;
        let file = self.files.len() as u32;
        self.files.push(path.display().to_string());
        self.parse_file(&text, file, path.parent(), origin, state.depth + 1)?;
        Ok(())
    }

    fn record(
        &mut self,
        state: &mut FileState,
        entry: Entry,
        tokens: &[Token<'_>],
    ) -> Result<(), ZoneError> {
        let mut rest = tokens;
        let owner = if entry.blank_start {
            state.last_owner.clone().ok_or_else(|| ZoneError::Syntax {
                at: self.at(state.file, entry.line),
                problem: "the line starts with a blank, so it continues the previous owner, but there is none".into(),
                fix: "start the line with the owner name".into(),
            })?
        } else {
            rest = &tokens[1..];
            let owner = self.owner_name(state, &tokens[0])?;
            state.last_owner = Some(owner.clone());
            owner
        };

        // Up to one TTL and one class, in either order (RFC 1035 §5.1).
        let mut ttl = None;
        let mut class_seen = false;
        while let Some(token) = rest.first().filter(|t| !t.quoted) {
            if ttl.is_none() && token.text.first().is_some_and(u8::is_ascii_digit) {
                let value = text::parse_ttl(token.text).map_err(|problem| ZoneError::Syntax {
                    at: self.at(state.file, token.line),
                    problem,
                    fix: "fix the record's TTL".into(),
                })?;
                ttl = Some(value);
            } else if let (false, Some(class)) = (class_seen, text::parse_class(token.text)) {
                if class != Class::In {
                    return Err(ZoneError::UnsupportedClass {
                        at: self.at(state.file, token.line),
                        class: String::from_utf8_lossy(token.text).into_owned(),
                    });
                }
                class_seen = true;
            } else {
                break;
            }
            rest = &rest[1..];
        }

        let Some((type_token, fields)) = rest.split_first() else {
            return Err(ZoneError::Syntax {
                at: self.at(state.file, entry.line),
                problem: "the record has no type".into(),
                fix: "write `<owner> [<ttl>] [IN] <type> <rdata>`".into(),
            });
        };
        let files = &self.files;
        let at = |line| {
            loc(
                files,
                SrcLoc {
                    file: state.file,
                    line,
                },
            )
        };
        let rtype = match text::parse_type(type_token.text) {
            Some(rtype) if type_token.quoted => {
                return Err(ZoneError::Syntax {
                    at: at(type_token.line),
                    problem: format!("the type {rtype} is quoted"),
                    fix: "write the type without quotes".into(),
                })
            }
            Some(rtype) if text::is_meta_type(rtype) => {
                return Err(ZoneError::MetaType {
                    at: at(type_token.line),
                    rtype,
                })
            }
            Some(rtype) => rtype,
            None => {
                return Err(ZoneError::UnknownType {
                    at: at(type_token.line),
                    rtype: String::from_utf8_lossy(type_token.text).into_owned(),
                })
            }
        };
        let rdata = rdata::parse(
            rtype,
            fields,
            type_token.line,
            &state.origin,
            &mut self.scratch,
        )
        .map_err(|e| match e {
            RdataError::Bad { line, problem } => ZoneError::BadRdata {
                at: at(line),
                rtype,
                problem,
                expected: rdata::expected_syntax(rtype),
            },
            RdataError::BadName {
                line,
                name,
                problem,
            } => ZoneError::BadName {
                at: at(line),
                name,
                problem,
            },
            RdataError::NeedsGeneric => ZoneError::NeedsGenericSyntax {
                at: at(type_token.line),
                rtype,
            },
        })?;

        let here = SrcLoc {
            file: state.file,
            line: entry.line,
        };
        if let RData::SOA(soa) = &rdata {
            if owner != self.origin {
                return Err(ZoneError::SoaNotAtApex {
                    at: self.loc(here),
                    name: owner.to_string(),
                    origin: self.origin.to_string(),
                });
            }
            if let Some((_, first)) = self.soa {
                return Err(ZoneError::DuplicateSoa {
                    at: self.loc(here),
                    first: self.loc(first),
                });
            }
            self.soa = Some((soa.minimum, here));
        }
        // RFC 2308 §4: without $TTL, the SOA MINIMUM is the default, also for the SOA itself.
        let ttl = ttl
            .or(self.default_ttl)
            .or(self.soa.map(|(minimum, _)| minimum))
            .ok_or_else(|| ZoneError::NoTtl { at: self.loc(here) })?;
        self.add(owner, rtype, ttl, rdata, here);
        Ok(())
    }

    /// An owner name: lowercase and inside the zone.
    fn owner_name(&mut self, state: &FileState, token: &Token<'_>) -> Result<Name, ZoneError> {
        let name = self.name(state, token)?;
        if !self.origin.zone_of(&name) {
            return Err(ZoneError::OutOfZone {
                at: self.at(state.file, token.line),
                name: name.to_string(),
                origin: self.origin.to_string(),
            });
        }
        Ok(name)
    }

    /// A name in owner position (owners, `$ORIGIN`, `$INCLUDE` origins), folded to lowercase.
    fn name(&mut self, state: &FileState, token: &Token<'_>) -> Result<Name, ZoneError> {
        if token.quoted {
            return Err(ZoneError::Syntax {
                at: self.at(state.file, token.line),
                problem: format!(
                    "expected a domain name, found the quoted string \"{}\"",
                    String::from_utf8_lossy(token.text)
                ),
                fix: "write the name without quotes".into(),
            });
        }
        text::parse_name(token.text, &state.origin, true, &mut self.scratch).map_err(|problem| {
            ZoneError::BadName {
                at: loc(
                    &self.files,
                    SrcLoc {
                        file: state.file,
                        line: token.line,
                    },
                ),
                name: String::from_utf8_lossy(token.text).into_owned(),
                problem,
            }
        })
    }

    fn add(&mut self, name: Name, rtype: RecordType, ttl: u32, rdata: RData, at: SrcLoc) {
        // Zone files usually keep an RRset's records together, so most records join the last
        // RRset; the rest are merged after sorting, in `finish`.
        if let Some(last) = self.pending.last_mut() {
            if last.set.rtype == rtype && last.set.name == name {
                merge_ttl(&mut last.set, ttl, || loc(&self.files, at));
                merge_rdata(&mut last.set, rdata);
                return;
            }
        }
        self.pending.push(Pending {
            set: RrSet {
                name,
                rtype,
                ttl,
                rdata: vec![rdata],
            },
            at,
        });
    }

    fn finish(mut self, end: SrcLoc) -> Result<(Zone, Vec<String>), ZoneError> {
        let Some((_, soa_at)) = self.soa else {
            return Err(ZoneError::MissingSoa {
                at: self.loc(end),
                origin: self.origin.to_string(),
            });
        };
        let mut pending = std::mem::take(&mut self.pending);
        // Stable, so records of an RRset split across the files stay in file order.
        pending.sort_by(|a, b| {
            a.set
                .name
                .cmp(&b.set.name)
                .then_with(|| u16::from(a.set.rtype).cmp(&u16::from(b.set.rtype)))
        });
        pending.dedup_by(|later, earlier| {
            if later.set.name != earlier.set.name || later.set.rtype != earlier.set.rtype {
                return false;
            }
            merge_ttl(&mut earlier.set, later.set.ttl, || {
                loc(&self.files, later.at)
            });
            for rdata in std::mem::take(&mut later.set.rdata) {
                merge_rdata(&mut earlier.set, rdata);
            }
            true
        });

        for group in pending.chunk_by(|a, b| a.set.name == b.set.name) {
            self.check_cname(group)?;
        }
        let apex_ns = pending
            .iter()
            .take_while(|p| p.set.name == self.origin)
            .any(|p| p.set.rtype == RecordType::NS);
        if !apex_ns {
            return Err(ZoneError::MissingApexNs {
                at: self.loc(soa_at),
                origin: self.origin.to_string(),
            });
        }

        self.check_delegations(&pending)?;

        let rrsets = pending.into_iter().map(|p| p.set).collect();
        let zone = Zone::from_sorted(self.origin, rrsets)
            .expect("the SOA was seen at the apex, so the sorted RRsets hold it");
        Ok((zone, self.warnings))
    }

    /// Zone cuts (NS RRsets below the apex, RFC 1034 §4.2.1). At and below a cut the data
    /// belongs to the child zone; the parent keeps only the delegation itself (NS, and DS with
    /// its RRSIG and NSEC, RFC 4035 §2.4) and glue: addresses of name servers named by NS
    /// records. A name server inside its own delegation cannot be found without glue (RFC 9471
    /// §2.1), so that is an error; anything else below a cut is occluded — never served — and,
    /// as Knot DNS does, only warned about. `pending` is sorted in canonical order.
    fn check_delegations(&mut self, pending: &[Pending]) -> Result<(), ZoneError> {
        let ns_targets: HashSet<&Name> = pending
            .iter()
            .filter(|p| p.set.rtype == RecordType::NS)
            .flat_map(|p| p.set.rdata.iter().filter_map(ns_target))
            .collect();
        let has_address = |name: &Name| {
            let start = pending.partition_point(|p| p.set.name < *name);
            pending[start..]
                .iter()
                .take_while(|p| p.set.name == *name)
                .any(|p| matches!(p.set.rtype, RecordType::A | RecordType::AAAA))
        };

        let mut cuts: HashSet<&Name> = HashSet::new();
        // The cut being walked: canonical order puts a name right before its descendants.
        let mut cut: Option<&Pending> = None;
        for group in pending.chunk_by(|a, b| a.set.name == b.set.name) {
            let name = &group[0].set.name;
            if !cut.is_some_and(|ns| ns.set.name.zone_of(name)) {
                cut = group
                    .iter()
                    .find(|p| p.set.rtype == RecordType::NS && p.set.name != self.origin);
                if let Some(ns) = cut {
                    cuts.insert(name);
                    for target in ns.set.rdata.iter().filter_map(ns_target) {
                        if name.zone_of(target) && !has_address(target) {
                            return Err(ZoneError::MissingGlue {
                                at: self.loc(ns.at),
                                cut: name.to_string(),
                                target: target.to_string(),
                            });
                        }
                    }
                    if name.is_wildcard() {
                        self.warnings.push(format!(
                            "{}: {name} is a wildcard with NS records; RFC 4592 §4.2 leaves \
                             their meaning undefined, so names it matches get a referral to \
                             {name} itself; delegate real names instead",
                            self.loc(ns.at)
                        ));
                    }
                }
            }
            let Some(ns) = cut else { continue };
            let at_cut = ns.set.name == *name;
            for p in group {
                let served = match p.set.rtype {
                    RecordType::NS | RecordType::DS | RecordType::RRSIG | RecordType::NSEC => {
                        at_cut
                    }
                    RecordType::A | RecordType::AAAA => ns_targets.contains(name),
                    _ => false,
                };
                if !served {
                    self.warnings.push(format!(
                        "{}: {name} {} is {} the delegation {}, so it is occluded: the \
                         child zone is authoritative there and only referrals are served; \
                         remove the record or move it to the child zone",
                        self.loc(p.at),
                        p.set.rtype,
                        if at_cut { "at" } else { "below" },
                        ns.set.name
                    ));
                }
            }
        }

        // Sibling glue (RFC 9471 §2.2): a name server below another cut of this zone. It can
        // be found through that cut's referral, so missing glue only costs resolvers a lookup.
        // Checked cheapest first: most name servers are outside the zone or have addresses.
        let origin_labels = self.origin.iter().len();
        let below_cut = |target: &Name| {
            (origin_labels + 1..=target.iter().len())
                .any(|labels| cuts.contains(&target.trim_to(labels)))
        };
        for ns in pending.iter().filter(|p| p.set.rtype == RecordType::NS) {
            for target in ns.set.rdata.iter().filter_map(ns_target) {
                // A delegation's own name servers were checked above.
                let own = ns.set.name != self.origin && ns.set.name.zone_of(target);
                if self.origin.zone_of(target) && !own && !has_address(target) && below_cut(target)
                {
                    self.warnings.push(format!(
                        "{}: name server {target} of {} is below a delegation of this zone but \
                         has no glue; resolvers will need an extra referral to find it, so \
                         consider adding its A or AAAA records here",
                        self.loc(ns.at),
                        ns.set.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// RFC 1034 §3.6.2 / RFC 2181 §10.1: a CNAME is alone at its name and single. RRSIG and NSEC
    /// may accompany it (RFC 4035 §2.5), so signed zones in generic form still load.
    fn check_cname(&self, group: &[Pending]) -> Result<(), ZoneError> {
        let Some(cname) = group.iter().find(|p| p.set.rtype == RecordType::CNAME) else {
            return Ok(());
        };
        if cname.set.rdata.len() > 1 {
            return Err(ZoneError::MultipleCnames {
                at: self.loc(cname.at),
                name: cname.set.name.to_string(),
            });
        }
        let other = group.iter().find(|p| {
            !matches!(
                p.set.rtype,
                RecordType::CNAME | RecordType::RRSIG | RecordType::NSEC
            )
        });
        match other {
            None => Ok(()),
            Some(other) => Err(ZoneError::CnameAndOtherData {
                at: self.loc(cname.at),
                name: cname.set.name.to_string(),
                other: other.set.rtype,
                other_at: self.loc(other.at),
            }),
        }
    }

    fn at(&self, file: u32, line: u32) -> Location {
        self.loc(SrcLoc { file, line })
    }

    fn loc(&self, at: SrcLoc) -> Location {
        loc(&self.files, at)
    }

    fn lex_error(&self, file: u32, e: LexError) -> ZoneError {
        ZoneError::Syntax {
            at: self.at(file, e.line),
            problem: e.problem.into(),
            fix: e.fix.into(),
        }
    }
}

/// The name server an NS record names.
fn ns_target(rdata: &RData) -> Option<&Name> {
    match rdata {
        RData::NS(ns) => Some(&ns.0),
        _ => None,
    }
}

fn loc(files: &[String], at: SrcLoc) -> Location {
    Location {
        file: files[at.file as usize].clone(),
        line: at.line,
    }
}

/// Records joining an RRset with another TTL: RFC 2181 §5.2 forbids differing TTLs within an
/// RRset and says to treat them all as the smallest.
fn merge_ttl(set: &mut RrSet, ttl: u32, at: impl Fn() -> Location) {
    if ttl != set.ttl {
        warn!(
            "{}: TTL {ttl} differs from TTL {} of the other {} records at {}; using {} for all of them",
            at(),
            set.ttl,
            set.rtype,
            set.name,
            ttl.min(set.ttl)
        );
        set.ttl = set.ttl.min(ttl);
    }
}

/// Adds a record to its RRset unless an identical one is there (RFC 2181 §5).
fn merge_rdata(set: &mut RrSet, rdata: RData) {
    if !set.rdata.contains(&rdata) {
        set.rdata.push(rdata);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, AAAA, CAA, CNAME, MX, NS, NULL, PTR, SOA, SRV, TXT};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const HEAD: &str = "$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ NS ns1\n";

    fn n(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn origin() -> Name {
        n("example.com.")
    }

    fn zone(text: &str) -> Zone {
        Zone::parse(&origin(), text, "test.zone").unwrap_or_else(|e| panic!("{e}"))
    }

    fn with_head(body: &str) -> Zone {
        zone(&format!("{HEAD}{body}"))
    }

    fn err(text: &str) -> ZoneError {
        match Zone::parse(&origin(), text, "test.zone") {
            Ok(_) => panic!("zone loaded but should not have"),
            Err(e) => e,
        }
    }

    /// Asserts the error names the file and line, and mentions `needle`.
    fn assert_err(text: &str, line: u32, needle: &str) -> ZoneError {
        let e = err(text);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("test.zone:{line}: ")),
            "error does not start with test.zone:{line}: {msg}"
        );
        assert!(msg.contains(needle), "error lacks {needle:?}: {msg}");
        e
    }

    fn a(ip: [u8; 4]) -> RData {
        RData::A(A(Ipv4Addr::from(ip)))
    }

    fn set<'z>(zone: &'z Zone, name: &str, rtype: RecordType) -> &'z RrSet {
        zone.rrset(&n(name), rtype)
            .unwrap_or_else(|| panic!("no {rtype} at {name}"))
    }

    #[test]
    fn all_supported_types() {
        let z = with_head(concat!(
            "a A 192.0.2.1\n",
            "a AAAA 2001:db8::1\n",
            "c CNAME a\n",
            "@ MX 10 mail.example.net.\n",
            "t TXT \"one\" two \"th\\\"ree\" \"\\065\"\n",
            "ptr PTR a\n",
            "_sip._udp SRV 0 5 5060 a\n",
            "@ CAA 0 issue \"ca.example.net\"\n",
            "u TYPE65280 \\# 3 010203\n",
            "h HINFO \\# 4 01610162\n",
        ));
        let ip6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            set(&z, "a.example.com.", RecordType::A).rdata,
            [a([192, 0, 2, 1])]
        );
        assert_eq!(
            set(&z, "a.example.com.", RecordType::AAAA).rdata,
            [RData::AAAA(AAAA(ip6))]
        );
        assert_eq!(
            set(&z, "c.example.com.", RecordType::CNAME).rdata,
            [RData::CNAME(CNAME(n("a.example.com.")))]
        );
        assert_eq!(
            set(&z, "example.com.", RecordType::MX).rdata,
            [RData::MX(MX::new(10, n("mail.example.net.")))]
        );
        assert_eq!(
            set(&z, "t.example.com.", RecordType::TXT).rdata,
            [RData::TXT(TXT::from_bytes(vec![
                b"one", b"two", b"th\"ree", b"A"
            ]))]
        );
        assert_eq!(
            set(&z, "ptr.example.com.", RecordType::PTR).rdata,
            [RData::PTR(PTR(n("a.example.com.")))]
        );
        assert_eq!(
            set(&z, "_sip._udp.example.com.", RecordType::SRV).rdata,
            [RData::SRV(SRV::new(0, 5, 5060, n("a.example.com.")))]
        );
        let RData::CAA(caa) = &set(&z, "example.com.", RecordType::CAA).rdata[0] else {
            panic!()
        };
        assert_eq!(
            (caa.tag.as_str(), caa.value.as_slice()),
            ("issue", &b"ca.example.net"[..])
        );
        assert_eq!(
            caa,
            &CAA::new_issue(false, Some(n("ca.example.net")), vec![])
        );
        assert_eq!(
            set(&z, "u.example.com.", RecordType::Unknown(65280)).rdata,
            [RData::Unknown {
                code: RecordType::Unknown(65280),
                rdata: NULL::with(vec![1, 2, 3])
            }]
        );
        assert!(matches!(
            set(&z, "h.example.com.", RecordType::HINFO).rdata[0],
            RData::HINFO(_)
        ));
        assert_eq!(
            z.soa().rdata,
            [RData::SOA(SOA::new(
                n("ns1.example.com."),
                n("hostmaster.example.com."),
                1,
                7200,
                900,
                1_209_600,
                300
            ))]
        );
        assert_eq!(
            set(&z, "example.com.", RecordType::NS).rdata,
            [RData::NS(NS(n("ns1.example.com.")))]
        );
    }

    #[test]
    fn origin_directive_relative_and_absolute_names() {
        let z = with_head(concat!(
            "$ORIGIN sub.example.com.\n",
            "www A 192.0.2.1\n",
            "$ORIGIN deeper\n",
            "x A 192.0.2.2\n",
            "abs.example.com. A 192.0.2.3\n",
            "@ A 192.0.2.4\n",
        ));
        set(&z, "www.sub.example.com.", RecordType::A);
        set(&z, "x.deeper.sub.example.com.", RecordType::A);
        set(&z, "abs.example.com.", RecordType::A);
        set(&z, "deeper.sub.example.com.", RecordType::A);
    }

    #[test]
    fn origin_argument_is_case_folded_and_made_absolute() {
        let z = Zone::parse(&n("Example.COM"), HEAD, "t").unwrap();
        assert!(z.origin().eq_case(&n("example.com.")));
        assert!(z.soa().name.eq_case(&n("example.com.")));
    }

    #[test]
    fn owner_names_are_stored_lowercase() {
        let z = with_head("WwW.Example.COM. A 192.0.2.1\nMiXeD A 192.0.2.2\n");
        let names: Vec<String> = z.rrsets().map(|s| s.name.to_ascii()).collect();
        assert!(names.contains(&"www.example.com.".to_string()), "{names:?}");
        assert!(
            names.contains(&"mixed.example.com.".to_string()),
            "{names:?}"
        );
        for set in z.rrsets() {
            assert!(set.name.eq_case(&set.name.to_lowercase()));
        }
    }

    #[test]
    fn omitted_owner_continues_the_previous_one() {
        let z = with_head("www A 192.0.2.1\n     AAAA 2001:db8::1\n\tTXT x\n");
        assert_eq!(z.rrsets_at(&n("www.example.com.")).len(), 3);
    }

    #[test]
    fn ttl_defaults() {
        // Explicit TTLs, either side of the class, with units.
        let z = with_head("a 60 IN A 192.0.2.1\nb IN 1h30m A 192.0.2.2\nc A 192.0.2.3\n");
        assert_eq!(set(&z, "a.example.com.", RecordType::A).ttl, 60);
        assert_eq!(set(&z, "b.example.com.", RecordType::A).ttl, 5400);
        assert_eq!(set(&z, "c.example.com.", RecordType::A).ttl, 3600, "$TTL");
        // Without $TTL: the SOA minimum, also for the SOA itself.
        let z = zone("@ SOA ns1 hm 1 2 3 4 300\n@ NS ns1\nc A 192.0.2.3\nd 10 A 192.0.2.4\n");
        assert_eq!(z.soa().ttl, 300);
        assert_eq!(set(&z, "c.example.com.", RecordType::A).ttl, 300);
        assert_eq!(set(&z, "d.example.com.", RecordType::A).ttl, 10);
        // $TTL can change midway.
        let z = with_head("a A 192.0.2.1\n$TTL 5m\nb A 192.0.2.2\n");
        assert_eq!(set(&z, "a.example.com.", RecordType::A).ttl, 3600);
        assert_eq!(set(&z, "b.example.com.", RecordType::A).ttl, 300);
    }

    #[test]
    fn no_ttl_is_an_error() {
        assert_err(
            "a A 192.0.2.1\n@ SOA ns1 hm 1 2 3 4 300\n@ NS ns1\n",
            1,
            "no TTL",
        );
    }

    #[test]
    fn parentheses_comments_and_classes() {
        let z = zone(concat!(
            "; leading comment\n",
            "$TTL 1d ; comment after a directive\n",
            "@ IN SOA ns1.example.com. hostmaster.example.com. (\n",
            "        2024010101 ; serial\n",
            "        1h         ; refresh\n",
            "        15m 1w\n",
            "        5m )\n",
            "  CLASS1 NS ns1 ; generic class IN\n",
            "ns1 A 192.0.2.53\n",
            "txt TXT ( \"multi\"\n  \"line\" )\n",
        ));
        assert_eq!(z.soa().ttl, 86_400);
        let RData::SOA(soa) = &z.soa().rdata[0] else {
            panic!()
        };
        assert_eq!(
            (soa.serial, soa.refresh, soa.minimum),
            (2024010101, 3600, 300)
        );
        set(&z, "example.com.", RecordType::NS);
        assert_eq!(
            set(&z, "txt.example.com.", RecordType::TXT).rdata,
            [RData::TXT(TXT::from_bytes(vec![b"multi", b"line"]))]
        );
    }

    #[test]
    fn escaped_owner_names() {
        let z = with_head("a\\.b A 192.0.2.1\n\\065\\032c A 192.0.2.2\n");
        let dotted = Name::from_labels(vec![&b"a.b"[..], b"example", b"com"]).unwrap();
        assert!(z.rrset(&dotted, RecordType::A).is_some());
        let decimal = Name::from_labels(vec![&b"a c"[..], b"example", b"com"]).unwrap();
        assert!(
            z.rrset(&decimal, RecordType::A).is_some(),
            "\\065 folds to a"
        );
    }

    #[test]
    fn duplicates_merge_and_split_rrsets_join() {
        let z = with_head(concat!(
            "www A 192.0.2.1\n",
            "www A 192.0.2.1\n",
            "www A 192.0.2.2\n",
            "other A 192.0.2.9\n",
            "WWW A 192.0.2.3\n",
            "www A 192.0.2.2\n",
        ));
        assert_eq!(
            set(&z, "www.example.com.", RecordType::A).rdata,
            [a([192, 0, 2, 1]), a([192, 0, 2, 2]), a([192, 0, 2, 3])]
        );
        assert_eq!(z.rrsets().count(), 4);
    }

    #[test]
    fn differing_ttls_use_the_minimum() {
        let z = with_head(
            "www 300 A 192.0.2.1\nwww 60 A 192.0.2.2\nx A 192.0.2.9\nwww 30 A 192.0.2.1\n",
        );
        let www = set(&z, "www.example.com.", RecordType::A);
        assert_eq!(www.ttl, 30);
        assert_eq!(www.rdata.len(), 2);
    }

    #[test]
    fn include_relative_to_the_zone_file_with_origin() {
        let dir = scratch_dir("include");
        fs::create_dir_all(dir.join("sub")).unwrap();
        fs::write(
            dir.join("main.zone"),
            format!("{HEAD}$INCLUDE sub/hosts.inc hosts\n     TXT same-owner\nafter A 192.0.2.9\n"),
        )
        .unwrap();
        // Nested include relative to the included file's directory.
        fs::write(
            dir.join("sub/hosts.inc"),
            "www A 192.0.2.1\n$ORIGIN elsewhere.example.com.\n$INCLUDE more.inc\n",
        )
        .unwrap();
        fs::write(dir.join("sub/more.inc"), "x A 192.0.2.2\n").unwrap();
        let z = Zone::load(&origin(), &dir.join("main.zone")).unwrap();
        set(&z, "www.hosts.example.com.", RecordType::A);
        set(&z, "x.elsewhere.example.com.", RecordType::A);
        // The include changed neither the parent's last owner nor its origin.
        set(&z, "example.com.", RecordType::TXT);
        set(&z, "after.example.com.", RecordType::A);
    }

    #[test]
    fn include_errors_name_the_including_line_and_the_included_file() {
        let dir = scratch_dir("include-errors");
        fs::write(
            dir.join("main.zone"),
            format!("{HEAD}$INCLUDE missing.inc\n"),
        )
        .unwrap();
        let e = Zone::load(&origin(), &dir.join("main.zone")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ZoneError::Include { .. }));
        assert!(msg.contains("main.zone:4:"), "{msg}");
        assert!(msg.contains("missing.inc"), "{msg}");

        fs::write(dir.join("main.zone"), format!("{HEAD}$INCLUDE bad.inc\n")).unwrap();
        fs::write(dir.join("bad.inc"), "\nok A 192.0.2.1\nbad A 300.0.0.1\n").unwrap();
        let msg = Zone::load(&origin(), &dir.join("main.zone"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("bad.inc:3:"), "{msg}");

        fs::write(dir.join("loop.zone"), format!("{HEAD}$INCLUDE loop.inc\n")).unwrap();
        fs::write(dir.join("loop.inc"), "$INCLUDE loop.inc\n").unwrap();
        let e = Zone::load(&origin(), &dir.join("loop.zone")).unwrap_err();
        assert!(matches!(e, ZoneError::IncludeTooDeep { .. }), "{e}");
        assert!(e.to_string().contains("loop.inc:1:"), "{e}");
    }

    #[test]
    fn parse_resolves_includes_against_the_current_directory() {
        let dir = scratch_dir("cwd");
        let inc = dir.join("cwd inc");
        fs::write(&inc, "www A 192.0.2.1\n").unwrap();
        // A relative path from the cwd: up to the root, then down to the file.
        let cwd = std::env::current_dir().unwrap();
        let mut relative: PathBuf = cwd.components().skip(1).map(|_| "..").collect();
        relative.push(inc.strip_prefix("/").unwrap());
        assert!(relative.is_relative());
        let z = with_head(&format!("$INCLUDE \"{}\"\n", relative.display()));
        set(&z, "www.example.com.", RecordType::A);
    }

    #[test]
    fn load_reports_unreadable_files() {
        let e = Zone::load(&origin(), Path::new("/nonexistent/dir/x.zone")).unwrap_err();
        assert!(matches!(e, ZoneError::Read { .. }));
        assert!(e
            .to_string()
            .starts_with("/nonexistent/dir/x.zone: cannot read"));
    }

    #[test]
    fn load_accepts_non_utf8_bytes_in_strings() {
        let dir = scratch_dir("latin1");
        let mut text = format!("{HEAD}t TXT \"caf").into_bytes();
        text.extend_from_slice(b"\xe9\"\n");
        fs::write(dir.join("z"), text).unwrap();
        let z = Zone::load(&origin(), &dir.join("z")).unwrap();
        assert_eq!(
            set(&z, "t.example.com.", RecordType::TXT).rdata,
            [RData::TXT(TXT::from_bytes(vec![b"caf\xe9"]))]
        );
    }

    #[test]
    fn validation_errors() {
        assert_err(
            &format!("{HEAD}www.example.net. A 192.0.2.1\n"),
            4,
            "outside the zone",
        );
        assert_err(
            &format!("{HEAD}$ORIGIN example.org.\n\nwww A 192.0.2.1\n"),
            6,
            "outside the zone",
        );
        assert_err(
            &format!("{HEAD}sub SOA ns1 hm 1 2 3 4 5\n"),
            4,
            "SOA belongs only at the zone apex",
        );
        let e = assert_err(&format!("{HEAD}@ SOA ns2 hm 2 2 3 4 5\n"), 4, "second SOA");
        assert!(e.to_string().contains("first is at test.zone:2"), "{e}");
        assert_err("$TTL 1\n@ NS ns1\nns1 A 192.0.2.1\n", 3, "without an SOA");
        assert_err(
            "$TTL 1\n\n@ SOA ns1 hm 1 2 3 4 5\nns1 A 192.0.2.1\n",
            3,
            "no NS records",
        );
        let e = assert_err(
            &format!("{HEAD}www CNAME a\nb A 192.0.2.2\nwww A 192.0.2.1\n"),
            4,
            "has a CNAME and A data (at test.zone:6)",
        );
        assert!(matches!(e, ZoneError::CnameAndOtherData { .. }));
        assert_err(
            &format!("{HEAD}www CNAME a\nwww CNAME b\n"),
            4,
            "more than one CNAME",
        );
        // RRSIG may sit beside a CNAME.
        with_head("www CNAME a\nwww RRSIG \\# 21 00050d0300000e1000000002000000010001000102\n");
    }

    #[test]
    fn syntax_errors() {
        assert_err(
            &format!("{HEAD}a CH A 192.0.2.1\n"),
            4,
            "class CH is not supported",
        );
        assert_err(
            &format!("{HEAD}a BOGUS 1\n"),
            4,
            "unknown record type `BOGUS`",
        );
        assert_err(&format!("{HEAD}a AXFR \\# 0\n"), 4, "meta or query type");
        assert_err(
            &format!("{HEAD}a TYPE41 \\# 0\n"),
            4,
            "OPT is a meta or query type",
        );
        assert_err(
            &format!("{HEAD}a HINFO cpu os\n"),
            4,
            "RFC 3597 generic form",
        );
        assert_err(&format!("{HEAD}a A 300.1.1.1\n"), 4, "invalid A data");
        assert_err(&format!("{HEAD}a MX (\n10\n)\n"), 5, "exchange is missing");
        assert_err(&format!("{HEAD}a 1x A 192.0.2.1\n"), 4, "not a TTL");
        assert_err(&format!("{HEAD}a 99999999999 A 192.0.2.1\n"), 4, "TTL");
        assert_err(&format!("{HEAD}a\n"), 4, "no type");
        assert_err(&format!("{HEAD}a 60\n"), 4, "no type");
        assert_err(" A 192.0.2.1\n", 1, "continues the previous owner");
        assert_err(
            &format!("{HEAD}$GENERATE 1-2 h$ A 192.0.2.$\n"),
            4,
            "unsupported directive",
        );
        assert_err(
            &format!("{HEAD}$TTL\n"),
            4,
            "$TTL takes 1 argument but has 0",
        );
        assert_err(&format!("{HEAD}$TTL forever\n"), 4, "not a TTL");
        assert_err(&format!("{HEAD}$INCLUDE\n"), 4, "1 or 2 arguments");
        assert_err(
            &format!("{HEAD}t TXT \"open\n"),
            4,
            "quoted string is not closed",
        );
        assert_err(&format!("{HEAD}t TXT ( a\n\n"), 4, "never closed");
        assert_err(&format!("{HEAD}t TXT a )\n"), 4, "without a matching");
        assert_err(
            &format!("{HEAD}\"quoted\" A 192.0.2.1\n"),
            4,
            "quoted string",
        );
        assert_err(&format!("{HEAD}a \"A\" 192.0.2.1\n"), 4, "quoted");
        let long_txt = format!("{HEAD}t TXT \"{}\"\n", "x".repeat(256));
        assert_err(&long_txt, 4, "longer than 255");
    }

    #[test]
    fn name_length_errors() {
        let label = "x".repeat(64);
        let e = assert_err(
            &format!("{HEAD}{label} A 192.0.2.1\n"),
            4,
            "64 octets is longer than 63",
        );
        assert!(matches!(e, ZoneError::BadName { .. }));
        let long = format!("{0}.{0}.{0}.{0}", "y".repeat(60));
        assert_err(&format!("{HEAD}{long} A 192.0.2.1\n"), 4, "more than 255");
        assert_err(&format!("{HEAD}a CNAME {long}\n"), 4, "more than 255");
        assert_err(&format!("{HEAD}a..b A 192.0.2.1\n"), 4, "empty label");
    }

    #[test]
    fn error_display_mentions_the_fix() {
        let msg = err(&format!("{HEAD}a CH A 192.0.2.1\n")).to_string();
        assert!(msg.contains("use IN"), "{msg}");
        let msg = err(&format!("{HEAD}a MX x y\n")).to_string();
        assert!(
            msg.contains("expected `MX <preference 0-65535> <exchange name>`"),
            "{msg}"
        );
    }

    /// Loads a zone, returning its warnings.
    fn warnings(body: &str) -> Vec<String> {
        let text = format!("{HEAD}{body}");
        match build(&origin(), text.as_bytes(), "test.zone".into(), None) {
            Ok((_, warnings)) => warnings,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn delegation_needs_glue_for_name_servers_inside_it() {
        let e = assert_err(
            &format!("{HEAD}sub NS ns.elsewhere.net.\nsub NS ns.sub\nother A 192.0.2.1\n"),
            4,
            "missing glue",
        );
        assert!(matches!(e, ZoneError::MissingGlue { .. }));
        assert!(e.to_string().contains("ns.sub.example.com."), "{e}");
        // A name server at the cut itself needs glue there.
        assert_err(&format!("{HEAD}\nsub NS sub\n"), 5, "missing glue");
        // Glue of either family is enough; name servers outside the cut need none here.
        with_head("sub NS ns.sub\nns.sub AAAA 2001:db8::1\n");
        with_head("sub NS sub\nsub A 192.0.2.1\n");
        with_head("sub NS ns1\nsub NS ns.example.net.\n");
    }

    #[test]
    fn glue_and_delegation_records_load_without_warnings() {
        assert_eq!(
            warnings(concat!(
                "sub NS ns.sub\nsub NS ns.other\nns.sub A 192.0.2.1\n",
                "sub DS \\# 4 01020304\nsub RRSIG \\# 21 002b0d0300000e1000000002000000010001000102\nsub NSEC \\# 3 000000\n",
                "other NS ns.other\nns.other A 192.0.2.2\n",
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn occluded_data_below_a_cut_is_a_warning() {
        let w = warnings(concat!(
            "sub NS ns.sub\nns.sub A 192.0.2.1\n",
            "sub TXT occluded\nwww.sub A 192.0.2.2\nns.sub MX 10 ns.sub\n",
            "deeper.sub NS ns.sub\n",
        ));
        assert_eq!(w.len(), 4, "{w:#?}");
        assert!(
            w[0].starts_with(
                "test.zone:6: sub.example.com. TXT is at the delegation sub.example.com."
            ),
            "{w:#?}"
        );
        assert!(
            w[1].starts_with("test.zone:9: deeper.sub.example.com. NS is below"),
            "{w:#?}"
        );
        assert!(
            w[2].starts_with("test.zone:8: ns.sub.example.com. MX is below"),
            "{w:#?}"
        );
        assert!(
            w[3].starts_with("test.zone:7: www.sub.example.com. A is below"),
            "{w:#?}"
        );
        assert!(w.iter().all(|w| w.contains("occluded")));
    }

    #[test]
    fn sibling_name_servers_without_glue_and_wildcard_ns_are_warnings() {
        let w = warnings("a NS ns.b\nb NS ns.elsewhere.net.\n");
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].starts_with("test.zone:4: name server ns.b.example.com. of a.example.com."),
            "{w:#?}"
        );
        // The apex's name servers too.
        let w = warnings("@ NS ns.b\nb NS ns.elsewhere.net.\n");
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].contains("name server ns.b.example.com. of example.com."),
            "{w:#?}"
        );
        let w = warnings("* NS ns.example.net.\n");
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(w[0].contains("RFC 4592 §4.2"), "{w:#?}");
    }

    /// Generates `count` A records at distinct names.
    fn many_a_records(count: u32) -> String {
        let mut text = String::with_capacity(count as usize * 32 + HEAD.len());
        text.push_str(HEAD);
        for i in 0..count {
            let [_, b, c, d] = i.to_be_bytes();
            text.push_str(&format!("host{i} A 10.{b}.{c}.{d}\n"));
        }
        text
    }

    #[test]
    fn loads_many_records() {
        let z = zone(&many_a_records(20_000));
        assert_eq!(z.rrsets().count(), 20_002);
        assert_eq!(
            set(&z, "host12345.example.com.", RecordType::A).rdata,
            [a([10, 0, 48, 57])]
        );
    }

    /// Run with `cargo test --release -- --ignored million` to check load time and memory.
    #[test]
    #[ignore]
    fn million_a_records() {
        let text = many_a_records(1_000_000);
        let start = std::time::Instant::now();
        let z = zone(&text);
        let elapsed = start.elapsed();
        eprintln!("loaded {} RRsets in {elapsed:?}", z.rrsets().count());
        assert_eq!(z.rrsets().count(), 1_000_002);
        assert!(elapsed < std::time::Duration::from_secs(10), "{elapsed:?}");
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("dns-xdp-zone-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
