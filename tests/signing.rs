//! `X-Risk-Signature` end to end: the real gateway signs what it forwards, and the
//! operator guide's own Python and Node verifiers (extracted from
//! docs/operator-guide.md, run by the real interpreters) accept exactly the requests
//! riskgate signed: a changed header, method, target or time fails, and so does a stale
//! one. Key rotation and key files reloaded with the config; `check` refuses a missing
//! or short key file.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// A POST from a Swedish residential address to `path`, as the origin received it.
fn resident_post(gw: &Gateway, path: &str) -> Seen {
    request(
        gw.addr,
        "POST",
        path,
        &[("X-Forwarded-For", "89.160.20.112")],
        "code=X",
    );
    last_seen(gw, path)
}

/// The guide's code block of `lang` under *Check the signature*.
fn guide_block(lang: &str) -> String {
    let guide = std::fs::read_to_string(root().join("docs/operator-guide.md")).unwrap();
    let section = &guide[guide
        .find("### Check the signature")
        .expect("the guide has *Check the signature*")..];
    let start = section
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no ```{lang} block in *Check the signature*"))
        + lang.len()
        + 4;
    let len = section[start..].find("\n```").unwrap();
    section[start..start + len].to_string()
}

/// One request as the app received it, and the time the app checks it at.
#[derive(Clone)]
struct Case {
    what: &'static str,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    now: u64,
}

impl Case {
    fn of(what: &'static str, seen: &Seen, now: u64) -> Case {
        Case {
            what,
            method: seen.method.clone(),
            target: seen.path.clone(),
            headers: seen.headers.clone(),
            now,
        }
    }

    fn set(mut self, name: &str, value: &str) -> Case {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn json(&self) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), serde_json::Value::from(v.as_str())))
            .collect();
        serde_json::json!({"method": self.method, "target": self.target,
                           "headers": headers, "now": self.now})
    }
}

/// Run the guide's verifier in `lang` over `cases` with the app's key files; one
/// verdict a case.
fn verify_with(lang: &str, keys: &[(&str, &Path)], cases: &[Case]) -> Vec<bool> {
    let dir = tempfile::tempdir().unwrap();
    let (interpreter, file, harness) = match lang {
        "python" => (
            "python3",
            "verify.py",
            r#"
import json, sys
job = json.load(sys.stdin)
keys = load_keys(job["keys"])
for c in job["cases"]:
    h = c["headers"]
    ok = risk_headers_verified(lambda n: h.get(n.lower()), c["method"], c["target"], keys, now=c["now"])
    print("ok" if ok else "fail")
"#,
        ),
        "js" => (
            "node",
            "verify.js",
            r#"
const job = JSON.parse(fs.readFileSync(0, 'utf8'));
const keys = loadKeys(job.keys);
for (const c of job.cases) {
  console.log(riskHeadersVerified(c.headers, c.method, c.target, keys, 300, c.now) ? 'ok' : 'fail');
}
"#,
        ),
        other => panic!("no harness for {other}"),
    };
    let script = dir.path().join(file);
    std::fs::write(&script, format!("{}\n{harness}", guide_block(lang))).unwrap();
    let job = serde_json::json!({
        "keys": keys.iter().map(|(k, p)| (k.to_string(), serde_json::Value::from(p.display().to_string()))).collect::<serde_json::Map<_, _>>(),
        "cases": cases.iter().map(Case::json).collect::<Vec<_>>(),
    });
    let mut child = Command::new(interpreter)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{interpreter}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{interpreter} {file} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<bool> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l == "ok")
        .collect();
    assert_eq!(verdicts.len(), cases.len(), "one verdict a case");
    verdicts
}

fn signed_t(seen: &Seen) -> u64 {
    let sig = seen
        .header("x-risk-signature")
        .expect("a signed request carries X-Risk-Signature");
    sig.split(' ')
        .find_map(|w| w.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap()
}

fn write_key(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn config(keys: &[(&str, &Path)]) -> String {
    let list: String = keys
        .iter()
        .map(|(id, p)| format!("    - {{ id: {id}, file: {} }}\n", p.display()))
        .collect();
    format!(
        "client_ip:\n  trusted_proxies: [\"127.0.0.1/32\"]\n{}signing:\n  keys:\n{list}\
routes:\n  - {{ name: coupon, path: /api/apply-coupon, methods: [POST], policy: promo }}\n\
policies:\n  promo:\n    mode: shadow\n    weights: {{ hosting: 50, vpn: 40 }}\n",
        full_intel()
    )
}

#[test]
fn the_guides_python_and_node_verifiers_accept_exactly_what_riskgate_signed() {
    let keys_dir = tempfile::tempdir().unwrap();
    // a key with a trailing newline, as `openssl rand -hex 32 > file` writes it
    let k2 = write_key(
        keys_dir.path(),
        "k2.key",
        "8f0c3d9e2b7a41c6a5e4f1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f70\n",
    );
    let k1 = write_key(
        keys_dir.path(),
        "k1.key",
        "  an older key, still listed so apps that hold it keep verifying  \n",
    );
    let gw = start(&config(&[("k2", &k2), ("k1", &k1)]));

    // a client forging a verdict and a signature of its own
    let target = "/api/apply-coupon?code=SUMMER%2025&src=a/b";
    let r = request(
        gw.addr,
        "POST",
        target,
        &[
            ("X-Forwarded-For", "1.0.0.1"),
            ("X-Risk-Action", "allow"),
            ("X-Risk-Signature", "v1 kid=k2 t=1 sig=forged"),
        ],
        "code=SUMMER",
    );
    assert_eq!(r.status, 200);
    let hosting = last_seen(&gw, target);
    assert_eq!(hosting.header("x-risk-route"), Some("coupon"));
    assert_eq!(
        hosting
            .headers
            .iter()
            .filter(|(k, _)| k == "x-risk-signature")
            .count(),
        1,
        "the client's signature is stripped, riskgate's is the only one"
    );
    let sig = hosting.header("x-risk-signature").unwrap();
    assert!(sig.starts_with("v1 kid=k2 t="), "{sig}");
    let t = signed_t(&hosting);
    let plain = "/api/apply-coupon";
    let resident = resident_post(&gw, plain);
    // unmatched paths are forwarded untouched: nothing to sign
    request(gw.addr, "GET", "/about", &[], "");
    assert_eq!(last_seen(&gw, "/about").header("x-risk-signature"), None);

    let cases = vec![
        Case::of("good (a hosting address, query kept raw)", &hosting, t),
        Case::of("good (another request)", &resident, signed_t(&resident)),
        Case::of("good, checked 299 s later", &hosting, t + 299),
        Case::of("stale: checked 301 s later", &hosting, t + 301),
        Case::of("changed action", &hosting, t).set(
            "x-risk-action",
            if hosting.header("x-risk-action") == Some("allow") {
                "block"
            } else {
                "allow"
            },
        ),
        Case::of("changed score", &hosting, t).set("x-risk-score", "0"),
        Case::of("changed mode", &hosting, t).set("x-risk-mode", "enforce"),
        Case::of("reasons dropped", &hosting, t).set("x-risk-reasons", ""),
        Case {
            method: "PUT".into(),
            ..Case::of("changed method", &hosting, t)
        },
        Case {
            target: "/api/apply-coupon?code=OTHER".into(),
            ..Case::of("changed target", &hosting, t)
        },
        Case {
            target: "/api/apply-coupon?code=SUMMER 25&src=a/b".into(),
            ..Case::of("decoded target", &hosting, t)
        },
        Case::of("changed timestamp", &hosting, t + 1).set(
            "x-risk-signature",
            &sig.replace(&format!("t={t}"), &format!("t={}", t + 1)),
        ),
        Case::of("signature of another request", &hosting, t).set(
            "x-risk-signature",
            resident.header("x-risk-signature").unwrap(),
        ),
        Case::of("no signature", &hosting, t).set("x-risk-signature", ""),
        Case::of("unknown key id", &hosting, t)
            .set("x-risk-signature", &sig.replace("kid=k2", "kid=k9")),
    ];
    let want: Vec<bool> = cases.iter().map(|c| c.what.starts_with("good")).collect();
    for lang in ["python", "js"] {
        let got = verify_with(lang, &[("k2", &k2), ("k1", &k1)], &cases);
        for ((c, g), w) in cases.iter().zip(&got).zip(&want) {
            assert_eq!(g, w, "{lang}: {}", c.what);
        }
    }
    // the nine signed headers are all there, in the contract's names
    for n in riskgate::sign::NAMES {
        assert!(hosting.header(n).is_some(), "{n} forwarded");
    }

    // rotation: a new key first, k2 still listed; the next request is signed with k3,
    // and an app holding k3 and k2 verifies old and new alike
    let k3 = write_key(
        keys_dir.path(),
        "k3.key",
        "a fresh key of more than thirty-two bytes, for the rotation\n",
    );
    std::fs::write(&gw.config, {
        let text = std::fs::read_to_string(&gw.config).unwrap();
        let at = text.find("signing:").unwrap();
        let end = text.find("routes:").unwrap();
        format!(
            "{}signing:\n  keys:\n    - {{ id: k3, file: {} }}\n    - {{ id: k2, file: {} }}\n{}",
            &text[..at],
            k3.display(),
            k2.display(),
            &text[end..]
        )
    })
    .unwrap();
    assert_eq!(request(gw.admin, "POST", "/reload", &[], "").status, 200);
    let rotated = resident_post(&gw, plain);
    assert!(rotated
        .header("x-risk-signature")
        .unwrap()
        .starts_with("v1 kid=k3 "));
    let both = [
        Case::of("new key", &rotated, signed_t(&rotated)),
        Case::of("before the rotation", &hosting, t),
    ];
    assert_eq!(
        verify_with("python", &[("k3", &k3), ("k2", &k2)], &both),
        [true, true]
    );
    assert_eq!(
        verify_with("js", &[("k3", &k3), ("k2", &k2)], &both),
        [true, true]
    );
    // an app that still holds only the old keys cannot verify the new signature
    assert_eq!(
        verify_with("python", &[("k2", &k2), ("k1", &k1)], &both[..1]),
        [false]
    );

    // the key file's content changes: a reload of the config reads it again
    std::fs::write(
        &k3,
        "k3 replaced in place by the secret manager, 32+ bytes\n",
    )
    .unwrap();
    assert_eq!(request(gw.admin, "POST", "/reload", &[], "").status, 200);
    let replaced = resident_post(&gw, plain);
    let case = [Case::of("replaced key", &replaced, signed_t(&replaced))];
    assert_eq!(verify_with("js", &[("k3", &k3)], &case), [true]);
    let old_k3 = write_key(
        keys_dir.path(),
        "k3-old.key",
        "a fresh key of more than thirty-two bytes, for the rotation\n",
    );
    assert_eq!(verify_with("js", &[("k3", &old_k3)], &case), [false]);
}

#[test]
fn check_refuses_a_missing_or_short_key_and_a_reload_keeps_the_keys_in_service() {
    let dir = tempfile::tempdir().unwrap();
    let short = write_key(dir.path(), "short.key", "  only-twenty-bytes!!!  \n");
    let missing = dir.path().join("missing.key");
    let cfg = write(
        dir.path(),
        "gateway.yaml",
        &format!(
            "listen: [\"127.0.0.1:0\"]\nupstream: \"127.0.0.1:9\"\nsigning:\n  keys:\n    - {{ id: k2, file: {} }}\n    - {{ id: k1, file: {} }}\n    - {{ id: k1, file: {} }}\n    - {{ id: \"bad id\", file: {} }}\nroutes: []\n",
            missing.display(),
            short.display(),
            short.display(),
            short.display(),
        ),
    );
    let (code, out, err) = run_cli(&["check", "-c", &cfg]);
    let text = format!("{out}{err}");
    assert_eq!(code, 64, "{text}");
    assert!(
        text.contains("signing.keys[0].file") && text.contains("missing.key"),
        "{text}"
    );
    assert!(
        text.contains("signing.keys[1].file") && text.contains("holds 20 bytes"),
        "{text}"
    );
    assert!(
        text.contains("signing.keys[2].id") && text.contains("listed twice"),
        "{text}"
    );
    assert!(text.contains("signing.keys[3].id"), "{text}");
    let empty = write(
        dir.path(),
        "empty.yaml",
        "listen: [\"127.0.0.1:0\"]\nupstream: \"127.0.0.1:9\"\nsigning: { keys: [], kyes: 1 }\nroutes: []\n",
    );
    let (code, out, err) = run_cli(&["check", "-c", &empty]);
    let text = format!("{out}{err}");
    assert_eq!(code, 64, "{text}");
    assert!(text.contains("needs at least one key"), "{text}");
    assert!(text.contains("did you mean `keys`"), "{text}");

    // a running gateway whose key file is truncated keeps signing with the key it has
    let good = write_key(
        dir.path(),
        "good.key",
        "0123456789abcdef0123456789abcdef0123\n",
    );
    let gw = start(&format!(
        "signing:\n  keys:\n    - {{ id: k1, file: {} }}\nroutes:\n  - {{ name: signup, path: /signup, policy: p }}\npolicies:\n  p: {{}}\n",
        good.display()
    ));
    std::fs::write(&good, "short\n").unwrap();
    let r = request(gw.admin, "POST", "/reload", &[], "");
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("signing.keys[0].file"), "{}", r.body);
    request(gw.addr, "POST", "/signup", &[], "");
    let seen = last_seen(&gw, "/signup");
    let original = write_key(
        dir.path(),
        "original.key",
        "0123456789abcdef0123456789abcdef0123\n",
    );
    let case = [Case::of("still the old key", &seen, signed_t(&seen))];
    assert_eq!(verify_with("python", &[("k1", &original)], &case), [true]);
}
