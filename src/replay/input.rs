//! The records a replay reads, one a line, the format detected per line: riskgate's own
//! decision log, JSON lines `{"time", "ip", "method", "path", "headers", "body"}`, and
//! nginx/Apache `combined` access logs.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use crate::evidence::ident::Id;

/// What riskgate's own decision log recorded of a request's evidence.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Logged {
    pub accept_language: String,
    pub timezone: String,
    pub declared_country: String,
    /// identifier field → its keyed hash
    pub ids: HashMap<String, Id>,
    /// the body could not be read for the fields (why)
    pub unreadable_body: bool,
    pub request_id: String,
    /// the door it came through (`proxy`, `authz`; empty in logs from before there were two)
    pub frontend: String,
}

/// One request to decide again.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// µs since the Unix epoch
    pub time_us: i64,
    /// the peer, or (own log) the client as the gateway resolved it
    pub ip: IpAddr,
    pub method: String,
    /// path and query as sent
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// from riskgate's own log: the evidence it recorded (fields as logged)
    pub logged: Option<Logged>,
}

/// Why a line was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unparsed {
    #[error("not a record: {0}")]
    Shape(String),
    #[error("bad time `{0}`")]
    Time(String),
    #[error("bad address `{0}`")]
    Address(String),
}

fn rfc3339_us(s: &str) -> Result<i64, Unparsed> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_micros())
        .map_err(|_| Unparsed::Time(s.to_string()))
}

fn ip(s: &str) -> Result<IpAddr, Unparsed> {
    s.trim()
        .parse()
        .map_err(|_| Unparsed::Address(s.to_string()))
}

/// A JSON line of either kind, its strings borrowed from the line where they hold no
/// escapes; every other key is skipped.
#[derive(serde::Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    message: Cow<'a, str>,
    #[serde(borrow, default)]
    target: Cow<'a, str>,
    // riskgate's decision log
    #[serde(borrow, default)]
    timestamp: Cow<'a, str>,
    #[serde(borrow, default)]
    client_ip: Cow<'a, str>,
    #[serde(borrow, default)]
    accept_language: Cow<'a, str>,
    #[serde(borrow, default)]
    timezone: Cow<'a, str>,
    #[serde(borrow, default)]
    declared_country: Cow<'a, str>,
    #[serde(borrow, default)]
    unreadable_body: Cow<'a, str>,
    #[serde(borrow, default)]
    ids: Cow<'a, str>,
    #[serde(borrow, default)]
    request_id: Cow<'a, str>,
    #[serde(borrow, default)]
    frontend: Cow<'a, str>,
    // both
    #[serde(borrow, default)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    path: Cow<'a, str>,
    // JSON lines
    #[serde(borrow, default)]
    time: Cow<'a, str>,
    #[serde(borrow, default)]
    ip: Cow<'a, str>,
    #[serde(borrow)]
    headers: Option<HashMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(borrow)]
    body: Option<&'a serde_json::value::RawValue>,
}

/// One line, whatever its format; `None` for a line of riskgate's log that is not a
/// decision (start-up, reloads…).
pub fn parse_line(line: &str) -> Result<Option<Record>, Unparsed> {
    let t = line.trim();
    if !t.starts_with('{') {
        return combined(t).map(Some);
    }
    let l: Line = serde_json::from_str(t).map_err(|e| Unparsed::Shape(format!("JSON: {e}")))?;
    match &*l.message {
        "decision" => own_log(l).map(Some),
        m if !m.is_empty() && l.target.starts_with("riskgate") => Ok(None),
        _ => json_line(l).map(Some),
    }
}

/// A line of riskgate's decision log: the client as resolved, the evidence as logged.
fn own_log(l: Line) -> Result<Record, Unparsed> {
    let time_us = rfc3339_us(&l.timestamp)?;
    let ip = ip(&l.client_ip)?;
    let ids = l
        .ids
        .split(',')
        .filter_map(|kv| {
            let (k, h) = kv.split_once('=')?;
            Some((k.to_string(), Id::parse(h)?))
        })
        .collect();
    let mut headers = Vec::new();
    if !l.accept_language.is_empty() {
        headers.push(("accept-language".to_string(), l.accept_language.to_string()));
    }
    Ok(Record {
        time_us,
        ip,
        method: l.method.into_owned(),
        target: l.path.into_owned(),
        headers,
        body: None,
        logged: Some(Logged {
            accept_language: l.accept_language.into_owned(),
            timezone: l.timezone.into_owned(),
            declared_country: l.declared_country.into_owned(),
            ids,
            unreadable_body: !l.unreadable_body.is_empty(),
            request_id: l.request_id.into_owned(),
            frontend: l.frontend.into_owned(),
        }),
    })
}

/// `{"time": RFC 3339, "ip", "method", "path", "headers": {…}, "body"}`.
fn json_line(l: Line) -> Result<Record, Unparsed> {
    if l.time.is_empty() || l.ip.is_empty() {
        return Err(Unparsed::Shape("JSON without `time` and `ip`".into()));
    }
    let body = match l.body {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) if raw.get().starts_with('"') => Some(
            serde_json::from_str::<String>(raw.get())
                .map_err(|e| Unparsed::Shape(format!("body: {e}")))?
                .into_bytes(),
        ),
        Some(raw) => Some(raw.get().as_bytes().to_vec()),
    };
    Ok(Record {
        time_us: rfc3339_us(&l.time)?,
        ip: ip(&l.ip)?,
        method: match &*l.method {
            "" => "GET".to_string(),
            m => m.to_ascii_uppercase(),
        },
        target: match &*l.path {
            "" => "/".to_string(),
            p => p.to_string(),
        },
        headers: l
            .headers
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
            .collect(),
        body,
        logged: None,
    })
}

/// `1.2.3.4 - - [22/Nov/2026:10:00:00 +0000] "POST /signup?ref=x HTTP/1.1" 200 12
/// "referer" "user agent"` (the referer and agent optional).
fn combined(line: &str) -> Result<Record, Unparsed> {
    let bad = || Unparsed::Shape("neither JSON nor a combined access-log line".into());
    let (addr, rest) = line.split_once(' ').ok_or_else(bad)?;
    let open = rest.find('[').ok_or_else(bad)?;
    let close = rest[open..].find(']').ok_or_else(bad)? + open;
    let when = &rest[open + 1..close];
    let time_us = chrono::DateTime::parse_from_str(when, "%d/%b/%Y:%H:%M:%S %z")
        .map(|t| t.timestamp_micros())
        .map_err(|_| Unparsed::Time(when.to_string()))?;
    let after = &rest[close + 1..];
    let q1 = after.find('"').ok_or_else(bad)?;
    let q2 = after[q1 + 1..].find('"').ok_or_else(bad)? + q1 + 1;
    let mut req = after[q1 + 1..q2].split_whitespace();
    let (method, target) = match (req.next(), req.next()) {
        (Some(m), Some(t)) => (m.to_string(), t.to_string()),
        _ => return Err(bad()),
    };
    // "referer" "user agent" after the status and size, when present; a third quoted
    // field of addresses is the common `"$http_x_forwarded_for"` addition, believed as
    // the config's `client_ip` says
    let quoted: Vec<&str> = after[q2 + 1..].split('"').skip(1).step_by(2).collect();
    let mut headers = Vec::new();
    if let Some(ua) = quoted.get(1).filter(|u| **u != "-") {
        headers.push(("user-agent".to_string(), ua.to_string()));
    }
    if let Some(xff) = quoted
        .get(2)
        .filter(|x| x.split(',').all(|a| a.trim().parse::<IpAddr>().is_ok()))
    {
        headers.push(("x-forwarded-for".to_string(), xff.to_string()));
    }
    Ok(Record {
        time_us,
        ip: ip(addr)?,
        method,
        target,
        headers,
        body: None,
        logged: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_and_the_faults() {
        let p = |l: &str| parse_line(l).map(|r| r.unwrap());
        let c = p(r#"203.0.113.7 - - [22/Nov/2026:10:00:00 +0100] "POST /signup?ref=FRIEND-42 HTTP/1.1" 200 12 "-" "curl/8""#).unwrap();
        assert_eq!(c.ip.to_string(), "203.0.113.7");
        assert_eq!(
            (c.method.as_str(), c.target.as_str()),
            ("POST", "/signup?ref=FRIEND-42")
        );
        assert_eq!(c.time_us, 1_795_338_000_000_000);
        assert_eq!(
            c.headers,
            [("user-agent".to_string(), "curl/8".to_string())]
        );

        let j = p(r#"{"time":"2026-11-22T09:00:00Z","ip":"198.51.100.1","method":"post","path":"/c","headers":{"Content-Type":"application/json"},"body":{"code":"X"}}"#).unwrap();
        assert_eq!(j.method, "POST");
        assert_eq!(j.body.as_deref(), Some(&br#"{"code":"X"}"#[..]));
        assert_eq!(j.headers[0].0, "content-type");

        let o = p(r#"{"timestamp":"2026-11-22T09:21:52.002109Z","message":"decision","client_ip":"89.160.20.112","method":"POST","path":"/hop","accept_language":"sv","timezone":"","declared_country":"","unreadable_body":"","ids":"device=d14e914b270531db","request_id":"rg-1"}"#).unwrap();
        let l = o.logged.unwrap();
        assert_eq!(l.ids["device"].to_string(), "d14e914b270531db");
        assert_eq!(o.time_us % 1_000_000, 2109);

        assert!(matches!(parse_line("garbage"), Err(Unparsed::Shape(_))));
        assert_eq!(
            parse_line(r#"{"message":"config reloaded","target":"riskgate::state"}"#),
            Ok(None)
        );
        assert!(matches!(
            parse_line(r#"{"time":"yesterday","ip":"1.2.3.4"}"#),
            Err(Unparsed::Time(_))
        ));
        assert!(matches!(
            parse_line(r#"{"time":"2026-11-22T09:00:00Z","ip":"nope"}"#),
            Err(Unparsed::Address(_))
        ));
    }
}
