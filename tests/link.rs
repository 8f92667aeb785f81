//! The lab's link as its own binary (`delay-echo-link`): its flags and env twins, bad flags, and a
//! connection carried through it. How it holds chunks is tested in src/link.rs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LINK: &str = env!("CARGO_BIN_EXE_delay-echo-link");

#[test]
fn help_documents_every_flag_with_its_env_twin() {
    let out = Command::new(LINK).arg("--help").env_clear().output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, env) in [
        ("route", "DELAY_ECHO_LINK_ROUTES"),
        ("delay", "DELAY_ECHO_LINK_DELAY"),
        ("return-delay", "DELAY_ECHO_LINK_RETURN_DELAY"),
        ("jitter", "DELAY_ECHO_LINK_JITTER"),
        ("control", "DELAY_ECHO_LINK_CONTROL"),
    ] {
        assert!(help.contains(&format!("--{flag}")), "--{flag} missing from --help:\n{help}");
        assert!(help.contains(&format!("env: {env}")), "{env} missing from --help:\n{help}");
    }
    assert!(help.contains("Usage: delay-echo-link"), "{help}");
}

#[test]
fn bad_flags_exit_2_with_what_is_allowed() {
    for (args, allowed) in [
        (&["--route", "127.0.0.1:80"][..], "IP:PORT=IP:PORT"),
        (&["--route", "127.0.0.1:0=127.0.0.1:1", "--delay", "5"], "e.g. 5ms"),
        (&["--route", "127.0.0.1:0=127.0.0.1:1", "--return-delay", "x"], "--return-delay"),
        (&["--delay", "5ms"], "--route"),
    ] {
        let out = Command::new(LINK).args(args).env_clear().output().unwrap();
        let msg = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {msg}");
        assert!(msg.contains(allowed), "{args:?}: {msg}");
    }
}

/// A TCP echo server on loopback, for the life of the test process.
fn echo_server() -> SocketAddr {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = server.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in server.incoming().map_while(Result::ok) {
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    if s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    target
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Started with a 2 ms delay each way in front of an echo server: it says where it listens and
/// `ready`, and an exchange through it comes back whole, no sooner than the two delays.
#[test]
fn it_says_ready_and_carries_a_connection_with_its_delays() {
    let target = echo_server();
    let mut child = Command::new(LINK)
        .args(["--route", &format!("127.0.0.1:0={target}"), "--delay", "2ms"])
        .env_clear()
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _link = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    // "link 127.0.0.1:PORT -> TARGET: delay 2ms, back 2ms, jitter 0ns"
    let addr: SocketAddr = first.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(first.contains(&format!("-> {target}")) && first.contains("back 2ms"), "{first}");
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for msg in [&b"hello"[..], b"again"] {
        let t = Instant::now();
        s.write_all(msg).unwrap();
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, msg);
        assert!(t.elapsed() >= Duration::from_millis(4), "{:?} < 2ms + 2ms", t.elapsed());
    }
}

fn exchange(s: &mut TcpStream, msg: &[u8]) -> Duration {
    let t = Instant::now();
    s.write_all(msg).unwrap();
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, msg);
    t.elapsed()
}

/// The lab's `degrade`: a control file and a SIGHUP add delay to both directions of a connection
/// already open, the link answers `extra …` once it is in force, a bad file is refused and
/// changes nothing, and `0` takes it away again.
#[test]
fn sighup_reads_the_control_file_and_adds_its_delay_both_ways() {
    let target = echo_server();
    let dir = std::env::temp_dir().join(format!("link-bin-control-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let control = dir.join("control");
    let mut child = Command::new(LINK)
        .args(["--route", &format!("127.0.0.1:0={target}"), "--delay", "1ms"])
        .arg("--control")
        .arg(&control)
        .env_clear()
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let stdout = child.stdout.take().unwrap();
    let _link = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let addr: SocketAddr = lines.next().unwrap().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    exchange(&mut s, b"warm");
    let mut hup = |text: &str| {
        std::fs::write(&control, text).unwrap();
        // SAFETY: kill(2) with a child's pid and SIGHUP only sends a signal.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
        lines.next().unwrap().unwrap()
    };
    assert_eq!(hup("15ms"), "extra 15ms");
    let took = exchange(&mut s, b"slow");
    assert!(took >= Duration::from_millis(32), "{took:?} < (1ms + 15ms) both ways");
    let refused = hup("fast");
    assert!(refused.starts_with("control refused:") && refused.contains("allowed: one duration"), "{refused}");
    assert!(refused.ends_with("extra stays 15ms"), "{refused}");
    assert!(exchange(&mut s, b"still") >= Duration::from_millis(32));
    assert_eq!(hup("0"), "extra 0ns");
    let fastest = (0..5).map(|_| exchange(&mut s, b"back")).min().unwrap();
    assert!(fastest >= Duration::from_millis(2) && fastest < Duration::from_millis(30), "{fastest:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
