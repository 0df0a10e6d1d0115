//! The admin token (`admin_token_file`): `Authorization: Bearer <token>`, or HTTP Basic
//! with the token as the password (so a browser can open the dashboard). Health,
//! readiness and metrics stay open for probes and scrapers.

use base64::Engine as _;
use http::HeaderMap;

use crate::config::AdminToken;

/// The endpoints a probe or a scraper reads without a token.
pub fn is_open(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The token a request presents: a Bearer token, or a Basic password.
fn presented(headers: &HeaderMap) -> Option<Vec<u8>> {
    let v = headers.get(http::header::AUTHORIZATION)?.as_bytes();
    let sp = v.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = (&v[..sp], v[sp..].trim_ascii());
    if scheme.eq_ignore_ascii_case(b"bearer") {
        return Some(rest.to_vec());
    }
    if scheme.eq_ignore_ascii_case(b"basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        return Some(decoded[colon + 1..].to_vec());
    }
    None
}

/// Whether the request carries the token (compared in constant time).
pub fn authorized(token: &AdminToken, headers: &HeaderMap) -> bool {
    presented(headers).is_some_and(|p| token.matches(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, auth.parse().unwrap());
        h
    }

    #[test]
    fn bearer_and_basic_with_the_token_as_password() {
        let t = AdminToken::new(b"s3cret-token-0123456789");
        assert!(authorized(&t, &with("Bearer s3cret-token-0123456789")));
        assert!(authorized(&t, &with("bearer   s3cret-token-0123456789 ")));
        let basic =
            base64::engine::general_purpose::STANDARD.encode("admin:s3cret-token-0123456789");
        assert!(authorized(&t, &with(&format!("Basic {basic}"))));
        let any_user = base64::engine::general_purpose::STANDARD.encode(":s3cret-token-0123456789");
        assert!(authorized(&t, &with(&format!("Basic {any_user}"))));
        for bad in [
            "Bearer s3cret-token-012345678",
            "Bearer s3cret-token-0123456789x",
            "Bearer",
            "Token s3cret-token-0123456789",
            "s3cret-token-0123456789",
            "Basic !!!",
        ] {
            assert!(!authorized(&t, &with(bad)), "{bad}");
        }
        let no_colon = base64::engine::general_purpose::STANDARD.encode("s3cret-token-0123456789");
        assert!(!authorized(&t, &with(&format!("Basic {no_colon}"))));
        assert!(!authorized(&t, &HeaderMap::new()));
    }
}
