//! Validation and compilation of the raw structs, collecting every problem.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use ipnet::IpNet;
use serde_yaml::{Mapping, Value};

use super::position::PosIndex;
use super::raw::*;
use super::units::{parse_duration, parse_rate};
use super::*;
use crate::signals::{Signal, DEFS, DENY_LIST_WEIGHT};

pub const DEFAULT_BLOCK_BODY: &str = r#"{"error":"Coupon cannot be redeemed from this network connection.","code":"RISK_IP_DETECTED"}"#;
pub const DEFAULT_LIMIT_BODY: &str = r#"{"error":"Too many requests from this network. Try again later.","code":"RISK_RATE_LIMITED"}"#;

struct Ctx<'a> {
    file: String,
    dir: PathBuf,
    index: &'a PosIndex,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn err(&mut self, key: &str, message: impl Into<String>) {
        let pos = self.index.find(key);
        self.problems.push(Problem {
            file: self.file.clone(),
            line: pos.map(|p| p.line),
            col: pos.map(|p| p.col),
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// The value of an optional field, reporting it when it did not deserialize.
    fn get<T>(&mut self, key: &str, f: Option<Field<T>>) -> Option<T> {
        match f {
            None => None,
            Some(Field::Ok(v)) => Some(v),
            Some(Field::Err(e)) => {
                self.err(key, clean_serde_message(&e));
                None
            }
        }
    }

    fn unknown(&mut self, parent: &str, map: &Mapping, known: &[&str]) {
        for k in map.keys() {
            let name = key_str(k);
            let path = join(parent, &name);
            let hint = match suggest(&name, known) {
                Some(k) => format!("; did you mean `{k}`?"),
                None => format!("; expected one of: {}", known.join(", ")),
            };
            self.err(&path, format!("unknown key `{name}`{hint}"));
        }
    }

    fn duration(&mut self, key: &str, f: Opt<String>, default: Duration) -> Duration {
        match self.get(key, f) {
            None => default,
            Some(s) => match parse_duration(&s) {
                Ok(d) => d,
                Err(e) => {
                    self.err(key, e);
                    default
                }
            },
        }
    }

    fn fraction(&mut self, key: &str, f: Opt<f64>, default: f64) -> f64 {
        match self.get(key, f) {
            None => default,
            Some(x) if (0.0..=1.0).contains(&x) => x,
            Some(_) => {
                self.err(key, "must be between 0.0 and 1.0 (1.0 accepts any shrink)");
                default
            }
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    fn source(&mut self, key: &str, s: &str) -> Option<Source> {
        let s = s.trim();
        if s.is_empty() {
            self.err(key, "must not be empty");
            return None;
        }
        if s.starts_with("http://") || s.starts_with("https://") {
            Some(Source::Url(s.to_string()))
        } else if s.contains("://") {
            self.err(
                key,
                format!("`{s}`: only http:// and https:// URLs or file paths are supported"),
            );
            None
        } else {
            Some(Source::File(self.path(s)))
        }
    }
}

/// The known key closest to a mistyped one, if it is close enough to be a typo.
fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim_levenshtein(name, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn strsim_levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn key_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// serde_yaml's messages sometimes end with "at line 1 column 1" of a sub-document,
/// which would contradict the real position we print.
fn clean_serde_message(e: &str) -> String {
    match e.find(" at line ") {
        Some(i) => e[..i].to_string(),
        None => e.to_string(),
    }
}

const TOP_KEYS: &[&str] = RawConfig::KEYS;

pub fn compile(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let index = PosIndex::build(text);
    let raw: RawConfig = match serde_yaml::from_str::<Value>(text) {
        Err(e) => {
            let loc = e.location();
            return Err(ConfigError {
                problems: vec![Problem {
                    file,
                    line: loc.as_ref().map(|l| l.line()),
                    col: loc.as_ref().map(|l| l.column()),
                    key: String::new(),
                    message: clean_serde_message(&e.to_string()),
                }],
            });
        }
        Ok(Value::Null) => {
            return Err(ConfigError {
                problems: vec![Problem {
                    file,
                    line: None,
                    col: None,
                    key: String::new(),
                    message: "the file is empty; at least `upstream` is required".into(),
                }],
            })
        }
        Ok(v) => match serde_yaml::from_value(v) {
            Ok(r) => r,
            Err(e) => {
                return Err(ConfigError {
                    problems: vec![Problem {
                        file,
                        line: Some(1),
                        col: Some(1),
                        key: String::new(),
                        message: format!(
                            "the top level must be a mapping of keys ({}): {}",
                            TOP_KEYS.join(", "),
                            clean_serde_message(&e.to_string())
                        ),
                    }],
                })
            }
        },
    };
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."));
    let mut cx = Ctx {
        file,
        dir,
        index: &index,
        problems: Vec::new(),
    };
    let cfg = compile_raw(&mut cx, raw, path);
    if cx.problems.is_empty() {
        Ok(cfg)
    } else {
        cx.problems
            .sort_by_key(|p| (p.line.unwrap_or(usize::MAX), p.col.unwrap_or(0)));
        Err(ConfigError {
            problems: cx.problems,
        })
    }
}

fn compile_raw(cx: &mut Ctx, raw: RawConfig, path: &Path) -> Config {
    cx.unknown("", &raw.unknown, TOP_KEYS);

    let listen_raw = cx
        .get("listen", raw.listen)
        .map(OneOrMany::into_vec)
        .unwrap_or_else(|| vec!["0.0.0.0:8080".into()]);
    let mut listen = Vec::new();
    if listen_raw.is_empty() {
        cx.err("listen", "needs at least one host:port");
    }
    for (i, l) in listen_raw.iter().enumerate() {
        match l.parse::<SocketAddr>() {
            Ok(a) => listen.push(a),
            Err(_) => cx.err(
                &format!("listen[{i}]"),
                format!("`{l}` is not an IP:port address (e.g. 0.0.0.0:8080 or [::]:8080)"),
            ),
        }
    }
    if listen_raw.len() == 1 && listen.len() == 1 {
        // a single string has no [0] in the index; nothing more to do
    }

    let upstream_tls = cx.get("upstream_tls", raw.upstream_tls).unwrap_or(false);
    let upstream = match cx.get("upstream", raw.upstream) {
        None => {
            cx.err("upstream", "is required: the origin app as host:port");
            None
        }
        Some(u) => compile_upstream(cx, &u, upstream_tls),
    };

    let admin = match cx.get("admin", raw.admin) {
        None => SocketAddr::from(([127, 0, 0, 1], 9901)),
        Some(a) => a.parse().unwrap_or_else(|_| {
            cx.err("admin", format!("`{a}` is not an IP:port address"));
            SocketAddr::from(([127, 0, 0, 1], 9901))
        }),
    };

    let threads = match cx.get("threads", raw.threads) {
        Some(0) => {
            cx.err("threads", "must be at least 1");
            1
        }
        Some(n) => n,
        None => 1,
    };

    let limiter_max_keys = match cx.get("limiter_max_keys", raw.limiter_max_keys) {
        Some(n) if n < 1000 => {
            cx.err("limiter_max_keys", "must be at least 1000");
            1_000_000
        }
        Some(n) => n,
        None => 1_000_000,
    };
    let grace_period = cx.duration("grace_period", raw.grace_period, Duration::from_secs(5));
    let upgrade_sock = match cx.get("upgrade_sock", raw.upgrade_sock) {
        Some(p) if !p.trim().is_empty() => cx.path(p.trim()),
        Some(_) => {
            cx.err("upgrade_sock", "must not be empty");
            PathBuf::from("/tmp/riskgate-upgrade.sock")
        }
        None => PathBuf::from("/tmp/riskgate-upgrade.sock"),
    };
    let log = compile_log(cx, raw.log);
    let client_ip = compile_client_ip(cx, raw.client_ip);
    let intel = compile_intel(cx, raw.intel);

    // Policies before routes, so routes can name them.
    let mut policies = Vec::new();
    if let Some(map) = cx.get("policies", raw.policies) {
        for (k, v) in map {
            let name = key_str(&k);
            let key = join("policies", &name);
            if !valid_name(&name) {
                cx.err(
                    &key,
                    format!("policy name `{name}` may use only a-z, 0-9, _ and -"),
                );
            }
            // `name:` with nothing under it is a policy of all defaults
            let v = if v.is_null() {
                Value::Mapping(Mapping::new())
            } else {
                v
            };
            match serde_yaml::from_value::<Field<RawPolicy>>(v) {
                Ok(Field::Ok(p)) => policies.push(compile_policy(cx, &key, name, p, &intel)),
                Ok(Field::Err(e)) => cx.err(&key, clean_serde_message(&e)),
                Err(e) => cx.err(&key, clean_serde_message(&e.to_string())),
            }
        }
    }

    let mut routes = Vec::new();
    let mut route_table = crate::routes::Table::default();
    if let Some(list) = cx.get("routes", raw.routes) {
        for (i, r) in list.into_iter().enumerate() {
            let key = format!("routes[{i}]");
            match r {
                Field::Ok(r) => {
                    if let Some((route, m)) = compile_route(cx, &key, r, &policies, &routes) {
                        routes.push(route);
                        route_table.routes.push(m);
                    }
                }
                Field::Err(e) => cx.err(&key, clean_serde_message(&e)),
            }
        }
    }

    Config {
        file: path.to_path_buf(),
        listen,
        upstream: upstream.unwrap_or_else(|| Upstream {
            address: String::new(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: false,
            sni: String::new(),
        }),
        admin,
        threads,
        limiter_max_keys,
        grace_period,
        upgrade_sock,
        log,
        client_ip,
        intel,
        routes,
        route_table,
        policies,
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn compile_upstream(cx: &mut Ctx, u: &str, tls: bool) -> Option<Upstream> {
    let u = u.trim();
    if u.contains("://") {
        cx.err(
            "upstream",
            format!("`{u}`: write host:port without a scheme (use upstream_tls: true for https)"),
        );
        return None;
    }
    let Some((host, port)) = u.rsplit_once(':') else {
        cx.err("upstream", format!("`{u}` has no port; write host:port"));
        return None;
    };
    if port.parse::<u16>().is_err() || host.is_empty() {
        cx.err("upstream", format!("`{u}` is not host:port"));
        return None;
    }
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    match u.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(addr)) => Some(Upstream {
            address: u.to_string(),
            addr,
            tls,
            sni: host,
        }),
        Ok(None) => {
            cx.err("upstream", format!("`{u}` resolves to no address"));
            None
        }
        Err(e) => {
            cx.err("upstream", format!("`{u}` cannot be resolved: {e}"));
            None
        }
    }
}

fn compile_log(cx: &mut Ctx, raw: Opt<RawLog>) -> LogConfig {
    let mut log = LogConfig {
        level: "info".into(),
        format: LogFormat::Json,
        allow_sample: 1.0,
    };
    let Some(r) = cx.get("log", raw) else {
        return log;
    };
    cx.unknown("log", &r.unknown, RawLog::KEYS);
    if let Some(level) = cx.get("log.level", r.level) {
        let l = level.to_ascii_lowercase();
        if ["trace", "debug", "info", "warn", "error"].contains(&l.as_str()) {
            log.level = l;
        } else {
            cx.err(
                "log.level",
                format!("`{level}` is not a level; use trace, debug, info, warn or error"),
            );
        }
    }
    if let Some(f) = cx.get("log.format", r.format) {
        match f.as_str() {
            "json" => log.format = LogFormat::Json,
            "pretty" | "text" => log.format = LogFormat::Pretty,
            other => cx.err(
                "log.format",
                format!("`{other}` is not a format; use json or pretty"),
            ),
        }
    }
    if let Some(s) = cx.get("log.allow_sample", r.allow_sample) {
        if (0.0..=1.0).contains(&s) {
            log.allow_sample = s;
        } else {
            cx.err("log.allow_sample", "must be between 0.0 and 1.0");
        }
    }
    log
}

fn compile_client_ip(cx: &mut Ctx, raw: Opt<RawClientIp>) -> ClientIpConfig {
    let mut out = ClientIpConfig {
        trusted_proxies: Vec::new(),
        header: IpHeader::XForwardedFor,
    };
    let Some(r) = cx.get("client_ip", raw) else {
        return out;
    };
    cx.unknown("client_ip", &r.unknown, RawClientIp::KEYS);
    for (i, s) in cx
        .get("client_ip.trusted_proxies", r.trusted_proxies)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match parse_cidr(s) {
            Ok(n) => out.trusted_proxies.push(n),
            Err(e) => cx.err(&format!("client_ip.trusted_proxies[{i}]"), e),
        }
    }
    if let Some(h) = cx.get("client_ip.header", r.header) {
        out.header = match h.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => IpHeader::XForwardedFor,
            "x-real-ip" => IpHeader::XRealIp,
            "cf-connecting-ip" => IpHeader::CfConnectingIp,
            "true-client-ip" => IpHeader::TrueClientIp,
            _ => {
                cx.err(
                    "client_ip.header",
                    format!("`{h}` is not supported; use x-forwarded-for, x-real-ip, cf-connecting-ip or true-client-ip"),
                );
                IpHeader::XForwardedFor
            }
        };
    }
    out
}

/// A CIDR or a bare IP (a /32 or /128), host bits cleared.
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    Err(format!(
        "`{t}` is not a CIDR (e.g. 10.0.0.0/8) or an IP address"
    ))
}

fn compile_intel(cx: &mut Ctx, raw: Opt<RawIntel>) -> IntelConfig {
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

fn compile_route(
    cx: &mut Ctx,
    key: &str,
    r: RawRoute,
    policies: &[Policy],
    earlier: &[Route],
) -> Option<(Route, crate::routes::Matcher)> {
    cx.unknown(key, &r.unknown, RawRoute::KEYS);
    let name = cx.get(&join(key, "name"), r.name);
    let path = cx.get(&join(key, "path"), r.path);
    let methods = cx.get(&join(key, "methods"), r.methods);
    let policy = cx.get(&join(key, "policy"), r.policy);
    let name = match name {
        Some(n) if valid_name(&n) => {
            if earlier.iter().any(|e| e.name == n) {
                cx.err(&join(key, "name"), format!("route `{n}` is defined twice"));
            }
            Some(n)
        }
        Some(n) => {
            cx.err(
                &join(key, "name"),
                format!("route name `{n}` may use only a-z, 0-9, _ and -"),
            );
            None
        }
        None => {
            cx.err(key, "needs a `name`");
            None
        }
    };
    let path = match path {
        Some(p) => compile_path(cx, &join(key, "path"), &p),
        None => {
            cx.err(key, "needs a `path`");
            None
        }
    };
    let mut ms = None;
    if let Some(list) = methods {
        let mut v = Vec::new();
        for (i, m) in list.iter().enumerate() {
            let up = m.trim().to_ascii_uppercase();
            match http::Method::from_bytes(up.as_bytes()) {
                Ok(meth) if !up.is_empty() => v.push(meth),
                _ => cx.err(
                    &format!("{key}.methods[{i}]"),
                    format!("`{m}` is not an HTTP method"),
                ),
            }
        }
        if list.is_empty() {
            cx.err(
                &join(key, "methods"),
                "is empty; leave it out to match every method",
            );
        }
        ms = Some(v);
    }
    let ms = match ms {
        Some(v) => crate::routes::Methods::of(&v.iter().map(|m| m.as_str()).collect::<Vec<_>>()),
        None => crate::routes::Methods::any(),
    };
    let policy = match policy {
        None => {
            cx.err(key, "needs a `policy`");
            None
        }
        Some(p) => match policies.iter().position(|x| x.name == p) {
            Some(i) => Some(i),
            None => {
                let known: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
                cx.err(
                    &join(key, "policy"),
                    format!(
                        "no policy named `{p}` (defined: {})",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
                None
            }
        },
    };
    let name = name?;
    Some((
        Route {
            // valid_name allows only a-z, 0-9, _ and -: always a valid header value
            header: http::HeaderValue::from_str(&name).expect("route names are header-safe"),
            name,
            policy: policy?,
        },
        crate::routes::Matcher {
            path: path?,
            methods: ms,
        },
    ))
}

fn compile_path(cx: &mut Ctx, key: &str, p: &str) -> Option<crate::routes::PathMatch> {
    match crate::routes::PathMatch::parse(p) {
        Ok(m) => Some(m),
        Err(e) => {
            cx.err(key, e.to_string());
            None
        }
    }
}

pub fn default_weights(intel: &IntelConfig) -> Weights {
    let mut w = Weights {
        fixed: [0; SIGNAL_COUNT],
        lists: vec![0; intel.lists.len()],
    };
    for d in DEFS {
        w.fixed[d.signal as usize] = d.default_weight;
    }
    if let Some(i) = intel.list_index("deny") {
        w.lists[i] = DENY_LIST_WEIGHT;
    }
    w
}

fn compile_policy(
    cx: &mut Ctx,
    key: &str,
    name: String,
    p: RawPolicy,
    intel: &IntelConfig,
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
    let weights = match cx.get(&k("weights"), p.weights) {
        None => default_weights(intel),
        Some(map) => {
            let mut w = Weights {
                fixed: [0; SIGNAL_COUNT],
                lists: vec![0; intel.lists.len()],
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
                            "unknown signal `{sname}`; expected one of: {}, list:NAME",
                            Signal::ALL
                                .iter()
                                .map(|s| s.name())
                                .collect::<Vec<_>>()
                                .join(", ")
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
    let mut limits = Vec::new();
    for (i, l) in cx
        .get(&k("limits"), p.limits)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let lkey = k(&format!("limits[{i}]"));
        let l = match l {
            Field::Ok(l) => l,
            Field::Err(e) => {
                cx.err(&lkey, clean_serde_message(&e));
                continue;
            }
        };
        cx.unknown(&lkey, &l.unknown, RawLimit::KEYS);
        let lk = match cx.get(&join(&lkey, "key"), l.key).as_deref() {
            Some("ip") => Some(LimitKey::Ip),
            Some("subnet") => Some(LimitKey::Subnet),
            Some("asn") => Some(LimitKey::Asn),
            Some(o) => {
                cx.err(
                    &join(&lkey, "key"),
                    format!("`{o}` is not a limit key; use ip, subnet or asn"),
                );
                None
            }
            None => {
                cx.err(&lkey, "needs a `key` (ip, subnet or asn)");
                None
            }
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
        if l_has_unknown_asn_for_non_asn(&lk, unknown_asn) {
            cx.err(&join(&lkey, "unknown_asn"), "only applies to key: asn");
        }
        if burst == Some(0) {
            cx.err(&join(&lkey, "burst"), "must be at least 1");
        }
        if let (Some(key), Some((count, per))) = (lk, rate) {
            limits.push(LimitSpec {
                key,
                unknown_asn,
                count,
                per,
                burst: burst.filter(|b| *b > 0).unwrap_or(count),
            });
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
        on_block,
        on_limit,
    }
}

fn l_has_unknown_asn_for_non_asn(key: &Option<LimitKey>, u: UnknownAsn) -> bool {
    u == UnknownAsn::Shared && matches!(key, Some(LimitKey::Ip | LimitKey::Subnet))
}

fn compile_response(
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
