//! Who is answering: the instance's id, start time and region, made once at start-up into the
//! header values every answer carries (a clone per answer is a reference-count bump).
//!
//! A leaf: handlers, `response` and `relay` read it, and it reads nothing of theirs.

use std::time::SystemTime;

use hyper::header::HeaderValue;

/// Who answered: precomputed header values, cloned (a reference-count bump) per answer.
pub struct Instance {
    pub id: String,
    pub id_header: HeaderValue,
    pub started_rfc3339: String,
    pub start_header: HeaderValue,
    pub region: Option<String>,
    pub region_header: Option<HeaderValue>,
    /// `Last-Modified` of a cacheable answer: the instance's start, as an HTTP date.
    pub last_modified: HeaderValue,
}

impl Instance {
    /// The instance starting now; `id` and `region` are validated by the configuration
    /// (visible ASCII; a name).
    pub fn new(id: &str, region: Option<&str>) -> Instance {
        let started = SystemTime::now();
        let started_rfc3339 = humantime::format_rfc3339_millis(started).to_string();
        Instance {
            last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(started)).expect("an HTTP date is ASCII"),
            id: id.to_owned(),
            id_header: HeaderValue::from_str(id).expect("instance id is validated as visible ASCII"),
            start_header: HeaderValue::from_str(&started_rfc3339).expect("RFC 3339 is ASCII"),
            started_rfc3339,
            region: region.map(str::to_owned),
            region_header: region.map(|r| HeaderValue::from_str(r).expect("the region is validated as a name")),
        }
    }
}
