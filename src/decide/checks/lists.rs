//! `list:NAME`: named lists (`deny` and any name without a meaning of its own).

use super::{lists_of, Input, Why};
use crate::signals::Reasons;

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let named = i.intel.masks.named;
    r.lists = i.facts.lists & named;
    if r.lists != 0 {
        for (n, name) in lists_of(i, named) {
            why.note_list(n, || format!("address in {}", i.list_why(n, name)));
        }
    }
}
