//! Request paths as the frameworks behind riskgate may see them.
//!
//! A framework routes on its own reading of the path: WSGI and ASGI servers
//! percent-decode everything, `%2F` included, before routing; Express and Fastify
//! route on the undecoded path; some servers resolve dot segments and some do not;
//! Tomcat drops `;params`; IIS and browsers turn `\` into `/`. riskgate matches a route
//! when *any* of these readings ([`View`]s) would reach it: matching too broadly costs
//! a few lookups, matching too narrowly lets an attacker in.
//!
//! Every view: percent-decodes to a fixed point (`%252F` is `%2F` is `/`), except that
//! the views that keep encoded slashes leave `%2F` and `%5C` as they are; reads `\` as
//! `/`; drops `;params` from every segment; drops empty segments (`//`) and a trailing
//! slash; and either resolves `.` and `..` or keeps them. The result is compared ASCII
//! case-insensitively.

use std::borrow::Cow;

/// One reading of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// `%2F` and `%5C` are decoded into separators (WSGI, ASGI)
    pub decode_slashes: bool,
    /// `.` and `..` segments are resolved (clients and servers that normalise)
    pub resolve_dots: bool,
}

/// Every view, the one most servers use first.
pub const VIEWS: [View; 4] = [
    View {
        decode_slashes: true,
        resolve_dots: true,
    },
    View {
        decode_slashes: false,
        resolve_dots: true,
    },
    View {
        decode_slashes: true,
        resolve_dots: false,
    },
    View {
        decode_slashes: false,
        resolve_dots: false,
    },
];

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Is every view of `p` the path itself? One pass over the bytes: this runs for
/// every request, matched or not, and nearly every real path is plain.
pub fn is_plain(p: &[u8]) -> bool {
    if p.first() != Some(&b'/') || (p.len() > 1 && p[p.len() - 1] == b'/') {
        return false;
    }
    let mut prev = 0u8;
    for &c in p {
        if c == b'%' || c == b';' || c == b'\\' || (prev == b'/' && (c == b'/' || c == b'.')) {
            return false;
        }
        prev = c;
    }
    true
}

/// Percent-decode to a fixed point in one pass: the output is a stack, and whenever
/// its top three bytes are a decodable `%XX` they are replaced by the byte they
/// encode, which may complete another escape below it (`%25%32%46` → `%2F` → `/`).
/// Linear in the input, and nothing decodable is left, so decoding again changes
/// nothing. With `keep_slashes`, `%2F` and `%5C` are never decoded (and written
/// upper-case, so every spelling of them compares equal).
fn decode(p: &[u8], keep_slashes: bool) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(p.len());
    for &b in p {
        out.push(b);
        while out.len() >= 3 && out[out.len() - 3] == b'%' {
            let n = out.len();
            let (Some(h), Some(l)) = (hex(out[n - 2]), hex(out[n - 1])) else {
                break;
            };
            let c = h * 16 + l;
            if keep_slashes && (c == b'/' || c == b'\\') {
                out[n - 2] = out[n - 2].to_ascii_uppercase();
                out[n - 1] = out[n - 1].to_ascii_uppercase();
                break;
            }
            out.truncate(n - 3);
            out.push(c);
        }
    }
    out
}

/// The path as one view reads it (not yet case-folded).
pub fn view(p: &[u8], v: View) -> Vec<u8> {
    let decoded = decode(p, !v.decode_slashes);
    let mut segs: Vec<&[u8]> = Vec::new();
    for seg in decoded.split(|&c| c == b'/' || c == b'\\') {
        let seg = match seg.iter().position(|&c| c == b';') {
            Some(i) => &seg[..i],
            None => seg,
        };
        match seg {
            b"" => {}
            b"." if v.resolve_dots => {}
            b".." if v.resolve_dots => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    let mut out = Vec::with_capacity(decoded.len() + 1);
    for s in &segs {
        out.push(b'/');
        out.extend_from_slice(s);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// The canonical form of a path (the first view), as route paths are stored.
pub fn normalize(p: &str) -> Cow<'_, str> {
    if is_plain(p.as_bytes()) {
        return Cow::Borrowed(p);
    }
    Cow::Owned(String::from_utf8_lossy(&view(p.as_bytes(), VIEWS[0])).into_owned())
}

/// The distinct views of a request path; a plain path is its own only view.
pub fn views(p: &str) -> Views<'_> {
    let b = p.as_bytes();
    if is_plain(b) {
        return Views::Plain(b);
    }
    let mut all: Vec<Vec<u8>> = Vec::with_capacity(VIEWS.len());
    for v in VIEWS {
        let x = view(b, v);
        if !all.contains(&x) {
            all.push(x);
        }
    }
    Views::Many(all)
}

/// What [`views`] gives.
pub enum Views<'a> {
    Plain(&'a [u8]),
    Many(Vec<Vec<u8>>),
}

impl Views<'_> {
    pub fn any(&self, mut f: impl FnMut(&[u8]) -> bool) -> bool {
        match self {
            Views::Plain(p) => f(p),
            Views::Many(all) => all.iter().any(|v| f(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v0(p: &str) -> String {
        String::from_utf8_lossy(&view(p.as_bytes(), VIEWS[0])).into_owned()
    }

    #[test]
    fn the_first_view() {
        for (raw, want) in [
            ("/api/apply-coupon", "/api/apply-coupon"),
            ("/api/apply-coupon/", "/api/apply-coupon"),
            ("//api//apply-coupon", "/api/apply-coupon"),
            ("/api/./apply-coupon", "/api/apply-coupon"),
            ("/api/x/../apply-coupon", "/api/apply-coupon"),
            ("/api/apply-coupon;jsessionid=1", "/api/apply-coupon"),
            ("/api;v=1/apply-coupon", "/api/apply-coupon"),
            ("/api/apply%2Dcoupon", "/api/apply-coupon"),
            ("/api/apply%2dcoupon", "/api/apply-coupon"),
            ("/api%2Fapply-coupon", "/api/apply-coupon"),
            ("/api%2fapply-coupon", "/api/apply-coupon"),
            ("/api%5Capply-coupon", "/api/apply-coupon"),
            ("/api\\apply-coupon", "/api/apply-coupon"),
            ("/api%252Fapply-coupon", "/api/apply-coupon"),
            ("/api%25252fapply-coupon", "/api/apply-coupon"),
            ("/api/%2e%2e/api/apply-coupon", "/api/apply-coupon"),
            ("/api/%2E/apply-coupon", "/api/apply-coupon"),
            ("/api/..;/api/apply-coupon", "/api/apply-coupon"),
            ("/../../etc", "/etc"),
            ("/", "/"),
            ("", "/"),
            ("/%", "/%"),
            ("/a%4", "/a%4"),
            ("/a%%34%31", "/aA"),
        ] {
            assert_eq!(v0(raw), want, "{raw}");
        }
        assert!(matches!(normalize("/plain/path"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_views_that_keep_encoded_slashes_or_dots() {
        let keep_slash =
            |p: &str| String::from_utf8_lossy(&view(p.as_bytes(), VIEWS[1])).into_owned();
        let keep_dots =
            |p: &str| String::from_utf8_lossy(&view(p.as_bytes(), VIEWS[2])).into_owned();
        assert_eq!(keep_slash("/api%2fapply-coupon"), "/api%2Fapply-coupon");
        assert_eq!(keep_slash("/api%252fapply-coupon"), "/api%2Fapply-coupon");
        assert_eq!(keep_slash("/api/apply%2Dcoupon/"), "/api/apply-coupon");
        assert_eq!(keep_dots("/api/redeem/../x"), "/api/redeem/../x");
        assert_eq!(keep_dots("/api/./x//"), "/api/./x");
    }

    #[test]
    fn fast_check_agrees_with_every_view() {
        // every path of up to 6 bytes over an alphabet with every special byte
        let alphabet = [b'/', b'.', b'a', b'%', b';', b'2', b'F', b'\\'];
        let mut paths = vec![Vec::new()];
        let mut plain = 0;
        for _ in 0..6 {
            let mut next = Vec::new();
            for p in &paths {
                for c in alphabet {
                    let mut q: Vec<u8> = p.clone();
                    q.push(c);
                    if is_plain(&q) {
                        plain += 1;
                        for v in VIEWS {
                            assert_eq!(view(&q, v), q, "{:?}", String::from_utf8_lossy(&q));
                        }
                    }
                    next.push(q);
                }
            }
            paths = next;
        }
        assert!(plain > 1000, "the check passes ordinary paths: {plain}");
    }
}
