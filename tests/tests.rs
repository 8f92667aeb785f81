//! One integration-test binary (fast to link): servers on 127.0.0.1:0 driven by real clients.

mod support;

// The stack's floor, measured beside delay-echo in `allocations`.
#[path = "../bench/hyper_floor.rs"]
#[allow(dead_code)]
mod hyper_floor;

#[global_allocator]
static ALLOCATOR: support::alloc::Counting = support::alloc::Counting;

mod admission;
mod allocations;
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
