//! A real `redis-server` on a free loopback port in a temporary directory, for the
//! cluster tests: started, killed, restarted on the same port, asked with `redis-cli`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::wait_until;

pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    extra: Vec<String>,
    /// `redis-cli`'s own extra arguments (TLS)
    cli_extra: Vec<String>,
}

/// Whether `redis-server` and `redis-cli` are here; when not, the test is recorded as
/// skipped (`make test` and `.ci/run` install them).
pub fn available(test: &str) -> bool {
    let ok = ["redis-server", "redis-cli"].iter().all(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        super::skip(
            test,
            "redis-server / redis-cli not installed (apt-get install redis-server)",
        );
    }
    ok
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// A free port, and no server on it yet: [`RedisServer::restart`] starts it.
    pub fn not_started() -> RedisServer {
        RedisServer {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            extra: Vec::new(),
            cli_extra: Vec::new(),
        }
    }

    /// With extra `redis-server` arguments (e.g. `--cluster-enabled yes`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let mut r = RedisServer {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            cli_extra: Vec::new(),
        };
        r.restart();
        r
    }

    /// TLS only, with this certificate and key; `ca` for redis-cli to trust.
    pub fn start_tls(ca: &str, cert: &str, key: &str) -> RedisServer {
        let port = free_port();
        let mut r = RedisServer {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
            extra: [
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                cert,
                "--tls-key-file",
                key,
                "--tls-ca-cert-file",
                ca,
                "--tls-auth-clients",
                "no",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            cli_extra: ["--tls", "--cacert", ca]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Start (again) on the same port, with no data, and wait until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir.path().to_str().unwrap(),
            ])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        self.child = Some(child);
        wait_until(10, "redis-server to answer PING", || {
            self.try_cli(&["PING"]).is_some_and(|o| o.trim() == "PONG")
        });
    }

    /// Kill it (SIGKILL: as a crash, not a shutdown) and wait for the exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn try_cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.cli_extra)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// `redis-cli` with these arguments; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|| panic!("redis-cli {args:?} failed"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
