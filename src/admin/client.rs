//! `riskgate decisions add|list|delete|import`: the decisions API from the command
//! line, on the admin port of the config's gateway, with its admin token.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::Config;
use crate::decisions::input::{self, MAX_BATCH};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Usage(String),
    #[error("the admin endpoint at {url}: {message}")]
    Http { url: String, message: String },
    /// the API refused the call: its answer, as it gave it
    #[error("{status}: {message}")]
    Refused { status: u16, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The admin endpoint of a config, as a client reaches it.
pub struct Admin {
    base: String,
    token: String,
    http: reqwest::Client,
}

fn refused(status: u16, v: &Value) -> ClientError {
    let mut message = v["error"].as_str().unwrap_or("refused").to_string();
    if let Some(list) = v["problems"].as_array() {
        if list.len() > 1 || list.iter().any(|p| p.get("index").is_some()) {
            for p in list {
                message.push_str(&format!(
                    "\n  {}{}",
                    p.get("index")
                        .map(|i| format!("decision {i}: "))
                        .unwrap_or_default(),
                    p["error"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    ClientError::Refused { status, message }
}

impl Admin {
    /// From the config: its `admin` address (a wildcard one reached on loopback) and
    /// its `admin_token_file`, or `url` given on the command line.
    pub fn of(cfg: &Config, url: Option<&str>) -> Result<Admin, ClientError> {
        let Some(path) = &cfg.admin_token_file else {
            return Err(ClientError::Usage(format!(
                "{}: the decisions API needs admin_token_file in the config",
                cfg.file.display()
            )));
        };
        let token = std::fs::read_to_string(path)
            .map_err(|e| ClientError::Usage(format!("cannot read {}: {e}", path.display())))?
            .trim()
            .to_string();
        let base = match url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => {
                let mut a = cfg.admin;
                if a.ip().is_unspecified() {
                    a.set_ip(match a {
                        std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                        std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                    });
                }
                format!("http://{a}")
            }
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Usage(e.to_string()))?;
        Ok(Admin { base, token, http })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(b).unwrap_or_default());
        }
        let fail = |e: reqwest::Error| ClientError::Http {
            url: self.base.clone(),
            message: e.to_string(),
        };
        let resp = req.send().await.map_err(fail)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(fail)?;
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({"error": String::from_utf8_lossy(&bytes)}));
        Ok((status, v))
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let (status, v) = self.call(method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(v)
        } else {
            Err(refused(status, &v))
        }
    }

    pub async fn add(&self, decision: Value) -> Result<Value, ClientError> {
        self.ok(reqwest::Method::POST, "/decisions", Some(&decision))
            .await
    }

    pub async fn list(&self, filters: &[(&str, String)]) -> Result<Vec<Value>, ClientError> {
        let mut out = Vec::new();
        let mut after = 0u64;
        loop {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in filters {
                q.append_pair(k, v);
            }
            q.append_pair("after", &after.to_string());
            let v = self
                .ok(
                    reqwest::Method::GET,
                    &format!("/decisions?{}", q.finish()),
                    None,
                )
                .await?;
            out.extend(v["decisions"].as_array().cloned().unwrap_or_default());
            match v["next_after"].as_u64() {
                Some(n) => after = n,
                None => return Ok(out),
            }
        }
    }

    pub async fn delete(&self, id: u64) -> Result<Value, ClientError> {
        self.ok(reqwest::Method::DELETE, &format!("/decisions/{id}"), None)
            .await
    }

    /// Import a file: every line checked first (by the API, without storing); with a
    /// bad line, nothing is imported unless `partial`, which imports the rest. The
    /// lines refused, by number, and how many were imported.
    pub async fn import(
        &self,
        file: &Path,
        partial: bool,
    ) -> Result<(Vec<(usize, String)>, usize), ClientError> {
        let text = std::fs::read_to_string(file)?;
        let csv_format = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            || !text.trim_start().starts_with('{');
        let mut bad: Vec<(usize, String)> = Vec::new();
        let mut good: Vec<(usize, Value)> = Vec::new();
        for (line, r) in input::import_lines(&text, csv_format) {
            match r {
                Ok(v) => good.push((line, v)),
                Err(e) => bad.push((line, e)),
            }
        }
        // the API checks each part without storing it
        for part in good.chunks(MAX_BATCH) {
            let list = Value::Array(part.iter().map(|(_, v)| v.clone()).collect());
            let (status, v) = self
                .call(
                    reqwest::Method::POST,
                    "/decisions?dry_run=true",
                    Some(&list),
                )
                .await?;
            match status {
                200 => {}
                400 => {
                    let problems = v["problems"].as_array().cloned().unwrap_or_default();
                    if problems.iter().all(|p| p.get("index").is_none()) {
                        return Err(refused(status, &v));
                    }
                    for p in problems {
                        if let Some(i) = p["index"].as_u64() {
                            let line = part[i as usize].0;
                            bad.push((line, p["error"].as_str().unwrap_or_default().to_string()));
                        }
                    }
                }
                _ => return Err(refused(status, &v)),
            }
        }
        bad.sort();
        if !bad.is_empty() && !partial {
            return Ok((bad, 0));
        }
        let refused_lines: std::collections::HashSet<usize> = bad.iter().map(|(l, _)| *l).collect();
        let rest: Vec<Value> = good
            .into_iter()
            .filter(|(l, _)| !refused_lines.contains(l))
            .map(|(_, v)| v)
            .collect();
        let mut imported = 0;
        for part in rest.chunks(MAX_BATCH) {
            let v = self
                .ok(
                    reqwest::Method::POST,
                    "/decisions",
                    Some(&Value::Array(part.to_vec())),
                )
                .await?;
            imported += v["added"].as_array().map_or(0, Vec::len);
        }
        Ok((bad, imported))
    }
}

/// One decision as a line of `decisions list`.
pub fn line(v: &Value) -> String {
    let s = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        o => o.to_string(),
    };
    format!(
        "{:>6}  {:<8} {:<16} {:<40} {:<10} until {}  {}",
        s("id"),
        s("action"),
        s("scope"),
        s("value"),
        s("origin"),
        s("expires"),
        s("reason")
    )
}
