//! The live figures behind `/stats` and `/dashboard`: per route the last hour by
//! minute, the network and signal mix, the heaviest blocked or limited subnets, ASNs
//! and countries, and the last decisions.
//!
//! The request path takes no lock: it adds to its route's [`window::Window`] with
//! atomics and pushes a small [`Event`] onto a bounded lock-free queue. The
//! housekeeping tick (every second) and `/stats` drain the queue into the heavy
//! hitters and the recent list, under a mutex only they take. When the queue is full
//! (a flood faster than a second's drain), the event is counted as dropped: the
//! per-minute counts stay exact, only the heavy hitters miss it.

pub mod top;
pub mod window;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_queue::ArrayQueue;
use ipnet::IpNet;

use crate::decide::{Decision, Network, Signal};
use crate::intel::Facts;
use crate::signals::Reasons;
use top::{HeavyHitters, Recent, Tops};
use window::{Counts, Window};

/// Events the queue holds between drains (about 1.2 MiB).
const QUEUE: usize = 16 * 1024;
/// Decisions the recent list keeps.
const RECENT: usize = 50;
/// Entries each top list shows.
const TOP: usize = 10;

/// One matched request, as the aggregator needs it.
#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub unix_ms: u64,
    pub route: u32,
    pub ip: IpAddr,
    /// the policy's subnet prefix for `ip`
    pub prefix: u8,
    pub country: Option<[u8; 2]>,
    pub asn: Option<u32>,
    pub score: u8,
    /// allow, verify, block, limit
    pub outcome: u8,
    pub network: Network,
    pub shadow: bool,
    pub reasons: Reasons,
}

/// One route of one config shape: its window and the names of its list and rate
/// signals (a reload that changes them starts a new one).
pub struct RouteLive {
    pub id: u32,
    pub name: String,
    pub lists: Vec<String>,
    pub rates: Vec<String>,
    pub window: Window,
}

struct Aggregate {
    heavy: HeavyHitters,
    recent: Recent<Event>,
}

pub struct Live {
    start: Instant,
    start_unix_ms: u64,
    routes: Mutex<HashMap<u32, Arc<RouteLive>>>,
    next_id: AtomicU64,
    queue: ArrayQueue<Event>,
    dropped: AtomicU64,
    aggregate: Mutex<Aggregate>,
}

pub static LIVE: LazyLock<Live> = LazyLock::new(Live::new);

/// The outcome index of a decision: allow, verify, block, or limit when riskgate
/// answered it with `on_limit` (as `riskgate_requests_total` counts it).
pub fn outcome(d: &Decision) -> usize {
    if d.limited && d.verdict == crate::decide::Verdict::Limit {
        3
    } else {
        d.action as usize
    }
}

pub const OUTCOME_NAMES: [&str; window::OUTCOMES] = ["allow", "verify", "block", "limit"];
pub const NETWORK_NAMES: [&str; window::NETWORKS] = [
    "tor",
    "hosting",
    "vpn",
    "proxy",
    "residential_proxy",
    "relay",
    "mobile",
    "residential",
    "unknown",
];

impl Default for Live {
    fn default() -> Live {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u8(0);
            h.finish()
        };
        Live {
            start: Instant::now(),
            start_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            routes: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            queue: ArrayQueue::new(QUEUE),
            dropped: AtomicU64::new(0),
            aggregate: Mutex::new(Aggregate {
                heavy: HeavyHitters::new(seed),
                recent: Recent::new(RECENT),
            }),
        }
    }

    /// The live record of a route (at snapshot build): the same one while its name
    /// and signal names stay, so a reload keeps the hour.
    pub fn route(&self, name: &str, lists: Vec<String>, rates: Vec<String>) -> Arc<RouteLive> {
        let mut routes = self.routes.lock().unwrap();
        if let Some(r) = routes
            .values()
            .find(|r| r.name == name && r.lists == lists && r.rates == rates)
        {
            return r.clone();
        }
        // forget routes no snapshot uses any more
        routes.retain(|_, r| Arc::strong_count(r) > 1);
        let id = self.next_id.fetch_add(1, Relaxed) as u32;
        let r = Arc::new(RouteLive {
            id,
            name: name.to_string(),
            window: Window::new(lists.len(), rates.len()),
            lists,
            rates,
        });
        routes.insert(id, r.clone());
        r
    }

    fn since_start(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    fn minute(&self, at: Instant) -> u32 {
        (self.since_start(at).as_secs() / 60) as u32
    }

    /// Record one decided request: no lock, no allocation.
    pub fn record(&self, r: &RouteLive, at: Instant, d: &Decision, facts: &Facts, prefix: u8) {
        let outcome = outcome(d);
        r.window
            .add(self.minute(at), outcome, d.network as usize, &d.reasons);
        let e = Event {
            unix_ms: self.start_unix_ms + self.since_start(at).as_millis() as u64,
            route: r.id,
            ip: facts.ip,
            prefix,
            country: facts.country,
            asn: facts.asn,
            score: d.score.min(100) as u8,
            outcome: outcome as u8,
            network: d.network,
            shadow: d.mode == crate::config::Mode::Shadow,
            reasons: d.reasons,
        };
        if self.queue.push(e).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Drain the queue into the heavy hitters and the recent list.
    fn drain(&self, agg: &mut Aggregate) {
        while let Some(e) = self.queue.pop() {
            if e.outcome >= 2 {
                let subnet = IpNet::new(e.ip, e.prefix)
                    .map(|n| n.trunc())
                    .unwrap_or_else(|_| IpNet::from(e.ip));
                agg.heavy.add(e.unix_ms / 1000, subnet, e.asn, e.country);
            }
            agg.recent.push(e);
        }
    }

    /// Every second: drain, and clear the next minute's slots before it starts.
    pub fn tick(&self) {
        let next = self.minute(Instant::now()) + 1;
        for r in self.routes.lock().unwrap().values() {
            r.window.prepare(next);
        }
        let mut agg = self.aggregate.lock().unwrap();
        self.drain(&mut agg);
    }

    /// The figures of the routes named `routes` (in that order), as of now.
    pub fn view(&self, routes: &[Arc<RouteLive>]) -> View {
        let now = Instant::now();
        let minute = self.minute(now);
        let unix_ms = self.start_unix_ms + self.since_start(now).as_millis() as u64;
        let (tops, recent, heavy_hitter_bytes) = {
            let mut agg = self.aggregate.lock().unwrap();
            self.drain(&mut agg);
            let names: HashMap<u32, Arc<RouteLive>> = self.routes.lock().unwrap().clone();
            let recent: Vec<RecentView> = agg
                .recent
                .newest_first()
                .map(|e| RecentView::of(e, names.get(&e.route)))
                .collect();
            (
                agg.heavy.top(unix_ms / 1000, TOP),
                recent,
                agg.heavy.mem_bytes(),
            )
        };
        let mut all = Counts::default();
        let mut route_views = Vec::new();
        for r in routes {
            let (minutes, sum) = r.window.hour(minute);
            all.add(&sum);
            route_views.push(RouteView {
                name: r.name.clone(),
                minutes: minutes.iter().map(|m| m.outcomes).collect(),
                signals: signal_counts(&sum, &r.lists, &r.rates),
                totals: sum,
            });
        }
        View {
            unix_ms,
            // the current minute is partial: the window covers the 59 before it too
            window_seconds: (u64::from(minute.min(59)) * 60 + self.since_start(now).as_secs() % 60)
                .max(1),
            routes: route_views,
            all,
            tops,
            recent,
            dropped: self.dropped.load(Relaxed),
            heavy_hitter_bytes,
        }
    }
}

/// Signal name → count, in the contract's order, for the signals that occurred.
fn signal_counts(c: &Counts, lists: &[String], rates: &[String]) -> Vec<(String, u64)> {
    let all = Reasons {
        fixed: u32::MAX,
        lists: u64::MAX,
        rates: u16::MAX,
    };
    let mut out = Vec::new();
    for name in all.iter(lists, rates) {
        let n = if let Some(i) = lists.iter().position(|l| l == name) {
            c.lists[i]
        } else if let Some(i) = rates.iter().position(|l| l == name) {
            c.rates[i]
        } else {
            Signal::from_name(name).map_or(0, |s| c.fixed[s as usize])
        };
        if n > 0 {
            out.push((name.to_string(), n));
        }
    }
    out
}

/// What `/stats` shows of the live figures.
pub struct View {
    pub unix_ms: u64,
    /// the seconds the hour's figures cover (less than 3600 in the first hour)
    pub window_seconds: u64,
    pub routes: Vec<RouteView>,
    /// every route's counts summed (signals by name are per route)
    pub all: Counts,
    pub tops: Tops,
    pub recent: Vec<RecentView>,
    /// events the heavy hitters missed because the queue was full
    pub dropped: u64,
    pub heavy_hitter_bytes: usize,
}

pub struct RouteView {
    pub name: String,
    /// per minute, oldest first: allow, verify, block, limit
    pub minutes: Vec<[u64; window::OUTCOMES]>,
    pub totals: Counts,
    pub signals: Vec<(String, u64)>,
}

pub struct RecentView {
    pub unix_ms: u64,
    pub route: String,
    pub ip: IpAddr,
    pub country: Option<[u8; 2]>,
    pub asn: Option<u32>,
    pub score: u8,
    pub outcome: &'static str,
    pub network: &'static str,
    pub shadow: bool,
    pub reasons: String,
}

impl RecentView {
    fn of(e: &Event, route: Option<&Arc<RouteLive>>) -> RecentView {
        RecentView {
            unix_ms: e.unix_ms,
            route: route.map_or_else(String::new, |r| r.name.clone()),
            ip: e.ip,
            country: e.country,
            asn: e.asn,
            score: e.score,
            outcome: OUTCOME_NAMES[usize::from(e.outcome).min(3)],
            network: e.network.as_str(),
            shadow: e.shadow,
            reasons: match route {
                Some(r) => e.reasons.render(&r.lists, &r.rates),
                None => e.reasons.render::<&str, &str>(&[], &[]),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_enums() {
        for n in [
            Network::Tor,
            Network::Hosting,
            Network::Vpn,
            Network::Proxy,
            Network::ResidentialProxy,
            Network::Relay,
            Network::Mobile,
            Network::Residential,
            Network::Unknown,
        ] {
            assert_eq!(NETWORK_NAMES[n as usize], n.as_str());
        }
        for a in [
            crate::decide::Action::Allow,
            crate::decide::Action::Verify,
            crate::decide::Action::Block,
        ] {
            assert_eq!(OUTCOME_NAMES[a as usize], a.as_str());
        }
    }
}
