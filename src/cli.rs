//! Command-line flags, each with a `DELAY_ECHO_…` environment twin (`PORT` as platforms set it).
//!
//! The server's flags are the raw, unvalidated form: strings stay strings here, and
//! `config::Config::from_args` turns them into typed values once, at start-up, with errors that
//! say what is allowed (a knob default is checked against its cap, another flag). The
//! healthcheck's few flags are typed by clap itself. A flag's doc comment is its `--help` text;
//! the knob defaults take theirs from the knob table.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::knobs::{KnobFlags, Value};
use crate::telemetry::LogFormat;

/// An HTTP target that answers every request after a delay you control, and tells you which
/// instance answered and where the time went.
///
/// Every path except /healthz, /readyz, /metrics and /config echoes the request after the delay.
/// Knobs per request (query parameter or X-Echo-<Name> header): delay, cpu, status, size, seed,
/// cache, hop (relay through configured peers: `hop=eu,ap`). Values: fixed `80ms`, uniform
/// `50ms..150ms`, weighted `10ms:90,500ms:10`, long tail `lognormal(80ms,400ms)` (median, p99),
/// mixture `2ms:90,lognormal(40ms,200ms):10`. Cache: `60s`, `private,60s` or `no-store`.
#[derive(Debug, Parser)]
#[command(name = "delay-echo", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,

    /// Print the configuration these flags and variables resolve to, as JSON, and exit (2 when it
    /// is refused, as at start).
    #[arg(long, conflicts_with = "list_metrics")]
    pub print_config: bool,

    /// Print every metric /metrics can expose, one a line: name, type and help, tab-separated.
    #[arg(long)]
    pub list_metrics: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe a running instance's /readyz: exit 0 when it answers 200, 1 otherwise.
    /// Meant for a Docker HEALTHCHECK in an image without a shell or curl.
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// URL to probe (an IP address or localhost: the static image has no name resolver)
    /// [default: http://127.0.0.1:<port of --listen, else --port, else 8080>/readyz]
    #[arg(long, env = "DELAY_ECHO_HEALTHCHECK_URL")]
    pub url: Option<String>,

    /// How long to wait for the answer.
    #[arg(long, env = "DELAY_ECHO_HEALTHCHECK_TIMEOUT", default_value = "2s", value_parser = duration)]
    pub timeout: Duration,

    /// The address the server listens on (its --listen), for the default URL's port.
    #[arg(long, env = "DELAY_ECHO_LISTEN", value_parser = address)]
    pub listen: Option<SocketAddr>,

    /// The server's port (its --port), for the default URL when --listen is not given.
    #[arg(long, env = "PORT", value_parser = port)]
    pub port: Option<u16>,
}

fn address(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| format!("{s:?} is not an address; allowed: IP:PORT, e.g. 0.0.0.0:8080 or [::]:8080"))
}

fn port(s: &str) -> Result<u16, String> {
    s.trim().parse().map_err(|_| format!("{s:?} is not a port number; allowed: 0 to 65535"))
}

/// A duration flag read by clap itself (the healthcheck's): a bad value exits 2 with what is
/// allowed.
fn duration(s: &str) -> Result<Duration, String> {
    Duration::parse_one(s.trim()).map_err(|e| format!("{e}; allowed: a duration with a unit, e.g. 500ms or 2s"))
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0:<--port> when PORT is set, else 0.0.0.0:8080]
    #[arg(long, env = "DELAY_ECHO_LISTEN")]
    pub listen: Option<String>,

    /// Port to listen on, on every address, when --listen is not given (platforms set PORT).
    #[arg(long, env = "PORT")]
    pub port: Option<String>,

    /// Serve /metrics on this address instead of the main listener.
    #[arg(long, env = "DELAY_ECHO_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// The knobs' server defaults (--delay, --cpu, --status, --size), from the knob table.
    #[command(flatten)]
    pub knobs: KnobFlags,

    /// Largest delay a request may ask for.
    #[arg(long, env = "DELAY_ECHO_MAX_DELAY", default_value = "30s")]
    pub max_delay: String,

    /// Largest CPU burn a request may ask for.
    #[arg(long, env = "DELAY_ECHO_MAX_CPU", default_value = "1s")]
    pub max_cpu: String,

    /// Largest response size a request may ask for.
    #[arg(long, env = "DELAY_ECHO_MAX_SIZE", default_value = "10MiB")]
    pub max_size: String,

    /// Largest request body accepted (413 past it).
    #[arg(long, env = "DELAY_ECHO_MAX_BODY", default_value = "10MiB")]
    pub max_body: String,

    /// Ignore per-request knobs (query and X-Echo-* headers); only server defaults apply.
    #[arg(long, env = "DELAY_ECHO_NO_OVERRIDES")]
    pub no_overrides: bool,

    /// Echo requests in service at once; 0 means unlimited.
    #[arg(long, env = "DELAY_ECHO_MAX_CONCURRENCY", default_value_t = 0)]
    pub max_concurrency: usize,

    /// Requests that may wait (FIFO) for a slot when all are taken.
    #[arg(long, env = "DELAY_ECHO_MAX_QUEUE", default_value_t = 100)]
    pub max_queue: usize,

    /// Longest a request waits in the queue before it is rejected.
    #[arg(long, env = "DELAY_ECHO_QUEUE_TIMEOUT", default_value = "5s")]
    pub queue_timeout: String,

    /// Status for rejected requests: 503 or 429.
    #[arg(long, env = "DELAY_ECHO_REJECT_STATUS", default_value_t = 503)]
    pub reject_status: u16,

    /// Stay unready this long after start (simulates a slow boot): a duration, or a distribution
    /// in the knobs' grammar (2s..8s, 1s:90,20s:10, lognormal(2s,15s)) drawn once at start-up.
    #[arg(long, env = "DELAY_ECHO_STARTUP_DELAY", default_value = "0s")]
    pub startup_delay: String,

    /// Seed of the --startup-delay draw (the same seed draws the same delay) [default: random,
    /// written in the start-up log]
    #[arg(long, env = "DELAY_ECHO_STARTUP_SEED")]
    pub startup_seed: Option<String>,

    /// After SIGTERM, keep serving (unready) this long so load balancers notice.
    #[arg(long, env = "DELAY_ECHO_DRAIN_DELAY", default_value = "0s")]
    pub drain_delay: String,

    /// After the drain delay, wait at most this long for requests in flight.
    #[arg(long, env = "DELAY_ECHO_SHUTDOWN_TIMEOUT", default_value = "10s")]
    pub shutdown_timeout: String,

    /// Bearer token that allows PUT /config; unset disables writing.
    #[arg(long, env = "DELAY_ECHO_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,

    /// Instance id in X-Instance-Id [default: what the platform says: Kubernetes the pod name
    /// (POD_NAME from the downward API, else the host name plus a random suffix); Knative the pod
    /// name (a HOSTNAME starting with K_REVISION); Cloud Run K_REVISION plus a random suffix (its
    /// instance id is only on the metadata server, not asked: no network call at start-up);
    /// elsewhere (ECS, App Runner, Docker) the host name plus a random suffix]
    #[arg(long, env = "DELAY_ECHO_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// Log format.
    #[arg(long, env = "DELAY_ECHO_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Log one line per echo request (probes and metrics excluded).
    #[arg(long, env = "DELAY_ECHO_ACCESS_LOG")]
    pub access_log: bool,

    /// Close a connection that has not sent a complete request head in this time.
    #[arg(long, env = "DELAY_ECHO_HEADER_READ_TIMEOUT", default_value = "10s")]
    pub header_read_timeout: String,

    /// Close a keep-alive connection idle this long (keep it above your load balancer's).
    #[arg(long, env = "DELAY_ECHO_IDLE_TIMEOUT", default_value = "75s")]
    pub idle_timeout: String,

    /// Open connections at most; past it new ones wait in the listen backlog.
    #[arg(long, env = "DELAY_ECHO_MAX_CONNECTIONS", default_value_t = 25_000)]
    pub max_connections: usize,

    /// Largest request head (request line and headers) accepted.
    #[arg(long, env = "DELAY_ECHO_MAX_HEADER_SIZE", default_value = "64KiB")]
    pub max_header_size: String,

    /// A peer this instance may forward to with the `hop` knob, as NAME=URL (repeatable;
    /// the env twin is a comma list, name=url,name=url). Only these names are reachable.
    #[arg(long = "peer", env = "DELAY_ECHO_PEERS", value_delimiter = ',', value_name = "NAME=URL")]
    pub peers: Vec<String>,

    /// Where this instance runs, in X-Instance-Region and the JSON answers [default: AWS_REGION]
    #[arg(long, env = "DELAY_ECHO_REGION")]
    pub region: Option<String>,

    /// The region AWS sets in tasks and functions: --region when that is not given.
    #[arg(long, env = "AWS_REGION", hide = true)]
    pub aws_region: Option<String>,

    /// Most hops a relayed request may take from the first instance to the last (508 past it).
    #[arg(long, env = "DELAY_ECHO_MAX_HOPS", default_value_t = 8)]
    pub max_hops: u32,

    /// How long to wait for a peer's answer before answering 504.
    #[arg(long, env = "DELAY_ECHO_PEER_TIMEOUT", default_value = "10s")]
    pub peer_timeout: String,

    /// A PEM file of CA certificates that https:// peers may also chain to (a private CA);
    /// Mozilla's roots are always trusted.
    #[arg(long, env = "DELAY_ECHO_PEER_CA", value_name = "FILE")]
    pub peer_ca: Option<std::path::PathBuf>,

    /// Runtime worker threads; 0 means one per available core.
    #[arg(long, env = "DELAY_ECHO_WORKERS", default_value_t = 0)]
    pub workers: usize,
}
