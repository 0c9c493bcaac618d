//! Scan jobs: a bounded queue in front of a fixed number of worker threads, and the store of
//! their outcomes. Each job goes through the one pipeline (`Gate::run`), exactly as `scan`
//! does; only where the image comes from (the registry and credentials of the request) is
//! the job's own.
//!
//! Workers are plain threads, not tasks: the pipeline blocks (it reads layers and runs its
//! own runtime for registry I/O), and the worker count is the bound on concurrent scans.

use crate::api::{Artifact, SbomFormat, Scan};
use crate::shared::{SharedJobs, Written};
use portcullis_gate::facts::ImageFacts;
use portcullis_gate::report::sbom::Sbom;
use portcullis_gate::report::text::visible;
use portcullis_gate::report::{Report, cyclonedx, spdx};
use portcullis_gate::{Gate, GateError, ReadOptions, Settings};
use portcullis_image::registry::RemoteOptions;
use portcullis_inventory::Inventory;
use portcullis_model::Date;
use portcullis_model::image::ImageSummary;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Finished jobs kept at most, oldest dropped first, whatever their age: with reports of a
/// few hundred kilobytes, memory stays in the hundreds of megabytes.
pub const MAX_KEPT: usize = 2_000;

/// What a finished scan gives: the report, and what its SBOM documents are rendered from
/// when asked for (an inventory is a fraction of the JSON documents' size). Shared between
/// replicas as JSON.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Done {
    pub report: Report,
    pub image: ImageSummary,
    pub inventory: Inventory,
    pub artifact: Artifact,
    pub generated_at: String,
}

impl Done {
    /// The SBOM document `portcullis sbom` writes, in `format`.
    pub fn sbom(&self, format: SbomFormat) -> Value {
        let sbom = Sbom::new(&self.image, &self.inventory, self.generated_at.clone());
        match format {
            SbomFormat::CycloneDx => cyclonedx::document(&sbom),
            SbomFormat::Spdx => spdx::document(&sbom),
        }
    }
}

#[derive(Clone)]
pub enum Status {
    Queued,
    Running,
    Done(Arc<Done>),
    /// The error, one line, quoting no credential.
    Failed(String),
    /// Maybe another replica's, which this one cannot see now: Redis is unreachable, or
    /// restarted less than a lease ago (the owners write their jobs back within a third of
    /// one). Asked again later, like a running scan.
    Pending,
}

struct Entry {
    status: Status,
    finished: Option<Instant>,
    /// Whether its outcome (a report or the error) was answered once.
    fetched: bool,
    /// Whether its outcome is still to be written to the shared jobs (Redis was down when
    /// it ended): the next renewal writes it.
    unshared: bool,
}

struct Job {
    id: String,
    scan: Scan,
}

/// Why a scan request was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every worker is busy and the queue is full.
    Full,
    /// The server is shutting down.
    ShuttingDown,
}

/// What is done with a scan's facts once it is judged (`serve --attach-facts` stores them
/// next to the image): given the gate, the facts, the `docker://` reference scanned and how
/// its registry is reached. An error is logged, never the scan's outcome.
pub type AfterScan =
    Box<dyn Fn(&Gate, &ImageFacts, &str, &RemoteOptions) -> Result<(), String> + Send + Sync>;

/// The pipeline, with the gate rebuilt when the day changes (waivers expire and end-of-life
/// dates pass while a server runs).
pub struct Pipeline {
    settings: Settings,
    /// `PORTCULLIS_NOW`: one day for every scan.
    fixed_today: Option<Date>,
    read: ReadOptions,
    /// Skip certificate checks for https registries.
    insecure: bool,
    gate: Mutex<Option<(Date, Arc<Gate>)>>,
    after_scan: Option<AfterScan>,
}

impl Pipeline {
    /// Builds the gate once now, so that a bad policy or waiver file stops the server
    /// before it listens.
    pub fn new(
        settings: Settings,
        fixed_today: Option<Date>,
        read: ReadOptions,
        insecure: bool,
    ) -> Result<(Pipeline, Vec<String>), GateError> {
        let pipeline = Pipeline {
            settings,
            fixed_today,
            read,
            insecure,
            gate: Mutex::new(None),
            after_scan: None,
        };
        let warnings = pipeline.gate()?.warnings().to_vec();
        Ok((pipeline, warnings))
    }

    /// Runs `after` on the facts of every scan that succeeds.
    pub fn after_scan(mut self, after: AfterScan) -> Pipeline {
        self.after_scan = Some(after);
        self
    }

    fn gate(&self) -> Result<Arc<Gate>, GateError> {
        let today = self.fixed_today.unwrap_or_else(Date::today_utc);
        let mut current = lock(&self.gate);
        if let Some((day, gate)) = current.as_ref()
            && *day == today
        {
            return Ok(Arc::clone(gate));
        }
        let gate = Arc::new(Gate::new(&Settings {
            today,
            ..self.settings.clone()
        })?);
        *current = Some((today, Arc::clone(&gate)));
        Ok(gate)
    }

    /// Pulls and scans the image of `scan`, and renders what every report format needs.
    fn run(&self, scan: &Scan) -> Result<Done, String> {
        let gate = self.gate().map_err(|e| describe(&e))?;
        let options =
            ReadOptions {
                remote: RemoteOptions {
                    // A request without a credential pulls anonymously, never with this
                    // machine's Docker config.
                    credentials: Some(scan.credentials.clone().unwrap_or(
                        portcullis_image::registry::credentials::Credentials::Anonymous,
                    )),
                    insecure: scan.plain_http || self.insecure,
                },
                ..self.read.clone()
            };
        let scanned = gate
            .run(&scan.reference, &options)
            .map_err(|e| describe(&e))?;
        if let Some(after) = &self.after_scan
            && let Err(e) = after(&gate, &scanned.facts, &scan.reference, &options.remote)
        {
            eprintln!(
                "portcullis serve: warning: {}: {}",
                visible(&scan.reference),
                visible(&e)
            );
        }
        Ok(Done {
            image: scanned.facts.summary(),
            inventory: scanned.facts.inventory(),
            report: scanned.report,
            artifact: scan.artifact.clone(),
            generated_at: now(),
        })
    }
}

/// An error and its causes on one line, each said once.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Now, as RFC 3339 in UTC.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The queue and the outcomes.
pub struct Jobs {
    entries: Mutex<HashMap<String, Entry>>,
    sender: Mutex<Option<SyncSender<Job>>>,
    ttl: Duration,
    /// The jobs of every replica, when they share Redis.
    shared: Option<Arc<SharedJobs>>,
}

impl Jobs {
    /// Starts `workers` threads taking jobs from a queue of `queue` waiting jobs.
    pub fn start(
        pipeline: Arc<Pipeline>,
        workers: usize,
        queue: usize,
        ttl: Duration,
        shared: Option<Arc<SharedJobs>>,
    ) -> std::io::Result<Arc<Jobs>> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(queue);
        let jobs = Arc::new(Jobs {
            entries: Mutex::new(HashMap::new()),
            sender: Mutex::new(Some(sender)),
            ttl,
            shared,
        });
        if let Some(shared) = &jobs.shared {
            // Renews the leases of this replica's unfinished jobs; stops with the process.
            let weak = Arc::downgrade(&jobs);
            let every = shared.lease() / 3;
            std::thread::Builder::new()
                .name("job-leases".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(every);
                        let Some(jobs) = weak.upgrade() else { return };
                        jobs.renew();
                    }
                })?;
        }
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers {
            let jobs = Arc::clone(&jobs);
            let pipeline = Arc::clone(&pipeline);
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("scan-{n}"))
                .spawn(move || jobs.work(&pipeline, &receiver))?;
        }
        Ok(jobs)
    }

    fn work(&self, pipeline: &Pipeline, receiver: &Mutex<Receiver<Job>>) {
        loop {
            // Released before the scan: the other workers wait on the queue, not on this one.
            let next = lock(receiver).recv();
            let Ok(job) = next else { return };
            {
                let mut entries = lock(&self.entries);
                match entries.get_mut(&job.id) {
                    Some(entry) if matches!(entry.status, Status::Queued) => {
                        entry.status = Status::Running;
                    }
                    // Handed back at shutdown, or dropped: nothing to run.
                    _ => continue,
                }
            }
            if let Some(shared) = &self.shared
                && let Written::EndedElsewhere(message) = shared.put(&job.id, &Status::Running)
            {
                self.finish_locally(&job.id, Status::Failed(message));
                continue;
            }
            let started = Instant::now();
            let reference = visible(&job.scan.reference).into_owned();
            eprintln!("portcullis serve: scan {}: pulling {reference}", job.id);
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pipeline.run(&job.scan)))
                    .unwrap_or_else(|_| Err("internal error: the scan panicked".to_string()));
            let seconds = started.elapsed().as_secs_f64();
            let status = match outcome {
                Ok(done) => {
                    eprintln!(
                        "portcullis serve: scan {}: {reference}: {} findings, gate {:?}, {seconds:.1}s",
                        job.id,
                        done.report.findings.len(),
                        done.report.gate.result
                    );
                    Status::Done(Arc::new(done))
                }
                Err(message) => {
                    let message = visible(&message).into_owned();
                    eprintln!(
                        "portcullis serve: scan {}: {reference}: failed after {seconds:.1}s: {message}",
                        job.id
                    );
                    Status::Failed(message)
                }
            };
            self.finish(&job.id, status);
        }
    }

    /// Ends a job with `status`, for every replica: unless another replica ended it first
    /// (this one was cut off from Redis for longer than the lease), whose outcome stands.
    fn finish(&self, id: &str, status: Status) {
        let (status, unshared) = match &self.shared {
            Some(shared) => match shared.put(id, &status) {
                Written::Ok => (status, false),
                Written::Later => (status, true),
                Written::EndedElsewhere(message) => {
                    eprintln!(
                        "portcullis serve: scan {id}: another replica ended it meanwhile: {message}"
                    );
                    (Status::Failed(message), false)
                }
            },
            None => (status, false),
        };
        self.finish_locally(id, status);
        if unshared && let Some(entry) = lock(&self.entries).get_mut(id) {
            entry.unshared = true;
        }
    }

    fn finish_locally(&self, id: &str, status: Status) {
        if let Some(entry) = lock(&self.entries).get_mut(id) {
            entry.status = status;
            entry.finished = Some(Instant::now());
            entry.unshared = false;
        }
    }

    /// Queues `scan` and returns its id, or says why not.
    pub fn submit(&self, scan: Scan) -> Result<String, Refused> {
        let sender = lock(&self.sender).clone().ok_or(Refused::ShuttingDown)?;
        let id = new_id();
        {
            let mut entries = lock(&self.entries);
            self.evict(&mut entries);
            entries.insert(
                id.clone(),
                Entry {
                    status: Status::Queued,
                    finished: None,
                    fetched: false,
                    unshared: false,
                },
            );
        }
        // Recorded before a worker can take it, so that the running state comes second.
        if let Some(shared) = &self.shared {
            shared.put(&id, &Status::Queued);
        }
        match sender.try_send(Job {
            id: id.clone(),
            scan,
        }) {
            Ok(()) => Ok(id),
            Err(e) => {
                lock(&self.entries).remove(&id);
                if let Some(shared) = &self.shared {
                    shared.put(
                        &id,
                        &Status::Failed("refused: the queue was full".to_string()),
                    );
                }
                Err(match e {
                    TrySendError::Full(_) => Refused::Full,
                    TrySendError::Disconnected(_) => Refused::ShuttingDown,
                })
            }
        }
    }

    /// Drops finished jobs older than the TTL, and the oldest beyond [`MAX_KEPT`].
    fn evict(&self, entries: &mut HashMap<String, Entry>) {
        entries.retain(|_, e| e.finished.is_none_or(|t| t.elapsed() < self.ttl));
        let mut finished: Vec<(Instant, String)> = entries
            .iter()
            .filter_map(|(id, e)| e.finished.map(|t| (t, id.clone())))
            .collect();
        if finished.len() > MAX_KEPT {
            finished.sort();
            for (_, id) in &finished[..finished.len() - MAX_KEPT] {
                entries.remove(id);
            }
        }
    }

    /// A job's status: this replica's own, else what the replicas sharing Redis say of it;
    /// `None` for an unknown id.
    pub fn status(&self, id: &str) -> Option<Status> {
        if let Some(status) = lock(&self.entries).get(id).map(|e| e.status.clone()) {
            return Some(status);
        }
        // Only ids this server hands out are looked up in Redis.
        if !is_id(id) {
            return None;
        }
        self.shared.as_ref()?.status(id)
    }

    /// Renews the leases of this replica's unfinished jobs (and writes their records again
    /// after Redis lost them), and writes the outcomes Redis was down for.
    fn renew(&self) {
        let Some(shared) = &self.shared else { return };
        let due: Vec<(String, Status, bool)> = lock(&self.entries)
            .iter()
            .filter(|(_, e)| e.finished.is_none() || e.unshared)
            .map(|(id, e)| (id.clone(), e.status.clone(), e.finished.is_some()))
            .collect();
        for (id, status, ended) in due {
            match shared.put(&id, &status) {
                Written::EndedElsewhere(message) => {
                    self.finish_locally(&id, Status::Failed(message));
                }
                Written::Ok if ended => {
                    if let Some(entry) = lock(&self.entries).get_mut(&id) {
                        entry.unshared = false;
                    }
                }
                Written::Ok | Written::Later => {}
            }
        }
    }

    /// Records that a finished job's outcome (its report or its error) was answered.
    pub fn fetched(&self, id: &str) {
        if let Some(entry) = lock(&self.entries).get_mut(id)
            && entry.finished.is_some()
        {
            entry.fetched = true;
        }
    }

    /// Refuses new jobs from now on, and hands back the queued ones: each fails with a
    /// message saying to submit it again. Running jobs go on.
    pub fn shut_down(&self) -> usize {
        lock(&self.sender).take();
        let queued: Vec<String> = lock(&self.entries)
            .iter()
            .filter(|(_, e)| matches!(e.status, Status::Queued))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &queued {
            self.finish(
                id,
                Status::Failed(
                    "portcullis serve shut down before the scan started: submit it again"
                        .to_string(),
                ),
            );
        }
        queued.len()
    }

    /// Ends the scans still running when the server gives up on them (the grace period
    /// ran out), so that no replica waits for them.
    pub fn abandon(&self) {
        let running: Vec<String> = lock(&self.entries)
            .iter()
            .filter(|(_, e)| matches!(e.status, Status::Running))
            .map(|(id, _)| id.clone())
            .collect();
        for id in running {
            self.finish(
                &id,
                Status::Failed(
                    "portcullis serve shut down before the scan finished: submit it again"
                        .to_string(),
                ),
            );
        }
    }

    /// How many jobs run now.
    pub fn running(&self) -> usize {
        lock(&self.entries)
            .values()
            .filter(|e| matches!(e.status, Status::Running))
            .count()
    }

    /// Whether no job runs and every outcome was fetched, or is in the shared jobs for the
    /// other replicas to answer: nothing is lost by exiting.
    pub fn drained(&self) -> bool {
        let shared = self.shared.is_some();
        lock(&self.entries)
            .values()
            .all(|e| e.finished.is_some() && (e.fetched || (shared && !e.unshared)))
    }
}

/// A duration as people say it: "45s", "3m 20s", "2h 5m".
pub fn describe_age(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

/// Whether `text` has the form of the ids [`new_id`] makes.
fn is_id(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// A random id in the form of a UUID v4.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Unique within the process is what polling needs.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..8].copy_from_slice(&n.to_be_bytes());
        bytes[8..].copy_from_slice(&(t as u64).to_be_bytes());
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_uuids_and_differ() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(is_id(&a) && is_id(&b));
        for other in [
            "",
            "x",
            "ABCDEF00-0000-4000-8000-000000000000",
            "abcdef00-0000-4000-8000-0000000000000",
            "abcdef00_0000_4000_8000_000000000000",
        ] {
            assert!(!is_id(other), "{other}");
        }
    }
}
