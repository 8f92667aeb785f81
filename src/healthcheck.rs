//! `delay-echo healthcheck`: a minimal HTTP/1.1 GET over a plain socket, so a `scratch` image
//! (no shell, no curl) can have a Docker HEALTHCHECK. Exit 0 on a 200, 1 otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::HealthcheckArgs;

/// Probes the URL the arguments name; the exit code says whether it answered 200.
pub fn run(args: &HealthcheckArgs) -> ExitCode {
    let url = args.url.clone().unwrap_or_else(|| default_url(args.listen, args.port));
    match probe(&url, args.timeout) {
        Ok(200) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("healthcheck: {url} answered {code}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The default probe URL: the port this instance would listen on, on loopback.
fn default_url(listen: Option<SocketAddr>, port: Option<u16>) -> String {
    let port = listen.map(|a| a.port()).or(port).unwrap_or(8080);
    format!("http://127.0.0.1:{port}/readyz")
}

/// Probes `url`; Ok(status) or a message saying what failed.
pub fn probe(url: &str, timeout: Duration) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    // A static binary in an empty image has no name resolver: loopback names are mapped here.
    let resolvable = match authority.split_once(':') {
        Some(("localhost", port)) => format!("127.0.0.1:{port}"),
        None if authority == "localhost" => "127.0.0.1:80".to_owned(),
        None => format!("{authority}:80"),
        _ => authority.to_owned(),
    };
    let addr = resolvable
        .to_socket_addrs()
        .map_err(|e| format!("{authority:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority:?}: no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).and_then(|()| s.set_write_timeout(Some(timeout))).map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: delay-echo-healthcheck\r\n\r\n"
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut head = [0u8; 32];
    let n = s.read(&mut head).map_err(|e| format!("read: {e}"))?;
    let line = std::str::from_utf8(&head[..n]).unwrap_or("");
    line.strip_prefix("HTTP/1.1 ")
        .or_else(|| line.strip_prefix("HTTP/1.0 "))
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_url_follows_listen_then_port() {
        assert_eq!(default_url(None, None), "http://127.0.0.1:8080/readyz");
        assert_eq!(default_url(None, Some(9000)), "http://127.0.0.1:9000/readyz");
        assert_eq!(default_url(Some("0.0.0.0:7000".parse().unwrap()), Some(9000)), "http://127.0.0.1:7000/readyz");
    }

    #[test]
    fn localhost_needs_no_resolver() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            // Read the whole head: closing with unread bytes would reset the connection.
            let mut head = Vec::new();
            let mut buf = [0u8; 256];
            while !head.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "the probe closed before its head ended");
                head.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").unwrap();
        });
        assert_eq!(probe(&format!("http://localhost:{port}/readyz"), Duration::from_secs(2)), Ok(200));
        server.join().unwrap();
    }

    #[test]
    fn unsupported_urls_are_refused_with_a_reason() {
        assert!(probe("https://127.0.0.1:1/readyz", Duration::from_millis(100)).unwrap_err().contains("http://"));
    }
}
