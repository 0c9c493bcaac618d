//! The command line: one file per subcommand. Logs and errors go to stderr, data to stdout
//! or `--output`.

pub mod explain;
pub mod progress;
pub mod scan;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    Scan(scan::ScanArgs),
    /// Describe a check, or list them all
    Explain(explain::ExplainArgs),
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Scan(args) => scan::run(args),
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

/// Parses sizes like `512`, `64KiB`, `10M`, `2G`, `1TiB` (binary units).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 512M, 10G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("10G").unwrap(), 10 << 30);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
