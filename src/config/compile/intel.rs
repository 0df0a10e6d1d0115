//! The `intel` section: databases, the Tor list, named lists and AS rules.

use super::*;

pub(super) fn compile_intel(cx: &mut Ctx, raw: Opt<RawIntel>) -> IntelConfig {
    let mut out = IntelConfig {
        mmdb: MmdbConfig {
            geo: None,
            asn: None,
            anonymous_ip: None,
            connection_type: None,
            reload: Duration::from_secs(60),
        },
        tor: None,
        lists: Vec::new(),
        lists_reload: Duration::from_secs(60),
        hosting_asns: AsnSet::default(),
        hosting_org_keywords: Vec::new(),
        hosting_org_exclude: Vec::new(),
        mobile_asns: AsnSet::default(),
        masks: ListMasks::default(),
        fetch_timeout: Duration::from_secs(30),
    };
    let Some(r) = cx.get("intel", raw) else {
        return out;
    };
    cx.unknown("intel", &r.unknown, RawIntel::KEYS);
    if let Some(m) = cx.get("intel.mmdb", r.mmdb) {
        cx.unknown("intel.mmdb", &m.unknown, RawMmdb::KEYS);
        let p = |cx: &mut Ctx, key: &str, f: Opt<String>| -> Option<PathBuf> {
            let s = cx.get(key, f)?;
            if s.trim().is_empty() {
                cx.err(key, "must not be empty");
                return None;
            }
            Some(cx.path(s.trim()))
        };
        out.mmdb.geo = p(cx, "intel.mmdb.geo", m.geo);
        out.mmdb.asn = p(cx, "intel.mmdb.asn", m.asn);
        out.mmdb.anonymous_ip = p(cx, "intel.mmdb.anonymous_ip", m.anonymous_ip);
        out.mmdb.connection_type = p(cx, "intel.mmdb.connection_type", m.connection_type);
        out.mmdb.reload = cx.duration("intel.mmdb.reload", m.reload, Duration::from_secs(60));
    }
    if let Some(t) = cx.get("intel.tor", r.tor) {
        cx.unknown("intel.tor", &t.unknown, RawTor::KEYS);
        let refresh = cx.duration("intel.tor.refresh", t.refresh, Duration::from_secs(1800));
        let max_shrink = cx.fraction("intel.tor.max_shrink", t.max_shrink, 0.5);
        match cx.get("intel.tor.source", t.source) {
            None => cx.err("intel.tor.source", "is required when intel.tor is set"),
            Some(s) => {
                if let Some(source) = cx.source("intel.tor.source", &s) {
                    out.tor = Some(TorConfig {
                        source,
                        refresh,
                        max_shrink,
                    });
                }
            }
        }
    }
    if let Some(map) = cx.get("intel.lists", r.lists) {
        // `reload` first: it is the default refresh of file lists.
        if let Some(v) = map.get("reload") {
            match serde_yaml::from_value::<String>(v.clone()) {
                Ok(s) => match parse_duration(&s) {
                    Ok(d) => out.lists_reload = d,
                    Err(e) => cx.err("intel.lists.reload", e),
                },
                Err(e) => cx.err("intel.lists.reload", clean_serde_message(&e.to_string())),
            }
        }
        for (k, v) in map {
            let name = key_str(&k);
            if name == "reload" {
                continue;
            }
            let key = join("intel.lists", &name);
            if !valid_name(&name) {
                cx.err(
                    &key,
                    format!("list name `{name}` may use only a-z, 0-9, _ and -"),
                );
                continue;
            }
            if out.lists.len() >= 64 {
                cx.err(&key, "at most 64 lists are supported");
                continue;
            }
            let kind = match name.as_str() {
                "hosting" => ListKind::Hosting,
                "vpn" => ListKind::Vpn,
                "proxy" => ListKind::Proxy,
                "allow" => ListKind::Allow,
                "relay" => ListKind::Relay,
                "mobile" => ListKind::Mobile,
                _ => ListKind::Named,
            };
            let sources: Vec<ListSource> = match v {
                Value::Sequence(items) if items.is_empty() => {
                    cx.err(&key, "needs at least one source");
                    Vec::new()
                }
                Value::Sequence(items) => items
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        list_source(cx, &format!("{key}[{i}]"), item, out.lists_reload)
                    })
                    .collect(),
                other => list_source(cx, &key, other, out.lists_reload)
                    .into_iter()
                    .collect(),
            };
            if !sources.is_empty() {
                out.lists.push(ListConfig {
                    signal: format!("list:{name}"),
                    name,
                    kind,
                    sources,
                });
            }
        }
    }
    out.hosting_asns = asn_set(cx, "intel.hosting_asns", r.hosting_asns);
    out.mobile_asns = asn_set(cx, "intel.mobile_asns", r.mobile_asns);
    out.hosting_org_keywords = words(cx, "intel.hosting_org_keywords", r.hosting_org_keywords);
    out.hosting_org_exclude = words(cx, "intel.hosting_org_exclude", r.hosting_org_exclude);
    out.masks = ListMasks::of(&out.lists);
    out.fetch_timeout = cx.duration(
        "intel.fetch_timeout",
        r.fetch_timeout,
        Duration::from_secs(30),
    );
    out
}

/// One source of a list: a path or URL, or `{ source, refresh, format, max_shrink }`.
fn list_source(cx: &mut Ctx, key: &str, v: Value, default_refresh: Duration) -> Option<ListSource> {
    match v {
        Value::String(s) => Some(ListSource {
            source: cx.source(key, &s)?,
            refresh: default_refresh,
            format: None,
            max_shrink: 0.5,
        }),
        other => match serde_yaml::from_value::<RawListSource>(other) {
            Ok(ls) => {
                cx.unknown(key, &ls.unknown, RawListSource::KEYS);
                let refresh = cx.duration(&join(key, "refresh"), ls.refresh, default_refresh);
                let max_shrink = cx.fraction(&join(key, "max_shrink"), ls.max_shrink, 0.5);
                let format = match cx.get(&join(key, "format"), ls.format) {
                    None => None,
                    Some(f) => match FeedFormat::from_name(f.trim()) {
                        Some(f) => Some(f),
                        None => {
                            let names: Vec<&str> =
                                FeedFormat::ALL.iter().map(|f| f.name()).collect();
                            let hint = did_you_mean(f.trim(), &names);
                            cx.err(
                                &join(key, "format"),
                                format!(
                                    "`{f}` is not a list format; one of {}{hint}",
                                    names.join(", ")
                                ),
                            );
                            None
                        }
                    },
                };
                let source = match cx.get(&join(key, "source"), ls.source) {
                    Some(s) => cx.source(&join(key, "source"), &s),
                    None => {
                        cx.err(key, "needs `source` (a file path or URL)");
                        None
                    }
                }?;
                Some(ListSource {
                    source,
                    refresh,
                    format,
                    max_shrink,
                })
            }
            Err(_) => {
                cx.err(
                    key,
                    "must be a file path, a URL, { source: ..., refresh: ..., format: ... }, or a list of them",
                );
                None
            }
        },
    }
}

/// `hosting_asns` / `mobile_asns`: a list of AS numbers, or a source of them (a path,
/// a URL, or `{ source, refresh }`), one AS number a line.
fn asn_set(cx: &mut Ctx, key: &str, raw: Opt<Value>) -> AsnSet {
    let mut out = AsnSet::default();
    let Some(v) = cx.get(key, raw) else {
        return out;
    };
    match v {
        Value::Null => {}
        Value::Sequence(items) => {
            for (i, item) in items.into_iter().enumerate() {
                match serde_yaml::from_value::<u32>(item) {
                    Ok(n) => out.inline.push(n),
                    Err(_) => cx.err(&format!("{key}[{i}]"), "must be an AS number (e.g. 16509)"),
                }
            }
        }
        Value::String(s) => {
            out.source = cx.source(key, &s).map(|src| (src, Duration::from_secs(24 * 3600)));
        }
        other => match serde_yaml::from_value::<RawAsnSource>(other) {
            Ok(a) => {
                cx.unknown(key, &a.unknown, RawAsnSource::KEYS);
                let refresh = cx.duration(&join(key, "refresh"), a.refresh, Duration::from_secs(24 * 3600));
                match cx.get(&join(key, "source"), a.source) {
                    Some(s) => out.source = cx.source(&join(key, "source"), &s).map(|src| (src, refresh)),
                    None => cx.err(key, "needs `source` (a file path or URL of AS numbers)"),
                }
            }
            Err(_) => cx.err(
                key,
                "must be a list of AS numbers, a file path or URL, or { source: ..., refresh: ... }",
            ),
        },
    }
    out.inline.sort_unstable();
    out.inline.dedup();
    out
}

/// Lower-case, whitespace-normalised words; none empty.
fn words(cx: &mut Ctx, key: &str, raw: Opt<Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, w) in cx.get(key, raw).unwrap_or_default().into_iter().enumerate() {
        let w = w
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        if w.is_empty() {
            cx.err(&format!("{key}[{i}]"), "must not be empty");
        } else {
            out.push(w);
        }
    }
    out
}
