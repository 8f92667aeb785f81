//! The per-request knobs, described once: the table below is what the query, the `X-Echo-*`
//! headers, the server-default flags (with their env twins) and `PUT /config` all read.
//!
//! Adding a knob is one `Knob` entry in `ALL`, its field in `Values` and its arm in
//! `Values::set`/`Values::show` (how it parses and shows), plus what the echo does with it.
//! The value grammar (fixed, range, weighted, long tail) lives in `grammar`.

mod cache_policy;
mod grammar;

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches};
use hyper::header::HeaderMap;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::Serialize;

pub use cache_policy::CachePolicy;
pub use grammar::{Cap, Dist, Forms, KnobError, Size, Status, Value, format_duration, parse_seed};

/// One knob: where a request gives it, what it accepts, what caps it, and its server default.
#[derive(Debug)]
pub struct Knob {
    pub id: Id,
    /// The query parameter; also the `PUT /config` field and the default's flag (`--delay`).
    pub name: &'static str,
    /// The request header, lower case (`x-echo-delay`).
    pub header: &'static str,
    pub grammar: Grammar,
    /// The flag that caps it, named in "exceeds the maximum; raise it with --max-delay".
    pub cap: Option<&'static str>,
    /// The server default: a flag `--<name>` with this env twin, `--help` text and built-in
    /// value; `None` for a knob that only a request can give (seed).
    pub default: Option<ServerDefault>,
}

#[derive(Debug)]
pub struct ServerDefault {
    pub env: &'static str,
    pub help: &'static str,
    /// What applies when neither the request nor the server default says (the remainder of a
    /// weighted list falls through to it). `None`: nothing (size: echo the request body).
    pub builtin: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Delay,
    Cpu,
    Status,
    Size,
    Seed,
    Hop,
    Cache,
}

/// What a knob's text may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grammar {
    /// A distribution of durations or sizes (fixed, range, weighted list, long tail).
    Distribution,
    /// A status code, fixed or as a weighted list.
    WeightedStatus,
    /// An unsigned 64-bit integer.
    Seed,
    /// A comma list of peer names; checked against `--peer` by `relay::plan`, which knows the
    /// peers and names them in its 400.
    PeerNames,
    /// A cache policy: a max-age, `private,<max-age>` or `no-store` (`cache`).
    CachePolicy,
}

pub const ALL: [Knob; 7] = [
    Knob {
        id: Id::Delay,
        name: "delay",
        header: "x-echo-delay",
        grammar: Grammar::Distribution,
        cap: Some("max-delay"),
        default: Some(ServerDefault {
            env: "DELAY_ECHO_DELAY",
            help: "Default delay before each echo answer",
            builtin: Some("80ms"),
        }),
    },
    Knob {
        id: Id::Cpu,
        name: "cpu",
        header: "x-echo-cpu",
        grammar: Grammar::Distribution,
        cap: Some("max-cpu"),
        default: Some(ServerDefault {
            env: "DELAY_ECHO_CPU",
            help: "Default CPU time to burn per echo request",
            builtin: Some("0"),
        }),
    },
    Knob {
        id: Id::Status,
        name: "status",
        header: "x-echo-status",
        grammar: Grammar::WeightedStatus,
        cap: None,
        default: Some(ServerDefault {
            env: "DELAY_ECHO_STATUS",
            help: "Default status code, fixed (`200`) or weighted (`503:5` = 5 % 503, the rest 200)",
            builtin: Some("200"),
        }),
    },
    Knob {
        id: Id::Size,
        name: "size",
        header: "x-echo-size",
        grammar: Grammar::Distribution,
        cap: Some("max-size"),
        default: Some(ServerDefault {
            env: "DELAY_ECHO_SIZE",
            help: "Default response body size (filler); unset echoes the request body",
            builtin: None,
        }),
    },
    Knob { id: Id::Seed, name: "seed", header: "x-echo-seed", grammar: Grammar::Seed, cap: None, default: None },
    Knob { id: Id::Hop, name: "hop", header: "x-echo-hop", grammar: Grammar::PeerNames, cap: None, default: None },
    Knob {
        id: Id::Cache,
        name: "cache",
        header: "x-echo-cache",
        grammar: Grammar::CachePolicy,
        cap: None,
        default: Some(ServerDefault {
            env: "DELAY_ECHO_CACHE",
            help: "Default cache policy: a max-age (`60s`: public), `private,60s` or `no-store`; unset sends no \
                   Cache-Control and no validators",
            builtin: None,
        }),
    },
];

/// The knob called `name` (query parameter or `PUT /config` field).
pub fn named(name: &str) -> Option<&'static Knob> {
    ALL.iter().find(|k| k.name == name)
}

/// Upper bounds on what a request (or PUT /config) may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Caps {
    #[serde(serialize_with = "ser_duration")]
    pub max_delay: Duration,
    #[serde(serialize_with = "ser_duration")]
    pub max_cpu: Duration,
    #[serde(serialize_with = "ser_size")]
    pub max_size: Size,
    #[serde(serialize_with = "ser_size")]
    pub max_body: Size,
}

impl Caps {
    /// No bounds: what the built-in defaults are read with.
    const NONE: Caps =
        Caps { max_delay: Duration::MAX, max_cpu: Duration::MAX, max_size: Size(u64::MAX), max_body: Size(u64::MAX) };
}

pub(crate) fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

fn ser_size<S: serde::Serializer>(b: &Size, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&b.render())
}

/// A value for every knob, parsed against the caps; `None` where it was not given. The server
/// defaults are one (swapped whole by PUT /config), what a request asked for is another.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Values {
    pub delay: Option<Dist<Duration>>,
    pub cpu: Option<Dist<Duration>>,
    pub status: Option<Dist<Status>>,
    pub size: Option<Dist<Size>>,
    pub seed: Option<u64>,
    /// Peers to relay through, as given (only a request gives it).
    pub hop: Option<String>,
    pub cache: Option<CachePolicy>,
}

/// A knob whose value was refused: the `400` body (`param`, `error`, `allowed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKnob {
    pub param: &'static str,
    pub err: KnobError,
}

impl Values {
    /// Parses `text` as `knob`'s value (`None` clears it), against the caps.
    pub fn set(&mut self, knob: &Knob, text: Option<&str>, caps: &Caps) -> Result<(), BadKnob> {
        fn dist<T: Value>(knob: &Knob, text: Option<&str>, max: Option<T>) -> Result<Option<Dist<T>>, KnobError> {
            let forms = if knob.grammar == Grammar::WeightedStatus { Forms::FixedOrWeighted } else { Forms::Any };
            let cap = max.zip(knob.cap).map(|(max, flag)| Cap { max, flag });
            text.map(|t| Dist::parse(t, forms, cap)).transpose()
        }
        let parsed = match knob.id {
            Id::Delay => dist(knob, text, Some(caps.max_delay)).map(|v| self.delay = v),
            Id::Cpu => dist(knob, text, Some(caps.max_cpu)).map(|v| self.cpu = v),
            Id::Status => dist(knob, text, None).map(|v| self.status = v),
            Id::Size => dist(knob, text, Some(caps.max_size)).map(|v| self.size = v),
            Id::Seed => text.map(parse_seed).transpose().map(|v| self.seed = v),
            Id::Hop => {
                self.hop = text.map(str::to_owned);
                Ok(())
            }
            Id::Cache => text.map(CachePolicy::parse).transpose().map(|v| self.cache = v),
        };
        parsed.map_err(|err| BadKnob { param: knob.name, err })
    }

    /// `knob`'s value in the grammar (what GET /config shows), `None` when unset.
    pub fn show(&self, knob: &Knob) -> Option<String> {
        match knob.id {
            Id::Delay => self.delay.as_ref().map(ToString::to_string),
            Id::Cpu => self.cpu.as_ref().map(ToString::to_string),
            Id::Status => self.status.as_ref().map(ToString::to_string),
            Id::Size => self.size.as_ref().map(ToString::to_string),
            Id::Seed => self.seed.map(|s| s.to_string()),
            Id::Hop => self.hop.clone(),
            Id::Cache => self.cache.map(|p| p.to_string()),
        }
    }

    /// The server defaults from the flags (`--delay`, …), in table order; the first bad one
    /// is returned.
    pub fn from_flags(flags: &KnobFlags, caps: &Caps) -> Result<Values, BadKnob> {
        let mut v = Values::default();
        for (knob, text) in &flags.0 {
            v.set(knob, Some(text), caps)?;
        }
        v.check_remainders(caps)?;
        Ok(v)
    }

    /// A copy with the given knobs changed (`None` = back to the built-in), or the first
    /// refusal; `self` is left as it was either way, so an update is all-or-nothing.
    pub fn apply(&self, update: &[(&'static Knob, Option<&str>)], caps: &Caps) -> Result<Values, BadKnob> {
        let mut next = self.clone();
        for (knob, text) in update {
            let text = text.or_else(|| knob.default.as_ref().and_then(|d| d.builtin));
            next.set(knob, text, caps)?;
        }
        next.check_remainders(caps)?;
        Ok(next)
    }

    /// Refuses a server default whose weighted list leaves a remainder when the built-in that
    /// remainder falls through to is over the cap: with `--max-delay 10ms`, `delay=1ms:50` would
    /// otherwise draw the built-in 80 ms for half the requests.
    fn check_remainders(&self, caps: &Caps) -> Result<(), BadKnob> {
        fn remainder<T>(d: Option<&Dist<T>>) -> bool {
            matches!(d, Some(Dist::Weighted(e)) if e.iter().map(|(_, w)| w).sum::<f64>() < 100.0)
        }
        for knob in &ALL {
            let leaves = match knob.id {
                Id::Delay => remainder(self.delay.as_ref()),
                Id::Cpu => remainder(self.cpu.as_ref()),
                Id::Size => remainder(self.size.as_ref()),
                Id::Status | Id::Seed | Id::Hop | Id::Cache => false,
            };
            let Some(builtin) = knob.default.as_ref().and_then(|d| d.builtin).filter(|_| leaves) else { continue };
            if let Err(over) = Values::default().set(knob, Some(builtin), caps) {
                let error = format!(
                    "{} leaves a remainder to the built-in {builtin}, and {}",
                    self.show(knob).unwrap_or_default(),
                    over.err.error
                );
                let allowed =
                    format!("{}; weights adding up to 100 while the built-in is over the cap", over.err.allowed);
                return Err(BadKnob { param: knob.name, err: KnobError { error, allowed } });
            }
        }
        Ok(())
    }
}

/// What the built-in defaults are, parsed once.
static BUILTIN: LazyLock<Values> = LazyLock::new(|| {
    let mut v = Values::default();
    for knob in &ALL {
        if let Some(text) = knob.default.as_ref().and_then(|d| d.builtin) {
            v.set(knob, Some(text), &Caps::NONE).expect("built-in defaults parse");
        }
    }
    v
});

/// What a request asked for, and whether it wants the JSON description.
#[derive(Debug, Default)]
pub struct Asked {
    pub values: Values,
    pub json: bool,
}

/// Reads the knobs of a request: the query first, then the `X-Echo-*` headers for the knobs the
/// query did not give. With `overrides` off only `format`/`Accept` are read.
pub fn read(query: Option<&str>, headers: &HeaderMap, caps: &Caps, overrides: bool) -> Result<Asked, BadKnob> {
    let mut raw: [Option<Cow<'_, str>>; ALL.len()] = Default::default();
    let mut asked = Asked::default();
    if let Some(q) = query {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if k == "format" {
                asked.json = v.eq_ignore_ascii_case("json");
            } else if let Some(i) = ALL.iter().position(|knob| knob.name == k) {
                raw[i] = Some(v);
            }
        }
    }
    if !asked.json {
        asked.json = headers
            .get(hyper::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"));
    }
    if !overrides {
        return Ok(asked);
    }
    // One pass over the request's headers (usually a handful) rather than a lookup per knob.
    for (name, v) in headers {
        if !name.as_str().starts_with("x-echo-") {
            continue;
        }
        let Some(i) = ALL.iter().position(|k| k.header == name.as_str()) else { continue };
        if raw[i].is_none() {
            let v = v.to_str().map_err(|_| BadKnob {
                param: ALL[i].name,
                err: KnobError { error: "the header is not visible ASCII".into(), allowed: "ASCII text".into() },
            })?;
            raw[i] = Some(Cow::Borrowed(v));
        }
    }
    for (knob, raw) in ALL.iter().zip(&raw) {
        if let Some(text) = raw {
            asked.values.set(knob, Some(text), caps)?;
        }
    }
    Ok(asked)
}

/// The values drawn for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawn {
    pub delay: Duration,
    pub cpu: Duration,
    pub status: u16,
    /// `None` echoes the request body.
    pub size: Option<u64>,
    /// `None`: no Cache-Control, no validators.
    pub cache: Option<CachePolicy>,
}

/// Draws every value in a fixed order (delay, cpu, status, size), so one seed gives one answer;
/// the cache policy is not random.
/// Each falls through request → server default → built-in, also for the unassigned remainder
/// of a weighted list.
pub fn draw(asked: &Values, defaults: &Values) -> Drawn {
    fn pick<T: Value>(rng: &mut Option<SmallRng>, seed: Option<u64>, chain: [Option<&Dist<T>>; 3]) -> Option<T> {
        chain.into_iter().flatten().find_map(|d| match d {
            // The RNG is made only when a distribution needs one: fixed values (the common case)
            // cost nothing.
            Dist::Fixed(v) => Some(*v),
            _ => d.sample(rng.get_or_insert_with(|| match seed {
                Some(s) => SmallRng::seed_from_u64(s),
                None => SmallRng::from_rng(&mut rand::rng()),
            })),
        })
    }
    let b = &*BUILTIN;
    let mut rng = None;
    let seed = asked.seed;
    Drawn {
        delay: pick(&mut rng, seed, [asked.delay.as_ref(), defaults.delay.as_ref(), b.delay.as_ref()])
            .unwrap_or_default(),
        cpu: pick(&mut rng, seed, [asked.cpu.as_ref(), defaults.cpu.as_ref(), b.cpu.as_ref()]).unwrap_or_default(),
        status: pick(&mut rng, seed, [asked.status.as_ref(), defaults.status.as_ref(), b.status.as_ref()])
            .map_or(200, |s| s.0),
        size: pick(&mut rng, seed, [asked.size.as_ref(), defaults.size.as_ref(), b.size.as_ref()]).map(|s| s.0),
        cache: asked.cache.or(defaults.cache),
    }
}

/// The server-default flags, one per knob that has a default, built from the table (so a new
/// knob gets its flag, env twin and `--help` line from its entry): the raw text of each, in
/// table order. `config` parses them against the caps.
#[derive(Debug, Clone, Default)]
pub struct KnobFlags(pub Vec<(&'static Knob, String)>);

impl clap::FromArgMatches for KnobFlags {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = KnobFlags::default();
        flags.update_from_arg_matches(m)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for knob in ALL.iter().filter(|k| k.default.is_some()) {
            if let Some(text) = m.get_one::<String>(knob.name) {
                self.0.retain(|(k, _)| k.id != knob.id);
                self.0.push((knob, text.clone()));
            }
        }
        Ok(())
    }
}

impl clap::Args for KnobFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        ALL.iter().fold(cmd, |cmd, knob| {
            let Some(d) = &knob.default else { return cmd };
            let arg = Arg::new(knob.name)
                .long(knob.name)
                .env(d.env)
                .help(d.help)
                .value_name("VALUE")
                .action(ArgAction::Set)
                .value_parser(clap::value_parser!(String));
            cmd.arg(match d.builtin {
                Some(b) => arg.default_value(b),
                None => arg,
            })
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        max_delay: Duration::from_secs(30),
        max_cpu: Duration::from_secs(1),
        max_size: Size(1 << 20),
        max_body: Size(1 << 20),
    };

    #[test]
    fn every_knob_has_a_header_and_every_default_an_env_twin() {
        for k in &ALL {
            assert_eq!(k.header, format!("x-echo-{}", k.name));
            if let Some(d) = &k.default {
                assert_eq!(d.env, format!("DELAY_ECHO_{}", k.name.to_uppercase()));
            }
        }
    }

    #[test]
    fn the_remainder_of_a_weighted_list_falls_through_to_the_builtin() {
        let mut defaults = Values::default();
        defaults.set(named("status").unwrap(), Some("503:0"), &CAPS).unwrap();
        defaults.set(named("delay").unwrap(), Some("0:0"), &CAPS).unwrap();
        let drawn = draw(&Values::default(), &defaults);
        assert_eq!(
            (drawn.status, drawn.delay, drawn.cpu, drawn.size),
            (200, Duration::from_millis(80), Duration::ZERO, None)
        );
    }

    #[test]
    fn a_default_leaves_no_remainder_to_a_builtin_over_the_cap() {
        let tight = Caps { max_delay: Duration::from_millis(10), ..CAPS };
        let delay = named("delay").unwrap();
        let flags = KnobFlags(vec![(delay, "1ms:50".into())]);
        let e = Values::from_flags(&flags, &tight).unwrap_err();
        assert_eq!(e.param, "delay");
        assert!(e.err.error.contains("built-in 80ms") && e.err.error.contains("--max-delay"), "{e:?}");
        assert!(Values::default().apply(&[(delay, Some("0:1"))], &tight).is_err());
        let full = Values::default().apply(&[(delay, Some("1ms:50,2ms:50"))], &tight).unwrap();
        assert!((0..100).all(|s| draw(&Values { seed: Some(s), ..Values::default() }, &full).delay <= tight.max_delay));
        assert!(Values::from_flags(&flags, &CAPS).is_ok(), "the built-in is within the default cap");
    }

    #[test]
    fn apply_changes_only_the_given_knobs_and_is_all_or_nothing() {
        let mut current = Values::default();
        current.set(named("delay").unwrap(), Some("10ms..20ms"), &CAPS).unwrap();
        current.set(named("size").unwrap(), Some("1KiB"), &CAPS).unwrap();
        let next =
            current.apply(&[(named("cpu").unwrap(), Some("5ms")), (named("size").unwrap(), None)], &CAPS).unwrap();
        assert_eq!(next.delay, current.delay, "untouched knobs keep their parsed value");
        assert_eq!(next.cpu, Some(Dist::Fixed(Duration::from_millis(5))));
        assert_eq!(next.size, None, "null goes back to the built-in (echo)");
        let bad = current.apply(&[(named("cpu").unwrap(), Some("5ms")), (named("delay").unwrap(), Some("31s"))], &CAPS);
        assert_eq!(bad.unwrap_err().param, "delay");
    }
}
