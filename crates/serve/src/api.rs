//! The wire format of Harbor's Pluggable Scanner API v1.2: its media types, the scan request
//! and how it is checked, and the bodies every answer carries. Names follow the spec's
//! schemas (`ScanRequest`, `ScannerAdapterMetadata`, `ErrorResponse` ...).

use base64::Engine as _;
use portcullis_image::registry::credentials::Credentials;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The manifests the adapter scans (the `consumes_mime_types` of both capabilities).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Harbor's vulnerability report, the two versions of one schema.
pub const HARBOR_VULN_REPORT_V1_0: &str =
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
pub const VULN_REPORT_V1_1: &str = "application/vnd.security.vulnerability.report; version=1.1";
/// The scanner's own report: portcullis's JSON report (docs/report-schema.json).
pub const RAW_REPORT: &str = "application/vnd.scanner.adapter.vuln.report.raw";
pub const SBOM_REPORT: &str = "application/vnd.security.sbom.report+json; version=1.0";
pub const SPDX: &str = "application/spdx+json";
pub const CYCLONEDX: &str = "application/vnd.cyclonedx+json";
pub const METADATA: &str = "application/vnd.scanner.adapter.metadata+json; version=1.1";
pub const SCAN_RESPONSE: &str = "application/vnd.scanner.adapter.scan.response+json; version=1.0";
pub const ERROR: &str = "application/vnd.scanner.adapter.error+json; version=1.0";

/// What the vulnerability capability produces.
pub const VULNERABILITY_TYPES: [&str; 3] = [HARBOR_VULN_REPORT_V1_0, VULN_REPORT_V1_1, RAW_REPORT];

/// A report format a client can ask for with `Accept` (and `sbom_media_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    HarborV1_0,
    VulnerabilityV1_1,
    Raw,
    Sbom(SbomFormat),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SbomFormat {
    Spdx,
    CycloneDx,
}

impl SbomFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            SbomFormat::Spdx => SPDX,
            SbomFormat::CycloneDx => CYCLONEDX,
        }
    }

    fn parse(text: &str) -> Option<SbomFormat> {
        match normalise(text).as_str() {
            SPDX => Some(SbomFormat::Spdx),
            CYCLONEDX => Some(SbomFormat::CycloneDx),
            _ => None,
        }
    }
}

impl ReportFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            ReportFormat::HarborV1_0 => HARBOR_VULN_REPORT_V1_0,
            ReportFormat::VulnerabilityV1_1 => VULN_REPORT_V1_1,
            ReportFormat::Raw => RAW_REPORT,
            ReportFormat::Sbom(_) => SBOM_REPORT,
        }
    }
}

/// Why a report cannot be given in the format asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A bad request (400): an SBOM without a valid `sbom_media_type`.
    #[error("{0}")]
    BadRequest(String),
    /// A format the adapter does not produce (501).
    #[error("{0}")]
    Unsupported(String),
}

/// Media types compared as Harbor and its scanners write them: lowercase, no spaces, so
/// that `...;version=1.1` and `...; version=1.1` are one type.
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The format an `Accept` header and the `sbom_media_type` query parameter ask for. No
/// `Accept` (or `*/*`) is Harbor's vulnerability report v1.0, as the first scanners
/// answered; of several types the first the adapter produces is taken.
pub fn negotiate(
    accept: Option<&str>,
    sbom_media_type: Option<&str>,
) -> Result<ReportFormat, FormatError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(ReportFormat::HarborV1_0);
    };
    let known = [
        (HARBOR_VULN_REPORT_V1_0, ReportFormat::HarborV1_0),
        (VULN_REPORT_V1_1, ReportFormat::VulnerabilityV1_1),
        (RAW_REPORT, ReportFormat::Raw),
    ];
    for wanted in accept.split(',').map(normalise) {
        // `;q=` weights are not ranked: Harbor asks for one type at a time.
        let wanted = wanted.split(";q=").next().unwrap_or_default().to_string();
        if wanted == "*/*" {
            return Ok(ReportFormat::HarborV1_0);
        }
        if let Some((_, format)) = known.iter().find(|(t, _)| normalise(t) == wanted) {
            return Ok(*format);
        }
        if wanted == normalise(SBOM_REPORT) {
            let Some(asked) = sbom_media_type else {
                return Err(FormatError::BadRequest(format!(
                    "an SBOM report needs the query parameter sbom_media_type ({SPDX} or \
                     {CYCLONEDX})"
                )));
            };
            return SbomFormat::parse(asked)
                .map(ReportFormat::Sbom)
                .ok_or_else(|| {
                    FormatError::BadRequest(format!(
                        "sbom_media_type {asked:?} is not {SPDX} or {CYCLONEDX}"
                    ))
                });
        }
    }
    Err(FormatError::Unsupported(format!(
        "no report in the format {accept:?}: this scanner produces {} and {SBOM_REPORT}",
        VULNERABILITY_TYPES.join(", "),
    )))
}

#[derive(Debug, Clone, Serialize)]
pub struct Scanner {
    pub name: String,
    pub vendor: String,
    pub version: String,
}

impl Scanner {
    pub fn portcullis() -> Scanner {
        Scanner {
            name: "portcullis".to_string(),
            vendor: "portcullis".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// `ErrorResponse`: `{"error": {"message": "..."}}`.
pub fn error_body(message: &str) -> Value {
    serde_json::json!({ "error": { "message": message } })
}

/// `ScanRequest` as it arrives; [`ScanRequest::validate`] turns it into a [`Scan`].
/// An optional field that, when present, has a value: the spec's fields are not nullable,
/// and `null` where a string belongs is the wrong type (400), as the spec says.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
pub struct ScanRequest {
    pub registry: Registry,
    pub artifact: Artifact,
    #[serde(default, deserialize_with = "present")]
    pub enabled_capabilities: Option<Vec<EnabledCapability>>,
}

#[derive(Deserialize)]
pub struct Registry {
    #[serde(default, deserialize_with = "present")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub authorization: Option<String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("url", &self.url)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Artifact {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub repository: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub digest: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub tag: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub mime_type: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct EnabledCapability {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "present")]
    pub produces_mime_types: Option<Vec<String>>,
    /// The one nullable field of the request.
    #[serde(default)]
    pub parameters: Option<SbomParameters>,
}

#[derive(Debug, Deserialize)]
pub struct SbomParameters {
    #[serde(default, deserialize_with = "present")]
    pub sbom_media_types: Option<Vec<String>>,
}

/// Why a scan request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A field with a value the adapter cannot use (422).
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// An artifact or a report type the adapter does not handle (501).
    #[error("{field}: {reason}")]
    Unsupported { field: &'static str, reason: String },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> RequestError {
    RequestError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// A scan request checked: the image to pull, by digest when there is one, and how.
#[derive(Debug, Clone)]
pub struct Scan {
    /// `docker://HOST[:PORT]/REPOSITORY@DIGEST` (or `:TAG`).
    pub reference: String,
    /// Whether the registry was named with `http://`.
    pub plain_http: bool,
    pub credentials: Option<Credentials>,
    /// The artifact as the request named it, echoed in every report.
    pub artifact: Artifact,
}

/// A repository path: lowercase components of `[a-z0-9]` separated by `.`, `_`, `__` or
/// `-`, joined by `/` (the distribution spec's grammar), at most 255 characters.
fn valid_repository(text: &str) -> bool {
    text.len() <= 255
        && !text.is_empty()
        && text.split('/').all(|component| {
            let bytes = component.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes.iter().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && !component.contains("..")
                && !component.contains("---")
        })
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
fn valid_tag(text: &str) -> bool {
    let bytes = text.as_bytes();
    (1..=128).contains(&bytes.len())
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A digest portcullis can verify: `sha256:` and 64 lowercase hex digits (or `sha512:`
/// and 128).
fn valid_digest(text: &str) -> bool {
    let (algorithm, hex) = text.split_once(':').unwrap_or(("", ""));
    let length = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == length && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `http[s]://HOST[:PORT][/]`: the registry's host and whether it speaks plain HTTP.
fn registry_host(url: &str) -> Result<(String, bool), RequestError> {
    let field = "registry.url";
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| invalid(field, "not a URL (expected http[s]://HOST[:PORT])"))?;
    let plain_http = match uri.scheme_str() {
        Some("https") => false,
        Some("http") => true,
        _ => return Err(invalid(field, "the scheme must be http or https")),
    };
    let Some(authority) = uri.authority() else {
        return Err(invalid(field, "names no host"));
    };
    if authority.as_str().contains('@') {
        return Err(invalid(
            field,
            "must not hold credentials (registry.authorization carries them)",
        ));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(invalid(
            field,
            "must be the registry's base URL, without a path or query",
        ));
    }
    let host = authority.host();
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
    {
        return Err(invalid(field, "names no valid host"));
    }
    Ok((authority.as_str().to_ascii_lowercase(), plain_http))
}

/// `Basic BASE64(USER:PASSWORD)` or `Bearer TOKEN`. The value is never quoted back.
fn credentials(header: &str) -> Result<Credentials, RequestError> {
    let field = "registry.authorization";
    let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(
            field,
            "expected `Basic CREDENTIALS` or `Bearer TOKEN`",
        ));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                invalid(
                    field,
                    "the Basic credentials are not base64 of USER:PASSWORD",
                )
            })?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| invalid(field, "the Basic credentials hold no `:`"))?;
        Ok(Credentials::basic(user, password))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(field, "the Bearer token is not printable ASCII"));
        }
        Ok(Credentials::RegistryToken(value.to_string()))
    } else {
        Err(invalid(
            field,
            "unknown scheme (expected `Basic CREDENTIALS` or `Bearer TOKEN`)",
        ))
    }
}

impl ScanRequest {
    /// Checks every field; the first that cannot be used is the error.
    pub fn validate(self) -> Result<Scan, RequestError> {
        let url = self
            .registry
            .url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid("registry.url", "is missing"))?;
        let (host, plain_http) = registry_host(url)?;
        let credentials = self
            .registry
            .authorization
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .map(credentials)
            .transpose()?;
        let artifact = self.artifact;
        let repository = artifact
            .repository
            .as_deref()
            .ok_or_else(|| invalid("artifact.repository", "is missing"))?;
        if !valid_repository(repository) {
            return Err(invalid(
                "artifact.repository",
                "is not a repository name (lowercase path components of [a-z0-9._-])",
            ));
        }
        let digest = artifact.digest.as_deref().filter(|d| !d.is_empty());
        let tag = artifact.tag.as_deref().filter(|t| !t.is_empty());
        if let Some(digest) = digest
            && !valid_digest(digest)
        {
            return Err(invalid(
                "artifact.digest",
                "is not a digest (sha256: and 64 lowercase hex digits)",
            ));
        }
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(invalid(
                "artifact.tag",
                "is not a tag ([A-Za-z0-9_][A-Za-z0-9._-], at most 128 characters)",
            ));
        }
        let reference = match (digest, tag) {
            (Some(digest), _) => format!("docker://{host}/{repository}@{digest}"),
            (None, Some(tag)) => format!("docker://{host}/{repository}:{tag}"),
            (None, None) => {
                return Err(invalid(
                    "artifact",
                    "names neither a digest nor a tag to pull",
                ));
            }
        };
        if let Some(mime) = artifact.mime_type.as_deref().filter(|m| !m.is_empty())
            && ![OCI_MANIFEST, DOCKER_MANIFEST].contains(&normalise(mime).as_str())
        {
            return Err(RequestError::Unsupported {
                field: "artifact.mime_type",
                reason: format!(
                    "this scanner reads image manifests ({OCI_MANIFEST}, {DOCKER_MANIFEST}), \
                     not {mime:?}"
                ),
            });
        }
        for capability in self.enabled_capabilities.iter().flatten() {
            check_capability(capability)?;
        }
        Ok(Scan {
            reference,
            plain_http,
            credentials,
            artifact,
        })
    }
}

fn check_capability(capability: &EnabledCapability) -> Result<(), RequestError> {
    let produced: &[&str] = match capability.kind.as_str() {
        "vulnerability" => &VULNERABILITY_TYPES,
        "sbom" => &[SBOM_REPORT],
        other => {
            return Err(RequestError::Unsupported {
                field: "enabled_capabilities.type",
                reason: format!("{other:?} is not vulnerability or sbom"),
            });
        }
    };
    for mime in capability.produces_mime_types.iter().flatten() {
        if !produced.iter().any(|p| normalise(p) == normalise(mime)) {
            return Err(RequestError::Unsupported {
                field: "enabled_capabilities.produces_mime_types",
                reason: format!(
                    "the {} capability produces {}, not {mime:?}",
                    capability.kind,
                    produced.join(", ")
                ),
            });
        }
    }
    let sbom_types = capability
        .parameters
        .as_ref()
        .and_then(|p| p.sbom_media_types.as_ref());
    for mime in sbom_types.into_iter().flatten() {
        if SbomFormat::parse(mime).is_none() {
            return Err(RequestError::Unsupported {
                field: "enabled_capabilities.parameters.sbom_media_types",
                reason: format!("{mime:?} is not {SPDX} or {CYCLONEDX}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> Result<Scan, RequestError> {
        serde_json::from_value::<ScanRequest>(body)
            .expect("a request")
            .validate()
    }

    #[test]
    fn a_request_becomes_a_reference_by_digest_before_tag() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let scan = request(serde_json::json!({
            "registry": {"url": "http://127.0.0.1:5000", "authorization": "Basic dTpw"},
            "artifact": {"repository": "library/app", "digest": digest, "tag": "1",
                         "mime_type": OCI_MANIFEST}
        }))
        .unwrap();
        assert_eq!(
            scan.reference,
            format!("docker://127.0.0.1:5000/library/app@{digest}")
        );
        assert!(scan.plain_http);
        assert_eq!(scan.credentials, Some(Credentials::basic("u", "p")));
        let scan = request(serde_json::json!({
            "registry": {"url": "https://core.harbor.domain/", "authorization": "Bearer abc.def"},
            "artifact": {"repository": "app", "tag": "v1"}
        }))
        .unwrap();
        assert_eq!(scan.reference, "docker://core.harbor.domain/app:v1");
        assert!(!scan.plain_http);
        assert_eq!(
            scan.credentials,
            Some(Credentials::RegistryToken("abc.def".into()))
        );
    }

    #[test]
    fn bad_fields_are_named_and_secrets_not_quoted() {
        let table = [
            (
                serde_json::json!({"url": ""}),
                serde_json::json!({"repository": "a", "tag": "1"}),
                "registry.url: is missing",
            ),
            (
                serde_json::json!({"url": "ftp://h"}),
                serde_json::json!({"repository": "a", "tag": "1"}),
                "registry.url: the scheme",
            ),
            (
                serde_json::json!({"url": "http://h/v2/x"}),
                serde_json::json!({"repository": "a", "tag": "1"}),
                "without a path",
            ),
            (
                serde_json::json!({"url": "http://u:p@h"}),
                serde_json::json!({"repository": "a", "tag": "1"}),
                "must not hold credentials",
            ),
            (
                serde_json::json!({"url": "http://h", "authorization": "Token s3cr3t"}),
                serde_json::json!({"repository": "a", "tag": "1"}),
                "unknown scheme",
            ),
            (
                serde_json::json!({"url": "http://h", "authorization": "Basic s3cr3t!"}),
                serde_json::json!({"repository": "a", "tag": "1"}),
                "not base64",
            ),
            (
                serde_json::json!({"url": "http://h"}),
                serde_json::json!({"tag": "1"}),
                "artifact.repository: is missing",
            ),
            (
                serde_json::json!({"url": "http://h"}),
                serde_json::json!({"repository": "A/../b", "tag": "1"}),
                "artifact.repository",
            ),
            (
                serde_json::json!({"url": "http://h"}),
                serde_json::json!({"repository": "a", "digest": "sha256:xyz"}),
                "artifact.digest",
            ),
            (
                serde_json::json!({"url": "http://h"}),
                serde_json::json!({"repository": "a", "tag": "-x"}),
                "artifact.tag",
            ),
            (
                serde_json::json!({"url": "http://h"}),
                serde_json::json!({"repository": "a"}),
                "neither a digest nor a tag",
            ),
        ];
        for (registry, artifact, expected) in table {
            let e = request(serde_json::json!({"registry": registry, "artifact": artifact}))
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{e} vs {expected}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }

    #[test]
    fn null_where_a_string_belongs_is_the_wrong_type() {
        let parsed = serde_json::from_value::<ScanRequest>(serde_json::json!({
            "registry": {"url": "http://h", "authorization": null},
            "artifact": {"repository": "a", "tag": "1"}
        }));
        assert!(parsed.is_err());
        let parsed = serde_json::from_value::<ScanRequest>(serde_json::json!({
            "registry": {"url": "http://h"},
            "artifact": {"repository": "a", "tag": "1"},
            "enabled_capabilities": [{"type": "sbom", "parameters": null}]
        }));
        assert!(parsed.is_ok());
    }

    #[test]
    fn unsupported_artifacts_and_capabilities_are_501() {
        let e = request(serde_json::json!({
            "registry": {"url": "http://h"},
            "artifact": {"repository": "a", "tag": "1", "mime_type": "application/vnd.cncf.helm.config.v1+json"}
        }))
        .unwrap_err();
        assert!(matches!(e, RequestError::Unsupported { .. }), "{e}");
        let e = request(serde_json::json!({
            "registry": {"url": "http://h"},
            "artifact": {"repository": "a", "tag": "1"},
            "enabled_capabilities": [{"type": "sbom", "parameters": {"sbom_media_types": ["text/plain"]}}]
        }))
        .unwrap_err();
        assert!(matches!(e, RequestError::Unsupported { .. }), "{e}");
        request(serde_json::json!({
            "registry": {"url": "http://h"},
            "artifact": {"repository": "a", "tag": "1"},
            "enabled_capabilities": [
                {"type": "sbom", "produces_mime_types": [SBOM_REPORT], "parameters": {"sbom_media_types": [SPDX, CYCLONEDX]}},
                {"type": "vulnerability", "produces_mime_types": ["application/vnd.security.vulnerability.report;version=1.1"]}
            ]
        }))
        .unwrap();
    }

    #[test]
    fn accept_chooses_the_format() {
        type Case<'a> = (
            Option<&'a str>,
            Option<&'a str>,
            Result<ReportFormat, &'a str>,
        );
        let table: [Case; 9] = [
            (None, None, Ok(ReportFormat::HarborV1_0)),
            (Some("*/*"), None, Ok(ReportFormat::HarborV1_0)),
            (
                Some(HARBOR_VULN_REPORT_V1_0),
                None,
                Ok(ReportFormat::HarborV1_0),
            ),
            (
                Some("application/vnd.security.vulnerability.report;version=1.1"),
                None,
                Ok(ReportFormat::VulnerabilityV1_1),
            ),
            (Some(RAW_REPORT), None, Ok(ReportFormat::Raw)),
            (
                Some(SBOM_REPORT),
                Some(SPDX),
                Ok(ReportFormat::Sbom(SbomFormat::Spdx)),
            ),
            (
                Some(SBOM_REPORT),
                Some(CYCLONEDX),
                Ok(ReportFormat::Sbom(SbomFormat::CycloneDx)),
            ),
            (Some(SBOM_REPORT), None, Err("400")),
            (Some("text/html"), None, Err("501")),
        ];
        for (accept, sbom, expected) in table {
            let got = negotiate(accept, sbom);
            match (got, expected) {
                (Ok(g), Ok(e)) => assert_eq!(g, e),
                (Err(FormatError::BadRequest(_)), Err("400")) => {}
                (Err(FormatError::Unsupported(_)), Err("501")) => {}
                (g, e) => panic!("{accept:?} {sbom:?}: {g:?} vs {e:?}"),
            }
        }
    }
}
