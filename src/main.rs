//! The doorway: parse the flags, then serve (`delay_echo::run`) or probe (`healthcheck`). The lab's
//! link is a binary of its own (src/bin/delay-echo-link.rs).
//! Exit codes: 0 clean, 1 unhealthy or a runtime error, 2 bad configuration (clap's own too).

use std::process::ExitCode;

use clap::Parser;
use delay_echo::cli::{Cli, Command};
use delay_echo::platform::Platform;
use delay_echo::{Config, healthcheck};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck(args)) = &cli.command {
        return healthcheck::run(args);
    }
    let config = match Config::from_args(&cli.serve, &Platform::detect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("delay-echo: {e}");
            return ExitCode::from(2);
        }
    };
    match delay_echo::run(config) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("delay-echo: {e}");
            ExitCode::FAILURE
        }
    }
}
