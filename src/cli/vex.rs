//! `portcullis vex`: the waivers of vulnerabilities as an OpenVEX document, for the image's
//! consumers and for other scanners (`trivy --vex`, `grype --vex`, `portcullis scan --vex`).

use super::EXIT_PASS;
use super::scan::write_atomically;
use anyhow::{Context, Result, bail};
use clap::Args;
use portcullis_advisories::vex::{Header, openvex_document};
use portcullis_gate::analyze::Analyzers;
use portcullis_gate::policy::vex::from_waivers;
use portcullis_gate::policy::waivers::{self, Waivers};
use portcullis_gate::report::ImageSummary;
use portcullis_gate::report::text::visible;
use portcullis_gate::{ReadOptions, read_image};
use portcullis_model::image::Platform;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Who the document says made it when `--author` is not given, as vexctl writes it.
const UNKNOWN_AUTHOR: &str = "Unknown Author";

#[derive(Debug, Args)]
pub struct VexArgs {
    /// Waiver file [default: .portcullisignore.toml in the working directory]
    #[arg(long, visible_alias = "waivers", value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,

    /// The image the waivers are about: names the product by its digest, and the packages
    /// waivers name by their package URLs
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,

    /// The product's identifier instead of the image's own: a pkg:oci package URL, an image
    /// digest or reference
    #[arg(long, value_name = "ID")]
    pub product: Option<String>,

    /// The document's author [default: Unknown Author]
    #[arg(long, value_name = "NAME")]
    pub author: Option<String>,

    /// The document's IRI [default: derived from its content]
    #[arg(long, value_name = "IRI")]
    pub id: Option<String>,

    /// When the document was issued (RFC 3339) [default: PORTCULLIS_NOW, else
    /// SOURCE_DATE_EPOCH, else now]
    #[arg(long, value_name = "TIME")]
    pub timestamp: Option<String>,

    /// Write the document here (replaced atomically) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Platform to pick from a multi-platform index (default: linux and this host's
    /// architecture)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", requires = "image")]
    pub platform: Option<Platform>,

    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,
}

pub fn run(args: VexArgs) -> Result<u8> {
    if let Some(path) = &args.output {
        super::scan::check_output_dir(path).with_context(|| format!("-o {}", path.display()))?;
    }
    let timestamp = match &args.timestamp {
        Some(text) => {
            let time = portcullis_attest::parse_rfc3339(text)
                .with_context(|| format!("--timestamp {text}: not an RFC 3339 time"))?;
            portcullis_attest::rfc3339(time)
        }
        None => portcullis_attest::rfc3339(super::sbom::creation_time()?),
    };
    let waiver_file = match &args.ignore_file {
        Some(path) => path.clone(),
        None if Path::new(waivers::DEFAULT_FILE).is_file() => PathBuf::from(waivers::DEFAULT_FILE),
        None => bail!(
            "no waiver file: give --ignore-file FILE, or run where {} is",
            waivers::DEFAULT_FILE
        ),
    };
    let waivers = Waivers::load(&waiver_file).context("invalid waiver file")?;
    let image = match &args.image {
        Some(reference) => {
            let options = ReadOptions {
                platform: args.platform.clone(),
                remote: args.remote.options()?,
                observer: Some(std::sync::Arc::new(super::progress::AnnouncePull)),
                ..ReadOptions::default()
            };
            let facts = read_image(reference, &options, &Analyzers::default())
                .with_context(|| reference.clone())?;
            Some((facts.summary(), facts.inventory().packages))
        }
        None => None,
    };
    let product = match (&args.product, &image) {
        (Some(product), _) => product.clone(),
        (None, Some((summary, _))) => image_product(summary),
        (None, None) => bail!(
            "name the product the statements are about: --image IMAGE, or --product ID (a \
             pkg:oci package URL, an image digest or reference)"
        ),
    };
    let today = super::scan::today()?;
    let found = from_waivers(
        &waivers,
        today,
        &product,
        image.as_ref().map(|(_, packages)| packages.as_slice()),
    )
    .map_err(anyhow::Error::msg)?;
    for line in &found.left_out {
        eprintln!("portcullis: note: {}: left out", visible(line));
    }
    if found.statements.is_empty() {
        bail!(
            "{}: no waiver of a vulnerability to write (`check = \"vuln-package\"` with a `rule`)",
            waiver_file.display()
        );
    }
    let tooling = format!("portcullis {}", env!("CARGO_PKG_VERSION"));
    let document = openvex_document(
        &Header {
            id: args.id.as_deref(),
            author: args.author.as_deref().unwrap_or(UNKNOWN_AUTHOR),
            timestamp: &timestamp,
            tooling: &tooling,
        },
        &found.statements,
    );
    let render = |out: &mut dyn Write| -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &document)?;
        out.write_all(b"\n")
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
    eprintln!(
        "portcullis: wrote {} not_affected statement{} about {}",
        found.statements.len(),
        if found.statements.len() == 1 { "" } else { "s" },
        visible(&product)
    );
    Ok(EXIT_PASS)
}

/// How the document names the image: `pkg:oci/NAME@DIGEST?repository_url=REPO` when it has
/// a name and a manifest digest, else its digest (the config digest of a `docker save`
/// archive, which stores no manifest).
fn image_product(image: &ImageSummary) -> String {
    let Some(digest) = &image.manifest_digest else {
        return image.config_digest.clone();
    };
    let Some(name) = image.names.first() else {
        return digest.clone();
    };
    let repository = name.split('@').next().unwrap_or(name);
    let repository = match repository.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => repository,
    };
    let last = repository.rsplit('/').next().unwrap_or(repository);
    format!(
        "pkg:oci/{}@{}?repository_url={}",
        last.to_ascii_lowercase(),
        digest.replace(':', "%3A"),
        repository.to_ascii_lowercase()
    )
}
