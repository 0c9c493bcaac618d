//! The HTTP side of the distribution API: manifests, blobs and referrers, read and written,
//! with authentication, retries with backoff, and blob bodies handed to the scanner as they
//! arrive (resumed with a range request when a connection breaks mid-blob).

use super::RegistryError;
use super::auth::{self, Challenge, TokenRequest};
use super::credentials::Credentials;
use super::name::RegistryRef;
use crate::body::BodySender;
use bytes::{Buf as _, Bytes};
use portcullis_layer::decode::sha256_of;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderName, LINK, LOCATION,
    RANGE, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use std::path::Path;
use std::time::Duration;
use tokio_util::io::ReaderStream;

/// Manifest media types asked for, most specific last (as Docker's client sends them).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";
const SCHEMA1_PREFIX: &str = "application/vnd.docker.distribution.manifest.v1";
/// Retries after the first attempt, for 5xx, 429 and broken connections.
const RETRIES: u32 = 4;
/// Most tags read from one repository's tag list.
pub const MAX_TAGS: usize = 10_000;
/// Tags asked for per page of the tag list (registries may answer fewer, and some refuse
/// more than 1,000).
pub const TAG_PAGE: usize = 1_000;
/// Most pages of one tag list read: a registry answering one tag a page cannot make the
/// listing take 10,000 requests.
const MAX_TAG_PAGES: usize = 100;
/// Most repositories read from a registry's catalog. A longer catalog is an error rather
/// than cut short: what is asked for is every repository.
pub const MAX_REPOSITORIES: usize = 10_000;
/// Repositories asked for per page of the catalog: distribution's default
/// `catalog.maxentries`.
const CATALOG_PAGE: usize = 1_000;
/// Most pages of one catalog read.
const MAX_CATALOG_PAGES: usize = 1_000;
/// Bytes a page of a list may take per name asked for: a tag is at most 128 characters and
/// a repository name 255, plus JSON's quotes and comma.
const MAX_BYTES_PER_NAME: u64 = 264;
/// First backoff; doubled on each retry.
const BACKOFF: Duration = Duration::from_millis(250);
/// Times a blob download is resumed after its connection broke.
const RESUMES: u32 = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection silent for this long is broken.
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// A whole metadata request (a manifest, a config, the token exchange it needs), its
/// retries included, ends within this: a registry that never answers, or trickles, cannot
/// hold a scan for retries times the silence timeout.
const REQUEST_DEADLINE: Duration = Duration::from_secs(90);
/// A layer blob gets this long ...
const BLOB_DEADLINE: Duration = Duration::from_secs(600);
/// ... plus a second per this many bytes of its announced length (256 KiB/s), resumes
/// included.
const BLOB_MIN_RATE: u64 = 256 << 10;
/// The part of an error response read for the registry's error codes.
const MAX_ERROR_BODY: u64 = 64 << 10;
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";

/// A manifest or index as received: its bytes, its Content-Type and the digest of the bytes.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub data: Vec<u8>,
    pub media_type: Option<String>,
    pub digest: String,
}

/// What a manifest PUT answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutManifest {
    /// The digest of the bytes sent, which the registry's `Docker-Content-Digest` confirmed
    /// when it sent one.
    pub digest: String,
    /// The `OCI-Subject` header: a registry that supports the referrers API sends it when it
    /// indexed the manifest's `subject`.
    pub subject: Option<String>,
}

/// The body of a request.
#[derive(Clone, Copy)]
enum Payload<'a> {
    Empty,
    Bytes(&'a Bytes),
    /// A file of `size` bytes, streamed from disk.
    File {
        path: &'a Path,
        size: u64,
    },
}

/// A client for one repository of one registry.
pub struct Client {
    http: reqwest::Client,
    /// `https://host[:port]` or, with `--insecure`, possibly `http://`.
    base: String,
    target: RegistryRef,
    credentials: Option<Credentials>,
    insecure: bool,
    /// Whether tokens are asked for with push access too.
    push: bool,
    /// The `Authorization` header that last worked (Basic, or a bearer token).
    authorization: tokio::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("target", &self.target)
            .field("credentials", &self.credentials)
            .field("insecure", &self.insecure)
            .field("push", &self.push)
            .finish_non_exhaustive()
    }
}

fn describe(e: &reqwest::Error) -> String {
    // reqwest's Display stops at the outermost layer ("error sending request"); the cause
    // (connection refused, certificate unknown ...) is what a user needs.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn transient(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_timeout() || e.is_request() || e.is_body()
}

fn backoff(attempt: u32) -> Duration {
    BACKOFF * 2u32.saturating_pow(attempt.min(8))
}

impl Client {
    /// A client for `target`. With `insecure`, certificates are not verified and a registry
    /// that does not speak TLS is reached over plain HTTP.
    pub async fn connect(
        target: RegistryRef,
        credentials: Option<Credentials>,
        insecure: bool,
    ) -> Result<Client, RegistryError> {
        // reqwest is built without a default crypto provider; ring is the one compiled in.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .tls_danger_accept_invalid_certs(insecure)
            .build()
            .map_err(|e| RegistryError::Network {
                registry: target.registry.clone(),
                message: describe(&e),
            })?;
        let host = target.api_host().to_string();
        let mut base = format!("https://{host}");
        if insecure {
            // A plain HTTP registry fails the TLS handshake: fall back to HTTP.
            let probe = http.get(format!("{base}/v2/")).send().await;
            if let Err(e) = probe
                && e.is_connect()
            {
                base = format!("http://{host}");
            }
        }
        let authorization = credentials
            .as_ref()
            .and_then(Credentials::preemptive_header);
        Ok(Client {
            http,
            base,
            target,
            credentials,
            insecure,
            push: false,
            authorization: tokio::sync::Mutex::new(authorization),
        })
    }

    /// Asks token endpoints for `push,pull` access rather than `pull`, so that a client that
    /// writes gets one token for its reads and writes.
    pub fn with_push_access(mut self) -> Client {
        self.push = true;
        self
    }

    fn url(&self, kind: &str, reference: &str) -> String {
        format!(
            "{}/v2/{}/{kind}/{reference}",
            self.base, self.target.repository
        )
    }

    fn not_found(&self, what: String) -> RegistryError {
        RegistryError::NotFound {
            registry: self.target.registry.clone(),
            repository: self.target.repository.clone(),
            what,
        }
    }

    /// Sends a GET (with `range_from` as a Range header); see [`Client::send`].
    async fn get(
        &self,
        url: &str,
        accept: Option<&str>,
        range_from: u64,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut headers = Vec::new();
        if let Some(a) = accept {
            headers.push((ACCEPT, a.to_string()));
        }
        if range_from > 0 {
            headers.push((RANGE, format!("bytes={range_from}-")));
        }
        self.send(Method::GET, url, &headers, Payload::Empty, what)
            .await
    }

    /// Sends a request, answering one authentication challenge and retrying transient
    /// failures with exponential backoff. Credentials go only to the registry itself: a URL
    /// elsewhere (an upload location on another host) is sent none. A refused write says
    /// what the registry's error body says.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, String)],
        body: Payload<'_>,
        what: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let same_origin = url.starts_with(&format!("{}/", self.base));
        let mut attempt = 0;
        let mut challenged = false;
        loop {
            let mut request = self.http.request(method.clone(), url);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            match body {
                Payload::Empty => {}
                Payload::Bytes(b) => request = request.body(b.clone()),
                // Opened again for each attempt: a challenge or a retry sends it anew.
                Payload::File { path, size } => {
                    let file =
                        tokio::fs::File::open(path)
                            .await
                            .map_err(|e| RegistryError::Network {
                                registry: self.target.registry.clone(),
                                message: format!("reading {}: {e}", path.display()),
                            })?;
                    request = request
                        .header(CONTENT_LENGTH, size)
                        .body(reqwest::Body::wrap_stream(ReaderStream::new(file)));
                }
            }
            if same_origin && let Some(h) = self.authorization.lock().await.clone() {
                request = request.header(AUTHORIZATION, h);
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) if transient(&e) && attempt < RETRIES => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => {
                    let mut message = describe(&e);
                    if e.is_connect() && !self.insecure {
                        message.push_str(
                            " (for a registry that serves plain HTTP or a self-signed \
                             certificate, pass --insecure)",
                        );
                    }
                    return Err(RegistryError::Network {
                        registry: self.target.registry.clone(),
                        message,
                    });
                }
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            match status {
                StatusCode::UNAUTHORIZED if !challenged && same_origin => {
                    challenged = true;
                    self.authenticate(&response).await?;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(RegistryError::Denied {
                        registry: self.target.registry.clone(),
                        repository: self.target.repository.clone(),
                        status: status.as_u16(),
                        anonymous: self.credentials.is_none(),
                    });
                }
                StatusCode::NOT_FOUND => return Err(self.not_found(what.to_string())),
                s if (s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS)
                    && attempt < RETRIES =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                s if method != Method::GET && method != Method::HEAD => {
                    let detail = read_limited(response, MAX_ERROR_BODY)
                        .await
                        .ok()
                        .and_then(|body| error_codes(&body))
                        .unwrap_or_default();
                    return Err(RegistryError::Rejected {
                        registry: self.target.registry.clone(),
                        repository: self.target.repository.clone(),
                        status: s.as_u16(),
                        what: what.to_string(),
                        detail,
                    });
                }
                s => {
                    return Err(RegistryError::Status {
                        registry: self.target.registry.clone(),
                        repository: self.target.repository.clone(),
                        status: s.as_u16(),
                        what: what.to_string(),
                    });
                }
            }
        }
    }

    /// Answers a 401's challenge: Basic credentials, or a token from the token endpoint.
    async fn authenticate(&self, response: &reqwest::Response) -> Result<(), RegistryError> {
        let challenge = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(auth::parse_challenge);
        let denied = || RegistryError::Denied {
            registry: self.target.registry.clone(),
            repository: self.target.repository.clone(),
            status: 401,
            anonymous: self.credentials.is_none(),
        };
        // A token handed over is all there is: a registry refusing it is a denial.
        if matches!(self.credentials, Some(Credentials::RegistryToken(_))) {
            return Err(denied());
        }
        let header = match challenge {
            None => return Err(denied()),
            Some(Challenge::Basic) => self
                .credentials
                .as_ref()
                .and_then(Credentials::basic_header)
                .ok_or_else(denied)?,
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let scope = auth::token_scope(scope, &self.target.repository, self.push);
                let request = auth::token_request(
                    &realm,
                    service.as_deref(),
                    &scope,
                    self.credentials.as_ref(),
                    self.insecure,
                )?;
                format!("Bearer {}", self.fetch_token(request).await?.0)
            }
        };
        *self.authorization.lock().await = Some(header);
        Ok(())
    }

    async fn fetch_token(&self, request: TokenRequest) -> Result<auth::Token, RegistryError> {
        let mut attempt = 0;
        loop {
            let builder = match &request {
                TokenRequest::Get { url, basic } => {
                    let b = self.http.get(url.clone());
                    match basic {
                        Some(h) => b.header(AUTHORIZATION, h),
                        None => b,
                    }
                }
                TokenRequest::Post { url, form } => self
                    .http
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.clone()),
            };
            let failed = |message: String| RegistryError::Auth { message };
            let response = match builder.send().await {
                Ok(r) => r,
                Err(e) if transient(&e) && attempt < RETRIES => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(failed(format!("token endpoint: {}", describe(&e)))),
            };
            let status = response.status();
            if (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
                && attempt < RETRIES
            {
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(RegistryError::Denied {
                    registry: self.target.registry.clone(),
                    repository: self.target.repository.clone(),
                    status: status.as_u16(),
                    anonymous: self.credentials.is_none(),
                });
            }
            if !status.is_success() {
                return Err(failed(format!("the token endpoint answered {status}")));
            }
            let body = read_limited(response, auth::MAX_TOKEN_RESPONSE as u64)
                .await
                .map_err(|e| failed(format!("token endpoint: {e}")))?;
            return auth::parse_token_response(&body)
                .ok_or_else(|| failed("the token endpoint's answer holds no token".into()));
        }
    }

    /// A manifest or index by tag or digest, checked against the digest it was asked by and
    /// the one the registry says it sent.
    pub async fn manifest(&self, reference: &str, max: u64) -> Result<Fetched, RegistryError> {
        let what = format!("manifest {reference}");
        let fetched = self
            .within(
                &what,
                self.get_manifest_raw(reference, MANIFEST_ACCEPT, max),
            )
            .await?
            .ok_or_else(|| self.not_found(format!("manifest {reference}")))?;
        if fetched
            .media_type
            .as_deref()
            .is_some_and(|m| m.starts_with(SCHEMA1_PREFIX))
        {
            return Err(RegistryError::Unsupported(format!(
                "{}: manifest {reference} is a Docker schema 1 manifest, which is deprecated \
                 and not supported",
                self.target.repository_name()
            )));
        }
        Ok(fetched)
    }

    /// Whatever the manifests endpoint serves for `reference` (a tag or a digest) when asked
    /// with `accept`, or `None` when it has nothing (404). Its digest is checked against a
    /// digest reference and against the registry's `Docker-Content-Digest`.
    pub async fn get_manifest_raw(
        &self,
        reference: &str,
        accept: &str,
        max: u64,
    ) -> Result<Option<Fetched>, RegistryError> {
        let url = self.url("manifests", reference);
        let what = format!("manifest {reference}");
        let mut attempt = 0;
        let (response_digest, media_type, data) = loop {
            let response = match self.get(&url, Some(accept), 0, &what).await {
                Ok(r) => r,
                Err(RegistryError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim().to_string())
            };
            let media_type = header(CONTENT_TYPE.as_str())
                .map(|m| m.split(';').next().unwrap_or("").trim().to_string());
            let response_digest = header("docker-content-digest");
            match read_limited(response, max).await {
                Ok(data) => break (response_digest, media_type, data),
                Err(ReadError::Network(_)) if attempt < RETRIES => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(self.read_failed(&what, e, max)),
            }
        };
        let digest = sha256_of(&data);
        let expected = [
            (
                reference.starts_with("sha256:").then_some(reference),
                "the reference",
            ),
            (
                response_digest
                    .as_deref()
                    .filter(|d| d.starts_with("sha256:")),
                "the registry's Docker-Content-Digest",
            ),
        ];
        for (claimed, by) in expected {
            if let Some(claimed) = claimed
                && claimed != digest
            {
                return Err(RegistryError::Digest {
                    what: format!("{what} (digest named by {by})"),
                    expected: claimed.to_string(),
                    actual: digest,
                });
            }
        }
        Ok(Some(Fetched {
            data,
            media_type,
            digest,
        }))
    }

    /// Stores `data` as the manifest `reference` (a tag, or its own digest), sent as
    /// `media_type`.
    pub async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        data: Bytes,
    ) -> Result<PutManifest, RegistryError> {
        let digest = sha256_of(&data);
        let what = format!("manifest {reference}");
        let response = self
            .send(
                Method::PUT,
                &self.url("manifests", reference),
                &[(CONTENT_TYPE, media_type.to_string())],
                Payload::Bytes(&data),
                &what,
            )
            .await?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        if let Some(stored) = header("docker-content-digest").filter(|d| d.starts_with("sha256:"))
            && stored != digest
        {
            return Err(RegistryError::Digest {
                what: format!("{what} (the registry stored other bytes than those sent)"),
                expected: digest,
                actual: stored,
            });
        }
        Ok(PutManifest {
            digest,
            subject: header("oci-subject"),
        })
    }

    /// Whether the repository holds the blob `digest`.
    pub async fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        let what = format!("blob {digest}");
        match self
            .send(
                Method::HEAD,
                &self.url("blobs", digest),
                &[],
                Payload::Empty,
                &what,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(RegistryError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Uploads `data` as a blob unless the repository already has it (a monolithic upload:
    /// POST for a session, PUT of the whole body with its digest). Returns the digest.
    pub async fn put_blob(&self, data: Bytes) -> Result<String, RegistryError> {
        let digest = sha256_of(&data);
        if !self.has_blob(&digest).await? {
            self.upload(&digest, Payload::Bytes(&data)).await?;
        }
        Ok(digest)
    }

    /// Uploads the file at `path` (`size` bytes whose digest is `digest`, which the caller
    /// computed) as a blob, streamed from disk, unless the repository already has it.
    /// Returns whether it was sent; the registry checks the digest.
    pub async fn put_blob_file(
        &self,
        path: &Path,
        digest: &str,
        size: u64,
    ) -> Result<bool, RegistryError> {
        if self.has_blob(digest).await? {
            return Ok(false);
        }
        self.upload(digest, Payload::File { path, size }).await?;
        Ok(true)
    }

    /// Asks the registry to mount the blob `digest` from the repository `from` of the same
    /// registry, sending no bytes. Returns whether it did (201): a registry that will not
    /// (the blob is not there, or the credentials do not reach `from`) answers with an
    /// upload session instead (202), which is left to expire.
    pub async fn mount_blob(&self, digest: &str, from: &str) -> Result<bool, RegistryError> {
        let what = format!("mount of blob {digest} from {from}");
        let mut url = reqwest::Url::parse(&format!(
            "{}/v2/{}/blobs/uploads/",
            self.base, self.target.repository
        ))
        .map_err(|e| RegistryError::Network {
            registry: self.target.registry.clone(),
            message: format!("the upload URL is not a URL: {e}"),
        })?;
        url.query_pairs_mut()
            .append_pair("mount", digest)
            .append_pair("from", from);
        let response = self
            .send(Method::POST, url.as_str(), &[], Payload::Empty, &what)
            .await?;
        Ok(response.status() == StatusCode::CREATED)
    }

    async fn upload(&self, digest: &str, body: Payload<'_>) -> Result<(), RegistryError> {
        let what = format!("upload of blob {digest}");
        let started = self
            .send(
                Method::POST,
                &format!("{}/v2/{}/blobs/uploads/", self.base, self.target.repository),
                &[],
                Payload::Empty,
                &what,
            )
            .await?;
        let location = started
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Rejected {
                registry: self.target.registry.clone(),
                repository: self.target.repository.clone(),
                status: started.status().as_u16(),
                what: what.clone(),
                detail: "the upload session has no Location".into(),
            })?;
        let mut url = reqwest::Url::parse(&format!("{}/", self.base))
            .and_then(|base| base.join(location))
            .map_err(|e| RegistryError::Network {
                registry: self.target.registry.clone(),
                message: format!("the upload location {location:?} is not a URL: {e}"),
            })?;
        url.query_pairs_mut().append_pair("digest", digest);
        let sent = self
            .send(
                Method::PUT,
                url.as_str(),
                &[(CONTENT_TYPE, "application/octet-stream".to_string())],
                body,
                &what,
            )
            .await;
        match sent {
            Ok(_) => Ok(()),
            // A PUT that went through but whose answer was lost is retried into a session
            // that no longer exists: the blob being there is what counts.
            Err(e) => match self.has_blob(digest).await {
                Ok(true) => Ok(()),
                _ => Err(e),
            },
        }
    }

    /// The repository's tags, from the registry's tags API (`/v2/NAME/tags/list`), page by
    /// page as the `Link: <...>; rel="next"` header of each answer leads (the distribution
    /// spec's pagination): the first [`MAX_TAGS`] tags or [`MAX_TAG_PAGES`] pages, which is
    /// enough to look for newer tags of a base image.
    pub async fn tags(&self) -> Result<Vec<String>, RegistryError> {
        Ok(self.tag_list().await?.names)
    }

    /// Every tag of the repository, as [`Client::tags`] lists them; a repository with more
    /// than [`MAX_TAGS`] tags (or [`MAX_TAG_PAGES`] pages of them) is an error rather than a
    /// list cut short.
    pub async fn all_tags(&self) -> Result<Vec<String>, RegistryError> {
        let listed = self.tag_list().await?;
        if listed.complete {
            return Ok(listed.names);
        }
        Err(RegistryError::TagsTooLong {
            repository: self.target.repository_name(),
            limit: if listed.names.len() < MAX_TAGS {
                format!("{MAX_TAG_PAGES} pages")
            } else {
                format!("{MAX_TAGS} tags")
            },
        })
    }

    async fn tag_list(&self) -> Result<Listed, RegistryError> {
        let list = |query: &str| PagedList {
            kind: ListKind::Tags,
            first: format!(
                "{}/v2/{}/tags/list{query}",
                self.base, self.target.repository
            ),
            max_names: MAX_TAGS,
            max_pages: MAX_TAG_PAGES,
            max_page_bytes: TAG_PAGE as u64 * MAX_BYTES_PER_NAME,
        };
        match self.list_pages(&list(&format!("?n={TAG_PAGE}"))).await {
            // A registry that refuses a page of this size (400, as distribution refuses an
            // `n` above its limit for the catalog) is read in pages of its own size.
            Err(RegistryError::Status { status: 400, .. }) => self.list_pages(&list("")).await,
            other => other,
        }
    }

    /// The registry's repositories, from its catalog API (`/v2/_catalog`), page by page as
    /// for [`Client::tags`]; the client's target names no repository
    /// ([`RegistryRef::registry_only`]). More than `max` repositories (at most
    /// [`MAX_REPOSITORIES`]), or more than [`MAX_CATALOG_PAGES`] pages, is an error. A
    /// registry that does not list its repositories to this client (401, 403, 404: Docker
    /// Hub never does) is [`RegistryError::CatalogRefused`].
    pub async fn catalog(&self, max: usize) -> Result<Vec<String>, RegistryError> {
        let max = max.min(MAX_REPOSITORIES);
        let list = |first: String| PagedList {
            kind: ListKind::Catalog,
            first,
            max_names: max,
            max_pages: MAX_CATALOG_PAGES,
            max_page_bytes: CATALOG_PAGE as u64 * MAX_BYTES_PER_NAME,
        };
        let sized = list(format!("{}/v2/_catalog?n={CATALOG_PAGE}", self.base));
        let listed = match self.list_pages(&sized).await {
            // distribution refuses an `n` above its `catalog.maxentries` (400,
            // PAGINATION_NUMBER_INVALID): pages of its own size are read instead.
            Err(RegistryError::Status { status: 400, .. }) => {
                self.list_pages(&list(format!("{}/v2/_catalog", self.base)))
                    .await
            }
            other => other,
        };
        let listed = listed.map_err(|e| match e {
            RegistryError::Denied {
                status, anonymous, ..
            } => RegistryError::CatalogRefused {
                registry: self.target.registry.clone(),
                status,
                anonymous,
            },
            RegistryError::NotFound { .. } => RegistryError::CatalogRefused {
                registry: self.target.registry.clone(),
                status: 404,
                anonymous: self.credentials.is_none(),
            },
            RegistryError::Status { status, what, .. } => RegistryError::Network {
                registry: self.target.registry.clone(),
                message: format!("{what}: the registry answered {status}"),
            },
            other => other,
        })?;
        if listed.complete {
            return Ok(listed.names);
        }
        Err(RegistryError::CatalogTooLong {
            registry: self.target.registry.clone(),
            limit: if listed.names.len() < max {
                format!("{MAX_CATALOG_PAGES} pages")
            } else {
                format!("{max} repositories")
            },
        })
    }

    /// The names of a list endpoint, page by page as the `Link` header of each answer
    /// leads, until a page without a next one, an empty page, or a limit of `list`.
    async fn list_pages(&self, list: &PagedList) -> Result<Listed, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let name = list.kind.name();
        let mut next = Some(list.first.clone());
        let mut names = Vec::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            if names.len() > list.max_names || pages == list.max_pages {
                next = Some(url);
                break;
            }
            pages += 1;
            let what = format!("{name} (page {pages})");
            let response = self.get(&url, None, 0, &what).await?;
            next = match response.headers().get(LINK) {
                Some(link) => self.next_page(&url, link, name)?,
                None => None,
            };
            let data = read_limited(response, list.max_page_bytes)
                .await
                .map_err(|e| self.read_failed(&what, e, list.max_page_bytes))?;
            let page: Page = serde_json::from_slice(&data).map_err(|e| RegistryError::Network {
                registry: self.target.registry.clone(),
                message: match list.kind {
                    ListKind::Tags => format!(
                        "the tag list of {} is not JSON: {e}",
                        self.target.repository
                    ),
                    ListKind::Catalog => format!("the catalog is not JSON: {e}"),
                },
            })?;
            let page = match list.kind {
                ListKind::Tags => page.tags,
                ListKind::Catalog => page.repositories,
            }
            .unwrap_or_default();
            // A page that adds nothing ends the list, whatever its Link says.
            if page.is_empty() {
                next = None;
                break;
            }
            names.extend(page);
        }
        let complete = next.is_none() && names.len() <= list.max_names;
        names.truncate(list.max_names);
        Ok(Listed { names, complete })
    }

    /// The next page a list's `Link` header names, resolved against `current`: only on
    /// this registry (a page elsewhere is refused), and never `current` again.
    fn next_page(
        &self,
        current: &str,
        link: &reqwest::header::HeaderValue,
        list: &str,
    ) -> Result<Option<String>, RegistryError> {
        let refused = |message: String| RegistryError::Network {
            registry: self.target.registry.clone(),
            message,
        };
        let text = link
            .to_str()
            .map_err(|_| refused(format!("the {list}'s Link header is not text")))?;
        let Some(target) = next_link(text) else {
            return Ok(None);
        };
        let current =
            reqwest::Url::parse(current).map_err(|e| refused(format!("{current}: {e}")))?;
        let next = current
            .join(target)
            .map_err(|e| refused(format!("the {list}'s next page {target:?}: {e}")))?;
        if next.origin() != current.origin() {
            return Err(refused(format!(
                "the {list}'s next page {next} is not on {}",
                self.target.registry
            )));
        }
        Ok((next != current).then(|| next.into()))
    }

    /// The referrers API's index of the manifests whose `subject` is `digest`, optionally
    /// filtered by `artifact_type` (a registry may ignore the filter), or `None` when the
    /// registry does not implement the API (404).
    pub async fn referrers(
        &self,
        digest: &str,
        artifact_type: Option<&str>,
        max: u64,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let mut url = self.url("referrers", digest);
        if let Some(t) = artifact_type {
            let mut parsed = reqwest::Url::parse(&url).map_err(|e| RegistryError::Network {
                registry: self.target.registry.clone(),
                message: format!("{url}: {e}"),
            })?;
            parsed.query_pairs_mut().append_pair("artifactType", t);
            url = parsed.into();
        }
        let what = format!("referrers of {digest}");
        let mut attempt = 0;
        loop {
            let response = match self.get(&url, Some(INDEX_MEDIA_TYPE), 0, &what).await {
                Ok(r) => r,
                Err(RegistryError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            match read_limited(response, max).await {
                Ok(data) => return Ok(Some(data)),
                Err(ReadError::Network(_)) if attempt < RETRIES => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(self.read_failed(&what, e, max)),
            }
        }
    }

    fn read_failed(&self, what: &str, e: ReadError, max: u64) -> RegistryError {
        match e {
            ReadError::TooLarge => RegistryError::TooLarge {
                what: what.to_string(),
                max,
            },
            ReadError::Network(message) => RegistryError::Network {
                registry: self.target.registry.clone(),
                message: format!("reading {what}: {message}"),
            },
        }
    }

    /// A small blob (a config), whole. The caller checks its digest.
    pub async fn blob(&self, digest: &str, max: u64) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {digest}");
        self.within(&what, self.small_blob(digest, max)).await
    }

    /// Ends `request` with an error naming `what` when it has not completed within
    /// [`REQUEST_DEADLINE`], retries included.
    async fn within<T>(
        &self,
        what: &str,
        request: impl std::future::Future<Output = Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        match tokio::time::timeout(REQUEST_DEADLINE, request).await {
            Ok(result) => result,
            Err(_) => Err(RegistryError::Network {
                registry: self.target.registry.clone(),
                message: format!(
                    "{what}: no complete answer within {} s (retries included)",
                    REQUEST_DEADLINE.as_secs()
                ),
            }),
        }
    }

    async fn small_blob(&self, digest: &str, max: u64) -> Result<Vec<u8>, RegistryError> {
        let url = self.url("blobs", digest);
        let what = format!("blob {digest}");
        let mut attempt = 0;
        loop {
            let response = self.get(&url, None, 0, &what).await?;
            match read_limited(response, max).await {
                Ok(data) => return Ok(data),
                Err(ReadError::Network(_)) if attempt < RETRIES => {
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(self.read_failed(&what, e, max)),
            }
        }
    }

    /// Streams the blob `digest` into `tx` until it ends, the receiver hangs up, or it fails
    /// for good. A connection that breaks mid-blob is resumed where it stopped. The bytes
    /// are not checked here: the scanner hashes them as they pass.
    pub async fn stream_blob(&self, digest: String, tx: BodySender) {
        let url = self.url("blobs", &digest);
        let what = format!("blob {digest}");
        let started = tokio::time::Instant::now();
        let mut deadline = started + BLOB_DEADLINE;
        let late = |deadline: tokio::time::Instant| {
            let e = self.read_failed(
                &what,
                ReadError::Network(format!(
                    "not received within {} s (at least {} KiB/s after the first {} s)",
                    (deadline - started).as_secs(),
                    BLOB_MIN_RATE >> 10,
                    BLOB_DEADLINE.as_secs()
                )),
                0,
            );
            std::io::Error::other(e)
        };
        let mut sent = 0u64;
        let mut resumes = 0;
        loop {
            let mut response =
                match tokio::time::timeout_at(deadline, self.get(&url, None, sent, &what)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        let _ = tx.send(Err(std::io::Error::other(e))).await;
                        return;
                    }
                    Err(_) => {
                        let _ = tx.send(Err(late(deadline))).await;
                        return;
                    }
                };
            if sent == 0
                && let Some(len) = response.content_length()
            {
                deadline = started + BLOB_DEADLINE + Duration::from_secs(len / BLOB_MIN_RATE);
            }
            // A server that ignores Range sends the blob from the start again.
            let mut skip = 0u64;
            if sent > 0 {
                if response.status() == StatusCode::PARTIAL_CONTENT {
                    let range = response
                        .headers()
                        .get(CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    if !range.starts_with(&format!("bytes {sent}-")) {
                        let e = self.read_failed(
                            &what,
                            ReadError::Network(format!("resumed at the wrong offset ({range:?})")),
                            0,
                        );
                        let _ = tx.send(Err(std::io::Error::other(e))).await;
                        return;
                    }
                } else {
                    skip = sent;
                }
            }
            loop {
                let Ok(next) = tokio::time::timeout_at(deadline, response.chunk()).await else {
                    let _ = tx.send(Err(late(deadline))).await;
                    return;
                };
                match next {
                    Ok(Some(mut chunk)) => {
                        if skip > 0 {
                            let n = skip.min(chunk.len() as u64);
                            chunk.advance(n as usize);
                            skip -= n;
                            if chunk.is_empty() {
                                continue;
                            }
                        }
                        sent += chunk.len() as u64;
                        if tx.send(Ok(chunk)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) if resumes < RESUMES => {
                        let _ = e;
                        tokio::time::sleep(backoff(resumes)).await;
                        resumes += 1;
                        break;
                    }
                    Err(e) => {
                        let e = self.read_failed(&what, ReadError::Network(describe(&e)), 0);
                        let _ = tx.send(Err(std::io::Error::other(e))).await;
                        return;
                    }
                }
            }
        }
    }
}

/// Which list a [`PagedList`] reads.
#[derive(Debug, Clone, Copy)]
enum ListKind {
    /// A repository's tags: `{"tags": [...]}`.
    Tags,
    /// The registry's repositories: `{"repositories": [...]}`.
    Catalog,
}

impl ListKind {
    fn name(self) -> &'static str {
        match self {
            ListKind::Tags => "tag list",
            ListKind::Catalog => "catalog",
        }
    }
}

/// A list endpoint to read page by page, and how far.
struct PagedList {
    kind: ListKind,
    first: String,
    max_names: usize,
    max_pages: usize,
    max_page_bytes: u64,
}

/// The names a list gave, and whether it ended within the limits (otherwise the names are
/// its first `max_names`).
struct Listed {
    names: Vec<String>,
    complete: bool,
}

#[derive(Debug)]
enum ReadError {
    TooLarge,
    Network(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::TooLarge => f.write_str("the response is too large"),
            ReadError::Network(m) => f.write_str(m),
        }
    }
}

/// The codes and messages of a distribution API error body
/// (`{"errors": [{"code": "MANIFEST_INVALID", "message": "…"}]}`), as one line.
fn error_codes(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    let text = body
        .errors
        .iter()
        .take(4)
        .map(|e| {
            let line = match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            };
            // The body is the registry's text: keep it to one short printable line.
            line.chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("; ");
    (!text.is_empty()).then_some(text)
}

async fn read_limited(mut response: reqwest::Response, max: u64) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > max) {
        return Err(ReadError::TooLarge);
    }
    let mut data = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Network(describe(&e)))?
    {
        if (data.len() + chunk.len()) as u64 > max {
            return Err(ReadError::TooLarge);
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data)
}

/// The target of the `rel="next"` link of a `Link` header (RFC 8288):
/// `</v2/x/tags/list?last=b&n=2>; rel="next"` → `/v2/x/tags/list?last=b&n=2`.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
        params
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .any(|(key, value)| {
                key.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
            .then_some(target)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_read_from_a_link_header() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"</v2/x/tags/list?last=b&n=2>; rel="next""#,
                Some("/v2/x/tags/list?last=b&n=2"),
            ),
            (
                r#"<https://r.example/v2/x/tags/list?last=b>;rel=next"#,
                Some("https://r.example/v2/x/tags/list?last=b"),
            ),
            (r#"</a>; rel="prev", </b>; rel="next""#, Some("/b")),
            (r#"</a>; rel="prev nofollow""#, None),
            (r#"</a>; title="next""#, None),
            ("</a", None),
            ("", None),
        ];
        for (header, expected) in cases {
            assert_eq!(next_link(header), *expected, "{header}");
        }
    }

    /// A plain-HTTP server on a loopback port answering each request (one a connection)
    /// with `answer(request target)`: status, extra header lines, body. A TLS handshake
    /// (the client's probe for HTTPS) is refused by closing the connection.
    fn serve(
        answer: impl Fn(&str) -> (u16, String, String) + Send + 'static,
    ) -> std::net::SocketAddr {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.fill_buf().map_or(true, |b| b.first() == Some(&0x16)) {
                    continue;
                }
                let mut head = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    head.push_str(&line);
                    line.clear();
                }
                let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let (status, headers, body) = answer(&target);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{headers}\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        addr
    }

    /// `client.catalog(max)` against a server answering with `answer`.
    fn catalog_of(
        max: usize,
        answer: impl Fn(&str) -> (u16, String, String) + Send + 'static,
    ) -> Result<Vec<String>, RegistryError> {
        let addr = serve(answer);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let target = RegistryRef::registry_only(&addr.to_string()).unwrap();
        let client = runtime
            .block_on(Client::connect(target, None, true))
            .unwrap();
        runtime.block_on(client.catalog(max))
    }

    /// One repository a page, `r<N>` on page N (from `last=r<N-1>`), and a next page up to
    /// `pages` pages (`None`: forever). An `n` above 2 is refused as distribution refuses
    /// one above its `catalog.maxentries`.
    fn one_a_page(pages: Option<usize>) -> impl Fn(&str) -> (u16, String, String) {
        move |target: &str| {
            if target.contains("n=") && !target.contains("n=2") {
                let body = r#"{"errors":[{"code":"PAGINATION_NUMBER_INVALID"}]}"#;
                return (400, String::new(), body.to_string());
            }
            let page = target
                .split("last=r")
                .nth(1)
                .and_then(|n| n.split('&').next()?.parse::<usize>().ok())
                .map_or(0, |n| n + 1);
            let link = if pages.is_none_or(|p| page + 1 < p) {
                format!("Link: </v2/_catalog?last=r{page}&n=2>; rel=\"next\"\r\n")
            } else {
                String::new()
            };
            (200, link, format!(r#"{{"repositories":["r{page}"]}}"#))
        }
    }

    #[test]
    fn the_catalog_is_read_page_by_page_within_its_limits() {
        // Refused `n=1000`, then read in the registry's own pages to the last.
        let names = catalog_of(MAX_REPOSITORIES, one_a_page(Some(5))).unwrap();
        assert_eq!(names, ["r0", "r1", "r2", "r3", "r4"]);
        // More repositories than asked for is an error, not a short list.
        let error = catalog_of(3, one_a_page(Some(5))).unwrap_err();
        assert!(
            matches!(&error, RegistryError::CatalogTooLong { limit, .. } if limit == "3 repositories"),
            "{error}"
        );
        assert_eq!(catalog_of(5, one_a_page(Some(5))).unwrap().len(), 5);
        // A catalog that never ends stops at the page limit.
        let error = catalog_of(MAX_REPOSITORIES, one_a_page(None)).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{}: the catalog is longer than {MAX_CATALOG_PAGES} pages",
                match &error {
                    RegistryError::CatalogTooLong { registry, .. } => registry.as_str(),
                    _ => "",
                }
            )
        );
        // A page larger than a page of names may be is refused.
        let error = catalog_of(MAX_REPOSITORIES, |_| {
            let names = vec!["r".repeat(200); 2 * CATALOG_PAGE];
            (
                200,
                String::new(),
                serde_json::json!({ "repositories": names }).to_string(),
            )
        })
        .unwrap_err();
        assert!(matches!(error, RegistryError::TooLarge { .. }), "{error}");
    }

    #[test]
    fn a_tag_list_longer_than_the_limit_is_cut_for_tags_and_an_error_for_all_tags() {
        // A repository whose tag list never ends: one tag a page, a next page always.
        let addr = serve(|target: &str| {
            let page = target
                .split("last=t")
                .nth(1)
                .and_then(|n| n.split('&').next()?.parse::<usize>().ok())
                .map_or(0, |n| n + 1);
            let link = format!("Link: </v2/app/tags/list?last=t{page}&n=1>; rel=\"next\"\r\n");
            (200, link, format!(r#"{{"name":"app","tags":["t{page}"]}}"#))
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let target = RegistryRef::parse(&format!("{addr}/app")).unwrap();
        let client = runtime
            .block_on(Client::connect(target, None, true))
            .unwrap();
        let first = runtime.block_on(client.tags()).unwrap();
        assert_eq!(first.len(), MAX_TAG_PAGES);
        assert_eq!(first[0], "t0");
        let error = runtime.block_on(client.all_tags()).unwrap_err();
        assert!(
            matches!(&error, RegistryError::TagsTooLong { limit, .. } if limit == "100 pages"),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .ends_with("app: the tag list is longer than 100 pages")
        );
    }

    #[test]
    fn a_registry_that_does_not_list_its_repositories_says_so() {
        for status in [401, 403, 404] {
            let error = catalog_of(MAX_REPOSITORIES, move |_| {
                (status, String::new(), String::new())
            })
            .unwrap_err();
            assert!(
                matches!(error, RegistryError::CatalogRefused { status: s, .. } if s == status),
                "{status}: {error}"
            );
            assert!(
                error.to_string().contains("does not list its repositories"),
                "{error}"
            );
        }
    }

    #[test]
    fn error_bodies_become_one_short_line() {
        assert_eq!(
            error_codes(
                br#"{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:aa"},{"code":"DENIED"}]}"#
            )
            .as_deref(),
            Some("MANIFEST_BLOB_UNKNOWN: blob unknown to registry; DENIED")
        );
        let long = format!(
            r#"{{"errors":[{{"message":"a\u0007b{}"}}]}}"#,
            "x".repeat(500)
        );
        let line = error_codes(long.as_bytes()).unwrap();
        assert!(line.starts_with("abxxx") && line.chars().count() == 200);
        assert_eq!(error_codes(b"<html>502</html>"), None);
        assert_eq!(error_codes(br#"{"errors":[]}"#), None);
    }
}
