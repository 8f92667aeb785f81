//! What a request costs in heap allocations, counted on the server's own thread
//! (support/alloc.rs) over real keep-alive connections: delay-echo against hyper-floor
//! (bench/hyper_floor.rs, the stack's floor), the figures bench/README.md quotes. Allocation
//! counts do not depend on the machine's load, so unlike timings they can be a test: a request
//! that allocates more than the bound here has put work back on the hot path.
//!
//! `make bench-allocs` prints the whole table (release build, every case).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use delay_echo::Server;

use crate::hyper_floor;
use crate::support::alloc::{Counts, count_this_thread};
use crate::support::config;

/// A server on a thread of its own with a current-thread runtime (as `--workers 1` and the
/// benchmark run it), stopped on drop.
struct Served {
    addr: SocketAddr,
    counts: &'static Counts,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Kind {
    /// hyper-floor with this delay.
    Floor(Duration),
    /// delay-echo with these flags.
    Echo(Vec<String>),
}

impl Served {
    fn start(kind: Kind, counted: bool) -> Served {
        let listener = delay_echo::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let counts: &'static Counts = Box::leak(Box::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = match &kind {
            Kind::Floor(_) => None,
            Kind::Echo(args) => Some(config(&args.iter().map(String::as_str).collect::<Vec<_>>())),
        };
        let floor_delay = match kind {
            Kind::Floor(d) => d,
            Kind::Echo(_) => Duration::ZERO,
        };
        let thread = std::thread::spawn(move || {
            if counted {
                count_this_thread(counts);
            }
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                match config {
                    None => {
                        tokio::select! {
                            r = hyper_floor::serve(listener, floor_delay) => r.unwrap(),
                            _ = stopped => {}
                        }
                    }
                    Some(config) => {
                        let app = delay_echo::build_app(config, &tokio::runtime::Handle::current());
                        let server = Server::from_listeners(app, listener, None);
                        server.run(async move { drop(stopped.await) }).await.unwrap();
                    }
                }
            });
        });
        Served { addr, counts, stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A keep-alive HTTP/1.1 client on a plain socket: sends a request and reads its whole answer.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client { stream, buf: Vec::with_capacity(4096) }
    }

    /// Sends `request` and returns the answer's status.
    fn send(&mut self, request: &[u8]) -> u16 {
        self.stream.write_all(request).unwrap();
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end]).unwrap().to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if self.buf.len() >= end + 4 + len {
                    return head[9..12].parse().unwrap();
                }
            }
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Allocations and bytes per request.
#[derive(Debug, Clone, Copy)]
struct PerRequest {
    allocs: f64,
    bytes: f64,
}

const WARM_UP: usize = 20;

/// What `served` allocates per request for `request` on one keep-alive connection, after a
/// warm-up that lets every once-only allocation (buffers, the timer, pooled connections) happen.
fn per_request(served: &Served, request: &[u8], requests: usize) -> PerRequest {
    let mut client = Client::connect(served.addr);
    for _ in 0..WARM_UP {
        assert_eq!(client.send(request), 200);
    }
    let (a0, b0) = served.counts.read();
    for _ in 0..requests {
        assert_eq!(client.send(request), 200);
    }
    let (a1, b1) = served.counts.read();
    PerRequest { allocs: (a1 - a0) as f64 / requests as f64, bytes: (b1 - b0) as f64 / requests as f64 }
}

/// What a connection costs beyond its one request: accept, serve, close, on fresh connections.
fn per_connection(served: &Served, request: &[u8], connections: usize) -> PerRequest {
    let warm = per_request(served, request, 10);
    let (a0, b0) = served.counts.read();
    for _ in 0..connections {
        let mut client = Client::connect(served.addr);
        assert_eq!(client.send(request), 200);
        drop(client);
    }
    // The server notices each close on its own time; one more request on a fresh connection
    // lets it catch up before the count is read.
    std::thread::sleep(Duration::from_millis(50));
    let (a1, b1) = served.counts.read();
    let n = connections as f64;
    PerRequest { allocs: (a1 - a0) as f64 / n - warm.allocs, bytes: (b1 - b0) as f64 / n - warm.bytes }
}

const GET: &[u8] = b"GET /hello HTTP/1.1\r\nhost: localhost\r\n\r\n";
const GET_KNOBS: &[u8] =
    b"GET /hello?delay=0ms&status=201:0&seed=7 HTTP/1.1\r\nhost: localhost\r\nx-echo-cpu: 0\r\n\r\n";
const GET_HOP: &[u8] = b"GET /hello?hop=peer HTTP/1.1\r\nhost: localhost\r\n\r\n";

fn echo(args: &[&str]) -> Served {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if !args.iter().any(|a| a.starts_with("--delay")) {
        all.push("--delay=0".into());
    }
    all.push("--instance-id=alloc-test".into());
    Served::start(Kind::Echo(all), true)
}

// The bounds below are the counts measured when they were set (bench/README.md,
// "Allocations per request"); a change that lowers one should lower its bound too.

/// At most `n` allocations per request. A server's background tasks (the relay's connection
/// pool) allocate now and then too, so the mean may pass the count by a little, never by half.
fn at_most(measured: PerRequest, n: u32) {
    assert!(measured.allocs < f64::from(n) + 0.5, "{measured:?}, more than {n} per request");
}

#[test]
fn a_delay_0_echo_without_knobs_allocates_at_most_what_the_stack_does_plus_one() {
    let floor = per_request(&Served::start(Kind::Floor(Duration::ZERO), true), GET, 100);
    let echo = per_request(&echo(&[]), GET, 100);
    assert!(echo.allocs <= floor.allocs + 1.0, "delay-echo {echo:?} per request, hyper-floor {floor:?}");
    // One: the three per-request header values, which share one buffer.
    at_most(echo, 1);
}

#[test]
fn a_connection_costs_at_most_1600_bytes_more_than_the_stacks() {
    // What it holds per connection is what 10,000 connections multiply (S2's peak RSS): the
    // request future hyper boxes per connection, the connection task, the watchdog's record
    // and the answer's header map.
    let floor = per_connection(&Served::start(Kind::Floor(Duration::ZERO), true), GET, 50);
    let echo = per_connection(&echo(&[]), GET, 50);
    assert!(echo.bytes <= floor.bytes + 1600.0, "delay-echo {echo:?} per connection, hyper-floor {floor:?}");
}

#[test]
fn a_delayed_echo_adds_only_its_timer_entry() {
    let echo = per_request(&echo(&["--delay=1ms"]), GET, 50);
    at_most(echo, 2);
}

#[test]
fn knobs_given_as_single_values_parse_without_allocating() {
    // A weighted status (two allocations: its parts and its entries) and a header hyper
    // allocates a name for (x-echo-cpu), beside the header values every answer has.
    let echo = per_request(&echo(&[]), GET_KNOBS, 100);
    at_most(echo, 4);
}

#[test]
fn a_relay_hop_allocates_at_most_what_it_did_when_measured() {
    let peer = Served::start(Kind::Echo(vec!["--delay=0".into()]), false);
    let echo = per_request(&echo(&[&format!("--peer=peer=http://{}", peer.addr)]), GET_HOP, 100);
    at_most(echo, 38);
}

/// The table bench/README.md quotes (`make bench-allocs`): every case, per request and per
/// connection.
#[test]
#[ignore = "a report, not a check: make bench-allocs"]
fn allocation_figures() {
    let peer = Served::start(Kind::Echo(vec!["--delay=0".into()]), false);
    let peer_flag = format!("--peer=peer=http://{}", peer.addr);
    let cases: [(&str, Served, &[u8]); 7] = [
        ("hyper-floor, delay 0", Served::start(Kind::Floor(Duration::ZERO), true), GET),
        ("hyper-floor, delay 1 ms", Served::start(Kind::Floor(Duration::from_millis(1)), true), GET),
        ("delay-echo, delay 1 ms, no knobs", echo(&["--delay=1ms"]), GET),
        ("delay-echo, delay 0, no knobs", echo(&[]), GET),
        ("delay-echo, delay 0, knobs (query and header)", echo(&[]), GET_KNOBS),
        ("delay-echo --access-log, delay 0, no knobs", echo(&["--access-log"]), GET),
        ("delay-echo, delay 0, a relay hop (the relaying instance)", echo(&[&peer_flag]), GET_HOP),
    ];
    println!(
        "| case | allocations per request | bytes per request | allocations per connection | bytes per connection |"
    );
    println!("|---|--:|--:|--:|--:|");
    for (name, served, request) in &cases {
        let r = per_request(served, request, 1000);
        let c = per_connection(served, request, 200);
        println!("| {name} | {:.2} | {:.0} | {:.2} | {:.0} |", r.allocs, r.bytes, c.allocs, c.bytes);
    }
}
