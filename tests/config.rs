//! Config validation and data loading through the real CLI: every mistake reported at
//! once with file:line:column and key; bad data files give clear errors, not panics.

mod common;
use common::*;

use std::path::Path;

#[test]
fn every_bad_config_reports_every_problem_with_its_place() {
    let dir = root().join("tests/bad-configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        n += 1;
        let expect = std::fs::read_to_string(path.with_extension("expect"))
            .unwrap_or_else(|_| panic!("{} has no .expect file", path.display()));
        let (code, _out, err) = run_cli(&["check", "-c", path.to_str().unwrap()]);
        assert_eq!(code, 64, "{}: {err}", path.display());
        let got: Vec<String> = err
            .lines()
            .skip(1)
            .map(|l| l.trim().replace(&format!("{}/", dir.display()), ""))
            .collect();
        let want: Vec<&str> = expect.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(got, want, "{}", path.display());
        let count = format!("({} problem", want.len());
        assert!(err.lines().next().unwrap().contains(&count), "{err}");
    }
    assert!(n >= 8, "expected the folder of bad configs, found {n}");
}

#[test]
fn the_shipped_config_passes_check() {
    let cfg = root().join("gateway.yaml");
    let (code, out, err) = run_cli(&["check", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok"), "{out}");
}

#[test]
fn a_short_config_gets_the_documented_defaults() {
    let cfg = riskgate::config::parse(
        "upstream: 127.0.0.1:3000\nroutes:\n  - { name: c, path: /c, policy: p }\npolicies:\n  p:\n",
        Path::new("/etc/riskgate/gateway.yaml"),
    )
    .unwrap();
    assert_eq!(cfg.listen, vec!["0.0.0.0:8080".parse().unwrap()]);
    assert_eq!(cfg.admin, "127.0.0.1:9901".parse().unwrap());
    assert_eq!(cfg.log.level, "info");
    assert!(cfg.client_ip.trusted_proxies.is_empty());
    assert_eq!(cfg.client_ip.header.name(), "x-forwarded-for");
    assert_eq!(cfg.intel.mmdb.reload.as_secs(), 60);
    assert_eq!(cfg.intel.lists_reload.as_secs(), 60);
    let p = &cfg.policies[0];
    assert_eq!(p.mode, riskgate::config::Mode::Enforce);
    assert_eq!(p.on_lookup_error, riskgate::config::OnLookupError::Allow);
    assert_eq!((p.thresholds.verify, p.thresholds.block), (30, 70));
    assert_eq!((p.subnet_v4, p.subnet_v6), (24, 48));
    assert_eq!(p.mobile_multiplier, 1);
    assert!(p.limits.is_empty());
    use riskgate::decide::Signal;
    for (s, w) in [
        (Signal::Tor, 100),
        (Signal::Hosting, 70),
        (Signal::Relay, 0),
        (Signal::Proxy, 50),
        (Signal::ResidentialProxy, 40),
        (Signal::Vpn, 30),
        (Signal::CountryDenied, 100),
        (Signal::RateIp, 0),
        (Signal::LookupError, 0),
    ] {
        assert_eq!(p.weights.fixed[s as usize], w, "{s:?}");
    }
    match &p.on_block {
        riskgate::config::OnBlock::Respond(r) => {
            assert_eq!(r.status, 403);
            assert!(std::str::from_utf8(&r.body)
                .unwrap()
                .contains("RISK_IP_DETECTED"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.on_limit.status, 429);
}

#[test]
fn relative_data_paths_are_relative_to_the_config_file() {
    let cfg = riskgate::config::parse(
        "upstream: 127.0.0.1:3000\nintel:\n  mmdb: { geo: data/geo.mmdb }\n  lists: { deny: /abs/deny.txt }\n",
        Path::new("/etc/riskgate/gateway.yaml"),
    )
    .unwrap();
    assert_eq!(
        cfg.intel.mmdb.geo.as_deref(),
        Some(Path::new("/etc/riskgate/data/geo.mmdb"))
    );
    assert_eq!(
        cfg.intel.lists[0].sources[0].source,
        riskgate::config::Source::File("/abs/deny.txt".into())
    );
}

fn config_with_geo(dir: &Path, geo: &str) -> String {
    write(
        dir,
        "gateway.yaml",
        &format!(
            "upstream: 127.0.0.1:3000\nintel:\n  mmdb:\n    geo: {geo}\n    asn: {}\n",
            data("GeoLite2-ASN-Test.mmdb")
        ),
    )
}

#[test]
fn a_missing_mmdb_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_geo(dir.path(), "/nonexistent/GeoLite2-City.mmdb");
    for cmd in ["check", "run"] {
        let (code, _out, err) = run_cli(&[cmd, "-c", &cfg]);
        assert_eq!(code, 1, "{cmd}: {err}");
        assert!(err.contains("/nonexistent/GeoLite2-City.mmdb"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn corrupt_mmdbs_are_clear_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let bad = root().join("tests/fixtures/bad-mmdb");
    let mut n = 0;
    for entry in std::fs::read_dir(&bad).unwrap() {
        let p = entry.unwrap().path();
        n += 1;
        let cfg = config_with_geo(dir.path(), p.to_str().unwrap());
        let (code, _out, err) = run_cli(&["check", "-c", &cfg]);
        assert_eq!(code, 1, "{}: {err}", p.display());
        assert!(
            err.contains(p.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    // a text file posing as a database, and an empty file
    for (name, body) in [
        ("notes.mmdb", "hello, not a database\n"),
        ("empty.mmdb", ""),
    ] {
        let p = write(dir.path(), name, body);
        let cfg = config_with_geo(dir.path(), &p);
        let (code, _out, err) = run_cli(&["check", "-c", &cfg]);
        assert_eq!(code, 1, "{name}: {err}");
        assert!(err.contains(name) && !err.contains("panicked"), "{err}");
    }
    assert!(n >= 5);
}

#[test]
fn every_data_problem_is_listed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let html = write(
        dir.path(),
        "tor.html",
        "<!DOCTYPE html><html><body>502</body></html>\n",
    );
    let cfg = write(
        dir.path(),
        "gateway.yaml",
        &format!(
            "upstream: 127.0.0.1:3000\nintel:\n  mmdb:\n    geo: /nope/geo.mmdb\n    asn: /nope/asn.mmdb\n  tor: {{ source: {html} }}\n  lists:\n    deny: /nope/deny.txt\n"
        ),
    );
    let (code, _out, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 1);
    for want in ["/nope/geo.mmdb", "/nope/asn.mmdb", "HTML", "/nope/deny.txt"] {
        assert!(err.contains(want), "missing {want}: {err}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let (code, _o, _e) = run_cli(&["frobnicate"]);
    assert_eq!(code, 2);
    let (code, _o, _e) = run_cli(&["explain", "-c", "gateway.yaml", "not-an-ip"]);
    assert_eq!(code, 2);
}

#[test]
fn explain_shows_facts_sources_signals_and_action() {
    let cfg = root().join("gateway.yaml");
    let (code, out, err) = run_cli(&[
        "explain",
        "-c",
        cfg.to_str().unwrap(),
        "127.0.0.1",
        "--path",
        "/api/apply-coupon",
        "--method",
        "POST",
        "--header",
        "X-Forwarded-For: 185.241.208.232",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["route"], "coupon");
    assert_eq!(v["action"], "block");
    assert_eq!(v["score"], 100);
    assert_eq!(v["facts"]["tor_exit_set"]["matched"], true);
    assert_eq!(v["facts"]["client_ip_from"], "x-forwarded-for");
    assert_eq!(v["signals"][0]["signal"], "tor");
    assert_eq!(v["signals"][0]["weight"], 100);
    assert_eq!(v["headers"]["x-risk-action"], "block");
    let (code, out, _) = run_cli(&[
        "explain",
        "-c",
        cfg.to_str().unwrap(),
        "89.160.20.112",
        "--path",
        "/api/apply-coupon",
        "--method",
        "POST",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["facts"]["country"]["value"], "SE");
    assert_eq!(v["facts"]["asn"]["organization"], "Bredband2 AB");
    assert!(v["facts"]["country"]["source"]["file"]
        .as_str()
        .unwrap()
        .ends_with("GeoIP2-City-Test.mmdb"));
    assert_eq!(v["action"], "allow");
}

#[test]
fn check_fetches_url_sources_and_reports_failures() {
    let feed = Feed::start("/exits", FeedReply::Status(500));
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "gateway.yaml",
        &format!(
            "upstream: 127.0.0.1:3000\nintel:\n  fetch_timeout: 2s\n  tor: {{ source: \"{}\" }}\n",
            feed.url
        ),
    );
    let (code, _out, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("HTTP 500"), "{err}");
    feed.set(FeedReply::Body {
        body: "185.241.208.232\n".into(),
        etag: None,
    });
    let (code, out, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 0, "{out}{err}");
}
