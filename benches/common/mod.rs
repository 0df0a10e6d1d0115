//! Shared by the benches that report memory or load decisions (and by
//! `examples/decisions_scale.rs`).
#![allow(dead_code)]

use riskgate::decisions::Subject;
use riskgate::evidence::ident::Id;

/// This process's resident set size, in KiB (Linux).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The `i`th of a million sample decisions: 70 % devices, 20 % addresses, 10 % /24
/// ranges, spread over the whole space; the same every run.
pub fn sample_subject(i: u64) -> Subject {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    match i % 10 {
        0 => Subject::Range(
            ipnet::Ipv4Net::new(std::net::Ipv4Addr::from((x as u32) & 0xffff_ff00), 24)
                .expect("a /24")
                .into(),
        ),
        1 | 2 => Subject::Ip(std::net::Ipv4Addr::from(x as u32).into()),
        _ => Subject::Field {
            name: "device".into(),
            id: Id(x),
        },
    }
}
