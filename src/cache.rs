//! The `cache` knob: makes an echo answer cacheable, so a CDN or a proxy cache in front behaves
//! as it would in front of a real application. The knob's value (`60s`, `private,60s`,
//! `no-store`) is a `knobs::CachePolicy`; this module writes what it means into an answer.
//!
//! An answer that may be stored also carries a strong `ETag` and `Last-Modified` (the instance's
//! start). The ETag is a hash of what makes the answer: method, path, query, request body,
//! whether the JSON description was asked for, and the values drawn for the knobs (delay, cpu,
//! status, size, cache); so the same request gets the same ETag on every instance of a build, and
//! a request whose draws differ (an unseeded range) gets another. The JSON description also
//! carries the sequence number and timings, which change per answer; its ETag still names the
//! request, not those bytes. A `GET` or `HEAD` whose `If-None-Match` matches is answered `304`
//! without a body, after the delay and the CPU burn: a revalidation at the origin costs the
//! origin's work, as it would with a real application.
//!
//! What a CDN keys on: by default the path and the query string (CloudFront's cache policy with
//! query strings included, nginx's `proxy_cache_key $scheme$proxy_host$request_uri`), not the
//! `X-Echo-*` headers. So give the knobs of a cacheable answer in the query: every knob
//! combination is then its own cached object, and a knob given as a header would be served from
//! the object cached for the bare URL. No `Vary` is sent: CloudFront ignores it for
//! anything but its own cache key.

use std::hash::{DefaultHasher, Hash, Hasher};

use hyper::header::HeaderValue;

use crate::knobs::{CachePolicy, Drawn};

/// Writes the caching headers of an answer with this policy: `Cache-Control`, and for one that
/// may be stored its `ETag` and `Last-Modified`.
pub fn stamp(h: &mut hyper::HeaderMap, policy: CachePolicy, etag: Option<HeaderValue>, last_modified: &HeaderValue) {
    h.insert(hyper::header::CACHE_CONTROL, policy.header());
    if let Some(etag) = etag {
        h.insert(hyper::header::ETAG, etag);
        h.insert(hyper::header::LAST_MODIFIED, last_modified.clone());
    }
}

/// The ETag of a cacheable answer, begun from the request head (which is let go before the
/// delay) and finished with the body.
pub struct Validator {
    hash: DefaultHasher,
    /// The request's `If-None-Match`, copied, when it may be answered 304 (GET or HEAD).
    if_none_match: Option<Box<[u8]>>,
}

impl Validator {
    pub fn begin(head: &hyper::http::request::Parts, json: bool, drawn: &Drawn) -> Validator {
        // SipHash with fixed keys: the same input gives the same ETag in every process of a
        // build (a RandomState would differ per instance).
        let mut hash = DefaultHasher::new();
        // A HEAD answer carries the GET answer's validators (RFC 9110 §9.3.2).
        let method = if head.method == hyper::Method::HEAD { "GET" } else { head.method.as_str() };
        method.hash(&mut hash);
        head.uri.path().hash(&mut hash);
        head.uri.query().unwrap_or("").hash(&mut hash);
        json.hash(&mut hash);
        (drawn.delay, drawn.cpu, drawn.status, drawn.size, drawn.cache).hash(&mut hash);
        let conditional = matches!(head.method, hyper::Method::GET | hyper::Method::HEAD);
        let if_none_match = head
            .headers
            .get(hyper::header::IF_NONE_MATCH)
            .filter(|_| conditional)
            .map(|v| v.as_bytes().to_vec().into_boxed_slice());
        Validator { hash, if_none_match }
    }

    /// Adds the request body (none is the empty body).
    pub fn hash_body(&mut self, body: &[u8]) {
        self.hash.write(body);
    }

    /// The ETag, and whether the request's `If-None-Match` names it.
    pub fn finish(self) -> (HeaderValue, bool) {
        let tag = format!("\"{:016x}\"", self.hash.finish());
        let matched = self.if_none_match.as_deref().is_some_and(|inm| matches(inm, &tag));
        (HeaderValue::try_from(tag).expect("hex digits"), matched)
    }
}

/// `If-None-Match` against one entity tag, by weak comparison (RFC 9110 §13.1.2): `*`, or any
/// listed tag equal to it with or without `W/`.
fn matches(if_none_match: &[u8], tag: &str) -> bool {
    let Ok(list) = std::str::from_utf8(if_none_match) else { return false };
    list.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison_over_a_list() {
        let tag = "\"00000000000000ab\"";
        assert!(matches(b"\"00000000000000ab\"", tag));
        assert!(matches(b"\"x\", W/\"00000000000000ab\"", tag));
        assert!(matches(b"*", tag));
        assert!(!matches(b"\"00000000000000ac\"", tag));
        assert!(!matches(b"", tag));
    }
}
