//! The JSON answer (`format=json` or `Accept: application/json`): the request as it arrived,
//! and what was done with it.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::instance::Instance;
use crate::knobs::{self, Drawn};
use crate::relay;

/// The request part, taken from the head before it is let go.
pub fn request(parts: &hyper::http::request::Parts) -> Map<String, Value> {
    let headers: Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    let mut doc = Map::new();
    doc.insert("method".into(), parts.method.as_str().into());
    doc.insert("path".into(), parts.uri.path().into());
    doc.insert("query".into(), parts.uri.query().unwrap_or("").into());
    doc.insert("version".into(), format!("{:?}", parts.version).into());
    doc.insert("headers".into(), headers.into());
    doc
}

/// What was done: who answered, the values drawn, and where the time went (milliseconds).
pub struct Done<'a> {
    pub instance: &'a Instance,
    pub seq: u64,
    pub in_flight: usize,
    pub drawn: &'a Drawn,
    pub seed: Option<u64>,
    pub timings: [(&'static str, Duration); 4],
}

/// The whole document, indented.
pub fn answer(mut doc: Map<String, Value>, done: Done<'_>) -> Vec<u8> {
    let Done { instance, seq, in_flight, drawn, seed, timings } = done;
    let who = json!({ "id": instance.id, "started": instance.started_rfc3339, "region": instance.region });
    doc.insert("instance".into(), who);
    doc.insert("seq".into(), seq.into());
    doc.insert("in_flight".into(), in_flight.into());
    doc.insert(
        "knobs".into(),
        json!({
            "delay": knobs::format_duration(drawn.delay),
            "cpu": knobs::format_duration(drawn.cpu),
            "status": drawn.status,
            "size": drawn.size,
            "seed": seed,
            "cache": drawn.cache.map(|p| p.to_string()),
        }),
    );
    let ms = timings.map(|(name, d)| (format!("{name}_ms"), Value::from(d.as_secs_f64() * 1e3)));
    doc.insert("timings".into(), Map::from_iter(ms).into());
    let [.., (_, total)] = timings;
    doc.insert("chain".into(), relay::own_chain(instance, total));
    serde_json::to_vec_pretty(&Value::Object(doc)).unwrap_or_default()
}
