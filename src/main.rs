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
    /// Manage decisions through the admin port of the config's gateway (admin token).
    Decisions {
        /// The admin endpoint, when not the config's `admin` (e.g. http://10.0.0.5:9901).
        #[arg(long, global = true)]
        admin: Option<String>,
        #[command(subcommand)]
        cmd: DecisionsCmd,
    },
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

#[derive(Subcommand)]
enum DecisionsCmd {
    /// Add one decision.
    Add {
        /// ip, range, asn, country or field:NAME (a configured field).
        #[arg(long)]
        scope: String,
        /// The address, CIDR, AS number, country code, or the field's plain value
        /// (hashed with hash_key; never stored plain).
        #[arg(long)]
        value: String,
        /// block, verify, shadow or allow.
        #[arg(long)]
        action: String,
        /// How long it lasts (e.g. 30d, 2h); at most 365d; default 24h.
        #[arg(long)]
        duration: Option<String>,
        #[arg(long)]
        reason: Option<String>,
        /// Who made it (default cli).
        #[arg(long, default_value = "cli")]
        origin: String,
        /// Take a range wider than /16 (IPv4) or /32 (IPv6).
        #[arg(long)]
        force: bool,
    },
    /// List the decisions in force.
    List {
        #[arg(long)]
        scope: Option<String>,
        /// With --scope: the value (a field's plain value is hashed to find it).
        #[arg(long)]
        value: Option<String>,
        #[arg(long)]
        origin: Option<String>,
        /// One JSON object a line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a decision by id.
    Delete { id: u64 },
    /// Import decisions from JSON lines or CSV (header: scope,value,action,duration,reason,origin,force).
    Import {
        file: PathBuf,
        /// Import the good lines even when some are bad (else nothing is imported).
        #[arg(long)]
        partial: bool,
    },
}

/// `riskgate decisions …`: exit 0, or 1 with the API's answer.
fn decisions_cli(
    cfg: &config::Config,
    admin: Option<&str>,
    cmd: DecisionsCmd,
) -> anyhow::Result<ExitCode> {
    use riskgate::admin::client::{self, Admin, ClientError};
    let api = match Admin::of(cfg, admin) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("riskgate decisions: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let fail = |e: ClientError| {
        eprintln!("riskgate decisions: {e}");
        ExitCode::from(1)
    };
    Ok(match cmd {
        DecisionsCmd::Add {
            scope,
            value,
            action,
            duration,
            reason,
            origin,
            force,
        } => {
            let mut d = serde_json::json!({"scope": scope, "value": value, "action": action,
                                           "origin": origin, "force": force});
            if let Some(x) = duration {
                d["duration"] = x.into();
            }
            if let Some(x) = reason {
                d["reason"] = x.into();
            }
            match rt.block_on(api.add(d)) {
                Ok(v) => {
                    for r in v["added"].as_array().into_iter().flatten() {
                        println!("{}", client::line(r));
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        DecisionsCmd::List {
            scope,
            value,
            origin,
            json,
        } => {
            let mut f = Vec::new();
            for (k, v) in [("scope", scope), ("value", value), ("origin", origin)] {
                if let Some(v) = v {
                    f.push((k, v));
                }
            }
            match rt.block_on(api.list(&f)) {
                Ok(list) => {
                    for r in &list {
                        if json {
                            println!("{r}");
                        } else {
                            println!("{}", client::line(r));
                        }
                    }
                    if !json {
                        eprintln!("{} decisions", list.len());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        DecisionsCmd::Delete { id } => match rt.block_on(api.delete(id)) {
            Ok(v) => {
                println!("deleted {}", client::line(&v["deleted"]));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        DecisionsCmd::Import { file, partial } => match rt.block_on(api.import(&file, partial)) {
            Ok((bad, imported)) => {
                for (line, e) in &bad {
                    eprintln!("{}:{line}: {e}", file.display());
                }
                if bad.is_empty() || partial {
                    println!(
                        "imported {imported} decisions{}",
                        if bad.is_empty() {
                            String::new()
                        } else {
                            format!(", {} lines refused", bad.len())
                        }
                    );
                    ExitCode::SUCCESS
                } else {
                    eprintln!(
                        "{} lines refused: nothing imported (--partial imports the rest)",
                        bad.len()
                    );
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(e),
        },
    })
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
            // the decisions store is readable and ours (or not made yet)
            let store = match riskgate::decisions::Book::read_only(&cfg.decisions.store) {
                Ok(b) => b.len(),
                Err(e) => return Ok(config_exit(&StartError::Decisions(e))),
            };
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
                        "{}: ok ({routes} routes, {policies} policies, every data source opened, {store} decisions in force{})",
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
                    // the decisions as the store holds them (this replica's cache, with
                    // `cluster`), read-only
                    let book = match riskgate::decisions::Book::read_only(&cfg.decisions.store) {
                        Ok(b) => b,
                        Err(e) => return Ok(config_exit(&StartError::Decisions(e))),
                    };
                    match riskgate::state::Snapshot::load(cfg) {
                        Ok(s) => s.with_decisions(book),
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
            // the decisions store opens, or the gateway does not start: never an empty
            // set in place of an unreadable one
            let book =
                match riskgate::decisions::Book::open(&cfg.decisions.store, cfg.cluster.as_ref()) {
                    Ok(b) => b,
                    Err(e) => return Ok(config_exit(&StartError::Decisions(e))),
                };
            let snap = match riskgate::state::Snapshot::load(cfg) {
                Ok(s) => s.with_decisions(book),
                Err(errs) => return Ok(config_exit(&StartError::Intel(errs))),
            };
            server::run(snap, upgrade).context("running the gateway")?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Decisions { admin, cmd } => {
            let cfg = match config::load(&cli.config) {
                Ok(c) => c,
                Err(e) => return Ok(config_exit(&StartError::Config(e))),
            };
            decisions_cli(&cfg, admin.as_deref(), cmd)
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
