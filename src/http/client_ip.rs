//! The client address: the TCP peer, unless the peer is a trusted proxy; then the
//! configured header, walked right to left past trusted hops.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;

use crate::config::{ClientIpConfig, IpHeader};
use crate::intel::canonical;

fn trusted(cfg: &ClientIpConfig, ip: IpAddr) -> bool {
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

/// Decide the client IP for one request.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, cfg: &ClientIpConfig) -> IpAddr {
    let peer = canonical(peer);
    if !trusted(cfg, peer) {
        return peer;
    }
    match cfg.header {
        IpHeader::XForwardedFor => from_xff(peer, headers, cfg),
        single => {
            let mut values = headers.get_all(single.header_name()).iter();
            match (values.next(), values.next()) {
                (Some(v), None) => v.to_str().ok().and_then(parse_entry).unwrap_or(peer),
                // absent, or sent more than once: nothing to trust
                _ => peer,
            }
        }
    }
}

fn from_xff(peer: IpAddr, headers: &HeaderMap, cfg: &ClientIpConfig) -> IpAddr {
    let mut last_trusted = None;
    // Later header lines were appended by nearer proxies: walk them last to first.
    for v in headers
        .get_all(IpHeader::XForwardedFor.header_name())
        .iter()
        .rev()
    {
        let Ok(s) = v.to_str() else {
            return peer;
        };
        for entry in s.rsplit(',') {
            if entry.trim().is_empty() {
                continue;
            }
            let Some(ip) = parse_entry(entry) else {
                // a malformed hop: nothing to its left can be trusted either
                return peer;
            };
            if !trusted(cfg, ip) {
                return ip;
            }
            last_trusted = Some(ip);
        }
    }
    // Every hop was a trusted proxy: the leftmost is the best we know.
    last_trusted.unwrap_or(peer)
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
    fn malformed_falls_back_to_the_peer() {
        let c = cfg(&["127.0.0.1/32"], IpHeader::XForwardedFor);
        for bad in ["not-an-ip", "1.2.3.4, garbage", "unknown", "1.2.3.999"] {
            let h = hm(&[("x-forwarded-for", bad)]);
            assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("127.0.0.1"), "{bad}");
        }
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
            assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("127.0.0.1"));
            // sent twice: ambiguous
            let h = hm(&[(header.name(), "1.2.3.4"), (header.name(), "5.6.7.8")]);
            assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("127.0.0.1"));
            // x-forwarded-for is ignored when another header is configured
            let h = hm(&[("x-forwarded-for", "1.2.3.4")]);
            assert_eq!(resolve(ip("127.0.0.1"), &h, &c), ip("127.0.0.1"));
        }
    }
}
