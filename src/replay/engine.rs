//! Deciding recorded requests again, offline, with the live gateway's own steps: the
//! client address, the route, enrichment, the request's evidence, hopping, the checks
//! and the limits — on a virtual clock that follows the records' times. Nothing is
//! sent anywhere; no running gateway is touched.

use std::time::{Duration, Instant};

use governor::clock::FakeRelativeClock;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::input::Record;
use crate::decide::{self, Decision};
use crate::evidence::fields::{self, Body, Unreadable};
use crate::evidence::{ident, Request};
use crate::hops::HopStore;
use crate::http::client_ip;
use crate::intel::Facts;
use crate::limits::Limiters;
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
        let cfg = &self.snap.config;
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
        let (path, query) = match r.target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (r.target.as_str(), None),
        };
        let route = cfg.route_table.find(&method, path, &hdrs)?;
        // the own log holds the client as the gateway resolved it
        // (an invalid one logged as the unspecified address)
        let client = match r.logged {
            Some(_) => client_ip::Client {
                ip: r.ip,
                invalid: r.ip.is_unspecified(),
            },
            None => client_ip::resolve(r.ip, &hdrs, &cfg.client_ip),
        };
        let facts = client_ip::facts(&self.snap.intel, client, &cfg.intel);
        let pi = cfg.routes[route].policy;
        let policy = &cfg.policies[pi];
        let n = cfg.fields.len();
        let (values, ids, unreadable) = match &r.logged {
            // the evidence as logged: plain check fields, identifiers as their hashes
            Some(l) => {
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
                (values, ids, unreadable)
            }
            None => {
                let body = Body::whole(
                    &hdrs,
                    r.body.as_deref().unwrap_or_default(),
                    policy.needs_body,
                    cfg.body_limit,
                );
                let (values, unreadable) =
                    fields::extract(&cfg.fields, &policy.fields, &hdrs, query, &body);
                let ids = ident::ids_of(&cfg.hash_key, &values, &policy.ids);
                (values, ids, unreadable)
            }
        };
        let watched = self.hops.watch(
            pi,
            crate::hops::observations(policy, &ids, &facts),
            at,
            true,
        );
        let request = Request {
            fields: &values,
            ids: &ids,
            unreadable_body: unreadable,
            watched,
            ..Request::from_headers(&hdrs)
        };
        // a replay decides the past by its traffic: today's decisions are not applied
        let mut d = decide::assess(&facts, &request, None, policy, &cfg.intel);
        if d.needs_limits() && !policy.limits.is_empty() {
            let o = self
                .limiters
                .check(pi, policy, &facts, &request, &cfg.hash_key);
            d = decide::apply_limits(d, o, policy);
        }
        Some(Decided {
            route,
            facts,
            decision: d,
        })
    }
}
