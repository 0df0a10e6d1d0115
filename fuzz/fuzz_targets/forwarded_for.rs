//! `X-Forwarded-For` and the single-address headers, as raw bytes in any number of
//! lines: the client is an address written there, the peer only when every entry is a
//! trusted proxy (or there is none), and an unparseable client entry is invalid —
//! never the trusted peer.
#![no_main]
use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use riskgate::config::{ClientIpConfig, IpHeader};
use riskgate::path::client::{parse_entry, resolve};

fuzz_target!(|data: &[u8]| {
    let trusted: Vec<ipnet::IpNet> = vec!["127.0.0.0/8".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let mut h = http::HeaderMap::new();
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    for l in &lines {
        if let Ok(v) = http::HeaderValue::from_bytes(l) {
            h.append("x-forwarded-for", v.clone());
            h.append("x-real-ip", v);
        }
    }
    for header in [IpHeader::XForwardedFor, IpHeader::XRealIp] {
        let cfg = ClientIpConfig { trusted_proxies: trusted.clone(), header };
        let c = resolve(peer, &h, &cfg);
        if c.invalid {
            assert!(c.ip.is_unspecified());
            continue;
        }
        let written = h
            .get_all(header.header_name())
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .filter_map(|e| std::str::from_utf8(e).ok().and_then(parse_entry))
            .any(|a| a == c.ip);
        assert!(written || c.ip == peer, "{:?} invented {}", h, c.ip);
        if c.ip == peer && !written {
            // only when nothing but trusted proxies was written
            let any_untrusted = h
                .get_all(header.header_name())
                .iter()
                .flat_map(|v| v.as_bytes().split(|&b| b == b','))
                .filter(|e| !e.iter().all(|b| b.is_ascii_whitespace()))
                .any(|e| !std::str::from_utf8(e).ok().and_then(parse_entry).is_some_and(|a| trusted.iter().any(|n| n.contains(&a))));
            assert!(!any_untrusted, "{h:?}: the trusted peer was taken for the client");
        }
        // an untrusted peer is always itself
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(resolve(stranger, &h, &cfg).ip, stranger);
    }
});
