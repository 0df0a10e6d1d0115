//! How lookups and memory scale as the data grows 10× and 100× (a benchmark, not a
//! test): `cargo bench --bench scale`. Each row runs in a child process so RSS growth
//! is its own. Synthetic data is spread over the address space like real lists.

mod common;
use common::rss_kib;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use riskgate::intel::feeds;
use riskgate::intel::lists::CidrSet;
use riskgate::intel::tor::TorSet;

fn spread(i: u32) -> u32 {
    i.wrapping_mul(2_654_435_761)
}

/// ns per lookup over 1M mixed addresses (hits and misses)
fn time_lookups(f: impl Fn(IpAddr) -> bool) -> f64 {
    let n = 1_000_000u32;
    let t0 = Instant::now();
    let mut hits = 0u32;
    for i in 0..n {
        hits += u32::from(f(black_box(IpAddr::V4(Ipv4Addr::from(spread(i) ^ 0x5555)))));
    }
    black_box(hits);
    t0.elapsed().as_nanos() as f64 / f64::from(n)
}

/// ns per lookup over 1M IPv6 addresses spread over 2000::/3 (hits and misses)
fn time_lookups6(f: impl Fn(IpAddr) -> bool) -> f64 {
    let n = 1_000_000u32;
    let t0 = Instant::now();
    let mut hits = 0u32;
    for i in 0..n {
        let hi = u128::from(spread(i)) << 96 | u128::from(spread(i ^ 7)) << 64;
        let a = (hi >> 3) | (0x2000u128 << 112);
        hits += u32::from(f(black_box(IpAddr::V6(a.into()))));
    }
    black_box(hits);
    t0.elapsed().as_nanos() as f64 / f64::from(n)
}

/// A published feed, read as riskgate reads it (format detected).
fn real_feed(file: &str) -> (std::time::Duration, CidrSet) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/feeds")
        .join(file);
    let text = std::fs::read_to_string(path).unwrap();
    let t0 = Instant::now();
    let set = feeds::parse(&text, None).unwrap();
    drop(text);
    (t0.elapsed(), set)
}

fn row(kind: &str, n: u32) {
    let before = rss_kib();
    let (build, ns) = match kind {
        "tor" => {
            let text: String = (0..n)
                .map(|i| format!("{}\n", Ipv4Addr::from(spread(i))))
                .collect();
            let t0 = Instant::now();
            let (set, _) = TorSet::parse(&text).unwrap();
            drop(text);
            let build = t0.elapsed();
            (build, time_lookups(|ip| set.contains(ip)))
        }
        "aws" | "azure" | "relay" => {
            let file = match kind {
                "aws" => "aws-ip-ranges.json",
                "azure" => "azure-ServiceTags_Public.json",
                _ => "icloud-private-relay.txt",
            };
            let (build, set) = real_feed(file);
            assert_eq!(set.entries as u32, n);
            let ns =
                (time_lookups(|ip| set.contains(ip)) + time_lookups6(|ip| set.contains(ip))) / 2.0;
            (build, ns)
        }
        "geofeed" => {
            // Apple's Private Relay geofeed has this shape: three quarters IPv6 /64s and
            // /45s, IPv4 /28s and /32s, each with a country, region and city
            let text: String = (0..n)
                .map(|i| {
                    let s = spread(i);
                    if i % 4 == 0 {
                        format!(
                            "{}/28,US,US-CA,Los Angeles,\n",
                            Ipv4Addr::from(s & 0xffff_fff0)
                        )
                    } else {
                        let a = (u128::from(s) << 96 | u128::from(spread(i ^ 7)) << 64) >> 3
                            | (0x2000u128 << 112);
                        let a = a & !((1u128 << 64) - 1);
                        format!("{}/64,DE,DE-BE,Berlin,\n", std::net::Ipv6Addr::from(a))
                    }
                })
                .collect();
            let t0 = Instant::now();
            let set = feeds::parse(&text, None).unwrap();
            drop(text);
            let build = t0.elapsed();
            let ns =
                (time_lookups(|ip| set.contains(ip)) + time_lookups6(|ip| set.contains(ip))) / 2.0;
            (build, ns)
        }
        _ => {
            // /24s and /20s, like the datacenter lists
            let text: String = (0..n)
                .map(|i| {
                    let a = spread(i) & 0xffff_ff00;
                    if i % 3 == 0 {
                        format!("{}/20\n", Ipv4Addr::from(a & 0xffff_f000))
                    } else {
                        format!("{}/24\n", Ipv4Addr::from(a))
                    }
                })
                .collect();
            let t0 = Instant::now();
            let set = CidrSet::parse(&text).unwrap();
            drop(text);
            let build = t0.elapsed();
            (build, time_lookups(|ip| set.contains(ip)))
        }
    };
    let after = rss_kib();
    println!(
        "| {kind} | {n:>9} | {:>8.1} ms | {:>6.1} ns | {:>7.1} MiB |",
        build.as_secs_f64() * 1000.0,
        ns,
        after.saturating_sub(before) as f64 / 1024.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(p) = args.iter().position(|a| a == "--row") {
        row(&args[p + 1], args[p + 2].parse().unwrap());
        return;
    }
    let quick = !args.iter().any(|a| a == "--bench");
    println!("| data | entries | load (parse + build) | lookup | RSS growth |");
    println!("|---|---:|---:|---:|---:|");
    let rows: Vec<(&str, u32)> = if quick {
        vec![
            ("tor", 1_174),
            ("cidr", 51_318),
            ("aws", 16_826),
            ("azure", 101_516),
        ]
    } else {
        vec![
            ("tor", 1_174),
            ("tor", 11_740),
            ("tor", 117_400),
            ("cidr", 51_318),
            ("cidr", 513_180),
            ("cidr", 5_131_800),
            ("aws", 16_826),
            ("azure", 101_516),
            ("relay", 13_745),
            ("geofeed", 300_000),
            ("geofeed", 3_000_000),
        ]
    };
    for (k, n) in rows {
        let out = std::process::Command::new(&args[0])
            .args(["--row", k, &n.to_string()])
            .output()
            .expect("row");
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
