//! Jobs shared between replicas through Redis (the one `--cache redis://…` names), so that
//! Harbor may poll any replica behind a Kubernetes Service for a scan another one runs.
//!
//! Each job is one record, `portcullis:serve:job:<id>`: its state, the replica that owns it,
//! and until when that replica vouches for it (its lease). The owner renews the lease while
//! the job waits or runs; a finished job's outcome is written with its record in one step (a
//! Lua script, which Redis runs whole), the report beside it in
//! `portcullis:serve:report:<id>`.
//!
//! Every write is a compare-and-set on the whole record:
//! - the owner writes over the record it wrote last, or over none (Redis restarted and lost
//!   it: the owner puts it back at its next renewal);
//! - another replica writes only over the record it read, and only to end a job whose lease
//!   ran out (its owner was killed or lost Redis): the job fails with a message saying so.
//!
//! So a job ends once, with a report or an error, whoever answers for it; a job whose owner
//! died is not run again elsewhere, because that would need the request's registry
//! credentials stored in Redis, which portcullis never does. Harbor shows the error and the
//! scan can be started again.
//!
//! Redis being down never fails a scan: the replica goes on with its own jobs, warns once
//! per outage, and puts their records back when Redis returns.

use crate::jobs::{Done, Status, describe_age};
use portcullis_gate::analyze::redis::{Connection, RedisUrl, Reply};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest record or report read back from Redis.
const MAX_REPORT: usize = 256 << 20;
const MAX_RECORD: usize = 64 << 10;

/// Writes `ARGV[2]` (and the report `ARGV[5]`, when given) if the record is `ARGV[1]`, or if
/// there is none and `ARGV[4]` is `1`; both expire after `ARGV[3]` seconds. Answers 1 when it
/// wrote, 0 when the record was another. Notes when jobs began (`KEYS[3]`, see
/// [`EPOCH_KEY`]) if that is not known.
const CAS: &str = "redis.call('SET', KEYS[3], ARGV[6], 'NX')
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur ~= ARGV[1] then return 0 end
elseif ARGV[4] ~= '1' then
  return 0
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[3]) end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1";

/// A job's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub state: State,
    /// The replica that owns the job.
    pub replica: String,
    /// Unix seconds until which the owner vouches for a waiting or running job.
    pub lease_until: u64,
    /// Why a failed job failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Queued,
    Running,
    Done,
    Failed,
}

/// The jobs of every replica, as one replica sees them.
pub struct SharedJobs {
    url: RedisUrl,
    /// This replica's name in records: host and process.
    replica: String,
    lease: Duration,
    ttl: Duration,
    connection: Mutex<Option<Connection>>,
    /// Whether the current outage was warned about.
    warned: AtomicBool,
    /// The record this replica last wrote for each of its unfinished jobs.
    written: Mutex<HashMap<String, String>>,
}

/// What an owner's write found.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Written.
    Ok,
    /// Not written (Redis is down, or the record changed under the write): the local state
    /// stands, and is to be written again later.
    Later,
    /// Another replica ended the job: its outcome stands.
    EndedElsewhere(String),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn job_key(id: &str) -> String {
    format!("portcullis:serve:job:{id}")
}

fn report_key(id: &str) -> String {
    format!("portcullis:serve:report:{id}")
}

/// When this Redis's jobs began: written by the first replica that finds it missing, which
/// is how a Redis that restarted empty is told from one that never knew a job.
const EPOCH_KEY: &str = "portcullis:serve:epoch";

impl SharedJobs {
    pub fn new(url: RedisUrl, lease: Duration, ttl: Duration) -> Arc<SharedJobs> {
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "replica".into());
        Arc::new(SharedJobs {
            url,
            replica: format!("{host}/{}", std::process::id()),
            lease,
            ttl,
            connection: Mutex::new(None),
            warned: AtomicBool::new(false),
            written: Mutex::new(HashMap::new()),
        })
    }

    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Runs `f` on the connection, connecting first if needed; an error drops the
    /// connection (the next call connects again) and is warned about once per outage.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> io::Result<T>) -> Option<T> {
        let mut slot = lock(&self.connection);
        let result = match slot.as_mut() {
            Some(conn) => f(conn),
            None => match self.url.connect() {
                Ok(conn) => f(slot.insert(conn)),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(value) => {
                if self.warned.swap(false, Ordering::Relaxed) {
                    eprintln!(
                        "portcullis serve: shared jobs {}: reachable again",
                        self.url
                    );
                }
                Some(value)
            }
            Err(e) => {
                *slot = None;
                if !self.warned.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "portcullis serve: warning: shared jobs {}: {e}; this replica answers \
                         for its own jobs only until it is back",
                        self.url
                    );
                }
                None
            }
        }
    }

    /// Writes `record` (and `report`) over `expected`, or over nothing when `missing_ok`.
    fn cas(
        &self,
        id: &str,
        expected: Option<&str>,
        missing_ok: bool,
        record: &str,
        report: Option<&[u8]>,
    ) -> Option<bool> {
        let ttl = (self.ttl.as_secs() + self.lease.as_secs())
            .max(1)
            .to_string();
        let (job, report_key, now) = (job_key(id), report_key(id), unix_now().to_string());
        let args: Vec<&[u8]> = vec![
            b"EVAL",
            CAS.as_bytes(),
            b"3",
            job.as_bytes(),
            report_key.as_bytes(),
            EPOCH_KEY.as_bytes(),
            expected.unwrap_or("").as_bytes(),
            record.as_bytes(),
            ttl.as_bytes(),
            if missing_ok { b"1" } else { b"0" },
            report.unwrap_or(b""),
            now.as_bytes(),
        ];
        self.with(|conn| match conn.command(&args, 0)? {
            Reply::Integer(n) => Ok(n == 1),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected reply {other:?}"),
            )),
        })
    }

    /// The job's record, parsed; `None` when Redis cannot say, `Some(None)` when there is
    /// none (or it does not parse).
    fn read(&self, id: &str) -> Option<Option<Record>> {
        self.read_raw(id)
            .map(|raw| raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// The job's record as stored.
    fn read_raw(&self, id: &str) -> Option<Option<String>> {
        let key = job_key(id);
        self.with(
            |conn| match conn.command(&[b"GET", key.as_bytes()], MAX_RECORD)? {
                Reply::Bulk(bytes) => Ok(String::from_utf8(bytes).ok()),
                _ => Ok(None),
            },
        )
    }

    fn record(&self, state: State, error: Option<String>) -> String {
        let record = Record {
            state,
            replica: self.replica.clone(),
            lease_until: unix_now() + self.lease.as_secs(),
            error,
        };
        serde_json::to_string(&record).unwrap_or_default()
    }

    /// Writes this replica's state of its job `id`: queued, running, or its outcome.
    pub fn put(&self, id: &str, status: &Status) -> Written {
        let (state, error, report) = match status {
            Status::Queued | Status::Pending => (State::Queued, None, None),
            Status::Running => (State::Running, None, None),
            Status::Failed(message) => (State::Failed, Some(message.clone()), None),
            Status::Done(done) => (State::Done, None, serde_json::to_vec(&**done).ok()),
        };
        let record = self.record(state, error);
        let last = lock(&self.written).get(id).cloned();
        match self.cas(id, last.as_deref(), true, &record, report.as_deref()) {
            // Redis is down: written again at the next renewal.
            None => Written::Later,
            Some(true) => {
                let mut written = lock(&self.written);
                if matches!(state, State::Done | State::Failed) {
                    written.remove(id);
                } else {
                    written.insert(id.to_string(), record);
                }
                Written::Ok
            }
            Some(false) => {
                // Not the record this replica wrote last: Redis lost it and it was written
                // back, a write's answer was lost, or the job ended meanwhile.
                lock(&self.written).remove(id);
                let now = self.read_raw(id).flatten();
                let current = now
                    .as_deref()
                    .and_then(|r| serde_json::from_str::<Record>(r).ok());
                match current {
                    // An ended job stays ended: by another replica, its outcome stands; by
                    // this one, a late renewal must not undo it.
                    Some(r) if matches!(r.state, State::Done | State::Failed) => {
                        if r.replica == self.replica {
                            Written::Ok
                        } else {
                            Written::EndedElsewhere(r.error.unwrap_or_default())
                        }
                    }
                    _ => {
                        if self.cas(id, now.as_deref(), true, &record, report.as_deref())
                            != Some(true)
                        {
                            return Written::Later;
                        }
                        if !matches!(state, State::Done | State::Failed) {
                            lock(&self.written).insert(id.to_string(), record);
                        }
                        Written::Ok
                    }
                }
            }
        }
    }

    /// A job another replica owns, as this one answers for it: waiting, running, its
    /// outcome, or (its owner's lease run out) failed, ended here once for every replica.
    /// `None`: no such job, or Redis cannot say.
    pub fn status(&self, id: &str) -> Option<Status> {
        let Some(found) = self.read_raw(id) else {
            return Some(Status::Pending);
        };
        let Some(raw) = found else {
            return self.recently_emptied().then_some(Status::Pending);
        };
        let record: Record = serde_json::from_str(&raw).ok()?;
        match record.state {
            State::Done => {
                let key = report_key(id);
                let bytes = self.with(|conn| {
                    match conn.command(&[b"GET", key.as_bytes()], MAX_REPORT)? {
                        Reply::Bulk(bytes) => Ok(Some(bytes)),
                        _ => Ok(None),
                    }
                })??;
                match serde_json::from_slice::<Done>(&bytes) {
                    Ok(done) => Some(Status::Done(Arc::new(done))),
                    Err(e) => Some(Status::Failed(format!(
                        "the report replica {} stored is unreadable: {e}",
                        record.replica
                    ))),
                }
            }
            State::Failed => Some(Status::Failed(record.error.unwrap_or_default())),
            State::Queued | State::Running if record.lease_until >= unix_now() => {
                Some(if record.state == State::Queued {
                    Status::Queued
                } else {
                    Status::Running
                })
            }
            State::Queued | State::Running => {
                let silent = unix_now().saturating_sub(record.lease_until) + self.lease.as_secs();
                let message = format!(
                    "replica {} stopped answering for this scan {} ago, before it finished \
                     (killed, or cut off from Redis): submit the scan again",
                    record.replica,
                    describe_age(Duration::from_secs(silent))
                );
                let ended = Record {
                    state: State::Failed,
                    replica: self.replica.clone(),
                    lease_until: unix_now(),
                    error: Some(message.clone()),
                };
                let ended = serde_json::to_string(&ended).ok()?;
                match self.cas(id, Some(&raw), false, &ended, None)? {
                    true => {
                        eprintln!("portcullis serve: scan {id}: {message}");
                        Some(Status::Failed(message))
                    }
                    // Renewed or ended meanwhile: ask again.
                    false => self.status_once(id),
                }
            }
        }
    }

    /// Whether Redis began keeping jobs less than a lease ago (it restarted empty, or this
    /// is the first replica): an unknown job may be one whose owner has yet to write it back.
    fn recently_emptied(&self) -> bool {
        let now = unix_now().to_string();
        // `SET … NX GET` is Redis 7 only.
        let script = "local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1]) end
return v";
        let began = self.with(|conn| {
            conn.command(
                &[
                    b"EVAL",
                    script.as_bytes(),
                    b"1",
                    EPOCH_KEY.as_bytes(),
                    now.as_bytes(),
                ],
                64,
            )
        });
        match began {
            None => true,
            Some(Reply::Bulk(bytes)) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .is_none_or(|t| unix_now().saturating_sub(t) < self.lease.as_secs()),
            // Set now: nothing was there.
            Some(_) => true,
        }
    }

    /// [`SharedJobs::status`] without ending anything.
    fn status_once(&self, id: &str) -> Option<Status> {
        let record = self.read(id)??;
        Some(match record.state {
            State::Queued => Status::Queued,
            State::Running => Status::Running,
            State::Failed => Status::Failed(record.error.unwrap_or_default()),
            State::Done => return self.status(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written() {
        let record = Record {
            state: State::Running,
            replica: "host/1".into(),
            lease_until: 12,
            error: None,
        };
        let text = serde_json::to_string(&record).unwrap();
        assert_eq!(
            text,
            r#"{"state":"running","replica":"host/1","lease_until":12}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&text).unwrap(), record);
    }
}
