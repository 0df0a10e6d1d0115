//! The `policies` section: weights, thresholds, countries, limits and responses.

use super::*;

pub fn default_weights(intel: &IntelConfig, limits: &[LimitSpec]) -> Weights {
    let mut w = Weights {
        fixed: [0; SIGNAL_COUNT],
        lists: vec![0; intel.lists.len()],
        rates: vec![0; limits.len()],
    };
    for d in DEFS {
        w.fixed[d.signal as usize] = d.default_weight;
    }
    if let Some(i) = intel.list_index("deny") {
        w.lists[i] = DENY_LIST_WEIGHT;
    }
    w
}

pub(super) fn compile_policy(
    cx: &mut Ctx,
    key: &str,
    name: String,
    p: RawPolicy,
    intel: &IntelConfig,
    fields: &[FieldDef],
) -> Policy {
    cx.unknown(key, &p.unknown, RawPolicy::KEYS);
    let k = |s: &str| join(key, s);
    let mode = match cx.get(&k("mode"), p.mode).as_deref() {
        None | Some("enforce") => Mode::Enforce,
        Some("shadow") => Mode::Shadow,
        Some(o) => {
            cx.err(
                &k("mode"),
                format!("`{o}` is not a mode; use enforce or shadow"),
            );
            Mode::Enforce
        }
    };
    let on_lookup_error = match cx.get(&k("on_lookup_error"), p.on_lookup_error).as_deref() {
        None | Some("allow") => OnLookupError::Allow,
        Some("block") => OnLookupError::Block,
        Some(o) => {
            cx.err(
                &k("on_lookup_error"),
                format!("`{o}` is not allowed; use allow or block"),
            );
            OnLookupError::Allow
        }
    };
    let limits = compile_limits(cx, &k("limits"), p.limits, fields);
    // the decision signals keep their defaults unless named: a policy's own weights
    // never switch the app's decisions off by leaving them out
    let mut named: Vec<String> = Vec::new();
    let mut weights = match cx.get(&k("weights"), p.weights) {
        None => default_weights(intel, &limits),
        Some(map) => {
            named = map.keys().map(key_str).collect();
            let mut w = Weights {
                fixed: [0; SIGNAL_COUNT],
                lists: vec![0; intel.lists.len()],
                rates: vec![0; limits.len()],
            };
            for (sk, sv) in map {
                let sname = key_str(&sk);
                let wkey = join(&k("weights"), &sname);
                let val = match serde_yaml::from_value::<u32>(sv) {
                    Ok(v) => v,
                    Err(_) => {
                        cx.err(&wkey, "must be a whole number ≥ 0");
                        continue;
                    }
                };
                if let Some(sig) = Signal::from_name(&sname) {
                    w.fixed[sig as usize] = val;
                } else if sname.starts_with("rate:") {
                    match limits
                        .iter()
                        .position(|l| l.signal == LimitSignal::Named(sname.clone()))
                    {
                        Some(i) => w.rates[i] = val,
                        None => cx.err(
                            &wkey,
                            format!(
                                "no limit of this policy reports `{sname}`{}",
                                did_you_mean(
                                    &sname,
                                    &limits.iter().map(|l| l.signal.name()).collect::<Vec<_>>()
                                )
                            ),
                        ),
                    }
                } else if let Some(list) = sname.strip_prefix("list:") {
                    match intel.lists.iter().position(|l| l.name == list) {
                        Some(i) if intel.lists[i].kind == ListKind::Named => w.lists[i] = val,
                        Some(i) if intel.lists[i].kind == ListKind::Allow => {
                            cx.err(&wkey, "list `allow` skips scoring; it takes no weight")
                        }
                        Some(_) => cx.err(
                            &wkey,
                            format!("list `{list}` feeds the signal `{list}`; set the weight of `{list}`"),
                        ),
                        None => cx.err(&wkey, format!("no list named `{list}` under intel.lists")),
                    }
                } else {
                    cx.err(
                        &wkey,
                        format!(
                            "unknown signal `{sname}`; expected one of: {}",
                            Signal::ALL
                                .iter()
                                .map(|s| s.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                                + ", list:NAME, rate:NAME"
                        ),
                    );
                }
            }
            w
        }
    };
    let mut thresholds = Thresholds {
        verify: 30,
        block: 70,
    };
    if let Some(t) = cx.get(&k("thresholds"), p.thresholds) {
        cx.unknown(&k("thresholds"), &t.unknown, RawThresholds::KEYS);
        if let Some(v) = cx.get(&k("thresholds.verify"), t.verify) {
            thresholds.verify = v;
        }
        if let Some(b) = cx.get(&k("thresholds.block"), t.block) {
            thresholds.block = b;
        }
        for (n, v) in [("verify", thresholds.verify), ("block", thresholds.block)] {
            if !(1..=100).contains(&v) {
                cx.err(
                    &k(&format!("thresholds.{n}")),
                    "must be between 1 and 100 (scores are capped at 100)",
                );
            }
        }
        if thresholds.verify > thresholds.block {
            cx.err(&k("thresholds"), "verify must not be above block");
        }
    }
    let mut countries = Countries::default();
    if let Some(c) = cx.get(&k("countries"), p.countries) {
        cx.unknown(&k("countries"), &c.unknown, RawCountries::KEYS);
        for (which, list) in [("deny", c.deny), ("allow", c.allow)] {
            let ckey = k(&format!("countries.{which}"));
            let mut out = Vec::new();
            for (i, code) in cx.get(&ckey, list).unwrap_or_default().iter().enumerate() {
                let up = code.trim().to_ascii_uppercase();
                let b = up.as_bytes();
                if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) {
                    out.push([b[0], b[1]]);
                } else {
                    cx.err(
                        &format!("{ckey}[{i}]"),
                        format!("`{code}` is not an ISO 3166 alpha-2 code"),
                    );
                }
            }
            if which == "deny" {
                countries.deny = out;
            } else {
                countries.allow = out;
            }
        }
    }
    let (mut subnet_v4, mut subnet_v6) = (24u8, 48u8);
    if let Some(s) = cx.get(&k("subnet_prefix"), p.subnet_prefix) {
        cx.unknown(&k("subnet_prefix"), &s.unknown, RawSubnetPrefix::KEYS);
        if let Some(v) = cx.get(&k("subnet_prefix.v4"), s.v4) {
            if (8..=32).contains(&v) {
                subnet_v4 = v;
            } else {
                cx.err(&k("subnet_prefix.v4"), "must be between 8 and 32");
            }
        }
        if let Some(v) = cx.get(&k("subnet_prefix.v6"), s.v6) {
            if (16..=128).contains(&v) {
                subnet_v6 = v;
            } else {
                cx.err(&k("subnet_prefix.v6"), "must be between 16 and 128");
            }
        }
    }
    let mobile_multiplier = match cx.get(&k("mobile_multiplier"), p.mobile_multiplier) {
        Some(0) => {
            cx.err(&k("mobile_multiplier"), "must be at least 1");
            1
        }
        Some(m) => m,
        None => 1,
    };
    let default_block = Response {
        status: 403,
        body: Bytes::from_static(DEFAULT_BLOCK_BODY.as_bytes()),
        content_type: "application/json".into(),
    };
    let on_block = match cx.get(&k("on_block"), p.on_block) {
        None => OnBlock::Respond(default_block),
        Some(r) => {
            let rkey = k("on_block");
            cx.unknown(&rkey, &r.unknown, RawResponse::KEYS);
            let shadow = cx.get(&join(&rkey, "shadow"), r.shadow).unwrap_or(false);
            if shadow {
                if r.status.is_some() || r.body.is_some() || r.content_type.is_some() {
                    cx.err(&rkey, "shadow: true forwards the request; status, body and content_type would be ignored");
                }
                OnBlock::Shadow
            } else {
                OnBlock::Respond(compile_response(
                    cx,
                    &rkey,
                    r.status,
                    r.body,
                    r.content_type,
                    default_block,
                ))
            }
        }
    };
    for (sig, default) in [
        (
            Signal::DecisionBlock,
            Signal::DecisionBlock.def().default_weight,
        ),
        (
            Signal::DecisionShadow,
            Signal::DecisionShadow.def().default_weight,
        ),
        (Signal::DecisionVerify, thresholds.verify),
    ] {
        if !named.iter().any(|n| n == sig.name()) {
            weights.fixed[sig as usize] = default;
        }
    }
    let checks = compile_checks(cx, &k("checks"), p.checks, fields);
    let mut ids: Vec<usize> = limits
        .iter()
        .flat_map(|l| l.key.iter())
        .filter_map(|p| match p {
            KeyPart::Field(i) => Some(*i),
            _ => None,
        })
        .chain(checks.watches.iter().map(|w| w.field))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut used: Vec<usize> = checks.fields().chain(ids.iter().copied()).collect();
    used.sort_unstable();
    used.dedup();
    let needs_body = used.iter().any(|&i| fields[i].source.in_body());
    let default_limit = Response {
        status: 429,
        body: Bytes::from_static(DEFAULT_LIMIT_BODY.as_bytes()),
        content_type: "application/json".into(),
    };
    let on_limit = match cx.get(&k("on_limit"), p.on_limit) {
        None => default_limit,
        Some(r) => {
            let rkey = k("on_limit");
            // `shadow` is a key of on_block only: named below, not as unknown
            cx.unknown(&rkey, &r.unknown, RawResponse::KEYS);
            if r.shadow.is_some() {
                cx.err(
                    &join(&rkey, "shadow"),
                    "on_limit cannot be a shadow-ban; use mode: shadow on the policy",
                );
            }
            compile_response(cx, &rkey, r.status, r.body, r.content_type, default_limit)
        }
    };
    Policy {
        name,
        mode,
        on_lookup_error,
        weights,
        thresholds,
        countries,
        subnet_v4,
        subnet_v6,
        limits,
        mobile_multiplier,
        checks,
        fields: used,
        needs_body,
        ids,
        on_block,
        on_limit,
    }
}

pub(super) fn compile_response(
    cx: &mut Ctx,
    key: &str,
    status: Opt<u16>,
    body: Opt<String>,
    content_type: Opt<String>,
    default: Response,
) -> Response {
    let mut out = default;
    if let Some(s) = cx.get(&join(key, "status"), status) {
        if (200..=599).contains(&s) {
            out.status = s;
        } else {
            cx.err(
                &join(key, "status"),
                format!("{s} is not a status riskgate can answer with (200-599)"),
            );
        }
    }
    if let Some(b) = cx.get(&join(key, "body"), body) {
        out.body = Bytes::from(b);
    }
    if let Some(ct) = cx.get(&join(key, "content_type"), content_type) {
        if http::HeaderValue::from_str(&ct).is_ok() && !ct.trim().is_empty() {
            out.content_type = ct;
        } else {
            cx.err(
                &join(key, "content_type"),
                format!("`{ct}` is not a valid header value"),
            );
        }
    }
    out
}

/// `checks`: the request's own evidence against the IP's country.
fn compile_checks(cx: &mut Ctx, key: &str, raw: Opt<RawChecks>, fields: &[FieldDef]) -> Checks {
    let Some(c) = cx.get(key, raw) else {
        return Checks::default();
    };
    cx.unknown(key, &c.unknown, RawChecks::KEYS);
    let language = cx.get(&join(key, "language"), c.language).unwrap_or(false);
    let mut ignore_languages = Vec::new();
    let ikey = join(key, "ignore_languages");
    for (i, l) in cx
        .get(&ikey, c.ignore_languages)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let l = l.trim().to_ascii_lowercase();
        if (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()) {
            ignore_languages.push(l);
        } else {
            cx.err(
                &format!("{ikey}[{i}]"),
                format!("`{l}` is not a language code (two or three letters, e.g. en)"),
            );
        }
    }
    let field = |cx: &mut Ctx, name: &str, v: Opt<String>| -> Option<usize> {
        let fkey = join(key, name);
        let f = cx.get(&fkey, v)?;
        let found = fields.iter().position(|d| d.name == f.trim());
        if found.is_none() {
            let names: Vec<&str> = fields.iter().map(|d| d.name.as_str()).collect();
            let hint = did_you_mean(f.trim(), &names);
            cx.err(&fkey, format!("no field named `{f}` under fields{hint}"));
        }
        found
    };
    let timezone = field(cx, "timezone", c.timezone);
    let declared_country = field(cx, "declared_country", c.declared_country);
    let mut regions = Vec::new();
    let rkey = join(key, "regions");
    for (gi, group) in cx
        .get(&rkey, c.regions)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let mut g = Vec::new();
        for (ci, code) in group.into_iter().enumerate() {
            let up = code.trim().to_ascii_uppercase();
            match <[u8; 2]>::try_from(up.as_bytes()) {
                Ok(cc) if cc.iter().all(u8::is_ascii_uppercase) => g.push(cc),
                _ => cx.err(
                    &format!("{rkey}[{gi}][{ci}]"),
                    format!("`{code}` is not an ISO 3166 alpha-2 code"),
                ),
            }
        }
        regions.push(g);
    }
    let mut watches = Vec::new();
    for (name, raw) in [("hopping", c.hopping), ("spread", c.spread)] {
        let wkey = join(key, name);
        let Some(v) = cx.get(&wkey, raw) else {
            continue;
        };
        // one entry, or a list of them
        // each entry's place under `checks` (`hopping[1]`), for its messages
        let entries: Vec<(String, serde_yaml::Value)> = match v {
            serde_yaml::Value::Sequence(items) => items
                .into_iter()
                .enumerate()
                .map(|(n, item)| (format!("{name}[{n}]"), item))
                .collect(),
            other => vec![(name.to_string(), other)],
        };
        for (rel, item) in entries {
            let ekey = join(key, &rel);
            let w = match serde_yaml::from_value::<RawWatch>(item) {
                Ok(w) => w,
                Err(e) => {
                    cx.err(&ekey, format!("{e}"));
                    continue;
                }
            };
            if let Some(w) = compile_watch(cx, &ekey, &rel, name, w, &field) {
                watches.push(w);
            }
        }
    }
    if watches.len() > MAX_WATCHES {
        cx.err(
            &join(key, "spread"),
            format!(
                "{} hopping and spread entries: at most {MAX_WATCHES} a policy",
                watches.len()
            ),
        );
        watches.truncate(MAX_WATCHES);
    }
    if !regions.is_empty() && declared_country.is_none() {
        cx.err(
            &rkey,
            "regions group countries for declared_country, which is not set",
        );
    }
    Checks {
        language,
        ignore_languages,
        timezone,
        declared_country,
        regions,
        watches,
    }
}

/// One `hopping` (countries) or `spread` (networks) entry: `ekey` its whole key,
/// `rel` its place under `checks`.
fn compile_watch(
    cx: &mut Ctx,
    ekey: &str,
    rel: &str,
    kind: &str,
    w: RawWatch,
    field: &impl Fn(&mut Ctx, &str, Opt<String>) -> Option<usize>,
) -> Option<Watch> {
    let allowed: &[&str] = if kind == "hopping" {
        &["key", "window", "max_countries"]
    } else {
        &["key", "window", "by", "max_networks"]
    };
    cx.unknown(ekey, &w.unknown, allowed);
    for (k, present) in [
        ("max_countries", w.max_countries.is_some()),
        ("by", w.by.is_some()),
        ("max_networks", w.max_networks.is_some()),
    ] {
        if present && !allowed.contains(&k) {
            let hint = if kind == "hopping" {
                "counts countries: `max_countries` (use `spread` for networks)"
            } else {
                "counts networks: `by` and `max_networks` (use `hopping` for countries)"
            };
            cx.err(&join(ekey, k), format!("`{kind}` {hint}"));
        }
    }
    let window = cx.duration(&join(ekey, "window"), w.window, Duration::from_secs(86_400));
    let (what, max) = if kind == "hopping" {
        let max = bounded(
            cx,
            &join(ekey, "max_countries"),
            w.max_countries,
            2,
            MAX_HOP_COUNTRIES,
        );
        (Watching::Countries, max)
    } else {
        let what = match cx.get(&join(ekey, "by"), w.by).as_deref().map(str::trim) {
            None | Some("subnet") => Watching::Subnets,
            Some("asn") => Watching::Asns,
            Some(other) => {
                cx.err(&join(ekey, "by"), format!("`{other}` is not subnet or asn"));
                Watching::Subnets
            }
        };
        let max = bounded(
            cx,
            &join(ekey, "max_networks"),
            w.max_networks,
            10,
            MAX_SPREAD_NETWORKS,
        );
        (what, max)
    };
    if cx.get(&join(ekey, "key"), w.key.clone()).is_none() {
        let what = if kind == "hopping" {
            "the field whose countries are counted (a device, a session, a code)"
        } else {
            "the field whose networks are counted (a referral code, a coupon, a device)"
        };
        cx.err(ekey, format!("needs `key`: {what}"));
    }
    let f = field(cx, &format!("{rel}.key"), w.key)?;
    Some(Watch {
        field: f,
        window,
        max,
        what,
    })
}

/// A count of 1 to `most`, `default` when not given.
fn bounded(cx: &mut Ctx, key: &str, v: Opt<u32>, default: u32, most: u32) -> u32 {
    match cx.get(key, v) {
        Some(n) if n == 0 || n > most => {
            cx.err(key, format!("must be 1 to {most}"));
            default
        }
        Some(n) => n,
        None => default,
    }
}
