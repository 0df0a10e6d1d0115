//! The formats providers really publish, read from their real files (tests/fixtures/
//! feeds/, see its NOTICE), and served over real HTTP to the real gateway: every
//! prefix found, bad lines counted, a feed that changes format or shrinks refused
//! with the old data kept; relay and mobile lists; lists of several sources.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;

use common::*;
use ipnet::IpNet;
use riskgate::config::FeedFormat;
use riskgate::intel::feeds;
use serde_json::Value;

fn feed(name: &str) -> String {
    std::fs::read_to_string(fixture(&format!("feeds/{name}"))).unwrap()
}

/// The prefixes of a JSON feed, read the plain way (serde_json values), as a
/// reference independent of riskgate's reader.
fn json_prefixes(v: &Value, format: FeedFormat) -> Vec<String> {
    let strs = |arr: &Value, key: &str| -> Vec<String> {
        arr.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[key].as_str().map(String::from))
            .collect()
    };
    match format {
        FeedFormat::Aws => {
            let mut p = strs(&v["prefixes"], "ip_prefix");
            p.extend(strs(&v["ipv6_prefixes"], "ipv6_prefix"));
            p
        }
        FeedFormat::Gcp => {
            let mut p = strs(&v["prefixes"], "ipv4Prefix");
            p.extend(strs(&v["prefixes"], "ipv6Prefix"));
            p
        }
        FeedFormat::Azure => v["values"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| {
                t["properties"]["addressPrefixes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string())
            })
            .collect(),
        FeedFormat::Oracle => v["regions"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| strs(&r["cidrs"], "cidr"))
            .collect(),
        _ => unreachable!(),
    }
}

/// The (prefix, country) rows of a geofeed or a plain list, read the plain way.
fn text_rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut f = l.split(',');
            (
                f.next().unwrap().trim().to_string(),
                f.next().unwrap_or("").trim().to_ascii_uppercase(),
            )
        })
        .collect()
}

fn net(p: &str) -> IpNet {
    p.parse::<IpNet>()
        .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
        .unwrap_or_else(|_| panic!("reference cannot read {p}"))
}

fn last(n: &IpNet) -> IpAddr {
    n.broadcast()
}

#[test]
fn every_real_feed_is_read_whole_in_the_format_it_is_in() {
    // (file, format, entries as counted in the file, v4 and v6 present)
    let cases = [
        (
            "aws-ip-ranges.json",
            FeedFormat::Aws,
            10_666 + 6_160,
            true,
            true,
        ),
        ("gcp-cloud.json", FeedFormat::Gcp, 937, true, true),
        ("gcp-goog.json", FeedFormat::Gcp, 84, true, true),
        (
            "azure-ServiceTags_Public.json",
            FeedFormat::Azure,
            101_516,
            true,
            true,
        ),
        (
            "oracle-public_ip_ranges.json",
            FeedFormat::Oracle,
            972,
            true,
            false,
        ),
        (
            "digitalocean-geofeed.csv",
            FeedFormat::Geofeed,
            1_182,
            true,
            true,
        ),
        ("linode-geofeed.txt", FeedFormat::Geofeed, 4_552, true, true),
        (
            "starlink-geofeed.csv",
            FeedFormat::Geofeed,
            1_805,
            true,
            true,
        ),
        (
            "tmobile-geofeed.txt",
            FeedFormat::Geofeed,
            2_909,
            true,
            true,
        ),
        (
            "verizon-wireless-geofeed.csv",
            FeedFormat::Geofeed,
            2_833,
            true,
            true,
        ),
        (
            "icloud-private-relay.txt",
            FeedFormat::Cidr,
            13_745,
            true,
            true,
        ),
        ("cloudflare-ips-v4.txt", FeedFormat::Cidr, 15, true, false),
        ("cloudflare-ips-v6.txt", FeedFormat::Cidr, 7, false, true),
    ];
    for (file, format, entries, v4, v6) in cases {
        let text = feed(file);
        assert_eq!(feeds::detect(&text).unwrap(), format, "{file}: detected");
        let set = feeds::parse(&text, None).unwrap();
        assert_eq!(set.format, format, "{file}");
        assert_eq!(set.entries, entries, "{file}: entries");
        assert_eq!(set.skipped, 0, "{file}: {:?}", set.first_skipped);
        // the same with the format named
        assert_eq!(
            feeds::parse(&text, Some(format)).unwrap().entries,
            entries,
            "{file}"
        );

        let rows: Vec<(String, String)> = match format {
            FeedFormat::Geofeed | FeedFormat::Cidr => text_rows(&text),
            json => json_prefixes(&serde_json::from_str(&text).unwrap(), json)
                .into_iter()
                .map(|p| (p, String::new()))
                .collect(),
        };
        assert_eq!(rows.len(), entries, "{file}: the reference agrees");
        let nets: BTreeSet<IpNet> = rows.iter().map(|(p, _)| net(p).trunc()).collect();
        assert_eq!(nets.iter().any(|n| n.addr().is_ipv4()), v4, "{file}: IPv4");
        assert_eq!(nets.iter().any(|n| n.addr().is_ipv6()), v6, "{file}: IPv6");
        for n in &nets {
            for ip in [n.network(), last(n)] {
                assert!(set.contains(ip), "{file}: {n} not found ({ip})");
            }
            // the entry named is the prefix itself or one the feed has around it
            let entry = set.entry_of(n.network()).unwrap();
            let around = net(&entry);
            assert!(
                around.contains(n) && nets.contains(&around),
                "{file}: {n} named as {entry}"
            );
        }
        // a geofeed's country rides with its prefix (unless an outer prefix of
        // another country covers it, which no real feed here does)
        if format == FeedFormat::Geofeed {
            for (p, cc) in rows.iter().filter(|(_, cc)| cc.len() == 2).take(500) {
                let got = set.country(net(p).network()).unwrap();
                assert_eq!(std::str::from_utf8(&got).unwrap(), cc, "{file}: {p}");
            }
        }
    }
}

#[test]
fn the_untidy_rows_of_the_t_mobile_feed_are_read() {
    // upper-case IPv6, zero-padded hextets, rows of four fields, a NBSP postal field
    let set = feeds::parse(&feed("tmobile-geofeed.txt"), None).unwrap();
    for ip in [
        "2607:fb90::1",
        "2607:fb91::1",
        "64.13.32.1",
        "2607:fb92:2400::1",
    ] {
        assert!(set.contains(ip.parse().unwrap()), "{ip}");
    }
    // CRLF line ends and a postal code of one space
    let vz = feeds::parse(&feed("verizon-wireless-geofeed.csv"), None).unwrap();
    assert_eq!(vz.skipped, 0);
}

#[test]
fn bad_lines_and_entries_are_counted_and_named() {
    let mut text = feed("linode-geofeed.txt");
    text += "not-a-prefix,US,,,\n300.1.2.0/24,US,,,\n192.0.2.0/24,USA,,,\n";
    let set = feeds::parse(&text, None).unwrap();
    assert_eq!(set.entries, 4_552);
    assert_eq!(set.skipped, 3);
    assert!(
        set.first_skipped
            .as_deref()
            .unwrap()
            .contains("not-a-prefix"),
        "{:?}",
        set.first_skipped
    );

    let aws = feed("aws-ip-ranges.json").replacen("\"ip_prefix\": \"", "\"ip_prefix\": \"999.", 2);
    let set = feeds::parse(&aws, None).unwrap();
    assert_eq!(set.entries, 10_666 + 6_160 - 2);
    assert_eq!(set.skipped, 2);
    assert!(set
        .first_skipped
        .as_deref()
        .unwrap()
        .starts_with("entry 1: 999."));
}

#[test]
fn the_wrong_file_under_a_named_format_is_an_error() {
    let e = feeds::parse(&feed("gcp-cloud.json"), Some(FeedFormat::Aws)).unwrap_err();
    assert!(e.to_string().contains("looks like gcp"), "{e}");
    let e = feeds::parse(&feed("aws-ip-ranges.json"), Some(FeedFormat::Cidr)).unwrap_err();
    assert!(e.to_string().contains("not a cidr list"), "{e}");
}

/// An address of the feed's first IPv4 prefix (its first address + 1).
fn first_v4(set_text: &str, format: FeedFormat) -> String {
    let prefixes = match format {
        FeedFormat::Geofeed | FeedFormat::Cidr => {
            text_rows(set_text).into_iter().map(|(p, _)| p).collect()
        }
        json => json_prefixes(&serde_json::from_str(set_text).unwrap(), json),
    };
    let n = prefixes
        .iter()
        .map(|p| net(p))
        .find(|n| n.addr().is_ipv4() && n.prefix_len() < 31)
        .unwrap();
    match n.network() {
        IpAddr::V4(a) => std::net::Ipv4Addr::from(u32::from(a) + 1).to_string(),
        _ => unreachable!(),
    }
}

fn routes() -> &'static str {
    "routes:\n  - { name: coupon, path: /c, methods: [POST], policy: promo }\npolicies:\n  promo:\n    limits: []\n"
}

fn explain(gw: &Gateway, ip: &str) -> Value {
    let r = request(
        gw.admin,
        "GET",
        &format!("/explain?ip={ip}&path=/c&method=POST"),
        &[],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

fn hosting_because(v: &Value) -> String {
    v["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["signal"] == "hosting")
        .map(|s| s["because"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn a_feed_over_http_is_detected_kept_fresh_and_guarded_against_format_change_and_shrink() {
    let aws = feed("aws-ip-ranges.json");
    let srv = Feed::start(
        "/ip-ranges.json",
        FeedReply::Body {
            body: aws.clone(),
            etag: None,
        },
    );
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  fetch_timeout: 2s\n  lists:\n    hosting: {{ source: \"{}\", refresh: 1s }}\n{}",
        srv.url,
        routes()
    ));
    let ip = first_v4(&aws, FeedFormat::Aws);
    wait_until(20, "the AWS feed in service", || {
        metric(&gw, "riskgate_source_entries{source=\"list:hosting\"}") == 16_826.0
    });
    // a datacenter address alone is blocked (hosting weighs 70)
    let r = post_as(&gw, "/c", &ip);
    assert_eq!(r.status, 403, "{ip}");
    let v = explain(&gw, &ip);
    let because = hosting_because(&v);
    assert!(
        because.starts_with("list hosting: aws ip-ranges.json ") && because.contains('/'),
        "{because}"
    );
    assert_eq!(
        metric(
            &gw,
            "riskgate_source_skipped_lines{source=\"list:hosting\"}"
        ),
        0.0
    );

    // the URL now serves another format (an error page turned text, another file):
    // refused, the AWS data stays
    let errors = |gw: &Gateway| {
        metric(
            gw,
            "riskgate_reloads_total{result=\"error\",source=\"list:hosting\"}",
        )
    };
    let before = errors(&gw);
    srv.set(FeedReply::Body {
        body: feed("cloudflare-ips-v4.txt"),
        etag: None,
    });
    wait_until(20, "the format change refused", || errors(&gw) > before);
    assert_eq!(post_as(&gw, "/c", &ip).status, 403);
    assert_eq!(
        metric(&gw, "riskgate_source_entries{source=\"list:hosting\"}"),
        16_826.0
    );
    let ready = request(gw.admin, "GET", "/readyz", &[], "");
    assert!(
        ready.body.contains("now in the cidr format, not aws"),
        "{}",
        ready.body
    );

    // an AWS feed that lost most of its prefixes: refused too
    let v: Value = serde_json::from_str(&aws).unwrap();
    let mut small = v.clone();
    small["prefixes"] = Value::Array(v["prefixes"].as_array().unwrap()[..50].to_vec());
    small["ipv6_prefixes"] = Value::Array(Vec::new());
    let before = errors(&gw);
    srv.set(FeedReply::Body {
        body: small.to_string(),
        etag: None,
    });
    wait_until(20, "the shrunk feed refused", || errors(&gw) > before);
    assert_eq!(
        metric(&gw, "riskgate_source_entries{source=\"list:hosting\"}"),
        16_826.0
    );

    // a good new feed is taken: one prefix fewer is a normal change
    let mut next = v.clone();
    let first = next["prefixes"].as_array_mut().unwrap().remove(0);
    srv.set(FeedReply::Body {
        body: next.to_string(),
        etag: None,
    });
    wait_until(20, "the next feed in service", || {
        metric(&gw, "riskgate_source_entries{source=\"list:hosting\"}") == 16_825.0
    });
    assert!(first["ip_prefix"].is_string());
}

#[test]
fn a_list_of_several_providers_names_the_feed_behind_each_address() {
    let files = [
        ("aws-ip-ranges.json", FeedFormat::Aws),
        ("gcp-cloud.json", FeedFormat::Gcp),
        ("azure-ServiceTags_Public.json", FeedFormat::Azure),
        ("oracle-public_ip_ranges.json", FeedFormat::Oracle),
        ("digitalocean-geofeed.csv", FeedFormat::Geofeed),
    ];
    let sources: String = files
        .iter()
        .map(|(f, _)| format!("      - {{ source: {} }}\n", fixture(&format!("feeds/{f}"))))
        .collect();
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  lists:\n    hosting:\n{sources}{}",
        routes()
    ));
    for (i, (file, format)) in files.iter().enumerate() {
        let ip = first_v4(&feed(file), *format);
        assert_eq!(post_as(&gw, "/c", &ip).status, 403, "{file}: {ip}");
        let because = hosting_because(&explain(&gw, &ip));
        assert!(
            because.contains(&format!("{} {file} ", format.name())),
            "{file}: {because}"
        );
        assert!(
            metric(
                &gw,
                &format!("riskgate_source_entries{{source=\"list:hosting[{i}]\"}}")
            ) > 0.0
        );
    }
    // an address in none of them
    assert_eq!(post_as(&gw, "/c", "192.0.2.1").status, 200);
}

#[test]
fn a_relay_address_is_relay_not_hosting_and_takes_its_country_from_the_geofeed() {
    // The relay list: the real Private Relay prefixes, and a real geofeed standing
    // for Apple's (which publishes its egress ranges as an RFC 8805 geofeed).
    let relay_txt = feed("icloud-private-relay.txt");
    let geo_txt = feed("starlink-geofeed.csv");
    let (relay_ip, geo_ip) = (
        first_v4(&relay_txt, FeedFormat::Cidr),
        first_v4(&geo_txt, FeedFormat::Geofeed),
    );
    let geo_cc = text_rows(&geo_txt)
        .into_iter()
        .find(|(p, _)| net(p).contains(&geo_ip.parse::<IpAddr>().unwrap()))
        .unwrap()
        .1;
    // the same addresses are also in a hosting list: relay wins
    let dir = tempfile::tempdir().unwrap();
    let hosting = write(dir.path(), "dc.txt", &format!("{relay_ip}\n{geo_ip}\n"));
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  mmdb: {{ geo: {} }}\n  lists:\n    hosting: {hosting}\n    relay:\n      - {{ source: {} }}\n      - {{ source: {}, format: geofeed }}\n{}",
        data("GeoIP2-City-Test.mmdb"),
        fixture("feeds/icloud-private-relay.txt"),
        fixture("feeds/starlink-geofeed.csv"),
        routes()
    ));
    for ip in [&relay_ip, &geo_ip] {
        let r = post_as(&gw, "/c", ip);
        assert_eq!(r.status, 200, "{ip}");
        let seen = last_seen(&gw, "/c");
        assert_eq!(seen.header("x-risk-reasons"), Some("relay"), "{ip}");
        assert_eq!(seen.header("x-risk-network"), Some("relay"), "{ip}");
        assert_eq!(seen.header("x-risk-action"), Some("allow"), "{ip}");
    }
    post_as(&gw, "/c", &geo_ip);
    let seen = last_seen(&gw, "/c");
    assert_eq!(seen.header("x-risk-country"), Some(geo_cc.as_str()));
    let v = explain(&gw, &geo_ip);
    assert_eq!(v["facts"]["country"]["source"], "the relay list's geofeed");
    // an address on no relay keeps the geo database's answer (MaxMind's test data)
    post_as(&gw, "/c", "81.2.69.160");
    assert_eq!(last_seen(&gw, "/c").header("x-risk-country"), Some("GB"));
}

#[test]
fn carriers_geofeeds_make_a_mobile_network_whose_limits_are_relaxed() {
    let tm = feed("tmobile-geofeed.txt");
    let tm_ip = first_v4(&tm, FeedFormat::Geofeed);
    let vz_v6 = text_rows(&feed("verizon-wireless-geofeed.csv"))
        .into_iter()
        .map(|(p, _)| net(&p))
        .find(|n| n.addr().is_ipv6())
        .unwrap();
    let vz_ip = match vz_v6.network() {
        IpAddr::V6(a) => std::net::Ipv6Addr::from(u128::from(a) + 1).to_string(),
        _ => unreachable!(),
    };
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  lists:\n    mobile: [ {{ source: {} }}, {{ source: {} }} ]\nroutes:\n  - {{ name: coupon, path: /c, methods: [POST], policy: promo }}\npolicies:\n  promo:\n    limits: [ {{ key: ip, rate: 1/hour, burst: 1 }} ]\n    mobile_multiplier: 3\n",
        fixture("feeds/tmobile-geofeed.txt"),
        fixture("feeds/verizon-wireless-geofeed.csv"),
    ));
    for ip in [&tm_ip, &vz_ip] {
        for n in 1..=3 {
            let r = post_as(&gw, "/c", ip);
            assert_eq!(r.status, 200, "{ip}: request {n} of a mobile client");
            assert_eq!(
                last_seen(&gw, "/c").header("x-risk-network"),
                Some("mobile")
            );
        }
        assert_eq!(post_as(&gw, "/c", ip).status, 429, "{ip}: the 4th");
    }
    // a client on no carrier's list gets the plain limit
    assert_eq!(post_as(&gw, "/c", "192.0.2.1").status, 200);
    assert_eq!(post_as(&gw, "/c", "192.0.2.1").status, 429);
}

#[test]
fn as_numbers_from_a_file_and_a_url() {
    // MaxMind's test ASN database: 89.160.20.112 is AS29518, 216.160.83.56 AS209
    let dir = tempfile::tempdir().unwrap();
    let mobile = write(dir.path(), "m.txt", "# carriers\nAS29518 Bredband2 AB\n");
    let srv = Feed::start(
        "/hosting-asns.txt",
        FeedReply::Body {
            body: "209\n".into(),
            etag: None,
        },
    );
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  mmdb: {{ asn: {} }}\n  mobile_asns: {mobile}\n  hosting_asns: {{ source: \"{}\", refresh: 1s }}\n{}",
        data("GeoLite2-ASN-Test.mmdb"),
        srv.url,
        routes()
    ));
    wait_until(20, "the AS numbers fetched", || {
        metric(&gw, "riskgate_source_entries{source=\"hosting_asns\"}") == 1.0
    });
    assert_eq!(
        metric(&gw, "riskgate_source_entries{source=\"mobile_asns\"}"),
        1.0
    );
    post_as(&gw, "/c", "89.160.20.112");
    assert_eq!(
        last_seen(&gw, "/c").header("x-risk-network"),
        Some("mobile")
    );
    assert_eq!(post_as(&gw, "/c", "216.160.83.56").status, 403);
}

/// The (AS number, organisation) rows of the fixture, read as CSV.
fn real_orgs() -> Vec<(u32, String)> {
    let text = std::fs::read_to_string(fixture("asn-orgs-keywords.csv")).unwrap();
    text.lines()
        .map(|l| {
            let (n, org) = l.split_once(',').unwrap();
            (n.parse().unwrap(), org.trim_matches('"').to_string())
        })
        .collect()
}

#[test]
fn the_shipped_configs_flag_the_clouds_by_name_but_no_access_isp() {
    let access_isps = [
        16591,  // Google Fiber Inc.
        264344, // AMAZONET TELECOMUNICACOES LTDA
        266194, // AMAZONET 1 TELECOM LTDA
        268063, // AMAZONET TELECOM LTDA
        267242, // AMAZONIA TELECOMUNICACOES LTDA
        264509, // CONECTA AMAZONIA TELECOM LTDA. - ME
        271017, // AMAZONFIBER SERVICOS DE COMUNICACAO LTDA
        274698, // AMAZON TELECOM LTDA
        264167, // AMAZON+ SERVICOS DE INTERNET LTDA
        61577,  // AMAZONTEL TELECOMUNICACOES LTDA
        262772, // Amazonia Publicidade Ltda
        266122, // Banco da Amazonia S/A
        202231, // Leon Ruetten trading as Vultris
        400958, // Vultric Hosting (a hoster, but not by this keyword)
    ];
    let clouds = [
        16509, 14618, 7224, 8987, 62785, 15169, 396982, 8075, 14061, 24940, 16276, 48337, 214609,
        401395,
    ];
    let orgs = real_orgs();
    assert_eq!(orgs.len(), 86);
    // the production config's admin token is a file of ours here
    let dir = tempfile::tempdir().unwrap();
    let token = write(
        dir.path(),
        "admin.token",
        "0123456789abcdef0123456789abcdef",
    );
    for file in ["gateway.yaml", "deploy/gateway.production.yaml"] {
        let text = std::fs::read_to_string(root().join(file))
            .unwrap()
            .replace("/etc/riskgate/admin.token", &token);
        let cfg = riskgate::config::parse(&text, &root().join(file)).unwrap();
        let m = riskgate::intel::orgs::OrgMatcher::new(
            &cfg.intel.hosting_org_keywords,
            &cfg.intel.hosting_org_exclude,
        );
        let flagged: BTreeSet<u32> = orgs
            .iter()
            .filter(|(_, org)| m.matches(org).is_some())
            .map(|(n, _)| *n)
            .collect();
        for n in access_isps {
            assert!(!flagged.contains(&n), "{file} flags AS{n}");
        }
        for n in clouds {
            assert!(flagged.contains(&n), "{file} misses AS{n}");
        }
    }
}

#[test]
fn the_shipped_mobile_asns_are_mobile_networks_each_with_why_it_is_in() {
    let text = std::fs::read_to_string(data("mobile-asns.txt")).unwrap();
    let list = riskgate::intel::asns::AsnList::parse(&text).unwrap();
    assert!(list.asns.len() >= 60, "{}", list.asns.len());
    assert_eq!(list.skipped, 0, "{:?}", list.first_skipped);
    // each line: the number, the registered name, the country, brand and why it is in
    for l in text.lines().filter(|l| l.starts_with("AS")) {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 3, "{l}");
        assert!(!f[1].trim().is_empty() && f[2].starts_with("# "), "{l}");
        let (_, why) = f[2]
            .split_once(": ")
            .unwrap_or_else(|| panic!("no reason: {l}"));
        assert!(why.len() > 20, "{l}");
    }
    // the big mobile networks of the big markets
    for n in [
        21928, 6167, 20057, 28403, 55836, 45609, 23693, 9605, 35228, 25135, 51207, 39603, 33771,
    ] {
        assert!(list.asns.binary_search(&n).is_ok(), "AS{n}");
    }
    // never an incumbent that runs home lines under the same ASN: Deutsche Telekom,
    // Orange France, Telstra, KDDI, KT, Airtel's broadband, AT&T's fixed network
    for n in [3320, 3215, 1221, 2516, 4766, 24560, 7018] {
        assert!(
            list.asns.binary_search(&n).is_err(),
            "AS{n} carries fixed lines"
        );
    }
    // and every carrier left out is listed with why, where the selection is made
    let carriers = std::fs::read_to_string(root().join("tools/mobile-asns/carriers.txt")).unwrap();
    for n in [3320, 3215, 1221, 2516, 4766, 24560] {
        let line = carriers
            .lines()
            .find(|l| l.starts_with("out ") && l.split_whitespace().nth(2) == Some(&n.to_string()))
            .unwrap_or_else(|| panic!("AS{n} not listed as left out"));
        assert!(
            line.split_once('|')
                .is_some_and(|(_, w)| w.trim().len() > 10),
            "{line}"
        );
    }
    // and the shipped configs use it
    for file in ["gateway.yaml", "deploy/gateway.production.yaml"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        assert!(text.contains("mobile-asns.txt"), "{file}");
    }
}
