//! Enrich, vulnerabilities: the sources the `vulns` family reads. The package inventory is
//! matched against offline OSV databases and, when it is installed and the image is a local
//! archive or layout, Trivy runs on the same image; the facts record what each source found
//! and what became of it.

use crate::facts::ImageFacts;
use crate::policy::Policy;
use crate::policy::params::TrivyMode;
use portcullis_advisories::osv::repository::{self, Pulled, Repository};
use portcullis_advisories::osv::store::{self, LocalDb, StoreError};
use portcullis_advisories::osv::update::{self, Mirror};
use portcullis_advisories::osv::{self, Database, Vulnerability};
use portcullis_advisories::trivy::{self, Outcome, Runner};
use portcullis_image::reference::ImageRef;
use portcullis_model::image::Transport;
use portcullis_model::{DataSet, Diagnostic, Source, SourceStatus};
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

/// The local database (`portcullis db`) and how a scan may keep it current.
#[derive(Debug, Clone)]
pub struct LocalData {
    pub dir: PathBuf,
    pub mirror: Mirror,
    /// Exports last checked longer ago than this are updated before matching.
    pub max_age: Duration,
    /// Never use the network: match with what is there, and say what is missing.
    pub offline: bool,
    /// Update missing or stale exports (`--skip-db-update` turns it off).
    pub update: bool,
    /// Update by pulling this OCI artifact (`--db-repository`) instead of from `mirror`.
    pub repository: Option<Repository>,
}

/// What to consult for vulnerabilities.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub databases: Vec<PathBuf>,
    /// The local database; `None` when the policy turns it off or there is no cache
    /// directory.
    pub local: Option<LocalData>,
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
        // Databases named by the policy or `--osv-db` are what the user chose to match
        // with: they replace the local database.
        let local = if params.local_database && params.databases.is_empty() {
            store::default_dir().map(|dir| LocalData {
                dir,
                mirror: Mirror::parse(update::OSV_DEV),
                max_age: Duration::from_secs(u64::from(params.db_max_age_hours) * 3600),
                offline: policy.params.packages.offline,
                update: true,
                repository: None,
            })
        } else {
            None
        };
        Lookup {
            databases: params.databases.clone(),
            local,
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
    #[error(transparent)]
    Store(#[from] StoreError),
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

    let local = match &lookup.local {
        Some(local) => Some(local_source(&inventory, local, &lookup.today)?),
        None => None,
    };
    let mut explicit: Option<Source> = None;
    if !lookup.databases.is_empty() {
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
        explicit = Some(Source::new(
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

    let source = match (explicit, local) {
        (None, None) => Source::new(
            "osv",
            SourceStatus::NotConfigured,
            Some("no --osv-db or osv.databases, and osv.local_database = false".into()),
        ),
        (Some(source), None) => source,
        (explicit, Some(local)) => {
            for vulnerability in local.found {
                if !facts
                    .vulnerabilities
                    .iter()
                    .any(|v| same(v, &vulnerability))
                {
                    facts.vulnerabilities.push(vulnerability);
                }
            }
            let mut detail = match &local.origin {
                Some(origin) => format!("local database (from {origin}): {}", local.detail),
                None => format!("local database: {}", local.detail),
            };
            let status = match &explicit {
                Some(explicit) => {
                    detail = format!(
                        "{}; {detail}",
                        explicit.detail.as_deref().unwrap_or_default()
                    );
                    SourceStatus::Used
                }
                None => local.status,
            };
            let mut source = Source::new("osv", status, Some(detail));
            source.data = local.data;
            source
        }
    };
    facts.sources.push(source);

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
    let metadata = runner
        .cache_dir
        .as_deref()
        .and_then(trivy::database_metadata)
        .unwrap_or_default();
    let mut detail = detail;
    if let Some(updated) = &metadata.updated_at {
        let shown = age(updated, time::OffsetDateTime::now_utc())
            .map_or("age unknown".to_string(), |a| format!("{} old", hours(a)));
        detail.push_str(&format!(", database of {updated} ({shown})"));
    }
    let mut source = Source::new("trivy", SourceStatus::Used, Some(detail));
    if metadata.updated_at.is_some() || metadata.downloaded_at.is_some() {
        source.data.push(DataSet {
            name: "trivy-db".into(),
            source: runner
                .cache_dir
                .as_deref()
                .map(|d| d.join("db").display().to_string())
                .unwrap_or_default(),
            digest: None,
            // The data's own date is when Trivy's database was built.
            fetched: metadata.downloaded_at.clone(),
            checked: metadata.updated_at.clone(),
            records: None,
        });
    }
    source
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

/// The same record about the same installed package.
fn same(a: &Vulnerability, b: &Vulnerability) -> bool {
    a.id == b.id
        && a.package.name == b.package.name
        && a.package.version == b.package.version
        && a.package.path == b.package.path
}

/// Matches the inventory against the local database, updating first the exports the image
/// needs when they are missing or stale and the network may be used. The source line says
/// which exports were used, how old each is, and what could not be had.
fn local_source(
    inventory: &portcullis_inventory::Inventory,
    local: &LocalData,
    today: &str,
) -> Result<LocalResult, LookupError> {
    let needed = osv::exports_for(&inventory.packages, inventory.os.as_ref());
    if needed.is_empty() {
        return Ok(LocalResult {
            origin: None,
            status: SourceStatus::Skipped,
            detail: "the image has no package to match".into(),
            data: Vec::new(),
            found: Vec::new(),
        });
    }
    let now = time::OffsetDateTime::now_utc();
    let mut db = LocalDb::open(&local.dir)?;
    let stale = |db: &Option<LocalDb>| -> Vec<String> {
        needed
            .iter()
            .filter(|n| {
                let held = db.as_ref().and_then(|db| {
                    db.meta
                        .ecosystems
                        .values()
                        .find(|e| osv::export_covered(n, &e.ecosystem))
                });
                held.is_none_or(|e| age(&e.checked, now).is_none_or(|a| a > local.max_age))
            })
            .cloned()
            .collect()
    };
    let mut failures: Vec<String> = Vec::new();
    let wanted_updates = stale(&db);
    if !wanted_updates.is_empty()
        && local.update
        && !local.offline
        && let Some(repository) = &local.repository
    {
        portcullis_interrupt::stage("pulling the vulnerability database");
        match repository::pull(&local.dir, repository, &rfc3339(now)) {
            Ok(Pulled::NotModified(_)) => {}
            Ok(Pulled::Updated { db: pulled, .. }) => db = Some(pulled),
            Err(e) => failures.push(format!("pull failed: {e}")),
        }
    } else if !wanted_updates.is_empty() && local.update && !local.offline {
        portcullis_interrupt::stage("updating the vulnerability database");
        let request = update::Update {
            mirror: local.mirror.clone(),
            ecosystems: wanted_updates.clone(),
            force: false,
            today: today.to_string(),
            now: rfc3339(now),
            limits: osv::Limits::default(),
            max_download: update::MAX_DOWNLOAD,
            timeout: Duration::from_secs(600),
        };
        let report = update::update(&local.dir, &request)?;
        failures.extend(
            report
                .failures()
                .map(|(ecosystem, reason)| format!("update of {ecosystem} failed: {reason}")),
        );
        db = report.db;
    } else if !wanted_updates.is_empty() {
        let why = if local.offline {
            "offline"
        } else {
            "updates are off"
        };
        for ecosystem in &wanted_updates {
            let held = db.as_ref().is_some_and(|db| {
                db.meta
                    .ecosystems
                    .values()
                    .any(|e| osv::export_covered(ecosystem, &e.ecosystem))
            });
            failures.push(if held {
                format!("{ecosystem} is older than {} ({why})", hours(local.max_age))
            } else {
                format!("no data for {ecosystem} ({why}; run `portcullis db update`)")
            });
        }
    }
    let Some(db) = db else {
        let tried = local.update && !local.offline;
        return Ok(LocalResult {
            origin: None,
            status: if tried {
                SourceStatus::Failed
            } else {
                SourceStatus::NotConfigured
            },
            detail: format!("none yet; {}", failures.join("; ")),
            data: Vec::new(),
            found: Vec::new(),
        });
    };
    let wanted = osv::wanted(&inventory.packages);
    let loaded = db.load(&wanted, today)?;
    let mut found = Vec::new();
    for package in &inventory.packages {
        found.extend(loaded.affecting(package, inventory.os.as_ref()));
    }
    let mut used = Vec::new();
    let mut data = Vec::new();
    for n in &needed {
        let Some(e) = db
            .meta
            .ecosystems
            .values()
            .find(|e| osv::export_covered(n, &e.ecosystem))
        else {
            if !failures.iter().any(|f| f.contains(n.as_str())) {
                failures.push(format!("no data for {n}"));
            }
            continue;
        };
        if data.iter().any(|d: &DataSet| d.name == e.ecosystem) {
            continue;
        }
        let shown_age =
            age(&e.checked, now).map_or("age unknown".to_string(), |a| format!("{} old", hours(a)));
        used.push(format!(
            "{} ({} records, {shown_age})",
            e.ecosystem, e.records
        ));
        data.push(DataSet {
            name: e.ecosystem.clone(),
            source: e.source.clone(),
            digest: Some(e.digest.clone()),
            fetched: Some(e.fetched.clone()),
            checked: Some(e.checked.clone()),
            records: Some(e.records),
        });
    }
    let status = if used.is_empty() {
        SourceStatus::Failed
    } else {
        SourceStatus::Used
    };
    let mut detail = if used.is_empty() {
        "no usable export".to_string()
    } else {
        used.join(", ")
    };
    if !failures.is_empty() {
        detail.push_str("; ");
        detail.push_str(&failures.join("; "));
    }
    Ok(LocalResult {
        origin: db
            .meta
            .artifact
            .as_ref()
            .map(|a| format!("{}@{}", a.reference, a.digest)),
        status,
        detail,
        data,
        found,
    })
}

/// What the local database gave: the source line's status and detail, the exports used,
/// and the vulnerabilities found.
struct LocalResult {
    /// The artifact the database was pulled from, `REFERENCE@DIGEST`.
    origin: Option<String>,
    status: SourceStatus,
    detail: String,
    data: Vec<DataSet>,
    found: Vec<Vulnerability>,
}

/// How long ago an RFC 3339 time was; `None` when it cannot be read. A time in the future
/// counts as now.
fn age(when: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let then =
        time::OffsetDateTime::parse(when, &time::format_description::well_known::Rfc3339).ok()?;
    Some(Duration::try_from(now - then).unwrap_or_default())
}

/// `3 h`, `2 d 4 h`.
fn hours(d: Duration) -> String {
    let h = d.as_secs() / 3600;
    if h >= 48 {
        format!("{} d {} h", h / 24, h % 24)
    } else if h == 0 {
        format!("{} min", d.as_secs() / 60)
    } else {
        format!("{h} h")
    }
}

/// RFC 3339, UTC, seconds.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
