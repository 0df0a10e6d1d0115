//! How lookups and memory scale as the data grows 10× and 100× (a benchmark, not a
//! test): `cargo bench --bench scale`. Each row runs in a child process so RSS growth
//! is its own. Synthetic data is spread over the address space like real lists.

mod common;
use common::rss_kib;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

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
        vec![("tor", 1_174), ("cidr", 51_318)]
    } else {
        vec![
            ("tor", 1_174),
            ("tor", 11_740),
            ("tor", 117_400),
            ("cidr", 51_318),
            ("cidr", 513_180),
            ("cidr", 5_131_800),
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
