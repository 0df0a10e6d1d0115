//! `relay`: the address is a consumer privacy relay's egress (list `relay`, such as
//! iCloud Private Relay). A fact, not a risk by default: its users are paying
//! customers of the relay, and the relay's geofeed gives their region as the country.

use super::{lists_of, Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let m = i.intel.masks.relay;
    if i.facts.lists & m != 0 {
        r.add(Signal::Relay);
        for (n, name) in lists_of(i, m) {
            why.note(Signal::Relay, || i.list_why(n, name));
        }
    }
}
