//! riskgate as a CrowdSec bouncer: `GET /v1/decisions/stream` of a Local API, with the
//! bouncer's key in `X-Api-Key` — `startup=true` first (the whole set), then the
//! changes every `refresh`. CrowdSec repeats changes and sends `null` for an empty
//! list: applying is idempotent. `ban` → block, `captcha` → verify; scopes `Ip`,
//! `Range`, `AS`, `Country`; origin `crowdsec`, reason the scenario. Each replica
//! pulls for itself (as every CrowdSec bouncer does), into its own store: the LAPI
//! away, the last set stays in force and `riskgate_source_age_seconds{source="crowdsec"}`
//! grows.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::Deserialize;

use super::book::Book;
use super::input::CROWDSEC_ORIGIN;
use super::{now_ms, Action, Record, Subject};
use crate::config::CrowdsecConfig;
use crate::record::metrics::METRICS;

/// CrowdSec's decision `n` is riskgate's `CROWDSEC_IDS + n`: apart from the ids
/// riskgate and the fleet give.
pub const CROWDSEC_IDS: u64 = 1_000_000_000_000;

#[derive(Debug, Deserialize)]
struct Stream {
    new: Option<Vec<Wire>>,
    deleted: Option<Vec<Wire>>,
}

#[derive(Debug, Deserialize)]
struct Wire {
    id: u64,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    scenario: String,
    #[serde(default)]
    scope: String,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    value: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("CrowdSec LAPI {url}: {message}")]
    Http { url: String, message: String },
    #[error("CrowdSec LAPI {url}: the answer is not a decisions stream: {message}")]
    Format { url: String, message: String },
    #[error("{0}")]
    Store(#[from] super::store::StoreError),
}

/// A Go duration (`3h59m59.31s`, `-1.5s`, `500ms`), in milliseconds.
pub fn go_duration_ms(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&n| n > 0)?;
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let ms = match &rest[..u] {
            "ns" => 1e-6,
            "us" | "µs" | "μs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 6e4,
            "h" => 3.6e6,
            _ => return None,
        };
        total += num * ms;
        rest = &rest[u..];
    }
    let ms = total.min(i64::MAX as f64 / 2.0) as i64;
    Some(if neg { -ms } else { ms })
}

fn subject(scope: &str, value: &str) -> Option<Subject> {
    let v = value.trim();
    Some(match scope.to_ascii_lowercase().as_str() {
        "ip" => Subject::Ip(crate::intel::canonical(v.parse::<IpAddr>().ok()?)),
        "range" => Subject::Range(v.parse::<IpNet>().ok()?.trunc()),
        "as" | "asn" => Subject::Asn(v.trim_start_matches("AS").parse().ok()?),
        "country" => {
            let b = v.as_bytes();
            (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic))
                .then(|| Subject::Country([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))?
        }
        _ => return None,
    })
}

fn action(kind: &str) -> Option<Action> {
    match kind.to_ascii_lowercase().as_str() {
        "ban" => Some(Action::Block),
        "captcha" => Some(Action::Verify),
        _ => None,
    }
}

/// An error with its causes (`error sending request: … Connection refused`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// The bouncer: where it pulls from and when it last could.
pub struct Bouncer {
    cfg: CrowdsecConfig,
    client: reqwest::Client,
    started: Mutex<bool>,
    last_ok: Mutex<Option<Instant>>,
}

impl Bouncer {
    pub fn new(cfg: CrowdsecConfig) -> Bouncer {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("riskgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        METRICS.source_age.with_label_values(&["crowdsec"]).set(0);
        for r in ["ok", "error"] {
            METRICS.reloads.with_label_values(&["crowdsec", r]);
        }
        Bouncer {
            cfg,
            client,
            started: Mutex::new(false),
            last_ok: Mutex::new(None),
        }
    }

    pub fn refresh(&self) -> Duration {
        self.cfg.refresh
    }

    /// Seconds since the last pull that worked (since start, before the first).
    pub fn age(&self, since_start: Duration) -> u64 {
        self.last_ok
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(since_start, |t| t.elapsed())
            .as_secs()
    }

    /// Pull once and apply: the whole set the first time, the changes after.
    pub async fn pull(&self, book: &Book) -> Result<(usize, usize), PullError> {
        let startup = !*self.started.lock().unwrap_or_else(|p| p.into_inner());
        let url = format!(
            "{}/v1/decisions/stream?startup={startup}",
            self.cfg.url.trim_end_matches('/')
        );
        let fail = |message: String| PullError::Http {
            url: self.cfg.url.clone(),
            message,
        };
        let resp = self
            .client
            .get(&url)
            .header("X-Api-Key", &self.cfg.key)
            .send()
            .await
            .map_err(|e| fail(chain(&e)))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(fail(format!(
                "{status}{}",
                if body.is_empty() {
                    String::new()
                } else {
                    format!(": {}", body.chars().take(200).collect::<String>())
                }
            )));
        }
        let body = resp.bytes().await.map_err(|e| fail(chain(&e)))?;
        let stream: Stream = serde_json::from_slice(&body).map_err(|e| PullError::Format {
            url: self.cfg.url.clone(),
            message: e.to_string(),
        })?;
        let now = now_ms();
        let mut added = Vec::new();
        let mut gone: Vec<u64> = stream
            .deleted
            .unwrap_or_default()
            .iter()
            .map(|w| CROWDSEC_IDS + w.id)
            .collect();
        let mut skipped = 0usize;
        for w in stream.new.unwrap_or_default() {
            let id = CROWDSEC_IDS + w.id;
            let (Some(subject), Some(action), Some(left)) = (
                subject(&w.scope, &w.value),
                action(&w.kind),
                go_duration_ms(&w.duration),
            ) else {
                skipped += 1;
                continue;
            };
            if left <= 0 {
                gone.push(id);
                continue;
            }
            added.push(Record {
                id,
                subject,
                action,
                reason: w
                    .scenario
                    .chars()
                    .take(super::input::MAX_VALUE_BYTES)
                    .collect(),
                origin: CROWDSEC_ORIGIN.into(),
                source_id: Some(w.id.to_string()),
                created_ms: now,
                expires_ms: now.saturating_add(left),
            });
        }
        if startup {
            // the whole set: what this replica kept from before and CrowdSec no longer has goes
            let keep: std::collections::HashSet<u64> = added.iter().map(|r| r.id).collect();
            gone.extend(
                book.ids_of_origin(CROWDSEC_ORIGIN)
                    .into_iter()
                    .filter(|id| !keep.contains(id)),
            );
        }
        gone.retain(|id| !added.iter().any(|r| r.id == *id));
        book.apply(&added, &gone)?;
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = true;
        *self.last_ok.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        if skipped > 0 {
            tracing::debug!(
                skipped,
                "crowdsec: decisions of another type or scope skipped"
            );
        }
        Ok((added.len(), gone.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ms("3h59m59.5s"), Some(4 * 3_600_000 - 500));
        assert_eq!(go_duration_ms("-1.5s"), Some(-1500));
        assert_eq!(go_duration_ms("500ms"), Some(500));
        assert_eq!(go_duration_ms("1m30s"), Some(90_000));
        assert_eq!(go_duration_ms("0"), Some(0));
        assert_eq!(go_duration_ms("12"), None);
        assert_eq!(go_duration_ms("3x"), None);
        assert_eq!(go_duration_ms(""), Some(0));
    }

    #[test]
    fn scopes_and_types() {
        assert_eq!(
            subject("Ip", "192.0.2.1"),
            Some(Subject::Ip("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(
            subject("Range", "192.0.2.0/24"),
            Some(Subject::Range("192.0.2.0/24".parse().unwrap()))
        );
        assert_eq!(subject("AS", "64500"), Some(Subject::Asn(64500)));
        assert_eq!(subject("Country", "cn"), Some(Subject::Country(*b"CN")));
        assert_eq!(subject("Username", "bob"), None);
        assert_eq!(action("ban"), Some(Action::Block));
        assert_eq!(action("captcha"), Some(Action::Verify));
        assert_eq!(action("throttle"), None);
    }
}
