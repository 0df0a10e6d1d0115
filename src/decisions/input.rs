//! What the API and the CLI hand in, read and checked: every decision of a call is
//! checked before any is stored, and each problem names the decision (its index, or
//! its line for `import`) and what is wrong with it.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;

use super::store::NewRow;
use super::{Action, Subject};
use crate::config::{FieldDef, HashKey};
use crate::evidence::fields;
use crate::evidence::ident::Id;

/// The longest value (and reason) a decision takes.
pub const MAX_VALUE_BYTES: usize = 1024;
/// The longest a decision lasts.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86400);
/// A decision's duration when the call names none.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(86400);
/// The most decisions one call adds (`import` sends larger files in parts).
pub const MAX_BATCH: usize = 10_000;
/// The widest ranges taken without `force`: /16 (IPv4), /32 (IPv6).
pub const WIDEST_V4: u8 = 16;
pub const WIDEST_V6: u8 = 32;
/// The origin the CrowdSec bouncer writes; the API may not use it.
pub const CROWDSEC_ORIGIN: &str = "crowdsec";

/// What a decision is checked against.
pub struct Context<'a> {
    pub fields: &'a [FieldDef],
    pub hash_key: &'a HashKey,
    /// the origin of a decision that names none
    pub origin: &'a str,
    pub now_ms: i64,
}

/// One problem of a call: which decision (`index` into the list) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub index: Option<usize>,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    scope: String,
    value: Value,
    action: String,
    duration: Option<String>,
    reason: Option<String>,
    origin: Option<String>,
    #[serde(default)]
    force: bool,
}

/// A call's body: one decision (an object) or a list of them.
pub fn parse_body(body: &[u8], cx: &Context) -> Result<Vec<NewRow>, Vec<Problem>> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        vec![Problem {
            index: None,
            message: format!("malformed JSON: {e}"),
        }]
    })?;
    let (items, single) = match v {
        Value::Array(a) => (a, false),
        o @ Value::Object(_) => (vec![o], true),
        _ => {
            return Err(vec![Problem {
                index: None,
                message: "the body is a decision (a JSON object) or a list of them".into(),
            }])
        }
    };
    if items.is_empty() {
        return Err(vec![Problem {
            index: None,
            message: "the list holds no decision".into(),
        }]);
    }
    if items.len() > MAX_BATCH {
        return Err(vec![Problem {
            index: None,
            message: format!(
                "{} decisions in one call; at most {MAX_BATCH} (riskgate decisions import sends a file in parts)",
                items.len()
            ),
        }]);
    }
    let mut rows = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match one(item, cx) {
            Ok(r) => rows.push(r),
            Err(message) => problems.push(Problem {
                index: (!single).then_some(i),
                message,
            }),
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

fn text_value(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err("`value` is a string (or an AS number)".into()),
    }
}

/// One decision, checked.
pub fn one(v: Value, cx: &Context) -> Result<NewRow, String> {
    let w: Wire = serde_json::from_value(v).map_err(|e| e.to_string())?;
    let value = text_value(&w.value)?;
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "`value` is {} bytes; at most {MAX_VALUE_BYTES}",
            value.len()
        ));
    }
    let subject = subject(&w.scope, &value, w.force, cx)?;
    let action = Action::from_name(&w.action.trim().to_ascii_lowercase()).ok_or_else(|| {
        format!(
            "unknown action `{}`; one of block, verify, shadow, allow",
            w.action
        )
    })?;
    let duration = match &w.duration {
        None => DEFAULT_DURATION,
        Some(d) => {
            crate::config::units::parse_duration(d).map_err(|e| format!("`duration`: {e}"))?
        }
    };
    if duration > MAX_DURATION {
        return Err(format!(
            "`duration` {} is over 365 days",
            w.duration.as_deref().unwrap_or_default()
        ));
    }
    let reason = w.reason.unwrap_or_default();
    if reason.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "`reason` is {} bytes; at most {MAX_VALUE_BYTES}",
            reason.len()
        ));
    }
    if reason.chars().any(char::is_control) {
        return Err("`reason` holds a control character".into());
    }
    let origin = match w.origin {
        None => cx.origin.to_string(),
        Some(o) => {
            let ok = !o.is_empty()
                && o.len() <= 32
                && o.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
            if !ok {
                return Err(format!(
                    "`origin` `{o}`: 1 to 32 of a-z, 0-9, `_`, `-` and `.`"
                ));
            }
            if o == CROWDSEC_ORIGIN {
                return Err("`origin` crowdsec is the CrowdSec bouncer's own".into());
            }
            o
        }
    };
    Ok(NewRow {
        subject,
        action,
        reason,
        origin,
        source_id: None,
        created_ms: cx.now_ms,
        expires_ms: cx.now_ms.saturating_add(duration.as_millis() as i64),
    })
}

/// A scope as stored (`ip`, `range`, `asn`, `country`, `field:NAME` of a configured
/// field), from the way a caller spells it.
pub fn scope_name(scope: &str, fields: &[FieldDef]) -> Result<String, String> {
    let t = scope.trim();
    let lower = t.to_ascii_lowercase();
    if ["ip", "range", "asn", "country"].contains(&lower.as_str()) {
        return Ok(lower);
    }
    if lower.starts_with("field:") {
        let name = t["field:".len()..].trim();
        if fields.iter().any(|f| f.name == name) {
            return Ok(format!("field:{name}"));
        }
        let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        return Err(format!(
            "unknown field `{name}`; the configured fields are: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    }
    Err(format!(
        "unknown scope `{scope}`; one of ip, range, asn, country, field:NAME"
    ))
}

/// The subject of `scope` and `value`, canonical: an address as the request path sees
/// it (a v4-mapped address is its IPv4 one), a country upper-case, a field value
/// narrowed and normalised as the field's are, then hashed.
pub fn subject(scope: &str, value: &str, force: bool, cx: &Context) -> Result<Subject, String> {
    let v = value.trim();
    let scope_l = scope_name(scope, cx.fields)?;
    match scope_l.as_str() {
        "ip" => {
            let ip: IpAddr = v
                .parse()
                .map_err(|_| format!("`{v}` is not an IP address (a network is scope range)"))?;
            Ok(Subject::Ip(crate::intel::canonical(ip)))
        }
        "range" => {
            let net: IpNet = match v.parse() {
                Ok(n) => n,
                // a bare address is its own /32 or /128
                Err(_) => match v.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(crate::intel::canonical(ip)),
                    Err(_) => {
                        return Err(format!("`{v}` is not a CIDR range (e.g. 203.0.113.0/24)"))
                    }
                },
            };
            let net = match net {
                IpNet::V6(n) if n.addr().to_ipv4_mapped().is_some() && n.prefix_len() >= 96 => {
                    let v4 = n.addr().to_ipv4_mapped().expect("mapped");
                    IpNet::V4(
                        ipnet::Ipv4Net::new(v4, n.prefix_len() - 96).expect("prefix within 32"),
                    )
                }
                n => n,
            };
            if net.addr() != net.network() {
                return Err(format!(
                    "`{v}` has host bits set: the range is {}",
                    net.trunc()
                ));
            }
            let (len, widest) = match net {
                IpNet::V4(n) => (n.prefix_len(), WIDEST_V4),
                IpNet::V6(n) => (n.prefix_len(), WIDEST_V6),
            };
            if len < widest && !force {
                return Err(format!(
                    "`{v}` is wider than /{widest}: a range that wide takes \"force\": true"
                ));
            }
            Ok(Subject::Range(net))
        }
        "asn" => {
            let digits = v
                .strip_prefix("AS")
                .or_else(|| v.strip_prefix("as"))
                .unwrap_or(v);
            match digits.parse::<u32>() {
                Ok(a) if a > 0 => Ok(Subject::Asn(a)),
                _ => Err(format!("`{v}` is not an AS number (e.g. 64500 or AS64500)")),
            }
        }
        "country" => {
            let b = v.as_bytes();
            if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
                Ok(Subject::Country([
                    b[0].to_ascii_uppercase(),
                    b[1].to_ascii_uppercase(),
                ]))
            } else {
                Err(format!("`{v}` is not an ISO 3166 country code (e.g. IN)"))
            }
        }
        s => {
            let name = &s["field:".len()..];
            let def = cx
                .fields
                .iter()
                .find(|f| f.name == name)
                .expect("scope_name checked the field");
            if !cx.hash_key.from_file {
                return Err(
                    "a field decision needs `hash_key` (a key file): without it the keyed hashes change at every restart and the decision would stop matching".into(),
                );
            }
            let Some(normal) = fields::finish(def, value.to_string()) else {
                return Err(if def.pattern.is_some() {
                    format!("`{v}` does not match the pattern of field `{name}`")
                } else {
                    "`value` is empty".into()
                });
            };
            Ok(Subject::Field {
                name: name.to_string(),
                id: Id::of(cx.hash_key, &normal),
            })
        }
    }
}

/// The lines of an `import` file as decisions (JSON objects), each with its line
/// number, or why the line is not one. JSON lines (one object a line), or CSV with a
/// header row naming the columns (`scope,value,action,duration,reason,origin,force`).
pub fn import_lines(text: &str, csv_format: bool) -> Vec<(usize, Result<Value, String>)> {
    if !csv_format {
        return text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(i, l)| {
                let v = serde_json::from_str::<Value>(l)
                    .map_err(|e| format!("malformed JSON: {e}"))
                    .and_then(|v| {
                        if v.is_object() {
                            Ok(v)
                        } else {
                            Err("a line is one decision, a JSON object".into())
                        }
                    });
                (i + 1, v)
            })
            .collect();
    }
    let mut rd = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let headers = match rd.headers() {
        Ok(h) => h.clone(),
        Err(e) => return vec![(1, Err(format!("the header row: {e}")))],
    };
    const COLUMNS: [&str; 7] = [
        "scope", "value", "action", "duration", "reason", "origin", "force",
    ];
    if let Some(bad) = headers.iter().find(|h| !COLUMNS.contains(h)) {
        return vec![(
            1,
            Err(format!(
                "unknown column `{bad}`; the columns are {}",
                COLUMNS.join(", ")
            )),
        )];
    }
    let mut out = Vec::new();
    for rec in rd.records() {
        let line = rec
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(0, |p| p.line() as usize);
        let v = match rec {
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line() as usize);
                out.push((line, Err(format!("malformed CSV: {e}"))));
                continue;
            }
            Ok(r) => {
                let mut o = serde_json::Map::new();
                for (h, cell) in headers.iter().zip(r.iter()) {
                    if cell.is_empty() {
                        continue;
                    }
                    let v = if h == "force" {
                        match cell {
                            "true" => Value::Bool(true),
                            "false" => Value::Bool(false),
                            _ => {
                                out.push((
                                    line,
                                    Err(format!("`force` is true or false, not `{cell}`")),
                                ));
                                o.clear();
                                break;
                            }
                        }
                    } else {
                        Value::String(cell.to_string())
                    };
                    o.insert(h.to_string(), v);
                }
                if o.is_empty() {
                    continue;
                }
                Value::Object(o)
            }
        };
        out.push((line, Ok(v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FieldSource, Normalize};

    fn fields() -> Vec<FieldDef> {
        vec![FieldDef {
            name: "device".into(),
            source: FieldSource::Cookie("device_id".into()),
            pointer: Vec::new(),
            pattern: None,
            normalize: Some(Normalize::Lower),
        }]
    }

    fn check(v: Value) -> Result<NewRow, String> {
        let f = fields();
        let k = HashKey::derive(b"0123456789abcdef0123456789abcdef");
        one(
            v,
            &Context {
                fields: &f,
                hash_key: &k,
                origin: "api",
                now_ms: 1_000,
            },
        )
    }

    #[test]
    fn values_are_made_canonical() {
        let r = check(
            serde_json::json!({"scope": "IP", "value": " ::ffff:192.0.2.1 ", "action": "Block"}),
        )
        .unwrap();
        assert_eq!(r.subject, Subject::Ip("192.0.2.1".parse().unwrap()));
        assert_eq!(r.expires_ms, 1_000 + 86_400_000);
        let r = check(serde_json::json!({"scope": "country", "value": "in", "action": "verify", "duration": "2h"})).unwrap();
        assert_eq!(r.subject, Subject::Country(*b"IN"));
        let r = check(serde_json::json!({"scope": "asn", "value": "AS64500", "action": "shadow"}))
            .unwrap();
        assert_eq!(r.subject, Subject::Asn(64500));
        let r =
            check(serde_json::json!({"scope": "asn", "value": 64500, "action": "shadow"})).unwrap();
        assert_eq!(r.subject, Subject::Asn(64500));
        let a =
            check(serde_json::json!({"scope": "field:device", "value": "ABC", "action": "block"}))
                .unwrap();
        let b = check(
            serde_json::json!({"scope": "field:device", "value": " abc ", "action": "block"}),
        )
        .unwrap();
        assert_eq!(a.subject, b.subject);
    }

    #[test]
    fn every_bad_input_is_named() {
        let bad = [
            (
                serde_json::json!({"scope": "user", "value": "x", "action": "block"}),
                "unknown scope",
            ),
            (
                serde_json::json!({"scope": "field:account", "value": "x", "action": "block"}),
                "unknown field `account`",
            ),
            (
                serde_json::json!({"scope": "range", "value": "10.0.0.0/33", "action": "block"}),
                "not a CIDR",
            ),
            (
                serde_json::json!({"scope": "range", "value": "10.0.0.1/24", "action": "block"}),
                "host bits",
            ),
            (
                serde_json::json!({"scope": "range", "value": "10.0.0.0/8", "action": "block"}),
                "wider than /16",
            ),
            (
                serde_json::json!({"scope": "range", "value": "2001::/16", "action": "block"}),
                "wider than /32",
            ),
            (
                serde_json::json!({"scope": "ip", "value": "1.2.3.4", "action": "block", "duration": "366d"}),
                "over 365 days",
            ),
            (
                serde_json::json!({"scope": "ip", "value": "1.2.3.4", "action": "ban"}),
                "unknown action",
            ),
            (
                serde_json::json!({"scope": "field:device", "value": "x".repeat(1025), "action": "block"}),
                "at most 1024",
            ),
            (
                serde_json::json!({"scope": "ip", "value": "1.2.3.4", "action": "block", "colour": 1}),
                "unknown field `colour`",
            ),
            (
                serde_json::json!({"scope": "ip", "value": "1.2.3.4", "action": "block", "origin": "crowdsec"}),
                "CrowdSec",
            ),
        ];
        for (v, want) in bad {
            let e = check(v.clone()).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
        assert!(check(serde_json::json!({"scope": "range", "value": "10.0.0.0/8", "action": "block", "force": true})).is_ok());
    }

    #[test]
    fn import_reads_json_lines_and_csv_with_line_numbers() {
        let j = import_lines(
            "{\"scope\":\"ip\",\"value\":\"1.2.3.4\",\"action\":\"block\"}\n\n{oops\n",
            false,
        );
        assert_eq!(j.len(), 2);
        assert!(j[0].1.is_ok());
        assert_eq!(j[1].0, 3);
        assert!(j[1].1.is_err());
        let c = import_lines("scope,value,action,duration\nip,1.2.3.4,block,2h\n\"range\",\"10.0.0.0/24\",verify,\nip,1.2.3.5\n", true);
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].1.as_ref().unwrap()["duration"], "2h");
        assert!(c[1].1.as_ref().unwrap().get("duration").is_none());
        assert_eq!(c[2].0, 4);
        assert!(c[2].1.is_err());
    }
}
