//! `riskgate replay` through the real CLI: JSON lines, combined logs and gzip with known
//! answers on the virtual clock, unreadable lines counted with their numbers,
//! `--against`, and a gateway's own decision log replayed to the same decisions.

mod common;

use std::io::Write;

use common::*;

const SIGNUP: &str = "upstream: 127.0.0.1:3000\nroutes:\n  - { name: signup, path: /signup, methods: [POST], policy: signup }\npolicies:\n  signup:\n    limits: [{ key: subnet, rate: 5/hour }]\n";

/// A Sybil burst (30 signups from one /24 within 30 minutes), a line that is no
/// record, and 30 signups an hour apart from another /24.
fn week() -> String {
    let mut s = String::new();
    for i in 0..30 {
        s += &format!(
            "{{\"time\":\"2026-11-16T10:{i:02}:00Z\",\"ip\":\"198.51.100.{}\",\"method\":\"POST\",\"path\":\"/signup\"}}\n",
            i + 1
        );
    }
    s += "this is not a record\n";
    for i in 0..30u32 {
        s += &format!(
            "{{\"time\":\"2026-11-{:02}T{:02}:00:00Z\",\"ip\":\"203.0.113.{}\",\"method\":\"POST\",\"path\":\"/signup\"}}\n",
            17 + i / 24,
            i % 24,
            i + 1
        );
    }
    s
}

fn replay(args: &[&str]) -> serde_json::Value {
    let mut a = vec!["replay"];
    a.extend_from_slice(args);
    a.push("--json");
    let (code, out, err) = run_cli(&a);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_sybil_burst_is_limited_on_the_virtual_clock_and_spread_requests_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "gw.yaml", SIGNUP);
    let log = write(dir.path(), "week.jsonl", &week());
    let v = replay(&["-c", &cfg, &log]);
    assert_eq!(v["requests"], 60);
    assert_eq!(v["unparsed"], 1);
    assert!(v["unparsed_lines"][0]
        .as_str()
        .unwrap()
        .ends_with("week.jsonl:31: not a record: neither JSON nor a combined access-log line"));
    // the burst: 5 at once, then one token every 12 minutes (minutes 12 and 24)
    assert_eq!(v["actions"]["limit"], 23);
    assert_eq!(v["actions"]["allow"], 37);
    assert_eq!(v["routes"]["signup"]["limit"], 23);
    assert_eq!(v["signals"]["rate_subnet"], 23);
    assert_eq!(
        v["top_blocked_or_limited"]["subnets"][0],
        serde_json::json!({"key": "198.51.100.0/24", "count": 23})
    );

    // the same, gzipped and from stdin-like paths, gives the same answer
    let gz = dir.path().join("week.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(week().as_bytes()).unwrap();
    enc.finish().unwrap();
    let z = replay(&["-c", &cfg, gz.to_str().unwrap()]);
    assert_eq!(z["actions"], v["actions"]);

    // --against a stricter config: what changes, with examples
    let strict = write(
        dir.path(),
        "strict.yaml",
        &SIGNUP.replace("rate: 5/hour", "rate: 2/hour"),
    );
    let c = replay(&["-c", &cfg, &log, "--against", &strict]);
    let changed = c["changes"]["allow→limit"].as_u64().unwrap();
    // strict: the burst admits 2 + a token every 30 min (minute 0..29: none) = 2 of 30,
    // against 7; an hour apart both admit all
    assert_eq!(changed, 5, "{c}");
    assert_eq!(
        c["change_examples"]["allow→limit"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn combined_access_logs() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "gw.yaml", SIGNUP);
    let mut log = String::new();
    for i in 0..8 {
        log += &format!(
            "198.51.100.{i} - - [16/Nov/2026:10:00:{i:02} +0000] \"POST /signup HTTP/1.1\" 200 2 \"-\" \"Mozilla/5.0\"\n"
        );
    }
    log += "203.0.113.1 - - [16/Nov/2026:10:00:09 +0000] \"GET /products HTTP/1.1\" 200 2 \"-\" \"-\"\n";
    log += "203.0.113.1 - - [not a time] \"GET / HTTP/1.1\" 200 2\n";
    let path = write(dir.path(), "access.log", &log);
    let v = replay(&["-c", &cfg, &path]);
    assert_eq!(v["requests"], 9);
    assert_eq!(v["unmatched"], 1);
    assert_eq!(v["unparsed"], 1);
    assert_eq!(v["actions"]["allow"], 5);
    assert_eq!(v["actions"]["limit"], 3);
}

#[test]
fn a_gateways_own_log_replays_to_the_same_decisions() {
    let gw = start_logged(&format!(
        r#"log: {{ level: info }}
client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
intel:
  mmdb: {{ geo: {geo} }}
fields:
  coupon: {{ from: "json:/code", normalize: upper }}
  coupon_country: {{ from: "json:/code", pattern: "^PPP-([A-Z]{{2}})-" }}
  timezone: header:x-client-timezone
  device: cookie:device_id
routes:
  - {{ name: coupon, path: /c, methods: [POST], policy: promo }}
policies:
  promo:
    mode: shadow
    checks: {{ language: true, timezone: timezone, declared_country: coupon_country, hopping: {{ key: device, window: 24h, max_countries: 2 }} }}
    limits:
      - {{ key: ip, rate: 3/hour }}
      - {{ key: field:coupon, rate: 3/hour }}
"#,
        geo = data("GeoIP2-City-Test.mmdb"),
    ));
    let ips = [
        "89.160.20.112",
        "2.125.160.216",
        "216.160.83.56",
        "81.2.69.160",
    ];
    let codes = [
        r#"{"code":"PPP-IN-65"}"#,
        r#"{"code":"SAVE20"}"#,
        r#"{"code":"PPP-SE-10"}"#,
    ];
    let mut sent = 0;
    for round in 0..4 {
        for (i, ip) in ips.iter().enumerate() {
            let cookie = format!("device_id=dev-{}", (i + round) % 3);
            let tz = ["Europe/Stockholm", "America/Los_Angeles", "Asia/Kolkata"][(i + round) % 3];
            let r = request(
                gw.addr,
                "POST",
                "/c",
                &[
                    ("X-Forwarded-For", ip),
                    ("Content-Type", "application/json"),
                    ("Cookie", &cookie),
                    ("X-Client-Timezone", tz),
                    (
                        "Accept-Language",
                        if i % 2 == 0 { "sv-SE,sv" } else { "ru-RU" },
                    ),
                ],
                codes[(i + round) % 3],
            );
            assert_eq!(r.status, 200);
            sent += 1;
        }
    }
    let mut log = String::new();
    wait_until(10, "every decision logged", || {
        log = gw.log_text();
        log.lines()
            .filter(|l| l.contains("\"message\":\"decision\""))
            .count()
            == sent
    });
    let path = gw.dir.path().join("decisions.log");
    std::fs::write(&path, &log).unwrap();
    let out = gw.dir.path().join("replayed.jsonl");
    let v = replay(&[
        "-c",
        gw.config.to_str().unwrap(),
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(v["requests"], sent, "{v}");
    assert_eq!(v["unparsed"], 0, "{v}");
    // every decision as the gateway made it: the same reasons and score
    let live: std::collections::HashMap<String, (String, u64)> = log
        .lines()
        .filter(|l| l.contains("\"message\":\"decision\""))
        .map(|l| {
            let d: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                d["request_id"].as_str().unwrap().to_string(),
                (
                    d["reasons"].as_str().unwrap().to_string(),
                    d["score"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let replayed = std::fs::read_to_string(&out).unwrap();
    let mut compared = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for l in replayed.lines() {
        let d: serde_json::Value = serde_json::from_str(l).unwrap();
        let id = d["request_id"].as_str().unwrap();
        let reasons = d["reasons"].as_str().unwrap().to_string();
        assert_eq!(
            live[id],
            (reasons.clone(), d["score"].as_u64().unwrap()),
            "request {id}"
        );
        kinds.extend(
            reasons
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        );
        compared += 1;
    }
    assert_eq!(compared, sent);
    // the traffic exercised the checks, the hopping store and both limits
    for k in [
        "country_mismatch",
        "timezone_mismatch",
        "language_mismatch",
        "country_hopping",
        "rate_ip",
        "rate:coupon",
    ] {
        assert!(kinds.contains(k), "{k} never fired: {kinds:?}");
    }
}
