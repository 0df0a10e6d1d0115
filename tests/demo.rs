//! `make demo` prints curl commands with the outcome each shows: every one of them is
//! true of the shipped gateway.yaml and bundled data.

mod common;

use common::*;

#[test]
fn every_demo_example_does_what_it_says_on_the_shipped_config() {
    let shipped = std::fs::read_to_string(root().join("gateway.yaml")).unwrap();
    // the harness sets listen, upstream, admin and log; paths become absolute
    let body: String = shipped
        .lines()
        .filter(|l| {
            !["listen:", "upstream:", "upstream_tls:", "admin:", "log:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| l.replace(" data/", &format!(" {}/", root().join("data").display())))
        .map(|l| l.replace("- data/", &format!("- {}/", root().join("data").display())))
        .collect::<Vec<_>>()
        .join("\n");
    let gw = start(&body);
    for (what, ip, method, path, body) in riskgate::demo::EXAMPLES {
        let before = gw.seen.arrivals();
        let body = match (method, body) {
            ("POST", "") => riskgate::demo::DEFAULT_BODY,
            (_, b) => b,
        };
        let r = request(
            gw.addr,
            method,
            path,
            &[
                ("X-Forwarded-For", ip),
                ("Content-Type", "application/json"),
            ],
            body,
        );
        let outcome = what.split([':', ',']).next().unwrap();
        match outcome {
            "block" => assert_eq!(r.status, 403, "{what}"),
            "allow" | "verify" | "unmatched path" => assert_eq!(r.status, 200, "{what}"),
            other => panic!("an example of an unknown outcome: {other}"),
        }
        if r.status == 200 {
            assert_eq!(gw.seen.arrivals(), before + 1, "{what}: reached the origin");
            let seen = last_seen(&gw, path);
            if outcome == "unmatched path" {
                assert_eq!(seen.header("x-risk-action"), None, "{what}");
            } else {
                assert_eq!(seen.header("x-risk-action"), Some(outcome), "{what}");
            }
            // a signal the example names is among the reasons
            if let Some(sig) = what.rsplit(": ").next().and_then(|t| t.split(' ').next()) {
                if sig.contains('_') {
                    let reasons = seen.header("x-risk-reasons").unwrap_or("");
                    assert!(reasons.split(',').any(|r| r == sig), "{what}: {reasons}");
                }
            }
            if let Some(net) = what.split("network ").nth(1) {
                let net = net.split([':', ' ']).next().unwrap();
                assert_eq!(seen.header("x-risk-network"), Some(net), "{what}");
            }
        }
    }
}
