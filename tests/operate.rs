//! What an operator sees: the decision log, the metrics, explain over HTTP and the
//! CLI table, health and readiness, and a graceful stop.

mod common;
use common::*;

use std::time::Duration;

fn policies() -> &'static str {
    "routes:\n  - { name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }\npolicies:\n  promo:\n    limits: [{ key: ip, rate: 3/hour }]\n"
}

fn logged(log: &str) -> Gateway {
    start_logged(&format!(
        "log: {log}\nclient_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}{}",
        full_intel(),
        policies()
    ))
}

fn decision_lines(gw: &Gateway) -> Vec<serde_json::Value> {
    gw.log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "decision")
        .collect()
}

/// Send a matched request with `X-Request-Id: marker` from `client` and wait for its
/// decision line: the requests sent before it have had their turn to log.
fn mark_the_end(gw: &Gateway, client: &str) {
    request(
        gw.addr,
        "POST",
        "/api/apply-coupon",
        &[("X-Forwarded-For", client), ("X-Request-Id", "marker")],
        "x",
    );
    wait_until(5, "the marker line", || {
        decision_lines(gw)
            .iter()
            .any(|l| l["request_id"] == "marker")
    });
}

#[test]
fn one_json_decision_line_per_matched_request() {
    let gw = logged("{ level: info, format: json }");
    post_as(&gw, "/api/apply-coupon", "89.160.20.112");
    request(
        gw.addr,
        "POST",
        "/api/apply-coupon",
        &[
            ("X-Forwarded-For", "185.241.208.232"),
            ("X-Request-Id", "req-42"),
        ],
        "x",
    );
    request(
        gw.addr,
        "GET",
        "/products",
        &[("X-Forwarded-For", "185.241.208.232")],
        "",
    );
    // a last matched request marks the end: once its line is there, the unmatched
    // request before it would have been logged too
    mark_the_end(&gw, "89.160.20.112");
    let lines: Vec<_> = decision_lines(&gw)
        .into_iter()
        .filter(|l| l["request_id"] != "marker")
        .collect();
    assert_eq!(lines.len(), 2, "unmatched paths are not logged: {lines:?}");
    let allow = &lines[0];
    for field in [
        "timestamp",
        "route",
        "client_ip",
        "country",
        "asn",
        "score",
        "action",
        "reasons",
        "mode",
        "latency_us",
        "decision_us",
        "request_id",
        "status",
    ] {
        assert!(!allow[field].is_null(), "missing {field}: {allow}");
    }
    assert_eq!(allow["route"], "coupon");
    assert_eq!(allow["client_ip"], "89.160.20.112");
    assert_eq!(allow["country"], "SE");
    assert_eq!(allow["asn"], 29518);
    assert_eq!(allow["action"], "allow");
    assert_eq!(allow["status"], 200);
    let block = &lines[1];
    assert_eq!(block["action"], "block");
    assert_eq!(block["reasons"], "tor,hosting");
    assert_eq!(block["score"], 100);
    assert_eq!(block["status"], 403);
    assert_eq!(block["request_id"], "req-42");
    assert_eq!(block["mode"], "enforce");
}

#[test]
fn allow_decisions_can_be_sampled_but_blocks_never_are() {
    let gw = logged("{ level: info, allow_sample: 0.0 }");
    for _ in 0..3 {
        post_as(&gw, "/api/apply-coupon", "89.160.20.112");
    }
    post_as(&gw, "/api/apply-coupon", "185.241.208.232");
    // a second block marks the end: the allows before it had their chance to log
    mark_the_end(&gw, "185.241.208.232");
    let lines = decision_lines(&gw);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["action"] == "block"), "{lines:?}");
}

#[test]
fn pretty_format_is_human_text() {
    let gw = logged("{ level: info, format: pretty }");
    post_as(&gw, "/api/apply-coupon", "185.241.208.232");
    // the decision line (not riskgate's other lines, such as "decisions loaded")
    let is_decision = |l: &&str| l.contains("riskgate::decision:");
    wait_until(5, "a pretty line", || {
        gw.log_text().lines().any(|l| is_decision(&l))
    });
    let text = gw.log_text();
    let line = text.lines().find(is_decision).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(line).is_err(),
        "{line}"
    );
    assert!(
        line.contains("route=\"coupon\"") || line.contains("route=coupon"),
        "{line}"
    );
}

#[test]
fn metrics_cover_requests_signals_latency_sources_and_limiters() {
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}{}",
        full_intel(),
        policies()
    ));
    for _ in 0..4 {
        post_as(&gw, "/api/apply-coupon", "89.160.20.112");
    }
    post_as(&gw, "/api/apply-coupon", "185.241.208.232");
    post_as(&gw, "/api/apply-coupon", "1.2.0.1");
    let r = request(gw.admin, "GET", "/metrics", &[], "");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let m = |s: &str| metric(&gw, s);
    assert_eq!(
        m("riskgate_requests_total{action=\"allow\",frontend=\"proxy\",route=\"coupon\"}"),
        3.0
    );
    assert_eq!(
        m("riskgate_requests_total{action=\"limit\",frontend=\"proxy\",route=\"coupon\"}"),
        1.0
    );
    assert_eq!(
        m("riskgate_requests_total{action=\"block\",frontend=\"proxy\",route=\"coupon\"}"),
        1.0
    );
    assert_eq!(
        m("riskgate_requests_total{action=\"verify\",frontend=\"proxy\",route=\"coupon\"}"),
        1.0
    );
    assert_eq!(
        m("riskgate_signals_total{route=\"coupon\",signal=\"tor\"}"),
        1.0
    );
    assert_eq!(
        m("riskgate_signals_total{route=\"coupon\",signal=\"vpn\"}"),
        1.0
    );
    assert_eq!(
        m("riskgate_signals_total{route=\"coupon\",signal=\"rate_ip\"}"),
        1.0
    );
    assert_eq!(m("riskgate_decision_seconds_count"), 6.0);
    assert_eq!(m("riskgate_tor_exits"), 1174.0);
    assert_eq!(m("riskgate_ready"), 1.0);
    assert!(m("riskgate_limiter_keys{key=\"ip\"}") >= 2.0);
    assert!(r
        .body
        .contains("riskgate_source_age_seconds{source=\"geo\"}"));
    assert!(r
        .body
        .contains("riskgate_source_age_seconds{source=\"list:hosting\"}"));
    assert!(r.body.contains("riskgate_decision_seconds_bucket{le="));
    // label values are bounded: never an address
    for ip in ["89.160.20.112", "185.241.208.232", "1.2.0.1"] {
        assert!(!r.body.contains(ip), "{ip} leaked into a label");
    }
}

#[test]
fn explain_over_http_takes_no_tokens() {
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}{}",
        full_intel(),
        policies()
    ));
    for _ in 0..10 {
        let r = request(
            gw.admin,
            "GET",
            "/explain?ip=89.160.20.112&path=/api/apply-coupon&method=POST",
            &[],
            "",
        );
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["route"], "coupon");
        assert_eq!(v["facts"]["country"]["value"], "SE");
        assert_eq!(v["facts"]["asn"]["value"], 29518);
        assert_eq!(v["action"], "allow");
    }
    // three real requests still pass the 3/hour limit
    for i in 0..3 {
        assert_eq!(
            post_as(&gw, "/api/apply-coupon", "89.160.20.112").status,
            200,
            "{i}"
        );
    }
    let r = request(
        gw.admin,
        "GET",
        "/explain?ip=185.241.208.232&path=%2Fapi%2Fapply-coupon&method=post",
        &[],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["action"], "block");
    let sig: Vec<&str> = v["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal"].as_str().unwrap())
        .collect();
    assert_eq!(sig, ["tor", "hosting"]);
    assert_eq!(v["signals"][0]["because"], "Tor exit set");
    assert_eq!(
        request(gw.admin, "GET", "/explain?ip=nope", &[], "").status,
        400
    );
    let r = request(
        gw.admin,
        "GET",
        "/explain?ip=89.160.20.112&path=/products",
        &[],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert!(v["route"].is_null());
}

#[test]
fn health_and_readiness() {
    let gw = start(&format!("{}{}", full_intel(), policies()));
    let r = request(gw.admin, "GET", "/healthz", &[], "");
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    let r = request(gw.admin, "GET", "/readyz", &[], "");
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["ready"], true);
    assert_eq!(v["sources"].as_array().unwrap().len(), 9);
    assert_eq!(request(gw.admin, "GET", "/nope", &[], "").status, 404);
}

#[test]
fn explain_table_for_a_terminal() {
    let cfg = root().join("gateway.yaml");
    let (code, out, err) = run_cli(&[
        "explain",
        "-c",
        cfg.to_str().unwrap(),
        "185.241.208.232",
        "--path",
        "/api/apply-coupon",
        "--method",
        "POST",
        "--table",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("route       coupon (policy promo, enforce)"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("tor")
            && l.contains("100")
            && l.contains("Tor exit set")),
        "{out}"
    );
    assert!(
        out.contains("action      block → answered by riskgate with on_block"),
        "{out}"
    );
}

#[test]
fn sigterm_drains_in_flight_requests() {
    let mut gw = start(&format!(
        "grace_period: 3s\nclient_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}{}",
        full_intel(),
        policies()
    ));
    let addr = gw.addr;
    // a request the origin answers only after 1.5 s
    let slow = std::thread::spawn(move || {
        request(
            addr,
            "POST",
            "/api/apply-coupon",
            &[
                ("X-Forwarded-For", "89.160.20.112"),
                ("x-echo-delay-ms", "1500"),
            ],
            "x",
        )
    });
    wait_until(10, "the slow request at the origin", || {
        gw.seen.arrivals() >= 1
    });
    signal(&gw, "TERM");
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200, "the in-flight request completed");
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(s) = gw.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn zero_downtime_upgrade_hands_over_the_listening_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("upgrade.sock");
    let mut old = start(&format!(
        "grace_period: 2s\nupgrade_sock: {}\nclient_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}{}",
        sock.display(),
        full_intel(),
        policies()
    ));
    // the new process takes the same addresses: the ones the old one bound for port 0
    let text = std::fs::read_to_string(&old.config)
        .unwrap()
        .replacen("127.0.0.1:0", &old.addr.to_string(), 1)
        .replacen("127.0.0.1:0", &old.admin.to_string(), 1);
    std::fs::write(&old.config, text).unwrap();
    let addr = old.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let load = {
        let (stop, served) = (stop.clone(), served.clone());
        std::thread::spawn(move || {
            let mut failed = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // a new connection every time: a refused connect would show a gap
                match std::panic::catch_unwind(|| {
                    request(
                        addr,
                        "POST",
                        "/api/apply-coupon",
                        &[("X-Forwarded-For", "89.160.20.112")],
                        "x",
                    )
                }) {
                    Ok(r) if r.status == 200 || r.status == 429 => {
                        served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Ok(r) => failed.push(format!("{} {}", r.status, r.body)),
                    Err(_) => failed.push("no response".into()),
                }
                // pacing the load, not waiting for anything
                std::thread::sleep(Duration::from_millis(5));
            }
            failed
        })
    };
    let count = || served.load(std::sync::atomic::Ordering::SeqCst);
    wait_until(10, "load flowing through the old process", || count() > 10);
    let (mut new, lines) = launch(&old.config, None, &["--upgrade"]);
    // the new process waits for the sockets on the upgrade socket: hand them over
    wait_until(20, "the new process on the upgrade socket", || {
        sock.exists()
    });
    signal(&old, "QUIT");
    let at = await_listening(&mut new, &lines);
    assert_eq!(at.listen, vec![addr]);
    let t0 = std::time::Instant::now();
    while old.child.try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the old process did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after_exit = count();
    wait_until(10, "load served by the new process alone", || {
        count() > after_exit + 20
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let failed = load.join().unwrap();
    // the new process serves on the same address
    let r = post_as(&old, "/api/apply-coupon", "185.241.208.232");
    let _ = new.kill();
    let _ = new.wait();
    assert_eq!(r.status, 403);
    assert!(
        failed.is_empty(),
        "{} failed during the upgrade: {:?}",
        failed.len(),
        failed.first()
    );
}
