//! What one request is decided with: the compiled config, the intel loaded for it,
//! its rate limiters and per-route metrics, behind one `ArcSwap` so that a request
//! uses one consistent snapshot from start to end and a reload swaps it atomically.

pub mod reload;

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::intel::{Intel, IntelError, Loaded};
use crate::limits::Limiters;
use crate::record::metrics::RouteMetrics;

/// Shared, swappable state: the snapshot requests are decided with.
pub type SharedSnapshot = Arc<ArcSwap<Snapshot>>;

/// A config, the intel loaded for it and its rate limiters: what one request is
/// decided with.
#[derive(Clone)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub intel: Arc<Intel>,
    pub limiters: Arc<Limiters>,
    /// countries seen per hopping key; kept across reloads
    pub hops: Arc<crate::hops::HopStore>,
    /// the shared store of limits and hopping (`cluster`); kept across reloads that
    /// leave `cluster` unchanged
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// per route, like `config.routes`
    pub metrics: Arc<Vec<RouteMetrics>>,
    /// the decisions of the app and CrowdSec; kept across reloads
    pub decisions: Arc<crate::decisions::Book>,
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
        Ok(Snapshot::assemble(config, intel, None))
    }

    /// Bundle a config and its intel; limiters are carried over from `previous`
    /// where the policy's limits did not change.
    pub fn assemble(config: Config, intel: Intel, previous: Option<&Snapshot>) -> Snapshot {
        let limiters = match previous {
            Some(p) => Limiters::rebuild(&p.limiters, &config),
            None => Limiters::new(&config),
        };
        let metrics = RouteMetrics::for_config(&config);
        // the CLDR and tzdb tables are built now, not on the first request that needs them
        if config.policies.iter().any(|p| p.checks.language) {
            crate::evidence::languages::load();
        }
        if config.policies.iter().any(|p| p.checks.timezone.is_some()) {
            crate::evidence::timezones::load();
        }
        let hops = match previous {
            Some(p) => p.hops.clone(),
            None => Arc::new(crate::hops::HopStore::new(config.limiter_max_keys)),
        };
        let cluster = config.cluster.as_ref().map(|c| {
            match previous
                .and_then(|p| p.cluster.as_ref())
                .filter(|old| old.config() == c)
            {
                Some(same) => same.clone(),
                None => crate::cluster::Cluster::start(c.clone()),
            }
        });
        let decisions = match previous {
            Some(p) => p.decisions.clone(),
            None => crate::decisions::Book::in_memory(),
        };
        Snapshot {
            hops,
            cluster,
            decisions,
            config: Arc::new(config),
            intel: Arc::new(intel),
            limiters: Arc::new(limiters),
            metrics: Arc::new(metrics),
        }
    }

    /// The same snapshot deciding with `book`'s decisions (the store opened for `run`,
    /// read-only for `check` and `explain`; replay decides without any).
    pub fn with_decisions(self, book: Arc<crate::decisions::Book>) -> Snapshot {
        Snapshot {
            decisions: book,
            ..self
        }
    }

    /// The same snapshot with one piece of intel replaced, or `None` when this
    /// snapshot's config no longer names the source the piece was loaded from (a
    /// config reload moved or dropped it meanwhile).
    pub fn with_piece(&self, loaded: Loaded) -> Option<Snapshot> {
        if !loaded.belongs_to(&self.config.intel) {
            return None;
        }
        let mut intel = (*self.intel).clone();
        intel.put(&self.config.intel, &loaded.id, loaded.piece);
        Some(Snapshot {
            intel: Arc::new(intel),
            ..self.clone()
        })
    }
}
