//! The `X-Risk-*` contract with the origin.

use std::sync::LazyLock;

use http::HeaderValue;
use pingora::http::RequestHeader;

use crate::config::{IntelConfig, LimitSpec};
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
pub const SIGNATURE: &str = "x-risk-signature";
const SIGNATURE_WIRE: &str = "X-Risk-Signature";
pub const REQUEST_ID: &str = "x-risk-request-id";
const REQUEST_ID_WIRE: &str = "X-Risk-Request-Id";

const PREFIX: &[u8] = b"x-risk-";

/// A header name byte as an app server may read it: lower-case, with `_` and `.` as
/// `-` (WSGI's `HTTP_X_RISK_ACTION` is `X-Risk-Action`, `X_Risk_Action` and
/// `x.risk.action` alike).
fn folded(b: u8) -> u8 {
    match b {
        b'_' | b'.' => b'-',
        b => b.to_ascii_lowercase(),
    }
}

/// Whether `name` is read by some app server as an `X-Risk-*` header.
pub fn is_risk(name: &str) -> bool {
    let n = name.as_bytes();
    n.len() >= PREFIX.len() && n.iter().zip(PREFIX).all(|(&a, &b)| folded(a) == b)
}

/// Whether `name` is an alias of `real` (a lower-case header name): the same name
/// once folded, but not spelled as `real` is.
pub fn is_alias_of(name: &str, real: &str) -> bool {
    let (n, r) = (name.as_bytes(), real.as_bytes());
    n.len() == r.len()
        && n.iter().zip(r).all(|(&a, &b)| folded(a) == b)
        && !n.eq_ignore_ascii_case(r)
}

/// Remove every header the client sent that an app may read as `X-Risk-*`, and every
/// alias of the configured client-IP header (`X_Forwarded_For`, which gunicorn before
/// 22 joins with the real one).
pub fn strip_client_risk_headers(req: &mut RequestHeader, client_ip_header: &str) {
    let forged = |k: &http::HeaderName| {
        let k = k.as_str();
        is_risk(k) || is_alias_of(k, client_ip_header)
    };
    // Fast path: nothing to do (the common case), no allocation.
    if !req.headers.keys().any(forged) {
        return;
    }
    let names: Vec<http::HeaderName> = req.headers.keys().filter(|k| forged(k)).cloned().collect();
    for n in names {
        req.remove_header(&n);
    }
}

/// A `Retry-After` in whole seconds, rounded up and at least 1: never tell a client
/// to come back too early.
pub fn retry_after_secs(d: std::time::Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The header names in contract order, lower-case (as explain reports them).
pub const NAMES: [&str; 9] = [
    SCORE, ACTION, REASONS, CLIENT_IP, COUNTRY, ASN, NETWORK, ROUTE, MODE,
];

/// Header names as written on the wire (Pingora keeps the case we give).
const WIRE: [&str; 9] = [
    "X-Risk-Score",
    "X-Risk-Action",
    "X-Risk-Reasons",
    "X-Risk-Client-IP",
    "X-Risk-Country",
    "X-Risk-ASN",
    "X-Risk-Network",
    "X-Risk-Route",
    "X-Risk-Mode",
];

/// Every score's value, built once: a request clones a static value, no formatting.
static SCORES: LazyLock<Vec<HeaderValue>> =
    LazyLock::new(|| (0..=100u32).map(HeaderValue::from).collect());

/// "AAABAC…ZZ": a country header points into this, no allocation.
static COUNTRY_CODES: LazyLock<&'static [u8]> = LazyLock::new(|| {
    let mut v = Vec::with_capacity(26 * 26 * 2);
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            v.extend_from_slice(&[a, b]);
        }
    }
    Box::leak(v.into_boxed_slice())
});

fn country_value(c: Option<[u8; 2]>) -> HeaderValue {
    match c {
        Some([a, b]) if a.is_ascii_uppercase() && b.is_ascii_uppercase() => {
            let i = (usize::from(a - b'A') * 26 + usize::from(b - b'A')) * 2;
            let bytes = bytes::Bytes::from_static(&COUNTRY_CODES[i..i + 2]);
            HeaderValue::from_maybe_shared(bytes).unwrap_or_else(|_| HeaderValue::from_static(""))
        }
        _ => HeaderValue::from_static(""),
    }
}

/// An address as a header value. IPv4 (nearly every client) is written digit by
/// digit into a stack buffer; IPv6 goes through `Display` (the RFC 5952 form).
fn ip_value(ip: std::net::IpAddr) -> HeaderValue {
    let std::net::IpAddr::V4(v4) = ip else {
        return display_value(ip);
    };
    let mut buf = [0u8; 15];
    let mut n = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        if octet >= 100 {
            buf[n] = b'0' + octet / 100;
            n += 1;
        }
        if octet >= 10 {
            buf[n] = b'0' + octet / 10 % 10;
            n += 1;
        }
        buf[n] = b'0' + octet % 10;
        n += 1;
    }
    HeaderValue::from_bytes(&buf[..n]).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Format into a stack buffer, then one copy into the header value.
fn display_value(v: impl std::fmt::Display) -> HeaderValue {
    use std::io::Write as _;
    let mut buf = [0u8; 48];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    if write!(cur, "{v}").is_err() {
        return HeaderValue::from_static("");
    }
    let n = cur.position() as usize;
    HeaderValue::from_bytes(&buf[..n]).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn reasons_value(d: &Decision, intel: &IntelConfig, limits: &[LimitSpec]) -> HeaderValue {
    if d.reasons.is_empty() {
        return HeaderValue::from_static("");
    }
    // one fixed signal alone (the common case): a static string
    if d.reasons.lists == 0 && d.reasons.rates == 0 && d.reasons.fixed.count_ones() == 1 {
        let s = crate::decide::Signal::ALL[d.reasons.fixed.trailing_zeros() as usize];
        return HeaderValue::from_static(s.name());
    }
    HeaderValue::try_from(d.reasons.render(&intel.lists, limits))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The nine values, in the order of [`NAMES`]. `route` is the route's prebuilt
/// header value ([`crate::config::Route::header`]); `limits` the policy's (they name
/// the `rate:NAME` reasons).
pub fn values(
    d: &Decision,
    facts: &Facts,
    route: &HeaderValue,
    intel: &IntelConfig,
    limits: &[LimitSpec],
) -> [HeaderValue; 9] {
    let asn = match facts.asn {
        Some(a) => HeaderValue::from(a),
        None => HeaderValue::from_static(""),
    };
    [
        SCORES[d.score.min(100) as usize].clone(),
        HeaderValue::from_static(d.action.as_str()),
        reasons_value(d, intel, limits),
        if facts.client_ip_invalid {
            HeaderValue::from_static("")
        } else {
            ip_value(facts.ip)
        },
        country_value(facts.country),
        asn,
        HeaderValue::from_static(d.network.as_str()),
        route.clone(),
        HeaderValue::from_static(d.mode.as_str()),
    ]
}

/// Every header of a matched route, as sent: the nine values, with `signing` the
/// signature over them, the method and the target as sent, and the request id.
pub struct Set {
    pub values: [HeaderValue; 9],
    pub signature: Option<HeaderValue>,
    pub request_id: HeaderValue,
}

impl Set {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        d: &Decision,
        facts: &Facts,
        route: &HeaderValue,
        intel: &IntelConfig,
        limits: &[LimitSpec],
        signing: Option<&crate::sign::Key>,
        method: &str,
        target: &[u8],
        request_id: &HeaderValue,
    ) -> Set {
        let values = values(d, facts, route, intel, limits);
        let signature = signing.map(|key| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let signed = values.each_ref().map(HeaderValue::as_bytes);
            key.sign(t, method, target, &signed)
        });
        Set {
            values,
            signature,
            request_id: request_id.clone(),
        }
    }

    /// The headers as written on the wire, in contract order.
    pub fn wire(self) -> impl Iterator<Item = (&'static str, HeaderValue)> {
        WIRE.into_iter()
            .zip(self.values)
            .chain(self.signature.map(|s| (SIGNATURE_WIRE, s)))
            .chain(std::iter::once((REQUEST_ID_WIRE, self.request_id)))
    }
}

/// Write the headers of a matched route onto the upstream request, and with
/// `signing` its `X-Risk-Signature` over them, the method and the target as sent.
#[allow(clippy::too_many_arguments)]
pub fn write(
    req: &mut RequestHeader,
    d: &Decision,
    facts: &Facts,
    route: &HeaderValue,
    intel: &IntelConfig,
    limits: &[LimitSpec],
    signing: Option<&crate::sign::Key>,
    request_id: &HeaderValue,
) -> pingora::Result<()> {
    let set = Set::build(
        d,
        facts,
        route,
        intel,
        limits,
        signing,
        req.method.as_str(),
        req.raw_path(),
        request_id,
    );
    for (k, v) in WIRE.into_iter().zip(set.values) {
        req.insert_header(k, v)?;
    }
    if let Some(sig) = set.signature {
        req.insert_header(SIGNATURE_WIRE, sig)?;
    }
    req.insert_header(REQUEST_ID_WIRE, set.request_id)?;
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
        strip_client_risk_headers(&mut req, "x-forwarded-for");
        let mut left: Vec<_> = req.headers.keys().map(|k| k.as_str().to_string()).collect();
        left.sort();
        assert_eq!(left, vec!["host".to_string(), "x-riskless".to_string()]);
    }

    #[test]
    fn strips_every_alias_an_app_server_reads() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for n in [
            "X_Risk_Action",
            "x_risk_score",
            "X.Risk.Client.IP",
            "x-risk_reasons",
            "X_RISK-MODE",
            "X_Forwarded_For",
            "x.forwarded.for",
            "X-Forwarded_For",
        ] {
            req.insert_header(n.to_string(), "forged").unwrap();
        }
        for keep in [
            "X-Forwarded-For",
            "x_riskless",
            "x-forwarded-host",
            "x_forwarded_proto",
        ] {
            req.insert_header(keep.to_string(), "1").unwrap();
        }
        strip_client_risk_headers(&mut req, "x-forwarded-for");
        let mut left: Vec<_> = req.headers.keys().map(|k| k.as_str().to_string()).collect();
        left.sort();
        assert_eq!(
            left,
            [
                "x-forwarded-for",
                "x-forwarded-host",
                "x_forwarded_proto",
                "x_riskless"
            ]
        );
        // the aliases of another configured header
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("X_Real_IP", "6.6.6.6").unwrap();
        req.insert_header("X-Real-IP", "1.2.3.4").unwrap();
        strip_client_risk_headers(&mut req, "x-real-ip");
        assert_eq!(req.headers.len(), 1);
        assert_eq!(req.headers["x-real-ip"], "1.2.3.4");
    }
}

#[cfg(test)]
mod value_tests {
    use super::*;

    #[test]
    fn prebuilt_values_match_the_plain_ones() {
        assert_eq!(SCORES[0], "0");
        assert_eq!(SCORES[100], "100");
        assert_eq!(country_value(Some(*b"SE")), "SE");
        assert_eq!(country_value(Some(*b"ZZ")), "ZZ");
        assert_eq!(country_value(Some(*b"AA")), "AA");
        assert_eq!(country_value(None), "");
        assert_eq!(
            display_value("2001:db8::1".parse::<std::net::IpAddr>().unwrap()),
            "2001:db8::1"
        );
        assert_eq!(
            display_value(
                "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
                    .parse::<std::net::IpAddr>()
                    .unwrap()
            ),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
    }

    #[test]
    fn ipv4_digits_match_display_for_every_octet() {
        for o in 0..=255u8 {
            for ip in [
                [o, 0, 9, 10],
                [1, o, 99, 100],
                [255, 200, o, 1],
                [0, 0, 0, o],
            ] {
                let ip = std::net::IpAddr::from(ip);
                assert_eq!(ip_value(ip), ip.to_string().as_str(), "{ip}");
            }
        }
        let v6: std::net::IpAddr = "2a02:d440::1".parse().unwrap();
        assert_eq!(ip_value(v6), "2a02:d440::1");
    }
}
