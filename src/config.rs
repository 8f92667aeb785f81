//! The validated configuration: flags turned into typed values once, at start-up.
//!
//! Everything downstream receives its part of `Config` and never sees a raw string, so a bad
//! flag stops the process before it binds, with a message naming the flag and what it accepts.
//! Each component declares its own settings (`admission::Limits`, `conn::Timeouts`,
//! `server::settings`, `relay::peers::Settings`, the knobs' `Caps`); this module only fills them in, so
//! dependencies point one way: `cli` → `config` → the components, none of which reads `config`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::admission;
use crate::cli::ServeArgs;
use crate::conn::Timeouts;
use crate::knobs::{Size, Value, Values, parse_seed};
use crate::platform::Platform;
use crate::relay::peers;
use crate::server::settings::{Lifecycle, Limits, StartupDelay};
use crate::telemetry::LogFormat;

pub use crate::knobs::Caps;

/// Server defaults for the per-request knobs; replaceable at run time through PUT /config.
pub type Defaults = Values;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub defaults: Defaults,
    pub caps: Caps,
    pub no_overrides: bool,
    pub admission: admission::Limits,
    pub reject_status: u16,
    pub lifecycle: Lifecycle,
    pub timeouts: Timeouts,
    pub connections: Limits,
    pub control_token: Option<String>,
    pub instance_id: String,
    pub log_format: LogFormat,
    pub access_log: bool,
    pub workers: usize,
    pub relay: peers::Settings,
}

/// A configuration error, naming the flag (and its environment twin) and what is allowed.
#[derive(Debug, thiserror::Error)]
#[error("--{flag} (env {env}): {message}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub env: String,
    pub message: String,
}

fn bad(flag: &'static str, message: impl Into<String>) -> ConfigError {
    let env = format!("DELAY_ECHO_{}", flag.replace('-', "_").to_uppercase());
    ConfigError { flag, env, message: message.into() }
}

/// Parses a plain duration flag (`5s`, `500ms`, `0`).
fn duration(flag: &'static str, s: &str) -> Result<Duration, ConfigError> {
    Duration::parse_one(s.trim())
        .map_err(|e| bad(flag, format!("{e}; allowed: a duration with a unit, e.g. 500ms or 10s")))
}

fn size(flag: &'static str, s: &str) -> Result<Size, ConfigError> {
    Size::parse_one(s.trim()).map_err(|e| bad(flag, format!("{e}; allowed: a size with a unit, e.g. 64KiB or 10MiB")))
}

fn addr(flag: &'static str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse()
        .map_err(|_| bad(flag, format!("{s:?} is not an address; allowed: IP:PORT, e.g. 0.0.0.0:8080 or [::]:8080")))
}

/// The listen address: `--listen`, else `0.0.0.0:$PORT` (as platforms set it), else port 8080.
fn listen_addr(listen: Option<&str>, port: Option<&str>) -> Result<SocketAddr, ConfigError> {
    match (listen, port) {
        (Some(l), _) => addr("listen", l),
        (None, Some(p)) => p
            .trim()
            .parse::<u16>()
            .map(|p| SocketAddr::from(([0, 0, 0, 0], p)))
            .map_err(|_| bad("listen", format!("PORT={p:?} is not a port number; allowed: 0 to 65535"))),
        (None, None) => Ok(SocketAddr::from(([0, 0, 0, 0], 8080))),
    }
}

impl Config {
    /// Validates the flags; `platform` gives the instance id when `--instance-id` does not.
    pub fn from_args(a: &ServeArgs, platform: &Platform) -> Result<Config, ConfigError> {
        let caps = Caps {
            max_delay: duration("max-delay", &a.max_delay)?,
            max_cpu: duration("max-cpu", &a.max_cpu)?,
            max_size: size("max-size", &a.max_size)?,
            max_body: size("max-body", &a.max_body)?,
        };
        let defaults = Defaults::from_flags(&a.knobs, &caps).map_err(|b| bad(b.param, b.err.to_string()))?;
        if !matches!(a.reject_status, 429 | 503) {
            return Err(bad("reject-status", format!("{} is not allowed; allowed: 503 or 429", a.reject_status)));
        }
        if a.max_connections == 0 {
            return Err(bad("max-connections", "0 would refuse every client; allowed: 1 or more"));
        }
        let max_header_size = size("max-header-size", &a.max_header_size)?.0;
        if !(1024..=1 << 20).contains(&max_header_size) {
            return Err(bad("max-header-size", "allowed: 1KiB to 1MiB"));
        }
        let header_read_timeout = duration("header-read-timeout", &a.header_read_timeout)?;
        let idle_timeout = duration("idle-timeout", &a.idle_timeout)?;
        for (flag, d) in [("header-read-timeout", header_read_timeout), ("idle-timeout", idle_timeout)] {
            if d.is_zero() {
                return Err(bad(flag, "0 would close every connection; allowed: a positive duration"));
            }
        }
        let control_token = a.control_token.clone().filter(|t| !t.is_empty());
        if control_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(bad("control-token", "too short to be a secret; allowed: 16 characters or more"));
        }
        let instance_id = match a.instance_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => {
                if !id.bytes().all(|b| b.is_ascii_graphic()) || id.len() > 128 {
                    return Err(bad("instance-id", "allowed: 1 to 128 visible ASCII characters"));
                }
                id.to_owned()
            }
            _ => platform.instance_id(),
        };
        let relay = peers::Settings {
            peers: peers::parse_peers(&a.peers).map_err(|message| ConfigError {
                flag: "peer",
                env: "DELAY_ECHO_PEERS".into(),
                message,
            })?,
            region: peers::parse_region(a.region.as_deref(), a.aws_region.as_deref()).map_err(|e| bad("region", e))?,
            max_hops: a.max_hops,
            peer_timeout: duration("peer-timeout", &a.peer_timeout)?,
            peer_ca: match &a.peer_ca {
                Some(path) => peers::load_peer_ca(path).map_err(|e| bad("peer-ca", e))?,
                None => Vec::new(),
            },
        };
        if relay.peer_timeout.is_zero() {
            return Err(bad("peer-timeout", "0 would time out every hop; allowed: a positive duration"));
        }
        Ok(Config {
            listen: listen_addr(a.listen.as_deref(), a.port.as_deref())?,
            metrics_listen: a.metrics_listen.as_deref().map(|m| addr("metrics-listen", m)).transpose()?,
            defaults,
            caps,
            no_overrides: a.no_overrides,
            admission: admission::Limits {
                max_concurrency: a.max_concurrency,
                max_queue: a.max_queue,
                queue_timeout: duration("queue-timeout", &a.queue_timeout)?,
            },
            reject_status: a.reject_status,
            lifecycle: Lifecycle {
                startup: {
                    let seed = a
                        .startup_seed
                        .as_deref()
                        .map(parse_seed)
                        .transpose()
                        .map_err(|e| bad("startup-seed", e.to_string()))?;
                    StartupDelay::draw(&a.startup_delay, seed).map_err(|e| bad("startup-delay", e.to_string()))?
                },
                drain_delay: duration("drain-delay", &a.drain_delay)?,
                shutdown_timeout: duration("shutdown-timeout", &a.shutdown_timeout)?,
            },
            control_token,
            instance_id,
            log_format: a.log_format,
            access_log: a.access_log,
            timeouts: Timeouts { header_read: header_read_timeout, idle: idle_timeout },
            connections: Limits { max_connections: a.max_connections, max_header_size: max_header_size as usize },
            workers: a.workers,
            relay,
        })
    }
}

impl Config {
    /// The resolved configuration as `--print-config` prints it: durations in seconds and sizes
    /// in bytes, so a checker reads numbers instead of parsing the grammar again; the control
    /// token's presence only.
    pub fn describe(&self) -> serde_json::Value {
        let knobs: serde_json::Map<String, serde_json::Value> = crate::knobs::ALL
            .iter()
            .filter(|k| k.default.is_some())
            .map(|k| (k.name.to_owned(), self.defaults.show(k).into()))
            .collect();
        let startup = &self.lifecycle.startup;
        serde_json::json!({
            "listen": self.listen.to_string(),
            "metrics_listen": self.metrics_listen.map(|a| a.to_string()),
            "defaults": knobs,
            "max_delay_s": self.caps.max_delay.as_secs_f64(),
            "max_cpu_s": self.caps.max_cpu.as_secs_f64(),
            "max_size_bytes": self.caps.max_size.0,
            "max_body_bytes": self.caps.max_body.0,
            "overrides": !self.no_overrides,
            "max_concurrency": self.admission.max_concurrency,
            "max_queue": self.admission.max_queue,
            "queue_timeout_s": self.admission.queue_timeout.as_secs_f64(),
            "reject_status": self.reject_status,
            "startup_delay": startup.spec.to_string(),
            "startup_seed": startup.seed,
            "startup_delay_s": startup.drawn.as_secs_f64(),
            "drain_delay_s": self.lifecycle.drain_delay.as_secs_f64(),
            "shutdown_timeout_s": self.lifecycle.shutdown_timeout.as_secs_f64(),
            "header_read_timeout_s": self.timeouts.header_read.as_secs_f64(),
            "idle_timeout_s": self.timeouts.idle.as_secs_f64(),
            "max_connections": self.connections.max_connections,
            "max_header_size_bytes": self.connections.max_header_size,
            "writable": self.control_token.is_some(),
            "instance_id": self.instance_id,
            "log_format": match self.log_format { LogFormat::Text => "text", LogFormat::Json => "json" },
            "access_log": self.access_log,
            "workers": self.workers,
            "peers": self.relay.peers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            "region": self.relay.region,
            "max_hops": self.relay.max_hops,
            "peer_timeout_s": self.relay.peer_timeout.as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs::Dist;
    use clap::Parser;

    fn parse(args: &[&str], port: Option<&str>) -> Result<Config, ConfigError> {
        let mut cli = crate::cli::Cli::try_parse_from(std::iter::once("delay-echo").chain(args.iter().copied()))
            .expect("clap accepts the flags");
        cli.serve.port = port.map(str::to_owned);
        Config::from_args(&cli.serve, &Platform::host("host-1"))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse(&[], None).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.defaults.delay, Some(Dist::Fixed(Duration::from_millis(80))));
        assert_eq!(c.caps.max_delay, Duration::from_secs(30));
        assert_eq!(c.caps.max_size, Size(10 << 20));
        assert_eq!(c.admission.max_concurrency, 0);
        assert!(c.instance_id.starts_with("host-1-"));
    }

    #[test]
    fn port_is_honoured_and_listen_overrides_it() {
        assert_eq!(parse(&[], Some("9000")).unwrap().listen.port(), 9000);
        let c = parse(&["--listen", "127.0.0.1:7000"], Some("9000")).unwrap();
        assert_eq!(c.listen, "127.0.0.1:7000".parse().unwrap());
        assert!(parse(&[], Some("http")).unwrap_err().to_string().contains("PORT"));
    }

    #[test]
    fn errors_name_the_flag_its_env_and_what_is_allowed() {
        let e = parse(&["--delay", "31s"], None).unwrap_err().to_string();
        assert!(e.contains("--delay") && e.contains("DELAY_ECHO_DELAY") && e.contains("--max-delay"), "{e}");
        let e = parse(&["--reject-status", "500"], None).unwrap_err().to_string();
        assert!(e.contains("503 or 429"), "{e}");
        let e = parse(&["--queue-timeout", "soon"], None).unwrap_err().to_string();
        assert!(e.contains("--queue-timeout") && e.contains("allowed"), "{e}");
        assert!(parse(&["--control-token", "short"], None).is_err());
        assert!(parse(&["--size", "12"], None).is_err());
        assert!(parse(&["--status", "503:5"], None).is_ok());
    }

    #[test]
    fn peers_and_region_come_from_flags_or_their_env_twins() {
        let c = parse(&["--peer", "ap=http://10.0.0.2:8080", "--peer", "us=http://10.0.0.3:8080"], None).unwrap();
        let names: Vec<&str> = c.relay.peers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ap", "us"]);
        assert_eq!((c.relay.max_hops, c.relay.peer_timeout), (8, Duration::from_secs(10)));
        let c = parse(&["--peer", "ap=http://a:1,us=http://u:1", "--aws-region", "eu-west-1"], None).unwrap();
        assert_eq!(c.relay.peers.len(), 2, "the env twin's comma list");
        assert_eq!(c.relay.region.as_deref(), Some("eu-west-1"));
        let e = parse(&["--peer", "ap=ftp://a"], None).unwrap_err().to_string();
        assert!(e.contains("--peer") && e.contains("DELAY_ECHO_PEERS") && e.contains("https://"), "{e}");
        assert!(parse(&["--peer-timeout", "0"], None).is_err());
    }

    #[test]
    fn the_startup_delay_is_a_distribution_drawn_once_from_its_seed() {
        let draw = |seed: &str| parse(&["--startup-delay", "2s..8s", "--startup-seed", seed], None).unwrap();
        let a = draw("7").lifecycle.startup;
        assert_eq!(a.drawn, draw("7").lifecycle.startup.drawn);
        assert!((Duration::from_secs(2)..=Duration::from_secs(8)).contains(&a.drawn), "{a:?}");
        assert_eq!(parse(&[], None).unwrap().lifecycle.startup.drawn, Duration::ZERO);
        let e = parse(&["--startup-delay", "1s:90,20s:5"], None).unwrap_err().to_string();
        assert!(
            e.contains("--startup-delay") && e.contains("DELAY_ECHO_STARTUP_DELAY") && e.contains("exactly 100"),
            "{e}"
        );
        let e = parse(&["--startup-delay", "3s", "--startup-seed=-1"], None).unwrap_err().to_string();
        assert!(e.contains("DELAY_ECHO_STARTUP_SEED") && e.contains("unsigned integer"), "{e}");
    }

    #[test]
    fn print_config_shows_the_resolved_values_in_seconds_and_bytes() {
        let c = parse(&["--drain-delay", "1.5s", "--startup-delay", "lognormal(2s,15s)", "--startup-seed", "3"], None)
            .unwrap();
        let v = c.describe();
        assert_eq!(v["drain_delay_s"], 1.5);
        assert_eq!(v["shutdown_timeout_s"], 10.0);
        assert_eq!(v["max_delay_s"], 30.0);
        assert_eq!(v["max_size_bytes"], 10 << 20);
        assert_eq!(v["defaults"]["delay"], "80ms");
        assert_eq!((v["startup_delay"].as_str(), v["startup_seed"].as_u64()), (Some("lognormal(2s,15s)"), Some(3)));
        assert_eq!(v["startup_delay_s"], c.lifecycle.startup.drawn.as_secs_f64());
    }
}
