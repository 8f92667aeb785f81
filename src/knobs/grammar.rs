//! The knob grammar: values and distributions for delay, cpu, status and size.
//!
//! Pure code (no I/O), so the whole grammar is unit- and property-tested. A distribution is
//! parsed once (server defaults at start-up, per-request values on arrival) and sampled with the
//! request's RNG, so a `seed` makes every choice of a request reproducible.
//!
//! ```text
//! fixed     80ms | 1.5s | 250us | 64KiB | 100B | 503 | 0
//! uniform   50ms..150ms
//! weighted  10ms:90,500ms:10        percent; the remainder takes the default
//! long tail lognormal(80ms,400ms)   median, p99
//! mixture   2ms:90,lognormal(40ms,200ms):10   a weighted list's entries may be ranges or
//!                                             long tails (not lists: they do not nest)
//! ```
//!
//! Commas inside parentheses belong to the long tail, so a list is split at its other commas.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal};

/// What a knob value is made of: a duration, a byte size or a status code.
pub trait Value: Copy + PartialOrd + fmt::Debug + Send + Sync + 'static {
    /// What `allowed` says in errors about single values.
    const UNIT_HINT: &'static str;
    fn parse_one(s: &str) -> Result<Self, String>;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
    fn render(self) -> String;
}

impl Value for Duration {
    const UNIT_HINT: &'static str = "a duration with a unit (us, ms, s), e.g. 80ms or 1.5s; bare 0";

    fn parse_one(s: &str) -> Result<Self, String> {
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        if s.starts_with('-') {
            return Err(format!("{s:?} is negative"));
        }
        if !s.ends_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!("{s:?} has no unit"));
        }
        humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration ({e})"))
    }
    fn to_f64(self) -> f64 {
        self.as_secs_f64()
    }
    fn from_f64(v: f64) -> Self {
        Duration::from_secs_f64(v.max(0.0))
    }
    /// Exact, so a value shown (GET /config) parses back to itself: nanoseconds where the value
    /// has any (the grammar accepts them), else `format_duration`.
    fn render(self) -> String {
        if self.subsec_nanos() % 1_000 != 0 { format!("{}ns", self.as_nanos()) } else { format_duration(self) }
    }
}

/// A response size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl Value for Size {
    const UNIT_HINT: &'static str = "a size with a unit (B, KiB, MiB, KB, MB), e.g. 64KiB; bare 0";

    fn parse_one(s: &str) -> Result<Self, String> {
        if s == "0" {
            return Ok(Size(0));
        }
        if !s.ends_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(format!("{s:?} has no unit"));
        }
        if !s.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("{s:?} is not a size"));
        }
        s.parse::<bytesize::ByteSize>().map(|b| Size(b.as_u64())).map_err(|e| format!("{s:?} is not a size ({e})"))
    }
    fn to_f64(self) -> f64 {
        self.0 as f64
    }
    fn from_f64(v: f64) -> Self {
        Size(v.max(0.0).round() as u64)
    }
    fn render(self) -> String {
        format!("{}B", self.0)
    }
}

/// An answer's HTTP status code, 200 to 599 (`parse_one` enforces it, so a status needs no cap).
/// Not 1xx: RFC 9110 makes those interim responses, never an answer's status, and hyper sends a
/// bare 500 (without the instance's headers) in place of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Status(pub u16);

impl Value for Status {
    const UNIT_HINT: &'static str = "a status code from 200 to 599";

    fn parse_one(s: &str) -> Result<Self, String> {
        match s.parse::<u16>() {
            Ok(code @ 200..=599) => Ok(Status(code)),
            Ok(code @ 100..=199) => Err(format!("{code} is an interim status, never an answer's")),
            _ => Err(format!("{s:?} is not a status code")),
        }
    }
    fn to_f64(self) -> f64 {
        f64::from(self.0)
    }
    fn from_f64(v: f64) -> Self {
        Status(v as u16)
    }
    fn render(self) -> String {
        self.0.to_string()
    }
}

/// A distribution of values. `sample` returns `None` for the remainder of a weighted list,
/// which the caller resolves to the next default (request → server default → built-in).
#[derive(Debug, Clone, PartialEq)]
pub enum Dist<T> {
    Fixed(T),
    Uniform(T, T),
    /// Entries with their weights in percent, summing to at most 100. An entry is any
    /// distribution but a weighted list (a mixture: `2ms:90,lognormal(40ms,200ms):10`).
    Weighted(Vec<(Dist<T>, f64)>),
    /// Log-normal given by its median and 99th percentile; samples above `cap` are cut to it.
    LogNormal {
        median: T,
        p99: T,
        cap: Option<T>,
    },
}

/// z for the 99th percentile of the standard normal distribution.
const Z_P99: f64 = 2.326_347_874_040_840_8;

/// A grammar error: what was wrong and what is allowed (the `400` body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnobError {
    pub error: String,
    pub allowed: String,
}

impl fmt::Display for KnobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; allowed: {}", self.error, self.allowed)
    }
}

/// Which forms a knob accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forms {
    /// Fixed, range, weighted list or long tail (delay, cpu, size).
    Any,
    /// Fixed or weighted list only (status: a range of status codes means nothing).
    FixedOrWeighted,
}

/// The largest value a knob accepts and the flag that raises it (empty: a fixed limit).
#[derive(Debug, Clone, Copy)]
pub struct Cap<T> {
    pub max: T,
    pub flag: &'static str,
}

/// Hands each part of `s` split at its commas outside parentheses (`lognormal(1ms,9ms)` keeps
/// its comma) to `part` and says how many there were, or `None` when its parentheses do not
/// balance. A callback rather than a `Vec`, so telling a single value apart allocates nothing.
fn split_top_level<'a>(s: &'a str, mut part: impl FnMut(&'a str)) -> Option<usize> {
    let (mut depth, mut start, mut parts) = (0usize, 0, 1);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.checked_sub(1)?,
            ',' if depth == 0 => {
                part(&s[start..i]);
                start = i + 1;
                parts += 1;
            }
            _ => {}
        }
    }
    part(&s[start..]);
    (depth == 0).then_some(parts)
}

impl<T: Value> Dist<T> {
    /// Parses `s` in the given forms, rejecting any value above the cap (when there is one).
    pub fn parse(s: &str, forms: Forms, cap: Option<Cap<T>>) -> Result<Self, KnobError> {
        let s = s.trim();
        let allowed = || {
            let forms = match forms {
                Forms::FixedOrWeighted => {
                    "a fixed value or a weighted list (V:PCT,V:PCT, percent summing to at most 100)"
                }
                Forms::Any => {
                    "a fixed value, a range A..B, lognormal(MEDIAN,P99), or a weighted list D:PCT,D:PCT whose \
                     entries D are any of those three (percent, at most 100 in all; a list does not nest)"
                }
            };
            match cap {
                Some(c) => format!("{forms}; each value {}, at most {}", T::UNIT_HINT, c.max.render()),
                None => format!("{forms}; each value {}", T::UNIT_HINT),
            }
        };
        let err = |error: String| KnobError { error, allowed: allowed() };
        if s.is_empty() {
            return Err(err("the value is empty".into()));
        }
        let unbalanced = || err(format!("{s:?} has unbalanced parentheses"));
        if split_top_level(s, |_| {}).ok_or_else(unbalanced)? == 1 && !s.contains(':') {
            return Self::parse_single(s, forms, cap).map_err(err);
        }
        let mut parts = Vec::new();
        split_top_level(s, |p| parts.push(p)).ok_or_else(unbalanced)?;
        // A weighted list; each entry's value is a single distribution (a mixture).
        let mut entries = Vec::new();
        let mut total = 0.0;
        for part in parts {
            let (v, w) = part.rsplit_once(':').ok_or_else(|| err(format!("{part:?} has no weight (D:PCT)")))?;
            let w: f64 = w
                .trim()
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite() && *w >= 0.0)
                .ok_or_else(|| err(format!("{w:?} is not a percentage")))?;
            if v.contains(':') {
                return Err(err(format!("{part:?}: a weighted list cannot be an entry of another")));
            }
            total += w;
            entries.push((Self::parse_single(v.trim(), forms, cap).map_err(err)?, w));
        }
        if total > 100.0 + 1e-9 {
            return Err(err(format!("weights in {s:?} add up to {total} %, over 100")));
        }
        Ok(Dist::Weighted(entries))
    }

    /// A fixed value, a range or a long tail: what a weighted list's entries may be.
    fn parse_single(s: &str, forms: Forms, cap: Option<Cap<T>>) -> Result<Self, String> {
        let value = |v: &str| -> Result<T, String> {
            let x = T::parse_one(v.trim())?;
            if let Some(c) = cap
                && x > c.max
            {
                let raise = if c.flag.is_empty() { String::new() } else { format!("; raise it with --{}", c.flag) };
                return Err(format!("{} exceeds the maximum {}{raise}", v.trim(), c.max.render()));
            }
            Ok(x)
        };
        let weighted_only = forms == Forms::FixedOrWeighted;
        if s.is_empty() {
            return Err("an entry is empty".into());
        }
        if let Some(rest) = s.strip_prefix("lognormal(") {
            if weighted_only {
                return Err(format!("{s:?}: a long tail does not apply here"));
            }
            let inner = rest.strip_suffix(')').ok_or_else(|| format!("{s:?} must end with its closing parenthesis"))?;
            let (m, p) =
                inner.split_once(',').ok_or_else(|| format!("{s:?} needs two values: lognormal(MEDIAN,P99)"))?;
            let (median, p99) = (value(m)?, value(p)?);
            if median.to_f64() <= 0.0 || p99 < median {
                return Err(format!("{s:?} needs 0 < median <= p99"));
            }
            return Ok(Dist::LogNormal { median, p99, cap: cap.map(|c| c.max) });
        }
        if let Some((a, b)) = s.split_once("..") {
            if weighted_only {
                return Err(format!("{s:?}: a range does not apply here"));
            }
            let (lo, hi) = (value(a)?, value(b)?);
            if hi < lo {
                return Err(format!("{s:?} is an empty range (upper bound below lower)"));
            }
            return Ok(Dist::Uniform(lo, hi));
        }
        Ok(Dist::Fixed(value(s)?))
    }

    /// Draws one value; `None` is the unassigned remainder of a weighted list.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<T> {
        match self {
            Dist::Fixed(v) => Some(*v),
            Dist::Uniform(lo, hi) => {
                let (a, b) = (lo.to_f64(), hi.to_f64());
                Some(if b > a { T::from_f64(rng.random_range(a..=b)) } else { *lo })
            }
            Dist::Weighted(entries) => {
                let mut roll = rng.random_range(0.0..100.0);
                for (d, w) in entries {
                    if roll < *w {
                        return d.sample(rng);
                    }
                    roll -= w;
                }
                None
            }
            Dist::LogNormal { median, p99, cap } => {
                let mu = median.to_f64().ln();
                let sigma = (p99.to_f64().ln() - mu) / Z_P99;
                let x = LogNormal::new(mu, sigma).map_or(median.to_f64(), |d| d.sample(rng));
                Some(T::from_f64(cap.map_or(x, |c| x.min(c.to_f64()))))
            }
        }
    }
}

impl<T: Value> fmt::Display for Dist<T> {
    /// Renders the distribution back in the grammar (what /config shows).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dist::Fixed(v) => f.write_str(&v.render()),
            Dist::Uniform(a, b) => write!(f, "{}..{}", a.render(), b.render()),
            Dist::Weighted(e) => {
                for (i, (d, w)) in e.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{d}:{w}")?;
                }
                Ok(())
            }
            Dist::LogNormal { median, p99, .. } => {
                write!(f, "lognormal({},{})", median.render(), p99.render())
            }
        }
    }
}

/// Renders a duration compactly in the largest unit that keeps it exact (`80ms`, `1.5s`).
pub fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us == 0 {
        "0".into()
    } else if us % 1_000_000 == 0 {
        format!("{}s", us / 1_000_000)
    } else if us % 1_000 == 0 {
        format!("{}ms", us / 1_000)
    } else {
        format!("{us}us")
    }
}

/// Parses a seed: any unsigned 64-bit integer.
pub fn parse_seed(s: &str) -> Result<u64, KnobError> {
    s.trim().parse().map_err(|_| KnobError {
        error: format!("{s:?} is not a seed"),
        allowed: "an unsigned integer from 0 to 18446744073709551615".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    const MAX: Duration = Duration::from_secs(30);

    fn d(s: &str) -> Result<Dist<Duration>, KnobError> {
        Dist::parse(s, Forms::Any, Some(Cap { max: MAX, flag: "max-delay" }))
    }

    fn sz(s: &str, max: u64) -> Result<Dist<Size>, KnobError> {
        Dist::parse(s, Forms::Any, Some(Cap { max: Size(max), flag: "max-size" }))
    }

    fn status(s: &str) -> Result<Dist<Status>, KnobError> {
        Dist::parse(s, Forms::FixedOrWeighted, None)
    }

    #[test]
    fn fixed_values_need_units() {
        assert_eq!(d("80ms").unwrap(), Dist::Fixed(Duration::from_millis(80)));
        assert_eq!(d("1.5s").unwrap(), Dist::Fixed(Duration::from_millis(1500)));
        assert_eq!(d("250us").unwrap(), Dist::Fixed(Duration::from_micros(250)));
        assert_eq!(d("0").unwrap(), Dist::Fixed(Duration::ZERO));
        assert!(d("80").unwrap_err().error.contains("no unit"));
        assert!(d("-5ms").is_err());
        assert!(d("").is_err());
        let size = sz("64KiB", 1 << 30).unwrap();
        assert_eq!(size, Dist::Fixed(Size(65536)));
        assert!(sz("100", 1 << 30).is_err());
        assert_eq!(sz("100B", 1 << 30).unwrap(), Dist::Fixed(Size(100)));
    }

    #[test]
    fn caps_are_enforced_not_clamped() {
        let e = d("31s").unwrap_err();
        assert!(e.error.contains("exceeds the maximum 30s"), "{e}");
        assert!(e.error.contains("--max-delay"));
        assert!(d("10ms..31s").is_err());
        assert!(d("lognormal(10ms,40s)").is_err());
    }

    #[test]
    fn weighted_lists_leave_the_remainder_to_the_default() {
        let st = status("503:5").unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let n = 20_000;
        let hits = (0..n).filter(|_| st.sample(&mut rng) == Some(Status(503))).count();
        let share = hits as f64 / n as f64;
        assert!((0.04..0.06).contains(&share), "503 share {share}");
        assert!(status("503:60,500:50").is_err());
        assert!(status("200..300").is_err());
        let full = d("10ms:90,500ms:10").unwrap();
        assert!((0..1000).all(|_| full.sample(&mut rng).is_some()));
    }

    #[test]
    fn ranges_and_long_tails_stay_in_bounds() {
        let mut rng = SmallRng::seed_from_u64(7);
        let u = d("50ms..150ms").unwrap();
        for _ in 0..1000 {
            let v = u.sample(&mut rng).unwrap();
            assert!(v >= Duration::from_millis(50) && v <= Duration::from_millis(150));
        }
        assert!(d("150ms..50ms").is_err());
        let ln = d("lognormal(80ms,400ms)").unwrap();
        let mut v: Vec<f64> = (0..20_000).map(|_| ln.sample(&mut rng).unwrap().as_secs_f64()).collect();
        v.sort_by(f64::total_cmp);
        let (p50, p99) = (v[10_000], v[19_800]);
        assert!((0.07..0.09).contains(&p50), "p50 {p50}");
        assert!((0.33..0.48).contains(&p99), "p99 {p99}");
        assert!(v.iter().all(|x| *x <= 30.0));
    }

    #[test]
    fn same_seed_same_samples() {
        let dist = d("lognormal(80ms,400ms)").unwrap();
        let a: Vec<_> = {
            let mut r = SmallRng::seed_from_u64(42);
            (0..10).map(|_| dist.sample(&mut r)).collect()
        };
        let mut r = SmallRng::seed_from_u64(42);
        let b: Vec<_> = (0..10).map(|_| dist.sample(&mut r)).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn a_weighted_list_mixes_any_distributions_in_their_shares() {
        let mix = d("2ms:90,lognormal(40ms,200ms):10").unwrap();
        assert_eq!(
            mix,
            Dist::Weighted(vec![
                (Dist::Fixed(Duration::from_millis(2)), 90.0),
                (
                    Dist::LogNormal {
                        median: Duration::from_millis(40),
                        p99: Duration::from_millis(200),
                        cap: Some(MAX)
                    },
                    10.0
                ),
            ])
        );
        let mut rng = SmallRng::seed_from_u64(11);
        let n = 20_000;
        let draws: Vec<Duration> = (0..n).map(|_| mix.sample(&mut rng).unwrap()).collect();
        let hits = draws.iter().filter(|v| **v == Duration::from_millis(2)).count() as f64 / n as f64;
        assert!((0.88..0.92).contains(&hits), "2 ms share {hits}");
        let mut slow: Vec<f64> =
            draws.iter().filter(|v| **v != Duration::from_millis(2)).map(|v| v.as_secs_f64()).collect();
        slow.sort_by(f64::total_cmp);
        let median = slow[slow.len() / 2];
        assert!((0.034..0.047).contains(&median), "median of the long-tail entries {median}");
        let ranged = d("1ms..3ms:50,lognormal(10ms,20ms):25").unwrap();
        let mut remainder = 0;
        for _ in 0..4000 {
            match ranged.sample(&mut rng) {
                None => remainder += 1,
                Some(v) => assert!(v >= Duration::from_millis(1)),
            }
        }
        assert!((800..1200).contains(&remainder), "remainder {remainder}/4000, expected about 25 %");
    }

    #[test]
    fn a_mixture_is_reproducible_from_its_seed() {
        let mix = d("2ms:50,10ms..20ms:30,lognormal(40ms,200ms):20").unwrap();
        let run = |seed| {
            let mut r = SmallRng::seed_from_u64(seed);
            (0..50).map(|_| mix.sample(&mut r)).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn malformed_nesting_says_what_is_allowed() {
        for bad in [
            "2ms:90,lognormal(40ms,200ms:10",
            "2ms:90,lognormal(40ms,200ms)):10",
            "lognormal(1ms,2ms:50)",
            "2ms:50:50",
            "(2ms:50):50",
            "2ms:90,lognormal(40ms,200ms)",
            "lognormal(1ms,2ms)x:10",
            ":50",
        ] {
            let e = d(bad).unwrap_err();
            assert!(e.allowed.contains("do not nest") || e.allowed.contains("does not nest"), "{bad}: {e}");
        }
        assert!(status("lognormal(200,500):10").is_err(), "status entries stay fixed values");
        for interim in ["100", "101", "0163:5", "200:50,199:50"] {
            assert!(status(interim).unwrap_err().allowed.contains("from 200 to 599"), "{interim}");
        }
        assert!(status("200..299:10").is_err());
        assert!(d("lognormal(40ms,31s):10").unwrap_err().error.contains("--max-delay"));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "80ms",
            "1500ms",
            "50ms..150ms",
            "10ms:90,500ms:10",
            "2ms:90,lognormal(40ms,200ms):10",
            "1ms..2ms:50",
            "lognormal(80ms,400ms)",
            "0",
            "2422ns",
            "1ns..1us",
        ] {
            let parsed = d(s).unwrap();
            assert_eq!(d(&parsed.to_string()).unwrap(), parsed, "{s}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn mixture_shares_follow_their_weights(a in 0u32..=60, b in 0u32..=40, seed in 0u64..1000) {
            let mix = d(&format!("1ms:{a},lognormal(5ms,9ms):{b}")).unwrap();
            let mut rng = SmallRng::seed_from_u64(seed);
            let n = 4000;
            let (mut fixed, mut rest) = (0, 0);
            for _ in 0..n {
                match mix.sample(&mut rng) {
                    Some(v) if v == Duration::from_millis(1) => fixed += 1,
                    Some(_) => {}
                    None => rest += 1,
                }
            }
            let share = |k: u32| f64::from(k) / f64::from(n);
            proptest::prop_assert!((share(fixed) - f64::from(a) / 100.0).abs() < 0.04, "1ms {} vs {a} %", share(fixed));
            proptest::prop_assert!((share(rest) - f64::from(100 - a - b) / 100.0).abs() < 0.04, "rest {} vs {} %", share(rest), 100 - a - b);
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}") {
            let _ = d(&s);
            let _ = sz(&s, 10 << 20);
            let _ = status(&s);
            let _ = parse_seed(&s);
        }

        #[test]
        fn grammar_shaped_input_never_panics(
            s in "(lognormal\\()?[0-9]{0,4}(\\.[0-9]{1,3})?(us|ms|s|B|KiB|MiB|)((\\.\\.|:|,)[0-9]{0,4}(ms|s|KiB)?){0,4}\\)?"
        ) {
            let mut rng = SmallRng::seed_from_u64(3);
            if let Ok(dist) = d(&s) {
                let v = dist.sample(&mut rng);
                proptest::prop_assert!(v.is_none_or(|v| v <= MAX));
            }
            if let Ok(dist) = sz(&s, 10 << 20) {
                let v = dist.sample(&mut rng);
                proptest::prop_assert!(v.is_none_or(|v| v.0 <= 10 << 20));
            }
        }
    }
}
