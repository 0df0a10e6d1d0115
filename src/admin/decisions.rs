//! `/decisions` on the admin port: `POST` (one decision or a list; `?dry_run=true`
//! checks without storing), `GET` (filters `scope`, `value`, `origin`; paging with
//! `after` and `limit`), `GET /decisions/ID`, `DELETE /decisions/ID`. Every bad input
//! is a `400` naming it, and nothing of that call is stored.

use http::StatusCode;
use serde_json::{json, Value};

use crate::decisions::input::{self, Context, Problem};
use crate::decisions::store::Filter;
use crate::decisions::{now_ms, BookError};
use crate::state::Snapshot;

/// The largest body `POST /decisions` reads: 10,000 decisions of a fair size.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// The most decisions `GET /decisions` returns at once.
pub const MAX_LIST: usize = 10_000;

fn problems_json(problems: &[Problem]) -> Value {
    let list: Vec<Value> = problems
        .iter()
        .map(|p| match p.index {
            Some(i) => json!({"index": i, "error": p.message}),
            None => json!({"error": p.message}),
        })
        .collect();
    json!({
        "error": match problems {
            [one] => one.message.clone(),
            _ => format!("{} decisions are not valid", problems.len()),
        },
        "problems": list,
        "stored": 0,
    })
}

fn context<'a>(snap: &'a Snapshot, origin: &'a str) -> Context<'a> {
    Context {
        fields: &snap.config.fields,
        hash_key: &snap.config.hash_key,
        origin,
        now_ms: now_ms(),
    }
}

fn book_error(e: BookError) -> (StatusCode, Value) {
    let status = match &e {
        BookError::Fleet { .. } => StatusCode::SERVICE_UNAVAILABLE,
        BookError::NotFound(_) => StatusCode::NOT_FOUND,
        BookError::FromCrowdsec(_) => StatusCode::BAD_REQUEST,
        BookError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %e, "decisions: the store failed");
    }
    (status, json!({"error": e.to_string()}))
}

/// `POST /decisions`.
pub async fn add(snap: &Snapshot, body: &[u8], dry_run: bool) -> (StatusCode, Value) {
    let rows = match input::parse_body(body, &context(snap, "api")) {
        Ok(r) => r,
        Err(p) => return (StatusCode::BAD_REQUEST, problems_json(&p)),
    };
    if dry_run {
        return (StatusCode::OK, json!({"valid": rows.len(), "stored": 0}));
    }
    match snap.decisions.add(rows).await {
        Ok(added) => {
            for r in &added {
                tracing::info!(id = r.id, scope = %r.subject.scope(), value = %r.subject.value(), action = r.action.as_str(), origin = %r.origin, expires = %crate::decisions::rfc3339(r.expires_ms), "decision added");
            }
            (
                StatusCode::CREATED,
                json!({"added": added.iter().map(|r| r.to_json()).collect::<Vec<_>>()}),
            )
        }
        Err(e) => book_error(e),
    }
}

/// `GET /decisions`.
pub fn list(snap: &Snapshot, query: &str) -> (StatusCode, Value) {
    let bad = |m: String| (StatusCode::BAD_REQUEST, json!({"error": m}));
    for (k, _) in form_urlencoded::parse(query.as_bytes()) {
        if !["scope", "value", "origin", "after", "limit"].contains(&k.as_ref()) {
            return bad(format!(
                "unknown filter `{k}`; the filters are scope, value, origin, after, limit"
            ));
        }
    }
    let scope = super::query_param(query, "scope");
    let value = super::query_param(query, "value");
    let (scope, value) = match (scope, value) {
        (Some(s), Some(v)) => match input::subject(&s, &v, true, &context(snap, "api")) {
            Ok(subject) => (Some(subject.scope()), Some(subject.value())),
            Err(e) => return bad(e),
        },
        (None, Some(_)) => return bad("`value` needs `scope`".into()),
        (Some(s), None) => match input::scope_name(&s, &snap.config.fields) {
            Ok(s) => (Some(s), None),
            Err(e) => return bad(e),
        },
        (None, None) => (None, None),
    };
    let after = match super::query_param(query, "after").map(|a| a.parse::<u64>()) {
        None => 0,
        Some(Ok(a)) => a,
        Some(Err(_)) => return bad("`after` is a decision id".into()),
    };
    let limit = match super::query_param(query, "limit").map(|a| a.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if (1..=MAX_LIST).contains(&n) => n,
        Some(_) => return bad(format!("`limit` is 1 to {MAX_LIST}")),
    };
    let f = Filter {
        scope,
        value,
        origin: super::query_param(query, "origin"),
        after,
        limit,
    };
    match snap.decisions.list(&f) {
        Ok(list) => {
            let next = (list.len() == limit)
                .then(|| list.last().map(|r| r.id))
                .flatten();
            (
                StatusCode::OK,
                json!({"decisions": list.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
                       "next_after": next}),
            )
        }
        Err(e) => book_error(BookError::Store(e)),
    }
}

fn id_of(rest: &str) -> Result<u64, (StatusCode, Value)> {
    rest.parse::<u64>().map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            json!({"error": format!("`{rest}` is not a decision id")}),
        )
    })
}

/// `GET /decisions/ID`.
pub fn get(snap: &Snapshot, rest: &str) -> (StatusCode, Value) {
    let id = match id_of(rest) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match snap.decisions.get(id) {
        Ok(Some(r)) => (StatusCode::OK, r.to_json()),
        Ok(None) => book_error(BookError::NotFound(id)),
        Err(e) => book_error(BookError::Store(e)),
    }
}

/// `DELETE /decisions/ID`.
pub async fn delete(snap: &Snapshot, rest: &str) -> (StatusCode, Value) {
    let id = match id_of(rest) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match snap.decisions.delete(id).await {
        Ok(r) => {
            tracing::info!(id, scope = %r.subject.scope(), action = r.action.as_str(), "decision deleted");
            (StatusCode::OK, json!({"deleted": r.to_json()}))
        }
        Err(e) => book_error(e),
    }
}
