//! `riskgate demo`: the shipped config and bundled data in front of the built-in
//! echo origin, with curl commands that show each outcome.

pub mod echo;

use std::net::SocketAddr;

use crate::config::Config;

/// The JSON body the demo's POST examples send unless they say otherwise.
pub const DEFAULT_BODY: &str = r#"{"code":"WELCOME10"}"#;

/// The demo's example clients: (what it shows, X-Forwarded-For, method, path, JSON body
/// of a POST; empty for [`DEFAULT_BODY`]).
pub const EXAMPLES: [(&str, &str, &str, &str, &str); 9] = [
    (
        "allow: a residential client in Sweden (AS29518 Bredband2)",
        "89.160.20.112",
        "POST",
        "/api/apply-coupon",
        "",
    ),
    (
        "verify: an anonymous VPN (MaxMind Anonymous-IP), score 30",
        "1.2.0.1",
        "POST",
        "/api/apply-coupon",
        "",
    ),
    (
        "verify: a PPP-IN-65 coupon (it declares India) redeemed from Sweden: country_mismatch 40",
        "89.160.20.112",
        "POST",
        "/api/apply-coupon",
        r#"{"code":"PPP-IN-65"}"#,
    ),
    (
        "block: a datacenter address alone (data/datacenter.txt, hosting 70), answered 403",
        "1.92.3.4",
        "POST",
        "/api/apply-coupon",
        "",
    ),
    (
        "allow, network relay: iCloud Private Relay egress (data/icloud-private-relay.txt), never hosting",
        "104.28.28.5",
        "POST",
        "/api/apply-coupon",
        "",
    ),
    (
        "allow, network mobile: T-Mobile US (data/carriers/), its limits relaxed × mobile_multiplier",
        "172.32.1.1",
        "POST",
        "/api/apply-coupon",
        "",
    ),
    (
        "block: an address on data/deny.txt, answered 403 by riskgate",
        "203.0.113.7",
        "POST",
        "/api/apply-coupon",
        "",
    ),
    (
        "block: a Tor exit from data/tor-exit-addresses.txt, answered 403",
        "185.241.208.232",
        "POST",
        "/api/apply-coupon",
        "",
    ),
    (
        "unmatched path: forwarded untouched, no lookups, no X-Risk-* headers",
        "185.241.208.232",
        "GET",
        "/products",
        "",
    ),
];

/// Point the config at the echo origin, started on the configured upstream address
/// if it is free, else on a free loopback port (the demo runs the proxy door, so a
/// config without an upstream gets one).
pub fn start_origin(cfg: &mut Config) -> std::io::Result<SocketAddr> {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let (addr, _rec) = match echo::spawn(cfg.upstream.as_ref().map_or(any, |u| u.addr)) {
        Ok(x) => x,
        Err(_) => echo::spawn(any)?,
    };
    cfg.upstream = Some(crate::config::Upstream {
        address: addr.to_string(),
        addr,
        tls: false,
        sni: addr.ip().to_string(),
    });
    if cfg.listen.is_empty() {
        cfg.listen = vec![SocketAddr::from(([127, 0, 0, 1], 8080))];
    }
    Ok(addr)
}

/// The text printed before the gateway starts.
pub fn instructions(cfg: &Config, origin: SocketAddr) -> String {
    let listen = cfg
        .listen
        .first()
        .map(|a| {
            let host = if a.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                a.ip().to_string()
            };
            format!("{host}:{}", a.port())
        })
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let mut out = format!(
        "riskgate demo\n  gateway  http://{listen}  (config {})\n  origin   http://{origin}  (built-in echo: it answers with the X-Risk-* headers it received)\n  admin    http://{admin}  (live dashboard: http://{admin}/dashboard)\n\nTry these (X-Forwarded-For is honoured because curl connects from loopback, a trusted proxy in gateway.yaml):\n\n",
        cfg.file.display(),
        admin = cfg.admin
    );
    for (what, ip, method, path, body) in EXAMPLES {
        let data = if method == "POST" {
            let body = if body.is_empty() { DEFAULT_BODY } else { body };
            format!(" -H 'Content-Type: application/json' -d '{body}'")
        } else {
            String::new()
        };
        out += &format!(
            "  # {what}\n  curl -i -X {method} http://{listen}{path} -H 'X-Forwarded-For: {ip}'{data}\n\n"
        );
    }
    out += "  # why: the facts, signals and score for one address\n";
    out += &format!(
        "  riskgate explain -c {} 89.160.20.112 --path /api/apply-coupon --method POST\n\n",
        cfg.file.display()
    );
    out += "Ctrl-C stops the demo.\n";
    out
}
