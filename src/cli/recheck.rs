//! `portcullis recheck docker://REGISTRY[/NAME[:TAG|@DIGEST]] ...`: judges images again
//! against today's data from the facts `scan --attach-facts` stored next to them, pulling no
//! layer. An image without stored facts (or with facts other analyzers made) is scanned, and
//! with `--attach-facts` its facts are stored for the next time. With `--attest`, each image
//! judged gets the attestation `portcullis attest` would sign for it, today's verdict.
//!
//! A name is one image (with a tag or digest), a repository (every tag), or a registry
//! (every tag of every repository its catalog API lists). When a repository or a catalog is
//! expanded, an image that cannot be judged (a tag that is no reference, a manifest gone or
//! not an image, a registry error for that image) or a repository whose tags cannot be
//! listed is reported on its own line — `--json`: an object with an `error` field — and the
//! recheck goes on, as a fleet-wide scan in Trivy or Grype reports the images it could not
//! scan without dropping the verdicts of the others. An image that could not be judged is
//! not a pass: the exit code is then 2, whatever the gate said of the others; otherwise it
//! is the gate's (1, or `--exit-code`, when any image failed). What was named itself — one
//! image, a repository whose tags cannot be listed, a registry whose catalog cannot be
//! read — fails at once with exit 2, as `scan` does. A repository of the catalog with no
//! tags holds no image to judge: it is noted on stderr, not counted as an error.

use super::attest::{self, PredicateArg, Scanned, Signed};
use super::passphrase;
use super::remote::registry_target;
use super::scan::{GateArgs, ReadArgs, today, write_atomically};
use super::{EXIT_ERROR, EXIT_FAIL, EXIT_PASS, describe_error};
use anyhow::{Context, Result, bail};
use clap::Args;
use portcullis_attest::facts as facts_signature;
use portcullis_attest::keys::{PublicKey, SigningKey};
use portcullis_attest::predicates::PredicateKind;
use portcullis_attest::push::{self, Listing};
use portcullis_attest::statement::ImageDigests;
use portcullis_gate::facts::ImageFacts;
use portcullis_gate::facts::stored::{self, StoredFacts};
use portcullis_gate::policy::Verdict;
use portcullis_gate::report::sbom::Sbom;
use portcullis_gate::report::text::visible;
use portcullis_gate::report::{Report, cyclonedx};
use portcullis_gate::{Gate, ReadOptions};
use portcullis_image::registry::client::MAX_REPOSITORIES;
use portcullis_image::registry::name::RegistryRef;
use portcullis_image::registry::{
    RegistryError, RemoteOptions, Session, list_all_tags, list_repositories,
};
use portcullis_image::resolve::MAX_MANIFEST;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, Args)]
pub struct RecheckArgs {
    /// Images in a registry: docker://REGISTRY/NAME:TAG or @DIGEST for one image,
    /// docker://REGISTRY/NAME for every tag of the repository, docker://REGISTRY (a host with
    /// a dot or localhost, with an optional :PORT; or HOST:PORT/) for every tag of every
    /// repository its catalog API lists
    #[arg(required = true)]
    pub images: Vec<String>,

    /// Most repositories read from a registry's catalog (docker://REGISTRY); a catalog that
    /// lists more is an error
    #[arg(long, value_name = "N", default_value_t = MAX_REPOSITORIES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_REPOSITORIES as u64))]
    pub max_repositories: usize,

    /// Sign, for each image judged, the in-toto attestation `portcullis attest` makes (today's
    /// verdict), with --key; it goes to the registry (--push), to --attest-dir, or both
    #[arg(long, requires = "key")]
    pub attest: bool,

    /// Private key for --attest, as for `attest` (passphrase from PORTCULLIS_PASSWORD /
    /// COSIGN_PASSWORD or the terminal)
    #[arg(long, value_name = "KEY", requires = "attest")]
    pub key: Option<PathBuf>,

    /// What the attestations say, as for `attest`
    #[arg(long, value_enum, default_value_t = PredicateArg::Scan, requires = "attest")]
    pub predicate: PredicateArg,

    /// Attach each attestation to its image in the registry, as `attest --push` does
    #[arg(long, requires = "attest")]
    pub push: bool,

    /// Write each attestation to DIR, one file per image named from its manifest digest
    /// (sha256-HEX.intoto.jsonl), each replaced atomically
    #[arg(long, value_name = "DIR", requires = "attest")]
    pub attest_dir: Option<PathBuf>,

    /// Store the facts of the images that had to be scanned, for the next recheck
    #[arg(long)]
    pub attach_facts: bool,

    /// Sign the facts --attach-facts stores with this private key (passphrase as for
    /// --key), so that `recheck --facts-key` can tell they are yours and this image's
    #[arg(long, value_name = "KEY", requires = "attach_facts")]
    pub sign_facts: Option<PathBuf>,

    /// Judge from stored facts only when they are signed by this public key (--sign-facts)
    /// and bound to the image's manifest digest; other images are scanned
    #[arg(long, value_name = "PUB")]
    pub facts_key: Option<PathBuf>,

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

/// Facts referrers looked at, newest first, for one signed by `--facts-key`.
const MAX_FACTS_CANDIDATES: usize = 8;

/// How an image was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judged {
    /// From the facts stored next to it: no layer was read.
    Stored,
    /// Scanned: it had no stored facts.
    ScannedNoFacts,
    /// Scanned: its facts were made by other analyzers (another version, other rules).
    ScannedStale,
    /// Scanned: its facts are not signed by the `--facts-key` key for this image.
    ScannedUntrusted,
}

impl Judged {
    fn as_str(self) -> &'static str {
        match self {
            Judged::Stored => "from stored facts",
            Judged::ScannedNoFacts => "scanned (no stored facts)",
            Judged::ScannedStale => "scanned (stored facts from other analyzers)",
            Judged::ScannedUntrusted => "scanned (stored facts not signed by --facts-key)",
        }
    }
}

/// What `--attest` signs with and where the attestations go.
struct Attesting {
    key: SigningKey,
    kind: PredicateKind,
    push: bool,
    dir: Option<PathBuf>,
}

impl Attesting {
    /// `None` without `--attest`. The key is loaded first: a wrong passphrase should not
    /// cost a recheck.
    fn of(args: &RecheckArgs) -> Result<Option<Attesting>> {
        if !args.attest {
            return Ok(None);
        }
        if !args.push && args.attest_dir.is_none() {
            bail!(
                "--attest: say where the attestations go: --push (attached to each image in \
                 its registry) or --attest-dir DIR (one file per image), or both"
            );
        }
        let Some(key) = &args.key else {
            bail!("--attest needs --key KEY");
        };
        let key = passphrase::load_signing_key(key)?;
        if let Some(dir) = &args.attest_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--attest-dir {}", dir.display()))?;
        }
        Ok(Some(Attesting {
            key,
            kind: args.predicate.into(),
            push: args.push,
            dir: args.attest_dir.clone(),
        }))
    }
}

/// How stored facts are written (`--attach-facts`, signed with `--sign-facts`) and which
/// are trusted (`--facts-key`).
#[derive(Default)]
pub struct FactsOptions {
    pub attach: bool,
    pub sign: Option<SigningKey>,
    pub trust: Option<PublicKey>,
}

impl FactsOptions {
    /// The keys are loaded first: a wrong passphrase or path should not cost a recheck.
    fn of(args: &RecheckArgs) -> Result<FactsOptions> {
        Ok(FactsOptions {
            attach: args.attach_facts,
            sign: args
                .sign_facts
                .as_deref()
                .map(passphrase::load_signing_key)
                .transpose()
                .context("--sign-facts")?,
            trust: args
                .facts_key
                .as_deref()
                .map(super::verify::read_public_key)
                .transpose()
                .context("--facts-key")?,
        })
    }
}

/// One image judged: its report and how it was judged, and when.
struct Judgement {
    facts: ImageFacts,
    report: Report,
    judged: Judged,
    started: SystemTime,
    finished: SystemTime,
}

/// What one recheck run has seen so far.
struct Run<'a> {
    args: &'a RecheckArgs,
    gate: Gate,
    options: ReadOptions,
    attesting: Option<Attesting>,
    stored: FactsOptions,
    failed: bool,
    /// Images whose verdict was printed.
    judged: usize,
    /// Images (or repositories) that could not be judged, or judged but not attested.
    problems: usize,
}

pub fn run(args: RecheckArgs) -> Result<u8> {
    let attesting = Attesting::of(&args)?;
    let stored = FactsOptions::of(&args)?;
    let gate = Gate::new(&args.gate.settings(today()?, &args.read.remote))?;
    for warning in gate.warnings() {
        eprintln!("portcullis: warning: {warning}");
    }
    let options = args.read.options()?;
    let mut run = Run {
        args: &args,
        gate,
        options,
        attesting,
        stored,
        failed: false,
        judged: 0,
        problems: 0,
    };
    for given in &args.images {
        run.named(given)?;
    }
    if run.problems > 0 {
        eprintln!(
            "portcullis: error: {} could not be judged or attested, {} judged (the lines \
             saying ERROR say why)",
            count(run.problems, "image"),
            run.judged
        );
        return Ok(EXIT_ERROR);
    }
    Ok(if run.failed {
        args.exit_code
    } else {
        EXIT_PASS
    })
}

impl Run<'_> {
    /// What `given` names: a registry, a repository or one image.
    fn named(&mut self, given: &str) -> Result<()> {
        self.args.read.timeout.start(given)?;
        portcullis_interrupt::stage("listing the images to recheck");
        let remote = self.options.remote.clone();
        if let Some(registry) = given
            .strip_prefix("docker://")
            .and_then(RegistryRef::registry_only)
        {
            let repositories = list_repositories(&registry, &remote, self.args.max_repositories)
                .map_err(|e| {
                    let instead = match e {
                        RegistryError::CatalogRefused { .. } => "",
                        RegistryError::CatalogTooLong { .. } => ", or raise --max-repositories",
                        _ => return anyhow::anyhow!("{given}: {e}"),
                    };
                    anyhow::anyhow!(
                        "{given}: {e}; name the repositories to recheck instead \
                         (docker://{}/NAME){instead}",
                        registry.registry
                    )
                })?;
            if repositories.is_empty() {
                bail!("{given}: the registry's catalog lists no repositories");
            }
            for repository in repositories {
                let name = format!("docker://{}/{repository}", registry.registry);
                match tags_of(&name, &remote) {
                    Ok(tags) if tags.is_empty() => {
                        eprintln!("portcullis: {name}: no tags, no image to recheck");
                    }
                    Ok(tags) => {
                        for image in tags {
                            self.expanded(&image)?;
                        }
                    }
                    Err(e) => self.unjudged(&name, "not judged", &e)?,
                }
            }
            return Ok(());
        }
        if is_repository(given) {
            let tags = tags_of(given, &remote)?;
            if tags.is_empty() {
                bail!("{given}: the repository has no tags");
            }
            for image in tags {
                self.expanded(&image)?;
            }
            return Ok(());
        }
        let judgement = self.judge(given).with_context(|| given.to_string())?;
        self.report(given, &judgement)?;
        self.attest(given, judgement)
            .with_context(|| given.to_string())
    }

    /// An image found by expanding a repository: what stops it is reported, and the
    /// recheck goes on.
    fn expanded(&mut self, image: &str) -> Result<()> {
        let judgement = match self.judge(image) {
            Ok(j) => j,
            Err(e) => return self.unjudged(image, "not judged", &e),
        };
        self.report(image, &judgement)?;
        if let Err(e) = self.attest(image, judgement) {
            // Judged, and its line printed; it is the attestation that is missing.
            self.unjudged(image, "not attested", &e)?;
        }
        Ok(())
    }

    fn judge(&self, image: &str) -> Result<Judgement> {
        // Each image has its own --timeout: a fleet takes as long as it takes.
        self.args.read.timeout.start(image)?;
        portcullis_interrupt::stage("rechecking an image");
        let started = SystemTime::now();
        let (facts, report, judged) = judge(&self.gate, image, &self.options, &self.stored)?;
        Ok(Judgement {
            facts,
            report,
            judged,
            started,
            finished: SystemTime::now(),
        })
    }

    /// The line of an image judged.
    fn report(&mut self, image: &str, judgement: &Judgement) -> Result<()> {
        let Judgement {
            facts,
            report,
            judged,
            ..
        } = judgement;
        self.judged += 1;
        self.failed |= report.gate.result == Verdict::Failed;
        let digest = facts.meta.manifest_digest.clone().unwrap_or_default();
        let mut out = std::io::stdout().lock();
        if self.args.json {
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
        Ok(())
    }

    /// The line of an image (or a repository) that could not be judged, or attested.
    fn unjudged(&mut self, name: &str, what: &str, error: &anyhow::Error) -> Result<()> {
        self.problems += 1;
        let reason = describe_error(error);
        let mut out = std::io::stdout().lock();
        if self.args.json {
            let line = serde_json::json!({ "image": name, "error": format!("{what}: {reason}") });
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{name}: ERROR, {what}: {}", visible(&reason))?;
        }
        out.flush()?;
        Ok(())
    }

    /// With `--attest`, the attestation `attest` signs for a scan, made from this judgement.
    fn attest(&self, image: &str, judgement: Judgement) -> Result<()> {
        let Some(attesting) = &self.attesting else {
            return Ok(());
        };
        let policy = self.gate.policy();
        let mut parameters =
            attest::scan_parameters(image, policy, &judgement.report, &self.args.gate);
        parameters["judged"] = judgement.judged.as_str().into();
        let scanned = Scanned {
            image: Some(ImageDigests::of(&judgement.report.image)),
            policy: attest::policy_ref(&self.args.gate, policy),
            started: judgement.started,
            finished: judgement.finished,
            parameters,
            report: judgement.report,
        };
        let Signed {
            envelope,
            name,
            digests,
        } = attest::sign(&scanned, attesting.kind, None, None, &attesting.key);
        let push_subject = match attesting.push {
            true => Some(attest::pushable_subject(
                &digests,
                scanned.image.as_ref(),
                Some(image),
            )?),
            false => None,
        };
        let (kind, digest) = digests.primary();
        let mut written = String::new();
        if let Some(dir) = &attesting.dir {
            let path = attestation_file(dir, digest);
            let json = envelope.to_json();
            write_atomically(&path, |w| writeln!(w, "{json}"))?;
            written = format!(", written to {}", path.display());
        }
        eprintln!(
            "portcullis: signed {} attestation for {name} ({kind} digest {digest}): verdict \
             {}{written}",
            attesting.kind.predicate_type(),
            match scanned.report.gate.result {
                Verdict::Passed => "PASSED",
                Verdict::Failed => "FAILED",
            },
        );
        if let Some(subject) = push_subject {
            let target = registry_target(image, "--push")?;
            attest::push_envelope(
                &target,
                &self.options.remote,
                subject,
                &envelope,
                attesting.kind.predicate_type(),
            )?;
        }
        Ok(())
    }
}

/// `1 image`, `2 images`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Where `--attest-dir` keeps the attestation of the image whose digest is `digest`.
fn attestation_file(dir: &Path, digest: &str) -> PathBuf {
    dir.join(format!("{}.intoto.jsonl", digest.replace(':', "-")))
}

/// Whether `given` names a whole repository: no tag, no digest.
fn is_repository(given: &str) -> bool {
    let name = given.strip_prefix("docker://").unwrap_or(given);
    let last = name.rsplit('/').next().unwrap_or(name);
    !(name.contains('@') || last.contains(':'))
}

/// Every tag of the repository `given` (`docker://REGISTRY/NAME`) as a `docker://`
/// reference, sorted, attachment tags left out.
fn tags_of(given: &str, remote: &RemoteOptions) -> Result<Vec<String>> {
    let target = registry_target(given, "recheck")?;
    let repository = target.repository_name();
    let mut tags = list_all_tags(&repository, remote)
        .with_context(|| format!("listing the tags of {given}"))?;
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
    stored_facts: &FactsOptions,
) -> Result<(ImageFacts, portcullis_gate::report::Report, Judged)> {
    let target = registry_target(image, "recheck")?;
    let session = Session::open(&target, &options.remote, stored_facts.attach)?;
    let reference = target
        .digest
        .clone()
        .or_else(|| target.tag.clone())
        .unwrap_or_else(|| "latest".into());
    let manifest = session
        .block_on(session.client.manifest(&reference, MAX_MANIFEST))
        .context("reading the image manifest")?;
    // Without --facts-key the newest facts count; with it, the newest that key signed (a
    // newer unsigned push must not hide them), among the newest few.
    let candidates = if stored_facts.trust.is_some() {
        MAX_FACTS_CANDIDATES
    } else {
        1
    };
    let found = session
        .block_on(push::find_artifacts(
            &session.client,
            &manifest.digest,
            stored::ARTIFACT_TYPE,
            candidates,
        ))
        .context("looking for stored facts")?;
    let mut judged = Judged::ScannedNoFacts;
    let mut untrusted = Vec::new();
    let fetch = |layer: &push::Descriptor, max: u64, what: &str| {
        session
            .block_on(push::fetch_blob(&session.client, layer, max))
            .with_context(|| format!("reading the {what}"))
    };
    for artifact in found {
        let Some(blob) = artifact
            .layers
            .iter()
            .find(|l| l.media_type == stored::MEDIA_TYPE)
        else {
            continue;
        };
        let data = fetch(blob, stored::MAX_BLOB, "stored facts")?;
        if let Some(key) = &stored_facts.trust {
            let envelope = match artifact
                .layers
                .iter()
                .find(|l| l.media_type == facts_signature::ENVELOPE_MEDIA_TYPE)
            {
                Some(layer) => Some(fetch(
                    layer,
                    facts_signature::MAX_ENVELOPE,
                    "facts signature",
                )?),
                None => None,
            };
            if let Err(e) =
                facts_signature::verify(envelope.as_deref(), key, &manifest.digest, &data)
            {
                untrusted.push(e.to_string());
                judged = Judged::ScannedUntrusted;
                continue;
            }
        }
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
            None => {
                judged = Judged::ScannedStale;
                break;
            }
        }
    }
    if judged == Judged::ScannedUntrusted {
        untrusted.dedup();
        eprintln!(
            "portcullis: {image}: stored facts not trusted ({}): scanning it",
            untrusted.join("; ")
        );
    }
    let scanned = gate.run(image, options)?;
    if stored_facts.attach {
        attach_facts(
            gate,
            &scanned.facts,
            image,
            &options.remote,
            stored_facts.sign.as_ref(),
        )?;
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
    sign: Option<&SigningKey>,
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
    let signature = sign.map(|key| {
        facts_signature::sign(&repository, &digest, stored::MEDIA_TYPE, &stored, key)
            .to_json()
            .into_bytes()
    });
    let mut layers = vec![
        (stored::MEDIA_TYPE, stored),
        ("application/vnd.cyclonedx+json", sbom_json),
    ];
    if let Some(signature) = signature {
        layers.push((facts_signature::ENVELOPE_MEDIA_TYPE, signature));
    }
    let session = Session::open(&target, remote, true).with_context(|| repository.clone())?;
    let (referrer, listing) = session
        .block_on(push::push_artifact(
            &session.client,
            &digest,
            stored::ARTIFACT_TYPE,
            layers,
        ))
        .with_context(|| format!("--attach-facts: storing the facts in {repository}"))?;
    let listing = match listing {
        Listing::Api => "indexed by the registry's referrers API".to_string(),
        Listing::Tag { tag, .. } => format!("listed in the referrers tag {tag}"),
    };
    eprintln!(
        "portcullis: stored the facts of {repository}@{digest}{} as OCI referrer {referrer}, {listing}",
        if sign.is_some() { ", signed," } else { "" }
    );
    Ok(())
}
