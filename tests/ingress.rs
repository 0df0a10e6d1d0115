//! riskgate behind the real ingresses: Debian's nginx (`auth_request`) and Caddy
//! (`forward_auth`), each run with the shipped config of `deploy/ingress/` in front of
//! the recording origin, riskgate's authz door behind them. The configs are used as
//! shipped; only the listening socket, the addresses and (for the test's clients) a
//! trusted client header are put in.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

const TOR_EXIT: &str = "185.241.208.232";
const RESIDENTIAL_SE: &str = "89.160.20.112";
const VPN: &str = "1.2.0.1";

fn config(limit_status: u16) -> String {
    format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
authz: {{ listen: ["127.0.0.1:0"], limit_status: {limit_status} }}
{intel}routes:
  - {{ name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }}
  - {{ name: shadowed, path: /shadow, policy: shadow }}
  - {{ name: signup, path: /signup, methods: [POST], policy: limited }}
policies:
  promo: {{}}
  shadow: {{ mode: shadow }}
  limited:
    limits: [{{ key: ip, rate: 1/min }}]
"#,
        intel = full_intel()
    )
}

fn available(tool: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg(if tool == "nginx" { "-v" } else { "version" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(test, &format!("{tool} is not installed (make deps)"));
    }
    ok
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(root().join("deploy/ingress").join(name)).unwrap()
}

/// A running ingress and where its clients reach it.
struct Ingress {
    child: Child,
    to: Reach,
    _dir: tempfile::TempDir,
}

enum Reach {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Drop for Ingress {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ingress {
    /// One request from `client` (the ingress trusts the test's own client header).
    fn send(&self, method: &str, path: &str, client: &str, extra: &[(&str, &str)]) -> Resp {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\nX-Test-Client: {client}\r\nX-Forwarded-For: {client}\r\n"
        );
        for (k, v) in extra {
            head += &format!("{k}: {v}\r\n");
        }
        if method == "POST" {
            head += "Content-Length: 14\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\ncode=WELCOME10";
        } else {
            head += "\r\n";
        }
        let mut buf = Vec::new();
        match &self.to {
            Reach::Unix(p) => {
                let mut s = std::os::unix::net::UnixStream::connect(p).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
                s.write_all(head.as_bytes()).unwrap();
                s.read_to_end(&mut buf).unwrap();
            }
            Reach::Tcp(a) => {
                let mut s = std::net::TcpStream::connect(a).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
                s.write_all(head.as_bytes()).unwrap();
                s.read_to_end(&mut buf).unwrap();
            }
        }
        parse_response(&buf)
    }
}

/// The shipped nginx server block on a unix socket, its client address taken from
/// `X-Test-Client` (the realip module), inside a minimal `http {}`.
fn nginx(authz: SocketAddr, origin: SocketAddr) -> Ingress {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let socket = dir.path().join("nginx.sock");
    let site = shipped("nginx.conf")
        .replace("127.0.0.1:9000", &authz.to_string())
        .replace("127.0.0.1:3000", &origin.to_string())
        .replace(
            "    listen 80;\n",
            &format!(
                "    listen unix:{};\n    set_real_ip_from unix:;\n    real_ip_header X-Test-Client;\n",
                socket.display()
            ),
        );
    assert!(
        site.contains("real_ip_header"),
        "the shipped server block changed"
    );
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{site}\n}}\n"
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&path)
        .args(["-e", "stderr"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx");
    wait_until(10, "nginx listening on its socket", || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    Ingress {
        child,
        to: Reach::Unix(socket),
        _dir: dir,
    }
}

/// The shipped Caddyfile on a loopback port, admin and HTTPS off, with the test's
/// client trusted by `forward_auth` (Caddy then keeps its `X-Forwarded-For`, so a Tor
/// exit can be a client on this machine).
/// Caddy cannot report a port it chose, so a free one is taken and, should another
/// process win it first, the start is tried again on another.
fn caddy(authz: SocketAddr, origin: SocketAddr) -> Ingress {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let site = shipped("Caddyfile")
            .replace("127.0.0.1:9000", &authz.to_string())
            .replace("127.0.0.1:3000", &origin.to_string())
            .replace(
                "shop.example {",
                &format!("http://:{port} {{\n\tbind 127.0.0.1"),
            )
            .replace(
                "\t\turi /authz\n",
                "\t\turi /authz\n\t\ttrusted_proxies 127.0.0.1/32\n",
            );
        assert!(
            site.contains(&format!(":{port} {{")) && site.contains("trusted_proxies"),
            "the shipped Caddyfile changed"
        );
        let conf = format!("{{\n\tadmin off\n\tauto_https off\n}}\n{site}");
        let path = dir.path().join("Caddyfile");
        std::fs::write(&path, conf).unwrap();
        let mut child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("caddy.log")).unwrap(),
            ))
            .spawn()
            .expect("caddy");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(dir.path().join("caddy.log")).unwrap_or_default();
                assert!(
                    log.contains("address already in use"),
                    "caddy exited ({st}):\n{log}"
                );
                break;
            }
            if std::net::TcpStream::connect(addr).is_ok() {
                return Ingress {
                    child,
                    to: Reach::Tcp(addr),
                    _dir: dir,
                };
            }
            assert!(
                std::time::Instant::now() < deadline,
                "caddy not listening on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("caddy found no free port in five tries");
}

/// What every ingress must do in front of riskgate's authz door.
fn behaves(gw: &Gateway, ing: &Ingress, limit_status: u16) {
    let risk = |s: &Seen| -> Vec<(String, String)> {
        s.headers
            .iter()
            .filter(|(k, _)| {
                k.to_ascii_lowercase()
                    .replace(['_', '.'], "-")
                    .starts_with("x-risk-")
            })
            .cloned()
            .collect()
    };
    // a Tor exit: riskgate's 403 and its body; the app never sees it
    let r = ing.send("POST", "/api/apply-coupon", TOR_EXIT, &[]);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body.contains("RISK_IP_DETECTED"), "{}", r.body);
    assert!(gw.seen.on("/api/apply-coupon").is_empty());

    // allowed and verified clients reach the app with riskgate's headers
    for (client, action) in [(RESIDENTIAL_SE, "allow"), (VPN, "verify")] {
        let r = ing.send("POST", "/api/apply-coupon", client, &[]);
        assert_eq!(r.status, 200, "{client}: {r:?}");
        let s = last_seen(gw, "/api/apply-coupon");
        assert_eq!(s.header("x-risk-action"), Some(action), "{client}");
        assert_eq!(s.header("x-risk-client-ip"), Some(client));
        assert_eq!(s.header("x-risk-route"), Some("coupon"));
        assert_eq!(s.header("x-risk-mode"), Some("enforce"));
        assert!(s.header("x-risk-score").is_some());
        assert!(s.header("x-risk-network").is_some());
        assert!(s.header("x-risk-request-id").is_some_and(|v| !v.is_empty()));
        assert_eq!(s.body_len, 14, "the body reaches the app");
        if client == RESIDENTIAL_SE {
            assert_eq!(s.header("x-risk-country"), Some("SE"));
        }
    }

    // a client's own X-Risk-* (and aliases) never reach the app
    let r = ing.send(
        "POST",
        "/api/apply-coupon",
        VPN,
        &[
            ("X-Risk-Action", "allow"),
            ("X-Risk-Score", "0"),
            ("X_Risk_Action", "allow"),
            ("X-Risk-Signature", "forged"),
        ],
    );
    assert_eq!(r.status, 200);
    let s = last_seen(gw, "/api/apply-coupon");
    let got = risk(&s);
    assert!(
        got.iter().all(|(_, v)| v != "allow" && v != "forged"),
        "a forged header reached the app: {got:?}"
    );
    assert_eq!(s.header("x-risk-action"), Some("verify"));
    assert_eq!(
        got.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-risk-action"))
            .count(),
        1,
        "{got:?}"
    );

    // an unmatched path passes, with no headers and no decision
    let before = metric(
        gw,
        "riskgate_requests_total{action=\"allow\",frontend=\"authz\",route=\"coupon\"}",
    );
    let r = ing.send(
        "GET",
        "/static/logo.png",
        TOR_EXIT,
        &[("X-Risk-Action", "allow")],
    );
    assert_eq!(r.status, 200);
    let s = last_seen(gw, "/static/logo.png");
    // riskgate answers it with no X-Risk-*: nginx then sends none, and Caddy 2.6 (Debian
    // 12's) its unfilled placeholder (2.7 removes the header) — never the client's own
    assert!(
        risk(&s)
            .iter()
            .all(|(_, v)| v.is_empty() || v.starts_with("{http.reverse_proxy.header.")),
        "{:?}",
        risk(&s)
    );

    // a limit answers as configured, with Retry-After and on_limit's body
    assert_eq!(ing.send("POST", "/signup", RESIDENTIAL_SE, &[]).status, 200);
    let r = ing.send("POST", "/signup", RESIDENTIAL_SE, &[]);
    assert_eq!(r.status, limit_status, "{r:?}");
    assert!(r.body.contains("RISK_RATE_LIMITED"), "{}", r.body);
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");

    // shadow mode passes, with the block for the app to act on
    let r = ing.send("POST", "/shadow", TOR_EXIT, &[]);
    assert_eq!(r.status, 200);
    let s = last_seen(gw, "/shadow");
    assert_eq!(s.header("x-risk-action"), Some("block"));
    assert_eq!(s.header("x-risk-mode"), Some("shadow"));

    // every decision came through the authz door
    let after = metric(
        gw,
        "riskgate_requests_total{action=\"allow\",frontend=\"authz\",route=\"coupon\"}",
    );
    assert_eq!(after, before, "the unmatched path was decided");
    assert_eq!(
        metric(
            gw,
            "riskgate_requests_total{action=\"block\",frontend=\"authz\",route=\"coupon\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            gw,
            "riskgate_requests_total{action=\"allow\",frontend=\"proxy\",route=\"coupon\"}"
        ),
        0.0
    );
}

#[test]
fn nginx_auth_request_in_front_of_the_app_with_riskgate_behind() {
    if !available(
        "nginx",
        "nginx_auth_request_in_front_of_the_app_with_riskgate_behind",
    ) {
        return;
    }
    let gw = start(&config(403));
    let ing = nginx(gw.authz.unwrap(), gw.origin);
    behaves(&gw, &ing, 403);
}

#[test]
fn caddy_forward_auth_in_front_of_the_app_with_riskgate_behind() {
    if !available(
        "caddy",
        "caddy_forward_auth_in_front_of_the_app_with_riskgate_behind",
    ) {
        return;
    }
    let gw = start(&config(429));
    let ing = caddy(gw.authz.unwrap(), gw.origin);
    behaves(&gw, &ing, 429);
}

/// With `signing`, the signature riskgate gives the ingress verifies on the request the
/// app receives from it: over the original method and target, as the app sees them.
#[test]
fn nginx_passes_a_signature_the_app_verifies() {
    if !available("nginx", "nginx_passes_a_signature_the_app_verifies") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k1.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef-k1").unwrap();
    let gw = start(&format!(
        "{}signing:\n  keys:\n    - {{ id: k1, file: {} }}\n",
        config(403),
        key.display()
    ));
    let ing = nginx(gw.authz.unwrap(), gw.origin);
    let keys = [riskgate::sign::Key::new(
        "k1",
        b"0123456789abcdef0123456789abcdef-k1",
    )];
    for (client, target) in [
        (RESIDENTIAL_SE, "/api/apply-coupon?src=mail&x=%2F"),
        (VPN, "/api/apply-coupon"),
        (TOR_EXIT, "/shadow?ref=1"),
    ] {
        assert_eq!(
            ing.send("POST", target, client, &[]).status,
            200,
            "{client}"
        );
        let s = last_seen(&gw, target);
        let values: Vec<&str> = NAMES.iter().map(|n| s.header(n).unwrap_or("")).collect();
        let values: [&[u8]; 9] = std::array::from_fn(|i| values[i].as_bytes());
        let sig = s.header("x-risk-signature").expect("signed");
        let got = riskgate::sign::verify(&keys, sig, &s.method, s.path.as_bytes(), &values);
        assert!(got.is_ok(), "{client} {target}: {got:?} {:?}", s.headers);
    }
}

const NAMES: [&str; 9] = riskgate::http::headers::NAMES;
