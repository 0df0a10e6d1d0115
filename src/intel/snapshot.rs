//! The data a request is decided with: the compiled config and the intel loaded
//! for it, bundled so that one atomic load gives a consistent pair.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::lists::CidrSet;
use super::mmdb::{Mmdb, MmdbKind};
use super::tor::TorSet;
use super::{canonical, source_bit, Facts, IntelError};
use crate::config::{Config, IntelConfig, Source};
use crate::limits::Limiters;

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
}

/// Read a file source to a string, with the path in the error.
pub fn read_file(path: &Path) -> Result<String, IntelError> {
    std::fs::read_to_string(path).map_err(|err| IntelError::Io {
        path: path.to_path_buf(),
        err,
    })
}

fn read_source(name: &str, src: &Source) -> Result<String, IntelError> {
    match src {
        Source::File(p) => read_file(p),
        Source::Url(u) => Err(IntelError::Source {
            source_name: name.to_string(),
            message: format!(
                "{u}: URL sources are not supported yet; download the file and give its path"
            ),
        }),
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
    /// Load every configured source; every failure is returned, not only the first.
    pub fn load(cfg: &IntelConfig) -> Result<Intel, Vec<IntelError>> {
        let mut errors = Vec::new();
        let mut intel = Intel::default();
        let mut open = |p: &Option<std::path::PathBuf>, kind| -> Option<Arc<Mmdb>> {
            let p = p.as_ref()?;
            match Mmdb::open(p, kind) {
                Ok(db) => Some(Arc::new(db)),
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        };
        intel.geo = open(&cfg.mmdb.geo, MmdbKind::Geo);
        intel.asn = open(&cfg.mmdb.asn, MmdbKind::Asn);
        intel.anonymous_ip = open(&cfg.mmdb.anonymous_ip, MmdbKind::AnonymousIp);
        intel.connection_type = open(&cfg.mmdb.connection_type, MmdbKind::ConnectionType);
        if let Some(t) = &cfg.tor {
            match read_source("tor", &t.source).and_then(|text| {
                TorSet::parse(&text).map_err(|e| IntelError::Source {
                    source_name: format!("tor ({})", t.source),
                    message: e.to_string(),
                })
            }) {
                Ok((set, _)) => intel.tor = Some(Arc::new(set)),
                Err(e) => errors.push(e),
            }
        }
        for l in &cfg.lists {
            let name = format!("list:{}", l.name);
            match read_source(&name, &l.source).and_then(|text| {
                CidrSet::parse(&text).map_err(|e| IntelError::Source {
                    source_name: format!("{name} ({})", l.source),
                    message: e.to_string(),
                })
            }) {
                Ok(set) => {
                    if let Some(first) = &set.first_skipped {
                        tracing::warn!(list = %l.name, skipped = set.skipped, first = %first, "list lines skipped");
                    }
                    intel.lists.push(Arc::new(set))
                }
                Err(e) => {
                    errors.push(e);
                    intel.lists.push(Arc::new(CidrSet::default()));
                }
            }
        }
        if errors.is_empty() {
            Ok(intel)
        } else {
            Err(errors)
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
            let kw = &cfg.hosting_org_keywords;
            match db.asn_with(ip, |n, org| {
                let hosting_org = match org {
                    Some(o) if !kw.is_empty() => kw.iter().any(|k| contains_ci(o, k)),
                    _ => false,
                };
                (n, hosting_org)
            }) {
                Ok((n, h)) => {
                    f.asn = n;
                    f.hosting_org = h;
                }
                Err(_) => f.lookup_errors |= source_bit::ASN,
            }
        }
        if let Some(asn) = f.asn {
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

/// A config, the intel loaded for it and its rate limiters: what one request is
/// decided with.
#[derive(Clone)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub intel: Arc<Intel>,
    pub limiters: Arc<Limiters>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("config", &self.config.file)
            .field("intel", &self.intel)
            .finish()
    }
}

impl Snapshot {
    pub fn load(config: Config) -> Result<Snapshot, Vec<IntelError>> {
        let intel = Intel::load(&config.intel)?;
        let limiters = Limiters::new(&config);
        Ok(Snapshot {
            config: Arc::new(config),
            intel: Arc::new(intel),
            limiters: Arc::new(limiters),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::contains_ci;

    #[test]
    fn keyword_match_ignores_case() {
        assert!(contains_ci("AMAZON-02", "amazon"));
        assert!(contains_ci("DigitalOcean, LLC", "digitalocean"));
        assert!(!contains_ci("Deutsche Telekom AG", "ovh"));
        assert!(!contains_ci("ab", "abc"));
    }
}
