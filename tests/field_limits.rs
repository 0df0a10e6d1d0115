//! Field limits on the real gateway with a real origin: one coupon code limited however
//! many addresses it rotates through, one referral code per /24, `rate:NAME` in the
//! reasons, metrics and the decision log (as a keyed hash, stable across restarts with
//! a `hash_key`), and the state kept across a config reload that leaves it unchanged.

mod common;

use common::*;

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn config(hash_key: &str) -> String {
    format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
{hash_key}fields:
  coupon: {{ from: "json:/code", normalize: upper }}
  referral: query:ref
routes:
  - {{ name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }}
  - {{ name: signup, path: /signup, methods: [POST], policy: signup }}
  - {{ name: trial, path: /trial, methods: [POST], policy: trial }}
policies:
  promo:
    limits:
      - {{ key: field:coupon, rate: 3/day }}
  signup:
    limits:
      - {{ key: [field:referral, subnet], rate: 5/hour, name: referral_subnet }}
  trial:
    mode: shadow
    weights: {{ rate:coupon: 10 }}
    limits:
      - {{ key: field:coupon, rate: 1/day }}
"#
    )
}

fn redeem(gw: &Gateway, path: &str, ip: &str, body: &str) -> Resp {
    request(
        gw.addr,
        "POST",
        path,
        &[("X-Forwarded-For", ip), JSON],
        body,
    )
}

#[test]
fn one_coupon_code_is_limited_across_rotating_addresses() {
    let gw = start(&config(""));
    // three uses from three networks, each allowed and forwarded
    for (i, ip) in ["203.0.113.7", "198.51.100.20", "192.0.2.33"]
        .iter()
        .enumerate()
    {
        let r = redeem(&gw, "/api/apply-coupon", ip, r#"{"code":"SAVE20"}"#);
        assert_eq!(r.status, 200, "use {}: {}", i + 1, r.body);
    }
    let arrived = gw.seen.arrivals();
    // the fourth, from a fresh address, spelled in lower case and with other JSON
    // around it: the same code after normalisation
    let r = redeem(
        &gw,
        "/api/apply-coupon",
        "100.64.9.9",
        r#"{ "cart": [1, 2], "code": "save20" }"#,
    );
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (7 * 3600..=8 * 3600).contains(&retry),
        "a token every 8 h: {retry}"
    );
    assert_eq!(gw.seen.arrivals(), arrived, "the origin never saw it");
    // another code, and a request without one, pass
    let r = redeem(
        &gw,
        "/api/apply-coupon",
        "100.64.9.9",
        r#"{"code":"OTHER"}"#,
    );
    assert_eq!(r.status, 200);
    let r = redeem(&gw, "/api/apply-coupon", "100.64.9.9", r#"{"cart":[]}"#);
    assert_eq!(r.status, 200);
    assert_eq!(
        metric(
            &gw,
            r#"riskgate_signals_total{route="coupon",signal="rate:coupon"}"#
        ),
        1.0
    );
    assert_eq!(
        metric(
            &gw,
            r#"riskgate_requests_total{action="limit",frontend="proxy",route="coupon"}"#
        ),
        1.0
    );
    wait_until(10, "the limiter gauge", || {
        metric(&gw, r#"riskgate_limiter_keys{key="coupon"}"#) == 2.0
    });
}

#[test]
fn one_referral_code_per_subnet() {
    let gw = start(&config(""));
    let signup = |ip: &str, code: &str| {
        request(
            gw.addr,
            "POST",
            &format!("/signup?ref={code}"),
            &[("X-Forwarded-For", ip)],
            "email=a@example.com",
        )
        .status
    };
    // a Sybil farm on one /24: five sign-ups, then the sixth is limited
    for i in 1..=5 {
        assert_eq!(signup(&format!("198.51.100.{i}"), "FRIEND-42"), 200, "{i}");
    }
    assert_eq!(signup("198.51.100.77", "FRIEND-42"), 429);
    // the same code from another /24, and another code from the farm, are apart
    assert_eq!(signup("198.51.101.1", "FRIEND-42"), 200);
    assert_eq!(signup("198.51.100.78", "FRIEND-43"), 200);
    // no code: the limit does not apply
    for _ in 0..7 {
        assert_eq!(
            request(
                gw.addr,
                "POST",
                "/signup",
                &[("X-Forwarded-For", "198.51.100.79")],
                ""
            )
            .status,
            200
        );
    }
}

#[test]
fn in_shadow_mode_the_limit_is_reported_and_forwarded() {
    let gw = start(&config(""));
    let r = redeem(&gw, "/trial", "203.0.113.7", r#"{"code":"T1"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(last_seen(&gw, "/trial").header("x-risk-reasons"), Some(""));
    let r = redeem(&gw, "/trial", "203.0.113.8", r#"{"code":"T1"}"#);
    assert_eq!(r.status, 200, "shadow mode forwards");
    let seen = last_seen(&gw, "/trial");
    assert_eq!(seen.header("x-risk-reasons"), Some("rate:coupon"));
    assert_eq!(seen.header("x-risk-action"), Some("block"));
    assert_eq!(seen.header("x-risk-score"), Some("10"));
}

#[test]
fn the_state_survives_a_reload_that_leaves_the_limit_unchanged() {
    let gw = start(&config(""));
    for ip in ["203.0.113.7", "198.51.100.20", "192.0.2.33"] {
        assert_eq!(
            redeem(&gw, "/api/apply-coupon", ip, r#"{"code":"KEEP"}"#).status,
            200
        );
    }
    let text = std::fs::read_to_string(&gw.config).unwrap();
    std::fs::write(
        &gw.config,
        text.replace(
            "routes:",
            "routes:\n  - { name: other, path: /other, policy: promo }",
        ),
    )
    .unwrap();
    assert_eq!(request(gw.admin, "POST", "/reload", &[], "").status, 200);
    assert_eq!(
        redeem(&gw, "/api/apply-coupon", "100.64.1.1", r#"{"code":"KEEP"}"#).status,
        429,
        "the reload kept the code's bucket"
    );
}

/// The decision log's `ids` field of the first decision line for `path`.
fn logged_ids(gw: &Gateway, path: &str) -> String {
    let mut ids = String::new();
    wait_until(10, "the decision line", || {
        if let Some(l) = gw
            .log_text()
            .lines()
            .filter(|l| l.contains("\"message\":\"decision\""))
            .find(|l| l.contains(&format!("\"path\":\"{path}\"")))
        {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            ids = v["ids"].as_str().unwrap().to_string();
        }
        !ids.is_empty()
    });
    ids
}

#[test]
fn the_log_holds_keyed_hashes_stable_under_one_hash_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(
        dir.path(),
        "hash.key",
        "9f2c4e1a7b3d5f60818293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e\n",
    );
    let with_key = format!(
        "log: {{ level: info }}\n{}",
        config(&format!("hash_key: {key}\n"))
    );
    let run = || {
        let gw = start_logged(&with_key);
        redeem(
            &gw,
            "/api/apply-coupon",
            "203.0.113.7",
            r#"{"code":"SAVE20"}"#,
        );
        logged_ids(&gw, "/api/apply-coupon")
    };
    let first = run();
    let hash = first
        .strip_prefix("coupon=")
        .unwrap_or_else(|| panic!("{first}"));
    assert_eq!(hash.len(), 16, "{first}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{first}");
    assert!(!first.contains("SAVE20"), "never the value itself");
    assert_eq!(run(), first, "a restart with the same key hashes alike");

    // without a key file each process has its own key
    let gw = start_logged(&format!("log: {{ level: info }}\n{}", config("")));
    redeem(
        &gw,
        "/api/apply-coupon",
        "203.0.113.7",
        r#"{"code":"SAVE20"}"#,
    );
    assert_ne!(logged_ids(&gw, "/api/apply-coupon"), first);

    // a key file that is too short is a config error with its place
    let short = write(dir.path(), "short.key", "tooshort\n");
    let cfg = write(
        dir.path(),
        "gw.yaml",
        &format!("upstream: 127.0.0.1:3000\nhash_key: {short}\n"),
    );
    let (code, _, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("gw.yaml:2:1: hash_key:") && err.contains("at least 16"),
        "{err}"
    );
}
