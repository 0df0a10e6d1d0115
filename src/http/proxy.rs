//! The Pingora glue: runs the request path of DESIGN.md and holds no policy itself.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::upstreams::peer::HttpPeer;

use crate::config::{OnBlock, Response};
use crate::decide::Verdict;
use crate::http::conn::stream::ClientStream;
use crate::http::{body, headers};
use crate::path::{self, ClientFrom, Outcome, View};
use crate::record::Frontend;
use crate::state::{SharedSnapshot, Snapshot};

pub struct Gateway {
    pub state: SharedSnapshot,
}

/// Per-request state. Pingora keeps it inside the connection's future, which is
/// moved by value: a matched request's facts live behind one pointer, so an unmatched
/// request's future stays as small as the bare proxy's.
#[derive(Default)]
pub struct Ctx {
    snap: Option<Arc<Snapshot>>,
    matched: Option<Box<Matched>>,
}

struct Matched {
    /// body bytes read for the decision that Pingora will not replay itself
    replay: body::Replay,
    /// riskgate sent `100 Continue` itself
    continued: bool,
    outcome: Outcome,
    started: Instant,
    decision_time: Duration,
}

impl Gateway {
    pub fn new(state: SharedSnapshot) -> Gateway {
        Gateway { state }
    }
}

fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// The request as the path reads it.
fn view_of(req: &RequestHeader, peer: IpAddr) -> View<'_> {
    View {
        method: &req.method,
        path: req.uri.path(),
        query: req.uri.query(),
        headers: &req.headers,
        client: ClientFrom::Peer(peer),
    }
}

async fn respond(session: &mut Session, r: &Response, retry_after: Option<Duration>) -> Result<()> {
    let mut h = ResponseHeader::build(r.status, Some(4))?;
    h.insert_header("content-type", r.content_type.as_str())?;
    h.insert_header("content-length", r.body.len().to_string())?;
    h.insert_header("cache-control", "no-store")?;
    if let Some(d) = retry_after {
        h.insert_header("retry-after", headers::retry_after_secs(d).to_string())?;
    }
    // Read a small request body so the connection can serve the next request; a large
    // or unknown-length one is not worth reading: close the connection instead.
    let left = body::leftover(&session.req_header().headers);
    // a client waiting for `100 Continue` gets the answer instead, and no body is read
    let waiting =
        body::expects_continue(&session.req_header().headers) && !session.as_mut().is_body_done();
    match left {
        _ if waiting => session.set_keepalive(None),
        body::Leftover::Small(_) => {
            if session.drain_request_body().await.is_err() {
                session.set_keepalive(None);
            }
        }
        body::Leftover::None => {}
        body::Leftover::TooMuch => session.set_keepalive(None),
    }
    session.write_response_header(Box::new(h), false).await?;
    session
        .write_response_body(Some(Bytes::clone(&r.body)), true)
        .await?;
    Ok(())
}

/// The origin as a Pingora peer, with the timeouts riskgate uses. Idle upstream
/// connections are kept (and reused) for 60 s.
pub fn upstream_peer(up: &crate::config::Upstream) -> HttpPeer {
    let mut peer = HttpPeer::new(up.addr, up.tls, up.sni.clone());
    peer.options.connection_timeout = Some(Duration::from_secs(5));
    peer.options.idle_timeout = Some(Duration::from_secs(60));
    peer
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx::default()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        // the head is parsed: its deadline ends, and the keep-alive this connection gets
        // is riskgate's (`server.keepalive_timeout`, 0: none), not Pingora's unbounded one
        if let Some(s) = ClientStream::of(session.stream()) {
            s.head_done();
        }
        let snap = self.state.load_full();
        if snap.config.client_limits.keepalive_timeout.is_zero() {
            session.set_keepalive(None);
        }
        if let Some(c) = &snap.cluster {
            c.connect_soon();
        }
        let cfg = &snap.config;
        let peer = peer_ip(session).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let Some(route) = path::route(cfg, &view_of(session.req_header(), peer)) else {
            ctx.snap = Some(snap);
            return Ok(false);
        };
        let started = Instant::now();
        // the body only when a field of the policy is in it
        let (read, replay, continued) = if path::needs_body(cfg, route) {
            let r = body::read(session, cfg.body_limit, cfg.client_limits.body_timeout).await?;
            (Some(r.outcome), r.replay, r.continued)
        } else {
            (None, body::Replay::default(), false)
        };
        let view = view_of(session.req_header(), peer);
        let (outcome, took) =
            path::live(&snap, route, &view, read.as_ref(), Frontend::Proxy, started).await;
        let verdict = outcome.decision.verdict;
        let retry = outcome.decision.retry_after;
        let policy = outcome.policy(cfg);
        ctx.matched = Some(Box::new(Matched {
            replay,
            continued,
            outcome,
            started,
            decision_time: took,
        }));
        let answered = match verdict {
            Verdict::Forward => false,
            Verdict::Block => {
                if let OnBlock::Respond(r) = &policy.on_block {
                    respond(session, r, None).await?;
                }
                true
            }
            Verdict::Limit => {
                respond(session, &policy.on_limit, retry).await?;
                true
            }
        };
        ctx.snap = Some(snap);
        Ok(answered)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let snap = ctx.snap.get_or_insert_with(|| self.state.load_full());
        // the proxy door runs only with an upstream (`authz` alone has none)
        let up = snap.config.upstream.as_ref().ok_or_else(|| {
            Error::explain(
                ErrorType::InternalError,
                "no upstream: the proxy door is off",
            )
        })?;
        Ok(Box::new(upstream_peer(up)))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let snap = ctx.snap.get_or_insert_with(|| self.state.load_full());
        headers::strip_client_risk_headers(upstream, snap.config.client_ip.header.name());
        if let (Some(m), Some(snap)) = (&ctx.matched, &ctx.snap) {
            let cfg = &snap.config;
            let o = &m.outcome;
            let route = &cfg.routes[o.route].header;
            let limits = &o.policy(cfg).limits;
            if m.continued {
                // riskgate answered `100 Continue` and read the body itself
                upstream.remove_header(&http::header::EXPECT);
            }
            headers::write(
                upstream,
                &o.decision,
                &o.facts,
                route,
                &cfg.intel,
                limits,
                cfg.signing.first(),
                &o.request_id,
            )?;
        }
        Ok(())
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        if let Some(m) = ctx.matched.as_mut() {
            m.replay.prepend(body);
        }
        Ok(())
    }

    async fn logging(&self, session: &mut Session, e: Option<&pingora::Error>, ctx: &mut Ctx) {
        if let Some(s) = ClientStream::of(session.stream()) {
            s.request_done();
        }
        let (Some(m), Some(snap)) = (&ctx.matched, &ctx.snap) else {
            return;
        };
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let req = session.req_header();
        path::log(
            snap,
            &m.outcome,
            path::Told {
                door: Frontend::Proxy,
                method: req.method.as_str(),
                path: req.uri.path(),
                headers: &req.headers,
                status,
                decision_time: m.decision_time,
                latency: m.started.elapsed(),
                error: e.map(|e| e as &dyn std::fmt::Display),
            },
        );
    }
}
