//! JSON field extraction, against serde_json's own document as the oracle: where
//! serde_json reads the body, every pointer gives the same scalar, a pointer at an array
//! or an object is an error (never a missing field), and a body serde_json refuses is
//! never read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use riskgate::config::json_pointer_tokens;
use riskgate::evidence::json::{pick, PickError};

const POINTERS: [&str; 7] = ["/code", "/a/b", "/a/0", "/0", "/", "/x~1y", ""];

fuzz_target!(|data: &[u8]| {
    let toks: Vec<Vec<String>> = POINTERS
        .iter()
        .filter_map(|p| json_pointer_tokens(p))
        .collect();
    let ps: Vec<(usize, &[String])> = toks.iter().enumerate().map(|(i, t)| (i, t.as_slice())).collect();
    let mut out = vec![None; toks.len()];
    let got = pick(data, &ps, &mut out);
    let doc = match serde_json::from_slice::<serde_json::Value>(data) {
        Ok(doc) => doc,
        Err(e) => {
            // A body serde_json cannot read is never read here, with two exceptions
            // that are not malformed JSON: nesting past serde_json's limit (this reader
            // skips without recursing), and a number past f64's range off every
            // pointer (skipped unparsed; Python and JavaScript read it as infinity).
            if let Ok(()) = got {
                let deep = data.iter().filter(|&&b| b == b'[' || b == b'{').count() > 100;
                let huge = e.to_string().contains("number out of range");
                assert!(deep || huge, "read a body serde_json refuses ({e}): {:?}", String::from_utf8_lossy(data));
            }
            return;
        }
    };
    let pointer = |t: &[String]| -> String { t.iter().map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1"))).collect() };
    let containers = toks.iter().any(|t| {
        matches!(doc.pointer(&pointer(t)), Some(serde_json::Value::Array(_) | serde_json::Value::Object(_)))
    });
    if containers {
        assert_eq!(got, Err(PickError::NotScalar), "{doc}");
        return;
    }
    assert_eq!(got, Ok(()), "{doc}");
    for (i, t) in toks.iter().enumerate() {
        let want = doc.pointer(&pointer(t)).and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        });
        assert_eq!(out[i], want, "{doc} at {}", pointer(t));
    }
});
