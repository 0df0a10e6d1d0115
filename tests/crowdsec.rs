//! riskgate as a bouncer of a real CrowdSec Local API (Debian's `crowdsec`, run alone
//! in the foreground with `-no-cs` on a loopback port, SQLite in a temporary directory),
//! its decisions made and deleted with the real `cscli`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::*;

/// A CrowdSec Local API of its own.
struct Lapi {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

fn available(test: &str) -> bool {
    let ok = ["crowdsec", "cscli"].iter().all(|b| {
        Command::new(b)
            .arg("-h")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    if !ok {
        skip(
            test,
            "crowdsec / cscli not installed (apt-get install crowdsec)",
        );
    }
    ok
}

impl Lapi {
    fn start() -> Lapi {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let d = dir.path().display().to_string();
        for sub in ["data", "hub"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        write(dir.path(), "hub/.index.json", "{}");
        write(dir.path(), "simulation.yaml", "simulation: false\n");
        write(
            dir.path(),
            "profiles.yaml",
            "name: default_ip_remediation\nfilters:\n - Alert.Remediation == true && Alert.GetScope() == \"Ip\"\ndecisions:\n - type: ban\n   duration: 4h\non_success: break\n",
        );
        write(
            dir.path(),
            "config.yaml",
            &format!(
                r#"common:
  daemonize: false
  log_media: stdout
  log_level: error
  working_dir: .
config_paths:
  config_dir: {d}/
  data_dir: {d}/data/
  simulation_path: {d}/simulation.yaml
  hub_dir: {d}/hub/
  index_path: {d}/hub/.index.json
  notification_dir: {d}/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
db_config:
  type: sqlite
  db_path: {d}/data/crowdsec.db
  use_wal: true
api:
  client:
    credentials_path: {d}/local_api_credentials.yaml
  server:
    listen_uri: 127.0.0.1:{port}
    profiles_path: {d}/profiles.yaml
prometheus:
  enabled: false
"#
            ),
        );
        let mut l = Lapi {
            dir,
            port,
            child: None,
        };
        l.restart();
        l.cscli(&[
            "machines",
            "add",
            "tester",
            "--auto",
            "-f",
            &format!("{d}/local_api_credentials.yaml"),
        ]);
        l
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        self.stop();
        let child = Command::new("crowdsec")
            .arg("-c")
            .arg(self.config())
            .arg("-no-cs")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("crowdsec");
        self.child = Some(child);
        let health = format!("127.0.0.1:{}", self.port).parse().unwrap();
        wait_until(20, "the CrowdSec LAPI to answer /health", || {
            std::net::TcpStream::connect_timeout(&health, std::time::Duration::from_millis(200))
                .is_ok()
                && request(health, "GET", "/health", &[], "").status == 200
        });
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn cscli(&self, args: &[&str]) -> String {
        let out = Command::new("cscli")
            .arg("-c")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cscli {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A bouncer's key, in a file.
    fn bouncer_key(&self, name: &str, into: &Path) -> String {
        let key = self.cscli(&["bouncers", "add", name, "-o", "raw"]);
        write(into, "crowdsec.key", key.trim())
    }
}

impl Drop for Lapi {
    fn drop(&mut self) {
        self.stop();
    }
}

fn gateway(lapi: &Lapi, secrets: &Path) -> Gateway {
    let key = lapi.bouncer_key(&format!("riskgate-{}", std::process::id()), secrets);
    let token = write(secrets, "admin.token", "7e6d5c4b3a2918f7e6d5c4b3a2918f70");
    start(&format!(
        r#"client_ip: {{ trusted_proxies: ["127.0.0.1/32"] }}
admin_token_file: {token}
decisions:
  crowdsec: {{ url: "{url}", key_file: {key}, refresh: 1s }}
intel:
  mmdb: {{ geo: {geo}, asn: {asn} }}
routes:
  - {{ name: signup, path: /signup, methods: [POST], policy: signup }}
policies:
  signup: {{}}
"#,
        url = lapi.url(),
        geo = data("GeoIP2-City-Test.mmdb"),
        asn = data("GeoLite2-ASN-Test.mmdb"),
    ))
}

fn action_of(gw: &Gateway, ip: &str) -> String {
    let r = post_as(gw, "/signup", ip);
    if r.status == 403 {
        return "refused".into();
    }
    last_seen(gw, "/signup")
        .header("x-risk-action")
        .unwrap_or_default()
        .to_string()
}

#[test]
fn crowdsec_bans_and_captchas_apply_and_outlive_the_lapi() {
    if !available("crowdsec_bans_and_captchas_apply_and_outlive_the_lapi") {
        return;
    }
    let mut lapi = Lapi::start();
    let secrets = tempfile::tempdir().unwrap();
    let mut gw = gateway(&lapi, secrets.path());
    assert_eq!(action_of(&gw, "89.160.20.112"), "allow");

    lapi.cscli(&[
        "decisions",
        "add",
        "--ip",
        "89.160.20.112",
        "--type",
        "ban",
        "--duration",
        "1h",
    ]);
    let t = std::time::Instant::now();
    wait_until(5, "the ban to block", || {
        action_of(&gw, "89.160.20.112") == "refused"
    });
    eprintln!(
        "crowdsec: a ban blocked after {:?} (refresh 1s)",
        t.elapsed()
    );
    lapi.cscli(&[
        "decisions",
        "add",
        "--range",
        "81.2.69.0/24",
        "--type",
        "captcha",
    ]);
    wait_until(5, "the captcha range to verify", || {
        action_of(&gw, "81.2.69.160") == "verify"
    });
    let r = request(
        gw.admin,
        "GET",
        "/decisions?origin=crowdsec",
        &[("Authorization", "Bearer 7e6d5c4b3a2918f7e6d5c4b3a2918f70")],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let list = v["decisions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    assert!(list
        .iter()
        .any(|d| d["scope"] == "range" && d["action"] == "verify"));
    assert!(list
        .iter()
        .all(|d| d["reason"].as_str().unwrap().starts_with("manual")));
    // a CrowdSec decision is deleted in CrowdSec
    let r = request(
        gw.admin,
        "DELETE",
        &format!("/decisions/{}", list[0]["id"]),
        &[("Authorization", "Bearer 7e6d5c4b3a2918f7e6d5c4b3a2918f70")],
        "",
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("cscli"), "{}", r.body);
    assert_eq!(
        metric(
            &gw,
            r#"riskgate_decisions{action="block",origin="crowdsec",scope="ip"}"#
        ),
        1.0
    );

    lapi.cscli(&["decisions", "delete", "--ip", "89.160.20.112"]);
    wait_until(5, "the deleted ban to lift", || {
        action_of(&gw, "89.160.20.112") == "allow"
    });

    // the LAPI stopped: the last set stays, and the source's age says so
    lapi.stop();
    wait_until(10, "a failed pull to be counted", || {
        metric(
            &gw,
            r#"riskgate_reloads_total{result="error",source="crowdsec"}"#,
        ) > 0.0
    });
    wait_until(10, "the crowdsec source to age past its refresh", || {
        metric(&gw, r#"riskgate_source_age_seconds{source="crowdsec"}"#) >= 2.0
    });
    assert_eq!(action_of(&gw, "81.2.69.160"), "verify");
    // and across a restart of the gateway, with the LAPI still away
    gw.child.kill().unwrap();
    gw.child.wait().unwrap();
    let (child, at) = spawn_gateway(&gw.config, None, &[]);
    gw.child = child;
    gw.addr = at.listen[0];
    gw.admin = at.admin;
    assert_eq!(action_of(&gw, "81.2.69.160"), "verify");

    // the LAPI back: the startup pull is the whole set again
    lapi.restart();
    lapi.cscli(&["decisions", "delete", "--range", "81.2.69.0/24"]);
    wait_until(10, "the set to be CrowdSec's again", || {
        action_of(&gw, "81.2.69.160") == "allow"
    });

    // the bouncer taken out of the config: CrowdSec's decisions go with it
    lapi.cscli(&["decisions", "add", "--ip", "89.160.20.112", "--type", "ban"]);
    wait_until(5, "the new ban to block", || {
        action_of(&gw, "89.160.20.112") == "refused"
    });
    let text: String = std::fs::read_to_string(&gw.config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("decisions:") && !l.starts_with("  crowdsec:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&gw.config, text).unwrap();
    let r = request(
        gw.admin,
        "POST",
        "/reload",
        &[("Authorization", "Bearer 7e6d5c4b3a2918f7e6d5c4b3a2918f70")],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    wait_until(5, "CrowdSec's decisions to go", || {
        action_of(&gw, "89.160.20.112") == "allow"
    });
}
