//! The decision: facts about a client + a policy (+ what the limiters said) →
//! `{score, action, reasons}`. Pure: no I/O, no clock, no shared state.
//!
//! Which signals are present is the work of the small modules in [`checks`], one a
//! concern, each reading the [`Input`]; the signal registry ([`crate::signals`]) says
//! what each signal is called, weighs by default and means.

pub mod checks;
pub mod recalled;

use std::time::Duration;

use crate::config::{IntelConfig, Mode, OnLookupError, Policy};
use crate::evidence::Request;
use crate::intel::Facts;
pub use crate::limits::LimitOutcome;
pub use crate::signals::{Reasons, Signal, SIGNAL_COUNT};
pub use checks::{Because, Input};
use recalled::Hit;

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
    Relay,
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
            Network::Relay => "relay",
            Network::Mobile => "mobile",
            Network::Residential => "residential",
            Network::Unknown => "unknown",
        }
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
    /// the decision (of the app, or CrowdSec) that matched the request, if one did
    pub recalled: Option<Hit>,
}

impl Decision {
    /// Whether the limiters should be asked: not for the allow list (nor an `allow`
    /// decision), and not for a
    /// request riskgate answers already for its score (it must not spend tokens).
    /// A request that is forwarded anyway (shadow mode, shadow-ban) does count.
    pub fn needs_limits(&self) -> bool {
        !self.allow_listed && self.verdict != Verdict::Block
    }
}

/// The signals present in `facts` and the request's evidence for `policy` (without
/// rate signals).
pub fn signals(facts: &Facts, request: &Request, policy: &Policy, intel: &IntelConfig) -> Reasons {
    checks::run(
        &Input {
            facts,
            request,
            policy,
            intel,
            data: None,
        },
        &mut checks::NoWhy,
    )
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
    } else if r.has(Signal::Relay) {
        Network::Relay
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
    let mut bits = r.rates;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        s = s.saturating_add(policy.weights.rates.get(i).copied().unwrap_or(0));
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

/// Score a request before the limiters: the first half of the decision. `recalled`
/// is the strongest decision that matched it (see [`crate::decisions`]).
pub fn assess(
    facts: &Facts,
    request: &Request,
    recalled: Option<Hit>,
    policy: &Policy,
    intel: &IntelConfig,
) -> Decision {
    let allow_decision = recalled.filter(|h| h.action == recalled::Action::Allow);
    if facts.lists & intel.masks.allow != 0 || allow_decision.is_some() {
        let mut reasons = Reasons {
            fixed: 0,
            lists: facts.lists & intel.masks.allow,
            rates: 0,
        };
        if allow_decision.is_some() {
            reasons.add(Signal::DecisionAllow);
        }
        return Decision {
            score: 0,
            action: Action::Allow,
            reasons,
            network: network(facts, &Reasons::default()),
            mode: policy.mode,
            allow_listed: true,
            limited: false,
            retry_after: None,
            verdict: Verdict::Forward,
            recalled,
        };
    }
    let mut reasons = signals(facts, request, policy, intel);
    let shadow = match recalled.map(|h| h.action) {
        Some(recalled::Action::Block) => {
            reasons.add(Signal::DecisionBlock);
            false
        }
        Some(recalled::Action::Verify) => {
            reasons.add(Signal::DecisionVerify);
            false
        }
        Some(recalled::Action::Shadow) => {
            reasons.add(Signal::DecisionShadow);
            true
        }
        Some(recalled::Action::Allow) | None => false,
    };
    let score = score_of(&reasons, policy);
    let action = if shadow {
        // a shadow-ban says block, whatever the weights, and is always forwarded
        Action::Block
    } else {
        action_of(score, &reasons, policy)
    };
    let verdict = if action == Action::Block && policy.mode == Mode::Enforce && !shadow {
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
        recalled,
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
    d.reasons.rates |= limits.named;
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
