//! `riskgate explain`: what riskgate knows about an address and what it would do,
//! with which source said what. Takes no limiter tokens.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{json, Value};

use crate::config::{Config, KeyPart, UnknownAsn};
use crate::decide;
use crate::http::headers;
use crate::path::{self, ClientFrom, Counters, Evidence, Sent, View};
use crate::signals::{self, Signal};
use crate::state::Snapshot;

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("`{0}` is not a header; write 'Name: value'")]
    Header(String),
    #[error("`{0}` is not an HTTP method")]
    Method(String),
}

/// Parse `Name: value` pairs.
pub fn header_map(pairs: &[String]) -> Result<HeaderMap, ExplainError> {
    let mut h = HeaderMap::new();
    for p in pairs {
        let (k, v) = p
            .split_once(':')
            .ok_or_else(|| ExplainError::Header(p.clone()))?;
        let name = HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| ExplainError::Header(p.clone()))?;
        let value = HeaderValue::from_str(v.trim()).map_err(|_| ExplainError::Header(p.clone()))?;
        h.append(name, value);
    }
    Ok(h)
}

fn source_of(snap: &Snapshot, which: &str) -> Value {
    let db = match which {
        "geo" => &snap.intel.geo,
        "asn" => &snap.intel.asn,
        "anonymous_ip" => &snap.intel.anonymous_ip,
        _ => &snap.intel.connection_type,
    };
    match db {
        Some(d) => {
            json!({"kind": which, "file": d.path.display().to_string(), "database_type": d.database_type})
        }
        None => Value::Null,
    }
}

/// The explanation as JSON. `peer` is the address the request comes from; with
/// headers such as `X-Forwarded-For` it is resolved as a live request would be.
pub async fn explain(
    snap: &Snapshot,
    peer: IpAddr,
    path: &str,
    method: &str,
    hdrs: &HeaderMap,
    body: Option<&[u8]>,
) -> Result<Value, ExplainError> {
    let cfg: &Config = &snap.config;
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| ExplainError::Method(method.to_string()))?;
    let view = View::of_target(&method, path, hdrs, ClientFrom::Peer(peer));
    let route = path::route(cfg, &view);
    // a matched request goes the whole path, only looking at the live state; an
    // unmatched one is only looked up, to say what is known of the address
    let outcome = match route {
        Some(ri) => Some(
            path::run(
                snap,
                ri,
                &view,
                Evidence::Request(Sent::Whole(body.unwrap_or_default())),
                Counters::Peek,
                std::time::Instant::now(),
            )
            .await,
        ),
        None => None,
    };
    let (client, facts) = match &outcome {
        Some(o) => (o.client, o.facts),
        None => path::client(snap, &view),
    };
    let intel = &snap.intel;

    let org = intel
        .asn
        .as_ref()
        .and_then(|db| db.asn(facts.ip).ok().flatten())
        .and_then(|(_, o)| o);
    let lists: Vec<Value> = cfg
        .intel
        .lists
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let sources: Vec<String> = l.sources.iter().map(|s| s.source.to_string()).collect();
            let matched = facts.lists & (1 << i) != 0;
            json!({"name": l.name, "sources": sources, "matched": matched,
                   "entry": if matched { intel.list_note(&cfg.intel, i, facts.ip) } else { None }})
        })
        .collect();
    let facts_json = json!({
        "client_ip": facts.ip.to_string(),
        "peer": peer.to_string(),
        "client_ip_from": if client.invalid { format!("{} (its client entry is not an address)", cfg.client_ip.header.name()) } else if client.ip == crate::intel::canonical(peer) { "peer".to_string() } else { cfg.client_ip.header.name().to_string() },
        "client_ip_invalid": client.invalid,
        "country": {"value": facts.country_str(),
                    "source": if facts.country_from_relay { json!("the relay list's geofeed") } else { source_of(snap, "geo") },
                    "network": intel.geo.as_ref().and_then(|d| d.network(facts.ip))},
        "asn": {"value": facts.asn, "organization": org, "source": source_of(snap, "asn"),
                "network": intel.asn.as_ref().and_then(|d| d.network(facts.ip)),
                "in_hosting_asns": facts.hosting_asn, "org_matches_hosting_keyword": facts.hosting_org,
                "in_mobile_asns": facts.mobile_asn, "in_mobile_list": facts.mobile_list},
        "anonymous_ip": {"value": {
            "is_anonymous": facts.anon.anonymous, "is_anonymous_vpn": facts.anon.vpn,
            "is_hosting_provider": facts.anon.hosting, "is_public_proxy": facts.anon.public_proxy,
            "is_residential_proxy": facts.anon.residential_proxy, "is_tor_exit_node": facts.anon.tor_exit},
            "source": source_of(snap, "anonymous_ip")},
        "connection_type": {"value": facts.connection.map(|c| c.as_str()), "source": source_of(snap, "connection_type")},
        "tor_exit_set": {"matched": facts.tor_list, "size": intel.tor.as_ref().map(|t| t.len()),
                         "source": cfg.intel.tor.as_ref().map(|t| t.source.to_string())},
        "lists": lists,
        "lookup_errors": facts.lookup_errors,
    });

    let path = view.path;
    let Some(o) = outcome else {
        return Ok(json!({
            "ip": facts.ip.to_string(), "path": path, "method": method.as_str(),
            "route": Value::Null,
            "note": "no route matches: the request is forwarded untouched, with no lookups",
            "facts": facts_json,
        }));
    };
    let r = &cfg.routes[o.route];
    let policy = o.policy(cfg);
    let (values, ids) = (&o.values, &o.ids);
    let request = o.request(hdrs);
    let fields_json: serde_json::Map<String, Value> = policy
        .fields
        .iter()
        .map(|&i| (cfg.fields[i].name.clone(), json!(values[i])))
        .collect();
    // identifiers as the decision log writes them
    let ids_json: serde_json::Map<String, Value> = policy
        .ids
        .iter()
        .map(|&i| {
            (
                cfg.fields[i].name.clone(),
                json!(ids[i].map(|id| id.to_string())),
            )
        })
        .collect();
    let limits_json: Vec<Value> = policy
        .limits
        .iter()
        .map(|l| {
            let missing: Vec<&str> = l
                .key
                .iter()
                .filter_map(|p| match p {
                    KeyPart::Field(f) if ids[*f].is_none() => Some(cfg.fields[*f].name.as_str()),
                    KeyPart::Asn if facts.asn.is_none() && l.unknown_asn == UnknownAsn::Skip => {
                        Some("asn")
                    }
                    _ => None,
                })
                .collect();
            json!({
                "key": l.key.iter().map(|p| match p {
                    KeyPart::Ip => "ip".to_string(),
                    KeyPart::Subnet => "subnet".to_string(),
                    KeyPart::Asn => "asn".to_string(),
                    KeyPart::Field(f) => format!("field:{}", cfg.fields[*f].name),
                }).collect::<Vec<_>>(),
                "signal": l.signal.name(),
                "rate": format!("{}/{}s", l.count, l.per.as_secs()),
                "burst": l.burst,
                "applies": missing.is_empty(),
                "skipped_because_missing": missing,
            })
        })
        .collect();
    let d = o.decision;
    // the decision that matched, named as the store keeps it
    let decision_json = match d.recalled {
        None => Value::Null,
        Some(h) => match snap.decisions.get(h.id) {
            Ok(Some(rec)) => rec.to_json(),
            _ => json!({"id": h.id, "action": h.action.as_str(),
                        "expires": crate::decisions::rfc3339(h.expires_ms)}),
        },
    };
    // the same checks as the live path, asked to say why
    let (_, because) = decide::checks::explain(&decide::Input {
        facts: &facts,
        request: &request,
        policy,
        intel: &cfg.intel,
        data: Some(&snap.intel),
    });
    let mut signals = Vec::new();
    let decided_because = || {
        format!(
            "decision {} ({}, {}): {}",
            decision_json["id"],
            decision_json["origin"].as_str().unwrap_or("-"),
            decision_json["reason"].as_str().unwrap_or(""),
            format_args!("until {}", decision_json["expires"].as_str().unwrap_or("-"))
        )
    };
    if d.allow_listed {
        if d.reasons.has(Signal::DecisionAllow) {
            signals.push(json!({"signal": Signal::DecisionAllow.name(), "weight": 0,
                                "because": decided_because(), "meaning": Signal::DecisionAllow.def().meaning}));
        }
        for (i, l) in cfg.intel.lists.iter().enumerate() {
            if d.reasons.lists & (1 << i) != 0 {
                signals.push(json!({"signal": l.signal, "weight": 0, "because": format!("address in list {}: skips scoring and limits", l.name), "meaning": "the allow list"}));
            }
        }
    } else {
        for s in Signal::ALL {
            if s == signals::LISTS_BEFORE {
                for (i, l) in cfg.intel.lists.iter().enumerate() {
                    if d.reasons.lists & (1 << i) != 0 {
                        signals.push(json!({"signal": l.signal, "weight": policy.weights.lists[i],
                                            "because": because.of_list(i), "meaning": signals::LIST_MEANING}));
                    }
                }
            }
            if d.reasons.has(s) {
                let why = match s {
                    Signal::DecisionBlock | Signal::DecisionVerify | Signal::DecisionShadow => {
                        json!(decided_because())
                    }
                    _ => json!(because.of(s)),
                };
                signals.push(
                    json!({"signal": s.name(), "weight": policy.weights.fixed[s as usize],
                                    "because": why, "meaning": s.def().meaning}),
                );
            }
        }
    }
    let hdrs: serde_json::Map<String, Value> = headers::NAMES
        .into_iter()
        .zip(headers::values(
            &d,
            &facts,
            &r.header,
            &cfg.intel,
            &policy.limits,
        ))
        .map(|(k, v)| {
            (
                k.to_string(),
                Value::String(v.to_str().unwrap_or("").to_string()),
            )
        })
        .collect();
    Ok(json!({
        "ip": facts.ip.to_string(), "path": path, "method": method.as_str(),
        "route": r.name, "policy": policy.name, "mode": policy.mode.as_str(),
        "facts": facts_json,
        "fields": fields_json,
        "ids": ids_json,
        "limits": limits_json,
        "signals": signals,
        "decision": decision_json,
        "score": d.score,
        "thresholds": {"verify": policy.thresholds.verify, "block": policy.thresholds.block},
        "action": d.action.as_str(),
        "network": d.network.as_str(),
        "outcome": match d.verdict {
            decide::Verdict::Forward => "forwarded to the origin",
            decide::Verdict::Block => "answered by riskgate with on_block",
            decide::Verdict::Limit => "answered by riskgate with on_limit",
        },
        "headers": hdrs,
        "note": "explain takes no rate-limit tokens; rate signals are not shown",
    }))
}

/// A readable table of the same explanation, for a terminal.
pub fn table(v: &Value) -> String {
    let mut out = String::new();
    let s = |v: &Value| match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        o => o.to_string(),
    };
    out += &format!(
        "client ip   {}  (from {})\n",
        s(&v["facts"]["client_ip"]),
        s(&v["facts"]["client_ip_from"])
    );
    out += &format!("country     {}\n", s(&v["facts"]["country"]["value"]));
    out += &format!(
        "asn         {}  {}\n",
        s(&v["facts"]["asn"]["value"]),
        s(&v["facts"]["asn"]["organization"])
    );
    out += &format!(
        "connection  {}\n",
        s(&v["facts"]["connection_type"]["value"])
    );
    out += &format!(
        "tor exit    {}\n",
        s(&v["facts"]["tor_exit_set"]["matched"])
    );
    if v["route"].is_null() {
        out += &format!("route       none: {}\n", s(&v["note"]));
        return out;
    }
    out += &format!(
        "route       {} (policy {}, {})\n",
        s(&v["route"]),
        s(&v["policy"]),
        s(&v["mode"])
    );
    out += "signals\n";
    if let Some(sigs) = v["signals"].as_array() {
        if sigs.is_empty() {
            out += "  (none)\n";
        }
        for sg in sigs {
            out += &format!(
                "  {:<20} {:>4}  {}\n",
                s(&sg["signal"]),
                s(&sg["weight"]),
                s(&sg["because"])
            );
        }
    }
    out += &format!(
        "score       {}  (verify ≥ {}, block ≥ {})\naction      {} → {}\nnetwork     {}\n",
        s(&v["score"]),
        s(&v["thresholds"]["verify"]),
        s(&v["thresholds"]["block"]),
        s(&v["action"]),
        s(&v["outcome"]),
        s(&v["network"])
    );
    out
}
