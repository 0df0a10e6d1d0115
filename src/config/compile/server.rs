//! The server keys: `upstream`, `log`, `client_ip`.

use super::*;

pub(super) fn compile_upstream(cx: &mut Ctx, u: &str, tls: bool) -> Option<Upstream> {
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

pub(super) fn compile_log(cx: &mut Ctx, raw: Opt<RawLog>) -> LogConfig {
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

pub(super) fn compile_client_ip(cx: &mut Ctx, raw: Opt<RawClientIp>) -> ClientIpConfig {
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

/// The fewest bytes an admin token holds (surrounding whitespace aside).
pub const ADMIN_TOKEN_MIN_BYTES: usize = 32;

/// `admin_token_file`: the file's trimmed content is the token.
pub(super) fn compile_admin_token(cx: &mut Ctx, raw: Opt<String>) -> Option<AdminToken> {
    let p = cx.get("admin_token_file", raw)?;
    let t = cx.secret_file(
        "admin_token_file",
        &p,
        ADMIN_TOKEN_MIN_BYTES,
        "an admin token",
        "openssl rand -hex 32",
    )?;
    if t.iter().any(|b| !b.is_ascii_graphic()) {
        cx.err(
            "admin_token_file",
            format!(
                "`{}`: a token is printable ASCII without spaces (it is sent in a header)",
                cx.path(p.trim()).display()
            ),
        );
        return None;
    }
    Some(AdminToken::new(&t))
}

/// `server.keepalive_timeout`, `server.header_timeout`, `server.max_connections_per_ip`
/// and `body_timeout`.
pub(super) fn compile_client_limits(
    cx: &mut Ctx,
    raw: Opt<RawServer>,
    body_timeout: Opt<String>,
) -> ClientLimits {
    let d = ClientLimits::default();
    let mut out = ClientLimits {
        body_timeout: cx.duration("body_timeout", body_timeout, d.body_timeout),
        ..d
    };
    if out.body_timeout.is_zero() || out.body_timeout > Duration::from_secs(3600) {
        cx.err("body_timeout", "must be more than 0 and at most 1h");
    }
    let Some(r) = cx.get("server", raw) else {
        return out;
    };
    cx.unknown("server", &r.unknown, RawServer::KEYS);
    // `0`/`0s` is allowed here (no keep-alive), unlike any other duration
    let off = matches!(&r.keepalive_timeout, Some(Field::Ok(s)) if matches!(s.trim(), "0" | "0s"));
    out.keepalive_timeout = if off {
        Duration::ZERO
    } else {
        cx.duration(
            "server.keepalive_timeout",
            r.keepalive_timeout,
            d.keepalive_timeout,
        )
    };
    if out.keepalive_timeout > Duration::from_secs(3600) {
        cx.err(
            "server.keepalive_timeout",
            "must be at most 1h (0 turns keep-alive off)",
        );
    }
    out.header_timeout = cx.duration("server.header_timeout", r.header_timeout, d.header_timeout);
    if out.header_timeout.is_zero() || out.header_timeout > Duration::from_secs(600) {
        cx.err(
            "server.header_timeout",
            "must be more than 0 and at most 10m",
        );
    }
    out.max_header_bytes = cx.size(
        "server.max_header_bytes",
        r.max_header_bytes,
        d.max_header_bytes,
    );
    if out.max_header_bytes < 1024 || out.max_header_bytes > 1024 * 1024 {
        cx.err(
            "server.max_header_bytes",
            "must be between 1KiB and 1MiB (Pingora's own limit)",
        );
    }
    match cx.get("server.max_connections_per_ip", r.max_connections_per_ip) {
        Some(0) => cx.err("server.max_connections_per_ip", "must be at least 1"),
        Some(n) => out.max_connections_per_ip = n,
        None => {}
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

/// `cluster`: a Redis (or Valkey) URL, a Redis Cluster's seed nodes, and what to do when
/// it fails.
pub(super) fn compile_cluster(cx: &mut Ctx, raw: Opt<RawCluster>) -> Option<ClusterConfig> {
    let r = cx.get("cluster", raw)?;
    cx.unknown("cluster", &r.unknown, RawCluster::KEYS);
    let Some(url) = cx.get("cluster.redis", r.redis) else {
        cx.err("cluster", "needs `redis`, e.g. redis://127.0.0.1:6379/0");
        return None;
    };
    let url = url.trim().to_string();
    let parsed = parse_redis_url(&url);
    if let Err(e) = &parsed {
        cx.err("cluster.redis", e.clone());
    }
    let prefix = cx
        .get("cluster.prefix", r.prefix)
        .unwrap_or_else(|| "riskgate:".into());
    if prefix
        .chars()
        .any(|c| c.is_whitespace() || c == '{' || c == '}')
    {
        cx.err(
            "cluster.prefix",
            "must not hold spaces or braces (braces are Redis Cluster hash tags)",
        );
    }
    let timeout = cx.duration("cluster.timeout", r.timeout, Duration::from_millis(25));
    if timeout.is_zero() || timeout > Duration::from_secs(5) {
        cx.err("cluster.timeout", "must be more than 0 and at most 5s");
    }
    let on_error = match cx.get("cluster.on_error", r.on_error).as_deref() {
        None | Some("local") => OnClusterError::Local,
        Some("allow") => OnClusterError::Allow,
        Some("block") => OnClusterError::Block,
        Some(o) => {
            cx.err(
                "cluster.on_error",
                format!("`{o}` is not allowed; use local, allow or block"),
            );
            OnClusterError::Local
        }
    };
    let tls_ca = cx.get("cluster.tls_ca", r.tls_ca).and_then(|p| {
        let path = cx.path(p.trim());
        match std::fs::read(&path) {
            Ok(pem) if String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") => {
                Some(pem)
            }
            Ok(_) => {
                cx.err(
                    "cluster.tls_ca",
                    format!("`{}` holds no PEM certificate", path.display()),
                );
                None
            }
            Err(e) => {
                cx.err(
                    "cluster.tls_ca",
                    format!("cannot read `{}`: {e}", path.display()),
                );
                None
            }
        }
    });
    let (urls, cluster_mode) = parsed.ok()?;
    if tls_ca.is_some() && !urls.iter().all(|u| u.starts_with("rediss://")) {
        cx.err("cluster.tls_ca", "applies to rediss:// (TLS) only");
    }
    Some(ClusterConfig {
        tls_ca,
        display: redact(&url),
        urls,
        cluster_mode,
        prefix,
        timeout,
        on_error,
    })
}

/// `redis://h:p/db`, `rediss://…` (TLS), `redis+cluster://h1:p1,h2:p2` (Redis Cluster's
/// seed nodes) → the URLs the client opens, and whether it is a cluster.
fn parse_redis_url(url: &str) -> Result<(Vec<String>, bool), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "`{}` is not a Redis URL: redis://host:port, rediss://host:port or redis+cluster://h1:port,h2:port",
            redact(url)
        ));
    };
    let (base, cluster) = match scheme {
        "redis" | "valkey" => ("redis", false),
        "rediss" | "valkeys" => ("rediss", false),
        "redis+cluster" | "valkey+cluster" => ("redis", true),
        "rediss+cluster" | "valkeys+cluster" => ("rediss", true),
        other => {
            return Err(format!(
                "`{other}://` is not supported; use redis://, rediss:// or redis+cluster://"
            ))
        }
    };
    if rest.is_empty() {
        return Err("names no host".into());
    }
    let urls: Vec<String> = if cluster {
        // credentials, if any, apply to every seed node
        let (auth, hosts) = match rest.rsplit_once('@') {
            Some((a, h)) => (format!("{a}@"), h),
            None => (String::new(), rest),
        };
        hosts
            .split(',')
            .map(|h| format!("{base}://{auth}{}", h.trim()))
            .collect()
    } else {
        vec![format!("{base}://{rest}")]
    };
    for u in &urls {
        redis::parse_redis_url(u)
            .ok_or_else(|| format!("`{}` is not a valid Redis URL", redact(u)))?;
    }
    Ok((urls, cluster))
}

/// The URL with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            match cred.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => format!("{}***{}", &url[..s + 3], &url[at..]),
            }
        }
        _ => url.to_string(),
    }
}
