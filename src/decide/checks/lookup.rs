//! `lookup_error`: a data source failed for this address.

use super::{Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let bits = i.facts.lookup_errors;
    if bits != 0 {
        r.add(Signal::LookupError);
        why.note(Signal::LookupError, || {
            format!("a data source failed (bits {bits:#x})")
        });
    }
}
