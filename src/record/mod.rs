//! What riskgate records of what it did: the decision log and the Prometheus metrics.

pub mod log;
pub mod metrics;
