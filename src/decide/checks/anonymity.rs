//! `tor`, `vpn`, `proxy`, `residential_proxy`: the anonymous-IP database, the Tor
//! exit set and the `vpn` and `proxy` lists.

use super::{lists_of, Input, Why};
use crate::signals::{Reasons, Signal};

pub fn check(i: &Input, r: &mut Reasons, why: &mut impl Why) {
    let (f, m) = (i.facts, &i.intel.masks);
    if f.tor_list {
        r.add(Signal::Tor);
        why.note(Signal::Tor, || "Tor exit set".into());
    }
    if f.anon.tor_exit {
        r.add(Signal::Tor);
        why.note(Signal::Tor, || "anonymous_ip is_tor_exit_node".into());
    }
    if f.anon.vpn {
        r.add(Signal::Vpn);
        why.note(Signal::Vpn, || "anonymous_ip is_anonymous_vpn".into());
    }
    if f.lists & m.vpn != 0 {
        r.add(Signal::Vpn);
        for (_, name) in lists_of(i, m.vpn) {
            why.note(Signal::Vpn, || format!("list {name}"));
        }
    }
    if f.anon.public_proxy {
        r.add(Signal::Proxy);
        why.note(Signal::Proxy, || "anonymous_ip is_public_proxy".into());
    }
    if f.lists & m.proxy != 0 {
        r.add(Signal::Proxy);
        for (_, name) in lists_of(i, m.proxy) {
            why.note(Signal::Proxy, || format!("list {name}"));
        }
    }
    if f.anon.residential_proxy {
        r.add(Signal::ResidentialProxy);
        why.note(Signal::ResidentialProxy, || {
            "anonymous_ip is_residential_proxy".into()
        });
    }
}
