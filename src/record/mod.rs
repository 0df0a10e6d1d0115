//! What riskgate records of what it did: the decision log, the Prometheus metrics and
//! the live figures of the dashboard.

pub mod live;
pub mod log;
pub mod metrics;
