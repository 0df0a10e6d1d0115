//! The checks: each small module finds some signals in the [`Input`] and, when
//! explain asks, says why ([`Why`]). The live path passes [`NoWhy`], which compiles
//! to nothing, so a condition is written once for both.
//!
//! A new check is one module here, one line in [`run`], and its rows in the signal
//! registry ([`crate::signals`]).

mod anonymity;
mod body;
mod client;
mod country;
mod declared;
mod hosting;
mod language;
mod lists;
mod lookup;
mod person;
mod relay;
mod timezone;
mod watches;

use crate::config::{IntelConfig, Policy};
use crate::evidence::Request;
use crate::intel::{Facts, Intel};
use crate::signals::{Reasons, Signal};

/// What a check reads: the IP's facts, the request's own evidence, the policy and the
/// intel settings.
pub struct Input<'a> {
    pub facts: &'a Facts,
    pub request: &'a Request<'a>,
    pub policy: &'a Policy,
    pub intel: &'a IntelConfig,
    /// the loaded data, for explain to name the feed and entry behind a list signal;
    /// `None` on the live path, which never needs it
    pub data: Option<&'a Intel>,
}

impl Input<'_> {
    /// Why list `n` (`name`) holds the address: `list hosting: aws ip-ranges.json
    /// 52.94.0.0/16` when the loaded data can say.
    pub fn list_why(&self, n: usize, name: &str) -> String {
        match self
            .data
            .and_then(|d| d.list_note(self.intel, n, self.facts.ip))
        {
            Some(note) => format!("list {name}: {note}"),
            None => format!("list {name}"),
        }
    }
}

/// Where a check says why a signal is present.
pub trait Why {
    fn note(&mut self, signal: Signal, because: impl FnOnce() -> String);
    fn note_list(&mut self, index: usize, because: impl FnOnce() -> String);
}

/// The live path: nothing is written.
pub struct NoWhy;

impl Why for NoWhy {
    #[inline(always)]
    fn note(&mut self, _: Signal, _: impl FnOnce() -> String) {}
    #[inline(always)]
    fn note_list(&mut self, _: usize, _: impl FnOnce() -> String) {}
}

/// Explain's collector: every reason each signal is present.
#[derive(Debug, Default)]
pub struct Because {
    pub fixed: Vec<(Signal, String)>,
    pub lists: Vec<(usize, String)>,
}

impl Because {
    /// Every reason noted for `signal`, joined.
    pub fn of(&self, signal: Signal) -> String {
        join(
            self.fixed
                .iter()
                .filter(|(s, _)| *s == signal)
                .map(|(_, w)| w),
        )
    }
    pub fn of_list(&self, index: usize) -> String {
        join(
            self.lists
                .iter()
                .filter(|(i, _)| *i == index)
                .map(|(_, w)| w),
        )
    }
}

fn join<'a>(parts: impl Iterator<Item = &'a String>) -> String {
    parts.map(String::as_str).collect::<Vec<_>>().join("; ")
}

impl Why for Because {
    fn note(&mut self, signal: Signal, because: impl FnOnce() -> String) {
        self.fixed.push((signal, because()));
    }
    fn note_list(&mut self, index: usize, because: impl FnOnce() -> String) {
        self.lists.push((index, because()));
    }
}

/// Every check, in turn.
#[inline]
pub fn run(i: &Input, why: &mut impl Why) -> Reasons {
    let mut r = Reasons::default();
    anonymity::check(i, &mut r, why);
    hosting::check(i, &mut r, why);
    relay::check(i, &mut r, why);
    country::check(i, &mut r, why);
    language::check(i, &mut r, why);
    // the person's zone and the claim, looked up once for the checks that read them
    let zone = timezone::zone(i);
    let claim = declared::claim(i);
    timezone::check(i, zone, &mut r, why);
    declared::check(i, claim, &mut r, why);
    person::check(i, zone, claim, &mut r, why);
    watches::check(i, &mut r, why);
    body::check(i, &mut r, why);
    lists::check(i, &mut r, why);
    lookup::check(i, &mut r, why);
    client::check(i, &mut r, why);
    r
}

/// The signals present, with the reasons (for explain).
pub fn explain(i: &Input) -> (Reasons, Because) {
    let mut b = Because::default();
    let r = run(i, &mut b);
    (r, b)
}

/// The names of the lists of one kind that hold the address.
fn lists_of<'a>(i: &Input<'a>, mask: u64) -> impl Iterator<Item = (usize, &'a str)> {
    let hits = i.facts.lists & mask;
    i.intel
        .lists
        .iter()
        .enumerate()
        .filter(move |(n, _)| hits & (1 << n) != 0)
        .map(|(n, l)| (n, l.name.as_str()))
}
