//! `portcullis serve`: portcullis as a Harbor scanner adapter, Harbor's Pluggable Scanner
//! API v1.2 over HTTP/1.1.
//!
//! ```text
//! POST /api/v1/scan ─► check the request ─► queue (bounded; 503 past it)
//!                                              │  N worker threads
//!                                              ▼
//!        pull docker://REGISTRY/REPO@DIGEST with the request's Authorization
//!              ─► Gate::run (the pipeline `scan` runs) ─► report + SBOM documents
//!                                              │
//! GET /api/v1/scan/{id}/report ◄───────────────┘  302 + Refresh-After while it runs;
//!        Harbor's vulnerability report (v1.0, v1.1), the raw report, or the SBOM report
//! ```
//!
//! On SIGTERM or SIGINT the server stops taking scans (and says it is not ready), hands back
//! the queued ones as failed, lets the running ones finish and keeps answering report
//! requests until every outcome was fetched or the grace period is over, then exits.

#![forbid(unsafe_code)]

pub mod api;
pub mod harbor;
mod http;
pub mod jobs;
pub mod shared;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use jobs::Pipeline;

/// Who may call the API: a bearer token, Basic credentials, or both; neither lets anyone.
#[derive(Clone, Default)]
pub struct CallerAuth {
    pub bearer: Option<String>,
    /// `USER:PASSWORD`.
    pub basic: Option<String>,
}

impl std::fmt::Debug for CallerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallerAuth")
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("basic", &self.basic.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl CallerAuth {
    pub fn is_open(&self) -> bool {
        self.bearer.is_none() && self.basic.is_none()
    }
}

/// How the server runs.
pub struct Config {
    pub listen: SocketAddr,
    pub workers: usize,
    /// Scans waiting for a worker, at most.
    pub queue: usize,
    pub auth: CallerAuth,
    /// How long running scans may take to finish after SIGTERM.
    pub grace: Duration,
    /// The `Refresh-After` a running scan's report request is answered with, in seconds.
    pub refresh_after: u64,
    /// How long a finished scan's outcome is kept.
    pub report_ttl: Duration,
    /// The Redis the replicas share their jobs through, and how long a replica's silence
    /// is waited out before its unfinished jobs count as failed.
    pub shared_jobs: Option<(portcullis_gate::analyze::redis::RedisUrl, Duration)>,
    /// Metadata properties beside the standard ones (the checks, the policy).
    pub properties: BTreeMap<String, String>,
    /// When the vulnerability data was last updated (RFC 3339), asked at each metadata
    /// request.
    pub database_updated_at: Box<dyn Fn() -> Option<String> + Send + Sync>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--listen {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the server: {0}")]
    Start(#[source] std::io::Error),
}

/// How the server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Scans still running when the grace period ran out.
    pub unfinished: usize,
    /// Queued scans handed back at shutdown.
    pub handed_back: usize,
}

/// Serves until SIGTERM or SIGINT, then drains (see the module's documentation).
/// `on_listening` is told the bound address (the port, when `listen` asked for port 0).
pub fn run(
    config: Config,
    pipeline: Pipeline,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<Stopped, ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("serve-http")
        .build()
        .map_err(ServeError::Start)?;
    let shared = config
        .shared_jobs
        .clone()
        .map(|(url, lease)| shared::SharedJobs::new(url, lease, config.report_ttl));
    let jobs = jobs::Jobs::start(
        Arc::new(pipeline),
        config.workers,
        config.queue,
        config.report_ttl,
        shared,
    )
    .map_err(ServeError::Start)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: config.listen,
                source,
            })?;
        let bound = listener.local_addr().map_err(ServeError::Start)?;
        let grace = config.grace;
        let refresh_after = config.refresh_after;
        let state = Arc::new(http::State::new(config, Arc::clone(&jobs)));
        let accepting = tokio::spawn(http::accept(listener, Arc::clone(&state)));
        on_listening(bound);
        let mut signals = signals()?;
        signals.recv().await;
        state.shut_down();
        let handed_back = jobs.shut_down();
        eprintln!(
            "portcullis serve: shutting down: {} running, {handed_back} queued handed back; \
             waiting up to {}s",
            jobs.running(),
            grace.as_secs()
        );
        let deadline = Instant::now() + grace;
        // Once nothing runs, Harbor fetches what finished at its next poll: two polls'
        // time, then outcomes nobody asked for are not waited for.
        let linger = Duration::from_secs(2 * refresh_after + 1);
        let mut idle_since: Option<Instant> = None;
        loop {
            let idle = jobs.running() == 0;
            let since = match (idle, idle_since) {
                (false, _) => None,
                (true, Some(t)) => Some(t),
                (true, None) => Some(Instant::now()),
            };
            idle_since = since;
            if jobs.drained()
                || since.is_some_and(|t| t.elapsed() >= linger)
                || Instant::now() >= deadline
            {
                break;
            }
            // A second signal: stop waiting.
            if let Ok(Some(())) =
                tokio::time::timeout(Duration::from_millis(100), signals.recv()).await
            {
                break;
            }
        }
        accepting.abort();
        let unfinished = jobs.running();
        if unfinished > 0 {
            jobs.abandon();
            // Their temporary files (and Trivy, when it runs) go with them.
            portcullis_interrupt::clean_up();
        }
        Ok(Stopped {
            unfinished,
            handed_back,
        })
    })
}

/// SIGTERM and SIGINT, each arrival one message.
fn signals() -> Result<tokio::sync::mpsc::UnboundedReceiver<()>, ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
        let mut stream = signal(kind).map_err(ServeError::Start)?;
        let sender = sender.clone();
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if sender.send(()).is_err() {
                    return;
                }
            }
        });
    }
    Ok(receiver)
}
