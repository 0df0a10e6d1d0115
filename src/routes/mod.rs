//! Route matching: the first route whose path and method match, where a path
//! matches when any framework's reading of it would reach the route ([`path`]).
//!
//! This part depends on nothing else in the crate: the config compiles routes into
//! a [`Table`], and the proxy and explain ask it.

pub mod path;

use http::{HeaderMap, Method};

/// How a route's path is matched (on every [`path::View`], ASCII case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// `/api/apply-coupon`: that path, with or without a trailing slash, and with a
    /// format suffix on its last segment (`/api/apply-coupon.json`: Rails and
    /// Spring route it to the same handler)
    Exact(String),
    /// `/api/redeem/*`: `/api/redeem` itself and everything below it
    Prefix(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("`{0}` must start with /")]
    NoSlash(String),
    #[error("`{0}`: a route matches the path only, not a query or fragment")]
    Query(String),
    #[error("`{0}`: only a trailing /* is supported, as in /api/redeem/*")]
    Wildcard(String),
}

impl PathMatch {
    /// A route path as written in the config.
    pub fn parse(p: &str) -> Result<PathMatch, PathError> {
        if !p.starts_with('/') {
            return Err(PathError::NoSlash(p.into()));
        }
        if p.contains('?') || p.contains('#') {
            return Err(PathError::Query(p.into()));
        }
        let (base, prefix) = match p.strip_suffix("/*") {
            Some(b) => (b, true),
            None => (p, false),
        };
        if base.contains('*') {
            return Err(PathError::Wildcard(p.into()));
        }
        let norm = path::normalize(base).to_ascii_lowercase();
        Ok(if prefix {
            PathMatch::Prefix(norm)
        } else {
            PathMatch::Exact(norm)
        })
    }

    /// Does one view of a request path match?
    pub fn matches(&self, p: &[u8]) -> bool {
        match self {
            PathMatch::Exact(want) => {
                let w = want.as_bytes();
                if p.eq_ignore_ascii_case(w) {
                    return true;
                }
                // a format suffix: `.json`, `.xml` … on the last segment
                w != b"/"
                    && p.len() > w.len() + 1
                    && p[..w.len()].eq_ignore_ascii_case(w)
                    && p[w.len()] == b'.'
                    && p[w.len() + 1..].iter().all(u8::is_ascii_alphanumeric)
            }
            PathMatch::Prefix(prefix) => {
                let w = prefix.as_bytes();
                if w == b"/" {
                    return true;
                }
                p.len() >= w.len()
                    && p[..w.len()].eq_ignore_ascii_case(w)
                    && (p.len() == w.len() || p[w.len()] == b'/')
            }
        }
    }
}

/// The standard methods as bits; anything else is an extension method.
const STANDARD: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];
const GET: u16 = 1;
const HEAD: u16 = 1 << 1;
const POST: u16 = 1 << 2;
const BODY_OVERRIDABLE: u16 = (1 << 3) | (1 << 4) | (1 << 5); // PUT, PATCH, DELETE

fn bit(m: &str) -> Option<u16> {
    STANDARD
        .iter()
        .position(|s| s.eq_ignore_ascii_case(m))
        .map(|i| 1 << i)
}

/// Headers that method-override middleware (Express's method-override, Rails,
/// Laravel, Symfony) reads.
const OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The methods a route takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Methods {
    /// `None`: every method
    pub only: Option<(u16, Vec<String>)>,
}

impl Methods {
    pub fn any() -> Methods {
        Methods { only: None }
    }

    /// Methods as written (case-insensitive); an extension method is kept by name.
    pub fn of<S: AsRef<str>>(names: &[S]) -> Methods {
        let mut bits = 0;
        let mut ext = Vec::new();
        for n in names {
            match bit(n.as_ref()) {
                Some(b) => bits |= b,
                None => ext.push(n.as_ref().to_ascii_uppercase()),
            }
        }
        Methods {
            only: Some((bits, ext)),
        }
    }

    fn takes(&self, m: &str) -> bool {
        match &self.only {
            None => true,
            Some((bits, ext)) => match bit(m) {
                Some(b) => bits & b != 0,
                None => ext.iter().any(|e| e.eq_ignore_ascii_case(m)),
            },
        }
    }

    /// Would the app run this route's handler for a request with `method`? HEAD runs
    /// GET handlers; a POST may carry a `_method` form field that turns it into PUT,
    /// PATCH or DELETE; an override header may name any method.
    fn reached_by(&self, method: &str, headers: &HeaderMap) -> bool {
        let Some((bits, _)) = &self.only else {
            return true;
        };
        if self.takes(method) {
            return true;
        }
        match bit(method) {
            Some(HEAD) if bits & GET != 0 => return true,
            Some(POST) if bits & BODY_OVERRIDABLE != 0 => return true,
            _ => {}
        }
        OVERRIDE_HEADERS.iter().any(|h| {
            headers
                .get_all(*h)
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| self.takes(v.trim())))
        })
    }
}

/// One route's matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub path: PathMatch,
    pub methods: Methods,
}

/// Every route's matcher, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub routes: Vec<Matcher>,
}

impl Table {
    /// The index of the first route that matches, if any.
    pub fn find(&self, method: &Method, raw_path: &str, headers: &HeaderMap) -> Option<usize> {
        if self.routes.is_empty() {
            return None;
        }
        let views = path::views(raw_path);
        self.routes.iter().position(|r| {
            views.any(|v| r.path.matches(v)) && r.methods.reached_by(method.as_str(), headers)
        })
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &[&str])]) -> Table {
        Table {
            routes: routes
                .iter()
                .map(|(p, m)| Matcher {
                    path: PathMatch::parse(p).unwrap(),
                    methods: if m.is_empty() {
                        Methods::any()
                    } else {
                        Methods::of(m)
                    },
                })
                .collect(),
        }
    }

    fn find(t: &Table, m: &str, p: &str) -> Option<usize> {
        t.find(
            &Method::from_bytes(m.as_bytes()).unwrap(),
            p,
            &HeaderMap::new(),
        )
    }

    #[test]
    fn first_match_wins_with_methods() {
        let t = table(&[
            ("/api/apply-coupon", &["POST"]),
            ("/api/redeem/*", &[]),
            ("/api/*", &[]),
        ]);
        assert_eq!(find(&t, "POST", "/api/apply-coupon"), Some(0));
        assert_eq!(find(&t, "POST", "/API/Apply-Coupon/"), Some(0));
        assert_eq!(find(&t, "GET", "/api/apply-coupon"), Some(2));
        assert_eq!(find(&t, "GET", "/api/redeem/abc"), Some(1));
        assert_eq!(find(&t, "GET", "/api/redeem"), Some(1));
        assert_eq!(find(&t, "GET", "/api/redeemer"), Some(2));
        assert_eq!(find(&t, "GET", "/apix"), None);
        assert_eq!(find(&t, "GET", "/"), None);
        assert_eq!(find(&Table::default(), "GET", "/x"), None);
    }

    #[test]
    fn encoded_slashes_match_both_ways() {
        let t = table(&[("/api/apply-coupon", &["POST"]), ("/files/*", &[])]);
        // decoded by WSGI/ASGI servers into the coupon route
        assert_eq!(find(&t, "POST", "/api%2Fapply-coupon"), Some(0));
        assert_eq!(find(&t, "POST", "/api%5capply-coupon"), Some(0));
        // kept encoded by Express: still the files route, whose handler gets it
        assert_eq!(find(&t, "GET", "/files/a%2F..%2F..%2Fapi"), Some(1));
        // resolved by a normalising server, kept by one that does not
        assert_eq!(find(&t, "POST", "/files/../api/apply-coupon"), Some(0));
        assert_eq!(find(&t, "GET", "/files/../api/apply-coupon"), Some(1));
    }

    #[test]
    fn format_suffixes_reach_an_exact_route() {
        let t = table(&[("/api/apply-coupon", &[])]);
        assert_eq!(find(&t, "POST", "/api/apply-coupon.json"), Some(0));
        assert_eq!(find(&t, "POST", "/api/apply-coupon.XML"), Some(0));
        assert_eq!(find(&t, "POST", "/api/apply-coupons"), None);
        assert_eq!(find(&t, "POST", "/api/apply-coupon.json/x"), None);
    }

    #[test]
    fn methods_the_app_would_run_the_handler_for() {
        let t = table(&[
            ("/signup", &["POST"]),
            ("/page", &["GET"]),
            ("/x", &["PUT"]),
        ]);
        assert_eq!(find(&t, "GET", "/signup"), None);
        assert_eq!(find(&t, "HEAD", "/page"), Some(1), "HEAD runs GET handlers");
        assert_eq!(
            find(&t, "POST", "/x"),
            Some(2),
            "a POST may carry _method=PUT"
        );
        let mut h = HeaderMap::new();
        h.insert("x-http-method-override", "post".parse().unwrap());
        assert_eq!(t.find(&Method::GET, "/signup", &h), Some(0));
        let t = table(&[("/purge", &["PURGE"])]);
        assert_eq!(find(&t, "PURGE", "/purge"), Some(0));
        assert_eq!(find(&t, "GET", "/purge"), None);
    }

    #[test]
    fn route_paths_are_normalised_and_checked() {
        assert_eq!(
            PathMatch::parse("/API//Redeem/*").unwrap(),
            PathMatch::Prefix("/api/redeem".into())
        );
        assert!(PathMatch::parse("api").is_err());
        assert!(PathMatch::parse("/a?b").is_err());
        assert!(PathMatch::parse("/a/*/b").is_err());
    }
}
