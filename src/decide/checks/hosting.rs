//! `hosting`: the anonymous-IP database, the `hosting` list, `hosting_asns` and the
//! AS organisation keywords. A privacy relay's egress (list `relay`) is never
//! hosting, though it runs in data centres: its users are people (see `relay`). Nor is
//! a known VPN endpoint (`is_anonymous_vpn` or list `vpn`): a VPN server always sits in
//! a data centre, so `hosting` there would count the one fact twice and block the
//! privacy-VPN customers a policy means to verify.

use super::{lists_of, Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let (f, m) = (i.facts, &i.intel.masks);
    if f.lists & m.relay != 0 || known_vpn(i) {
        return;
    }
    if f.anon.hosting {
        r.add(Signal::Hosting);
        why.note(Signal::Hosting, || {
            "anonymous_ip is_hosting_provider".into()
        });
    }
    if f.lists & m.hosting != 0 {
        r.add(Signal::Hosting);
        for (n, name) in lists_of(i, m.hosting) {
            why.note(Signal::Hosting, || i.list_why(n, name));
        }
    }
    if f.hosting_asn {
        r.add(Signal::Hosting);
        why.note(Signal::Hosting, || {
            format!("AS{} in hosting_asns", f.asn.unwrap_or(0))
        });
    }
    if f.hosting_org {
        r.add(Signal::Hosting);
        why.note(Signal::Hosting, || {
            "AS organization has a hosting_org_keywords word".into()
        });
    }
}

/// The address is a known VPN endpoint: the anonymous-IP database's flag or list `vpn`
/// (a relay address is neither, see `anonymity`).
fn known_vpn(i: &Input) -> bool {
    i.facts.anon.vpn || i.facts.lists & i.intel.masks.vpn != 0
}
