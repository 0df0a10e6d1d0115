//! Deciding recorded requests again, offline, with the live gateway's own steps: the
//! client address, the route, enrichment, the request's evidence, hopping, the checks
//! and the limits — on a virtual clock that follows the records' times. Nothing is
//! sent anywhere; no running gateway is touched.

use std::time::{Duration, Instant};

use governor::clock::FakeRelativeClock;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use futures_util::FutureExt as _;

use super::input::Record;
use crate::decide::Decision;
use crate::evidence::fields::Unreadable;
use crate::hops::HopStore;
use crate::intel::Facts;
use crate::limits::Limiters;
use crate::path::client::Client;
use crate::path::{self, ClientFrom, Counters, Evidence, Sent, View};
use crate::state::Snapshot;

/// One record decided: its route, the client's facts and the decision.
pub struct Decided {
    pub route: usize,
    pub facts: Facts,
    pub decision: Decision,
}

pub struct Engine {
    pub snap: Snapshot,
    limiters: Limiters<FakeRelativeClock>,
    clock: FakeRelativeClock,
    hops: HopStore,
    /// the virtual clock's origin: the first record's time, at `base`
    base: Instant,
    first_us: Option<i64>,
    last_us: i64,
}

impl Engine {
    pub fn new(snap: Snapshot) -> Engine {
        let clock = FakeRelativeClock::default();
        Engine {
            limiters: Limiters::with_clock(&snap.config, clock.clone()),
            hops: HopStore::new(snap.config.limiter_max_keys),
            snap,
            clock,
            base: Instant::now(),
            first_us: None,
            last_us: 0,
        }
    }

    /// Move the virtual clock to the record's time (never back: a record older than
    /// the last is decided at the last one's time); the hopping store's instant.
    fn tick(&mut self, time_us: i64) -> Instant {
        let first = *self.first_us.get_or_insert_with(|| {
            self.last_us = time_us;
            time_us
        });
        if time_us > self.last_us {
            self.clock
                .advance(Duration::from_micros((time_us - self.last_us) as u64));
            self.last_us = time_us;
        }
        self.base + Duration::from_micros(self.last_us.saturating_sub(first) as u64)
    }

    /// Decide `r` as the gateway would have; `None` when no route matches.
    pub fn decide(&mut self, r: &Record) -> Option<Decided> {
        let at = self.tick(r.time_us);
        let mut hdrs = HeaderMap::new();
        for (k, v) in &r.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                hdrs.append(k, v);
            }
        }
        let method = Method::from_bytes(r.method.as_bytes()).ok()?;
        // the own log holds the client as the gateway resolved it
        // (an invalid one logged as the unspecified address)
        let client = match r.logged {
            Some(_) => ClientFrom::Resolved(Client {
                ip: r.ip,
                invalid: r.ip.is_unspecified(),
            }),
            None => ClientFrom::Peer(r.ip),
        };
        let view = View::of_target(&method, &r.target, &hdrs, client);
        let cfg = &self.snap.config;
        let route = path::route(cfg, &view)?;
        let policy = &cfg.policies[cfg.routes[route].policy];
        let evidence = match &r.logged {
            // the evidence as logged: plain check fields, identifiers as their hashes
            Some(l) => {
                let n = cfg.fields.len();
                let mut values = vec![None; n];
                let plain = [
                    (policy.checks.timezone, &l.timezone),
                    (policy.checks.declared_country, &l.declared_country),
                ];
                for (i, v) in plain {
                    if let Some(i) = i.filter(|_| !v.is_empty()) {
                        values[i] = Some(v.clone());
                    }
                }
                let mut ids = vec![None; n];
                for &i in &policy.ids {
                    ids[i] = l.ids.get(&cfg.fields[i].name).copied();
                }
                let unreadable = l.unreadable_body.then_some(Unreadable::Malformed);
                Evidence::Logged {
                    values,
                    ids,
                    unreadable,
                }
            }
            None => Evidence::Request(match r.body.as_deref() {
                Some(b) => Sent::Whole(b),
                None => Sent::Whole(&[]),
            }),
        };
        let counters = Counters::Replay {
            limiters: &self.limiters,
            hops: &self.hops,
            at,
        };
        // replay's state is in this process: the path never waits on it
        let o = path::run(&self.snap, route, &view, evidence, counters, at)
            .now_or_never()
            .expect("replay's path never waits");
        Some(Decided {
            route,
            facts: o.facts,
            decision: o.decision,
        })
    }
}
