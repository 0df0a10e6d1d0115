//! What riskgate records of what it did: the decision log, the Prometheus metrics and
//! the live figures of the dashboard.

pub mod live;
pub mod log;
pub mod metrics;

/// The front door a request came through (`riskgate_requests_total{frontend}`, the
/// decision log's `frontend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frontend {
    /// riskgate is the proxy in front of the app
    Proxy = 0,
    /// an ingress asked riskgate's forward-auth service
    Authz = 1,
}

impl Frontend {
    pub const ALL: [Frontend; 2] = [Frontend::Proxy, Frontend::Authz];

    pub fn as_str(self) -> &'static str {
        match self {
            Frontend::Proxy => "proxy",
            Frontend::Authz => "authz",
        }
    }
}
