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
