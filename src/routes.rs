//! Route matching: first match wins, on a normalised path.
//!
//! Normalisation closes the easy bypasses of an exact match that the app behind
//! would still route: `//api/x`, `/api/./x`, `/api/y/../x`, `/api/x/`, `/api/x;jsessionid=1`,
//! `/api/%78`, and case (Express and ASP.NET route case-insensitively).

use std::borrow::Cow;

use http::Method;

use crate::config::{PathMatch, Route};

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Does the path need more than a case-insensitive compare?
fn is_plain(p: &str) -> bool {
    // one pass over the bytes: this runs for every request, matched or not
    let b = p.as_bytes();
    if b.first() != Some(&b'/') || (b.len() > 1 && b[b.len() - 1] == b'/') {
        return false;
    }
    let mut prev = 0u8;
    for &c in b {
        if c == b'%' || c == b';' || (prev == b'/' && (c == b'/' || c == b'.')) {
            return false;
        }
        prev = c;
    }
    true
}

pub fn normalize_path(p: &str) -> Cow<'_, str> {
    if is_plain(p) {
        return Cow::Borrowed(p);
    }
    Cow::Owned(rebuild(p))
}

/// The full normalisation: decode unreserved escapes, drop `;params`, resolve dot
/// segments, collapse slashes.
fn rebuild(p: &str) -> String {
    // decode %XX only where XX is an unreserved character
    let b = p.as_bytes();
    let mut decoded = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = h * 16 + l;
                if unreserved(c) {
                    decoded.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        decoded.push(b[i]);
        i += 1;
    }
    let decoded = String::from_utf8_lossy(&decoded).into_owned();
    let mut segs: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        let seg = seg.split(';').next().unwrap_or("");
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segs {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn path_matches(m: &PathMatch, path: &str) -> bool {
    match m {
        PathMatch::Exact(want) => path.eq_ignore_ascii_case(want),
        PathMatch::Prefix(prefix) => {
            if prefix == "/" {
                return true;
            }
            let (p, w) = (path.as_bytes(), prefix.as_bytes());
            p.len() >= w.len()
                && p[..w.len()].eq_ignore_ascii_case(w)
                && (p.len() == w.len() || p[w.len()] == b'/')
        }
    }
}

/// The index of the first route that matches, if any.
pub fn find(routes: &[Route], method: &Method, path: &str) -> Option<usize> {
    if routes.is_empty() {
        return None;
    }
    let path = normalize_path(path);
    routes.iter().position(|r| {
        r.methods.as_ref().is_none_or(|ms| ms.contains(method)) && path_matches(&r.path, &path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, path: PathMatch, methods: Option<Vec<Method>>) -> Route {
        Route {
            name: name.into(),
            header: http::HeaderValue::from_str(name).unwrap(),
            path,
            methods,
            policy: 0,
        }
    }

    #[test]
    fn normalisation() {
        for (raw, want) in [
            ("/api/apply-coupon", "/api/apply-coupon"),
            ("/api/apply-coupon/", "/api/apply-coupon"),
            ("//api//apply-coupon", "/api/apply-coupon"),
            ("/api/./apply-coupon", "/api/apply-coupon"),
            ("/api/x/../apply-coupon", "/api/apply-coupon"),
            ("/api/apply-coupon;jsessionid=1", "/api/apply-coupon"),
            ("/api/apply%2Dcoupon", "/api/apply-coupon"),
            ("/api/apply%2dcoupon", "/api/apply-coupon"),
            ("/api/a%2Fb", "/api/a%2Fb"),
            ("/../../etc", "/etc"),
            ("/", "/"),
            ("/%", "/%"),
            ("/a%4", "/a%4"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw}");
        }
        assert!(matches!(normalize_path("/plain/path"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_fast_check_only_passes_paths_the_full_normalisation_keeps() {
        // every path of up to 6 bytes over an alphabet with every special byte
        let alphabet = [b'/', b'.', b'a', b'%', b';', b'2', b'D'];
        let mut paths = vec![Vec::new()];
        let mut plain = 0;
        for _ in 0..6 {
            let mut next = Vec::new();
            for p in &paths {
                for c in alphabet {
                    let mut q: Vec<u8> = p.clone();
                    q.push(c);
                    let s = std::str::from_utf8(&q).unwrap();
                    if is_plain(s) {
                        plain += 1;
                        assert_eq!(rebuild(s), s, "{s}");
                    }
                    next.push(q);
                }
            }
            paths = next;
        }
        assert!(plain > 1000, "the check passes ordinary paths: {plain}");
    }

    #[test]
    fn first_match_wins_with_methods() {
        let routes = vec![
            route(
                "coupon",
                PathMatch::Exact("/api/apply-coupon".into()),
                Some(vec![Method::POST]),
            ),
            route("redeem", PathMatch::Prefix("/api/redeem".into()), None),
            route("all-api", PathMatch::Prefix("/api".into()), None),
        ];
        assert_eq!(find(&routes, &Method::POST, "/api/apply-coupon"), Some(0));
        assert_eq!(find(&routes, &Method::POST, "/API/Apply-Coupon/"), Some(0));
        assert_eq!(find(&routes, &Method::GET, "/api/apply-coupon"), Some(2));
        assert_eq!(find(&routes, &Method::GET, "/api/redeem/abc"), Some(1));
        assert_eq!(find(&routes, &Method::GET, "/api/redeem"), Some(1));
        assert_eq!(find(&routes, &Method::GET, "/api/redeemer"), Some(2));
        assert_eq!(find(&routes, &Method::GET, "/apix"), None);
        assert_eq!(find(&routes, &Method::GET, "/"), None);
    }

    #[test]
    fn no_routes_no_work() {
        assert_eq!(find(&[], &Method::GET, "/x"), None);
    }
}
