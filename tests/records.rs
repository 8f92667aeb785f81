//! The records of `--access-log` (docs/records.md): the real binary on ephemeral ports, driven
//! by a real client, its stderr read line by line. The Python suite validates the same lines
//! against docs/records.schema.json (loadtests/records/tests); these check the values.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_delay-echo");

/// A delay-echo process whose stderr lines are collected as they come.
struct Instance {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Instance {
    fn start(args: &[&str]) -> Instance {
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .env_clear()
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut i = Instance { child, addr: "0.0.0.0:0".parse().unwrap(), lines };
        let start = i.wait_for(|r| r["event"] == "start");
        i.addr = start["address"].as_str().unwrap().parse().unwrap();
        i.wait_for(|r| r["event"] == "ready");
        i
    }

    /// The records written so far (lines with `"v"`; other log lines are skipped, as readers do).
    fn records(&self) -> Vec<Value> {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v.get("v").is_some()).collect()
    }

    fn wait_for(&self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(r) = self.records().into_iter().find(|r| pred(r)) {
                return r;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no such record in 10 s; saw:\n{}", self.lines.lock().unwrap().join("\n"));
    }

    /// SIGTERM, then every record once the process has exited (and its stderr is read).
    fn stop(mut self) -> Vec<Value> {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) }, 0);
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
        self.wait_for(|r| r["event"] == "drain");
        self.records()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// The requests' records by their `seq` (as the answers' X-Request-Seq say).
fn by_seq(records: &[Value]) -> BTreeMap<u64, Value> {
    records
        .iter()
        .filter(|r| r["event"] == "request" && r["seq"].is_u64())
        .map(|r| (r["seq"].as_u64().unwrap(), r.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_request_records_its_leg_with_network_ms_the_round_trip_minus_the_peers_total() {
    let before = unix_now();
    let us = Instance::start(&["--access-log", "--region", "us", "--instance-id", "us-1", "--delay", "5ms"]);
    let peer = format!("us=http://{}", us.addr);
    let eu = Instance::start(&[
        "--access-log",
        "--region",
        "eu",
        "--instance-id",
        "eu-1",
        "--delay",
        "1ms",
        "--peer",
        &peer,
    ]);
    let a = get(&eu.url("/relayed?hop=us")).await;
    assert_eq!(a.status.as_u16(), 200);
    let (eu_records, us_records) = (eu.stop(), us.stop());
    let after = unix_now();

    let sent = &by_seq(&eu_records)[&a.header("x-request-seq").parse().unwrap()];
    assert_eq!((sent["instance"].as_str(), sent["region"].as_str()), (Some("eu-1"), Some("eu")));
    assert_eq!(
        (sent["method"].as_str(), sent["path"].as_str(), sent["status"].as_u64()),
        (Some("GET"), Some("/relayed"), Some(200))
    );
    let legs = sent["legs"].as_array().unwrap();
    assert_eq!(legs.len(), 1, "{sent}");
    let leg = &legs[0];
    assert_eq!((leg["peer"].as_str(), leg["status"].as_u64()), (Some("us"), Some(200)));
    // The same figures the client read in Server-Timing, and network = rtt - peer total.
    let hop = a.header("server-timing").split(", ").find_map(|e| e.strip_prefix("hop;desc=\"eu>us\";dur=")).unwrap();
    assert_eq!(f(&leg["rtt_ms"]), hop.parse::<f64>().unwrap());
    assert!((f(&leg["network_ms"]) - (f(&leg["rtt_ms"]) - f(&leg["peer_total_ms"]))).abs() < 1e-9, "{leg}");
    assert!(f(&leg["network_ms"]) >= 0.0 && f(&leg["peer_total_ms"]) >= 5.0, "{leg}");
    // The peer's own record of the same request: its total is the leg's peer total.
    let received: Vec<_> = us_records.iter().filter(|r| r["event"] == "request").collect();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(f(&received[0]["total_ms"]), f(&leg["peer_total_ms"]));
    assert_eq!(received[0]["legs"], serde_json::json!([]), "a peer's records hold only its own legs");
    assert!(f(&sent["total_ms"]) >= f(&leg["rtt_ms"]) && f(&sent["sleep_ms"]) >= 1.0, "{sent}");
    // Arrival time on both clocks, inside the test's window, the relayed one after the sender's.
    for r in [sent, received[0]] {
        let t = f(&r["t_unix"]);
        assert!(before <= t && t <= after, "{r}");
        let ts = humantime::parse_rfc3339(r["ts"].as_str().unwrap()).unwrap();
        assert_eq!(ts.duration_since(UNIX_EPOCH).unwrap().as_micros(), (t * 1e6).round() as u128, "{r}");
    }
    assert!(f(&received[0]["t_unix"]) >= f(&sent["t_unix"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_a_record_with_its_cache_status_and_the_lifecycle_brackets_them() {
    let s = Instance::start(&[
        "--access-log",
        "--instance-id",
        "solo",
        "--delay",
        "1ms",
        "--max-concurrency",
        "1",
        "--max-queue",
        "0",
        "--startup-delay",
        "20ms",
        "--drain-delay",
        "30ms",
    ]);
    let c = http1();
    let miss = get(&s.url("/c?cache=60s")).await;
    let etag = miss.header("etag").to_owned();
    let revalidated = send(&c, hyper::Method::GET, &s.url("/c?cache=60s"), &[("if-none-match", &etag)], "").await;
    assert_eq!(revalidated.status.as_u16(), 304);
    let no_store = get(&s.url("/n?cache=no-store")).await;
    let plain = get(&s.url("/p")).await;
    let bad = get(&s.url("/bad?delay=soon")).await;
    assert_eq!(bad.status.as_u16(), 400);
    // One slot, no queue: a request while the slow one holds the slot is rejected (once the
    // slow one is in flight, as the instance's own gauge says).
    let slow_url = s.url("/slow?delay=2s");
    let slow = tokio::spawn(async move { get(&slow_url).await });
    let deadline = Instant::now() + Duration::from_secs(5);
    while sample(&String::from_utf8_lossy(&get(&s.url("/metrics")).await.body), "delay_echo_in_flight_requests") < 1.0 {
        assert!(Instant::now() < deadline, "the slow request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(get(&s.url("/rejected")).await.status.as_u16(), 503);
    let slow = slow.await.unwrap();
    let addr = s.addr.to_string();
    let records = s.stop();

    let seqs = by_seq(&records);
    let rec = |a: &Answer| &seqs[&a.header("x-request-seq").parse().unwrap()];
    for (answer, status, cache) in [
        (&miss, 200, Some("miss")),
        (&revalidated, 304, Some("revalidated")),
        (&no_store, 200, Some("no-store")),
        (&plain, 200, None),
        (&slow, 200, None),
    ] {
        let r = rec(answer);
        assert_eq!((r["status"].as_u64(), r["cache"].as_str()), (Some(status), cache), "{r}");
        assert_eq!(f(&r["total_ms"]), answer.timing("total"), "{r}");
        assert_eq!(r["legs"], serde_json::json!([]));
    }
    let requests: Vec<_> = records.iter().filter(|r| r["event"] == "request").collect();
    assert_eq!(requests.len(), 7, "one per answer: {requests:?}");
    let refused: Vec<_> = requests.iter().filter(|r| r["seq"].is_null()).collect();
    assert_eq!(refused.len(), 1);
    assert_eq!((refused[0]["status"].as_u64(), refused[0]["path"].as_str()), (Some(400), Some("/bad")));
    let rejected: Vec<_> = requests.iter().filter(|r| r["status"] == 503).collect();
    assert_eq!(rejected.len(), 1, "{requests:?}");
    assert_eq!((rejected[0]["path"].as_str(), rejected[0]["seq"].is_u64()), (Some("/rejected"), true));

    // start → ready (after the drawn startup delay) → requests → drain, each once.
    let at = |event: &str| {
        let found: Vec<_> = records.iter().filter(|r| r["event"] == event).collect();
        assert_eq!(found.len(), 1, "{event}: {found:?}");
        f(&found[0]["t_unix"])
    };
    let (start, ready, drain) = (at("start"), at("ready"), at("drain"));
    assert!(ready - start >= 0.0199, "ready {ready} start {start}");
    let start_record = records.iter().find(|r| r["event"] == "start").unwrap();
    assert_eq!(f(&start_record["startup_delay_ms"]), 20.0);
    assert_eq!(start_record["address"].as_str(), Some(addr.as_str()));
    let drain_record = records.iter().find(|r| r["event"] == "drain").unwrap();
    assert_eq!(f(&drain_record["drain_delay_ms"]), 30.0);
    for r in &records {
        assert_eq!(
            (r["v"].as_u64(), r["instance"].as_str(), &r["region"]),
            (Some(1), Some("solo"), &Value::Null),
            "{r}"
        );
        if r["event"] == "request" {
            let t = f(&r["t_unix"]);
            assert!(ready <= t && t <= drain, "{r}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_leg_is_recorded_with_its_peer_and_null_figures() {
    // A peer that never answers: the kernel accepts the connection into a backlog nobody reads.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = format!("gone=http://{}", silent.local_addr().unwrap());
    let s = Instance::start(&["--access-log", "--delay", "0", "--peer", &peer, "--peer-timeout", "200ms"]);
    let a = get(&s.url("/x?hop=gone")).await;
    assert_eq!(a.status.as_u16(), 504);
    let records = s.stop();
    drop(silent);
    let r = records.iter().find(|r| r["event"] == "request").unwrap();
    assert_eq!(r["status"].as_u64(), Some(504));
    assert_eq!(
        r["legs"],
        serde_json::json!([{"peer": "gone", "status": null, "rtt_ms": null, "peer_total_ms": null, "network_ms": null}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_access_log_no_record_is_written() {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
        .env_clear()
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok);
    let listening = lines.find(|l| l.contains("\"listening\"")).unwrap();
    let addr = serde_json::from_str::<Value>(&listening).unwrap()["address"].as_str().unwrap().to_owned();
    assert_eq!(get(&format!("http://{addr}/?delay=0")).await.status.as_u16(), 200);
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let rest: Vec<String> = lines.collect();
    assert!(rest.iter().any(|l| l.contains("shutdown complete")), "{rest:?}");
    assert!(rest.iter().all(|l| !l.contains("\"v\":")), "{rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_client_went_away_is_recorded_as_499_with_its_seq() {
    let s = Instance::start(&["--access-log", "--delay", "0"]);
    let in_flight = || async {
        let m = get(&s.url("/metrics")).await;
        sample(&String::from_utf8_lossy(&m.body), "delay_echo_in_flight_requests")
    };
    let mut left = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut left, b"GET /left?delay=5s HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while in_flight().await < 1.0 {
        assert!(Instant::now() < deadline, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(left);
    while in_flight().await > 0.0 {
        assert!(Instant::now() < deadline, "the request was not let go");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = get(&s.url("/after")).await;
    let records = s.stop();
    let requests: Vec<_> = records.iter().filter(|r| r["event"] == "request").collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let gone = requests.iter().find(|r| r["path"] == "/left").unwrap();
    assert_eq!((gone["status"].as_u64(), gone["seq"].as_u64()), (Some(499), Some(1)), "{gone}");
    assert!(f(&gone["total_ms"]) < 5000.0, "{gone}");
    assert_eq!(after.header("x-request-seq"), "2");
}
