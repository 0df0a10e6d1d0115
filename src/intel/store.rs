//! Every loaded data source of a config ([`Intel`]), and how a source is named,
//! located, parsed and put in its place.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::lists::CidrSet;
use super::mmdb::{Mmdb, MmdbKind};
use super::tor::TorSet;
use super::{canonical, source_bit, Facts, IntelError};
use crate::config::{IntelConfig, Source};

/// Every loaded data source. Each piece is an `Arc` so a reload of one source
/// builds a new `Intel` that shares the others.
#[derive(Debug, Default, Clone)]
pub struct Intel {
    pub geo: Option<Arc<Mmdb>>,
    pub asn: Option<Arc<Mmdb>>,
    pub anonymous_ip: Option<Arc<Mmdb>>,
    pub connection_type: Option<Arc<Mmdb>>,
    pub tor: Option<Arc<TorSet>>,
    /// indexed like [`IntelConfig::lists`]
    pub lists: Vec<Arc<CidrSet>>,
    /// AS numbers whose organisation contains a `hosting_org_keywords` word, found
    /// once when the ASN database or the config is loaded (not per request)
    pub hosting_org_asns: Arc<HashSet<u32, foldhash::fast::RandomState>>,
}

/// Read a file source to a string, with the path in the error.
pub fn read_file(path: &Path) -> Result<String, IntelError> {
    std::fs::read_to_string(path).map_err(|err| IntelError::Io {
        path: path.to_path_buf(),
        err,
    })
}

/// One data source of a config, by what it feeds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceId {
    Mmdb(MmdbKind),
    Tor,
    List(String),
}

impl SourceId {
    /// The name in logs and metrics: `geo`, `asn`, `anonymous_ip`, `connection_type`,
    /// `tor`, `list:NAME`.
    pub fn name(&self) -> String {
        match self {
            SourceId::Mmdb(k) => k.name().to_string(),
            SourceId::Tor => "tor".into(),
            SourceId::List(n) => format!("list:{n}"),
        }
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
        out.push((SourceId::List(l.name.clone()), l.source.clone(), l.refresh));
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
}

impl Piece {
    /// A one-line description for the log.
    pub fn describe(&self) -> String {
        match self {
            Piece::Mmdb(m) => format!("{} ({})", m.database_type, m.path.display()),
            Piece::Tor(t) => format!("{} exits", t.len()),
            Piece::List(l) => format!("{} entries, {} ranges", l.entries, l.ranges()),
        }
    }
}

/// Parse the text of a Tor or list source.
pub fn parse_text(id: &SourceId, origin: &Source, text: &str) -> Result<Piece, IntelError> {
    let wrap = |e: IntelError| IntelError::Source {
        source_name: format!("{} ({origin})", id.name()),
        message: e.to_string(),
    };
    match id {
        SourceId::Tor => TorSet::parse(text)
            .map(|(t, _)| Piece::Tor(Arc::new(t)))
            .map_err(wrap),
        SourceId::List(name) => {
            let set = CidrSet::parse(text).map_err(wrap)?;
            if let Some(first) = &set.first_skipped {
                tracing::warn!(list = %name, skipped = set.skipped, first = %first, "list lines skipped");
            }
            Ok(Piece::List(Arc::new(set)))
        }
        SourceId::Mmdb(_) => Err(IntelError::Format("an MMDB is not text".into())),
    }
}

/// Load a file source. URL sources are fetched by the reload service.
pub fn load_file(id: &SourceId, path: &Path) -> Result<Piece, IntelError> {
    match id {
        SourceId::Mmdb(kind) => Mmdb::open(path, *kind).map(|m| Piece::Mmdb(Arc::new(m))),
        _ => parse_text(id, &Source::File(path.to_path_buf()), &read_file(path)?),
    }
}

/// ASCII case-insensitive substring test; `needle` is lower-case already.
fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || n.len() > h.len() {
        return n.is_empty();
    }
    h.windows(n.len())
        .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
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
                match load_file(&id, p) {
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
            ..Intel::default()
        }
    }

    /// Put a loaded piece in its place (a list by its name in `cfg`).
    pub fn put(&mut self, cfg: &IntelConfig, id: &SourceId, piece: Piece) {
        match (id, piece) {
            (SourceId::Mmdb(MmdbKind::Geo), Piece::Mmdb(m)) => self.geo = Some(m),
            (SourceId::Mmdb(MmdbKind::Asn), Piece::Mmdb(m)) => {
                let kw = &cfg.hosting_org_keywords;
                let set = if kw.is_empty() {
                    HashSet::default()
                } else {
                    m.asn_orgs()
                        .filter(|(_, org)| kw.iter().any(|k| contains_ci(org, k)))
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
            (SourceId::List(name), Piece::List(l)) => {
                if let Some(i) = cfg.list_index(name) {
                    if self.lists.len() <= i {
                        self.lists.resize(i + 1, Arc::new(CidrSet::default()));
                    }
                    self.lists[i] = l;
                }
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
            SourceId::List(name) => cfg
                .list_index(name)
                .and_then(|i| self.lists.get(i).cloned())
                .map(Piece::List),
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
            f.hosting_asn = cfg.hosting_asns.binary_search(&asn).is_ok();
            f.mobile_asn = cfg.mobile_asns.binary_search(&asn).is_ok();
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
        f
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
        // 89.160.20.112 is AS29518, "Bredband2 AB", in MaxMind's test database
        let ip: IpAddr = "89.160.20.112".parse().unwrap();
        let a = config("[bredband]");
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
    fn keyword_match_ignores_case() {
        assert!(contains_ci("AMAZON-02", "amazon"));
        assert!(contains_ci("DigitalOcean, LLC", "digitalocean"));
        assert!(!contains_ci("Deutsche Telekom AG", "ovh"));
        assert!(!contains_ci("ab", "abc"));
    }
}
