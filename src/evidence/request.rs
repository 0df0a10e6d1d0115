//! What one request says about itself, as a check reads it: borrowed from the request,
//! nothing copied on the live path.

/// What each watch (`hopping`, `spread`) of a policy counted for a request, by watch
/// index: the distinct countries or networks its key was seen from within the window,
/// this request's included; 0 when the watch did not apply (no key, no country, no
/// network).
pub type Watched = [u16; crate::config::MAX_WATCHES];

/// The request's own evidence. Empty (`Default`) when a request says nothing, as in
/// `explain` without headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// the `Accept-Language` header, when it is valid UTF-8
    pub accept_language: Option<&'a str>,
    /// the policy's field values, indexed like the config's `fields` (empty when the
    /// policy reads none)
    pub fields: &'a [Option<String>],
    /// the keyed hashes of the identifier fields (limit and hopping keys), indexed like
    /// `fields`: all a replay of the log knows of them
    pub ids: &'a [Option<super::ident::Id>],
    /// why the body could not be read, when the policy needed it and it could not be
    pub unreadable_body: Option<super::fields::Unreadable>,
    /// what the policy's watches counted (see [`Watched`])
    pub watched: Watched,
}

impl Request<'_> {
    /// The value of field `i`, if the request had one.
    pub fn field(&self, i: usize) -> Option<&str> {
        self.fields.get(i).and_then(|v| v.as_deref())
    }
}

impl Request<'_> {
    /// The keyed hash of identifier field `i`, if the request had one.
    pub fn id(&self, i: usize) -> Option<super::ident::Id> {
        self.ids.get(i).copied().flatten()
    }
}

impl<'a> Request<'a> {
    /// The evidence in a request's headers.
    pub fn from_headers(headers: &'a http::HeaderMap) -> Request<'a> {
        Request {
            accept_language: headers
                .get(http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
            fields: &[],
            ids: &[],
            unreadable_body: None,
            watched: [0; crate::config::MAX_WATCHES],
        }
    }
}
