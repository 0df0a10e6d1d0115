//! A bare Pingora proxy built from riskgate's own code with every feature off: the
//! same server settings, upstream peer and keep-alive pool, but no routes, no lookups,
//! no header work. The load benchmark's baseline for "the cost of intelligence".
//!
//!   cargo run --release --example bare_proxy -- 127.0.0.1:8081 127.0.0.1:3000 [threads]

use std::path::Path;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::Server;
use pingora::upstreams::peer::HttpPeer;

struct Bare {
    upstream: riskgate::config::Upstream,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();
    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _s: &mut Session, _c: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(riskgate::http::proxy::upstream_peer(
            &self.upstream,
        )))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (listen, upstream) = (&args[1], &args[2]);
    let threads = args.get(3).map(String::as_str).unwrap_or("1");
    let yaml = format!("listen: [\"{listen}\"]\nupstream: \"{upstream}\"\nthreads: {threads}\n");
    let cfg = riskgate::config::parse(&yaml, Path::new("bare.yaml")).expect("config");
    let mut server = Server::new_with_opt_and_conf(None, riskgate::server::server_conf(&cfg));
    server.bootstrap();
    let mut svc = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        Bare {
            upstream: cfg.upstream.clone().expect("the config names an upstream"),
        },
        "bare",
    );
    svc.add_tcp(listen);
    server.add_service(svc);
    server.run_forever();
}
