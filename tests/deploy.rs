//! The deploy files are checked where a test can check them: the manifest parses and
//! wires the probes to real endpoints, the configs they carry compile, the unit file
//! and Dockerfile call the binary with flags it accepts, the fetch script is valid sh.

mod common;
use common::*;

use serde::Deserialize;
use std::path::Path;

fn read(p: &str) -> String {
    std::fs::read_to_string(root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn kubernetes_manifest_parses_and_wires_the_sidecar() {
    let text = read("deploy/kubernetes.yaml");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Deployment",
            "Service",
            "Deployment",
            "Service"
        ]
    );

    // the ConfigMap's gateway.yaml is a valid config whose upstream is the app container
    // (its hash key, a Secret in the pod, is a file of ours here)
    let gw = docs[0]["data"]["gateway.yaml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "hash.key", "0123456789abcdef0123456789abcdef");
    let signing = write(
        dir.path(),
        "hmac-k1.key",
        "0123456789abcdef0123456789abcdef0123456789abcdef",
    );
    let token = write(
        dir.path(),
        "admin.token",
        "0123456789abcdef0123456789abcdef",
    );
    let gw = gw
        .replace("/etc/riskgate-secret/hash.key", &key)
        .replace("/etc/riskgate-admin/admin.token", &token)
        .replace("/etc/riskgate-signing/hmac-k1.key", &signing);
    let cfg = riskgate::config::parse(&gw, Path::new("/etc/riskgate/gateway.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cfg.upstream.as_ref().unwrap().addr.to_string(),
        "127.0.0.1:3000"
    );
    // the fleet shares its limits through the Valkey Service of the manifest
    let cluster = cfg.cluster.as_ref().expect("cluster");
    let valkey = &docs[4];
    let host = valkey["metadata"]["name"].as_str().unwrap();
    let port = valkey["spec"]["ports"][0]["port"].as_u64().unwrap();
    assert_eq!(cluster.urls, [format!("redis://{host}:{port}/0")]);

    let spec = &docs[1]["spec"]["template"]["spec"];
    let containers = spec["containers"].as_sequence().unwrap();
    let app = containers.iter().find(|c| c["name"] == "app").unwrap();
    assert_eq!(app["ports"][0]["containerPort"].as_u64(), Some(3000));
    let rg = containers.iter().find(|c| c["name"] == "riskgate").unwrap();
    assert_eq!(rg["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(rg["livenessProbe"]["httpGet"]["path"], "/healthz");
    let admin_port = rg["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "admin")
        .unwrap();
    assert_eq!(
        admin_port["containerPort"].as_u64(),
        Some(u64::from(cfg.admin.port()))
    );
    assert!(
        !cfg.admin.ip().is_loopback(),
        "kubelet probes cannot reach a loopback admin port"
    );
    let http_port = rg["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "http")
        .unwrap();
    assert_eq!(
        http_port["containerPort"].as_u64(),
        Some(u64::from(cfg.listen[0].port()))
    );
    // the config and data volumes are mounted where the config says
    let mounts: Vec<&str> = rg["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(mounts.contains(&"/etc/riskgate"));
    assert!(mounts.contains(&"/etc/riskgate-secret"));
    // riskgate signs with the key the app verifies with: one Secret, mounted in both
    assert_eq!(cfg.signing.len(), 1);
    let app_mounts: Vec<&str> = app["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(mounts.contains(&"/etc/riskgate-signing"));
    assert!(app_mounts.contains(&"/etc/riskgate-signing"));
    assert!(cfg
        .intel
        .mmdb
        .geo
        .as_ref()
        .unwrap()
        .starts_with("/var/lib/riskgate"));
    assert!(mounts.contains(&"/var/lib/riskgate"));
    // the admin token comes from a Secret, and the decisions' store is on a writable volume
    assert!(cfg.admin_token.is_some());
    assert!(mounts.contains(&"/etc/riskgate-admin"));
    let store_dir = cfg.decisions.store.parent().unwrap().to_str().unwrap();
    let store_mount = rg["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == store_dir)
        .expect("the decisions store's directory is a volume");
    assert_ne!(store_mount["readOnly"].as_bool(), Some(true));
    let secrets: Vec<&str> = spec["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v["secret"]["secretName"].as_str())
        .collect();
    assert!(secrets.contains(&"riskgate-admin"), "{secrets:?}");
    // args are flags the binary accepts
    let args: Vec<&str> = rg["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["run", "-c", "/etc/riskgate/gateway.yaml"]);
    // the Service sends traffic to riskgate, never straight to the app
    assert_eq!(docs[2]["spec"]["ports"][0]["targetPort"], "http");
}

#[test]
fn production_config_compiles() {
    let dir = tempfile::tempdir().unwrap();
    let token = write(
        dir.path(),
        "admin.token",
        "0123456789abcdef0123456789abcdef",
    );
    let text = read("deploy/gateway.production.yaml").replace("/etc/riskgate/admin.token", &token);
    let cfg = riskgate::config::parse(&text, Path::new("/etc/riskgate/gateway.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.admin.ip().is_loopback());
    // the decisions API is behind a token, and decisions are kept with the data
    assert!(cfg.admin_token.is_some());
    assert_eq!(
        cfg.decisions.store,
        Path::new("/var/lib/riskgate/decisions.db")
    );
    assert!(matches!(
        cfg.intel.tor.as_ref().unwrap().source,
        riskgate::config::Source::Url(_)
    ));
    assert!(
        cfg.policies
            .iter()
            .all(|p| p.mode == riskgate::config::Mode::Shadow),
        "new deployments start in shadow mode"
    );
}

/// Both shipped configs carry the same recommended policies and fields (the production
/// one starts in shadow mode and shadow-bans): one recommendation, not two that drift.
#[test]
fn the_shipped_configs_recommend_the_same_policies() {
    let policies = |file: &str| -> (serde_yaml::Value, serde_yaml::Value) {
        let v: serde_yaml::Value = serde_yaml::from_str(&read(file)).unwrap();
        let mut p = v["policies"].clone();
        for (_, policy) in p.as_mapping_mut().unwrap().iter_mut() {
            let m = policy.as_mapping_mut().unwrap();
            for k in ["mode", "on_block", "on_limit", "countries", "subnet_prefix"] {
                m.remove(k);
            }
        }
        (p, v["fields"].clone())
    };
    let (dev, dev_fields) = policies("gateway.yaml");
    let (prod, prod_fields) = policies("deploy/gateway.production.yaml");
    assert_eq!(dev, prod);
    assert_eq!(dev_fields, prod_fields);
    // and they use what issue 23 built: the person against the claim, spread, several
    // hopping keys, a field limit per single-use code and per device
    let text = read("gateway.yaml");
    for needle in [
        "person_mismatch",
        "traveller",
        "spread:",
        "key: referral, window: 24h",
        "field:personal_code",
        "field:device",
    ] {
        assert!(text.contains(needle), "gateway.yaml lacks {needle}");
    }
}

/// `riskgate <args>` with a real config: a usage error exits 2, anything else means the
/// flags were understood.
fn flags_accepted(args: &[&str]) {
    let (code, _o, err) = run_cli(args);
    assert_ne!(code, 2, "{args:?} is a usage error: {err}");
}

#[test]
fn systemd_unit_paths_and_flags_match_the_binary() {
    let unit = read("deploy/riskgate.service");
    let line = |k: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}="))
            .to_string()
    };
    let exec = line("ExecStart");
    let parts: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(parts[0], "/usr/local/bin/riskgate");
    assert_eq!(&parts[1..3], ["run", "-c"]);
    assert_eq!(parts[3], "/etc/riskgate/gateway.yaml");
    assert!(
        line("ExecReload").contains("-HUP"),
        "systemctl reload sends SIGHUP"
    );
    assert!(line("ExecStartPre").contains("riskgate check -c /etc/riskgate/gateway.yaml"));
    // the same flags, on a real config, are understood by the binary
    let cfg = root().join("gateway.yaml");
    flags_accepted(&["check", "-c", cfg.to_str().unwrap()]);
    let (code, _o, _e) = run_cli(&["check", "-c", cfg.to_str().unwrap()]);
    assert_eq!(code, 0);
    // the data dir the production config reads is writable for the unit
    assert!(line("ReadWritePaths").contains("/var/lib/riskgate"));
}

#[test]
fn dockerfile_copies_what_exists_and_runs_valid_flags() {
    let df = read("deploy/Dockerfile");
    for l in df
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = l.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                root().join(src).exists(),
                "Dockerfile copies {src}, which does not exist"
            );
        }
    }
    assert!(df.contains("USER 10001"), "runtime image runs as non-root");
    assert!(df.contains("FROM debian:bookworm-slim"));
    let cmd = df.lines().find(|l| l.starts_with("CMD")).unwrap();
    assert!(
        cmd.contains("\"run\", \"-c\", \"/etc/riskgate/gateway.yaml\""),
        "{cmd}"
    );
}

#[test]
fn fetch_script_is_valid_shell_and_writes_what_the_production_config_reads() {
    let st = std::process::Command::new("bash")
        .args(["-n", root().join("deploy/fetch-data.sh").to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.success());
    let script = read("deploy/fetch-data.sh");
    let prod = read("deploy/gateway.production.yaml");
    for f in [
        "country.mmdb",
        "asn.mmdb",
        "datacenter.txt",
        "vpn.txt",
        "azure-service-tags.json",
    ] {
        assert!(
            script.contains(&format!("$DATA/{f}")),
            "script does not write {f}"
        );
        assert!(
            prod.contains(&format!("/var/lib/riskgate/{f}")),
            "config does not read {f}"
        );
    }
}

#[test]
fn every_yaml_example_in_the_operator_guide_is_a_valid_config() {
    let guide = read("docs/operator-guide.md");
    // signing keys and the admin token the examples name are files of ours here
    let keys = tempfile::tempdir().unwrap();
    let token = write(
        keys.path(),
        "admin.token",
        "6f1c0d2e9a8b7c6d5e4f3a2b1c0d9e8f\n",
    );
    let mut n = 0;
    for block in guide.split("```yaml").skip(1) {
        let mut yaml = block.split("```").next().unwrap().to_string();
        while let Some(at) = yaml.find("/etc/riskgate/hmac-") {
            let end = at + yaml[at..].find(".key").expect("a .key file") + 4;
            let name = yaml[at + "/etc/riskgate/".len()..end].to_string();
            let file = write(keys.path(), &name, &"k".repeat(32));
            yaml.replace_range(at..end, &file);
        }
        yaml = yaml.replace("/etc/riskgate/admin.token", &token);
        for (name, secret) in [
            ("hash.key", "0123456789abcdef0123456789abcdef"),
            ("crowdsec.key", "db7b09616eb578be215417e0dc48204f"),
        ] {
            let at = format!("/etc/riskgate/{name}");
            if yaml.contains(&at) {
                yaml = yaml.replace(&at, &write(keys.path(), name, secret));
            }
        }
        // examples that name `list:deny` get a deny list, unless they bring an intel block
        let intel = if yaml.contains("\nintel:") || yaml.starts_with("intel:") {
            ""
        } else {
            "intel:\n  lists:\n    deny: /etc/riskgate/deny.txt\n"
        };
        let text = format!("upstream: 127.0.0.1:3000\n{intel}{yaml}");
        riskgate::config::parse(&text, Path::new("/etc/riskgate/gateway.yaml"))
            .unwrap_or_else(|e| panic!("example {n} of the guide does not compile:\n{yaml}\n{e}"));
        n += 1;
    }
    assert_eq!(n, 16);
}
