//! `portcullis scan IMAGE`

use super::{EXIT_FAIL, EXIT_PASS, parse_size};
use crate::image::model::Platform;
use crate::layer::Limits;
use crate::policy::{Policy, Severity, Verdict};
use crate::report::{self, Report, table::Style};
use crate::scan::secrets::RuleSet;
use crate::scan::{self, ScanOptions};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The image: docker-archive:PATH, oci:DIR[:TAG], oci-archive:PATH[:TAG], or a path
    /// (format detected)
    pub image: String,

    /// Platform to pick from a multi-platform index (default: linux and this host's
    /// architecture)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// Write the report to FILE instead of stdout (replaced atomically)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Fail (exit 1) on a finding at or above this severity
    #[arg(long, value_name = "SEVERITY", default_value = "high")]
    pub fail_on: Severity,

    /// Most tar entries accepted over all layers
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_entries)]
    pub max_entries: u64,

    /// Most uncompressed bytes accepted over all layers (e.g. 256G)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "256G")]
    pub max_uncompressed_size: u64,

    /// Largest single file accepted (e.g. 64G)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64G")]
    pub max_file_size: u64,

    /// Do not look for secrets (files, image config, build history)
    #[arg(long, conflicts_with = "secret_rules")]
    pub no_secrets: bool,

    /// Extra secret rules: a TOML file in the format of policies/secret-rules.toml, whose
    /// rules and allow rules are added to the built-in ones and whose `disable` list switches
    /// rules off (docs/secrets.md). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub secret_rules: Vec<PathBuf>,
}

pub fn run(args: ScanArgs) -> Result<u8> {
    let secrets = if args.no_secrets {
        None
    } else {
        let mut rules = RuleSet::builtin();
        for file in &args.secret_rules {
            rules = Arc::new(rules.with_user_file(file)?);
        }
        Some(rules)
    };
    let policy = Policy {
        fail_on: args.fail_on,
        secrets,
        ..Policy::default()
    };
    let options = ScanOptions {
        platform: args.platform.clone(),
        limits: Limits {
            max_entries: args.max_entries,
            max_total_bytes: args.max_uncompressed_size,
            max_entry_size: args.max_file_size,
        },
        secret_rules: policy.secrets.clone(),
    };
    let facts = scan::scan_image(&args.image, &options).with_context(|| args.image.clone())?;
    let report = crate::checks::evaluate(&facts, &policy);
    emit(&report, args.format, args.output.as_deref())?;
    Ok(match report.gate.result {
        Verdict::Passed => EXIT_PASS,
        Verdict::Failed => EXIT_FAIL,
    })
}

fn emit(report: &Report, format: Format, output: Option<&Path>) -> Result<()> {
    match output {
        None => {
            let stdout = std::io::stdout();
            let color =
                stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let mut lock = stdout.lock();
            render(report, format, &mut lock, color)?;
            lock.flush()?;
        }
        Some(path) => write_atomically(path, |w| render(report, format, w, false))?,
    }
    Ok(())
}

fn render(
    report: &Report,
    format: Format,
    out: &mut dyn Write,
    color: bool,
) -> std::io::Result<()> {
    match format {
        Format::Table => report::table::write(report, out, &Style { color }),
        Format::Json => report::json::write(report, out),
    }
}

/// Writes to a temporary file beside `path` and renames it into place, so that a failed
/// run never leaves a half-written report behind.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| {
        format!(
            "{}: cannot create a file in {}",
            path.display(),
            dir.display()
        )
    })?;
    {
        let mut buffered = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buffered).with_context(|| format!("writing {}", path.display()))?;
        buffered.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("{}: cannot replace the file", path.display()))?;
    Ok(())
}
