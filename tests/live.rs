//! Live data and live config: Tor list from a real HTTP server on loopback, MMDB and
//! list files replaced under a running gateway, config reloads by SIGHUP and
//! POST /reload, and a load test that counts every response while all of it happens.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOR_A: &str = "185.241.208.232"; // in the real exit list
const NEW_EXIT: &str = "192.0.2.77";

fn real_exit_list() -> String {
    std::fs::read_to_string(data("tor-exit-addresses.txt")).unwrap()
}

fn routes() -> &'static str {
    "routes:\n  - { name: c, path: /c, policy: p }\npolicies:\n  p: {}\n"
}

fn ready(gw: &Gateway) -> bool {
    request(gw.admin, "GET", "/readyz", &[], "").status == 200
}

#[test]
fn tor_list_from_a_url_survives_500_timeout_html_and_shrink_and_uses_etags() {
    let feed = Feed::start("/exit-addresses", FeedReply::Status(500));
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  fetch_timeout: 1s\n  tor: {{ source: \"{}\", refresh: 1s }}\n{}",
        feed.url,
        routes()
    ));
    // not ready until the first good fetch; meanwhile requests flow (fail open on Tor)
    wait_until(10, "a failed fetch, counted", || {
        feed.hit_count() >= 1
            && metric(
                &gw,
                "riskgate_reloads_total{result=\"error\",source=\"tor\"}",
            ) >= 1.0
    });
    assert!(!ready(&gw), "ready before the Tor list ever loaded");
    assert_eq!(post_as(&gw, "/c", TOR_A).status, 200);

    // the feed recovers: the list is fetched, the gateway becomes ready, Tor is blocked
    feed.set(FeedReply::Body {
        body: real_exit_list(),
        etag: Some("\"v1\"".into()),
    });
    wait_until(15, "ready", || ready(&gw));
    assert_eq!(post_as(&gw, "/c", TOR_A).status, 403);
    assert_eq!(metric(&gw, "riskgate_tor_exits"), 1174.0);
    assert!(
        metric(
            &gw,
            "riskgate_reloads_total{result=\"error\",source=\"tor\"}"
        ) >= 1.0
    );

    // the next fetches carry If-None-Match and get 304
    wait_until(10, "a 304", || {
        metric(
            &gw,
            "riskgate_reloads_total{result=\"not_modified\",source=\"tor\"}",
        ) >= 1.0
    });
    assert!(feed
        .hits
        .lock()
        .unwrap()
        .iter()
        .any(|h| h.iter().any(|(k, v)| k == "if-none-match" && v == "\"v1\"")));

    // a 500, an HTML error page, a hang past the timeout, a list that shrank to one
    // address: each is refused and the last good set stays in service
    for (what, reply) in [
        ("500", FeedReply::Status(500)),
        (
            "html",
            FeedReply::Body {
                body: "<!DOCTYPE html><html><body>Service Unavailable</body></html>".into(),
                etag: None,
            },
        ),
        ("hang", FeedReply::Hang(Duration::from_secs(3))),
        (
            "shrink",
            FeedReply::Body {
                body: format!("{NEW_EXIT}\n"),
                etag: None,
            },
        ),
    ] {
        let errors = metric(
            &gw,
            "riskgate_reloads_total{result=\"error\",source=\"tor\"}",
        );
        feed.set(reply);
        wait_until(20, what, || {
            metric(
                &gw,
                "riskgate_reloads_total{result=\"error\",source=\"tor\"}",
            ) > errors
        });
        assert_eq!(
            post_as(&gw, "/c", TOR_A).status,
            403,
            "{what}: the old set stays"
        );
        assert_eq!(post_as(&gw, "/c", NEW_EXIT).status, 200, "{what}");
        assert_eq!(metric(&gw, "riskgate_tor_exits"), 1174.0, "{what}");
    }

    // a good new list (the real one plus one address, in the one-IP-a-line format)
    let mut bulk = std::fs::read_to_string(fixture("torbulkexitlist.txt")).unwrap();
    bulk.push_str(&format!("{NEW_EXIT}\n"));
    feed.set(FeedReply::Body {
        body: bulk,
        etag: Some("\"v2\"".into()),
    });
    wait_until(20, "the new list", || {
        post_as(&gw, "/c", NEW_EXIT).status == 403
    });
    assert_eq!(metric(&gw, "riskgate_tor_exits"), 1175.0);
    assert!(metric(&gw, "riskgate_source_age_seconds{source=\"tor\"}") < 5.0);
}

fn write_geo(path: &Path, country: &str) {
    let mut w = mmdb_writer::Writer::new("Test-Country");
    w.insert(
        "89.160.20.0/24".parse::<ipnet::IpNet>().unwrap(),
        &serde_json::json!({"country": {"iso_code": country}}),
    )
    .unwrap();
    // write beside, then rename: what a careful updater does
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, w.to_bytes().unwrap()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn backdate(path: &Path) {
    // the reloader waits for a file to settle (mtime older than 1 s): skip the wait
    let old = std::time::SystemTime::now() - Duration::from_secs(5);
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(old).unwrap();
}

fn country_of(gw: &Gateway, ip: &str) -> String {
    post_as(gw, "/c", ip);
    last_seen(gw, "/c")
        .header("x-risk-country")
        .unwrap_or("")
        .to_string()
}

#[test]
fn an_mmdb_replaced_on_disk_is_reloaded_and_a_corrupt_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let geo = dir.path().join("geo.mmdb");
    write_geo(&geo, "SE");
    backdate(&geo);
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  mmdb: {{ geo: {}, reload: 1s }}\n{}",
        geo.display(),
        routes()
    ));
    assert_eq!(country_of(&gw, "89.160.20.112"), "SE");

    write_geo(&geo, "NL");
    backdate(&geo);
    wait_until(15, "the new database", || {
        country_of(&gw, "89.160.20.112") == "NL"
    });

    // corrupt files: a half-written copy and MaxMind's broken test file; the old stays
    let good = std::fs::read(&geo).unwrap();
    for (what, bytes) in [
        ("half-written", good[..good.len() / 2].to_vec()),
        (
            "broken pointers",
            std::fs::read(fixture("bad-mmdb/MaxMind-DB-test-broken-pointers-24.mmdb")).unwrap(),
        ),
    ] {
        let errors = metric(
            &gw,
            "riskgate_reloads_total{result=\"error\",source=\"geo\"}",
        );
        std::fs::write(&geo, bytes).unwrap();
        backdate(&geo);
        signal(&gw, "HUP"); // SIGHUP: check at once
        wait_until(15, what, || {
            metric(
                &gw,
                "riskgate_reloads_total{result=\"error\",source=\"geo\"}",
            ) > errors
        });
        assert_eq!(
            country_of(&gw, "89.160.20.112"),
            "NL",
            "{what}: the old database stays"
        );
    }
    // and a good file again is picked up
    write_geo(&geo, "FI");
    backdate(&geo);
    wait_until(15, "recovery", || country_of(&gw, "89.160.20.112") == "FI");
}

#[test]
fn a_list_edited_on_disk_takes_effect() {
    let dir = tempfile::tempdir().unwrap();
    let deny = write(dir.path(), "deny.txt", "# nothing yet\n203.0.113.0/24\n");
    backdate(Path::new(&deny));
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  lists: {{ deny: {deny}, reload: 1s }}\n{}",
        routes()
    ));
    assert_eq!(post_as(&gw, "/c", "198.51.100.9").status, 200);
    std::fs::write(&deny, "203.0.113.0/24\n198.51.100.0/24\n").unwrap();
    backdate(Path::new(&deny));
    wait_until(15, "the edited list", || {
        post_as(&gw, "/c", "198.51.100.9").status == 403
    });
}

fn config_file(gw: &Gateway) -> PathBuf {
    gw.config.clone()
}

#[test]
fn a_bad_config_on_sighup_keeps_the_old_routes_and_a_good_one_replaces_them() {
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}{}",
        full_intel(),
        routes()
    ));
    assert_eq!(post_as(&gw, "/c", TOR_A).status, 403);
    let cfg = config_file(&gw);
    let good = std::fs::read_to_string(&cfg).unwrap();

    // a broken edit: SIGHUP refuses it, the old routes stay
    std::fs::write(
        &cfg,
        good.replace("policy: p", "policy: nope")
            .replace("routes:", "routes:\n  - { name: x, path: /x, polcy: p }"),
    )
    .unwrap();
    let errors = metric(
        &gw,
        "riskgate_reloads_total{result=\"error\",source=\"config\"}",
    );
    signal(&gw, "HUP");
    wait_until(10, "the refusal", || {
        metric(
            &gw,
            "riskgate_reloads_total{result=\"error\",source=\"config\"}",
        ) > errors
    });
    assert_eq!(
        post_as(&gw, "/c", TOR_A).status,
        403,
        "the old route still scores"
    );

    // POST /reload gives the same problems as `check`, with places
    let r = request(gw.admin, "POST", "/reload", &[], "");
    assert_eq!(r.status, 422);
    assert!(r.body.contains("no policy named `nope`"), "{}", r.body);
    assert!(r.body.contains("did you mean `policy`"), "{}", r.body);
    assert!(r.body.contains("gateway.yaml:"), "{}", r.body);

    // a good edit: a new route in shadow mode
    std::fs::write(
        &cfg,
        good.replace("policies:\n  p: {}", "  - { name: s, path: /s, policy: watch }\npolicies:\n  p: {}\n  watch: { mode: shadow }"),
    )
    .unwrap();
    let r = request(gw.admin, "POST", "/reload", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let resp = post_as(&gw, "/s", TOR_A);
    assert_eq!(resp.status, 200);
    assert_eq!(last_seen(&gw, "/s").header("x-risk-mode"), Some("shadow"));
    assert_eq!(post_as(&gw, "/c", TOR_A).status, 403);
}

#[test]
fn limiter_state_survives_a_config_reload_that_does_not_change_it() {
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}routes:\n  - {{ name: c, path: /c, policy: p }}\npolicies:\n  p:\n    limits: [{{ key: ip, rate: 2/hour }}]\n",
        full_intel()
    ));
    assert_eq!(post_as(&gw, "/c", "89.160.20.112").status, 200);
    assert_eq!(post_as(&gw, "/c", "89.160.20.112").status, 200);
    assert_eq!(post_as(&gw, "/c", "89.160.20.112").status, 429);
    let cfg = config_file(&gw);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "routes:",
            "routes:\n  - { name: other, path: /other, policy: p }",
        ),
    )
    .unwrap();
    assert_eq!(request(gw.admin, "POST", "/reload", &[], "").status, 200);
    assert_eq!(
        post_as(&gw, "/c", "89.160.20.112").status,
        429,
        "reloading did not reset the bucket"
    );
}

/// Keep-alive HTTP/1.1 client for the load test: one connection, many requests.
struct Conn {
    s: std::io::BufReader<std::net::TcpStream>,
}

impl Conn {
    fn new(addr: std::net::SocketAddr) -> Conn {
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn {
            s: std::io::BufReader::new(s),
        }
    }

    fn post(&mut self, path: &str, xff: &str) -> Result<Resp, String> {
        use std::io::{BufRead, Read, Write};
        let req = format!("POST {path} HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {xff}\r\nContent-Length: 1\r\n\r\nx");
        self.s
            .get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self
                .s
                .read_until(b'\n', &mut line)
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            head.extend_from_slice(&line);
            if line == b"\r\n" {
                break;
            }
        }
        let mut r = parse_response(&head);
        let len: usize = r
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.s.read_exact(&mut body).map_err(|e| e.to_string())?;
        r.body = String::from_utf8_lossy(&body).into_owned();
        Ok(r)
    }
}

#[test]
fn no_request_fails_while_data_and_config_reload_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let geo = dir.path().join("geo.mmdb");
    write_geo(&geo, "SE");
    backdate(&geo);
    let deny = write(dir.path(), "deny.txt", "203.0.113.0/24\n");
    backdate(Path::new(&deny));
    let feed = Feed::start(
        "/exits",
        FeedReply::Body {
            body: real_exit_list(),
            etag: None,
        },
    );
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  mmdb: {{ geo: {}, asn: {}, reload: 1s }}\n  tor: {{ source: \"{}\", refresh: 1s }}\n  lists: {{ deny: {deny}, hosting: {}, reload: 1s }}\n{}",
        geo.display(),
        data("GeoLite2-ASN-Test.mmdb"),
        feed.url,
        data("datacenter.txt"),
        routes()
    ));
    wait_until(15, "ready", || ready(&gw));
    let cfg = config_file(&gw);
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let run_for = Duration::from_secs(6);
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let addr = gw.addr;
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut ok, mut bad, mut blocked) = (0u64, Vec::new(), 0u64);
                let mut c = Conn::new(addr);
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    // mostly a clean client; every 10th a Tor exit that must stay blocked
                    let tor = i.is_multiple_of(10);
                    let ip = if tor { TOR_A } else { "89.160.20.112" };
                    match c.post("/c", ip) {
                        Ok(r) if tor && r.status == 403 => blocked += 1,
                        Ok(r)
                            if !tor
                                && r.status == 200
                                && (r.body.contains("\"x-risk-country\":\"SE\"")
                                    || r.body.contains("\"x-risk-country\":\"NL\""))
                                && r.body.contains("\"x-risk-asn\":\"29518\"") =>
                        {
                            ok += 1
                        }
                        Ok(r) => bad.push(format!("worker {w}: {} {}", r.status, r.body)),
                        Err(e) => {
                            bad.push(format!("worker {w}: {e}"));
                            c = Conn::new(addr);
                        }
                    }
                }
                (ok, blocked, bad)
            })
        })
        .collect();

    // meanwhile: replace the MMDB, edit the list, reload the config, again and again
    let t0 = Instant::now();
    let mut reloads = 0;
    let mut n = 0u32;
    while t0.elapsed() < run_for {
        n += 1;
        write_geo(&geo, if n.is_multiple_of(2) { "SE" } else { "NL" });
        backdate(&geo);
        std::fs::write(&deny, format!("203.0.113.0/24\n198.51.{}.0/24\n", n % 200)).unwrap();
        backdate(Path::new(&deny));
        let variant = cfg_text.replace(
            "p: {}",
            &format!(
                "p: {{ thresholds: {{ verify: {}, block: 70 }} }}",
                30 + n % 10
            ),
        );
        std::fs::write(&cfg, variant).unwrap();
        if request(gw.admin, "POST", "/reload", &[], "").status == 200 {
            reloads += 1;
        }
        signal(&gw, "HUP");
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total_ok = 0;
    let mut total_blocked = 0;
    let mut failures = Vec::new();
    for w in workers {
        let (ok, blocked, bad) = w.join().unwrap();
        total_ok += ok;
        total_blocked += blocked;
        failures.extend(bad);
    }
    let rate = (total_ok + total_blocked) as f64 / run_for.as_secs_f64();
    eprintln!(
        "load under reload: {total_ok} allowed + {total_blocked} blocked in {run_for:?} ({rate:.0}/s), {reloads} config reloads, {} geo reloads, {} failures",
        metric(&gw, "riskgate_reloads_total{result=\"ok\",source=\"geo\"}"),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failed or wrong responses, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(reloads >= 20, "only {reloads} config reloads");
    assert!(metric(&gw, "riskgate_reloads_total{result=\"ok\",source=\"geo\"}") >= 2.0);
    assert!(total_ok + total_blocked > 1000);
}
