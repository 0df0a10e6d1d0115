//! Open connections per client address, so that one address cannot take every
//! descriptor: counted at accept, released when the connection closes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::record::metrics::METRICS;

const SHARDS: usize = 16;

/// The open connections of every address that has one.
#[derive(Default)]
pub struct PerIp {
    shards: [Mutex<HashMap<IpAddr, u32>>; SHARDS],
}

/// One counted connection: released on drop.
pub struct Held {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut s = self
            .table
            .shard(self.ip)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = s.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                s.remove(&self.ip);
            }
        }
        METRICS.connections_open.dec();
    }
}

impl PerIp {
    fn shard(&self, ip: IpAddr) -> &Mutex<HashMap<IpAddr, u32>> {
        use std::hash::BuildHasher;
        let h = foldhash::fast::FixedState::default().hash_one(ip);
        &self.shards[h as usize % SHARDS]
    }

    /// Count a new connection of `ip`, or refuse it when `ip` holds `max` already.
    pub fn admit(table: &Arc<PerIp>, ip: IpAddr, max: usize) -> Option<Held> {
        {
            let mut s = table.shard(ip).lock().unwrap_or_else(|e| e.into_inner());
            let n = s.entry(ip).or_insert(0);
            if *n as usize >= max {
                METRICS.connections_refused.inc();
                return None;
            }
            *n += 1;
        }
        METRICS.connections_open.inc();
        Some(Held {
            table: table.clone(),
            ip,
        })
    }

    /// The open connections of `ip`.
    pub fn open(&self, ip: IpAddr) -> u32 {
        let s = self.shard(ip).lock().unwrap_or_else(|e| e.into_inner());
        s.get(&ip).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_refuses_and_releases() {
        let t = Arc::new(PerIp::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let held: Vec<Held> = (0..3).map(|_| PerIp::admit(&t, a, 3).unwrap()).collect();
        assert!(PerIp::admit(&t, a, 3).is_none());
        let other = PerIp::admit(&t, b, 3).unwrap();
        assert_eq!(t.open(a), 3);
        drop(held);
        assert_eq!(t.open(a), 0);
        assert!(PerIp::admit(&t, a, 3).is_some());
        drop(other);
        assert_eq!(t.open(b), 0);
        assert!(t.shards.iter().all(|s| s.lock().unwrap().is_empty()));
    }
}
