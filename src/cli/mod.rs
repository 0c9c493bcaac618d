//! The command line: one file per subcommand. Logs and errors go to stderr, data to stdout
//! or `--output`.

pub mod attest;
pub mod db;
pub mod explain;
pub mod harden;
pub mod keygen;
mod passphrase;
pub mod progress;
pub mod recheck;
pub mod remote;
pub mod sbom;
pub mod scan;
pub mod serve;
pub mod verify;
pub mod vex;

use clap::{Parser, Subcommand};
use portcullis_gate::report::text::visible;
use std::process::ExitCode;

pub use portcullis_gate::policy::params::parse_size;

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
        or above the fail threshold, 2 the image could not be scanned, 130/143 interrupted (SIGINT, \
        SIGTERM: temporary files removed, earlier outputs left as they were)."
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
    /// Generate a key pair for signing attestations
    Keygen(keygen::KeygenArgs),
    /// Scan an image (or take a report) and sign the result as an in-toto attestation,
    /// optionally attached to the image in its registry
    Attest(Box<attest::AttestArgs>),
    /// Verify a signed attestation (a file, or those attached to an image in its registry),
    /// and that it is about a given image
    Verify(verify::VerifyArgs),
    /// Write the image with its findings fixed (setuid bits, world-writable paths, files
    /// holding secrets, package caches), or with --plan print what would change
    Harden(Box<harden::HardenArgs>),
    /// Write the image's software bill of materials (CycloneDX or SPDX JSON)
    Sbom(sbom::SbomArgs),
    /// Judge images in a registry again against today's data, from the facts
    /// `scan --attach-facts` stored next to them (no layer is pulled); images without
    /// stored facts are scanned
    Recheck(Box<recheck::RecheckArgs>),
    /// The local vulnerability database: update it from osv.dev or a mirror, show its status
    Db(db::DbArgs),
    /// Write the waivers of vulnerabilities as an OpenVEX document
    Vex(vex::VexArgs),
    /// Serve Harbor's Pluggable Scanner API v1.2: Harbor sends scan requests, portcullis
    /// pulls each image from Harbor's registry and answers with vulnerability and SBOM
    /// reports (SIGTERM: running scans finish, then it exits)
    Serve(Box<serve::ServeArgs>),
}

impl Command {
    /// Whether the command handles SIGTERM itself (`serve` drains its running scans)
    /// rather than exiting at once.
    pub fn handles_signals(&self) -> bool {
        matches!(self, Command::Serve(_))
    }
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Scan(args) => scan::run(*args),
        Command::Explain(args) => explain::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Attest(args) => attest::run(*args),
        Command::Verify(args) => verify::run(args),
        Command::Harden(args) => harden::run(*args),
        Command::Sbom(args) => sbom::run(args),
        Command::Recheck(args) => recheck::run(*args),
        Command::Db(args) => db::run(args),
        Command::Vex(args) => vex::run(args),
        Command::Serve(args) => serve::run(*args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // An error can quote the image (an entry name, a tag): shown inert, on one line.
            let message = describe_error(&e);
            eprintln!("portcullis: error: {}", visible(&message));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// An error and its causes on one line, each cause said once: many errors already quote
/// their source in their own message (`{path}: {source}`), which `{:#}` would repeat
/// (`Permission denied (os error 13): Permission denied (os error 13)`).
pub fn describe_error(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Parses durations like `90s`, `15m`, `24h`, `7d`, `2w`, or `1h30m` (a unit is required).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{text:?} is not a duration (e.g. 90m, 24h, 7d)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match rest[..unit_len].trim() {
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hour" | "hours" => 3_600,
            "d" | "day" | "days" => 86_400,
            "w" | "week" | "weeks" => 604_800,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(seconds)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(|| format!("{text:?} is too long"))?;
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cause the message already quotes is not said twice.
    #[test]
    fn an_error_says_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(13);
        let shown = io.to_string();
        let e = anyhow::Error::new(portcullis_image::ImageError::io("app.tar", io))
            .context("reading the image");
        let line = describe_error(&e);
        assert_eq!(line.matches(&shown).count(), 1, "{line}");
        assert_eq!(line, format!("reading the image: app.tar: {shown}"));
    }

    #[test]
    fn durations_parse_with_units() {
        use std::time::Duration;
        let table = [
            ("90s", Some(90)),
            ("15m", Some(900)),
            ("24h", Some(86_400)),
            ("7d", Some(604_800)),
            ("2w", Some(1_209_600)),
            ("1h30m", Some(5_400)),
            ("3 days", Some(259_200)),
            ("0s", Some(0)),
            ("90", None),
            ("h", None),
            ("", None),
            ("5y", None),
            ("-1h", None),
            ("99999999999999999w", None),
        ];
        for (text, expected) in table {
            assert_eq!(
                parse_duration(text).ok(),
                expected.map(Duration::from_secs),
                "{text}"
            );
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
