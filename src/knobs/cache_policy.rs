//! The `cache` knob's value: who may store an answer and for how long. Parsed here with the
//! other knob values; `crate::cache` turns it into an answer's headers and validators.
//!
//! ```text
//! cache=60s          Cache-Control: public, max-age=60
//! cache=private,60s  Cache-Control: private, max-age=60   (browsers, not shared caches)
//! cache=public,60s   the same as 60s
//! cache=no-store     Cache-Control: no-store
//! (unset)            no Cache-Control, no validators (the default)
//! ```

use std::fmt;
use std::time::Duration;

use hyper::header::HeaderValue;

use super::grammar::{KnobError, Value, format_duration};

/// At most a year: RFC 9111 §5.2.2.1 leaves longer to the cache, and a longer max-age is almost
/// always a typo.
const MAX_AGE_LIMIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Who may store the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CachePolicy {
    /// `public` (any cache) or `private` (the client's own), for `max_age` seconds (at most a
    /// year, so 32 bits: the policy is drawn into every request's state).
    Store {
        private: bool,
        max_age: u32,
    },
    NoStore,
}

impl CachePolicy {
    pub fn parse(s: &str) -> Result<CachePolicy, KnobError> {
        let err = |error: String| KnobError {
            error,
            allowed: "a max-age in whole seconds with a unit, e.g. 60s or 10m (public), private,60s, public,60s, \
                      or no-store; at most 365d"
                .into(),
        };
        let s = s.trim();
        if s == "no-store" {
            return Ok(CachePolicy::NoStore);
        }
        let (private, age) = match s.split_once(',') {
            Some(("private", age)) => (true, age),
            Some(("public", age)) => (false, age),
            Some((scope, _)) => return Err(err(format!("{scope:?} is not a scope (public or private)"))),
            None => (false, s),
        };
        let age = Duration::parse_one(age.trim()).map_err(err)?;
        if age.subsec_nanos() != 0 {
            return Err(err(format!("{s:?}: max-age is whole seconds")));
        }
        if age > MAX_AGE_LIMIT {
            return Err(err(format!("{s:?} is longer than a year")));
        }
        Ok(CachePolicy::Store { private, max_age: age.as_secs() as u32 })
    }

    /// The `Cache-Control` value.
    pub fn header(self) -> HeaderValue {
        match self {
            CachePolicy::NoStore => HeaderValue::from_static("no-store"),
            CachePolicy::Store { private, max_age } => {
                let scope = if private { "private" } else { "public" };
                HeaderValue::try_from(format!("{scope}, max-age={max_age}")).expect("ASCII")
            }
        }
    }

    /// Whether the answer may be stored, and so carries validators.
    pub fn may_store(self) -> bool {
        matches!(self, CachePolicy::Store { .. })
    }
}

impl fmt::Display for CachePolicy {
    /// The policy in the knob's grammar (what GET /config shows).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CachePolicy::NoStore => f.write_str("no-store"),
            CachePolicy::Store { private, max_age } => {
                let age = format_duration(Duration::from_secs(u64::from(*max_age)));
                if *private { write!(f, "private,{age}") } else { f.write_str(&age) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_gives_its_header_and_shows_as_given() {
        for (given, header, shown) in [
            ("60s", "public, max-age=60", "60s"),
            ("public,60s", "public, max-age=60", "60s"),
            ("private,60s", "private, max-age=60", "private,60s"),
            ("private, 2m", "private, max-age=120", "private,120s"),
            ("no-store", "no-store", "no-store"),
            ("0", "public, max-age=0", "0"),
        ] {
            let p = CachePolicy::parse(given).unwrap();
            assert_eq!(p.header(), header, "{given}");
            assert_eq!(p.to_string(), shown, "{given}");
            assert_eq!(CachePolicy::parse(&p.to_string()).unwrap(), p);
        }
        assert!(!CachePolicy::NoStore.may_store());
    }

    #[test]
    fn bad_values_say_what_is_allowed() {
        for bad in ["60", "1.5s", "shared,60s", "400d", "", "no-cache", "private,"] {
            let e = CachePolicy::parse(bad).unwrap_err();
            assert!(e.allowed.contains("no-store"), "{bad}: {e}");
        }
    }
}
