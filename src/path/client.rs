//! The client address: the TCP peer, unless the peer is a trusted proxy; then the
//! configured header, walked right to left past trusted hops.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use crate::config::{ClientIpConfig, IntelConfig, IpHeader};
use crate::intel::{canonical, Facts, Intel};

/// Whether `ip` (canonical) is one of `trusted_proxies`.
pub fn trusted(cfg: &ClientIpConfig, ip: IpAddr) -> bool {
    cfg.trusted_proxies.iter().any(|n| n.contains(&ip))
}

/// One address out of a header entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:443`, optionally quoted.
pub fn parse_entry(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<IpAddr>().ok().map(canonical);
    }
    None
}

/// The client riskgate decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    /// the address; [`UNKNOWN`] when `invalid`
    pub ip: IpAddr,
    /// the entry of the client-IP header that should name the client does not parse
    /// (`client_ip_invalid`): riskgate never takes a trusted proxy for the client
    pub invalid: bool,
}

/// The address of a client whose header entry does not parse: no data source knows
/// it, and all such requests share one limit bucket.
pub const UNKNOWN: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

impl Client {
    fn known(ip: IpAddr) -> Client {
        Client { ip, invalid: false }
    }
    const INVALID: Client = Client {
        ip: UNKNOWN,
        invalid: true,
    };
}

/// What the data sources say of the client: for an invalid one, nothing is looked
/// up, and the fact that it is invalid is its only fact.
pub fn facts(intel: &Intel, client: Client, cfg: &IntelConfig) -> Facts {
    if client.invalid {
        let mut f = Facts::new(UNKNOWN);
        f.client_ip_invalid = true;
        return f;
    }
    intel.enrich(client.ip, cfg)
}

/// One entry of a header, as raw bytes: not UTF-8 → not an address.
fn parse_raw(b: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(b).ok().and_then(parse_entry)
}

/// Decide the client for one request.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, cfg: &ClientIpConfig) -> Client {
    let peer = canonical(peer);
    if !trusted(cfg, peer) {
        return Client::known(peer);
    }
    match cfg.header {
        IpHeader::XForwardedFor => from_xff(peer, headers, cfg),
        single => {
            let mut values = headers.get_all(single.header_name()).iter();
            match (values.next(), values.next()) {
                // the trusted proxy made the request itself
                (None, _) => Client::known(peer),
                (Some(v), None) => parse_raw(v.as_bytes()).map_or(Client::INVALID, Client::known),
                // sent more than once: the client added one, nothing to trust
                (Some(_), Some(_)) => Client::INVALID,
            }
        }
    }
}

fn is_blank(b: &[u8]) -> bool {
    b.iter().all(|c| c.is_ascii_whitespace())
}

/// `X-Forwarded-For`, every line, read as bytes (a proxy appends the address it saw
/// to whatever the client sent, which may be anything): the rightmost entry that is
/// not a trusted proxy is the client.
fn from_xff(peer: IpAddr, headers: &HeaderMap, cfg: &ClientIpConfig) -> Client {
    let mut last_trusted = None;
    // Later header lines were appended by nearer proxies: walk them last to first.
    for v in headers
        .get_all(IpHeader::XForwardedFor.header_name())
        .iter()
        .rev()
    {
        for entry in v.as_bytes().rsplit(|&b| b == b',') {
            if is_blank(entry) {
                continue;
            }
            let Some(ip) = parse_raw(entry) else {
                // the entry that should name the client is not an address
                return Client::INVALID;
            };
            if !trusted(cfg, ip) {
                return Client::known(ip);
            }
            last_trusted = Some(ip);
        }
    }
    // Every hop was a trusted proxy (or there was none: the proxy's own request): the
    // leftmost is the best we know.
    Client::known(last_trusted.unwrap_or(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(trusted: &[&str], header: IpHeader) -> ClientIpConfig {
        ClientIpConfig {
            trusted_proxies: trusted.iter().map(|s| s.parse().unwrap()).collect(),
            header,
        }
    }

    fn hm(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn resolve(peer: IpAddr, h: &HeaderMap, c: &ClientIpConfig) -> IpAddr {
        let got = super::resolve(peer, h, c);
        assert!(!got.invalid, "{h:?} was read as invalid");
        got.ip
    }

    fn invalid(peer: IpAddr, h: &HeaderMap, c: &ClientIpConfig) -> bool {
        super::resolve(peer, h, c) == Client::INVALID
    }

    #[test]
    fn header_names_are_the_configured_names() {
        for h in [
            IpHeader::XForwardedFor,
            IpHeader::XRealIp,
            IpHeader::CfConnectingIp,
            IpHeader::TrueClientIp,
        ] {
            assert_eq!(h.header_name().as_str(), h.name());
        }
    }

    #[test]
    fn untrusted_peer_cannot_choose_its_ip() {
        let c = cfg(&["10.0.0.0/8"], IpHeader::XForwardedFor);
        let h = hm(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(resolve(ip("203.0.113.9"), &h, &c), ip("203.0.113.9"));
    }

    #[test]
    fn no_trusted_proxies_means_the_peer() {
        let c = cfg(&[], IpHeader::XForwardedFor);
        let h = hm(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("127.0.0.1"));
    }

    #[test]
    fn walks_right_to_left_past_trusted_hops() {
        let c = cfg(&["10.0.0.0/8", "127.0.0.1/32"], IpHeader::XForwardedFor);
        // the client forged 6.6.6.6; the real client 1.2.3.4 was appended by 10.0.0.2
        let h = hm(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.2")]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("1.2.3.4"));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        let c = cfg(&["10.0.0.0/8", "127.0.0.1/32"], IpHeader::XForwardedFor);
        let h = hm(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "1.2.3.4, 10.0.0.2"),
        ]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("1.2.3.4"));
    }

    #[test]
    fn all_trusted_gives_the_leftmost() {
        let c = cfg(&["10.0.0.0/8", "127.0.0.1/32"], IpHeader::XForwardedFor);
        let h = hm(&[("x-forwarded-for", "10.1.1.1, 10.0.0.2")]);
        assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("10.1.1.1"));
    }

    #[test]
    fn a_malformed_client_entry_is_invalid_never_the_peer() {
        let c = cfg(&["127.0.0.1/32"], IpHeader::XForwardedFor);
        for bad in ["not-an-ip", "1.2.3.4, garbage", "unknown", "1.2.3.999"] {
            let h = hm(&[("x-forwarded-for", bad)]);
            assert!(invalid(ip("127.0.0.1"), &h, &c), "{bad}");
        }
    }

    #[test]
    fn junk_left_of_the_client_is_ignored() {
        // nginx's $proxy_add_x_forwarded_for appends the real client to what was sent
        let c = cfg(&["127.0.0.1/32"], IpHeader::XForwardedFor);
        for sent in [
            &b"\xff"[..],
            b"caf\xc3\xa9",
            b"\xc2\xa0",
            b"\x80\x81, 6.6.6.6",
        ] {
            let mut v = sent.to_vec();
            v.extend_from_slice(b", 185.241.208.232");
            let mut h = HeaderMap::new();
            h.append(
                "x-forwarded-for",
                http::HeaderValue::from_bytes(&v).unwrap(),
            );
            assert_eq!(
                resolve(ip("127.0.0.1"), &h, &c),
                ip("185.241.208.232"),
                "{sent:?}"
            );
        }
        // a junk line before the proxy's own line
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        h.append("x-forwarded-for", "185.241.208.232".parse().unwrap());
        assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("185.241.208.232"));
        // the junk is where the client should be
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"1.2.3.4, \xff").unwrap(),
        );
        assert!(invalid(ip("127.0.0.1"), &h, &c));
    }

    #[test]
    fn no_header_from_a_trusted_proxy_is_the_proxy_itself() {
        let c = cfg(&["127.0.0.1/32"], IpHeader::XForwardedFor);
        assert_eq!(
            resolve(ip("127.0.0.1"), &HeaderMap::new(), &c),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let c = cfg(&["127.0.0.1/32"], IpHeader::XForwardedFor);
        for (v, want) in [
            ("1.2.3.4:5678", "1.2.3.4"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            ("::ffff:81.2.69.160", "81.2.69.160"),
            ("\"1.2.3.4\"", "1.2.3.4"),
        ] {
            let h = hm(&[("x-forwarded-for", v)]);
            assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip(want), "{v}");
        }
    }

    #[test]
    fn mapped_peer_is_normalised_before_the_trust_check() {
        let c = cfg(&["127.0.0.1/32"], IpHeader::XForwardedFor);
        let h = hm(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(resolve(ip("::ffff:127.0.0.1"), &h, &c), ip("1.2.3.4"));
    }

    #[test]
    fn single_address_headers() {
        for header in [
            IpHeader::XRealIp,
            IpHeader::CfConnectingIp,
            IpHeader::TrueClientIp,
        ] {
            let c = cfg(&["127.0.0.1/32"], header);
            let h = hm(&[(header.name(), "1.2.3.4")]);
            assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("1.2.3.4"));
            // a list is not one address
            let h = hm(&[(header.name(), "1.2.3.4, 5.6.7.8")]);
            assert!(invalid(ip("127.0.0.1"), &h, &c));
            // sent twice: ambiguous
            let h = hm(&[(header.name(), "1.2.3.4"), (header.name(), "5.6.7.8")]);
            assert!(invalid(ip("127.0.0.1"), &h, &c));
            let mut h = HeaderMap::new();
            h.append(
                header.name(),
                http::HeaderValue::from_bytes(b"\xff").unwrap(),
            );
            assert!(invalid(ip("127.0.0.1"), &h, &c));
            // x-forwarded-for is ignored when another header is configured
            let h = hm(&[("x-forwarded-for", "1.2.3.4")]);
            assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("127.0.0.1"));
        }
    }
}
