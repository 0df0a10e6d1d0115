//! One route's counts of the last hour, a slot a minute, in atomics: a request adds
//! with relaxed `fetch_add`s and takes no lock. The housekeeping tick clears the next
//! minute's slot before it starts; a writer that finds its slot still stamped with an
//! older minute (no tick yet) claims and clears it itself.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::decide::SIGNAL_COUNT;
use crate::signals::Reasons;

/// The minutes a window holds.
pub const MINUTES: usize = 60;

/// allow, verify, block, limit
pub const OUTCOMES: usize = 4;
pub const NETWORKS: usize = 9;

/// Counter offsets inside a slot.
const ACTIONS_AT: usize = 0;
const NETWORKS_AT: usize = ACTIONS_AT + OUTCOMES;
const FIXED_AT: usize = NETWORKS_AT + NETWORKS;
const LISTS_AT: usize = FIXED_AT + SIGNAL_COUNT;

/// A slot's stamp before any minute wrote it.
const NEVER: u32 = u32::MAX;

pub struct Window {
    lists: usize,
    rates: usize,
    /// counters a slot
    stride: usize,
    stamps: [AtomicU32; MINUTES],
    counts: Box<[AtomicU32]>,
}

/// One minute's (or a sum of minutes') counts, plain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub outcomes: [u64; OUTCOMES],
    pub networks: [u64; NETWORKS],
    pub fixed: [u64; SIGNAL_COUNT],
    pub lists: Vec<u64>,
    pub rates: Vec<u64>,
}

impl Counts {
    pub fn matched(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    /// Add `other`'s counts (lists and rates only where both have them).
    pub fn add(&mut self, other: &Counts) {
        let pairs = |a: &mut [u64], b: &[u64]| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        pairs(&mut self.outcomes, &other.outcomes);
        pairs(&mut self.networks, &other.networks);
        pairs(&mut self.fixed, &other.fixed);
        pairs(&mut self.lists, &other.lists);
        pairs(&mut self.rates, &other.rates);
    }
}

impl Window {
    /// A window for a route whose config has `lists` lists and whose policy has
    /// `rates` limits.
    pub fn new(lists: usize, rates: usize) -> Window {
        let stride = LISTS_AT + lists + rates;
        Window {
            lists,
            rates,
            stride,
            stamps: std::array::from_fn(|_| AtomicU32::new(NEVER)),
            counts: (0..stride * MINUTES).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn slot(&self, minute: u32) -> &[AtomicU32] {
        let i = minute as usize % MINUTES;
        &self.counts[i * self.stride..(i + 1) * self.stride]
    }

    /// Make `minute`'s slot ready: stamped with it and zeroed, unless it is already.
    pub fn prepare(&self, minute: u32) {
        let stamp = &self.stamps[minute as usize % MINUTES];
        let old = stamp.load(Relaxed);
        if old != minute
            && (old == NEVER || old < minute)
            && stamp
                .compare_exchange(old, minute, Relaxed, Relaxed)
                .is_ok()
        {
            for c in self.slot(minute) {
                c.store(0, Relaxed);
            }
        }
    }

    /// Count one decision in `minute`.
    pub fn add(&self, minute: u32, outcome: usize, network: usize, reasons: &Reasons) {
        if self.stamps[minute as usize % MINUTES].load(Relaxed) != minute {
            self.prepare(minute);
        }
        let slot = self.slot(minute);
        slot[ACTIONS_AT + outcome].fetch_add(1, Relaxed);
        slot[NETWORKS_AT + network].fetch_add(1, Relaxed);
        let mut bits = u64::from(reasons.fixed);
        while bits != 0 {
            slot[FIXED_AT + bits.trailing_zeros() as usize].fetch_add(1, Relaxed);
            bits &= bits - 1;
        }
        let mut bits = reasons.lists;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            if b < self.lists {
                slot[LISTS_AT + b].fetch_add(1, Relaxed);
            }
            bits &= bits - 1;
        }
        let mut bits = reasons.rates;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            if b < self.rates {
                slot[LISTS_AT + self.lists + b].fetch_add(1, Relaxed);
            }
            bits &= bits - 1;
        }
    }

    /// The counts of `minute`, or zeros when its slot holds another minute.
    pub fn minute(&self, minute: u32) -> Counts {
        let mut c = Counts {
            lists: vec![0; self.lists],
            rates: vec![0; self.rates],
            ..Counts::default()
        };
        if self.stamps[minute as usize % MINUTES].load(Relaxed) != minute {
            return c;
        }
        let v: Vec<u64> = self
            .slot(minute)
            .iter()
            .map(|a| u64::from(a.load(Relaxed)))
            .collect();
        c.outcomes.copy_from_slice(&v[ACTIONS_AT..NETWORKS_AT]);
        c.networks.copy_from_slice(&v[NETWORKS_AT..FIXED_AT]);
        c.fixed.copy_from_slice(&v[FIXED_AT..LISTS_AT]);
        c.lists.copy_from_slice(&v[LISTS_AT..LISTS_AT + self.lists]);
        c.rates.copy_from_slice(&v[LISTS_AT + self.lists..]);
        c
    }

    /// Each of the last [`MINUTES`] minutes up to `now` (oldest first), and their sum.
    pub fn hour(&self, now: u32) -> (Vec<Counts>, Counts) {
        let first = now.saturating_sub(MINUTES as u32 - 1);
        let minutes: Vec<Counts> = (first..=now).map(|m| self.minute(m)).collect();
        let mut sum = Counts {
            lists: vec![0; self.lists],
            rates: vec![0; self.rates],
            ..Counts::default()
        };
        for m in &minutes {
            sum.add(m);
        }
        (minutes, sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Signal;

    #[test]
    fn minutes_are_kept_an_hour_then_reused() {
        let w = Window::new(2, 1);
        let mut r = Reasons::default();
        r.add(Signal::Vpn);
        r.lists = 0b10;
        r.rates = 0b1;
        w.add(5, 2, 2, &r);
        w.add(5, 0, 7, &Reasons::default());
        w.add(6, 3, 7, &Reasons::default());
        let (minutes, sum) = w.hour(6);
        assert_eq!(minutes.len(), 7);
        assert_eq!(sum.outcomes, [1, 0, 1, 1]);
        assert_eq!(sum.networks[2], 1);
        assert_eq!(sum.networks[7], 2);
        assert_eq!(sum.fixed[Signal::Vpn as usize], 1);
        assert_eq!(sum.lists, [0, 1]);
        assert_eq!(sum.rates, [1]);
        assert_eq!(minutes[5].matched(), 2);
        // an hour later minute 5 has left the window, and its slot serves minute 65
        assert_eq!(w.hour(64).1.matched(), 3);
        assert_eq!(w.hour(65).1.matched(), 1, "minute 5 has left the window");
        w.prepare(65);
        assert_eq!(w.minute(65).matched(), 0);
        w.add(65, 1, 0, &Reasons::default());
        // minute 6 (a limit) and minute 65 (a verify)
        assert_eq!(w.hour(65).1.outcomes, [0, 1, 0, 1]);
        // a late tick for an older minute never clears a newer one
        w.prepare(5);
        assert_eq!(w.minute(65).matched(), 1);
    }
}
