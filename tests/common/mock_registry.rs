//! A small in-process registry for what a real docker-registry will not do on demand: the
//! bearer-token dance with a separate token endpoint, 503s, connections cut mid-blob, and
//! bytes that do not match their digests. HTTP/1.1, one connection per request, loopback
//! only; it stops when the test process ends.

use base64::Engine as _;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "mock-token-1234";

#[derive(Default)]
pub struct Faults {
    /// Blobs answered with 503 the first time they are asked for.
    pub unavailable_once: HashSet<String>,
    /// Blobs whose first response stops halfway (the connection closes).
    pub cut_once: HashSet<String>,
    /// Blobs served with one header byte changed (still valid gzip, of the same size).
    pub corrupt: HashSet<String>,
    /// Manifests (by reference) whose Docker-Content-Digest header names another digest.
    pub lying_digest_header: HashSet<String>,
}

pub struct MockRegistry {
    pub addr: String,
    state: Arc<State>,
}

struct State {
    user: String,
    password: String,
    repository: String,
    manifests: HashMap<String, (String, Vec<u8>)>,
    blobs: HashMap<String, Vec<u8>>,
    faults: Mutex<Faults>,
    log: Mutex<Vec<String>>,
}

impl MockRegistry {
    /// Serves `repository` with `manifests` (reference → media type, bytes) and `blobs`
    /// (digest → bytes), behind a token endpoint that wants `user`/`password`.
    pub fn start(
        repository: &str,
        manifests: HashMap<String, (String, Vec<u8>)>,
        blobs: HashMap<String, Vec<u8>>,
        user: &str,
        password: &str,
        faults: Faults,
    ) -> MockRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock registry");
        let addr = listener.local_addr().expect("local addr").to_string();
        let state = Arc::new(State {
            user: user.into(),
            password: password.into(),
            repository: repository.into(),
            manifests,
            blobs,
            faults: Mutex::new(faults),
            log: Mutex::new(Vec::new()),
        });
        let served = Arc::clone(&state);
        let realm = format!("http://{addr}/token");
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = Arc::clone(&served);
                let realm = realm.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &s, &realm);
                });
            }
        });
        MockRegistry { addr, state }
    }

    /// Every request as `METHOD PATH [range] [auth scheme]`, in arrival order.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

fn respond(
    conn: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)?;
    conn.flush()
}

fn handle(mut conn: TcpStream, s: &State, realm: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let auth = headers.get("authorization").cloned().unwrap_or_default();
    let range = headers.get("range").cloned();
    if let Ok(mut log) = s.log.lock() {
        log.push(format!(
            "{method} {target}{}{}",
            range
                .as_deref()
                .map(|r| format!(" [{r}]"))
                .unwrap_or_default(),
            auth.split_whitespace()
                .next()
                .map(|a| format!(" <{a}>"))
                .unwrap_or_default()
        ));
    }
    let path = target.split('?').next().unwrap_or("");
    if path == "/token" {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", s.user, s.password))
        );
        if auth != expected {
            return respond(&mut conn, "401 Unauthorized", &[], b"{}");
        }
        return respond(
            &mut conn,
            "200 OK",
            &[],
            format!(r#"{{"token":"{TOKEN}"}}"#).as_bytes(),
        );
    }
    if auth != format!("Bearer {TOKEN}") {
        let challenge = format!(
            r#"Bearer realm="{realm}",service="mock-registry",scope="repository:{}:pull""#,
            s.repository
        );
        return respond(
            &mut conn,
            "401 Unauthorized",
            &[("WWW-Authenticate", challenge)],
            b"{}",
        );
    }
    let prefix = format!("/v2/{}/", s.repository);
    let Some(rest) = path.strip_prefix(&prefix) else {
        return respond(&mut conn, "404 Not Found", &[], b"{}");
    };
    if let Some(reference) = rest.strip_prefix("manifests/") {
        let Some((mt, data)) = s.manifests.get(reference) else {
            return respond(&mut conn, "404 Not Found", &[], b"{}");
        };
        let lying = s
            .faults
            .lock()
            .is_ok_and(|f| f.lying_digest_header.contains(reference));
        let digest = if lying {
            format!("sha256:{}", "0".repeat(64))
        } else {
            super::builder::sha256(data)
        };
        return respond(
            &mut conn,
            "200 OK",
            &[
                ("Content-Type", mt.clone()),
                ("Docker-Content-Digest", digest),
            ],
            data,
        );
    }
    if let Some(digest) = rest.strip_prefix("blobs/") {
        let Some(data) = s.blobs.get(digest) else {
            return respond(&mut conn, "404 Not Found", &[], b"{}");
        };
        let mut data = data.clone();
        let (unavailable, cut, corrupt) = match s.faults.lock() {
            Ok(mut f) => {
                let unavailable = f.unavailable_once.remove(digest);
                let cut = !unavailable && range.is_none() && f.cut_once.remove(digest);
                (unavailable, cut, f.corrupt.contains(digest))
            }
            Err(_) => (false, false, false),
        };
        if unavailable {
            return respond(&mut conn, "503 Service Unavailable", &[], b"try again");
        }
        // Byte 4 of a gzip stream is part of its header's MTIME: changing it keeps the
        // stream valid and its size, and changes its digest.
        if corrupt && let Some(b) = data.get_mut(4) {
            *b ^= 1;
        }
        if let Some(from) = range
            .as_deref()
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok())
        {
            let total = data.len();
            let from = from.min(total);
            return respond(
                &mut conn,
                "206 Partial Content",
                &[(
                    "Content-Range",
                    format!("bytes {from}-{}/{total}", total.saturating_sub(1)),
                )],
                &data[from..],
            );
        }
        if cut {
            let head = format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                data.len()
            );
            conn.write_all(head.as_bytes())?;
            conn.write_all(&data[..data.len() / 2])?;
            conn.flush()?;
            return conn.shutdown(std::net::Shutdown::Both);
        }
        return respond(&mut conn, "200 OK", &[], &data);
    }
    respond(&mut conn, "404 Not Found", &[], b"{}")
}
