//! Reading a request body before the decision, for the form:/json: fields of a policy,
//! without changing what the origin receives.
//!
//! Pingora replays to the origin what `request_filter` read, from its retry buffer
//! (64 KiB), and then streams the rest. So riskgate turns that buffer on before it
//! reads, reads at most `body_limit` (≤ 64 KiB) and never past a declared
//! `Content-Length` over the limit; what it read past the buffer's size is put back in
//! front of the rest by [`Replay`]. The origin gets the client's bytes, in order, with
//! the client's framing.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::prelude::*;
use pingora::protocols::http::ServerSession;

use crate::evidence::fields::{self, Unreadable};

/// What the fields can read, and what must be put back before the rest of the body.
pub struct ReadBody {
    /// the whole body when it was read within the limit, else why it could not be
    pub outcome: Result<Bytes, Unreadable>,
    pub replay: Replay,
    /// riskgate answered the client's `Expect: 100-continue` itself (the origin must
    /// not be asked again)
    pub continued: bool,
}

/// Bytes read before the decision that Pingora's retry buffer could not keep: they go
/// to the origin in front of the first chunk that follows.
#[derive(Default)]
pub struct Replay(Option<Bytes>);

impl Replay {
    /// Put the bytes back in front of `chunk` (once).
    pub fn prepend(&mut self, chunk: &mut Option<Bytes>) {
        if let Some(prefix) = self.0.take() {
            let mut b = BytesMut::from(&prefix[..]);
            if let Some(c) = chunk.take() {
                b.extend_from_slice(&c);
            }
            *chunk = Some(b.freeze());
        }
    }
}

/// Whether the client waits for `100 Continue` before it sends its body.
pub fn expects_continue(h: &http::HeaderMap) -> bool {
    h.get_all(http::header::EXPECT).iter().any(|v| {
        v.as_bytes()
            .trim_ascii()
            .eq_ignore_ascii_case(b"100-continue")
    })
}

/// The largest request body riskgate drains, unread, to keep a connection it answered
/// itself; a larger or unknown-length one closes the connection instead.
pub const MAX_DRAIN: u64 = 64 * 1024;

/// The request's `Content-Length`, when it is a number.
pub fn declared_length(h: &http::HeaderMap) -> Option<u64> {
    h.get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// What a request's framing says is left of its body to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    /// no body (no length, or zero, and not chunked)
    None,
    /// a known length within [`MAX_DRAIN`]: worth reading to keep the connection
    Small(u64),
    /// chunked, or longer than [`MAX_DRAIN`]: the connection is closed instead
    TooMuch,
}

pub fn leftover(h: &http::HeaderMap) -> Leftover {
    if h.contains_key(http::header::TRANSFER_ENCODING) {
        return Leftover::TooMuch;
    }
    match declared_length(h) {
        None | Some(0) => Leftover::None,
        Some(n) if n <= MAX_DRAIN => Leftover::Small(n),
        Some(_) => Leftover::TooMuch,
    }
}

/// An error to answer with `status` (Pingora writes it and closes the connection).
fn answer(status: u16, why: &'static str) -> pingora::BError {
    Error::explain(ErrorType::HTTPStatus(status), why)
}

/// Read the body for the fields, up to `limit` bytes, within `timeout`. Answered as
/// nginx would: `408` when the body takes longer, `400` for a malformed chunk or a
/// body that ends before its length, `413` as below. A client that sent `Expect:
/// 100-continue` gets its `100 Continue` first.
pub async fn read(
    session: &mut ServerSession,
    limit: usize,
    timeout: Duration,
) -> Result<ReadBody> {
    let h = &session.req_header().headers;
    let declared = declared_length(h);
    // compressed, or padded past the limit: not read at all, forwarded as it comes
    if let Some(u) = fields::refused(h, declared, limit) {
        // (a client that expects `100 Continue` gets it from the origin, which reads
        // the body)
        return Ok(ReadBody {
            outcome: Err(u),
            replay: Replay::default(),
            continued: false,
        });
    }
    let continued = expects_continue(h) && !session.is_body_done();
    if continued {
        session.write_continue_response().await?;
    }
    session.enable_retry_buffering();
    let mut buf = BytesMut::new();
    let mut over = false;
    let reading = async {
        while let Some(chunk) = session.read_request_body().await? {
            buf.extend_from_slice(&chunk);
            if buf.len() > limit {
                over = true;
                break;
            }
        }
        Ok::<(), pingora::BError>(())
    };
    match tokio::time::timeout(timeout, reading).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            // the client's fault, never a 500: a bad chunk, a body cut short
            tracing::debug!(error = %e, "request body unreadable");
            return Err(answer(
                400,
                "request body malformed or ended before its length",
            ));
        }
        Err(_) => {
            crate::record::metrics::METRICS
                .client_timeouts
                .with_label_values(&["body"])
                .inc();
            return Err(answer(408, "request body not whole within body_timeout"));
        }
    }
    let read = buf.freeze();
    let truncated = session.retry_buffer_truncated();
    if truncated && session.is_body_done() {
        // Pingora has nothing to replay and no more body to stream: the origin would
        // wait for bytes that never come. Only a chunked body larger than Pingora's
        // buffer, ended by the read that crossed the limit, gets here.
        return Error::e_explain(
            ErrorType::HTTPStatus(413),
            "request body over body_limit, read to its end past the replay buffer",
        );
    }
    Ok(ReadBody {
        outcome: if over {
            Err(Unreadable::TooLarge)
        } else {
            Ok(read.clone())
        },
        replay: Replay(truncated.then_some(read)),
        continued,
    })
}
