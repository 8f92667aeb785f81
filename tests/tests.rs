//! One integration-test binary (fast to link): servers on 127.0.0.1:0 driven by real clients.

mod support;

mod admission;
mod binary;
mod cache;
mod control;
mod echo;
mod fuzz_corpus;
mod link;
mod metrics;
mod protocols;
mod records;
mod relay;
