//! Every loaded data source of a config ([`Intel`]), and how a source is named,
//! located, parsed and put in its place.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::asns::AsnList;
use super::lists::CidrSet;
use super::mmdb::{Mmdb, MmdbKind};
use super::orgs::OrgMatcher;
use super::tor::TorSet;
use super::{canonical, source_bit, Facts, IntelError};
use crate::config::{FeedFormat, IntelConfig, Source};

/// Every loaded data source. Each piece is an `Arc` so a reload of one source
/// builds a new `Intel` that shares the others.
#[derive(Debug, Default, Clone)]
pub struct Intel {
    pub geo: Option<Arc<Mmdb>>,
    pub asn: Option<Arc<Mmdb>>,
    pub anonymous_ip: Option<Arc<Mmdb>>,
    pub connection_type: Option<Arc<Mmdb>>,
    pub tor: Option<Arc<TorSet>>,
    /// indexed like [`IntelConfig::lists`]: the union of each list's sources, what a
    /// request looks up
    pub lists: Vec<Arc<CidrSet>>,
    /// indexed like [`IntelConfig::lists`], then like its sources: each source's own
    /// entries (`None` until loaded), to say which feed flagged an address
    pub list_parts: Vec<Vec<Option<Arc<CidrSet>>>>,
    /// AS numbers whose organisation has a `hosting_org_keywords` word (and no
    /// `hosting_org_exclude` one), found once when the ASN database or the config is
    /// loaded (not per request)
    pub hosting_org_asns: Arc<HashSet<u32, foldhash::fast::RandomState>>,
    /// the `hosting_asns` / `mobile_asns` sources as loaded
    pub hosting_asns_loaded: Option<Arc<AsnList>>,
    pub mobile_asns_loaded: Option<Arc<AsnList>>,
    /// what requests look up: the config's numbers and the loaded ones, sorted
    pub hosting_asns: Arc<Vec<u32>>,
    pub mobile_asns: Arc<Vec<u32>>,
}

/// Read a file source to a string, with the path in the error.
pub fn read_file(path: &Path) -> Result<String, IntelError> {
    std::fs::read_to_string(path).map_err(|err| IntelError::Io {
        path: path.to_path_buf(),
        err,
    })
}

/// What a set of AS numbers is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AsnRole {
    Hosting,
    Mobile,
}

/// One data source of a config, by what it feeds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceId {
    Mmdb(MmdbKind),
    Tor,
    /// source `part` of the `of` sources of list `name`
    List {
        name: String,
        part: usize,
        of: usize,
    },
    Asns(AsnRole),
}

impl SourceId {
    /// A list of one source.
    pub fn list(name: &str) -> SourceId {
        SourceId::List {
            name: name.to_string(),
            part: 0,
            of: 1,
        }
    }

    /// The name in logs and metrics: `geo`, `asn`, `anonymous_ip`, `connection_type`,
    /// `tor`, `list:NAME` (`list:NAME[i]` for a list of several sources),
    /// `hosting_asns`, `mobile_asns`.
    pub fn name(&self) -> String {
        match self {
            SourceId::Mmdb(k) => k.name().to_string(),
            SourceId::Tor => "tor".into(),
            SourceId::List { name, of: 1, .. } => format!("list:{name}"),
            SourceId::List { name, part, .. } => format!("list:{name}[{part}]"),
            SourceId::Asns(AsnRole::Hosting) => "hosting_asns".into(),
            SourceId::Asns(AsnRole::Mobile) => "mobile_asns".into(),
        }
    }
}

/// The settings of one list source.
pub fn list_source<'a>(
    cfg: &'a IntelConfig,
    id: &SourceId,
) -> Option<&'a crate::config::ListSource> {
    match id {
        SourceId::List { name, part, .. } => cfg
            .lists
            .iter()
            .find(|l| &l.name == name)
            .and_then(|l| l.sources.get(*part)),
        _ => None,
    }
}

/// Every source a config names, with where it comes from and how often to look.
pub fn sources(cfg: &IntelConfig) -> Vec<(SourceId, Source, std::time::Duration)> {
    let mut out = Vec::new();
    for (kind, p) in [
        (MmdbKind::Geo, &cfg.mmdb.geo),
        (MmdbKind::Asn, &cfg.mmdb.asn),
        (MmdbKind::AnonymousIp, &cfg.mmdb.anonymous_ip),
        (MmdbKind::ConnectionType, &cfg.mmdb.connection_type),
    ] {
        if let Some(p) = p {
            out.push((
                SourceId::Mmdb(kind),
                Source::File(p.clone()),
                cfg.mmdb.reload,
            ));
        }
    }
    if let Some(t) = &cfg.tor {
        out.push((SourceId::Tor, t.source.clone(), t.refresh));
    }
    for l in &cfg.lists {
        for (part, src) in l.sources.iter().enumerate() {
            let id = SourceId::List {
                name: l.name.clone(),
                part,
                of: l.sources.len(),
            };
            out.push((id, src.source.clone(), src.refresh));
        }
    }
    for (role, set) in [
        (AsnRole::Hosting, &cfg.hosting_asns),
        (AsnRole::Mobile, &cfg.mobile_asns),
    ] {
        if let Some((src, refresh)) = &set.source {
            out.push((SourceId::Asns(role), src.clone(), *refresh));
        }
    }
    out
}

/// A piece and where it was loaded from. It can only be put in a snapshot whose
/// config still names that same source for that id: a reload that moved `lists.hosting`
/// from file A to file B while A was being read can never install A's data as B's.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub id: SourceId,
    pub source: Source,
    pub piece: Piece,
}

impl Loaded {
    /// Does `cfg` still name this source for this id?
    pub fn belongs_to(&self, cfg: &IntelConfig) -> bool {
        sources(cfg)
            .iter()
            .any(|(id, src, _)| *id == self.id && *src == self.source)
    }
}

/// A loaded piece of intel, ready to be put in an [`Intel`].
#[derive(Debug, Clone)]
pub enum Piece {
    Mmdb(Arc<Mmdb>),
    Tor(Arc<TorSet>),
    List(Arc<CidrSet>),
    Asns(Arc<AsnList>),
}

impl Piece {
    /// Entries in service and lines skipped, for the metrics (none for an MMDB).
    pub fn counts(&self) -> Option<(usize, usize)> {
        match self {
            Piece::Mmdb(_) => None,
            Piece::Tor(t) => Some((t.len(), 0)),
            Piece::List(l) => Some((l.entries, l.skipped)),
            Piece::Asns(a) => Some((a.asns.len(), a.skipped)),
        }
    }

    /// A one-line description for the log.
    pub fn describe(&self) -> String {
        match self {
            Piece::Mmdb(m) => format!("{} ({})", m.database_type, m.path.display()),
            Piece::Tor(t) => format!("{} exits", t.len()),
            Piece::List(l) => format!(
                "{} entries, {} ranges, format {}",
                l.entries,
                l.ranges(),
                l.format.name()
            ),
            Piece::Asns(a) => format!("{} AS numbers", a.asns.len()),
        }
    }
}

/// Parse the text of a Tor, list or AS-number source; a list in the format its
/// config names, else in the one its text has.
pub fn parse_text(
    id: &SourceId,
    origin: &Source,
    text: &str,
    format: Option<FeedFormat>,
) -> Result<Piece, IntelError> {
    let wrap = |e: IntelError| IntelError::Source {
        source_name: format!("{} ({origin})", id.name()),
        message: e.to_string(),
    };
    let warn_skipped = |skipped: usize, first: &Option<String>| {
        if let Some(first) = first {
            tracing::warn!(source = %id.name(), from = %origin, skipped, first = %first, "lines skipped");
        }
    };
    match id {
        SourceId::Tor => TorSet::parse(text)
            .map(|(t, _)| Piece::Tor(Arc::new(t)))
            .map_err(wrap),
        SourceId::List { .. } => {
            let set = super::feeds::parse(text, format).map_err(wrap)?;
            warn_skipped(set.skipped, &set.first_skipped);
            Ok(Piece::List(Arc::new(set)))
        }
        SourceId::Asns(_) => {
            let a = AsnList::parse(text).map_err(wrap)?;
            warn_skipped(a.skipped, &a.first_skipped);
            Ok(Piece::Asns(Arc::new(a)))
        }
        SourceId::Mmdb(_) => Err(IntelError::Format("an MMDB is not text".into())),
    }
}

/// Load a file source. URL sources are fetched by the reload service.
pub fn load_file(
    id: &SourceId,
    path: &Path,
    format: Option<FeedFormat>,
) -> Result<Piece, IntelError> {
    match id {
        SourceId::Mmdb(kind) => Mmdb::open(path, *kind).map(|m| Piece::Mmdb(Arc::new(m))),
        _ => parse_text(
            id,
            &Source::File(path.to_path_buf()),
            &read_file(path)?,
            format,
        ),
    }
}

impl Intel {
    /// Load every configured file source; every failure is returned, not only the
    /// first. URL sources are left empty here: the reload service fetches them, and
    /// `/readyz` says when they have arrived.
    pub fn load(cfg: &IntelConfig) -> Result<Intel, Vec<IntelError>> {
        let mut errors = Vec::new();
        let mut intel = Intel::empty(cfg);
        for (id, src, _) in sources(cfg) {
            if let Source::File(p) = &src {
                let format = list_source(cfg, &id).and_then(|l| l.format);
                match load_file(&id, p, format) {
                    Ok(piece) => intel.put(cfg, &id, piece),
                    Err(e) => errors.push(e),
                }
            }
        }
        if errors.is_empty() {
            Ok(intel)
        } else {
            Err(errors)
        }
    }

    /// No data yet: every list empty.
    pub fn empty(cfg: &IntelConfig) -> Intel {
        Intel {
            lists: (0..cfg.lists.len())
                .map(|_| Arc::new(CidrSet::default()))
                .collect(),
            list_parts: cfg
                .lists
                .iter()
                .map(|l| vec![None; l.sources.len()])
                .collect(),
            hosting_asns: Arc::new(cfg.hosting_asns.inline.clone()),
            mobile_asns: Arc::new(cfg.mobile_asns.inline.clone()),
            ..Intel::default()
        }
    }

    /// The numbers a request looks up: the config's and the loaded source's.
    fn asn_union(inline: &[u32], loaded: &Option<Arc<AsnList>>) -> Arc<Vec<u32>> {
        let mut v = inline.to_vec();
        if let Some(l) = loaded {
            v.extend_from_slice(&l.asns);
            v.sort_unstable();
            v.dedup();
        }
        Arc::new(v)
    }

    /// Put a loaded piece in its place (a list by its name in `cfg`).
    pub fn put(&mut self, cfg: &IntelConfig, id: &SourceId, piece: Piece) {
        match (id, piece) {
            (SourceId::Mmdb(MmdbKind::Geo), Piece::Mmdb(m)) => self.geo = Some(m),
            (SourceId::Mmdb(MmdbKind::Asn), Piece::Mmdb(m)) => {
                let set = if cfg.hosting_org_keywords.is_empty() {
                    HashSet::default()
                } else {
                    let orgs = OrgMatcher::new(&cfg.hosting_org_keywords, &cfg.hosting_org_exclude);
                    m.asn_orgs()
                        .filter(|(_, org)| orgs.matches(org).is_some())
                        .map(|(n, _)| n)
                        .collect()
                };
                self.hosting_org_asns = Arc::new(set);
                self.asn = Some(m);
            }
            (SourceId::Mmdb(MmdbKind::AnonymousIp), Piece::Mmdb(m)) => self.anonymous_ip = Some(m),
            (SourceId::Mmdb(MmdbKind::ConnectionType), Piece::Mmdb(m)) => {
                self.connection_type = Some(m)
            }
            (SourceId::Tor, Piece::Tor(t)) => self.tor = Some(t),
            (SourceId::List { name, part, .. }, Piece::List(l)) => {
                let Some(i) = cfg.list_index(name) else {
                    return;
                };
                let n = cfg.lists[i].sources.len();
                if self.lists.len() <= i {
                    self.lists.resize(i + 1, Arc::new(CidrSet::default()));
                }
                if self.list_parts.len() <= i {
                    self.list_parts.resize(i + 1, Vec::new());
                }
                let parts = &mut self.list_parts[i];
                parts.resize(n, None);
                if *part >= n {
                    return;
                }
                parts[*part] = Some(l);
                self.lists[i] = if n == 1 {
                    parts[0].clone().unwrap_or_default()
                } else {
                    Arc::new(CidrSet::union(parts.iter().flatten().map(|p| &**p)))
                };
            }
            (SourceId::Asns(AsnRole::Hosting), Piece::Asns(a)) => {
                self.hosting_asns_loaded = Some(a);
                self.hosting_asns =
                    Intel::asn_union(&cfg.hosting_asns.inline, &self.hosting_asns_loaded);
            }
            (SourceId::Asns(AsnRole::Mobile), Piece::Asns(a)) => {
                self.mobile_asns_loaded = Some(a);
                self.mobile_asns =
                    Intel::asn_union(&cfg.mobile_asns.inline, &self.mobile_asns_loaded);
            }
            _ => {}
        }
    }

    /// The piece in service for `id`, if any (to carry it over a config reload).
    pub fn get(&self, cfg: &IntelConfig, id: &SourceId) -> Option<Piece> {
        match id {
            SourceId::Mmdb(MmdbKind::Geo) => self.geo.clone().map(Piece::Mmdb),
            SourceId::Mmdb(MmdbKind::Asn) => self.asn.clone().map(Piece::Mmdb),
            SourceId::Mmdb(MmdbKind::AnonymousIp) => self.anonymous_ip.clone().map(Piece::Mmdb),
            SourceId::Mmdb(MmdbKind::ConnectionType) => {
                self.connection_type.clone().map(Piece::Mmdb)
            }
            SourceId::Tor => self.tor.clone().map(Piece::Tor),
            SourceId::List { name, part, .. } => cfg
                .list_index(name)
                .and_then(|i| self.list_parts.get(i)?.get(*part)?.clone())
                .map(Piece::List),
            SourceId::Asns(AsnRole::Hosting) => self.hosting_asns_loaded.clone().map(Piece::Asns),
            SourceId::Asns(AsnRole::Mobile) => self.mobile_asns_loaded.clone().map(Piece::Asns),
        }
    }

    /// Everything the sources say about `ip`. Never fails: a source that errors
    /// sets its bit in [`Facts::lookup_errors`].
    pub fn enrich(&self, ip: IpAddr, cfg: &IntelConfig) -> Facts {
        let ip = canonical(ip);
        let mut f = Facts::new(ip);
        if let Some(db) = &self.geo {
            match db.country(ip) {
                Ok(c) => f.country = c,
                Err(_) => f.lookup_errors |= source_bit::GEO,
            }
        }
        if let Some(db) = &self.asn {
            match db.asn_with(ip, |n, _| n) {
                Ok(n) => f.asn = n,
                Err(_) => f.lookup_errors |= source_bit::ASN,
            }
        }
        if let Some(asn) = f.asn {
            f.hosting_org = self.hosting_org_asns.contains(&asn);
            f.hosting_asn = self.hosting_asns.binary_search(&asn).is_ok();
            f.mobile_asn = self.mobile_asns.binary_search(&asn).is_ok();
        }
        if let Some(db) = &self.anonymous_ip {
            match db.anonymous(ip) {
                Ok(a) => f.anon = a,
                Err(_) => f.lookup_errors |= source_bit::ANONYMOUS_IP,
            }
        }
        if let Some(db) = &self.connection_type {
            match db.connection_type(ip) {
                Ok(c) => f.connection = c,
                Err(_) => f.lookup_errors |= source_bit::CONNECTION_TYPE,
            }
        }
        if let Some(t) = &self.tor {
            f.tor_list = t.contains(ip);
        }
        for (i, l) in self.lists.iter().enumerate() {
            if l.contains(ip) {
                f.lists |= 1 << i;
            }
        }
        f.mobile_list = f.lists & cfg.masks.mobile != 0;
        if f.lists & cfg.masks.relay != 0 {
            // a privacy relay's geofeed names the user's region, which the geo
            // database (the relay's data centre) cannot know
            match self.relay_country(ip, cfg, f.lists) {
                Some(cc) => {
                    f.country = Some(cc);
                    f.country_from_relay = true;
                }
                // the geo database's country is the relay's egress, not the user's
                None => f.country_uncertain = true,
            }
        }
        f
    }

    #[cold]
    fn relay_country(
        &self,
        ip: IpAddr,
        cfg: &IntelConfig,
        hits: u64,
    ) -> Option<crate::config::CountryCode> {
        (0..self.lists.len())
            .filter(|i| hits & cfg.masks.relay & (1 << i) != 0)
            .find_map(|i| self.lists[i].country(ip))
    }

    /// Which source of list `i` holds `ip`, and its entry there, as a note for explain
    /// and the decision log: `aws ip-ranges.json 52.94.0.0/16`.
    pub fn list_note(&self, cfg: &IntelConfig, i: usize, ip: IpAddr) -> Option<String> {
        let ip = canonical(ip);
        let list = cfg.lists.get(i)?;
        let parts = self.list_parts.get(i)?;
        list.sources.iter().zip(parts).find_map(|(src, part)| {
            let part = part.as_ref()?;
            let entry = part.entry_of(ip)?;
            Some(format!(
                "{} {} {entry}",
                part.format.name(),
                source_label(&src.source)
            ))
        })
    }
}

/// A source's short name: the file name of a path or of a URL's path.
pub fn source_label(src: &Source) -> String {
    let s = match src {
        Source::File(p) => p.to_string_lossy().into_owned(),
        Source::Url(u) => u.split(['?', '#']).next().unwrap_or(u).to_string(),
    };
    let s = s.trim_end_matches('/');
    match s.rsplit_once('/') {
        Some((head, last)) if !last.is_empty() && !head.ends_with('/') => last.to_string(),
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(keywords: &str) -> crate::config::Config {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
        let yaml = format!(
            "upstream: 127.0.0.1:9\nintel:\n  mmdb: {{ asn: {} }}\n  hosting_org_keywords: {keywords}\n",
            dir.join("GeoLite2-ASN-Test.mmdb").display()
        );
        crate::config::parse(&yaml, &dir.join("inline.yaml")).expect("config")
    }

    #[test]
    fn hosting_org_keywords_follow_the_config_the_asn_piece_is_put_with() {
        // 89.160.20.112 is AS29518, "Bredband2 AB", in MaxMind's test database; keywords
        // are whole words, so `bredband2` matches and `bredband` would not
        let ip: IpAddr = "89.160.20.112".parse().unwrap();
        let a = config("[bredband2]");
        let intel = Intel::load(&a.intel).unwrap();
        let f = intel.enrich(ip, &a.intel);
        assert_eq!(f.asn, Some(29518));
        assert!(f.hosting_org);

        // a config reload with other keywords carries the same piece over
        let b = config("[amazon, hetzner]");
        let mut next = Intel::empty(&b.intel);
        let id = SourceId::Mmdb(MmdbKind::Asn);
        next.put(&b.intel, &id, intel.get(&a.intel, &id).unwrap());
        let f = next.enrich(ip, &b.intel);
        assert_eq!(f.asn, Some(29518));
        assert!(!f.hosting_org);
        assert!(next.hosting_org_asns.len() < intel.asn.as_ref().unwrap().asn_orgs().count());
    }

    #[test]
    fn a_source_is_named_by_its_file() {
        let url = |u: &str| source_label(&Source::Url(u.into()));
        assert_eq!(
            url("https://ip-ranges.amazonaws.com/ip-ranges.json"),
            "ip-ranges.json"
        );
        assert_eq!(url("https://geoip.linode.com/"), "https://geoip.linode.com");
        assert_eq!(url("https://x.example/feed.csv?v=2"), "feed.csv");
        assert_eq!(
            source_label(&Source::File("/etc/riskgate/dc.txt".into())),
            "dc.txt"
        );
    }
}
