//! The `routes` section: paths and methods, each naming a policy.

use super::*;

pub(super) fn compile_route(
    cx: &mut Ctx,
    key: &str,
    r: RawRoute,
    policies: &[Policy],
    earlier: &[Route],
) -> Option<(Route, crate::routes::Matcher)> {
    cx.unknown(key, &r.unknown, RawRoute::KEYS);
    let name = cx.get(&join(key, "name"), r.name);
    let path = cx.get(&join(key, "path"), r.path);
    let methods = cx.get(&join(key, "methods"), r.methods);
    let policy = cx.get(&join(key, "policy"), r.policy);
    let name = match name {
        Some(n) if valid_name(&n) => {
            if earlier.iter().any(|e| e.name == n) {
                cx.err(&join(key, "name"), format!("route `{n}` is defined twice"));
            }
            Some(n)
        }
        Some(n) => {
            cx.err(
                &join(key, "name"),
                format!("route name `{n}` may use only a-z, 0-9, _ and -"),
            );
            None
        }
        None => {
            cx.err(key, "needs a `name`");
            None
        }
    };
    let path = match path {
        Some(p) => compile_path(cx, &join(key, "path"), &p),
        None => {
            cx.err(key, "needs a `path`");
            None
        }
    };
    let mut ms = None;
    if let Some(list) = methods {
        let mut v = Vec::new();
        for (i, m) in list.iter().enumerate() {
            let up = m.trim().to_ascii_uppercase();
            match http::Method::from_bytes(up.as_bytes()) {
                Ok(meth) if !up.is_empty() => v.push(meth),
                _ => cx.err(
                    &format!("{key}.methods[{i}]"),
                    format!("`{m}` is not an HTTP method"),
                ),
            }
        }
        if list.is_empty() {
            cx.err(
                &join(key, "methods"),
                "is empty; leave it out to match every method",
            );
        }
        ms = Some(v);
    }
    let ms = match ms {
        Some(v) => crate::routes::Methods::of(&v.iter().map(|m| m.as_str()).collect::<Vec<_>>()),
        None => crate::routes::Methods::any(),
    };
    let policy = match policy {
        None => {
            cx.err(key, "needs a `policy`");
            None
        }
        Some(p) => match policies.iter().position(|x| x.name == p) {
            Some(i) => Some(i),
            None => {
                let known: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
                cx.err(
                    &join(key, "policy"),
                    format!(
                        "no policy named `{p}` (defined: {})",
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
                None
            }
        },
    };
    let name = name?;
    Some((
        Route {
            // valid_name allows only a-z, 0-9, _ and -: always a valid header value
            header: http::HeaderValue::from_str(&name).expect("route names are header-safe"),
            name,
            policy: policy?,
        },
        crate::routes::Matcher {
            path: path?,
            methods: ms,
        },
    ))
}

pub(super) fn compile_path(cx: &mut Ctx, key: &str, p: &str) -> Option<crate::routes::PathMatch> {
    match crate::routes::PathMatch::parse(p) {
        Ok(m) => Some(m),
        Err(e) => {
            cx.err(key, e.to_string());
            None
        }
    }
}
