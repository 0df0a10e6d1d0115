//! Prometheus metrics. Label values are bounded: route names, actions, signal names,
//! source names and key kinds — never addresses.
//!
//! Per-request counters are resolved once per route when a snapshot is built
//! ([`RouteMetrics`]), so a request only increments atomics.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use std::time::Instant;

use crate::config::{Config, LimitSignal};
use crate::decide::{Decision, Signal, SIGNAL_COUNT};
use crate::intel::Facts;
use crate::record::live::{outcome, RouteLive, LIVE};
use crate::record::Frontend;

pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub signals: IntCounterVec,
    pub decision_seconds: Histogram,
    pub reloads: IntCounterVec,
    pub source_age: IntGaugeVec,
    pub source_entries: IntGaugeVec,
    pub source_skipped: IntGaugeVec,
    pub tor_exits: IntGauge,
    pub limiter_keys: IntGaugeVec,
    pub ready: IntGauge,
    pub cluster_calls: IntCounterVec,
    pub cluster_seconds: Histogram,
    pub cluster_up: IntGauge,
    pub cluster_configured: IntGauge,
    pub connections_open: IntGauge,
    pub connections_refused: IntCounter,
    pub client_timeouts: IntCounterVec,
    pub heads_too_large: IntCounter,
    pub decisions: IntGaugeVec,
    pub decision_hits: IntCounterVec,
}

/// What `riskgate_client_timeouts_total{kind}` counts: a head not whole within
/// `header_timeout`, a body a policy reads not whole within `body_timeout`.
pub const CLIENT_TIMEOUTS: [&str; 2] = ["header", "body"];

/// Results a cluster call is counted under: answered by Redis, failed, past `timeout`,
/// or answered here from a key known to be exhausted.
pub const CLUSTER_RESULTS: [&str; 4] = ["ok", "error", "timeout", "cached"];

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new(
            "riskgate_requests_total",
            "Matched requests by route, action (limit: answered with on_limit) and the front door (proxy, authz)",
        ),
        &["route", "action", "frontend"],
    )
    .expect("metric");
    let signals = IntCounterVec::new(
        Opts::new(
            "riskgate_signals_total",
            "Signals present on matched requests",
        ),
        &["route", "signal"],
    )
    .expect("metric");
    let decision_seconds = Histogram::with_opts(
        HistogramOpts::new(
            "riskgate_decision_seconds",
            "Time to decide a matched request (client IP to decision)",
        )
        .buckets(vec![
            0.000_001, 0.000_002, 0.000_005, 0.000_01, 0.000_02, 0.000_05, 0.000_1, 0.000_25,
            0.000_5, 0.001, 0.005,
        ]),
    )
    .expect("metric");
    let reloads = IntCounterVec::new(
        Opts::new(
            "riskgate_reloads_total",
            "Data and config (re)loads by source and result",
        ),
        &["source", "result"],
    )
    .expect("metric");
    let source_age = IntGaugeVec::new(
        Opts::new(
            "riskgate_source_age_seconds",
            "Seconds since the source was last loaded or confirmed fresh",
        ),
        &["source"],
    )
    .expect("metric");
    let source_entries = IntGaugeVec::new(
        Opts::new(
            "riskgate_source_entries",
            "Entries (prefixes, addresses, AS numbers) of the source's data in service",
        ),
        &["source"],
    )
    .expect("metric");
    let source_skipped = IntGaugeVec::new(
        Opts::new(
            "riskgate_source_skipped_lines",
            "Lines or entries of the source's data in service that were not understood",
        ),
        &["source"],
    )
    .expect("metric");
    let tor_exits = IntGauge::new(
        "riskgate_tor_exits",
        "Addresses in the Tor exit set in service",
    )
    .expect("metric");
    let limiter_keys = IntGaugeVec::new(
        Opts::new(
            "riskgate_limiter_keys",
            "Keys held by the rate limiters, by key kind",
        ),
        &["key"],
    )
    .expect("metric");
    let ready = IntGauge::new(
        "riskgate_ready",
        "1 once every configured source has loaded once",
    )
    .expect("metric");
    let cluster_calls = IntCounterVec::new(
        Opts::new(
            "riskgate_cluster_calls_total",
            "Shared-limit and hopping calls to Redis by result (ok, error, timeout, cached)",
        ),
        &["result"],
    )
    .expect("metric");
    for r in CLUSTER_RESULTS {
        cluster_calls.with_label_values(&[r]);
    }
    let cluster_seconds = Histogram::with_opts(
        HistogramOpts::new(
            "riskgate_cluster_seconds",
            "Time of a call to Redis (limits or hopping), as the request waited for it",
        )
        .buckets(vec![
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1,
        ]),
    )
    .expect("metric");
    let cluster_up = IntGauge::new(
        "riskgate_cluster_up",
        "1 while the cluster's Redis answers; 0 when it is down, slow or not configured",
    )
    .expect("metric");
    let cluster_configured = IntGauge::new(
        "riskgate_cluster_configured",
        "1 when the config in service has `cluster` (alerts on riskgate_cluster_up need it)",
    )
    .expect("metric");
    let connections_open = IntGauge::new(
        "riskgate_connections_open",
        "Client connections open on the proxy's listeners",
    )
    .expect("metric");
    let connections_refused = IntCounter::new(
        "riskgate_connections_refused_total",
        "Client connections refused at accept: the address already held server.max_connections_per_ip",
    )
    .expect("metric");
    let client_timeouts = IntCounterVec::new(
        Opts::new(
            "riskgate_client_timeouts_total",
            "Client requests cut off: kind header (server.header_timeout) or body (body_timeout, answered 408)",
        ),
        &["kind"],
    )
    .expect("metric");
    let heads_too_large = IntCounter::new(
        "riskgate_heads_too_large_total",
        "Client connections closed because a request head passed server.max_header_bytes",
    )
    .expect("metric");
    for k in CLIENT_TIMEOUTS {
        client_timeouts.with_label_values(&[k]);
    }
    let decisions = IntGaugeVec::new(
        Opts::new(
            "riskgate_decisions",
            "Decisions in force by scope, action and origin",
        ),
        &["scope", "action", "origin"],
    )
    .expect("metric");
    let decision_hits = IntCounterVec::new(
        Opts::new(
            "riskgate_decision_hits_total",
            "Matched requests a decision applied to, by route and the decision's action",
        ),
        &["route", "action"],
    )
    .expect("metric");
    for c in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(connections_open.clone()),
        Box::new(connections_refused.clone()),
        Box::new(client_timeouts.clone()),
        Box::new(heads_too_large.clone()),
        Box::new(cluster_configured.clone()),
        Box::new(cluster_calls.clone()),
        Box::new(cluster_seconds.clone()),
        Box::new(cluster_up.clone()),
        Box::new(signals.clone()),
        Box::new(decision_seconds.clone()),
        Box::new(reloads.clone()),
        Box::new(source_age.clone()),
        Box::new(source_entries.clone()),
        Box::new(source_skipped.clone()),
        Box::new(tor_exits.clone()),
        Box::new(limiter_keys.clone()),
        Box::new(ready.clone()),
        Box::new(decisions.clone()),
        Box::new(decision_hits.clone()),
    ] {
        registry.register(c).expect("register metric");
    }
    Metrics {
        registry,
        requests,
        signals,
        decision_seconds,
        reloads,
        source_age,
        source_entries,
        source_skipped,
        tor_exits,
        limiter_keys,
        ready,
        cluster_calls,
        cluster_seconds,
        cluster_up,
        cluster_configured,
        connections_open,
        connections_refused,
        client_timeouts,
        heads_too_large,
        decisions,
        decision_hits,
    }
});

/// Results a source (re)load is counted under.
pub const RELOAD_RESULTS: [&str; 3] = ["ok", "error", "not_modified"];

/// Create every series of the sources a config names (and of the config itself) at
/// 0, so dashboards and alerts see them from the start, not after the first event.
pub fn register_sources<S: AsRef<str>>(sources: &[S]) {
    let m = &*METRICS;
    for r in RELOAD_RESULTS {
        m.reloads.with_label_values(&["config", r]);
    }
    for s in sources {
        for r in RELOAD_RESULTS {
            m.reloads.with_label_values(&[s.as_ref(), r]);
        }
        m.source_age.with_label_values(&[s.as_ref()]);
        m.source_entries.with_label_values(&[s.as_ref()]);
        m.source_skipped.with_label_values(&[s.as_ref()]);
    }
    for k in ["ip", "subnet", "asn"] {
        m.limiter_keys.with_label_values(&[k]);
    }
}

/// The series a config in service decides: its field and named limits'
/// `riskgate_limiter_keys` (at 0), and whether it has `cluster`.
pub fn register_config(cfg: &Config) {
    METRICS
        .cluster_configured
        .set(i64::from(cfg.cluster.is_some()));
    for l in cfg.policies.iter().flat_map(|p| &p.limits) {
        METRICS.limiter_keys.with_label_values(&[l.label.as_str()]);
    }
}

/// The counters of one route, resolved once.
pub struct RouteMetrics {
    /// by front door: allow, verify, block, limit
    actions: [[IntCounter; 4]; 2],
    fixed: [IntCounter; SIGNAL_COUNT],
    /// indexed like the config's lists
    lists: Vec<IntCounter>,
    /// indexed like the route's policy's limits (`rate:NAME` ones; `None` for the others)
    rates: Vec<Option<IntCounter>>,
    /// decisions that applied, by [`crate::decide::recalled::Action`]
    hits: [IntCounter; 4],
    /// the route's live figures (the dashboard's)
    pub live: std::sync::Arc<RouteLive>,
    /// the policy's subnet prefixes (v4, v6), for the heavy hitters
    prefixes: (u8, u8),
}

impl RouteMetrics {
    pub fn for_config(cfg: &Config) -> Vec<RouteMetrics> {
        let m = &*METRICS;
        cfg.routes
            .iter()
            .map(|r| {
                let policy = &cfg.policies[r.policy];
                let a = |door: Frontend| {
                    ["allow", "verify", "block", "limit"].map(|x| {
                        m.requests
                            .with_label_values(&[r.name.as_str(), x, door.as_str()])
                    })
                };
                let s = |x: &str| m.signals.with_label_values(&[r.name.as_str(), x]);
                let h = |x: crate::decide::recalled::Action| {
                    m.decision_hits
                        .with_label_values(&[r.name.as_str(), x.as_str()])
                };
                use crate::decide::recalled::Action as D;
                RouteMetrics {
                    actions: Frontend::ALL.map(a),
                    hits: [h(D::Verify), h(D::Shadow), h(D::Block), h(D::Allow)],
                    fixed: Signal::ALL.map(|sig| s(sig.name())),
                    lists: cfg.intel.lists.iter().map(|l| s(&l.signal)).collect(),
                    rates: cfg.policies[r.policy]
                        .limits
                        .iter()
                        .map(|l| match &l.signal {
                            LimitSignal::Named(n) => Some(s(n)),
                            LimitSignal::Fixed(_) => None,
                        })
                        .collect(),
                    live: LIVE.route(
                        &r.name,
                        cfg.intel.lists.iter().map(|l| l.signal.clone()).collect(),
                        policy
                            .limits
                            .iter()
                            .map(|l| AsRef::<str>::as_ref(l).to_string())
                            .collect(),
                    ),
                    prefixes: (policy.subnet_v4, policy.subnet_v6),
                }
            })
            .collect()
    }

    /// Count a decided request, in the metrics and the live figures: atomics only.
    pub fn record(&self, d: &Decision, facts: &Facts, at: Instant, door: Frontend) {
        self.actions[door as usize][outcome(d)].inc();
        if let Some(h) = d.recalled {
            self.hits[h.action as usize].inc();
        }
        let prefix = if facts.ip.is_ipv4() {
            self.prefixes.0
        } else {
            self.prefixes.1
        };
        LIVE.record(&self.live, at, d, facts, prefix);
        let mut bits = d.reasons.fixed;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            self.fixed[b].inc();
        }
        let mut bits = d.reasons.lists;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(c) = self.lists.get(b) {
                c.inc();
            }
        }
        let mut bits = d.reasons.rates;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(Some(c)) = self.rates.get(b) {
                c.inc();
            }
        }
    }
}

/// The text exposition of every metric.
pub fn render() -> String {
    let mut buf = Vec::new();
    let _ = TextEncoder::new().encode(&METRICS.registry.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}
