//! `client_ip_invalid`: the client-IP header did not name the client.

use super::{Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    if i.facts.client_ip_invalid {
        r.add(Signal::ClientIpInvalid);
        why.note(Signal::ClientIpInvalid, || {
            "the client-IP header's entry that should name the client is not an address".into()
        });
    }
}
