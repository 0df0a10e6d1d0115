//! The admin endpoint: `GET /metrics`, `/healthz`, `/readyz`, `/explain`,
//! `/dashboard`, `/stats`, `POST /reload`, and `/decisions`. Loopback by default.

pub mod auth;
pub mod client;
pub mod decisions;
pub mod explain;
pub mod stats;

/// The dashboard: one self-contained page (no external asset) that reads `/stats`.
const DASHBOARD: &str = include_str!("dashboard.html");

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::http::conn::stream::ClientStream;
use crate::state::reload::Reloader;
use crate::state::SharedSnapshot;

pub struct AdminApp {
    pub state: SharedSnapshot,
    pub reloader: Arc<Reloader>,
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    let body = body.into();
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", body.len())
        .header("cache-control", "no-store")
        .body(body)
        .expect("response")
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response<Vec<u8>> {
    let mut body = serde_json::to_vec_pretty(v).unwrap_or_default();
    body.push(b'\n');
    reply(status, "application/json", body)
}

/// `a=1&b=x%2Fy` → value of `key`, percent-decoded.
fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(c) => {
                        out.push(c);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[async_trait]
impl ServeHttp for AdminApp {
    /// The admin port's connections have the proxy's deadlines (`server.*`): the
    /// head's deadline ends here, the keep-alive wait begins once it is answered.
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        if let Some(s) = ClientStream::of(session.stream()) {
            s.head_done();
        }
        let r = self.answer(session).await;
        if let Some(s) = ClientStream::of(session.stream()) {
            s.request_done();
        }
        r
    }
}

impl AdminApp {
    async fn answer(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let method = req.method.clone();
        let path = req.uri.path().to_string();
        let query = req.uri.query().unwrap_or("").to_string();
        if !auth::is_open(&path) {
            if let Some(token) = &self.state.load().config.admin_token {
                if !auth::authorized(token, &req.headers) {
                    let mut r = json(
                        StatusCode::UNAUTHORIZED,
                        &serde_json::json!({"error": "this endpoint needs the admin token: Authorization: Bearer <token> (or Basic with the token as password)"}),
                    );
                    let h = r.headers_mut();
                    h.append(
                        http::header::WWW_AUTHENTICATE,
                        http::HeaderValue::from_static(
                            "Basic realm=\"riskgate admin\", charset=\"UTF-8\"",
                        ),
                    );
                    h.append(
                        http::header::WWW_AUTHENTICATE,
                        http::HeaderValue::from_static("Bearer realm=\"riskgate admin\""),
                    );
                    return r;
                }
            }
        }
        if path == "/decisions" || path.starts_with("/decisions/") {
            return self.decisions(session, &method, &path, &query).await;
        }
        match (method.as_str(), path.as_str()) {
            ("GET", "/metrics") => {
                self.reloader.update_gauges();
                reply(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    crate::record::metrics::render(),
                )
            }
            ("GET", "/healthz") => reply(StatusCode::OK, "text/plain", "ok\n"),
            ("GET", "/dashboard") => {
                let mut r = reply(StatusCode::OK, "text/html; charset=utf-8", DASHBOARD);
                // the page loads nothing from anywhere but this endpoint
                r.headers_mut().insert(
                    "content-security-policy",
                    http::HeaderValue::from_static(
                        "default-src 'none'; connect-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
                    ),
                );
                r
            }
            ("GET", "/stats") => {
                let snap = self.state.load_full();
                json(StatusCode::OK, &stats::stats(&snap, &self.reloader))
            }
            ("GET", "/readyz") => {
                let ready = self.reloader.ready();
                let mut v = serde_json::json!({"ready": ready, "sources": self.reloader.status()});
                if let Some(c) = self.reloader.cluster_connected() {
                    v["cluster"] = serde_json::json!({"connected": c});
                }
                json(
                    if ready {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    },
                    &v,
                )
            }
            ("POST", "/reload") => match self.reloader.reload_config().await {
                Ok(summary) => {
                    self.reloader.check_all_now();
                    json(
                        StatusCode::OK,
                        &serde_json::json!({"reloaded": true, "config": summary}),
                    )
                }
                Err(problems) => json(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &serde_json::json!({"reloaded": false, "problems": problems,
                                        "note": "the running config stays in service"}),
                ),
            },
            ("GET" | "POST", "/explain") => {
                // POST: the body is the explained request's body (for form:/json: fields)
                let mut body = Vec::new();
                if method == http::Method::POST {
                    while let Ok(Some(chunk)) = session.read_request_body().await {
                        body.extend_from_slice(&chunk);
                        if body.len() > 1024 * 1024 {
                            return json(
                                StatusCode::PAYLOAD_TOO_LARGE,
                                &serde_json::json!({"error": "an explained body is at most 1 MiB"}),
                            );
                        }
                    }
                }
                let Some(ip) = query_param(&query, "ip").and_then(|s| s.parse::<IpAddr>().ok())
                else {
                    return json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({"error": "ip= is required and must be an IP address"}),
                    );
                };
                let p = query_param(&query, "path").unwrap_or_else(|| "/".into());
                let m = query_param(&query, "method").unwrap_or_else(|| "GET".into());
                // the request's headers, as `header=Name: value` (repeatable)
                let mut hdrs = http::HeaderMap::new();
                for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
                    if k != "header" {
                        continue;
                    }
                    let h = percent_decode(v);
                    let parsed = h.split_once(':').and_then(|(n, v)| {
                        Some((
                            http::HeaderName::from_bytes(n.trim().as_bytes()).ok()?,
                            http::HeaderValue::from_str(v.trim()).ok()?,
                        ))
                    });
                    match parsed {
                        Some((n, v)) => {
                            hdrs.append(n, v);
                        }
                        None => {
                            return json(
                                StatusCode::BAD_REQUEST,
                                &serde_json::json!({"error": format!("header={h}: not a `Name: value` header")}),
                            )
                        }
                    }
                }
                let snap = self.state.load_full();
                let body = (method == http::Method::POST).then_some(body.as_slice());
                match explain::explain(&snap, ip, &p, &m, &hdrs, body).await {
                    Ok(v) => json(StatusCode::OK, &v),
                    Err(e) => json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({"error": e.to_string()}),
                    ),
                }
            }
            _ => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error": "not found", "endpoints": ["GET /metrics", "GET /healthz", "GET /readyz", "GET /dashboard", "GET /stats", "GET /explain?ip=&path=&method=&header=", "POST /explain?… (body: the request's body)", "POST /reload", "POST /decisions", "GET /decisions?scope=&value=&origin=", "GET /decisions/ID", "DELETE /decisions/ID"]}),
            ),
        }
    }

    /// `/decisions`: only with an admin token configured (they change what riskgate
    /// does), which [`AdminApp::answer`] has checked by now.
    async fn decisions(
        &self,
        session: &mut ServerSession,
        method: &http::Method,
        path: &str,
        query: &str,
    ) -> Response<Vec<u8>> {
        let snap = self.state.load_full();
        if snap.config.admin_token.is_none() {
            return json(
                StatusCode::FORBIDDEN,
                &serde_json::json!({"error": "the decisions API needs an admin token: set admin_token_file (e.g. a file from `openssl rand -hex 32`)"}),
            );
        }
        let rest = path.strip_prefix("/decisions").unwrap_or_default();
        let (status, v) = match (method.as_str(), rest) {
            ("POST", "" | "/") => {
                let limit = snap.config.client_limits.body_timeout;
                let body = match tokio::time::timeout(
                    limit,
                    read_body(session, decisions::MAX_BODY),
                )
                .await
                {
                    Err(_) => {
                        return json(
                            StatusCode::REQUEST_TIMEOUT,
                            &serde_json::json!({"error": format!("the body did not arrive within {limit:?} (body_timeout)")}),
                        )
                    }
                    Ok(Err(r)) => return r,
                    Ok(Ok(b)) => b,
                };
                let dry_run =
                    matches!(query_param(query, "dry_run").as_deref(), Some("true" | "1"));
                decisions::add(&snap, &body, dry_run).await
            }
            ("GET", "" | "/") => decisions::list(&snap, query),
            ("GET", r) => decisions::get(&snap, &r[1..]),
            ("DELETE", r) if r.len() > 1 => decisions::delete(&snap, &r[1..]).await,
            _ => (
                StatusCode::METHOD_NOT_ALLOWED,
                serde_json::json!({"error": "POST /decisions, GET /decisions, GET /decisions/ID, DELETE /decisions/ID"}),
            ),
        };
        json(status, &v)
    }
}

/// A request body of at most `max` bytes, or the answer to give instead.
async fn read_body(session: &mut ServerSession, max: usize) -> Result<Vec<u8>, Response<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() > max {
                    return Err(json(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &serde_json::json!({"error": format!("a body is at most {max} bytes"), "stored": 0}),
                    ));
                }
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({"error": format!("the body could not be read: {e}"), "stored": 0}),
                ))
            }
        }
    }
}
