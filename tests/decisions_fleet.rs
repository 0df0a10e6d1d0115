//! Decisions across replicas through a real `redis-server`: an add or a delete on one
//! replica applies on the other within 2 s; Redis killed: both keep applying the set
//! they had, and a change is refused with `503` naming Redis (nothing half-stored);
//! Redis back empty: a replica puts the set back, and changes are taken again.

mod common;

use std::time::{Duration, Instant};

use common::redis_server::{available, RedisServer};
use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "5d2c1b0a9f8e7d6c5b4a39281706f5e4";

fn secrets() -> &'static (String, String) {
    static S: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("riskgate-fleet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        (
            write(&dir, "admin.token", TOKEN),
            write(
                &dir,
                "hash.key",
                "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718",
            ),
        )
    })
}

fn config(redis: &str) -> String {
    let (token, key) = secrets();
    format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
admin_token_file: {token}
hash_key: {key}
cluster: {{ redis: "{redis}", prefix: "shop:", timeout: 250ms }}
fields:
  device: cookie:device_id
routes:
  - {{ name: signup, path: /signup, methods: [POST], policy: signup }}
policies:
  signup:
    limits: [{{ key: field:device, rate: 1000/hour }}]
"#
    )
}

fn api(gw: &Gateway, method: &str, path: &str, body: &Value) -> (u16, Value) {
    admin_api(gw, TOKEN, method, path, body)
}

fn signup(gw: &Gateway, device: &str) -> u16 {
    let cookie = format!("device_id={device}");
    request(
        gw.addr,
        "POST",
        "/signup",
        &[("X-Forwarded-For", "89.160.20.112"), ("Cookie", &cookie)],
        "",
    )
    .status
}

fn ids(gw: &Gateway) -> Vec<u64> {
    let (st, v) = api(gw, "GET", "/decisions", &Value::Null);
    assert_eq!(st, 200, "{v}");
    v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_u64().unwrap())
        .collect()
}

/// How long until `f` holds, polled every 10 ms; panics after `secs`.
fn within(secs: u64, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    wait_until(secs, what, || {
        let ok = f();
        if !ok {
            std::thread::sleep(Duration::from_millis(10));
        }
        ok
    });
    t.elapsed()
}

#[test]
fn a_decision_on_one_replica_applies_on_every_replica_and_outlives_redis() {
    if !available("a_decision_on_one_replica_applies_on_every_replica_and_outlives_redis") {
        return;
    }
    let mut redis = RedisServer::start();
    let cfg = config(&redis.url());
    let (a, b) = (start(&cfg), start(&cfg));
    assert_eq!(signup(&b, "sybil-1"), 200);

    // an add on a: in force on a at once, on b within 2 s
    let (st, v) = api(
        &a,
        "POST",
        "/decisions",
        &json!({"scope": "field:device", "value": "sybil-1", "action": "block", "reason": "referral farm"}),
    );
    assert_eq!(st, 201, "{v}");
    let id = v["added"][0]["id"].as_u64().unwrap();
    assert_eq!(signup(&a, "sybil-1"), 403);
    let took = within(5, "b to apply a's decision", || {
        signup(&b, "sybil-1") == 403
    });
    assert!(took < Duration::from_secs(2), "{took:?}");
    eprintln!("fleet: an add applied on the other replica in {took:?}");
    assert_eq!(ids(&b), vec![id]);

    // a delete on b: lifted on a within 2 s
    let (st, v) = api(
        &b,
        "POST",
        "/decisions",
        &json!({"scope": "field:device", "value": "sybil-2", "action": "block"}),
    );
    assert_eq!(st, 201, "{v}");
    let (st, _) = api(&b, "DELETE", &format!("/decisions/{id}"), &Value::Null);
    assert_eq!(st, 200);
    let took = within(5, "a to lift b's delete", || signup(&a, "sybil-1") == 200);
    assert!(took < Duration::from_secs(2), "{took:?}");
    eprintln!("fleet: a delete applied on the other replica in {took:?}");
    within(5, "a to apply sybil-2", || signup(&a, "sybil-2") == 403);

    // Redis killed: both keep the set they had; a change is refused, nothing stored
    redis.stop();
    for gw in [&a, &b] {
        assert_eq!(signup(gw, "sybil-2"), 403);
        assert_eq!(signup(gw, "sybil-1"), 200);
    }
    let before = ids(&a);
    let (st, v) = api(
        &a,
        "POST",
        "/decisions",
        &json!({"scope": "field:device", "value": "sybil-3", "action": "block"}),
    );
    assert_eq!(st, 503, "{v}");
    assert!(v["error"].as_str().unwrap().contains("Redis"), "{v}");
    let (st, v) = api(
        &a,
        "DELETE",
        &format!("/decisions/{}", before[0]),
        &Value::Null,
    );
    assert_eq!(st, 503, "{v}");
    assert_eq!(ids(&a), before);
    assert_eq!(signup(&a, "sybil-3"), 200);
    wait_until(5, "the fleet source to age", || {
        metric(
            &a,
            r#"riskgate_reloads_total{result="error",source="decisions"}"#,
        ) > 0.0
    });

    // Redis back, empty: a replica puts the decisions back; changes are taken again
    redis.restart();
    wait_until(10, "the kept decisions to be back in Redis", || {
        redis.cli(&["HLEN", "{shop:decisions}:all"]).trim() == "1"
    });
    wait_until(10, "a change to be taken again", || {
        api(
            &b,
            "POST",
            "/decisions",
            &json!({"scope": "field:device", "value": "sybil-3", "action": "block"}),
        )
        .0 == 201
    });
    within(5, "a to apply b's new decision", || {
        signup(&a, "sybil-3") == 403
    });
    for gw in [&a, &b] {
        assert_eq!(
            signup(gw, "sybil-2"),
            403,
            "the kept decision still applies"
        );
    }
    // ids go on from the kept ones: no collision
    let all = ids(&a);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[1] > all[0]);

    // a replica started now loads the fleet's set
    let c = start(&cfg);
    within(5, "a new replica to load the set", || {
        signup(&c, "sybil-3") == 403
    });
}
