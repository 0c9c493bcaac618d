//! The HTTP side: connections, caller authentication, routes, and the answers the spec
//! names for each case. Request bodies are bounded; every error has the spec's
//! `ErrorResponse` body.

use crate::api::{self, FormatError, ReportFormat, RequestError, ScanRequest, Scanner};
use crate::harbor;
use crate::jobs::{Jobs, Refused, Status};
use crate::{CallerAuth, Config};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A scan request is a few hundred bytes; this leaves room for long tokens.
const MAX_BODY: usize = 64 << 10;
/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;
/// A client must send its request head, and its body, within this.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub struct State {
    jobs: Arc<Jobs>,
    auth: CallerAuth,
    refresh_after: u64,
    properties: std::collections::BTreeMap<String, String>,
    database_updated_at: Box<dyn Fn() -> Option<String> + Send + Sync>,
    scanner: Scanner,
    accepting: AtomicBool,
    connections: Arc<tokio::sync::Semaphore>,
}

impl State {
    pub fn new(config: Config, jobs: Arc<Jobs>) -> State {
        State {
            jobs,
            auth: config.auth,
            refresh_after: config.refresh_after,
            properties: config.properties,
            database_updated_at: config.database_updated_at,
            scanner: Scanner::portcullis(),
            accepting: AtomicBool::new(true),
            connections: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
        }
    }

    pub fn shut_down(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }
}

pub async fn accept(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok(permit) = Arc::clone(&state.connections).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                eprintln!("portcullis serve: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(request, &state).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &str, body: Vec<u8>) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn json_answer(status: StatusCode, content_type: &str, body: &Value) -> Answer {
    let mut bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes.push(b'\n');
    answer(status, content_type, bytes)
}

fn error(status: StatusCode, message: &str) -> Answer {
    json_answer(status, api::ERROR, &api::error_body(message))
}

/// Compares without an early exit, so that timing says nothing of how much matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(auth: &CallerAuth, header: Option<&HeaderValue>) -> bool {
    if auth.is_open() {
        return true;
    }
    let Some(value) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let (scheme, credential) = value.trim().split_once(' ').unwrap_or((value, ""));
    let credential = credential.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        auth.bearer
            .as_deref()
            .is_some_and(|token| same(token.as_bytes(), credential.as_bytes()))
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credential)
            .unwrap_or_default();
        auth.basic
            .as_deref()
            .is_some_and(|pair| same(pair.as_bytes(), &decoded))
    } else {
        false
    }
}

fn unauthorized(auth: &CallerAuth) -> Answer {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong Authorization header",
    );
    // One challenge per scheme the caller may use.
    if auth.bearer.is_some() {
        response.headers_mut().append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"portcullis\""),
        );
    }
    if auth.basic.is_some() {
        response.headers_mut().append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portcullis\""),
        );
    }
    response
}

async fn handle(request: Request<Incoming>, state: &State) -> Answer {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    match (path.as_str(), &method) {
        ("/probe/healthy", &Method::GET) => {
            return answer(StatusCode::OK, "text/plain", b"ok\n".to_vec());
        }
        ("/probe/ready", &Method::GET) => {
            return if state.accepting.load(Ordering::SeqCst) {
                answer(StatusCode::OK, "text/plain", b"ready\n".to_vec())
            } else {
                answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    b"shutting down\n".to_vec(),
                )
            };
        }
        _ => {}
    }
    if !path.starts_with("/api/v1/") {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no such path: {}", visible_path(&path)),
        );
    }
    if !authorized(&state.auth, request.headers().get(header::AUTHORIZATION)) {
        return unauthorized(&state.auth);
    }
    let report_id = path
        .strip_prefix("/api/v1/scan/")
        .and_then(|rest| rest.strip_suffix("/report"))
        .filter(|id| !id.is_empty() && !id.contains('/'));
    match (path.as_str(), &method, report_id) {
        ("/api/v1/metadata", &Method::GET, _) => metadata(state),
        ("/api/v1/scan", &Method::POST, _) => submit(request, state).await,
        (_, &Method::GET, Some(id)) => report(&request, state, id),
        ("/api/v1/metadata" | "/api/v1/scan", _, _) | (_, _, Some(_)) => {
            let allowed = if path == "/api/v1/scan" {
                "POST"
            } else {
                "GET"
            };
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!(
                    "{method} is not allowed on {} (only {allowed})",
                    visible_path(&path)
                ),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allowed));
            response
        }
        _ => error(
            StatusCode::NOT_FOUND,
            &format!("no such path: {}", visible_path(&path)),
        ),
    }
}

/// A path as an error may quote it: printable ASCII, bounded.
fn visible_path(path: &str) -> String {
    path.chars()
        .take(200)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

fn metadata(state: &State) -> Answer {
    let consumes = [api::OCI_MANIFEST, api::DOCKER_MANIFEST];
    let mut properties = serde_json::Map::new();
    properties.insert(
        "harbor.scanner-adapter/scanner-type".into(),
        "os-package-vulnerability".into(),
    );
    if let Some(updated) = (state.database_updated_at)() {
        properties.insert(
            "harbor.scanner-adapter/vulnerability-database-updated-at".into(),
            updated.into(),
        );
    }
    for (key, value) in &state.properties {
        properties.insert(key.clone(), value.clone().into());
    }
    let body = json!({
        "scanner": state.scanner,
        "capabilities": [
            {
                "type": "vulnerability",
                "consumes_mime_types": consumes,
                "produces_mime_types": api::VULNERABILITY_TYPES,
            },
            {
                "type": "sbom",
                "consumes_mime_types": consumes,
                "produces_mime_types": [api::SBOM_REPORT],
                "additional_attributes": {"sbom_media_types": [api::SPDX, api::CYCLONEDX]},
            }
        ],
        "properties": properties,
    });
    json_answer(StatusCode::OK, api::METADATA, &body)
}

async fn submit(request: Request<Incoming>, state: &State) -> Answer {
    if !state.accepting.load(Ordering::SeqCst) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "portcullis serve is shutting down: send the scan to another replica",
        );
    }
    let body = Limited::new(request.into_body(), MAX_BODY).collect();
    let bytes = match tokio::time::timeout(READ_TIMEOUT, body).await {
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            );
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is larger than {MAX_BODY} bytes"),
            );
        }
        Ok(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("reading the request body: {e}"),
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        // The spec does not mark the body required; without one, every field is missing.
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the request has no body: expected a ScanRequest {registry, artifact}",
        );
    }
    let parsed: ScanRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            // serde's message names the field and the type expected, never the value.
            return error(
                StatusCode::BAD_REQUEST,
                &format!("the request body is not a ScanRequest: {e}"),
            );
        }
    };
    let scan = match parsed.validate() {
        Ok(scan) => scan,
        Err(e @ RequestError::Invalid { .. }) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string());
        }
        Err(e @ RequestError::Unsupported { .. }) => {
            return error(StatusCode::NOT_IMPLEMENTED, &e.to_string());
        }
    };
    match state.jobs.submit(scan) {
        Ok(id) => json_answer(
            StatusCode::ACCEPTED,
            api::SCAN_RESPONSE,
            &json!({ "id": id }),
        ),
        Err(Refused::Full) => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "every worker is busy and the queue is full: try again later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(state.refresh_after));
            response
        }
        Err(Refused::ShuttingDown) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "portcullis serve is shutting down: send the scan to another replica",
        ),
    }
}

/// The `sbom_media_type` query parameter, percent-decoded.
fn sbom_media_type(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "sbom_media_type")
        .map(|(_, value)| percent_decode(value))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, b) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn report(request: &Request<Incoming>, state: &State, id: &str) -> Answer {
    let Some(status) = state.jobs.status(id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!(
                "no scan {} (unknown, or its report expired)",
                visible_path(id)
            ),
        );
    };
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok());
    let sbom = sbom_media_type(request.uri().query());
    let format = match api::negotiate(accept, sbom.as_deref()) {
        Ok(f) => f,
        Err(FormatError::BadRequest(m)) => return error(StatusCode::BAD_REQUEST, &m),
        Err(FormatError::Unsupported(m)) => return error(StatusCode::NOT_IMPLEMENTED, &m),
    };
    let done = match status {
        Status::Queued | Status::Running | Status::Pending => {
            let mut response = answer(StatusCode::FOUND, "text/plain", Vec::new());
            response
                .headers_mut()
                .insert("Refresh-After", HeaderValue::from(state.refresh_after));
            return response;
        }
        Status::Failed(message) => {
            state.jobs.fetched(id);
            return error(StatusCode::INTERNAL_SERVER_ERROR, &message);
        }
        Status::Done(done) => done,
    };
    state.jobs.fetched(id);
    let body = match format {
        ReportFormat::HarborV1_0 | ReportFormat::VulnerabilityV1_1 => harbor::vulnerability_report(
            &done.report,
            &done.artifact,
            &state.scanner,
            &done.generated_at,
        ),
        ReportFormat::Raw => match serde_json::to_value(&done.report) {
            Ok(v) => v,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        ReportFormat::Sbom(sbom) => {
            let document = done.sbom(sbom);
            harbor::sbom_report(
                &document,
                sbom,
                &done.artifact,
                &state.scanner,
                &done.generated_at,
            )
        }
    };
    json_answer(StatusCode::OK, format.media_type(), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_authenticate_with_the_token_or_the_password() {
        let auth = CallerAuth {
            bearer: Some("t0ken".into()),
            basic: Some("harbor:pw".into()),
        };
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("harbor:pw")
        );
        for (header, ok) in [
            (Some("Bearer t0ken"), true),
            (Some("bearer t0ken"), true),
            (Some("Bearer t0ke"), false),
            (Some(basic.as_str()), true),
            (Some("Basic aGFyYm9yOng="), false),
            (Some("t0ken"), false),
            (None, false),
        ] {
            let value = header.map(|h| HeaderValue::from_str(h).unwrap());
            assert_eq!(authorized(&auth, value.as_ref()), ok, "{header:?}");
        }
        assert!(authorized(&CallerAuth::default(), None));
    }

    #[test]
    fn the_sbom_media_type_is_read_from_the_query() {
        assert_eq!(
            sbom_media_type(Some("a=b&sbom_media_type=application%2Fspdx%2Bjson")).as_deref(),
            Some("application/spdx+json")
        );
        assert_eq!(sbom_media_type(Some("x=1")), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
