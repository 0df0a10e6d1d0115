//! Resident memory of the limiters as distinct client IPs grow (a benchmark, not a
//! test): `cargo bench --bench limiter_memory`. Prints a table for the README.
//!
//! Each row runs in a fresh child process, so the RSS of one row is not inflated by
//! the allocator's memory from the previous one.

mod common;
use common::rss_kib;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Instant;

use riskgate::evidence::ident::{ids_of, Id};
use riskgate::evidence::Request;
use riskgate::intel::Facts;
use riskgate::limits::Limiters;

fn row(ips: u32, max_keys: usize) {
    let yaml = format!(
        "upstream: 127.0.0.1:3000\nlimiter_max_keys: {max_keys}\nroutes:\n  - {{ name: r, path: /r, policy: p }}\npolicies:\n  p:\n    limits:\n      - {{ key: ip, rate: 5/min }}\n      - {{ key: subnet, rate: 20/hour }}\n      - {{ key: asn, rate: 500/hour }}\n"
    );
    let cfg = riskgate::config::parse(&yaml, Path::new("bench.yaml")).unwrap();
    let before = rss_kib();
    let lim = Limiters::new(&cfg);
    let t0 = Instant::now();
    for i in 0..ips {
        // spread over the whole IPv4 space, as a residential-proxy pool would be
        let ip = Ipv4Addr::from(i.wrapping_mul(2_654_435_761));
        let mut f = Facts::new(IpAddr::V4(ip));
        f.asn = Some(64_512 + (i % 1000));
        let _ = lim.check(0, &cfg.policies[0], &f, &Request::default(), &cfg.hash_key);
    }
    let per_req = t0.elapsed().as_nanos() as f64 / f64::from(ips);
    let after = rss_kib();
    let keys = lim.keys();
    println!(
        "| {:>9} | {:>10} | {:>9} | {:>9} | {:>7} | {:>8.1} MiB | {:>6.0} ns |",
        ips,
        max_keys,
        keys[0].1,
        keys[1].1,
        keys[2].1,
        (after.saturating_sub(before)) as f64 / 1024.0,
        per_req
    );
}

/// The watch store: `keys` distinct keys, each seen from `values` countries (`hopping`,
/// max 2) or /24s (`spread`, max 8).
fn hops_row(keys: u32, max_keys: usize, spread: bool) {
    use riskgate::config::{Watch, Watching};
    use riskgate::hops::Observation;
    let before = rss_kib();
    let store = riskgate::hops::HopStore::new(max_keys);
    let spec = if spread {
        Watch {
            field: 0,
            window: std::time::Duration::from_secs(86_400),
            max: 8,
            what: Watching::Subnets,
        }
    } else {
        Watch {
            field: 0,
            window: std::time::Duration::from_secs(86_400),
            max: 2,
            what: Watching::Countries,
        }
    };
    let values: Vec<u32> = if spread {
        (0..10u32).map(|n| (198 << 24) | (n << 8)).collect()
    } else {
        vec![
            u32::from(b'S') << 8 | u32::from(b'E'),
            u32::from(b'G') << 8 | u32::from(b'B'),
        ]
    };
    let key = riskgate::config::HashKey::process();
    let t0 = Instant::now();
    for i in 0..keys {
        let id = Id::of(&key, &format!("key-{i:08x}"));
        for &value in &values {
            let o = Observation {
                watch: 0,
                spec,
                id,
                value,
            };
            store.count(0, &o, t0, true);
        }
    }
    let per = t0.elapsed().as_nanos() as f64 / f64::from(keys * values.len() as u32);
    let after = rss_kib();
    println!(
        "| {} | {:>9} | {:>10} | {:>9} | {:>8.1} MiB | {:>6.0} ns |",
        if spread {
            "spread (10 /24s, max 8)"
        } else {
            "hopping (2 countries)"
        },
        keys,
        max_keys,
        store.len(),
        (after.saturating_sub(before)) as f64 / 1024.0,
        per
    );
}

/// Field limits: `codes` distinct coupon codes, each also a referral code from its own
/// /24 (`[field:referral, subnet]`), through the live path's hashing.
fn fields_row(codes: u32, max_keys: usize) {
    let yaml = format!(
        "upstream: 127.0.0.1:3000\nlimiter_max_keys: {max_keys}\nfields:\n  coupon: header:x-coupon\n  referral: query:ref\nroutes:\n  - {{ name: r, path: /r, policy: p }}\npolicies:\n  p:\n    limits:\n      - {{ key: field:coupon, rate: 3/day }}\n      - {{ key: [field:referral, subnet], rate: 5/hour, name: referral_subnet }}\n"
    );
    let cfg = riskgate::config::parse(&yaml, Path::new("bench.yaml")).unwrap();
    let policy = &cfg.policies[0];
    let before = rss_kib();
    let lim = Limiters::new(&cfg);
    let t0 = Instant::now();
    for i in 0..codes {
        let ip = Ipv4Addr::from(i.wrapping_mul(2_654_435_761));
        let f = Facts::new(IpAddr::V4(ip));
        let code = format!("CODE-{i:08X}");
        let values = vec![Some(code.clone()), Some(code)];
        let ids = ids_of(&cfg.hash_key, &values, &policy.ids);
        let req = Request {
            fields: &values,
            ids: &ids,
            ..Request::default()
        };
        let _ = lim.check(0, policy, &f, &req, &cfg.hash_key);
    }
    let per = t0.elapsed().as_nanos() as f64 / f64::from(codes);
    let after = rss_kib();
    let keys = lim.keys();
    let held = |l: &str| keys.iter().find(|(k, _)| k == l).map_or(0, |k| k.1);
    println!(
        "| {:>9} | {:>10} | {:>9} | {:>9} | {:>8.1} MiB | {:>6.0} ns |",
        codes,
        max_keys,
        held("coupon"),
        held("referral_subnet"),
        (after.saturating_sub(before)) as f64 / 1024.0,
        per
    );
}

/// Each row in a fresh child process (`exe FLAG offered max_keys`), its line printed.
fn child_rows(exe: &str, flag: &str, rows: &[(u32, usize)]) {
    for (offered, max) in rows {
        let out = std::process::Command::new(exe)
            .args([flag, &offered.to_string(), &max.to_string()])
            .output()
            .expect("child row");
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    for (flag, spread) in [("--hops", false), ("--spread", true)] {
        if let Some(pos) = args.iter().position(|a| a == flag) {
            hops_row(
                args[pos + 1].parse().unwrap(),
                args[pos + 2].parse().unwrap(),
                spread,
            );
            return;
        }
    }
    if let Some(pos) = args.iter().position(|a| a == "--fields") {
        fields_row(
            args[pos + 1].parse().unwrap(),
            args[pos + 2].parse().unwrap(),
        );
        return;
    }
    if let Some(pos) = args.iter().position(|a| a == "--row") {
        let ips: u32 = args[pos + 1].parse().unwrap();
        let max: usize = args[pos + 2].parse().unwrap();
        row(ips, max);
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` runs this as a quick check
    let quick = !args.iter().any(|a| a == "--bench");
    println!(
        "| distinct IPs | max_keys | ip keys | subnet keys | asn keys | RSS growth | per request |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let rows: &[(u32, usize)] = if quick {
        &[(20_000, 1_000_000)]
    } else {
        &[
            (1_000_000, 1_000_000),
            (5_000_000, 1_000_000),
            (1_000_000, 10_000_000),
            (5_000_000, 10_000_000),
        ]
    };
    child_rows(&args[0], "--row", rows);
    println!("\n| store | keys offered | max_keys | keys held | RSS growth | per observation |");
    println!("|---|---:|---:|---:|---:|---:|");
    let hops: &[(u32, usize)] = if quick {
        &[(20_000, 1_000_000)]
    } else {
        &[(1_000_000, 1_000_000), (5_000_000, 1_000_000)]
    };
    child_rows(&args[0], "--hops", hops);
    child_rows(&args[0], "--spread", hops);
    println!("\n| field limits: distinct codes | max_keys | coupon keys | referral×/24 keys | RSS growth | per request |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let fields: &[(u32, usize)] = if quick {
        &[(20_000, 1_000_000)]
    } else {
        &[(1_000_000, 1_000_000), (5_000_000, 1_000_000)]
    };
    child_rows(&args[0], "--fields", fields);
}
