//! The decision: facts about a client + a policy (+ what the limiters said) →
//! `{score, action, reasons}`. Pure: no I/O, no clock, no shared state.

use std::time::Duration;

use crate::config::{IntelConfig, Mode, OnLookupError, Policy};
use crate::intel::Facts;

/// The fixed signals, in the order of DESIGN.md's table. `list:NAME` signals sit
/// between [`Signal::CountryDenied`] and [`Signal::RateIp`] when reasons are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Signal {
    Tor = 0,
    Vpn = 1,
    Proxy = 2,
    ResidentialProxy = 3,
    Hosting = 4,
    CountryDenied = 5,
    RateIp = 6,
    RateSubnet = 7,
    RateAsn = 8,
    LookupError = 9,
}

pub const SIGNAL_COUNT: usize = 10;

impl Signal {
    pub const ALL: [Signal; SIGNAL_COUNT] = [
        Signal::Tor,
        Signal::Vpn,
        Signal::Proxy,
        Signal::ResidentialProxy,
        Signal::Hosting,
        Signal::CountryDenied,
        Signal::RateIp,
        Signal::RateSubnet,
        Signal::RateAsn,
        Signal::LookupError,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Signal::Tor => "tor",
            Signal::Vpn => "vpn",
            Signal::Proxy => "proxy",
            Signal::ResidentialProxy => "residential_proxy",
            Signal::Hosting => "hosting",
            Signal::CountryDenied => "country_denied",
            Signal::RateIp => "rate_ip",
            Signal::RateSubnet => "rate_subnet",
            Signal::RateAsn => "rate_asn",
            Signal::LookupError => "lookup_error",
        }
    }

    pub fn from_name(s: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|x| x.name() == s)
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of signals: fixed ones as bits, lists as bits by list index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reasons {
    pub fixed: u16,
    pub lists: u64,
}

impl Reasons {
    pub fn has(&self, s: Signal) -> bool {
        self.fixed & s.bit() != 0
    }
    pub fn add(&mut self, s: Signal) {
        self.fixed |= s.bit();
    }
    pub fn is_empty(&self) -> bool {
        self.fixed == 0 && self.lists == 0
    }

    /// Every signal name, in the contract's order: fixed signals up to
    /// `country_denied`, then lists, then the rate signals and `lookup_error`.
    pub fn iter<'a>(&self, intel: &'a IntelConfig) -> impl Iterator<Item = &'a str> + 'a {
        let (fixed, lists) = (self.fixed, self.lists);
        let has = move |s: &Signal| fixed & s.bit() != 0;
        let head = Signal::ALL[..=Signal::CountryDenied as usize]
            .iter()
            .filter(move |s| has(s));
        let tail = Signal::ALL[Signal::RateIp as usize..]
            .iter()
            .filter(move |s| has(s));
        let listed = intel
            .lists
            .iter()
            .enumerate()
            .filter(move |(i, _)| lists & (1 << i) != 0)
            .map(|(_, l)| l.signal.as_str());
        head.map(|s| s.name())
            .chain(listed)
            .chain(tail.map(|s| s.name()))
    }

    pub fn names<'a>(&self, intel: &'a IntelConfig) -> Vec<std::borrow::Cow<'a, str>> {
        self.iter(intel).map(std::borrow::Cow::Borrowed).collect()
    }

    /// The `X-Risk-Reasons` value.
    pub fn render(&self, intel: &IntelConfig) -> String {
        let mut out = String::new();
        for name in self.iter(intel) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(name);
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Verify,
    Block,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Verify => "verify",
            Action::Block => "block",
        }
    }
}

/// What kind of network the client is on, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Tor,
    Hosting,
    Vpn,
    Proxy,
    ResidentialProxy,
    Mobile,
    Residential,
    Unknown,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Tor => "tor",
            Network::Hosting => "hosting",
            Network::Vpn => "vpn",
            Network::Proxy => "proxy",
            Network::ResidentialProxy => "residential_proxy",
            Network::Mobile => "mobile",
            Network::Residential => "residential",
            Network::Unknown => "unknown",
        }
    }
}

/// Which limits are exhausted for this request (from [`crate::limits`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOutcome {
    pub ip: bool,
    pub subnet: bool,
    pub asn: bool,
    /// until the first exhausted limit has a token again
    pub retry_after: Option<Duration>,
}

impl LimitOutcome {
    pub fn any(&self) -> bool {
        self.ip || self.subnet || self.asn
    }
}

/// What riskgate does with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// forward to the origin with the headers
    Forward,
    /// answer with the policy's `on_block`
    Block,
    /// answer with the policy's `on_limit` and `Retry-After`
    Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub score: u32,
    pub action: Action,
    pub reasons: Reasons,
    pub network: Network,
    pub mode: Mode,
    /// the client is on the `allow` list: no scoring, no limits
    pub allow_listed: bool,
    pub limited: bool,
    pub retry_after: Option<Duration>,
    pub verdict: Verdict,
}

impl Decision {
    /// Whether the limiters should be asked: not for the allow list, and not for a
    /// request riskgate answers already for its score (it must not spend tokens).
    /// A request that is forwarded anyway (shadow mode, shadow-ban) does count.
    pub fn needs_limits(&self) -> bool {
        !self.allow_listed && self.verdict != Verdict::Block
    }
}

/// The signals present in `facts` for `policy` (without rate signals).
pub fn signals(facts: &Facts, policy: &Policy, intel: &IntelConfig) -> Reasons {
    let m = &intel.masks;
    let mut r = Reasons::default();
    if facts.tor_list || facts.anon.tor_exit {
        r.add(Signal::Tor);
    }
    if facts.anon.vpn || facts.lists & m.vpn != 0 {
        r.add(Signal::Vpn);
    }
    if facts.anon.public_proxy || facts.lists & m.proxy != 0 {
        r.add(Signal::Proxy);
    }
    if facts.anon.residential_proxy {
        r.add(Signal::ResidentialProxy);
    }
    if facts.anon.hosting || facts.lists & m.hosting != 0 || facts.hosting_asn || facts.hosting_org
    {
        r.add(Signal::Hosting);
    }
    if let Some(code) = facts.country {
        let c = &policy.countries;
        if c.deny.contains(&code) || (!c.allow.is_empty() && !c.allow.contains(&code)) {
            r.add(Signal::CountryDenied);
        }
    }
    r.lists = facts.lists & m.named;
    if facts.lookup_errors != 0 {
        r.add(Signal::LookupError);
    }
    r
}

fn network(facts: &Facts, r: &Reasons) -> Network {
    if r.has(Signal::Tor) {
        Network::Tor
    } else if r.has(Signal::Hosting) {
        Network::Hosting
    } else if r.has(Signal::Vpn) {
        Network::Vpn
    } else if r.has(Signal::Proxy) {
        Network::Proxy
    } else if r.has(Signal::ResidentialProxy) {
        Network::ResidentialProxy
    } else if facts.is_mobile() {
        Network::Mobile
    } else if facts.is_residential() {
        Network::Residential
    } else {
        Network::Unknown
    }
}

fn score_of(r: &Reasons, policy: &Policy) -> u32 {
    let mut s: u32 = 0;
    let mut bits = r.fixed;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        s = s.saturating_add(policy.weights.fixed[i]);
    }
    let mut bits = r.lists;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        s = s.saturating_add(policy.weights.lists.get(i).copied().unwrap_or(0));
    }
    s.min(100)
}

fn action_of(score: u32, r: &Reasons, policy: &Policy) -> Action {
    if r.has(Signal::LookupError) && policy.on_lookup_error == OnLookupError::Block {
        return Action::Block;
    }
    if score >= policy.thresholds.block {
        Action::Block
    } else if score >= policy.thresholds.verify {
        Action::Verify
    } else {
        Action::Allow
    }
}

/// Score a request before the limiters: the first half of the decision.
pub fn assess(facts: &Facts, policy: &Policy, intel: &IntelConfig) -> Decision {
    if facts.lists & intel.masks.allow != 0 {
        return Decision {
            score: 0,
            action: Action::Allow,
            reasons: Reasons {
                fixed: 0,
                lists: facts.lists & intel.masks.allow,
            },
            network: network(facts, &Reasons::default()),
            mode: policy.mode,
            allow_listed: true,
            limited: false,
            retry_after: None,
            verdict: Verdict::Forward,
        };
    }
    let reasons = signals(facts, policy, intel);
    let score = score_of(&reasons, policy);
    let action = action_of(score, &reasons, policy);
    let verdict = if action == Action::Block && policy.mode == Mode::Enforce {
        match policy.on_block {
            crate::config::OnBlock::Respond(_) => Verdict::Block,
            crate::config::OnBlock::Shadow => Verdict::Forward,
        }
    } else {
        Verdict::Forward
    };
    Decision {
        score,
        action,
        reasons,
        network: network(facts, &reasons),
        mode: policy.mode,
        allow_listed: false,
        limited: false,
        retry_after: None,
        verdict,
    }
}

/// Fold the limiters' answer into an assessed decision: the second half.
pub fn apply_limits(mut d: Decision, limits: LimitOutcome, policy: &Policy) -> Decision {
    if !limits.any() || !d.needs_limits() {
        return d;
    }
    if limits.ip {
        d.reasons.add(Signal::RateIp);
    }
    if limits.subnet {
        d.reasons.add(Signal::RateSubnet);
    }
    if limits.asn {
        d.reasons.add(Signal::RateAsn);
    }
    d.score = score_of(&d.reasons, policy);
    d.limited = true;
    d.retry_after = limits.retry_after;
    d.action = Action::Block;
    d.verdict = if policy.mode == Mode::Enforce {
        Verdict::Limit
    } else {
        Verdict::Forward
    };
    d
}

/// The whole decision in one call, for callers that already have the limiters' answer.
pub fn decide(
    facts: &Facts,
    policy: &Policy,
    intel: &IntelConfig,
    limits: LimitOutcome,
) -> Decision {
    apply_limits(assess(facts, policy, intel), limits, policy)
}
