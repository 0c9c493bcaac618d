//! Enrich, vulnerabilities: the sources the `vulns` family reads. The package inventory is
//! matched against offline OSV databases and, when it is installed and the image is a local
//! archive or layout, Trivy runs on the same image; the facts record what each source found
//! and what became of it.

use crate::facts::ImageFacts;
use crate::policy::Policy;
use crate::policy::params::TrivyMode;
use portcullis_advisories::osv::{self, Database};
use portcullis_advisories::trivy::{self, Outcome, Runner};
use portcullis_image::reference::ImageRef;
use portcullis_model::image::Transport;
use portcullis_model::{Diagnostic, Source, SourceStatus};
use std::path::PathBuf;
use std::time::Duration;

/// Where Trivy comes from: `--trivy PATH|off`, else the policy's `osv.trivy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrivyChoice {
    Off,
    /// When it is on `PATH` and its vulnerability database is in its cache: portcullis
    /// runs it offline, so without a database it could only fail.
    Auto,
    /// From `PATH`, database or not; an error when it is not there.
    Always,
    /// This program, database or not.
    Program(PathBuf),
}

/// The sources line when `auto` finds Trivy without its database.
pub const NO_TRIVY_DATABASE: &str =
    "no vulnerability database (run `trivy image --download-db-only` or pass --trivy off)";

impl From<TrivyMode> for TrivyChoice {
    fn from(mode: TrivyMode) -> TrivyChoice {
        match mode {
            TrivyMode::Auto => TrivyChoice::Auto,
            TrivyMode::Always => TrivyChoice::Always,
            TrivyMode::Never => TrivyChoice::Off,
        }
    }
}

/// What to consult for vulnerabilities.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub databases: Vec<PathBuf>,
    pub trivy: TrivyChoice,
    pub trivy_timeout: Duration,
    /// `YYYY-MM-DD`: records withdrawn by then are left out.
    pub today: String,
    pub limits: osv::Limits,
}

impl Lookup {
    /// The lookup a policy describes, without command-line overrides.
    pub fn from_policy(policy: &Policy, today: String) -> Lookup {
        let params = &policy.params.osv;
        Lookup {
            databases: params.databases.clone(),
            trivy: params.trivy.into(),
            trivy_timeout: Duration::from_secs(params.trivy_timeout_seconds.into()),
            today,
            limits: osv::Limits::default(),
        }
    }
}

/// Configuration errors: the scan cannot go on as asked.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Osv(#[from] osv::LoadError),
    #[error("Trivy is required (osv.trivy = \"always\") but `trivy` is not on PATH")]
    TrivyMissing,
    #[error("--trivy {0}: no such program")]
    TrivyProgram(PathBuf),
}

/// Most OSV database problems listed one by one; the rest are counted.
const MAX_LISTED_PROBLEMS: usize = 10;

/// Consults the sources `lookup` names for the image of `facts` (scanned from
/// `reference`), and records their vulnerabilities, sources and diagnostics in `facts`.
/// Nothing is consulted when the policy turns the family off.
pub fn look_up(
    facts: &mut ImageFacts,
    reference: &str,
    lookup: &Lookup,
    policy: &Policy,
) -> Result<(), LookupError> {
    if !policy.family_enabled(&crate::checks::vulns::FAMILY) {
        let detail = Some("the policy turns the vulns checks off".to_string());
        facts.sources.extend([
            Source::new("osv", SourceStatus::Disabled, detail.clone()),
            Source::new("trivy", SourceStatus::Disabled, detail),
        ]);
        return Ok(());
    }
    let trivy = resolve_trivy(&lookup.trivy)?;
    let inventory = facts.inventory();

    if lookup.databases.is_empty() {
        facts.sources.push(Source::new(
            "osv",
            SourceStatus::NotConfigured,
            Some("no --osv-db or osv.databases".into()),
        ));
    } else {
        let wanted = osv::wanted(&inventory.packages);
        let db = Database::load(
            &lookup.databases,
            Some(&wanted),
            &lookup.today,
            lookup.limits,
        )?;
        for package in &inventory.packages {
            facts
                .vulnerabilities
                .extend(db.affecting(package, inventory.os.as_ref()));
        }
        facts.sources.push(Source::new(
            "osv",
            SourceStatus::Used,
            Some(describe_osv(&db.stats)),
        ));
        let listed = db.problems.iter().take(MAX_LISTED_PROBLEMS);
        for problem in listed {
            facts.diagnostics.push(Diagnostic {
                source: Some("osv".into()),
                message: format!(
                    "OSV database {}: {}: skipped: {}",
                    problem.database.display(),
                    problem.file,
                    problem.reason
                ),
                ..Default::default()
            });
        }
        if db.problems.len() > MAX_LISTED_PROBLEMS {
            facts.diagnostics.push(Diagnostic {
                source: Some("osv".into()),
                message: format!(
                    "OSV databases: {} more files skipped",
                    db.problems.len() - MAX_LISTED_PROBLEMS
                ),
                ..Default::default()
            });
        }
    }

    let source = match trivy {
        Resolved::Disabled => Source::new("trivy", SourceStatus::Disabled, None),
        Resolved::NotInstalled => Source::new(
            "trivy",
            SourceStatus::NotInstalled,
            Some("no `trivy` on PATH".into()),
        ),
        Resolved::NoDatabase => Source::new(
            "trivy",
            SourceStatus::NotConfigured,
            Some(NO_TRIVY_DATABASE.into()),
        ),
        Resolved::Program(program) => match trivy_input(reference, facts.meta.transport) {
            Err(reason) => Source::new("trivy", SourceStatus::Skipped, Some(reason)),
            Ok(input) => {
                let runner = Runner {
                    program,
                    timeout: lookup.trivy_timeout,
                    cache_dir: trivy::cache_dir(),
                };
                run_trivy(facts, &inventory, &runner, &input.path)
            }
        },
    };
    if source.status == SourceStatus::Failed {
        facts.diagnostics.push(Diagnostic {
            source: Some("trivy".into()),
            message: format!(
                "Trivy failed: {}; its vulnerabilities are not in this report",
                source.detail.as_deref().unwrap_or("no reason given")
            ),
            ..Default::default()
        });
    }
    facts.sources.push(source);
    Ok(())
}

enum Resolved {
    Disabled,
    NotInstalled,
    /// `auto` found Trivy, and no database for it.
    NoDatabase,
    Program(PathBuf),
}

fn resolve_trivy(choice: &TrivyChoice) -> Result<Resolved, LookupError> {
    Ok(match choice {
        TrivyChoice::Off => Resolved::Disabled,
        TrivyChoice::Auto => match trivy::find_on_path("trivy") {
            None => Resolved::NotInstalled,
            Some(_) if !trivy::cache_dir().is_some_and(|dir| trivy::has_database(&dir)) => {
                Resolved::NoDatabase
            }
            Some(program) => Resolved::Program(program),
        },
        TrivyChoice::Always => {
            Resolved::Program(trivy::find_on_path("trivy").ok_or(LookupError::TrivyMissing)?)
        }
        TrivyChoice::Program(path) if path.is_file() => Resolved::Program(path.clone()),
        // A bare name (`--trivy trivy-0.50`) is looked up on PATH, as a shell would.
        TrivyChoice::Program(path) => match path.to_str() {
            Some(name) if path.components().count() == 1 => Resolved::Program(
                trivy::find_on_path(name).ok_or_else(|| LookupError::TrivyProgram(path.clone()))?,
            ),
            _ => return Err(LookupError::TrivyProgram(path.clone())),
        },
    })
}

/// What Trivy reads the image from: `--input` takes docker archives (gzipped too) and OCI
/// layout directories; an OCI archive is unpacked into a temporary layout first.
struct TrivyInput {
    path: PathBuf,
    /// The unpacked layout, removed when the input is dropped.
    _spool: Option<portcullis_interrupt::TempDir>,
}

fn trivy_input(reference: &str, transport: Transport) -> Result<TrivyInput, String> {
    let parsed = ImageRef::parse(reference).map_err(|e| e.to_string())?;
    let path = match parsed {
        ImageRef::DockerArchive { path, .. }
        | ImageRef::OciLayout { path, .. }
        | ImageRef::OciArchive { path, .. }
        | ImageRef::Local { path, .. } => path,
        ImageRef::DockerDaemon { .. } | ImageRef::Registry { .. } => {
            return Err(format!(
                "Trivy is run on local archives and OCI layouts, not on {} images",
                transport.as_str()
            ));
        }
    };
    if transport != Transport::OciArchive {
        return Ok(TrivyInput { path, _spool: None });
    }
    let spool = portcullis_interrupt::TempDir::new()
        .map_err(|e| format!("cannot unpack the OCI archive: {e}"))?;
    trivy::unpack_oci_archive(&path, spool.path())
        .map_err(|e| format!("cannot unpack the OCI archive for Trivy: {e}"))?;
    Ok(TrivyInput {
        path: spool.path().to_path_buf(),
        _spool: Some(spool),
    })
}

fn run_trivy(
    facts: &mut ImageFacts,
    inventory: &portcullis_inventory::Inventory,
    runner: &Runner,
    input: &std::path::Path,
) -> Source {
    let report = match runner.scan(input) {
        Outcome::Failed(reason) => return Source::new("trivy", SourceStatus::Failed, Some(reason)),
        Outcome::Report(report) => report,
    };
    let expected = &facts.meta.config_digest;
    if let Some(id) = report.image_id()
        && id != expected
    {
        return Source::new(
            "trivy",
            SourceStatus::Failed,
            Some(format!(
                "Trivy read another image from {} (image ID {id}, not {expected})",
                input.display()
            )),
        );
    }
    let diff_ids: Vec<&str> = facts.layers.iter().map(|l| l.diff_id.as_str()).collect();
    let found = report.vulnerabilities(inventory, &diff_ids);
    let detail = format!(
        "Trivy {}, {} vulnerabilit{}",
        report.version().unwrap_or("(version unknown)"),
        found.len(),
        if found.len() == 1 { "y" } else { "ies" }
    );
    facts.vulnerabilities.extend(found);
    Source::new("trivy", SourceStatus::Used, Some(detail))
}

fn describe_osv(stats: &osv::Stats) -> String {
    let mut detail = format!(
        "{} database{}, {} record{}",
        stats.databases,
        if stats.databases == 1 { "" } else { "s" },
        stats.records,
        if stats.records == 1 { "" } else { "s" },
    );
    if stats.withdrawn > 0 {
        detail.push_str(&format!(", {} withdrawn", stats.withdrawn));
    }
    if stats.skipped > 0 {
        detail.push_str(&format!(
            ", {} file{} skipped",
            stats.skipped,
            if stats.skipped == 1 { "" } else { "s" }
        ));
    }
    detail
}
