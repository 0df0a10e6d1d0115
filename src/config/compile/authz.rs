//! The `authz` section: riskgate as the forward-auth service of an ingress.

use super::*;

pub(super) fn compile_authz(
    cx: &mut Ctx,
    raw: Opt<RawAuthz>,
    client_ip: &ClientIpConfig,
) -> Option<AuthzConfig> {
    let r = cx.get("authz", raw)?;
    cx.unknown("authz", &r.unknown, RawAuthz::KEYS);
    let listen_raw = cx
        .get("authz.listen", r.listen)
        .map(OneOrMany::into_vec)
        .unwrap_or_default();
    if listen_raw.is_empty() {
        cx.err(
            "authz.listen",
            "needs at least one host:port the ingress asks (e.g. 127.0.0.1:9000)",
        );
    }
    let mut listen = Vec::new();
    for (i, l) in listen_raw.iter().enumerate() {
        match l.parse::<SocketAddr>() {
            Ok(a) => listen.push(a),
            Err(_) => cx.err(
                &format!("authz.listen[{i}]"),
                format!("`{l}` is not an IP:port address (e.g. 127.0.0.1:9000)"),
            ),
        }
    }
    let limit_status = cx.get("authz.limit_status", r.limit_status).unwrap_or(429);
    if !(400..=599).contains(&limit_status) {
        cx.err(
            "authz.limit_status",
            format!("`{limit_status}` is not an error status (400–599; 403 for nginx's auth_request, which understands 401 and 403 only)"),
        );
    }
    // The ingress asks on the client's behalf: without it among the trusted proxies,
    // every request would be scored as the ingress itself.
    if client_ip.trusted_proxies.is_empty() {
        cx.err(
            "authz",
            "needs client_ip.trusted_proxies to name the ingress (e.g. [127.0.0.1/32]), and client_ip.header the header it sets: otherwise riskgate decides on the ingress's address, not the client's",
        );
    }
    Some(AuthzConfig {
        listen,
        limit_status,
    })
}
