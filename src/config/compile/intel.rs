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
        hosting_asns: Vec::new(),
        hosting_org_keywords: Vec::new(),
        mobile_asns: Vec::new(),
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
                _ => ListKind::Named,
            };
            let (source, refresh, max_shrink) = match v {
                Value::String(s) => (cx.source(&key, &s), out.lists_reload, 0.5),
                other => match serde_yaml::from_value::<RawListSource>(other) {
                    Ok(ls) => {
                        cx.unknown(&key, &ls.unknown, RawListSource::KEYS);
                        let refresh =
                            cx.duration(&join(&key, "refresh"), ls.refresh, out.lists_reload);
                        let max_shrink = cx.fraction(&join(&key, "max_shrink"), ls.max_shrink, 0.5);
                        let src = match cx.get(&join(&key, "source"), ls.source) {
                            Some(s) => cx.source(&join(&key, "source"), &s),
                            None => {
                                cx.err(&key, "needs `source` (a file path or URL)");
                                None
                            }
                        };
                        (src, refresh, max_shrink)
                    }
                    Err(_) => {
                        cx.err(
                            &key,
                            "must be a file path, a URL, or { source: ..., refresh: ... }",
                        );
                        (None, out.lists_reload, 0.5)
                    }
                },
            };
            if let Some(source) = source {
                out.lists.push(ListConfig {
                    signal: format!("list:{name}"),
                    name,
                    kind,
                    source,
                    refresh,
                    max_shrink,
                });
            }
        }
    }
    out.hosting_asns = cx
        .get("intel.hosting_asns", r.hosting_asns)
        .unwrap_or_default();
    out.hosting_asns.sort_unstable();
    out.hosting_asns.dedup();
    out.mobile_asns = cx
        .get("intel.mobile_asns", r.mobile_asns)
        .unwrap_or_default();
    out.mobile_asns.sort_unstable();
    out.mobile_asns.dedup();
    for (i, w) in cx
        .get("intel.hosting_org_keywords", r.hosting_org_keywords)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let w = w.trim().to_ascii_lowercase();
        if w.is_empty() {
            cx.err(
                &format!("intel.hosting_org_keywords[{i}]"),
                "must not be empty",
            );
        } else {
            out.hosting_org_keywords.push(w);
        }
    }
    out.masks = ListMasks::of(&out.lists);
    out.fetch_timeout = cx.duration(
        "intel.fetch_timeout",
        r.fetch_timeout,
        Duration::from_secs(30),
    );
    out
}
