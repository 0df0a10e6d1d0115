//! `make bench-decisions`: a million decisions — written to an SQLite store, loaded
//! from it at start, synced from Redis by a replica that has none — with the time and
//! the memory each takes, and the cost of a request's lookup against them.
//!
//!   decisions_scale fill STORE N            write N decisions (70 % devices, 20 % addresses,
//!                                           10 % /24 ranges; all live for 30 days)
//!   decisions_scale load STORE              load them as `run` does: time, memory
//!   decisions_scale redis STORE URL         push the store's decisions into Redis, then
//!                                           time a fresh replica's sync of them

use std::path::Path;
use std::time::Instant;

use riskgate::decisions::store::{NewRow, Store};
use riskgate::decisions::{now_ms, Action, Book};

#[path = "../benches/common/mod.rs"]
mod common;
use common::{rss_kib, sample_subject as subject};

fn fill(store: &Path, n: u64) {
    let s = Store::open(store).expect("store");
    let t = Instant::now();
    let now = now_ms();
    let mut i = 0;
    while i < n {
        let rows: Vec<NewRow> = (i..(i + 10_000).min(n))
            .map(|j| NewRow {
                subject: subject(j),
                action: if j % 7 == 0 {
                    Action::Verify
                } else {
                    Action::Block
                },
                reason: "chargeback".into(),
                origin: "api".into(),
                source_id: None,
                created_ms: now,
                expires_ms: now + 30 * 86_400_000,
            })
            .collect();
        s.insert(rows).expect("insert");
        i += 10_000;
    }
    println!(
        "fill: {n} decisions written in {:.2} s",
        t.elapsed().as_secs_f64()
    );
}

fn load(store: &Path) {
    let before = rss_kib();
    let t = Instant::now();
    let book = Book::open(store, None).expect("open");
    let took = t.elapsed();
    let n = book.len();
    let after = rss_kib();
    println!(
        "load: {n} decisions from SQLite in {:.2} s; memory {:.0} MiB, {:.0} bytes a decision",
        took.as_secs_f64(),
        (after - before) as f64 / 1024.0,
        (after - before) as f64 * 1024.0 / n.max(1) as f64
    );
}

fn redis(store: &Path, url: &str) {
    let cluster = riskgate::config::ClusterConfig {
        urls: vec![url.to_string()],
        cluster_mode: false,
        display: url.to_string(),
        prefix: "scale:".into(),
        timeout: std::time::Duration::from_millis(25),
        on_error: riskgate::config::OnClusterError::Local,
        tls_ca: None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // push the store's decisions through the API's path (Redis ids), 10,000 a call
        let src = Store::open(store).expect("store");
        let (live, _) = src.live(now_ms()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let writer = Book::open(&dir.path().join("writer.db"), Some(&cluster)).unwrap();
        writer.fleet().unwrap().connect_soon();
        let t = Instant::now();
        for part in live.chunks(10_000) {
            let rows: Vec<NewRow> = part
                .iter()
                .map(|r| NewRow {
                    subject: r.subject.clone(),
                    action: r.action,
                    reason: r.reason.clone(),
                    origin: r.origin.clone(),
                    source_id: None,
                    created_ms: r.created_ms,
                    expires_ms: r.expires_ms,
                })
                .collect();
            writer.add(rows).await.expect("add");
        }
        println!(
            "redis: {} decisions added through the fleet in {:.2} s",
            live.len(),
            t.elapsed().as_secs_f64()
        );
        // a replica with an empty cache syncs them all
        let replica = Book::open(&dir.path().join("replica.db"), Some(&cluster)).unwrap();
        let fleet = replica.fleet().unwrap().clone();
        fleet.connect_soon();
        let t = Instant::now();
        let n = replica.sync_fleet().await.expect("sync");
        println!(
            "redis: a new replica synced {n} decisions in {:.2} s",
            t.elapsed().as_secs_f64()
        );
    });
}

fn main() {
    tracing_subscriber::fmt().with_target(false).init();
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("fill") => fill(Path::new(&args[2]), args[3].parse().expect("N")),
        Some("load") => load(Path::new(&args[2])),
        Some("redis") => redis(Path::new(&args[2]), &args[3]),
        _ => {
            eprintln!("usage: decisions_scale fill STORE N | load STORE | redis STORE URL");
            std::process::exit(2);
        }
    }
}
