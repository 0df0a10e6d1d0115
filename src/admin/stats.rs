//! `GET /stats`: the dashboard's figures as JSON — the live figures of the last hour
//! (record::live), each data source's state, and the rates against the thresholds
//! the shipped Prometheus alerts use.

use serde_json::{json, Value};

use crate::decide::Signal;
use crate::record::live::{View, LIVE, NETWORK_NAMES, OUTCOME_NAMES};
use crate::record::metrics::METRICS;
use crate::state::reload::Reloader;
use crate::state::Snapshot;

/// A rate the dashboard judges: its name, what it is a share of, and its warning
/// and critical thresholds (the same as deploy/prometheus/alerts.yaml).
pub struct Threshold {
    pub name: &'static str,
    pub what: &'static str,
    pub warning: f64,
    pub critical: f64,
}

/// The VPN detection rate first: the figure operators watch most.
pub const THRESHOLDS: [Threshold; 4] = [
    Threshold {
        name: "vpn",
        what: "matched requests from a VPN",
        warning: 0.15,
        critical: 0.25,
    },
    Threshold {
        name: "block",
        what: "matched requests blocked",
        warning: 0.05,
        critical: 0.10,
    },
    Threshold {
        name: "verify",
        what: "matched requests sent to verification",
        warning: 0.10,
        critical: 0.20,
    },
    Threshold {
        name: "limit",
        what: "matched requests rate-limited",
        warning: 0.05,
        critical: 0.10,
    },
];

fn share(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

fn rfc3339(unix_ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(unix_ms as i64)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn country(c: Option<[u8; 2]>) -> Value {
    match c {
        Some(c) => Value::from(String::from_utf8_lossy(&c).into_owned()),
        None => Value::Null,
    }
}

/// The `/stats` document.
pub fn stats(snap: &Snapshot, reloader: &Reloader) -> Value {
    let routes: Vec<_> = snap.metrics.iter().map(|m| m.live.clone()).collect();
    let view = LIVE.view(&routes);
    reloader.update_gauges();
    document(snap, &view, reloader)
}

fn document(snap: &Snapshot, view: &View, reloader: &Reloader) -> Value {
    let cfg = &snap.config;
    let all = &view.all;
    let matched = all.matched();
    let vpn = all.fixed[Signal::Vpn as usize];
    let counts = [vpn, all.outcomes[2], all.outcomes[1], all.outcomes[3]];
    let rates: Vec<Value> = THRESHOLDS
        .iter()
        .zip(counts)
        .map(|(t, n)| {
            let v = share(n, matched);
            let state = if matched == 0 {
                "ok"
            } else if v > t.critical {
                "critical"
            } else if v > t.warning {
                "warning"
            } else {
                "ok"
            };
            json!({"name": t.name, "what": t.what, "count": n, "value": v,
                   "warning": t.warning, "critical": t.critical, "state": state})
        })
        .collect();
    let networks: Vec<Value> = NETWORK_NAMES
        .iter()
        .zip(all.networks)
        .map(|(n, c)| json!({"name": n, "count": c, "share": share(c, matched)}))
        .collect();
    // signals by name over every route, in the order the routes first show them
    let mut signals: Vec<(String, u64)> = Vec::new();
    for r in &view.routes {
        for (name, n) in &r.signals {
            match signals.iter_mut().find(|(s, _)| s == name) {
                Some(e) => e.1 += n,
                None => signals.push((name.clone(), *n)),
            }
        }
    }
    let by_order = |name: &str| {
        crate::signals::DEFS
            .iter()
            .position(|d| d.name == name)
            .unwrap_or(usize::MAX)
    };
    signals.sort_by_key(|(n, _)| (n != "vpn", by_order(n)));
    let signals: Vec<Value> = signals
        .iter()
        .map(|(n, c)| json!({"name": n, "count": c, "share": share(*c, matched)}))
        .collect();
    let route_docs: Vec<Value> = view
        .routes
        .iter()
        .zip(&cfg.routes)
        .map(|(r, route)| {
            let mode = cfg.policies[route.policy].mode.as_str();
            let totals: serde_json::Map<String, Value> = OUTCOME_NAMES
                .iter()
                .zip(r.totals.outcomes)
                .map(|(k, v)| (k.to_string(), Value::from(v)))
                .collect();
            json!({"name": r.name, "policy": cfg.policies[route.policy].name, "mode": mode,
                   "matched": r.totals.matched(),
                   "totals": totals, "minutes": r.minutes})
        })
        .collect();
    let sources: Vec<Value> = reloader
        .status()
        .into_iter()
        .map(|s| {
            let entries = METRICS
                .source_entries
                .with_label_values(&[s.source.as_str()])
                .get();
            json!({"source": s.source, "from": s.from, "loaded": s.loaded,
                   "age_seconds": s.age_seconds, "entries": entries,
                   "last_error": s.last_error})
        })
        .collect();
    let recent: Vec<Value> = view
        .recent
        .iter()
        .map(|e| {
            json!({"time": rfc3339(e.unix_ms), "route": e.route, "ip": e.ip.to_string(),
                   "country": country(e.country), "asn": e.asn, "score": e.score,
                   "action": e.outcome, "network": e.network,
                   "mode": if e.shadow { "shadow" } else { "enforce" }, "reasons": e.reasons})
        })
        .collect();
    let t = &view.tops;
    json!({
        "time": rfc3339(view.unix_ms),
        "window_seconds": view.window_seconds,
        "config": cfg.file.display().to_string(),
        "ready": reloader.ready(),
        "matched": matched,
        "rates": rates,
        "networks": networks,
        "signals": signals,
        "routes": route_docs,
        "top": {
            "blocked_or_limited": t.total,
            "subnets": t.subnets.iter().map(|(k, n)| json!({"subnet": k.to_string(), "count": n})).collect::<Vec<_>>(),
            "asns": t.asns.iter().map(|(k, n)| json!({"asn": k, "count": n})).collect::<Vec<_>>(),
            "countries": t.countries.iter().map(|(k, n)| json!({"country": country(Some(*k)), "count": n})).collect::<Vec<_>>(),
        },
        "sources": sources,
        "recent": recent,
        "dropped_events": view.dropped,
        "heavy_hitter_bytes": view.heavy_hitter_bytes,
    })
}
