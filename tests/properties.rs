//! Property tests for what an attacker or a feed controls: request paths (against a
//! plain reference model), X-Forwarded-For, and the lines of a CIDR list. Never a
//! panic; matching idempotent; answers equal to the obvious slow way.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue, Method};
use ipnet::IpNet;
use proptest::prelude::*;
use riskgate::intel::lists::CidrSet;
use riskgate::routes::path::{view, View, VIEWS};
use riskgate::routes::{Matcher, Methods, PathMatch, Table};

/// The reference: decode %XX (left to right, whole passes) until nothing changes,
/// then split, drop `;params`, empty segments and (optionally) dot segments.
fn reference_view(p: &[u8], v: View) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut cur = p.to_vec();
    loop {
        let mut out = Vec::new();
        let mut i = 0;
        while i < cur.len() {
            if cur[i] == b'%' && i + 2 < cur.len() {
                if let (Some(h), Some(l)) = (hex(cur[i + 1]), hex(cur[i + 2])) {
                    let c = h * 16 + l;
                    if v.decode_slashes || (c != b'/' && c != b'\\') {
                        out.push(c);
                        i += 3;
                        continue;
                    }
                    out.extend_from_slice(&[
                        b'%',
                        cur[i + 1].to_ascii_uppercase(),
                        cur[i + 2].to_ascii_uppercase(),
                    ]);
                    i += 3;
                    continue;
                }
            }
            out.push(cur[i]);
            i += 1;
        }
        if out == cur {
            break;
        }
        cur = out;
    }
    let text: Vec<u8> = cur
        .iter()
        .map(|&c| if c == b'\\' { b'/' } else { c })
        .collect();
    let mut segs: Vec<Vec<u8>> = Vec::new();
    for seg in text.split(|&c| c == b'/') {
        let seg = seg.split(|&c| c == b';').next().unwrap_or(&[]).to_vec();
        if seg.is_empty() {
            continue;
        }
        if v.resolve_dots && seg == b"." {
            continue;
        }
        if v.resolve_dots && seg == b".." {
            segs.pop();
            continue;
        }
        segs.push(seg);
    }
    if segs.is_empty() {
        return b"/".to_vec();
    }
    segs.iter()
        .flat_map(|s| std::iter::once(b'/').chain(s.iter().copied()))
        .collect()
}

/// Paths over an alphabet rich in what normalisation treats specially.
fn path() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("/"),
            Just("."),
            Just(".."),
            Just("%"),
            Just("%2F"),
            Just("%2f"),
            Just("%25"),
            Just("%5C"),
            Just("\\"),
            Just(";"),
            Just("a"),
            Just("api"),
            Just("apply-coupon"),
            Just("2"),
            Just("F"),
            Just("%2E"),
            Just("%41"),
            Just("A"),
            Just("=x"),
        ],
        0..14,
    )
    .prop_map(|parts| format!("/{}", parts.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_view_equals_the_reference(p in path()) {
        for v in VIEWS {
            prop_assert_eq!(view(p.as_bytes(), v), reference_view(p.as_bytes(), v), "{:?} {:?}", p, v);
        }
    }

    #[test]
    fn every_view_is_idempotent(p in path()) {
        for v in VIEWS {
            let once = view(p.as_bytes(), v);
            prop_assert_eq!(view(&once, v), once.clone(), "{:?}", p);
        }
    }

    #[test]
    fn a_route_matches_what_its_normal_form_matches(p in path()) {
        // whatever a path's canonical view matches, the path itself matches
        let t = Table { routes: vec![
            Matcher { path: PathMatch::parse("/api/apply-coupon").unwrap(), methods: Methods::any() },
            Matcher { path: PathMatch::parse("/api/*").unwrap(), methods: Methods::any() },
        ]};
        let canon = String::from_utf8_lossy(&view(p.as_bytes(), VIEWS[0])).into_owned();
        if let Some(i) = t.find(&Method::POST, &canon, &HeaderMap::new()) {
            let j = t.find(&Method::POST, &p, &HeaderMap::new());
            prop_assert!(j.is_some() && j.unwrap() <= i, "{:?} → {:?}", p, canon);
        }
    }

    #[test]
    fn matching_never_panics_on_any_text(p in ".{0,64}", m in "[A-Za-z]{1,8}") {
        let t = Table { routes: vec![Matcher { path: PathMatch::parse("/a/*").unwrap(), methods: Methods::of(&["POST"]) }]};
        let method = Method::from_bytes(m.as_bytes()).unwrap();
        let _ = t.find(&method, &p, &HeaderMap::new());
    }

    #[test]
    fn x_forwarded_for_never_invents_an_address(xff in "[0-9a-f:., \\[\\]\"\u{80}-\u{ff}]{0,60}") {
        let cfg = riskgate::config::ClientIpConfig {
            trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
            header: riskgate::config::IpHeader::XForwardedFor,
        };
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&xff) {
            h.insert("x-forwarded-for", v);
        }
        let c = riskgate::path::client::resolve(peer, &h, &cfg);
        let ip = c.ip;
        // invalid (never the trusted peer), the peer when every entry is trusted or
        // there is none, or an address written in the header
        let written = xff.split(',').any(|e| riskgate::path::client::parse_entry(e) == Some(ip));
        prop_assert!(if c.invalid { ip.is_unspecified() } else { ip == peer || written }, "{:?} → {:?}", xff, c);
        if ip == peer && !c.invalid {
            // only when no entry names an untrusted address
            prop_assert!(xff.split(',').filter(|e| !e.trim().is_empty()).all(|e| riskgate::path::client::parse_entry(e).is_some_and(|a| a.is_loopback())), "{:?} → the peer", xff);
        }
        // an untrusted peer is always the client
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        prop_assert_eq!(riskgate::path::client::resolve(stranger, &h, &cfg).ip, stranger);
    }

    #[test]
    fn cidr_list_text_never_panics(text in "[0-9a-f:./#, \\-\n]{0,200}") {
        let _ = CidrSet::parse(&text);
    }

    #[test]
    fn cidr_lists_agree_with_ipnet(nets in proptest::collection::vec((any::<u32>(), 0u8..=32), 1..40), probes in proptest::collection::vec(any::<u32>(), 50)) {
        let nets: Vec<IpNet> = nets.iter().map(|(a, p)| IpNet::new(IpAddr::from(a.to_be_bytes()), *p).unwrap().trunc()).collect();
        let text: String = nets.iter().map(|n| format!("{n}\n")).collect();
        let set = CidrSet::parse(&text).unwrap();
        for (i, p) in probes.iter().copied().chain(nets.iter().filter_map(|n| match n { IpNet::V4(n) => Some(u32::from(n.network())), _ => None })).enumerate() {
            let ip = IpAddr::from(p.to_be_bytes());
            prop_assert_eq!(set.contains(ip), nets.iter().any(|n| n.contains(&ip)), "probe {} {}", i, ip);
        }
    }
}
