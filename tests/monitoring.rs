//! What `deploy/` ships for monitoring: the Prometheus alert rules pass `promtool
//! check rules` and their unit tests (`promtool test rules`), every query of the
//! Grafana dashboard is valid PromQL, and every metric either names is one a real
//! gateway exports. The rules' thresholds are the dashboard's.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;

fn promtool(test: &str) -> Option<&'static str> {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip(
            test,
            "no promtool here (make test installs Debian's prometheus)",
        );
    }
    ok.then_some("promtool")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(p) = promtool("alert_rules_pass_promtool_check_and_their_unit_tests") else {
        return;
    };
    let dir = root().join("deploy/prometheus");
    let out = run(Command::new(p)
        .args(["check", "rules"])
        .arg(dir.join("alerts.yaml")));
    assert!(out.contains("SUCCESS"), "{out}");
    // promtool resolves rule_files relative to the test file
    let out = run(Command::new(p)
        .args(["test", "rules"])
        .arg(dir.join("alerts.test.yaml")));
    assert!(out.contains("SUCCESS"), "{out}");
    // the alerts the issue asks for are there
    let rules = std::fs::read_to_string(dir.join("alerts.yaml")).unwrap();
    for alert in [
        "RiskgateVpnDetectionRate",
        "RiskgateBlockRateJump",
        "RiskgateSourceStale",
        "RiskgateReloadFailed",
        "RiskgateClusterDown",
    ] {
        assert!(
            rules.contains(&format!("alert: {alert}\n")),
            "{alert} missing"
        );
    }
}

#[test]
fn the_rules_thresholds_are_the_dashboards() {
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yaml")).unwrap();
    let t = &riskgate::admin::stats::THRESHOLDS;
    assert_eq!(t[0].name, "vpn", "the VPN detection rate first");
    for (rate, value) in [
        ("riskgate:vpn_rate:10m", t[0].warning),
        ("riskgate:vpn_rate:10m", t[0].critical),
        ("riskgate:block_rate:10m", t[1].critical),
    ] {
        let expr = format!("{rate} > {value:.2}");
        assert!(rules.contains(&expr), "alerts.yaml has no `{expr}`");
    }
    assert_eq!((t[0].warning, t[0].critical), (0.15, 0.25));
}

/// Every `expr` of the Grafana dashboard, its variables filled in as Grafana would.
fn grafana_queries() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("deploy/grafana/riskgate.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut out);
    assert!(dash["panels"].as_array().unwrap().len() >= 8);
    out.iter()
        .map(|e| e.replace("$__rate_interval", "5m").replace("$route", ".*"))
        .collect()
}

#[test]
fn every_grafana_query_is_valid_promql() {
    let Some(p) = promtool("every_grafana_query_is_valid_promql") else {
        return;
    };
    let queries = grafana_queries();
    assert!(queries.len() >= 10, "{queries:?}");
    // promtool parses PromQL in rule files: each query becomes a recording rule
    let mut rules = String::from("groups:\n  - name: grafana\n    rules:\n");
    for (i, q) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: grafana_query_{i}\n        expr: {}\n",
            serde_json::Value::from(q.as_str())
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "grafana.rules.yaml", &rules);
    let out = run(Command::new(p).args(["check", "rules", &file]));
    assert!(
        out.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{out}"
    );
}

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("riskgate_") {
        let start = i + at;
        // a recording rule's name (`riskgate:…`) or part of another word is not a metric
        let before_ok = start == 0
            || !(b[start - 1].is_ascii_alphanumeric()
                || b[start - 1] == b'_'
                || b[start - 1] == b':');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        if before_ok {
            let name = &text[start..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            names.insert(base.to_string());
        }
        i = end;
    }
    names
}

#[test]
fn every_metric_the_rules_and_the_dashboard_use_is_exported() {
    let rules = std::fs::read_to_string(root().join("deploy/prometheus/alerts.yaml")).unwrap();
    let grafana = grafana_queries().join("\n");
    let used: BTreeSet<String> = metric_names(&rules)
        .into_iter()
        .chain(metric_names(&grafana))
        .collect();
    assert!(used.len() >= 10, "{used:?}");
    // a config with data sources (a vector with no series is not exported at all)
    let gw = start(&format!(
        "{}routes:\n  - {{ name: coupon, path: /api/apply-coupon, policy: p }}\npolicies:\n  p: {{}}\n",
        full_intel()
    ));
    let metrics = request(gw.admin, "GET", "/metrics", &[], "").body;
    let exported: BTreeSet<String> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_string)
        .collect();
    let missing: Vec<&String> = used.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "used by deploy/ but not exported: {missing:?}"
    );
    // and the series the rules select on exist from the start, at 0
    for series in [
        "riskgate_requests_total{action=\"block\",frontend=\"proxy\",route=\"coupon\"} 0",
        "riskgate_signals_total{route=\"coupon\",signal=\"vpn\"} 0",
        "riskgate_cluster_configured 0",
        "riskgate_reloads_total{result=\"error\",source=\"config\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == series),
            "no `{series}` in:\n{metrics}"
        );
    }
}
