//! The request path of DESIGN.md, written once: the client address, the route,
//! enrichment, the request's evidence (fields, body, identifier hashes), hopping,
//! recall, the checks, the limits and the verdict.
//!
//! Every front door — the proxy, forward auth, explain and replay — translates its
//! request into a [`View`], asks [`route`], reads a body when the route's policy wants
//! one and the door has one, calls [`run`] with the state it decides against
//! ([`Counters`]), and translates the [`Outcome`] into its answer. None of them decides
//! anything itself.

pub mod client;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::FakeRelativeClock;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::config::{Config, Policy};
use crate::decide::{self, Decision, LimitOutcome};
use crate::evidence::fields::{self, Body, Unreadable};
use crate::evidence::ident::{self, Id};
use crate::evidence::request::Watched;
use crate::evidence::Request;
use crate::hops::HopStore;
use crate::intel::Facts;
use crate::limits::Limiters;
use crate::record::Frontend;
use crate::state::Snapshot;
use client::Client;

/// Where a request's client comes from.
#[derive(Debug, Clone, Copy)]
pub enum ClientFrom {
    /// the TCP peer, and the client-IP header when the peer is a trusted proxy
    Peer(IpAddr),
    /// already resolved (riskgate's own decision log records the client it decided on)
    Resolved(Client),
}

/// A request as the path reads it: what every front door translates its own into.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub method: &'a Method,
    /// the path as the client sent it (percent-encoded, no query)
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub client: ClientFrom,
}

impl<'a> View<'a> {
    /// The view of a request target (`/path?query`).
    pub fn of_target(
        method: &'a Method,
        target: &'a str,
        headers: &'a HeaderMap,
        client: ClientFrom,
    ) -> View<'a> {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        View {
            method,
            path,
            query,
            headers,
            client,
        }
    }
}

/// The body of a request, as the door has it (asked only when the policy reads one).
#[derive(Debug, Clone, Copy)]
pub enum Sent<'a> {
    /// the door read it from the client, within `body_limit` (or why it could not)
    Read(Result<&'a [u8], Unreadable>),
    /// known whole (explain, replay)
    Whole(&'a [u8]),
    /// the front end sent none (forward auth without `forwardBody`): body fields are
    /// missing, their checks skipped
    Absent,
}

/// What the request says of itself.
pub enum Evidence<'a> {
    /// read from the request: its headers, query and this body
    Request(Sent<'a>),
    /// as riskgate's decision log wrote it: plain check fields, identifiers as their
    /// keyed hashes, indexed like the config's fields
    Logged {
        values: Vec<Option<String>>,
        ids: Vec<Option<Id>>,
        unreadable: Option<Unreadable>,
    },
}

/// The state a request is decided against.
pub enum Counters<'a> {
    /// the gateway's own (the cluster's, when shared): tokens are taken, hopping is
    /// recorded, decisions apply
    Live,
    /// the gateway's own, only looked at: no token taken, nothing recorded (explain)
    Peek,
    /// replay's, on its virtual clock (`at`): the past is decided by its traffic, so
    /// no decision of today applies
    Replay {
        limiters: &'a Limiters<FakeRelativeClock>,
        hops: &'a HopStore,
        at: Instant,
    },
}

/// Whether the policy had a body to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySeen {
    /// the policy reads no body field
    NotNeeded,
    Read,
    /// the policy reads one, and the front end sent none
    Absent,
}

impl BodySeen {
    pub fn as_str(self) -> &'static str {
        match self {
            BodySeen::NotNeeded => "",
            BodySeen::Read => "read",
            BodySeen::Absent => "absent",
        }
    }
}

/// A matched request, decided.
pub struct Outcome {
    pub route: usize,
    pub client: Client,
    pub facts: Facts,
    /// the policy's field values, indexed like the config's fields (empty when the
    /// policy reads none)
    pub values: Vec<Option<String>>,
    /// the identifiers' keyed hashes, indexed like the fields (empty when none)
    pub ids: Vec<Option<Id>>,
    pub unreadable: Option<Unreadable>,
    pub body: BodySeen,
    /// what the policy's watches counted
    pub watched: Watched,
    pub decision: Decision,
    /// the request's id: its `X-Request-Id` (within 128 bytes), else one of riskgate's;
    /// a header value, so that the door's header and the log share it uncopied. Given
    /// by the live doors ([`live`]); empty for explain and replay, which send nothing
    pub request_id: HeaderValue,
}

impl Outcome {
    /// The request's evidence as the checks read it.
    pub fn request<'a>(&'a self, headers: &'a HeaderMap) -> Request<'a> {
        Request {
            fields: &self.values,
            ids: &self.ids,
            unreadable_body: self.unreadable,
            watched: self.watched,
            ..Request::from_headers(headers)
        }
    }

    /// The route's policy.
    pub fn policy<'c>(&self, cfg: &'c Config) -> &'c Policy {
        &cfg.policies[cfg.routes[self.route].policy]
    }
}

/// Step 3: the first route that matches, if any (none: forward untouched, no lookups).
pub fn route(cfg: &Config, view: &View) -> Option<usize> {
    cfg.route_table.find(view.method, view.path, view.headers)
}

/// Whether the route's policy reads a body field (the door reads the body only then).
pub fn needs_body(cfg: &Config, route: usize) -> bool {
    cfg.policies[cfg.routes[route].policy].needs_body
}

/// Steps 1 and 4: the client and what the data sources say of it.
pub fn client(snap: &Snapshot, view: &View) -> (Client, Facts) {
    let cfg = &snap.config;
    let client = match view.client {
        ClientFrom::Peer(peer) => client::resolve(peer, view.headers, &cfg.client_ip),
        ClientFrom::Resolved(c) => c,
    };
    (client, client::facts(&snap.intel, client, &cfg.intel))
}

/// Steps 1, 4–7 for a request of `route`: the client, enrichment, the request's
/// evidence, hopping, recall, the checks and the limits, against `counters`.
pub async fn run(
    snap: &Snapshot,
    route: usize,
    view: &View<'_>,
    evidence: Evidence<'_>,
    counters: Counters<'_>,
    at: Instant,
) -> Outcome {
    let cfg = &snap.config;
    let (client, facts) = client(snap, view);
    let pi = cfg.routes[route].policy;
    let policy = &cfg.policies[pi];
    let (values, ids, unreadable, body) = match evidence {
        Evidence::Logged {
            values,
            ids,
            unreadable,
        } => (values, ids, unreadable, BodySeen::NotNeeded),
        Evidence::Request(sent) => {
            let (read, body) = if !policy.needs_body {
                (Body::NotNeeded, BodySeen::NotNeeded)
            } else {
                match sent {
                    Sent::Read(Ok(b)) => (
                        Body::Read(
                            b,
                            view.headers
                                .get(http::header::CONTENT_TYPE)
                                .and_then(|v| v.to_str().ok()),
                        ),
                        BodySeen::Read,
                    ),
                    Sent::Read(Err(u)) => (Body::Unreadable(u), BodySeen::Read),
                    Sent::Whole(b) => (
                        Body::whole(view.headers, b, true, cfg.body_limit),
                        BodySeen::Read,
                    ),
                    Sent::Absent => (Body::NotNeeded, BodySeen::Absent),
                }
            };
            // only what the policy reads
            let (values, unreadable) = if policy.fields.is_empty() {
                (Vec::new(), None)
            } else {
                fields::extract(&cfg.fields, &policy.fields, view.headers, view.query, &read)
            };
            let ids = if policy.ids.is_empty() {
                Vec::new()
            } else {
                ident::ids_of(&cfg.hash_key, &values, &policy.ids)
            };
            (values, ids, unreadable, body)
        }
    };
    // the watches' countries and networks (hopping, spread), this request's recorded
    let (cluster, hops, now, record) = match &counters {
        Counters::Live => (snap.cluster.as_deref(), &*snap.hops, at, true),
        Counters::Peek => (snap.cluster.as_deref(), &*snap.hops, at, false),
        Counters::Replay { hops, at, .. } => (None, *hops, *at, true),
    };
    let watched = crate::cluster::watch(cluster, hops, pi, policy, &ids, &facts, now, record).await;
    let request = Request {
        fields: &values,
        ids: &ids,
        unreadable_body: unreadable,
        watched,
        ..Request::from_headers(view.headers)
    };
    // 5b recall: what the app (or CrowdSec) decided about this client before
    let recalled = match counters {
        Counters::Replay { .. } => None,
        Counters::Live | Counters::Peek => crate::decisions::book::recall(
            &snap.decisions.current(),
            cfg,
            policy,
            &facts,
            &values,
            &ids,
        ),
    };
    let mut decision = decide::assess(&facts, &request, recalled, policy, &cfg.intel);
    if decision.needs_limits() && !policy.limits.is_empty() {
        let outcome = match &counters {
            Counters::Live => {
                crate::cluster::check_limits(
                    snap.cluster.as_deref(),
                    &snap.limiters,
                    pi,
                    policy,
                    &facts,
                    &request,
                    &cfg.hash_key,
                )
                .await
            }
            Counters::Peek => LimitOutcome::default(),
            Counters::Replay { limiters, .. } => {
                limiters.check(pi, policy, &facts, &request, &cfg.hash_key)
            }
        };
        decision = decide::apply_limits(decision, outcome, policy);
    }
    Outcome {
        route,
        client,
        facts,
        values,
        ids,
        unreadable,
        body,
        watched,
        decision,
        request_id: HeaderValue::from_static(""),
    }
}

/// A live door's request (the proxy's, forward auth's): decided against the live
/// state with the body the door read (`None`: it read none), and counted under `door`.
/// Returns the outcome and the time the decision took.
pub async fn live(
    snap: &Snapshot,
    route: usize,
    view: &View<'_>,
    body: Option<&Result<bytes::Bytes, Unreadable>>,
    door: Frontend,
    started: Instant,
) -> (Outcome, Duration) {
    let sent = match body {
        Some(r) => Sent::Read(r.as_ref().map(|b| &b[..]).map_err(|u| *u)),
        None => Sent::Absent,
    };
    let mut outcome = run(
        snap,
        route,
        view,
        Evidence::Request(sent),
        Counters::Live,
        started,
    )
    .await;
    outcome.request_id = request_id(view.headers);
    let took = started.elapsed();
    count(snap, &outcome, door, started, took);
    (outcome, took)
}

/// Step 9's counters: the decision's time, the route's metrics and live figures, by
/// the door it came through.
pub fn count(snap: &Snapshot, o: &Outcome, door: Frontend, started: Instant, took: Duration) {
    crate::record::metrics::METRICS
        .decision_seconds
        .observe(took.as_secs_f64());
    if let Some(m) = snap.metrics.get(o.route) {
        m.record(&o.decision, &o.facts, started, door);
    }
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// `rg-PID-` (the process id in hex), the prefix of riskgate's request ids (read
/// once: it is a system call).
static ID_PREFIX: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("rg-{:x}-", std::process::id()));

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's `X-Request-Id` (an ingress's `$request_id`), or one of ours
/// (`rg-PID-N`), its digits written by hand into a stack buffer.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(&X_REQUEST_ID) {
        if !v.is_empty() && v.len() <= 128 && v.to_str().is_ok() {
            return v.clone();
        }
    }
    let prefix = ID_PREFIX.as_bytes();
    let mut buf = [0u8; 48];
    buf[..prefix.len()].copy_from_slice(prefix);
    let mut digits = [0u8; 20];
    let mut n = REQUEST_SEQ.fetch_add(1, Ordering::Relaxed);
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let end = prefix.len() + digits.len() - i;
    buf[prefix.len()..end].copy_from_slice(&digits[i..]);
    HeaderValue::from_bytes(&buf[..end]).unwrap_or_else(|_| HeaderValue::from_static("rg"))
}

/// How a request went, for its log line.
pub struct Told<'a> {
    pub door: Frontend,
    /// the request as the client sent it (for forward auth: the original one)
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a HeaderMap,
    pub status: u16,
    pub decision_time: Duration,
    pub latency: Duration,
    pub error: Option<&'a dyn std::fmt::Display>,
}

/// Step 9's log line.
pub fn log(snap: &Snapshot, o: &Outcome, t: Told) {
    // nothing to build when the decision log is off (`log.level` above info)
    if !tracing::enabled!(target: "riskgate::decision", tracing::Level::INFO) {
        return;
    }
    let cfg = &snap.config;
    let policy = o.policy(cfg);
    let field = |i: Option<usize>| i.and_then(|i| o.values.get(i)?.as_deref());
    let said = crate::record::log::Said {
        timezone: field(policy.checks.timezone),
        declared_country: field(policy.checks.declared_country),
        unreadable_body: o.unreadable.map(|u| u.as_str()),
        ids: &o.ids,
    };
    crate::record::log::decision(
        cfg,
        &snap.intel,
        crate::record::log::Line {
            route: &cfg.routes[o.route].name,
            policy,
            facts: &o.facts,
            decision: &o.decision,
            decision_time: t.decision_time,
            latency: t.latency,
            method: t.method,
            path: t.path,
            headers: t.headers,
            said,
            body: o.body.as_str(),
            request_id: o.request_id.to_str().unwrap_or(""),
            frontend: t.door,
            status: t.status,
            error: t.error,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_the_clients_or_ours_and_ours_count_up() {
        let mut h = HeaderMap::new();
        let a = request_id(&h);
        let b = request_id(&h);
        let prefix = format!("rg-{:x}-", std::process::id());
        let n = |v: &HeaderValue| {
            v.to_str()
                .unwrap()
                .strip_prefix(&prefix)
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        assert!(n(&b) > n(&a), "{a:?} {b:?}");
        h.insert("x-request-id", "req-42".parse().unwrap());
        assert_eq!(request_id(&h), "req-42");
        h.insert("x-request-id", "x".repeat(129).parse().unwrap());
        assert!(request_id(&h).to_str().unwrap().starts_with("rg-"));
    }
}
