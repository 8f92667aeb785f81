//! The three per-request header values of an echo answer (sequence, in-flight, Server-Timing),
//! written into one fixed buffer and sliced, so they cost one allocation instead of three.

use std::time::Duration;

use hyper::header::HeaderValue;

pub struct Dynamic {
    pub seq: HeaderValue,
    pub in_flight: HeaderValue,
    pub timing: HeaderValue,
}

/// The most the three values can take: two 20-digit integers, and four timings of at most
/// "total;dur=" + 23 digits + ".mmm" (a `Duration`'s whole range) joined by ", ": 194 bytes.
const DYNAMIC_MAX: usize = 256;

/// A buffer that `Bytes` owns: one allocation, and slices of it share that allocation (a `Vec`
/// turned into `Bytes` allocates a second time, for the shared count, when first sliced).
struct Written {
    buf: [u8; DYNAMIC_MAX],
    len: usize,
}

impl Written {
    fn put(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }
}

impl AsRef<[u8]> for Written {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Server-Timing reads `queue;dur=0.012, sleep;dur=80.104, cpu;dur=0.000, total;dur=80.140`:
/// milliseconds with microsecond precision, written with integer formatting (float formatting
/// showed in profiles).
pub fn dynamic_headers(seq: u64, in_flight: usize, timings: [(&str, Duration); 4]) -> Dynamic {
    let mut out = Written { buf: [0; DYNAMIC_MAX], len: 0 };
    let mut int = itoa::Buffer::new();
    out.put(int.format(seq).as_bytes());
    let seq_end = out.len;
    out.put(int.format(in_flight).as_bytes());
    let in_flight_end = out.len;
    for (i, (name, d)) in timings.into_iter().enumerate() {
        if i > 0 {
            out.put(b", ");
        }
        let us = d.as_micros();
        out.put(name.as_bytes());
        out.put(b";dur=");
        out.put(int.format(us / 1000).as_bytes());
        let frac = (us % 1000) as u16;
        out.put(&[b'.', b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8]);
    }
    let end = out.len;
    let all = bytes::Bytes::from_owner(out);
    let value =
        |r: std::ops::Range<usize>| HeaderValue::from_maybe_shared(all.slice(r)).expect("ASCII digits and names");
    Dynamic { seq: value(0..seq_end), in_flight: value(seq_end..in_flight_end), timing: value(in_flight_end..end) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_headers_slice_one_buffer_and_timing_is_milliseconds() {
        let d = dynamic_headers(
            41,
            7,
            [
                ("queue", Duration::from_micros(12)),
                ("sleep", Duration::from_micros(80_104)),
                ("cpu", Duration::ZERO),
                ("total", Duration::from_nanos(80_140_999)),
            ],
        );
        assert_eq!(d.seq, "41");
        assert_eq!(d.in_flight, "7");
        assert_eq!(d.timing.to_str().unwrap(), "queue;dur=0.012, sleep;dur=80.104, cpu;dur=0.000, total;dur=80.140");
    }

    #[test]
    fn dynamic_headers_fit_the_largest_values() {
        let d = dynamic_headers(u64::MAX, usize::MAX, [("total", Duration::MAX); 4]);
        assert_eq!(d.seq, u64::MAX.to_string().as_str());
        let longest = d.seq.len() + d.in_flight.len() + d.timing.len();
        assert!(longest <= DYNAMIC_MAX, "{longest} bytes");
        assert!(d.timing.to_str().unwrap().ends_with(".999"));
    }
}
