//! A policy's `limits`: keys of one or more parts (ip, subnet, asn, field:NAME), rates,
//! bursts, and the signal each reports.

use super::*;

const PARTS: &[&str] = &["ip", "subnet", "asn", "field:NAME"];

/// One part of a key, as written.
fn part(cx: &mut Ctx, key: &str, s: &str, fields: &[FieldDef]) -> Option<KeyPart> {
    match s.trim() {
        "ip" => Some(KeyPart::Ip),
        "subnet" => Some(KeyPart::Subnet),
        "asn" => Some(KeyPart::Asn),
        other => {
            if let Some(name) = other.strip_prefix("field:") {
                let name = name.trim();
                if let Some(i) = fields.iter().position(|f| f.name == name) {
                    return Some(KeyPart::Field(i));
                }
                let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                let hint = did_you_mean(name, &names);
                cx.err(key, format!("no field named `{name}` under `fields`{hint}"));
            } else {
                let hint = did_you_mean(other, &["ip", "subnet", "asn"]);
                cx.err(
                    key,
                    format!(
                        "`{other}` is not a limit key{hint}; use {}, or a list of them",
                        PARTS.join(", ")
                    ),
                );
            }
            None
        }
    }
}

/// A key: one part, or a list of distinct parts.
fn key_parts(cx: &mut Ctx, key: &str, v: Value, fields: &[FieldDef]) -> Option<Vec<KeyPart>> {
    let texts: Vec<String> = match v {
        Value::String(s) => vec![s],
        Value::Sequence(items) => {
            let mut out = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s),
                    _ => {
                        cx.err(
                            &format!("{key}[{i}]"),
                            "must be ip, subnet, asn or field:NAME",
                        );
                        return None;
                    }
                }
            }
            if out.is_empty() {
                cx.err(key, "a key needs at least one part");
                return None;
            }
            out
        }
        _ => {
            cx.err(
                key,
                "must be ip, subnet, asn, field:NAME or a list of them, e.g. [field:referral, subnet]",
            );
            return None;
        }
    };
    let mut parts = Vec::new();
    let mut ok = true;
    for t in &texts {
        match part(cx, key, t, fields) {
            Some(p) if parts.contains(&p) => {
                cx.err(key, format!("`{}` appears twice in the key", t.trim()));
                ok = false;
            }
            Some(p) => parts.push(p),
            None => ok = false,
        }
    }
    ok.then_some(parts)
}

pub(super) fn compile_limits(
    cx: &mut Ctx,
    key: &str,
    raw: Opt<Vec<Field<RawLimit>>>,
    fields: &[FieldDef],
) -> Vec<LimitSpec> {
    let mut limits: Vec<LimitSpec> = Vec::new();
    let list = cx.get(key, raw).unwrap_or_default();
    if list.len() > MAX_LIMITS {
        cx.err(key, format!("at most {MAX_LIMITS} limits a policy"));
    }
    for (i, l) in list.into_iter().enumerate().take(MAX_LIMITS) {
        let lkey = format!("{key}[{i}]");
        let l = match l {
            Field::Ok(l) => l,
            Field::Err(e) => {
                cx.err(&lkey, clean_serde_message(&e));
                continue;
            }
        };
        cx.unknown(&lkey, &l.unknown, RawLimit::KEYS);
        let kkey = join(&lkey, "key");
        let parts = match cx.get(&kkey, l.key) {
            Some(v) => key_parts(cx, &kkey, v, fields),
            None => {
                cx.err(
                    &lkey,
                    "needs a `key` (ip, subnet, asn, field:NAME, or a list)",
                );
                None
            }
        };
        let name = match cx.get(&join(&lkey, "name"), l.name) {
            Some(n) if !valid_name(&n) => {
                cx.err(
                    &join(&lkey, "name"),
                    format!("limit name `{n}` may use only a-z, 0-9, _ and -"),
                );
                None
            }
            Some(n) if ["ip", "subnet", "asn"].contains(&n.as_str()) => {
                cx.err(
                    &join(&lkey, "name"),
                    format!("`{n}` names an unnamed limit's key; choose another name"),
                );
                None
            }
            other => other,
        };
        let rate = match cx.get(&join(&lkey, "rate"), l.rate) {
            Some(r) => match parse_rate(&r) {
                Ok(v) => Some(v),
                Err(e) => {
                    cx.err(&join(&lkey, "rate"), e);
                    None
                }
            },
            None => {
                cx.err(&lkey, "needs a `rate` such as 5/min");
                None
            }
        };
        let burst = cx.get(&join(&lkey, "burst"), l.burst);
        if burst == Some(0) {
            cx.err(&join(&lkey, "burst"), "must be at least 1");
        }
        let unknown_asn = match cx
            .get(&join(&lkey, "unknown_asn"), l.unknown_asn)
            .as_deref()
        {
            None | Some("skip") => UnknownAsn::Skip,
            Some("shared") => UnknownAsn::Shared,
            Some(o) => {
                cx.err(
                    &join(&lkey, "unknown_asn"),
                    format!("`{o}` is not allowed; use skip or shared"),
                );
                UnknownAsn::Skip
            }
        };
        let Some(parts) = parts else { continue };
        if unknown_asn == UnknownAsn::Shared && !parts.contains(&KeyPart::Asn) {
            cx.err(
                &join(&lkey, "unknown_asn"),
                "only applies to a key with asn in it",
            );
        }
        // the signal: rate:NAME when named; else rate_ip/_subnet/_asn for one of
        // those; else rate:FIELD for one field; several parts need a name
        let (signal, label) = match (&name, parts.as_slice()) {
            (Some(n), _) => (LimitSignal::Named(format!("rate:{n}")), n.clone()),
            (None, [KeyPart::Ip]) => (LimitSignal::Fixed(Signal::RateIp), "ip".into()),
            (None, [KeyPart::Subnet]) => (LimitSignal::Fixed(Signal::RateSubnet), "subnet".into()),
            (None, [KeyPart::Asn]) => (LimitSignal::Fixed(Signal::RateAsn), "asn".into()),
            (None, [KeyPart::Field(f)]) => {
                let n = fields[*f].name.clone();
                (LimitSignal::Named(format!("rate:{n}")), n)
            }
            (None, _) => {
                cx.err(
                    &lkey,
                    "a key of several parts needs a `name` (its signal is rate:NAME)",
                );
                continue;
            }
        };
        if let LimitSignal::Named(s) = &signal {
            if limits.iter().any(|o| o.signal == signal) {
                cx.err(
                    &lkey,
                    format!("another limit of this policy reports `{s}` already; give this one a `name`"),
                );
                continue;
            }
        }
        if let Some((count, per)) = rate {
            limits.push(LimitSpec {
                key: parts,
                label,
                signal,
                unknown_asn,
                count,
                per,
                burst: burst.filter(|b| *b > 0).unwrap_or(count),
            });
        }
    }
    limits
}
