//! `portcullis recheck docker://REGISTRY/NAME[:TAG|@DIGEST] ...`: judges images again against
//! today's data from the facts `scan --attach-facts` stored next to them, pulling no layer.
//! An image without stored facts (or with facts other analyzers made) is scanned, and with
//! `--attach-facts` its facts are stored for the next time.

use super::remote::registry_target;
use super::scan::{GateArgs, ReadArgs, today};
use super::{EXIT_FAIL, EXIT_PASS};
use anyhow::{Context, Result, bail};
use clap::Args;
use portcullis_attest::push::{self, Listing};
use portcullis_gate::facts::ImageFacts;
use portcullis_gate::facts::stored::{self, StoredFacts};
use portcullis_gate::policy::Verdict;
use portcullis_gate::report::cyclonedx;
use portcullis_gate::report::sbom::Sbom;
use portcullis_gate::{Gate, ReadOptions};
use portcullis_image::registry::name::RegistryRef;
use portcullis_image::registry::{RemoteOptions, Session, list_tags};
use portcullis_image::resolve::MAX_MANIFEST;
use std::io::Write;

#[derive(Debug, Args)]
pub struct RecheckArgs {
    /// Images in a registry: docker://REGISTRY/NAME:TAG or @DIGEST for one image,
    /// docker://REGISTRY/NAME for every tag of the repository
    #[arg(required = true)]
    pub images: Vec<String>,

    /// Store the facts of the images that had to be scanned, for the next recheck
    #[arg(long)]
    pub attach_facts: bool,

    /// Write the reports as JSON lines (one object per image: image, digest, how it was
    /// judged, and the report) instead of one summary line each
    #[arg(long)]
    pub json: bool,

    /// Exit code when an image fails the gate (0 reports without failing)
    #[arg(long, value_name = "N", default_value_t = EXIT_FAIL)]
    pub exit_code: u8,

    #[command(flatten)]
    pub gate: GateArgs,

    #[command(flatten)]
    pub read: ReadArgs,
}

/// How an image was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judged {
    /// From the facts stored next to it: no layer was read.
    Stored,
    /// Scanned: it had no stored facts.
    ScannedNoFacts,
    /// Scanned: its facts were made by other analyzers (another version, other rules).
    ScannedStale,
}

impl Judged {
    fn as_str(self) -> &'static str {
        match self {
            Judged::Stored => "from stored facts",
            Judged::ScannedNoFacts => "scanned (no stored facts)",
            Judged::ScannedStale => "scanned (stored facts from other analyzers)",
        }
    }
}

pub fn run(args: RecheckArgs) -> Result<u8> {
    let gate = Gate::new(&args.gate.settings(today()?, &args.read.remote))?;
    for warning in gate.warnings() {
        eprintln!("portcullis: warning: {warning}");
    }
    let options = args.read.options()?;
    let mut images = Vec::new();
    for given in &args.images {
        images.extend(expand(given, &options.remote)?);
    }
    let stdout = std::io::stdout();
    let mut failed = false;
    for image in &images {
        portcullis_interrupt::stage("rechecking an image");
        let (facts, report, judged) =
            judge(&gate, image, &options, args.attach_facts).with_context(|| image.clone())?;
        failed |= report.gate.result == Verdict::Failed;
        let digest = facts.meta.manifest_digest.clone().unwrap_or_default();
        let mut out = stdout.lock();
        if args.json {
            let line = serde_json::json!({
                "image": image,
                "digest": digest,
                "judged": judged.as_str(),
                "report": report,
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{image}@{digest}: {}, {} finding{} ({} failing); {}",
                match report.gate.result {
                    Verdict::Passed => "passed",
                    Verdict::Failed => "FAILED",
                },
                report.findings.len(),
                if report.findings.len() == 1 { "" } else { "s" },
                report.gate.failing,
                judged.as_str()
            )?;
        }
        out.flush()?;
    }
    Ok(if failed { args.exit_code } else { EXIT_PASS })
}

/// One image, or every tag of a repository, as `docker://` references.
fn expand(given: &str, remote: &RemoteOptions) -> Result<Vec<String>> {
    let target = registry_target(given, "recheck")?;
    // A name without a tag or digest is the whole repository.
    let name = given.strip_prefix("docker://").unwrap_or(given);
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') {
        return Ok(vec![given.to_string()]);
    }
    let repository = format!("{}/{}", target.registry, target.repository);
    let tags =
        list_tags(&repository, remote).with_context(|| format!("listing the tags of {given}"))?;
    if tags.is_empty() {
        bail!("{given}: the repository has no tags");
    }
    let mut tags = tags;
    tags.sort();
    Ok(tags
        .into_iter()
        .filter(|tag| !is_attachment_tag(tag))
        .map(|tag| format!("docker://{repository}:{tag}"))
        .collect())
}

/// Tags that hold what is attached to an image rather than an image: the referrers tag
/// schema's `sha256-<hex>` and cosign's `sha256-<hex>.sig`/`.att`/`.sbom`.
fn is_attachment_tag(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix("sha256-") else {
        return false;
    };
    let hex = rest.split('.').next().unwrap_or(rest);
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The image judged from its stored facts, or scanned when it has none (storing them with
/// `attach`).
fn judge(
    gate: &Gate,
    image: &str,
    options: &ReadOptions,
    attach: bool,
) -> Result<(ImageFacts, portcullis_gate::report::Report, Judged)> {
    let target = registry_target(image, "recheck")?;
    let session = Session::open(&target, &options.remote, attach)?;
    let reference = target
        .digest
        .clone()
        .or_else(|| target.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let manifest = session
        .block_on(session.client.manifest(&reference, MAX_MANIFEST))
        .context("reading the image manifest")?;
    let found = session
        .block_on(push::find_artifact(
            &session.client,
            &manifest.digest,
            stored::ARTIFACT_TYPE,
        ))
        .context("looking for stored facts")?;
    let mut judged = Judged::ScannedNoFacts;
    if let Some(artifact) = found
        && let Some(blob) = artifact
            .layers
            .iter()
            .find(|l| l.media_type == stored::MEDIA_TYPE)
    {
        let data = session
            .block_on(push::fetch_blob(&session.client, blob, stored::MAX_BLOB))
            .context("reading the stored facts")?;
        let facts = StoredFacts::decode(&data).context("reading the stored facts")?;
        // The facts must be this image's: its manifest's config and layers.
        check_binding(&facts, &manifest.data)?;
        match gate.stored_facts(facts, image, options)? {
            Some(mut facts) => {
                facts.meta.manifest_digest = Some(manifest.digest.clone());
                gate.enrich(&mut facts, image)?;
                let report = gate.verdict(&facts, options)?;
                return Ok((facts, report, Judged::Stored));
            }
            None => judged = Judged::ScannedStale,
        }
    }
    let scanned = gate.run(image, options)?;
    if attach {
        attach_facts(gate, &scanned.facts, image, &options.remote)?;
    }
    Ok((scanned.facts, scanned.report, judged))
}

/// Stored facts name the config and the layers of the manifest they were found under.
fn check_binding(facts: &StoredFacts, manifest: &[u8]) -> Result<()> {
    let manifest: push::ImageManifest =
        serde_json::from_slice(manifest).context("the image manifest is not an image manifest")?;
    let layers: Vec<&str> = manifest.layers.iter().map(|l| l.digest.as_str()).collect();
    let stored: Vec<&str> = facts.layers.iter().map(|l| l.digest.as_str()).collect();
    if manifest.config.digest != facts.meta.config_digest || layers != stored {
        bail!(
            "the stored facts describe another image (config {}, {} layers), not this manifest's \
             (config {}, {} layers)",
            facts.meta.config_digest,
            stored.len(),
            manifest.config.digest,
            layers.len()
        );
    }
    Ok(())
}

/// Stores `facts` (and the image's CycloneDX SBOM) next to the image `image` in its registry,
/// as an OCI referrer: what `recheck` judges it from later.
pub fn attach_facts(
    gate: &Gate,
    facts: &ImageFacts,
    image: &str,
    remote: &RemoteOptions,
) -> Result<()> {
    let target: RegistryRef = registry_target(image, "--attach-facts")?;
    let Some(digest) = facts.meta.manifest_digest.clone() else {
        bail!("--attach-facts: the registry reports no manifest digest for {image}");
    };
    let stored = StoredFacts::of(facts, &gate.analyzers_salt())
        .encode()
        .context("--attach-facts: encoding the facts")?;
    let created = super::sbom::creation_time()?;
    let (summary, inventory) = (facts.summary(), facts.inventory());
    let sbom = Sbom::new(&summary, &inventory, portcullis_attest::rfc3339(created));
    let mut sbom_json = Vec::new();
    cyclonedx::write(&sbom, &mut sbom_json).context("--attach-facts: writing the SBOM")?;
    let repository = target.repository_name();
    let session = Session::open(&target, remote, true).with_context(|| repository.clone())?;
    let (referrer, listing) = session
        .block_on(push::push_artifact(
            &session.client,
            &digest,
            stored::ARTIFACT_TYPE,
            vec![
                (stored::MEDIA_TYPE, stored),
                ("application/vnd.cyclonedx+json", sbom_json),
            ],
        ))
        .with_context(|| format!("--attach-facts: storing the facts in {repository}"))?;
    let listing = match listing {
        Listing::Api => "indexed by the registry's referrers API".to_string(),
        Listing::Tag { tag, .. } => format!("listed in the referrers tag {tag}"),
    };
    eprintln!(
        "portcullis: stored the facts of {repository}@{digest} as OCI referrer {referrer}, {listing}"
    );
    Ok(())
}
