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
    subnets: HashMap<String, u64>,
    asns: HashMap<String, u64>,
    countries: HashMap<String, u64>,
    pub changes: BTreeMap<String, u64>,
    pub examples: BTreeMap<String, Vec<String>>,
}

fn subnet(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

fn top(m: &HashMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = m.iter().map(|(k, n)| (k.clone(), *n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(TOP);
    v
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
        *self.actions.entry(v.into()).or_default() += 1;
        *self
            .routes
            .entry(route.name.clone())
            .or_default()
            .entry(v.into())
            .or_default() += 1;
        for s in d.decision.reasons.iter(&cfg.intel.lists, &policy.limits) {
            *self.signals.entry(s.to_string()).or_default() += 1;
        }
        *self
            .networks
            .entry(d.decision.network.as_str().into())
            .or_default() += 1;
        if v == "block" || v == "limit" {
            *self.subnets.entry(subnet(d.facts.ip)).or_default() += 1;
            if let Some(a) = d.facts.asn {
                *self.asns.entry(format!("AS{a}")).or_default() += 1;
            }
            if let Some(c) = d.facts.country_str() {
                *self.countries.entry(c.to_string()).or_default() += 1;
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

    pub fn to_json(&self) -> Value {
        let tops = |m: &HashMap<String, u64>| {
            top(m)
                .into_iter()
                .map(|(k, n)| json!({"key": k, "count": n}))
                .collect::<Vec<_>>()
        };
        json!({
            "requests": self.requests,
            "unmatched": self.unmatched,
            "unparsed": self.unparsed,
            "unparsed_lines": self.unparsed_lines,
            "actions": self.actions,
            "routes": self.routes,
            "signals": self.signals,
            "networks": self.networks,
            "top_blocked_or_limited": {
                "subnets": tops(&self.subnets),
                "asns": tops(&self.asns),
                "countries": tops(&self.countries),
            },
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
        for (title, m) in [
            ("top blocked/limited subnets", &self.subnets),
            ("top blocked/limited ASNs", &self.asns),
            ("top blocked/limited countries", &self.countries),
        ] {
            let t = top(m);
            if !t.is_empty() {
                let parts: Vec<String> = t.iter().map(|(k, n)| format!("{k} {n}")).collect();
                let _ = writeln!(o, "{title}: {}", parts.join(", "));
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
