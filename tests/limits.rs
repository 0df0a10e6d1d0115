//! Rate limits over real HTTP: the real gateway, a real origin, MaxMind's test DBs.

mod common;
use common::*;

fn gw(policy: &str) -> Gateway {
    start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}routes:\n  - {{ name: c, path: /c, policy: p }}\npolicies:\n  p:\n{}",
        full_intel(),
        policy.lines().map(|l| format!("    {l}\n")).collect::<String>()
    ))
}

#[test]
fn the_sixth_request_of_one_ip_at_5_per_min_gets_429_with_retry_after() {
    let g = gw("limits: [{ key: ip, rate: 5/min }]");
    for i in 0..5 {
        assert_eq!(
            post_as(&g, "/c", "89.160.20.112").status,
            200,
            "request {i}"
        );
    }
    let r = post_as(&g, "/c", "89.160.20.112");
    assert_eq!(r.status, 429);
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&ra), "Retry-After {ra}");
    assert!(r.body.contains("RISK_RATE_LIMITED"), "{}", r.body);
    assert_eq!(g.seen.on("/c").len(), 5, "the 429 never reached the origin");
    // another client is not affected
    assert_eq!(post_as(&g, "/c", "89.160.20.113").status, 200);
}

#[test]
fn a_24_shares_one_bucket_and_its_neighbour_does_not() {
    let g = gw("limits: [{ key: subnet, rate: 20/hour }]");
    for i in 1..=20 {
        assert_eq!(
            post_as(&g, "/c", &format!("89.160.20.{}", 100 + i)).status,
            200,
            "{i}"
        );
    }
    let r = post_as(&g, "/c", "89.160.20.121");
    assert_eq!(r.status, 429);
    assert_eq!(
        post_as(&g, "/c", "89.160.21.1").status,
        200,
        "the neighbouring /24"
    );
}

#[test]
fn an_ipv6_48_shares_one_bucket() {
    let g = gw("limits: [{ key: subnet, rate: 20/hour }]");
    for i in 0..20 {
        // a different /64 every time: rotation inside one /48 does not help
        assert_eq!(
            post_as(&g, "/c", &format!("2a02:d440:1:{i:x}::1")).status,
            200,
            "{i}"
        );
    }
    assert_eq!(post_as(&g, "/c", "2a02:d440:1:ff::7").status, 429);
    assert_eq!(
        post_as(&g, "/c", "2a02:d440:2::1").status,
        200,
        "the next /48"
    );
}

#[test]
fn one_asns_many_subnets_hit_the_asn_limit() {
    // AS7018 (AT&T) owns many networks in GeoLite2-ASN-Test
    let g = gw("limits: [{ key: asn, rate: 3/hour }]");
    for ip in ["12.81.92.1", "12.81.96.1", "12.82.0.1"] {
        assert_eq!(post_as(&g, "/c", ip).status, 200, "{ip}");
    }
    let r = post_as(&g, "/c", "12.84.0.1");
    assert_eq!(r.status, 429);
    // another AS is not affected; an address with no ASN is not ASN-limited
    assert_eq!(post_as(&g, "/c", "89.160.20.112").status, 200);
    for _ in 0..5 {
        assert_eq!(
            post_as(&g, "/c", "81.2.69.160").status,
            403,
            "blocked for its score, not limited"
        );
    }
}

#[test]
fn a_cellular_client_gets_the_multiplied_limit() {
    // 149.101.100.0/28 is Cellular in GeoIP2-Connection-Type-Test
    let g = gw("mobile_multiplier: 10\nlimits: [{ key: ip, rate: 2/min }]");
    for i in 0..20 {
        let r = post_as(&g, "/c", "149.101.100.1");
        assert_eq!(r.status, 200, "request {i}");
    }
    assert_eq!(post_as(&g, "/c", "149.101.100.1").status, 429);
    assert_eq!(last_seen(&g, "/c").header("x-risk-network"), Some("mobile"));
    // a fixed-line client keeps the plain limit
    for _ in 0..2 {
        assert_eq!(post_as(&g, "/c", "89.160.20.112").status, 200);
    }
    assert_eq!(post_as(&g, "/c", "89.160.20.112").status, 429);
}

#[test]
fn shadow_mode_only_reports_limits() {
    let g = gw("mode: shadow\nlimits: [{ key: ip, rate: 1/min }]");
    assert_eq!(post_as(&g, "/c", "89.160.20.112").status, 200);
    let r = post_as(&g, "/c", "89.160.20.112");
    assert_eq!(r.status, 200);
    let s = last_seen(&g, "/c");
    assert_eq!(s.header("x-risk-reasons"), Some("rate_ip"));
    assert_eq!(s.header("x-risk-action"), Some("block"));
    assert_eq!(s.header("x-risk-mode"), Some("shadow"));
}

#[test]
fn requests_blocked_for_their_score_take_no_tokens() {
    // hosting weighs 30 here, so the datacenter neighbours below are verified, not blocked
    let g = gw("weights: { tor: 100, hosting: 30 }\nlimits: [{ key: subnet, rate: 2/hour }]");
    // a Tor exit, blocked five times by score...
    for _ in 0..5 {
        assert_eq!(post_as(&g, "/c", "185.241.208.232").status, 403);
    }
    // ...has not spent its /24's budget: two neighbours still pass (as verify: datacenter)
    assert_eq!(post_as(&g, "/c", "185.241.208.10").status, 200);
    assert_eq!(post_as(&g, "/c", "185.241.208.11").status, 200);
    assert_eq!(post_as(&g, "/c", "185.241.208.12").status, 429);
}

#[test]
fn custom_on_limit_response() {
    let g = gw("limits: [{ key: ip, rate: 1/hour }]\non_limit: { status: 503, body: 'slow down', content_type: text/plain }");
    assert_eq!(post_as(&g, "/c", "89.160.20.112").status, 200);
    let r = post_as(&g, "/c", "89.160.20.112");
    assert_eq!(r.status, 503);
    assert_eq!(r.body, "slow down");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(ra > 3500 && ra <= 3600, "{ra}");
}
