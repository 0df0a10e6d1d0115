//! Limits and hopping shared by every replica through Redis (or Valkey), standalone
//! or Redis Cluster. One call a request for all its limit keys (an atomic GCRA script;
//! in a Redis Cluster one script a key, sent together), answered locally for a key
//! known to be exhausted until its retry time, bounded by `timeout`; when Redis is
//! slow or down, `on_error` decides. The connection is made, and remade, off the
//! request path.

mod cache;
mod conn;
mod scripts;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::MAX_WATCHES;
use crate::config::{ClusterConfig, OnClusterError, Policy};
use crate::evidence::ident::Id;
use crate::evidence::Request;
use crate::hops::{HopStore, Observation, Watched};
use crate::intel::Facts;
use crate::limits::{outcome_of, LimitOutcome, Limiters, Planned};
use crate::record::metrics::METRICS;
use cache::Exhausted;

pub use conn::{ping, ClusterError, Link};

/// How a call to Redis ended, as `riskgate_cluster_calls_total{result}` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallResult {
    Ok,
    Error,
    Timeout,
    Cached,
}

impl CallResult {
    fn count(self) {
        let label = match self {
            CallResult::Ok => "ok",
            CallResult::Error => "error",
            CallResult::Timeout => "timeout",
            CallResult::Cached => "cached",
        };
        METRICS.cluster_calls.with_label_values(&[label]).inc();
    }
}

/// A connection to the shared store and what this replica knows of it.
pub struct Cluster {
    cfg: ClusterConfig,
    link: Link,
    exhausted: Exhausted,
    gcra: redis::Script,
    hops: redis::Script,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("redis", &self.cfg.display)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Start connecting (in the background, retrying with backoff until it succeeds);
    /// requests meanwhile get `on_error`.
    pub fn start(cfg: ClusterConfig) -> Arc<Cluster> {
        Arc::new(Cluster {
            link: Link::start(&cfg),
            exhausted: Exhausted::new(),
            gcra: redis::Script::new(scripts::GCRA),
            hops: redis::Script::new(scripts::HOPS),
            cfg,
        })
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    /// Start connecting, if not yet, on the calling runtime: the proxy's service calls
    /// this when it starts (and every request, for a cluster a reload brought in).
    pub fn connect_soon(&self) {
        self.link.connect_soon();
    }

    /// Whether the connection is up.
    pub fn connected(&self) -> bool {
        self.link.connected()
    }

    /// The Redis key of one planned limit: the prefix, the policy, the limit (its
    /// label and rate, so that two limits on one key part stay apart), `m` for the
    /// mobile bucket, and the key.
    fn limit_key(&self, policy: &Policy, p: &Planned) -> String {
        let spec = &policy.limits[p.index];
        format!(
            "{}{}:{}@{}/{}:{}{:032x}",
            self.cfg.prefix,
            policy.name,
            spec.label,
            spec.count,
            spec.per.as_millis(),
            if p.mobile { "m:" } else { "" },
            p.key
        )
    }

    /// Take one token from every limit of the policy in the shared store.
    async fn shared_limits(
        &self,
        policy: &Policy,
        plans: &[Planned],
    ) -> (CallResult, Option<LimitOutcome>) {
        let keys: Vec<String> = plans.iter().map(|p| self.limit_key(policy, p)).collect();
        let now = Instant::now();
        // a key known to be exhausted is answered here: a flood costs Redis nothing
        let cached: Vec<(usize, Duration)> = plans
            .iter()
            .zip(&keys)
            .filter_map(|(p, k)| Some((p.index, self.exhausted.wait(k, now)?)))
            .collect();
        if !cached.is_empty() {
            return (CallResult::Cached, Some(outcome_of(policy, cached)));
        }
        let call = async {
            if self.cfg.cluster_mode {
                // a Redis Cluster spreads the keys over nodes: one script a key, sent
                // at once
                let invs = plans.iter().zip(&keys).map(|(p, k)| {
                    let mut inv = self.gcra.prepare_invoke();
                    inv.key(k).arg(micros(p.period)).arg(micros(p.tau));
                    inv
                });
                self.each_key(invs).await
            } else {
                let mut inv = self.gcra.prepare_invoke();
                for (p, k) in plans.iter().zip(&keys) {
                    inv.key(k).arg(micros(p.period)).arg(micros(p.tau));
                }
                self.link.invoke(&inv).await
            }
        };
        match self.timed(call).await {
            Ok(waits) => {
                let mut exhausted = Vec::new();
                for ((p, k), w) in plans.iter().zip(keys).zip(waits) {
                    if w > 0 {
                        let wait = Duration::from_micros(w as u64);
                        self.exhausted.insert(k, now + wait);
                        exhausted.push((p.index, wait));
                    }
                }
                (CallResult::Ok, Some(outcome_of(policy, exhausted)))
            }
            Err(r) => (r, None),
        }
    }

    /// In a Redis Cluster, which spreads keys over nodes: one script a key, sent at
    /// once; each script's first number.
    async fn each_key<'a>(
        &self,
        invs: impl Iterator<Item = redis::ScriptInvocation<'a>>,
    ) -> Result<Vec<i64>, ClusterError> {
        let link = &self.link;
        futures_util::future::try_join_all(invs.map(|inv| async move {
            let n: Vec<i64> = link.invoke(&inv).await?;
            Ok::<i64, ClusterError>(n.first().copied().unwrap_or(0))
        }))
        .await
    }

    /// Run a call within `timeout`, timed and counted; `Err` says how it failed.
    async fn timed<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ClusterError>>,
    ) -> Result<T, CallResult> {
        let started = Instant::now();
        let res = tokio::time::timeout(self.cfg.timeout, call).await;
        METRICS
            .cluster_seconds
            .observe(started.elapsed().as_secs_f64());
        match res {
            Ok(Ok(v)) => {
                self.link.healthy();
                Ok(v)
            }
            Ok(Err(e)) => {
                self.link.failed(&e);
                Err(CallResult::Error)
            }
            Err(_) => {
                self.link.failed(&ClusterError::Timeout(self.cfg.timeout));
                Err(CallResult::Timeout)
            }
        }
    }

    /// The Redis key of one watch of a key: the prefix, the policy, what the watch
    /// counts and its place among the policy's watches, and the key's id.
    fn watch_key(&self, policy: &Policy, o: &Observation) -> String {
        format!(
            "{}{}:{}{}:{}",
            self.cfg.prefix,
            policy.name,
            o.spec.what.as_str(),
            o.watch,
            o.id
        )
    }

    /// Every watch of one request in the shared store: one script for all of them
    /// (in a Redis Cluster one a key, sent at once); per watch, the distinct values.
    async fn shared_watches(
        &self,
        policy: &Policy,
        obs: &[Observation],
        record: bool,
    ) -> Result<Watched, CallResult> {
        let keys: Vec<String> = obs.iter().map(|o| self.watch_key(policy, o)).collect();
        let args = |inv: &mut redis::ScriptInvocation<'_>, o: &Observation| {
            inv.arg(crate::hops::value_label(o))
                .arg(o.spec.window.as_secs())
                .arg(o.spec.slots());
        };
        let call = async {
            if self.cfg.cluster_mode {
                let invs = obs.iter().zip(&keys).map(|(o, k)| {
                    let mut inv = self.hops.prepare_invoke();
                    inv.arg(u8::from(record)).key(k);
                    args(&mut inv, o);
                    inv
                });
                self.each_key(invs).await
            } else {
                let mut inv = self.hops.prepare_invoke();
                inv.arg(u8::from(record));
                for (o, k) in obs.iter().zip(&keys) {
                    inv.key(k);
                    args(&mut inv, o);
                }
                self.link.invoke(&inv).await
            }
        };
        let counts: Vec<i64> = self.timed(call).await?;
        let mut out = [0u16; MAX_WATCHES];
        for (o, n) in obs.iter().zip(counts) {
            out[o.watch] = n.clamp(0, i64::from(u16::MAX)) as u16;
        }
        Ok(out)
    }
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// The limits of a request: in the shared store when there is one (falling back as
/// `on_error` says), else this process's own.
#[allow(clippy::too_many_arguments)]
pub async fn check_limits(
    cluster: Option<&Cluster>,
    local: &Limiters,
    policy_index: usize,
    policy: &Policy,
    facts: &Facts,
    request: &Request<'_>,
    hash_key: &crate::config::HashKey,
) -> LimitOutcome {
    let Some(c) = cluster else {
        return local.check(policy_index, policy, facts, request, hash_key);
    };
    let plans = local.plan(policy_index, policy, facts, request, hash_key);
    if plans.is_empty() {
        return LimitOutcome::default();
    }
    let (result, outcome) = c.shared_limits(policy, &plans).await;
    result.count();
    if let Some(o) = outcome {
        return o;
    }
    match c.cfg.on_error {
        OnClusterError::Local => local.check(policy_index, policy, facts, request, hash_key),
        OnClusterError::Allow => LimitOutcome::default(),
        OnClusterError::Block => outcome_of(
            policy,
            plans.iter().map(|p| (p.index, Duration::from_secs(1))),
        ),
    }
}

/// What the policy's watches (`hopping`, `spread`) count for a request, this one's
/// values included and (when `record`) recorded: in the shared store when there is
/// one, else — and when it fails — in this process's own.
#[allow(clippy::too_many_arguments)]
pub async fn watch(
    cluster: Option<&Cluster>,
    local: &HopStore,
    policy_index: usize,
    policy: &Policy,
    ids: &[Option<Id>],
    facts: &Facts,
    at: Instant,
    record: bool,
) -> Watched {
    if policy.checks.watches.is_empty() {
        return [0; MAX_WATCHES];
    }
    let observations = || crate::hops::observations(policy, ids, facts);
    if let Some(c) = cluster {
        // the shared store needs them together (one script); the local one does not
        let obs: Vec<Observation> = observations().collect();
        if obs.is_empty() {
            return [0; MAX_WATCHES];
        }
        match c.shared_watches(policy, &obs, record).await {
            Ok(n) => {
                CallResult::Ok.count();
                return n;
            }
            Err(e) => e.count(),
        }
    }
    local.watch(policy_index, observations(), at, record)
}
