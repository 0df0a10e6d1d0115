//! The findings of the hardening review (issue 22), each tried on the real gateway the
//! way an attacker would: a junk `X-Forwarded-For` behind a real nginx, connections
//! held idle or trickled, bodies that never finish or break their framing, a coupon
//! spelled another way, a relay list's union, the admin port without a token.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const TOR_EXIT: &str = "185.241.208.232";

/// Read one response (head, then a `Content-Length` body) from a kept-alive stream.
fn read_one(s: &mut TcpStream) -> Resp {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("response head");
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = parse_response(&buf);
    let len: usize = head
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    buf.extend_from_slice(&body);
    parse_response(&buf)
}

/// Whether the server closed `s` (EOF or reset) within `secs`.
fn closed_within(s: &mut TcpStream, secs: u64) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut b = [0u8; 64];
    while Instant::now() < deadline {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

/// A GET on a kept-alive stream, answered 200.
fn get_ok(s: &mut TcpStream, path: &str) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    assert_eq!(read_one(s).status, 200, "GET {path}");
}

fn connect(gw: &Gateway) -> TcpStream {
    let s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s
}

fn routes() -> String {
    format!(
        r#"{intel}fields:
  coupon: {{ from: "json:/code", normalize: upper }}
routes:
  - {{ name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }}
  - {{ name: shadowed, path: /shadow, policy: shadow }}
  - {{ name: body, path: /body, methods: [POST], policy: body }}
policies:
  promo: {{}}
  shadow: {{ mode: shadow }}
  body:
    limits: [{{ key: field:coupon, rate: 100/min }}]
"#,
        intel = full_intel()
    )
}

// ---------------------------------------------------------------- 1: nginx in front

struct Nginx {
    child: Child,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_available(test: &str) -> bool {
    let ok = Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(test, "nginx is not installed (apt-get install nginx)");
    }
    ok
}

/// nginx on a unix socket in front of `upstream`, appending the client to
/// `X-Forwarded-For` as the usual `$proxy_add_x_forwarded_for` does. The test's
/// client address is what it sends in `X-Test-Client` (the realip module), so a Tor
/// exit can be the client of a real nginx on this machine.
fn nginx(upstream: SocketAddr) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let socket = dir.path().join("nginx.sock");
    let conf = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen unix:{sock};
    set_real_ip_from unix:;
    real_ip_header X-Test-Client;
    location / {{
      proxy_pass http://{upstream};
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
"#,
        sock = socket.display()
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new("nginx")
        .args(["-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(&path)
        .args(["-e", "stderr"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    wait_until(10, "nginx listening on its socket", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    Nginx {
        child,
        socket,
        _dir: dir,
    }
}

fn through_nginx(n: &Nginx, raw_head: &[u8]) -> Resp {
    let mut s = std::os::unix::net::UnixStream::connect(&n.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(raw_head).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    parse_response(&buf)
}

/// A Tor exit that sends `X-Forwarded-For: \xff` (or any byte ≥ 0x80) reaches riskgate
/// as `\xff, 185.241.208.232`: it is scored as itself, never as nginx.
#[test]
fn junk_forwarded_for_behind_nginx_scores_the_client_not_the_proxy() {
    if !nginx_available("junk_forwarded_for_behind_nginx_scores_the_client_not_the_proxy") {
        return;
    }
    let gw = start(&format!(
        "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}",
        routes()
    ));
    let n = nginx(gw.addr);
    for junk in [&b"\xff"[..], b"caf\xc3\xa9", b"\xc2\xa0", b"6.6.6.6, \x80"] {
        let mut head = b"POST /api/apply-coupon HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\nContent-Length: 0\r\nX-Test-Client: ".to_vec();
        head.extend_from_slice(TOR_EXIT.as_bytes());
        head.extend_from_slice(b"\r\nX-Forwarded-For: ");
        head.extend_from_slice(junk);
        head.extend_from_slice(b"\r\n\r\n");
        let r = through_nginx(&n, &head);
        assert_eq!(r.status, 403, "{junk:?}: {}", r.body);
        assert!(r.body.contains("RISK_IP_DETECTED"), "{}", r.body);
        // in shadow mode the origin shows what riskgate decided on
        let shadow = String::from_utf8_lossy(&head).replace("/api/apply-coupon", "/shadow");
        let mut shadow = shadow.into_bytes();
        // the lossy copy lost the junk: put the raw bytes back
        let at = shadow
            .windows(b"X-Forwarded-For: ".len())
            .position(|w| w == b"X-Forwarded-For: ")
            .unwrap();
        shadow.truncate(at);
        shadow.extend_from_slice(b"X-Forwarded-For: ");
        shadow.extend_from_slice(junk);
        shadow.extend_from_slice(b"\r\n\r\n");
        assert_eq!(through_nginx(&n, &shadow).status, 200);
        let seen = last_seen(&gw, "/shadow");
        assert_eq!(seen.header("x-risk-client-ip"), Some(TOR_EXIT), "{junk:?}");
        assert_eq!(seen.header("x-risk-network"), Some("tor"));
        assert_eq!(seen.header("x-risk-action"), Some("block"));
    }
    // a plain request through the same nginx: the real client, scored as itself
    let r = through_nginx(
        &n,
        b"POST /shadow HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\nContent-Length: 0\r\nX-Test-Client: 89.160.20.112\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = last_seen(&gw, "/shadow");
    assert_eq!(seen.header("x-risk-client-ip"), Some("89.160.20.112"));
    assert_eq!(seen.header("x-risk-action"), Some("allow"));
}

// ---------------------------------------------------------------- 3: connections

#[test]
fn an_idle_keepalive_connection_is_closed_after_keepalive_timeout() {
    let gw = start(&format!(
        "server: {{ keepalive_timeout: 1s, header_timeout: 5s }}\n{}",
        routes()
    ));
    let mut s = connect(&gw);
    for _ in 0..2 {
        s.write_all(b"GET /anything HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(read_one(&mut s).status, 200);
    }
    // answered, kept alive, then idle: closed by riskgate (Pingora alone never does)
    assert!(closed_within(&mut s, 10), "idle connection still open");
    // keep-alive off altogether
    let gw = start(&format!(
        "server: {{ keepalive_timeout: 0s }}\n{}",
        routes()
    ));
    let mut s = connect(&gw);
    s.write_all(b"GET /anything HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let r = read_one(&mut s);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closed_within(&mut s, 5));
}

#[test]
fn a_trickled_head_is_cut_off_at_header_timeout() {
    let gw = start(&format!(
        "server: {{ header_timeout: 1s, keepalive_timeout: 30s }}\n{}",
        routes()
    ));
    // one byte at a time, each well within Pingora's 60 s read timeout
    let mut s = connect(&gw);
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let head = b"GET /anything HTTP/1.1\r\nHost: x\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut closed = false;
    let mut b = [0u8; 16];
    'trickle: for byte in head.iter() {
        if s.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        // the client's pace (not a wait for the server): 100 ms a byte
        let paced = Instant::now() + Duration::from_millis(100);
        while Instant::now() < paced {
            match s.read(&mut b) {
                Ok(0) => {
                    closed = true;
                    break 'trickle;
                }
                Ok(_) => panic!("answered a head that never finished"),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    closed = true;
                    break 'trickle;
                }
            }
        }
    }
    assert!(
        closed,
        "a head trickled for {:?} was never cut off",
        started.elapsed()
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        metric(&gw, r#"riskgate_client_timeouts_total{kind="header"}"#),
        1.0
    );
    // a connection that never sends a byte is closed too, and is not a head timeout
    let mut idle = connect(&gw);
    assert!(closed_within(&mut idle, 10));
    assert_eq!(
        metric(&gw, r#"riskgate_client_timeouts_total{kind="header"}"#),
        1.0
    );
    // the next request of a kept-alive connection has its own header deadline
    let mut s = connect(&gw);
    get_ok(&mut s, "/a");
    s.write_all(b"GET /b HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(closed_within(&mut s, 10));
    assert_eq!(
        metric(&gw, r#"riskgate_client_timeouts_total{kind="header"}"#),
        2.0
    );
}

#[test]
fn the_admin_port_is_bounded_too() {
    let gw = start(&format!(
        "server: {{ header_timeout: 1s, keepalive_timeout: 1s }}\n{}",
        routes()
    ));
    let admin = || {
        let s = TcpStream::connect(gw.admin).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s
    };
    // an unfinished head is cut off
    let mut s = admin();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert!(
        closed_within(&mut s, 10),
        "a trickled admin head was never cut off"
    );
    // answered, then idle past keepalive_timeout: closed
    let mut s = admin();
    get_ok(&mut s, "/healthz");
    get_ok(&mut s, "/metrics");
    assert!(
        closed_within(&mut s, 10),
        "an idle admin connection stayed open"
    );
}

#[test]
fn a_head_past_max_header_bytes_closes_the_connection() {
    let gw = start(&format!(
        "server: {{ max_header_bytes: 8KiB }}\n{}",
        routes()
    ));
    // a real browser's head with a big cookie passes
    let mut s = connect(&gw);
    let cookie = "c".repeat(6000);
    s.write_all(format!("GET /a HTTP/1.1\r\nHost: x\r\nCookie: s={cookie}\r\n\r\n").as_bytes())
        .unwrap();
    assert_eq!(read_one(&mut s).status, 200);
    // 16 KiB of head: closed, never answered, never forwarded
    let mut s = connect(&gw);
    let pad = "p".repeat(16 * 1024);
    let _ = s.write_all(format!("GET /big HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}").as_bytes());
    assert!(closed_within(&mut s, 10));
    assert_eq!(metric(&gw, "riskgate_heads_too_large_total"), 1.0);
    assert!(gw.seen.on("/big").is_empty());
    // the limit is the head's, not the body's: a large body passes
    let body = "b".repeat(100 * 1024);
    let r = request(gw.addr, "POST", "/upload", &[], &body);
    assert_eq!(r.status, 200);
    assert_eq!(last_seen(&gw, "/upload").body_len, body.len());
}

#[test]
fn connections_per_address_are_capped_at_accept() {
    // no trusted proxy: the peer is the client
    let gw = start(&format!(
        "server: {{ max_connections_per_ip: 3 }}\n{}",
        routes()
    ));
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = connect(&gw);
            get_ok(&mut s, "/a");
            s
        })
        .collect();
    assert_eq!(metric(&gw, "riskgate_connections_open"), 3.0);
    // the fourth is refused at accept: closed before any answer
    let mut fourth = connect(&gw);
    let _ = fourth.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(closed_within(&mut fourth, 10));
    assert_eq!(metric(&gw, "riskgate_connections_refused_total"), 1.0);
    // another address is not affected
    let other = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    other
        .bind(&"127.0.0.2:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    other.connect(&gw.addr.into()).unwrap();
    let mut other: TcpStream = other.into();
    other
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    get_ok(&mut other, "/a");
    // one closed: the address may connect again
    held.pop();
    wait_until(10, "the closed connection released", || {
        metric(&gw, "riskgate_connections_open") == 3.0
    });
    get_ok(&mut connect(&gw), "/a");
    // a trusted proxy's connections are never capped
    let gw = start(&format!(
        "server: {{ max_connections_per_ip: 2 }}\nclient_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}",
        routes()
    ));
    let many: Vec<TcpStream> = (0..6)
        .map(|_| {
            let mut s = connect(&gw);
            get_ok(&mut s, "/a");
            s
        })
        .collect();
    assert_eq!(many.len(), 6);
    assert_eq!(metric(&gw, "riskgate_connections_refused_total"), 0.0);
}

// ---------------------------------------------------------------- 6: bad bodies

#[test]
fn bad_bodies_are_answered_as_nginx_would() {
    let gw = start(&format!(
        "body_timeout: 1s\nclient_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\n{}",
        routes()
    ));
    let head = |extra: &str| {
        format!("POST /body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}\r\n")
    };
    // a body that stops arriving: 408 after body_timeout
    let mut s = connect(&gw);
    s.write_all(head("Content-Length: 100\r\n").as_bytes())
        .unwrap();
    s.write_all(b"{\"code\":").unwrap();
    let r = read_one(&mut s);
    assert_eq!(r.status, 408, "{}", r.body);
    assert_eq!(
        metric(&gw, r#"riskgate_client_timeouts_total{kind="body"}"#),
        1.0
    );
    // a malformed chunk: 400
    let mut s = connect(&gw);
    s.write_all(head("Transfer-Encoding: chunked\r\n").as_bytes())
        .unwrap();
    s.write_all(b"zz\r\n{\"code\":\"A\"}\r\n0\r\n\r\n").unwrap();
    assert_eq!(read_one(&mut s).status, 400);
    // a body that ends before its length: 400
    let mut s = connect(&gw);
    s.write_all(head("Content-Length: 100\r\n").as_bytes())
        .unwrap();
    s.write_all(b"{\"code\":\"A\"}").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_one(&mut s).status, 400);
    // none of these reached the origin
    assert!(gw.seen.on("/body").is_empty());
    // Expect: 100-continue gets its 100 before the body is read
    let body = br#"{"code":"welcome10"}"#;
    let mut s = connect(&gw);
    s.write_all(
        head(&format!(
            "Content-Length: {}\r\nExpect: 100-continue\r\n",
            body.len()
        ))
        .as_bytes(),
    )
    .unwrap();
    let cont = read_one(&mut s);
    assert_eq!(cont.status, 100);
    s.write_all(body).unwrap();
    let r = read_one(&mut s);
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = last_seen(&gw, "/body");
    assert_eq!(seen.body, body.to_vec());
    assert_eq!(seen.header("expect"), None);
    assert_eq!(seen.header("x-risk-action"), Some("allow"));
    // a body riskgate does not read (compressed): the origin is asked for the 100,
    // and the client gets it from there
    let mut s = connect(&gw);
    s.write_all(
        head(&format!(
            "Content-Length: {}\r\nContent-Encoding: gzip\r\nExpect: 100-continue\r\n",
            body.len()
        ))
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_one(&mut s).status, 100);
    s.write_all(body).unwrap();
    assert_eq!(read_one(&mut s).status, 200);
    let seen = last_seen(&gw, "/body");
    assert_eq!(seen.header("expect"), Some("100-continue"));
    assert_eq!(seen.header("x-risk-reasons"), Some("unreadable_body"));
}

// ---------------------------------------------------------------- 5: spelling

/// The shipped config's own `coupon_country`: a PPP-IN coupon from Japan is verified
/// however it is spelled or typed.
#[test]
fn a_coupon_spelled_another_way_is_still_checked() {
    let shipped = std::fs::read_to_string(root().join("gateway.yaml")).unwrap();
    let field = shipped
        .lines()
        .find(|l| l.trim_start().starts_with("coupon_country:"))
        .expect("gateway.yaml defines coupon_country")
        .to_string();
    // through explain, on the shipped config itself
    let config = root().join("gateway.yaml");
    let config = config.to_str().unwrap();
    for body in [
        r#"{"code":"PPP-IN-65"}"#,
        r#"{"code":"ppp-in-65"}"#,
        r#"{"code":" PPP-IN-65"}"#,
        r#"{"code":"\u00a0Ppp-In-65\t"}"#,
        r#"{"code":["PPP-IN-65"]}"#,
    ] {
        let (code, out, err) = run_cli(&[
            "explain",
            "-c",
            config,
            "2001:218::1",
            "--path",
            "/api/apply-coupon",
            "--method",
            "POST",
            "--header",
            "Content-Type: application/json",
            "--data",
            body,
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_ne!(v["action"], "allow", "{body}: {out}");
        let signals: Vec<&str> = v["signals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["signal"].as_str().unwrap())
            .collect();
        assert!(
            signals.contains(&"country_mismatch") || signals.contains(&"unreadable_body"),
            "{body}: {signals:?}"
        );
    }
    // and live, with the shipped field definition
    let gw = start(&format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
intel: {{ mmdb: {{ geo: {geo} }} }}
fields:
{field}
routes:
  - {{ name: ppp, path: /api/apply-coupon, methods: [POST], policy: ppp }}
policies:
  ppp:
    mode: shadow
    checks: {{ declared_country: coupon_country }}
"#,
        geo = data("GeoIP2-City-Test.mmdb")
    ));
    for (body, reason) in [
        (r#"{"code":"PPP-IN-65"}"#, "country_mismatch"),
        (r#"{"code":"ppp-in-65"}"#, "country_mismatch"),
        (r#"{"code":" PPP-IN-65"}"#, "country_mismatch"),
        (r#"{"code":["PPP-IN-65"]}"#, "unreadable_body"),
        (r#"{"code":{"a":"PPP-IN-65"}}"#, "unreadable_body"),
    ] {
        let r = request(
            gw.addr,
            "POST",
            "/api/apply-coupon",
            &[
                ("X-Forwarded-For", "2001:218::1"),
                ("Content-Type", "application/json"),
            ],
            body,
        );
        assert_eq!(r.status, 200);
        let seen = last_seen(&gw, "/api/apply-coupon");
        assert_eq!(seen.header("x-risk-country"), Some("JP"));
        assert_eq!(seen.header("x-risk-reasons"), Some(reason), "{body}");
        assert_eq!(seen.header("x-risk-action"), Some("verify"), "{body}");
    }
}

// ---------------------------------------------------------------- 7: relay union

#[test]
fn a_relay_list_of_a_plain_list_and_a_geofeed_keeps_the_geofeed_country() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "relay-plain.txt", "172.224.0.0/16\n");
    let feed = write(
        dir.path(),
        "relay-geofeed.csv",
        "172.224.226.0/27,GB,GB-ENG,London,\n172.224.227.0/27,DE,DE-BE,Berlin,\n",
    );
    let gw = start(&format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
intel:
  lists:
    relay: [ {{ source: {plain} }}, {{ source: {feed}, format: geofeed }} ]
routes:
  - {{ name: r, path: /r, policy: p }}
policies:
  p: {{}}
"#
    ));
    for (ip, country) in [
        ("172.224.226.5", "GB"),
        ("172.224.227.30", "DE"),
        ("172.224.1.1", ""),
    ] {
        post_as(&gw, "/r", ip);
        let seen = last_seen(&gw, "/r");
        assert_eq!(seen.header("x-risk-country"), Some(country), "{ip}");
        assert_eq!(seen.header("x-risk-network"), Some("relay"), "{ip}");
    }
}

// ---------------------------------------------------------------- 8: admin token

#[test]
fn the_admin_port_needs_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = "6f1c0d2e9a8b7c6d5e4f3a2b1c0d9e8f";
    let file = write(dir.path(), "admin.token", &format!("{token}\n"));
    let gw = start(&format!("admin_token_file: {file}\n{}", routes()));
    let basic = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("ops:{token}"))
    };
    let bearer = format!("Bearer {token}");
    let basic = format!("Basic {basic}");
    for (method, path) in [
        ("POST", "/reload"),
        ("GET", "/stats"),
        ("GET", "/dashboard"),
        (
            "GET",
            "/explain?ip=89.160.20.112&path=/api/apply-coupon&method=POST",
        ),
        ("GET", "/nothing-here"),
    ] {
        let r = request(gw.admin, method, path, &[], "");
        assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
        assert!(r
            .headers
            .iter()
            .any(|(k, v)| k == "www-authenticate" && v.starts_with("Basic")));
        let wrong = request(
            gw.admin,
            method,
            path,
            &[("Authorization", "Bearer 6f1c0d2e9a8b7c6d5e4f3a2b1c0d9e8e")],
            "",
        );
        assert_eq!(wrong.status, 401, "{method} {path}");
        for auth in [&bearer, &basic] {
            let r = request(
                gw.admin,
                method,
                path,
                &[("Authorization", auth.as_str())],
                "",
            );
            let want = if path == "/nothing-here" { 404 } else { 200 };
            assert_eq!(r.status, want, "{method} {path} {auth}: {}", r.body);
        }
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            request(gw.admin, "GET", path, &[], "").status,
            200,
            "{path}"
        );
    }
    // a reload re-reads the file: the old token stops working
    std::fs::write(&file, "a-new-token-of-enough-length-0001").unwrap();
    let r = request(
        gw.admin,
        "POST",
        "/reload",
        &[("Authorization", bearer.as_str())],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        request(
            gw.admin,
            "GET",
            "/stats",
            &[("Authorization", bearer.as_str())],
            ""
        )
        .status,
        401
    );
    assert_eq!(
        request(
            gw.admin,
            "GET",
            "/stats",
            &[("Authorization", "Bearer a-new-token-of-enough-length-0001")],
            ""
        )
        .status,
        200
    );
    // a token too short (31 bytes; 32 is the least) is a config error naming the key
    let short = write(
        dir.path(),
        "short.token",
        "0123456789abcdef0123456789abcde\n",
    );
    let cfg = write(
        dir.path(),
        "bad.yaml",
        &format!("upstream: 127.0.0.1:3000\nadmin_token_file: {short}\n"),
    );
    let (code, _, err) = run_cli(&["check", "-c", &cfg]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains("bad.yaml:2:")
            && err.contains("admin_token_file")
            && err.contains("at least 32"),
        "{err}"
    );
}
