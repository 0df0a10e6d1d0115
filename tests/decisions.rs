//! Decisions end to end: the real gateway binary with its SQLite store, the admin API
//! with its token, the `riskgate decisions` CLI, and the echo origin recording what
//! reached it.

mod common;

use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "3b9f0c1d2e4a5b6c7d8e9f0a1b2c3d4e";

struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    fn new() -> Secrets {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "admin.token", &format!("{TOKEN}\n"));
        write(
            dir.path(),
            "hash.key",
            "9c0d4b1e7a2f6e3d8c5b4a39281706f5e4d3c2b1a0f9e8d7\n",
        );
        Secrets { dir }
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn config(s: &Secrets, mode: &str) -> String {
    format!(
        r#"admin_token_file: {token}
hash_key: {key}
client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
{intel}
fields:
  device: cookie:device_id
  coupon: {{ from: "json:/code", normalize: upper }}
routes:
  - {{ name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }}
policies:
  promo:
    mode: {mode}
    limits:
      - {{ key: ip, rate: 3/hour }}
      - {{ key: field:coupon, rate: 1000/hour }}
      - {{ key: field:device, rate: 1000/hour }}
"#,
        token = s.path("admin.token"),
        key = s.path("hash.key"),
        intel = full_intel(),
    )
}

fn api(gw: &Gateway, method: &str, path: &str, body: &Value) -> (u16, Value) {
    admin_api(gw, TOKEN, method, path, body)
}

fn add(gw: &Gateway, d: Value) -> Value {
    let (st, v) = api(gw, "POST", "/decisions", &d);
    assert_eq!(st, 201, "{v}");
    v["added"][0].clone()
}

fn listed(gw: &Gateway) -> Vec<Value> {
    let (st, v) = api(gw, "GET", "/decisions", &Value::Null);
    assert_eq!(st, 200, "{v}");
    v["decisions"].as_array().unwrap().clone()
}

/// A coupon redemption from `ip` with a device cookie and a code.
fn redeem(gw: &Gateway, ip: &str, device: &str, code: &str) -> Resp {
    let cookie = format!("device_id={device}");
    request(
        gw.addr,
        "POST",
        "/api/apply-coupon",
        &[
            ("X-Forwarded-For", ip),
            ("Cookie", cookie.as_str()),
            ("Content-Type", "application/json"),
        ],
        &json!({"code": code}).to_string(),
    )
}

#[test]
fn a_blocked_device_is_refused_from_any_address_and_shadow_mode_says_block() {
    let s = Secrets::new();
    let gw = start_logged(
        &config(&s, "enforce").replace("hash_key:", "log: { level: info }\nhash_key:"),
    );
    assert_eq!(
        redeem(&gw, "89.160.20.112", "dev-fraud", "SAVE10").status,
        200
    );
    let d = add(
        &gw,
        json!({"scope": "field:device", "value": "dev-fraud", "action": "block",
               "duration": "30d", "reason": "card country US, coupon IN (chargeback)"}),
    );
    // the plain value is never kept
    assert_eq!(d["value"].as_str().unwrap().len(), 16, "{d}");
    assert!(!d.to_string().contains("dev-fraud"));
    for ip in [
        "89.160.20.113",
        "2.125.160.216",
        "81.2.69.160",
        "216.160.83.56",
    ] {
        let r = redeem(&gw, ip, "dev-fraud", "SAVE10");
        assert_eq!(r.status, 403, "{ip}: {}", r.body);
    }
    // the decision log names the decision, and never the plain value
    let id = d["id"].as_u64().unwrap();
    wait_until(5, "the decision log to name the decision", || {
        gw.log_text().contains(&format!("\"decision_id\":{id}"))
    });
    assert!(!gw.log_text().contains("dev-fraud"));
    // another device on the same address passes
    assert_eq!(
        redeem(&gw, "89.160.20.114", "dev-honest", "SAVE10").status,
        200
    );
    assert!(
        metric(
            &gw,
            r#"riskgate_decision_hits_total{action="block",route="coupon"}"#
        ) >= 4.0
    );
    assert_eq!(
        metric(
            &gw,
            r#"riskgate_decisions{action="block",origin="api",scope="field:device"}"#
        ),
        1.0
    );

    // shadow mode: forwarded, and the header says block with the decision's signal
    let shadow = start(&config(&s, "shadow"));
    add(
        &shadow,
        json!({"scope": "field:device", "value": "dev-fraud", "action": "block"}),
    );
    let r = redeem(&shadow, "89.160.20.115", "dev-fraud", "SAVE10");
    assert_eq!(r.status, 200);
    let seen = last_seen(&shadow, "/api/apply-coupon");
    assert_eq!(seen.header("x-risk-action"), Some("block"));
    assert!(seen
        .header("x-risk-reasons")
        .unwrap()
        .contains("decision:block"));
}

#[test]
fn verify_on_a_coupon_code_allow_for_a_customer_and_a_shadow_ban() {
    let s = Secrets::new();
    let gw = start(&config(&s, "enforce"));
    // a code posted publicly: every use of it goes to verify, however it is typed
    add(
        &gw,
        json!({"scope": "field:coupon", "value": "LEAKED50", "action": "verify", "reason": "shared on a forum"}),
    );
    for (dev, code) in [("a", "LEAKED50"), ("b", " leaked50 "), ("c", "Leaked50")] {
        redeem(&gw, "89.160.20.120", dev, code);
        let seen = last_seen(&gw, "/api/apply-coupon");
        assert_eq!(seen.header("x-risk-action"), Some("verify"), "{code}");
        assert_eq!(seen.header("x-risk-reasons"), Some("decision:verify"));
    }
    redeem(&gw, "89.160.20.121", "d", "OTHER");
    assert_eq!(
        last_seen(&gw, "/api/apply-coupon").header("x-risk-action"),
        Some("allow")
    );

    // a customer on a hosting address (blocked) past the IP limit, let through by allow
    let hosting = "1.12.0.5";
    assert_eq!(redeem(&gw, hosting, "customer-7", "SAVE10").status, 403);
    add(
        &gw,
        json!({"scope": "field:device", "value": "customer-7", "action": "allow",
               "duration": "90d", "reason": "ticket 4411: wrongly blocked"}),
    );
    for _ in 0..6 {
        let r = redeem(&gw, hosting, "customer-7", "SAVE10");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let seen = last_seen(&gw, "/api/apply-coupon");
    assert_eq!(seen.header("x-risk-action"), Some("allow"));
    assert_eq!(seen.header("x-risk-reasons"), Some("decision:allow"));
    // allow beats a block on the same request's address
    add(
        &gw,
        json!({"scope": "ip", "value": hosting, "action": "block"}),
    );
    assert_eq!(redeem(&gw, hosting, "customer-7", "SAVE10").status, 200);

    // a Sybil referral farm's device: forwarded as a shadow-ban, in enforce mode
    add(
        &gw,
        json!({"scope": "field:device", "value": "farm-1", "action": "shadow"}),
    );
    let r = redeem(&gw, "89.160.20.122", "farm-1", "SAVE10");
    assert_eq!(r.status, 200);
    let seen = last_seen(&gw, "/api/apply-coupon");
    assert_eq!(seen.header("x-risk-action"), Some("block"));
    assert_eq!(seen.header("x-risk-reasons"), Some("decision:shadow"));
}

#[test]
fn ranges_asns_countries_and_expiry() {
    let s = Secrets::new();
    let gw = start(&config(&s, "enforce"));
    add(
        &gw,
        json!({"scope": "range", "value": "89.160.20.0/24", "action": "block"}),
    );
    assert_eq!(redeem(&gw, "89.160.20.7", "x1", "A").status, 403);
    assert_eq!(redeem(&gw, "89.160.21.7", "x2", "A").status, 200);
    // Bredband2's AS, from another of its networks' addresses
    let asn = add(
        &gw,
        json!({"scope": "asn", "value": "AS29518", "action": "verify"}),
    );
    redeem(&gw, "89.160.21.8", "x3", "A");
    assert_eq!(
        last_seen(&gw, "/api/apply-coupon").header("x-risk-action"),
        Some("verify")
    );
    let (st, _) = api(
        &gw,
        "DELETE",
        &format!("/decisions/{}", asn["id"]),
        &Value::Null,
    );
    assert_eq!(st, 200);
    redeem(&gw, "89.160.21.9", "x4", "A");
    assert_eq!(
        last_seen(&gw, "/api/apply-coupon").header("x-risk-action"),
        Some("allow")
    );
    add(
        &gw,
        json!({"scope": "country", "value": "gb", "action": "block"}),
    );
    assert_eq!(redeem(&gw, "2.125.160.216", "x5", "A").status, 403);

    // a 2 s decision: in force, then not within the second after it ends
    let d = add(
        &gw,
        json!({"scope": "ip", "value": "216.160.83.56", "action": "block", "duration": "2s"}),
    );
    let added = std::time::Instant::now();
    assert_eq!(redeem(&gw, "216.160.83.56", "x6", "A").status, 403);
    wait_until(5, "the 2 s decision to end", || {
        redeem(&gw, "216.160.83.56", "x6", "A").status == 200
    });
    let ended = added.elapsed();
    assert!(ended < std::time::Duration::from_secs(3), "{ended:?}");
    wait_until(5, "the expired decision to leave the list", || {
        !listed(&gw).iter().any(|x| x["id"] == d["id"])
    });
}

#[test]
fn a_decision_acknowledged_survives_kill_9_and_a_bad_store_stops_the_start() {
    let s = Secrets::new();
    let mut gw = start(&config(&s, "enforce"));
    let d = add(
        &gw,
        json!({"scope": "field:device", "value": "dev-9", "action": "block"}),
    );
    // kill -9 right after the 201
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    let (child, at) = spawn_gateway(&gw.config, None, &[]);
    gw.child = child;
    gw.addr = at.listen[0];
    gw.admin = at.admin;
    assert_eq!(redeem(&gw, "89.160.20.130", "dev-9", "A").status, 403);
    assert_eq!(listed(&gw)[0]["id"], d["id"]);
    drop(gw);

    // a store that is not one: the gateway does not start, and says why
    let dir = tempfile::tempdir().unwrap();
    let junk = write(dir.path(), "junk.db", &"not a database ".repeat(500));
    let cfg = write(
        dir.path(),
        "gateway.yaml",
        &format!(
            "listen: [\"127.0.0.1:0\"]\nupstream: \"127.0.0.1:9\"\nadmin: \"127.0.0.1:0\"\ndecisions: {{ store: {junk} }}\n"
        ),
    );
    let (code, _, err) = run_cli(&["run", "-c", &cfg]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("junk.db") && err.contains("not a readable SQLite database"),
        "{err}"
    );
    let (code, _, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("junk.db"), "{err}");
    // a directory where the file should be
    let cfg = write(
        dir.path(),
        "dir.yaml",
        &format!(
            "listen: [\"127.0.0.1:0\"]\nupstream: \"127.0.0.1:9\"\nadmin: \"127.0.0.1:0\"\ndecisions: {{ store: {} }}\n",
            dir.path().display()
        ),
    );
    let (code, _, err) = run_cli(&["run", "-c", &cfg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("decisions store"), "{err}");
}

#[test]
fn every_decisions_endpoint_needs_the_token() {
    let s = Secrets::new();
    let gw = start(&config(&s, "enforce"));
    let d = add(
        &gw,
        json!({"scope": "ip", "value": "192.0.2.1", "action": "block"}),
    );
    let id = d["id"].to_string();
    let body = json!({"scope": "ip", "value": "192.0.2.2", "action": "block"}).to_string();
    for (method, path, body) in [
        ("GET", "/decisions".to_string(), ""),
        ("GET", format!("/decisions/{id}"), ""),
        ("POST", "/decisions".to_string(), body.as_str()),
        ("DELETE", format!("/decisions/{id}"), ""),
    ] {
        for auth in [
            None,
            Some("Bearer 3b9f0c1d2e4a5b6c7d8e9f0a1b2c3d4f"),
            Some("Basic Og=="),
        ] {
            let h: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
            let r = request(gw.admin, method, &path, &h, body);
            assert_eq!(r.status, 401, "{method} {path} {auth:?}");
        }
    }
    assert_eq!(
        listed(&gw).len(),
        1,
        "nothing was stored or deleted without the token"
    );
    // a browser: Basic with the token as the password
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("ops:{TOKEN}"))
    };
    let r = request(
        gw.admin,
        "GET",
        "/dashboard",
        &[("Authorization", &format!("Basic {basic}"))],
        "",
    );
    assert_eq!(r.status, 200);
    let r = request(
        gw.admin,
        "GET",
        "/decisions",
        &[("Authorization", &format!("Basic {basic}"))],
        "",
    );
    assert_eq!(r.status, 200);

    // without admin_token_file, the decisions API is closed
    let open = start(&format!("{}\nroutes: []\n", full_intel()));
    let r = request(open.admin, "GET", "/decisions", &[], "");
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("admin_token_file"));
}

#[test]
fn bad_input_is_a_400_that_names_it_and_stores_nothing() {
    let s = Secrets::new();
    let gw = start(&config(&s, "enforce"));
    add(
        &gw,
        json!({"scope": "ip", "value": "192.0.2.1", "action": "block"}),
    );
    let before = listed(&gw);
    let good = json!({"scope": "ip", "value": "192.0.2.9", "action": "block"});
    let cases = [
        (
            json!({"scope": "user", "value": "x", "action": "block"}),
            "unknown scope",
        ),
        (
            json!({"scope": "field:account", "value": "x", "action": "block"}),
            "unknown field `account`",
        ),
        (
            json!({"scope": "range", "value": "10.0.0.0/33", "action": "block"}),
            "not a CIDR",
        ),
        (
            json!({"scope": "ip", "value": "10.0.0.300", "action": "block"}),
            "not an IP address",
        ),
        (
            json!({"scope": "range", "value": "10.0.0.0/8", "action": "block"}),
            "wider than /16",
        ),
        (
            json!({"scope": "range", "value": "2001::/20", "action": "block"}),
            "wider than /32",
        ),
        (
            json!({"scope": "ip", "value": "192.0.2.3", "action": "block", "duration": "400d"}),
            "over 365 days",
        ),
        (
            json!({"scope": "field:device", "value": "x".repeat(1025), "action": "block"}),
            "at most 1024",
        ),
        (
            json!({"scope": "ip", "value": "192.0.2.3", "action": "nuke"}),
            "unknown action",
        ),
    ];
    for (bad, want) in &cases {
        // alone, and in a list with a good one: nothing of the call is stored
        let (st, v) = api(&gw, "POST", "/decisions", bad);
        assert_eq!(st, 400, "{bad}: {v}");
        assert!(v["error"].as_str().unwrap().contains(want), "{bad}: {v}");
        let (st, v) = api(&gw, "POST", "/decisions", &json!([good, bad]));
        assert_eq!(st, 400, "{v}");
        assert_eq!(v["problems"][0]["index"], 1, "{v}");
        assert!(
            v["problems"][0]["error"].as_str().unwrap().contains(want),
            "{v}"
        );
    }
    let r = request(
        gw.admin,
        "POST",
        "/decisions",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "{\"scope\": \"ip\", ",
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("malformed JSON"), "{}", r.body);
    assert_eq!(listed(&gw), before, "nothing was stored");
    // a wide range with force is taken
    let (st, _) = api(
        &gw,
        "POST",
        "/decisions",
        &json!({"scope": "range", "value": "10.0.0.0/8", "action": "block", "force": true}),
    );
    assert_eq!(st, 201);

    // the same through the CLI: an exit code and a message, nothing stored
    let before = listed(&gw);
    let c = gw.config.display().to_string();
    for (bad, want) in &cases {
        let mut args = vec![
            "decisions".to_string(),
            "add".into(),
            "-c".into(),
            c.clone(),
            "--admin".into(),
            format!("http://{}", gw.admin),
        ];
        for k in ["scope", "value", "action", "duration"] {
            if let Some(v) = bad[k].as_str() {
                args.push(format!("--{k}"));
                args.push(v.to_string());
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = run_cli(&args);
        assert_eq!(code, 1, "{bad}: {err}");
        assert!(err.contains(want), "{bad}: {err}");
    }
    assert_eq!(listed(&gw), before);
}

#[test]
fn the_cli_adds_lists_deletes_and_imports() {
    let s = Secrets::new();
    let gw = start(&config(&s, "enforce"));
    let c = gw.config.display().to_string();
    let admin = format!("http://{}", gw.admin);
    let cli = |args: &[&str]| {
        let mut a = vec!["decisions", args[0], "-c", &c, "--admin", &admin];
        a.extend_from_slice(&args[1..]);
        run_cli(&a)
    };
    let (code, out, err) = cli(&[
        "add",
        "--scope",
        "field:device",
        "--value",
        "dev-cli",
        "--action",
        "block",
        "--duration",
        "30d",
        "--reason",
        "card country mismatch",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("field:device") && out.contains("block"),
        "{out}"
    );
    assert_eq!(redeem(&gw, "89.160.20.140", "dev-cli", "A").status, 403);
    let (code, out, _) = cli(&["list", "--json"]);
    assert_eq!(code, 0);
    let first: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(first["origin"], "cli");
    assert_eq!(first["reason"], "card country mismatch");
    // the plain value finds it (hashed the same way)
    let (_, out, _) = cli(&[
        "list",
        "--scope",
        "field:device",
        "--value",
        "dev-cli",
        "--json",
    ]);
    assert_eq!(out.lines().count(), 1);
    let (_, out, _) = cli(&[
        "list",
        "--scope",
        "field:device",
        "--value",
        "dev-other",
        "--json",
    ]);
    assert_eq!(out.lines().count(), 0);
    let id = first["id"].to_string();
    let (code, out, err) = cli(&["delete", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("deleted"), "{out}");
    assert_eq!(redeem(&gw, "89.160.20.141", "dev-cli", "A").status, 200);

    // import: a bad line stops it all, unless --partial
    let dir = tempfile::tempdir().unwrap();
    let jsonl = write(
        dir.path(),
        "d.jsonl",
        concat!(
            "{\"scope\":\"ip\",\"value\":\"198.51.100.1\",\"action\":\"block\"}\n",
            "{\"scope\":\"ip\",\"value\":\"198.51.100.300\",\"action\":\"block\"}\n",
            "\n",
            "{not json\n",
            "{\"scope\":\"field:device\",\"value\":\"dev-imp\",\"action\":\"shadow\",\"duration\":\"7d\"}\n",
        ),
    );
    let (code, _, err) = cli(&["import", &jsonl]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("d.jsonl:2:") && err.contains("not an IP address"),
        "{err}"
    );
    assert!(
        err.contains("d.jsonl:4:") && err.contains("malformed JSON"),
        "{err}"
    );
    assert!(err.contains("nothing imported"), "{err}");
    assert!(listed(&gw).is_empty());
    let (code, out, err) = cli(&["import", &jsonl, "--partial"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("imported 2"), "{out}");
    assert_eq!(listed(&gw).len(), 2);
    let csv = write(
        dir.path(),
        "d.csv",
        "scope,value,action,duration,reason\nrange,203.0.113.0/24,verify,2h,\"scraper, seen twice\"\ncountry,XX1,block,,\n",
    );
    let (code, _, err) = cli(&["import", &csv]);
    assert_eq!(code, 1);
    assert!(
        err.contains("d.csv:3:") && err.contains("not an ISO 3166"),
        "{err}"
    );
    let (code, out, _) = cli(&["import", &csv, "--partial"]);
    assert_eq!(code, 0);
    assert!(out.contains("imported 1"), "{out}");
    let all = listed(&gw);
    assert!(
        all.iter().any(|d| d["reason"] == "scraper, seen twice"),
        "{all:?}"
    );
}

#[test]
fn explain_names_the_decision() {
    let s = Secrets::new();
    let gw = start(&config(&s, "enforce"));
    let d = add(
        &gw,
        json!({"scope": "field:device", "value": "dev-x", "action": "block", "reason": "chargeback 991"}),
    );
    let r = request(
        gw.admin,
        "GET",
        "/explain?ip=89.160.20.150&path=/api/apply-coupon&method=POST&header=Cookie%3A%20device_id%3Ddev-x",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["decision"]["id"], d["id"]);
    assert_eq!(v["decision"]["origin"], "api");
    assert_eq!(v["decision"]["reason"], "chargeback 991");
    assert_eq!(v["action"], "block");
    let sig = &v["signals"][0];
    assert_eq!(sig["signal"], "decision:block");
    assert!(
        sig["because"].as_str().unwrap().contains("chargeback 991"),
        "{sig}"
    );
    // the CLI's explain reads the store (read-only) and says the same
    let (code, out, err) = run_cli(&[
        "explain",
        "-c",
        &gw.config.display().to_string(),
        "89.160.20.150",
        "--path",
        "/api/apply-coupon",
        "--method",
        "POST",
        "-H",
        "Cookie: device_id=dev-x",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["decision"]["id"], d["id"]);
}
