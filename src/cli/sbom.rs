//! `portcullis sbom IMAGE`: the image's software bill of materials, as CycloneDX 1.5 or
//! SPDX 2.3 JSON.

use super::EXIT_PASS;
use super::scan::{NOW_ENV, write_atomically};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use portcullis_gate::analyze::Analyzers;
use portcullis_gate::report::sbom::Sbom;
use portcullis_gate::report::text::visible;
use portcullis_gate::report::{cyclonedx, spdx};
use portcullis_gate::{ReadOptions, read_image};
use portcullis_model::image::Platform;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The reproducible-builds convention for a fixed timestamp (seconds since the epoch).
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomFormat {
    /// CycloneDX 1.5 JSON
    Cyclonedx,
    /// SPDX 2.3 JSON
    Spdx,
}

#[derive(Debug, Args)]
pub struct SbomArgs {
    /// The image: docker-archive:PATH, oci:DIR[:TAG], oci-archive:PATH[:TAG],
    /// docker-daemon:NAME[:TAG], docker://[REGISTRY/]NAME[:TAG|@DIGEST], or a path (format
    /// detected) or a name to pull
    pub image: String,

    /// Document format: cyclonedx (CycloneDX 1.5 JSON) or spdx (SPDX 2.3 JSON)
    #[arg(short, long, value_enum, default_value = "cyclonedx")]
    pub format: SbomFormat,

    /// Write the document here (replaced atomically) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Platform to pick from a multi-platform index (default: linux and this host's
    /// architecture)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,

    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,
}

pub fn run(args: SbomArgs) -> Result<u8> {
    if let Some(path) = &args.output {
        super::scan::check_output_dir(path).with_context(|| format!("-o {}", path.display()))?;
    }
    let created = creation_time()?;
    let options = ReadOptions {
        platform: args.platform.clone(),
        remote: args.remote.options()?,
        observer: Some(std::sync::Arc::new(super::progress::AnnouncePull)),
        ..ReadOptions::default()
    };
    let facts = read_image(&args.image, &options, &Analyzers::default())
        .with_context(|| args.image.clone())?;
    let inventory = facts.inventory();
    let summary = facts.summary();
    let sbom = Sbom::new(&summary, &inventory, portcullis_attest::rfc3339(created));
    let render = |out: &mut dyn Write| match args.format {
        SbomFormat::Cyclonedx => cyclonedx::write(&sbom, out),
        SbomFormat::Spdx => spdx::write(&sbom, out),
    };
    match &args.output {
        Some(path) => write_atomically(path, render)?,
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            render(&mut lock)?;
            lock.flush()?;
        }
    }
    for diagnostic in &facts.diagnostics {
        let path = diagnostic.path.as_deref().unwrap_or("");
        eprintln!(
            "portcullis: note: /{}: {}",
            visible(path),
            visible(&diagnostic.message)
        );
    }
    Ok(EXIT_PASS)
}

/// When the document says it was made: `PORTCULLIS_NOW` (a date, or an RFC 3339 time),
/// else `SOURCE_DATE_EPOCH`, else now.
pub(crate) fn creation_time() -> Result<SystemTime> {
    if let Ok(text) = std::env::var(NOW_ENV)
        && !text.is_empty()
    {
        if let Some(time) = portcullis_attest::parse_rfc3339(&text) {
            return Ok(time);
        }
        let date: portcullis_model::Date =
            text.parse().with_context(|| format!("{NOW_ENV}={text}"))?;
        let days = u64::try_from(date.unix_days())
            .with_context(|| format!("{NOW_ENV}={text}: before 1970"))?;
        return Ok(UNIX_EPOCH + Duration::from_secs(days * 86_400));
    }
    if let Ok(text) = std::env::var(SOURCE_DATE_EPOCH)
        && !text.is_empty()
    {
        let Ok(seconds) = text.trim().parse::<u64>() else {
            bail!("{SOURCE_DATE_EPOCH}={text}: not a number of seconds");
        };
        return Ok(UNIX_EPOCH + Duration::from_secs(seconds));
    }
    Ok(SystemTime::now())
}
