//! The fuzz corpus (fuzz/corpus/<target>/) replayed through the fuzz targets' own properties
//! (fuzz/src/lib.rs), so every case the fuzzer kept is checked by plain `cargo test`, without
//! libFuzzer or nightly flags.

#[path = "../fuzz/src/lib.rs"]
mod properties;

use std::path::Path;

/// Every file of fuzz/corpus/<target>/, the examples of docs/api.md in fuzz/seeds/<target>/ and,
/// where a finding left one, fuzz/regressions/<target>/.
fn replay(target: &str, property: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
        .chain(
            ["seeds", "regressions"]
                .iter()
                .flat_map(|d| std::fs::read_dir(fuzz.join(d).join(target)).into_iter().flatten()),
        )
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(files.len() > 1, "{} holds no corpus", corpus.display());
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
