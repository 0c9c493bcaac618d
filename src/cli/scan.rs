//! `portcullis scan IMAGE`

use super::progress::Progress;
use super::{EXIT_FAIL, EXIT_PASS, parse_size};
use crate::image::cache::CacheConfig;
use crate::image::model::Platform;
use crate::image::registry::RemoteOptions;
use crate::image::registry::credentials::Credentials;
use crate::layer::Limits;
use crate::policy::{Policy, Severity, Verdict};
use crate::report::{self, Report, table::Style};
use crate::scan::{self, ScanOptions};
use anyhow::{Context, Result, bail};
use clap::{ArgAction, Args, ValueEnum};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The image: docker-archive:PATH, oci:DIR[:TAG], oci-archive:PATH[:TAG],
    /// docker-daemon:NAME[:TAG], docker://[REGISTRY/]NAME[:TAG|@DIGEST], or a path (format
    /// detected) or a name to pull
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

    /// Registry user name (the password is read from stdin with --password-stdin)
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,

    /// Read the registry password or token from stdin
    #[arg(long, requires = "username")]
    pub password_stdin: bool,

    /// Do not verify registry certificates, and allow plain-HTTP registries
    #[arg(long)]
    pub insecure: bool,

    /// Verify registry certificates (--tls-verify=false is --insecure, as in skopeo)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", action = ArgAction::Set)]
    pub tls_verify: Option<bool>,

    /// Layer cache directory (default: $XDG_CACHE_HOME/portcullis or ~/.cache/portcullis)
    #[arg(long, value_name = "DIR", env = "PORTCULLIS_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Scan every layer; neither read nor write the layer cache
    #[arg(long)]
    pub no_cache: bool,

    /// Size the layer cache is trimmed to, least recently used entries first (e.g. 2G)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "2G")]
    pub cache_max_size: u64,

    /// No progress on stderr
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log each layer (scanned or taken from the cache) and what was read, on stderr
    #[arg(short, long)]
    pub verbose: bool,
}

impl ScanArgs {
    fn remote(&self) -> Result<RemoteOptions> {
        let credentials = match &self.username {
            Some(user) => {
                let mut password = String::new();
                std::io::stdin()
                    .take(64 << 10)
                    .read_to_string(&mut password)
                    .context("reading the password from stdin")?;
                let password = password.trim_end_matches(['\n', '\r']);
                if password.is_empty() {
                    bail!("--password-stdin: stdin is empty");
                }
                Some(Credentials::basic(user.clone(), password))
            }
            None => None,
        };
        Ok(RemoteOptions {
            credentials,
            insecure: self.insecure || self.tls_verify == Some(false),
        })
    }

    fn cache(&self) -> Option<CacheConfig> {
        if self.no_cache {
            return None;
        }
        let dir = self.cache_dir.clone().or_else(CacheConfig::default_dir)?;
        Some(CacheConfig {
            dir,
            max_size: self.cache_max_size,
        })
    }
}

pub fn run(args: ScanArgs) -> Result<u8> {
    let progress = Arc::new(Progress::new(args.quiet, args.verbose));
    let options = ScanOptions {
        platform: args.platform.clone(),
        limits: Limits {
            max_entries: args.max_entries,
            max_total_bytes: args.max_uncompressed_size,
            max_entry_size: args.max_file_size,
        },
        remote: args.remote()?,
        cache: args.cache(),
        observer: Some(progress.clone()),
    };
    let scanned = scan::scan_image(&args.image, &options);
    progress.finish();
    let facts = scanned.with_context(|| args.image.clone())?;
    let policy = Policy {
        fail_on: args.fail_on,
        ..Policy::default()
    };
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
