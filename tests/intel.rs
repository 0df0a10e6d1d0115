//! The intel layer against real data: MaxMind's test databases checked network by
//! network against the JSON they were built from, databases of other layouts built
//! here with a writer crate, a real full-size flat-layout MMDB, the real Tor list and
//! the X4BNet range lists.

mod common;
use common::*;

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use riskgate::intel::lists::CidrSet;
use riskgate::intel::mmdb::{ConnectionType, Mmdb, MmdbKind};
use riskgate::intel::tor::{TorFormat, TorSet};
use serde_json::Value;

/// Every (network, record) of a MaxMind source-data JSON file.
fn source(name: &str) -> Vec<(IpNet, Value)> {
    let text = std::fs::read_to_string(fixture(&format!("maxmind/{name}"))).unwrap();
    let v: Vec<serde_json::Map<String, Value>> = serde_json::from_str(&text).unwrap();
    v.into_iter()
        .flat_map(|m| m.into_iter())
        .map(|(k, rec)| {
            // `::1.2.3.0/120` means the IPv4 network 1.2.3.0/24
            let net: IpNet = k.parse().unwrap();
            let net = match net {
                IpNet::V6(n) if k.starts_with("::") && n.prefix_len() >= 96 => {
                    let o = n.network().octets();
                    let v4 = std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]);
                    IpNet::new(IpAddr::V4(v4), n.prefix_len() - 96).unwrap()
                }
                n => n,
            };
            (net, rec)
        })
        .collect()
}

/// The first, middle and last address of a network.
fn samples(n: &IpNet) -> Vec<IpAddr> {
    let first = n.network();
    let last = n.broadcast();
    let mid = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            IpAddr::V4((u32::from(a) + (u32::from(b) - u32::from(a)) / 2).into())
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            IpAddr::V6((u128::from(a) + (u128::from(b) - u128::from(a)) / 2).into())
        }
        _ => first,
    };
    vec![first, mid, last]
}

#[test]
fn anonymous_ip_test_db_matches_its_source_for_every_network() {
    let db = Mmdb::open(
        Path::new(&data("GeoIP2-Anonymous-IP-Test.mmdb")),
        MmdbKind::AnonymousIp,
    )
    .unwrap();
    let nets = source("GeoIP2-Anonymous-IP-Test.json");
    assert!(nets.len() >= 12);
    for (net, rec) in &nets {
        for ip in samples(net) {
            let f = db.anonymous(ip).unwrap();
            let want = |k: &str| rec.get(k).and_then(Value::as_bool).unwrap_or(false);
            assert_eq!(f.anonymous, want("is_anonymous"), "{ip} {rec}");
            assert_eq!(f.vpn, want("is_anonymous_vpn"), "{ip}");
            assert_eq!(f.hosting, want("is_hosting_provider"), "{ip}");
            assert_eq!(f.public_proxy, want("is_public_proxy"), "{ip}");
            assert_eq!(f.residential_proxy, want("is_residential_proxy"), "{ip}");
            assert_eq!(f.tor_exit, want("is_tor_exit_node"), "{ip}");
        }
    }
    // unlisted public space: found-but-empty or absent, both mean "no flags", never an error
    for ip in ["89.160.20.112", "8.8.8.8", "2a02:d440::1"] {
        assert_eq!(
            db.anonymous(ip.parse().unwrap()).unwrap(),
            Default::default(),
            "{ip}"
        );
    }
}

#[test]
fn connection_type_test_db_matches_its_source_for_every_network() {
    let db = Mmdb::open(
        Path::new(&data("GeoIP2-Connection-Type-Test.mmdb")),
        MmdbKind::ConnectionType,
    )
    .unwrap();
    for (net, rec) in source("GeoIP2-Connection-Type-Test.json") {
        let want = rec["connection_type"].as_str().unwrap();
        for ip in samples(&net) {
            let got = db
                .connection_type(ip)
                .unwrap()
                .unwrap_or_else(|| panic!("{ip}"));
            assert_eq!(got, ConnectionType::parse(want), "{ip}");
            assert_eq!(got.as_str(), want);
        }
    }
}

#[test]
fn asn_test_db_matches_its_source_for_every_network() {
    let db = Mmdb::open(Path::new(&data("GeoLite2-ASN-Test.mmdb")), MmdbKind::Asn).unwrap();
    let nets = source("GeoLite2-ASN-Test.json");
    assert!(nets.len() > 700);
    let mut without_org = 0;
    for (net, rec) in nets {
        let want_n = rec["autonomous_system_number"].as_u64().unwrap() as u32;
        let want_o = rec
            .get("autonomous_system_organization")
            .and_then(Value::as_str);
        for ip in samples(&net) {
            let (n, o) = db.asn(ip).unwrap().unwrap_or_else(|| panic!("{ip}"));
            assert_eq!(n, want_n, "{ip}");
            assert_eq!(o.as_deref(), want_o, "{ip}");
        }
        without_org += usize::from(want_o.is_none());
    }
    assert!(
        without_org > 0,
        "12.81.96.0/19 has an ASN and no organisation"
    );
}

#[test]
fn city_test_db_countries_match_their_source() {
    let db = Mmdb::open(Path::new(&data("GeoIP2-City-Test.mmdb")), MmdbKind::Geo).unwrap();
    let mut checked = 0;
    for (net, rec) in source("GeoIP2-City-Test.json") {
        let want = rec
            .pointer("/country/iso_code")
            .or_else(|| rec.pointer("/registered_country/iso_code"))
            .and_then(Value::as_str);
        for ip in samples(&net) {
            let got = db.country(ip).unwrap();
            let got = got.map(|c| String::from_utf8(c.to_vec()).unwrap());
            assert_eq!(got.as_deref(), want, "{ip} in {net}");
            checked += 1;
        }
    }
    assert!(checked > 100);
    // mapped and 6to4 forms of 81.2.69.160 (GB) resolve to the same record
    for ip in ["::ffff:81.2.69.160", "2002:5102:45a0::"] {
        let ip: IpAddr = ip.parse().unwrap();
        let ip = riskgate::intel::canonical(ip);
        assert_eq!(db.country(ip).unwrap(), Some(*b"GB"), "{ip}");
    }
}

#[test]
fn country_and_city_databases_of_both_brands_work_as_geo() {
    for f in [
        "maxmind/GeoIP2-Country-Test.mmdb",
        "maxmind/GeoLite2-City-Test.mmdb",
        "maxmind/GeoLite2-Country-Test.mmdb",
    ] {
        let db = Mmdb::open(Path::new(&fixture(f)), MmdbKind::Geo).unwrap();
        assert_eq!(
            db.country("89.160.20.112".parse().unwrap()).unwrap(),
            Some(*b"SE"),
            "{f}"
        );
        assert_eq!(
            db.country("2.125.160.216".parse().unwrap()).unwrap(),
            Some(*b"GB"),
            "{f}"
        );
    }
}

#[test]
fn a_real_full_size_flat_layout_ipv4_only_mmdb() {
    // iptoasn-country-ipv4: records are {"country_code": "XX"} and the tree is IPv4 only
    let db = Mmdb::open(
        Path::new(&fixture("iptoasn-country-ipv4.mmdb")),
        MmdbKind::Geo,
    )
    .unwrap();
    let c = db.country("89.160.20.112".parse().unwrap()).unwrap();
    assert!(
        c.is_some(),
        "a routed address has a country in a full-size database"
    );
    assert!(c.unwrap().iter().all(u8::is_ascii_uppercase));
    // an IPv6 lookup in an IPv4-only tree is "unknown", not an error
    assert_eq!(db.country("2a02:d440::1".parse().unwrap()).unwrap(), None);
}

fn write_db(
    dir: &Path,
    name: &str,
    db_type: &str,
    entries: &[(&str, Value)],
) -> std::path::PathBuf {
    let mut w = mmdb_writer::Writer::new(db_type);
    for (net, v) in entries {
        w.insert(net.parse::<IpNet>().unwrap(), v).unwrap();
    }
    let p = dir.join(name);
    std::fs::write(&p, w.to_bytes().unwrap()).unwrap();
    p
}

#[test]
fn databases_built_here_in_other_layouts() {
    let dir = tempfile::tempdir().unwrap();
    // DB-IP / IPinfo-lite style flat country
    let geo = write_db(
        dir.path(),
        "flat.mmdb",
        "DBIP-Country-Lite",
        &[
            ("192.0.2.0/24", serde_json::json!({"country_code": "NL"})),
            ("2001:db8::/32", serde_json::json!({"country_code": "jp"})),
            (
                "198.51.100.0/24",
                serde_json::json!({"country_code": "not-a-code"}),
            ),
        ],
    );
    let db = Mmdb::open(&geo, MmdbKind::Geo).unwrap();
    assert_eq!(
        db.country("192.0.2.5".parse().unwrap()).unwrap(),
        Some(*b"NL")
    );
    assert_eq!(
        db.country("2001:db8::5".parse().unwrap()).unwrap(),
        Some(*b"JP")
    );
    assert_eq!(db.country("198.51.100.1".parse().unwrap()).unwrap(), None);
    assert_eq!(db.country("203.0.113.1".parse().unwrap()).unwrap(), None);
    // GeoIP2 layout with only registered_country
    let geo2 = write_db(
        dir.path(),
        "reg.mmdb",
        "GeoIP2-Country",
        &[(
            "192.0.2.0/24",
            serde_json::json!({"registered_country": {"iso_code": "DE"}}),
        )],
    );
    let db = Mmdb::open(&geo2, MmdbKind::Geo).unwrap();
    assert_eq!(
        db.country("192.0.2.5".parse().unwrap()).unwrap(),
        Some(*b"DE")
    );
    // DB-IP ASN lite uses GeoLite2's field names
    let asn = write_db(
        dir.path(),
        "asn.mmdb",
        "DBIP-ASN-Lite",
        &[(
            "192.0.2.0/24",
            serde_json::json!({"autonomous_system_number": 64500u32, "autonomous_system_organization": "Example Hosting Ltd"}),
        )],
    );
    let db = Mmdb::open(&asn, MmdbKind::Asn).unwrap();
    assert_eq!(
        db.asn("192.0.2.1".parse().unwrap()).unwrap(),
        Some((64500, Some("Example Hosting Ltd".into())))
    );
    // anonymous IP: every flag, and an empty record
    let anon = write_db(
        dir.path(),
        "anon.mmdb",
        "GeoIP2-Anonymous-IP",
        &[
            (
                "192.0.2.0/25",
                serde_json::json!({"is_anonymous": true, "is_residential_proxy": true}),
            ),
            ("192.0.2.128/25", serde_json::json!({})),
        ],
    );
    let db = Mmdb::open(&anon, MmdbKind::AnonymousIp).unwrap();
    let f = db.anonymous("192.0.2.1".parse().unwrap()).unwrap();
    assert!(f.residential_proxy && f.anonymous && !f.vpn && !f.tor_exit);
    assert_eq!(
        db.anonymous("192.0.2.200".parse().unwrap()).unwrap(),
        Default::default()
    );
}

#[test]
fn enrichment_from_databases_built_here_decides_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let geo = write_db(
        dir.path(),
        "geo.mmdb",
        "DBIP-Country-Lite",
        &[
            ("192.0.2.0/24", serde_json::json!({"country_code": "RU"})),
            ("198.51.100.0/24", serde_json::json!({"country_code": "FR"})),
        ],
    );
    let asn = write_db(
        dir.path(),
        "asn.mmdb",
        "GeoLite2-ASN",
        &[(
            "198.51.100.0/24",
            serde_json::json!({"autonomous_system_number": 64501u32, "autonomous_system_organization": "DigitalOcean, LLC"}),
        )],
    );
    let anon = write_db(
        dir.path(),
        "anon.mmdb",
        "GeoIP2-Anonymous-IP",
        &[(
            "203.0.113.0/24",
            serde_json::json!({"is_anonymous": true, "is_anonymous_vpn": true}),
        )],
    );
    let conn = write_db(
        dir.path(),
        "conn.mmdb",
        "GeoIP2-Connection-Type",
        &[(
            "203.0.113.0/24",
            serde_json::json!({"connection_type": "Cellular"}),
        )],
    );
    let partners = write(
        dir.path(),
        "partners.txt",
        "# partner egress\n198.51.100.128/25\n",
    );
    let gw = start(&format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
intel:
  mmdb: {{ geo: {}, asn: {}, anonymous_ip: {}, connection_type: {} }}
  lists: {{ partners: {partners} }}
  hosting_org_keywords: [digitalocean]
routes:
  - {{ name: c, path: /c, policy: p }}
policies:
  p:
    weights: {{ hosting: 20, vpn: 30, country_denied: 100, "list:partners": 15 }}
    countries: {{ deny: [RU] }}
"#,
        geo.display(),
        asn.display(),
        anon.display(),
        conn.display()
    ));
    assert_eq!(post_as(&gw, "/c", "192.0.2.10").status, 403, "RU denied");
    post_as(&gw, "/c", "198.51.100.10");
    let s = last_seen(&gw, "/c");
    assert_eq!(s.header("x-risk-reasons"), Some("hosting"), "org keyword");
    assert_eq!(s.header("x-risk-score"), Some("20"));
    assert_eq!(s.header("x-risk-country"), Some("FR"));
    assert_eq!(s.header("x-risk-asn"), Some("64501"));
    post_as(&gw, "/c", "198.51.100.200");
    let s = last_seen(&gw, "/c");
    assert_eq!(s.header("x-risk-reasons"), Some("hosting,list:partners"));
    assert_eq!(s.header("x-risk-score"), Some("35"));
    assert_eq!(s.header("x-risk-action"), Some("verify"));
    post_as(&gw, "/c", "203.0.113.9");
    let s = last_seen(&gw, "/c");
    assert_eq!(s.header("x-risk-reasons"), Some("vpn"));
    assert_eq!(
        s.header("x-risk-network"),
        Some("vpn"),
        "vpn is more specific than mobile"
    );
}

#[test]
fn the_real_tor_list_in_both_formats_gives_the_same_set() {
    let a = std::fs::read_to_string(data("tor-exit-addresses.txt")).unwrap();
    let b = std::fs::read_to_string(fixture("torbulkexitlist.txt")).unwrap();
    let (sa, fa) = TorSet::parse(&a).unwrap();
    let (sb, fb) = TorSet::parse(&b).unwrap();
    assert_eq!(fa, TorFormat::ExitAddresses);
    assert_eq!(fb, TorFormat::OneIpALine);
    assert_eq!(
        sa.len(),
        1174,
        "1,174 unique IPv4 exits in the 2024-03-12 snapshot"
    );
    assert_eq!(sa, sb);
}

#[test]
fn the_x4bnet_lists_load_and_answer() {
    let dc = CidrSet::parse(&std::fs::read_to_string(data("datacenter.txt")).unwrap()).unwrap();
    assert_eq!(dc.entries, 51318);
    assert_eq!(dc.skipped, 0);
    // every listed network contains its own first and last address
    let text = std::fs::read_to_string(data("datacenter.txt")).unwrap();
    for line in text.lines().filter(|l| !l.starts_with('#')).step_by(97) {
        let n: IpNet = line.trim().parse().unwrap();
        assert!(
            dc.contains(n.network()) && dc.contains(n.broadcast()),
            "{n}"
        );
    }
    assert!(!dc.contains("89.160.20.112".parse().unwrap()));
    let vpn = CidrSet::parse(&std::fs::read_to_string(data("vpn.txt")).unwrap()).unwrap();
    assert!(vpn.entries > 11000);
}

#[test]
fn a_question_of_another_kind_decodes_the_record_itself() {
    // Each database answers its own kind from the table decoded at load; asked
    // another kind's question, it decodes the record found (and finds nothing).
    let asn = Mmdb::open(Path::new(&data("GeoLite2-ASN-Test.mmdb")), MmdbKind::Asn).unwrap();
    let geo = Mmdb::open(Path::new(&data("GeoIP2-City-Test.mmdb")), MmdbKind::Geo).unwrap();
    let ip: IpAddr = "89.160.20.112".parse().unwrap();
    assert_eq!(asn.asn(ip).unwrap().map(|a| a.0), Some(29518));
    assert_eq!(geo.country(ip).unwrap(), Some(*b"SE"));
    assert_eq!(geo.asn(ip).unwrap(), None);
    assert_eq!(asn.country(ip).unwrap(), None);
    assert_eq!(asn.anonymous(ip).unwrap(), Default::default());
    assert_eq!(geo.connection_type(ip).unwrap(), None);
}
