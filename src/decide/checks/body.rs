//! `unreadable_body`: the policy reads a form:/json: field, and the body is larger than
//! `body_limit`, compressed, or malformed for its content type. Padding a body or
//! mislabelling it never skips a check: it is a signal of its own.

use super::{Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    if let Some(u) = i.request.unreadable_body {
        r.add(Signal::UnreadableBody);
        why.note(Signal::UnreadableBody, || {
            format!("the body is {}", u.as_str())
        });
    }
}
