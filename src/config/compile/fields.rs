//! The `fields` section and `body_limit`: named values read from matched requests.

use super::*;

pub(super) fn compile_body_limit(cx: &mut Ctx, raw: Opt<Value>) -> usize {
    cx.size("body_limit", raw, 64 * 1024)
}

fn source(cx: &mut Ctx, key: &str, from: &str) -> Option<FieldSource> {
    let (kind, name) = match from.split_once(':') {
        Some((k, n)) if !n.trim().is_empty() => (k.trim(), n.trim()),
        _ => {
            cx.err(
                key,
                format!("`{from}` is not a field source: header:NAME, cookie:NAME, query:NAME, form:NAME or json:/POINTER"),
            );
            return None;
        }
    };
    Some(match kind {
        "header" => match http::HeaderName::from_bytes(name.as_bytes()) {
            // riskgate's own headers (and any alias an app server reads as one) are
            // never evidence: a client can send them
            Ok(h) if h.as_str().replace(['_', '.'], "-").starts_with("x-risk-") => {
                cx.err(
                    key,
                    format!("`{name}` is riskgate's own header (X-Risk-*): a client can forge it, so no field reads it"),
                );
                return None;
            }
            Ok(h) => FieldSource::Header(h.as_str().to_string()),
            Err(_) => {
                cx.err(key, format!("`{name}` is not a header name"));
                return None;
            }
        },
        "cookie" => FieldSource::Cookie(name.to_string()),
        "query" => FieldSource::Query(name.to_string()),
        "form" => FieldSource::Form(name.to_string()),
        "json" if name.starts_with('/') => FieldSource::Json(name.to_string()),
        "json" => {
            cx.err(
                key,
                format!(
                    "`{name}` is not a JSON pointer: it starts with / (RFC 6901), e.g. json:/code"
                ),
            );
            return None;
        }
        other => {
            let hint = did_you_mean(other, &["header", "cookie", "query", "form", "json"]);
            cx.err(
                key,
                format!(
                    "`{other}:` is not a field source{hint}: header, cookie, query, form or json"
                ),
            );
            return None;
        }
    })
}

pub(super) fn compile_fields(cx: &mut Ctx, raw: Opt<Mapping>) -> Vec<FieldDef> {
    let mut out = Vec::new();
    let Some(map) = cx.get("fields", raw) else {
        return out;
    };
    for (k, v) in map {
        let name = key_str(&k);
        let key = join("fields", &name);
        if !valid_name(&name) {
            cx.err(
                &key,
                format!("field name `{name}` may use only a-z, 0-9, _ and -"),
            );
            continue;
        }
        let (from, pattern, normalize) = match v {
            Value::String(s) => (Some(s), None, None),
            other => match serde_yaml::from_value::<RawField>(other) {
                Ok(f) => {
                    cx.unknown(&key, &f.unknown, RawField::KEYS);
                    let from = cx.get(&join(&key, "from"), f.from);
                    if from.is_none() {
                        cx.err(&key, "needs `from` (e.g. json:/code)");
                    }
                    (
                        from,
                        cx.get(&join(&key, "pattern"), f.pattern),
                        cx.get(&join(&key, "normalize"), f.normalize),
                    )
                }
                Err(_) => {
                    cx.err(&key, "must be SOURCE:NAME or { from, pattern, normalize }");
                    continue;
                }
            },
        };
        let Some(source) = from.and_then(|f| source(cx, &key, &f)) else {
            continue;
        };
        let pattern = pattern.and_then(|p| match regex::Regex::new(&p) {
            Ok(r) => Some(r),
            Err(e) => {
                cx.err(
                    &join(&key, "pattern"),
                    format!("not a regular expression: {e}"),
                );
                None
            }
        });
        let normalize = normalize.and_then(|n| match n.trim() {
            "lower" => Some(Normalize::Lower),
            "upper" => Some(Normalize::Upper),
            "email" => Some(Normalize::Email),
            other => {
                cx.err(
                    &join(&key, "normalize"),
                    format!("`{other}` is not one of lower, upper, email"),
                );
                None
            }
        });
        let pointer = match &source {
            FieldSource::Json(p) => json_pointer_tokens(p).unwrap_or_default(),
            _ => Vec::new(),
        };
        out.push(FieldDef {
            name,
            source,
            pointer,
            pattern,
            normalize,
        });
    }
    out
}

/// The fewest bytes a `hash_key` file holds (surrounding whitespace aside).
pub const HASH_KEY_MIN_BYTES: usize = 16;

/// `hash_key`: a file whose secret keys the hashes of identifier fields. Its 16-byte
/// key is SHA-256 over a fixed label and the file's trimmed content, so any secret of
/// at least 16 bytes (hex, base64, raw) serves. Without it, the process's own key.
pub(super) fn compile_hash_key(cx: &mut Ctx, raw: Opt<String>) -> HashKey {
    let Some(p) = cx.get("hash_key", raw) else {
        return HashKey::process();
    };
    match cx.secret_file(
        "hash_key",
        &p,
        HASH_KEY_MIN_BYTES,
        "a hash key",
        "openssl rand -hex 32",
    ) {
        Some(secret) => HashKey::derive(&secret),
        None => HashKey::process(),
    }
}
