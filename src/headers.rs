//! The `X-Risk-*` contract with the origin.

use pingora::http::RequestHeader;

use crate::config::IntelConfig;
use crate::decide::Decision;
use crate::intel::Facts;

pub const SCORE: &str = "x-risk-score";
pub const ACTION: &str = "x-risk-action";
pub const REASONS: &str = "x-risk-reasons";
pub const CLIENT_IP: &str = "x-risk-client-ip";
pub const COUNTRY: &str = "x-risk-country";
pub const ASN: &str = "x-risk-asn";
pub const NETWORK: &str = "x-risk-network";
pub const ROUTE: &str = "x-risk-route";
pub const MODE: &str = "x-risk-mode";

const PREFIX: &[u8] = b"x-risk-";

fn is_risk(name: &str) -> bool {
    let n = name.as_bytes();
    n.len() >= PREFIX.len() && n[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
}

/// Remove every header the client sent whose name starts with `X-Risk-`.
pub fn strip_client_risk_headers(req: &mut RequestHeader) {
    // Fast path: nothing to do (the common case), no allocation.
    if !req.headers.keys().any(|k| is_risk(k.as_str())) {
        return;
    }
    let names: Vec<http::HeaderName> = req
        .headers
        .keys()
        .filter(|k| is_risk(k.as_str()))
        .cloned()
        .collect();
    for n in names {
        req.remove_header(&n);
    }
}

/// The values written, in contract order (also used by explain and tests).
pub fn values(
    d: &Decision,
    facts: &Facts,
    route: &str,
    intel: &IntelConfig,
) -> [(&'static str, String); 9] {
    [
        (SCORE, d.score.to_string()),
        (ACTION, d.action.as_str().to_string()),
        (REASONS, d.reasons.render(intel)),
        (CLIENT_IP, facts.ip.to_string()),
        (COUNTRY, facts.country_str().unwrap_or("").to_string()),
        (ASN, facts.asn.map(|a| a.to_string()).unwrap_or_default()),
        (NETWORK, d.network.as_str().to_string()),
        (ROUTE, route.to_string()),
        (MODE, d.mode.as_str().to_string()),
    ]
}

/// Write the headers of a matched route onto the upstream request.
pub fn write(
    req: &mut RequestHeader,
    d: &Decision,
    facts: &Facts,
    route: &str,
    intel: &IntelConfig,
) -> pingora::Result<()> {
    for (k, v) in values(d, facts, route, intel) {
        req.insert_header(k, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_any_case() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("X-Risk-Score", "0").unwrap();
        req.insert_header("x-risk-action", "allow").unwrap();
        req.insert_header("X-RISK-ANYTHING", "1").unwrap();
        req.insert_header("x-riskless", "keep").unwrap();
        req.insert_header("host", "a").unwrap();
        strip_client_risk_headers(&mut req);
        let mut left: Vec<_> = req.headers.keys().map(|k| k.as_str().to_string()).collect();
        left.sort();
        assert_eq!(left, vec!["host".to_string(), "x-riskless".to_string()]);
    }
}
