//! The command line: one file per subcommand. Logs and errors go to stderr, data to stdout
//! or `--output`.

pub mod explain;
pub mod scan;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

pub use crate::policy::params::parse_size;

/// The image passed the gate.
pub const EXIT_PASS: u8 = 0;
/// A finding at or above the fail threshold.
pub const EXIT_FAIL: u8 = 1;
/// The image could not be scanned, or the command line was wrong.
pub const EXIT_ERROR: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A container image hardening gate",
    long_about = "A container image hardening gate: reads an image once, as a stream, and \
        reports what makes it unsafe to ship.\n\nExit codes: 0 the image passed, 1 a finding at \
        or above the fail threshold, 2 the image could not be scanned."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan an image and gate on its findings
    Scan(Box<scan::ScanArgs>),
    /// Describe a check, or list them all
    Explain(explain::ExplainArgs),
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Scan(args) => scan::run(*args),
        Command::Explain(args) => explain::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("portcullis: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
