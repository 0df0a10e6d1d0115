//! Decisions: what the app (or CrowdSec) learned after the fact — a chargeback, a card
//! from another country than the coupon, a Sybil referral code, a customer wrongly
//! caught — kept as `{scope, value, action, expiry}` and applied to every later request
//! of that address, range, ASN, country or field value, on every replica.
//!
//! - [`input`] reads and validates what the API, the CLI and CrowdSec hand in;
//! - [`set`] is the in-memory set a request is matched against (no lock, no disk);
//! - [`store`] is the SQLite file that keeps them across restarts;
//! - [`book`] is the one writer: it stores, publishes the set, expires;
//! - [`fleet`] shares them through the cluster's Redis;
//! - [`crowdsec`] pulls a CrowdSec Local API's decisions as a bouncer.

pub mod book;
pub mod crowdsec;
pub mod fleet;
pub mod input;
pub mod set;
pub mod store;

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{json, Value};

use crate::config::CountryCode;
use crate::evidence::ident::Id;

pub use book::{Book, BookError};
pub use set::{DecisionSet, Hit};

pub use crate::decide::recalled::Action;

/// What a decision is about, in its canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Ip(IpAddr),
    Range(IpNet),
    Asn(u32),
    Country(CountryCode),
    /// a configured field's value, known only as its keyed hash
    Field {
        name: String,
        id: Id,
    },
}

impl Subject {
    /// The scope as the API writes it: `ip`, `range`, `asn`, `country`, `field:NAME`.
    pub fn scope(&self) -> String {
        match self {
            Subject::Ip(_) => "ip".into(),
            Subject::Range(_) => "range".into(),
            Subject::Asn(_) => "asn".into(),
            Subject::Country(_) => "country".into(),
            Subject::Field { name, .. } => format!("field:{name}"),
        }
    }

    /// The value as stored and listed: an address, a CIDR, an AS number, an ISO code,
    /// or a field value's keyed hash (16 hex digits; the plain value is never kept).
    pub fn value(&self) -> String {
        match self {
            Subject::Ip(ip) => ip.to_string(),
            Subject::Range(n) => n.to_string(),
            Subject::Asn(a) => a.to_string(),
            Subject::Country(c) => String::from_utf8_lossy(c).into_owned(),
            Subject::Field { id, .. } => id.to_string(),
        }
    }

    /// Back from the stored `scope` and `value`.
    pub fn from_stored(scope: &str, value: &str) -> Option<Subject> {
        Some(match scope {
            "ip" => Subject::Ip(value.parse().ok()?),
            "range" => Subject::Range(value.parse().ok()?),
            "asn" => Subject::Asn(value.parse().ok()?),
            "country" => {
                let b = value.as_bytes();
                (b.len() == 2 && b.iter().all(u8::is_ascii_uppercase))
                    .then(|| Subject::Country([b[0], b[1]]))?
            }
            s => Subject::Field {
                name: s.strip_prefix("field:")?.to_string(),
                id: Id::parse(value)?,
            },
        })
    }
}

/// One decision, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: u64,
    pub subject: Subject,
    pub action: Action,
    pub reason: String,
    /// who made it: `api`, `cli`, `crowdsec`, or what the caller named
    pub origin: String,
    /// its id where it came from (CrowdSec's decision id), if elsewhere
    pub source_id: Option<String>,
    /// Unix milliseconds
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2026-12-01T20:51:55.123Z`.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

impl Record {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "scope": self.subject.scope(),
            "value": self.subject.value(),
            "action": self.action.as_str(),
            "reason": self.reason,
            "origin": self.origin,
            "created": rfc3339(self.created_ms),
            "expires": rfc3339(self.expires_ms),
        });
        if matches!(self.subject, Subject::Field { .. }) {
            v["value_is"] = json!("keyed hash (hash_key)");
        }
        if let Some(s) = &self.source_id {
            v["source_id"] = json!(s);
        }
        v
    }

    pub fn hit(&self) -> Hit {
        Hit {
            id: self.id,
            expires_ms: self.expires_ms,
            action: self.action,
        }
    }
}
