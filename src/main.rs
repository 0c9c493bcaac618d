use clap::Parser;
use portcullis::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before anything is created that an interrupt would have to remove.
    if !cli.command.handles_signals()
        && let Err(e) = portcullis_interrupt::install()
    {
        eprintln!("portcullis: error: cannot handle interrupts: {e}");
        return ExitCode::from(cli::EXIT_ERROR);
    }
    cli::run(cli)
}
