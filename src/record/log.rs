//! Logging set-up and the one-line-per-decision log.

use std::cell::Cell;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogConfig, LogFormat, Policy};
use crate::decide::{Action, Decision};
use crate::evidence::ident::Id;
use crate::intel::{Facts, Intel};
use crate::record::Frontend;

/// Install the global subscriber (also bridges Pingora's `log` records).
/// `RUST_LOG` overrides the configured level.
pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{},pingora=warn", cfg.level)));
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match cfg.format {
        LogFormat::Json => b
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Pretty => b.try_init(),
    };
}

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        seed | 1
    });
}

/// A uniform number in [0, 1) from a per-thread xorshift; good enough to sample logs.
fn unit() -> f64 {
    RNG.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// Which feed and entry put the address in each list it is in, written only when
/// the line is (`hosting: aws ip-ranges.json 52.94.0.0/16; deny: deny.txt 192.0.2.0/24`).
struct ListNotes<'a> {
    cfg: &'a Config,
    intel: &'a Intel,
    facts: &'a Facts,
}

impl std::fmt::Display for ListNotes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (i, l) in self.cfg.intel.lists.iter().enumerate() {
            if self.facts.lists & (1 << i) == 0 {
                continue;
            }
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            match self.intel.list_note(&self.cfg.intel, i, self.facts.ip) {
                Some(note) => write!(f, "{}: {note}", l.name)?,
                None => f.write_str(&l.name)?,
            }
        }
        Ok(())
    }
}

/// The request's Accept-Language as evidence for the log: plain (it identifies no one),
/// cut at 100 characters.
fn accept_language(headers: &http::HeaderMap) -> &str {
    let v = headers
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    cut(v, 100)
}

/// The request's own evidence a policy's checks read, for the log. Time zones and
/// declared countries identify no one: they are written plain, cut at 64 characters.
#[derive(Debug, Default, Clone, Copy)]
pub struct Said<'a> {
    pub timezone: Option<&'a str>,
    pub declared_country: Option<&'a str>,
    pub unreadable_body: Option<&'static str>,
    /// the keyed hashes of the identifier fields, indexed like the config's fields
    pub ids: &'a [Option<Id>],
}

/// The identifier fields of a policy as the log writes them: `name=HASH` (16 hex
/// digits, keyed by `hash_key`) joined by commas, those the request lacked left out.
/// Never the value: a log reader cannot tell whose device or which code it was, but a
/// replay limits and tracks hopping alike.
struct Ids<'a> {
    cfg: &'a Config,
    policy: &'a Policy,
    ids: &'a [Option<Id>],
}

impl std::fmt::Display for Ids<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for &i in &self.policy.ids {
            let Some(Some(id)) = self.ids.get(i) else {
                continue;
            };
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}={id}", self.cfg.fields[i].name)?;
        }
        Ok(())
    }
}

/// `v` cut at `n` characters.
fn cut(v: &str, n: usize) -> &str {
    match v.char_indices().nth(n) {
        Some((i, _)) => &v[..i],
        None => v,
    }
}

/// A matched request as its log line tells it.
pub struct Line<'a> {
    pub route: &'a str,
    pub policy: &'a Policy,
    pub facts: &'a Facts,
    pub decision: &'a Decision,
    pub decision_time: Duration,
    pub latency: Duration,
    /// the request as the client sent it (for forward auth: the original one)
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a http::HeaderMap,
    pub said: Said<'a>,
    /// whether the policy had a body to read: `read`, `absent`, or empty (none needed)
    pub body: &'static str,
    pub request_id: &'a str,
    pub frontend: Frontend,
    pub status: u16,
    pub error: Option<&'a dyn std::fmt::Display>,
}

/// One structured line for a matched request.
pub fn decision(cfg: &Config, intel: &Intel, l: Line) {
    let (d, facts, said) = (l.decision, l.facts, l.said);
    if d.action == Action::Allow && cfg.log.allow_sample < 1.0 && unit() >= cfg.log.allow_sample {
        return;
    }
    tracing::info!(
        target: "riskgate::decision",
        route = l.route,
        client_ip = %facts.ip,
        country = facts.country_str().unwrap_or(""),
        asn = facts.asn.unwrap_or(0),
        score = d.score,
        action = d.action.as_str(),
        reasons = %d.reasons.render(&cfg.intel.lists, &l.policy.limits),
        accept_language = accept_language(l.headers),
        timezone = cut(said.timezone.unwrap_or(""), 64),
        declared_country = cut(said.declared_country.unwrap_or(""), 64),
        unreadable_body = said.unreadable_body.unwrap_or(""),
        body = l.body,
        ids = %Ids { cfg, policy: l.policy, ids: said.ids },
        lists = %ListNotes { cfg, intel, facts },
        network = d.network.as_str(),
        mode = d.mode.as_str(),
        decision_id = d.recalled.map(|h| h.id),
        status = l.status,
        method = l.method,
        path = l.path,
        frontend = l.frontend.as_str(),
        decision_us = l.decision_time.as_micros() as u64,
        latency_us = l.latency.as_micros() as u64,
        request_id = l.request_id,
        error = l.error.map(|e| e.to_string()),
        "decision"
    );
}
