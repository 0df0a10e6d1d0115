//! Turning a loaded snapshot into a running Pingora server.

use std::sync::Arc;

use arc_swap::ArcSwap;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;

use crate::admin::AdminApp;
use crate::config::{Config, ConfigError};
use crate::intel::{IntelError, Snapshot};
use crate::proxy::{Gateway, SharedSnapshot};
use crate::reload::{ReloadService, Reloader};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("data sources failed to load:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Intel(Vec<IntelError>),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Load config and data: what `check` and `run` both do first.
pub fn load(path: &std::path::Path) -> Result<Snapshot, StartError> {
    let config = crate::config::load(path)?;
    Snapshot::load(config).map_err(StartError::Intel)
}

/// The Pingora settings riskgate runs with (also used by the bare-proxy benchmark).
pub fn server_conf(cfg: &Config) -> ServerConf {
    ServerConf {
        threads: cfg.threads,
        // Enough idle upstream connections for every downstream one that may be
        // busy at once: a pool smaller than the concurrency closes and reopens
        // upstream connections under load.
        upstream_keepalive_pool_size: 4096,
        // SIGTERM: stop accepting, let in-flight requests finish for the grace period
        grace_period_seconds: Some(cfg.grace_period.as_secs_f64().ceil() as u64),
        graceful_shutdown_timeout_seconds: Some(5),
        upgrade_sock: cfg.upgrade_sock.display().to_string(),
        pid_file: cfg.upgrade_sock.with_extension("pid").display().to_string(),
        ..ServerConf::default()
    }
}

/// Build the server: the proxy on every `listen` address, the admin endpoint, and
/// the reload service.
pub fn build(snapshot: Snapshot, upgrade: bool) -> Result<(Server, SharedSnapshot), StartError> {
    let cfg = snapshot.config.clone();
    let state: SharedSnapshot = Arc::new(ArcSwap::from_pointee(snapshot));
    let opt = pingora::server::configuration::Opt {
        upgrade,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(&cfg));
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        Gateway::new(state.clone()),
        "riskgate",
    );
    for addr in &cfg.listen {
        proxy.add_tcp(&addr.to_string());
    }
    server.add_service(proxy);

    let reloader = Reloader::new(state.clone(), cfg.file.clone());
    server.add_service(pingora::services::background::background_service(
        "reload",
        ReloadService(reloader.clone()),
    ));
    let mut admin = pingora::services::listening::Service::new(
        "admin".to_string(),
        AdminApp {
            state: state.clone(),
            reloader,
        },
    );
    admin.add_tcp(&cfg.admin.to_string());
    server.add_service(admin);
    Ok((server, state))
}

/// Run until a signal stops the process: SIGTERM drains and exits, SIGINT exits at
/// once, SIGQUIT hands the listening sockets to a process started with `upgrade`
/// (Pingora's zero-downtime upgrade), SIGHUP reloads the config and data.
pub fn run(snapshot: Snapshot, upgrade: bool) -> Result<(), StartError> {
    let cfg = snapshot.config.clone();
    // Fail early, with a clear message, if an address is taken (when upgrading, the
    // old process holds them and hands them over).
    if !upgrade {
        for a in cfg.listen.iter().chain(std::iter::once(&cfg.admin)) {
            std::net::TcpListener::bind(a)
                .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {a}: {e}")))?;
        }
    }
    let (server, _state) = build(snapshot, upgrade)?;
    tracing::info!(
        listen = ?cfg.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        upstream = %cfg.upstream.address,
        routes = cfg.routes.len(),
        threads = cfg.threads,
        "riskgate started"
    );
    server.run_forever()
}
