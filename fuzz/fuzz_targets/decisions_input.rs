//! The decisions API's input: any body, and any `import` file (JSON lines or CSV), is
//! taken or refused with a reason — never a panic — and what is taken is canonical: a
//! range has no host bits and is no wider than /16 or /32 unless forced, a duration is
//! at most 365 days, a field value is known only by its hash.
#![no_main]
use libfuzzer_sys::fuzz_target;
use riskgate::config::{FieldDef, FieldSource, HashKey, Normalize};
use riskgate::decisions::input::{import_lines, parse_body, Context, MAX_DURATION};
use riskgate::decisions::Subject;

fuzz_target!(|data: &[u8]| {
    let fields = vec![FieldDef {
        name: "device".into(),
        source: FieldSource::Cookie("device_id".into()),
        pointer: Vec::new(),
        pattern: None,
        normalize: Some(Normalize::Upper),
    }];
    let key = HashKey::derive(b"0123456789abcdef0123456789abcdef");
    let cx = Context {
        fields: &fields,
        hash_key: &key,
        origin: "api",
        now_ms: 1_000,
    };
    let checked = |rows: Vec<riskgate::decisions::store::NewRow>| {
        for r in rows {
            assert!(r.expires_ms > r.created_ms);
            assert!(r.expires_ms - r.created_ms <= MAX_DURATION.as_millis() as i64);
            match r.subject {
                Subject::Range(n) => assert_eq!(n, n.trunc()),
                Subject::Field { ref name, .. } => assert_eq!(name, "device"),
                _ => {}
            }
            assert_eq!(Subject::from_stored(&r.subject.scope(), &r.subject.value()), Some(r.subject.clone()));
        }
    };
    if let Ok(rows) = parse_body(data, &cx) {
        checked(rows);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        for csv in [false, true] {
            for (_, v) in import_lines(text, csv) {
                if let Ok(v) = v {
                    if let Ok(r) = riskgate::decisions::input::one(v, &cx) {
                        checked(vec![r]);
                    }
                }
            }
        }
    }
});
