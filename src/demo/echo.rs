//! A small HTTP/1.1 origin that answers every request with a JSON echo of what it
//! received (method, path, headers, body size) and keeps a record of it. It is the
//! origin of `riskgate demo` and of the integration tests.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One request as the origin saw it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// lower-case names, in arrival order
    pub headers: Vec<(String, String)>,
    pub body_len: usize,
    /// the body as it arrived (the chunked framing removed)
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Seen>>>, Arc<std::sync::atomic::AtomicUsize>);

impl Recorder {
    /// Requests whose head has arrived, answered or not (a slow one is counted
    /// while the origin still holds it).
    pub fn arrivals(&self) -> usize {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
    pub fn last(&self) -> Option<Seen> {
        self.0.lock().unwrap().last().cloned()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Requests seen on `path`.
    pub fn on(&self, path: &str) -> Vec<Seen> {
        self.all().into_iter().filter(|s| s.path == path).collect()
    }
    /// Keeps the last 10,000 requests, so a long-running demo stays small.
    fn push(&self, s: Seen) {
        let mut v = self.0.lock().unwrap();
        if v.len() >= 10_000 {
            v.drain(..5_000);
        }
        v.push(s);
    }
}

/// Serve until the listener's task is dropped.
pub async fn serve(listener: TcpListener, rec: Recorder) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let rec = rec.clone();
        tokio::spawn(async move {
            let _ = connection(stream, rec).await;
        });
    }
}

async fn read_chunked<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut total = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|_| std::io::Error::other("bad chunk size"))?;
        if size == 0 {
            // trailers until an empty line
            loop {
                let mut t = String::new();
                r.read_line(&mut t).await?;
                if t.trim().is_empty() {
                    return Ok(total);
                }
            }
        }
        let mut buf = vec![0; size + 2];
        r.read_exact(&mut buf).await?;
        total.extend_from_slice(&buf[..size]);
    }
}

async fn connection(stream: TcpStream, rec: Recorder) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut r = BufReader::new(stream);
    loop {
        // read the head
        let mut head = Vec::with_capacity(1024);
        loop {
            let n = r.read_until(b'\n', &mut head).await?;
            if n == 0 {
                return Ok(());
            }
            if head.ends_with(b"\r\n\r\n") || head == b"\r\n" {
                break;
            }
            if head.len() > 64 * 1024 {
                return Err(std::io::Error::other("head too large"));
            }
        }
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut hs);
        if !matches!(req.parse(&head), Ok(httparse::Status::Complete(_))) {
            return Ok(());
        }
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        rec.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let close = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        // as any HTTP/1.1 server: a client that waits for `100 Continue` gets it
        if get("expect").is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue")) {
            r.get_mut()
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        let body = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            read_chunked(&mut r).await?
        } else {
            let n: usize = get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; n];
            r.read_exact(&mut body).await?;
            body
        };
        // a test hook: `x-echo-delay-ms` makes the origin slow
        if let Some(ms) = get("x-echo-delay-ms").and_then(|v| v.parse::<u64>().ok()) {
            tokio::time::sleep(std::time::Duration::from_millis(ms.min(30_000))).await;
        }
        let seen = Seen {
            method: req.method.unwrap_or("").to_string(),
            path: req.path.unwrap_or("").to_string(),
            headers,
            body_len: body.len(),
            body,
        };
        let body = serde_json::to_vec(&serde_json::json!({
            "origin": "riskgate echo",
            "method": seen.method,
            "path": seen.path,
            "risk": seen.headers.iter().filter(|(k, _)| k.starts_with("x-risk-"))
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect::<serde_json::Map<_, _>>(),
        }))
        .unwrap_or_default();
        rec.push(seen);
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n",
            body.len() + 1,
            if close { "connection: close\r\n" } else { "" }
        );
        let w = r.get_mut();
        w.write_all(resp.as_bytes()).await?;
        w.write_all(&body).await?;
        w.write_all(b"\n").await?;
        if close {
            return Ok(());
        }
    }
}

/// Bind `addr` and serve on a runtime of its own, on a background thread.
pub fn spawn(addr: std::net::SocketAddr) -> std::io::Result<(std::net::SocketAddr, Recorder)> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    let rec = Recorder::default();
    let rec2 = rec.clone();
    std::thread::Builder::new()
        .name("echo-origin".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("echo runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("echo listener");
                serve(listener, rec2).await;
            });
        })?;
    Ok((local, rec))
}
