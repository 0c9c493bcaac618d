//! `portcullis scan IMAGE`

use super::progress::Progress;
use super::remote::RemoteArgs;
use super::{EXIT_ERROR, EXIT_PASS, parse_size};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use portcullis_advisories::index::fetch::IndexSpec;
use portcullis_gate::analyze::cache::CacheConfig;
use portcullis_gate::analyze::redis::RedisUrl;
use portcullis_gate::enrich::vulns::TrivyChoice;
use portcullis_gate::policy::{self, Severity, Verdict};
use portcullis_gate::rebase;
use portcullis_gate::report::{self, Report, table::Style};
use portcullis_gate::{Gate, ReadOptions, Settings};
use portcullis_image::registry::RemoteOptions;
use portcullis_image::registry::list_tags;
use portcullis_layer::Limits;
use portcullis_model::Date;
use portcullis_model::image::Platform;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// Fixes the date waiver expiry and the distribution's end of life are judged on
/// (`YYYY-MM-DD`), for tests and reproducible runs; unset, today's date (UTC) is used.
pub const NOW_ENV: &str = "PORTCULLIS_NOW";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Sarif,
    Junit,
    Markdown,
}

impl Format {
    const NAMES: &str = "table, json, sarif, junit, markdown";

    fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Junit => "junit",
            Format::Markdown => "markdown",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "sarif" => Ok(Format::Sarif),
            "junit" | "junit-xml" => Ok(Format::Junit),
            "markdown" | "md" => Ok(Format::Markdown),
            _ => Err(format!(
                "unknown format {s:?} (expected one of: {})",
                Format::NAMES
            )),
        }
    }
}

/// `--format FORMAT[=FILE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    pub format: Format,
    pub file: Option<PathBuf>,
}

fn parse_output(text: &str) -> Result<OutputSpec, String> {
    let (format, file) = match text.split_once('=') {
        Some((f, "")) => return Err(format!("{f}=: the file name is missing")),
        Some((f, path)) => (f, Some(PathBuf::from(path))),
        None => (text, None),
    };
    Ok(OutputSpec {
        format: format.parse()?,
        file,
    })
}

fn parse_severities(text: &str) -> Result<Severity, String> {
    text.trim()
        .parse()
        .map_err(|e: policy::UnknownSeverity| e.to_string())
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The image: docker-archive:PATH, oci:DIR[:TAG], oci-archive:PATH[:TAG],
    /// docker-daemon:NAME[:TAG], docker://[REGISTRY/]NAME[:TAG|@DIGEST], or a path (format
    /// detected) or a name to pull
    pub image: String,

    /// Output format, to stdout or to FILE (replaced atomically); repeat to write several:
    /// table, json, sarif, junit, markdown
    #[arg(
        short,
        long = "format",
        value_name = "FORMAT[=FILE]",
        default_value = "table",
        value_parser = parse_output
    )]
    pub formats: Vec<OutputSpec>,

    /// Write the one format without a FILE here instead of stdout (replaced atomically)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit code when the gate fails (0 reports without failing)
    #[arg(long, value_name = "N", default_value_t = super::EXIT_FAIL)]
    pub exit_code: u8,

    #[command(flatten)]
    pub gate: GateArgs,

    /// Rank candidate base images by what rebuilding on them would remove of the current
    /// base's findings (the image's own layers kept): a comma-separated list of images, or
    /// a registry repository (docker://REGISTRY/NAME) whose tags are listed
    #[arg(long, value_name = "IMAGE,...|docker://REGISTRY/NAME")]
    pub base_candidates: Option<String>,

    /// With a repository for --base-candidates: the tags to try, a regular expression the
    /// whole tag must match (e.g. '3\.[0-9]+')
    #[arg(long, value_name = "REGEX", requires = "base_candidates")]
    pub base_candidates_tags: Option<String>,

    #[command(flatten)]
    pub read: ReadArgs,

    /// Store the image's facts (what its layers hold, and its CycloneDX SBOM) next to it in
    /// its registry as an OCI referrer, for `portcullis recheck` to judge it again without
    /// pulling a layer (docker:// images only)
    #[arg(long)]
    pub attach_facts: bool,

    /// Sign the facts --attach-facts stores with this private key (passphrase from
    /// PORTCULLIS_PASSWORD / COSIGN_PASSWORD or the terminal), for `recheck --facts-key`
    #[arg(long, value_name = "KEY", requires = "attach_facts")]
    pub sign_facts: Option<PathBuf>,

    /// No progress on stderr
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log each layer (scanned or taken from the cache) and what was read, on stderr
    #[arg(short, long)]
    pub verbose: bool,
}

/// Every option that changes what a scan finds or how the gate judges it. `scan` and
/// `attest` share this one group, so that an attestation signs the verdict `scan` gates on.
#[derive(Debug, Clone, Args)]
pub struct GateArgs {
    /// Policy: a built-in name (default, strict, cis) or a policy file
    #[arg(long, value_name = "NAME|FILE", default_value = "default")]
    pub policy: String,

    /// Waiver file [default: .portcullisignore.toml in the working directory, if present]
    #[arg(long, value_name = "FILE")]
    pub ignore_file: Option<PathBuf>,

    /// Fail on a finding at or above this severity, for every check (overrides the policy)
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,

    /// Report only findings of these severities (comma-separated); the others neither show
    /// nor fail the gate
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_severities)]
    pub severity: Vec<Severity>,

    /// Do not look for secrets (files, image config, build history)
    #[arg(long, conflicts_with = "secret_rules")]
    pub no_secrets: bool,

    /// Extra secret rules: a TOML file in the format of policies/secret-rules.toml, whose
    /// rules and allow rules are added to the built-in ones and whose `disable` list switches
    /// rules off (docs/secrets.md). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub secret_rules: Vec<PathBuf>,

    /// Compare the OS packages with this package index: a Debian Packages, Alpine APKINDEX
    /// (or APKINDEX.tar.gz) or RPM primary.xml, plain or compressed, as a file or an http(s)
    /// URL. SUITE names its suite (bookworm-security=Packages.xz), else the location does;
    /// updates from a *-security suite rank higher. Repeatable
    #[arg(long = "package-index", value_name = "[SUITE=]FILE|URL")]
    pub package_indexes: Vec<IndexSpec>,

    /// Download the package indexes of the repositories the image is configured with (apt
    /// sources, /etc/apk/repositories, yum repositories with a baseurl) into the index cache,
    /// and compare the OS packages with them; what cannot be fetched is a diagnostic
    #[arg(long)]
    pub fetch_indexes: bool,

    /// The base image the image was built FROM (any transport): its layers are the
    /// "base image" part of the report [default: the org.opencontainers.image.base.name
    /// annotation when it can be read, else a guess from the history]
    #[arg(long, value_name = "IMAGE")]
    pub base: Option<String>,

    /// Scan this image too (a previous release, or the base) and gate only on findings it
    /// does not have; the findings it has and this image lost are listed as fixed
    #[arg(long, value_name = "IMAGE", conflicts_with = "ignore_base")]
    pub baseline: Option<String>,

    /// Gate only on findings of the image's own layers and build steps, not the base
    /// image's (which are still reported)
    #[arg(long)]
    pub ignore_base: bool,

    #[command(flatten)]
    pub vulns: VulnArgs,
}

impl GateArgs {
    /// The gate's settings, judged on `today`; `remote` says how registries are reached
    /// (only whether certificates are checked carries over to --db-repository: credentials
    /// given for the image are not sent to another registry).
    pub fn settings(&self, today: Date, remote: &RemoteArgs) -> Settings {
        Settings {
            policy: self.policy.clone(),
            ignore_file: self.ignore_file.clone(),
            fail_on: self.fail_on,
            severities: self.severity.clone(),
            no_secrets: self.no_secrets,
            secret_rules: self.secret_rules.clone(),
            package_indexes: self.package_indexes.clone(),
            fetch_indexes: self.fetch_indexes,
            osv_databases: self.vulns.osv_db.clone(),
            offline: self.vulns.data.offline,
            db_dir: self.vulns.data.db_dir.clone(),
            db_mirror: self.vulns.data.db_mirror.clone(),
            skip_db_update: self.vulns.data.skip_db_update,
            db_repository: self.vulns.data.db_repository.clone(),
            db_repository_remote: RemoteOptions {
                credentials: None,
                insecure: remote.insecure(),
            },
            vex: self.vulns.vex.clone(),
            trivy: self.vulns.trivy.clone(),
            ignore_unfixed: self.vulns.ignore_unfixed,
            today,
            base: self.base.clone(),
            baseline: self.baseline.clone(),
            ignore_base: self.ignore_base,
        }
    }

    /// Whether any option was given on the command line (or differs from its default).
    pub fn any_given(&self) -> bool {
        self.policy != policy::file::DEFAULT_POLICY
            || self.ignore_file.is_some()
            || self.fail_on.is_some()
            || !self.severity.is_empty()
            || self.no_secrets
            || !self.secret_rules.is_empty()
            || !self.package_indexes.is_empty()
            || self.fetch_indexes
            || !self.vulns.osv_db.is_empty()
            || !self.vulns.vex.is_empty()
            || self.vulns.ignore_unfixed
            || self.base.is_some()
            || self.baseline.is_some()
            || self.ignore_base
    }
}

/// How the image is read: which platform, within which bounds, from which cache, from which
/// registries, within how much time. None of these change what is found.
#[derive(Debug, Clone, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub bounds: BoundsArgs,

    #[command(flatten)]
    pub remote: RemoteArgs,

    /// End the run with exit 2 when it takes longer (e.g. 90s, 30m; 0 for no limit), naming
    /// the stage that ran out of time
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_timeout)]
    pub timeout: Timeout,
}

/// The platform, the bounds and the layer cache an image is read with; what `serve` shares
/// with `scan` (it takes registries and credentials from each request, and runs until
/// stopped).
#[derive(Debug, Clone, Args)]
pub struct BoundsArgs {
    /// Platform to pick from a multi-platform index (default: linux and this host's
    /// architecture)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<Platform>,

    /// Most tar entries accepted over all layers
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_entries)]
    pub max_entries: u64,

    /// Most uncompressed bytes accepted over all layers (e.g. 256G)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "256G")]
    pub max_uncompressed_size: u64,

    /// Largest single file accepted (e.g. 64G)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64G")]
    pub max_file_size: u64,

    /// Layer cache directory (default: $XDG_CACHE_HOME/portcullis or ~/.cache/portcullis)
    #[arg(long, value_name = "DIR", env = "PORTCULLIS_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Scan every layer; neither read nor write the layer cache
    #[arg(long)]
    pub no_cache: bool,

    /// Size the layer cache is trimmed to, least recently used entries first (e.g. 2G)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "2G")]
    pub cache_max_size: u64,

    /// Shared layer cache in Redis, besides the local one
    /// (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]): layers another runner or replica
    /// analysed are not analysed again; an unreachable Redis is a warning, not a failure
    #[arg(long = "cache", value_name = "URL", env = "PORTCULLIS_CACHE", value_parser = RedisUrlParser)]
    pub shared_cache: Option<RedisUrl>,
}

/// Parses `--cache`, whose error shows the URL without its password: clap's own error for
/// a bad value quotes the value whole.
#[derive(Debug, Clone, Copy)]
struct RedisUrlParser;

impl clap::builder::TypedValueParser for RedisUrlParser {
    type Value = RedisUrl;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<RedisUrl, clap::Error> {
        let flag = arg
            .and_then(|a| a.get_long())
            .map_or_else(|| "--cache".to_string(), |l| format!("--{l}"));
        let text = value.to_string_lossy();
        RedisUrl::parse(&text).map_err(|reason| {
            // Whatever stands before the last `@` may be a password.
            let shown = match text.rsplit_once('@') {
                Some((_, host)) => format!("redis://***@{host}"),
                None => text.to_string(),
            };
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{flag} {shown}: {reason}\n"),
            )
        })
    }
}

impl BoundsArgs {
    /// The read options for registry access `remote`, silent but for the registry an image
    /// is pulled from.
    pub fn options(&self, remote: RemoteOptions) -> ReadOptions {
        ReadOptions {
            platform: self.platform.clone(),
            limits: Limits {
                max_entries: self.max_entries,
                max_total_bytes: self.max_uncompressed_size,
                max_entry_size: self.max_file_size,
            },
            remote,
            cache: self.cache(),
            observer: Some(Arc::new(super::progress::AnnouncePull)),
        }
    }

    fn cache(&self) -> Option<CacheConfig> {
        if self.no_cache {
            return None;
        }
        let dir = self.cache_dir.clone().or_else(CacheConfig::default_dir)?;
        Some(CacheConfig {
            dir,
            max_size: self.cache_max_size,
            shared: self.shared_cache.clone(),
        })
    }
}

/// `--timeout`: the limit and how the user wrote it.
#[derive(Debug, Clone)]
pub struct Timeout {
    pub limit: Option<std::time::Duration>,
    pub shown: String,
}

fn parse_timeout(text: &str) -> Result<Timeout, String> {
    let limit = match text.trim() {
        "0" | "0s" | "none" | "off" => None,
        t => Some(super::parse_duration(t)?),
    };
    Ok(Timeout {
        limit,
        shown: text.trim().to_string(),
    })
}

impl Timeout {
    /// Starts the clock for the run on `reference`.
    pub fn start(&self, reference: &str) -> Result<()> {
        if let Some(limit) = self.limit {
            portcullis_interrupt::deadline(
                limit,
                reference.to_string(),
                self.shown.clone(),
                EXIT_ERROR as i32,
            )
            .context("starting the --timeout clock")?;
        }
        Ok(())
    }
}

impl ReadArgs {
    /// The read options, silent but for the registry an image is pulled from.
    pub fn options(&self) -> Result<ReadOptions> {
        Ok(self.bounds.options(self.remote.options()?))
    }
}

/// Where vulnerabilities come from; shared by the commands that scan.
#[derive(Debug, Clone, Default, Args)]
pub struct VulnArgs {
    /// Offline OSV database: a directory of OSV records (JSON, or YAML as
    /// pypa/advisory-database writes them) or an osv.dev ecosystem all.zip; repeat for
    /// several (in addition to the policy's osv.databases)
    #[arg(long = "osv-db", value_name = "DIR|ZIP")]
    pub osv_db: Vec<PathBuf>,

    /// VEX document (OpenVEX or CycloneDX): its not_affected and fixed statements about the
    /// image or its packages suppress the vulnerabilities they cover; repeat for several (in
    /// addition to the policy's osv.vex)
    #[arg(long, value_name = "FILE")]
    pub vex: Vec<PathBuf>,

    /// Trivy for vulnerabilities: `off`, `auto` (when `trivy` is on PATH and its
    /// vulnerability database is in its cache, $TRIVY_CACHE_DIR or ~/.cache/trivy), or the
    /// program to run, database or not [default: the policy's osv.trivy, auto]
    #[arg(long, value_name = "PATH|off", env = "PORTCULLIS_TRIVY", value_parser = parse_trivy)]
    pub trivy: Option<TrivyChoice>,

    /// Leave out vulnerabilities that no released version fixes yet
    #[arg(long)]
    pub ignore_unfixed: bool,

    #[command(flatten)]
    pub data: DataArgs,
}

/// Where the local vulnerability database lives and whether the network may be used for
/// data; shared with `portcullis db`.
#[derive(Debug, Clone, Default, Args)]
pub struct DataArgs {
    /// Never download data: match with the local database and cached package indexes as
    /// they are, and say in the report what was missing (images are still pulled)
    #[arg(long, env = "PORTCULLIS_OFFLINE", value_parser = clap::builder::BoolishValueParser::new(), action = clap::ArgAction::SetTrue)]
    pub offline: bool,

    /// The local vulnerability database (default: $XDG_CACHE_HOME/portcullis/db or
    /// ~/.cache/portcullis/db)
    #[arg(long, value_name = "DIR", env = "PORTCULLIS_DB_DIR")]
    pub db_dir: Option<PathBuf>,

    /// Where database updates come from: a URL or a directory with osv.dev's layout
    /// (`<ecosystem>/all.zip`) [default: https://osv-vulnerabilities.storage.googleapis.com]
    #[arg(long, value_name = "URL|DIR", env = "PORTCULLIS_DB_MIRROR")]
    pub db_mirror: Option<String>,

    /// Do not update the local database before matching, however old it is
    #[arg(long)]
    pub skip_db_update: bool,

    /// Where database updates come from instead: the OCI artifact `portcullis db push`
    /// wrote, in a registry (credentials from Docker's config; in a scan, --username is for
    /// the image's registry only, and --insecure applies to both)
    #[arg(
        long,
        value_name = "docker://REGISTRY/REPOSITORY:TAG",
        env = "PORTCULLIS_DB_REPOSITORY"
    )]
    pub db_repository: Option<String>,
}

fn parse_trivy(text: &str) -> Result<TrivyChoice, String> {
    Ok(match text {
        "" => return Err("expected a path, `auto` or `off`".into()),
        "off" | "never" => TrivyChoice::Off,
        "auto" => TrivyChoice::Auto,
        path => TrivyChoice::Program(PathBuf::from(path)),
    })
}

/// Where one rendering goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    Stdout,
    File(PathBuf),
}

pub fn run(args: ScanArgs) -> Result<u8> {
    args.read.timeout.start(&args.image)?;
    let outputs = plan_outputs(&args.formats, args.output.as_deref())?;
    let gate = Gate::new(&args.gate.settings(today()?, &args.read.remote))?;
    // Read once: `--password-stdin` consumes stdin, and the baseline, a base and the
    // candidates are pulled with the same credentials as the image.
    let read_options = args.read.options()?;
    if args.attach_facts {
        super::remote::registry_target(&args.image, "--attach-facts")?;
    }
    let sign_facts = args
        .sign_facts
        .as_deref()
        .map(super::passphrase::load_signing_key)
        .transpose()
        .context("--sign-facts")?;
    // Bad candidates are refused before the image is read.
    let candidates = match &args.base_candidates {
        Some(spec) => {
            let remote = &read_options.remote;
            let listed = rebase::expand(spec, args.base_candidates_tags.as_deref(), |repo| {
                list_tags(repo, remote).map_err(|e| e.to_string())
            });
            Some(listed.map_err(|e| anyhow!("--base-candidates {spec}: {e}"))?)
        }
        None => None,
    };
    for warning in gate.warnings() {
        eprintln!("portcullis: warning: {warning}");
    }
    let progress = Arc::new(Progress::new(args.quiet, args.verbose));
    let options = ReadOptions {
        observer: Some(progress.clone()),
        ..read_options.clone()
    };
    let read = gate.read(&args.image, &options);
    progress.finish();
    let mut facts = read?;
    gate.enrich(&mut facts, &args.image)?;
    // The baseline is read after the progress bar is gone: only pulls are announced.
    let mut report = gate.verdict(&facts, &read_options)?;
    if let Some(candidates) = &candidates {
        report.rebase = Some(gate.rank_bases(&report, candidates, &read_options)?);
    }
    portcullis_interrupt::stage("writing the reports");
    emit(&report, &outputs)?;
    if args.attach_facts {
        portcullis_interrupt::stage("storing the facts next to the image");
        super::recheck::attach_facts(
            &gate,
            &facts,
            &args.image,
            &read_options.remote,
            sign_facts.as_ref(),
        )?;
    }
    Ok(match report.gate.result {
        Verdict::Passed => EXIT_PASS,
        Verdict::Failed => args.exit_code,
    })
}

/// The date waivers and end of life are judged on: `PORTCULLIS_NOW` when set, else today
/// (UTC).
pub(crate) fn today() -> Result<Date> {
    match std::env::var(NOW_ENV) {
        Ok(text) if !text.is_empty() => text.parse().with_context(|| format!("{NOW_ENV}={text}")),
        _ => Ok(Date::today_utc()),
    }
}

/// Decides where each format goes: `FORMAT=FILE` to its file, the one format without a
/// file to `-o FILE` or stdout.
fn plan_outputs(specs: &[OutputSpec], output: Option<&Path>) -> Result<Vec<(Format, Destination)>> {
    let unnamed: Vec<&OutputSpec> = specs.iter().filter(|s| s.file.is_none()).collect();
    if unnamed.len() > 1 {
        bail!(
            "--format {} all write to {}: give all but one a file (--format {}=FILE)",
            unnamed
                .iter()
                .map(|s| s.format.name())
                .collect::<Vec<_>>()
                .join(", --format "),
            output.map_or("stdout".to_string(), |p| p.display().to_string()),
            unnamed[1].format.name()
        );
    }
    if unnamed.is_empty()
        && let Some(path) = output
    {
        bail!(
            "-o {} names no format: every --format has its own file",
            path.display()
        );
    }
    let mut plan = Vec::new();
    for spec in specs {
        let destination = match (&spec.file, output) {
            (Some(file), _) => Destination::File(file.clone()),
            (None, Some(path)) => Destination::File(path.to_path_buf()),
            (None, None) => Destination::Stdout,
        };
        if destination != Destination::Stdout && plan.iter().any(|(_, d)| *d == destination) {
            bail!(
                "two formats would write to {}",
                match &destination {
                    Destination::File(p) => p.display().to_string(),
                    Destination::Stdout => "stdout".into(),
                }
            );
        }
        plan.push((spec.format, destination));
    }
    // A report that could not be written would be found out only after the whole scan:
    // its directory must be there now.
    for (format, destination) in &plan {
        if let Destination::File(path) = destination {
            check_output_dir(path)
                .with_context(|| format!("--format {}={}", format.name(), path.display()))?;
        }
    }
    Ok(plan)
}

/// The directory a report goes to exists and is a directory (the file itself is written
/// later, atomically).
pub fn check_output_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => bail!("{} is not a directory", dir.display()),
        Err(e) => bail!("directory {}: {e}", dir.display()),
    }
    if path.is_dir() {
        bail!("{} is a directory", path.display());
    }
    Ok(())
}

/// Writes every file first, then stdout, so a pipeline reading stdout sees the files in
/// place.
fn emit(report: &Report, outputs: &[(Format, Destination)]) -> Result<()> {
    for (format, destination) in outputs {
        if let Destination::File(path) = destination {
            write_atomically(path, |w| render(report, *format, w, false))?;
        }
    }
    for (format, destination) in outputs {
        if *destination == Destination::Stdout {
            let stdout = std::io::stdout();
            let color =
                stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let mut lock = stdout.lock();
            let written = render(report, *format, &mut lock, color).and_then(|()| lock.flush());
            match written {
                // A reader that stopped reading (`| head -1`) is not a failed scan: the
                // verdict stands, nothing more is said.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
        }
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
        Format::Sarif => report::sarif::write(report, out),
        Format::Junit => report::junit::write(report, out),
        Format::Markdown => report::markdown::write(report, out),
    }
}

/// Writes to a temporary file beside `path` and renames it into place, so that a failed or
/// interrupted run never leaves a half-written report behind, nor the temporary file.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = portcullis_interrupt::TempFile::new_in(dir).with_context(|| {
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
    keep_permissions(tmp.as_file(), path)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("{}: cannot replace the file", path.display()))?;
    Ok(())
}

/// A temporary file is private (0600); a report is not: give the new file the mode of the
/// file it replaces, or the usual 0644.
#[cfg(unix)]
fn keep_permissions(tmp: &std::fs::File, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    tmp.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("{}: cannot set permissions", path.display()))
}

#[cfg(not(unix))]
fn keep_permissions(_tmp: &std::fs::File, _path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> OutputSpec {
        parse_output(text).unwrap()
    }

    #[test]
    fn formats_parse_with_and_without_a_file() {
        assert_eq!(
            spec("sarif=out/r.sarif"),
            OutputSpec {
                format: Format::Sarif,
                file: Some(PathBuf::from("out/r.sarif"))
            }
        );
        assert_eq!(spec("MD").format, Format::Markdown);
        assert!(parse_output("xml").unwrap_err().contains("expected one of"));
        assert!(parse_output("json=").is_err());
    }

    #[test]
    fn outputs_go_to_their_files_and_one_to_stdout_or_output() {
        let plan = plan_outputs(&[spec("table"), spec("json=r.json")], None).unwrap();
        assert_eq!(
            plan,
            [
                (Format::Table, Destination::Stdout),
                (Format::Json, Destination::File("r.json".into()))
            ]
        );
        let plan = plan_outputs(&[spec("json")], Some(Path::new("o.json"))).unwrap();
        assert_eq!(plan, [(Format::Json, Destination::File("o.json".into()))]);
        let e = plan_outputs(&[spec("table"), spec("json")], None).unwrap_err();
        assert!(e.to_string().contains("give all but one a file"), "{e}");
        let e = plan_outputs(&[spec("json=a"), spec("sarif=a")], None).unwrap_err();
        assert!(
            e.to_string().contains("two formats would write to a"),
            "{e}"
        );
        let e = plan_outputs(&[spec("json=a")], Some(Path::new("b"))).unwrap_err();
        assert!(e.to_string().contains("names no format"), "{e}");
        let e = plan_outputs(&[spec("json=a"), spec("sarif")], Some(Path::new("a"))).unwrap_err();
        assert!(
            e.to_string().contains("two formats would write to a"),
            "{e}"
        );
    }
}
