//! Fetching a data source over HTTP(S): a timeout, a size cap, conditional requests.

use std::time::Duration;

use super::IntelError;

/// The body cap: the full Tor exit list is ~0.4 MB, the big range lists a few MB.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Validators from the last good response, sent back as If-None-Match /
/// If-Modified-Since.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug)]
pub enum Fetched {
    NotModified,
    Body {
        text: String,
        validators: Validators,
    },
}

#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    max_body: usize,
}

impl Fetcher {
    pub fn new(timeout: Duration) -> Fetcher {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("riskgate/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .expect("HTTP client");
        Fetcher {
            client,
            max_body: MAX_BODY,
        }
    }

    pub fn with_max_body(mut self, n: usize) -> Fetcher {
        self.max_body = n;
        self
    }

    pub async fn fetch(&self, url: &str, prev: &Validators) -> Result<Fetched, IntelError> {
        let err = |m: String| IntelError::Source {
            source_name: url.to_string(),
            message: m,
        };
        let mut req = self.client.get(url);
        if let Some(e) = &prev.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(lm) = &prev.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
        }
        let mut resp = req.send().await.map_err(|e| err(describe(&e)))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if !status.is_success() {
            return Err(err(format!("HTTP {status}")));
        }
        if let Some(len) = resp.content_length() {
            if len as usize > self.max_body {
                return Err(err(format!(
                    "body of {len} bytes is over the {} byte cap",
                    self.max_body
                )));
            }
        }
        let header = |h: reqwest::header::HeaderName| {
            resp.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let validators = Validators {
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| err(describe(&e)))? {
            if body.len() + chunk.len() > self.max_body {
                return Err(err(format!("body is over the {} byte cap", self.max_body)));
            }
            body.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(body).map_err(|_| err("body is not UTF-8 text".into()))?;
        Ok(Fetched::Body { text, validators })
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    }
}
