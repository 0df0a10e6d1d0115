//! The dashboard in a real headless browser (Debian's chromium): after real traffic
//! through the gateway, the page served by the admin port, refreshed by its own
//! script from `/stats`, shows the route, its counts by action, the VPN detection
//! rate and the most blocked subnet. Also `/stats` itself, against the traffic sent.

mod common;

use common::*;
use std::process::Command;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// The page as the browser built it, once its script has run (`--dump-dom` after a
/// virtual-time budget that covers the fetch of `/stats`).
fn rendered(browser: &str, url: &str, size: &str, screenshot: Option<&std::path::Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=10000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .arg(format!("--window-size={size}"));
    match screenshot {
        Some(p) => cmd.arg(format!("--screenshot={}", p.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd.arg(url).output().expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn yaml() -> String {
    format!(
        "client_ip:\n  trusted_proxies: [\"127.0.0.1/32\"]\n{}{}",
        full_intel(),
        r#"routes:
  - { name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }
  - { name: signup, path: /signup, methods: [POST], policy: promo }
policies:
  promo:
    weights: { hosting: 80, vpn: 40 }
    limits:
      - { key: ip, rate: 3/hour }
"#
    )
}

#[test]
fn the_dashboard_shows_the_traffic_in_a_real_browser() {
    let gw = start(&yaml());
    // 6 customers from Sweden (allow), 12 from one datacenter /24 (block), 5 from an
    // anonymous VPN (verify), and one customer who comes back 5 times (2 limited)
    for i in 0..6 {
        let r = post_as(&gw, "/api/apply-coupon", &format!("89.160.20.{}", 100 + i));
        assert_eq!(r.status, 200);
    }
    for i in 0..12 {
        let r = post_as(&gw, "/api/apply-coupon", &format!("1.92.3.{}", 10 + i));
        assert_eq!(r.status, 403);
    }
    for i in 0..5 {
        let r = post_as(&gw, "/api/apply-coupon", &format!("1.2.0.{}", i + 1));
        assert_eq!(r.status, 200);
        assert_eq!(
            last_seen(&gw, "/api/apply-coupon").header("x-risk-action"),
            Some("verify")
        );
    }
    let statuses: Vec<u16> = (0..5)
        .map(|_| post_as(&gw, "/api/apply-coupon", "89.160.20.200").status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);

    // /stats counts exactly what was sent
    let stats: serde_json::Value =
        serde_json::from_str(&request(gw.admin, "GET", "/stats", &[], "").body).unwrap();
    assert_eq!(stats["matched"], 28);
    let coupon = &stats["routes"][0];
    assert_eq!(coupon["name"], "coupon");
    assert_eq!(coupon["totals"]["allow"], 9);
    assert_eq!(coupon["totals"]["verify"], 5);
    assert_eq!(coupon["totals"]["block"], 12);
    assert_eq!(coupon["totals"]["limit"], 2);
    let per_minute: u64 = coupon["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m.as_array().unwrap())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(per_minute, 28);
    assert_eq!(stats["routes"][1]["name"], "signup");
    assert_eq!(stats["routes"][1]["matched"], 0);
    let vpn = &stats["rates"][0];
    assert_eq!(vpn["name"], "vpn");
    assert_eq!(vpn["count"], 5);
    // 5 of 28 is 17.9 %: over the 15 % warning, under the 25 % critical
    assert_eq!(vpn["state"], "warning", "{vpn}");
    assert_eq!(stats["top"]["subnets"][0]["subnet"], "1.92.3.0/24");
    assert_eq!(stats["top"]["subnets"][0]["count"], 12);
    assert_eq!(stats["top"]["subnets"][1]["subnet"], "89.160.20.0/24");
    assert_eq!(stats["top"]["subnets"][1]["count"], 2);
    assert_eq!(stats["recent"][0]["ip"], "89.160.20.200");
    assert_eq!(stats["recent"][0]["action"], "limit");
    assert!(stats["sources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["source"] == "list:hosting" && s["entries"].as_u64().unwrap() > 1000));

    let Some(browser) = chromium() else {
        skip(
            "the_dashboard_shows_the_traffic_in_a_real_browser (browser part)",
            "no chromium here (make test installs Debian's chromium)",
        );
        return;
    };
    let url = format!("http://{}/dashboard", gw.admin);
    let mut dom = String::new();
    // the script's first fetch of /stats has rendered once `data-loaded` is set
    wait_until(60, "the dashboard to render /stats", || {
        dom = rendered(browser, &url, "1280,1000", None);
        dom.contains("data-loaded=\"1\"")
    });
    assert!(dom.contains("data-route=\"coupon\""), "{dom}");
    for (action, n) in [("allow", 9), ("verify", 5), ("block", 12), ("limit", 2)] {
        assert!(
            dom.contains(&format!("data-action=\"{action}\"><span class=\"dot\" style=\"background:var(--{action})\"></span>{action} {n}</span>")),
            "{action} {n} not shown:\n{dom}"
        );
    }
    // the VPN detection rate first, at 18 %, in its warning state
    let rates = &dom[dom.find("id=\"rates\"").unwrap()..];
    let first = &rates[..rates.find("</div></div>").unwrap()];
    assert!(
        first.contains("id=\"rate-vpn\"") && first.contains("VPN detection rate"),
        "{first}"
    );
    assert!(
        dom.contains("class=\"rate warning\" id=\"rate-vpn\""),
        "{dom}"
    );
    assert!(dom.contains(">18 %<"), "{dom}");
    // the most blocked subnet heads its table
    let subnets = &dom[dom.find("id=\"top-subnets\"").unwrap()..];
    let first_row = &subnets[subnets.find("<tbody>").unwrap()..];
    assert!(
        first_row.starts_with("<tbody><tr><td>1.92.3.0/24</td><td class=\"num\">12</td>"),
        "{first_row}"
    );
    // the last decision, and a data source with its size
    assert!(dom.contains("89.160.20.200"), "{dom}");
    assert!(dom.contains("list:hosting"), "{dom}");

    // on a phone's screen too: the same page renders (a screenshot for a person to see)
    let shot = target_dir().join("dashboard-phone.png");
    let _ = std::fs::remove_file(&shot);
    rendered(browser, &url, "390,844", Some(&shot));
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000),
        "no phone screenshot"
    );
}
