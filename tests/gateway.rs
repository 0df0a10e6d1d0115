//! The gateway end to end: the real binary on loopback in front of a real origin,
//! with MaxMind's test databases, the real Tor exit list and the X4BNet ranges.

mod common;
use common::*;

fn policies() -> &'static str {
    r#"
routes:
  - { name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }
  - { name: redeem, path: /api/redeem/*, policy: promo }
  - { name: shadowed, path: /shadow, policy: shadow }
  - { name: banned, path: /shadowban, policy: shadowban }
  - { name: soft, path: /soft, policy: soft }
  - { name: nordic-only, path: /nordic, policy: nordic }
policies:
  promo: {}
  shadow: { mode: shadow }
  shadowban: { on_block: { shadow: true } }
  soft:
    on_block: { status: 200, body: '{"success":false,"message":"Coupon expired"}', content_type: application/json }
  nordic:
    countries: { allow: [SE, NO, FI, DK] }
"#
}

fn standard() -> Gateway {
    start(&format!(
        "client_ip:\n  trusted_proxies: [\"127.0.0.1/32\", \"::1/128\"]\n{}{}",
        full_intel(),
        policies()
    ))
}

const TOR_EXIT: &str = "185.241.208.232"; // in data/tor-exit-addresses.txt (2024-03-12)
const RESIDENTIAL_SE: &str = "89.160.20.112"; // GeoIP2-City-Test: SE; GeoLite2-ASN-Test: AS29518

#[test]
fn tor_exit_is_blocked_by_riskgate_and_never_reaches_the_origin() {
    let gw = standard();
    let r = post_as(&gw, "/api/apply-coupon", TOR_EXIT);
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.body.contains("RISK_IP_DETECTED"), "{}", r.body);
    assert!(gw.seen.on("/api/apply-coupon").is_empty());
}

#[test]
fn residential_client_reaches_the_origin_with_every_header() {
    let gw = standard();
    let r = post_as(&gw, "/api/apply-coupon", RESIDENTIAL_SE);
    assert_eq!(r.status, 200);
    let s = last_seen(&gw, "/api/apply-coupon");
    assert_eq!(s.header("x-risk-country"), Some("SE"));
    assert_eq!(s.header("x-risk-asn"), Some("29518"));
    assert_eq!(s.header("x-risk-score"), Some("0"));
    assert_eq!(s.header("x-risk-action"), Some("allow"));
    assert_eq!(s.header("x-risk-reasons"), Some(""));
    assert_eq!(s.header("x-risk-client-ip"), Some(RESIDENTIAL_SE));
    assert_eq!(s.header("x-risk-route"), Some("coupon"));
    assert_eq!(s.header("x-risk-mode"), Some("enforce"));
    assert_eq!(s.header("x-risk-network"), Some("unknown"));
    assert_eq!(s.body_len, "code=WELCOME10".len(), "the body is forwarded");
}

#[test]
fn each_anonymous_ip_flag_becomes_its_signal() {
    let gw = standard();
    // (client, reasons, score, action, network) from GeoIP2-Anonymous-IP-Test's source JSON,
    // on the shadow route, which forwards even a block with its headers
    for (ip, reasons, score, action, network) in [
        ("1.2.0.1", "vpn", "30", "verify", "vpn"),
        ("6.1.0.0", "vpn", "30", "verify", "vpn"),
        ("71.160.223.5", "hosting", "70", "block", "hosting"),
        ("186.30.236.1", "proxy", "50", "verify", "proxy"),
        (
            "6.1.0.4",
            "residential_proxy",
            "40",
            "verify",
            "residential_proxy",
        ),
        ("2001:480:3a::1", "proxy", "50", "verify", "proxy"),
    ] {
        let r = post_as(&gw, "/shadow", ip);
        assert_eq!(r.status, 200, "{ip}");
        let s = last_seen(&gw, "/shadow");
        assert_eq!(s.header("x-risk-client-ip"), Some(ip), "{ip}");
        assert_eq!(s.header("x-risk-reasons"), Some(reasons), "{ip}");
        assert_eq!(s.header("x-risk-score"), Some(score), "{ip}");
        assert_eq!(s.header("x-risk-action"), Some(action), "{ip}");
        assert_eq!(s.header("x-risk-network"), Some(network), "{ip}");
    }
    // the anonymous-IP DB's own Tor flag blocks too (65.0.0.0/109 is_tor_exit_node)
    assert_eq!(post_as(&gw, "/api/apply-coupon", "65.0.0.1").status, 403);
    // 81.2.69.160: every flag at once → capped at 100
    assert_eq!(post_as(&gw, "/api/apply-coupon", "81.2.69.160").status, 403);
}

#[test]
fn hosting_from_lists_asns_and_org_keywords() {
    let gw = standard();
    // 1.0.0.1: AS15169 in hosting_asns; blocked on the promo route (hosting weighs 70),
    // so read its headers on the shadow route
    assert_eq!(post_as(&gw, "/api/apply-coupon", "1.0.0.1").status, 403);
    post_as(&gw, "/shadow", "1.0.0.1");
    let s = last_seen(&gw, "/shadow");
    assert_eq!(s.header("x-risk-asn"), Some("15169"));
    assert_eq!(s.header("x-risk-reasons"), Some("hosting"));
    // 1.12.0.1: in X4BNet's datacenter list (1.12.0.0/14)
    post_as(&gw, "/shadow", "1.12.0.1");
    assert_eq!(
        last_seen(&gw, "/shadow").header("x-risk-reasons"),
        Some("hosting")
    );
}

#[test]
fn connection_type_gives_mobile_and_residential_networks() {
    let gw = standard();
    // 149.101.100.1: Cellular, AS6167 CELLCO-PART, US
    post_as(&gw, "/api/apply-coupon", "149.101.100.1");
    let s = last_seen(&gw, "/api/apply-coupon");
    assert_eq!(s.header("x-risk-network"), Some("mobile"));
    assert_eq!(s.header("x-risk-country"), Some("US"));
    assert_eq!(s.header("x-risk-asn"), Some("6167"));
    assert_eq!(s.header("x-risk-action"), Some("allow"));
    // 96.1.0.1: Cable/DSL
    post_as(&gw, "/api/apply-coupon", "96.1.0.1");
    assert_eq!(
        last_seen(&gw, "/api/apply-coupon").header("x-risk-network"),
        Some("residential")
    );
}

#[test]
fn deny_and_allow_lists() {
    let gw = standard();
    let r = post_as(&gw, "/api/apply-coupon", "203.0.113.7");
    assert_eq!(r.status, 403);
    // allow list: even a Tor-looking score is skipped
    let r = post_as(&gw, "/api/apply-coupon", "198.51.100.20");
    assert_eq!(r.status, 200);
    let s = last_seen(&gw, "/api/apply-coupon");
    assert_eq!(s.header("x-risk-reasons"), Some("list:allow"));
    assert_eq!(s.header("x-risk-action"), Some("allow"));
    assert_eq!(s.header("x-risk-score"), Some("0"));
}

#[test]
fn country_allow_list_denies_the_rest() {
    let gw = standard();
    let r = post_as(&gw, "/nordic", RESIDENTIAL_SE);
    assert_eq!(r.status, 200);
    // 2.125.160.216: GB
    let r = post_as(&gw, "/nordic", "2.125.160.216");
    assert_eq!(r.status, 403);
    // IPv6 in Sweden: 2a02:d440::/29 → SE
    let r = post_as(&gw, "/nordic", "2a02:d440::1");
    assert_eq!(r.status, 200);
    assert_eq!(
        last_seen(&gw, "/nordic").header("x-risk-country"),
        Some("SE")
    );
}

#[test]
fn shadow_mode_forwards_what_it_would_block() {
    let gw = standard();
    let r = post_as(&gw, "/shadow", TOR_EXIT);
    assert_eq!(r.status, 200);
    let s = last_seen(&gw, "/shadow");
    assert_eq!(s.header("x-risk-action"), Some("block"));
    assert_eq!(s.header("x-risk-mode"), Some("shadow"));
    assert_eq!(s.header("x-risk-network"), Some("tor"));
    assert!(s.header("x-risk-reasons").unwrap().starts_with("tor"));
}

#[test]
fn shadow_ban_and_custom_block_response() {
    let gw = standard();
    let r = post_as(&gw, "/shadowban", TOR_EXIT);
    assert_eq!(r.status, 200);
    let s = last_seen(&gw, "/shadowban");
    assert_eq!(s.header("x-risk-action"), Some("block"));
    assert_eq!(s.header("x-risk-mode"), Some("enforce"));

    let r = post_as(&gw, "/soft", TOR_EXIT);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, r#"{"success":false,"message":"Coupon expired"}"#);
    assert!(
        gw.seen.on("/soft").is_empty(),
        "a fake success is answered by riskgate"
    );
}

#[test]
fn client_cannot_forge_risk_headers_on_any_path() {
    let gw = standard();
    let forged = [
        ("X-Forwarded-For", TOR_EXIT),
        ("X-Risk-Score", "0"),
        ("x-risk-action", "allow"),
        ("X-RISK-REASONS", ""),
        ("X-Risk-Client-IP", "89.160.20.112"),
        ("X-Risk-Anything-Else", "1"),
    ];
    // matched route in shadow mode: ours replace theirs
    request(gw.addr, "POST", "/shadow", &forged, "x");
    let s = last_seen(&gw, "/shadow");
    assert_eq!(s.header("x-risk-action"), Some("block"));
    assert_eq!(s.header("x-risk-client-ip"), Some(TOR_EXIT));
    assert_eq!(s.header("x-risk-anything-else"), None);
    assert_eq!(
        s.headers
            .iter()
            .filter(|(k, _)| k == "x-risk-score")
            .count(),
        1
    );
    // unmatched path: stripped, nothing added
    request(gw.addr, "GET", "/products", &forged, "");
    let s = last_seen(&gw, "/products");
    assert!(
        s.headers.iter().all(|(k, _)| !k.starts_with("x-risk-")),
        "{:?}",
        s.headers
    );
    // a matched path with a method that does not match is unmatched
    request(gw.addr, "GET", "/api/apply-coupon", &forged, "");
    let s = last_seen(&gw, "/api/apply-coupon");
    assert!(s.headers.iter().all(|(k, _)| !k.starts_with("x-risk-")));
}

#[test]
fn unmatched_paths_are_forwarded_untouched() {
    let gw = standard();
    let r = request(
        gw.addr,
        "GET",
        "/products?page=2",
        &[("X-Forwarded-For", TOR_EXIT), ("X-Custom", "kept")],
        "",
    );
    assert_eq!(r.status, 200);
    let s = last_seen(&gw, "/products?page=2");
    assert_eq!(s.header("x-custom"), Some("kept"));
    assert_eq!(s.header("x-forwarded-for"), Some(TOR_EXIT));
}

#[test]
fn path_tricks_do_not_bypass_a_route() {
    let gw = standard();
    for p in [
        "/api/apply-coupon/",
        "//api/apply-coupon",
        "/api/./apply-coupon",
        "/api/x/../apply-coupon",
        "/API/Apply-Coupon",
        "/api/apply-coupon;jsessionid=1",
        "/api/apply%2Dcoupon",
        "/api/apply-coupon?code=X",
        "/api/redeem/abc",
        "/api/redeem",
    ] {
        let r = post_as(&gw, p, TOR_EXIT);
        assert_eq!(r.status, 403, "{p} must be matched");
    }
    // a neighbour that only shares a prefix is not matched
    assert_eq!(post_as(&gw, "/api/redeemer", TOR_EXIT).status, 200);
}

#[test]
fn untrusted_peer_cannot_choose_its_ip() {
    // no trusted proxies: X-Forwarded-For is ignored, the peer is the client
    let gw = start(&format!("{}{}", full_intel(), policies()));
    let r = post_as(&gw, "/api/apply-coupon", TOR_EXIT);
    assert_eq!(r.status, 200);
    let s = last_seen(&gw, "/api/apply-coupon");
    assert_eq!(s.header("x-risk-client-ip"), Some("127.0.0.1"));
    // ... so a Tor user cannot pretend to be someone else either way
}

#[test]
fn xff_is_walked_past_trusted_hops_only() {
    let gw = start(&format!(
        "client_ip:\n  trusted_proxies: [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n{}{}",
        full_intel(),
        policies()
    ));
    // the client put a residential address first; the real one was appended by our LB
    let r = request(
        gw.addr,
        "POST",
        "/api/apply-coupon",
        &[(
            "X-Forwarded-For",
            &format!("{RESIDENTIAL_SE}, {TOR_EXIT}, 10.1.2.3"),
        )],
        "x",
    );
    assert_eq!(r.status, 403);
    // a malformed client entry is client_ip_invalid (70: block), never the peer
    let r = post_as(&gw, "/api/apply-coupon", "not-an-ip");
    assert_eq!(r.status, 403);
    post_as(&gw, "/shadow", "1.2.3.4, not-an-ip");
    let s = last_seen(&gw, "/shadow");
    assert_eq!(s.header("x-risk-client-ip"), Some(""));
    assert_eq!(s.header("x-risk-reasons"), Some("client_ip_invalid"));
    assert_eq!(s.header("x-risk-action"), Some("block"));
    // junk left of the client is not the client's entry: a Tor exit stays a Tor exit
    let mut s = std::net::TcpStream::connect(gw.addr).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"POST /shadow HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\nX-Forwarded-For: \xff caf\xc3\xa9\xc2\xa0, ")
        .unwrap();
    s.write_all(format!("{TOR_EXIT}\r\n\r\n").as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    assert_eq!(parse_response(&buf).status, 200);
    let seen = last_seen(&gw, "/shadow");
    assert_eq!(seen.header("x-risk-client-ip"), Some(TOR_EXIT));
    assert_eq!(seen.header("x-risk-network"), Some("tor"));
    // IPv4-mapped IPv6 is the IPv4 host
    post_as(&gw, "/api/apply-coupon", "::ffff:89.160.20.112");
    let s = last_seen(&gw, "/api/apply-coupon");
    assert_eq!(s.header("x-risk-client-ip"), Some(RESIDENTIAL_SE));
    assert_eq!(s.header("x-risk-country"), Some("SE"));
}

#[test]
fn other_client_ip_headers() {
    for header in ["x-real-ip", "cf-connecting-ip", "true-client-ip"] {
        let gw = start(&format!(
            "client_ip:\n  trusted_proxies: [\"127.0.0.1/32\"]\n  header: {header}\n{}{}",
            full_intel(),
            policies()
        ));
        let r = request(
            gw.addr,
            "POST",
            "/api/apply-coupon",
            &[(header, TOR_EXIT)],
            "x",
        );
        assert_eq!(r.status, 403, "{header}");
        // X-Forwarded-For means nothing when another header is configured
        let r = request(
            gw.addr,
            "POST",
            "/api/apply-coupon",
            &[("X-Forwarded-For", TOR_EXIT)],
            "x",
        );
        assert_eq!(r.status, 200, "{header}");
    }
}

#[test]
fn ipv6_peer_on_an_ipv6_listener() {
    // Where the machine has no IPv6 loopback this test cannot run: it says so, and
    // `make test` counts it as skipped.
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        skip(
            "ipv6_peer_on_an_ipv6_listener",
            "no IPv6 loopback (::1) on this machine",
        );
        return;
    }
    let (origin, seen) = riskgate::demo::echo::spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "gateway.yaml",
        &format!(
            "listen: [\"[::1]:0\"]\nadmin: \"127.0.0.1:0\"\nupstream: \"{origin}\"\nlog: {{ level: warn }}\n{}{}",
            full_intel(),
            policies()
        ),
    );
    let (mut child, at) = spawn_gateway(std::path::Path::new(&cfg), None, &[]);
    let addr = at.listen[0];
    assert!(addr.is_ipv6(), "{addr}");
    let r = request(
        addr,
        "POST",
        "/api/apply-coupon",
        &[("X-Forwarded-For", TOR_EXIT)],
        "x",
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        r.status, 200,
        "::1 is not a trusted proxy here, so it is the client"
    );
    let s = seen.on("/api/apply-coupon").pop().unwrap();
    assert_eq!(s.header("x-risk-client-ip"), Some("::1"));
}

#[test]
fn tor_list_in_the_one_ip_a_line_format() {
    let intel = full_intel().replace(
        &data("tor-exit-addresses.txt"),
        &fixture("torbulkexitlist.txt"),
    );
    let gw = start(&format!(
        "client_ip:\n  trusted_proxies: [\"127.0.0.1/32\"]\n{intel}{}",
        policies()
    ));
    assert_eq!(post_as(&gw, "/api/apply-coupon", TOR_EXIT).status, 403);
    assert_eq!(
        post_as(&gw, "/api/apply-coupon", RESIDENTIAL_SE).status,
        200
    );
}

#[test]
fn a_blocked_request_does_not_break_the_next_one() {
    let gw = standard();
    for i in 0..20 {
        let ip = if i % 2 == 0 { TOR_EXIT } else { RESIDENTIAL_SE };
        let want = if i % 2 == 0 { 403 } else { 200 };
        assert_eq!(
            post_as(&gw, "/api/apply-coupon", ip).status,
            want,
            "request {i}"
        );
    }
    assert_eq!(gw.seen.on("/api/apply-coupon").len(), 10);
}

#[test]
fn accept_language_against_the_country_on_a_real_request() {
    let gw = start(&format!(
        "client_ip:\n  trusted_proxies: [\"127.0.0.1/32\"]\n{}routes:\n  - {{ name: coupon, path: /c, methods: [POST], policy: promo }}\npolicies:\n  promo:\n    mode: shadow\n    checks: {{ language: true, ignore_languages: [en] }}\n",
        full_intel()
    ));
    // 89.160.20.112 is in Sweden (MaxMind's test City database)
    let send = |lang: Option<&str>| {
        let mut h = vec![("X-Forwarded-For", RESIDENTIAL_SE)];
        if let Some(l) = lang {
            h.push(("Accept-Language", l));
        }
        let r = request(gw.addr, "POST", "/c", &h, "");
        assert_eq!(r.status, 200);
        let s = last_seen(&gw, "/c");
        (
            s.header("x-risk-reasons").unwrap_or("").to_string(),
            s.header("x-risk-score").unwrap_or("").to_string(),
        )
    };
    assert_eq!(
        send(Some("ru-RU,ru;q=0.9")),
        ("language_mismatch".into(), "15".into())
    );
    assert_eq!(send(Some("sv-SE,sv;q=0.9")), (String::new(), "0".into()));
    assert_eq!(send(Some("en-US,en;q=0.9")), (String::new(), "0".into()));
    assert_eq!(send(None), (String::new(), "0".into()));
    // explain on the admin port takes the request's headers and says why
    let r = request(
        gw.admin,
        "GET",
        "/explain?ip=89.160.20.112&path=/c&method=POST&header=Accept-Language%3A%20pt-BR",
        &[],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let sig = &v["signals"][0];
    assert_eq!(sig["signal"], "language_mismatch");
    assert!(
        sig["because"]
            .as_str()
            .unwrap()
            .contains("none spoken in SE"),
        "{sig}"
    );
}
