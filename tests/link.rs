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
