//! `FaultProxy`: an HTTP/1.1 reverse proxy in front of a real registry, the `docker-registry`
//! that scripts/services.sh starts. Every answer, authentication challenges and range
//! requests included, comes from that registry; the faults a test asks for are the only
//! thing the proxy adds:
//!
//! - a 503 instead of the first answer to a path (the client must retry), or instead of
//!   every answer (the client must give up with a clear error);
//! - a body cut after [`CUT_AFTER`] bytes by closing the connection (the client must resume
//!   with a `Range` request, which the registry answers with 206), once or every time;
//! - a `Docker-Content-Digest` header rewritten to name another digest (the client must
//!   refuse the manifest);
//! - a body with one byte changed (the client must fail with a digest mismatch);
//! - an answer held back until the test releases it (a scan that is still running while
//!   the test looks at it).
//!
//! Faults are keyed by the last segment of the request path: a blob's digest, or a
//! manifest's tag or digest. Only GETs are forwarded (a pull needs nothing else), each to
//! the registry on a connection of its own as HTTP/1.0, so that the registry never chunks a
//! body and ends it by closing the connection; the proxy sends it on with a
//! `Content-Length` of its own.

use super::http1::{HOP_BY_HOP, RequestHead, head, respond};
use std::collections::HashSet;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Bytes of a cut body that reach the client (half the body, if that is less).
pub const CUT_AFTER: usize = 100_000;
const TIMEOUT: Duration = Duration::from_secs(60);

/// What the proxy does to which path (by its last segment).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answered 503, without asking the registry, the first time they are asked for.
    pub unavailable_once: HashSet<String>,
    /// Answered 503, without asking the registry, every time.
    pub unavailable: HashSet<String>,
    /// The first whole (200) body is cut after [`CUT_AFTER`] bytes.
    pub cut_once: HashSet<String>,
    /// Every body, whole (200) or the rest of one (206), is cut after [`CUT_AFTER`] bytes
    /// or half its length.
    pub cut: HashSet<String>,
    /// Every whole body has its fifth byte changed: in a gzip blob that is part of the
    /// header's MTIME, so the stream stays valid, as long, and of another digest.
    pub tampered: HashSet<String>,
    /// `Docker-Content-Digest` names a digest of no content.
    pub rewritten_digest: HashSet<String>,
    /// Not forwarded until [`FaultProxy::release`] names them.
    pub held: HashSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Unavailable,
    Cut,
    Tampered,
    RewrittenDigest,
}

/// One GET through the proxy and what it answered.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub path: String,
    /// The request's `Range` header.
    pub range: Option<String>,
    /// The scheme of its `Authorization` header (`Bearer`, `Basic`).
    pub authorization: Option<String>,
    /// The status the client got.
    pub status: u16,
    pub fault: Option<Fault>,
}

impl Exchange {
    /// Whether this was a request for `segment` (a digest or a tag).
    pub fn is_for(&self, segment: &str) -> bool {
        self.path.rsplit('/').next() == Some(segment)
    }
}

pub struct FaultProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    state: Arc<State>,
}

struct State {
    upstream: String,
    faults: Mutex<Faults>,
    log: Mutex<Vec<Exchange>>,
    /// Held paths a request is waiting for now.
    waiting: Mutex<HashSet<String>>,
    stopped: AtomicBool,
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of the registry at `upstream` (`host:port`).
    pub fn start(upstream: &str, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().expect("local addr").to_string();
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            faults: Mutex::new(faults),
            log: Mutex::new(Vec::new()),
            waiting: Mutex::new(HashSet::new()),
            stopped: AtomicBool::new(false),
        });
        let serving = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                if serving.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let s = Arc::clone(&serving);
                std::thread::spawn(move || {
                    let _ = s.proxy(conn);
                });
            }
        });
        FaultProxy { addr, state }
    }

    /// Lets the requests for `segment` through, those waiting and those to come.
    pub fn release(&self, segment: &str) {
        if let Ok(mut f) = self.state.faults.lock() {
            f.held.remove(segment);
        }
    }

    /// Whether a request for the held `segment` is waiting now.
    pub fn is_waiting(&self, segment: &str) -> bool {
        self.state.waiting.lock().is_ok_and(|w| w.contains(segment))
    }

    /// Every exchange so far, in arrival order.
    pub fn log(&self) -> Vec<Exchange> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

/// A response as the registry sent it, its body unframed (no `Content-Length`).
struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl State {
    fn proxy(&self, mut conn: TcpStream) -> io::Result<()> {
        conn.set_read_timeout(Some(TIMEOUT))?;
        let mut reader = BufReader::new(conn.try_clone()?);
        let request = RequestHead::read(&mut reader)?;
        // A registry client pulls with GETs only; nothing else is ever forwarded.
        if request.method != "GET" {
            return respond(&mut conn, 405, "Method Not Allowed", &[], b"GET only");
        }
        let segment = request.path().rsplit('/').next().unwrap_or("").to_string();
        let range = request.header("range").map(str::to_string);
        let authorization = request
            .header("authorization")
            .and_then(|a| a.split_whitespace().next())
            .map(str::to_string);
        let log = |status: u16, fault: Option<Fault>| {
            if let Ok(mut l) = self.log.lock() {
                l.push(Exchange {
                    path: request.path().to_string(),
                    range: range.clone(),
                    authorization: authorization.clone(),
                    status,
                    fault,
                });
            }
        };

        let unavailable = self.faults.lock().is_ok_and(|mut f| {
            f.unavailable_once.remove(&segment) || f.unavailable.contains(&segment)
        });
        if unavailable {
            log(503, Some(Fault::Unavailable));
            return respond(&mut conn, 503, "Service Unavailable", &[], b"try again");
        }

        while self.faults.lock().is_ok_and(|f| f.held.contains(&segment))
            && !self.stopped.load(Ordering::SeqCst)
        {
            if let Ok(mut w) = self.waiting.lock() {
                w.insert(segment.clone());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(mut w) = self.waiting.lock() {
            w.remove(&segment);
        }
        let mut response = self.forward(&request)?;
        let mut fault = None;
        if response.status == 200 {
            let faults = self
                .faults
                .lock()
                .map_err(|_| io::Error::other("faults poisoned"))?;
            if faults.rewritten_digest.contains(&segment) {
                for (name, value) in &mut response.headers {
                    if name.eq_ignore_ascii_case("docker-content-digest") {
                        *value = format!("sha256:{}", "0".repeat(64));
                        fault = Some(Fault::RewrittenDigest);
                    }
                }
            }
            if faults.tampered.contains(&segment)
                && let Some(b) = response.body.get_mut(4)
            {
                *b ^= 1;
                fault = Some(Fault::Tampered);
            }
        }
        if matches!(response.status, 200 | 206) {
            let mut faults = self
                .faults
                .lock()
                .map_err(|_| io::Error::other("faults poisoned"))?;
            let once = response.status == 200 && faults.cut_once.remove(&segment);
            if once || faults.cut.contains(&segment) {
                drop(faults);
                log(response.status, Some(Fault::Cut));
                let cut = CUT_AFTER.min(response.body.len() / 2);
                conn.write_all(&head(
                    response.status,
                    &response.reason,
                    &response.headers,
                    response.body.len(),
                ))?;
                conn.write_all(&response.body[..cut])?;
                conn.flush()?;
                return conn.shutdown(Shutdown::Both);
            }
        }
        log(response.status, fault);
        respond(
            &mut conn,
            response.status,
            &response.reason,
            &response.headers,
            &response.body,
        )
    }

    /// Sends `request` on to the registry and reads its whole response.
    fn forward(&self, request: &RequestHead) -> io::Result<Response> {
        let mut upstream = TcpStream::connect(&self.upstream)?;
        upstream.set_read_timeout(Some(TIMEOUT))?;
        let mut out = format!("{} {} HTTP/1.0\r\n", request.method, request.target);
        for (name, value) in &request.headers {
            let lower = name.to_ascii_lowercase();
            if !HOP_BY_HOP.contains(&lower.as_str()) {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        out.push_str("\r\n");
        upstream.write_all(out.as_bytes())?;
        let mut raw = Vec::new();
        upstream.read_to_end(&mut raw)?;

        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| bad("the registry's response has no complete head"))?;
        let text = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let status = parts
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("the registry's status line has no status"))?;
        let reason = parts.next().unwrap_or("").to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .filter(|(k, _)| {
                let k = k.to_ascii_lowercase();
                // The body is framed anew on the way to the client.
                !HOP_BY_HOP.contains(&k.as_str()) && k != "content-length"
            })
            .collect();
        Ok(Response {
            status,
            reason,
            headers,
            body: raw[end + 4..].to_vec(),
        })
    }
}
