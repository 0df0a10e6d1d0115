//! Which request an ingress asks about: the original method and target, out of the
//! forward-auth request's own head.
//!
//! - nginx `auth_request`: `X-Original-Method` + `X-Original-URI` (set by the
//!   documented `proxy_set_header` lines);
//! - ingress-nginx `auth-url`: `X-Original-URL` (an absolute URL) and `X-Original-Method`;
//! - Traefik `ForwardAuth` and Caddy `forward_auth`: `X-Forwarded-Method` +
//!   `X-Forwarded-Uri`;
//! - Envoy ext_authz's HTTP service (`path_prefix: /authz/envoy`): the original path
//!   follows the prefix, and the method is the request's own.
//!
//! An ingress sets its own headers and passes the client's others on, so a client
//! could add another convention's header naming a harmless path. Every convention
//! present must therefore name the same request; one that disagrees, or a header sent
//! twice, is refused — the client only denies itself, and never dodges a route.

use http::{HeaderMap, Method};

/// The prefix of Envoy's ext_authz HTTP service.
pub const ENVOY_PREFIX: &str = "/authz/envoy";

/// The original request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub method: Method,
    /// origin-form: `/path?query`
    pub target: String,
}

/// Why the forward-auth request names no original request (answered `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    #[error("no original method: send X-Original-Method (nginx, ingress-nginx) or X-Forwarded-Method (Traefik, Caddy)")]
    NoMethod,
    #[error("no original URI: send X-Original-URI (nginx), X-Original-URL (ingress-nginx) or X-Forwarded-Uri (Traefik, Caddy)")]
    NoUri,
    #[error("{0} is sent more than once")]
    Twice(&'static str),
    #[error("{0} is not {1}")]
    Invalid(&'static str, &'static str),
    #[error("{0} and {1} name different requests")]
    Disagree(&'static str, &'static str),
}

/// One header's single value: absent, or refused when sent twice or not text.
fn one<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<Option<&'h str>, AskError> {
    let mut all = headers.get_all(name).iter();
    let Some(v) = all.next() else {
        return Ok(None);
    };
    if all.next().is_some() {
        return Err(AskError::Twice(name));
    }
    let v = v
        .to_str()
        .map_err(|_| AskError::Invalid(name, "visible ASCII"))?
        .trim();
    Ok(Some(v))
}

/// An origin-form target (`/…`): nothing else reaches an app's router.
fn origin_form(name: &'static str, v: &str) -> Result<String, AskError> {
    if !v.starts_with('/') {
        return Err(AskError::Invalid(name, "a path beginning with /"));
    }
    if v.bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'#')
    {
        return Err(AskError::Invalid(name, "a request target"));
    }
    Ok(v.to_string())
}

/// The first of the candidates present; every other one present must be the same.
fn agreed(
    candidates: &[(&'static str, Option<String>)],
) -> Result<Option<(&'static str, String)>, AskError> {
    let mut first: Option<(&'static str, &String)> = None;
    for (name, v) in candidates {
        let Some(v) = v else { continue };
        match first {
            None => first = Some((name, v)),
            Some((n, f)) if f != v => return Err(AskError::Disagree(n, name)),
            Some(_) => {}
        }
    }
    Ok(first.map(|(n, v)| (n, v.clone())))
}

/// The path and query of an absolute URL (`https://shop.example/redeem?x=1`).
fn url_target(v: &str) -> Result<String, AskError> {
    const NAME: &str = "X-Original-URL";
    let uri: http::Uri = v
        .parse()
        .map_err(|_| AskError::Invalid(NAME, "an absolute URL"))?;
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(AskError::Invalid(NAME, "an absolute URL"));
    }
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    origin_form(NAME, if pq.is_empty() { "/" } else { pq })
}

fn method_of(name: &'static str, v: &str) -> Result<String, AskError> {
    let m = v.to_ascii_uppercase();
    Method::from_bytes(m.as_bytes()).map_err(|_| AskError::Invalid(name, "an HTTP method"))?;
    Ok(m)
}

/// The original request of a forward-auth request to `/authz` (`headers` are its own).
pub fn of_headers(headers: &HeaderMap) -> Result<Original, AskError> {
    let om = one(headers, "x-original-method")?
        .map(|v| method_of("X-Original-Method", v))
        .transpose()?;
    let fm = one(headers, "x-forwarded-method")?
        .map(|v| method_of("X-Forwarded-Method", v))
        .transpose()?;
    let ou = one(headers, "x-original-uri")?
        .map(|v| origin_form("X-Original-URI", v))
        .transpose()?;
    let ourl = one(headers, "x-original-url")?
        .map(url_target)
        .transpose()?;
    let fu = one(headers, "x-forwarded-uri")?
        .map(|v| origin_form("X-Forwarded-Uri", v))
        .transpose()?;
    let method = agreed(&[("X-Original-Method", om), ("X-Forwarded-Method", fm)])?;
    let target = agreed(&[
        ("X-Original-URI", ou),
        ("X-Original-URL", ourl),
        ("X-Forwarded-Uri", fu),
    ])?;
    let (_, method) = method.ok_or(AskError::NoMethod)?;
    let (_, target) = target.ok_or(AskError::NoUri)?;
    Ok(Original {
        method: Method::from_bytes(method.as_bytes())
            .map_err(|_| AskError::Invalid("the method", "an HTTP method"))?,
        target,
    })
}

/// The original target of an Envoy ext_authz request: what follows the prefix in the
/// request's own target (`/authz/envoy/redeem?x=1` → `/redeem?x=1`). `None` when the
/// target is not under the prefix.
pub fn of_envoy(target: &str) -> Option<String> {
    let rest = target.strip_prefix(ENVOY_PREFIX)?;
    match rest.as_bytes().first() {
        None => Some("/".to_string()),
        Some(b'/') => Some(rest.to_string()),
        Some(b'?') => Some(format!("/{rest}")),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    fn ok(m: &str, t: &str) -> Result<Original, AskError> {
        Ok(Original {
            method: Method::from_bytes(m.as_bytes()).unwrap(),
            target: t.to_string(),
        })
    }

    #[test]
    fn each_convention_alone() {
        let nginx = h(&[
            ("X-Original-Method", "POST"),
            ("X-Original-URI", "/redeem?c=1"),
        ]);
        assert_eq!(of_headers(&nginx), ok("POST", "/redeem?c=1"));
        let ingress = h(&[
            ("X-Original-Method", "post"),
            ("X-Original-URL", "https://shop.example/api/redeem?c=1"),
        ]);
        assert_eq!(of_headers(&ingress), ok("POST", "/api/redeem?c=1"));
        let traefik = h(&[
            ("X-Forwarded-Method", "PUT"),
            ("X-Forwarded-Uri", "/signup"),
            ("X-Forwarded-Host", "shop.example"),
        ]);
        assert_eq!(of_headers(&traefik), ok("PUT", "/signup"));
        assert_eq!(
            of_headers(&h(&[
                ("X-Original-Method", "GET"),
                ("X-Original-URL", "http://shop.example")
            ])),
            ok("GET", "/")
        );
    }

    #[test]
    fn what_is_missing_is_named() {
        assert_eq!(
            of_headers(&h(&[("X-Original-URI", "/x")])),
            Err(AskError::NoMethod)
        );
        assert_eq!(
            of_headers(&h(&[("X-Forwarded-Method", "GET")])),
            Err(AskError::NoUri)
        );
        assert_eq!(of_headers(&h(&[])), Err(AskError::NoMethod));
    }

    #[test]
    fn a_second_convention_that_disagrees_is_refused() {
        // Caddy sets X-Forwarded-*; the client adds an nginx header naming a harmless path
        let dodge = h(&[
            ("X-Forwarded-Method", "POST"),
            ("X-Forwarded-Uri", "/redeem"),
            ("X-Original-URI", "/static/logo.png"),
            ("X-Original-Method", "POST"),
        ]);
        assert_eq!(
            of_headers(&dodge),
            Err(AskError::Disagree("X-Original-URI", "X-Forwarded-Uri"))
        );
        let method = h(&[
            ("X-Original-Method", "GET"),
            ("X-Forwarded-Method", "POST"),
            ("X-Original-URI", "/redeem"),
        ]);
        assert_eq!(
            of_headers(&method),
            Err(AskError::Disagree(
                "X-Original-Method",
                "X-Forwarded-Method"
            ))
        );
        // the same request named twice over is fine
        let same = h(&[
            ("X-Original-Method", "POST"),
            ("X-Forwarded-Method", "post"),
            ("X-Original-URI", "/redeem"),
            ("X-Forwarded-Uri", "/redeem"),
        ]);
        assert_eq!(of_headers(&same), ok("POST", "/redeem"));
        let twice = h(&[
            ("X-Original-Method", "POST"),
            ("X-Forwarded-Uri", "/redeem"),
            ("X-Forwarded-Uri", "/"),
        ]);
        assert_eq!(of_headers(&twice), Err(AskError::Twice("x-forwarded-uri")));
    }

    #[test]
    fn targets_must_be_paths() {
        for bad in ["redeem", "*", "http://x/redeem"] {
            let r = of_headers(&h(&[("X-Original-Method", "GET"), ("X-Original-URI", bad)]));
            assert!(matches!(r, Err(AskError::Invalid(..))), "{bad}: {r:?}");
        }
        let r = of_headers(&h(&[
            ("X-Original-Method", "GET"),
            ("X-Original-URL", "/relative"),
        ]));
        assert!(matches!(r, Err(AskError::Invalid(..))), "{r:?}");
        let r = of_headers(&h(&[("X-Original-Method", "G T"), ("X-Original-URI", "/")]));
        assert!(matches!(r, Err(AskError::Invalid(..))), "{r:?}");
    }

    #[test]
    fn envoy_prefix() {
        assert_eq!(
            of_envoy("/authz/envoy/redeem?c=1").as_deref(),
            Some("/redeem?c=1")
        );
        assert_eq!(of_envoy("/authz/envoy").as_deref(), Some("/"));
        assert_eq!(of_envoy("/authz/envoy?x").as_deref(), Some("/?x"));
        assert_eq!(of_envoy("/authz/envoyx/redeem"), None);
        assert_eq!(of_envoy("/authz"), None);
    }
}
