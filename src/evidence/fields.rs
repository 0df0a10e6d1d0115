//! Reading a policy's fields from a request: headers, cookies, the query string, and
//! (when the policy needs it) a form or JSON body, narrowed by `pattern` and
//! normalised. A value that is not there is `None`: a check with a missing input is
//! skipped, never a signal.

use crate::config::{FieldDef, FieldSource, Normalize};

/// Why a body could not be read for its fields: the signal `unreadable_body`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// longer than `body_limit`
    TooLarge,
    /// `Content-Encoding` other than identity
    Compressed,
    /// not valid for its content type (or a type no field can be read from)
    Malformed,
    /// a JSON field's value is an array or an object, which an app may still read as
    /// the value (`String(["X"])` is `"X"`)
    NotScalar,
}

impl Unreadable {
    pub fn as_str(self) -> &'static str {
        match self {
            Unreadable::TooLarge => "larger than body_limit",
            Unreadable::Compressed => "compressed (Content-Encoding)",
            Unreadable::Malformed => "malformed for its content type",
            Unreadable::NotScalar => "a field's JSON value is an array or an object",
        }
    }
}

/// Why a body must not be read at all: it is compressed, or `len` (declared, or known)
/// is over `limit`. The live path and explain decide this alike.
pub fn refused(headers: &http::HeaderMap, len: Option<u64>, limit: usize) -> Option<Unreadable> {
    let encoded = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("identity"));
    if encoded {
        Some(Unreadable::Compressed)
    } else if len.is_some_and(|n| n > limit as u64) {
        Some(Unreadable::TooLarge)
    } else {
        None
    }
}

/// The body, as far as the fields are concerned.
pub enum Body<'a> {
    /// the route's policy reads no body field
    NotNeeded,
    /// read whole: the bytes and the `Content-Type`
    Read(&'a [u8], Option<&'a str>),
    Unreadable(Unreadable),
}

impl<'a> Body<'a> {
    /// A body known whole (explain, replay), as the live path would have it: not
    /// needed, refused (compressed, over `limit`), or read with its `Content-Type`.
    pub fn whole(
        headers: &'a http::HeaderMap,
        bytes: &'a [u8],
        needed: bool,
        limit: usize,
    ) -> Body<'a> {
        if !needed {
            return Body::NotNeeded;
        }
        if let Some(u) = refused(headers, Some(bytes.len() as u64), limit) {
            return Body::Unreadable(u);
        }
        let ct = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        Body::Read(bytes, ct)
    }
}

/// A body parsed once for all the fields that read it.
enum Parsed<'a> {
    None,
    Form(Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>),
    /// the JSON fields' raw values, indexed like the field definitions
    Json(Vec<Option<String>>),
}

fn media_type(ct: Option<&str>) -> String {
    ct.unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Parse the body for the fields, or say why it cannot be.
fn parse<'a>(
    body: &Body<'a>,
    defs: &[FieldDef],
    wanted: &[usize],
) -> Result<Parsed<'a>, Unreadable> {
    let wants = |f: fn(&FieldSource) -> bool| wanted.iter().any(|&i| f(&defs[i].source));
    let wants_form = wants(|s| matches!(s, FieldSource::Form(_)));
    let wants_json = wants(|s| matches!(s, FieldSource::Json(_)));
    let (bytes, ct) = match body {
        Body::NotNeeded => return Ok(Parsed::None),
        Body::Unreadable(u) => return Err(*u),
        Body::Read(b, ct) => (*b, *ct),
    };
    if bytes.is_empty() {
        // no body at all: the fields are missing, not unreadable
        return Ok(Parsed::None);
    }
    let mt = media_type(ct);
    if wants_json && (mt == "application/json" || mt.ends_with("+json")) {
        let pointers: Vec<(usize, &[String])> = wanted
            .iter()
            .filter(|&&i| matches!(defs[i].source, FieldSource::Json(_)))
            .map(|&i| (i, defs[i].pointer.as_slice()))
            .collect();
        let mut raw = vec![None; defs.len()];
        return super::json::pick(bytes, &pointers, &mut raw)
            .map(|()| Parsed::Json(raw))
            .map_err(|e| match e {
                super::json::PickError::Malformed => Unreadable::Malformed,
                super::json::PickError::NotScalar => Unreadable::NotScalar,
            });
    }
    if wants_form && mt == "application/x-www-form-urlencoded" {
        if std::str::from_utf8(bytes).is_err() {
            return Err(Unreadable::Malformed);
        }
        return Ok(Parsed::Form(form_urlencoded::parse(bytes).collect()));
    }
    // a body the fields cannot be read from (another type, or none declared): a
    // client must not dodge a check by mislabelling its body
    Err(Unreadable::Malformed)
}

fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
}

/// `Name+tag@Gmail.com` → `name@gmail.com`; dots dropped from Gmail local parts.
fn normalize_email(s: &str) -> String {
    let lower = s.trim().to_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return lower;
    };
    let local = local.split('+').next().unwrap_or(local);
    let local = if domain == "gmail.com" || domain == "googlemail.com" {
        local.replace('.', "")
    } else {
        local.to_string()
    };
    format!("{local}@{domain}")
}

/// A value as the policy uses it: trimmed (an app trims a pasted code, so `" X"`
/// must be `X` here too), narrowed by `pattern`, normalised. Also what a decision's
/// plain value becomes before it is hashed, so that it matches the request's.
pub fn finish(def: &FieldDef, raw: String) -> Option<String> {
    let raw = raw.trim();
    let v = match &def.pattern {
        None => raw.to_string(),
        Some(re) => {
            let c = re.captures(raw)?;
            c.get(1).or_else(|| c.get(0))?.as_str().trim().to_string()
        }
    };
    let v = match def.normalize {
        None => v,
        Some(Normalize::Lower) => v.to_lowercase(),
        Some(Normalize::Upper) => v.to_uppercase(),
        Some(Normalize::Email) => normalize_email(&v),
    };
    (!v.is_empty()).then_some(v)
}

/// The values of `wanted` fields (indexes into `defs`), in a vector indexed like
/// `defs`; and why the body could not be read, when it could not.
pub fn extract(
    defs: &[FieldDef],
    wanted: &[usize],
    headers: &http::HeaderMap,
    query: Option<&str>,
    body: &Body,
) -> (Vec<Option<String>>, Option<Unreadable>) {
    let mut out = vec![None; defs.len()];
    let (mut parsed, unreadable) = match parse(body, defs, wanted) {
        Ok(p) => (p, None),
        Err(u) => (Parsed::None, Some(u)),
    };
    for &i in wanted {
        let def = &defs[i];
        let raw: Option<String> = match &def.source {
            FieldSource::Header(h) => headers
                .get(h.as_str())
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            FieldSource::Cookie(c) => cookie(headers, c).map(str::to_string),
            FieldSource::Query(q) => query.and_then(|qs| {
                form_urlencoded::parse(qs.as_bytes())
                    .find(|(k, _)| k == q)
                    .map(|(_, v)| v.into_owned())
            }),
            FieldSource::Form(f) => match &parsed {
                Parsed::Form(pairs) => pairs
                    .iter()
                    .find(|(k, _)| k == f)
                    .map(|(_, v)| v.to_string()),
                _ => None,
            },
            FieldSource::Json(_) => match &mut parsed {
                Parsed::Json(raw) => raw[i].take(),
                _ => None,
            },
        };
        out[i] = raw.and_then(|r| finish(def, r));
    }
    (out, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(source: FieldSource, pattern: Option<&str>, normalize: Option<Normalize>) -> FieldDef {
        FieldDef {
            name: "f".into(),
            pointer: match &source {
                FieldSource::Json(p) => crate::config::json_pointer_tokens(p).unwrap(),
                _ => Vec::new(),
            },
            source,
            pattern: pattern.map(|p| regex::Regex::new(p).unwrap()),
            normalize,
        }
    }

    fn one(
        d: FieldDef,
        headers: &http::HeaderMap,
        query: Option<&str>,
        body: &Body,
    ) -> (Option<String>, Option<Unreadable>) {
        let (v, u) = extract(&[d], &[0], headers, query, body);
        (v[0].clone(), u)
    }

    #[test]
    fn every_source_pattern_and_normalization() {
        let mut h = http::HeaderMap::new();
        h.insert("x-client-timezone", "Asia/Calcutta".parse().unwrap());
        h.append(
            http::header::COOKIE,
            "a=1; device_id=\"d-42\"".parse().unwrap(),
        );
        let none = Body::NotNeeded;
        let tz = def(FieldSource::Header("x-client-timezone".into()), None, None);
        assert_eq!(one(tz, &h, None, &none).0.as_deref(), Some("Asia/Calcutta"));
        let dev = def(FieldSource::Cookie("device_id".into()), None, None);
        assert_eq!(one(dev, &h, None, &none).0.as_deref(), Some("d-42"));
        let r = def(
            FieldSource::Query("ref".into()),
            None,
            Some(Normalize::Upper),
        );
        assert_eq!(
            one(r, &h, Some("x=1&ref=abc%2B1"), &none).0.as_deref(),
            Some("ABC+1")
        );

        let json = br#"{"code":"PPP-IN-65","n":7,"deep":{"list":["x","y"]}}"#;
        let jb = Body::Read(json, Some("application/json; charset=utf-8"));
        let cc = def(
            FieldSource::Json("/code".into()),
            Some("^PPP-([A-Z]{2})-"),
            None,
        );
        assert_eq!(one(cc, &h, None, &jb).0.as_deref(), Some("IN"));
        let n = def(FieldSource::Json("/n".into()), None, None);
        assert_eq!(one(n, &h, None, &jb).0.as_deref(), Some("7"));
        let deep = def(FieldSource::Json("/deep/list/1".into()), None, None);
        assert_eq!(one(deep, &h, None, &jb).0.as_deref(), Some("y"));
        // padded values are trimmed, before the pattern and after it
        let padded = br#"{"code":" \u00a0PPP-IN-65\t"}"#;
        let pb = Body::Read(padded, Some("application/json"));
        let cc = def(
            FieldSource::Json("/code".into()),
            Some("(?i)^PPP-([A-Z]{2})-"),
            Some(Normalize::Upper),
        );
        assert_eq!(one(cc.clone(), &h, None, &pb).0.as_deref(), Some("IN"));
        let lower = Body::Read(br#"{"code":"ppp-in-65"}"#, Some("application/json"));
        assert_eq!(one(cc, &h, None, &lower).0.as_deref(), Some("IN"));
        let miss = def(FieldSource::Json("/code".into()), Some("^WELCOME"), None);
        assert_eq!(one(miss, &h, None, &jb).0, None);

        let form = b"email=John.Smith%2Bpromo%40GMail.com&ref=z";
        let fb = Body::Read(form, Some("application/x-www-form-urlencoded"));
        let e = def(
            FieldSource::Form("email".into()),
            None,
            Some(Normalize::Email),
        );
        assert_eq!(
            one(e, &h, None, &fb).0.as_deref(),
            Some("johnsmith@gmail.com")
        );
    }

    #[test]
    fn a_body_that_cannot_be_read_says_why() {
        let h = http::HeaderMap::new();
        let j = def(FieldSource::Json("/code".into()), None, None);
        let bad = Body::Read(b"{\"code\":", Some("application/json"));
        assert_eq!(
            one(j.clone(), &h, None, &bad),
            (None, Some(Unreadable::Malformed))
        );
        // a JSON field from a body labelled as something else is not read
        let mislabelled = Body::Read(b"{\"code\":\"X\"}", Some("text/plain"));
        assert_eq!(
            one(j.clone(), &h, None, &mislabelled).1,
            Some(Unreadable::Malformed)
        );
        // no body at all: missing, not unreadable
        let empty = Body::Read(b"", None);
        assert_eq!(one(j.clone(), &h, None, &empty), (None, None));
        let empty_json = Body::Read(b"", Some("application/json"));
        assert_eq!(one(j.clone(), &h, None, &empty_json), (None, None));
        let arr = Body::Read(br#"{"code":["PPP-IN-65"]}"#, Some("application/json"));
        assert_eq!(
            one(j.clone(), &h, None, &arr),
            (None, Some(Unreadable::NotScalar))
        );
        let big = Body::Unreadable(Unreadable::TooLarge);
        assert_eq!(one(j, &h, None, &big), (None, Some(Unreadable::TooLarge)));
    }
}
