//! What a replay found: per route the counts by action, the signals and networks, the
//! top blocked or limited subnets, ASNs and countries, the lines it could not read, and
//! with `--against` what changed.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::IpAddr;

use serde_json::{json, Value};

use super::engine::Decided;
use super::input::Record;
use super::verdict;
use crate::config::Config;

/// The first unreadable lines shown (all are counted).
const SHOWN_UNPARSED: usize = 10;
/// Examples kept per change.
const EXAMPLES: usize = 3;
/// Entries of each top list.
const TOP: usize = 10;

#[derive(Debug, Default)]
pub struct Summary {
    pub requests: u64,
    pub unmatched: u64,
    pub unparsed: u64,
    pub unparsed_lines: Vec<String>,
    pub actions: BTreeMap<String, u64>,
    pub routes: BTreeMap<String, BTreeMap<String, u64>>,
    pub signals: BTreeMap<String, u64>,
    pub networks: BTreeMap<String, u64>,
    /// blocked or limited: by /24 (/48), by ASN, by country — named when shown
    subnets: HashMap<IpAddr, u64>,
    asns: HashMap<u32, u64>,
    countries: HashMap<[u8; 2], u64>,
    pub changes: BTreeMap<String, u64>,
    pub examples: BTreeMap<String, Vec<String>>,
}

/// The address's /24 (IPv4) or /48 (IPv6), as its first address.
fn subnet(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & 0xffff_ff00).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) & !((1u128 << 80) - 1)).into()),
    }
}

fn subnet_name(net: &IpAddr) -> String {
    match net {
        IpAddr::V4(a) => format!("{a}/24"),
        IpAddr::V6(a) => format!("{a}/48"),
    }
}

/// Count one more of `k`, allocating its key only the first time.
fn bump(m: &mut BTreeMap<String, u64>, k: &str) {
    match m.get_mut(k) {
        Some(n) => *n += 1,
        None => {
            m.insert(k.to_string(), 1);
        }
    }
}

/// The `TOP` most counted keys, named: sorted by count (then key) first, only those
/// few named.
fn top<K: Ord>(m: &HashMap<K, u64>, name: impl Fn(&K) -> String) -> Vec<(String, u64)> {
    let mut v: Vec<(&K, u64)> = m.iter().map(|(k, n)| (k, *n)).collect();
    let by = |a: &(&K, u64), b: &(&K, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
    if v.len() > TOP {
        v.select_nth_unstable_by(TOP, by);
        v.truncate(TOP);
    }
    v.sort_by(by);
    v.into_iter().map(|(k, n)| (name(k), n)).collect()
}

impl Summary {
    pub fn unparsed(&mut self, file: &str, line: usize, why: String) {
        self.unparsed += 1;
        if self.unparsed_lines.len() < SHOWN_UNPARSED {
            self.unparsed_lines.push(format!("{file}:{line}: {why}"));
        }
    }

    pub fn add(&mut self, cfg: &Config, d: &Decided) {
        let v = verdict(&d.decision);
        let route = &cfg.routes[d.route];
        let policy = &cfg.policies[route.policy];
        bump(&mut self.actions, v);
        match self.routes.get_mut(route.name.as_str()) {
            Some(m) => bump(m, v),
            None => {
                let mut m = BTreeMap::new();
                bump(&mut m, v);
                self.routes.insert(route.name.clone(), m);
            }
        }
        if !d.decision.reasons.is_empty() {
            for s in d.decision.reasons.iter(&cfg.intel.lists, &policy.limits) {
                bump(&mut self.signals, s);
            }
        }
        bump(&mut self.networks, d.decision.network.as_str());
        if v == "block" || v == "limit" {
            *self.subnets.entry(subnet(d.facts.ip)).or_default() += 1;
            if let Some(a) = d.facts.asn {
                *self.asns.entry(a).or_default() += 1;
            }
            if let Some(c) = d.facts.country {
                *self.countries.entry(c).or_default() += 1;
            }
        }
    }

    pub fn change(&mut self, from: &str, to: &str, r: &Record, line: usize, file: &str) {
        let k = format!("{from}→{to}");
        *self.changes.entry(k.clone()).or_default() += 1;
        let ex = self.examples.entry(k).or_default();
        if ex.len() < EXAMPLES {
            ex.push(format!("{file}:{line}: {} {} {}", r.ip, r.method, r.target));
        }
    }

    /// The top subnets, ASNs and countries, named.
    fn tops(&self) -> [(&'static str, Vec<(String, u64)>); 3] {
        [
            ("subnets", top(&self.subnets, subnet_name)),
            ("asns", top(&self.asns, |a| format!("AS{a}"))),
            (
                "countries",
                top(&self.countries, |c| String::from_utf8_lossy(c).into_owned()),
            ),
        ]
    }

    pub fn to_json(&self) -> Value {
        let tops: serde_json::Map<String, Value> = self
            .tops()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.into_iter()
                        .map(|(k, n)| json!({"key": k, "count": n}))
                        .collect(),
                )
            })
            .collect();
        json!({
            "requests": self.requests,
            "unmatched": self.unmatched,
            "unparsed": self.unparsed,
            "unparsed_lines": self.unparsed_lines,
            "actions": self.actions,
            "routes": self.routes,
            "signals": self.signals,
            "networks": self.networks,
            "top_blocked_or_limited": tops,
            "changes": self.changes,
            "change_examples": self.examples,
        })
    }

    /// For a person: one block a route, then the signals, networks, tops and changes.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "{} requests: {} on routes, {} unmatched (forwarded untouched); {} lines not understood",
            self.requests,
            self.requests - self.unmatched,
            self.unmatched,
            self.unparsed
        );
        for l in &self.unparsed_lines {
            let _ = writeln!(o, "  {l}");
        }
        for (route, acts) in &self.routes {
            let total: u64 = acts.values().sum();
            let parts: Vec<String> = ["allow", "verify", "block", "limit"]
                .iter()
                .map(|a| format!("{a} {}", acts.get(*a).copied().unwrap_or(0)))
                .collect();
            let _ = writeln!(o, "\nroute {route}: {total} — {}", parts.join(", "));
        }
        let list = |title: &str, m: &BTreeMap<String, u64>, o: &mut String| {
            if m.is_empty() {
                return;
            }
            let mut v: Vec<_> = m.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1));
            let parts: Vec<String> = v.iter().map(|(k, n)| format!("{k} {n}")).collect();
            let _ = writeln!(o, "{title}: {}", parts.join(", "));
        };
        o.push('\n');
        list("signals", &self.signals, &mut o);
        list("networks", &self.networks, &mut o);
        for (title, t) in self.tops() {
            if !t.is_empty() {
                let parts: Vec<String> = t.iter().map(|(k, n)| format!("{k} {n}")).collect();
                let _ = writeln!(o, "top blocked/limited {title}: {}", parts.join(", "));
            }
        }
        if !self.changes.is_empty() {
            let _ = writeln!(o, "\nchanges with --against:");
            for (k, n) in &self.changes {
                let _ = writeln!(o, "  {k}: {n}");
                for e in self.examples.get(k).into_iter().flatten() {
                    let _ = writeln!(o, "    e.g. {e}");
                }
            }
        }
        o
    }
}
