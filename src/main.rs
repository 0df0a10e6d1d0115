//! The `riskgate` command line.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use riskgate::config;
use riskgate::server::{self, StartError};

#[derive(Parser)]
#[command(
    name = "riskgate",
    version,
    about = "Reverse-proxy sidecar that stops coupon, signup and referral abuse from rotating IPs"
)]
struct Cli {
    /// The config file (for `run` when no subcommand is given).
    #[arg(short, long, global = true, default_value = "gateway.yaml")]
    config: PathBuf,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway (the default).
    Run {
        /// Take over the listening sockets of a running riskgate (then send it SIGQUIT).
        #[arg(long)]
        upgrade: bool,
    },
    /// Validate the config and open every data file; list every problem.
    Check,
    /// Show the facts, signals, score and action for an address, as JSON.
    Explain {
        /// The address the request comes from (the peer).
        ip: IpAddr,
        #[arg(long, default_value = "/")]
        path: String,
        #[arg(long, default_value = "GET")]
        method: String,
        /// A request header, 'Name: value' (repeatable), e.g. X-Forwarded-For.
        #[arg(long = "header", short = 'H')]
        headers: Vec<String>,
        /// The request body, for the policy's form:/json: fields (with -H 'Content-Type: ...').
        #[arg(long = "data", short = 'd')]
        body: Option<String>,
        /// A readable table instead of JSON.
        #[arg(long)]
        table: bool,
    },
    /// Run the shipped config and bundled data in front of a built-in echo origin.
    Demo,
    /// Decide recorded traffic again with this config, offline: riskgate's decision
    /// log, nginx/Apache combined logs or JSON lines (`-` is stdin, `.gz` is gzip).
    Replay {
        /// Log files.
        #[arg(required = true)]
        logs: Vec<PathBuf>,
        /// Decide every record under this config too, and show what changes.
        #[arg(long)]
        against: Option<PathBuf>,
        /// Write one decision a line (JSON) to this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// A config and its data for an offline replay: no cluster, nothing shared.
fn offline_snapshot(path: &std::path::Path) -> Result<riskgate::state::Snapshot, StartError> {
    let mut cfg = config::load(path)?;
    cfg.cluster = None;
    riskgate::state::Snapshot::load(cfg).map_err(StartError::Intel)
}

const EXIT_CONFIG: u8 = 64;

fn config_exit(e: &StartError) -> ExitCode {
    eprint!("{e}");
    if !e.to_string().ends_with('\n') {
        eprintln!();
    }
    match e {
        StartError::Config(_) => ExitCode::from(EXIT_CONFIG),
        _ => ExitCode::from(1),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("riskgate: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd.unwrap_or(Cmd::Run { upgrade: false }) {
        Cmd::Check => {
            let cfg = match config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => return Ok(config_exit(&StartError::Config(e))),
            };
            let (routes, policies) = (cfg.routes.len(), cfg.policies.len());
            // the shared store answers a PING, or the check fails (the gateway itself
            // would start and apply on_error)
            if let Some(c) = &cfg.cluster {
                if let Err(error) = riskgate::cluster::ping(c) {
                    return Ok(config_exit(&StartError::Cluster {
                        redis: c.display.clone(),
                        error,
                    }));
                }
            }
            let cluster = cfg
                .cluster
                .as_ref()
                .map(|c| format!(", Redis at {} answered", c.display));
            let url_errors = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(riskgate::state::reload::check_urls(&cfg.intel));
            let mut cfg = cfg;
            // check opens the data; it does not start sharing state
            cfg.cluster = None;
            match riskgate::state::Snapshot::load(cfg) {
                Ok(_) if !url_errors.is_empty() => Ok(config_exit(&StartError::Intel(url_errors))),
                Err(mut errs) => {
                    errs.extend(url_errors);
                    Ok(config_exit(&StartError::Intel(errs)))
                }
                Ok(_) => {
                    println!(
                        "{}: ok ({routes} routes, {policies} policies, every data source opened{})",
                        cli.config.display(),
                        cluster.unwrap_or_default()
                    );
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Cmd::Explain {
            ip,
            path,
            method,
            headers,
            body,
            table,
        } => {
            // the CLI has no live state: it does not connect to the cluster (the admin
            // endpoint's explain reads the shared hopping records)
            let snap = match config::load(&cli.config) {
                Ok(mut cfg) => {
                    cfg.cluster = None;
                    match riskgate::state::Snapshot::load(cfg) {
                        Ok(s) => s,
                        Err(e) => return Ok(config_exit(&StartError::Intel(e))),
                    }
                }
                Err(e) => return Ok(config_exit(&StartError::Config(e))),
            };
            let hdrs = riskgate::admin::explain::header_map(&headers)?;
            let body = body.as_deref().map(str::as_bytes);
            let v = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(riskgate::admin::explain::explain(
                    &snap, ip, &path, &method, &hdrs, body,
                ))?;
            if table {
                print!("{}", riskgate::admin::explain::table(&v));
            } else {
                println!("{}", serde_json::to_string_pretty(&v)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Replay {
            logs,
            against,
            out,
            json,
        } => {
            let mut main = match offline_snapshot(&cli.config) {
                Ok(s) => riskgate::replay::Engine::new(s),
                Err(e) => return Ok(config_exit(&e)),
            };
            let mut other = match against.as_deref().map(offline_snapshot).transpose() {
                Ok(s) => s.map(riskgate::replay::Engine::new),
                Err(e) => return Ok(config_exit(&e)),
            };
            let summary = riskgate::replay::run(&mut main, other.as_mut(), &logs, out.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary.to_json())?);
            } else {
                print!("{}", summary.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run { upgrade } => {
            let cfg = match config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => return Ok(config_exit(&StartError::Config(e))),
            };
            riskgate::record::log::init(&cfg.log);
            let snap = match riskgate::state::Snapshot::load(cfg) {
                Ok(s) => s,
                Err(errs) => return Ok(config_exit(&StartError::Intel(errs))),
            };
            server::run(snap, upgrade).context("running the gateway")?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo => {
            let mut cfg = match config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => return Ok(config_exit(&StartError::Config(e))),
            };
            riskgate::record::log::init(&cfg.log);
            let origin =
                riskgate::demo::start_origin(&mut cfg).context("starting the echo origin")?;
            let text = riskgate::demo::instructions(&cfg, origin);
            let snap = match riskgate::state::Snapshot::load(cfg) {
                Ok(s) => s,
                Err(errs) => return Ok(config_exit(&StartError::Intel(errs))),
            };
            println!("{text}");
            server::run(snap, false).context("running the demo gateway")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
