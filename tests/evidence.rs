//! The request's own evidence on the real gateway with a real origin: fields from
//! headers and from JSON and form bodies (fixed length and chunked), the checks true
//! and false, bodies at and over `body_limit`, malformed and compressed bodies, and the
//! origin receiving exactly the bytes the client sent.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const SE: &str = "89.160.20.112"; // Sweden in MaxMind's test City database

fn gateway(body_limit: &str) -> Gateway {
    start(&format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
intel:
  mmdb: {{ geo: {geo} }}
fields:
  coupon_country: {{ from: "json:/code", pattern: "^PPP-([A-Z]{{2}})-" }}
  form_country: {{ from: "form:country", normalize: upper }}
  timezone: header:x-client-timezone
body_limit: {body_limit}
routes:
  - {{ name: coupon, path: /c, methods: [POST], policy: promo }}
  - {{ name: signup, path: /s, methods: [POST], policy: signup }}
  - {{ name: plain, path: /p, methods: [POST], policy: plain }}
policies:
  promo:
    mode: shadow
    checks: {{ declared_country: coupon_country, timezone: timezone, regions: [[DE, FR, SE]] }}
  signup:
    mode: shadow
    checks: {{ declared_country: form_country }}
  plain:
    mode: shadow
"#,
        geo = data("GeoIP2-City-Test.mmdb"),
    ))
}

/// Send a request with a fixed-length body, or a chunked one when `chunks` is given.
fn send(
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunks: Option<usize>,
) -> Resp {
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\nX-Forwarded-For: {SE}\r\n"
    );
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    let mut out = Vec::new();
    match chunks {
        None => {
            head += &format!("Content-Length: {}\r\n\r\n", body.len());
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(body);
        }
        Some(size) => {
            head += "Transfer-Encoding: chunked\r\n\r\n";
            out.extend_from_slice(head.as_bytes());
            for c in body.chunks(size.max(1)) {
                out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                out.extend_from_slice(c);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    s.write_all(&out).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    parse_response(&buf)
}

/// (reasons, the body the origin got) of a request that reached the origin.
fn outcome(
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunks: Option<usize>,
) -> String {
    let before = gw.seen.arrivals();
    let r = send(gw, path, headers, body, chunks);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(gw.seen.arrivals(), before + 1);
    let seen = last_seen(gw, path);
    // byte for byte: what the client sent is what the origin got
    assert_eq!(seen.body.len(), body.len(), "body length at the origin");
    assert!(seen.body == body, "the origin got other bytes");
    seen.header("x-risk-reasons").unwrap_or("").to_string()
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn a_declared_country_in_a_json_body_fixed_or_chunked() {
    let gw = gateway("1KiB");
    for chunks in [None, Some(5)] {
        let mismatch = br#"{"code":"PPP-IN-65","cart":[1,2,3]}"#;
        assert_eq!(
            outcome(&gw, "/c", &[JSON], mismatch, chunks),
            "country_mismatch",
            "{chunks:?}"
        );
        // the address's own country, and a country of its region group
        assert_eq!(
            outcome(&gw, "/c", &[JSON], br#"{"code":"PPP-SE-10"}"#, chunks),
            ""
        );
        assert_eq!(
            outcome(&gw, "/c", &[JSON], br#"{"code":"PPP-FR-10"}"#, chunks),
            ""
        );
        // no declared country: the check is skipped
        assert_eq!(
            outcome(&gw, "/c", &[JSON], br#"{"code":"WELCOME10"}"#, chunks),
            ""
        );
        assert_eq!(outcome(&gw, "/c", &[JSON], b"", chunks), "");
    }
}

#[test]
fn a_declared_country_in_a_form_body() {
    let gw = gateway("1KiB");
    let form = ("Content-Type", "application/x-www-form-urlencoded");
    assert_eq!(
        outcome(&gw, "/s", &[form], b"email=a%40b.c&country=in", None),
        "country_mismatch"
    );
    assert_eq!(outcome(&gw, "/s", &[form], b"country=se&x=1", Some(3)), "");
}

#[test]
fn a_time_zone_against_the_country() {
    let gw = gateway("1KiB");
    let tz = |z: &str| {
        outcome(
            &gw,
            "/c",
            &[JSON, ("X-Client-Timezone", z)],
            br#"{"code":"WELCOME10"}"#,
            None,
        )
    };
    assert_eq!(tz("America/Los_Angeles"), "timezone_mismatch");
    assert_eq!(tz("Asia/Calcutta"), "timezone_mismatch");
    assert_eq!(tz("Europe/Stockholm"), "");
    // Europe/Berlin is used in Sweden too (tzdb zone1970.tab)
    assert_eq!(tz("Europe/Berlin"), "");
    // not a zone with a country: skipped
    assert_eq!(tz("Etc/UTC"), "");
    assert_eq!(tz("Mars/Base"), "");
}

/// The person (the page's time zone), the network (the address: Sweden here) and the
/// claim (a PPP coupon's country), each pair compared, each fact counted once.
#[test]
fn the_person_the_network_and_the_claim() {
    let gw = gateway("1KiB");
    let case = |zone: &str, code: &str| {
        outcome(
            &gw,
            "/c",
            &[JSON, ("X-Client-Timezone", zone)],
            format!(r#"{{"code":"{code}"}}"#).as_bytes(),
            None,
        )
    };
    // the seeds' fraud: a New York clock claims India pricing through an address there
    // (here: claims Sweden's through a Swedish one)
    assert_eq!(case("America/New_York", "PPP-SE-65"), "person_mismatch");
    assert_eq!(case("Asia/Kolkata", "PPP-FR-65"), "person_mismatch");
    // a traveller: an Indian clock and an Indian code, abroad in Sweden
    assert_eq!(case("Asia/Kolkata", "PPP-IN-65"), "traveller");
    // a region counts as one: a Berlin clock with a French code, from Sweden
    assert_eq!(case("Europe/Paris", "PPP-DE-65"), "");
    // at home with a foreign code: the claim alone is foreign, one signal
    assert_eq!(case("Europe/Stockholm", "PPP-IN-65"), "country_mismatch");
    // all three apart: the claim is not the network's, nor the person the network's
    assert_eq!(
        case("America/New_York", "PPP-IN-65"),
        "timezone_mismatch,country_mismatch"
    );
    // a zone tzdb gives no country says nothing of the person: as before
    assert_eq!(case("Etc/UTC", "PPP-IN-65"), "country_mismatch");
    assert_eq!(case("Etc/UTC", "PPP-SE-65"), "");
}

#[test]
fn bodies_at_and_over_the_limit_malformed_or_compressed() {
    let gw = gateway("1KiB");
    // exactly at the limit: read, and the field found
    let mut at = br#"{"code":"PPP-IN-65","pad":""#.to_vec();
    at.resize(1024 - 2, b'x');
    at.extend_from_slice(b"\"}");
    assert_eq!(at.len(), 1024);
    for chunks in [None, Some(100)] {
        assert_eq!(outcome(&gw, "/c", &[JSON], &at, chunks), "country_mismatch");
    }
    // one byte over: padding never skips the check, it is a signal of its own
    let mut over = at.clone();
    over.insert(over.len() - 2, b'x');
    for chunks in [None, Some(100), Some(2000)] {
        assert_eq!(
            outcome(&gw, "/c", &[JSON], &over, chunks),
            "unreadable_body",
            "{chunks:?}"
        );
    }
    // malformed JSON, a JSON field in a body labelled otherwise, a compressed body
    assert_eq!(
        outcome(&gw, "/c", &[JSON], br#"{"code":"PPP-IN-65""#, None),
        "unreadable_body"
    );
    assert_eq!(
        outcome(
            &gw,
            "/c",
            &[("Content-Type", "text/plain")],
            br#"{"code":"PPP-IN-65"}"#,
            None
        ),
        "unreadable_body"
    );
    assert_eq!(
        outcome(
            &gw,
            "/c",
            &[JSON, ("Content-Encoding", "gzip")],
            b"\x1f\x8b\x08\x00not really",
            None
        ),
        "unreadable_body"
    );
    // a policy that reads no body field never reads (nor judges) the body
    assert_eq!(outcome(&gw, "/p", &[JSON], b"{not json", None), "");
}

#[test]
fn a_large_chunked_body_past_the_replay_buffer_reaches_the_origin_whole() {
    let gw = gateway("64KiB");
    // 100 KiB in 16 KiB chunks: riskgate reads past 64 KiB, then the rest streams
    let mut big = br#"{"code":"PPP-IN-65","pad":""#.to_vec();
    big.extend((0..100 * 1024).map(|i| b'a' + (i % 26) as u8));
    big.extend_from_slice(b"\"}");
    assert_eq!(
        outcome(&gw, "/c", &[JSON], &big, Some(16 * 1024)),
        "unreadable_body"
    );
    // and a fixed-length one, declared over the limit: not read at all
    assert_eq!(outcome(&gw, "/c", &[JSON], &big, None), "unreadable_body");
    // within the limit, chunked in pieces: read whole
    let mut ok = br#"{"code":"PPP-SE-65","pad":""#.to_vec();
    ok.extend((0..60 * 1024).map(|i| b'a' + (i % 26) as u8));
    ok.extend_from_slice(b"\"}");
    assert_eq!(outcome(&gw, "/c", &[JSON], &ok, Some(7000)), "");
}

#[test]
fn the_decision_log_records_the_evidence_the_checks_read() {
    let gw = start_logged(&format!(
        r#"log: {{ level: info }}
client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
intel:
  mmdb: {{ geo: {geo} }}
fields:
  coupon_country: {{ from: "json:/code", pattern: "^PPP-([A-Z]{{2}})-" }}
  timezone: header:x-client-timezone
routes:
  - {{ name: coupon, path: /c, methods: [POST], policy: promo }}
policies:
  promo:
    mode: shadow
    checks: {{ declared_country: coupon_country, timezone: timezone, language: true }}
"#,
        geo = data("GeoIP2-City-Test.mmdb"),
    ));
    send(
        &gw,
        "/c",
        &[
            JSON,
            ("X-Client-Timezone", "America/Los_Angeles"),
            ("Accept-Language", "en-US,en;q=0.9"),
        ],
        br#"{"code":"PPP-IN-65"}"#,
        None,
    );
    let mut line = String::new();
    wait_until(10, "the decision line", || {
        line = gw
            .log_text()
            .lines()
            .find(|l| l.contains("\"message\":\"decision\""))
            .unwrap_or("")
            .to_string();
        !line.is_empty()
    });
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["timezone"], "America/Los_Angeles", "{line}");
    assert_eq!(v["declared_country"], "IN", "{line}");
    assert_eq!(v["accept_language"], "en-US,en;q=0.9", "{line}");
    // English is spoken in Sweden (CLDR): no language_mismatch
    assert_eq!(v["reasons"], "timezone_mismatch,country_mismatch", "{line}");
}

#[test]
fn explain_reads_the_fields_from_the_headers_and_body_it_is_given() {
    let gw = gateway("1KiB");
    // the admin port: POST /explain with the request's body
    let r = request(
        gw.admin,
        "POST",
        "/explain?ip=89.160.20.112&path=/c&method=POST&header=Content-Type%3A%20application/json&header=X-Client-Timezone%3A%20Asia/Calcutta",
        &[],
        r#"{"code":"PPP-IN-65"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["fields"]["coupon_country"], "IN");
    assert_eq!(v["fields"]["timezone"], "Asia/Calcutta");
    let sigs: Vec<&str> = v["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal"].as_str().unwrap())
        .collect();
    // an Indian clock and an Indian code from Sweden: a traveller, one fact
    assert_eq!(sigs, ["traveller"]);
    assert_eq!(v["score"], 10);
    assert!(
        v["signals"][0]["because"]
            .as_str()
            .is_some_and(|b| b.contains("Asia/Calcutta") && b.contains("IN")),
        "{}",
        r.body
    );

    // the CLI, with -H and -d, on the same config
    let (code, out, err) = run_cli(&[
        "explain",
        "-c",
        gw.config.to_str().unwrap(),
        "89.160.20.112",
        "--path",
        "/c",
        "--method",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"code":"PPP-DE-65"}"#,
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // Germany is in Sweden's region group here: no mismatch
    assert_eq!(v["fields"]["coupon_country"], "DE");
    assert_eq!(v["score"], 0);
}

#[test]
fn one_device_from_three_countries_is_hopping_within_the_window_only() {
    let gw = start(&format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
intel:
  mmdb: {{ geo: {geo} }}
fields:
  device: cookie:device_id
routes:
  - {{ name: day, path: /d, methods: [POST], policy: day }}
  - {{ name: short, path: /s, methods: [POST], policy: short }}
policies:
  day:
    mode: shadow
    checks: {{ hopping: {{ key: device, window: 24h, max_countries: 2 }} }}
  short:
    mode: shadow
    checks: {{ hopping: {{ key: device, window: 2s, max_countries: 2 }} }}
"#,
        geo = data("GeoIP2-City-Test.mmdb"),
    ));
    // Sweden, Great Britain, the United States in MaxMind's test City database
    let (se, gb, us) = ("89.160.20.112", "2.125.160.216", "216.160.83.56");
    let hop = |path: &str, ip: &str, device: &str| {
        let cookie = format!("theme=dark; device_id={device}");
        let r = request(
            gw.addr,
            "POST",
            path,
            &[("X-Forwarded-For", ip), ("Cookie", cookie.as_str())],
            "",
        );
        assert_eq!(r.status, 200);
        let reasons = last_seen(&gw, path)
            .header("x-risk-reasons")
            .unwrap_or("")
            .to_string();
        reasons == "country_hopping"
    };
    assert!(!hop("/d", se, "dev-1"));
    assert!(!hop("/d", gb, "dev-1"));
    assert!(hop("/d", us, "dev-1"), "a third country within the day");
    assert!(hop("/d", se, "dev-1"), "still three within the day");
    // another device, and no device at all, are their own
    assert!(!hop("/d", us, "dev-2"));
    let r = request(gw.addr, "POST", "/d", &[("X-Forwarded-For", us)], "");
    assert_eq!(r.status, 200);
    assert_eq!(last_seen(&gw, "/d").header("x-risk-reasons"), Some(""));

    // a 2 s window: three countries at once hop, and once the window has passed the
    // old countries no longer count
    assert!(!hop("/s", se, "dev-3"));
    assert!(!hop("/s", gb, "dev-3"));
    assert!(hop("/s", us, "dev-3"));
    wait_until(10, "the window to pass", || !hop("/s", se, "dev-3"));
}

/// Several keys watched at once: a device's countries and a referral code's countries
/// and networks, each its own signal, each key apart.
#[test]
fn several_keys_watched_for_countries_and_networks() {
    let gw = start(&format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
intel:
  mmdb: {{ geo: {geo} }}
fields:
  device: cookie:device_id
  referral: query:ref
routes:
  - {{ name: signup, path: /signup, methods: [POST], policy: signup }}
policies:
  signup:
    mode: shadow
    checks:
      hopping:
        - {{ key: device, window: 24h, max_countries: 2 }}
        - {{ key: referral, window: 24h, max_countries: 1 }}
      spread: {{ key: referral, by: subnet, window: 1h, max_networks: 3 }}
"#,
        geo = data("GeoIP2-City-Test.mmdb"),
    ));
    let send = |ip: &str, device: &str, referral: &str| {
        let cookie = format!("device_id={device}");
        let path = format!("/signup?ref={referral}");
        let r = request(
            gw.addr,
            "POST",
            &path,
            &[("X-Forwarded-For", ip), ("Cookie", cookie.as_str())],
            "",
        );
        assert_eq!(r.status, 200);
        last_seen(&gw, &path)
            .header("x-risk-reasons")
            .unwrap_or("")
            .to_string()
    };
    // one referral code from three /24s of one country (test addresses have none):
    // within the spread's three networks
    assert_eq!(send("198.51.100.7", "a", "R1"), "");
    assert_eq!(send("198.51.100.9", "b", "R1"), "", "the same /24");
    assert_eq!(send("203.0.113.5", "c", "R1"), "");
    assert_eq!(send("192.0.2.77", "d", "R1"), "");
    // a fourth network: spread; another code is its own
    assert_eq!(send("198.18.0.1", "e", "R1"), "network_spread");
    assert_eq!(send("198.18.0.1", "e", "R2"), "");
    // the referral code's countries: Sweden, then Great Britain (more than one)
    assert_eq!(send("89.160.20.112", "f", "R3"), "");
    assert_eq!(send("2.125.160.216", "g", "R3"), "country_hopping");
    // the device's countries, counted apart from the code's
    assert_eq!(send("89.160.20.112", "h", "R4"), "");
    assert_eq!(send("2.125.160.216", "h", "R5"), "");
    assert_eq!(send("216.160.83.56", "h", "R6"), "country_hopping");
}

/// A relay address whose list gives no region: its country (the relay's data centre)
/// is reported, but never compared with the person or the claim.
#[test]
fn a_relay_egress_without_a_region_is_not_compared_with_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    // RFC 8805 lines: the first without a country, the second with the user's region
    let relay = write(
        dir.path(),
        "relay.csv",
        "81.2.69.160/32,,,,\n216.160.83.56/32,IN,IN-MH,Mumbai,\n",
    );
    let gw = start(&format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
intel:
  mmdb: {{ geo: {geo} }}
  lists:
    relay: {{ source: {relay}, format: geofeed }}
fields:
  coupon_country: {{ from: "json:/code", pattern: "^PPP-([A-Z]{{2}})-" }}
  timezone: header:x-client-timezone
routes:
  - {{ name: coupon, path: /c, methods: [POST], policy: promo }}
policies:
  promo:
    mode: shadow
    checks: {{ language: true, timezone: timezone, declared_country: coupon_country }}
"#,
        geo = data("GeoIP2-City-Test.mmdb"),
    ));
    let case = |ip: &str, zone: &str, lang: &str, code: &str| {
        let body = format!(r#"{{"code":"{code}"}}"#);
        let r = request(
            gw.addr,
            "POST",
            "/c",
            &[
                ("X-Forwarded-For", ip),
                ("Content-Type", "application/json"),
                ("X-Client-Timezone", zone),
                ("Accept-Language", lang),
            ],
            &body,
        );
        assert_eq!(r.status, 200);
        let seen = last_seen(&gw, "/c");
        (
            seen.header("x-risk-reasons").unwrap_or("").to_string(),
            seen.header("x-risk-country").unwrap_or("").to_string(),
        )
    };
    // 81.2.69.160 is in Great Britain by the geo database: the egress, not the user.
    // A German customer with a German code: nothing to compare it with
    assert_eq!(
        case("81.2.69.160", "Europe/Berlin", "de-DE", "PPP-DE-10"),
        ("relay".to_string(), "GB".to_string())
    );
    // but the person still against the claim: an Indian clock claiming Germany
    assert_eq!(
        case("81.2.69.160", "Asia/Kolkata", "hi-IN", "PPP-DE-10").0,
        "relay,person_mismatch"
    );
    // without a claim, the person against the network: nothing to compare with
    assert_eq!(
        case("81.2.69.160", "Europe/Berlin", "de-DE", "WELCOME10").0,
        "relay"
    );
    // a relay address with a region is compared as the user's country (India here)
    assert_eq!(
        case("216.160.83.56", "Europe/Berlin", "de-DE", "WELCOME10"),
        (
            // the clock and the languages say one fact: the clock says it
            "relay,timezone_mismatch".to_string(),
            "IN".to_string()
        )
    );
    assert_eq!(
        case("216.160.83.56", "Europe/Berlin", "de-DE", "PPP-IN-10").0,
        "relay,person_mismatch"
    );
}
