//! The server's own settings: how many connections it holds and how large a request head may
//! be, and the timing of its start-up and shutdown. Declared here and filled in by `config`, so
//! the configuration depends on the server's settings, never on the server.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::knobs::{Cap, Dist, Forms, KnobError};

/// Per-server connection limits (`--max-connections`, `--max-header-size`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub max_header_size: usize,
}

/// Start-up and shutdown timing (`--startup-delay`, `--drain-delay`, `--shutdown-timeout`).
#[derive(Debug, Clone)]
pub struct Lifecycle {
    pub startup: StartupDelay,
    pub drain_delay: Duration,
    pub shutdown_timeout: Duration,
}

/// `--startup-delay`: a distribution in the knobs' grammar, drawn once at start-up from
/// `--startup-seed`, so a platform that hands each instance a seed gets the same cold starts again.
#[derive(Debug, Clone, PartialEq)]
pub struct StartupDelay {
    pub spec: Dist<Duration>,
    pub seed: u64,
    /// How long this instance stays unready.
    pub drawn: Duration,
}

impl StartupDelay {
    /// Longer than any boot worth simulating; it also bounds a long tail's draws.
    pub const MAX: Duration = Duration::from_secs(3600);

    /// Parses the distribution and draws from `seed`, or from entropy when there is none (the seed
    /// drawn is kept, so the log can say how to draw the same value again).
    pub fn draw(spec: &str, seed: Option<u64>) -> Result<StartupDelay, KnobError> {
        let dist = Dist::parse(spec, Forms::Any, Some(Cap { max: Self::MAX, flag: "" }))?;
        if let Dist::Weighted(entries) = &dist {
            let total: f64 = entries.iter().map(|(_, w)| w).sum();
            if (total - 100.0).abs() > 1e-9 {
                return Err(KnobError {
                    error: format!("the weights of {:?} add up to {total} %, not 100", spec.trim()),
                    allowed: "a weighted list whose percentages add up to exactly 100: a start-up delay has no \
                              default to take the remainder"
                        .into(),
                });
            }
        }
        let seed = seed.unwrap_or_else(rand::random);
        let drawn = dist.sample(&mut SmallRng::seed_from_u64(seed)).unwrap_or(Duration::ZERO);
        // Whole microseconds, so the delay slept is the one the log writes.
        let drawn = Duration::from_micros(drawn.as_micros() as u64);
        Ok(StartupDelay { spec: dist, seed, drawn })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str, seed: u64) -> f64 {
        StartupDelay::draw(s, Some(seed)).unwrap().drawn.as_secs_f64()
    }

    #[test]
    fn a_fixed_delay_is_itself_whatever_the_seed() {
        assert_eq!(secs("3s", 1), 3.0);
        assert_eq!(secs("0", 9), 0.0);
        assert_eq!(secs("1500ms", 2), 1.5);
    }

    #[test]
    fn the_same_seed_draws_the_same_delay_and_others_spread_within_the_bounds() {
        for spec in ["2s..8s", "1s:90,20s:10", "lognormal(2s,15s)", "1s:50,2s..3s:50"] {
            let draws: Vec<f64> = (0..200).map(|seed| secs(spec, seed)).collect();
            assert_eq!(draws, (0..200).map(|seed| secs(spec, seed)).collect::<Vec<_>>(), "{spec}");
            let distinct: std::collections::BTreeSet<u64> = draws.iter().map(|d| d.to_bits()).collect();
            assert!(distinct.len() > 1, "{spec}: 200 seeds drew one value");
            assert!(draws.iter().all(|d| (0.0..=3600.0).contains(d)), "{spec}");
        }
        let uniform: Vec<f64> = (0..500).map(|seed| secs("2s..8s", seed)).collect();
        assert!(uniform.iter().all(|d| (2.0..=8.0).contains(d)));
        let weighted = (0..2000).filter(|seed| secs("1s:90,20s:10", *seed) == 20.0).count();
        assert!((140..260).contains(&weighted), "20 s drawn {weighted}/2000 times, expected about 10 %");
    }

    #[test]
    fn without_a_seed_one_is_drawn_and_kept() {
        let a = StartupDelay::draw("2s..8s", None).unwrap();
        assert_eq!(StartupDelay::draw("2s..8s", Some(a.seed)).unwrap().drawn, a.drawn);
    }

    #[test]
    fn errors_say_what_is_allowed() {
        let e = StartupDelay::draw("1s:90,20s:5", Some(1)).unwrap_err();
        assert!(e.error.contains("95 %, not 100") && e.allowed.contains("exactly 100"), "{e}");
        let e = StartupDelay::draw("2h", Some(1)).unwrap_err();
        assert!(e.error.contains("exceeds the maximum 3600s") && !e.error.contains("raise it"), "{e}");
        assert!(e.allowed.contains("lognormal(MEDIAN,P99)") && e.allowed.contains("at most 3600s"), "{e}");
        for bad in ["soon", "3", "8s..2s", "lognormal(5s,1s)", ""] {
            assert!(StartupDelay::draw(bad, Some(1)).is_err(), "{bad}");
        }
    }
}
