//! `portcullis serve`: Harbor's Pluggable Scanner API v1.2 (the service is
//! `portcullis_serve`; this file reads the flags).

use super::scan::{BoundsArgs, GateArgs, NOW_ENV, today};
use super::{EXIT_ERROR, EXIT_PASS, parse_duration};
use anyhow::{Context, Result, bail};
use clap::Args;
use portcullis_advisories::osv::store::{self, LocalDb};
use portcullis_gate::checks;
use portcullis_serve::{CallerAuth, Config, Pipeline};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A token or password file larger than this holds no token.
const MAX_SECRET_FILE: u64 = 64 << 10;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (port 0 picks a free one, printed on stderr)
    #[arg(long, value_name = "ADDR:PORT", env = "PORTCULLIS_SERVE_LISTEN")]
    pub listen: SocketAddr,

    /// Scans run at once
    #[arg(long, value_name = "N", env = "PORTCULLIS_SERVE_WORKERS", default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,

    /// Scans waiting for a worker, at most; past it a scan request is answered 503
    #[arg(long, value_name = "N", env = "PORTCULLIS_SERVE_QUEUE", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub queue: u32,

    /// Callers must send `Authorization: Bearer TOKEN`, TOKEN the content of this file
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_SERVE_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,

    /// Callers may send Basic credentials: this file holds USER:PASSWORD on one line
    #[arg(long, value_name = "FILE", env = "PORTCULLIS_SERVE_AUTH_BASIC_FILE")]
    pub auth_basic_file: Option<PathBuf>,

    /// After SIGTERM, how long running scans may take to finish and their reports to be
    /// fetched before the server exits
    #[arg(long, value_name = "DURATION", env = "PORTCULLIS_SERVE_GRACE", default_value = "60s",
          value_parser = parse_duration)]
    pub grace: Duration,

    /// The Refresh-After (seconds) a report request is answered with while its scan runs
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub refresh_after: u64,

    /// How long a finished scan's report is kept for Harbor to fetch
    #[arg(long, value_name = "DURATION", env = "PORTCULLIS_SERVE_REPORT_TTL", default_value = "1h",
          value_parser = parse_duration)]
    pub report_ttl: Duration,

    /// With --cache redis://…, the replicas share their jobs there too: any replica answers
    /// for any scan. A replica silent this long (killed, or cut off from Redis) has its
    /// unfinished scans failed, with a message saying so, by the next replica asked
    #[arg(long, value_name = "DURATION", env = "PORTCULLIS_SERVE_JOB_LEASE", default_value = "30s",
          value_parser = parse_duration)]
    pub job_lease: Duration,

    /// Store each scanned image's facts next to it in its registry, with the credentials of
    /// the scan request (which must then allow pushing), for `portcullis recheck`; a push
    /// that fails is a warning in the log, not a failed scan
    #[arg(long, env = "PORTCULLIS_SERVE_ATTACH_FACTS")]
    pub attach_facts: bool,

    /// Sign the facts --attach-facts stores with this private key (passphrase from
    /// PORTCULLIS_PASSWORD / COSIGN_PASSWORD), for `recheck --facts-key`
    #[arg(
        long,
        value_name = "KEY",
        env = "PORTCULLIS_SERVE_SIGN_FACTS",
        requires = "attach_facts"
    )]
    pub sign_facts: Option<PathBuf>,

    /// Do not verify the certificates of https registries (a registry URL with http:// is
    /// always reached over plain HTTP)
    #[arg(long, env = "PORTCULLIS_SERVE_INSECURE")]
    pub insecure: bool,

    #[command(flatten)]
    pub gate: GateArgs,

    #[command(flatten)]
    pub bounds: BoundsArgs,
}

/// The content of a secret file, trimmed: named with the reason when it cannot be used.
fn read_secret(flag: &str, path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).with_context(|| format!("{flag} {}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_SECRET_FILE + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("{flag} {}: not UTF-8 text", path.display()))?;
    if text.len() as u64 > MAX_SECRET_FILE {
        bail!(
            "{flag} {}: larger than {MAX_SECRET_FILE} bytes",
            path.display()
        );
    }
    let secret = text.trim().to_string();
    if secret.is_empty() {
        bail!("{flag} {}: the file is empty", path.display());
    }
    if secret.contains(['\n', '\r']) || !secret.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        bail!(
            "{flag} {}: expected one line of printable ASCII",
            path.display()
        );
    }
    Ok(secret)
}

fn caller_auth(args: &ServeArgs) -> Result<CallerAuth> {
    let bearer = args
        .auth_token_file
        .as_deref()
        .map(|p| read_secret("--auth-token-file", p))
        .transpose()?;
    let basic = args
        .auth_basic_file
        .as_deref()
        .map(|p| read_secret("--auth-basic-file", p))
        .transpose()?;
    if let (Some(pair), Some(path)) = (&basic, &args.auth_basic_file)
        && !pair.contains(':')
    {
        bail!(
            "--auth-basic-file {}: expected USER:PASSWORD on one line",
            path.display()
        );
    }
    Ok(CallerAuth { bearer, basic })
}

/// The checks and the policy as metadata properties, so that Harbor's scanner page shows
/// what the gate looks for.
fn properties(policy: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("org.portcullis/policy".to_string(), policy.to_string());
    let ids: Vec<&str> = checks::all().map(|c| c.id).collect();
    out.insert("org.portcullis/checks".to_string(), ids.join(","));
    for check in checks::all() {
        out.insert(
            format!("org.portcullis/check.{}", check.id),
            format!("{} ({}): {}", check.severity, check.family, check.title),
        );
    }
    out
}

/// When the local vulnerability database was last fetched, newest ecosystem first.
fn database_updated_at(dir: Option<PathBuf>) -> impl Fn() -> Option<String> + Send + Sync {
    move || {
        let dir = dir.clone().or_else(store::default_dir)?;
        let db = LocalDb::open(&dir).ok()??;
        db.meta.ecosystems.values().map(|e| e.checked.clone()).max()
    }
}

pub fn run(args: ServeArgs) -> Result<u8> {
    let auth = caller_auth(&args)?;
    if auth.is_open() {
        eprintln!(
            "portcullis serve: warning: no --auth-token-file or --auth-basic-file: anyone who \
             reaches {} can start scans",
            args.listen
        );
    }
    if args.job_lease < Duration::from_secs(3) {
        bail!(
            "--job-lease {}s: at least 3s (a lease is renewed every third of it)",
            args.job_lease.as_secs()
        );
    }
    // `PORTCULLIS_NOW` fixes the day for every scan; otherwise each scan is judged on its
    // own day.
    let fixed_today = std::env::var(NOW_ENV)
        .ok()
        .filter(|t| !t.is_empty())
        .map(|_| today())
        .transpose()?;
    let remote = super::remote::RemoteArgs {
        username: None,
        password_stdin: false,
        insecure: args.insecure,
        tls_verify: None,
    };
    let settings = args.gate.settings(today()?, &remote);
    let mut read = args.bounds.options(Default::default());
    // Pulls are logged per scan by the service.
    read.observer = None;
    let (mut pipeline, warnings) = Pipeline::new(settings, fixed_today, read, args.insecure)?;
    if args.attach_facts {
        let key = args
            .sign_facts
            .as_deref()
            .map(super::passphrase::load_signing_key)
            .transpose()
            .context("--sign-facts")?;
        pipeline = pipeline.after_scan(Box::new(move |gate, facts, image, remote| {
            super::recheck::attach_facts(gate, facts, image, remote, key.as_ref())
                .map_err(|e| format!("{e:#}"))
        }));
    }
    for warning in warnings {
        eprintln!("portcullis serve: warning: {warning}");
    }
    let config = Config {
        listen: args.listen,
        workers: usize::from(args.workers),
        queue: args.queue as usize,
        auth,
        grace: args.grace,
        refresh_after: args.refresh_after,
        report_ttl: args.report_ttl,
        shared_jobs: args
            .bounds
            .shared_cache
            .clone()
            .map(|url| (url, args.job_lease)),
        properties: properties(&args.gate.policy),
        database_updated_at: Box::new(database_updated_at(args.gate.vulns.data.db_dir.clone())),
    };
    let workers = config.workers;
    let grace = config.grace;
    let queue = config.queue;
    let stopped = portcullis_serve::run(config, pipeline, |addr| {
        eprintln!(
            "portcullis serve: listening on http://{addr} ({workers} workers, queue {queue})"
        );
    })?;
    if stopped.unfinished > 0 {
        eprintln!(
            "portcullis serve: {} still running after --grace ({}s): abandoned",
            match stopped.unfinished {
                1 => "1 scan".to_string(),
                n => format!("{n} scans"),
            },
            grace.as_secs()
        );
        return Ok(EXIT_ERROR);
    }
    eprintln!("portcullis serve: stopped");
    Ok(EXIT_PASS)
}
