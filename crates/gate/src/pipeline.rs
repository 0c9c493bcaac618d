//! The pipeline every front end calls: a [`Gate`] built once from [`Settings`], then for one
//! image [`Gate::read`] (acquire → analyze → facts), [`Gate::enrich`] (data sources),
//! [`Gate::judge`] (checks → verdict), or all of them at once with [`Gate::run`].
//!
//! ```no_run
//! use portcullis_gate::{Gate, ReadOptions, Settings};
//!
//! let gate = Gate::new(&Settings::default())?;
//! let scanned = gate.run("docker-archive:app.tar", &ReadOptions::default())?;
//! println!("{:?}: {} findings", scanned.report.gate.result, scanned.report.findings.len());
//! # Ok::<(), portcullis_gate::GateError>(())
//! ```

use crate::analyze::cache::{CacheConfig, LayerCache};
use crate::analyze::{Analyzers, LayerReport, Scanner};
use crate::enrich::indexes::{self, IndexError};
use crate::enrich::vulns::{self, Lookup, LookupError, TrivyChoice};
use crate::facts::ImageFacts;
use crate::facts::lineage::{self, BaseMethod, Lineage};
use crate::harden::InputBlobs;
use crate::policy::baseline;
use crate::policy::vex::Vex;
use crate::policy::waivers::{self, Waivers};
use crate::policy::{self, Policy, PolicyError};
use crate::rebase::{self, RebasePlan};
use crate::report::{GateMode, Report};
use portcullis_advisories::index::IndexSet;
use portcullis_advisories::index::fetch::{Fetcher, IndexSpec};
use portcullis_advisories::osv::repository::{Repository, RepositoryError};
use portcullis_image::keep::Keeping;
use portcullis_image::observe::{Observer, Silent};
use portcullis_image::registry::RemoteOptions;
use portcullis_image::registry::name::RegistryRef;
use portcullis_image::{self as image, LayerScanner, LoadOptions, reference::ImageRef};
use portcullis_layer::{Budget, Limits};
use portcullis_model::image::Platform;
use portcullis_model::{Date, Severity};
use portcullis_secrets::{RulesError, Secrets};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How an image is read: where from and within which bounds. Nothing here changes what is
/// found in it.
#[derive(Clone, Default)]
pub struct ReadOptions {
    pub platform: Option<Platform>,
    pub limits: Limits,
    /// Registry credentials and transport security.
    pub remote: RemoteOptions,
    /// The layer cache; `None` scans every layer.
    pub cache: Option<CacheConfig>,
    /// Progress and details; `None` is silent.
    pub observer: Option<Arc<dyn Observer>>,
}

impl std::fmt::Debug for ReadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("platform", &self.platform)
            .field("limits", &self.limits)
            .field("remote", &self.remote)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Reference(#[from] image::reference::RefError),
    #[error(transparent)]
    Image(#[from] image::ImageError),
}

/// Acquire → analyze → facts: reads the image `reference` once, every layer through
/// `analyzers`, and returns what its layers hold, merged.
pub fn read_image(
    reference: &str,
    options: &ReadOptions,
    analyzers: &Analyzers,
) -> Result<ImageFacts, ReadError> {
    read_image_keeping(reference, options, analyzers, None).map(|(facts, _)| facts)
}

/// As [`read_image`], also keeping every layer blob read under `keep/blobs/sha256` when
/// `keep` is given; the layer cache is then not used, since a cached layer is not read.
/// Returns the store of an image read at random from disk too, to read its blobs again.
fn read_image_keeping(
    reference: &str,
    options: &ReadOptions,
    analyzers: &Analyzers,
    keep: Option<&Path>,
) -> Result<(ImageFacts, Option<image::Reopen>), ReadError> {
    let image_ref = ImageRef::parse(reference)?;
    let budget = Budget::new(options.limits);
    let observer: &dyn Observer = options.observer.as_deref().unwrap_or(&Silent);
    // A cache that cannot be opened (read-only home, say) costs speed, not the scan.
    let cache = options.cache.as_ref().and_then(|config| {
        LayerCache::open(config, &analyzers.fingerprint())
            .map_err(|e| observer.detail(&e.to_string()))
            .ok()
    });
    let scanner = Scanner::new(analyzers, cache.as_ref().filter(|_| keep.is_none()));
    let keeping;
    let layer_scanner: &dyn LayerScanner<LayerReport> = match keep {
        Some(dir) => {
            keeping = Keeping {
                inner: &scanner,
                dir,
            };
            &keeping
        }
        None => &scanner,
    };
    let loaded = image::load(
        reference,
        &image_ref,
        &LoadOptions {
            platform: options.platform.as_ref(),
            scanner: layer_scanner,
            budget: &budget,
            observer,
            remote: &options.remote,
        },
    )?;
    if let Some(cache) = &cache
        && cache.stored() > 0
        && let Err(e) = cache.evict()
    {
        observer.detail(&e.to_string());
    }
    Ok((
        ImageFacts::new(loaded.meta, loaded.layers, loaded.reports),
        loaded.reopen,
    ))
}

/// Everything that decides what a scan finds and how the gate judges it. `scan`, `attest`
/// and every other front end take these same settings, so that what is signed is what is
/// gated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A built-in policy's name (`default`, `strict`, `cis`) or a policy file.
    pub policy: String,
    /// The waiver file; `None` reads `.portcullisignore.toml` when the working directory
    /// has one.
    pub ignore_file: Option<PathBuf>,
    /// One fail threshold for every check, replacing the policy's.
    pub fail_on: Option<Severity>,
    /// Report only findings of these severities; empty reports all.
    pub severities: Vec<Severity>,
    /// Do not look for secrets at all.
    pub no_secrets: bool,
    /// Secret rule files added to the policy's.
    pub secret_rules: Vec<PathBuf>,
    /// Package indexes to compare the OS packages with.
    pub package_indexes: Vec<IndexSpec>,
    /// Also fetch the indexes of the repositories the image is configured with.
    pub fetch_indexes: bool,
    /// OSV databases added to the policy's.
    pub osv_databases: Vec<PathBuf>,
    /// Never download data (vulnerability database, package indexes): use what is there.
    pub offline: bool,
    /// The local vulnerability database's directory, instead of the user cache's.
    pub db_dir: Option<PathBuf>,
    /// Where the database's exports come from, instead of osv.dev.
    pub db_mirror: Option<String>,
    /// Do not update the local database before matching, however old.
    pub skip_db_update: bool,
    /// Pull the database from this OCI artifact (`docker://REGISTRY/REPOSITORY:TAG`)
    /// instead of updating it from osv.dev or `db_mirror`.
    pub db_repository: Option<String>,
    /// How to reach `db_repository`: credentials from Docker's config unless given here.
    pub db_repository_remote: RemoteOptions,
    /// VEX documents added to the policy's.
    pub vex: Vec<PathBuf>,
    /// Trivy, instead of the policy's `osv.trivy`.
    pub trivy: Option<TrivyChoice>,
    /// Leave out vulnerabilities that no released version fixes yet.
    pub ignore_unfixed: bool,
    /// The day waivers and end-of-life dates are judged on.
    pub today: Date,
    /// The base image (any reference), instead of the base annotations or the history.
    pub base: Option<String>,
    /// Gate only on findings this image has and this one (a previous release, or the base)
    /// does not.
    pub baseline: Option<String>,
    /// Gate only on findings of the image's own layers and build steps.
    pub ignore_base: bool,
}

impl Default for Settings {
    /// The default policy, no extra data, judged today.
    fn default() -> Self {
        Settings {
            policy: policy::file::DEFAULT_POLICY.to_string(),
            ignore_file: None,
            fail_on: None,
            severities: Vec::new(),
            no_secrets: false,
            secret_rules: Vec::new(),
            package_indexes: Vec::new(),
            fetch_indexes: false,
            osv_databases: Vec::new(),
            offline: false,
            db_dir: None,
            db_mirror: None,
            skip_db_update: false,
            db_repository: None,
            db_repository_remote: RemoteOptions::default(),
            vex: Vec::new(),
            trivy: None,
            ignore_unfixed: false,
            today: Date::today_utc(),
            base: None,
            baseline: None,
            ignore_base: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("invalid policy")]
    Policy(#[source] PolicyError),
    #[error("invalid waiver file")]
    Waivers(#[source] PolicyError),
    #[error("invalid VEX document")]
    Vex(#[source] portcullis_advisories::vex::VexError),
    #[error("invalid secret rules")]
    SecretRules(#[source] RulesError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error("{reference}")]
    Read {
        reference: String,
        #[source]
        source: Box<ReadError>,
    },
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("--db-repository")]
    DbRepository(#[source] RepositoryError),
    #[error("--base {reference}")]
    Base {
        reference: String,
        #[source]
        source: Box<ReadError>,
    },
    #[error("--base {reference}: {reason}")]
    NotABase { reference: String, reason: String },
    #[error("--base-candidates: {0}")]
    BaseCandidates(String),
    #[error("{reference}: stored facts: {reason}")]
    StoredFacts { reference: String, reason: String },
    #[error("--base-candidates {reference}")]
    Candidate {
        reference: String,
        #[source]
        source: Box<GateError>,
    },
    #[error("--baseline {reference}")]
    Baseline {
        reference: String,
        #[source]
        source: Box<GateError>,
    },
}

/// One image through the whole pipeline: its facts, and the report the gate made of them.
pub struct Scanned {
    pub facts: ImageFacts,
    pub report: Report,
}

/// The gate: the policy with every setting applied, the waivers, and the data sources, ready
/// to judge images.
pub struct Gate {
    policy: Policy,
    vex: Vex,
    waivers: Waivers,
    today: Date,
    lookup: Lookup,
    analyzers: Analyzers,
    fetcher: Fetcher,
    explicit_indexes: IndexSet,
    fetch_indexes: bool,
    warnings: Vec<String>,
    base: Option<String>,
    baseline: Option<String>,
    ignore_base: bool,
}

impl Gate {
    /// Loads the policy, the VEX documents, the waivers, the secret rules and the explicit
    /// package indexes.
    pub fn new(settings: &Settings) -> Result<Gate, GateError> {
        portcullis_interrupt::stage("loading the policy, waivers and package indexes");
        let mut policy = policy::file::load(&settings.policy).map_err(GateError::Policy)?;
        if let Some(fail_on) = settings.fail_on {
            policy.override_fail_on(fail_on);
        }
        policy.report_severities = settings.severities.clone();
        let waivers = load_waivers(settings.ignore_file.as_deref())?;
        // Databases, VEX documents and `ignore_unfixed` are policy parameters, so the policy
        // digest counts them.
        policy
            .params
            .osv
            .databases
            .extend(settings.osv_databases.iter().cloned());
        policy.params.osv.vex.extend(settings.vex.iter().cloned());
        let vex = Vex::load(&policy.params.osv.vex).map_err(GateError::Vex)?;
        if settings.ignore_unfixed {
            policy.params.osv.ignore_unfixed = true;
        }
        if settings.offline {
            policy.params.packages.offline = true;
        }
        let repository = settings
            .db_repository
            .as_deref()
            .map(|text| Repository::parse(text, settings.db_repository_remote.clone()))
            .transpose()
            .map_err(GateError::DbRepository)?;
        let mut lookup = Lookup::from_policy(&policy, settings.today.to_string());
        if let Some(local) = &mut lookup.local {
            if let Some(dir) = &settings.db_dir {
                local.dir = dir.clone();
            }
            if let Some(mirror) = &settings.db_mirror {
                local.mirror = portcullis_advisories::osv::update::Mirror::parse(mirror);
            }
            local.update = !settings.skip_db_update;
            local.repository = repository;
        } else if let Some(dir) = &settings.db_dir
            && policy.params.osv.local_database
            && policy.params.osv.databases.is_empty()
        {
            // No user cache directory, but one was named.
            lookup.local = Some(crate::enrich::vulns::LocalData {
                dir: dir.clone(),
                mirror: portcullis_advisories::osv::update::Mirror::parse(
                    settings
                        .db_mirror
                        .as_deref()
                        .unwrap_or(portcullis_advisories::osv::update::OSV_DEV),
                ),
                max_age: std::time::Duration::from_secs(
                    u64::from(policy.params.osv.db_max_age_hours) * 3600,
                ),
                offline: policy.params.packages.offline,
                update: !settings.skip_db_update,
                repository,
            });
        }
        if let Some(choice) = &settings.trivy {
            lookup.trivy = choice.clone();
        }
        let secrets = secret_scan(settings, &policy)?;
        policy.secrets = secrets.as_ref().map(|s| s.rules().clone());
        let fetcher = Fetcher::new(&policy.params.packages);
        let (explicit_indexes, warnings) =
            indexes::load_explicit(&settings.package_indexes, &fetcher)?;
        Ok(Gate {
            policy,
            vex,
            waivers,
            today: settings.today,
            lookup,
            analyzers: Analyzers { secrets },
            fetcher,
            explicit_indexes,
            fetch_indexes: settings.fetch_indexes,
            warnings,
            base: settings.base.clone(),
            baseline: settings.baseline.clone(),
            ignore_base: settings.ignore_base,
        })
    }

    /// The policy the gate judges under, with every setting applied.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// What loading the settings noticed but did not stop for (an old cached index, say).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Acquire → analyze → facts, with the analyzers the settings ask for, and the base
    /// image known as well as the settings and the image allow.
    pub fn read(&self, reference: &str, options: &ReadOptions) -> Result<ImageFacts, GateError> {
        let mut facts = self.read_plain(reference, options)?;
        facts.lineage = self.lineage(&facts, options)?;
        Ok(facts)
    }

    /// The image read, its base guessed from its history only.
    fn read_plain(&self, reference: &str, options: &ReadOptions) -> Result<ImageFacts, GateError> {
        portcullis_interrupt::stage("reading the image (manifest, config and layers)");
        let mut facts =
            read_image(reference, options, &self.analyzers).map_err(|source| GateError::Read {
                reference: reference.to_string(),
                source: Box::new(source),
            })?;
        facts.today = self.today;
        Ok(facts)
    }

    /// The image's base: `--base`, else the base annotations when the base they name can
    /// be read (and has the digest they pin), else the history's guess. Its layers come from
    /// the layer cache when the image was just read through it.
    fn lineage(&self, facts: &ImageFacts, options: &ReadOptions) -> Result<Lineage, GateError> {
        if let Some(base) = &self.base {
            portcullis_interrupt::stage("reading the base image");
            let read =
                read_image(base, options, &self.analyzers).map_err(|source| GateError::Base {
                    reference: base.clone(),
                    source: Box::new(source),
                })?;
            return Lineage::from_base(&facts.meta, &read.meta, BaseMethod::Flag, base).map_err(
                |reason| GateError::NotABase {
                    reference: base.clone(),
                    reason,
                },
            );
        }
        let guess = Lineage::guess(&facts.meta, facts.layers.len());
        let Some((name, digest)) = lineage::annotated_base(&facts.meta) else {
            return Ok(guess);
        };
        portcullis_interrupt::stage("reading the base image its annotations name");
        // Credentials given for the image are not sent to the base's registry.
        let base_options = ReadOptions {
            remote: RemoteOptions {
                credentials: None,
                insecure: options.remote.insecure,
            },
            ..options.clone()
        };
        // The image's own word names a registry image, never a local file or daemon: an
        // image cannot make the scan read the scanning machine's files.
        let reference = match name.strip_prefix("docker://") {
            Some(_) => name.clone(),
            None => format!("docker://{name}"),
        };
        let host = match ImageRef::parse(&reference) {
            Ok(ImageRef::Registry { reference }) => RegistryRef::parse(&reference).ok(),
            _ => None,
        };
        let Some(host) = host.map(|r| r.registry) else {
            let mut guess = guess;
            guess.base.detail = Some(format!("the annotated base {name:?} is not an image name"));
            return Ok(guess);
        };
        // The annotation is the image author's text: it may send the scan only where the
        // user lets it, and nowhere offline.
        let own_registry = match ImageRef::parse(&facts.meta.reference) {
            Ok(ImageRef::Registry { reference }) => {
                RegistryRef::parse(&reference).ok().map(|r| r.registry)
            }
            _ => None,
        };
        let refused = if self.policy.params.packages.offline {
            Some("not followed offline".to_string())
        } else if own_registry.as_deref() != Some(host.as_str())
            && !self.policy.params.base.annotation_registries.matches(&host)
        {
            Some(format!(
                "not followed: its registry {host} is neither the image's own nor in params.base.annotation_registries"
            ))
        } else {
            None
        };
        if let Some(why) = refused {
            let mut guess = guess;
            guess.base.detail = Some(format!("the annotated base {name} was {why}"));
            return Ok(guess);
        }
        let unresolved = match read_image(&reference, &base_options, &self.analyzers) {
            Ok(base) => {
                let actual = base.meta.manifest_digest.as_deref();
                match digest.as_deref() {
                    Some(pinned) if actual != Some(pinned) => format!(
                        "the annotated base {name} has digest {}, not the annotated {pinned}",
                        actual.unwrap_or("(none)")
                    ),
                    _ => match Lineage::from_base(
                        &facts.meta,
                        &base.meta,
                        BaseMethod::Annotation,
                        &name,
                    ) {
                        Ok(lineage) => return Ok(lineage),
                        Err(reason) => format!("annotated base: {reason}"),
                    },
                }
            }
            Err(e) => format!("the annotated base {name} could not be read: {e}"),
        };
        let mut guess = guess;
        guess.base.detail = Some(unresolved);
        Ok(guess)
    }

    /// As [`Gate::read`], for `harden`: also says where the input's layer blobs are to be
    /// read again. With `reread`, an image in a layout directory or an uncompressed archive
    /// is read from its own files again; any other image has every layer blob kept, byte for
    /// byte, under `dir/blobs/sha256` as it is read. The layer cache is not used: a cached
    /// layer is not read, so its blob could not be kept.
    pub fn read_keeping(
        &self,
        reference: &str,
        options: &ReadOptions,
        dir: &Path,
        reread: bool,
    ) -> Result<(ImageFacts, InputBlobs), GateError> {
        portcullis_interrupt::stage("reading the image (manifest, config and layers)");
        let read_error = |source: ReadError| GateError::Read {
            reference: reference.to_string(),
            source: Box::new(source),
        };
        let reread = reread
            && ImageRef::parse(reference)
                .map_err(|e| read_error(e.into()))
                .map(|r| image::rereadable(&r))?;
        let keep = (!reread).then_some(dir);
        let (mut facts, reopen) =
            read_image_keeping(reference, options, &self.analyzers, keep).map_err(read_error)?;
        facts.today = self.today;
        let blobs = match (reopen, reread) {
            (Some(reopen), true) => InputBlobs::Source(reopen),
            (None, true) => {
                return Err(read_error(
                    image::ImageError::Invalid("its blobs cannot be read again".into()).into(),
                ));
            }
            (_, false) => InputBlobs::Kept,
        };
        Ok((facts, blobs))
    }

    /// Enrich: consults the data sources for the image read from `reference`.
    pub fn enrich(&self, facts: &mut ImageFacts, reference: &str) -> Result<(), GateError> {
        portcullis_interrupt::stage("looking up vulnerabilities (OSV, Trivy)");
        vulns::look_up(facts, reference, &self.lookup, &self.policy)?;
        portcullis_interrupt::stage("reading package indexes");
        indexes::add(
            facts,
            self.explicit_indexes.clone(),
            self.fetch_indexes,
            self.policy.params.packages.image_repositories,
            self.policy.params.packages.check_outdated,
            &self.fetcher,
        );
        Ok(())
    }

    /// Checks → verdict: the report of enriched facts, every finding attributed to the base
    /// image or to this image, gated on all of them or (`--ignore-base`) on this image's.
    pub fn judge(&self, facts: &ImageFacts) -> Report {
        portcullis_interrupt::stage("running the checks");
        let mut report =
            crate::checks::evaluate(facts, &self.policy, &self.vex, &self.waivers, self.today);
        if self.ignore_base {
            report.set_mode(GateMode::IgnoreBase);
        }
        report
    }

    /// [`Gate::judge`], then, with `--baseline`, the baseline image read, enriched and
    /// judged the same way, and the verdict given on what it does not have. The one verdict
    /// `scan` and `attest` both give.
    pub fn verdict(&self, facts: &ImageFacts, options: &ReadOptions) -> Result<Report, GateError> {
        let mut report = self.judge(facts);
        if let Some(reference) = &self.baseline {
            let wrap = |source| GateError::Baseline {
                reference: reference.clone(),
                source: Box::new(source),
            };
            let mut old = self.read_plain(reference, options).map_err(wrap)?;
            self.enrich(&mut old, reference).map_err(wrap)?;
            portcullis_interrupt::stage("comparing with the baseline");
            let before = self.judge(&old);
            baseline::compare(&mut report, &before, reference);
        }
        Ok(report)
    }

    /// The upgrade plan: each of `candidates` read, enriched and judged like the image, and
    /// measured against the findings `report`'s current base brings. The layer cache makes
    /// bases seen before cheap.
    pub fn rank_bases(
        &self,
        report: &Report,
        candidates: &[String],
        options: &ReadOptions,
    ) -> Result<RebasePlan, GateError> {
        let known = report
            .base
            .as_ref()
            .is_some_and(|b| b.method != BaseMethod::None && b.layers > 0);
        if !known {
            return Err(GateError::BaseCandidates(
                "the image's base is not known (give --base IMAGE)".to_string(),
            ));
        }
        let mut measured = Vec::new();
        for reference in candidates {
            portcullis_interrupt::stage("scanning a candidate base image");
            let wrap = |source| GateError::Candidate {
                reference: reference.clone(),
                source: Box::new(source),
            };
            let mut facts = self.read_plain(reference, options).map_err(wrap)?;
            self.enrich(&mut facts, reference).map_err(wrap)?;
            let judged = self.judge(&facts);
            measured.push(rebase::measure(report, &judged, reference));
        }
        Ok(rebase::plan(report, measured))
    }

    /// What stored facts and layer cache entries must have been made with: the analyzer
    /// version, the report's shape and the analyzers' configuration.
    pub fn analyzers_salt(&self) -> String {
        crate::analyze::cache::salt(&self.analyzers.fingerprint())
    }

    /// Facts `scan --attach-facts` stored, as the image `reference` (whose manifest names
    /// `layers`, verified by the caller) is known now: `None` when other analyzers made them
    /// (the image must be scanned), an error when they are not this image's or exceed the
    /// read bounds. No layer is read; the base is found as a scan finds it.
    pub fn stored_facts(
        &self,
        stored: crate::facts::stored::StoredFacts,
        reference: &str,
        options: &ReadOptions,
    ) -> Result<Option<ImageFacts>, GateError> {
        if stored.analyzers != self.analyzers_salt() {
            return Ok(None);
        }
        let bad = |reason: String| GateError::StoredFacts {
            reference: reference.to_string(),
            reason,
        };
        // Stored facts are bounded as the layers they describe would be.
        let budget = Budget::new(options.limits);
        for (layer, report) in stored.layers.iter().zip(&stored.reports) {
            let uncompressed = layer.uncompressed_size.max(report.content_bytes);
            budget
                .charge(report.tar_entries, &report.entries, uncompressed)
                .map_err(|e| bad(e.to_string()))?;
        }
        let mut meta = stored.meta;
        meta.reference = reference.to_string();
        let mut facts = ImageFacts::new(meta, stored.layers, stored.reports);
        facts.today = self.today;
        facts.lineage = self.lineage(&facts, options)?;
        Ok(Some(facts))
    }

    /// The whole pipeline for one image.
    pub fn run(&self, reference: &str, options: &ReadOptions) -> Result<Scanned, GateError> {
        let mut facts = self.read(reference, options)?;
        self.enrich(&mut facts, reference)?;
        let report = self.verdict(&facts, options)?;
        Ok(Scanned { facts, report })
    }
}

/// The waiver file: `explicit`, or `.portcullisignore.toml` when the working directory has
/// one.
fn load_waivers(explicit: Option<&Path>) -> Result<Waivers, GateError> {
    let path = match explicit {
        Some(p) => p,
        None if Path::new(waivers::DEFAULT_FILE).is_file() => Path::new(waivers::DEFAULT_FILE),
        None => return Ok(Waivers::default()),
    };
    Waivers::load(path).map_err(GateError::Waivers)
}

/// The secret scan the policy and the settings ask for; `None` when secrets are turned off
/// or the policy disables the secrets family.
fn secret_scan(settings: &Settings, policy: &Policy) -> Result<Option<Secrets>, GateError> {
    if settings.no_secrets || !policy.family_enabled(&crate::checks::secrets::FAMILY) {
        return Ok(None);
    }
    let mut secrets =
        Secrets::from_params(&policy.params.secrets).map_err(GateError::SecretRules)?;
    for file in &settings.secret_rules {
        secrets = secrets
            .with_user_file(file)
            .map_err(GateError::SecretRules)?;
    }
    Ok(Some(secrets))
}
