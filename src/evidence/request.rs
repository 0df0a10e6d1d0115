//! What one request says about itself, as a check reads it: borrowed from the request,
//! nothing copied on the live path.

/// The request's own evidence. Empty (`Default`) when a request says nothing, as in
/// `explain` without headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// the `Accept-Language` header, when it is valid UTF-8
    pub accept_language: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// The evidence in a request's headers.
    pub fn from_headers(headers: &'a http::HeaderMap) -> Request<'a> {
        Request {
            accept_language: headers
                .get(http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        }
    }
}
