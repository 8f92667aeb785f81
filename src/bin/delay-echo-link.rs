//! `delay-echo-link`: the lab's user-space network link (`delay_echo::link`), a binary of its own
//! so that the service's binary, its `--help` and its image do not carry it.
//! Exit codes: 0 clean, 1 cannot listen or a runtime error, 2 bad flags (clap's own too).

use std::process::ExitCode;

use clap::Parser;
use delay_echo::link::LinkArgs;

fn main() -> ExitCode {
    delay_echo::link::main(&LinkArgs::parse())
}
