//! `riskgate replay`: recorded traffic decided again, offline, with a config (and, with
//! `--against`, a second one), summarised for a person or as JSON.

pub mod engine;
pub mod input;
mod summary;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

pub use engine::Engine;
pub use summary::Summary;

use crate::decide::{Action, Decision};

/// What a record was decided to be, as the summary and `--out` name it: `limit` for a
/// limited request (answered 429 in enforce mode), else the action.
pub fn verdict(d: &Decision) -> &'static str {
    if d.limited {
        "limit"
    } else {
        match d.action {
            Action::Allow => "allow",
            Action::Verify => "verify",
            Action::Block => "block",
        }
    }
}

/// Errors that stop a replay (a line that cannot be read never does).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}: {error}")]
    Open { path: String, error: std::io::Error },
    #[error("--out {path}: {error}")]
    Out { path: String, error: std::io::Error },
}

/// A log file (`.gz` read as gzip) or `-` for stdin, line by line.
fn open(path: &Path) -> Result<Box<dyn BufRead>, ReplayError> {
    let err = |error| ReplayError::Open {
        path: path.display().to_string(),
        error,
    };
    let raw: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(err)?)
    };
    let gz = path.extension().is_some_and(|e| e == "gz");
    Ok(if gz {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(raw)))
    } else {
        Box::new(BufReader::new(raw))
    })
}

/// Replay `logs` through `main` (and `against`), writing one decision a line to `out`.
pub fn run(
    main: &mut Engine,
    mut against: Option<&mut Engine>,
    logs: &[PathBuf],
    out: Option<&Path>,
) -> Result<Summary, ReplayError> {
    let mut sink: Option<Box<dyn Write>> = match out {
        None => None,
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).map_err(|error| ReplayError::Out {
                path: p.display().to_string(),
                error,
            })?,
        ))),
    };
    let mut s = Summary::default();
    // progress on a terminal, for big inputs
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = std::time::Instant::now();
    for path in logs {
        let name = path.display().to_string();
        let mut reader = open(path)?;
        let mut buf = Vec::new();
        let mut line_no = 0usize;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|error| ReplayError::Open {
                    path: name.clone(),
                    error,
                })?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let Ok(line) = std::str::from_utf8(&buf) else {
                s.unparsed(&name, line_no, "not UTF-8".into());
                continue;
            };
            if line.trim().is_empty() {
                continue;
            }
            let rec = match input::parse_line(line) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    s.unparsed(&name, line_no, e.to_string());
                    continue;
                }
            };
            s.requests += 1;
            if progress && s.requests % 100_000 == 0 {
                let secs = started.elapsed().as_secs_f64().max(1e-9);
                eprint!(
                    "\r{name}: line {line_no}, {} records ({:.0}/s)",
                    s.requests,
                    s.requests as f64 / secs
                );
            }
            let first = main.decide(&rec);
            let second = against.as_deref_mut().map(|a| a.decide(&rec));
            match &first {
                Some(d) => s.add(&main.snap.config, d),
                None => s.unmatched += 1,
            }
            if let Some(b) = &second {
                let from = first.as_ref().map_or("unmatched", |d| verdict(&d.decision));
                let to = b.as_ref().map_or("unmatched", |d| verdict(&d.decision));
                if from != to {
                    s.change(from, to, &rec, line_no, &name);
                }
            }
            if let (Some(w), Some(d)) = (sink.as_mut(), &first) {
                let cfg = &main.snap.config;
                let policy = &cfg.policies[cfg.routes[d.route].policy];
                let rid = rec.logged.as_ref().map_or("", |l| l.request_id.as_str());
                let door = rec.logged.as_ref().map_or("", |l| l.frontend.as_str());
                let line = serde_json::json!({
                    "file": name, "line": line_no, "time_us": rec.time_us,
                    "client_ip": d.facts.ip.to_string(), "route": cfg.routes[d.route].name,
                    "action": verdict(&d.decision), "score": d.decision.score,
                    "reasons": d.decision.reasons.render(&cfg.intel.lists, &policy.limits),
                    "request_id": rid, "frontend": door,
                });
                let _ = writeln!(w, "{line}");
            }
        }
    }
    if progress && s.requests >= 100_000 {
        eprintln!();
    }
    if let Some(mut w) = sink {
        w.flush().map_err(|error| ReplayError::Out {
            path: out.map(|p| p.display().to_string()).unwrap_or_default(),
            error,
        })?;
    }
    Ok(s)
}
