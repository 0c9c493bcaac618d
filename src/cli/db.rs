//! `portcullis db`: the local vulnerability database. `update` fetches osv.dev's
//! per-ecosystem exports (or a mirror's, or the artifact `--db-repository` names) and swaps
//! the new indexes in at once; `status` says what the database holds, from where, and how
//! old it is; `push` stores it in a registry as an OCI artifact for air-gapped machines.

use super::scan::DataArgs;
use super::{EXIT_ERROR, EXIT_PASS};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use portcullis_advisories::osv::repository::{self, Pulled, Repository};
use portcullis_advisories::osv::store::{self, LocalDb};
use portcullis_advisories::osv::update::{self, Mirror, Outcome};
use portcullis_advisories::osv::{self, Limits};
use portcullis_gate::analyze::Analyzers;
use portcullis_gate::report::text::visible;
use portcullis_gate::{ReadOptions, read_image};
use portcullis_model::image::Platform;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Fetch the OSV exports of the ecosystems asked for (default: every ecosystem
    /// portcullis matches), or the database --db-repository names, and swap the new
    /// database in; what has not changed is not downloaded again
    Update(UpdateArgs),
    /// What the database holds: each export's records, source, fetch time and digest
    Status(StatusArgs),
    /// Store the database in a registry as an OCI artifact, which `--db-repository` pulls on
    /// machines that cannot reach osv.dev
    Push(PushArgs),
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Where to store it: a tag in a registry
    #[arg(value_name = "docker://REGISTRY/REPOSITORY:TAG")]
    pub reference: String,

    /// The database to push (default: $XDG_CACHE_HOME/portcullis/db or
    /// ~/.cache/portcullis/db)
    #[arg(long, value_name = "DIR", env = "PORTCULLIS_DB_DIR")]
    pub db_dir: Option<PathBuf>,

    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Only the exports this image needs (its distribution release and its language
    /// ecosystems): any image reference `scan` takes
    #[arg(long = "for", value_name = "IMAGE")]
    pub for_image: Option<String>,

    /// An osv.dev ecosystem export to fetch (`Debian:12`, `Alpine:v3.20`, `PyPI`, `npm`);
    /// repeatable
    #[arg(long, value_name = "ECOSYSTEM")]
    pub ecosystem: Vec<String>,

    /// Read the exports from this mirror (a URL or a directory with osv.dev's layout,
    /// `<ecosystem>/all.zip`) [default: --db-mirror, else osv.dev]
    #[arg(long, value_name = "URL|DIR")]
    pub mirror: Option<String>,

    /// Download even what the source says has not changed
    #[arg(long)]
    pub force: bool,

    /// Platform of --for's image, when it is a multi-platform index
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,

    #[command(flatten)]
    pub remote: super::remote::RemoteArgs,

    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: StatusFormat,

    #[command(flatten)]
    pub data: DataArgs,
}

pub fn run(args: DbArgs) -> Result<u8> {
    match args.command {
        DbCommand::Update(args) => update(args),
        DbCommand::Status(args) => status(args),
        DbCommand::Push(args) => push(args),
    }
}

fn db_dir(data: &DataArgs) -> Result<PathBuf> {
    dir_or_default(data.db_dir.as_ref())
}

fn dir_or_default(dir: Option<&PathBuf>) -> Result<PathBuf> {
    match dir {
        Some(dir) => Ok(dir.clone()),
        None => store::default_dir().context(
            "no database directory: set --db-dir, PORTCULLIS_DB_DIR, XDG_CACHE_HOME or HOME",
        ),
    }
}

fn update(args: UpdateArgs) -> Result<u8> {
    if args.data.offline {
        bail!("db update: offline (--offline or PORTCULLIS_OFFLINE): nothing can be fetched");
    }
    let dir = db_dir(&args.data)?;
    if let Some(reference) = &args.data.db_repository {
        if args.for_image.is_some() || !args.ecosystem.is_empty() || args.mirror.is_some() {
            bail!(
                "--db-repository installs the whole database the artifact holds: it takes no \
                 --for, --ecosystem or --mirror"
            );
        }
        return pull(&dir, reference, &args.remote);
    }
    let mut ecosystems = args.ecosystem.clone();
    if let Some(image) = &args.for_image {
        let options = ReadOptions {
            platform: args.platform.clone(),
            remote: args.remote.options()?,
            observer: Some(std::sync::Arc::new(super::progress::AnnouncePull)),
            ..ReadOptions::default()
        };
        let facts =
            read_image(image, &options, &Analyzers::default()).with_context(|| image.clone())?;
        let inventory = facts.inventory();
        let needed = osv::exports_for(&inventory.packages, inventory.os.as_ref());
        if needed.is_empty() {
            eprintln!(
                "portcullis: {}: no package to match: nothing to fetch",
                visible(image)
            );
        }
        ecosystems.extend(needed);
    } else if ecosystems.is_empty() {
        ecosystems = update::ECOSYSTEMS.iter().map(|e| e.to_string()).collect();
    }
    for ecosystem in &ecosystems {
        if ecosystem.is_empty()
            || ecosystem.len() > 128
            || ecosystem.contains(['/', '\\', '\0'])
            || ecosystem.starts_with('.')
        {
            bail!("--ecosystem {ecosystem:?}: not an OSV ecosystem name");
        }
    }
    ecosystems.sort();
    ecosystems.dedup();
    if ecosystems.is_empty() {
        return Ok(EXIT_PASS);
    }
    let mirror = Mirror::parse(
        args.mirror
            .as_deref()
            .or(args.data.db_mirror.as_deref())
            .unwrap_or(update::OSV_DEV),
    );
    if let Mirror::Dir(path) = &mirror
        && !path.is_dir()
    {
        bail!("--mirror {}: not a directory", path.display());
    }
    let now = time::OffsetDateTime::now_utc();
    let request = update::Update {
        mirror,
        ecosystems,
        force: args.force,
        today: super::scan::today()?.to_string(),
        now: portcullis_gate::enrich::vulns::rfc3339(now),
        limits: Limits::default(),
        max_download: update::MAX_DOWNLOAD,
        timeout: Duration::from_secs(1800),
    };
    portcullis_interrupt::stage("updating the vulnerability database");
    let report = update::update(&dir, &request)?;
    let mut failed = false;
    for (ecosystem, outcome) in &report.outcomes {
        match outcome {
            Outcome::Updated { records, packages } => {
                eprintln!("portcullis: {ecosystem}: {records} records for {packages} packages")
            }
            Outcome::NotModified => eprintln!("portcullis: {ecosystem}: not modified"),
            Outcome::Failed(reason) => {
                failed = true;
                eprintln!("portcullis: error: {ecosystem}: {}", visible(reason));
            }
        }
    }
    Ok(if failed { EXIT_ERROR } else { EXIT_PASS })
}

/// `db update --db-repository`: the artifact's database, unless it is the one installed.
fn pull(dir: &Path, reference: &str, remote: &super::remote::RemoteArgs) -> Result<u8> {
    let repository = Repository::parse(reference, remote.options()?)?;
    let now = portcullis_gate::enrich::vulns::rfc3339(time::OffsetDateTime::now_utc());
    portcullis_interrupt::stage("pulling the vulnerability database");
    match repository::pull(dir, &repository, &now)? {
        Pulled::NotModified(db) => {
            let digest = db.meta.artifact.map(|a| a.digest).unwrap_or_default();
            eprintln!(
                "portcullis: {}@{digest}: not modified",
                visible(&repository.reference)
            );
        }
        Pulled::Updated {
            db,
            downloaded,
            reused,
        } => {
            let digest = db.meta.artifact.map(|a| a.digest).unwrap_or_default();
            for e in db.meta.ecosystems.values() {
                eprintln!(
                    "portcullis: {}: {} records for {} packages",
                    visible(&e.ecosystem),
                    e.records,
                    e.packages
                );
            }
            eprintln!(
                "portcullis: installed {}@{digest}: {downloaded} index{} downloaded, {reused} \
                 unchanged",
                visible(&repository.reference),
                if downloaded == 1 { "" } else { "es" },
            );
        }
    }
    Ok(EXIT_PASS)
}

fn push(args: PushArgs) -> Result<u8> {
    let repository = Repository::parse(&args.reference, args.remote.options()?)?;
    let dir = dir_or_default(args.db_dir.as_ref())?;
    let Some(db) = LocalDb::open(&dir)? else {
        bail!(
            "{}: nothing to push: no vulnerability database in {} (run `portcullis db update`)",
            repository.reference,
            dir.display()
        );
    };
    portcullis_interrupt::stage("pushing the vulnerability database");
    let pushed = repository::push(&db, &repository)?;
    let ecosystems: Vec<&str> = db.meta.ecosystems.keys().map(String::as_str).collect();
    eprintln!(
        "portcullis: pushed the vulnerability database ({}) to {}: {} blob{} uploaded, {} \
         already there, {} bytes of layers",
        visible(&ecosystems.join(", ")),
        visible(&repository.reference),
        pushed.uploaded,
        if pushed.uploaded == 1 { "" } else { "s" },
        pushed.existing,
        pushed.bytes
    );
    println!("{}@{}", repository.reference, pushed.digest);
    Ok(EXIT_PASS)
}

fn status(args: StatusArgs) -> Result<u8> {
    let dir = db_dir(&args.data)?;
    let db = LocalDb::open(&dir)?;
    match args.format {
        StatusFormat::Json => {
            let value = match &db {
                Some(db) => serde_json::json!({
                    "directory": dir,
                    "format": db.meta.format,
                    "ecosystems": db.meta.ecosystems.values().collect::<Vec<_>>(),
                    "artifact": db.meta.artifact,
                }),
                None => serde_json::json!({"directory": dir, "ecosystems": []}),
            };
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        StatusFormat::Table => {
            let Some(db) = db else {
                println!(
                    "{}: no vulnerability database (run `portcullis db update`)",
                    dir.display()
                );
                return Ok(EXIT_PASS);
            };
            println!("{}", dir.display());
            if let Some(artifact) = &db.meta.artifact {
                println!(
                    "pulled from {}@{} at {}",
                    artifact.reference, artifact.digest, artifact.pulled
                );
            }
            println!(
                "{:<16} {:>8} {:>8}  {:<20}  {:<20}  {:<19}  SOURCE",
                "ECOSYSTEM", "RECORDS", "PACKAGES", "FETCHED", "CHECKED", "DIGEST"
            );
            for e in db.meta.ecosystems.values() {
                let digest: String = e.digest.chars().take(19).collect();
                println!(
                    "{:<16} {:>8} {:>8}  {:<20}  {:<20}  {:<19}  {}",
                    e.ecosystem, e.records, e.packages, e.fetched, e.checked, digest, e.source
                );
            }
        }
    }
    Ok(EXIT_PASS)
}
