//! riskgate: a reverse-proxy sidecar on Pingora that scores and limits abuse of
//! coupon, signup and referral endpoints by IP intelligence.
//!
//! The request path (DESIGN.md): [`client_ip`] → strip ([`headers`]) → [`routes`] →
//! enrich ([`intel`]) → score ([`decide`]) → act ([`proxy`]) → record ([`log`]).

pub mod admin;
pub mod client_ip;
pub mod config;
pub mod decide;
pub mod demo;
pub mod echo;
pub mod explain;
pub mod headers;
pub mod intel;
pub mod limits;
pub mod log;
pub mod metrics;
pub mod proxy;
pub mod routes;
pub mod server;
pub mod signals;
pub mod state;

/// mimalloc for every binary built on this crate (the gateway, the bare-proxy
/// baseline, tests and benches): Pingora allocates per request, and glibc's malloc
/// costs ~10 % of a proxied request's instructions here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
