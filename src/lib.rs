//! riskgate: a reverse-proxy sidecar on Pingora that scores and limits abuse of
//! coupon, signup and referral endpoints by IP intelligence.
//!
//! The request path (DESIGN.md) is [`path`], written once: route ([`routes`]) → client
//! ([`path::client`]) → enrich ([`intel`]) → evidence ([`evidence`]) → recall
//! ([`decisions`]) → limits ([`limits`], [`cluster`]) → score ([`decide`]) → record
//! ([`record`]). Its front doors only translate: the proxy ([`http::proxy`]), forward auth
//! ([`http::authz`]), explain ([`admin::explain`]) and replay ([`replay`]).

pub mod admin;
pub mod cluster;
pub mod config;
pub mod decide;
pub mod decisions;
pub mod demo;
pub mod evidence;
pub mod hops;
pub mod http;
pub mod intel;
pub mod limits;
pub mod path;
pub mod record;
pub mod replay;
pub mod routes;
pub mod server;
pub mod sign;
pub mod signals;
pub mod state;

/// mimalloc for every binary built on this crate (the gateway, the bare-proxy
/// baseline, tests and benches): Pingora allocates per request, and glibc's malloc
/// costs ~10 % of a proxied request's instructions here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
