//! `make bench-slow-clients`: what slow clients cost a running riskgate, and what it
//! does about them. The gateway under test is started by `benches/slow-clients.sh`,
//! which passes its addresses; this program plays the clients, from several loopback
//! source addresses (127.0.0.2 …), and reads the gateway's RSS from /proc and its
//! connection counters from /metrics.
//!
//! Scenarios, each on a fresh set of connections:
//! 1. `slow`: N clients (default 5,000) from 20 addresses, each sends an unfinished
//!    head of HEAD bytes (default 16 KiB) and waits: RSS with them held, how many the
//!    gateway admitted, and how long until `header_timeout` closed them all.
//! 2. `big`: 1,200 clients from one address, each an unfinished head of almost 1 MiB
//!    (Pingora's head limit): how many are admitted (`max_connections_per_ip`), the RSS.
//! 3. `idle`: 300 clients from one address that connect and send nothing, then a
//!    client from another address: is it served?
//!
//! Usage: slow_clients PID PROXY_ADDR ADMIN_ADDR [N] [HEAD_BYTES]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn rss_mib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn metric(admin: SocketAddr, name: &str) -> f64 {
    let Ok(mut s) = TcpStream::connect(admin) else {
        return -1.0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(-1.0)
}

/// A nonblocking connection from `src` to `dst`.
fn connect_from(src: std::net::Ipv4Addr, dst: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::from((src, 0)).into())?;
    s.connect(&dst.into())?;
    let s: TcpStream = s.into();
    s.set_nonblocking(true)?;
    Ok(s)
}

struct Client {
    s: TcpStream,
    sent: usize,
    closed: bool,
}

/// Write each client's `head` (all of it, round robin, as the gateway reads) and note
/// the ones the gateway closed; the gateway's highest RSS meanwhile.
fn feed(clients: &mut [Client], head: &[u8], deadline: Instant, pid: u32) -> f64 {
    let mut peak = rss_mib(pid);
    let mut sampled = Instant::now();
    loop {
        if sampled.elapsed() > Duration::from_millis(100) {
            peak = peak.max(rss_mib(pid));
            sampled = Instant::now();
        }
        let mut pending = false;
        for c in clients
            .iter_mut()
            .filter(|c| !c.closed && c.sent < head.len())
        {
            match c.s.write(&head[c.sent..]) {
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => c.closed = true,
            }
            pending |= !c.closed && c.sent < head.len();
        }
        if !pending || Instant::now() > deadline {
            return peak.max(rss_mib(pid));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many clients the gateway has closed (EOF or reset on a read).
fn count_closed(clients: &mut [Client]) -> usize {
    let mut buf = [0u8; 512];
    for c in clients.iter_mut().filter(|c| !c.closed) {
        match c.s.read(&mut buf) {
            Ok(0) => c.closed = true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => c.closed = true,
        }
    }
    clients.iter().filter(|c| c.closed).count()
}

fn unfinished_head(bytes: usize) -> Vec<u8> {
    let mut h = b"GET /slow HTTP/1.1\r\nHost: shop.example\r\nX-Pad: ".to_vec();
    h.resize(bytes.max(h.len()), b'a');
    h
}

/// Wait (at most `secs`) until `done`, polling; returns the seconds it took.
fn until(secs: u64, mut done: impl FnMut() -> bool) -> Option<f64> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if done() {
            return Some(t.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: slow_clients PID PROXY_ADDR ADMIN_ADDR [N] [HEAD_BYTES]");
        std::process::exit(2);
    }
    let pid: u32 = args[1].parse().expect("pid");
    let proxy: SocketAddr = args[2].parse().expect("proxy address");
    let admin: SocketAddr = args[3].parse().expect("admin address");
    let n: usize = args.get(4).and_then(|v| v.parse().ok()).unwrap_or(5000);
    let head_bytes: usize = args
        .get(5)
        .and_then(|v| v.parse().ok())
        .unwrap_or(16 * 1024);
    let open = || metric(admin, "riskgate_connections_open");
    let refused = || metric(admin, "riskgate_connections_refused_total");

    println!("| scenario | clients | admitted | refused at accept | RSS before | RSS held | closed by riskgate after | RSS after |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");

    // 1. many slow clients from 20 addresses
    let base = rss_mib(pid);
    let addrs = 20usize;
    let head = unfinished_head(head_bytes);
    let mut clients: Vec<Client> = (0..n)
        .filter_map(|i| {
            let src = std::net::Ipv4Addr::new(127, 0, 1, 2 + (i % addrs) as u8);
            connect_from(src, proxy).ok().map(|s| Client {
                s,
                sent: 0,
                closed: false,
            })
        })
        .collect();
    let fed = feed(
        &mut clients,
        &head,
        Instant::now() + Duration::from_secs(20),
        pid,
    );
    until(20, || open() >= clients.len() as f64 - refused());
    let held = fed.max(rss_mib(pid));
    let admitted = open();
    let r0 = refused();
    let took = until(120, || count_closed(&mut clients) == clients.len());
    let after = rss_mib(pid);
    println!(
        "| {n} slow clients, {addrs} addresses, {} KiB unfinished heads | {} | {admitted} | {r0} | {base:.0} MiB | {held:.0} MiB | {} | {after:.0} MiB |",
        head_bytes / 1024,
        clients.len(),
        took.map_or("not all within 120 s".to_string(), |s| format!("{s:.1} s")),
    );
    drop(clients);
    until(30, || open() == 0.0);

    // 2. 1,200 clients from one address, each an unfinished head of almost 1 MiB
    let base = rss_mib(pid);
    let r_before = refused();
    let big = unfinished_head(1_000_000);
    let mut clients: Vec<Client> = (0..1200)
        .filter_map(|_| {
            connect_from(std::net::Ipv4Addr::new(127, 0, 2, 1), proxy)
                .ok()
                .map(|s| Client {
                    s,
                    sent: 0,
                    closed: false,
                })
        })
        .collect();
    let held = feed(
        &mut clients,
        &big,
        Instant::now() + Duration::from_secs(60),
        pid,
    );
    let r1 = refused() - r_before;
    let admitted = clients.len() as f64 - r1;
    let took = until(120, || count_closed(&mut clients) == clients.len());
    let after = rss_mib(pid);
    println!(
        "| 1,200 clients, one address, ~1 MiB unfinished heads (cut at max_header_bytes, 64 KiB) | {} | {admitted} | {r1} | {base:.0} MiB | {held:.0} MiB (peak) | {} | {after:.0} MiB |",
        clients.len(),
        took.map_or("not all within 120 s".to_string(), |s| format!("{s:.1} s")),
    );
    drop(clients);
    until(30, || open() == 0.0);

    // 3. idle clients from one address, then someone else
    let r_before = refused();
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| connect_from(std::net::Ipv4Addr::new(127, 0, 3, 1), proxy).ok())
        .collect();
    until(10, || {
        refused() - r_before >= (idle.len() as f64 - 256.0).max(0.0)
    });
    let mut other = TcpStream::connect(proxy).expect("another client");
    other.set_read_timeout(Some(Duration::from_secs(10))).ok();
    other
        .write_all(b"GET /anything HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .ok();
    let mut answer = Vec::new();
    let _ = other.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    println!(
        "\n300 idle clients from one address: {} refused at accept; a client from another address {}",
        refused() - r_before,
        if answer.starts_with("HTTP/1.") && answer.len() >= 12 {
            format!("was answered {}", &answer[9..12])
        } else {
            "got nothing".into()
        }
    );
}
