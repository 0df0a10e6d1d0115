//! No way around a route: real web frameworks behind the real gateway.
//!
//! Flask on gunicorn, Starlette on uvicorn, Express and Fastify each serve a protected
//! coupon handler (`POST /api/apply-coupon`) and a protected prefix
//! (`/api/redeem/*`). A Tor exit sends many spellings of those paths through
//! riskgate (in shadow mode, so a matched request reaches the app with
//! `X-Risk-Action: block`). Any spelling that reaches a protected handler without
//! `X-Risk-Action` is a bypass and fails the test.
//!
//! The frameworks are installed from PyPI and npm at the versions pinned in
//! `tests/frameworks/`, into a cache under the target directory. Only when a registry
//! cannot be reached is a framework skipped, loudly (`make test` counts it).

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const TOR_EXIT: &str = "185.241.208.232";

fn deps_dir() -> PathBuf {
    target_dir().join("test-deps")
}

fn apps_dir() -> PathBuf {
    root().join("tests/frameworks")
}

/// Messages that mean "the registry cannot be reached", not "the install is wrong".
fn unreachable(output: &str) -> bool {
    [
        "Failed to establish a new connection",
        "Temporary failure in name resolution",
        "Name or service not known",
        "Network is unreachable",
        "Connection refused",
        "ConnectTimeoutError",
        "Read timed out",
        "ENOTFOUND",
        "EAI_AGAIN",
        "ECONNREFUSED",
        "ETIMEDOUT",
        "ENETUNREACH",
        "ECONNRESET",
    ]
    .iter()
    .any(|m| output.contains(m))
}

/// Run an install command; Ok(false) when the registry is unreachable.
fn install(what: &str, cmd: &mut Command) -> Result<bool, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        return Ok(true);
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if unreachable(&text) {
        return Ok(false);
    }
    Err(format!("{what} failed:\n{text}"))
}

/// Install once per pinned file: a stamp holds the file's text.
fn installed(
    stamp: &Path,
    pins: &str,
    run: impl FnOnce() -> Result<bool, String>,
) -> Result<bool, String> {
    if std::fs::read_to_string(stamp).ok().as_deref() == Some(pins) {
        return Ok(true);
    }
    let ok = run()?;
    if ok {
        std::fs::write(stamp, pins).unwrap();
    }
    Ok(ok)
}

struct Deps {
    python: Option<PathBuf>,
    node_modules: Option<PathBuf>,
}

/// Install the pinned frameworks (once for every test in this file).
fn deps() -> &'static Deps {
    static DEPS: OnceLock<Deps> = OnceLock::new();
    DEPS.get_or_init(|| {
        let dir = deps_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let venv = dir.join("venv");
        let reqs = std::fs::read_to_string(apps_dir().join("requirements.txt")).unwrap();
        let py = installed(&dir.join("venv.stamp"), &reqs, || {
            if !venv.join("bin/python").exists() {
                let st = Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&venv)
                    .status()
                    .map_err(|e| format!("python3 -m venv: {e}"))?;
                if !st.success() {
                    return Err("python3 -m venv failed".into());
                }
            }
            install(
                "pip install",
                Command::new(venv.join("bin/pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                    .arg(apps_dir().join("requirements.txt")),
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let node = dir.join("node");
        std::fs::create_dir_all(&node).unwrap();
        let pkg = std::fs::read_to_string(apps_dir().join("package.json")).unwrap();
        let js = installed(&dir.join("node.stamp"), &pkg, || {
            std::fs::write(node.join("package.json"), &pkg).unwrap();
            install(
                "npm install",
                Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
                    .current_dir(&node),
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
        Deps {
            python: py.then(|| venv.join("bin")),
            node_modules: js.then(|| node.join("node_modules")),
        }
    })
}

/// An app process, killed when dropped.
struct App {
    child: Child,
    port: u16,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start an app and read its port from the line that `find` recognises, on stdout
/// or stderr, within a deadline.
fn start_app(mut cmd: Command, find: fn(&str) -> Option<u16>) -> App {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            panic!("app exited early ({st}):\n{}", seen.join("\n"));
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(port) = find(&line) {
                    return App { child, port };
                }
                seen.push(line);
            }
            Err(_) if Instant::now() > deadline => {
                let _ = child.kill();
                panic!("app did not start:\n{}", seen.join("\n"));
            }
            Err(_) => {}
        }
    }
}

fn port_line(line: &str) -> Option<u16> {
    line.strip_prefix("PORT ")?.trim().parse().ok()
}

fn gunicorn_line(line: &str) -> Option<u16> {
    // "[INFO] Listening at: http://127.0.0.1:41234 (123)"
    let rest = line.split("Listening at: http://127.0.0.1:").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The path spellings sent to every framework: each is something some server,
/// client or framework reads as a protected path.
const VARIANTS: &[&str] = &[
    "/api/apply-coupon",
    "/api/apply-coupon/",
    "//api/apply-coupon",
    "/api//apply-coupon",
    "/api/./apply-coupon",
    "/./api/apply-coupon",
    "/api/x/../apply-coupon",
    "/api/apply-coupon/.",
    "/API/APPLY-COUPON",
    "/Api/Apply-Coupon",
    "/api/apply-coupon;x=1",
    "/api;x=1/apply-coupon",
    "/api/apply-coupon.json",
    "/api%2Fapply-coupon",
    "/api%2fapply-coupon",
    "/%2Fapi%2Fapply-coupon",
    "/api%252Fapply-coupon",
    "/api%5Capply-coupon",
    "/api\\apply-coupon",
    "/api/apply%2Dcoupon",
    "/api/apply%2dcoupon",
    "/%61pi/apply-coupon",
    "/%41PI/%41PPLY-COUPON",
    "/api/%2e/apply-coupon",
    "/api/%2e%2e/api/apply-coupon",
    "/api/x/%2e%2e/apply-coupon",
    "/api/apply-coupon%2F",
    "/api/apply-coupon?x=1",
    "/api/apply-coupon/?x=1",
    "/api/redeem/WELCOME10",
    "/api/redeem/a/b",
    "/api/redeem/x%2F..%2F..%2Fapply-coupon",
    "/API/REDEEM/x",
    "/api%2Fredeem%2Fx",
    "/api/redeem;x/y",
    "/api//redeem//y",
    "/api/x/../redeem/y",
    "/api/redeem/%2e%2e/%2e%2e/api/apply-coupon",
];

fn gateway_for(app_port: u16) -> Gateway {
    let (origin, seen) = (
        format!("127.0.0.1:{app_port}").parse().unwrap(),
        Recorder::default(),
    );
    start_with_origin(
        &format!(
            "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  tor: {{ source: {} }}\nroutes:\n  - {{ name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }}\n  - {{ name: redeem, path: /api/redeem/*, policy: promo }}\npolicies:\n  promo: {{ mode: shadow }}\n",
            data("tor-exit-addresses.txt")
        ),
        origin,
        seen,
    )
}

/// Send every variant; return the ones that reached a protected handler unscored,
/// and how many reached one scored.
fn probe(name: &str, gw: &Gateway) -> (Vec<String>, usize) {
    let mut bypasses = Vec::new();
    let mut scored = 0;
    for v in VARIANTS {
        let r = request(
            gw.addr,
            "POST",
            v,
            &[
                ("X-Forwarded-For", TOR_EXIT),
                ("Content-Type", "application/json"),
            ],
            "{\"code\":\"WELCOME10\"}",
        );
        // 502/504: the app was never reached, so the variant tested nothing
        assert!(
            r.status != 502 && r.status != 504,
            "{name}: {v}: the app did not answer ({}): {}",
            r.status,
            r.body
        );
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        let handler = body["handler"].as_str();
        let risk = body["risk"].as_str();
        eprintln!(
            "{name:<8} {v:<46} {:>3} handler={:<7} risk={}",
            r.status,
            handler.unwrap_or("-"),
            risk.unwrap_or("-")
        );
        match (handler, risk) {
            (Some(h), None) => bypasses.push(format!("{v} → {h} handler, unscored")),
            (Some(_), Some(a)) => {
                assert_eq!(a, "block", "{v}: a Tor exit is scored block");
                scored += 1;
            }
            _ => {}
        }
    }
    (bypasses, scored)
}

fn check(name: &str, app: App, must_reach: &[&str]) {
    let gw = gateway_for(app.port);
    let (bypasses, scored) = probe(name, &gw);
    assert!(
        bypasses.is_empty(),
        "{name}: {} variants reached a protected handler without X-Risk-Action:\n  {}",
        bypasses.len(),
        bypasses.join("\n  ")
    );
    // the test means something only if the framework really routes these
    for v in must_reach {
        let r = request(
            gw.addr,
            "POST",
            v,
            &[
                ("X-Forwarded-For", TOR_EXIT),
                ("Content-Type", "application/json"),
            ],
            "{}",
        );
        assert!(
            r.body.contains("\"handler\":\"coupon\"") && r.body.contains("\"risk\":\"block\""),
            "{name}: {v} should reach the coupon handler, scored: {}",
            r.body
        );
    }
    assert!(scored >= must_reach.len(), "{name}: {scored}");
}

#[test]
fn flask_on_gunicorn() {
    let Some(bin) = &deps().python else {
        return skip(
            "flask_on_gunicorn",
            "PyPI is unreachable: Flask and gunicorn could not be installed",
        );
    };
    let mut cmd = Command::new(bin.join("gunicorn"));
    cmd.args(["-b", "127.0.0.1:0", "-w", "1", "--chdir"])
        .arg(apps_dir())
        .arg("flask_app:app");
    let app = start_app(cmd, gunicorn_line);
    // gunicorn decodes %2F into PATH_INFO: the hole this test was written for
    check(
        "flask",
        app,
        &[
            "/api/apply-coupon",
            "/api%2Fapply-coupon",
            "//api/apply-coupon",
        ],
    );
}

#[test]
fn starlette_on_uvicorn() {
    let Some(bin) = &deps().python else {
        return skip(
            "starlette_on_uvicorn",
            "PyPI is unreachable: Starlette and uvicorn could not be installed",
        );
    };
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(apps_dir().join("starlette_app.py"));
    let app = start_app(cmd, port_line);
    check(
        "starlette",
        app,
        &["/api/apply-coupon", "/api%2Fapply-coupon"],
    );
}

fn node_app(script: &str, modules: &Path) -> App {
    let mut cmd = Command::new("node");
    cmd.arg(apps_dir().join(script)).env("NODE_PATH", modules);
    start_app(cmd, port_line)
}

#[test]
fn express() {
    let Some(modules) = &deps().node_modules else {
        return skip(
            "express",
            "the npm registry is unreachable: Express could not be installed",
        );
    };
    let app = node_app("express_app.js", modules);
    check(
        "express",
        app,
        &[
            "/api/apply-coupon",
            "/API/Apply-Coupon",
            "/api/apply-coupon/",
        ],
    );
}

#[test]
fn fastify() {
    let Some(modules) = &deps().node_modules else {
        return skip(
            "fastify",
            "the npm registry is unreachable: Fastify could not be installed",
        );
    };
    let app = node_app("fastify_app.js", modules);
    check("fastify", app, &["/api/apply-coupon"]);
}
