//! The forward-auth door (`authz`): an ingress (nginx `auth_request`, ingress-nginx
//! `auth-url`, Traefik `ForwardAuth`, Caddy `forward_auth`, Envoy ext_authz) asks about
//! each request; riskgate decides it on the same path, with the same state, as its
//! proxy, and answers with the headers the ingress copies onto the request it
//! forwards itself. This is glue: it translates the ask into a [`View`] and the
//! [`Outcome`] into an answer, and decides nothing.

pub mod original;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::config::OnBlock;
use crate::decide::Verdict;
use crate::http::conn::stream::ClientStream;
use crate::http::{body, headers};
use crate::path::{self, ClientFrom, Outcome, View};
use crate::record::Frontend;
use crate::state::{SharedSnapshot, Snapshot};
use original::{AskError, Original};

pub struct AuthzApp {
    pub state: SharedSnapshot,
}

fn plain(status: u16, text: &str) -> Response<Vec<u8>> {
    let body = format!("{text}\n").into_bytes();
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST))
        .header("content-type", "text/plain; charset=utf-8")
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(body)
        .expect("response")
}

#[async_trait]
impl ServeHttp for AuthzApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        if let Some(s) = ClientStream::of(session.stream()) {
            s.head_done();
        }
        let r = self.answer(session).await;
        keep_or_close(session);
        if let Some(s) = ClientStream::of(session.stream()) {
            s.request_done();
        }
        r
    }
}

/// A body left unread is drained when small (Pingora does it before the next
/// request), else the connection is closed: the ingress opens another.
fn keep_or_close(session: &mut ServerSession) {
    if !session.is_body_done()
        && body::leftover(&session.req_header().headers) == body::Leftover::TooMuch
    {
        session.set_keepalive(None);
    }
}

/// What the ask is about: its original request, or why it names none.
fn ask(session: &ServerSession) -> Result<Option<Original>, AskError> {
    let req = session.req_header();
    let target = req.uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(t) = original::of_envoy(target) {
        return Ok(Some(Original {
            method: req.method.clone(),
            target: t,
        }));
    }
    match req.uri.path() {
        "/authz" | "/authz/" => original::of_headers(&req.headers).map(Some),
        _ => Ok(None),
    }
}

/// Whether the ingress sent a body with its ask (Traefik `forwardBody`, Envoy
/// `with_request_body`).
fn has_body(h: &http::HeaderMap) -> bool {
    body::leftover(h) != body::Leftover::None
}

/// The ask's original request as the path reads it.
fn view_of<'a>(original: &'a Original, headers: &'a http::HeaderMap, peer: IpAddr) -> View<'a> {
    View::of_target(
        &original.method,
        &original.target,
        headers,
        ClientFrom::Peer(peer),
    )
}

/// An answer's head: its status, type and length, never cached, and a limit's
/// `Retry-After`.
fn head(
    status: u16,
    content_type: &str,
    len: usize,
    retry_secs: Option<u64>,
) -> http::response::Builder {
    let b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN))
        .header("content-type", content_type)
        .header("content-length", len)
        .header("cache-control", "no-store");
    match retry_secs {
        Some(s) => b.header("retry-after", s),
        None => b,
    }
}

impl AuthzApp {
    async fn answer(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let snap = self.state.load_full();
        let cfg = &snap.config;
        if snap.config.client_limits.keepalive_timeout.is_zero() {
            session.set_keepalive(None);
        }
        if session.req_header().uri.path() == "/authz/page" {
            return page(&snap, session.req_header().uri.query().unwrap_or(""));
        }
        let original = match ask(session) {
            Ok(Some(o)) => o,
            Ok(None) => {
                return plain(
                    404,
                    "riskgate answers forward-auth requests at /authz and /authz/envoy/…, and serves refusal pages at /authz/page",
                )
            }
            Err(e) => return plain(400, &e.to_string()),
        };
        // what the client sent as X-Risk-* (or an alias) never reaches the decision
        headers::strip_client_risk_headers(session.req_header_mut(), cfg.client_ip.header.name());
        let peer = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let req = session.req_header();
        let view = view_of(&original, &req.headers, peer);
        // no route: the ingress forwards it untouched, nothing looked up
        let Some(route) = path::route(cfg, &view) else {
            return plain(200, "");
        };
        let started = Instant::now();
        let read = if path::needs_body(cfg, route) && has_body(&req.headers) {
            match body::read(session, cfg.body_limit, cfg.client_limits.body_timeout).await {
                Ok(r) => Some(r.outcome),
                Err(e) => {
                    session.set_keepalive(None);
                    let status = match e.etype() {
                        pingora::ErrorType::HTTPStatus(s) => *s,
                        _ => 400,
                    };
                    return plain(status, &e.to_string());
                }
            }
        } else {
            None
        };
        let view = view_of(&original, &session.req_header().headers, peer);
        let (outcome, took) =
            path::live(&snap, route, &view, read.as_ref(), Frontend::Authz, started).await;
        let r = reply(&snap, &outcome, &original);
        path::log(
            &snap,
            &outcome,
            path::Told {
                door: Frontend::Authz,
                method: original.method.as_str(),
                path: view.path,
                headers: view.headers,
                status: r.status().as_u16(),
                decision_time: took,
                latency: started.elapsed(),
                error: None,
            },
        );
        r
    }
}

/// `GET /authz/page?route=NAME[&retry_after=SECONDS]`: the route's refusal as the
/// client should see it, for an ingress that keeps only the status of an ask (nginx's
/// `auth_request`; its `error_page` fetches this): the policy's `on_block`, or with
/// `retry_after` (the ask's `Retry-After`) its `on_limit` with `limit_status`. It
/// decides nothing and counts nothing.
fn page(snap: &Snapshot, query: &str) -> Response<Vec<u8>> {
    let cfg = &snap.config;
    let param = |key: &str| {
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then_some(v)
        })
    };
    let Some(name) = param("route").filter(|n| !n.is_empty()) else {
        return plain(400, "/authz/page needs route=NAME (the ask's X-Risk-Route)");
    };
    let Some(route) = cfg.routes.iter().find(|r| r.name == name) else {
        return plain(404, &format!("no route is named `{name}`"));
    };
    let policy = &cfg.policies[route.policy];
    let retry = param("retry_after").filter(|v| !v.is_empty());
    let (status, r, retry) = match (retry, &policy.on_block) {
        (Some(v), _) => {
            let Ok(secs) = v.parse::<u64>() else {
                return plain(400, "retry_after must be whole seconds");
            };
            let status = cfg.authz.as_ref().map_or(429, |a| a.limit_status);
            (status, &policy.on_limit, Some(secs))
        }
        (None, OnBlock::Respond(r)) => (r.status, r, None),
        (None, OnBlock::Shadow) => {
            return plain(
                404,
                &format!(
                    "route `{name}` forwards what it blocks (a shadow-ban): it has no block page"
                ),
            );
        }
    };
    head(
        status,
        &r.content_type,
        r.body.len(),
        retry.map(|s| s.max(1)),
    )
    .body(r.body.to_vec())
    .unwrap_or_else(|_| plain(500, "riskgate could not build its answer"))
}

/// The answer to the ingress: `200` to forward, the policy's block or limit answer to
/// refuse, each with the headers it copies.
fn reply(snap: &Snapshot, o: &Outcome, original: &Original) -> Response<Vec<u8>> {
    let cfg = &snap.config;
    let policy = o.policy(cfg);
    let d = &o.decision;
    let (status, content_type, body, retry): (u16, &str, Vec<u8>, Option<Duration>) =
        match (d.verdict, &policy.on_block) {
            (Verdict::Block, OnBlock::Respond(r)) => {
                (r.status, &r.content_type, r.body.to_vec(), None)
            }
            (Verdict::Limit, _) => {
                let limit_status = cfg.authz.as_ref().map_or(429, |a| a.limit_status);
                let r = &policy.on_limit;
                (
                    limit_status,
                    &r.content_type,
                    r.body.to_vec(),
                    d.retry_after,
                )
            }
            // forward (shadow mode and shadow-bans too: X-Risk-Action says block)
            _ => (200, "text/plain; charset=utf-8", Vec::new(), None),
        };
    let mut b = head(
        status,
        content_type,
        body.len(),
        retry.map(headers::retry_after_secs),
    );
    let set = headers::Set::build(
        d,
        &o.facts,
        &cfg.routes[o.route].header,
        &cfg.intel,
        &policy.limits,
        cfg.signing.first(),
        original.method.as_str(),
        original.target.as_bytes(),
        &o.request_id,
    );
    // without signing, an empty signature: the ingress's copy then clears a
    // client's own (Caddy's copy_headers, nginx's proxy_set_header)
    if set.signature.is_none() {
        b = b.header("X-Risk-Signature", "");
    }
    for (k, v) in set.wire() {
        b = b.header(k, v);
    }
    b.body(body)
        .unwrap_or_else(|_| plain(500, "riskgate could not build its answer"))
}
