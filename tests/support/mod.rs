//! Test fixtures: an in-process server on an ephemeral port, stopped on drop, and a real
//! HTTP client (hyper's) for HTTP/1.1 and HTTP/2.

pub mod alloc;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use delay_echo::cli::Cli;
use delay_echo::platform::Platform;
use delay_echo::{App, Config, Server};
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::oneshot;

pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
}

pub fn config(args: &[&str]) -> Config {
    let cli = Cli::try_parse_from(std::iter::once("delay-echo").chain(args.iter().copied())).expect("valid flags");
    Config::from_args(&cli.serve, &Platform::host("test-host")).expect("valid config")
}

impl TestServer {
    /// Starts a server with these flags (`--listen` is ignored: the port is ephemeral).
    pub async fn start(args: &[&str]) -> TestServer {
        let config = config(args);
        // Bind before spawning so the test owns the port; probing for a free port would race.
        let main = delay_echo::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let metrics = config.metrics_listen.map(|_| delay_echo::server::bind("127.0.0.1:0".parse().unwrap()).unwrap());
        let app = delay_echo::build_app(config, &tokio::runtime::Handle::current());
        let server = Server::from_listeners(app.clone(), main, metrics);
        let addr = server.local_addr().unwrap();
        let metrics_addr = server.metrics_addr();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        let s = TestServer { addr, metrics_addr, app, stop: Some(tx) };
        // Ready is set by a task right after start (no --startup-delay in most tests).
        for _ in 0..200 {
            if s.app.readiness.is_ready() || s.app.config.lifecycle.startup.drawn > std::time::Duration::ZERO {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    /// Server-Timing part in milliseconds.
    pub fn timing(&self, part: &str) -> f64 {
        let st = self.header("server-timing");
        st.split(", ")
            .find_map(|p| p.strip_prefix(&format!("{part};dur=")))
            .unwrap_or_else(|| panic!("no {part} in {st}"))
            .parse()
            .unwrap()
    }
}

pub fn http1() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn http2() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).http2_only(true).build_http()
}

pub async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client.request(req.body(Full::new(body.into())).unwrap()).await.expect("request sent");
    let (parts, body) = resp.into_parts();
    Answer { status: parts.status, headers: parts.headers, body: body.collect().await.unwrap().to_bytes() }
}

pub async fn get(url: &str) -> Answer {
    send(&http1(), Method::GET, url, &[], Bytes::new()).await
}

/// Reads one Prometheus sample value (`name{labels}` exactly as exposed), or 0 when absent.
pub fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

pub async fn scrape(s: &TestServer) -> String {
    let addr = s.metrics_addr.unwrap_or(s.addr);
    String::from_utf8(get(&format!("http://{addr}/metrics")).await.body.to_vec()).unwrap()
}

/// CPU time used by this whole process (all threads), to check that a burn really burnt.
pub fn process_cpu_time() -> std::time::Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer we pass.
    assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) }, 0);
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
