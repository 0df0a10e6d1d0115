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
    /// gunicorn 21 (before 22 it joins `X_Risk_Action` with `X-Risk-Action`)
    gunicorn21: Option<PathBuf>,
}

/// A virtualenv under the deps directory with the pins of `requirements`.
fn venv(name: &str, requirements: &str) -> Result<Option<PathBuf>, String> {
    let dir = deps_dir();
    let venv = dir.join(name);
    let reqs = std::fs::read_to_string(apps_dir().join(requirements)).unwrap();
    let ok = installed(&dir.join(format!("{name}.stamp")), &reqs, || {
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
                .arg(apps_dir().join(requirements)),
        )
    })?;
    Ok(ok.then(|| venv.join("bin")))
}

/// Install the pinned frameworks (once for every test in this file).
fn deps() -> &'static Deps {
    static DEPS: OnceLock<Deps> = OnceLock::new();
    DEPS.get_or_init(|| {
        let dir = deps_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let python = venv("venv", "requirements.txt").unwrap_or_else(|e| panic!("{e}"));
        let gunicorn21 = venv("venv-gunicorn21", "requirements-gunicorn21.txt")
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
            python,
            node_modules: js.then(|| node.join("node_modules")),
            gunicorn21,
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

/// `module:app` of the apps directory on gunicorn from the virtualenv `bin`, one worker.
fn gunicorn(bin: &Path, app: &str) -> App {
    let mut cmd = Command::new(bin.join("gunicorn"));
    cmd.args(["-b", "127.0.0.1:0", "-w", "1", "--chdir"])
        .arg(apps_dir())
        .arg(app);
    start_app(cmd, gunicorn_line)
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
    let app = gunicorn(bin, "flask_app:app");
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

/// What a client forges, by every spelling an app server reads as the real header:
/// `X_Risk_Action` is `HTTP_X_RISK_ACTION` to WSGI, and gunicorn before 22 joins it
/// with the real one (`allow,verify`); Node and uvicorn pass it under its own name.
const FORGED: &[(&str, &str)] = &[
    ("X_Risk_Action", "allow"),
    ("X_Risk_Score", "0"),
    ("X_Risk_Client_IP", "6.6.6.6"),
    ("x.risk.reasons", "none"),
    ("X-Risk_Network", "residential"),
    ("X-RISK-MODE", "shadow"),
    ("X_Forwarded_For", "6.6.6.6"),
];

/// A VPN address (verify, score 30) behind the gateway, forging every alias: the app
/// must see riskgate's verdict alone.
fn forged_request(app_port: u16) -> serde_json::Value {
    let (origin, seen) = (
        format!("127.0.0.1:{app_port}").parse().unwrap(),
        Recorder::default(),
    );
    let gw = start_with_origin(
        &format!(
            "client_ip: {{ trusted_proxies: [\"127.0.0.1/32\"] }}\nintel:\n  lists: {{ vpn: {} }}\nroutes:\n  - {{ name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }}\npolicies:\n  promo: {{}}\n",
            data("vpn.txt")
        ),
        origin,
        seen,
    );
    let mut h = vec![("X-Forwarded-For", "2.26.157.9")];
    h.extend_from_slice(FORGED);
    let r = request(gw.addr, "POST", "/api/apply-coupon", &h, "");
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// The headers an app got, as (name as sent, value): from the WSGI environ or a list.
fn risk_headers(v: &serde_json::Value) -> Vec<(String, String)> {
    let pairs: Vec<(String, String)> = match v.get("environ") {
        Some(env) => env
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k["HTTP_".len()..].to_string(),
                    v.as_str().unwrap().to_string(),
                )
            })
            .collect(),
        None => v["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect(),
    };
    let fold = |s: &str| s.to_ascii_lowercase().replace(['_', '.'], "-");
    pairs
        .into_iter()
        .filter(|(k, _)| fold(k).starts_with("x-risk-") || fold(k) == "x-forwarded-for")
        .map(|(k, v)| (fold(&k), v))
        .collect()
}

/// The same forgery sent to the app directly: the app must read the aliases as the
/// real headers, or the test behind riskgate proves nothing.
fn assert_app_reads_aliases(name: &str, app_port: u16) {
    let addr = format!("127.0.0.1:{app_port}").parse().unwrap();
    let mut h = vec![("X-Risk-Action", "verify")];
    h.extend_from_slice(FORGED);
    let r = request(addr, "POST", "/api/apply-coupon", &h, "");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let got = risk_headers(&v);
    assert!(
        got.iter()
            .any(|(k, v)| k == "x-risk-action" && v.contains("allow")),
        "{name} does not read X_Risk_Action as X-Risk-Action: {got:?}"
    );
    eprintln!("{name}, direct: {got:?}");
}

fn assert_only_riskgate_speaks(name: &str, v: &serde_json::Value) {
    let got = risk_headers(v);
    let one = |h: &str| -> Vec<&str> {
        got.iter()
            .filter(|(k, _)| k == h)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(one("x-risk-action"), ["verify"], "{name}: {got:?}");
    assert_eq!(one("x-risk-score"), ["30"], "{name}: {got:?}");
    assert_eq!(one("x-risk-client-ip"), ["2.26.157.9"], "{name}: {got:?}");
    assert_eq!(one("x-risk-reasons"), ["vpn"], "{name}: {got:?}");
    assert_eq!(one("x-risk-network"), ["vpn"], "{name}: {got:?}");
    assert_eq!(one("x-risk-mode"), ["enforce"], "{name}: {got:?}");
    assert!(
        got.iter()
            .all(|(_, v)| !v.contains("6.6.6.6") && v != "allow"),
        "{name}: a forged value reached the app: {got:?}"
    );
    eprintln!("{name}: {got:?}");
}

#[test]
fn forged_aliases_never_reach_gunicorn_21() {
    let Some(bin) = &deps().gunicorn21 else {
        return skip(
            "forged_aliases_never_reach_gunicorn_21",
            "PyPI is unreachable: gunicorn 21 could not be installed",
        );
    };
    let app = gunicorn(bin, "headers_wsgi:app");
    assert_app_reads_aliases("gunicorn 21", app.port);
    let v = forged_request(app.port);
    assert_only_riskgate_speaks("gunicorn 21", &v);
}

#[test]
fn forged_aliases_never_reach_gunicorn_27_or_uvicorn() {
    let Some(bin) = &deps().python else {
        return skip(
            "forged_aliases_never_reach_gunicorn_27_or_uvicorn",
            "PyPI is unreachable: gunicorn and uvicorn could not be installed",
        );
    };
    let app = gunicorn(bin, "headers_wsgi:app");
    // gunicorn 22 and later drop names with `_`: nothing to forge there, but riskgate's
    // own headers must arrive intact
    assert_only_riskgate_speaks("gunicorn 27", &forged_request(app.port));
    for http in ["h11", "httptools"] {
        let mut cmd = Command::new(bin.join("python"));
        cmd.arg(apps_dir().join("headers_asgi.py"))
            .env("HTTP_IMPL", http);
        let app = start_app(cmd, port_line);
        assert_app_reads_aliases(&format!("uvicorn {http}"), app.port);
        assert_only_riskgate_speaks(&format!("uvicorn {http}"), &forged_request(app.port));
    }
}

#[test]
fn forged_aliases_never_reach_node() {
    let mut cmd = Command::new("node");
    cmd.arg(apps_dir().join("headers_node.js"));
    let app = start_app(cmd, port_line);
    assert_app_reads_aliases("node http", app.port);
    assert_only_riskgate_speaks("node http", &forged_request(app.port));
}
