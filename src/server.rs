//! Turning a loaded snapshot into a running Pingora server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::listeners::TcpSocketOptions;
use socket2::{Domain, Protocol, Socket, Type};

use arc_swap::ArcSwap;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;

use crate::admin::AdminApp;
use crate::config::{Config, ConfigError};
use crate::http::proxy::Gateway;
use crate::intel::IntelError;
use crate::state::reload::{ReloadService, Reloader};
use crate::state::SharedSnapshot;
use crate::state::Snapshot;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("data sources failed to load:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Intel(Vec<IntelError>),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Decisions(#[from] crate::decisions::store::StoreError),
    #[error("cluster: cannot reach {redis}: {error}")]
    Cluster {
        redis: String,
        error: crate::cluster::ClusterError,
    },
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

/// Where the proxy and the admin endpoint listen, as bound: a configured port 0 is
/// replaced by the port the kernel chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub listen: Vec<SocketAddr>,
    pub admin: SocketAddr,
    /// the forward-auth door's addresses (`authz.listen`)
    pub authz: Vec<SocketAddr>,
    /// addresses whose port riskgate reserved (they share it with Pingora's listener)
    reserved: Vec<SocketAddr>,
}

impl Bound {
    /// The configured addresses as they are (for `run --upgrade`: the sockets come
    /// from the old process).
    pub fn as_configured(cfg: &Config) -> Bound {
        Bound {
            listen: cfg.listen.clone(),
            admin: cfg.admin,
            authz: cfg
                .authz
                .as_ref()
                .map(|a| a.listen.clone())
                .unwrap_or_default(),
            reserved: Vec::new(),
        }
    }

    fn pingora_addr(&self, a: SocketAddr) -> (String, Option<TcpSocketOptions>) {
        if self.reserved.contains(&a) {
            let mut o = TcpSocketOptions::default();
            o.so_reuseport = Some(true);
            (a.to_string(), Some(o))
        } else {
            (a.to_string(), None)
        }
    }
}

/// A port the kernel chose for a configured port 0, held by a bound socket that does
/// not listen (so it takes no connections) with SO_REUSEPORT, until Pingora's listener
/// has bound the same port. No other program can take the port in between.
pub struct Reservation {
    _sock: Socket,
}

/// Resolve the configured addresses: check that a fixed port is free (a clear error
/// now, not a Pingora panic later), and reserve a port for every port 0.
pub fn bind_addresses(cfg: &Config) -> Result<(Bound, Vec<Reservation>), StartError> {
    let mut reservations = Vec::new();
    let mut reserved = Vec::new();
    let mut resolve = |a: SocketAddr| -> Result<SocketAddr, StartError> {
        let fail =
            |e: std::io::Error| std::io::Error::new(e.kind(), format!("cannot listen on {a}: {e}"));
        if a.port() != 0 {
            std::net::TcpListener::bind(a).map_err(fail)?;
            return Ok(a);
        }
        let sock =
            Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP)).map_err(fail)?;
        sock.set_reuse_port(true).map_err(fail)?;
        sock.set_reuse_address(true).map_err(fail)?;
        sock.bind(&a.into()).map_err(fail)?;
        let local = sock
            .local_addr()
            .map_err(fail)?
            .as_socket()
            .ok_or_else(|| fail(std::io::Error::other("not an IP socket")))?;
        reservations.push(Reservation { _sock: sock });
        reserved.push(local);
        Ok(local)
    };
    let listen = cfg
        .listen
        .iter()
        .map(|a| resolve(*a))
        .collect::<Result<Vec<_>, _>>()?;
    let admin = resolve(cfg.admin)?;
    let authz = cfg
        .authz
        .iter()
        .flat_map(|a| &a.listen)
        .map(|a| resolve(*a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        Bound {
            listen,
            admin,
            authz,
            reserved,
        },
        reservations,
    ))
}

/// Once every address accepts connections (Pingora has bound them), release the
/// reservations and report where riskgate listens: one line on stdout
/// (`listening 127.0.0.1:8080 admin 127.0.0.1:9901`) and one in the log.
fn announce_when_listening(bound: Bound, reservations: Vec<Reservation>) {
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        for a in bound
            .listen
            .iter()
            .chain(std::iter::once(&bound.admin))
            .chain(&bound.authz)
        {
            let probe = if a.ip().is_unspecified() {
                SocketAddr::new(
                    match a {
                        SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    },
                    a.port(),
                )
            } else {
                *a
            };
            // a bounded wait on a condition (the listener is up), not a guess
            let mut backoff = Duration::from_millis(1);
            while std::net::TcpStream::connect_timeout(&probe, Duration::from_secs(1)).is_err() {
                if Instant::now() > deadline {
                    tracing::error!(address = %a, "riskgate is not listening after 60 s");
                    return;
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(50));
            }
        }
        drop(reservations);
        let listen: Vec<String> = bound.listen.iter().map(|a| a.to_string()).collect();
        let authz: Vec<String> = bound.authz.iter().map(|a| a.to_string()).collect();
        // `-`: no proxy door (forward auth alone)
        let proxy = if listen.is_empty() {
            "-".to_string()
        } else {
            listen.join(",")
        };
        if authz.is_empty() {
            println!("listening {proxy} admin {}", bound.admin);
        } else {
            println!(
                "listening {proxy} admin {} authz {}",
                bound.admin,
                authz.join(",")
            );
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        tracing::info!(listen = ?listen, admin = %bound.admin, authz = ?authz, "listening");
    });
}

/// Build the server: the proxy on every `listen` address, the admin endpoint, and
/// the reload service.
pub fn build(
    snapshot: Snapshot,
    upgrade: bool,
    bound: &Bound,
) -> Result<(Server, SharedSnapshot), StartError> {
    let cfg = snapshot.config.clone();
    let state: SharedSnapshot = Arc::new(ArcSwap::from_pointee(snapshot));
    let opt = pingora::server::configuration::Opt {
        upgrade,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, server_conf(&cfg));
    server.bootstrap();
    // Pingora's proxy, behind the per-connection bounds, in a service that starts the
    // cluster's connection on the proxy's runtime
    // (none with `authz` alone: no upstream, no proxy door)
    if !bound.listen.is_empty() {
        let app = crate::http::conn::Bounded::new(
            pingora::proxy::http_proxy(&server.configuration, Gateway::new(state.clone())),
            state.clone(),
        );
        let mut proxy = pingora::services::listening::Service::new("riskgate".to_string(), app);
        for addr in &bound.listen {
            match bound.pingora_addr(*addr) {
                (a, Some(o)) => proxy.add_tcp_with_settings(&a, o),
                (a, None) => proxy.add_tcp(&a),
            }
        }
        server.add_service(crate::http::conn::ProxyService::new(proxy, state.clone()));
    }
    // the forward-auth door: the same path and state, its own listeners; the ingress
    // is a trusted proxy, so its pooled connections are not capped per address
    if !bound.authz.is_empty() {
        let mut authz = pingora::services::listening::Service::new(
            "authz".to_string(),
            crate::http::conn::Bounded::new(
                crate::http::authz::AuthzApp {
                    state: state.clone(),
                },
                state.clone(),
            ),
        );
        for addr in &bound.authz {
            match bound.pingora_addr(*addr) {
                (a, Some(o)) => authz.add_tcp_with_settings(&a, o),
                (a, None) => authz.add_tcp(&a),
            }
        }
        server.add_service(crate::http::conn::ProxyService::new(authz, state.clone()));
    }

    server.add_service(pingora::services::background::background_service(
        "decisions",
        crate::state::reload::DecisionsService {
            state: state.clone(),
        },
    ));
    let reloader = Reloader::new(state.clone(), cfg.file.clone());
    server.add_service(pingora::services::background::background_service(
        "reload",
        ReloadService(reloader.clone()),
    ));
    // the admin port's connections get the same deadlines as the proxy's
    let mut admin = pingora::services::listening::Service::new(
        "admin".to_string(),
        crate::http::conn::Bounded::deadlines_only(
            AdminApp {
                state: state.clone(),
                reloader,
            },
            state.clone(),
        ),
    );
    match bound.pingora_addr(bound.admin) {
        (a, Some(o)) => admin.add_tcp_with_settings(&a, o),
        (a, None) => admin.add_tcp(&a),
    }
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
    let (bound, reservations) = if upgrade {
        (Bound::as_configured(&cfg), Vec::new())
    } else {
        bind_addresses(&cfg)?
    };
    let (server, _state) = build(snapshot, upgrade, &bound)?;
    announce_when_listening(bound.clone(), reservations);
    tracing::info!(
        listen = ?bound.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        upstream = cfg.upstream.as_ref().map_or("none (forward auth alone)", |u| u.address.as_str()),
        routes = cfg.routes.len(),
        threads = cfg.threads,
        "riskgate started"
    );
    server.run_forever()
}
