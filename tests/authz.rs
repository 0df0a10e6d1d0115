//! The forward-auth door (`authz`) on the real gateway: asks shaped exactly as nginx
//! `auth_request`, ingress-nginx `auth-url`, Traefik `ForwardAuth` (`X-Forwarded-*`,
//! `forwardBody`) and Envoy ext_authz (`path_prefix`) send them — Traefik and Envoy are
//! not packaged here, so their conventions are tested by their documented shape; nginx
//! and Caddy themselves run in `tests/ingress.rs`. The same requests through the proxy
//! door and the authz door get the same decision.

mod common;

use common::*;

const TOR_EXIT: &str = "185.241.208.232";
const RESIDENTIAL_SE: &str = "89.160.20.112";

fn config() -> String {
    format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
authz: {{ listen: ["127.0.0.1:0"], limit_status: 429 }}
{intel}fields:
  coupon: {{ from: "json:/code", normalize: upper }}
routes:
  - {{ name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }}
  - {{ name: shadowed, path: /shadow, policy: shadow }}
  - {{ name: signup, path: /signup, methods: [POST], policy: limited }}
  - {{ name: body, path: /body, methods: [POST], policy: body }}
policies:
  promo: {{}}
  shadow: {{ mode: shadow }}
  limited:
    limits: [{{ key: ip, rate: 1/min }}]
  body:
    limits: [{{ name: code, key: "field:coupon", rate: 1/min }}]
"#,
        intel = full_intel()
    )
}

/// Ask the authz door at `path` with the ingress's headers (and a body).
fn ask(gw: &Gateway, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    request(gw.authz.expect("authz listens"), "GET", path, headers, body)
}

/// nginx `auth_request` with the documented `proxy_set_header` lines.
fn nginx_ask(gw: &Gateway, method: &str, uri: &str, client: &str) -> Resp {
    ask(
        gw,
        "/authz",
        &[
            ("X-Original-Method", method),
            ("X-Original-URI", uri),
            ("X-Forwarded-For", client),
        ],
        "",
    )
}

const NINE: [&str; 9] = [
    "x-risk-score",
    "x-risk-action",
    "x-risk-reasons",
    "x-risk-client-ip",
    "x-risk-country",
    "x-risk-asn",
    "x-risk-network",
    "x-risk-route",
    "x-risk-mode",
];

#[test]
fn every_ingress_convention_names_the_request_it_asks_about() {
    let gw = start(&config());
    // (path asked, headers): nginx, ingress-nginx, Traefik / Caddy, Envoy
    let url = "https://shop.example/api/apply-coupon?src=mail";
    let asks: [(&str, Vec<(&str, &str)>); 4] = [
        (
            "/authz",
            vec![
                ("X-Original-Method", "POST"),
                ("X-Original-URI", "/api/apply-coupon?src=mail"),
            ],
        ),
        (
            "/authz",
            vec![("X-Original-Method", "POST"), ("X-Original-URL", url)],
        ),
        (
            "/authz",
            vec![
                ("X-Forwarded-Method", "POST"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "shop.example"),
                ("X-Forwarded-Uri", "/api/apply-coupon?src=mail"),
            ],
        ),
        ("/authz/envoy/api/apply-coupon?src=mail", vec![]),
    ];
    for (path, headers) in &asks {
        let envoy = path.starts_with("/authz/envoy");
        let mut h = headers.clone();
        h.push(("X-Forwarded-For", TOR_EXIT));
        // Envoy asks with the original method
        let method = if envoy { "POST" } else { "GET" };
        let r = request(gw.authz.unwrap(), method, path, &h, "");
        assert_eq!(r.status, 403, "{path} {headers:?}: {}", r.body);
        assert!(r.body.contains("RISK_IP_DETECTED"), "{}", r.body);
        assert_eq!(r.header("x-risk-action"), Some("block"));
        assert!(r.header("x-risk-reasons").unwrap().contains("tor"), "{r:?}");
        assert_eq!(r.header("x-risk-client-ip"), Some(TOR_EXIT));
        assert_eq!(r.header("x-risk-route"), Some("coupon"));

        h.pop();
        h.push(("X-Forwarded-For", RESIDENTIAL_SE));
        let r = request(gw.authz.unwrap(), method, path, &h, "");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        for name in NINE {
            assert!(r.header(name).is_some(), "{path}: no {name} in {r:?}");
        }
        assert_eq!(r.header("x-risk-country"), Some("SE"));
        assert_eq!(r.header("x-risk-action"), Some("allow"));
        assert!(
            r.header("x-risk-request-id").is_some_and(|v| !v.is_empty()),
            "{r:?}"
        );
    }
    // every ask was counted under the authz door, none under the proxy's
    let m = |a: &str, door: &str| {
        metric(
            &gw,
            &format!(
                "riskgate_requests_total{{action=\"{a}\",frontend=\"{door}\",route=\"coupon\"}}"
            ),
        )
    };
    assert_eq!(m("block", "authz"), 4.0);
    assert_eq!(m("allow", "authz"), 4.0);
    assert_eq!(m("block", "proxy"), 0.0);
}

#[test]
fn an_ask_that_names_no_request_is_400_saying_what_is_missing() {
    let gw = start(&config());
    let r = ask(
        &gw,
        "/authz",
        &[("X-Original-URI", "/api/apply-coupon")],
        "",
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("no original method"), "{}", r.body);
    let r = ask(&gw, "/authz", &[("X-Forwarded-Method", "POST")], "");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("no original URI"), "{}", r.body);
    // behind Caddy (X-Forwarded-*), a client adds nginx's header naming a harmless path
    let r = ask(
        &gw,
        "/authz",
        &[
            ("X-Forwarded-Method", "POST"),
            ("X-Forwarded-Uri", "/api/apply-coupon"),
            ("X-Original-URI", "/static/logo.png"),
            ("X-Forwarded-For", TOR_EXIT),
        ],
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("name different requests"), "{}", r.body);
    // a path spelled another way is still the route
    let r = nginx_ask(&gw, "POST", "/API/apply-coupon/", TOR_EXIT);
    assert_eq!(r.status, 403);
    let r = nginx_ask(&gw, "POST", "/api//apply%2Dcoupon", TOR_EXIT);
    assert_eq!(r.status, 403);
    let r = ask(&gw, "/elsewhere", &[], "");
    assert_eq!(r.status, 404);
}

#[test]
fn no_route_passes_with_no_headers_and_no_lookups() {
    let gw = start(&config());
    let r = nginx_ask(&gw, "GET", "/static/logo.png", TOR_EXIT);
    assert_eq!(r.status, 200);
    assert!(
        r.headers.iter().all(|(k, _)| !k.starts_with("x-risk-")),
        "{r:?}"
    );
    let body = request(gw.admin, "GET", "/metrics", &[], "").body;
    assert!(
        body.lines()
            .filter(|l| l.starts_with("riskgate_requests_total{"))
            .all(|l| l.ends_with(" 0")),
        "an unmatched ask was counted:\n{body}"
    );
}

#[test]
fn limits_answer_limit_status_with_retry_after_and_shadow_mode_forwards() {
    let gw = start(&config());
    assert_eq!(
        nginx_ask(&gw, "POST", "/signup", RESIDENTIAL_SE).status,
        200
    );
    let r = nginx_ask(&gw, "POST", "/signup", RESIDENTIAL_SE);
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.header("x-risk-reasons"), Some("rate_ip"));
    // the refusal page for an ingress that keeps only the status (nginx)
    let p = request(
        gw.authz.unwrap(),
        "GET",
        &format!("/authz/page?route=signup&retry_after={retry}"),
        &[],
        "",
    );
    assert_eq!(p.status, 429);
    assert_eq!(p.header("retry-after"), Some(retry.to_string().as_str()));
    assert_eq!(p.body, r.body);
    let p = request(
        gw.authz.unwrap(),
        "GET",
        "/authz/page?route=coupon",
        &[],
        "",
    );
    assert_eq!(p.status, 403);
    assert!(p.body.contains("RISK_IP_DETECTED"), "{}", p.body);
    // shadow mode: 200, with the block the app may act on
    let r = nginx_ask(&gw, "POST", "/shadow", TOR_EXIT);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-risk-action"), Some("block"));
    assert_eq!(r.header("x-risk-mode"), Some("shadow"));
}

#[test]
fn a_client_sent_risk_header_never_reaches_the_decision() {
    let gw = start(&config());
    // nginx passes the client's headers on to the ask: forged ones change nothing
    let r = ask(
        &gw,
        "/authz",
        &[
            ("X-Original-Method", "POST"),
            ("X-Original-URI", "/api/apply-coupon"),
            ("X-Forwarded-For", TOR_EXIT),
            ("X-Risk-Action", "allow"),
            ("X-Risk-Client-IP", RESIDENTIAL_SE),
            ("X-Risk-Score", "0"),
        ],
        "",
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.header("x-risk-action"), Some("block"));
    assert_eq!(r.header("x-risk-client-ip"), Some(TOR_EXIT));
    assert_eq!(r.header("x-risk-score"), Some("100"));
}

#[test]
fn a_forwarded_body_is_read_and_a_missing_one_is_absent_in_the_log() {
    let gw = start_logged(&format!(
        "log: {{ level: info, format: json }}\n{}",
        config()
    ));
    let traefik = |body: &str| {
        let mut h = vec![
            ("X-Forwarded-Method", "POST"),
            ("X-Forwarded-Uri", "/body"),
            ("X-Forwarded-For", RESIDENTIAL_SE),
        ];
        if !body.is_empty() {
            h.push(("Content-Type", "application/json"));
        }
        ask(&gw, "/authz", &h, body)
    };
    // Traefik with forwardBody: the code is read, and its limit holds (spelled otherwise too)
    assert_eq!(traefik(r#"{"code":"leaked50"}"#).status, 200);
    let r = traefik(r#"{"code":" LEAKED50 "}"#);
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("x-risk-reasons"), Some("rate:code"));
    // without forwardBody: the field is missing, its limit skipped; the log says so
    for _ in 0..3 {
        assert_eq!(traefik("").status, 200);
    }
    wait_until(10, "the decision lines", || {
        gw.log_text()
            .lines()
            .filter(|l| l.contains(r#""message":"decision""#) && l.contains(r#""path":"/body""#))
            .count()
            >= 5
    });
    let lines: Vec<serde_json::Value> = gw
        .log_text()
        .lines()
        .filter(|l| l.contains(r#""message":"decision""#))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let absent = lines.iter().filter(|l| l["body"] == "absent").count();
    let read = lines.iter().filter(|l| l["body"] == "read").count();
    assert_eq!((read, absent), (2, 3), "{lines:#?}");
    assert!(lines.iter().all(|l| l["frontend"] == "authz"));
    assert!(lines.iter().all(|l| l["method"] == "POST"));
    // a replay of the log decides them again and says which door each came through
    let log = write(gw.dir.path(), "decisions.log", &gw.log_text());
    let out = gw.dir.path().join("out.jsonl");
    let (code, _, err) = run_cli(&[
        "replay",
        "-c",
        gw.config.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        &log,
    ]);
    assert_eq!(code, 0, "{err}");
    let out = std::fs::read_to_string(out).unwrap();
    let replayed: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replayed.len(), 5, "{out}");
    assert!(replayed.iter().all(|l| l["frontend"] == "authz"), "{out}");
    assert_eq!(replayed[1]["action"], "limit", "{out}");
}

/// One table of clients through both doors of one gateway: the same decision, score
/// and reasons, and the same answer.
#[test]
fn the_proxy_door_and_the_authz_door_decide_alike() {
    let gw = start(&config());
    for ip in [
        TOR_EXIT,
        RESIDENTIAL_SE,
        "1.2.0.1",       // VPN
        "71.160.223.5",  // hosting
        "186.30.236.1",  // public proxy
        "6.1.0.4",       // residential proxy
        "149.101.100.1", // mobile
        "81.2.69.160",   // every flag
        "2001:480:3a::1",
    ] {
        for path in ["/api/apply-coupon", "/shadow"] {
            let via_proxy = request(
                gw.addr,
                "POST",
                path,
                &[("X-Forwarded-For", ip)],
                "code=WELCOME10",
            );
            let via_authz = nginx_ask(&gw, "POST", path, ip);
            assert_eq!(via_proxy.status, via_authz.status, "{ip} {path}");
            if via_proxy.status == 200 {
                let seen = last_seen(&gw, path);
                for name in NINE {
                    assert_eq!(
                        seen.header(name),
                        via_authz.header(name),
                        "{ip} {path}: {name}"
                    );
                }
            } else {
                assert_eq!(via_proxy.body, via_authz.body, "{ip} {path}");
            }
        }
    }
}

/// `authz` without `upstream`: a forward-auth service alone, with no proxy door; a
/// `listen` then has nothing to serve and is refused.
#[test]
fn authz_alone_runs_no_proxy_door() {
    let dir = tempfile::tempdir().unwrap();
    let body = config().replace(
        "authz: { listen: [\"127.0.0.1:0\"], limit_status: 429 }",
        "authz: { listen: [\"127.0.0.1:0\"], limit_status: 429 }\nadmin: \"127.0.0.1:0\"\nlog: { level: warn }",
    );
    let cfg = write(dir.path(), "authz.yaml", &body);
    let (mut child, at) = spawn_gateway(std::path::Path::new(&cfg), None, &[]);
    assert!(at.listen.is_empty(), "{at:?}");
    let authz = at.authz[0];
    let r = request(
        authz,
        "GET",
        "/authz",
        &[
            ("X-Original-Method", "POST"),
            ("X-Original-URI", "/api/apply-coupon"),
            ("X-Forwarded-For", TOR_EXIT),
        ],
        "",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = request(
        authz,
        "GET",
        "/authz",
        &[
            ("X-Original-Method", "POST"),
            ("X-Original-URI", "/api/apply-coupon"),
            ("X-Forwarded-For", RESIDENTIAL_SE),
        ],
        "",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-risk-country"), Some("SE"));
    let _ = child.kill();
    let _ = child.wait();
    // a listen with no upstream to forward to is a mistake, named
    let bad = write(
        dir.path(),
        "bad.yaml",
        &format!("listen: \"127.0.0.1:8080\"\n{body}"),
    );
    let (code, _, err) = run_cli(&["check", "-c", &bad]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("listen: is the proxy's, which needs `upstream`"),
        "{err}"
    );
}
