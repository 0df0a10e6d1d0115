//! Shared test harness: the real `riskgate` binary on loopback, the real echo
//! origin recording what it received, and a raw HTTP/1.1 client.
#![allow(dead_code)]

pub mod redis_server;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use riskgate::demo::echo::{Recorder, Seen};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn data(name: &str) -> String {
    root().join("data").join(name).display().to_string()
}

pub fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Record a skipped test where `make test` counts it (`<target>/test-skips.log`),
/// and say so on stderr: a skipped test never passes silently.
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
    let dir = target_dir();
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("test-skips.log"))
    {
        let _ = writeln!(f, "{test}: {why}");
    }
}

/// The cargo target directory (`CARGO_TARGET_DIR`, else `target/` of the project).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                root().join(d)
            }
        }
        _ => root().join("target"),
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_riskgate")
}

/// The intel block with every bundled source, for configs under test.
pub fn full_intel() -> String {
    format!(
        r#"intel:
  mmdb:
    geo: {geo}
    asn: {asn}
    anonymous_ip: {anon}
    connection_type: {conn}
  tor:
    source: {tor}
  lists:
    hosting: {dc}
    vpn: {vpn}
    deny: {deny}
    allow: {allow}
  hosting_asns: [15169, 16509]
  hosting_org_keywords: [amazon, digitalocean]
"#,
        geo = data("GeoIP2-City-Test.mmdb"),
        asn = data("GeoLite2-ASN-Test.mmdb"),
        anon = data("GeoIP2-Anonymous-IP-Test.mmdb"),
        conn = data("GeoIP2-Connection-Type-Test.mmdb"),
        tor = data("tor-exit-addresses.txt"),
        dc = data("datacenter.txt"),
        vpn = data("vpn.txt"),
        deny = data("deny.txt"),
        allow = data("allow.txt"),
    )
}

pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    /// the forward-auth door, with `authz` in the config
    pub authz: Option<SocketAddr>,
    pub origin: SocketAddr,
    pub seen: Recorder,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write `yaml` (with `{listen}` and `{upstream}` filled in) and start the gateway
/// in front of a fresh echo origin.
pub fn start(yaml_body: &str) -> Gateway {
    let (origin, seen) = riskgate::demo::echo::spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    start_with_origin(yaml_body, origin, seen)
}

pub fn start_with_origin(yaml_body: &str, origin: SocketAddr, seen: Recorder) -> Gateway {
    start_full(yaml_body, origin, seen, false)
}

/// Start with the gateway's stderr (its logs) captured in `<dir>/stderr.log`.
pub fn start_logged(yaml_body: &str) -> Gateway {
    let (origin, seen) = riskgate::demo::echo::spawn("127.0.0.1:0".parse().unwrap()).unwrap();
    start_full(yaml_body, origin, seen, true)
}

impl Gateway {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

fn start_full(yaml_body: &str, origin: SocketAddr, seen: Recorder, capture: bool) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let log = if yaml_body.contains("\nlog:") || yaml_body.starts_with("log:") {
        ""
    } else {
        "log: { level: warn }\n"
    };
    let yaml = format!(
        "listen: [\"127.0.0.1:0\"]\nupstream: \"{origin}\"\nadmin: \"127.0.0.1:0\"\n{log}{yaml_body}"
    );
    let config = dir.path().join("gateway.yaml");
    std::fs::write(&config, yaml).unwrap();
    let (child, addrs) =
        spawn_gateway(&config, capture.then(|| dir.path().join("stderr.log")), &[]);
    Gateway {
        child,
        addr: addrs.listen[0],
        admin: addrs.admin,
        authz: addrs.authz.first().copied(),
        origin,
        seen,
        dir,
        config,
    }
}

/// Where a started gateway listens, as it reported on stdout.
#[derive(Debug, Clone)]
pub struct Listening {
    pub listen: Vec<SocketAddr>,
    pub admin: SocketAddr,
    pub authz: Vec<SocketAddr>,
}

/// Start `riskgate run -c config` (plus `extra` arguments) and wait for the line it
/// prints once it listens (`listening A,B admin C`): the gateway binds port 0 itself
/// and says which port it got, so no test picks a port another process may take.
pub fn spawn_gateway(
    config: &Path,
    stderr_to: Option<PathBuf>,
    extra: &[&str],
) -> (Child, Listening) {
    let (mut child, lines) = launch(config, stderr_to, extra);
    let at = await_listening(&mut child, &lines);
    (child, at)
}

/// Start `riskgate run` without waiting; the receiver gets what follows `listening `
/// on its stdout.
pub fn launch(
    config: &Path,
    stderr_to: Option<PathBuf>,
    extra: &[&str],
) -> (Child, std::sync::mpsc::Receiver<String>) {
    let stderr = match stderr_to {
        Some(p) => Stdio::from(std::fs::File::create(p).unwrap()),
        None => Stdio::inherit(),
    };
    let mut child = Command::new(bin())
        .arg("run")
        .args(extra)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if let Some(rest) = line.strip_prefix("listening ") {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    (child, rx)
}

/// Wait (30 s at most) for a launched gateway to say where it listens.
pub fn await_listening(child: &mut Child, lines: &std::sync::mpsc::Receiver<String>) -> Listening {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("riskgate exited early: {status}");
        }
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(rest) => {
                let (listen, rest) = rest.split_once(" admin ").expect("listening line");
                let (admin, authz) = rest.split_once(" authz ").unwrap_or((rest, ""));
                return Listening {
                    // `-`: no proxy door (forward auth alone)
                    listen: listen
                        .split(',')
                        .filter(|a| *a != "-")
                        .map(|a| a.parse().unwrap())
                        .collect(),
                    admin: admin.trim().parse().unwrap(),
                    authz: authz
                        .split(',')
                        .filter(|a| !a.trim().is_empty())
                        .map(|a| a.trim().parse().unwrap())
                        .collect(),
                };
            }
            Err(_) if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("riskgate did not report listening in time");
            }
            Err(_) => {}
        }
    }
}

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`), raw: the test controls
/// every byte of the head, duplicate headers and odd paths included.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n");
    for (k, v) in headers {
        head += &format!("{k}: {v}\r\n");
    }
    if !body.is_empty() || method == "POST" {
        head += &format!("Content-Length: {}\r\n", body.len());
    }
    head += "\r\n";
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A call to the admin API with a Bearer token and a JSON body (none when null): the
/// status and the JSON answer (null when it is not JSON).
pub fn admin_api(
    gw: &Gateway,
    token: &str,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {token}");
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let r = request(
        gw.admin,
        method,
        path,
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ],
        &body,
    );
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null),
    )
}

/// POST to `path` as if from `client` (X-Forwarded-For from loopback).
pub fn post_as(gw: &Gateway, path: &str, client: &str) -> Resp {
    request(
        gw.addr,
        "POST",
        path,
        &[("X-Forwarded-For", client)],
        "code=WELCOME10",
    )
}

/// The last request the origin saw on `path`.
pub fn last_seen(gw: &Gateway, path: &str) -> Seen {
    gw.seen
        .on(path)
        .pop()
        .unwrap_or_else(|| panic!("origin never saw {path}"))
}

/// Run the binary with `args`, returning (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Wait until `f` is true, polling; panics with `what` after `secs`.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for: {what}");
}

/// The value of one metric series (`name{labels}`, labels in the order Prometheus
/// prints them) on the admin endpoint. A missing series fails the test: every series
/// must exist from start, at 0.
pub fn metric(gw: &Gateway, series: &str) -> f64 {
    let r = request(gw.admin, "GET", "/metrics", &[], "");
    r.body
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in /metrics:\n{}", r.body))
}

/// Send a signal to the gateway process.
pub fn signal(gw: &Gateway, sig: &str) {
    let st = Command::new("kill")
        .args([&format!("-{sig}"), &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Request headers as a feed saw them.
pub type Headers = Vec<(String, String)>;

/// What a [`Feed`] answers.
#[derive(Clone, Debug)]
pub enum FeedReply {
    /// 200 with the body; the ETag makes a matching If-None-Match answer 304
    Body {
        body: String,
        etag: Option<String>,
    },
    Status(u16),
    /// never answers within the client's timeout
    Hang(Duration),
}

/// A real HTTP server on loopback that serves a data feed, for URL sources.
pub struct Feed {
    pub url: String,
    reply: std::sync::Arc<std::sync::Mutex<FeedReply>>,
    pub hits: std::sync::Arc<std::sync::Mutex<Vec<Headers>>>,
}

impl Feed {
    pub fn start(path: &str, reply: FeedReply) -> Feed {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}{path}", l.local_addr().unwrap());
        let reply = std::sync::Arc::new(std::sync::Mutex::new(reply));
        let hits = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (r2, h2) = (reply.clone(), hits.clone());
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let (r3, h3) = (r2.clone(), h2.clone());
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut b = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut b) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&b[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let headers: Vec<(String, String)> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let inm = headers
                        .iter()
                        .find(|(k, _)| k == "if-none-match")
                        .map(|(_, v)| v.clone());
                    h3.lock().unwrap().push(headers);
                    let reply = r3.lock().unwrap().clone();
                    let out = match reply {
                        FeedReply::Body { body, etag } => {
                            if etag.is_some() && inm == etag {
                                "HTTP/1.1 304 Not Modified\r\nconnection: close\r\n\r\n".to_string()
                            } else {
                                let e = etag.map(|e| format!("etag: {e}\r\n")).unwrap_or_default();
                                format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n{e}connection: close\r\n\r\n{body}", body.len())
                            }
                        }
                        FeedReply::Status(code) => {
                            format!("HTTP/1.1 {code} Oops\r\ncontent-length: 5\r\nconnection: close\r\n\r\noops\n")
                        }
                        FeedReply::Hang(d) => {
                            std::thread::sleep(d);
                            return;
                        }
                    };
                    let _ = s.write_all(out.as_bytes());
                });
            }
        });
        Feed { url, reply, hits }
    }

    pub fn set(&self, r: FeedReply) {
        *self.reply.lock().unwrap() = r;
    }

    pub fn hit_count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }
}
