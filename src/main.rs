//! The doorway: parse the flags, then serve (`delay_echo::run`), probe (`healthcheck`), or print
//! the resolved configuration (`--print-config`) or the metrics (`--list-metrics`). The lab's
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
    if cli.print_config {
        println!("{}", delay_echo::print_config(&config));
        return ExitCode::SUCCESS;
    }
    if cli.list_metrics {
        return match delay_echo::list_metrics(config) {
            Ok(families) => {
                for f in families {
                    println!("{}\t{}\t{}", f.name, f.kind, f.help);
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("delay-echo: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match delay_echo::run(config) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("delay-echo: {e}");
            ExitCode::FAILURE
        }
    }
}
