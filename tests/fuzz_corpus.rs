//! The fuzz corpus (fuzz/corpus/<target>/) replayed through the fuzz targets' own properties
//! (fuzz/src/lib.rs), so every case the fuzzer kept is checked by plain `cargo test`, without
//! libFuzzer or nightly flags.

#[path = "../fuzz/src/lib.rs"]
mod properties;

use std::path::Path;

fn replay(target: &str, property: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no case", dir.display());
    for file in files {
        let data = std::fs::read(&file).expect("a corpus file");
        let outcome = std::panic::catch_unwind(|| property(&data));
        assert!(outcome.is_ok(), "{} fails its property ({:?})", file.display(), String::from_utf8_lossy(&data));
    }
}

#[test]
fn knobs() {
    replay("knobs", properties::knobs);
}

#[test]
fn cache_policy() {
    replay("cache_policy", properties::cache_policy);
}

#[test]
fn hops() {
    replay("hops", properties::hops);
}

#[test]
fn config_body() {
    replay("config_body", properties::config_body);
}

#[test]
fn server_timing() {
    replay("server_timing", properties::server_timing);
}

#[test]
fn chain() {
    replay("chain", properties::chain);
}

#[test]
fn request() {
    replay("request", properties::request);
}
