//! Limits and hopping shared through a real `redis-server`: two gateways limit exactly
//! like one; Redis killed and restarted under each `on_error`; Redis paused past the
//! timeout; a reload that keeps `cluster` keeps the connection; `check` pings.

mod common;

use std::time::{Duration, Instant};

use common::redis_server::{available, RedisServer};
use common::*;

/// The secret every replica shares, so that they hash identifiers alike.
const HASH_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978";

/// The key file every gateway of this test binary reads, written once: tests run in
/// parallel, and rewriting it (truncate, then write) let a starting gateway read it empty.
fn shared_key_file() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("riskgate-cluster-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, "hash.key", HASH_KEY)
    })
}

fn config(redis: &str, prefix: &str, on_error: &str, timeout: &str) -> String {
    let key = shared_key_file();
    format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
hash_key: {key}
intel:
  mmdb: {{ geo: {geo} }}
cluster: {{ redis: "{redis}", prefix: "{prefix}", timeout: {timeout}, on_error: {on_error} }}
fields:
  coupon: {{ from: "json:/code", normalize: upper }}
  device: cookie:device_id
routes:
  - {{ name: ip, path: /ip, methods: [POST], policy: ip }}
  - {{ name: coupon, path: /coupon, methods: [POST], policy: coupon }}
  - {{ name: hop, path: /hop, methods: [POST], policy: hop }}
  - {{ name: spread, path: /spread, methods: [POST], policy: spread }}
policies:
  ip:
    limits: [{{ key: ip, rate: 6/hour }}]
  coupon:
    limits: [{{ key: field:coupon, rate: 4/hour }}]
  hop:
    mode: shadow
    checks: {{ hopping: {{ key: device, window: 24h, max_countries: 2 }} }}
  spread:
    mode: shadow
    checks: {{ spread: {{ key: device, by: subnet, window: 1h, max_networks: 3 }} }}
"#,
        geo = data("GeoIP2-City-Test.mmdb"),
    )
}

fn up(gw: &Gateway) -> bool {
    metric(gw, "riskgate_cluster_up") == 1.0
}

/// Whether the gateway is connected, after a request (any) that makes it connect: the
/// connection is made on the proxy's own runtime when traffic first arrives.
fn connected(gw: &Gateway) -> bool {
    request(gw.addr, "GET", "/not-a-route", &[], "");
    up(gw)
}

fn calls(gw: &Gateway, result: &str) -> f64 {
    metric(
        gw,
        &format!(r#"riskgate_cluster_calls_total{{result="{result}"}}"#),
    )
}

fn post(gw: &Gateway, path: &str, ip: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    let mut h = vec![
        ("X-Forwarded-For", ip),
        ("Content-Type", "application/json"),
    ];
    h.extend_from_slice(headers);
    request(gw.addr, "POST", path, &h, body).status
}

#[test]
fn two_gateways_on_one_redis_limit_exactly_like_one() {
    if !available("two_gateways_on_one_redis_limit_exactly_like_one") {
        return;
    }
    let redis = RedisServer::start();
    let cfg = config(&redis.url(), "shop:", "local", "250ms");
    let (a, b) = (start(&cfg), start(&cfg));
    wait_until(10, "both gateways connected", || {
        connected(&a) && connected(&b)
    });

    // one address, alternating replicas: 6 an hour in all, not 6 each
    let mut admitted = 0;
    for i in 0..12 {
        let gw = if i % 2 == 0 { &a } else { &b };
        if post(gw, "/ip", "203.0.113.7", &[], "") == 200 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 6);
    // Retry-After from the shared bucket
    let r = request(
        b.addr,
        "POST",
        "/ip",
        &[("X-Forwarded-For", "203.0.113.7")],
        "",
    );
    assert_eq!(r.status, 429);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=600).contains(&retry),
        "one token every 10 min: {retry}"
    );

    // one coupon code from rotating addresses across both replicas: 4 an hour in all
    let codes: Vec<u16> = (0..8)
        .map(|i| {
            let gw = if i % 2 == 0 { &a } else { &b };
            post(
                gw,
                "/coupon",
                &format!("198.51.100.{i}"),
                &[],
                r#"{"code":"save20"}"#,
            )
        })
        .collect();
    assert_eq!(codes.iter().filter(|&&s| s == 200).count(), 4, "{codes:?}");

    // the keys are the prefix's, and none holds the code itself
    let keys = redis.cli(&["--scan", "--pattern", "*"]);
    assert!(keys.lines().all(|k| k.starts_with("shop:")), "{keys}");
    assert!(!keys.to_lowercase().contains("save20"), "{keys}");

    // one device seen from three countries, one per replica and back
    let hop = |gw: &Gateway, ip: &str| {
        assert_eq!(
            post(gw, "/hop", ip, &[("Cookie", "device_id=dev-9")], ""),
            200
        );
        last_seen(gw, "/hop")
            .header("x-risk-reasons")
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(hop(&a, "89.160.20.112"), ""); // Sweden
    assert_eq!(hop(&b, "2.125.160.216"), ""); // Great Britain
    assert_eq!(hop(&a, "216.160.83.56"), "country_hopping"); // the United States
                                                             // the other replica's explain reads the shared records (and records nothing)
    let r = request(
        b.admin,
        "GET",
        "/explain?ip=89.160.20.112&path=/hop&method=POST&header=Cookie%3A%20device_id%3Ddev-9",
        &[],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["signals"][0]["signal"], "country_hopping", "{}", r.body);
    assert!(calls(&a, "ok") > 0.0 && calls(&b, "ok") > 0.0);

    // one device's networks, replica after replica: more than three /24s is spread
    let spread = |gw: &Gateway, ip: &str| {
        assert_eq!(
            post(gw, "/spread", ip, &[("Cookie", "device_id=farm-1")], ""),
            200
        );
        last_seen(gw, "/spread")
            .header("x-risk-reasons")
            .unwrap_or("")
            .to_string()
    };
    for (i, net) in ["198.51.100", "203.0.113", "192.0.2"].iter().enumerate() {
        let gw = if i % 2 == 0 { &a } else { &b };
        assert_eq!(spread(gw, &format!("{net}.9")), "", "{net}");
    }
    assert_eq!(spread(&b, "198.18.0.9"), "network_spread");
    // memory fixed per key: after 20 more networks the shared record holds four
    for n in 0..20 {
        spread(&a, &format!("198.18.{}.9", n + 1));
    }
    let keys = redis.cli(&["--scan", "--pattern", "shop:spread:subnets0:*"]);
    let key = keys.lines().next().expect("the spread key in Redis");
    assert_eq!(redis.cli(&["HLEN", key]).trim(), "4", "{key}");
}

/// Two replicas just started, asked before anything else: the first request of each
/// waits for its connection instead of deciding on its own buckets.
#[test]
fn a_new_replica_is_exact_from_its_first_request() {
    if !available("a_new_replica_is_exact_from_its_first_request") {
        return;
    }
    let redis = RedisServer::start();
    let cfg = config(&redis.url(), "fresh:", "local", "2s").replace("6/hour", "5/min");
    for round in 0..3 {
        let (a, b) = (start(&cfg), start(&cfg));
        let ip = format!("203.0.113.{round}");
        // no request before these, no wait for the connection
        let admitted = (0..10)
            .filter(|i| post(if i % 2 == 0 { &a } else { &b }, "/ip", &ip, &[], "") == 200)
            .count();
        assert_eq!(admitted, 5, "round {round}");
        assert_eq!(calls(&a, "error") + calls(&b, "error"), 0.0);
        assert!(up(&a) && up(&b));
    }
}

/// A replica whose Redis is not there is not ready; it becomes ready once Redis is.
#[test]
fn not_ready_until_the_cluster_is_connected() {
    if !available("not_ready_until_the_cluster_is_connected") {
        return;
    }
    let mut redis = RedisServer::not_started();
    let gw = start(&config(&redis.url(), "late:", "local", "25ms"));
    let readyz = |gw: &Gateway| request(gw.admin, "GET", "/readyz", &[], "");
    let r = readyz(&gw);
    assert_eq!(r.status, 503, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["cluster"]["connected"], false, "{}", r.body);
    assert_eq!(metric(&gw, "riskgate_ready"), 0.0);
    // meanwhile a request does not wait for a connection that failed: on_error local
    assert_eq!(post(&gw, "/ip", "203.0.113.50", &[], ""), 200);
    redis.restart();
    wait_until(20, "ready once Redis is up", || readyz(&gw).status == 200);
    let v: serde_json::Value = serde_json::from_str(&readyz(&gw).body).unwrap();
    assert_eq!(v["cluster"]["connected"], true);
}

#[test]
fn a_flood_on_an_exhausted_key_costs_redis_nothing() {
    if !available("a_flood_on_an_exhausted_key_costs_redis_nothing") {
        return;
    }
    let redis = RedisServer::start();
    let gw = start(&config(&redis.url(), "flood:", "local", "250ms"));
    wait_until(10, "connected", || connected(&gw));
    for _ in 0..6 {
        assert_eq!(post(&gw, "/ip", "192.0.2.50", &[], ""), 200);
    }
    let ok_before = calls(&gw, "ok");
    let scripts_before = scripts_run(&redis);
    for _ in 0..50 {
        assert_eq!(post(&gw, "/ip", "192.0.2.50", &[], ""), 429);
    }
    // the first 429 came from Redis; the other 49 from the key known to be exhausted
    assert_eq!(calls(&gw, "ok") - ok_before, 1.0);
    assert_eq!(calls(&gw, "cached"), 49.0);
    // Redis ran one script for those 50 requests
    assert_eq!(scripts_run(&redis) - scripts_before, 1);
}

/// Scripts Redis has run (`EVALSHA` and `EVAL` calls, from `INFO commandstats`).
fn scripts_run(redis: &RedisServer) -> u64 {
    redis
        .cli(&["INFO", "commandstats"])
        .lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| {
            l.split("calls=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

#[test]
fn redis_killed_and_restarted_under_each_on_error() {
    if !available("redis_killed_and_restarted_under_each_on_error") {
        return;
    }
    let mut redis = RedisServer::start();
    let local = start(&config(&redis.url(), "l:", "local", "100ms"));
    let allow = start(&config(&redis.url(), "a:", "allow", "100ms"));
    let block = start(&config(&redis.url(), "b:", "block", "100ms"));
    let gws = [&local, &allow, &block];
    wait_until(10, "all connected", || gws.iter().all(|g| connected(g)));
    for g in gws {
        assert_eq!(post(g, "/ip", "192.0.2.1", &[], ""), 200);
    }

    redis.stop();
    // local: this replica's own limits (a fresh bucket of 6), then 429
    let statuses: Vec<u16> = (0..8)
        .map(|_| post(&local, "/ip", "192.0.2.2", &[], ""))
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 429, 429]);
    // allow: no limit while Redis is down
    assert!((0..10).all(|_| post(&allow, "/ip", "192.0.2.2", &[], "") == 200));
    // block: every limited route answers 429
    assert_eq!(post(&block, "/ip", "192.0.2.2", &[], ""), 429);
    for g in gws {
        assert!(calls(g, "error") + calls(g, "timeout") > 0.0);
        assert!(!up(g), "riskgate_cluster_up is 0 while Redis is down");
    }

    // Redis comes back (empty): every replica reconnects by itself
    redis.restart();
    for g in gws {
        wait_until(20, "reconnected", || {
            post(g, "/ip", "192.0.2.3", &[], "");
            up(g)
        });
    }
    assert_eq!(post(&block, "/ip", "192.0.2.4", &[], ""), 200);
    let keys = redis.cli(&["--scan", "--pattern", "*"]);
    for prefix in ["l:", "a:", "b:"] {
        assert!(
            keys.lines().any(|k| k.starts_with(prefix)),
            "{prefix}: {keys}"
        );
    }
}

#[test]
fn no_request_waits_past_the_timeout_for_a_paused_redis() {
    if !available("no_request_waits_past_the_timeout_for_a_paused_redis") {
        return;
    }
    let redis = RedisServer::start();
    let gw = start(&config(&redis.url(), "p:", "local", "50ms"));
    wait_until(10, "connected", || connected(&gw));
    assert_eq!(post(&gw, "/ip", "192.0.2.9", &[], ""), 200);
    redis.cli(&["CLIENT", "PAUSE", "5000", "ALL"]);
    let paused = Instant::now();
    // answered from this replica's own limits while Redis holds every command
    assert_eq!(post(&gw, "/ip", "192.0.2.10", &[], ""), 200);
    assert!(
        paused.elapsed() < Duration::from_secs(4),
        "answered while Redis was still paused"
    );
    assert!(calls(&gw, "timeout") >= 1.0);
    assert!(!up(&gw));
    redis.cli(&["CLIENT", "UNPAUSE"]);
    wait_until(10, "answers again", || {
        post(&gw, "/ip", "192.0.2.11", &[], "");
        up(&gw)
    });
}

/// The ids of the clients connected to Redis, this `redis-cli` aside.
fn clients(redis: &RedisServer) -> Vec<String> {
    let mut ids: Vec<String> = redis
        .cli(&["CLIENT", "LIST"])
        .lines()
        .filter(|l| !l.contains("cmd=client|list"))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_reload_that_keeps_cluster_keeps_the_connection() {
    if !available("a_reload_that_keeps_cluster_keeps_the_connection") {
        return;
    }
    let redis = RedisServer::start();
    let gw = start(&config(&redis.url(), "r:", "local", "250ms"));
    wait_until(10, "connected", || connected(&gw));
    post(&gw, "/ip", "192.0.2.20", &[], "");
    let before = clients(&redis);
    assert!(!before.is_empty());
    let text = std::fs::read_to_string(&gw.config).unwrap();
    std::fs::write(
        &gw.config,
        text.replace("routes:", "routes:\n  - { name: x, path: /x, policy: ip }"),
    )
    .unwrap();
    assert_eq!(request(gw.admin, "POST", "/reload", &[], "").status, 200);
    post(&gw, "/ip", "192.0.2.20", &[], "");
    assert_eq!(clients(&redis), before, "the same connection");
    assert!(up(&gw));
}

#[test]
fn check_pings_redis() {
    if !available("check_pings_redis") {
        return;
    }
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "gw.yaml",
        &format!(
            "upstream: 127.0.0.1:3000\ncluster: {{ redis: \"redis://:s3cret@127.0.0.1:{}/0\" }}\n",
            redis.port
        ),
    );
    // a password Redis does not expect: refused, and the password is never printed
    let (code, _, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cluster: cannot reach redis://:***@127.0.0.1"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    let cfg = write(
        dir.path(),
        "gw.yaml",
        &format!(
            "upstream: 127.0.0.1:3000\ncluster: {{ redis: \"{}\" }}\n",
            redis.url()
        ),
    );
    let (code, out, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("answered"), "{out}");
    redis.stop();
    let (code, _, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 1);
    assert!(err.contains("cluster: cannot reach"), "{err}");
}

#[test]
fn a_three_node_redis_cluster_shares_limits_too() {
    if !available("a_three_node_redis_cluster_shares_limits_too") {
        return;
    }
    let nodes: Vec<RedisServer> = (0..3)
        .map(|_| {
            RedisServer::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ])
        })
        .collect();
    let addrs: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let mut create = vec!["--cluster", "create"];
    create.extend(addrs.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    nodes[0].cli(&create);
    wait_until(20, "the cluster to be ok on every node", || {
        nodes
            .iter()
            .all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    });
    let url = format!("redis+cluster://{},{}", addrs[0], addrs[1]);
    let cfg = config(&url, "rc:", "local", "250ms");
    let (a, b) = (start(&cfg), start(&cfg));
    wait_until(20, "both gateways connected", || {
        connected(&a) && connected(&b)
    });
    // many addresses, each limited to 6 across both replicas; their keys land on
    // every node
    for n in 0..12 {
        let ip = format!("203.0.113.{n}");
        let admitted = (0..8)
            .filter(|i| {
                let gw = if i % 2 == 0 { &a } else { &b };
                post(gw, "/ip", &ip, &[], "") == 200
            })
            .count();
        assert_eq!(admitted, 6, "{ip}");
    }
    let held: Vec<u64> = nodes
        .iter()
        .map(|n| n.cli(&["DBSIZE"]).trim().parse().unwrap())
        .collect();
    assert_eq!(held.iter().sum::<u64>(), 12, "{held:?}");
    assert!(held.iter().filter(|&&k| k > 0).count() >= 2, "{held:?}");
    // watches too, one script a key: devices whose networks spread, alternating
    // replicas, each over its three /24s on its fourth
    for d in 0..6 {
        let cookie = format!("device_id=rc-{d}");
        let reasons: Vec<String> = ["198.51.100.9", "203.0.113.9", "192.0.2.9", "198.18.0.9"]
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                let gw = if (i + d) % 2 == 0 { &a } else { &b };
                assert_eq!(post(gw, "/spread", ip, &[("Cookie", &cookie)], ""), 200);
                last_seen(gw, "/spread")
                    .header("x-risk-reasons")
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(reasons, ["", "", "", "network_spread"], "device rc-{d}");
    }
    assert_eq!(calls(&a, "error") + calls(&b, "error"), 0.0);
}

/// A private CA and a certificate it signed for 127.0.0.1, made with `openssl`.
fn private_ca(dir: &std::path::Path) -> Option<(String, String, String)> {
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let ext = write(
        dir,
        "server.ext",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    );
    let steps: [Vec<String>; 3] = [
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=riskgate test CA",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        [
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("server.key"),
            "-out",
            &p("server.csr"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        [
            "x509",
            "-req",
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &p("server.pem"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    ];
    for args in steps {
        let ok = std::process::Command::new("openssl")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    Some((p("ca.pem"), p("server.pem"), p("server.key")))
}

#[test]
fn rediss_with_a_private_ca() {
    if !available("rediss_with_a_private_ca") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((ca, cert, key)) = private_ca(dir.path()) else {
        skip(
            "rediss_with_a_private_ca",
            "openssl could not make a test CA",
        );
        return;
    };
    let redis = RedisServer::start_tls(&ca, &cert, &key);
    let url = format!("rediss://127.0.0.1:{}/0", redis.port);
    // without the CA the server's certificate is not trusted
    let cfg = write(
        dir.path(),
        "no-ca.yaml",
        &format!("upstream: 127.0.0.1:3000\ncluster: {{ redis: \"{url}\", timeout: 1s }}\n"),
    );
    let (code, _, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("certificate"), "{err}");
    // with it, check pings and a gateway limits through TLS
    let cfg = write(
        dir.path(),
        "ca.yaml",
        &format!("upstream: 127.0.0.1:3000\ncluster: {{ redis: \"{url}\", tls_ca: {ca}, timeout: 1s }}\n"),
    );
    let (code, out, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("answered"), "{out}");
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\ncluster: {{ redis: \"{url}\", tls_ca: {ca}, timeout: 1s }}\nroutes:\n  - {{ name: ip, path: /ip, policy: ip }}\npolicies:\n  ip:\n    limits: [{{ key: ip, rate: 2/hour }}]\n"
    ));
    wait_until(10, "connected over TLS", || connected(&gw));
    let s: Vec<u16> = (0..3)
        .map(|_| post(&gw, "/ip", "192.0.2.77", &[], ""))
        .collect();
    assert_eq!(s, [200, 200, 429]);
    assert_eq!(redis.cli(&["DBSIZE"]).trim(), "1");
}
